/* test_codec.c - base64url, compression and the strict bounded inflate, and the
 * StatusList JSON object: round trips, every rejection with its reason, the inflate cap
 * at and just past its boundary, and an allocation-failure sweep. */
#include "tt.h"
#include "core/tsl_int.h"

#include <stdlib.h>
#include <zlib.h>

TT_TEST(b64url_known_answers)
{
    /* RFC 4648 section 10 vectors, unpadded, plus the url-safe characters. */
    static const struct {
        const char *in, *out;
    } kat[] = {{"", ""},         {"f", "Zg"},         {"fo", "Zm8"},
               {"foo", "Zm9v"},  {"foob", "Zm9vYg"},  {"fooba", "Zm9vYmE"},
               {"foobar", "Zm9vYmFy"}, {"\xfb\xff", "-_8"}};
    for (size_t k = 0; k < sizeof kat / sizeof kat[0]; k++) {
        char *s;
        TT_OK(tsl_b64url_encode((const uint8_t *)kat[k].in, strlen(kat[k].in), &s, NULL, NULL));
        TT_EQ_STR(s, kat[k].out);
        tsl_free(s);
    }
}

TT_TEST(b64url_strict_rejections)
{
    static const struct {
        const char *in;
        size_t offset;
        const char *why;
    } bad[] = {{"Zg==", 2, "padding"},        {"Zm8=", 3, "padding"},
               {"+_8", 0, "standard base64"}, {"-/8", 1, "standard base64"},
               {"Zm 9vA", 2, "white space"},   {"Zm9v\nZg", 4, "white space"},
               {"Zm9v*A", 4, "invalid character"}, {"Zh", 1, "unused bits"},
               {"Zm9", 2, "unused bits"},     {"Zm9vY", 5, "impossible"}};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        uint8_t *d;
        size_t dlen;
        tsl_error err;
        tsl_error_clear(&err);
        TT_ERR(tsl_b64url_decode(bad[k].in, strlen(bad[k].in), &d, &dlen, &err),
               TSL_ERR_MALFORMED);
        TT_CONTAINS(err.msg, bad[k].why);
        TT_EQ_U(err.offset, bad[k].offset);
    }
}

/* base64url one bit at a time: a reference that shares nothing with b64url.c's tables
 * and wide loads. */
static size_t ref_b64url(const uint8_t *in, size_t n, char *out)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0;
    for (size_t bit = 0; bit < 8 * n; bit += 6) {
        unsigned v = 0;
        for (size_t j = bit; j < bit + 6; j++)
            v = v << 1 | (j < 8 * n ? (in[j / 8] >> (7 - j % 8)) & 1u : 0u);
        out[o++] = a[v];
    }
    return o;
}

TT_TEST(b64url_wide_loops_match_reference)
{
    /* The encoder takes 6 bytes a step and the decoder 8 characters: every length up to
     * many steps, random bytes (every value at every place in a step), against the
     * reference (unpadded, the url-safe alphabet), and decoded back; then every byte value at every place of a decoded string, which must
     * be refused at exactly that offset unless it is in the alphabet. */
    uint64_t x = 0x9E3779B97F4A7C15ull;
    uint8_t buf[300];
    char want[400];
    for (unsigned round = 0; round < 64; round++) {
        for (size_t i = 0; i < sizeof buf; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            buf[i] = (uint8_t)x;
        }
        /* Every length to 300 once, to 97 in the other rounds. */
        for (size_t n = 0; n <= (round == 0 ? sizeof buf : 97); n++) {
            /* An exact copy on the heap, so that make check's ASan sees a read past
             * its end. */
            uint8_t *exact = malloc(n > 0 ? n : 1);
            TT_CHECK(exact != NULL);
            memcpy(exact, buf, n);
            char *s;
            size_t slen;
            TT_OK(tsl_b64url_encode(exact, n, &s, &slen, NULL));
            free(exact);
            size_t wl = ref_b64url(buf, n, want);
            TT_EQ_U(slen, wl);
            TT_EQ_U(slen, strlen(s));
            TT_EQ_MEM(s, want, wl);
            uint8_t *d;
            size_t dlen;
            TT_OK(tsl_b64url_decode(s, slen, &d, &dlen, NULL));
            TT_EQ_U(dlen, n);
            TT_EQ_MEM(d, buf, n);
            tsl_free(d);
            tsl_free(s);
        }
    }
    size_t wl = ref_b64url(buf, 30, want); /* 40 characters: five 8-character steps */
    for (size_t at = 0; at < wl; at++) {
        char t[40];
        for (unsigned c = 0; c < 256; c++) {
            memcpy(t, want, wl);
            t[at] = (char)c;
            bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                      (c >= '0' && c <= '9') || c == '-' || c == '_';
            uint8_t *d = NULL;
            size_t dlen;
            tsl_error err;
            tsl_error_clear(&err);
            tsl_status st = tsl_b64url_decode(t, wl, &d, &dlen, &err);
            if (ok) {
                TT_OK(st);
                char back[40];
                TT_EQ_U(ref_b64url(d, dlen, back), wl);
                TT_EQ_MEM(back, t, wl);
                tsl_free(d);
            } else {
                TT_ERR(st, TSL_ERR_MALFORMED);
                TT_EQ_U(err.offset, at);
            }
        }
    }
}

