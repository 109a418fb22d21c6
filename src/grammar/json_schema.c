/* json_schema.c - JSON Schema (a stated subset) to GBNF text in llama.cpp's dialect.
 *
 * Every schema node becomes one rule; a "$ref" target gets its rule once, so recursive schemas
 * become recursive rules. Keywords outside the subset are refused with their JSON pointer
 * (docs/structured-output.md lists the subset, the regex subset and the whitespace rule). The
 * language of the grammar is a subset of the schema's: where a keyword allows more than can be
 * expressed safely (additional properties beside declared ones, unbounded numbers), the grammar
 * generates the safe part only, so every string it accepts is valid.
 */
#include "grammar/json_schema.h"

#include "base/base.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 64
/* Integers and numbers the grammar generates have |x| <= NUM_LIMIT (exact in a double). */
#define NUM_LIMIT 999999999999999LL

/* ---------------------------------------------------------------- string builder */

typedef struct sb {
    char *p;
    size_t n, cap;
    bool oom;
} sb;

static void sb_putn(sb *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}
static void sb_puts(sb *b, const char *s) { sb_putn(b, s, strlen(s)); }
static void sb_printf(sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sb *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char tmp[256];
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->oom = true;
        return;
    }
    if ((size_t)n < sizeof tmp) {
        sb_putn(b, tmp, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        b->oom = true;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sb_putn(b, big, (size_t)n);
    free(big);
}

/* A GBNF string literal whose text is the bytes s[0..n). */
static void gbnf_literal(sb *b, const char *s, size_t n) {
    sb_puts(b, "\"");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"')
            sb_puts(b, "\\\"");
        else if (c == '\\')
            sb_puts(b, "\\\\");
        else if (c == '\n')
            sb_puts(b, "\\n");
        else if (c == '\t')
            sb_puts(b, "\\t");
        else if (c == '\r')
            sb_puts(b, "\\r");
        else if (c < 0x20 || c == 0x7f)
            sb_printf(b, "\\x%02X", c);
        else
            sb_putn(b, (const char *)&c, 1);
    }
    sb_puts(b, "\"");
}

/* ---------------------------------------------------------------- JSON pointers */

/* child pointer: ptr + "/" + escaped token (malloc'd; NULL on OOM). */
static char *ptr_child(const char *ptr, const char *tok) {
    sb b = {0};
    sb_puts(&b, ptr);
    sb_puts(&b, "/");
    for (const char *t = tok; *t; t++) {
        if (*t == '~')
            sb_puts(&b, "~0");
        else if (*t == '/')
            sb_puts(&b, "~1");
        else
            sb_putn(&b, t, 1);
    }
    if (b.oom || !b.p) {
        free(b.p);
        return NULL;
    }
    return b.p;
}
static char *ptr_index(const char *ptr, size_t i) {
    char tmp[32];
    snprintf(tmp, sizeof tmp, "%zu", i);
    return ptr_child(ptr, tmp);
}
static const char *ptr_show(const char *ptr) { return *ptr ? ptr : "/"; }

/* Resolves a local "$ref" ("#" or "#/a/b") in root; NULL when it does not resolve. */
static json_t *ref_resolve(json_t *root, const char *ref) {
    if (ref[0] != '#') return NULL;
    json_t *cur = root;
    const char *p = ref + 1;
    if (*p == 0) return root;
    if (*p != '/') return NULL;
    while (*p == '/') {
        p++;
        const char *end = strchr(p, '/');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        char *tok = malloc(n + 1);
        if (!tok) return NULL;
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            if (p[i] == '~' && i + 1 < n && (p[i + 1] == '0' || p[i + 1] == '1')) {
                tok[k++] = p[i + 1] == '0' ? '~' : '/';
                i++;
            } else if (p[i] == '%') {
                free(tok); /* percent-encoded pointers are not supported */
                return NULL;
            } else {
                tok[k++] = p[i];
            }
        }
        tok[k] = 0;
        if (json_is_object(cur)) {
            cur = json_object_get(cur, tok);
        } else if (json_is_array(cur)) {
            char *e = NULL;
            unsigned long idx = strtoul(tok, &e, 10);
            cur = (k > 0 && e && *e == 0) ? json_array_get(cur, idx) : NULL;
        } else {
            cur = NULL;
        }
        free(tok);
        if (!cur) return NULL;
        p += n;
    }
    return cur;
}

/* ---------------------------------------------------------------- keywords */

static const char *const ANNOTATIONS[] = {"title",    "description", "$schema",  "$id",
                                          "examples", "default",     "$comment", NULL};
static const char *const KEYWORDS[] = {"type",
                                       "properties",
                                       "required",
                                       "additionalProperties",
                                       "enum",
                                       "const",
                                       "items",
                                       "prefixItems",
                                       "minItems",
                                       "maxItems",
                                       "anyOf",
                                       "oneOf",
                                       "allOf",
                                       "$ref",
                                       "$defs",
                                       "definitions",
                                       "minLength",
                                       "maxLength",
                                       "pattern",
                                       "format",
                                       "minimum",
                                       "maximum",
                                       "exclusiveMinimum",
                                       "exclusiveMaximum",
                                       NULL};

static bool in_list(const char *const *list, const char *k) {
    for (int i = 0; list[i]; i++)
        if (strcmp(list[i], k) == 0) return true;
    return false;
}

/* Refuses a keyword outside the subset, naming it and where it is. */
static kw_status check_keywords(json_t *s, const char *ptr) {
    const char *k;
    json_t *v;
    json_object_foreach(s, k, v) {
        if (!in_list(KEYWORDS, k) && !in_list(ANNOTATIONS, k))
            return kw_error(KW_ERR_UNSUPPORTED, "unsupported keyword '%s' at %s", k, ptr_show(ptr));
    }
    return KW_OK;
}

/* ---------------------------------------------------------------- the converter */

typedef struct rule {
    char name[24];
    sb body;
    json_t *ref_target; /* the schema a $ref rule stands for (NULL for others) */
} rule;

typedef struct conv {
    json_t *root;
    rule *rules;
    size_t n_rules, cap_rules;
    bool oom;
} conv;

static kw_status gen_schema(conv *c, json_t *s, const char *ptr, int depth, sb *out);

/* A new rule; returns its index or -1 on OOM. */
static long rule_new(conv *c, json_t *ref_target) {
    if (c->n_rules == c->cap_rules) {
        size_t cap = c->cap_rules ? c->cap_rules * 2 : 16;
        rule *r = realloc(c->rules, cap * sizeof *r);
        if (!r) return -1;
        c->rules = r;
        c->cap_rules = cap;
    }
    rule *r = &c->rules[c->n_rules];
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "s%zu", c->n_rules);
    r->ref_target = ref_target;
    return (long)c->n_rules++;
}

/* Emits a rule for the schema s and appends its name to out. */
static kw_status gen_rule(conv *c, json_t *s, const char *ptr, int depth, sb *out) {
    long i = rule_new(c, NULL);
    if (i < 0) return kw_error(KW_ERR_NOMEM, "json schema: out of memory");
    sb body = {0};
    kw_status st = gen_schema(c, s, ptr, depth, &body);
    if (st != KW_OK) {
        free(body.p);
        return st;
    }
    c->rules[i].body = body;
    sb_puts(out, c->rules[i].name);
    return KW_OK;
}

/* ---- numbers */

static int ndigits(long long v) {
    int d = 1;
    while (v >= 10) {
        v /= 10;
        d++;
    }
    return d;
}

