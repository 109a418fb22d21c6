/* json_schema.h - JSON Schema (a stated subset) to GBNF, and a validator for the same subset.
 *
 * Public entry points are kw_json_schema_to_gbnf and kw_json_schema_validate (include/kaiwu.h);
 * docs/structured-output.md lists the keywords, the regex subset and the whitespace rule. Layer:
 * grammar (uses base and jansson; nothing above it).
 */
#ifndef KAIWU_GRAMMAR_JSON_SCHEMA_H
#define KAIWU_GRAMMAR_JSON_SCHEMA_H

#include "kaiwu.h"

#include <jansson.h>

/* Validates an already parsed instance against an already parsed schema (root is the document the
 * "$ref"s resolve in). On a mismatch returns KW_ERR_FORMAT and, when why is not NULL, stores a
 * malloc'd message naming the instance pointer and the keyword (caller frees). */
kw_status kw_json_schema_validate_value(json_t *root, json_t *schema, json_t *instance, char **why);

#endif
