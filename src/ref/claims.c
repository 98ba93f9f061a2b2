/* claims.c - what the Referenced Token forms (ref.c, sdjwt.c, mdoc.c) share: a JWS
 * check against the caller's keys and a COSE_Sign1 check against keys or an x5chain
 * (both through the envelope layer, src/envelope, with the Referenced Token's options),
 * the time claims, and the status.status_list {idx, uri} reference in JSON and CBOR.
 * Kept apart from ref.c so that the forms call down into it, never across. */
#include "codec/cbor_int.h"
#include "envelope/envelope_int.h"
#include "ref/ref_int.h"

#include <jansson.h>
#include <math.h>
#include <string.h>
#include <time.h>

/* ---------------------------------------------------------------------------------- */
/* JWS (JWT and the issuer-signed part of an SD-JWT, and a key-binding JWT)             */

/* Checks a JWS compact serialization through the envelope layer: three parts, a JSON
 * header with a supported alg (never "none") in the allow-list and no crit, and the
 * signature with `key` when given, else an x5c chain (with o->policy.trust) or the keys of
 * o->policy.keys matching the kid. On TSL_OK *hdr and *payload are new jansson objects
 * (json_decref). typ is the caller's business. */
tsl_status tslp_ref_jws(const char *in, size_t len, const tsl_limits *lim,
                        const tsl_ref_opts *o, int64_t now, const tsl_key *key,
                        const char *what, void **hdr, void **payload, tsl_error *err)
{
    tslp_jws j;
    uint32_t algs = o->policy.algs != 0 ? o->policy.algs : TSL_ALGS_SIGNATURE;
    tsl_status st = tslp_jws_open(&j, in, len, lim, what, err);
    if (st == TSL_OK)
        st = tslp_jws_header(&j, algs, what, err);
    if (st == TSL_OK)
        st = tslp_jws_payload(&j, lim, what, err);
    if (st == TSL_OK)
        st = tslp_jws_signature(&j, what, err);
    if (st == TSL_OK)
        st = tslp_jws_verify(&j, key, o->policy.trust, o->policy.keys, now, what, err);
    if (st == TSL_OK) {
        *hdr = j.hdr;
        *payload = j.payload;
        j.hdr = j.payload = NULL;
    }
    tslp_jws_close(&j);
    return st;
}

/* An optional NumericDate claim: 0 when absent (or null), 1 and *v when present. */
static int json_time(const json_t *c, const char *name, const char *what, int64_t *v,
                     tsl_status *st, tsl_error *err)
{
    const json_t *t = json_object_get(c, name);
    if (t == NULL || json_is_null(t))
        return 0;
    double d = json_is_integer(t) ? (double)json_integer_value(t)
               : json_is_real(t)  ? json_real_value(t)
                                  : -1;
    if (!json_is_number(t) || !(d >= 0 && d < 9.2e18)) {
        *st = tslp_fail(err, TSL_ERR_CLAIM, 0, "%s: %s: not a non-negative NumericDate",
                        what, name);
        return 0;
    }
    *v = json_is_integer(t) ? (int64_t)json_integer_value(t) : (int64_t)floor(d);
    return 1;
}

/* The time checks every form shares: exp passed, nbf or iat ahead, with skew. */
tsl_status tslp_ref_check_times(bool has_exp, int64_t exp, bool has_nbf, int64_t nbf,
                                bool has_iat, int64_t iat, int64_t now, int64_t skew,
                                const char *what, tsl_error *err)
{
    if (skew < 0)
        skew = 0;
    if (has_exp && now - skew >= exp)
        return tslp_fail(err, TSL_ERR_EXPIRED, 0, "%s: exp: expired at %lld (now %lld)", what,
                         (long long)exp, (long long)now);
    if (has_nbf && nbf - skew > now)
        return tslp_fail(err, TSL_ERR_EXPIRED, 0,
                         "%s: nbf: not valid before %lld (now %lld, skew %lld s)", what,
                         (long long)nbf, (long long)now, (long long)skew);
    if (has_iat && iat - skew > now)
        return tslp_fail(err, TSL_ERR_EXPIRED, 0,
                         "%s: iat: issued at %lld, in the future (now %lld, skew %lld s)",
                         what, (long long)iat, (long long)now, (long long)skew);
    return TSL_OK;
}

