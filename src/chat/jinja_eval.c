/* jinja_eval.c - the evaluator: runs the AST over values, writing text into a buffer, with the
 * semantics of @huggingface/jinja 0.5.11's Interpreter: scopes (a for loop and a macro call
 * open one, if/set do not), JavaScript-flavoured operators, `loop` variables, macros that see
 * the caller's scope, call blocks, filter blocks, break/continue.
 *
 * Relies on: jinja_core (values, arena), jinja_builtins (filters, tests, methods, globals).
 * Must not: recurse past MAX_DEPTH or run past MAX_STEPS (both are errors, so a template that
 * recurses forever fails instead of crashing or hanging).
 */
#include "chat/jinja_impl.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define MAX_DEPTH 1000
#define MAX_STEPS 50000000ull

/* ---------------------------------------------------------------- errors, scopes */

_Noreturn void jrun_fail(jrun *r, kw_status st, const char *fmt, ...) {
    char what[480];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    jfail(r->cx, st, "template error at line %d:%d: %s", r->line, r->col, what);
}

jenv *jenv_new(jctx *cx, jenv *parent) {
    jenv *e = ja_alloc(cx, sizeof *e);
    e->parent = parent;
    return e;
}

void jenv_set(jctx *cx, jenv *e, const char *name, size_t len, jv v) {
    for (size_t i = 0; i < e->n; i++)
        if (e->v[i].len == len && memcmp(e->v[i].name, name, len) == 0) {
            e->v[i].v = v;
            return;
        }
    if (e->n == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 8;
        e->v = ja_grow(cx, e->v, e->n * sizeof(jvar), cap * sizeof(jvar));
        e->cap = cap;
    }
    e->v[e->n].name = name;
    e->v[e->n].len = len;
    e->v[e->n].v = v;
    e->n++;
}

jv jenv_lookup(const jenv *e, const char *name, size_t len) {
    for (; e; e = e->parent)
        for (size_t i = e->n; i-- > 0;)
            if (e->v[i].len == len && memcmp(e->v[i].name, name, len) == 0) return e->v[i].v;
    return jv_undef();
}

static void enter(jrun *r, const jnode *n) {
    r->line = n->line;
    r->col = n->col;
    if (++r->depth > MAX_DEPTH)
        jrun_fail(r, KW_ERR_FORMAT,
                  "evaluation nested deeper than %d levels (a macro calling "
                  "itself without end?)",
                  MAX_DEPTH);
    if (++r->steps > MAX_STEPS)
        jrun_fail(r, KW_ERR_FORMAT, "template ran more than %llu steps", MAX_STEPS);
}

/* ---------------------------------------------------------------- operators */

static const char *op_name(int op) {
    static const char *names[] = {"",       "+",   "-",  "~",   "*", "/",  "//", "%",
                                  "**",     "==",  "!=", "<",   ">", "<=", ">=", "in",
                                  "not in", "and", "or", "not", "-", "+"};
    return op >= 0 && op < (int)(sizeof names / sizeof names[0]) ? names[op] : "?";
}

static jv concat_raw(jrun *r, jv a, jv b) {
    jbuf buf = {.max = r->max_output};
    jv_to_raw(r->cx, &buf, a);
    jv_to_raw(r->cx, &buf, b);
    return jv_str(buf.p ? buf.p : "", buf.len);
}

static jv numeric_op(jrun *r, int op, jv l, jv rv) {
    double a = l.n, b = rv.n;
    bool fl = l.t == JV_FLOAT || rv.t == JV_FLOAT;
    switch (op) {
    case OP_ADD: return fl ? jv_float(a + b) : jv_int(a + b);
    case OP_SUB: return fl ? jv_float(a - b) : jv_int(a - b);
    case OP_MUL: return fl ? jv_float(a * b) : jv_int(a * b);
    case OP_DIV: return jv_float(a / b);
    case OP_MOD: return fl ? jv_float(fmod(a, b)) : jv_int(fmod(a, b));
    case OP_FLOORDIV: return fl ? jv_float(floor(a / b)) : jv_int(floor(a / b));
    case OP_POW: return fl ? jv_float(pow(a, b)) : jv_int(pow(a, b));
    case OP_LT: return jv_bool(a < b);
    case OP_GT: return jv_bool(a > b);
    case OP_LE: return jv_bool(a <= b);
    case OP_GE: return jv_bool(a >= b);
    default: jrun_fail(r, KW_ERR_FORMAT, "unknown operator \"%s\" between numbers", op_name(op));
    }
}

