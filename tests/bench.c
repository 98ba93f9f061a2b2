/* bench.c - the performance benchmark behind `make bench` (run by tests/bench.sh, one
 * case per process so that each peak RSS belongs to one case). Prints one JSON line.
 *
 *   bench encode N BITS [LEVEL [OUT]]  build + compress + base64url; LEVEL 0 = default;
 *                                      OUT receives the lst text (not timed)
 *   bench encode_shape N BITS SHAPE    compression alone at the default level of a list
 *                                      of another shape than the generator's, with the
 *                                      generator's list compressed in the same process
 *                                      as the baseline: SHAPE period13 (the packed bytes
 *                                      a 13-byte pattern with 3 non-zero bytes, tiled),
 *                                      period28 (28 bytes, 2 non-zero) or stride (every
 *                                      97th entry 1, as a regular allocation leaves)
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
 *   bench idlist_gen N 1 FILE / bench idlist N 1 FILE
 *                                      an identifier list of N 16-byte identifiers:
 *                                      signed into FILE, then parsed and queried
 *                                      (tests/bench_idlist.c)
 *   bench gen N BITS                   prints "IDX VALUE" for every non-zero entry of
 *                                      the generated list, ascending: input for
 *                                      `tsl encode`
 *   bench token N BITS FORMAT ALG      a Status List Token of the list (FORMAT jwt or
 *                                      cwt, ALG ES256 or EdDSA): signs per second
 *                                      (compression included), the decode (parse and
 *                                      inflate) on its own, verifications per second of
 *                                      the parsed token, and a bare OpenSSL verify of
 *                                      the same bytes and signature for comparison
 *   bench sign N BITS ALG DIR          signing a JWT of the list already compressed
 *                                      (tsl_list_precompress, as the publisher does):
 *                                      the median ms of tsl_token_sign over >= 1 s; DIR
 *                                      receives key.pem (PKCS#8), claims.json (the
 *                                      payload tsl signed) and header.json, for
 *                                      tests/bench_jose.mjs to sign the same payload
 *   bench verify_warm N BITS [kb]      tsl_verifier_check() of an ES256 SD-JWT VC in a
 *                                      loop on one thread, its Status List Token in the
 *                                      verifier's memory cache after the first check;
 *                                      kb: with a key-binding JWT (tests/bench_verify.c)
 *   bench verify_cold N BITS URL KEY [COUNT]
 *                                      COUNT (default 200) fresh verifiers, each with one
 *                                      check whose list token is fetched from URL (a
 *                                      `tsl serve` of the generator list) with the
 *                                      built-in libcurl client; KEY is the list's public
 *                                      key; min, median, p90, p99, max ms
 *   bench store_bulk N BITS DB KEY [CHANGES]
 *   bench store_set N BITS DB KEY [RUNS]
 *   bench store_alloc N BITS DB KEY [PROCS [PER_PROC [PER_CALL]]]
 *                                      the issuer store on SQLite or PostgreSQL: a bulk
 *                                      update and concurrent allocation
 *                                      (tests/bench_store.c)
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
#include "bench.h"
#include "crypto/ossl_int.h"
#include "token/token_int.h"
#include "tsl.h"

#include <openssl/ecdsa.h>
#include <openssl/evp.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <zlib.h>

#define LOOKUP_SEED 4242
#define LOOKUP_DEFAULT 10000000

uint64_t bench_xorshift64(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    return x;
}

double bench_now(void)
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

long bench_peak_rss_kb(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return -1;
    return ru.ru_maxrss;
}

void bench_die(const char *what, tsl_status st, const tsl_error *err)
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

/* Builds the documented list: N/100 seeded draws, with replacement (N * BENCH_PER10K /
 * 10,000 when that is set, 1 to 10000: another density for every case). */
