/* serve_admin.c - the issuer API's listener of `tsl serve` (--admin-listen): a second
 * libmicrohttpd daemon, off by default, that hands every request to the library's
 * HTTP-independent issuer API (tsl_admin_precheck after the head, tsl_admin_answer with
 * the body) and nothing else; the public listener is not touched. What stays here is
 * libmicrohttpd's and the socket's: reading the body within a cap, HTTPS and the client
 * certificate check (mTLS, GnuTLS), the connection limits, a deadline for each whole
 * request (a watchdog thread: libmicrohttpd's own timeout is only for silence, so a
 * client sending one byte a second could hold a connection forever), GET /metrics (the
 * API's counters), and one access log line per request naming the key that acted. */
#include "serve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Connections at most, and from one client address: one thread each, and the issuer API
 * has a few services as clients, not the public. Beyond, libmicrohttpd closes them at
 * once. Their descriptors, with the API's store handles, fit in the TSL_FD_RESERVE
 * that tsl_fd_limit_fit() keeps beside the public connections. */
#define ADMIN_CONNECTION_LIMIT 64u
#define ADMIN_PER_IP_LIMIT 32u
/* Per connection: the request line and headers (an Authorization header is ~70 bytes). */
#define ADMIN_CONNECTION_MEMORY (32u * 1024u)
/* Seconds without any byte before libmicrohttpd closes a connection. */
#define ADMIN_SILENCE_TIMEOUT 10u
/* How often the watchdog looks at the deadlines. */
#define WATCHDOG_MS 200
/* The largest PEM file (certificate, key, CA) read. */
#define PEM_FILE_MAX (1024u * 1024u)
/* The raw request target kept (path and query); a longer one is refused with 414. */
#define TARGET_MAX 4096u

/* ---------------------------------------------------------------------------------- */
/* Connections and the watchdog                                                         */

/* One connection: on the watchdog's list from libmicrohttpd's "started" to its
 * "closed" notification, which comes before the descriptor is closed, so the watchdog
 * never shuts down a descriptor that was reused. */
typedef struct aconn {
    struct aconn *prev, *next;
    int fd;
    int64_t since_ms;  /* when the request being received began (or the connection) */
    bool answering;    /* the request is complete: no deadline while it is answered */
    bool cut;          /* the watchdog shut it down */
    int tls_ok;        /* mTLS: 0 not checked yet, 1 verified, -1 refused */
} aconn;

/* One request, from its request line (the URI log callback) to its completion. */
typedef struct {
    char *target;           /* the raw request target, path and query */
    bool started;           /* the first call (after the head) has been seen */
    bool done;              /* answer queued, or the connection refused */
    bool chunked;
    uint64_t declared;      /* Content-Length, or UINT64_MAX */
    char key_id[TSL_APIKEY_ID_LEN + 1]; /* who the head authenticated, for the log */
    uint8_t *body;
    size_t len, cap;
} areq;

struct serve_admin {
    serve_ctx *ctx;
    tsl_admin *api;
    struct MHD_Daemon *d;
    struct sockaddr_storage sa;
    const char *text;
    bool tls, mtls;
    size_t max_body;
    int64_t deadline_ms;
    pthread_mutex_t mu;
    aconn *conns;
    pthread_t watchdog;
    bool watchdog_on;
    bool stopping;          /* under mu */
    pthread_cond_t wake;
};

static int64_t mono_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void *watchdog_main(void *arg)
{
    serve_admin *a = arg;
    pthread_mutex_lock(&a->mu);
    while (!a->stopping) {
        int64_t now = mono_ms();
        for (aconn *c = a->conns; c != NULL; c = c->next) {
            if (!c->answering && !c->cut && now - c->since_ms > a->deadline_ms) {
                /* libmicrohttpd's thread sees end of input and closes the connection. */
                shutdown(c->fd, SHUT_RDWR);
                c->cut = true;
            }
        }
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += WATCHDOG_MS * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&a->wake, &a->mu, &until);
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

static void conn_notify(void *cls, struct MHD_Connection *mc, void **socket_context,
                        enum MHD_ConnectionNotificationCode code)
{
    serve_admin *a = cls;
    if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        aconn *c = *socket_context;
        if (c == NULL)
            return;
        pthread_mutex_lock(&a->mu);
        if (c->prev != NULL)
            c->prev->next = c->next;
        else
            a->conns = c->next;
        if (c->next != NULL)
            c->next->prev = c->prev;
        pthread_mutex_unlock(&a->mu);
        free(c);
        *socket_context = NULL;
        return;
    }
    const union MHD_ConnectionInfo *fi =
        MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CONNECTION_FD);
    aconn *c = fi != NULL ? calloc(1, sizeof *c) : NULL;
    if (c == NULL) { /* out of memory: no deadline; libmicrohttpd's timeout still holds */
        *socket_context = NULL;
        return;
    }
    c->fd = fi->connect_fd;
    c->since_ms = mono_ms();
    pthread_mutex_lock(&a->mu);
    c->next = a->conns;
    if (a->conns != NULL)
        a->conns->prev = c;
    a->conns = c;
    pthread_mutex_unlock(&a->mu);
    *socket_context = c;
}

