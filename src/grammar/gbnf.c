/* gbnf.c - the GBNF parser: llama.cpp's grammar dialect to the flat rule form of grammar.h.
 *
 * Relies on: base (kw_malloc, kw_error) only.
 *
 * Dialect: rules `name ::= alternatives`; alternatives separated by |; sequences of "literals",
 * [classes] ([^...] negated, a-z ranges), . (any character), rule names and ( groups ); postfix
 * * + ? {m} {m,} {m,n}; comments from # to the end of the line. Escapes in literals and classes:
 * \n \r \t \\ \" \' \[ \] \- \/ \xHH \uHHHH \UHHHHHHHH. Whitespace and newlines may appear anywhere
 * between items: a rule ends where the next `name ::=` begins. Rule names: letters, digits, - and
 * _.
 *
 * Every error names line:column of the offending byte. Left recursion (a rule that can reach
 * itself without consuming a character) is refused: the matcher expands rules eagerly.
 */
#include "grammar/grammar.h"

#include "base/base.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GBNF_MAX_REPEAT 1000 /* the largest m or n in {m,n} */
#define GBNF_MAX_DEPTH  200  /* nesting of ( ) groups */

typedef struct gvec {
    gelem *v;
    int32_t n, cap;
} gvec;

typedef struct grule {
    char *name;        /* owned */
    gvec body;         /* alternatives, ended by G_END once defined */
    bool defined;      /* a `name ::=` was seen */
    const char *first; /* where it was first referenced (for "undefined rule" errors) */
} grule;

typedef struct gparser {
    const char *src;
    const char *p;
    grule *rules;
    int32_t n_rules, cap_rules;
    int32_t n_generated;
    kw_status err;
    int depth;
} gparser;

static kw_status perr(gparser *ps, const char *at, const char *fmt, const char *arg) {
    if (ps->err != KW_OK) return ps->err;
    int line = 1, col = 1;
    for (const char *q = ps->src; q < at && *q; q++) {
        if (*q == '\n') {
            line++;
            col = 1;
        } else if (((unsigned char)*q & 0xC0) != 0x80) {
            col++;
        }
    }
    char msg[256];
    snprintf(msg, sizeof msg, fmt, arg ? arg : "");
    ps->err = kw_error(KW_ERR_INVALID_ARG, "grammar: line %d, column %d: %s", line, col, msg);
    return ps->err;
}

static bool vpush(gparser *ps, gvec *v, uint32_t type, uint32_t value) {
    if (v->n == v->cap) {
        int32_t cap = v->cap ? 2 * v->cap : 16;
        gelem *nv = realloc(v->v, (size_t)cap * sizeof *nv);
        if (!nv) {
            ps->err = kw_error(KW_ERR_NOMEM, "grammar: out of memory");
            return false;
        }
        v->v = nv;
        v->cap = cap;
    }
    v->v[v->n++] = (gelem){type, value};
    return true;
}

static int32_t rule_find(gparser *ps, const char *name, size_t len) {
    for (int32_t i = 0; i < ps->n_rules; i++)
        if (strlen(ps->rules[i].name) == len && memcmp(ps->rules[i].name, name, len) == 0) return i;
    return -1;
}

static int32_t rule_add(gparser *ps, const char *name, size_t len) {
    if (ps->n_rules == ps->cap_rules) {
        int32_t cap = ps->cap_rules ? 2 * ps->cap_rules : 16;
        grule *nr = realloc(ps->rules, (size_t)cap * sizeof *nr);
        if (!nr) {
            ps->err = kw_error(KW_ERR_NOMEM, "grammar: out of memory");
            return -1;
        }
        ps->rules = nr;
        ps->cap_rules = cap;
    }
    grule *r = &ps->rules[ps->n_rules];
    memset(r, 0, sizeof *r);
    r->name = kw_malloc(len + 1, "grammar rule name");
    if (!r->name) {
        ps->err = KW_ERR_NOMEM;
        return -1;
    }
    memcpy(r->name, name, len);
    r->name[len] = 0;
    return ps->n_rules++;
}

static int32_t rule_generated(gparser *ps) {
    char name[32];
    int n = snprintf(name, sizeof name, " gen%d", ps->n_generated++);
    int32_t r = rule_add(ps, name, (size_t)n);
    if (r >= 0) ps->rules[r].defined = true;
    return r;
}

static bool is_name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

