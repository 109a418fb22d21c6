/* test_json_schema.c - JSON Schema to GBNF (kw_json_schema_to_gbnf) and the validator
 * (kw_json_schema_validate): every schema in tests/data/schemas converts, unsupported keywords are
 * refused with their JSON pointer, and the validator accepts and rejects instances as the schema
 * says. */
#include "kaiwu.h"
#include "test.h"

#include <stdlib.h>
#include <string.h>

static char *schema_file(const char *name) {
    char rel[128];
    snprintf(rel, sizeof rel, "schemas/%s", name);
    char *s = test_read_file(test_data_path(rel), NULL);
    if (!s) fprintf(stderr, "cannot read %s\n", rel);
    return s;
}

static const char *const SCHEMAS[] = {
    "01-flat.json",         "02-nested.json",         "03-enum.json",    "04-bounded-array.json",
    "05-prefix-items.json", "06-anyof.json",          "07-oneof.json",   "08-recursive-ref.json",
    "09-formats.json",      "10-numeric-bounds.json", "11-pattern.json", "12-tool-call.json",
    "13-chinese.json",      "14-type-union.json",     "15-allof.json",   "16-optional-only.json",
    "17-map.json",          "18-recursive-root.json"};

static void test_all_schemas_convert(void) {
    for (size_t i = 0; i < sizeof SCHEMAS / sizeof SCHEMAS[0]; i++) {
        char *s = schema_file(SCHEMAS[i]);
        CHECK(s != NULL, "schema %s is readable", SCHEMAS[i]);
        if (!s) continue;
        char *g = NULL;
        kw_status st = kw_json_schema_to_gbnf(s, &g);
        CHECK(st == KW_OK, "%s converts (%s)", SCHEMAS[i], kw_last_error());
        CHECK(g && strncmp(g, "root ::= ", 9) == 0, "%s: grammar starts with the root rule",
              SCHEMAS[i]);
        free(g);
        free(s);
    }
}

static void expect_refused(const char *schema, const char *needle) {
    char *g = (char *)1;
    kw_status st = kw_json_schema_to_gbnf(schema, &g);
    CHECK(st != KW_OK, "refused: %s", schema);
    CHECK(g == NULL, "no grammar for a refused schema");
    CHECK(strstr(kw_last_error(), needle) != NULL, "message for %s names '%s' (got: %s)", schema,
          needle, kw_last_error());
}

static void test_unsupported(void) {
    expect_refused("{\"type\":\"object\",\"properties\":{\"a\":{\"patternProperties\":{}}}}",
                   "unsupported keyword 'patternProperties' at /properties/a");
    expect_refused("{\"type\":\"array\",\"items\":{\"type\":\"string\",\"uniqueItems\":true}}",
                   "unsupported keyword 'uniqueItems' at /items");
    expect_refused("{\"anyOf\":[{\"type\":\"integer\"},{\"multipleOf\":3}]}",
                   "'multipleOf' at /anyOf/1");
    expect_refused("{\"properties\":{\"a/b\":{\"not\":{}}}}", "'not' at /properties/a~1b");
    expect_refused("{\"type\":\"string\",\"format\":\"ipv4\"}", "format 'ipv4' at /");
    expect_refused("{\"type\":\"string\",\"pattern\":\"^(?=a)b$\"}", "lookaround");
    expect_refused("{\"type\":\"string\",\"pattern\":\"a\\\\bc\"}", "unsupported escape");
    expect_refused("{\"$ref\":\"http://x/y.json\"}", "does not resolve");
    expect_refused("{\"type\":\"number\",\"minimum\":0.5}", "number bound 0.5 at /");
    expect_refused("{\"type\":\"integer\",\"minimum\":5,\"maximum\":4}", "empty");
    expect_refused("{\"enum\":[1,2],\"type\":\"string\"}", "no value of 'enum'");
    expect_refused("{\"type\":\"object\",\"properties\":{\"x\":false},\"required\":[\"x\"]}",
                   "schema false at /properties/x");
    expect_refused("not json", "json schema:");
    /* found by fuzz_json_schema: a repeated group that can match nothing is left recursion */
    expect_refused("{\"type\":\"string\",\"pattern\":\"^(foo|b{0,0})+$\"}", "left recursion");
    expect_refused("{\"anyOf\":[{\"$ref\":\"#\"},{\"type\":\"null\"}]}", "cannot be enforced");
    /* annotations are ignored */
    char *g = NULL;
    CHECK(kw_json_schema_to_gbnf("{\"title\":\"t\",\"description\":\"d\",\"$schema\":\"x\","
                                 "\"examples\":[1],\"default\":1,\"type\":\"integer\"}",
                                 &g) == KW_OK,
          "annotations ignored (%s)", kw_last_error());
    free(g);
}

