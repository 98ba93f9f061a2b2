/* rows.c - what the generic store and its backends share about a list's rows: the
 * size of its packed statuses in bytes and in chunks, and freeing what a read handed
 * out (a list's info, the list ids, audit rows). Below store.c and every backend, so
 * that a backend never calls up into the generic store. */
#include "store/store_int.h"

#include <stdint.h>
#include <string.h>

uint64_t tslp_store_nbytes(unsigned bits, uint64_t size)
{
    /* size <= TSL_STORE_MAX_SIZE (2^36) and bits <= 8: no overflow. */
    return (size * bits + 7) / 8;
}

uint64_t tslp_store_nchunks(unsigned bits, uint64_t size)
{
    return (tslp_store_nbytes(bits, size) + TSLP_CHUNK_BYTES - 1) / TSLP_CHUNK_BYTES;
}

/* The strings of a tsl_list_info are const for callers passing settings in; the ones
 * the store hands out are its own allocations. */
static void free_const(const char *s)
{
    tslp_free((void *)(uintptr_t)s);
}

void tsl_list_info_free(tsl_list_info *info)
{
    if (info == NULL)
        return;
    free_const(info->id);
    free_const(info->uri);
    free_const(info->key_path);
    free_const(info->kid);
    free_const(info->x5c_path);
    free_const(info->aggregation_uri);
    memset(info, 0, sizeof *info);
}

void tsl_store_ids_free(char **ids, size_t n)
{
    if (ids == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        tslp_free(ids[i]);
    tslp_free(ids);
}

void tsl_audit_rows_free(tsl_audit_row *rows, size_t n)
{
    if (rows == NULL)
        return;
    for (size_t k = 0; k < n; k++)
        tslp_free(rows[k].source);
    tslp_free(rows);
}
