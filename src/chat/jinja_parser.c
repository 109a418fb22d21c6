/* jinja_parser.c - tokens to an AST, with the operator precedence of @huggingface/jinja:
 *
 *   ternary (a if c else b, a if c) < or < and < not < comparison (== != < > <= >= in, not in)
 *   < additive (+ - ~) < multiplicative (* / // % **) < test (is [not] name) < filter (| name)
 *   < unary (- +) < call / member (f(x), a.b, a[i], a[i:j:k]) < primary
 *
 * Statements: set (=, tuple targets, namespace attributes, block form), if/elif/else, for (with
 * tuple unpacking, an `if` filter and else), macro, call (with caller arguments), filter
 * blocks, break, continue. Node fields per kind are listed in jinja_impl.h's order:
 *   N_IF a=test list=body list2=else;  N_FOR a=target b=iterable c=condition list=body list2=else
 *   N_SET a=target b=value (NULL: block in list);  N_MACRO str=name list2=params list=body
 *   N_CALLBLOCK a=call list2=caller params list=body;  N_FILTERBLOCK a=filter list=body
 *   N_MEMBER a=object b=key op=computed;  N_SLICE a,b,c;  N_CALL a=callee list=args
 *   N_FILTER/N_TEST a=operand str=name list=args (N_TEST op=negate)
 *   N_SELECT a=value b=condition;  N_TERNARY a=condition b=then c=else;  N_KWARG str=name a=value
 * Relies on: jinja_lexer. Must not: recurse deeper than MAX_DEPTH (errors instead).
 */
#include "chat/jinja_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 200

typedef struct parser {
    jctx *cx;
    const jtoks *t;
    size_t i;
    int depth;
} parser;

static const jtok *peek(const parser *p, size_t k) {
    size_t j = p->i + k;
    return &p->t->v[j < p->t->n ? j : p->t->n - 1];
}
static const jtok *cur(const parser *p) { return peek(p, 0); }
static bool is_kind(const parser *p, int kind) { return cur(p)->kind == kind; }
static bool tok_is(const jtok *t, int kind, const char *s) {
    return t->kind == kind && t->len == strlen(s) && memcmp(t->s, s, t->len) == 0;
}
static bool is_word(const parser *p, const char *w) { return tok_is(cur(p), T_IDENT, w); }

static const char *tok_desc(const jtok *t) {
    switch (t->kind) {
    case T_EOF: return "end of template";
    case T_TEXT: return "text";
    default: return t->s;
    }
}

