/* jwk.c - JSON Web Keys (RFC 7517, 7518 section 6, RFC 8037): strict parsing into
 * tsl_key, the RFC 7638 thumbprint, and writing public JWKs (and the private JWK of an
 * HMAC secret). Parsing goes through jansson with duplicate members rejected; members
 * are base64url decoded strictly and checked for exact lengths before OpenSSL sees
 * them. Private members are wiped from our buffers and from jansson's tree. */
#include "crypto/ossl_int.h"

#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <stdint.h>
#include <string.h>

#define HS256_MIN_BYTES 32

/* ---------------------------------------------------------------------------------- */
/* A small JSON writer, so that secrets never pass through a buffer we cannot wipe.    */

/* The text grows in a secret tslp_buf when it holds private material (an HMAC secret's
 * "k"), so every block it drops is wiped. The first failure sticks and is reported by
 * jb_finish; the appends after it do nothing. */
typedef struct {
    tslp_buf b;
    tsl_status st; /* TSL_OK until an append fails */
    tsl_error e;   /* why it failed */
} jbuf;

static void jb_init(jbuf *b, int secret)
{
    if (secret)
        tslp_buf_init_secret(&b->b, TSLP_JWK_MAX_TEXT, "jwk");
    else
        tslp_buf_init(&b->b, TSLP_JWK_MAX_TEXT, "jwk");
    b->st = TSL_OK;
    tsl_error_clear(&b->e);
}

static void jb_fail(jbuf *b, tsl_status st)
{
    if (b->st == TSL_OK)
        b->st = st;
}

static void jb_raw(jbuf *b, const char *s, size_t n)
{
    if (b->st != TSL_OK)
        return;
    /* n + 1: the text stays NUL-terminated after every append. */
    tsl_status st = n < SIZE_MAX ? tslp_buf_reserve(&b->b, n + 1, &b->e)
                                 : tslp_fail(&b->e, TSL_ERR_LIMIT, 0, "jwk: too long");
    if (st != TSL_OK) {
        jb_fail(b, st);
        return;
    }
    memcpy(b->b.data + b->b.len, s, n);
    b->b.len += n;
    b->b.data[b->b.len] = '\0';
}

static void jb_lit(jbuf *b, const char *s)
{
    jb_raw(b, s, strlen(s));
}

/* A JSON string; s is UTF-8 (kids are checked when set). */
static void jb_str(jbuf *b, const char *s)
{
    jb_lit(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*p;
            jb_raw(b, esc, 2);
        } else if (*p < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", *p);
            jb_raw(b, esc, 6);
        } else {
            jb_raw(b, (const char *)p, 1);
        }
    }
    jb_lit(b, "\"");
}

/* "name":"<base64url of in>" with a leading comma unless first. */
static void jb_b64(jbuf *b, const char *name, const uint8_t *in, size_t len, int first)
{
    char *s = NULL;
    size_t slen = 0;
    if (b->st != TSL_OK)
        return;
    tsl_status st = tsl_b64url_encode(in, len, &s, &slen, &b->e);
    if (st != TSL_OK) {
        jb_fail(b, st);
        return;
    }
    jb_lit(b, first ? "\"" : ",\"");
    jb_lit(b, name);
    jb_lit(b, "\":\"");
    jb_raw(b, s, slen);
    jb_lit(b, "\"");
    if (b->b.secret)
        tslp_free_secret(s, slen + 1);
    else
        tslp_free(s);
}

/* Drops the text (wiped when secret). */
static void jb_drop(jbuf *b)
{
    tslp_buf_free(&b->b);
}

/* Hands the NUL-terminated text over, or reports the first failure and drops it. A
 * secret text comes with its slack wiped, so wiping *out_len + 1 bytes wipes it all. */
