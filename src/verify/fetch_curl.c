/* fetch_curl.c - the verifier's built-in HTTP client (libcurl): fetches a Status List
 * Token over https with bounded size, time and redirects, no cookies and no
 * credentials. */
#include "verify/fetch_int.h"
#include "core/tsl_int.h"

#include <curl/curl.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static pthread_once_t global_once = PTHREAD_ONCE_INIT;

static void global_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

void tslp_fetch_global_init(void)
{
    pthread_once(&global_once, global_init);
}

typedef struct {
    tslp_buf body;   /* limit max_body + 1: room for the NUL added at the end */
    size_t max;
    int over;  /* the body went past max */
    int nomem;
    size_t hdr_len;  /* bytes of response headers received in this hop */
    int hdr_over;    /* they went past TSLP_FETCH_MAX_HEADERS */
    int hdr_done;    /* the blank line that ends a header block was seen */
} sink;

/* Counts the response headers of a hop and stops the transfer once they pass
 * TSLP_FETCH_MAX_HEADERS: libcurl itself only bounds each line (and then fails with
 * a bare "Out of memory"), not their sum. */
static size_t header_cb(char *p, size_t size, size_t n, void *ud)
{
    sink *s = ud;
    size_t add = size * n;
    if (add > TSLP_FETCH_MAX_HEADERS - s->hdr_len) {
        s->hdr_over = 1;
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    s->hdr_len += add;
    if (add >= 5 && memcmp(p, "HTTP/", 5) == 0)
        s->hdr_done = 0; /* a new status line: 1xx, or the next response */
    else if ((add == 2 && p[0] == '\r' && p[1] == '\n') || (add == 1 && p[0] == '\n'))
        s->hdr_done = 1;
    return add;
}

static size_t write_cb(char *p, size_t size, size_t n, void *ud)
{
    sink *s = ud;
    size_t add = size * n;
    if (add > s->max - s->body.len) {
        s->over = 1;
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    if (tslp_buf_append(&s->body, p, add, NULL) != TSL_OK) {
        s->nomem = 1; /* within max, so only memory can fail */
        return 0;
    }
    return add;
}

/* Refuses URLs with userinfo and schemes other than those allowed, before any I/O. */
static tsl_status check_url(const tslp_fetch_cfg *c, const char *url, tsl_error *err)
{
    CURLU *u = curl_url();
    if (u == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "fetch: out of memory");
    tsl_status st = TSL_OK;
    char *part = NULL;
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK) {
        st = tslp_fail(err, TSL_ERR_UNSUPPORTED, 0, "fetch: not a valid URL: %.200s", url);
        goto out;
    }
    if (curl_url_get(u, CURLUPART_USER, &part, 0) == CURLUE_OK ||
        curl_url_get(u, CURLUPART_PASSWORD, &part, 0) == CURLUE_OK) {
        st = tslp_fail(err, TSL_ERR_UNSUPPORTED, 0, "fetch: URL carries credentials (userinfo)");
        goto out;
    }
    if (curl_url_get(u, CURLUPART_SCHEME, &part, 0) != CURLUE_OK) {
        st = tslp_fail(err, TSL_ERR_UNSUPPORTED, 0, "fetch: URL without scheme");
        goto out;
    }
    if (strcmp(part, "https") != 0 && !(c->allow_http && strcmp(part, "http") == 0))
        st = tslp_fail(err, TSL_ERR_UNSUPPORTED, 0, "fetch: scheme %s not allowed (%s)", part,
                       c->allow_http ? "http and https only" : "https only");
out:
    curl_free(part);
    curl_url_cleanup(u);
    return st;
}

tsl_status tslp_fetch_curl(void *ctx, const char *url, const char *accept, uint8_t **body,
                           size_t *len, char **content_type, tsl_error *err)
{
    const tslp_fetch_cfg *c = ctx;
    if (c == NULL || url == NULL || body == NULL || len == NULL || content_type == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "fetch: NULL argument");
    tsl_status st = check_url(c, url, err);
    if (st != TSL_OK)
        return st;
    tslp_fetch_global_init();
    CURL *h = curl_easy_init();
    if (h == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "fetch: curl_easy_init failed");
    struct curl_slist *hdrs = NULL;
    char accept_hdr[256];
    snprintf(accept_hdr, sizeof accept_hdr, "Accept: %s", accept ? accept : "*/*");
    struct curl_slist *nh = curl_slist_append(NULL, accept_hdr);
    if (nh == NULL) {
        curl_easy_cleanup(h);
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "fetch: out of memory");
    }
    hdrs = nh;
    sink s = {.max = c->max_body};
    tslp_buf_init(&s.body, c->max_body < SIZE_MAX ? c->max_body + 1 : SIZE_MAX, "fetch body");
    char errbuf[CURL_ERROR_SIZE] = "";
    const char *protos = c->allow_http ? "http,https" : "https";
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, protos);
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, protos);
    /* Redirects are followed here, not by libcurl, so that every hop is checked by
     * check_url() (scheme, userinfo) before it is requested. */
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->timeout_ms);
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, ""); /* gzip and deflate accepted */
    curl_easy_setopt(h, CURLOPT_NETRC, (long)CURL_NETRC_IGNORED);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    if (c->ca_file != NULL) /* a private PKI: these CAs replace the system's */
        curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "tsl/" TSL_VERSION);
    curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)c->max_body);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &s);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    /* No cookie engine (CURLOPT_COOKIEFILE is never set) and no credentials. */
    long start = now_ms();
    CURLcode rc;
    long code = 0;
    char *next = NULL; /* the URL of the next hop, our copy */
    for (int hops = 0;; hops++) {
        /* the time limit covers the whole chain of redirects */
        long left = c->timeout_ms - (now_ms() - start);
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, left > 1 ? left : 1L);
        rc = curl_easy_perform(h);
        code = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
        char *loc = NULL;
        if (rc != CURLE_OK || code < 300 || code > 399 ||
            curl_easy_getinfo(h, CURLINFO_REDIRECT_URL, &loc) != CURLE_OK || loc == NULL)
            break;
        if (c->max_redirects < 0 || hops >= c->max_redirects) {
            st = tslp_fail(err, TSL_ERR_IO, 0, "fetch: more than %d redirects",
                           c->max_redirects < 0 ? 0 : c->max_redirects);
            break;
        }
        st = check_url(c, loc, err);
        if (st != TSL_OK) {
            tslp_error_prefix(err, "redirect");
            break;
        }
        size_t ln = strlen(loc);
        char *copy = tslp_malloc(ln + 1);
        if (copy == NULL) {
            st = tslp_fail(err, TSL_ERR_NOMEM, 0, "fetch: out of memory");
            break;
        }
        memcpy(copy, loc, ln + 1);
        tslp_free(next);
        next = copy;
        curl_easy_setopt(h, CURLOPT_URL, next);
        s.body.len = 0;
        s.hdr_len = 0;
        s.hdr_done = 0;
    }
    if (st != TSL_OK) {
        /* a refused or too long redirect chain: reported above */
    } else if (s.nomem) {
        st = tslp_fail(err, TSL_ERR_NOMEM, 0, "fetch: out of memory");
    } else if (s.hdr_over) {
        st = tslp_fail(err, TSL_ERR_LIMIT, 0, "fetch: response headers exceed %zu bytes",
                       TSLP_FETCH_MAX_HEADERS);
    } else if (rc == CURLE_OUT_OF_MEMORY && !s.hdr_done) {
        /* libcurl (7.88) reports a header line over its own cap (CURL_MAX_HTTP_HEADER,
         * 100 KiB) as "Out of memory", before header_cb sees it. */
        st = tslp_fail(err, TSL_ERR_LIMIT, 0,
                       "fetch: response headers exceed %zu bytes (libcurl refused a header "
                       "line as too long)", TSLP_FETCH_MAX_HEADERS);
    } else if (s.over || rc == CURLE_FILESIZE_EXCEEDED) {
        st = tslp_fail(err, TSL_ERR_LIMIT, 0, "fetch: body larger than %zu bytes",
                       c->max_body);
    } else if (rc != CURLE_OK) {
        st = tslp_fail(err, TSL_ERR_IO, 0, "fetch: %s", errbuf[0] ? errbuf
                                                                 : curl_easy_strerror(rc));
    } else if (code < 200 || code > 299) {
        st = tslp_fail(err, TSL_ERR_IO, 0, "fetch: HTTP status %ld", code);
    } else {
        char *ct = NULL;
        curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ct);
        size_t n = ct ? strlen(ct) : 0;
        char *copy = tslp_malloc(n + 1);
        if (copy == NULL) {
            st = tslp_fail(err, TSL_ERR_NOMEM, 0, "fetch: out of memory");
        } else {
            if (n)
                memcpy(copy, ct, n);
            copy[n] = '\0';
            /* The body with a NUL after it (not counted), as the caller expects. */
            uint8_t *b = NULL;
            size_t n0 = 0;
            if (tslp_buf_append(&s.body, "", 1, NULL) == TSL_OK)
                b = tslp_buf_take(&s.body, &n0);
            if (b == NULL) {
                tslp_free(copy);
                st = tslp_fail(err, TSL_ERR_NOMEM, 0, "fetch: out of memory");
            } else {
                *body = b;
                *len = n0 - 1;
                *content_type = copy;
            }
        }
    }
    tslp_buf_free(&s.body);
    tslp_free(next);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    return st;
}
