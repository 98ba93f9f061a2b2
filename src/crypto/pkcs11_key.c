/* pkcs11_key.c - a signing key on a PKCS#11 token as a tsl_signer. The private key is
 * found by the URI's object (CKA_LABEL) and id (CKA_ID); its public half is read from
 * the token (CKA_EC_PARAMS and CKA_EC_POINT of the public key object, or the RSA
 * modulus and exponent) into a public tsl_key, which gives the default alg and kid (the
 * RFC 7638 thumbprint, as for key files) and lets `tsl pkcs11 check` verify. The x5c is
 * the certificate object with the same CKA_ID unless one is given. Signing maps each
 * JOSE alg to a mechanism softhsm2 2.6 and HSMs share: CKM_ECDSA over a hash made here
 * (softhsm2 has no CKM_ECDSA_SHA256; the raw r||s it returns is what JWS and COSE
 * carry), CKM_EDDSA, CKM_RSA_PKCS_PSS over a hash, CKM_RSA_PKCS over a DigestInfo. A
 * sign that meets a lost session or token reopens it (pkcs11.c) and tries once more. */
#include "crypto/pkcs11_int.h"
#include "crypto/ossl_int.h"

#include <p11-kit/pkcs11.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    tslp_p11_token *tok;
    CK_OBJECT_CLASS cls;
    char *label;       /* the URI's object, or NULL */
    uint8_t *id;       /* the URI's id, or NULL */
    size_t id_len;
    int has_id;
    pthread_mutex_t mu;
    CK_OBJECT_HANDLE h; /* the private key under generation gen */
    unsigned gen;
    tsl_alg alg;
    size_t sig_len; /* the raw signature's length (ECDSA, EdDSA, RSA) */
    char shown[96]; /* "token "issuer" object "x"", for messages */
} p11_key;

/* ---- reading objects ---- */

/* Reads one attribute into a new buffer (at most TSLP_P11_MAX_ATTR bytes). rv gets
 * the module's answer; *out NULL when the attribute is absent. */
static CK_RV get_attr(CK_FUNCTION_LIST *f, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
                      CK_ATTRIBUTE_TYPE type, uint8_t **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    CK_ATTRIBUTE a = {type, NULL, 0};
    CK_RV rv = f->C_GetAttributeValue(s, o, &a, 1);
    if (rv != CKR_OK)
        return rv;
    if (a.ulValueLen == CK_UNAVAILABLE_INFORMATION || a.ulValueLen > TSLP_P11_MAX_ATTR)
        return CKR_ATTRIBUTE_TYPE_INVALID;
    uint8_t *b = tslp_malloc(a.ulValueLen + 1);
    if (b == NULL)
        return CKR_HOST_MEMORY;
    a.pValue = b;
    if ((rv = f->C_GetAttributeValue(s, o, &a, 1)) != CKR_OK) {
        tslp_free(b);
        return rv;
    }
    b[a.ulValueLen] = 0;
    *out = b;
    *len = a.ulValueLen;
    return CKR_OK;
}

/* Finds the objects of class cls with the label and id given (either may be absent):
 * up to max handles into hs, *n how many. */
static CK_RV find(CK_FUNCTION_LIST *f, CK_SESSION_HANDLE s, CK_OBJECT_CLASS cls,
                  const char *label, const uint8_t *id, size_t id_len, int has_id,
                  CK_OBJECT_HANDLE *hs, CK_ULONG max, CK_ULONG *n)
{
    CK_ATTRIBUTE t[3];
    CK_ULONG nt = 0;
    t[nt].type = CKA_CLASS;
    t[nt].pValue = &cls;
    t[nt++].ulValueLen = sizeof cls;
    if (label != NULL) {
        t[nt].type = CKA_LABEL;
        t[nt].pValue = (void *)(uintptr_t)label;
        t[nt++].ulValueLen = strlen(label);
    }
    if (has_id) {
        t[nt].type = CKA_ID;
        t[nt].pValue = (void *)(uintptr_t)id;
        t[nt++].ulValueLen = id_len;
    }
    *n = 0;
    CK_RV rv = f->C_FindObjectsInit(s, t, nt);
    if (rv != CKR_OK)
        return rv;
    rv = f->C_FindObjects(s, hs, max, n);
    f->C_FindObjectsFinal(s);
    return rv;
}

