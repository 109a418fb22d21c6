/* test_train_data.c - the trainer's data path (src/train/token_data.c, batch_loader.c,
 * sft_tokens.c) on the committed 唐诗三百首 text and its vocabulary (tests/data/train):
 * documents become BOS doc EOS with kaiwu's tokenizer and are cached (reused when the hashes
 * match, rebuilt when they do not); batches are a function of (seed, epoch, cursor) so seeking to a
 * saved position continues the same sequence; targets are the next tokens; SFT masks cover exactly
 * the assistant turns (content and end-of-turn) of conversations rendered through the template.
 */
#include "base/base.h"
#include "gguf/gguf.h"
#include "test.h"
#include "tokenizer/tokenizer.h"
#include "train/train.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static kw_gguf *g_vocab_gguf;
static tok_vocab *g_vocab;

static char g_dir[] = "/tmp/kaiwu-test-train-XXXXXX";

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

static void test_documents_are_tokenized_with_bos_and_eos(void) {
    char path[256];
    snprintf(path, sizeof path, "%s/docs.txt", g_dir);
    /* three documents; extra blank lines and trailing spaces are not documents */
    write_text(path, "静夜思\n李白\n床前明月光\n\n\n春晓  \n\n  \n相思\n");
    token_stream s = {0};
    kw_status st = token_stream_from_text(g_vocab, 1, path, NULL, NULL, &s);
    CHECK(st == KW_OK, "a small text tokenizes: %s", kw_last_error());
    CHECK(s.n_docs == 3, "three documents found (got %lld)", (long long)s.n_docs);
    int32_t want[64], n = 0;
    tok_tokenize(g_vocab, "静夜思\n李白\n床前明月光", strlen("静夜思\n李白\n床前明月光"), false,
                 false, want, 64, &n);
    CHECK(s.docs[0] == 0 && s.docs[1] == n + 2,
          "document 0 is %d tokens plus BOS and EOS (got %lld)", n, (long long)s.docs[1]);
    CHECK(s.ids[0] == tok_bos(g_vocab) && s.ids[n + 1] == tok_eos(g_vocab) &&
              memcmp(s.ids + 1, want, sizeof(int32_t) * (size_t)n) == 0,
          "document 0 is BOS, the tokenizer's ids, EOS");
    CHECK(s.docs[3] == s.n && s.ids[s.n - 1] == tok_eos(g_vocab), "the stream ends with EOS");
    token_stream_free(&s);
}

static void test_cache_is_reused_and_rebuilt(void) {
    char path[256], cache[256];
    snprintf(path, sizeof path, "%s/c.txt", g_dir);
    snprintf(cache, sizeof cache, "%s/cache", g_dir);
    write_text(path, "白日依山尽\n\n黄河入海流\n");
    CHECK(train_mkdirs(cache) == KW_OK, "the cache directory is made: %s", kw_last_error());
    token_stream a = {0}, b = {0}, c = {0};
    CHECK(token_stream_from_text(g_vocab, 7, path, cache, NULL, &a) == KW_OK, "first pass");
    /* the second pass must read the cache: make the tokenizer unusable to prove it */
    CHECK(token_stream_from_text(NULL, 7, path, cache, NULL, &b) == KW_OK,
          "the second pass reads the cache without tokenizing: %s", kw_last_error());
    CHECK(a.n == b.n && a.n_docs == b.n_docs && memcmp(a.ids, b.ids, 4 * (size_t)a.n) == 0 &&
              memcmp(a.docs, b.docs, 8 * (size_t)(a.n_docs + 1)) == 0,
          "the cached stream equals the tokenized one");
    /* another vocabulary hash: the cache is stale, so the text is tokenized again */
    CHECK(token_stream_from_text(g_vocab, 8, path, cache, NULL, &c) == KW_OK && c.n == a.n,
          "a different vocabulary hash rebuilds the stream");
    token_stream_free(&a), token_stream_free(&b), token_stream_free(&c);
}

