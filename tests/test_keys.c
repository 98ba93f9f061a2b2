/* test_keys.c - keys, signatures and chains: the spec's kid-12 key from PEM and JWK,
 * the RFC 7638 thumbprint example, sign/verify round trips for every algorithm with
 * each way a signature can be wrong, key/alg mismatches and JWK "alg" pinning,
 * signatures made by Python's cryptography and RFC 8032, the key-file permission rule,
 * keyset matching by kid, X.509 chains with and without the EKU (certificates made
 * here with OpenSSL's X509 API, so nothing expires), and an allocation-failure sweep
 * over JWK parsing. */
#include "tt.h"
#include "crypto/ossl_int.h"

#include <fcntl.h>
#include <openssl/encoder.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define KEYS "/work/shared/spec/testvectors/keys/"
#define KID12_JWK KEYS "example_es256_kid12.jwk.json"
#define KID12_PRIV KEYS "example_es256_kid12.private.pem"
#define KID12_PUB KEYS "example_es256_kid12.public.pem"
/* The test vectors are copied into the repository at testvectors/keys when present. */
static const char *vec(const char *shared)
{
    static char buf[512];
    const char *base = strrchr(shared, '/') + 1;
    snprintf(buf, sizeof buf, "testvectors/keys/%s", base);
    return access(buf, R_OK) == 0 ? buf : shared;
}

static tsl_key *load_mem(const char *path, int jwk)
{
    size_t n;
    unsigned char *t = tt_read_file(vec(path), &n);
    tsl_key *k = NULL;
    tsl_error err;
    tsl_error_clear(&err);
    tsl_status st = jwk ? tsl_key_from_jwk((char *)t, n, &k, &err)
                        : tsl_key_from_pem((char *)t, n, &k, &err);
    free(t);
    if (st != TSL_OK)
        fprintf(stderr, "  load %s: %s\n", path, err.msg);
    return k;
}

static char *thumb(const tsl_key *k)
{
    char *t = NULL;
    return tsl_key_thumbprint(k, &t, NULL) == TSL_OK ? t : NULL;
}

TT_TEST(key_kid12_pem_and_jwk_agree)
{
    tsl_key *a = load_mem(KID12_PRIV, 0), *b = load_mem(KID12_JWK, 1),
            *c = load_mem(KID12_PUB, 0);
    TT_CHECK(a != NULL && b != NULL && c != NULL);
    char *ta = thumb(a), *tb = thumb(b), *tc = thumb(c);
    TT_EQ_STR(ta, tb);
    TT_EQ_STR(ta, tc);
    /* jwcrypto gives the same (tests/sig_xcheck.py checks it again). */
    TT_EQ_STR(ta, "lMu2ifRhv0BMzdgKWoXvEDBZTHIT-vZ2dlRDAa0Mc8g");
    TT_CHECK(tsl_key_is_private(a) && tsl_key_is_private(b) && !tsl_key_is_private(c));
    TT_EQ_STR(tsl_key_kid(b), "12");
    TT_CHECK(tsl_key_kid(a) == NULL);
    TT_EQ_U(tsl_key_default_alg(a), TSL_ALG_ES256);
    TT_EQ_U(tsl_key_default_alg(b), TSL_ALG_ES256);
    /* The JWK pins ES256; the PEM key, without "alg", is ES256 by its curve. */
    TT_OK(tsl_key_check_alg(b, TSL_ALG_ES256, NULL));
    char *pub = NULL;
    TT_OK(tsl_key_to_public_jwk(b, &pub, NULL));
    TT_EQ_STR(pub, "{\"crv\":\"P-256\",\"kty\":\"EC\","
                   "\"x\":\"I3HWm_0Ds1dPMI-IWmf4mBmH-YaeAVbPVu7vB27CxXo\","
                   "\"y\":\"6N_d5Elj9bs1htgV3okJKIdbHEpkgTmAluYKJemzn1M\","
                   "\"kid\":\"12\",\"alg\":\"ES256\"}");
    TT_CHECK(strstr(pub, "\"d\"") == NULL);
    /* A signature by the PEM key verifies with the JWK and the public PEM. */
    uint8_t *sig;
    size_t slen;
    TT_OK(tslp_sign(a, TSL_ALG_ES256, (const uint8_t *)"m", 1, &sig, &slen, NULL));
    TT_OK(tslp_verify(b, TSL_ALG_ES256, (const uint8_t *)"m", 1, sig, slen, NULL));
    TT_OK(tslp_verify(c, TSL_ALG_ES256, (const uint8_t *)"m", 1, sig, slen, NULL));
    tslp_free(sig);
    tsl_free(ta);
    tsl_free(tb);
    tsl_free(tc);
    tsl_free(pub);
    tsl_key_free(a);
    tsl_key_free(b);
    tsl_key_free(c);
}

static const char RFC7638_JWK[] =
    "{\"kty\":\"RSA\",\"n\":\"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfA"
    "AtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9y"
    "BXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZ"
    "Hzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ"
    "-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw\",\"e\":\"AQAB\",\"alg\":\"RS256\","
    "\"kid\":\"2011-04-29\"}";

/* tsl_write_private_file: a new file of mode 0600 with the text, never over an existing
 * file, and an I/O error naming the path. */
TT_TEST(key_write_private_file)
{
    char dir[] = "/tmp/tsl-priv-XXXXXX";
    TT_CHECK(mkdtemp(dir) != NULL);
    char path[64], other[80];
    snprintf(path, sizeof path, "%s/k.pem", dir);
    snprintf(other, sizeof other, "%s/missing/k.pem", dir);
    TT_OK(tsl_write_private_file(path, "secret text\n", NULL));
    struct stat sb;
    TT_CHECK(stat(path, &sb) == 0);
    TT_EQ_U(sb.st_mode & 0777, 0600);
    char buf[32] = {0};
    int fd = open(path, O_RDONLY);
    TT_CHECK(fd >= 0 && read(fd, buf, sizeof buf - 1) == 12);
    close(fd);
    TT_EQ_STR(buf, "secret text\n");
    tsl_error err;
    tsl_error_clear(&err);
    TT_ERR(tsl_write_private_file(path, "other", &err), TSL_ERR_IO);
    TT_CONTAINS(err.msg, path);
    TT_CONTAINS(err.msg, "exists");
    TT_ERR(tsl_write_private_file(other, "x", NULL), TSL_ERR_IO);
    TT_ERR(tsl_write_private_file(NULL, "x", NULL), TSL_ERR_ARG);
    unlink(path);
    rmdir(dir);
}

