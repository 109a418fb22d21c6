/* gemma3.c - gemma3 (Gemma 3 text)
 * The family's description: NeoX RoPE (split halves), GeGLU (tanh), separate q/k/v, per-head q/k
 * RMSNorm, sandwich (post) norms, embeddings scaled by sqrt(n_embd), a sliding window on 5 of
 * every 6 layers, the local layers with their own RoPE base. Data only: model/forward.c tests these
 * fields at their steps (arch.h); no code here. */
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