tsl_list *bench_generate(uint64_t n, unsigned bits)
{
    const char *e = getenv("BENCH_PER10K");
    unsigned per = 100;
    if (e != NULL) {
        char *end = NULL;
        unsigned long v = strtoul(e, &end, 10);
        if (end == e || *end != '\0' || v < 1 || v > 10000) {
            fprintf(stderr, "bench: BENCH_PER10K must be 1 to 10000\n");
            exit(2);
        }
        per = (unsigned)v;
    }
    return bench_generate_per(n, bits, per);
}

tsl_list *bench_generate_per(uint64_t n, unsigned bits, unsigned per10k)
{
    tsl_list *l = NULL;
    tsl_error err;
    tsl_error_clear(&err);
    tsl_status st = tsl_list_new(bits, n, &l, &err);
    if (st != TSL_OK)
        bench_die("tsl_list_new", st, &err);
    uint64_t s = BENCH_SEED, draws = per10k == 100 ? n / 100 : n * per10k / 10000;
    unsigned maxv = (1u << bits) - 1;
    for (uint64_t k = 0; k < draws; k++) {
        uint64_t r = bench_xorshift64(&s);
        unsigned v = bits == 1 ? 1 : 1 + (unsigned)((r >> 32) % maxv);
        st = tsl_list_set(l, r % n, v, NULL);
        if (st != TSL_OK)
            bench_die("tsl_list_set", st, NULL);
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
    double t0 = bench_now();
    tsl_status st = tsl_list_compress(l, level, &z, zlen, &err);
    if (st != TSL_OK)
        bench_die("tsl_list_compress", st, &err);
    double t1 = bench_now();
    st = tsl_b64url_encode(z, *zlen, &lst, lst_len, &err);
    if (st != TSL_OK)
        bench_die("tsl_b64url_encode", st, &err);
    double t2 = bench_now();
    tsl_free(z);
    *t_compress = t1 - t0;
    *t_b64 = t2 - t1;
    return lst;
}

static int cmd_encode(uint64_t n, unsigned bits, int level, const char *out)
{
    double c0 = cpu_now(), t0 = bench_now();
    tsl_list *l = bench_generate(n, bits);
    double t1 = bench_now();
    size_t zlen = 0, lst_len = 0;
    double tc = 0, tb = 0;
    char *lst = encode_lst(l, level, &zlen, &lst_len, &tc, &tb);
    double t2 = bench_now(), c2 = cpu_now();
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
           lst_len, bench_peak_rss_kb());
    return 0;
}

/* A list of n entries of bits in one of the shapes of `bench encode_shape`, or NULL. */
static tsl_list *shaped_list(uint64_t n, unsigned bits, const char *shape)
{
    static const uint8_t p13[13] = {0, 0, 0, 0x40, 0, 0, 0, 0, 0, 0x10, 0, 0, 1};
    static const uint8_t p28[28] = {[5] = 0x30, [17] = 0x03};
    size_t len = (size_t)((n * bits + 7) / 8);
    uint8_t *b = calloc(len > 0 ? len : 1, 1);
    if (b == NULL)
        bench_die("out of memory", TSL_ERR_NOMEM, NULL);
    if (strcmp(shape, "period13") == 0 || strcmp(shape, "period28") == 0) {
        const uint8_t *pat = shape[6] == '1' ? p13 : p28;
        size_t per = shape[6] == '1' ? sizeof p13 : sizeof p28;
        for (size_t i = 0; i < len; i++)
            b[i] = pat[i % per];
    } else if (strcmp(shape, "stride") != 0) {
        free(b);
        return NULL;
    }
    tsl_list *l = NULL;
    tsl_error err;
    tsl_error_clear(&err);
    tsl_status st = tsl_list_from_bytes(bits, b, len, &l, &err);
    free(b);
    for (uint64_t i = 0; st == TSL_OK && strcmp(shape, "stride") == 0 && i < n; i += 97)
        st = tsl_list_set(l, i, 1, &err);
    if (st != TSL_OK)
        bench_die("shaped list", st, &err);
    return l;
}

