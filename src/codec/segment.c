/* segment.c - the segment contract of segment.h: independent raw DEFLATE segments of at
 * most TSLP_SEGMENT_BYTES packed bytes, joined into one zlib stream.
 *
 * At TSL_LEVEL_STATUSLIST (the default) a segment is the status-list encoder's output
 * (sldeflate.c), which already ends on a byte boundary with BFINAL clear. At libdeflate's
 * levels 1 to 12 the segment is libdeflate's raw stream with its last block's BFINAL bit
 * cleared and an empty stored block after it (which brings it to a byte boundary).
 * Joining is then only concatenation: the zlib header, the segments, an empty final
 * block, the Adler-32. */
#include "codec/segment.h"
#include "codec/sldeflate.h"

#include <libdeflate.h>
#include <string.h>
#include <zlib.h>

tsl_status tslp_deflate_locate(const uint8_t *zin, size_t z_len, size_t *final_bit,
                               size_t *end_bit)
{
    z_stream s;
    memset(&s, 0, sizeof s);
    if (inflateInit2(&s, -15) != Z_OK)
        return TSL_ERR_NOMEM;
    uint8_t scratch[1 << 15]; /* inflated bytes are not needed, only their positions */
    s.next_in = (Bytef *)(uintptr_t)zin; /* zlib's API is not const; it only reads */
    s.avail_in = (uInt)z_len;
    size_t last_start = 0; /* a raw stream's first block starts at bit 0 */
    bool have_end = false;
    int rc = Z_OK;
    while (rc == Z_OK) {
        s.next_out = scratch;
        s.avail_out = sizeof scratch;
        rc = inflate(&s, Z_BLOCK);
        if (rc == Z_BUF_ERROR && s.avail_out == 0)
            rc = Z_OK;
        /* Bit 128: stopped at a block boundary; bit 64: the block just ended was the
         * final one. The low 3 bits are the unused bits of the last byte read, so the
         * boundary is exact to the bit. zlib drops the padding before Z_STREAM_END, so
         * the end must be taken here. */
        if (rc == Z_OK && (s.data_type & 128)) {
            size_t pos = (size_t)s.total_in * 8 - (size_t)(s.data_type & 7);
            if (s.data_type & 64) {
                *end_bit = pos;
                have_end = true;
            } else {
                last_start = pos;
            }
        }
    }
    *final_bit = last_start;
    inflateEnd(&s);
    return rc == Z_STREAM_END && have_end ? TSL_OK : TSL_ERR_ARG;
}

/* Appends z (a raw stream located by tslp_deflate_locate) with its last block's BFINAL
 * bit cleared and an empty stored block after it. */
static tsl_status unfinal(const uint8_t *z, size_t final_bit, size_t end_bit, tslp_buf *out,
                          tsl_error *err)
{
    size_t nbytes = (end_bit + 7) / 8;
    tsl_status st = tslp_buf_reserve(out, nbytes + 5, err);
    if (st != TSL_OK)
        return st;
    uint8_t *base = out->data + out->len;
    memcpy(base, z, nbytes);
    base[final_bit / 8] &= (uint8_t)~(1u << (final_bit % 8));
    /* Zero the padding after the last code, where the stored block header goes. */
    unsigned r = (unsigned)(end_bit % 8);
    if (r != 0)
        base[nbytes - 1] &= (uint8_t)((1u << r) - 1);
    size_t pos = nbytes;
    /* The 3-bit header (BFINAL 0, BTYPE 00) needs bits r..r+2 of the last byte; when
     * they do not fit, or the stream ended on a byte boundary, a zero byte holds it. */
    if (r == 0 || r > 5)
        base[pos++] = 0x00;
    static const uint8_t empty_stored[4] = {0x00, 0x00, 0xFF, 0xFF}; /* LEN 0, NLEN */
    memcpy(base + pos, empty_stored, 4);
    out->len += pos + 4;
    return TSL_OK;
}

static tsl_status libdeflate_segment(const uint8_t *in, size_t len, int level, tslp_buf *out,
                                     tsl_error *err)
{
    struct libdeflate_compressor *c = libdeflate_alloc_compressor(level);
    if (c == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "compress: out of memory");
    static const uint8_t empty[1]; /* libdeflate wants a non-NULL input */
    size_t bound = libdeflate_deflate_compress_bound(c, len);
    uint8_t *z = tslp_malloc(bound);
    if (z == NULL) {
        libdeflate_free_compressor(c);
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "compress: out of memory");
    }
    size_t n = libdeflate_deflate_compress(c, len > 0 ? in : empty, len, z, bound);
    libdeflate_free_compressor(c);
    size_t final_bit = 0, end_bit = 0;
    tsl_status st = n == 0 ? TSL_ERR_BUFFER : tslp_deflate_locate(z, n, &final_bit, &end_bit);
    if (st == TSL_OK)
        st = unfinal(z, final_bit, end_bit, out, err);
    else
        tslp_fail(err, st, 0, "compress: libdeflate output not understood");
    tslp_free(z);
    return st;
}

