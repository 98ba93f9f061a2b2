/* store.c - the issuer store above its backend (backend.h): choosing the backend when a
 * store is opened, and the policies that are the same whatever keeps the rows: the
 * settings and key checks of a new list, the rule that no two lists share a path, the
 * decoys, and allocation through the keyed permutation (perm.c). store_update.c
 * applies batches (the INVALID-is-final rule) and store_publish.c signs and keeps
 * tokens. The schema, its migrations, durability and concurrency are the backend's:
 * see store_sqlite.c. */
#include "crypto/crypto.h"
#include "store/backend.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_LIFETIME 86400

/* ---------------------------------------------------------------------------------- */
/* The backend's calls, as store_update.c and store_publish.c make them                 */

tsl_status tslp_store_begin(tsl_store *st, bool write, tsl_error *err)
{
    if (write && st->readonly)
        return tslp_fail(err, TSL_ERR_ARG, 0, "store %s: opened read-only", st->path);
    return st->be->begin(st, write, err);
}

tsl_status tslp_store_commit(tsl_store *st, tsl_error *err)
{
    return st->be->commit(st, err);
}

void tslp_store_rollback(tsl_store *st)
{
    st->be->rollback(st);
}

tsl_status tslp_store_read_row(tsl_store *st, const char *id, tslp_list_row *row,
                               tsl_error *err)
{
    memset(row, 0, sizeof *row);
    return st->be->list_read(st, id, row, err);
}

tsl_status tslp_store_load_chunks(tsl_store *st, const tsl_list_info *info,
                                  tsl_list **out, tsl_error *err)
{
    return st->be->chunks_load(st, info, out, err);
}

tsl_status tslp_store_audit(tsl_store *st, const char *id, int64_t now, uint64_t entries,
                            uint64_t changed, const char *source, const char *kind,
                            tsl_error *err)
{
    return st->be->audit(st, id, now, entries, changed, source, kind, err);
}

bool tslp_store_can_watch(const tsl_store *st)
{
    return st != NULL && st->be->watch != NULL;
}

tsl_status tslp_store_watch(tsl_store *st, tsl_error *err)
{
    if (!tslp_store_can_watch(st))
        return tslp_fail(err, TSL_ERR_UNSUPPORTED, 0,
                         "store: this backend does not push changes; poll it");
    return st->be->watch(st, err);
}

tsl_status tslp_store_wait(tsl_store *st, int timeout_ms,
                           void (*fn)(void *ctx, const char *id), void *ctx,
                           tsl_error *err)
{
    if (!tslp_store_can_watch(st) || fn == NULL)
        return tslp_fail(err, TSL_ERR_UNSUPPORTED, 0,
                         "store: this backend does not push changes; poll it");
    return st->be->wait(st, timeout_ms, fn, ctx, err);
}


static char *dup_str(const char *s, bool *ok)
{
    if (s == NULL)
        return NULL;
    size_t n = strlen(s);
    char *c = tslp_malloc(n + 1);
    if (c == NULL) {
        *ok = false;
        return NULL;
    }
    memcpy(c, s, n + 1);
    return c;
}


/* ---------------------------------------------------------------------------------- */
/* Opening                                                                              */






/* The backend for a path: a postgresql:// or postgres:// URL is a PostgreSQL
 * database (store_pg.c); anything else is the path of an SQLite file. */
static tsl_status pick_backend(const char *path, const struct tslp_store_backend **be,
                               tsl_error *err)
{
    (void)err;
    *be = tslp_pg_is_url(path) ? &tslp_store_pg : &tslp_store_sqlite;
    return TSL_OK;
}

tsl_status tsl_store_open_mode(const char *path, unsigned mode, tsl_store **out,
                               tsl_error *err)
{
    if (path == NULL || path[0] == '\0' || out == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "store: no path");
    bool create = (mode & TSL_STORE_CREATE) != 0, ro = (mode & TSL_STORE_READONLY) != 0;
    if (create && ro)
        return tslp_fail(err, TSL_ERR_ARG, 0, "store %s: create and read-only", path);
    const struct tslp_store_backend *be = NULL;
    tsl_status r = pick_backend(path, &be, err);
    if (r != TSL_OK)
        return r;
    tsl_store *st = tslp_calloc(1, sizeof *st);
    bool ok = true;
    if (st == NULL || (st->path = dup_str(path, &ok)) == NULL) {
        tslp_free(st);
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "store %s: out of memory", path);
    }
    st->readonly = ro;
    st->be = be;
    r = be->open(st, create, err);
    if (r != TSL_OK) {
        tsl_store_close(st);
        return r;
    }
    *out = st;
    return TSL_OK;
}

