/* cbor_write.c - the CBOR writer behind CWT and COSE output: item heads come from
 * libcbor's encoders, into one buffer that grows geometrically up to a cap. Errors are
 * sticky so a sequence of writes is checked once, at tslp_cw_finish(). */
#include "codec/cbor_write_int.h"

#include <cbor.h>
#include <string.h>

void tslp_cw_init(tslp_cw *w, size_t max)
{
    tslp_buf_init(&w->b, max, "cbor output");
    w->st = TSL_OK;
}

void tslp_cw_free(tslp_cw *w)
{
    tslp_buf_free(&w->b);
}

/* Makes room for n more bytes; false (and the sticky error) if that is impossible. The
 * message is made once, at tslp_cw_finish(). */
static bool room(tslp_cw *w, size_t n)
{
    if (w->st != TSL_OK)
        return false;
    w->st = tslp_buf_reserve(&w->b, n, NULL);
    return w->st == TSL_OK;
}

/* A head is at most 9 bytes; libcbor returns 0 if the buffer is too small, which the
 * room() above rules out. */
#define HEAD(call)                                                                        \
    do {                                                                                  \
        if (!room(w, 9))                                                                  \
            return;                                                                       \
        size_t n_ = (call);                                                               \
        if (n_ == 0)                                                                      \
            w->st = TSL_ERR_BUFFER;                                                       \
        w->b.len += n_;                                                                     \
    } while (0)

void tslp_cw_uint(tslp_cw *w, uint64_t v)
{
    HEAD(cbor_encode_uint(v, w->b.data + w->b.len, 9));
}

void tslp_cw_int(tslp_cw *w, int64_t v)
{
    if (v >= 0)
        HEAD(cbor_encode_uint((uint64_t)v, w->b.data + w->b.len, 9));
    else /* major type 1 carries -1 - v */
        HEAD(cbor_encode_negint((uint64_t)(-(v + 1)), w->b.data + w->b.len, 9));
}

void tslp_cw_bytes_head(tslp_cw *w, size_t n)
{
    HEAD(cbor_encode_bytestring_start(n, w->b.data + w->b.len, 9));
}

void tslp_cw_raw(tslp_cw *w, const uint8_t *p, size_t n)
{
    if (n == 0 || !room(w, n))
        return;
    memcpy(w->b.data + w->b.len, p, n);
    w->b.len += n;
}

void tslp_cw_bytes(tslp_cw *w, const uint8_t *p, size_t n)
{
    tslp_cw_bytes_head(w, n);
    tslp_cw_raw(w, p, n);
}

void tslp_cw_text(tslp_cw *w, const char *p, size_t n)
{
    HEAD(cbor_encode_string_start(n, w->b.data + w->b.len, 9));
    tslp_cw_raw(w, (const uint8_t *)p, n);
}

void tslp_cw_cstr(tslp_cw *w, const char *s)
{
    tslp_cw_text(w, s, strlen(s));
}

void tslp_cw_array(tslp_cw *w, size_t n)
{
    HEAD(cbor_encode_array_start(n, w->b.data + w->b.len, 9));
}

void tslp_cw_map(tslp_cw *w, size_t n)
{
    HEAD(cbor_encode_map_start(n, w->b.data + w->b.len, 9));
}

void tslp_cw_tag(tslp_cw *w, uint64_t tag)
{
    HEAD(cbor_encode_tag(tag, w->b.data + w->b.len, 9));
}

tsl_status tslp_cw_finish(tslp_cw *w, uint8_t **out, size_t *len, tsl_error *err)
{
    if (w->st != TSL_OK) {
        tsl_status st = w->st;
        tslp_cw_free(w);
        if (st == TSL_ERR_LIMIT)
            return tslp_fail(err, st, 0, "cbor: output exceeds %zu bytes", w->b.limit);
        return tslp_fail(err, st, 0, "cbor: %s while encoding", tsl_strerror(st));
    }
    *out = tslp_buf_take(&w->b, len);
    if (*out == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "cbor: out of memory");
    return TSL_OK;
}
