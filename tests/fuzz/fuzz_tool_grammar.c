/* fuzz_tool_grammar.c - libFuzzer target for the forced-call grammar (kw_chat_tool_grammar,
 * src/chat/chat_tool_grammar.c) over an OpenAI tools array from outside (a server request): the
 * first byte picks the format (modulo the number of formats) and the tool_choice (bit 7: the
 * first tool's name instead of "required"); the rest is the tools JSON. Whatever grammar it
 * makes must compile (kw_grammar_create) and refuse the empty text; errors must carry a message.
 * Seeds: tests/fuzz/corpus/tool_grammar/. See docs/testing.md. */
#include "kaiwu.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || size > 65536) return 0;
    char *tools = malloc(size);
    if (!tools) return 0;
    memcpy(tools, data + 1, size - 1);
    tools[size - 1] = 0;
    kw_tool_format f = (kw_tool_format)((data[0] & 127) % KW_TOOL_FORMAT_COUNT);
    /* a name the tools may hold: the grammar must then name that tool only */
    const char *choice = (data[0] & 128) ? "get_weather" : "required";
    char *gbnf = NULL;
    kw_status st = kw_chat_tool_grammar(f, tools, choice, &gbnf);
    if (st != KW_OK) {
        if (gbnf || !*kw_last_error()) abort();
    } else {
        if (!gbnf) abort();
        kw_grammar *g = NULL;
        if (kw_grammar_create(NULL, gbnf, NULL, &g) != KW_OK) abort();
        kw_grammar_state *s = NULL;
        if (kw_grammar_state_create(g, &s) == KW_OK && kw_grammar_state_accepting(s)) abort();
        kw_grammar_state_free(s);
        kw_grammar_free(g);
    }
    free(gbnf);
    free(tools);
    return 0;
}