static tsl_status jb_finish(jbuf *b, char **out, size_t *out_len, tsl_error *err)
{
    if (b->st == TSL_OK && b->b.data == NULL)
        jb_fail(b, tslp_fail(&b->e, TSL_ERR_NOMEM, 0, "jwk: out of memory"));
    if (b->st != TSL_OK) {
        jb_drop(b);
        return tslp_fail(err, b->st, 0, "%s", b->e.msg);
    }
    /* The terminator jb_raw wrote goes with the text: take() shrinks to len. */
    b->b.len++;
    size_t n = 0;
    char *text = (char *)tslp_buf_take(&b->b, &n);
    if (text == NULL) /* not reached: a block is at hand, take() only shrinks it */
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "jwk: out of memory");
    *out = text;
    if (out_len != NULL)
        *out_len = n - 1;
    return TSL_OK;
}

/* ---------------------------------------------------------------------------------- */
/* Writing                                                                              */

static size_t ec_width(int crv)
{
    return ((size_t)crv + 7) / 8;
}

static const char *ec_crv_name(int crv)
{
    return crv == 256 ? "P-256" : crv == 384 ? "P-384" : "P-521";
}

/* Appends the RFC 7638 required members in lexicographic order, no white space: the
 * thumbprint input, and also the start of our public JWKs. */
static tsl_status required_members(const tsl_key *k, jbuf *b, tsl_error *err)
{
    tsl_status st = TSL_OK;
    switch (k->kty) {
    case TSLP_KTY_EC: {
        BIGNUM *bx = NULL, *by = NULL;
        uint8_t x[66], y[66];
        size_t w = ec_width(k->crv);
        if (EVP_PKEY_get_bn_param(k->pkey, OSSL_PKEY_PARAM_EC_PUB_X, &bx) != 1 ||
            EVP_PKEY_get_bn_param(k->pkey, OSSL_PKEY_PARAM_EC_PUB_Y, &by) != 1 ||
            BN_bn2binpad(bx, x, (int)w) < 0 || BN_bn2binpad(by, y, (int)w) < 0) {
            st = tslp_fail(err, TSL_ERR_CRYPTO, 0, "jwk: cannot read the EC point");
        } else {
            jb_lit(b, "{\"crv\":\"");
            jb_lit(b, ec_crv_name(k->crv));
            jb_lit(b, "\",\"kty\":\"EC\"");
            jb_b64(b, "x", x, w, 0);
            jb_b64(b, "y", y, w, 0);
        }
        BN_free(bx);
        BN_free(by);
        break;
    }
    case TSLP_KTY_ED25519: {
        uint8_t x[32];
        size_t xl = sizeof x;
        if (EVP_PKEY_get_raw_public_key(k->pkey, x, &xl) != 1 || xl != sizeof x) {
            st = tslp_fail(err, TSL_ERR_CRYPTO, 0, "jwk: cannot read the Ed25519 key");
        } else {
            jb_lit(b, "{\"crv\":\"Ed25519\",\"kty\":\"OKP\"");
            jb_b64(b, "x", x, xl, 0);
        }
        break;
    }
    case TSLP_KTY_RSA: {
        BIGNUM *n = NULL, *e = NULL;
        uint8_t *nb = NULL, *eb = NULL;
        if (EVP_PKEY_get_bn_param(k->pkey, OSSL_PKEY_PARAM_RSA_N, &n) != 1 ||
            EVP_PKEY_get_bn_param(k->pkey, OSSL_PKEY_PARAM_RSA_E, &e) != 1) {
            st = tslp_fail(err, TSL_ERR_CRYPTO, 0, "jwk: cannot read the RSA key");
        } else if ((nb = tslp_malloc((size_t)BN_num_bytes(n))) == NULL ||
                   (eb = tslp_malloc((size_t)BN_num_bytes(e))) == NULL) {
            st = tslp_fail(err, TSL_ERR_NOMEM, 0, "jwk: out of memory");
        } else {
            /* Minimal big-endian octets, as RFC 7518 section 6.3.1 requires. */
            int nl = BN_bn2bin(n, nb), el = BN_bn2bin(e, eb);
            jb_lit(b, "{");
            jb_b64(b, "e", eb, (size_t)el, 1);
            jb_lit(b, ",\"kty\":\"RSA\"");
            jb_b64(b, "n", nb, (size_t)nl, 0);
        }
        tslp_free(nb);
        tslp_free(eb);
        BN_free(n);
        BN_free(e);
        break;
    }
    case TSLP_KTY_OCT:
        jb_lit(b, "{");
        jb_b64(b, "k", k->secret, k->secret_len, 1);
        jb_lit(b, ",\"kty\":\"oct\"");
        break;
    }
    ERR_clear_error();
    return st;
}

