/* test_chat.c - the chat API of kaiwu.h: built-in formats render the published layouts, a model
 * without a template is refused with the list of formats, the model's own template gets
 * bos_token/eos_token from its vocabulary, renderings tokenize with special tokens parsed and BOS
 * not doubled, replies split into content / reasoning / tool calls, and streaming Chinese
 * through byte-fallback tokens never shows a replacement character.
 */
#include "kaiwu.h"
#include "test.h"

#include <stdlib.h>
#include <string.h>

static const char *CONV =
    "[{\"role\":\"system\",\"content\":\"Be brief.\"},{\"role\":\"user\",\"content\":\"Hi\"},"
    "{\"role\":\"assistant\",\"content\":\"Hello!\"},{\"role\":\"user\",\"content\":\"2+2?\"}]";

static kw_model *load(const char *name) {
    char rel[256];
    snprintf(rel, sizeof rel, "models/%s", name);
    kw_model *m = NULL;
    kw_status st = kw_model_load(test_data_path(rel), NULL, &m);
    CHECK(st == KW_OK, "%s loads (%s)", name, kw_last_error());
    return st == KW_OK ? m : NULL;
}

/* Renders CONV with a built-in format through the model's vocabulary and compares. */
static void check_format(kw_model *m, const char *format, const char *want) {
    kw_chat *chat = NULL;
    kw_status st = kw_chat_create(m, format, &chat);
    CHECK(st == KW_OK, "format %s is accepted (%s)", format, kw_last_error());
    if (st != KW_OK) return;
    CHECK(strcmp(kw_chat_format_used(chat), format) == 0, "format %s reports its name", format);
    char *out = NULL;
    st = kw_chat_render(chat, CONV, NULL, true, NULL, &out);
    CHECK(st == KW_OK, "format %s renders (%s)", format, kw_last_error());
    if (st == KW_OK)
        CHECK(strcmp(out, want) == 0, "format %s renders\n%s\n(want)\n%s", format, out, want);
    free(out);
    kw_chat_free(chat);
}

static void test_chat_builtin_formats_render_published_layouts(void) {
    kw_model *m = load("tiny-llama2-f32.gguf"); /* BOS "<s>", EOS "</s>" */
    if (!m) return;
    check_format(m, "chatml",
                 "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
                 "<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\n2+2?<|im_end|>\n"
                 "<|im_start|>assistant\n");
    check_format(m, "llama3",
                 "<s><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
                 "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
                 "<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>"
                 "<|start_header_id|>user<|end_header_id|>\n\n2+2?<|eot_id|>"
                 "<|start_header_id|>assistant<|end_header_id|>\n\n");
    check_format(m, "llama2",
                 "<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello! </s><s>[INST] 2+2? "
                 "[/INST]");
    check_format(m, "gemma",
                 "<s><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\n"
                 "Hello!<end_of_turn>\n<start_of_turn>user\n2+2?<end_of_turn>\n"
                 "<start_of_turn>model\n");
    check_format(m, "phi3",
                 "<|system|>\nBe brief.<|end|>\n<|user|>\nHi<|end|>\n<|assistant|>\nHello!<|end|>\n"
                 "<|user|>\n2+2?<|end|>\n<|assistant|>\n");
    check_format(m, "glm4",
                 "[gMASK]<sop><|system|>\nBe brief.<|user|>\nHi<|assistant|>\nHello!<|user|>\n"
                 "2+2?<|assistant|>");
    check_format(m, "chatglm4",
                 "[gMASK]<sop><|system|>\nBe brief.<|user|>\nHi<|assistant|>\nHello!<|user|>\n"
                 "2+2?<|assistant|>");
    check_format(m, "deepseek",
                 "<s>Be brief.<｜User｜>Hi<｜Assistant｜>Hello!</s><｜User｜>2+2?<｜Assistant｜>");
    check_format(m, "minicpm", "Be brief.<用户>Hi<AI>Hello!<用户>2+2?<AI>");

    /* --no-think with chatml closes an empty reasoning block as Qwen3's template does. */
    kw_chat *chat = NULL;
    char *out = NULL;
    if (kw_chat_create(m, "chatml", &chat) == KW_OK &&
        kw_chat_render(chat, "[{\"role\":\"user\",\"content\":\"x\"}]", NULL, true,
                       "{\"enable_thinking\": false}", &out) == KW_OK)
        CHECK(strcmp(out, "<|im_start|>user\nx<|im_end|>\n<|im_start|>assistant\n<think>\n\n"
                          "</think>\n\n") == 0,
              "chatml with enable_thinking=false closes an empty think block (got '%s')", out);
    else
        CHECK(false, "chatml renders with enable_thinking=false (%s)", kw_last_error());
    free(out);
    kw_chat_free(chat);
    kw_model_free(m);
}

