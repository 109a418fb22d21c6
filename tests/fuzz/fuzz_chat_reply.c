/* fuzz_chat_reply.c - libFuzzer target for the chat-reply parsers (kw_chat_parse_reply and
 * kw_chat_parse_tool_reply, src/chat/chat_reply.c + chat_tool_parse.c): the model's generated
 * text split into content, <think> reasoning and tool calls in every format. The first byte
 * drives the options: bit 0 thinking_open, bit 1 with a tools array (types raw values), bits 2-5
 * the format (modulo the number of formats; 15 = kw_chat_parse_reply). The rest is the reply (any
 * bytes). The parts must be NUL-terminated strings no longer than the input, each tool call must
 * have a name and arguments, and a warning must be there exactly when a call was malformed.
 * Seeds: tests/fuzz/corpus/chat_reply/. See docs/testing.md. */
#include "kaiwu.h"

#include <stdlib.h>
#include <string.h>

static const char TOOLS[] =
    "[{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"parameters\": "
    "{\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\"}, \"days\": "
    "{\"type\": \"integer\"}, \"u\": {\"type\": [\"string\", \"null\"]}}}}}, {\"name\": "
    "\"search\"}]";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    int sel = (data[0] >> 2) & 15;
    kw_chat_reply r;
    kw_status st = sel == 15
                       ? kw_chat_parse_reply(text, len, data[0] & 1, &r)
                       : kw_chat_parse_tool_reply(text, len, data[0] & 1,
                                                  (kw_tool_format)(sel % KW_TOOL_FORMAT_COUNT),
                                                  (data[0] & 2) ? TOOLS : NULL, &r);
    if (st != KW_OK) return 0;
    if (!r.content || strlen(r.content) > len) abort();
    if (r.reasoning_content && strlen(r.reasoning_content) > len) abort();
    if (r.n_tool_calls < 0 || (r.n_tool_calls > 0 && !r.tool_calls)) abort();
    if (r.n_malformed_calls < 0 || (r.n_malformed_calls > 0) != (r.warning != NULL)) abort();
    for (int32_t i = 0; i < r.n_tool_calls; i++)
        if (!r.tool_calls[i].name || !*r.tool_calls[i].name || !r.tool_calls[i].arguments ||
            !r.tool_calls[i].id)
            abort();
    kw_chat_reply_free(&r);
    return 0;
}