tsl_status tsl_key_thumbprint(const tsl_key *key, char **out, tsl_error *err)
{
    if (key == NULL || out == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "thumbprint: NULL argument");
    jbuf b;
    jb_init(&b, key->kty == TSLP_KTY_OCT);
    tsl_status st = required_members(key, &b, err);
    jb_lit(&b, "}");
    char *text = NULL;
    size_t n = 0;
    if (st != TSL_OK) {
        jb_drop(&b);
        return st;
    }
    if ((st = jb_finish(&b, &text, &n, err)) != TSL_OK)
        return st;
    uint8_t h[32];
    st = tslp_sha256((const uint8_t *)text, n, h);
    tslp_free_secret(text, n + 1);
    if (st != TSL_OK)
        return tslp_fail(err, st, 0, "thumbprint: SHA-256 failed");
    return tsl_b64url_encode(h, sizeof h, out, NULL, err);
}

/* ,"kid":"...","alg":"..." as the key has them, then the closing brace. */
static void optional_members(const tsl_key *k, jbuf *b)
{
    if (k->kid != NULL) {
        jb_lit(b, ",\"kid\":");
        jb_str(b, k->kid);
    }
    if (k->jwk_alg != TSL_ALG_UNKNOWN) {
        jb_lit(b, ",\"alg\":\"");
        jb_lit(b, tsl_alg_name(k->jwk_alg));
        jb_lit(b, "\"");
    }
    jb_lit(b, "}");
}

tsl_status tsl_key_to_public_jwk(const tsl_key *key, char **out, tsl_error *err)
{
    if (key == NULL || out == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "jwk: NULL argument");
    if (key->kty == TSLP_KTY_OCT)
        return tslp_fail(err, TSL_ERR_KEY, 0, "jwk: an HMAC secret has no public form");
    jbuf b;
    jb_init(&b, 0);
    tsl_status st = required_members(key, &b, err);
    if (st != TSL_OK) {
        jb_drop(&b);
        return st;
    }
    optional_members(key, &b);
    return jb_finish(&b, out, NULL, err);
}

tsl_status tslp_oct_private_jwk(const tsl_key *key, char **out, tsl_error *err)
{
    jbuf b;
    jb_init(&b, 1);
    tsl_status st = required_members(key, &b, err);
    if (st != TSL_OK) {
        jb_drop(&b);
        return st;
    }
    optional_members(key, &b);
    return jb_finish(&b, out, NULL, err);
}

/* ---------------------------------------------------------------------------------- */
/* Parsing                                                                              */

