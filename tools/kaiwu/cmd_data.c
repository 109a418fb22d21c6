/* cmd_data.c - `kaiwu data prepare` (corpus JSON -> clean training text) and `kaiwu data sft`
 * (poem metadata -> chat conversations), thin front ends of kw_data_prepare / kw_data_sft.
 *
 * Relies on kaiwu.h and cli.h only. Must not: hold any cleaning or selection logic (the library
 * has it, so other front ends get the same data).
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *const k_data_help =
    "usage: kaiwu data <prepare|sft> [options]\n"
    "\n"
    "  prepare   the corpus JSON (scripts/fetch-corpus.sh) to train.txt, val.txt, poems.jsonl,\n"
    "            report.md\n"
    "  sft       poems.jsonl to chat conversations for supervised fine-tuning\n"
    "\n"
    "Run 'kaiwu data prepare --help' or 'kaiwu data sft --help' for their options.\n";

static const char *const k_prepare_help =
    "usage: kaiwu data prepare --in DIR [--in DIR ...] --out DIR [options]\n"
    "\n"
    "Reads every *.json under the input directories (the chinese-poetry package's layout, e.g.\n"
    "corpus/chinese-poetry from scripts/fetch-corpus.sh), cleans each poem (editorial notes and\n"
    "markup removed, punctuation unified, NFC, traditional -> simplified with OpenCC), drops\n"
    "poems with unreadable characters, exact and near duplicates, splits by poem into training\n"
    "and validation text, and writes into the output directory:\n"
    "  train.txt, val.txt   one poem per document, documents separated by an empty line\n"
    "  poems.jsonl          the metadata of every kept poem (for 'kaiwu data sft')\n"
    "  report.md            counts per source, removals by reason with examples\n"
    "\n"
    "options:\n"
    "  --in DIR                 input directory, searched recursively (repeatable)\n"
    "  --out DIR                output directory (created if missing)\n"
    "  --val-fraction F         share of poems for validation (default 0.01)\n"
    "  --near-dup-threshold J   bigram Jaccard at which two poems are one (default 0.6)\n"
    "  --split-link J           poems this similar share a side of the split (default 0.3)\n"
    "  --seed S                 seed of the split and the MinHash functions (default 0)\n"
    "  --opencc-config FILE     OpenCC configuration (default t2s.json)\n"
    "  -q, --quiet              no progress line\n"
    "\n"
    "example:\n"
    "  scripts/fetch-corpus.sh && kaiwu data prepare --in corpus/chinese-poetry --out data\n";

typedef struct progress_state {
    double t0;
    bool tty;
} progress_state;

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* A progress line: rewritten in place on a terminal; elsewhere (a log) one line per tenth. */
static void on_progress(void *user, const char *stage, int64_t done, int64_t total) {
    progress_state *p = user;
    double t = now_s() - p->t0;
    if (!p->tty && total > 0 && done < total && (done * 10 / total) == ((done - 1) * 10 / total))
        return;
    if (total > 0)
        fprintf(stderr, "%s%s: %lld/%lld (%.0f%%), %.1f s%s", p->tty ? "\r" : "", stage,
                (long long)done, (long long)total, 100.0 * (double)done / (double)total, t,
                p->tty && done < total ? "   " : "\n");
    else
        fprintf(stderr, "%s%s: %lld, %.1f s%s", p->tty ? "\r" : "", stage, (long long)done, t,
                p->tty ? "   " : "\n");
    fflush(stderr);
}

