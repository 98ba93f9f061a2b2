/* serve_http.c - request handling of `tsl serve`: routing by path, content negotiation
 * (Accept, Accept-Encoding through tsl_http_*), conditional requests (ETag /
 * If-None-Match, Last-Modified / If-Modified-Since), caching and CORS headers, history
 * (?time=), the aggregation document, /healthz, /metrics and the access log. Every
 * answer comes from the immutable snapshot (or, for history, one store read); bodies
 * are handed to libmicrohttpd without copying, holding a snapshot reference that the
 * response's free callback gives back. */
#include "serve.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define ALLOW_METHODS "GET, HEAD, OPTIONS"
#define EXPOSE_HEADERS "ETag, Last-Modified"
#define ALLOW_HEADERS "If-None-Match, If-Modified-Since"
#define PREFLIGHT_MAX_AGE "86400"
#define VARY "Accept, Accept-Encoding"
/* The longest path the access log records; longer ones are cut and end in "...". */
#define LOG_PATH_MAX 200
/* The most request body bytes read and dropped before the connection is closed. */
#define MAX_DISCARD SERVE_BODY_MAX

/* What a request turned out to be, kept for the access log. */
typedef struct {
    char method[12];
    char path[LOG_PATH_MAX + 8];
    unsigned status;
    uint64_t bytes;
    int fmt;
    bool started;   /* the first call (headers) has been seen */
    bool queued;    /* the answer is queued */
    uint64_t discarded; /* request body bytes dropped */
} req;

static int64_t now_s(void)
{
    return (int64_t)time(NULL);
}

/* ---------------------------------------------------------------------------------- */
/* Access log and counters                                                              */

static void copy_sanitized(char *dst, size_t cap, const char *src, size_t max)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t w = 0, k = 0;
    for (; src[k] != '\0' && k < max && w + 4 < cap; k++) {
        unsigned char c = (unsigned char)src[k];
        if (c > 0x20 && c < 0x7f && c != '"' && c != '%' && c != '\\') {
            dst[w++] = (char)c;
        } else {
            dst[w++] = '%';
            dst[w++] = hex[c >> 4];
            dst[w++] = hex[c & 15];
        }
    }
    if (src[k] != '\0' && w + 4 <= cap) {
        memcpy(dst + w, "...", 3);
        w += 3;
    }
    dst[w] = '\0';
}

static void peer_name(struct MHD_Connection *conn, char *out, size_t cap)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    snprintf(out, cap, "-");
    if (ci == NULL || ci->client_addr == NULL)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out,
                  (socklen_t)cap);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
                  out, (socklen_t)cap);
}

/* Formats and writes one access log line. The descriptor is non-blocking (cmd_serve.c):
 * a log that cannot take the line now (a pipe nobody reads, a full disk) loses the line,
 * counted in /metrics, and never holds up the request thread. A line is shorter than
 * PIPE_BUF, so a pipe never receives half of one. */
static void log_line(serve_ctx *ctx, const char *peer, const char *method, const char *path,
                     unsigned status, uint64_t bytes, int fmt)
{
    char when[32], line[512];
    time_t t = time(NULL);
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL || strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ",
                                              &tm) == 0)
        snprintf(when, sizeof when, "-");
    int n = snprintf(line, sizeof line, "%s %s %s %s %u %llu %s\n", when, peer, method, path,
                     status, (unsigned long long)bytes, serve_fmt_names[fmt]);
    if (n <= 0)
        return;
    size_t len = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
    pthread_mutex_lock(&ctx->log_mu);
    ssize_t w = write(ctx->log_fd, line, len);
    pthread_mutex_unlock(&ctx->log_mu);
    if (w != (ssize_t)len)
        atomic_fetch_add_explicit(&ctx->log_dropped, 1, memory_order_relaxed);
}

static void access_log(serve_ctx *ctx, struct MHD_Connection *conn, const req *rq)
{
    if (ctx->log_fd < 0)
        return;
    char peer[INET6_ADDRSTRLEN + 1];
    peer_name(conn, peer, sizeof peer);
    log_line(ctx, peer, rq->method, rq->path, rq->status, rq->bytes, rq->fmt);
}