/* True when in[0..len) is all zero bytes. */
static bool all_zero(const uint8_t *in, size_t len)
{
    return len == 0 || (in[0] == 0 && memcmp(in, in + 1, len - 1) == 0);
}

tsl_status tslp_segment_encode(const uint8_t *in, size_t len, size_t hist, unsigned bits,
                               int level, tslp_sl_effort effort, tslp_slwork *work,
                               tslp_buf *out, tsl_error *err)
{
    if ((in == NULL && len > 0) || out == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "compress: NULL argument");
    if (len > TSLP_SEGMENT_BYTES)
        return tslp_fail(err, TSL_ERR_ARG, 0, "compress: segment of %zu bytes is over %d",
                         len, TSLP_SEGMENT_BYTES);
    if (hist > TSLP_SEGMENT_HISTORY)
        return tslp_fail(err, TSL_ERR_ARG, 0, "compress: %zu bytes of history is over %d",
                         hist, TSLP_SEGMENT_HISTORY);
    if (level == 0)
        level = TSL_LEVEL_DEFAULT;
    /* A zero segment stands alone: the store keeps no row for a chunk never written and
     * encodes it once for the whole list, whatever comes before it. */
    if (level != TSL_LEVEL_STATUSLIST && (level < 1 || level > 12))
        return tslp_fail(err, TSL_ERR_ARG, 0, "compress: level %d is not 1 to %d", level,
                         TSL_LEVEL_STATUSLIST);
    size_t start = out->len;
    uint8_t head[TSLP_SEGMENT_BODY_HEAD] = {TSLP_SEGMENT_BODY};
    tsl_status st = tslp_buf_append(out, head, sizeof head, err);
    if (st != TSL_OK)
        return st;
    tslp_sl_body body = {-1, 0};
    if (level == TSL_LEVEL_STATUSLIST)
        st = tslp_sldeflate(in, len, all_zero(in, len) ? 0 : hist, bits, effort, work, &body,
                            out, err);
    else
        st = libdeflate_segment(in, len, level, out, err);
    if (st != TSL_OK) {
        out->len = start;
        return st;
    }
    uint8_t *p = out->data + start;
    if (body.table >= 0) {
        p[1] = (uint8_t)body.table;
        p[2] = (uint8_t)(body.nbits >> 24);
        p[3] = (uint8_t)(body.nbits >> 16);
        p[4] = (uint8_t)(body.nbits >> 8);
        p[5] = (uint8_t)body.nbits;
    } else {
        /* Whole blocks: the form byte alone before them. */
        p[0] = TSLP_SEGMENT_BLOCKS;
        memmove(p + 1, p + TSLP_SEGMENT_BODY_HEAD, out->len - start - TSLP_SEGMENT_BODY_HEAD);
        out->len -= TSLP_SEGMENT_BODY_HEAD - 1;
    }
    return TSL_OK;
}

/* Checks segment record seg[0..len) (segment.h) and says what it holds: its form, and
 * for a body its table and bit count. */
static tsl_status read_record(const uint8_t *seg, size_t len, size_t i, unsigned *form,
                              unsigned *table, uint32_t *nbits, tsl_error *err)
{
    if (len == 0 || (seg[0] != TSLP_SEGMENT_BLOCKS && seg[0] != TSLP_SEGMENT_BODY))
        return tslp_fail(err, TSL_ERR_ARG, 0, "compress: segment %zu is not a segment "
                         "record", i);
    *form = seg[0];
    if (*form == TSLP_SEGMENT_BLOCKS)
        return TSL_OK;
    if (len < TSLP_SEGMENT_BODY_HEAD)
        return tslp_fail(err, TSL_ERR_ARG, 0, "compress: segment %zu is cut short", i);
    *table = seg[1];
    *nbits = (uint32_t)seg[2] << 24 | (uint32_t)seg[3] << 16 | (uint32_t)seg[4] << 8 | seg[5];
    if (*table >= tslp_sldeflate_tables() ||
        ((size_t)*nbits + 7) / 8 != len - TSLP_SEGMENT_BODY_HEAD)
        return tslp_fail(err, TSL_ERR_ARG, 0, "compress: segment %zu: a body of %u bits "
                         "under table %u in %zu bytes", i, (unsigned)*nbits, *table,
                         len - TSLP_SEGMENT_BODY_HEAD);
    return TSL_OK;
}

