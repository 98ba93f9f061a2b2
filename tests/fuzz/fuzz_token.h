/* fuzz_token.h - what the JWT and CWT fuzz targets share: after a parse succeeds, the
 * token is verified against the spec's kid-12 key (seeds signed by it reach the whole
 * verification path), rendered as JSON and queried, and every failure must carry its own
 * code and message. */
#ifndef FUZZ_TOKEN_H
#define FUZZ_TOKEN_H

#include "fuzz_common.h"
#include "token/token_int.h"

#include <stdlib.h>
#include <string.h>

/* testvectors/keys/example_es256_kid12.public.pem */
static const char fuzz_kid12_pem[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEI3HWm/0Ds1dPMI+IWmf4mBmH+Yae\n"
    "AVbPVu7vB27CxXro393kSWP1uzWG2BXeiQkoh1scSmSBOYCW5gol6bOfUw==\n"
    "-----END PUBLIC KEY-----\n";

/* Runs the rest of a relying party's work on a parsed token. */
static void fuzz_exercise(tsl_token *t)
{
    static tsl_keyset *ks;
    if (ks == NULL) {
        tsl_key *k = NULL;
        if (tsl_key_from_pem(fuzz_kid12_pem, sizeof fuzz_kid12_pem - 1, &k, NULL) != TSL_OK ||
            tsl_key_set_kid(k, "12", NULL) != TSL_OK || tsl_keyset_new(&ks, NULL) != TSL_OK ||
            tsl_keyset_add(ks, k, NULL) != TSL_OK)
            abort();
        tsl_key_free(k);
    }
    tsl_verify_opts o;
    memset(&o, 0, sizeof o);
    o.policy.keys = ks;
    o.policy.now = 1700000000;
    o.sub = "https://example.com/statuslists/1";
    o.policy.algs = TSL_ALGS_SIGNATURE | TSL_ALG_BIT(TSL_ALG_HS256);
    tsl_error err;
    tsl_error_clear(&err);
    tsl_status st = tsl_token_verify(t, &o, &err);
    if (st != TSL_OK)
        fuzz_check_failure(st, &err);
    char *j = NULL;
    if (tsl_token_to_json(t, &j, NULL) != TSL_OK || j == NULL)
        abort();
    tsl_free(j);
    const tsl_list *l = tsl_token_list(t);
    uint64_t n = tsl_list_size(l), counts[256];
    unsigned v;
    if (n > 0 && tsl_list_get(l, n - 1, &v, NULL) != TSL_OK)
        abort();
    if (tsl_list_get(l, n, &v, NULL) != TSL_ERR_INDEX)
        abort();
    tsl_list_count(l, counts);
}

#endif /* FUZZ_TOKEN_H */
