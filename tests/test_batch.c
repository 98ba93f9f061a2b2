/* test_batch.c - update batches: the line format (indices, ranges, names, comments),
 * every rejection with its line number, and all-or-nothing application with INVALID
 * final. */
#include "tt.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static tsl_status add(tsl_batch *b, const char *line, uint64_t n, tsl_error *err)
{
    return tsl_batch_add_line(b, line, strlen(line), n, err);
}

TT_TEST(batch_lines_parse)
{
    tsl_batch *b;
    TT_OK(tsl_batch_new(2, 100, &b, NULL));
    TT_OK(add(b, "", 1, NULL));
    TT_OK(add(b, "   # only a comment", 2, NULL));
    TT_OK(add(b, "5 INVALID", 3, NULL));
    TT_OK(add(b, "\t7\tsuspended  # trailing comment\r", 4, NULL));
    TT_OK(add(b, "10-19 1", 5, NULL));
    TT_OK(add(b, "99 3", 6, NULL));
    TT_EQ_U(tsl_batch_count(b), 4);
    TT_EQ_U(tsl_batch_entries(b), 13);
    const tsl_batch_item *it = tsl_batch_items(b);
    TT_EQ_U(it[1].first, 7);
    TT_EQ_U(it[1].value, 2);
    TT_EQ_U(it[1].line, 4);
    TT_EQ_U(it[2].first, 10);
    TT_EQ_U(it[2].last, 19);
    tsl_batch_free(b);
}

/* Reads text as tsl_update's input would be, into a new batch of 2 bits and 100
 * entries; *lines gets the count read. The file is removed. */
static tsl_status add_lines(const char *text, tsl_batch **b, uint64_t *lines, tsl_error *err)
{
    char path[] = "/tmp/tsl-batch-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
        return TSL_ERR_IO;
    close(fd);
    tsl_lines *r = NULL;
    tsl_status st = tsl_batch_new(2, 100, b, err);
    if (st == TSL_OK)
        st = tsl_lines_open(path, TSL_BATCH_MAX_LINE, &r, err);
    if (st == TSL_OK)
        st = tsl_batch_add_lines(*b, r, NULL, lines, err);
    tsl_lines_close(r);
    unlink(path);
    return st;
}

/* tsl_batch_add_lines: a byte order mark opens only the first line; lines are counted;
 * the first bad line stops the reading, named. */
TT_TEST(batch_add_lines_reads_input)
{
    tsl_batch *b = NULL;
    uint64_t lines = 0;
    TT_OK(add_lines("\xEF\xBB\xBF" "1 INVALID\n# a comment\n2-3 SUSPENDED\n", &b, &lines,
                    NULL));
    TT_EQ_U(lines, 3);
    TT_EQ_U(tsl_batch_count(b), 2);
    TT_EQ_U(tsl_batch_entries(b), 3);
    tsl_batch_free(b);
    tsl_error err;
    tsl_error_clear(&err);
    b = NULL;
    TT_ERR(add_lines("1 1\n\xEF\xBB\xBF" "2 1\n3 1\n", &b, &lines, &err), TSL_ERR_MALFORMED);
    TT_CONTAINS(err.msg, "line 2: ");
    TT_EQ_U(tsl_batch_count(b), 1);
    tsl_batch_free(b);
    TT_ERR(tsl_batch_add_lines(NULL, NULL, NULL, NULL, NULL), TSL_ERR_ARG);
}

