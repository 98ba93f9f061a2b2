/* bench.c - the performance benchmark behind `make bench` (run by tests/bench.sh, one
 * case per process so that each peak RSS belongs to one case). Prints one JSON line.
 *
 *   bench encode N BITS [LEVEL [OUT]]  build + compress + base64url; LEVEL 0 = default;
 *                                      OUT receives the lst text (not timed)
 *   bench decode N BITS [FILE [LEVEL]] base64url decode + inflate until the list is
 *                                      ready to query, best of 3; FILE is the lst text
 *                                      of `bench encode` and LEVEL the level it used
 *                                      (only reported); without FILE the list is
 *                                      encoded in-process first (at the default level),
 *                                      which then counts in peak_rss_kb
 *   bench lookup N BITS [COUNT]        COUNT (default 10^7) tsl_list_get at random
 *                                      indices, best of 3, with a checksum of the values
 *   bench zlib N BITS [LEVEL]          reference only, not run by bench.sh: the same
 *                                      list through stock zlib compress2() (default
 *                                      level 9), to compare with libdeflate
 *   bench gen N BITS                   prints "IDX VALUE" for every non-zero entry of
 *                                      the generated list, ascending: input for
 *                                      `tsl encode`
 *
 * The generator (documented in BENCHMARKS.md): a list of N entries of BITS bits, all 0,
 * then N/100 draws of xorshift64 (shifts 13, 7, 17) from seed 42. Draw r sets entry
 * r % N to 1 (BITS 1) or to 1 + (r >> 32) % (2^BITS - 1) (so 1..255 for BITS 8). The
 * draws are with replacement, so slightly fewer than N/100 distinct entries are set
 * (about 0.5% of the draws repeat an index); "set_entries" in the output is the exact
 * count. Lookup indices come from a second xorshift64 stream, seed 4242, r % N.
 *
 * Peak RSS is getrusage(RUSAGE_SELF).ru_maxrss (KiB on Linux). Times are wall clock
 * (CLOCK_MONOTONIC); encode also reports cpu_seconds (CLOCK_PROCESS_CPUTIME_ID) for a
 * machine where other processes compete for the cores. */
#include "tsl.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <zlib.h>

#define BENCH_SEED 42
#define LOOKUP_SEED 4242
#define LOOKUP_DEFAULT 10000000
#define REPEATS 3

static uint64_t xorshift64(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    return x;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU time of this process: unlike wall time, barely moved by other processes competing
 * for the cores, so a loaded machine can still be compared with the targets. */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long peak_rss_kb(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return -1;
    return ru.ru_maxrss;
}

static void die(const char *what, tsl_status st, const tsl_error *err)
{
    fprintf(stderr, "bench: %s: %s%s%s\n", what, tsl_strerror(st),
            err != NULL && err->msg[0] ? ": " : "", err != NULL ? err->msg : "");
    exit(1);
}

static uint64_t parse_u64(const char *s, const char *what)
{
    char *end = NULL;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || *end != '\0' || s[0] == '-') {
        fprintf(stderr, "bench: bad %s '%s'\n", what, s);
        exit(2);
    }
    return (uint64_t)v;
}

/* Builds the documented list: N/100 seeded draws, with replacement. */
static tsl_list *generate(uint64_t n, unsigned bits)
{
    tsl_list *l = NULL;
    tsl_error err;
    tsl_error_clear(&err);
    tsl_status st = tsl_list_new(bits, n, &l, &err);
    if (st != TSL_OK)
        die("tsl_list_new", st, &err);
    uint64_t s = BENCH_SEED, draws = n / 100;
    unsigned maxv = (1u << bits) - 1;
    for (uint64_t k = 0; k < draws; k++) {
        uint64_t r = xorshift64(&s);
        unsigned v = bits == 1 ? 1 : 1 + (unsigned)((r >> 32) % maxv);
        st = tsl_list_set(l, r % n, v);
        if (st != TSL_OK)
            die("tsl_list_set", st, NULL);
    }
    return l;
}