/* exp, nbf and iat of a JWT payload against now, with skew. */
tsl_status tslp_ref_jwt_times(const void *payload, int64_t now, int64_t skew,
                              const char *what, tsl_error *err)
{
    const json_t *c = payload;
    tsl_status st = TSL_OK;
    int64_t exp = 0, nbf = 0, iat = 0;
    int he = json_time(c, "exp", what, &exp, &st, err);
    int hn = st == TSL_OK ? json_time(c, "nbf", what, &nbf, &st, err) : 0;
    int hi = st == TSL_OK ? json_time(c, "iat", what, &iat, &st, err) : 0;
    if (st != TSL_OK)
        return st;
    return tslp_ref_check_times(he, exp, hn, nbf, hi, iat, now, skew, what, err);
}

/* Copies a uri after the checks: present, text, 1..TSL_MAX_URI bytes, no NUL. */
static tsl_status copy_uri(const char *p, size_t n, const char *what, char **uri,
                           tsl_error *err)
{
    if (n == 0 || n > TSL_MAX_URI || memchr(p, '\0', n) != NULL)
        return tslp_fail(err, TSL_ERR_CLAIM, 0,
                         "%s.uri: not a URI of 1 to %d bytes without NUL", what, TSL_MAX_URI);
    if ((*uri = tslp_strndup(p, n)) == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "%s: out of memory", what);
    return TSL_OK;
}

/* The JSON "status": {"status_list": {"idx": N, "uri": "..."}} of a JWT payload. */
tsl_status tslp_ref_status_json(const void *payload, char **uri, uint64_t *idx,
                                tsl_error *err)
{
    const json_t *s = json_object_get(payload, "status");
    if (s == NULL)
        return tslp_fail(err, TSL_ERR_CLAIM, 0,
                         "status: missing (a Referenced Token needs status.status_list)");
    if (!json_is_object(s))
        return tslp_fail(err, TSL_ERR_CLAIM, 0, "status: not a JSON object");
    const json_t *sl = json_object_get(s, "status_list");
    if (sl == NULL)
        return tslp_fail(err, TSL_ERR_CLAIM, 0, "status.status_list: missing");
    if (!json_is_object(sl))
        return tslp_fail(err, TSL_ERR_CLAIM, 0, "status.status_list: not a JSON object");
    const json_t *i = json_object_get(sl, "idx");
    if (i == NULL)
        return tslp_fail(err, TSL_ERR_CLAIM, 0, "status.status_list.idx: missing");
    if (json_is_integer(i) && json_integer_value(i) < 0)
        return tslp_fail(err, TSL_ERR_CLAIM, 0,
                         "status.status_list.idx: %lld is not a non-negative integer",
                         (long long)json_integer_value(i));
    if (json_is_real(i)) {
        /* 0.0 or 1e3: a number written with a fraction or an exponent is not an integer,
         * whatever its value; show it as written, not as %g rounds it. */
        char text[32];
        tslp_real_text(json_real_value(i), text, sizeof text);
        return tslp_fail(err, TSL_ERR_CLAIM, 0,
                         "status.status_list.idx: %s is not an integer (written with a "
                         "fraction or an exponent)", text);
    }
    if (!json_is_integer(i))
        return tslp_fail(err, TSL_ERR_CLAIM, 0,
                         "status.status_list.idx: not a non-negative integer");
    const json_t *u = json_object_get(sl, "uri");
    if (u == NULL)
        return tslp_fail(err, TSL_ERR_CLAIM, 0, "status.status_list.uri: missing");
    if (!json_is_string(u))
        return tslp_fail(err, TSL_ERR_CLAIM, 0, "status.status_list.uri: not a string");
    tsl_status st = copy_uri(json_string_value(u), json_string_length(u),
                             "status.status_list", uri, err);
    if (st == TSL_OK)
        *idx = (uint64_t)json_integer_value(i);
    return st;
}

