/* statuslist_cbor.c - the StatusList CBOR map of spec section 4.3,
 * {"bits": 1/2/4/8, "lst": bstr (zlib), ? "aggregation_uri": tstr}: encoding with
 * libcbor's low-level encoders into an exactly sized buffer, decoding through the
 * bounded reader (cbor_read.c). The CWT code reuses both halves for claim 65533. */
#include "codec/cbor_int.h"

#include <cbor.h>

#include <string.h>

/* Bytes of a CBOR head whose argument is n (RFC 8949 section 3, shortest form, which
 * is what libcbor's encoders write). */
static size_t head_size(uint64_t n)
{
    return n < 24 ? 1 : n <= 0xff ? 2 : n <= 0xffff ? 3 : n <= 0xffffffff ? 5 : 9;
}

#define KEY_BITS "bits"
#define KEY_LST "lst"
#define KEY_URI "aggregation_uri"

/* Bytes of a text-string key: head plus text. */
static size_t key_size(const char *key)
{
    size_t n = strlen(key);
    return head_size(n) + n;
}

/* Appends a text-string key. */
static size_t put_text(const char *s, size_t n, uint8_t *buf, size_t cap)
{
    size_t h = cbor_encode_string_start(n, buf, cap);
    if (h == 0 || cap - h < n)
        return 0;
    if (n > 0)
        memcpy(buf + h, s, n);
    return h + n;
}

tsl_status tslp_statuslist_cbor_write(const tsl_list *l, const uint8_t *z, size_t zlen,
                                      uint8_t *buf, size_t cap, size_t *len,
                                      tsl_error *err)
{
    if (l == NULL || len == NULL || (z == NULL && zlen > 0))
        return tslp_fail(err, TSL_ERR_ARG, 0, "status_list: NULL argument");
    const char *uri = l->aggregation_uri;
    size_t urilen = uri != NULL ? strlen(uri) : 0;
    /* tsl_list_set_aggregation_uri() takes any C string; CBOR text must be UTF-8, and
     * our own reader would refuse what we wrote. */
    size_t bad = tslp_utf8_check((const uint8_t *)uri, urilen);
    if (uri != NULL && bad != urilen)
        return tslp_fail(err, TSL_ERR_ARG, bad,
                         "aggregation_uri: not valid UTF-8 at byte %zu", bad);

    /* The size, exactly. Only zlen and urilen can be large; neither is near SIZE_MAX
     * since both are in memory, but a sum is still checked rather than trusted. */
    size_t need = 1 + key_size(KEY_BITS) + 1 + key_size(KEY_LST);
    size_t tail = head_size(zlen) + zlen;
    if (tail < zlen || need + tail < need)
        return tslp_fail(err, TSL_ERR_LIMIT, 0, "status_list: %zu bytes of lst too large",
                         zlen);
    need += tail;
    if (uri != NULL) {
        tail = key_size(KEY_URI) + head_size(urilen) + urilen;
        if (tail < urilen || need + tail < need)
            return tslp_fail(err, TSL_ERR_LIMIT, 0,
                             "status_list: aggregation_uri too long");
        need += tail;
    }
    *len = need;
    if (buf == NULL)
        return TSL_OK;
    if (cap < need)
        return tslp_fail(err, TSL_ERR_BUFFER, 0,
                         "status_list: buffer of %zu bytes, %zu needed", cap, need);

    size_t pos = 0, w;
    /* Each encoder returns 0 when it does not fit; with the size computed above that
     * would be a bug here, reported rather than written past. */
#define PUT(expr)                                                                         \
    do {                                                                                  \
        if ((w = (expr)) == 0)                                                            \
            goto overflow;                                                                \
        pos += w;                                                                         \
    } while (0)
    PUT(cbor_encode_map_start(uri != NULL ? 3 : 2, buf + pos, need - pos));
    PUT(put_text(KEY_BITS, strlen(KEY_BITS), buf + pos, need - pos));
    PUT(cbor_encode_uint(l->bits, buf + pos, need - pos));
    PUT(put_text(KEY_LST, strlen(KEY_LST), buf + pos, need - pos));
    PUT(cbor_encode_bytestring_start(zlen, buf + pos, need - pos));
    if (need - pos < zlen)
        goto overflow;
    if (zlen > 0)
        memcpy(buf + pos, z, zlen);
    pos += zlen;
    if (uri != NULL) {
        PUT(put_text(KEY_URI, strlen(KEY_URI), buf + pos, need - pos));
        PUT(put_text(uri, urilen, buf + pos, need - pos));
    }
#undef PUT
    if (pos != need)
        goto overflow;
    return TSL_OK;

overflow:
    return tslp_fail(err, TSL_ERR_ARG, pos,
                     "status_list: internal error: encoding does not match its size %zu",
                     need);
}