static int cmd_prepare(int argc, char **argv) {
    kw_data_prepare_params p = kw_data_prepare_default_params();
    const char **in = calloc((size_t)argc + 1, sizeof(*in));
    if (!in) return cli_usage_error("data prepare", "out of memory");
    int32_t n_in = 0;
    bool quiet = false;
    int rc = CLI_EXIT_OK;
    for (int i = 1; i < argc && rc == CLI_EXIT_OK; i++) {
        const char *v = NULL;
        float f;
        int r;
        if (cli_is_help(argv[i])) {
            fputs(k_prepare_help, stdout);
            free(in);
            return CLI_EXIT_OK;
        } else if (strcmp(argv[i], "-q") == 0 || strcmp(argv[i], "--quiet") == 0) {
            quiet = true;
        } else if ((r = cli_opt_value("data prepare", argc, argv, &i, "--in", NULL, &v)) != 0) {
            if (r < 0)
                rc = CLI_EXIT_USAGE;
            else
                in[n_in++] = v;
        } else if ((r = cli_opt_value("data prepare", argc, argv, &i, "--out", "-o", &v)) != 0) {
            if (r < 0)
                rc = CLI_EXIT_USAGE;
            else
                p.out_dir = v;
        } else if ((r = cli_opt_value("data prepare", argc, argv, &i, "--val-fraction", NULL,
                                      &v)) != 0) {
            if (r < 0 || !cli_parse_float("data prepare", "--val-fraction", v, 0, 0.5f, &f))
                rc = CLI_EXIT_USAGE;
            else
                p.val_fraction = f;
        } else if ((r = cli_opt_value("data prepare", argc, argv, &i, "--near-dup-threshold", NULL,
                                      &v)) != 0) {
            if (r < 0 || !cli_parse_float("data prepare", "--near-dup-threshold", v, 0.05f, 1, &f))
                rc = CLI_EXIT_USAGE;
            else
                p.near_dup_threshold = f;
        } else if ((r = cli_opt_value("data prepare", argc, argv, &i, "--split-link", NULL, &v)) !=
                   0) {
            if (r < 0 || !cli_parse_float("data prepare", "--split-link", v, 0.05f, 1, &f))
                rc = CLI_EXIT_USAGE;
            else
                p.split_link_threshold = f;
        } else if ((r = cli_opt_value("data prepare", argc, argv, &i, "--seed", NULL, &v)) != 0) {
            if (r < 0 || !cli_parse_u64("data prepare", "--seed", v, &p.seed)) rc = CLI_EXIT_USAGE;
        } else if ((r = cli_opt_value("data prepare", argc, argv, &i, "--opencc-config", NULL,
                                      &v)) != 0) {
            if (r < 0)
                rc = CLI_EXIT_USAGE;
            else
                p.opencc_config = v;
        } else {
            rc = cli_usage_error("data prepare", "unknown option '%s'", argv[i]);
        }
    }
    if (rc == CLI_EXIT_OK && n_in == 0)
        rc = cli_usage_error("data prepare", "no input: give --in DIR (the corpus directory)");
    if (rc == CLI_EXIT_OK && !p.out_dir)
        rc = cli_usage_error("data prepare", "no output: give --out DIR");
    if (rc == CLI_EXIT_OK && p.split_link_threshold > p.near_dup_threshold)
        rc = cli_usage_error("data prepare", "--split-link %g is above --near-dup-threshold %g",
                             p.split_link_threshold, p.near_dup_threshold);
    if (rc != CLI_EXIT_OK) {
        free(in);
        return rc;
    }
    progress_state ps = {now_s(), isatty(2)};
    p.in_dirs = in;
    p.n_in_dirs = n_in;
    if (!quiet) {
        p.progress = on_progress;
        p.user = &ps;
    }
    kw_data_prepare_stats s;
    kw_status st = kw_data_prepare(&p, &s);
    free(in);
    if (st != KW_OK) return cli_api_error();
    printf("prepare: %lld files, %lld records -> %lld train + %lld val documents "
           "(%lld + %lld characters); dropped %lld by the cleaning rules, %lld exact and %lld "
           "near duplicates; %.1f s\n",
           (long long)s.n_files, (long long)s.n_records, (long long)s.n_train, (long long)s.n_val,
           (long long)s.chars_train, (long long)s.chars_val, (long long)s.n_rejected,
           (long long)s.n_exact_dups, (long long)s.n_near_dups, s.seconds);
    printf("prepare: wrote %s/train.txt, val.txt, poems.jsonl, report.md\n", p.out_dir);
    return CLI_EXIT_OK;
}

static const char *const k_sft_help =
    "usage: kaiwu data sft --in DIR --out SFT.jsonl [--eval EVAL.jsonl] [options]\n"
    "\n"
    "Builds chat conversations for supervised fine-tuning (OpenAI messages JSONL) from\n"
    "DIR/poems.jsonl (written by 'kaiwu data prepare'): for each poem of the training split,\n"
    "requests such as 写一首七言绝句，题为《X》 / 填一首《水调歌头》 / 写一首关于春天的诗 /\n"
    "以“…”开头写一首诗 / 《X》的作者是谁？, answered with the poem (or its author). Validation\n"
    "poems are never used; --eval writes the held-out set: 五言绝句 and 七言绝句 titles of the\n"
    "validation split that no training poem has, one request each.\n"
    "\n"
    "options:\n"
    "  --in DIR               the output directory of 'kaiwu data prepare'\n"
    "  --out PATH             the conversations (one JSON object per line, shuffled)\n"
    "  --eval PATH            also write the evaluation set\n"
    "  --eval-min N           fail when --eval has fewer than N titles of a form (default 50)\n"
    "  --per-poem N           requests per poem, of different kinds (default 1)\n"
    "  --max-chars N          leave out poems longer than N characters (default 160)\n"
    "  --max N                write at most N conversations (default: all)\n"
    "  --system TEXT          put a system turn first in every conversation\n"
    "  --seed S               seed of the choices and the order (default 0)\n"
    "\n"
    "example:\n"
    "  kaiwu data sft --in data --out data/sft.jsonl --eval data/eval.jsonl\n";

