/* key.c - tsl_key: what a key is, how it is checked, decoded from PEM and generated.
 * PEM (PKCS#8, SEC1, PKCS#1, SPKI, certificates) is decoded with OSSL_DECODER;
 * generation uses OpenSSL's CSPRNG. JWK text lives in jwk.c, key files in keyio.c and
 * file.c, sets in keyset.c: this file calls only pem.c and file.c among them. Every accepted key passes the same gate, tslp_key_from_pkey(): a
 * type and curve we sign with, RSA of 2048 bits or more, and OpenSSL's validation. */
#include "crypto/ossl_int.h"

#include <limits.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <string.h>
#include <sys/stat.h>

/* HS256 secrets we generate, and the shortest one we accept (RFC 7518 section 3.2). */
#define HS256_KEY_BYTES 32
#define RSA_GEN_BITS 3072

tsl_key *tslp_key_new(void)
{
    tsl_key *k = tslp_calloc(1, sizeof *k);
    if (k == NULL)
        return NULL;
    k->refs = 1;
    k->jwk_alg = TSL_ALG_UNKNOWN;
    k->hint_alg = TSL_ALG_UNKNOWN;
    k->ops = TSLP_OP_SIGN | TSLP_OP_VERIFY;
    return k;
}

tsl_status tslp_key_allows(const tsl_key *key, unsigned op, tsl_error *err)
{
    if (op == 0 ? key->ops != 0 : (key->ops & op) == op)
        return TSL_OK;
    if (key->use[0] != '\0')
        return tslp_fail(err, TSL_ERR_KEY, 0,
                         "key: its JWK \"use\" is \"%s\", not \"sig\": it is not a "
                         "signature key",
                         key->use);
    if (op == 0)
        return tslp_fail(err, TSL_ERR_KEY, 0,
                         "key: its JWK \"key_ops\" lists neither \"sign\" nor \"verify\"");
    return tslp_fail(err, TSL_ERR_KEY, 0, "key: its JWK \"key_ops\" does not list \"%s\"",
                     op == TSLP_OP_VERIFY ? "verify" : "sign");
}

tsl_key *tslp_key_ref(tsl_key *key)
{
    __atomic_add_fetch(&key->refs, 1, __ATOMIC_RELAXED);
    return key;
}