TT_TEST(key_rfc7638_thumbprint_example)
{
    tsl_key *k = NULL;
    TT_OK(tsl_key_from_jwk(RFC7638_JWK, sizeof RFC7638_JWK - 1, &k, NULL));
    char *t = thumb(k);
    TT_EQ_STR(t, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    TT_EQ_STR(tsl_key_kid(k), "2011-04-29");
    TT_EQ_U(tsl_key_default_alg(k), TSL_ALG_RS256);
    /* "alg" pins the key: the same RSA key may not be used for PS256. */
    tsl_error err;
    tsl_error_clear(&err);
    TT_ERR(tsl_key_check_alg(k, TSL_ALG_PS256, &err), TSL_ERR_KEY);
    TT_CONTAINS(err.msg, "pinned to RS256");
    TT_OK(tsl_key_check_alg(k, TSL_ALG_RS256, NULL));
    tsl_free(t);
    tsl_key_free(k);
}

/* One generated key per algorithm; RSA (slow to make) once. */
static tsl_key *gen_keys[TSL_ALG_COUNT];

static tsl_key *gen(tsl_alg alg)
{
    if (gen_keys[alg] == NULL) {
        tsl_alg make = alg;
        if (alg >= TSL_ALG_RS256 && alg <= TSL_ALG_PS512) {
            make = TSL_ALG_RS256;
            if (gen_keys[TSL_ALG_RS256] != NULL) {
                gen_keys[alg] = tslp_key_ref(gen_keys[TSL_ALG_RS256]);
                return gen_keys[alg];
            }
        }
        if (tsl_key_generate(make, &gen_keys[make], NULL) != TSL_OK)
            return NULL;
        if (make != alg)
            gen_keys[alg] = tslp_key_ref(gen_keys[make]);
    }
    return gen_keys[alg];
}

__attribute__((destructor)) static void free_gen_keys(void)
{
    for (int i = 0; i < TSL_ALG_COUNT; i++)
        tsl_key_free(gen_keys[i]);
}

/* The public half of a key through its JWK, so verification never sees the private
 * part. HMAC secrets have none: the key itself. */
static tsl_key *public_of(tsl_key *k)
{
    tsl_key *p = NULL;
    char *jwk = NULL;
    if (k->kty == TSLP_KTY_OCT)
        return tslp_key_ref(k);
    if (tsl_key_to_public_jwk(k, &jwk, NULL) != TSL_OK ||
        tsl_key_from_jwk(jwk, strlen(jwk), &p, NULL) != TSL_OK)
        p = NULL;
    tsl_free(jwk);
    return p;
}

static const size_t sig_sizes[TSL_ALG_COUNT] = {
    [TSL_ALG_ES256] = 64,  [TSL_ALG_ES384] = 96,  [TSL_ALG_ES512] = 132,
    [TSL_ALG_EDDSA] = 64,  [TSL_ALG_RS256] = 384, [TSL_ALG_RS384] = 384,
    [TSL_ALG_RS512] = 384, [TSL_ALG_PS256] = 384, [TSL_ALG_PS384] = 384,
    [TSL_ALG_PS512] = 384, [TSL_ALG_HS256] = 32};

TT_TEST(sign_roundtrip_every_alg)
{
    static const uint8_t msg[] = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ0c2wifQ";
    for (int a = 1; a < TSL_ALG_COUNT; a++) {
        tsl_key *k = gen((tsl_alg)a);
        TT_CHECK(k != NULL);
        tsl_key *pub = public_of(k);
        TT_CHECK(pub != NULL);
        uint8_t *sig;
        size_t slen;
        TT_OK(tslp_sign(k, (tsl_alg)a, msg, sizeof msg - 1, &sig, &slen, NULL));
        TT_EQ_U(slen, sig_sizes[a]);
        TT_OK(tslp_verify(pub, (tsl_alg)a, msg, sizeof msg - 1, sig, slen, NULL));
        TT_OK(tslp_verify(k, (tsl_alg)a, msg, sizeof msg - 1, sig, slen, NULL));
        /* A tampered message, a tampered signature, a truncated one, one too long. */
        tsl_error err;
        tsl_error_clear(&err);
        TT_ERR(tslp_verify(pub, (tsl_alg)a, msg, sizeof msg - 2, sig, slen, &err),
               TSL_ERR_SIGNATURE);
        sig[slen / 2] ^= 0x01;
        TT_ERR(tslp_verify(pub, (tsl_alg)a, msg, sizeof msg - 1, sig, slen, NULL),
               TSL_ERR_SIGNATURE);
        sig[slen / 2] ^= 0x01;
        tsl_error_clear(&err);
        TT_ERR(tslp_verify(pub, (tsl_alg)a, msg, sizeof msg - 1, sig, slen - 1, &err),
               TSL_ERR_SIGNATURE);
        TT_CONTAINS(err.msg, "bytes, expected");
        uint8_t *longer = malloc(slen + 1);
        memcpy(longer, sig, slen);
        longer[slen] = 0;
        TT_ERR(tslp_verify(pub, (tsl_alg)a, msg, sizeof msg - 1, longer, slen + 1, NULL),
               TSL_ERR_SIGNATURE);
        free(longer);
        TT_ERR(tslp_verify(pub, (tsl_alg)a, msg, sizeof msg - 1, NULL, 0, NULL),
               TSL_ERR_SIGNATURE);
        /* The public half cannot sign. */
        uint8_t *s2;
        size_t s2len;
        if (a != TSL_ALG_HS256)
            TT_ERR(tslp_sign(pub, (tsl_alg)a, msg, 1, &s2, &s2len, NULL), TSL_ERR_KEY);
        /* Empty messages sign too. */
        TT_OK(tslp_sign(k, (tsl_alg)a, NULL, 0, &s2, &s2len, NULL));
        TT_OK(tslp_verify(pub, (tsl_alg)a, NULL, 0, s2, s2len, NULL));
        tslp_free(s2);
        tslp_free(sig);
        tsl_key_free(pub);
    }
}

/* Raw r||s to DER the way a careless JOSE implementation would send it. */
static size_t to_der(const uint8_t *raw, size_t w, uint8_t *out)
{
    size_t n = 2;
    for (int h = 0; h < 2; h++) {
        const uint8_t *v = raw + h * w;
        size_t i = 0;
        while (i + 1 < w && v[i] == 0)
            i++;
        int pad = (v[i] & 0x80) != 0;
        out[n++] = 0x02;
        out[n++] = (uint8_t)(w - i + (size_t)pad);
        if (pad)
            out[n++] = 0;
        memcpy(out + n, v + i, w - i);
        n += w - i;
    }
    out[0] = 0x30;
    out[1] = (uint8_t)(n - 2);
    return n;
}

TT_TEST(sign_der_ecdsa_rejected)
{
    tsl_key *k = gen(TSL_ALG_ES256);
    TT_CHECK(k != NULL);
    uint8_t *sig, der[80];
    size_t slen;
    TT_OK(tslp_sign(k, TSL_ALG_ES256, (const uint8_t *)"x", 1, &sig, &slen, NULL));
    size_t dlen = to_der(sig, 32, der);
    tsl_error err;
    tsl_error_clear(&err);
    TT_ERR(tslp_verify(k, TSL_ALG_ES256, (const uint8_t *)"x", 1, der, dlen, &err),
           TSL_ERR_SIGNATURE);
    TT_CONTAINS(err.msg, "raw r||s");
    /* A 64-byte DER signature (it happens) is rejected too: r would be 0x3044... */
    if (dlen < 64) {
        uint8_t pad[64] = {0};
        memcpy(pad, der, dlen);
        TT_ERR(tslp_verify(k, TSL_ALG_ES256, (const uint8_t *)"x", 1, pad, 64, NULL),
               TSL_ERR_SIGNATURE);
    }
    tslp_free(sig);
}

TT_TEST(sign_ecdsa_r_s_range)
{
    static const uint8_t n256[32] = {0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00,
                                     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                     0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84,
                                     0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51};
    tsl_key *k = gen(TSL_ALG_ES256);
    TT_CHECK(k != NULL);
    uint8_t *sig;
    size_t slen;
    TT_OK(tslp_sign(k, TSL_ALG_ES256, (const uint8_t *)"x", 1, &sig, &slen, NULL));
    uint8_t bad[64];
    tsl_error err;
    /* r = 0 */
    memcpy(bad, sig, 64);
    memset(bad, 0, 32);
    tsl_error_clear(&err);
    TT_ERR(tslp_verify(k, TSL_ALG_ES256, (const uint8_t *)"x", 1, bad, 64, &err),
           TSL_ERR_SIGNATURE);
    TT_CONTAINS(err.msg, "r is zero or not below the group order");
    /* s = n, and s = n + r mod 2^256 style malleation attempts */
    memcpy(bad, sig, 64);
    memcpy(bad + 32, n256, 32);
    tsl_error_clear(&err);
    TT_ERR(tslp_verify(k, TSL_ALG_ES256, (const uint8_t *)"x", 1, bad, 64, &err),
           TSL_ERR_SIGNATURE);
    TT_CONTAINS(err.msg, "s is zero");
    memset(bad + 32, 0xff, 32);
    TT_ERR(tslp_verify(k, TSL_ALG_ES256, (const uint8_t *)"x", 1, bad, 64, NULL),
           TSL_ERR_SIGNATURE);
    tslp_free(sig);
}

TT_TEST(sign_key_alg_mismatch)
{
    tsl_key *es256 = gen(TSL_ALG_ES256), *rsa = gen(TSL_ALG_RS256),
            *hs = gen(TSL_ALG_HS256), *ed = gen(TSL_ALG_EDDSA);
    TT_CHECK(es256 && rsa && hs && ed);
    uint8_t *sig;
    size_t slen;
    tsl_error err;
    tsl_error_clear(&err);
    TT_ERR(tslp_sign(es256, TSL_ALG_ES384, (const uint8_t *)"x", 1, &sig, &slen, &err),
           TSL_ERR_KEY);
    TT_CONTAINS(err.msg, "an EC P-256 key cannot be used with ES384");
    TT_OK(tslp_sign(es256, TSL_ALG_ES256, (const uint8_t *)"x", 1, &sig, &slen, NULL));
    tsl_error_clear(&err);
    TT_ERR(tslp_verify(es256, TSL_ALG_ES384, (const uint8_t *)"x", 1, sig, slen, &err),
           TSL_ERR_KEY);
    tslp_free(sig);
    tsl_error_clear(&err);
    TT_ERR(tsl_key_check_alg(rsa, TSL_ALG_ES256, &err), TSL_ERR_KEY);
    TT_CONTAINS(err.msg, "RSA 3072-bit key cannot be used with ES256");
    tsl_error_clear(&err);
    TT_ERR(tslp_sign(hs, TSL_ALG_ES256, (const uint8_t *)"x", 1, &sig, &slen, &err),
           TSL_ERR_KEY);
    TT_CONTAINS(err.msg, "HMAC secret cannot be used with ES256");
    TT_ERR(tslp_sign(hs, TSL_ALG_RS256, (const uint8_t *)"x", 1, &sig, &slen, NULL),
           TSL_ERR_KEY);
    TT_ERR(tsl_key_check_alg(es256, TSL_ALG_HS256, NULL), TSL_ERR_KEY);
    TT_ERR(tsl_key_check_alg(ed, TSL_ALG_ES256, NULL), TSL_ERR_KEY);
    TT_ERR(tsl_key_check_alg(rsa, TSL_ALG_EDDSA, NULL), TSL_ERR_KEY);
    TT_ERR(tsl_key_check_alg(es256, TSL_ALG_UNKNOWN, NULL), TSL_ERR_ALG);
    TT_ERR(tsl_key_check_alg(es256, (tsl_alg)99, NULL), TSL_ERR_ALG);
    TT_ERR(tslp_verify(hs, TSL_ALG_UNKNOWN, (const uint8_t *)"x", 1, (const uint8_t *)"",
                       0, NULL),
           TSL_ERR_ALG);
    /* The RSA key suits every RS and PS algorithm: nothing pins it. */
    for (int a = TSL_ALG_RS256; a <= TSL_ALG_PS512; a++)
        TT_OK(tsl_key_check_alg(rsa, (tsl_alg)a, NULL));
    TT_EQ_U(tsl_key_default_alg(rsa), TSL_ALG_RS256); /* generated for RS256 */
}

TT_TEST(sign_verifies_python_and_rfc8032)
{
    /* ES256 by Python's cryptography 38 with the kid-12 key over this message,
     * decode_dss_signature then r and s as 32 bytes each. */
    static const char msg[] = "tsl: a fixed message signed by Python's cryptography";
    static const uint8_t py_sig[64] = {
        0x8a, 0x6b, 0xbd, 0xdc, 0x8a, 0x90, 0x46, 0x50, 0xb1, 0x32, 0x04, 0xbf, 0x23,
        0xdc, 0x81, 0x3f, 0x31, 0xb1, 0xc9, 0xa4, 0x2c, 0x79, 0x34, 0xed, 0x91, 0x23,
        0x35, 0xf9, 0x16, 0x09, 0xac, 0x36, 0x29, 0xb5, 0x5d, 0x51, 0x18, 0x71, 0xc5,
        0x41, 0xf4, 0x8c, 0xc4, 0xfd, 0xd8, 0x4c, 0x06, 0xc1, 0x32, 0x1e, 0x13, 0xa3,
        0xb8, 0x0b, 0xb4, 0x2c, 0x70, 0xa3, 0x46, 0x4a, 0x87, 0x98, 0x80, 0xf3};
    tsl_key *k = load_mem(KID12_PUB, 0);
    TT_CHECK(k != NULL);
    TT_OK(tslp_verify(k, TSL_ALG_ES256, (const uint8_t *)msg, sizeof msg - 1, py_sig, 64,
                      NULL));
    TT_ERR(tslp_verify(k, TSL_ALG_ES256, (const uint8_t *)msg, sizeof msg - 2, py_sig, 64,
                       NULL),
           TSL_ERR_SIGNATURE);
    tsl_key_free(k);

    /* RFC 8032 section 7.1 TEST 1: empty message. */
    static const char ed_jwk[] = "{\"kty\":\"OKP\",\"crv\":\"Ed25519\","
                                 "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}";
    static const uint8_t ed_sig[64] = {
        0xe5, 0x56, 0x43, 0x00, 0xc3, 0x60, 0xac, 0x72, 0x90, 0x86, 0xe2, 0xcc, 0x80,
        0x6e, 0x82, 0x8a, 0x84, 0x87, 0x7f, 0x1e, 0xb8, 0xe5, 0xd9, 0x74, 0xd8, 0x73,
        0xe0, 0x65, 0x22, 0x49, 0x01, 0x55, 0x5f, 0xb8, 0x82, 0x15, 0x90, 0xa3, 0x3b,
        0xac, 0xc6, 0x1e, 0x39, 0x70, 0x1c, 0xf9, 0xb4, 0x6b, 0xd2, 0x5b, 0xf5, 0xf0,
        0x59, 0x5b, 0xbe, 0x24, 0x65, 0x51, 0x41, 0x43, 0x8e, 0x7a, 0x10, 0x0b};
    TT_OK(tsl_key_from_jwk(ed_jwk, sizeof ed_jwk - 1, &k, NULL));
    TT_OK(tslp_verify(k, TSL_ALG_EDDSA, NULL, 0, ed_sig, 64, NULL));
    TT_ERR(tslp_verify(k, TSL_ALG_EDDSA, (const uint8_t *)"x", 1, ed_sig, 64, NULL),
           TSL_ERR_SIGNATURE);
    tsl_key_free(k);
    /* ... and the RFC's private key signs to exactly that signature (deterministic). */
    static const char ed_priv[] =
        "{\"kty\":\"OKP\",\"crv\":\"Ed25519\","
        "\"d\":\"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A\","
        "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}";
    uint8_t *sig;
    size_t slen;
    TT_OK(tsl_key_from_jwk(ed_priv, sizeof ed_priv - 1, &k, NULL));
    TT_OK(tslp_sign(k, TSL_ALG_EDDSA, NULL, 0, &sig, &slen, NULL));
    TT_EQ_U(slen, 64);
    TT_EQ_MEM(sig, ed_sig, 64);
    tslp_free(sig);
    tsl_key_free(k);
}

/* RFC 4231 test case 2 is a 4-byte key, too short for us; case 6 style: a 32-byte key
 * of 0x0b over "Hi There", checked against OpenSSL's one-shot HMAC. */
TT_TEST(sign_hs256_known_answer)
{
    static const char jwk[] = "{\"kty\":\"oct\",\"k\":"
                              "\"CwsLCwsLCwsLCwsLCwsLCwsLCwsLCwsLCwsLCwsLCws\"}";
    tsl_key *k = NULL;
    TT_OK(tsl_key_from_jwk(jwk, sizeof jwk - 1, &k, NULL));
    TT_EQ_U(tsl_key_default_alg(k), TSL_ALG_HS256);
    uint8_t *sig, want[32];
    size_t slen;
    size_t wl = 0;
    uint8_t key[32];
    memset(key, 0x0b, sizeof key);
    TT_CHECK(EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, 32,
                       (const uint8_t *)"Hi There", 8, want, 32, &wl) != NULL);
    TT_OK(tslp_sign(k, TSL_ALG_HS256, (const uint8_t *)"Hi There", 8, &sig, &slen, NULL));
    TT_EQ_U(slen, 32);
    TT_EQ_MEM(sig, want, 32);
    tslp_free(sig);
    char *pub = NULL, *priv = NULL;
    TT_ERR(tsl_key_to_public_jwk(k, &pub, NULL), TSL_ERR_KEY);
    TT_OK(tsl_key_to_private(k, &priv, NULL));
    TT_EQ_STR(priv,
              "{\"k\":\"CwsLCwsLCwsLCwsLCwsLCwsLCwsLCwsLCwsLCwsLCws\",\"kty\":\"oct\"}");
    tsl_free(priv);
    tsl_key_free(k);
}

TT_TEST(key_export_roundtrip)
{
    for (int a = 1; a < TSL_ALG_COUNT; a++) {
        if (a == TSL_ALG_RS384 || a == TSL_ALG_RS512 || a >= TSL_ALG_PS256) {
            if (a != TSL_ALG_HS256)
                continue;
        }
        tsl_key *k = gen((tsl_alg)a), *back = NULL;
        TT_CHECK(k != NULL);
        TT_OK(tsl_key_set_kid(k, "k\"id\n", NULL));
        char *priv = NULL;
        TT_OK(tsl_key_to_private(k, &priv, NULL));
        if (a == TSL_ALG_HS256)
            TT_OK(tsl_key_from_jwk(priv, strlen(priv), &back, NULL));
        else
            TT_OK(tsl_key_from_pem(priv, strlen(priv), &back, NULL));
        TT_CHECK(tsl_key_is_private(back));
        char *t1 = thumb(k), *t2 = thumb(back);
        TT_EQ_STR(t1, t2);
        if (a != TSL_ALG_HS256) {
            char *pub = NULL;
            tsl_key *p = NULL;
            TT_OK(tsl_key_to_public_jwk(k, &pub, NULL));
            TT_CONTAINS(pub, "\"kid\":\"k\\\"id\\u000a\"");
            TT_OK(tsl_key_from_jwk(pub, strlen(pub), &p, NULL));
            TT_EQ_STR(tsl_key_kid(p), "k\"id\n");
            TT_CHECK(!tsl_key_is_private(p));
            char *t3 = thumb(p);
            TT_EQ_STR(t1, t3);
            tsl_free(t3);
            tsl_free(pub);
            tsl_key_free(p);
        }
        TT_OK(tsl_key_set_kid(k, NULL, NULL));
        TT_CHECK(tsl_key_kid(k) == NULL);
        TT_ERR(tsl_key_set_kid(k, "\xff", NULL), TSL_ERR_ARG);
        tsl_free(t1);
        tsl_free(t2);
        tsl_free(priv);
        tsl_key_free(back);
    }
}

/* An EVP_PKEY as PEM in a given structure ("type-specific" gives SEC1 / PKCS#1). */
static char *pem_of(EVP_PKEY *pk, int selection, const char *structure)
{
    OSSL_ENCODER_CTX *c =
        OSSL_ENCODER_CTX_new_for_pkey(pk, selection, "PEM", structure, NULL);
    unsigned char *data = NULL;
    size_t len = 0;
    if (c == NULL || OSSL_ENCODER_to_data(c, &data, &len) != 1)
        data = NULL;
    OSSL_ENCODER_CTX_free(c);
    char *s = data ? malloc(len + 1) : NULL;
    if (s != NULL) {
        memcpy(s, data, len);
        s[len] = '\0';
    }
    OPENSSL_free(data);
    return s;
}

