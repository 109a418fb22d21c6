/* sampler_model.c - kw_sampler_create: a sampler sized for a model's vocabulary.
 *
 * Relies on: sampler.c (sampler_create_n_vocab) and the model API (kw_model_n_vocab). Kept apart
 * from sampler.c so that a test linking only the sampler needs no model code.
 */
#include "sample/sample.h"

#include "base/base.h"

kw_status kw_sampler_create(const kw_model *model, const kw_sampler_params *params,
                            kw_sampler **out) {
    kw_error_clear();
    if (!model) return kw_error(KW_ERR_INVALID_ARG, "kw_sampler_create: model is NULL");
    return sampler_create_n_vocab(kw_model_n_vocab(model), params, out);
}
