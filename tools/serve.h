/* serve.h - what the two files of `tsl serve` share: the server's state (set up in
 * cmd_serve.c, with the library's publisher, its thread, metrics, access log and
 * connection gate) and the libmicrohttpd callbacks (serve_http.c). Request threads only
 * read snapshots; nothing is signed or compressed on the request path. */
#ifndef TSL_SERVE_H
#define TSL_SERVE_H

#include "store_cli.h"

#include <microhttpd.h>
#include <stdatomic.h>

/* At most this many --listen addresses: one gate takes them all. */
#define SERVE_MAX_LISTEN TSL_GATE_MAX_LISTEN

/* The server. Options are set before the publisher starts and then only read. Request
 * threads take the publisher's snapshot lock for a few instructions, the access log's
 * around one write(), and a history handle's around one indexed read; the publisher
 * thread takes none of them while it reads a key, signs or reads the store. */
typedef struct {
    const char *db_path;
    tsl_format dflt;          /* --default-format */
    bool history;             /* --history */
    const char *agg_path;     /* --aggregation-path, or NULL */
    int64_t interval_ms;      /* --publish-interval */
    int log_fd;               /* --access-log, or -1 */
    unsigned max_connections; /* --max-connections: the global cap */
    unsigned per_address;     /* --max-per-address, 0: no limit */
    unsigned head_timeout;    /* --head-timeout, seconds for a whole request */
    tsl_gate *gate;           /* in front of the daemons */
    struct MHD_Daemon *daemons[SERVE_MAX_LISTEN]; /* by listener, for the handoff */
    tsl_publisher *pub;
    tsl_publisher_runner *runner; /* the thread running its rounds */
    tsl_metrics *metrics;
    tsl_access_log *log;      /* NULL without --access-log */
    atomic_int inflight;      /* requests begun and not completed */
} serve_ctx;

/* The MHD access handler; cls is the serve_ctx. */
enum MHD_Result serve_handle(void *cls, struct MHD_Connection *conn, const char *url,
                             const char *method, const char *version,
                             const char *upload_data, size_t *upload_data_size,
                             void **con_cls);
/* MHD_OPTION_UNESCAPE_CALLBACK: tsl_http_unescape(). */
size_t serve_unescape(void *cls, struct MHD_Connection *conn, char *s);
/* libmicrohttpd's side of the gate: MHD_OPTION_NOTIFY_CONNECTION and _COMPLETED (cls
 * is the serve_ctx), and the gate's refused callback (user is the serve_ctx), which
 * counts and logs an answer the gate gave. */
void serve_conn_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                       enum MHD_ConnectionNotificationCode code);
void serve_conn_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                          enum MHD_RequestTerminationCode toe);
void serve_conn_refused(const tsl_gate_refusal *r, void *user);

/* The issuer API's listener (serve_admin.c, --admin-listen): its options, as given. */
typedef struct {
    const char *listen;       /* --admin-listen ADDR:PORT */
    const char *tls_cert;     /* --admin-tls-cert, or NULL */
    const char *tls_key;      /* --admin-tls-key, or NULL */
    const char *client_ca;    /* --admin-client-ca, or NULL */
    bool insecure;            /* --admin-insecure */
    uint64_t max_body;        /* --admin-max-body, 0: the library's default */
    uint64_t rate;            /* --admin-rate, 0: the library's default */
    uint64_t request_timeout; /* --admin-request-timeout, seconds */
} serve_admin_opts;
typedef struct serve_admin serve_admin;

/* Checks the options that need no file or store (the address, the TLS options going
 * together, a non-loopback address without TLS refused unless insecure). Prints why and
 * returns EXIT_USAGE, or EXIT_OK. */
int serve_admin_check(const serve_admin_opts *o);
/* Opens the issuer API over ctx (its store path, publisher and runner, which must be
 * started) and starts the listener. EXIT_OK, or the reason printed and EXIT_USAGE; *out
 * is set in both cases (NULL only when out of memory) and goes to serve_admin_stop(). */
int serve_admin_start(serve_ctx *ctx, const serve_admin_opts *o, serve_admin **out);
/* "tsl serve: issuer API listening on ADDR:PORT" on stderr. */
void serve_admin_print_ready(serve_admin *a);
/* Stops the listener (waiting for the requests in flight), its watchdog and the issuer
 * API. NULL is a no-op. Before the publisher stops: the API holds it. */
void serve_admin_stop(serve_admin *a);

#endif /* TSL_SERVE_H */
