/* iq_quantize_model.c - quantizes every matrix of a F32/F16 GGUF model to one ggml type with
 * libggml's own quantizer (ggml_quantize_chunk, the routine llama-quantize calls), for testing
 * that files in the i-quant / ternary / MXFP4 types load and run in kaiwu. Vectors (norms) stay
 * as they are. The types ggml requires an importance matrix for get a uniform one (all 1).
 *
 * Built only by tests/ggml-ref/iq_models.sh against a llama.cpp build (never by make test); it
 * uses the public ggml / gguf API only.
 * Usage: iq_quantize_model IN.gguf OUT.gguf TYPE_NAME (e.g. iq4_xs, as ggml_type_name spells it)
 * TYPE_NAME f32 instead dequantizes every quantized matrix with ggml's to_float (the float model
 * kaiwu's run of the quantized file must agree with).
 */
#include <ggml.h>
#include <gguf.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s IN.gguf OUT.gguf TYPE\n", argv[0]);
        return 2;
    }
    int type = -1;
    for (int t = 0; t < GGML_TYPE_COUNT; t++)
        if (ggml_type_name((enum ggml_type)t) &&
            strcmp(ggml_type_name((enum ggml_type)t), argv[3]) == 0)
            type = t;
    if (type < 0) {
        fprintf(stderr, "unknown type %s\n", argv[3]);
        return 2;
    }
    struct ggml_context *ctx = NULL;
    struct gguf_init_params ip = {.no_alloc = false, .ctx = &ctx};
    struct gguf_context *in = gguf_init_from_file(argv[1], ip);
    if (!in) return 1;
    struct gguf_context *out = gguf_init_empty();
    gguf_set_kv(out, in);
    const int64_t nt = gguf_get_n_tensors(in);
    void **bufs = calloc((size_t)nt, sizeof *bufs);
    for (int64_t i = 0; i < nt; i++) {
        struct ggml_tensor *t = ggml_get_tensor(ctx, gguf_get_tensor_name(in, i));
        gguf_add_tensor(out, t);
        const int64_t n = ggml_nelements(t), nrows = n / t->ne[0];
        if (type == GGML_TYPE_F32) {
            if (!ggml_is_quantized(t->type)) continue;
            bufs[i] = malloc(sizeof(float) * (size_t)n);
            ggml_get_type_traits(t->type)->to_float(t->data, bufs[i], n);
            gguf_set_tensor_type(out, t->name, GGML_TYPE_F32);
            gguf_set_tensor_data(out, t->name, bufs[i]);
            continue;
        }
        if (ggml_n_dims(t) < 2 || t->ne[0] % ggml_blck_size((enum ggml_type)type)) continue;
        float *f = malloc(sizeof(float) * (size_t)n);
        if (t->type == GGML_TYPE_F32)
            memcpy(f, t->data, sizeof(float) * (size_t)n);
        else if (t->type == GGML_TYPE_F16)
            ggml_fp16_to_fp32_row(t->data, f, n);
        else {
            free(f);
            continue;
        }
        float *imat = NULL;
        if (ggml_quantize_requires_imatrix((enum ggml_type)type)) {
            imat = malloc(sizeof(float) * (size_t)t->ne[0]);
            for (int64_t j = 0; j < t->ne[0]; j++)
                imat[j] = 1.0f;
        }
        bufs[i] = malloc(ggml_row_size((enum ggml_type)type, t->ne[0]) * (size_t)nrows);
        ggml_quantize_chunk((enum ggml_type)type, f, bufs[i], 0, nrows, t->ne[0], imat);
        gguf_set_tensor_type(out, t->name, (enum ggml_type)type);
        gguf_set_tensor_data(out, t->name, bufs[i]);
        free(f);
        free(imat);
    }
    if (!gguf_write_to_file(out, argv[2], false)) return 1;
    gguf_free(out);
    gguf_free(in);
    ggml_free(ctx);
    return 0;
}
