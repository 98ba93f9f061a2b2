/* b64url.c - base64url without padding (RFC 4648 section 5, as RFC 7515 section 2 uses
 * it). The decoder is strict: one canonical spelling per byte string, so that a padded,
 * standard-alphabet or otherwise sloppy `lst` is named and rejected, not guessed at. Also
 * standard base64 for x5c, and hex for tokens pasted as text. */
#include "core/tsl_int.h"

#include <stdint.h>
#include <string.h>

static const char alphabet[64] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* 0..63 for the alphabet, 0xFF (X) for everything else; a constant table, so there is
 * no run-time setup and no race. */
#define X 0xFF
static const uint8_t rev[256] = {
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, 62, X, X,
    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, X, X, X, X, X, X,
    X, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
    15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, X, X, X, X, 63,
    X, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
    41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
};
#undef X

/* The two characters of each 12-bit value, made by the preprocessor from the alphabet's
 * rule (8 KB, constant like rev[]): the encoder looks up two pairs per three bytes
 * instead of four characters. With the big-endian 64-bit loads below, 3.7 times faster
 * on a 1.3 MB list (1.43 -> 0.39 ms here); a publication base64url-encodes its list
 * three times (the JWT's lst, its payload, and the stored token's check). */
#define B64C(v)                                                                         \
    ((char)((v) < 26 ? 'A' + (v) : (v) < 52 ? 'a' + ((v)-26) : (v) < 62 ? '0' + ((v)-52) \
            : (v) == 62 ? '-' : '_'))
#define P1(i) {B64C((i) >> 6), B64C((i)&63)}
#define P4(i) P1(i), P1((i) + 1), P1((i) + 2), P1((i) + 3)
#define P16(i) P4(i), P4((i) + 4), P4((i) + 8), P4((i) + 12)
#define P64(i) P16(i), P16((i) + 16), P16((i) + 32), P16((i) + 48)
#define P256(i) P64(i), P64((i) + 64), P64((i) + 128), P64((i) + 192)
#define P1024(i) P256(i), P256((i) + 256), P256((i) + 512), P256((i) + 768)
static const char pairs[4096][2] = {P1024(0), P1024(1024), P1024(2048), P1024(3072)};
#undef P1024
#undef P256
#undef P64
#undef P16
#undef P4
#undef P1
#undef B64C

/* in[0..8) as a big-endian number; compilers make this one load and a byte swap. */
static inline uint64_t load_be64(const uint8_t *in)
{
    return (uint64_t)in[0] << 56 | (uint64_t)in[1] << 48 | (uint64_t)in[2] << 40 |
           (uint64_t)in[3] << 32 | (uint64_t)in[4] << 24 | (uint64_t)in[5] << 16 |
           (uint64_t)in[6] << 8 | in[7];
}

/* rev[] again, each value shifted to its place in a group of four characters, and every
 * character outside the alphabet with the top byte set: a group decodes with four
 * lookups and one test. 1.6 times faster than rev[] alone (1.7 MB of a JWT payload, which
 * recording a token decodes). */
#define R(c)                                                                            \
    ((c) >= 'A' && (c) <= 'Z'   ? (c) - 'A'                                           \
     : (c) >= 'a' && (c) <= 'z' ? (c) - 'a' + 26                                      \
     : (c) >= '0' && (c) <= '9' ? (c) - '0' + 52                                      \
     : (c) == '-'               ? 62                                                  \
     : (c) == '_'               ? 63                                                  \
                                : 0x100)
#define D(c, sh) (R(c) == 0x100 ? 0xFF000000u : (uint32_t)R(c) << (sh))
#define T4(c, sh) D(c, sh), D((c) + 1, sh), D((c) + 2, sh), D((c) + 3, sh)
#define T16(c, sh) T4(c, sh), T4((c) + 4, sh), T4((c) + 8, sh), T4((c) + 12, sh)
#define T64(c, sh) T16(c, sh), T16((c) + 16, sh), T16((c) + 32, sh), T16((c) + 48, sh)
#define T256(sh) {T64(0, sh), T64(64, sh), T64(128, sh), T64(192, sh)}
static const uint32_t shifted[4][256] = {T256(18), T256(12), T256(6), T256(0)};
#undef T256
#undef T64
#undef T16
#undef T4
#undef D
#undef R

/* v to p[0..8) big-endian: one byte swap and one store where the compiler knows how. */
static inline void store_be64(uint8_t *p, uint64_t v)
{
#if defined(__GNUC__) && defined(__BYTE_ORDER__) &&                                  \
    __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    v = __builtin_bswap64(v);
    memcpy(p, &v, 8);
#else
    for (unsigned j = 0; j < 8; j++)
        p[j] = (uint8_t)(v >> (56 - 8 * j));
#endif
}

