/* fuzz_probe_hdr.c - libFuzzer target for the probe's readers of response headers
 * (src/verify/probe_hdr.c): the input is a header block from the endpoint under test,
 * searched for the fields the probe reads, and each value found (and the whole input
 * as one value) goes through the Cache-Control, list-token and media-type readers.
 * Aborts on an answer outside the contract: a value outside the block or past the
 * value cap, a max-age outside [0, 2^31], a result other than the documented ones. */
#include "verify/probe_int.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void values(const char *v, size_t n)
{
    int64_t s = -1;
    int r = tslp_hdr_max_age(v, n, &s);
    if (r < -1 || r > 1 || (r == 1 && (s < 0 || s > ((int64_t)1 << 31))))
        abort();
    static const char *const toks[] = {"Accept", "Accept-Encoding", "no-store", "no-cache",
                                       "gzip", "*", "true", ""};
    for (size_t i = 0; i < sizeof toks / sizeof toks[0]; i++) {
        int h = tslp_hdr_has_token(v, n, toks[i]);
        if (h != 0 && h != 1)
            abort();
    }
    int m = tslp_hdr_media_is(v, n, TSL_MEDIA_JWT);
    if (m != 0 && m != 1)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *blk = (const char *)data;
    static const char *const names[] = {"Content-Type", "Cache-Control", "Vary", "ETag",
                                        "Last-Modified", "Content-Encoding",
                                        "Access-Control-Allow-Origin", "X"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *v = NULL;
        size_t n = 0;
        int f = tslp_hdr_find(blk, size, names[i], &v, &n);
        if (f != 0 && f != 1)
            abort();
        if (f == 1) {
            if (v < blk || v + n > blk + size || n > TSLP_PROBE_MAX_HEADER)
                abort();
            values(v, n);
        }
    }
    values(blk, size);
    return 0;
}
