/* cmd_serve.c - `tsl serve`: the publisher's HTTP endpoint (spec section 8). Parses the
 * options, loads the tokens already recorded and starts the publisher thread
 * (serve_snapshot.c), whose first round signs what is missing in the background while
 * the server listens, starts one libmicrohttpd daemon per --listen address with bounded
 * memory and timeouts, takes its listening socket back for the library's connection
 * gate (tsl_gate_*: connection limits, the request deadline, checks of the first head),
 * then waits for SIGTERM or SIGINT: it stops accepting, lets requests in flight finish,
 * and exits 0. */
#include "serve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_LISTEN "127.0.0.1:8080"
#define DEFAULT_THREADS 2
#define MAX_THREADS 256
/* Bounds of --max-connections, --max-per-address and --head-timeout. */
#define MAX_CONNECTIONS_CEILING 1000000u
#define HEAD_TIMEOUT_CEILING 3600u
/* Descriptors beyond two per connection: the store, the log, the listeners, and the
 * epoll and wake-up descriptors of each libmicrohttpd thread (per thread below). */
#define FD_RESERVE 256u
#define FD_PER_THREAD 4u
/* Per connection: bounds the request line and headers (MHD answers 414/431 beyond). */
#define CONNECTION_MEMORY (32u * 1024u)
/* Seconds without any byte before libmicrohttpd closes a connection (a response a
 * client stops reading); a request must also be complete within --head-timeout. */
#define CONNECTION_TIMEOUT 10
/* How long SIGTERM waits for requests in flight. */
#define DRAIN_SECONDS 10

typedef struct {
    const char *text;
    struct sockaddr_storage sa;
    bool v6;
    struct MHD_Daemon *d;
    MHD_socket quiesced;
} listener;

static void serve_usage(FILE *f)
{
    fprintf(f,
            "usage: tsl serve [--db PATH] [--listen ADDR:PORT]... [--threads N]\n"
            "                 [--default-format jwt|cwt] [--history]\n"
            "                 [--aggregation-path PATH] [--publish-interval S]\n"
            "                 [--access-log FILE] [--max-connections N]\n"
            "                 [--max-per-address N] [--head-timeout S]\n"
            "\n"
            "Serves every list of the store at the path of its uri (GET, HEAD, OPTIONS),\n"
            "choosing JWT or CWT by Accept, with ETag, Last-Modified, Cache-Control, CORS and\n"
            "gzip for JWTs. A background thread re-signs a list when its statuses change or\n"
            "its token has used two thirds of its lifetime; nothing is signed per request.\n"
            "Also serves /healthz and /metrics (Prometheus text).\n"
            "\n"
            "  --db PATH               the store (default: $TSL_DB, else %s)\n"
            "  --listen ADDR:PORT      address to listen on, repeatable; IPv6 as [::1]:8080;\n"
            "                          port 0 picks a free port (default %s)\n"
            "  --threads N             worker threads per address (default %d)\n"
            "  --default-format F      jwt or cwt, for no Accept or a wildcard (default jwt)\n"
            "  --history               answer ?time=UNIXTIME with the token valid then\n"
            "                          (default off: 501, as section 12.7 recommends)\n"
            "  --aggregation-path P    serve {\"status_lists\": [...]} at path P\n"
            "  --publish-interval S    seconds between publishing rounds, e.g. 1 or 0.5\n"
            "                          (default 1); on PostgreSQL changes are pushed and\n"
            "                          served at once, S only spaces the full rounds\n"
            "  --access-log FILE       append one line per request to FILE\n"
            "  --max-connections N     open connections at most, over all addresses; when\n"
            "                          full, the one waiting longest for a request is\n"
            "                          closed to make room (default %u)\n"
            "  --max-per-address N     open connections from one client address (IPv6: one\n"
            "                          /64) at most; more are refused; 0: no limit. Behind\n"
            "                          a proxy every client has the proxy's address: raise\n"
            "                          it (default %u)\n"
            "  --head-timeout S        seconds a client has to send a whole request, from\n"
            "                          connecting or from its previous answer; bytes\n"
            "                          trickling in do not extend it (default %u)\n"
            "\n"
            "Prints \"tsl serve: listening on ADDR:PORT\" on stderr when ready. SIGTERM or\n"
            "SIGINT: stop accepting, finish requests in flight, exit 0.\n"
            "Exit status: 2 usage, I/O or address error.\n",
            STORE_CLI_DEFAULT_DB, DEFAULT_LISTEN, DEFAULT_THREADS,
            SERVE_DEFAULT_MAX_CONNECTIONS, SERVE_DEFAULT_PER_ADDRESS,
            SERVE_DEFAULT_HEAD_TIMEOUT);
}

