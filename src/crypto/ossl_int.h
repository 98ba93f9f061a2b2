/* ossl_int.h - the OpenSSL side of the crypto seam: the structs behind tsl_key,
 * tsl_keyset and tsl_trust and the helpers that take OpenSSL types. Included only by
 * files in src/crypto (tests/check_layers.sh checks that nothing else includes OpenSSL),
 * so a second backend, or an HSM, changes this folder and nothing above it. */
#ifndef TSL_OSSL_INT_H
#define TSL_OSSL_INT_H

#include "crypto/crypto.h"

#include <openssl/evp.h>
#include <openssl/x509.h>

/* What a key is, after the checks done when it was loaded. */
typedef enum {
    TSLP_KTY_EC,      /* P-256, P-384 or P-521 (see crv) */
    TSLP_KTY_ED25519, /* OKP Ed25519 */
    TSLP_KTY_RSA,     /* at least 2048 bits */
    TSLP_KTY_OCT      /* an HMAC secret of at least 32 bytes */
} tslp_kty;

/* The curves, numbered as the ES algorithms: 256, 384 or 521 (0 for non-EC keys). */
struct tsl_key {
    int refs; /* tsl_key_free() and keysets share it; atomic */
    tslp_kty kty;
    int crv;         /* 256, 384, 521 for EC, else 0 */
    int is_private;  /* a private key or a secret */
    EVP_PKEY *pkey;  /* EC, Ed25519, RSA; NULL for oct */
    uint8_t *secret; /* oct: the secret (tslp_malloc, wiped on free) */
    size_t secret_len;
    char *kid;        /* NULL or a NUL-terminated UTF-8 string */
    tsl_alg jwk_alg;  /* the JWK's "alg": the only algorithm allowed, or UNKNOWN */
    tsl_alg hint_alg; /* the algorithm it was generated for (a default, not a pin) */
    X509 *cert;       /* the certificate it came from, or NULL */
    unsigned ops;     /* TSLP_OP_*: what the JWK's "use" and "key_ops" allow (both when
                       * it had neither, or the key is not from a JWK) */
    char use[24];     /* the JWK's "use" when it is not "sig" (printable, cut), for
                       * messages; "" otherwise */
};

struct tsl_keyset {
    tsl_key **keys; /* each holds one reference */
    size_t n, cap;
    size_t skipped;     /* JWKS members not added: unsupported, or not for verifying */
    char skip_why[160]; /* why the first of them was skipped */
};

struct tsl_trust {
    X509_STORE *store;
    size_t count; /* anchors added */
};

/* Wraps pkey (ownership passes, also on failure) into a new key after the checks every
 * key gets: the type and curve are ones we sign with (TSL_ERR_UNSUPPORTED otherwise),
 * RSA has 2048..16384 bits (TSL_ERR_KEY / TSL_ERR_UNSUPPORTED), and OpenSSL's own
 * validation passes (the point is on the curve; for a private key, the pair matches).
 * `what` prefixes messages ("pem", "jwk", "certificate"). */
tsl_status tslp_key_from_pkey(EVP_PKEY *pkey, int is_private, const char *what,
                              tsl_key **out, tsl_error *err);

/* Clears OpenSSL's error queue for this thread (after an expected failure). */
void tslp_ossl_clear(void);

#endif /* TSL_OSSL_INT_H */
