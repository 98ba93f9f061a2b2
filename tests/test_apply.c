/* test_apply.c - grouped changes and the issuer API's reads, on SQLite and PostgreSQL:
 * several ops in one transaction where the failing ones change nothing and the others
 * commit; idempotent allocations (a replay returns the same indices and allocates
 * nothing, the same key for another request is a conflict, records pruned after
 * TSL_IDEMPOTENCY_SECONDS); the INVALID-is-final refusal naming the index; dry runs;
 * reading a few statuses across chunks; the audit trail by pages; and processes
 * applying allocations at once, every index handed out once. */
#include "store_fx.h"
#include "store/store_pg.h"
#include "store/store_sqlite.h"

#include <libpq-fe.h>

#include <sys/wait.h>
#include <time.h>

static uint64_t allocated(sfx *f, const char *id)
{
    tsl_list_info info;
    uint64_t a = UINT64_MAX;
    if (tsl_store_list_info(f->st, id, &info, NULL) == TSL_OK) {
        a = info.allocated;
        tsl_list_info_free(&info);
    }
    return a;
}

static unsigned status_of(sfx *f, const char *id, uint64_t idx)
{
    unsigned v = 999;
    if (tsl_store_statuses(f->st, id, &idx, 1, &v, NULL, NULL) != TSL_OK)
        return 999;
    return v;
}

static tsl_batch *batch_of(unsigned bits, uint64_t size, const uint64_t *t, size_t n)
{
    tsl_batch *b = NULL;
    if (tsl_batch_new(bits, size, &b, NULL) != TSL_OK)
        return NULL;
    for (size_t k = 0; k < n; k++)
        if (tsl_batch_add(b, t[3 * k], t[3 * k + 1], (unsigned)t[3 * k + 2], 0, NULL) !=
            TSL_OK) {
            tsl_batch_free(b);
            return NULL;
        }
    return b;
}

static tsl_store_op alloc_op(const char *list, uint64_t count)
{
    tsl_store_op op;
    memset(&op, 0, sizeof op);
    op.kind = TSL_OP_ALLOC;
    op.list_id = list;
    op.count = count;
    op.source = "apikey:0123456789ab";
    return op;
}

static tsl_store_op update_op(const char *list, const tsl_batch *b)
{
    tsl_store_op op;
    memset(&op, 0, sizeof op);
    op.kind = TSL_OP_UPDATE;
    op.list_id = list;
    op.batch = b;
    op.source = "apikey:0123456789ab";
    return op;
}

static void free_ops(tsl_store_op *ops, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        tsl_free(ops[k].indices);
        ops[k].indices = NULL;
    }
}