/* Untrusted text for a message: printable ASCII, at most n - 1 characters. */
static const char *printable(const char *s, char *buf, size_t n)
{
    size_t i = 0;
    for (; s[i] != '\0' && i + 1 < n; i++)
        buf[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
    buf[i] = '\0';
    return buf;
}

/* A string member: *out NULL when absent. MALFORMED when not a string or when it
 * holds a NUL. */
static tsl_status str_member(json_t *obj, const char *name, const char **out,
                             tsl_error *err)
{
    json_t *v = json_object_get(obj, name);
    *out = NULL;
    if (v == NULL)
        return TSL_OK;
    if (!json_is_string(v))
        return tslp_fail(err, TSL_ERR_MALFORMED, 0, "jwk: \"%s\" is not a string", name);
    if (strlen(json_string_value(v)) != json_string_length(v))
        return tslp_fail(err, TSL_ERR_MALFORMED, 0, "jwk: \"%s\" contains a NUL", name);
    *out = json_string_value(v);
    return TSL_OK;
}

/* A base64url member, decoded strictly into a tslp_malloc buffer (*out NULL when
 * absent and optional). want > 0 demands exactly that many bytes. */
static tsl_status b64_member(json_t *obj, const char *name, int required, size_t want,
                             const char *crv, uint8_t **out, size_t *len, tsl_error *err)
{
    *out = NULL;
    *len = 0;
    const char *s;
    tsl_status st = str_member(obj, name, &s, err);
    if (st != TSL_OK)
        return st;
    if (s == NULL)
        return required
                   ? tslp_fail(err, TSL_ERR_MALFORMED, 0, "jwk: \"%s\" is missing", name)
                   : TSL_OK;
    st = tsl_b64url_decode(s, strlen(s), out, len, err);
    if (st != TSL_OK) {
        char what[24];
        snprintf(what, sizeof what, "jwk: \"%s\"", name);
        tslp_error_prefix(err, what);
        return st;
    }
    if (want > 0 && *len != want) {
        size_t got = *len;
        tslp_free_secret(*out, *len);
        *out = NULL;
        return tslp_fail(err, TSL_ERR_MALFORMED, 0,
                         "jwk: \"crv\" %s expects %zu-byte \"%s\", got %zu", crv, want,
                         name, got);
    }
    return TSL_OK;
}

/* Builds an EVP_PKEY of type `type` from params. */
static EVP_PKEY *from_params(const char *type, int selection, OSSL_PARAM_BLD *bld)
{
    EVP_PKEY *pkey = NULL;
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *pc = params ? EVP_PKEY_CTX_new_from_name(NULL, type, NULL) : NULL;
    if (pc == NULL || EVP_PKEY_fromdata_init(pc) != 1 ||
        EVP_PKEY_fromdata(pc, &pkey, selection, params) != 1) {
        EVP_PKEY_free(pkey);
        pkey = NULL;
    }
    EVP_PKEY_CTX_free(pc);
    OSSL_PARAM_free(params); /* wipes the secure part, where private BNs went */
    return pkey;
}

/* A BIGNUM in secure memory (wiped when freed) from big-endian bytes. */
static BIGNUM *secret_bn(const uint8_t *b, size_t n)
{
    BIGNUM *bn = BN_secure_new();
    if (bn != NULL && BN_bin2bn(b, (int)n, bn) == NULL) {
        BN_clear_free(bn);
        bn = NULL;
    }
    return bn;
}

static tsl_status jwk_ec(json_t *obj, tsl_key **out, tsl_error *err)
{
    const char *crv;
    tsl_status st = str_member(obj, "crv", &crv, err);
    if (st != TSL_OK)
        return st;
    if (crv == NULL)
        return tslp_fail(err, TSL_ERR_MALFORMED, 0, "jwk: EC key without \"crv\"");
    int bits = strcmp(crv, "P-256") == 0   ? 256
               : strcmp(crv, "P-384") == 0 ? 384
               : strcmp(crv, "P-521") == 0 ? 521
                                           : 0;
    if (bits == 0) {
        char pb[32];
        return tslp_fail(err, TSL_ERR_UNSUPPORTED, 0,
                         "jwk: EC \"crv\" %s is not supported",
                         printable(crv, pb, sizeof pb));
    }
    size_t w = ec_width(bits), xl, yl, dl;
    uint8_t *x = NULL, *y = NULL, *d = NULL;
    if ((st = b64_member(obj, "x", 1, w, crv, &x, &xl, err)) != TSL_OK ||
        (st = b64_member(obj, "y", 1, w, crv, &y, &yl, err)) != TSL_OK ||
        (st = b64_member(obj, "d", 0, w, crv, &d, &dl, err)) != TSL_OK) {
        tslp_free(x);
        tslp_free(y);
        return st;
    }
    uint8_t pub[1 + 2 * 66];
    pub[0] = 0x04; /* uncompressed point */
    memcpy(pub + 1, x, w);
    memcpy(pub + 1 + w, y, w);
    tslp_free(x);
    tslp_free(y);
    const char *group = bits == 256 ? "P-256" : bits == 384 ? "P-384" : "P-521";
    int priv = d != NULL;
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    BIGNUM *bd = priv ? secret_bn(d, dl) : NULL;
    tslp_free_secret(d, dl);
    EVP_PKEY *pkey = NULL;
    int oom =
        bld == NULL || (priv && bd == NULL) ||
        OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0) != 1 ||
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, 1 + 2 * w) !=
            1 ||
        (bd != NULL && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, bd) != 1);
    if (!oom)
        pkey = from_params("EC", priv ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, bld);
    OSSL_PARAM_BLD_free(bld);
    BN_clear_free(bd);
    ERR_clear_error();
    if (oom)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "jwk: out of memory");
    if (pkey == NULL)
        return tslp_fail(
            err, TSL_ERR_KEY, 0,
            "jwk: \"x\", \"y\" is not a point on %s (or \"d\" is out of range)", crv);
    return tslp_key_from_pkey(pkey, priv, "jwk", out, err);
}

