/* fuzz_corpus_json.c - libFuzzer target for the corpus reader of `kaiwu data prepare`: outside
 * JSON through the walker (data_json.c), every record through the cleaning rules
 * (data_clean.c), kept ones through the form check (data_form.c) and the shingles (minhash.c);
 * the raw bytes also through kw_poem_form. Any crash, sanitizer report or leak is a bug.
 *
 * Build (clang, from the repo root), e.g.:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Iinclude -Isrc \
 *     tests/fuzz/fuzz_corpus_json.c src/train/data_json.c src/train/data_clean.c \
 *     src/train/data_form.c src/train/data_util.c src/train/minhash.c src/base/[a-z]*.c \
 *     $(pkg-config --cflags --libs jansson libutf8proc) -lm -pthread -o fuzz_corpus_json
 *   ./fuzz_corpus_json tests/fuzz/corpus/corpus_json
 */
#include "train/data.h"

#include <stdlib.h>
#include <string.h>

static kw_status on_record(void *user, const data_raw *r) {
    data_clean *c = user;
    kw_status st;
    data_reason why = data_clean_record(r, c, &st);
    if (st != KW_OK) return st;
    if (why == DR_KEPT) {
        dbuf couplets = {0};
        data_shi_form(c->body.p, c->body.n, &couplets, &st);
        dbuf_free(&couplets);
        uint64_t *sh = NULL;
        int32_t n = 0;
        if (mh_shingles(c->body.p, c->body.n, 2, &sh, &n) == KW_OK && n > 0 &&
            mh_jaccard(sh, n, sh, n) != 1.0)
            abort(); /* a set is always identical to itself */
        free(sh);
    }
    return KW_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    data_clean c = {0};
    int64_t n = 0;
    (void)data_json_records((const char *)data, size, "fuzz.json", "书", on_record, &c, &n);
    data_clean_free(&c);
    (void)kw_poem_form((const char *)data, size);
    return 0;
}
