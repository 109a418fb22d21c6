/* fuzz_gbnf.c - libFuzzer target for the GBNF parser and the grammar matcher (src/grammar/): the
 * input up to its first NUL byte is a grammar (kw_grammar_create without a model), the bytes
 * after it are text fed to a parse state (kw_grammar_state_accept_bytes, in two halves, with a
 * clone and a reset in between). Any crash, sanitizer report, leak or hang is a bug.
 *
 * Build (clang, from the repo root), e.g.:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Iinclude -Isrc \
 *     tests/fuzz/fuzz_gbnf.c src/grammar/gbnf.c src/grammar/grammar.c src/base/[a-z]*.c \
 *     build/libkaiwu.a $(pkg-config --libs libpcre2-8 libutf8proc jansson opencc) -lm -pthread \
 *     -o fuzz_gbnf
 *   ./fuzz_gbnf tests/fuzz/corpus/gbnf
 */
#include "kaiwu.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 1 << 16) return 0; /* grammars are small; keep each run fast */
    const uint8_t *nul = memchr(data, 0, size);
    size_t glen = nul ? (size_t)(nul - data) : size;
    char *text = malloc(glen + 1);
    if (!text) return 0;
    memcpy(text, data, glen);
    text[glen] = 0;
    kw_grammar *g = NULL;
    if (kw_grammar_create(NULL, text, NULL, &g) == KW_OK) {
        kw_grammar_state *st = NULL;
        if (kw_grammar_state_create(g, &st) == KW_OK) {
            const char *in = nul ? (const char *)nul + 1 : "";
            size_t n = nul ? size - glen - 1 : 0;
            if (n > 256) n = 256; /* an ambiguous grammar may keep many stacks per byte */
            size_t half = n / 2;
            (void)kw_grammar_state_accept_bytes(st, in, half);
            kw_grammar_state *cl = NULL;
            if (kw_grammar_state_clone(st, &cl) == KW_OK) {
                (void)kw_grammar_state_accept_bytes(cl, in + half, n - half);
                (void)kw_grammar_state_accepting(cl);
                kw_grammar_state_free(cl);
            }
            kw_grammar_state_reset(st);
            (void)kw_grammar_state_accept_bytes(st, in, n);
            (void)kw_grammar_state_accepting(st);
            kw_grammar_state_free(st);
        }
        kw_grammar_free(g);
    }
    free(text);
    return 0;
}
