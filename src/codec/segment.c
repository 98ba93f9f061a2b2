/* segment.c - PROVISIONAL segment encoder over libdeflate (issue 15 part B), to be
 * replaced by the specialised encoder of part A (same contract, codec/segment.h). Each
 * segment is one raw DEFLATE stream of libdeflate whose last block has its BFINAL bit
 * cleared and is followed by an empty stored block, which ends it on a byte boundary:
 * the way deflate.c joins its 1 MiB chunks, at the segment size of the store's chunks.
 * Segments compress independently (no match reaches into the previous one), so a
 * changed store chunk re-encodes one segment and the stream is their concatenation. */
#include "codec/segment.h"

#include <libdeflate.h>
#include <string.h>
#include <zlib.h>

/* Where the last block of our own raw stream starts and where its end-of-block code
 * ends, in bits, by letting zlib walk it block by block (Z_BLOCK). */
static tsl_status locate(const uint8_t *z, size_t zlen, size_t *final_bit, size_t *end_bit)
{
    z_stream s;
    memset(&s, 0, sizeof s);
    if (inflateInit2(&s, -15) != Z_OK)
        return TSL_ERR_NOMEM;
    uint8_t scratch[1 << 15]; /* the inflated bytes are not needed, only positions */
    s.next_in = (uint8_t *)(uintptr_t)z;
    s.avail_in = (uInt)zlen;
    size_t last = 0;
    bool have_end = false;
    int rc = Z_OK;
    while (rc == Z_OK) {
        s.next_out = scratch;
        s.avail_out = sizeof scratch;
        rc = inflate(&s, Z_BLOCK);
        if (rc == Z_BUF_ERROR && s.avail_out == 0)
            rc = Z_OK;
        /* data_type bit 128: stopped at a block boundary; bit 64: after the final
         * block; low 3 bits: unused bits of the last byte read. */
        if (rc == Z_OK && (s.data_type & 128)) {
            size_t pos = (size_t)s.total_in * 8 - (size_t)(s.data_type & 7);
            if (s.data_type & 64) {
                *end_bit = pos;
                have_end = true;
            } else {
                last = pos;
            }
        }
    }
    *final_bit = last;
    inflateEnd(&s);
    return rc == Z_STREAM_END && have_end ? TSL_OK : TSL_ERR_ARG;
}

tsl_status tslp_segment_encode(const uint8_t *in, size_t len, unsigned bits, int level,
                               tslp_buf *out, tsl_error *err)
{
    (void)bits; /* libdeflate does not use the entry width */
    if (level == 0)
        level = TSL_LEVEL_DEFAULT;
    if (len > TSLP_SEGMENT_BYTES || level < 1 || level > 12 || (in == NULL && len > 0))
        return tslp_fail(err, TSL_ERR_ARG, 0, "segment: %zu bytes at level %d", len, level);
    if (len == 0)
        return TSL_OK; /* nothing to encode: the empty segment */
    struct libdeflate_compressor *c = libdeflate_alloc_compressor(level);
    if (c == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "segment: out of memory for a compressor");
    size_t bound = libdeflate_deflate_compress_bound(c, len);
    uint8_t *z = tslp_malloc(bound);
    if (z == NULL) {
        libdeflate_free_compressor(c);
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "segment: out of memory");
    }
    size_t zlen = libdeflate_deflate_compress(c, in, len, z, bound);
    libdeflate_free_compressor(c);
    size_t final_bit = 0, end_bit = 0;
    tsl_status st = zlen == 0 ? TSL_ERR_BUFFER : locate(z, zlen, &final_bit, &end_bit);
    if (st != TSL_OK) {
        tslp_free(z);
        return tslp_fail(err, st, 0, "segment: encoding failed: %s", tsl_strerror(st));
    }
    size_t nbytes = (end_bit + 7) / 8;
    z[final_bit / 8] &= (uint8_t)~(1u << (final_bit % 8));
    unsigned r = (unsigned)(end_bit % 8);
    if (r != 0)
        z[nbytes - 1] &= (uint8_t)((1u << r) - 1); /* the stored header goes in the padding */
    /* The empty stored block (BFINAL 0, BTYPE 00, then LEN 0 and NLEN on a byte boundary):
     * its 3 header bits fit after the last code when at least 3 bits are free. */
    static const uint8_t empty_stored[4] = {0x00, 0x00, 0xFF, 0xFF};
    st = tslp_buf_append(out, z, nbytes, err);
    if (st == TSL_OK && (r == 0 || r > 5))
        st = tslp_buf_append(out, "\0", 1, err);
    if (st == TSL_OK)
        st = tslp_buf_append(out, empty_stored, sizeof empty_stored, err);
    tslp_free(z);
    return st;
}

tsl_status tslp_segment_join(const uint8_t *const *seg, const size_t *seg_len, size_t k,
                             uint32_t adler, tslp_buf *out, tsl_error *err)
{
    size_t total = 2 + 2 + 4;
    for (size_t i = 0; i < k; i++) {
        if (seg_len[i] > SIZE_MAX - total)
            return tslp_fail(err, TSL_ERR_LIMIT, 0, "segment: joined stream too long");
        total += seg_len[i];
    }
    tsl_status st = tslp_buf_reserve(out, total, err);
    if (st != TSL_OK)
        return st;
    /* zlib header: deflate, 32K window, "maximum compression", check bits (as
     * deflate.c writes it). */
    static const uint8_t head[2] = {0x78, 0xDA};
    /* The final block: fixed Huffman (BFINAL 1, BTYPE 01) holding only its end code. */
    static const uint8_t last[2] = {0x03, 0x00};
    uint8_t tail[4] = {(uint8_t)(adler >> 24), (uint8_t)(adler >> 16), (uint8_t)(adler >> 8),
                       (uint8_t)adler};
    tslp_buf_append(out, head, 2, NULL);
    for (size_t i = 0; i < k; i++)
        tslp_buf_append(out, seg[i], seg_len[i], NULL);
    tslp_buf_append(out, last, 2, NULL);
    tslp_buf_append(out, tail, 4, NULL);
    return TSL_OK;
}
