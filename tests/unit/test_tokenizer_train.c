/* test_tokenizer_train.c - `kaiwu tokenizer-train` on the prepared fixture: the trainer's own
 * check (every line segmented as kaiwu's tokenizer does, every document round-trips), then the
 * written GGUF through src/tokenizer: special tokens are control tokens and parse as one id, byte
 * fallback leaves nothing unknown on random bytes, text with spaces and newlines round-trips, and
 * a merged piece is one token.
 */
#include "gguf/gguf.h"
#include "test.h"
#include "tokenizer/tokenizer.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char g_dir[256];

static kw_status train(const char *data, const char *out, int32_t vocab,
                       kw_tokenizer_train_stats *s) {
    kw_tokenizer_train_params p = kw_tokenizer_train_default_params();
    const char *files[] = {data};
    p.data_files = files;
    p.n_data_files = 1;
    p.out_path = out;
    p.vocab_size = vocab;
    return kw_tokenizer_train(&p, s);
}

static bool round_trips(const tok_vocab *v, const char *text, size_t len, bool *unknown) {
    kw_token *ids = malloc((len + 8) * sizeof(*ids));
    char *back = malloc(len + 8);
    int32_t n = 0;
    bool ok = tok_tokenize(v, text, len, false, false, ids, (int32_t)len + 8, &n) == KW_OK;
    for (int32_t i = 0; ok && i < n; i++)
        *unknown |= ids[i] == tok_unk(v);
    int64_t got = ok ? tok_detokenize(v, ids, n, back, len + 8, true) : -1;
    ok = ok && got == (int64_t)len && memcmp(back, text, len) == 0;
    free(ids);
    free(back);
    return ok;
}

