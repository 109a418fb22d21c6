/* cmd_train.c - `kaiwu train`: pretrain a llama-architecture model on text, or fine-tune one on
 * conversations (--sft), through kw_train. Prints the setup, one progress line per step (step,
 * loss, validation loss when evaluated, learning rate, gradient norm, tokens/s, MFU, ETA) and
 * where checkpoints and the model went. Ctrl-C stops after the current step with a checkpoint.
 *
 * Relies on: kaiwu.h and cli.h only. Must not: include src/ headers.
 */
#include "cli.h"

#include <math.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

static void train_usage(FILE *f) {
    fputs(
        "usage: kaiwu train --data DIR --out MODEL.gguf [options]\n"
        "       kaiwu train --sft --init BASE.gguf --data CONVERSATIONS.jsonl --out MODEL.gguf\n"
        "       mpirun -np N kaiwu train ...            (data-parallel over N ranks)\n"
        "\n"
        "Pretrains a llama-architecture model (RMSNorm, RoPE, grouped-query attention, SwiGLU,\n"
        "tied embeddings) on DIR/train.txt (documents separated by empty lines, validation on\n"
        "DIR/val.txt), tokenized once with the vocabulary GGUF and cached. With --sft, fine-tunes\n"
        "BASE on OpenAI-style conversations ({\"messages\": [...]} per line) rendered through its\n"
        "own chat template; the loss counts only the assistant turns. MODEL.gguf is a standard\n"
        "llama GGUF (F32) with the tokenizer, chat template and provenance (general.training.*).\n"
        "Same seed, threads and ranks give the same losses bit for bit; --resume continues a run\n"
        "exactly where its checkpoint left it.\n"
        "\n"
        "data and model:\n"
        "  --data DIR|FILE          training data (required)\n"
        "  -o, --out MODEL.gguf     the model to write (required)\n"
        "  --tokenizer VOCAB.gguf   vocabulary (default DIR/vocab.gguf; SFT: the base's)\n"
        "  --config FILE            JSON: model shape (n_embd n_layer n_head n_head_kv head_dim\n"
        "                           n_ff n_ctx norm_eps rope_base init_std) and any of the\n"
        "                           training settings below (steps batch micro_batch seq lr\n"
        "                           min_lr warmup weight_decay grad_clip eval_every eval_batches\n"
        "                           checkpoint_every seed); flags override it\n"
        "  --sft                    supervised fine-tuning (needs --init)\n"
        "  --init BASE.gguf         the model to fine-tune (a GGUF kaiwu trained)\n"
        "  --name NAME              general.name of the model (default kaiwu-model)\n"
        "  --corpus TEXT            provenance: what the data is (default: the --data path)\n"
        "\n"
        "training (defaults: pretraining / SFT):\n"
        "  --steps N                optimizer steps (1000 / 300)\n"
        "  --batch B                sequences per step, over all ranks (32)\n"
        "  --micro-batch M          sequences per forward/backward pass on one rank; gradients\n"
        "                           accumulate over B / (ranks x M) passes (B / ranks)\n"
        "  --seq L                  tokens per sequence (256; the model's context unless the\n"
        "                           config sets n_ctx)\n"
        "  --lr LR                  peak learning rate (1e-3 / 3e-4)\n"
        "  --min-lr LR              end of the cosine decay (lr / 10)\n"
        "  --warmup N               linear warmup steps (min(100, steps / 10))\n"
        "  --weight-decay W         AdamW decay of the matrices (0.1)\n"
        "  --grad-clip C            clip the global gradient norm at C, 0 = off (1.0)\n"
        "  --seed S                 initialisation and data order (1234)\n"
        "  -t, --threads T          threads per rank (all cores)\n"
        "\n"
        "evaluation, checkpoints, output:\n"
        "  --eval-every N           validation loss every N steps, 0 = only at the end (100)\n"
        "  --eval-batches N         validation sequences per evaluation, in batches of B (8)\n"
        "  --checkpoint-every N     checkpoint every N steps, 0 = only at the end (200)\n"
        "  --checkpoint-dir DIR     checkpoints and token cache (default MODEL.gguf.ckpt)\n"
        "  --resume CKPT|auto       continue from a checkpoint; auto: from DIR/latest.ckpt when\n"
        "                           it exists, else start fresh (settings come from it; --steps\n"
        "                           may lengthen the run)\n"
        "  --stop-after N           stop after N steps of this process, with a checkpoint\n"
        "  --log-every N            print every Nth step (1)\n"
        "  -h, --help               show this help\n"
        "\n"
        "MFU = (6 x parameters + causal attention FLOPs per token) x tokens/s over the f32 FMA\n"
        "peak measured at the start of the run (the probe of 'kaiwu bench --peak'); (cpu ...) is\n"
        "the same over the CPU time the run got, per thread: on cores shared with other\n"
        "processes, what the run would reach alone.\n"
        "\n"
        "example: kaiwu train --data corpus/prepared --out shi.gguf --config "
        "models/kaiwu-shi.json\n",
        f);
}