tsl_status tsl_store_open(const char *path, tsl_store **out, tsl_error *err)
{
    return tsl_store_open_mode(path, TSL_STORE_CREATE, out, err);
}

void tsl_store_close(tsl_store *st)
{
    if (st == NULL)
        return;
    if (st->be != NULL && st->conn != NULL)
        st->be->close(st);
    tslp_free(st->path);
    tslp_free(st);
}

/* ---------------------------------------------------------------------------------- */
/* Lists                                                                                */

tsl_status tsl_store_size_check(unsigned bits, uint64_t size, tsl_error *err)
{
    /* The verifiers with a known cap, largest first (README "Size advice"). */
    static const struct {
        const char *name, *note;
        uint64_t max;
    } peers[] = {{"tsl verify", ", its default max_inflated", TSL_DEFAULT_MAX_INFLATED},
                 {"the OpenID Foundation conformance suite", "", (uint64_t)32 << 20},
                 {"k2gl/token-status-list", "", TSL_INTEROP_MAX_BYTES}};
    if (!tslp_bits_ok(bits) || size > TSL_STORE_MAX_SIZE)
        return tslp_fail(err, TSL_ERR_ARG, 0, "size check: bits %u or size %llu out of range",
                         bits, (unsigned long long)size);
    uint64_t bytes = tslp_store_nbytes(bits, size);
    if (bytes <= TSL_INTEROP_MAX_BYTES)
        return TSL_OK;
    char who[160];
    size_t used = 0;
    who[0] = '\0';
    for (size_t k = 0; k < sizeof peers / sizeof peers[0]; k++)
        if (bytes > peers[k].max && used < sizeof who) {
            int w = snprintf(who + used, sizeof who - used, "%s%s (%llu MiB%s)",
                             used ? ", " : "", peers[k].name,
                             (unsigned long long)(peers[k].max >> 20), peers[k].note);
            used = w < 0 ? used : used + (size_t)w;
        }
    return tslp_fail(err, TSL_ERR_LIMIT, 0,
                     "%llu entries of %u bit%s are %llu bytes (%.1f MiB) uncompressed, more "
                     "than these verifiers accept: %s",
                     (unsigned long long)size, bits, bits > 1 ? "s" : "",
                     (unsigned long long)bytes, (double)bytes / (1 << 20), who);
}

/* The path of a uri into buf (TSL_URI_MAX + 1 bytes), or "" when it has none that
 * tsl_uri_path accepts (such a list, made before the rule, is not served). */
static const char *path_or_empty(const char *uri, char *buf)
{
    if (uri == NULL || tsl_uri_path(uri, buf, TSL_URI_MAX + 1, NULL) != TSL_OK)
        buf[0] = '\0';
    return buf;
}

/* The settings (tsl_list_spec_check, spec.c), then the size for verifiers unless waived. */
static tsl_status check_settings(const tsl_list_spec *in, tsl_error *err)
{
    tsl_status r = tsl_list_spec_check(in, err);
    if (r == TSL_OK && !(in->create_flags & TSL_CREATE_LARGE) &&
        (r = tsl_store_size_check(in->bits, in->size, err)) != TSL_OK) {
        char what[80];
        snprintf(what, sizeof what, "list \"%s\"", in->id);
        tslp_error_prefix(err, what);
    }
    return r;
}

/* Refuses a list whose path is already taken: tsl serve and tsl export serve every list
 * of a store at its path whatever the host, and a second list on a path would take it
 * over (or be dropped). Runs inside the write transaction, so two concurrent creates
 * cannot both take one path. */
typedef struct {
    const char *id;                 /* the new list */
    char mine[TSL_URI_MAX + 1];     /* its uri's path */
    char agg[TSL_URI_MAX + 1];      /* its aggregation_uri's path, or "" */
} path_check;

