/* utf8.c - the few UTF-8 primitives the tokenizer and the streaming detokenizer need. */
#include "base/base.h"

int kw_utf8_seq_len(uint8_t c) {
    if (c < 0x80) return 1;
    if (c < 0xC2) return 0; /* continuation byte or overlong lead */
    if (c < 0xE0) return 2;
    if (c < 0xF0) return 3;
    if (c < 0xF5) return 4;
    return 0;
}

int kw_utf8_decode(const uint8_t *s, size_t n, uint32_t *cp) {
    if (n == 0) {
        *cp = 0xFFFD;
        return 0;
    }
    int len = kw_utf8_seq_len(s[0]);
    if (len == 0 || (size_t)len > n) {
        *cp = 0xFFFD;
        return 1;
    }
    if (len == 1) {
        *cp = s[0];
        return 1;
    }
    uint32_t v = s[0] & (0x7F >> len);
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            *cp = 0xFFFD;
            return 1;
        }
        v = (v << 6) | (s[i] & 0x3F);
    }
    /* reject overlongs, surrogates and values past U+10FFFF */
    if ((len == 3 && v < 0x800) || (len == 4 && (v < 0x10000 || v > 0x10FFFF)) ||
        (v >= 0xD800 && v <= 0xDFFF)) {
        *cp = 0xFFFD;
        return 1;
    }
    *cp = v;
    return len;
}

int kw_utf8_encode(uint32_t cp, char *out) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

int kw_utf8_incomplete_tail(const uint8_t *s, size_t n) {
    /* look back at most 3 bytes for a lead byte whose sequence runs past the end */
    for (int back = 1; back <= 3 && (size_t)back <= n; back++) {
        uint8_t c = s[n - back];
        if ((c & 0xC0) == 0x80) continue; /* continuation: keep looking for the lead */
        int len = kw_utf8_seq_len(c);
        return (len > back) ? back : 0;
    }
    return 0;
}