static aconn *conn_of(struct MHD_Connection *mc)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci != NULL ? ci->socket_context : NULL;
}

/* The request is complete (answering) or answered (the next one's clock starts). */
static void conn_state(serve_admin *a, struct MHD_Connection *mc, bool answering)
{
    aconn *c = conn_of(mc);
    if (c == NULL)
        return;
    pthread_mutex_lock(&a->mu);
    c->answering = answering;
    if (!answering)
        c->since_ms = mono_ms();
    pthread_mutex_unlock(&a->mu);
}

/* ---------------------------------------------------------------------------------- */
/* Requests                                                                             */

/* MHD_OPTION_URI_LOG_CALLBACK: the raw target, before libmicrohttpd splits off and
 * decodes the query; its result is the request's context. */
static void *uri_log(void *cls, const char *uri, struct MHD_Connection *mc)
{
    (void)cls;
    (void)mc;
    areq *rq = calloc(1, sizeof *rq);
    if (rq == NULL)
        return NULL;
    size_t n = strnlen(uri, TARGET_MAX + 1);
    if (n <= TARGET_MAX && (rq->target = malloc(n + 1)) != NULL) {
        memcpy(rq->target, uri, n);
        rq->target[n] = '\0';
    }
    return rq;
}

static void areq_free(areq *rq)
{
    if (rq == NULL)
        return;
    free(rq->target);
    free(rq->body);
    free(rq);
}

static void request_completed(void *cls, struct MHD_Connection *mc, void **con_cls,
                              enum MHD_RequestTerminationCode toe)
{
    serve_admin *a = cls;
    (void)toe;
    areq_free(*con_cls);
    *con_cls = NULL;
    conn_state(a, mc, false);
}

static void peer_of(struct MHD_Connection *mc, const struct sockaddr **sa, size_t *len)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    *sa = ci != NULL ? ci->client_addr : NULL;
    *len = 0;
    if (*sa != NULL)
        *len = (*sa)->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                            : sizeof(struct sockaddr_in);
}

static void log_request(serve_admin *a, struct MHD_Connection *mc, const char *method,
                        const char *path, unsigned status, uint64_t bytes,
                        const char *key_id)
{
    if (a->ctx->log == NULL)
        return;
    const struct sockaddr *sa;
    size_t salen;
    peer_of(mc, &sa, &salen);
    char peer[INET6_ADDRSTRLEN + 1], by[TSL_APIKEY_ID_LEN + 8] = "";
    tsl_addr_text(sa, -1, peer, sizeof peer);
    if (key_id != NULL && key_id[0] != '\0')
        snprintf(by, sizeof by, "apikey:%s", key_id);
    tsl_access_log_write_by(a->ctx->log, peer, method, strlen(method), path, strlen(path),
                            status, bytes, TSL_ANSWER_JSON, by);
}

/* Queues body (copied) with its status and headers, and logs it. */
static enum MHD_Result send_bytes(serve_admin *a, struct MHD_Connection *mc,
                                  const char *method, const char *path, unsigned status,
                                  const char *ctype, const void *body, size_t len,
                                  const tsl_http_header *h, size_t nh, const char *key_id)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)(uintptr_t)body, MHD_RESPMEM_MUST_COPY);
    if (r == NULL)
        return MHD_NO;
    if (ctype != NULL)
        MHD_add_response_header(r, "Content-Type", ctype);
    for (size_t k = 0; k < nh; k++)
        if (h[k].name != NULL && h[k].value != NULL)
            MHD_add_response_header(r, h[k].name, h[k].value);
    enum MHD_Result q = MHD_queue_response(mc, status, r);
    MHD_destroy_response(r);
    log_request(a, mc, method, path, status, strcmp(method, "HEAD") == 0 ? 0 : len, key_id);
    return q;
}