static int str_cmp(jv a, jv b) {
    size_t n = a.s.len < b.s.len ? a.s.len : b.s.len;
    int c = n ? memcmp(a.s.p, b.s.p, n) : 0;
    return c ? c : (a.s.len > b.s.len) - (a.s.len < b.s.len);
}

static jv binary_op(jrun *r, const jnode *n, jenv *env) {
    int op = n->op;
    jv l = jeval(r, n->a, env);
    if (op == OP_AND) return jv_truthy(l) ? jeval(r, n->b, env) : l;
    if (op == OP_OR) return jv_truthy(l) ? l : jeval(r, n->b, env);
    jv rv = jeval(r, n->b, env);
    r->line = n->line;
    r->col = n->col;
    if (op == OP_EQ) return jv_bool(jv_loose_eq(l, rv));
    if (op == OP_NE) return jv_bool(!jv_loose_eq(l, rv));
    if (l.t == JV_UNDEF || rv.t == JV_UNDEF) {
        if (rv.t == JV_UNDEF && (op == OP_IN || op == OP_NOTIN)) return jv_bool(op == OP_NOTIN);
        jrun_fail(r, KW_ERR_FORMAT, "Cannot perform operation %s on undefined values", op_name(op));
    }
    if (l.t == JV_NULL || rv.t == JV_NULL)
        jrun_fail(r, KW_ERR_FORMAT, "Cannot perform operation %s on null values", op_name(op));
    if (op == OP_CONCAT) return concat_raw(r, l, rv);
    if (jv_isnum(l) && jv_isnum(rv)) return numeric_op(r, op, l, rv);
    if (l.t == JV_ARRAY && rv.t == JV_ARRAY && op == OP_ADD) {
        jv a = jv_new_array(r->cx, l.arr->n + rv.arr->n);
        for (size_t i = 0; i < l.arr->n; i++)
            jarr_push(r->cx, a.arr, l.arr->v[i]);
        for (size_t i = 0; i < rv.arr->n; i++)
            jarr_push(r->cx, a.arr, rv.arr->v[i]);
        return a;
    }
    if (rv.t == JV_ARRAY && (op == OP_IN || op == OP_NOTIN)) {
        bool found = false;
        for (size_t i = 0; i < rv.arr->n && !found; i++)
            found = jv_strict_eq(rv.arr->v[i], l);
        return jv_bool(found == (op == OP_IN));
    }
    if ((l.t == JV_STR || rv.t == JV_STR) && op == OP_ADD) return concat_raw(r, l, rv);
    if (l.t == JV_STR && rv.t == JV_STR) {
        if (op == OP_IN || op == OP_NOTIN) {
            bool found = l.s.len == 0 || memmem(rv.s.p, rv.s.len, l.s.p, l.s.len) != NULL;
            return jv_bool(found == (op == OP_IN));
        }
        int c = str_cmp(l, rv);
        switch (op) {
        case OP_LT: return jv_bool(c < 0);
        case OP_GT: return jv_bool(c > 0);
        case OP_LE: return jv_bool(c <= 0);
        case OP_GE: return jv_bool(c >= 0);
        default: break;
        }
    }
    if (l.t == JV_STR && rv.t == JV_OBJECT && (op == OP_IN || op == OP_NOTIN))
        return jv_bool((jobj_get(rv.obj, l.s.p, l.s.len) != NULL) == (op == OP_IN));
    if (op == OP_MUL && ((l.t == JV_STR && rv.t == JV_INT) || (l.t == JV_INT && rv.t == JV_STR))) {
        jv s = l.t == JV_STR ? l : rv;
        double k = l.t == JV_STR ? rv.n : l.n;
        jbuf b = {.max = r->max_output};
        for (double i = 0; i < k; i++)
            jb_put(r->cx, &b, s.s.p, s.s.len);
        return jv_str(b.p ? b.p : "", b.len);
    }
    jrun_fail(r, KW_ERR_FORMAT, "Unknown operator \"%s\" between %s and %s", op_name(op),
              jv_type_name(l), jv_type_name(rv));
}

/* ---------------------------------------------------------------- expressions */