typedef struct train_cli {
    kw_train_params p;
    int32_t log_every;
} train_cli;

#define P(f) offsetof(train_cli, p.f)
static const cli_opt train_opts[] = {
    {"--data", NULL, CLI_STR, P(data), 0, 0},
    {"--out", "-o", CLI_STR, P(out), 0, 0},
    {"--tokenizer", NULL, CLI_STR, P(tokenizer), 0, 0},
    {"--config", NULL, CLI_STR, P(config), 0, 0},
    {"--init", NULL, CLI_STR, P(init), 0, 0},
    {"--resume", NULL, CLI_STR, P(resume), 0, 0},
    {"--checkpoint-dir", NULL, CLI_STR, P(checkpoint_dir), 0, 0},
    {"--name", NULL, CLI_STR, P(name), 0, 0},
    {"--corpus", NULL, CLI_STR, P(corpus), 0, 0},
    {"--steps", NULL, CLI_I32, P(steps), 1, 1e9},
    {"--batch", NULL, CLI_I32, P(batch), 1, 1 << 20},
    {"--micro-batch", NULL, CLI_I32, P(micro_batch), 1, 1 << 20},
    {"--seq", NULL, CLI_I32, P(seq), 2, 1 << 20},
    {"--lr", NULL, CLI_F32, P(lr), 1e-9, 10},
    {"--min-lr", NULL, CLI_F32, P(min_lr), 0, 10},
    {"--warmup", NULL, CLI_I32, P(warmup), 0, 1e9},
    {"--weight-decay", NULL, CLI_F32, P(weight_decay), 0, 10},
    {"--grad-clip", NULL, CLI_F32, P(grad_clip), 0, 1e9},
    {"--eval-every", NULL, CLI_I32, P(eval_every), 0, 1e9},
    {"--eval-batches", NULL, CLI_I32, P(eval_batches), 1, 1e9},
    {"--checkpoint-every", NULL, CLI_I32, P(checkpoint_every), 0, 1e9},
    {"--stop-after", NULL, CLI_I32, P(stop_after), 1, 1e9},
    {"--threads", "-t", CLI_I32, P(n_threads), 1, 256},
    {"--log-every", NULL, CLI_I32, offsetof(train_cli, log_every), 1, 1e9},
};
#undef P

static volatile sig_atomic_t stop_requested;

static void on_sigint(int sig) {
    (void)sig;
    stop_requested = 1;
    signal(SIGINT, SIG_DFL); /* a second Ctrl-C ends the process at once */
}

static void fmt_duration(double s, char *buf, size_t cap) {
    if (!(s >= 0) || s > 1e8) {
        snprintf(buf, cap, "?");
        return;
    }
    const long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, cap, "%ldh%02ldm", t / 3600, t / 60 % 60);
    else if (t >= 60)
        snprintf(buf, cap, "%ldm%02lds", t / 60, t % 60);
    else
        snprintf(buf, cap, "%lds", t);
}

