/* batch.c - bulk status changes: the "IDX STATUS" / "FIRST-LAST STATUS" line format,
 * parsed strictly into ranges (a range line never expands into entries), checked
 * against the list's size and bits as it is read, and applied all or nothing. */
#include "tsl_int.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* The most items one batch holds (32 bytes each: 2 GiB). A larger change set is better
 * sent as ranges or as several batches. */
#define TSL_BATCH_MAX_ITEMS ((size_t)1 << 26)

struct tsl_batch {
    unsigned bits;
    uint64_t size;
    tsl_batch_item *items;
    size_t n, cap;
    uint64_t entries;
};

int tsl_status_parse(const char *text, size_t len, unsigned *value)
{
    static const struct {
        const char *name;
        unsigned value;
    } names[] = {{"VALID", TSL_STATUS_VALID},
                 {"INVALID", TSL_STATUS_INVALID},
                 {"SUSPENDED", TSL_STATUS_SUSPENDED},
                 {"APPLICATION_SPECIFIC", TSL_STATUS_APPLICATION_SPECIFIC}};
    if (text == NULL || len == 0 || value == NULL)
        return 0;
    if (text[0] >= '0' && text[0] <= '9') {
        unsigned v = 0;
        for (size_t k = 0; k < len; k++) {
            if (text[k] < '0' || text[k] > '9' || k >= 3)
                return 0;
            v = v * 10 + (unsigned)(text[k] - '0');
        }
        if (v > 255)
            return 0;
        *value = v;
        return 1;
    }
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
        if (strlen(names[k].name) == len && strncasecmp(text, names[k].name, len) == 0) {
            *value = names[k].value;
            return 1;
        }
    return 0;
}

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
        if (b->cap == TSL_BATCH_MAX_ITEMS)
            return tslp_fail(err, TSL_ERR_LIMIT, 0, "%smore than %zu items in one batch",
                             where, TSL_BATCH_MAX_ITEMS);
        size_t ncap = b->cap < 1024 ? 1024 : b->cap * 2;
        if (ncap > TSL_BATCH_MAX_ITEMS)
            ncap = TSL_BATCH_MAX_ITEMS;
        tsl_batch_item *ni = tslp_realloc(b->items, ncap * sizeof *ni);
        if (ni == NULL)
            return tslp_fail(err, TSL_ERR_NOMEM, 0, "batch: out of memory for %zu items",
                             ncap);
        b->items = ni;
        b->cap = ncap;
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
    if (!tsl_status_parse(f[1], fl[1], &value))
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

/* The first entry in first..last that is INVALID, or false. */
static bool find_invalid(const tsl_list *l, uint64_t first, uint64_t last, uint64_t *at)
{
    for (uint64_t i = first; i <= last; i++) {
        unsigned v;
        tsl_list_get(l, i, &v);
        if (v == TSL_STATUS_INVALID) {
            *at = i;
            return true;
        }
        if (i == UINT64_MAX)
            break;
    }
    return false;
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
    /* Items were checked when added, so without the finality rule nothing can fail. */
    if (!final_invalid) {
        for (size_t k = 0; k < b->n; k++)
            tsl_list_set_range(l, b->items[k].first, b->items[k].last, b->items[k].value,
                               NULL);
        return TSL_OK;
    }
    /* With it, an earlier item of the batch can make an entry INVALID that a later one
     * tries to change, so check in order against the list as it evolves, and keep a copy
     * to restore if an item fails. */
    uint8_t *saved = l->nbytes ? tslp_malloc(l->nbytes) : NULL;
    if (l->nbytes && saved == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "batch: out of memory for %zu bytes",
                         l->nbytes);
    if (saved != NULL)
        memcpy(saved, l->data, l->nbytes);
    for (size_t k = 0; k < b->n; k++) {
        const tsl_batch_item *it = &b->items[k];
        uint64_t at;
        if (it->value != TSL_STATUS_INVALID && find_invalid(l, it->first, it->last, &at)) {
            if (saved != NULL)
                memcpy(l->data, saved, l->nbytes);
            tslp_free(saved);
            char where[32] = "";
            if (it->line > 0)
                snprintf(where, sizeof where, "line %llu: ", (unsigned long long)it->line);
            return tslp_fail(err, TSL_ERR_VALUE, k,
                             "%sindex %llu is INVALID, which is final; use --force to "
                             "change it",
                             where, (unsigned long long)at);
        }
        tsl_list_set_range(l, it->first, it->last, it->value, NULL);
    }
    tslp_free(saved);
    return TSL_OK;
}
