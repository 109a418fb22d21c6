/* fuzz_jinja.c - libFuzzer target for the chat-template engine (src/chat/jinja*.c): parser and
 * renderer. Input: template source, then optionally a NUL byte and the context as JSON (any
 * bytes; when absent or not an object, a fixed two-message conversation is used). A template
 * that parses is rendered twice (the result must be the same: templates are immutable), with
 * a fixed clock and a 1 MiB output limit (bigger renderings must fail, not grow without bound).
 * Chat templates come from model files, so any GGUF can carry this input.
 * Seeds: tests/fuzz/corpus/jinja/ (templates of tests/data/chat-templates with their
 * conversations, and the strip crash of issue 15). See docs/testing.md. */
#include "chat/jinja.h"

#include <stdlib.h>
#include <string.h>

static const char default_ctx[] =
    "{\"messages\": [{\"role\": \"system\", \"content\": \"Be brief.\"}, {\"role\": \"user\", "
    "\"content\": \"你好 <b>x</b>\"}], \"add_generation_prompt\": true, \"bos_token\": \"<s>\", "
    "\"eos_token\": \"</s>\", \"tools\": [{\"type\": \"function\", \"function\": {\"name\": "
    "\"f\", \"parameters\": {\"type\": \"object\"}}}]}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 65536) return 0;
    const char *src = (const char *)data;
    const uint8_t *nul = memchr(data, 0, size);
    size_t src_len = nul ? (size_t)(nul - data) : size;
    char *ctx = NULL;
    if (nul) {
        size_t n = size - src_len - 1;
        ctx = malloc(n + 1);
        if (!ctx) return 0;
        memcpy(ctx, nul + 1, n);
        ctx[n] = 0;
    }
    jinja_template *t = NULL;
    if (jinja_template_parse(src, src_len, &t) == KW_OK) {
        jinja_render_opts o = {.now = 1741338300, .now_utc = true, .max_output = 1 << 20};
        char *out1 = NULL, *out2 = NULL;
        size_t n1 = 0, n2 = 0;
        const char *used = ctx ? ctx : default_ctx;
        kw_status s1 = jinja_template_render(t, used, &o, &out1, &n1);
        if (s1 != KW_OK && ctx) {
            used = default_ctx;
            s1 = jinja_template_render(t, used, &o, &out1, &n1);
        }
        if (s1 == KW_OK) {
            if (n1 > o.max_output || strlen(out1) > n1) abort();
            /* same template, same context: the same text (a template is immutable) */
            if (jinja_template_render(t, used, &o, &out2, &n2) != KW_OK || n1 != n2 ||
                memcmp(out1, out2, n1) != 0)
                abort();
            free(out2);
        }
        free(out1);
        jinja_template_free(t);
    }
    free(ctx);
    return 0;
}
