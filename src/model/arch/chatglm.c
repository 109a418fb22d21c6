/* chatglm.c - chatglm (ChatGLM3, GLM-4-9B-chat, GLM-Edge)
 * The family's description: normal RoPE (adjacent pairs), SwiGLU, fused qkv, fused gate/up. Data
 * only: model/forward.c tests these fields at their steps (arch.h); no code here. */
#include "model/arch.h"

const arch_desc arch_chatglm = {
    .gguf_name = "chatglm",
    .family = "chatglm (ChatGLM3, GLM-4-9B-chat, GLM-Edge)",
    .rope = ROPE_NORM,
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
