/* cmd_tokenizer_train.c - `kaiwu tokenizer-train`: a vocabulary for prepared text, written as a
 * GGUF tokenizer; a thin front end of kw_tokenizer_train.
 *
 * Relies on kaiwu.h and cli.h only. Must not: hold training logic.
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *const k_help =
    "usage: kaiwu tokenizer-train --data FILE [--data FILE ...] --vocab N --out VOCAB.gguf\n"
    "\n"
    "Trains a SentencePiece-style BPE vocabulary with byte fallback on prepared text (the\n"
    "train.txt of 'kaiwu data prepare': documents separated by an empty line): the special\n"
    "tokens <unk> <s> </s> <|endoftext|> <|im_start|> <|im_end|>, the 256 byte tokens, every\n"
    "character seen at least --min-count times, then the most frequent merged pieces. Writes a\n"
    "GGUF holding only the tokenizer (tokenizer.ggml.model \"llama\", ChatML chat template), then\n"
    "reloads it with kaiwu's tokenizer and checks that every line is segmented as in training and\n"
    "every document round-trips; prints tokens per character.\n"
    "\n"
    "options:\n"
    "  --data FILE          training text (repeatable)\n"
    "  --vocab N            tokens in all (e.g. 8192)\n"
    "  --out PATH           the GGUF written\n"
    "  --min-count K        characters seen fewer times fall back to bytes (default 3)\n"
    "  --min-pair-count C   stop merging below C occurrences (default 2)\n"
    "  --no-verify          skip the reload check\n"
    "  -q, --quiet          no progress line\n"
    "\n"
    "example:\n"
    "  kaiwu tokenizer-train --data data/train.txt --vocab 8192 --out data/vocab.gguf\n";

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

typedef struct progress {
    double t0;
    bool tty;
} progress;

/* A progress line: rewritten in place on a terminal; elsewhere (a log) one line per tenth. */
static void on_progress(void *user, const char *stage, int64_t done, int64_t total) {
    progress *p = user;
    if (!p->tty && total > 0 && done < total && (done * 10 / total) == ((done - 1) * 10 / total))
        return;
    fprintf(stderr, "%s%s: %lld/%lld, %.1f s%s", p->tty ? "\r" : "", stage, (long long)done,
            (long long)total, now_s() - p->t0, p->tty && done < total ? "   " : "\n");
    fflush(stderr);
}

int cmd_tokenizer_train(int argc, char **argv) {
    kw_tokenizer_train_params p = kw_tokenizer_train_default_params();
    p.vocab_size = 0;
    const char **data = calloc((size_t)argc + 1, sizeof(*data));
    if (!data) return cli_usage_error("tokenizer-train", "out of memory");
    int32_t n_data = 0;
    bool quiet = false;
    int rc = CLI_EXIT_OK;
    for (int i = 1; i < argc && rc == CLI_EXIT_OK; i++) {
        const char *v = NULL;
        int r;
        if (cli_is_help(argv[i])) {
            fputs(k_help, stdout);
            free(data);
            return CLI_EXIT_OK;
        } else if (strcmp(argv[i], "-q") == 0 || strcmp(argv[i], "--quiet") == 0) {
            quiet = true;
        } else if (strcmp(argv[i], "--no-verify") == 0) {
            p.verify = false;
        } else if ((r = cli_opt_value("tokenizer-train", argc, argv, &i, "--data", NULL, &v)) !=
                   0) {
            if (r < 0)
                rc = CLI_EXIT_USAGE;
            else
                data[n_data++] = v;
        } else if ((r = cli_opt_value("tokenizer-train", argc, argv, &i, "--out", "-o", &v)) != 0) {
            if (r < 0)
                rc = CLI_EXIT_USAGE;
            else
                p.out_path = v;
        } else if ((r = cli_opt_value("tokenizer-train", argc, argv, &i, "--vocab", NULL, &v)) !=
                   0) {
            if (r < 0 ||
                !cli_parse_i32("tokenizer-train", "--vocab", v, 390, 1 << 24, &p.vocab_size))
                rc = CLI_EXIT_USAGE;
        } else if ((r = cli_opt_value("tokenizer-train", argc, argv, &i, "--min-count", NULL,
                                      &v)) != 0) {
            if (r < 0 ||
                !cli_parse_i32("tokenizer-train", "--min-count", v, 1, 1 << 30, &p.min_char_count))
                rc = CLI_EXIT_USAGE;
        } else if ((r = cli_opt_value("tokenizer-train", argc, argv, &i, "--min-pair-count", NULL,
                                      &v)) != 0) {
            if (r < 0 || !cli_parse_i32("tokenizer-train", "--min-pair-count", v, 1, 1 << 30,
                                        &p.min_pair_count))
                rc = CLI_EXIT_USAGE;
        } else {
            rc = cli_usage_error("tokenizer-train", "unknown option '%s'", argv[i]);
        }
    }
    if (rc == CLI_EXIT_OK && n_data == 0)
        rc = cli_usage_error("tokenizer-train", "no training text: give --data FILE");
    if (rc == CLI_EXIT_OK && !p.out_path)
        rc = cli_usage_error("tokenizer-train", "no output: give --out VOCAB.gguf");
    if (rc == CLI_EXIT_OK && p.vocab_size == 0)
        rc = cli_usage_error("tokenizer-train", "no vocabulary size: give --vocab N (e.g. 8192)");
    if (rc != CLI_EXIT_OK) {
        free(data);
        return rc;
    }
    p.data_files = data;
    p.n_data_files = n_data;
    progress pr = {now_s(), isatty(2)};
    if (!quiet) {
        p.progress = on_progress;
        p.user = &pr;
    }
    kw_tokenizer_train_stats s = {0};
    kw_status st = kw_tokenizer_train(&p, &s);
    free(data);
    if (st != KW_OK && st != KW_ERR_INTERNAL) return cli_api_error();
    printf("tokenizer-train: %d tokens = 262 special and byte + %d characters + %d merges; "
           "%lld documents, %lld distinct lines, %lld distinct characters (%lld of %lld "
           "occurrences left to byte fallback); %.1f s\n",
           s.n_vocab, s.n_chars, s.n_merges, (long long)s.n_docs, (long long)s.n_units,
           (long long)s.n_distinct_chars, (long long)s.chars_fallback, (long long)s.chars_in,
           s.seconds);
    if (p.verify)
        printf("tokenizer-train: check with kaiwu's tokenizer: %lld/%lld lines segmented as in "
               "training, %lld/%lld documents round-trip; %lld tokens for %lld characters "
               "(%.3f tokens/char); %.1f s\n",
               (long long)(s.verify_units - s.verify_mismatch), (long long)s.verify_units,
               (long long)(s.verify_docs - s.roundtrip_fail), (long long)s.verify_docs,
               (long long)s.tokens, (long long)s.chars,
               s.chars ? (double)s.tokens / (double)s.chars : 0.0, s.verify_seconds);
    if (st != KW_OK) return cli_api_error();
    printf("tokenizer-train: wrote %s\n", p.out_path);
    return CLI_EXIT_OK;
}
