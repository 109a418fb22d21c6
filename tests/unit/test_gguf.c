/* test_gguf.c - the GGUF reader, info accessors and writer.
 *
 * Reads every model under tests/data/models (counts and known keys from their README), round-trips
 * every value type through the writer (nested arrays made from raw bytes, since the writer only
 * builds them by copying), checks the typed getters' messages, and rewrites real llama-quantize
 * files byte for byte. Temporary files go to $TMPDIR (default /tmp) and are removed.
 */
#include "../test.h"
#include "gguf/gguf.h"

#include <glob.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---------------------------------------------------------------- helpers */

static char tmp_path_buf[512];
static const char *tmp_path(const char *name) {
    const char *dir = getenv("TMPDIR");
    snprintf(tmp_path_buf, sizeof tmp_path_buf, "%s/kw_test_gguf_%d_%s", dir ? dir : "/tmp",
             (int)getpid(), name);
    return tmp_path_buf;
}

static bool contains(const char *hay, const char *needle) { return strstr(hay, needle) != NULL; }

static bool write_bytes(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return false;
    bool ok = fwrite(p, 1, n, f) == n;
    return fclose(f) == 0 && ok;
}

static const gguf_kv *kv_of(const kw_gguf *g, const char *key) {
    int64_t i = gguf_find_key(g, key);
    return i >= 0 ? &g->kv[i] : NULL;
}

static char fmt_buf[4096];
static const char *fmt_key(const kw_gguf *g, const char *key, int max_items) {
    int64_t i = gguf_find_key(g, key);
    if (i < 0) return "<missing>";
    kw_gguf_kv_format(g, i, fmt_buf, sizeof fmt_buf, max_items);
    return fmt_buf;
}

/* ---------------------------------------------------------------- reading real models */

typedef struct model_fact {
    const char *file;
    int64_t n_tensors, n_kv;
    const char *arch;
} model_fact;

static const model_fact models[] = {
    {"quant-base-f16.gguf", 21, 28, "llama"},
    {"quant-q2_k.gguf", 21, 28, "llama"},
    {"quant-q3_k.gguf", 21, 28, "llama"},
    {"quant-q4_0.gguf", 21, 28, "llama"},
    {"quant-q4_1.gguf", 21, 28, "llama"},
    {"quant-q4_k.gguf", 21, 28, "llama"},
    {"quant-q5_0.gguf", 21, 28, "llama"},
    {"quant-q5_1.gguf", 21, 28, "llama"},
    {"quant-q5_k.gguf", 21, 28, "llama"},
    {"quant-q6_k.gguf", 21, 28, "llama"},
    {"quant-q8_0.gguf", 21, 28, "llama"},
    {"tiny-chatglm-f16.gguf", 16, 22, "chatglm"},
    {"tiny-gemma2-f16.gguf", 24, 28, "gemma2"},
    {"tiny-gemma3-f16.gguf", 80, 29, "gemma3"},
    {"tiny-glm4-f16.gguf", 29, 25, "glm4"},
    {"tiny-llama2-bf16.gguf", 21, 28, "llama"},
    {"tiny-llama2-f32.gguf", 21, 28, "llama"},
    {"tiny-llama3-f16.gguf", 30, 28, "llama"},
    {"tiny-minicpm-f16.gguf", 20, 25, "minicpm"},
    {"tiny-phi3-f16.gguf", 15, 27, "phi3"},
    {"tiny-phi3-longrope-f16.gguf", 17, 28, "phi3"},
    {"tiny-qwen2-f16.gguf", 26, 27, "qwen2"},
    {"tiny-qwen3-f16.gguf", 25, 29, "qwen3"},
};

