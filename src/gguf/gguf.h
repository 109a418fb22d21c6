/* gguf.h - GGUF v2/v3 files: the reader (over mmap, fully bounds-checked) and the writer.
 *
 * The reader validates the whole header when the file is opened: every count, length and offset
 * is checked against the bytes that remain before it is used, so accessors below never fail on a
 * structure that kw_gguf_open accepted. Tensor data is never copied; gguf_tensor.data points into
 * the mapping.
 *
 * The ggml tensor type table (ids, block sizes, names) lives here too, because validating tensor
 * sizes is part of reading the file; the tensor layer builds its kernels on the same ids.
 */
#ifndef KAIWU_GGUF_H
#define KAIWU_GGUF_H

#include "base/base.h"

/* ---------------------------------------------------------------- ggml tensor types */

/* Type ids as stored in files (never renumbered; gaps are ids ggml removed). */
typedef enum ggml_type {
    GGML_TYPE_F32 = 0,
    GGML_TYPE_F16 = 1,
    GGML_TYPE_Q4_0 = 2,
    GGML_TYPE_Q4_1 = 3,
    /* 4, 5: removed Q4_2, Q4_3 */
    GGML_TYPE_Q5_0 = 6,
    GGML_TYPE_Q5_1 = 7,
    GGML_TYPE_Q8_0 = 8,
    GGML_TYPE_Q8_1 = 9,
    GGML_TYPE_Q2_K = 10,
    GGML_TYPE_Q3_K = 11,
    GGML_TYPE_Q4_K = 12,
    GGML_TYPE_Q5_K = 13,
    GGML_TYPE_Q6_K = 14,
    GGML_TYPE_Q8_K = 15,
    GGML_TYPE_IQ2_XXS = 16,
    GGML_TYPE_IQ2_XS = 17,
    GGML_TYPE_IQ3_XXS = 18,
    GGML_TYPE_IQ1_S = 19,
    GGML_TYPE_IQ4_NL = 20,
    GGML_TYPE_IQ3_S = 21,
    GGML_TYPE_IQ2_S = 22,
    GGML_TYPE_IQ4_XS = 23,
    GGML_TYPE_I8 = 24,
    GGML_TYPE_I16 = 25,
    GGML_TYPE_I32 = 26,
    GGML_TYPE_I64 = 27,
    GGML_TYPE_F64 = 28,
    GGML_TYPE_IQ1_M = 29,
    GGML_TYPE_BF16 = 30,
    /* 31..33: removed Q4_0_4_4, Q4_0_4_8, Q4_0_8_8 */
    GGML_TYPE_TQ1_0 = 34,
    GGML_TYPE_TQ2_0 = 35,
    /* 36..38: removed IQ4_NL_4_4, IQ4_NL_4_8, IQ4_NL_8_8 */
    GGML_TYPE_MXFP4 = 39,
    GGML_TYPE_COUNT = 40,
} ggml_type;

typedef struct ggml_type_traits {
    const char *name;    /* "Q4_K"; NULL for ids that are not (or no longer) defined */
    uint32_t block_size; /* values per block (1 for plain types) */
    uint32_t type_size;  /* bytes per block */
} ggml_type_traits;

/* Traits of a type id; a zeroed entry (name NULL) for unknown ids, including ids >= COUNT. */
const ggml_type_traits *ggml_type_get(uint32_t type);
/* Bytes of one row of ne0 values (ne0 must be a multiple of the block size). */
uint64_t ggml_row_bytes(uint32_t type, int64_t ne0);

/* ---------------------------------------------------------------- metadata values */

typedef enum gguf_vtype {
    GGUF_VT_U8 = 0,
    GGUF_VT_I8 = 1,
    GGUF_VT_U16 = 2,
    GGUF_VT_I16 = 3,
    GGUF_VT_U32 = 4,
    GGUF_VT_I32 = 5,
    GGUF_VT_F32 = 6,
    GGUF_VT_BOOL = 7,
    GGUF_VT_STRING = 8,
    GGUF_VT_ARRAY = 9,
    GGUF_VT_U64 = 10,
    GGUF_VT_I64 = 11,
    GGUF_VT_F64 = 12,
    GGUF_VT_COUNT = 13,
} gguf_vtype;

typedef struct gguf_str {
    const char *ptr; /* into the mapping; NOT NUL-terminated */
    uint64_t len;
} gguf_str;

typedef struct gguf_kv {
    char *key;       /* owned, NUL-terminated */
    gguf_vtype type; /* value type */
    uint64_t offset; /* file offset of the value (for messages) */
    union {
        uint64_t u; /* U8..U64 and BOOL, zero-extended */
        int64_t i;  /* I8..I64, sign-extended */
        double f;   /* F32, F64 */
        gguf_str s; /* STRING */
    } v;
    /* arrays (type == GGUF_VT_ARRAY) */
    gguf_vtype arr_type;     /* element type */
    uint64_t arr_n;          /* element count */
    const uint8_t *arr_data; /* first element in the mapping (fixed-size elements) */
    gguf_str *arr_strs;      /* owned: arr_n strings for arrays of strings, else NULL */
    uint64_t arr_bytes;      /* bytes the elements occupy in the file */
} gguf_kv;

