/* cmd_info.c - `kaiwu info FILE`: what a GGUF file holds and whether kaiwu can run it.
 *
 * Prints the file header, the model summary (when kw_model_load accepts the file), every metadata
 * key and every tensor with per-type totals. Uses only the public API (include/kaiwu.h).
 *
 * Exit status: 0 the file was read and kaiwu can run it; 1 the file is malformed (kw_gguf_open
 * failed: "error: <message>") or kaiwu cannot run it (the file-level facts are printed first, then
 * "kaiwu cannot run this file: <message>" on stderr); 2 a usage error.
 *
 * Must not: read the file other than through kw_gguf_* / kw_model_*.
 */
#include "cli.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INFO_MAX_ITEMS 8   /* array elements shown without --full */
#define INFO_MAX_VALUE 160 /* bytes of a rendered value shown without --full */

int cmd_info(int argc, char **argv);

static void usage(FILE *f) {
    fprintf(f,
            "usage: kaiwu info [--full] FILE\n"
            "\n"
            "Shows what a GGUF file holds and whether kaiwu can run it:\n"
            "  file      size, GGUF version, alignment, where the tensor data begins\n"
            "  model     architecture, the kaiwu family description used, hyperparameters (RoPE,\n"
            "            norms, scales), parameter count, tokenizer kind and vocabulary size,\n"
            "            BOS/EOS/EOT token ids and their text, whether a chat template is present\n"
            "  metadata  every key with its type and value (strings quoted, control characters\n"
            "            escaped; arrays show their first %d items and the count)\n"
            "  tensors   every tensor: name, type, shape (innermost dimension first), bytes, file\n"
            "            offset; then totals per type and overall\n"
            "\n"
            "options:\n"
            "  --full    show every array element and whole long strings (e.g. the chat template)\n"
            "  -h, --help  show this help\n"
            "\n"
            "exit status: 0 kaiwu can run the file, or tokenize with it (a vocabulary-only file);\n"
            "1 the file is malformed or kaiwu cannot use it (the reason is printed on stderr);\n"
            "2 a usage error.\n",
            INFO_MAX_ITEMS);
}

/* ---------------------------------------------------------------- printing helpers */

static void human_bytes(uint64_t n, char *buf, size_t cap) {
    if (n >= (1ull << 30))
        snprintf(buf, cap, "%.2f GiB", (double)n / (double)(1ull << 30));
    else if (n >= (1ull << 20))
        snprintf(buf, cap, "%.2f MiB", (double)n / (double)(1ull << 20));
    else if (n >= 1024)
        snprintf(buf, cap, "%.1f KiB", (double)n / 1024.0);
    else
        snprintf(buf, cap, "%" PRIu64 " B", n);
}

/* Prints bytes with control characters escaped (token texts may hold newlines or bytes < 32). */
static void print_escaped(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n')
            fputs("\\n", stdout);
        else if (c == '\t')
            fputs("\\t", stdout);
        else if (c == '\r')
            fputs("\\r", stdout);
        else if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20 || c == 0x7f)
            printf("\\x%02x", c);
        else
            putchar(c);
    }
}

/* Prints a value rendering, cut at a UTF-8 boundary near INFO_MAX_VALUE unless full. */
static void print_value(const char *v, size_t len, bool full) {
    if (full || len <= INFO_MAX_VALUE) {
        fwrite(v, 1, len, stdout);
        return;
    }
    size_t cut = INFO_MAX_VALUE - 20;
    while (cut > 0 && ((unsigned char)v[cut] & 0xC0) == 0x80)
        cut--;
    fwrite(v, 1, cut, stdout);
    printf("... (%zu characters in all; --full shows everything)", len);
}

static void print_indented(const char *text, const char *indent) {
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        if (n > 0) printf("%s%.*s\n", indent, (int)n, p);
        p += n + (nl ? 1 : 0);
    }
}

/* ---------------------------------------------------------------- sections */