size_t tslp_b64url_encode_into(const uint8_t *in, size_t len, char *dst)
{
    char *p = dst;
    size_t k = 0;
    /* Six bytes (eight characters) a step, from a load of eight: the last two bytes are
     * read, never used, so this stops while eight are left. */
    for (; len >= 8 && k <= len - 8; k += 6) {
        uint64_t v = load_be64(in + k);
        memcpy(p, pairs[v >> 52], 2);
        memcpy(p + 2, pairs[(v >> 40) & 0xFFF], 2);
        memcpy(p + 4, pairs[(v >> 28) & 0xFFF], 2);
        memcpy(p + 6, pairs[(v >> 16) & 0xFFF], 2);
        p += 8;
    }
    for (; k + 3 <= len; k += 3) {
        uint32_t v = (uint32_t)in[k] << 16 | (uint32_t)in[k + 1] << 8 | in[k + 2];
        memcpy(p, pairs[v >> 12], 2);
        memcpy(p + 2, pairs[v & 0xFFF], 2);
        p += 4;
    }
    if (len - k == 1) {
        uint32_t v = (uint32_t)in[k] << 16;
        *p++ = alphabet[v >> 18];
        *p++ = alphabet[(v >> 12) & 63];
    } else if (len - k == 2) {
        uint32_t v = (uint32_t)in[k] << 16 | (uint32_t)in[k + 1] << 8;
        *p++ = alphabet[v >> 18];
        *p++ = alphabet[(v >> 12) & 63];
        *p++ = alphabet[(v >> 6) & 63];
    }
    return (size_t)(p - dst);
}

tsl_status tsl_b64url_encode(const uint8_t *in, size_t len, char **out, size_t *out_len,
                             tsl_error *err)
{
    if (out == NULL || (in == NULL && len > 0))
        return tslp_fail(err, TSL_ERR_ARG, 0, "base64url: NULL argument");
    if (len > (SIZE_MAX - 4) / 4 * 3)
        return tslp_fail(err, TSL_ERR_LIMIT, 0, "base64url: %zu bytes is too long", len);
    size_t n = TSLP_B64URL_LEN(len);
    char *s = tslp_malloc(n + 1);
    if (s == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "out of memory for %zu base64url chars", n);
    s[tslp_b64url_encode_into(in, len, s)] = '\0';
    *out = s;
    if (out_len != NULL)
        *out_len = n;
    return TSL_OK;
}

/* Names the first character outside the alphabet. */
static tsl_status bad_char(const char *in, size_t at, tsl_error *err)
{
    unsigned char c = (unsigned char)in[at];
    if (c == '=')
        return tslp_fail(err, TSL_ERR_MALFORMED, at,
                         "base64url: padding '=' at offset %zu (base64url is unpadded)", at);
    if (c == '+' || c == '/')
        return tslp_fail(err, TSL_ERR_MALFORMED, at,
                         "base64url: '%c' at offset %zu is standard base64, expected "
                         "base64url ('-' and '_')",
                         c, at);
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
        return tslp_fail(err, TSL_ERR_MALFORMED, at,
                         "base64url: white space at offset %zu", at);
    return tslp_fail(err, TSL_ERR_MALFORMED, at,
                     "base64url: invalid character 0x%02x at offset %zu", c, at);
}

tsl_status tsl_b64url_decode(const char *in, size_t len, uint8_t **out, size_t *out_len,
                             tsl_error *err)
{
    if (out == NULL || out_len == NULL || (in == NULL && len > 0))
        return tslp_fail(err, TSL_ERR_ARG, 0, "base64url: NULL argument");
    if (len % 4 == 1)
        return tslp_fail(err, TSL_ERR_MALFORMED, len,
                         "base64url: length %zu is impossible (a final group of one "
                         "character)",
                         len);
    size_t n = len / 4 * 3 + (len % 4 == 0 ? 0 : len % 4 - 1);
    uint8_t *b = tslp_malloc(n);
    if (b == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "out of memory for %zu bytes", n);
    const unsigned char *s = (const unsigned char *)in;
    uint8_t *p = b;
    size_t k = 0;
    /* Eight characters (six bytes) a step, stored as eight bytes while there is room;
     * a group with a character outside the alphabet is left to the loop after, which
     * names it. */
    for (; k + 8 <= len && (size_t)(p - b) + 8 <= n; k += 8) {
        const uint32_t(*t)[256] = shifted;
        uint32_t g0 = t[0][s[k]] | t[1][s[k + 1]] | t[2][s[k + 2]] | t[3][s[k + 3]];
        uint32_t g1 = t[0][s[k + 4]] | t[1][s[k + 5]] | t[2][s[k + 6]] | t[3][s[k + 7]];
        if ((g0 | g1) >> 24)
            break;
        uint64_t v = (uint64_t)g0 << 40 | (uint64_t)g1 << 16;
        store_be64(p, v);
        p += 6;
    }
    for (; k + 4 <= len; k += 4) {
        uint32_t a = rev[s[k]], c1 = rev[s[k + 1]], c2 = rev[s[k + 2]], c3 = rev[s[k + 3]];
        if ((a | c1 | c2 | c3) > 63) {
            size_t at = k;
            while (rev[s[at]] != 0xFF)
                at++;
            tslp_free(b);
            return bad_char(in, at, err);
        }
        uint32_t v = a << 18 | c1 << 12 | c2 << 6 | c3;
        p[0] = (uint8_t)(v >> 16);
        p[1] = (uint8_t)(v >> 8);
        p[2] = (uint8_t)v;
        p += 3;
    }
    size_t rest = len - k;
    if (rest > 0) {
        uint32_t v = 0;
        for (size_t j = 0; j < rest; j++) {
            if (rev[s[k + j]] == 0xFF) {
                tslp_free(b);
                return bad_char(in, k + j, err);
            }
            v |= (uint32_t)rev[s[k + j]] << (18 - 6 * j);
        }
        /* The unused low bits of the last character must be zero: otherwise two
         * different strings would decode to the same bytes. */
        uint32_t unused = rest == 2 ? (v & 0xFFFF) : (v & 0xFF);
        if (unused != 0) {
            tslp_free(b);
            return tslp_fail(err, TSL_ERR_MALFORMED, len - 1,
                             "base64url: non-zero unused bits in the last character at "
                             "offset %zu",
                             len - 1);
        }
        *p++ = (uint8_t)(v >> 16);
        if (rest == 3)
            *p++ = (uint8_t)(v >> 8);
    }
    *out = b;
    *out_len = n;
    return TSL_OK;
}

