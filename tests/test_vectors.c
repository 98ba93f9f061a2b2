/* test_vectors.c - the spec's test vectors (testvectors/, JSON files) run through libtsl.
 *
 * Every expected value comes from the vector files, read with jansson at run time:
 * - the two section 4.1 lists: JSON lst and CBOR map give exactly the listed statuses,
 *   the listed out-of-bounds indices are TSL_ERR_INDEX, and a list built from the
 *   statuses round-trips through the library's JSON and CBOR encoders;
 * - the four Appendix C lists of 2^20 entries: the inflated bytes match the vector's
 *   SHA-256 (OpenSSL EVP_Digest) and length, every probe lookup, the first
 *   out-of-bounds index; set_entries expanded per the README's rule give the same bytes;
 *   tsl_list_compress output inflates (with zlib itself and with the library) to those
 *   bytes (round trip, never byte equality of compressed data); JSON and CBOR encode and
 *   decode back;
 * - the list-related cases of derived_negative_and_edge_cases.json, iterated from the
 *   file: each must be accepted or rejected with the expected error class, and a
 *   rejection's message must mention the key idea of the case's stated basis.
 *
 * Skipped here (signed tokens, next issue): derived_negative_and_edge_cases.json
 * "jwt_cases" (valid, typ-missing, typ-JWT, typ-full-media-type, sub-mismatch, expired,
 * missing-iat, missing-sub, missing-status_list, ttl-zero, no-exp-no-ttl, alg-none,
 * bad-signature), "cwt_cases" (valid, wrapped-in-CWT-tag-61, untagged-COSE_Sign1,
 * typ-short-form, typ-in-unprotected-only, status-list-under-65535, lst-as-text-base64url,
 * sub-mismatch; the list-level idea of lst-as-text is covered below by a CBOR variant of
 * every accepted case) and "historical_resolution_cases" (all four), plus the files
 * sec5_*, sec6_*, sec8_*, historical_rev15_* and keys/. */
#include "tt.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <zlib.h>

#include <ctype.h>
#include <stdlib.h>
#include <strings.h>

#define TV_DIR "testvectors/"

/* ---------------------------------------------------------------------------------- */
/* Helpers                                                                              */

static json_t *load_vector(const char *name)
{
    char path[256];
    snprintf(path, sizeof path, TV_DIR "%s", name);
    return tt_load_json(path);
}

/* A non-negative JSON integer member, or false. */
static int get_u64(const json_t *o, const char *key, uint64_t *v)
{
    json_t *x = json_object_get(o, key);
    if (!json_is_integer(x) || json_integer_value(x) < 0)
        return 0;
    *v = (uint64_t)json_integer_value(x);
    return 1;
}