/* Evaluates call arguments: positional values, then (when any) one keyword-arguments object. */
static int eval_args(jrun *r, jnode *const *list, int n, jenv *env, jv **out) {
    jv *args = ja_alloc(r->cx, (size_t)(n + 1) * sizeof(jv));
    int np = 0;
    jv kw = {0};
    bool has_kw = false;
    for (int i = 0; i < n; i++) {
        if (list[i]->kind == N_KWARG) {
            if (!has_kw) {
                kw = jv_new_object(r->cx);
                kw.sub = 1;
                has_kw = true;
            }
            jobj_set(r->cx, kw.obj, list[i]->str, list[i]->len, jeval(r, list[i]->a, env));
        } else {
            if (has_kw)
                jrun_fail(r, KW_ERR_FORMAT,
                          "Positional arguments must come before keyword arguments");
            args[np++] = jeval(r, list[i], env);
        }
    }
    if (has_kw) args[np++] = kw;
    *out = args;
    return np;
}

static jv member(jrun *r, const jnode *n, jenv *env) {
    jv obj = jeval(r, n->a, env);
    if (n->op && n->b->kind == N_SLICE) {
        const jnode *s = n->b;
        jv a = s->a ? jeval(r, s->a, env) : jv_undef();
        jv b = s->b ? jeval(r, s->b, env) : jv_undef();
        jv c = s->c ? jeval(r, s->c, env) : jv_undef();
        r->line = n->line;
        r->col = n->col;
        return jslice(r, obj, a, b, c);
    }
    jv key = n->op ? jeval(r, n->b, env) : jv_str(n->b->str, n->b->len);
    r->line = n->line;
    r->col = n->col;
    if (obj.t == JV_OBJECT) {
        if (key.t != JV_STR)
            jrun_fail(r, KW_ERR_FORMAT, "Cannot access property with non-string: got %s",
                      jv_type_name(key));
        jv *v = jobj_get(obj.obj, key.s.p, key.s.len);
        return v ? *v : jbuiltin_member(r, obj, key.s.p, key.s.len);
    }
    if (obj.t == JV_ARRAY || obj.t == JV_STR) {
        if (key.t == JV_INT) {
            if (obj.t == JV_ARRAY) {
                double i = key.n < 0 ? key.n + (double)obj.arr->n : key.n;
                return i >= 0 && i < (double)obj.arr->n ? obj.arr->v[(size_t)i] : jv_undef();
            }
            jv one = jv_int(1);
            jv start = key, stop = jv_int(key.n + 1);
            if (key.n == -1) stop = jv_undef();
            jv ch = jslice(r, obj, start, stop, one);
            return ch.s.len ? ch : jv_undef();
        }
        if (key.t == JV_STR) return jbuiltin_member(r, obj, key.s.p, key.s.len);
        jrun_fail(r, KW_ERR_FORMAT, "Cannot access property with non-string/non-number: got %s",
                  jv_type_name(key));
    }
    if (key.t != JV_STR)
        jrun_fail(r, KW_ERR_FORMAT, "Cannot access property with non-string: got %s",
                  jv_type_name(key));
    return jbuiltin_member(r, obj, key.s.p, key.s.len);
}

static jv call_expr(jrun *r, const jnode *n, jenv *env) {
    jv *args;
    int nargs = eval_args(r, n->list, n->n, env, &args);
    jv fn = jeval(r, n->a, env);
    r->line = n->line;
    r->col = n->col;
    if (fn.t != JV_FUNC)
        jrun_fail(r, KW_ERR_FORMAT, "Cannot call something that is not a function: got %s",
                  jv_type_name(fn));
    return jcall(r, fn, args, nargs, env);
}

static jv literal_list(jrun *r, const jnode *n, jenv *env) {
    jv a = jv_new_array(r->cx, (size_t)n->n);
    a.sub = n->kind == N_TUPLE;
    for (int i = 0; i < n->n; i++)
        jarr_push(r->cx, a.arr, jeval(r, n->list[i], env));
    return a;
}

