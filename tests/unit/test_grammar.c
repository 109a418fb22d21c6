/* test_grammar.c - the grammar engine and its sampler stage: GBNF errors with line:column, text
 * checks, and sampled outputs on the random-weight test models (free output is gibberish, so only
 * the constraint makes it valid), each checked by an independent parser written here (or jansson
 * for JSON), never by the engine.
 */
#include "../test.h"
#include "base/base.h"
#include "grammar/grammar.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------------------------------
 * Independent checkers
 * ---------------------------------------------------------------------------------------------- */

static const char *ap; /* cursor of the arithmetic checker */
static bool ar_expr(void);
static bool ar_factor(void) {
    if (*ap == '(') {
        ap++;
        if (!ar_expr() || *ap != ')') return false;
        ap++;
        return true;
    }
    if (*ap < '0' || *ap > '9') return false;
    while (*ap >= '0' && *ap <= '9')
        ap++;
    return true;
}
static bool ar_term(void) {
    if (!ar_factor()) return false;
    while (*ap == '*' || *ap == '/') {
        ap++;
        if (!ar_factor()) return false;
    }
    return true;
}
static bool ar_expr(void) {
    if (!ar_term()) return false;
    while (*ap == '+' || *ap == '-') {
        ap++;
        if (!ar_term()) return false;
    }
    return true;
}
static bool check_arith(const char *s) {
    ap = s;
    return ar_expr() && *ap == 0;
}

/* [ item (, ' '? item)* ]? with items [a-z]+ */
static bool check_list(const char *s) {
    if (*s++ != '[') return false;
    if (*s == ']') return s[1] == 0;
    for (;;) {
        if (*s < 'a' || *s > 'z') return false;
        while (*s >= 'a' && *s <= 'z')
            s++;
        if (*s == ']') return s[1] == 0;
        if (*s++ != ',') return false;
        if (*s == ' ') s++;
    }
}

static bool check_ident(const char *s) {
    size_t n = strlen(s);
    if (n < 1 || n > 16) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
        if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
    }
    return true;
}

static bool check_json_object(const char *s) {
    json_error_t e;
    json_t *j = json_loads(s, JSON_DECODE_ANY, &e);
    bool ok = j && json_is_object(j);
    json_decref(j);
    return ok;
}

/* JSON: the test grammar keeps \\u escapes out of the surrogate range and exponents to two digits,
 * because jansson (rightly) refuses lone surrogates and doubles that overflow. */

/* 4 lines of exactly 5 CJK ideographs (U+4E00..U+9FFF), each ended by \n */
static bool check_poem(const char *s) {
    const unsigned char *p = (const unsigned char *)s;
    for (int line = 0; line < 4; line++) {
        for (int k = 0; k < 5; k++) {
            if ((p[0] & 0xF0) != 0xE0 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80)
                return false;
            uint32_t c =
                ((uint32_t)(p[0] & 0x0F) << 12) | ((uint32_t)(p[1] & 0x3F) << 6) | (p[2] & 0x3F);
            if (c < 0x4E00 || c > 0x9FFF) return false;
            p += 3;
        }
        if (*p++ != '\n') return false;
    }
    return *p == 0;
}

static const char *G_ARITH = "# arithmetic\n"
                             "root   ::= expr\n"
                             "expr   ::= term ((\"+\" | \"-\") term)*\n"
                             "term   ::= factor ((\"*\" | \"/\") factor)*\n"
                             "factor ::= [0-9]{1,3} | \"(\" expr \")\"\n";
static const char *G_LIST = "root ::= \"[\" (item (\",\" \" \"? item){0,5})? \"]\"\n"
                            "item ::= [a-z]{1,3}\n";
