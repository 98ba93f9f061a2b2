/* store_cli.c - shared pieces of the issuer-store subcommands: resolving --db /
 * $TSL_DB / ./tsl.db, opening the store with one error line, option values (formats,
 * seconds), status labels, and the progress display on a terminal. */
#include "store_cli.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *store_cli_db_path(const char *opt)
{
    if (opt != NULL)
        return opt;
    const char *env = getenv("TSL_DB");
    if (env != NULL && env[0] != '\0')
        return env;
    return STORE_CLI_DEFAULT_DB;
}

int store_cli_open_mode(const char *cmd, const char *db_opt, store_cli_mode mode,
                        tsl_store **out)
{
    const char *path = store_cli_db_path(db_opt);
    static const unsigned flags[] = {0, TSL_STORE_READONLY, TSL_STORE_CREATE};
    tsl_error err;
    tsl_error_clear(&err);
    tsl_status st = tsl_store_open_mode(path, flags[mode], out, &err);
    if (st != TSL_OK) {
        /* The library's message starts with "store PATH: ". */
        bool missing = st == TSL_ERR_IO && mode != STORE_CLI_CREATE &&
                       strstr(path, "://") == NULL && access(path, F_OK) != 0;
        cli_err(cmd, "%s%s", err.msg[0] ? err.msg : tsl_strerror(st),
                missing ? " (tsl list create makes a new store)" : "");
        return cli_exit_for(st);
    }
    return EXIT_OK;
}

int store_cli_open(const char *cmd, const char *db_opt, tsl_store **out)
{
    /* The read-only commands of other files, named here so that their calls stay as
     * they are. */
    static const char *const readers[] = {"token", "export"};
    store_cli_mode mode = STORE_CLI_WRITE;
    for (size_t k = 0; k < sizeof readers / sizeof readers[0]; k++)
        if (strcmp(cmd, readers[k]) == 0)
            mode = STORE_CLI_READ;
    return store_cli_open_mode(cmd, db_opt, mode, out);
}

int store_cli_info(const char *cmd, tsl_store *st, const char *id, tsl_list_info *info)
{
    tsl_error err;
    tsl_error_clear(&err);
    memset(info, 0, sizeof *info);
    tsl_status s = tsl_store_list_info(st, id, info, &err);
    if (s != TSL_OK)
        return cli_fail(cmd, &err, s);
    return EXIT_OK;
}

const char *store_cli_status_label(unsigned value, char buf[8])
{
    static const char *const names[] = {"VALID", "INVALID", "SUSPENDED",
                                        "APPLICATION_SPECIFIC"};
    if (value < 4)
        return names[value];
    snprintf(buf, 8, "%u", value & 0xffffu); /* values are below 256 */
    return buf;
}

bool store_cli_parse_format(const char *s, tsl_format *out)
{
    if (strcmp(s, "jwt") == 0)
        *out = TSL_FORMAT_JWT;
    else if (strcmp(s, "cwt") == 0)
        *out = TSL_FORMAT_CWT;
    else
        return false;
    return true;
}

bool store_cli_parse_formats(const char *s, unsigned *out)
{
    unsigned mask = 0;
    for (;;) {
        const char *comma = strchr(s, ',');
        size_t n = comma != NULL ? (size_t)(comma - s) : strlen(s);
        unsigned bit;
        if (n == 3 && memcmp(s, "jwt", 3) == 0)
            bit = TSL_PUBLISH_JWT;
        else if (n == 3 && memcmp(s, "cwt", 3) == 0)
            bit = TSL_PUBLISH_CWT;
        else
            return false;
        if (mask & bit)
            return false;
        mask |= bit;
        if (comma == NULL)
            break;
        s = comma + 1;
    }
    *out = mask;
    return true;
}

const char *store_cli_formats_name(unsigned formats)
{
    switch (formats) {
    case TSL_PUBLISH_JWT: return "jwt";
    case TSL_PUBLISH_CWT: return "cwt";
    default: return "jwt,cwt";
    }
}

/* ---------------------------------------------------------------------------------- */
/* Progress display                                                                    */

#define PROGRESS_INTERVAL_NS 100000000L /* at most ten redraws a second */
#define PROGRESS_BAR 24

