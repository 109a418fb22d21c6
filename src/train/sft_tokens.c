/* sft_tokens.c - conversations for supervised fine-tuning: an OpenAI-style JSONL file (one
 * {"messages": [{"role": ..., "content": ...}, ...]} per line) rendered through the model's own
 * chat template and tokenized exactly as kaiwu's chat does at inference (kw_chat_render with
 * add_generation_prompt, kw_chat_tokenize: special tokens parsed, BOS as the model's metadata
 * says), with a mask over the tokens the model must learn to write: each assistant turn's
 * content and its end-of-turn.
 *
 * The mask of assistant turn i spans from the end of the rendering of messages [0, i) with the
 * generation prompt to the end of the rendering of messages [0, i]; both are matched against the
 * full conversation's tokens by their longest common prefix, so a template that renders a turn
 * differently once later turns follow still gives a mask inside the conversation.
 * Relies on: the chat API of kaiwu.h and jansson. Must not: train on the prompt (user/system
 * turns have mask 0).
 */
#include "train/train.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A growing stream (ids, mask, document starts). */
typedef struct stream_builder {
    token_stream s;
    int64_t cap, doc_cap;
} stream_builder;

static kw_status builder_add(stream_builder *b, const kw_token *ids, const uint8_t *mask,
                             int64_t n) {
    if (b->s.n + n > b->cap) {
        int64_t nc = b->cap ? b->cap * 2 : 65536;
        while (nc < b->s.n + n)
            nc *= 2;
        int32_t *ni = train_realloc(b->s.ids, sizeof(int32_t) * (size_t)nc, "SFT tokens");
        if (!ni) return KW_ERR_NOMEM;
        b->s.ids = ni;
        uint8_t *nm = train_realloc(b->s.mask, (size_t)nc, "SFT mask");
        if (!nm) return KW_ERR_NOMEM;
        b->s.mask = nm, b->cap = nc;
    }
    if (b->s.n_docs + 2 > b->doc_cap) {
        const int64_t nc = b->doc_cap ? b->doc_cap * 2 : 4096;
        int64_t *nd = train_realloc(b->s.docs, sizeof(int64_t) * (size_t)nc, "SFT documents");
        if (!nd) return KW_ERR_NOMEM;
        b->s.docs = nd, b->doc_cap = nc;
    }
    memcpy(b->s.ids + b->s.n, ids, sizeof(int32_t) * (size_t)n);
    memcpy(b->s.mask + b->s.n, mask, (size_t)n);
    b->s.docs[b->s.n_docs++] = b->s.n;
    b->s.n += n;
    b->s.docs[b->s.n_docs] = b->s.n;
    return KW_OK;
}

/* Tokens of messages[0, n_msgs) rendered with or without the generation prompt. */
static kw_status render_ids(const kw_chat *chat, json_t *messages, size_t n_msgs, bool gen,
                            kw_token **ids, int32_t *n) {
    json_t *part = json_array();
    if (!part) return KW_ERR_NOMEM;
    for (size_t i = 0; i < n_msgs; i++)
        json_array_append(part, json_array_get(messages, i));
    char *js = json_dumps(part, JSON_COMPACT);
    json_decref(part);
    if (!js) return kw_error(KW_ERR_NOMEM, "SFT: out of memory serialising messages");
    char *text = NULL;
    kw_status st = kw_chat_render(chat, js, NULL, gen, NULL, &text);
    free(js);
    if (st) return st;
    st = kw_chat_tokenize(chat, text, ids, n);
    free(text);
    return st;
}

static int32_t common_prefix(const kw_token *a, int32_t na, const kw_token *b, int32_t nb) {
    int32_t i = 0;
    while (i < na && i < nb && a[i] == b[i])
        i++;
    return i;
}

