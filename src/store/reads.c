/* reads.c - the issuer API's small reads: a few statuses of a list, reading only the
 * chunks they are in (a list of 10^8 entries is not loaded to answer one index), and
 * the audit trail by pages, newest first. */
#include "crypto/crypto.h"
#include "store/backend.h"

#include <string.h>

/* The most audit rows one page holds. */
#define AUDIT_PAGE_MAX 1000

/* Entry k of packed data (least significant bits first, as batch_int.h says). */
static unsigned packed_get(const uint8_t *data, unsigned bits, uint64_t k)
{
    uint64_t bit = k * bits;
    return (unsigned)(data[bit / 8] >> (bit % 8)) & ((1u << bits) - 1);
}

/* The statuses, inside the read transaction, with the list's row read. */
static tsl_status statuses_locked(tsl_store *st, const tsl_list_info *in, const uint64_t *idx,
                                  size_t n, unsigned *values, tsl_error *err)
{
    for (size_t k = 0; k < n; k++)
        if (idx[k] >= in->size)
            return tslp_fail(err, TSL_ERR_INDEX, 0,
                             "index %llu is out of range (list \"%s\" has %llu)",
                             (unsigned long long)idx[k], in->id,
                             (unsigned long long)in->size);
    uint64_t nbytes = tslp_store_nbytes(in->bits, in->size);
    uint64_t nchunks = tslp_store_nchunks(in->bits, in->size);
    uint64_t per_chunk = (uint64_t)TSLP_CHUNK_BYTES * 8 / in->bits;
    /* One loaded chunk at a time, reused while the indices stay in it; a chunk is read
     * again only when the indices come back to it (they are few: the caller bounds
     * them). */
    uint8_t *buf = tslp_malloc(TSLP_CHUNK_BYTES);
    if (buf == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "list \"%s\": out of memory", in->id);
    uint64_t have = UINT64_MAX;
    tsl_status r = TSL_OK;
    for (size_t k = 0; r == TSL_OK && k < n; k++) {
        uint64_t c = idx[k] / per_chunk;
        if (c != have) {
            size_t len = c + 1 < nchunks ? TSLP_CHUNK_BYTES
                                         : (size_t)(nbytes - c * TSLP_CHUNK_BYTES);
            int64_t ref = 0;
            if ((r = st->be->chunk_read(st, in->id, c, buf, len, &ref, err)) != TSL_OK)
                break;
            have = c;
        }
        values[k] = packed_get(buf, in->bits, idx[k] - c * per_chunk);
    }
    tslp_free(buf);
    return r;
}

tsl_status tsl_store_statuses(tsl_store *st, const char *id, const uint64_t *idx, size_t n,
                              unsigned *values, uint64_t *version, tsl_error *err)
{
    if (st == NULL || id == NULL || ((idx == NULL || values == NULL) && n > 0))
        return tslp_fail(err, TSL_ERR_ARG, 0, "store: NULL argument");
    /* One snapshot: the statuses and the version agree. */
    tsl_status r = tslp_store_begin(st, false, err);
    if (r != TSL_OK)
        return r;
    tslp_list_row row;
    if ((r = tslp_store_read_row(st, id, &row, err)) == TSL_OK) {
        tslp_cleanse(row.perm_key, sizeof row.perm_key);
        r = statuses_locked(st, &row.info, idx, n, values, err);
        if (r == TSL_OK && version != NULL)
            *version = row.info.version;
        tsl_list_info_free(&row.info);
    }
    tslp_store_rollback(st);
    return r;
}

tsl_status tsl_store_audit(tsl_store *st, const char *id, uint64_t before, size_t limit,
                           tsl_audit_row **out, size_t *n, tsl_error *err)
{
    if (st == NULL || id == NULL || out == NULL || n == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "store: NULL argument");
    *out = NULL;
    *n = 0;
    if (limit < 1 || limit > AUDIT_PAGE_MAX)
        return tslp_fail(err, TSL_ERR_ARG, 0, "audit: limit %zu is not in 1..%d", limit,
                         AUDIT_PAGE_MAX);
    if (before > INT64_MAX)
        before = 0; /* no row has such a seq: as from the newest */
    tsl_status r = tslp_store_begin(st, false, err);
    if (r != TSL_OK)
        return r;
    tslp_list_row row;
    if ((r = tslp_store_read_row(st, id, &row, err)) == TSL_OK) {
        tslp_cleanse(row.perm_key, sizeof row.perm_key);
        tsl_list_info_free(&row.info);
        r = st->be->audit_page(st, id, before, limit, out, n, err);
    }
    tslp_store_rollback(st);
    return r;
}
