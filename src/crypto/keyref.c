/* keyref.c - key references: what `tsl sign --key`, `tsl list create --key` and the
 * publisher accept, a key file or an RFC 7512 pkcs11: URI, turned into a tsl_signer with
 * the kid and x5c the tokens name. A key file is loaded and signs in memory; a URI goes
 * to the token (pkcs11_key.c). Both give the key to verify with, so a setup can be
 * checked with one sign-and-verify round trip (tsl_signer_check). */
#include "crypto/pkcs11_int.h"

#include <string.h>

int tsl_key_ref_is_pkcs11(const char *ref)
{
    return tslp_p11_is_uri(ref);
}

tsl_status tsl_key_ref_check(const char *ref, tsl_error *err)
{
    if (ref == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "key: NULL reference");
    if (!tslp_p11_is_uri(ref))
        return TSL_OK;
    tslp_p11_uri u;
    tsl_status st = tslp_p11_uri_parse(ref, strlen(ref), &u, err);
    tslp_p11_uri_free(&u);
    return st;
}

/* A key file: as `tsl sign` always did, a key without a kid is named by its RFC 7638
 * thumbprint, unless a kid is given or none is wanted. */
static tsl_status file_signer(const char *path, const tsl_signer_opts *o, tsl_signer **out,
                              tsl_key **key_out, tsl_error *err)
{
    tsl_key *key = NULL;
    tsl_status st = tsl_key_load(path, &key, err);
    if (st != TSL_OK)
        return st;
    /* A public key is refused by tsl_signer_from_key, in tsl_token_sign's words. */
    char *thumb = NULL;
    if (o->no_kid)
        st = tsl_key_set_kid(key, NULL, err);
    else if (o->kid != NULL)
        st = TSL_OK; /* the signer names it; the key keeps its own */
    else if (tsl_key_kid(key) == NULL && (st = tsl_key_thumbprint(key, &thumb, err)) == TSL_OK)
        st = tsl_key_set_kid(key, thumb, err);
    tsl_free(thumb);
    if (st == TSL_OK)
        st = tsl_signer_from_key(key, o->alg, o->no_kid ? NULL : o->kid, o->x5c, out, err);
    if (st == TSL_OK && key_out != NULL)
        *key_out = key;
    else
        tsl_key_free(key);
    return st;
}

tsl_status tsl_signer_load(const char *ref, const tsl_signer_opts *o, tsl_signer **out,
                           tsl_key **key, tsl_error *err)
{
    if (out != NULL)
        *out = NULL;
    if (key != NULL)
        *key = NULL;
    if (ref == NULL || out == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "key: NULL argument");
    tsl_signer_opts none;
    memset(&none, 0, sizeof none);
    if (o == NULL)
        o = &none;
    if (tslp_p11_is_uri(ref))
        return tslp_p11_signer(ref, o, out, key, err);
    return file_signer(ref, o, out, key, err);
}

tsl_status tsl_signer_check(const tsl_signer *s, const tsl_key *key, tsl_error *err)
{
    if (s == NULL || key == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "check: NULL argument");
    static const char msg[] = "tsl signer check: a Status List Token signing round trip";
    uint8_t *sig = NULL;
    size_t n = 0;
    tsl_status st = tsl_signer_sign(s, (const uint8_t *)msg, sizeof msg - 1, &sig, &n, err);
    if (st != TSL_OK)
        return st;
    st = tslp_verify(key, tsl_signer_alg(s), (const uint8_t *)msg, sizeof msg - 1, sig, n,
                     err);
    if (st != TSL_OK)
        tslp_error_prefix(err, "check: the signature does not verify with the key read back");
    tsl_free(sig);
    return st;
}
