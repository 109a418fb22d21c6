/* fuzz_serve_request.c - libFuzzer target over request bodies of kaiwu serve: the OpenAI request
 * mapping (srv_parse_request, both endpoints) and the error object it answers with. The first
 * byte picks the endpoint; the rest is the body. Must not crash, leak or read out of bounds
 * (ASan); a parsed request must have a sane shape.
 *   clang -fsanitize=fuzzer,address,undefined -Iinclude -Isrc tests/fuzz/fuzz_serve_request.c \
 *         build-san/libkaiwu.a $(pkg-config --libs ...) ; seeds in tests/fuzz/corpus/serve_request/
 */
#include "serve/serve.h"

#include <assert.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    srv_kind kind = (data[0] & 1) ? SRV_COMPLETION : SRV_CHAT;
    srv_spec s;
    char err[512];
    const char *param = NULL;
    int rc = srv_parse_request(kind, (const char *)data + 1, size - 1, &s, err, sizeof err, &param);
    if (rc == 0) {
        assert(s.n >= 1 && s.n <= SRV_MAX_CHOICES && s.n_stops <= SRV_MAX_STOPS);
        assert(kind == SRV_CHAT ? s.messages_json != NULL : (s.prompt || s.prompt_ids));
        assert(kind == SRV_CHAT || !s.tools_json); /* tools only for chat */
        srv_spec_free(&s);
    } else {
        char *e = srv_error_json(rc, err, param);
        assert(e);
        free(e);
    }
    return 0;
}
