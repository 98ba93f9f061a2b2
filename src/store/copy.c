/* copy.c - tsl_store_copy(): every list of one store into another, whatever keeps their
 * rows (SQLite to PostgreSQL, back, or to a new SQLite file as a backup). Only the
 * backend seam (backend.h) is used, so any two backends copy into each other: the
 * source is read in one read transaction, so the copy is one consistent snapshot while
 * issuers keep writing to it, and the destination is written in one write transaction,
 * so that it holds all of the copy or none of it.
 *
 * What makes a copy safe to issue from is that nothing is re-made: the rows are
 * restored as they were read. The allocation counter and the permutation key travel
 * together, so the destination goes on from the next unused position of the same
 * permutation and never hands out an index the source handed out (nor a decoy); the
 * version travels with the token history, so a publisher on the destination does not
 * take the recorded tokens for newer statuses than its own.
 *
 * API keys go with their hashes, so the same secrets work on the destination; a key
 * whose id the destination has already is left as the destination has it (ids are 48
 * random bits: it is the same key, copied before). Idempotency records are not copied:
 * they live TSL_IDEMPOTENCY_SECONDS, and a store is copied to move issuers over, not
 * while their requests are retried. */
#include "crypto/crypto.h"
#include "store/backend.h"

#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------------- */
/* Refusing a destination that has one of the lists, or one of their paths              */

/* The ids being copied, sorted (list_ids sorts them). */
typedef struct {
    char **ids;
    size_t n;
} id_set;

