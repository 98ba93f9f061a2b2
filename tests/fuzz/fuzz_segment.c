/* fuzz_segment.c - libFuzzer target for the status-list encoder (src/codec/sldeflate.c)
 * and the segment contract (src/codec/segment.h): random lists round-trip through
 * encode and stock zlib's inflate.
 *
 * Input: the first byte picks the bits per entry (low 2 bits: 1, 2, 4, 8) and, with its
 * top bit set, tiles the rest of the input up to 2 to 3 segments (so that segment
 * boundaries and long runs are reached from small inputs); the rest is the list's
 * packed bytes. Oracles (abort() on violation):
 * - tsl_list_compress at the default level succeeds and stock zlib inflates it to the
 *   packed bytes exactly, with the right Adler-32 and nothing after the stream;
 * - a second compress gives the same bytes (determinism);
 * - the first segment encoded alone by tslp_segment_encode (the full search and the
 *   quick one) and joined alone (refitted and spliced) inflates to its bytes (no match
 *   reaches before the segment's start), and fits TSLP_SLDEFLATE_BOUND and the
 *   record's head;
 * - the input after its first byte, taken as a segment record (as a damaged store could
 *   hand one over), joins when it has a record's shape and is refused with
 *   TSL_ERR_ARG otherwise, never reading past its end (ASan); refitting (which decodes
 *   a body) may refuse a shaped one too, with TSL_ERR_ARG, and never reads past it. */
#include "codec/segment.h"
#include "codec/sldeflate.h"
#include "fuzz_encoder.h"
#include "tsl.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const unsigned bits_of[4] = {1, 2, 4, 8};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    unsigned bits = bits_of[data[0] & 3];
    const uint8_t *body = data + 1;
    size_t n = size - 1;
    uint8_t *tiled = NULL;
    if ((data[0] & 0x80) && n > 0) {
        size_t want = 2 * TSLP_SEGMENT_BYTES + ((size_t)(data[0] >> 2 & 0x1F) << 11);
        if ((tiled = fuzz_tile(body, n, want)) == NULL)
            return 0;
        body = tiled;
        n = want;
    }
    tsl_list *l = NULL;
    if (tsl_list_from_bytes(bits, body, n, &l, NULL) != TSL_OK)
        abort();
    uint8_t *z = NULL, *z2 = NULL;
    size_t zlen = 0, zlen2 = 0;
    if (tsl_list_compress(l, 0, &z, &zlen, NULL) != TSL_OK ||
        tsl_list_compress(l, 0, &z2, &zlen2, NULL) != TSL_OK)
        abort();
    fuzz_inflates_to(15, NULL, 0, z, zlen, body, n);
    if (zlen != zlen2 || memcmp(z, z2, zlen) != 0)
        abort();

    size_t first = n < TSLP_SEGMENT_BYTES ? n : TSLP_SEGMENT_BYTES;
    uint32_t adler = (uint32_t)adler32(1, body, (uInt)first);
    for (int e = 0; e < 2; e++) {
        tslp_buf seg;
        tslp_buf_init(&seg, SIZE_MAX, "fuzz segment");
        if (tslp_segment_encode(body, first, 0, bits, 0, e ? TSLP_SL_QUICK : TSLP_SL_FULL, NULL,
                                &seg, NULL) != TSL_OK ||
            seg.len > TSLP_SLDEFLATE_BOUND(first) + TSLP_SEGMENT_BODY_HEAD)
            abort();
        const uint8_t *sp = seg.data;
        for (int refit = 0; refit < 2; refit++) {
            tslp_buf joined;
            tslp_buf_init(&joined, SIZE_MAX, "fuzz join");
            if (tslp_segment_join(&sp, &seg.len, 1, adler, refit, &joined, NULL) != TSL_OK)
                abort();
            fuzz_inflates_to(15, NULL, 0, joined.data, joined.len, body, first);
            tslp_buf_free(&joined);
        }
        tslp_buf_free(&seg);
    }

    /* The input itself as a segment record, as a damaged store could hand it over: it is
     * refused (TSL_ERR_ARG) unless it is a record's shape, and joins without reading
     * past it either way. */
    tslp_buf raw;
    tslp_buf_init(&raw, SIZE_MAX, "fuzz record");
    const uint8_t *rp = data + 1;
    size_t rl = size - 1;
    tsl_status rs = tslp_segment_join(&rp, &rl, 1, 1, false, &raw, NULL);
    bool shaped = rl >= 1 && (rp[0] == TSLP_SEGMENT_BLOCKS ||
                              (rp[0] == TSLP_SEGMENT_BODY && rl >= TSLP_SEGMENT_BODY_HEAD &&
                               rp[1] < tslp_sldeflate_tables() &&
                               (((size_t)rp[2] << 24 | (size_t)rp[3] << 16 |
                                 (size_t)rp[4] << 8 | rp[5]) + 7) / 8 ==
                                   rl - TSLP_SEGMENT_BODY_HEAD));
    if (rs != (shaped ? TSL_OK : TSL_ERR_ARG))
        abort();
    raw.len = 0;
    rs = tslp_segment_join(&rp, &rl, 1, 1, true, &raw, NULL);
    if (rs != TSL_OK && (rs != TSL_ERR_ARG || raw.len != 0))
        abort();
    if (!shaped && rs != TSL_ERR_ARG)
        abort();
    tslp_buf_free(&raw);
    tsl_free(z);
    tsl_free(z2);
    tsl_list_free(l);
    free(tiled);
    return 0;
}
