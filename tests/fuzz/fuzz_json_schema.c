/* fuzz_json_schema.c - libFuzzer target for the JSON Schema converter and validator
 * (src/grammar/json_schema*.c): the input up to its first NUL byte is a schema
 * (kw_json_schema_to_gbnf), the bytes after it an instance (kw_json_schema_validate). A schema the
 * converter accepts must give GBNF that kw_grammar_create parses, and an instance that grammar
 * accepts as a complete sentence must pass the validator (the converter promises that every
 * string its grammar accepts is valid): either failing calls abort(). Any crash, sanitizer
 * report, leak or hang is a bug. `make fuzz FUZZ_TARGETS=json_schema` runs it (docs/testing.md).
 */
#include "kaiwu.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 1 << 14) return 0; /* schemas are small; keep each run fast */
    const uint8_t *nul = memchr(data, 0, size);
    const size_t slen = nul ? (size_t)(nul - data) : size;
    char *schema = malloc(slen + 1);
    if (!schema) return 0;
    memcpy(schema, data, slen);
    schema[slen] = 0;
    const char *inst = nul ? (const char *)nul + 1 : "";
    size_t ilen = nul ? size - slen - 1 : 0;
    if (ilen > 1024) ilen = 1024; /* an ambiguous grammar may keep many stacks per byte */

    char *why = NULL;
    const kw_status vs = kw_json_schema_validate(schema, inst, ilen, &why);
    free(why);
    char *gbnf = NULL;
    if (kw_json_schema_to_gbnf(schema, &gbnf) == KW_OK) {
        kw_grammar *g = NULL;
        if (kw_grammar_create(NULL, gbnf, NULL, &g) != KW_OK) {
            fprintf(stderr, "converted GBNF does not parse: %s\n%s\n", kw_last_error(), gbnf);
            abort();
        }
        kw_grammar_state *st = NULL;
        if (kw_grammar_state_create(g, &st) == KW_OK) {
            if (kw_grammar_state_accept_bytes(st, inst, ilen) == KW_OK &&
                kw_grammar_state_accepting(st) && vs == KW_ERR_FORMAT) {
                fprintf(stderr, "the grammar accepts '%.*s' but the validator rejects it\n",
                        (int)ilen, inst);
                abort();
            }
            kw_grammar_state_free(st);
        }
        kw_grammar_free(g);
    }
    free(gbnf);
    free(schema);
    return 0;
}