static tsl_status from_pem_str(const char *pem, tsl_key **k, tsl_error *err)
{
    tsl_error_clear(err);
    *k = NULL;
    return tsl_key_from_pem(pem, strlen(pem), k, err);
}

TT_TEST(key_pem_forms)
{
    tsl_key *k;
    tsl_error err;
    EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    EVP_PKEY *rsa = gen(TSL_ALG_RS256)->pkey;
    char *sec1 = pem_of(ec, EVP_PKEY_KEYPAIR, "type-specific");
    char *pkcs1 = pem_of(rsa, EVP_PKEY_KEYPAIR, "type-specific");
    char *pkcs1pub = pem_of(rsa, EVP_PKEY_PUBLIC_KEY, "type-specific");
    char *spki = pem_of(ec, EVP_PKEY_PUBLIC_KEY, "SubjectPublicKeyInfo");
    TT_CHECK(sec1 && pkcs1 && pkcs1pub && spki);
    TT_CHECK(strstr(sec1, "BEGIN EC PRIVATE KEY") &&
             strstr(pkcs1, "BEGIN RSA PRIVATE KEY"));
    TT_CHECK(strstr(pkcs1pub, "BEGIN RSA PUBLIC KEY"));
    TT_OK(from_pem_str(sec1, &k, &err));
    TT_CHECK(tsl_key_is_private(k) && tsl_key_default_alg(k) == TSL_ALG_ES384);
    tsl_key_free(k);
    TT_OK(from_pem_str(pkcs1, &k, &err));
    TT_CHECK(tsl_key_is_private(k) && tsl_key_default_alg(k) == TSL_ALG_PS256);
    tsl_key_free(k);
    TT_OK(from_pem_str(pkcs1pub, &k, &err));
    TT_CHECK(!tsl_key_is_private(k));
    tsl_key_free(k);
    TT_OK(from_pem_str(spki, &k, &err));
    TT_CHECK(!tsl_key_is_private(k));
    tsl_key_free(k);

    /* "EC PARAMETERS" before the key, as `openssl ecparam -genkey` writes it. */
    size_t n = strlen(sec1) + 200;
    char *withparams = malloc(n);
    snprintf(withparams, n,
             "-----BEGIN EC PARAMETERS-----\nBgUrgQQAIg==\n"
             "-----END EC PARAMETERS-----\n%s",
             sec1);
    TT_OK(from_pem_str(withparams, &k, &err));
    tsl_key_free(k);
    free(withparams);

    /* Encrypted PKCS#8. */
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_PKCS8PrivateKey(b, ec, EVP_aes_128_cbc(), "pw", 2, NULL, NULL);
    BIO_write(b, "", 1);
    char *encp = NULL;
    BIO_get_mem_data(b, &encp);
    TT_ERR(from_pem_str(encp, &k, &err), TSL_ERR_UNSUPPORTED);
    TT_CONTAINS(err.msg, "encrypted");
    BIO_free(b);

    /* Keys we do not sign with. */
    EVP_PKEY *p224 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-224");
    EVP_PKEY *ed448 = EVP_PKEY_Q_keygen(NULL, NULL, "ED448");
    EVP_PKEY *rsa1024 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    char *s224 = pem_of(p224, EVP_PKEY_PUBLIC_KEY, "SubjectPublicKeyInfo");
    char *s448 = pem_of(ed448, EVP_PKEY_KEYPAIR, "PrivateKeyInfo");
    char *s1024 = pem_of(rsa1024, EVP_PKEY_PUBLIC_KEY, "SubjectPublicKeyInfo");
    TT_ERR(from_pem_str(s224, &k, &err), TSL_ERR_UNSUPPORTED);
    TT_CONTAINS(err.msg, "curve other than");
    TT_ERR(from_pem_str(s448, &k, &err), TSL_ERR_UNSUPPORTED);
    TT_CONTAINS(err.msg, "ED448 keys are not supported");
    TT_ERR(from_pem_str(s1024, &k, &err), TSL_ERR_KEY);
    TT_CONTAINS(err.msg, "RSA key of 1024 bits; at least 2048");

    /* Not PEM, a broken block, a block of something else. */
    TT_ERR(from_pem_str("hello", &k, &err), TSL_ERR_MALFORMED);
    TT_ERR(from_pem_str("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
                        &k, &err),
           TSL_ERR_MALFORMED);
    TT_ERR(from_pem_str("-----BEGIN PUBLIC KEY-----\n!!!!\n-----END PUBLIC KEY-----\n",
                        &k, &err),
           TSL_ERR_MALFORMED);
    TT_ERR(from_pem_str("-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n", &k,
                        &err),
           TSL_ERR_UNSUPPORTED);
    free(s224);
    free(s448);
    free(s1024);
    EVP_PKEY_free(p224);
    EVP_PKEY_free(ed448);
    EVP_PKEY_free(rsa1024);
    free(sec1);
    free(pkcs1);
    free(pkcs1pub);
    free(spki);
    EVP_PKEY_free(ec);
}

/* JWK text with one member's value replaced. */
static const struct {
    const char *jwk;
    tsl_status code;
    const char *why;
} jwk_bad[] = {
    {"{\"kty\":\"EC\"", TSL_ERR_MALFORMED, "jwk: "},
    {"[]", TSL_ERR_MALFORMED, "not a JSON object"},
    {"{\"kty\":\"EC\",\"kty\":\"EC\"}", TSL_ERR_MALFORMED, "duplicate"},
    {"{\"crv\":\"P-256\"}", TSL_ERR_MALFORMED, "\"kty\" is missing"},
    {"{\"kty\":7}", TSL_ERR_MALFORMED, "\"kty\" is not a string"},
    {"{\"kty\":\"XYZ\"}", TSL_ERR_UNSUPPORTED, "\"kty\" XYZ is not supported"},
    {"{\"kty\":\"EC\",\"crv\":\"secp256k1\",\"x\":\"AA\",\"y\":\"AA\"}",
     TSL_ERR_UNSUPPORTED, "secp256k1"},
    {"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"I3HWm_0Ds1dPMI-IWmf4mBmH-"
     "YaeAVbPVu7vB27CxX"
     "o\"}",
     TSL_ERR_MALFORMED, "\"y\" is missing"},
    {"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"I3HWm_0Ds1dPMI-IWmf4mBmH-"
     "YaeAVbPVu7vB27CxA\","
     "\"y\":\"6N_d5Elj9bs1htgV3okJKIdbHEpkgTmAluYKJemzn1M\"}",
     TSL_ERR_MALFORMED, "\"crv\" P-256 expects 32-byte \"x\", got 31"},
    {"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"I3HWm_0Ds1dPMI-IWmf4mBmH-"
     "YaeAVbPVu7vB27CxXo=\","
     "\"y\":\"6N_d5Elj9bs1htgV3okJKIdbHEpkgTmAluYKJemzn1M\"}",
     TSL_ERR_MALFORMED, "jwk: \"x\": base64url"},
    {"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"I3HWm_0Ds1dPMI-IWmf4mBmH-"
     "YaeAVbPVu7vB27CxXo\","
     "\"y\":\"6N_d5Elj9bs1htgV3okJKIdbHEpkgTmAluYKJemzn1Q\"}",
     TSL_ERR_KEY, "not a point on P-256"},
    /* kid 12's point with the RFC 9901 issuer's d */
    {"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"I3HWm_0Ds1dPMI-IWmf4mBmH-"
     "YaeAVbPVu7vB27CxXo\","
     "\"y\":\"6N_d5Elj9bs1htgV3okJKIdbHEpkgTmAluYKJemzn1M\","
     "\"d\":\"Ur2bNKuBPOrAaxsRnbSH6hIhmNTxSGXshDSUD1a1y7g\"}",
     TSL_ERR_KEY, "jwk: "},
    {"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"I3HWm_0Ds1dPMI-IWmf4mBmH-"
     "YaeAVbPVu7vB27CxXo\","
     "\"y\":\"6N_d5Elj9bs1htgV3okJKIdbHEpkgTmAluYKJemzn1M\",\"alg\":\"ES384\"}",
     TSL_ERR_KEY, "cannot be used with ES384"},
    {"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"I3HWm_0Ds1dPMI-IWmf4mBmH-"
     "YaeAVbPVu7vB27CxXo\","
     "\"y\":\"6N_d5Elj9bs1htgV3okJKIdbHEpkgTmAluYKJemzn1M\",\"alg\":\"none\"}",
     TSL_ERR_UNSUPPORTED, "\"alg\" none"},
    {"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"I3HWm_0Ds1dPMI-IWmf4mBmH-"
     "YaeAVbPVu7vB27CxXo\","
     "\"y\":\"6N_d5Elj9bs1htgV3okJKIdbHEpkgTmAluYKJemzn1M\",\"kid\":12}",
     TSL_ERR_MALFORMED, "\"kid\" is not a string"},
    {"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"I3HWm_0Ds1dPMI-IWmf4mBmH-"
     "YaeAVbPVu7vB27CxXo\","
     "\"y\":\"6N_d5Elj9bs1htgV3okJKIdbHEpkgTmAluYKJemzn1M\",\"kid\":\"a\\u0000b\"}",
     TSL_ERR_MALFORMED, "is not allowed"},
    {"{\"kty\":\"OKP\",\"crv\":\"Ed448\",\"x\":\"AA\"}", TSL_ERR_UNSUPPORTED, "Ed448"},
    {"{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"11qYAYKxCrfVS_"
     "7TyWQHOg7hcvPapiMlrwIaaPcHUQ\"}",
     TSL_ERR_MALFORMED, "expects 32-byte \"x\", got 31"},
    {"{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"11qYAYKxCrfVS_"
     "7TyWQHOg7hcvPapiMlrwIaaPcHURo\","
     "\"d\":\"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2E\"}",
     TSL_ERR_KEY, "not the public key of \"d\""},
    {"{\"kty\":\"oct\",\"k\":\"AAAAAAAAAAAAAAAAAAAAAA\"}", TSL_ERR_KEY,
     "\"oct\" key of 16 bytes; HS256 needs at least 32"},
    {"{\"kty\":\"oct\"}", TSL_ERR_MALFORMED, "\"k\" is missing"},
    {"{\"kty\":\"oct\",\"k\":\"CwsLCwsLCwsLCwsLCwsLCwsLCwsLCwsLCwsLCwsLCws\",\"alg\":"
     "\"RS256\"}",
     TSL_ERR_KEY, "cannot be used with RS256"},
    {"{\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\"}", TSL_ERR_KEY,
     "RSA key of 17 bits; at least 2048"},
    {"{\"kty\":\"RSA\",\"e\":\"AQAB\"}", TSL_ERR_MALFORMED, "\"n\" is missing"},
    {"{\"kty\":\"RSA\",\"n\":\"AAEA\",\"e\":\"AQAB\"}", TSL_ERR_MALFORMED,
     "leading zero"},
    {"{\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\",\"oth\":[]}", TSL_ERR_UNSUPPORTED,
     "multi-prime"},
};

TT_TEST(jwk_rejections_named)
{
    for (size_t i = 0; i < sizeof jwk_bad / sizeof jwk_bad[0]; i++) {
        tsl_key *k = NULL;
        tsl_error err;
        tsl_error_clear(&err);
        tsl_status st =
            tsl_key_from_jwk(jwk_bad[i].jwk, strlen(jwk_bad[i].jwk), &k, &err);
        if (st != jwk_bad[i].code || strstr(err.msg, jwk_bad[i].why) == NULL) {
            tt_failf(__FILE__, __LINE__, "case %zu: %s -> %s \"%s\", expected %s \"%s\"",
                     i, jwk_bad[i].jwk, tsl_strerror(st), err.msg,
                     tsl_strerror(jwk_bad[i].code), jwk_bad[i].why);
            return;
        }
        TT_CHECK(k == NULL);
    }
}

/* RSA JWK members from the generated key with one replaced, to test the RSA checks on
 * a real modulus. */
static char *rsa_jwk(const char *extra)
{
    char *pub = NULL;
    if (tsl_key_to_public_jwk(gen(TSL_ALG_RS256), &pub, NULL) != TSL_OK)
        return NULL;
    size_t n = strlen(pub) + strlen(extra) + 1;
    char *s = malloc(n);
    /* pub ends with '}': splice extra members in before it. */
    snprintf(s, n, "%.*s%s}", (int)(strlen(pub) - 1), pub, extra);
    tsl_free(pub);
    return s;
}

