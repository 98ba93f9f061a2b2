/* token_pack.c - a recorded token with its list cut out. A 10^8-entry list's JWT is
 * 2.4 MB and its CWT 1.3 MB, and both carry the same compressed list: the JWT as
 * base64url inside its base64url payload, the CWT as a byte string. Recording both
 * whole wrote 3.7 MB per publication, most of an incremental publication's time on
 * PostgreSQL (each value cut into 2 KB TOAST rows, all WAL-logged). A token row keeps
 * the token without the list, and the list is recorded once under its SHA-256 (the
 * store's token_lists), shared by both forms and by every re-signing of the same
 * statuses. Reading puts it back byte for byte.
 *
 * Packed bytes: kind (1 byte), cut (4 bytes, big-endian), rest:
 *   kind 1 (CWT): the token is rest[0, cut) + list + rest[cut, end);
 *   kind 2 (JWT): rest is H "." J1 J2 "." S, the compact JWT with its payload decoded;
 *           the payload is J1 + base64url(list) + J2, cut being where J1 ends, and the
 *           token is H "." base64url(payload) "." S. The payload is decoded strictly
 *           (one spelling per byte string), so encoding it again gives the same text.
 *
 * The list itself is recorded in pieces (tslp_token_split, token_pack.h): cut where a
 * rolling hash of the last 64 bytes has its top 13 bits zero (FastCDC's "gear" hash),
 * never shorter than TSLP_PIECE_MIN nor longer than TSLP_PIECE_MAX. A boundary depends
 * only on the 64 bytes before it, so the boundaries after a changed stretch of the
 * list fall where they fell before, and its pieces are the ones already recorded. */
#include "store/token_pack.h"

#include "core/tsl_int.h"
#include "crypto/crypto.h"

#include <string.h>

#define KIND_RAW 1
#define KIND_JWT 2
#define HEAD 5 /* kind + cut */

static size_t b64_len(size_t n)
{
    return n / 3 * 4 + (n % 3 == 0 ? 0 : n % 3 + 1);
}

static void put_head(uint8_t *p, uint8_t kind, size_t cut)
{
    p[0] = kind;
    p[1] = (uint8_t)(cut >> 24);
    p[2] = (uint8_t)(cut >> 16);
    p[3] = (uint8_t)(cut >> 8);
    p[4] = (uint8_t)cut;
}

/* Where z's bytes start in tok, or SIZE_MAX: found by its first bytes, then compared
 * whole (a list is compressed, so its first 16 bytes rarely recur). */
static size_t find_bytes(const uint8_t *tok, size_t len, const uint8_t *z, size_t zlen)
{
    size_t probe = zlen < 16 ? zlen : 16;
    const uint8_t *p = tok, *end = tok + len;
    while ((size_t)(end - p) >= zlen) {
        const uint8_t *hit = memmem(p, (size_t)(end - p), z, probe);
        if (hit == NULL || (size_t)(end - hit) < zlen)
            return SIZE_MAX;
        if (memcmp(hit, z, zlen) == 0)
            return (size_t)(hit - tok);
        p = hit + 1;
    }
    return SIZE_MAX;
}

/* Whether text (b64_len(zlen) characters) is base64url(z), compared a block at a time
 * without encoding all of z. */
static bool is_b64_of(const uint8_t *text, const uint8_t *z, size_t zlen)
{
    char block[4096];
    for (size_t k = 0; k < zlen; k += 3072) {
        size_t n = zlen - k < 3072 ? zlen - k : 3072;
        size_t w = tslp_b64url_encode_into(z + k, n, block);
        if (memcmp(text, block, w) != 0)
            return false;
        text += w;
    }
    return true;
}

