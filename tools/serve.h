/* serve.h - what the three parts of `tsl serve` share: the immutable, reference-counted
 * snapshot of everything served (built by the publisher thread in serve_snapshot.c),
 * the server's state and counters (set up in cmd_serve.c), and the request handler
 * (serve_http.c). Request threads only read snapshots; nothing is signed or compressed
 * on the request path. */
#ifndef TSL_SERVE_H
#define TSL_SERVE_H

#include "store_cli.h"

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

/* A strong entity tag and an IMF-fixdate (the library's rules, tsl.h). */
#define SERVE_ETAG_SIZE TSL_ETAG_SIZE
#define SERVE_DATE_SIZE TSL_HTTP_DATE_SIZE
/* What the publisher says it is doing, for the log when it stalls. */
#define SERVE_BUSY_SIZE 160
/* Read-only store handles for ?time= requests (each used by one thread at a time). */
#define SERVE_READERS 4
/* At most this many --listen addresses. */
#define SERVE_MAX_LISTEN 16
/* Connection limits (serve_conn.c), defaults of --max-connections, --max-per-address
 * and --head-timeout. */
#define SERVE_DEFAULT_MAX_CONNECTIONS 1024
#define SERVE_DEFAULT_PER_ADDRESS 64
#define SERVE_DEFAULT_HEAD_TIMEOUT 10
/* The longest first request head (request line and headers) the gate reads: longer
 * ones get 414 or 431. */
#define SERVE_HEAD_MAX (16u * 1024u)
/* The most request body bytes read and dropped for GET, HEAD and OPTIONS: more is 413. */
#define SERVE_BODY_MAX (64u * 1024u)

/* One published form of a list: the token bytes and what the headers say about them. */
typedef struct {
    bool present;
    uint8_t *body; /* the token: JWT text or CWT bytes (tsl_free) */
    size_t len;
    uint8_t *gz; /* JWT only: the body gzip-encoded at publish time (tsl_free), or NULL */
    size_t gz_len;
    char etag[SERVE_ETAG_SIZE];
    char etag_gz[SERVE_ETAG_SIZE];
    char last_modified[SERVE_DATE_SIZE]; /* of iat */
    int64_t iat, exp;
} serve_form;

/* A list as served: immutable once built, shared by consecutive snapshots. */
typedef struct {
    atomic_uint refs;
    char *id;
    char *uri;
    char *path;       /* the path of uri: where it is served */
    unsigned formats; /* TSL_PUBLISH_* bits of the forms present */
    int64_t ttl;      /* the list's ttl setting, 0: none */
    int64_t created;  /* when the list was created: the older list keeps a shared path */
    serve_form form[2]; /* [0] JWT, [1] CWT */
} serve_list;

/* Everything served at one moment. Taken with serve_snapshot_acquire(), given back with
 * serve_snapshot_release(); the last release frees it. */
typedef struct {
    atomic_uint refs;
    size_t n;
    serve_list **lists; /* sorted by path, no two alike */
    char *agg;          /* {"status_lists":[...]} (tsl_free) */
    size_t agg_len;
    char agg_etag[SERVE_ETAG_SIZE];
} serve_snapshot;

/* Response status codes counted in /metrics, and the formats they are split by. */
#define SERVE_NCODES 13
#define SERVE_NFMT 4 /* none, jwt, cwt, json */
extern const unsigned serve_codes[SERVE_NCODES];
extern const char *const serve_fmt_names[SERVE_NFMT];
enum { SERVE_FMT_NONE = 0, SERVE_FMT_JWT = 1, SERVE_FMT_CWT = 2, SERVE_FMT_JSON = 3 };

/* Kinds of problem that make /healthz degraded, counted in /metrics. The public
 * /healthz says only ok or degraded; which list and why go to the log (stderr). */
enum {
    SERVE_PROB_STORE,   /* the store could not be read */
    SERVE_PROB_PUBLISH, /* a list failed to publish or to load its tokens */
    SERVE_PROB_KEY,     /* a list's key file does not load or cannot sign */
    SERVE_PROB_PATH,    /* a list not served: its path is taken or reserved */
    SERVE_PROB_EXPIRY,  /* a served token expired or in the last quarter of its life */
    SERVE_NPROB
};
extern const char *const serve_prob_names[SERVE_NPROB];

/* One read-only store handle for history reads, and the lock of its user. */
typedef struct {
    pthread_mutex_t mu;
    tsl_store *st;
} serve_reader;

struct serve_pubstate; /* the publisher's own bookkeeping (serve_snapshot.c) */
typedef struct serve_conns serve_conns; /* connection tracking (serve_conn.c) */