TT_TEST(jwk_rsa_checks)
{
    tsl_key *k = NULL;
    tsl_error err;
    char *s = rsa_jwk(",\"alg\":\"PS384\"");
    TT_OK(tsl_key_from_jwk(s, strlen(s), &k, NULL));
    TT_EQ_U(tsl_key_default_alg(k), TSL_ALG_PS384);
    TT_ERR(tsl_key_check_alg(k, TSL_ALG_PS256, NULL), TSL_ERR_KEY);
    tsl_key_free(k);
    free(s);
    /* "d" without the CRT members; a CRT member without "d". */
    s = rsa_jwk(",\"d\":\"AQAB\"");
    tsl_error_clear(&err);
    TT_ERR(tsl_key_from_jwk(s, strlen(s), &k, &err), TSL_ERR_UNSUPPORTED);
    TT_CONTAINS(err.msg, "without \"p\"");
    free(s);
    s = rsa_jwk(",\"p\":\"AQAB\"");
    TT_ERR(tsl_key_from_jwk(s, strlen(s), &k, NULL), TSL_ERR_MALFORMED);
    free(s);
    /* Wrong CRT values: OpenSSL's pairwise check refuses the key. */
    s = rsa_jwk(
        ",\"d\":\"AQAB\",\"p\":\"AQAB\",\"q\":\"AQAB\",\"dp\":\"AQAB\",\"dq\":\"AQAB\","
        "\"qi\":\"AQAB\"");
    tsl_error_clear(&err);
    TT_ERR(tsl_key_from_jwk(s, strlen(s), &k, &err), TSL_ERR_KEY);
    free(s);
    /* e even, e = 1: replace "e":"AQAB" by hand. */
    static const char *const bad_e[] = {"AQAA", "AQ", "AQEBAQEBAQEBAQ"};
    for (size_t i = 0; i < 3; i++) {
        s = rsa_jwk("");
        char *e = strstr(s, "\"e\":\"AQAB\"");
        TT_CHECK(e != NULL);
        size_t n = strlen(s) + 32;
        char *t = malloc(n);
        snprintf(t, n, "%.*s\"e\":\"%s\"%s", (int)(e - s), s, bad_e[i], e + 10);
        tsl_error_clear(&err);
        TT_ERR(tsl_key_from_jwk(t, strlen(t), &k, &err), TSL_ERR_KEY);
        TT_CONTAINS(err.msg, "\"e\" must be odd");
        free(t);
        free(s);
    }
}

/* ---- files ---- */

static char tmpdir[64];

static const char *tmp_path(const char *name)
{
    static char buf[256];
    if (tmpdir[0] == '\0') {
        snprintf(tmpdir, sizeof tmpdir, "/tmp/tsl-keys-XXXXXX");
        if (mkdtemp(tmpdir) == NULL)
            return NULL;
    }
    snprintf(buf, sizeof buf, "%s/%s", tmpdir, name);
    return buf;
}

__attribute__((destructor)) static void rm_tmpdir(void)
{
    if (tmpdir[0] == '\0')
        return;
    static const char *const names[] = {"priv.pem", "pub.pem", "jwks.json", "priv.jwk",
                                        "certs.pem", "fifo",    "sock",      "big.jwks"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char p[256];
        snprintf(p, sizeof p, "%s/%s", tmpdir, names[i]);
        unlink(p);
    }
    rmdir(tmpdir);
}

static int write_file(const char *path, const void *data, size_t n, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        return -1;
    int ok = write(fd, data, n) == (ssize_t)n && fchmod(fd, mode) == 0;
    close(fd);
    return ok ? 0 : -1;
}

TT_TEST(key_file_permissions)
{
    size_t n;
    unsigned char *priv = tt_read_file(vec(KID12_PRIV), &n);
    const char *p = tmp_path("priv.pem");
    TT_CHECK(p != NULL);
    TT_CHECK(write_file(p, priv, n, 0644) == 0);
    tsl_key *k = NULL;
    tsl_error err;
    tsl_error_clear(&err);
    TT_ERR(tsl_key_load(p, &k, &err), TSL_ERR_KEY);
    TT_CONTAINS(err.msg, "mode 0644");
    TT_CHECK(chmod(p, 0640) == 0);
    tsl_error_clear(&err);
    TT_ERR(tsl_key_load(p, &k, &err), TSL_ERR_KEY);
    TT_CONTAINS(err.msg, "mode 0640");
    TT_CHECK(chmod(p, 0600) == 0);
    TT_OK(tsl_key_load(p, &k, NULL));
    TT_CHECK(tsl_key_is_private(k));
    tsl_key_free(k);
    TT_CHECK(chmod(p, 0400) == 0);
    TT_OK(tsl_key_load(p, &k, NULL));
    tsl_key_free(k);
    free(priv);

    /* A private JWK the same way; a keyset loading it too. */
    unsigned char *jwk = tt_read_file(vec(KID12_JWK), &n);
    p = tmp_path("priv.jwk");
    TT_CHECK(write_file(p, jwk, n, 0604) == 0);
    tsl_error_clear(&err);
    TT_ERR(tsl_key_load(p, &k, &err), TSL_ERR_KEY);
    TT_CONTAINS(err.msg, "mode 0604");
    tsl_keyset *set = NULL;
    TT_OK(tsl_keyset_new(&set, NULL));
    TT_ERR(tsl_keyset_load(set, p, NULL), TSL_ERR_KEY);
    TT_EQ_U(tsl_keyset_count(set), 0);
    TT_CHECK(chmod(p, 0600) == 0);
    TT_OK(tsl_key_load(p, &k, NULL));
    TT_EQ_STR(tsl_key_kid(k), "12");
    tsl_key_free(k);
    TT_OK(tsl_keyset_load(set, p, NULL));
    TT_EQ_U(tsl_keyset_count(set), 1);
    tsl_keyset_free(set);
    free(jwk);

    /* Public keys may be world-readable. */
    unsigned char *pub = tt_read_file(vec(KID12_PUB), &n);
    p = tmp_path("pub.pem");
    TT_CHECK(write_file(p, pub, n, 0644) == 0);
    TT_OK(tsl_key_load(p, &k, NULL));
    TT_CHECK(!tsl_key_is_private(k));
    tsl_key_free(k);
    free(pub);

    tsl_error_clear(&err);
    TT_ERR(tsl_key_load(tmp_path("missing.pem"), &k, &err), TSL_ERR_IO);
    TT_CONTAINS(err.msg, "No such file");
    TT_ERR(tsl_key_load(tmpdir, &k, NULL), TSL_ERR_IO);
}

/* Each loader of key, certificate and trust files, on one path. */
static tsl_status load_as(int which, const char *path, tsl_error *err)
{
    tsl_status st = TSL_ERR_ARG;
    if (which == 0) {
        tsl_key *k = NULL;
        st = tsl_key_load(path, &k, err);
        tsl_key_free(k);
    } else if (which == 1) {
        tsl_keyset *s = NULL;
        if ((st = tsl_keyset_new(&s, err)) == TSL_OK)
            st = tsl_keyset_load(s, path, err);
        tsl_keyset_free(s);
    } else if (which == 2) {
        tsl_trust *t = NULL;
        if ((st = tsl_trust_new(&t, err)) == TSL_OK)
            st = tsl_trust_load(t, path, err);
        tsl_trust_free(t);
    } else {
        tsl_cert_chain *c = NULL;
        st = tsl_cert_chain_load(path, &c, err);
        tsl_cert_chain_free(c);
    }
    return st;
}

/* Runs load_as() in a child, so that a loader that blocks (as on a FIFO before the fix)
 * fails the test after 5 s instead of hanging the run. *ms gets the time taken. */
static tsl_status load_bounded(int which, const char *path, tsl_error *err, long *ms)
{
    int fd[2];
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    tsl_error_clear(err);
    if (pipe(fd) != 0)
        return TSL_ERR_IO;
    pid_t pid = fork();
    if (pid == 0) {
        close(fd[0]);
        tsl_error e;
        tsl_error_clear(&e);
        e.code = load_as(which, path, &e);
        ssize_t w = write(fd[1], &e, sizeof e);
        _exit(w == (ssize_t)sizeof e ? 0 : 1);
    }
    close(fd[1]);
    tsl_status st = TSL_ERR_IO;
    struct pollfd p = {fd[0], POLLIN, 0};
    if (pid > 0 && poll(&p, 1, 5000) == 1 && read(fd[0], err, sizeof *err) == sizeof *err)
        st = err->code;
    else
        snprintf(err->msg, sizeof err->msg, "loader %d did not return within 5 s", which);
    if (pid > 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    close(fd[0]);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    *ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    return st;
}

/* Issue 10 item 2: a key file that is a FIFO froze the publisher in open(). Every
 * loader refuses anything that is not a regular file, at once, naming it. */
TT_TEST(key_files_must_be_regular)
{
    const char *fifo = tmp_path("fifo");
    TT_CHECK(fifo != NULL);
    char fifo_path[256], sock_path[256];
    snprintf(fifo_path, sizeof fifo_path, "%s", fifo);
    unlink(fifo_path);
    TT_CHECK(mkfifo(fifo_path, 0600) == 0);
    snprintf(sock_path, sizeof sock_path, "%s", tmp_path("sock"));
    unlink(sock_path);
    int sfd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    TT_CHECK(strlen(sock_path) < sizeof sa.sun_path);
    memcpy(sa.sun_path, sock_path, strlen(sock_path) + 1);
    TT_CHECK(sfd >= 0 && bind(sfd, (struct sockaddr *)&sa, sizeof sa) == 0);
    static const char *const loaders[] = {"tsl_key_load", "tsl_keyset_load",
                                          "tsl_trust_load", "tsl_cert_chain_load"};
    const struct {
        const char *path, *says;
    } cases[] = {{fifo_path, "is a FIFO"},
                 {sock_path, "is a socket"},
                 {tmpdir, "is a directory"},
                 {"/dev/null", "is a character device"}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        for (int w = 0; w < 4; w++) {
            tsl_error err;
            long ms = 0;
            tsl_status st = load_bounded(w, cases[c].path, &err, &ms);
            if (st != TSL_ERR_IO || strstr(err.msg, cases[c].path) == NULL ||
                strstr(err.msg, cases[c].says) == NULL || ms > 2000) {
                tt_failf(__FILE__, __LINE__, "%s(%s): %s in %ld ms: \"%s\", expected %s",
                         loaders[w], cases[c].path, tsl_strerror(st), ms, err.msg,
                         cases[c].says);
                close(sfd);
                return;
            }
        }
    }
    close(sfd);
}

TT_TEST(keyset_kid_matching)
{
    tsl_keyset *set = NULL;
    TT_OK(tsl_keyset_new(&set, NULL));
    tsl_key *kid12 = load_mem(KID12_JWK, 1), *a1 = NULL, *a2 = NULL, *b = NULL, *h = NULL,
            *e0 = NULL;
    TT_CHECK(kid12 != NULL);
    TT_OK(tsl_key_generate(TSL_ALG_ES256, &e0, NULL));
    TT_OK(tsl_key_generate(TSL_ALG_ES256, &a1, NULL));
    TT_OK(tsl_key_generate(TSL_ALG_ES256, &a2, NULL));
    TT_OK(tsl_key_generate(TSL_ALG_EDDSA, &b, NULL));
    TT_OK(tsl_key_generate(TSL_ALG_HS256, &h, NULL));
    TT_OK(tsl_key_set_kid(a1, "a", NULL));
    TT_OK(tsl_key_set_kid(a2, "a", NULL));
    TT_OK(tsl_key_set_kid(b, "b", NULL));
    tsl_key *all[] = {kid12, e0, a1, a2, b, h};
    for (size_t i = 0; i < 6; i++) {
        TT_OK(tsl_keyset_add(set, all[i], NULL));
        tsl_key_free(all[i]); /* the set keeps its own reference */
    }
    TT_EQ_U(tsl_keyset_count(set), 6);
    TT_CHECK(tsl_keyset_get(set, 6) == NULL);
    /* With a kid: the keys of that kid first, then those without a kid (e0, h). */
    struct {
        const char *kid;
        tsl_alg alg;
        size_t want;
    } q[] = {{"a", TSL_ALG_ES256, 3},  {"12", TSL_ALG_ES256, 2}, {"12", TSL_ALG_ES384, 0},
             {NULL, TSL_ALG_ES256, 4}, {"b", TSL_ALG_EDDSA, 1},  {"b", TSL_ALG_ES256, 1},
             {NULL, TSL_ALG_HS256, 1}, {"", TSL_ALG_HS256, 1},   {"A", TSL_ALG_ES256, 1},
             {NULL, TSL_ALG_RS256, 0}};
    for (size_t i = 0; i < sizeof q / sizeof q[0]; i++) {
        size_t cur = 0, got = 0;
        int kidless_seen = 0;
        const tsl_key *k;
        while ((k = tslp_keyset_next(set, q[i].kid, q[i].alg, &cur)) != NULL) {
            got++;
            if (q[i].kid != NULL && tsl_key_kid(k) != NULL) {
                TT_EQ_STR(tsl_key_kid(k), q[i].kid);
                TT_CHECK(!kidless_seen);
            }
            kidless_seen |= q[i].kid != NULL && tsl_key_kid(k) == NULL;
            TT_OK(tsl_key_check_alg(k, q[i].alg, NULL));
        }
        if (got != q[i].want) {
            tt_failf(__FILE__, __LINE__, "query %zu: %zu keys, expected %zu", i, got,
                     q[i].want);
            return;
        }
    }

    /* A JWKS: unsupported keys skipped, a malformed one is an error, all or nothing. */
    static const char jwks[] =
        "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"r\","
        "\"x\":\"b28d4MwZMjw8-00CG4xfnn9SLMVMM19SlqZpVb_uNtQ\","
        "\"y\":\"Xv5zWwuoaTgdS6hV43yI6gBwTnjukmFQQnJ_kCxzqk8\"},"
        "{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"AA\"},{\"kty\":\"foo\"},"
        "{\"kty\":\"RSA\",\"alg\":\"RSA-OAEP\",\"n\":\"AQAB\",\"e\":\"AQAB\"}]}";
    TT_OK(tsl_keyset_add_jwks(set, jwks, sizeof jwks - 1, NULL));
    TT_EQ_U(tsl_keyset_count(set), 7);
    size_t cur = 0;
    TT_CHECK(tslp_keyset_next(set, "r", TSL_ALG_ES256, &cur) != NULL);
    static const char bad[] =
        "{\"keys\":[{\"kty\":\"oct\",\"k\":\"CwsLCwsLCwsLCwsLCwsLCwsL"
        "CwsLCwsLCwsLCwsLCws\"},{\"kty\":\"EC\",\"crv\":\"P-256\"}]}";
    tsl_error err;
    tsl_error_clear(&err);
    TT_ERR(tsl_keyset_add_jwks(set, bad, sizeof bad - 1, &err), TSL_ERR_MALFORMED);
    TT_CONTAINS(err.msg, "jwks: keys[1]: jwk: \"x\" is missing");
    TT_EQ_U(tsl_keyset_count(set), 7);
    TT_ERR(tsl_keyset_add_jwks(set, "{\"keys\":{}}", 11, NULL), TSL_ERR_MALFORMED);
    TT_ERR(tsl_keyset_add_jwks(set, "{}", 2, NULL), TSL_ERR_MALFORMED);

    /* A JWKS file and a PEM file with two keys. */
    const char *p = tmp_path("jwks.json");
    TT_CHECK(write_file(p, jwks, sizeof jwks - 1, 0644) == 0);
    TT_OK(tsl_keyset_load(set, p, NULL));
    TT_EQ_U(tsl_keyset_count(set), 8);
    size_t n1, n2;
    unsigned char *k1 = tt_read_file(vec(KID12_PUB), &n1);
    unsigned char *k2 =
        tt_read_file(vec(KEYS "rfc9901_example_issuer_es256.public.pem"), &n2);
    char *both = malloc(n1 + n2);
    memcpy(both, k1, n1);
    memcpy(both + n1, k2, n2);
    p = tmp_path("pub.pem");
    TT_CHECK(write_file(p, both, n1 + n2, 0644) == 0);
    TT_OK(tsl_keyset_load(set, p, NULL));
    TT_EQ_U(tsl_keyset_count(set), 10);
    free(both);
    free(k1);
    free(k2);
    tsl_keyset_free(set);
}

/* ---- X.509 chains, certificates made here ---- */

static int add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_nconf_nid(NULL, &ctx, nid, value);
    int ok = e != NULL && X509_add_ext(x, e, -1) == 1;
    X509_EXTENSION_free(e);
    return ok;
}

