/* model_api.c - the public kw_model_* getters and the token API of kaiwu.h, as thin wrappers over
 * the model's hyperparameters and its tokenizer; plus the streaming detokenizer, which holds back
 * an incomplete UTF-8 sequence until its continuation bytes arrive.
 */
#include "model/model.h"

#include <stdio.h>
#include <string.h>

const char *kw_model_arch(const kw_model *m) { return m->arch; }
const char *kw_model_family(const kw_model *m) { return m->desc ? m->desc->family : ""; }
bool kw_model_vocab_only(const kw_model *m) { return m->vocab_only; }
const char *kw_model_name(const kw_model *m) { return m->name; }
const char *kw_model_tokenizer_kind(const kw_model *m) {
    return tok_vocab_kind(m->vocab) == TOK_KIND_SPM ? "spm" : "bpe";
}
const char *kw_model_chat_template(const kw_model *m) { return m->chat_template; }
int32_t kw_model_n_vocab(const kw_model *m) { return m->hp.n_vocab; }
int32_t kw_model_n_ctx_train(const kw_model *m) { return m->hp.n_ctx_train; }
int32_t kw_model_n_embd(const kw_model *m) { return m->hp.n_embd; }
int32_t kw_model_n_layer(const kw_model *m) { return m->hp.n_layer; }
int32_t kw_model_n_head(const kw_model *m) { return m->hp.n_head; }
int32_t kw_model_n_head_kv(const kw_model *m) { return m->hp.n_head_kv; }
int32_t kw_model_head_dim(const kw_model *m) { return m->hp.head_dim; }
int32_t kw_model_n_ff(const kw_model *m) { return m->hp.n_ff; }
uint64_t kw_model_n_params(const kw_model *m) { return m->n_params; }
uint64_t kw_model_weight_bytes(const kw_model *m) { return m->weight_bytes; }

size_t kw_model_describe(const kw_model *m, char *buf, size_t cap) {
    if (m->vocab_only) {
        int n = snprintf(buf, cap, "vocabulary only   no weights: tokenizes, does not evaluate\n");
        return n > 0 ? (size_t)n : 0;
    }
    const kw_hparams *hp = &m->hp;
    const arch_desc *d = m->desc;
    int n_swa_layers = 0;
    for (int i = 0; i < hp->n_layer; i++)
        n_swa_layers += m->layers[i].is_swa;
    int n = snprintf(
        buf, cap,
        "context length     %d\n"
        "embedding          %d\n"
        "layers             %d\n"
        "heads (q / kv)     %d / %d (head dim %d, value dim %d)\n"
        "feed-forward       %d (%s%s)\n"
        "norm               RMSNorm, eps %g%s%s\n"
        "RoPE               %s, %d of %d dims, base %g%s%s\n"
        "projections        %s%s, output %s\n",
        hp->n_ctx_train, hp->n_embd, hp->n_layer, hp->n_head, hp->n_head_kv, hp->head_dim,
        hp->head_dim_v, hp->n_ff, d->act == FFN_GELU_TANH ? "GeGLU tanh" : "SwiGLU",
        d->fused_gate_up ? ", fused gate/up" : "", hp->norm_eps, d->qk_norm ? ", q/k norm" : "",
        d->post_attn_norm || d->post_ffn_norm ? ", sandwich (post) norms" : "",
        d->rope == ROPE_NEOX ? "NeoX (halves)" : "normal (adjacent pairs)", hp->n_rot, hp->head_dim,
        hp->rope_base, m->rope_freqs.data ? ", rope_freqs factors" : "",
        m->rope_long.data ? ", LongRoPE factors" : "",
        d->fused_qkv ? "fused qkv" : "separate q/k/v",
        (m->layers[0].bq.data || m->layers[0].bqkv.data) ? " with bias" : "",
        m->output.data == m->tok_embd.data ? "tied to token_embd" : "separate");
    size_t used = n > 0 ? (size_t)n : 0;
    char extra[512];
    int e = 0;
    extra[0] = 0;
    if (n_swa_layers)
        e += snprintf(extra + e, sizeof extra - (size_t)e,
                      "sliding window     %d tokens on %d of %d layers (local RoPE base %g)\n",
                      hp->n_swa, n_swa_layers, hp->n_layer, hp->rope_base_swa);
    if (m->rope_long.data)
        e += snprintf(
            extra + e, sizeof extra - (size_t)e,
            "LongRoPE           long factors above a context of %d, else short; attn factor %g\n",
            hp->rope_orig_ctx, hp->rope_attn_factor);
    if (hp->rope_freq_scale != 1.0f)
        e += snprintf(extra + e, sizeof extra - (size_t)e, "RoPE scaling       linear, factor %g\n",
                      1.0 / hp->rope_freq_scale);
    if (hp->attn_softcap > 0 || hp->final_softcap > 0)
        e += snprintf(extra + e, sizeof extra - (size_t)e,
                      "soft-capping       attention %g, final %g\n", hp->attn_softcap,
                      hp->final_softcap);
    if (d->has_mup_scales || hp->embd_scale != 1.0f)
        e += snprintf(extra + e, sizeof extra - (size_t)e,
                      "scales             embedding %g, residual %g, logit %g\n", hp->embd_scale,
                      hp->residual_scale, hp->logit_scale);
    int n2 = snprintf(used < cap ? buf + used : NULL, used < cap ? cap - used : 0, "%s", extra);
    return used + (n2 > 0 ? (size_t)n2 : 0);
}

