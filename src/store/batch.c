/* batch.c - bulk status changes: the "IDX STATUS" / "FIRST-LAST STATUS" line format,
 * parsed strictly into ranges (a range line never expands into entries), checked
 * against the list's size and bits as it is read, normalised into disjoint segments
 * (later lines win, with the item at which INVALID-final would fail kept per segment)
 * so that applying it costs the entries covered once, and applied all or nothing. */
#include "store/batch_int.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* The most items one batch holds (32 bytes each: 2 GiB). A larger change set is better
 * sent as ranges or as several batches. */

struct tsl_batch {
    unsigned bits;
    uint64_t size;
    tsl_batch_item *items;
    size_t n, cap;
    uint64_t entries;
};

tsl_status tsl_batch_new(unsigned bits, uint64_t size, tsl_batch **out, tsl_error *err)
{
    if (out == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "batch: NULL argument");
    if (!tslp_bits_ok(bits))
        return tslp_fail(err, TSL_ERR_ARG, 0, "bits: %u is not 1, 2, 4 or 8", bits);
    tsl_batch *b = tslp_calloc(1, sizeof *b);
    if (b == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "batch: out of memory");
    b->bits = bits;
    b->size = size;
    *out = b;
    return TSL_OK;
}

void tsl_batch_free(tsl_batch *b)
{
    if (b == NULL)
        return;
    tslp_free(b->items);
    tslp_free(b);
}

tsl_status tsl_batch_add(tsl_batch *b, uint64_t first, uint64_t last, unsigned value,
                         uint64_t lineno, tsl_error *err)
{
    if (b == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "batch: NULL argument");
    char where[32] = "";
    if (lineno > 0)
        snprintf(where, sizeof where, "line %llu: ", (unsigned long long)lineno);
    if (first > last)
        return tslp_fail(err, TSL_ERR_MALFORMED, 0, "%srange %llu-%llu is reversed", where,
                         (unsigned long long)first, (unsigned long long)last);
    if (last >= b->size)
        return tslp_fail(err, TSL_ERR_INDEX, 0, "%sindex %llu is out of range (size %llu)",
                         where, (unsigned long long)last, (unsigned long long)b->size);
    if (value >> b->bits != 0) {
        if (value == TSL_STATUS_SUSPENDED && b->bits == 1)
            return tslp_fail(err, TSL_ERR_VALUE, 0,
                             "%sSUSPENDED needs a list of at least 2 bits (this one has 1)",
                             where);
        return tslp_fail(err, TSL_ERR_VALUE, 0, "%svalue %u does not fit in %u bits", where,
                         value, b->bits);
    }
    if (b->n == b->cap) {
        if (b->cap == TSLP_BATCH_MAX_ITEMS)
            return tslp_fail(err, TSL_ERR_LIMIT, 0, "%smore than %zu items in one batch",
                             where, TSLP_BATCH_MAX_ITEMS);
        tsl_status st = TSLP_ELEMS_RESERVE(b->items, b->n, b->cap, 1, TSLP_BATCH_MAX_ITEMS,
                                           "batch", err);
        if (st != TSL_OK)
            return st;
    }
    tsl_batch_item *it = &b->items[b->n++];
    it->first = first;
    it->last = last;
    it->value = value;
    it->line = lineno;
    b->entries += last - first + 1;
    return TSL_OK;
}

