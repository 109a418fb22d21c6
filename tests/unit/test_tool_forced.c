/* test_tool_forced.c - forced tool calls on a random-weight test model: for every format (each
 * chosen by a real template of tests/data/chat-templates through kw_chat_tool_format), 100
 * generations at temperature 1.0 with tool_choice "required" (and a named tool) must each be one
 * call that parses back (kw_gen_reply), names a tool, and has arguments valid under that tool's
 * parameter schema (kw_json_schema_validate). The model's free output is gibberish, so this
 * holds only if the grammar does the work. KAIWU_TOOL_SAMPLES overrides the 100.
 */
#include "kaiwu.h"
#include "test.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* Three tools: bounded strings, an enum of Chinese values, integer bounds, a Chinese property
 * name, a boolean, a nested object and a bounded array. Bounds keep random output short. */
static const char TOOLS[] =
    "[{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": "
    "\"天气\", \"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": "
    "\"string\", \"maxLength\": 6}, \"unit\": {\"enum\": [\"摄氏\", \"华氏\"]}, \"days\": "
    "{\"type\": \"integer\", \"minimum\": 1, \"maximum\": 7}}, \"required\": [\"city\"]}}},"
    " {\"type\": \"function\", \"function\": {\"name\": \"search\", \"parameters\": {\"type\": "
    "\"object\", \"properties\": {\"q\": {\"type\": \"string\", \"minLength\": 1, \"maxLength\": "
    "8}, \"过滤\": {\"type\": \"boolean\"}}, \"required\": [\"q\", \"过滤\"]}}},"
    " {\"type\": \"function\", \"function\": {\"name\": \"book\", \"parameters\": {\"type\": "
    "\"object\", \"properties\": {\"trip\": {\"type\": \"object\", \"properties\": {\"from\": "
    "{\"type\": \"string\", \"maxLength\": 4}, \"to\": {\"type\": \"string\", \"maxLength\": 4}}, "
    "\"required\": [\"from\", \"to\"], \"additionalProperties\": false}, \"seats\": {\"type\": "
    "\"array\", \"items\": {\"type\": \"integer\", \"minimum\": 0, \"maximum\": 99}, "
    "\"maxItems\": 3}}, \"required\": [\"trip\"]}}}]";

static kw_model *model;

/* The "parameters" schema of the tool named name (JSON text, malloc'd), or NULL. */
static char *tool_schema(const char *name) {
    json_t *tools = json_loads(TOOLS, 0, NULL);
    char *out = NULL;
    for (size_t i = 0; i < json_array_size(tools); i++) {
        json_t *fn = json_object_get(json_array_get(tools, i), "function");
        if (strcmp(json_string_value(json_object_get(fn, "name")), name) == 0)
            out = json_dumps(json_object_get(fn, "parameters"), JSON_COMPACT);
    }
    json_decref(tools);
    return out;
}

typedef struct run_stats {
    int ok, bad_parse, bad_name, invalid, incomplete;
    char first_failure[512];
} run_stats;

static void note(run_stats *s, const char *what, const char *text) {
    if (!s->first_failure[0])
        snprintf(s->first_failure, sizeof s->first_failure, "%s: %.400s", what, text);
}

static void check_one(kw_gen *g, const char *want_name, run_stats *s) {
    size_t len = 0;
    const char *text = kw_gen_text(g, &len);
    if (kw_gen_finish_reason(g) != KW_FINISH_TOOL_CALL) {
        s->incomplete++;
        note(s, kw_finish_reason_str(kw_gen_finish_reason(g)), text);
        return;
    }
    kw_chat_reply r;
    if (kw_gen_reply(g, &r) != KW_OK || r.n_tool_calls != 1 || r.n_malformed_calls != 0) {
        s->bad_parse++;
        note(s, "not exactly one well-formed call", text);
        kw_chat_reply_free(&r);
        return;
    }
    const char *nm = r.tool_calls[0].name;
    char *schema = tool_schema(nm);
    if (!schema || (want_name && strcmp(nm, want_name) != 0)) {
        s->bad_name++;
        note(s, "wrong tool name", text);
    } else {
        char *why = NULL;
        const char *args = r.tool_calls[0].arguments;
        if (kw_json_schema_validate(schema, args, strlen(args), &why) != KW_OK) {
            s->invalid++;
            note(s, why ? why : "invalid arguments", args);
        } else {
            s->ok++;
        }
        free(why);
    }
    free(schema);
    kw_chat_reply_free(&r);
}

