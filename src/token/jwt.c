/* jwt.c - the JWT form of a Status List Token (spec section 5.1): JWS compact
 * serialization, header {"alg","typ":"statuslist+jwt","kid","x5c"}, claims sub, iat,
 * exp, ttl, iss and status_list. Parsing checks structure, typ, alg and claim types;
 * token.c does the signature and time checks. */
#include "crypto/crypto.h"
#include "token/token_int.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---------------------------------------------------------------------------------- */
/* Signing                                                                              */

/* Serialises a jansson value compactly and base64url-encodes it. */
static tsl_status b64_json(json_t *v, char **out, size_t *len, tsl_error *err)
{
    char *text = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (text == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "jwt: out of memory serialising JSON");
    tsl_status st = tsl_b64url_encode((const uint8_t *)text, strlen(text), out, len, err);
    free(text);
    return st;
}

/* The header names what the signer signs with: alg, kid, x5c. */
static json_t *make_header(const tsl_signer *s, tsl_error *err)
{
    json_t *h = json_object();
    if (h == NULL)
        return NULL;
    int bad = json_object_set_new(h, "alg", json_string(tsl_alg_name(s->alg))) != 0;
    if (s->kid != NULL)
        bad = bad || json_object_set_new(h, "kid", json_string(s->kid)) != 0;
    bad = bad || json_object_set_new(h, "typ", json_string("statuslist+jwt")) != 0;
    size_t nx = tsl_cert_chain_count(s->x5c);
    if (nx > 0) {
        json_t *a = json_array();
        bad = bad || a == NULL || json_object_set_new(h, "x5c", a) != 0;
        for (size_t k = 0; !bad && k < nx; k++) {
            char *b64;
            if (tslp_b64std_encode(s->x5c->der[k], s->x5c->len[k], &b64, NULL, err) !=
                TSL_OK) {
                bad = 1;
                break;
            }
            bad = json_array_append_new(a, json_string(b64)) != 0;
            tslp_free(b64);
        }
    }
    if (bad) {
        json_decref(h);
        return NULL;
    }
    return h;
}

static json_t *make_claims(const tsl_list *l, const tsl_token_params *p, tsl_error *err)
{
    char *sl_text = NULL;
    size_t sl_len = 0;
    if (tsl_list_to_json(l, p->level, &sl_text, &sl_len, err) != TSL_OK)
        return NULL;
    json_error_t jerr;
    json_t *sl = json_loadb(sl_text, sl_len, 0, &jerr);
    tslp_free(sl_text);
    json_t *c = json_object();
    int bad = sl == NULL || c == NULL;
    bad = bad || json_object_set_new(c, "sub", json_string(p->sub)) != 0;
    bad = bad || json_object_set_new(c, "iat", json_integer(p->iat)) != 0;
    if (p->exp != 0)
        bad = bad || json_object_set_new(c, "exp", json_integer(p->exp)) != 0;
    if (p->ttl != 0)
        bad = bad || json_object_set_new(c, "ttl", json_integer(p->ttl)) != 0;
    if (p->iss != NULL)
        bad = bad || json_object_set_new(c, "iss", json_string(p->iss)) != 0;
    if (!bad) {
        bad = json_object_set_new(c, "status_list", sl) != 0;
        sl = NULL;
    }
    json_decref(sl);
    if (bad) {
        json_decref(c);
        tslp_fail(err, TSL_ERR_NOMEM, 0, "jwt: out of memory (or a claim is not UTF-8)");
        return NULL;
    }
    return c;
}

