/* jinja_lexer.c - template source to tokens, as @huggingface/jinja 0.5.11 tokenizes.
 *
 * First the text rewrites the reference applies before tokenizing (in this order): drop one
 * trailing "\n"; lstrip_blocks (/^[ \t]*({[#%-])/gm -> "$1"); trim_blocks (/([#%-]})\n/g ->
 * "$1"); drop {% generation %} / {% endgeneration %} tags. A map from every rewritten byte
 * to its offset in the original source keeps error positions true (line:column).
 * Then the tokenizer: text outside tags; {%- {{- {#- strip the whitespace (JavaScript's \s)
 * before them, -%} -}} -#} the whitespace after; inside tags the reference's ordered table
 * of operators, string literals with \n \t \r \b \f \v \' \" \\ escapes, numbers (a '-' or '+'
 * after an operator or opening bracket belongs to the number), words.
 * Relies on: jinja_core (arena, jfail). Must not: read past the end of the source.
 */
#include "chat/jinja_impl.h"

#include <stdio.h>
#include <string.h>

typedef struct pp {
    char *s;
    int32_t *off; /* original offset of every byte of s (and of s[n]) */
    size_t n;
} pp;

typedef struct lexer {
    jctx *cx;
    const char *orig;
    size_t orig_len;
    pp src;
    size_t pos;
    jtoks *out;
    int curly; /* depth of { } inside an expression, so "}}" closes only at depth 0 */
} lexer;

static pp pp_alloc(jctx *cx, size_t n) {
    pp p;
    p.s = ja_alloc(cx, n + 1);
    p.off = ja_alloc(cx, (n + 1) * sizeof(int32_t));
    p.n = 0;
    return p;
}

static void pp_put(pp *d, const pp *s, size_t i) {
    d->s[d->n] = s->s[i];
    d->off[d->n] = s->off[i];
    d->n++;
}

static void pp_end(pp *d, const pp *s) {
    d->off[d->n] = s->off[s->n];
    d->s[d->n] = 0;
}

static bool is_line_start(const pp *p, size_t i) {
    return i == 0 || p->s[i - 1] == '\n' || p->s[i - 1] == '\r';
}

/* lstrip_blocks: spaces and tabs between a line start and "{%", "{#" or "{-" go away. */
static pp pp_lstrip(jctx *cx, const pp *s) {
    pp d = pp_alloc(cx, s->n);
    for (size_t i = 0; i < s->n;) {
        if (is_line_start(s, i)) {
            size_t j = i;
            while (j < s->n && (s->s[j] == ' ' || s->s[j] == '\t'))
                j++;
            if (j > i && j + 1 < s->n && s->s[j] == '{' && strchr("#%-", s->s[j + 1]) &&
                s->s[j + 1]) {
                i = j;
                continue;
            }
            for (; i < j; i++)
                pp_put(&d, s, i);
            if (i >= s->n) break;
        }
        pp_put(&d, s, i++);
    }
    pp_end(&d, s);
    return d;
}

/* trim_blocks: the "\n" right after "#}", "%}" or "-}" goes away. */
static pp pp_trim(jctx *cx, const pp *s) {
    pp d = pp_alloc(cx, s->n);
    for (size_t i = 0; i < s->n; i++) {
        pp_put(&d, s, i);
        if (i + 2 < s->n && strchr("#%-", s->s[i]) && s->s[i] && s->s[i + 1] == '}' &&
            s->s[i + 2] == '\n') {
            pp_put(&d, s, i + 1);
            i += 2;
        }
    }
    pp_end(&d, s);
    return d;
}

