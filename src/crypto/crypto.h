/* crypto.h - the crypto seam: the structs behind tsl_key, tsl_keyset and tsl_trust, and
 * the internal calls the JWT and CWT code signs, verifies and checks chains with. Only
 * alg.c, key.c, jwk.c, keyset.c, trust.c and sign.c include OpenSSL; everything else
 * goes through the functions below (t_cose's crypto adapter idea). Never installed. */
#ifndef TSL_CRYPTO_H
#define TSL_CRYPTO_H

#include "core/tsl_int.h"

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

#define TSLP_OP_SIGN 1u
#define TSLP_OP_VERIFY 2u

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

/* ---- keys (key.c, jwk.c) ---- */

/* A new key with one reference, all fields empty. NULL when out of memory. */
tsl_key *tslp_key_new(void);

/* Wraps pkey (ownership passes, also on failure) into a new key after the checks every
 * key gets: the type and curve are ones we sign with (TSL_ERR_UNSUPPORTED otherwise),
 * RSA has 2048..16384 bits (TSL_ERR_KEY / TSL_ERR_UNSUPPORTED), and OpenSSL's own
 * validation passes (the point is on the curve; for a private key, the pair matches).
 * `what` prefixes messages ("pem", "jwk", "certificate"). */
tsl_status tslp_key_from_pkey(EVP_PKEY *pkey, int is_private, const char *what,
                              tsl_key **out, tsl_error *err);

/* Parses one JWK from a jansson object (passed as void * so this header does not need
 * jansson.h). Used by tsl_key_from_jwk and tsl_keyset_add_jwks. */
tsl_status tslp_key_from_jwk_value(const void *obj, tsl_key **out, tsl_error *err);

/* The private JWK of an HMAC secret (jwk.c), for tsl_key_to_private. */
tsl_status tslp_oct_private_jwk(const tsl_key *key, char **out, tsl_error *err);

/* Every key block of a PEM text into a set (key.c); *any_private tells whether one of
 * them was private, for the file permission rule. */
tsl_status tslp_keyset_add_pem(tsl_keyset *set, const char *pem, size_t len,
                               int *any_private, tsl_error *err);

/* Wipes the private members ("d", "p", "q", "dp", "dq", "qi", "k") of a parsed JWK or
 * of every key of a JWKS, in jansson's memory, before it is freed. */
void tslp_jwk_wipe(void *value);

/* Adds a reference and returns key. */
tsl_key *tslp_key_ref(tsl_key *key);

/* TSL_OK if key may be used for op (TSLP_OP_SIGN or TSLP_OP_VERIFY) by its JWK's "use"
 * and "key_ops" (RFC 7517 sections 4.2, 4.3); else TSL_ERR_KEY saying which member
 * forbids it. op 0 asks whether it may be used for signatures at all. */
tsl_status tslp_key_allows(const tsl_key *key, unsigned op, tsl_error *err);

/* Reads a key file of at most TSLP_KEY_FILE_MAX bytes into a tslp_malloc buffer (NUL
 * added, not counted). *st gets the file's stat. The caller wipes and frees it. Opens
 * without blocking and refuses (TSL_ERR_IO, saying what it is) anything that is not a
 * regular file: every key, certificate and trust file is read through here. */
#define TSLP_KEY_FILE_MAX ((size_t)16 << 20)
struct stat;
tsl_status tslp_read_key_file(const char *path, char **buf, size_t *len, struct stat *st,
                              tsl_error *err);

/* The permission rule for a file that held private material: a regular file with no
 * group or other bits (TSL_ERR_KEY naming the mode otherwise). */
tsl_status tslp_check_private_mode(const char *path, const struct stat *st,
                                   tsl_error *err);

/* True when text (after white space) starts with '{': JSON rather than PEM. */
int tslp_looks_like_json(const char *text, size_t len);

/* Wipes and frees n bytes from tslp_malloc. NULL is fine. */
void tslp_free_secret(void *p, size_t n);

/* ---- signing (sign.c) ---- */

/* Signs msg with key under alg. ECDSA signatures come out raw r||s (fixed width:
 * 64/96/132), EdDSA 64 bytes, RSA modulus-size, HS256 32 bytes. Free *sig with
 * tslp_free. TSL_ERR_KEY for a public key or one that does not fit alg. */
tsl_status tslp_sign(const tsl_key *key, tsl_alg alg, const uint8_t *msg, size_t len,
                     uint8_t **sig, size_t *sig_len, tsl_error *err);

/* TSL_OK or TSL_ERR_SIGNATURE (wrong length, bad signature, MAC mismatch compared with
 * CRYPTO_memcmp), TSL_ERR_KEY (key type/curve does not match alg), TSL_ERR_ALG.
 * Converts raw r||s to DER for OpenSSL with exact length checks; rejects r or s of 0
 * or >= n. */
