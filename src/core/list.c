/* list.c - the packed status list (spec section 4.1): entries of 1, 2, 4 or 8 bits,
 * filled into each byte from the least significant bit upward, bytes in natural order.
 * One list is one flat byte array; there is never an array element per entry. */
#include "core/tsl_int.h"

#include <limits.h>
#include <string.h>

bool tslp_bits_ok(uint64_t bits)
{
    return bits == 1 || bits == 2 || bits == 4 || bits == 8;
}

/* log2(bits): an entry index shifted left by this is its bit position. */
static unsigned log2_bits(unsigned bits)
{
    return bits == 1 ? 0 : bits == 2 ? 1 : bits == 4 ? 2 : 3;
}

/* Bytes needed for size entries, or false if that does not fit in a size_t. */
static bool bytes_for(unsigned bits, uint64_t size, size_t *nbytes)
{
    /* size * bits + 7 must not overflow; written to avoid the multiplication. */
    if (size > (UINT64_MAX - 7) / bits)
        return false;
    uint64_t n = (size * bits + 7) / 8;
    if (n > SIZE_MAX)
        return false;
    *nbytes = (size_t)n;
    return true;
}

static tsl_list *alloc_list(tsl_error *err)
{
    tsl_list *l = tslp_calloc(1, sizeof *l);
    if (l == NULL)
        tslp_fail(err, TSL_ERR_NOMEM, 0, "out of memory allocating a list");
    return l;
}

tsl_status tsl_list_new(unsigned bits, uint64_t size, tsl_list **out, tsl_error *err)
{
    if (out == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "list: out is NULL");
    if (!tslp_bits_ok(bits))
        return tslp_fail(err, TSL_ERR_ARG, 0, "bits: %u is not 1, 2, 4 or 8", bits);
    size_t nbytes;
    if (!bytes_for(bits, size, &nbytes))
        return tslp_fail(err, TSL_ERR_LIMIT, 0, "list: %llu entries cannot be addressed",
                         (unsigned long long)size);
    uint8_t *data = NULL;
    if (nbytes > 0) {
        data = tslp_calloc(nbytes, 1);
        if (data == NULL)
            return tslp_fail(err, TSL_ERR_NOMEM, 0,
                             "out of memory allocating %zu bytes for %llu entries", nbytes,
                             (unsigned long long)size);
    }
    tsl_list *l = alloc_list(err);
    if (l == NULL) {
        tslp_free(data);
        return TSL_ERR_NOMEM;
    }
    l->bits = bits;
    l->size = size;
    l->nbytes = nbytes;
    l->data = data;
    *out = l;
    return TSL_OK;
}

tsl_status tslp_list_adopt(unsigned bits, uint8_t *data, size_t nbytes, tsl_list **out,
                           tsl_error *err)
{
    tsl_list *l = alloc_list(err);
    if (l == NULL) {
        tslp_free(data);
        return TSL_ERR_NOMEM;
    }
    l->bits = bits;
    l->nbytes = nbytes;
    l->size = (uint64_t)nbytes * (8 / bits);
    l->data = nbytes > 0 ? data : NULL;
    if (nbytes == 0)
        tslp_free(data);
    *out = l;
    return TSL_OK;
}

tsl_status tsl_list_from_bytes(unsigned bits, const uint8_t *bytes, size_t len,
                               tsl_list **out, tsl_error *err)
{
    if (out == NULL || (bytes == NULL && len > 0))
        return tslp_fail(err, TSL_ERR_ARG, 0, "list: NULL argument");
    if (!tslp_bits_ok(bits))
        return tslp_fail(err, TSL_ERR_ARG, 0, "bits: %u is not 1, 2, 4 or 8", bits);
    if ((uint64_t)len > UINT64_MAX / 8)
        return tslp_fail(err, TSL_ERR_LIMIT, 0, "list: %zu bytes cannot be addressed", len);
    uint8_t *copy = tslp_malloc(len);
    if (copy == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "out of memory copying %zu bytes", len);
    if (len > 0)
        memcpy(copy, bytes, len);
    return tslp_list_adopt(bits, copy, len, out, err);
}