static uint64_t set_entries(const tsl_list *l)
{
    uint64_t counts[256];
    tsl_list_count(l, counts);
    return tsl_list_size(l) - counts[0];
}

static int effective_level(int level)
{
    return level == 0 ? TSL_LEVEL_DEFAULT : level;
}

static char *encode_lst(const tsl_list *l, int level, size_t *zlen, size_t *lst_len,
                        double *t_compress, double *t_b64)
{
    tsl_error err;
    tsl_error_clear(&err);
    uint8_t *z = NULL;
    char *lst = NULL;
    double t0 = now();
    tsl_status st = tsl_list_compress(l, level, &z, zlen, &err);
    if (st != TSL_OK)
        die("tsl_list_compress", st, &err);
    double t1 = now();
    st = tsl_b64url_encode(z, *zlen, &lst, lst_len, &err);
    if (st != TSL_OK)
        die("tsl_b64url_encode", st, &err);
    double t2 = now();
    tsl_free(z);
    *t_compress = t1 - t0;
    *t_b64 = t2 - t1;
    return lst;
}

static int cmd_encode(uint64_t n, unsigned bits, int level, const char *out)
{
    double c0 = cpu_now(), t0 = now();
    tsl_list *l = generate(n, bits);
    double t1 = now();
    size_t zlen = 0, lst_len = 0;
    double tc = 0, tb = 0;
    char *lst = encode_lst(l, level, &zlen, &lst_len, &tc, &tb);
    double t2 = now(), c2 = cpu_now();
    uint64_t set = set_entries(l);
    tsl_list_free(l);
    if (out != NULL) {
        FILE *f = fopen(out, "wb");
        if (f == NULL || fwrite(lst, 1, lst_len, f) != lst_len || fclose(f) != 0) {
            fprintf(stderr, "bench: cannot write %s\n", out);
            return 1;
        }
    }
    tsl_free(lst);
    printf("{\"case\":\"encode\",\"n\":%" PRIu64 ",\"bits\":%u,\"level\":%d,"
           "\"set_entries\":%" PRIu64 ",\"seconds\":%.6f,\"cpu_seconds\":%.6f,"
           "\"build_seconds\":%.6f,\"compress_seconds\":%.6f,\"b64_seconds\":%.6f,"
           "\"compressed_bytes\":%zu,\"lst_chars\":%zu,\"peak_rss_kb\":%ld}\n",
           n, bits, effective_level(level), set, t2 - t0, c2 - c0, t1 - t0, tc, tb, zlen,
           lst_len, peak_rss_kb());
    return 0;
}