static int cmd_encode_shape(uint64_t n, unsigned bits, const char *shape)
{
    tsl_list *l = shaped_list(n, bits, shape);
    if (l == NULL) {
        fprintf(stderr, "bench: SHAPE is period13, period28 or stride\n");
        return 2;
    }
    tsl_list *base = bench_generate(n, bits);
    double t[2], c[2];
    size_t z[2];
    for (int k = 0; k < 2; k++) {
        tsl_error err;
        tsl_error_clear(&err);
        uint8_t *out = NULL;
        double c0 = cpu_now(), t0 = bench_now();
        tsl_status st = tsl_list_compress(k == 0 ? l : base, 0, &out, &z[k], &err);
        t[k] = bench_now() - t0;
        c[k] = cpu_now() - c0;
        if (st != TSL_OK)
            bench_die("tsl_list_compress", st, &err);
        tsl_free(out);
    }
    tsl_list_free(l);
    tsl_list_free(base);
    printf("{\"case\":\"encode_shape\",\"n\":%" PRIu64 ",\"bits\":%u,\"shape\":\"%s\","
           "\"compress_seconds\":%.6f,\"cpu_seconds\":%.6f,\"compressed_bytes\":%zu,"
           "\"generator_compress_seconds\":%.6f,\"generator_cpu_seconds\":%.6f,"
           "\"generator_bytes\":%zu,\"cpu_vs_generator\":%.3f}\n",
           n, bits, shape, t[0], c[0], z[0], t[1], c[1], z[1], c[1] > 0 ? c[0] / c[1] : 0.0);
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
        tsl_list *src = bench_generate(n, bits);
        size_t zlen = 0;
        double tc, tb;
        char *enc = encode_lst(src, 0, &zlen, &lst_len, &tc, &tb);
        tsl_list_free(src);
        lst = malloc(lst_len ? lst_len : 1);
        if (lst == NULL)
            bench_die("malloc", TSL_ERR_NOMEM, NULL);
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
        double t0 = bench_now();
        tsl_status st = tsl_b64url_decode(lst, lst_len, &z, &zlen, &err);
        if (st != TSL_OK)
            bench_die("tsl_b64url_decode", st, &err);
        double t1 = bench_now();
        st = tsl_list_decompress(bits, z, zlen, &lim, &l, &err);
        if (st != TSL_OK)
            bench_die("tsl_list_decompress", st, &err);
        double t2 = bench_now();
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
           bench_peak_rss_kb());
    return 0;
}

static int cmd_lookup(uint64_t n, unsigned bits, uint64_t count)
{
    tsl_list *l = bench_generate(n, bits);
    /* Indices are drawn before timing so that only tsl_list_get is measured. */
    uint64_t *idx = malloc(count * sizeof *idx);
    if (idx == NULL)
        bench_die("malloc", TSL_ERR_NOMEM, NULL);
    uint64_t s = LOOKUP_SEED;
    for (uint64_t k = 0; k < count; k++)
        idx[k] = bench_xorshift64(&s) % n;

    double best = 0;
    uint64_t checksum = 0;
    for (int rep = 0; rep < REPEATS; rep++) {
        uint64_t sum = 0, bad = 0;
        double t0 = bench_now();
        for (uint64_t k = 0; k < count; k++) {
            unsigned v = 0;
            bad += tsl_list_get(l, idx[k], &v, NULL) != TSL_OK;
            sum += v;
        }
        double t = bench_now() - t0;
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
           bench_peak_rss_kb());
    return 0;
}

