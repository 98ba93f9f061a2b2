/* statuslist_json.c - the StatusList JSON object (spec section 4.2):
 * {"bits": 1|2|4|8, "lst": "<base64url of the zlib stream>", "aggregation_uri": "..."}.
 * Parsing goes through jansson with duplicate keys rejected; unknown members are
 * ignored (-12 onward no longer forbids them). */
#include "core/tsl_int.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* Compresses and base64url-encodes the list's bytes: the `lst` text. */
static tsl_status make_lst(const tsl_list *l, int level, char **lst, size_t *lst_len,
                           tsl_error *err)
{
    uint8_t *z = NULL;
    size_t zlen = 0;
    tsl_status st = tsl_list_compress(l, level, &z, &zlen, err);
    if (st != TSL_OK)
        return st;
    st = tsl_b64url_encode(z, zlen, lst, lst_len, err);
    tslp_free(z);
    return st;
}

tsl_status tsl_list_to_json(const tsl_list *l, int level, char **out, size_t *out_len,
                            tsl_error *err)
{
    if (l == NULL || out == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "json: NULL argument");
    char *lst = NULL;
    size_t lst_len = 0;
    tsl_status st = make_lst(l, level, &lst, &lst_len, err);
    if (st != TSL_OK)
        return st;
    json_t *o = json_object();
    int bad = o == NULL;
    bad = bad || json_object_set_new(o, "bits", json_integer(l->bits)) != 0;
    /* lst is base64url text we just wrote: no need for jansson's UTF-8 check. */
    bad = bad || json_object_set_new(o, "lst", json_stringn_nocheck(lst, lst_len)) != 0;
    if (l->aggregation_uri != NULL)
        bad = bad ||
              json_object_set_new(o, "aggregation_uri", json_string(l->aggregation_uri)) != 0;
    tslp_free(lst);
    char *text = bad ? NULL : json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (text == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0,
                         "json: out of memory (or aggregation_uri is not UTF-8)");
    /* Hand back memory that tsl_free() releases, whatever allocator jansson uses. */
    size_t n = strlen(text);
    char *copy = tslp_malloc(n + 1);
    if (copy == NULL) {
        free(text);
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "json: out of memory");
    }
    memcpy(copy, text, n + 1);
    free(text);
    *out = copy;
    if (out_len != NULL)
        *out_len = n;
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