void tsl_key_free(tsl_key *key)
{
    if (key == NULL)
        return;
    if (__atomic_sub_fetch(&key->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    EVP_PKEY_free(key->pkey); /* OpenSSL wipes private key material itself */
    tslp_free_secret(key->secret, key->secret_len);
    tslp_free(key->kid);
    X509_free(key->cert);
    tslp_free(key);
}

int tsl_key_is_private(const tsl_key *key)
{
    return key != NULL && key->is_private;
}

const char *tsl_key_kid(const tsl_key *key)
{
    return key != NULL ? key->kid : NULL;
}

/* Well-formed UTF-8 (no overlongs, no surrogates, at most U+10FFFF), so that a kid
 * can always be written into JSON. */
static int utf8_ok(const unsigned char *s)
{
    while (*s) {
        unsigned c = *s;
        size_t n;
        unsigned min;
        if (c < 0x80) {
            s++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            n = 1, min = 0x80, c &= 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            n = 2, min = 0x800, c &= 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            n = 3, min = 0x10000, c &= 0x07;
        } else {
            return 0;
        }
        for (size_t i = 1; i <= n; i++) {
            if ((s[i] & 0xC0) != 0x80)
                return 0;
            c = c << 6 | (s[i] & 0x3F);
        }
        if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
            return 0;
        s += n + 1;
    }
    return 1;
}

tsl_status tsl_key_set_kid(tsl_key *key, const char *kid, tsl_error *err)
{
    if (key == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "key: NULL key");
    char *copy = NULL;
    if (kid != NULL) {
        if (!utf8_ok((const unsigned char *)kid))
            return tslp_fail(err, TSL_ERR_ARG, 0, "key: kid is not UTF-8");
        size_t n = strlen(kid);
        copy = tslp_malloc(n + 1);
        if (copy == NULL)
            return tslp_fail(err, TSL_ERR_NOMEM, 0, "key: out of memory for the kid");
        memcpy(copy, kid, n + 1);
    }
    tslp_free(key->kid);
    key->kid = copy;
    return TSL_OK;
}

tsl_alg tsl_key_default_alg(const tsl_key *key)
{
    if (key == NULL)
        return TSL_ALG_UNKNOWN;
    if (key->jwk_alg != TSL_ALG_UNKNOWN)
        return key->jwk_alg;
    if (key->hint_alg != TSL_ALG_UNKNOWN)
        return key->hint_alg;
    switch (key->kty) {
    case TSLP_KTY_EC:
        return key->crv == 256   ? TSL_ALG_ES256
               : key->crv == 384 ? TSL_ALG_ES384
                                 : TSL_ALG_ES512;
    case TSLP_KTY_ED25519: return TSL_ALG_EDDSA;
    case TSLP_KTY_RSA: return TSL_ALG_PS256;
    case TSLP_KTY_OCT: return TSL_ALG_HS256;
    }
    return TSL_ALG_UNKNOWN;
}

/* "an EC P-256 key" and so on, for messages. */
static void describe(const tsl_key *key, char *buf, size_t n)
{
    switch (key->kty) {
    case TSLP_KTY_EC: snprintf(buf, n, "an EC P-%d key", key->crv); break;
    case TSLP_KTY_ED25519: snprintf(buf, n, "an Ed25519 key"); break;
    case TSLP_KTY_RSA:
        snprintf(buf, n, "an RSA %d-bit key", EVP_PKEY_get_bits(key->pkey));
        break;
    case TSLP_KTY_OCT: snprintf(buf, n, "an HMAC secret"); break;
    }
}

tsl_status tsl_key_check_alg(const tsl_key *key, tsl_alg alg, tsl_error *err)
{
    if (key == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "key: NULL key");
    const char *name = tsl_alg_name(alg);
    if (name == NULL)
        return tslp_fail(err, TSL_ERR_ALG, 0, "algorithm %d is not one we support",
                         (int)alg);
    /* A JWK marked for encryption ("use":"enc", or "key_ops" without "sign" or
     * "verify") is used with no signature algorithm at all. */
    tsl_status ust = tslp_key_allows(key, 0, err);
    if (ust != TSL_OK)
        return ust;
    int ok;
    switch (alg) {
    case TSL_ALG_ES256: ok = key->kty == TSLP_KTY_EC && key->crv == 256; break;
    case TSL_ALG_ES384: ok = key->kty == TSLP_KTY_EC && key->crv == 384; break;
    case TSL_ALG_ES512: ok = key->kty == TSLP_KTY_EC && key->crv == 521; break;
    case TSL_ALG_EDDSA: ok = key->kty == TSLP_KTY_ED25519; break;
    case TSL_ALG_HS256: ok = key->kty == TSLP_KTY_OCT; break;
    default: ok = key->kty == TSLP_KTY_RSA; break; /* RS* and PS* */
    }
    char what[48];
    describe(key, what, sizeof what);
    if (!ok)
        return tslp_fail(err, TSL_ERR_KEY, 0, "key: %s cannot be used with %s", what,
                         name);
    if (key->jwk_alg != TSL_ALG_UNKNOWN && key->jwk_alg != alg)
        return tslp_fail(err, TSL_ERR_KEY, 0,
                         "key: %s is pinned to %s by its JWK \"alg\", not %s", what,
                         tsl_alg_name(key->jwk_alg), name);
    return TSL_OK;
}

/* The curve of an EC key as 256, 384 or 521, or 0 for any other curve. */
static int ec_curve(EVP_PKEY *pkey)
{
    char name[64];
    if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, name,
                                       sizeof name, NULL) != 1)
        return 0;
    switch (OBJ_txt2nid(name)) {
    case NID_X9_62_prime256v1: return 256;
    case NID_secp384r1: return 384;
    case NID_secp521r1: return 521;
    default: return 0;
    }
}

/* n odd; e odd, at least 3 and at most 64 bits (OpenSSL's own cap for large n). */
static int rsa_public_ok(EVP_PKEY *pkey)
{
    BIGNUM *n = NULL, *e = NULL;
    int ok = EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, &n) == 1 &&
             EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &e) == 1 &&
             BN_is_odd(n) && BN_is_odd(e) && !BN_is_one(e) && BN_num_bits(e) <= 64;
    BN_free(n);
    BN_free(e);
    return ok;
}

