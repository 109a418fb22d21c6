/* make_test_vocab.c - writes a small character-level tokenizer GGUF for the trainer's tests:
 *   make_test_vocab OUT.gguf TEXT...
 * Tokens: <unk> <s> </s> <|im_start|> <|im_end|> <|endoftext|> (control), the 256 byte-fallback
 * tokens <0x00>..<0xFF>, then every character of the texts (most frequent first), as an
 * SPM-style ("llama") vocabulary without a space prefix, with the ChatML chat template.
 * A stand-in for `kaiwu tokenizer-train` in tests that need a vocabulary of their own text; it
 * uses only kaiwu's GGUF writer.
 */
#include "base/base.h"
#include "gguf/gguf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CHARS 65536

typedef struct ch {
    uint32_t cp;
    int64_t count;
} ch;

static int by_count(const void *a, const void *b) {
    const ch *x = a, *y = b;
    if (x->count != y->count) return x->count > y->count ? -1 : 1;
    return x->cp < y->cp ? -1 : x->cp > y->cp;
}

static const char *const chatml =
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] "
    "+ '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ "
    "'<|im_start|>assistant\\n' "
    "}}{% endif %}";

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: make_test_vocab OUT.gguf TEXT...\n");
        return 2;
    }
    static int64_t counts[0x110000];
    for (int a = 2; a < argc; a++) {
        kw_mapped_file f;
        if (kw_file_map(argv[a], &f) != KW_OK) {
            fprintf(stderr, "error: %s\n", kw_last_error());
            return 1;
        }
        for (uint64_t i = 0; i < f.size;) {
            uint32_t cp;
            i += (uint64_t)kw_utf8_decode(f.data + i, (size_t)(f.size - i), &cp);
            if (cp > 0x20 && cp != 0xFFFD) counts[cp]++; /* control chars and space: bytes */
        }
        kw_file_unmap(&f);
    }
    static ch chars[MAX_CHARS];
    int n_chars = 0;
    for (uint32_t cp = 0; cp < 0x110000 && n_chars < MAX_CHARS; cp++)
        if (counts[cp]) chars[n_chars++] = (ch){cp, counts[cp]};
    qsort(chars, (size_t)n_chars, sizeof *chars, by_count);

    static const char *const specials[] = {"<unk>",        "<s>",        "</s>",
                                           "<|im_start|>", "<|im_end|>", "<|endoftext|>"};
    const int n_spec = 6, n = n_spec + 256 + n_chars;
    char **tok = calloc((size_t)n, sizeof *tok);
    float *score = calloc((size_t)n, sizeof *score);
    int32_t *type = calloc((size_t)n, sizeof *type);
    if (!tok || !score || !type) return 1;
    int k = 0;
    for (int i = 0; i < n_spec; i++, k++)
        tok[k] = kw_strdup(specials[i]), type[k] = i == 0 ? 2 : 3;
    for (int b = 0; b < 256; b++, k++) {
        char buf[8];
        snprintf(buf, sizeof buf, "<0x%02X>", b);
        tok[k] = kw_strdup(buf), type[k] = 6;
    }
    for (int i = 0; i < n_chars; i++, k++) {
        char buf[8] = {0};
        kw_utf8_encode(chars[i].cp, buf);
        tok[k] = kw_strdup(buf), type[k] = 1, score[k] = -(float)i;
    }
    gguf_writer *w = NULL;
    kw_status st = gguf_writer_create(&w);
    if (!st) st = gguf_writer_add_str(w, "general.name", "kaiwu test vocabulary");
    if (!st) st = gguf_writer_add_str(w, "tokenizer.ggml.model", "llama");
    if (!st)
        st = gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)tok,
                                     (uint64_t)n);
    if (!st) st = gguf_writer_add_arr(w, "tokenizer.ggml.scores", GGUF_VT_F32, score, (uint64_t)n);
    if (!st)
        st = gguf_writer_add_arr(w, "tokenizer.ggml.token_type", GGUF_VT_I32, type, (uint64_t)n);
    if (!st) st = gguf_writer_add_u32(w, "tokenizer.ggml.unknown_token_id", 0);
    if (!st) st = gguf_writer_add_u32(w, "tokenizer.ggml.bos_token_id", 1);
    if (!st) st = gguf_writer_add_u32(w, "tokenizer.ggml.eos_token_id", 2);
    if (!st) st = gguf_writer_add_u32(w, "tokenizer.ggml.padding_token_id", 2);
    if (!st) st = gguf_writer_add_bool(w, "tokenizer.ggml.add_bos_token", true);
    if (!st) st = gguf_writer_add_bool(w, "tokenizer.ggml.add_eos_token", false);
    if (!st) st = gguf_writer_add_bool(w, "tokenizer.ggml.add_space_prefix", false);
    if (!st) st = gguf_writer_add_str(w, "tokenizer.chat_template", chatml);
    if (!st) st = gguf_writer_write(w, argv[1]);
    gguf_writer_free(w);
    for (int i = 0; i < n; i++)
        free(tok[i]);
    free(tok), free(score), free(type);
    if (st) {
        fprintf(stderr, "error: %s\n", kw_last_error());
        return 1;
    }
    printf("%s: %d tokens (%d characters)\n", argv[1], n, n_chars);
    return 0;
}