/* Fixed-width decimal strings from a to b (w digits each, a <= b digit-wise). */
static void digit_range(sb *o, const char *a, const char *b, int w) {
    if (w == 0) return;
    bool lo0 = true, hi9 = true;
    for (int i = 0; i < w; i++) {
        lo0 &= a[i] == '0';
        hi9 &= b[i] == '9';
    }
    if (lo0 && hi9) {
        if (w == 1)
            sb_puts(o, "[0-9]");
        else
            sb_printf(o, "[0-9]{%d}", w);
        return;
    }
    if (w == 1) {
        if (a[0] == b[0])
            sb_printf(o, "\"%c\"", a[0]);
        else
            sb_printf(o, "[%c-%c]", a[0], b[0]);
        return;
    }
    if (a[0] == b[0]) {
        sb_printf(o, "\"%c\" (", a[0]);
        digit_range(o, a + 1, b + 1, w - 1);
        sb_puts(o, ")");
        return;
    }
    char nines[20], zeros[20];
    memset(nines, '9', sizeof nines);
    memset(zeros, '0', sizeof zeros);
    sb_printf(o, "(\"%c\" (", a[0]);
    digit_range(o, a + 1, nines, w - 1);
    sb_puts(o, ")");
    if (a[0] + 1 <= b[0] - 1) {
        sb_printf(o, " | [%c-%c] ", a[0] + 1, b[0] - 1);
        digit_range(o, zeros, nines, w - 1);
    }
    sb_printf(o, " | \"%c\" (", b[0]);
    digit_range(o, zeros, b + 1, w - 1);
    sb_puts(o, "))");
}

/* v (>= 0, at most 18 digits) as exactly w digits, zero-padded, into out (>= 20 bytes). */
static void fixed_width(char *out, long long v, int w) {
    out[w] = 0;
    for (int i = w - 1; i >= 0; i--) {
        out[i] = (char)('0' + v % 10);
        v /= 10;
    }
}

/* Decimal integers (no sign, no leading zeros) in [a, b], 0 <= a <= b <= NUM_LIMIT. */
static void nonneg_range(sb *o, long long a, long long b) {
    sb_puts(o, "(");
    int da = ndigits(a), db = ndigits(b);
    long long p = 1;
    for (int i = 1; i < da; i++)
        p *= 10;
    for (int d = da; d <= db; d++, p *= 10) {
        long long lo = d == 1 ? 0 : p;
        long long hi = p * 10 - 1;
        if (lo < a) lo = a;
        if (hi > b) hi = b;
        char sa[24], sbuf[24];
        fixed_width(sa, lo, d);
        fixed_width(sbuf, hi, d);
        if (d > da) sb_puts(o, " | ");
        digit_range(o, sa, sbuf, d);
    }
    sb_puts(o, ")");
}

/* Reads a numeric bound keyword; *present false when absent. */
static kw_status bound_get(json_t *s, const char *key, const char *ptr, double *v, bool *present) {
    json_t *j = json_object_get(s, key);
    *present = false;
    if (!j) return KW_OK;
    if (!json_is_number(j))
        return kw_error(KW_ERR_UNSUPPORTED,
                        "'%s' at %s must be a number (the draft-4 boolean "
                        "form is not supported)",
                        key, ptr_show(ptr));
    *v = json_number_value(j);
    *present = true;
    return KW_OK;
}

typedef struct bounds {
    bool has_lo, has_hi, excl_lo, excl_hi;
    double lo, hi;
} bounds;

static kw_status bounds_get(json_t *s, const char *ptr, bounds *b) {
    memset(b, 0, sizeof *b);
    double v;
    bool p;
    kw_status st;
    if ((st = bound_get(s, "minimum", ptr, &v, &p)) != KW_OK) return st;
    if (p) {
        b->has_lo = true;
        b->lo = v;
    }
    if ((st = bound_get(s, "exclusiveMinimum", ptr, &v, &p)) != KW_OK) return st;
    if (p && (!b->has_lo || v >= b->lo)) {
        b->has_lo = true;
        b->lo = v;
        b->excl_lo = true;
    }
    if ((st = bound_get(s, "maximum", ptr, &v, &p)) != KW_OK) return st;
    if (p) {
        b->has_hi = true;
        b->hi = v;
    }
    if ((st = bound_get(s, "exclusiveMaximum", ptr, &v, &p)) != KW_OK) return st;
    if (p && (!b->has_hi || v <= b->hi)) {
        b->has_hi = true;
        b->hi = v;
        b->excl_hi = true;
    }
    return KW_OK;
}

static void gen_integer(sb *o, long long lo, long long hi) {
    bool first = true;
    sb_puts(o, "(");
    if (hi >= 0) {
        nonneg_range(o, lo > 0 ? lo : 0, hi);
        first = false;
    }
    if (lo < 0) {
        if (!first) sb_puts(o, " | ");
        sb_puts(o, "\"-\" ");
        nonneg_range(o, hi < 0 ? -hi : 1, -lo);
    }
    sb_puts(o, ")");
}

/* Non-negative decimals (no exponent) with values in [a, b], either end exclusive; false when
 * that set is empty. */
static bool gen_pos_number(sb *o, long long a, bool ea, long long b, bool eb) {
    const char *frac = "(\".\" [0-9]{1,15})?";
    const char *nzfrac = "\".\" [0-9]{0,14} [1-9]";
    int n = 0;
    sb_puts(o, "(");
    if (a < b) {
        if (ea) {
            sb_printf(o, "\"%lld\" %s", a, nzfrac);
            n++;
            if (a + 1 <= b - 1) {
                sb_puts(o, " | ");
                nonneg_range(o, a + 1, b - 1);
                sb_printf(o, " %s", frac);
            }
        } else {
            nonneg_range(o, a, b - 1);
            sb_printf(o, " %s", frac);
            n++;
        }
        if (!eb) {
            sb_printf(o, " | \"%lld\"", b);
        }
    } else if (a == b && !ea && !eb) {
        sb_printf(o, "\"%lld\"", b);
        n++;
    }
    sb_puts(o, ")");
    return n > 0;
}

static kw_status gen_number(sb *o, const bounds *bd, bool integer, const char *ptr) {
    long long lo = -NUM_LIMIT, hi = NUM_LIMIT;
    bool elo = false, ehi = false;
    if (integer) {
        if (bd->has_lo) {
            double v = bd->excl_lo ? floor(bd->lo) + 1 : ceil(bd->lo);
            if (v > lo) lo = v > (double)NUM_LIMIT ? NUM_LIMIT + 1 : (long long)v;
        }
        if (bd->has_hi) {
            double v = bd->excl_hi ? ceil(bd->hi) - 1 : floor(bd->hi);
            if (v < hi) hi = v < -(double)NUM_LIMIT ? -NUM_LIMIT - 1 : (long long)v;
        }
        if (lo > hi)
            return kw_error(KW_ERR_UNSUPPORTED,
                            "integer range at %s is empty (or outside |x| <= %lld)", ptr_show(ptr),
                            NUM_LIMIT);
        gen_integer(o, lo, hi);
        return KW_OK;
    }
    if (bd->has_lo) {
        if (bd->lo != floor(bd->lo) || fabs(bd->lo) > (double)NUM_LIMIT)
            return kw_error(KW_ERR_UNSUPPORTED,
                            "number bound %g at %s: only integer bounds (|x| <= %lld) are "
                            "supported for type number",
                            bd->lo, ptr_show(ptr), NUM_LIMIT);
        lo = (long long)bd->lo;
        elo = bd->excl_lo;
    }
    if (bd->has_hi) {
        if (bd->hi != floor(bd->hi) || fabs(bd->hi) > (double)NUM_LIMIT)
            return kw_error(KW_ERR_UNSUPPORTED,
                            "number bound %g at %s: only integer bounds (|x| <= %lld) are "
                            "supported for type number",
                            bd->hi, ptr_show(ptr), NUM_LIMIT);
        hi = (long long)bd->hi;
        ehi = bd->excl_hi;
    }
    if (!bd->has_lo && !bd->has_hi) {
        sb_puts(o, "number");
        return KW_OK;
    }
    sb t = {0};
    int n = 0;
    sb_puts(o, "(");
    if (hi > 0 || (hi == 0 && !ehi)) {
        long long a = lo > 0 ? lo : 0;
        bool ea = lo >= 0 ? elo : false;
        if (gen_pos_number(&t, a, ea, hi, ehi)) {
            sb_puts(o, t.p);
            n++;
        }
        t.n = 0;
    }
    if (lo < 0) {
        long long m1 = hi < 0 ? -hi : 0;
        bool e1 = hi < 0 ? ehi : true;
        if (t.p) t.p[0] = 0;
        t.n = 0;
        if (gen_pos_number(&t, m1, e1, -lo, elo)) {
            sb_puts(o, n ? " | \"-\" " : "\"-\" ");
            sb_puts(o, t.p);
            n++;
        }
    }
    sb_puts(o, ")");
    bool oom = t.oom;
    free(t.p);
    if (oom) return kw_error(KW_ERR_NOMEM, "json schema: out of memory");
    if (n == 0) return kw_error(KW_ERR_UNSUPPORTED, "number range at %s is empty", ptr_show(ptr));
    return KW_OK;
}