/* The server. Options are set before serve_publisher_start() and then only read.
 *
 * Locks: request threads take snap_mu and busy_mu for a few instructions, log_mu
 * around one write() of the access log, and a reader's mu around one indexed read. The
 * publisher thread takes none of them while it reads a key, signs, compresses or reads
 * the store (it owns pub_store alone), so a key file that blocks (a FIFO) or a publish
 * that takes seconds delays only the publisher, which /healthz then reports. */
typedef struct {
    /* Options. */
    const char *db_path;
    tsl_format dflt;       /* --default-format */
    bool history;          /* --history */
    const char *agg_path;  /* --aggregation-path, or NULL */
    int64_t interval_ms;   /* --publish-interval */
    int64_t retention;     /* of recorded tokens, seconds */
    int log_fd;            /* --access-log, or -1 */
    pthread_mutex_t log_mu;
    unsigned max_connections; /* --max-connections: the global cap */
    unsigned per_address;     /* --max-per-address, 0: no limit */
    unsigned head_timeout;    /* --head-timeout, seconds for a whole request */
    serve_conns *conns;       /* the gate and its table (serve_conn.c) */

    /* The current snapshot. */
    pthread_mutex_t snap_mu;
    serve_snapshot *snap;

    /* History reads (--history) use their own handles, opened at start and kept open
     * until exit, never the publisher's: a read must not wait for a publish that holds
     * the handle for seconds. Several SQLite handles on one file in one process are
     * safe: SQLite's unix VFS keeps one lock state per file and defers closing a
     * descriptor while any handle holds a lock (what would drop the others' POSIX
     * locks is a close() outside SQLite, which tsl_store_open never does on an
     * existing file). */
    serve_reader readers[SERVE_READERS];
    size_t nreaders;
    atomic_uint reader_next;

    /* Health, written by the publisher, read by /healthz and /metrics. */
    atomic_uint problems[SERVE_NPROB]; /* SERVE_PROB_EXPIRY is computed per request */
    atomic_llong round_done_ms;        /* monotonic ms: the last completed round (or start) */
    atomic_llong stall_ms;             /* a round later than this is a stall */
    atomic_bool stall_logged;          /* the current stall has been logged */
    pthread_mutex_t busy_mu;
    char busy[SERVE_BUSY_SIZE];        /* what the publisher is doing ("" between rounds) */
    atomic_llong busy_since_ms;

    /* The publisher thread. */
    tsl_store *pub_store; /* the publisher's alone once its thread runs */
    pthread_t pub_thread;
    bool pub_running;
    pthread_mutex_t pub_mu;
    pthread_cond_t pub_cv;
    bool pub_done; /* the thread has left its loop (under pub_mu) */
    atomic_bool stop;
    struct serve_pubstate *pub;

    /* Counters for /metrics. */
    atomic_ullong requests[SERVE_NCODES + 1][SERVE_NFMT]; /* last row: other codes */
    atomic_ullong bytes;
    atomic_ullong log_dropped; /* access log lines the log could not take */
    atomic_ullong publishes_ok, publishes_err;
    atomic_int inflight; /* requests begun and not completed */
} serve_ctx;

/* What /healthz and /metrics report, computed at the time of the request. */
typedef struct {
    unsigned problems[SERVE_NPROB];
    bool stalled;         /* no round completed within ctx->stall_ms */
    int64_t round_age_ms; /* since the last completed round */
} serve_health_info;

/* serve_snapshot.c */

/* Initialises ctx's locks and state (options already set). */
void serve_ctx_init(serve_ctx *ctx);
/* Frees the publisher's state, closes the history readers and pub_store. Call after
 * serve_publisher_stop() returned true (or when it never started). */
void serve_ctx_destroy(serve_ctx *ctx);

/* Loads the tokens already recorded in the store into the first snapshot (reads only:
 * nothing is signed, and JWT gzip bodies come with the first round), opens the history
 * readers, and starts the publisher thread, whose first round begins at once. So the
 * caller can listen right after: requests are answered from the recorded tokens while
 * the first round signs what is missing or stale. Returns EXIT_OK, or prints why the
 * store cannot be read and returns EXIT_USAGE. Two lists on one path are not fatal: the
 * older one is served and the clash is logged. */
int serve_publisher_start(serve_ctx *ctx);

/* Stops the publisher thread: waits for it to finish its current step, at most a few
 * seconds. Returns false if it did not (stuck on a key file that blocks, or signing a
 * huge list): its state is then still in use, so the caller must not call
 * serve_ctx_destroy() and should end the process with _exit(); an unfinished publish
 * leaves the store whole (SQLite transactions). */
bool serve_publisher_stop(serve_ctx *ctx);

/* The health at this moment. Logs (once per stall) a publisher that has not completed
 * a round in time, and what it is doing. */
void serve_health(serve_ctx *ctx, serve_health_info *out);

/* A recorded token valid at time t (tsl_store_token() with at = t), read through one
 * of the history readers. Never waits for the publisher. */
