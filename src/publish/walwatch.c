/* walwatch.c - a polling publisher woken by the writes to an SQLite store
 * (tslp_walwatch): a thread watches the store's -wal file with inotify for writes to it
 * and closes of it and calls back (the runner starts a round at once). A store on
 * PostgreSQL pushes its changes itself (LISTEN/NOTIFY, publisher.c); an SQLite store is
 * polled every publish interval, so a change waited half an interval on average (25 ms at
 * --publish-interval 0.05) before the round that signs it. The interval still bounds the
 * wait: an event missed (a write whose commit becomes visible only after the round it woke
 * has read, a file system without inotify, a watch that cannot be set) leaves the round to
 * the timer.
 *
 * Every commit to a store in WAL mode writes its pages to the -wal file (IN_MODIFY),
 * and a `tsl` command that wrote closes it when it exits (IN_CLOSE_WRITE), after its
 * commit is visible. The publisher's own writes wake it too: one more round, which
 * finds nothing changed (a few list reads). Wake-ups are spaced by at least gap_ms, so a
 * long write (a bulk update) does not run rounds back to back.
 *
 * The file is watched, not its directory: other files there (an access log, a trace
 * written by strace) would wake the thread for nothing, and a tracer writing each of its
 * reads into the directory would keep it busy for ever. The -wal file exists while any
 * connection has the store open, and the publisher keeps one open; when it does not
 * exist at start (no watch) or goes away (IN_IGNORED), the timer alone decides. */
#include "publish/publish_int.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

/* The longest store path watched (its -wal file's). */
#define WATCH_PATH_MAX 4096

struct tslp_walwatch {
    pthread_t thread;
    int fd;         /* inotify */
    int stop_pipe[2];
    int64_t gap_ms;
    void (*fn)(void *ctx);
    void *ctx;
};

/* Reads the events queued: 1 a write or close, 0 none, -1 the watch is gone (the file
 * was deleted or its file system unmounted). */
static int drain(tslp_walwatch *w)
{
    int hit = 0;
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    for (;;) {
        ssize_t n = read(w->fd, buf, sizeof buf);
        if (n <= 0)
            return hit; /* EAGAIN: nothing more (the fd is non-blocking) */
        for (char *q = buf; q + sizeof(struct inotify_event) <= buf + n;) {
            const struct inotify_event *ev = (const struct inotify_event *)(void *)q;
            if (ev->mask & IN_IGNORED)
                return -1;
            if (ev->mask & (IN_MODIFY | IN_CLOSE_WRITE))
                hit = 1;
            q += sizeof(struct inotify_event) + ev->len;
        }
    }
}

static void *walwatch_main(void *arg)
{
    tslp_walwatch *w = arg;
    struct pollfd pf[2] = {{w->fd, POLLIN, 0}, {w->stop_pipe[0], POLLIN, 0}};
    for (;;) {
        if (poll(pf, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            return NULL; /* the timer rounds go on */
        }
        if (pf[1].revents != 0)
            return NULL;
        int d = drain(w);
        if (d < 0)
            return NULL; /* no more watch: the timer rounds go on */
        if (d == 0)
            continue;
        w->fn(w->ctx);
        /* Events during the gap wake the next round when it ends; a stop ends it. */
        if (poll(&pf[1], 1, (int)w->gap_ms) > 0)
            return NULL;
    }
}

tslp_walwatch *tslp_walwatch_start(const char *path, int64_t gap_ms, void (*fn)(void *ctx),
                                   void *ctx)
{
    if (path == NULL || fn == NULL)
        return NULL;
    char wal[WATCH_PATH_MAX];
    int n = snprintf(wal, sizeof wal, "%s-wal", path);
    if (n < 0 || (size_t)n >= sizeof wal)
        return NULL;
    tslp_walwatch *w = tslp_calloc(1, sizeof *w);
    if (w == NULL)
        return NULL;
    w->gap_ms = gap_ms > 0 ? gap_ms : 1;
    w->fn = fn;
    w->ctx = ctx;
    w->stop_pipe[0] = w->stop_pipe[1] = -1;
    w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (w->fd < 0 ||
        inotify_add_watch(w->fd, wal, IN_MODIFY | IN_CLOSE_WRITE) < 0 ||
        pipe2(w->stop_pipe, O_CLOEXEC) != 0 ||
        pthread_create(&w->thread, NULL, walwatch_main, w) != 0) {
        if (w->fd >= 0)
            close(w->fd);
        for (int k = 0; k < 2; k++)
            if (w->stop_pipe[k] >= 0)
                close(w->stop_pipe[k]);
        tslp_free(w);
        return NULL;
    }
    return w;
}

void tslp_walwatch_stop(tslp_walwatch *w)
{
    if (w == NULL)
        return;
    ssize_t n;
    do
        n = write(w->stop_pipe[1], "x", 1);
    while (n < 0 && errno == EINTR);
    pthread_join(w->thread, NULL);
    close(w->fd);
    close(w->stop_pipe[0]);
    close(w->stop_pipe[1]);
    tslp_free(w);
}