static tsl_status jwk_okp(json_t *obj, tsl_key **out, tsl_error *err)
{
    const char *crv;
    tsl_status st = str_member(obj, "crv", &crv, err);
    if (st != TSL_OK)
        return st;
    if (crv == NULL)
        return tslp_fail(err, TSL_ERR_MALFORMED, 0, "jwk: OKP key without \"crv\"");
    if (strcmp(crv, "Ed25519") != 0) {
        char pb[32];
        return tslp_fail(err, TSL_ERR_UNSUPPORTED, 0,
                         "jwk: OKP \"crv\" %s is not supported (Ed25519 is)",
                         printable(crv, pb, sizeof pb));
    }
    uint8_t *x = NULL, *d = NULL;
    size_t xl, dl;
    if ((st = b64_member(obj, "x", 1, 32, crv, &x, &xl, err)) != TSL_OK ||
        (st = b64_member(obj, "d", 0, 32, crv, &d, &dl, err)) != TSL_OK) {
        tslp_free(x);
        return st;
    }
    EVP_PKEY *pkey;
    int priv = d != NULL;
    if (priv) {
        pkey = EVP_PKEY_new_raw_private_key_ex(NULL, "ED25519", NULL, d, dl);
        tslp_free_secret(d, dl);
        uint8_t pub[32];
        size_t pl = sizeof pub;
        if (pkey != NULL && (EVP_PKEY_get_raw_public_key(pkey, pub, &pl) != 1 ||
                             pl != 32 || memcmp(pub, x, 32) != 0)) {
            EVP_PKEY_free(pkey);
            tslp_free(x);
            ERR_clear_error();
            return tslp_fail(err, TSL_ERR_KEY, 0,
                             "jwk: Ed25519 \"x\" is not the public key of \"d\"");
        }
    } else {
        pkey = EVP_PKEY_new_raw_public_key_ex(NULL, "ED25519", NULL, x, xl);
    }
    tslp_free(x);
    if (pkey == NULL) {
        ERR_clear_error();
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "jwk: out of memory");
    }
    return tslp_key_from_pkey(pkey, priv, "jwk", out, err);
}

static size_t bit_length(const uint8_t *b, size_t n)
{
    if (n == 0)
        return 0;
    size_t bits = n * 8;
    for (uint8_t top = b[0]; !(top & 0x80); top = (uint8_t)(top << 1))
        bits--;
    return bits;
}