/* A certificate for key, issued by issuer (NULL: self-signed) with issuer_key. */
static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key,
                       int ca, const char *eku, time_t nb, time_t na)
{
    static long serial = 1;
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
    ASN1_TIME_set(X509_getm_notBefore(x), nb);
    ASN1_TIME_set(X509_getm_notAfter(x), na);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                               (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer)
                                   : X509_get_subject_name(x));
    X509_set_pubkey(x, key);
    int ok = add_ext(x, issuer, NID_basic_constraints,
                     ca ? "critical,CA:TRUE" : "critical,CA:FALSE") &&
             add_ext(x, issuer, NID_key_usage,
                     ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature") &&
             add_ext(x, issuer, NID_subject_key_identifier, "hash") &&
             (issuer == NULL ||
              add_ext(x, issuer, NID_authority_key_identifier, "keyid:always")) &&
             (eku == NULL || add_ext(x, issuer, NID_ext_key_usage, eku)) &&
             X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()) > 0;
    if (!ok) {
        X509_free(x);
        return NULL;
    }
    return x;
}

static char *cert_pem(X509 *x)
{
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(b, x);
    char *p = NULL;
    long n = BIO_get_mem_data(b, &p);
    char *s = malloc((size_t)n + 1);
    memcpy(s, p, (size_t)n);
    s[n] = '\0';
    BIO_free(b);
    return s;
}

#define T0 ((time_t)1700000000) /* 2023-11-14 */
#define YEAR ((time_t)31557600)
#define EKU_OID TSL_EKU_STATUS_SIGNING_DEFAULT

static struct {
    EVP_PKEY *ca_key, *int_key, *leaf_key, *other_key;
    X509 *ca, *inter, *leaf, *leaf_noeku, *leaf_old, *leaf_by_int, *other_ca;
    int made;
} pki;

static int make_pki(void)
{
    if (pki.made)
        return pki.made > 0;
    pki.made = -1;
    pki.ca_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    pki.int_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    pki.leaf_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    pki.other_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    pki.ca =
        make_cert(pki.ca_key, "tsl test CA", NULL, NULL, 1, NULL, T0, T0 + 30 * YEAR);
    pki.other_ca =
        make_cert(pki.other_key, "tsl test CA", NULL, NULL, 1, NULL, T0, T0 + 30 * YEAR);
    pki.inter = make_cert(pki.int_key, "tsl test intermediate", pki.ca, pki.ca_key, 1,
                          NULL, T0, T0 + 20 * YEAR);
    pki.leaf = make_cert(pki.leaf_key, "status issuer", pki.ca, pki.ca_key, 0,
                         "1.3.6.1.5.5.7.3.2," EKU_OID, T0, T0 + 10 * YEAR);
    pki.leaf_noeku = make_cert(pki.leaf_key, "status issuer", pki.ca, pki.ca_key, 0,
                               "1.3.6.1.5.5.7.3.2", T0, T0 + 10 * YEAR);
    pki.leaf_old = make_cert(pki.leaf_key, "status issuer", pki.ca, pki.ca_key, 0,
                             EKU_OID, T0, T0 + YEAR);
    pki.leaf_by_int = make_cert(pki.leaf_key, "status issuer", pki.inter, pki.int_key, 0,
                                EKU_OID, T0, T0 + 10 * YEAR);
    if (pki.ca && pki.other_ca && pki.inter && pki.leaf && pki.leaf_noeku &&
        pki.leaf_old && pki.leaf_by_int)
        pki.made = 1;
    return pki.made > 0;
}

__attribute__((destructor)) static void free_pki(void)
{
    X509 *xs[] = {pki.ca,       pki.inter,       pki.leaf,    pki.leaf_noeku,
                  pki.leaf_old, pki.leaf_by_int, pki.other_ca};
    for (size_t i = 0; i < sizeof xs / sizeof xs[0]; i++)
        X509_free(xs[i]);
    EVP_PKEY_free(pki.ca_key);
    EVP_PKEY_free(pki.int_key);
    EVP_PKEY_free(pki.leaf_key);
    EVP_PKEY_free(pki.other_key);
}

static tsl_trust *trust_of(X509 *anchor)
{
    tsl_trust *t = NULL;
    char *pem = cert_pem(anchor);
    if (tsl_trust_new(&t, NULL) != TSL_OK ||
        tsl_trust_add_pem(t, pem, strlen(pem), NULL) != TSL_OK) {
        tsl_trust_free(t);
        t = NULL;
    }
    free(pem);
    return t;
}

/* Verifies the chain x[0..n) (leaf first) against anchor at time now. */
static tsl_status verify_chain(X509 *anchor, X509 **x, size_t n, time_t now,
                               const char *eku, tsl_key **leaf, tsl_error *err)
{
    tsl_trust *t = trust_of(anchor);
    uint8_t *der[4] = {NULL};
    size_t len[4];
    for (size_t i = 0; i < n; i++)
        len[i] = (size_t)i2d_X509(x[i], &der[i]);
    tsl_error_clear(err);
    *leaf = NULL;
    tsl_status st =
        t ? tslp_chain_verify(t, (const uint8_t *const *)der, len, n, now, eku, leaf, err)
          : TSL_ERR_NOMEM;
    for (size_t i = 0; i < n; i++)
        OPENSSL_free(der[i]);
    tsl_trust_free(t);
    return st;
}

TT_TEST(chain_ca_leaf_with_eku)
{
    TT_CHECK(make_pki());
    tsl_key *leaf = NULL;
    tsl_error err;
    TT_OK(verify_chain(pki.ca, &pki.leaf, 1, T0 + YEAR, EKU_OID, &leaf, &err));
    TT_CHECK(leaf != NULL && !tsl_key_is_private(leaf));
    TT_EQ_U(tsl_key_default_alg(leaf), TSL_ALG_ES256);
    /* The leaf key verifies what the leaf's private key signed. */
    tsl_key *priv = NULL;
    TT_OK(tslp_key_from_pkey(EVP_PKEY_dup(pki.leaf_key), 1, "test", &priv, NULL));
    uint8_t *sig;
    size_t slen;
    TT_OK(tslp_sign(priv, TSL_ALG_ES256, (const uint8_t *)"t", 1, &sig, &slen, NULL));
    TT_OK(tslp_verify(leaf, TSL_ALG_ES256, (const uint8_t *)"t", 1, sig, slen, NULL));
    tslp_free(sig);
    tsl_key_free(priv);
    tsl_key_free(leaf);
    /* Without asking for the EKU, too. */
    TT_OK(verify_chain(pki.ca, &pki.leaf, 1, T0 + YEAR, NULL, &leaf, &err));
    tsl_key_free(leaf);
    /* Through an intermediate sent in the chain. */
    X509 *two[2] = {pki.leaf_by_int, pki.inter};
    TT_OK(verify_chain(pki.ca, two, 2, T0 + YEAR, EKU_OID, &leaf, &err));
    tsl_key_free(leaf);
    /* The intermediate alone as the anchor (partial chain). */
    TT_OK(verify_chain(pki.inter, two, 1, T0 + YEAR, EKU_OID, &leaf, &err));
    tsl_key_free(leaf);
}

TT_TEST(chain_rejections)
{
    TT_CHECK(make_pki());
    tsl_key *leaf = NULL;
    tsl_error err;
    TT_ERR(verify_chain(pki.ca, &pki.leaf_noeku, 1, T0 + YEAR, EKU_OID, &leaf, &err),
           TSL_ERR_TRUST);
    TT_CONTAINS(err.msg, "leaf lacks EKU 1.3.6.1.5.5.7.3.99");
    TT_OK(verify_chain(pki.ca, &pki.leaf_noeku, 1, T0 + YEAR, NULL, &leaf, &err));
    tsl_key_free(leaf);
    TT_ERR(verify_chain(pki.ca, &pki.leaf_old, 1, T0 + 2 * YEAR, EKU_OID, &leaf, &err),
           TSL_ERR_TRUST);
    TT_CONTAINS(err.msg, "certificate has expired");
    TT_ERR(verify_chain(pki.ca, &pki.leaf, 1, T0 - YEAR, EKU_OID, &leaf, &err),
           TSL_ERR_TRUST);
    TT_CONTAINS(err.msg, "certificate is not yet valid");
    TT_ERR(verify_chain(pki.other_ca, &pki.leaf, 1, T0 + YEAR, NULL, &leaf, &err),
           TSL_ERR_TRUST);
    TT_CONTAINS(err.msg, "unable to get local issuer certificate");
    /* The intermediate missing from the chain. */
    TT_ERR(verify_chain(pki.ca, &pki.leaf_by_int, 1, T0 + YEAR, NULL, &leaf, &err),
           TSL_ERR_TRUST);
    TT_CHECK(leaf == NULL);

    /* Bad DER, trailing bytes, a bad OID, no certificates. */
    tsl_trust *t = trust_of(pki.ca);
    TT_CHECK(t != NULL);
    uint8_t *der = NULL;
    int n = i2d_X509(pki.leaf, &der);
    uint8_t *longer = malloc((size_t)n + 1);
    memcpy(longer, der, (size_t)n);
    longer[n] = 0;
    const uint8_t *c[1] = {longer};
    size_t l[1] = {(size_t)n + 1};
    tsl_error_clear(&err);
    TT_ERR(tslp_chain_verify(t, c, l, 1, T0 + YEAR, NULL, &leaf, &err),
           TSL_ERR_MALFORMED);
    TT_CONTAINS(err.msg, "x5c[0]: bad DER");
    l[0] = (size_t)n - 1;
    TT_ERR(tslp_chain_verify(t, c, l, 1, T0 + YEAR, NULL, &leaf, NULL),
           TSL_ERR_MALFORMED);
    l[0] = (size_t)n;
    TT_ERR(tslp_chain_verify(t, c, l, 1, T0 + YEAR, "not an oid", &leaf, NULL),
           TSL_ERR_ARG);
    TT_ERR(tslp_chain_verify(t, c, l, 0, T0 + YEAR, NULL, &leaf, NULL), TSL_ERR_ARG);
    TT_OK(tslp_chain_verify(t, c, l, 1, T0 + YEAR, NULL, &leaf, NULL));
    tsl_key_free(leaf);
    free(longer);
    OPENSSL_free(der);
    tsl_trust_free(t);
    /* Trust anchors need at least one certificate. */
    TT_OK(tsl_trust_new(&t, NULL));
    TT_ERR(tsl_trust_add_pem(t, "nothing", 7, NULL), TSL_ERR_MALFORMED);
    tsl_trust_free(t);
}

TT_TEST(chain_certs_from_pem)
{
    TT_CHECK(make_pki());
    char *a = cert_pem(pki.leaf_by_int), *b = cert_pem(pki.inter);
    size_t n = strlen(a) + strlen(b) + 64;
    char *both = malloc(n);
    /* Other blocks in between are skipped. */
    snprintf(both, n, "%s-----BEGIN FOO-----\nAAAA\n-----END FOO-----\n%s", a, b);
    tslp_certs c;
    TT_OK(tslp_certs_from_pem(both, strlen(both), &c, NULL));
    TT_EQ_U(c.n, 2);
    uint8_t *der = NULL;
    int dl = i2d_X509(pki.inter, &der);
    TT_EQ_U(c.len[1], (size_t)dl);
    TT_EQ_MEM(c.der[1], der, (size_t)dl);
    OPENSSL_free(der);
    tslp_certs_free(&c);
    const char *p = tmp_path("certs.pem");
    TT_CHECK(write_file(p, both, strlen(both), 0644) == 0);
    TT_OK(tslp_certs_load(p, &c, NULL));
    TT_EQ_U(c.n, 2);
    tslp_certs_free(&c);
    TT_ERR(tslp_certs_from_pem("x", 1, &c, NULL), TSL_ERR_MALFORMED);
    /* A certificate as a key: its public key, and the certificate is kept. */
    tsl_key *k = NULL;
    TT_OK(tsl_key_from_pem(a, strlen(a), &k, NULL));
    TT_CHECK(k->cert != NULL && !tsl_key_is_private(k));
    tsl_key_free(k);
    free(a);
    free(b);
    free(both);
}

