/* chain.c - tsl_cert_chain, the one shape of a certificate chain in the API: built from
 * a PEM file or text (through the PEM reader) or from DER blobs, read by signing (x5c /
 * x5chain) and by trust. Immutable once built; the struct is tslp_certs (crypto.h). */
#include "crypto/crypto.h"

#include <string.h>

/* Moves a filled stack chain to the heap. */
static tsl_status to_heap(tslp_certs *c, tsl_cert_chain **out, tsl_error *err)
{
    tsl_cert_chain *h = tslp_malloc(sizeof *h);
    if (h == NULL) {
        tslp_certs_free(c);
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "certificates: out of memory");
    }
    *h = *c;
    *out = h;
    return TSL_OK;
}

tsl_status tsl_cert_chain_load(const char *path, tsl_cert_chain **out, tsl_error *err)
{
    if (path == NULL || out == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "certificates: NULL argument");
    *out = NULL;
    tslp_certs c;
    memset(&c, 0, sizeof c);
    tsl_status st = tslp_certs_load(path, &c, err);
    return st == TSL_OK ? to_heap(&c, out, err) : st;
}

tsl_status tsl_cert_chain_from_pem(const char *pem, size_t len, tsl_cert_chain **out,
                                   tsl_error *err)
{
    if ((pem == NULL && len > 0) || out == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "certificates: NULL argument");
    *out = NULL;
    tslp_certs c;
    memset(&c, 0, sizeof c);
    tsl_status st = tslp_certs_from_pem(pem != NULL ? pem : "", len, &c, err);
    return st == TSL_OK ? to_heap(&c, out, err) : st;
}

tsl_status tsl_cert_chain_from_der(const uint8_t *const *der, const size_t *len, size_t n,
                                   tsl_cert_chain **out, tsl_error *err)
{
    if (out == NULL || (n > 0 && (der == NULL || len == NULL)))
        return tslp_fail(err, TSL_ERR_ARG, 0, "certificates: NULL argument");
    *out = NULL;
    if (n == 0)
        return tslp_fail(err, TSL_ERR_ARG, 0, "certificates: an empty chain");
    for (size_t i = 0; i < n; i++)
        if (der[i] == NULL || len[i] == 0)
            return tslp_fail(err, TSL_ERR_ARG, 0, "certificate %zu: empty", i + 1);
    tslp_certs in = {n, (uint8_t **)(uintptr_t)der, (size_t *)(uintptr_t)len}, c;
    tsl_status st = tslp_certs_copy(&in, &c, err);
    return st == TSL_OK ? to_heap(&c, out, err) : st;
}

tsl_status tslp_certs_copy(const tslp_certs *in, tslp_certs *out, tsl_error *err)
{
    memset(out, 0, sizeof *out);
    if (in == NULL || in->n == 0)
        return TSL_OK;
    out->der = tslp_calloc(in->n, sizeof *out->der);
    out->len = out->der != NULL ? tslp_malloc(in->n * sizeof *out->len) : NULL;
    if (out->len == NULL) {
        tslp_free(out->der);
        out->der = NULL;
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "certificates: out of memory");
    }
    for (size_t i = 0; i < in->n; i++) {
        if ((out->der[i] = tslp_malloc(in->len[i] ? in->len[i] : 1)) == NULL) {
            out->n = i;
            tslp_certs_free(out);
            return tslp_fail(err, TSL_ERR_NOMEM, 0, "certificates: out of memory");
        }
        memcpy(out->der[i], in->der[i], in->len[i]);
        out->len[i] = in->len[i];
    }
    out->n = in->n;
    return TSL_OK;
}

size_t tsl_cert_chain_count(const tsl_cert_chain *chain)
{
    return chain != NULL ? chain->n : 0;
}

const uint8_t *tsl_cert_chain_der(const tsl_cert_chain *chain, size_t i, size_t *len)
{
    if (chain == NULL || i >= chain->n) {
        if (len != NULL)
            *len = 0;
        return NULL;
    }
    if (len != NULL)
        *len = chain->len[i];
    return chain->der[i];
}

void tsl_cert_chain_free(tsl_cert_chain *chain)
{
    if (chain == NULL)
        return;
    tslp_certs_free(chain);
    tslp_free(chain);
}
