/* entry.c - one served list's entry (tslp_entry, publish_int.h): its last reference
 * frees it, and its JWT's gzip variant is attached to it once. Apart from publisher.c,
 * which makes entries, and gzipper.c, whose thread gzips them, since both use these. */
#include "publish/publish_int.h"

void tslp_entry_release(tslp_entry *l)
{
    if (l == NULL || atomic_fetch_sub(&l->refs, 1) != 1)
        return;
    for (int k = 0; k < 2; k++) {
        tsl_free(l->form[k].body);
        tslp_gz *g = atomic_load(&l->form[k].gz);
        if (g != NULL)
            tsl_free(g->data);
        tslp_free(g);
    }
    tslp_free(l->id);
    tslp_free(l->uri);
    tslp_free(l->path);
    tslp_free(l);
}

bool tslp_entry_gzip(tslp_entry *e)
{
    tslp_form *f = &e->form[0];
    if (!f->present || atomic_load(&f->gz) != NULL)
        return false;
    tslp_gz *g = tslp_calloc(1, sizeof *g);
    if (g == NULL)
        return false;
    tsl_error err;
    tsl_error_clear(&err);
    if (tsl_publish_gzip(f->body, f->len, &g->data, &g->len, &err) != TSL_OK) {
        tslp_free(g); /* out of memory: served identity only, as a client may ask */
        return false;
    }
    tsl_publish_etag(g->data, g->len, g->etag);
    tslp_gz *none = NULL;
    if (!atomic_compare_exchange_strong(&f->gz, &none, g)) {
        tsl_free(g->data);
        tslp_free(g);
        return false;
    }
    return true;
}
