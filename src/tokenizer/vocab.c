/* vocab.c - loads a tok_vocab from the tokenizer.ggml.* keys of a GGUF file: token texts, scores,
 * types, merges, special ids and flags, the end-of-generation set, the special-token list used for
 * matching, and two hash maps (text -> id, merge pair -> rank).
 *
 * Relies on the GGUF reader (arrays already bounds-checked at open) and base memory/logging.
 * Must not keep pointers into the GGUF mapping: every text is copied, so the file may be closed.
 * Loading is linear in the vocabulary and merge counts (hash maps, no pairwise scans).
 */
#include "tokenizer/vocab.h"

#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- hash map */

uint32_t tok_hash_bytes(uint32_t h, const char *s, size_t n) {
    /* FNV-1a: simple, and incremental, which lets merge lookups hash "left" " " "right" in
     * pieces without building the joined string. */
    for (size_t i = 0; i < n; i++) {
        h ^= (uint8_t)s[i];
        h *= 16777619u;
    }
    return h;
}

/* Finalizer so that the low bits used for the slot index depend on every input byte. */
static uint32_t mix(uint32_t h) {
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    return h;
}

static kw_status map_init(tok_map *m, int64_t n_entries, const char *what) {
    uint64_t size = 16;
    while (size < (uint64_t)n_entries * 2)
        size <<= 1;
    m->mask = (uint32_t)(size - 1);
    m->slots = kw_malloc(size * sizeof(int32_t), what);
    m->hashes = kw_malloc(size * sizeof(uint32_t), what);
    if (!m->slots || !m->hashes) return KW_ERR_NOMEM;
    memset(m->slots, 0xff, size * sizeof(int32_t));
    return KW_OK;
}

static void map_free(tok_map *m) {
    free(m->slots);
    free(m->hashes);
    m->slots = NULL;
    m->hashes = NULL;
}

/* Inserts entry idx with hash h; `same` tells whether an existing entry has the same key.
 * replace: last insert wins (token texts, as llama.cpp's map assignment); else first wins. */
static void map_insert(tok_map *m, uint32_t h, int32_t idx, const char *const *keys,
                       const uint32_t *lens, bool replace) {
    uint32_t i = mix(h) & m->mask;
    for (;;) {
        int32_t e = m->slots[i];
        if (e < 0) {
            m->slots[i] = idx;
            m->hashes[i] = h;
            return;
        }
        if (m->hashes[i] == h && lens[e] == lens[idx] && memcmp(keys[e], keys[idx], lens[e]) == 0) {
            if (replace) m->slots[i] = idx;
            return;
        }
        i = (i + 1) & m->mask;
    }
}

kw_token tok_find(const tok_vocab *v, const char *s, size_t n) {
    uint32_t h = tok_hash_bytes(TOK_HASH_SEED, s, n);
    const tok_map *m = &v->tok_map;
    for (uint32_t i = mix(h) & m->mask;; i = (i + 1) & m->mask) {
        int32_t e = m->slots[i];
        if (e < 0) return KW_TOKEN_NONE;
        if (m->hashes[i] == h && v->text_len[e] == n && memcmp(v->text[e], s, n) == 0) return e;
    }
}

int32_t tok_merge_rank(const tok_vocab *v, const char *l, size_t ln, const char *r, size_t rn) {
    if (v->n_merges == 0) return -1;
    uint32_t h = tok_hash_bytes(TOK_HASH_SEED, l, ln);
    h = tok_hash_bytes(h, " ", 1);
    h = tok_hash_bytes(h, r, rn);
    const tok_map *m = &v->merge_map;
    for (uint32_t i = mix(h) & m->mask;; i = (i + 1) & m->mask) {
        int32_t e = m->slots[i];
        if (e < 0) return -1;
        if (m->hashes[i] != h || v->merge_split[e] != ln || v->merge_len[e] != ln + 1 + rn)
            continue;
        const char *s = v->merge[e];
        if (memcmp(s, l, ln) == 0 && memcmp(s + ln + 1, r, rn) == 0) return e;
    }
}

