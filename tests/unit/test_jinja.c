/* test_jinja.c - unit tests of the Jinja engine (src/chat): each construct renders as
 * @huggingface/jinja 0.5.11 would, and every bad template or runaway evaluation fails with a
 * message naming the construct and its line:column instead of crashing.
 */
#include "../test.h"
#include "chat/jinja.h"
#include "kaiwu.h"

#include <stdlib.h>
#include <string.h>

/* Renders src with the JSON context (NULL: none); returns the text (caller frees) or NULL. */
static char *render(const char *src, const char *ctx) {
    jinja_template *t;
    if (jinja_template_parse(src, strlen(src), &t) != KW_OK) return NULL;
    char *out = NULL;
    jinja_render_opts opts = {.now = 1741338300, .now_utc = true};
    kw_status st = jinja_template_render(t, ctx, &opts, &out, NULL);
    jinja_template_free(t);
    return st == KW_OK ? out : NULL;
}

#define EXPECT(src, ctx, want)                                                                     \
    do {                                                                                           \
        char *got_ = render(src, ctx);                                                             \
        CHECK(got_ &&strcmp(got_, want) == 0, "%s renders \"%s\" (got \"%s\"; error: %s)", src,    \
              want, got_ ? got_ : "(null)", got_ ? "" : kw_last_error());                          \
        free(got_);                                                                                \
    } while (0)

/* The template must fail and the message must contain each fragment. */
#define EXPECT_ERROR(src, ctx, frag1, frag2)                                                       \
    do {                                                                                           \
        char *got_ = render(src, ctx);                                                             \
        CHECK(got_ == NULL, "%s fails (rendered \"%s\")", src, got_ ? got_ : "");                  \
        CHECK(got_ || (strstr(kw_last_error(), frag1) && strstr(kw_last_error(), frag2)),          \
              "%s: error names '%s' and '%s' (got: %s)", src, frag1, frag2, kw_last_error());      \
        free(got_);                                                                                \
    } while (0)

static void test_jinja_renders_text_and_expressions(void) {
    EXPECT("hello", NULL, "hello");
    EXPECT("a\n", NULL, "a"); /* one trailing newline is dropped */
    EXPECT("{{ 'x' + \"y\" }}", NULL, "xy");
    EXPECT("{{ 1 + 2 }}|{{ 7 / 2 }}|{{ 7 % 3 }}|{{ 2 * 3 }}|{{ 4 // 3 }}|{{ 2 ** 3 }}", NULL,
           "3|3.5|1|6|1|8");
    EXPECT("{{ 1.0 }}|{{ 2.5 }}|{{ 1.5 + 1.5 }}|{{ -3 }}|{{ 10 / 5 }}", NULL, "1.0|2.5|3.0|-3|2.0");
    EXPECT("{{ 'a' ~ 1 ~ true }}", NULL, "a1true");
    EXPECT("{{ none }}{{ undefined_var }}|{{ true }}|{{ True }}", NULL, "|true|true");
    EXPECT("{{ [1, 'a', none] }}|{{ {'k': [1, 2]} }}", NULL, "[1, \"a\", null]|{\"k\": [1, 2]}");
    EXPECT("{{ 'x' + ['a', 'b'] }}", NULL, "xa,b");
    EXPECT("{{ 'x' + {'a': 1} }}", NULL, "x[object Map]");
    EXPECT("{{ 'a' if true else 'b' }}{{ 'c' if false else 'd' }}{{ 'e' if false }}", NULL, "ad");
    EXPECT("{{ 'ab' in 'cabd' }}{{ 2 in [1, 2] }}{{ 'k' in {'k': 1} }}{{ 3 not in [3] }}", NULL,
           "truetruetruefalse");
    EXPECT("{{ 1 == 1.0 }}{{ '1' == 1 }}{{ none == undefined_x }}{{ [] == [] }}", NULL,
           "truetruetruefalse");
    EXPECT("{{ not [] }}{{ not 'a' }}{{ 0 or 'z' }}{{ 1 and 2 }}", NULL, "truefalsez2");
    EXPECT("{{ 'a' 'b' }}", NULL, "ab");
}

