/* model_check.c - the acceptance checks of a trained poetry model (issue 16), through kaiwu's
 * public API only, as a user would run the model:
 *
 *   model_check shape -m MODEL.gguf --eval EVAL.jsonl [--min 0.9] [--seed S] [--temp T] [-t N]
 *       For every held-out instruction ({"title", "form": "五言绝句"|"七言绝句", "messages"}),
 *       renders the conversation through the model's chat template, samples a reply (kaiwu's
 *       default sampler, seed S + item index) and checks its shape: exactly 4 clauses (句) of 5
 *       (五言) or 7 (七言) Han characters, each closed by Chinese punctuation (，、；：。！？),
 *       the last by 。！？, line breaks only right after a clause. Prints each failure, the rate
 *       per form, and exits 1 when the overall rate is below --min.
 *
 *   model_check ppl -m MODEL.gguf --train TRAIN.txt --val VAL.txt [--max-docs N] [-t N]
 *       Validation perplexity per character of the model against a character-bigram baseline
 *       trained on TRAIN (interpolated Kneser-Ney, discount 0.75, unseen characters through an
 *       add-one continuation distribution). Documents (separated by empty lines) are scored as
 *       the trainer sees them: BOS doc EOS; both models predict every character of the document
 *       and its end, so the model's summed token log-loss over the same text is divided by the
 *       same character count. Documents longer than the context go in windows with a stride of
 *       half the context (every token scored once, with at least half a context before it).
 *
 * Relies on: kaiwu.h, jansson. Must not: reach into src/ (it checks what users get).
 */
#include "kaiwu.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- UTF-8 and shapes */

/* Decodes one code point at s (n bytes left); returns its length (1 for invalid bytes, cp 0xFFFD).
 */
static int utf8_next(const unsigned char *s, size_t n, uint32_t *cp) {
    const unsigned c = s[0];
    int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (len == 0 || (size_t)len > n) {
        *cp = 0xFFFD;
        return 1;
    }
    uint32_t v = len == 1 ? c : c & (0x7F >> len);
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            *cp = 0xFFFD;
            return 1;
        }
        v = v << 6 | (s[i] & 0x3F);
    }
    *cp = v;
    return len;
}

static bool is_han(uint32_t cp) {
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
           (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x20000 && cp <= 0x3134F);
}
static bool is_end_punct(uint32_t cp) { return cp == 0x3002 || cp == 0xFF01 || cp == 0xFF1F; }
static bool is_punct(uint32_t cp) {
    return is_end_punct(cp) || cp == 0xFF0C || cp == 0x3001 || cp == 0xFF1B || cp == 0xFF1A;
}

/* True when text is a quatrain of 4 clauses of n Han characters (see the file comment); else
 * why says what broke. */
