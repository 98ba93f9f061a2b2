/* counts.c - how many entries of a stored list hold each status, kept in the store so
 * that `tsl list show` and the issuer API's list info read 256 numbers instead of the
 * whole list (12.5 MB at 10^8 one-bit entries). Only non-zero values are stored; the
 * count of 0 is the size minus their sum. Every write of statuses adds its difference
 * in the same transaction as the write: a batch (store_update.c, which the issuer API's
 * ops share), a new list's decoys and a copied list (tslp_store_write_new); a
 * store made before the counts gets them computed once when it is migrated
 * (tslp_store_counts_backfill). Those two and the counting of bytes are in
 * count_bytes.c, below store.c and the backends that call them. Allocation changes
 * no status. A store opened read-only whose schema predates the counts is counted by
 * loading the list, as before. */
#include "store/backend.h"

#include <string.h>

/* The counts inside a read transaction, with the list's row read. */
static tsl_status counts_locked(tsl_store *st, const tsl_list_info *in,
                                uint64_t counts[256], tsl_error *err)
{
    memset(counts, 0, 256 * sizeof counts[0]);
    if (!st->has_counts) {
        /* A store not yet migrated, opened read-only: count the list itself. */
        tsl_list *l = NULL;
        tsl_status r = st->be->chunks_load(st, in, &l, err);
        if (r == TSL_OK)
            tsl_list_count(l, counts);
        tsl_list_free(l);
        return r;
    }
    int64_t c[256];
    memset(c, 0, sizeof c);
    tsl_status r = st->be->counts_read(st, in->id, c, err);
    if (r != TSL_OK)
        return r;
    uint64_t set = 0;
    for (unsigned v = 1; v < 256; v++) {
        if (c[v] < 0 || ((v >> in->bits) != 0 && c[v] != 0))
            return tslp_fail(err, TSL_ERR_IO, 0,
                             "store %s: list \"%s\": stored count of status %u is %lld",
                             st->path, in->id, v, (long long)c[v]);
        counts[v] = (uint64_t)c[v];
        set += counts[v];
    }
    if (set > in->size)
        return tslp_fail(err, TSL_ERR_IO, 0,
                         "store %s: list \"%s\": stored counts sum to %llu, over its size",
                         st->path, in->id, (unsigned long long)set);
    counts[0] = in->size - set;
    return TSL_OK;
}

tsl_status tsl_store_counts(tsl_store *st, const char *id, uint64_t counts[256],
                            uint64_t *version, tsl_error *err)
{
    if (st == NULL || id == NULL || counts == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "store: NULL argument");
    /* One snapshot: the counts and the version agree. */
    tsl_status r = tslp_store_begin(st, false, err);
    if (r != TSL_OK)
        return r;
    tslp_list_row row;
    if ((r = tslp_store_read_row(st, id, &row, err)) == TSL_OK) {
        tslp_wipe(row.perm_key, sizeof row.perm_key);
        r = counts_locked(st, &row.info, counts, err);
        if (r == TSL_OK && version != NULL)
            *version = row.info.version;
        tsl_list_info_free(&row.info);
    }
    tslp_store_rollback(st);
    return r;
}