/* One conversation: its tokens and mask appended to b. *n_assistant gets its assistant turns. */
static kw_status add_conversation(const kw_chat *chat, json_t *messages, stream_builder *b,
                                  int32_t *n_tokens, int *n_assistant) {
    const size_t n_msgs = json_array_size(messages);
    kw_token *full = NULL;
    int32_t n_full = 0;
    kw_status st = render_ids(chat, messages, n_msgs, false, &full, &n_full);
    if (st) return st;
    uint8_t *mask = kw_calloc((size_t)(n_full > 0 ? n_full : 1), 1, "SFT mask");
    if (!mask) {
        free(full);
        return KW_ERR_NOMEM;
    }
    *n_assistant = 0;
    for (size_t i = 0; i < n_msgs && !st; i++) {
        const char *role = json_string_value(json_object_get(json_array_get(messages, i), "role"));
        if (!role || strcmp(role, "assistant") != 0) continue;
        kw_token *pre = NULL, *upto = NULL;
        int32_t n_pre = 0, n_upto = 0;
        if ((st = render_ids(chat, messages, i, true, &pre, &n_pre)) == KW_OK &&
            (st = render_ids(chat, messages, i + 1, false, &upto, &n_upto)) == KW_OK) {
            const int32_t a = common_prefix(pre, n_pre, full, n_full);
            const int32_t z = common_prefix(upto, n_upto, full, n_full);
            for (int32_t k = a; k < z; k++)
                mask[k] = 1;
            ++*n_assistant;
        }
        free(pre);
        free(upto);
    }
    if (!st) st = builder_add(b, full, mask, n_full);
    *n_tokens = n_full;
    free(full);
    free(mask);
    return st;
}

kw_status sft_streams_from_jsonl(const kw_model *model, const char *path, int32_t val_every,
                                 token_stream *train, token_stream *val, int64_t *n_truncated,
                                 int32_t max_len) {
    FILE *f = fopen(path, "rb");
    if (!f) return kw_error(KW_ERR_IO, "cannot open SFT data '%s'", path);
    kw_chat *chat = NULL;
    kw_status st = kw_chat_create(model, NULL, &chat);
    stream_builder bt = {0}, bv = {0};
    char *line = NULL;
    size_t line_cap = 0;
    int64_t lineno = 0, n_conv = 0, n_long = 0;
    while (!st) {
        const ssize_t len = getline(&line, &line_cap, f);
        if (len < 0) break;
        lineno++;
        if (len == 0 || line[0] == '\n') continue;
        json_error_t err;
        json_t *obj = json_loadb(line, (size_t)len, 0, &err);
        json_t *messages = obj ? json_object_get(obj, "messages") : NULL;
        if (!json_is_array(messages) || json_array_size(messages) == 0) {
            st = kw_error(KW_ERR_FORMAT,
                          "'%s' line %lld: %s (each line must be {\"messages\": [{\"role\": ..., "
                          "\"content\": ...}, ...]})",
                          path, (long long)lineno,
                          obj ? "no non-empty \"messages\" array" : err.text);
            json_decref(obj);
            break;
        }
        const bool to_val = val_every > 0 && n_conv % val_every == val_every - 1;
        int32_t n_tok = 0;
        int n_asst = 0;
        st = add_conversation(chat, messages, to_val ? &bv : &bt, &n_tok, &n_asst);
        json_decref(obj);
        if (st) {
            kw_error_wrap(st, "'%s' line %lld", path, (long long)lineno);
            break;
        }
        if (n_asst == 0) {
            st = kw_error(KW_ERR_FORMAT,
                          "'%s' line %lld: the conversation has no assistant turn "
                          "to learn from",
                          path, (long long)lineno);
            break;
        }
        if (n_tok > max_len) n_long++;
        n_conv++;
    }
    free(line);
    fclose(f);
    kw_chat_free(chat);
    if (!st && bt.s.n_docs == 0)
        st = kw_error(KW_ERR_FORMAT, "'%s' holds no conversation for training", path);
    if (st) {
        token_stream_free(&bt.s);
        token_stream_free(&bv.s);
        return st;
    }
    *train = bt.s;
    *val = bv.s;
    *n_truncated = n_long;
    return KW_OK;
}
