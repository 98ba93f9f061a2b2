/* trust.c - trust anchors (tsl_trust) and x5c / x5chain verification: an X509_STORE
 * of anchors, OpenSSL's path validation at the caller's time, and the optional EKU
 * check on the leaf (id-kp-oauthStatusSigning, whose OID the caller passes while the
 * spec still says TBD). */
#include "crypto/ossl_int.h"

#include <limits.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>
#include <string.h>
#include <sys/stat.h>

tsl_status tsl_trust_new(tsl_trust **out, tsl_error *err)
{
    if (out == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "trust: NULL argument");
    tsl_trust *t = tslp_calloc(1, sizeof *t);
    if (t == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "trust: out of memory");
    t->store = X509_STORE_new();
    if (t->store == NULL) {
        tslp_free(t);
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "trust: out of memory");
    }
    *out = t;
    return TSL_OK;
}

void tsl_trust_free(tsl_trust *trust)
{
    if (trust == NULL)
        return;
    X509_STORE_free(trust->store);
    tslp_free(trust);
}

/* Parses one whole DER certificate; NULL on bad DER or trailing bytes. */
static X509 *parse_der(const uint8_t *der, size_t len)
{
    const unsigned char *p = der;
    X509 *x = len > 0 && len <= (size_t)LONG_MAX ? d2i_X509(NULL, &p, (long)len) : NULL;
    if (x != NULL && (size_t)(p - der) != len) {
        X509_free(x);
        x = NULL;
    }
    ERR_clear_error();
    return x;
}

/* Every certificate of c into the store: the one place anchors are added. */
static tsl_status add_certs(tsl_trust *trust, const tslp_certs *c, tsl_error *err)
{
    tsl_status st = TSL_OK;
    for (size_t i = 0; i < c->n && st == TSL_OK; i++) {
        X509 *x = parse_der(c->der[i], c->len[i]);
        if (x == NULL)
            st = tslp_fail(err, TSL_ERR_MALFORMED, 0, "trust: certificate %zu: bad DER",
                           i + 1);
        else if (X509_STORE_add_cert(trust->store, x) != 1)
            st = tslp_fail(err, TSL_ERR_NOMEM, 0, "trust: cannot add certificate %zu",
                           i + 1);
        else
            trust->count++;
        X509_free(x); /* the store holds its own reference */
    }
    ERR_clear_error();
    return st;
}

tsl_status tsl_trust_add_pem(tsl_trust *trust, const char *pem, size_t len,
                             tsl_error *err)
{
    if (trust == NULL || (pem == NULL && len > 0))
        return tslp_fail(err, TSL_ERR_ARG, 0, "trust: NULL argument");
    tslp_certs c;
    tsl_status st = tslp_certs_from_pem(pem, len, &c, err);
    if (st != TSL_OK)
        return st;
    st = add_certs(trust, &c, err);
    tslp_certs_free(&c);
    return st;
}

tsl_status tsl_trust_add_chain(tsl_trust *trust, const tsl_cert_chain *chain,
                               tsl_error *err)
{
    if (trust == NULL || chain == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "trust: NULL argument");
    if (chain->n == 0)
        return tslp_fail(err, TSL_ERR_MALFORMED, 0, "trust: no certificate");
    return add_certs(trust, chain, err);
}

tsl_status tsl_trust_load(tsl_trust *trust, const char *path, tsl_error *err)
{
    if (trust == NULL || path == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "trust: NULL argument");
    char *buf = NULL;
    size_t len = 0;
    struct stat st;
    tsl_status s = tslp_read_key_file(path, &buf, &len, &st, err);
    if (s != TSL_OK)
        return s;
    s = tsl_trust_add_pem(trust, buf, len, err);
    if (s != TSL_OK)
        tslp_error_prefix(err, path);
    tslp_free(buf);
    return s;
}

tsl_status tsl_trust_load_into(tsl_trust **trust, const char *path, tsl_error *err)
{
    if (trust == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "trust: NULL argument");
    tsl_status st = *trust == NULL ? tsl_trust_new(trust, err) : TSL_OK;
    return st == TSL_OK ? tsl_trust_load(*trust, path, err) : st;
}

tsl_status tsl_trust_or_keys_load(tsl_trust **trust, tsl_keyset **keys, const char *path,
                                  tsl_error *err)
{
    /* Certificates or not is told by reading the file into a scratch set of anchors,
     * so that a file of keys leaves *trust as it was. */
    tsl_trust *probe = NULL;
    tsl_status st = tsl_trust_new(&probe, err);
    if (st == TSL_OK)
        st = tsl_trust_load(probe, path, err);
    tsl_trust_free(probe);
    if (st == TSL_OK) {
        tsl_error_clear(err);
        return tsl_trust_load_into(trust, path, err);
    }
    if (st == TSL_ERR_IO || st == TSL_ERR_NOMEM || st == TSL_ERR_ARG)
        return st;
    tsl_error_clear(err);
    return tsl_keyset_load_into(keys, path, err);
}

