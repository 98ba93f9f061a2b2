/* fuzz_jwk.c - libFuzzer target for key parsing: the input is tried as one JWK
 * (tsl_key_from_jwk), as a JWKS (tsl_keyset_add_jwks) and as PEM (tsl_key_from_pem).
 *
 * Oracles, each an abort: a failure that does not record its own code and a
 * NUL-terminated message in tsl_error, TSL_ERR_ARG (the arguments are always valid),
 * *out set on failure; for a key that loads: a thumbprint that is not 43 base64url
 * characters, a public JWK (or, for a secret, the private JWK) that does not load back
 * with the same thumbprint, a key that does not accept its own default algorithm, and
 * for a private key, a signature under that algorithm that does not verify. */
#include "fuzz_common.h"
#include "crypto/ossl_int.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t data_msg[] = "eyJhbGciOiJFUzI1NiJ9.e30";

static void check_key(const tsl_key *k)
{
    char *t1 = NULL, *t2 = NULL, *text = NULL;
    tsl_key *back = NULL;
    tsl_status st = tsl_key_thumbprint(k, &t1, NULL);
    if (st == TSL_ERR_NOMEM)
        return;
    if (st != TSL_OK || strlen(t1) != 43)
        abort();
    st = k->kty == TSLP_KTY_OCT ? tsl_key_to_private(k, &text, NULL)
                                : tsl_key_to_public_jwk(k, &text, NULL);
    if (st == TSL_OK) {
        st = tsl_key_from_jwk(text, strlen(text), &back, NULL);
        if (st != TSL_OK && st != TSL_ERR_NOMEM)
            abort(); /* what we wrote, we must read back */
        if (st == TSL_OK && (tsl_key_thumbprint(back, &t2, NULL) == TSL_OK) &&
            strcmp(t1, t2) != 0)
            abort();
    } else if (st != TSL_ERR_NOMEM) {
        abort();
    }
    tsl_alg alg = tsl_key_default_alg(k);
    if (tsl_key_check_alg(k, alg, NULL) != TSL_OK)
        abort();
    if (tsl_key_is_private(k)) {
        uint8_t *sig = NULL;
        size_t slen = 0;
        st = tslp_sign(k, alg, data_msg, sizeof data_msg - 1, &sig, &slen, NULL);
        if (st == TSL_OK &&
            tslp_verify(k, alg, data_msg, sizeof data_msg - 1, sig, slen, NULL) != TSL_OK)
            abort();
        tslp_free(sig);
    }
    if (text != NULL)
        OPENSSL_cleanse(text, strlen(text));
    tsl_free(text);
    tsl_free(t1);
    tsl_free(t2);
    tsl_key_free(back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    tsl_error err;
    tsl_key *k = NULL;

    tsl_error_clear(&err);
    tsl_status st = tsl_key_from_jwk(text, size, &k, &err);
    if (st == TSL_OK) {
        check_key(k);
        tsl_key_free(k);
    } else {
        fuzz_check_failure(st, &err);
        if (k != NULL)
            abort();
    }

    tsl_keyset *set = NULL;
    if (tsl_keyset_new(&set, NULL) == TSL_OK) {
        tsl_error_clear(&err);
        st = tsl_keyset_add_jwks(set, text, size, &err);
        if (st != TSL_OK) {
            fuzz_check_failure(st, &err);
            if (tsl_keyset_count(set) != 0)
                abort(); /* all or nothing */
        }
        for (size_t i = 0; i < tsl_keyset_count(set); i++)
            check_key(tsl_keyset_get(set, i));
        tsl_keyset_free(set);
    }

    k = NULL;
    tsl_error_clear(&err);
    st = tsl_key_from_pem(text, size, &k, &err);
    if (st == TSL_OK) {
        check_key(k);
        tsl_key_free(k);
    } else {
        fuzz_check_failure(st, &err);
        if (k != NULL)
            abort();
    }
    return 0;
}