static void put64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void test_cache_with_bad_offsets_is_refused(void) {
    /* a cache whose hashes match but whose document offsets point past its tokens */
    uint8_t f[40 + 4 * 3 + 8 * 3] = "KWTOKS01";
    put64(f + 8, 11), put64(f + 16, 22), put64(f + 24, 3), put64(f + 32, 2);
    put64(f + 52, 0), put64(f + 60, 900), put64(f + 68, 3);
    char path[256];
    snprintf(path, sizeof path, "%s/bad.tokens", g_dir);
    FILE *fp = fopen(path, "wb");
    fwrite(f, 1, sizeof f, fp);
    fclose(fp);
    token_stream s = {0};
    CHECK(token_cache_read(path, 11, 22, &s) == KW_ERR_FORMAT && !s.ids,
          "document offsets past the tokens are refused (%s)", kw_last_error());
    put64(f + 60, 2);
    fp = fopen(path, "wb");
    fwrite(f, 1, sizeof f, fp);
    fclose(fp);
    CHECK(token_cache_read(path, 11, 22, &s) == KW_OK && s.n == 3 && s.n_docs == 2,
          "the same cache with sane offsets reads");
    token_stream_free(&s);
    CHECK(token_cache_read(path, 11, 23, &s) == KW_OK && !s.ids, "a stale hash reads as no cache");
}

/* A stream 0, 1, 2, ... of n tokens (values are positions), one document. */
static token_stream counting_stream(int64_t n) {
    token_stream s = {0};
    s.ids = malloc(sizeof(int32_t) * (size_t)n);
    s.docs = malloc(sizeof(int64_t) * 2);
    for (int64_t i = 0; i < n; i++)
        s.ids[i] = (int32_t)i;
    s.docs[0] = 0, s.docs[1] = n, s.n = n, s.n_docs = 1;
    return s;
}

static void test_windows_resume_from_a_saved_position(void) {
    const int32_t T = 8;
    token_stream s = counting_stream(203);
    batch_source a, b;
    CHECK(batch_source_init(&a, &s, T, false, 99, 0) == KW_OK, "a batch source starts");
    int32_t tok[8], tgt[8], tok2[8], tgt2[8];
    bool next_ok = true, covered = true;
    int seen[203] = {0};
    const int64_t per_epoch = a.n_units;
    for (int64_t i = 0; i < per_epoch; i++) {
        batch_source_next(&a, tok, tgt);
        for (int t = 0; t < T; t++) {
            next_ok &= tgt[t] == tok[t] + 1 && (t == 0 || tok[t] == tok[t - 1] + 1);
            seen[tok[t]]++;
        }
    }
    for (int i = (int)a.shift; i < (int)(a.shift + per_epoch * T); i++)
        covered &= seen[i] == 1;
    CHECK(next_ok, "targets are the next tokens of contiguous windows");
    CHECK(covered, "one epoch visits every window of its shift once (%lld windows, shift %lld)",
          (long long)per_epoch, (long long)a.shift);
    /* into epoch 1, then save and seek a second source there */
    for (int i = 0; i < 5; i++)
        batch_source_next(&a, tok, tgt);
    const batch_state saved = a.st;
    CHECK(saved.epoch == 1 && saved.cursor == 5,
          "the position is epoch 1, cursor 5 (got %llu, %llu)", (unsigned long long)saved.epoch,
          (unsigned long long)saved.cursor);
    CHECK(batch_source_init(&b, &s, T, false, 99, 0) == KW_OK &&
              batch_source_seek(&b, saved) == KW_OK,
          "a second source seeks to the saved position");
    bool same = true;
    for (int i = 0; i < 40; i++) {
        batch_source_next(&a, tok, tgt);
        batch_source_next(&b, tok2, tgt2);
        same &= memcmp(tok, tok2, sizeof tok) == 0 && memcmp(tgt, tgt2, sizeof tgt) == 0;
    }
    CHECK(same, "both continue with the same 40 sequences, across an epoch boundary");
    batch_state bad = {1, 1000};
    CHECK(batch_source_seek(&b, bad) == KW_ERR_FORMAT, "a cursor past the epoch is refused");
    batch_source_free(&b);
    CHECK(batch_source_init(&b, &s, T, false, 100, 0) == KW_OK, "another seed");
    batch_source_next(&a, tok, tgt);
    batch_source_next(&b, tok2, tgt2);
    CHECK(b.shift != a.shift || memcmp(b.order, a.order, sizeof(int64_t) * (size_t)a.n_units) != 0,
          "another seed gives another order");
    CHECK(batch_source_n_eval(&a) == 202 / T && batch_source_eval(&a, 3, tok, tgt) &&
              tok[0] == 3 * T && !batch_source_eval(&a, 202 / T, tok, tgt),
          "the evaluation grid is the windows at multiples of the sequence length");
    batch_source_free(&a), batch_source_free(&b);
    token_stream_free(&s);
}

