/* pretok.c - the byte-level BPE pre-tokenizers: which regexes tokenizer.ggml.pre calls for, their
 * compilation (PCRE2, UTF + UCP, once per vocabulary) and the split of a text run into pre-tokens.
 *
 * A pre-tokenizer is a list of regexes applied one after the other; each regex splits every
 * current piece into its matches and the gaps between them, and both are kept (an "isolating"
 * split, as in the Hugging Face pre-tokenizers and llama.cpp). Each piece is matched on its own,
 * so look-aheads such as (?!\S) see the end of the piece.
 *
 * Relies on PCRE2 (the text must be valid UTF-8: callers sanitize it first, since matching runs
 * with PCRE2_NO_UTF_CHECK to stay linear). Must not allocate per match: one match data per call.
 */
#include "tokenizer/vocab.h"

#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- regex sets */

#define RE_GPT2         "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"
#define RE_CONTRACTIONS "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"
/* Llama 3's regex; (?i:'s|...) is spelled out as ASCII classes so that case folding cannot
 * reach non-ASCII letters (U+017F folds to 's'). */
#define RE_LLAMA3                                                                                  \
    RE_CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"   \
                    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RE_QWEN2                                                                                   \
    RE_CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"        \
                    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RE_CJK "[一-龥ࠀ-一가-퟿]+"

typedef struct pre_def {
    const char *names[12]; /* tokenizer.ggml.pre values, NULL-terminated */
    const char *re[TOK_MAX_REGEX];
    bool ignore_merges;
    bool no_clean_spaces;
} pre_def;

/* Regexes as published in each model family's tokenizer.json (see tests/data/tokenizer/README.md).
 */
static const pre_def k_pre[] = {
    {{"default", "gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v1-en", "jina-v2-es",
      "jina-v2-de", "jina-v2-code", "roberta-bpe", NULL},
     {RE_GPT2},
     false,
     false},
    {{"mpt", "olmo", NULL}, {RE_GPT2}, false, false},
    {{"llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2",
      NULL},
     {RE_LLAMA3},
     true,
     false},
    {{"dbrx", "smaug-bpe", NULL}, {RE_LLAMA3}, false, false},
    {{"glm4", "chatglm-bpe", NULL}, {RE_LLAMA3}, false, false},
    {{"qwen2", "deepseek-r1-qwen", NULL}, {RE_QWEN2}, false, true},
    {{"starcoder", "refact", "smollm", "codeshell", "exaone", "minerva-7b", NULL},
     {"\\p{N}", RE_GPT2},
     false,
     false},
    {{"command-r", NULL}, {"\\p{N}", RE_GPT2}, false, true},
    {{"falcon", NULL}, {"[\\p{P}\\$\\+<=>\\^~\\|`]+", RE_GPT2, "[0-9][0-9][0-9]"}, false, false},
    {{"deepseek-coder", NULL},
     {"[\\r\\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", RE_CJK, "\\p{N}"},
     false,
     true},
    {{"deepseek-llm", NULL},
     {"[\\r\\n]",
      /* the letters class of DeepSeek LLM, as code points (NFC must not touch it) */
      "\\s?[A-Za-z\\x{B5}\\x{C0}-\\x{D6}\\x{D8}-\\x{F6}\\x{F8}-\\x{1BA}\\x{1BC}-\\x{1BF}"
      "\\x{1C4}-\\x{293}\\x{295}-\\x{2AF}\\x{370}-\\x{373}\\x{376}\\x{377}\\x{37B}-\\x{37D}"
      "\\x{37F}\\x{386}\\x{388}-\\x{38A}\\x{38C}\\x{38E}-\\x{3A1}\\x{3A3}-\\x{3F5}"
      "\\x{3F7}-\\x{481}\\x{48A}-\\x{52F}\\x{531}-\\x{556}\\x{10A0}-\\x{10C5}"
      "\\x{13A0}-\\x{13F5}\\x{13F8}-\\x{13FD}\\x{1C90}-\\x{1CBA}\\x{1CBD}-\\x{1CBF}"
      "\\x{1D00}-\\x{1D2B}\\x{1D6B}-\\x{1D77}\\x{1D79}-\\x{1D9A}\\x{1E00}-\\x{1F15}"
      "\\x{1F18}-\\x{1F1D}\\x{1F20}-\\x{1F45}\\x{1F48}-\\x{1F4D}\\x{1F50}-\\x{1F57}\\x{1F59}"
      "\\x{1F5B}\\x{1F5D}\\x{1F5F}-\\x{1F7D}\\x{1F80}-\\x{1FB4}\\x{1FB6}-\\x{1FBC}\\x{1FBE}"
      "\\x{1FC2}-\\x{1FC4}\\x{1FC6}-\\x{1FCC}\\x{1FD0}-\\x{1FD3}\\x{1FD6}-\\x{1FDB}"
      "\\x{1FE0}-\\x{1FEC}\\x{1FF2}-\\x{1FF4}\\x{1FF6}-\\x{1FFC}\\x{2102}\\x{2107}"
      "\\x{210A}-\\x{2113}\\x{2115}\\x{2119}-\\x{211D}\\x{2124}\\x{2126}\\x{2128}"
      "\\x{212A}-\\x{212D}\\x{212F}-\\x{2134}\\x{2139}\\x{213C}-\\x{213F}\\x{2145}-\\x{2149}"
      "\\x{214E}\\x{2183}\\x{2184}\\x{2C00}-\\x{2C7B}\\x{2C7E}-\\x{2CE4}\\x{2CEB}-\\x{2CEE}"
      "\\x{2CF2}\\x{2CF3}\\x{A640}-\\x{A66D}\\x{A680}-\\x{A69B}\\x{A722}-\\x{A76F}"
      "\\x{A771}-\\x{A787}\\x{A78B}-\\x{A78E}\\x{AB70}-\\x{ABBF}\\x{FB00}-\\x{FB06}"
      "\\x{FB13}-\\x{FB17}\\x{FF21}-\\x{FF3A}\\x{FF41}-\\x{FF5A}\\x{10400}-\\x{1044F}"
      "\\x{104B0}-\\x{104D3}\\x{104D8}-\\x{104FB}\\x{10C80}-\\x{10CB2}\\x{10CC0}-\\x{10CF2}"
      "\\x{118A0}-\\x{118DF}\\x{1E900}-\\x{1E943}]+",
      "\\s?[!-/:-~！-／：-～‘-‟　-。]+", "\\s+$", RE_CJK, "\\p{N}+"},
     false,
     true},
};

