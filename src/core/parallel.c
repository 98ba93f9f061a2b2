/* parallel.c - runs one function over an array of independent items on the machine's
 * cores: the compressor's chunks and segments (codec/deflate.c) and the segments a
 * publication re-encodes (store/store_segments.c). */
#include "core/tsl_int.h"

#include <pthread.h>
#include <unistd.h>

/* Work is handed out by a shared counter, so that a thread that finishes early takes
 * the next item instead of idling behind a fixed split. */
typedef struct {
    void (*fn)(void *ctx, size_t k, unsigned worker);
    void *ctx;
    size_t n;
    size_t next;
    pthread_mutex_t lock;
} queue;

/* One thread's view: the queue and its worker number. */
typedef struct {
    queue *q;
    unsigned worker;
} seat;

static void *worker(void *arg)
{
    seat *s = arg;
    queue *q = s->q;
    for (;;) {
        pthread_mutex_lock(&q->lock);
        size_t k = q->next++;
        pthread_mutex_unlock(&q->lock);
        if (k >= q->n)
            return NULL;
        q->fn(q->ctx, k, s->worker);
    }
}

void tslp_parallel_run(size_t n, void (*fn)(void *ctx, size_t k, unsigned worker), void *ctx)
{
    queue q = {fn, ctx, n, 0, PTHREAD_MUTEX_INITIALIZER};
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    size_t want = cpus < 1 ? 1 : (size_t)cpus;
    if (want > TSLP_DEFLATE_MAX_THREADS)
        want = TSLP_DEFLATE_MAX_THREADS;
    if (want > n)
        want = n;
    pthread_t tid[TSLP_DEFLATE_MAX_THREADS];
    seat seats[TSLP_DEFLATE_MAX_THREADS];
    size_t started = 0;
    /* Worker 0 is this thread; the others are numbered as they start, so the numbers in
     * use are always 0 to started. */
    seats[0] = (seat){&q, 0};
    for (size_t k = 1; k < want; k++) {
        seats[started + 1] = (seat){&q, (unsigned)(started + 1)};
        if (pthread_create(&tid[started], NULL, worker, &seats[started + 1]) == 0)
            started++;
    }
    worker(&seats[0]); /* this thread works too, and alone if none could start */
    for (size_t k = 0; k < started; k++)
        pthread_join(tid[k], NULL);
}
