/* serve_http.c - the libmicrohttpd adapter of `tsl serve`: it translates each request
 * into the library's answering calls (tsl_publish_answer_ops for /healthz and /metrics,
 * else tsl_publish_answer: negotiation, 304, 406, HEAD, ?time=, CORS, Vary, from the
 * publisher's immutable snapshot) and the answer back into a libmicrohttpd response,
 * handing bodies over without copying (the answer's references are given back by the
 * response's free callback). Counters and access log lines are the library's too
 * (tsl_metrics, tsl_access_log). What stays here is libmicrohttpd's: reading the
 * request, the peer's address, queueing responses, the request-head rules for requests
 * after a connection's first, and the connection notifications that keep the gate
 * (tsl_gate_*) informed, so that its deadlines and eviction go on applying to
 * connections inside libmicrohttpd. */
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

/* How much of the method and path a request keeps for its access log line: more than
 * the log records (8 and 200 bytes), so that it still marks a longer one with "...". */
#define LOG_METHOD_KEEP 15
#define LOG_PATH_KEEP 201
/* The most request body bytes read and dropped before the connection is closed. */
#define MAX_DISCARD TSL_GATE_BODY_MAX

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

/* The request is complete and its answer queued: the connection is no longer waiting
 * for a request, so no deadline or eviction applies (the gate's "answering"). */
static void serve_conn_answering(serve_ctx *ctx, struct MHD_Connection *mc);
static void serve_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                            enum MHD_RequestTerminationCode toe);

/* ---------------------------------------------------------------------------------- */
/* Access log and counters                                                              */

/* Keeps at most cap - 1 bytes of src, NUL-terminated. */
static void keep(char *dst, size_t cap, const char *src)
{
    size_t n = strnlen(src, cap - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static void access_log(serve_ctx *ctx, struct MHD_Connection *conn, const req *rq)
{
    if (ctx->log == NULL)
        return;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    char peer[INET6_ADDRSTRLEN + 1];
    tsl_addr_text(ci != NULL ? ci->client_addr : NULL, -1, peer, sizeof peer);
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
    tsl_http_response a;
    if (tsl_publish_answer_ops(ctx->pub, ctx->metrics, ctx->gate, &q, (int64_t)time(NULL),
                               &a, NULL) != TSL_OK)
        return MHD_NO;
    if (a.status == 0) { /* not /healthz or /metrics */
        tsl_snapshot *snap = tsl_publisher_snapshot(ctx->pub);
        tsl_publish_answer(snap, &q, &a);
        tsl_snapshot_release(snap); /* a holds its own reference when it borrows */
    }
    if (a.status == 0)
        return MHD_NO;
    return send_answer(ctx, conn, rq, &a, head);
}

/* ---------------------------------------------------------------------------------- */
/* Entry points                                                                         */

size_t serve_unescape(void *cls, struct MHD_Connection *conn, char *s)
{
    (void)cls;
    (void)conn;
    return tsl_http_unescape(s);
}

/* Hands libmicrohttpd's header list to tsl_http_head_field(). */
static enum MHD_Result head_field(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value)
{
    (void)kind;
    value = value != NULL ? value : "";
    tsl_http_head_field(cls, key, strlen(key), value, strlen(value));
    return MHD_YES;
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
        unsigned st = tsl_http_head_check(&h, TSL_GATE_BODY_MAX, &why);
        if (st != 0) {
            rq->queued = true;
            serve_conn_answering(ctx, conn);
            tsl_http_response a; /* the library's refusal, closing the connection */
            tsl_http_refusal(st, why, &a);
            return send_answer(ctx, conn, rq, &a, head);
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
    return answer(ctx, conn, rq, url, method, head);
}

static void serve_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
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

/* ---------------------------------------------------------------------------------- */
/* libmicrohttpd's side of the connection gate (its handle of a connection is the MHD
 * socket context; libmicrohttpd notifies a close before it closes the descriptor)     */

void serve_conn_notify(void *cls, struct MHD_Connection *mc, void **socket_context,
                       enum MHD_ConnectionNotificationCode code)
{
    serve_ctx *ctx = cls;
    if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        tsl_gate_conn_closed(ctx->gate, *socket_context);
        *socket_context = NULL;
        return;
    }
    const union MHD_ConnectionInfo *fi =
        MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CONNECTION_FD);
    const union MHD_ConnectionInfo *ai =
        MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (fi == NULL)
        return;
    const struct sockaddr *sa = ai != NULL ? ai->client_addr : NULL;
    size_t salen = 0;
    if (sa != NULL)
        salen = sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                          : sizeof(struct sockaddr_in);
    *socket_context = tsl_gate_conn_started(ctx->gate, fi->connect_fd, sa, salen);
}

static tsl_gate_conn *conn_of(struct MHD_Connection *mc)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci != NULL ? ci->socket_context : NULL;
}

static void serve_conn_answering(serve_ctx *ctx, struct MHD_Connection *mc)
{
    tsl_gate_conn_answering(ctx->gate, conn_of(mc));
}

void serve_conn_completed(void *cls, struct MHD_Connection *mc, void **con_cls,
                          enum MHD_RequestTerminationCode toe)
{
    serve_ctx *ctx = cls;
    serve_completed(cls, mc, con_cls, toe);
    tsl_gate_conn_answered(ctx->gate, conn_of(mc));
}

void serve_conn_refused(const tsl_gate_refusal *r, void *user)
{
    serve_ctx *ctx = user;
    tsl_metrics_count(ctx->metrics, r->status, TSL_ANSWER_NONE, r->bytes);
    tsl_access_log_write(ctx->log, r->peer, r->method, r->method_len, r->target,
                         r->target_len, r->status, r->bytes, TSL_ANSWER_NONE);
}