TT_TEST(batch_rejections_name_the_line)
{
    static const struct {
        const char *line;
        tsl_status code;
        const char *why;
    } bad[] = {
        {"5", TSL_ERR_MALFORMED, "expected"},
        {"5 1 1", TSL_ERR_MALFORMED, "expected"},
        {"x 1", TSL_ERR_MALFORMED, "not an index"},
        {"-5 1", TSL_ERR_MALFORMED, "not an index"},
        {"5- 1", TSL_ERR_MALFORMED, "not an index"},
        {"0x10 1", TSL_ERR_MALFORMED, "not an index"},
        {"18446744073709551616 1", TSL_ERR_MALFORMED, "not an index"},
        {"9-3 1", TSL_ERR_MALFORMED, "reversed"},
        {"100 1", TSL_ERR_INDEX, "out of range"},
        {"5-100 1", TSL_ERR_INDEX, "out of range"},
        {"5 4", TSL_ERR_VALUE, "does not fit in 2 bits"},
        {"5 256", TSL_ERR_MALFORMED, "unknown status"},
        {"5 REVOKED", TSL_ERR_MALFORMED, "unknown status \"REVOKED\""},
        {"5 1\0garbage", TSL_ERR_MALFORMED, "NUL"},
    };
    tsl_batch *b;
    TT_OK(tsl_batch_new(2, 100, &b, NULL));
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        tsl_error err;
        tsl_error_clear(&err);
        size_t len = strlen(bad[k].line);
        if (strcmp(bad[k].line, "5 1") == 0)
            len = 11; /* the NUL case: include the bytes after it */
        TT_ERR(tsl_batch_add_line(b, bad[k].line, len, 42, &err), bad[k].code);
        TT_CONTAINS(err.msg, "line 42: ");
        TT_CONTAINS(err.msg, bad[k].why);
    }
    TT_EQ_U(tsl_batch_count(b), 0); /* nothing was added */
    char longline[TSL_BATCH_MAX_LINE + 2];
    memset(longline, '1', sizeof longline);
    TT_ERR(tsl_batch_add_line(b, longline, sizeof longline, 7, NULL), TSL_ERR_LIMIT);
    tsl_batch_free(b);
    /* SUSPENDED on a one-bit list says why. */
    TT_OK(tsl_batch_new(1, 10, &b, NULL));
    tsl_error err;
    tsl_error_clear(&err);
    TT_ERR(add(b, "3 SUSPENDED", 9, &err), TSL_ERR_VALUE);
    TT_CONTAINS(err.msg, "at least 2 bits");
    tsl_batch_free(b);
}

TT_TEST(batch_apply_final_invalid)
{
    tsl_list *l;
    TT_OK(tsl_list_new(2, 64, &l, NULL));
    TT_OK(tsl_list_set(l, 3, TSL_STATUS_INVALID, NULL));
    tsl_batch *b;
    TT_OK(tsl_batch_new(2, 64, &b, NULL));
    TT_OK(add(b, "0-9 SUSPENDED", 1, NULL));
    tsl_error err;
    tsl_error_clear(&err);
    TT_ERR(tsl_batch_apply(b, l, 1, &err), TSL_ERR_VALUE);
    TT_CONTAINS(err.msg, "line 1: index 3 is INVALID");
    unsigned v;
    TT_OK(tsl_list_get(l, 0, &v, NULL));
    TT_EQ_U(v, 0); /* nothing applied */
    TT_OK(tsl_batch_apply(b, l, 0, NULL)); /* with --force */
    TT_OK(tsl_list_get(l, 3, &v, NULL));
    TT_EQ_U(v, 2);
    tsl_batch_free(b);
    /* Within one batch: an entry made INVALID by an earlier line stays INVALID. */
    TT_OK(tsl_batch_new(2, 64, &b, NULL));
    TT_OK(add(b, "20 INVALID", 1, NULL));
    TT_OK(add(b, "21 INVALID", 2, NULL));
    TT_OK(add(b, "20 VALID", 3, NULL));
    tsl_error_clear(&err);
    TT_ERR(tsl_batch_apply(b, l, 1, &err), TSL_ERR_VALUE);
    TT_CONTAINS(err.msg, "line 3: index 20");
    TT_OK(tsl_list_get(l, 21, &v, NULL));
    TT_EQ_U(v, 0); /* restored */
    /* INVALID to INVALID is no change and allowed. */
    tsl_batch_free(b);
    TT_OK(tsl_batch_new(2, 64, &b, NULL));
    TT_OK(add(b, "3 INVALID", 1, NULL));
    TT_OK(add(b, "3-4 INVALID", 2, NULL));
    TT_OK(tsl_batch_apply(b, l, 1, NULL));
    tsl_batch_free(b);
    tsl_list_free(l);
}

