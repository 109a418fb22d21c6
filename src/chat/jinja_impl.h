/* jinja_impl.h - internals shared by the files of the Jinja engine: the arena, the error jump,
 * growable buffers, the value type, the AST and the entry points of lexer, parser, evaluator.
 *
 * Memory: everything a parse or a render makes lives in one arena freed at the end, so values
 * may alias freely (mappings are shared by reference, as in the reference interpreter) and an
 * error can unwind with longjmp without leaking.
 * Must not be included outside src/chat/.
 */
#ifndef KAIWU_CHAT_JINJA_IMPL_H
#define KAIWU_CHAT_JINJA_IMPL_H

#include "chat/jinja.h"

#include <setjmp.h>
#include <stdarg.h>

/* ---------------------------------------------------------------- arena, errors */

typedef struct ja_chunk {
    struct ja_chunk *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
} ja_chunk;

typedef struct jctx {
    ja_chunk *chunks;
    size_t total;     /* bytes held by the arena */
    size_t limit;     /* most bytes the arena may hold before the work fails */
    jmp_buf jb;       /* where jfail() unwinds to */
    kw_status status; /* first error */
    char msg[600];
} jctx;

void jctx_init(jctx *cx, size_t limit);
void jctx_free(jctx *cx);
void *ja_alloc(jctx *cx, size_t n); /* zeroed; never NULL (fails through jfail) */
void *ja_grow(jctx *cx, void *p, size_t old_n, size_t new_n);
char *ja_strndup(jctx *cx, const char *s, size_t n);
_Noreturn void jfail(jctx *cx, kw_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A growable byte string in the arena. */
typedef struct jbuf {
    char *p;
    size_t len, cap;
    size_t max; /* output limit (0: none) */
} jbuf;
void jb_put(jctx *cx, jbuf *b, const char *s, size_t n);
void jb_puts(jctx *cx, jbuf *b, const char *s);
void jb_putc(jctx *cx, jbuf *b, char c);

/* ---------------------------------------------------------------- values */

typedef enum jv_type {
    JV_UNDEF,
    JV_NULL,
    JV_BOOL,
    JV_INT,
    JV_FLOAT,
    JV_STR,
    JV_ARRAY,
    JV_OBJECT,
    JV_FUNC,
} jv_type;

struct jarr;
struct jobj;
struct jfunc;

typedef struct jv {
    uint8_t t;   /* jv_type */
    uint8_t sub; /* JV_ARRAY: 1 = tuple; JV_OBJECT: 1 = keyword arguments / namespace */
    union {
        bool b;
        double n; /* JV_INT and JV_FLOAT: JavaScript numbers are doubles */
        struct {
            const char *p;
            size_t len;
        } s;
        struct jarr *arr;
        struct jobj *obj;
        struct jfunc *fn;
    };
} jv;

typedef struct jarr {
    jv *v;
    size_t n, cap;
} jarr;

typedef struct jentry {
    const char *k;
    size_t klen;
    jv v;
} jentry;

typedef struct jobj {
    jentry *e; /* insertion order */
    size_t n, cap;
} jobj;

struct jnode;
struct jenv;

typedef struct jfunc {
    int kind;                 /* jfn_kind */
    jv self;                  /* bound receiver of a method */
    const struct jnode *node; /* macro or call block */
    struct jenv *env;         /* call block: the environment it was written in */
} jfunc;

enum jfn_kind {
    JF_MACRO = 1,
    JF_CALLER,
    JF_RANGE,
    JF_NAMESPACE,
    JF_RAISE,
    JF_STRFTIME,
    JF_STR_METHOD, /* name in self? no: method id below + JF_METHOD_BASE */
};
#define JF_METHOD_BASE 100 /* kind = JF_METHOD_BASE + method id (see jinja_builtins.c) */

static inline jv jv_undef(void) {
    jv v = {0};
    v.t = JV_UNDEF;
    return v;
}
static inline jv jv_null(void) {
    jv v = {0};
    v.t = JV_NULL;
    return v;
}
static inline jv jv_bool(bool b) {
    jv v = {0};
    v.t = JV_BOOL;
    v.b = b;
    return v;
}
static inline jv jv_int(double n) {
    jv v = {0};
    v.t = JV_INT;
    v.n = n;
    return v;
}
static inline jv jv_float(double n) {
    jv v = {0};
    v.t = JV_FLOAT;
    v.n = n;
    return v;
}
static inline jv jv_str(const char *p, size_t len) {
    jv v = {0};
    v.t = JV_STR;
    v.s.p = p;
    v.s.len = len;
    return v;
}
static inline bool jv_isnum(jv v) { return v.t == JV_INT || v.t == JV_FLOAT; }

jv jv_cstr(const char *s); /* s must outlive the value (static or arena) */
jv jv_new_array(jctx *cx, size_t cap);
jv jv_new_object(jctx *cx);
void jarr_push(jctx *cx, jarr *a, jv v);
jv *jobj_get(const jobj *o, const char *k, size_t klen); /* NULL when absent */
void jobj_set(jctx *cx, jobj *o, const char *k, size_t klen, jv v);

const char *jv_type_name(jv v); /* the reference's names: "StringValue", "ArrayValue", ... */
bool jv_truthy(jv v);           /* Python truthiness as the reference's __bool__ */
bool jv_loose_eq(jv a, jv b);   /* JavaScript `a.value == b.value` */
bool jv_strict_eq(jv a, jv b);  /* JavaScript `a.value === b.value` */

/* Text forms. jv_to_str: RuntimeValue.toString() (what {{ }} prints: lists and mappings as
 * JSON). jv_to_raw: JavaScript `value.toString()` of the underlying value (what `+` and `~`
 * use: a list joins its items with ",", a mapping is "[object Map]"). */
void jv_to_str(jctx *cx, jbuf *b, jv v);
void jv_to_raw(jctx *cx, jbuf *b, jv v);
jv jv_stringify(jctx *cx, jv v); /* jv_to_str as a string value */
/* The reference's toJSON (indent < 0: one line with ", " and ": "). Fails on functions. */
void jv_to_json(jctx *cx, jbuf *b, jv v, int indent, int depth);
void js_number_str(double n, char out[40]);                      /* Number.prototype.toString() */
void js_json_string(jctx *cx, jbuf *b, const char *s, size_t n); /* JSON.stringify(string) */

/* Imports a parsed JSON value (jansson json_t *) as a value. */
jv jv_from_json(jctx *cx, const void *json, int depth);

/* JavaScript string helpers over UTF-8 */
size_t js_space_len(const char *s, size_t n, size_t i); /* bytes of a /\s/ char at i, or 0 */
size_t js_space_len_before(const char *s, size_t i);    /* bytes of a /\s/ char ending at i */
size_t js_utf16_len(const char *s, size_t n);

/* ---------------------------------------------------------------- AST */

typedef enum jn_kind {
    /* statements */
    N_TEXT,
    N_IF,
    N_FOR,
    N_SET,
    N_MACRO,
    N_CALLBLOCK,
    N_FILTERBLOCK,
    N_BREAK,
    N_CONTINUE,
    /* expressions */
    N_STR,
    N_NUM,
    N_ARRAY,
    N_TUPLE,
    N_OBJECT,
    N_IDENT,
    N_MEMBER,
    N_SLICE,
    N_CALL,
    N_UNARY,
    N_BINARY,
    N_FILTER,
    N_TEST,
    N_SELECT,
    N_TERNARY,
    N_KWARG,
} jn_kind;

typedef enum jop {
    OP_NONE,
    OP_ADD,
    OP_SUB,
    OP_CONCAT,
    OP_MUL,
    OP_DIV,
    OP_FLOORDIV,
    OP_MOD,
    OP_POW,
    OP_EQ,
    OP_NE,
    OP_LT,
    OP_GT,
    OP_LE,
    OP_GE,
    OP_IN,
    OP_NOTIN,
    OP_AND,
    OP_OR,
    OP_NOT,
    OP_NEG,
    OP_POS,
} jop;

typedef struct jnode {
    uint8_t kind;    /* jn_kind */
    uint8_t op;      /* jop for N_BINARY/N_UNARY; N_MEMBER: 1 = computed ([...]); N_TEST: negate;
                        N_NUM: 1 = float literal */
    int line, col;   /* 1-based, in the original template source */
    const char *str; /* N_TEXT/N_STR text, N_IDENT/N_KWARG/N_FILTER/N_TEST name, N_MACRO name */
    size_t len;
    double num;
    struct jnode *a, *b, *c; /* children, see the parser for each kind */
    struct jnode **list;     /* body, arguments, elements, object keys */
    int n;
    struct jnode **list2; /* else branch, object values, filter/test arguments */
    int n2;
} jnode;

/* ---------------------------------------------------------------- lexer, parser */

typedef enum jtok_kind {
    T_EOF,
    T_TEXT,
    T_COMMENT,
    T_OPEN_STMT,
    T_CLOSE_STMT,
    T_OPEN_EXPR,
    T_CLOSE_EXPR,
    T_NUM,
    T_STR,
    T_IDENT,
    T_EQUALS,
    T_LPAREN,
    T_RPAREN,
    T_LBRACE,
    T_RBRACE,
    T_LBRACKET,
    T_RBRACKET,
    T_COMMA,
    T_DOT,
    T_COLON,
    T_PIPE,
    T_ADDOP,
    T_MULOP,
    T_CMPOP,
    T_UNARY,
} jtok_kind;

typedef struct jtok {
    uint8_t kind;
    const char *s; /* arena copy (strings unescaped) */
    size_t len;
    int line, col;
} jtok;

typedef struct jtoks {
    jtok *v;
    size_t n, cap;
} jtoks;

void jinja_lex(jctx *cx, const char *src, size_t len, jtoks *out);
jnode *jinja_parse_tokens(jctx *cx, const jtoks *toks); /* returns the program (N_TEXT-less
                                                            list holder: kind N_IF unused) */

/* ---------------------------------------------------------------- evaluator */

typedef struct jvar {
    const char *name;
    size_t len;
    jv v;
} jvar;

typedef struct jenv {
    struct jenv *parent;
    jvar *v;
    size_t n, cap;
} jenv;

typedef struct jrun {
    jctx *cx;
    jenv *globals;
    int depth;      /* current evaluation nesting (limited) */
    uint64_t steps; /* evaluation steps so far (limited) */
    size_t max_output;
    int64_t now;
    bool now_utc;
    int line, col; /* the node being evaluated, for error messages */
    int ctrl;      /* a pending break (1) or continue (2) */
} jrun;

jenv *jenv_new(jctx *cx, jenv *parent);
void jenv_set(jctx *cx, jenv *e, const char *name, size_t len, jv v);
jv jenv_lookup(const jenv *e, const char *name, size_t len);

_Noreturn void jrun_fail(jrun *r, kw_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
jv jeval(jrun *r, const jnode *n, jenv *env);
void jexec_block(jrun *r, jnode *const *list, int n, jenv *env, jbuf *out);
/* Calls a function value with positional args (kwargs, when any, last as a JV_OBJECT sub=1). */
jv jcall(jrun *r, jv fn, jv *args, int nargs, jenv *env);

/* builtins (jinja_builtins.c) */
jv jbuiltin_member(jrun *r, jv obj, const char *name, size_t len); /* undefined when none */
jv jbuiltin_call(jrun *r, const jfunc *f, jv *args, int nargs, jenv *env);
jv japply_filter(jrun *r, jv operand, const char *name, size_t len, jv *args, int nargs, jenv *env);
bool japply_test(jrun *r, jv operand, const char *name, size_t len, jv *args, int nargs);
void jinja_setup_globals(jrun *r, jenv *g);
jv jslice(jrun *r, jv obj, jv start, jv stop, jv step);

/* strings and mappings (jinja_strings.c) */
jv jstr_map_case(jrun *r, jv s, int mode);                     /* 0: lower, 1: upper */
jv jstr_strip(jrun *r, jv s, int which, const jv *chars);      /* which: 1 left, 2 right, 3 both */
jv jstr_replace(jrun *r, jv s, jv old, jv new_, double count); /* count < 0: all */
jv jobj_items(jrun *r, jv o);
jv jmethod_call(jrun *r, int method, jv self, jv *args, int nargs);

#endif