static void count(serve_ctx *ctx, unsigned status, int fmt, uint64_t bytes)
{
    size_t row = SERVE_NCODES;
    for (size_t k = 0; k < SERVE_NCODES; k++)
        if (serve_codes[k] == status)
            row = k;
    atomic_fetch_add(&ctx->requests[row][fmt], 1);
    atomic_fetch_add(&ctx->bytes, bytes);
}

/* ---------------------------------------------------------------------------------- */
/* Responses                                                                            */

static void release_cb(void *cls)
{
    serve_snapshot_release(cls);
}

static void tslfree_cb(void *cls)
{
    tsl_free(cls);
}

/* Adds the headers every response carries, queues it and records the outcome. */
static enum MHD_Result respond(serve_ctx *ctx, struct MHD_Connection *conn, req *rq,
                            unsigned status, struct MHD_Response *resp, int fmt,
                            size_t body_len, bool head)
{
    if (resp == NULL)
        return MHD_NO;
    MHD_add_response_header(resp, "Access-Control-Allow-Origin", "*");
    MHD_add_response_header(resp, "Access-Control-Expose-Headers", EXPOSE_HEADERS);
    enum MHD_Result r = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    rq->status = status;
    rq->fmt = fmt;
    rq->bytes = head || status == 304 || status == 204 ? 0 : body_len;
    count(ctx, status, fmt, rq->bytes);
    access_log(ctx, conn, rq);
    return r;
}

/* A short text answer (static text). */
static enum MHD_Result text(serve_ctx *ctx, struct MHD_Connection *conn, req *rq,
                            unsigned status, const char *body, bool vary, bool head)
{
    size_t len = strlen(body);
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)(uintptr_t)body,
                                        MHD_RESPMEM_PERSISTENT);
    if (resp == NULL)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", "text/plain; charset=utf-8");
    if (vary)
        MHD_add_response_header(resp, "Vary", VARY);
    if (status == 405)
        MHD_add_response_header(resp, "Allow", ALLOW_METHODS);
    return respond(ctx, conn, rq, status, resp, SERVE_FMT_NONE, len, head);
}

/* A text answer built in a malloc'd buffer (freed by MHD). */
static enum MHD_Result text_owned(serve_ctx *ctx, struct MHD_Connection *conn, req *rq,
                                  unsigned status, char *body, size_t len,
                                  const char *ctype, bool head)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (resp == NULL) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", ctype);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    return respond(ctx, conn, rq, status, resp, SERVE_FMT_NONE, len, head);
}

static enum MHD_Result preflight(serve_ctx *ctx, struct MHD_Connection *conn, req *rq)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(0, (void *)(uintptr_t)"", MHD_RESPMEM_PERSISTENT);
    if (resp == NULL)
        return MHD_NO;
    MHD_add_response_header(resp, "Access-Control-Allow-Methods", ALLOW_METHODS);
    MHD_add_response_header(resp, "Access-Control-Allow-Headers", ALLOW_HEADERS);
    MHD_add_response_header(resp, "Access-Control-Max-Age", PREFLIGHT_MAX_AGE);
    MHD_add_response_header(resp, "Allow", ALLOW_METHODS);
    return respond(ctx, conn, rq, 204, resp, SERVE_FMT_NONE, 0, false);
}

/* ---------------------------------------------------------------------------------- */
/* Conditional requests                                                                 */

/* If-None-Match (RFC 9110 section 13.1.2): "*" or a list of entity tags, compared
 * weakly. */
static bool etag_listed(const char *inm, const char *etag)
{
    size_t elen = strlen(etag);
    const char *p = inm;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (*p == '\0')
            return false;
        if (*p == '*')
            return true;
        if (p[0] == 'W' && p[1] == '/')
            p += 2;
        if (*p == '"') {
            const char *q = strchr(p + 1, '"');
            if (q == NULL)
                return false;
            if ((size_t)(q + 1 - p) == elen && memcmp(p, etag, elen) == 0)
                return true;
            p = q + 1;
        } else {
            p += strcspn(p, ",");
        }
    }
}

/* If-Modified-Since as an IMF-fixdate; other forms are ignored (RFC 9110 allows it). */
static bool parse_http_date(const char *s, int64_t *t)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *end = strptime(s, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    if (end == NULL || *end != '\0')
        return false;
    *t = (int64_t)timegm(&tm);
    return true;
}