tsl_status tslp_list_from_stream(unsigned bits, uint64_t size, const uint8_t *z, size_t zlen,
                                 int level, tsl_list **out, tsl_error *err)
{
    if (z == NULL || zlen == 0 || level < 1 || level > TSL_LEVEL_STATUSLIST)
        return tslp_fail(err, TSL_ERR_ARG, 0, "list: no compressed stream");
    size_t nbytes;
    if (!tslp_bits_ok(bits) || !bytes_for(bits, size, &nbytes))
        return tslp_fail(err, TSL_ERR_ARG, 0, "list: %u bits, %llu entries", bits,
                         (unsigned long long)size);
    tsl_list *l = alloc_list(err);
    if (l == NULL)
        return TSL_ERR_NOMEM;
    l->bits = bits;
    l->size = size;
    l->nbytes = nbytes;
    l->mapped = true;
    if (nbytes > 0 && (l->data = tslp_zero_pages(nbytes)) == NULL) {
        tsl_list_free(l);
        return tslp_fail(err, TSL_ERR_NOMEM, 0,
                         "out of memory allocating %zu bytes for %llu entries", nbytes,
                         (unsigned long long)size);
    }
    if ((l->zcache = tslp_malloc(zlen)) == NULL) {
        tsl_list_free(l);
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "out of memory for a %zu-byte stream", zlen);
    }
    memcpy(l->zcache, z, zlen);
    l->zcache_len = zlen;
    l->zcache_level = level;
    *out = l;
    return TSL_OK;
}

void tslp_list_changed(tsl_list *l)
{
    tslp_free(l->zcache);
    l->zcache = NULL;
    l->zcache_len = 0;
}

void tsl_list_free(tsl_list *l)
{
    if (l == NULL)
        return;
    tslp_list_changed(l);
    if (l->mapped)
        tslp_zero_pages_free(l->data, l->nbytes);
    else
        tslp_free(l->data);
    tslp_free(l->aggregation_uri);
    tslp_free(l);
}

unsigned tsl_list_bits(const tsl_list *l)
{
    return l ? l->bits : 0;
}

uint64_t tsl_list_size(const tsl_list *l)
{
    return l ? l->size : 0;
}

size_t tsl_list_compressed_size(const tsl_list *l)
{
    return l ? l->compressed_size : 0;
}

const uint8_t *tsl_list_bytes(const tsl_list *l, size_t *len)
{
    if (len != NULL)
        *len = l ? l->nbytes : 0;
    return l ? l->data : NULL;
}

/* Zeroes the bits of the last byte that lie past the last entry, so that padding is
 * always 0 (VALID) whatever the list held before a shrink. */
static void clear_padding(tsl_list *l)
{
    uint64_t used_bits = l->size << log2_bits(l->bits);
    unsigned rem = (unsigned)(used_bits & 7);
    if (rem != 0 && l->nbytes > 0)
        l->data[l->nbytes - 1] &= (uint8_t)((1u << rem) - 1);
}

tsl_status tsl_list_resize(tsl_list *l, uint64_t size, tsl_error *err)
{
    if (l == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "list: NULL argument");
    size_t nbytes;
    if (!bytes_for(l->bits, size, &nbytes))
        return tslp_fail(err, TSL_ERR_LIMIT, 0, "list: %llu entries cannot be addressed",
                         (unsigned long long)size);
    if (nbytes != l->nbytes && l->mapped) {
        /* Off the pages: a list read from a stream that is resized after all. */
        uint8_t *d = nbytes > 0 ? tslp_malloc(nbytes) : NULL;
        if (nbytes > 0 && d == NULL)
            return tslp_fail(err, TSL_ERR_NOMEM, 0,
                             "out of memory resizing a list to %zu bytes", nbytes);
        if (nbytes > 0) {
            size_t keep = nbytes < l->nbytes ? nbytes : l->nbytes;
            if (keep > 0) /* a list of no entries has no pages */
                memcpy(d, l->data, keep);
            memset(d + keep, 0, nbytes - keep);
        }
        tslp_zero_pages_free(l->data, l->nbytes);
        l->data = d;
        l->nbytes = nbytes;
        l->mapped = false;
    } else if (nbytes != l->nbytes) {
        if (nbytes == 0) {
            tslp_free(l->data);
            l->data = NULL;
        } else {
            uint8_t *d = tslp_realloc(l->data, nbytes);
            if (d == NULL)
                return tslp_fail(err, TSL_ERR_NOMEM, 0,
                                 "out of memory resizing a list to %zu bytes", nbytes);
            if (nbytes > l->nbytes)
                memset(d + l->nbytes, 0, nbytes - l->nbytes);
            l->data = d;
        }
        l->nbytes = nbytes;
    }
    l->size = size;
    clear_padding(l);
    tslp_list_changed(l);
    return TSL_OK;
}

