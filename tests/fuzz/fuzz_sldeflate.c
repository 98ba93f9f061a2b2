/* fuzz_sldeflate.c - libFuzzer target for one segment of the status-list encoder
 * (src/codec/sldeflate.c through tslp_segment_encode), with a history before it: small
 * and fast per input (about ten times fuzz_segment's inputs a second under the
 * sanitizers, which compresses two to three segments twice for each tiled input), so
 * that a fuzzing run explores the encoder's search rather than waiting on it.
 *
 * Input: byte 0 picks the bits per entry (low 2 bits: 1, 2, 4, 8) and, with its top
 * bit set, tiles the rest up to 4 to 19 KiB (long runs and repeats from small inputs);
 * byte 1 picks how many of the body's first bytes are the history (the list's bytes
 * before the segment: (byte 1 * 131) mod (body length + 1), at most
 * TSLP_SEGMENT_HISTORY); the segment is the rest. Oracles (abort() on violation):
 * - the encoding succeeds, fits TSLP_SLDEFLATE_BOUND and the record's head, and is a
 *   body exactly when the hook counted one;
 * - stock zlib's raw inflate, given the history as its dictionary, returns the
 *   segment's bytes exactly from its blocks (a body: under its table's header), and
 *   the segment ends where its blocks do (no BFINAL block inside: a final empty block
 *   appended ends the stream there);
 * - the same input encoded with one scratch space kept across all inputs (grown and
 *   reused as the store's workers reuse theirs) gives the same bytes;
 * - encoded with the search's price tables turned off (the hook's no_tables: every
 *   sparse block searched twice), it inflates right too, and when no block of the
 *   default encoding was searched at a table's prices, it is the same bytes (a block
 *   that falls back gets exactly the two searches);
 * - the above is the full search (TSLP_SL_FULL, a full encode's); the quick one (the
 *   store's) inflates right too, and gives the same bytes with the kept scratch space
 *   (which the full search used last: its larger limits must not leak into the quick
 *   one's). */
#include "codec/segment.h"
#include "codec/sldeflate.h"
#include "fuzz_encoder.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const unsigned bits_of[4] = {1, 2, 4, 8};

/* Kept for the process's life: reachable, so not a leak. */
static tslp_slwork *kept;

/* The segment record's blocks (its body under its table's header), then a final
 * fixed-Huffman block holding only its end code, inflated raw after the history. */
static void inflates_after(const uint8_t *hist, size_t hlen, const uint8_t *rec, size_t len,
                           const uint8_t *want, size_t n)
{
    tslp_buf in;
    tslp_buf_init(&in, SIZE_MAX, "fuzz blocks");
    fuzz_record_blocks(rec, len, &in);
    static const uint8_t final_block[2] = {0x03, 0x00};
    if (tslp_buf_append(&in, final_block, 2, NULL) != TSL_OK)
        abort();
    fuzz_inflates_to(-15, hist, hlen, in.data, in.len, want, n);
    tslp_buf_free(&in);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    unsigned bits = bits_of[data[0] & 3];
    const uint8_t *body = data + 2;
    size_t n = size - 2;
    uint8_t *tiled = NULL;
    if ((data[0] & 0x80) && n > 0) {
        size_t want = 4096 + ((size_t)(data[0] >> 2 & 0x1F) << 9);
        if ((tiled = fuzz_tile(body, n, want)) == NULL)
            return 0;
        body = tiled;
        n = want;
    }
    size_t hist = (size_t)data[1] * 131 % (n + 1);
    if (hist > TSLP_SEGMENT_HISTORY)
        hist = TSLP_SEGMENT_HISTORY;
    size_t len = n - hist;
    if (len > TSLP_SEGMENT_BYTES)
        len = TSLP_SEGMENT_BYTES;
    const uint8_t *seg = body + hist;
    if (kept == NULL && (kept = tslp_slwork_new()) == NULL)
        abort();

    tslp_buf a, b, c, q1, q2;
    tslp_buf_init(&a, SIZE_MAX, "fuzz segment");
    tslp_buf_init(&b, SIZE_MAX, "fuzz segment again");
    tslp_buf_init(&c, SIZE_MAX, "fuzz segment without tables");
    tslp_buf_init(&q1, SIZE_MAX, "fuzz segment, quick");
    tslp_buf_init(&q2, SIZE_MAX, "fuzz segment, quick again");
    tslp_sl_hook seen = {0}, forced = {.no_tables = true};
    tslp_sldeflate_hook = &seen;
    tsl_status st = tslp_segment_encode(seg, len, hist, bits, 0, TSLP_SL_FULL, NULL, &a, NULL);
    tslp_sldeflate_hook = NULL;
    if (st != TSL_OK || a.len > TSLP_SLDEFLATE_BOUND(len) + TSLP_SEGMENT_BODY_HEAD ||
        (seen.bodies > 0) != (a.data[0] == TSLP_SEGMENT_BODY))
        abort();
    inflates_after(body, hist, a.data, a.len, seg, len);
    if (tslp_segment_encode(seg, len, hist, bits, 0, TSLP_SL_FULL, kept, &b, NULL) != TSL_OK ||
        b.len != a.len || (a.len > 0 && memcmp(a.data, b.data, a.len) != 0))
        abort();
    tslp_sldeflate_hook = &forced;
    st = tslp_segment_encode(seg, len, hist, bits, 0, TSLP_SL_FULL, kept, &c, NULL);
    tslp_sldeflate_hook = NULL;
    if (st != TSL_OK)
        abort();
    inflates_after(body, hist, c.data, c.len, seg, len);
    if (seen.one_search == 0 &&
        (c.len != a.len || (a.len > 0 && memcmp(a.data, c.data, a.len) != 0)))
        abort();
    if (tslp_segment_encode(seg, len, hist, bits, 0, TSLP_SL_QUICK, NULL, &q1,
                            NULL) != TSL_OK ||
        tslp_segment_encode(seg, len, hist, bits, 0, TSLP_SL_QUICK, kept, &q2,
                            NULL) != TSL_OK ||
        q1.len != q2.len || (q1.len > 0 && memcmp(q1.data, q2.data, q1.len) != 0))
        abort();
    inflates_after(body, hist, q1.data, q1.len, seg, len);
    tslp_buf_free(&a);
    tslp_buf_free(&b);
    tslp_buf_free(&c);
    tslp_buf_free(&q1);
    tslp_buf_free(&q2);
    free(tiled);
    return 0;
}