static void skip_space(gparser *ps) {
    for (;;) {
        char c = *ps->p;
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            ps->p++;
        } else if (c == '#') {
            while (*ps->p && *ps->p != '\n')
                ps->p++;
        } else {
            return;
        }
    }
}

/* Whether a rule definition `name ::=` starts at p. */
static bool at_definition(const char *p) {
    if (!is_name_char(*p)) return false;
    while (is_name_char(*p))
        p++;
    while (*p == ' ' || *p == '\t')
        p++;
    return p[0] == ':' && p[1] == ':' && p[2] == '=';
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Decodes one UTF-8 character at ps->p (advancing); invalid bytes are an error. */
static bool read_utf8(gparser *ps, uint32_t *cp) {
    const unsigned char *s = (const unsigned char *)ps->p;
    uint32_t c = s[0];
    int n = c < 0x80             ? 0
            : (c & 0xE0) == 0xC0 ? 1
            : (c & 0xF0) == 0xE0 ? 2
            : (c & 0xF8) == 0xF0 ? 3
                                 : -1;
    if (n < 0) {
        perr(ps, ps->p, "invalid UTF-8 byte in the grammar", NULL);
        return false;
    }
    c = n == 0 ? c : n == 1 ? (c & 0x1F) : n == 2 ? (c & 0x0F) : (c & 0x07);
    for (int i = 1; i <= n; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            perr(ps, ps->p, "invalid UTF-8 sequence in the grammar", NULL);
            return false;
        }
        c = (c << 6) | (s[i] & 0x3F);
    }
    ps->p += n + 1;
    *cp = c;
    return true;
}

/* One character of a literal or class, escapes decoded. */
static bool read_char(gparser *ps, uint32_t *cp) {
    if (*ps->p != '\\') return read_utf8(ps, cp);
    const char *at = ps->p;
    char e = ps->p[1];
    ps->p += 2;
    switch (e) {
    case 'n': *cp = '\n'; return true;
    case 'r': *cp = '\r'; return true;
    case 't': *cp = '\t'; return true;
    case '\\':
    case '"':
    case '\'':
    case '[':
    case ']':
    case '-':
    case '/':
    case '^': *cp = (uint32_t)(unsigned char)e; return true;
    case 'x':
    case 'u':
    case 'U': {
        int n = e == 'x' ? 2 : e == 'u' ? 4 : 8;
        uint32_t v = 0;
        for (int i = 0; i < n; i++) {
            int h = hexval(ps->p[i]);
            if (h < 0) {
                perr(ps, at, "bad escape: \\%s needs hex digits",
                     e == 'x'   ? "x two"
                     : e == 'u' ? "u four"
                                : "U eight");
                return false;
            }
            v = v * 16 + (uint32_t)h;
        }
        ps->p += n;
        if (v > 0x10FFFF) {
            perr(ps, at, "bad escape: code point above U+10FFFF", NULL);
            return false;
        }
        *cp = v;
        return true;
    }
    case 0: perr(ps, at, "bad escape: the text ends after a backslash", NULL); return false;
    default: {
        char s[2] = {e, 0};
        perr(ps, at, "bad escape '\\%s'", s);
        return false;
    }
    }
}

static bool parse_alternates(gparser *ps, gvec *out);

/* Appends item [start, v->n) repeated per {min,max} (max -1 = unbounded). */
static bool repeat_item(gparser *ps, gvec *v, int32_t start, int min, int max) {
    int32_t len = v->n - start;
    gelem item[64];
    gelem *it = item;
    bool heap = false;
    if (len > 64) {
        it = kw_malloc((size_t)len * sizeof *it, "grammar repetition");
        if (!it) return ps->err = KW_ERR_NOMEM, false;
        heap = true;
    }
    memcpy(it, v->v + start, (size_t)len * sizeof *it);
    v->n = start;
    bool ok = true;
    for (int i = 0; i < min && ok; i++)
        for (int32_t j = 0; j < len && ok; j++)
            ok = vpush(ps, v, it[j].type, it[j].value);
    if (ok && max != min) {
        /* unbounded: R ::= item R | ; bounded: R_k ::= item R_{k-1} | , R_1 ::= item | */
        int32_t prev = -1;
        int levels = max < 0 ? 1 : max - min;
        for (int k = 0; k < levels && ok; k++) {
            int32_t r = rule_generated(ps);
            if (r < 0) {
                ok = false;
                break;
            }
            gvec *b = &ps->rules[r].body;
            for (int32_t j = 0; j < len && ok; j++)
                ok = vpush(ps, b, it[j].type, it[j].value);
            if (ok && max < 0) ok = vpush(ps, b, G_RULE, (uint32_t)r);
            if (ok && prev >= 0) ok = vpush(ps, b, G_RULE, (uint32_t)prev);
            if (ok) ok = vpush(ps, b, G_ALT, 0) && vpush(ps, b, G_END, 0);
            prev = r;
        }
        if (ok) ok = vpush(ps, v, G_RULE, (uint32_t)prev);
    }
    if (heap) free(it);
    return ok;
}

