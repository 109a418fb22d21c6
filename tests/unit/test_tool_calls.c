/* test_tool_calls.c - tool calls in every format: which format a template teaches (the real
 * templates of tests/data/chat-templates), parsing per format (several calls, Chinese arguments,
 * text around calls, malformed calls kept and flagged), the calls each real template renders
 * parsed back, and the forced-call grammars checked against hand-written calls.
 */
#include "kaiwu.h"
#include "test.h"

#include <stdlib.h>
#include <string.h>

static char *read_template(const char *name) {
    char rel[256];
    snprintf(rel, sizeof rel, "chat-templates/templates/%s.jinja", name);
    char *src = test_read_file(test_data_path(rel), NULL);
    CHECK(src != NULL, "template %s is readable", name);
    return src;
}

/* ------------------------------------------------------------------------------------------------
 * Detection
 * ---------------------------------------------------------------------------------------------- */

static void test_detection_from_template_text(void) {
    static const struct {
        const char *tmpl;
        kw_tool_format want;
    } cases[] = {
        {"Qwen-Qwen2.5-7B-Instruct", KW_TOOL_FORMAT_HERMES},
        {"Qwen-Qwen3-0.6B", KW_TOOL_FORMAT_HERMES},
        {"Qwen-QwQ-32B", KW_TOOL_FORMAT_HERMES},
        {"NousResearch-Hermes-3-Llama-3.1-8B-tool_use", KW_TOOL_FORMAT_HERMES},
        {"Qwen-Qwen3-Coder", KW_TOOL_FORMAT_QWEN3_CODER},
        {"Qwen-Qwen3.5-4B", KW_TOOL_FORMAT_QWEN3_CODER},
        {"meta-llama-Llama-3.1-8B-Instruct", KW_TOOL_FORMAT_LLAMA3},
        {"meta-llama-Llama-3.2-3B-Instruct", KW_TOOL_FORMAT_LLAMA3},
        {"mistralai-Mistral-Nemo-Instruct-2407", KW_TOOL_FORMAT_MISTRAL},
        {"mistralai-Mistral-Small-3.2-24B-Instruct-2506", KW_TOOL_FORMAT_MISTRAL_ARGS},
        {"zai-org-GLM-4.7-Flash", KW_TOOL_FORMAT_GLM45},
        {"deepseek-ai-DeepSeek-R1-Distill-Qwen-32B", KW_TOOL_FORMAT_DEEPSEEK_R1},
        {"deepseek-ai-DeepSeek-V3.1", KW_TOOL_FORMAT_DEEPSEEK_V31},
        {"google-gemma-2-2b-it", KW_TOOL_FORMAT_HERMES},
        {"microsoft-Phi-3.5-mini-instruct", KW_TOOL_FORMAT_HERMES},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *src = read_template(cases[i].tmpl);
        const char *why = NULL;
        kw_tool_format f = kw_tool_format_detect(src, &why);
        CHECK(f == cases[i].want && why && *why, "%s teaches %s (detected %s: %s)", cases[i].tmpl,
              kw_tool_format_name(cases[i].want), kw_tool_format_name(f), why ? why : "");
        free(src);
    }
    /* the GLM-4 9B form: a template with <|observation|> and none of the other markers */
    CHECK(kw_tool_format_detect("{{ '<|observation|>' }}{{ '<|assistant|>' }}", NULL) ==
              KW_TOOL_FORMAT_GLM4,
          "a template rendering <|observation|> only teaches glm4");
    CHECK(kw_tool_format_detect(NULL, NULL) == KW_TOOL_FORMAT_HERMES, "no template: hermes");
    for (int f = 0; f < KW_TOOL_FORMAT_COUNT; f++) {
        kw_tool_format back = KW_TOOL_FORMAT_COUNT;
        CHECK(kw_tool_format_from_name(kw_tool_format_name((kw_tool_format)f), &back) == KW_OK &&
                  back == (kw_tool_format)f,
              "format %d's name '%s' reads back", f, kw_tool_format_name((kw_tool_format)f));
    }
    kw_tool_format dummy;
    CHECK(kw_tool_format_from_name("qwen", &dummy) == KW_ERR_INVALID_ARG &&
              strstr(kw_last_error(), "hermes"),
          "an unknown format name is refused, listing the names (%s)", kw_last_error());
}