/* Standard base64 (x5c in JOSE headers is base64 with padding, not base64url): checked
 * strictly by mapping to the url alphabet and reusing the decoder above. */
tsl_status tslp_b64std_encode(const uint8_t *in, size_t len, char **out, size_t *out_len,
                              tsl_error *err)
{
    char *s;
    size_t n;
    tsl_status st = tsl_b64url_encode(in, len, &s, &n, err);
    if (st != TSL_OK)
        return st;
    size_t padded = (n + 3) / 4 * 4;
    char *p = tslp_realloc(s, padded + 1);
    if (p == NULL) {
        tslp_free(s);
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "out of memory for base64");
    }
    for (size_t k = 0; k < n; k++)
        p[k] = p[k] == '-' ? '+' : p[k] == '_' ? '/' : p[k];
    for (size_t k = n; k < padded; k++)
        p[k] = '=';
    p[padded] = '\0';
    *out = p;
    if (out_len != NULL)
        *out_len = padded;
    return TSL_OK;
}

tsl_status tslp_b64std_decode(const char *in, size_t len, uint8_t **out, size_t *out_len,
                              tsl_error *err)
{
    if (len % 4 != 0)
        return tslp_fail(err, TSL_ERR_MALFORMED, len,
                         "base64: length %zu is not a multiple of 4", len);
    size_t pad = 0;
    while (pad < 2 && pad < len && in[len - 1 - pad] == '=')
        pad++;
    char *u = tslp_malloc(len + 1);
    if (u == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "out of memory for base64");
    for (size_t k = 0; k < len - pad; k++) {
        char c = in[k];
        if (c == '-' || c == '_') {
            tslp_free(u);
            return tslp_fail(err, TSL_ERR_MALFORMED, k,
                             "base64: '%c' at offset %zu is base64url, expected base64", c, k);
        }
        u[k] = c == '+' ? '-' : c == '/' ? '_' : c;
    }
    tsl_status st = tsl_b64url_decode(u, len - pad, out, out_len, err);
    tslp_free(u);
    return st;
}

/* Hex text (a CWT or mdoc pasted as hex) to bytes; false if it is not hex or memory
 * ran out. */
bool tslp_hex_decode(const uint8_t *in, size_t len, uint8_t **out, size_t *out_len)
{
    if (len == 0 || len % 2 != 0)
        return false;
    for (size_t k = 0; k < len; k++)
        if (tslp_hexval(in[k]) < 0)
            return false;
    uint8_t *b = tslp_malloc(len / 2);
    if (b == NULL)
        return false;
    for (size_t k = 0; k < len / 2; k++)
        b[k] = (uint8_t)(tslp_hexval(in[2 * k]) << 4 | tslp_hexval(in[2 * k + 1]));
    *out = b;
    *out_len = len / 2;
    return true;
}

const uint8_t *tslp_trim(const uint8_t *in, size_t len, size_t *start, size_t *n)
{
    size_t a = 0, b = len;
    while (a < b && (in[a] == ' ' || in[a] == '\t' || in[a] == '\r' || in[a] == '\n'))
        a++;
    while (b > a &&
           (in[b - 1] == ' ' || in[b - 1] == '\t' || in[b - 1] == '\r' || in[b - 1] == '\n'))
        b--;
    *start = a;
    *n = b - a;
    return in + a;
}

bool tslp_text_to_bytes(const uint8_t *s, size_t n, uint8_t **out, size_t *out_len)
{
    return tslp_hex_decode(s, n, out, out_len) ||
           tsl_b64url_decode((const char *)s, n, out, out_len, NULL) == TSL_OK;
}
