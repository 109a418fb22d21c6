/* tokenizer_write.c - the trained vocabulary as a GGUF tokenizer, and its check by kaiwu's own
 * tokenizer.
 *
 * The file holds no tensors, only metadata: general.architecture "llama" (the model family the
 * trainer builds), and the standard tokenizer.ggml.* keys with tokenizer.ggml.model "llama"
 * (SentencePiece-style: tokens, scores ordering the merges, token types, byte fallback tokens
 * <0xXX>), BOS/EOS/UNK/PAD/EOT ids, add_bos_token on, add_eos_token off, add_space_prefix off,
 * and tokenizer.chat_template (ChatML, the form of <|im_start|>/<|im_end|>). kaiwu.tokenizer.*
 * records how it was made.
 *
 * The check reloads the file through src/tokenizer (tok_vocab_load, tok_tokenize, tok_detokenize):
 * every distinct line must get exactly the segmentation training ended with, and every document
 * of the data must come back unchanged from decode(encode(document)).
 *
 * Relies on the GGUF writer and reader and the tokenizer module (lower layers). Must not: keep
 * the vocabulary open after returning.
 */
#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"
#include "train/tokenizer_train.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const k_chatml =
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + "
    "message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\\n' }}{% endif %}";

kw_status tt_write_gguf(const tt_vocab *v, const char *path, const kw_tokenizer_train_params *p,
                        const kw_tokenizer_train_stats *s) {
    gguf_writer *w = NULL;
    kw_status st = gguf_writer_create(&w);
    if (st != KW_OK) return st;
    char **texts = kw_calloc((size_t)v->n, sizeof(*texts), "token texts");
    int32_t *types = kw_malloc((size_t)v->n * sizeof(*types), "token types");
    if (!texts || !types) st = KW_ERR_NOMEM;
    for (int32_t i = 0; i < v->n && st == KW_OK; i++) {
        if (!(texts[i] = kw_strndup(tt_text(v, i), v->len[i]))) st = KW_ERR_NOMEM;
        types[i] = v->type[i];
    }
#define ADD(call)                                                                                  \
    if (st == KW_OK) st = (call)
    ADD(gguf_writer_add_str(w, "general.architecture", "llama"));
    ADD(gguf_writer_add_str(w, "general.name", "kaiwu tokenizer"));
    ADD(gguf_writer_add_str(w, "tokenizer.ggml.model", "llama"));
    ADD(gguf_writer_add_str(w, "tokenizer.ggml.pre", "default"));
    ADD(gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)texts,
                                (uint64_t)v->n));
    ADD(gguf_writer_add_arr(w, "tokenizer.ggml.scores", GGUF_VT_F32, v->score, (uint64_t)v->n));
    ADD(gguf_writer_add_arr(w, "tokenizer.ggml.token_type", GGUF_VT_I32, types, (uint64_t)v->n));
    ADD(gguf_writer_add_u32(w, "tokenizer.ggml.unknown_token_id", TT_UNK));
    ADD(gguf_writer_add_u32(w, "tokenizer.ggml.bos_token_id", TT_BOS));
    ADD(gguf_writer_add_u32(w, "tokenizer.ggml.eos_token_id", TT_EOS));
    ADD(gguf_writer_add_u32(w, "tokenizer.ggml.padding_token_id", TT_PAD));
    ADD(gguf_writer_add_u32(w, "tokenizer.ggml.eot_token_id", TT_IM_END));
    ADD(gguf_writer_add_bool(w, "tokenizer.ggml.add_bos_token", true));
    ADD(gguf_writer_add_bool(w, "tokenizer.ggml.add_eos_token", false));
    ADD(gguf_writer_add_bool(w, "tokenizer.ggml.add_space_prefix", false));
    ADD(gguf_writer_add_str(w, "tokenizer.chat_template", k_chatml));
    ADD(gguf_writer_add_u32(w, "kaiwu.tokenizer.vocab_size", (uint32_t)p->vocab_size));
    ADD(gguf_writer_add_u32(w, "kaiwu.tokenizer.min_char_count", (uint32_t)p->min_char_count));
    ADD(gguf_writer_add_u32(w, "kaiwu.tokenizer.n_chars", (uint32_t)s->n_chars));
    ADD(gguf_writer_add_u32(w, "kaiwu.tokenizer.n_merges", (uint32_t)s->n_merges));
    ADD(gguf_writer_add_arr_str(w, "kaiwu.tokenizer.data", p->data_files,
                                (uint64_t)p->n_data_files));
#undef ADD
    if (st == KW_OK) st = gguf_writer_write(w, path);
    for (int32_t i = 0; texts && i < v->n; i++)
        free(texts[i]);
    free(texts);
    free(types);
    gguf_writer_free(w);
    return st;
}

/* ---------------------------------------------------------------- check */

typedef struct checker {
    tok_vocab *voc;
    kw_token *ids;
    int32_t cap;
    char *text;
    size_t text_cap;
} checker;

static kw_status grow(checker *c, size_t bytes) {
    if (bytes + 16 > (size_t)c->cap) {
        int32_t cap = (int32_t)(bytes + 64);
        kw_token *ids = realloc(c->ids, (size_t)cap * sizeof(*ids));
        if (!ids) return kw_error(KW_ERR_NOMEM, "out of memory for %d token ids", cap);
        c->ids = ids;
        c->cap = cap;
    }
    if (bytes + 1 > c->text_cap) {
        char *t = realloc(c->text, bytes + 64);
        if (!t) return kw_error(KW_ERR_NOMEM, "out of memory for %zu bytes", bytes);
        c->text = t;
        c->text_cap = bytes + 64;
    }
    return KW_OK;
}