/* The CBOR status map {"status_list": {"idx": uint, "uri": tstr}}. */
tsl_status tslp_ref_status_cbor(const tslp_cbor_node *status, const char *what, char **uri,
                                uint64_t *idx, tsl_error *err)
{
    if (status == NULL)
        return tslp_fail(err, TSL_ERR_CLAIM, 0,
                         "%s: missing (a Referenced Token needs status_list)", what);
    if (status->type != TSLP_CBOR_MAP)
        return tslp_fail(err, TSL_ERR_CLAIM, status->offset, "%s: %s, expected map", what,
                         tslp_cbor_type_name(status->type));
    const tslp_cbor_node *sl = tslp_cbor_map_get_text(status, "status_list");
    if (sl == NULL)
        return tslp_fail(err, TSL_ERR_CLAIM, status->offset, "%s.status_list: missing", what);
    if (sl->type != TSLP_CBOR_MAP)
        return tslp_fail(err, TSL_ERR_CLAIM, sl->offset, "%s.status_list: %s, expected map",
                         what, tslp_cbor_type_name(sl->type));
    const tslp_cbor_node *i = tslp_cbor_map_get_text(sl, "idx");
    if (i == NULL)
        return tslp_fail(err, TSL_ERR_CLAIM, sl->offset, "%s.status_list.idx: missing", what);
    if (i->type == TSLP_CBOR_NEGINT)
        return tslp_fail(err, TSL_ERR_CLAIM, i->offset,
                         "%s.status_list.idx: -%llu is not a non-negative integer", what,
                         (unsigned long long)i->u + 1);
    uint64_t v;
    if (!tslp_cbor_get_uint(i, &v))
        return tslp_fail(err, TSL_ERR_CLAIM, i->offset,
                         "%s.status_list.idx: %s is not a non-negative integer", what,
                         tslp_cbor_type_name(i->type));
    const tslp_cbor_node *u = tslp_cbor_map_get_text(sl, "uri");
    if (u == NULL)
        return tslp_fail(err, TSL_ERR_CLAIM, sl->offset, "%s.status_list.uri: missing", what);
    if (u->type != TSLP_CBOR_TEXT)
        return tslp_fail(err, TSL_ERR_CLAIM, u->offset, "%s.status_list.uri: %s, expected text",
                         what, tslp_cbor_type_name(u->type));
    char w[64];
    snprintf(w, sizeof w, "%s.status_list", what);
    tsl_status st = copy_uri(u->len ? (const char *)u->str : "", u->len, w, uri, err);
    if (st == TSL_OK)
        *idx = v;
    return st;
}

/* ---------------------------------------------------------------------------------- */
/* COSE_Sign1 (CWT and mdoc IssuerAuth)                                                 */

/* Checks a COSE_Sign1 array through the envelope layer: alg in the protected header,
 * a signature algorithm in the allow-list; no crit; typ not the Status List Token's;
 * the signature with the x5chain leaf once the chain reaches o->policy.trust, or (unless
 * x5chain_only) with the keys of o->policy.keys matching kid. *payload is the payload node
 * (a byte string in arr's document). */
tsl_status tslp_ref_cose_sign1(const tslp_cbor_node *arr, const tsl_limits *lim,
                               const tsl_ref_opts *o, int64_t now, bool x5chain_only,
                               const char *what, const tslp_cbor_node **payload,
                               tsl_error *err)
{
    tslp_cose c;
    uint32_t algs = o->policy.algs != 0 ? o->policy.algs : TSL_ALGS_SIGNATURE;
    tsl_status st = tslp_cose_open(&c, arr, false, lim, what, err);
    const tslp_cbor_node *typ = st == TSL_OK ? tslp_cose_header(&c, 16) : NULL;
    if (typ != NULL && typ->type == TSLP_CBOR_TEXT &&
        typ->len == strlen("application/statuslist+cwt") &&
        strncasecmp((const char *)typ->str, "application/statuslist+cwt", typ->len) == 0)
        st = tslp_fail(err, TSL_ERR_TYP, typ->offset,
                       "%s: typ (16): a Status List Token, not a Referenced Token", what);
    if (st == TSL_OK)
        st = tslp_cose_alg(&c, algs, what, err);
    if (st == TSL_OK)
        st = tslp_cose_verify(&c, o->policy.trust, o->policy.keys, now, x5chain_only, what, err);
    if (st == TSL_OK)
        *payload = c.payload;
    tslp_cose_close(&c);
    return st;
}