static bool ascii_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Matches "{%-? \s* (end)?generation \s* -?%}" at i; returns its length (0: no match). */
static size_t match_generation(const pp *s, size_t i, bool *lstrip, bool *rstrip) {
    size_t j = i;
    if (j + 2 > s->n || s->s[j] != '{' || s->s[j + 1] != '%') return 0;
    j += 2;
    *lstrip = j < s->n && s->s[j] == '-';
    if (*lstrip) j++;
    while (j < s->n && ascii_space(s->s[j]))
        j++;
    if (j + 3 <= s->n && memcmp(s->s + j, "end", 3) == 0) j += 3;
    if (j + 10 > s->n || memcmp(s->s + j, "generation", 10) != 0) return 0;
    j += 10;
    while (j < s->n && ascii_space(s->s[j]))
        j++;
    *rstrip = j < s->n && s->s[j] == '-';
    if (*rstrip) j++;
    if (j + 2 > s->n || s->s[j] != '%' || s->s[j + 1] != '}') return 0;
    return j + 2 - i;
}

static pp pp_generation(jctx *cx, const pp *s) {
    pp d = pp_alloc(cx, s->n);
    for (size_t i = 0; i < s->n;) {
        bool ls, rs;
        size_t m = match_generation(s, i, &ls, &rs);
        if (!m) {
            pp_put(&d, s, i++);
            continue;
        }
        if (ls) /* the whitespace already copied before the tag goes */
            while (d.n > 0 && ascii_space(d.s[d.n - 1]))
                d.n--;
        i += m;
        if (rs)
            while (i < s->n && ascii_space(s->s[i]))
                i++;
    }
    pp_end(&d, s);
    return d;
}

static pp preprocess(jctx *cx, const char *src, size_t len) {
    pp p = pp_alloc(cx, len);
    if (len > 0 && src[len - 1] == '\n') len--;
    memcpy(p.s, src, len);
    for (size_t i = 0; i <= len; i++)
        p.off[i] = (int32_t)i;
    p.n = len;
    p.s[len] = 0;
    pp a = pp_lstrip(cx, &p);
    pp b = pp_trim(cx, &a);
    return pp_generation(cx, &b);
}

/* ---------------------------------------------------------------- positions */

static void position(const lexer *lx, size_t pos, int *line, int *col) {
    size_t off = (size_t)lx->src.off[pos < lx->src.n ? pos : lx->src.n];
    int l = 1, c = 1;
    for (size_t i = 0; i < off && i < lx->orig_len; i++) {
        if (lx->orig[i] == '\n') {
            l++;
            c = 1;
        } else if (((unsigned char)lx->orig[i] & 0xC0) != 0x80) {
            c++;
        }
    }
    *line = l;
    *col = c;
}

_Noreturn static void lex_fail(lexer *lx, size_t pos, const char *what) {
    int line, col;
    position(lx, pos, &line, &col);
    jfail(lx->cx, KW_ERR_FORMAT, "template syntax error at line %d:%d: %s", line, col, what);
}

static jtok *push(lexer *lx, int kind, const char *s, size_t n, size_t pos) {
    jtoks *t = lx->out;
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 256;
        t->v = ja_grow(lx->cx, t->v, t->n * sizeof(jtok), cap * sizeof(jtok));
        t->cap = cap;
    }
    jtok *k = &t->v[t->n++];
    k->kind = (uint8_t)kind;
    k->s = ja_strndup(lx->cx, s, n);
    k->len = n;
    position(lx, pos, &k->line, &k->col);
    return k;
}

static int last_kind(const lexer *lx) { return lx->out->n ? lx->out->v[lx->out->n - 1].kind : -1; }

/* {%- {{- {#-: the text token before loses its trailing whitespace (String.trimEnd). */
static void strip_trailing(lexer *lx) {
    if (!lx->out->n) return;
    jtok *t = &lx->out->v[lx->out->n - 1];
    if (t->kind != T_TEXT) return;
    size_t k;
    while (t->len > 0 && (k = js_space_len_before(t->s, t->len)))
        t->len -= k;
    if (t->len == 0) lx->out->n--;
}

static void skip_space(lexer *lx) {
    size_t k;
    while ((k = js_space_len(lx->src.s, lx->src.n, lx->pos)))
        lx->pos += k;
}

