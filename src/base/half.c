/* half.c - IEEE half and bfloat16 conversions, bit-exact with ggml's reference routines
 * (round to nearest even; F16 overflow gives infinity; BF16 keeps NaN quiet). */
#include "base/base.h"

#include <string.h>

static inline uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}
static inline float bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

float kw_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1F;
    uint32_t man = h & 0x3FF;
    if (exp == 0) {
        if (man == 0) return bits_f32(sign);
        /* subnormal: value = man * 2^-24 */
        float v = (float)man * 5.9604644775390625e-08f;
        return sign ? -v : v;
    }
    if (exp == 31) return bits_f32(sign | 0x7F800000 | (man << 13));
    return bits_f32(sign | ((exp + 112) << 23) | (man << 13));
}

uint16_t kw_f32_to_f16(float f) {
    uint32_t x = f32_bits(f);
    uint32_t sign = (x >> 16) & 0x8000;
    uint32_t abs = x & 0x7FFFFFFF;
    if (abs > 0x7F800000) return (uint16_t)(sign | 0x7E00 | ((abs >> 13) & 0x3FF)); /* NaN */
    if (abs >= 0x477FF000) return (uint16_t)(sign | 0x7C00); /* rounds to >= 65520: inf */
    if (abs < 0x38800000) {
        /* result is subnormal (or zero): value / 2^-24, rounded to nearest even */
        if (abs < 0x33000000) return (uint16_t)sign; /* < 2^-25: rounds to zero */
        uint32_t e = abs >> 23;
        uint32_t m = (abs & 0x7FFFFF) | 0x800000;
        uint32_t shift = 126 - e; /* 14..24 */
        uint32_t q = m >> shift;
        uint32_t rem = m & ((1u << shift) - 1);
        uint32_t half = 1u << (shift - 1);
        if (rem > half || (rem == half && (q & 1))) q++;
        return (uint16_t)(sign | q);
    }
    uint32_t r = abs - 0x38000000; /* rebias exponent 127 -> 15 */
    uint32_t q = r >> 13;
    uint32_t rem = r & 0x1FFF;
    if (rem > 0x1000 || (rem == 0x1000 && (q & 1))) q++;
    return (uint16_t)(sign | q);
}

float kw_bf16_to_f32(uint16_t h) { return bits_f32((uint32_t)h << 16); }

uint16_t kw_f32_to_bf16(float f) {
    uint32_t u = f32_bits(f);
    if ((u & 0x7FFFFFFF) > 0x7F800000) return (uint16_t)((u >> 16) | 64); /* quiet NaN */
    return (uint16_t)((u + (0x7FFF + ((u >> 16) & 1))) >> 16);
}
