/* sign.c - signing and verifying for JWS and COSE: ECDSA (raw r||s on the wire, DER
 * inside OpenSSL, converted here with exact length checks as t_cose does), Ed25519,
 * RSASSA-PKCS1-v1_5, RSASSA-PSS (salt length = hash length) and HMAC SHA-256 (compared
 * in constant time). The key must suit the algorithm before anything is computed. */
#include "crypto/ossl_int.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rsa.h>
#include <string.h>

/* The group orders n, big-endian at the raw width: r and s must lie in [1, n-1]. */
static const uint8_t order_p256[32] = {0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00,
                                       0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                       0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84,
                                       0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51};
static const uint8_t order_p384[48] = {
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xc7, 0x63, 0x4d, 0x81, 0xf4, 0x37, 0x2d, 0xdf, 0x58, 0x1a, 0x0d, 0xb2,
    0x48, 0xb0, 0xa7, 0x7a, 0xec, 0xec, 0x19, 0x6a, 0xcc, 0xc5, 0x29, 0x73};
static const uint8_t order_p521[66] = {
    0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xfa, 0x51, 0x86, 0x87, 0x83, 0xbf, 0x2f, 0x96, 0x6b,
    0x7f, 0xcc, 0x01, 0x48, 0xf7, 0x09, 0xa5, 0xd0, 0x3b, 0xb5, 0xc9, 0xb8, 0x89, 0x9c,
    0x47, 0xae, 0xbb, 0x6f, 0xb7, 0x1e, 0x91, 0x38, 0x64, 0x09};

#define HS256_BYTES 32
#define ED25519_SIG_BYTES 64
/* SEQUENCE header (3) + two INTEGERs of at most 2 + 1 + 66 bytes. */

static int is_ecdsa(tsl_alg alg)
{
    return alg == TSL_ALG_ES256 || alg == TSL_ALG_ES384 || alg == TSL_ALG_ES512;
}

static int is_pss(tsl_alg alg)
{
    return alg == TSL_ALG_PS256 || alg == TSL_ALG_PS384 || alg == TSL_ALG_PS512;
}

static int is_rsa(tsl_alg alg)
{
    return is_pss(alg) || alg == TSL_ALG_RS256 || alg == TSL_ALG_RS384 ||
           alg == TSL_ALG_RS512;
}

/* The digest name for alg, NULL for EdDSA (which hashes inside). */
static const char *md_name(tsl_alg alg)
{
    switch (alg) {
    case TSL_ALG_ES256:
    case TSL_ALG_RS256:
    case TSL_ALG_PS256:
    case TSL_ALG_HS256: return "SHA256";
    case TSL_ALG_ES384:
    case TSL_ALG_RS384:
    case TSL_ALG_PS384: return "SHA384";
    case TSL_ALG_ES512:
    case TSL_ALG_RS512:
    case TSL_ALG_PS512: return "SHA512";
    default: return NULL;
    }
}

/* Width in bytes of r and of s, and the group order. */
static size_t ec_width(tsl_alg alg, const uint8_t **order)
{
    switch (alg) {
    case TSL_ALG_ES256: *order = order_p256; return 32;
    case TSL_ALG_ES384: *order = order_p384; return 48;
    default: *order = order_p521; return 66;
    }
}

/* 1 when v (w bytes, big-endian) is in [1, n-1]. Not secret, so memcmp is fine. */
static int in_range(const uint8_t *v, const uint8_t *order, size_t w)
{
    size_t i = 0;
    while (i < w && v[i] == 0)
        i++;
    return i < w && memcmp(v, order, w) < 0;
}

/* One DER INTEGER of a positive value given in w bytes (non-zero). Returns its size. */
static size_t der_int(uint8_t *out, const uint8_t *v, size_t w)
{
    size_t i = 0;
    while (i + 1 < w && v[i] == 0)
        i++;
    size_t n = w - i, pad = (v[i] & 0x80) ? 1 : 0;
    out[0] = 0x02;
    out[1] = (uint8_t)(n + pad);
    out[2] = 0;
    memcpy(out + 2 + pad, v + i, n);
    return 2 + pad + n;
}

/* Raw r||s (2w bytes) to a DER ECDSA-Sig-Value. */
static size_t raw_to_der(const uint8_t *raw, size_t w, uint8_t der[TSLP_ECDSA_DER_MAX])
{
    uint8_t body[TSLP_ECDSA_DER_MAX];
    size_t n = der_int(body, raw, w);
    n += der_int(body + n, raw + w, w);
    size_t h = 0;
    der[h++] = 0x30;
    if (n >= 0x80)
        der[h++] = 0x81;
    der[h++] = (uint8_t)n;
    memcpy(der + h, body, n);
    return h + n;
}

