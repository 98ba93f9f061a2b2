/* ops.c - what a server needs around a publisher besides answering requests, so that an
 * embedder does not rewrite it and `tsl serve` stays an adapter: the thread that runs the
 * rounds (tsl_publisher_runner), the /healthz answer, the request counters and their
 * Prometheus text (tsl_metrics), and the access log (tsl_access_log). Nothing here knows
 * the HTTP server: the server reports what it answered and serves the text it gets. */
#include "publish/publish_int.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---------------------------------------------------------------------------------- */
/* The publisher thread                                                                 */

struct tsl_publisher_runner {
    tsl_publisher *pub;
    int64_t interval_ms;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop; /* under mu */
    bool kicked; /* tsl_publisher_runner_kick: a round at once (under mu) */
    bool done; /* the thread has left its loop (under mu) */
    tslp_walwatch *watch; /* an SQLite store's writes kick a round, or NULL */
};

/* The monotonic time ms from now, for pthread_cond_timedwait on a CLOCK_MONOTONIC cv (a
 * wall clock set back would otherwise stretch an interval or a bounded stop). */
static struct timespec after_ms(int64_t ms)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    t.tv_sec += (time_t)(ms / 1000);
    t.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}

static int64_t mono_now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* The shortest and longest spacing of the wake-ups by an SQLite store's writes: a long
 * write (a bulk update) does not run rounds back to back, and a publish interval of
 * minutes does not hold back a change for long either. */
#define WATCH_GAP_MIN_MS 2
#define WATCH_GAP_MAX_MS 50

/* A pushed publisher's step waits at most this long, so that a stop is seen soon. */
#define STEP_MS 250

/* The thread of a publisher whose store pushes its changes: steps (listen, round the
 * lists notified, a full round when due) until stopped. The first step listens and runs
 * the full round that signs what changed while the server was down. */
static void push_main(tsl_publisher_runner *r)
{
    pthread_mutex_lock(&r->mu);
    while (!r->stop) {
        /* A kick needs nothing here: the publication's own notification brings the
         * list its round within the step. */
        r->kicked = false;
        pthread_mutex_unlock(&r->mu);
        tslp_publisher_step(r->pub, STEP_MS);
        pthread_mutex_lock(&r->mu);
    }
    pthread_mutex_unlock(&r->mu);
}

static void *runner_main(void *arg)
{
    tsl_publisher_runner *r = arg;
    if (tslp_publisher_pushed(r->pub)) {
        push_main(r);
        pthread_mutex_lock(&r->mu);
        r->done = true;
        pthread_cond_broadcast(&r->cv);
        pthread_mutex_unlock(&r->mu);
        return NULL;
    }
    /* The first round at once: it signs what changed while the server was down. */
    int64_t started = mono_now_ms();
    tsl_publisher_round(r->pub, 0, NULL);
    pthread_mutex_lock(&r->mu);
    while (!r->stop) {
        /* Rounds start one interval apart, not one interval after the last ended: a
         * round that signed a big list (tens of ms) does not push the next check of
         * the store later by as much. After a round longer than the interval the
         * thread still pauses a tenth of it, so that slow rounds do not run back to
         * back. */
        int64_t left = started + r->interval_ms - mono_now_ms();
        struct timespec wake = after_ms(left > r->interval_ms / 10 ? left
                                                                   : r->interval_ms / 10);
        /* Woken early only by a stop or a kick: a spurious wake-up waits again. */
        while (!r->stop && !r->kicked &&
               pthread_cond_timedwait(&r->cv, &r->mu, &wake) == 0)
            ;
        if (r->stop)
            break;
        r->kicked = false;
        /* No lock held while the round reads keys, signs or reads the store. */
        pthread_mutex_unlock(&r->mu);
        started = mono_now_ms();
        tsl_publisher_round(r->pub, 0, NULL);
        pthread_mutex_lock(&r->mu);
    }
    r->done = true;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

static void kick_cb(void *ctx)
{
    tsl_publisher_runner_kick(ctx);
}

tsl_status tsl_publisher_runner_start(tsl_publisher *p, int64_t interval_ms,
                                      tsl_publisher_runner **out, tsl_error *err)
{
    if (p == NULL || out == NULL || interval_ms <= 0)
        return tslp_fail(err, TSL_ERR_ARG, 0, "publisher runner: bad argument");
    tsl_publisher_runner *r = calloc(1, sizeof *r);
    if (r == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "publisher runner: out of memory");
    r->pub = p;
    r->interval_ms = interval_ms;
    pthread_mutex_init(&r->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&r->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&r->thread, NULL, runner_main, r) != 0) {
        pthread_cond_destroy(&r->cv);
        pthread_mutex_destroy(&r->mu);
        free(r);
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "cannot start the publisher thread");
    }
    /* An SQLite store is polled: its writes wake the thread too (walwatch.c), so a
     * change does not wait for the timer; wake-ups are spaced by a tenth of the
     * interval, from WATCH_GAP_MIN_MS to WATCH_GAP_MAX_MS. */
    int64_t gap = interval_ms / 10;
    gap = gap < WATCH_GAP_MIN_MS ? WATCH_GAP_MIN_MS : gap > WATCH_GAP_MAX_MS ? WATCH_GAP_MAX_MS
                                                                              : gap;
    if (!tslp_publisher_pushed(p) && tslp_publisher_file(p) != NULL)
        r->watch = tslp_walwatch_start(tslp_publisher_file(p), gap, kick_cb, r);
    *out = r;
    return TSL_OK;
}

