/* report.c - a stored list described for people and programs (tsl_list_info_report):
 * the settings, counts per status and counters as aligned "name value" lines or as
 * one JSON object. `tsl list show` prints what this returns; an embedder's admin page
 * can show the same. */
#include "store/store_int.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* Sets key to an integer, or to null when absent is true. */
static void put_int(json_t *o, const char *key, long long v, bool absent)
{
    json_object_set_new(o, key, absent ? json_null() : json_integer(v));
}

static void put_str(json_t *o, const char *key, const char *s)
{
    json_object_set_new(o, key, s != NULL ? json_string(s) : json_null());
}

static char *info_json(const tsl_list_info *in, const uint64_t counts[256])
{
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    put_str(o, "id", in->id);
    put_str(o, "uri", in->uri);
    put_int(o, "bits", in->bits, false);
    put_int(o, "size", (long long)in->size, false);
    put_str(o, "key", in->key_path);
    put_str(o, "alg", tsl_alg_name(in->alg));
    put_str(o, "kid", in->kid);
    put_str(o, "x5c", in->x5c_path);
    put_int(o, "lifetime", in->lifetime, false);
    put_int(o, "ttl", in->ttl, in->ttl == 0);
    json_t *fm = json_array();
    unsigned formats = in->formats ? in->formats : TSL_PUBLISH_JWT | TSL_PUBLISH_CWT;
    if (formats & TSL_PUBLISH_JWT)
        json_array_append_new(fm, json_string("jwt"));
    if (formats & TSL_PUBLISH_CWT)
        json_array_append_new(fm, json_string("cwt"));
    if (formats == TSL_PUBLISH_IDLIST)
        json_array_append_new(fm, json_string("idlist"));
    json_object_set_new(o, "formats", fm);
    if (formats == TSL_PUBLISH_IDLIST)
        put_int(o, "id_length", in->id_bytes, false);
    put_int(o, "decoys", (long long)in->decoys, false);
    put_int(o, "decoy_value", in->decoy_value, false);
    json_object_set_new(o, "final_invalid", json_boolean(in->final_invalid > 0));
    put_str(o, "aggregation_uri", in->aggregation_uri);
    put_int(o, "created", in->created, false);
    put_int(o, "updated", in->updated, false);
    json_t *cs = json_object();
    char buf[TSL_STATUS_LABEL_SIZE];
    /* The four named statuses always, any other value that occurs. */
    for (unsigned v = 0; v < (1u << in->bits) && v < 256; v++)
        if (counts[v] != 0 || v <= TSL_STATUS_INVALID)
            json_object_set_new(cs, tsl_status_label(v, buf),
                                json_integer((long long)counts[v]));
    json_object_set_new(o, "counts", cs);
    put_int(o, "allocated", (long long)in->allocated, false);
    put_int(o, "capacity", (long long)in->capacity, false);
    put_int(o, "free", (long long)(in->capacity - in->allocated), false);
    put_int(o, "last_published", in->last_published, in->last_published == 0);
    put_int(o, "version", (long long)in->version, false);
    char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    char *out = text != NULL ? tslp_strndup(text, strlen(text)) : NULL;
    free(text);
    return out;
}

static tsl_status info_text(const tsl_list_info *in, const uint64_t counts[256],
                            tslp_buf *b)
{
    char buf[TSL_STATUS_LABEL_SIZE];
    tsl_status r = TSL_OK;
    /* Every row is "name" padded to 16 columns, then the value; the first failure
     * (out of memory) stops the rest. */
#define ROW(name, fmt, ...) \
    (void)(r == TSL_OK && (r = tslp_buf_printf(b, NULL, "%-16s" fmt "\n", name, __VA_ARGS__)))
    ROW("id", "%s", in->id);
    ROW("uri", "%s", in->uri);
    ROW("bits", "%u", in->bits);
    ROW("size", "%llu", (unsigned long long)in->size);
    ROW("key", "%s", in->key_path);
    ROW("alg", "%s", in->alg ? tsl_alg_name(in->alg) : "(from the key)");
    ROW("kid", "%s", in->kid ? in->kid : "(from the key)");
    ROW("x5c", "%s", in->x5c_path ? in->x5c_path : "-");
    ROW("lifetime", "%lld", (long long)in->lifetime);
    if (in->ttl)
        ROW("ttl", "%lld", (long long)in->ttl);
    else
        ROW("ttl", "%s", "-");
    ROW("formats", "%s", tsl_publish_formats_name(in->formats));
    if (in->formats == TSL_PUBLISH_IDLIST)
        ROW("id_length", "%u", in->id_bytes);
    ROW("decoys", "%llu", (unsigned long long)in->decoys);
    if (in->decoys)
        ROW("decoy_value", "%s", tsl_status_label(in->decoy_value, buf));
    ROW("final_invalid", "%s", in->final_invalid > 0 ? "yes" : "no");
    ROW("aggregation_uri", "%s", in->aggregation_uri ? in->aggregation_uri : "-");
    ROW("created", "%lld", (long long)in->created);
    ROW("updated", "%lld", (long long)in->updated);
    for (unsigned v = 0; v < (1u << in->bits) && v < 256; v++)
        if (counts[v] != 0 || v <= TSL_STATUS_INVALID)
            ROW(tsl_status_label(v, buf), "%llu", (unsigned long long)counts[v]);
    ROW("allocated", "%llu", (unsigned long long)in->allocated);
    ROW("free", "%llu", (unsigned long long)(in->capacity - in->allocated));
    if (in->last_published)
        ROW("last_published", "%lld", (long long)in->last_published);
    else
        ROW("last_published", "%s", "never");
    ROW("version", "%llu", (unsigned long long)in->version);
#undef ROW
    return r;
}