/* Reads one DER INTEGER at *p (of end) into w bytes right-aligned; strict DER. */
static int der_read_int(const uint8_t **p, const uint8_t *end, uint8_t *out, size_t w)
{
    const uint8_t *q = *p;
    if (end - q < 2 || q[0] != 0x02 || q[1] >= 0x80)
        return 0;
    size_t n = q[1];
    q += 2;
    if (n == 0 || (size_t)(end - q) < n || (q[0] & 0x80))
        return 0;
    if (q[0] == 0 && n > 1) {
        if (!(q[1] & 0x80))
            return 0; /* not minimal */
        q++;
        n--;
    }
    if (n > w)
        return 0;
    memset(out, 0, w - n);
    memcpy(out + (w - n), q, n);
    *p = q + n;
    return 1;
}

/* A DER ECDSA-Sig-Value (from OpenSSL) to raw r||s of 2w bytes. */
static int der_to_raw(const uint8_t *der, size_t len, size_t w, uint8_t *raw)
{
    const uint8_t *p = der, *end = der + len;
    if (len < 2 || p[0] != 0x30)
        return 0;
    size_t n;
    if (p[1] < 0x80) {
        n = p[1];
        p += 2;
    } else if (p[1] == 0x81 && len >= 3 && p[2] >= 0x80) {
        n = p[2];
        p += 3;
    } else {
        return 0;
    }
    if ((size_t)(end - p) != n)
        return 0;
    return der_read_int(&p, end, raw, w) && der_read_int(&p, end, raw + w, w) && p == end;
}

static tsl_status hmac(const tsl_key *key, const uint8_t *msg, size_t len,
                       uint8_t out[HS256_BYTES], tsl_error *err)
{
    size_t n = 0;
    if (EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key->secret, key->secret_len,
                  len ? msg : (const uint8_t *)"", len, out, HS256_BYTES, &n) == NULL ||
        n != HS256_BYTES) {
        ERR_clear_error();
        return tslp_fail(err, TSL_ERR_CRYPTO, 0, "HS256: HMAC failed");
    }
    return TSL_OK;
}

/* A digest-sign or digest-verify context for alg with RSA padding set. */
static EVP_MD_CTX *md_ctx(const tsl_key *key, tsl_alg alg, int verify)
{
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pc = NULL;
    if (m == NULL)
        return NULL;
    int ok =
        verify
            ? EVP_DigestVerifyInit_ex(m, &pc, md_name(alg), NULL, NULL, key->pkey, NULL)
            : EVP_DigestSignInit_ex(m, &pc, md_name(alg), NULL, NULL, key->pkey, NULL);
    if (ok == 1 && is_rsa(alg)) {
        if (is_pss(alg))
            ok = EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING) == 1 &&
                 EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, RSA_PSS_SALTLEN_DIGEST) == 1;
        else
            ok = EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PADDING) == 1;
    }
    if (ok != 1) {
        EVP_MD_CTX_free(m);
        return NULL;
    }
    return m;
}

tsl_status tslp_sign(const tsl_key *key, tsl_alg alg, const uint8_t *msg, size_t len,
                     uint8_t **sig, size_t *sig_len, tsl_error *err)
{
    if (key == NULL || sig == NULL || sig_len == NULL || (msg == NULL && len > 0))
        return tslp_fail(err, TSL_ERR_ARG, 0, "sign: NULL argument");
    tsl_status st = tsl_key_check_alg(key, alg, err);
    if (st != TSL_OK)
        return st;
    if (!key->is_private)
        return tslp_fail(err, TSL_ERR_KEY, 0, "sign: a public key cannot sign");
    /* A JWK whose key_ops leave out "sign" was meant for verification only (RFC 7517
     * section 4.3): honour that here, where every signature is made. */
    st = tslp_key_allows(key, TSLP_OP_SIGN, err);
    if (st != TSL_OK)
        return st;
    const char *name = tsl_alg_name(alg);
    if (msg == NULL)
        msg = (const uint8_t *)"";
    if (alg == TSL_ALG_HS256) {
        uint8_t *out = tslp_malloc(HS256_BYTES);
        if (out == NULL)
            return tslp_fail(err, TSL_ERR_NOMEM, 0, "sign: out of memory");
        if ((st = hmac(key, msg, len, out, err)) != TSL_OK) {
            tslp_free(out);
            return st;
        }
        *sig = out;
        *sig_len = HS256_BYTES;
        return TSL_OK;
    }
    EVP_MD_CTX *m = md_ctx(key, alg, 0);
    size_t n = 0;
    uint8_t *buf = NULL;
    if (m == NULL || EVP_DigestSign(m, NULL, &n, msg, len) != 1) {
        st = tslp_fail(err, TSL_ERR_CRYPTO, 0, "sign: OpenSSL cannot set up %s", name);
    } else if ((buf = tslp_malloc(n)) == NULL) {
        st = tslp_fail(err, TSL_ERR_NOMEM, 0, "sign: out of memory");
    } else if (EVP_DigestSign(m, buf, &n, msg, len) != 1) {
        st = tslp_fail(err, TSL_ERR_CRYPTO, 0, "sign: OpenSSL failed to sign with %s",
                       name);
    }
    EVP_MD_CTX_free(m);
    ERR_clear_error();
    if (st != TSL_OK) {
        tslp_free(buf);
        return st;
    }
    if (is_ecdsa(alg)) {
        const uint8_t *order;
        size_t w = ec_width(alg, &order);
        uint8_t *raw = tslp_malloc(2 * w);
        if (raw == NULL) {
            tslp_free(buf);
            return tslp_fail(err, TSL_ERR_NOMEM, 0, "sign: out of memory");
        }
        int ok = der_to_raw(buf, n, w, raw);
        tslp_free(buf);
        if (!ok) {
            tslp_free(raw);
            return tslp_fail(err, TSL_ERR_CRYPTO, 0,
                             "sign: OpenSSL gave an unexpected ECDSA signature");
        }
        buf = raw;
        n = 2 * w;
    }
    *sig = buf;
    *sig_len = n;
    return TSL_OK;
}

