/* ref.c - Referenced Tokens (spec section 6): the form detected from the bytes, the
 * common struct tsl_ref and its accessors, the JWT and CWT forms, and the helpers the
 * SD-JWT (sdjwt.c) and mdoc (mdoc.c) forms share: a JWS check against the caller's
 * keys, a COSE_Sign1 check against keys or an x5chain, time claims and the
 * status.status_list {idx, uri} reference in JSON and CBOR. A token is validated by its
 * own rules before its status reference is read. */
#include "codec/cbor_int.h"
#include "ref/ref_int.h"
#include "codec/cbor_write_int.h"
#include "crypto/crypto.h"
#include "token/token_int.h"

#include <jansson.h>
#include <math.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* Bounds on what a Referenced Token may carry. */

struct tsl_ref {
    tsl_ref_kind kind;
    char *uri;
    uint64_t idx;
};

/* ---------------------------------------------------------------------------------- */
/* JWS (JWT and the issuer-signed part of an SD-JWT, and a key-binding JWT)             */

/* Decodes one base64url part into a JSON object. */
static tsl_status part_json(const char *what, const char *part, const char *p, size_t n,
                            size_t offset, const tsl_limits *lim, json_t **out,
                            tsl_error *err)
{
    uint8_t *raw = NULL;
    size_t rl = 0;
    char pre[64];
    snprintf(pre, sizeof pre, "%s %s", what, part);
    tsl_status st = tsl_b64url_decode(p, n, &raw, &rl, err);
    if (st != TSL_OK) {
        if (err != NULL)
            err->offset += offset;
        tslp_error_prefix(err, pre);
        return st;
    }
    void *pv = NULL;
    st = tslp_json_load((const char *)raw, rl, lim, &pv, pre, err);
    tslp_free(raw);
    if (st != TSL_OK)
        return st;
    if (!json_is_object((json_t *)pv)) {
        json_decref(pv);
        return tslp_fail(err, TSL_ERR_MALFORMED, offset, "%s: not a JSON object", pre);
    }
    *out = pv;
    return TSL_OK;
}

/* Verifies with the leaf of an x5c chain (standard base64 DER, leaf first). */
static tsl_status jws_x5c(const json_t *x5c, size_t max, const tsl_ref_opts *o, int64_t now,
                          tsl_alg alg,
                          const uint8_t *tbs, size_t tbs_len, const uint8_t *sig,
                          size_t sig_len, const char *what, tsl_error *err)
{
    size_t n = json_array_size(x5c);
    if (!json_is_array(x5c) || n == 0)
        return tslp_fail(err, TSL_ERR_MALFORMED, 0, "%s: x5c: not a non-empty array", what);
    if (n > max)
        return tslp_fail(err, TSL_ERR_LIMIT, 0, "%s: x5c: more than %zu certificates", what,
                         max);
    uint8_t *der[TSL_MAX_X5C_CEILING] = {0};
    size_t der_len[TSL_MAX_X5C_CEILING] = {0};
    tsl_status st = TSL_OK;
    for (size_t k = 0; k < n && st == TSL_OK; k++) {
        const json_t *c = json_array_get(x5c, k);
        if (!json_is_string(c))
            st = tslp_fail(err, TSL_ERR_MALFORMED, 0, "%s: x5c[%zu]: not a string", what, k);
        else
            st = tslp_b64std_decode(json_string_value(c), json_string_length(c), &der[k],
                                    &der_len[k], err);
    }
    tsl_key *leaf = NULL;
    if (st == TSL_OK)
        st = tslp_chain_verify(o->policy.trust, (const uint8_t *const *)der, der_len, n,
                               now, NULL, &leaf, err);
    if (st == TSL_OK)
        st = tsl_key_check_alg(leaf, alg, err);
    if (st == TSL_OK)
        st = tslp_verify(leaf, alg, tbs, tbs_len, sig, sig_len, err);
    tsl_key_free(leaf);
    for (size_t k = 0; k < n; k++)
        tslp_free(der[k]);
    return st;
}