STORE_TEST(apply_group_failing_ops_change_nothing)
{
    sfx f;
    TT_CHECK(sfx_open(&f) == 0);
    TT_OK(sfx_list(&f, "a", 2, 1000));
    TT_OK(sfx_list(&f, "b", 1, 100));
    /* Entry 3 of a INVALID first, so that a later batch trips over it. */
    const uint64_t t1[] = {3, 3, TSL_STATUS_INVALID, 10, 19, TSL_STATUS_SUSPENDED};
    const uint64_t t2[] = {7, 7, TSL_STATUS_SUSPENDED, 2, 4, TSL_STATUS_VALID};
    const uint64_t t3[] = {500, 500, 1};  /* made for a larger list than b */
    const uint64_t t4[] = {30, 39, TSL_STATUS_INVALID};
    tsl_batch *b1 = batch_of(2, 1000, t1, 2), *b2 = batch_of(2, 1000, t2, 2),
              *b3 = batch_of(1, 1000, t3, 1), *b4 = batch_of(1, 100, t4, 1);
    TT_CHECK(b1 && b2 && b3 && b4);
    tsl_store_op ops[8];
    size_t n = 0;
    ops[n++] = alloc_op("a", 5);         /* 0 ok */
    ops[n++] = update_op("a", b1);       /* 1 ok */
    ops[n++] = alloc_op("nosuch", 1);    /* 2 no such list */
    ops[n++] = update_op("a", b2);       /* 3 INVALID is final: index 3 */
    ops[n++] = update_op("b", b3);       /* 4 index out of range */
    ops[n++] = alloc_op("b", 101);       /* 5 more than b has: allocates nothing */
    ops[n++] = alloc_op("b", 2);         /* 6 ok */
    ops[n] = update_op("b", b4);         /* 7 dry run */
    ops[n++].dry_run = 1;
    TT_OK(tsl_store_apply(f.st, ops, n, 0, NULL));
    TT_OK(ops[0].status);
    TT_OK(ops[1].status);
    TT_ERR(ops[2].status, TSL_ERR_NOT_FOUND);
    TT_CONTAINS(ops[2].error.msg, "nosuch");
    TT_ERR(ops[3].status, TSL_ERR_VALUE);
    TT_CONTAINS(ops[3].error.msg, "index 3 is INVALID");
    TT_ERR(ops[4].status, TSL_ERR_INDEX);
    TT_CONTAINS(ops[4].error.msg, "index 500");
    TT_ERR(ops[5].status, TSL_ERR_LIMIT);
    TT_OK(ops[6].status);
    TT_OK(ops[7].status);
    /* Results. */
    TT_CHECK(ops[0].indices != NULL && ops[6].indices != NULL);
    TT_CHECK(ops[2].indices == NULL && ops[5].indices == NULL);
    TT_EQ_U(ops[0].replayed, 0);
    TT_EQ_U(ops[1].changed, 11);
    TT_EQ_U(ops[1].version, 1);
    TT_EQ_U(ops[3].changed, 0);
    TT_EQ_U(ops[7].changed, 10);
    TT_EQ_U(ops[7].version, 0);
    for (uint64_t k = 0; k < 5; k++)
        TT_CHECK(ops[0].indices[k] < 1000);
    /* What committed, and what did not. */
    TT_EQ_U(allocated(&f, "a"), 5);
    TT_EQ_U(allocated(&f, "b"), 2);
    TT_EQ_U(status_of(&f, "a", 3), TSL_STATUS_INVALID);
    TT_EQ_U(status_of(&f, "a", 15), TSL_STATUS_SUSPENDED);
    TT_EQ_U(status_of(&f, "a", 7), TSL_STATUS_VALID);   /* op 3 rolled back whole */
    TT_EQ_U(status_of(&f, "b", 35), TSL_STATUS_VALID);  /* dry run */
    /* The audit rows carry the source. */
    tsl_audit_row *rows = NULL;
    size_t nr = 0;
    TT_OK(tsl_store_audit(f.st, "a", 0, 10, &rows, &nr, NULL));
    TT_EQ_U(nr, 3); /* update, alloc, create */
    TT_EQ_STR(rows[0].kind, "update");
    TT_EQ_STR(rows[0].source, "apikey:0123456789ab");
    TT_EQ_U(rows[0].changed, 11);
    TT_EQ_STR(rows[1].kind, "alloc");
    TT_EQ_U(rows[1].entries, 5);
    TT_EQ_STR(rows[1].source, "apikey:0123456789ab");
    tsl_audit_rows_free(rows, nr);
    free_ops(ops, n);
    /* Arguments checked before the transaction, per op. */
    tsl_store_op bad[3];
    bad[0] = alloc_op("a", 0);
    bad[1] = alloc_op("a", TSL_ALLOC_MAX_PER_OP + 1);
    bad[2] = alloc_op("a", 1);
    bad[2].idem_key = "bad\nkey";
    bad[2].idem_owner = "k";
    TT_OK(tsl_store_apply(f.st, bad, 3, 0, NULL));
    for (size_t k = 0; k < 3; k++)
        TT_ERR(bad[k].status, TSL_ERR_ARG);
    TT_EQ_U(allocated(&f, "a"), 5);
    /* An empty group commits nothing, fine. */
    TT_OK(tsl_store_apply(f.st, NULL, 0, 0, NULL));
    tsl_batch_free(b1);
    tsl_batch_free(b2);
    tsl_batch_free(b3);
    tsl_batch_free(b4);
    sfx_close(&f);
}

