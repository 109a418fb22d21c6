/* fuzz_gguf.c - libFuzzer target for the GGUF reader (header, metadata, tensor table) and the
 * model loader on top of it (hyperparameters, vocabulary, tensors, chat template). The input is
 * the file. Whatever kw_gguf_open accepts must be self-consistent: every key, value and tensor
 * can be read and formatted, tensor data lies inside the file. A model that loads must tokenize
 * and detokenize a fixed text and, when it has weights, create a small context (a decode is left
 * to the golden tests: too slow per input).
 * Seeds: tests/fuzz/corpus/gguf/ (valid-base.gguf of tests/bad-input: a 1-layer llama with a
 * 32-token SPM vocabulary, and a vocabulary-only file). See docs/testing.md. */
#include "fuzz_util.h"
#include "kaiwu.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[128];
    if (fuzz_write_file("gguf", data, size, path, sizeof path) != 0) return 0;
    kw_gguf *g = NULL;
    if (kw_gguf_open(path, &g) == KW_OK) {
        char buf[256];
        for (int64_t i = 0; i < kw_gguf_n_kv(g); i++) {
            if (!kw_gguf_kv_key(g, i) || !kw_gguf_kv_type_name(g, i)) abort();
            kw_gguf_kv_format(g, i, buf, sizeof buf, 8);
            if (strlen(buf) >= sizeof buf) abort();
        }
        for (int64_t i = 0; i < kw_gguf_n_tensors(g); i++) {
            kw_tensor_info ti;
            if (kw_gguf_tensor(g, i, &ti) != KW_OK) abort(); /* accepted means readable */
            if (ti.offset > kw_gguf_file_size(g) || ti.n_bytes > kw_gguf_file_size(g) - ti.offset)
                abort();
        }
        kw_gguf_close(g);
    }
    for (int vocab_only = 0; vocab_only < 2; vocab_only++) {
        kw_model_params mp = {.vocab_only = vocab_only != 0};
        kw_model *m = NULL;
        if (kw_model_load(path, &mp, &m) != KW_OK) continue;
        static const char text[] = "Hello 世界 <|im_end|>\n  x\x9d";
        kw_token toks[64];
        int32_t n = 0;
        kw_status st = kw_tokenize(m, text, sizeof text - 1, true, true, toks, 64, &n);
        if (st == KW_OK) {
            char out[512];
            kw_detokenize(m, toks, n, out, sizeof out, true);
            for (int32_t i = 0; i < n; i++)
                if (toks[i] < 0 || toks[i] >= kw_model_n_vocab(m)) abort();
        }
        char desc[512];
        kw_model_describe(m, desc, sizeof desc);
        if (!kw_model_vocab_only(m)) {
            kw_context_params cp = kw_context_default_params();
            cp.n_ctx = 16;
            cp.n_batch = 8;
            cp.n_threads = 1;
            kw_context *ctx = NULL;
            if (kw_context_create(m, &cp, &ctx) == KW_OK) kw_context_free(ctx);
        }
        kw_model_free(m);
    }
    unlink(path);
    return 0;
}
