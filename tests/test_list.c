/* test_list.c - the packed list: bit layout against the spec's worked examples, get/set
 * bounds, value checks, ranges, batches (all or nothing), counting, resizing. */
#include "tt.h"
#include "core/tsl_int.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* A simple xorshift so tests are reproducible without depending on libc's rand(). */
static uint64_t rng(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

TT_TEST(list_layout_spec_bits1)
{
    /* Section 4.1: 16 entries of 1 bit pack to b9 a3. */
    static const unsigned st[16] = {1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 1, 0, 1};
    tsl_list *l;
    TT_OK(tsl_list_new(1, 16, &l, NULL));
    for (unsigned i = 0; i < 16; i++)
        TT_OK(tsl_list_set(l, i, st[i], NULL));
    size_t n;
    const uint8_t *b = tsl_list_bytes(l, &n);
    TT_EQ_U(n, 2);
    TT_EQ_MEM(b, "\xb9\xa3", 2);
    tsl_list_free(l);
}

TT_TEST(list_layout_spec_bits2)
{
    static const unsigned st[12] = {1, 2, 0, 3, 0, 1, 0, 1, 1, 2, 3, 3};
    tsl_list *l;
    TT_OK(tsl_list_new(2, 12, &l, NULL));
    for (unsigned i = 0; i < 12; i++)
        TT_OK(tsl_list_set(l, i, st[i], NULL));
    size_t n;
    const uint8_t *b = tsl_list_bytes(l, &n);
    TT_EQ_U(n, 3);
    TT_EQ_MEM(b, "\xc9\x44\xf9", 3);
    for (unsigned i = 0; i < 12; i++) {
        unsigned v;
        TT_OK(tsl_list_get(l, i, &v, NULL));
        TT_EQ_U(v, st[i]);
    }
    tsl_list_free(l);
}

TT_TEST(list_layout_bits4_bits8)
{
    tsl_list *l;
    TT_OK(tsl_list_new(4, 3, &l, NULL));
    TT_OK(tsl_list_set(l, 0, 0x1, NULL));
    TT_OK(tsl_list_set(l, 1, 0xA, NULL));
    TT_OK(tsl_list_set(l, 2, 0xF, NULL));
    size_t n;
    const uint8_t *b = tsl_list_bytes(l, &n);
    TT_EQ_U(n, 2);
    TT_EQ_MEM(b, "\xa1\x0f", 2); /* even index low nibble, odd index high nibble */
    tsl_list_free(l);
    TT_OK(tsl_list_new(8, 2, &l, NULL));
    TT_OK(tsl_list_set(l, 1, 255, NULL));
    b = tsl_list_bytes(l, &n);
    TT_EQ_MEM(b, "\x00\xff", 2);
    tsl_list_free(l);
}

TT_TEST(list_bounds_and_values)
{
    static const unsigned bits[4] = {1, 2, 4, 8};
    for (int k = 0; k < 4; k++) {
        tsl_list *l;
        TT_OK(tsl_list_new(bits[k], 100, &l, NULL));
        unsigned v;
        TT_ERR(tsl_list_get(l, 100, &v, NULL), TSL_ERR_INDEX);
        TT_ERR(tsl_list_set(l, 100, 0, NULL), TSL_ERR_INDEX);
        TT_ERR(tsl_list_set(l, UINT64_MAX, 0, NULL), TSL_ERR_INDEX);
        /* 2^bits is rejected, never truncated: the entry keeps its value. */
        TT_OK(tsl_list_set(l, 5, 1, NULL));
        TT_ERR(tsl_list_set(l, 5, 1u << bits[k], NULL), TSL_ERR_VALUE);
        TT_OK(tsl_list_get(l, 5, &v, NULL));
        TT_EQ_U(v, 1);
        TT_OK(tsl_list_set(l, 99, (1u << bits[k]) - 1, NULL));
        TT_OK(tsl_list_get(l, 99, &v, NULL));
        TT_EQ_U(v, (1u << bits[k]) - 1);
        tsl_list_free(l);
    }
    tsl_list *l;
    tsl_error err;
    /* get and set explain a refusal in err, as every other call does. */
    TT_OK(tsl_list_new(2, 10, &l, NULL));
    unsigned v;
    tsl_error_clear(&err);
    TT_ERR(tsl_list_get(l, 10, &v, &err), TSL_ERR_INDEX);
    TT_EQ_U(err.code, TSL_ERR_INDEX);
    TT_CONTAINS(err.msg, "index 10 is out of range (size 10)");
    tsl_error_clear(&err);
    TT_ERR(tsl_list_set(l, 3, 4, &err), TSL_ERR_VALUE);
    TT_CONTAINS(err.msg, "value 4 does not fit in 2 bits");
    tsl_error_clear(&err);
    TT_ERR(tsl_list_get(NULL, 0, &v, &err), TSL_ERR_ARG);
    TT_EQ_U(err.code, TSL_ERR_ARG);
    tsl_list_free(l);
    tsl_error_clear(&err);
    TT_ERR(tsl_list_new(3, 10, &l, &err), TSL_ERR_ARG);
    TT_CONTAINS(err.msg, "bits");
    TT_ERR(tsl_list_new(8, UINT64_MAX, &l, NULL), TSL_ERR_LIMIT);
}

TT_TEST(list_neighbours_untouched)
{
    /* Setting one entry must never disturb another: random writes against a shadow. */
    static const unsigned bits[4] = {1, 2, 4, 8};
    for (int k = 0; k < 4; k++) {
        const uint64_t n = 10007;
        uint8_t *shadow = calloc(n, 1);
        tsl_list *l;
        TT_OK(tsl_list_new(bits[k], n, &l, NULL));
        uint64_t s = 7 + (uint64_t)k;
        for (int r = 0; r < 50000; r++) {
            uint64_t i = rng(&s) % n;
            unsigned v = (unsigned)(rng(&s) & ((1u << bits[k]) - 1));
            TT_OK(tsl_list_set(l, i, v, NULL));
            shadow[i] = (uint8_t)v;
        }
        for (uint64_t i = 0; i < n; i++) {
            unsigned v;
            TT_OK(tsl_list_get(l, i, &v, NULL));
            TT_EQ_U(v, shadow[i]);
        }
        uint64_t counts[256], expect[256] = {0};
        tsl_list_count(l, counts);
        for (uint64_t i = 0; i < n; i++)
            expect[shadow[i]]++;
        for (int v = 0; v < 256; v++)
            TT_EQ_U(counts[v], expect[v]);
        free(shadow);
        tsl_list_free(l);
    }
}

TT_TEST(list_set_range)
{
    static const unsigned bits[4] = {1, 2, 4, 8};
    for (int k = 0; k < 4; k++) {
        tsl_list *l;
        TT_OK(tsl_list_new(bits[k], 200, &l, NULL));
        unsigned val = bits[k] == 1 ? 1 : 2;
        TT_OK(tsl_list_set_range(l, 3, 150, val, NULL));
        for (uint64_t i = 0; i < 200; i++) {
            unsigned v;
            TT_OK(tsl_list_get(l, i, &v, NULL));
            TT_EQ_U(v, (i >= 3 && i <= 150) ? val : 0);
        }
        /* Failures change nothing. */
        TT_ERR(tsl_list_set_range(l, 0, 200, 0, NULL), TSL_ERR_INDEX);
        TT_ERR(tsl_list_set_range(l, 0, 10, 1u << bits[k], NULL), TSL_ERR_VALUE);
        TT_ERR(tsl_list_set_range(l, 10, 9, 0, NULL), TSL_ERR_ARG);
        unsigned v;
        TT_OK(tsl_list_get(l, 3, &v, NULL));
        TT_EQ_U(v, val);
        TT_OK(tsl_list_set_range(l, 0, 199, 0, NULL));
        uint64_t counts[256];
        tsl_list_count(l, counts);
        TT_EQ_U(counts[0], 200);
        tsl_list_free(l);
    }
}

TT_TEST(list_apply_all_or_nothing)
{
    tsl_list *l;
    TT_OK(tsl_list_new(2, 64, &l, NULL));
    tsl_entry good[3] = {{1, 1}, {2, 2}, {1, 3}};
    TT_OK(tsl_list_apply(l, good, 3, NULL));
    unsigned v;
    TT_OK(tsl_list_get(l, 1, &v, NULL));
    TT_EQ_U(v, 3); /* later pairs win */
    tsl_entry bad[3] = {{5, 1}, {6, 4}, {7, 1}};
    tsl_error err;
    tsl_error_clear(&err);
    TT_ERR(tsl_list_apply(l, bad, 3, &err), TSL_ERR_VALUE);
    TT_EQ_U(err.offset, 1);
    TT_OK(tsl_list_get(l, 5, &v, NULL));
    TT_EQ_U(v, 0); /* nothing applied */
    tsl_entry oob[1] = {{64, 1}};
    TT_ERR(tsl_list_apply(l, oob, 1, NULL), TSL_ERR_INDEX);
    tsl_list_free(l);
}

TT_TEST(list_resize_and_padding)
{
    tsl_list *l;
    TT_OK(tsl_list_new(1, 16, &l, NULL));
    TT_OK(tsl_list_set_range(l, 0, 15, 1, NULL));
    TT_OK(tsl_list_resize(l, 11, NULL));
    size_t n;
    const uint8_t *b = tsl_list_bytes(l, &n);
    TT_EQ_U(n, 2);
    TT_EQ_U(b[1], 0x07); /* entries 11..15 were dropped and read as 0 */
    uint64_t counts[256];
    tsl_list_count(l, counts);
    TT_EQ_U(counts[1], 11);
    TT_EQ_U(counts[0], 0);
    TT_OK(tsl_list_resize(l, 40, NULL));
    unsigned v;
    TT_OK(tsl_list_get(l, 39, &v, NULL));
    TT_EQ_U(v, 0);
    TT_OK(tsl_list_get(l, 12, &v, NULL));
    TT_EQ_U(v, 0);
    TT_OK(tsl_list_resize(l, 0, NULL));
    TT_EQ_U(tsl_list_size(l), 0);
    tsl_list_free(l);
    tsl_list_free(NULL);
}

TT_TEST(list_large_index_64bit)
{
    /* Indices past 2^32 work (2^33 one-bit entries is 1 GiB, too much for a unit test,
     * so use from_bytes geometry at a smaller size and check arithmetic at the top). */
    tsl_list *l;
    TT_OK(tsl_list_new(1, ((uint64_t)1 << 32) + 16, &l, NULL));
    TT_OK(tsl_list_set(l, ((uint64_t)1 << 32) + 9, 1, NULL));
    unsigned v;
    TT_OK(tsl_list_get(l, ((uint64_t)1 << 32) + 9, &v, NULL));
    TT_EQ_U(v, 1);
    TT_OK(tsl_list_get(l, 9, &v, NULL));
    TT_EQ_U(v, 0);
    size_t n;
    const uint8_t *b = tsl_list_bytes(l, &n);
    TT_EQ_U(n, ((size_t)1 << 29) + 2);
    TT_EQ_U(b[((size_t)1 << 29) + 1], 0x02);
    tsl_list_free(l);
}

TT_TEST(list_status_names)
{
    TT_EQ_STR(tsl_status_name(0), "VALID");
    TT_EQ_STR(tsl_status_name(1), "INVALID");
    TT_EQ_STR(tsl_status_name(2), "SUSPENDED");
    TT_EQ_STR(tsl_status_name(3), "APPLICATION_SPECIFIC");
    TT_EQ_STR(tsl_status_name(0x0B), "UNKNOWN"); /* left the range in -14 */
    TT_EQ_STR(tsl_status_name(0x0C), "APPLICATION_SPECIFIC");
    TT_EQ_STR(tsl_status_name(0x0F), "APPLICATION_SPECIFIC");
    TT_EQ_STR(tsl_status_name(0x10), "UNKNOWN");
}

/* tsl_list_grow and tsl_list_fit: the growth rule of a list built in any order. */
TT_TEST(list_grow_and_fit)
{
    tsl_list *l = NULL;
    tsl_error err;
    tsl_error_clear(&err);
    TT_OK(tsl_list_new(2, 0, &l, &err));
    TT_OK(tsl_list_grow(l, 5, 1 << 20, &err));
    TT_EQ_U(tsl_list_size(l), 1024); /* at least 1024 */
    TT_OK(tsl_list_grow(l, 1023, 1 << 20, &err));
    TT_EQ_U(tsl_list_size(l), 1024); /* fits: unchanged */
    TT_OK(tsl_list_grow(l, 1500, 1 << 20, &err));
    TT_EQ_U(tsl_list_size(l), 2048); /* doubling */
    TT_OK(tsl_list_grow(l, 9000, 1 << 20, &err));
    TT_EQ_U(tsl_list_size(l), 9001); /* beyond the double: just enough */
    TT_OK(tsl_list_grow(l, 9001, 4096, &err));
    TT_EQ_U(tsl_list_size(l), 16384); /* capped at 4096 bytes of 2-bit entries */
    TT_ERR(tsl_list_grow(l, 16384, 4096, &err), TSL_ERR_LIMIT);
    TT_EQ_U(tsl_list_size(l), 16384);
    TT_OK(tsl_list_set(l, 4, 3, NULL));
    TT_OK(tsl_list_fit(l, 4, &err));
    TT_EQ_U(tsl_list_size(l), 8); /* two bytes of four 2-bit entries */
    unsigned v = 0;
    TT_OK(tsl_list_get(l, 4, &v, NULL));
    TT_EQ_U(v, 3);
    TT_OK(tsl_list_fit(l, 3, &err));
    TT_EQ_U(tsl_list_size(l), 4);
    TT_ERR(tsl_list_grow(NULL, 0, 1, &err), TSL_ERR_ARG);
    tsl_list_free(l);
}

/* tsl_status_label: names for 0 to 3, numbers above, each read back by tsl_status_parse. */
TT_TEST(list_status_labels)
{
    char buf[TSL_STATUS_LABEL_SIZE];
    TT_EQ_STR(tsl_status_label(0, buf), "VALID");
    TT_EQ_STR(tsl_status_label(3, buf), "APPLICATION_SPECIFIC");
    TT_EQ_STR(tsl_status_label(12, buf), "12"); /* not "APPLICATION_SPECIFIC": exact */
    TT_EQ_STR(tsl_status_label(255, buf), "255");
    for (unsigned v = 0; v < 256; v++) {
        const char *s = tsl_status_label(v, buf);
        unsigned back = 999;
        TT_OK(tsl_status_parse(s, strlen(s), &back, NULL));
        TT_EQ_U(back, v);
    }
}

TT_TEST(list_set_line_encode_input)
{
    /* encode's lines: comments and blanks, names and numbers, growth to the highest
     * index under the bound, and every refusal naming its line. */
    tsl_list *l = NULL;
    TT_OK(tsl_list_new(2, 0, &l, NULL));
    uint64_t idx = 99;
    int set = 7;
    char a[] = "  # only a comment";
    TT_OK(tsl_list_set_line(l, a, 1, 1 << 20, &idx, &set, NULL));
    TT_EQ_U(set, 0);
    char b[] = "5\tSUSPENDED\r";
    TT_OK(tsl_list_set_line(l, b, 2, 1 << 20, &idx, &set, NULL));
    TT_EQ_U(set, 1);
    TT_EQ_U(idx, 5);
    TT_EQ_U(tsl_list_size(l), 1024); /* grown: 1024 entries first */
    unsigned v;
    TT_OK(tsl_list_get(l, 5, &v, NULL));
    TT_EQ_U(v, TSL_STATUS_SUSPENDED);
    static const struct {
        const char *line;
        uint64_t grow;
        tsl_status code;
        const char *msg;
    } bad[] = {
        {"5", 1 << 20, TSL_ERR_MALFORMED, "line 3: expected \"IDX VALUE\""},
        {"5 1 2", 1 << 20, TSL_ERR_MALFORMED, "line 3: expected \"IDX VALUE\""},
        {"-5 1", 1 << 20, TSL_ERR_MALFORMED, "line 3: index \"-5\" is not a non-negative integer"},
        {"5 BOGUS", 1 << 20, TSL_ERR_MALFORMED,
         "line 3: status \"BOGUS\" is not a number 0-255 or a status name"},
        {"5 4", 1 << 20, TSL_ERR_VALUE, "line 3: value 4 does not fit in 2 bits"},
        {"1024 1", 0, TSL_ERR_INDEX, "line 3: index 1024 is out of range (size 1024)"},
        {"99999999 1", 1 << 20, TSL_ERR_LIMIT,
         "line 3: index 99999999 would make the list larger than 1 MiB; give --size to "
         "allow it"}};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        char line[64];
        snprintf(line, sizeof line, "%s", bad[k].line);
        tsl_error err;
        tsl_error_clear(&err);
        TT_ERR(tsl_list_set_line(l, line, 3, bad[k].grow, &idx, &set, &err), bad[k].code);
        TT_EQ_STR(err.msg, bad[k].msg);
        TT_EQ_U(set, 0);
    }
    TT_EQ_U(tsl_list_size(l), 1024); /* a refused line changes nothing */
    tsl_list_free(l);
}