static enum MHD_Result send_admin(serve_admin *a, struct MHD_Connection *mc,
                                  const char *method, const char *path,
                                  tsl_admin_response *out)
{
    enum MHD_Result q = send_bytes(a, mc, method, path, out->status, out->content_type,
                                   out->body, out->body_len, out->headers, out->nheaders,
                                   out->key_id);
    tsl_admin_response_free(out);
    return q;
}

/* A problem answered here (before the library sees the request). */
static enum MHD_Result send_problem(serve_admin *a, struct MHD_Connection *mc,
                                    const char *method, const char *path, unsigned status,
                                    const char *cls, const char *title, const char *detail)
{
    char body[512];
    int n = snprintf(body, sizeof body,
                     "{\"type\":\"urn:tsl:problem:%s\",\"title\":\"%s\",\"status\":%u,"
                     "\"detail\":\"%s\"}",
                     cls, title, status, detail);
    static const tsl_http_header h[] = {{"Cache-Control", "no-store"}};
    return send_bytes(a, mc, method, path, status, "application/problem+json", body,
                      n > 0 ? (size_t)n : 0, h, 1, NULL);
}

/* mTLS: the client's certificate chain verified against --admin-client-ca (libmicrohttpd
 * only asks for a certificate; a client may send none, or one of another CA). Once per
 * connection: the session does not renegotiate. */