static tsl_store_op idem_op(const char *list, uint64_t count, const char *owner,
                            const char *key, uint8_t h)
{
    tsl_store_op op = alloc_op(list, count);
    op.idem_owner = owner;
    op.idem_key = key;
    memset(op.idem_hash, h, sizeof op.idem_hash);
    return op;
}

STORE_TEST(apply_idempotent_allocation)
{
    sfx f;
    TT_CHECK(sfx_open(&f) == 0);
    TT_OK(sfx_list(&f, "a", 1, 10000));
    TT_OK(sfx_list(&f, "b", 1, 10000));
    int64_t t0 = (int64_t)time(NULL);
    tsl_store_op op = idem_op("a", 10, "0123456789ab", "req-1", 7);
    TT_OK(tsl_store_apply(f.st, &op, 1, t0, NULL));
    TT_OK(op.status);
    TT_EQ_U(op.replayed, 0);
    uint64_t first[10];
    memcpy(first, op.indices, sizeof first);
    tsl_free(op.indices);
    TT_EQ_U(allocated(&f, "a"), 10);
    /* The retry: the same indices, nothing allocated. */
    op = idem_op("a", 10, "0123456789ab", "req-1", 7);
    TT_OK(tsl_store_apply(f.st, &op, 1, t0 + 5, NULL));
    TT_OK(op.status);
    TT_EQ_U(op.replayed, 1);
    TT_EQ_MEM(op.indices, first, sizeof first);
    tsl_free(op.indices);
    TT_EQ_U(allocated(&f, "a"), 10);
    /* The same key for another request: refused, nothing allocated. */
    tsl_store_op other[3];
    other[0] = idem_op("a", 10, "0123456789ab", "req-1", 8);  /* another hash */
    other[1] = idem_op("b", 10, "0123456789ab", "req-1", 7);  /* another list */
    other[2] = idem_op("a", 11, "0123456789ab", "req-1", 7);  /* another count */
    TT_OK(tsl_store_apply(f.st, other, 3, t0 + 6, NULL));
    for (size_t k = 0; k < 3; k++) {
        TT_ERR(other[k].status, TSL_ERR_CONFLICT);
        TT_CONTAINS(other[k].error.msg, "Idempotency-Key already used for another request");
        TT_CHECK(other[k].indices == NULL);
    }
    TT_EQ_U(allocated(&f, "a"), 10);
    TT_EQ_U(allocated(&f, "b"), 0);
    /* Keys are per owner; and two ops of one group with one key: the second replays. */
    tsl_store_op two[2];
    two[0] = idem_op("a", 3, "ffffffffffff", "req-1", 7);
    two[1] = idem_op("a", 3, "ffffffffffff", "req-1", 7);
    TT_OK(tsl_store_apply(f.st, two, 2, t0 + 7, NULL));
    TT_OK(two[0].status);
    TT_OK(two[1].status);
    TT_EQ_U(two[0].replayed, 0);
    TT_EQ_U(two[1].replayed, 1);
    TT_EQ_MEM(two[0].indices, two[1].indices, 3 * sizeof(uint64_t));
    for (size_t k = 0; k < 3; k++)
        for (size_t j = 0; j < 10; j++)
            TT_CHECK(two[0].indices[k] != first[j]);
    free_ops(two, 2);
    TT_EQ_U(allocated(&f, "a"), 13);
    /* Kept TSL_IDEMPOTENCY_SECONDS: still replayed at the last second... */
    op = idem_op("a", 10, "0123456789ab", "req-1", 7);
    TT_OK(tsl_store_apply(f.st, &op, 1, t0 + TSL_IDEMPOTENCY_SECONDS, NULL));
    TT_EQ_U(op.replayed, 1);
    tsl_free(op.indices);
    /* ... pruned after: the key is new again, and allocates. */
    op = idem_op("a", 10, "0123456789ab", "req-1", 9);
    TT_OK(tsl_store_apply(f.st, &op, 1, t0 + TSL_IDEMPOTENCY_SECONDS + 1, NULL));
    TT_OK(op.status);
    TT_EQ_U(op.replayed, 0);
    TT_CHECK(memcmp(op.indices, first, sizeof first) != 0);
    tsl_free(op.indices);
    TT_EQ_U(allocated(&f, "a"), 23);
    sfx_close(&f);
}

