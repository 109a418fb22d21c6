/* quants_i.c - dequantization and the reference dot product of the i-quant, ternary and MXFP4
 * formats (layouts in quants_i.h).
 *
 * The dequantizers reproduce ggml's to_float bit for bit: every value is formed with the same
 * float operations in the same order (sub-block scale first, then times the grid value, then the
 * sign), which the build keeps exact (-std=c17: no FMA contraction). Verified against the values
 * libggml computes on the blocks of tests/data/iquant (tests/unit/test_iquants.c).
 * Relies on: quants_i.h, quants_i_grids.c. Must not: use CPU-specific code, allocate, or fail.
 */
#include "tensor/quants_i.h"

#include "tensor/quants.h"

#include <string.h>

const int8_t quant_kvalues_iq4nl[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                        1,    13,   25,  38,  53,  69,  89,  113};
/* E2M1 (sign, 2-bit exponent, 1-bit mantissa) values times two: 0 0.5 1 1.5 2 3 4 6 */
const int8_t quant_kvalues_mxfp4[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};

bool quant_type_is_iquant(uint32_t type) {
    switch (type) {
    case GGML_TYPE_IQ4_NL:
    case GGML_TYPE_IQ4_XS:
    case GGML_TYPE_IQ3_XXS:
    case GGML_TYPE_IQ3_S:
    case GGML_TYPE_IQ2_XXS:
    case GGML_TYPE_IQ2_XS:
    case GGML_TYPE_IQ2_S:
    case GGML_TYPE_IQ1_S:
    case GGML_TYPE_IQ1_M:
    case GGML_TYPE_TQ1_0:
    case GGML_TYPE_TQ2_0:
    case GGML_TYPE_MXFP4: return true;
    default: return false;
    }
}

/* Byte k (value k) of a grid entry. */
static inline int grid8(uint64_t e, int k) { return (int)((e >> (8 * k)) & 0xFF); }
static inline int grid4(uint32_t e, int k) { return (int)((e >> (8 * k)) & 0xFF); }

/* The 8 sign bits of a 7-bit ksigns index: bit 7 makes the number of negative values even. */
static inline unsigned ksigns(unsigned i7) {
    unsigned par = (unsigned)__builtin_popcount(i7) & 1u;
    return i7 | (par << 7);
}

static inline float sgn(unsigned signs, int j) { return (signs >> j) & 1u ? -1.0f : 1.0f; }

static inline uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* ---------------------------------------------------------------- 4-bit non-linear, MXFP4 */

static void dq_iq4_nl(const block_iq4_nl *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, y += QK4_NL) {
        const float d = kw_f16_to_f32(x[i].d);
        for (int j = 0; j < QK4_NL / 2; j++) {
            y[j] = d * (float)quant_kvalues_iq4nl[x[i].qs[j] & 0xF];
            y[j + QK4_NL / 2] = d * (float)quant_kvalues_iq4nl[x[i].qs[j] >> 4];
        }
    }
}

static void dq_iq4_xs(const block_iq4_xs *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        const float d = kw_f16_to_f32(x[i].d);
        const uint8_t *qs = x[i].qs;
        for (int ib = 0; ib < QK_K / 32; ib++, y += 32, qs += 16) {
            const int ls = ((x[i].scales_l[ib / 2] >> (4 * (ib % 2))) & 0xF) |
                           (((x[i].scales_h >> (2 * ib)) & 3) << 4);
            const float dl = d * (float)(ls - 32);
            for (int j = 0; j < 16; j++) {
                y[j] = dl * (float)quant_kvalues_iq4nl[qs[j] & 0xF];
                y[j + 16] = dl * (float)quant_kvalues_iq4nl[qs[j] >> 4];
            }
        }
    }
}

