/* cmd_serve.c - `tsl serve`: the publisher's HTTP endpoint (spec section 8). Parses the
 * options, loads the tokens already recorded and starts the publisher thread (the
 * library's tsl_publisher and tsl_publisher_runner), whose first round signs what is
 * missing in the background while the server listens, starts one libmicrohttpd daemon
 * per --listen address with bounded memory and timeouts, takes its listening socket
 * back for the library's connection gate (tsl_gate_*: connection limits, the request
 * deadline, checks of the first head), tells systemd it is ready (READY=1 on
 * $NOTIFY_SOCKET, for Type=notify units) once every listener is up, then waits for
 * SIGTERM or SIGINT: it stops accepting, lets requests in flight finish, and exits 0. */
#include "serve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_LISTEN "127.0.0.1:8080"
#define DEFAULT_THREADS 2
#define MAX_THREADS 256
/* Bounds of --max-connections, --max-per-address and --head-timeout. */
#define MAX_CONNECTIONS_CEILING 1000000u
#define HEAD_TIMEOUT_CEILING 3600u
/* Per connection: bounds the request line and headers (MHD answers 414/431 beyond). */
#define CONNECTION_MEMORY (32u * 1024u)
/* Seconds without any byte before libmicrohttpd closes a connection (a response a
 * client stops reading); a request must also be complete within --head-timeout. */
#define CONNECTION_TIMEOUT 10
/* --admin-request-timeout's default, and the bound of --admin-max-body. */
#define ADMIN_REQUEST_TIMEOUT 30
#define ADMIN_MAX_BODY_CEILING (1024u * 1024u * 1024u)
/* How long SIGTERM waits for requests in flight. */
#define DRAIN_SECONDS 10

typedef struct {
    const char *text;
    struct sockaddr_storage sa;
    bool v6;
    struct MHD_Daemon *d;
    MHD_socket quiesced;
} listener;

/* An address by the library's rule (tsl_listen_parse), for one daemon. */
static bool parse_listen(const char *s, listener *l)
{
    memset(l, 0, sizeof *l);
    l->text = s;
    l->quiesced = MHD_INVALID_SOCKET;
    size_t n = sizeof l->sa;
    if (tsl_listen_parse(s, &l->sa, &n, NULL) != TSL_OK)
        return false;
    l->v6 = l->sa.ss_family == AF_INET6;
    return true;
}

/* The option appliers (CLI_OPT_FN): --listen, --aggregation-path, --publish-interval. */
typedef struct {
    listener *ls;
    size_t n;
} listeners;

static int opt_listen(const char *cmd, void *target, const char *arg)
{
    listeners *l = target;
    if (l->n == SERVE_MAX_LISTEN) {
        cli_err(cmd, "at most %d --listen addresses", SERVE_MAX_LISTEN);
        return EXIT_USAGE;
    }
    if (!parse_listen(arg, &l->ls[l->n]))
        return CLI_BAD;
    l->n++;
    return EXIT_OK;
}

static int opt_path(const char *cmd, void *target, const char *arg)
{
    (void)cmd;
    if (arg[0] != '/' || strlen(arg) > 1024)
        return CLI_BAD;
    *(const char **)target = arg;
    return EXIT_OK;
}

static int opt_interval(const char *cmd, void *target, const char *arg)
{
    (void)cmd;
    return tsl_interval_parse(arg, target, NULL) == TSL_OK ? EXIT_OK : CLI_BAD;
}

/* The daemon binds and listens (its address options and errors), and is quiesced at
 * once: the gate accepts on that socket and hands connections over. Its connection
 * limit only has to stay out of the gate's way: the gate admits max_connections, and
 * those it shut down may still be closing (libmicrohttpd splits the limit per thread). */
static struct MHD_Daemon *start_daemon(serve_ctx *ctx, listener *l, unsigned threads)
{
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC;
    if (l->v6)
        flags |= MHD_USE_IPv6;
    uint16_t port = l->v6 ? ntohs(((struct sockaddr_in6 *)&l->sa)->sin6_port)
                          : ntohs(((struct sockaddr_in *)&l->sa)->sin_port);
    return MHD_start_daemon(
        flags, port, NULL, NULL, serve_handle, ctx,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&l->sa,
        MHD_OPTION_THREAD_POOL_SIZE, threads,
        MHD_OPTION_CONNECTION_LIMIT, (2 * ctx->max_connections + 64) * threads,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONNECTION_MEMORY,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONNECTION_TIMEOUT,
        MHD_OPTION_NOTIFY_COMPLETED, serve_conn_completed, ctx,
        MHD_OPTION_NOTIFY_CONNECTION, serve_conn_notify, ctx,
        MHD_OPTION_UNESCAPE_CALLBACK, serve_unescape, NULL,
        MHD_OPTION_END);
}