/* tsl_list_set_lines: `tsl encode`'s reader over a file, growing to the highest index
 * set (comments and blank lines set nothing), and stopping at a bad line, named. */
static tsl_status set_lines(const char *text, unsigned bits, uint64_t size, uint64_t grow,
                            tsl_list **l, uint64_t *highest, int *any, tsl_error *err)
{
    char path[] = "/tmp/tsl-lines-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
        return TSL_ERR_IO;
    close(fd);
    tsl_lines *r = NULL;
    tsl_status st = tsl_list_new(bits, size, l, err);
    if (st == TSL_OK)
        st = tsl_lines_open(path, 4096, &r, err);
    if (st == TSL_OK)
        st = tsl_list_set_lines(*l, r, grow, highest, any, err);
    tsl_lines_close(r);
    unlink(path);
    return st;
}

TT_TEST(list_set_lines_reads_input)
{
    tsl_list *l = NULL;
    uint64_t highest = 99;
    int any = 0;
    TT_OK(set_lines("# c\n12 INVALID\n\n3 2\n", 2, 0, 1024, &l, &highest, &any, NULL));
    TT_EQ_U(any, 1);
    TT_EQ_U(highest, 12);
    unsigned v = 0;
    TT_OK(tsl_list_get(l, 12, &v, NULL));
    TT_EQ_U(v, TSL_STATUS_INVALID);
    TT_OK(tsl_list_get(l, 3, &v, NULL));
    TT_EQ_U(v, 2);
    tsl_list_free(l);
    l = NULL;
    TT_OK(set_lines("# only a comment\n", 1, 8, 0, &l, &highest, &any, NULL));
    TT_EQ_U(any, 0);
    TT_EQ_U(highest, 0);
    tsl_list_free(l);
    l = NULL;
    tsl_error err;
    tsl_error_clear(&err);
    TT_ERR(set_lines("1 1\n9 1\n", 1, 8, 0, &l, &highest, &any, &err), TSL_ERR_INDEX);
    TT_CONTAINS(err.msg, "line 2");
    TT_EQ_U(highest, 1);
    tsl_list_free(l);
    TT_ERR(tsl_list_set_lines(NULL, NULL, 0, &highest, &any, NULL), TSL_ERR_ARG);
}