static void test_gguf_reads_every_model(void) {
    for (size_t m = 0; m < sizeof models / sizeof models[0]; m++) {
        char rel[128];
        snprintf(rel, sizeof rel, "models/%s", models[m].file);
        kw_gguf *g = NULL;
        kw_status st = kw_gguf_open(test_data_path(rel), &g);
        CHECK(st == KW_OK, "%s opens (%s)", models[m].file, kw_last_error());
        if (st) continue;
        CHECK(kw_gguf_version(g) == 3, "%s is GGUF v3 (got %u)", models[m].file,
              kw_gguf_version(g));
        CHECK(kw_gguf_n_tensors(g) == models[m].n_tensors,
              "%s has %" PRId64 " tensors (got %" PRId64 ")", models[m].file, models[m].n_tensors,
              kw_gguf_n_tensors(g));
        CHECK(kw_gguf_n_kv(g) == models[m].n_kv, "%s has %" PRId64 " keys (got %" PRId64 ")",
              models[m].file, models[m].n_kv, kw_gguf_n_kv(g));
        CHECK(kw_gguf_alignment(g) == 32, "%s is aligned to 32", models[m].file);
        CHECK(kw_gguf_data_offset(g) % 32 == 0 && kw_gguf_data_offset(g) < kw_gguf_file_size(g),
              "%s: data offset %" PRIu64 " is aligned and inside the file", models[m].file,
              kw_gguf_data_offset(g));
        gguf_str arch = {0};
        CHECK(gguf_get_str(g, "general.architecture", &arch) == KW_OK &&
                  gguf_str_eq(arch, models[m].arch),
              "%s: general.architecture is %s", models[m].file, models[m].arch);
        uint64_t total = 0;
        bool tensors_ok = true;
        for (int64_t i = 0; i < kw_gguf_n_tensors(g); i++) {
            kw_tensor_info ti;
            if (kw_gguf_tensor(g, i, &ti) != KW_OK ||
                ti.offset + ti.n_bytes > kw_gguf_file_size(g) ||
                ti.offset < kw_gguf_data_offset(g) || !ti.name[0] ||
                strcmp(ti.type_name, "unknown") == 0)
                tensors_ok = false;
            total += ti.n_bytes;
        }
        CHECK(tensors_ok, "%s: every tensor info is inside the data section", models[m].file);
        CHECK(total <= kw_gguf_file_size(g) - kw_gguf_data_offset(g),
              "%s: tensor bytes fit the data section", models[m].file);
        bool fmt_ok = true;
        for (int64_t i = 0; i < kw_gguf_n_kv(g); i++) {
            char small[16];
            size_t want = kw_gguf_kv_format(g, i, fmt_buf, sizeof fmt_buf, 4);
            size_t want2 = kw_gguf_kv_format(g, i, small, sizeof small, 4);
            if (want != want2 || strlen(small) != (want < sizeof small ? want : sizeof small - 1) ||
                (want < sizeof fmt_buf && strlen(fmt_buf) != want) || !kw_gguf_kv_key(g, i))
                fmt_ok = false;
        }
        CHECK(fmt_ok, "%s: every value renders with snprintf-like lengths", models[m].file);
        kw_gguf_close(g);
    }
}

static void test_gguf_known_keys_and_tensors(void) {
    kw_gguf *g = NULL;
    if (kw_gguf_open(test_data_path("models/tiny-llama2-f32.gguf"), &g) != KW_OK) {
        CHECK(false, "tiny-llama2-f32.gguf opens (%s)", kw_last_error());
        return;
    }
    uint32_t v = 0;
    CHECK(gguf_get_u32(g, "llama.embedding_length", &v) == KW_OK && v == 256,
          "embedding_length is 256 (got %u)", v);
    CHECK(gguf_get_u32(g, "llama.context_length", &v) == KW_OK && v == 4096,
          "context_length is 4096 (got %u)", v);
    CHECK(gguf_get_u32(g, "llama.feed_forward_length", &v) == KW_OK && v == 512,
          "ffn length is 512 (got %u)", v);
    CHECK(gguf_get_u32(g, "llama.attention.head_count_kv", &v) == KW_OK && v == 2,
          "head_count_kv is 2 (got %u)", v);
    CHECK(gguf_get_u32(g, "llama.rope.dimension_count", &v) == KW_OK && v == 64,
          "rope dims is 64 (got %u)", v);
    CHECK(gguf_get_u32(g, "general.file_type", &v) == KW_OK && v == 0, "file_type is 0 (got %u)",
          v);
    CHECK(strcmp(fmt_key(g, "tokenizer.ggml.model", 4), "\"llama\"") == 0,
          "tokenizer.ggml.model renders as \"llama\" (got %s)", fmt_buf);
    CHECK(strcmp(fmt_key(g, "general.size_label", 4), "\"tiny\"") == 0,
          "size_label renders quoted (got %s)", fmt_buf);
    const gguf_kv *tokens = kv_of(g, "tokenizer.ggml.tokens");
    CHECK(tokens && tokens->type == GGUF_VT_ARRAY && tokens->arr_type == GGUF_VT_STRING &&
              tokens->arr_n > 4,
          "tokenizer.ggml.tokens is a string array");
    if (tokens) {
        char want[64];
        snprintf(want, sizeof want, ", ... (%" PRIu64 " items)]", tokens->arr_n);
        const char *f = fmt_key(g, "tokenizer.ggml.tokens", 3);
        CHECK(f[0] == '[' && f[1] == '"' && contains(f, want),
              "tokens abbreviate after 3 items (got %s)", f);
        int64_t ti = gguf_find_key(g, "tokenizer.ggml.tokens");
        CHECK(strcmp(kw_gguf_kv_type_name(g, ti), "array[string]") == 0,
              "tokens' type name is array[string] (got %s)", kw_gguf_kv_type_name(g, ti));
    }
    const gguf_tensor *emb = gguf_find_tensor(g, "token_embd.weight");
    CHECK(emb && emb->type == GGML_TYPE_F32 && emb->n_dims == 2 && emb->ne[0] == 256 &&
              emb->n_bytes == (uint64_t)emb->ne[0] * (uint64_t)emb->ne[1] * 4,
          "token_embd.weight is F32 [256, n_vocab]");
    CHECK(gguf_find_tensor(g, "blk.0.ffn_down.weight") != NULL, "blk.0.ffn_down.weight exists");
    CHECK(gguf_find_tensor(g, "blk.0.attn_norm.weight") &&
              gguf_find_tensor(g, "blk.0.attn_norm.weight")->n_dims == 1,
          "blk.0.attn_norm.weight is 1-D");
    kw_tensor_info info;
    CHECK(kw_gguf_tensor(g, -1, &info) == KW_ERR_INVALID_ARG &&
              kw_gguf_tensor(g, 21, &info) == KW_ERR_INVALID_ARG,
          "tensor indices out of range are refused");
    CHECK(kw_gguf_kv_key(g, 1000) == NULL && strcmp(kw_gguf_kv_type_name(g, -3), "invalid") == 0,
          "key indices out of range give NULL / \"invalid\"");
    kw_gguf_close(g);

    if (kw_gguf_open(test_data_path("models/quant-q4_0.gguf"), &g) != KW_OK) {
        CHECK(false, "quant-q4_0.gguf opens (%s)", kw_last_error());
        return;
    }
    CHECK(kw_gguf_data_offset(g) == 18400, "quant-q4_0 data starts at 18400 (got %" PRIu64 ")",
          kw_gguf_data_offset(g));
    const gguf_tensor *down = gguf_find_tensor(g, "blk.0.ffn_down.weight");
    CHECK(down && down->type == GGML_TYPE_Q4_0, "blk.0.ffn_down.weight is Q4_0");
    CHECK(strcmp(kw_gguf_kv_key(g, 26), "general.quantization_version") == 0 &&
              strcmp(kw_gguf_kv_key(g, 27), "general.file_type") == 0,
          "llama-quantize appended quantization_version then file_type");
    CHECK(gguf_get_u32(g, "general.file_type", &v) == KW_OK && v == 2, "file_type is 2 (got %u)",
          v);
    kw_tensor_info t0;
    CHECK(kw_gguf_tensor(g, 0, &t0) == KW_OK && strcmp(t0.name, "output.weight") == 0 &&
              strcmp(t0.type_name, "Q4_0") == 0 && t0.offset == 18400,
          "tensor 0 is output.weight, Q4_0, at 18400");
    kw_gguf_close(g);
}