static void sha256_hex(const uint8_t *p, size_t n, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (EVP_Digest(p, n, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32) {
        out[0] = '\0';
        return;
    }
    for (unsigned i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* Inflates a zlib stream with zlib itself (independent of libtsl's inflate) into a
 * malloc'd buffer of at most cap bytes. NULL unless the stream is complete and fits. */
static uint8_t *zlib_inflate(const uint8_t *z, size_t zlen, size_t cap, size_t *len)
{
    uLongf dlen = (uLongf)cap + 1; /* one spare byte: a longer result must not fit */
    uint8_t *out = malloc(dlen);
    if (out == NULL)
        return NULL;
    if (uncompress(out, &dlen, z, (uLong)zlen) != Z_OK || dlen > cap) {
        free(out);
        return NULL;
    }
    *len = dlen;
    return out;
}

/* A strict base64url decoder of our own (no padding, no '+' '/', no 4k+1 length), used
 * only to build CBOR variants of the JSON cases. NULL when the text is not strict. */
static uint8_t *b64url_strict(const char *s, size_t *len)
{
    static const char alpha[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t n = strlen(s);
    if (n % 4 == 1)
        return NULL;
    uint8_t *out = malloc(n * 3 / 4 + 1);
    if (out == NULL)
        return NULL;
    uint32_t acc = 0;
    unsigned nbits = 0;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        const char *p = s[i] ? strchr(alpha, s[i]) : NULL;
        if (p == NULL) {
            free(out);
            return NULL;
        }
        acc = acc << 6 | (uint32_t)(p - alpha);
        nbits += 6;
        if (nbits >= 8) {
            nbits -= 8;
            out[o++] = (uint8_t)(acc >> nbits);
            acc &= (1u << nbits) - 1;
        }
    }
    if (acc != 0) { /* non-zero trailing bits */
        free(out);
        return NULL;
    }
    *len = o;
    return out;
}

/* A tiny CBOR writer (definite lengths only), enough for a StatusList map. */
typedef struct {
    uint8_t b[4096];
    size_t n;
    int overflow;
} cbuf;

static void cb_put(cbuf *c, const void *p, size_t n)
{
    if (c->n + n > sizeof c->b) {
        c->overflow = 1;
        return;
    }
    memcpy(c->b + c->n, p, n);
    c->n += n;
}

static void cb_head(cbuf *c, unsigned major, uint64_t v)
{
    uint8_t h[9];
    size_t n;
    if (v < 24) {
        h[0] = (uint8_t)(major << 5 | v);
        n = 1;
    } else if (v <= 0xff) {
        h[0] = (uint8_t)(major << 5 | 24);
        h[1] = (uint8_t)v;
        n = 2;
    } else if (v <= 0xffff) {
        h[0] = (uint8_t)(major << 5 | 25);
        h[1] = (uint8_t)(v >> 8);
        h[2] = (uint8_t)v;
        n = 3;
    } else {
        h[0] = (uint8_t)(major << 5 | 27);
        for (int i = 0; i < 8; i++)
            h[1 + i] = (uint8_t)(v >> (56 - 8 * i));
        n = 9;
    }
    cb_put(c, h, n);
}

static void cb_text(cbuf *c, const char *s)
{
    cb_head(c, 3, strlen(s));
    cb_put(c, s, strlen(s));
}

/* Converts a StatusList JSON object into the equivalent CBOR map: bits as uint (or as
 * text if the JSON has a string), lst as bstr of its decoded bytes, or as tstr when
 * lst_as_text. Returns 0 when the case cannot be expressed in CBOR (lst is not strict
 * base64url, or a member of another type). */
static int json_to_cbor(json_t *obj, int lst_as_text, cbuf *c)
{
    const char *key;
    json_t *val;
    c->n = 0;
    c->overflow = 0;
    cb_head(c, 5, json_object_size(obj));
    json_object_foreach(obj, key, val) {
        cb_text(c, key);
        if (json_is_integer(val) && json_integer_value(val) >= 0) {
            cb_head(c, 0, (uint64_t)json_integer_value(val));
        } else if (json_is_string(val) && strcmp(key, "lst") == 0 && !lst_as_text) {
            size_t n;
            uint8_t *raw = b64url_strict(json_string_value(val), &n);
            if (raw == NULL)
                return 0;
            cb_head(c, 2, n);
            cb_put(c, raw, n);
            free(raw);
        } else if (json_is_string(val)) {
            cb_text(c, json_string_value(val));
        } else {
            return 0;
        }
    }
    return !c->overflow;
}

/* True if the base64url text uses only the unpadded URL-safe alphabet. */
static int is_b64url_text(const char *s)
{
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_')
            return 0;
    return 1;
}

static int ci_contains(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++)
        if (strncasecmp(hay, needle, n) == 0)
            return 1;
    return 0;
}

/* Runs one named sub-case, and names it on stderr when it failed; the test goes on. */
#define SUBCASE(label, call)                                                              \
    do {                                                                                  \
        int tt_saved_ = tt_failed;                                                        \
        tt_failed = 0;                                                                    \
        call;                                                                             \
        if (tt_failed)                                                                    \
            fprintf(stderr, "    in case %s\n", (label));                                 \
        tt_failed |= tt_saved_;                                                           \
    } while (0)

/* ---------------------------------------------------------------------------------- */
/* Checks shared by the small and the large lists                                       */

/* Encodes l as JSON and CBOR through the library, checks the JSON's shape with
 * jansson, decodes both back and compares the packed bytes. */
static void check_encode_roundtrip(const tsl_list *l, int level)
{
    size_t want_len;
    const uint8_t *want = tsl_list_bytes(l, &want_len);
    tsl_error err;
    tsl_error_clear(&err);

    char *js = NULL;
    size_t js_len = 0;
    TT_OK(tsl_list_to_json(l, level, &js, &js_len, &err));
    TT_EQ_U(js_len, strlen(js));
    json_error_t je;
    json_t *obj = json_loadb(js, js_len, JSON_REJECT_DUPLICATES, &je);
    int shape_ok = obj != NULL && json_is_object(obj) &&
                   json_is_integer(json_object_get(obj, "bits")) &&
                   (unsigned)json_integer_value(json_object_get(obj, "bits")) ==
                       tsl_list_bits(l) &&
                   json_is_string(json_object_get(obj, "lst")) &&
                   is_b64url_text(json_string_value(json_object_get(obj, "lst")));
    json_decref(obj);
    if (!shape_ok)
        tt_failf(__FILE__, __LINE__, "tsl_list_to_json gave a bad StatusList: %.200s", js);
    tsl_list *back = NULL;
    tsl_status s = tsl_list_from_json(js, js_len, NULL, &back, &err);
    tsl_free(js);
    TT_OK(s);
    size_t got_len;
    const uint8_t *got = tsl_list_bytes(back, &got_len);
    int same = got_len == want_len && (want_len == 0 || memcmp(got, want, want_len) == 0);
    tsl_list_free(back);
    if (!shape_ok)
        return;
    TT_CHECK(same);

    uint8_t *cb = NULL;
    size_t cb_len = 0;
    TT_OK(tsl_list_to_cbor(l, level, &cb, &cb_len, &err));
    s = tsl_list_from_cbor(cb, cb_len, NULL, &back, &err);
    tsl_free(cb);
    TT_OK(s);
    got = tsl_list_bytes(back, &got_len);
    same = got_len == want_len && (want_len == 0 || memcmp(got, want, want_len) == 0);
    tsl_list_free(back);
    TT_CHECK(same);
}

/* Compresses l at level and checks that zlib and the library both inflate the stream to
 * exactly l's packed bytes. */
static void check_compress_roundtrip(const tsl_list *l, int level)
{
    size_t want_len;
    const uint8_t *want = tsl_list_bytes(l, &want_len);
    uint8_t *z = NULL;
    size_t z_len = 0;
    tsl_error err;
    tsl_error_clear(&err);
    TT_OK(tsl_list_compress(l, level, &z, &z_len, &err));
    size_t in_len = 0;
    uint8_t *in = zlib_inflate(z, z_len, want_len, &in_len);
    tsl_list *back = NULL;
    tsl_status s = tsl_list_decompress(tsl_list_bits(l), z, z_len, NULL, &back, &err);
    tsl_free(z);
    if (in == NULL) {
        tsl_list_free(back);
        tt_failf(__FILE__, __LINE__, "level %d: zlib cannot inflate the stream to %zu bytes",
                 level, want_len);
        return;
    }
    int same = in_len == want_len && (want_len == 0 || memcmp(in, want, want_len) == 0);
    free(in);
    if (!same) {
        tsl_list_free(back);
        tt_failf(__FILE__, __LINE__, "level %d: zlib inflates to other bytes", level);
        return;
    }
    TT_OK(s);
    size_t got_len;
    const uint8_t *got = tsl_list_bytes(back, &got_len);
    same = got_len == want_len && (want_len == 0 || memcmp(got, want, want_len) == 0);
    tsl_list_free(back);
    TT_CHECK(same);
}

/* ---------------------------------------------------------------------------------- */
/* Section 4.1: the two small lists                                                    */

static void check_small(const char *file)
{
    json_t *v = load_vector(file);
    TT_CHECK(v != NULL);
    uint64_t bits = 0, n = 0;
    json_t *st = json_object_get(v, "statuses");
    json_t *jl = json_object_get(v, "json");
    json_t *oob = json_object_get(v, "out_of_bounds_indices");
    const char *raw_hex = json_string_value(json_object_get(v, "uncompressed_hex"));
    const char *z_hex = json_string_value(json_object_get(v, "compressed_zlib_hex"));
    const char *cbor_hex = json_string_value(json_object_get(v, "cbor_hex"));
    int ok = get_u64(v, "bits", &bits) && get_u64(v, "num_entries", &n) &&
             json_is_array(st) && json_array_size(st) == n && json_is_object(jl) &&
             json_is_array(oob) && json_array_size(oob) > 0 && raw_hex && z_hex && cbor_hex;
    if (!ok)
        json_decref(v);
    TT_CHECK(ok);

    size_t raw_len = 0, z_len = 0, cbor_len = 0;
    uint8_t *raw = tt_unhex(raw_hex, &raw_len);
    uint8_t *z = tt_unhex(z_hex, &z_len);
    uint8_t *cbor = tt_unhex(cbor_hex, &cbor_len);
    char *js = json_dumps(jl, JSON_COMPACT);
    tsl_list *from_j = NULL, *from_c = NULL, *from_z = NULL, *built = NULL;
    tsl_error err;
    tsl_error_clear(&err);

    /* Everything below fails into `out` so that the buffers are always freed. */
    do {
        if (!raw || !z || !cbor || !js) {
            tt_failf(__FILE__, __LINE__, "%s: bad hex or JSON in the vector", file);
            break;
        }
        tsl_status s = tsl_list_from_json(js, strlen(js), NULL, &from_j, &err);
        if (s != TSL_OK) {
            tt_failf(__FILE__, __LINE__, "from_json(%s) -> %s: %s", js, tsl_strerror(s),
                     err.msg);
            break;
        }
        s = tsl_list_from_cbor(cbor, cbor_len, NULL, &from_c, &err);
        if (s != TSL_OK) {
            tt_failf(__FILE__, __LINE__, "from_cbor -> %s: %s", tsl_strerror(s), err.msg);
            break;
        }
        s = tsl_list_decompress((unsigned)bits, z, z_len, NULL, &from_z, &err);
        if (s != TSL_OK) {
            tt_failf(__FILE__, __LINE__, "decompress -> %s: %s", tsl_strerror(s), err.msg);
            break;
        }
        const tsl_list *all[3] = {from_j, from_c, from_z};
        const char *what[3] = {"JSON", "CBOR", "zlib"};
        for (int k = 0; k < 3 && !tt_failed; k++) {
            size_t len;
            const uint8_t *b = tsl_list_bytes(all[k], &len);
            if (tsl_list_bits(all[k]) != bits || tsl_list_size(all[k]) != n ||
                len != raw_len || memcmp(b, raw, raw_len) != 0) {
                tt_failf(__FILE__, __LINE__, "%s: %s list: bits %u size %" PRIu64
                         " bytes %zu, expected %" PRIu64 "/%" PRIu64 "/%zu", file, what[k],
                         tsl_list_bits(all[k]), tsl_list_size(all[k]), len, bits, n, raw_len);
                break;
            }
            for (uint64_t i = 0; i < n; i++) {
                unsigned got = 99;
                uint64_t want = (uint64_t)json_integer_value(json_array_get(st, i));
                if (tsl_list_get(all[k], i, &got, NULL) != TSL_OK || got != want) {
                    tt_failf(__FILE__, __LINE__, "%s: %s list: entry %" PRIu64 " = %u, "
                             "expected %" PRIu64, file, what[k], i, got, want);
                    break;
                }
            }
            for (size_t j = 0; j < json_array_size(oob) && !tt_failed; j++) {
                uint64_t idx = (uint64_t)json_integer_value(json_array_get(oob, j));
                unsigned got = 0;
                tsl_status gs = tsl_list_get(all[k], idx, &got, NULL);
                if (gs != TSL_ERR_INDEX)
                    tt_failf(__FILE__, __LINE__, "%s: %s list: get(%" PRIu64 ") -> %s, "
                             "expected %s", file, what[k], idx, tsl_strerror(gs),
                             tsl_strerror(TSL_ERR_INDEX));
            }
        }
        if (tt_failed)
            break;

        /* Build the list from the statuses with the library's setters. */
        s = tsl_list_new((unsigned)bits, n, &built, &err);
        if (s != TSL_OK) {
            tt_failf(__FILE__, __LINE__, "tsl_list_new -> %s", tsl_strerror(s));
            break;
        }
        for (uint64_t i = 0; i < n && s == TSL_OK; i++)
            s = tsl_list_set(built, i, (unsigned)json_integer_value(json_array_get(st, i)), NULL);
        size_t len;
        const uint8_t *b = tsl_list_bytes(built, &len);
        if (s != TSL_OK || len != raw_len || memcmp(b, raw, raw_len) != 0) {
            tt_failf(__FILE__, __LINE__, "%s: list built from statuses differs", file);
            break;
        }
        check_compress_roundtrip(built, 0);
        if (!tt_failed)
            check_compress_roundtrip(built, 1);
        if (!tt_failed)
            check_encode_roundtrip(built, 0);
    } while (0);

    tsl_list_free(from_j);
    tsl_list_free(from_c);
    tsl_list_free(from_z);
    tsl_list_free(built);
    free(raw);
    free(z);
    free(cbor);
    free(js);
    json_decref(v);
}

TT_TEST(test_vec_sec41_bits1)
{
    check_small("sec4_1_bits1_16entries.json");
}

TT_TEST(test_vec_sec41_bits2)
{
    check_small("sec4_1_bits2_12entries.json");
}

/* ---------------------------------------------------------------------------------- */
/* Appendix C: four lists of 2^20 entries                                               */

typedef struct {
    json_t *v;
    uint64_t bits, n, raw_len, first_oob, nonzero;
    const char *sha;
    json_t *jl, *probes, *set;
    const char *cbor_hex;
} appc;

static int appc_load(const char *file, appc *a)
{
    memset(a, 0, sizeof *a);
    a->v = load_vector(file);
    if (a->v == NULL)
        return 0;
    a->jl = json_object_get(a->v, "json");
    a->probes = json_object_get(a->v, "probe_lookups_derived");
    a->set = json_object_get(a->v, "set_entries");
    a->sha = json_string_value(json_object_get(a->v, "uncompressed_sha256_hex"));
    a->cbor_hex = json_string_value(json_object_get(a->v, "cbor_hex"));
    return get_u64(a->v, "bits", &a->bits) && get_u64(a->v, "num_entries", &a->n) &&
           get_u64(a->v, "uncompressed_length_bytes", &a->raw_len) &&
           get_u64(a->v, "first_out_of_bounds_index", &a->first_oob) &&
           get_u64(a->v, "nonzero_entries_after_expansion", &a->nonzero) &&
           json_is_object(a->jl) && json_is_string(json_object_get(a->jl, "lst")) &&
           json_is_array(a->probes) && json_array_size(a->probes) > 0 &&
           json_is_array(a->set) && json_array_size(a->set) > 0 && a->sha && a->cbor_hex;
}

/* Decodes json.lst and checks digest, length, probes and bounds. */
static void appc_decode(const appc *a, tsl_list **out)
{
    char *js = json_dumps(a->jl, JSON_COMPACT);
    TT_CHECK(js != NULL);
    tsl_error err;
    tsl_error_clear(&err);
    tsl_list *l = NULL;
    tsl_status s = tsl_list_from_json(js, strlen(js), NULL, &l, &err);
    free(js);
    if (s != TSL_OK) {
        tt_failf(__FILE__, __LINE__, "from_json -> %s: %s", tsl_strerror(s), err.msg);
        return;
    }
    *out = l;
    size_t len;
    const uint8_t *b = tsl_list_bytes(l, &len);
    char hex[65];
    sha256_hex(b, len, hex);
    TT_EQ_U(tsl_list_bits(l), a->bits);
    TT_EQ_U(len, a->raw_len);
    TT_EQ_U(tsl_list_size(l), a->n);
    TT_EQ_STR(hex, a->sha);
    for (size_t i = 0; i < json_array_size(a->probes); i++) {
        json_t *p = json_array_get(a->probes, i);
        uint64_t idx = (uint64_t)json_integer_value(json_array_get(p, 0));
        uint64_t want = (uint64_t)json_integer_value(json_array_get(p, 1));
        unsigned got = 999;
        TT_OK(tsl_list_get(l, idx, &got, NULL));
        if (got != want) {
            tt_failf(__FILE__, __LINE__, "probe %" PRIu64 ": %u, expected %" PRIu64, idx, got,
                     want);
            return;
        }
    }
    unsigned dummy;
    TT_ERR(tsl_list_get(l, a->first_oob, &dummy, NULL), TSL_ERR_INDEX);
    TT_ERR(tsl_list_get(l, a->first_oob + 1, &dummy, NULL), TSL_ERR_INDEX);
    TT_ERR(tsl_list_get(l, UINT64_MAX, &dummy, NULL), TSL_ERR_INDEX);
    TT_OK(tsl_list_get(l, a->first_oob - 1, &dummy, NULL)); /* the last entry is in bounds */
}

static void check_appc(const char *file)
{
    appc a;
    int ok = appc_load(file, &a);
    if (!ok)
        json_decref(a.v);
    TT_CHECK(ok);
    tsl_list *dec = NULL, *exp1 = NULL, *exp2 = NULL, *fromc = NULL;
    tsl_entry *batch = NULL;
    uint8_t *cbor = NULL;
    tsl_error err;
    tsl_error_clear(&err);

    do {
        SUBCASE("json.lst", appc_decode(&a, &dec));
        if (tt_failed)
            break;
        size_t want_len;
        const uint8_t *want = tsl_list_bytes(dec, &want_len);

        /* The CBOR form decodes to the same bytes. */
        size_t cbor_len = 0;
        cbor = tt_unhex(a.cbor_hex, &cbor_len);
        TT_CHECK(cbor != NULL);
        tsl_status s = tsl_list_from_cbor(cbor, cbor_len, NULL, &fromc, &err);
        if (s != TSL_OK) {
            tt_failf(__FILE__, __LINE__, "from_cbor -> %s: %s", tsl_strerror(s), err.msg);
            break;
        }
        size_t got_len;
        const uint8_t *got = tsl_list_bytes(fromc, &got_len);
        if (got_len != want_len || memcmp(got, want, want_len) != 0) {
            tt_failf(__FILE__, __LINE__, "cbor_hex decodes to other bytes than json.lst");
            break;
        }

        /* Expansion rule: num_entries zeros, apply the pairs in order, pack LSB-first.
         * Once with tsl_list_set, once as one tsl_list_apply batch. */
        size_t np = json_array_size(a.set);
        batch = calloc(np, sizeof *batch);
        TT_CHECK(batch != NULL);
        TT_OK(tsl_list_new((unsigned)a.bits, a.n, &exp1, &err));
        TT_OK(tsl_list_new((unsigned)a.bits, a.n, &exp2, &err));
        for (size_t i = 0; i < np; i++) {
            json_t *p = json_array_get(a.set, i);
            batch[i].index = (uint64_t)json_integer_value(json_array_get(p, 0));
            batch[i].value = (uint32_t)json_integer_value(json_array_get(p, 1));
            s = tsl_list_set(exp1, batch[i].index, batch[i].value, NULL);
            if (s != TSL_OK) {
                tt_failf(__FILE__, __LINE__, "set(%" PRIu64 ", %u) -> %s", batch[i].index,
                         (unsigned)batch[i].value, tsl_strerror(s));
                break;
            }
        }
        if (tt_failed)
            break;
        TT_OK(tsl_list_apply(exp2, batch, np, &err));
        got = tsl_list_bytes(exp1, &got_len);
        TT_EQ_U(got_len, want_len);
        TT_EQ_MEM(got, want, want_len);
        got = tsl_list_bytes(exp2, &got_len);
        TT_EQ_U(got_len, want_len);
        TT_EQ_MEM(got, want, want_len);

        uint64_t counts[256];
        tsl_list_count(exp1, counts);
        uint64_t nz = 0;
        for (unsigned k = 1; k < 256; k++)
            nz += counts[k];
        TT_EQ_U(nz, a.nonzero);
        TT_EQ_U(counts[0], a.n - a.nonzero);

        /* Compress, inflate, compare; then the JSON and CBOR encoders. */
        SUBCASE("compress default", check_compress_roundtrip(exp1, 0));
        SUBCASE("compress level 1", check_compress_roundtrip(exp1, 1));
        SUBCASE("compress fast", check_compress_roundtrip(exp1, TSL_LEVEL_FAST));
        SUBCASE("json/cbor encode", check_encode_roundtrip(exp1, 0));
    } while (0);

    tsl_list_free(dec);
    tsl_list_free(exp1);
    tsl_list_free(exp2);
    tsl_list_free(fromc);
    free(batch);
    free(cbor);
    json_decref(a.v);
}

TT_TEST(test_vec_appC1_bits1)
{
    check_appc("appC1_bits1_2pow20.json");
}

TT_TEST(test_vec_appC2_bits2)
{
    check_appc("appC2_bits2_2pow20.json");
}

TT_TEST(test_vec_appC3_bits4)
{
    check_appc("appC3_bits4_2pow20.json");
}

TT_TEST(test_vec_appC4_bits8)
{
    check_appc("appC4_bits8_2pow20.json");
}

/* ---------------------------------------------------------------------------------- */
/* derived_negative_and_edge_cases.json: status_list_object_cases and index_cases       */

/* What each rejected case must give. The file states the expectation ("reject") and its
 * basis in prose; this table turns the basis into an error class and the words a good
 * message uses for it (any one suffices, case-insensitive). A case in the file that is
 * missing here fails the test, so new vectors cannot slip through unchecked.
 * bits outside {1,2,4,8} as an integer: the header leaves the class open between
 * "not well formed" and "well formed but not accepted", so either is taken. */
typedef struct {
    const char *name;
    tsl_status code, alt; /* alt = TSL_OK when only code is right */
    const char *ideas[4];
    int json_only; /* a base64url text issue with no CBOR counterpart */
} neg_expect;

static const neg_expect neg_table[] = {
    {"bits-3", TSL_ERR_MALFORMED, TSL_ERR_UNSUPPORTED, {"bits"}, 0},
    {"bits-0", TSL_ERR_MALFORMED, TSL_ERR_UNSUPPORTED, {"bits"}, 0},
    {"bits-16", TSL_ERR_MALFORMED, TSL_ERR_UNSUPPORTED, {"bits"}, 0},
    {"bits-as-string", TSL_ERR_MALFORMED, TSL_OK, {"bits"}, 0},
    {"missing-lst", TSL_ERR_MALFORMED, TSL_OK, {"lst"}, 0},
    {"missing-bits", TSL_ERR_MALFORMED, TSL_OK, {"bits"}, 0},
    {"lst-with-padding", TSL_ERR_MALFORMED, TSL_OK, {"padding", "'='", "\"=\"", " = "}, 1},
    {"lst-standard-base64-alphabet", TSL_ERR_MALFORMED, TSL_OK,
     {"alphabet", "base64url", "'/'", "character"}, 1},
    {"lst-raw-deflate-no-zlib-header", TSL_ERR_MALFORMED, TSL_OK,
     {"zlib", "header", "raw"}, 0},
    {"lst-gzip-wrapper", TSL_ERR_MALFORMED, TSL_OK, {"gzip"}, 0},
    {"lst-bad-adler32", TSL_ERR_MALFORMED, TSL_OK, {"adler", "checksum"}, 0},
};

static const neg_expect *neg_lookup(const char *name)
{
    for (size_t i = 0; i < sizeof neg_table / sizeof neg_table[0]; i++)
        if (strcmp(neg_table[i].name, name) == 0)
            return &neg_table[i];
    return NULL;
}

static void check_rejection(const neg_expect *e, const char *form, tsl_status s,
                            const tsl_error *err)
{
    if (s != e->code && (e->alt == TSL_OK || s != e->alt)) {
        tt_failf(__FILE__, __LINE__, "%s: %s -> %s, expected %s%s%s", e->name, form,
                 tsl_strerror(s), tsl_strerror(e->code), e->alt ? " or " : "",
                 e->alt ? tsl_strerror(e->alt) : "");
        return;
    }
    TT_EQ_U(err->code, s);
    for (int k = 0; k < 4 && e->ideas[k]; k++)
        if (ci_contains(err->msg, e->ideas[k]))
            return;
    tt_failf(__FILE__, __LINE__, "%s: %s message \"%s\" does not mention \"%s\"%s", e->name,
             form, err->msg, e->ideas[0], e->ideas[1] ? " (or a synonym)" : "");
}

/* A case the file expects to decode: it must, and decompressed_hex (when given) must be
 * its bytes; "decodes to 0 bytes" means an empty list where every index is rejected. */
static void check_accept(const char *name, const char *form, tsl_status s,
                         const tsl_error *err, const tsl_list *l, const json_t *c,
                         int expect_empty)
{
    if (s != TSL_OK) {
        tt_failf(__FILE__, __LINE__, "%s: %s -> %s: %s, expected success", name, form,
                 tsl_strerror(s), err->msg);
        return;
    }
    size_t len;
    const uint8_t *b = tsl_list_bytes(l, &len);
    const char *hex = json_string_value(json_object_get(c, "decompressed_hex"));
    if (hex != NULL) {
        size_t want_len = 0;
        uint8_t *want = tt_unhex(hex, &want_len);
        int same = want != NULL && len == want_len && memcmp(b, want, want_len) == 0;
        free(want);
        if (!same) {
            tt_failf(__FILE__, __LINE__, "%s: %s bytes differ from decompressed_hex", name,
                     form);
            return;
        }
    }
    if (expect_empty) {
        unsigned v;
        TT_EQ_U(len, 0);
        TT_EQ_U(tsl_list_size(l), 0);
        TT_ERR(tsl_list_get(l, 0, &v, NULL), TSL_ERR_INDEX);
        TT_ERR(tsl_list_get(l, 1, &v, NULL), TSL_ERR_INDEX);
    }
}

static void run_object_case(const json_t *c)
{
    const char *name = json_string_value(json_object_get(c, "name"));
    const char *expect = json_string_value(json_object_get(c, "expect"));
    json_t *obj = json_object_get(c, "json");
    if (name == NULL || expect == NULL || !json_is_object(obj)) {
        tt_failf(__FILE__, __LINE__, "a status_list_object_case lacks name/expect/json");
        return;
    }
    int accept = strncmp(expect, "ok", 2) == 0;
    int expect_empty = strstr(expect, "decodes to 0 bytes") != NULL;
    int reject = strncmp(expect, "reject", 6) == 0;
    const neg_expect *e = neg_lookup(name);
    if (!accept && !expect_empty && !reject) {
        tt_failf(__FILE__, __LINE__, "%s: unknown expectation \"%s\"", name, expect);
        return;
    }
    if (reject && e == NULL) {
        tt_failf(__FILE__, __LINE__, "%s: rejected case with no entry in neg_table", name);
        return;
    }

    char *js = json_dumps(obj, JSON_COMPACT);
    TT_CHECK(js != NULL);
    tsl_list *l = NULL;
    tsl_error err;
    tsl_error_clear(&err);
    tsl_status s = tsl_list_from_json(js, strlen(js), NULL, &l, &err);
    free(js);
    if (reject) {
        tsl_list_free(l);
        if (s == TSL_OK)
            tt_failf(__FILE__, __LINE__, "%s: JSON accepted, expected a rejection", name);
        else
            check_rejection(e, "JSON", s, &err);
    } else {
        check_accept(name, "JSON", s, &err, l, c, expect_empty);
        tsl_list_free(l);
    }
    if (tt_failed)
        return;

    /* The same case as a CBOR map, where it has a CBOR counterpart. */
    cbuf cb;
    if ((e == NULL || !e->json_only) && json_to_cbor(obj, 0, &cb)) {
        l = NULL;
        tsl_error_clear(&err);
        s = tsl_list_from_cbor(cb.b, cb.n, NULL, &l, &err);
        if (reject) {
            tsl_list_free(l);
            if (s == TSL_OK)
                tt_failf(__FILE__, __LINE__, "%s: CBOR accepted, expected a rejection", name);
            else
                check_rejection(e, "CBOR", s, &err);
        } else {
            check_accept(name, "CBOR", s, &err, l, c, expect_empty);
            tsl_list_free(l);
        }
        if (tt_failed)
            return;
    } else if (e == NULL || !e->json_only) {
        tt_failf(__FILE__, __LINE__, "%s: cannot build the CBOR variant", name);
        return;
    }

    /* Every accepted case with lst as a CBOR text string (its base64url) is rejected:
     * in CBOR, lst is a byte string (section 4.3). */
    if (!reject && json_to_cbor(obj, 1, &cb)) {
        static const neg_expect lst_text = {"lst-as-text", TSL_ERR_MALFORMED, TSL_OK,
                                            {"lst"}, 0};
        l = NULL;
        tsl_error_clear(&err);
        s = tsl_list_from_cbor(cb.b, cb.n, NULL, &l, &err);
        tsl_list_free(l);
        if (s == TSL_OK)
            tt_failf(__FILE__, __LINE__, "%s: CBOR with lst as text accepted", name);
        else
            check_rejection(&lst_text, "CBOR lst-as-text", s, &err);
    }
}

TT_TEST(test_vec_derived_status_list_objects)
{
    json_t *v = load_vector("derived_negative_and_edge_cases.json");
    TT_CHECK(v != NULL);
    json_t *cases = json_object_get(v, "status_list_object_cases");
    size_t n = json_array_size(cases), nreject = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *c = json_array_get(cases, i);
        const char *name = json_string_value(json_object_get(c, "name"));
        const char *expect = json_string_value(json_object_get(c, "expect"));
        if (expect && strncmp(expect, "reject", 6) == 0)
            nreject++;
        SUBCASE(name ? name : "?", run_object_case(c));
    }
    json_decref(v);
    /* The file is the source of truth, but an empty or truncated one must not pass. */
    TT_CHECK(n > 0);
    TT_CHECK(nreject > 0);
}

static void run_index_case(const json_t *c)
{
    const json_t *obj = json_object_get(c, "list");
    json_t *jidx = json_object_get(c, "idx");
    json_t *jwant = json_object_get(c, "expect_status");
    const char *expect = json_string_value(json_object_get(c, "expect"));
    TT_CHECK(json_is_object(obj) && json_is_integer(jidx));
    TT_CHECK(json_is_integer(jwant) || expect != NULL);
    char *js = json_dumps(obj, JSON_COMPACT);
    TT_CHECK(js != NULL);
    tsl_list *l = NULL;
    tsl_error err;
    tsl_error_clear(&err);
    tsl_status s = tsl_list_from_json(js, strlen(js), NULL, &l, &err);
    free(js);
    TT_OK(s);
    /* The list API takes a uint64_t, so a negative idx (invalid in a Referenced Token,
     * section 6.2; rejecting the claim itself belongs to the token issue) reaches it as
     * its two's-complement wrap, which must be out of range rather than wrap around. */
    uint64_t idx = (uint64_t)json_integer_value(jidx);
    unsigned got = 999;
    s = tsl_list_get(l, idx, &got, NULL);
    tsl_list_free(l);
    if (json_is_integer(jwant)) {
        TT_OK(s);
        TT_EQ_U(got, json_integer_value(jwant));
    } else {
        TT_ERR(s, TSL_ERR_INDEX);
    }
}

TT_TEST(test_vec_derived_index_cases)
{
    json_t *v = load_vector("derived_negative_and_edge_cases.json");
    TT_CHECK(v != NULL);
    json_t *cases = json_object_get(v, "index_cases");
    size_t n = json_array_size(cases);
    for (size_t i = 0; i < n; i++) {
        char label[64];
        snprintf(label, sizeof label, "index_cases[%zu]", i);
        SUBCASE(label, run_index_case(json_array_get(cases, i)));
    }
    json_decref(v);
    TT_CHECK(n > 0);
}
