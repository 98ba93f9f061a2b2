/* b64url.c - base64url without padding (RFC 4648 section 5, as RFC 7515 section 2 uses
 * it). The decoder is strict: one canonical spelling per byte string, so that a padded,
 * standard-alphabet or otherwise sloppy `lst` is named and rejected, not guessed at. Also
 * standard base64 for x5c, and hex for tokens pasted as text. */
#include "core/tsl_int.h"

#include <stdint.h>

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

size_t tslp_b64url_encode_into(const uint8_t *in, size_t len, char *dst)
{
    char *p = dst;
    size_t k = 0;
    for (; k + 3 <= len; k += 3) {
        uint32_t v = (uint32_t)in[k] << 16 | (uint32_t)in[k + 1] << 8 | in[k + 2];
        p[0] = alphabet[v >> 18];
        p[1] = alphabet[(v >> 12) & 63];
        p[2] = alphabet[(v >> 6) & 63];
        p[3] = alphabet[v & 63];
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