/* ---------------------------------------------------------------- typed getters */

static void test_gguf_typed_getters_name_key_and_types(void) {
    gguf_writer *w;
    gguf_writer_create(&w);
    gguf_writer_add_str(w, "a.str", "hello");
    gguf_writer_add_u32(w, "a.u32", 7);
    gguf_writer_add_i32(w, "a.neg", -5);
    gguf_writer_add_f32(w, "a.f32", 0.5f);
    gguf_writer_add_bool(w, "a.bool", true);
    int32_t arr[3] = {1, 2, 3};
    gguf_writer_add_arr(w, "a.arr", GGUF_VT_I32, arr, 3);
    const char *path = tmp_path("getters.gguf");
    CHECK(gguf_writer_write(w, path) == KW_OK, "getter file written (%s)", kw_last_error());
    gguf_writer_free(w);
    kw_gguf *g = NULL;
    if (kw_gguf_open(path, &g) != KW_OK) {
        CHECK(false, "getter file opens (%s)", kw_last_error());
        return;
    }
    uint32_t u = 99;
    CHECK(gguf_get_u32(g, "a.str", &u) == KW_ERR_FORMAT && u == 99,
          "u32 from a string fails and leaves *out");
    CHECK(contains(kw_last_error(), "a.str") && contains(kw_last_error(), "string") &&
              contains(kw_last_error(), "integer"),
          "the message names the key and both types (%s)", kw_last_error());
    gguf_str s;
    CHECK(gguf_get_str(g, "a.u32", &s) == KW_ERR_FORMAT && contains(kw_last_error(), "a.u32") &&
              contains(kw_last_error(), "u32") && contains(kw_last_error(), "string"),
          "string from a u32 names the key and both types (%s)", kw_last_error());
    bool bv = false;
    CHECK(gguf_get_bool_opt(g, "a.f32", &bv) == KW_ERR_FORMAT && contains(kw_last_error(), "f32") &&
              contains(kw_last_error(), "bool"),
          "bool from an f32 names both types (%s)", kw_last_error());
    CHECK(gguf_get_u32(g, "a.neg", &u) == KW_ERR_FORMAT && contains(kw_last_error(), "-5") &&
              contains(kw_last_error(), "a.neg"),
          "a negative value does not convert to u32 (%s)", kw_last_error());
    CHECK(gguf_get_u32(g, "no.such", &u) != KW_OK && contains(kw_last_error(), "no.such"),
          "a missing required key is named (%s)", kw_last_error());
    CHECK(gguf_get_u32_opt(g, "no.such", &u) == KW_OK && u == 99,
          "a missing optional key leaves *out");
    CHECK(gguf_get_u32(g, "a.u32", &u) == KW_OK && u == 7, "u32 reads 7");
    int32_t i32 = 0;
    CHECK(gguf_get_i32_opt(g, "a.neg", &i32) == KW_OK && i32 == -5, "i32 reads -5");
    float f = 0;
    CHECK(gguf_get_f32(g, "a.f32", &f) == KW_OK && f == 0.5f, "f32 reads 0.5");
    CHECK(gguf_get_f32(g, "a.u32", &f) == KW_OK && f == 7.0f, "an integer reads as a float");
    CHECK(gguf_get_bool_opt(g, "a.bool", &bv) == KW_OK && bv, "bool reads true");
    kw_status st;
    const gguf_kv *a = gguf_get_arr(g, "a.arr", GGUF_VT_F32, true, &st);
    CHECK(a && st == KW_OK && gguf_arr_get_f32(a, 2) == 3.0f, "a numeric array reads as floats");
    CHECK(!gguf_get_arr(g, "a.arr", GGUF_VT_STRING, true, &st) && st == KW_ERR_FORMAT &&
              contains(kw_last_error(), "array[i32]") && contains(kw_last_error(), "array[string]"),
          "a string array request names both array types (%s)", kw_last_error());
    CHECK(!gguf_get_arr(g, "a.str", GGUF_VT_I32, true, &st) && st == KW_ERR_FORMAT &&
              contains(kw_last_error(), "a.str"),
          "an array request on a string fails naming the key (%s)", kw_last_error());
    kw_gguf_close(g);
    unlink(path);
}