static void test_jinja_handles_unicode_like_javascript(void) {
    /* length counts UTF-16 units; slices count code points (Array.from) */
    EXPECT("{{ '你好世界'|length }}|{{ '你好世界'[1:3] }}|{{ '你好'[0] }}|{{ '😀a'|length }}", NULL,
           "4|好世|你|3");
    EXPECT("{{ 'abcdef'[::2] }}|{{ 'abc'[::-1] }}|{{ [1,2,3,4][-2:] }}|{{ [1,2,3][:-1] }}", NULL,
           "ace|cba|[3, 4]|[1, 2]");
    EXPECT("{{ {'名': '值'}|tojson }}", NULL, "{\"名\": \"值\"}");
    EXPECT("{{ 'Straße'|upper }}|{{ 'ÀÉ'|lower }}", NULL, "STRASSE|àé");
}

static void test_jinja_runs_statements(void) {
    EXPECT("{% if 0 %}a{% elif '' %}b{% elif [1] %}c{% else %}d{% endif %}", NULL, "c");
    EXPECT("{% for x in [1, 2, 3] %}{{ loop.index }}{{ x }}{% if not loop.last %},{% endif %}{% "
           "endfor %}",
           NULL, "11,22,33");
    EXPECT(
        "{% for x in 'abc'|list %}{{ loop.index0 }}{{ loop.revindex }}{{ loop.first }}{% endfor %}",
        NULL, "03true12false21false");
    EXPECT("{% for x in [1, 2] %}{{ loop.previtem }}/{{ loop.nextitem }};{% endfor %}", NULL,
           "/2;1/;");
    EXPECT("{% for k, v in {'a': 1, 'b': 2}.items() %}{{ k }}={{ v }};{% endfor %}", NULL,
           "a=1;b=2;");
    EXPECT("{% for k in {'b': 1, 'a': 2} %}{{ k }}{% endfor %}", NULL, "ba");
    EXPECT("{% for x in [] %}a{% else %}empty{% endfor %}", NULL, "empty");
    EXPECT("{% for x in [1, 2, 3, 4] if x is even %}{{ x }}{{ loop.length }}{% endfor %}", NULL,
           "2242");
    EXPECT("{% for x in [1, 2, 3] %}{% if x == 2 %}{% break %}{% endif %}{{ x }}{% endfor %}", NULL,
           "1");
    EXPECT("{% for x in [1, 2, 3] %}{% if x == 2 %}{% continue %}{% endif %}{{ x }}{% endfor %}",
           NULL, "13");
    EXPECT("{% set x = 5 %}{% for i in [1] %}{% set x = 6 %}{% endfor %}{{ x }}", NULL, "5");
    EXPECT(
        "{% set ns = namespace(x=5) %}{% for i in [1] %}{% set ns.x = 6 %}{% endfor %}{{ ns.x }}",
        NULL, "6");
    EXPECT("{% set a, b = [1, 2] %}{{ b }}{{ a }}", NULL, "21");
    EXPECT("{% set s %}in{{ 1 + 1 }}{% endset %}[{{ s }}]", NULL, "[in2]");
    EXPECT("{% macro m(a, b='d') %}{{ a }}-{{ b }}{% endmacro %}{{ m(1) }}|{{ m(1, 2) }}|{{ m(1, "
           "b=3) }}",
           NULL, "1-d|1-2|1-3");
    EXPECT("{% macro w() %}<{{ caller() }}>{% endmacro %}{% call w() %}in{% endcall %}", NULL,
           "<in>");
    EXPECT("{% filter upper %}abc{% endfilter %}", NULL, "ABC");
    EXPECT("{# comment #}x{{ range(3)|join(',') }}|{{ range(1, 7, 2)|list }}", NULL,
           "x0,1,2|[1, 3, 5]");
}

static void test_jinja_controls_whitespace(void) {
    EXPECT("a  {%- if true -%}  b  {%- endif -%}  c", NULL, "abc");
    EXPECT("a  {{- 'x' -}}  c", NULL, "axc");
    EXPECT("a\n  {% if true %}\nb\n  {% endif %}\nc", NULL, "a\nb\nc"); /* lstrip + trim blocks */
    EXPECT("a {#- c -#} b", NULL, "ab");
    EXPECT("{{ 'x' }}\ny", NULL, "x\ny"); /* trim_blocks does not touch }} */
}