STORE_TEST(statuses_read_across_chunks)
{
    sfx f;
    TT_CHECK(sfx_open(&f) == 0);
    /* 10^6 one-bit entries: two chunks of 65536 bytes (524288 entries each). */
    TT_OK(sfx_list(&f, "a", 1, 1000000));
    const uint64_t t[] = {5, 5, 1, 524287, 524289, 1, 999999, 999999, 1};
    tsl_batch *b = batch_of(1, 1000000, t, 3);
    TT_CHECK(b != NULL);
    TT_OK(tsl_store_update(f.st, "a", b, 0, 0, "t", NULL, NULL));
    tsl_batch_free(b);
    const uint64_t idx[] = {524288, 5, 6, 999999, 524290, 524287, 0};
    unsigned v[7];
    uint64_t version = 99;
    TT_OK(tsl_store_statuses(f.st, "a", idx, 7, v, &version, NULL));
    const unsigned want[] = {1, 1, 0, 1, 0, 1, 0};
    for (size_t k = 0; k < 7; k++)
        TT_EQ_U(v[k], want[k]);
    TT_EQ_U(version, 1);
    const uint64_t out[] = {3, 1000000, 2000000};
    tsl_error err;
    tsl_error_clear(&err);
    TT_ERR(tsl_store_statuses(f.st, "a", out, 3, v, NULL, &err), TSL_ERR_INDEX);
    TT_CONTAINS(err.msg, "index 1000000 is out of range");
    TT_ERR(tsl_store_statuses(f.st, "nosuch", idx, 1, v, NULL, NULL), TSL_ERR_NOT_FOUND);
    /* Two bits: SUSPENDED reads back. */
    TT_OK(sfx_list(&f, "c", 2, 100));
    TT_OK(tsl_store_set(f.st, "c", 42, TSL_STATUS_SUSPENDED, 0, NULL));
    uint64_t i42 = 42;
    TT_OK(tsl_store_statuses(f.st, "c", &i42, 1, v, NULL, NULL));
    TT_EQ_U(v[0], TSL_STATUS_SUSPENDED);
    sfx_close(&f);
}

STORE_TEST(audit_pages_newest_first)
{
    sfx f;
    TT_CHECK(sfx_open(&f) == 0);
    TT_OK(sfx_list(&f, "a", 2, 100));
    TT_OK(sfx_list(&f, "other", 2, 100)); /* its rows are not a's */
    for (uint64_t k = 0; k < 6; k++)
        TT_OK(tsl_store_set(f.st, "a", k, 2, 0, NULL));
    TT_OK(tsl_store_set(f.st, "other", 1, 2, 0, NULL));
    /* 7 rows: create and 6 sets. */
    uint64_t seen[8], before = 0;
    size_t total = 0, n = 0;
    const size_t pages[] = {3, 3, 1, 0};
    for (size_t p = 0; p < 4; p++) {
        tsl_audit_row *rows = NULL;
        TT_OK(tsl_store_audit(f.st, "a", before, 3, &rows, &n, NULL));
        TT_EQ_U(n, pages[p]);
        for (size_t k = 0; k < n; k++) {
            TT_CHECK(total == 0 || rows[k].seq < seen[total - 1]);
            seen[total++] = rows[k].seq;
            TT_EQ_STR(rows[k].kind, total == 7 ? "create" : "set");
            TT_EQ_U(rows[k].entries, total == 7 ? 100 : 1);
            TT_CHECK(rows[k].time > 0);
        }
        if (n > 0)
            before = rows[n - 1].seq;
        tsl_audit_rows_free(rows, n);
    }
    TT_EQ_U(total, 7);
    tsl_audit_row *rows = NULL;
    TT_ERR(tsl_store_audit(f.st, "a", 0, 0, &rows, &n, NULL), TSL_ERR_ARG);
    TT_ERR(tsl_store_audit(f.st, "a", 0, 1001, &rows, &n, NULL), TSL_ERR_ARG);
    TT_ERR(tsl_store_audit(f.st, "nosuch", 0, 10, &rows, &n, NULL), TSL_ERR_NOT_FOUND);
    TT_OK(tsl_store_audit(f.st, "a", 0, 1000, &rows, &n, NULL));
    TT_EQ_U(n, 7);
    TT_EQ_U(rows[0].seq, seen[0]);
    tsl_audit_rows_free(rows, n);
    sfx_close(&f);
}

