/* arch.h - architecture descriptions: what distinguishes one model family from another.
 *
 * The forward pass (forward.c) is written once; everything a family changes is a field here,
 * filled by one small file per family in src/model/arch/. Adding a family = writing a
 * description (and, if it needs a new mechanism, one new field with its `if` in forward.c).
 * Hyperparameters come from the GGUF metadata (`<arch>.*` keys) through the loader.
 */
#ifndef KAIWU_ARCH_H
#define KAIWU_ARCH_H

#include "base/base.h"

typedef enum rope_style {
    ROPE_NORM = 0, /* rotate adjacent pairs (x[2i], x[2i+1]): llama, glm, minicpm */
    ROPE_NEOX = 1, /* rotate halves (x[i], x[i + n_rot/2]): qwen, gemma, phi3 */
} rope_style;

typedef enum ffn_act {
    FFN_SILU = 0,      /* SwiGLU: silu(gate) * up */
    FFN_GELU_TANH = 1, /* GeGLU with the tanh approximation: gelu(gate) * up */
} ffn_act;

typedef struct arch_desc {
    const char *gguf_name; /* general.architecture value, e.g. "llama" */
    const char
        *family; /* description name shown by `kaiwu info`, e.g. "llama (Llama 2/3, Mistral)" */
    rope_style rope;
    ffn_act act;
    bool fused_qkv;     /* one attn_qkv projection, rows [q; k; v] */
    bool fused_gate_up; /* ffn_up holds [gate; up] (2 * n_ff rows), no ffn_gate */
    bool qk_norm;       /* RMSNorm over head_dim on q and k before RoPE (attn_q_norm/attn_k_norm) */
    bool
        post_attn_norm; /* norm of the attention output before the residual (post_attention_norm) */
    bool post_ffn_norm; /* norm of the FFN output before the residual (post_ffw_norm) */
    bool embd_scale_sqrt; /* scale embeddings by sqrt(n_embd) (gemma) */
    bool has_mup_scales;  /* embedding / residual / logit scales from metadata (minicpm) */
    int swa_period;       /* sliding-window layer pattern: layer il is local when il % period <
                             period - 1; 0 = no sliding window (the key may still be present) */
    float rope_base_swa_default; /* RoPE base of sliding-window layers when the file has no
                                    rope.freq_base_swa key; 0 = same as rope.freq_base */
} arch_desc;

/* Every known description, NULL-terminated. */
extern const arch_desc *const arch_all[];
/* The description for a GGUF architecture name, or NULL. */
const arch_desc *arch_find(const char *gguf_name, size_t len);

/* Hyperparameters of one model, read from metadata by the loader. */
typedef struct kw_hparams {
    int32_t n_ctx_train; /* e.g. 4096 */
    int32_t n_embd;      /* e.g. 2048 */
    int32_t n_layer;     /* e.g. 16 */
    int32_t n_ff;        /* e.g. 8192 */
    int32_t n_head;      /* query heads, e.g. 32 */
    int32_t n_head_kv;   /* key/value heads (GQA), e.g. 8 */
    int32_t head_dim;    /* key_length, e.g. 64 (n_embd / n_head unless given) */
    int32_t head_dim_v;  /* value_length (= head_dim unless given) */
    int32_t n_vocab;
    float norm_eps;         /* RMSNorm epsilon */
    int32_t n_rot;          /* rotary dims per head (partial RoPE when < head_dim) */
    float rope_base;        /* global layers */
    float rope_base_swa;    /* sliding-window layers */
    float rope_freq_scale;  /* 1 / linear scaling factor (global layers) */
    int32_t rope_orig_ctx;  /* original context (LongRoPE factor choice) */
    float rope_attn_factor; /* multiplies cos and sin (LongRoPE), 1 = off */
    float attn_softcap;     /* 0 = off */
    float final_softcap;    /* 0 = off */
    int32_t n_swa;          /* sliding window size; 0 = off */
    int32_t swa_period;     /* see arch_desc.swa_period (metadata may override) */
    float embd_scale;       /* multiply embeddings (1 = off) */
    float residual_scale;   /* multiply each branch before adding (1 = off) */
    float logit_scale;      /* divide the final hidden state (1 = off) */
    float attn_scale;       /* q·k scale, 1/sqrt(head_dim) */
} kw_hparams;

#endif