/* 2^(e - 128): half the E8M0 scale (the E2M1 table is doubled); e < 2 are subnormal floats. */
static float e8m0_half(uint8_t e) {
    uint32_t bits = e < 2 ? 0x00200000u << e : (uint32_t)(e - 1) << 23;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static void dq_mxfp4(const block_mxfp4 *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, y += QK_MXFP4) {
        const float d = e8m0_half(x[i].e);
        for (int j = 0; j < QK_MXFP4 / 2; j++) {
            y[j] = (float)quant_kvalues_mxfp4[x[i].qs[j] & 0xF] * d;
            y[j + QK_MXFP4 / 2] = (float)quant_kvalues_mxfp4[x[i].qs[j] >> 4] * d;
        }
    }
}

/* ---------------------------------------------------------------- ternary */

/* Trit n (0..4) of a base-3 fixed-point byte: the top digit of q * 3^n. */
static inline int trit(uint8_t q, int n) {
    static const uint8_t pow3[5] = {1, 3, 9, 27, 81};
    const uint8_t v = (uint8_t)(q * pow3[n]);
    return ((int)v * 3) >> 8;
}

static void dq_tq1_0(const block_tq1_0 *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        const float d = kw_f16_to_f32(x[i].d);
        /* the first 32 qs bytes give 160 values (5 runs of 32), the next 16 give 80 (5 x 16) */
        for (int n = 0; n < 5; n++)
            for (int m = 0; m < 32; m++)
                *y++ = (float)(trit(x[i].qs[m], n) - 1) * d;
        for (int n = 0; n < 5; n++)
            for (int m = 0; m < 16; m++)
                *y++ = (float)(trit(x[i].qs[32 + m], n) - 1) * d;
        for (int n = 0; n < 4; n++)
            for (int j = 0; j < QK_K / 64; j++)
                *y++ = (float)(trit(x[i].qh[j], n) - 1) * d;
    }
}

static void dq_tq2_0(const block_tq2_0 *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        const float d = kw_f16_to_f32(x[i].d);
        for (int c = 0; c < QK_K / 128; c++)
            for (int l = 0; l < 4; l++)
                for (int m = 0; m < 32; m++)
                    *y++ = (float)(((x[i].qs[32 * c + m] >> (2 * l)) & 3) - 1) * d;
    }
}

/* ---------------------------------------------------------------- 2-bit grids */

static void dq_iq2_xxs(const block_iq2_xxs *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        const float d = kw_f16_to_f32(x[i].d);
        const uint8_t *q = (const uint8_t *)x[i].qs;
        for (int ib = 0; ib < QK_K / 32; ib++) {
            const uint8_t *g = q + 8 * ib;
            const uint32_t aux = le32(g + 4);
            const float db = d * (0.5f + (float)(aux >> 28)) * 0.25f;
            for (int l = 0; l < 4; l++, y += 8) {
                const uint64_t e = quant_iq2xxs_grid[g[l]];
                const unsigned s = ksigns((aux >> (7 * l)) & 127);
                for (int j = 0; j < 8; j++)
                    y[j] = db * (float)grid8(e, j) * sgn(s, j);
            }
        }
    }
}

static void dq_iq2_xs(const block_iq2_xs *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        const float d = kw_f16_to_f32(x[i].d);
        for (int ib = 0; ib < QK_K / 32; ib++) {
            const float db[2] = {d * (0.5f + (float)(x[i].scales[ib] & 0xF)) * 0.25f,
                                 d * (0.5f + (float)(x[i].scales[ib] >> 4)) * 0.25f};
            for (int l = 0; l < 4; l++, y += 8) {
                const uint16_t v = x[i].qs[4 * ib + l];
                const uint64_t e = quant_iq2xs_grid[v & 511];
                const unsigned s = ksigns(v >> 9);
                for (int j = 0; j < 8; j++)
                    y[j] = db[l / 2] * (float)grid8(e, j) * sgn(s, j);
            }
        }
    }
}

