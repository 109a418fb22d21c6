/* gemma3.c - gemma3 (Gemma 3 text)
 * gemma34 */
#include "model/arch.h"

const arch_desc arch_gemma3 = {
    .gguf_name = "gemma3",
    .family = "gemma3 (Gemma 3 text)",
    .rope = ROPE_NEOX,
    .act = FFN_GELU_TANH,
    .fused_qkv = false,
    .fused_gate_up = false,
    .qk_norm = true,
    .post_attn_norm = true,
    .post_ffn_norm = true,
    .embd_scale_sqrt = true,
    .has_mup_scales = false,
    .swa_period = 6,
    .rope_base_swa_default = 10000.0f, /* Gemma 3's local layers always use base 10000 */
};
