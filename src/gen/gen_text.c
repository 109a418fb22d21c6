/* gen_text.c - the text side of a generation: stop strings held back until they can no longer
 * match, and the split of a streamed reply into reasoning and content.
 *
 * Input is whole UTF-8 characters (the streaming detokenizer's output); stop strings and the
 * <think> tags start at character boundaries, so every cut here is at one too.
 * The split follows kw_chat_parse_reply: one reasoning block (<think> ... </think>, or from the
 * start when the prompt opened it), each part trimmed of leading and trailing whitespace; trailing
 * whitespace is held until non-space text follows, so streaming never has to take text back.
 *
 * Must not: know about tokens or models (pure text; the fuzz target drives it directly).
 */
#include "gen/gen.h"

#include <stdlib.h>
#include <string.h>

bool gen_buf_reserve(gen_buf *b, size_t cap) {
    if (cap <= b->cap) return true;
    size_t c = b->cap ? b->cap : 64;
    while (c < cap)
        c *= 2;
    char *p = kw_realloc(b->p, c, "generated text");
    if (!p) return false;
    b->p = p;
    b->cap = c;
    return true;
}

bool gen_buf_add(gen_buf *b, const char *s, size_t n) {
    if (!gen_buf_reserve(b, b->n + n + 1)) return false;
    if (n) memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
    return true;
}

void gen_buf_free(gen_buf *b) {
    free(b->p);
    memset(b, 0, sizeof *b);
}

/* ------------------------------------------------------------------------------------------------
 * Stop strings
 * ---------------------------------------------------------------------------------------------- */

kw_status gen_stops_init(gen_stops *st, const char *const *stops, int32_t n) {
    memset(st, 0, sizeof *st);
    if (n <= 0) return KW_OK;
    st->s = kw_calloc((size_t)n, sizeof *st->s, "stop strings");
    if (!st->s) return KW_ERR_NOMEM;
    for (int32_t i = 0; i < n; i++) {
        if (!stops[i] || !*stops[i]) continue;
        if (!(st->s[st->n] = kw_strndup(stops[i], strlen(stops[i])))) {
            gen_stops_free(st);
            return kw_error(KW_ERR_NOMEM, "copying stop string %d", i);
        }
        st->n++;
    }
    return KW_OK;
}

void gen_stops_free(gen_stops *st) {
    for (int32_t i = 0; i < st->n; i++)
        free(st->s[i]);
    free(st->s);
    gen_buf_free(&st->hold);
    memset(st, 0, sizeof *st);
}

/* Length of the longest suffix of s[0..n) that is a proper prefix of stop. */
static size_t partial_stop(const char *s, size_t n, const char *stop) {
    size_t m = strlen(stop);
    size_t max = m - 1 < n ? m - 1 : n;
    for (size_t l = max; l > 0; l--)
        if (memcmp(s + n - l, stop, l) == 0) return l;
    return 0;
}

bool gen_stops_push(gen_stops *st, const char *t, size_t n, bool at_end, gen_buf *out) {
    if (st->hit) return true;
    if (st->n == 0) return gen_buf_add(out, t, n);
    if (!gen_buf_add(&st->hold, t, n)) return false;
    const char *h = st->hold.p;
    size_t len = st->hold.n, release = len, keep = 0;
    for (int32_t i = 0; i < st->n; i++) {
        const char *hit = memmem(h, len, st->s[i], strlen(st->s[i]));
        if (hit && (size_t)(hit - h) < release) {
            release = (size_t)(hit - h);
            st->hit = true;
            st->which = i;
        }
    }
    if (!st->hit && !at_end)
        for (int32_t i = 0; i < st->n; i++) {
            size_t l = partial_stop(h, len, st->s[i]);
            if (l > keep) keep = l;
        }
    if (!st->hit) release = len - keep;
    if (!gen_buf_add(out, h, release)) return false;
    if (st->hit) {
        st->hold.n = 0;
    } else {
        memmove(st->hold.p, h + release, keep);
        st->hold.n = keep;
    }
    if (st->hold.p) st->hold.p[st->hold.n] = 0;
    return true;
}