static int cmp_id(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static bool in_set(const id_set *s, const char *id)
{
    return id != NULL && bsearch(&id, s->ids, s->n, sizeof *s->ids, cmp_id) != NULL;
}

/* The path of a uri, or "" when it has none (a list made before the one-path rule). */
static const char *path_of(const char *uri, char *buf)
{
    if (uri == NULL || tsl_uri_path(uri, buf, TSL_URI_MAX + 1, NULL) != TSL_OK)
        buf[0] = '\0';
    return buf;
}

typedef struct {
    const id_set *copied;       /* skipped: those are ours, restored just before */
    const char *id;             /* the list being copied */
    char mine[TSL_URI_MAX + 1]; /* its uri's path */
    char agg[TSL_URI_MAX + 1];  /* its aggregation_uri's path, or "" */
} path_clash;

/* The rule of tsl_store_list_create(): no two lists of a store on one path, since
 * tsl serve and tsl export serve each list at its path whatever the host. */
static tsl_status check_path(void *ctx, const char *id, const char *uri,
                             const char *aggregation_uri, tsl_error *err)
{
    const path_clash *pc = ctx;
    if (in_set(pc->copied, id))
        return TSL_OK;
    char p[TSL_URI_MAX + 1], q[TSL_URI_MAX + 1];
    path_of(uri, p);
    path_of(aggregation_uri, q);
    const char *taken = NULL;
    if (pc->mine[0] != '\0' && (strcmp(p, pc->mine) == 0 || strcmp(q, pc->mine) == 0))
        taken = pc->mine;
    else if (pc->agg[0] != '\0' && (strcmp(p, pc->agg) == 0 || strcmp(q, pc->agg) == 0))
        taken = pc->agg;
    if (taken != NULL)
        return tslp_fail(err, TSL_ERR_EXISTS, 0,
                         "list \"%s\": path %s is taken by list \"%s\" of the "
                         "destination", pc->id, taken, id != NULL ? id : "?");
    return TSL_OK;
}

/* ---------------------------------------------------------------------------------- */
/* One list                                                                             */

typedef struct {
    tsl_store *dst;
    const char *id;
    tsl_copy_result *res;
} copy_ctx;

/* A token row goes over as it is recorded: a cut-out list with it, recorded once in
 * the copy too. */
static tsl_status copy_token(void *ctx, tsl_format format, int64_t iat, int64_t exp,
                             uint64_t version, const tslp_token_row *row, int64_t created,
                             tsl_error *err)
{
    copy_ctx *c = ctx;
    tsl_status r = c->dst->be->token_insert(c->dst, c->id, format, iat, exp, version, row,
                                            created, err);
    if (r == TSL_OK)
        c->res->tokens++;
    return r;
}

static tsl_status copy_audit(void *ctx, int64_t time, uint64_t entries, uint64_t changed,
                             const char *source, const char *kind, tsl_error *err)
{
    copy_ctx *c = ctx;
    tsl_status r = c->dst->be->audit(c->dst, c->id, time, entries, changed, source, kind,
                                     err);
    if (r == TSL_OK)
        c->res->audit++;
    return r;
}

static tsl_status copy_list(tsl_store *src, tsl_store *dst, const char *id,
                            const id_set *copied, tsl_copy_result *res, tsl_error *err)
{
    tslp_list_row row;
    tsl_status r = tslp_store_read_row(src, id, &row, err);
    if (r != TSL_OK)
        return r;
    path_clash *pc = tslp_malloc(sizeof *pc);
    tsl_list *l = NULL;
    if (pc == NULL) {
        r = tslp_fail(err, TSL_ERR_NOMEM, 0, "copy: out of memory");
    } else {
        pc->copied = copied;
        pc->id = id;
        path_of(row.info.uri, pc->mine);
        path_of(row.info.aggregation_uri, pc->agg);
        r = dst->be->list_paths(dst, check_path, pc, err);
    }
    copy_ctx c = {dst, id, res};
    /* The statuses travel whole, as the one packed copy list_load makes too; only the
     * chunks that are not all zeros are written. */
    if (r == TSL_OK && (r = dst->be->list_restore(dst, &row, err)) == TSL_OK &&
        (r = tslp_store_load_chunks(src, &row.info, &l, err)) == TSL_OK &&
        (r = tslp_store_write_new(dst, id, l, err)) == TSL_OK &&
        (r = src->be->tokens_each(src, id, copy_token, &c, err)) == TSL_OK)
        r = src->be->audit_each(src, id, copy_audit, &c, err);
    if (r == TSL_OK)
        res->lists++;
    tsl_list_free(l);
    tslp_free(pc);
    tslp_cleanse(row.perm_key, sizeof row.perm_key);
    tsl_list_info_free(&row.info);
    return r;
}

/* ---------------------------------------------------------------------------------- */
/* The copy                                                                             */

static bool can_copy(const tsl_store *st)
{
    return st->be->list_restore != NULL && st->be->tokens_each != NULL &&
           st->be->audit_each != NULL && st->be->apikey_rows != NULL;
}

/* The API keys, after the lists they belong to. */
static tsl_status copy_apikeys(tsl_store *src, tsl_store *dst, tsl_copy_result *res,
                              tsl_error *err)
{
    tslp_apikey_row *rows = NULL;
    size_t n = 0;
    tsl_status r = src->be->apikey_rows(src, &rows, &n, err);
    for (size_t k = 0; r == TSL_OK && k < n; k++) {
        tslp_apikey_row have;
        bool found = false;
        if ((r = dst->be->apikey_read(dst, rows[k].info.id, &have, &found, err)) == TSL_OK &&
            !found && (r = dst->be->apikey_insert(dst, &rows[k], err)) == TSL_OK)
            res->apikeys++;
    }
    tslp_free(rows);
    return r;
}

/* Inside both transactions: refuses a clash before writing anything, then copies. */
static tsl_status copy_locked(tsl_store *src, tsl_store *dst, tsl_copy_result *res,
                              tsl_error *err)
{
    id_set set = {NULL, 0};
    tsl_status r = src->be->list_ids(src, &set.ids, &set.n, err);
    for (size_t k = 0; r == TSL_OK && k < set.n; k++)
        if ((r = dst->be->list_exists(dst, set.ids[k], err)) == TSL_ERR_EXISTS)
            tslp_error_prefix(err, "the destination");
    /* list_ids sorts, but in the backend's collation: sort again in strcmp's order for
     * bsearch. */
    if (r == TSL_OK && set.n > 1)
        qsort(set.ids, set.n, sizeof *set.ids, cmp_id);
    for (size_t k = 0; r == TSL_OK && k < set.n; k++)
        r = copy_list(src, dst, set.ids[k], &set, res, err);
    tsl_store_ids_free(set.ids, set.n);
    if (r == TSL_OK)
        r = copy_apikeys(src, dst, res, err);
    return r;
}

tsl_status tsl_store_copy(tsl_store *src, tsl_store *dst, tsl_copy_result *res,
                          tsl_error *err)
{
    tsl_copy_result mine = {0, 0, 0, 0};
    if (res != NULL)
        *res = mine;
    if (src == NULL || dst == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "copy: NULL argument");
    if (src == dst)
        return tslp_fail(err, TSL_ERR_ARG, 0, "copy: the source is the destination");
    if (!can_copy(src) || !can_copy(dst))
        return tslp_fail(err, TSL_ERR_UNSUPPORTED, 0,
                         "copy: the %s backend cannot copy stores yet",
                         can_copy(src) ? dst->be->name : src->be->name);
    tsl_status r = tslp_store_begin(src, false, err);
    if (r != TSL_OK)
        return r;
    if ((r = tslp_store_begin(dst, true, err)) != TSL_OK) {
        tslp_store_rollback(src);
        return r;
    }
    if ((r = copy_locked(src, dst, &mine, err)) == TSL_OK)
        r = tslp_store_commit(dst, err);
    else
        tslp_store_rollback(dst);
    tslp_store_rollback(src);
    if (r == TSL_OK && res != NULL)
        *res = mine;
    return r;
}