TT_TEST(batch_status_parse)
{
    unsigned v;
    TT_CHECK(tsl_status_parse("valid", 5, &v, NULL) == TSL_OK && v == 0);
    TT_CHECK(tsl_status_parse("Invalid", 7, &v, NULL) == TSL_OK && v == 1);
    TT_CHECK(tsl_status_parse("APPLICATION_SPECIFIC", 20, &v, NULL) == TSL_OK && v == 3);
    TT_CHECK(tsl_status_parse("255", 3, &v, NULL) == TSL_OK && v == 255);
    TT_CHECK(tsl_status_parse("256", 3, &v, NULL) == TSL_ERR_MALFORMED);
    TT_CHECK(tsl_status_parse("1000", 4, &v, NULL) == TSL_ERR_MALFORMED);
    TT_CHECK(tsl_status_parse("VALIDX", 6, &v, NULL) == TSL_ERR_MALFORMED);
    TT_CHECK(tsl_status_parse("", 0, &v, NULL) == TSL_ERR_MALFORMED);
    /* A digit the length excludes is not read. */
    TT_CHECK(tsl_status_parse("5", 0, &v, NULL) == TSL_ERR_MALFORMED);
    tsl_error err;
    tsl_error_clear(&err);
    TT_ERR(tsl_status_parse("REVOKED", 7, &v, &err), TSL_ERR_MALFORMED);
    TT_CONTAINS(err.msg, "unknown status \"REVOKED\"");
    TT_ERR(tsl_status_parse(NULL, 0, &v, NULL), TSL_ERR_ARG);
}

/* ---------------------------------------------------------------------------------- */
/* Normalisation (issue 10 item 10): a batch is applied as sorted, disjoint segments.
 * The reference is the original in-order application, entry by entry. */

#include "store/batch_int.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

static uint64_t rnd_state;
static uint64_t rnd(void)
{
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 7;
    rnd_state ^= rnd_state << 17;
    return rnd_state;
}
static uint64_t rnd_below(uint64_t n)
{
    return rnd() % n;
}

/* The in-order application: item after item against the list as it evolves, failing on
 * the first item that would change an INVALID entry (when final), at the lowest such
 * index of its range. Returns the failing item's number and sets *at (l is then left
 * part-changed: callers compare with their own copy), or -1 when all applied. */
static long naive_apply(const tsl_batch *b, tsl_list *l, int final, uint64_t *at)
{
    size_t n = tsl_batch_count(b);
    const tsl_batch_item *it = tsl_batch_items(b);
    for (size_t k = 0; k < n; k++) {
        if (final && it[k].value != TSL_STATUS_INVALID)
            for (uint64_t i = it[k].first; i <= it[k].last; i++) {
                unsigned v;
                tsl_list_get(l, i, &v, NULL);
                if (v == TSL_STATUS_INVALID) {
                    *at = i;
                    return (long)k;
                }
            }
        tsl_list_set_range(l, it[k].first, it[k].last, it[k].value, NULL);
    }
    return -1;
}

/* A random item for a list of size entries: points, short and long ranges, the whole
 * list, and ranges that start or end at another item's edge; values favour INVALID. */
