/* cmd_tokenize.c - `kaiwu tokenize`: show how a model's tokenizer splits text, or turn ids back
 * into text.
 *
 *   kaiwu tokenize -m M.gguf "TEXT"          one line per token: id<TAB>'piece' (escaped)
 *   kaiwu tokenize -m M.gguf --ids "TEXT"    [1, 2, 3]
 *   kaiwu tokenize -m M.gguf --detok 1 2 3   the detokenized text
 *
 * Relies on: kaiwu.h and cli.h only. Must not: include src/ headers.
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

static void tokenize_usage(FILE *f) {
    fputs(
        "usage: kaiwu tokenize -m MODEL.gguf [options] TEXT\n"
        "       kaiwu tokenize -m MODEL.gguf --detok ID [ID ...]\n"
        "\n"
        "Prints one line per token, id<TAB>'piece', with the piece escaped (\\n, \\t, \\\\, \\',\n"
        "other control bytes and bytes that are not valid UTF-8 as \\xNN). TEXT '-' reads stdin.\n"
        "\n"
        "Only the vocabulary is read (not the weights), so MODEL may also be a vocabulary-only\n"
        "file such as llama.cpp's ggml-vocab-*.gguf, of any architecture.\n"
        "\n"
        "options:\n"
        "  -m, --model PATH      GGUF model or vocabulary file (required)\n"
        "  --ids                 print only the ids, as a list: [1, 2, 3]\n"
        "  --no-special          do not add BOS/EOS (default: as the model's metadata says);\n"
        "                        with --detok: do not render special tokens\n"
        "  --no-parse-special    treat special-token text such as <|im_end|> as plain text\n"
        "  --detok ID...         detokenize the ids given after it and print the text\n"
        "  -- TEXT               TEXT that begins with '-'\n"
        "  -h, --help            show this help\n",
        f);
}

/* Prints a piece between quotes: printable ASCII and valid multi-byte UTF-8 as is, the rest
 * escaped. */
static void print_escaped(const char *s, int32_t n) {
    putchar('\'');
    for (int32_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n')
            fputs("\\n", stdout);
        else if (c == '\t')
            fputs("\\t", stdout);
        else if (c == '\r')
            fputs("\\r", stdout);
        else if (c == '\\')
            fputs("\\\\", stdout);
        else if (c == '\'')
            fputs("\\'", stdout);
        else if (c >= 0x20 && c < 0x7f)
            putchar(c);
        else if (c >= 0x80) {
            /* A complete, valid multi-byte character is kept; anything else is shown as bytes. */
            int len = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c < 0xe0 ? 2 : 0;
            bool ok = len > 0 && i + len <= n;
            for (int k = 1; ok && k < len; k++)
                ok = ((unsigned char)s[i + k] & 0xc0) == 0x80;
            if (ok && len == 3) {
                unsigned char c1 = (unsigned char)s[i + 1];
                ok = !(c == 0xe0 && c1 < 0xa0) &&
                     !(c == 0xed && c1 >= 0xa0); /* overlong, surrogate */
            }
            if (ok && len == 4) {
                unsigned char c1 = (unsigned char)s[i + 1];
                ok = !(c == 0xf0 && c1 < 0x90) &&
                     !(c == 0xf4 && c1 >= 0x90); /* overlong, > U+10FFFF */
            }
            if (ok) {
                fwrite(s + i, 1, (size_t)len, stdout);
                i += len;
                continue;
            }
            printf("\\x%02x", c);
        } else
            printf("\\x%02x", c);
        i++;
    }
    putchar('\'');
}

static int detok(const kw_model *model, char **ids, int n_ids, bool render_special) {
    if (n_ids == 0) return cli_usage_error("tokenize", "--detok needs at least one id");
    kw_token *toks = malloc((size_t)n_ids * sizeof *toks);
    if (!toks) {
        fputs("error: out of memory\n", stderr);
        return CLI_EXIT_ERROR;
    }
    for (int i = 0; i < n_ids; i++) {
        if (!cli_parse_i32("tokenize", "--detok", ids[i], 0, INT32_MAX, &toks[i])) {
            free(toks);
            return CLI_EXIT_USAGE;
        }
        if (toks[i] >= kw_model_n_vocab(model)) {
            fprintf(stderr, "error: id %d is outside the vocabulary (%d ids)\n", toks[i],
                    kw_model_n_vocab(model));
            free(toks);
            return CLI_EXIT_ERROR;
        }
    }
    int rc = CLI_EXIT_OK;
    char probe[1];
    int64_t need = kw_detokenize(model, toks, n_ids, probe, sizeof probe, render_special);
    char *buf = need >= 0 ? malloc((size_t)need + 1) : NULL;
    if (need < 0)
        rc = cli_api_error();
    else if (!buf) {
        fputs("error: out of memory\n", stderr);
        rc = CLI_EXIT_ERROR;
    } else {
        int64_t got = kw_detokenize(model, toks, n_ids, buf, (size_t)need + 1, render_special);
        if (got != need)
            rc = cli_api_error();
        else {
            fwrite(buf, 1, (size_t)got, stdout);
            putchar('\n');
        }
    }
    free(buf);
    free(toks);
    return rc;
}

