/* phi3.c - phi3 (Phi-3, Phi-3.5, Phi-4-mini)
 * The family's description: NeoX RoPE (split halves), SwiGLU, fused qkv, fused gate/up. Data only:
 * model/forward.c tests these fields at their steps (arch.h); no code here. */
#include "model/arch.h"

const arch_desc arch_phi3 = {
    .gguf_name = "phi3",
    .family = "phi3 (Phi-3, Phi-3.5, Phi-4-mini)",
    .rope = ROPE_NEOX,
    .act = FFN_SILU,
    .fused_qkv = true,
    .fused_gate_up = true,
    .qk_norm = false,
    .post_attn_norm = false,
    .post_ffn_norm = false,
    .embd_scale_sqrt = false,
    .has_mup_scales = false,
    .swa_period = 0,
};