static void random_item(uint64_t size, unsigned bits, const tsl_batch *b, uint64_t *first,
                        uint64_t *last, unsigned *value)
{
    uint64_t a, z;
    switch (rnd_below(6)) {
    case 0: a = z = rnd_below(size); break;
    case 1:
        a = rnd_below(size);
        z = a + rnd_below(8);
        break;
    case 2:
        a = rnd_below(size);
        z = a + rnd_below(size);
        break;
    case 3:
        a = 0;
        z = size - 1;
        break;
    default: {
        /* Adjacent to or overlapping an earlier item's edge. */
        size_t n = b != NULL ? tsl_batch_count(b) : 0;
        if (n == 0) {
            a = z = rnd_below(size);
            break;
        }
        const tsl_batch_item *o = &tsl_batch_items(b)[rnd_below(n)];
        uint64_t edge = rnd_below(2) ? o->last + 1 : o->first;
        if (edge >= size)
            edge = size - 1;
        a = edge;
        z = edge + rnd_below(5);
        if (rnd_below(2) && edge > 0) {
            z = edge - 1;
            a = z > 3 ? z - rnd_below(4) : 0;
        }
    }
    }
    if (z >= size)
        z = size - 1;
    *first = a;
    *last = z;
    unsigned r = (unsigned)rnd_below(4);
    *value = r < 2 ? TSL_STATUS_INVALID : (unsigned)rnd_below(1u << bits);
}

/* A random batch of n items of one of three kinds, which take normalisation's three
 * ways: 0 mixed (the sweep), 1 single entries in any order, 2 sorted and apart. */
static tsl_status random_batch(tsl_batch *b, uint64_t size, unsigned bits, size_t n,
                               int kind)
{
    uint64_t next = 0;
    for (size_t k = 0; k < n; k++) {
        uint64_t a, z;
        unsigned v;
        random_item(size, bits, b, &a, &z, &v);
        if (kind == 1) {
            z = a;
        } else if (kind == 2) {
            if (next >= size)
                break;
            a = next + rnd_below(3);
            if (a >= size)
                a = size - 1;
            z = a + rnd_below(6);
            if (z >= size)
                z = size - 1;
            next = z + 1;
        }
        tsl_status r = tsl_batch_add(b, a, z, v, k + 1, NULL);
        if (r != TSL_OK)
            return r;
    }
    return TSL_OK;
}

static tsl_list *random_list(unsigned bits, uint64_t size)
{
    tsl_list *l = NULL;
    if (tsl_list_new(bits, size, &l, NULL) != TSL_OK)
        return NULL;
    for (uint64_t i = 0; i < size; i++)
        if (rnd_below(5) == 0)
            tsl_list_set(l, i,
                         rnd_below(2) ? TSL_STATUS_INVALID : (unsigned)rnd_below(1u << bits), NULL);
    return l;
}

static tsl_list *list_copy(const tsl_list *l)
{
    tsl_list *c = NULL;
    if (tsl_list_new(tsl_list_bits(l), tsl_list_size(l), &c, NULL) != TSL_OK)
        return NULL;
    for (uint64_t i = 0; i < tsl_list_size(l); i++) {
        unsigned v;
        tsl_list_get(l, i, &v, NULL);
        tsl_list_set(c, i, v, NULL);
    }
    return c;
}