/* How long publisher_stop() waits for the thread to finish its step. */
#define STOP_WAIT_MS 3000

/* The server answers these itself: no list is served there. */
static const char *const reserved_paths[] = {"/healthz", "/metrics"};

/* The prefix of the publisher's log lines on stderr (tsl_log_stderr). */
static char log_prefix[] = "tsl serve";

/* Opens the library's publisher, runs a load-only round (the tokens already recorded,
 * so that the server can listen at once; nothing is signed) and starts the thread that
 * runs a round every interval. Returns EXIT_OK, or prints why and returns EXIT_USAGE.
 * Two lists on one path are not fatal: the older one is served and the clash logged. */
static int publisher_start(serve_ctx *ctx)
{
    if (tsl_metrics_new(&ctx->metrics, NULL) != TSL_OK ||
        (ctx->log_fd >= 0 &&
         tsl_access_log_new(ctx->log_fd, ctx->metrics, &ctx->log, NULL) != TSL_OK)) {
        cli_err("serve", "out of memory");
        return EXIT_USAGE;
    }
    tsl_publisher_options opt;
    memset(&opt, 0, sizeof opt);
    opt.default_format = ctx->dflt;
    opt.history = ctx->history;
    opt.aggregation_path = ctx->agg_path;
    opt.interval_ms = ctx->interval_ms;
    opt.retention = STORE_CLI_DEFAULT_RETENTION;
    opt.reserved = reserved_paths;
    opt.nreserved = sizeof reserved_paths / sizeof reserved_paths[0];
    opt.log = tsl_log_stderr;
    opt.log_ctx = log_prefix;
    tsl_error err;
    tsl_error_clear(&err);
    tsl_status r = tsl_publisher_open(ctx->db_path, &opt, &ctx->pub, &err);
    if (r != TSL_OK) {
        cli_err("serve", "%s: %s", ctx->db_path, err.msg[0] ? err.msg : tsl_strerror(r));
        return EXIT_USAGE;
    }
    tsl_error_clear(&err);
    r = tsl_publisher_round(ctx->pub, TSL_ROUND_LOAD_ONLY, &err);
    if (r != TSL_OK) { /* an unreadable store has been logged */
        if (r != TSL_ERR_IO)
            cli_err("serve", "out of memory");
        return EXIT_USAGE;
    }
    if (tsl_publisher_runner_start(ctx->pub, ctx->interval_ms, &ctx->runner, NULL) !=
        TSL_OK) {
        cli_err("serve", "cannot start the publisher thread");
        return EXIT_USAGE;
    }
    return EXIT_OK;
}

/* Stops the publisher thread, waiting a few seconds at most. False if it did not stop
 * (stuck on a key file that blocks, or signing a huge list): its state is still in
 * use, so the caller ends the process with _exit(); the store stays whole. */
static bool publisher_stop(serve_ctx *ctx)
{
    if (ctx->runner == NULL)
        return true;
    if (!tsl_publisher_runner_stop(ctx->runner, STOP_WAIT_MS)) {
        char busy[160], line[256];
        tsl_publisher_busy(ctx->pub, busy, sizeof busy);
        snprintf(line, sizeof line, "the publisher is still %s after %d s; exiting without "
                 "it (the store stays whole)", busy[0] ? busy : "busy", STOP_WAIT_MS / 1000);
        tsl_log_stderr(log_prefix, line);
        return false;
    }
    ctx->runner = NULL;
    return true;
}

/* The gate's handoff: a connection with an acceptable first head goes to the daemon of
 * its listener, which closes fd itself when it cannot take it. */
static int gate_handoff(int fd, const void *addr, size_t addr_len, unsigned k, void *user)
{
    serve_ctx *ctx = user;
    return MHD_add_connection(ctx->daemons[k], fd, addr, (socklen_t)addr_len) == MHD_YES
               ? 0
               : -1;
}

