/* iq_dequant_ref.c - writes tests/data/iquant/dequant-ref.bin: test blocks of the i-quant,
 * ternary and MXFP4 types and the floats libggml's to_float makes of them (the reference
 * tests/unit/test_iquants.c compares kaiwu's dequantizers with, bit for bit).
 *
 * Built only by tests/ggml-ref/make-ref.sh against a llama.cpp build (never by make test): it
 * links the public ggml API (ggml_get_type_traits) of that build; no ggml code is copied.
 * Blocks: random bytes from a fixed xorshift seed, then the block's scale field set to a typical
 * (0.0123), a negative (-0.75), a tiny (subnormal f16 0x0003) and a large (30000) scale; MXFP4's
 * E8M0 exponent to 127, 100, 1 and 200.
 * Output: per type, u32 type, u32 nblocks, the blocks, then nblocks * block values float32 (LE).
 */
#include <ggml.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint8_t next_byte(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint8_t)(rng >> 24);
}

static void put_f16(uint8_t *p, uint16_t h) {
    p[0] = (uint8_t)h;
    p[1] = (uint8_t)(h >> 8);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s OUT.bin\n", argv[0]);
        return 2;
    }
    const enum ggml_type types[] = {GGML_TYPE_IQ4_NL, GGML_TYPE_IQ4_XS,  GGML_TYPE_IQ3_XXS,
                                    GGML_TYPE_IQ3_S,  GGML_TYPE_IQ2_XXS, GGML_TYPE_IQ2_XS,
                                    GGML_TYPE_IQ2_S,  GGML_TYPE_IQ1_S,   GGML_TYPE_IQ1_M,
                                    GGML_TYPE_TQ1_0,  GGML_TYPE_TQ2_0,   GGML_TYPE_MXFP4};
    const float scales[4] = {0.0123f, -0.75f, 0.0f /* tiny: set below */, 30000.0f};
    const uint8_t exps[4] = {127, 100, 1, 200};
    FILE *f = fopen(argv[1], "wb");
    if (!f) return 1;
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        const struct ggml_type_traits *tr = ggml_get_type_traits(types[t]);
        const uint32_t nb = 4, type = (uint32_t)types[t];
        const size_t bs = tr->type_size;
        const int64_t bk = tr->blck_size;
        uint8_t *blocks = malloc(nb * bs);
        float *vals = malloc(sizeof(float) * nb * (size_t)bk);
        for (uint32_t b = 0; b < nb; b++) {
            uint8_t *p = blocks + b * bs;
            for (size_t k = 0; k < bs; k++)
                p[k] = next_byte();
            uint16_t h = b == 2 ? 0x0003 : ggml_fp32_to_fp16(scales[b]);
            switch (types[t]) {
            case GGML_TYPE_MXFP4: p[0] = exps[b]; break;
            case GGML_TYPE_TQ1_0: put_f16(p + 52, h); break;
            case GGML_TYPE_TQ2_0: put_f16(p + 64, h); break;
            case GGML_TYPE_IQ1_M: /* the f16 scale is the top nibbles of the 4 u16 at 48.. */
                for (int k = 0; k < 4; k++)
                    p[48 + 2 * k + 1] =
                        (uint8_t)((p[48 + 2 * k + 1] & 0x0F) | (((h >> (4 * k)) & 0xF) << 4));
                break;
            default: put_f16(p, h); break;
            }
        }
        tr->to_float(blocks, vals, nb * bk);
        fwrite(&type, 4, 1, f);
        fwrite(&nb, 4, 1, f);
        fwrite(blocks, bs, nb, f);
        fwrite(vals, sizeof(float) * (size_t)bk, nb, f);
        printf("%-8s %u blocks of %zu bytes\n", tr->type_name, nb, bs);
        free(blocks);
        free(vals);
    }
    return fclose(f) ? 1 : 0;
}