/* ---------------------------------------------------------------- writer round trips */

static void test_gguf_writer_round_trips_values_and_tensors(void) {
    gguf_writer *w;
    CHECK(gguf_writer_create(&w) == KW_OK, "writer created");
    gguf_writer_add_u32(w, "t.u32", 4000000000u);
    gguf_writer_add_i32(w, "t.i32", -123456);
    gguf_writer_add_f32(w, "t.f32", 1e-5f);
    gguf_writer_add_bool(w, "t.false", false);
    gguf_writer_add_str(w, "t.utf8", "开物 \"q\" \\ tab\t nl\n \x01 é");
    gguf_writer_add_str(w, "t.empty", "");
    uint8_t u8s[3] = {0, 128, 255};
    int8_t i8s[3] = {-128, 0, 127};
    uint16_t u16s[2] = {0, 65535};
    int16_t i16s[2] = {-32768, 32767};
    uint32_t u32s[2] = {0, UINT32_MAX};
    float f32s[3] = {0.1f, -2.5f, 3e38f};
    uint8_t bools[2] = {1, 0};
    uint64_t u64s[2] = {0, UINT64_MAX};
    int64_t i64s[2] = {INT64_MIN, INT64_MAX};
    double f64s[2] = {0.1, -1e300};
    gguf_writer_add_arr(w, "a.u8", GGUF_VT_U8, u8s, 3);
    gguf_writer_add_arr(w, "a.i8", GGUF_VT_I8, i8s, 3);
    gguf_writer_add_arr(w, "a.u16", GGUF_VT_U16, u16s, 2);
    gguf_writer_add_arr(w, "a.i16", GGUF_VT_I16, i16s, 2);
    gguf_writer_add_arr(w, "a.u32", GGUF_VT_U32, u32s, 2);
    gguf_writer_add_arr(w, "a.f32", GGUF_VT_F32, f32s, 3);
    gguf_writer_add_arr(w, "a.bool", GGUF_VT_BOOL, bools, 2);
    gguf_writer_add_arr(w, "a.u64", GGUF_VT_U64, u64s, 2);
    gguf_writer_add_arr(w, "a.i64", GGUF_VT_I64, i64s, 2);
    gguf_writer_add_arr(w, "a.f64", GGUF_VT_F64, f64s, 2);
    gguf_writer_add_arr(w, "a.empty", GGUF_VT_I32, NULL, 0);
    const char *strs[4] = {"a", "", "中文", "x y"};
    gguf_writer_add_arr_str(w, "a.str", strs, 4);
    gguf_writer_add_arr_str(w, "a.str_empty", NULL, 0);
    enum { BIG = 100000 };
    int32_t *big = malloc(BIG * sizeof *big);
    for (int i = 0; i < BIG; i++)
        big[i] = i * 7 - 3;
    gguf_writer_add_arr(w, "a.big", GGUF_VT_I32, big, BIG);

    /* tensors: sizes that are and are not multiples of the alignment */
    float t1[5] = {1, 2, 3, 4, 5};
    uint8_t q4[2 * 18 * 3];
    for (size_t i = 0; i < sizeof q4; i++)
        q4[i] = (uint8_t)(i * 31 + 7);
    uint16_t h[64];
    for (int i = 0; i < 64; i++)
        h[i] = (uint16_t)(i * 1000);
    int64_t ne1[1] = {5}, ne2[2] = {64, 3}, ne3[3] = {4, 4, 4};
    CHECK(gguf_writer_add_tensor(w, "t.f32", GGML_TYPE_F32, 1, ne1, t1) == KW_OK,
          "F32 tensor added");
    CHECK(gguf_writer_add_tensor(w, "t.q4", GGML_TYPE_Q4_0, 2, ne2, q4) == KW_OK,
          "Q4_0 tensor added");
    CHECK(gguf_writer_add_tensor(w, "t.f16", GGML_TYPE_F16, 3, ne3, h) == KW_OK,
          "F16 tensor added");
    int64_t bad_ne[2] = {33, 1};
    CHECK(gguf_writer_add_tensor(w, "t.bad", GGML_TYPE_Q4_0, 2, bad_ne, q4) == KW_ERR_INVALID_ARG,
          "a Q4_0 row of 33 values is refused");
    CHECK(gguf_writer_add_tensor(w, "t.f32", GGML_TYPE_F32, 1, ne1, t1) == KW_ERR_INVALID_ARG &&
              contains(kw_last_error(), "t.f32"),
          "a duplicate tensor name is refused, naming it");
    CHECK(gguf_writer_add_u32(w, "t.u32", 1) == KW_ERR_INVALID_ARG &&
              contains(kw_last_error(), "t.u32"),
          "a duplicate key is refused, naming it");
    CHECK(gguf_writer_add_str(w, "general.alignment", "x") == KW_ERR_INVALID_ARG,
          "a string general.alignment is refused");
    CHECK(gguf_writer_add_u32(w, "general.alignment", 48) == KW_ERR_INVALID_ARG,
          "alignment 48 is refused");

    const char *path = tmp_path("roundtrip.gguf");
    CHECK(gguf_writer_write(w, path) == KW_OK, "round-trip file written (%s)", kw_last_error());
    gguf_writer_free(w);
    char pattern[600];
    glob_t gl;
    snprintf(pattern, sizeof pattern, "%s.tmp*", path);
    CHECK(glob(pattern, 0, NULL, &gl) == GLOB_NOMATCH, "no temporary file is left behind (%s)",
          pattern);
    globfree(&gl);

    kw_gguf *g = NULL;
    if (kw_gguf_open(path, &g) != KW_OK) {
        CHECK(false, "round-trip file opens (%s)", kw_last_error());
        free(big);
        return;
    }
    CHECK(kw_gguf_n_kv(g) == 20, "20 keys read back (got %" PRId64 ")", kw_gguf_n_kv(g));
    CHECK(strcmp(kw_gguf_kv_key(g, 0), "t.u32") == 0 && strcmp(kw_gguf_kv_key(g, 19), "a.big") == 0,
          "keys keep the order they were added in");
    CHECK(strcmp(fmt_key(g, "t.u32", 8), "4000000000") == 0, "u32 renders 4000000000 (got %s)",
          fmt_buf);
    CHECK(strcmp(fmt_key(g, "t.i32", 8), "-123456") == 0, "i32 renders -123456 (got %s)", fmt_buf);
    CHECK(strcmp(fmt_key(g, "t.f32", 8), "1e-05") == 0, "f32 renders shortest 1e-05 (got %s)",
          fmt_buf);
    CHECK(strcmp(fmt_key(g, "t.false", 8), "false") == 0, "bool renders false (got %s)", fmt_buf);
    CHECK(strcmp(fmt_key(g, "t.utf8", 8), "\"开物 \\\"q\\\" \\\\ tab\\t nl\\n \\x01 é\"") == 0,
          "strings are quoted with control characters escaped (got %s)", fmt_buf);
    CHECK(strcmp(fmt_key(g, "t.empty", 8), "\"\"") == 0, "the empty string renders \"\" (got %s)",
          fmt_buf);
    CHECK(strcmp(fmt_key(g, "a.u8", 8), "[0, 128, 255]") == 0, "u8 array (got %s)", fmt_buf);
    CHECK(strcmp(fmt_key(g, "a.i8", 8), "[-128, 0, 127]") == 0, "i8 array (got %s)", fmt_buf);
    CHECK(strcmp(fmt_key(g, "a.u16", 8), "[0, 65535]") == 0, "u16 array (got %s)", fmt_buf);
    CHECK(strcmp(fmt_key(g, "a.i16", 8), "[-32768, 32767]") == 0, "i16 array (got %s)", fmt_buf);
    CHECK(strcmp(fmt_key(g, "a.u32", 8), "[0, 4294967295]") == 0, "u32 array (got %s)", fmt_buf);
    CHECK(strcmp(fmt_key(g, "a.f32", 8), "[0.1, -2.5, 3e+38]") == 0, "f32 array (got %s)", fmt_buf);
    CHECK(strcmp(fmt_key(g, "a.bool", 8), "[true, false]") == 0, "bool array (got %s)", fmt_buf);
    CHECK(strcmp(fmt_key(g, "a.u64", 8), "[0, 18446744073709551615]") == 0, "u64 array (got %s)",
          fmt_buf);
    CHECK(strcmp(fmt_key(g, "a.i64", 8), "[-9223372036854775808, 9223372036854775807]") == 0,
          "i64 array (got %s)", fmt_buf);
    CHECK(strcmp(fmt_key(g, "a.f64", 8), "[0.1, -1e+300]") == 0, "f64 array (got %s)", fmt_buf);
    CHECK(strcmp(fmt_key(g, "a.empty", 8), "[]") == 0, "empty array (got %s)", fmt_buf);
    CHECK(strcmp(fmt_key(g, "a.str", 8), "[\"a\", \"\", \"中文\", \"x y\"]") == 0,
          "string array (got %s)", fmt_buf);
    CHECK(strcmp(fmt_key(g, "a.str_empty", 8), "[]") == 0, "empty string array (got %s)", fmt_buf);
    CHECK(strcmp(fmt_key(g, "a.big", 2), "[-3, 4, ... (100000 items)]") == 0,
          "big array abbreviates (got %s)", fmt_buf);
    CHECK(strcmp(fmt_key(g, "a.big", 0), "[... (100000 items)]") == 0,
          "max_items 0 shows only the count (got %s)", fmt_buf);
    const gguf_kv *bk = kv_of(g, "a.big");
    bool big_ok = bk && bk->arr_n == BIG && bk->arr_type == GGUF_VT_I32;
    for (int i = 0; big_ok && i < BIG; i++)
        big_ok = gguf_arr_get_i64(bk, (uint64_t)i) == (int64_t)i * 7 - 3;
    CHECK(big_ok, "all 100000 elements of the big array read back");
    const gguf_kv *sk = kv_of(g, "a.str");
    CHECK(sk && sk->arr_n == 4 && gguf_str_eq(sk->arr_strs[2], "中文") && sk->arr_strs[1].len == 0,
          "string array elements read back");

    CHECK(kw_gguf_n_tensors(g) == 3, "3 tensors read back");
    const gguf_tensor *a = gguf_find_tensor(g, "t.f32"), *b = gguf_find_tensor(g, "t.q4"),
                      *c = gguf_find_tensor(g, "t.f16");
    if (a && b && c) {
        CHECK(a->offset == kw_gguf_data_offset(g) && b->offset == a->offset + 32 &&
                  c->offset == b->offset + 128,
              "offsets are consecutive with padding to 32 (%" PRIu64 ", %" PRIu64 ", %" PRIu64 ")",
              a->offset, b->offset, c->offset);
        CHECK(memcmp(a->data, t1, sizeof t1) == 0 && memcmp(b->data, q4, sizeof q4) == 0 &&
                  memcmp(c->data, h, sizeof h) == 0,
              "tensor data reads back unchanged");
        CHECK(b->ne[0] == 64 && b->ne[1] == 3 && b->n_dims == 2 && c->ne[2] == 4 && c->ne[3] == 1,
              "tensor dims read back");
        const uint8_t *pad = (const uint8_t *)a->data + sizeof t1;
        bool zeros = true;
        for (size_t i = 0; i < 32 - sizeof t1; i++)
            zeros = zeros && pad[i] == 0;
        CHECK(zeros, "padding after a tensor is zero bytes");
        CHECK(kw_gguf_file_size(g) == c->offset + 128,
              "the last tensor is padded too (file size %" PRIu64 ")", kw_gguf_file_size(g));
    } else {
        CHECK(false, "the three tensors are found by name");
    }
    kw_gguf_close(g);
    unlink(path);
    free(big);
}

