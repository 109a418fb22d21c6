/* kernels.c - builds the kernel tables (see kernels.h) and picks the best one for this CPU once.
 *
 * The choice follows kw_cpu_get(), so KAIWU_ISA=ref / KAIWU_ISA=avx2 (read by base/cpu.c) lower
 * it. Relies on: the per-ISA fillers. Must not: call an ISA's code before checking the CPU has it.
 */
#include "tensor/kernels/kernels.h"

#include "base/base.h"
#include "tensor/blocks.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)
#endif
#endif

static kernel_entry best[GGML_TYPE_COUNT];
static kernel_attn best_attn;
static kernel_grad best_grad;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static const char *best_name = "ref";

static bool cpu_has(kernel_isa isa) {
    const kw_cpu *c = kw_cpu_get();
    switch (isa) {
    case KERNEL_ISA_REF: return true;
#if defined(__x86_64__)
    case KERNEL_ISA_AVX2: return c->avx2 && c->fma && c->f16c;
    case KERNEL_ISA_AVX512:
        return c->avx2 && c->fma && c->f16c && c->avx512f && c->avx512bw && c->avx512vl &&
               c->avx512dq && c->avx512vnni;
#elif defined(__aarch64__) && defined(__linux__)
    case KERNEL_ISA_NEON: {
        const char *force = getenv("KAIWU_ISA"); /* base/cpu.c only reads it on x86 */
        return c->n_cores > 0 && !(force && strcmp(force, "ref") == 0) &&
               (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
    }
#endif
    default: (void)c; return false;
    }
}

bool kernels_build_table(kernel_isa isa, kernel_entry *table) {
    if (!cpu_has(isa)) return false;
    for (int t = 0; t < GGML_TYPE_COUNT; t++)
        table[t] = (kernel_entry){.act_type = GGML_TYPE_COUNT};
    kernels_fill_ref(table);
#if defined(__x86_64__)
    if (isa >= KERNEL_ISA_AVX2 && isa <= KERNEL_ISA_AVX512) kernels_fill_avx2(table);
    if (isa == KERNEL_ISA_AVX512) kernels_fill_avx512(table);
#elif defined(__aarch64__) && defined(__linux__)
    if (isa == KERNEL_ISA_NEON) kernels_fill_neon(table);
#endif
    return true;
}

static void choose(void) {
    static const char *names[KERNEL_ISA_COUNT] = {"ref", "avx2", "avx512", "neon"};
    kernels_fill_attn_ref(&best_attn);
    for (int isa = KERNEL_ISA_COUNT - 1; isa >= 0; isa--)
        if (kernels_build_table((kernel_isa)isa, best)) {
            best_name = names[isa];
            kernels_grad_isa((kernel_isa)isa, &best_grad);
#if defined(__x86_64__)
            if (isa == KERNEL_ISA_AVX2 || isa == KERNEL_ISA_AVX512) {
                kernels_fill_attn_avx2(&best_attn);
                kernels_fill_vec_avx2(&best_attn);
            }
            if (isa == KERNEL_ISA_AVX512) kernels_fill_attn_avx512(&best_attn);
#endif
            return;
        }
}

const kernel_attn *kernels_attn(void) {
    pthread_once(&once, choose);
    return &best_attn;
}

bool kernels_grad_isa(kernel_isa isa, kernel_grad *g) {
    if (!cpu_has(isa)) return false;
    kernels_fill_grad_ref(g);
#if defined(__x86_64__)
    if (isa == KERNEL_ISA_AVX2 || isa == KERNEL_ISA_AVX512) kernels_fill_grad_avx2(g);
#endif
    return true;
}

const kernel_grad *kernels_grad(void) {
    pthread_once(&once, choose);
    return &best_grad;
}

const kernel_entry *kernels_get(uint32_t type) {
    pthread_once(&once, choose);
    return type < GGML_TYPE_COUNT ? &best[type] : NULL;
}

const char *kernels_isa_name(void) {
    pthread_once(&once, choose);
    return best_name;
}

const kernel_gemm *kernels_gemm_isa(kernel_isa isa, bool bf16) {
#if defined(__x86_64__)
    if (!cpu_has(isa)) return NULL;
    if (isa == KERNEL_ISA_AVX2) return bf16 ? &kernel_gemm_avx2_bf16 : &kernel_gemm_avx2_f32;
    if (isa == KERNEL_ISA_AVX512) {
        if (!bf16) return &kernel_gemm_avx512_f32;
        return kw_cpu_get()->avx512bf16 ? &kernel_gemm_avx512_bf16 : NULL;
    }
#else
    (void)isa;
    (void)bf16;
#endif
    return NULL;
}

static const kernel_gemm *best_gemm_f32, *best_gemm_bf16;
static pthread_once_t gemm_once = PTHREAD_ONCE_INIT;

/* The widest ISA that has the pieces; the AVX-512 bf16 kernel needs AVX512-BF16 beside the
 * table's features, so without it bf16 falls back to the AVX2 emulation. */
static void choose_gemm(void) {
    for (int isa = KERNEL_ISA_COUNT - 1; isa > KERNEL_ISA_REF; isa--) {
        if (!best_gemm_f32) best_gemm_f32 = kernels_gemm_isa((kernel_isa)isa, false);
        if (!best_gemm_bf16) best_gemm_bf16 = kernels_gemm_isa((kernel_isa)isa, true);
    }
}

const kernel_gemm *kernels_gemm_f32(void) {
    pthread_once(&gemm_once, choose_gemm);
    return best_gemm_f32;
}

const kernel_gemm *kernels_gemm_bf16(void) {
    pthread_once(&gemm_once, choose_gemm);
    return best_gemm_bf16;
}

size_t kernels_act_row_bytes(uint32_t act_type, int64_t n) {
    if (act_type == GGML_TYPE_F32) return sizeof(float) * (size_t)n;
    if (act_type == KERNEL_ACT_PANEL_Q4_0 || act_type == KERNEL_ACT_PANEL_Q8_0 ||
        act_type == KERNEL_ACT_PANEL_Q5_0)
        return ((size_t)n + 8 * (size_t)(n / 32) + 63) / 64 * 64;
    if (act_type == KERNEL_ACT_PANEL_Q8_K16)
        return ((size_t)n + 4 * (size_t)(n / 256) + 2 * (size_t)(n / 16) + 63) / 64 * 64;
    if (act_type == KERNEL_ACT_PANEL_Q8_K)
        return ((size_t)n + 4 * (size_t)(n / 256) + 2 * (size_t)(n / 32) + 63) / 64 * 64;
    return (size_t)ggml_row_bytes(act_type, n);
}