void tsl_publisher_runner_kick(tsl_publisher_runner *r)
{
    if (r == NULL)
        return;
    pthread_mutex_lock(&r->mu);
    r->kicked = true;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

int tsl_publisher_runner_stop(tsl_publisher_runner *r, int64_t timeout_ms)
{
    if (r == NULL)
        return 1;
    tslp_walwatch_stop(r->watch); /* no kick after this */
    r->watch = NULL;
    struct timespec limit = after_ms(timeout_ms);
    pthread_mutex_lock(&r->mu);
    r->stop = true;
    tsl_publisher_stop(r->pub); /* a round in progress stops between lists */
    pthread_cond_broadcast(&r->cv);
    int rc = 0;
    while (!r->done && rc == 0)
        rc = pthread_cond_timedwait(&r->cv, &r->mu, &limit);
    bool done = r->done;
    pthread_mutex_unlock(&r->mu);
    if (!done)
        return 0; /* still in use by its thread: not freed */
    pthread_join(r->thread, NULL);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    free(r);
    return 1;
}

/* ---------------------------------------------------------------------------------- */
/* Health                                                                               */

/* Whether a PKCS#11 token the lists sign with is lost now (src/crypto/pkcs11.c). */
static bool pkcs11_lost(void)
{
    tsl_pkcs11_stats ps;
    tsl_pkcs11_get_stats(&ps);
    return ps.tokens > 0 && ps.lost;
}

/* The PKCS#11 series, when a list signs on a token: signatures, reopens after a lost
 * session or token, refused logins, and whether a token is lost now. */
static void pkcs11_text(FILE *f)
{
    tsl_pkcs11_stats ps;
    tsl_pkcs11_get_stats(&ps);
    if (ps.tokens == 0)
        return;
    fprintf(f, "# HELP tsl_pkcs11_signatures_total Signatures made on PKCS#11 tokens, by "
               "result.\n"
               "# TYPE tsl_pkcs11_signatures_total counter\n"
               "tsl_pkcs11_signatures_total{result=\"ok\"} %llu\n"
               "tsl_pkcs11_signatures_total{result=\"error\"} %llu\n"
               "# HELP tsl_pkcs11_reopens_total Tokens reopened after the module reported a "
               "lost session, device or token.\n"
               "# TYPE tsl_pkcs11_reopens_total counter\n"
               "tsl_pkcs11_reopens_total %llu\n"
               "# HELP tsl_pkcs11_login_failures_total Logins the token refused (a wrong PIN "
               "is not tried again).\n"
               "# TYPE tsl_pkcs11_login_failures_total counter\n"
               "tsl_pkcs11_login_failures_total %llu\n"
               "# HELP tsl_pkcs11_token_lost 1 while a token is lost and not back.\n"
               "# TYPE tsl_pkcs11_token_lost gauge\n"
               "tsl_pkcs11_token_lost %d\n",
            (unsigned long long)ps.signs, (unsigned long long)ps.sign_failures,
            (unsigned long long)ps.reopens, (unsigned long long)ps.login_failures,
            ps.lost ? 1 : 0);
}

unsigned tsl_publisher_healthz_text(tsl_publisher *p, char *buf, size_t size)
{
    tsl_publisher_health h;
    tsl_publisher_health_get(p, &h);
    const char *body = NULL;
    unsigned status = tsl_publisher_healthz(p, &body);
    if (buf == NULL || size == 0)
        return status;
    if (status != 200 && h.store_down_since != 0) {
        /* A time and nothing else: which database, and why, is in the log. */
        time_t t = (time_t)h.store_down_since;
        struct tm tm;
        char when[32];
        if (gmtime_r(&t, &tm) == NULL ||
            strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
            snprintf(when, sizeof when, "%lld", (long long)h.store_down_since);
        snprintf(buf, size, "degraded: store unreachable since %s\n", when);
    } else if (status != 200 && pkcs11_lost()) {
        /* Which token is in the log; here only that signing waits for it. */
        snprintf(buf, size, "degraded: HSM token lost, reopening\n");
    } else {
        snprintf(buf, size, "%s", body);
    }
    return status;
}

unsigned tsl_publisher_healthz(tsl_publisher *p, const char **body)
{
    tsl_publisher_health h;
    tsl_publisher_health_get(p, &h);
    bool degraded = h.stalled != 0;
    for (int k = 0; k < TSL_NPROBLEMS; k++)
        degraded = degraded || h.problems[k] != 0;
    /* Nothing more on a public endpoint: which list and why (key paths, list ids) is in
     * the log and, by kind, in the metrics. */
    if (body != NULL)
        *body = degraded ? "degraded\n" : "ok\n";
    return degraded ? 503 : 200;
}

/* ---------------------------------------------------------------------------------- */
/* Counters and their text                                                              */

/* Response status codes counted by their own label, and the answer kinds they are
 * split by; any other code is counted as "other". */
static const unsigned metric_codes[] = {200, 204, 304, 400, 404, 405, 406,
                                        413, 414, 431, 500, 501, 503};
#define NCODES (sizeof metric_codes / sizeof metric_codes[0])
#define NKINDS 4
static const char *const kind_names[NKINDS] = {"none", "jwt", "cwt", "json"};
static const char *const problem_names[TSL_NPROBLEMS] = {"store", "publish", "key", "path",
                                                         "expiry"};

struct tsl_metrics {
    atomic_ullong requests[NCODES + 1][NKINDS]; /* last row: other codes */
    atomic_ullong bytes;
    atomic_ullong log_dropped;
};

tsl_status tsl_metrics_new(tsl_metrics **out, tsl_error *err)
{
    tsl_metrics *m = calloc(1, sizeof *m);
    if (m == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "metrics: out of memory");
    for (size_t i = 0; i <= NCODES; i++)
        for (size_t j = 0; j < NKINDS; j++)
            atomic_init(&m->requests[i][j], 0);
    atomic_init(&m->bytes, 0);
    atomic_init(&m->log_dropped, 0);
    *out = m;
    return TSL_OK;
}

void tsl_metrics_free(tsl_metrics *m)
{
    free(m);
}

void tsl_metrics_count(tsl_metrics *m, unsigned status, tsl_answer_kind kind,
                       uint64_t bytes)
{
    if (m == NULL)
        return;
    size_t row = NCODES;
    for (size_t k = 0; k < NCODES; k++)
        if (metric_codes[k] == status)
            row = k;
    size_t col = (unsigned)kind < NKINDS ? (size_t)kind : 0;
    atomic_fetch_add_explicit(&m->requests[row][col], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->bytes, bytes, memory_order_relaxed);
}

static void gate_text(tsl_gate *g, FILE *f)
{
    tsl_gate_stats st;
    tsl_gate_get_stats(g, &st);
    fprintf(f, "# HELP tsl_connections Open connections: waiting for a request, "
               "answering one, being closed.\n"
               "# TYPE tsl_connections gauge\n"
               "tsl_connections{state=\"waiting\"} %u\n"
               "tsl_connections{state=\"active\"} %u\n"
               "tsl_connections{state=\"closing\"} %u\n",
            st.waiting, st.active, st.closing);
    fputs("# HELP tsl_connections_dropped_total Connections closed or refused by a "
          "limit, by reason.\n"
          "# TYPE tsl_connections_dropped_total counter\n", f);
    for (int k = 0; k < TSL_GATE_NDROPS; k++)
        fprintf(f, "tsl_connections_dropped_total{reason=\"%s\"} %llu\n",
                tsl_gate_drop_name(k), (unsigned long long)st.dropped[k]);
    fprintf(f, "# HELP tsl_connection_limit The connection limits in force "
               "(per_address 0: none).\n"
               "# TYPE tsl_connection_limit gauge\n"
               "tsl_connection_limit{limit=\"max_connections\"} %u\n"
               "tsl_connection_limit{limit=\"per_address\"} %u\n"
               "tsl_connection_limit{limit=\"head_timeout_seconds\"} %u\n",
            st.max_connections, st.max_per_address, st.head_timeout_ms / 1000);
}

tsl_status tsl_metrics_text(tsl_metrics *m, tsl_publisher *p, tsl_gate *g, int64_t now,
                            char **out, size_t *out_len, tsl_error *err)
{
    if (m == NULL || p == NULL || out == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "metrics: bad argument");
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (f == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "metrics: out of memory");
    fputs("# HELP tsl_requests_total HTTP requests answered, by status code and format.\n"
          "# TYPE tsl_requests_total counter\n", f);
    for (size_t i = 0; i <= NCODES; i++)
        for (size_t j = 0; j < NKINDS; j++) {
            unsigned long long v = atomic_load(&m->requests[i][j]);
            if (v == 0) /* only what happened: 14 x 4 zero series say nothing */
                continue;
            if (i < NCODES)
                fprintf(f, "tsl_requests_total{code=\"%u\",format=\"%s\"} %llu\n",
                        metric_codes[i], kind_names[j], v);
            else
                fprintf(f, "tsl_requests_total{code=\"other\",format=\"%s\"} %llu\n",
                        kind_names[j], v);
        }
    fprintf(f, "# HELP tsl_response_bytes_total Response body bytes sent.\n"
               "# TYPE tsl_response_bytes_total counter\n"
               "tsl_response_bytes_total %llu\n",
            (unsigned long long)atomic_load(&m->bytes));
    fprintf(f, "# HELP tsl_access_log_dropped_total Access log lines lost because the log "
               "could not take them at once.\n"
               "# TYPE tsl_access_log_dropped_total counter\n"
               "tsl_access_log_dropped_total %llu\n",
            (unsigned long long)atomic_load(&m->log_dropped));
    tsl_publisher_health h;
    tsl_publisher_health_get(p, &h);
    fprintf(f, "# HELP tsl_publishes_total Publishing attempts by the server.\n"
               "# TYPE tsl_publishes_total counter\n"
               "tsl_publishes_total{result=\"ok\"} %llu\n"
               "tsl_publishes_total{result=\"error\"} %llu\n"
               "tsl_publishes_total{result=\"skipped\"} %llu\n",
            (unsigned long long)h.publishes_ok, (unsigned long long)h.publishes_err,
            (unsigned long long)h.publishes_skipped);
    tsl_snapshot *snap = tsl_publisher_snapshot(p);
    int64_t earliest = snap != NULL ? tsl_snapshot_earliest_exp(snap) : 0;
    size_t n = snap != NULL ? tsl_snapshot_count(snap) : 0;
    tsl_snapshot_release(snap);
    if (earliest != 0)
        fprintf(f, "# HELP tsl_seconds_to_earliest_expiry Seconds until the first served "
                   "token expires.\n"
                   "# TYPE tsl_seconds_to_earliest_expiry gauge\n"
                   "tsl_seconds_to_earliest_expiry %lld\n",
                (long long)(earliest - now));
    fprintf(f, "# HELP tsl_lists Status lists served.\n"
               "# TYPE tsl_lists gauge\n"
               "tsl_lists %zu\n", n);
    fputs("# HELP tsl_problems What makes /healthz degraded, by kind (the log names the "
          "lists).\n"
          "# TYPE tsl_problems gauge\n", f);
    for (int k = 0; k < TSL_NPROBLEMS; k++)
        fprintf(f, "tsl_problems{kind=\"%s\"} %u\n", problem_names[k], h.problems[k]);
    fprintf(f, "# HELP tsl_publisher_round_age_seconds Seconds since the publisher last "
               "completed a round.\n"
               "# TYPE tsl_publisher_round_age_seconds gauge\n"
               "tsl_publisher_round_age_seconds %.3f\n"
               "# HELP tsl_publisher_stalled 1 when no round completed in the expected "
               "time.\n"
               "# TYPE tsl_publisher_stalled gauge\n"
               "tsl_publisher_stalled %d\n",
            (double)h.round_age_ms / 1000.0, h.stalled ? 1 : 0);
    fprintf(f, "# HELP tsl_store_connected 1 when the store answers, 0 while it is "
               "unreachable (the last snapshot is served).\n"
               "# TYPE tsl_store_connected gauge\n"
               "tsl_store_connected %d\n", h.store_down_since == 0 ? 1 : 0);
    if (h.last_sync != 0)
        fprintf(f, "# HELP tsl_store_last_sync_seconds Seconds since the publisher last "
                   "knew every change committed to the store.\n"
                   "# TYPE tsl_store_last_sync_seconds gauge\n"
                   "tsl_store_last_sync_seconds %lld\n",
                (long long)(now > h.last_sync ? now - h.last_sync : 0));
    pkcs11_text(f);
    if (g != NULL)
        gate_text(g, f);
    if (fclose(f) != 0) {
        free(buf);
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "metrics: out of memory");
    }
    /* Handed out as the library's memory, freed with tsl_free like every other output. */
    *out = tslp_malloc(len + 1);
    if (*out != NULL)
        memcpy(*out, buf, len + 1);
    free(buf);
    if (*out == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "metrics: out of memory");
    if (out_len != NULL)
        *out_len = len;
    return TSL_OK;
}

/* ---------------------------------------------------------------------------------- */
/* Access log                                                                           */

/* The longest path a line records; longer ones are cut and end in "...". */
#define LOG_PATH_MAX 200

struct tsl_access_log {
    int fd;
    tsl_metrics *m; /* counts the lines dropped, or NULL */
    atomic_ullong dropped;
    pthread_mutex_t mu; /* one write() at a time, so lines of threads never mix */
};

tsl_status tsl_access_log_new(int fd, tsl_metrics *m, tsl_access_log **out, tsl_error *err)
{
    if (fd < 0 || out == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "access log: bad argument");
    tsl_access_log *l = calloc(1, sizeof *l);
    if (l == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "access log: out of memory");
    l->fd = fd;
    l->m = m;
    atomic_init(&l->dropped, 0);
    pthread_mutex_init(&l->mu, NULL);
    *out = l;
    return TSL_OK;
}

void tsl_access_log_free(tsl_access_log *l)
{
    if (l == NULL)
        return;
    pthread_mutex_destroy(&l->mu);
    free(l);
}

uint64_t tsl_access_log_dropped(const tsl_access_log *l)
{
    return l != NULL ? atomic_load(&((tsl_access_log *)(uintptr_t)l)->dropped) : 0;
}

/* Copies at most max bytes of src (to its NUL) into dst (cap bytes), escaping as %XX
 * what would break the line's fields or fool a reader (spaces, controls, quotes, '%',
 * '\\', non-ASCII); a longer src ends in "...". */
static void copy_sanitized(char *dst, size_t cap, const char *src, size_t max)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t w = 0, k = 0;
    for (; src[k] != '\0' && k < max && w + 4 < cap; k++) {
        unsigned char c = (unsigned char)src[k];
        if (c > 0x20 && c < 0x7f && c != '"' && c != '%' && c != '\\') {
            dst[w++] = (char)c;
        } else {
            dst[w++] = '%';
            dst[w++] = hex[c >> 4];
            dst[w++] = hex[c & 15];
        }
    }
    if (src[k] != '\0' && w + 4 <= cap) {
        memcpy(dst + w, "...", 3);
        w += 3;
    }
    dst[w] = '\0';
}