static jv eval_node(jrun *r, const jnode *n, jenv *env) {
    switch (n->kind) {
    case N_STR: return jv_str(n->str, n->len);
    case N_NUM: return n->op ? jv_float(n->num) : jv_int(n->num);
    case N_ARRAY:
    case N_TUPLE: return literal_list(r, n, env);
    case N_OBJECT: {
        jv o = jv_new_object(r->cx);
        for (int i = 0; i < n->n; i++) {
            jv k = jeval(r, n->list[i], env);
            if (k.t != JV_STR)
                jrun_fail(r, KW_ERR_FORMAT, "Object keys must be strings: got %s", jv_type_name(k));
            jobj_set(r->cx, o.obj, k.s.p, k.s.len, jeval(r, n->list2[i], env));
        }
        return o;
    }
    case N_IDENT: return jenv_lookup(env, n->str, n->len);
    case N_MEMBER: return member(r, n, env);
    case N_CALL: return call_expr(r, n, env);
    case N_UNARY: {
        jv a = jeval(r, n->a, env);
        if (n->op == OP_NOT) return jv_bool(!jv_truthy(a));
        if (!jv_isnum(a))
            jrun_fail(r, KW_ERR_FORMAT, "unary %s needs a number, got %s", op_name(n->op),
                      jv_type_name(a));
        a.n = n->op == OP_NEG ? -a.n : a.n;
        return a;
    }
    case N_BINARY: return binary_op(r, n, env);
    case N_FILTER: {
        jv operand = jeval(r, n->a, env);
        jv *args;
        int nargs = eval_args(r, n->list, n->n, env, &args);
        r->line = n->line;
        r->col = n->col;
        return japply_filter(r, operand, n->str, n->len, args, nargs, env);
    }
    case N_TEST: {
        jv operand = jeval(r, n->a, env);
        jv *args;
        int nargs = eval_args(r, n->list, n->n, env, &args);
        r->line = n->line;
        r->col = n->col;
        bool res = japply_test(r, operand, n->str, n->len, args, nargs);
        return jv_bool(n->op ? !res : res);
    }
    case N_SELECT: return jv_truthy(jeval(r, n->b, env)) ? jeval(r, n->a, env) : jv_undef();
    case N_TERNARY:
        return jv_truthy(jeval(r, n->a, env)) ? jeval(r, n->b, env) : jeval(r, n->c, env);
    case N_SLICE: jrun_fail(r, KW_ERR_FORMAT, "a slice a:b is only allowed inside [ ]");
    default: jrun_fail(r, KW_ERR_INTERNAL, "node kind %d is not an expression", n->kind);
    }
}

jv jeval(jrun *r, const jnode *n, jenv *env) {
    enter(r, n);
    jv v = eval_node(r, n, env);
    r->depth--;
    return v;
}

/* ---------------------------------------------------------------- calls */

static jv render_block_value(jrun *r, jnode *const *list, int n, jenv *env) {
    jbuf b = {.max = r->max_output};
    jexec_block(r, list, n, env, &b);
    return jv_str(b.p ? b.p : "", b.len);
}

static jv call_macro(jrun *r, const jfunc *f, jv *args, int nargs, jenv *env) {
    const jnode *m = f->node;
    jenv *scope = jenv_new(r->cx, env);
    jobj *kw = NULL;
    if (nargs > 0 && args[nargs - 1].t == JV_OBJECT && args[nargs - 1].sub == 1)
        kw = args[--nargs].obj;
    for (int i = 0; i < m->n2; i++) {
        const jnode *p = m->list2[i];
        jv *kv = kw ? jobj_get(kw, p->str, p->len) : NULL;
        jv v;
        if (i < nargs)
            v = args[i];
        else if (kv)
            v = *kv;
        else if (p->kind == N_KWARG)
            v = jeval(r, p->a, scope);
        else
            jrun_fail(r, KW_ERR_FORMAT, "macro '%.*s': Missing positional argument: %.*s",
                      (int)m->len, m->str, (int)p->len, p->str);
        jenv_set(r->cx, scope, p->str, p->len, v);
    }
    return render_block_value(r, m->list, m->n, scope);
}

jv jcall(jrun *r, jv fn, jv *args, int nargs, jenv *env) {
    const jfunc *f = fn.fn;
    if (f->kind == JF_MACRO) return call_macro(r, f, args, nargs, env);
    if (f->kind == JF_CALLER) {
        const jnode *cb = f->node;
        jenv *scope = jenv_new(r->cx, env);
        for (int i = 0; i < cb->n2; i++)
            jenv_set(r->cx, scope, cb->list2[i]->str, cb->list2[i]->len,
                     i < nargs ? args[i] : jv_undef());
        return render_block_value(r, cb->list, cb->n, scope);
    }
    return jbuiltin_call(r, f, args, nargs, env);
}

