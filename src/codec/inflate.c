/* inflate.c - strict, streamed, bounded decompression of a list's zlib stream.
 * Strict: only the zlib container (RFC 1950) is accepted; gzip and raw deflate are named
 * and rejected, as are a preset dictionary, a bad checksum, a truncated stream and bytes
 * after its end. Bounded: output grows geometrically but never past max_inflated, so a
 * zip bomb costs at most that much memory before it is reported. */
#include "core/tsl_int.h"

#include <limits.h>
#include <string.h>
#include <zlib.h>

/* After a header that is not zlib, tell the user what the bytes probably are: trying a
 * short raw inflate separates "raw deflate" from "not compressed data at all". */
static tsl_status bad_header(const uint8_t *z, size_t len, tsl_error *err)
{
    if (len >= 2 && z[0] == 0x1f && z[1] == 0x8b)
        return tslp_fail(err, TSL_ERR_MALFORMED, 0, "gzip stream, expected zlib");
    z_stream s;
    memset(&s, 0, sizeof s);
    uint8_t probe[4096];
    int looks_raw = 0;
    if (inflateInit2(&s, -15) == Z_OK) {
        s.next_in = (Bytef *)(uintptr_t)z;
        s.avail_in = len > 65536 ? 65536 : (uInt)len;
        s.next_out = probe;
        s.avail_out = sizeof probe;
        int rc = inflate(&s, Z_NO_FLUSH);
        looks_raw = (rc == Z_OK || rc == Z_STREAM_END) && s.total_out > 0;
        inflateEnd(&s);
    }
    if (looks_raw)
        return tslp_fail(err, TSL_ERR_MALFORMED, 0,
                         "raw deflate stream without the zlib header, expected zlib");
    if (len >= 2)
        return tslp_fail(err, TSL_ERR_MALFORMED, 0,
                         "not a zlib stream: bad header bytes %02x %02x", z[0], z[1]);
    return tslp_fail(err, TSL_ERR_MALFORMED, 0, "not a zlib stream: %zu byte(s)", len);
}

/* Checks the two-byte zlib header (RFC 1950 section 2.2). */
static tsl_status check_header(const uint8_t *z, size_t len, tsl_error *err)
{
    if (len < 2)
        return bad_header(z, len, err);
    unsigned cmf = z[0], flg = z[1];
    if ((cmf & 0x0F) != 8 || (cmf >> 4) > 7 || ((cmf << 8) | flg) % 31 != 0)
        return bad_header(z, len, err);
    if (flg & 0x20)
        return tslp_fail(err, TSL_ERR_MALFORMED, 1,
                         "zlib stream asks for a preset dictionary, which a status list "
                         "cannot have");
    return TSL_OK;
}