void tsl_log_stderr(void *ctx, const char *line)
{
    char buf[TSL_ERROR_MSG_SIZE + 512];
    int n = ctx != NULL ? snprintf(buf, sizeof buf - 1, "%s: %s", (const char *)ctx, line)
                        : snprintf(buf, sizeof buf - 1, "%s", line);
    size_t len = n < 0 ? 0 : (size_t)n;
    if (len > sizeof buf - 2)
        len = sizeof buf - 2;
    buf[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, buf, len);
    (void)w; /* nowhere to report a failing stderr */
}

/* The longest "who acted" field (tsl_access_log_write_by); longer ones are cut. */
#define LOG_BY_MAX 40

/* One line; by NULL: the publisher's line, without the field. */
static void log_line(tsl_access_log *l, const char *peer, const char *method,
                     size_t method_len, const char *path, size_t path_len, unsigned status,
                     uint64_t bytes, tsl_answer_kind kind, const char *by)
{
    if (l == NULL)
        return;
    char bys[LOG_BY_MAX * 3 + 8] = "";
    if (by != NULL) {
        bys[0] = ' ';
        if (by[0] == '\0')
            memcpy(bys + 1, "-", 2);
        else
            copy_sanitized(bys + 1, sizeof bys - 1, by, LOG_BY_MAX);
    }
    char m[16], p[LOG_PATH_MAX + 2], ms[12], ps[LOG_PATH_MAX + 8];
    method_len = method_len < sizeof m ? method_len : sizeof m - 1;
    path_len = path_len < sizeof p ? path_len : sizeof p - 1;
    memcpy(m, method, method_len);
    m[method_len] = '\0';
    memcpy(p, path, path_len);
    p[path_len] = '\0';
    copy_sanitized(ms, sizeof ms, m, 8);
    copy_sanitized(ps, sizeof ps, p, LOG_PATH_MAX);
    char when[32], line[512];
    time_t t = time(NULL);
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL ||
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(when, sizeof when, "-");
    size_t col = (unsigned)kind < NKINDS ? (size_t)kind : 0;
    int n = snprintf(line, sizeof line, "%s %s %s %s %u %llu %s%s\n", when,
                     peer != NULL ? peer : "-", ms, ps, status,
                     (unsigned long long)bytes, kind_names[col], bys);
    if (n <= 0)
        return;
    /* A line is shorter than PIPE_BUF, so a pipe never receives half of one. The caller
     * opened fd non-blocking: a log that cannot take the line now (a pipe nobody reads,
     * a full disk) loses it, counted, and never holds up the request thread. */
    size_t len = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
    pthread_mutex_lock(&l->mu);
    ssize_t w = write(l->fd, line, len);
    pthread_mutex_unlock(&l->mu);
    if (w != (ssize_t)len) {
        atomic_fetch_add_explicit(&l->dropped, 1, memory_order_relaxed);
        if (l->m != NULL)
            atomic_fetch_add_explicit(&l->m->log_dropped, 1, memory_order_relaxed);
    }
}

void tsl_access_log_write(tsl_access_log *l, const char *peer, const char *method,
                          size_t method_len, const char *path, size_t path_len,
                          unsigned status, uint64_t bytes, tsl_answer_kind kind)
{
    log_line(l, peer, method, method_len, path, path_len, status, bytes, kind, NULL);
}

void tsl_access_log_write_by(tsl_access_log *l, const char *peer, const char *method,
                             size_t method_len, const char *path, size_t path_len,
                             unsigned status, uint64_t bytes, tsl_answer_kind kind,
                             const char *by)
{
    log_line(l, peer, method, method_len, path, path_len, status, bytes, kind,
             by != NULL ? by : "");
}