static void test_jinja_applies_filters(void) {
    EXPECT("{{ '  a b  '|trim }}|{{ 'ab'|upper }}|{{ 'AB'|lower }}|{{ 'hello world'|title }}|{{ "
           "'abc'|capitalize }}",
           NULL, "a b|AB|ab|Hello World|Abc");
    EXPECT("{{ [3, 1, 2]|sort }}|{{ [1, 2]|reverse }}|{{ [1, 1, 2]|unique }}|{{ [1, 2]|first }}{{ "
           "[1, 2]|last }}",
           NULL, "[1, 2, 3]|[2, 1]|[1, 2]|12");
    EXPECT("{{ ['a', 'b']|join('-') }}|{{ [1, none, 'x']|join }}|{{ 'x'|default('y') }}{{ "
           "u|default('y') }}{{ ''|d('z', true) }}",
           NULL, "a-b|1x|xyz");
    EXPECT("{{ {'b': 1, 'a': 2}|dictsort }}|{{ {'a': 1}|items }}|{{ {'a': 1}|length }}", NULL,
           "[[\"a\", 2], [\"b\", 1]]|[[\"a\", 1]]|1");
    EXPECT("{{ [{'t': 'a'}, {'t': 'b'}, {'u': 1}]|selectattr('t', 'equalto', 'b')|list }}", NULL,
           "[{\"t\": \"b\"}]");
    EXPECT("{{ [{'t': 'a'}, {'t': 'b'}]|rejectattr('t', 'equalto', 'b')|map(attribute='t')|list }}",
           NULL, "[\"a\"]");
    EXPECT("{{ [1, 2, 3, 4]|select('odd')|list }}{{ [1, 2, 3]|reject('equalto', 2)|list }}", NULL,
           "[1, 3][1, 3]");
    EXPECT("{{ ['a', 'b']|map('upper')|list }}", NULL, "[\"A\", \"B\"]");
    EXPECT("{{ 'a\nb\n\nc'|indent(2) }}|{{ 'a\nb'|indent(2, first=true) }}", NULL,
           "a\n  b\n\n  c|  a\n  b");
    EXPECT("{{ '42'|int + 1 }}|{{ 'x'|int }}|{{ '2.5'|float }}|{{ -3|abs }}|{{ 2.567|round(2) "
           "}}|{{ 3|string ~ 'x' }}",
           NULL, "43|0|2.5|3|2.57|3x");
    EXPECT("{{ 'a-b'|replace('-', '+') }}|{{ 'x'|safe }}|{{ [1,2,3,4,5]|batch(2)|list }}", NULL,
           "a+b|x|[[1, 2], [3, 4], [5]]");
    EXPECT("{{ {'a': [1, {'b': 'c'}], 'e': {}}|tojson(indent=2) }}", NULL,
           "{\n  \"a\": [\n    1,\n    {\n      \"b\": \"c\"\n    }\n  ],\n  \"e\": {\n  }\n}");
    EXPECT("{{ 'q\"\\\\\n\t'|tojson }}|{{ 1.5|tojson }}|{{ none|tojson }}", NULL,
           "\"q\\\"\\\\\\n\\t\"|1.5|null");
}