tsl_status tslp_verify(const tsl_key *key, tsl_alg alg, const uint8_t *msg, size_t len,
                       const uint8_t *sig, size_t sig_len, tsl_error *err)
{
    if (key == NULL || (msg == NULL && len > 0) || (sig == NULL && sig_len > 0))
        return tslp_fail(err, TSL_ERR_ARG, 0, "verify: NULL argument");
    tsl_status st = tsl_key_check_alg(key, alg, err);
    if (st != TSL_OK)
        return st;
    const char *name = tsl_alg_name(alg);
    if (msg == NULL)
        msg = (const uint8_t *)"";
    if (alg == TSL_ALG_HS256) {
        if (sig_len != HS256_BYTES)
            return tslp_fail(err, TSL_ERR_SIGNATURE, 0,
                             "HS256: MAC is %zu bytes, expected %d", sig_len,
                             HS256_BYTES);
        uint8_t mac[HS256_BYTES];
        if ((st = hmac(key, msg, len, mac, err)) != TSL_OK)
            return st;
        int diff = CRYPTO_memcmp(mac, sig, HS256_BYTES);
        OPENSSL_cleanse(mac, sizeof mac);
        if (diff != 0)
            return tslp_fail(err, TSL_ERR_SIGNATURE, 0, "HS256: MAC does not match");
        return TSL_OK;
    }
    uint8_t der[TSLP_ECDSA_DER_MAX];
    if (is_ecdsa(alg)) {
        const uint8_t *order;
        size_t w = ec_width(alg, &order);
        if (sig_len != 2 * w)
            return tslp_fail(err, TSL_ERR_SIGNATURE, 0,
                             "%s: signature is %zu bytes, expected %zu (raw r||s)", name,
                             sig_len, 2 * w);
        if (!in_range(sig, order, w) || !in_range(sig + w, order, w))
            return tslp_fail(err, TSL_ERR_SIGNATURE, 0,
                             "%s: %s is zero or not below the group order", name,
                             in_range(sig, order, w) ? "s" : "r");
        sig_len = raw_to_der(sig, w, der);
        sig = der;
    } else if (alg == TSL_ALG_EDDSA) {
        if (sig_len != ED25519_SIG_BYTES)
            return tslp_fail(err, TSL_ERR_SIGNATURE, 0,
                             "EdDSA: signature is %zu bytes, expected %d", sig_len,
                             ED25519_SIG_BYTES);
    } else {
        size_t want = (size_t)EVP_PKEY_get_size(key->pkey);
        if (sig_len != want)
            return tslp_fail(
                err, TSL_ERR_SIGNATURE, 0,
                "%s: signature is %zu bytes, expected %zu (the modulus size)", name,
                sig_len, want);
    }
    EVP_MD_CTX *m = md_ctx(key, alg, 1);
    if (m == NULL) {
        ERR_clear_error();
        return tslp_fail(err, TSL_ERR_CRYPTO, 0, "verify: OpenSSL cannot set up %s",
                         name);
    }
    int r = EVP_DigestVerify(m, sig, sig_len, msg, len);
    EVP_MD_CTX_free(m);
    ERR_clear_error();
    if (r != 1)
        return tslp_fail(err, TSL_ERR_SIGNATURE, 0, "%s: signature does not verify",
                         name);
    return TSL_OK;
}

tsl_status tslp_sha256(const uint8_t *in, size_t len, uint8_t out[32])
{
    unsigned int n = 0;
    if (EVP_Digest(len ? in : (const uint8_t *)"", len, out, &n, EVP_sha256(), NULL) !=
            1 ||
        n != 32) {
        ERR_clear_error();
        return TSL_ERR_CRYPTO;
    }
    return TSL_OK;
}

tsl_status tslp_sha2(unsigned bits, const uint8_t *in, size_t len, uint8_t *out)
{
    const EVP_MD *md = bits == 256 ? EVP_sha256() : bits == 384 ? EVP_sha384()
                     : bits == 512 ? EVP_sha512() : NULL;
    unsigned int n = 0;
    if (md == NULL)
        return TSL_ERR_ARG;
    if (EVP_Digest(len ? in : (const uint8_t *)"", len, out, &n, md, NULL) != 1 ||
        n != bits / 8) {
        ERR_clear_error();
        return TSL_ERR_CRYPTO;
    }
    return TSL_OK;
}