static char *read_text(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "bench: cannot open %s\n", path);
        exit(2);
    }
    size_t cap = 1 << 20, n = 0, r;
    char *buf = malloc(cap);
    while (buf != NULL && (r = fread(buf + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            char *nb = realloc(buf, cap * 2);
            if (nb == NULL)
                free(buf);
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf == NULL) {
        fprintf(stderr, "bench: out of memory reading %s\n", path);
        exit(2);
    }
    *len = n;
    return buf;
}

static int cmd_decode(uint64_t n, unsigned bits, const char *in, int level)
{
    size_t lst_len = 0;
    char *lst;
    if (in != NULL) {
        lst = read_text(in, &lst_len);
    } else {
        tsl_list *src = generate(n, bits);
        size_t zlen = 0;
        double tc, tb;
        char *enc = encode_lst(src, 0, &zlen, &lst_len, &tc, &tb);
        tsl_list_free(src);
        lst = malloc(lst_len ? lst_len : 1);
        if (lst == NULL)
            die("malloc", TSL_ERR_NOMEM, NULL);
        memcpy(lst, enc, lst_len);
        tsl_free(enc);
    }

    tsl_limits lim;
    tsl_limits_default(&lim);
    /* The bench lists reach 100 MB (10^8 entries of 8 bits), past the 64 MiB default. */
    lim.max_input = lst_len + 1;
    lim.max_inflated = (size_t)((n * bits + 7) / 8);

    double best = 0, best_b64 = 0, best_inflate = 0;
    size_t zlen = 0;
    uint64_t size = 0, set = 0;
    for (int rep = 0; rep < REPEATS; rep++) {
        tsl_error err;
        tsl_error_clear(&err);
        uint8_t *z = NULL;
        tsl_list *l = NULL;
        double t0 = now();
        tsl_status st = tsl_b64url_decode(lst, lst_len, &z, &zlen, &err);
        if (st != TSL_OK)
            die("tsl_b64url_decode", st, &err);
        double t1 = now();
        st = tsl_list_decompress(bits, z, zlen, &lim, &l, &err);
        if (st != TSL_OK)
            die("tsl_list_decompress", st, &err);
        double t2 = now();
        tsl_free(z);
        if (rep == 0 || t2 - t0 < best) {
            best = t2 - t0;
            best_b64 = t1 - t0;
            best_inflate = t2 - t1;
        }
        size = tsl_list_size(l);
        if (rep == 0)
            set = set_entries(l);
        tsl_list_free(l);
    }
    free(lst);
    if (size < n) {
        fprintf(stderr, "bench: decoded %" PRIu64 " entries, expected at least %" PRIu64
                        "\n", size, n);
        return 1;
    }
    printf("{\"case\":\"decode\",\"n\":%" PRIu64 ",\"bits\":%u,\"level\":%d,"
           "\"set_entries\":%" PRIu64 ",\"runs\":%d,\"seconds\":%.6f,\"b64_seconds\":%.6f,"
           "\"inflate_seconds\":%.6f,\"compressed_bytes\":%zu,\"lst_chars\":%zu,"
           "\"peak_rss_kb\":%ld}\n",
           n, bits, level, set, REPEATS, best, best_b64, best_inflate, zlen, lst_len,
           peak_rss_kb());
    return 0;
}

static int cmd_lookup(uint64_t n, unsigned bits, uint64_t count)
{
    tsl_list *l = generate(n, bits);
    /* Indices are drawn before timing so that only tsl_list_get is measured. */
    uint64_t *idx = malloc(count * sizeof *idx);
    if (idx == NULL)
        die("malloc", TSL_ERR_NOMEM, NULL);
    uint64_t s = LOOKUP_SEED;
    for (uint64_t k = 0; k < count; k++)
        idx[k] = xorshift64(&s) % n;

    double best = 0;
    uint64_t checksum = 0;
    for (int rep = 0; rep < REPEATS; rep++) {
        uint64_t sum = 0, bad = 0;
        double t0 = now();
        for (uint64_t k = 0; k < count; k++) {
            unsigned v = 0;
            bad += tsl_list_get(l, idx[k], &v) != TSL_OK;
            sum += v;
        }
        double t = now() - t0;
        if (bad != 0) {
            fprintf(stderr, "bench: %" PRIu64 " lookups failed\n", bad);
            return 1;
        }
        if (rep == 0 || t < best)
            best = t;
        checksum = sum;
    }
    free(idx);
    tsl_list_free(l);
    printf("{\"case\":\"lookup\",\"n\":%" PRIu64 ",\"bits\":%u,\"lookups\":%" PRIu64
           ",\"runs\":%d,\"seconds\":%.6f,\"lookups_per_second\":%.0f,\"checksum\":%" PRIu64
           ",\"peak_rss_kb\":%ld}\n",
           n, bits, count, REPEATS, best, best > 0 ? (double)count / best : 0.0, checksum,
           peak_rss_kb());
    return 0;
}

static int cmd_zlib(uint64_t n, unsigned bits, int level)
{
    tsl_list *l = generate(n, bits);
    size_t len = 0;
    const uint8_t *b = tsl_list_bytes(l, &len);
    uLongf zlen = compressBound((uLong)len);
    uint8_t *z = malloc(zlen);
    if (z == NULL)
        die("malloc", TSL_ERR_NOMEM, NULL);
    double c0 = cpu_now(), t0 = now();
    int rc = compress2(z, &zlen, b, (uLong)len, level);
    double t1 = now(), c1 = cpu_now();
    free(z);
    tsl_list_free(l);
    if (rc != Z_OK) {
        fprintf(stderr, "bench: compress2 failed (%d)\n", rc);
        return 1;
    }
    printf("{\"case\":\"zlib_compress\",\"n\":%" PRIu64 ",\"bits\":%u,\"level\":%d,"
           "\"compress_seconds\":%.6f,\"cpu_seconds\":%.6f,\"compressed_bytes\":%lu,"
           "\"peak_rss_kb\":%ld}\n",
           n, bits, level, t1 - t0, c1 - c0, (unsigned long)zlen, peak_rss_kb());
    return 0;
}

static int cmd_gen(uint64_t n, unsigned bits)
{
    tsl_list *l = generate(n, bits);
    size_t len = 0;
    const uint8_t *b = tsl_list_bytes(l, &len);
    unsigned per = 8 / bits, mask = (1u << bits) - 1;
    for (size_t i = 0; i < len; i++) {
        if (b[i] == 0)
            continue;
        for (unsigned j = 0; j < per; j++) {
            unsigned v = (b[i] >> (j * bits)) & mask;
            uint64_t e = (uint64_t)i * per + j;
            if (v != 0 && e < n)
                printf("%" PRIu64 " %u\n", e, v);
        }
    }
    tsl_list_free(l);
    return fflush(stdout) == 0 && !ferror(stdout) ? 0 : 1;
}

static void usage(void)
{
    fprintf(stderr, "usage: bench encode N BITS [LEVEL [OUT]]\n"
                    "       bench decode N BITS [FILE [LEVEL]]\n"
                    "       bench lookup N BITS [COUNT]\n"
                    "       bench zlib N BITS [LEVEL]\n"
                    "       bench gen N BITS\n");
    exit(2);
}

int main(int argc, char **argv)
{
    if (argc < 4)
        usage();
    uint64_t n = parse_u64(argv[2], "N");
    uint64_t bits = parse_u64(argv[3], "BITS");
    if (n == 0 || (bits != 1 && bits != 2 && bits != 4 && bits != 8)) {
        fprintf(stderr, "bench: N must be > 0 and BITS 1, 2, 4 or 8\n");
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "encode") == 0 && argc <= 6) {
        uint64_t level = argc > 4 ? parse_u64(argv[4], "LEVEL") : 0;
        if (level > 12)
            usage();
        return cmd_encode(n, (unsigned)bits, (int)level, argc > 5 ? argv[5] : NULL);
    }
    if (strcmp(cmd, "decode") == 0 && argc <= 6) {
        uint64_t level = argc > 5 ? parse_u64(argv[5], "LEVEL") : 0;
        if (level > 12)
            usage();
        return cmd_decode(n, (unsigned)bits, argc > 4 ? argv[4] : NULL,
                          effective_level((int)level));
    }
    if (strcmp(cmd, "lookup") == 0 && argc <= 5) {
        uint64_t count = argc > 4 ? parse_u64(argv[4], "COUNT") : LOOKUP_DEFAULT;
        if (count == 0)
            usage();
        return cmd_lookup(n, (unsigned)bits, count);
    }
    if (strcmp(cmd, "zlib") == 0 && argc <= 5) {
        uint64_t level = argc > 4 ? parse_u64(argv[4], "LEVEL") : 9;
        if (level > 9)
            usage();
        return cmd_zlib(n, (unsigned)bits, (int)level);
    }
    if (strcmp(cmd, "gen") == 0 && argc == 4)
        return cmd_gen(n, (unsigned)bits);
    usage();
    return 2;
}