static int cmd_zlib(uint64_t n, unsigned bits, int level)
{
    tsl_list *l = bench_generate(n, bits);
    size_t len = 0;
    const uint8_t *b = tsl_list_bytes(l, &len);
    uLongf zlen = compressBound((uLong)len);
    uint8_t *z = malloc(zlen);
    if (z == NULL)
        bench_die("malloc", TSL_ERR_NOMEM, NULL);
    double c0 = cpu_now(), t0 = bench_now();
    int rc = compress2(z, &zlen, b, (uLong)len, level);
    double t1 = bench_now(), c1 = cpu_now();
    free(z);
    tsl_list_free(l);
    if (rc != Z_OK) {
        fprintf(stderr, "bench: compress2 failed (%d)\n", rc);
        return 1;
    }
    printf("{\"case\":\"zlib_compress\",\"n\":%" PRIu64 ",\"bits\":%u,\"level\":%d,"
           "\"compress_seconds\":%.6f,\"cpu_seconds\":%.6f,\"compressed_bytes\":%lu,"
           "\"peak_rss_kb\":%ld}\n",
           n, bits, level, t1 - t0, c1 - c0, (unsigned long)zlen, bench_peak_rss_kb());
    return 0;
}

static int cmd_gen(uint64_t n, unsigned bits)
{
    tsl_list *l = bench_generate(n, bits);
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
                    "       bench encode_shape N BITS SHAPE\n"
                    "       bench decode N BITS [FILE [LEVEL]]\n"
                    "       bench lookup N BITS [COUNT]\n"
                    "       bench zlib N BITS [LEVEL]\n"
                    "       bench gen N BITS\n"
                    "       bench token N BITS jwt|cwt ES256|EdDSA\n"
                    "       bench verify_warm N BITS [kb]\n"
                    "       bench verify_cold N BITS URL KEYFILE [COUNT]\n"
                    "       bench store_bulk N BITS DB KEY [CHANGES]\n"
                    "       bench store_set N BITS DB KEY [RUNS]\n"
                    "       bench store_publish N BITS DB KEY [RUNS]\n"
                    "       bench price_tables 1 1\n"
                    "       bench store_alloc N BITS DB KEY [PROCS [PER_PROC [PER_CALL]]]\n");
    exit(2);
}

/* ECDSA raw r||s to DER, for the bare OpenSSL comparison. */
unsigned char *bench_raw_to_der(const uint8_t *sig, size_t len, size_t *der_len)
{
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, (int)(len / 2), NULL);
    BIGNUM *s = BN_bin2bn(sig + len / 2, (int)(len / 2), NULL);
    unsigned char *der = NULL;
    if (es == NULL || r == NULL || s == NULL || ECDSA_SIG_set0(es, r, s) != 1)
        return NULL;
    int n = i2d_ECDSA_SIG(es, &der);
    ECDSA_SIG_free(es);
    *der_len = n > 0 ? (size_t)n : 0;
    return n > 0 ? der : NULL;
}

/* One verification as an application calling OpenSSL directly would do it. */
int bench_bare_verify(EVP_PKEY *pk, const EVP_MD *md, const uint8_t *sig, size_t sig_len,
                      const uint8_t *msg, size_t len)
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    int ok = c != NULL && EVP_DigestVerifyInit(c, NULL, md, NULL, pk) == 1 &&
             EVP_DigestVerify(c, sig, sig_len, msg, len) == 1;
    EVP_MD_CTX_free(c);
    return ok;
}

