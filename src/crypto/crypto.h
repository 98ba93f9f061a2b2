/* crypto.h - the crypto seam: the internal calls the JWT, CWT, referenced-token and
 * store code signs, verifies, hashes and checks chains with. It names no OpenSSL type:
 * tsl_key, tsl_keyset and tsl_trust are opaque here, and their OpenSSL-typed insides
 * live in crypto/ossl_int.h, which only files in src/crypto include (t_cose's crypto
 * adapter idea, curl's vtls.h). tests/check_layers.sh keeps OpenSSL inside this folder.
 * Never installed. */
#ifndef TSL_CRYPTO_H
#define TSL_CRYPTO_H

#include "core/tsl_int.h"

/* ---- keys (key.c, jwk.c) ---- */

/* What a JWK's "use" and "key_ops" may allow (tslp_key_allows). */
#define TSLP_OP_SIGN 1u
#define TSLP_OP_VERIFY 2u


/* A new key with one reference, all fields empty. NULL when out of memory. */
tsl_key *tslp_key_new(void);

/* Parses one JWK from a jansson object (passed as void * so this header does not need
 * jansson.h). Used by tsl_key_from_jwk and tsl_keyset_add_jwks. */
tsl_status tslp_key_from_jwk_value(const void *obj, tsl_key **out, tsl_error *err);

/* The private JWK of an HMAC secret (jwk.c), for tsl_key_to_private (keyio.c). */
tsl_status tslp_oct_private_jwk(const tsl_key *key, char **out, tsl_error *err);

/* Reads the key blocks of a PEM text (key.c): the first one only (all 0) or every one.
 * Calls add(ctx, key) for each; add takes over the key. TSL_ERR_MALFORMED when there
 * is none. */
typedef tsl_status (*tslp_key_sink)(void *ctx, tsl_key *key, tsl_error *err);
tsl_status tslp_pem_keys(const char *pem, size_t len, int all, tslp_key_sink add,
                         void *ctx, tsl_error *err);

/* Every key block of a PEM text into a set (keyset.c); *any_private tells whether one
 * of them was private, for the file permission rule. */
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

/* ---- files and secrets (file.c) ---- */

/* Reads a key file of at most TSLP_KEY_FILE_MAX bytes into a tslp_malloc buffer (NUL
 * added, not counted). *st gets the file's stat. The caller wipes and frees it. Opens
 * without blocking and refuses (TSL_ERR_IO, saying what it is) anything that is not a
 * regular file: every key, certificate and trust file is read through here. */
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
 * skipped), for x5c/x5chain. TSL_ERR_MALFORMED if there is none or one is bad. The
 * public tsl_cert_chain is this struct: tslp_certs is its name inside the library,
 * where one may also live on the stack. */
struct tsl_cert_chain {
    size_t n;
    uint8_t **der; /* tslp_malloc each */
    size_t *len;
};
typedef struct tsl_cert_chain tslp_certs;
tsl_status tslp_certs_from_pem(const char *pem, size_t len, tslp_certs *out,
                               tsl_error *err);
tsl_status tslp_certs_load(const char *path, tslp_certs *out, tsl_error *err);
/* A deep copy of in into *out (which gets n 0 for a NULL or empty in). */
tsl_status tslp_certs_copy(const tslp_certs *in, tslp_certs *out, tsl_error *err);
/* Frees the members (not c itself) and zeroes them. */
void tslp_certs_free(tslp_certs *c);

/* ---- signers (signer.c) ---- */

/* The signer behind tsl_signer. Its fields are here rather than private to signer.c so
 * that tsl_token_sign can put one on the stack over a borrowed key, kid and chain
 * (tslp_signer_borrow_key): no allocation, no copy, the bytes as before. */
struct tsl_signer {
    const tsl_key *key; /* a key signer: tslp_sign directly (a reference when heap) */
    tsl_signer_ops ops; /* otherwise the callbacks */
    void *ctx;
    tsl_alg alg;
    const char *kid;            /* NULL, or owned_kid, or borrowed */
    const tsl_cert_chain *x5c;  /* NULL, or &owned_x5c, or borrowed */
    char *owned_kid;            /* tslp_malloc, or NULL when borrowed */
    tsl_cert_chain owned_x5c;   /* n == 0 when borrowed or absent */
    int heap;                   /* 1: from tsl_signer_new/_from_key (tsl_signer_free) */
};

/* Fills *s to sign with key (borrowed, as are kid and x5c: they must outlive s) under
 * alg, with no checks and no allocation; the caller has checked key and alg as
 * tsl_signer_from_key does. Nothing to free. */
void tslp_signer_borrow_key(tsl_signer *s, const tsl_key *key, tsl_alg alg,
                            const char *kid, const tsl_cert_chain *x5c);

/* ---- keysets (keyset.c) ---- */

/* Candidate keys of a set for a token: call with *cursor = 0 and repeat until NULL.
 * With kid non-NULL: first the keys with that exact kid, then the keys that have no
 * kid (trusted for any kid, as tsl_verify_opts.keys says); with kid NULL every key.
 * Keys that cannot be used with alg (tsl_key_check_alg) are skipped. */
const tsl_key *tslp_keyset_next(const tsl_keyset *set, const char *kid, tsl_alg alg,
                                size_t *cursor);

/* ---- helpers shared by the crypto files ---- */

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

/* Whether n bytes at a and b are equal, in a time that does not depend on where they
 * differ (CRYPTO_memcmp): for secrets and their hashes (store/apikey.c). */
bool tslp_equal_ct(const void *a, const void *b, size_t n);

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

/* The running OpenSSL library's version, "3.0.19" (static text). */
const char *tslp_crypto_version(void);

#endif /* TSL_CRYPTO_H */