/* Compresses src with zlib at the given window/level, for hand-made streams. */
static size_t zcompress(const uint8_t *src, size_t n, uint8_t *dst, size_t cap, int wbits)
{
    z_stream s;
    memset(&s, 0, sizeof s);
    deflateInit2(&s, 9, Z_DEFLATED, wbits, 8, Z_DEFAULT_STRATEGY);
    s.next_in = (Bytef *)(uintptr_t)src;
    s.avail_in = (uInt)n;
    s.next_out = dst;
    s.avail_out = (uInt)cap;
    deflate(&s, Z_FINISH);
    size_t out = s.total_out;
    deflateEnd(&s);
    return out;
}

TT_TEST(inflate_rejections_named)
{
    uint8_t raw[64], z[256];
    memset(raw, 0, sizeof raw);
    raw[3] = 0x10;
    size_t zl = zcompress(raw, sizeof raw, z, sizeof z, 15);
    tsl_list *l;
    TT_OK(tsl_list_decompress(1, z, zl, NULL, &l, NULL));
    TT_EQ_U(tsl_list_size(l), 512);
    TT_EQ_U(tsl_list_compressed_size(l), zl);
    unsigned v;
    TT_OK(tsl_list_get(l, 28, &v, NULL));
    TT_EQ_U(v, 1);
    tsl_list_free(l);

    struct {
        uint8_t data[300];
        size_t len;
        const char *why;
    } c[8];
    int nc = 0;
    c[nc].len = zcompress(raw, sizeof raw, c[nc].data, 300, 31); /* gzip */
    c[nc++].why = "gzip stream, expected zlib";
    c[nc].len = zcompress(raw, sizeof raw, c[nc].data, 300, -15); /* raw deflate */
    c[nc++].why = "raw deflate";
    memcpy(c[nc].data, z, zl); /* truncated */
    c[nc].len = zl - 5;
    c[nc++].why = "truncated";
    memcpy(c[nc].data, z, zl); /* checksum */
    c[nc].data[zl - 1] ^= 1;
    c[nc].len = zl;
    c[nc++].why = "Adler-32";
    memcpy(c[nc].data, z, zl); /* trailing */
    c[nc].data[zl] = 0;
    c[nc].len = zl + 1;
    c[nc++].why = "after the end";
    memcpy(c[nc].data, "\x78\xbb\x00", 3); /* FDICT set, header check valid */
    c[nc].len = 3;
    c[nc++].why = "dictionary";
    memcpy(c[nc].data, "hello", 5);
    c[nc].len = 5;
    c[nc++].why = "not a zlib stream";
    memcpy(c[nc].data, z, 2); /* a header and nothing else */
    c[nc].len = 2;
    c[nc++].why = "truncated";
    for (int k = 0; k < nc; k++) {
        tsl_error err;
        tsl_error_clear(&err);
        l = NULL;
        TT_ERR(tsl_list_decompress(1, c[k].data, c[k].len, NULL, &l, &err), TSL_ERR_MALFORMED);
        TT_CHECK(l == NULL);
        TT_CONTAINS(err.msg, c[k].why);
    }
    TT_ERR(tsl_list_decompress(1, z, 0, NULL, &l, NULL), TSL_ERR_MALFORMED);
    TT_ERR(tsl_list_decompress(3, z, zl, NULL, &l, NULL), TSL_ERR_ARG);
}

