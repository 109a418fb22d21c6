/* quant.h - the quantization module's internals: which storage type each tensor gets (the mixes),
 * and the importance matrix as the quantizer reads it back.
 *
 * Relies on: gguf/gguf.h (reader, writer, type table), tensor/quants.h (row quantizers).
 * The public side (kw_quantize_file, kw_imatrix_*) is in include/kaiwu.h.
 */
#ifndef KAIWU_QUANT_H
#define KAIWU_QUANT_H

#include "gguf/gguf.h"

/* ---------------------------------------------------------------- mixes (quant_mix.c) */

/* Facts about the model the mix rules need. */
typedef struct quant_model_facts {
    int32_t n_layer;  /* <arch>.block_count (0 if unknown) */
    int32_t n_gqa;    /* head_count / head_count_kv (1 if unknown) */
    bool has_output;  /* an output.weight tensor exists (else token_embd is the output) */
    bool has_imatrix; /* an importance matrix was given (IQ4 mixes: no Q5_K ffn_down then) */
} quant_model_facts;

/* True when the tensor is a weight matrix the quantizer converts (2-D or more, a "*weight"
 * name, not a norm or a router/position table). */
bool quant_tensor_is_weight(const gguf_tensor *t);

/* The type the mix chooses for weight `name` with row length ne0 (before fallbacks and
 * overrides). pure: always the base type. */
uint32_t quant_mix_type(kw_ftype ftype, bool pure, const char *name, const quant_model_facts *f);

/* Layer index of "blk.N.*" names, -1 otherwise. */
int32_t quant_layer_of(const char *name);

/* ---------------------------------------------------------------- overrides (quant_mix.c) */

typedef struct quant_override quant_override;

/* Parses "PATTERN=TYPE" strings (see kw_quantize_params). NULL with an error naming the bad one. */
kw_status quant_overrides_parse(const char *const *specs, int32_t n, quant_override **out);
void quant_overrides_free(quant_override *o, int32_t n);
/* The type of the last override matching name, or -1 (and *which = its spec). */
int32_t quant_overrides_match(const quant_override *o, int32_t n, const char *name,
                              const char **which);

/* ---------------------------------------------------------------- importance matrix (imatrix.c) */

typedef struct quant_imatrix_entry {
    char *name;     /* weight name, owned */
    int64_t n_in;   /* columns */
    float *weights; /* n_in means of x^2 (sum / count), owned */
} quant_imatrix_entry;

typedef struct quant_imatrix {
    quant_imatrix_entry *e;
    int32_t n;
} quant_imatrix;

/* Loads a file written by kw_imatrix_save. */
kw_status quant_imatrix_load(const char *path, quant_imatrix *out);
void quant_imatrix_free(quant_imatrix *im);
/* The weights for a tensor, or NULL when absent; a column count other than n_in is an error. */
kw_status quant_imatrix_find(const quant_imatrix *im, const char *name, int64_t n_in,
                             const float **out);

#endif