/* The gate, before any daemon starts: their connection notifications report to it. */
static int gate_new(serve_ctx *ctx)
{
    tsl_gate_options o;
    memset(&o, 0, sizeof o);
    o.max_connections = ctx->max_connections;
    o.max_per_address = ctx->per_address;
    o.head_timeout_ms = ctx->head_timeout * 1000;
    o.body_max = TSL_GATE_BODY_MAX;
    o.handoff = gate_handoff;
    o.refused = serve_conn_refused;
    o.user = ctx;
    return tsl_gate_new(&o, &ctx->gate, NULL) == TSL_OK ? 0 : -1;
}

/* Prints the ready line of listener l, and appends its address to the service
 * manager's STATUS text (status, of cap bytes; an address that does not fit is left
 * out of it, not cut). */
static void print_ready(const listener *l, char *status, size_t cap)
{
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(l->d, MHD_DAEMON_INFO_BIND_PORT);
    char addr[INET6_ADDRSTRLEN + 8];
    tsl_addr_text(&l->sa, di != NULL ? di->port : 0, addr, sizeof addr);
    fprintf(stderr, "tsl serve: listening on %s\n", addr);
    size_t used = strlen(status);
    if (used + strlen(addr) + 3 < cap)
        snprintf(status + used, cap - used, "%s%s", status[used - 1] == ' ' ? "" : ", ", addr);
}

/* Tells systemd (Type=notify) the server's state; a failure is said once on stderr
 * and is not fatal: the service manager then times the start out itself. */
static void notify(const char *state)
{
    tsl_error err;
    tsl_error_clear(&err);
    if (tsl_service_notify(state, &err) != TSL_OK)
        fprintf(stderr, "tsl serve: cannot notify the service manager: %s\n", err.msg);
}