TT_TEST(inflate_cap_boundary)
{
    /* A stream of exactly max_inflated bytes passes; one byte more is TSL_ERR_LIMIT. */
    const size_t cap = 100000;
    uint8_t *raw = calloc(cap + 1, 1);
    uint8_t *z = malloc(cap);
    tsl_limits lim = {.max_inflated = cap};
    size_t zl = zcompress(raw, cap, z, cap, 15);
    tsl_list *l;
    TT_OK(tsl_list_decompress(8, z, zl, &lim, &l, NULL));
    TT_EQ_U(tsl_list_size(l), cap);
    tsl_list_free(l);
    zl = zcompress(raw, cap + 1, z, cap, 15);
    tsl_error err;
    tsl_error_clear(&err);
    TT_ERR(tsl_list_decompress(8, z, zl, &lim, &l, &err), TSL_ERR_LIMIT);
    TT_CONTAINS(err.msg, "limit of 100000");
    free(raw);
    free(z);
}

TT_TEST(inflate_zip_bomb_default_cap)
{
    /* 1 GiB of zeros compresses to about 1 MB; the default 64 MiB cap stops it. Built
     * in chunks so the test itself stays small. */
    z_stream s;
    memset(&s, 0, sizeof s);
    deflateInit(&s, 9);
    size_t cap = 2 << 20, zl = 0;
    uint8_t *z = malloc(cap);
    static uint8_t zeros[1 << 16];
    for (int k = 0; k < (1 << 14); k++) {
        s.next_in = zeros;
        s.avail_in = sizeof zeros;
        s.next_out = z + zl;
        s.avail_out = (uInt)(cap - zl);
        deflate(&s, k == (1 << 14) - 1 ? Z_FINISH : Z_NO_FLUSH);
        zl = s.total_out;
    }
    deflateEnd(&s);
    tsl_list *l = NULL;
    tsl_error err;
    tsl_error_clear(&err);
    TT_ERR(tsl_list_decompress(1, z, zl, NULL, &l, &err), TSL_ERR_LIMIT);
    TT_CONTAINS(err.msg, "67108864");
    free(z);
}

TT_TEST(compress_levels_roundtrip)
{
    static const unsigned bits[4] = {1, 2, 4, 8};
    for (int k = 0; k < 4; k++) {
        tsl_list *l;
        TT_OK(tsl_list_new(bits[k], 5000, &l, NULL));
        for (uint64_t i = 0; i < 5000; i += 7)
            TT_OK(tsl_list_set(l, i, (unsigned)(i % (1u << bits[k])), NULL));
        /* libdeflate's levels 1, 6, 11 and the status-list encoder (13). */
        for (int level = 1; level <= TSL_LEVEL_STATUSLIST; level += level == 11 ? 2 : 5) {
            uint8_t *z;
            size_t zl;
            TT_OK(tsl_list_compress(l, level, &z, &zl, NULL));
            TT_CHECK(zl > 6 && (z[0] & 0x0F) == 8); /* zlib container */
            tsl_list *back;
            TT_OK(tsl_list_decompress(bits[k], z, zl, NULL, &back, NULL));
            size_t n1, n2;
            const uint8_t *b1 = tsl_list_bytes(l, &n1), *b2 = tsl_list_bytes(back, &n2);
            TT_EQ_U(n1, n2);
            TT_EQ_MEM(b2, b1, n1);
            tsl_list_free(back);
            tsl_free(z);
        }
        uint8_t *z;
        size_t zl;
        TT_ERR(tsl_list_compress(l, TSL_LEVEL_STATUSLIST + 1, &z, &zl, NULL), TSL_ERR_ARG);
        TT_ERR(tsl_list_compress(l, -1, &z, &zl, NULL), TSL_ERR_ARG);
        tsl_list_free(l);
    }
    /* An empty list compresses to a valid, empty zlib stream. */
    tsl_list *e;
    TT_OK(tsl_list_new(1, 0, &e, NULL));
    uint8_t *z;
    size_t zl;
    TT_OK(tsl_list_compress(e, 0, &z, &zl, NULL));
    tsl_list *back;
    TT_OK(tsl_list_decompress(1, z, zl, NULL, &back, NULL));
    TT_EQ_U(tsl_list_size(back), 0);
    tsl_list_free(back);
    tsl_list_free(e);
    tsl_free(z);
}