TT_TEST(batch_normalise_matches_reference)
{
    static const unsigned bitsv[4] = {1, 2, 4, 8};
    rnd_state = 0x9e3779b97f4a7c15u;
    for (int round = 0; round < 3000; round++) {
        unsigned bits = bitsv[rnd_below(4)];
        uint64_t size = 1 + rnd_below(round % 10 == 0 ? 2000 : 120);
        int final = (int)rnd_below(2);
        tsl_batch *b;
        TT_OK(tsl_batch_new(bits, size, &b, NULL));
        size_t n = 1 + (size_t)rnd_below(round % 7 == 0 ? 200 : 12);
        TT_OK(random_batch(b, size, bits, n, round % 3));
        n = tsl_batch_count(b);
        tslp_seg *s = NULL;
        size_t ns = 0;
        TT_OK(tslp_batch_normalise(b, final, &s, &ns, NULL));
        /* Per entry: the last covering item, the first covering non-INVALID one, and the
         * first non-INVALID one after the first INVALID one. */
        const tsl_batch_item *it = tsl_batch_items(b);
        size_t at = 0;
        for (uint64_t e = 0; e < size; e++) {
            long top = -1, fs = -1, fi = -1, fa = -1;
            for (size_t k = 0; k < n; k++) {
                if (e < it[k].first || e > it[k].last)
                    continue;
                top = (long)k;
                if (it[k].value == TSL_STATUS_INVALID) {
                    if (fi < 0)
                        fi = (long)k;
                } else {
                    if (fs < 0)
                        fs = (long)k;
                    if (fi >= 0 && fa < 0)
                        fa = (long)k;
                }
            }
            while (at < ns && s[at].last < e)
                at++;
            bool inside = at < ns && s[at].first <= e;
            if (top < 0) {
                if (inside)
                    tt_failf(__FILE__, __LINE__, "round %d: entry %" PRIu64
                             " is covered by no item but lies in a segment", round, e);
                TT_CHECK(!inside);
                continue;
            }
            if (!inside)
                tt_failf(__FILE__, __LINE__, "round %d: entry %" PRIu64 " not in a segment",
                         round, e);
            TT_CHECK(inside);
            TT_EQ_U(tslp_seg_value(&s[at]), it[top].value);
            uint32_t want_fs = final && fs >= 0 ? (uint32_t)fs : TSLP_SEG_NONE;
            uint32_t want_fa = final && fa >= 0 ? (uint32_t)fa : TSLP_SEG_NONE;
            TT_EQ_U(tslp_seg_fail_stored(&s[at]), want_fs);
            TT_EQ_U(tslp_seg_fail_always(&s[at]), want_fa);
        }
        /* Sorted, disjoint, and merged: no two touching segments with the same meta. */
        for (size_t k = 1; k < ns; k++) {
            TT_CHECK(s[k].first > s[k - 1].last);
            TT_CHECK(!(s[k].first == s[k - 1].last + 1 && s[k].meta == s[k - 1].meta));
        }
        TT_CHECK(ns <= 2 * n);
        tslp_free(s);
        tsl_batch_free(b);
    }
}

TT_TEST(batch_normalise_overlap_adjacency_later_wins)
{
    tsl_batch *b;
    TT_OK(tsl_batch_new(2, 100, &b, NULL));
    TT_OK(add(b, "10-19 2", 1, NULL));
    TT_OK(add(b, "20-29 2", 2, NULL)); /* adjacent, same value */
    TT_OK(add(b, "15-24 3", 3, NULL)); /* overlaps both, later: wins */
    TT_OK(add(b, "0-99 0", 4, NULL));  /* wins everywhere */
    TT_OK(add(b, "50 1", 5, NULL));
    tslp_seg *s = NULL;
    size_t ns = 0;
    TT_OK(tslp_batch_normalise(b, 0, &s, &ns, NULL));
    /* Without finality only values matter: 0-49 0, 50 1, 51-99 0. */
    TT_EQ_U(ns, 3);
    TT_EQ_U(s[0].first, 0);
    TT_EQ_U(s[0].last, 49);
    TT_EQ_U(tslp_seg_value(&s[0]), 0);
    TT_EQ_U(s[1].first, 50);
    TT_EQ_U(s[1].last, 50);
    TT_EQ_U(tslp_seg_value(&s[1]), 1);
    TT_EQ_U(s[2].first, 51);
    TT_EQ_U(s[2].last, 99);
    tslp_free(s);
    tsl_batch_free(b);
    /* Adjacent lines of one value merge; a gap between them stays out. */
    TT_OK(tsl_batch_new(2, 100, &b, NULL));
    TT_OK(add(b, "30-39 INVALID", 1, NULL));
    TT_OK(add(b, "0-9 INVALID", 2, NULL));
    TT_OK(add(b, "10-19 INVALID", 3, NULL));
    TT_OK(tslp_batch_normalise(b, 1, &s, &ns, NULL));
    TT_EQ_U(ns, 2);
    TT_EQ_U(s[0].first, 0);
    TT_EQ_U(s[0].last, 19);
    TT_EQ_U(s[1].first, 30);
    TT_EQ_U(tslp_seg_fail_stored(&s[0]), TSLP_SEG_NONE); /* INVALID over INVALID is fine */
    tslp_free(s);
    tsl_batch_free(b);
    /* 1,000 full-range lines are one segment: the cost no longer grows with lines x
     * entries. */
    TT_OK(tsl_batch_new(1, (uint64_t)1 << 36, &b, NULL));
    for (unsigned k = 0; k < 1000; k++)
        TT_OK(tsl_batch_add(b, 0, ((uint64_t)1 << 36) - 1, k & 1, k + 1, NULL));
    TT_OK(tslp_batch_normalise(b, 1, &s, &ns, NULL));
    TT_EQ_U(ns, 1);
    TT_EQ_U(tslp_seg_value(&s[0]), 1);
    TT_EQ_U(tslp_seg_fail_stored(&s[0]), 0);
    TT_EQ_U(tslp_seg_fail_always(&s[0]), 2); /* line 2 INVALID, line 3 VALID */
    tslp_free(s);
    tsl_batch_free(b);
}

