/* publish.c - the one copy of each rule a publisher applies to the bytes it serves,
 * shared by `tsl serve` (answers from memory) and `tsl export` (files for nginx) so
 * the two cannot drift: the gzip variant of a JWT, the strong ETag (SHA-256 through
 * the crypto seam), the HTTP date of Last-Modified, the Cache-Control max-age, the
 * 406 body naming the available types, the aggregation document (section 9.3), and the
 * names of a list's forms. */
#include "publish/publish_int.h"

#include "crypto/crypto.h"

#include <jansson.h>
#include <libdeflate.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* libdeflate's level 9: within a few bytes of 12 on token text (base64url of already
 * compressed bits), and several times faster on a big list, which the server gzips on
 * its publisher thread every time the list is re-signed. */
#define GZIP_LEVEL 9

tsl_status tsl_publish_gzip(const uint8_t *in, size_t len, uint8_t **out, size_t *out_len,
                            tsl_error *err)
{
    if (out == NULL || out_len == NULL || (in == NULL && len > 0))
        return tslp_fail(err, TSL_ERR_ARG, 0, "gzip: no input or output");
    *out = NULL;
    *out_len = 0;
    struct libdeflate_compressor *z = libdeflate_alloc_compressor(GZIP_LEVEL);
    if (z == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "gzip: out of memory");
    size_t bound = libdeflate_gzip_compress_bound(z, len);
    uint8_t *buf = tslp_malloc(bound);
    size_t n = buf != NULL ? libdeflate_gzip_compress(z, in, len, buf, bound) : 0;
    libdeflate_free_compressor(z);
    if (n == 0) {
        tslp_free(buf);
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "gzip: out of memory");
    }
    *out = buf;
    *out_len = n;
    return TSL_OK;
}

void tsl_publish_etag(const uint8_t *p, size_t len, char out[TSL_ETAG_SIZE])
{
    static const char hex[] = "0123456789abcdef";
    uint8_t md[32];
    /* A failing digest gives the all-zero tag: a cache then revalidates in vain, which
     * is safe, where no ETag at all would change the headers' shape. */
    if (tslp_sha256(p, len, md) != TSL_OK)
        memset(md, 0, sizeof md);
    out[0] = '"';
    for (int k = 0; k < 16; k++) {
        out[1 + 2 * k] = hex[md[k] >> 4];
        out[2 + 2 * k] = hex[md[k] & 15];
    }
    out[33] = '"';
    out[34] = '\0';
}

void tsl_http_date(int64_t t, char out[TSL_HTTP_DATE_SIZE])
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (gmtime_r(&tt, &tm) == NULL ||
        strftime(out, TSL_HTTP_DATE_SIZE, "%a, %d %b %Y %H:%M:%S GMT", &tm) == 0)
        snprintf(out, TSL_HTTP_DATE_SIZE, "Thu, 01 Jan 1970 00:00:00 GMT");
}

int64_t tsl_publish_max_age(int64_t ttl, int64_t exp, int64_t now)
{
    int64_t a = exp > 0 ? exp - now : ttl;
    if (ttl > 0 && ttl < a)
        a = ttl;
    return a < 0 ? 0 : a;
}

const char *tsl_publish_not_acceptable(unsigned formats)
{
    switch (formats) {
    case TSL_PUBLISH_JWT: return "acceptable: " TSL_MEDIA_JWT "\n";
    case TSL_PUBLISH_CWT: return "acceptable: " TSL_MEDIA_CWT "\n";
    default: return "acceptable: " TSL_MEDIA_JWT ", " TSL_MEDIA_CWT "\n";
    }
}

tsl_status tsl_publish_aggregation(const char *const *uris, size_t n, char **out,
                                   size_t *out_len, tsl_error *err)
{
    if (out == NULL || (uris == NULL && n > 0))
        return tslp_fail(err, TSL_ERR_ARG, 0, "aggregation: no uris or output");
    *out = NULL;
    json_t *arr = json_array(), *doc = json_object();
    char *text = NULL;
    bool ok = arr != NULL && doc != NULL;
    for (size_t k = 0; ok && k < n; k++)
        ok = uris[k] != NULL && json_array_append_new(arr, json_string(uris[k])) == 0;
    if (ok && json_object_set(doc, "status_lists", arr) == 0)
        text = json_dumps(doc, JSON_COMPACT);
    json_decref(arr);
    json_decref(doc);
    if (text == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "aggregation: out of memory");
    /* Handed out as the library's memory, freed with tsl_free like every other output. */
    size_t len = strlen(text);
    *out = tslp_malloc(len + 1);
    if (*out != NULL)
        memcpy(*out, text, len + 1);
    free(text);
    if (*out == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "aggregation: out of memory");
    if (out_len != NULL)
        *out_len = len;
    return TSL_OK;
}