/* ---- the public half ---- */

static const struct {
    const char *der; /* CKA_EC_PARAMS: the curve's OID in DER */
    size_t len;
    const char *crv;
    size_t coord;
} curves[] = {
    {"\x06\x08\x2a\x86\x48\xce\x3d\x03\x01\x07", 10, "P-256", 32},
    {"\x06\x05\x2b\x81\x04\x00\x22", 7, "P-384", 48},
    {"\x06\x05\x2b\x81\x04\x00\x23", 7, "P-521", 66},
};

/* CKA_EC_POINT is a DER OCTET STRING around the point (PKCS#11 2.40); some modules give
 * the bare point. want is the bare point's length. */
static const uint8_t *ec_point(const uint8_t *p, size_t n, size_t want)
{
    if (n == want)
        return p;
    if (n >= 2 && p[0] == 0x04) {
        size_t hl, l;
        if (p[1] < 0x80) {
            hl = 2;
            l = p[1];
        } else if (p[1] == 0x81 && n >= 3) {
            hl = 3;
            l = p[2];
        } else {
            return NULL;
        }
        if (hl + l == n && l == want)
            return p + hl;
    }
    return NULL;
}

static tsl_status b64(const uint8_t *p, size_t n, char **out, tsl_error *err)
{
    return tsl_b64url_encode(p, n, out, NULL, err);
}

