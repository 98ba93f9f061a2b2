/* probe_int.h - what the probe of a Status List endpoint (probe.c) shares with its HTTP
 * client (probe_http.c) and its header-value parsers (probe_hdr.c); never installed.
 * Unlike the verifier's client (fetch_curl.c), the probe's keeps the status line, the
 * headers and the body exactly as sent (no content decoding), since those are what it
 * judges. */
#ifndef TSL_PROBE_INT_H
#define TSL_PROBE_INT_H

#include "core/tsl_int.h"

/* How the probe's requests are made. */
typedef struct {
    int allow_http;      /* http:// allowed besides https:// */
    const char *ca_file; /* PEM CA certificates instead of the system's, or NULL */
    long timeout_ms;     /* total time of one request, redirects included */
    size_t max_body;     /* bytes of a body kept; more is cut and flagged */
} tslp_probe_cfg;

/* One response: the last one when redirects were followed. */
typedef struct {
    long status;          /* HTTP status; 0 when no response arrived */
    char *headers;        /* the header block of the last response, NUL-terminated */
    size_t headers_len;
    uint8_t *body;        /* as received (no Content-Encoding undone), NUL after it */
    size_t body_len;
    int body_over;        /* the body went past max_body and was cut */
    long redirects;       /* redirects followed */
    char error[160];      /* transport failure (status 0), else "" */
} tslp_probe_resp;

/* Makes one request (method "GET" or "HEAD") with the extra header lines hdrs (each
 * "Name: value"; "Accept:" alone sends no Accept), following up to 5 redirects over
 * the allowed schemes. Transport failures are reported in r->error with r->status 0,
 * not as an error: the probe reports them as findings. TSL_ERR_NOMEM, TSL_ERR_ARG. */
tsl_status tslp_probe_http(const tslp_probe_cfg *c, const char *method, const char *url,
                           const char *const *hdrs, size_t nhdrs, tslp_probe_resp *r,
                           tsl_error *err);
void tslp_probe_resp_free(tslp_probe_resp *r);

/* ---- header values (probe_hdr.c): untrusted text, bounded, never allocating ---- */

/* The value of the first header field called name (case-insensitive) in a header block
 * of "Name: value" lines, trimmed of white space: 1 with *v and *n set, else 0. Values
 * longer than TSLP_PROBE_MAX_HEADER are cut to it. */
int tslp_hdr_find(const char *block, size_t len, const char *name, const char **v,
                  size_t *n);

/* 1 when the comma-separated list v[0..n) holds the token tok (case-insensitive,
 * parameters after '=' or ';' ignored): Vary's "Accept", Cache-Control's "no-store". */
int tslp_hdr_has_token(const char *v, size_t n, const char *tok);

/* Cache-Control's max-age: 1 and *secs for a well-formed one (digits, or a quoted
 * string of digits; values past 2^31 are 2^31 as RFC 9111 says), 0 when absent, -1
 * when present but malformed. */
int tslp_hdr_max_age(const char *v, size_t n, int64_t *secs);

/* 1 when the media type of a Content-Type value (before any ';', trimmed) is type
 * (case-insensitive). */
int tslp_hdr_media_is(const char *v, size_t n, const char *type);

#endif /* TSL_PROBE_INT_H */