TT_TEST(json_roundtrip_and_spec_example)
{
    static const char spec[] = "{\"bits\":1,\"lst\":\"eNrbuRgAAhcBXQ\"}";
    tsl_list *l;
    TT_OK(tsl_list_from_json(spec, sizeof spec - 1, NULL, &l, NULL));
    size_t n;
    const uint8_t *b = tsl_list_bytes(l, &n);
    TT_EQ_U(n, 2);
    TT_EQ_MEM(b, "\xb9\xa3", 2);
    TT_EQ_U(tsl_list_compressed_size(l), 10);
    TT_OK(tsl_list_set_aggregation_uri(l, "https://example.com/\"agg\"", NULL));
    char *json;
    size_t jl;
    TT_OK(tsl_list_to_json(l, 0, &json, &jl, NULL));
    TT_CHECK(strncmp(json, "{\"bits\":1,\"lst\":\"", 17) == 0);
    tsl_list *back;
    TT_OK(tsl_list_from_json(json, jl, NULL, &back, NULL));
    TT_EQ_STR(tsl_list_aggregation_uri(back), "https://example.com/\"agg\"");
    b = tsl_list_bytes(back, &n);
    TT_EQ_MEM(b, "\xb9\xa3", 2);
    tsl_list_free(back);
    tsl_list_free(l);
    tsl_free(json);
}