static void test_packed_sequences_keep_documents_whole(void) {
    /* 4 documents of 5, 3, 9, 4 tokens; mask: only odd token values count */
    token_stream s = {0};
    const int64_t lens[4] = {5, 3, 9, 4};
    s.n = 21, s.n_docs = 4;
    s.ids = malloc(4 * 21), s.mask = malloc(21), s.docs = malloc(8 * 5);
    int64_t k = 0;
    for (int d = 0; d < 4; d++) {
        s.docs[d] = k;
        for (int64_t i = 0; i < lens[d]; i++, k++)
            s.ids[k] = (int32_t)(100 * d + i), s.mask[k] = (uint8_t)(i % 2);
    }
    s.docs[4] = k;
    batch_source b;
    const int32_t T = 8, pad = 7;
    CHECK(batch_source_init(&b, &s, T, true, 5, pad) == KW_OK, "a packed source starts");
    int32_t tok[8], tgt[8];
    /* file-order grid: [doc0 4 pairs + doc1 2 pairs] [doc2 cut to 8] [doc3 3 pairs] */
    CHECK(batch_source_n_eval(&b) == 3, "three evaluation sequences (got %lld)",
          (long long)batch_source_n_eval(&b));
    batch_source_eval(&b, 0, tok, tgt);
    CHECK(tok[0] == 0 && tok[3] == 3 && tok[4] == 100 && tok[5] == 101 && tok[6] == pad &&
              tgt[6] == -1 && tgt[7] == -1,
          "sequence 0 packs documents 0 and 1 whole and pads the rest");
    CHECK(tgt[0] == 1 && tgt[1] == -1 && tgt[2] == 3 && tgt[4] == 101,
          "targets are masked where the next token does not count");
    batch_source_eval(&b, 1, tok, tgt);
    CHECK(tok[0] == 200 && tok[7] == 207 && tgt[7] == -1,
          "a long document is cut at the sequence end");
    batch_source_free(&b);
    token_stream_free(&s);
}