tsl_status tsl_list_get(const tsl_list *l, uint64_t idx, unsigned *value, tsl_error *err)
{
    if (l == NULL || value == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "list: NULL argument");
    if (idx >= l->size)
        return tslp_fail(err, TSL_ERR_INDEX, 0, "index %llu is out of range (size %llu)",
                         (unsigned long long)idx, (unsigned long long)l->size);
    uint64_t bit = idx << log2_bits(l->bits);
    *value = (l->data[bit >> 3] >> (bit & 7)) & ((1u << l->bits) - 1);
    return TSL_OK;
}

/* Writes an entry already known to be in range with a value known to fit. */
static void put(tsl_list *l, uint64_t idx, unsigned value)
{
    uint64_t bit = idx << log2_bits(l->bits);
    unsigned shift = (unsigned)(bit & 7);
    unsigned mask = ((1u << l->bits) - 1) << shift;
    uint8_t *p = &l->data[bit >> 3];
    *p = (uint8_t)((*p & ~mask) | (value << shift));
}

tsl_status tsl_list_set(tsl_list *l, uint64_t idx, unsigned value, tsl_error *err)
{
    if (l == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "list: NULL argument");
    if (idx >= l->size)
        return tslp_fail(err, TSL_ERR_INDEX, 0, "index %llu is out of range (size %llu)",
                         (unsigned long long)idx, (unsigned long long)l->size);
    if (value >> l->bits != 0)
        return tslp_fail(err, TSL_ERR_VALUE, 0, "value %u does not fit in %u bits", value,
                         l->bits);
    put(l, idx, value);
    if (l->zcache != NULL)
        tslp_list_changed(l);
    return TSL_OK;
}

tsl_status tsl_list_set_range(tsl_list *l, uint64_t first, uint64_t last, unsigned value,
                              tsl_error *err)
{
    if (l == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "list: NULL argument");
    if (first > last)
        return tslp_fail(err, TSL_ERR_ARG, 0, "range %llu-%llu is reversed",
                         (unsigned long long)first, (unsigned long long)last);
    if (last >= l->size)
        return tslp_fail(err, TSL_ERR_INDEX, 0, "index %llu is out of range (size %llu)",
                         (unsigned long long)last, (unsigned long long)l->size);
    if (value >> l->bits != 0)
        return tslp_fail(err, TSL_ERR_VALUE, 0, "value %u does not fit in %u bits", value,
                         l->bits);
    uint64_t per = 8 / l->bits;
    /* Entry by entry up to a byte boundary, whole bytes with memset, then the tail. */
    uint64_t i = first;
    while (i <= last && i % per != 0)
        put(l, i++, value);
    if (i <= last && last - i + 1 >= per) {
        uint64_t whole = (last - i + 1) / per;
        unsigned pattern = value;
        for (unsigned w = l->bits; w < 8; w *= 2)
            pattern |= pattern << w;
        memset(&l->data[i / per], (int)(pattern & 0xFF), (size_t)whole);
        i += whole * per;
    }
    while (i <= last)
        put(l, i++, value);
    tslp_list_changed(l);
    return TSL_OK;
}

