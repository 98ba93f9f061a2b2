/* fuzz_token_pack.c - libFuzzer target for a recorded token's packed form
 * (src/store/token_pack.c), the bytes a token row keeps once its list is cut out: read
 * back from a store, they are input a damaged store can hand over.
 *
 * Input: bytes 0 and 1 (big-endian, at most what follows) are how many of the
 * following bytes are the packed ones; the others are the list's bytes; the digest is the
 * list's SHA-256, so that the unpack gets past the digest check and parses the packed
 * bytes. Oracles (abort() on violation):
 * - unpacking never crashes, and succeeds only with a NUL-terminated token;
 * - the token it gives, packed again around the same list (when the packed bytes were
 *   of kind 1, or of kind 2 with the list's base64url where a JWT's lst is), unpacks to
 *   the same bytes;
 * - packing the input as a JWT and as a CWT around any tail of it never crashes, and
 *   what it packs unpacks to the input exactly. */
#include "crypto/crypto.h"
#include "store/token_pack.h"
#include "tsl.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void roundtrip(tsl_format f, const uint8_t *tok, size_t len, const uint8_t *z,
                      size_t zlen)
{
    uint8_t *packed = NULL, digest[TSLP_TOKEN_DIGEST];
    size_t plen = 0;
    if (tslp_token_pack(f, tok, len, z, zlen, &packed, &plen, digest, NULL) != TSL_OK ||
        packed == NULL)
        return;
    uint8_t *out = NULL;
    size_t out_len = 0;
    if (tslp_token_unpack("f", "f", packed, plen, digest, sizeof digest, z, zlen, &out,
                          &out_len, NULL) != TSL_OK ||
        out_len != len || memcmp(out, tok, len) != 0 || out[out_len] != '\0')
        abort();
    tsl_free(out);
    tsl_free(packed);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t rest = size - 2, cut = (size_t)data[0] << 8 | data[1];
    if (cut > rest)
        cut = rest;
    const uint8_t *packed = data + 2, *z = data + 2 + cut;
    size_t plen = cut, zlen = rest - cut;
    uint8_t digest[TSLP_TOKEN_DIGEST];
    if (tslp_sha256(z, zlen, digest) != TSL_OK)
        return 0;
    uint8_t *out = NULL;
    size_t out_len = 0;
    if (tslp_token_unpack("f", "f", packed, plen, digest, sizeof digest, z, zlen, &out,
                          &out_len, NULL) == TSL_OK) {
        if (out == NULL || out[out_len] != '\0')
            abort();
        if (zlen > 0) {
            roundtrip(plen > 0 && packed[0] == 2 ? TSL_FORMAT_JWT : TSL_FORMAT_CWT, out,
                      out_len, z, zlen);
        }
        tsl_free(out);
    }
    /* The input as a token, its last zlen bytes (at most 64) as the list. */
    size_t tail = zlen < 64 ? zlen : 64;
    roundtrip(TSL_FORMAT_CWT, data, size, data + size - tail, tail);
    roundtrip(TSL_FORMAT_JWT, data, size, data + size - tail, tail);
    return 0;
}