static void print_file(const char *path, const kw_gguf *g) {
    char hb[32];
    human_bytes(kw_gguf_file_size(g), hb, sizeof hb);
    printf("file: %s\n", path);
    printf("  size:          %" PRIu64 " bytes (%s)\n", kw_gguf_file_size(g), hb);
    printf("  GGUF version:  %u\n", kw_gguf_version(g));
    printf("  alignment:     %u\n", kw_gguf_alignment(g));
    printf("  data offset:   %" PRIu64 "\n", kw_gguf_data_offset(g));
    printf("  metadata keys: %" PRId64 "\n", kw_gguf_n_kv(g));
    printf("  tensors:       %" PRId64 "\n", kw_gguf_n_tensors(g));
}

static void print_token(const kw_model *m, const char *label, kw_token id) {
    printf("  %-14s", label);
    if (id == KW_TOKEN_NONE) {
        printf("none\n");
        return;
    }
    char piece[256];
    int32_t n = kw_token_to_piece(m, id, piece, (int32_t)sizeof piece, true);
    printf("%d", id);
    if (n >= 0) {
        printf(" \"");
        print_escaped(piece, (size_t)(n < (int32_t)sizeof piece ? n : (int32_t)sizeof piece));
        printf("\"");
    } else {
        printf(" (invalid id)");
    }
    printf("\n");
}

static void print_model(const kw_model *m) {
    printf("model:\n");
    printf("  architecture:  %s\n", kw_model_arch(m));
    if (kw_model_vocab_only(m))
        printf("  kaiwu family:  none: a vocabulary only (no weights; kaiwu tokenize uses it)\n");
    else
        printf("  kaiwu family:  %s\n", kw_model_family(m));
    const char *name = kw_model_name(m);
    if (name && name[0]) printf("  name:          %s\n", name);
    /* hyperparameters: kw_model_describe gives them all, one per line */
    size_t cap = 4096;
    char *desc = malloc(cap);
    size_t want = desc ? kw_model_describe(m, desc, cap) : 0;
    if (desc && want >= cap) {
        char *bigger = realloc(desc, want + 1);
        if (bigger)
            kw_model_describe(m, bigger, want + 1);
        else
            free(desc);
        desc = bigger;
    }
    if (desc) {
        print_indented(desc, "  ");
        free(desc);
    }
    char hb[32];
    human_bytes(kw_model_weight_bytes(m), hb, sizeof hb);
    if (!kw_model_vocab_only(m))
        printf("  parameters:    %" PRIu64 " (weights %s)\n", kw_model_n_params(m), hb);
    printf("  tokenizer:     %s, vocabulary %d\n", kw_model_tokenizer_kind(m), kw_model_n_vocab(m));
    print_token(m, "BOS:", kw_token_bos(m));
    print_token(m, "EOS:", kw_token_eos(m));
    print_token(m, "EOT:", kw_token_eot(m));
    const char *tmpl = kw_model_chat_template(m);
    if (tmpl)
        printf("  chat template: present (%zu bytes)\n", strlen(tmpl));
    else
        printf("  chat template: none\n");
}

static void print_metadata(const kw_gguf *g, bool full) {
    printf("metadata (%" PRId64 " keys):\n", kw_gguf_n_kv(g));
    int max_items = full ? -1 : INFO_MAX_ITEMS;
    size_t cap = 4096;
    char *buf = malloc(cap);
    for (int64_t i = 0; buf && i < kw_gguf_n_kv(g); i++) {
        size_t want = kw_gguf_kv_format(g, i, buf, cap, max_items);
        if (want >= cap && (full || want < 1u << 20)) {
            char *nb = realloc(buf, want + 1);
            if (!nb) break;
            buf = nb;
            cap = want + 1;
            kw_gguf_kv_format(g, i, buf, cap, max_items);
        }
        printf("  %-44s %-14s = ", kw_gguf_kv_key(g, i), kw_gguf_kv_type_name(g, i));
        print_value(buf, want < cap ? want : cap - 1, full);
        printf("\n");
    }
    free(buf);
}