static bool not_modified(struct MHD_Connection *conn, const char *etag, int64_t iat)
{
    const char *inm = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "If-None-Match");
    if (inm != NULL)
        return etag_listed(inm, etag);
    const char *ims =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "If-Modified-Since");
    int64_t t;
    return ims != NULL && parse_http_date(ims, &t) && iat <= t;
}

/* Adds the validators and caching headers of a token response. */
static void token_headers(struct MHD_Response *resp, const char *etag, const char *lastmod,
                          int64_t age)
{
    char cc[64];
    snprintf(cc, sizeof cc, "public, max-age=%lld", (long long)age);
    MHD_add_response_header(resp, "ETag", etag);
    MHD_add_response_header(resp, "Last-Modified", lastmod);
    MHD_add_response_header(resp, "Cache-Control", cc);
    MHD_add_response_header(resp, "Vary", VARY);
}

static enum MHD_Result send_304(serve_ctx *ctx, struct MHD_Connection *conn, req *rq,
                                const char *etag, const char *lastmod, int64_t age,
                                int fmt)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(0, (void *)(uintptr_t)"", MHD_RESPMEM_PERSISTENT);
    if (resp == NULL)
        return MHD_NO;
    token_headers(resp, etag, lastmod, age);
    return respond(ctx, conn, rq, 304, resp, fmt, 0, false);
}

/* ---------------------------------------------------------------------------------- */
/* Token responses                                                                      */

static const char *media(int fmt)
{
    return fmt == TSL_FORMAT_CWT ? TSL_MEDIA_CWT : TSL_MEDIA_JWT;
}