/* ---------------------------------------------------------------- statements */

enum { CTRL_NONE, CTRL_BREAK, CTRL_CONTINUE };

static void bind_target(jrun *r, const jnode *target, jv v, jenv *scope) {
    if (target->kind == N_IDENT) {
        jenv_set(r->cx, scope, target->str, target->len, v);
        return;
    }
    for (int j = 0; j < target->n; j++) {
        if (target->list[j]->kind != N_IDENT)
            jrun_fail(r, KW_ERR_FORMAT, "Cannot unpack to a non-name");
        jenv_set(r->cx, scope, target->list[j]->str, target->list[j]->len, v.arr->v[j]);
    }
}

static void check_unpack(jrun *r, const jnode *target, jv v) {
    if (target->kind != N_TUPLE) return;
    if (v.t != JV_ARRAY || v.sub)
        jrun_fail(r, KW_ERR_FORMAT, "Cannot unpack non-iterable type: %s", jv_type_name(v));
    if (v.arr->n != (size_t)target->n)
        jrun_fail(r, KW_ERR_FORMAT, "Too %s items to unpack",
                  (size_t)target->n > v.arr->n ? "few" : "many");
}

static jv loop_object(jrun *r, jv *items, size_t i, size_t n) {
    jv o = jv_new_object(r->cx);
    jobj *l = o.obj;
    l->e = ja_alloc(r->cx, 9 * sizeof(jentry)); /* the nine keys below, allocated once */
    l->cap = 9;
    jobj_set(r->cx, l, "index", 5, jv_int((double)i + 1));
    jobj_set(r->cx, l, "index0", 6, jv_int((double)i));
    jobj_set(r->cx, l, "revindex", 8, jv_int((double)(n - i)));
    jobj_set(r->cx, l, "revindex0", 9, jv_int((double)(n - i - 1)));
    jobj_set(r->cx, l, "first", 5, jv_bool(i == 0));
    jobj_set(r->cx, l, "last", 4, jv_bool(i + 1 == n));
    jobj_set(r->cx, l, "length", 6, jv_int((double)n));
    jobj_set(r->cx, l, "previtem", 8, i > 0 ? items[i - 1] : jv_undef());
    jobj_set(r->cx, l, "nextitem", 8, i + 1 < n ? items[i + 1] : jv_undef());
    return o;
}

static void exec_for(jrun *r, const jnode *n, jenv *env, jbuf *out) {
    jenv *scope = jenv_new(r->cx, env);
    jv it = jeval(r, n->b, scope);
    r->line = n->line;
    r->col = n->col;
    if (it.t != JV_ARRAY && it.t != JV_OBJECT)
        jrun_fail(r, KW_ERR_FORMAT, "Expected iterable or object type in for loop: got %s",
                  jv_type_name(it));
    size_t count = it.t == JV_ARRAY ? it.arr->n : it.obj->n;
    jv *items = ja_alloc(r->cx, (count + 1) * sizeof(jv));
    size_t n_items = 0;
    for (size_t i = 0; i < count; i++) {
        jv cur = it.t == JV_ARRAY ? it.arr->v[i] : jv_str(it.obj->e[i].k, it.obj->e[i].klen);
        check_unpack(r, n->a, cur);
        if (n->c) {
            jenv *ls = jenv_new(r->cx, scope);
            bind_target(r, n->a, cur, ls);
            if (!jv_truthy(jeval(r, n->c, ls))) continue;
        }
        items[n_items++] = cur;
    }
    bool none = true;
    for (size_t i = 0; i < n_items; i++) {
        jenv_set(r->cx, scope, "loop", 4, loop_object(r, items, i, n_items));
        bind_target(r, n->a, items[i], scope);
        size_t mark = out->len;
        jexec_block(r, n->list, n->n, scope, out);
        if (r->ctrl != CTRL_NONE) {
            /* the reference throws out of the body: this iteration's text is dropped */
            out->len = mark;
            if (out->p) out->p[mark] = 0;
            int c = r->ctrl;
            r->ctrl = CTRL_NONE;
            if (c == CTRL_BREAK) break;
            continue;
        }
        none = false;
    }
    if (none) jexec_block(r, n->list2, n->n2, scope, out);
}

