/* zview.c - a list's zlib stream for a writer that only reads it: the stream
 * tsl_list_precompress() kept, borrowed, when it is at the level asked for, so that
 * signing a precompressed list (the publisher's case) neither compresses nor copies
 * the list again; otherwise a fresh tsl_list_compress(). */
#include "core/tsl_int.h"

tsl_status tslp_list_zview(const tsl_list *l, int level, const uint8_t **z, size_t *zlen,
                           uint8_t **owned, tsl_error *err)
{
    *owned = NULL;
    /* The same resolution of level 0 as tsl_list_compress(). */
    int want = level == 0 ? TSL_LEVEL_DEFAULT : level;
    if (l->zcache != NULL && l->zcache_level == want) {
        *z = l->zcache;
        *zlen = l->zcache_len;
        return TSL_OK;
    }
    tsl_status st = tsl_list_compress(l, level, owned, zlen, err);
    *z = *owned;
    return st;
}
