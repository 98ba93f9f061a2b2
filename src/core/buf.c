/* buf.c - the bounded growable byte buffer (buf.h): one place that doubles, caps and
 * says which limit refused the growth; secret buffers wipe what they drop, and arrays
 * of elements grow through the same reserve. */
#include "core/tsl_int.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Called through a volatile pointer, so the compiler cannot prove the store dead and
 * drop it the way it may drop a memset right before free(). */
static void *(*const volatile wipe_memset)(void *, int, size_t) = memset;

void tslp_wipe(void *p, size_t n)
{
    if (p != NULL && n > 0)
        wipe_memset(p, 0, n);
}

void tslp_buf_init(tslp_buf *b, size_t limit, const char *what)
{
    memset(b, 0, sizeof *b);
    b->limit = limit;
    b->what = what != NULL ? what : "buffer";
}

void tslp_buf_init_secret(tslp_buf *b, size_t limit, const char *what)
{
    tslp_buf_init(b, limit, what);
    b->secret = 1;
}

static tsl_status limit_fail(const tslp_buf *b, tsl_error *err)
{
    if (b->elem > 0)
        return tslp_fail(err, TSL_ERR_LIMIT, 0, "%s: more than the limit of %zu items",
                         b->what, b->limit / b->elem);
    return tslp_fail(err, TSL_ERR_LIMIT, 0, "%s: more than the limit of %zu bytes", b->what,
                     b->limit);
}

tsl_status tslp_buf_reserve(tslp_buf *b, size_t n, tsl_error *err)
{
    /* Written so that len + n cannot overflow: len <= limit always holds. */
    if (n > b->limit - b->len)
        return limit_fail(b, err);
    size_t need = b->len + n;
    if (need <= b->cap)
        return TSL_OK;
    size_t ncap = b->cap < 256 ? 256 : b->cap;
    while (ncap < need)
        ncap = ncap > b->limit / 2 ? b->limit : ncap * 2;
    if (ncap > b->limit)
        ncap = b->limit; /* a limit under 256 bytes */
    /* Whole elements only; need and limit are multiples of elem, so ncap stays >= need. */
    if (b->elem > 1)
        ncap -= ncap % b->elem;
    uint8_t *nb;
    if (b->secret) {
        /* realloc may move the bytes and free the old block unwiped: copy, then wipe the
         * whole old block (a caller may have written past len, e.g. a terminator). */
        nb = tslp_malloc(ncap);
        if (nb != NULL) {
            if (b->len > 0)
                memcpy(nb, b->data, b->len);
            tslp_wipe(b->data, b->cap);
            tslp_free(b->data);
        }
    } else {
        nb = tslp_realloc(b->data, ncap);
    }
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
    } else if (b->secret) {
        /* No shrinking realloc (it may copy and leave the old block unwiped); the slack
         * is wiped so that the caller's wipe of what it knows of covers everything. */
        tslp_wipe(p + n, b->cap - n);
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
    if (b->secret)
        tslp_wipe(b->data, b->cap);
    tslp_free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

tsl_status tslp_elems_reserve(void *arrp, size_t n, size_t *cap, size_t more,
                              size_t elem_size, size_t max_elems, const char *what,
                              tsl_error *err)
{
    if (what == NULL)
        what = "array";
    if (more > max_elems || n > max_elems - more)
        return tslp_fail(err, TSL_ERR_LIMIT, 0, "%s: more than the limit of %zu items",
                         what, max_elems);
    if (elem_size == 0)
        elem_size = 1;
    /* A cap can be larger than memory can address at this element size: refuse the
     * count whose byte size would wrap rather than allocate a wrapped size. */
    if (n + more > SIZE_MAX / elem_size)
        return tslp_fail(err, TSL_ERR_LIMIT, 0,
                         "%s: %zu items of %zu bytes overflow the address space "
                         "(limit %zu items)",
                         what, n + more, elem_size, max_elems);
    /* The array is any T *; memcpy reads and writes it without type punning through an
     * lvalue of the wrong type (object pointers share one representation on the
     * platforms libtsl supports). */
    void *p;
    memcpy(&p, arrp, sizeof p);
    size_t max = max_elems < SIZE_MAX / elem_size ? max_elems : SIZE_MAX / elem_size;
    tslp_buf b;
    tslp_buf_init(&b, max * elem_size, what);
    b.data = p;
    b.len = n * elem_size;
    b.cap = *cap * elem_size;
    b.elem = elem_size;
    tsl_status st = tslp_buf_reserve(&b, more * elem_size, err);
    if (st != TSL_OK)
        return st;
    p = b.data;
    memcpy(arrp, &p, sizeof p);
    *cap = b.cap / elem_size;
    return TSL_OK;
}

tsl_status tslp_buf_printf(tslp_buf *b, tsl_error *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return tslp_fail(err, TSL_ERR_ARG, 0, "%s: bad format", b->what);
    /* One byte more for vsnprintf's terminator, which len does not count. */
    tsl_status st = tslp_buf_reserve(b, (size_t)n + 1, err);
    if (st != TSL_OK)
        return st;
    va_start(ap, fmt);
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return TSL_OK;
}
