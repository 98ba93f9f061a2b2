/* statuslist_json.c - the StatusList JSON object (spec section 4.2):
 * {"bits": 1|2|4|8, "lst": "<base64url of the zlib stream>", "aggregation_uri": "..."}.
 * Written as text (json_write.c), lst straight from the list's stream into the output;
 * parsing goes through jansson with duplicate keys rejected; unknown members are
 * ignored (-12 onward no longer forbids them). */
#include "core/tsl_int.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

tsl_status tslp_statuslist_json_put(tslp_buf *b, const tsl_list *l, int level,
                                    tsl_error *err)
{
    const uint8_t *z = NULL;
    uint8_t *owned = NULL;
    size_t zlen = 0;
    tsl_status st = tslp_list_zview(l, level, &z, &zlen, &owned, err);
    if (st == TSL_OK && zlen > (SIZE_MAX - 64) / 4 * 3)
        st = tslp_fail(err, TSL_ERR_LIMIT, 0, "json: %zu bytes of lst too large", zlen);
    size_t n = st == TSL_OK ? TSLP_B64URL_LEN(zlen) : 0;
    /* lst is written straight into the output: the one time the list is serialised. */
    if (st == TSL_OK)
        st = tslp_buf_printf(b, err, "{\"bits\":%u,\"lst\":\"", l->bits);
    /* Room for the rest too (the quote, aggregation_uri, the closing braces of this
     * object and of a JWT's claims around it), so that the megabytes of lst are not
     * copied again by a growth after them. */
    size_t agg = l->aggregation_uri != NULL ? strlen(l->aggregation_uri) : 0;
    if (st == TSL_OK && agg > (SIZE_MAX - n - 64) / 6)
        st = tslp_fail(err, TSL_ERR_LIMIT, 0, "json: aggregation_uri too long");
    if (st == TSL_OK)
        st = tslp_buf_reserve(b, n + 6 * agg + 64, err);
    if (st == TSL_OK) {
        b->len += tslp_b64url_encode_into(z, zlen, (char *)b->data + b->len);
        b->data[b->len++] = '"';
    }
    tslp_free(owned);
    if (st == TSL_OK && l->aggregation_uri != NULL) {
        st = tslp_json_put_member(b, false, "aggregation_uri", err);
        if (st == TSL_OK)
            st = tslp_json_put_str(b, l->aggregation_uri, "aggregation_uri", err);
    }
    if (st == TSL_OK)
        st = tslp_buf_append(b, "}", 1, err);
    return st;
}

tsl_status tsl_list_to_json(const tsl_list *l, int level, char **out, size_t *out_len,
                            tsl_error *err)
{
    if (l == NULL || out == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "json: NULL argument");
    tslp_buf b;
    tslp_buf_init(&b, TSLP_JSON_OUT_MAX, "json output");
    tsl_status st = tslp_statuslist_json_put(&b, l, level, err);
    if (st == TSL_OK)
        st = tslp_buf_append(&b, "", 1, err); /* the terminator */
    if (st != TSL_OK) {
        tslp_buf_free(&b);
        return st;
    }
    size_t n = 0;
    char *text = (char *)tslp_buf_take(&b, &n);
    if (text == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "json: out of memory");
    *out = text;
    if (out_len != NULL)
        *out_len = n - 1;
    return TSL_OK;
}

static const char *json_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a real number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "an unknown type";
}

tsl_status tslp_list_from_json_value(const void *value, const tsl_limits *lim,
                                     tsl_list **out, tsl_error *err)
{
    const json_t *o = value;
    if (!json_is_object(o))
        return tslp_fail(err, TSL_ERR_MALFORMED, 0, "status_list: %s, expected an object",
                         json_type_name(o));
    const json_t *jb = json_object_get(o, "bits");
    if (jb == NULL)
        return tslp_fail(err, TSL_ERR_MALFORMED, 0, "status_list: missing \"bits\"");
    if (!json_is_integer(jb))
        return tslp_fail(err, TSL_ERR_MALFORMED, 0,
                         "bits: %s, expected the integer 1, 2, 4 or 8", json_type_name(jb));
    json_int_t bits = json_integer_value(jb);
    if (bits < 0 || !tslp_bits_ok((uint64_t)bits))
        return tslp_fail(err, TSL_ERR_MALFORMED, 0, "bits: %lld is not 1, 2, 4 or 8",
                         (long long)bits);
    const json_t *jl = json_object_get(o, "lst");
    if (jl == NULL)
        return tslp_fail(err, TSL_ERR_MALFORMED, 0, "status_list: missing \"lst\"");
    if (!json_is_string(jl))
        return tslp_fail(err, TSL_ERR_MALFORMED, 0, "lst: %s, expected a base64url string",
                         json_type_name(jl));
    const json_t *ja = json_object_get(o, "aggregation_uri");
    /* A null optional member is a common producer quirk and means "absent". */
    if (ja != NULL && !json_is_null(ja) && !json_is_string(ja))
        return tslp_fail(err, TSL_ERR_MALFORMED, 0, "aggregation_uri: %s, expected a string",
                         json_type_name(ja));
    const char *agg = json_is_string(ja) ? json_string_value(ja) : NULL;
    if (agg != NULL && strlen(agg) != json_string_length(ja))
        return tslp_fail(err, TSL_ERR_MALFORMED, 0, "aggregation_uri: contains a NUL");

    const char *lst = json_string_value(jl);
    size_t lst_len = json_string_length(jl);
    if (lst_len == 0)
        return tslp_fail(err, TSL_ERR_MALFORMED, 0, "lst: empty string");
    uint8_t *z = NULL;
    size_t zlen = 0;
    tsl_status st = tsl_b64url_decode(lst, lst_len, &z, &zlen, err);
    if (st != TSL_OK) {
        tslp_error_prefix(err, "lst");
        return st;
    }
    tsl_list *l = NULL;
    st = tsl_list_decompress((unsigned)bits, z, zlen, lim, &l, err);
    tslp_free(z);
    if (st != TSL_OK) {
        tslp_error_prefix(err, "lst");
        return st;
    }
    if (agg != NULL && (st = tsl_list_set_aggregation_uri(l, agg, err)) != TSL_OK) {
        tsl_list_free(l);
        return st;
    }
    *out = l;
    return TSL_OK;
}

tsl_status tsl_list_from_json(const char *json, size_t len, const tsl_limits *lim,
                              tsl_list **out, tsl_error *err)
{
    if (out == NULL || (json == NULL && len > 0))
        return tslp_fail(err, TSL_ERR_ARG, 0, "json: NULL argument");
    tsl_limits L;
    tslp_limits_resolve(lim, &L);
    void *v = NULL;
    tsl_status st = tslp_json_load(json, len, &L, &v, "json", err);
    if (st != TSL_OK)
        return st;
    json_t *root = v;
    st = tslp_list_from_json_value(root, &L, out, err);
    json_decref(root);
    return st;
}