static tsl_status check_one_path(void *ctx, const char *id, const char *uri,
                                 const char *aggregation_uri, tsl_error *err)
{
    const path_check *pc = ctx;
    char p[TSL_URI_MAX + 1], q[TSL_URI_MAX + 1];
    path_or_empty(uri, p);
    path_or_empty(aggregation_uri, q);
    if (p[0] != '\0' && strcmp(p, pc->mine) == 0)
        return tslp_fail(err, TSL_ERR_EXISTS, 0,
                         "list \"%s\": uri path %s is already the path of list \"%s\"",
                         pc->id, pc->mine, id != NULL ? id : "?");
    if (q[0] != '\0' && strcmp(q, pc->mine) == 0)
        return tslp_fail(err, TSL_ERR_EXISTS, 0,
                         "list \"%s\": uri path %s is the aggregation path of list \"%s\"",
                         pc->id, pc->mine, id != NULL ? id : "?");
    if (p[0] != '\0' && strcmp(p, pc->agg) == 0)
        return tslp_fail(err, TSL_ERR_EXISTS, 0,
                         "list \"%s\": aggregation_uri path %s is the path of list \"%s\"",
                         pc->id, pc->agg, id != NULL ? id : "?");
    return TSL_OK;
}

static tsl_status check_paths(tsl_store *st, const tsl_list_spec *in, tsl_error *err)
{
    path_check pc;
    pc.id = in->id;
    path_or_empty(in->uri, pc.mine);
    path_or_empty(in->aggregation_uri, pc.agg);
    return st->be->list_paths(st, check_one_path, &pc, err);
}

/* Loads the key and the chain now, so that a list is never created with settings it
 * cannot publish with. */
static tsl_status check_key(const tsl_list_spec *in, tsl_error *err)
{
    if (tsl_key_ref_is_pkcs11(in->key_path)) {
        /* A key on a token: opened, found and its alg checked, as a publish will. */
        tsl_signer_opts so;
        memset(&so, 0, sizeof so);
        so.alg = in->alg;
        tsl_signer *sg = NULL;
        tsl_status pr = tsl_signer_load(in->key_path, &so, &sg, NULL, err);
        tsl_signer_free(sg);
        if (pr != TSL_OK)
            tslp_error_prefix(err, "key");
        if (pr == TSL_OK && in->x5c_path != NULL) {
            tsl_cert_chain *chain = NULL;
            pr = tsl_cert_chain_load(in->x5c_path, &chain, err);
            if (pr != TSL_OK)
                tslp_error_prefix(err, "x5c");
            tsl_cert_chain_free(chain);
        }
        return pr;
    }
    tsl_key *key = NULL;
    tsl_status r = tsl_key_load(in->key_path, &key, err);
    if (r != TSL_OK) {
        tslp_error_prefix(err, "key");
        return r;
    }
    if (!tsl_key_is_private(key))
        r = tslp_fail(err, TSL_ERR_KEY, 0, "key %s: a public key cannot sign",
                      in->key_path);
    else
        r = tsl_key_check_alg(key, in->alg != TSL_ALG_UNKNOWN ? in->alg
                                                              : tsl_key_default_alg(key),
                              err);
    tsl_key_free(key);
    if (r == TSL_OK && in->x5c_path != NULL) {
        tsl_cert_chain *chain = NULL;
        r = tsl_cert_chain_load(in->x5c_path, &chain, err);
        if (r != TSL_OK)
            tslp_error_prefix(err, "x5c");
        tsl_cert_chain_free(chain);
    }
    return r;
}

/* Sets the decoys (P(size - decoys) .. P(size - 1)) in a zeroed packed list. */
static tsl_status place_decoys(const tsl_list_spec *in, const uint8_t *perm_key,
                               unsigned value, tsl_list *l, tsl_error *err)
{
    tslp_perm p;
    tsl_status r = tslp_perm_init(&p, perm_key, in->size, err);
    for (uint64_t i = in->size - in->decoys; r == TSL_OK && i < in->size; i++) {
        uint64_t idx;
        if ((r = tslp_perm_at(&p, i, &idx, err)) == TSL_OK)
            r = tsl_list_set(l, idx, value, err);
    }
    tslp_perm_done(&p);
    return r;
}