tsl_status tslp_verify(const tsl_key *key, tsl_alg alg, const uint8_t *msg, size_t len,
                       const uint8_t *sig, size_t sig_len, tsl_error *err);

/* SHA-256 of in. TSL_ERR_CRYPTO if OpenSSL fails. */
tsl_status tslp_sha256(const uint8_t *in, size_t len, uint8_t out[32]);

/* SHA-256, SHA-384 or SHA-512 (bits 256, 384, 512) of in into out (bits / 8 bytes).
 * TSL_ERR_ARG for other sizes, TSL_ERR_CRYPTO if OpenSSL fails. */
tsl_status tslp_sha2(unsigned bits, const uint8_t *in, size_t len, uint8_t *out);

/* ---- trust (trust.c) ---- */

/* Verifies a chain given leaf first as DER certificates against the trust anchors at
 * time `now` (unix seconds), optionally requiring the EKU OID (dotted text) in the
 * leaf; on success *leaf is a new public key from the leaf certificate (which it
 * keeps). Any anchor is a trust anchor (X509_V_FLAG_PARTIAL_CHAIN), so an intermediate
 * CA can be pinned. Failures: TSL_ERR_TRUST with OpenSSL's reason text ("certificate
 * has expired", "unable to get local issuer certificate", "leaf lacks EKU
 * 1.3.6.1.5.5.7.3.99"), TSL_ERR_MALFORMED for bad DER, TSL_ERR_ARG for n == 0 or a bad
 * OID. */
tsl_status tslp_chain_verify(const tsl_trust *trust, const uint8_t *const *der,
                             const size_t *der_len, size_t n, int64_t now,
                             const char *eku_oid, tsl_key **leaf, tsl_error *err);

/* DER certificates from PEM text (all CERTIFICATE blocks, in order; other blocks are
 * skipped), for x5c/x5chain. TSL_ERR_MALFORMED if there is none or one is bad. */
typedef struct {
    size_t n;
    uint8_t **der;
    size_t *len;
} tslp_certs;
tsl_status tslp_certs_from_pem(const char *pem, size_t len, tslp_certs *out,
                               tsl_error *err);
tsl_status tslp_certs_load(const char *path, tslp_certs *out, tsl_error *err);
void tslp_certs_free(tslp_certs *c);

/* ---- keysets (keyset.c) ---- */

/* Candidate keys of a set for a token: call with *cursor = 0 and repeat until NULL.
 * With kid non-NULL: first the keys with that exact kid, then the keys that have no
 * kid (trusted for any kid, as tsl_verify_opts.keys says); with kid NULL every key.
 * Keys that cannot be used with alg (tsl_key_check_alg) are skipped. */
const tsl_key *tslp_keyset_next(const tsl_keyset *set, const char *kid, tsl_alg alg,
                                size_t *cursor);

/* ---- helpers shared by the crypto files ---- */

/* Clears OpenSSL's error queue for this thread (after an expected failure). */
void tslp_ossl_clear(void);

/* Iterates over the PEM blocks of a memory BIO-free text: on TSL_OK *name (the label),
 * *data and *dlen are set (free with tslp_pem_block_free); *done = 1 when there are no
 * more blocks. *encrypted = 1 when the block has RFC 1421 "Proc-Type: 4,ENCRYPTED". */
typedef struct {
    void *bio; /* BIO * */
} tslp_pem_reader;
tsl_status tslp_pem_open(tslp_pem_reader *r, const char *pem, size_t len, tsl_error *err);
tsl_status tslp_pem_next(tslp_pem_reader *r, char **name, uint8_t **data, size_t *dlen,
                         int *encrypted, int *done, tsl_error *err);
void tslp_pem_block_free(char *name, uint8_t *data, size_t dlen);
void tslp_pem_close(tslp_pem_reader *r);

/* ---- randomness, a block cipher and wiping for code outside src/crypto (rand.c) ---- */

/* n bytes from the CSPRNG. TSL_ERR_CRYPTO if it fails (nothing is written then that
 * may be used). */
tsl_status tslp_random_bytes(void *buf, size_t n, tsl_error *err);

/* Overwrites n bytes in a way the compiler does not remove (keys before free). */
void tslp_cleanse(void *p, size_t n);

/* AES-128 on single blocks (the keyed permutation's round function, store/perm.c). The
 * context is opaque so that no OpenSSL type leaves this folder. */
#define TSLP_AES128_BYTES 16
typedef struct tslp_aes128 tslp_aes128;
tsl_status tslp_aes128_new(const uint8_t key[TSLP_AES128_BYTES], tslp_aes128 **out,
                           tsl_error *err);
/* out = AES_key(in); false if the cipher failed. */
bool tslp_aes128_block(tslp_aes128 *c, const uint8_t in[TSLP_AES128_BYTES],
                       uint8_t out[TSLP_AES128_BYTES]);
void tslp_aes128_free(tslp_aes128 *c);

#endif /* TSL_CRYPTO_H */
