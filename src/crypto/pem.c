/* pem.c - PEM text, block by block (OpenSSL's PEM_read_bio does the base64), and the
 * DER certificates of a PEM text or file for x5c / x5chain. Private key blocks are
 * wiped when freed. */
#include "crypto/ossl_int.h"

#include <limits.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <string.h>
#include <sys/stat.h>

void tslp_ossl_clear(void)
{
    ERR_clear_error();
}

tsl_status tslp_pem_open(tslp_pem_reader *r, const char *pem, size_t len, tsl_error *err)
{
    r->bio = NULL;
    if (pem == NULL && len > 0)
        return tslp_fail(err, TSL_ERR_ARG, 0, "pem: NULL text");
    if (len > (size_t)INT_MAX)
        return tslp_fail(err, TSL_ERR_LIMIT, 0, "pem: %zu bytes is too long", len);
    /* A read-only BIO over the caller's text: nothing is copied. */
    BIO *b = BIO_new_mem_buf(len ? pem : "", (int)len);
    if (b == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "pem: out of memory");
    r->bio = b;
    return TSL_OK;
}

tsl_status tslp_pem_next(tslp_pem_reader *r, char **name, uint8_t **data, size_t *dlen,
                         int *encrypted, int *done, tsl_error *err)
{
    char *nm = NULL, *hdr = NULL;
    unsigned char *d = NULL;
    long n = 0;
    *done = 0;
    *encrypted = 0;
    ERR_clear_error();
    if (PEM_read_bio((BIO *)r->bio, &nm, &hdr, &d, &n) != 1) {
        unsigned long e = ERR_peek_last_error();
        ERR_clear_error();
        if (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE) {
            *done = 1;
            return TSL_OK;
        }
        if (ERR_GET_REASON(e) == ERR_R_MALLOC_FAILURE)
            return tslp_fail(err, TSL_ERR_NOMEM, 0, "pem: out of memory");
        return tslp_fail(err, TSL_ERR_MALFORMED, 0, "pem: bad PEM block (%s)",
                         ERR_reason_error_string(e) ? ERR_reason_error_string(e)
                                                    : "unreadable");
    }
    if (hdr != NULL && strstr(hdr, "ENCRYPTED") != NULL)
        *encrypted = 1;
    OPENSSL_free(hdr);
    *name = nm;
    *data = d;
    *dlen = (size_t)n;
    return TSL_OK;
}

void tslp_pem_block_free(char *name, uint8_t *data, size_t dlen)
{
    OPENSSL_free(name);
    if (data != NULL)
        OPENSSL_clear_free(data, dlen);
}

void tslp_pem_close(tslp_pem_reader *r)
{
    BIO_free((BIO *)r->bio);
    r->bio = NULL;
}

void tslp_certs_free(tslp_certs *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->n; i++)
        tslp_free(c->der[i]);
    tslp_free(c->der);
    tslp_free(c->len);
    c->n = 0;
    c->der = NULL;
    c->len = NULL;
}

/* Appends a copy of one DER certificate, after checking that it parses whole. */
static tsl_status certs_push(tslp_certs *c, size_t *cap, const uint8_t *der, size_t len,
                             tsl_error *err)
{
    const unsigned char *p = der;
    X509 *x = len <= (size_t)LONG_MAX ? d2i_X509(NULL, &p, (long)len) : NULL;
    size_t used = (size_t)(p - der);
    X509_free(x);
    if (x == NULL || used != len) {
        ERR_clear_error();
        return tslp_fail(err, TSL_ERR_MALFORMED, 0, "certificate %zu: %s", c->n + 1,
                         x == NULL ? "bad DER" : "bytes after the certificate");
    }
    if (c->n == *cap) {
        /* Two parallel arrays: each grows on its own; *cap is what both hold (a block
         * larger than recorded is harmless, the next growth reallocs it). */
        size_t capd = *cap, capl = *cap;
        tsl_status st = TSLP_ELEMS_RESERVE(c->der, c->n, capd, 1, TSLP_PEM_MAX_CERTS,
                                           "certificates", err);
        if (st == TSL_OK)
            st = TSLP_ELEMS_RESERVE(c->len, c->n, capl, 1, TSLP_PEM_MAX_CERTS,
                                    "certificates", err);
        if (st != TSL_OK)
            return st;
        *cap = capd < capl ? capd : capl;
    }
    uint8_t *copy = tslp_malloc(len);
    if (copy == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "certificates: out of memory");
    memcpy(copy, der, len);
    c->der[c->n] = copy;
    c->len[c->n] = len;
    c->n++;
    return TSL_OK;
}

tsl_status tslp_certs_from_pem(const char *pem, size_t len, tslp_certs *out,
                               tsl_error *err)
{
    if (out == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "certificates: NULL argument");
    tslp_certs c = {0, NULL, NULL};
    size_t cap = 0;
    tslp_pem_reader r;
    tsl_status st = tslp_pem_open(&r, pem, len, err);
    if (st != TSL_OK)
        return st;
    for (;;) {
        char *name = NULL;
        uint8_t *data = NULL;
        size_t dlen = 0;
        int enc, done;
        st = tslp_pem_next(&r, &name, &data, &dlen, &enc, &done, err);
        if (st != TSL_OK || done)
            break;
        if (strcmp(name, "CERTIFICATE") == 0)
            st = certs_push(&c, &cap, data, dlen, err);
        tslp_pem_block_free(name, data, dlen);
        if (st != TSL_OK)
            break;
    }
    tslp_pem_close(&r);
    if (st == TSL_OK && c.n == 0)
        st = tslp_fail(err, TSL_ERR_MALFORMED, 0, "pem: no CERTIFICATE block");
    if (st != TSL_OK) {
        tslp_certs_free(&c);
        return st;
    }
    *out = c;
    return TSL_OK;
}

tsl_status tslp_certs_load(const char *path, tslp_certs *out, tsl_error *err)
{
    char *buf = NULL;
    size_t len = 0;
    struct stat st;
    tsl_status s = tslp_read_key_file(path, &buf, &len, &st, err);
    if (s != TSL_OK)
        return s;
    s = tslp_certs_from_pem(buf, len, out, err);
    if (s != TSL_OK)
        tslp_error_prefix(err, path);
    tslp_free_secret(buf, len + 1);
    return s;
}
