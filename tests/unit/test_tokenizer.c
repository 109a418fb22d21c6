/* test_tokenizer.c - unit tests of the tokenizer module: edge cases of tokenize / token_to_piece /
 * detokenize, clean errors for malformed vocabulary metadata (files written with gguf_writer),
 * special ids and end-of-generation sets of the family models, invalid UTF-8 input, and a
 * round trip over ~100 KB of mixed text (its time is printed, not asserted).
 */
#include "../test.h"
#include "tokenizer/tokenizer.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct loaded {
    kw_gguf *g;
    tok_vocab *v;
} loaded;

static loaded load_path(const char *path) {
    loaded l = {0};
    if (kw_gguf_open(path, &l.g) != KW_OK) return l;
    if (tok_vocab_load(l.g, &l.v) != KW_OK) {
        kw_gguf_close(l.g);
        l.g = NULL;
    }
    return l;
}

static loaded load_data(const char *rel) { return load_path(test_data_path(rel)); }

static void unload(loaded *l) {
    tok_vocab_free(l->v);
    kw_gguf_close(l->g);
    l->v = NULL;
    l->g = NULL;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---------------------------------------------------------------- tokenize edge cases */

static void test_tokenize_empty_text(void) {
    loaded spm = load_data("tokenizer/vocab/llama-spm.gguf");
    loaded bpe = load_data("tokenizer/vocab/qwen2.gguf");
    CHECK(spm.v && bpe.v, "llama-spm and qwen2 vocabularies load");
    if (!spm.v || !bpe.v) goto out;
    kw_token ids[8];
    int32_t n = -1;
    CHECK(tok_tokenize(spm.v, "", 0, false, false, ids, 8, &n) == KW_OK && n == 0,
          "SPM: empty text gives no tokens (got %d)", n);
    CHECK(tok_tokenize(spm.v, NULL, 0, true, false, ids, 8, &n) == KW_OK && n == 1 && ids[0] == 1,
          "SPM: empty text with add_special gives just BOS (n %d)", n);
    CHECK(tok_tokenize(bpe.v, "", 0, true, true, ids, 8, &n) == KW_OK && n == 0,
          "qwen2: empty text gives no tokens, no BOS added (n %d)", n);
    CHECK(tok_detokenize(spm.v, ids, 0, (char[4]){0}, 4, true) == 0,
          "detokenizing zero tokens gives zero bytes");
out:
    unload(&spm);
    unload(&bpe);
}

static void test_tokenize_buffer_too_small_reports_count(void) {
    loaded l = load_data("tokenizer/vocab/gpt-2.gguf");
    CHECK(l.v != NULL, "gpt-2 loads");
    if (!l.v) return;
    const char *text = "Hello world, this is a test of the buffer size.";
    kw_token ids[64], few[2] = {-7, -7};
    int32_t n_full = 0, n = 0;
    CHECK(tok_tokenize(l.v, text, strlen(text), false, false, ids, 64, &n_full) == KW_OK,
          "tokenizing into a large buffer works");
    kw_status st = tok_tokenize(l.v, text, strlen(text), false, false, few, 2, &n);
    CHECK(st == KW_ERR_BUFFER_SMALL, "a 2-id buffer gives KW_ERR_BUFFER_SMALL (status %d)", st);
    CHECK(n == n_full && n_full > 2, "n_out reports the %d ids needed (got %d)", n_full, n);
    CHECK(few[0] == -7 && few[1] == -7, "the output buffer is untouched on failure");
    CHECK(tok_tokenize(l.v, text, strlen(text), false, false, NULL, 0, &n) == KW_ERR_BUFFER_SMALL &&
              n == n_full,
          "a NULL buffer with cap 0 asks for the count (%d)", n);
    CHECK(tok_tokenize(l.v, text, 5, false, false, ids, -1, &n) == KW_ERR_INVALID_ARG,
          "a negative capacity is an invalid argument");
    CHECK(tok_tokenize(l.v, NULL, 5, false, false, ids, 8, &n) == KW_ERR_INVALID_ARG,
          "NULL text with a length is an invalid argument");
    unload(&l);
}

static void test_tokenize_text_with_nul_and_invalid_utf8(void) {
    loaded bpe = load_data("tokenizer/vocab/gpt-2.gguf");
    loaded spm = load_data("tokenizer/vocab/llama-spm.gguf");
    CHECK(bpe.v && spm.v, "gpt-2 and llama-spm load");
    if (!bpe.v || !spm.v) goto out;
    kw_token ids[32];
    int32_t n = 0;
    char back[64];
    CHECK(tok_tokenize(bpe.v, "a\0b", 3, false, false, ids, 32, &n) == KW_OK && n == 3,
          "gpt-2: \"a\\0b\" is three tokens (got %d)", n);
    CHECK(tok_detokenize(bpe.v, ids, n, back, sizeof(back), true) == 3 &&
              memcmp(back, "a\0b", 3) == 0,
          "gpt-2: the NUL survives the round trip");
    /* llama.cpp reads each invalid byte as U+FFFD */
    int32_t n_bad = 0, n_fffd = 0;
    kw_token fffd[32];
    CHECK(tok_tokenize(bpe.v,
                       "x\xff"
                       "y",
                       3, false, false, ids, 32, &n_bad) == KW_OK,
          "gpt-2: invalid UTF-8 tokenizes without error");
    CHECK(tok_tokenize(bpe.v, "x\xEF\xBF\xBDy", 5, false, false, fffd, 32, &n_fffd) == KW_OK &&
              n_bad == n_fffd && memcmp(ids, fffd, (size_t)n_bad * sizeof(kw_token)) == 0,
          "gpt-2: an invalid byte tokenizes as U+FFFD (%d vs %d ids)", n_bad, n_fffd);
    CHECK(tok_tokenize(spm.v, "\xff", 1, false, false, ids, 32, &n) == KW_OK && n == 2 &&
              ids[1] == 0xFF + 3,
          "SPM: a stray byte falls back to its <0xFF> byte token (n %d, id %d)", n,
          n > 1 ? ids[1] : -1);
    CHECK(tok_detokenize(spm.v, ids, n, back, sizeof(back), true) == 1 && (uint8_t)back[0] == 0xFF,
          "SPM: the byte token decodes to the raw byte");
out:
    unload(&bpe);
    unload(&spm);
}

/* ---------------------------------------------------------------- pieces and decoding */

static void test_pieces_and_invalid_ids(void) {
    loaded l = load_data("tokenizer/vocab/llama-spm.gguf");
    CHECK(l.v != NULL, "llama-spm loads");
    if (!l.v) return;
    char buf[64];
    kw_token hello = KW_TOKEN_NONE;
    kw_token ids[8];
    int32_t n = 0;
    CHECK(tok_tokenize(l.v, "Hello", 5, false, false, ids, 8, &n) == KW_OK && n == 1,
          "SPM: \"Hello\" is one token (n %d)", n);
    hello = ids[0];
    CHECK(tok_token_to_piece(l.v, hello, buf, 64, false) == 6 && memcmp(buf, " Hello", 6) == 0,
          "the piece of ▁Hello is \" Hello\"");
    CHECK(tok_token_to_piece(l.v, hello, buf, 3, false) == 6 && memcmp(buf, " He", 3) == 0,
          "a short buffer gets a truncated piece and the full length");
    CHECK(tok_token_to_piece(l.v, 1, buf, 64, false) == 0,
          "<s> renders nothing without render_special");
    CHECK(tok_token_to_piece(l.v, 1, buf, 64, true) == 3 && memcmp(buf, "<s>", 3) == 0,
          "<s> renders its text with render_special");
    CHECK(tok_token_to_piece(l.v, 3 + 'A', buf, 64, true) == 1 && buf[0] == 'A',
          "<0x41> renders as the byte 'A'");
    CHECK(tok_token_to_piece(l.v, -1, buf, 64, true) == -1, "token -1 is rejected");
    CHECK(tok_token_to_piece(l.v, 32000, buf, 64, true) == -1, "token n_vocab is rejected");
    kw_token bad[2] = {hello, 99999};
    CHECK(tok_detokenize(l.v, bad, 2, buf, 64, true) == -1, "detokenize rejects an invalid id");
    CHECK(strstr(kw_last_error(), "99999") != NULL, "the message names the bad id: %s",
          kw_last_error());

    kw_token seq[2] = {1, hello};
    CHECK(tok_detokenize(l.v, seq, 2, buf, 64, true) == 9 && strcmp(buf, "<s> Hello") == 0,
          "<s>▁Hello decodes to \"<s> Hello\" when rendering specials (the space stays)");
    CHECK(tok_detokenize(l.v, seq, 2, buf, 64, false) == 5 && strcmp(buf, "Hello") == 0,
          "without rendering specials the leading space goes");
    char small[4];
    CHECK(tok_detokenize(l.v, seq, 2, small, 4, true) == 9 && strcmp(small, "<s>") == 0,
          "a small buffer gets a NUL-terminated prefix and the full length");
    unload(&l);
}

/* ---------------------------------------------------------------- malformed metadata */

typedef struct vocab_spec {
    const char *model; /* tokenizer.ggml.model, NULL to leave out */
    int n_tokens, n_scores, n_types;
    int bad_type;      /* >= 0: this value at index 3 */
    int64_t bos;       /* -2: leave out */
    const char *merge; /* a single merge line, NULL for none */
    const char *pre;
} vocab_spec;

/* A minimal GGUF v3 writer for metadata-only files (the library's writer belongs to another
 * module; this keeps the test independent of it). Layout: "GGUF", u32 version 3, u64 n_tensors,
 * u64 n_kv, then per kv: u64 key length, key, u32 type, value (strings: u64 length + bytes;
 * arrays: u32 element type, u64 count, elements). */
typedef struct wbuf {
    unsigned char *p;
    size_t n, cap;
    uint64_t n_kv;
} wbuf;

static void wb_put(wbuf *b, const void *d, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 256;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}
static void wb_u32(wbuf *b, uint32_t x) { wb_put(b, &x, 4); }
static void wb_u64(wbuf *b, uint64_t x) { wb_put(b, &x, 8); }
static void wb_str(wbuf *b, const char *s) {
    wb_u64(b, strlen(s));
    wb_put(b, s, strlen(s));
}
static void wb_key(wbuf *b, const char *key, uint32_t type) {
    wb_str(b, key);
    wb_u32(b, type);
    b->n_kv++;
}
static void wb_kv_str(wbuf *b, const char *key, const char *v) {
    wb_key(b, key, GGUF_VT_STRING);
    wb_str(b, v);
}
static void wb_kv_arr_str(wbuf *b, const char *key, const char *const *v, int n) {
    wb_key(b, key, GGUF_VT_ARRAY);
    wb_u32(b, GGUF_VT_STRING);
    wb_u64(b, (uint64_t)n);
    for (int i = 0; i < n; i++)
        wb_str(b, v[i]);
}
static void wb_kv_arr(wbuf *b, const char *key, uint32_t type, const void *d, int n) {
    wb_key(b, key, GGUF_VT_ARRAY);
    wb_u32(b, type);
    wb_u64(b, (uint64_t)n);
    wb_put(b, d, 4 * (size_t)n);
}

static const char *write_vocab(const vocab_spec *s) {
    static char path[256];
    snprintf(path, sizeof(path), "/tmp/kaiwu-tok-%d.gguf", (int)getpid());
    static const char *toks[] = {"<unk>", "<s>", "</s>", "a", "b", "ab", "\xE2\x96\x81", "c"};
    float scores[8] = {0, 0, 0, -1, -2, -0.5f, -3, -4};
    int32_t types[8] = {2, 3, 3, 1, 1, 1, 1, 1};
    if (s->bad_type >= 0) types[3] = s->bad_type;
    wbuf kv = {0};
    wb_kv_str(&kv, "general.architecture", "llama");
    if (s->model) wb_kv_str(&kv, "tokenizer.ggml.model", s->model);
    if (s->pre) wb_kv_str(&kv, "tokenizer.ggml.pre", s->pre);
    wb_kv_arr_str(&kv, "tokenizer.ggml.tokens", toks, s->n_tokens);
    if (s->n_scores) wb_kv_arr(&kv, "tokenizer.ggml.scores", GGUF_VT_F32, scores, s->n_scores);
    if (s->n_types) wb_kv_arr(&kv, "tokenizer.ggml.token_type", GGUF_VT_I32, types, s->n_types);
    if (s->bos != -2) {
        wb_key(&kv, "tokenizer.ggml.bos_token_id", GGUF_VT_U32);
        wb_u32(&kv, (uint32_t)s->bos);
    }
    if (s->merge) wb_kv_arr_str(&kv, "tokenizer.ggml.merges", &s->merge, 1);
    wbuf f = {0};
    wb_put(&f, "GGUF", 4);
    wb_u32(&f, 3);
    wb_u64(&f, 0);
    wb_u64(&f, kv.n_kv);
    wb_put(&f, kv.p, kv.n);
    while (f.n % 32)
        wb_put(&f, "", 1); /* the (empty) data section starts aligned */
    FILE *fp = fopen(path, "wb");
    bool ok = fp && fwrite(f.p, 1, f.n, fp) == f.n;
    if (fp) fclose(fp);
    free(kv.p);
    free(f.p);
    return ok ? path : NULL;
}

/* Loads the vocab described by s; returns the status and leaves the message in kw_last_error. */
static kw_status try_load(const vocab_spec *s, tok_vocab **out) {
    const char *path = write_vocab(s);
    if (!path) return KW_ERR_IO;
    kw_gguf *g = NULL;
    kw_status st = kw_gguf_open(path, &g);
    tok_vocab *v = NULL;
    if (st == KW_OK) st = tok_vocab_load(g, &v);
    kw_gguf_close(g); /* the vocab copies what it needs */
    unlink(path);
    if (out)
        *out = v;
    else
        tok_vocab_free(v);
    return st;
}

static void test_vocab_rejects_malformed_metadata(void) {
    vocab_spec ok = {"llama", 8, 8, 8, -1, -2, NULL, NULL};
    tok_vocab *v = NULL;
    kw_status st = try_load(&ok, &v);
    CHECK(st == KW_OK && v, "a well-formed 8-token SPM vocab loads (%s)",
          st ? kw_last_error() : "ok");
    if (v) {
        kw_token ids[8];
        int32_t n = 0;
        /* "ab" -> "▁ab": ▁ a b, merge a+b (score -0.5) */
        CHECK(tok_tokenize(v, "ab", 2, true, false, ids, 8, &n) == KW_OK && n == 3 && ids[0] == 1 &&
                  ids[1] == 6 && ids[2] == 5,
              "the tiny vocab tokenizes \"ab\" as <s> ▁ ab (n %d)", n);
        CHECK(tok_tokenize(v, "z", 1, false, false, ids, 8, &n) == KW_OK && n == 2 && ids[1] == 0,
              "an unknown character falls back to <unk> when there are no byte tokens");
        tok_vocab_free(v);
    }

    vocab_spec s = ok;
    s.n_scores = 7;
    st = try_load(&s, NULL);
    CHECK(st == KW_ERR_FORMAT && strstr(kw_last_error(), "tokenizer.ggml.scores") &&
              strstr(kw_last_error(), "7"),
          "7 scores for 8 tokens is a format error naming the key and counts: %s", kw_last_error());
    s = ok;
    s.n_types = 5;
    st = try_load(&s, NULL);
    CHECK(st == KW_ERR_FORMAT && strstr(kw_last_error(), "token_type"),
          "5 token types for 8 tokens is a format error: %s", kw_last_error());
    s = ok;
    s.bad_type = 9;
    st = try_load(&s, NULL);
    CHECK(st == KW_ERR_FORMAT && strstr(kw_last_error(), "token_type[3]"),
          "token type 9 is a format error naming the index: %s", kw_last_error());
    s = ok;
    s.bos = 8;
    st = try_load(&s, NULL);
    CHECK(st == KW_ERR_FORMAT && strstr(kw_last_error(), "bos_token_id") &&
              strstr(kw_last_error(), "8"),
          "bos id 8 in an 8-token vocab is an error naming key and numbers: %s", kw_last_error());
    s = ok;
    s.model = "bert";
    st = try_load(&s, NULL);
    CHECK(st == KW_ERR_UNSUPPORTED && strstr(kw_last_error(), "bert"),
          "model 'bert' is unsupported and named: %s", kw_last_error());
    s = ok;
    s.model = NULL;
    st = try_load(&s, NULL);
    CHECK(st != KW_OK && strstr(kw_last_error(), "tokenizer.ggml.model"),
          "a missing tokenizer.ggml.model is an error naming it: %s", kw_last_error());
    s = ok;
    s.model = "gpt2";
    st = try_load(&s, NULL);
    CHECK(st != KW_OK && strstr(kw_last_error(), "merges"),
          "a gpt2 vocab without merges is an error naming them: %s", kw_last_error());
    s.merge = "ab";
    st = try_load(&s, NULL);
    CHECK(st == KW_ERR_FORMAT && strstr(kw_last_error(), "merges[0]"),
          "a merge without a space is a format error naming the index: %s", kw_last_error());
    s.merge = "a b";
    s.pre = "no-such-pre";
    v = NULL;
    st = try_load(&s, &v);
    CHECK(st == KW_OK && v && tok_vocab_kind(v) == TOK_KIND_BPE &&
              strcmp(tok_vocab_pre_name(v), "no-such-pre") == 0,
          "an unknown pre-tokenizer name loads with the GPT-2 fallback (%s)",
          st ? kw_last_error() : "ok");
    if (v) {
        CHECK(!tok_add_bos(v), "BPE vocabs do not add BOS unless the key says so");
        kw_token ids[8];
        int32_t n = 0;
        CHECK(tok_tokenize(v, "ab", 2, true, false, ids, 8, &n) == KW_OK && n == 1 && ids[0] == 5,
              "the merge a+b applies (n %d)", n);
        tok_vocab_free(v);
    }
}

static void test_every_pre_tokenizer_compiles(void) {
    static const char *pres[] = {"default",      "gpt-2",          "llama-bpe", "llama3", "qwen2",
                                 "deepseek-llm", "deepseek-coder", "starcoder", "falcon", "glm4",
                                 "chatglm-bpe",  "command-r",      "smaug-bpe", "mpt",    "refact"};
    for (size_t i = 0; i < sizeof(pres) / sizeof(pres[0]); i++) {
        vocab_spec s = {"gpt2", 8, 0, 8, -1, -2, "a b", pres[i]};
        tok_vocab *v = NULL;
        kw_status st = try_load(&s, &v);
        CHECK(st == KW_OK && v, "pre-tokenizer '%s' loads (%s)", pres[i],
              st ? kw_last_error() : "ok");
        if (!v) continue;
        kw_token ids[8];
        int32_t n = 0;
        CHECK(tok_tokenize(v, "ab c", 4, false, false, ids, 8, &n) == KW_OK && n >= 2 &&
                  ids[0] == 5,
              "pre-tokenizer '%s' splits and merges \"ab c\" (n %d)", pres[i], n);
        tok_vocab_free(v);
    }
}

/* ---------------------------------------------------------------- special ids and EOG sets */

static void check_eog(const char *model, const kw_token *want, int n_want, kw_token bos,
                      kw_token eot) {
    char rel[256];
    snprintf(rel, sizeof(rel), "models/%s", model);
    loaded l = load_data(rel);
    CHECK(l.v != NULL, "%s loads its vocabulary", model);
    if (!l.v) return;
    int n_eog = 0, n_found = 0;
    for (kw_token t = 0; t < tok_n_vocab(l.v); t++)
        n_eog += tok_is_eog(l.v, t);
    for (int i = 0; i < n_want; i++)
        n_found += tok_is_eog(l.v, want[i]);
    CHECK(n_eog == n_want && n_found == n_want,
          "%s: the EOG set is exactly the %d listed ids (%d EOG, %d found)", model, n_want, n_eog,
          n_found);
    CHECK(tok_bos(l.v) == bos, "%s: bos is %d (got %d)", model, bos, tok_bos(l.v));
    CHECK(tok_eot(l.v) == eot, "%s: eot is %d (got %d)", model, eot, tok_eot(l.v));
    unload(&l);
}

static void test_family_eog_sets(void) {
    check_eog("tiny-glm4-f16.gguf", (kw_token[]){4096, 4103}, 2, 4096, 4103);
    check_eog("tiny-chatglm-f16.gguf", (kw_token[]){4096, 4103}, 2, KW_TOKEN_NONE, 4103);
    check_eog("tiny-gemma2-f16.gguf", (kw_token[]){1, 6}, 2, 2, 6);
    check_eog("tiny-phi3-f16.gguf", (kw_token[]){2, 4096, 4103}, 3, 1, 4103);
    check_eog("tiny-minicpm-f16.gguf", (kw_token[]){2}, 1, 1, KW_TOKEN_NONE);
    check_eog("tiny-llama3-f16.gguf", (kw_token[]){1025, 1033}, 2, 1024, 1033);
}

static void test_full_vocab_special_ids(void) {
    loaded l = load_data("tokenizer/vocab/llama-bpe.gguf");
    CHECK(l.v != NULL, "llama-bpe loads");
    if (l.v) {
        CHECK(tok_eot(l.v) == 128009, "llama-bpe: <|eot_id|> 128009 is found as EOT by its text");
        /* base Llama 3 names: 128008 is still <|reserved_special_token_3|>, not <|eom_id|> */
        CHECK(tok_is_eog(l.v, 128001) && tok_is_eog(l.v, 128009) && !tok_is_eog(l.v, 128008),
              "llama-bpe: end_of_text and eot_id end generation, reserved tokens do not");
        CHECK(!tok_is_eog(l.v, 128000), "llama-bpe: begin_of_text does not");
        CHECK(tok_add_bos(l.v) && tok_bos(l.v) == 128000, "llama-bpe adds BOS 128000");
        unload(&l);
    }
    l = load_data("tokenizer/vocab/qwen2.gguf");
    CHECK(l.v != NULL, "qwen2 loads");
    if (l.v) {
        CHECK(tok_eot(l.v) == 151645, "qwen2: <|im_end|> is the EOT (got %d)", tok_eot(l.v));
        CHECK(tok_is_eog(l.v, 151643) && tok_is_eog(l.v, 151645),
              "qwen2: endoftext and im_end end generation");
        CHECK(!tok_is_eog(l.v, 151644), "qwen2: im_start does not");
        CHECK(tok_is_eog(l.v, 151662) && tok_is_eog(l.v, 151663) && tok_is_eog(l.v, 151664),
              "qwen2: fim_pad, repo_name and file_sep end generation (as in llama.cpp)");
        CHECK(!tok_add_bos(l.v), "qwen2 adds no BOS");
        CHECK(tok_token_type(l.v, 151667) == TOK_TYPE_USER_DEFINED,
              "qwen2: </think> is user-defined");
        unload(&l);
    }
}

/* ---------------------------------------------------------------- round trip and speed */

static void test_qwen2_round_trip_100k(void) {
    loaded l = load_data("tokenizer/vocab/qwen2.gguf");
    CHECK(l.v != NULL, "qwen2 loads");
    if (!l.v) return;
    static const char *parts[] = {
        "The quick brown fox jumps over the lazy dog. ",
        "人工智能大模型是通过深度学习技术训练出来的。",
        "int main(void) { return 42; }\n",
        "   \t\n\n",
        "Numbers: 3.14159, 2718281828, 1e-9; ",
        "😀👍🏽 🇨🇳 ",
        "Ça va? Größe, naïve café. ",
        "こんにちは、世界！ ",
        "안녕하세요 ",
        "I'm, you're, they'll ",
    };
    size_t cap = 110 * 1024, len = 0;
    char *text = malloc(cap);
    for (int i = 0; len + 64 < cap - 8 * 1024; i = (i + 1) % 10) {
        size_t k = strlen(parts[i]);
        memcpy(text + len, parts[i], k);
        len += k;
    }
    kw_token *ids = malloc(len * sizeof(*ids));
    int32_t n = 0;
    double t0 = now_s();
    kw_status st = tok_tokenize(l.v, text, len, false, false, ids, (int32_t)len, &n);
    double dt = now_s() - t0;
    printf("qwen2: %zu bytes -> %d tokens in %.1f ms\n", len, n, 1e3 * dt);
    CHECK(st == KW_OK && (size_t)n > len / 8, "qwen2 tokenizes %zu bytes (%d tokens)", len, n);
    char *back = malloc(len + 1);
    int64_t bl = tok_detokenize(l.v, ids, n, back, len + 1, true);
    CHECK(bl == (int64_t)len && memcmp(back, text, len) == 0,
          "qwen2: detokenizing gives the text back byte for byte (%lld of %zu bytes)",
          (long long)bl, len);
    free(back);
    free(ids);
    free(text);
    unload(&l);
}

int main(void) {
    RUN_TEST(test_tokenize_empty_text);
    RUN_TEST(test_tokenize_buffer_too_small_reports_count);
    RUN_TEST(test_tokenize_text_with_nul_and_invalid_utf8);
    RUN_TEST(test_pieces_and_invalid_ids);
    RUN_TEST(test_vocab_rejects_malformed_metadata);
    RUN_TEST(test_every_pre_tokenizer_compiles);
    RUN_TEST(test_family_eog_sets);
    RUN_TEST(test_full_vocab_special_ids);
    RUN_TEST(test_qwen2_round_trip_100k);
    return test_report();
}
