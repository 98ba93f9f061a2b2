/* apply.c - grouped changes (tsl_store_apply): several allocations and batch updates,
 * from several requests, committed in one write transaction, so that they share one
 * COMMIT and one fsync (the issuer API's group commit). Each op runs in a savepoint of
 * its own: one that fails is rolled back to it and reports its error, and the others
 * still commit. The work of each op is the store's own (tslp_store_alloc_locked in
 * store.c, tslp_update_locked in store_update.c), so an op keeps every rule of
 * tsl_store_alloc and tsl_store_update.
 *
 * An allocation may carry an idempotency key: the first request's indices are recorded
 * with it, in the same transaction as the allocation, so that a retry of a request
 * whose answer was lost gets the same indices and allocates nothing; the record holds
 * the request's hash, and a different request under the same key is refused. Records
 * older than TSL_IDEMPOTENCY_SECONDS are pruned by each group. */
#include "crypto/crypto.h"
#include "store/backend.h"

#include <string.h>
#include <time.h>

#define CONFLICT_MSG "Idempotency-Key already used for another request"

/* Checks an op's arguments before any transaction: TSL_ERR_ARG naming the field. */
static tsl_status check_op(const tsl_store_op *op, tsl_error *err)
{
    if (op->list_id == NULL || !tslp_store_id_ok(op->list_id))
        return tslp_fail(err, TSL_ERR_ARG, 0, "op: list id missing or malformed");
    if (op->kind == TSL_OP_UPDATE)
        return op->batch != NULL ? TSL_OK
                                 : tslp_fail(err, TSL_ERR_ARG, 0, "op: update without a batch");
    if (op->kind != TSL_OP_ALLOC)
        return tslp_fail(err, TSL_ERR_ARG, 0, "op: kind %d is neither alloc nor update",
                         (int)op->kind);
    if (op->count < 1 || op->count > TSL_ALLOC_MAX_PER_OP)
        return tslp_fail(err, TSL_ERR_ARG, 0, "op: count %llu is not in 1..%d",
                         (unsigned long long)op->count, TSL_ALLOC_MAX_PER_OP);
    if (op->idem_key == NULL)
        return TSL_OK;
    size_t kl = strlen(op->idem_key);
    if (kl < 1 || kl > 255)
        return tslp_fail(err, TSL_ERR_ARG, 0, "op: Idempotency-Key of %zu bytes (1..255)", kl);
    for (size_t k = 0; k < kl; k++)
        if ((unsigned char)op->idem_key[k] < 0x20 || (unsigned char)op->idem_key[k] > 0x7e)
            return tslp_fail(err, TSL_ERR_ARG, 0,
                             "op: Idempotency-Key has a byte that is not printable ASCII");
    if (op->idem_owner == NULL || op->idem_owner[0] == '\0' ||
        strlen(op->idem_owner) > TSLP_ID_MAX)
        return tslp_fail(err, TSL_ERR_ARG, 0, "op: Idempotency-Key without an owner");
    return TSL_OK;
}

/* Indices as a record's blob (little-endian u64s) and back. */
static void to_blob(const uint64_t *idx, size_t n, uint8_t *blob)
{
    for (size_t k = 0; k < n; k++)
        for (int b = 0; b < 8; b++)
            blob[8 * k + (size_t)b] = (uint8_t)(idx[k] >> (8 * b));
}

static void from_blob(const uint8_t *blob, size_t n, uint64_t *idx)
{
    for (size_t k = 0; k < n; k++) {
        uint64_t v = 0;
        for (int b = 7; b >= 0; b--)
            v = v << 8 | blob[8 * k + (size_t)b];
        idx[k] = v;
    }
}

