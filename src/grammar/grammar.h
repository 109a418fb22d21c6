/* grammar.h - internals of the grammar engine (src/grammar/): the compiled rule form the GBNF
 * parser (gbnf.c) produces and the matcher (grammar.c) runs.
 *
 * A grammar is a flat array of elements. Rule r starts at elems[rule_start[r]]: its alternatives
 * follow one another, each a sequence of elements ended by G_ALT (another alternative follows) or
 * G_END (the last one). A character class is one G_CHAR / G_CHAR_NOT element followed by
 * G_CHAR_RNG_UPPER (makes the previous value the low end of a range) and G_CHAR_ALT (one more
 * code point or range) elements. Groups and repetitions become generated rules. Matching works on
 * code points; token bytes are decoded as UTF-8 one byte at a time, so a token may end in the
 * middle of a character (see grammar.c).
 */
#ifndef KAIWU_GRAMMAR_H
#define KAIWU_GRAMMAR_H

#include "kaiwu.h"

#include <stdint.h>

enum {
    G_END = 0,        /* end of the rule's last alternative */
    G_ALT,            /* end of an alternative, another follows */
    G_RULE,           /* value: rule index */
    G_CHAR,           /* value: code point; starts a class */
    G_CHAR_NOT,       /* value: code point; starts a negated class */
    G_CHAR_RNG_UPPER, /* value: upper end of a range started by the previous element */
    G_CHAR_ALT,       /* value: one more code point of the class */
    G_CHAR_ANY,       /* any code point (the '.') */
};

typedef struct gelem {
    uint32_t type;
    uint32_t value;
} gelem;

/* The parsed grammar, without any token table. */
typedef struct gbnf {
    gelem *elems; /* (n_elems) owned */
    int32_t n_elems;
    int32_t *rule_start; /* (n_rules) index into elems, owned */
    int32_t n_rules;
    int32_t root; /* rule index of the start rule */
} gbnf;

/* Parses NUL-terminated GBNF text; root names the start rule (NULL = "root"). On success fills
 * *out (free with gbnf_free). Errors: KW_ERR_INVALID_ARG with "grammar: line L, column C: ..."
 * (syntax, bad escape, undefined rule, empty grammar, missing root, left recursion). */
kw_status gbnf_parse(const char *text, const char *root, gbnf *out);
void gbnf_free(gbnf *g);

/* Whether the element starts a character class (is a terminal). */
static inline int gelem_is_char(uint32_t t) {
    return t == G_CHAR || t == G_CHAR_NOT || t == G_CHAR_ANY;
}
static inline int gelem_is_end(uint32_t t) { return t == G_END || t == G_ALT; }

/* The allowed-token bitset (bit t set = token t allowed next) for the state's current position,
 * computed or taken from the state's cache; NULL (error set) when the grammar has no token table.
 * The pointer is valid until the next call on the state. */
const uint8_t *grammar_state_allowed(kw_grammar_state *st);

#endif