void *tok_grow(void *p, size_t keep, size_t new_size, const char *what) {
    void *q = kw_malloc(new_size ? new_size : 1, what);
    if (!q) return NULL;
    if (p && keep) memcpy(q, p, keep < new_size ? keep : new_size);
    free(p);
    return q;
}

/* ---------------------------------------------------------------- reading keys */

/* Reads an optional token id key. Negative values mean "none" (some converters write -1);
 * ids past the vocabulary are an error naming the key. */
static kw_status read_id(const kw_gguf *g, const char *key, int32_t n_vocab, kw_token *out) {
    int64_t k = gguf_find_key(g, key);
    if (k < 0) return KW_OK;
    const gguf_kv *kv = &g->kv[k];
    int64_t val;
    switch (kv->type) {
    case GGUF_VT_U8:
    case GGUF_VT_U16:
    case GGUF_VT_U32:
    case GGUF_VT_U64: val = kv->v.u > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)kv->v.u; break;
    case GGUF_VT_I8:
    case GGUF_VT_I16:
    case GGUF_VT_I32:
    case GGUF_VT_I64: val = kv->v.i; break;
    default:
        return kw_error(KW_ERR_FORMAT, "%s: expected an integer token id, found %s (offset %llu)",
                        key, gguf_vtype_name(kv->type), (unsigned long long)kv->offset);
    }
    if (val < 0) {
        *out = KW_TOKEN_NONE;
        return KW_OK;
    }
    if (val >= n_vocab)
        return kw_error(KW_ERR_FORMAT, "%s = %lld is out of range: the vocabulary has %d tokens",
                        key, (long long)val, n_vocab);
    *out = (kw_token)val;
    return KW_OK;
}

static kw_status read_tokens(const kw_gguf *g, tok_vocab *v) {
    kw_status st = KW_OK;
    const gguf_kv *tokens = gguf_get_arr(g, "tokenizer.ggml.tokens", GGUF_VT_STRING, true, &st);
    if (!tokens) return st;
    if (tokens->arr_n == 0 || tokens->arr_n > INT32_MAX)
        return kw_error(KW_ERR_FORMAT, "tokenizer.ggml.tokens: %llu tokens (expected 1 .. %d)",
                        (unsigned long long)tokens->arr_n, INT32_MAX);
    int32_t n = (int32_t)tokens->arr_n;
    v->n_vocab = n;

    const gguf_kv *scores = gguf_get_arr(g, "tokenizer.ggml.scores", GGUF_VT_F32, false, &st);
    if (st != KW_OK) return st;
    const gguf_kv *types = gguf_get_arr(g, "tokenizer.ggml.token_type", GGUF_VT_I32, false, &st);
    if (st != KW_OK) return st;
    if (scores && scores->arr_n != tokens->arr_n)
        return kw_error(KW_ERR_FORMAT,
                        "tokenizer.ggml.scores has %llu entries but tokenizer.ggml.tokens has %d",
                        (unsigned long long)scores->arr_n, n);
    if (types && types->arr_n != tokens->arr_n)
        return kw_error(
            KW_ERR_FORMAT,
            "tokenizer.ggml.token_type has %llu entries but tokenizer.ggml.tokens has %d",
            (unsigned long long)types->arr_n, n);

    uint64_t total = 0;
    for (int32_t i = 0; i < n; i++) {
        if (tokens->arr_strs[i].len > UINT32_MAX)
            return kw_error(KW_ERR_FORMAT, "tokenizer.ggml.tokens[%d]: length %llu too large", i,
                            (unsigned long long)tokens->arr_strs[i].len);
        total += tokens->arr_strs[i].len;
    }
    v->arena = kw_malloc(total + 1, "token texts");
    v->text = kw_malloc((size_t)n * sizeof(*v->text), "token text index");
    v->text_len = kw_malloc((size_t)n * sizeof(*v->text_len), "token lengths");
    v->score = kw_calloc((size_t)n, sizeof(*v->score), "token scores");
    v->type = kw_malloc((size_t)n, "token types");
    v->eog = kw_calloc((size_t)n, 1, "eog flags");
    v->rstrip = kw_calloc((size_t)n, 1, "rstrip flags");
    if (!v->arena || !v->text || !v->text_len || !v->score || !v->type || !v->eog || !v->rstrip)
        return KW_ERR_NOMEM;

    uint64_t off = 0;
    for (int32_t i = 0; i < n; i++) {
        gguf_str s = tokens->arr_strs[i];
        if (s.len) memcpy(v->arena + off, s.ptr, s.len);
        v->text[i] = v->arena + off;
        v->text_len[i] = (uint32_t)s.len;
        off += s.len;
        if (scores) v->score[i] = gguf_arr_get_f32(scores, (uint64_t)i);
        int64_t t = types ? gguf_arr_get_i64(types, (uint64_t)i) : TOK_TYPE_NORMAL;
        if (t < TOK_TYPE_UNDEFINED || t > TOK_TYPE_BYTE)
            return kw_error(KW_ERR_FORMAT, "tokenizer.ggml.token_type[%d] = %lld (expected 0 .. 6)",
                            i, (long long)t);
        v->type[i] = (uint8_t)t;
    }

    st = map_init(&v->tok_map, n, "token map");
    if (st != KW_OK) return st;
    for (int32_t i = 0; i < n; i++) {
        uint32_t h = tok_hash_bytes(TOK_HASH_SEED, v->text[i], v->text_len[i]);
        map_insert(&v->tok_map, h, i, v->text, v->text_len, true);
    }
    return KW_OK;
}

