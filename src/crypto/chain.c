/* chain.c - certificate chains for signing: the public face of the PEM reader, so that
 * callers can fill tsl_token_params.x5c from a file. */
#include "crypto/crypto.h"

#include <string.h>

tsl_status tsl_cert_chain_load(const char *path, tsl_cert_chain *out, tsl_error *err)
{
    if (path == NULL || out == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "certificates: NULL argument");
    tslp_certs c;
    memset(&c, 0, sizeof c);
    tsl_status st = tslp_certs_load(path, &c, err);
    if (st != TSL_OK)
        return st;
    out->count = c.n;
    out->der = c.der;
    out->len = c.len;
    return TSL_OK;
}

void tsl_cert_chain_free(tsl_cert_chain *chain)
{
    if (chain == NULL)
        return;
    tslp_certs c = {chain->count, chain->der, chain->len};
    tslp_certs_free(&c);
    memset(chain, 0, sizeof *chain);
}