static void test_jinja_applies_tests_and_methods(void) {
    EXPECT("{{ x is defined }}{{ y is undefined }}{{ none is none }}{{ 'a' is string }}{{ {} is "
           "mapping }}",
           "{\"x\": 1}", "truetruetruetruetrue");
    EXPECT("{{ [1] is iterable }}{{ 'a' is sequence }}{{ 1 is number }}{{ 1 is integer }}{{ true "
           "is boolean }}",
           NULL, "truetruetruetruetrue");
    EXPECT("{{ true is true }}{{ false is false }}{{ 3 is odd }}{{ 4 is even }}{{ 6 is "
           "divisibleby(3) }}{{ 1 is not none }}",
           NULL, "truetruetruetruetruetrue");
    EXPECT("{{ range is callable }}{{ 2 is in([1, 2]) }}{{ 'a' is eq('a') }}", NULL,
           "truetruetrue");
    EXPECT("{{ 'a,b,,c'.split(',') }}|{{ ' a  b '.split() }}|{{ 'a,b,c'.split(',', 1) }}", NULL,
           "[\"a\", \"b\", \"\", \"c\"]|[\"a\", \"b\"]|[\"a\", \"b,c\"]");
    EXPECT("{{ 'xxhixx'.strip('x') }}|{{ '  hi '.lstrip() }}|{{ 'hi\n\n'.rstrip('\n') }}|{{ "
           "'abc'.startswith('ab') }}{{ 'abc'.endswith(('x', 'c')) }}",
           NULL, "hi|hi |hi|truetrue");
    /* A strip character before a lone continuation byte: the right-hand strip used to step back
     * past the left-hand one (length SIZE_MAX, a crash in the renderer). */
    EXPECT("{{ 'x\x9d'.strip('x') }}|{{ 'x\x9d'|trim('x') }}|{{ '\x9dx'.strip('x') }}|{{ "
           "'x\x9d'.rstrip('x') }}",
           NULL, "\x9d|\x9d|\x9d|x\x9d");
    EXPECT("{{ 'aXbX'.replace('X', '-', 1) }}|{{ 'abab'.count('ab') }}|{{ 'abc'.find('c') }}|{{ "
           "'ab'.upper() }}",
           NULL, "a-bX|2|2|AB");
    EXPECT("{{ d.get('a') }}|{{ d.get('z', 'def') }}|{{ d.get('z') }}|{{ d.keys()|list }}|{{ "
           "d.values()|list }}",
           "{\"d\": {\"a\": 1, \"b\": [2]}}", "1|def||[\"a\", \"b\"]|[1, [2]]");
    EXPECT("{{ strftime_now('%Y-%m-%d %H:%M %b %B %%') }}", NULL, "2025-03-07 09:05 Mar March %");
}

static void test_jinja_reads_context_json(void) {
    EXPECT(
        "{% for m in messages %}{{ m.role }}:{{ m['content'] }};{% endfor %}{{ messages|length }}",
        "{\"messages\": [{\"role\": \"user\", \"content\": \"你好\"}, {\"role\": \"assistant\", "
        "\"content\": \"hi\"}]}",
        "user:你好;assistant:hi;2");
    EXPECT("{{ n }}|{{ f }}|{{ n|tojson }}|{{ obj|tojson }}",
           "{\"n\": 3.0, \"f\": 0.1, \"obj\": {\"z\": 1, \"a\": 2}}",
           "3|0.1|3|{\"z\": 1, \"a\": 2}");
    EXPECT("{{ big }}|{{ small }}", "{\"big\": 1e21, \"small\": 1e-7}", "1e+21|1e-7");
}

static void test_jinja_reports_errors_with_positions(void) {
    EXPECT_ERROR("line1\n{{ x|frobnicate }}", "{\"x\": \"s\"}", "frobnicate", "line 2:");
    EXPECT_ERROR("{{ [1]|trim }}", NULL, "Unknown ArrayValue filter: trim", "line 1:");
    EXPECT_ERROR("{% if true %}never closed", NULL, "'if' block is never closed", "line 1:1");
    EXPECT_ERROR("{% for x in y %}a", NULL, "never closed", "endfor");
    EXPECT_ERROR("a\n\n  {% endif %}", NULL, "without an open block", "line 3:");
    EXPECT_ERROR("{% raw %}x{% endraw %}", NULL, "unsupported", "raw");
    EXPECT_ERROR("{{ 'unterminated }}", NULL, "never closed", "line 1:4");
    EXPECT_ERROR("{{ 'a\\q' }}", NULL, "escaped character", "line 1:");
    EXPECT_ERROR("{{ 1 + }}", NULL, "syntax error", "line 1:");
    EXPECT_ERROR("{{ x.y() }}", NULL, "not a function", "UndefinedValue");
    EXPECT_ERROR("{{ raise_exception('Bad role') }}", NULL, "raise_exception: Bad role",
                 "line 1:4");
    EXPECT_ERROR("{% for a, b in [(1, 2)] %}{% endfor %}", NULL,
                 "Cannot unpack non-iterable type: TupleValue", "line 1:");
    EXPECT_ERROR("{% for x in none %}{% endfor %}", NULL, "Expected iterable", "NullValue");
    EXPECT_ERROR("{{ 'a' + none }}", NULL, "null values", "line 1:");
    EXPECT_ERROR("{{ x is frob }}", NULL, "Unknown test: frob", "line 1:");
    EXPECT_ERROR("{{ [1,2][::0] }}", NULL, "step", "zero");
}

