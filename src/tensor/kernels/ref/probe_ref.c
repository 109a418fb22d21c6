/* probe_ref.c - plain C probe kernels (see tensor/probe.h): the machine ceilings when no SIMD ISA
 * is available (or KAIWU_ISA=ref). Whatever the compiler makes of these loops at -O2 is the
 * reference path's ceiling; the empty asm statements only stop it from hoisting loop-invariant
 * work out of the loop.
 *
 * Relies on: nothing but C. Must not: use intrinsics.
 */
#include "tensor/probe.h"

enum { N_ACC = 8 };

uint64_t probe_int8_ref(int64_t iters, const uint8_t *seed, int32_t *sink) {
    int32_t acc[N_ACC] = {0};
    const int8_t *b = (const int8_t *)(seed + 32);
    for (int64_t it = 0; it < iters; it++) {
        __asm__ volatile("" : : "r"(seed) : "memory"); /* reload: no hoisting of the products */
        for (int k = 0; k < N_ACC; k++)
            for (int j = 0; j < 4; j++)
                acc[k] += (int32_t)seed[4 * k + j] * (int32_t)b[4 * k + j];
    }
    int32_t s = 0;
    for (int k = 0; k < N_ACC; k++)
        s += acc[k];
    *sink = s;
    return (uint64_t)iters * N_ACC * 4 * 2;
}

uint64_t probe_f32_ref(int64_t iters, const float *seed, float *sink) {
    float acc[N_ACC];
    for (int k = 0; k < N_ACC; k++)
        acc[k] = seed[k];
    const float a = seed[8], c = seed[9];
    for (int64_t it = 0; it < iters; it++)
        for (int k = 0; k < N_ACC; k++)
            acc[k] = acc[k] * a + c;
    float s = 0;
    for (int k = 0; k < N_ACC; k++)
        s += acc[k];
    *sink = s;
    return (uint64_t)iters * N_ACC * 2;
}

uint64_t probe_read_ref(const void *buf, size_t bytes) {
    const uint64_t *p = buf;
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (size_t i = 0; i < bytes / 8; i += 4) {
        s0 += p[i];
        s1 += p[i + 1];
        s2 += p[i + 2];
        s3 += p[i + 3];
    }
    return s0 + s1 + s2 + s3;
}
