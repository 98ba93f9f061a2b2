/* gzipper.c - the gzip variants of served JWTs, made off the publisher's path
 * (tslp_gzipper): a thread of its own gzips the JWT of each entry handed to it and
 * attaches the result to that entry. So a new token is served (identity) as soon as it
 * is loaded and never waits for the gzip of a large one (a 10^8-entry list's JWT is
 * 2.4 MB, about 25 ms of CPU), and the next round of the publisher is not delayed by
 * it. (The thread keeps the default priority: setpriority() is outside the system
 * calls systemd/tsl.service allows.)
 *
 * Why this is safe for clients: a gzip variant is attached once, to the entry whose
 * body it encodes (the same token, so the same version), and never to another one; an
 * entry is only ever replaced by a newer one. A client that was served a token, in
 * either coding, is never served an older one afterwards, in either coding. Each coding
 * has its own strong ETag (RFC 9110 8.8.3: a content-coding is a different
 * representation), and answers carry Vary: Accept-Encoding, so a cache never answers an
 * If-None-Match of one coding with the other.
 *
 * Entries replaced before their turn (only the queue still holds them) are skipped, and
 * a list has at most one entry queued (a newer one takes the older one's place), so a
 * list that changes fast costs one gzip when it settles, not one per change. */
#include "publish/publish_int.h"

#include <pthread.h>
#include <string.h>

struct tslp_gzipper {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;         /* under mu */
    tslp_entry **q;    /* entries waiting, each with a reference (under mu) */
    size_t n, cap;
};

static void *gzipper_main(void *arg)
{
    tslp_gzipper *z = arg;
    pthread_mutex_lock(&z->mu);
    while (!z->stop) {
        if (z->n == 0) {
            pthread_cond_wait(&z->cv, &z->mu);
            continue;
        }
        tslp_entry *e = z->q[0];
        memmove(z->q, z->q + 1, (z->n - 1) * sizeof *z->q);
        z->n--;
        pthread_mutex_unlock(&z->mu);
        /* Still served (someone besides the queue holds it): gzip it. */
        if (atomic_load(&e->refs) > 1)
            tslp_entry_gzip(e);
        tslp_entry_release(e);
        pthread_mutex_lock(&z->mu);
    }
    pthread_mutex_unlock(&z->mu);
    return NULL;
}

tslp_gzipper *tslp_gzipper_start(void)
{
    tslp_gzipper *z = tslp_calloc(1, sizeof *z);
    if (z == NULL)
        return NULL;
    pthread_mutex_init(&z->mu, NULL);
    pthread_cond_init(&z->cv, NULL);
    if (pthread_create(&z->thread, NULL, gzipper_main, z) != 0) {
        pthread_cond_destroy(&z->cv);
        pthread_mutex_destroy(&z->mu);
        tslp_free(z);
        return NULL;
    }
    return z;
}

void tslp_gzipper_add(tslp_gzipper *z, tslp_entry *e)
{
    if (e == NULL || !e->form[0].present || atomic_load(&e->form[0].gz) != NULL)
        return;
    if (z == NULL) { /* no thread (out of memory at open): gzip here */
        tslp_entry_gzip(e);
        return;
    }
    atomic_fetch_add(&e->refs, 1);
    tslp_entry *old = NULL;
    pthread_mutex_lock(&z->mu);
    size_t k = 0;
    while (k < z->n && strcmp(z->q[k]->id, e->id) != 0)
        k++;
    if (k < z->n) { /* the list's older entry waits: this one takes its place */
        old = z->q[k];
        z->q[k] = e;
    } else if (TSLP_ELEMS_RESERVE(z->q, z->n, z->cap, 1, TSLP_STORE_MAX_LISTS,
                                  "gzip queue", NULL) == TSL_OK) {
        z->q[z->n++] = e;
    } else {
        old = e; /* out of memory: served identity only */
    }
    pthread_cond_signal(&z->cv);
    pthread_mutex_unlock(&z->mu);
    tslp_entry_release(old);
}

void tslp_gzipper_stop(tslp_gzipper *z)
{
    if (z == NULL)
        return;
    pthread_mutex_lock(&z->mu);
    z->stop = true;
    pthread_cond_signal(&z->cv);
    pthread_mutex_unlock(&z->mu);
    pthread_join(z->thread, NULL);
    for (size_t k = 0; k < z->n; k++)
        tslp_entry_release(z->q[k]);
    tslp_free(z->q);
    pthread_cond_destroy(&z->cv);
    pthread_mutex_destroy(&z->mu);
    tslp_free(z);
}