static tsl_status jwk_rsa(json_t *obj, tsl_key **out, tsl_error *err)
{
    static const char *const priv_names[6] = {"d", "p", "q", "dp", "dq", "qi"};
    static const char *const priv_params[6] = {
        OSSL_PKEY_PARAM_RSA_D,         OSSL_PKEY_PARAM_RSA_FACTOR1,
        OSSL_PKEY_PARAM_RSA_FACTOR2,   OSSL_PKEY_PARAM_RSA_EXPONENT1,
        OSSL_PKEY_PARAM_RSA_EXPONENT2, OSSL_PKEY_PARAM_RSA_COEFFICIENT1};
    if (json_object_get(obj, "oth") != NULL)
        return tslp_fail(err, TSL_ERR_UNSUPPORTED, 0,
                         "jwk: multi-prime RSA (\"oth\") is not supported");
    uint8_t *n = NULL, *e = NULL, *pv[6] = {NULL};
    size_t nl = 0, el = 0, pl[6] = {0};
    tsl_status st;
    if ((st = b64_member(obj, "n", 1, 0, NULL, &n, &nl, err)) != TSL_OK ||
        (st = b64_member(obj, "e", 1, 0, NULL, &e, &el, err)) != TSL_OK)
        goto done;
    if (nl == 0 || n[0] == 0 || el == 0 || e[0] == 0) {
        st = tslp_fail(err, TSL_ERR_MALFORMED, 0,
                       "jwk: RSA \"%s\" is empty or has leading zero bytes",
                       nl == 0 || n[0] == 0 ? "n" : "e");
        goto done;
    }
    size_t bits = bit_length(n, nl);
    if (bits < TSLP_RSA_MIN_BITS) {
        st = tslp_fail(err, TSL_ERR_KEY, 0,
                       "jwk: RSA key of %zu bits; at least %d are required", bits,
                       TSLP_RSA_MIN_BITS);
        goto done;
    }
    if (bits > TSLP_RSA_MAX_BITS) {
        st = tslp_fail(err, TSL_ERR_UNSUPPORTED, 0,
                       "jwk: RSA key of %zu bits; at most %d are supported", bits,
                       TSLP_RSA_MAX_BITS);
        goto done;
    }
    if (!(n[nl - 1] & 1)) {
        st = tslp_fail(err, TSL_ERR_KEY, 0, "jwk: RSA \"n\" is even");
        goto done;
    }
    /* e: odd, at least 3, at most 64 bits (OpenSSL's own cap for large moduli). */
    if (el > 8 || !(e[el - 1] & 1) || (el == 1 && e[0] < 3)) {
        st = tslp_fail(err, TSL_ERR_KEY, 0,
                       "jwk: RSA \"e\" must be odd, at least 3 and at most 64 bits");
        goto done;
    }
    int have = 0;
    for (int i = 0; i < 6; i++) {
        if ((st = b64_member(obj, priv_names[i], 0, 0, NULL, &pv[i], &pl[i], err)) !=
            TSL_OK)
            goto done;
        if (pv[i] != NULL) {
            have++;
            if (pl[i] == 0 || pl[i] > nl) {
                st = tslp_fail(err, TSL_ERR_MALFORMED, 0,
                               "jwk: RSA \"%s\" is empty or longer than \"n\"",
                               priv_names[i]);
                goto done;
            }
        }
    }
    if (have != 0 && have != 6) {
        /* RFC 7518 section 6.3.2: with "d", the CRT members come all or none; without
         * them OpenSSL cannot sign safely, so we require them. */
        int missing = 0;
        while (pv[missing] != NULL)
            missing++;
        st = tslp_fail(
            err, have < 6 && pv[0] != NULL ? TSL_ERR_UNSUPPORTED : TSL_ERR_MALFORMED, 0,
            "jwk: RSA private key without \"%s\" (d, p, q, dp, dq, qi "
            "are needed together)",
            priv_names[missing]);
        goto done;
    }
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    BIGNUM *bn = BN_bin2bn(n, (int)nl, NULL), *be = BN_bin2bn(e, (int)el, NULL);
    BIGNUM *bp[6] = {NULL};
    int oom = bld == NULL || bn == NULL || be == NULL ||
              OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) != 1 ||
              OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be) != 1;
    for (int i = 0; i < have && !oom; i++)
        oom = (bp[i] = secret_bn(pv[i], pl[i])) == NULL ||
              OSSL_PARAM_BLD_push_BN(bld, priv_params[i], bp[i]) != 1;
    EVP_PKEY *pkey = NULL;
    if (!oom)
        pkey = from_params("RSA", have ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, bld);
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn);
    BN_free(be);
    for (int i = 0; i < 6; i++)
        BN_clear_free(bp[i]);
    ERR_clear_error();
    if (oom)
        st = tslp_fail(err, TSL_ERR_NOMEM, 0, "jwk: out of memory");
    else if (pkey == NULL)
        st = tslp_fail(err, TSL_ERR_KEY, 0, "jwk: OpenSSL rejects the RSA key");
    else
        st = tslp_key_from_pkey(pkey, have != 0, "jwk", out, err);
