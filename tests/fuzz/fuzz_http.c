/* fuzz_http.c - libFuzzer target for the HTTP header parsers: the input is used as an
 * Accept header (for every availability and default), an Accept-Encoding header, a
 * time parameter and a first request head for the connection gate. Aborts on an answer
 * outside the contract: a form that is not available, or none when a form is available
 * and the header has no readable element; a head judged with a status the gate never
 * gives, or method and target outside the head. */
#include "publish/gate_int.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    for (unsigned avail = 0; avail < 4; avail++)
        for (int d = TSL_FORMAT_JWT; d <= TSL_FORMAT_CWT; d++) {
            int f = tsl_http_choose_format(s, size, avail, (tsl_format)d);
            if (f != 0 && f != TSL_FORMAT_JWT && f != TSL_FORMAT_CWT)
                abort();
            if (f == TSL_FORMAT_JWT && !(avail & TSL_PUBLISH_JWT))
                abort();
            if (f == TSL_FORMAT_CWT && !(avail & TSL_PUBLISH_CWT))
                abort();
            if (avail != 0 && tsl_http_choose_format(s, 0, avail, (tsl_format)d) == 0)
                abort();
        }
    int g = tsl_http_accepts_gzip(s, size);
    if (g != 0 && g != 1)
        abort();
    int64_t t;
    if (tsl_http_parse_time(s, size, &t, NULL) == TSL_OK && t < 0)
        abort();
    size_t start = 0, end = tslp_gate_head_end(s, size, &start);
    if (end > size || start > size)
        abort();
    if (end > 0) {
        tslp_head_info hi;
        const char *why = NULL;
        unsigned st = tslp_gate_parse(s, start, end, 1000, &hi, &why);
        if (st != 0 && st != 400 && st != 413 && st != 501 && st != 505)
            abort();
        if (st != 0 && why == NULL)
            abort();
        if (hi.method != NULL && (hi.method < s || hi.method + hi.mlen > s + end))
            abort();
        if (hi.target != NULL && (hi.target < s || hi.target + hi.tlen > s + end))
            abort();
    }
    return 0;
}
