/* minicpm.c - minicpm (MiniCPM 1/2)
 * The family's description: normal RoPE (adjacent pairs), SwiGLU, separate q/k/v, muP
 * embedding/residual/logit scales. Data only: model/forward.c tests these fields at their steps
 * (arch.h); no code here. */
#include "model/arch.h"

const arch_desc arch_minicpm = {
    .gguf_name = "minicpm",
    .family = "minicpm (MiniCPM 1/2)",
    .rope = ROPE_NORM,
    .act = FFN_SILU,
    .fused_qkv = false,
    .fused_gate_up = false,
    .qk_norm = false,
    .post_attn_norm = false,
    .post_ffn_norm = false,
    .embd_scale_sqrt = false,
    .has_mup_scales = true,
    .swa_period = 0,
};