/* The current token. Takes over the caller's snapshot reference. */
static enum MHD_Result current(serve_ctx *ctx, struct MHD_Connection *conn, req *rq,
                               serve_snapshot *snap, const serve_list *l, int fmt,
                               bool head)
{
    const serve_form *f = &l->form[fmt - 1];
    const char *ae =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Accept-Encoding");
    bool gz = fmt == TSL_FORMAT_JWT && f->gz != NULL && ae != NULL &&
              tsl_http_accepts_gzip(ae, strlen(ae));
    const uint8_t *body = gz ? f->gz : f->body;
    size_t len = gz ? f->gz_len : f->len;
    const char *etag = gz ? f->etag_gz : f->etag;
    int64_t age = tsl_publish_max_age(l->ttl, f->exp, now_s());
    int sfmt = fmt == TSL_FORMAT_CWT ? SERVE_FMT_CWT : SERVE_FMT_JWT;
    if (not_modified(conn, etag, f->iat)) {
        enum MHD_Result r = send_304(ctx, conn, rq, etag, f->last_modified, age, sfmt);
        serve_snapshot_release(snap);
        return r;
    }
    struct MHD_Response *resp = MHD_create_response_from_buffer_with_free_callback_cls(
        len, (void *)(uintptr_t)body, release_cb, snap);
    if (resp == NULL) {
        serve_snapshot_release(snap);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", media(fmt));
    if (gz)
        MHD_add_response_header(resp, "Content-Encoding", "gzip");
    token_headers(resp, etag, f->last_modified, age);
    return respond(ctx, conn, rq, 200, resp, sfmt, len, head);
}

/* The token valid at time t (section 8.4): iat <= t < exp, read through a history
 * reader of its own, so it never waits for the publisher. */
static enum MHD_Result history(serve_ctx *ctx, struct MHD_Connection *conn, req *rq,
                               const serve_list *l, int fmt, int64_t t, bool head)
{
    uint8_t *tok = NULL;
    size_t len = 0;
    int64_t iat = 0, exp = 0;
    tsl_error err;
    tsl_error_clear(&err);
    tsl_status r = TSL_ERR_INDEX;
    if (t > 0) /* at 0 the store means "the newest" */
        r = serve_history_token(ctx, l->id, (tsl_format)fmt, t, &tok, &len, &iat, &exp,
                                &err);
    if (r == TSL_OK && !(iat <= t && t < exp)) {
        tsl_free(tok);
        r = TSL_ERR_INDEX;
    }
    if (r == TSL_ERR_INDEX)
        return text(ctx, conn, rq, 404, "no token covers that time\n", true, head);
    if (r != TSL_OK) {
        cli_err("serve", "history of list \"%s\": %s", l->id,
                err.msg[0] ? err.msg : tsl_strerror(r));
        return text(ctx, conn, rq, 500, "history unavailable\n", true, head);
    }
    char etag[SERVE_ETAG_SIZE], lastmod[SERVE_DATE_SIZE];
    tsl_publish_etag(tok, len, etag);
    tsl_http_date(iat, lastmod);
    int64_t age = tsl_publish_max_age(l->ttl, exp, now_s());
    int sfmt = fmt == TSL_FORMAT_CWT ? SERVE_FMT_CWT : SERVE_FMT_JWT;
    if (not_modified(conn, etag, iat)) {
        tsl_free(tok);
        return send_304(ctx, conn, rq, etag, lastmod, age, sfmt);
    }
    struct MHD_Response *resp =
        MHD_create_response_from_buffer_with_free_callback_cls(len, tok, tslfree_cb, tok);
    if (resp == NULL) {
        tsl_free(tok);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", media(fmt));
    token_headers(resp, etag, lastmod, age);
    return respond(ctx, conn, rq, 200, resp, sfmt, len, head);
}

static enum MHD_Result list_request(serve_ctx *ctx, struct MHD_Connection *conn, req *rq,
                                    const char *url, bool get, bool head, bool options)
{
    serve_snapshot *snap = serve_snapshot_acquire(ctx);
    const serve_list *l = snap != NULL ? serve_snapshot_find(snap, url, strlen(url)) : NULL;
    enum MHD_Result r;
    if (l == NULL) {
        r = text(ctx, conn, rq, 404, "not found\n", false, head);
    } else if (options) {
        r = preflight(ctx, conn, rq);
    } else if (!get && !head) {
        r = text(ctx, conn, rq, 405, "method not allowed\n", true, false);
    } else {
        const char *tv = NULL;
        size_t tvlen = 0;
        bool has_time = MHD_lookup_connection_value_n(conn, MHD_GET_ARGUMENT_KIND, "time",
                                                      4, &tv, &tvlen) == MHD_YES;
        int64_t t = 0;
        const char *accept = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Accept");
        int fmt = tsl_http_choose_format(accept, accept != NULL ? strlen(accept) : 0,
                                         l->formats, ctx->dflt);
        if (has_time && !ctx->history)
            r = text(ctx, conn, rq, 501, "history (?time=) is not supported\n", true, head);
        else if (has_time && (tv == NULL || !tsl_http_parse_time(tv, tvlen, &t)))
            r = text(ctx, conn, rq, 400, "time: expected unix seconds\n", true, head);
        else if (fmt != TSL_FORMAT_JWT && fmt != TSL_FORMAT_CWT)
            r = text(ctx, conn, rq, 406, tsl_publish_not_acceptable(l->formats), true, head);
        else if (!(l->formats & (unsigned)fmt)) /* the helper offered a missing form */
            r = text(ctx, conn, rq, 406, tsl_publish_not_acceptable(l->formats), true, head);
        else if (has_time)
            r = history(ctx, conn, rq, l, fmt, t, head);
        else
            return current(ctx, conn, rq, snap, l, fmt, head); /* keeps the reference */
    }
    serve_snapshot_release(snap);
    return r;
}

/* ---------------------------------------------------------------------------------- */
/* Operations: aggregation, health, metrics                                             */

static enum MHD_Result aggregation(serve_ctx *ctx, struct MHD_Connection *conn, req *rq,
                                   bool head)
{
    serve_snapshot *snap = serve_snapshot_acquire(ctx);
    if (snap == NULL)
        return text(ctx, conn, rq, 503, "starting\n", false, head);
    const char *inm = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "If-None-Match");
    if (inm != NULL && etag_listed(inm, snap->agg_etag)) {
        struct MHD_Response *resp = MHD_create_response_from_buffer(
            0, (void *)(uintptr_t)"", MHD_RESPMEM_PERSISTENT);
        if (resp != NULL) {
            MHD_add_response_header(resp, "ETag", snap->agg_etag);
            MHD_add_response_header(resp, "Cache-Control", "public, max-age=60");
        }
        serve_snapshot_release(snap);
        return respond(ctx, conn, rq, 304, resp, SERVE_FMT_JSON, 0, false);
    }
    size_t len = snap->agg_len;
    struct MHD_Response *resp = MHD_create_response_from_buffer_with_free_callback_cls(
        len, snap->agg, release_cb, snap);
    if (resp == NULL) {
        serve_snapshot_release(snap);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "application/json");
    MHD_add_response_header(resp, "ETag", snap->agg_etag);
    MHD_add_response_header(resp, "Cache-Control", "public, max-age=60");
    return respond(ctx, conn, rq, 200, resp, SERVE_FMT_JSON, len, head);
}

/* ok (200) or degraded (503), nothing more: which list and why is in the log and, by
 * kind, in /metrics, not on a public endpoint (key paths, list ids). */
static enum MHD_Result healthz(serve_ctx *ctx, struct MHD_Connection *conn, req *rq,
                               bool head)
{
    serve_health_info h;
    serve_health(ctx, &h);
    bool degraded = h.stalled;
    for (int k = 0; k < SERVE_NPROB; k++)
        degraded = degraded || h.problems[k] != 0;
    const char *body = degraded ? "degraded\n" : "ok\n";
    size_t len = strlen(body);
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        len, (void *)(uintptr_t)body, MHD_RESPMEM_PERSISTENT);
    if (resp == NULL)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", "text/plain; charset=utf-8");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    return respond(ctx, conn, rq, degraded ? 503 : 200, resp, SERVE_FMT_NONE, len, head);
}

