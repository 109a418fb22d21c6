/* glm4.c - glm4 (GLM-4-0414)
 * The family's description: normal RoPE (adjacent pairs), SwiGLU, separate q/k/v, fused gate/up,
 * sandwich (post) norms. Data only: model/forward.c tests these fields at their steps (arch.h); no
 * code here. */
#include "model/arch.h"

const arch_desc arch_glm4 = {
    .gguf_name = "glm4",
    .family = "glm4 (GLM-4-0414)",
    .rope = ROPE_NORM,
    .act = FFN_SILU,
    .fused_qkv = false,
    .fused_gate_up = true,
    .qk_norm = false,
    .post_attn_norm = true,
    .post_ffn_norm = true,
    .embd_scale_sqrt = false,
    .has_mup_scales = false,
    .swa_period = 0,
};