static const char *G_IDENT = "root ::= [a-zA-Z_] [a-zA-Z0-9_]{0,15}\n";
static const char *G_JSON =
    "root   ::= object\n"
    "value  ::= object | array | string | number | (\"true\" | \"false\" | \"null\") ws\n"
    "object ::= \"{\" ws ( string \":\" ws value (\",\" ws string \":\" ws value)* )? \"}\" ws\n"
    "array  ::= \"[\" ws ( value (\",\" ws value)* )? \"]\" ws\n"
    "string ::= \"\\\"\" ( [^\"\\\\\\x7F\\x00-\\x1F] | \"\\\\\" ([\"\\\\bfnrt] | \"u\" "
    "[0-9a-cA-Ce-fE-F] [0-9a-fA-F]{3}) )* \"\\\"\" ws\n"
    "number ::= (\"-\"? ([0-9] | [1-9] [0-9]{0,15})) (\".\" [0-9]+)? ([eE] [-+]? [0-9]{1,2})? ws\n"
    "ws ::= | \" \" | \"\\n\" [ \\t]{0,20}\n";
static const char *G_POEM = "root ::= line line line line\n"
                            "line ::= [\\u4e00-\\u9fff]{5} \"\\n\"\n";

/* ------------------------------------------------------------------------------------------------
 * Parsing and errors
 * ---------------------------------------------------------------------------------------------- */

static void expect_error(const char *text, const char *want) {
    kw_grammar *g = NULL;
    kw_status st = kw_grammar_create(NULL, text, NULL, &g);
    const char *msg = kw_last_error();
    CHECK(st == KW_ERR_INVALID_ARG && !g, "grammar %s is refused (status %d)", want, st);
    CHECK(msg && strstr(msg, want), "error message has '%s': '%s'", want, msg ? msg : "");
    kw_grammar_free(g);
}

static void test_errors(void) {
    expect_error("root ::= foo\n", "line 1, column 10: undefined rule 'foo'");
    expect_error("root ::= \"a\"\nx ::= (\"b\" \n", "line 2, column 7: unbalanced parentheses");
    expect_error("root ::= \"a\" )\n", "line 1, column 14: unbalanced parentheses");
    expect_error("root ::= \"a\\q\"\n", "line 1, column 12: bad escape '\\q'");
    expect_error("root ::= \"\\x4\"\n", "line 1, column 11: bad escape");
    expect_error("", "empty grammar");
    expect_error("# only a comment\n", "empty grammar");
    expect_error("root ::= root \"a\" | \"b\"\n", "left recursion through rule 'root'");
    expect_error("root ::= a\na ::= b? a \"x\"\nb ::= \"y\"\n", "left recursion");
    expect_error("root ::= \"abc\n", "line 1, column 10: unterminated string literal");
    expect_error("root ::= [ab\n", "line 1, column 10: unterminated character class");
    expect_error("root ::= * \"a\"\n", "line 1, column 10: '*' with nothing before it");
    expect_error("root ::= \"a\"{3,1}\n", "n < m");
    expect_error("root ::= \"a\"\nroot ::= \"b\"\n",
                 "line 2, column 1: rule 'root' is defined twice");
    expect_error("rot ::= \"a\"\n", "no start rule 'root'");
    expect_error("root : \"a\"\n", "line 1, column 6: expected '::='");
    expect_error("root ::= [z-a]\n", "upper end below its lower end");
}

static bool text_ok(const kw_grammar *g, const char *s) {
    kw_grammar_state *st = NULL;
    if (kw_grammar_state_create(g, &st) != KW_OK) return false;
    bool ok =
        kw_grammar_state_accept_bytes(st, s, strlen(s)) == KW_OK && kw_grammar_state_accepting(st);
    kw_grammar_state_free(st);
    return ok;
}