static enum MHD_Result metrics(serve_ctx *ctx, struct MHD_Connection *conn, req *rq,
                               bool head)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (f == NULL)
        return MHD_NO;
    fputs("# HELP tsl_requests_total HTTP requests answered, by status code and format.\n"
          "# TYPE tsl_requests_total counter\n", f);
    for (size_t i = 0; i <= SERVE_NCODES; i++)
        for (size_t j = 0; j < SERVE_NFMT; j++) {
            unsigned long long v = atomic_load(&ctx->requests[i][j]);
            if (v == 0)
                continue;
            if (i < SERVE_NCODES)
                fprintf(f, "tsl_requests_total{code=\"%u\",format=\"%s\"} %llu\n",
                        serve_codes[i], serve_fmt_names[j], v);
            else
                fprintf(f, "tsl_requests_total{code=\"other\",format=\"%s\"} %llu\n",
                        serve_fmt_names[j], v);
        }
    fprintf(f, "# HELP tsl_response_bytes_total Response body bytes sent.\n"
               "# TYPE tsl_response_bytes_total counter\n"
               "tsl_response_bytes_total %llu\n",
            (unsigned long long)atomic_load(&ctx->bytes));
    fprintf(f, "# HELP tsl_access_log_dropped_total Access log lines lost because the log "
               "could not take them at once.\n"
               "# TYPE tsl_access_log_dropped_total counter\n"
               "tsl_access_log_dropped_total %llu\n",
            (unsigned long long)atomic_load(&ctx->log_dropped));
    fprintf(f, "# HELP tsl_publishes_total Publishing attempts by the server.\n"
               "# TYPE tsl_publishes_total counter\n"
               "tsl_publishes_total{result=\"ok\"} %llu\n"
               "tsl_publishes_total{result=\"error\"} %llu\n",
            (unsigned long long)atomic_load(&ctx->publishes_ok),
            (unsigned long long)atomic_load(&ctx->publishes_err));
    serve_snapshot *snap = serve_snapshot_acquire(ctx);
    int64_t now = now_s(), earliest = 0;
    bool any = false;
    size_t n = snap != NULL ? snap->n : 0;
    for (size_t k = 0; k < n; k++)
        for (int j = 0; j < 2; j++) {
            const serve_form *fm = &snap->lists[k]->form[j];
            if (fm->present && fm->exp != 0 && (!any || fm->exp < earliest)) {
                earliest = fm->exp;
                any = true;
            }
        }
    serve_snapshot_release(snap);
    if (any)
        fprintf(f, "# HELP tsl_seconds_to_earliest_expiry Seconds until the first served "
                   "token expires.\n"
                   "# TYPE tsl_seconds_to_earliest_expiry gauge\n"
                   "tsl_seconds_to_earliest_expiry %lld\n",
                (long long)(earliest - now));
    fprintf(f, "# HELP tsl_lists Status lists served.\n"
               "# TYPE tsl_lists gauge\n"
               "tsl_lists %zu\n", n);
    serve_health_info h;
    serve_health(ctx, &h);
    fputs("# HELP tsl_problems What makes /healthz degraded, by kind (the log names the "
          "lists).\n"
          "# TYPE tsl_problems gauge\n", f);
    for (int k = 0; k < SERVE_NPROB; k++)
        fprintf(f, "tsl_problems{kind=\"%s\"} %u\n", serve_prob_names[k], h.problems[k]);
    fprintf(f, "# HELP tsl_publisher_round_age_seconds Seconds since the publisher last "
               "completed a round.\n"
               "# TYPE tsl_publisher_round_age_seconds gauge\n"
               "tsl_publisher_round_age_seconds %.3f\n"
               "# HELP tsl_publisher_stalled 1 when no round completed in the expected "
               "time.\n"
               "# TYPE tsl_publisher_stalled gauge\n"
               "tsl_publisher_stalled %d\n",
            (double)h.round_age_ms / 1000.0, h.stalled ? 1 : 0);
    serve_conn_metrics(ctx, f);
    if (fclose(f) != 0) {
        free(buf);
        return MHD_NO;
    }
    return text_owned(ctx, conn, rq, 200, buf, len, "text/plain; version=0.0.4", head);
}

