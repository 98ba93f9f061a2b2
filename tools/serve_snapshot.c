/* serve_snapshot.c - the publisher thread of `tsl serve`, over the library's publisher
 * (tsl_publisher, src/publish/publisher.c). At start a load-only round serves the tokens
 * already recorded, so the server listens at once; then a thread runs a round every
 * publish interval. The publisher holds no lock that request threads take while it
 * reads keys, signs, compresses or reads the store; its log lines go to stderr. */
#include "serve.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* How long serve_publisher_stop() waits for the thread to finish its step. */
#define STOP_WAIT_MS 3000

const unsigned serve_codes[SERVE_NCODES] = {200, 204, 304, 400, 404, 405, 406,
                                            413, 414, 431, 500, 501, 503};
const char *const serve_fmt_names[SERVE_NFMT] = {"none", "jwt", "cwt", "json"};
const char *const serve_prob_names[SERVE_NPROB] = {"store", "publish", "key", "path",
                                                   "expiry"};

/* The server answers these itself: no list is served there. */
static const char *const reserved_paths[] = {"/healthz", "/metrics"};

/* One log line on stderr, written at once so that lines of several threads do not mix. */
static void plog(void *cls, const char *msg)
{
    (void)cls;
    char line[TSL_ERROR_MSG_SIZE + 512];
    int n = snprintf(line, sizeof line - 1, "tsl serve: %s", msg);
    size_t len = n < 0 ? 0 : (size_t)n;
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w; /* nowhere to report a failing stderr */
}

static void *publisher(void *arg)
{
    serve_ctx *ctx = arg;
    /* The first round at once: it signs what changed while the server was down. */
    tsl_publisher_round(ctx->pub, 0, NULL);
    pthread_mutex_lock(&ctx->pub_mu);
    while (!atomic_load(&ctx->stop)) {
        struct timespec wake;
        clock_gettime(CLOCK_MONOTONIC, &wake);
        wake.tv_sec += (time_t)(ctx->interval_ms / 1000);
        wake.tv_nsec += (long)(ctx->interval_ms % 1000) * 1000000L;
        if (wake.tv_nsec >= 1000000000L) {
            wake.tv_sec++;
            wake.tv_nsec -= 1000000000L;
        }
        while (!atomic_load(&ctx->stop) &&
               pthread_cond_timedwait(&ctx->pub_cv, &ctx->pub_mu, &wake) == 0)
            ;
        if (atomic_load(&ctx->stop))
            break;
        pthread_mutex_unlock(&ctx->pub_mu);
        tsl_publisher_round(ctx->pub, 0, NULL);
        pthread_mutex_lock(&ctx->pub_mu);
    }
    ctx->pub_done = true;
    pthread_cond_broadcast(&ctx->pub_cv);
    pthread_mutex_unlock(&ctx->pub_mu);
    return NULL;
}

void serve_health(serve_ctx *ctx, serve_health_info *out)
{
    tsl_publisher_health h;
    tsl_publisher_health_get(ctx->pub, &h);
    memset(out, 0, sizeof *out);
    for (int k = 0; k < SERVE_NPROB; k++)
        out->problems[k] = h.problems[k];
    out->stalled = h.stalled;
    out->round_age_ms = h.round_age_ms;
    out->publishes_ok = h.publishes_ok;
    out->publishes_err = h.publishes_err;
}

serve_snapshot *serve_snapshot_acquire(serve_ctx *ctx)
{
    return tsl_publisher_snapshot(ctx->pub);
}

void serve_ctx_init(serve_ctx *ctx)
{
    pthread_mutex_init(&ctx->log_mu, NULL);
    pthread_mutex_init(&ctx->pub_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&ctx->pub_cv, &ca);
    pthread_condattr_destroy(&ca);
    ctx->pub = NULL;
    atomic_init(&ctx->stop, false);
    ctx->pub_done = false;
    ctx->pub_running = false;
    for (size_t i = 0; i <= SERVE_NCODES; i++)
        for (size_t j = 0; j < SERVE_NFMT; j++)
            atomic_init(&ctx->requests[i][j], 0);
    atomic_init(&ctx->bytes, 0);
    atomic_init(&ctx->inflight, 0);
}