static int cmd_token(uint64_t n, unsigned bits, const char *format, const char *alg_name)
{
    tsl_alg alg = tsl_alg_from_name(alg_name);
    tsl_format fmt = strcmp(format, "cwt") == 0 ? TSL_FORMAT_CWT : TSL_FORMAT_JWT;
    if (alg != TSL_ALG_ES256 && alg != TSL_ALG_EDDSA)
        usage();
    tsl_list *l = bench_generate(n, bits);
    tsl_error err;
    tsl_error_clear(&err);
    tsl_key *key = NULL;
    tsl_keyset *ks = NULL;
    tsl_status st = tsl_key_generate(alg, &key, &err);
    if (st == TSL_OK)
        st = tsl_keyset_new(&ks, &err);
    if (st == TSL_OK)
        st = tsl_keyset_add(ks, key, &err);
    if (st != TSL_OK)
        bench_die("key", st, &err);
    tsl_token_params p;
    memset(&p, 0, sizeof p);
    p.format = fmt;
    p.alg = alg;
    p.sub = "https://example.com/statuslists/bench";
    p.iat = 1700000000;
    p.exp = 1800000000;
    p.ttl = 3600;

    /* Signing: compression of the list included, as a publisher pays it. */
    const int sign_rounds = 5;
    uint8_t *tok = NULL;
    size_t tok_len = 0;
    double t0 = bench_now();
    for (int k = 0; k < sign_rounds; k++) {
        tsl_free(tok);
        if ((st = tsl_token_sign(l, &p, key, &tok, &tok_len, &err)) != TSL_OK)
            bench_die("sign", st, &err);
    }
    double sign_s = (bench_now() - t0) / sign_rounds;

    /* Decode: parse, base64url, inflate; best of 3. */
    double parse_s = 1e9;
    tsl_token *t = NULL;
    for (int k = 0; k < REPEATS; k++) {
        tsl_token_free(t);
        t = NULL;
        double a = bench_now();
        if ((st = tsl_token_parse(tok, tok_len, NULL, &t, &err)) != TSL_OK)
            bench_die("parse", st, &err);
        double d = bench_now() - a;
        if (d < parse_s)
            parse_s = d;
    }

    /* Verification of the parsed token, and the bare OpenSSL call on the same bytes. */
    const int rounds = 2000;
    tsl_verify_opts o;
    memset(&o, 0, sizeof o);
    o.policy.keys = ks;
    o.sub = p.sub;
    o.policy.now = 1700000100;
    double best_ours = 1e9, best_bare = 1e9;
    size_t sig_len = t->sig_len;
    unsigned char *sig = t->sig;
    unsigned char *der = NULL;
    const EVP_MD *md = NULL;
    if (alg == TSL_ALG_ES256) {
        der = bench_raw_to_der(t->sig, t->sig_len, &sig_len);
        sig = der;
        md = EVP_sha256();
    }
    for (int r = 0; r < REPEATS; r++) {
        double a = bench_now();
        for (int k = 0; k < rounds; k++)
            if ((st = tsl_token_verify(t, &o, &err)) != TSL_OK)
                bench_die("verify", st, &err);
        double ours = (bench_now() - a) / rounds;
        a = bench_now();
        for (int k = 0; k < rounds; k++)
            if (!bench_bare_verify(key->pkey, md, sig, sig_len, t->tbs, t->tbs_len))
                bench_die("bare verify", TSL_ERR_SIGNATURE, &err);
        double bare = (bench_now() - a) / rounds;
        if (ours < best_ours)
            best_ours = ours;
        if (bare < best_bare)
            best_bare = bare;
    }
    printf("{\"case\":\"token\",\"n\":%" PRIu64 ",\"bits\":%u,\"format\":\"%s\",\"alg\":\"%s\","
           "\"token_bytes\":%zu,\"sign_per_second\":%.1f,\"sign_seconds\":%.6f,"
           "\"decode_seconds\":%.6f,\"verify_per_second\":%.0f,"
           "\"openssl_verify_per_second\":%.0f,\"verify_cost_ratio\":%.3f,"
           "\"peak_rss_kb\":%ld}\n",
           n, bits, format, alg_name, tok_len, 1 / sign_s, sign_s, parse_s, 1 / best_ours,
           1 / best_bare, best_ours / best_bare, bench_peak_rss_kb());
    OPENSSL_free(der);
    tsl_token_free(t);
    tsl_free(tok);
    tsl_keyset_free(ks);
    tsl_key_free(key);
    tsl_list_free(l);
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void write_text(const char *dir, const char *name, const char *text, size_t n)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(text, 1, n, f) != n || fclose(f) != 0) {
        fprintf(stderr, "bench: cannot write %s\n", path);
        exit(2);
    }
}