static void test_gguf_writer_honours_alignment(void) {
    for (int variant = 0; variant < 2; variant++) {
        gguf_writer *w;
        gguf_writer_create(&w);
        float t[3] = {1, 2, 3};
        int64_t ne[1] = {3};
        gguf_writer_add_tensor(w, "x", GGML_TYPE_F32, 1, ne, t);
        gguf_writer_add_tensor(w, "y", GGML_TYPE_F32, 1, ne, t);
        if (variant == 0)
            gguf_writer_set_alignment(w, 256);
        else
            gguf_writer_add_u32(w, "general.alignment", 256);
        const char *path = tmp_path("align.gguf");
        CHECK(gguf_writer_write(w, path) == KW_OK, "aligned file written (%s)", kw_last_error());
        gguf_writer_free(w);
        kw_gguf *g = NULL;
        if (kw_gguf_open(path, &g) != KW_OK) {
            CHECK(false, "aligned file opens (%s)", kw_last_error());
            continue;
        }
        CHECK(kw_gguf_alignment(g) == 256 && kw_gguf_data_offset(g) == 256,
              "alignment 256 (variant %d): data at %" PRIu64, variant, kw_gguf_data_offset(g));
        const gguf_tensor *y = gguf_find_tensor(g, "y");
        CHECK(y && y->offset == 512, "the second tensor is at 512 (variant %d)", variant);
        kw_gguf_close(g);
        unlink(path);
    }
}