/* Tries the keys of the set that fit kid and alg. */
static tsl_status verify_with_keys(const tsl_keyset *ks, const char *kid, size_t kid_len,
                                   tsl_alg alg, const uint8_t *tbs, size_t tbs_len,
                                   const uint8_t *sig, size_t sig_len, const char *what,
                                   tsl_error *err)
{
    if (ks == NULL || tsl_keyset_count(ks) == 0)
        return tslp_fail(err, TSL_ERR_KEY, 0, "%s: no key to verify with", what);
    if (kid != NULL && strlen(kid) != kid_len)
        return tslp_fail(err, TSL_ERR_KEY, 0, "%s: kid contains a NUL byte, matches no key",
                         what);
    size_t cursor = 0, tried = 0;
    const tsl_key *k;
    while ((k = tslp_keyset_next(ks, kid, alg, &cursor)) != NULL) {
        tried++;
        tsl_error e;
        tsl_error_clear(&e);
        tsl_status st = tslp_verify(k, alg, tbs, tbs_len, sig, sig_len, &e);
        if (st == TSL_OK)
            return TSL_OK;
        if (st != TSL_ERR_SIGNATURE)
            return tslp_fail(err, st, 0, "%s: %s", what, e.msg);
    }
    if (tried == 0)
        return tslp_fail(err, TSL_ERR_KEY, 0, "%s: no trusted %s key%s%.64s%s", what,
                         tsl_alg_name(alg), kid ? " with kid \"" : "", kid ? kid : "",
                         kid ? "\"" : "");
    return tslp_fail(err, TSL_ERR_SIGNATURE, 0,
                     "%s: %s signature does not verify with %zu trusted key(s)", what,
                     tsl_alg_name(alg), tried);
}

/* Checks a JWS compact serialization: three parts, a JSON header with a supported alg
 * (never "none") in the allow-list and no crit, and the signature with `key` when
 * given, else an x5c chain (with o->policy.trust) or the keys of o->policy.keys
 * matching the kid. On TSL_OK *hdr and *payload are new jansson objects
 * (json_decref). typ is the caller's business. */
