/* rand.c - the crypto seam's CSPRNG, AES-128 block and wiping calls, for code outside
 * src/crypto that needs them: the store draws permutation keys with
 * tslp_random_bytes(), the allocation permutation (store/perm.c) uses tslp_aes128 as
 * its round function, and both wipe keys with tslp_cleanse(). Only this file sees the
 * OpenSSL calls behind them, so a second crypto provider replaces it alone. */
#include "crypto/crypto.h"
#include "crypto/ossl_int.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <limits.h>
#include <string.h>

struct tslp_aes128 {
    EVP_CIPHER_CTX *ctx; /* AES-128-ECB, no padding: one block at a time */
};

tsl_status tslp_random_bytes(void *buf, size_t n, tsl_error *err)
{
    /* RAND_bytes takes an int; the callers ask for keys, never gigabytes, but a size
     * that does not fit is refused rather than truncated. */
    if (n > (size_t)INT_MAX)
        return tslp_fail(err, TSL_ERR_ARG, 0, "random: %zu bytes is too many", n);
    if (n == 0)
        return TSL_OK;
    if (RAND_bytes(buf, (int)n) != 1) {
        tslp_ossl_clear();
        return tslp_fail(err, TSL_ERR_CRYPTO, 0, "random: the CSPRNG failed");
    }
    return TSL_OK;
}

bool tslp_equal_ct(const void *a, const void *b, size_t n)
{
    return CRYPTO_memcmp(a, b, n) == 0;
}

void tslp_cleanse(void *p, size_t n)
{
    if (p != NULL && n > 0)
        OPENSSL_cleanse(p, n);
}

tsl_status tslp_aes128_new(const uint8_t key[TSLP_AES128_BYTES], tslp_aes128 **out,
                           tsl_error *err)
{
    *out = NULL;
    tslp_aes128 *c = tslp_calloc(1, sizeof *c);
    if (c == NULL || (c->ctx = EVP_CIPHER_CTX_new()) == NULL) {
        tslp_free(c);
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "AES-128: out of memory");
    }
    if (EVP_EncryptInit_ex(c->ctx, EVP_aes_128_ecb(), NULL, key, NULL) != 1 ||
        EVP_CIPHER_CTX_set_padding(c->ctx, 0) != 1) {
        tslp_aes128_free(c);
        tslp_ossl_clear();
        return tslp_fail(err, TSL_ERR_CRYPTO, 0, "AES-128 setup failed");
    }
    *out = c;
    return TSL_OK;
}

bool tslp_aes128_block(tslp_aes128 *c, const uint8_t in[TSLP_AES128_BYTES],
                       uint8_t out[TSLP_AES128_BYTES])
{
    /* ECB without padding: one full block in gives exactly one block out; the spare
     * room is what EVP_EncryptUpdate may write for a cipher with a block in flight. */
    uint8_t buf[2 * TSLP_AES128_BYTES];
    int outl = 0;
    if (EVP_EncryptUpdate(c->ctx, buf, &outl, in, TSLP_AES128_BYTES) != 1 ||
        outl != TSLP_AES128_BYTES)
        return false;
    memcpy(out, buf, TSLP_AES128_BYTES);
    return true;
}

void tslp_aes128_free(tslp_aes128 *c)
{
    if (c == NULL)
        return;
    EVP_CIPHER_CTX_free(c->ctx);
    tslp_free(c);
}