tsl_status tslp_jwt_sign(const tsl_list *l, const tsl_token_params *p, const tsl_signer *s,
                         uint8_t **out, size_t *out_len, tsl_error *err)
{
    json_t *h = make_header(s, err);
    if (h == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "jwt: cannot build the header");
    json_t *c = make_claims(l, p, err);
    if (c == NULL) {
        json_decref(h);
        return TSL_ERR_NOMEM;
    }
    char *hb = NULL, *cb = NULL;
    size_t hl = 0, cl = 0;
    tsl_status st = b64_json(h, &hb, &hl, err);
    if (st == TSL_OK)
        st = b64_json(c, &cb, &cl, err);
    json_decref(h);
    json_decref(c);
    uint8_t *sig = NULL;
    size_t sig_len = 0;
    char *tok = NULL;
    if (st == TSL_OK) {
        /* header.payload is both the signing input and the start of the token. */
        tok = tslp_malloc(hl + 1 + cl + 1);
        if (tok == NULL)
            st = tslp_fail(err, TSL_ERR_NOMEM, 0, "jwt: out of memory");
    }
    if (st == TSL_OK) {
        memcpy(tok, hb, hl);
        tok[hl] = '.';
        memcpy(tok + hl + 1, cb, cl);
        st = tsl_signer_sign(s, (const uint8_t *)tok, hl + 1 + cl, &sig, &sig_len, err);
    }
    char *sb = NULL;
    size_t sl = 0;
    if (st == TSL_OK)
        st = tsl_b64url_encode(sig, sig_len, &sb, &sl, err);
    if (st == TSL_OK) {
        size_t n = hl + 1 + cl;
        char *grown = tslp_realloc(tok, n + 1 + sl + 1);
        if (grown == NULL) {
            st = tslp_fail(err, TSL_ERR_NOMEM, 0, "jwt: out of memory");
        } else {
            tok = grown;
            tok[n] = '.';
            memcpy(tok + n + 1, sb, sl + 1);
            *out = (uint8_t *)tok;
            *out_len = n + 1 + sl;
            tok = NULL;
        }
    }
    tslp_free(hb);
    tslp_free(cb);
    tslp_free(sb);
    tslp_free(sig);
    tslp_free(tok);
    return st;
}

/* ---------------------------------------------------------------------------------- */
/* Parsing                                                                              */

/* Decodes one base64url part into a JSON object, within the caller's limits (size and
 * nesting depth, as the CWT path applies them). */
static tsl_status part_json(const char *what, const char *p, size_t n, size_t offset,
                            const tsl_limits *lim, json_t **out, tsl_error *err)
{
    uint8_t *raw;
    size_t rl;
    tsl_status st = tsl_b64url_decode(p, n, &raw, &rl, err);
    if (st != TSL_OK) {
        if (err != NULL)
            err->offset += offset;
        tslp_error_prefix(err, what);
        return st;
    }
    void *pv = NULL;
    st = tslp_json_load((const char *)raw, rl, lim, &pv, what, err);
    tslp_free(raw);
    if (st != TSL_OK)
        return st;
    json_t *v = pv;
    if (!json_is_object(v)) {
        json_decref(v);
        return tslp_fail(err, TSL_ERR_MALFORMED, offset, "%s: not a JSON object", what);
    }
    *out = v;
    return TSL_OK;
}

/* An optional member: absent, null (a common producer quirk that means absent) or v. */
static const json_t *optional(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return json_is_null(v) ? NULL : v;
}

/* A NumericDate (RFC 7519 section 2): a JSON number of seconds, integer or not. */
static tsl_status numeric_date(const json_t *v, const char *name, int64_t *out,
                               tsl_error *err)
{
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i < 0)
            return tslp_fail(err, TSL_ERR_CLAIM, 0, "%s: %lld is negative", name,
                             (long long)i);
        *out = (int64_t)i;
        return TSL_OK;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!(d >= 0 && d < 9.2e18))
            return tslp_fail(err, TSL_ERR_CLAIM, 0, "%s: %g is not a valid time", name, d);
        *out = (int64_t)floor(d);
        return TSL_OK;
    }
    return tslp_fail(err, TSL_ERR_CLAIM, 0, "%s: expected a number (NumericDate)", name);
}