typedef struct gguf_tensor {
    char *name;           /* owned, NUL-terminated */
    uint32_t type;        /* ggml_type */
    uint32_t n_dims;      /* 1..4 */
    int64_t ne[4];        /* ne[0] = row length; unused dims 1 */
    uint64_t offset;      /* absolute file offset of the data */
    uint64_t n_bytes;     /* size of the data */
    const void *data;     /* into the mapping */
    uint64_t info_offset; /* file offset of this tensor's info record (for messages) */
} gguf_tensor;

struct kw_gguf {
    kw_mapped_file file;
    uint32_t version;
    int64_t n_kv;
    gguf_kv *kv;
    int64_t n_tensors;
    gguf_tensor *tensors;
    uint32_t alignment;
    uint64_t data_offset; /* absolute offset of the tensor data section */
};

/* ---------------------------------------------------------------- reading */

/* kw_gguf_open / kw_gguf_close are public (kaiwu.h). */

/* Index of key, or -1. */
int64_t gguf_find_key(const kw_gguf *g, const char *key);
const gguf_tensor *gguf_find_tensor(const kw_gguf *g, const char *name);

/* Typed getters: each returns KW_OK and sets *out, KW_ERR_FORMAT naming the key when it exists
 * with an incompatible type (integers of any width convert when the value fits), or
 * KW_ERR_UNSUPPORTED ("missing key") when absent and required. Use the _opt forms for optional
 * keys: they leave *out untouched and return KW_OK when the key is absent. */
kw_status gguf_get_u32(const kw_gguf *g, const char *key, uint32_t *out);
kw_status gguf_get_u32_opt(const kw_gguf *g, const char *key, uint32_t *out);
kw_status gguf_get_i32_opt(const kw_gguf *g, const char *key, int32_t *out);
kw_status gguf_get_f32(const kw_gguf *g, const char *key, float *out);
kw_status gguf_get_f32_opt(const kw_gguf *g, const char *key, float *out);
kw_status gguf_get_bool_opt(const kw_gguf *g, const char *key, bool *out);
/* Strings are borrowed views into the mapping (not NUL-terminated). */
kw_status gguf_get_str(const kw_gguf *g, const char *key, gguf_str *out);
kw_status gguf_get_str_opt(const kw_gguf *g, const char *key, gguf_str *out);
/* Arrays: the kv entry, checked to be an array of elem_type (or any integer/float type for
 * numeric requests through gguf_arr_get_f32 / _i64). NULL with an error when missing/mistyped. */
const gguf_kv *gguf_get_arr(const kw_gguf *g, const char *key, gguf_vtype elem_type, bool required,
                            kw_status *status);
/* Element i of a numeric array as float / int64 (any numeric element type). */
float gguf_arr_get_f32(const gguf_kv *kv, uint64_t i);
int64_t gguf_arr_get_i64(const gguf_kv *kv, uint64_t i);

/* Compare a gguf_str with a C string. */
bool gguf_str_eq(gguf_str s, const char *c);

const char *gguf_vtype_name(gguf_vtype t);

/* ---------------------------------------------------------------- writing */

/* A GGUF v3 writer: collect metadata and tensor infos, then write header and data in one pass.
 * Metadata and tensor order are kept as added. Tensor data is borrowed until gguf_writer_write. */
typedef struct gguf_writer gguf_writer;

kw_status gguf_writer_create(gguf_writer **out);
void gguf_writer_free(gguf_writer *w);
void gguf_writer_set_alignment(gguf_writer *w, uint32_t alignment);
kw_status gguf_writer_add_u32(gguf_writer *w, const char *key, uint32_t v);
kw_status gguf_writer_add_u64(gguf_writer *w, const char *key, uint64_t v);
kw_status gguf_writer_add_i32(gguf_writer *w, const char *key, int32_t v);
kw_status gguf_writer_add_f32(gguf_writer *w, const char *key, float v);
kw_status gguf_writer_add_bool(gguf_writer *w, const char *key, bool v);
kw_status gguf_writer_add_str(gguf_writer *w, const char *key, const char *v);
/* Arrays of fixed-size elements (elem_type not STRING/ARRAY); data copied. */
kw_status gguf_writer_add_arr(gguf_writer *w, const char *key, gguf_vtype elem_type,
                              const void *data, uint64_t n);
kw_status gguf_writer_add_arr_str(gguf_writer *w, const char *key, const char *const *strs,
                                  uint64_t n);
/* Copies a metadata entry from a file being read (any type, arrays included). */
kw_status gguf_writer_copy_kv(gguf_writer *w, const kw_gguf *src, int64_t kv_index);
/* Adds a tensor; data (n_bytes = ggml_row_bytes(type, ne[0]) * rows) is borrowed until written. */
kw_status gguf_writer_add_tensor(gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                                 const int64_t *ne, const void *data);
/* Writes the file through a kw_outfile: a temporary file next to path, renamed over it when
 * complete (path is untouched on failure). */
kw_status gguf_writer_write(gguf_writer *w, const char *path);
/* The same, refusing a path that is one of the n_inputs files (kw_outfile_check: same device and
 * inode) with KW_ERR_INVALID_ARG. */
kw_status gguf_writer_write_guarded(gguf_writer *w, const char *path, const char *const *inputs,
                                    int32_t n_inputs);

#endif
