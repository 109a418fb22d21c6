/* fuzz_tokenizer.c - libFuzzer target for the tokenizers: the input's first byte picks a
 * vocabulary (llama-spm: SPM with byte fallback; qwen2 and gpt-2: byte-level BPE with their
 * pre-tokenizer regexes) and the add_special / parse_special flags; the rest is the text
 * (any bytes, invalid UTF-8 included). Every id produced must be in the vocabulary; pieces,
 * kw_detokenize and the streaming detokenizer must accept them. The vocabularies come from
 * tests/data/tokenizer/vocab (loaded once; run from the repository root). Loading vocabularies
 * from outside files is fuzzed by fuzz_gguf. Seeds: texts of tests/data/tokenizer/cases. */
#include "kaiwu.h"

#include <stdio.h>
#include <stdlib.h>

static const char *const vocab_files[] = {
    "tests/data/tokenizer/vocab/llama-spm.gguf",
    "tests/data/tokenizer/vocab/qwen2.gguf",
    "tests/data/tokenizer/vocab/gpt-2.gguf",
};
#define N_VOCABS ((int)(sizeof vocab_files / sizeof vocab_files[0]))
static kw_model *models[N_VOCABS];

static kw_model *vocab(int i) {
    if (!models[i]) {
        kw_model_params mp = {.vocab_only = true};
        if (kw_model_load(vocab_files[i], &mp, &models[i]) != KW_OK) {
            fprintf(stderr, "fuzz_tokenizer: %s\n", kw_last_error());
            abort(); /* the fixture must load: run from the repository root */
        }
    }
    return models[i];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || size > 4096) return 0;
    kw_model *m = vocab(data[0] % N_VOCABS);
    bool add_special = data[0] & 0x10, parse_special = data[0] & 0x20;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    int32_t cap = (int32_t)len + 8, n = 0;
    kw_token *toks = malloc(sizeof *toks * (size_t)cap);
    if (!toks) return 0;
    kw_status st = kw_tokenize(m, text, len, add_special, parse_special, toks, cap, &n);
    if (st == KW_ERR_BUFFER_SMALL) {
        kw_token *t2 = realloc(toks, sizeof *toks * (size_t)n);
        if (!t2) {
            free(toks);
            return 0;
        }
        toks = t2;
        cap = n;
        st = kw_tokenize(m, text, len, add_special, parse_special, toks, cap, &n);
    }
    if (st == KW_OK) {
        int32_t nv = kw_model_n_vocab(m);
        char piece[256];
        for (int32_t i = 0; i < n; i++) {
            if (toks[i] < 0 || toks[i] >= nv) abort();
            if (kw_token_to_piece(m, toks[i], piece, sizeof piece, data[0] & 0x40) < 0) abort();
        }
        kw_detok_stream ds;
        kw_detok_stream_init(&ds, m, data[0] & 0x40, data[0] & 0x80);
        char sbuf[64];
        for (int32_t i = 0; i < n; i++)
            if (kw_detok_stream_push(&ds, toks[i], sbuf, sizeof sbuf) > (int32_t)sizeof sbuf)
                abort();
        if (kw_detok_stream_flush(&ds, sbuf, sizeof sbuf) > (int32_t)sizeof sbuf) abort();
        size_t out_cap = len * 4 + 64;
        char *out = malloc(out_cap);
        if (out) {
            int64_t w = kw_detokenize(m, toks, n, out, out_cap, data[0] & 0x40);
            (void)w;
            free(out);
        }
    }
    free(toks);
    return 0;
}
