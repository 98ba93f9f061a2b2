/* buf.h - the one growable byte buffer of libtsl; never installed.
 * Every buffer that grows while reading or writing has a limit fixed when it starts
 * (curl's dynbuf is the model): growth past it is refused with TSL_ERR_LIMIT and a
 * message naming the buffer and the limit, so no input can make one grow without bound.
 * Growth is geometric (doubling from 256 bytes, or from the first request) and never
 * allocates past the limit. The bytes are tslp_malloc'd and handed over by take().
 * A secret buffer (init_secret) holds private material: no byte of it is left behind in
 * freed memory, because growth copies and wipes instead of realloc, and free() wipes.
 * Arrays of elements grow through tslp_elems_reserve() below, which is the same
 * reserve counted in elements, so every growable buffer and array of libtsl has one
 * implementation and a named cap (core/limits.h). */
#ifndef TSL_BUF_H
#define TSL_BUF_H

#include "tsl.h"

typedef struct {
    uint8_t *data;    /* NULL until the first growth */
    size_t len;       /* bytes in use */
    size_t cap;       /* bytes allocated */
    size_t limit;     /* len never exceeds this */
    const char *what; /* names the buffer in a refusal, e.g. "cbor output" */
    size_t elem;      /* 0 for bytes; else the element size, for messages in elements */
    int secret;       /* wipe every byte before it is freed */
} tslp_buf;

/* Starts an empty buffer that may hold up to limit bytes. what is static text. */
void tslp_buf_init(tslp_buf *b, size_t limit, const char *what);

/* The same for a buffer of private material: every allocation it drops (on growth, on
 * free) is wiped first. */
void tslp_buf_init_secret(tslp_buf *b, size_t limit, const char *what);

/* Makes room for n more bytes (len + n <= cap afterwards; len is unchanged), so the
 * caller may write at data + len and then add to len. TSL_ERR_LIMIT if len + n would
 * pass the limit, TSL_ERR_NOMEM; on failure the buffer is unchanged. err may be NULL. */
tsl_status tslp_buf_reserve(tslp_buf *b, size_t n, tsl_error *err);

/* Appends n bytes from p (p may be NULL when n is 0). Errors as tslp_buf_reserve(). */
tsl_status tslp_buf_append(tslp_buf *b, const void *p, size_t n, tsl_error *err);

/* Appends printf-formatted text (without its terminator, though one is always written
 * after len, so the text stays a C string). Errors as tslp_buf_reserve(). */
tsl_status tslp_buf_printf(tslp_buf *b, tsl_error *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Hands the bytes to the caller (free with tslp_free), shrunk to len when that saves
 * memory, and leaves b empty (limit kept). *len receives their count. Never NULL for
 * an empty buffer: a 1-byte allocation stands for it; NULL only when out of memory.
 * A secret buffer is not shrunk (realloc could leave a copy behind): the bytes past len
 * up to the old cap are wiped instead, so wiping len bytes (plus a terminator the caller
 * wrote) before freeing leaves nothing. */
uint8_t *tslp_buf_take(tslp_buf *b, size_t *len);

/* Frees the bytes (wiped first when secret) and leaves b empty (limit kept). */
void tslp_buf_free(tslp_buf *b);

/* Zeroes n bytes in a way the compiler may not drop as a dead store (the memset is
 * called through a volatile pointer): for private material about to be freed. p may be
 * NULL when n is 0. OPENSSL_cleanse does this inside the crypto folder; this is the one
 * the rest of the library can use. */
void tslp_wipe(void *p, size_t n);

/* Makes room in an array *arrp (any T *, passed as &arr) of n elements in use and *cap
 * allocated, of elem_size bytes each, for more elements: the growth is tslp_buf's
 * (geometric, never past the cap), counted in elements. At most max_elems elements:
 * TSL_ERR_LIMIT "<what>: more than the limit of <max_elems> items" past it, and also
 * when n + more elements would not fit in size_t bytes. TSL_ERR_NOMEM. On failure the
 * array and *cap are unchanged. err may be NULL. Use TSLP_ELEMS_RESERVE, which takes
 * the element size from the array's type. */
tsl_status tslp_elems_reserve(void *arrp, size_t n, size_t *cap, size_t more,
                              size_t elem_size, size_t max_elems, const char *what,
                              tsl_error *err);
#define TSLP_ELEMS_RESERVE(arr, n, cap, more, max_elems, what, err)                       \
    tslp_elems_reserve(&(arr), (n), &(cap), (more), sizeof *(arr), (max_elems), (what),   \
                       (err))

#endif /* TSL_BUF_H */