typedef struct type_total {
    const char *name;
    int64_t n;
    uint64_t bytes, elems;
} type_total;

static void print_tensors(const kw_gguf *g) {
    printf("tensors (%" PRId64 "):\n", kw_gguf_n_tensors(g));
    printf("  %-40s %-8s %-28s %12s %12s\n", "name", "type", "shape", "bytes", "offset");
    type_total totals[64] = {{0}};
    int n_types = 0;
    uint64_t all_bytes = 0, all_elems = 0;
    for (int64_t i = 0; i < kw_gguf_n_tensors(g); i++) {
        kw_tensor_info t;
        if (kw_gguf_tensor(g, i, &t) != KW_OK) continue;
        char shape[96];
        int pos = snprintf(shape, sizeof shape, "[");
        uint64_t elems = 1;
        for (int d = 0; d < t.n_dims && d < 4; d++) {
            pos += snprintf(shape + pos, sizeof shape - (size_t)pos, "%s%" PRId64, d ? ", " : "",
                            t.ne[d]);
            elems *= (uint64_t)t.ne[d];
        }
        snprintf(shape + pos, sizeof shape - (size_t)pos, "]");
        printf("  %-40s %-8s %-28s %12" PRIu64 " %12" PRIu64 "\n", t.name, t.type_name, shape,
               t.n_bytes, t.offset);
        int k = 0;
        while (k < n_types && strcmp(totals[k].name, t.type_name) != 0)
            k++;
        if (k == n_types && n_types < 64) totals[n_types++].name = t.type_name;
        if (k < 64) {
            totals[k].n++;
            totals[k].bytes += t.n_bytes;
            totals[k].elems += elems;
        }
        all_bytes += t.n_bytes;
        all_elems += elems;
    }
    printf("totals:\n");
    char hb[32];
    for (int k = 0; k < n_types; k++) {
        human_bytes(totals[k].bytes, hb, sizeof hb);
        printf("  %-8s %5" PRId64 " tensors %14" PRIu64 " values %14" PRIu64 " bytes (%s)\n",
               totals[k].name, totals[k].n, totals[k].elems, totals[k].bytes, hb);
    }
    human_bytes(all_bytes, hb, sizeof hb);
    printf("  %-8s %5" PRId64 " tensors %14" PRIu64 " values %14" PRIu64 " bytes (%s)\n", "all",
           kw_gguf_n_tensors(g), all_elems, all_bytes, hb);
}

/* ---------------------------------------------------------------- command */

int cmd_info(int argc, char **argv) {
    bool full = false;
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--full") == 0) {
            full = true;
        } else if (a[0] == '-' && a[1] != 0) {
            return cli_usage_error("info", "unknown option '%s'", a);
        } else if (path) {
            return cli_usage_error("info", "one FILE only (got '%s' and '%s')", path, a);
        } else {
            path = a;
        }
    }
    if (!path) return cli_usage_error("info", "missing FILE (a GGUF model or vocabulary)");
    kw_gguf *g = NULL;
    if (kw_gguf_open(path, &g) != KW_OK) {
        fprintf(stderr, "error: %s\n", kw_last_error());
        return 1;
    }
    print_file(path, g);
    kw_model *m = NULL;
    kw_status st = kw_model_load(path, NULL, &m);
    char load_error[1024] = "";
    if (st == KW_OK)
        print_model(m);
    else
        snprintf(load_error, sizeof load_error, "%s", kw_last_error());
    print_metadata(g, full);
    print_tensors(g);
    kw_model_free(m);
    kw_gguf_close(g);
    fflush(stdout);
    if (st != KW_OK) {
        fprintf(stderr, "kaiwu cannot run this file: %s\n", load_error);
        return 1;
    }
    return 0;
}