static void test_gguf_writer_reports_path_and_errno(void) {
    gguf_writer *w;
    gguf_writer_create(&w);
    gguf_writer_add_u32(w, "k", 1);
    kw_status st = gguf_writer_write(w, "/nonexistent-dir-kw/out.gguf");
    CHECK(st == KW_ERR_IO && contains(kw_last_error(), "/nonexistent-dir-kw/out.gguf.tmp") &&
              contains(kw_last_error(), "No such file or directory"),
          "a write into a missing directory names the path and the errno text (%s)",
          kw_last_error());
    gguf_writer_free(w);
}

/* Nested arrays and every scalar type, built as raw bytes, then copied through the writer. */
static void test_gguf_copy_kv_keeps_nested_arrays_and_all_scalars(void) {
    test_bytes b = {0};
    tb_put(&b, "GGUF", 4);
    tb_u32(&b, 3);
    tb_u64(&b, 0);
    tb_u64(&b, 14);
    tb_key(&b, "s.u8", GGUF_VT_U8), tb_u8(&b, 200);
    tb_key(&b, "s.i8", GGUF_VT_I8), tb_u8(&b, 0x80);
    tb_key(&b, "s.u16", GGUF_VT_U16), tb_put(&b, &(uint16_t){60000}, 2);
    tb_key(&b, "s.i16", GGUF_VT_I16), tb_put(&b, &(int16_t){-300}, 2);
    tb_key(&b, "s.u32", GGUF_VT_U32), tb_u32(&b, 5);
    tb_key(&b, "s.i32", GGUF_VT_I32), tb_put(&b, &(int32_t){-7}, 4);
    tb_key(&b, "s.f32", GGUF_VT_F32), tb_put(&b, &(float){0.25f}, 4);
    tb_key(&b, "s.bool", GGUF_VT_BOOL), tb_u8(&b, 1);
    tb_key(&b, "s.str", GGUF_VT_STRING), tb_str(&b, "ok");
    tb_key(&b, "s.u64", GGUF_VT_U64), tb_u64(&b, 1ull << 40);
    tb_key(&b, "s.i64", GGUF_VT_I64), tb_put(&b, &(int64_t){-(1ll << 40)}, 8);
    tb_key(&b, "s.f64", GGUF_VT_F64), tb_put(&b, &(double){2.5}, 8);
    /* [[1, 2], [3]] of u16 */
    tb_key(&b, "n.ints", GGUF_VT_ARRAY), tb_u32(&b, GGUF_VT_ARRAY), tb_u64(&b, 2);
    tb_u32(&b, GGUF_VT_U16), tb_u64(&b, 2), tb_put(&b, &(uint16_t){1}, 2),
        tb_put(&b, &(uint16_t){2}, 2);
    tb_u32(&b, GGUF_VT_U16), tb_u64(&b, 1), tb_put(&b, &(uint16_t){3}, 2);
    /* [[["a"], []]] */
    tb_key(&b, "n.deep", GGUF_VT_ARRAY), tb_u32(&b, GGUF_VT_ARRAY), tb_u64(&b, 1);
    tb_u32(&b, GGUF_VT_ARRAY), tb_u64(&b, 2);
    tb_u32(&b, GGUF_VT_STRING), tb_u64(&b, 1), tb_str(&b, "a");
    tb_u32(&b, GGUF_VT_STRING), tb_u64(&b, 0);
    while (b.n % 32)
        tb_u8(&b, 0);
    const char *src = tmp_path("nested-src.gguf"), *dst_name = "nested-dst.gguf";
    char src_path[600];
    snprintf(src_path, sizeof src_path, "%s", src);
    CHECK(write_bytes(src_path, b.p, b.n), "raw file written");
    kw_gguf *g = NULL;
    if (kw_gguf_open(src_path, &g) != KW_OK) {
        CHECK(false, "raw file with nested arrays opens (%s)", kw_last_error());
        free(b.p);
        return;
    }
    CHECK(strcmp(fmt_key(g, "n.ints", 8), "[[1, 2], [3]]") == 0, "nested arrays render (got %s)",
          fmt_buf);
    CHECK(strcmp(fmt_key(g, "n.deep", 8), "[[[\"a\"], []]]") == 0, "3-deep arrays render (got %s)",
          fmt_buf);
    CHECK(strcmp(fmt_key(g, "n.ints", 1), "[[1, ... (2 items)], ... (2 items)]") == 0,
          "nested arrays abbreviate at every level (got %s)", fmt_buf);
    CHECK(strcmp(fmt_key(g, "s.i8", 8), "-128") == 0 &&
              strcmp(fmt_key(g, "s.i16", 8), "-300") == 0 &&
              strcmp(fmt_key(g, "s.u16", 8), "60000") == 0 &&
              strcmp(fmt_key(g, "s.f64", 8), "2.5") == 0,
          "narrow and wide scalars render");
    CHECK(strcmp(kw_gguf_kv_type_name(g, gguf_find_key(g, "n.ints")), "array[array]") == 0 &&
              strcmp(kw_gguf_kv_type_name(g, gguf_find_key(g, "s.u16")), "u16") == 0,
          "type names: array[array], u16");
    gguf_writer *w;
    gguf_writer_create(&w);
    kw_status st = KW_OK;
    for (int64_t i = 0; i < kw_gguf_n_kv(g) && !st; i++)
        st = gguf_writer_copy_kv(w, g, i);
    CHECK(st == KW_OK, "every entry copies (%s)", kw_last_error());
    char dst[600];
    snprintf(dst, sizeof dst, "%s", tmp_path(dst_name));
    CHECK(gguf_writer_write(w, dst) == KW_OK, "copy written (%s)", kw_last_error());
    gguf_writer_free(w);
    kw_gguf_close(g);
    size_t n = 0;
    char *got = test_read_file(dst, &n);
    CHECK(got && n == b.n && memcmp(got, b.p, n) == 0,
          "the copy is byte-identical to the raw file (%zu vs %zu bytes)", n, b.n);
    free(got);
    free(b.p);
    unlink(src_path);
    unlink(dst);
}