/* ---------------------------------------------------------------- tokens */

kw_token kw_token_bos(const kw_model *m) { return tok_bos(m->vocab); }
kw_token kw_token_eos(const kw_model *m) { return tok_eos(m->vocab); }
kw_token kw_token_eot(const kw_model *m) { return tok_eot(m->vocab); }
bool kw_model_add_bos(const kw_model *m) { return tok_add_bos(m->vocab); }
bool kw_token_is_eog(const kw_model *m, kw_token t) { return tok_is_eog(m->vocab, t); }

bool kw_token_is_special(const kw_model *m, kw_token t) {
    tok_type ty = tok_token_type(m->vocab, t);
    return ty == TOK_TYPE_CONTROL || ty == TOK_TYPE_USER_DEFINED || ty == TOK_TYPE_UNKNOWN;
}

kw_status kw_tokenize(const kw_model *m, const char *text, size_t len, bool add_special,
                      bool parse_special, kw_token *out, int32_t cap, int32_t *n_out) {
    kw_error_clear();
    if (!m || (!text && len) || !n_out || (cap > 0 && !out))
        return kw_error(KW_ERR_INVALID_ARG, "kw_tokenize: NULL argument");
    return tok_tokenize(m->vocab, text ? text : "", len, add_special, parse_special, out, cap,
                        n_out);
}

int32_t kw_token_to_piece(const kw_model *m, kw_token t, char *buf, int32_t cap,
                          bool render_special) {
    return tok_token_to_piece(m->vocab, t, buf, cap, render_special);
}

int64_t kw_detokenize(const kw_model *m, const kw_token *tokens, int32_t n, char *buf, size_t cap,
                      bool render_special) {
    return tok_detokenize(m->vocab, tokens, n, buf, cap, render_special);
}

/* ---------------------------------------------------------------- streaming detokenizer */

void kw_detok_stream_init(kw_detok_stream *s, const kw_model *model, bool render_special,
                          bool strip_leading_space) {
    memset(s, 0, sizeof *s);
    s->model = model;
    s->render_special = render_special;
    s->at_start = strip_leading_space && tok_vocab_kind(model->vocab) == TOK_KIND_SPM;
}

/* Copies the valid, complete characters of bytes[0..n) to out, turning invalid bytes into U+FFFD,
 * and keeps an incomplete tail in s->pending. Returns bytes written. */
static int32_t emit(kw_detok_stream *s, const uint8_t *bytes, int32_t n, char *out, int32_t cap,
                    bool final) {
    int32_t w = 0, i = 0;
    int32_t keep = final ? 0 : kw_utf8_incomplete_tail(bytes, (size_t)n);
    while (i < n - keep) {
        uint32_t cp;
        int len = kw_utf8_decode(bytes + i, (size_t)(n - keep - i), &cp);
        char enc[4];
        const char *src = (const char *)bytes + i;
        int out_len = len;
        if (cp == 0xFFFD && len == 1) { /* an invalid byte, not a real U+FFFD */
            out_len = kw_utf8_encode(0xFFFD, enc);
            src = enc;
        }
        if (w + out_len > cap) break;
        memcpy(out + w, src, (size_t)out_len);
        w += out_len;
        i += len;
    }
    s->n_pending = n - i;
    if (s->n_pending > (int32_t)sizeof s->pending) s->n_pending = (int32_t)sizeof s->pending;
    memmove(s->pending, bytes + i, (size_t)s->n_pending);
    return w;
}

int32_t kw_detok_stream_push(kw_detok_stream *s, kw_token token, char *out, int32_t cap) {
    uint8_t buf[256 + 8];
    memcpy(buf, s->pending, (size_t)s->n_pending);
    int32_t n =
        kw_token_to_piece(s->model, token, (char *)buf + s->n_pending, 256, s->render_special);
    if (n < 0) return 0;
    if (n > 256)
        n = 256; /* a piece longer than 256 bytes is cut (none exists in real vocabularies) */
    uint8_t *p = buf;
    int32_t total = s->n_pending + n;
    if (s->at_start && total > 0) {
        s->at_start = false;
        if (p[0] == ' ') {
            p++;
            total--;
        }
    }
    return emit(s, p, total, out, cap, false);
}

int32_t kw_detok_stream_flush(kw_detok_stream *s, char *out, int32_t cap) {
    uint8_t buf[8];
    int32_t n = s->n_pending;
    memcpy(buf, s->pending, (size_t)n);
    return emit(s, buf, n, out, cap, true);
}
