/* qwen3.c - qwen3 (Qwen3 dense)
 * The family's description: NeoX RoPE (split halves), SwiGLU, separate q/k/v, per-head q/k
 * RMSNorm. Data only: model/forward.c tests these fields at their steps (arch.h); no code here. */
#include "model/arch.h"

const arch_desc arch_qwen3 = {
    .gguf_name = "qwen3",
    .family = "qwen3 (Qwen3 dense)",
    .rope = ROPE_NEOX,
    .act = FFN_SILU,
    .fused_qkv = false,
    .fused_gate_up = false,
    .qk_norm = true,
    .post_attn_norm = false,
    .post_ffn_norm = false,
    .embd_scale_sqrt = false,
    .has_mup_scales = false,
    .swa_period = 0,
};