static void dq_iq2_s(const block_iq2_s *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        const float d = kw_f16_to_f32(x[i].d);
        const uint8_t *qs = x[i].qs, *signs = x[i].qs + QK_K / 8;
        for (int ib = 0; ib < QK_K / 32; ib++, qs += 4, signs += 4) {
            const float db[2] = {d * (0.5f + (float)(x[i].scales[ib] & 0xF)) * 0.25f,
                                 d * (0.5f + (float)(x[i].scales[ib] >> 4)) * 0.25f};
            for (int l = 0; l < 4; l++, y += 8) {
                const int idx = qs[l] | (((int)x[i].qh[ib] << (8 - 2 * l)) & 0x300);
                const uint64_t e = quant_iq2s_grid[idx];
                for (int j = 0; j < 8; j++)
                    y[j] = db[l / 2] * (float)grid8(e, j) * sgn(signs[l], j);
            }
        }
    }
}

/* ---------------------------------------------------------------- 3-bit grids */

static void dq_iq3_xxs(const block_iq3_xxs *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        const float d = kw_f16_to_f32(x[i].d);
        const uint8_t *qs = x[i].qs, *sas = x[i].qs + QK_K / 4;
        for (int ib = 0; ib < QK_K / 32; ib++, qs += 8) {
            const uint32_t aux = le32(sas + 4 * ib);
            const float db = d * (0.5f + (float)(aux >> 28)) * 0.5f;
            for (int l = 0; l < 4; l++, y += 8) {
                const unsigned s = ksigns((aux >> (7 * l)) & 127);
                const uint32_t e1 = quant_iq3xxs_grid[qs[2 * l]];
                const uint32_t e2 = quant_iq3xxs_grid[qs[2 * l + 1]];
                for (int j = 0; j < 4; j++) {
                    y[j] = db * (float)grid4(e1, j) * sgn(s, j);
                    y[j + 4] = db * (float)grid4(e2, j) * sgn(s, j + 4);
                }
            }
        }
    }
}

static void dq_iq3_s(const block_iq3_s *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        const float d = kw_f16_to_f32(x[i].d);
        const uint8_t *qs = x[i].qs, *signs = x[i].signs;
        for (int ib = 0; ib < QK_K / 32; ib++, qs += 8, signs += 4) {
            const int sc = ib % 2 ? x[i].scales[ib / 2] >> 4 : x[i].scales[ib / 2] & 0xF;
            const float db = d * (float)(1 + 2 * sc);
            const int qh = x[i].qh[ib];
            for (int l = 0; l < 4; l++, y += 8) {
                const uint32_t e1 = quant_iq3s_grid[qs[2 * l] | ((qh << (8 - 2 * l)) & 256)];
                const uint32_t e2 = quant_iq3s_grid[qs[2 * l + 1] | ((qh << (7 - 2 * l)) & 256)];
                for (int j = 0; j < 4; j++) {
                    y[j] = db * (float)grid4(e1, j) * sgn(signs[l], j);
                    y[j + 4] = db * (float)grid4(e2, j) * sgn(signs[l], j + 4);
                }
            }
        }
    }
}

/* ---------------------------------------------------------------- 1-bit grids */

#define IQ1_DELTA 0.125f

static inline float grid1(uint64_t e, int k) { return (float)(int8_t)((e >> (8 * k)) & 0xFF); }

static void dq_iq1_s(const block_iq1_s *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        const float d = kw_f16_to_f32(x[i].d);
        const uint8_t *qs = x[i].qs;
        for (int ib = 0; ib < QK_K / 32; ib++, qs += 4) {
            const unsigned qh = x[i].qh[ib];
            const float dl = d * (float)(2 * ((qh >> 12) & 7) + 1);
            const float delta = qh & 0x8000 ? -IQ1_DELTA : IQ1_DELTA;
            for (int l = 0; l < 4; l++, y += 8) {
                const uint64_t e = quant_iq1s_grid[qs[l] | (((qh >> (3 * l)) & 7) << 8)];
                for (int j = 0; j < 8; j++)
                    y[j] = dl * (grid1(e, j) + delta);
            }
        }
    }
}

