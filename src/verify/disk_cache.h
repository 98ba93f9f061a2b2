/* disk_cache.h - the relying party's disk cache of fetched tokens (disk_cache.c): one
 * file per request key in a directory only its owner can write, holding the fetch time
 * and the raw token. Shared by the Status List Token check (verify.c) and the
 * identifier list check (idlist_check.c), which parse and verify a loaded token again
 * before using it. Never installed. */
#ifndef TSL_VERIFY_DISK_CACHE_H
#define TSL_VERIFY_DISK_CACHE_H
#include "core/tsl_int.h"

/* Opens the cache directory dir (creating it 0700 if missing) and checks that only its
 * owner can put entries in it; *out is the descriptor every access then goes through. */
tsl_status tslp_disk_open(const char *dir, int *out, tsl_error *err);

/* The entry of key in the directory dirfd: the raw token (tslp_free) of *len bytes,
 * at most max, and the unix time it was fetched, or NULL when there is none usable (a
 * missing, foreign, oversized or damaged entry is ignored: it is only a cache). */
uint8_t *tslp_disk_load(int dirfd, const char *key, size_t max, size_t *len,
                        int64_t *fetched);

/* Stores raw[0..len), fetched at `fetched`, as key's entry: best effort (a failure is
 * ignored), written to a temporary file and renamed over the entry, so a reader sees
 * the old entry or the new one, never a mix. */
void tslp_disk_store(int dirfd, const char *key, const uint8_t *raw, size_t len,
                     int64_t fetched);
#endif