/* Processes applying groups of allocations at once: every index handed out once, the
 * counter equal to their number. */
#define PROCS 4
#define ROUNDS 8
#define PER_OP 5
STORE_TEST(apply_concurrent_processes_distinct)
{
    sfx f;
    TT_CHECK(sfx_open(&f) == 0);
    TT_OK(sfx_list(&f, "a", 1, 100000));
    int fds[PROCS];
    pid_t pids[PROCS];
    for (int p = 0; p < PROCS; p++) {
        int pf[2];
        TT_CHECK(pipe(pf) == 0);
        pid_t pid = fork();
        TT_CHECK(pid >= 0);
        if (pid == 0) {
            /* The child has its own connection; the parent's handle is left alone
             * (closing it here would end the parent's PostgreSQL session). */
            close(pf[0]);
            tsl_store *st = NULL;
            int bad = tsl_store_open_mode(f.db, 0, &st, NULL) != TSL_OK;
            for (int r = 0; !bad && r < ROUNDS; r++) {
                tsl_store_op ops[2] = {alloc_op("a", PER_OP), alloc_op("a", PER_OP)};
                char key[32];
                snprintf(key, sizeof key, "p%d-r%d", p, r);
                ops[1].idem_owner = "0123456789ab";
                ops[1].idem_key = key;
                bad = tsl_store_apply(st, ops, 2, 0, NULL) != TSL_OK ||
                      ops[0].status != TSL_OK || ops[1].status != TSL_OK;
                for (int k = 0; !bad && k < 2; k++)
                    bad = write(pf[1], ops[k].indices, PER_OP * sizeof(uint64_t)) !=
                          (ssize_t)(PER_OP * sizeof(uint64_t));
                free_ops(ops, 2);
            }
            tsl_store_close(st);
            _exit(bad);
        }
        close(pf[1]);
        fds[p] = pf[0];
        pids[p] = pid;
    }
    uint64_t all[PROCS * ROUNDS * 2 * PER_OP];
    size_t got = 0;
    for (int p = 0; p < PROCS; p++) {
        ssize_t k;
        while ((k = read(fds[p], (char *)all + got, sizeof all - got)) > 0)
            got += (size_t)k;
        close(fds[p]);
    }
    int failed = 0;
    for (int p = 0; p < PROCS; p++) {
        int ws = 0;
        waitpid(pids[p], &ws, 0);
        failed += !WIFEXITED(ws) || WEXITSTATUS(ws) != 0;
    }
    TT_EQ_U(failed, 0);
    size_t n = sizeof all / sizeof all[0];
    TT_EQ_U(got, sizeof all);
    for (size_t k = 0; k < n; k++)
        for (size_t j = k + 1; j < n; j++)
            TT_CHECK(all[k] != all[j]);
    TT_EQ_U(allocated(&f, "a"), n);
    sfx_close(&f);
}

/* An op that fails after it wrote (here: a trigger refuses its audit row, after the
 * allocation counter moved) is rolled back to its savepoint: the counter is as it was,
 * and the ops after it still run and commit (on PostgreSQL, a failed statement aborts
 * the transaction until ROLLBACK TO SAVEPOINT). */