static bool parse_int(gparser *ps, int *out) {
    if (*ps->p < '0' || *ps->p > '9') {
        perr(ps, ps->p, "expected a number in { }", NULL);
        return false;
    }
    long v = 0;
    while (*ps->p >= '0' && *ps->p <= '9') {
        v = v * 10 + (*ps->p - '0');
        if (v > GBNF_MAX_REPEAT) {
            perr(ps, ps->p, "repetition count above 1000", NULL);
            return false;
        }
        ps->p++;
    }
    *out = (int)v;
    return true;
}

static bool parse_sequence(gparser *ps, gvec *v) {
    int32_t last = -1; /* start of the last item, for postfix operators */
    for (;;) {
        skip_space(ps);
        const char *at = ps->p;
        char c = *ps->p;
        if (c == '"') {
            ps->p++;
            last = v->n;
            while (*ps->p != '"') {
                if (!*ps->p) return perr(ps, at, "unterminated string literal", NULL), false;
                uint32_t cp;
                if (!read_char(ps, &cp) || !vpush(ps, v, G_CHAR, cp)) return false;
            }
            ps->p++;
            if (v->n == last) last = -1; /* "" matches nothing: no item to repeat */
        } else if (c == '[') {
            ps->p++;
            last = v->n;
            uint32_t first = G_CHAR;
            if (*ps->p == '^') {
                first = G_CHAR_NOT;
                ps->p++;
            }
            bool any = false;
            while (*ps->p != ']') {
                if (!*ps->p) return perr(ps, at, "unterminated character class", NULL), false;
                uint32_t lo, hi;
                if (!read_char(ps, &lo) || !vpush(ps, v, any ? G_CHAR_ALT : first, lo))
                    return false;
                any = true;
                if (ps->p[0] == '-' && ps->p[1] != ']' && ps->p[1]) {
                    ps->p++;
                    const char *rat = ps->p;
                    if (!read_char(ps, &hi)) return false;
                    if (hi < lo)
                        return perr(ps, rat,
                                    "character range with its upper end below its lower end", NULL),
                               false;
                    if (!vpush(ps, v, G_CHAR_RNG_UPPER, hi)) return false;
                }
            }
            if (!any) return perr(ps, at, "empty character class []", NULL), false;
            ps->p++;
        } else if (c == '.') {
            ps->p++;
            last = v->n;
            if (!vpush(ps, v, G_CHAR_ANY, 0)) return false;
        } else if (c == '(') {
            if (++ps->depth > GBNF_MAX_DEPTH)
                return perr(ps, at, "groups nested too deep", NULL), false;
            ps->p++;
            int32_t r = rule_generated(ps);
            if (r < 0) return false;
            gvec body = {0};
            bool ok = parse_alternates(ps, &body);
            ps->rules[r].body = body; /* the rule array may have moved: assign after parsing */
            if (!ok) return false;
            skip_space(ps);
            if (*ps->p != ')')
                return perr(ps, at, "unbalanced parentheses: this ( is not closed", NULL), false;
            ps->p++;
            ps->depth--;
            last = v->n;
            if (!vpush(ps, v, G_RULE, (uint32_t)r)) return false;
        } else if (is_name_char(c)) {
            if (at_definition(ps->p)) return true; /* the next rule starts */
            const char *name = ps->p;
            while (is_name_char(*ps->p))
                ps->p++;
            int32_t r = rule_find(ps, name, (size_t)(ps->p - name));
            if (r < 0) {
                r = rule_add(ps, name, (size_t)(ps->p - name));
                if (r < 0) return false;
                ps->rules[r].first = name;
            }
            last = v->n;
            if (!vpush(ps, v, G_RULE, (uint32_t)r)) return false;
        } else if (c == '*' || c == '+' || c == '?' || c == '{') {
            if (last < 0)
                return perr(ps, at, "'%s' with nothing before it to repeat",
                            c == '{'   ? "{"
                            : c == '*' ? "*"
                            : c == '+' ? "+"
                                       : "?"),
                       false;
            int min = 0, max = -1;
            ps->p++;
            if (c == '+') min = 1;
            if (c == '?') max = 1;
            if (c == '{') {
                skip_space(ps);
                if (!parse_int(ps, &min)) return false;
                skip_space(ps);
                max = min;
                if (*ps->p == ',') {
                    ps->p++;
                    skip_space(ps);
                    max = -1;
                    if (*ps->p != '}' && !parse_int(ps, &max)) return false;
                    skip_space(ps);
                }
                if (*ps->p != '}')
                    return perr(ps, ps->p, "expected '}' after the repetition count", NULL), false;
                ps->p++;
                if (max >= 0 && max < min)
                    return perr(ps, at, "repetition {m,n} with n < m", NULL), false;
            }
            if (!repeat_item(ps, v, last, min, max)) return false;
            last = -1;
        } else {
            return true; /* | ) end of text, or something the caller reports */
        }
    }
}

