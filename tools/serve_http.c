/* serve_http.c - the libmicrohttpd adapter of `tsl serve`: it translates each request
 * into the library's answering call (tsl_publish_answer: negotiation, 304, 406, HEAD,
 * ?time=, CORS, Vary, from the publisher's immutable snapshot) and its answer back into
 * a libmicrohttpd response, handing bodies over without copying (a snapshot reference,
 * given back by the response's free callback). /healthz, /metrics, the counters and the
 * access log lines are the library's too (tsl_publisher_healthz, tsl_metrics,
 * tsl_access_log); what stays here is libmicrohttpd's: reading the request, the peer's
 * address, queueing responses, and the request-head rules for requests after the
 * first. */
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
/* How much of the method and path a request keeps for its access log line: more than
 * the log records (8 and 200 bytes), so that it still marks a longer one with "...". */
#define LOG_METHOD_KEEP 15
#define LOG_PATH_KEEP 201
/* The most request body bytes read and dropped before the connection is closed. */
#define MAX_DISCARD SERVE_BODY_MAX

/* What a request turned out to be, kept for the access log. */
typedef struct {
    char method[LOG_METHOD_KEEP + 1]; /* as received, cut */
    char path[LOG_PATH_KEEP + 1];
    unsigned status;
    uint64_t bytes;
    tsl_answer_kind fmt;
    bool started;   /* the first call (headers) has been seen */
    bool queued;    /* the answer is queued */
    uint64_t discarded; /* request body bytes dropped */
} req;

/* ---------------------------------------------------------------------------------- */
/* Access log and counters                                                              */

/* Keeps at most cap - 1 bytes of src, NUL-terminated. */
static void keep(char *dst, size_t cap, const char *src)
{
    size_t n = strnlen(src, cap - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
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

static void access_log(serve_ctx *ctx, struct MHD_Connection *conn, const req *rq)
{
    if (ctx->log == NULL)
        return;
    char peer[INET6_ADDRSTRLEN + 1];
    peer_name(conn, peer, sizeof peer);
    tsl_access_log_write(ctx->log, peer, rq->method, strlen(rq->method), rq->path,
                         strlen(rq->path), rq->status, rq->bytes, rq->fmt);
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
                             unsigned status, struct MHD_Response *resp,
                             tsl_answer_kind fmt, size_t body_len, bool head)
{
    if (resp == NULL)
        return MHD_NO;
    enum MHD_Result r = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    rq->status = status;
    rq->fmt = fmt;
    rq->bytes = head || status == 304 || status == 204 ? 0 : body_len;
    tsl_metrics_count(ctx->metrics, status, fmt, rq->bytes);
    access_log(ctx, conn, rq);
    return r;
}

/* For the server's own answers: adds the CORS headers the library's answers carry. */
static enum MHD_Result respond(serve_ctx *ctx, struct MHD_Connection *conn, req *rq,
                               unsigned status, struct MHD_Response *resp,
                               tsl_answer_kind fmt, size_t body_len, bool head)
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
    return respond(ctx, conn, rq, status, resp, TSL_ANSWER_NONE, len, head);
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
    return queue(ctx, conn, rq, a->status, resp, a->kind, a->body_len, head);
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

/* ok (200) or degraded (503), and since when the store is unreachable, nothing more
 * (tsl_publisher_healthz_text). */
static enum MHD_Result healthz(serve_ctx *ctx, struct MHD_Connection *conn, req *rq,
                               bool head)
{
    char body[96];
    unsigned status = tsl_publisher_healthz_text(ctx->pub, body, sizeof body);
    size_t len = strlen(body);
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        len, body, MHD_RESPMEM_MUST_COPY);
    if (resp == NULL)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", "text/plain; charset=utf-8");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    return respond(ctx, conn, rq, status, resp, TSL_ANSWER_NONE, len, head);
}

static enum MHD_Result metrics(serve_ctx *ctx, struct MHD_Connection *conn, req *rq,
                               bool head)
{
    char *text = NULL;
    size_t len = 0;
    if (tsl_metrics_text(ctx->metrics, ctx->pub, ctx->gate, (int64_t)time(NULL), &text,
                         &len, NULL) != TSL_OK)
        return MHD_NO;
    /* libmicrohttpd frees with free(): hand it a copy of the library's memory. */
    char *buf = malloc(len + 1);
    if (buf == NULL) {
        tsl_free(text);
        return MHD_NO;
    }
    memcpy(buf, text, len + 1);
    tsl_free(text);
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
    return respond(ctx, conn, rq, status, resp, TSL_ANSWER_NONE, len, head);
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
    rq->fmt = TSL_ANSWER_NONE;
    rq->bytes = 0;
    if (ci != NULL) {
        tsl_http_drain_input(ci->connect_fd);
        rq->bytes = tsl_http_write_error(ci->connect_fd, 413, "request body too large\n",
                                         head);
        shutdown(ci->connect_fd, SHUT_WR);
    }
    tsl_metrics_count(ctx->metrics, 413, TSL_ANSWER_NONE, rq->bytes);
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
        keep(rq->method, sizeof rq->method, method);
        keep(rq->path, sizeof rq->path, url);
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