/* ---------------------------------------------------------------------------------- */
/* Entry points                                                                         */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

size_t serve_unescape(void *cls, struct MHD_Connection *conn, char *s)
{
    (void)cls;
    (void)conn;
    size_t r = 0, w = 0;
    while (s[r] != '\0') {
        int hi, lo;
        if (s[r] == '%' && (hi = hexval(s[r + 1])) >= 0 && (lo = hexval(s[r + 2])) >= 0 &&
            (hi | lo) != 0) {
            s[w++] = (char)(hi * 16 + lo);
            r += 3;
        } else {
            s[w++] = s[r++];
        }
    }
    s[w] = '\0';
    return w;
}

void serve_count(serve_ctx *ctx, unsigned status, uint64_t bytes)
{
    count(ctx, status, SERVE_FMT_NONE, bytes);
}

void serve_log_raw(serve_ctx *ctx, const char *peer, const char *method, size_t mlen,
                   const char *path, size_t plen, unsigned status, uint64_t bytes)
{
    if (ctx->log_fd < 0)
        return;
    req rq;
    char m[16], p[LOG_PATH_MAX + 2];
    memset(&rq, 0, sizeof rq);
    mlen = mlen < sizeof m ? mlen : sizeof m - 1;
    plen = plen < sizeof p ? plen : sizeof p - 1;
    memcpy(m, method, mlen);
    m[mlen] = '\0';
    memcpy(p, path, plen);
    p[plen] = '\0';
    copy_sanitized(rq.method, sizeof rq.method, m, 8);
    copy_sanitized(rq.path, sizeof rq.path, p, LOG_PATH_MAX);
    log_line(ctx, peer, rq.method, rq.path, status, bytes, SERVE_FMT_NONE);
}

/* Collects what serve_head_check() judges from libmicrohttpd's header list. */
static enum MHD_Result head_field(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value)
{
    serve_head *h = cls;
    (void)kind;
    if (value == NULL)
        value = "";
    size_t len = strlen(value);
    if (strcasecmp(key, "Host") == 0) {
        if (h->n_host++ == 0) {
            while (len > 0 && (value[len - 1] == ' ' || value[len - 1] == '\t'))
                len--;
            h->host = value;
            h->host_len = len;
        }
    } else if (strcasecmp(key, "Content-Length") == 0) {
        if (h->n_cl++ == 0) {
            h->cl = value;
            h->cl_len = len;
        }
    } else if (strcasecmp(key, "Transfer-Encoding") == 0) {
        if (h->n_te++ == 0) {
            h->te = value;
            h->te_len = len;
        }
    }
    return MHD_YES;
}

/* A refusal of the request head: a short text, and the connection closed after it
 * (what follows the head cannot be trusted to frame the next request). */
static enum MHD_Result refuse(serve_ctx *ctx, struct MHD_Connection *conn, req *rq,
                              unsigned status, const char *why, bool head)
{
    size_t len = strlen(why);
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        len, (void *)(uintptr_t)why, MHD_RESPMEM_PERSISTENT);
    if (resp == NULL)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", "text/plain; charset=utf-8");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    return respond(ctx, conn, rq, status, resp, SERVE_FMT_NONE, len, head);
}