/* Signing a precompressed list (the publisher's case: the list is compressed once per
 * publication, then signed as JWT and CWT). The median of rounds over >= 1 s. */
static int cmd_sign(uint64_t n, unsigned bits, const char *alg_name, const char *dir)
{
    tsl_alg alg = tsl_alg_from_name(alg_name);
    if (alg != TSL_ALG_ES256 && alg != TSL_ALG_EDDSA)
        usage();
    tsl_list *l = bench_generate(n, bits);
    tsl_error err;
    tsl_error_clear(&err);
    tsl_key *key = NULL;
    tsl_status st = tsl_key_generate(alg, &key, &err);
    if (st == TSL_OK)
        st = tsl_list_precompress(l, 0, &err);
    if (st != TSL_OK)
        bench_die("sign setup", st, &err);
    tsl_token_params p;
    memset(&p, 0, sizeof p);
    p.format = TSL_FORMAT_JWT;
    p.alg = alg;
    p.sub = "https://example.com/statuslists/bench";
    p.iat = 1700000000;
    p.exp = 1800000000;
    p.ttl = 3600;
    enum { MAX_ROUNDS = 100000 };
    static double t[MAX_ROUNDS];
    size_t rounds = 0;
    uint8_t *tok = NULL;
    size_t tok_len = 0;
    double start = bench_now();
    for (int warm = 0; warm < 3; warm++) {
        tsl_free(tok);
        if ((st = tsl_token_sign(l, &p, key, &tok, &tok_len, &err)) != TSL_OK)
            bench_die("sign", st, &err);
    }
    start = bench_now();
    while (rounds < MAX_ROUNDS && (rounds < 20 || bench_now() - start < 1.0)) {
        tsl_free(tok);
        double t0 = bench_now();
        if ((st = tsl_token_sign(l, &p, key, &tok, &tok_len, &err)) != TSL_OK)
            bench_die("sign", st, &err);
        t[rounds++] = bench_now() - t0;
    }
    qsort(t, rounds, sizeof t[0], cmp_double);
    /* What jose signs: the same claims and header, and the key. */
    const char *d1 = memchr(tok, '.', tok_len);
    const char *d2 = memchr(d1 + 1, '.', tok_len - (size_t)(d1 + 1 - (char *)tok));
    uint8_t *claims = NULL, *hdr = NULL;
    size_t claims_len = 0, hdr_len = 0;
    char *pem = NULL;
    if (tsl_b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), &claims, &claims_len, &err) !=
            TSL_OK ||
        tsl_b64url_decode((const char *)tok, (size_t)(d1 - (char *)tok), &hdr, &hdr_len,
                          &err) != TSL_OK ||
        tsl_key_to_private(key, &pem, &err) != TSL_OK)
        bench_die("sign output", TSL_ERR_IO, &err);
    write_text(dir, "claims.json", (const char *)claims, claims_len);
    write_text(dir, "header.json", (const char *)hdr, hdr_len);
    write_text(dir, "key.pem", pem, strlen(pem));
    printf("{\"case\":\"sign\",\"n\":%llu,\"bits\":%u,\"alg\":\"%s\",\"set_entries\":%llu,"
           "\"claims_bytes\":%zu,\"token_bytes\":%zu,\"rounds\":%zu,"
           "\"tsl_ms_median\":%.4f,\"tsl_ms_best\":%.4f,\"peak_rss_kb\":%ld}\n",
           (unsigned long long)n, bits, alg_name, (unsigned long long)set_entries(l),
           claims_len,
           tok_len, rounds, t[rounds / 2] * 1e3, t[0] * 1e3, bench_peak_rss_kb());
    tsl_free(claims);
    tsl_free(hdr);
    tsl_free(pem);
    tsl_free(tok);
    tsl_key_free(key);
    tsl_list_free(l);
    return 0;
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
        if (level > TSL_LEVEL_STATUSLIST)
            usage();
        return cmd_encode(n, (unsigned)bits, (int)level, argc > 5 ? argv[5] : NULL);
    }
    if (strcmp(cmd, "encode_shape") == 0 && argc == 5)
        return cmd_encode_shape(n, (unsigned)bits, argv[4]);
    if (strcmp(cmd, "decode") == 0 && argc <= 6) {
        uint64_t level = argc > 5 ? parse_u64(argv[5], "LEVEL") : 0;
        if (level > TSL_LEVEL_STATUSLIST)
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
    if (strcmp(cmd, "token") == 0 && argc == 6)
        return cmd_token(n, (unsigned)bits, argv[4], argv[5]);
    if (strcmp(cmd, "sign") == 0 && argc == 6)
        return cmd_sign(n, (unsigned)bits, argv[4], argv[5]);
    if (strcmp(cmd, "verify_warm") == 0 && argc <= 5) {
        if (argc == 5 && strcmp(argv[4], "kb") != 0)
            usage();
        return bench_verify_warm(n, (unsigned)bits, argc == 5);
    }
    if (strcmp(cmd, "verify_cold") == 0 && (argc == 6 || argc == 7)) {
        uint64_t count = argc > 6 ? parse_u64(argv[6], "COUNT") : 200;
        if (count == 0)
            usage();
        return bench_verify_cold(n, (unsigned)bits, argv[4], argv[5], count);
    }
    if (strcmp(cmd, "idlist_gen") == 0 && argc == 5)
        return bench_idlist_gen(n, argv[4]);
    if (strcmp(cmd, "idlist") == 0 && argc == 5)
        return bench_idlist(n, argv[4]);
    if (strcmp(cmd, "gen") == 0 && argc == 4)
        return cmd_gen(n, (unsigned)bits);
    if (strcmp(cmd, "store_bulk") == 0 && (argc == 6 || argc == 7)) {
        uint64_t changes = argc > 6 ? parse_u64(argv[6], "CHANGES") : 1000000;
        return bench_store_bulk(n, (unsigned)bits, argv[4], argv[5], changes);
    }
    if (strcmp(cmd, "store_publish") == 0 && (argc == 6 || argc == 7)) {
        uint64_t runs = argc > 6 ? parse_u64(argv[6], "RUNS") : 3;
        return bench_store_publish(n, (unsigned)bits, argv[4], argv[5], runs);
    }
    if (strcmp(cmd, "store_set") == 0 && (argc == 6 || argc == 7)) {
        uint64_t runs = argc > 6 ? parse_u64(argv[6], "RUNS") : 11;
        if (runs < 2 || runs > 10000)
            usage();
        return bench_store_set(n, (unsigned)bits, argv[4], argv[5], runs);
    }
    if (strcmp(cmd, "store_alloc") == 0 && argc >= 6 && argc <= 9) {
        uint64_t procs = argc > 6 ? parse_u64(argv[6], "PROCS") : 4;
        uint64_t per_proc = argc > 7 ? parse_u64(argv[7], "PER_PROC") : 25000;
        uint64_t per_call = argc > 8 ? parse_u64(argv[8], "PER_CALL") : 1000;
        if (procs == 0 || procs > 64 || per_proc == 0 || per_call == 0 ||
            procs * per_proc > n)
            usage();
        return bench_store_alloc(n, (unsigned)bits, argv[4], argv[5], procs, per_proc,
                                 per_call);
    }
    if (strcmp(cmd, "price_tables") == 0 && argc == 4)
        return bench_price_tables();
    if (strcmp(cmd, "pkcs11_sign") == 0 && argc == 9)
        return bench_pkcs11_sign(argv[4], argv[5], argv[6], (double)parse_u64(argv[7], "SECONDS"),
                                 (unsigned)parse_u64(argv[8], "THREADS"));
    usage();
    return 2;
}