static tsl_status pack_jwt(const uint8_t *tok, size_t len, const uint8_t *z, size_t zlen,
                           uint8_t **packed, size_t *packed_len, tsl_error *err)
{
    const uint8_t *dot1 = memchr(tok, '.', len);
    const uint8_t *dot2 = dot1 != NULL ? memrchr(tok, '.', len) : NULL;
    if (dot1 == NULL || dot2 == dot1)
        return TSL_OK;
    uint8_t *json = NULL;
    size_t jlen = 0;
    if (tsl_b64url_decode((const char *)dot1 + 1, (size_t)(dot2 - dot1 - 1), &json, &jlen,
                          NULL) != TSL_OK)
        return TSL_OK; /* not this library's JWT: recorded whole */
    static const char key[] = "\"lst\":\"";
    const uint8_t *at = memmem(json, jlen, key, sizeof key - 1);
    size_t zl = b64_len(zlen);
    size_t k = at != NULL ? (size_t)(at - json) + sizeof key - 1 : 0;
    tsl_status r = TSL_OK;
    if (at != NULL && jlen - k > zl && json[k + zl] == '"' && is_b64_of(json + k, z, zlen)) {
        size_t head = (size_t)(dot1 - tok) + 1, tail = len - (size_t)(dot2 - tok);
        size_t rest = head + (jlen - zl) + tail;
        uint8_t *p = rest <= UINT32_MAX ? tslp_malloc(HEAD + rest) : NULL;
        if (rest > UINT32_MAX) {
            r = TSL_OK; /* cannot be said in 4 bytes: recorded whole */
        } else if (p == NULL) {
            r = tslp_fail(err, TSL_ERR_NOMEM, 0, "out of memory for %zu bytes", rest);
        } else {
            put_head(p, KIND_JWT, head + k);
            uint8_t *w = p + HEAD;
            memcpy(w, tok, head);
            memcpy(w += head, json, k);
            memcpy(w += k, json + k + zl, jlen - k - zl);
            memcpy(w + (jlen - k - zl), dot2, tail);
            *packed = p;
            *packed_len = HEAD + rest;
        }
    }
    tslp_free(json);
    return r;
}

tsl_status tslp_token_pack(tsl_format format, const uint8_t *token, size_t len,
                           const uint8_t *z, size_t zlen, uint8_t **packed,
                           size_t *packed_len, uint8_t digest[TSLP_TOKEN_DIGEST],
                           tsl_error *err)
{
    *packed = NULL;
    *packed_len = 0;
    if (token == NULL || z == NULL || zlen == 0 || zlen > len)
        return TSL_OK;
    tsl_status r = TSL_OK;
    if (format == TSL_FORMAT_JWT) {
        r = pack_jwt(token, len, z, zlen, packed, packed_len, err);
    } else {
        size_t at = find_bytes(token, len, z, zlen);
        size_t rest = len - zlen;
        if (at != SIZE_MAX && rest <= UINT32_MAX) {
            uint8_t *p = tslp_malloc(HEAD + rest);
            if (p == NULL)
                return tslp_fail(err, TSL_ERR_NOMEM, 0, "out of memory for %zu bytes", rest);
            put_head(p, KIND_RAW, at);
            memcpy(p + HEAD, token, at);
            memcpy(p + HEAD + at, token + at + zlen, len - at - zlen);
            *packed = p;
            *packed_len = HEAD + rest;
        }
    }
    if (r == TSL_OK && *packed != NULL && (r = tslp_sha256(z, zlen, digest)) != TSL_OK) {
        tslp_free(*packed);
        *packed = NULL;
        *packed_len = 0;
    }
    return r;
}

static tsl_status damaged(const char *where, const char *id, const char *what, tsl_error *err)
{
    return tslp_fail(err, TSL_ERR_IO, 0, "store %s: list \"%s\": a recorded token %s",
                     where, id, what);
}

