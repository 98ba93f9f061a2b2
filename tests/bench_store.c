/* bench_store.c - the issuer store's benchmark cases behind `make bench` (issue 12),
 * run by tests/bench_db.sh on each backend in the same run: DB is the path of an
 * SQLite file or a postgresql:// URL, KEY a signing key file for the list.
 *
 *   bench store_bulk N BITS DB KEY [CHANGES]
 *       a new list of N entries, then CHANGES (default 10^6) random status changes as
 *       one tsl_store_update(), twice: into the new list (its chunks are written for
 *       the first time) and again with other indices (its chunks are rewritten). Times
 *       the call, which returns once the change is committed (durable: fsync on).
 *       One JSON line per phase: changes/s committed.
 *   bench store_set N BITS DB KEY [RUNS]
 *       a new list of N entries, then RUNS times (default 11) what `tsl set` does
 *       inside one process: open the store, one tsl_store_update() of one index,
 *       close. best, median, worst ms: `tsl set` end to end less starting a program.
 *       Then RUNS updates of one index on one handle kept open (open_handle_ms_*, the
 *       first left out), as a long-running issuer makes them: on PostgreSQL the
 *       difference is the cost of a new connection.
 *   bench store_alloc N BITS DB KEY [PROCS [PER_PROC [PER_CALL]]]
 *       a new list of N entries, then PROCS processes (default 4), each with its own
 *       handle, allocating PER_PROC indices (default 25,000) in tsl_store_alloc() calls
 *       of PER_CALL (default 1,000) at once. Wall time from the start signal to the
 *       last one's exit; then every index is checked distinct. indices/s.
 *
 * Random indices come from xorshift64 (bench_xorshift64) seeded 42 (first phase) and 43
 * (second), r % N; the value is 1 + (r >> 32) % (2^BITS - 1), never 0, so each item
 * changes its entry unless a draw repeats an index ("changed" counts what did). */
#include "bench.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static tsl_store *open_store(const char *db)
{
    tsl_store *st = NULL;
    tsl_error err;
    tsl_error_clear(&err);
    tsl_status r = tsl_store_open(db, &st, &err);
    if (r != TSL_OK)
        bench_die("opening the store", r, &err);
    return st;
}

/* Creates list id (N entries of BITS, a uri of its own) in db. */
static void create_list(const char *db, const char *id, uint64_t n, unsigned bits,
                        const char *key)
{
    tsl_store *st = open_store(db);
    char uri[160];
    snprintf(uri, sizeof uri, "https://bench.example/sl/%s", id);
    tsl_list_spec in;
    memset(&in, 0, sizeof in);
    in.id = id;
    in.uri = uri;
    in.bits = bits;
    in.size = n;
    in.key_path = key;
    in.create_flags = TSL_CREATE_LARGE;
    tsl_error err;
    tsl_error_clear(&err);
    tsl_status r = tsl_store_list_create(st, &in, &err);
    if (r != TSL_OK)
        bench_die("creating the list", r, &err);
    tsl_store_close(st);
}

/* "sqlite" or "postgresql", for the JSON lines. */
static const char *backend_name(const char *db)
{
    return strncmp(db, "postgres", 8) == 0 ? "postgresql" : "sqlite";
}

