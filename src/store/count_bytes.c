/* count_bytes.c - the status counts' writes: counting the statuses in packed bytes, a
 * new list's statuses written with their counts, and the one-time count of every
 * stored list when a store's schema gains the status counts. Below the generic store
 * (store.c, copy.c and store_update.c call these) and the backends (whose migrations
 * call tslp_store_counts_backfill); counts.c reads the counts. */
#include "store/backend.h"

#include <string.h>

void tslp_counts_add_bytes(int64_t counts[256], unsigned bits, const uint8_t *data,
                           size_t n, int sign)
{
    /* A histogram of the bytes, then each byte value's entries: O(n) plus 256 * 8
     * steps, however the entries are packed. */
    uint64_t hist[256];
    memset(hist, 0, sizeof hist);
    for (size_t k = 0; k < n; k++)
        hist[data[k]]++;
    unsigned per = 8 / bits, mask = (1u << bits) - 1;
    for (unsigned b = 1; b < 256; b++) {
        if (hist[b] == 0)
            continue;
        for (unsigned j = 0; j < per; j++) {
            unsigned v = (b >> (j * bits)) & mask;
            if (v != 0)
                counts[v] += sign * (int64_t)hist[b];
        }
    }
}

tsl_status tslp_store_counts_backfill(tsl_store *st, tsl_error *err)
{
    char **ids = NULL;
    size_t n = 0;
    tsl_status r = st->be->list_ids(st, &ids, &n, err);
    for (size_t k = 0; r == TSL_OK && k < n; k++) {
        tslp_list_row row;
        if ((r = st->be->list_read(st, ids[k], &row, err)) != TSL_OK)
            break;
        tslp_wipe(row.perm_key, sizeof row.perm_key);
        /* One list at a time in memory, as a full publish holds it. */
        tsl_list *l = NULL;
        if ((r = st->be->chunks_load(st, &row.info, &l, err)) == TSL_OK) {
            size_t nb = 0;
            const uint8_t *data = tsl_list_bytes(l, &nb);
            int64_t counts[256];
            memset(counts, 0, sizeof counts);
            tslp_counts_add_bytes(counts, row.info.bits, data, nb, 1);
            r = st->be->counts_add(st, ids[k], counts, err);
        }
        tsl_list_free(l);
        tsl_list_info_free(&row.info);
    }
    tsl_store_ids_free(ids, n);
    return r;
}

tsl_status tslp_store_write_new(tsl_store *st, const char *id, const tsl_list *l,
                                tsl_error *err)
{
    tsl_status r = st->be->chunks_write_new(st, id, l, err);
    if (r != TSL_OK)
        return r;
    size_t n = 0;
    const uint8_t *data = tsl_list_bytes(l, &n);
    int64_t counts[256];
    memset(counts, 0, sizeof counts);
    tslp_counts_add_bytes(counts, tsl_list_bits(l), data, n, 1);
    return st->be->counts_add(st, id, counts, err);
}