TT_TEST(json_rejections_named)
{
    static const struct {
        const char *in;
        tsl_status code;
        const char *why;
    } bad[] = {
        {"{\"bits\":1,\"bits\":1,\"lst\":\"eNrbuRgAAhcBXQ\"}", TSL_ERR_MALFORMED, "duplicate"},
        {"{\"bits\":3,\"lst\":\"eNrbuRgAAhcBXQ\"}", TSL_ERR_MALFORMED, "bits: 3"},
        {"{\"bits\":-1,\"lst\":\"eNrbuRgAAhcBXQ\"}", TSL_ERR_MALFORMED, "bits: -1"},
        {"{\"bits\":\"1\",\"lst\":\"eNrbuRgAAhcBXQ\"}", TSL_ERR_MALFORMED, "bits: a string"},
        {"{\"bits\":1.0,\"lst\":\"eNrbuRgAAhcBXQ\"}", TSL_ERR_MALFORMED, "real"},
        {"{\"lst\":\"eNrbuRgAAhcBXQ\"}", TSL_ERR_MALFORMED, "missing \"bits\""},
        {"{\"bits\":1}", TSL_ERR_MALFORMED, "missing \"lst\""},
        {"{\"bits\":1,\"lst\":\"\"}", TSL_ERR_MALFORMED, "empty"},
        {"{\"bits\":1,\"lst\":42}", TSL_ERR_MALFORMED, "lst: an integer"},
        {"{\"bits\":1,\"lst\":\"eNrbuRgAAhcBXQ==\"}", TSL_ERR_MALFORMED, "lst: base64url: padding"},
        {"{\"bits\":1,\"lst\":\"eNrbuRgAAhcBXQ\",\"aggregation_uri\":7}", TSL_ERR_MALFORMED,
         "aggregation_uri"},
        {"[1]", TSL_ERR_MALFORMED, "expected an object"},
        {"{\"bits\":1,\"lst\":\"eNrbuRgAAhcBXQ\"} x", TSL_ERR_MALFORMED, "json:"},
        {"{\"bits\":1,", TSL_ERR_MALFORMED, "json:"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        tsl_list *l = NULL;
        tsl_error err;
        tsl_error_clear(&err);
        TT_ERR(tsl_list_from_json(bad[k].in, strlen(bad[k].in), NULL, &l, &err), bad[k].code);
        TT_CONTAINS(err.msg, bad[k].why);
        TT_CHECK(l == NULL);
    }
    /* A null aggregation_uri is absent; unknown members are ignored. */
    static const char ok[] =
        "{\"bits\":1,\"lst\":\"eNrbuRgAAhcBXQ\",\"aggregation_uri\":null,\"x\":[1]}";
    tsl_list *l;
    TT_OK(tsl_list_from_json(ok, sizeof ok - 1, NULL, &l, NULL));
    TT_CHECK(tsl_list_aggregation_uri(l) == NULL);
    tsl_list_free(l);
    /* The input limit applies before parsing. */
    tsl_limits lim = {.max_input = 10};
    TT_ERR(tsl_list_from_json(ok, sizeof ok - 1, &lim, &l, NULL), TSL_ERR_LIMIT);
}

TT_TEST(json_alloc_failure_sweep)
{
    /* Fail each of our allocations in turn: every failure is TSL_ERR_NOMEM and leaks
     * nothing (make check runs this under LeakSanitizer). */
    static const char spec[] = "{\"bits\":1,\"lst\":\"eNrbuRgAAhcBXQ\",\"aggregation_uri\":\"u\"}";
    int succeeded = 0;
    for (long n = 1; n < 50 && !succeeded; n++) {
        tsl_list *l = NULL;
        tslp_test_fail_alloc_after(n);
        tsl_status st = tsl_list_from_json(spec, sizeof spec - 1, NULL, &l, NULL);
        tslp_test_fail_alloc_after(0);
        if (st == TSL_OK) {
            succeeded = 1;
            char *j;
            tslp_test_fail_alloc_after(1);
            TT_ERR(tsl_list_to_json(l, 1, &j, NULL, NULL), TSL_ERR_NOMEM);
            tslp_test_fail_alloc_after(0);
            tsl_list_free(l);
        } else {
            TT_EQ_U(st, TSL_ERR_NOMEM);
            TT_CHECK(l == NULL);
        }
    }
    TT_CHECK(succeeded);
}

TT_TEST(compress_parallel_chunk_joins)
{
    /* Lists over 1 MiB are compressed in chunks and joined (src/codec/deflate.c). Different
     * contents put each chunk's end at different bit positions within its last byte;
     * stock zlib must inflate every join to the original bytes. */
    static const uint64_t seeds[] = {1, 2, 3, 5, 8, 13};
    for (size_t k = 0; k < sizeof seeds / sizeof seeds[0]; k++) {
        const size_t n = ((size_t)3 << 20) + 123 * k;
        tsl_list *l;
        TT_OK(tsl_list_new(8, n, &l, NULL));
        uint64_t s = seeds[k];
        for (size_t i = 0; i < n; i++) {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            /* sparse, with a dense stretch in each chunk */
            if ((i >> 16) % 5 == k % 5 || s % 97 == 0)
                TT_OK(tsl_list_set(l, i, (unsigned)(s >> 56), NULL));
        }
        uint8_t *z;
        size_t zl;
        TT_OK(tsl_list_compress(l, 9, &z, &zl, NULL));
        uint8_t *back = malloc(n + 1);
        uLongf bl = n + 1;
        TT_EQ_U(uncompress(back, &bl, z, zl), Z_OK);
        TT_EQ_U(bl, n);
        size_t nb;
        const uint8_t *b = tsl_list_bytes(l, &nb);
        TT_EQ_MEM(back, b, n);
        free(back);
        tsl_free(z);
        tsl_list_free(l);
    }
}

TT_TEST(compress_precompressed_reused_until_changed)
{
    tsl_list *l;
    TT_OK(tsl_list_new(1, 4096, &l, NULL));
    TT_OK(tsl_list_set(l, 9, 1, NULL));
    TT_OK(tsl_list_precompress(l, 0, NULL));
    uint8_t *a, *b;
    size_t al, bl;
    TT_OK(tsl_list_compress(l, 0, &a, &al, NULL));
    /* The cache is what compress gives: inflating it yields the list. */
    tsl_list *back;
    TT_OK(tsl_list_decompress(1, a, al, NULL, &back, NULL));
    unsigned v;
    TT_OK(tsl_list_get(back, 9, &v, NULL));
    TT_EQ_U(v, 1);
    tsl_list_free(back);
    /* A change drops it: the next stream holds the new entry. */
    TT_OK(tsl_list_set(l, 10, 1, NULL));
    TT_OK(tsl_list_compress(l, 0, &b, &bl, NULL));
    TT_OK(tsl_list_decompress(1, b, bl, NULL, &back, NULL));
    TT_OK(tsl_list_get(back, 10, &v, NULL));
    TT_EQ_U(v, 1);
    tsl_list_free(back);
    tsl_free(a);
    tsl_free(b);
    /* Ranges, batches and resizes drop it too. */
    TT_OK(tsl_list_precompress(l, 0, NULL));
    TT_OK(tsl_list_set_range(l, 100, 200, 1, NULL));
    TT_OK(tsl_list_compress(l, 0, &b, &bl, NULL));
    TT_OK(tsl_list_decompress(1, b, bl, NULL, &back, NULL));
    TT_OK(tsl_list_get(back, 150, &v, NULL));
    TT_EQ_U(v, 1);
    tsl_list_free(back);
    tsl_free(b);
    TT_OK(tsl_list_precompress(l, 0, NULL));
    TT_OK(tsl_list_resize(l, 8192, NULL));
    TT_OK(tsl_list_compress(l, 0, &b, &bl, NULL));
    TT_OK(tsl_list_decompress(1, b, bl, NULL, &back, NULL));
    TT_EQ_U(tsl_list_size(back), 8192);
    tsl_list_free(back);
    tsl_free(b);
    tsl_list_free(l);
}