/* Checks the header: typ, alg, crit, kid, x5c. */
static tsl_status parse_header(tsl_token *t, const json_t *h, tsl_error *err)
{
    const json_t *typ = json_object_get(h, "typ");
    if (typ == NULL)
        return tslp_fail(err, TSL_ERR_TYP, 0,
                         "typ: missing, a Status List Token must have typ \"statuslist+jwt\"");
    if (!json_is_string(typ))
        return tslp_fail(err, TSL_ERR_TYP, 0, "typ: not a string");
    const char *ts = json_string_value(typ);
    /* RFC 7515 section 4.1.9: "statuslist+jwt" and "application/statuslist+jwt" name the
     * same media type, and media types compare case-insensitively. */
    if (strcasecmp(ts, "statuslist+jwt") != 0 && strcasecmp(ts, "application/statuslist+jwt") != 0)
        return tslp_fail(err, TSL_ERR_TYP, 0, "typ: \"%.60s\", expected \"statuslist+jwt\"", ts);
    if ((t->typ = tslp_strndup(ts, strlen(ts))) == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "jwt: out of memory");

    const json_t *alg = json_object_get(h, "alg");
    if (!json_is_string(alg))
        return tslp_fail(err, TSL_ERR_ALG, 0, "alg: %s", alg ? "not a string" : "missing");
    const char *as = json_string_value(alg);
    if (strcmp(as, "none") == 0)
        return tslp_fail(err, TSL_ERR_ALG, 0,
                         "alg: \"none\" is never accepted: a Status List Token must be "
                         "signed or MACed");
    t->alg = tsl_alg_from_name(as);
    if (t->alg == TSL_ALG_UNKNOWN)
        return tslp_fail(err, TSL_ERR_ALG, 0, "alg: \"%.40s\" is not supported", as);
    t->mac = t->alg == TSL_ALG_HS256;

    const json_t *crit = json_object_get(h, "crit");
    if (crit != NULL) {
        /* We implement no JWS extensions, so any critical one must be refused
         * (RFC 7515 section 4.1.11). */
        const json_t *first = json_array_get(crit, 0);
        return tslp_fail(err, TSL_ERR_UNSUPPORTED, 0,
                         "crit: critical header \"%.40s\" is not understood",
                         json_is_string(first) ? json_string_value(first) : "?");
    }
    const json_t *kid = optional(h, "kid");
    if (kid != NULL) {
        if (!json_is_string(kid))
            return tslp_fail(err, TSL_ERR_MALFORMED, 0, "kid: not a string");
        size_t kl = json_string_length(kid);
        if (kl > TSLP_MAX_KID || strlen(json_string_value(kid)) != kl)
            return tslp_fail(err, TSL_ERR_MALFORMED, 0, "kid: longer than %d bytes or has NUL",
                             TSLP_MAX_KID);
        if ((t->kid = (uint8_t *)tslp_strndup(json_string_value(kid), kl)) == NULL)
            return tslp_fail(err, TSL_ERR_NOMEM, 0, "jwt: out of memory");
        t->kid_len = kl;
    }
    const json_t *x5c = optional(h, "x5c");
    if (x5c != NULL) {
        if (!json_is_array(x5c) || json_array_size(x5c) == 0)
            return tslp_fail(err, TSL_ERR_MALFORMED, 0, "x5c: not a non-empty array");
        if (json_array_size(x5c) > t->max_x5c)
            return tslp_fail(err, TSL_ERR_LIMIT, 0, "x5c: more than %zu certificates",
                             t->max_x5c);
        for (size_t k = 0; k < json_array_size(x5c); k++) {
            const json_t *c = json_array_get(x5c, k);
            if (!json_is_string(c))
                return tslp_fail(err, TSL_ERR_MALFORMED, 0, "x5c[%zu]: not a string", k);
            tsl_status st = tslp_b64std_decode(json_string_value(c), json_string_length(c),
                                               &t->x5c[k], &t->x5c_len[k], err);
            if (st != TSL_OK) {
                char what[32];
                snprintf(what, sizeof what, "x5c[%zu]", k);
                tslp_error_prefix(err, what);
                return st;
            }
            t->x5c_n = k + 1;
        }
    }
    return TSL_OK;
}