static void test_texts(void) {
    struct {
        const char *gbnf, *text;
        bool ok;
    } cases[] = {
        {G_ARITH, "1+2*(3-4)/5", true},
        {G_ARITH, "1+", false},
        {G_ARITH, "(1", false},
        {G_ARITH, "1234", false},
        {G_LIST, "[]", true},
        {G_LIST, "[ab, c,d]", true},
        {G_LIST, "[ab,,c]", false},
        {G_IDENT, "_x9", true},
        {G_IDENT, "9x", false},
        {G_JSON, "{\"a\": [1, 2.5e3, \"x\\n\"]}", true},
        {G_JSON, "{\"a\": tru}", false},
        {G_JSON, "{\"名字\": \"李白\"}", true},
        {G_POEM, "床前明月光\n疑是地上霜\n举头望明月\n低头思故乡\n", true},
        {G_POEM, "床前明月光\n", false},
        {G_POEM, "床前明月\n疑是地上霜\n举头望明月\n低头思故乡\n", false},
        {"root ::= \"a\" . \"c\"", "a中c", true},
        {"root ::= [^a-c]+", "xyz", true},
        {"root ::= [^a-c]+", "xbz", false},
        {"root ::= \"\\u00e9\" \"\\U0001F600\" \"\\x41\"", "é😀A", true},
        {"root ::= x{2,3}\nx ::= \"ab\"", "ababab", true},
        {"root ::= x{2,3}\nx ::= \"ab\"", "ab", false},
        {"root ::= x{2,3}\nx ::= \"ab\"", "abababab", false},
        {"root ::= (\"a\" | \"b\")+ \"c\"?", "abba", true},
        {"root ::=\n  \"a\"\n  | \"b\" # comment\n", "b", true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        kw_grammar *g = NULL;
        kw_status st = kw_grammar_create(NULL, cases[i].gbnf, NULL, &g);
        CHECK(st == KW_OK, "case %zu parses (%s)", i, kw_last_error());
        if (st != KW_OK) continue;
        CHECK(text_ok(g, cases[i].text) == cases[i].ok, "case %zu: '%s' %s", i, cases[i].text,
              cases[i].ok ? "is accepted" : "is rejected");
        kw_grammar_free(g);
    }
}

/* ------------------------------------------------------------------------------------------------
 * Sampling on the test models
 * ---------------------------------------------------------------------------------------------- */

typedef bool (*checker)(const char *);

static uint64_t rng = 88172645463325252ull;
static float frand(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)(rng >> 40) / (float)(1u << 24);
}

/* n_random samples from random logits (cheap), n_model from the model's own logits (decoded);
 * every complete output must pass check; length-stopped ones must not report accepting. */
static void sample_grammar(kw_model *model, const char *name, const char *gtext, checker check,
                           int n_random, int n_model, int max_tokens) {
    kw_sampler_params sp = kw_sampler_default_params();
    sp.temperature = 1.0f;
    sp.top_k = 0;
    sp.top_p = 1.0f;
    sp.min_p = 0.0f;
    sp.grammar = gtext;
    sp.seed = 7;
    kw_sampler *smp = NULL;
    kw_status st = kw_sampler_create(model, &sp, &smp);
    CHECK(st == KW_OK, "%s: sampler with grammar is created (%s)", name, kw_last_error());
    if (st != KW_OK) return;
    int32_t nv = kw_model_n_vocab(model);
    float *logits = malloc((size_t)nv * sizeof *logits);
    kw_context *ctx = NULL;
    kw_context_params cp = kw_context_default_params();
    cp.n_ctx = 256;
    cp.n_threads = 1;
    if (n_model > 0) CHECK(kw_context_create(model, &cp, &ctx) == KW_OK, "%s: context", name);
    int complete = 0, bad = 0, total = n_random + n_model;
    char text[16384];
    for (int s = 0; s < total; s++) {
        bool use_model = s >= n_random && ctx;
        kw_sampler_reset(smp);
        size_t len = 0;
        bool ended = false, failed = false;
        kw_token prev = kw_token_bos(model);
        if (use_model) kw_context_truncate(ctx, 0);
        if (prev < 0) prev = 0;
        for (int t = 0; t < max_tokens && !ended; t++) {
            if (use_model) {
                if (kw_decode(ctx, &prev, NULL, 1, NULL) != KW_OK) {
                    failed = true;
                    break;
                }
                memcpy(logits, kw_get_logits(ctx, 0), (size_t)nv * sizeof *logits);
            } else {
                for (int32_t i = 0; i < nv; i++)
                    logits[i] = 4.0f * frand();
            }
            for (int32_t i = 0; i < nv; i++) /* make stopping likely once it is allowed */
                if (kw_token_is_eog(model, i)) logits[i] += 6.0f;
            kw_token tok = kw_sampler_sample(smp, logits);
            if (tok < 0) {
                failed = true;
                break;
            }
            if (kw_token_is_eog(model, tok)) {
                ended = true;
                break;
            }
            kw_sampler_accept(smp, tok);
            char piece[256];
            int32_t n = kw_token_to_piece(model, tok, piece, (int32_t)sizeof piece, false);
            if (n > 0 && len + (size_t)n < sizeof text) {
                memcpy(text + len, piece, (size_t)n);
                len += (size_t)n;
            }
            prev = tok;
        }
        text[len] = 0;
        if (failed) {
            bad++;
            CHECK(0, "%s sample %d: sampling failed (%s)", name, s, kw_last_error());
            continue;
        }
        if (ended) {
            complete++;
            if (!check(text)) {
                bad++;
                CHECK(0, "%s sample %d: output '%s' fails the independent check", name, s, text);
            }
        } else if (kw_sampler_grammar_accepting(smp) && !check(text)) {
            bad++;
            CHECK(0, "%s sample %d: accepting at length stop but '%s' fails the check", name, s,
                  text);
        }
    }
    CHECK(bad == 0, "%s: every one of %d outputs is valid (%d bad)", name, total, bad);
    CHECK(complete >= total / 5, "%s: at least a fifth of the outputs complete (%d of %d)", name,
          complete, total);
    kw_context_free(ctx);
    free(logits);
    kw_sampler_free(smp);
}

