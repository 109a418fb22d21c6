/* probe.h - machine ceilings for the benchmark (kaiwu.h "Benchmark probes"): the per-ISA probe
 * kernels that src/base/probe.c runs on threads and times.
 *
 * The kernels live under src/tensor/kernels/<isa>/probe_*.c only because the Makefile compiles
 * those directories with their -m flags; they use nothing but the C library and intrinsics.
 * Each kernel is called only after kw_cpu_get() reports its ISA.
 */
#ifndef KAIWU_PROBE_H
#define KAIWU_PROBE_H

#include <stddef.h>
#include <stdint.h>

/* int8 dot-product loop: iters iterations over registers loaded once from seed (64 bytes).
 * Returns the operations done (2 per multiply-add); writes a checksum to *sink so the work
 * cannot be optimised away. */
typedef uint64_t (*probe_int8_fn)(int64_t iters, const uint8_t *seed, int32_t *sink);
/* f32 fused multiply-add loop, same contract (seed: 16 floats). */
typedef uint64_t (*probe_f32_fn)(int64_t iters, const float *seed, float *sink);
/* Sums bytes (a multiple of 256) at buf (64-byte aligned) with the widest loads; returns the sum.
 */
typedef uint64_t (*probe_read_fn)(const void *buf, size_t bytes);

uint64_t probe_int8_ref(int64_t iters, const uint8_t *seed, int32_t *sink);
uint64_t probe_f32_ref(int64_t iters, const float *seed, float *sink);
uint64_t probe_read_ref(const void *buf, size_t bytes);

uint64_t probe_int8_avx2(int64_t iters, const uint8_t *seed, int32_t *sink);
uint64_t probe_f32_avx2(int64_t iters, const float *seed, float *sink);
uint64_t probe_read_avx2(const void *buf, size_t bytes);

uint64_t probe_int8_avx512vnni(int64_t iters, const uint8_t *seed, int32_t *sink);
uint64_t probe_f32_avx512(int64_t iters, const float *seed, float *sink);
/* bf16 dot products (vdpbf16ps), f32 contract: 2 operations per multiply-add. */
uint64_t probe_bf16_avx512(int64_t iters, const float *seed, float *sink);
uint64_t probe_read_avx512(const void *buf, size_t bytes);

#endif