STORE_TEST(apply_op_failing_after_writing_is_undone)
{
    sfx f;
    TT_CHECK(sfx_open(&f) == 0);
    TT_OK(sfx_list(&f, "a", 1, 1000));
    if (sfx_pg) {
        PGresult *r = PQexec(tslp_pg_conn(f.st),
                             "CREATE FUNCTION boom() RETURNS trigger AS $$ BEGIN"
                             " IF NEW.source = 'boom' THEN RAISE EXCEPTION 'boom'; END IF;"
                             " RETURN NEW; END $$ LANGUAGE plpgsql;"
                             "CREATE TRIGGER boom BEFORE INSERT ON tsl_batches FOR EACH ROW"
                             " EXECUTE FUNCTION boom()");
        TT_EQ_U(PQresultStatus(r), PGRES_COMMAND_OK);
        PQclear(r);
    } else {
        TT_EQ_U(sqlite3_exec(tslp_sqlite_db(f.st),
                             "CREATE TRIGGER boom BEFORE INSERT ON batches"
                             " WHEN NEW.source = 'boom' BEGIN SELECT RAISE(ABORT, 'boom'); END",
                             NULL, NULL, NULL), SQLITE_OK);
    }
    tsl_store_op ops[3] = {alloc_op("a", 4), alloc_op("a", 7), alloc_op("a", 2)};
    ops[1].source = "boom";
    ops[1].idem_owner = "0123456789ab";
    ops[1].idem_key = "k";
    TT_OK(tsl_store_apply(f.st, ops, 3, 0, NULL));
    TT_OK(ops[0].status);
    TT_ERR(ops[1].status, TSL_ERR_IO);
    TT_CONTAINS(ops[1].error.msg, "boom");
    TT_CHECK(ops[1].indices == NULL);
    TT_OK(ops[2].status);
    TT_EQ_U(allocated(&f, "a"), 6);
    free_ops(ops, 3);
    /* Its idempotency key was not recorded either: a retry allocates. */
    tsl_store_op again = alloc_op("a", 7);
    again.idem_owner = "0123456789ab";
    again.idem_key = "k";
    TT_OK(tsl_store_apply(f.st, &again, 1, 0, NULL));
    TT_OK(again.status);
    TT_EQ_U(again.replayed, 0);
    TT_EQ_U(allocated(&f, "a"), 13);
    free_ops(&again, 1);
    sfx_close(&f);
}

/* PostgreSQL: a group's commit notifies every list it changed, once, and none that a
 * failed op would have changed. */
typedef struct {
    char ids[8][16];
    int n;
} heard;

static void on_change(void *ctx, const char *id)
{
    heard *h = ctx;
    if (h->n < 8)
        snprintf(h->ids[h->n++], sizeof h->ids[0], "%s", id != NULL ? id : "(all)");
}

TT_TEST(apply_pg_notifies_changed_lists)
{
    sfx_pg = 1;
    sfx f;
    int opened = sfx_open(&f);
    sfx_pg = 0;
    TT_CHECK(opened == 0);
    TT_OK(sfx_list(&f, "a", 1, 1000));
    TT_OK(sfx_list(&f, "b", 1, 1000));
    TT_OK(sfx_list(&f, "c", 1, 1000));
    tsl_store *w = NULL;
    TT_OK(tsl_store_open_mode(f.db, TSL_STORE_READONLY, &w, NULL));
    TT_OK(tslp_store_watch(w, NULL));
    const uint64_t t[] = {1, 1, 1};
    tsl_batch *b = batch_of(1, 1000, t, 1);
    TT_CHECK(b != NULL);
    tsl_store_op ops[3] = {alloc_op("a", 2), update_op("b", b), alloc_op("c", 5000)};
    TT_OK(tsl_store_apply(f.st, ops, 3, 0, NULL));
    TT_OK(ops[0].status);
    TT_OK(ops[1].status);
    TT_ERR(ops[2].status, TSL_ERR_LIMIT);
    free_ops(ops, 3);
    heard h;
    memset(&h, 0, sizeof h);
    for (int k = 0; k < 20 && h.n < 2; k++)
        TT_OK(tslp_store_wait(w, 250, on_change, &h, NULL));
    /* A little more, for a notification that should not come. */
    TT_OK(tslp_store_wait(w, 300, on_change, &h, NULL));
    TT_EQ_U(h.n, 2);
    TT_CHECK((strcmp(h.ids[0], "a") == 0 && strcmp(h.ids[1], "b") == 0) ||
             (strcmp(h.ids[0], "b") == 0 && strcmp(h.ids[1], "a") == 0));
    tsl_batch_free(b);
    tsl_store_close(w);
    sfx_close(&f);
}
