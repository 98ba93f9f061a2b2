/* fetch_int.h - the built-in HTTP client of the verifier (fetch_curl.c), shared with
 * verify.c, and verify.c's test hook; never installed. */
#ifndef TSL_FETCH_INT_H
#define TSL_FETCH_INT_H

#include "tsl.h"

/* Settings of the built-in client: the verifier's context for tslp_fetch_curl(). */
typedef struct {
    int allow_http;    /* http:// allowed besides https:// */
    size_t max_body;   /* largest body accepted (after content decoding) */
    long timeout_ms;   /* total time of one fetch, connect included */
    int max_redirects; /* < 0: redirects are not followed */
    const char *ca_file; /* PEM CA certificates for TLS instead of the system's, or NULL */
} tslp_fetch_cfg;

/* A tsl_fetch_fn over libcurl; ctx is a const tslp_fetch_cfg *. One easy handle per
 * call: only https (or http with allow_http), redirects up to max_redirects, gzip
 * accepted, no cookies, no .netrc, URLs with userinfo refused, TLS verified. Errors:
 * TSL_ERR_IO (transport failure or a non-2xx answer, named), TSL_ERR_LIMIT (body over
 * max_body, headers over TSLP_FETCH_MAX_HEADERS), TSL_ERR_UNSUPPORTED (a URL we
 * refuse: scheme, userinfo), TSL_ERR_NOMEM. */
tsl_status tslp_fetch_curl(void *ctx, const char *url, const char *accept, uint8_t **body,
                           size_t *len, char **content_type, tsl_error *err);

/* curl_global_init, once per process (thread-safe). */
void tslp_fetch_global_init(void);

/* Test hook of verify.c: when set, called by tsl_verifier_check() right before it
 * verifies an offline Status List Token, with no lock held (tests/test_verify.c shows
 * with it that the checks of several threads overlap). NULL in normal use; set it
 * before any thread uses a verifier. */
extern void (*tslp_verify_offline_hook)(void);

#endif /* TSL_FETCH_INT_H */
