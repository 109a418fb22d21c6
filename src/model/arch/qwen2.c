/* qwen2.c - qwen2 (Qwen2, Qwen2.5)
 * qwen24 */
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