tsl_status tsl_list_decompress(unsigned bits, const uint8_t *z, size_t z_len,
                               const tsl_limits *lim, tsl_list **out, tsl_error *err)
{
    if (out == NULL || (z == NULL && z_len > 0))
        return tslp_fail(err, TSL_ERR_ARG, 0, "decompress: NULL argument");
    if (!tslp_bits_ok(bits))
        return tslp_fail(err, TSL_ERR_ARG, 0, "bits: %u is not 1, 2, 4 or 8", bits);
    tsl_limits L;
    tslp_limits_resolve(lim, &L);
    if (z_len > L.max_input)
        return tslp_fail(err, TSL_ERR_LIMIT, 0,
                         "compressed list of %zu bytes exceeds the limit of %zu", z_len,
                         L.max_input);
    if (z_len == 0)
        return tslp_fail(err, TSL_ERR_MALFORMED, 0, "empty, expected a zlib stream");
    tsl_status st = check_header(z, z_len, err);
    if (st != TSL_OK)
        return st;

    z_stream s;
    memset(&s, 0, sizeof s);
    if (inflateInit(&s) != Z_OK)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "out of memory starting inflate");

    /* Sparse lists compress 10x or better; start there and double, within the cap. */
    size_t first = z_len > L.max_inflated / 8 ? L.max_inflated : z_len * 8;
    if (first < 4096)
        first = L.max_inflated < 4096 ? L.max_inflated : 4096;
    tslp_buf out_buf;
    tslp_buf_init(&out_buf, L.max_inflated, "inflated list");
    if (tslp_buf_reserve(&out_buf, first, err) != TSL_OK) {
        inflateEnd(&s);
        return TSL_ERR_NOMEM; /* first <= the limit: only memory can fail */
    }
    size_t consumed = 0;
    int rc = Z_OK;
    for (;;) {
        if (out_buf.len == out_buf.cap) {
            if (out_buf.cap == L.max_inflated) {
                /* Full at the cap: one more byte of output means the stream is over
                 * the limit; none (the end comes next) means it is exactly at it. */
                uint8_t one;
                s.next_out = &one;
                s.avail_out = 1;
                rc = inflate(&s, Z_NO_FLUSH);
                if (s.avail_out == 0) {
                    st = tslp_fail(err, TSL_ERR_LIMIT, consumed,
                                   "inflates to more than the limit of %zu bytes",
                                   L.max_inflated);
                    goto fail;
                }
                consumed = s.total_in;
                if (rc == Z_STREAM_END)
                    break;
                goto zerror;
            }
            if ((st = tslp_buf_reserve(&out_buf, 1, err)) != TSL_OK)
                goto fail;
        }
        size_t in_left = z_len - consumed;
        s.next_in = (Bytef *)(uintptr_t)(z + consumed);
        s.avail_in = in_left > UINT_MAX ? UINT_MAX : (uInt)in_left;
        size_t room = out_buf.cap - out_buf.len;
        s.next_out = out_buf.data + out_buf.len;
        s.avail_out = room > UINT_MAX ? UINT_MAX : (uInt)room;
        uInt in_before = s.avail_in, out_before = s.avail_out;
        rc = inflate(&s, Z_NO_FLUSH);
        consumed += in_before - s.avail_in;
        out_buf.len += out_before - s.avail_out;
        if (rc == Z_STREAM_END)
            break;
        if (rc == Z_OK)
            continue;
        if (rc == Z_BUF_ERROR && s.avail_out == 0)
            continue; /* output full: grow and go on */
        goto zerror;
    }
    inflateEnd(&s);
    if (consumed != z_len) {
        tslp_buf_free(&out_buf);
        return tslp_fail(err, TSL_ERR_MALFORMED, consumed,
                         "%zu byte(s) after the end of the zlib stream", z_len - consumed);
    }
    size_t have = out_buf.len;
    /* The entries bound is checked on the result: max_inflated already bounded the
     * work, and only the count says how many entries the bytes hold. */
    if ((uint64_t)have * (8 / bits) > L.max_entries) {
        tslp_buf_free(&out_buf);
        return tslp_fail(err, TSL_ERR_LIMIT, 0,
                         "list of %llu entries exceeds the limit of %llu entries",
                         (unsigned long long)have * (8 / bits),
                         (unsigned long long)L.max_entries);
    }
    uint8_t *buf = tslp_buf_take(&out_buf, &have);
    if (buf == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "out of memory for %zu bytes", have);
    st = tslp_list_adopt(bits, buf, have, out, err);
    if (st == TSL_OK)
        (*out)->compressed_size = z_len;
    return st;

zerror:
    if (rc == Z_BUF_ERROR || (rc == Z_OK && consumed == z_len))
        st = tslp_fail(err, TSL_ERR_MALFORMED, consumed,
                       "truncated zlib stream: input ends after %zu bytes, before the "
                       "end of the stream",
                       z_len);
    else if (rc == Z_DATA_ERROR && s.msg != NULL && strcmp(s.msg, "incorrect data check") == 0)
        st = tslp_fail(err, TSL_ERR_MALFORMED, z_len >= 4 ? z_len - 4 : 0,
                       "bad Adler-32 checksum at the end of the zlib stream");
    else if (rc == Z_DATA_ERROR)
        st = tslp_fail(err, TSL_ERR_MALFORMED, consumed, "corrupt deflate data: %s",
                       s.msg ? s.msg : "invalid");
    else if (rc == Z_MEM_ERROR)
        st = tslp_fail(err, TSL_ERR_NOMEM, consumed, "out of memory in inflate");
    else
        st = tslp_fail(err, TSL_ERR_MALFORMED, consumed, "inflate failed (%d)", rc);
fail:
    inflateEnd(&s);
    tslp_buf_free(&out_buf);
    return st;
}
