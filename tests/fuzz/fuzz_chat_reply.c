/* fuzz_chat_reply.c - libFuzzer target for the chat-reply parser (kw_chat_parse_reply,
 * src/chat/chat_reply.c): the model's generated text split into content, <think> reasoning and
 * <tool_call> JSON blocks. The first byte's low bit is thinking_open; the rest is the reply (any
 * bytes). The parts must be NUL-terminated strings no longer than the input, and each tool
 * call must have a name. Seeds: tests/fuzz/corpus/chat_reply/. See docs/testing.md. */
#include "kaiwu.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    kw_chat_reply r;
    if (kw_chat_parse_reply(text, len, data[0] & 1, &r) != KW_OK) return 0;
    if (!r.content || strlen(r.content) > len) abort();
    if (r.reasoning_content && strlen(r.reasoning_content) > len) abort();
    if (r.n_tool_calls < 0 || (r.n_tool_calls > 0 && !r.tool_calls)) abort();
    for (int32_t i = 0; i < r.n_tool_calls; i++)
        if (!r.tool_calls[i].name) abort();
    kw_chat_reply_free(&r);
    return 0;
}
