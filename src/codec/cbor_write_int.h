/* cbor_write_int.h - a small CBOR writer for the tokens we emit (CWT, COSE structures):
 * a growable buffer with a cap and a sticky error, over libcbor's encoders. Internal. */
#ifndef TSL_CBOR_WRITE_INT_H
#define TSL_CBOR_WRITE_INT_H

#include "core/tsl_int.h"

typedef struct {
    tslp_buf b;       /* the output, bounded by the max given to tslp_cw_init() */
    tsl_status st;    /* TSL_OK until a write fails; later writes do nothing */
} tslp_cw;

/* Starts an empty buffer that may grow to max bytes. */
void tslp_cw_init(tslp_cw *w, size_t max);

/* Frees the buffer (after a failure, or when the bytes were not wanted). */
void tslp_cw_free(tslp_cw *w);

/* Hands the bytes to the caller (free with tslp_free) or reports the first failure. */
tsl_status tslp_cw_finish(tslp_cw *w, uint8_t **out, size_t *len, tsl_error *err);

void tslp_cw_uint(tslp_cw *w, uint64_t v);
void tslp_cw_int(tslp_cw *w, int64_t v);
void tslp_cw_bytes(tslp_cw *w, const uint8_t *p, size_t n);
void tslp_cw_text(tslp_cw *w, const char *p, size_t n);
void tslp_cw_cstr(tslp_cw *w, const char *s);
void tslp_cw_array(tslp_cw *w, size_t n);
void tslp_cw_map(tslp_cw *w, size_t n);
void tslp_cw_tag(tslp_cw *w, uint64_t tag);
/* The head of a byte string of n bytes, whose content the caller writes next. */
void tslp_cw_bytes_head(tslp_cw *w, size_t n);
/* Already-encoded CBOR. */
void tslp_cw_raw(tslp_cw *w, const uint8_t *p, size_t n);

#endif /* TSL_CBOR_WRITE_INT_H */