static bool parse_alternates(gparser *ps, gvec *out) {
    for (;;) {
        if (!parse_sequence(ps, out)) return false;
        skip_space(ps);
        if (*ps->p != '|') break;
        ps->p++;
        if (!vpush(ps, out, G_ALT, 0)) return false;
    }
    return vpush(ps, out, G_END, 0);
}

/* ------------------------------------------------------------------------------------------------
 * Checks: nullable rules and left recursion
 * ---------------------------------------------------------------------------------------------- */

static bool alt_nullable(const gparser *ps, const gelem *e, const bool *nullable) {
    for (; !gelem_is_end(e->type); e++) {
        if (e->type == G_RULE) {
            if (!nullable[e->value]) return false;
        } else if (gelem_is_char(e->type)) {
            return false;
        }
    }
    return true;
}

/* Depth-first search over "can start with" edges; color: 0 new, 1 on the path, 2 done. */
static int32_t left_cycle(const gparser *ps, int32_t r, const bool *nullable, uint8_t *color) {
    color[r] = 1;
    const gelem *e = ps->rules[r].body.v;
    const gelem *end = e + ps->rules[r].body.n;
    while (e < end) {
        /* one alternative: walk while the prefix is nullable */
        bool blocked = false;
        for (; e < end && !gelem_is_end(e->type); e++) {
            if (blocked) continue;
            if (e->type == G_RULE) {
                int32_t t = (int32_t)e->value;
                if (color[t] == 1) return t;
                if (color[t] == 0) {
                    int32_t c = left_cycle(ps, t, nullable, color);
                    if (c >= 0) return c;
                }
                if (!nullable[t]) blocked = true;
            } else if (gelem_is_char(e->type)) {
                blocked = true;
            }
        }
        e++; /* past G_ALT / G_END */
    }
    color[r] = 2;
    return -1;
}

/* ------------------------------------------------------------------------------------------------
 * Entry
 * ---------------------------------------------------------------------------------------------- */

static void parser_free(gparser *ps) {
    for (int32_t i = 0; i < ps->n_rules; i++) {
        free(ps->rules[i].name);
        free(ps->rules[i].body.v);
    }
    free(ps->rules);
}

void gbnf_free(gbnf *g) {
    if (!g) return;
    free(g->elems);
    free(g->rule_start);
    memset(g, 0, sizeof *g);
}