bool tslp_segment_is_record(const uint8_t *rec, size_t len)
{
    unsigned form = 0, table = 0;
    uint32_t nbits = 0;
    return read_record(rec, len, 0, &form, &table, &nbits, NULL) == TSL_OK;
}

tsl_status tslp_segment_blocks(const uint8_t *rec, size_t len, tslp_buf *out, tsl_error *err)
{
    unsigned form = 0, table = 0;
    uint32_t nbits = 0;
    tsl_status st = read_record(rec, len, 0, &form, &table, &nbits, err);
    if (st != TSL_OK)
        return st;
    if (form == TSLP_SEGMENT_BLOCKS)
        return tslp_buf_append(out, rec + 1, len - 1, err);
    const uint8_t *body = rec + TSLP_SEGMENT_BODY_HEAD;
    return tslp_sldeflate_run(table, &body, &nbits, 1, false, NULL, out, err);
}

tsl_status tslp_segment_join(const uint8_t *const *seg, const size_t *seg_len, size_t k,
                             uint32_t adler, bool refit, tslp_buf *out, tsl_error *err)
{
    size_t total = 2 + 2 + 4;
    for (size_t i = 0; i < k; i++) {
        unsigned form, table;
        uint32_t nbits;
        tsl_status st = read_record(seg[i], seg_len[i], i, &form, &table, &nbits, err);
        if (st != TSL_OK)
            return st;
        if (seg_len[i] > SIZE_MAX - total - TSLP_SEGMENT_JOIN_SLACK)
            return tslp_fail(err, TSL_ERR_LIMIT, 0, "compress: segments too large");
        total += seg_len[i] + TSLP_SEGMENT_JOIN_SLACK;
    }
    tsl_status st = tslp_buf_reserve(out, total, err);
    if (st != TSL_OK)
        return st;
    size_t start = out->len; /* put back on a failure: nothing appended */
    /* zlib header: deflate, 32K window, "maximum compression" flag, check bits. */
    static const uint8_t zhead[2] = {0x78, 0xDA};
    st = tslp_buf_append(out, zhead, sizeof zhead, err);
    /* A run's bodies: at most TSLP_SEGMENT_RUN, or (refit) any number. */
    size_t cap = refit ? k : TSLP_SEGMENT_RUN;
    const uint8_t **body = tslp_malloc((cap > 0 ? cap : 1) * sizeof *body);
    uint32_t *nb = tslp_malloc((cap > 0 ? cap : 1) * sizeof *nb);
    if (st == TSL_OK && (body == NULL || nb == NULL))
        st = tslp_fail(err, TSL_ERR_NOMEM, 0, "compress: out of memory");
    for (size_t i = 0; i < k && st == TSL_OK;) {
        unsigned form = 0, table = 0;
        uint32_t nbits = 0;
        read_record(seg[i], seg_len[i], i, &form, &table, &nbits, NULL);
        if (form == TSLP_SEGMENT_BLOCKS) {
            st = tslp_buf_append(out, seg[i] + 1, seg_len[i] - 1, err);
            i++;
            continue;
        }
        /* The bodies of the same table from here to the end of this run of
         * TSLP_SEGMENT_RUN segments (refit: to the next record that is not one): one
         * block, one header. */
        size_t n = 0;
        do {
            body[n] = seg[i] + TSLP_SEGMENT_BODY_HEAD;
            nb[n++] = nbits;
            i++;
            if (i == k || (!refit && i % TSLP_SEGMENT_RUN == 0))
                break;
            unsigned f2 = 0, t2 = 0;
            read_record(seg[i], seg_len[i], i, &f2, &t2, &nbits, NULL);
            if (f2 != TSLP_SEGMENT_BODY || t2 != table)
                break;
        } while (true);
        /* The run's own error names a body of the run; this one, the segment. */
        size_t bad = 0;
        tsl_error e;
        tsl_error_clear(&e);
        st = tslp_sldeflate_run(table, body, nb, n, refit, &bad, out, &e);
        if (st == TSL_ERR_ARG)
            tslp_fail(err, st, 0, "compress: segment %zu does not decode under price table "
                      "%u", i - n + bad, table);
        else if (st != TSL_OK)
            tslp_fail(err, st, 0, "%s", e.msg);
    }
    /* The final block: an empty fixed-Huffman block (BFINAL 1, BTYPE 01, end of block),
     * then the Adler-32. */
    const uint8_t tail[6] = {0x03, 0x00, (uint8_t)(adler >> 24), (uint8_t)(adler >> 16),
                             (uint8_t)(adler >> 8), (uint8_t)adler};
    if (st == TSL_OK)
        st = tslp_buf_append(out, tail, sizeof tail, err);
    tslp_free(body);
    tslp_free(nb);
    if (st != TSL_OK)
        out->len = start;
    return st;
}