tsl_status tsl_list_info_report(const tsl_list_info *in, const uint64_t counts[256],
                                unsigned flags, char **out, tsl_error *err)
{
    if (in == NULL || counts == NULL || out == NULL || !tslp_bits_ok(in->bits))
        return tslp_fail(err, TSL_ERR_ARG, 0, "list report: NULL argument or bad bits");
    *out = NULL;
    if (flags & TSL_REPORT_JSON) {
        *out = info_json(in, counts);
    } else {
        tslp_buf b;
        tslp_buf_init(&b, SIZE_MAX, "list report");
        if (info_text(in, counts, &b) == TSL_OK && tslp_buf_reserve(&b, 1, NULL) == TSL_OK) {
            b.data[b.len++] = '\0'; /* taken with the text: take() may shrink to len */
            size_t n;
            *out = (char *)tslp_buf_take(&b, &n);
        }
        tslp_buf_free(&b);
    }
    return *out != NULL ? TSL_OK : tslp_fail(err, TSL_ERR_NOMEM, 0, "list report: out of memory");
}

tsl_status tsl_store_list_show(tsl_store *st, const char *id, unsigned flags, char **out,
                               tsl_error *err)
{
    if (out == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "list show: NULL argument");
    *out = NULL;
    tsl_list_info info;
    memset(&info, 0, sizeof info);
    tsl_status r = tsl_store_list_info(st, id, &info, err);
    uint64_t version = 0;
    uint64_t counts[256];
    /* The stored counts (counts.c): 256 numbers, not the list. */
    if (r == TSL_OK)
        r = tsl_store_counts(st, id, counts, &version, err);
    if (r == TSL_OK) {
        info.version = version; /* as of the statuses counted */
        r = tsl_list_info_report(&info, counts, flags, out, err);
    }
    tsl_list_info_free(&info);
    return r;
}

tsl_status tsl_store_publish_report(tsl_store *st, const char *id, unsigned formats,
                                    const tsl_publish_result *res, char **out, tsl_error *err)
{
    if (st == NULL || id == NULL || res == NULL || out == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "publish report: NULL argument");
    *out = NULL;
    tsl_status r = TSL_OK;
    if (formats == 0) {
        tsl_list_info info;
        memset(&info, 0, sizeof info);
        r = tsl_store_list_info(st, id, &info, err);
        formats = info.formats != 0 ? info.formats : TSL_PUBLISH_JWT | TSL_PUBLISH_CWT;
        tsl_list_info_free(&info);
    }
    tslp_buf b;
    tslp_buf_init(&b, SIZE_MAX, "publish report");
    /* PostgreSQL: another process is signing this list right now. */
    if (r == TSL_OK && res->busy) {
        r = tslp_buf_printf(&b, err, "%s: not signed: another publisher is signing this list\n",
                            id);
        formats = 0;
    }
    /* What was recorded, read back from the store; and what was not, because a
     * concurrent publish recorded newer statuses (or the same ones, same second) while
     * this one was signing: that token stands. */
    for (unsigned k = 0; k < 2 && r == TSL_OK; k++) {
        unsigned bit = k == 0 ? TSL_PUBLISH_JWT : TSL_PUBLISH_CWT;
        const char *form = k == 0 ? "jwt" : "cwt";
        unsigned long long v = (unsigned long long)res->version;
        if (!(formats & bit))
            continue;
        if ((res->skipped & bit) && (res->fresh & bit)) {
            r = tslp_buf_printf(&b, err, "%s: %s not signed: a token of version %llu signed "
                                "less than a minute before is already recorded\n", id, form, v);
        } else if ((res->skipped & bit) && res->newest > res->version) {
            r = tslp_buf_printf(&b, err, "%s: %s not recorded: version %llu signed, but "
                                "version %llu is already recorded and stands\n", id, form, v,
                                (unsigned long long)res->newest);
        } else if (res->skipped & bit) {
            r = tslp_buf_printf(&b, err, "%s: %s not recorded: a token of version %llu with "
                                "the same iat is already recorded\n", id, form, v);
        } else {
            uint8_t *tok = NULL;
            size_t len = 0;
            int64_t iat = 0, exp = 0;
            r = tsl_store_token(st, id, k == 0 ? TSL_FORMAT_JWT : TSL_FORMAT_CWT, 0, &tok,
                                &len, &iat, &exp, err);
            tsl_free(tok);
            if (r == TSL_OK)
                r = tslp_buf_printf(&b, err, "%s: published %s, %zu bytes, iat %lld, exp %lld%s\n",
                                    id, form, len, (long long)iat, (long long)exp,
                                    res->raised & bit ? " (iat raised to the newest recorded "
                                                        "token's, which has older statuses)"
                                                      : "");
        }
    }
    size_t n;
    if (tslp_buf_reserve(&b, 1, NULL) == TSL_OK) {
        b.data[b.len++] = '\0';
        *out = (char *)tslp_buf_take(&b, &n);
    }
    tslp_buf_free(&b);
    if (*out == NULL && r == TSL_OK)
        r = tslp_fail(err, TSL_ERR_NOMEM, 0, "publish report: out of memory");
    return r;
}