/* Pairwise consistency test: a PKCS#1 v1.5 signature over a fixed text verifies. */
static int rsa_pct(EVP_PKEY *pkey)
{
    static const unsigned char msg[] = "tsl RSA pairwise consistency test";
    unsigned char sig[TSLP_RSA_MAX_BITS / 8];
    size_t slen = sizeof sig;
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    int ok = m != NULL &&
             EVP_DigestSignInit_ex(m, NULL, "SHA256", NULL, NULL, pkey, NULL) == 1 &&
             EVP_DigestSign(m, sig, &slen, msg, sizeof msg - 1) == 1;
    EVP_MD_CTX_free(m);
    m = ok ? EVP_MD_CTX_new() : NULL;
    ok = m != NULL &&
         EVP_DigestVerifyInit_ex(m, NULL, "SHA256", NULL, NULL, pkey, NULL) == 1 &&
         EVP_DigestVerify(m, sig, slen, msg, sizeof msg - 1) == 1;
    EVP_MD_CTX_free(m);
    return ok;
}

tsl_status tslp_key_from_pkey(EVP_PKEY *pkey, int is_private, const char *what,
                              tsl_key **out, tsl_error *err)
{
    tsl_status st = TSL_OK;
    tslp_kty kty = TSLP_KTY_EC;
    int crv = 0;
    if (EVP_PKEY_is_a(pkey, "EC")) {
        crv = ec_curve(pkey);
        if (crv == 0)
            st = tslp_fail(err, TSL_ERR_UNSUPPORTED, 0,
                           "%s: EC key on a curve other than P-256, P-384, P-521", what);
    } else if (EVP_PKEY_is_a(pkey, "ED25519")) {
        kty = TSLP_KTY_ED25519;
    } else if (EVP_PKEY_is_a(pkey, "RSA")) {
        kty = TSLP_KTY_RSA;
        int bits = EVP_PKEY_get_bits(pkey);
        if (bits < TSLP_RSA_MIN_BITS)
            st = tslp_fail(err, TSL_ERR_KEY, 0,
                           "%s: RSA key of %d bits; at least %d are required", what, bits,
                           TSLP_RSA_MIN_BITS);
        else if (bits > TSLP_RSA_MAX_BITS)
            st = tslp_fail(err, TSL_ERR_UNSUPPORTED, 0,
                           "%s: RSA key of %d bits; at most %d are supported", what, bits,
                           TSLP_RSA_MAX_BITS);
    } else {
        const char *tn = EVP_PKEY_get0_type_name(pkey);
        st = tslp_fail(err, TSL_ERR_UNSUPPORTED, 0, "%s: %s keys are not supported", what,
                       tn != NULL ? tn : "such");
    }
    if (st == TSL_OK) {
        /* OpenSSL's validation: the point is on the curve and not the identity; for a
         * private key, the private half matches the public half (for RSA also the
         * primes and CRT values). */
        EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
        if (c == NULL) {
            st = tslp_fail(err, TSL_ERR_NOMEM, 0, "%s: out of memory", what);
        } else {
            int ok;
            if (kty == TSLP_KTY_RSA)
                /* Not OpenSSL's RSA checks: its public check runs a Miller-Rabin test
                 * with random bases on n, so a crafted modulus is accepted one time
                 * and refused the next; its pairwise check tests p and q for primality
                 * (0.1 s at 3072 bits). Ours are deterministic; a sign-and-verify test
                 * finds a d that does not match n and e, and OpenSSL checks every CRT
                 * result against e itself when signing. */
                ok = rsa_public_ok(pkey) &&
                     (!is_private || (EVP_PKEY_private_check(c) == 1 && rsa_pct(pkey)));
            else if (!is_private && kty == TSLP_KTY_EC)
                /* SP 800-56A partial validation: not the identity, coordinates below
                 * p, on the curve. The full check adds n * Q == O, a scalar
                 * multiplication costing about two thirds of an ES256 verify, which
                 * proves nothing here: P-256, P-384 and P-521 have cofactor 1, so
                 * every other point on them has order n. It matters because an
                 * SD-JWT's cnf.jwk is parsed at every presentation. */
                ok = EVP_PKEY_public_check_quick(c);
            else if (!is_private)
                ok = EVP_PKEY_public_check(c);
            else
                ok = EVP_PKEY_check(c);
            EVP_PKEY_CTX_free(c);
            if (ok != 1)
                st = tslp_fail(err, TSL_ERR_KEY, 0, "%s: %s key fails validation%s", what,
                               is_private ? "private" : "public",
                               kty == TSLP_KTY_EC    ? " (point not on the curve, or the "
                                                       "private key does not match it)"
                               : kty == TSLP_KTY_RSA ? " (n even, e not odd in 3..2^64, "
                                                       "or d does not match)"
                                                     : "");
        }
    }
    tsl_key *k = NULL;
    if (st == TSL_OK && (k = tslp_key_new()) == NULL)
        st = tslp_fail(err, TSL_ERR_NOMEM, 0, "%s: out of memory", what);
    if (st != TSL_OK) {
        ERR_clear_error();
        EVP_PKEY_free(pkey);
        return st;
    }
    k->kty = kty;
    k->crv = crv;
    k->is_private = is_private != 0;
    k->pkey = pkey;
    *out = k;
    return TSL_OK;
}