done:
    tslp_free(n);
    tslp_free(e);
    for (int i = 0; i < 6; i++)
        tslp_free_secret(pv[i], pl[i]);
    return st;
}

static tsl_status jwk_oct(json_t *obj, tsl_key **out, tsl_error *err)
{
    uint8_t *k = NULL;
    size_t kl = 0;
    tsl_status st = b64_member(obj, "k", 1, 0, NULL, &k, &kl, err);
    if (st != TSL_OK)
        return st;
    if (kl < HS256_MIN_BYTES) {
        tslp_free_secret(k, kl);
        return tslp_fail(err, TSL_ERR_KEY, 0,
                         "jwk: \"oct\" key of %zu bytes; HS256 needs at least %d", kl,
                         HS256_MIN_BYTES);
    }
    tsl_key *key = tslp_key_new();
    if (key == NULL) {
        tslp_free_secret(k, kl);
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "jwk: out of memory");
    }
    key->kty = TSLP_KTY_OCT;
    key->is_private = 1;
    key->secret = k;
    key->secret_len = kl;
    *out = key;
    return TSL_OK;
}

/* What "use" and "key_ops" (RFC 7517 sections 4.2, 4.3) allow of TSLP_OP_SIGN and
 * TSLP_OP_VERIFY; use[] gets a "use" other than "sig", for messages. Both members are
 * optional; "key_ops" must be an array of distinct strings. */
static tsl_status jwk_ops(json_t *obj, unsigned *ops, char *use, size_t use_size,
                          tsl_error *err)
{
    *ops = TSLP_OP_SIGN | TSLP_OP_VERIFY;
    use[0] = '\0';
    const char *u;
    tsl_status st = str_member(obj, "use", &u, err);
    if (st != TSL_OK)
        return st;
    if (u != NULL && strcmp(u, "sig") != 0) {
        *ops = 0;
        printable(u, use, use_size);
    }
    json_t *k = json_object_get(obj, "key_ops");
    if (k == NULL)
        return TSL_OK;
    if (!json_is_array(k))
        return tslp_fail(err, TSL_ERR_MALFORMED, 0, "jwk: \"key_ops\" is not an array");
    unsigned listed = 0;
    for (size_t i = 0; i < json_array_size(k); i++) {
        json_t *v = json_array_get(k, i);
        if (!json_is_string(v))
            return tslp_fail(err, TSL_ERR_MALFORMED, 0,
                             "jwk: \"key_ops\"[%zu] is not a string", i);
        for (size_t j = 0; j < i; j++)
            if (json_equal(v, json_array_get(k, j)))
                return tslp_fail(err, TSL_ERR_MALFORMED, 0,
                                 "jwk: \"key_ops\"[%zu] repeats an operation", i);
        const char *op = json_string_value(v);
        listed |= strcmp(op, "sign") == 0 ? TSLP_OP_SIGN
                  : strcmp(op, "verify") == 0 ? TSLP_OP_VERIFY
                                              : 0;
    }
    *ops &= listed;
    return TSL_OK;
}