static void dq_iq1_m(const block_iq1_m *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        uint16_t sc[4];
        for (int k = 0; k < 4; k++)
            sc[k] = (uint16_t)(x[i].scales[2 * k] | x[i].scales[2 * k + 1] << 8);
        const uint16_t dbits = (uint16_t)((sc[0] >> 12) | ((sc[1] >> 8) & 0x00F0) |
                                          ((sc[2] >> 4) & 0x0F00) | (sc[3] & 0xF000));
        const float d = kw_f16_to_f32(dbits);
        const uint8_t *qs = x[i].qs, *qh = x[i].qh;
        for (int ib = 0; ib < QK_K / 32; ib++, qs += 4, qh += 2) {
            const float dl[2] = {d * (float)(2 * ((sc[ib / 2] >> (6 * (ib % 2))) & 7) + 1),
                                 d * (float)(2 * ((sc[ib / 2] >> (6 * (ib % 2) + 3)) & 7) + 1)};
            for (int l = 0; l < 4; l++, y += 8) {
                const int h = qh[l / 2] >> (4 * (l % 2)); /* 3 index bits, then the delta sign */
                const uint64_t e = quant_iq1s_grid[qs[l] | ((h & 7) << 8)];
                const float delta = h & 8 ? -IQ1_DELTA : IQ1_DELTA;
                for (int j = 0; j < 8; j++)
                    y[j] = dl[l / 2] * (grid1(e, j) + delta);
            }
        }
    }
}

/* ---------------------------------------------------------------- dispatch */

void quant_dequantize_row_iquant(uint32_t type, const void *src, float *dst, int64_t n) {
    const int64_t nb = n / (int64_t)ggml_type_get(type)->block_size;
    switch (type) {
    case GGML_TYPE_IQ4_NL: dq_iq4_nl(src, dst, nb); break;
    case GGML_TYPE_IQ4_XS: dq_iq4_xs(src, dst, nb); break;
    case GGML_TYPE_MXFP4: dq_mxfp4(src, dst, nb); break;
    case GGML_TYPE_TQ1_0: dq_tq1_0(src, dst, nb); break;
    case GGML_TYPE_TQ2_0: dq_tq2_0(src, dst, nb); break;
    case GGML_TYPE_IQ2_XXS: dq_iq2_xxs(src, dst, nb); break;
    case GGML_TYPE_IQ2_XS: dq_iq2_xs(src, dst, nb); break;
    case GGML_TYPE_IQ2_S: dq_iq2_s(src, dst, nb); break;
    case GGML_TYPE_IQ3_XXS: dq_iq3_xxs(src, dst, nb); break;
    case GGML_TYPE_IQ3_S: dq_iq3_s(src, dst, nb); break;
    case GGML_TYPE_IQ1_S: dq_iq1_s(src, dst, nb); break;
    case GGML_TYPE_IQ1_M: dq_iq1_m(src, dst, nb); break;
    default: assert(!"quant_dequantize_row_iquant: not an i-quant type"); break;
    }
}

float quant_vec_dot_iquant_ref(uint32_t type, const void *wrow, const void *xq, int64_t n) {
    const ggml_type_traits *t = ggml_type_get(type);
    const uint8_t *w = wrow;
    float w32[QK_K];
    float sumf = 0.0f;
    if (quant_vec_dot_type(type) == GGML_TYPE_Q8_0) {
        const block_q8_0 *y = xq;
        for (int64_t i = 0; i < n / QK8_0; i++, w += t->type_size) {
            quant_dequantize_row_iquant(type, w, w32, QK8_0);
            float s = 0.0f;
            for (int j = 0; j < QK8_0; j++)
                s += w32[j] * (float)y[i].qs[j];
            sumf += s * kw_f16_to_f32(y[i].d);
        }
    } else {
        const block_q8_K *y = xq;
        for (int64_t i = 0; i < n / QK_K; i++, w += t->type_size) {
            quant_dequantize_row_iquant(type, w, w32, QK_K);
            float s = 0.0f;
            for (int j = 0; j < QK_K; j++)
                s += w32[j] * (float)y[i].qs[j];
            sumf += s * y[i].d;
        }
    }
    return sumf;
}