/* ---- strings: formats and the regex subset */

static const char *format_gbnf(const char *f) {
    /* the bodies between the quotes of a JSON string; dates keep to 28 days in February */
#define DATE                                                                                       \
    "[0-9]{4} \"-\" ((\"0\" [13578] | \"1\" [02]) \"-\" (\"0\" [1-9] | [12] [0-9] | \"3\" [01]) "  \
    "| (\"0\" [469] | \"11\") \"-\" (\"0\" [1-9] | [12] [0-9] | \"30\") | \"02\" \"-\" (\"0\" "    \
    "[1-9] | \"1\" [0-9] | \"2\" [0-8]))"
#define TIME                                                                                       \
    "([01] [0-9] | \"2\" [0-3]) \":\" [0-5] [0-9] \":\" [0-5] [0-9] (\".\" [0-9]{1,6})? (\"Z\" "   \
    "| [+-] ([01] [0-9] | \"2\" [0-3]) \":\" [0-5] [0-9])"
    if (strcmp(f, "date") == 0) return DATE;
    if (strcmp(f, "time") == 0) return TIME;
    if (strcmp(f, "date-time") == 0) return DATE " \"T\" " TIME;
    if (strcmp(f, "uuid") == 0)
        return "[0-9a-f]{8} \"-\" [0-9a-f]{4} \"-\" [0-9a-f]{4} \"-\" [0-9a-f]{4} \"-\" "
               "[0-9a-f]{12}";
    if (strcmp(f, "email") == 0)
        return "[a-zA-Z0-9_+-]{1,32} (\".\" [a-zA-Z0-9_+-]{1,32}){0,3} \"@\" [a-z0-9] "
               "([a-z0-9-]{0,20} [a-z0-9])? (\".\" [a-z0-9] ([a-z0-9-]{0,20} [a-z0-9])?){0,2} "
               "\".\" [a-z]{2,8}";
    return NULL;
#undef DATE
#undef TIME
}

typedef struct rx {
    const char *s; /* the pattern (UTF-8) */
    size_t i, n;
    const char *ptr;
    kw_status st;
} rx;

static kw_status rx_err(rx *r, const char *what) {
    if (r->st == KW_OK)
        r->st = kw_error(KW_ERR_UNSUPPORTED,
                         "pattern at %s: %s at offset %zu (supported: literals, [classes], ., "
                         "groups, |, * + ? {m,n}, \\d \\w \\s, ^ and $ at the ends)",
                         ptr_show(r->ptr), what, r->i);
    return r->st;
}

/* The JSON text of one string character as a GBNF literal. */
static void json_char_lit(sb *o, uint32_t cp) {
    char buf[8];
    if (cp == '"')
        sb_puts(o, "\"\\\\\\\"\"");
    else if (cp == '\\')
        sb_puts(o, "\"\\\\\\\\\"");
    else if (cp == '\n')
        sb_puts(o, "\"\\\\n\"");
    else if (cp == '\t')
        sb_puts(o, "\"\\\\t\"");
    else if (cp == '\r')
        sb_puts(o, "\"\\\\r\"");
    else if (cp < 0x20)
        sb_printf(o, "\"\\\\u%04X\"", cp);
    else {
        int n = kw_utf8_encode(cp, buf);
        gbnf_literal(o, buf, (size_t)n);
    }
}