static void on_progress(void *user, const kw_train_progress *pr) {
    const train_cli *c = user;
    const bool evaluated = !isnan(pr->val_loss);
    if (pr->step % c->log_every != 0 && pr->step != pr->n_steps && !evaluated) return;
    char eta[32], val[32] = "";
    fmt_duration(pr->eta_s, eta, sizeof eta);
    if (evaluated) snprintf(val, sizeof val, " | val %.4f", pr->val_loss);
    const int w = pr->n_steps >= 100000 ? 6 : pr->n_steps >= 10000 ? 5 : 4;
    printf("step %*lld/%lld | loss %.4f%s | lr %.2e | gnorm %.3f | %.0f tok/s | MFU %.1f%% (cpu "
           "%.1f%%) | ETA %s\n",
           w, (long long)pr->step, (long long)pr->n_steps, pr->loss, val, pr->lr, pr->grad_norm,
           pr->tokens_per_s, 100.0 * pr->mfu, 100.0 * pr->mfu_cpu, eta);
    fflush(stdout);
}

static void on_log(void *user, const char *line) {
    (void)user;
    printf("%s\n", line);
    fflush(stdout);
}

/* The command line as one string for the model's provenance (owned by the caller: free). */
static char *join_args(int argc, char **argv) {
    size_t n = 16;
    for (int i = 0; i < argc; i++)
        n += strlen(argv[i]) + 3;
    char *s = malloc(n);
    if (!s) return NULL;
    strcpy(s, "kaiwu");
    for (int i = 0; i < argc; i++) {
        const bool quote = strchr(argv[i], ' ') != NULL;
        strcat(s, quote ? " \"" : " ");
        strcat(s, argv[i]);
        if (quote) strcat(s, "\"");
    }
    return s;
}

int cmd_train(int argc, char **argv) {
    train_cli c = {.p = kw_train_default_params(), .log_every = 1};
    int64_t seed = -1;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            train_usage(stdout);
            printf("\nMPI: %s\n", kw_train_has_mpi() ? "built in (mpirun -np N kaiwu train ...)"
                                                     : "not built in (install libopenmpi-dev, "
                                                       "rebuild)");
            return CLI_EXIT_OK;
        }
        if (strcmp(argv[i], "--sft") == 0) {
            c.p.sft = true;
            continue;
        }
        const char *v = NULL;
        int r = cli_opt_value("train", argc, argv, &i, "--seed", NULL, &v);
        if (r < 0) return CLI_EXIT_USAGE;
        if (r > 0) {
            uint64_t s;
            if (!cli_parse_u64("train", "--seed", v, &s)) return CLI_EXIT_USAGE;
            seed = (int64_t)(s & INT64_MAX);
            continue;
        }
        const int k = cli_match_opt("train", train_opts, sizeof train_opts / sizeof train_opts[0],
                                    argc, argv, &i, &c);
        if (k == -2) return CLI_EXIT_USAGE;
        if (k == -1) return cli_usage_error("train", "unknown option '%s'", argv[i]);
    }
    c.p.seed = seed;
    if (!c.p.data) return cli_usage_error("train", "give the training data with --data");
    if (!c.p.out) return cli_usage_error("train", "give the model to write with --out MODEL.gguf");
    if (c.p.sft && !c.p.init)
        return cli_usage_error("train", "--sft fine-tunes a model: give it with --init BASE.gguf");
    if (!c.p.sft && c.p.init)
        return cli_usage_error("train", "--init is for fine-tuning: add --sft (pretraining starts "
                                        "from a fresh model)");
    char *cmdline = join_args(argc, argv);
    c.p.command_line = cmdline;
    c.p.stop = (volatile const int *)&stop_requested;
    c.p.on_progress = on_progress;
    c.p.on_log = on_log;
    c.p.user = &c;
    signal(SIGINT, on_sigint);
    kw_status st = kw_train(&c.p);
    signal(SIGINT, SIG_DFL);
    free(cmdline);
    return st == KW_OK ? CLI_EXIT_OK : cli_api_error();
}
