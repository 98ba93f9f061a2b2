/* bench_incr.c - incremental publishing behind `make bench` (issue 15 part B), run by
 * tests/bench_incr.sh on each backend in the same run: DB an SQLite file or a
 * postgresql:// URL, KEY the list's signing key file.
 *
 *   bench store_publish N BITS DB KEY [RUNS]
 *       a stored list of N entries of BITS, the documented generator's (bench_generate:
 *       N/100 draws seeded 42) written as one tsl_store_update(); then
 *         full      a publication from scratch (every stored segment dropped first),
 *                   RUNS times (default 3): what every publication cost before;
 *         one       one status change (committed), then the publication of JWT and
 *                   CWT, RUNS * 3 times;
 *         changes   10^4 random changes in one tsl_store_update(), then the
 *                   publication, RUNS times.
 *       Every change sets its entry to a value other than the one it has (the bench
 *       keeps a copy of the list to know it).
 *       Each publication is timed from the call to its return (the tokens committed:
 *       servable by every reader), with its phases: read (segment rows and the chunks
 *       to encode, in the snapshot's transaction), encode, join, sign (JWT and CWT),
 *       write (the transaction recording the tokens and the segments). One JSON line
 *       per kind: best, median, worst ms, the phases of the median run, and
 *       ratio_to_full (median over the full publication's median).
 *
 * Changed indices come from xorshift64 seeded 44 (one) and 45 (changes). */
#include "bench.h"
#include "store/backend.h"
#include "store/store_segments.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    double ms;
    tslp_stream_stats s;
    double sign_ms;
} run;

static int cmp_run(const void *a, const void *b)
{
    double x = ((const run *)a)->ms, y = ((const run *)b)->ms;
    return x < y ? -1 : x > y;
}

static int64_t now_s = 1800000000;

static run publish_once(tsl_store *st, const char *id)
{
    run r;
    memset(&r, 0, sizeof r);
    tslp_store_publish_stats(&r.s, &r.sign_ms);
    tsl_publish_result res;
    tsl_error err;
    tsl_error_clear(&err);
    /* A later now each time: never "fresh" (PostgreSQL's drop_fresh window). */
    now_s += 120;
    double t0 = bench_now();
    tsl_status rc = tsl_store_publish_ex(st, id, 0, now_s, -1, &res, &err);
    r.ms = (bench_now() - t0) * 1e3;
    tslp_store_publish_stats(NULL, NULL);
    if (rc != TSL_OK)
        bench_die("tsl_store_publish_ex", rc, &err);
    if (res.recorded != (TSL_PUBLISH_JWT | TSL_PUBLISH_CWT)) {
        fprintf(stderr, "bench: the publication recorded %#x\n", res.recorded);
        exit(1);
    }
    return r;
}

static void drop_segments(tsl_store *st, const char *id)
{
    tsl_error err;
    tsl_error_clear(&err);
    tsl_status r = tslp_store_begin(st, true, &err);
    if (r == TSL_OK && (r = st->be->segment_drop(st, id, UINT64_MAX, &err)) == TSL_OK)
        r = tslp_store_commit(st, &err);
    else
        tslp_store_rollback(st);
    if (r != TSL_OK)
        bench_die("dropping the segments", r, &err);
}

static double report(const char *backend, uint64_t n, unsigned bits, const char *kind,
                     uint64_t changes, run *rs, size_t k, double full_median)
{
    qsort(rs, k, sizeof *rs, cmp_run);
    const run *m = &rs[k / 2];
    printf("{\"case\":\"store_publish\",\"backend\":\"%s\",\"n\":%llu,\"bits\":%u,"
           "\"kind\":\"%s\",\"changes\":%llu,\"runs\":%zu,\"ms_best\":%.1f,"
           "\"ms_median\":%.1f,\"ms_worst\":%.1f,\"read_ms\":%.1f,\"encode_ms\":%.1f,"
           "\"join_ms\":%.1f,\"sign_ms\":%.1f,\"write_ms\":%.1f,\"segments_encoded\":%llu,"
           "\"segments_reused\":%llu,\"ratio_to_full\":%.4f,\"peak_rss_kb\":%ld}\n",
           backend, (unsigned long long)n, bits, kind, (unsigned long long)changes, k,
           rs[0].ms, m->ms, rs[k - 1].ms, m->s.read_ms, m->s.encode_ms, m->s.join_ms,
           m->sign_ms, m->s.write_ms, (unsigned long long)m->s.encoded,
           (unsigned long long)m->s.reused, full_median > 0 ? m->ms / full_median : 1.0,
           bench_peak_rss_kb());
    fflush(stdout);
    return m->ms;
}

