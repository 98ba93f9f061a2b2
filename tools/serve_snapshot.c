/* serve_snapshot.c - the publisher of `tsl serve`: the library's publisher
 * (tsl_publisher) with its thread (tsl_publisher_runner), request counters (tsl_metrics)
 * and access log (tsl_access_log). At start a load-only round serves the tokens already
 * recorded, so the server listens at once; then the thread runs a round every publish
 * interval. The publisher's log lines go to stderr. */
#include "serve.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* How long serve_publisher_stop() waits for the thread to finish its step. */
#define STOP_WAIT_MS 3000

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

serve_snapshot *serve_snapshot_acquire(serve_ctx *ctx)
{
    return tsl_publisher_snapshot(ctx->pub);
}

void serve_ctx_init(serve_ctx *ctx)
{
    ctx->pub = NULL;
    ctx->runner = NULL;
    ctx->metrics = NULL;
    ctx->log = NULL;
    atomic_init(&ctx->inflight, 0);
}

void serve_ctx_destroy(serve_ctx *ctx)
{
    tsl_publisher_close(ctx->pub);
    ctx->pub = NULL;
    tsl_store_close(ctx->pub_store);
    ctx->pub_store = NULL;
    tsl_access_log_free(ctx->log);
    ctx->log = NULL;
    tsl_metrics_free(ctx->metrics);
    ctx->metrics = NULL;
}

int serve_publisher_start(serve_ctx *ctx)
{
    /* cmd_serve.c opened the store to report a missing or unreadable one in its words;
     * the publisher opens its own handles. */
    tsl_store_close(ctx->pub_store);
    ctx->pub_store = NULL;
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
    if (tsl_publisher_runner_start(ctx->pub, ctx->interval_ms, &ctx->runner, NULL) !=
        TSL_OK) {
        cli_err("serve", "cannot start the publisher thread");
        return EXIT_USAGE;
    }
    return EXIT_OK;
}

bool serve_publisher_stop(serve_ctx *ctx)
{
    if (ctx->runner == NULL)
        return true;
    if (!tsl_publisher_runner_stop(ctx->runner, STOP_WAIT_MS)) {
        char busy[160], line[256];
        tsl_publisher_busy(ctx->pub, busy, sizeof busy);
        snprintf(line, sizeof line, "the publisher is still %s after %d s; exiting without "
                 "it (the store stays whole)", busy[0] ? busy : "busy", STOP_WAIT_MS / 1000);
        plog(NULL, line);
        return false;
    }
    ctx->runner = NULL;
    return true;
}