static void exec_set(jrun *r, const jnode *n, jenv *env) {
    jv v = n->b ? jeval(r, n->b, env) : render_block_value(r, n->list, n->n, env);
    const jnode *t = n->a;
    r->line = n->line;
    r->col = n->col;
    if (t->kind == N_IDENT) {
        jenv_set(r->cx, env, t->str, t->len, v);
    } else if (t->kind == N_TUPLE) {
        if (v.t != JV_ARRAY)
            jrun_fail(r, KW_ERR_FORMAT, "Cannot unpack non-iterable type in set: %s",
                      jv_type_name(v));
        if (v.arr->n != (size_t)t->n)
            jrun_fail(r, KW_ERR_FORMAT, "Too %s items to unpack in set",
                      (size_t)t->n > v.arr->n ? "few" : "many");
        bind_target(r, t, v, env);
    } else {
        jv obj = jeval(r, t->a, env);
        if (obj.t != JV_OBJECT)
            jrun_fail(r, KW_ERR_FORMAT, "Cannot assign to member of non-object (%s)",
                      jv_type_name(obj));
        if (t->op)
            jrun_fail(r, KW_ERR_FORMAT, "Cannot assign to member with non-identifier property");
        jobj_set(r->cx, obj.obj, t->b->str, t->b->len, v);
    }
}

static void exec_node(jrun *r, const jnode *n, jenv *env, jbuf *out) {
    switch (n->kind) {
    case N_TEXT: jb_put(r->cx, out, n->str, n->len); return;
    case N_IF: {
        bool t = jv_truthy(jeval(r, n->a, env));
        if (t)
            jexec_block(r, n->list, n->n, env, out);
        else
            jexec_block(r, n->list2, n->n2, env, out);
        return;
    }
    case N_FOR: exec_for(r, n, env, out); return;
    case N_SET: exec_set(r, n, env); return;
    case N_MACRO: {
        jv f = {0};
        f.t = JV_FUNC;
        f.fn = ja_alloc(r->cx, sizeof *f.fn);
        f.fn->kind = JF_MACRO;
        f.fn->node = n;
        jenv_set(r->cx, env, n->str, n->len, f);
        return;
    }
    case N_CALLBLOCK: {
        const jnode *call = n->a;
        jv *args;
        int nargs = eval_args(r, call->list, call->n, env, &args);
        jv fn = jeval(r, call->a, env);
        if (fn.t != JV_FUNC)
            jrun_fail(r, KW_ERR_FORMAT, "Cannot call something that is not a function: got %s",
                      jv_type_name(fn));
        jv caller = {0};
        caller.t = JV_FUNC;
        caller.fn = ja_alloc(r->cx, sizeof *caller.fn);
        caller.fn->kind = JF_CALLER;
        caller.fn->node = n;
        jenv *ce = jenv_new(r->cx, env);
        jenv_set(r->cx, ce, "caller", 6, caller);
        jv res = jcall(r, fn, args, nargs, ce);
        if (res.t != JV_NULL && res.t != JV_UNDEF) jv_to_str(r->cx, out, res);
        return;
    }
    case N_FILTERBLOCK: {
        jv body = render_block_value(r, n->list, n->n, env);
        jv *args;
        int nargs = eval_args(r, n->a->list, n->a->n, env, &args);
        jv res = japply_filter(r, body, n->a->str, n->a->len, args, nargs, env);
        if (res.t != JV_NULL && res.t != JV_UNDEF) jv_to_str(r->cx, out, res);
        return;
    }
    case N_BREAK: r->ctrl = CTRL_BREAK; return;
    case N_CONTINUE: r->ctrl = CTRL_CONTINUE; return;
    default: {
        jv v = jeval(r, n, env);
        if (v.t != JV_NULL && v.t != JV_UNDEF) jv_to_str(r->cx, out, v);
        return;
    }
    }
}

void jexec_block(jrun *r, jnode *const *list, int n, jenv *env, jbuf *out) {
    for (int i = 0; i < n && r->ctrl == CTRL_NONE; i++) {
        enter(r, list[i]);
        exec_node(r, list[i], env, out);
        r->depth--;
    }
}