static bool client_verified(struct MHD_Connection *mc)
{
    aconn *c = conn_of(mc);
    if (c != NULL && c->tls_ok != 0)
        return c->tls_ok > 0;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(mc, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    unsigned st = 1;
    bool ok = ci != NULL && ci->tls_session != NULL &&
              gnutls_certificate_type_get((gnutls_session_t)ci->tls_session) ==
                  GNUTLS_CRT_X509 &&
              gnutls_certificate_verify_peers2((gnutls_session_t)ci->tls_session, &st) ==
                  GNUTLS_E_SUCCESS &&
              st == 0;
    if (c != NULL)
        c->tls_ok = ok ? 1 : -1;
    return ok;
}

/* Content-Length as declared: UINT64_MAX when unknown (chunked), 0 when absent. */
static uint64_t declared_length(struct MHD_Connection *mc, bool *chunked)
{
    const char *te = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Transfer-Encoding");
    *chunked = te != NULL && strstr(te, "chunked") != NULL;
    if (*chunked)
        return UINT64_MAX;
    const char *cl = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Content-Length");
    uint64_t n = 0;
    if (cl != NULL && tsl_u64_parse(cl, &n, NULL) != TSL_OK)
        return UINT64_MAX; /* libmicrohttpd refuses a bad one before us */
    return n;
}

static void fill_request(struct MHD_Connection *mc, const areq *rq, const char *method,
                         const char *path, tsl_admin_request *q)
{
    memset(q, 0, sizeof *q);
    q->method = method;
    q->path = path;
    const char *qm = rq->target != NULL ? strchr(rq->target, '?') : NULL;
    q->query = qm != NULL ? qm + 1 : NULL;
    q->authorization = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Authorization");
    q->content_type = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Content-Type");
    q->idempotency_key = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Idempotency-Key");
    q->body = rq->body;
    q->body_len = rq->len;
    size_t plen;
    peer_of(mc, &q->peer, &plen);
    q->peer_len = plen;
}

/* GET /metrics: the issuer API's counters (no key ids, no secrets). */
static enum MHD_Result send_metrics(serve_admin *a, struct MHD_Connection *mc,
                                    const char *method, const char *path)
{
    char *text = NULL;
    if (tsl_admin_metrics_text(a->api, &text, NULL) != TSL_OK)
        return send_problem(a, mc, method, path, 500, "internal", "Internal error",
                            "out of memory");
    static const tsl_http_header h[] = {{"Cache-Control", "no-store"}};
    enum MHD_Result q = send_bytes(a, mc, method, path, 200,
                                   "text/plain; version=0.0.4; charset=utf-8", text,
                                   strlen(text), h, 1, NULL);
    tsl_free(text);
    return q;
}

/* Appends data to the body; false past the cap. */
static bool body_add(serve_admin *a, areq *rq, const char *data, size_t n)
{
    if (n > a->max_body - rq->len)
        return false;
    if (rq->len + n > rq->cap) {
        size_t want = rq->cap != 0 ? rq->cap : 16384;
        while (want < rq->len + n)
            want = want > a->max_body / 2 ? a->max_body : want * 2;
        uint8_t *nb = realloc(rq->body, want);
        if (nb == NULL)
            return false;
        rq->body = nb;
        rq->cap = want;
    }
    memcpy(rq->body + rq->len, data, n);
    rq->len += n;
    return true;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *mc, const char *url,
                              const char *method, const char *version,
                              const char *upload_data, size_t *upload_data_size,
                              void **con_cls)
{
    serve_admin *a = cls;
    (void)version;
    areq *rq = *con_cls;
    if (rq == NULL) /* out of memory in uri_log */
        return MHD_NO;
    if (rq->done) { /* a body after a refusal: not read */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (!rq->started) {
        rq->started = true;
        if (rq->target == NULL) {
            rq->done = true;
            return send_problem(a, mc, method, "-", 414, "malformed", "Malformed request",
                                "request target too long");
        }
        if (a->mtls && !client_verified(mc)) {
            rq->done = true;
            return send_problem(a, mc, method, url, 403, "forbidden", "Forbidden",
                                "a client certificate signed by the configured CA is "
                                "required");
        }
        rq->declared = declared_length(mc, &rq->chunked);
        if (strcmp(method, "GET") == 0 && strcmp(url, "/metrics") == 0)
            return MHD_YES; /* answered once the request is complete */
        tsl_admin_request q;
        fill_request(mc, rq, method, url, &q);
        tsl_admin_response out;
        memset(&out, 0, sizeof out);
        tsl_admin_precheck(a->api, &q, rq->declared, (int64_t)time(NULL), &out);
        if (out.status != 0) {
            /* Answered now, the body unread: libmicrohttpd then closes the connection. */
            rq->done = true;
            conn_state(a, mc, true);
            return send_admin(a, mc, method, url, &out);
        }
        memcpy(rq->key_id, out.key_id, sizeof rq->key_id);
        rq->key_id[TSL_APIKEY_ID_LEN] = '\0';
        tsl_admin_response_free(&out);
        if (!rq->chunked && rq->declared > a->max_body) { /* the library checks it too */
            rq->done = true;
            return send_problem(a, mc, method, url, 413, "too-large", "Request too large",
                                "body over the limit");
        }
        if (!rq->chunked && rq->declared > 0) {
            rq->body = malloc((size_t)rq->declared);
            if (rq->body == NULL)
                return MHD_NO;
            rq->cap = (size_t)rq->declared;
        }
        return MHD_YES;
    }
    if (*upload_data_size != 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (!body_add(a, rq, upload_data, n)) {
            /* A chunked body past the cap (a declared one never gets here: it was held
             * to max_body above and libmicrohttpd gives no more than declared).
             * libmicrohttpd 0.9.75 cannot queue an answer while a body comes in: the
             * connection is closed, and the log says why. */
            rq->done = true;
            log_request(a, mc, method, url, 413, 0, rq->key_id);
            return MHD_NO;
        }
        return MHD_YES;
    }
    /* The request is complete. */
    rq->done = true;
    conn_state(a, mc, true);
    if (strcmp(method, "GET") == 0 && strcmp(url, "/metrics") == 0)
        return send_metrics(a, mc, method, url);
    tsl_admin_request q;
    fill_request(mc, rq, method, url, &q);
    tsl_admin_response out;
    memset(&out, 0, sizeof out);
    tsl_admin_answer(a->api, &q, (int64_t)time(NULL), &out);
    return send_admin(a, mc, method, url, &out);
}

/* ---------------------------------------------------------------------------------- */
/* Setup                                                                                */

static bool is_loopback(const struct sockaddr_storage *sa)
{
    if (sa->ss_family == AF_INET) {
        const struct sockaddr_in *v4 = (const struct sockaddr_in *)sa;
        return (ntohl(v4->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->ss_family == AF_INET6) {
        const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)sa;
        if (IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr))
            return true;
        return IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr) && v6->sin6_addr.s6_addr[12] == 127;
    }
    return false;
}

/* Reads a PEM file: a regular file (a FIFO would block), at most PEM_FILE_MAX bytes;
 * with secret, one not accessible by group or others, as every private key file.
 * NUL-terminated; free with pem_free(). Prints why and returns false. */
static bool read_pem(const char *opt, const char *path, bool secret, char **out)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        cli_err("serve", "--%s %s: %s", opt, path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return false;
    }
    const char *why = NULL;
    if (!S_ISREG(st.st_mode))
        why = "not a regular file";
    else if (st.st_size > (off_t)PEM_FILE_MAX)
        why = "larger than 1 MiB";
    if (why != NULL) {
        cli_err("serve", "--%s %s: %s", opt, path, why);
        close(fd);
        return false;
    }
    if (secret && (st.st_mode & 077) != 0) {
        cli_err("serve", "--%s %s: private key file has mode %04o; it must not be "
                "accessible by group or others (chmod 600)", opt, path,
                (unsigned)(st.st_mode & 07777));
        close(fd);
        return false;
    }
    size_t cap = (size_t)st.st_size + 1, len = 0;
    char *buf = malloc(cap);
    while (buf != NULL && len < cap - 1) {
        ssize_t r = read(fd, buf + len, cap - 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    if (buf == NULL) {
        cli_err("serve", "--%s %s: out of memory", opt, path);
        return false;
    }
    buf[len] = '\0';
    if (strstr(buf, "-----BEGIN ") == NULL) {
        cli_err("serve", "--%s %s: not PEM", opt, path);
        explicit_bzero(buf, len);
        free(buf);
        return false;
    }
    *out = buf;
    return true;
}

static void pem_free(char *p)
{
    if (p == NULL)
        return;
    explicit_bzero(p, strlen(p));
    free(p);
}

int serve_admin_check(const serve_admin_opts *o)
{
    struct sockaddr_storage sa;
    size_t n = sizeof sa;
    if (tsl_listen_parse(o->listen, &sa, &n, NULL) != TSL_OK) {
        cli_err("serve", "--admin-listen: \"%s\" is not ADDR:PORT (IPv6: [ADDR]:PORT)",
                o->listen);
        return EXIT_USAGE;
    }
    if ((o->tls_cert == NULL) != (o->tls_key == NULL)) {
        cli_err("serve", "--admin-tls-cert and --admin-tls-key go together");
        return EXIT_USAGE;
    }
    if (o->client_ca != NULL && o->tls_cert == NULL) {
        cli_err("serve", "--admin-client-ca needs --admin-tls-cert and --admin-tls-key");
        return EXIT_USAGE;
    }
    if (o->tls_cert == NULL && !o->insecure && !is_loopback(&sa)) {
        cli_err("serve", "--admin-listen %s: not a loopback address and no TLS: API keys "
                "would cross the network in clear; give --admin-tls-cert and "
                "--admin-tls-key, or --admin-insecure (a TLS proxy in front)", o->listen);
        return EXIT_USAGE;
    }
    return EXIT_OK;
}

int serve_admin_start(serve_ctx *ctx, const serve_admin_opts *o, serve_admin **out)
{
    *out = NULL;
    int rc = serve_admin_check(o);
    if (rc != EXIT_OK)
        return rc;
    serve_admin *a = calloc(1, sizeof *a);
    if (a == NULL) {
        cli_err("serve", "out of memory");
        return EXIT_USAGE;
    }
    a->ctx = ctx;
    a->text = o->listen;
    size_t n = sizeof a->sa;
    tsl_listen_parse(o->listen, &a->sa, &n, NULL);
    a->max_body = o->max_body != 0 ? (size_t)o->max_body : TSL_ADMIN_DEFAULT_MAX_BODY;
    a->deadline_ms = (int64_t)o->request_timeout * 1000;
    a->tls = o->tls_cert != NULL;
    a->mtls = o->client_ca != NULL;
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->wake, NULL);
    *out = a;

    char *cert = NULL, *key = NULL, *ca = NULL;
    if (a->tls && (!read_pem("admin-tls-cert", o->tls_cert, false, &cert) ||
                   !read_pem("admin-tls-key", o->tls_key, true, &key) ||
                   (a->mtls && !read_pem("admin-client-ca", o->client_ca, false, &ca)))) {
        pem_free(cert);
        pem_free(key);
        pem_free(ca);
        return EXIT_USAGE;
    }

    tsl_admin_options ao;
    memset(&ao, 0, sizeof ao);
    ao.db_path = ctx->db_path;
    ao.publisher = ctx->pub;
    ao.runner = ctx->runner;
    ao.max_body = a->max_body;
    ao.rate = (double)o->rate;
    ao.log = tsl_log_stderr;
    ao.log_ctx = "tsl serve: admin";
    tsl_error err;
    tsl_error_clear(&err);
    if (tsl_admin_open(&ao, &a->api, &err) != TSL_OK) {
        cli_err("serve", "issuer API: %s", err.msg);
        pem_free(cert);
        pem_free(key);
        pem_free(ca);
        return EXIT_USAGE;
    }

    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                     MHD_USE_ITC;
    if (a->sa.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    if (a->tls)
        flags |= MHD_USE_TLS;
    uint16_t port = a->sa.ss_family == AF_INET6
                        ? ntohs(((struct sockaddr_in6 *)&a->sa)->sin6_port)
                        : ntohs(((struct sockaddr_in *)&a->sa)->sin_port);
    /* One thread per connection: a request blocks while the committer makes its change
     * durable (group commit) or a publish is awaited, and the others go on. */
    struct MHD_OptionItem tls_opts[] = {
        {a->tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, cert},
        {a->tls ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, 0, key},
        {a->mtls ? MHD_OPTION_HTTPS_MEM_TRUST : MHD_OPTION_END, 0, ca},
        {MHD_OPTION_END, 0, NULL}};
    /* Compact the array: the options after an END would be ignored. */
    size_t w = 0;
    for (size_t k = 0; k < 4; k++)
        if (tls_opts[k].option != MHD_OPTION_END)
            tls_opts[w++] = tls_opts[k];
    tls_opts[w].option = MHD_OPTION_END;
    errno = 0;
    a->d = MHD_start_daemon(
        flags, port, NULL, NULL, handle, a,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&a->sa,
        MHD_OPTION_CONNECTION_LIMIT, ADMIN_CONNECTION_LIMIT,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, ADMIN_PER_IP_LIMIT,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)ADMIN_CONNECTION_MEMORY,
        MHD_OPTION_CONNECTION_TIMEOUT, ADMIN_SILENCE_TIMEOUT,
        MHD_OPTION_URI_LOG_CALLBACK, uri_log, a,
        MHD_OPTION_NOTIFY_COMPLETED, request_completed, a,
        MHD_OPTION_NOTIFY_CONNECTION, conn_notify, a,
        MHD_OPTION_UNESCAPE_CALLBACK, serve_unescape, NULL,
        MHD_OPTION_ARRAY, tls_opts,
        MHD_OPTION_END);
    int e = errno;
    pem_free(cert); /* libmicrohttpd has loaded them into its credentials */
    pem_free(key);
    pem_free(ca);
    if (a->d == NULL) {
        cli_err("serve", "cannot listen on %s (--admin-listen): %s", o->listen,
                e != 0 ? strerror(e) : "address unusable or TLS files refused");
        return EXIT_USAGE;
    }
    if (pthread_create(&a->watchdog, NULL, watchdog_main, a) != 0) {
        cli_err("serve", "cannot start the admin watchdog thread");
        return EXIT_USAGE;
    }
    a->watchdog_on = true;
    return EXIT_OK;
}

void serve_admin_print_ready(serve_admin *a)
{
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(a->d, MHD_DAEMON_INFO_BIND_PORT);
    char addr[INET6_ADDRSTRLEN + 8];
    tsl_addr_text(&a->sa, di != NULL ? di->port : 0, addr, sizeof addr);
    fprintf(stderr, "tsl serve: issuer API listening on %s%s\n", addr,
            a->mtls ? " (HTTPS, client certificates required)" : a->tls ? " (HTTPS)" : "");
}

void serve_admin_stop(serve_admin *a)
{
    if (a == NULL)
        return;
    if (a->d != NULL) /* closes the connections and waits for their threads */
        MHD_stop_daemon(a->d);
    if (a->watchdog_on) {
        pthread_mutex_lock(&a->mu);
        a->stopping = true;
        pthread_cond_signal(&a->wake);
        pthread_mutex_unlock(&a->mu);
        pthread_join(a->watchdog, NULL);
    }
    tsl_admin_close(a->api);
    pthread_cond_destroy(&a->wake);
    pthread_mutex_destroy(&a->mu);
    free(a);
}
