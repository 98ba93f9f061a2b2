/* buf.h - the one growable byte buffer of libtsl; never installed.
 * Every buffer that grows while reading or writing has a limit fixed when it starts
 * (curl's dynbuf is the model): growth past it is refused with TSL_ERR_LIMIT and a
 * message naming the buffer and the limit, so no input can make one grow without bound.
 * Growth is geometric (doubling from 256 bytes, or from the first request) and never
 * allocates past the limit. The bytes are tslp_malloc'd and handed over by take(). */
#ifndef TSL_BUF_H
#define TSL_BUF_H

#include "tsl.h"

typedef struct {
    uint8_t *data;    /* NULL until the first growth */
    size_t len;       /* bytes in use */
    size_t cap;       /* bytes allocated */
    size_t limit;     /* len never exceeds this */
    const char *what; /* names the buffer in a refusal, e.g. "cbor output" */
} tslp_buf;

/* Starts an empty buffer that may hold up to limit bytes. what is static text. */
void tslp_buf_init(tslp_buf *b, size_t limit, const char *what);

/* Makes room for n more bytes (len + n <= cap afterwards; len is unchanged), so the
 * caller may write at data + len and then add to len. TSL_ERR_LIMIT if len + n would
 * pass the limit, TSL_ERR_NOMEM; on failure the buffer is unchanged. err may be NULL. */
tsl_status tslp_buf_reserve(tslp_buf *b, size_t n, tsl_error *err);

/* Appends n bytes from p (p may be NULL when n is 0). Errors as tslp_buf_reserve(). */
tsl_status tslp_buf_append(tslp_buf *b, const void *p, size_t n, tsl_error *err);

/* Hands the bytes to the caller (free with tslp_free), shrunk to len when that saves
 * memory, and leaves b empty (limit kept). *len receives their count. Never NULL for
 * an empty buffer: a 1-byte allocation stands for it; NULL only when out of memory. */
uint8_t *tslp_buf_take(tslp_buf *b, size_t *len);

/* Frees the bytes and leaves b empty (limit kept). */
void tslp_buf_free(tslp_buf *b);

#endif /* TSL_BUF_H */