/* ---- allocation failures ---- */

static void sweep(const char *jwk, int jwks)
{
    int succeeded = 0;
    for (long n = 1; n < 200 && !succeeded; n++) {
        tsl_key *k = NULL;
        tsl_keyset *set = NULL;
        tsl_status st;
        if (jwks) {
            if (tsl_keyset_new(&set, NULL) != TSL_OK)
                return;
            tslp_test_fail_alloc_after(n);
            st = tsl_keyset_add_jwks(set, jwk, strlen(jwk), NULL);
            tslp_test_fail_alloc_after(0);
            if (st == TSL_OK)
                TT_CHECK(tsl_keyset_count(set) > 0);
            else
                TT_EQ_U(tsl_keyset_count(set), 0);
            tsl_keyset_free(set);
        } else {
            tslp_test_fail_alloc_after(n);
            st = tsl_key_from_jwk(jwk, strlen(jwk), &k, NULL);
            tslp_test_fail_alloc_after(0);
            if (st != TSL_OK)
                TT_CHECK(k == NULL);
            if (st == TSL_OK) {
                char *t = NULL;
                tslp_test_fail_alloc_after(1);
                TT_ERR(tsl_key_thumbprint(k, &t, NULL), TSL_ERR_NOMEM);
                tslp_test_fail_alloc_after(0);
            }
            tsl_key_free(k);
        }
        if (st == TSL_OK)
            succeeded = 1;
        else if (st != TSL_ERR_NOMEM) {
            tt_failf(__FILE__, __LINE__, "allocation %ld: %s, expected out of memory", n,
                     tsl_strerror(st));
            return;
        }
    }
    TT_CHECK(succeeded);
}

TT_TEST(jwk_alloc_failure_sweep)
{
    size_t n;
    unsigned char *kid12 = tt_read_file(vec(KID12_JWK), &n);
    sweep((const char *)kid12, 0);
    free(kid12);
    if (tt_failed)
        return;
    sweep(RFC7638_JWK, 0);
    if (tt_failed)
        return;
    sweep("{\"kty\":\"oct\",\"kid\":\"h\",\"k\":"
          "\"CwsLCwsLCwsLCwsLCwsLCwsLCwsLCwsLCwsLCwsLCws\"}",
          0);
    if (tt_failed)
        return;
    sweep("{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"d\":\"nWGxne_"
          "9WmC6hEr0kuwsxERJxWl7MmkZcDusAx"
          "yuf2A\",\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}",
          0);
    if (tt_failed)
        return;
    sweep("{\"keys\":[{\"kty\":\"oct\",\"k\":"
          "\"CwsLCwsLCwsLCwsLCwsLCwsLCwsLCwsLCwsLCwsLCws\"},"
          "{\"kty\":\"oct\",\"kid\":\"2\",\"k\":"
          "\"CwsLCwsLCwsLCwsLCwsLCwsLCwsLCwsLCwsLCwsLCws\"},"
          "{\"kty\":\"oct\",\"kid\":\"3\",\"k\":"
          "\"CwsLCwsLCwsLCwsLCwsLCwsLCwsLCwsLCwsLCwsLCws\"},"
          "{\"kty\":\"oct\",\"kid\":\"4\",\"k\":"
          "\"CwsLCwsLCwsLCwsLCwsLCwsLCwsLCwsLCwsLCwsLCws\"},"
          "{\"kty\":\"oct\",\"kid\":\"5\",\"k\":"
          "\"CwsLCwsLCwsLCwsLCwsLCwsLCwsLCwsLCwsLCwsLCws\"}]}",
          1);
}

TT_TEST(alg_names_and_cose_ids)
{
    static const struct {
        tsl_alg alg;
        const char *name;
        int64_t cose;
    } t[] = {{TSL_ALG_ES256, "ES256", -7},   {TSL_ALG_ES384, "ES384", -35},
             {TSL_ALG_ES512, "ES512", -36},  {TSL_ALG_EDDSA, "EdDSA", -8},
             {TSL_ALG_RS256, "RS256", -257}, {TSL_ALG_RS384, "RS384", -258},
             {TSL_ALG_RS512, "RS512", -259}, {TSL_ALG_PS256, "PS256", -37},
             {TSL_ALG_PS384, "PS384", -38},  {TSL_ALG_PS512, "PS512", -39},
             {TSL_ALG_HS256, "HS256", 5}};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        TT_EQ_STR(tsl_alg_name(t[i].alg), t[i].name);
        TT_EQ_U(tsl_alg_from_name(t[i].name), t[i].alg);
        TT_EQ_U(tsl_alg_cose_id(t[i].alg), (uint64_t)t[i].cose);
        TT_EQ_U(tsl_alg_from_cose_id(t[i].cose), t[i].alg);
    }
    TT_CHECK(tsl_alg_name(TSL_ALG_UNKNOWN) == NULL);
    TT_EQ_U(tsl_alg_from_name("none"), TSL_ALG_UNKNOWN);
    TT_EQ_U(tsl_alg_from_name("es256"), TSL_ALG_UNKNOWN);
    TT_EQ_U(tsl_alg_from_name("Ed25519"), TSL_ALG_UNKNOWN);
    TT_EQ_U(tsl_alg_from_name(NULL), TSL_ALG_UNKNOWN);
    TT_EQ_U(tsl_alg_from_cose_id(0), TSL_ALG_UNKNOWN);
    TT_EQ_U(tsl_alg_from_cose_id(-6), TSL_ALG_UNKNOWN); /* "direct" */
    TT_EQ_U(tsl_alg_cose_id(TSL_ALG_UNKNOWN), 0);
}

/* ---- tokens carrying x5c / x5chain ---- */

/* Signs a small list with the PKI's leaf key, carrying chain x[0..n) in the header. */
static tsl_status sign_with_chain(tsl_format f, X509 **x, size_t n, uint8_t **tok,
                                  size_t *tl)
{
    char *pem = pem_of(pki.leaf_key, OSSL_KEYMGMT_SELECT_KEYPAIR, "PrivateKeyInfo");
    tsl_key *k = NULL;
    tsl_list *l = NULL;
    uint8_t *der[4] = {NULL};
    size_t len[4];
    for (size_t i = 0; i < n; i++)
        len[i] = (size_t)i2d_X509(x[i], &der[i]);
    tsl_token_params p;
    memset(&p, 0, sizeof p);
    p.format = f;
    p.sub = "https://example.com/statuslists/x5c";
    p.iat = T0 + 100;
    p.exp = T0 + 2 * YEAR;
    tsl_cert_chain *chain = NULL;
    tsl_status st = n > 0 ? tsl_cert_chain_from_der((const uint8_t *const *)der, len, n,
                                                    &chain, NULL)
                          : TSL_OK;
    p.x5c = chain;
    if (st == TSL_OK)
        st = from_pem_str(pem, &k, NULL);
    if (st == TSL_OK)
        st = tsl_list_new(1, 16, &l, NULL);
    if (st == TSL_OK)
        st = tsl_list_set(l, 3, 1, NULL);
    if (st == TSL_OK)
        st = tsl_token_sign(l, &p, k, tok, tl, NULL);
    tsl_cert_chain_free(chain);
    for (size_t i = 0; i < n; i++)
        OPENSSL_free(der[i]);
    tsl_list_free(l);
    tsl_key_free(k);
    free(pem);
    return st;
}

static tsl_status verify_token(const uint8_t *tok, size_t tl, X509 *anchor, int eku,
                               time_t now, tsl_error *err)
{
    tsl_token *t = NULL;
    tsl_trust *trust = anchor ? trust_of(anchor) : NULL;
    tsl_error_clear(err);
    tsl_status st = tsl_token_parse(tok, tl, NULL, &t, err);
    if (st == TSL_OK) {
        tsl_verify_opts o;
        memset(&o, 0, sizeof o);
        o.policy.trust = trust;
        o.policy.require_eku = eku;
        o.policy.now = now;
        st = tsl_token_verify(t, &o, err);
    }
    tsl_token_free(t);
    tsl_trust_free(trust);
    return st;
}

TT_TEST(token_x5c_chains_to_anchor)
{
    TT_CHECK(make_pki());
    for (int f = TSL_FORMAT_JWT; f <= TSL_FORMAT_CWT; f++) {
        uint8_t *tok;
        size_t tl;
        tsl_error err;
        X509 *chain1[] = {pki.leaf};
        TT_OK(sign_with_chain((tsl_format)f, chain1, 1, &tok, &tl));
        TT_OK(verify_token(tok, tl, pki.ca, 1, T0 + YEAR, &err));
        TT_ERR(verify_token(tok, tl, pki.other_ca, 0, T0 + YEAR, &err), TSL_ERR_TRUST);
        /* The token's own certificate is never trusted without an anchor. */
        TT_ERR(verify_token(tok, tl, NULL, 0, T0 + YEAR, &err), TSL_ERR_TRUST);
        TT_CONTAINS(err.msg, "trust anchors");
        /* A leaf past its notAfter fails even though the token has not expired. */
        TT_ERR(verify_token(tok, tl, pki.ca, 0, T0 + 11 * YEAR, &err), TSL_ERR_TRUST);
        tsl_free(tok);

        X509 *noeku[] = {pki.leaf_noeku};
        TT_OK(sign_with_chain((tsl_format)f, noeku, 1, &tok, &tl));
        TT_OK(verify_token(tok, tl, pki.ca, 0, T0 + YEAR, &err));
        TT_ERR(verify_token(tok, tl, pki.ca, 1, T0 + YEAR, &err), TSL_ERR_TRUST);
        TT_CONTAINS(err.msg, "EKU");
        tsl_free(tok);

        X509 *via_int[] = {pki.leaf_by_int, pki.inter};
        TT_OK(sign_with_chain((tsl_format)f, via_int, 2, &tok, &tl));
        TT_OK(verify_token(tok, tl, pki.ca, 1, T0 + YEAR, &err));
        tsl_free(tok);

        /* A chain whose leaf holds another key: the signature check fails. */
        X509 *wrong[] = {pki.inter};
        TT_OK(sign_with_chain((tsl_format)f, wrong, 1, &tok, &tl));
        TT_CHECK(verify_token(tok, tl, pki.ca, 0, T0 + YEAR, &err) != TSL_OK);
        tsl_free(tok);
    }
}

/* ---- JWKS bounds and key purposes (issue 10 item 19) ---- */

/* A public JWK of key with extra members spliced in after the '{' ("" for none).
 * Free with free(). */
static char *jwk_with(const tsl_key *key, const char *extra)
{
    char *j = NULL;
    if (tsl_key_to_public_jwk(key, &j, NULL) != TSL_OK)
        return NULL;
    size_t n = strlen(j) + strlen(extra) + 2;
    char *out = malloc(n);
    if (out != NULL)
        snprintf(out, n, "{%s%s%s", extra, extra[0] ? "," : "", j + 1);
    tsl_free(j);
    return out;
}

/* {"keys":[...]} with n copies of the key, kids "0".."n-1". Free with free(). */
static char *jwks_of_n(const tsl_key *key, size_t n)
{
    char *one = jwk_with(key, "");
    if (one == NULL)
        return NULL;
    size_t each = strlen(one) + 32, cap = 16 + n * each, len = 0;
    char *s = malloc(cap);
    if (s != NULL) {
        len += (size_t)snprintf(s, cap, "{\"keys\":[");
        for (size_t i = 0; i < n; i++)
            len += (size_t)snprintf(s + len, cap - len, "%s{\"kid\":\"%zu\",%s", i ? "," : "",
                                    i, one + 1);
        snprintf(s + len, cap - len, "]}");
    }
    free(one);
    return s;
}