tsl_status tslp_token_unpack(const char *where, const char *id, const uint8_t *packed,
                             size_t packed_len, const uint8_t *digest, size_t digest_len,
                             const uint8_t *body, size_t body_len, uint8_t **out,
                             size_t *out_len, tsl_error *err)
{
    if (body == NULL)
        return damaged(where, id, "names a list that is not recorded", err);
    if (packed_len < HEAD || digest_len != TSLP_TOKEN_DIGEST || body_len > SIZE_MAX / 4)
        return damaged(where, id, "is malformed", err);
    uint8_t h[TSLP_TOKEN_DIGEST];
    tsl_status r = tslp_sha256(body, body_len, h);
    if (r != TSL_OK)
        return r;
    /* A list whose bytes changed (a torn or damaged row) would be signed garbage. */
    if (memcmp(h, digest, sizeof h) != 0)
        return damaged(where, id, "has a list whose bytes do not match its SHA-256", err);
    uint8_t kind = packed[0];
    size_t cut = (size_t)packed[1] << 24 | (size_t)packed[2] << 16 |
                 (size_t)packed[3] << 8 | packed[4];
    const uint8_t *rest = packed + HEAD;
    size_t rlen = packed_len - HEAD;
    if ((kind != KIND_RAW && kind != KIND_JWT) || cut > rlen)
        return damaged(where, id, "is malformed", err);
    if (kind == KIND_RAW) {
        uint8_t *t = tslp_malloc(rlen + body_len + 1);
        if (t == NULL)
            return tslp_fail(err, TSL_ERR_NOMEM, 0, "out of memory for %zu bytes", rlen);
        memcpy(t, rest, cut);
        memcpy(t + cut, body, body_len);
        memcpy(t + cut + body_len, rest + cut, rlen - cut);
        t[rlen + body_len] = '\0';
        *out = t;
        *out_len = rlen + body_len;
        return TSL_OK;
    }
    const uint8_t *dot1 = memchr(rest, '.', rlen);
    const uint8_t *dot2 = dot1 != NULL ? memrchr(rest, '.', rlen) : NULL;
    if (dot1 == NULL || (size_t)(dot1 - rest) >= cut || (size_t)(dot2 - rest) < cut)
        return damaged(where, id, "is malformed", err);
    size_t head = (size_t)(dot1 - rest) + 1, j1 = cut - head;
    size_t j2 = (size_t)(dot2 - rest) - cut, tail = rlen - (size_t)(dot2 - rest);
    size_t plen = j1 + b64_len(body_len) + j2;
    size_t tlen = head + b64_len(plen) + tail;
    uint8_t *payload = tslp_malloc(plen);
    uint8_t *t = payload != NULL ? tslp_malloc(tlen + 1) : NULL;
    if (t == NULL) {
        tslp_free(payload);
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "out of memory for %zu bytes", tlen);
    }
    memcpy(payload, rest + head, j1);
    size_t w = tslp_b64url_encode_into(body, body_len, (char *)payload + j1);
    memcpy(payload + j1 + w, rest + cut, j2);
    memcpy(t, rest, head);
    w = tslp_b64url_encode_into(payload, plen, (char *)t + head);
    memcpy(t + head + w, dot2, tail);
    t[tlen] = '\0';
    tslp_free(payload);
    *out = t;
    *out_len = tlen;
    return TSL_OK;
}

tsl_status tslp_token_from_row(const char *where, const char *id, const uint8_t *tok,
                               size_t len, const uint8_t *digest, size_t digest_len,
                               const uint8_t *body, size_t body_len, uint8_t **out,
                               size_t *out_len, tsl_error *err)
{
    if (digest != NULL)
        return tslp_token_unpack(where, id, tok, len, digest, digest_len, body, body_len, out,
                                 out_len, err);
    uint8_t *copy = tslp_malloc(len + 1);
    if (copy == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "list \"%s\": out of memory", id);
    if (len > 0)
        memcpy(copy, tok, len);
    copy[len] = '\0'; /* a JWT can be used as a string */
    *out = copy;
    *out_len = len;
    return TSL_OK;
}

/* The gear hash's 256 random words, from splitmix64 with a fixed seed: the same in
 * every build, so that stores cut the same list the same way. */
static void gear_table(uint64_t g[256])
{
    uint64_t x = 0x74736C5F67656172ull; /* "tsl_gear" */
    for (int k = 0; k < 256; k++) {
        uint64_t z = (x += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        g[k] = z ^ (z >> 31);
    }
}

tsl_status tslp_token_split(const uint8_t *z, size_t zlen, tslp_token_piece **out, size_t *n,
                            tsl_error *err)
{
    *out = NULL;
    *n = 0;
    size_t cap = zlen / TSLP_PIECE_MIN + 1;
    tslp_token_piece *p = tslp_calloc(cap, sizeof *p);
    if (p == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "out of memory for %zu pieces", cap);
    uint64_t gear[256];
    gear_table(gear);
    size_t k = 0, start = 0;
    while (start < zlen) {
        size_t end = zlen - start <= TSLP_PIECE_MAX ? zlen : start + TSLP_PIECE_MAX;
        size_t cut = end;
        if (end - start > TSLP_PIECE_MIN) {
            /* The hash at a position depends on the 64 bytes before it only: start
             * hashing 64 bytes before the first allowed cut. */
            uint64_t h = 0;
            for (size_t i = start + TSLP_PIECE_MIN - 64; i < end; i++) {
                h = (h << 1) + gear[z[i]];
                if (i + 1 >= start + TSLP_PIECE_MIN && (h >> 51) == 0) {
                    cut = i + 1;
                    break;
                }
            }
        }
        p[k].off = start;
        p[k].len = cut - start;
        tsl_status r = tslp_sha256(z + start, cut - start, p[k].digest);
        if (r != TSL_OK) {
            tslp_free(p);
            return r;
        }
        k++;
        start = cut;
    }
    *out = p;
    *n = k;
    return TSL_OK;
}
