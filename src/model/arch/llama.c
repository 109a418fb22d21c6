/* llama.c - llama (Llama 2/3/3.x, TinyLlama, SmolLM, Mistral)
 * The family's description: normal RoPE (adjacent pairs), SwiGLU, separate q/k/v. Data only:
 * model/forward.c tests these fields at their steps (arch.h); no code here. */
#include "model/arch.h"

const arch_desc arch_llama = {
    .gguf_name = "llama",
    .family = "llama (Llama 2/3/3.x, TinyLlama, SmolLM, Mistral)",
    .rope = ROPE_NORM,
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