_Noreturn static void perr(parser *p, const jtok *t, kw_status st, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
_Noreturn static void perr(parser *p, const jtok *t, kw_status st, const char *fmt, ...) {
    char what[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    jfail(p->cx, st, "template %s at line %d:%d: %s",
          st == KW_ERR_UNSUPPORTED ? "uses an unsupported construct" : "syntax error", t->line,
          t->col, what);
}

static const jtok *expect(parser *p, int kind, const char *what) {
    const jtok *t = cur(p);
    if (t->kind != kind) perr(p, t, KW_ERR_FORMAT, "expected %s, found '%.40s'", what, tok_desc(t));
    p->i++;
    return t;
}

static void expect_word(parser *p, const char *w) {
    if (!is_word(p, w))
        perr(p, cur(p), KW_ERR_FORMAT, "expected '%s', found '%.40s'", w, tok_desc(cur(p)));
    p->i++;
}

static jnode *node(parser *p, int kind, const jtok *at) {
    jnode *n = ja_alloc(p->cx, sizeof *n);
    n->kind = (uint8_t)kind;
    n->line = at->line;
    n->col = at->col;
    return n;
}

typedef struct nlist {
    jnode **v;
    int n, cap;
} nlist;

static void nl_push(parser *p, nlist *l, jnode *x) {
    if (l->n == l->cap) {
        int cap = l->cap ? l->cap * 2 : 4;
        l->v = ja_grow(p->cx, l->v, (size_t)l->n * sizeof(jnode *), (size_t)cap * sizeof(jnode *));
        l->cap = cap;
    }
    l->v[l->n++] = x;
}

static void enter(parser *p) {
    if (++p->depth > MAX_DEPTH)
        perr(p, cur(p), KW_ERR_FORMAT, "template nested deeper than %d levels", MAX_DEPTH);
}

static jnode *parse_expr(parser *p);
static jnode *parse_any(parser *p);

/* ---------------------------------------------------------------- expressions */

static void parse_args(parser *p, nlist *args) {
    expect(p, T_LPAREN, "'(' to open an argument list");
    while (!is_kind(p, T_RPAREN)) {
        if (is_kind(p, T_EOF))
            perr(p, cur(p), KW_ERR_FORMAT, "argument list is never closed with ')'");
        const jtok *at = cur(p);
        jnode *a = parse_expr(p);
        if (is_kind(p, T_EQUALS)) {
            p->i++;
            if (a->kind != N_IDENT)
                perr(p, at, KW_ERR_FORMAT, "a keyword argument needs a name before '='");
            jnode *k = node(p, N_KWARG, at);
            k->str = a->str;
            k->len = a->len;
            k->a = parse_expr(p);
            a = k;
        }
        nl_push(p, args, a);
        if (is_kind(p, T_COMMA))
            p->i++;
        else if (!is_kind(p, T_RPAREN))
            perr(p, cur(p), KW_ERR_FORMAT, "expected ',' or ')' in an argument list, found '%.40s'",
                 tok_desc(cur(p)));
    }
    p->i++;
}

static jnode *parse_seq(parser *p, bool primary);
static jnode *parse_primary(parser *p);

static jnode *parse_list_literal(parser *p, const jtok *at, int close, int kind) {
    nlist l = {0};
    while (!is_kind(p, close)) {
        if (is_kind(p, T_EOF)) perr(p, at, KW_ERR_FORMAT, "list literal is never closed");
        nl_push(p, &l, parse_expr(p));
        if (is_kind(p, T_COMMA))
            p->i++;
        else if (!is_kind(p, close))
            perr(p, cur(p), KW_ERR_FORMAT, "expected ',' or ']' in a list, found '%.40s'",
                 tok_desc(cur(p)));
    }
    p->i++;
    jnode *n = node(p, kind, at);
    n->list = l.v;
    n->n = l.n;
    return n;
}

static jnode *parse_primary(parser *p) {
    const jtok *t = cur(p);
    switch (t->kind) {
    case T_NUM: {
        p->i++;
        jnode *n = node(p, N_NUM, t);
        n->num = strtod(t->s, NULL);
        n->op = strchr(t->s, '.') != NULL;
        return n;
    }
    case T_STR: {
        /* adjacent literals concatenate: "a" "b" */
        jbuf b = {0};
        jb_put(p->cx, &b, t->s, t->len);
        p->i++;
        while (is_kind(p, T_STR)) {
            jb_put(p->cx, &b, cur(p)->s, cur(p)->len);
            p->i++;
        }
        jnode *n = node(p, N_STR, t);
        n->str = b.p ? b.p : "";
        n->len = b.len;
        return n;
    }
    case T_IDENT: {
        p->i++;
        jnode *n = node(p, N_IDENT, t);
        n->str = t->s;
        n->len = t->len;
        return n;
    }
    case T_LPAREN: {
        p->i++;
        jnode *e = parse_seq(p, false);
        expect(p, T_RPAREN, "')'");
        return e;
    }
    case T_LBRACKET: p->i++; return parse_list_literal(p, t, T_RBRACKET, N_ARRAY);
    case T_LBRACE: {
        p->i++;
        nlist keys = {0}, vals = {0};
        while (!is_kind(p, T_RBRACE)) {
            if (is_kind(p, T_EOF))
                perr(p, t, KW_ERR_FORMAT, "mapping literal is never closed with '}'");
            nl_push(p, &keys, parse_expr(p));
            expect(p, T_COLON, "':' between key and value");
            nl_push(p, &vals, parse_expr(p));
            if (is_kind(p, T_COMMA)) p->i++;
        }
        p->i++;
        jnode *n = node(p, N_OBJECT, t);
        n->list = keys.v;
        n->n = keys.n;
        n->list2 = vals.v;
        n->n2 = vals.n;
        return n;
    }
    default:
        perr(p, t, KW_ERR_FORMAT, "unexpected '%.40s' where a value was expected", tok_desc(t));
    }
}

/* [i], [a:b], [a:b:c], [:b], [::c] */
static jnode *parse_subscript(parser *p, const jtok *at) {
    jnode *parts[3] = {0};
    int np = 0;
    bool slice = false;
    while (!is_kind(p, T_RBRACKET)) {
        if (np >= 3 || is_kind(p, T_EOF))
            perr(p, at, KW_ERR_FORMAT, "subscript [...] is malformed or never closed");
        if (is_kind(p, T_COLON)) {
            parts[np++] = NULL;
            p->i++;
            slice = true;
        } else {
            parts[np++] = parse_expr(p);
            if (is_kind(p, T_COLON)) {
                p->i++;
                slice = true;
            } else if (!is_kind(p, T_RBRACKET)) {
                perr(p, cur(p), KW_ERR_FORMAT, "expected ']' or ':' in a subscript, found '%.40s'",
                     tok_desc(cur(p)));
            }
        }
    }
    p->i++;
    if (np == 0) perr(p, at, KW_ERR_FORMAT, "empty subscript []");
    if (!slice) return parts[0];
    /* "[a:]" leaves the trailing part out: [a, undefined] */
    jnode *s = node(p, N_SLICE, at);
    s->a = parts[0];
    s->b = np > 1 ? parts[1] : NULL;
    s->c = np > 2 ? parts[2] : NULL;
    return s;
}

static jnode *parse_postfix(parser *p, jnode *e) {
    for (;;) {
        const jtok *t = cur(p);
        if (t->kind == T_DOT) {
            p->i++;
            const jtok *name = cur(p);
            if (name->kind != T_IDENT && name->kind != T_NUM)
                perr(p, name, KW_ERR_FORMAT, "expected a name after '.', found '%.40s'",
                     tok_desc(name));
            p->i++;
            jnode *m = node(p, N_MEMBER, t);
            m->a = e;
            if (name->kind == T_NUM) {
                m->b = node(p, N_NUM, name);
                m->b->num = strtod(name->s, NULL);
                m->op = 1;
            } else {
                m->b = node(p, N_STR, name);
                m->b->str = name->s;
                m->b->len = name->len;
            }
            e = m;
        } else if (t->kind == T_LBRACKET) {
            p->i++;
            jnode *m = node(p, N_MEMBER, t);
            m->a = e;
            m->b = parse_subscript(p, t);
            m->op = 1;
            e = m;
        } else if (t->kind == T_LPAREN) {
            jnode *c = node(p, N_CALL, t);
            nlist args = {0};
            parse_args(p, &args);
            c->a = e;
            c->line = e->line; /* a call is reported where its callee starts */
            c->col = e->col;
            c->list = args.v;
            c->n = args.n;
            e = c;
        } else {
            return e;
        }
    }
}

static jnode *parse_unary(parser *p) {
    const jtok *t = cur(p);
    if (t->kind == T_UNARY) {
        enter(p);
        p->i++;
        jnode *n = node(p, N_UNARY, t);
        n->op = t->s[0] == '-' ? OP_NEG : OP_POS;
        n->a = parse_unary(p);
        p->depth--;
        return n;
    }
    return parse_postfix(p, parse_primary(p));
}

static jnode *parse_filter(parser *p) {
    jnode *e = parse_unary(p);
    while (is_kind(p, T_PIPE)) {
        const jtok *t = cur(p);
        p->i++;
        const jtok *name = expect(p, T_IDENT, "a filter name after '|'");
        jnode *f = node(p, N_FILTER, t);
        f->a = e;
        f->str = name->s;
        f->len = name->len;
        if (is_kind(p, T_LPAREN)) {
            nlist args = {0};
            parse_args(p, &args);
            f->list = args.v;
            f->n = args.n;
            f->op = 1;
        }
        e = f;
    }
    return e;
}

static jnode *parse_test(parser *p) {
    jnode *e = parse_filter(p);
    while (is_word(p, "is")) {
        const jtok *t = cur(p);
        p->i++;
        bool negate = is_word(p, "not");
        if (negate) p->i++;
        const jtok *name = expect(p, T_IDENT, "a test name after 'is'");
        jnode *x = node(p, N_TEST, t);
        x->a = e;
        x->str = name->s;
        x->len = name->len;
        x->op = negate;
        if (is_kind(p, T_LPAREN)) {
            nlist args = {0};
            parse_args(p, &args);
            x->list = args.v;
            x->n = args.n;
        }
        e = x;
    }
    return e;
}

static jnode *binary(parser *p, const jtok *t, int op, jnode *a, jnode *b) {
    jnode *n = node(p, N_BINARY, t);
    n->op = (uint8_t)op;
    n->a = a;
    n->b = b;
    return n;
}

static jnode *parse_mul(parser *p) {
    jnode *e = parse_test(p);
    while (is_kind(p, T_MULOP)) {
        const jtok *t = cur(p);
        p->i++;
        int op = t->s[0] == '%'            ? OP_MOD
                 : strcmp(t->s, "//") == 0 ? OP_FLOORDIV
                 : strcmp(t->s, "**") == 0 ? OP_POW
                 : t->s[0] == '*'          ? OP_MUL
                                           : OP_DIV;
        e = binary(p, t, op, e, parse_test(p));
    }
    return e;
}

static jnode *parse_add(parser *p) {
    jnode *e = parse_mul(p);
    while (is_kind(p, T_ADDOP)) {
        const jtok *t = cur(p);
        p->i++;
        int op = t->s[0] == '+' ? OP_ADD : t->s[0] == '-' ? OP_SUB : OP_CONCAT;
        e = binary(p, t, op, e, parse_mul(p));
    }
    return e;
}

static jnode *parse_cmp(parser *p) {
    jnode *e = parse_add(p);
    for (;;) {
        const jtok *t = cur(p);
        int op;
        if (t->kind == T_CMPOP) {
            op = strcmp(t->s, "==") == 0   ? OP_EQ
                 : strcmp(t->s, "!=") == 0 ? OP_NE
                 : strcmp(t->s, "<=") == 0 ? OP_LE
                 : strcmp(t->s, ">=") == 0 ? OP_GE
                 : t->s[0] == '<'          ? OP_LT
                                           : OP_GT;
            p->i++;
        } else if (is_word(p, "in")) {
            op = OP_IN;
            p->i++;
        } else if (is_word(p, "not") && tok_is(peek(p, 1), T_IDENT, "in")) {
            op = OP_NOTIN;
            p->i += 2;
        } else {
            return e;
        }
        e = binary(p, t, op, e, parse_add(p));
    }
}

static jnode *parse_not(parser *p) {
    if (is_word(p, "not")) {
        const jtok *t = cur(p);
        enter(p);
        p->i++;
        jnode *n = node(p, N_UNARY, t);
        n->op = OP_NOT;
        n->a = parse_not(p);
        p->depth--;
        return n;
    }
    return parse_cmp(p);
}

static jnode *parse_and(parser *p) {
    jnode *e = parse_not(p);
    while (is_word(p, "and")) {
        const jtok *t = cur(p);
        p->i++;
        e = binary(p, t, OP_AND, e, parse_not(p));
    }
    return e;
}

static jnode *parse_or(parser *p) {
    jnode *e = parse_and(p);
    while (is_word(p, "or")) {
        const jtok *t = cur(p);
        p->i++;
        e = binary(p, t, OP_OR, e, parse_and(p));
    }
    return e;
}

static jnode *parse_expr(parser *p) {
    enter(p);
    jnode *a = parse_or(p);
    if (is_word(p, "if")) {
        const jtok *t = cur(p);
        p->i++;
        jnode *cond = parse_or(p);
        if (is_word(p, "else")) {
            p->i++;
            jnode *n = node(p, N_TERNARY, t);
            n->a = cond;
            n->b = a;
            n->c = parse_expr(p);
            a = n;
        } else {
            jnode *n = node(p, N_SELECT, t);
            n->a = a;
            n->b = cond;
            a = n;
        }
    }
    p->depth--;
    return a;
}

/* a, b, c -> a tuple; a single expression stays itself */
static jnode *parse_seq(parser *p, bool primary) {
    const jtok *at = cur(p);
    jnode *first = primary ? parse_postfix(p, parse_primary(p)) : parse_expr(p);
    if (!is_kind(p, T_COMMA)) return first;
    nlist l = {0};
    nl_push(p, &l, first);
    while (is_kind(p, T_COMMA)) {
        p->i++;
        if (is_kind(p, T_RPAREN) || is_word(p, "in") || is_kind(p, T_EQUALS)) break;
        nl_push(p, &l, primary ? parse_postfix(p, parse_primary(p)) : parse_expr(p));
    }
    jnode *t = node(p, N_TUPLE, at);
    t->list = l.v;
    t->n = l.n;
    return t;
}

/* ---------------------------------------------------------------- statements */

/* True at "{% word" for one of the words (a NULL-terminated list). */
static bool at_tag(parser *p, const char *const *words) {
    if (!is_kind(p, T_OPEN_STMT)) return false;
    for (int i = 0; words[i]; i++)
        if (tok_is(peek(p, 1), T_IDENT, words[i])) return true;
    return false;
}

static void parse_body(parser *p, nlist *body, const char *const *stop, const jtok *opened,
                       const char *block) {
    while (!at_tag(p, stop)) {
        if (is_kind(p, T_EOF))
            perr(p, opened, KW_ERR_FORMAT, "'%s' block is never closed (expected {%% %s %%})",
                 block, stop[0]);
        jnode *s = parse_any(p);
        if (s) nl_push(p, body, s);
    }
}

static void end_tag(parser *p, const char *word) {
    expect(p, T_OPEN_STMT, "'{%'");
    expect_word(p, word);
    expect(p, T_CLOSE_STMT, "'%}'");
}

static jnode *parse_if(parser *p, const jtok *at) {
    static const char *const stop[] = {"endif", "elif", "else", NULL};
    static const char *const stop_else[] = {"endif", NULL};
    jnode *n = node(p, N_IF, at);
    n->a = parse_expr(p);
    expect(p, T_CLOSE_STMT, "'%}' after the if condition");
    nlist body = {0}, alt = {0};
    parse_body(p, &body, stop, at, "if");
    if (tok_is(peek(p, 1), T_IDENT, "elif")) {
        const jtok *elif_at = peek(p, 1);
        p->i += 2;
        nl_push(p, &alt, parse_if(p, elif_at));
    } else if (tok_is(peek(p, 1), T_IDENT, "else")) {
        p->i += 2;
        expect(p, T_CLOSE_STMT, "'%}' after else");
        parse_body(p, &alt, stop_else, at, "if");
    }
    n->list = body.v;
    n->n = body.n;
    n->list2 = alt.v;
    n->n2 = alt.n;
    return n;
}

static jnode *parse_for(parser *p, const jtok *at) {
    static const char *const stop[] = {"endfor", "else", NULL};
    static const char *const stop_else[] = {"endfor", NULL};
    jnode *n = node(p, N_FOR, at);
    n->a = parse_seq(p, true);
    if (n->a->kind != N_IDENT && n->a->kind != N_TUPLE)
        perr(p, at, KW_ERR_FORMAT, "for loop target must be a name or names separated by ','");
    expect_word(p, "in");
    jnode *it = parse_expr(p);
    if (it->kind == N_SELECT) { /* for x in xs if cond */
        n->b = it->a;
        n->c = it->b;
    } else {
        n->b = it;
    }
    if (is_word(p, "recursive")) perr(p, cur(p), KW_ERR_UNSUPPORTED, "recursive for loops");
    expect(p, T_CLOSE_STMT, "'%}' after the for header");
    nlist body = {0}, alt = {0};
    parse_body(p, &body, stop, at, "for");
    if (tok_is(peek(p, 1), T_IDENT, "else")) {
        p->i += 2;
        expect(p, T_CLOSE_STMT, "'%}' after else");
        parse_body(p, &alt, stop_else, at, "for");
    }
    end_tag(p, "endfor");
    n->list = body.v;
    n->n = body.n;
    n->list2 = alt.v;
    n->n2 = alt.n;
    return n;
}

/* The body of a block that only ends with its end tag ({% set %}..{% endset %}, macro, call,
 * filter): parsed into n->list / n->n, then the end tag is consumed. */
static void parse_closed_body(parser *p, jnode *n, const jtok *at, const char *block,
                              const char *end) {
    const char *const stop[] = {end, NULL};
    nlist body = {0};
    parse_body(p, &body, stop, at, block);
    end_tag(p, end);
    n->list = body.v;
    n->n = body.n;
}

static jnode *parse_set(parser *p, const jtok *at) {
    jnode *n = node(p, N_SET, at);
    n->a = parse_seq(p, true);
    if (n->a->kind != N_IDENT && n->a->kind != N_TUPLE && n->a->kind != N_MEMBER)
        perr(p, at, KW_ERR_FORMAT, "set target must be a name, names or a namespace attribute");
    if (is_kind(p, T_EQUALS)) {
        p->i++;
        n->b = parse_seq(p, false);
        expect(p, T_CLOSE_STMT, "'%}' after set");
        return n;
    }
    expect(p, T_CLOSE_STMT, "'=' or '%}' after the set target");
    parse_closed_body(p, n, at, "set", "endset");
    return n;
}

static void parse_params(parser *p, nlist *params) {
    parse_args(p, params);
    for (int i = 0; i < params->n; i++)
        if (params->v[i]->kind != N_IDENT && params->v[i]->kind != N_KWARG)
            perr(p, cur(p), KW_ERR_FORMAT, "macro parameters must be names or name=default");
}

static jnode *parse_macro(parser *p, const jtok *at) {
    jnode *n = node(p, N_MACRO, at);
    const jtok *name = expect(p, T_IDENT, "a macro name");
    n->str = name->s;
    n->len = name->len;
    nlist params = {0};
    parse_params(p, &params);
    expect(p, T_CLOSE_STMT, "'%}' after the macro header");
    parse_closed_body(p, n, at, "macro", "endmacro");
    n->list2 = params.v;
    n->n2 = params.n;
    return n;
}

static jnode *parse_call_block(parser *p, const jtok *at) {
    jnode *n = node(p, N_CALLBLOCK, at);
    nlist params = {0};
    if (is_kind(p, T_LPAREN)) parse_params(p, &params);
    n->a = parse_postfix(p, parse_primary(p));
    if (n->a->kind != N_CALL) perr(p, at, KW_ERR_FORMAT, "{%% call %%} needs a macro call");
    expect(p, T_CLOSE_STMT, "'%}' after call");
    parse_closed_body(p, n, at, "call", "endcall");
    n->list2 = params.v;
    n->n2 = params.n;
    return n;
}

static jnode *parse_filter_block(parser *p, const jtok *at) {
    jnode *n = node(p, N_FILTERBLOCK, at);
    const jtok *name = expect(p, T_IDENT, "a filter name");
    jnode *f = node(p, N_FILTER, name);
    f->str = name->s;
    f->len = name->len;
    if (is_kind(p, T_LPAREN)) {
        nlist args = {0};
        parse_args(p, &args);
        f->list = args.v;
        f->n = args.n;
        f->op = 1;
    }
    n->a = f;
    expect(p, T_CLOSE_STMT, "'%}' after filter");
    parse_closed_body(p, n, at, "filter", "endfilter");
    return n;
}

static jnode *parse_statement(parser *p) {
    const jtok *open = expect(p, T_OPEN_STMT, "'{%'");
    const jtok *kw = cur(p);
    if (kw->kind != T_IDENT)
        perr(p, kw, KW_ERR_FORMAT, "expected a statement name after '{%%', found '%.40s'",
             tok_desc(kw));
    p->i++;
    jnode *n;
    if (tok_is(kw, T_IDENT, "set")) {
        n = parse_set(p, open);
    } else if (tok_is(kw, T_IDENT, "if")) {
        n = parse_if(p, open);
        end_tag(p, "endif");
    } else if (tok_is(kw, T_IDENT, "for")) {
        n = parse_for(p, open);
    } else if (tok_is(kw, T_IDENT, "macro")) {
        n = parse_macro(p, open);
    } else if (tok_is(kw, T_IDENT, "call")) {
        n = parse_call_block(p, open);
    } else if (tok_is(kw, T_IDENT, "filter")) {
        n = parse_filter_block(p, open);
    } else if (tok_is(kw, T_IDENT, "break") || tok_is(kw, T_IDENT, "continue")) {
        n = node(p, kw->s[0] == 'b' ? N_BREAK : N_CONTINUE, open);
        expect(p, T_CLOSE_STMT, "'%}'");
    } else if (tok_is(kw, T_IDENT, "endif") || tok_is(kw, T_IDENT, "endfor") ||
               tok_is(kw, T_IDENT, "endset") || tok_is(kw, T_IDENT, "endmacro") ||
               tok_is(kw, T_IDENT, "else") || tok_is(kw, T_IDENT, "elif") ||
               tok_is(kw, T_IDENT, "endcall") || tok_is(kw, T_IDENT, "endfilter")) {
        perr(p, kw, KW_ERR_FORMAT, "'%s' without an open block", kw->s);
    } else {
        perr(p, kw, KW_ERR_UNSUPPORTED, "statement '{%% %.40s %%}'", kw->s);
    }
    return n;
}

static jnode *parse_any(parser *p) {
    const jtok *t = cur(p);
    jnode *n = NULL;
    enter(p);
    switch (t->kind) {
    case T_TEXT:
        p->i++;
        n = node(p, N_TEXT, t);
        n->str = t->s;
        n->len = t->len;
        break;
    case T_COMMENT: p->i++; break;
    case T_OPEN_STMT: n = parse_statement(p); break;
    case T_OPEN_EXPR:
        p->i++;
        n = parse_expr(p);
        expect(p, T_CLOSE_EXPR, "'}}' to close the expression");
        break;
    default: perr(p, t, KW_ERR_FORMAT, "unexpected '%.40s' outside a tag", tok_desc(t));
    }
    p->depth--;
    return n;
}

jnode *jinja_parse_tokens(jctx *cx, const jtoks *toks) {
    parser p = {.cx = cx, .t = toks};
    jnode *root = ja_alloc(cx, sizeof *root);
    root->kind = N_IF; /* only list/n are used: the program body */
    nlist body = {0};
    while (!is_kind(&p, T_EOF)) {
        jnode *s = parse_any(&p);
        if (s) nl_push(&p, &body, s);
    }
    root->list = body.v;
    root->n = body.n;
    return root;
}