tsl_status tsl_store_list_create(tsl_store *st, const tsl_list_spec *in, tsl_error *err)
{
    if (st == NULL || in == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "store: NULL argument");
    tsl_status r = check_settings(in, err);
    if (r != TSL_OK || (r = check_key(in, err)) != TSL_OK)
        return r;
    /* The key is kept as an absolute path: later commands may run elsewhere. A pkcs11:
     * URI is kept verbatim (checked above: it holds no PIN). */
    char *key_path = tsl_key_ref_is_pkcs11(in->key_path)
                         ? strdup(in->key_path)
                         : realpath(in->key_path, NULL);
    if (key_path == NULL)
        return tslp_fail(err, TSL_ERR_IO, 0, "key %s: %s", in->key_path, strerror(errno));
    uint8_t perm_key[TSLP_PERM_KEY_BYTES];
    unsigned dv = in->decoy_value ? in->decoy_value : TSL_STATUS_INVALID;
    tsl_list *l = NULL;
    if (tslp_random_bytes(perm_key, sizeof perm_key, NULL) != TSL_OK)
        r = tslp_fail(err, TSL_ERR_CRYPTO, 0, "list \"%s\": the CSPRNG failed", in->id);
    /* Decoys are placed in memory first: one packed copy, the only time a list is
     * held whole here. Without decoys nothing is written (absent chunks are zeros). */
    if (r == TSL_OK && in->decoys > 0 &&
        (r = tsl_list_new(in->bits, in->size, &l, err)) == TSL_OK)
        r = place_decoys(in, perm_key, dv, l, err);
    /* What the backend stores: the spec with its defaults applied, counters at 0, as
     * one row (the same call restores a copied row: one insert in each backend). */
    int64_t now = (int64_t)time(NULL);
    tslp_list_row row;
    memset(&row, 0, sizeof row);
    tsl_list_info *ri = &row.info;
    ri->id = in->id;
    ri->uri = in->uri;
    ri->bits = in->bits;
    ri->size = in->size;
    ri->key_path = key_path;
    ri->alg = in->alg;
    ri->kid = in->kid;
    ri->x5c_path = in->x5c_path;
    ri->lifetime = in->lifetime ? in->lifetime : DEFAULT_LIFETIME;
    ri->ttl = in->ttl;
    ri->formats = in->formats ? in->formats : TSL_PUBLISH_JWT | TSL_PUBLISH_CWT;
    ri->decoys = in->decoys;
    ri->decoy_value = dv;
    ri->final_invalid = in->final_invalid == -1 ? 0 : 1;
    ri->aggregation_uri = in->aggregation_uri;
    ri->id_bytes = ri->formats != TSL_PUBLISH_IDLIST ? 0
                   : in->id_bytes ? in->id_bytes : TSL_STORE_ID_BYTES;
    ri->created = ri->updated = now;
    memcpy(row.perm_key, perm_key, sizeof perm_key);
    if (r == TSL_OK && (r = tslp_store_begin(st, true, err)) == TSL_OK) {
        if ((r = st->be->list_exists(st, in->id, err)) == TSL_OK &&
            (r = check_paths(st, in, err)) == TSL_OK &&
            (r = st->be->list_restore(st, &row, err)) == TSL_OK &&
            (l == NULL || (r = tslp_store_write_new(st, in->id, l, err)) == TSL_OK) &&
            (r = tslp_store_audit(st, in->id, now, in->size, in->decoys, NULL, "create",
                                  err)) == TSL_OK)
            r = tslp_store_commit(st, err);
        else
            tslp_store_rollback(st);
    }
    tslp_cleanse(perm_key, sizeof perm_key);
    tslp_cleanse(row.perm_key, sizeof row.perm_key);
    tsl_list_free(l);
    free(key_path);
    return r;
}

tsl_status tsl_store_list_ids(tsl_store *st, char ***ids, size_t *n, tsl_error *err)
{
    if (st == NULL || ids == NULL || n == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "store: NULL argument");
    return st->be->list_ids(st, ids, n, err);
}


tsl_status tsl_store_list_info(tsl_store *st, const char *id, tsl_list_info *out,
                               tsl_error *err)
{
    if (st == NULL || id == NULL || out == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "store: NULL argument");
    tslp_list_row row;
    tsl_status r = tslp_store_read_row(st, id, &row, err);
    tslp_cleanse(row.perm_key, sizeof row.perm_key);
    if (r == TSL_OK)
        *out = row.info;
    return r;
}

