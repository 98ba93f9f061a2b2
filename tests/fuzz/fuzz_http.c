/* fuzz_http.c - libFuzzer target for the HTTP header parsers: the input is used as an
 * Accept header (for every availability and default), an Accept-Encoding header and a
 * time parameter. Aborts on an answer outside the contract: a form that is not
 * available, or none when a form is available and the header has no readable element. */
#include "tsl.h"

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
    return 0;
}
