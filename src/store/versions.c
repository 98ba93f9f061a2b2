/* versions.c - tsl_version() and tsl_dependencies(): which libtsl is running, and the
 * versions of the libraries it runs with, for `tsl --version` and bug reports. It sits
 * in src/store, the lowest layer that can ask every one of them: SQLite and libpq are
 * the store's, asked through their backends (the only files that include their
 * headers: tests/store.sh and check_layers.sh), OpenSSL through src/crypto (the only place that includes its
 * headers), and zlib, libdeflate, libcbor, jansson and libcurl through their own
 * headers (no layer's internal header is needed for those). */
#include "core/tsl_int.h"
#include "crypto/crypto.h"
#include "store/store_pg.h"
#include "store/store_sqlite.h"

#include <cbor.h>
#include <curl/curl.h>
#include <jansson.h>
#include <libdeflate.h>
#include <pthread.h>
#include <stdio.h>
#include <zlib.h>

#define TSLP_STR2(x) #x
#define TSLP_STR(x) TSLP_STR2(x)

enum { DEP_COUNT = 8 };
static tsl_dependency deps[DEP_COUNT];
/* "MAJOR.MINOR" of libpq (PQlibVersion() is a number). */
static char pq_version[24];
static pthread_once_t deps_once = PTHREAD_ONCE_INIT;

const char *tsl_version(void)
{
    return TSL_VERSION;
}

static void deps_fill(void)
{
    /* libpq 10 and later: MAJOR * 10000 + MINOR. */
    int pq = tslp_pg_libversion();
    snprintf(pq_version, sizeof pq_version, "%d.%d", pq / 10000, pq % 10000);
    const curl_version_info_data *cv = curl_version_info(CURLVERSION_NOW);
    const tsl_dependency d[DEP_COUNT] = {
        {"zlib", zlibVersion(), 0},
        /* No run-time call in libdeflate or libcbor: the headers' versions. */
        {"libdeflate", LIBDEFLATE_VERSION_STRING, 1},
        {"OpenSSL", tslp_crypto_version(), 0},
        {"libcbor",
         TSLP_STR(CBOR_MAJOR_VERSION) "." TSLP_STR(CBOR_MINOR_VERSION) "." TSLP_STR(
             CBOR_PATCH_VERSION),
         1},
        {"jansson", jansson_version_str(), 0},
        {"SQLite", tslp_sqlite_libversion(), 0},
        {"libpq", pq_version, 0},
        {"libcurl", cv != NULL && cv->version != NULL ? cv->version : "unknown", 0},
    };
    for (size_t k = 0; k < DEP_COUNT; k++)
        deps[k] = d[k];
}

const tsl_dependency *tsl_dependencies(size_t *n)
{
    pthread_once(&deps_once, deps_fill);
    if (n != NULL)
        *n = DEP_COUNT;
    return deps;
}