/* ------------------------------------------------------------------------------------------------
 * Parsing per format
 * ---------------------------------------------------------------------------------------------- */

static const char TOOLS[] =
    "[{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"parameters\": "
    "{\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\"}, \"days\": "
    "{\"type\": \"integer\"}}, \"required\": [\"city\"]}}},"
    " {\"type\": \"function\", \"function\": {\"name\": \"search\", \"parameters\": {\"type\": "
    "\"object\", \"properties\": {\"q\": {\"type\": \"string\"}, \"n\": {\"type\": "
    "\"integer\"}}}}}]";

typedef struct parse_case {
    kw_tool_format fmt;
    const char *reply;
    int n_calls, n_bad;
    const char *name0, *args0, *name1, *args1;
    const char *content; /* expected content, or NULL: not checked */
} parse_case;

#define DSB "<\xef\xbd\x9ctool\xe2\x96\x81"
#define DS_CALLS_BEGIN                                                                             \
    DSB "calls\xe2\x96\x81"                                                                        \
        "begin\xef\xbd\x9c>"
#define DS_CALLS_END                                                                               \
    DSB "calls\xe2\x96\x81"                                                                        \
        "end\xef\xbd\x9c>"
#define DS_CALL_BEGIN                                                                              \
    DSB "call\xe2\x96\x81"                                                                         \
        "begin\xef\xbd\x9c>"
#define DS_CALL_END                                                                                \
    DSB "call\xe2\x96\x81"                                                                         \
        "end\xef\xbd\x9c>"
#define DS_SEP DSB "sep\xef\xbd\x9c>"