/* ------------------------------------------------------------------------------------------------
 * Reasoning / content
 * ---------------------------------------------------------------------------------------------- */

static const char OPEN_TAG[] = "<think>", CLOSE_TAG[] = "</think>";

void gen_split_init(gen_split *sp, bool on, bool thinking_open) {
    memset(sp, 0, sizeof *sp);
    sp->on = on;
    sp->in_think = on && thinking_open;
}

void gen_split_free(gen_split *sp) {
    gen_buf_free(&sp->ws[0]);
    gen_buf_free(&sp->ws[1]);
}

static bool is_space(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

/* Text for the current channel: leading whitespace of the channel dropped, trailing whitespace
 * held until something else follows. */
static bool emit(gen_split *sp, const char *t, size_t n, gen_buf *content, gen_buf *reasoning) {
    const int ch = sp->in_think ? 1 : 0;
    gen_buf *out = ch ? reasoning : content, *ws = &sp->ws[ch];
    if (!sp->started[ch])
        while (n > 0 && is_space(*t))
            t++, n--;
    if (n == 0) return true;
    size_t body = n;
    while (body > 0 && is_space(t[body - 1]))
        body--;
    if (body == 0) return gen_buf_add(ws, t, n); /* all whitespace: hold it */
    if (!gen_buf_add(out, ws->p ? ws->p : "", ws->n) || !gen_buf_add(out, t, body)) return false;
    ws->n = 0;
    sp->started[ch] = true;
    return gen_buf_add(ws, t + body, n - body);
}

bool gen_split_push(gen_split *sp, const char *t, size_t n, bool at_end, gen_buf *content,
                    gen_buf *reasoning) {
    if (!sp->on) return gen_buf_add(content, t, n);
    /* the held partial tag, then the new text; pieces are short, the loop below rescans little */
    char local[512];
    gen_buf tmp = {0};
    const char *buf = t;
    size_t len = n;
    if (sp->n_tag) {
        if (sp->n_tag + n <= sizeof local) {
            memcpy(local, sp->tag, sp->n_tag);
            memcpy(local + sp->n_tag, t, n);
            buf = local;
        } else {
            if (!gen_buf_add(&tmp, sp->tag, sp->n_tag) || !gen_buf_add(&tmp, t, n)) {
                gen_buf_free(&tmp);
                return false;
            }
            buf = tmp.p;
        }
        len = sp->n_tag + n;
        sp->n_tag = 0;
    }
    bool ok = true;
    size_t i = 0;
    while (ok && !sp->think_done) {
        const char *tag = sp->in_think ? CLOSE_TAG : OPEN_TAG;
        const size_t tl = strlen(tag);
        const char *hit = memmem(buf + i, len - i, tag, tl);
        if (!hit) break;
        ok = emit(sp, buf + i, (size_t)(hit - (buf + i)), content, reasoning);
        if (sp->in_think) sp->think_done = true;
        sp->ws[sp->in_think ? 1 : 0].n = 0; /* trailing whitespace of a part is trimmed */
        sp->in_think = !sp->in_think;
        i = (size_t)(hit - buf) + tl;
    }
    size_t keep = 0;
    if (ok && !at_end && !sp->think_done) {
        const char *tag = sp->in_think ? CLOSE_TAG : OPEN_TAG;
        for (size_t l = strlen(tag) - 1; l > 0 && keep == 0; l--)
            if (len - i >= l && memcmp(buf + len - l, tag, l) == 0) keep = l;
    }
    ok = ok && emit(sp, buf + i, len - i - keep, content, reasoning);
    if (ok && keep) {
        memcpy(sp->tag, buf + len - keep, keep);
        sp->n_tag = keep;
    }
    if (at_end) sp->ws[0].n = sp->ws[1].n = 0;
    gen_buf_free(&tmp);
    return ok;
}