/* One allocation, inside the op's savepoint. */
static tsl_status run_alloc(tsl_store *st, tsl_store_op *op, int64_t now, tsl_error *err)
{
    size_t n = (size_t)op->count;
    uint64_t *idx = tslp_malloc(n * sizeof *idx);
    uint8_t *blob = NULL;
    if (idx == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "op: out of memory for %zu indices", n);
    tsl_status r = TSL_OK;
    if (op->idem_key != NULL) {
        bool found = false;
        char list[65];
        uint8_t hash[32];
        size_t len = 0;
        r = st->be->idem_read(st, op->idem_owner, op->idem_key, &found, list, hash, &blob,
                              &len, err);
        if (r == TSL_OK && found) {
            if (strcmp(list, op->list_id) != 0 || memcmp(hash, op->idem_hash, 32) != 0 ||
                len != n * 8) {
                r = tslp_fail(err, TSL_ERR_CONFLICT, 0, CONFLICT_MSG);
            } else {
                /* The replay: the recorded indices, nothing allocated; the version is
                 * the list's now. */
                tslp_list_row row;
                if ((r = tslp_store_read_row(st, op->list_id, &row, err)) == TSL_OK) {
                    tslp_cleanse(row.perm_key, sizeof row.perm_key);
                    op->version = row.info.version;
                    tsl_list_info_free(&row.info);
                    from_blob(blob, n, idx);
                    op->indices = idx;
                    op->replayed = 1;
                    idx = NULL;
                }
            }
            tslp_free(blob);
            tslp_free(idx);
            return r;
        }
        tslp_free(blob);
        blob = NULL;
    }
    if (r == TSL_OK)
        r = tslp_store_alloc_locked(st, op->list_id, op->count, now, op->source, idx,
                                    &op->version, err);
    if (r == TSL_OK && op->idem_key != NULL) {
        if ((blob = tslp_malloc(n * 8)) == NULL) {
            r = tslp_fail(err, TSL_ERR_NOMEM, 0, "op: out of memory for %zu indices", n);
        } else {
            to_blob(idx, n, blob);
            r = st->be->idem_insert(st, op->idem_owner, op->idem_key, op->list_id,
                                    op->idem_hash, blob, n * 8, now, err);
        }
        tslp_free(blob);
    }
    if (r == TSL_OK) {
        op->indices = idx;
        return TSL_OK;
    }
    tslp_free(idx);
    return r;
}

/* Undoes every op's results after the transaction failed: nothing was committed. */
static void fail_all(tsl_store_op *ops, size_t n, tsl_status r, const tsl_error *e)
{
    for (size_t k = 0; k < n; k++) {
        tslp_free(ops[k].indices);
        ops[k].indices = NULL;
        ops[k].replayed = 0;
        ops[k].changed = 0;
        ops[k].version = 0;
        ops[k].status = r;
        tsl_error_clear(&ops[k].error);
        if (e != NULL)
            ops[k].error = *e;
        else
            tslp_fail(&ops[k].error, r, 0, "store: the transaction failed");
    }
}

tsl_status tsl_store_apply(tsl_store *st, tsl_store_op *ops, size_t n, int64_t now,
                           tsl_error *err)
{
    if (st == NULL || (ops == NULL && n > 0))
        return tslp_fail(err, TSL_ERR_ARG, 0, "store: NULL argument");
    if (now == 0)
        now = (int64_t)time(NULL);
    tsl_status r = TSL_OK;
    tslp_update_plan **plans = n > 0 ? tslp_calloc(n, sizeof *plans) : NULL;
    if (n > 0 && plans == NULL)
        r = tslp_fail(err, TSL_ERR_NOMEM, 0, "store: out of memory for %zu ops", n);
    for (size_t k = 0; k < n; k++) {
        tsl_store_op *op = &ops[k];
        tsl_error_clear(&op->error);
        op->status = TSL_OK;
        op->indices = NULL;
        op->replayed = 0;
        op->changed = 0;
        op->version = 0;
        if (r != TSL_OK)
            continue;
        op->status = check_op(op, &op->error);
        /* Long batches are normalised before the write lock is taken. */
        if (op->status == TSL_OK && op->kind == TSL_OP_UPDATE)
            op->status = tslp_update_prepare(op->batch, &plans[k], &op->error);
    }
    if (r != TSL_OK) {
        fail_all(ops, n, r, err);
        return r;
    }
    tsl_error terr;
    tsl_error_clear(&terr);
    if ((r = tslp_store_begin(st, true, &terr)) == TSL_OK)
        r = st->be->idem_prune(st, now - TSL_IDEMPOTENCY_SECONDS, &terr);
    for (size_t k = 0; r == TSL_OK && k < n; k++) {
        tsl_store_op *op = &ops[k];
        if (op->status != TSL_OK)
            continue;
        if ((r = st->be->savepoint(st, TSLP_SP_BEGIN, &terr)) != TSL_OK)
            break;
        if (op->kind == TSL_OP_ALLOC)
            op->status = run_alloc(st, op, now, &op->error);
        else
            op->status = tslp_update_locked(st, op->list_id, op->batch, plans[k], op->force,
                                            op->dry_run, op->source, now, &op->changed,
                                            &op->version, &op->error);
        if (op->status == TSL_OK) {
            r = st->be->savepoint(st, TSLP_SP_RELEASE, &terr);
        } else {
            r = st->be->savepoint(st, TSLP_SP_ROLLBACK, &terr);
            tslp_free(op->indices);
            op->indices = NULL;
            op->replayed = 0;
            op->changed = 0;
        }
    }
    if (r == TSL_OK)
        r = tslp_store_commit(st, &terr);
    else
        tslp_store_rollback(st);
    for (size_t k = 0; k < n; k++)
        tslp_update_plan_free(plans[k]);
    tslp_free(plans);
    if (r != TSL_OK) {
        fail_all(ops, n, r, &terr);
        if (err != NULL)
            *err = terr;
        return r;
    }
    return TSL_OK;
}