/* "1", "0.5", "2.25": seconds, to milliseconds; 1 ms to one day. */
static bool parse_interval(const char *s, int64_t *ms)
{
    int64_t whole = 0, frac = 0, scale = 1000;
    const char *p = s;
    if (*p < '0' || *p > '9')
        return false;
    for (; *p >= '0' && *p <= '9'; p++) {
        whole = whole * 10 + (*p - '0');
        if (whole > 86400)
            return false;
    }
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return false;
        for (; *p >= '0' && *p <= '9'; p++) {
            if (scale > 1) {
                scale /= 10;
                frac += (*p - '0') * scale;
            }
        }
    }
    if (*p != '\0')
        return false;
    *ms = whole * 1000 + frac;
    return *ms >= 1 && *ms <= 86400 * 1000;
}

/* "127.0.0.1:8080", "[::1]:8080", "0.0.0.0:0". */
static bool parse_listen(const char *s, listener *l)
{
    char host[64];
    const char *port;
    memset(l, 0, sizeof *l);
    l->text = s;
    l->quiesced = MHD_INVALID_SOCKET;
    if (s[0] == '[') {
        const char *end = strchr(s, ']');
        if (end == NULL || end[1] != ':' || (size_t)(end - s - 1) >= sizeof host)
            return false;
        memcpy(host, s + 1, (size_t)(end - s - 1));
        host[end - s - 1] = '\0';
        port = end + 2;
        l->v6 = true;
    } else {
        const char *colon = strrchr(s, ':');
        if (colon == NULL || (size_t)(colon - s) >= sizeof host || colon == s)
            return false;
        memcpy(host, s, (size_t)(colon - s));
        host[colon - s] = '\0';
        port = colon + 1;
    }
    uint64_t p;
    if (!cli_parse_u64(port, &p) || p > 65535)
        return false;
    if (l->v6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&l->sa;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)p);
        return inet_pton(AF_INET6, host, &a->sin6_addr) == 1;
    }
    struct sockaddr_in *a = (struct sockaddr_in *)&l->sa;
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)p);
    return inet_pton(AF_INET, host, &a->sin_addr) == 1;
}

/* Makes room for the descriptors the connection cap needs, raising the soft limit
 * toward the hard one. When that is not enough, an explicit --max-connections is an
 * error and the default is lowered to fit, with a note. */
static int fit_fd_limit(serve_ctx *ctx, bool explicit, unsigned threads, size_t nls)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return EXIT_OK;
    rlim_t extra = FD_RESERVE + (rlim_t)FD_PER_THREAD * threads * nls;
    rlim_t need = (rlim_t)ctx->max_connections * 2 + extra;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
        struct rlimit want = rl;
        want.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need ? need
                                                                           : rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &want) == 0)
            rl = want;
    }
    if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= need)
        return EXIT_OK;
    rlim_t fit = rl.rlim_cur > extra ? (rl.rlim_cur - extra) / 2 : 0;
    if (explicit || fit < 16) {
        cli_err("serve", "--max-connections %u needs %llu file descriptors; the limit is "
                         "%llu (ulimit -n)", ctx->max_connections,
                (unsigned long long)need, (unsigned long long)rl.rlim_cur);
        return EXIT_USAGE;
    }
    fprintf(stderr, "tsl serve: %llu file descriptors (ulimit -n): at most %llu "
                    "connections\n", (unsigned long long)rl.rlim_cur,
            (unsigned long long)fit);
    ctx->max_connections = (unsigned)fit;
    return EXIT_OK;
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
    o.body_max = SERVE_BODY_MAX;
    o.handoff = gate_handoff;
    o.refused = serve_conn_refused;
    o.user = ctx;
    return tsl_gate_new(&o, &ctx->gate, NULL) == TSL_OK ? 0 : -1;
}

