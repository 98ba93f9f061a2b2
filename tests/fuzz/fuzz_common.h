/* fuzz_common.h - the checks every libFuzzer target makes of libtsl's answers: a
 * failure carries its own code and a terminated, non-empty message; two lists decoded
 * from the same data are the same list; a Referenced Token parse either fails cleanly
 * or answers its accessors. Each check aborts, which libFuzzer reports as a crash. */
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H

#include "tsl.h"

#include <stdlib.h>
#include <string.h>

static inline void fuzz_check_failure(tsl_status st, const tsl_error *err)
{
    if (st == TSL_OK || st == TSL_ERR_ARG || err->code != st || err->msg[0] == '\0' ||
        memchr(err->msg, '\0', sizeof err->msg) == NULL)
        abort();
}

static inline int fuzz_same_list(const tsl_list *a, const tsl_list *b)
{
    size_t alen = 0, blen = 0;
    const uint8_t *ab = tsl_list_bytes(a, &alen);
    const uint8_t *bb = tsl_list_bytes(b, &blen);
    const char *au = tsl_list_aggregation_uri(a);
    const char *bu = tsl_list_aggregation_uri(b);
    if (tsl_list_bits(a) != tsl_list_bits(b) || tsl_list_size(a) != tsl_list_size(b) ||
        alen != blen || (alen > 0 && memcmp(ab, bb, alen) != 0))
        return 0;
    if ((au == NULL) != (bu == NULL) || (au != NULL && strcmp(au, bu) != 0))
        return 0;
    return 1;
}

/* tsl_ref_parse's outcome: a failure leaves no result; a success has a uri and a kind. */
static inline void fuzz_check_ref(tsl_status st, tsl_ref *r, const tsl_error *err)
{
    if (st != TSL_OK) {
        if (r != NULL)
            abort();
        fuzz_check_failure(st, err);
        return;
    }
    const char *uri = tsl_ref_uri(r);
    if (uri == NULL || uri[0] == '\0' || tsl_ref_kind_of(r) < TSL_REF_JWT ||
        tsl_ref_kind_of(r) > TSL_REF_MDOC)
        abort();
    (void)tsl_ref_idx(r);
    tsl_ref_free(r);
}

#endif /* FUZZ_COMMON_H */
