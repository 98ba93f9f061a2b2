/* fuzz_mdoc.c - libFuzzer target for Referenced Tokens in CBOR form, mdoc first: the
 * input goes to tsl_ref_parse() with the historical mdoc vector's DS certificate as the
 * only trust anchor and a time inside its validity, so seeds built from that vector
 * reach the x5chain, signature, MSO validity and status checks. A failure must carry
 * its own code and message and leave no result; a success must answer its accessors. */
#include "fuzz_common.h"
#include "tsl.h"

#include <stdlib.h>
#include <string.h>

/* The x5chain certificate of testvectors/historical_rev15_sec6_3_2_mdoc_issuerauth.json
 * ("utopia ds", issued by "utopia iaca", valid 2024-10-01 to 2025-10-01). */
static const char fuzz_ds_pem[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIB7zCCAZWgAwIBAgIUC/7H2pfgSOFaw9rLnq/oLmT9B/UwCgYIKoZIzj0EAwIw\n"
    "IzEUMBIGA1UEAwwLdXRvcGlhIGlhY2ExCzAJBgNVBAYTAlVTMB4XDTI0MTAwMTAw\n"
    "MDAwMFoXDTI1MTAwMTAwMDAwMFowITESMBAGA1UEAwwJdXRvcGlhIGRzMQswCQYD\n"
    "VQQGEwJVUzBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABKznq3NA5dlkjFpyqab1\n"
    "Z0XHqtQ2oDpD7+p3tfp7iPAZfVfYmD4bN9OlOfTViDZeOMu/W5TWjFR7W8hzHc0v\n"
    "FGujgagwgaUwHAYDVR0fBBUwEzARoA+gDYILZXhhbXBsZS5jb20wHgYDVR0SBBcw\n"
    "FYETZXhhbXBsZUBleGFtcGxlLmNvbTAdBgNVHQ4EFgQUFOKQF6bDViH/x6aGt7ct\n"
    "sGzRI1EwHwYDVR0jBBgwFoAUVPojg6BMKODZMHkiYcgMSIHSwAswDgYDVR0PAQH/\n"
    "BAQDAgeAMBUGA1UdJQEB/wQLMAkGByiBjF0FAQIwCgYIKoZIzj0EAwIDSAAwRQIh\n"
    "ALcQP9S5BSn1C9b3DFrlzn9PPU0VpOCCgS+fofXC5aoKAiAHCygi7HzmxWgEkjqF\n"
    "ss+//QVM+akV8HDP73F5pLxlaQ==\n"
    "-----END CERTIFICATE-----\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static tsl_trust *trust;
    if (trust == NULL) {
        if (tsl_trust_new(&trust, NULL) != TSL_OK ||
            tsl_trust_add_pem(trust, fuzz_ds_pem, strlen(fuzz_ds_pem), NULL) != TSL_OK)
            abort();
    }
    tsl_ref_opts o;
    memset(&o, 0, sizeof o);
    o.policy.trust = trust;
    o.policy.now = 1735689600; /* 2025-01-01 */
    tsl_limits lim = {.max_input = (size_t)1 << 20, .max_inflated = (size_t)1 << 20};
    tsl_ref *r = NULL;
    tsl_error err;
    tsl_error_clear(&err);
    tsl_status st = tsl_ref_parse(data, size, &lim, &o, &r, &err);
    fuzz_check_ref(st, r, &err);
    return 0;
}