tsl_status tsl_list_to_cbor(const tsl_list *l, int level, uint8_t **out, size_t *out_len,
                            tsl_error *err)
{
    if (l == NULL || out == NULL || out_len == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "tsl_list_to_cbor: NULL argument");
    uint8_t *z = NULL, *buf = NULL;
    size_t zlen = 0, need = 0;
    tsl_status s = tsl_list_compress(l, level, &z, &zlen, err);
    if (s != TSL_OK)
        return s;
    if ((s = tslp_statuslist_cbor_write(l, z, zlen, NULL, 0, &need, err)) != TSL_OK)
        goto done;
    buf = tslp_malloc(need);
    if (buf == NULL) {
        s = tslp_fail(err, TSL_ERR_NOMEM, 0, "status_list: out of memory for %zu bytes",
                      need);
        goto done;
    }
    if ((s = tslp_statuslist_cbor_write(l, z, zlen, buf, need, &need, err)) != TSL_OK)
        goto done;
    *out = buf;
    *out_len = need;
    buf = NULL;
done:
    tslp_free(buf);
    tsl_free(z); /* tsl_list_compress() hands out memory for tsl_free() */
    return s;
}

/* Reports a missing required member. */
static tsl_status missing(const tslp_cbor_node *map, const char *key, tsl_error *err)
{
    return tslp_fail(err, TSL_ERR_MALFORMED, map->offset,
                     "status_list: missing \"%s\" (map at offset %zu)", key, map->offset);
}

tsl_status tslp_statuslist_from_node(const tslp_cbor_node *map, const tsl_limits *lim,
                                     tsl_list **out, tsl_error *err)
{
    if (map == NULL || out == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "status_list: NULL argument");
    tsl_status s = tslp_cbor_expect(map, TSLP_CBOR_MAP, "status_list", err);
    if (s != TSL_OK)
        return s;

    /* Every cheap check first, so a bad field is reported before any inflating. */
    const tslp_cbor_node *bits = tslp_cbor_map_get_text(map, KEY_BITS);
    if (bits == NULL)
        return missing(map, KEY_BITS, err);
    if ((s = tslp_cbor_expect(bits, TSLP_CBOR_UINT, KEY_BITS, err)) != TSL_OK)
        return s;
    if (!tslp_bits_ok(bits->u))
        return tslp_fail(err, TSL_ERR_MALFORMED, bits->offset,
                         "bits: %llu is not 1, 2, 4 or 8", (unsigned long long)bits->u);

    const tslp_cbor_node *lst = tslp_cbor_map_get_text(map, KEY_LST);
    if (lst == NULL)
        return missing(map, KEY_LST, err);
    if ((s = tslp_cbor_expect(lst, TSLP_CBOR_BYTES, KEY_LST, err)) != TSL_OK)
        return s;
    if (lst->len == 0)
        return tslp_fail(err, TSL_ERR_MALFORMED, lst->offset,
                         "lst: empty byte string at offset %zu", lst->offset);

    /* aggregation_uri is optional; null and undefined are read as "absent", as the CWT
     * claim reader does: that is how a producer writing from a nullable field says it
     * (@owf/token-status-list 0.3 writes undefined into every CWT without one). */
    const tslp_cbor_node *uri = tslp_cbor_map_get_text(map, KEY_URI);
    if (uri != NULL && (uri->type == TSLP_CBOR_NULL || uri->type == TSLP_CBOR_UNDEFINED))
        uri = NULL;
    if (uri != NULL) {
        if ((s = tslp_cbor_expect(uri, TSLP_CBOR_TEXT, KEY_URI, err)) != TSL_OK)
            return s;
        /* The URI is handed on as a C string, which cannot hold a NUL. */
        if (uri->len > 0 && memchr(uri->str, 0, uri->len) != NULL)
            return tslp_fail(err, TSL_ERR_MALFORMED, uri->offset,
                             "aggregation_uri: contains a NUL character");
    }

    /* Only a fresh error may be prefixed: the first error in err wins. */
    bool fresh = err != NULL && err->code == TSL_OK;
    tsl_list *l = NULL;
    s = tsl_list_decompress((unsigned)bits->u, lst->str, lst->len, lim, &l, err);
    if (s != TSL_OK) {
        if (fresh) {
            tslp_error_prefix(err, KEY_LST);
            /* The inflater counts from the start of the zlib stream; make the offset
             * point into the document. An indefinite string's chunks are not
             * contiguous, so its own offset is the best there is. */
            if (lst->indefinite)
                err->offset = lst->offset;
            else
                err->offset += lst->offset + (lst->enc_len - lst->len);
        }
        return s;
    }

    if (uri != NULL) {
        char *copy = tslp_malloc(uri->len + 1);
        if (copy == NULL) {
            tsl_list_free(l);
            return tslp_fail(err, TSL_ERR_NOMEM, 0, "aggregation_uri: out of memory");
        }
        if (uri->len > 0)
            memcpy(copy, uri->str, uri->len);
        copy[uri->len] = '\0';
        s = tsl_list_set_aggregation_uri(l, copy, err);
        tslp_free(copy);
        if (s != TSL_OK) {
            tsl_list_free(l);
            return s;
        }
    }
    *out = l;
    return TSL_OK;
}

tsl_status tsl_list_from_cbor(const uint8_t *cbor, size_t len, const tsl_limits *lim,
                              tsl_list **out, tsl_error *err)
{
    if (out == NULL || (cbor == NULL && len > 0))
        return tslp_fail(err, TSL_ERR_ARG, 0, "tsl_list_from_cbor: NULL argument");
    tslp_cbor_doc *doc = NULL;
    tsl_status s = tslp_cbor_parse(cbor, len, lim, NULL, &doc, err);
    if (s != TSL_OK)
        return s;
    s = tslp_statuslist_from_node(doc->root, lim, out, err);
    tslp_cbor_free(doc);
    return s;
}
