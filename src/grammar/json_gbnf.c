/* json_gbnf.c - the built-in GBNF grammar for "any JSON object" (kaiwu run --json).
 *
 * Relies on: nothing. Strings are UTF-8 text without control characters; \u escapes stay out of
 * the surrogate range D800-DFFF (a lone surrogate is not valid JSON text for strict parsers);
 * numbers have at most 16 integer digits and a two-digit exponent, so every number fits a double.
 * Whitespace: none, one space, or a newline with up to 20 spaces/tabs of indentation, so that
 * output cannot run away in blank space.
 */
#include "kaiwu.h"

static const char json_gbnf[] =
    "# any JSON object (kaiwu's built-in json.gbnf)\n"
    "root   ::= object\n"
    "value  ::= object | array | string | number | (\"true\" | \"false\" | \"null\") ws\n"
    "object ::= \"{\" ws ( string \":\" ws value (\",\" ws string \":\" ws value)* )? \"}\" ws\n"
    "array  ::= \"[\" ws ( value (\",\" ws value)* )? \"]\" ws\n"
    "string ::= \"\\\"\" ( [^\"\\\\\\x7F\\x00-\\x1F] | \"\\\\\" ( [\"\\\\/bfnrt] |\n"
    "             \"u\" [0-9a-cA-Ce-fE-F] [0-9a-fA-F]{3} ) )* \"\\\"\" ws\n"
    "number ::= \"-\"? ( [0-9] | [1-9] [0-9]{1,15} ) ( \".\" [0-9]{1,16} )?\n"
    "             ( [eE] [-+]? [0-9]{1,2} )? ws\n"
    "ws     ::= | \" \" | \"\\n\" [ \\t]{0,20}\n";

const char *kw_grammar_json(void) { return json_gbnf; }