static void class_char(sb *o, uint32_t cp) {
    char buf[8];
    if ((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9'))
        sb_printf(o, "%c", (char)cp);
    else if (cp < 0x80)
        sb_printf(o, "\\x%02X", cp);
    else if (cp < 0x10000)
        sb_printf(o, "\\u%04X", cp);
    else {
        int n = kw_utf8_encode(cp, buf);
        sb_putn(o, buf, (size_t)n);
    }
}

static bool rx_next_cp(rx *r, uint32_t *cp) {
    if (r->i >= r->n) return false;
    int len = kw_utf8_decode((const uint8_t *)r->s + r->i, r->n - r->i, cp);
    r->i += (size_t)len;
    return true;
}

typedef struct range {
    uint32_t lo, hi;
} range;

/* One class: ranges into rs (at most cap), returns count or -1 (error set). */
static int rx_class(rx *r, range *rs, int cap, bool *neg) {
    int n = 0;
    *neg = false;
    if (r->i < r->n && r->s[r->i] == '^') {
        *neg = true;
        r->i++;
    }
    bool first = true;
    for (;;) {
        if (r->i >= r->n) {
            rx_err(r, "unterminated [class]");
            return -1;
        }
        if (r->s[r->i] == ']' && !first) {
            r->i++;
            return n;
        }
        first = false;
        uint32_t lo;
        bool is_set = false;
        if (r->s[r->i] == '\\') {
            r->i++;
            if (r->i >= r->n) {
                rx_err(r, "trailing backslash");
                return -1;
            }
            char e = r->s[r->i++];
            const range *set = NULL;
            int set_n = 0;
            static const range D[] = {{'0', '9'}};
            static const range W[] = {{'a', 'z'}, {'A', 'Z'}, {'0', '9'}, {'_', '_'}};
            static const range S[] = {{' ', ' '}, {'\t', '\t'}, {'\n', '\n'}, {'\r', '\r'}};
            if (e == 'd') {
                set = D;
                set_n = 1;
            } else if (e == 'w') {
                set = W;
                set_n = 4;
            } else if (e == 's') {
                set = S;
                set_n = 4;
            } else if (e == 'n')
                lo = '\n';
            else if (e == 't')
                lo = '\t';
            else if (e == 'r')
                lo = '\r';
            else if ((e >= 'a' && e <= 'z') || (e >= 'A' && e <= 'Z') || (e >= '0' && e <= '9')) {
                r->i--;
                rx_err(r, "unsupported escape in [class]");
                return -1;
            } else
                lo = (uint8_t)e;
            if (set) {
                for (int k = 0; k < set_n; k++) {
                    if (n >= cap) {
                        rx_err(r, "[class] too large");
                        return -1;
                    }
                    rs[n++] = set[k];
                }
                is_set = true;
            }
        } else {
            rx_next_cp(r, &lo);
        }
        if (is_set) continue;
        uint32_t hi = lo;
        if (r->i + 1 < r->n && r->s[r->i] == '-' && r->s[r->i + 1] != ']') {
            r->i++;
            if (r->s[r->i] == '\\') {
                rx_err(r, "escape as a range end");
                return -1;
            }
            rx_next_cp(r, &hi);
            if (hi < lo) {
                rx_err(r, "range out of order");
                return -1;
            }
        }
        if (n >= cap) {
            rx_err(r, "[class] too large");
            return -1;
        }
        rs[n++] = (range){lo, hi};
    }
}

/* Emits a positive class (its characters in JSON-escaped form where needed). */
static bool emit_class(sb *o, const range *rs, int n, bool neg) {
    if (neg) {
        sb_puts(o, "[^\\x22\\x5C\\x00-\\x1F");
        for (int k = 0; k < n; k++) {
            class_char(o, rs[k].lo);
            if (rs[k].hi != rs[k].lo) {
                sb_puts(o, "-");
                class_char(o, rs[k].hi);
            }
        }
        sb_puts(o, "]");
        return true;
    }
    sb plain = {0};
    sb alts = {0};
    int n_plain = 0, n_alts = 0;
    bool esc_seen[128] = {0};
    for (int k = 0; k < n; k++) {
        uint32_t lo = rs[k].lo, hi = rs[k].hi;
        uint32_t c = lo;
        while (c <= hi) {
            if (c < 0x20 || c == '"' || c == '\\') {
                if ((c == '"' || c == '\\' || c == '\n' || c == '\t' || c == '\r') &&
                    !esc_seen[c]) {
                    esc_seen[c] = true;
                    if (n_alts++) sb_puts(&alts, " | ");
                    json_char_lit(&alts, c);
                }
                c++;
                continue;
            }
            uint32_t e = c;
            while (e < hi && !(e + 1 < 0x20 || e + 1 == '"' || e + 1 == '\\'))
                e++;
            class_char(&plain, c);
            if (e != c) {
                sb_puts(&plain, "-");
                class_char(&plain, e);
            }
            n_plain++;
            if (e == 0xFFFFFFFFu) break;
            c = e + 1;
        }
    }
    bool ok = n_plain + n_alts > 0 && !plain.oom && !alts.oom;
    if (ok) {
        sb_puts(o, "(");
        if (n_plain) {
            sb_puts(o, "[");
            sb_puts(o, plain.p);
            sb_puts(o, "]");
        }
        if (n_alts) {
            if (n_plain) sb_puts(o, " | ");
            sb_puts(o, alts.p);
        }
        sb_puts(o, ")");
    }
    free(plain.p);
    free(alts.p);
    return ok;
}

static void rx_alt(rx *r, sb *o, int depth);

static bool rx_quant(rx *r, sb *o) {
    if (r->i >= r->n) return true;
    char q = r->s[r->i];
    if (q == '*' || q == '+' || q == '?') {
        r->i++;
        sb_putn(o, &q, 1);
    } else if (q == '{') {
        size_t save = r->i;
        r->i++;
        char *e = NULL;
        unsigned long m = strtoul(r->s + r->i, &e, 10);
        if (e == r->s + r->i) {
            r->i = save;
            rx_err(r, "'{' that is not a {m,n} quantifier");
            return false;
        }
        r->i = (size_t)(e - r->s);
        unsigned long mx = m;
        bool open = false;
        if (r->i < r->n && r->s[r->i] == ',') {
            r->i++;
            if (r->i < r->n && r->s[r->i] == '}') {
                open = true;
            } else {
                mx = strtoul(r->s + r->i, &e, 10);
                if (e == r->s + r->i) {
                    rx_err(r, "bad {m,n} quantifier");
                    return false;
                }
                r->i = (size_t)(e - r->s);
            }
        }
        if (r->i >= r->n || r->s[r->i] != '}' || mx < m || mx > 1000) {
            rx_err(r, "bad {m,n} quantifier (at most 1000)");
            return false;
        }
        r->i++;
        if (open)
            sb_printf(o, "{%lu,}", m);
        else
            sb_printf(o, "{%lu,%lu}", m, mx);
    } else {
        return true;
    }
    if (r->i < r->n && r->s[r->i] == '?') /* lazy: the same language */
        r->i++;
    if (r->i < r->n && strchr("*+?{", r->s[r->i])) {
        rx_err(r, "a quantifier after a quantifier");
        return false;
    }
    return true;
}

static void rx_seq(rx *r, sb *o, int depth) {
    bool first = true;
    while (r->i < r->n && r->st == KW_OK) {
        char c = r->s[r->i];
        if (c == '|' || c == ')') return;
        if (!first) sb_puts(o, " ");
        first = false;
        if (c == '(') {
            r->i++;
            if (r->i + 1 < r->n && r->s[r->i] == '?') {
                if (r->s[r->i + 1] != ':') {
                    rx_err(r, "lookaround or named group");
                    return;
                }
                r->i += 2;
            }
            if (depth >= MAX_DEPTH) {
                rx_err(r, "groups nested too deeply");
                return;
            }
            sb_puts(o, "(");
            rx_alt(r, o, depth + 1);
            if (r->st != KW_OK) return;
            if (r->i >= r->n || r->s[r->i] != ')') {
                rx_err(r, "unbalanced '('");
                return;
            }
            r->i++;
            sb_puts(o, ")");
        } else if (c == '[') {
            r->i++;
            range rs[128];
            bool neg;
            int n = rx_class(r, rs, 128, &neg);
            if (n < 0) return;
            if (!emit_class(o, rs, n, neg)) {
                rx_err(r, "a [class] with no character a JSON string can hold unescaped");
                return;
            }
        } else if (c == '.') {
            r->i++;
            sb_puts(o, "[^\\x22\\x5C\\x00-\\x1F\\u2028\\u2029]");
        } else if (c == '\\') {
            r->i++;
            if (r->i >= r->n) {
                rx_err(r, "trailing backslash");
                return;
            }
            char e = r->s[r->i++];
            if (e == 'd')
                sb_puts(o, "[0-9]");
            else if (e == 'w')
                sb_puts(o, "[a-zA-Z0-9_]");
            else if (e == 's')
                sb_puts(o, "(\" \" | \"\\\\t\" | \"\\\\n\" | \"\\\\r\")");
            else if (e == 'n')
                json_char_lit(o, '\n');
            else if (e == 't')
                json_char_lit(o, '\t');
            else if (e == 'r')
                json_char_lit(o, '\r');
            else if ((e >= 'a' && e <= 'z') || (e >= 'A' && e <= 'Z') || (e >= '0' && e <= '9')) {
                r->i--;
                rx_err(r, "unsupported escape");
                return;
            } else
                json_char_lit(o, (uint8_t)e);
        } else if (c == '^' || c == '$') {
            rx_err(r, "an anchor not at the ends");
            return;
        } else if (c == '*' || c == '+' || c == '?' || c == '{' || c == '}' || c == ']') {
            rx_err(r, "a quantifier or bracket with nothing to apply to");
            return;
        } else {
            uint32_t cp;
            rx_next_cp(r, &cp);
            json_char_lit(o, cp);
        }
        if (!rx_quant(r, o)) return;
    }
}

static void rx_alt(rx *r, sb *o, int depth) {
    sb_puts(o, "(");
    rx_seq(r, o, depth);
    while (r->st == KW_OK && r->i < r->n && r->s[r->i] == '|') {
        r->i++;
        sb_puts(o, " | ");
        rx_seq(r, o, depth);
    }
    sb_puts(o, ")");
}

static kw_status gen_pattern(sb *o, const char *pat, const char *ptr) {
    size_t n = strlen(pat);
    rx r = {.s = pat, .i = 0, .n = n, .ptr = ptr, .st = KW_OK};
    bool start = n > 0 && pat[0] == '^';
    size_t bs = 0; /* backslashes before a final '$': an odd count escapes it */
    while (n >= 2 + bs && pat[n - 2 - bs] == '\\')
        bs++;
    bool end = n > 0 && pat[n - 1] == '$' && bs % 2 == 0;
    if (start) r.i = 1;
    if (end) r.n = n - 1;
    if (r.n < r.i) r.n = r.i;
    sb_puts(o, "\"\\\"\" ");
    if (!start) sb_puts(o, "char* ");
    rx_alt(&r, o, 0);
    if (r.st != KW_OK) return r.st;
    if (r.i != r.n) return rx_err(&r, "unbalanced ')'");
    if (!end) sb_puts(o, " char*");
    sb_puts(o, " \"\\\"\"");
    return KW_OK;
}

/* ---- the schema walk */

static kw_status gen_any_of(conv *c, json_t *list, const char *ptr, const char *kw, int depth,
                            sb *out) {
    char *p = ptr_child(ptr, kw);
    if (!p) return kw_error(KW_ERR_NOMEM, "json schema: out of memory");
    kw_status st = KW_OK;
    if (!json_is_array(list) || json_array_size(list) == 0)
        st = kw_error(KW_ERR_FORMAT, "'%s' at %s must be a non-empty array", kw, ptr_show(ptr));
    sb_puts(out, "(");
    for (size_t i = 0; st == KW_OK && i < json_array_size(list); i++) {
        char *pi = ptr_index(p, i);
        if (!pi) {
            st = kw_error(KW_ERR_NOMEM, "json schema: out of memory");
            break;
        }
        if (i) sb_puts(out, " | ");
        st = gen_rule(c, json_array_get(list, i), pi, depth + 1, out);
        free(pi);
    }
    sb_puts(out, ")");
    free(p);
    return st;
}

/* "name": value pairs of an object schema; required ones first in declared order, then the
 * optional ones in declared order, each optional one present or not. */
static kw_status gen_object(conv *c, json_t *s, const char *ptr, int depth, sb *out) {
    json_t *props = json_object_get(s, "properties");
    json_t *req = json_object_get(s, "required");
    json_t *addl = json_object_get(s, "additionalProperties");
    if (props && !json_is_object(props))
        return kw_error(KW_ERR_FORMAT, "'properties' at %s must be an object", ptr_show(ptr));
    if (req && !json_is_array(req))
        return kw_error(KW_ERR_FORMAT, "'required' at %s must be an array", ptr_show(ptr));
    for (size_t i = 0; req && i < json_array_size(req); i++) {
        json_t *r = json_array_get(req, i);
        if (!json_is_string(r))
            return kw_error(KW_ERR_FORMAT, "'required' at %s holds a non-string", ptr_show(ptr));
        if (!props || !json_object_get(props, json_string_value(r))) {
            /* a required name without a schema: any value (when extra keys are allowed) */
            if (json_is_false(addl))
                return kw_error(KW_ERR_UNSUPPORTED,
                                "required property '%s' at %s is not in 'properties' and "
                                "additionalProperties is false",
                                json_string_value(r), ptr_show(ptr));
            return kw_error(KW_ERR_UNSUPPORTED,
                            "required property '%s' at %s has no schema in 'properties'",
                            json_string_value(r), ptr_show(ptr));
        }
    }
    size_t np = props ? json_object_size(props) : 0;
    if (np == 0) {
        if (json_is_false(addl)) {
            sb_puts(out, "\"{\" ws \"}\"");
            return KW_OK;
        }
        if (!addl || json_is_true(addl)) {
            sb_puts(out, "object");
            return KW_OK;
        }
        /* a map: every value matches the schema */
        char *pa = ptr_child(ptr, "additionalProperties");
        if (!pa) return kw_error(KW_ERR_NOMEM, "json schema: out of memory");
        sb v = {0};
        kw_status st = gen_rule(c, addl, pa, depth + 1, &v);
        free(pa);
        if (st == KW_OK && !v.oom)
            sb_printf(out,
                      "\"{\" ws (string ws \":\" ws %s (ws \",\" ws string ws \":\" ws %s)*)? "
                      "ws \"}\"",
                      v.p, v.p);
        free(v.p);
        return st;
    }
    if (addl && !json_is_boolean(addl)) {
        /* validate the schema (its keywords) even though only declared keys are generated */
        char *pa = ptr_child(ptr, "additionalProperties");
        if (!pa) return kw_error(KW_ERR_NOMEM, "json schema: out of memory");
        sb v = {0};
        kw_status st = gen_rule(c, addl, pa, depth + 1, &v);
        free(pa);
        free(v.p);
        if (st != KW_OK) return st;
    }
    /* each property's "key" ws ":" ws value, required first */
    char **kv = calloc(np, sizeof *kv);
    bool *is_req = calloc(np, sizeof *is_req);
    size_t *order = calloc(np, sizeof *order);
    char *pp = ptr_child(ptr, "properties");
    kw_status st = KW_OK;
    if (!kv || !is_req || !order || !pp) st = kw_error(KW_ERR_NOMEM, "json schema: out of memory");
    const char *k;
    json_t *v;
    size_t idx = 0;
    if (st == KW_OK) {
        json_object_foreach(props, k, v) {
            for (size_t i = 0; req && i < json_array_size(req); i++)
                if (strcmp(json_string_value(json_array_get(req, i)), k) == 0) is_req[idx] = true;
            char *pk = ptr_child(pp, k);
            if (!pk) {
                st = kw_error(KW_ERR_NOMEM, "json schema: out of memory");
                break;
            }
            sb b = {0};
            sb keytext = {0};
            json_t *ks = json_string(k);
            char *kj = ks ? json_dumps(ks, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
            json_decref(ks);
            if (!kj) {
                free(pk);
                st = kw_error(KW_ERR_NOMEM, "json schema: out of memory");
                break;
            }
            gbnf_literal(&b, kj, strlen(kj));
            free(kj);
            sb_puts(&b, " ws \":\" ws ");
            st = gen_rule(c, v, pk, depth + 1, &b);
            free(pk);
            free(keytext.p);
            if (st != KW_OK || b.oom) {
                free(b.p);
                if (st == KW_OK) st = kw_error(KW_ERR_NOMEM, "json schema: out of memory");
                break;
            }
            kv[idx++] = b.p;
        }
    }
    if (st == KW_OK) {
        size_t no = 0, nreq = 0;
        for (size_t i = 0; i < np; i++)
            if (is_req[i]) order[no++] = i;
        nreq = no;
        for (size_t i = 0; i < np; i++)
            if (!is_req[i]) order[no++] = i;
        sb_puts(out, "\"{\" ws ");
        for (size_t i = 0; i < nreq; i++) {
            if (i) sb_puts(out, " ws \",\" ws ");
            sb_puts(out, kv[order[i]]);
        }
        if (nreq < np) {
            if (nreq > 0) {
                for (size_t i = nreq; i < np; i++) {
                    sb_puts(out, " (ws \",\" ws ");
                    sb_puts(out, kv[order[i]]);
                    sb_puts(out, ")?");
                }
            } else {
                /* no required key: empty, or the first present optional key and any later ones */
                sb_puts(out, "(");
                for (size_t i = 0; i < np; i++) {
                    if (i) sb_puts(out, " | ");
                    sb_puts(out, kv[order[i]]);
                    for (size_t j = i + 1; j < np; j++) {
                        sb_puts(out, " (ws \",\" ws ");
                        sb_puts(out, kv[order[j]]);
                        sb_puts(out, ")?");
                    }
                }
                sb_puts(out, ")?");
            }
        }
        sb_puts(out, " ws \"}\"");
    }
    for (size_t i = 0; kv && i < np; i++)
        free(kv[i]);
    free(kv);
    free(is_req);
    free(order);
    free(pp);
    return st;
}

static kw_status gen_array(conv *c, json_t *s, const char *ptr, int depth, sb *out) {
    json_t *items = json_object_get(s, "items");
    json_t *prefix = json_object_get(s, "prefixItems");
    json_t *jmin = json_object_get(s, "minItems");
    json_t *jmax = json_object_get(s, "maxItems");
    if ((jmin && !json_is_integer(jmin)) || (jmax && !json_is_integer(jmax)))
        return kw_error(KW_ERR_FORMAT, "minItems/maxItems at %s must be integers", ptr_show(ptr));
    long long mn = jmin ? json_integer_value(jmin) : 0;
    long long mx = jmax ? json_integer_value(jmax) : -1;
    if (mn < 0 || (jmax && mx < 0) || mn > 1000 || mx > 1000)
        return kw_error(KW_ERR_UNSUPPORTED,
                        "minItems/maxItems at %s out of the supported range 0..1000",
                        ptr_show(ptr));
    if (jmax && mx < mn)
        return kw_error(KW_ERR_UNSUPPORTED, "maxItems %lld < minItems %lld at %s", mx, mn,
                        ptr_show(ptr));
    if (prefix && (!json_is_array(prefix)))
        return kw_error(KW_ERR_FORMAT, "'prefixItems' at %s must be an array", ptr_show(ptr));
    if (items && !json_is_object(items) && !json_is_boolean(items))
        return kw_error(KW_ERR_UNSUPPORTED,
                        "'items' at %s must be a schema (the array form is 'prefixItems')",
                        ptr_show(ptr));
    long long k = prefix ? (long long)json_array_size(prefix) : 0;
    bool items_false = json_is_false(items);
    if (items_false && mn > k)
        return kw_error(KW_ERR_UNSUPPORTED,
                        "minItems %lld at %s needs more than the %lld "
                        "prefixItems while items is false",
                        mn, ptr_show(ptr), k);
    if (jmax && k > mx) k = mx;
    kw_status st = KW_OK;
    /* rule names of the prefix schemas and the item schema */
    sb names = {0};
    char **pn = k > 0 ? calloc((size_t)k, sizeof *pn) : NULL;
    if (k > 0 && !pn) return kw_error(KW_ERR_NOMEM, "json schema: out of memory");
    char *ppre = ptr_child(ptr, "prefixItems");
    for (long long i = 0; st == KW_OK && i < k; i++) {
        char *pi = ppre ? ptr_index(ppre, (size_t)i) : NULL;
        sb r = {0};
        st = pi ? gen_rule(c, json_array_get(prefix, (size_t)i), pi, depth + 1, &r)
                : kw_error(KW_ERR_NOMEM, "json schema: out of memory");
        free(pi);
        pn[i] = r.p;
    }
    /* validate the prefix schemas beyond maxItems too */
    for (long long i = k; st == KW_OK && prefix && i < (long long)json_array_size(prefix); i++) {
        char *pi = ppre ? ptr_index(ppre, (size_t)i) : NULL;
        sb r = {0};
        st = pi ? gen_rule(c, json_array_get(prefix, (size_t)i), pi, depth + 1, &r)
                : kw_error(KW_ERR_NOMEM, "json schema: out of memory");
        free(pi);
        free(r.p);
    }
    free(ppre);
    sb item = {0};
    if (st == KW_OK) {
        if (!items || json_is_true(items))
            sb_puts(&item, "value");
        else if (!items_false) {
            char *pi = ptr_child(ptr, "items");
            st = pi ? gen_rule(c, items, pi, depth + 1, &item)
                    : kw_error(KW_ERR_NOMEM, "json schema: out of memory");
            free(pi);
        }
    }
    if (st == KW_OK) {
        /* the tail after all k prefix elements: items k+1.. */
        sb tail = {0};
        if (!items_false && (!jmax || mx > k)) {
            long long tmin = mn > k ? mn - k : 0;
            if (jmax)
                sb_printf(&tail, "(ws \",\" ws %s){%lld,%lld}", item.p, tmin, mx - k);
            else
                sb_printf(&tail, "(ws \",\" ws %s){%lld,}", item.p, tmin);
        }
        sb_puts(out, "\"[\" ws ");
        if (k == 0) {
            if (items_false || (jmax && mx == 0)) {
                /* empty array only */
            } else {
                /* first element, then the rest with the counts shifted by one */
                sb rest = {0};
                long long rmin = mn > 1 ? mn - 1 : 0;
                if (jmax)
                    sb_printf(&rest, "(ws \",\" ws %s){%lld,%lld}", item.p, rmin, mx - 1);
                else
                    sb_printf(&rest, "(ws \",\" ws %s){%lld,}", item.p, rmin);
                if (rest.p && rest.p[0] && strstr(rest.p, "{0,0}")) rest.p[0] = 0;
                sb_printf(&names, "(%s %s)%s", item.p, rest.p ? rest.p : "", mn >= 1 ? "" : "?");
                sb_puts(out, names.p ? names.p : "");
                free(rest.p);
            }
        } else {
            /* s_i = P_i ("," s_{i+1}) with the first mn elements mandatory, built from the end */
            sb acc = {0};
            if (tail.p && !strstr(tail.p, "{0,0}")) sb_puts(&acc, tail.p);
            for (long long i = k - 1; i >= 0; i--) {
                sb nx = {0};
                if (i == k - 1) {
                    sb_printf(&nx, "%s", pn[i]);
                    if (acc.p && acc.p[0]) sb_printf(&nx, " %s", acc.p);
                } else {
                    bool mand = i + 1 < mn; /* element i+2 (1-based) is required */
                    sb_printf(&nx, "%s (ws \",\" ws %s)%s", pn[i], acc.p, mand ? "" : "?");
                }
                free(acc.p);
                acc = nx;
            }
            sb_printf(out, "(%s)%s", acc.p ? acc.p : "", mn >= 1 ? "" : "?");
            free(acc.p);
        }
        sb_puts(out, " ws \"]\"");
        free(tail.p);
    }
    for (long long i = 0; pn && i < k; i++)
        free(pn[i]);
    free(pn);
    free(item.p);
    free(names.p);
    return st;
}

static kw_status gen_string(json_t *s, const char *ptr, sb *out) {
    json_t *jmin = json_object_get(s, "minLength");
    json_t *jmax = json_object_get(s, "maxLength");
    json_t *pat = json_object_get(s, "pattern");
    json_t *fmt = json_object_get(s, "format");
    if ((jmin && !json_is_integer(jmin)) || (jmax && !json_is_integer(jmax)))
        return kw_error(KW_ERR_FORMAT, "minLength/maxLength at %s must be integers", ptr_show(ptr));
    int n_kinds = (jmin || jmax) + (pat != NULL) + (fmt != NULL);
    if (n_kinds > 1)
        return kw_error(KW_ERR_UNSUPPORTED,
                        "at %s: only one of minLength/maxLength, pattern and format can be "
                        "enforced on one string",
                        ptr_show(ptr));
    if (fmt) {
        const char *g = json_is_string(fmt) ? format_gbnf(json_string_value(fmt)) : NULL;
        if (!g)
            return kw_error(KW_ERR_UNSUPPORTED,
                            "unsupported format '%s' at %s (supported: date, time, date-time, "
                            "uuid, email)",
                            json_is_string(fmt) ? json_string_value(fmt) : "?", ptr_show(ptr));
        sb_puts(out, "\"\\\"\" (");
        sb_puts(out, g);
        sb_puts(out, ") \"\\\"\"");
        return KW_OK;
    }
    if (pat) {
        if (!json_is_string(pat))
            return kw_error(KW_ERR_FORMAT, "'pattern' at %s must be a string", ptr_show(ptr));
        return gen_pattern(out, json_string_value(pat), ptr);
    }
    long long mn = jmin ? json_integer_value(jmin) : 0;
    long long mx = jmax ? json_integer_value(jmax) : -1;
    if (mn < 0 || (jmax && (mx < mn || mx > 10000)) || mn > 10000)
        return kw_error(KW_ERR_UNSUPPORTED,
                        "minLength %lld / maxLength %lld at %s: need 0 <= min <= max <= 10000", mn,
                        mx, ptr_show(ptr));
    if (!jmin && !jmax)
        sb_puts(out, "string");
    else if (jmax)
        sb_printf(out, "\"\\\"\" char{%lld,%lld} \"\\\"\"", mn, mx);
    else
        sb_printf(out, "\"\\\"\" char{%lld,} \"\\\"\"", mn);
    return KW_OK;
}

static bool has_any(json_t *s, const char *const *keys) {
    for (int i = 0; keys[i]; i++)
        if (json_object_get(s, keys[i])) return true;
    return false;
}

static const char *const OBJ_KEYS[] = {"properties", "required", "additionalProperties", NULL};
static const char *const ARR_KEYS[] = {"items", "prefixItems", "minItems", "maxItems", NULL};
static const char *const STR_KEYS[] = {"minLength", "maxLength", "pattern", "format", NULL};
static const char *const NUM_KEYS[] = {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
                                       NULL};

static kw_status gen_type(conv *c, json_t *s, const char *type, const char *ptr, int depth,
                          sb *out) {
    if (strcmp(type, "object") == 0) return gen_object(c, s, ptr, depth, out);
    if (strcmp(type, "array") == 0) return gen_array(c, s, ptr, depth, out);
    if (strcmp(type, "string") == 0) return gen_string(s, ptr, out);
    if (strcmp(type, "integer") == 0 || strcmp(type, "number") == 0) {
        bounds b;
        kw_status st = bounds_get(s, ptr, &b);
        if (st != KW_OK) return st;
        return gen_number(out, &b, type[0] == 'i', ptr);
    }
    if (strcmp(type, "boolean") == 0) {
        sb_puts(out, "boolean");
        return KW_OK;
    }
    if (strcmp(type, "null") == 0) {
        sb_puts(out, "null");
        return KW_OK;
    }
    return kw_error(KW_ERR_FORMAT, "unknown type '%s' at %s", type, ptr_show(ptr));
}

/* allOf of object schemas, merged: properties (a name in two branches is refused), required. */
static kw_status merge_all_of(json_t *s, const char *ptr, json_t **merged) {
    json_t *all = json_object_get(s, "allOf");
    if (!json_is_array(all) || json_array_size(all) == 0)
        return kw_error(KW_ERR_FORMAT, "'allOf' at %s must be a non-empty array", ptr_show(ptr));
    const char *ok;
    json_t *ov;
    json_object_foreach(s, ok, ov) {
        if (!in_list(ANNOTATIONS, ok) && strcmp(ok, "allOf") && strcmp(ok, "$defs") &&
            strcmp(ok, "definitions") && strcmp(ok, "type"))
            return kw_error(KW_ERR_UNSUPPORTED, "keyword '%s' beside 'allOf' at %s", ok,
                            ptr_show(ptr));
    }
    json_t *m = json_deep_copy(s);
    if (!m) return kw_error(KW_ERR_NOMEM, "json schema: out of memory");
    json_object_del(m, "allOf");
    for (size_t i = 0; i < json_array_size(all); i++) {
        json_t *b = json_array_get(all, i);
        const char *k;
        json_t *v;
        if (!json_is_object(b)) {
            json_decref(m);
            return kw_error(KW_ERR_UNSUPPORTED,
                            "allOf branch at %s/allOf/%zu is not an object "
                            "schema",
                            ptr, i);
        }
        json_object_foreach(b, k, v) {
            if (in_list(ANNOTATIONS, k)) continue;
            if (strcmp(k, "properties") == 0 && json_is_object(v)) {
                json_t *mp = json_object_get(m, "properties");
                if (!mp) {
                    json_object_set_new(m, "properties", json_object());
                    mp = json_object_get(m, "properties");
                }
                const char *pk;
                json_t *pv;
                json_object_foreach(v, pk, pv) {
                    if (json_object_get(mp, pk)) {
                        json_decref(m);
                        return kw_error(KW_ERR_UNSUPPORTED,
                                        "allOf at %s: property '%s' is in two branches",
                                        ptr_show(ptr), pk);
                    }
                    json_object_set(mp, pk, pv);
                }
            } else if (strcmp(k, "required") == 0 && json_is_array(v)) {
                json_t *mr = json_object_get(m, "required");
                if (!mr) {
                    json_object_set_new(m, "required", json_array());
                    mr = json_object_get(m, "required");
                }
                json_array_extend(mr, v);
            } else if (strcmp(k, "type") == 0 && json_is_string(v) &&
                       strcmp(json_string_value(v), "object") == 0) {
                json_t *t = json_object_get(m, "type");
                if (t && !(json_is_string(t) && strcmp(json_string_value(t), "object") == 0)) {
                    json_decref(m);
                    return kw_error(KW_ERR_UNSUPPORTED, "allOf at %s: type conflicts",
                                    ptr_show(ptr));
                }
                json_object_set_new(m, "type", json_string("object"));
            } else if (json_array_size(all) == 1 && !json_object_get(m, k)) {
                json_object_set(m, k, v);
            } else {
                json_decref(m);
                return kw_error(KW_ERR_UNSUPPORTED,
                                "allOf at %s: keyword '%s' at %s/allOf/%zu cannot be merged (only "
                                "object schemas: type, properties, required)",
                                ptr_show(ptr), k, ptr, i);
            }
        }
    }
    *merged = m;
    return KW_OK;
}

static kw_status gen_schema(conv *c, json_t *s, const char *ptr, int depth, sb *out) {
    if (depth > MAX_DEPTH)
        return kw_error(KW_ERR_UNSUPPORTED, "schema at %s nested deeper than %d", ptr_show(ptr),
                        MAX_DEPTH);
    if (json_is_true(s)) {
        sb_puts(out, "value");
        return KW_OK;
    }
    if (json_is_false(s))
        return kw_error(KW_ERR_UNSUPPORTED, "schema false at %s cannot be satisfied",
                        ptr_show(ptr));
    if (!json_is_object(s))
        return kw_error(KW_ERR_FORMAT, "schema at %s is not an object or boolean", ptr_show(ptr));
    kw_status st = check_keywords(s, ptr);
    if (st != KW_OK) return st;
    json_t *ref = json_object_get(s, "$ref");
    if (ref) {
        const char *k;
        json_t *v;
        json_object_foreach(s, k, v) {
            if (!in_list(ANNOTATIONS, k) && strcmp(k, "$ref") && strcmp(k, "$defs") &&
                strcmp(k, "definitions"))
                return kw_error(KW_ERR_UNSUPPORTED, "keyword '%s' beside '$ref' at %s", k,
                                ptr_show(ptr));
        }
        json_t *t = json_is_string(ref) ? ref_resolve(c->root, json_string_value(ref)) : NULL;
        if (!t)
            return kw_error(KW_ERR_UNSUPPORTED,
                            "'$ref' '%s' at %s does not resolve (only local "
                            "refs: '#', '#/$defs/name')",
                            json_is_string(ref) ? json_string_value(ref) : "?", ptr_show(ptr));
        for (size_t i = 0; i < c->n_rules; i++)
            if (c->rules[i].ref_target == t) {
                sb_puts(out, c->rules[i].name);
                return KW_OK;
            }
        if (json_is_object(t) && json_object_get(t, "$ref") && depth > 8 &&
            json_object_size(t) == 1)
            return kw_error(KW_ERR_UNSUPPORTED, "'$ref' chain at %s", ptr_show(ptr));
        long i = rule_new(c, t);
        if (i < 0) return kw_error(KW_ERR_NOMEM, "json schema: out of memory");
        char name[24];
        memcpy(name, c->rules[i].name, sizeof name);
        sb body = {0};
        /* the target's own pointer is the ref text without '#' */
        st = gen_schema(c, t, json_string_value(ref) + 1, depth + 1, &body);
        if (st != KW_OK) {
            free(body.p);
            return st;
        }
        c->rules[i].body = body;
        sb_puts(out, name);
        return KW_OK;
    }
    /* $defs: checked (so an unsupported keyword there is reported) only when referenced */
    json_t *cst = json_object_get(s, "const");
    json_t *en = json_object_get(s, "enum");
    if (cst || en) {
        if (cst && en)
            return kw_error(KW_ERR_UNSUPPORTED, "both 'const' and 'enum' at %s", ptr_show(ptr));
        json_t *list = en;
        if (en && (!json_is_array(en) || json_array_size(en) == 0))
            return kw_error(KW_ERR_FORMAT, "'enum' at %s must be a non-empty array", ptr_show(ptr));
        /* each value is kept when it satisfies the rest of the schema */
        json_t *rest = json_deep_copy(s);
        if (!rest) return kw_error(KW_ERR_NOMEM, "json schema: out of memory");
        json_object_del(rest, "enum");
        json_object_del(rest, "const");
        size_t n = cst ? 1 : json_array_size(list);
        int kept = 0;
        sb_puts(out, "(");
        for (size_t i = 0; i < n; i++) {
            json_t *v = cst ? cst : json_array_get(list, i);
            char *why = NULL;
            kw_status vs = kw_json_schema_validate_value(c->root, rest, v, &why);
            free(why);
            if (vs == KW_ERR_UNSUPPORTED) {
                json_decref(rest);
                return vs;
            }
            kw_error_clear();
            if (vs != KW_OK) continue;
            char *txt = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
            if (!txt) {
                json_decref(rest);
                return kw_error(KW_ERR_NOMEM, "json schema: out of memory");
            }
            if (kept++) sb_puts(out, " | ");
            gbnf_literal(out, txt, strlen(txt));
            free(txt);
        }
        sb_puts(out, ")");
        json_decref(rest);
        if (!kept)
            return kw_error(KW_ERR_UNSUPPORTED, "no value of '%s' at %s satisfies the schema",
                            cst ? "const" : "enum", ptr_show(ptr));
        return KW_OK;
    }
    json_t *any = json_object_get(s, "anyOf");
    json_t *one = json_object_get(s, "oneOf");
    json_t *all = json_object_get(s, "allOf");
    if (all) {
        json_t *m = NULL;
        st = merge_all_of(s, ptr, &m);
        if (st != KW_OK) return st;
        st = gen_schema(c, m, ptr, depth + 1, out);
        json_decref(m);
        return st;
    }
    if (any || one) {
        if (any && one)
            return kw_error(KW_ERR_UNSUPPORTED, "both 'anyOf' and 'oneOf' at %s", ptr_show(ptr));
        const char *kw = any ? "anyOf" : "oneOf";
        const char *k;
        json_t *v;
        json_object_foreach(s, k, v) {
            if (!in_list(ANNOTATIONS, k) && strcmp(k, kw) && strcmp(k, "$defs") &&
                strcmp(k, "definitions"))
                return kw_error(KW_ERR_UNSUPPORTED, "keyword '%s' beside '%s' at %s", k, kw,
                                ptr_show(ptr));
        }
        return gen_any_of(c, any ? any : one, ptr, kw, depth, out);
    }
    json_t *type = json_object_get(s, "type");
    if (!type) {
        int kinds = has_any(s, OBJ_KEYS) + has_any(s, ARR_KEYS) + has_any(s, STR_KEYS) +
                    has_any(s, NUM_KEYS);
        if (kinds > 1)
            return kw_error(KW_ERR_UNSUPPORTED,
                            "schema at %s has keywords of several types and no 'type'",
                            ptr_show(ptr));
        if (has_any(s, OBJ_KEYS)) return gen_object(c, s, ptr, depth, out);
        if (has_any(s, ARR_KEYS)) return gen_array(c, s, ptr, depth, out);
        if (has_any(s, STR_KEYS)) return gen_string(s, ptr, out);
        if (has_any(s, NUM_KEYS)) return gen_type(c, s, "number", ptr, depth, out);
        sb_puts(out, "value");
        return KW_OK;
    }
    if (json_is_string(type)) return gen_type(c, s, json_string_value(type), ptr, depth, out);
    if (json_is_array(type) && json_array_size(type) > 0) {
        sb_puts(out, "(");
        for (size_t i = 0; i < json_array_size(type); i++) {
            json_t *t = json_array_get(type, i);
            if (!json_is_string(t))
                return kw_error(KW_ERR_FORMAT, "'type' at %s holds a non-string", ptr_show(ptr));
            if (i) sb_puts(out, " | ");
            /* an integer beside number is covered by number */
            st = gen_type(c, s, json_string_value(t), ptr, depth, out);
            if (st != KW_OK) return st;
        }
        sb_puts(out, ")");
        return KW_OK;
    }
    return kw_error(KW_ERR_FORMAT, "'type' at %s must be a string or an array", ptr_show(ptr));
}

static const char BASE_RULES[] =
    "ws ::= | \" \" | \"\\n\" [ ]{0,8}\n"
    "char ::= [^\"\\\\\\x00-\\x1F] | \"\\\\\" ([\"\\\\/bfnrt] | \"u\" ([0-9a-cA-Ce-fE-F] "
    "[0-9a-fA-F]{3} | [dD] [0-7] [0-9a-fA-F]{2}))\n"
    "string ::= \"\\\"\" char* \"\\\"\"\n"
    "integer ::= \"-\"? (\"0\" | [1-9] [0-9]{0,14})\n"
    "number ::= \"-\"? (\"0\" | [1-9] [0-9]{0,14}) (\".\" [0-9]{1,15})? ([eE] [-+]? [0-9]{1,2})?\n"
    "boolean ::= \"true\" | \"false\"\n"
    "null ::= \"null\"\n"
    "value ::= object | array | string | number | boolean | null\n"
    "object ::= \"{\" ws (string ws \":\" ws value (ws \",\" ws string ws \":\" ws value)*)? ws "
    "\"}\"\n"
    "array ::= \"[\" ws (value (ws \",\" ws value)*)? ws \"]\"\n";

kw_status kw_json_schema_to_gbnf(const char *schema_json, char **gbnf_out) {
    kw_error_clear();
    if (!schema_json || !gbnf_out)
        return kw_error(KW_ERR_INVALID_ARG, "kw_json_schema_to_gbnf: NULL argument");
    *gbnf_out = NULL;
    json_error_t je;
    json_t *root = json_loads(schema_json, JSON_DECODE_ANY, &je);
    if (!root)
        return kw_error(KW_ERR_FORMAT, "json schema: %s at line %d column %d", je.text, je.line,
                        je.column);
    conv c = {.root = root};
    sb top = {0};
    kw_status st = gen_schema(&c, root, "", 0, &top);
    sb out = {0};
    if (st == KW_OK) {
        sb_printf(&out, "root ::= %s\n", top.p ? top.p : "");
        for (size_t i = 0; i < c.n_rules; i++) {
            sb_puts(&out, c.rules[i].name);
            sb_puts(&out, " ::= ");
            sb_puts(&out, c.rules[i].body.p ? c.rules[i].body.p : "");
            sb_puts(&out, "\n");
            if (c.rules[i].body.oom) out.oom = true;
        }
        sb_puts(&out, BASE_RULES);
        if (out.oom || top.oom) st = kw_error(KW_ERR_NOMEM, "json schema: out of memory");
    }
    for (size_t i = 0; i < c.n_rules; i++)
        free(c.rules[i].body.p);
    free(c.rules);
    free(top.p);
    json_decref(root);
    if (st == KW_OK) {
        /* The result must compile: a repetition of something that can match nothing (a pattern
         * like (a|b{0})+) or a $ref cycle that consumes no input ({"anyOf":[{"$ref":"#"}]}) is
         * left recursion, refused here so that callers (the server's 400) learn it up front. */
        kw_grammar *g = NULL;
        kw_status gs = kw_grammar_create(NULL, out.p, NULL, &g);
        kw_grammar_free(g);
        if (gs != KW_OK) {
            char why[400];
            snprintf(why, sizeof why, "%s", kw_last_error());
            kw_error_clear();
            st = kw_error(KW_ERR_UNSUPPORTED,
                          "json schema: cannot be enforced: its grammar is refused (%s); a "
                          "pattern repeating an empty match or a $ref cycle that consumes no "
                          "input does this",
                          why);
        }
    }
    if (st != KW_OK) {
        free(out.p);
        return st;
    }
    *gbnf_out = out.p;
    return KW_OK;
}
