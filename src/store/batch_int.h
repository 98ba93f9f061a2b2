/* batch_int.h - an update batch normalised into sorted, disjoint runs of entries, and
 * the packed-statuses helpers that apply them; shared by batch.c (tsl_batch_apply) and
 * store_update.c (tsl_store_update). Never installed. */
#ifndef TSL_BATCH_INT_H
#define TSL_BATCH_INT_H

#include "core/tsl_int.h"

/* "No item" in a segment's fail fields. Item numbers are below 2^26
 * (TSLP_BATCH_MAX_ITEMS), so 28 bits hold them and this marker. */
#define TSLP_SEG_NONE 0x0FFFFFFFu

/* A run of entries first..last (inclusive) that the batch, applied in order, leaves at
 * one value: the value of the last item covering them (later lines win). `meta` packs,
 * for the INVALID-is-final rule, the item (index into tsl_batch_items()) at which the
 * in-order application would fail on an entry of the run:
 *   value        bits 0-7
 *   fail_stored  bits 8-35   the first covering item with a value other than INVALID:
 *                            it fails if the entry was INVALID before the batch
 *   fail_always  bits 36-63  the first covering item with a value other than INVALID
 *                            after the first covering INVALID item: it fails whatever
 *                            the entry was
 * Both are TSLP_SEG_NONE when there is no such item. */
typedef struct {
    uint64_t first, last;
    uint64_t meta;
} tslp_seg;

static inline uint64_t tslp_seg_meta(unsigned value, uint32_t fail_stored,
                                     uint32_t fail_always)
{
    return (uint64_t)value | (uint64_t)fail_stored << 8 | (uint64_t)fail_always << 36;
}
static inline unsigned tslp_seg_value(const tslp_seg *s)
{
    return (unsigned)(s->meta & 0xFF);
}
static inline uint32_t tslp_seg_fail_stored(const tslp_seg *s)
{
    return (uint32_t)(s->meta >> 8) & TSLP_SEG_NONE;
}
static inline uint32_t tslp_seg_fail_always(const tslp_seg *s)
{
    return (uint32_t)(s->meta >> 36) & TSLP_SEG_NONE;
}

/* Normalises b: *out (tslp_free) receives *n segments sorted by index, disjoint, whose
 * union is the union of the items' ranges, with adjacent segments of equal meta merged.
 * Costs O(items) when the items are already sorted and disjoint, otherwise a radix sort
 * and a sweep, O(items * log(items)); never anything proportional to the entries
 * covered. Memory: at most 2 * items - 1 segments (24 bytes each) and, while sorting,
 * 48 bytes per item. With final_invalid 0 the fail fields are all TSLP_SEG_NONE. */
tsl_status tslp_batch_normalise(const tsl_batch *b, int final_invalid, tslp_seg **out,
                                size_t *n, tsl_error *err);

/* Packed statuses (entry i at bit i * bits of data, least significant bits first), as in
 * a list or a store chunk. */

/* The first entry in lo..hi whose value is INVALID (1): true and *at, or false. */
bool tslp_packed_find_invalid(const uint8_t *data, unsigned bits, uint64_t lo, uint64_t hi,
                              uint64_t *at);

/* Sets entries lo..hi to value (which fits in bits). */
void tslp_packed_set(uint8_t *data, unsigned bits, uint64_t lo, uint64_t hi,
                     unsigned value);

#endif /* TSL_BATCH_INT_H */
