/* probe_http.c - the probe's HTTP client (libcurl): one request, its status, header
 * block and body exactly as sent (Content-Encoding is not undone, so the probe can
 * judge it), each bounded: TSLP_FETCH_MAX_HEADERS of headers, max_body of body, one
 * total timeout, at most 5 redirects over the allowed schemes, no cookies and no
 * credentials. */
#include "verify/probe_int.h"
#include "verify/fetch_int.h"

#include <curl/curl.h>
#include <string.h>

typedef struct {
    tslp_buf hdr;
    tslp_buf body;
    size_t max_body;
    int body_over;
    int hdr_over;
    int nomem;
} sink;

static size_t header_cb(char *p, size_t size, size_t n, void *ud)
{
    sink *s = ud;
    size_t add = size * n;
    /* each response of a redirect chain starts again: only the last one is judged */
    if (add >= 5 && memcmp(p, "HTTP/", 5) == 0)
        s->hdr.len = 0;
    if (add > TSLP_FETCH_MAX_HEADERS - s->hdr.len) {
        s->hdr_over = 1;
        return 0;
    }
    if (tslp_buf_append(&s->hdr, p, add, NULL) != TSL_OK) {
        s->nomem = 1;
        return 0;
    }
    return add;
}

static size_t write_cb(char *p, size_t size, size_t n, void *ud)
{
    sink *s = ud;
    size_t add = size * n;
    if (add > s->max_body - s->body.len) {
        s->body_over = 1;
        return 0;
    }
    if (tslp_buf_append(&s->body, p, add, NULL) != TSL_OK) {
        s->nomem = 1;
        return 0;
    }
    return add;
}

void tslp_probe_resp_free(tslp_probe_resp *r)
{
    if (r == NULL)
        return;
    tslp_free(r->headers);
    tslp_free(r->body);
    memset(r, 0, sizeof *r);
}

/* Takes a buffer's bytes with a NUL after them (an empty, never-NULL string when the
 * buffer is empty). */
static char *take_text(tslp_buf *b, size_t *len)
{
    if (tslp_buf_append(b, "", 1, NULL) != TSL_OK)
        return NULL;
    size_t n = 0;
    char *p = (char *)tslp_buf_take(b, &n);
    if (p != NULL)
        *len = n - 1;
    return p;
}

tsl_status tslp_probe_http(const tslp_probe_cfg *c, const char *method, const char *url,
                           const char *const *hdrs, size_t nhdrs, tslp_probe_resp *r,
                           tsl_error *err)
{
    if (c == NULL || method == NULL || url == NULL || r == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "probe: NULL argument");
    memset(r, 0, sizeof *r);
    tslp_fetch_global_init();
    CURL *h = curl_easy_init();
    if (h == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "probe: curl_easy_init failed");
    struct curl_slist *list = NULL;
    for (size_t i = 0; i < nhdrs; i++) {
        struct curl_slist *nl = curl_slist_append(list, hdrs[i]);
        if (nl == NULL) {
            curl_slist_free_all(list);
            curl_easy_cleanup(h);
            return tslp_fail(err, TSL_ERR_NOMEM, 0, "probe: out of memory");
        }
        list = nl;
    }
    sink s = {.max_body = c->max_body};
    tslp_buf_init(&s.hdr, TSLP_FETCH_MAX_HEADERS + 1, "probe headers");
    tslp_buf_init(&s.body, c->max_body + 1, "probe body");
    char errbuf[CURL_ERROR_SIZE] = "";
    const char *protos = c->allow_http ? "http,https" : "https";
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, protos);
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, protos);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c->timeout_ms);
    /* the body as sent: a gzip Content-Encoding is judged, not undone */
    curl_easy_setopt(h, CURLOPT_HTTP_CONTENT_DECODING, 0L);
    curl_easy_setopt(h, CURLOPT_NETRC, (long)CURL_NETRC_IGNORED);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    if (c->ca_file != NULL)
        curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "tsl-probe/" TSL_VERSION);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &s);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    CURLcode rc = curl_easy_perform(h);
    long code = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_getinfo(h, CURLINFO_REDIRECT_COUNT, &r->redirects);
    tsl_status st = TSL_OK;
    if (s.nomem) {
        st = tslp_fail(err, TSL_ERR_NOMEM, 0, "probe: out of memory");
        goto out;
    }
    if (s.body_over) {
        r->body_over = 1; /* the status and headers are still worth judging */
    } else if (s.hdr_over) {
        code = 0;
        snprintf(r->error, sizeof r->error, "response headers over %zu bytes",
                 TSLP_FETCH_MAX_HEADERS);
    } else if (rc != CURLE_OK) {
        code = 0;
        /* curl's message, cut to fit (the precision tells the compiler it is). */
        snprintf(r->error, sizeof r->error, "%.*s", (int)sizeof r->error - 1,
                 errbuf[0] ? errbuf : curl_easy_strerror(rc));
    }
    r->status = code;
    r->headers = take_text(&s.hdr, &r->headers_len);
    r->body = (uint8_t *)take_text(&s.body, &r->body_len);
    if (r->headers == NULL || r->body == NULL) {
        tslp_probe_resp_free(r);
        st = tslp_fail(err, TSL_ERR_NOMEM, 0, "probe: out of memory");
    }
out:
    tslp_buf_free(&s.hdr);
    tslp_buf_free(&s.body);
    curl_slist_free_all(list);
    curl_easy_cleanup(h);
    return st;
}
