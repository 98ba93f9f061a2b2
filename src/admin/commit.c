/* commit.c - group commit: one thread owns the issuer API's write handle and commits
 * every op queued meanwhile (allocations, status changes) in one tsl_store_apply(): one
 * transaction and one fsync for all of them, each op in its own savepoint. A request
 * thread queues its op and sleeps on the op's condition until the transaction that holds
 * it has committed (or failed), so an answer is never sent before its change is
 * durable. While one group commits the next one gathers: the more requests wait, the
 * larger the groups, and the fsyncs per second stay what the disk allows. The queue is
 * bounded (TSLP_ADMIN_QUEUE_MAX): past it a request is refused at once.
 *
 * Why the committer waits a little before a commit: with k clients each sending its
 * next request when the last is answered, the ops queued during one commit are only
 * those of the clients not in it, so groups settle at about k/2 (two alternating
 * halves) and the rate at k/2 per commit. The clients just answered come back within a
 * round trip, far less than a commit takes. So the committer expects as many ops as
 * were in flight when the last commit ended (its group plus those queued then), and
 * waits for them at most half the last commit's time (and GATHER_MAX_NS): k per commit
 * for the cost of a round trip. A lone client is never delayed (it expects 1), and a
 * client that went away costs one short wait, after which the expectation drops. */
#include "admin/admin_int.h"

#include <errno.h>
#include <string.h>
#include <time.h>

/* The longest the committer waits for the ops it expects before committing. */
#define GATHER_MAX_NS 2000000L

typedef struct waiter {
    tsl_store_op *op;
    bool done;
    pthread_cond_t cv;
    struct waiter *next;
} waiter;

struct tslp_committer {
    tsl_store *st;      /* the write handle: this thread's alone */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t work; /* signalled when an op is queued or on stop */
    waiter *head, *tail; /* the queue, under mu */
    size_t queued;
    bool stop;
    size_t expect;       /* ops in flight when the last commit ended, under mu */
    long last_commit_ns; /* how long it took, under mu */
    atomic_ullong commits, ops, refused;
};

static long elapsed_ns(const struct timespec *a, const struct timespec *b)
{
    return (long)(b->tv_sec - a->tv_sec) * 1000000000L + (b->tv_nsec - a->tv_nsec);
}

/* Under mu, with an op queued: waits until `expect` ops are queued, stop, or half the
 * last commit's time has passed (see the top of the file). */
static void gather(tslp_committer *c)
{
    if (c->queued >= c->expect || c->last_commit_ns <= 0)
        return;
    long wait = c->last_commit_ns / 2 < GATHER_MAX_NS ? c->last_commit_ns / 2 : GATHER_MAX_NS;
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_nsec += wait;
    until.tv_sec += until.tv_nsec / 1000000000L;
    until.tv_nsec %= 1000000000L;
    while (c->queued < c->expect && !c->stop)
        if (pthread_cond_timedwait(&c->work, &c->mu, &until) == ETIMEDOUT)
            break;
}

static void *committer_main(void *arg)
{
    tslp_committer *c = arg;
    waiter *group[TSLP_ADMIN_GROUP_MAX];
    tsl_store_op *ops = tslp_calloc(TSLP_ADMIN_GROUP_MAX, sizeof *ops);
    pthread_mutex_lock(&c->mu);
    for (;;) {
        while (c->head == NULL && !c->stop)
            pthread_cond_wait(&c->work, &c->mu);
        if (c->head == NULL) /* stopping, and nothing left */
            break;
        gather(c);
        size_t n = 0;
        while (c->head != NULL && n < TSLP_ADMIN_GROUP_MAX && (ops != NULL || n == 0)) {
            group[n++] = c->head;
            c->head = c->head->next;
            c->queued--;
        }
        if (c->head == NULL)
            c->tail = NULL;
        pthread_mutex_unlock(&c->mu);
        /* The ops are copied into one array (tsl_store_apply takes them contiguous) and
         * their results copied back. Without that array, one op at a time. */
        tsl_error err;
        tsl_error_clear(&err);
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        if (ops != NULL) {
            for (size_t k = 0; k < n; k++)
                ops[k] = *group[k]->op;
            tsl_store_apply(c->st, ops, n, 0, &err);
            for (size_t k = 0; k < n; k++)
                *group[k]->op = ops[k];
        } else {
            tsl_store_apply(c->st, group[0]->op, 1, 0, &err);
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        atomic_fetch_add(&c->commits, 1);
        atomic_fetch_add(&c->ops, n);
        pthread_mutex_lock(&c->mu);
        c->last_commit_ns = elapsed_ns(&t0, &t1);
        c->expect = n + c->queued < TSLP_ADMIN_GROUP_MAX ? n + c->queued : TSLP_ADMIN_GROUP_MAX;
        for (size_t k = 0; k < n; k++) {
            group[k]->done = true;
            pthread_cond_signal(&group[k]->cv);
        }
    }
    pthread_mutex_unlock(&c->mu);
    tslp_free(ops);
    return NULL;
}

tsl_status tslp_committer_start(const char *db_path, tslp_committer **out, tsl_error *err)
{
    tslp_committer *c = tslp_calloc(1, sizeof *c);
    if (c == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "issuer API: out of memory");
    tsl_status r = tsl_store_open_mode(db_path, 0, &c->st, err);
    if (r != TSL_OK) {
        tslp_free(c);
        return r;
    }
    pthread_mutex_init(&c->mu, NULL);
    /* gather() waits on it with a monotonic deadline: a clock step must not stretch it. */
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->work, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&c->thread, NULL, committer_main, c) != 0) {
        pthread_cond_destroy(&c->work);
        pthread_mutex_destroy(&c->mu);
        tsl_store_close(c->st);
        tslp_free(c);
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "issuer API: cannot start the committer");
    }
    *out = c;
    return TSL_OK;
}

void tslp_committer_stop(tslp_committer *c)
{
    if (c == NULL)
        return;
    pthread_mutex_lock(&c->mu);
    c->stop = true;
    pthread_cond_signal(&c->work);
    pthread_mutex_unlock(&c->mu);
    pthread_join(c->thread, NULL);
    pthread_cond_destroy(&c->work);
    pthread_mutex_destroy(&c->mu);
    tsl_store_close(c->st);
    tslp_free(c);
}

bool tslp_commit(tslp_committer *c, tsl_store_op *op)
{
    waiter w;
    memset(&w, 0, sizeof w);
    w.op = op;
    pthread_cond_init(&w.cv, NULL);
    pthread_mutex_lock(&c->mu);
    if (c->queued >= TSLP_ADMIN_QUEUE_MAX || c->stop) {
        pthread_mutex_unlock(&c->mu);
        pthread_cond_destroy(&w.cv);
        atomic_fetch_add(&c->refused, 1);
        return false;
    }
    if (c->tail != NULL)
        c->tail->next = &w;
    else
        c->head = &w;
    c->tail = &w;
    c->queued++;
    pthread_cond_signal(&c->work);
    while (!w.done)
        pthread_cond_wait(&w.cv, &c->mu);
    pthread_mutex_unlock(&c->mu);
    pthread_cond_destroy(&w.cv);
    return true;
}

void tslp_committer_counts(tslp_committer *c, uint64_t *commits, uint64_t *ops,
                           uint64_t *queued, uint64_t *refused)
{
    *commits = atomic_load(&c->commits);
    *ops = atomic_load(&c->ops);
    *refused = atomic_load(&c->refused);
    pthread_mutex_lock(&c->mu);
    *queued = c->queued;
    pthread_mutex_unlock(&c->mu);
}
