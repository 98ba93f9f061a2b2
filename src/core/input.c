/* input.c - reading a whole input under a byte limit (tsl_read_input): a file or
 * standard input read in growing steps that never hold more than the limit plus one
 * byte, so an endless or huge input is refused without being buffered. The tsl command
 * reads tokens and lists through it; an embedder reading untrusted input can too. */
#include "core/tsl_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define READ_STEP ((size_t)1 << 16)

tsl_status tsl_read_input(const char *path, size_t max, uint8_t **out, size_t *len,
                          tsl_error *err)
{
    if (out == NULL || len == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "read input: NULL argument");
    bool std = path == NULL || strcmp(path, "-") == 0;
    FILE *f = std ? stdin : fopen(path, "rb");
    if (f == NULL)
        return tslp_fail(err, TSL_ERR_IO, 0, "%s: %s", path, strerror(errno));
    const char *name = std ? "standard input" : path;
    if (max > SIZE_MAX / 2)
        max = SIZE_MAX / 2;
    tslp_buf b;
    tslp_buf_init(&b, SIZE_MAX, "input");
    tsl_status r = TSL_OK;
    for (;;) {
        /* Up to one byte past max: enough to tell "over the limit" without more. */
        size_t want = max + 1 - b.len < READ_STEP ? max + 1 - b.len : READ_STEP;
        if (tslp_buf_reserve(&b, want + 1, NULL) != TSL_OK) {
            r = tslp_fail(err, TSL_ERR_NOMEM, 0, "%s: out of memory", name);
            break;
        }
        size_t got = fread(b.data + b.len, 1, want, f);
        b.len += got;
        if (got < want) {
            if (ferror(f))
                r = tslp_fail(err, TSL_ERR_IO, 0, "%s: read error: %s", name,
                              strerror(errno));
            break;
        }
        if (b.len > max) {
            r = tslp_fail(err, TSL_ERR_LIMIT, 0, "%s: larger than the input limit of %zu bytes",
                          name, max);
            break;
        }
    }
    if (!std)
        fclose(f);
    if (r != TSL_OK) {
        tslp_buf_free(&b);
        return r;
    }
    b.data[b.len++] = '\0'; /* room was reserved; taken along: take() may shrink to len */
    size_t n;
    *out = tslp_buf_take(&b, &n);
    if (*out == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "%s: out of memory", name);
    *len = n - 1;
    return TSL_OK;
}