/* ---------------------------------------------------------------- byte-identical rewrite */

static void rewrite_identical(const char *rel) {
    kw_gguf *g = NULL;
    if (kw_gguf_open(test_data_path(rel), &g) != KW_OK) {
        CHECK(false, "%s opens (%s)", rel, kw_last_error());
        return;
    }
    gguf_writer *w;
    gguf_writer_create(&w);
    kw_status st = KW_OK;
    for (int64_t i = 0; i < g->n_kv && !st; i++)
        st = gguf_writer_copy_kv(w, g, i);
    for (int64_t i = 0; i < g->n_tensors && !st; i++) {
        const gguf_tensor *t = &g->tensors[i];
        st = gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data);
    }
    CHECK(st == KW_OK, "%s: every kv and tensor is accepted (%s)", rel, kw_last_error());
    const char *path = tmp_path("rewrite.gguf");
    CHECK(gguf_writer_write(w, path) == KW_OK, "%s: rewrite written (%s)", rel, kw_last_error());
    gguf_writer_free(w);
    size_t n = 0;
    char *got = test_read_file(path, &n);
    size_t first_diff = 0;
    bool same = got && n == g->file.size;
    if (got)
        while (first_diff < n && first_diff < g->file.size &&
               (uint8_t)got[first_diff] == g->file.data[first_diff])
            first_diff++;
    same = same && first_diff == n;
    CHECK(same,
          "%s: the rewrite is byte-identical (%zu vs %" PRIu64 " bytes, first difference at %zu)",
          rel, n, g->file.size, first_diff);
    free(got);
    unlink(path);
    kw_gguf_close(g);
}