static void print_ready(const listener *l)
{
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(l->d, MHD_DAEMON_INFO_BIND_PORT);
    char host[INET6_ADDRSTRLEN];
    if (l->v6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)&l->sa)->sin6_addr, host,
                  sizeof host);
    else
        inet_ntop(AF_INET, &((const struct sockaddr_in *)&l->sa)->sin_addr, host,
                  sizeof host);
    unsigned port = di != NULL ? di->port : 0;
    fprintf(stderr, l->v6 ? "tsl serve: listening on [%s]:%u\n"
                          : "tsl serve: listening on %s:%u\n", host, port);
}

int cmd_serve(int argc, char **argv)
{
    static const struct option opts[] = {
        {"db", required_argument, NULL, 'D'},
        {"listen", required_argument, NULL, 'l'},
        {"threads", required_argument, NULL, 't'},
        {"default-format", required_argument, NULL, 'f'},
        {"history", no_argument, NULL, 'H'},
        {"aggregation-path", required_argument, NULL, 'a'},
        {"publish-interval", required_argument, NULL, 'i'},
        {"access-log", required_argument, NULL, 'L'},
        {"max-connections", required_argument, NULL, 'C'},
        {"max-per-address", required_argument, NULL, 'P'},
        {"head-timeout", required_argument, NULL, 'T'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    static serve_ctx ctx; /* zeroed, and outlives an _exit() path */
    memset(&ctx, 0, sizeof ctx);
    listener ls[SERVE_MAX_LISTEN];
    size_t nls = 0;
    const char *db = NULL, *log_path = NULL;
    unsigned threads = DEFAULT_THREADS;
    ctx.dflt = TSL_FORMAT_JWT;
    ctx.interval_ms = 1000;
    ctx.retention = STORE_CLI_DEFAULT_RETENTION;
    ctx.log_fd = -1;
    ctx.max_connections = SERVE_DEFAULT_MAX_CONNECTIONS;
    ctx.per_address = SERVE_DEFAULT_PER_ADDRESS;
    ctx.head_timeout = SERVE_DEFAULT_HEAD_TIMEOUT;
    bool max_set = false;
    uint64_t v;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'D': db = optarg; break;
        case 'l':
            if (nls == SERVE_MAX_LISTEN) {
                cli_err("serve", "at most %d --listen addresses", SERVE_MAX_LISTEN);
                return EXIT_USAGE;
            }
            if (!parse_listen(optarg, &ls[nls])) {
                cli_err("serve", "--listen: \"%s\" is not ADDR:PORT (IPv6: [ADDR]:PORT)",
                        optarg);
                return EXIT_USAGE;
            }
            nls++;
            break;
        case 't':
            if (!cli_parse_u64(optarg, &v) || v == 0 || v > MAX_THREADS) {
                cli_err("serve", "--threads: \"%s\" is not 1 to %d", optarg, MAX_THREADS);
                return EXIT_USAGE;
            }
            threads = (unsigned)v;
            break;
        case 'f':
            if (!store_cli_parse_format(optarg, &ctx.dflt)) {
                cli_err("serve", "--default-format: \"%s\" is not jwt or cwt", optarg);
                return EXIT_USAGE;
            }
            break;
        case 'H': ctx.history = true; break;
        case 'a':
            if (optarg[0] != '/' || strlen(optarg) > 1024) {
                cli_err("serve", "--aggregation-path: \"%s\" does not start with /", optarg);
                return EXIT_USAGE;
            }
            ctx.agg_path = optarg;
            break;
        case 'i':
            if (!parse_interval(optarg, &ctx.interval_ms)) {
                cli_err("serve", "--publish-interval: \"%s\" is not seconds (0.001 to "
                                 "86400)", optarg);
                return EXIT_USAGE;
            }
            break;
        case 'L': log_path = optarg; break;
        case 'C':
            if (!cli_parse_u64(optarg, &v) || v == 0 || v > MAX_CONNECTIONS_CEILING) {
                cli_err("serve", "--max-connections: \"%s\" is not 1 to %u", optarg,
                        MAX_CONNECTIONS_CEILING);
                return EXIT_USAGE;
            }
            ctx.max_connections = (unsigned)v;
            max_set = true;
            break;
        case 'P':
            if (!cli_parse_u64(optarg, &v) || v > MAX_CONNECTIONS_CEILING) {
                cli_err("serve", "--max-per-address: \"%s\" is not 0 to %u", optarg,
                        MAX_CONNECTIONS_CEILING);
                return EXIT_USAGE;
            }
            ctx.per_address = (unsigned)v;
            break;
        case 'T':
            if (!cli_parse_u64(optarg, &v) || v == 0 || v > HEAD_TIMEOUT_CEILING) {
                cli_err("serve", "--head-timeout: \"%s\" is not 1 to %u seconds", optarg,
                        HEAD_TIMEOUT_CEILING);
                return EXIT_USAGE;
            }
            ctx.head_timeout = (unsigned)v;
            break;
        case 'h': serve_usage(stdout); return EXIT_OK;
        default: serve_usage(stderr); return EXIT_USAGE;
        }
    }
    if (optind != argc) {
        cli_err("serve", "unexpected argument \"%s\"", argv[optind]);
        return EXIT_USAGE;
    }
    if (nls == 0 && !parse_listen(DEFAULT_LISTEN, &ls[nls++]))
        return EXIT_USAGE;
    if (fit_fd_limit(&ctx, max_set, threads, nls) != EXIT_OK)
        return EXIT_USAGE;
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

    /* Signals are taken by sigwait() in this thread: block them before any thread
     * starts, so every thread inherits the mask. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    serve_ctx_init(&ctx);
    int rc = store_cli_open("serve", db, &ctx.pub_store);
    if (rc == EXIT_OK)
        rc = serve_publisher_start(&ctx);
    if (rc == EXIT_OK && gate_new(&ctx) != 0) {
        cli_err("serve", "out of memory");
        rc = EXIT_USAGE;
    }
    for (size_t k = 0; rc == EXIT_OK && k < nls; k++) {
        if ((ls[k].d = start_daemon(&ctx, &ls[k], threads)) == NULL) {
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
        for (size_t k = 0; k < nls; k++)
            print_ready(&ls[k]);
        int sig = 0;
        while (sigwait(&sigs, &sig) != 0)
            ;
        fprintf(stderr, "tsl serve: %s, finishing requests in flight\n",
                sig == SIGTERM ? "SIGTERM" : "SIGINT");
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
    if (!serve_publisher_stop(&ctx))
        _exit(rc); /* the publisher is stuck (logged): do not wait for it forever */
    for (size_t k = 0; k < nls; k++) {
        if (ls[k].d != NULL)
            MHD_stop_daemon(ls[k].d);
        if (ls[k].quiesced != MHD_INVALID_SOCKET)
            close(ls[k].quiesced);
    }
    tsl_gate_free(ctx.gate);
    serve_ctx_destroy(&ctx); /* closes ctx.pub_store */
    if (ctx.log_fd >= 0)
        close(ctx.log_fd);
    return rc;
}