tsl_status tsl_store_list_load(tsl_store *st, const char *id, tsl_list **out,
                               uint64_t *version, tsl_error *err)
{
    if (st == NULL || id == NULL || out == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "store: NULL argument");
    /* One read transaction: the settings, the chunks and the version agree. */
    tsl_status r = tslp_store_begin(st, false, err);
    if (r != TSL_OK)
        return r;
    tslp_list_row row;
    if ((r = tslp_store_read_row(st, id, &row, err)) == TSL_OK) {
        r = tslp_store_load_chunks(st, &row.info, out, err);
        if (r == TSL_OK && version != NULL)
            *version = row.info.version;
        tsl_list_info_free(&row.info);
    }
    tslp_cleanse(row.perm_key, sizeof row.perm_key);
    tslp_store_rollback(st);
    return r;
}

/* ---------------------------------------------------------------------------------- */
/* Allocation                                                                           */

tsl_status tslp_store_alloc_locked(tsl_store *st, const char *id, uint64_t n, int64_t now,
                                   const char *source, uint64_t *out, uint64_t *version,
                                   tsl_error *err)
{
    tslp_list_row row;
    tsl_status r = tslp_store_read_row(st, id, &row, err);
    if (r != TSL_OK)
        return r;
    uint64_t left = row.info.capacity - row.next;
    if (n > left) {
        r = tslp_fail(err, TSL_ERR_LIMIT, 0, "list \"%s\": only %llu of %llu indices left",
                      id, (unsigned long long)left,
                      (unsigned long long)row.info.capacity);
    } else {
        tslp_perm p;
        r = tslp_perm_init(&p, row.perm_key, row.info.size, err);
        for (uint64_t i = 0; r == TSL_OK && i < n; i++)
            r = tslp_perm_at(&p, row.next + i, &out[i], err);
        tslp_perm_done(&p);
    }
    tslp_cleanse(row.perm_key, sizeof row.perm_key);
    if (version != NULL)
        *version = row.info.version;
    tsl_list_info_free(&row.info);
    if (r != TSL_OK)
        return r;
    if ((r = st->be->alloc_advance(st, id, n, now, err)) != TSL_OK)
        return r;
    return tslp_store_audit(st, id, now, n, 0, source, "alloc", err);
}

tsl_status tsl_store_alloc_new(tsl_store *st, const char *id, uint64_t n, uint64_t **out,
                               tsl_error *err)
{
    if (out == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "store: NULL argument");
    *out = NULL;
    tsl_list_info info;
    memset(&info, 0, sizeof info);
    tsl_status r = tsl_store_list_info(st, id, &info, err);
    uint64_t left = info.capacity - info.allocated;
    tsl_list_info_free(&info);
    if (r != TSL_OK)
        return r;
    /* The store checks again inside its transaction. */
    if (n > left)
        return tslp_fail(err, TSL_ERR_LIMIT, 0, "%s: %llu indices asked for, %llu left", id,
                         (unsigned long long)n, (unsigned long long)left);
    uint64_t *a = n <= SIZE_MAX / sizeof *a ? tslp_malloc((size_t)n * sizeof *a + 1) : NULL;
    if (a == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "out of memory for %llu indices",
                         (unsigned long long)n);
    if ((r = tsl_store_alloc(st, id, n, a, err)) != TSL_OK) {
        tsl_free(a);
        return r;
    }
    *out = a;
    return TSL_OK;
}

tsl_status tsl_store_alloc(tsl_store *st, const char *id, uint64_t n, uint64_t *out,
                           tsl_error *err)
{
    if (st == NULL || id == NULL || (out == NULL && n > 0))
        return tslp_fail(err, TSL_ERR_ARG, 0, "store: NULL argument");
    if (n == 0)
        return TSL_OK;
    /* Read, draw and advance the counter under the write lock: two processes can never
     * draw from the same counter value, and a crash before COMMIT hands out nothing. */
    tsl_status r = tslp_store_begin(st, true, err);
    if (r != TSL_OK)
        return r;
    if ((r = tslp_store_alloc_locked(st, id, n, (int64_t)time(NULL), NULL, out, NULL,
                                     err)) == TSL_OK)
        return tslp_store_commit(st, err);
    tslp_store_rollback(st);
    return r;
}