static void test_sampling(void) {
    const char *models[] = {"models/tiny-qwen3-f16.gguf", "models/tiny-llama2-f32.gguf"};
    for (size_t m = 0; m < sizeof models / sizeof models[0]; m++) {
        kw_model *model = NULL;
        kw_status st = kw_model_load(test_data_path(models[m]), NULL, &model);
        CHECK(st == KW_OK, "%s loads (%s)", models[m], kw_last_error());
        if (st != KW_OK) continue;
        sample_grammar(model, "arithmetic", G_ARITH, check_arith, 100, 10, 64);
        sample_grammar(model, "list", G_LIST, check_list, 100, 10, 64);
        sample_grammar(model, "identifier", G_IDENT, check_ident, 100, 10, 32);
        sample_grammar(model, "json", G_JSON, check_json_object, 100, 10, 192);
        sample_grammar(model, "poem", G_POEM, check_poem, 50, 5, 160);
        kw_model_free(model);
    }
}

/* EOS only when accepting; a rejected token leaves the state unchanged; clone is independent. */
static void test_state_api(void) {
    kw_model *model = NULL;
    if (kw_model_load(test_data_path("models/tiny-qwen3-f16.gguf"), NULL, &model) != KW_OK) {
        CHECK(0, "tiny-qwen3 loads (%s)", kw_last_error());
        return;
    }
    kw_grammar *g = NULL;
    CHECK(kw_grammar_create(model, "root ::= \"ab\"", NULL, &g) == KW_OK, "grammar 'ab' (%s)",
          kw_last_error());
    kw_grammar_state *st = NULL;
    CHECK(g && kw_grammar_state_create(g, &st) == KW_OK, "state created");
    if (!st) {
        kw_grammar_free(g);
        kw_model_free(model);
        return;
    }
    int32_t nv = kw_model_n_vocab(model);
    float *logits = calloc((size_t)nv, sizeof *logits);
    kw_token eos = kw_token_eos(model);
    CHECK(kw_grammar_state_mask(st, logits) == KW_OK, "mask at start");
    CHECK(isinf(logits[eos]), "EOS is masked before the grammar accepts");
    int allowed = 0;
    for (int32_t i = 0; i < nv; i++)
        allowed += !isinf(logits[i]);
    CHECK(allowed >= 1, "some token allowed at start (%d)", allowed);
    CHECK(kw_grammar_state_accept(st, eos) != KW_OK, "EOS is rejected before accepting");
    CHECK(kw_grammar_state_accept_bytes(st, "x", 1) != KW_OK, "'x' is rejected");
    CHECK(kw_grammar_state_accept_bytes(st, "a", 1) == KW_OK, "'a' accepted after the rejection");
    kw_grammar_state *cl = NULL;
    CHECK(kw_grammar_state_clone(st, &cl) == KW_OK, "clone");
    CHECK(kw_grammar_state_accept_bytes(st, "b", 1) == KW_OK && kw_grammar_state_accepting(st),
          "'ab' completes the grammar");
    CHECK(cl && !kw_grammar_state_accepting(cl), "the clone is still after 'a'");
    memset(logits, 0, (size_t)nv * sizeof *logits);
    CHECK(kw_grammar_state_mask(st, logits) == KW_OK && !isinf(logits[eos]),
          "EOS allowed once accepting");
    kw_grammar_state_reset(st);
    CHECK(!kw_grammar_state_accepting(st), "reset goes back to the start");
    free(logits);
    kw_grammar_state_free(cl);
    kw_grammar_state_free(st);
    kw_grammar_free(g);

    kw_sampler_params sp = kw_sampler_default_params();
    sp.grammar = "root ::= foo";
    kw_sampler *smp = NULL;
    CHECK(kw_sampler_create(model, &sp, &smp) == KW_ERR_INVALID_ARG && !smp,
          "a sampler with a bad grammar is refused");
    CHECK(strstr(kw_last_error(), "line 1, column 10"), "its message names line:column: %s",
          kw_last_error());
    kw_model_free(model);
}