kw_status gbnf_parse(const char *text, const char *root, gbnf *out) {
    if (!text || !out) return kw_error(KW_ERR_INVALID_ARG, "grammar: text or out is NULL");
    memset(out, 0, sizeof *out);
    if (!root) root = "root";
    gparser ps = {.src = text, .p = text};
    for (;;) {
        skip_space(&ps);
        if (!*ps.p) break;
        const char *at = ps.p;
        if (!is_name_char(*ps.p)) {
            perr(&ps, at, "expected a rule name", NULL);
            break;
        }
        const char *name = ps.p;
        while (is_name_char(*ps.p))
            ps.p++;
        size_t len = (size_t)(ps.p - name);
        while (*ps.p == ' ' || *ps.p == '\t')
            ps.p++;
        if (!(ps.p[0] == ':' && ps.p[1] == ':' && ps.p[2] == '=')) {
            perr(&ps, ps.p, "expected '::=' after the rule name", NULL);
            break;
        }
        ps.p += 3;
        int32_t r = rule_find(&ps, name, len);
        if (r >= 0 && ps.rules[r].defined) {
            char n[64];
            snprintf(n, sizeof n, "%.*s", (int)(len < 60 ? len : 60), name);
            perr(&ps, at, "rule '%s' is defined twice", n);
            break;
        }
        if (r < 0) r = rule_add(&ps, name, len);
        if (r < 0) break;
        ps.rules[r].defined = true;
        gvec body = {0};
        bool ok = parse_alternates(&ps, &body);
        ps.rules[r].body = body;
        if (!ok) break;
        skip_space(&ps);
        if (*ps.p && !at_definition(ps.p)) {
            if (*ps.p == ')')
                perr(&ps, ps.p, "unbalanced parentheses: ')' without '('", NULL);
            else
                perr(&ps, ps.p, "unexpected character", NULL);
            break;
        }
    }
    if (ps.err == KW_OK && ps.n_rules == 0) perr(&ps, ps.p, "empty grammar: no rules", NULL);
    for (int32_t i = 0; ps.err == KW_OK && i < ps.n_rules; i++)
        if (!ps.rules[i].defined)
            perr(&ps, ps.rules[i].first, "undefined rule '%s'", ps.rules[i].name);
    int32_t root_i = ps.err == KW_OK ? rule_find(&ps, root, strlen(root)) : -1;
    if (ps.err == KW_OK && root_i < 0) {
        char msg[200];
        snprintf(msg, sizeof msg, "no start rule '%.60s' (define `%.60s ::= ...`)", root, root);
        ps.err = kw_error(KW_ERR_INVALID_ARG, "grammar: %s", msg);
    }
    if (ps.err == KW_OK) {
        /* nullable: fixed point */
        bool *nullable = kw_calloc((size_t)ps.n_rules, sizeof *nullable, "grammar nullable");
        uint8_t *color = kw_calloc((size_t)ps.n_rules, 1, "grammar colors");
        if (!nullable || !color) {
            ps.err = KW_ERR_NOMEM;
        } else {
            for (bool changed = true; changed;) {
                changed = false;
                for (int32_t r = 0; r < ps.n_rules; r++) {
                    if (nullable[r]) continue;
                    const gelem *e = ps.rules[r].body.v, *end = e + ps.rules[r].body.n;
                    while (e < end) {
                        if (alt_nullable(&ps, e, nullable)) {
                            nullable[r] = changed = true;
                            break;
                        }
                        while (!gelem_is_end(e->type))
                            e++;
                        e++;
                    }
                }
            }
            for (int32_t r = 0; ps.err == KW_OK && r < ps.n_rules; r++) {
                if (color[r]) continue;
                int32_t c = left_cycle(&ps, r, nullable, color);
                if (c >= 0) {
                    const char *n = ps.rules[c].name;
                    ps.err =
                        kw_error(KW_ERR_INVALID_ARG,
                                 "grammar: left recursion through rule '%s' (a rule reaches "
                                 "itself without matching a character; rewrite it with * or +)",
                                 n[0] == ' ' ? "(a group or repetition)" : n);
                }
            }
        }
        free(nullable);
        free(color);
    }
    if (ps.err == KW_OK) {
        int32_t total = 0;
        for (int32_t i = 0; i < ps.n_rules; i++)
            total += ps.rules[i].body.n;
        out->elems = kw_malloc((size_t)total * sizeof *out->elems, "grammar elements");
        out->rule_start = kw_malloc((size_t)ps.n_rules * sizeof *out->rule_start, "grammar rules");
        if (!out->elems || !out->rule_start) {
            gbnf_free(out);
            ps.err = KW_ERR_NOMEM;
        } else {
            int32_t k = 0;
            for (int32_t i = 0; i < ps.n_rules; i++) {
                out->rule_start[i] = k;
                memcpy(out->elems + k, ps.rules[i].body.v,
                       (size_t)ps.rules[i].body.n * sizeof(gelem));
                k += ps.rules[i].body.n;
            }
            out->n_elems = total;
            out->n_rules = ps.n_rules;
            out->root = root_i;
        }
    }
    kw_status st = ps.err;
    parser_free(&ps);
    return st;
}