tsl_status serve_history_token(serve_ctx *ctx, const char *id, tsl_format fmt, int64_t t,
                               uint8_t **tok, size_t *len, int64_t *iat, int64_t *exp,
                               tsl_error *err);

/* A reference to the current snapshot (never NULL after serve_publisher_start()). */
serve_snapshot *serve_snapshot_acquire(serve_ctx *ctx);
void serve_snapshot_release(serve_snapshot *s);
/* Adds a reference to a snapshot already held. */
void serve_snapshot_ref(serve_snapshot *s);

/* The list served at path (len bytes), or NULL. */
const serve_list *serve_snapshot_find(const serve_snapshot *s, const char *path,
                                      size_t len);

/* The IMF-fixdate of t (tsl_http_date(), kept under this name for the gate). */
static inline void serve_http_date(int64_t t, char out[SERVE_DATE_SIZE])
{
    tsl_http_date(t, out);
}

/* serve_http.c */

/* The MHD access handler and completion callback; cls is the serve_ctx. */
enum MHD_Result serve_handle(void *cls, struct MHD_Connection *conn, const char *url,
                             const char *method, const char *version,
                             const char *upload_data, size_t *upload_data_size,
                             void **con_cls);
/* Percent-decoding of the path and query arguments that leaves "%00" as it is, so a
 * NUL never cuts a path short. */
size_t serve_unescape(void *cls, struct MHD_Connection *conn, char *s);
void serve_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                     enum MHD_RequestTerminationCode toe);
/* Counts an answer not sent through serve_handle (format none) in /metrics. */
void serve_count(serve_ctx *ctx, unsigned status, uint64_t bytes);
/* Writes an access log line for an answer not sent through serve_handle; method and
 * path are mlen and plen bytes, not NUL-terminated. */
void serve_log_raw(serve_ctx *ctx, const char *peer, const char *method, size_t mlen,
                   const char *path, size_t plen, unsigned status, uint64_t bytes);

/* serve_conn.c */

/* A request head as far as serve_head_check() judges it: the gate fills it from the
 * bytes, serve_handle from libmicrohttpd's header list. Values point into the head. */
typedef struct {
    bool http11;   /* HTTP/1.1: Host is required */
    bool bodyless; /* GET, HEAD or OPTIONS: a body over SERVE_BODY_MAX is refused */
    unsigned n_host, n_cl, n_te; /* how many Host, Content-Length, Transfer-Encoding */
    const char *host, *cl, *te;  /* the first of each (trimmed), or NULL */
    size_t host_len, cl_len, te_len;
} serve_head;

/* 0 when h is acceptable, else the status to answer (400, 413, 501) and *why, a line of
 * static text: HTTP/1.1 without Host; more than one Host or Content-Length; a
 * Content-Length that is not digits or over SERVE_BODY_MAX for GET/HEAD/OPTIONS; a
 * transfer coding other than chunked; Content-Length with Transfer-Encoding. */
unsigned serve_head_check(const serve_head *h, const char **why);

/* The connection table, before any daemon starts (ctx->conns); -1 without memory. */
int serve_conns_init(serve_ctx *ctx);
/* Starts the gate thread accepting on the n listening sockets lfd (taken over: closed
 * by serve_conns_stop) and handing connections to d[k]; -1 on failure. */
int serve_conns_start(serve_ctx *ctx, const int *lfd, struct MHD_Daemon **d, size_t n);
/* Stops accepting (the listening sockets are closed) and closes the connections still
 * in the gate. Connections inside libmicrohttpd are left to it. */
void serve_conns_stop(serve_ctx *ctx);
/* After MHD_stop_daemon(): frees the table. */
void serve_conns_free(serve_ctx *ctx);
/* MHD_OPTION_NOTIFY_CONNECTION and MHD_OPTION_NOTIFY_COMPLETED (which calls
 * serve_completed()); cls is the serve_ctx. */
void serve_conn_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                       enum MHD_ConnectionNotificationCode code);
void serve_conn_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                          enum MHD_RequestTerminationCode toe);
/* Called by serve_handle when a request is complete and its answer queued: the
 * connection is no longer waiting for a request, so no deadline or eviction applies. */
void serve_conn_answering(serve_ctx *ctx, struct MHD_Connection *conn);
/* Appends the connection gauges, drops by reason and limits to /metrics. */
void serve_conn_metrics(serve_ctx *ctx, FILE *f);
/* Writes a whole answer with status and a text body (none for HEAD) straight to the
 * socket, with Connection: close; returns the body bytes sent. For answers
 * libmicrohttpd cannot send itself, or not once. */
size_t serve_write_error(int fd, unsigned status, const char *body, bool head);
/* Reads and drops the input already received on fd (bounded), so that closing it
 * sends a FIN after an answer rather than a reset. */
void serve_drain_input(int fd);

#endif /* TSL_SERVE_H */