static void test_jinja_limits_runaway_templates(void) {
    EXPECT_ERROR("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", NULL, "nested deeper",
                 "line 1:");
    EXPECT_ERROR("{% for i in range(100000000) %}{% endfor %}", NULL, "range()", "limit");
    EXPECT_ERROR(
        "{% set s = 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' %}"
        "{% macro d(s, n) %}{% if n > 0 %}{{ d(s ~ s, n - 1) }}{% else %}{{ s }}{% endif %}{% "
        "endmacro %}"
        "{{ d(s, 40) }}",
        NULL, "limit", "bytes");
    /* deep nesting in the source is a parse error, not a stack overflow */
    char *deep = malloc(20000);
    strcpy(deep, "{{ ");
    for (int i = 0; i < 5000; i++)
        strcat(deep, "(");
    strcat(deep, "1");
    for (int i = 0; i < 5000; i++)
        strcat(deep, ")");
    strcat(deep, " }}");
    EXPECT_ERROR(deep, NULL, "nested deeper", "line 1:");
    strcpy(deep, "");
    for (int i = 0; i < 1000; i++)
        strcat(deep, "{% if true %}");
    EXPECT_ERROR(deep, NULL, "nested deeper", "line 1:");
    free(deep);
}

static void test_jinja_public_api_builds_the_context(void) {
    const char *tpl =
        "{{ bos_token }}{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}"
        "{% if tools is none %}[no tools]{% else %}{{ tools|length }}{% endif %}"
        "{% if add_generation_prompt %}<assistant>{% endif %}{{ enable_thinking }}";
    char *out = NULL;
    kw_status st =
        kw_chat_template_render(tpl, "[{\"role\": \"user\", \"content\": \"hi\"}]", NULL, true,
                                "{\"bos_token\": \"<s>\", \"enable_thinking\": false}", &out);
    CHECK(
        st == KW_OK && out && strcmp(out, "<s><user>hi[no tools]<assistant>false") == 0,
        "kw_chat_template_render builds messages/tools/add_generation_prompt/extras (got '%s', %s)",
        out ? out : "", kw_last_error());
    free(out);
    out = NULL;
    kw_chat_template *t;
    st = kw_chat_template_parse(tpl, &t);
    CHECK(st == KW_OK, "kw_chat_template_parse accepts the template");
    if (st == KW_OK) {
        st = kw_chat_template_apply(t, "[]", "[{\"type\": \"function\"}]", false, NULL, &out);
        CHECK(st == KW_OK && out && strcmp(out, "1") == 0, "apply renders tools (got '%s')",
              out ? out : "");
        free(out);
        out = (char *)"untouched";
        st = kw_chat_template_apply(t, "{not json", NULL, false, NULL, &out);
        CHECK(st == KW_ERR_INVALID_ARG && strcmp(out, "untouched") == 0,
              "bad messages JSON is an invalid argument and leaves *out alone");
        kw_chat_template_free(t);
    }
    out = NULL;
    st = kw_chat_template_render("{{ raise_exception('nope') }}", "[]", NULL, false, NULL, &out);
    CHECK(st == KW_ERR_FORMAT && out == NULL && strstr(kw_last_error(), "nope"),
          "raise_exception fails the render with its message (%s)", kw_last_error());
    st = kw_chat_template_render("{{ x|nofilter }}", "[]", NULL, false, "{\"x\": 1}", &out);
    CHECK(st != KW_OK && strstr(kw_last_error(), "nofilter"), "unknown filter fails: %s",
          kw_last_error());
}

int main(void) {
    RUN_TEST(test_jinja_renders_text_and_expressions);
    RUN_TEST(test_jinja_handles_unicode_like_javascript);
    RUN_TEST(test_jinja_runs_statements);
    RUN_TEST(test_jinja_controls_whitespace);
    RUN_TEST(test_jinja_applies_filters);
    RUN_TEST(test_jinja_applies_tests_and_methods);
    RUN_TEST(test_jinja_reads_context_json);
    RUN_TEST(test_jinja_reports_errors_with_positions);
    RUN_TEST(test_jinja_limits_runaway_templates);
    RUN_TEST(test_jinja_public_api_builds_the_context);
    return test_report();
}