/* Builds the public tsl_key of key type kt from the attributes read from the token. */
static tsl_status public_key(CK_FUNCTION_LIST *f, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE priv,
                             CK_OBJECT_HANDLE pub, CK_KEY_TYPE kt, const char *shown,
                             tsl_key **out, tsl_error *err)
{
    uint8_t *a = NULL, *b = NULL;
    size_t al = 0, bl = 0;
    char *x = NULL, *y = NULL, json[TSLP_P11_MAX_ATTR / 2];
    tsl_status st = TSL_OK;
    json[0] = 0;
    if (kt == CKK_RSA) {
        /* The modulus and exponent are public attributes of the private key too. */
        CK_OBJECT_HANDLE o = pub != CK_INVALID_HANDLE ? pub : priv;
        if (get_attr(f, s, o, CKA_MODULUS, &a, &al) != CKR_OK ||
            get_attr(f, s, o, CKA_PUBLIC_EXPONENT, &b, &bl) != CKR_OK)
            st = tslp_fail(err, TSL_ERR_KEY, 0, "pkcs11: %s: cannot read the RSA modulus "
                                                "and exponent", shown);
        else if ((st = b64(a, al, &x, err)) == TSL_OK && (st = b64(b, bl, &y, err)) == TSL_OK)
            snprintf(json, sizeof json, "{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"%s\"}", x, y);
    } else if (kt == CKK_EC || kt == CKK_EC_EDWARDS) {
        if (pub == CK_INVALID_HANDLE)
            return tslp_fail(err, TSL_ERR_KEY, 0,
                             "pkcs11: %s: no public key object with the same CKA_ID (the "
                             "public key is read from it)",
                             shown);
        if (get_attr(f, s, pub, CKA_EC_PARAMS, &a, &al) != CKR_OK ||
            get_attr(f, s, pub, CKA_EC_POINT, &b, &bl) != CKR_OK) {
            st = tslp_fail(err, TSL_ERR_KEY, 0,
                           "pkcs11: %s: cannot read CKA_EC_PARAMS and CKA_EC_POINT", shown);
        } else if (kt == CKK_EC_EDWARDS) {
            /* Ed25519: the OID 1.3.101.112, or the printable string "edwards25519" that
             * softhsm2 and opensc 0.23 write. */
            static const uint8_t oid[] = {0x06, 0x03, 0x2b, 0x65, 0x70};
            static const uint8_t ps[] = {0x13, 0x0c, 'e', 'd', 'w', 'a', 'r', 'd',
                                         's', '2', '5', '5', '1', '9'};
            const uint8_t *pt = ec_point(b, bl, 32);
            if (!((al == sizeof oid && memcmp(a, oid, al) == 0) ||
                  (al == sizeof ps && memcmp(a, ps, al) == 0)))
                st = tslp_fail(err, TSL_ERR_UNSUPPORTED, 0,
                               "pkcs11: %s: an Edwards curve other than Ed25519", shown);
            else if (pt == NULL)
                st = tslp_fail(err, TSL_ERR_MALFORMED, 0,
                               "pkcs11: %s: CKA_EC_POINT is not a 32-byte Ed25519 point",
                               shown);
            else if ((st = b64(pt, 32, &x, err)) == TSL_OK)
                snprintf(json, sizeof json, "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"%s\"}",
                         x);
        } else {
            size_t k = 0;
            while (k < 3 && !(al == curves[k].len && memcmp(a, curves[k].der, al) == 0))
                k++;
            const uint8_t *pt = k < 3 ? ec_point(b, bl, 1 + 2 * curves[k].coord) : NULL;
            if (k == 3)
                st = tslp_fail(err, TSL_ERR_UNSUPPORTED, 0,
                               "pkcs11: %s: an EC curve other than P-256, P-384 and P-521, "
                               "which no JOSE algorithm here signs with",
                               shown);
            else if (pt == NULL || pt[0] != 0x04)
                st = tslp_fail(err, TSL_ERR_MALFORMED, 0,
                               "pkcs11: %s: CKA_EC_POINT is not an uncompressed %s point",
                               shown, curves[k].crv);
            else if ((st = b64(pt + 1, curves[k].coord, &x, err)) == TSL_OK &&
                     (st = b64(pt + 1 + curves[k].coord, curves[k].coord, &y, err)) == TSL_OK)
                snprintf(json, sizeof json,
                         "{\"kty\":\"EC\",\"crv\":\"%s\",\"x\":\"%s\",\"y\":\"%s\"}",
                         curves[k].crv, x, y);
        }
    } else {
        st = tslp_fail(err, TSL_ERR_UNSUPPORTED, 0,
                       "pkcs11: %s: key type 0x%lx is not EC, Ed25519 or RSA", shown,
                       (unsigned long)kt);
    }
    if (st == TSL_OK && json[0] == 0)
        st = tslp_fail(err, TSL_ERR_LIMIT, 0, "pkcs11: %s: public key too large", shown);
    if (st == TSL_OK) {
        st = tsl_key_from_jwk(json, strlen(json), out, err);
        if (st != TSL_OK)
            tslp_error_prefix(err, "pkcs11: the token's public key");
    }
    tslp_free(a);
    tslp_free(b);
    tsl_free(x);
    tsl_free(y);
    return st;
}

tsl_status tslp_p11_read_public(tslp_p11_token *t, unsigned long session,
                                unsigned long priv, const char *shown, tsl_key **out,
                                unsigned long *key_type, tsl_error *err)
{
    CK_FUNCTION_LIST *f = (CK_FUNCTION_LIST *)(uintptr_t)tslp_p11_funcs(t);
    CK_KEY_TYPE kt = 0;
    CK_ATTRIBUTE a = {CKA_KEY_TYPE, &kt, sizeof kt};
    CK_RV rv = f->C_GetAttributeValue(session, priv, &a, 1);
    if (rv != CKR_OK)
        return tslp_fail(err, TSL_ERR_KEY, 0, "pkcs11: %s: cannot read CKA_KEY_TYPE (%s)",
                         shown, tslp_p11_rv_name(rv, (char[24]){0}));
    *key_type = kt;
    /* The public key object: the same CKA_ID, else the same label. */
    uint8_t *id = NULL, *label = NULL;
    size_t id_len = 0, label_len = 0;
    get_attr(f, session, priv, CKA_ID, &id, &id_len);
    if (id == NULL || id_len == 0)
        get_attr(f, session, priv, CKA_LABEL, &label, &label_len);
    CK_OBJECT_HANDLE pub[2];
    CK_ULONG n = 0;
    if (id != NULL && id_len > 0)
        find(f, session, CKO_PUBLIC_KEY, NULL, id, id_len, 1, pub, 2, &n);
    else if (label != NULL)
        find(f, session, CKO_PUBLIC_KEY, (char *)label, NULL, 0, 0, pub, 2, &n);
    tslp_free(id);
    tslp_free(label);
    return public_key(f, session, priv, n >= 1 ? pub[0] : CK_INVALID_HANDLE, kt, shown, out,
                      err);
}