static void test_tokenizer_on_fixture(void) {
    kw_data_prepare_params pp = kw_data_prepare_default_params();
    char in[512];
    snprintf(in, sizeof in, "%s", test_data_path("poetry"));
    const char *dirs[] = {in};
    pp.in_dirs = dirs;
    pp.n_in_dirs = 1;
    pp.out_dir = g_dir;
    CHECK(kw_data_prepare(&pp, NULL) == KW_OK, "prepare the fixture: %s", kw_last_error());
    char data[300], out[300];
    snprintf(data, sizeof data, "%s/train.txt", g_dir);
    snprintf(out, sizeof out, "%s/vocab.gguf", g_dir);
    kw_tokenizer_train_stats s = {0};
    kw_status st = train(data, out, 1024, &s);
    CHECK(st == KW_OK, "tokenizer-train succeeds: %s", kw_last_error());
    if (st != KW_OK) return;
    CHECK(s.n_vocab == s.n_chars + s.n_merges + 262 && s.n_merges > 0,
          "vocabulary = 262 + %d characters + %d merges = %d", s.n_chars, s.n_merges, s.n_vocab);
    CHECK(s.verify_units > 0 && s.verify_mismatch == 0,
          "kaiwu's tokenizer segments all %lld lines as training did (%lld differ)",
          (long long)s.verify_units, (long long)s.verify_mismatch);
    CHECK(s.verify_docs > 0 && s.roundtrip_fail == 0, "all %lld documents round-trip",
          (long long)s.verify_docs);
    CHECK(s.tokens > 0 && s.chars > 0, "tokens per character measured: %lld / %lld",
          (long long)s.tokens, (long long)s.chars);

    kw_gguf *g = NULL;
    tok_vocab *v = NULL;
    CHECK(kw_gguf_open(out, &g) == KW_OK && tok_vocab_load(g, &v) == KW_OK,
          "the GGUF loads as a tokenizer: %s", kw_last_error());
    if (!v) {
        kw_gguf_close(g);
        return;
    }
    gguf_str model = {0}, tmpl = {0};
    CHECK(gguf_get_str(g, "tokenizer.ggml.model", &model) == KW_OK && gguf_str_eq(model, "llama"),
          "tokenizer.ggml.model is llama");
    CHECK(gguf_get_str(g, "tokenizer.chat_template", &tmpl) == KW_OK && tmpl.len > 0,
          "a chat template is stored");
    CHECK(tok_vocab_kind(v) == TOK_KIND_SPM && tok_n_vocab(v) == 1024, "SPM with 1024 tokens");
    static const char *const specials[] = {"<s>", "</s>", "<|endoftext|>", "<|im_start|>",
                                           "<|im_end|>"};
    for (int i = 0; i < 5; i++) {
        size_t len;
        const char *t = tok_token_text(v, i + 1, &len);
        CHECK(len == strlen(specials[i]) && memcmp(t, specials[i], len) == 0 &&
                  tok_token_type(v, i + 1) == TOK_TYPE_CONTROL,
              "token %d is the control token %s", i + 1, specials[i]);
    }
    CHECK(tok_bos(v) == 1 && tok_eos(v) == 2 && tok_unk(v) == 0 && tok_pad(v) == 3 &&
              tok_eot(v) == 5 && tok_add_bos(v),
          "BOS 1, EOS 2, UNK 0, PAD 3, EOT 5, BOS added");
    CHECK(tok_is_eog(v, 5) && tok_is_eog(v, 2), "<|im_end|> and </s> end generation");
    CHECK(tok_token_type(v, 6) == TOK_TYPE_BYTE && tok_token_type(v, 261) == TOK_TYPE_BYTE,
          "ids 6..261 are byte tokens");

    const char *chat = "<|im_start|>user\n写诗<|im_end|>\n";
    kw_token ids[64];
    int32_t n = 0;
    CHECK(tok_tokenize(v, chat, strlen(chat), true, true, ids, 64, &n) == KW_OK && n > 4 &&
              ids[0] == 1 && ids[1] == 4,
          "BOS then <|im_start|> as one id (got %d %d)", n > 0 ? ids[0] : -1, n > 1 ? ids[1] : -1);
    bool end = false;
    for (int32_t i = 0; i < n; i++)
        end |= ids[i] == 5;
    CHECK(end, "<|im_end|> is one id");
    CHECK(tok_tokenize(v, chat, strlen(chat), false, false, ids, 64, &n) == KW_OK && ids[0] != 4,
          "without parse_special the text stays text");

    /* the last merge is one token, made of two or more characters */
    size_t mlen;
    const char *m = tok_token_text(v, 1023, &mlen);
    CHECK(tok_tokenize(v, m, mlen, false, false, ids, 64, &n) == KW_OK && n == 1 &&
              ids[0] == 1023 && mlen >= 6,
          "the newest merged piece '%.*s' is a single token", (int)mlen, m);
    bool unknown = false;
    const char *texts[] = {"床前明月光，疑是地上霜。\n\n  two  spaces and\ttab\r\n",
                           "𪩘𬬻 ÿ é", "<|im_start|>literal"};
    for (int i = 0; i < 3; i++)
        CHECK(round_trips(v, texts[i], strlen(texts[i]), &unknown), "'%s' round-trips", texts[i]);
    /* Random bytes: never <unk>. They round-trip unless a space follows an invalid lead byte:
     * SPM turns the space into "▁" before cutting characters by their lead byte, and the lead
     * byte then swallows the first byte of "▁" (llama.cpp cuts the same way). */
    uint64_t r = 12345;
    int fails = 0, tried = 0;
    for (int k = 0; k < 300; k++) {
        char buf[97];
        size_t len = 1 + k % 96;
        for (size_t i = 0; i < len; i++) {
            r = r * 6364136223846793005ull + 1442695040888963407ull;
            buf[i] = (char)(r >> 56);
            if (k % 2 && buf[i] == ' ') buf[i] = 'x'; /* odd k: no spaces */
        }
        bool ok = round_trips(v, buf, len, &unknown);
        if (k % 2 && !memmem(buf, len, "\xE2\x96\x81", 3)) {
            tried++;
            fails += !ok;
        }
    }
    CHECK(fails == 0 && tried > 100, "random bytes without spaces round-trip (%d of %d fail)",
          fails, tried);
    CHECK(!unknown, "no <unk> is ever produced");
    tok_vocab_free(v);
    kw_gguf_close(g);
}

static void test_tokenizer_train_rejects_bad_input(void) {
    char out[300];
    snprintf(out, sizeof out, "%s/small.gguf", g_dir);
    kw_tokenizer_train_stats s;
    CHECK(train(test_data_path("poetry/README.md"), out, 100, &s) == KW_ERR_INVALID_ARG,
          "a vocabulary below 390 tokens is refused");
    CHECK(strstr(kw_last_error(), "100"), "the message names the size: %s", kw_last_error());
    CHECK(train("/nonexistent/train.txt", out, 1024, &s) == KW_ERR_IO,
          "a missing data file is an I/O error");
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/kaiwu-test-tok-XXXXXX");
    if (!mkdtemp(g_dir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN_TEST(test_tokenizer_on_fixture);
    RUN_TEST(test_tokenizer_train_rejects_bad_input);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_dir);
    return test_report();
}