static void test_integer_ranges(void) {
    /* the digit-range rule for 0..150 and -1234..56789 */
    char *g = NULL;
    CHECK(kw_json_schema_to_gbnf("{\"type\":\"integer\",\"minimum\":0,\"maximum\":150}", &g) ==
              KW_OK,
          "0..150 converts");
    CHECK(g && strstr(g, "[0-9]") && strstr(g, "\"1\""), "0..150 grammar has digit rules: %s",
          g ? g : "");
    free(g);
    g = NULL;
    CHECK(kw_json_schema_to_gbnf("{\"type\":\"string\",\"pattern\":\"^\\\"q\\\\\\\\$\"}", &g) ==
              KW_OK,
          "pattern with a quote and a backslash converts (%s)", kw_last_error());
    /* a literal '"' in the value is \" in JSON text, i.e. "\\\"" in GBNF */
    CHECK(g && strstr(g, "\"\\\\\\\"\""), "quote emitted as its JSON escape: %s", g ? g : "");
    free(g);
}

static kw_status v(const char *schema_name, const char *inst) {
    char *s = schema_file(schema_name);
    if (!s) return KW_ERR_IO;
    char *why = NULL;
    kw_status st = kw_json_schema_validate(s, inst, strlen(inst), &why);
    free(why);
    free(s);
    return st;
}