/* One DER key through OSSL_DECODER; structure and keytype as OpenSSL names them. */
static tsl_status decode_der(const uint8_t *der, size_t len, const char *structure,
                             const char *keytype, int is_private, const char *label,
                             tsl_key **out, tsl_error *err)
{
    EVP_PKEY *pkey = NULL;
    int selection = is_private ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY;
    OSSL_DECODER_CTX *dc = OSSL_DECODER_CTX_new_for_pkey(&pkey, "DER", structure, keytype,
                                                         selection, NULL, NULL);
    if (dc == NULL) {
        ERR_clear_error();
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "pem: out of memory");
    }
    const unsigned char *p = der;
    size_t left = len;
    int ok = OSSL_DECODER_from_data(dc, &p, &left);
    OSSL_DECODER_CTX_free(dc);
    if (ok != 1 || pkey == NULL) {
        ERR_clear_error();
        EVP_PKEY_free(pkey);
        return tslp_fail(err, TSL_ERR_MALFORMED, 0,
                         "pem: \"%s\" block is not a valid or supported key", label);
    }
    if (left != 0) {
        EVP_PKEY_free(pkey);
        return tslp_fail(err, TSL_ERR_MALFORMED, 0,
                         "pem: %zu bytes after the key in the \"%s\" block", left, label);
    }
    return tslp_key_from_pkey(pkey, is_private, "pem", out, err);
}

static tsl_status decode_cert(const uint8_t *der, size_t len, tsl_key **out,
                              tsl_error *err)
{
    const unsigned char *p = der;
    X509 *x = len <= (size_t)LONG_MAX ? d2i_X509(NULL, &p, (long)len) : NULL;
    if (x == NULL || (size_t)(p - der) != len) {
        X509_free(x);
        ERR_clear_error();
        return tslp_fail(err, TSL_ERR_MALFORMED, 0, "pem: bad DER certificate");
    }
    EVP_PKEY *pkey = X509_get_pubkey(x);
    if (pkey == NULL) {
        X509_free(x);
        ERR_clear_error();
        return tslp_fail(err, TSL_ERR_UNSUPPORTED, 0,
                         "certificate: public key of an unsupported type");
    }
    tsl_status st = tslp_key_from_pkey(pkey, 0, "certificate", out, err);
    if (st != TSL_OK) {
        X509_free(x);
        return st;
    }
    (*out)->cert = x;
    return TSL_OK;
}

/* Decodes one PEM block into a key, by its label. *skip = 1 for a block to pass over
 * ("EC PARAMETERS", which `openssl ecparam -genkey` writes before the key). */
static tsl_status decode_block(const char *name, const uint8_t *data, size_t dlen,
                               int encrypted, int *skip, tsl_key **out, tsl_error *err)
{
    static const struct {
        const char *label, *structure, *keytype;
        int is_private;
    } kinds[] = {
        {"PRIVATE KEY", "PrivateKeyInfo", NULL, 1},
        {"EC PRIVATE KEY", "type-specific", "EC", 1},
        {"RSA PRIVATE KEY", "type-specific", "RSA", 1},
        {"PUBLIC KEY", "SubjectPublicKeyInfo", NULL, 0},
        {"RSA PUBLIC KEY", "type-specific", "RSA", 0},
    };
    *skip = 0;
    if (strcmp(name, "EC PARAMETERS") == 0) {
        *skip = 1;
        return TSL_OK;
    }
    if (encrypted || strcmp(name, "ENCRYPTED PRIVATE KEY") == 0)
        return tslp_fail(err, TSL_ERR_UNSUPPORTED, 0,
                         "pem: encrypted private keys are not supported");
    if (strcmp(name, "CERTIFICATE") == 0)
        return decode_cert(data, dlen, out, err);
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcmp(name, kinds[i].label) == 0)
            return decode_der(data, dlen, kinds[i].structure, kinds[i].keytype,
                              kinds[i].is_private, kinds[i].label, out, err);
    return tslp_fail(err, TSL_ERR_UNSUPPORTED, 0,
                     "pem: a \"%.40s\" block is not a key or certificate", name);
}

