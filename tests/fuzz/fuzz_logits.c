/* fuzz_logits.c - libFuzzer target for the saved-logits reader of `kaiwu perplexity --kl-base`
 * (tools/kaiwu/cmd_perplexity.c: header, then one record per scored position with the base
 * model's top-k ids and logits). The reader is part of the command, so this target links the
 * CLI's objects and runs the command as the CLI would:
 *   perplexity -m tests/bad-input/corpus/valid-base.gguf -f TEXT -c 8 --kl-base INPUT
 * (a 1-layer, 32-token model: each run takes well under a millisecond per chunk). Any status
 * is fine; a crash, sanitizer report or leak is a bug. Seeds: files this command wrote with
 * --save-logits (tests/fuzz/corpus/logits/). Run from the repository root. */
/* The CLI's shared helpers (cli_parse_i32, cli_read_file, ...) live in its main.c: included
 * with its main() renamed; the commands themselves are linked from the CLI objects. */
#define main kaiwu_cli_main
#include "../../tools/kaiwu/main.c"
#undef main

#include "fuzz_util.h"

static const char text[] = "hello world, hello kaiwu. the quick brown fox jumps over the lazy dog "
                           "again and again.\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static char text_path[128];
    if (!text_path[0] && fuzz_write_file("logits-text", (const uint8_t *)text, sizeof text - 1,
                                         text_path, sizeof text_path) != 0)
        return 0;
    char path[128];
    if (fuzz_write_file("logits", data, size, path, sizeof path) != 0) return 0;
    char *argv[] = {"perplexity", "-m",        "tests/bad-input/corpus/valid-base.gguf",
                    "-f",         text_path,   "-c",
                    "8",          "--kl-base", path,
                    NULL};
    fflush(stdout);
    cmd_perplexity(9, argv);
    fflush(stdout);
    unlink(path);
    return 0;
}