/* 1 if the leaf's extendedKeyUsage lists oid (anyExtendedKeyUsage does not count:
 * status signing is delegated explicitly or not at all). -1 if the extension is
 * unreadable. */
static int has_eku(X509 *leaf, const ASN1_OBJECT *oid)
{
    int crit = 0;
    EXTENDED_KEY_USAGE *eku = X509_get_ext_d2i(leaf, NID_ext_key_usage, &crit, NULL);
    if (eku == NULL)
        return crit == -1 ? 0 : -1; /* -1: absent; -2: repeated; else unparsable */
    int found = 0;
    for (int i = 0; i < sk_ASN1_OBJECT_num(eku); i++)
        if (OBJ_cmp(sk_ASN1_OBJECT_value(eku, i), oid) == 0)
            found = 1;
    sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
    return found;
}

tsl_status tslp_chain_verify(const tsl_trust *trust, const uint8_t *const *der,
                             const size_t *der_len, size_t n, int64_t now,
                             const char *eku_oid, tsl_key **leaf, tsl_error *err)
{
    if (trust == NULL || der == NULL || der_len == NULL || leaf == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "x5c: NULL argument");
    if (n == 0)
        return tslp_fail(err, TSL_ERR_ARG, 0, "x5c: empty certificate chain");
    ASN1_OBJECT *want = NULL;
    if (eku_oid != NULL && (want = OBJ_txt2obj(eku_oid, 1)) == NULL) {
        ERR_clear_error();
        return tslp_fail(err, TSL_ERR_ARG, 0, "x5c: EKU \"%.64s\" is not a dotted OID",
                         eku_oid);
    }
    tsl_status st = TSL_OK;
    X509 *x = NULL;
    STACK_OF(X509) *chain = sk_X509_new_null();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    if (chain == NULL || ctx == NULL)
        st = tslp_fail(err, TSL_ERR_NOMEM, 0, "x5c: out of memory");
    for (size_t i = 0; i < n && st == TSL_OK; i++) {
        X509 *c = parse_der(der[i], der_len[i]);
        if (c == NULL)
            st = tslp_fail(err, TSL_ERR_MALFORMED, 0, "x5c[%zu]: bad DER certificate", i);
        else if (i == 0)
            x = c;
        else if (sk_X509_push(chain, c) <= 0) {
            X509_free(c);
            st = tslp_fail(err, TSL_ERR_NOMEM, 0, "x5c: out of memory");
        }
    }
    if (st == TSL_OK) {
        if (X509_STORE_CTX_init(ctx, trust->store, x, chain) != 1) {
            st = tslp_fail(err, TSL_ERR_NOMEM, 0, "x5c: out of memory");
        } else {
            X509_VERIFY_PARAM *vp = X509_STORE_CTX_get0_param(ctx);
            X509_VERIFY_PARAM_set_time(vp, (time_t)now);
            /* Every anchor is trusted as such, also an intermediate CA. */
            X509_VERIFY_PARAM_set_flags(vp, X509_V_FLAG_PARTIAL_CHAIN);
            if (X509_verify_cert(ctx) != 1) {
                int e = X509_STORE_CTX_get_error(ctx);
                st = tslp_fail(err, TSL_ERR_TRUST, 0, "x5c: %s (certificate at depth %d)",
                               X509_verify_cert_error_string(e),
                               X509_STORE_CTX_get_error_depth(ctx));
            }
        }
    }
    if (st == TSL_OK && want != NULL) {
        int h = has_eku(x, want);
        if (h != 1)
            st = tslp_fail(err, TSL_ERR_TRUST, 0, "x5c: leaf %s EKU %.64s",
                           h < 0 ? "has an unreadable extendedKeyUsage, so no" : "lacks",
                           eku_oid);
    }
    if (st == TSL_OK) {
        EVP_PKEY *pk = X509_get_pubkey(x);
        if (pk == NULL)
            st = tslp_fail(err, TSL_ERR_UNSUPPORTED, 0,
                           "x5c: the leaf's public key is of an unsupported type");
        else if ((st = tslp_key_from_pkey(pk, 0, "x5c leaf", leaf, err)) == TSL_OK)
            (*leaf)->cert = x, x = NULL;
    }
    ERR_clear_error();
    X509_STORE_CTX_free(ctx);
    sk_X509_pop_free(chain, X509_free);
    X509_free(x);
    ASN1_OBJECT_free(want);
    return st;
}