static const pre_def *find_pre(const char *name) {
    for (size_t i = 0; i < sizeof(k_pre) / sizeof(k_pre[0]); i++)
        for (int j = 0; k_pre[i].names[j]; j++)
            if (strcmp(k_pre[i].names[j], name) == 0) return &k_pre[i];
    return NULL;
}

kw_status tok_pretok_init(tok_vocab *v) {
    const pre_def *def = find_pre(v->pre_name);
    if (!def) {
        kw_log(1, "tokenizer: unknown tokenizer.ggml.pre '%s'; using the GPT-2 pre-tokenizer",
               v->pre_name);
        def = &k_pre[0];
    }
    v->ignore_merges = def->ignore_merges;
    if (def->no_clean_spaces) v->clean_spaces = false;
    for (int i = 0; i < TOK_MAX_REGEX && def->re[i]; i++) {
        int err = 0;
        PCRE2_SIZE err_off = 0;
        pcre2_code *code = pcre2_compile((PCRE2_SPTR)def->re[i], PCRE2_ZERO_TERMINATED,
                                         PCRE2_UTF | PCRE2_UCP, &err, &err_off, NULL);
        if (!code) {
            PCRE2_UCHAR msg[160];
            pcre2_get_error_message(err, msg, sizeof(msg));
            return kw_error(KW_ERR_INTERNAL,
                            "pre-tokenizer '%s': regex %d does not compile at %zu: %s", v->pre_name,
                            i, (size_t)err_off, (const char *)msg);
        }
        (void)pcre2_jit_compile(code, PCRE2_JIT_COMPLETE); /* interpreted matching if no JIT */
        v->regex[v->n_regex++] = code;
    }
    return KW_OK;
}

void tok_pretok_free(tok_vocab *v) {
    for (int i = 0; i < v->n_regex; i++)
        pcre2_code_free(v->regex[i]);
    v->n_regex = 0;
}

/* ---------------------------------------------------------------- splitting */

kw_status tok_spans_push(tok_spans *s, size_t off, size_t len) {
    if (s->n == s->cap) {
        int64_t cap = s->cap ? s->cap * 2 : 64;
        tok_span *a =
            tok_grow(s->a, (size_t)s->n * sizeof(*a), (size_t)cap * sizeof(*a), "pre-tokens");
        if (!a)
            return kw_error(KW_ERR_NOMEM, "pre-tokenizer: out of memory for %lld pieces",
                            (long long)cap);
        s->a = a;
        s->cap = cap;
    }
    s->a[s->n++] = (tok_span){off, len};
    return KW_OK;
}

void tok_spans_free(tok_spans *s) {
    free(s->a);
    s->a = NULL;
    s->n = s->cap = 0;
}

/* Splits one piece by one regex into matches and gaps, appending to out. */
static kw_status split_piece(pcre2_code *re, pcre2_match_data *md, const char *text, tok_span piece,
                             tok_spans *out) {
    const PCRE2_SPTR subj = (PCRE2_SPTR)(text + piece.off);
    size_t pos = 0, kept = 0;
    kw_status st = KW_OK;
    while (pos < piece.len) {
        int rc = pcre2_match(re, subj, piece.len, pos, PCRE2_NO_UTF_CHECK, md, NULL);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0)
            return kw_error(KW_ERR_INTERNAL,
                            "pre-tokenizer: regex match failed (PCRE2 error %d) "
                            "at byte %zu",
                            rc, piece.off + pos);
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t ms = ov[0], me = ov[1];
        if (me <= ms) { /* empty match: step over one character */
            int n = kw_utf8_seq_len((uint8_t)subj[ms < piece.len ? ms : piece.len - 1]);
            pos = ms + (n > 0 ? (size_t)n : 1);
            continue;
        }
        if (ms > kept && (st = tok_spans_push(out, piece.off + kept, ms - kept)) != KW_OK)
            return st;
        if ((st = tok_spans_push(out, piece.off + ms, me - ms)) != KW_OK) return st;
        kept = pos = me;
    }
    if (kept < piece.len) st = tok_spans_push(out, piece.off + kept, piece.len - kept);
    return st;
}

kw_status tok_pretok_split(const tok_vocab *v, const char *text, size_t len, tok_spans *cur,
                           tok_spans *next) {
    cur->n = 0;
    if (len == 0) return KW_OK;
    kw_status st = tok_spans_push(cur, 0, len);
    for (int r = 0; r < v->n_regex && st == KW_OK; r++) {
        pcre2_match_data *md = pcre2_match_data_create_from_pattern(v->regex[r], NULL);
        if (!md) return kw_error(KW_ERR_NOMEM, "pre-tokenizer: no memory for match data");
        next->n = 0;
        for (int64_t i = 0; i < cur->n && st == KW_OK; i++)
            st = split_piece(v->regex[r], md, text, cur->a[i], next);
        pcre2_match_data_free(md);
        tok_spans t = *cur;
        *cur = *next;
        *next = t;
    }
    return st;
}