static void test_gguf_rewrite_is_byte_identical(void) {
    rewrite_identical("models/quant-q4_0.gguf");
    rewrite_identical("models/quant-q4_k.gguf");
    rewrite_identical("models/tiny-qwen3-f16.gguf");
}

/* ---------------------------------------------------------------- the bad-input corpus */

/* Every file-level defect of tests/bad-input/corpus is refused by kw_gguf_open with the expected
 * fragment (and offset); the model-level ones are well-formed GGUF and open (the loader refuses
 * them; tests/bad-input/run.sh checks that through the CLI). */
static void test_gguf_refuses_every_corpus_defect(void) {
    size_t n = 0;
    char *tsv = test_read_file("tests/bad-input/corpus/expected.tsv", &n);
    CHECK(tsv != NULL, "tests/bad-input/corpus/expected.tsv is readable");
    if (!tsv) return;
    int rows = 0;
    for (char *line = strtok(tsv, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] == '#' || !line[0]) continue;
        char *frag = strchr(line, '\t');
        char *off = frag ? strchr(frag + 1, '\t') : NULL;
        if (!off) {
            CHECK(false, "expected.tsv row has three columns: %s", line);
            continue;
        }
        *frag++ = 0;
        *off++ = 0;
        rows++;
        char path[512];
        snprintf(path, sizeof path, "tests/bad-input/corpus/%s.gguf", line);
        kw_gguf *g = NULL;
        kw_status st = kw_gguf_open(path, &g);
        if (strncmp(line, "model-", 6) == 0) {
            CHECK(st == KW_OK, "%s is well-formed GGUF (%s)", line, kw_last_error());
        } else {
            CHECK(st != KW_OK && g == NULL, "%s is refused", line);
            CHECK(contains(kw_last_error(), frag), "%s: the message contains \"%s\" (got: %s)",
                  line, frag, kw_last_error());
            if (strcmp(off, "-") != 0) {
                char want[64];
                snprintf(want, sizeof want, "offset %s", off);
                CHECK(contains(kw_last_error(), want), "%s: the message names %s (got: %s)", line,
                      want, kw_last_error());
            }
        }
        kw_gguf_close(g);
    }
    CHECK(rows >= 40, "the corpus has at least 40 defects (%d)", rows);
    kw_gguf *g = NULL;
    CHECK(kw_gguf_open("tests/bad-input/corpus/valid-base.gguf", &g) == KW_OK &&
              kw_gguf_n_tensors(g) == 12,
          "the corpus base opens with 12 tensors (%s)", kw_last_error());
    kw_gguf_close(g);
    free(tsv);
}

int main(void) {
    RUN_TEST(test_gguf_reads_every_model);
    RUN_TEST(test_gguf_known_keys_and_tensors);
    RUN_TEST(test_gguf_typed_getters_name_key_and_types);
    RUN_TEST(test_gguf_writer_round_trips_values_and_tensors);
    RUN_TEST(test_gguf_writer_honours_alignment);
    RUN_TEST(test_gguf_writer_reports_path_and_errno);
    RUN_TEST(test_gguf_copy_kv_keeps_nested_arrays_and_all_scalars);
    RUN_TEST(test_gguf_rewrite_is_byte_identical);
    RUN_TEST(test_gguf_refuses_every_corpus_defect);
    return test_report();
}