/* A chunked body grew past MAX_DISCARD. libmicrohttpd 0.9.75 cannot queue an answer
 * while a body is coming in (MHD_queue_response() refuses in that state), so the 413 is
 * written to the socket here and MHD_NO makes libmicrohttpd close the connection. */
static enum MHD_Result body_too_large(serve_ctx *ctx, struct MHD_Connection *conn,
                                      req *rq, bool head)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    rq->status = 413;
    rq->fmt = SERVE_FMT_NONE;
    rq->bytes = 0;
    if (ci != NULL) {
        serve_drain_input(ci->connect_fd);
        rq->bytes = serve_write_error(ci->connect_fd, 413, "request body too large\n",
                                      head);
        shutdown(ci->connect_fd, SHUT_WR);
    }
    count(ctx, 413, SERVE_FMT_NONE, rq->bytes);
    access_log(ctx, conn, rq);
    return MHD_NO;
}

enum MHD_Result serve_handle(void *cls, struct MHD_Connection *conn, const char *url,
                             const char *method, const char *version,
                             const char *upload_data, size_t *upload_data_size,
                             void **con_cls)
{
    serve_ctx *ctx = cls;
    (void)upload_data;
    req *rq = *con_cls;
    bool get = strcmp(method, "GET") == 0, head = strcmp(method, "HEAD") == 0;
    bool options = strcmp(method, "OPTIONS") == 0;
    if (rq == NULL) {
        rq = calloc(1, sizeof *rq);
        if (rq == NULL)
            return MHD_NO;
        *con_cls = rq;
        atomic_fetch_add(&ctx->inflight, 1);
        copy_sanitized(rq->method, sizeof rq->method, method, 8);
        copy_sanitized(rq->path, sizeof rq->path, url, LOG_PATH_MAX);
        /* The gate (serve_conn.c) judged the first head of the connection; the next
         * ones (keep-alive, pipelining) come straight here: the same rules. */
        serve_head h;
        memset(&h, 0, sizeof h);
        h.http11 = version != NULL && strncmp(version, "HTTP/1.", 7) == 0 &&
                   version[7] != '0';
        h.bodyless = get || head || options;
        MHD_get_connection_values(conn, MHD_HEADER_KIND, head_field, &h);
        const char *why = NULL;
        unsigned st = serve_head_check(&h, &why);
        if (st != 0) {
            rq->queued = true;
            serve_conn_answering(ctx, conn);
            return refuse(ctx, conn, rq, st, why, head);
        }
    }
    if (rq->queued) { /* a request body after our answer: not read */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (get || head || options) {
        /* Answer once the request is complete (the first call comes after the headers):
         * answering earlier makes libmicrohttpd close the connection. A body is read
         * and dropped, up to a bound (a Content-Length over it was refused above). */
        if (!rq->started) {
            rq->started = true;
            return MHD_YES;
        }
        if (*upload_data_size != 0) { /* chunked, or within the Content-Length */
            rq->discarded += *upload_data_size;
            *upload_data_size = 0;
            if (rq->discarded <= MAX_DISCARD)
                return MHD_YES;
            rq->queued = true;
            return body_too_large(ctx, conn, rq, head);
        }
    }
    rq->queued = true;
    serve_conn_answering(ctx, conn);
    bool ops = strcmp(url, "/healthz") == 0 || strcmp(url, "/metrics") == 0 ||
               (ctx->agg_path != NULL && strcmp(url, ctx->agg_path) == 0);
    if (!ops)
        return list_request(ctx, conn, rq, url, get, head, options);
    if (options)
        return preflight(ctx, conn, rq);
    if (!get && !head)
        return text(ctx, conn, rq, 405, "method not allowed\n", false, false);
    if (strcmp(url, "/healthz") == 0)
        return healthz(ctx, conn, rq, head);
    if (strcmp(url, "/metrics") == 0)
        return metrics(ctx, conn, rq, head);
    return aggregation(ctx, conn, rq, head);
}

void serve_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                     enum MHD_RequestTerminationCode toe)
{
    serve_ctx *ctx = cls;
    (void)conn;
    (void)toe;
    req *rq = *con_cls;
    if (rq == NULL)
        return;
    *con_cls = NULL;
    free(rq);
    atomic_fetch_sub(&ctx->inflight, 1);
}
