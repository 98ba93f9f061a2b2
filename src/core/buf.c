/* buf.c - the bounded growable byte buffer (buf.h): one place that doubles, caps and
 * says which limit refused the growth. */
#include "core/tsl_int.h"

#include <string.h>

void tslp_buf_init(tslp_buf *b, size_t limit, const char *what)
{
    memset(b, 0, sizeof *b);
    b->limit = limit;
    b->what = what != NULL ? what : "buffer";
}

tsl_status tslp_buf_reserve(tslp_buf *b, size_t n, tsl_error *err)
{
    /* Written so that len + n cannot overflow: len <= limit always holds. */
    if (n > b->limit - b->len)
        return tslp_fail(err, TSL_ERR_LIMIT, 0, "%s: more than the limit of %zu bytes",
                         b->what, b->limit);
    size_t need = b->len + n;
    if (need <= b->cap)
        return TSL_OK;
    size_t ncap = b->cap < 256 ? 256 : b->cap;
    while (ncap < need)
        ncap = ncap > b->limit / 2 ? b->limit : ncap * 2;
    if (ncap > b->limit)
        ncap = b->limit; /* a limit under 256 bytes */
    uint8_t *nb = tslp_realloc(b->data, ncap);
    if (nb == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "%s: out of memory for %zu bytes", b->what,
                         ncap);
    b->data = nb;
    b->cap = ncap;
    return TSL_OK;
}

tsl_status tslp_buf_append(tslp_buf *b, const void *p, size_t n, tsl_error *err)
{
    if (n == 0)
        return TSL_OK;
    tsl_status st = tslp_buf_reserve(b, n, err);
    if (st != TSL_OK)
        return st;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return TSL_OK;
}

uint8_t *tslp_buf_take(tslp_buf *b, size_t *len)
{
    uint8_t *p = b->data;
    size_t n = b->len;
    if (p == NULL) {
        p = tslp_malloc(1);
    } else if (n < b->cap) {
        /* Geometric growth leaves up to half unused: give that back. */
        uint8_t *shrunk = tslp_realloc(p, n > 0 ? n : 1);
        if (shrunk != NULL)
            p = shrunk;
    }
    if (p == NULL)
        return NULL;
    if (len != NULL)
        *len = n;
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}

void tslp_buf_free(tslp_buf *b)
{
    tslp_free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
