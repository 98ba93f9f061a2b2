/* keyio.c - a key in and out as a whole: tsl_key_load (a PEM or JWK file, by its first
 * character) and tsl_key_to_private (PKCS#8 PEM, or the JWK of an HMAC secret). It sits
 * above key.c and jwk.c so that neither has to call the other's format. */
#include "crypto/ossl_int.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <string.h>
#include <sys/stat.h>

tsl_status tsl_key_load(const char *path, tsl_key **out, tsl_error *err)
{
    if (path == NULL || out == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "key: NULL argument");
    char *buf = NULL;
    size_t len = 0;
    struct stat st;
    tsl_status s = tslp_read_key_file(path, &buf, &len, &st, err);
    if (s != TSL_OK)
        return s;
    tsl_key *k = NULL;
    if (tslp_looks_like_json(buf, len))
        s = tsl_key_from_jwk(buf, len, &k, err);
    else
        s = tsl_key_from_pem(buf, len, &k, err);
    tslp_free_secret(buf, len + 1);
    if (s != TSL_OK) {
        tslp_error_prefix(err, path);
        return s;
    }
    if (k->is_private && (s = tslp_check_private_mode(path, &st, err)) != TSL_OK) {
        tsl_key_free(k);
        return s;
    }
    *out = k;
    return TSL_OK;
}

tsl_status tsl_key_to_private(const tsl_key *key, char **out, tsl_error *err)
{
    if (key == NULL || out == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "key: NULL argument");
    if (!key->is_private)
        return tslp_fail(err, TSL_ERR_KEY, 0, "key: a public key has no private form");
    if (key->kty == TSLP_KTY_OCT)
        return tslp_oct_private_jwk(key, out, err);
    /* A secure-memory BIO: its buffer is wiped when freed. */
    BIO *b = BIO_new(BIO_s_secmem());
    if (b == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "key: out of memory");
    tsl_status st = TSL_OK;
    if (PEM_write_bio_PrivateKey(b, key->pkey, NULL, NULL, 0, NULL, NULL) != 1) {
        st = tslp_fail(err, TSL_ERR_CRYPTO, 0, "key: OpenSSL could not write the key");
    } else {
        char *p = NULL;
        long n = BIO_get_mem_data(b, &p);
        char *copy = n > 0 ? tslp_malloc((size_t)n + 1) : NULL;
        if (copy == NULL) {
            st = tslp_fail(err, TSL_ERR_NOMEM, 0, "key: out of memory");
        } else {
            memcpy(copy, p, (size_t)n);
            copy[n] = '\0';
            *out = copy;
        }
    }
    ERR_clear_error();
    BIO_free(b);
    return st;
}