tsl_status tsl_list_apply(tsl_list *l, const tsl_entry *entries, size_t n, tsl_error *err)
{
    if (l == NULL || (entries == NULL && n > 0))
        return tslp_fail(err, TSL_ERR_ARG, 0, "list: NULL argument");
    /* Check the whole batch first so that a bad pair leaves the list untouched. */
    for (size_t k = 0; k < n; k++) {
        if (entries[k].index >= l->size)
            return tslp_fail(err, TSL_ERR_INDEX, k,
                             "entry %zu: index %llu is out of range (size %llu)", k,
                             (unsigned long long)entries[k].index,
                             (unsigned long long)l->size);
        if (entries[k].value >> l->bits != 0)
            return tslp_fail(err, TSL_ERR_VALUE, k,
                             "entry %zu: value %u does not fit in %u bits", k,
                             (unsigned)entries[k].value, l->bits);
    }
    for (size_t k = 0; k < n; k++)
        put(l, entries[k].index, entries[k].value);
    tslp_list_changed(l);
    return TSL_OK;
}

void tsl_list_count(const tsl_list *l, uint64_t counts[256])
{
    memset(counts, 0, 256 * sizeof counts[0]);
    if (l == NULL || l->nbytes == 0)
        return;
    const uint8_t *d = l->data;
    size_t n = l->nbytes;
    if (l->bits == 1) {
        /* Sparse 1-bit lists are the common case: popcount a word at a time. */
        uint64_t ones = 0;
        size_t k = 0;
        for (; k + 8 <= n; k += 8) {
            uint64_t w;
            memcpy(&w, d + k, 8);
            ones += (uint64_t)__builtin_popcountll(w);
        }
        for (; k < n; k++)
            ones += (uint64_t)__builtin_popcount(d[k]);
        counts[1] = ones;
        counts[0] = (uint64_t)n * 8 - ones;
    } else if (l->bits == 8) {
        for (size_t k = 0; k < n; k++)
            counts[d[k]]++;
    } else {
        /* Count whole bytes by byte value, then split each byte into its entries. */
        uint64_t bytes[256] = {0};
        for (size_t k = 0; k < n; k++)
            bytes[d[k]]++;
        unsigned mask = (1u << l->bits) - 1;
        for (unsigned b = 0; b < 256; b++)
            if (bytes[b] != 0)
                for (unsigned s = 0; s < 8; s += l->bits)
                    counts[(b >> s) & mask] += bytes[b];
    }
    /* Padding entries in the last byte are always 0 and are not entries. */
    uint64_t slots = (uint64_t)n * (8 / l->bits);
    counts[0] -= slots - l->size;
}

const char *tsl_list_aggregation_uri(const tsl_list *l)
{
    return l ? l->aggregation_uri : NULL;
}

tsl_status tsl_list_set_aggregation_uri(tsl_list *l, const char *uri, tsl_error *err)
{
    if (l == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "list: NULL argument");
    char *copy = NULL;
    if (uri != NULL) {
        size_t n = strlen(uri);
        copy = tslp_malloc(n + 1);
        if (copy == NULL)
            return tslp_fail(err, TSL_ERR_NOMEM, 0, "out of memory copying aggregation_uri");
        memcpy(copy, uri, n + 1);
    }
    tslp_free(l->aggregation_uri);
    l->aggregation_uri = copy;
    return TSL_OK;
}

tsl_status tsl_list_grow(tsl_list *l, uint64_t idx, uint64_t max_bytes, tsl_error *err)
{
    if (l == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "list: NULL argument");
    if (idx < l->size)
        return TSL_OK;
    uint64_t cap = max_bytes > UINT64_MAX / 8 ? UINT64_MAX : max_bytes * 8 / l->bits;
    if (idx >= cap)
        return tslp_fail(err, TSL_ERR_LIMIT, 0,
                         "index %llu would make the list larger than %llu bytes",
                         (unsigned long long)idx, (unsigned long long)max_bytes);
    /* At least 1024 entries, then doubling: few reallocations for ascending input. */
    uint64_t want = l->size < 1024 ? 1024 : l->size * 2;
    if (want <= idx)
        want = idx + 1;
    return tsl_list_resize(l, want < cap ? want : cap, err);
}

tsl_status tsl_list_fit(tsl_list *l, uint64_t highest, tsl_error *err)
{
    if (l == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "list: NULL argument");
    uint64_t per = 8 / l->bits; /* entries per byte */
    if (highest / per + 1 > UINT64_MAX / per)
        return tslp_fail(err, TSL_ERR_LIMIT, 0, "list: %llu entries cannot be addressed",
                         (unsigned long long)highest);
    return tsl_list_resize(l, (highest / per + 1) * per, err);
}
