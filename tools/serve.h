/* serve.h - what the parts of `tsl serve` share: the server's state (set up in
 * cmd_serve.c) over the library's publisher, its thread, metrics and access log (started
 * in serve_snapshot.c), and the libmicrohttpd request handler (serve_http.c). Request
 * threads only read snapshots; nothing is signed or compressed on the request path. */
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

/* The server. Options are set before serve_publisher_start() and then only read.
 *
 * Request threads take the publisher's snapshot lock for a few instructions
 * (tsl_publisher_snapshot), the access log's around one write(), and a history handle's
 * around one indexed read. The publisher thread (tsl_publisher_runner) takes none of
 * them while it reads a key, signs, compresses or reads the store, so a key file that
 * blocks (a FIFO) or a publish that takes seconds delays only the publisher, which
 * /healthz then reports. */
typedef struct {
    /* Options. */
    const char *db_path;
    tsl_format dflt;       /* --default-format */
    bool history;          /* --history */
    const char *agg_path;  /* --aggregation-path, or NULL */
    int64_t interval_ms;   /* --publish-interval */
    int64_t retention;     /* of recorded tokens, seconds */
    int log_fd;            /* --access-log, or -1 */
    unsigned max_connections; /* --max-connections: the global cap */
    unsigned per_address;     /* --max-per-address, 0: no limit */
    unsigned head_timeout;    /* --head-timeout, seconds for a whole request */
    tsl_gate *gate;           /* in front of the daemons (cmd_serve.c, serve_conn.c) */
    struct MHD_Daemon *daemons[SERVE_MAX_LISTEN]; /* by listener, for the handoff */

    /* The library's publisher: rounds, snapshots, health, history handles. */
    tsl_publisher *pub;
    tsl_store *pub_store; /* opened by cmd_serve.c to check the store; closed at start */
    tsl_publisher_runner *runner; /* the thread running its rounds */

    /* Counters for /metrics, and the access log (NULL without --access-log). */
    tsl_metrics *metrics;
    tsl_access_log *log;
    atomic_int inflight; /* requests begun and not completed */
} serve_ctx;

/* serve_snapshot.c */

/* Initialises ctx's state (options already set). */
void serve_ctx_init(serve_ctx *ctx);
/* Frees the publisher, metrics and access log (not log_fd), closes pub_store. Call after
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

#endif /* TSL_SERVE_H */