static bool at(const lexer *lx, const char *s) {
    size_t n = strlen(s);
    return lx->pos + n <= lx->src.n && memcmp(lx->src.s + lx->pos, s, n) == 0;
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_word(char c) {
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static void lex_text(lexer *lx) {
    size_t start = lx->pos;
    const char *s = lx->src.s;
    while (lx->pos < lx->src.n &&
           !(s[lx->pos] == '{' && lx->pos + 1 < lx->src.n &&
             (s[lx->pos + 1] == '%' || s[lx->pos + 1] == '{' || s[lx->pos + 1] == '#')))
        lx->pos++;
    if (lx->pos > start) push(lx, T_TEXT, s + start, lx->pos - start, start);
}

static void lex_comment(lexer *lx) {
    size_t start = lx->pos;
    lx->pos += 2;
    bool strip_before = lx->pos < lx->src.n && lx->src.s[lx->pos] == '-';
    if (strip_before) lx->pos++;
    size_t body = lx->pos;
    while (
        !(lx->pos + 1 < lx->src.n && lx->src.s[lx->pos] == '#' && lx->src.s[lx->pos + 1] == '}')) {
        if (lx->pos + 2 >= lx->src.n) lex_fail(lx, start, "comment {# is never closed with #}");
        lx->pos++;
    }
    bool strip_after = lx->pos > body && lx->src.s[lx->pos - 1] == '-';
    if (strip_before) strip_trailing(lx);
    push(lx, T_COMMENT, "", 0, start);
    lx->pos += 2;
    if (strip_after) skip_space(lx);
}

static void lex_string(lexer *lx) {
    size_t start = lx->pos;
    char q = lx->src.s[lx->pos++];
    jbuf b = {0};
    for (;;) {
        if (lx->pos >= lx->src.n) lex_fail(lx, start, "string literal is never closed");
        char c = lx->src.s[lx->pos];
        if (c == q) break;
        if (c == '\\') {
            if (lx->pos + 1 >= lx->src.n) lex_fail(lx, start, "string literal is never closed");
            char e = lx->src.s[lx->pos + 1], u;
            switch (e) {
            case 'n': u = '\n'; break;
            case 't': u = '\t'; break;
            case 'r': u = '\r'; break;
            case 'b': u = '\b'; break;
            case 'f': u = '\f'; break;
            case 'v': u = '\v'; break;
            case '\'':
            case '"':
            case '\\': u = e; break;
            default: {
                char msg[64];
                snprintf(msg, sizeof msg, "unexpected escaped character '\\%c' in a string", e);
                lex_fail(lx, lx->pos, msg);
            }
            }
            jb_putc(lx->cx, &b, u);
            lx->pos += 2;
            continue;
        }
        jb_putc(lx->cx, &b, c);
        lx->pos++;
    }
    lx->pos++;
    push(lx, T_STR, b.p ? b.p : "", b.len, start);
}

/* digits, then ".digits" unless the number follows a dot (tuple.0.1 style member access) */
static void lex_number(lexer *lx, size_t start, bool allow_frac) {
    while (lx->pos < lx->src.n && is_digit(lx->src.s[lx->pos]))
        lx->pos++;
    if (allow_frac && lx->pos + 1 < lx->src.n && lx->src.s[lx->pos] == '.' &&
        is_digit(lx->src.s[lx->pos + 1])) {
        lx->pos++;
        while (lx->pos < lx->src.n && is_digit(lx->src.s[lx->pos]))
            lx->pos++;
    }
    push(lx, T_NUM, lx->src.s + start, lx->pos - start, start);
}

static const struct {
    const char *s;
    int kind;
} TABLE[] = {
    {"{%", T_OPEN_STMT}, {"%}", T_CLOSE_STMT}, {"{{", T_OPEN_EXPR}, {"}}", T_CLOSE_EXPR},
    {"(", T_LPAREN},     {")", T_RPAREN},      {"{", T_LBRACE},     {"}", T_RBRACE},
    {"[", T_LBRACKET},   {"]", T_RBRACKET},    {",", T_COMMA},      {".", T_DOT},
    {":", T_COLON},      {"|", T_PIPE},        {"<=", T_CMPOP},     {">=", T_CMPOP},
    {"==", T_CMPOP},     {"!=", T_CMPOP},      {"<", T_CMPOP},      {">", T_CMPOP},
    {"+", T_ADDOP},      {"-", T_ADDOP},       {"~", T_ADDOP},      {"**", T_MULOP},
    {"*", T_MULOP},      {"//", T_MULOP},      {"/", T_MULOP},      {"%", T_MULOP},
    {"=", T_EQUALS},
};

static void lex_in_tag(lexer *lx) {
    const char *s = lx->src.s;
    char c = s[lx->pos];
    size_t start = lx->pos;
    if (c == '-' || c == '+') {
        int lk = last_kind(lx);
        if (lk == T_TEXT || lk < 0) lex_fail(lx, start, "unexpected character outside a tag");
        if (!(lk == T_IDENT || lk == T_NUM || lk == T_STR || lk == T_RPAREN || lk == T_RBRACKET)) {
            lx->pos++;
            if (lx->pos < lx->src.n && is_digit(s[lx->pos])) {
                lex_number(lx, start, true);
                return;
            }
            push(lx, T_UNARY, s + start, 1, start);
            return;
        }
    }
    for (size_t i = 0; i < sizeof TABLE / sizeof TABLE[0]; i++) {
        if (TABLE[i].kind == T_CLOSE_EXPR && lx->curly > 0) continue;
        if (at(lx, TABLE[i].s)) {
            push(lx, TABLE[i].kind, TABLE[i].s, strlen(TABLE[i].s), start);
            if (TABLE[i].kind == T_OPEN_EXPR)
                lx->curly = 0;
            else if (TABLE[i].kind == T_LBRACE)
                lx->curly++;
            else if (TABLE[i].kind == T_RBRACE)
                lx->curly--;
            lx->pos += strlen(TABLE[i].s);
            return;
        }
    }
    if (c == '\'' || c == '"') {
        lex_string(lx);
        return;
    }
    if (is_digit(c)) {
        lex_number(lx, start, last_kind(lx) != T_DOT);
        return;
    }
    if (is_word(c)) {
        while (lx->pos < lx->src.n && is_word(s[lx->pos]))
            lx->pos++;
        push(lx, T_IDENT, s + start, lx->pos - start, start);
        return;
    }
    char msg[64];
    snprintf(msg, sizeof msg, "unexpected character '%c' (byte 0x%02x) in a tag",
             c >= 32 && c < 127 ? c : '?', (unsigned char)c);
    lex_fail(lx, start, msg);
}

void jinja_lex(jctx *cx, const char *src, size_t len, jtoks *out) {
    lexer lx = {.cx = cx, .orig = src, .orig_len = len, .out = out};
    lx.src = preprocess(cx, src, len);
    while (lx.pos < lx.src.n) {
        int lk = last_kind(&lx);
        if (lk < 0 || lk == T_CLOSE_STMT || lk == T_CLOSE_EXPR || lk == T_COMMENT) {
            size_t before = lx.pos;
            lex_text(&lx);
            if (lx.pos > before) continue;
        }
        if (at(&lx, "{#")) {
            lex_comment(&lx);
            continue;
        }
        if (at(&lx, "{%-")) {
            strip_trailing(&lx);
            push(&lx, T_OPEN_STMT, "{%", 2, lx.pos);
            lx.pos += 3;
            continue;
        }
        if (at(&lx, "{{-")) {
            strip_trailing(&lx);
            push(&lx, T_OPEN_EXPR, "{{", 2, lx.pos);
            lx.curly = 0;
            lx.pos += 3;
            continue;
        }
        skip_space(&lx);
        if (lx.pos >= lx.src.n) lex_fail(&lx, lx.pos, "unexpected end of template inside a tag");
        if (at(&lx, "-%}") || at(&lx, "-}}")) {
            push(&lx, at(&lx, "-%}") ? T_CLOSE_STMT : T_CLOSE_EXPR, lx.src.s + lx.pos + 1, 2,
                 lx.pos);
            lx.pos += 3;
            skip_space(&lx);
            continue;
        }
        lex_in_tag(&lx);
    }
    push(&lx, T_EOF, "", 0, lx.src.n);
}