/* count changes at indices drawn from s, each to a value other than the entry's
 * (tracked in l, the bench's copy of the stored list): a draw that set an entry to the
 * value it had would publish nothing new for it, and about half of them did. */
static void change(tsl_store *st, const char *id, tsl_list *l, uint64_t n, unsigned bits,
                   uint64_t *s, uint64_t count)
{
    tsl_batch *b = NULL;
    tsl_error err;
    tsl_error_clear(&err);
    tsl_status r = tsl_batch_new(bits, n, &b, &err);
    unsigned maxv = (1u << bits) - 1;
    for (uint64_t k = 0; r == TSL_OK && k < count; k++) {
        uint64_t x = bench_xorshift64(s);
        unsigned cur = 0;
        tsl_list_get(l, x % n, &cur, NULL);
        unsigned v = (cur + 1 + (unsigned)((x >> 32) % maxv)) % (maxv + 1);
        if ((r = tsl_list_set(l, x % n, v, &err)) == TSL_OK)
            r = tsl_batch_add(b, x % n, x % n, v, 0, &err);
    }
    if (r == TSL_OK)
        r = tsl_store_update(st, id, b, 1, 0, "bench", NULL, &err);
    tsl_batch_free(b);
    if (r != TSL_OK)
        bench_die("tsl_store_update", r, &err);
}

int bench_store_publish(uint64_t n, unsigned bits, const char *db, const char *key,
                        uint64_t runs)
{
    const char *backend = strncmp(db, "postgres", 8) == 0 ? "postgresql" : "sqlite";
    char id[64], uri[160];
    snprintf(id, sizeof id, "pub-%ld", (long)getpid());
    snprintf(uri, sizeof uri, "https://bench.example/sl/%s", id);
    tsl_store *st = NULL;
    tsl_error err;
    tsl_error_clear(&err);
    tsl_status r = tsl_store_open(db, &st, &err);
    if (r != TSL_OK)
        bench_die("opening the store", r, &err);
    tsl_list_spec in;
    memset(&in, 0, sizeof in);
    in.id = id;
    in.uri = uri;
    in.bits = bits;
    in.size = n;
    in.key_path = key;
    in.create_flags = TSL_CREATE_LARGE;
    if ((r = tsl_store_list_create(st, &in, &err)) != TSL_OK)
        bench_die("creating the list", r, &err);
    /* The generator's list, as one batch. */
    tsl_list *l = bench_generate(n, bits);
    tsl_batch *b = NULL;
    if ((r = tsl_batch_new(bits, n, &b, &err)) != TSL_OK)
        bench_die("tsl_batch_new", r, &err);
    for (uint64_t i = 0; r == TSL_OK && i < n; i++) {
        unsigned v = 0;
        tsl_list_get(l, i, &v, NULL);
        if (v != 0)
            r = tsl_batch_add(b, i, i, v, 0, &err);
    }
    if (r == TSL_OK)
        r = tsl_store_update(st, id, b, 1, 0, "bench", NULL, &err);
    tsl_batch_free(b);
    if (r != TSL_OK)
        bench_die("filling the list", r, &err);

    if (runs < 1)
        runs = 1;
    run *rs = calloc(3 * runs, sizeof *rs);
    if (rs == NULL)
        bench_die("out of memory", TSL_ERR_NOMEM, NULL);
    for (uint64_t k = 0; k < runs; k++) {
        drop_segments(st, id);
        rs[k] = publish_once(st, id);
    }
    double full = report(backend, n, bits, "full", 0, rs, (size_t)runs, 0);
    uint64_t s1 = BENCH_SEED + 2, s2 = BENCH_SEED + 3;
    for (uint64_t k = 0; k < 3 * runs; k++) {
        change(st, id, l, n, bits, &s1, 1);
        rs[k] = publish_once(st, id);
    }
    report(backend, n, bits, "one", 1, rs, (size_t)(3 * runs), full);
    for (uint64_t k = 0; k < runs; k++) {
        change(st, id, l, n, bits, &s2, 10000);
        rs[k] = publish_once(st, id);
    }
    report(backend, n, bits, "changes", 10000, rs, (size_t)runs, full);
    free(rs);
    tsl_list_free(l);
    tsl_store_close(st);
    return 0;
}
