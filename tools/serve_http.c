/* serve_http.c - the libmicrohttpd adapter of `tsl serve`: it translates each request
 * into the library's answering call (tsl_publish_answer: negotiation, 304, 406, HEAD,
 * ?time=, CORS, Vary, from the publisher's immutable snapshot) and its answer back into
 * a libmicrohttpd response, handing bodies over without copying (a snapshot reference,
 * given back by the response's free callback). What is the server's own stays here:
 * /healthz, /metrics, the access log, the counters and the request-head rules. */
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

/* The CORS header every answer carries (the library adds it to its own). */
#define EXPOSE_HEADERS "ETag, Last-Modified"
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

/* Gives back what an answer borrowed or owned once libmicrohttpd is done with it. */
static void answer_free_cb(void *cls)
{
    tsl_http_response_free(cls);
    free(cls);
}

/* Queues a response and records the outcome. */
static enum MHD_Result queue(serve_ctx *ctx, struct MHD_Connection *conn, req *rq,
                             unsigned status, struct MHD_Response *resp, int fmt,
                             size_t body_len, bool head)
{
    if (resp == NULL)
        return MHD_NO;
    enum MHD_Result r = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    rq->status = status;
    rq->fmt = fmt;
    rq->bytes = head || status == 304 || status == 204 ? 0 : body_len;
    count(ctx, status, fmt, rq->bytes);
    access_log(ctx, conn, rq);
    return r;
}

/* For the server's own answers: adds the CORS headers the library's answers carry. */
static enum MHD_Result respond(serve_ctx *ctx, struct MHD_Connection *conn, req *rq,
                               unsigned status, struct MHD_Response *resp, int fmt,
                               size_t body_len, bool head)
{
    if (resp != NULL) {
        MHD_add_response_header(resp, "Access-Control-Allow-Origin", "*");
        MHD_add_response_header(resp, "Access-Control-Expose-Headers", EXPOSE_HEADERS);
    }
    return queue(ctx, conn, rq, status, resp, fmt, body_len, head);
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

/* Sends the library's answer a. A body borrowed from the snapshot or owned (a history
 * token) goes to libmicrohttpd without copying, with a copy of a (its references) for
 * the free callback; static bodies need nothing. Headers are copied by libmicrohttpd. */
static enum MHD_Result send_answer(serve_ctx *ctx, struct MHD_Connection *conn, req *rq,
                                   tsl_http_response *a, bool head)
{
    struct MHD_Response *resp;
    void *body = (void *)(uintptr_t)a->body;
    tsl_http_response *keep = NULL;
    if (a->ref_ != NULL || a->owned_ != NULL) {
        keep = malloc(sizeof *keep);
        if (keep == NULL) {
            tsl_http_response_free(a);
            return MHD_NO;
        }
        *keep = *a; /* the body points outside the struct: it stays valid */
        resp = MHD_create_response_from_buffer_with_free_callback_cls(a->body_len, body,
                                                                      answer_free_cb, keep);
        if (resp == NULL)
            answer_free_cb(keep);
    } else {
        resp = MHD_create_response_from_buffer(a->body_len, body, MHD_RESPMEM_PERSISTENT);
    }
    if (resp == NULL)
        return MHD_NO;
    for (size_t k = 0; k < a->nheaders; k++)
        MHD_add_response_header(resp, a->headers[k].name, a->headers[k].value);
    return queue(ctx, conn, rq, a->status, resp, (int)a->kind, a->body_len, head);
}

static enum MHD_Result answer(serve_ctx *ctx, struct MHD_Connection *conn, req *rq,
                              const char *url, const char *method, bool head)
{
    tsl_http_request q;
    memset(&q, 0, sizeof q);
    q.method = method;
    q.path = url;
    q.has_time = MHD_lookup_connection_value_n(conn, MHD_GET_ARGUMENT_KIND, "time", 4,
                                               &q.time, &q.time_len) == MHD_YES;
    q.accept = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Accept");
    q.accept_encoding = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Accept-Encoding");
    q.if_none_match = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "If-None-Match");
    q.if_modified_since =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "If-Modified-Since");
    serve_snapshot *snap = serve_snapshot_acquire(ctx);
    tsl_http_response a;
    tsl_publish_answer(snap, &q, &a);
    tsl_snapshot_release(snap); /* a holds its own reference when it borrows */
    if (a.status == 0) /* not the library's: /healthz or /metrics */
        return MHD_NO;
    return send_answer(ctx, conn, rq, &a, head);
}

/* ---------------------------------------------------------------------------------- */
/* Operations: health, metrics                                             */

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
    serve_health_info h;
    serve_health(ctx, &h);
    fprintf(f, "# HELP tsl_publishes_total Publishing attempts by the server.\n"
               "# TYPE tsl_publishes_total counter\n"
               "tsl_publishes_total{result=\"ok\"} %llu\n"
               "tsl_publishes_total{result=\"error\"} %llu\n",
            (unsigned long long)h.publishes_ok, (unsigned long long)h.publishes_err);
    serve_snapshot *snap = serve_snapshot_acquire(ctx);
    int64_t now = (int64_t)time(NULL), earliest = tsl_snapshot_earliest_exp(snap);
    size_t n = tsl_snapshot_count(snap);
    tsl_snapshot_release(snap);
    if (earliest != 0)
        fprintf(f, "# HELP tsl_seconds_to_earliest_expiry Seconds until the first served "
                   "token expires.\n"
                   "# TYPE tsl_seconds_to_earliest_expiry gauge\n"
                   "tsl_seconds_to_earliest_expiry %lld\n",
                (long long)(earliest - now));
    fprintf(f, "# HELP tsl_lists Status lists served.\n"
               "# TYPE tsl_lists gauge\n"
               "tsl_lists %zu\n", n);
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

/* Collects what tsl_http_head_check() judges from libmicrohttpd's header list. */
static enum MHD_Result head_field(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value)
{
    tsl_http_head *h = cls;
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
        tsl_http_drain_input(ci->connect_fd);
        rq->bytes = tsl_http_write_error(ci->connect_fd, 413, "request body too large\n",
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
        /* The gate (tsl_gate) judged the first head of the connection; the next ones
         * (keep-alive, pipelining) come straight here: the same rules. */
        tsl_http_head h;
        memset(&h, 0, sizeof h);
        h.http11 = version != NULL && strncmp(version, "HTTP/1.", 7) == 0 &&
                   version[7] != '0';
        h.bodyless = get || head || options;
        MHD_get_connection_values(conn, MHD_HEADER_KIND, head_field, &h);
        const char *why = NULL;
        unsigned st = tsl_http_head_check(&h, SERVE_BODY_MAX, &why);
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
    /* GET and HEAD of /healthz and /metrics are the server's; the rest the library's. */
    bool own = (get || head) && (strcmp(url, "/healthz") == 0 || strcmp(url, "/metrics") == 0);
    if (!own)
        return answer(ctx, conn, rq, url, method, head);
    if (strcmp(url, "/healthz") == 0)
        return healthz(ctx, conn, rq, head);
    return metrics(ctx, conn, rq, head);
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