static kw_status read_merges(const kw_gguf *g, tok_vocab *v) {
    kw_status st = KW_OK;
    const gguf_kv *merges = gguf_get_arr(g, "tokenizer.ggml.merges", GGUF_VT_STRING, true, &st);
    if (!merges) return st;
    if (merges->arr_n > INT32_MAX)
        return kw_error(KW_ERR_FORMAT, "tokenizer.ggml.merges: %llu entries is too many",
                        (unsigned long long)merges->arr_n);
    int32_t n = (int32_t)merges->arr_n;
    uint64_t total = 0;
    for (int32_t i = 0; i < n; i++) {
        if (merges->arr_strs[i].len > UINT32_MAX)
            return kw_error(KW_ERR_FORMAT, "tokenizer.ggml.merges[%d]: length too large", i);
        total += merges->arr_strs[i].len;
    }
    v->merge_arena = kw_malloc(total + 1, "merge texts");
    v->merge = kw_malloc((size_t)n * sizeof(*v->merge) + 1, "merge index");
    v->merge_len = kw_malloc((size_t)n * sizeof(uint32_t) + 1, "merge lengths");
    v->merge_split = kw_malloc((size_t)n * sizeof(uint32_t) + 1, "merge splits");
    if (!v->merge_arena || !v->merge || !v->merge_len || !v->merge_split) return KW_ERR_NOMEM;
    st = map_init(&v->merge_map, n, "merge map");
    if (st != KW_OK) return st;

    uint64_t off = 0;
    for (int32_t i = 0; i < n; i++) {
        gguf_str s = merges->arr_strs[i];
        /* "left right": the first space after the first byte separates the two parts. */
        const char *sp = s.len > 1 ? memchr(s.ptr + 1, ' ', s.len - 1) : NULL;
        if (!sp)
            return kw_error(KW_ERR_FORMAT,
                            "tokenizer.ggml.merges[%d] = '%.*s': no space between "
                            "the two parts",
                            i, (int)(s.len > 64 ? 64 : s.len), s.ptr);
        memcpy(v->merge_arena + off, s.ptr, s.len);
        v->merge[i] = v->merge_arena + off;
        v->merge_len[i] = (uint32_t)s.len;
        v->merge_split[i] = (uint32_t)(sp - s.ptr);
        off += s.len;
        uint32_t h = tok_hash_bytes(TOK_HASH_SEED, v->merge[i], s.len);
        map_insert(&v->merge_map, h, i, v->merge, v->merge_len, false);
    }
    v->n_merges = n;
    return KW_OK;
}

/* ---------------------------------------------------------------- special tokens */

/* End-of-turn names, in the order we prefer when the file has no eot key (llama.cpp looks them
 * up in hash order; a fixed order keeps tok_eot deterministic). */
