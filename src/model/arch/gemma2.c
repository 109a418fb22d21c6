/* gemma2.c - gemma2 (Gemma 2)
 * The family's description: NeoX RoPE (split halves), GeGLU (tanh), separate q/k/v, sandwich
 * (post) norms, embeddings scaled by sqrt(n_embd), a sliding window on 1 of every 2 layers. Data
 * only: model/forward.c tests these fields at their steps (arch.h); no code here. */
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