int cmd_serve(int argc, char **argv)
{
    static serve_ctx ctx; /* zeroed, and outlives an _exit() path */
    memset(&ctx, 0, sizeof ctx);
    listener ls[SERVE_MAX_LISTEN];
    listeners lsn = {ls, 0};
    const char *db = NULL, *log_path = NULL;
    uint64_t threads = DEFAULT_THREADS, max_conn = 0, per_address = TSL_GATE_DEFAULT_PER_ADDRESS,
             head_timeout = TSL_GATE_DEFAULT_HEAD_TIMEOUT_MS / 1000;
    ctx.dflt = TSL_FORMAT_JWT;
    ctx.interval_ms = 1000;
    ctx.log_fd = -1;
    serve_admin_opts ao;
    memset(&ao, 0, sizeof ao);
    ao.request_timeout = ADMIN_REQUEST_TIMEOUT;
    serve_admin *admin = NULL;
    const cli_opt opts[] = {
        CLI_DB(&db),
        CLI_FN("listen", &lsn, opt_listen, "is not ADDR:PORT (IPv6: [ADDR]:PORT)",
               "ADDR:PORT\taddress to listen on, repeatable; IPv6 as [::1]:8080;\n"
               "port 0 picks a free port (default " DEFAULT_LISTEN ")"),
        {"threads", 0, CLI_OPT_U64, &threads, 1, MAX_THREADS, "is not 1 to 256", NULL, NULL,
         "N\tworker threads per address (default 2)"},
        CLI_FN("default-format", &ctx.dflt, cli_opt_format, CLI_FORMAT_BAD,
               "F\tjwt or cwt, for no Accept or a wildcard (default jwt)"),
        CLI_FLAG("history", &ctx.history, "answer ?time=UNIXTIME with the token valid then\n"
                 "(default off: 501, as section 12.7 recommends)"),
        CLI_FN("aggregation-path", &ctx.agg_path, opt_path, "does not start with /",
               "P\tserve {\"status_lists\": [...]} at path P"),
        CLI_FN("publish-interval", &ctx.interval_ms, opt_interval,
               "is not seconds (0.001 to 86400)", "S\tseconds between publishing rounds, "
               "e.g. 1 or 0.5\n(default 1); on PostgreSQL changes are pushed and served\nat once, "
               "S only spaces the full rounds"),
        CLI_STR("access-log", &log_path, "FILE\tappend one line per request to FILE"),
        CLI_PKCS11_MODULE,
        {"max-connections", 0, CLI_OPT_U64, &max_conn, 1, MAX_CONNECTIONS_CEILING,
         "is not 1 to 1000000", NULL, NULL, "N\topen connections at most, over all addresses; when\n"
         "full, the one waiting longest for a request is closed\n(default 1024)"},
        {"max-per-address", 0, CLI_OPT_U64, &per_address, 0, MAX_CONNECTIONS_CEILING,
         "is not 0 to 1000000", NULL, NULL, "N\topen connections from one client address (IPv6:\n"
         "one /64); 0: no limit; raise it behind a proxy (default 64)"},
        {"head-timeout", 0, CLI_OPT_U64, &head_timeout, 1, HEAD_TIMEOUT_CEILING,
         "is not 1 to 3600 seconds", NULL, NULL,
         "S\tseconds a client has to send a whole request (default 10)"},
        CLI_STR("admin-listen", &ao.listen,
                "ADDR:PORT\talso serve the issuer API (/v1/...) there,\n"
                "authenticated with API keys (tsl apikey); off by default"),
        CLI_STR("admin-tls-cert", &ao.tls_cert, "FILE\tHTTPS on the admin listener: the "
                "certificate\n(PEM, the chain after it)"),
        CLI_STR("admin-tls-key", &ao.tls_key, "FILE\tits private key (PEM, not readable by "
                "group\nor others)"),
        CLI_STR("admin-client-ca", &ao.client_ca, "FILE\trequire client certificates "
                "signed by a CA of\nFILE (PEM) on the admin listener (mTLS)"),
        CLI_FLAG("admin-insecure", &ao.insecure, "allow a non-loopback --admin-listen "
                 "without TLS\n(a TLS proxy in front)"),
        {"admin-max-body", 0, CLI_OPT_U64, &ao.max_body, 1024, ADMIN_MAX_BODY_CEILING,
         "is not 1024 to 1073741824 bytes", NULL, NULL,
         "BYTES\tlargest issuer API request body (default 64 MiB)"},
        {"admin-rate", 0, CLI_OPT_U64, &ao.rate, 1, 100000000, "is not 1 to 100000000",
         NULL, NULL, "N\trequests a second per API key (default 20000)"},
        {"admin-request-timeout", 0, CLI_OPT_U64, &ao.request_timeout, 1,
         HEAD_TIMEOUT_CEILING, "is not 1 to 3600 seconds", NULL, NULL,
         "S\tseconds an admin client has to send a whole\nrequest, body included "
         "(default 30)"},
        CLI_OPT_END};
    static const cli_cmd cmd = {
        "serve", "[OPTIONS]",
        "Serves every list of the store at the path of its uri (GET, HEAD, OPTIONS),\n"
        "choosing JWT or CWT by Accept, with ETag, Last-Modified, Cache-Control, CORS and\n"
        "gzip for JWTs. A background thread re-signs a list when its statuses change or\n"
        "its token has used two thirds of its lifetime; nothing is signed per request.\n"
        "Also serves /healthz and /metrics (Prometheus text). With --admin-listen, a\n"
        "second listener serves the issuer API (see README \"Issuance services\").\n"
        "Prints \"tsl serve: listening on ADDR:PORT\" on stderr when ready, and tells\n"
        "systemd (READY=1 on $NOTIFY_SOCKET, for a Type=notify unit). SIGTERM or SIGINT:\n"
        "stop accepting, finish requests in flight, exit 0.",
        "2 usage, I/O or address error.", NULL};
    int first, prc = cli_opts_parse(&cmd, opts, argc, argv, &first);
    if (prc != CLI_OPTS_RUN)
        return prc;
    if (first != argc) {
        cli_err("serve", "unexpected argument \"%s\"", argv[first]);
        return EXIT_USAGE;
    }
    if (ao.listen == NULL && (ao.tls_cert != NULL || ao.tls_key != NULL ||
                              ao.client_ca != NULL || ao.insecure)) {
        cli_err("serve", "the --admin-* options need --admin-listen");
        return EXIT_USAGE;
    }
    if (ao.listen != NULL && serve_admin_check(&ao) != EXIT_OK)
        return EXIT_USAGE;
    size_t nls = lsn.n;
    bool max_set = max_conn != 0;
    ctx.max_connections = max_set ? (unsigned)max_conn : TSL_GATE_DEFAULT_MAX_CONNECTIONS;
    ctx.per_address = (unsigned)per_address;
    ctx.head_timeout = (unsigned)head_timeout;
    if (nls == 0 && !parse_listen(DEFAULT_LISTEN, &ls[nls++]))
        return EXIT_USAGE;
    /* Room for the descriptors the cap needs; a default cap is lowered to fit. */
    char note[128];
    tsl_error ferr;
    tsl_error_clear(&ferr);
    if (tsl_fd_limit_fit(&ctx.max_connections, max_set, (unsigned)threads, nls, note,
                         sizeof note, &ferr) != TSL_OK) {
        cli_err("serve", "%s", ferr.msg);
        return EXIT_USAGE;
    }
    if (note[0] != '\0')
        fprintf(stderr, "tsl serve: %s\n", note);
    if (log_path != NULL) {
        /* Non-blocking: a log that cannot take a line at once (a pipe nobody reads)
         * loses that line rather than stalling the request threads; a FIFO with no
         * reader at all is refused here instead of blocking the start. */
        ctx.log_fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NONBLOCK,
                          0640);
        if (ctx.log_fd < 0) {
            cli_err("serve", "--access-log %s: %s", log_path, strerror(errno));
            return EXIT_USAGE;
        }
    }
    ctx.db_path = store_cli_db_path(db);

    tsl_stop_signals_block(); /* before any thread starts */

    atomic_init(&ctx.inflight, 0);
    /* Opened here only to report a missing or unreadable store in the commands' words;
     * the publisher opens its own handles. */
    tsl_store *probe = NULL;
    int rc = store_cli_open("serve", db, &probe);
    tsl_store_close(probe);
    if (rc == EXIT_OK)
        rc = publisher_start(&ctx);
    if (rc == EXIT_OK && ao.listen != NULL)
        rc = serve_admin_start(&ctx, &ao, &admin);
    if (rc == EXIT_OK && gate_new(&ctx) != 0) {
        cli_err("serve", "out of memory");
        rc = EXIT_USAGE;
    }
    for (size_t k = 0; rc == EXIT_OK && k < nls; k++) {
        if ((ls[k].d = start_daemon(&ctx, &ls[k], (unsigned)threads)) == NULL) {
            cli_err("serve", "cannot listen on %s: %s", ls[k].text,
                    errno != 0 ? strerror(errno) : "address unusable");
            rc = EXIT_USAGE;
        } else if ((ls[k].quiesced = MHD_quiesce_daemon(ls[k].d)) == MHD_INVALID_SOCKET) {
            cli_err("serve", "cannot take over the listening socket of %s", ls[k].text);
            rc = EXIT_USAGE;
        }
    }
    if (rc == EXIT_OK) {
        int lfd[SERVE_MAX_LISTEN];
        for (size_t k = 0; k < nls; k++) {
            lfd[k] = ls[k].quiesced;
            ctx.daemons[k] = ls[k].d;
        }
        tsl_error err;
        tsl_error_clear(&err);
        if (tsl_gate_start(ctx.gate, lfd, nls, &err) != TSL_OK) {
            cli_err("serve", "cannot start the connection gate: %s", err.msg);
            rc = EXIT_USAGE;
        }
        for (size_t k = 0; k < nls; k++) /* the gate closes them now */
            ls[k].quiesced = MHD_INVALID_SOCKET;
    }
    if (rc == EXIT_OK) {
        char state[512] = "READY=1\nSTATUS=listening on ";
        for (size_t k = 0; k < nls; k++)
            print_ready(&ls[k], state, sizeof state);
        if (admin != NULL)
            serve_admin_print_ready(admin);
        /* Ready only now: every listener (and the issuer API's) accepts connections,
         * so a unit ordered after tsl.service finds the server answering. */
        notify(state);
        int sig = tsl_stop_signals_wait();
        fprintf(stderr, "tsl serve: %s, finishing requests in flight\n",
                sig == SIGTERM ? "SIGTERM" : "SIGINT");
        notify("STOPPING=1\nSTATUS=finishing requests in flight");
        tsl_gate_stop(ctx.gate);
        struct timespec t0, now, pause = {0, 20 * 1000000L};
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (;;) {
            if (atomic_load(&ctx.inflight) <= 0)
                break;
            clock_gettime(CLOCK_MONOTONIC, &now);
            if (now.tv_sec - t0.tv_sec >= DRAIN_SECONDS)
                break;
            nanosleep(&pause, NULL);
        }
    }
    serve_admin_stop(admin); /* before the publisher it uses */
    if (!publisher_stop(&ctx))
        _exit(rc); /* the publisher is stuck (logged): do not wait for it forever */
    for (size_t k = 0; k < nls; k++) {
        if (ls[k].d != NULL)
            MHD_stop_daemon(ls[k].d);
        if (ls[k].quiesced != MHD_INVALID_SOCKET)
            close(ls[k].quiesced);
    }
    tsl_gate_free(ctx.gate);
    tsl_publisher_close(ctx.pub);
    tsl_access_log_free(ctx.log);
    tsl_metrics_free(ctx.metrics);
    if (ctx.log_fd >= 0)
        close(ctx.log_fd);
    return rc;
}