static const char *const k_eot_names[] = {
    "<|eot_id|>",      "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
    "<|end_of_text|>", "<EOT>",      "_<EOT>",  "[EOT]",         "<end_of_utterance>",
};

/* Tokens that end generation by their text (llama.cpp's list, see issue #9606 there). */
static const char *const k_eog_names[] = {
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "</s>",
    "<|eom_id|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "[EOS]",
    "<|end_of_text|>",
    "<end_of_utterance>",
    "<eos>",
    "<｜end▁of▁sentence｜>",
};

/* FIM pad / repo / file-separator tokens also end generation (llama.cpp does the same). */
static const char *const k_fim_names[] = {
    "<|fim_pad|>",   "<fim-pad>",  "<fim_pad>", "<PAD>",      "<|fim_repo|>",
    "<|repo_name|>", "<fim-repo>", "<REPO>",    "<reponame>", "<|file_sep|>",
};

static kw_token find_cstr(const tok_vocab *v, const char *s) { return tok_find(v, s, strlen(s)); }

static void set_eog(tok_vocab *v) {
    if (v->eot == KW_TOKEN_NONE) {
        for (size_t i = 0; i < sizeof(k_eot_names) / sizeof(k_eot_names[0]); i++) {
            kw_token t = find_cstr(v, k_eot_names[i]);
            if (t != KW_TOKEN_NONE) {
                v->eot = t;
                break;
            }
        }
    }
    if (v->eom == KW_TOKEN_NONE) v->eom = find_cstr(v, "<|eom_id|>");
    for (size_t i = 0; i < sizeof(k_eog_names) / sizeof(k_eog_names[0]); i++) {
        kw_token t = find_cstr(v, k_eog_names[i]);
        if (t != KW_TOKEN_NONE) v->eog[t] = 1;
    }
    /* one FIM pad, one repo and one file-separator token at most, as llama.cpp keeps one id each */
    kw_token pad = KW_TOKEN_NONE, rep = KW_TOKEN_NONE, sep = KW_TOKEN_NONE;
    for (size_t i = 0; i < sizeof(k_fim_names) / sizeof(k_fim_names[0]); i++) {
        kw_token t = find_cstr(v, k_fim_names[i]);
        if (t == KW_TOKEN_NONE) continue;
        if (i < 4 && pad == KW_TOKEN_NONE)
            pad = t;
        else if (i >= 4 && i < 9 && rep == KW_TOKEN_NONE)
            rep = t;
        else if (i == 9)
            sep = t;
    }
    kw_token extra[6] = {pad, rep, sep, v->eos, v->eot, v->eom};
    for (int i = 0; i < 6; i++)
        if (extra[i] != KW_TOKEN_NONE) v->eog[extra[i]] = 1;
}

static bool is_special_type(uint8_t t) {
    return t == TOK_TYPE_CONTROL || t == TOK_TYPE_USER_DEFINED || t == TOK_TYPE_UNKNOWN;
}

typedef struct len_id {
    uint32_t len;
    kw_token id;
} len_id;

