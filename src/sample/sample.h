/* sample.h - internals of the sampler module (src/sample/): what tests and other modules inside
 * kaiwu may call without a model.
 *
 * The public API (kw_sampler_* in kaiwu.h) is implemented in sampler.c, except kw_sampler_create,
 * which lives in sampler_model.c because it asks the model for n_vocab: keeping it apart lets a
 * test link sampler.o alone, with no model code in the binary.
 */
#ifndef KAIWU_SAMPLE_H
#define KAIWU_SAMPLE_H

#include "kaiwu.h"

/* The largest repeat_last_n window accepted (a ring of this many ids is allocated up front). */
#define SAMPLER_MAX_WINDOW (1 << 20)

/* Creates a sampler for a vocabulary of n_vocab ids, without a model: every buffer is allocated
 * here (sized from n_vocab and repeat_last_n), none per token. params may be NULL for the
 * defaults. On success *out is owned by the caller (kw_sampler_free). Fails with
 * KW_ERR_INVALID_ARG on n_vocab < 1, repeat_last_n < -1 or > SAMPLER_MAX_WINDOW, or a NaN
 * parameter; KW_ERR_NOMEM when allocation fails. */
kw_status sampler_create_n_vocab(int32_t n_vocab, const kw_sampler_params *params,
                                 kw_sampler **out);

/* Attaches a compiled grammar and its state (both owned by the sampler from now on): the grammar
 * stage of the chain. */
void sampler_set_grammar(kw_sampler *s, kw_grammar *g, kw_grammar_state *st);

/* Number of ids the sampler was created for. */
int32_t sampler_n_vocab(const kw_sampler *s);

/* Writes to out (n_vocab floats) the logits as the chain sees them after the penalty stage for the
 * current history; logits is read, not modified. Exposed so tests can check exactly which logits
 * the penalties touch. */
void sampler_apply_penalties(const kw_sampler *s, const float *logits, float *out);

#endif
