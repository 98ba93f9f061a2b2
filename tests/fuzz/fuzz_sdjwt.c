/* fuzz_sdjwt.c - libFuzzer target for Referenced Tokens in text form, SD-JWT first:
 * the input goes to tsl_ref_parse() with the RFC 9901 example issuer key and the spec's
 * kid-12 key, so seeds signed by them reach disclosure, key-binding and status checks.
 * A failure must carry its own code and message and leave no result; a success must
 * answer its accessors. */
#include "fuzz_common.h"
#include "tsl.h"

#include <stdlib.h>
#include <string.h>

/* testvectors/keys/rfc9901_example_issuer_es256.public.pem */
static const char fuzz_rfc9901_pem[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEb28d4MwZMjw8+00CG4xfnn9SLMVM\n"
    "M19SlqZpVb/uNtRe/nNbC6hpOB1LqFXjfIjqAHBOeO6SYVBCcn+QLHOqTw==\n"
    "-----END PUBLIC KEY-----\n";

/* testvectors/keys/example_es256_kid12.public.pem */
static const char fuzz_kid12_pem[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEI3HWm/0Ds1dPMI+IWmf4mBmH+Yae\n"
    "AVbPVu7vB27CxXro393kSWP1uzWG2BXeiQkoh1scSmSBOYCW5gol6bOfUw==\n"
    "-----END PUBLIC KEY-----\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void add_key(tsl_keyset *ks, const char *pem, const char *kid)
{
    tsl_key *k = NULL;
    if (tsl_key_from_pem(pem, strlen(pem), &k, NULL) != TSL_OK ||
        (kid != NULL && tsl_key_set_kid(k, kid, NULL) != TSL_OK) ||
        tsl_keyset_add(ks, k, NULL) != TSL_OK)
        abort();
    tsl_key_free(k);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static tsl_keyset *ks;
    if (ks == NULL) {
        if (tsl_keyset_new(&ks, NULL) != TSL_OK)
            abort();
        add_key(ks, fuzz_rfc9901_pem, NULL);
        add_key(ks, fuzz_kid12_pem, "12");
    }
    tsl_ref_opts o;
    memset(&o, 0, sizeof o);
    o.policy.keys = ks;
    o.policy.now = 1700000000;
    o.policy.skew = 60;
    tsl_limits lim = {.max_input = (size_t)1 << 20, .max_inflated = (size_t)1 << 20};
    tsl_ref *r = NULL;
    tsl_error err;
    tsl_error_clear(&err);
    tsl_status st = tsl_ref_parse(data, size, &lim, &o, &r, &err);
    fuzz_check_ref(st, r, &err);
    return 0;
}