TT_TEST(list_from_stream_pages)
{
    /* The store's signing-only list: its entries are fresh zero pages (never cleared by
     * a memset), it frees them whole, and a resize moves it off them without losing an
     * entry; every allocation failing on the way returns TSL_ERR_NOMEM without a leak. */
    static const uint8_t z[] = {0x78, 0xDA, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01};
    /* What a long-running publisher has done before: a larger block freed (after which
     * glibc serves blocks this size from its heap), and heap memory this size written
     * and freed, which a calloc from the heap must clear. */
    for (size_t size = 4 << 20; size >= 2 << 20; size -= 2 << 20) {
        uint8_t *prev = malloc(size);
        TT_CHECK(prev != NULL);
        memset(prev, 1, size);
        free(prev);
    }
    tsl_list *l = NULL;
    TT_OK(tslp_list_from_stream(1, 10000000, z, sizeof z, TSL_LEVEL_DEFAULT, &l, NULL));
    size_t nb = 0;
    const uint8_t *b = tsl_list_bytes(l, &nb);
    TT_EQ_U(nb, 1250000);
    /* Not one page of the entries has been written (none is resident). */
    long pg = sysconf(_SC_PAGESIZE);
    uintptr_t first = (uintptr_t)b / (uintptr_t)pg * (uintptr_t)pg;
    size_t span = (size_t)((uintptr_t)b + nb - first);
    size_t npages = (span + (size_t)pg - 1) / (size_t)pg, resident = 0;
    unsigned char *vec = malloc(npages);
    TT_CHECK(vec != NULL && mincore((void *)first, span, vec) == 0);
    for (size_t k = 0; k < npages; k++)
        resident += vec[k] & 1;
    free(vec);
    TT_EQ_U(resident, 0);
    TT_CHECK(b != NULL && b[0] == 0 && b[nb - 1] == 0 && memcmp(b, b + 1, nb - 1) == 0);
    TT_OK(tsl_list_set(l, 9999999, 1, NULL));
    TT_OK(tsl_list_resize(l, 20000001, NULL));
    unsigned v = 9;
    TT_OK(tsl_list_get(l, 9999999, &v, NULL));
    TT_EQ_U(v, 1);
    TT_OK(tsl_list_get(l, 20000000, &v, NULL));
    TT_EQ_U(v, 0);
    TT_OK(tsl_list_resize(l, 9999999, NULL));
    TT_OK(tsl_list_resize(l, 10000000, NULL));
    TT_OK(tsl_list_get(l, 9999999, &v, NULL));
    TT_EQ_U(v, 0);
    tsl_list_free(l);
    l = NULL;
    TT_OK(tslp_list_from_stream(2, 0, z, sizeof z, TSL_LEVEL_DEFAULT, &l, NULL));
    TT_CHECK(tsl_list_bytes(l, &nb) == NULL && nb == 0);
    TT_OK(tsl_list_resize(l, 4, NULL));
    TT_OK(tsl_list_get(l, 3, &v, NULL));
    TT_EQ_U(v, 0);
    tsl_list_free(l);
    for (long k = 1; k <= 4; k++) {
        l = NULL;
        tslp_test_fail_alloc_after(k);
        tsl_status st = tslp_list_from_stream(1, 1000, z, sizeof z, TSL_LEVEL_DEFAULT, &l,
                                              NULL);
        tslp_test_fail_alloc_after(0);
        TT_CHECK(st == TSL_OK || st == TSL_ERR_NOMEM);
        TT_CHECK(st == TSL_OK ? l != NULL : l == NULL);
        tsl_list_free(l);
    }
}