static long ms_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (t1.tv_sec - t0->tv_sec) * 1000 + (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

/* 10^5 keys in a JWKS cost 7 s and 350 MB. One JWKS now holds at most
 * TSL_JWKS_MAX_KEYS keys in TSL_JWKS_MAX_BYTES, and more is refused before any key is
 * parsed, with the bound named; a PEM file of keys has the same key bound. */
TT_TEST(jwks_size_bounds)
{
    tsl_key *k = NULL;
    TT_OK(tsl_key_generate(TSL_ALG_ES256, &k, NULL));
    char *at = jwks_of_n(k, TSL_JWKS_MAX_KEYS), *over = jwks_of_n(k, TSL_JWKS_MAX_KEYS + 1);
    TT_CHECK(at != NULL && over != NULL);
    tsl_keyset *set = NULL;
    TT_OK(tsl_keyset_new(&set, NULL));
    TT_OK(tsl_keyset_add_jwks(set, at, strlen(at), NULL));
    TT_EQ_U(tsl_keyset_count(set), TSL_JWKS_MAX_KEYS);

    tsl_error err;
    tsl_error_clear(&err);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    TT_ERR(tsl_keyset_add_jwks(set, over, strlen(over), &err), TSL_ERR_LIMIT);
    long ms = ms_since(&t0);
    TT_CONTAINS(err.msg, "TSL_JWKS_MAX_KEYS");
    TT_EQ_U(tsl_keyset_count(set), TSL_JWKS_MAX_KEYS); /* unchanged */
    if (ms > 2000) { /* generous: the machine may be loaded; parsing takes ~1 ms */
        tt_failf(__FILE__, __LINE__, "refusing %d keys took %ld ms", TSL_JWKS_MAX_KEYS + 1,
                 ms);
        return;
    }
    /* The same from a file. */
    const char *p = tmp_path("big.jwks");
    TT_CHECK(write_file(p, over, strlen(over), 0644) == 0);
    tsl_error_clear(&err);
    TT_ERR(tsl_keyset_load(set, p, &err), TSL_ERR_LIMIT);
    TT_CONTAINS(err.msg, "TSL_JWKS_MAX_KEYS");

    /* One key padded past TSL_JWKS_MAX_BYTES: refused before jansson parses it. */
    size_t big = TSL_JWKS_MAX_BYTES + 1;
    char *pad = malloc(big + 1);
    TT_CHECK(pad != NULL);
    memset(pad, ' ', big);
    char *one = jwk_with(k, "");
    TT_CHECK(one != NULL);
    size_t ol = strlen(one);
    memcpy(pad, "{\"keys\":[", 9);
    memcpy(pad + 9, one, ol);
    memcpy(pad + big - 2, "]}", 2);
    pad[big] = '\0';
    tsl_error_clear(&err);
    TT_ERR(tsl_keyset_add_jwks(set, pad, big, &err), TSL_ERR_LIMIT);
    TT_CONTAINS(err.msg, "TSL_JWKS_MAX_BYTES");
    TT_CHECK(write_file(p, pad, big, 0644) == 0);
    tsl_error_clear(&err);
    TT_ERR(tsl_keyset_load(set, p, &err), TSL_ERR_LIMIT);
    TT_CONTAINS(err.msg, "TSL_JWKS_MAX_BYTES");
    /* Just under the bound is fine. */
    memcpy(pad + big - 3, "]}", 3);
    tsl_keyset_free(set);
    TT_OK(tsl_keyset_new(&set, NULL));
    TT_OK(tsl_keyset_add_jwks(set, pad, big - 1, NULL));
    TT_EQ_U(tsl_keyset_count(set), 1);
    free(pad);
    free(one);

    /* A PEM file with one key more than the bound. */
    size_t n1;
    unsigned char *pub = tt_read_file(vec(KID12_PUB), &n1);
    char *pems = malloc(n1 * (TSL_JWKS_MAX_KEYS + 1));
    TT_CHECK(pems != NULL);
    for (size_t i = 0; i <= TSL_JWKS_MAX_KEYS; i++)
        memcpy(pems + i * n1, pub, n1);
    TT_CHECK(write_file(p, pems, n1 * (TSL_JWKS_MAX_KEYS + 1), 0644) == 0);
    tsl_error_clear(&err);
    TT_ERR(tsl_keyset_load(set, p, &err), TSL_ERR_LIMIT);
    TT_CONTAINS(err.msg, "TSL_JWKS_MAX_KEYS");
    TT_EQ_U(tsl_keyset_count(set), 1);
    TT_CHECK(write_file(p, pems, n1 * TSL_JWKS_MAX_KEYS, 0644) == 0);
    TT_OK(tsl_keyset_load(set, p, NULL));
    TT_EQ_U(tsl_keyset_count(set), 1 + TSL_JWKS_MAX_KEYS);
    free(pems);
    free(pub);
    free(at);
    free(over);
    tsl_keyset_free(set);
    tsl_key_free(k);
}

/* JWKs with "use":"enc" or "key_ops" without "verify" were used for verification.
 * Given alone they are refused with a message; in a JWKS they are skipped, and the
 * reason is kept; a JWKS of nothing else is refused. */
TT_TEST(jwk_use_and_key_ops)
{
    tsl_key *k = NULL;
    TT_OK(tsl_key_generate(TSL_ALG_ES256, &k, NULL));
    char *enc = jwk_with(k, "\"kid\":\"e\",\"use\":\"enc\"");
    char *sig = jwk_with(k, "\"kid\":\"s\",\"use\":\"sig\"");
    char *osign = jwk_with(k, "\"kid\":\"o\",\"key_ops\":[\"sign\"]");
    char *over = jwk_with(k, "\"kid\":\"v\",\"key_ops\":[\"verify\",\"sign\"]");
    char *oenc = jwk_with(k, "\"key_ops\":[\"encrypt\",\"wrapKey\"]");
    TT_CHECK(enc && sig && osign && over && oenc);
    tsl_keyset *set = NULL;
    TT_OK(tsl_keyset_new(&set, NULL));
    tsl_error err;

    /* Alone: parsed (a JWK may be read), but never added to a keyset. */
    tsl_key *e = NULL;
    TT_OK(tsl_key_from_jwk(enc, strlen(enc), &e, NULL));
    tsl_error_clear(&err);
    TT_ERR(tsl_keyset_add(set, e, &err), TSL_ERR_KEY);
    TT_CONTAINS(err.msg, "\"use\" is \"enc\"");
    tsl_error_clear(&err);
    TT_ERR(tsl_key_check_alg(e, TSL_ALG_ES256, &err), TSL_ERR_KEY);
    TT_CONTAINS(err.msg, "not a signature key");
    tsl_key_free(e);
    TT_OK(tsl_key_from_jwk(osign, strlen(osign), &e, NULL));
    TT_OK(tsl_key_check_alg(e, TSL_ALG_ES256, NULL)); /* it may sign */
    tsl_error_clear(&err);
    TT_ERR(tsl_keyset_add(set, e, &err), TSL_ERR_KEY);
    TT_CONTAINS(err.msg, "\"key_ops\" does not list \"verify\"");
    tsl_key_free(e);
    TT_OK(tsl_key_from_jwk(oenc, strlen(oenc), &e, NULL));
    tsl_error_clear(&err);
    TT_ERR(tsl_key_check_alg(e, TSL_ALG_ES256, &err), TSL_ERR_KEY);
    TT_CONTAINS(err.msg, "neither \"sign\" nor \"verify\"");
    tsl_key_free(e);
    TT_EQ_U(tsl_keyset_count(set), 0);
    /* A secret whose key_ops list only "verify" verifies but never signs. */
    const char *vonly = "{\"kty\":\"oct\",\"k\":\"c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTMyYnl0ZXMh\","
                        "\"key_ops\":[\"verify\"]}";
    TT_OK(tsl_key_from_jwk(vonly, strlen(vonly), &e, NULL));
    uint8_t *vsig = NULL;
    size_t vlen = 0;
    tsl_error_clear(&err);
    TT_ERR(tslp_sign(e, TSL_ALG_HS256, (const uint8_t *)"m", 1, &vsig, &vlen, &err),
           TSL_ERR_KEY);
    TT_CONTAINS(err.msg, "does not list \"sign\"");
    TT_CHECK(vsig == NULL);
    tsl_key_free(e);
    /* "use":"sig" and "key_ops" with "verify" are fine. */
    TT_OK(tsl_key_from_jwk(sig, strlen(sig), &e, NULL));
    TT_OK(tsl_keyset_add(set, e, NULL));
    tsl_key_free(e);
    TT_OK(tsl_key_from_jwk(over, strlen(over), &e, NULL));
    TT_OK(tsl_keyset_add(set, e, NULL));
    tsl_key_free(e);
    TT_EQ_U(tsl_keyset_count(set), 2);
    tsl_keyset_free(set);

    /* A JWK file given as the key is refused, naming the file and why. */
    const char *p = tmp_path("jwks.json");
    TT_CHECK(write_file(p, enc, strlen(enc), 0644) == 0);
    TT_OK(tsl_keyset_new(&set, NULL));
    tsl_error_clear(&err);
    TT_ERR(tsl_keyset_load(set, p, &err), TSL_ERR_KEY);
    TT_CONTAINS(err.msg, p);
    TT_CONTAINS(err.msg, "\"use\" is \"enc\"");

    /* In a JWKS: skipped, with the reason kept. */
    size_t n = strlen(enc) + strlen(sig) + strlen(osign) + strlen(over) + 32;
    char *jwks = malloc(n);
    snprintf(jwks, n, "{\"keys\":[%s,%s,%s,%s]}", enc, sig, osign, over);
    TT_OK(tsl_keyset_add_jwks(set, jwks, strlen(jwks), NULL));
    TT_EQ_U(tsl_keyset_count(set), 2);
    const char *why = NULL;
    TT_EQ_U(tsl_keyset_skipped(set, &why), 2);
    TT_CONTAINS(why, "keys[0] (kid \"e\")");
    TT_CONTAINS(why, "\"use\" is \"enc\"");
    size_t cur = 0;
    TT_CHECK(tslp_keyset_next(set, "e", TSL_ALG_ES256, &cur) == NULL);
    cur = 0;
    TT_CHECK(tslp_keyset_next(set, "o", TSL_ALG_ES256, &cur) == NULL);
    cur = 0;
    TT_CHECK(tslp_keyset_next(set, "v", TSL_ALG_ES256, &cur) != NULL);
    /* A JWKS with only such keys: refused, the set unchanged. */
    snprintf(jwks, n, "{\"keys\":[%s,%s]}", enc, osign);
    tsl_error_clear(&err);
    TT_ERR(tsl_keyset_add_jwks(set, jwks, strlen(jwks), &err), TSL_ERR_KEY);
    TT_CONTAINS(err.msg, "no key for verifying signatures: keys[0]");
    TT_CONTAINS(err.msg, "\"enc\"");
    TT_EQ_U(tsl_keyset_count(set), 2);
    TT_EQ_U(tsl_keyset_skipped(set, NULL), 2);
    free(jwks);
    tsl_keyset_free(set);

    /* Malformed "use" and "key_ops" are errors, not skips. */
    static const char *const bad[] = {"\"use\":5", "\"key_ops\":\"verify\"",
                                      "\"key_ops\":[1]", "\"key_ops\":[\"verify\",\"verify\"]"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *j = jwk_with(k, bad[i]);
        tsl_key *x = NULL;
        tsl_error_clear(&err);
        TT_ERR(tsl_key_from_jwk(j, strlen(j), &x, &err), TSL_ERR_MALFORMED);
        TT_CHECK(strstr(err.msg, "use") != NULL || strstr(err.msg, "key_ops") != NULL);
        free(j);
    }
    free(enc);
    free(sig);
    free(osign);
    free(over);
    free(oenc);
    tsl_key_free(k);
}

/* ---- signers: tokens through tsl_signer (key in memory, or callbacks) ---- */

/* A callback signer standing in for an HSM: it signs with an inner key signer and
 * copies the raw signature out, or fails as told. */
typedef struct {
    tsl_signer *inner; /* NULL: fail */
    tsl_status fail;   /* the status to fail with */
    const char *msg;   /* the message to fail with, or NULL for none */
    size_t claim;      /* nonzero: claim this length (a lying device) */
    int *freed;        /* set when the signer releases ctx */
} hsm_ctx;

static tsl_status hsm_sign(void *ctx, const uint8_t *msg, size_t len, uint8_t *sig,
                           size_t cap, size_t *sig_len, tsl_error *err)
{
    hsm_ctx *h = ctx;
    if (h->inner == NULL) {
        if (h->msg != NULL && err != NULL) {
            err->code = h->fail;
            snprintf(err->msg, sizeof err->msg, "%s", h->msg);
        }
        return h->fail;
    }
    uint8_t *s = NULL;
    size_t n = 0;
    tsl_status st = tsl_signer_sign(h->inner, msg, len, &s, &n, err);
    if (st != TSL_OK)
        return st;
    if (n > cap) {
        tsl_free(s);
        return TSL_ERR_CRYPTO;
    }
    memcpy(sig, s, n);
    tsl_free(s);
    *sig_len = h->claim ? h->claim : n;
    return TSL_OK;
}

static void hsm_free(void *ctx)
{
    hsm_ctx *h = ctx;
    ++*h->freed;
}

static const tsl_signer_ops hsm_ops = {hsm_sign, hsm_free};

/* A 16-entry list with entry 3 set, and claims for it. */
static tsl_list *signer_list(tsl_token_params *p, tsl_format f)
{
    tsl_list *l = NULL;
    if (tsl_list_new(1, 16, &l, NULL) != TSL_OK || tsl_list_set(l, 3, 1, NULL) != TSL_OK) {
        tsl_list_free(l);
        return NULL;
    }
    memset(p, 0, sizeof *p);
    p->format = f;
    p->sub = "https://example.com/statuslists/signer";
    p->iat = (int64_t)time(NULL) - 10;
    p->exp = p->iat + 3600;
    return l;
}

/* Every algorithm, both forms: a callback signer wrapping a key makes tokens that
 * verify under the public key and name the signer's kid; for the deterministic
 * algorithms the bytes equal tsl_token_sign's with the same key, kid and claims. */
TT_TEST(signer_callbacks_every_alg_and_form)
{
    for (int a = TSL_ALG_ES256; a < TSL_ALG_COUNT; a++) {
        for (int f = TSL_FORMAT_JWT; f <= TSL_FORMAT_CWT; f++) {
            tsl_key *k = gen((tsl_alg)a);
            TT_CHECK(k != NULL);
            int freed = 0;
            hsm_ctx h = {NULL, TSL_OK, NULL, 0, &freed};
            TT_OK(tsl_signer_from_key(k, (tsl_alg)a, "hsm-1", NULL, &h.inner, NULL));
            tsl_signer *s = NULL;
            TT_OK(tsl_signer_new(&hsm_ops, &h, (tsl_alg)a, "hsm-1", NULL, &s, NULL));
            TT_EQ_U(tsl_signer_alg(s), a);
            TT_EQ_STR(tsl_signer_kid(s), "hsm-1");
            tsl_token_params p;
            tsl_list *l = signer_list(&p, (tsl_format)f);
            TT_CHECK(l != NULL);
            uint8_t *tok = NULL, *ref = NULL;
            size_t tl = 0, rl = 0;
            tsl_error err;
            tsl_error_clear(&err);
            tsl_status st = tsl_token_sign_with(l, &p, s, &tok, &tl, &err);
            tsl_signer_free(s);
            TT_EQ_U(freed, 1);
            if (st != TSL_OK)
                tt_failf(__FILE__, __LINE__, "%s/%d: %s", tsl_alg_name((tsl_alg)a), f,
                         err.msg);
            TT_OK(st);
            /* The key path for comparison: same key, alg, kid and claims. */
            p.alg = (tsl_alg)a;
            p.kid = "hsm-1";
            TT_OK(tsl_token_sign(l, &p, k, &ref, &rl, NULL));
            int randomized = (a >= TSL_ALG_ES256 && a <= TSL_ALG_ES512) ||
                             (a >= TSL_ALG_PS256 && a <= TSL_ALG_PS512);
            if (!randomized) {
                TT_EQ_U(tl, rl);
                TT_CHECK(memcmp(tok, ref, tl) == 0);
            }
            tsl_token *t = NULL;
            tsl_keyset *ks = NULL;
            tsl_key *pub = public_of(k);
            TT_CHECK(pub != NULL);
            TT_OK(tsl_keyset_new(&ks, NULL));
            TT_OK(tsl_keyset_add(ks, pub, NULL));
            tsl_key_free(pub);
            TT_OK(tsl_token_parse(tok, tl, NULL, &t, NULL));
            TT_EQ_U(tsl_token_alg(t), a);
            size_t kl = 0;
            const uint8_t *kid = tsl_token_kid(t, &kl);
            TT_CHECK(kid != NULL && kl == 5 && memcmp(kid, "hsm-1", 5) == 0);
            tsl_verify_opts o;
            memset(&o, 0, sizeof o);
            o.policy.keys = ks;
            o.policy.algs = TSL_ALG_BIT(a);
            tsl_error_clear(&err);
            st = tsl_token_verify(t, &o, &err);
            if (st != TSL_OK)
                tt_failf(__FILE__, __LINE__, "%s/%d: %s", tsl_alg_name((tsl_alg)a), f,
                         err.msg);
            TT_OK(st);
            tsl_token_free(t);
            tsl_keyset_free(ks);
            tsl_signer_free(h.inner);
            tsl_free(tok);
            tsl_free(ref);
            tsl_list_free(l);
        }
    }
}

/* A failing device: its status and message reach the caller of tsl_token_sign_with;
 * without a message the signer names the callback; a length past the buffer is
 * TSL_ERR_CRYPTO; no token is made. */
TT_TEST(signer_callback_error_propagates)
{
    int freed = 0;
    hsm_ctx h = {NULL, TSL_ERR_IO, "pkcs11: C_Sign: CKR_DEVICE_REMOVED", 0, &freed};
    tsl_signer *s = NULL;
    TT_OK(tsl_signer_new(&hsm_ops, &h, TSL_ALG_ES256, NULL, NULL, &s, NULL));
    for (int f = TSL_FORMAT_JWT; f <= TSL_FORMAT_CWT; f++) {
        tsl_token_params p;
        tsl_list *l = signer_list(&p, (tsl_format)f);
        TT_CHECK(l != NULL);
        uint8_t *tok = NULL;
        size_t tl = 0;
        tsl_error err;
        tsl_error_clear(&err);
        h.msg = "pkcs11: C_Sign: CKR_DEVICE_REMOVED";
        TT_ERR(tsl_token_sign_with(l, &p, s, &tok, &tl, &err), TSL_ERR_IO);
        TT_EQ_STR(err.msg, "pkcs11: C_Sign: CKR_DEVICE_REMOVED");
        TT_CHECK(tok == NULL);
        h.msg = NULL;
        tsl_error_clear(&err);
        TT_ERR(tsl_token_sign_with(l, &p, s, &tok, &tl, &err), TSL_ERR_IO);
        TT_CONTAINS(err.msg, "the sign callback failed");
        TT_CHECK(tok == NULL);
        tsl_list_free(l);
    }
    tsl_signer_free(s);
    TT_EQ_U(freed, 1);

    /* A device that claims more bytes than the buffer holds. */
    h.fail = TSL_OK;
    h.claim = TSL_SIGNATURE_MAX + 1;
    TT_OK(tsl_signer_from_key(gen(TSL_ALG_ES256), TSL_ALG_UNKNOWN, NULL, NULL, &h.inner,
                              NULL));
    TT_OK(tsl_signer_new(&hsm_ops, &h, TSL_ALG_ES256, NULL, NULL, &s, NULL));
    tsl_token_params p;
    tsl_list *l = signer_list(&p, TSL_FORMAT_JWT);
    TT_CHECK(l != NULL);
    uint8_t *tok = NULL;
    size_t tl = 0;
    tsl_error err;
    tsl_error_clear(&err);
    TT_ERR(tsl_token_sign_with(l, &p, s, &tok, &tl, &err), TSL_ERR_CRYPTO);
    TT_CONTAINS(err.msg, "returned 2049 bytes");
    tsl_signer_free(s);
    tsl_signer_free(h.inner);
    TT_EQ_U(freed, 2);

    /* The header comes from the signer only. */
    TT_OK(tsl_signer_from_key(gen(TSL_ALG_EDDSA), TSL_ALG_UNKNOWN, NULL, NULL, &s, NULL));
    p.kid = "other";
    TT_ERR(tsl_token_sign_with(l, &p, s, &tok, &tl, NULL), TSL_ERR_ARG);
    p.kid = NULL;
    p.alg = TSL_ALG_EDDSA;
    TT_ERR(tsl_token_sign_with(l, &p, s, &tok, &tl, NULL), TSL_ERR_ARG);
    tsl_signer_free(s);
    tsl_list_free(l);

    /* Bad construction: ctx is released all the same; a public key cannot sign; an
     * algorithm that does not fit the key is refused. */
    tsl_signer_ops none = {NULL, hsm_free};
    TT_ERR(tsl_signer_new(&none, &h, TSL_ALG_ES256, NULL, NULL, &s, NULL), TSL_ERR_ARG);
    TT_EQ_U(freed, 3);
    TT_ERR(tsl_signer_new(&hsm_ops, &h, TSL_ALG_UNKNOWN, NULL, NULL, &s, NULL),
           TSL_ERR_ARG);
    TT_EQ_U(freed, 4);
    tsl_key *pub = public_of(gen(TSL_ALG_ES256));
    TT_CHECK(pub != NULL);
    tsl_error_clear(&err);
    TT_ERR(tsl_signer_from_key(pub, TSL_ALG_UNKNOWN, NULL, NULL, &s, &err), TSL_ERR_KEY);
    TT_CONTAINS(err.msg, "the key is public");
    tsl_key_free(pub);
    TT_CHECK(tsl_signer_from_key(gen(TSL_ALG_ES256), TSL_ALG_EDDSA, NULL, NULL, &s, NULL) !=
             TSL_OK);
    TT_CHECK(s == NULL);
}

/* One chain type: built from DER, it goes into the header through the params and
 * through a signer alike (same bytes), is copied by the signer, and can seed trust. */
TT_TEST(cert_chain_one_type_params_signer_trust)
{
    TT_CHECK(make_pki());
    X509 *x[2] = {pki.leaf, pki.ca};
    uint8_t *der[2] = {NULL, NULL};
    size_t len[2];
    for (size_t i = 0; i < 2; i++)
        len[i] = (size_t)i2d_X509(x[i], &der[i]);
    tsl_cert_chain *c = NULL;
    TT_OK(tsl_cert_chain_from_der((const uint8_t *const *)der, len, 2, &c, NULL));
    TT_EQ_U(tsl_cert_chain_count(c), 2);
    size_t l1 = 0;
    const uint8_t *d1 = tsl_cert_chain_der(c, 1, &l1);
    TT_CHECK(d1 != NULL && l1 == len[1] && memcmp(d1, der[1], l1) == 0);
    TT_CHECK(tsl_cert_chain_der(c, 2, &l1) == NULL && l1 == 0);
    tsl_cert_chain_free(c);
    TT_ERR(tsl_cert_chain_from_der((const uint8_t *const *)der, len, 0, &c, NULL),
           TSL_ERR_ARG);
    TT_CHECK(c == NULL);
    TT_OK(tsl_cert_chain_from_der((const uint8_t *const *)der, len, 2, &c, NULL));

    tsl_key *k = gen(TSL_ALG_EDDSA); /* deterministic: the bytes can be compared */
    tsl_signer *s = NULL;
    TT_OK(tsl_signer_from_key(k, TSL_ALG_UNKNOWN, "c1", c, &s, NULL));
    TT_CHECK(tsl_signer_x5c(s) != c && tsl_cert_chain_count(tsl_signer_x5c(s)) == 2);
    for (int f = TSL_FORMAT_JWT; f <= TSL_FORMAT_CWT; f++) {
        tsl_token_params p;
        tsl_list *l = signer_list(&p, (tsl_format)f);
        TT_CHECK(l != NULL);
        uint8_t *a = NULL, *b = NULL;
        size_t al = 0, bl = 0;
        TT_OK(tsl_token_sign_with(l, &p, s, &a, &al, NULL));
        p.kid = "c1";
        p.x5c = c;
        TT_OK(tsl_token_sign(l, &p, k, &b, &bl, NULL));
        TT_EQ_U(al, bl);
        TT_CHECK(memcmp(a, b, al) == 0);
        tsl_free(a);
        tsl_free(b);
        tsl_list_free(l);
    }
    tsl_cert_chain_free(c); /* the signer kept its own copy */
    tsl_signer_free(s);

    tsl_trust *t = NULL;
    TT_OK(tsl_trust_new(&t, NULL));
    TT_OK(tsl_cert_chain_from_der((const uint8_t *const *)&der[1], &len[1], 1, &c, NULL));
    TT_OK(tsl_trust_add_chain(t, c, NULL));
    tsl_cert_chain_free(c);
    tsl_trust_free(t);
    for (size_t i = 0; i < 2; i++)
        OPENSSL_free(der[i]);
}

/* ---- files a relying party is told to trust ---- */

/* tsl_keyset_load_into / tsl_trust_load_into create on first use and add after;
 * tsl_trust_or_keys_load sorts a file into anchors or keys; tsl_keyset_algs allows HS256
 * only next to a secret. */
TT_TEST(trust_or_keys_files)
{
    TT_CHECK(make_pki());
    tsl_trust *trust = NULL;
    tsl_keyset *keys = NULL;
    tsl_error err;
    tsl_error_clear(&err);
    TT_CHECK(tsl_keyset_algs(NULL) == TSL_ALGS_SIGNATURE);
    /* A public key file: keys, no anchors. */
    TT_OK(tsl_trust_or_keys_load(&trust, &keys, vec(KID12_PUB), &err));
    TT_CHECK(trust == NULL && keys != NULL && tsl_keyset_count(keys) == 1);
    TT_CHECK(tsl_keyset_algs(keys) == TSL_ALGS_SIGNATURE);
    /* Certificates: anchors, the keys unchanged. */
    char *a = cert_pem(pki.inter);
    const char *p = tmp_path("certs.pem");
    TT_CHECK(write_file(p, a, strlen(a), 0644) == 0);
    free(a);
    TT_OK(tsl_trust_or_keys_load(&trust, &keys, p, &err));
    TT_CHECK(trust != NULL && tsl_keyset_count(keys) == 1);
    TT_OK(tsl_trust_load_into(&trust, p, &err));
    /* Unreadable, and neither certificates nor keys. */
    TT_ERR(tsl_trust_or_keys_load(&trust, &keys, tmp_path("missing.pem"), &err), TSL_ERR_IO);
    tsl_error_clear(&err);
    p = tmp_path("jwks.json");
    TT_CHECK(write_file(p, "{\"nothing\": 1}", 14, 0644) == 0);
    TT_CHECK(tsl_trust_or_keys_load(&trust, &keys, p, &err) != TSL_OK);
    TT_CHECK(tsl_keyset_count(keys) == 1);
    /* A secret among the keys allows HS256. */
    static const char secret[] = "{\"kty\":\"oct\",\"alg\":\"HS256\","
                                 "\"k\":\"CwsLCwsLCwsLCwsLCwsLCwsLCwsLCwsLCwsLCwsLCws\"}";
    p = tmp_path("priv.jwk");
    TT_CHECK(write_file(p, secret, sizeof secret - 1, 0600) == 0);
    tsl_error_clear(&err);
    TT_OK(tsl_keyset_load_into(&keys, p, &err));
    TT_CHECK(tsl_keyset_count(keys) == 2);
    TT_CHECK(tsl_keyset_algs(keys) == (TSL_ALGS_SIGNATURE | TSL_ALG_BIT(TSL_ALG_HS256)));
    TT_ERR(tsl_keyset_load_into(NULL, p, &err), TSL_ERR_ARG);
    tsl_keyset_free(keys);
    tsl_trust_free(trust);
}