/* ---- signing ---- */

static int mech_for(tsl_alg alg, CK_MECHANISM_TYPE *m, unsigned *hash_bits)
{
    switch (alg) {
    case TSL_ALG_ES256: *m = CKM_ECDSA; *hash_bits = 256; return 1;
    case TSL_ALG_ES384: *m = CKM_ECDSA; *hash_bits = 384; return 1;
    case TSL_ALG_ES512: *m = CKM_ECDSA; *hash_bits = 512; return 1;
    case TSL_ALG_EDDSA: *m = CKM_EDDSA; *hash_bits = 0; return 1;
    case TSL_ALG_RS256: *m = CKM_RSA_PKCS; *hash_bits = 256; return 1;
    case TSL_ALG_RS384: *m = CKM_RSA_PKCS; *hash_bits = 384; return 1;
    case TSL_ALG_RS512: *m = CKM_RSA_PKCS; *hash_bits = 512; return 1;
    case TSL_ALG_PS256: *m = CKM_RSA_PKCS_PSS; *hash_bits = 256; return 1;
    case TSL_ALG_PS384: *m = CKM_RSA_PKCS_PSS; *hash_bits = 384; return 1;
    case TSL_ALG_PS512: *m = CKM_RSA_PKCS_PSS; *hash_bits = 512; return 1;
    default: return 0;
    }
}

static const char *mech_name(CK_MECHANISM_TYPE m)
{
    switch (m) {
    case CKM_ECDSA: return "CKM_ECDSA";
    case CKM_EDDSA: return "CKM_EDDSA";
    case CKM_RSA_PKCS: return "CKM_RSA_PKCS";
    default: return "CKM_RSA_PKCS_PSS";
    }
}

/* The private key's handle under generation gen: found again after a reopen. Under
 * k->mu. */
static CK_RV key_handle(p11_key *k, CK_SESSION_HANDLE s, unsigned gen, CK_OBJECT_HANDLE *h)
{
    if (k->h != CK_INVALID_HANDLE && k->gen == gen) {
        *h = k->h;
        return CKR_OK;
    }
    CK_FUNCTION_LIST *f = (CK_FUNCTION_LIST *)(uintptr_t)tslp_p11_funcs(k->tok);
    CK_OBJECT_HANDLE hs[2];
    CK_ULONG n = 0;
    CK_RV rv = find(f, s, CKO_PRIVATE_KEY, k->label, k->id, k->id_len, k->has_id, hs, 2, &n);
    if (rv != CKR_OK)
        return rv;
    if (n != 1)
        return CKR_KEY_HANDLE_INVALID;
    k->h = *h = hs[0];
    k->gen = gen;
    return CKR_OK;
}