/* tsl_batch_apply against the in-order reference: same result, same failure (item,
 * index, message), the list untouched on failure. */
TT_TEST(batch_apply_random_vs_in_order)
{
    static const unsigned bitsv[4] = {1, 2, 4, 8};
    rnd_state = 0x2545f4914f6cdd1du;
    int failures = 0;
    for (int round = 0; round < 4000; round++) {
        unsigned bits = bitsv[rnd_below(4)];
        uint64_t size = 1 + rnd_below(round % 10 == 0 ? 3000 : 100);
        int final = (int)rnd_below(3) != 0;
        tsl_batch *b;
        TT_OK(tsl_batch_new(bits, size, &b, NULL));
        size_t n = 1 + (size_t)rnd_below(round % 5 == 0 ? 100 : 10);
        TT_OK(random_batch(b, size, bits, n, round % 3));
        tsl_list *l = random_list(bits, size), *ref = list_copy(l);
        TT_CHECK(l != NULL && ref != NULL);
        uint64_t at = 0;
        long k = naive_apply(b, ref, final, &at);
        if (k >= 0) { /* all or nothing: the list must stay as it was */
            tsl_list_free(ref);
            ref = list_copy(l);
        }
        tsl_error err;
        tsl_error_clear(&err);
        tsl_status st = tsl_batch_apply(b, l, final, &err);
        if (k < 0) {
            if (st != TSL_OK)
                tt_failf(__FILE__, __LINE__, "round %d: %s", round, err.msg);
            TT_OK(st);
        } else {
            failures++;
            TT_ERR(st, TSL_ERR_VALUE);
            char want[128];
            snprintf(want, sizeof want,
                     "line %ld: index %" PRIu64 " is INVALID, which is final; use --force "
                     "to change it", k + 1, at);
            TT_EQ_STR(err.msg, want);
            TT_EQ_U(err.offset, (uint64_t)k);
        }
        size_t la, lb;
        const uint8_t *x = tsl_list_bytes(l, &la), *y = tsl_list_bytes(ref, &lb);
        TT_EQ_U(la, lb);
        TT_EQ_MEM(x, y, la);
        tsl_list_free(l);
        tsl_list_free(ref);
        tsl_batch_free(b);
    }
    /* Both outcomes were exercised often. */
    TT_CHECK(failures > 500 && failures < 3500);
}

/* The same against a stored list of three chunks, through both of tsl_store_update's
 * ways (normalised, and line by line for short lines): it and the in-order reference
 * agree on the statuses, the number changed and the failure. On SQLite, and (pg) on a
 * schema of the PostgreSQL test server. */
