/* progress.c - progress of a long run on a terminal (tsl_progress_*): a count of input
 * lines with a bar when the input's size is known, then the elapsed time of one long
 * call that reports nothing, drawn by a helper thread. Shown only on a terminal (or when
 * forced) and redrawn at most ten times a second, so a million-line input stays cheap
 * and a redirected log gets no control sequences. `tsl update` uses it. */
#include "core/tsl_int.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PROGRESS_INTERVAL_NS 100000000L /* at most ten redraws a second */
#define PROGRESS_BAR 24

struct tsl_progress {
    int fd;
    bool on;              /* a terminal, or forced */
    char prefix[64];      /* "tsl update" */
    struct timespec t0;   /* start of the current phase */
    struct timespec last_draw;
    uint64_t total_bytes; /* 0: unknown */
    /* The busy phase. */
    bool thread_running;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
    char what[96];
};

static double elapsed(const struct timespec *a, const struct timespec *b)
{
    return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

static bool due(tsl_progress *p, struct timespec *now)
{
    clock_gettime(CLOCK_MONOTONIC, now);
    long long ns = (long long)(now->tv_sec - p->last_draw.tv_sec) * 1000000000LL +
                   (now->tv_nsec - p->last_draw.tv_nsec);
    return ns >= PROGRESS_INTERVAL_NS;
}

/* One redraw in one write, so that it does not mix with other output mid-line. */
static void draw(tsl_progress *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void draw(tsl_progress *p, const char *fmt, ...)
{
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    size_t len = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
    ssize_t w = write(p->fd, line, len);
    (void)w; /* a display that cannot be written is not an error of the work */
}

tsl_status tsl_progress_new(int fd, const char *prefix, uint64_t total_bytes, unsigned flags,
                            tsl_progress **out, tsl_error *err)
{
    if (prefix == NULL || out == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "progress: NULL argument");
    tsl_progress *p = tslp_calloc(1, sizeof *p);
    if (p == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "progress: out of memory");
    p->fd = fd;
    p->on = (flags & TSL_PROGRESS_FORCE) || isatty(fd) == 1;
    snprintf(p->prefix, sizeof p->prefix, "%s", prefix);
    p->total_bytes = total_bytes;
    clock_gettime(CLOCK_MONOTONIC, &p->t0);
    p->last_draw = p->t0;
    *out = p;
    return TSL_OK;
}

void tsl_progress_lines(tsl_progress *p, uint64_t lines, uint64_t bytes)
{
    /* Look at the clock only every 1024 lines: a million-line input stays cheap. */
    if (p == NULL || !p->on || (lines & 1023) != 0)
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
        draw(p, "\r%s: reading [%s] %3u%% %llu lines\033[K", p->prefix, bar, pct,
             (unsigned long long)lines);
    } else {
        draw(p, "\r%s: reading %llu lines\033[K", p->prefix, (unsigned long long)lines);
    }
}

static void *busy_thread(void *arg)
{
    tsl_progress *p = arg;
    pthread_mutex_lock(&p->mu);
    while (!p->stop) {
        struct timespec now, wake;
        clock_gettime(CLOCK_MONOTONIC, &now);
        draw(p, "\r%s: %s %.1f s\033[K", p->prefix, p->what, elapsed(&p->t0, &now));
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

void tsl_progress_busy(tsl_progress *p, const char *what)
{
    if (p == NULL || what == NULL || !p->on || p->thread_running)
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

void tsl_progress_end(tsl_progress *p)
{
    if (p == NULL || !p->on)
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
    draw(p, "%s", "\r\033[K");
}

void tsl_progress_free(tsl_progress *p)
{
    if (p == NULL)
        return;
    if (p->thread_running)
        tsl_progress_end(p);
    tslp_free(p);
}
