/* qwen2.c - qwen2 (Qwen2, Qwen2.5)
 * The family's description: NeoX RoPE (split halves), SwiGLU, separate q/k/v. Data only:
 * model/forward.c tests these fields at their steps (arch.h); no code here. */
#include "model/arch.h"

const arch_desc arch_qwen2 = {
    .gguf_name = "qwen2",
    .family = "qwen2 (Qwen2, Qwen2.5)",
    .rope = ROPE_NEOX,
    .act = FFN_SILU,
    .fused_qkv = false,
    .fused_gate_up = false,
    .qk_norm = false,
    .post_attn_norm = false,
    .post_ffn_norm = false,
    .embd_scale_sqrt = false,
    .has_mup_scales = false,
    .swa_period = 0,
};