static double elapsed(const struct timespec *a, const struct timespec *b)
{
    return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

static bool due(store_cli_progress *p, struct timespec *now)
{
    clock_gettime(CLOCK_MONOTONIC, now);
    long long ns = (long long)(now->tv_sec - p->last_draw.tv_sec) * 1000000000LL +
                   (now->tv_nsec - p->last_draw.tv_nsec);
    return ns >= PROGRESS_INTERVAL_NS;
}

void store_cli_progress_init(store_cli_progress *p, const char *cmd, uint64_t total_bytes)
{
    memset(p, 0, sizeof *p);
    p->on = isatty(2) == 1;
    p->cmd = cmd;
    p->total_bytes = total_bytes;
    clock_gettime(CLOCK_MONOTONIC, &p->t0);
    p->last_draw = p->t0;
}

void store_cli_progress_lines(store_cli_progress *p, uint64_t lines, uint64_t bytes)
{
    /* Look at the clock only every 1024 lines: a million-line input stays cheap. */
    if (!p->on || (lines & 1023) != 0)
        return;
    struct timespec now;
    if (!due(p, &now))
        return;
    p->last_draw = now;
    if (p->total_bytes > 0) {
        uint64_t done = bytes > p->total_bytes ? p->total_bytes : bytes;
        unsigned pct = (unsigned)(done * 100 / p->total_bytes);
        unsigned fill = (unsigned)(done * PROGRESS_BAR / p->total_bytes);
        char bar[PROGRESS_BAR + 1];
        for (unsigned k = 0; k < PROGRESS_BAR; k++)
            bar[k] = k < fill ? '#' : '-';
        bar[PROGRESS_BAR] = '\0';
        fprintf(stderr, "\rtsl %s: reading [%s] %3u%% %llu lines\033[K", p->cmd, bar, pct,
                (unsigned long long)lines);
    } else {
        fprintf(stderr, "\rtsl %s: reading %llu lines\033[K", p->cmd,
                (unsigned long long)lines);
    }
    fflush(stderr);
}

static void *busy_thread(void *arg)
{
    store_cli_progress *p = arg;
    pthread_mutex_lock(&p->mu);
    while (!p->stop) {
        struct timespec now, wake;
        clock_gettime(CLOCK_MONOTONIC, &now);
        fprintf(stderr, "\rtsl %s: %s %.1f s\033[K", p->cmd, p->what,
                elapsed(&p->t0, &now));
        fflush(stderr);
        clock_gettime(CLOCK_REALTIME, &wake); /* the condition variable's clock */
        wake.tv_nsec += PROGRESS_INTERVAL_NS;
        if (wake.tv_nsec >= 1000000000L) {
            wake.tv_sec++;
            wake.tv_nsec -= 1000000000L;
        }
        while (!p->stop && pthread_cond_timedwait(&p->cv, &p->mu, &wake) == 0)
            ;
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

void store_cli_progress_busy(store_cli_progress *p, const char *what)
{
    if (!p->on || p->thread_running)
        return;
    snprintf(p->what, sizeof p->what, "%s", what);
    clock_gettime(CLOCK_MONOTONIC, &p->t0);
    p->stop = false;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    if (pthread_create(&p->thread, NULL, busy_thread, p) == 0) {
        p->thread_running = true;
    } else {
        /* No thread, no display: the work itself goes on. */
        pthread_cond_destroy(&p->cv);
        pthread_mutex_destroy(&p->mu);
    }
}

void store_cli_progress_end(store_cli_progress *p)
{
    if (!p->on)
        return;
    if (p->thread_running) {
        pthread_mutex_lock(&p->mu);
        p->stop = true;
        pthread_cond_signal(&p->cv);
        pthread_mutex_unlock(&p->mu);
        pthread_join(p->thread, NULL);
        pthread_cond_destroy(&p->cv);
        pthread_mutex_destroy(&p->mu);
        p->thread_running = false;
    }
    fputs("\r\033[K", stderr);
    fflush(stderr);
}

int store_cli_batch(const char *cmd, const char *db_opt, const char *id, tsl_store **st,
                    tsl_batch **b)
{
    int rc = store_cli_open(cmd, db_opt, st);
    if (rc != EXIT_OK)
        return rc;
    tsl_list_info info;
    if ((rc = store_cli_info(cmd, *st, id, &info)) != EXIT_OK) {
        tsl_store_close(*st);
        return rc;
    }
    tsl_error err;
    tsl_error_clear(&err);
    tsl_status s = tsl_batch_new(info.bits, info.size, b, &err);
    tsl_list_info_free(&info);
    if (s != TSL_OK) {
        tsl_store_close(*st);
        return cli_fail(cmd, &err, s);
    }
    return EXIT_OK;
}
