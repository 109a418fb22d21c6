/* qwen3.c - qwen3 (Qwen3 dense)
 * qwen34 */
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