static int cmp_len_desc(const void *a, const void *b) {
    const len_id *x = a, *y = b;
    if (x->len != y->len) return x->len > y->len ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* The tokens matched in raw text, longest first (the order llama.cpp's partition uses). */
static kw_status build_special_list(tok_vocab *v) {
    int32_t n = 0;
    for (int32_t i = 0; i < v->n_vocab; i++)
        if (is_special_type(v->type[i]) && v->text_len[i] > 0) n++;
    len_id *tmp = kw_malloc((size_t)n * sizeof(*tmp) + 1, "special token list");
    v->special = kw_malloc((size_t)n * sizeof(kw_token) + 1, "special token list");
    if (!tmp || !v->special) {
        free(tmp);
        return KW_ERR_NOMEM;
    }
    n = 0;
    for (int32_t i = 0; i < v->n_vocab; i++)
        if (is_special_type(v->type[i]) && v->text_len[i] > 0)
            tmp[n++] = (len_id){v->text_len[i], i};
    qsort(tmp, (size_t)n, sizeof(*tmp), cmp_len_desc);
    for (int32_t i = 0; i < n; i++)
        v->special[i] = tmp[i].id;
    v->n_special = n;
    free(tmp);
    return KW_OK;
}

/* Phi-3 special tokens swallow the whitespace after them (its tokenizer's rstrip flags; the GGUF
 * does not record them). llama.cpp keys this on the model name, and so do we. */
static void set_phi3_rstrip(tok_vocab *v, const kw_gguf *g) {
    gguf_str name = {0};
    if (gguf_get_str_opt(g, "general.name", &name) != KW_OK || !name.ptr) return;
    char low[256];
    size_t n = name.len < sizeof(low) - 1 ? name.len : sizeof(low) - 1;
    for (size_t i = 0; i < n; i++) {
        char c = name.ptr[i];
        low[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    low[n] = 0;
    if (!strstr(low, "phi-3") && !strstr(low, "phi3")) return;
    for (int32_t i = 0; i < v->n_special; i++)
        v->rstrip[v->special[i]] = 1;
    kw_token t = find_cstr(v, "</s>");
    if (t != KW_TOKEN_NONE) v->rstrip[t] = 1;
    const char *keep[] = {"<unk>", "<s>", "<|endoftext|>"};
    for (int i = 0; i < 3; i++) {
        t = find_cstr(v, keep[i]);
        if (t != KW_TOKEN_NONE) v->rstrip[t] = 0;
    }
}

static void set_byte_tokens(tok_vocab *v) {
    static const char hex[] = "0123456789ABCDEF";
    for (int b = 0; b < 256; b++) {
        char buf[6] = {'<', '0', 'x', hex[b >> 4], hex[b & 15], '>'};
        v->byte_token[b] = tok_find(v, buf, 6);
    }
}

/* ---------------------------------------------------------------- load / free */

static kw_status read_flags(const kw_gguf *g, tok_vocab *v) {
    kw_status st;
    if ((st = gguf_get_bool_opt(g, "tokenizer.ggml.add_bos_token", &v->add_bos)) != KW_OK)
        return st;
    if ((st = gguf_get_bool_opt(g, "tokenizer.ggml.add_eos_token", &v->add_eos)) != KW_OK)
        return st;
    return gguf_get_bool_opt(g, "tokenizer.ggml.add_space_prefix", &v->add_space_prefix);
}

static kw_status read_ids(const kw_gguf *g, tok_vocab *v) {
    static const struct {
        const char *key;
        size_t off;
    } keys[] = {
        {"tokenizer.ggml.bos_token_id", offsetof(tok_vocab, bos)},
        {"tokenizer.ggml.eos_token_id", offsetof(tok_vocab, eos)},
        {"tokenizer.ggml.eot_token_id", offsetof(tok_vocab, eot)},
        {"tokenizer.ggml.eom_token_id", offsetof(tok_vocab, eom)},
        {"tokenizer.ggml.unknown_token_id", offsetof(tok_vocab, unk)},
        {"tokenizer.ggml.padding_token_id", offsetof(tok_vocab, pad)},
        {"tokenizer.ggml.seperator_token_id", offsetof(tok_vocab, sep)}, /* GGUF's spelling */
    };
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        kw_status st = read_id(g, keys[i].key, v->n_vocab, (kw_token *)((char *)v + keys[i].off));
        if (st != KW_OK) return st;
    }
    return KW_OK;
}

static kw_status load(const kw_gguf *g, tok_vocab *v) {
    gguf_str model;
    kw_status st = gguf_get_str(g, "tokenizer.ggml.model", &model);
    if (st != KW_OK) return st;
    if (gguf_str_eq(model, "llama")) {
        v->kind = TOK_KIND_SPM;
    } else if (gguf_str_eq(model, "gpt2")) {
        v->kind = TOK_KIND_BPE;
    } else {
        return kw_error(
            KW_ERR_UNSUPPORTED,
            "tokenizer.ggml.model '%.*s' is not supported (kaiwu has 'llama' and 'gpt2')",
            (int)(model.len > 64 ? 64 : model.len), model.ptr);
    }
    gguf_str pre = {0};
    if ((st = gguf_get_str_opt(g, "tokenizer.ggml.pre", &pre)) != KW_OK) return st;
    v->pre_name = pre.ptr ? kw_strndup(pre.ptr, pre.len) : kw_strdup("default");
    if (!v->pre_name) return KW_ERR_NOMEM;

    if ((st = read_tokens(g, v)) != KW_OK) return st;
    v->bos = v->eos = v->eot = v->eom = v->unk = v->pad = v->sep = KW_TOKEN_NONE;
    if (v->kind == TOK_KIND_SPM) {
        /* SentencePiece defaults (llama.cpp's): <unk> 0, <s> 1, </s> 2, BOS added, "▁" prefix */
        v->unk = v->n_vocab > 0 ? 0 : KW_TOKEN_NONE;
        v->bos = v->n_vocab > 1 ? 1 : KW_TOKEN_NONE;
        v->eos = v->n_vocab > 2 ? 2 : KW_TOKEN_NONE;
        v->add_bos = true;
        v->add_space_prefix = true;
    } else {
        v->clean_spaces = true; /* pre-tokenizers that do not want it turn it off */
        if ((st = read_merges(g, v)) != KW_OK) return st;
    }
    if ((st = read_ids(g, v)) != KW_OK) return st;
    if ((st = read_flags(g, v)) != KW_OK) return st;
    if (v->kind == TOK_KIND_BPE && (st = tok_pretok_init(v)) != KW_OK) return st;

    set_eog(v);
    if ((st = build_special_list(v)) != KW_OK) return st;
    set_phi3_rstrip(v, g);
    set_byte_tokens(v);
    tok_bytemap_init(v);
    return KW_OK;
}

kw_status tok_vocab_load(const kw_gguf *g, tok_vocab **out) {
    if (!g || !out) return kw_error(KW_ERR_INVALID_ARG, "tok_vocab_load: NULL argument");
    tok_vocab *v = kw_calloc(1, sizeof(*v), "tok_vocab");
    if (!v) return KW_ERR_NOMEM;
    kw_status st = load(g, v);
    if (st != KW_OK) {
        tok_vocab_free(v);
        return st;
    }
    *out = v;
    return KW_OK;
}

void tok_vocab_free(tok_vocab *v) {
    if (!v) return;
    tok_pretok_free(v);
    map_free(&v->tok_map);
    map_free(&v->merge_map);
    free(v->pre_name);
    free(v->arena);
    free(v->text);
    free(v->text_len);
    free(v->score);
    free(v->type);
    free(v->eog);
    free(v->rstrip);
    free(v->merge_arena);
    free(v->merge);
    free(v->merge_len);
    free(v->merge_split);
    free(v->special);
    free(v);
}

/* ---------------------------------------------------------------- accessors */

tok_kind tok_vocab_kind(const tok_vocab *v) { return v->kind; }
const char *tok_vocab_pre_name(const tok_vocab *v) { return v->pre_name; }
int32_t tok_n_vocab(const tok_vocab *v) { return v->n_vocab; }
kw_token tok_bos(const tok_vocab *v) { return v->bos; }
kw_token tok_eos(const tok_vocab *v) { return v->eos; }
kw_token tok_eot(const tok_vocab *v) { return v->eot; }
kw_token tok_unk(const tok_vocab *v) { return v->unk; }
kw_token tok_pad(const tok_vocab *v) { return v->pad; }
bool tok_add_bos(const tok_vocab *v) { return v->add_bos; }
bool tok_add_eos(const tok_vocab *v) { return v->add_eos; }

bool tok_is_eog(const tok_vocab *v, kw_token t) { return t >= 0 && t < v->n_vocab && v->eog[t]; }

tok_type tok_token_type(const tok_vocab *v, kw_token t) {
    if (t < 0 || t >= v->n_vocab) return TOK_TYPE_UNDEFINED;
    return (tok_type)v->type[t];
}

const char *tok_token_text(const tok_vocab *v, kw_token t, size_t *len) {
    if (t < 0 || t >= v->n_vocab) {
        if (len) *len = 0;
        return NULL;
    }
    if (len) *len = v->text_len[t];
    return v->text[t];
}