static void store_random_vs_in_order(int pg)
{
    char dir[] = "/tmp/tsl-batch-XXXXXX", db[512], key[64], schema[64] = "";
    TT_CHECK(mkdtemp(dir) != NULL);
    snprintf(db, sizeof db, "%s/tsl.db", dir);
    if (pg && tt_pg_store(db, sizeof db, schema, sizeof schema) != 0) {
        rmdir(dir);
        TT_CHECK(!"a PostgreSQL store");
    }
    snprintf(key, sizeof key, "%s/key.pem", dir);
    tsl_key *k = NULL;
    char *pem = NULL;
    TT_OK(tsl_key_generate(TSL_ALG_ES256, &k, NULL));
    TT_OK(tsl_key_to_private(k, &pem, NULL));
    tsl_key_free(k);
    int fd = open(key, O_WRONLY | O_CREAT | O_EXCL, 0600);
    TT_CHECK(fd >= 0);
    TT_CHECK(write(fd, pem, strlen(pem)) == (ssize_t)strlen(pem));
    close(fd);
    tsl_free(pem);
    tsl_store *st = NULL;
    TT_OK(tsl_store_open(db, &st, NULL));
    /* 2 bits: 262144 entries a chunk; the list spans three. */
    const unsigned bits = 2;
    const uint64_t size = 2 * 262144 + 5000;
    tsl_list_spec in;
    memset(&in, 0, sizeof in);
    in.id = "r";
    in.uri = "https://example.com/statuslists/r";
    in.bits = bits;
    in.size = size;
    in.key_path = key;
    TT_OK(tsl_store_list_create(st, &in, NULL));
    tsl_list *ref = NULL;
    TT_OK(tsl_list_new(bits, size, &ref, NULL));
    rnd_state = 0x1234567887654321u;
    int failures = 0;
    for (int round = 0; round < 60; round++) {
        tsl_batch *b;
        TT_OK(tsl_batch_new(bits, size, &b, NULL));
        size_t n = 1 + (size_t)rnd_below(30);
        for (size_t j = 0; j < n; j++) {
            uint64_t a, z;
            unsigned v;
            /* Even rounds: anywhere, with one line of 10000 entries or more, so the
             * lines average over 256 entries and the batch is normalised. Odd rounds:
             * within 200 entries of a chunk edge (where segments are split), applied
             * line by line. */
            if (round % 2 == 0) {
                random_item(size, bits, b, &a, &z, &v);
                if (j == n / 2 && z - a < 10000) {
                    a = a > 10000 ? a - 10000 : 0;
                    z = a + 10000;
                }
            } else {
                uint64_t base = 262144 * (1 + rnd_below(2)) - 100;
                random_item(200, bits, NULL, &a, &z, &v);
                a += base;
                z += base;
            }
            TT_OK(tsl_batch_add(b, a, z, v, j + 1, NULL));
        }
        int force = round % 9 == 8;
        tsl_list *want = list_copy(ref);
        uint64_t at = 0;
        long fk = naive_apply(b, want, !force, &at);
        tsl_error err;
        tsl_error_clear(&err);
        uint64_t changed = 0;
        tsl_status s = tsl_store_update(st, "r", b, force, 0, "test", &changed, &err);
        if (fk < 0) {
            if (s != TSL_OK)
                tt_failf(__FILE__, __LINE__, "round %d: %s", round, err.msg);
            TT_OK(s);
            uint64_t diff = 0;
            for (uint64_t i = 0; i < size; i++) {
                unsigned x, y;
                tsl_list_get(ref, i, &x, NULL);
                tsl_list_get(want, i, &y, NULL);
                diff += x != y;
            }
            TT_EQ_U(changed, diff);
            tsl_list_free(ref);
            ref = want;
        } else {
            failures++;
            TT_ERR(s, TSL_ERR_VALUE);
            char msg[128];
            snprintf(msg, sizeof msg,
                     "line %ld: index %" PRIu64 " is INVALID, which is final; use --force",
                     fk + 1, at);
            TT_EQ_STR(err.msg, msg);
            tsl_list_free(want);
        }
        tsl_batch_free(b);
        tsl_list *got = NULL;
        TT_OK(tsl_store_list_load(st, "r", &got, NULL, NULL));
        size_t la, lb;
        const uint8_t *x = tsl_list_bytes(got, &la), *y = tsl_list_bytes(ref, &lb);
        TT_EQ_U(la, lb);
        TT_EQ_MEM(x, y, la);
        tsl_list_free(got);
    }
    TT_CHECK(failures > 5 && failures < 55);
    tsl_list_free(ref);
    tsl_store_close(st);
    tt_pg_drop(schema);
    char path[96];
    static const char *const files[] = {"tsl.db", "tsl.db-wal", "tsl.db-shm", "key.pem"};
    for (size_t j = 0; j < sizeof files / sizeof files[0]; j++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[j]);
        unlink(path);
    }
    rmdir(dir);
}

