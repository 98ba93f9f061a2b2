/* bench_idlist.c - identifier lists in `make bench` (BENCH_ONLY=idlist): a list of N
 * random 16-byte identifiers signed (ES256) into FILE by one process (bench idlist_gen
 * N 1 FILE), then parsed by another (bench idlist N 1 FILE), so that the peak RSS
 * reported is the parse's own: tsl_idlist_parse best of 3, then 10^6 membership
 * queries (half of them listed), one JSON line each. */
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IDL_ID_LEN 16
#define IDL_QUERIES 1000000

static void fill(uint8_t *ids, uint64_t n)
{
    uint64_t s = BENCH_SEED;
    for (uint64_t i = 0; i < n * IDL_ID_LEN; i += 8) {
        uint64_t r = bench_xorshift64(&s);
        memcpy(ids + i, &r, 8);
    }
}

int bench_idlist_gen(uint64_t n, const char *file)
{
    uint8_t *ids = malloc(n * IDL_ID_LEN);
    const uint8_t **ptr = malloc(n * sizeof *ptr);
    size_t *lens = malloc(n * sizeof *lens);
    if (ids == NULL || ptr == NULL || lens == NULL)
        bench_die("out of memory", TSL_ERR_NOMEM, NULL);
    fill(ids, n);
    for (uint64_t i = 0; i < n; i++) {
        ptr[i] = ids + i * IDL_ID_LEN;
        lens[i] = IDL_ID_LEN;
    }
    tsl_key *k = NULL;
    tsl_signer *s = NULL;
    tsl_error err;
    tsl_error_clear(&err);
    tsl_status st = tsl_key_generate(TSL_ALG_ES256, &k, &err);
    if (st == TSL_OK)
        st = tsl_signer_from_key(k, TSL_ALG_ES256, NULL, NULL, &s, &err);
    if (st != TSL_OK)
        bench_die("key", st, &err);
    tsl_idlist_params p = {.sub = "https://bench.example/idl", .exp = 4000000000LL,
                           .ids = ptr, .id_lens = lens, .n = (size_t)n};
    uint8_t *out = NULL;
    size_t len = 0;
    double t0 = bench_now();
    st = tsl_idlist_sign(&p, s, &out, &len, &err);
    double t1 = bench_now();
    if (st != TSL_OK)
        bench_die("tsl_idlist_sign", st, &err);
    FILE *f = fopen(file, "wb");
    if (f == NULL || fwrite(out, 1, len, f) != len || fclose(f) != 0)
        bench_die("write", TSL_ERR_IO, NULL);
    printf("{\"case\":\"idlist_gen\",\"identifiers\":%llu,\"token_bytes\":%zu,"
           "\"sign_seconds\":%.4f,\"peak_rss_kb\":%ld}\n",
           (unsigned long long)n, len, t1 - t0, bench_peak_rss_kb());
    tsl_free(out);
    tsl_signer_free(s);
    tsl_key_free(k);
    free(ids);
    free(ptr);
    free(lens);
    return 0;
}

int bench_idlist(uint64_t n, const char *file)
{
    FILE *f = fopen(file, "rb");
    if (f == NULL)
        bench_die("open", TSL_ERR_IO, NULL);
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc((size_t)sz);
    if (buf == NULL || fread(buf, 1, (size_t)sz, f) != (size_t)sz)
        bench_die("read", TSL_ERR_IO, NULL);
    fclose(f);
    long rss_input = bench_peak_rss_kb();
    double best = 1e9;
    tsl_idlist *l = NULL;
    tsl_error err;
    tsl_error_clear(&err);
    for (int r = 0; r < REPEATS; r++) {
        tsl_idlist_free(l);
        l = NULL;
        double t0 = bench_now();
        tsl_status st = tsl_idlist_parse(buf, (size_t)sz, NULL, &l, &err);
        double t1 = bench_now();
        if (st != TSL_OK)
            bench_die("tsl_idlist_parse", st, &err);
        if (t1 - t0 < best)
            best = t1 - t0;
    }
    if (tsl_idlist_count(l) != n)
        bench_die("count", TSL_ERR_MALFORMED, NULL);
    /* Queries: even ones are listed identifiers, odd ones random. */
    uint8_t *ids = malloc(n * IDL_ID_LEN);
    if (ids == NULL)
        bench_die("out of memory", TSL_ERR_NOMEM, NULL);
    fill(ids, n);
    uint64_t s = 4242, hits = 0;
    double q0 = bench_now();
    for (uint64_t q = 0; q < IDL_QUERIES; q++) {
        uint64_t r = bench_xorshift64(&s);
        uint8_t probe[IDL_ID_LEN];
        if (q % 2 == 0) {
            memcpy(probe, ids + (r % n) * IDL_ID_LEN, IDL_ID_LEN);
        } else {
            memcpy(probe, &r, 8);
            memcpy(probe + 8, &q, 8);
        }
        hits += (uint64_t)tsl_idlist_contains(l, probe, IDL_ID_LEN);
    }
    double q1 = bench_now();
    printf("{\"case\":\"idlist_parse\",\"identifiers\":%llu,\"token_bytes\":%ld,"
           "\"parse_seconds\":%.4f,\"queries\":%d,\"query_ns\":%.1f,\"hits\":%llu,"
           "\"peak_rss_kb\":%ld,\"rss_before_parse_kb\":%ld}\n",
           (unsigned long long)n, sz, best, IDL_QUERIES, (q1 - q0) * 1e9 / IDL_QUERIES,
           (unsigned long long)hits, bench_peak_rss_kb(), rss_input);
    tsl_idlist_free(l);
    free(ids);
    free(buf);
    return hits >= IDL_QUERIES / 2 ? 0 : 1;
}