tsl_status tslp_key_from_jwk_value(const void *value, tsl_key **out, tsl_error *err)
{
    json_t *obj = (json_t *)(uintptr_t)value; /* jansson's getters take non-const */
    if (!json_is_object(obj))
        return tslp_fail(err, TSL_ERR_MALFORMED, 0, "jwk: not a JSON object");
    const char *kty, *kid, *algname;
    tsl_status st;
    if ((st = str_member(obj, "kty", &kty, err)) != TSL_OK ||
        (st = str_member(obj, "kid", &kid, err)) != TSL_OK ||
        (st = str_member(obj, "alg", &algname, err)) != TSL_OK)
        return st;
    if (kty == NULL)
        return tslp_fail(err, TSL_ERR_MALFORMED, 0, "jwk: \"kty\" is missing");
    unsigned ops;
    char use[sizeof ((tsl_key *)NULL)->use];
    if ((st = jwk_ops(obj, &ops, use, sizeof use, err)) != TSL_OK)
        return st;
    tsl_alg alg = TSL_ALG_UNKNOWN;
    if (algname != NULL && (alg = tsl_alg_from_name(algname)) == TSL_ALG_UNKNOWN) {
        char pb[32];
        return tslp_fail(err, TSL_ERR_UNSUPPORTED, 0,
                         "jwk: \"alg\" %s is not an algorithm we sign with",
                         printable(algname, pb, sizeof pb));
    }
    tsl_key *k = NULL;
    if (strcmp(kty, "EC") == 0) {
        st = jwk_ec(obj, &k, err);
    } else if (strcmp(kty, "OKP") == 0) {
        st = jwk_okp(obj, &k, err);
    } else if (strcmp(kty, "RSA") == 0) {
        st = jwk_rsa(obj, &k, err);
    } else if (strcmp(kty, "oct") == 0) {
        st = jwk_oct(obj, &k, err);
    } else {
        char pb[32];
        return tslp_fail(err, TSL_ERR_UNSUPPORTED, 0, "jwk: \"kty\" %s is not supported",
                         printable(kty, pb, sizeof pb));
    }
    if (st != TSL_OK)
        return st;
    if (kid != NULL && (st = tsl_key_set_kid(k, kid, err)) != TSL_OK) {
        tsl_key_free(k);
        return st;
    }
    if (alg != TSL_ALG_UNKNOWN) {
        /* The "alg" must suit the key: ES384 on a P-256 key is a broken JWK. */
        if ((st = tsl_key_check_alg(k, alg, err)) != TSL_OK) {
            tsl_key_free(k);
            tslp_error_prefix(err, "jwk: \"alg\"");
            return st;
        }
        k->jwk_alg = alg;
    }
    /* After the "alg" check, which is about the key's type, not its purpose. */
    k->ops = ops;
    memcpy(k->use, use, sizeof k->use);
    *out = k;
    return TSL_OK;
}

static void wipe_one(json_t *obj)
{
    static const char *const names[] = {"d", "p", "q", "dp", "dq", "qi", "k"};
    if (!json_is_object(obj))
        return;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        json_t *v = json_object_get(obj, names[i]);
        if (json_is_string(v))
            OPENSSL_cleanse((char *)(uintptr_t)json_string_value(v),
                            json_string_length(v));
    }
}

void tslp_jwk_wipe(void *value)
{
    json_t *root = value;
    json_t *keys = json_is_object(root) ? json_object_get(root, "keys") : NULL;
    if (json_is_array(keys)) {
        for (size_t i = 0; i < json_array_size(keys); i++)
            wipe_one(json_array_get(keys, i));
    }
    wipe_one(root);
}

tsl_status tsl_key_from_jwk(const char *json, size_t len, tsl_key **out, tsl_error *err)
{
    if (out == NULL || (json == NULL && len > 0))
        return tslp_fail(err, TSL_ERR_ARG, 0, "jwk: NULL argument");
    void *v = NULL;
    tsl_status lst = tslp_json_load(len ? json : "", len, NULL, &v, "jwk", err);
    if (lst != TSL_OK)
        return lst;
    json_t *root = v;
    tsl_key *k = NULL;
    tsl_status st = tslp_key_from_jwk_value(root, &k, err);
    tslp_jwk_wipe(root);
    json_decref(root);
    if (st == TSL_OK)
        *out = k;
    return st;
}
