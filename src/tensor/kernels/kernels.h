/* kernels.h - the matmul kernel table: per weight type, the activation format it is paired with,
 * the activation quantizer and the dot product of one weight row with 1..KERNEL_MAX_NT activation
 * rows. One table per ISA (reference C, AVX2, AVX-512, NEON); kernels_get() returns the best one
 * the CPU has, chosen once at first use.
 *
 * Each ISA lives in its own directory (kernels/<isa>/), compiled with its own -m flags, and only
 * ever reached through this table after run-time feature detection. An ISA fills the entries it
 * has a kernel for on top of the table below it (ref <- avx2 <- avx512), so a type without a SIMD
 * kernel keeps the reference one.
 * Relies on: tensor/quants.h (reference kernels), base/base.h (kw_cpu_get).
 */
#ifndef KAIWU_KERNELS_H
#define KAIWU_KERNELS_H

#include "gguf/gguf.h"

/* Weight rows are dotted with up to this many activation rows per call (prefill reuses each
 * loaded weight block across them). */
#define KERNEL_MAX_NT 4

/* s[t] = weight row w · activation row t, for t < nt (1..KERNEL_MAX_NT); activation row t starts
 * at x + t * x_stride bytes. n = values per row, a multiple of the weight type's block size. */
typedef void (*kernel_dot_fn)(int64_t n, const void *w, const void *x, size_t x_stride, int nt,
                              float *s);
/* Converts n floats into one activation row of the paired format (n a multiple of its block). */
typedef void (*kernel_quantize_fn)(const float *x, void *y, int64_t n);

typedef struct kernel_entry {
    uint32_t act_type;           /* activation format: GGML_TYPE_Q8_0/Q8_1/Q8_K, or F32 (float) */
    kernel_quantize_fn quantize; /* float -> act_type; NULL when act_type is F32 */
    kernel_dot_fn dot;           /* NULL: the type cannot be multiplied */
    const char *isa;             /* which table the dot kernel came from ("ref", "avx2", ...) */
} kernel_entry;

typedef enum kernel_isa { KERNEL_ISA_REF, KERNEL_ISA_AVX2, KERNEL_ISA_AVX512, KERNEL_ISA_NEON, KERNEL_ISA_COUNT } kernel_isa;

/* The kernel for weight type `type` of the best ISA this CPU runs (KAIWU_ISA may lower it). */
const kernel_entry *kernels_get(uint32_t type);
/* Name of the ISA kernels_get uses. */
const char *kernels_isa_name(void);

/* Fills table[GGML_TYPE_COUNT] with the kernels of exactly `isa` on top of the ones below it;
 * false when this CPU (or build) cannot run that ISA. For tests comparing ISAs. */
bool kernels_build_table(kernel_isa isa, kernel_entry *table);

/* Bytes of one activation row of n values in the format act_type. */
size_t kernels_act_row_bytes(uint32_t act_type, int64_t n);

/* Per-ISA fillers (each defined in its directory; a filler only sets the types it implements). */
void kernels_fill_ref(kernel_entry *table);
void kernels_fill_avx2(kernel_entry *table);
void kernels_fill_avx512(kernel_entry *table);
void kernels_fill_neon(kernel_entry *table);

#endif