static void test_validator(void) {
    CHECK(v("01-flat.json", "{\"name\":\"a\",\"age\":3,\"active\":true}") == KW_OK, "flat ok");
    CHECK(v("01-flat.json", "{\"name\":\"a\",\"age\":151,\"active\":true}") == KW_ERR_FORMAT,
          "flat: age > maximum");
    CHECK(v("01-flat.json", "{\"name\":\"a\",\"age\":3}") == KW_ERR_FORMAT, "flat: missing");
    CHECK(v("01-flat.json", "{\"name\":\"a\",\"age\":3,\"active\":true,\"x\":1}") == KW_ERR_FORMAT,
          "flat: additional property");
    CHECK(v("01-flat.json", "{\"name\":\"a\",") == KW_ERR_FORMAT, "truncated JSON rejected");
    CHECK(v("03-enum.json", "{\"color\":\"red\",\"size\":null,\"mode\":\"fast\"}") == KW_OK,
          "enum ok");
    CHECK(v("03-enum.json", "{\"color\":\"pink\",\"size\":1,\"mode\":\"fast\"}") == KW_ERR_FORMAT,
          "enum: not a member");
    CHECK(v("04-bounded-array.json", "[1]") == KW_ERR_FORMAT, "minItems");
    CHECK(v("04-bounded-array.json", "[1,2,3,4,5,6]") == KW_ERR_FORMAT, "maxItems");
    CHECK(v("04-bounded-array.json", "[-50,50]") == KW_OK, "bounded array ok");
    CHECK(v("05-prefix-items.json", "[\"ab\",3]") == KW_OK, "prefixItems ok");
    CHECK(v("05-prefix-items.json", "[\"ab\",3,true,1]") == KW_ERR_FORMAT, "items false");
    CHECK(v("07-oneof.json", "{\"kind\":\"circle\",\"r\":3}") == KW_OK, "oneOf ok");
    CHECK(v("07-oneof.json", "{\"kind\":\"circle\",\"side\":3}") == KW_ERR_FORMAT, "oneOf none");
    CHECK(v("08-recursive-ref.json",
            "{\"value\":1,\"children\":[{\"value\":2,\"children\":[{\"value\":3}]}]}") == KW_OK,
          "recursive ok");
    CHECK(v("08-recursive-ref.json", "{\"value\":1,\"children\":[{\"value\":-2}]}") ==
              KW_ERR_FORMAT,
          "recursive: nested violation");
    CHECK(v("09-formats.json",
            "{\"day\":\"2024-02-29\",\"at\":\"12:30:00Z\",\"when\":\"2024-01-01T00:00:00+08:00\","
            "\"id\":\"123e4567-e89b-12d3-a456-426614174000\",\"mail\":\"a.b@example.com\"}") ==
              KW_OK,
          "formats ok");
    CHECK(v("09-formats.json",
            "{\"day\":\"2023-02-29\",\"at\":\"12:30:00Z\",\"when\":\"2024-01-01T00:00:00Z\","
            "\"id\":\"123e4567-e89b-12d3-a456-426614174000\",\"mail\":\"a@b.co\"}") ==
              KW_ERR_FORMAT,
          "2023-02-29 is not a date");
    CHECK(v("09-formats.json",
            "{\"day\":\"2023-02-28\",\"at\":\"12:30:00\",\"when\":\"2024-01-01T00:00:00Z\","
            "\"id\":\"123e4567-e89b-12d3-a456-426614174000\",\"mail\":\"a@b.co\"}") ==
              KW_ERR_FORMAT,
          "a time needs a timezone");
    CHECK(v("10-numeric-bounds.json",
            "{\"a\":-1234,\"b\":19,\"c\":-4.5,\"d\":0.25,\"e\":1000000}") == KW_OK,
          "bounds ok");
    CHECK(v("10-numeric-bounds.json", "{\"a\":0,\"b\":20,\"c\":0,\"d\":0.5,\"e\":1000000}") ==
              KW_ERR_FORMAT,
          "exclusiveMaximum");
    CHECK(v("11-pattern.json", "{\"code\":\"AB-123\",\"word\":\"foobaz.x\",\"hexcolor\":"
                               "\"#00ffAA\"}") == KW_OK,
          "pattern ok");
    CHECK(v("11-pattern.json", "{\"code\":\"A-123\",\"word\":\"foo\",\"hexcolor\":"
                               "\"#00ffAA\"}") == KW_ERR_FORMAT,
          "pattern mismatch");
    CHECK(v("13-chinese.json", "{\"姓名\":\"张三\",\"城市\":\"北京\",\"年龄\":30,\"备注\":"
                               "\"很好\"}") == KW_OK,
          "Chinese ok");
    CHECK(v("13-chinese.json", "{\"姓名\":\"张三\",\"城市\":\"广州\",\"年龄\":30}") ==
              KW_ERR_FORMAT,
          "Chinese enum mismatch");
    CHECK(v("13-chinese.json", "{\"姓名\":\"一二三四五六七八九十一\",\"城市\":\"北京\",\"年龄\":"
                               "30}") == KW_ERR_FORMAT,
          "maxLength counts characters (11 > 10)");
    CHECK(v("15-allof.json", "{\"id\":5,\"label\":\"x\"}") == KW_OK, "allOf ok");
    CHECK(v("15-allof.json", "{\"id\":5}") == KW_ERR_FORMAT, "allOf: second branch");
    CHECK(v("18-recursive-root.json", "{\"name\":\"a\",\"next\":{\"name\":\"b\",\"next\":null}}") ==
              KW_OK,
          "recursive root ok");
    char *why = NULL;
    kw_status st = kw_json_schema_validate("{\"properties\":{\"a\":{\"uniqueItems\":true}}}",
                                           "{\"a\":[1]}", 9, &why);
    CHECK(st == KW_ERR_UNSUPPORTED, "validator refuses an unsupported keyword");
    CHECK(why && strstr(why, "uniqueItems") && strstr(why, "/a"), "names it: %s", why ? why : "");
    free(why);
}

int main(void) {
    RUN_TEST(test_all_schemas_convert);
    RUN_TEST(test_unsupported);
    RUN_TEST(test_integer_ranges);
    RUN_TEST(test_validator);
    return test_report();
}
