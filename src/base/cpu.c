/* cpu.c - CPU feature detection (once) and process facts: time, peak memory. */
#include "base/base.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
static uint64_t xgetbv0(void) {
    uint32_t eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((uint64_t)edx << 32) | eax;
}
#endif

static kw_cpu cpu_info;
static char cpu_names[256];

static void detect(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    cpu_info.n_cores = n > 0 ? (int)n : 1;
    const char *isa = getenv("KAIWU_ISA");
    bool ref_only = isa && strcmp(isa, "ref") == 0;
#if defined(__x86_64__) || defined(__i386__)
    unsigned a, b, c, d;
    if (!ref_only && __get_cpuid(1, &a, &b, &c, &d)) {
        bool osxsave = c & (1u << 27);
        uint64_t xcr0 = osxsave ? xgetbv0() : 0;
        bool ymm = (xcr0 & 6) == 6, zmm = (xcr0 & 0xE6) == 0xE6;
        cpu_info.fma = ymm && (c & (1u << 12));
        cpu_info.f16c = ymm && (c & (1u << 29));
        if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
            cpu_info.avx2 = ymm && (b & (1u << 5));
            cpu_info.avx512f = zmm && (b & (1u << 16));
            cpu_info.avx512dq = zmm && (b & (1u << 17));
            cpu_info.avx512bw = zmm && (b & (1u << 30));
            cpu_info.avx512vl = zmm && (b & (1u << 31));
            cpu_info.avx512vnni = zmm && (c & (1u << 11));
        }
        if (__get_cpuid_count(7, 1, &a, &b, &c, &d)) {
            cpu_info.avx512bf16 = zmm && (a & (1u << 5));
            cpu_info.avxvnni = ymm && (a & (1u << 4));
        }
        if (isa && strcmp(isa, "avx2") == 0) {
            cpu_info.avx512f = cpu_info.avx512bw = cpu_info.avx512vl = cpu_info.avx512dq = false;
            cpu_info.avx512vnni = cpu_info.avx512bf16 = false;
        }
    }
#else
    (void)ref_only;
#endif
    const struct {
        bool on;
        const char *name;
    } f[] = {
        {cpu_info.avx2, "avx2"},
        {cpu_info.fma, "fma"},
        {cpu_info.f16c, "f16c"},
        {cpu_info.avx512f, "avx512f"},
        {cpu_info.avx512bw, "avx512bw"},
        {cpu_info.avx512vl, "avx512vl"},
        {cpu_info.avx512vnni, "avx512vnni"},
        {cpu_info.avx512bf16, "avx512bf16"},
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        if (!f[i].on) continue;
        if (cpu_names[0]) strcat(cpu_names, " ");
        strcat(cpu_names, f[i].name);
    }
    if (!cpu_names[0]) strcpy(cpu_names, "none (reference C)");
}

const kw_cpu *kw_cpu_get(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, detect);
    return &cpu_info;
}

const char *kw_cpu_features(void) {
    kw_cpu_get();
    return cpu_names;
}

uint64_t kw_peak_rss_bytes(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
    return (uint64_t)ru.ru_maxrss * 1024; /* Linux reports KiB */
}

double kw_time_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