/* Parses a decimal uint64 from s[0..n): digits only, no overflow. */
static bool parse_u64(const char *s, size_t n, uint64_t *out)
{
    if (n == 0)
        return false;
    uint64_t v = 0;
    for (size_t k = 0; k < n; k++) {
        if (s[k] < '0' || s[k] > '9')
            return false;
        unsigned d = (unsigned)(s[k] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

tsl_status tsl_batch_add_line(tsl_batch *b, const char *line, size_t len, uint64_t lineno,
                              tsl_error *err)
{
    if (b == NULL || (line == NULL && len > 0))
        return tslp_fail(err, TSL_ERR_ARG, 0, "batch: NULL argument");
    unsigned long long ln = (unsigned long long)lineno;
    if (len > TSL_BATCH_MAX_LINE)
        return tslp_fail(err, TSL_ERR_LIMIT, 0, "line %llu: longer than %d bytes", ln,
                         TSL_BATCH_MAX_LINE);
    if (len > 0 && line[len - 1] == '\r')
        len--;
    if (memchr(line, '\0', len) != NULL)
        return tslp_fail(err, TSL_ERR_MALFORMED, 0, "line %llu: contains a NUL byte", ln);
    const char *hash = memchr(line, '#', len);
    if (hash != NULL)
        len = (size_t)(hash - line);

    /* Up to three blank-separated fields; exactly two make an item. */
    const char *f[3];
    size_t fl[3], nf = 0, k = 0;
    while (k < len) {
        while (k < len && is_blank(line[k]))
            k++;
        if (k == len)
            break;
        size_t start = k;
        while (k < len && !is_blank(line[k]))
            k++;
        if (nf == 3)
            break;
        f[nf] = line + start;
        fl[nf++] = k - start;
    }
    if (nf == 0)
        return TSL_OK;
    /* Said plainly, rather than as an index that is not a number: a BOM is invisible in
     * most editors. (`tsl update` drops one at the very start of its input.) */
    if (fl[0] >= 3 && memcmp(f[0], "\xEF\xBB\xBF", 3) == 0)
        return tslp_fail(err, TSL_ERR_MALFORMED, 0,
                         "line %llu: starts with a UTF-8 byte order mark (U+FEFF)", ln);
    if (nf != 2)
        return tslp_fail(err, TSL_ERR_MALFORMED, 0,
                         "line %llu: expected \"IDX STATUS\" or \"FIRST-LAST STATUS\"", ln);
    uint64_t first = 0, last = 0;
    const char *dash = memchr(f[0], '-', fl[0]);
    bool ok;
    if (dash == NULL) {
        ok = parse_u64(f[0], fl[0], &first);
        last = first;
    } else {
        size_t a = (size_t)(dash - f[0]);
        ok = parse_u64(f[0], a, &first) && parse_u64(dash + 1, fl[0] - a - 1, &last);
    }
    if (!ok)
        return tslp_fail(err, TSL_ERR_MALFORMED, 0,
                         "line %llu: \"%.*s\" is not an index or a FIRST-LAST range of "
                         "non-negative integers",
                         ln, (int)(fl[0] > 40 ? 40 : fl[0]), f[0]);
    unsigned value;
    if (tsl_status_parse(f[1], fl[1], &value, NULL) != TSL_OK)
        return tslp_fail(err, TSL_ERR_MALFORMED, 0,
                         "line %llu: unknown status \"%.*s\" (VALID, INVALID, SUSPENDED, "
                         "APPLICATION_SPECIFIC or 0-255)",
                         ln, (int)(fl[1] > 40 ? 40 : fl[1]), f[1]);
    return tsl_batch_add(b, first, last, value, lineno, err);
}

size_t tsl_batch_count(const tsl_batch *b)
{
    return b ? b->n : 0;
}

const tsl_batch_item *tsl_batch_items(const tsl_batch *b)
{
    return b ? b->items : NULL;
}

uint64_t tsl_batch_entries(const tsl_batch *b)
{
    return b ? b->entries : 0;
}

/* ---------------------------------------------------------------------------------- */
/* Packed statuses                                                                      */

/* Whether a byte of packed entries holds an INVALID (1) one. */
static bool byte_has_invalid(unsigned b, unsigned bits)
{
    switch (bits) {
    case 1: return b != 0;
    case 2: return (b & ~(b >> 1) & 0x55u) != 0;
    case 4: return (b & ~(b >> 1) & ~(b >> 2) & ~(b >> 3) & 0x11u) != 0;
    default: return b == 1;
    }
}

bool tslp_packed_find_invalid(const uint8_t *data, unsigned bits, uint64_t lo, uint64_t hi,
                              uint64_t *at)
{
    unsigned per = 8 / bits, mask = (1u << bits) - 1;
    uint64_t i = lo;
    while (i <= hi) {
        if (i % per == 0 && hi - i + 1 >= per) {
            /* Whole bytes: skip those without an INVALID entry, then look inside. */
            uint64_t nb = (hi - i + 1) / per, k = 0;
            const uint8_t *p = data + i / per;
            while (k < nb && !byte_has_invalid(p[k], bits))
                k++;
            i += k * per;
            if (k == nb)
                continue;
            for (unsigned e = 0; e < per; e++)
                if (((p[k] >> (e * bits)) & mask) == TSL_STATUS_INVALID) {
                    *at = i + e;
                    return true;
                }
            i += per; /* not reached: the byte holds an INVALID entry */
            continue;
        }
        if (((data[i / per] >> ((i % per) * bits)) & mask) == TSL_STATUS_INVALID) {
            *at = i;
            return true;
        }
        i++;
    }
    return false;
}

void tslp_packed_set(uint8_t *data, unsigned bits, uint64_t lo, uint64_t hi, unsigned value)
{
    unsigned per = 8 / bits, mask = (1u << bits) - 1;
    unsigned pattern = value;
    for (unsigned w = bits; w < 8; w *= 2)
        pattern |= pattern << w;
    uint64_t i = lo;
    while (i <= hi) {
        if (i % per == 0 && hi - i + 1 >= per) {
            uint64_t nb = (hi - i + 1) / per;
            memset(data + i / per, (int)(pattern & 0xFF), (size_t)nb);
            i += nb * per;
            continue;
        }
        unsigned shift = (unsigned)(i % per) * bits;
        uint8_t *p = &data[i / per];
        *p = (uint8_t)((*p & ~(mask << shift)) | (value << shift));
        i++;
    }
}

/* ---------------------------------------------------------------------------------- */
/* Normalisation: later lines win, and where the INVALID-final rule would fail         */

_Static_assert(TSLP_BATCH_MAX_ITEMS < TSLP_SEG_NONE, "item numbers must fit a segment");

/* A set of item numbers as a bitmap with a summary level above every 64 words, so that
 * insert, remove, first, last and next cost O(log64 items). */
#define HB_LEVELS 8
typedef struct {
    uint64_t *w[HB_LEVELS]; /* w[0]: one bit per item; w[k+1]: one bit per word of w[k] */
    size_t nw[HB_LEVELS];
    unsigned levels;
    uint64_t *mem;
} hbits;

static bool hb_init(hbits *h, size_t n)
{
    memset(h, 0, sizeof *h);
    size_t words = (n + 63) / 64, total = 0;
    if (words == 0)
        words = 1;
    for (;;) {
        h->nw[h->levels++] = words;
        total += words;
        if (words == 1)
            break;
        words = (words + 63) / 64;
    }
    if ((h->mem = tslp_calloc(total, sizeof *h->mem)) == NULL)
        return false;
    uint64_t *p = h->mem;
    for (unsigned k = 0; k < h->levels; k++) {
        h->w[k] = p;
        p += h->nw[k];
    }
    return true;
}

static void hb_set(hbits *h, uint32_t i)
{
    for (unsigned k = 0; k < h->levels; k++) {
        uint64_t *w = &h->w[k][i >> 6];
        bool was = *w != 0;
        *w |= (uint64_t)1 << (i & 63);
        if (was)
            return;
        i >>= 6;
    }
}

static void hb_clear(hbits *h, uint32_t i)
{
    for (unsigned k = 0; k < h->levels; k++) {
        uint64_t *w = &h->w[k][i >> 6];
        *w &= ~((uint64_t)1 << (i & 63));
        if (*w != 0)
            return;
        i >>= 6;
    }
}

/* The smallest member >= i, or TSLP_SEG_NONE. */
static uint32_t hb_next(const hbits *h, uint64_t i)
{
    unsigned k = 0;
    for (;;) {
        if (k == h->levels || (i >> 6) >= h->nw[k])
            return TSLP_SEG_NONE;
        uint64_t m = h->w[k][i >> 6] & (~(uint64_t)0 << (i & 63));
        if (m != 0) {
            i = (i & ~(uint64_t)63) | (uint64_t)__builtin_ctzll(m);
            break;
        }
        i = (i >> 6) + 1; /* the next word, as a bit of the level above */
        k++;
    }
    while (k > 0) {
        k--;
        i = i << 6 | (uint64_t)__builtin_ctzll(h->w[k][i]);
    }
    return (uint32_t)i;
}

/* The largest member, or TSLP_SEG_NONE. */
static uint32_t hb_last(const hbits *h)
{
    unsigned k = h->levels - 1;
    if (h->w[k][0] == 0)
        return TSLP_SEG_NONE;
    uint64_t i = 63 - (uint64_t)__builtin_clzll(h->w[k][0]);
    while (k > 0) {
        k--;
        i = i << 6 | (63 - (uint64_t)__builtin_clzll(h->w[k][i]));
    }
    return (uint32_t)i;
}

/* Sorts n (key, tag) pairs by key: least significant digit first, 11 bits a pass, only
 * as many passes as the largest key needs. tmpk and tmpt have room for n. */
static void radix_sort(uint64_t *keys, uint32_t *tags, uint64_t *tmpk, uint32_t *tmpt,
                       size_t n, uint64_t maxkey)
{
    enum { DIGIT = 11, BUCKETS = 1 << DIGIT };
    size_t count[BUCKETS];
    for (unsigned shift = 0; shift < 64 && (maxkey >> shift) != 0; shift += DIGIT) {
        memset(count, 0, sizeof count);
        for (size_t k = 0; k < n; k++)
            count[(keys[k] >> shift) & (BUCKETS - 1)]++;
        size_t sum = 0;
        for (size_t d = 0; d < BUCKETS; d++) {
            size_t c = count[d];
            count[d] = sum;
            sum += c;
        }
        for (size_t k = 0; k < n; k++) {
            size_t at = count[(keys[k] >> shift) & (BUCKETS - 1)]++;
            tmpk[at] = keys[k];
            tmpt[at] = tags[k];
        }
        memcpy(keys, tmpk, n * sizeof *keys);
        memcpy(tags, tmpt, n * sizeof *tags);
    }
}

typedef struct {
    tslp_seg *s;
    size_t n, cap;
} seg_out;

/* Appends first..last with meta, merging with the previous segment when it continues
 * it with the same meta. */
static bool emit(seg_out *o, uint64_t first, uint64_t last, uint64_t meta)
{
    if (o->n > 0) {
        tslp_seg *p = &o->s[o->n - 1];
        if (p->meta == meta && p->last + 1 == first) {
            p->last = last;
            return true;
        }
    }
    if (o->n == o->cap &&
        TSLP_ELEMS_RESERVE(o->s, o->n, o->cap, 1, TSLP_BATCH_MAX_SEGS, "batch segments",
                           NULL) != TSL_OK)
        return false;
    o->s[o->n].first = first;
    o->s[o->n].last = last;
    o->s[o->n].meta = meta;
    o->n++;
    return true;
}

/* The fail fields of an entry, from the covering items' numbers in order: the first one
 * that is not INVALID, and the first one that is not INVALID after the first INVALID one.
 * Fed one item at a time. */
typedef struct {
    uint32_t fs, fi, fa;
} fails;

static void fails_add(fails *f, uint32_t item, bool invalid)
{
    if (invalid) {
        if (f->fi == TSLP_SEG_NONE)
            f->fi = item;
    } else {
        if (f->fs == TSLP_SEG_NONE)
            f->fs = item;
        if (f->fi != TSLP_SEG_NONE && f->fa == TSLP_SEG_NONE)
            f->fa = item;
    }
}

/* Batches of single entries only (the usual revocation file): a stable sort by index,
 * then each index's items are met in input order. */
static tsl_status points(const tsl_batch *b, int final, seg_out *o, tsl_error *err)
{
    size_t n = b->n;
    uint64_t *keys = tslp_malloc(n * sizeof *keys), *tmpk = NULL;
    uint32_t *tags = tslp_malloc(n * sizeof *tags), *tmpt = NULL;
    uint8_t *vals = tslp_malloc(n); /* compact: read at random below */
    tsl_status r = TSL_OK;
    if (keys == NULL || tags == NULL || vals == NULL ||
        (tmpk = tslp_malloc(n * sizeof *tmpk)) == NULL ||
        (tmpt = tslp_malloc(n * sizeof *tmpt)) == NULL) {
        r = tslp_fail(err, TSL_ERR_NOMEM, 0, "batch: out of memory sorting %zu items", n);
        goto done;
    }
    uint64_t maxkey = 0;
    for (size_t k = 0; k < n; k++) {
        keys[k] = b->items[k].first;
        tags[k] = (uint32_t)k;
        vals[k] = (uint8_t)b->items[k].value;
        if (keys[k] > maxkey)
            maxkey = keys[k];
    }
    radix_sort(keys, tags, tmpk, tmpt, n, maxkey);
    tslp_free(tmpk);
    tslp_free(tmpt);
    tmpk = NULL;
    tmpt = NULL;
    for (size_t i = 0; i < n;) {
        uint64_t idx = keys[i];
        fails f = {TSLP_SEG_NONE, TSLP_SEG_NONE, TSLP_SEG_NONE};
        uint32_t top = 0;
        for (; i < n && keys[i] == idx; i++) {
            top = tags[i];
            fails_add(&f, top, vals[top] == TSL_STATUS_INVALID);
        }
        uint64_t meta = final ? tslp_seg_meta(vals[top], f.fs, f.fa)
                              : tslp_seg_meta(vals[top], TSLP_SEG_NONE, TSLP_SEG_NONE);
        if (!emit(o, idx, idx, meta)) {
            r = tslp_fail(err, TSL_ERR_NOMEM, 0, "batch: out of memory normalising");
            goto done;
        }
    }
done:
    tslp_free(keys);
    tslp_free(tags);
    tslp_free(tmpk);
    tslp_free(tmpt);
    tslp_free(vals);
    return r;
}

/* The general case: a sweep over item starts and ends in index order. Between two
 * consecutive boundaries the covering items are fixed: the set `inv` holds the covering
 * items whose value is INVALID, `oth` the others. The last covering item gives the
 * value; the first of `oth` fails on an entry INVALID before the batch; the first of
 * `oth` after the first of `inv` fails on any entry. */
static tsl_status sweep(const tsl_batch *b, int final, seg_out *o, tsl_error *err)
{
    size_t n = b->n, ne = 2 * n;
    uint64_t *keys = tslp_malloc(ne * sizeof *keys), *tmpk = NULL;
    uint32_t *tags = tslp_malloc(ne * sizeof *tags), *tmpt = NULL;
    /* The items' values, compact: reading 32-byte items at random would cost a cache
     * miss per segment. */
    uint8_t *vals = tslp_malloc(n);
    hbits inv, oth;
    memset(&inv, 0, sizeof inv);
    memset(&oth, 0, sizeof oth);
    tsl_status r = TSL_OK;
    if (keys == NULL || tags == NULL || vals == NULL ||
        (tmpk = tslp_malloc(ne * sizeof *tmpk)) == NULL ||
        (tmpt = tslp_malloc(ne * sizeof *tmpt)) == NULL || !hb_init(&inv, n) ||
        !hb_init(&oth, n)) {
        r = tslp_fail(err, TSL_ERR_NOMEM, 0, "batch: out of memory sorting %zu items", n);
        goto done;
    }
    /* Tag: item number << 2, 2 if its value is INVALID, 1 for its start (first), 0 for
     * its end (last + 1: last is below the batch's size, so this never wraps). */
    uint64_t maxkey = 0;
    for (size_t k = 0; k < n; k++) {
        uint32_t t = (uint32_t)(k << 2) | (b->items[k].value == TSL_STATUS_INVALID) << 1;
        keys[2 * k] = b->items[k].first;
        tags[2 * k] = t | 1;
        keys[2 * k + 1] = b->items[k].last + 1;
        tags[2 * k + 1] = t;
        if (b->items[k].last + 1 > maxkey)
            maxkey = b->items[k].last + 1;
        vals[k] = (uint8_t)b->items[k].value;
    }
    radix_sort(keys, tags, tmpk, tmpt, ne, maxkey);
    tslp_free(tmpk);
    tslp_free(tmpt);
    tmpk = NULL;
    tmpt = NULL;
    size_t i = 0, active = 0;
    uint32_t xor_active = 0; /* with one item active, it is this one */
    while (i < ne) {
        uint64_t p = keys[i];
        for (; i < ne && keys[i] == p; i++) {
            uint32_t t = tags[i], it = t >> 2;
            hbits *h = t & 2 ? &inv : &oth;
            if (t & 1) {
                hb_set(h, it);
                active++;
            } else {
                hb_clear(h, it);
                active--;
            }
            xor_active ^= it;
        }
        if (active == 0 || i == ne)
            continue;
        uint32_t top, fs = TSLP_SEG_NONE, fa = TSLP_SEG_NONE;
        if (active == 1) {
            /* The common case of items apart: no search. */
            top = xor_active;
            if (vals[top] != TSL_STATUS_INVALID)
                fs = top;
        } else {
            uint32_t li = hb_last(&inv), lo = hb_last(&oth);
            top = li == TSLP_SEG_NONE ? lo : lo == TSLP_SEG_NONE ? li : li > lo ? li : lo;
            fs = hb_next(&oth, 0);
            uint32_t fi = hb_next(&inv, 0);
            if (fi != TSLP_SEG_NONE && fs != TSLP_SEG_NONE)
                fa = fs > fi ? fs : hb_next(&oth, (uint64_t)fi + 1);
        }
        uint64_t meta = final ? tslp_seg_meta(vals[top], fs, fa)
                              : tslp_seg_meta(vals[top], TSLP_SEG_NONE, TSLP_SEG_NONE);
        if (!emit(o, p, keys[i] - 1, meta)) {
            r = tslp_fail(err, TSL_ERR_NOMEM, 0, "batch: out of memory normalising");
            goto done;
        }
    }
done:
    tslp_free(keys);
    tslp_free(tags);
    tslp_free(tmpk);
    tslp_free(tmpt);
    tslp_free(vals);
    tslp_free(inv.mem);
    tslp_free(oth.mem);
    return r;
}

tsl_status tslp_batch_normalise(const tsl_batch *b, int final_invalid, tslp_seg **out,
                                size_t *n, tsl_error *err)
{
    if (b == NULL || out == NULL || n == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "batch: NULL argument");
    *out = NULL;
    *n = 0;
    /* As many segments as items, the most there are but for overlapping ranges: one
     * allocation in the usual cases. */
    seg_out o = {NULL, 0, 0};
    if (b->n > 0) {
        if ((o.s = tslp_malloc(b->n * sizeof *o.s)) == NULL)
            return tslp_fail(err, TSL_ERR_NOMEM, 0, "batch: out of memory for %zu segments",
                             b->n);
        o.cap = b->n;
    }
    /* Items already in order and apart (a sorted file of indices or disjoint ranges)
     * are their own normal form. */
    bool sorted = true, single = true;
    for (size_t k = 1; sorted && k < b->n; k++)
        sorted = b->items[k].first > b->items[k - 1].last;
    for (size_t k = 0; !sorted && single && k < b->n; k++)
        single = b->items[k].first == b->items[k].last;
    tsl_status r = TSL_OK;
    if (sorted) {
        for (size_t k = 0; k < b->n; k++) {
            const tsl_batch_item *it = &b->items[k];
            uint32_t fs = final_invalid && it->value != TSL_STATUS_INVALID ? (uint32_t)k
                                                                           : TSLP_SEG_NONE;
            uint64_t meta = tslp_seg_meta(it->value, fs, TSLP_SEG_NONE);
            if (!emit(&o, it->first, it->last, meta)) {
                r = tslp_fail(err, TSL_ERR_NOMEM, 0, "batch: out of memory normalising");
                break;
            }
        }
    } else if (single) {
        r = points(b, final_invalid, &o, err);
    } else {
        r = sweep(b, final_invalid, &o, err);
    }
    if (r != TSL_OK) {
        tslp_free(o.s);
        return r;
    }
    *out = o.s;
    *n = o.n;
    return TSL_OK;
}

tsl_status tsl_batch_apply(const tsl_batch *b, tsl_list *l, int final_invalid,
                           tsl_error *err)
{
    if (b == NULL || l == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "batch: NULL argument");
    if (l->bits != b->bits || l->size < b->size)
        return tslp_fail(err, TSL_ERR_ARG, 0,
                         "batch: made for %u bits and %llu entries, list has %u and %llu",
                         b->bits, (unsigned long long)b->size, l->bits,
                         (unsigned long long)l->size);
    /* Normalised first, so that each entry is read and written once however many lines
     * cover it; the INVALID-final check is done in full before anything changes. */
    tslp_seg *segs = NULL;
    size_t ns = 0;
    tsl_status r = tslp_batch_normalise(b, final_invalid, &segs, &ns, err);
    if (r != TSL_OK)
        return r;
    if (final_invalid) {
        /* The error the in-order application would meet first: the earliest failing
         * item and, within it, the lowest index. Segments come in index order, so a
         * later one only wins with an earlier item. */
        uint32_t best = TSLP_SEG_NONE;
        uint64_t best_at = 0, at;
        for (size_t k = 0; k < ns; k++) {
            const tslp_seg *s = &segs[k];
            uint32_t fa = tslp_seg_fail_always(s), fs = tslp_seg_fail_stored(s);
            if (fa < best) {
                best = fa;
                best_at = s->first;
            }
            if (fs < best &&
                tslp_packed_find_invalid(l->data, l->bits, s->first, s->last, &at)) {
                best = fs;
                best_at = at;
            }
        }
        if (best != TSLP_SEG_NONE) {
            tslp_free(segs);
            const tsl_batch_item *it = &b->items[best];
            char where[32] = "";
            if (it->line > 0)
                snprintf(where, sizeof where, "line %llu: ", (unsigned long long)it->line);
            return tslp_fail(err, TSL_ERR_VALUE, best,
                             "%sindex %llu is INVALID, which is final; use --force to "
                             "change it",
                             where, (unsigned long long)best_at);
        }
    }
    /* Items were checked when added, so nothing below can fail. */
    for (size_t k = 0; k < ns; k++)
        tsl_list_set_range(l, segs[k].first, segs[k].last, tslp_seg_value(&segs[k]), NULL);
    tslp_free(segs);
    return TSL_OK;
}

tsl_status tsl_batch_add_lines(tsl_batch *b, tsl_lines *r, tsl_progress *pg, uint64_t *lines,
                               tsl_error *err)
{
    if (b == NULL || r == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "batch: NULL argument");
    uint64_t bytes = 0;
    char *line;
    size_t len;
    tsl_status st;
    while ((st = tsl_lines_next(r, &line, &len, err)) == TSL_OK && line != NULL) {
        bytes += len + 1;
        unsigned long lineno = tsl_lines_number(r);
        if (lineno == 1 && len >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0) {
            line += 3;
            len -= 3;
        }
        if ((st = tsl_batch_add_line(b, line, len, lineno, err)) != TSL_OK)
            return st;
        tsl_progress_lines(pg, lineno, bytes);
    }
    if (st == TSL_OK && lines != NULL)
        *lines = tsl_lines_number(r);
    return st;
}