static tsl_status p11_sign(void *ctx, const uint8_t *msg, size_t len, uint8_t *sig,
                           size_t cap, size_t *sig_len, tsl_error *err)
{
    p11_key *k = ctx;
    CK_MECHANISM_TYPE mt;
    unsigned hb = 0;
    mech_for(k->alg, &mt, &hb);
    /* The bytes the token signs: the message (EdDSA), its hash (ECDSA, PSS) or the
     * DigestInfo of its hash (PKCS #1 v1.5, RFC 8017 section 9.2 note 1). */
    static const uint8_t di[3][19] = {
        {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
         0x01, 0x05, 0x00, 0x04, 0x20},
        {0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
         0x02, 0x05, 0x00, 0x04, 0x30},
        {0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
         0x03, 0x05, 0x00, 0x04, 0x40}};
    uint8_t buf[19 + 64];
    const uint8_t *in = msg;
    size_t in_len = len;
    CK_RSA_PKCS_PSS_PARAMS pss;
    CK_MECHANISM mech = {mt, NULL, 0};
    if (hb != 0) {
        size_t hl = hb / 8, pre = mt == CKM_RSA_PKCS ? 19 : 0;
        int which = hb == 256 ? 0 : hb == 384 ? 1 : 2;
        if (pre)
            memcpy(buf, di[which], pre);
        if (tslp_sha2(hb, msg, len, buf + pre) != TSL_OK)
            return tslp_fail(err, TSL_ERR_CRYPTO, 0, "pkcs11: SHA-2 failed");
        in = buf;
        in_len = pre + hl;
        if (mt == CKM_RSA_PKCS_PSS) {
            static const CK_MECHANISM_TYPE hm[3] = {CKM_SHA256, CKM_SHA384, CKM_SHA512};
            static const CK_RSA_PKCS_MGF_TYPE mg[3] = {CKG_MGF1_SHA256, CKG_MGF1_SHA384,
                                                      CKG_MGF1_SHA512};
            pss.hashAlg = hm[which];
            pss.mgf = mg[which];
            pss.sLen = hl; /* RFC 7518 section 3.5: the salt is as long as the hash */
            mech.pParameter = &pss;
            mech.ulParameterLen = sizeof pss;
        }
    }
    CK_FUNCTION_LIST *f = (CK_FUNCTION_LIST *)(uintptr_t)tslp_p11_funcs(k->tok);
    CK_RV rv = CKR_OK;
    for (int attempt = 0; attempt < 2; attempt++) {
        unsigned long s = 0;
        unsigned gen = 0;
        tsl_status st = tslp_p11_session_get(k->tok, &s, &gen, err);
        if (st != TSL_OK) {
            tslp_p11_count_sign(0);
            tslp_error_prefix(err, "sign");
            return st;
        }
        CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
        pthread_mutex_lock(&k->mu);
        rv = key_handle(k, s, gen, &h);
        pthread_mutex_unlock(&k->mu);
        CK_ULONG n = (CK_ULONG)cap;
        if (rv == CKR_OK && (rv = f->C_SignInit(s, &mech, h)) == CKR_OK)
            rv = f->C_Sign(s, (unsigned char *)(uintptr_t)in, (CK_ULONG)in_len, sig, &n);
        tslp_p11_session_put(k->tok, s, gen, rv);
        if (rv == CKR_OK) {
            tslp_cleanse(buf, sizeof buf);
            if (n != k->sig_len) {
                tslp_p11_count_sign(0);
                return tslp_fail(err, TSL_ERR_CRYPTO, 0,
                                 "pkcs11: %s: %s gave %lu bytes, %zu expected", k->shown,
                                 mech_name(mt), (unsigned long)n, k->sig_len);
            }
            *sig_len = n;
            tslp_p11_count_sign(1);
            tslp_p11_set_lost(0);
            return TSL_OK;
        }
        /* A lost session or token: the pool reopens it on the next get; once. A key
         * gone from the token may come back with a re-initialised module. */
        if (!tslp_p11_rv_lost(rv))
            break;
        if (attempt == 0 && rv == CKR_KEY_HANDLE_INVALID)
            tslp_p11_token_refresh(k->tok, NULL);
    }
    tslp_p11_count_sign(0);
    if (rv == CKR_MECHANISM_INVALID || rv == CKR_MECHANISM_PARAM_INVALID)
        return tslp_fail(err, TSL_ERR_UNSUPPORTED, 0,
                         "pkcs11: %s: the token refuses %s for %s (%s)", k->shown,
                         mech_name(mt), tsl_alg_name(k->alg),
                         tslp_p11_rv_name(rv, (char[24]){0}));
    return tslp_fail(err, tslp_p11_rv_lost(rv) ? TSL_ERR_IO : TSL_ERR_CRYPTO, 0,
                     "pkcs11: %s: signing failed (%s)", k->shown,
                     tslp_p11_rv_name(rv, (char[24]){0}));
}

static void p11_key_free(void *ctx)
{
    p11_key *k = ctx;
    if (k == NULL)
        return;
    pthread_mutex_destroy(&k->mu);
    tslp_free(k->label);
    tslp_free(k->id);
    tslp_free(k);
}