static int cmd_sft(int argc, char **argv) {
    kw_data_sft_params p = kw_data_sft_default_params();
    int32_t eval_min = 50;
    uint64_t max = 0;
    int rc = CLI_EXIT_OK;
    for (int i = 1; i < argc && rc == CLI_EXIT_OK; i++) {
        const char *v = NULL;
        int r;
        const char *c = "data sft";
        if (cli_is_help(argv[i])) {
            fputs(k_sft_help, stdout);
            return CLI_EXIT_OK;
        } else if ((r = cli_opt_value(c, argc, argv, &i, "--in", NULL, &v)) != 0) {
            if (r < 0)
                rc = CLI_EXIT_USAGE;
            else
                p.in_dir = v;
        } else if ((r = cli_opt_value(c, argc, argv, &i, "--out", "-o", &v)) != 0) {
            if (r < 0)
                rc = CLI_EXIT_USAGE;
            else
                p.out_path = v;
        } else if ((r = cli_opt_value(c, argc, argv, &i, "--eval", NULL, &v)) != 0) {
            if (r < 0)
                rc = CLI_EXIT_USAGE;
            else
                p.eval_path = v;
        } else if ((r = cli_opt_value(c, argc, argv, &i, "--system", NULL, &v)) != 0) {
            if (r < 0)
                rc = CLI_EXIT_USAGE;
            else
                p.system_prompt = v;
        } else if ((r = cli_opt_value(c, argc, argv, &i, "--eval-min", NULL, &v)) != 0) {
            if (r < 0 || !cli_parse_i32(c, "--eval-min", v, 0, 1 << 30, &eval_min))
                rc = CLI_EXIT_USAGE;
        } else if ((r = cli_opt_value(c, argc, argv, &i, "--per-poem", NULL, &v)) != 0) {
            if (r < 0 || !cli_parse_i32(c, "--per-poem", v, 1, 6, &p.per_poem)) rc = CLI_EXIT_USAGE;
        } else if ((r = cli_opt_value(c, argc, argv, &i, "--max-chars", NULL, &v)) != 0) {
            if (r < 0 || !cli_parse_i32(c, "--max-chars", v, 1, 1 << 30, &p.max_chars))
                rc = CLI_EXIT_USAGE;
        } else if ((r = cli_opt_value(c, argc, argv, &i, "--max", NULL, &v)) != 0) {
            if (r < 0 || !cli_parse_u64(c, "--max", v, &max)) rc = CLI_EXIT_USAGE;
        } else if ((r = cli_opt_value(c, argc, argv, &i, "--seed", NULL, &v)) != 0) {
            if (r < 0 || !cli_parse_u64(c, "--seed", v, &p.seed)) rc = CLI_EXIT_USAGE;
        } else {
            rc = cli_usage_error(c, "unknown option '%s'", argv[i]);
        }
    }
    if (rc == CLI_EXIT_OK && !p.in_dir)
        rc = cli_usage_error("data sft", "no input: give --in DIR (holding poems.jsonl)");
    if (rc == CLI_EXIT_OK && !p.out_path)
        rc = cli_usage_error("data sft", "no output: give --out SFT.jsonl");
    if (rc != CLI_EXIT_OK) return rc;
    p.max_conversations = (int64_t)max;
    kw_data_sft_stats s;
    if (kw_data_sft(&p, &s) != KW_OK) return cli_api_error();
    printf("sft: %lld poems read, %lld training poems used -> %lld conversations (title %lld, "
           "form %lld, cipai %lld, theme %lld, first line %lld, author %lld); wrote %s\n",
           (long long)s.n_poems, (long long)s.n_train_used, (long long)s.n_conversations,
           (long long)s.by_kind[0], (long long)s.by_kind[1], (long long)s.by_kind[2],
           (long long)s.by_kind[3], (long long)s.by_kind[4], (long long)s.by_kind[5], p.out_path);
    if (p.eval_path) {
        printf("sft: evaluation set: %lld 五言绝句 and %lld 七言绝句 titles absent from training; "
               "wrote %s\n",
               (long long)s.n_eval_5, (long long)s.n_eval_7, p.eval_path);
        if (s.n_eval_5 < eval_min || s.n_eval_7 < eval_min) {
            fprintf(stderr,
                    "error: the evaluation set needs %d titles of each form (--eval-min); a "
                    "larger --val-fraction in 'kaiwu data prepare' gives more\n",
                    eval_min);
            return CLI_EXIT_ERROR;
        }
    }
    return CLI_EXIT_OK;
}

int cmd_data(int argc, char **argv) {
    if (argc < 2 || cli_is_help(argv[1])) {
        fputs(k_data_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
    }
    if (strcmp(argv[1], "prepare") == 0) return cmd_prepare(argc - 1, argv + 1);
    if (strcmp(argv[1], "sft") == 0) return cmd_sft(argc - 1, argv + 1);
    return cli_usage_error("data", "unknown data command '%s' (prepare, sft)", argv[1]);
}