static bool quatrain_shape(const char *text, int n, char *why, size_t cap) {
    const unsigned char *s = (const unsigned char *)text;
    size_t len = strlen(text), i = 0;
    while (i < len && (s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t'))
        i++;
    while (len > i && (s[len - 1] == ' ' || s[len - 1] == '\n' || s[len - 1] == '\r'))
        len--;
    for (int clause = 0; clause < 4; clause++) {
        if (clause > 0)
            while (i < len && s[i] == '\n')
                i++; /* a line break may follow a clause's punctuation */
        int han = 0;
        uint32_t cp = 0;
        while (i < len) {
            const int l = utf8_next(s + i, len - i, &cp);
            if (!is_han(cp)) break;
            han++;
            i += (size_t)l;
        }
        if (han != n) {
            snprintf(why, cap, "clause %d has %d Han characters, not %d", clause + 1, han, n);
            return false;
        }
        if (i >= len || !is_punct(cp)) {
            snprintf(why, cap, "clause %d is not closed by Chinese punctuation", clause + 1);
            return false;
        }
        if (clause == 3 && !is_end_punct(cp)) {
            snprintf(why, cap, "the last clause does not end with 。！？");
            return false;
        }
        i += (size_t)utf8_next(s + i, len - i, &cp);
    }
    if (i < len) {
        snprintf(why, cap, "text follows the fourth clause");
        return false;
    }
    return true;
}

/* ---------------------------------------------------------------- shape check */

typedef struct opts {
    const char *model, *eval, *train, *val;
    double min_rate, temp;
    uint64_t seed;
    int threads, max_docs, max_new;
} opts;

/* Samples one reply to messages (a JSON array) into out (cap bytes). */
static kw_status reply_to(kw_context *ctx, kw_sampler *smp, const kw_chat *chat, const kw_model *m,
                          const char *messages, int max_new, char *out, size_t cap) {
    char *prompt = NULL;
    kw_token *ids = NULL;
    int32_t n = 0;
    kw_status st = kw_chat_render(chat, messages, NULL, true, NULL, &prompt);
    if (!st) st = kw_chat_tokenize(chat, prompt, &ids, &n);
    free(prompt);
    if (st) return st;
    kw_context_truncate(ctx, 0);
    kw_sampler_reset(smp);
    if (n + max_new > kw_context_n_ctx(ctx)) max_new = kw_context_n_ctx(ctx) - n;
    st = max_new > 0 ? kw_decode(ctx, ids, NULL, n, NULL) : KW_ERR_CONTEXT_FULL;
    free(ids);
    kw_detok_stream ds;
    kw_detok_stream_init(&ds, m, false, true);
    size_t len = 0;
    int32_t row = n - 1; /* the logits row of the last decoded token */
    for (int k = 0; !st && k < max_new; k++, row = 0) {
        const float *logits = kw_get_logits(ctx, row);
        if (!logits) {
            st = KW_ERR_INTERNAL;
            break;
        }
        const kw_token t = kw_sampler_sample(smp, logits);
        if (kw_token_is_eog(m, t)) break;
        kw_sampler_accept(smp, t);
        char piece[64];
        const int32_t pl = kw_detok_stream_push(&ds, t, piece, sizeof piece);
        if (pl > 0 && len + (size_t)pl < cap)
            memcpy(out + len, piece, (size_t)pl), len += (size_t)pl;
        st = kw_decode(ctx, &t, NULL, 1, NULL);
    }
    const int32_t pl = kw_detok_stream_flush(&ds, out + len, (int32_t)(cap - len - 1));
    if (pl > 0) len += (size_t)pl;
    out[len] = 0;
    return st;
}

static int run_shape(const opts *o) {
    kw_model *m = NULL;
    kw_context *ctx = NULL;
    kw_sampler *smp = NULL;
    kw_chat *chat = NULL;
    if (kw_model_load(o->model, NULL, &m) || kw_chat_create(m, NULL, &chat)) {
        fprintf(stderr, "error: %s\n", kw_last_error());
        return 1;
    }
    kw_context_params cp = kw_context_default_params();
    cp.n_threads = o->threads;
    kw_sampler_params sp = kw_sampler_default_params();
    if (o->temp >= 0) sp.temperature = (float)o->temp;
    if (kw_context_create(m, &cp, &ctx) || kw_sampler_create(m, &sp, &smp)) {
        fprintf(stderr, "error: %s\n", kw_last_error());
        return 1;
    }
    FILE *f = fopen(o->eval, "rb");
    if (!f) {
        fprintf(stderr, "error: cannot open %s\n", o->eval);
        return 1;
    }
    char *line = NULL, reply[4096], why[128];
    size_t line_cap = 0;
    int total[2] = {0, 0}, good[2] = {0, 0}, lineno = 0;
    static const char *forms[2] = {"五言绝句", "七言绝句"};
    while (getline(&line, &line_cap, f) > 0) {
        lineno++;
        json_error_t err;
        json_t *j = json_loads(line, 0, &err);
        const char *form = json_string_value(json_object_get(j, "form"));
        const char *title = json_string_value(json_object_get(j, "title"));
        json_t *msgs = json_object_get(j, "messages");
        int fi = form && strcmp(form, forms[0]) == 0   ? 0
                 : form && strcmp(form, forms[1]) == 0 ? 1
                                                       : -1;
        if (!j || fi < 0 || !json_is_array(msgs)) {
            if (j && !form) fprintf(stderr, "%s:%d: no \"form\"\n", o->eval, lineno);
            json_decref(j);
            continue; /* other forms are not part of this check */
        }
        char *mj = json_dumps(msgs, JSON_COMPACT);
        kw_sampler_free(smp);
        sp.seed = o->seed + (uint64_t)lineno;
        kw_sampler_create(m, &sp, &smp);
        kw_status st = reply_to(ctx, smp, chat, m, mj, o->max_new, reply, sizeof reply);
        free(mj);
        if (st) {
            fprintf(stderr, "error: %s:%d: %s\n", o->eval, lineno, kw_last_error());
            json_decref(j);
            break;
        }
        total[fi]++;
        if (quatrain_shape(reply, fi == 0 ? 5 : 7, why, sizeof why)) {
            good[fi]++;
        } else {
            for (char *c = reply; *c; c++)
                if (*c == '\n') *c = '/';
            printf("miss  %s 《%s》: %s: %s\n", forms[fi], title ? title : "?", why, reply);
        }
        json_decref(j);
    }
    free(line);
    fclose(f);
    const int all = total[0] + total[1], ok = good[0] + good[1];
    for (int i = 0; i < 2; i++)
        printf("%s: %d of %d replies have the shape (%.1f%%)\n", forms[i], good[i], total[i],
               total[i] ? 100.0 * good[i] / total[i] : 0.0);
    const double rate = all ? (double)ok / all : 0;
    printf("all: %d of %d (%.1f%%), required %.0f%% (sampler: temperature %.2f, top-k %d, top-p "
           "%.2f, min-p %.2f, seeds %llu + line)\n",
           ok, all, 100.0 * rate, 100.0 * o->min_rate, sp.temperature, sp.top_k, sp.top_p, sp.min_p,
           (unsigned long long)o->seed);
    kw_sampler_free(smp);
    kw_chat_free(chat);
    kw_context_free(ctx);
    kw_model_free(m);
    return all > 0 && rate >= o->min_rate ? 0 : 1;
}

/* ---------------------------------------------------------------- perplexity */

typedef struct text {
    char *data;
    size_t len;
} text;

static bool read_text(const char *path, text *t) {
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    t->data = malloc((size_t)n + 1);
    t->len = t->data && n >= 0 ? fread(t->data, 1, (size_t)n, f) : 0;
    if (t->data) t->data[t->len] = 0;
    fclose(f);
    return t->data != NULL;
}

/* Next document of t from *pos (split at runs of 2+ newlines, trimmed); false at the end. */
static bool next_doc(const text *t, size_t *pos, size_t *off, size_t *len) {
    size_t i = *pos;
    while (i < t->len) {
        size_t s = i, e = i;
        while (e < t->len && !(t->data[e] == '\n' && e + 1 < t->len && t->data[e + 1] == '\n'))
            e++;
        i = e;
        while (i < t->len && t->data[i] == '\n')
            i++;
        while (s < e && (t->data[s] == ' ' || t->data[s] == '\n' || t->data[s] == '\t'))
            s++;
        while (e > s && (t->data[e - 1] == ' ' || t->data[e - 1] == '\n' || t->data[e - 1] == '\t'))
            e--;
        if (e > s) {
            *off = s, *len = e - s, *pos = i;
            return true;
        }
    }
    *pos = i;
    return false;
}

/* Bigram counts: open addressing over 64-bit keys (prev << 32 | next). */
typedef struct bigram {
    uint64_t *key;
    uint32_t *count;
    size_t cap, n;
} bigram;

static size_t bg_slot(const bigram *b, uint64_t k) {
    size_t h = (size_t)((k * 0x9E3779B97F4A7C15ull) >> 17) & (b->cap - 1);
    while (b->key[h] != UINT64_MAX && b->key[h] != k)
        h = (h + 1) & (b->cap - 1);
    return h;
}

static void bg_add(bigram *b, uint64_t k) {
    if (2 * (b->n + 1) > b->cap) {
        bigram g = {malloc(8 * b->cap * 2), calloc(b->cap * 2, 4), b->cap * 2, 0};
        memset(g.key, 0xFF, 8 * g.cap);
        for (size_t i = 0; i < b->cap; i++)
            if (b->key[i] != UINT64_MAX) {
                const size_t s = bg_slot(&g, b->key[i]);
                g.key[s] = b->key[i], g.count[s] = b->count[i], g.n++;
            }
        free(b->key), free(b->count);
        *b = g;
    }
    const size_t s = bg_slot(b, k);
    if (b->key[s] == UINT64_MAX) b->key[s] = k, b->n++;
    b->count[s]++;
}

#define N_CP    0x110000
#define CP_BOS  N_CP       /* the document start, as a context */
#define CP_EOS  (N_CP + 1) /* the document end, as a predicted symbol */
#define CP_SLOT (N_CP + 2)

typedef struct kn_model {
    bigram bg;
    uint32_t *ctx_count; /* C(p·) per context */
    uint32_t *ctx_types; /* N1+(p·) */
    uint32_t *cont;      /* N1+(·c) */
    uint64_t n_types;    /* N1+(··) */
    uint32_t vocab;      /* distinct predicted symbols in training (+ EOS) */
} kn_model;

static void kn_train(kn_model *k, const text *t) {
    k->bg = (bigram){malloc(8 * 1024), calloc(1024, 4), 1024, 0};
    memset(k->bg.key, 0xFF, 8 * 1024);
    size_t pos = 0, off, len;
    while (next_doc(t, &pos, &off, &len)) {
        uint32_t prev = CP_BOS, cp;
        for (size_t i = 0; i <= len;) {
            if (i == len) {
                cp = CP_EOS;
                i++;
            } else {
                i += (size_t)utf8_next((const unsigned char *)t->data + off + i, len - i, &cp);
            }
            bg_add(&k->bg, (uint64_t)prev << 32 | cp);
            prev = cp;
        }
    }
    k->ctx_count = calloc(CP_SLOT, 4), k->ctx_types = calloc(CP_SLOT, 4),
    k->cont = calloc(CP_SLOT, 4);
    for (size_t i = 0; i < k->bg.cap; i++) {
        if (k->bg.key[i] == UINT64_MAX) continue;
        const uint32_t p = (uint32_t)(k->bg.key[i] >> 32), c = (uint32_t)k->bg.key[i];
        k->ctx_count[p] += k->bg.count[i], k->ctx_types[p]++;
        if (k->cont[c]++ == 0) k->vocab++;
        k->n_types++;
    }
}

/* −log P(c | p), interpolated Kneser-Ney with discount d over an add-one continuation. */
static double kn_nll(const kn_model *k, uint32_t p, uint32_t c) {
    const double d = 0.75;
    const double pc = (k->cont[c] + 1.0) / ((double)k->n_types + k->vocab + 1.0);
    if (k->ctx_count[p] == 0) return -log(pc);
    const size_t s = bg_slot(&k->bg, (uint64_t)p << 32 | c);
    const double n = k->bg.key[s] == UINT64_MAX ? 0 : k->bg.count[s];
    const double cp = k->ctx_count[p];
    return -log(fmax(n - d, 0) / cp + d * k->ctx_types[p] / cp * pc);
}

/* Summed −log p of tokens[1..n) given the earlier ones, in windows (see the file comment). */
static kw_status model_nll(kw_context *ctx, const kw_model *m, const kw_token *tok, int32_t n,
                           bool *want, double *out) {
    const int32_t V = kw_model_n_vocab(m);
    const int32_t W = kw_context_n_ctx(ctx), stride = W / 2;
    double sum = 0;
    int32_t scored = 1; /* tokens [1, scored) done */
    for (int32_t s = 0; scored < n; s += stride) {
        const int32_t e = s + W < n ? s + W : n;
        for (int32_t i = 0; i < e - s; i++)
            want[i] = s + i + 1 >= scored && s + i + 1 < e;
        kw_context_truncate(ctx, 0);
        kw_status st = kw_decode(ctx, tok + s, NULL, e - s, want);
        if (st) return st;
        for (int32_t i = 0; i < e - s; i++) {
            if (!want[i]) continue;
            const float *lg = kw_get_logits(ctx, i);
            double max = -INFINITY, z = 0;
            for (int32_t v = 0; v < V; v++)
                max = fmax(max, lg[v]);
            for (int32_t v = 0; v < V; v++)
                z += exp(lg[v] - max);
            sum += max + log(z) - lg[tok[s + i + 1]];
        }
        scored = e;
    }
    *out = sum;
    return KW_OK;
}

static int run_ppl(const opts *o) {
    text tr = {0}, va = {0};
    if (!read_text(o->train, &tr) || !read_text(o->val, &va)) {
        fprintf(stderr, "error: cannot read %s or %s\n", o->train, o->val);
        return 1;
    }
    kn_model kn = {0};
    kn_train(&kn, &tr);
    kw_model *m = NULL;
    kw_context *ctx = NULL;
    kw_context_params cp = kw_context_default_params();
    cp.n_threads = o->threads;
    if (kw_model_load(o->model, NULL, &m) || kw_context_create(m, &cp, &ctx)) {
        fprintf(stderr, "error: %s\n", kw_last_error());
        return 1;
    }
    const int32_t W = kw_context_n_ctx(ctx);
    size_t pos = 0, off, len;
    int64_t n_docs = 0, n_chars = 0, n_tok = 0, cap = 1 << 16;
    double nll_model = 0, nll_bigram = 0;
    kw_token *tok = malloc(sizeof *tok * (size_t)cap);
    bool *want = malloc((size_t)W);
    const double t0 = kw_time_seconds();
    while (next_doc(&va, &pos, &off, &len) && (o->max_docs <= 0 || n_docs < o->max_docs)) {
        /* the bigram over characters and the end */
        uint32_t prev = CP_BOS, c;
        for (size_t i = 0; i < len;) {
            i += (size_t)utf8_next((const unsigned char *)va.data + off + i, len - i, &c);
            nll_bigram += kn_nll(&kn, prev, c < N_CP ? c : 0xFFFD);
            prev = c, n_chars++;
        }
        nll_bigram += kn_nll(&kn, prev, CP_EOS);
        n_chars++;
        /* the model over BOS doc EOS */
        int32_t n = 0;
        if ((int64_t)len + 3 > cap)
            cap = (int64_t)len + 3, tok = realloc(tok, sizeof *tok * (size_t)cap);
        tok[0] = kw_token_bos(m);
        kw_status st =
            kw_tokenize(m, va.data + off, len, false, false, tok + 1, (int32_t)cap - 2, &n);
        tok[n + 1] = kw_token_eos(m);
        double s = 0;
        if (!st) st = model_nll(ctx, m, tok, n + 2, want, &s);
        if (st) {
            fprintf(stderr, "error: document %lld: %s\n", (long long)n_docs, kw_last_error());
            return 1;
        }
        nll_model += s, n_tok += n + 1, n_docs++;
    }
    const double bm = nll_model / (double)n_chars, bb = nll_bigram / (double)n_chars;
    printf("validation: %lld documents, %lld characters (with one end per document), %lld tokens "
           "(%.1f s)\n",
           (long long)n_docs, (long long)n_chars, (long long)n_tok, kw_time_seconds() - t0);
    printf("model:  %.4f nats per character, perplexity per character %.2f (%s, context %d)\n", bm,
           exp(bm), o->model, W);
    printf("bigram: %.4f nats per character, perplexity per character %.2f (interpolated "
           "Kneser-Ney, d = 0.75, %u symbols from %s)\n",
           bb, exp(bb), kn.vocab, o->train);
    printf("ratio:  the model's perplexity is %.1f%% of the bigram's\n", 100.0 * exp(bm - bb));
    free(tok), free(want), free(tr.data), free(va.data);
    kw_context_free(ctx);
    kw_model_free(m);
    return 0;
}

/* ---------------------------------------------------------------- main */

static void usage(void) {
    fputs("usage: model_check shape -m MODEL.gguf --eval EVAL.jsonl [--min 0.9] [--seed S]\n"
          "                         [--temp T] [--max-new N] [-t THREADS]\n"
          "       model_check ppl -m MODEL.gguf --train TRAIN.txt --val VAL.txt [--max-docs N]\n"
          "                       [-t THREADS]\n",
          stderr);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage();
        return 2;
    }
    opts o = {.min_rate = 0.9, .temp = -1, .seed = 1, .threads = 0, .max_new = 128};
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            usage();
            return 2;
        }
        if (!strcmp(a, "-m"))
            o.model = v;
        else if (!strcmp(a, "--eval"))
            o.eval = v;
        else if (!strcmp(a, "--train"))
            o.train = v;
        else if (!strcmp(a, "--val"))
            o.val = v;
        else if (!strcmp(a, "--min"))
            o.min_rate = atof(v);
        else if (!strcmp(a, "--temp"))
            o.temp = atof(v);
        else if (!strcmp(a, "--seed"))
            o.seed = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--max-new"))
            o.max_new = atoi(v);
        else if (!strcmp(a, "--max-docs"))
            o.max_docs = atoi(v);
        else if (!strcmp(a, "-t"))
            o.threads = atoi(v);
        else {
            usage();
            return 2;
        }
        i++;
    }
    if (!strcmp(argv[1], "shape") && o.model && o.eval) return run_shape(&o);
    if (!strcmp(argv[1], "ppl") && o.model && o.train && o.val) return run_ppl(&o);
    usage();
    return 2;
}