tsl_status tslp_pem_keys(const char *pem, size_t len, int all, tslp_key_sink add,
                         void *ctx, tsl_error *err)
{
    tslp_pem_reader r;
    tsl_status st = tslp_pem_open(&r, pem, len, err);
    if (st != TSL_OK)
        return st;
    size_t found = 0;
    for (;;) {
        char *name = NULL;
        uint8_t *data = NULL;
        size_t dlen = 0;
        int enc, done, skip;
        st = tslp_pem_next(&r, &name, &data, &dlen, &enc, &done, err);
        if (st != TSL_OK || done)
            break;
        tsl_key *k = NULL;
        st = decode_block(name, data, dlen, enc, &skip, &k, err);
        tslp_pem_block_free(name, data, dlen);
        if (st == TSL_OK && !skip) {
            found++;
            st = add(ctx, k, err);
        }
        if (st != TSL_OK || (found > 0 && !all))
            break;
    }
    tslp_pem_close(&r);
    if (st == TSL_OK && found == 0)
        st = tslp_fail(err, TSL_ERR_MALFORMED, 0, "pem: no PEM key or certificate found");
    return st;
}

static tsl_status add_one(void *ctx, tsl_key *key, tsl_error *err)
{
    (void)err;
    *(tsl_key **)ctx = key;
    return TSL_OK;
}

tsl_status tsl_key_from_pem(const char *pem, size_t len, tsl_key **out, tsl_error *err)
{
    if (out == NULL || (pem == NULL && len > 0))
        return tslp_fail(err, TSL_ERR_ARG, 0, "pem: NULL argument");
    tsl_key *k = NULL;
    tsl_status st = tslp_pem_keys(pem, len, 0, add_one, &k, err);
    if (st != TSL_OK) {
        tsl_key_free(k);
        return st;
    }
    *out = k;
    return TSL_OK;
}

tsl_status tsl_key_generate(tsl_alg alg, tsl_key **out, tsl_error *err)
{
    if (out == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "keygen: NULL argument");
    const char *name = tsl_alg_name(alg);
    if (name == NULL)
        return tslp_fail(err, TSL_ERR_ALG, 0, "keygen: algorithm %d is not supported",
                         (int)alg);
    tsl_key *k = tslp_key_new();
    if (k == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "keygen: out of memory");
    k->is_private = 1;
    k->hint_alg = alg;
    EVP_PKEY *pkey = NULL;
    switch (alg) {
    case TSL_ALG_ES256:
    case TSL_ALG_ES384:
    case TSL_ALG_ES512:
        k->kty = TSLP_KTY_EC;
        k->crv = alg == TSL_ALG_ES256 ? 256 : alg == TSL_ALG_ES384 ? 384 : 521;
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC",
                                 k->crv == 256   ? "P-256"
                                 : k->crv == 384 ? "P-384"
                                                 : "P-521");
        break;
    case TSL_ALG_EDDSA:
        k->kty = TSLP_KTY_ED25519;
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
        break;
    case TSL_ALG_HS256:
        k->kty = TSLP_KTY_OCT;
        k->secret = tslp_malloc(HS256_KEY_BYTES);
        if (k->secret == NULL) {
            tsl_key_free(k);
            return tslp_fail(err, TSL_ERR_NOMEM, 0, "keygen: out of memory");
        }
        k->secret_len = HS256_KEY_BYTES;
        if (RAND_bytes(k->secret, HS256_KEY_BYTES) != 1) {
            ERR_clear_error();
            tsl_key_free(k);
            return tslp_fail(err, TSL_ERR_CRYPTO, 0, "keygen: the CSPRNG failed");
        }
        *out = k;
        return TSL_OK;
    default:
        k->kty = TSLP_KTY_RSA;
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)RSA_GEN_BITS);
        break;
    }
    if (pkey == NULL) {
        ERR_clear_error();
        tsl_key_free(k);
        return tslp_fail(err, TSL_ERR_CRYPTO, 0,
                         "keygen: OpenSSL failed to make a %s key", name);
    }
    k->pkey = pkey;
    *out = k;
    return TSL_OK;
}
