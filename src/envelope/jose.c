/* jose.c - JWS compact serialization (RFC 7515), the one parser of it: the split into
 * header.payload.signature, the base64url parts decoded into JSON objects within the
 * caller's limits, the header's alg (allow-listed, never "none"), crit (refused: we
 * implement no extension), typ, kid and x5c, and the signature checked with a given
 * key, an x5c chain or the caller's keys. Status List Tokens (token/jwt.c) and
 * Referenced Tokens (ref/ref.c, ref/sdjwt.c) read their claims from j->payload. */
#include "crypto/crypto.h"
#include "envelope/envelope_int.h"

#include <jansson.h>
#include <string.h>

/* Decodes one base64url part into a JSON object; messages say "WHAT PART". */
static tsl_status part_json(const char *what, const char *part, const char *p, size_t n,
                            size_t offset, const tsl_limits *lim, void **out, tsl_error *err)
{
    char pre[96];
    snprintf(pre, sizeof pre, "%s%s%s", what ? what : "", what ? " " : "", part);
    uint8_t *raw = NULL;
    size_t rl = 0;
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

tsl_status tslp_jws_open(tslp_jws *j, const char *in, size_t len, const tsl_limits *lim,
                         const char *what, tsl_error *err)
{
    memset(j, 0, sizeof *j);
    j->max_x5c = tslp_limit_x5c(lim);
    const char *d1 = memchr(in, '.', len);
    const char *d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - in)) : NULL;
    if (d1 == NULL || d2 == NULL)
        return tslp_env_fail(err, TSL_ERR_MALFORMED, 0, what,
                     "expected three base64url parts separated by '.'");
    if (memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - in)) != NULL)
        return tslp_env_fail(err, TSL_ERR_MALFORMED, 0, what,
                     "more than three parts (an encrypted JWE is not supported)");
    j->in = in;
    j->hl = (size_t)(d1 - in);
    j->pl = (size_t)(d2 - d1 - 1);
    j->sl = len - (size_t)(d2 + 1 - in);
    return part_json(what, "header", in, j->hl, 0, lim, &j->hdr, err);
}

const char *tslp_jws_typ(const tslp_jws *j)
{
    return json_string_value(json_object_get(j->hdr, "typ"));
}

tsl_status tslp_jws_header(tslp_jws *j, uint32_t algs, const char *what, tsl_error *err)
{
    const json_t *h = j->hdr;
    const json_t *alg = json_object_get(h, "alg");
    if (!json_is_string(alg))
        return tslp_env_fail(err, TSL_ERR_ALG, 0, what,
                             "alg: %s", alg ? "not a string" : "missing");
    const char *as = json_string_value(alg);
    if (strcmp(as, "none") == 0)
        return tslp_env_fail(err, TSL_ERR_ALG, 0, what,
                     "alg: \"none\" is never accepted: a token must be signed or MACed");
    j->alg = tsl_alg_from_name(as);
    if (j->alg == TSL_ALG_UNKNOWN)
        return tslp_env_fail(err, TSL_ERR_ALG, 0, what, "alg: \"%.40s\" is not supported", as);
    if (algs != 0 && (algs & TSL_ALG_BIT(j->alg)) == 0)
        return tslp_env_fail(err, TSL_ERR_ALG, 0, what, "alg: %s is not in the allow-list", as);
    const json_t *crit = json_object_get(h, "crit");
    if (crit != NULL) {
        /* We implement no JWS extensions, so any critical one must be refused
         * (RFC 7515 section 4.1.11). */
        const json_t *first = json_array_get(crit, 0);
        return tslp_env_fail(err, TSL_ERR_UNSUPPORTED, 0, what,
                     "crit: critical header \"%.40s\" is not understood",
                     json_is_string(first) ? json_string_value(first) : "?");
    }
    const json_t *kid = json_object_get(h, "kid");
    if (kid != NULL && !json_is_null(kid)) {
        if (!json_is_string(kid))
            return tslp_env_fail(err, TSL_ERR_MALFORMED, 0, what, "kid: not a string");
        size_t kl = json_string_length(kid);
        if (kl > TSLP_MAX_KID || strlen(json_string_value(kid)) != kl)
            return tslp_env_fail(err, TSL_ERR_MALFORMED, 0, what,
                                 "kid: longer than %d bytes or has NUL",
                         TSLP_MAX_KID);
        j->kid = json_string_value(kid);
        j->kid_len = kl;
    }
    return TSL_OK;
}