static tsl_status parse_claims(tsl_token *t, const json_t *c, const tsl_limits *lim,
                               tsl_error *err)
{
    const json_t *sub = json_object_get(c, "sub");
    if (sub == NULL)
        return tslp_fail(err, TSL_ERR_CLAIM, 0, "sub: missing (REQUIRED, section 5.1)");
    if (!json_is_string(sub))
        return tslp_fail(err, TSL_ERR_CLAIM, 0, "sub: not a string");
    t->sub = tslp_strndup(json_string_value(sub), json_string_length(sub));
    if (t->sub == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "jwt: out of memory");

    const json_t *iat = json_object_get(c, "iat");
    if (iat == NULL)
        return tslp_fail(err, TSL_ERR_CLAIM, 0, "iat: missing (REQUIRED, section 5.1)");
    tsl_status st = numeric_date(iat, "iat", &t->iat, err);
    if (st != TSL_OK)
        return st;
    const json_t *exp = optional(c, "exp");
    if (exp != NULL) {
        if ((st = numeric_date(exp, "exp", &t->exp, err)) != TSL_OK)
            return st;
        t->has_exp = true;
    }
    const json_t *nbf = optional(c, "nbf");
    if (nbf != NULL) {
        if ((st = numeric_date(nbf, "nbf", &t->nbf, err)) != TSL_OK)
            return st;
        t->has_nbf = true;
    }
    const json_t *ttl = optional(c, "ttl");
    if (ttl != NULL) {
        /* "a positive JSON number": integers (any that fits, as in a CWT), and
         * non-integers rounded down, must be > 0. */
        if (json_is_integer(ttl)) {
            if (json_integer_value(ttl) <= 0)
                return tslp_fail(err, TSL_ERR_CLAIM, 0,
                                 "ttl: %lld is not a positive number of seconds",
                                 (long long)json_integer_value(ttl));
            t->ttl = (int64_t)json_integer_value(ttl);
        } else if (json_is_real(ttl)) {
            double d = json_real_value(ttl);
            char text[32];
            tslp_real_text(d, text, sizeof text);
            if (!(d >= 1))
                return tslp_fail(err, TSL_ERR_CLAIM, 0,
                                 "ttl: %s is not a positive number of seconds (at least 1 "
                                 "once rounded down)", text);
            if (!(d < 9223372036854775808.0))
                return tslp_fail(err, TSL_ERR_CLAIM, 0,
                                 "ttl: %s is out of range (at most %lld seconds)", text,
                                 (long long)INT64_MAX);
            t->ttl = (int64_t)d;
        } else {
            return tslp_fail(err, TSL_ERR_CLAIM, 0, "ttl: not a number");
        }
        t->has_ttl = true;
    }
    const json_t *iss = optional(c, "iss");
    if (iss != NULL) {
        if (!json_is_string(iss))
            return tslp_fail(err, TSL_ERR_CLAIM, 0, "iss: not a string");
        if ((t->iss = tslp_strndup(json_string_value(iss), json_string_length(iss))) == NULL)
            return tslp_fail(err, TSL_ERR_NOMEM, 0, "jwt: out of memory");
    }
    const json_t *sl = json_object_get(c, "status_list");
    if (sl == NULL)
        return tslp_fail(err, TSL_ERR_CLAIM, 0, "status_list: missing (REQUIRED, section 5.1)");
    st = tslp_list_from_json_value(sl, lim, &t->list, err);
    if (st != TSL_OK && err != NULL && strncmp(err->msg, "status_list", 11) != 0)
        tslp_error_prefix(err, "status_list");
    return st;
}

tsl_status tslp_jwt_parse(tsl_token *t, const char *in, size_t len, const tsl_limits *lim,
                          tsl_error *err)
{
    t->format = TSL_FORMAT_JWT;
    t->max_x5c = tslp_limit_x5c(lim);
    /* Three parts: header.payload.signature. */
    const char *d1 = memchr(in, '.', len);
    const char *d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - in)) : NULL;
    if (d1 == NULL || d2 == NULL)
        return tslp_fail(err, TSL_ERR_MALFORMED, 0,
                         "jwt: expected three base64url parts separated by '.'");
    if (memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - in)) != NULL)
        return tslp_fail(err, TSL_ERR_MALFORMED, 0,
                         "jwt: more than three parts (an encrypted JWE is not a Status List "
                         "Token)");
    size_t hl = (size_t)(d1 - in), pl = (size_t)(d2 - d1 - 1), sl = len - (size_t)(d2 + 1 - in);
    json_t *h = NULL, *c = NULL;
    tsl_status st = part_json("jwt header", in, hl, 0, lim, &h, err);
    if (st == TSL_OK)
        st = parse_header(t, h, err);
    if (st == TSL_OK)
        st = part_json("jwt payload", d1 + 1, pl, hl + 1, lim, &c, err);
    if (st == TSL_OK)
        st = parse_claims(t, c, lim, err);
    json_decref(h);
    json_decref(c);
    if (st != TSL_OK)
        return st;
    if (sl == 0)
        return tslp_fail(err, TSL_ERR_SIGNATURE, len, "jwt: empty signature (an unsecured JWT)");
    st = tsl_b64url_decode(d2 + 1, sl, &t->sig, &t->sig_len, err);
    if (st != TSL_OK) {
        if (err != NULL)
            err->offset += (size_t)(d2 + 1 - in);
        tslp_error_prefix(err, "jwt signature");
        return st;
    }
    t->tbs_len = hl + 1 + pl;
    t->tbs = (uint8_t *)tslp_strndup(in, t->tbs_len);
    if (t->tbs == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "jwt: out of memory");
    return TSL_OK;
}