int bench_store_bulk(uint64_t n, unsigned bits, const char *db, const char *key,
                     uint64_t changes)
{
    char id[64];
    snprintf(id, sizeof id, "bulk-%ld", (long)getpid());
    create_list(db, id, n, bits, key);
    tsl_store *st = open_store(db);
    unsigned maxv = (1u << bits) - 1;
    static const char *const phase[] = {"new_chunks", "rewrite"};
    for (int p = 0; p < 2; p++) {
        tsl_batch *b = NULL;
        tsl_error err;
        tsl_error_clear(&err);
        tsl_status r = tsl_batch_new(bits, n, &b, &err);
        uint64_t s = BENCH_SEED + (uint64_t)p;
        for (uint64_t k = 0; r == TSL_OK && k < changes; k++) {
            uint64_t x = bench_xorshift64(&s), idx = x % n;
            r = tsl_batch_add(b, idx, idx, 1 + (unsigned)((x >> 32) % maxv), 0, &err);
        }
        if (r != TSL_OK)
            bench_die("building the batch", r, &err);
        uint64_t changed = 0;
        double t0 = bench_now();
        /* force: the second phase may set an INVALID entry of the first to another
         * value, which a list whose INVALID is final refuses. */
        r = tsl_store_update(st, id, b, 1, 0, "bench", &changed, &err);
        double secs = bench_now() - t0;
        tsl_batch_free(b);
        if (r != TSL_OK)
            bench_die("tsl_store_update", r, &err);
        printf("{\"case\":\"store_bulk_update\",\"backend\":\"%s\",\"n\":%llu,\"bits\":%u,"
               "\"phase\":\"%s\",\"items\":%llu,\"changed\":%llu,\"seconds\":%.3f,"
               "\"changes_per_s\":%.0f,\"peak_rss_kb\":%ld}\n",
               backend_name(db), (unsigned long long)n, bits, phase[p],
               (unsigned long long)changes, (unsigned long long)changed, secs,
               secs > 0 ? (double)changed / secs : 0.0, bench_peak_rss_kb());
        fflush(stdout);
    }
    tsl_store_close(st);
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int bench_store_set(uint64_t n, unsigned bits, const char *db, const char *key,
                    uint64_t runs)
{
    char id[64];
    snprintf(id, sizeof id, "set-%ld", (long)getpid());
    create_list(db, id, n, bits, key);
    /* ms[0..runs): a handle opened and closed each time, as `tsl set` does; then
     * ms[runs..2 runs): one handle kept open, as a long-running issuer would. */
    double *ms = calloc((size_t)runs * 2, sizeof *ms);
    if (ms == NULL)
        return 1;
    tsl_store *kept = NULL;
    for (uint64_t k = 0; k < 2 * runs; k++) {
        uint64_t idx = (k * 7919 + 13) % n;
        double t0 = bench_now();
        if (k == runs)
            kept = open_store(db);
        tsl_store *st = k < runs ? open_store(db) : kept;
        tsl_batch *b = NULL;
        tsl_error err;
        tsl_error_clear(&err);
        tsl_status r = tsl_batch_new(bits, n, &b, &err);
        if (r == TSL_OK)
            r = tsl_batch_add(b, idx, idx, 1, 0, &err);
        if (r == TSL_OK)
            r = tsl_store_update(st, id, b, 0, 0, "set", NULL, &err);
        tsl_batch_free(b);
        if (k < runs)
            tsl_store_close(st);
        ms[k] = (bench_now() - t0) * 1000;
        if (r != TSL_OK)
            bench_die("tsl_store_update", r, &err);
    }
    tsl_store_close(kept);
    qsort(ms, (size_t)runs, sizeof *ms, cmp_double);
    /* The kept handle's first update opened it: left out. */
    qsort(ms + runs + 1, (size_t)runs - 1, sizeof *ms, cmp_double);
    const double *h = ms + runs + 1;
    size_t hn = (size_t)runs - 1;
    printf("{\"case\":\"store_set_lib\",\"backend\":\"%s\",\"n\":%llu,\"bits\":%u,"
           "\"runs\":%llu,\"ms_best\":%.2f,\"ms_median\":%.2f,\"ms_worst\":%.2f,"
           "\"open_handle_ms_best\":%.2f,\"open_handle_ms_median\":%.2f,"
           "\"open_handle_ms_worst\":%.2f}\n",
           backend_name(db), (unsigned long long)n, bits, (unsigned long long)runs, ms[0],
           ms[runs / 2], ms[runs - 1], hn ? h[0] : 0.0, hn ? h[hn / 2] : 0.0,
           hn ? h[hn - 1] : 0.0);
    free(ms);
    return 0;
}

/* One allocating process: waits for the start byte, then allocates and writes the
 * indices to fd. Exits 0, or 1 with the error on stderr. */
static void alloc_child(const char *db, const char *id, uint64_t per_proc,
                        uint64_t per_call, int start_fd, int out_fd)
{
    tsl_store *st = open_store(db);
    uint64_t *buf = malloc((size_t)per_call * sizeof *buf);
    char go;
    if (buf == NULL || read(start_fd, &go, 1) != 1)
        _exit(1);
    for (uint64_t done = 0; done < per_proc; done += per_call) {
        uint64_t k = per_proc - done < per_call ? per_proc - done : per_call;
        tsl_error err;
        tsl_error_clear(&err);
        tsl_status r = tsl_store_alloc(st, id, k, buf, &err);
        if (r != TSL_OK)
            bench_die("tsl_store_alloc", r, &err);
        size_t len = (size_t)k * sizeof *buf;
        if (write(out_fd, buf, len) != (ssize_t)len)
            _exit(1);
    }
    tsl_store_close(st);
    free(buf);
    _exit(0);
}

int bench_store_alloc(uint64_t n, unsigned bits, const char *db, const char *key,
                      uint64_t procs, uint64_t per_proc, uint64_t per_call)
{
    char id[64];
    snprintf(id, sizeof id, "alloc-%ld", (long)getpid());
    create_list(db, id, n, bits, key);
    uint64_t total = procs * per_proc;
    uint64_t *all = malloc((size_t)total * sizeof *all);
    pid_t *kids = calloc((size_t)procs, sizeof *kids);
    FILE **outs = calloc((size_t)procs, sizeof *outs);
    int start[2];
    if (all == NULL || kids == NULL || outs == NULL || pipe(start) != 0) {
        fprintf(stderr, "bench: store_alloc: out of memory\n");
        return 1;
    }
    /* Each child's indices go to a temporary file (a pipe could fill up and stall it
     * while the parent waits). */
    for (uint64_t p = 0; p < procs; p++) {
        outs[p] = tmpfile();
        if (outs[p] == NULL) {
            fprintf(stderr, "bench: tmpfile: %s\n", strerror(errno));
            return 1;
        }
        fflush(stdout);
        kids[p] = fork();
        if (kids[p] == 0) {
            close(start[1]);
            alloc_child(db, id, per_proc, per_call, start[0], fileno(outs[p]));
        }
        if (kids[p] < 0) {
            fprintf(stderr, "bench: fork: %s\n", strerror(errno));
            return 1;
        }
    }
    close(start[0]);
    /* Let the children open their handles before the clock starts. */
    usleep(300000);
    double t0 = bench_now();
    for (uint64_t p = 0; p < procs; p++)
        if (write(start[1], "g", 1) != 1)
            return 1;
    int failed = 0;
    for (uint64_t p = 0; p < procs; p++) {
        int ws = 0;
        if (waitpid(kids[p], &ws, 0) < 0 || !WIFEXITED(ws) || WEXITSTATUS(ws) != 0)
            failed = 1;
    }
    double secs = bench_now() - t0;
    close(start[1]);
    uint64_t got = 0;
    for (uint64_t p = 0; p < procs; p++) {
        rewind(outs[p]);
        got += fread(all + got, sizeof *all, (size_t)(total - got), outs[p]);
        fclose(outs[p]);
    }
    qsort(all, (size_t)got, sizeof *all, cmp_u64);
    uint64_t distinct = got > 0;
    for (uint64_t k = 1; k < got; k++)
        distinct += all[k] != all[k - 1];
    printf("{\"case\":\"store_alloc_concurrent\",\"backend\":\"%s\",\"n\":%llu,\"bits\":%u,"
           "\"procs\":%llu,\"per_proc\":%llu,\"per_call\":%llu,\"indices\":%llu,"
           "\"distinct\":%llu,\"seconds\":%.3f,\"indices_per_s\":%.0f,"
           "\"calls_per_s\":%.0f}\n",
           backend_name(db), (unsigned long long)n, bits, (unsigned long long)procs,
           (unsigned long long)per_proc, (unsigned long long)per_call,
           (unsigned long long)got, (unsigned long long)distinct, secs,
           secs > 0 ? (double)got / secs : 0.0,
           secs > 0 ? (double)got / (double)per_call / secs : 0.0);
    free(all);
    free(kids);
    free(outs);
    if (failed || got != total || distinct != total) {
        fprintf(stderr, "bench: store_alloc: %llu indices, %llu distinct, of %llu%s\n",
                (unsigned long long)got, (unsigned long long)distinct,
                (unsigned long long)total, failed ? "; a process failed" : "");
        return 1;
    }
    return 0;
}