void serve_ctx_destroy(serve_ctx *ctx)
{
    tsl_publisher_close(ctx->pub);
    ctx->pub = NULL;
    tsl_store_close(ctx->pub_store);
    ctx->pub_store = NULL;
    pthread_cond_destroy(&ctx->pub_cv);
    pthread_mutex_destroy(&ctx->pub_mu);
    pthread_mutex_destroy(&ctx->log_mu);
}

int serve_publisher_start(serve_ctx *ctx)
{
    /* cmd_serve.c opened the store to report a missing or unreadable one in its words;
     * the publisher opens its own handles. */
    tsl_store_close(ctx->pub_store);
    ctx->pub_store = NULL;
    tsl_publisher_options opt;
    memset(&opt, 0, sizeof opt);
    opt.default_format = ctx->dflt;
    opt.history = ctx->history;
    opt.aggregation_path = ctx->agg_path;
    opt.interval_ms = ctx->interval_ms;
    opt.retention = ctx->retention;
    opt.reserved = reserved_paths;
    opt.nreserved = sizeof reserved_paths / sizeof reserved_paths[0];
    opt.log = plog;
    tsl_error err;
    tsl_error_clear(&err);
    tsl_status r = tsl_publisher_open(ctx->db_path, &opt, &ctx->pub, &err);
    if (r != TSL_OK) {
        cli_err("serve", "%s: %s", ctx->db_path, err.msg[0] ? err.msg : tsl_strerror(r));
        return EXIT_USAGE;
    }
    /* The tokens already recorded, so that the server can listen now (an unreadable
     * store has been logged). */
    tsl_error_clear(&err);
    r = tsl_publisher_round(ctx->pub, TSL_ROUND_LOAD_ONLY, &err);
    if (r != TSL_OK) {
        if (r != TSL_ERR_IO)
            cli_err("serve", "out of memory");
        return EXIT_USAGE;
    }
    if (pthread_create(&ctx->pub_thread, NULL, publisher, ctx) != 0) {
        cli_err("serve", "cannot start the publisher thread");
        return EXIT_USAGE;
    }
    ctx->pub_running = true;
    return EXIT_OK;
}

bool serve_publisher_stop(serve_ctx *ctx)
{
    if (!ctx->pub_running)
        return true;
    struct timespec limit;
    clock_gettime(CLOCK_MONOTONIC, &limit);
    limit.tv_sec += STOP_WAIT_MS / 1000;
    limit.tv_nsec += (long)(STOP_WAIT_MS % 1000) * 1000000L;
    if (limit.tv_nsec >= 1000000000L) {
        limit.tv_sec++;
        limit.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&ctx->pub_mu);
    atomic_store(&ctx->stop, true);
    tsl_publisher_stop(ctx->pub);
    pthread_cond_broadcast(&ctx->pub_cv);
    int rc = 0;
    while (!ctx->pub_done && rc == 0)
        rc = pthread_cond_timedwait(&ctx->pub_cv, &ctx->pub_mu, &limit);
    bool done = ctx->pub_done;
    pthread_mutex_unlock(&ctx->pub_mu);
    if (!done) {
        char busy[160], line[256];
        tsl_publisher_busy(ctx->pub, busy, sizeof busy);
        snprintf(line, sizeof line, "the publisher is still %s after %d s; exiting without "
                 "it (the store stays whole)", busy[0] ? busy : "busy", STOP_WAIT_MS / 1000);
        plog(NULL, line);
        return false;
    }
    pthread_join(ctx->pub_thread, NULL);
    ctx->pub_running = false;
    return true;
}
