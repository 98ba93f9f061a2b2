/* jwt.c - the JWT form of a Status List Token (spec section 5.1): JWS compact
 * serialization, header {"alg","typ":"statuslist+jwt","kid","x5c"}, claims sub, iat,
 * exp, ttl, iss and status_list. The JWS itself is the envelope layer's
 * (envelope/jose.c); parsing here checks typ and the claims, and token.c the signature
 * and time. */
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

/* The claims as JSON text, in the order they have always had (sub, iat, exp, ttl, iss,
 * status_list), with the list's lst written straight in (statuslist_json.c): the one
 * time the list is serialised. The bytes are those jansson's json_dumps() of the same
 * claims gives (json_write.c escapes strings as it does); test_jwt_payload checks
 * that. */
static tsl_status claims_text(const tsl_list *l, const tsl_token_params *p, tslp_buf *b,
                              tsl_error *err)
{
    tsl_status st = tslp_json_put_member(b, true, "sub", err);
    if (st == TSL_OK)
        st = tslp_json_put_str(b, p->sub, "sub", err);
    if (st == TSL_OK)
        st = tslp_buf_printf(b, err, ",\"iat\":%lld", (long long)p->iat);
    if (st == TSL_OK && p->exp != 0)
        st = tslp_buf_printf(b, err, ",\"exp\":%lld", (long long)p->exp);
    if (st == TSL_OK && p->ttl != 0)
        st = tslp_buf_printf(b, err, ",\"ttl\":%lld", (long long)p->ttl);
    if (st == TSL_OK && p->iss != NULL) {
        st = tslp_json_put_member(b, false, "iss", err);
        if (st == TSL_OK)
            st = tslp_json_put_str(b, p->iss, "iss", err);
    }
    if (st == TSL_OK)
        st = tslp_json_put_member(b, false, "status_list", err);
    if (st == TSL_OK)
        st = tslp_statuslist_json_put(b, l, p->level, err);
    if (st == TSL_OK)
        st = tslp_buf_append(b, "}", 1, err);
    return st;
}

/* Room kept after header.payload for '.' and the signature's base64url, so that the
 * token is written into one allocation: the largest signature is RSA's at
 * TSLP_RSA_MAX_BITS (a larger one from an application's signer grows the buffer). */
#define SIG_ROOM (1 + TSLP_B64URL_LEN((size_t)TSLP_RSA_MAX_BITS / 8) + 1)

tsl_status tslp_jwt_sign(const tsl_list *l, const tsl_token_params *p, const tsl_signer *s,
                         uint8_t **out, size_t *out_len, tsl_error *err)
{
    json_t *h = make_header(s, err);
    if (h == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "jwt: cannot build the header");
    char *hb = NULL;
    size_t hl = 0;
    tsl_status st = b64_json(h, &hb, &hl, err);
    json_decref(h);
    if (st != TSL_OK)
        return st;

    tslp_buf c;
    tslp_buf_init(&c, TSLP_JSON_OUT_MAX, "jwt claims");
    st = tslp_buf_append(&c, "{", 1, err);
    if (st == TSL_OK)
        st = claims_text(l, p, &c, err);
    /* header.payload.signature in one buffer: the payload is base64url'd once, into
     * its place, and header.payload is the signing input as it stands. */
    size_t cl = st == TSL_OK ? TSLP_B64URL_LEN(c.len) : 0;
    size_t n = hl + 1 + cl, cap = n + SIG_ROOM;
    char *tok = NULL;
    if (st == TSL_OK && (cl < c.len || cap < n))
        st = tslp_fail(err, TSL_ERR_LIMIT, 0, "jwt: %zu bytes of claims too large", c.len);
    if (st == TSL_OK && (tok = tslp_malloc(cap)) == NULL)
        st = tslp_fail(err, TSL_ERR_NOMEM, 0, "jwt: out of memory for %zu bytes", cap);
    if (st == TSL_OK) {
        memcpy(tok, hb, hl);
        tok[hl] = '.';
        tslp_b64url_encode_into(c.data, c.len, tok + hl + 1);
    }
    tslp_buf_free(&c);
    tslp_free(hb);

    uint8_t *sig = NULL;
    size_t sig_len = 0;
    if (st == TSL_OK)
        st = tsl_signer_sign(s, (const uint8_t *)tok, n, &sig, &sig_len, err);
    if (st == TSL_OK) {
        size_t need = n + 1 + TSLP_B64URL_LEN(sig_len) + 1;
        if (need > cap) {
            char *grown = tslp_realloc(tok, need);
            if (grown == NULL)
                st = tslp_fail(err, TSL_ERR_NOMEM, 0, "jwt: out of memory");
            else
                tok = grown;
        }
    }
    if (st == TSL_OK) {
        tok[n] = '.';
        size_t sl = tslp_b64url_encode_into(sig, sig_len, tok + n + 1);
        tok[n + 1 + sl] = '\0';
        *out = (uint8_t *)tok;
        *out_len = n + 1 + sl;
        tok = NULL;
    }
    tslp_free(sig);
    tslp_free(tok);
    return st;
}

/* ---------------------------------------------------------------------------------- */
/* Parsing                                                                              */

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

/* The Status List Token's header rules on top of the JWS layer: typ first (the spec's
 * media type), then what every JWS header is checked for, then the x5c chain, kept
 * for tsl_token_verify(). */
static tsl_status parse_header(tsl_token *t, tslp_jws *j, tsl_error *err)
{
    const json_t *typ = json_object_get(j->hdr, "typ");
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
    /* The allow-list is the verifier's: tsl_token_verify() applies it. */
    tsl_status st = tslp_jws_header(j, 0, "jwt", err);
    if (st != TSL_OK)
        return st;
    t->alg = j->alg;
    t->mac = t->alg == TSL_ALG_HS256;
    if (j->kid != NULL) {
        if ((t->kid = (uint8_t *)tslp_strndup(j->kid, j->kid_len)) == NULL)
            return tslp_fail(err, TSL_ERR_NOMEM, 0, "jwt: out of memory");
        t->kid_len = j->kid_len;
    }
    tslp_x5c chain;
    st = tslp_jws_x5c(j, &chain, "jwt", err);
    if (st != TSL_OK)
        return st;
    /* The token owns the decoded certificates from here. */
    for (size_t k = 0; k < chain.n; k++) {
        t->x5c[k] = (uint8_t *)(uintptr_t)chain.der[k];
        t->x5c_len[k] = chain.der_len[k];
    }
    t->x5c_n = chain.n;
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
    tslp_jws j;
    tsl_status st = tslp_jws_open(&j, in, len, lim, "jwt", err);
    if (st == TSL_OK)
        st = parse_header(t, &j, err);
    if (st == TSL_OK)
        st = tslp_jws_payload(&j, lim, "jwt", err);
    if (st == TSL_OK)
        st = parse_claims(t, j.payload, lim, err);
    if (st == TSL_OK)
        st = tslp_jws_signature(&j, "jwt", err);
    if (st == TSL_OK) {
        /* The token keeps what tsl_token_verify() checks: the signing input and the
         * decoded signature. */
        const uint8_t *tbs = tslp_jws_tbs(&j, &t->tbs_len);
        t->tbs = (uint8_t *)tslp_strndup((const char *)tbs, t->tbs_len);
        t->sig = j.sig;
        t->sig_len = j.sig_len;
        j.sig = NULL;
        if (t->tbs == NULL)
            st = tslp_fail(err, TSL_ERR_NOMEM, 0, "jwt: out of memory");
    }
    tslp_jws_close(&j);
    return st;
}