int cmd_tokenize(int argc, char **argv) {
    const char *model_path = NULL, *text_arg = NULL;
    bool ids_only = false, add_special = true, parse_special = true;
    int detok_at = -1; /* argv index of the first id after --detok */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        if (cli_is_help(a)) {
            tokenize_usage(stdout);
            return CLI_EXIT_OK;
        }
        int r = cli_opt_value("tokenize", argc, argv, &i, "--model", "-m", &v);
        if (r < 0) return CLI_EXIT_USAGE;
        if (r > 0)
            model_path = v;
        else if (strcmp(a, "--ids") == 0)
            ids_only = true;
        else if (strcmp(a, "--no-special") == 0)
            add_special = false;
        else if (strcmp(a, "--no-parse-special") == 0)
            parse_special = false;
        else if (strcmp(a, "--detok") == 0) {
            detok_at = i + 1;
            /* The ids run to the end, but options may still follow them. */
            while (i + 1 < argc && argv[i + 1][0] != '-')
                i++;
        } else if (strcmp(a, "--") == 0 && i + 1 < argc && !text_arg) {
            text_arg = argv[++i]; /* text that begins with '-' */
        } else if (a[0] == '-' && a[1])
            return cli_usage_error("tokenize", "unknown option '%s'", a);
        else if (text_arg)
            return cli_usage_error("tokenize", "more than one TEXT ('%s'); quote the text", a);
        else
            text_arg = a;
    }
    if (!model_path) return cli_usage_error("tokenize", "no model: give one with -m MODEL.gguf");
    int n_detok = 0;
    if (detok_at >= 0) {
        while (detok_at + n_detok < argc && argv[detok_at + n_detok][0] != '-')
            n_detok++;
        if (text_arg) return cli_usage_error("tokenize", "give TEXT or --detok IDs, not both");
    } else if (!text_arg)
        return cli_usage_error("tokenize", "no TEXT to tokenize ('-' reads stdin)");

    kw_model *model = NULL;
    kw_model_params mp = {.vocab_only = true}; /* the weights are not needed: no load time */
    if (kw_model_load(model_path, &mp, &model) != KW_OK) return cli_api_error();
    if (detok_at >= 0) {
        int rc = detok(model, argv + detok_at, n_detok, add_special);
        kw_model_free(model);
        return rc;
    }

    char *owned = NULL;
    size_t len;
    const char *text = text_arg;
    if (strcmp(text_arg, "-") == 0) {
        owned = cli_read_file("-", &len);
        if (!owned) {
            kw_model_free(model);
            return CLI_EXIT_ERROR;
        }
        text = owned;
    } else
        len = strlen(text_arg);

    int rc = CLI_EXIT_OK;
    int32_t cap = len + 16 > INT32_MAX ? INT32_MAX : (int32_t)len + 16, n = 0;
    kw_token *toks = malloc((size_t)cap * sizeof *toks);
    kw_status st = toks ? kw_tokenize(model, text, len, add_special, parse_special, toks, cap, &n)
                        : KW_ERR_NOMEM;
    if (st == KW_ERR_BUFFER_SMALL && n > cap) {
        free(toks);
        cap = n;
        toks = malloc((size_t)cap * sizeof *toks);
        st = toks ? kw_tokenize(model, text, len, add_special, parse_special, toks, cap, &n)
                  : KW_ERR_NOMEM;
    }
    if (!toks) {
        fputs("error: out of memory\n", stderr);
        rc = CLI_EXIT_ERROR;
    } else if (st != KW_OK)
        rc = cli_api_error();
    else if (ids_only) {
        putchar('[');
        for (int32_t i = 0; i < n; i++)
            printf(i ? ", %d" : "%d", toks[i]);
        puts("]");
    } else {
        char piece[512];
        for (int32_t i = 0; i < n; i++) {
            int32_t pn = kw_token_to_piece(model, toks[i], piece, (int32_t)sizeof piece, true);
            printf("%d\t", toks[i]);
            print_escaped(piece, pn < 0                       ? 0
                                 : pn > (int32_t)sizeof piece ? (int32_t)sizeof piece
                                                              : pn);
            putchar('\n');
        }
    }
    free(toks);
    free(owned);
    kw_model_free(model);
    return rc;
}