/* n_samples generations of one format, 4 at a time on one engine. */
static void run_format(const char *tmpl, kw_tool_format want_fmt, const char *choice, int n_samples,
                       uint64_t seed0) {
    char rel[256];
    bool builtin = strncmp(tmpl, "builtin:", 8) == 0; /* a built-in format by name */
    snprintf(rel, sizeof rel, "chat-templates/templates/%s.jinja", tmpl);
    char *src = builtin ? strdup(tmpl + 8) : test_read_file(test_data_path(rel), NULL);
    CHECK(src != NULL, "%s is readable", tmpl);
    if (!src) return;
    kw_chat *chat = NULL;
    CHECK(kw_chat_create(model, src, &chat) == KW_OK, "a chat with %s (%s)", tmpl, kw_last_error());
    free(src);
    if (!chat) return;
    kw_tool_format f = kw_chat_tool_format(chat);
    CHECK(f == want_fmt, "%s selects %s (got %s)", tmpl, kw_tool_format_name(want_fmt),
          kw_tool_format_name(f));
    enum { PAR = 4 };
    kw_context_params cp = kw_context_default_params();
    cp.n_ctx = 2048;
    cp.n_seq_max = PAR;
    cp.n_threads = 2;
    kw_context *ctx = NULL;
    kw_engine *eng = NULL;
    CHECK(kw_context_create(model, &cp, &ctx) == KW_OK && kw_engine_create(ctx, &eng) == KW_OK,
          "context and engine (%s)", kw_last_error());
    const char *msgs = "[{\"role\": \"user\", \"content\": \"北京明天天气怎么样？\"}]";
    run_stats s = {0};
    double t0 = kw_time_seconds();
    int n_tokens = 0;
    for (int done = 0; eng && done < n_samples; done += PAR) {
        kw_gen *gens[PAR] = {0};
        int n = n_samples - done < PAR ? n_samples - done : PAR;
        for (int i = 0; i < n; i++) {
            kw_gen_params gp = kw_gen_default_params();
            gp.sampler.temperature = 1.0f;
            gp.sampler.top_k = 0;
            gp.sampler.seed = seed0 + (uint64_t)(done + i);
            gp.max_tokens = 400;
            gp.tools_json = TOOLS;
            gp.tool_choice = choice;
            gp.tool_format = f;
            kw_status st = kw_gen_create(eng, &gp, &gens[i]);
            if (st == KW_OK)
                st = kw_gen_set_chat_prompt(gens[i], chat, msgs, TOOLS,
                                            "{\"enable_thinking\": false}");
            if (st == KW_OK) st = kw_gen_start(gens[i]);
            CHECK(st == KW_OK, "%s: generation %d starts (%s)", tmpl, done + i, kw_last_error());
        }
        while (kw_engine_n_active(eng) > 0)
            if (kw_engine_step(eng) != KW_OK) break;
        for (int i = 0; i < n; i++) {
            if (!gens[i]) continue;
            check_one(gens[i], strcmp(choice, "required") ? choice : NULL, &s);
            n_tokens += kw_gen_get_usage(gens[i]).completion_tokens;
            kw_gen_free(gens[i]);
        }
    }
    CHECK(s.ok == n_samples,
          "%s (%s, tool_choice %s): %d of %d forced calls valid (parse %d, name %d, invalid %d, "
          "incomplete %d; first failure: %s)",
          tmpl, kw_tool_format_name(f), choice, s.ok, n_samples, s.bad_parse, s.bad_name, s.invalid,
          s.incomplete, s.first_failure);
    fprintf(stderr, "%-48s %-13s %-8s %d/%d valid, %d tokens, %.1f s\n", tmpl,
            kw_tool_format_name(f), choice, s.ok, n_samples, n_tokens, kw_time_seconds() - t0);
    kw_engine_free(eng);
    kw_context_free(ctx);
    kw_chat_free(chat);
}

int main(void) {
    const char *path = test_data_path("models/tiny-qwen2-f16.gguf");
    if (kw_model_load(path, NULL, &model) != KW_OK) {
        CHECK(false, "load %s (%s)", path, kw_last_error());
        return test_report();
    }
    const char *env = getenv("KAIWU_TOOL_SAMPLES");
    int n = env && atoi(env) > 0 ? atoi(env) : 100;
    static const struct {
        const char *tmpl;
        kw_tool_format fmt;
    } cases[] = {
        {"Qwen-Qwen2.5-7B-Instruct", KW_TOOL_FORMAT_HERMES},
        {"Qwen-Qwen3-Coder", KW_TOOL_FORMAT_QWEN3_CODER},
        {"meta-llama-Llama-3.1-8B-Instruct", KW_TOOL_FORMAT_LLAMA3},
        {"mistralai-Mistral-Nemo-Instruct-2407", KW_TOOL_FORMAT_MISTRAL},
        {"mistralai-Mistral-Small-3.2-24B-Instruct-2506", KW_TOOL_FORMAT_MISTRAL_ARGS},
        {"zai-org-GLM-4.7-Flash", KW_TOOL_FORMAT_GLM45},
        {"deepseek-ai-DeepSeek-R1-Distill-Qwen-32B", KW_TOOL_FORMAT_DEEPSEEK_R1},
        {"deepseek-ai-DeepSeek-V3.1", KW_TOOL_FORMAT_DEEPSEEK_V31},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_format(cases[i].tmpl, cases[i].fmt, "required", n, 1000 * (uint64_t)(i + 1));
    /* GLM-4 (9B) has no fixture template: the built-in glm4 format stands for it */
    run_format("builtin:glm4", KW_TOOL_FORMAT_GLM4, "required", n, 20000);
    /* a named tool: only that tool is called */
    run_format("Qwen-Qwen2.5-7B-Instruct", KW_TOOL_FORMAT_HERMES, "book", n / 4 > 0 ? n / 4 : 1,
               99000);
    kw_model_free(model);
    return test_report();
}