tsl_status tslp_jws_x5c(const tslp_jws *j, tslp_x5c *out, const char *what, tsl_error *err)
{
    memset(out, 0, sizeof *out);
    const json_t *x5c = json_object_get(j->hdr, "x5c");
    if (x5c == NULL || json_is_null(x5c))
        return TSL_OK;
    size_t n = json_array_size(x5c);
    if (!json_is_array(x5c) || n == 0)
        return tslp_env_fail(err, TSL_ERR_MALFORMED, 0, what, "x5c: not a non-empty array");
    if (n > j->max_x5c)
        return tslp_env_fail(err, TSL_ERR_LIMIT, 0, what, "x5c: more than %zu certificates",
                             j->max_x5c);
    for (size_t k = 0; k < n; k++) {
        const json_t *c = json_array_get(x5c, k);
        if (!json_is_string(c)) {
            tslp_x5c_free(out);
            return tslp_env_fail(err, TSL_ERR_MALFORMED, 0, what, "x5c[%zu]: not a string", k);
        }
        uint8_t *der = NULL;
        tsl_status st = tslp_b64std_decode(json_string_value(c), json_string_length(c), &der,
                                           &out->der_len[k], err);
        if (st != TSL_OK) {
            char pre[96];
            snprintf(pre, sizeof pre, "%s%sx5c[%zu]", what ? what : "", what ? ": " : "", k);
            tslp_error_prefix(err, pre);
            tslp_x5c_free(out);
            return st;
        }
        out->der[k] = der;
        out->n = k + 1;
    }
    return TSL_OK;
}

void tslp_x5c_free(tslp_x5c *c)
{
    for (size_t k = 0; k < c->n; k++)
        tslp_free((void *)(uintptr_t)c->der[k]);
    c->n = 0;
}

tsl_status tslp_jws_payload(tslp_jws *j, const tsl_limits *lim, const char *what,
                            tsl_error *err)
{
    return part_json(what, "payload", j->in + j->hl + 1, j->pl, j->hl + 1, lim, &j->payload,
                     err);
}

tsl_status tslp_jws_signature(tslp_jws *j, const char *what, tsl_error *err)
{
    size_t at = j->hl + 1 + j->pl + 1;
    if (j->sl == 0)
        return tslp_env_fail(err, TSL_ERR_SIGNATURE, at, what,
                             "empty signature (an unsecured JWT)");
    tsl_status st = tsl_b64url_decode(j->in + at, j->sl, &j->sig, &j->sig_len, err);
    if (st != TSL_OK) {
        char pre[96];
        snprintf(pre, sizeof pre, "%s%ssignature", what ? what : "", what ? " " : "");
        if (err != NULL)
            err->offset += at;
        tslp_error_prefix(err, pre);
    }
    return st;
}

const uint8_t *tslp_jws_tbs(const tslp_jws *j, size_t *len)
{
    *len = j->hl + 1 + j->pl;
    return (const uint8_t *)j->in;
}

tsl_status tslp_jws_verify(const tslp_jws *j, const tsl_key *key, const tsl_trust *trust,
                           const tsl_keyset *ks, int64_t now, const char *what,
                           tsl_error *err)
{
    size_t tbs_len;
    const uint8_t *tbs = tslp_jws_tbs(j, &tbs_len);
    tsl_status st;
    const json_t *x5c = json_object_get(j->hdr, "x5c");
    if (key != NULL) {
        st = tsl_key_check_alg(key, j->alg, err);
        if (st == TSL_OK)
            st = tslp_verify(key, j->alg, tbs, tbs_len, j->sig, j->sig_len, err);
        if (st != TSL_OK && what != NULL)
            tslp_error_prefix(err, what);
        return st;
    }
    if (x5c != NULL && !json_is_null(x5c) && trust != NULL) {
        tslp_x5c chain;
        st = tslp_jws_x5c(j, &chain, what, err);
        if (st == TSL_OK)
            st = tslp_env_verify_chain(trust, &chain, now, NULL, j->alg, tbs, tbs_len, j->sig,
                                       j->sig_len, err);
        tslp_x5c_free(&chain);
        return st;
    }
    return tslp_env_verify_keys(ks, (const uint8_t *)j->kid, j->kid_len, j->alg,
                                j->alg == TSL_ALG_HS256, tbs, tbs_len, j->sig, j->sig_len,
                                what, err);
}

void tslp_jws_close(tslp_jws *j)
{
    json_decref(j->hdr);
    json_decref(j->payload);
    tslp_free(j->sig);
    memset(j, 0, sizeof *j);
}