/* The certificate with the key's CKA_ID, if the token has one, as a chain of one. */
static void token_cert(CK_FUNCTION_LIST *f, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE priv,
                       tslp_certs *out)
{
    uint8_t *id = NULL, *der = NULL;
    size_t id_len = 0, der_len = 0;
    CK_OBJECT_HANDLE c[2];
    CK_ULONG n = 0;
    memset(out, 0, sizeof *out);
    if (get_attr(f, s, priv, CKA_ID, &id, &id_len) == CKR_OK && id_len > 0 &&
        find(f, s, CKO_CERTIFICATE, NULL, id, id_len, 1, c, 2, &n) == CKR_OK && n >= 1 &&
        get_attr(f, s, c[0], CKA_VALUE, &der, &der_len) == CKR_OK && der_len > 0) {
        out->der = tslp_calloc(1, sizeof *out->der);
        out->len = tslp_calloc(1, sizeof *out->len);
        if (out->der != NULL && out->len != NULL) {
            out->der[0] = der;
            out->len[0] = der_len;
            out->n = 1;
            der = NULL;
        } else {
            tslp_free(out->der);
            tslp_free(out->len);
            memset(out, 0, sizeof *out);
        }
    }
    tslp_free(id);
    tslp_free(der);
}

tsl_status tslp_p11_signer(const char *uri, const tsl_signer_opts *o, tsl_signer **out,
                           tsl_key **pub_out, tsl_error *err)
{
    tslp_p11_uri u;
    tsl_status st = tslp_p11_uri_parse(uri, strlen(uri), &u, err);
    if (st != TSL_OK)
        return st;
    if (u.type != TSLP_P11_ANY && u.type != TSLP_P11_PRIVATE) {
        tslp_p11_uri_free(&u);
        return tslp_fail(err, TSL_ERR_KEY, 0,
                         "pkcs11 URI: type names no private key; a signing key needs "
                         "type=private or no type");
    }
    if (u.object == NULL && !u.has_id) {
        tslp_p11_uri_free(&u);
        return tslp_fail(err, TSL_ERR_ARG, 0,
                         "pkcs11 URI: name the key with object=LABEL or id=%%XX...");
    }
    p11_key *k = tslp_calloc(1, sizeof *k);
    if (k == NULL) {
        tslp_p11_uri_free(&u);
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "pkcs11: out of memory");
    }
    pthread_mutex_init(&k->mu, NULL);
    k->label = u.object;
    k->id = u.id;
    k->id_len = u.id_len;
    k->has_id = u.has_id;
    u.object = NULL;
    u.id = NULL;
    k->h = CK_INVALID_HANDLE;
    snprintf(k->shown, sizeof k->shown, "token \"%.32s\" %s \"%.32s\"",
             u.token != NULL ? u.token : "(any)", k->label != NULL ? "object" : "id",
             k->label != NULL ? k->label : "(given)");
    st = tslp_p11_token_open(&u, o != NULL ? o->pkcs11_module : NULL, 1, &k->tok, err);
    tslp_p11_uri_free(&u);
    tsl_key *pub = NULL;
    tslp_certs chain;
    memset(&chain, 0, sizeof chain);
    unsigned long s = 0;
    unsigned gen = 0;
    /* A key not found may be on a token that went away and came back, which the module
     * sees only after it is re-initialised: then once more. */
    for (int attempt = 0; st == TSL_OK && attempt < 2; attempt++) {
        if ((st = tslp_p11_session_get(k->tok, &s, &gen, err)) != TSL_OK)
            break;
        CK_FUNCTION_LIST *f = (CK_FUNCTION_LIST *)(uintptr_t)tslp_p11_funcs(k->tok);
        CK_OBJECT_HANDLE hs[2];
        CK_ULONG n = 0;
        CK_RV rv = find(f, s, CKO_PRIVATE_KEY, k->label, k->id, k->id_len, k->has_id, hs, 2,
                        &n);
        if (attempt == 0 && (n == 0 || tslp_p11_rv_lost(rv))) {
            tslp_p11_session_put(k->tok, s, gen, rv);
            tsl_error rerr;
            tsl_error_clear(&rerr);
            if (tslp_p11_token_refresh(k->tok, &rerr) == TSL_OK)
                continue;
            if ((st = tslp_p11_session_get(k->tok, &s, &gen, err)) != TSL_OK)
                break;
            rv = find(f, s, CKO_PRIVATE_KEY, k->label, k->id, k->id_len, k->has_id, hs, 2, &n);
        }
        attempt = 2; /* this answer stands */
        if (n == 0 && rv == CKR_OK)
            tslp_p11_set_lost(1);
        unsigned long kt = 0;
        if (rv != CKR_OK)
            st = tslp_fail(err, TSL_ERR_IO, 0, "pkcs11: %s: C_FindObjects failed (%s)",
                           k->shown, tslp_p11_rv_name(rv, (char[24]){0}));
        else if (n == 0)
            st = tslp_fail(err, TSL_ERR_NOT_FOUND, 0,
                           "pkcs11: %s: no such private key on the token", k->shown);
        else if (n > 1)
            st = tslp_fail(err, TSL_ERR_KEY, 0,
                           "pkcs11: %s: more than one private key matches; add id= to the URI",
                           k->shown);
        else if ((st = tslp_p11_read_public(k->tok, s, hs[0], k->shown, &pub, &kt, err)) ==
                 TSL_OK) {
            k->h = hs[0];
            k->gen = gen;
            if (o == NULL || o->x5c == NULL)
                token_cert(f, s, hs[0], &chain);
            tslp_p11_set_lost(0);
        }
        tslp_p11_session_put(k->tok, s, gen, rv);
    }
    /* The algorithm: asked for, else the key's; it must fit the key and the token must
     * offer its mechanism for signing. */
    tsl_alg alg = o != NULL ? o->alg : TSL_ALG_UNKNOWN;
    if (st == TSL_OK && alg == TSL_ALG_UNKNOWN)
        alg = tsl_key_default_alg(pub);
    if (st == TSL_OK && (st = tsl_key_check_alg(pub, alg, err)) == TSL_OK) {
        CK_MECHANISM_TYPE mt;
        unsigned hb;
        if (!mech_for(alg, &mt, &hb)) {
            st = tslp_fail(err, TSL_ERR_UNSUPPORTED, 0, "pkcs11: %s cannot be signed on a token",
                           tsl_alg_name(alg));
        } else {
            st = tslp_p11_mech_check(k->tok, mt, mech_name(mt), tsl_alg_name(alg), err);
        }
        k->alg = alg;
        k->sig_len = alg == TSL_ALG_ES256   ? 64
                     : alg == TSL_ALG_ES384 ? 96
                     : alg == TSL_ALG_ES512 ? 132
                     : alg == TSL_ALG_EDDSA ? 64
                                            : (size_t)EVP_PKEY_get_size(pub->pkey);
    }
    /* The kid: asked for, none, or the RFC 7638 thumbprint as for a key file. */
    char *thumb = NULL;
    const char *kid = NULL;
    if (st == TSL_OK && o != NULL && o->kid != NULL)
        kid = o->kid;
    else if (st == TSL_OK && (o == NULL || !o->no_kid) &&
             (st = tsl_key_thumbprint(pub, &thumb, err)) == TSL_OK)
        kid = thumb;
    if (st == TSL_OK && kid != NULL)
        st = tsl_key_set_kid(pub, kid, err);
    if (st != TSL_OK) {
        tsl_free(thumb);
        tslp_certs_free(&chain);
        tsl_key_free(pub);
        p11_key_free(k);
        return st;
    }
    tsl_signer_ops ops = {p11_sign, p11_key_free};
    st = tsl_signer_new(&ops, k, alg, kid,
                        o != NULL && o->x5c != NULL ? o->x5c : chain.n ? &chain : NULL, out,
                        err);
    tsl_free(thumb);
    tslp_certs_free(&chain);
    if (st == TSL_OK && pub_out != NULL)
        *pub_out = pub;
    else
        tsl_key_free(pub);
    return st;
}
