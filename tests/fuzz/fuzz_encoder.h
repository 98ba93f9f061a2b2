/* fuzz_encoder.h - what the encoder targets (fuzz_segment, fuzz_sldeflate) share: small
 * inputs tiled into long lists, and stock zlib's inflate as the oracle. A stream must
 * inflate to exactly the bytes it was made from, end where its input ends, and (raw
 * DEFLATE after a history) decode only with that history as its dictionary; the check
 * aborts otherwise, which libFuzzer reports. */
#ifndef FUZZ_ENCODER_H
#define FUZZ_ENCODER_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* z[0..zlen) inflated with windowBits window_bits (15: a zlib stream; -15: raw
 * DEFLATE), after dict[0..dict_len) as dictionary when dict_len > 0, must give
 * want[0..n) and consume all of z. */
static inline void fuzz_inflates_to(int window_bits, const uint8_t *dict, size_t dict_len,
                                    const uint8_t *z, size_t zlen, const uint8_t *want,
                                    size_t n)
{
    uint8_t *got = malloc(n + 1);
    z_stream s;
    memset(&s, 0, sizeof s);
    if (got == NULL || inflateInit2(&s, window_bits) != Z_OK)
        abort();
    if (dict_len > 0 && inflateSetDictionary(&s, dict, (uInt)dict_len) != Z_OK)
        abort();
    s.next_in = (Bytef *)(uintptr_t)z;
    s.avail_in = (uInt)zlen;
    s.next_out = got;
    s.avail_out = (uInt)(n + 1);
    int rc = inflate(&s, Z_FINISH);
    if (rc != Z_STREAM_END || s.total_out != n || s.avail_in != 0 ||
        (n > 0 && memcmp(got, want, n) != 0))
        abort();
    inflateEnd(&s);
    free(got);
}

/* body[0..n) (n > 0) repeated to want bytes, in a buffer the caller frees; NULL when
 * out of memory. Long runs, repeats and segment boundaries from small inputs. */
static inline uint8_t *fuzz_tile(const uint8_t *body, size_t n, size_t want)
{
    uint8_t *tiled = malloc(want > 0 ? want : 1);
    if (tiled == NULL)
        return NULL;
    for (size_t i = 0; i < want; i += n)
        memcpy(tiled + i, body, want - i < n ? want - i : n);
    return tiled;
}

/* The segment record rec[0..len) (codec/segment.h) as raw DEFLATE blocks appended to
 * out (tslp_segment_blocks). For a file that includes codec/segment.h; aborts when rec
 * is not a record. */
static inline void fuzz_record_blocks(const uint8_t *rec, size_t len, tslp_buf *out)
{
    if (tslp_segment_blocks(rec, len, out, NULL) != TSL_OK)
        abort();
}

#endif /* FUZZ_ENCODER_H */
