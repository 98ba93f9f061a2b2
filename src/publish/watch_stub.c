/* watch_stub.c - TEMPORARY, until the store seam's change feed lands (src/store, the
 * pgstore branch): weak definitions of tslp_store_can_watch / tslp_store_watch /
 * tslp_store_wait that say "this store pushes nothing", so the publisher builds and
 * keeps polling. A strong definition in src/store replaces them at link time; this file
 * is deleted when that branch is merged. */
#include "publish/publish_int.h"

__attribute__((weak)) bool tslp_store_can_watch(const tsl_store *st)
{
    (void)st;
    return false;
}

__attribute__((weak)) tsl_status tslp_store_watch(tsl_store *st, tsl_error *err)
{
    (void)st;
    return tslp_fail(err, TSL_ERR_UNSUPPORTED, 0, "this store pushes no changes");
}

__attribute__((weak)) tsl_status tslp_store_wait(tsl_store *st, int timeout_ms,
                                                 void (*fn)(void *ctx, const char *id),
                                                 void *ctx, tsl_error *err)
{
    (void)st, (void)timeout_ms, (void)fn, (void)ctx;
    return tslp_fail(err, TSL_ERR_UNSUPPORTED, 0, "this store pushes no changes");
}
