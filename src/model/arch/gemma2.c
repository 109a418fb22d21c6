/* gemma2.c - gemma2 (Gemma 2)
 * gemma24 */
#include "model/arch.h"

const arch_desc arch_gemma2 = {
    .gguf_name = "gemma2",
    .family = "gemma2 (Gemma 2)",
    .rope = ROPE_NEOX,
    .act = FFN_GELU_TANH,
    .fused_qkv = false,
    .fused_gate_up = false,
    .qk_norm = false,
    .post_attn_norm = true,
    .post_ffn_norm = true,
    .embd_scale_sqrt = true,
    .has_mup_scales = false,
    .swa_period = 2,
};