static void test_chat_refuses_model_without_template(void) {
    kw_model *m = load("tiny-qwen3-f16.gguf");
    if (!m) return;
    CHECK(kw_model_chat_template(m) == NULL, "tiny-qwen3 carries no chat template");
    kw_chat *chat = (kw_chat *)1;
    kw_status st = kw_chat_create(m, NULL, &chat);
    CHECK(st == KW_ERR_INVALID_ARG, "no template and no format is refused (status %d)", st);
    CHECK(chat == (kw_chat *)1, "the output is untouched on failure");
    CHECK(strstr(kw_last_error(), "no chat template") && strstr(kw_last_error(), "chatml") &&
              strstr(kw_last_error(), "deepseek"),
          "the error lists the built-in formats (got '%s')", kw_last_error());
    st = kw_chat_create(m, "vicuna", &chat);
    CHECK(st == KW_ERR_INVALID_ARG && strstr(kw_last_error(), "'vicuna'") &&
              strstr(kw_last_error(), "llama3"),
          "an unknown format is refused naming it and the formats (got '%s')", kw_last_error());
    CHECK(kw_chat_format_source("nope") == NULL, "an unknown format has no source");
    kw_model_free(m);
}

/* "auto": the model's template, else the built-in format its vocabulary points to, with a note. */
static void test_chat_auto_picks_a_format_and_says_why(void) {
    static const struct {
        const char *model, *format, *why;
    } cases[] = {
        {"tiny-qwen3-f16.gguf", "chatml", "<|im_start|>"},
        {"tiny-llama3-f16.gguf", "llama3", "<|start_header_id|>"},
        {"tiny-gemma2-f16.gguf", "gemma", "<start_of_turn>"},
        {"tiny-llama2-f32.gguf", "llama2", "SentencePiece"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        kw_model *m = load(cases[i].model);
        if (!m) continue;
        kw_chat *chat = NULL;
        kw_status st = kw_chat_create(m, "auto", &chat);
        CHECK(st == KW_OK, "%s: auto gives a format (%s)", cases[i].model, kw_last_error());
        if (st == KW_OK) {
            const char *note = kw_chat_format_note(chat);
            CHECK(strcmp(kw_chat_format_used(chat), cases[i].format) == 0,
                  "%s: auto picks %s (got %s)", cases[i].model, cases[i].format,
                  kw_chat_format_used(chat));
            CHECK(note && strstr(note, "has no chat template") && strstr(note, cases[i].why),
                  "%s: the note says why (%s)", cases[i].model, note ? note : "(null)");
        }
        kw_chat_free(chat);
        kw_model_free(m);
    }
    kw_model *phi = load("tiny-phi3-f16.gguf");
    kw_chat *chat = NULL;
    if (phi && kw_chat_create(phi, "auto", &chat) == KW_OK) {
        CHECK(strcmp(kw_chat_format_used(chat), "model template") == 0 &&
                  kw_chat_format_note(chat) == NULL,
              "auto on a model with a template uses it, without a note");
        kw_chat_free(chat);
    }
    kw_model_free(phi);
    kw_model *m = load("tiny-qwen3-f16.gguf");
    char *out = NULL;
    if (m && kw_chat_create(m, "{{ messages[0]['content'] | upper }}!", &chat) == KW_OK) {
        CHECK(strcmp(kw_chat_format_used(chat), "custom template") == 0,
              "Jinja text is a custom template");
        CHECK(kw_chat_render(chat, CONV, NULL, true, NULL, &out) == KW_OK && out &&
                  strcmp(out, "BE BRIEF.!") == 0,
              "and renders as written (%s)", out ? out : kw_last_error());
        free(out);
        kw_chat_free(chat);
    }
    kw_model_free(m);
}

static void test_chat_model_template_gets_bos_and_tokenizes_once(void) {
    kw_model *m = load("tiny-phi3-f16.gguf");
    if (!m) return;
    kw_chat *chat = NULL;
    kw_status st = kw_chat_create(m, NULL, &chat);
    CHECK(st == KW_OK, "tiny-phi3's own template is used (%s)", kw_last_error());
    if (st != KW_OK) {
        kw_model_free(m);
        return;
    }
    CHECK(strcmp(kw_chat_format_used(chat), "model template") == 0, "it is reported as such");
    char *out = NULL;
    st = kw_chat_render(chat, "[{\"role\":\"user\",\"content\":\"Hi\"}]", NULL, true, NULL, &out);
    CHECK(st == KW_OK && strcmp(out, "<s><|user|>\nHi<|end|>\n<|assistant|>\n") == 0,
          "the template renders with bos_token '<s>' from the vocabulary (got '%s')",
          out ? out : kw_last_error());
    kw_token *ids = NULL;
    int32_t n = 0;
    if (st == KW_OK) {
        st = kw_chat_tokenize(chat, out, &ids, &n);
        CHECK(st == KW_OK && n > 3, "the rendering tokenizes (%d ids)", n);
        CHECK(n > 1 && ids[0] == kw_token_bos(m) && ids[1] != kw_token_bos(m),
              "BOS comes once at the start (ids %d %d)", n > 0 ? ids[0] : -1, n > 1 ? ids[1] : -1);
        bool special = false;
        for (int32_t i = 0; i < n; i++)
            special |= ids[i] != kw_token_bos(m) && kw_token_is_special(m, ids[i]);
        CHECK(special, "<|user|> and <|end|> become special ids");
    }
    free(ids);
    free(out);
    kw_chat_free(chat);

    /* A format without BOS text in front (phi3) gets BOS from the tokenizer's add_bos rule. */
    st = kw_chat_create(m, "phi3", &chat);
    out = NULL;
    ids = NULL;
    if (st == KW_OK &&
        kw_chat_render(chat, "[{\"role\":\"user\",\"content\":\"Hi\"}]", NULL, true, NULL, &out) ==
            KW_OK &&
        kw_chat_tokenize(chat, out, &ids, &n) == KW_OK)
        CHECK(n > 1 && ids[0] == kw_token_bos(m) && ids[1] != kw_token_bos(m),
              "without BOS text the tokenizer adds one BOS (add_bos is true)");
    else
        CHECK(false, "phi3 format renders and tokenizes (%s)", kw_last_error());
    free(ids);
    free(out);
    kw_chat_free(chat);
    kw_model_free(m);
}

static void parse(const char *text, bool open, kw_chat_reply *r) {
    kw_status st = kw_chat_parse_reply(text, strlen(text), open, r);
    CHECK(st == KW_OK, "reply '%s' parses", text);
}

static void test_chat_reply_splits_reasoning_and_tool_calls(void) {
    kw_chat_reply r;
    parse("<think>\nLet me add.\n</think>\n\n4.", false, &r);
    CHECK(r.reasoning_content && strcmp(r.reasoning_content, "Let me add.") == 0 &&
              strcmp(r.content, "4.") == 0,
          "a <think> block becomes reasoning, the rest content");
    kw_chat_reply_free(&r);
    parse("Let me add.\n</think>\n\n4.", true, &r);
    CHECK(r.reasoning_content && strcmp(r.reasoning_content, "Let me add.") == 0 &&
              strcmp(r.content, "4.") == 0,
          "with the block opened by the prompt, text before </think> is reasoning");
    kw_chat_reply_free(&r);
    parse("hmm</think>4.", false, &r);
    CHECK(r.reasoning_content && strcmp(r.reasoning_content, "hmm") == 0 &&
              strcmp(r.content, "4.") == 0,
          "a lone </think> closes reasoning even when the caller did not say it was open");
    kw_chat_reply_free(&r);
    parse("still thinking", true, &r);
    CHECK(r.reasoning_content && strcmp(r.reasoning_content, "still thinking") == 0 &&
              strcmp(r.content, "") == 0,
          "an unclosed reasoning block (stopped early) is all reasoning");
    kw_chat_reply_free(&r);
    parse("Just 4.", false, &r);
    CHECK(!r.reasoning_content && strcmp(r.content, "Just 4.") == 0 && r.n_tool_calls == 0,
          "a plain reply is all content");
    kw_chat_reply_free(&r);
    parse("<think>\n\n</think>\n\nok", false, &r);
    CHECK(!r.reasoning_content && strcmp(r.content, "ok") == 0,
          "an empty think block gives no reasoning");
    kw_chat_reply_free(&r);

    parse("I will check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": "
          "\"北京\", \"days\": 2}}\n</tool_call>\n<tool_call>\n{\"name\": \"now\"}\n</tool_call>",
          false, &r);
    CHECK(r.n_tool_calls == 2, "two Hermes tool calls are found (got %d)", r.n_tool_calls);
    if (r.n_tool_calls == 2) {
        CHECK(strcmp(r.tool_calls[0].name, "get_weather") == 0 &&
                  strcmp(r.tool_calls[0].arguments, "{\"city\":\"北京\",\"days\":2}") == 0,
              "the first call has its name and compact arguments (got %s %s)", r.tool_calls[0].name,
              r.tool_calls[0].arguments);
        CHECK(strcmp(r.tool_calls[1].name, "now") == 0 &&
                  strcmp(r.tool_calls[1].arguments, "{}") == 0,
              "a call without arguments gets {}");
    }
    CHECK(strcmp(r.content, "I will check.") == 0, "the text around calls is the content ('%s')",
          r.content);
    kw_chat_reply_free(&r);
    parse("<tool_call>{not json}</tool_call>", false, &r);
    CHECK(r.n_tool_calls == 0 && strcmp(r.content, "<tool_call>{not json}</tool_call>") == 0,
          "a malformed tool call stays in the content");
    kw_chat_reply_free(&r);
    parse("<tool_call>{\"name\": \"x\"", false, &r);
    CHECK(r.n_tool_calls == 0 && strstr(r.content, "<tool_call>"), "an unclosed call stays too");
    kw_chat_reply_free(&r);
    CHECK(kw_chat_prompt_opens_thinking("<|Assistant|><think>\n"), "a prompt ending <think>\\n "
                                                                   "opens thinking");
    CHECK(!kw_chat_prompt_opens_thinking("<think>\n\n</think>\n\n"),
          "a closed empty block does not");
}

/* Streams the ids of a Chinese text one by one through kw_detok_stream: each chunk must be valid
 * UTF-8 with no U+FFFD, and the chunks together must give the text back. */
static void test_chat_streaming_chinese_byte_tokens_is_clean(void) {
    kw_model *m = load("tiny-llama2-f32.gguf");
    if (!m) return;
    const char *text = "人工智能大模型";
    kw_token ids[64];
    int32_t n = 0;
    kw_status st = kw_tokenize(m, text, strlen(text), false, false, ids, 64, &n);
    CHECK(st == KW_OK && n > 0, "the Chinese text tokenizes (%d ids)", n);
    int n_byte_tokens = 0;
    for (int32_t i = 0; i < n; i++) {
        char piece[16];
        int32_t k = kw_token_to_piece(m, ids[i], piece, sizeof piece, false);
        n_byte_tokens += k == 1 && (unsigned char)piece[0] >= 0x80;
    }
    CHECK(n_byte_tokens >= 3, "the vocabulary forces byte tokens (%d of %d ids)", n_byte_tokens, n);
    kw_detok_stream ds;
    kw_detok_stream_init(&ds, m, false, true);
    char all[256] = "", chunk[128];
    size_t len = 0;
    bool chunks_valid = true;
    for (int32_t i = 0; i <= n; i++) {
        int32_t k = i < n ? kw_detok_stream_push(&ds, ids[i], chunk, sizeof chunk)
                          : kw_detok_stream_flush(&ds, chunk, sizeof chunk);
        if (k < 0 || len + (size_t)k >= sizeof all) {
            chunks_valid = false;
            break;
        }
        /* each chunk on its own: whole characters only, no replacement character */
        for (int32_t j = 0; j < k;) {
            unsigned char c = (unsigned char)chunk[j];
            int sl = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 0;
            if (sl == 0 || j + sl > k || (sl == 3 && memcmp(chunk + j, "\xEF\xBF\xBD", 3) == 0))
                chunks_valid = false;
            for (int t = 1; sl && t < sl && j + t < k; t++)
                if (((unsigned char)chunk[j + t] & 0xC0) != 0x80) chunks_valid = false;
            j += sl ? sl : 1;
        }
        memcpy(all + len, chunk, (size_t)k);
        len += (size_t)k;
    }
    all[len] = 0;
    CHECK(chunks_valid, "every streamed chunk is whole UTF-8 characters without U+FFFD");
    /* tiny-llama2 has no "▁" piece, so the SPM space prefix itself falls back to the three
     * bytes of U+2581 (as in llama.cpp); the stream must equal the whole-sequence detokenization
     * and end with the text. */
    char whole[256];
    int64_t wl = kw_detokenize(m, ids, n, whole, sizeof whole, false);
    CHECK(wl >= 0 && (size_t)wl == len && memcmp(whole, all, len) == 0,
          "the streamed chunks equal kw_detokenize of the ids ('%s' vs '%s')", all, whole);
    size_t tl = strlen(text);
    CHECK(len >= tl && strcmp(all + len - tl, text) == 0,
          "the streamed chunks give the text back (got '%s')", all);
    kw_model_free(m);
}

int main(void) {
    RUN_TEST(test_chat_builtin_formats_render_published_layouts);
    RUN_TEST(test_chat_refuses_model_without_template);
    RUN_TEST(test_chat_auto_picks_a_format_and_says_why);
    RUN_TEST(test_chat_model_template_gets_bos_and_tokenizes_once);
    RUN_TEST(test_chat_reply_splits_reasoning_and_tool_calls);
    RUN_TEST(test_chat_streaming_chinese_byte_tokens_is_clean);
    return test_report();
}
