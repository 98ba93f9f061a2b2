/* summary.c - what `tsl decode` prints about a StatusList or a Status List Token
 * (tsl_list_summary): the format, the token's header and claims, bits, entries, sizes,
 * the aggregation_uri and the count of every status that occurs, as "name: value" lines
 * or one JSON object that also carries index lookups. */
#include "token/token_int.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* "NAME: T (ISO 8601 UTC)"; the date is left out when gmtime cannot say it. */
static tsl_status put_time(tslp_buf *b, const char *name, int64_t t)
{
    char buf[64] = "";
    time_t tt = (time_t)t;
    struct tm tm;
    if (gmtime_r(&tt, &tm) != NULL)
        strftime(buf, sizeof buf, " (%Y-%m-%dT%H:%M:%SZ)", &tm);
    return tslp_buf_printf(b, NULL, "%s: %lld%s\n", name, (long long)t, buf);
}

static tsl_status token_text(tslp_buf *b, const tsl_token *t, int verified)
{
    tsl_status r = tslp_buf_printf(b, NULL, "signature: %s\nalg: %s\n",
                                   verified ? "verified" : "NOT verified",
                                   tsl_alg_name(tsl_token_alg(t)));
    size_t kl;
    const uint8_t *kid = tsl_token_kid(t, &kl);
    if (r == TSL_OK && kid != NULL)
        r = tslp_buf_printf(b, NULL, "kid: %.*s\n", (int)kl, (const char *)kid);
    if (r == TSL_OK)
        r = tslp_buf_printf(b, NULL, "sub: %s\n", tsl_token_sub(t));
    if (r == TSL_OK && tsl_token_iss(t) != NULL)
        r = tslp_buf_printf(b, NULL, "iss: %s\n", tsl_token_iss(t));
    if (r == TSL_OK)
        r = put_time(b, "iat", tsl_token_iat(t));
    int64_t v;
    if (r == TSL_OK && tsl_token_exp(t, &v))
        r = put_time(b, "exp", v);
    if (r == TSL_OK && tsl_token_ttl(t, &v))
        r = tslp_buf_printf(b, NULL, "ttl: %lld\n", (long long)v);
    return r;
}

static char *summary_text(const tsl_list *l, const tsl_token *t, int verified,
                          const char *format, const uint64_t counts[256], size_t raw)
{
    tslp_buf b;
    tslp_buf_init(&b, SIZE_MAX, "summary");
    tsl_status r = tslp_buf_printf(&b, NULL, "format: %s\n", format);
    if (r == TSL_OK && t != NULL)
        r = token_text(&b, t, verified);
    if (r == TSL_OK)
        r = tslp_buf_printf(&b, NULL,
                            "bits: %u\nentries: %llu\ncompressed_bytes: %zu\nraw_bytes: %zu\n",
                            tsl_list_bits(l), (unsigned long long)tsl_list_size(l),
                            tsl_list_compressed_size(l), raw);
    const char *agg = tsl_list_aggregation_uri(l);
    if (r == TSL_OK && agg != NULL)
        r = tslp_buf_printf(&b, NULL, "aggregation_uri: %s\n", agg);
    for (unsigned v = 0; r == TSL_OK && v < 256; v++)
        if (counts[v] != 0)
            r = tslp_buf_printf(&b, NULL, "count %u (%s): %llu\n", v, tsl_status_name(v),
                                (unsigned long long)counts[v]);
    char *out = NULL;
    size_t n;
    if (r == TSL_OK && tslp_buf_reserve(&b, 1, NULL) == TSL_OK) {
        b.data[b.len++] = '\0'; /* taken with the text: take() may shrink to len */
        out = (char *)tslp_buf_take(&b, &n);
    }
    tslp_buf_free(&b);
    return out;
}

static char *summary_json(const tsl_list *l, const tsl_token *t, int verified,
                          const char *format, const uint64_t counts[256], size_t raw,
                          const uint64_t *idx, const unsigned *vals, size_t n)
{
    json_t *o = NULL;
    if (t != NULL) {
        /* The token's header and claims as tsl_token_to_json gives them. */
        char *text = NULL;
        if (tsl_token_to_json(t, &text, NULL) == TSL_OK)
            o = json_loads(text, 0, NULL);
        tsl_free(text);
        if (o != NULL)
            json_object_set_new(o, "verified", json_boolean(verified));
    } else if ((o = json_object()) != NULL) {
        json_object_set_new(o, "format", json_string(format));
    }
    if (o == NULL)
        return NULL;
    json_object_set_new(o, "bits", json_integer(tsl_list_bits(l)));
    json_object_set_new(o, "entries", json_integer((json_int_t)tsl_list_size(l)));
    json_object_set_new(o, "compressed_bytes",
                        json_integer((json_int_t)tsl_list_compressed_size(l)));
    json_object_set_new(o, "raw_bytes", json_integer((json_int_t)raw));
    const char *agg = tsl_list_aggregation_uri(l);
    if (agg != NULL)
        json_object_set_new(o, "aggregation_uri", json_string(agg));
    json_t *c = json_object();
    for (unsigned v = 0; v < 256; v++)
        if (counts[v] != 0) {
            char key[4];
            snprintf(key, sizeof key, "%u", v);
            json_object_set_new(c, key, json_integer((json_int_t)counts[v]));
        }
    json_object_set_new(o, "counts", c);
    if (n > 0) {
        json_t *a = json_array();
        for (size_t k = 0; k < n; k++)
            json_array_append_new(a, json_pack("{s:I,s:i,s:s}", "index", (json_int_t)idx[k],
                                               "value", (int)vals[k], "status",
                                               tsl_status_name(vals[k])));
        json_object_set_new(o, "lookups", a);
    }
    char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    char *out = text != NULL ? tslp_strndup(text, strlen(text)) : NULL;
    free(text);
    return out;
}

tsl_status tsl_list_summary(const tsl_list *l, const tsl_token *t, int verified,
                            const char *format, const uint64_t *idx, const unsigned *values,
                            size_t n, unsigned flags, char **out, tsl_error *err)
{
    if (l == NULL || format == NULL || out == NULL || (n > 0 && (idx == NULL || values == NULL)))
        return tslp_fail(err, TSL_ERR_ARG, 0, "summary: NULL argument");
    uint64_t counts[256];
    tsl_list_count(l, counts);
    size_t raw;
    tsl_list_bytes(l, &raw);
    *out = (flags & TSL_REPORT_JSON)
               ? summary_json(l, t, verified, format, counts, raw, idx, values, n)
               : summary_text(l, t, verified, format, counts, raw);
    return *out != NULL ? TSL_OK : tslp_fail(err, TSL_ERR_NOMEM, 0, "summary: out of memory");
}