static void test_sft_mask_is_the_assistant_turns(void) {
    kw_model *model = NULL;
    char mpath[256], jpath[256];
    snprintf(mpath, sizeof mpath, "%s/m.gguf", g_dir);
    snprintf(jpath, sizeof jpath, "%s/sft.jsonl", g_dir);
    /* a tiny random model with the test vocabulary and its ChatML template */
    train_config c = train_config_default();
    c.n_vocab = tok_n_vocab(g_vocab), c.n_embd = 16, c.n_layer = 1, c.n_head = 2, c.n_head_kv = 1;
    c.head_dim = 8, c.n_ff = 24, c.n_ctx = 64;
    train_model *m = NULL;
    CHECK(train_model_create(&c, &m) == KW_OK, "model");
    train_model_init(m, 1);
    const train_provenance prov = {"t", "pretrain", "test", "test", 0, 0, -1, NULL};
    CHECK(train_export_gguf(mpath, m, g_vocab_gguf, &prov) == KW_OK, "exported: %s",
          kw_last_error());
    train_model_free(m);
    CHECK(kw_model_load(mpath, NULL, &model) == KW_OK, "the exported model loads: %s",
          kw_last_error());
    if (!model) return;
    write_text(
        jpath,
        "{\"messages\": [{\"role\": \"system\", \"content\": \"诗人\"}, {\"role\": \"user\", "
        "\"content\": \"写诗\"}, {\"role\": \"assistant\", \"content\": \"春眠不觉晓\"}, "
        "{\"role\": \"user\", \"content\": \"再写\"}, {\"role\": \"assistant\", \"content\": "
        "\"处处闻啼鸟\"}]}\n"
        "\n"
        "{\"messages\": [{\"role\": \"user\", \"content\": \"题\"}, {\"role\": \"assistant\", "
        "\"content\": \"花落\"}]}\n");
    token_stream tr = {0}, va = {0};
    int64_t n_long = 0;
    kw_status st = sft_streams_from_jsonl(model, jpath, 0, &tr, &va, &n_long, 256);
    CHECK(st == KW_OK, "the conversations load: %s", kw_last_error());
    CHECK(tr.n_docs == 2 && va.n_docs == 0 && n_long == 0,
          "two conversations, none held out, none too long (%lld, %lld, %lld)",
          (long long)tr.n_docs, (long long)va.n_docs, (long long)n_long);
    /* the masked tokens of conversation 0, detokenized, are both replies with their end tokens */
    char text[512] = "";
    size_t len = 0;
    for (int64_t i = tr.docs[0]; i < tr.docs[1]; i++) {
        if (!tr.mask[i]) continue;
        char piece[64];
        const int32_t n = kw_token_to_piece(model, tr.ids[i], piece, sizeof piece, true);
        if (n > 0 && len + (size_t)n < sizeof text)
            memcpy(text + len, piece, (size_t)n), len += (size_t)n;
    }
    text[len] = 0;
    CHECK(strcmp(text, "春眠不觉晓<|im_end|>\n处处闻啼鸟<|im_end|>\n") == 0,
          "the mask covers exactly the assistant replies and their end-of-turn (got \"%s\")", text);
    token_stream_free(&tr), token_stream_free(&va);
    write_text(jpath, "{\"messages\": [{\"role\": \"user\", \"content\": \"题\"}]}\n");
    CHECK(sft_streams_from_jsonl(model, jpath, 0, &tr, &va, &n_long, 64) == KW_ERR_FORMAT &&
              strstr(kw_last_error(), "line 1"),
          "a conversation without an assistant turn is an error naming its line (%s)",
          kw_last_error());
    write_text(
        jpath,
        "{\"messages\": [{\"role\": \"user\", \"content\": \"题\"}, {\"role\": \"assistant\", "
        "\"content\": \"花\"}]}\n[1, 2]\n");
    CHECK(sft_streams_from_jsonl(model, jpath, 0, &tr, &va, &n_long, 64) == KW_ERR_FORMAT &&
              strstr(kw_last_error(), "line 2"),
          "a line that is not a conversation is an error naming it (%s)", kw_last_error());
    kw_model_free(model);
}

int main(void) {
    if (!mkdtemp(g_dir)) {
        printf("cannot make a temporary directory\n0 passed, 1 failed\n");
        return 1;
    }
    if (kw_gguf_open(test_data_path("train/vocab.gguf"), &g_vocab_gguf) != KW_OK ||
        tok_vocab_load(g_vocab_gguf, &g_vocab) != KW_OK) {
        printf("cannot load tests/data/train/vocab.gguf: %s\n0 passed, 1 failed\n",
               kw_last_error());
        return 1;
    }
    RUN_TEST(test_documents_are_tokenized_with_bos_and_eos);
    RUN_TEST(test_cache_is_reused_and_rebuilt);
    RUN_TEST(test_cache_with_bad_offsets_is_refused);
    RUN_TEST(test_windows_resume_from_a_saved_position);
    RUN_TEST(test_packed_sequences_keep_documents_whole);
    RUN_TEST(test_sft_mask_is_the_assistant_turns);
    tok_vocab_free(g_vocab);
    kw_gguf_close(g_vocab_gguf);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd) != 0) printf("note: could not remove %s\n", g_dir);
    return test_report();
}
