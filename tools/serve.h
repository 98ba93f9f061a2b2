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

/* An IMF-fixdate (the library's rule, tsl.h). */
#define SERVE_DATE_SIZE TSL_HTTP_DATE_SIZE
/* At most this many --listen addresses: one gate takes them all. */
#define SERVE_MAX_LISTEN TSL_GATE_MAX_LISTEN
/* Connection limits (the library's gate, tsl_gate_*), defaults of --max-connections,
 * --max-per-address and --head-timeout (seconds). */
#define SERVE_DEFAULT_MAX_CONNECTIONS TSL_GATE_DEFAULT_MAX_CONNECTIONS
#define SERVE_DEFAULT_PER_ADDRESS TSL_GATE_DEFAULT_PER_ADDRESS
#define SERVE_DEFAULT_HEAD_TIMEOUT (TSL_GATE_DEFAULT_HEAD_TIMEOUT_MS / 1000)
/* The most request body bytes read and dropped for GET, HEAD and OPTIONS: more is 413. */
#define SERVE_BODY_MAX TSL_GATE_BODY_MAX

/* Everything served at one moment: the library's immutable, reference-counted
 * snapshot (tsl_publisher_snapshot()). */
typedef tsl_snapshot serve_snapshot;

/* Response status codes counted in /metrics, and the formats they are split by. */
#define SERVE_NCODES 13
#define SERVE_NFMT 4 /* none, jwt, cwt, json */
extern const unsigned serve_codes[SERVE_NCODES];
extern const char *const serve_fmt_names[SERVE_NFMT];
enum { SERVE_FMT_NONE = 0, SERVE_FMT_JWT = 1, SERVE_FMT_CWT = 2, SERVE_FMT_JSON = 3 };

/* Kinds of problem that make /healthz degraded, counted in /metrics: the library's
 * TSL_PROBLEM_* (store, publish, key, path, expiry). The public /healthz says only ok
 * or degraded; which list and why go to the log (stderr). */
#define SERVE_NPROB TSL_NPROBLEMS
extern const char *const serve_prob_names[SERVE_NPROB];


/* The server. Options are set before serve_publisher_start() and then only read.
 *
 * Locks: request threads take the publisher's snapshot lock for a few instructions
 * (tsl_publisher_snapshot), log_mu around one write() of the access log, and a history
 * handle's lock around one indexed read. The publisher thread takes none of them while
 * it reads a key, signs, compresses or reads the store, so a key file that blocks (a
 * FIFO) or a publish that takes seconds delays only the publisher, which /healthz then
 * reports. */
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
    tsl_gate *gate;           /* in front of the daemons (cmd_serve.c, serve_conn.c) */
    struct MHD_Daemon *daemons[SERVE_MAX_LISTEN]; /* by listener, for the handoff */

    /* The library's publisher: rounds, snapshots, health, history handles. */
    tsl_publisher *pub;
    tsl_store *pub_store; /* opened by cmd_serve.c to check the store; closed at start */

    /* The publisher thread. */
    pthread_t pub_thread;
    bool pub_running;
    pthread_mutex_t pub_mu;
    pthread_cond_t pub_cv;
    bool pub_done; /* the thread has left its loop (under pub_mu) */
    atomic_bool stop;

    /* Counters for /metrics. */
    atomic_ullong requests[SERVE_NCODES + 1][SERVE_NFMT]; /* last row: other codes */
    atomic_ullong bytes;
    atomic_ullong log_dropped; /* access log lines the log could not take */
    atomic_int inflight; /* requests begun and not completed */
} serve_ctx;

/* What /healthz and /metrics report, computed at the time of the request. */
typedef struct {
    unsigned problems[SERVE_NPROB];
    bool stalled;         /* no round completed within ctx->stall_ms */
    int64_t round_age_ms; /* since the last completed round */
    uint64_t publishes_ok, publishes_err;
} serve_health_info;

/* serve_snapshot.c */

/* Initialises ctx's locks and state (options already set). */
void serve_ctx_init(serve_ctx *ctx);
/* Frees the publisher's state, closes the history readers and pub_store. Call after
 * serve_publisher_stop() returned true (or when it never started). */
void serve_ctx_destroy(serve_ctx *ctx);

/* Opens the library's publisher on the store, runs a load-only round (the tokens
 * already recorded; nothing is signed, JWT gzip bodies come with the first round) and
 * starts the publisher thread, whose first round begins at once. So the caller can
 * listen right after. Returns EXIT_OK, or prints why the store cannot be read and
 * returns EXIT_USAGE. Two lists on one path are not fatal: the older one is served and
 * the clash is logged. */
int serve_publisher_start(serve_ctx *ctx);

/* Stops the publisher thread: waits for it to finish its current step, at most a few
 * seconds. Returns false if it did not (stuck on a key file that blocks, or signing a
 * huge list): its state is then still in use, so the caller must not call
 * serve_ctx_destroy() and should end the process with _exit(); an unfinished publish
 * leaves the store whole (SQLite transactions). */
bool serve_publisher_stop(serve_ctx *ctx);

/* The health at this moment (tsl_publisher_health_get()). */
void serve_health(serve_ctx *ctx, serve_health_info *out);

/* A reference to the current snapshot (never NULL after serve_publisher_start()),
 * given back with tsl_snapshot_release(). */
serve_snapshot *serve_snapshot_acquire(serve_ctx *ctx);

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

/* serve_conn.c: libmicrohttpd's side of the connection gate (ctx->gate). */

/* MHD_OPTION_NOTIFY_CONNECTION and MHD_OPTION_NOTIFY_COMPLETED (which calls
 * serve_completed()); cls is the serve_ctx. */
void serve_conn_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                       enum MHD_ConnectionNotificationCode code);
void serve_conn_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                          enum MHD_RequestTerminationCode toe);
/* Called by serve_handle when a request is complete and its answer queued: the
 * connection is no longer waiting for a request, so no deadline or eviction applies. */
void serve_conn_answering(serve_ctx *ctx, struct MHD_Connection *conn);
/* The gate's refused callback: counts and logs an answer the gate gave; user is the
 * serve_ctx. */
void serve_conn_refused(const tsl_gate_refusal *r, void *user);
/* Appends the connection gauges, drops by reason and limits to /metrics. */
void serve_conn_metrics(serve_ctx *ctx, FILE *f);

#endif /* TSL_SERVE_H */