static const parse_case PARSE_CASES[] = {
    /* hermes */
    {KW_TOOL_FORMAT_HERMES,
     "我来查一下。\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"北京\", "
     "\"days\": 2}}\n</tool_call>\n<tool_call>\n{\"name\": \"search\", \"arguments\": {\"q\": "
     "\"大模型\"}}\n</tool_call>",
     2, 0, "get_weather", "{\"city\":\"北京\",\"days\":2}", "search", "{\"q\":\"大模型\"}",
     "我来查一下。"},
    {KW_TOOL_FORMAT_HERMES,
     "a <tool_call>{\"name\": \"search\", \"arguments\": {\"q\": 1</tool_call> b "
     "<tool_call>{\"name\": "
     "\"search\", \"arguments\": {}}</tool_call>",
     1, 1, "search", "{}", NULL, NULL,
     "a <tool_call>{\"name\": \"search\", \"arguments\": {\"q\": 1</tool_call> b"},
    {KW_TOOL_FORMAT_HERMES, "text <tool_call>{\"name\": \"search\"", 0, 1, NULL, NULL, NULL, NULL,
     "text <tool_call>{\"name\": \"search\""},
    /* qwen3-coder */
    {KW_TOOL_FORMAT_QWEN3_CODER,
     "好的。\n<tool_call>\n<function=get_weather>\n<parameter=city>\n北京\n</parameter>\n"
     "<parameter=days>\n3\n</parameter>\n</function>\n</tool_call>\n<tool_call>\n<function=search>"
     "\n<parameter=q>\n123\n</parameter>\n<parameter=n>\n5\n</parameter>\n</function>\n"
     "</tool_call>",
     2, 0, "get_weather", "{\"city\":\"北京\",\"days\":3}", "search", "{\"q\":\"123\",\"n\":5}",
     "好的。"},
    {KW_TOOL_FORMAT_QWEN3_CODER,
     "<tool_call>\n<function=search>\n<parameter=q>\nno end\n</function>\n</tool_call> after", 0, 1,
     NULL, NULL, NULL, NULL,
     "<tool_call>\n<function=search>\n<parameter=q>\nno end\n</function>\n</tool_call> after"},
    /* llama3 */
    {KW_TOOL_FORMAT_LLAMA3,
     "<|python_tag|>{\"name\": \"get_weather\", \"parameters\": {\"city\": \"上海\"}}; {\"type\": "
     "\"function\", \"name\": \"search\", \"parameters\": {\"q\": \"天气\", \"n\": 1}}",
     2, 0, "get_weather", "{\"city\":\"上海\"}", "search", "{\"q\":\"天气\",\"n\":1}", ""},
    {KW_TOOL_FORMAT_LLAMA3,
     "Here: {\"name\": \"search\", \"parameters\": {\"q\": \"x\"}} and {\"a\": 1}", 1, 0, "search",
     "{\"q\":\"x\"}", NULL, NULL, "Here: and {\"a\": 1}"},
    {KW_TOOL_FORMAT_LLAMA3, "{\"name\": \"search\", \"parameters\": {\"q\": ", 0, 1, NULL, NULL,
     NULL, NULL, "{\"name\": \"search\", \"parameters\": {\"q\":"},
    /* mistral */
    {KW_TOOL_FORMAT_MISTRAL,
     "[TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": {\"city\": \"广州\"}, \"id\": "
     "\"abcDEF123\"}, {\"name\": \"search\", \"arguments\": {\"q\": \"新闻\"}}]",
     2, 0, "get_weather", "{\"city\":\"广州\"}", "search", "{\"q\":\"新闻\"}", ""},
    {KW_TOOL_FORMAT_MISTRAL, "ok [TOOL_CALLS][{\"name\": \"search\", \"arguments\": [1]}]", 0, 1,
     NULL, NULL, NULL, NULL, "ok [TOOL_CALLS][{\"name\": \"search\", \"arguments\": [1]}]"},
    {KW_TOOL_FORMAT_MISTRAL_ARGS,
     "先查天气[TOOL_CALLS]get_weather[ARGS]{\"city\": \"深圳\", \"days\": 1}[TOOL_CALLS]search"
     "[CALL_ID]a1b2c3d4e[ARGS]{\"q\": \"深圳\"}",
     2, 0, "get_weather", "{\"city\":\"深圳\",\"days\":1}", "search", "{\"q\":\"深圳\"}",
     "先查天气"},
    {KW_TOOL_FORMAT_MISTRAL_ARGS, "[TOOL_CALLS]search[ARGS]{\"q\": broken}", 0, 1, NULL, NULL, NULL,
     NULL, "[TOOL_CALLS]search[ARGS]{\"q\": broken}"},
    /* glm4 */
    {KW_TOOL_FORMAT_GLM4, "get_weather\n{\"city\": \"杭州\", \"days\": 2}", 1, 0, "get_weather",
     "{\"city\":\"杭州\",\"days\":2}", NULL, NULL, ""},
    {KW_TOOL_FORMAT_GLM4,
     "search\n{\"q\": \"西湖\"}<|assistant|>get_weather\n{\"city\": \"杭州\"}\n好的", 2, 0,
     "search", "{\"q\":\"西湖\"}", "get_weather", "{\"city\":\"杭州\"}", "好的"},
    {KW_TOOL_FORMAT_GLM4, "Hello there\n{\"a\": 1}", 0, 0, NULL, NULL, NULL, NULL,
     "Hello there\n{\"a\": 1}"},
    {KW_TOOL_FORMAT_GLM4, "search\n{\"q\": ", 0, 1, NULL, NULL, NULL, NULL, "search\n{\"q\":"},
    /* glm4.5 */
    {KW_TOOL_FORMAT_GLM45,
     "<tool_call>get_weather<arg_key>city</arg_key><arg_value>北京</arg_value><arg_key>days"
     "</arg_key><arg_value>2</arg_value></tool_call>\n<tool_call>search\n<arg_key>q</arg_key>\n"
     "<arg_value>7</arg_value>\n</tool_call>",
     2, 0, "get_weather", "{\"city\":\"北京\",\"days\":2}", "search", "{\"q\":\"7\"}", ""},
    {KW_TOOL_FORMAT_GLM45, "<tool_call>search<arg_key>q</arg_key></tool_call>", 0, 1, NULL, NULL,
     NULL, NULL, "<tool_call>search<arg_key>q</arg_key></tool_call>"},
    /* deepseek */
    {KW_TOOL_FORMAT_DEEPSEEK_R1,
     "查询中" DS_CALLS_BEGIN DS_CALL_BEGIN "function" DS_SEP "get_weather\n```json\n{\"city\": "
     "\"成都\"}\n```" DS_CALL_END "\n" DS_CALL_BEGIN "function" DS_SEP "search\n```json\n{\"q\": "
     "\"熊猫\", \"n\": 2}\n```" DS_CALL_END DS_CALLS_END,
     2, 0, "get_weather", "{\"city\":\"成都\"}", "search", "{\"q\":\"熊猫\",\"n\":2}", "查询中"},
    {KW_TOOL_FORMAT_DEEPSEEK_V31,
     DS_CALLS_BEGIN DS_CALL_BEGIN "get_weather" DS_SEP
                                  "{\"city\": \"重庆\"}" DS_CALL_END DS_CALL_BEGIN "search" DS_SEP
                                  "{\"q\": \"火锅\"}" DS_CALL_END DS_CALLS_END " 好",
     2, 0, "get_weather", "{\"city\":\"重庆\"}", "search", "{\"q\":\"火锅\"}", "好"},
    {KW_TOOL_FORMAT_DEEPSEEK_V31,
     DS_CALLS_BEGIN DS_CALL_BEGIN "search" DS_SEP "{\"q\": " DS_CALL_END DS_CALLS_END, 0, 1, NULL,
     NULL, NULL, NULL,
     DS_CALLS_BEGIN DS_CALL_BEGIN "search" DS_SEP "{\"q\": " DS_CALL_END DS_CALLS_END},
};

static void test_parse_every_format(void) {
    for (size_t i = 0; i < sizeof PARSE_CASES / sizeof PARSE_CASES[0]; i++) {
        const parse_case *pc = &PARSE_CASES[i];
        const char *fname = kw_tool_format_name(pc->fmt);
        for (int with_tools = 0; with_tools < 2; with_tools++) {
            kw_chat_reply r;
            kw_status st = kw_chat_parse_tool_reply(pc->reply, strlen(pc->reply), false, pc->fmt,
                                                    with_tools ? TOOLS : NULL, &r);
            CHECK(st == KW_OK, "case %zu (%s) parses (%s)", i, fname, kw_last_error());
            if (st != KW_OK) continue;
            /* without the tools, qwen3-coder reads "123" as a number: only typed with them */
            bool typed_case =
                (pc->fmt == KW_TOOL_FORMAT_QWEN3_CODER || pc->fmt == KW_TOOL_FORMAT_GLM45) &&
                pc->n_calls == 2;
            CHECK(r.n_tool_calls == pc->n_calls && r.n_malformed_calls == pc->n_bad,
                  "case %zu (%s, tools %d): %d calls and %d malformed (got %d, %d; %s)", i, fname,
                  with_tools, pc->n_calls, pc->n_bad, r.n_tool_calls, r.n_malformed_calls,
                  r.warning ? r.warning : "no warning");
            CHECK((r.n_malformed_calls > 0) == (r.warning != NULL) &&
                      (!r.warning || strstr(r.warning, fname)),
                  "case %zu (%s): a warning exactly when a call is malformed, naming the format "
                  "(%s)",
                  i, fname, r.warning ? r.warning : "none");
            if (r.n_tool_calls >= 1 && pc->name0 && (with_tools || !typed_case))
                CHECK(strcmp(r.tool_calls[0].name, pc->name0) == 0 &&
                          strcmp(r.tool_calls[0].arguments, pc->args0) == 0,
                      "case %zu (%s, tools %d): call 0 is %s %s (got %s %s)", i, fname, with_tools,
                      pc->name0, pc->args0, r.tool_calls[0].name, r.tool_calls[0].arguments);
            if (r.n_tool_calls >= 2 && pc->name1 && (with_tools || !typed_case))
                CHECK(strcmp(r.tool_calls[1].name, pc->name1) == 0 &&
                          strcmp(r.tool_calls[1].arguments, pc->args1) == 0,
                      "case %zu (%s, tools %d): call 1 is %s %s (got %s %s)", i, fname, with_tools,
                      pc->name1, pc->args1, r.tool_calls[1].name, r.tool_calls[1].arguments);
            if (pc->content)
                CHECK(strcmp(r.content, pc->content) == 0,
                      "case %zu (%s): content is '%s' (got '%s')", i, fname, pc->content,
                      r.content);
            kw_chat_reply_free(&r);
        }
    }
    /* untyped qwen3-coder values: JSON when they parse, else text */
    kw_chat_reply r;
    const char *t = "<tool_call>\n<function=search>\n<parameter=q>\n123\n</parameter>\n"
                    "<parameter=n>\n两个\n</parameter>\n</function>\n</tool_call>";
    kw_chat_parse_tool_reply(t, strlen(t), false, KW_TOOL_FORMAT_QWEN3_CODER, NULL, &r);
    CHECK(r.n_tool_calls == 1 &&
              strcmp(r.tool_calls[0].arguments, "{\"q\":123,\"n\":\"两个\"}") == 0,
          "without tools a raw value is JSON when it parses, else a string (got %s)",
          r.n_tool_calls ? r.tool_calls[0].arguments : "no call");
    kw_chat_reply_free(&r);
    /* reasoning is split off before the calls are looked for */
    t = "<think>maybe <tool_call>{\"name\": \"x\"}</tool_call></think>\n<tool_call>{\"name\": "
        "\"search\", \"arguments\": {\"q\": \"a\"}}</tool_call>";
    kw_chat_parse_tool_reply(t, strlen(t), false, KW_TOOL_FORMAT_HERMES, NULL, &r);
    CHECK(r.n_tool_calls == 1 && strcmp(r.tool_calls[0].name, "search") == 0 &&
              r.reasoning_content && strstr(r.reasoning_content, "<tool_call>"),
          "a call inside the reasoning is reasoning, the one after it a call");
    kw_chat_reply_free(&r);
    /* GLM-4 has no marker: with the tools known, only their names start a call */
    t = "Hello\n{\"a\": 1}";
    kw_chat_parse_tool_reply(t, strlen(t), false, KW_TOOL_FORMAT_GLM4, TOOLS, &r);
    CHECK(r.n_tool_calls == 0 && r.n_malformed_calls == 0 && strcmp(r.content, t) == 0,
          "glm4 with tools: a line that is not a tool's name is content");
    kw_chat_reply_free(&r);
    CHECK(kw_chat_parse_tool_reply("x", 1, false, KW_TOOL_FORMAT_COUNT, NULL, &r) ==
              KW_ERR_INVALID_ARG,
          "a format out of range is refused");
    CHECK(kw_chat_parse_tool_reply("x", 1, false, KW_TOOL_FORMAT_HERMES, "{\"a\": 1}", &r) ==
              KW_ERR_INVALID_ARG,
          "tools that are not an array are refused");
}

/* ------------------------------------------------------------------------------------------------
 * What the real templates render for an assistant's calls parses back
 * ---------------------------------------------------------------------------------------------- */

/* The assistant turn with two calls, arguments as objects (or JSON text, for the templates that
 * concatenate them). The ids have the 9 characters Mistral's templates insist on. */
static char *conversation(bool with_calls, bool string_args, bool two) {
    const char *a1 = string_args ? "\"{\\\"city\\\": \\\"北京\\\", \\\"days\\\": 2}\""
                                 : "{\"city\": \"北京\", \"days\": 2}";
    const char *a2 = string_args ? "\"{\\\"q\\\": \\\"人工智能\\\", \\\"n\\\": 3}\""
                                 : "{\"q\": \"人工智能\", \"n\": 3}";
    char *buf = malloc(4096);
    int n = snprintf(
        buf, 4096, "[{\"role\": \"user\", \"content\": \"北京天气？顺便搜人工智能新闻\"}%s",
        with_calls ? ", {\"role\": \"assistant\", \"content\": null, \"tool_calls\": [" : "]");
    if (with_calls) {
        n += snprintf(buf + n, 4096 - (size_t)n,
                      "{\"id\": \"Xk3pQ9wz1\", \"type\": \"function\", \"function\": {\"name\": "
                      "\"get_weather\", \"arguments\": %s}}",
                      a1);
        if (two)
            n += snprintf(buf + n, 4096 - (size_t)n,
                          ", {\"id\": \"Lm7Rt2vB8\", \"type\": \"function\", \"function\": "
                          "{\"name\": \"search\", \"arguments\": %s}}",
                          a2);
        snprintf(buf + n, 4096 - (size_t)n, "]}]");
    }
    return buf;
}

static void test_rendered_calls_parse_back(void) {
    static const struct {
        const char *tmpl;
        bool string_args, two;
    } cases[] = {
        {"Qwen-Qwen2.5-7B-Instruct", false, true},
        {"Qwen-Qwen3-Coder", false, true},
        {"meta-llama-Llama-3.1-8B-Instruct", false, false}, /* the template allows one call */
        {"mistralai-Mistral-Nemo-Instruct-2407", false, true},
        {"mistralai-Mistral-Small-3.2-24B-Instruct-2506", false, true},
        {"zai-org-GLM-4.7-Flash", false, true},
        {"deepseek-ai-DeepSeek-R1-Distill-Qwen-32B", true, true},
        {"deepseek-ai-DeepSeek-V3.1", true, true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *src = read_template(cases[i].tmpl);
        if (!src) continue;
        kw_tool_format f = kw_tool_format_detect(src, NULL);
        kw_chat_template *t = NULL;
        CHECK(kw_chat_template_parse(src, &t) == KW_OK, "%s parses", cases[i].tmpl);
        char *before = conversation(false, cases[i].string_args, cases[i].two);
        char *full = conversation(true, cases[i].string_args, cases[i].two);
        const char *vars = "{\"bos_token\": \"<s>\", \"eos_token\": \"</s>\"}";
        char *a = NULL, *b = NULL;
        kw_status sa = kw_chat_template_apply(t, before, TOOLS, true, vars, &a);
        kw_status sb = kw_chat_template_apply(t, full, TOOLS, false, vars, &b);
        CHECK(sa == KW_OK && sb == KW_OK, "%s renders the conversation (%s)", cases[i].tmpl,
              kw_last_error());
        /* the reply is what the full rendering adds after the generation prompt; templates that
         * differ before it (DeepSeek closes the think block) are compared after the last user
         * message's text */
        const char *reply = NULL;
        if (a && b) {
            size_t k = 0;
            while (a[k] && a[k] == b[k])
                k++;
            while (k > 0 && (b[k - 1] == '<' || b[k - 1] == '[')) /* a marker's first byte */
                k--;
            reply = b + k;
        }
        kw_chat_reply r = {0};
        if (reply) kw_chat_parse_tool_reply(reply, strlen(reply), false, f, TOOLS, &r);
        int want = cases[i].two ? 2 : 1;
        CHECK(r.n_tool_calls == want && r.n_malformed_calls == 0,
              "%s (%s): the rendered %d call(s) parse back (got %d, %d malformed: %s) from '%s'",
              cases[i].tmpl, kw_tool_format_name(f), want, r.n_tool_calls, r.n_malformed_calls,
              r.warning ? r.warning : "", reply ? reply : "");
        if (r.n_tool_calls >= 1)
            CHECK(strcmp(r.tool_calls[0].name, "get_weather") == 0 &&
                      strcmp(r.tool_calls[0].arguments, "{\"city\":\"北京\",\"days\":2}") == 0,
                  "%s: call 0 is get_weather {city: 北京, days: 2} (got %s %s)", cases[i].tmpl,
                  r.tool_calls[0].name, r.tool_calls[0].arguments);
        if (r.n_tool_calls >= 2)
            CHECK(strcmp(r.tool_calls[1].name, "search") == 0 &&
                      strcmp(r.tool_calls[1].arguments, "{\"q\":\"人工智能\",\"n\":3}") == 0,
                  "%s: call 1 is search {q: 人工智能, n: 3} (got %s %s)", cases[i].tmpl,
                  r.tool_calls[1].name, r.tool_calls[1].arguments);
        kw_chat_reply_free(&r);
        free(a), free(b), free(before), free(full), free(src);
        kw_chat_template_free(t);
    }
}

/* ------------------------------------------------------------------------------------------------
 * Forced-call grammars, checked as text
 * ---------------------------------------------------------------------------------------------- */

static bool grammar_accepts(const char *gbnf, const char *text) {
    kw_grammar *g = NULL;
    if (kw_grammar_create(NULL, gbnf, NULL, &g) != KW_OK) return false;
    kw_grammar_state *st = NULL;
    bool ok = kw_grammar_state_create(g, &st) == KW_OK &&
              kw_grammar_state_accept_bytes(st, text, strlen(text)) == KW_OK &&
              kw_grammar_state_accepting(st);
    kw_grammar_state_free(st);
    kw_grammar_free(g);
    return ok;
}

static void test_forced_grammars_accept_calls_and_refuse_others(void) {
    static const struct {
        kw_tool_format fmt;
        const char *good, *bad;
    } cases[] = {
        {KW_TOOL_FORMAT_HERMES,
         "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"北京\", \"days\": "
         "2}}\n</tool_call>",
         "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"days\": 2}}\n</tool_call>"},
        {KW_TOOL_FORMAT_QWEN3_CODER,
         "<tool_call>\n<function=get_weather>\n<parameter=city>\n北京\n</parameter>\n<parameter="
         "days>\n2\n</parameter>\n</function>\n</tool_call>",
         "<tool_call>\n<function=get_weather>\n<parameter=days>\n2\n</parameter>\n</function>\n"
         "</tool_call>"},
        {KW_TOOL_FORMAT_LLAMA3, "{\"name\": \"search\", \"parameters\": {\"q\": \"x\"}}",
         "{\"name\": \"search\", \"parameters\": {\"q\": 1}}"},
        {KW_TOOL_FORMAT_MISTRAL, "[TOOL_CALLS][{\"name\": \"search\", \"arguments\": {}}]",
         "[TOOL_CALLS][{\"name\": \"other\", \"arguments\": {}}]"},
        {KW_TOOL_FORMAT_MISTRAL_ARGS, "[TOOL_CALLS]get_weather[ARGS]{\"city\": \"上海\"}",
         "[TOOL_CALLS]get_weather[ARGS]{\"city\": 5}"},
        {KW_TOOL_FORMAT_GLM4, "search\n{\"n\": 3}", "search\n{\"n\": \"3\"}"},
        {KW_TOOL_FORMAT_GLM45,
         "<tool_call>get_weather<arg_key>city</arg_key><arg_value>广州</arg_value></tool_call>",
         "<tool_call>get_weather<arg_key>days</arg_key><arg_value>2</arg_value></tool_call>"},
        {KW_TOOL_FORMAT_DEEPSEEK_R1,
         DS_CALLS_BEGIN DS_CALL_BEGIN
         "function" DS_SEP "search\n```json\n{\"q\": \"a\"}\n```" DS_CALL_END DS_CALLS_END,
         DS_CALLS_BEGIN DS_CALL_BEGIN "function" DS_SEP
                                      "search\n```json\n{\"q\": \"a\"}\n```" DS_CALL_END},
        {KW_TOOL_FORMAT_DEEPSEEK_V31,
         DS_CALLS_BEGIN DS_CALL_BEGIN "search" DS_SEP "{}" DS_CALL_END DS_CALLS_END,
         DS_CALLS_BEGIN DS_CALL_BEGIN "search" DS_SEP "{\"x\": 1}" DS_CALL_END DS_CALLS_END},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *fname = kw_tool_format_name(cases[i].fmt);
        char *gbnf = NULL;
        kw_status st = kw_chat_tool_grammar(cases[i].fmt, TOOLS, "required", &gbnf);
        CHECK(st == KW_OK && gbnf, "%s: a grammar for tool_choice required (%s)", fname,
              kw_last_error());
        if (!gbnf) continue;
        CHECK(grammar_accepts(gbnf, cases[i].good), "%s: the grammar accepts a valid call %s",
              fname, cases[i].good);
        CHECK(!grammar_accepts(gbnf, cases[i].bad), "%s: the grammar refuses an invalid call %s",
              fname, cases[i].bad);
        /* what the grammar accepts parses back as the call */
        kw_chat_reply r;
        kw_chat_parse_tool_reply(cases[i].good, strlen(cases[i].good), false, cases[i].fmt, TOOLS,
                                 &r);
        CHECK(r.n_tool_calls == 1 && r.n_malformed_calls == 0, "%s: the valid call parses", fname);
        kw_chat_reply_free(&r);
        free(gbnf);
        /* a named choice allows that tool only */
        st = kw_chat_tool_grammar(cases[i].fmt, TOOLS, "search", &gbnf);
        CHECK(st == KW_OK && gbnf && strstr(gbnf, "call-1") && !strstr(gbnf, "call-0"),
              "%s: tool_choice 'search' makes a grammar of that tool only", fname);
        free(gbnf);
    }
    char *gbnf = (char *)"x";
    CHECK(kw_chat_tool_grammar(KW_TOOL_FORMAT_HERMES, TOOLS, "auto", &gbnf) == KW_OK && !gbnf,
          "tool_choice auto forces nothing");
    CHECK(kw_chat_tool_grammar(KW_TOOL_FORMAT_HERMES, TOOLS, "none", &gbnf) == KW_OK && !gbnf,
          "tool_choice none forces nothing");
    CHECK(
        kw_chat_tool_grammar(KW_TOOL_FORMAT_HERMES, TOOLS,
                             "{\"type\": \"function\", \"function\": {\"name\": \"get_weather\"}}",
                             &gbnf) == KW_OK &&
            gbnf && strstr(gbnf, "call-0") && !strstr(gbnf, "call-1"),
        "OpenAI's named tool_choice object picks that tool");
    free(gbnf);
    CHECK(kw_chat_tool_grammar(KW_TOOL_FORMAT_HERMES, TOOLS, "nope", &gbnf) == KW_ERR_INVALID_ARG &&
              strstr(kw_last_error(), "nope"),
          "an unknown tool name is refused naming it (%s)", kw_last_error());
    const char *bad_kw =
        "[{\"type\": \"function\", \"function\": {\"name\": \"f\", \"parameters\": "
        "{\"type\": \"object\", \"properties\": {\"a\": {\"type\": \"string\", "
        "\"patternProperties\": {}}}}}}]";
    CHECK(kw_chat_tool_grammar(KW_TOOL_FORMAT_HERMES, bad_kw, "required", &gbnf) ==
                  KW_ERR_UNSUPPORTED &&
              strstr(kw_last_error(), "patternProperties") && strstr(kw_last_error(), "'f'"),
          "an unsupported schema keyword is refused naming the tool and keyword (%s)",
          kw_last_error());
    const char *pat = "[{\"type\": \"function\", \"function\": {\"name\": \"f\", \"parameters\": "
                      "{\"type\": \"object\", \"properties\": {\"a\": {\"type\": \"string\", "
                      "\"pattern\": \"^[a-z]+$\"}}}}}]";
    CHECK(kw_chat_tool_grammar(KW_TOOL_FORMAT_HERMES, pat, "required", &gbnf) == KW_OK && gbnf,
          "a string pattern is enforced in a JSON format");
    free(gbnf);
    CHECK(kw_chat_tool_grammar(KW_TOOL_FORMAT_QWEN3_CODER, pat, "required", &gbnf) ==
                  KW_ERR_UNSUPPORTED &&
              strstr(kw_last_error(), "pattern"),
          "but refused as raw text in the XML format (%s)", kw_last_error());
    const char *badname = "[{\"type\": \"function\", \"function\": {\"name\": \"a b\"}}]";
    CHECK(kw_chat_tool_grammar(KW_TOOL_FORMAT_HERMES, badname, "required", &gbnf) ==
              KW_ERR_INVALID_ARG,
          "a tool name with a space is refused");
}

int main(void) {
    RUN_TEST(test_detection_from_template_text);
    RUN_TEST(test_parse_every_format);
    RUN_TEST(test_rendered_calls_parse_back);
    RUN_TEST(test_forced_grammars_accept_calls_and_refuse_others);
    return test_report();
}