/* kw_gen with a grammar in its sampler params: the reply matches; cut by max_tokens it is
 * reported incomplete (kw_gen_constraint). */
static void test_gen(void) {
    kw_model *model = NULL;
    if (kw_model_load(test_data_path("models/tiny-qwen3-f16.gguf"), NULL, &model) != KW_OK) {
        CHECK(0, "tiny-qwen3 loads (%s)", kw_last_error());
        return;
    }
    kw_context_params cp = kw_context_default_params();
    cp.n_ctx = 256;
    cp.n_threads = 1;
    kw_context *ctx = NULL;
    kw_engine *eng = NULL;
    CHECK(kw_context_create(model, &cp, &ctx) == KW_OK, "context (%s)", kw_last_error());
    CHECK(ctx && kw_engine_create(ctx, &eng) == KW_OK, "engine (%s)", kw_last_error());
    for (int round = 0; eng && round < 2; round++) {
        kw_gen_params gp = kw_gen_default_params();
        gp.sampler.temperature = 1.0f;
        gp.sampler.seed = 5;
        gp.sampler.grammar = round == 0 ? "root ::= \"<\" [0-9]{2,4} \">\"" : G_ARITH;
        gp.max_tokens = round == 0 ? 32 : 2;
        kw_gen *g = NULL;
        CHECK(kw_gen_create(eng, &gp, &g) == KW_OK, "kw_gen_create with a grammar (%s)",
              kw_last_error());
        if (!g) continue;
        kw_token prompt[1] = {0};
        kw_gen_set_prompt(g, prompt, 1);
        CHECK(kw_generate(g) == KW_OK, "kw_generate (%s)", kw_last_error());
        size_t len = 0;
        const char *text = kw_gen_text(g, &len);
        if (round == 0) {
            bool ok = len >= 4 && len <= 6 && text[0] == '<' && text[len - 1] == '>';
            for (size_t i = 1; ok && i + 1 < len; i++)
                ok = text[i] >= '0' && text[i] <= '9';
            CHECK(ok, "kw_gen reply '%s' matches <digits>", text);
            CHECK(kw_gen_constraint(g, NULL) == KW_CONSTRAINT_SATISFIED,
                  "a reply that ended on EOS satisfies the grammar");
            CHECK(kw_gen_finish_reason(g) == KW_FINISH_STOP, "finished on stop (%d)",
                  (int)kw_gen_finish_reason(g));
        } else {
            CHECK(kw_gen_finish_reason(g) == KW_FINISH_LENGTH, "2 tokens: finished on length");
            CHECK(kw_gen_constraint(g, NULL) == KW_CONSTRAINT_INCOMPLETE || check_arith(text),
                  "cut by length: incomplete unless '%s' happens to be a whole expression", text);
        }
        kw_gen_free(g);
    }
    kw_engine_free(eng);
    kw_context_free(ctx);
    kw_model_free(model);
}

int main(void) {
    RUN_TEST(test_errors);
    RUN_TEST(test_texts);
    RUN_TEST(test_state_api);
    RUN_TEST(test_gen);
    RUN_TEST(test_sampling);
    return test_report();
}
