/* cbor_write.c - the CBOR writer behind CWT and COSE output: item heads come from
 * libcbor's encoders, into one buffer that grows geometrically up to a cap. Errors are
 * sticky so a sequence of writes is checked once, at tslp_cw_finish(). */
#include "codec/cbor_write_int.h"

#include <cbor.h>
#include <string.h>

void tslp_cw_init(tslp_cw *w, size_t max)
{
    memset(w, 0, sizeof *w);
    w->max = max;
}

void tslp_cw_free(tslp_cw *w)
{
    tslp_free(w->buf);
    w->buf = NULL;
    w->len = w->cap = 0;
}

/* Makes room for n more bytes; false (and the sticky error) if that is impossible. */
static bool room(tslp_cw *w, size_t n)
{
    if (w->st != TSL_OK)
        return false;
    if (n > w->max || w->len > w->max - n) {
        w->st = TSL_ERR_LIMIT;
        return false;
    }
    if (w->len + n <= w->cap)
        return true;
    size_t ncap = w->cap < 256 ? 256 : w->cap;
    while (ncap < w->len + n)
        ncap = ncap > w->max / 2 ? w->max : ncap * 2;
    uint8_t *nb = tslp_realloc(w->buf, ncap);
    if (nb == NULL) {
        w->st = TSL_ERR_NOMEM;
        return false;
    }
    w->buf = nb;
    w->cap = ncap;
    return true;
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
        w->len += n_;                                                                     \
    } while (0)

void tslp_cw_uint(tslp_cw *w, uint64_t v)
{
    HEAD(cbor_encode_uint(v, w->buf + w->len, 9));
}

void tslp_cw_int(tslp_cw *w, int64_t v)
{
    if (v >= 0)
        HEAD(cbor_encode_uint((uint64_t)v, w->buf + w->len, 9));
    else /* major type 1 carries -1 - v */
        HEAD(cbor_encode_negint((uint64_t)(-(v + 1)), w->buf + w->len, 9));
}

void tslp_cw_bytes_head(tslp_cw *w, size_t n)
{
    HEAD(cbor_encode_bytestring_start(n, w->buf + w->len, 9));
}

void tslp_cw_raw(tslp_cw *w, const uint8_t *p, size_t n)
{
    if (n == 0 || !room(w, n))
        return;
    memcpy(w->buf + w->len, p, n);
    w->len += n;
}

void tslp_cw_bytes(tslp_cw *w, const uint8_t *p, size_t n)
{
    tslp_cw_bytes_head(w, n);
    tslp_cw_raw(w, p, n);
}

void tslp_cw_text(tslp_cw *w, const char *p, size_t n)
{
    HEAD(cbor_encode_string_start(n, w->buf + w->len, 9));
    tslp_cw_raw(w, (const uint8_t *)p, n);
}

void tslp_cw_cstr(tslp_cw *w, const char *s)
{
    tslp_cw_text(w, s, strlen(s));
}

void tslp_cw_array(tslp_cw *w, size_t n)
{
    HEAD(cbor_encode_array_start(n, w->buf + w->len, 9));
}

void tslp_cw_map(tslp_cw *w, size_t n)
{
    HEAD(cbor_encode_map_start(n, w->buf + w->len, 9));
}

void tslp_cw_tag(tslp_cw *w, uint64_t tag)
{
    HEAD(cbor_encode_tag(tag, w->buf + w->len, 9));
}

tsl_status tslp_cw_finish(tslp_cw *w, uint8_t **out, size_t *len, tsl_error *err)
{
    if (w->st != TSL_OK) {
        tsl_status st = w->st;
        tslp_cw_free(w);
        if (st == TSL_ERR_LIMIT)
            return tslp_fail(err, st, 0, "cbor: output exceeds %zu bytes", w->max);
        return tslp_fail(err, st, 0, "cbor: %s while encoding", tsl_strerror(st));
    }
    *out = w->buf != NULL ? w->buf : tslp_malloc(1);
    if (*out == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "cbor: out of memory");
    *len = w->len;
    w->buf = NULL;
    return TSL_OK;
}