tsl_status tslp_ref_jws(const char *in, size_t len, const tsl_limits *lim,
                        const tsl_ref_opts *o, int64_t now, const tsl_key *key,
                        const char *what, void **hdr, void **payload, tsl_error *err)
{
    const char *d1 = memchr(in, '.', len);
    const char *d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - in)) : NULL;
    if (d1 == NULL || d2 == NULL)
        return tslp_fail(err, TSL_ERR_MALFORMED, 0,
                         "%s: expected three base64url parts separated by '.'", what);
    if (memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - in)) != NULL)
        return tslp_fail(err, TSL_ERR_MALFORMED, 0,
                         "%s: more than three parts (an encrypted JWE is not supported)",
                         what);
    size_t hl = (size_t)(d1 - in), pl = (size_t)(d2 - d1 - 1);
    size_t sl = len - (size_t)(d2 + 1 - in);
    json_t *h = NULL, *c = NULL;
    uint8_t *sig = NULL;
    size_t sig_len = 0;
    tsl_alg alg = TSL_ALG_UNKNOWN;
    tsl_status st = part_json(what, "header", in, hl, 0, lim, &h, err);
    if (st == TSL_OK) {
        const json_t *a = json_object_get(h, "alg");
        const char *as = json_string_value(a);
        uint32_t algs = o->policy.algs != 0 ? o->policy.algs : TSL_ALGS_SIGNATURE;
        if (as == NULL)
            st = tslp_fail(err, TSL_ERR_ALG, 0, "%s: alg: %s", what,
                           a ? "not a string" : "missing");
        else if (strcmp(as, "none") == 0)
            st = tslp_fail(err, TSL_ERR_ALG, 0, "%s: alg: \"none\" is never accepted", what);
        else if ((alg = tsl_alg_from_name(as)) == TSL_ALG_UNKNOWN)
            st = tslp_fail(err, TSL_ERR_ALG, 0, "%s: alg: \"%.40s\" is not supported", what,
                           as);
        else if ((algs & TSL_ALG_BIT(alg)) == 0)
            st = tslp_fail(err, TSL_ERR_ALG, 0, "%s: alg: %s is not in the allow-list", what,
                           as);
        else if (json_object_get(h, "crit") != NULL)
            st = tslp_fail(err, TSL_ERR_UNSUPPORTED, 0,
                           "%s: crit: critical header parameters are not understood", what);
    }
    const json_t *kid = h ? json_object_get(h, "kid") : NULL;
    if (st == TSL_OK && kid != NULL && !json_is_null(kid) &&
        (!json_is_string(kid) || json_string_length(kid) > TSLP_MAX_KID))
        st = tslp_fail(err, TSL_ERR_MALFORMED, 0, "%s: kid: not a string of at most %d bytes",
                       what, TSLP_MAX_KID);
    if (st == TSL_OK)
        st = part_json(what, "payload", d1 + 1, pl, hl + 1, lim, &c, err);
    if (st == TSL_OK && sl == 0)
        st = tslp_fail(err, TSL_ERR_SIGNATURE, len, "%s: empty signature (an unsecured JWT)",
                       what);
    if (st == TSL_OK) {
        st = tsl_b64url_decode(d2 + 1, sl, &sig, &sig_len, err);
        if (st != TSL_OK)
            tslp_error_prefix(err, "signature");
    }
    if (st == TSL_OK) {
        const uint8_t *tbs = (const uint8_t *)in;
        size_t tbs_len = hl + 1 + pl;
        const json_t *x5c = json_object_get(h, "x5c");
        if (key != NULL) {
            st = tsl_key_check_alg(key, alg, err);
            if (st == TSL_OK)
                st = tslp_verify(key, alg, tbs, tbs_len, sig, sig_len, err);
            if (st != TSL_OK)
                tslp_error_prefix(err, what);
        } else if (x5c != NULL && !json_is_null(x5c) && o->policy.trust != NULL) {
            st = jws_x5c(x5c, tslp_limit_x5c(lim), o, now, alg, tbs, tbs_len, sig, sig_len,
                         what, err);
        } else {
            const char *ks = json_is_string(kid) ? json_string_value(kid) : NULL;
            st = verify_with_keys(o->policy.keys, ks, ks ? json_string_length(kid) : 0, alg,
                                  tbs, tbs_len, sig, sig_len, what, err);
        }
    }
    tslp_free(sig);
    if (st != TSL_OK) {
        json_decref(h);
        json_decref(c);
        return st;
    }
    *hdr = h;
    *payload = c;
    return TSL_OK;
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
static tsl_status check_times(bool has_exp, int64_t exp, bool has_nbf, int64_t nbf,
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
    return check_times(he, exp, hn, nbf, hi, iat, now, skew, what, err);
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

#define HDR_ALG 1
#define HDR_CRIT 2
#define HDR_KID 4
#define HDR_TYP 16
#define HDR_X5CHAIN 33

typedef struct {
    const tslp_cbor_node *kid;
    const uint8_t *der[TSL_MAX_X5C_CEILING];
    size_t der_len[TSL_MAX_X5C_CEILING];
    size_t n, max; /* max: the caller's tsl_limits.max_x5c */
} cose_hdrs;

static tsl_status add_cert(cose_hdrs *h, const tslp_cbor_node *c, const char *what,
                           tsl_error *err)
{
    if (c->type != TSLP_CBOR_BYTES || c->len == 0)
        return tslp_fail(err, TSL_ERR_MALFORMED, c->offset,
                         "%s: x5chain (33): %s, expected a DER certificate", what,
                         tslp_cbor_type_name(c->type));
    if (h->n == h->max)
        return tslp_fail(err, TSL_ERR_LIMIT, c->offset,
                         "%s: x5chain (33): more than %zu certificates", what, h->max);
    h->der[h->n] = c->str;
    h->der_len[h->n++] = c->len;
    return TSL_OK;
}

static tsl_status read_hdrs(cose_hdrs *h, const tslp_cbor_node *m, const tslp_cbor_node *other,
                            bool prot, const char *what, tsl_error *err)
{
    if (m->type != TSLP_CBOR_MAP)
        return tslp_fail(err, TSL_ERR_MALFORMED, m->offset, "%s: %s header: %s, expected map",
                         what, prot ? "protected" : "unprotected", tslp_cbor_type_name(m->type));
    for (const tslp_cbor_node *k = m->child; k != NULL; k = k->next->next) {
        const tslp_cbor_node *v = k->next;
        int64_t label;
        if (!tslp_cbor_get_int(k, &label))
            continue;
        if (other->type == TSLP_CBOR_MAP && tslp_cbor_map_get_int(other, label) != NULL)
            return tslp_fail(err, TSL_ERR_MALFORMED, k->offset,
                             "%s: header label %lld is in both header buckets", what,
                             (long long)label);
        tsl_status st = TSL_OK;
        switch (label) {
        case HDR_ALG:
            if (!prot)
                return tslp_fail(err, TSL_ERR_ALG, k->offset,
                                 "%s: alg (1): must be in the protected header", what);
            break;
        case HDR_CRIT:
            return tslp_fail(err, TSL_ERR_UNSUPPORTED, k->offset,
                             "%s: crit (2): critical header parameters are not understood",
                             what);
        case HDR_TYP:
            if (v->type == TSLP_CBOR_TEXT && v->len == strlen("application/statuslist+cwt") &&
                strncasecmp((const char *)v->str, "application/statuslist+cwt", v->len) == 0)
                return tslp_fail(err, TSL_ERR_TYP, v->offset,
                                 "%s: typ (16): a Status List Token, not a Referenced Token",
                                 what);
            break;
        case HDR_KID:
            if ((v->type != TSLP_CBOR_BYTES && v->type != TSLP_CBOR_TEXT) ||
                v->len > TSLP_MAX_KID)
                return tslp_fail(err, TSL_ERR_MALFORMED, v->offset,
                                 "%s: kid (4): not a string of at most %d bytes", what,
                                 TSLP_MAX_KID);
            h->kid = v;
            break;
        case HDR_X5CHAIN:
            if (v->type == TSLP_CBOR_ARRAY && v->count > 0) {
                for (const tslp_cbor_node *c = v->child; c != NULL && st == TSL_OK; c = c->next)
                    st = add_cert(h, c, what, err);
            } else if (v->type == TSLP_CBOR_BYTES) {
                st = add_cert(h, v, what, err);
            } else {
                st = tslp_fail(err, TSL_ERR_MALFORMED, v->offset,
                               "%s: x5chain (33): %s, expected a byte string or an array",
                               what, tslp_cbor_type_name(v->type));
            }
            break;
        default: break;
        }
        if (st != TSL_OK)
            return st;
    }
    return TSL_OK;
}

/* Checks a COSE_Sign1 array [protected, unprotected, payload, signature]: alg in the
 * protected header, in the allow-list; no crit; typ not the Status List Token's; the
 * signature with the x5chain leaf once the chain reaches o->policy.trust, or (unless
 * x5chain_only) with the keys of o->policy.keys matching kid. *payload is the payload
 * node (a byte string in arr's document). */
tsl_status tslp_ref_cose_sign1(const tslp_cbor_node *arr, const tsl_limits *lim,
                               const tsl_ref_opts *o, int64_t now, bool x5chain_only,
                               const char *what, const tslp_cbor_node **payload,
                               tsl_error *err)
{
    if (arr->type != TSLP_CBOR_ARRAY || arr->count != 4)
        return tslp_fail(err, TSL_ERR_MALFORMED, arr->offset,
                         "%s: expected COSE_Sign1, an array of 4 items", what);
    const tslp_cbor_node *prot = arr->child, *unprot = prot->next, *pl = unprot->next,
                         *sig = pl->next;
    if (prot->type != TSLP_CBOR_BYTES || pl->type != TSLP_CBOR_BYTES ||
        sig->type != TSLP_CBOR_BYTES)
        return tslp_fail(err, TSL_ERR_MALFORMED, arr->offset,
                         "%s: COSE_Sign1 protected header, payload and signature must be "
                         "byte strings (a detached payload is not accepted)",
                         what);
    static const uint8_t empty_map[1] = {0xA0};
    tslp_cbor_doc *pdoc = NULL;
    tsl_status st = prot->len == 0 ? tslp_cbor_parse(empty_map, 1, lim, NULL, &pdoc, err)
                                   : tslp_cbor_parse(prot->str, prot->len, lim, NULL, &pdoc, err);
    if (st != TSL_OK) {
        tslp_error_prefix(err, what);
        return st;
    }
    cose_hdrs h;
    memset(&h, 0, sizeof h);
    h.max = tslp_limit_x5c(lim);
    st = read_hdrs(&h, pdoc->root, unprot, true, what, err);
    if (st == TSL_OK)
        st = read_hdrs(&h, unprot, pdoc->root, false, what, err);
    tsl_alg alg = TSL_ALG_UNKNOWN;
    if (st == TSL_OK) {
        const tslp_cbor_node *a = tslp_cbor_map_get_int(pdoc->root, HDR_ALG);
        int64_t id = 0;
        uint32_t algs = o->policy.algs != 0 ? o->policy.algs : TSL_ALGS_SIGNATURE;
        if (a == NULL || !tslp_cbor_get_int(a, &id))
            st = tslp_fail(err, TSL_ERR_ALG, prot->offset,
                           "%s: alg (1): missing from the protected header or not an integer",
                           what);
        else if ((alg = tsl_alg_from_cose_id(id)) == TSL_ALG_UNKNOWN || alg == TSL_ALG_HS256)
            st = tslp_fail(err, TSL_ERR_ALG, a->offset,
                           "%s: alg (1): %lld is not a supported signature algorithm", what,
                           (long long)id);
        else if ((algs & TSL_ALG_BIT(alg)) == 0)
            st = tslp_fail(err, TSL_ERR_ALG, a->offset, "%s: alg: %s is not in the allow-list",
                           what, tsl_alg_name(alg));
    }
    uint8_t *tbs = NULL;
    size_t tbs_len = 0;
    if (st == TSL_OK) {
        tslp_cw w;
        tslp_cw_init(&w, pl->len + prot->len + 64);
        tslp_cw_array(&w, 4);
        tslp_cw_cstr(&w, "Signature1");
        tslp_cw_bytes(&w, prot->str, prot->len);
        tslp_cw_bytes(&w, NULL, 0);
        tslp_cw_bytes(&w, pl->str, pl->len);
        st = tslp_cw_finish(&w, &tbs, &tbs_len, err);
    }
    if (st == TSL_OK) {
        if (h.n > 0 && o->policy.trust != NULL) {
            tsl_key *leaf = NULL;
            st = tslp_chain_verify(o->policy.trust, h.der, h.der_len, h.n, now, NULL, &leaf,
                                   err);
            if (st == TSL_OK)
                st = tsl_key_check_alg(leaf, alg, err);
            if (st == TSL_OK)
                st = tslp_verify(leaf, alg, tbs, tbs_len, sig->str, sig->len, err);
            tsl_key_free(leaf);
            if (st != TSL_OK)
                tslp_error_prefix(err, what);
        } else if (x5chain_only) {
            st = tslp_fail(err, TSL_ERR_TRUST, 0,
                           h.n > 0 ? "%s: the x5chain needs trust anchors (a token's own "
                                     "certificates are never trusted by themselves)"
                                   : "%s: no x5chain (33) to verify the signature with",
                           what);
        } else {
            char kid[TSLP_MAX_KID + 1];
            size_t kl = h.kid ? h.kid->len : 0;
            if (kl > 0)
                memcpy(kid, h.kid->str, kl);
            kid[kl] = '\0';
            st = verify_with_keys(o->policy.keys, h.kid ? kid : NULL, kl, alg, tbs, tbs_len,
                                  sig->str, sig->len, what, err);
        }
    }
    tslp_free(tbs);
    tslp_cbor_free(pdoc);
    if (st == TSL_OK)
        *payload = pl;
    return st;
}

/* ---------------------------------------------------------------------------------- */
/* The JWT and CWT forms                                                                */

static tsl_status jwt_ref(const char *in, size_t len, const tsl_limits *lim,
                          const tsl_ref_opts *o, int64_t now, tsl_ref *r, tsl_error *err)
{
    void *h = NULL, *c = NULL;
    tsl_status st = tslp_ref_jws(in, len, lim, o, now, NULL, "referenced token", &h, &c, err);
    if (st != TSL_OK)
        return st;
    const char *typ = json_string_value(json_object_get(h, "typ"));
    if (typ != NULL &&
        (strcasecmp(typ, "statuslist+jwt") == 0 ||
         strcasecmp(typ, "application/statuslist+jwt") == 0))
        st = tslp_fail(err, TSL_ERR_TYP, 0,
                       "referenced token: typ \"%.40s\" is a Status List Token, not a "
                       "Referenced Token",
                       typ);
    if (st == TSL_OK)
        st = tslp_ref_jwt_times(c, now, o->policy.skew, "referenced token", err);
    if (st == TSL_OK)
        st = tslp_ref_status_json(c, &r->uri, &r->idx, err);
    json_decref(h);
    json_decref(c);
    return st;
}

/* A NumericDate claim of a CWT: 0 absent, 1 present. */
static int cbor_time(const tslp_cbor_node *claims, int64_t label, const char *name, int64_t *v,
                     tsl_status *st, tsl_error *err)
{
    const tslp_cbor_node *n = tslp_cbor_map_get_int(claims, label);
    if (n == NULL || n->type == TSLP_CBOR_NULL || n->type == TSLP_CBOR_UNDEFINED)
        return 0;
    uint64_t u;
    if (tslp_cbor_get_uint(n, &u) && u <= INT64_MAX) {
        *v = (int64_t)u;
        return 1;
    }
    if (n->type == TSLP_CBOR_FLOAT && n->f >= 0 && n->f < 9.2e18) {
        *v = (int64_t)floor(n->f);
        return 1;
    }
    *st = tslp_fail(err, TSL_ERR_CLAIM, n->offset,
                    "referenced token: %s: %s, expected a non-negative NumericDate", name,
                    tslp_cbor_type_name(n->type));
    return 0;
}

static tsl_status cwt_ref(const tslp_cbor_node *root, const tsl_limits *lim,
                          const tsl_ref_opts *o, int64_t now, tsl_ref *r, tsl_error *err)
{
    const tslp_cbor_node *n = root;
    if (n->type == TSLP_CBOR_TAG && n->u == 61) /* CWT tag, allowed around a Referenced Token */
        n = n->child;
    if (n->type == TSLP_CBOR_TAG && n->u == 18)
        n = n->child;
    else if (n->type == TSLP_CBOR_TAG)
        return tslp_fail(err, TSL_ERR_UNSUPPORTED, n->offset,
                         "referenced token: CBOR tag %llu, expected COSE_Sign1 (18)",
                         (unsigned long long)n->u);
    const tslp_cbor_node *pl = NULL;
    tsl_status st = tslp_ref_cose_sign1(n, lim, o, now, false, "referenced token", &pl, err);
    if (st != TSL_OK)
        return st;
    tslp_cbor_doc *cdoc = NULL;
    st = tslp_cbor_parse(pl->str, pl->len, lim, NULL, &cdoc, err);
    if (st != TSL_OK) {
        tslp_error_prefix(err, "referenced token claims");
        return st;
    }
    const tslp_cbor_node *c = cdoc->root;
    if (c->type != TSLP_CBOR_MAP)
        st = tslp_fail(err, TSL_ERR_MALFORMED, 0, "referenced token claims: %s, expected map",
                       tslp_cbor_type_name(c->type));
    int64_t exp = 0, nbf = 0, iat = 0;
    int he = st == TSL_OK ? cbor_time(c, 4, "exp (4)", &exp, &st, err) : 0;
    int hn = st == TSL_OK ? cbor_time(c, 5, "nbf (5)", &nbf, &st, err) : 0;
    int hi = st == TSL_OK ? cbor_time(c, 6, "iat (6)", &iat, &st, err) : 0;
    if (st == TSL_OK)
        st = check_times(he, exp, hn, nbf, hi, iat, now, o->policy.skew, "referenced token",
                         err);
    if (st == TSL_OK)
        st = tslp_ref_status_cbor(tslp_cbor_map_get_int(c, 65535), "status (65535)", &r->uri,
                                  &r->idx, err);
    tslp_cbor_free(cdoc);
    return st;
}

/* ---------------------------------------------------------------------------------- */
/* Detection and the public calls                                                       */

/* Binary CBOR: a tagged COSE_Sign1 (or CWT tag) is a CWT; a map is an mdoc
 * (DeviceResponse, Document or IssuerSigned); a COSE_Sign1, tagged or not, is an mdoc
 * IssuerAuth when its payload is tag 24 (encoded CBOR), else a CWT. */
static tsl_status cbor_ref(const uint8_t *in, size_t len, const tsl_limits *lim,
                           const tsl_ref_opts *o, int64_t now, tsl_ref *r, tsl_error *err)
{
    tslp_cbor_doc *doc = NULL;
    tsl_status st = tslp_cbor_parse(in, len, lim, NULL, &doc, err);
    if (st != TSL_OK) {
        tslp_error_prefix(err, "referenced token");
        return st;
    }
    const tslp_cbor_node *root = doc->root;
    bool mdoc = root->type == TSLP_CBOR_MAP;
    const tslp_cbor_node *sign1 = root;
    if (sign1->type == TSLP_CBOR_TAG && sign1->u == 18)
        sign1 = sign1->child;
    if (sign1->type == TSLP_CBOR_ARRAY && sign1->count == 4) {
        const tslp_cbor_node *pl = tslp_cbor_array_get(sign1, 2);
        mdoc = pl->type == TSLP_CBOR_BYTES && pl->len >= 2 && pl->str[0] == 0xD8 &&
               pl->str[1] == 0x18;
    }
    if (mdoc) {
        r->kind = TSL_REF_MDOC;
        st = tslp_mdoc_parse(in, len, lim, o, now, &r->uri, &r->idx, err);
    } else if (root->type == TSLP_CBOR_TAG || root->type == TSLP_CBOR_ARRAY) {
        r->kind = TSL_REF_CWT;
        st = cwt_ref(root, lim, o, now, r, err);
    } else {
        st = tslp_fail(err, TSL_ERR_MALFORMED, 0,
                       "referenced token: CBOR %s is neither a CWT nor an mdoc",
                       tslp_cbor_type_name(root->type));
    }
    tslp_cbor_free(doc);
    return st;
}

tsl_status tsl_ref_parse(const uint8_t *in, size_t len, const tsl_limits *lim,
                         const tsl_ref_opts *o, tsl_ref **out, tsl_error *err)
{
    if (out == NULL || o == NULL || (in == NULL && len > 0))
        return tslp_fail(err, TSL_ERR_ARG, 0, "referenced token: NULL argument");
    tsl_limits L;
    tslp_limits_resolve(lim, &L);
    if (len > L.max_input)
        return tslp_fail(err, TSL_ERR_LIMIT, 0,
                         "referenced token: %zu bytes exceeds the input limit of %zu", len,
                         L.max_input);
    /* Every form below reads trust and time from this one resolved policy. */
    tsl_ref_opts ro = *o;
    tslp_policy_resolve(&o->policy, &ro.policy);
    o = &ro;
    int64_t now = ro.policy.now;
    tsl_ref *r = tslp_calloc(1, sizeof *r);
    if (r == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "referenced token: out of memory");
    tsl_status st;
    uint8_t major = len > 0 ? in[0] >> 5 : 0;
    if (len > 0 && (major == 4 || major == 5 || major == 6)) {
        st = cbor_ref(in, len, &L, o, now, r, err);
    } else {
        size_t a = 0, n = 0;
        const uint8_t *s = tslp_trim(in, len, &a, &n);
        uint8_t *bin = NULL;
        size_t bin_len = 0;
        if (n == 0) {
            st = tslp_fail(err, TSL_ERR_MALFORMED, 0, "referenced token: empty input");
        } else if (memchr(s, '~', n) != NULL) {
            r->kind = TSL_REF_SDJWT;
            st = tslp_sdjwt_parse((const char *)s, n, &L, o, now, &r->uri, &r->idx, err);
        } else if (memchr(s, '.', n) != NULL) {
            r->kind = TSL_REF_JWT;
            st = jwt_ref((const char *)s, n, &L, o, now, r, err);
        } else if (tslp_text_to_bytes(s, n, &bin, &bin_len)) {
            if (bin_len > 0 && (bin[0] >> 5 == 4 || bin[0] >> 5 == 5 || bin[0] >> 5 == 6))
                st = cbor_ref(bin, bin_len, &L, o, now, r, err);
            else
                st = tslp_fail(err, TSL_ERR_MALFORMED, a,
                               "referenced token: decoded bytes are not a CWT or an mdoc");
            tslp_free(bin);
        } else {
            st = tslp_fail(err, TSL_ERR_MALFORMED, a,
                           "referenced token: neither a JWT, an SD-JWT, nor CBOR (raw, hex "
                           "or base64url)");
        }
    }
    if (st == TSL_OK && r->uri != NULL && strlen(r->uri) > L.max_uri)
        st = tslp_fail(err, TSL_ERR_LIMIT, 0,
                       "referenced token: status_list uri of %zu bytes exceeds the limit of %zu",
                       strlen(r->uri), L.max_uri);
    /* Key binding is checked for SD-JWT only: a JWT or CWT has none, and an mdoc's
     * deviceAuth signs a session transcript only the live reader has. Asked for it,
     * the other forms fail closed. */
    if (st == TSL_OK && r->kind != TSL_REF_SDJWT &&
        (o->require_kb || o->kb_aud != NULL || o->kb_nonce != NULL))
        st = tslp_fail(err, TSL_ERR_CLAIM, 0,
                       "referenced token: key binding is required, and this library checks "
                       "it for SD-JWT only, not for %s",
                       r->kind == TSL_REF_JWT ? "a JWT" : r->kind == TSL_REF_CWT ? "a CWT"
                                                                              : "an mdoc");
    if (st != TSL_OK) {
        tsl_ref_free(r);
        return st;
    }
    *out = r;
    return TSL_OK;
}

void tsl_ref_free(tsl_ref *r)
{
    if (r == NULL)
        return;
    tslp_free(r->uri);
    tslp_free(r);
}

tsl_ref_kind tsl_ref_kind_of(const tsl_ref *r)
{
    return r->kind;
}

const char *tsl_ref_uri(const tsl_ref *r)
{
    return r->uri;
}

uint64_t tsl_ref_idx(const tsl_ref *r)
{
    return r->idx;
}
