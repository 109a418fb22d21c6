/* test_vocab_only.c - vocabulary-only models through the public API: every file of
 * tests/data/tokenizer/vocab (GGUF without tensors, architectures kaiwu cannot run among them:
 * gpt2, falcon, starcoder, ...) loads with kw_model_load, tokenizes the first 20 cases of its
 * cases/<name>.jsonl to the expected ids, and refuses a context with a message that says why; a
 * full model loaded with vocab_only tokenizes as the full load does, and chat rendering works on a
 * vocabulary-only model.
 */
#include "../test.h"
#include "kaiwu.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static const char *const vocabs[] = {"llama-spm", "phi-3",  "gpt-2",     "deepseek-coder",
                                     "starcoder", "falcon", "llama-bpe", "qwen2"};

/* Tokenizes the first n cases of cases/<name>.jsonl; returns how many gave the expected ids. */
static int run_cases(const kw_model *m, const char *name, int n, int *n_run) {
    char rel[128];
    snprintf(rel, sizeof rel, "tokenizer/cases/%s.jsonl", name);
    FILE *f = fopen(test_data_path(rel), "rb");
    if (!f) return 0;
    char line[65536];
    int good = 0;
    *n_run = 0;
    kw_token ids[4096];
    while (*n_run < n && fgets(line, sizeof line, f)) {
        json_error_t err;
        json_t *c = json_loads(line, 0, &err);
        json_t *jt = json_object_get(c, "text"), *ji = json_object_get(c, "ids");
        if (!json_is_string(jt) || !json_is_array(ji)) {
            json_decref(c);
            continue;
        }
        (*n_run)++;
        int32_t got = 0;
        kw_status st =
            kw_tokenize(m, json_string_value(jt), json_string_length(jt), false,
                        json_is_true(json_object_get(c, "parse_special")), ids, 4096, &got);
        bool same = st == KW_OK && (size_t)got == json_array_size(ji);
        for (int32_t i = 0; same && i < got; i++)
            same = ids[i] == json_integer_value(json_array_get(ji, (size_t)i));
        good += same;
        json_decref(c);
    }
    fclose(f);
    return good;
}

static void test_vocab_files_load_and_tokenize(void) {
    for (size_t i = 0; i < sizeof vocabs / sizeof vocabs[0]; i++) {
        char rel[128];
        snprintf(rel, sizeof rel, "tokenizer/vocab/%s.gguf", vocabs[i]);
        kw_model *m = NULL;
        kw_status st = kw_model_load(test_data_path(rel), NULL, &m);
        CHECK(st == KW_OK, "%s: a vocabulary-only file loads (%s)", vocabs[i], kw_last_error());
        if (st != KW_OK) continue;
        CHECK(kw_model_vocab_only(m), "%s: it says it is vocabulary-only", vocabs[i]);
        CHECK(kw_model_n_vocab(m) > 30000, "%s: with its vocabulary (%d tokens)", vocabs[i],
              kw_model_n_vocab(m));
        CHECK(kw_model_arch(m)[0] != 0 && strcmp(kw_model_family(m), "") == 0,
              "%s: architecture '%s' named, no kaiwu family", vocabs[i], kw_model_arch(m));
        int n_run = 0, good = run_cases(m, vocabs[i], 20, &n_run);
        CHECK(n_run == 20 && good == n_run, "%s: %d of %d cases give the expected ids", vocabs[i],
              good, n_run);
        kw_context *ctx = NULL;
        st = kw_context_create(m, NULL, &ctx);
        CHECK(st == KW_ERR_INVALID_ARG && ctx == NULL &&
                  strstr(kw_last_error(), "holds only a vocabulary (no weights)"),
              "%s: a context is refused with a clear message: %s", vocabs[i], kw_last_error());
        char desc[256];
        kw_model_describe(m, desc, sizeof desc);
        CHECK(strstr(desc, "vocabulary only") != NULL, "%s: describe says vocabulary only",
              vocabs[i]);
        kw_model_free(m);
    }
}

static void test_vocab_only_param_on_a_full_model(void) {
    const char *path = test_data_path("models/tiny-qwen3-f16.gguf");
    kw_model *full = NULL, *voc = NULL;
    kw_model_params p = {.vocab_only = true};
    CHECK(kw_model_load(path, NULL, &full) == KW_OK, "the full model loads (%s)", kw_last_error());
    CHECK(kw_model_load(path, &p, &voc) == KW_OK, "the same file loads with vocab_only (%s)",
          kw_last_error());
    if (!full || !voc) {
        kw_model_free(full);
        kw_model_free(voc);
        return;
    }
    CHECK(!kw_model_vocab_only(full) && kw_model_vocab_only(voc),
          "only the vocab_only load is vocabulary-only");
    CHECK(kw_model_weight_bytes(voc) == 0 && kw_model_n_layer(voc) == 0,
          "no weights and no layers are loaded with vocab_only");
    const char *text = "<|im_start|>user\n人工智能 héllo<|im_end|>";
    kw_token a[64], b[64];
    int32_t na = 0, nb = 0;
    CHECK(kw_tokenize(full, text, strlen(text), true, true, a, 64, &na) == KW_OK &&
              kw_tokenize(voc, text, strlen(text), true, true, b, 64, &nb) == KW_OK && na == nb &&
              na > 0 && memcmp(a, b, sizeof a[0] * (size_t)na) == 0,
          "vocab_only tokenizes as the full load does (%d and %d ids)", na, nb);
    CHECK(kw_model_n_vocab(full) == kw_model_n_vocab(voc), "the same vocabulary size (%d, %d)",
          kw_model_n_vocab(full), kw_model_n_vocab(voc));
    kw_chat *chat = NULL;
    char *out = NULL;
    CHECK(kw_chat_create(voc, "chatml", &chat) == KW_OK &&
              kw_chat_render(chat, "[{\"role\":\"user\",\"content\":\"hi\"}]", NULL, true, NULL,
                             &out) == KW_OK &&
              strstr(out, "<|im_start|>user\nhi<|im_end|>"),
          "chat rendering works on a vocabulary-only model (%s)", out ? out : kw_last_error());
    free(out);
    kw_chat_free(chat);
    kw_model_free(full);
    kw_model_free(voc);
}

int main(void) {
    RUN_TEST(test_vocab_files_load_and_tokenize);
    RUN_TEST(test_vocab_only_param_on_a_full_model);
    return test_report();
}
