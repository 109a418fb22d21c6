/* sampler_model.c - kw_sampler_create: a sampler sized for a model's vocabulary.
 *
 * Relies on: sampler.c (sampler_create_n_vocab), the model API (kw_model_n_vocab) and the
 * grammar engine (kw_grammar_create, which needs the model's token table). Kept apart
 * from sampler.c so that a test linking only the sampler needs no model code.
 */
#include "sample/sample.h"

#include "base/base.h"

kw_status kw_sampler_create(const kw_model *model, const kw_sampler_params *params,
                            kw_sampler **out) {
    kw_error_clear();
    if (!model) return kw_error(KW_ERR_INVALID_ARG, "kw_sampler_create: model is NULL");
    kw_grammar *g = NULL;
    kw_grammar_state *gs = NULL;
    if (params && params->grammar) {
        kw_status st = kw_grammar_create(model, params->grammar, params->grammar_root, &g);
        if (st == KW_OK) st = kw_grammar_state_create(g, &gs);
        if (st != KW_OK) {
            kw_grammar_free(g);
            return kw_error_wrap(st, "kw_sampler_create");
        }
    }
    kw_status st = sampler_create_n_vocab(kw_model_n_vocab(model), params, out);
    if (st != KW_OK) {
        kw_grammar_state_free(gs);
        kw_grammar_free(g);
        return st;
    }
    if (g) sampler_set_grammar(*out, g, gs);
    return KW_OK;
}
