/* readers.c - the issuer API's pool of store handles for the request threads: a
 * tsl_store handle serves one thread at a time, and libmicrohttpd answers from several
 * at once, so each request takes a free handle for as long as it reads (or publishes)
 * and gives it back. Writes that change statuses or allocate do not come here: they go
 * to the committer's own handle (commit.c). */
#include "admin/admin_int.h"

tsl_status tslp_readers_open(tslp_readers *p, const char *db_path, tsl_error *err)
{
    tsl_status r = TSL_OK;
    for (size_t k = 0; k < TSLP_ADMIN_READERS; k++) {
        pthread_mutex_init(&p->r[k].mu, NULL);
        p->r[k].st = NULL;
    }
    atomic_init(&p->next, 0);
    p->ready = true;
    for (size_t k = 0; r == TSL_OK && k < TSLP_ADMIN_READERS; k++)
        r = tsl_store_open_mode(db_path, 0, &p->r[k].st, err);
    return r;
}

void tslp_readers_close(tslp_readers *p)
{
    if (!p->ready) /* the admin failed to open before its readers */
        return;
    p->ready = false;
    for (size_t k = 0; k < TSLP_ADMIN_READERS; k++) {
        tsl_store_close(p->r[k].st);
        p->r[k].st = NULL;
        pthread_mutex_destroy(&p->r[k].mu);
    }
}

/* Round robin from a moving start, so that waiting requests spread over the handles;
 * when every handle is taken, wait for the one the start points at. */
tslp_reader *tslp_reader_get(tsl_admin *a)
{
    tslp_readers *p = &a->readers;
    unsigned first = atomic_fetch_add(&p->next, 1);
    for (unsigned k = 0; k < TSLP_ADMIN_READERS; k++) {
        tslp_reader *rd = &p->r[(first + k) % TSLP_ADMIN_READERS];
        if (pthread_mutex_trylock(&rd->mu) == 0)
            return rd;
    }
    tslp_reader *rd = &p->r[first % TSLP_ADMIN_READERS];
    pthread_mutex_lock(&rd->mu);
    return rd;
}

void tslp_reader_put(tslp_reader *rd)
{
    pthread_mutex_unlock(&rd->mu);
}