TT_TEST(batch_store_update_random_vs_in_order)
{
    store_random_vs_in_order(0);
}

TT_TEST(batch_store_update_random_vs_in_order_pg)
{
    store_random_vs_in_order(1);
}

/* Issue 10 item 23: a byte order mark is named, not shown as a strange index. */
TT_TEST(batch_bom_said_plainly)
{
    tsl_batch *b;
    TT_OK(tsl_batch_new(2, 100, &b, NULL));
    tsl_error err;
    tsl_error_clear(&err);
    TT_ERR(add(b, "\xEF\xBB\xBF" "5 INVALID", 3, &err), TSL_ERR_MALFORMED);
    TT_EQ_STR(err.msg, "line 3: starts with a UTF-8 byte order mark (U+FEFF)");
    tsl_error_clear(&err);
    TT_ERR(add(b, "\xEF\xBB\xBF", 1, &err), TSL_ERR_MALFORMED);
    TT_CONTAINS(err.msg, "byte order mark");
    TT_EQ_U(tsl_batch_count(b), 0);
    tsl_batch_free(b);
}

/* Each allocation of the three ways to normalise fails in turn: TSL_ERR_NOMEM, the list
 * unchanged, nothing leaked (make check runs this under LeakSanitizer). */
TT_TEST(batch_apply_alloc_failure_sweep)
{
    static const char *const kinds[3][4] = {
        {"0-49 2", "10-19 INVALID", "15-30 3", "60 1"}, /* overlapping: the sweep */
        {"9 2", "3 INVALID", "9 1", "3 0"},             /* single entries */
        {"1 2", "3-5 INVALID", "7-9 3", "11 1"},        /* sorted and apart */
    };
    for (int k = 0; k < 3; k++) {
        tsl_batch *b;
        TT_OK(tsl_batch_new(2, 64, &b, NULL));
        for (int j = 0; j < 4; j++)
            TT_OK(add(b, kinds[k][j], (uint64_t)j + 1, NULL));
        int succeeded = 0;
        for (long n = 1; n < 40 && !succeeded; n++) {
            tsl_list *l;
            TT_OK(tsl_list_new(2, 64, &l, NULL));
            tslp_test_fail_alloc_after(n);
            tsl_status st = tsl_batch_apply(b, l, 1, NULL);
            tslp_test_fail_alloc_after(0);
            uint64_t counts[256];
            tsl_list_count(l, counts);
            tsl_list_free(l);
            if (st == TSL_OK || st == TSL_ERR_VALUE) {
                succeeded = 1;
            } else {
                TT_EQ_U(st, TSL_ERR_NOMEM);
                TT_EQ_U(counts[0], 64); /* nothing applied */
            }
        }
        TT_CHECK(succeeded);
        tsl_batch_free(b);
    }
}