/* Unit k's text with "▁" back to spaces, into c->text; its length. */
static size_t unescape(checker *c, const char *s, size_t n) {
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        if (i + 3 <= n && memcmp(s + i, "\xE2\x96\x81", 3) == 0) {
            c->text[o++] = ' ';
            i += 3;
        } else {
            c->text[o++] = s[i++];
        }
    }
    return o;
}

static kw_status check_units(checker *c, const tt_units *u, kw_tokenizer_train_stats *s) {
    kw_status st = KW_OK;
    for (int64_t k = 0; k < u->n && st == KW_OK; k++) {
        if ((st = grow(c, u->tlen[k])) != KW_OK) break;
        size_t len = unescape(c, u->text.p + u->toff[k], u->tlen[k]);
        int32_t n = 0;
        st = tok_tokenize(c->voc, c->text, len, false, false, c->ids, c->cap, &n);
        if (st != KW_OK) break;
        /* the training's symbols, byte-fallback characters as their bytes */
        const int32_t *ids = u->ids + u->soff[k];
        const char *t = u->text.p + u->toff[k];
        uint32_t off = 0;
        int32_t j = 0;
        bool same = true;
        for (uint32_t i = 0; i < u->slen[k] && same; i++) {
            if (ids[i] >= 0) {
                size_t tl = 0;
                tok_token_text(c->voc, ids[i], &tl);
                same = j < n && c->ids[j++] == ids[i];
                off += (uint32_t)tl;
                continue;
            }
            uint32_t nb = (uint32_t)kw_utf8_seq_len((uint8_t)t[off]);
            if (nb == 0) nb = 1;
            if (nb > u->tlen[k] - off) nb = u->tlen[k] - off;
            for (uint32_t x = 0; x < nb && same; x++)
                same = j < n && c->ids[j++] == TT_FIRST_BYTE + (uint8_t)t[off + x];
            off += nb;
        }
        same = same && j == n;
        s->verify_units++;
        if (!same && s->verify_mismatch++ == 0)
            kw_log(0, "tokenizer-train: line %lld '%.*s' is segmented unlike the training\n",
                   (long long)k, (int)(len > 80 ? 80 : len), c->text);
    }
    return st;
}

static kw_status check_doc(checker *c, const char *d, size_t n, kw_tokenizer_train_stats *s) {
    kw_status st = grow(c, n);
    int32_t nt = 0;
    if (st == KW_OK) st = tok_tokenize(c->voc, d, n, false, false, c->ids, c->cap, &nt);
    if (st != KW_OK) return st;
    int64_t got = tok_detokenize(c->voc, c->ids, nt, c->text, c->text_cap, true);
    bool ok = got == (int64_t)n && memcmp(c->text, d, n) == 0;
    for (int32_t i = 0; i < nt; i++)
        ok = ok && c->ids[i] != TT_UNK;
    s->verify_docs++;
    s->tokens += nt;
    for (size_t i = 0; i < n; i++)
        s->chars += ((uint8_t)d[i] & 0xC0) != 0x80;
    if (!ok && s->roundtrip_fail++ == 0)
        kw_log(0, "tokenizer-train: document '%.*s' does not round-trip\n", (int)(n > 80 ? 80 : n),
               d);
    return KW_OK;
}

static kw_status check_file(checker *c, const char *path, kw_tokenizer_train_stats *s) {
    kw_mapped_file f;
    kw_status st = kw_file_map(path, &f);
    if (st != KW_OK) return st;
    const char *t = (const char *)f.data;
    size_t n = f.size, b = 0;
    while (n > 0 && t[n - 1] == '\n')
        n--;
    for (size_t i = 0; i <= n && st == KW_OK; i++) {
        if (i < n && !(t[i] == '\n' && i + 1 < n && t[i + 1] == '\n')) continue;
        if (i > b) st = check_doc(c, t + b, i - b, s);
        while (i < n && t[i] == '\n')
            i++;
        b = i;
    }
    kw_file_unmap(&f);
    return st;
}

kw_status tt_verify(const char *path, const tt_units *u, const kw_tokenizer_train_params *p,
                    kw_tokenizer_train_stats *s) {
    kw_gguf *g = NULL;
    checker c = {0};
    kw_status st = kw_gguf_open(path, &g);
    if (st == KW_OK) st = tok_vocab_load(g, &c.voc);
    if (st == KW_OK) st = check_units(&c, u, s);
    for (int32_t i = 0; i < p->n_data_files && st == KW_OK; i++) {
        st = check_file(&c, p->data_files[i], s);
        if (p->progress) p->progress(p->user, "verify", i + 1, p->n_data_files);
    }
    if (st == KW_OK && (s->verify_mismatch || s->roundtrip_fail))
        st = kw_error(KW_ERR_INTERNAL,
                      "tokenizer-train: %lld of %lld lines segmented unlike the training, %lld of "
                      "%lld documents do not round-trip (first ones logged above)",
                      (long long)s->verify_mismatch, (long long)s->verify_units,
                      (long long)s->roundtrip_fail, (long long)s->verify_docs);
    tok_vocab_free(c.voc);
    kw_gguf_close(g);
    free(c.ids);
    free(c.text);
    return st;
}
