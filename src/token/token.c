/* token.c - Status List Tokens independent of their form: signing parameters resolved
 * once, the form detected from the bytes, and verification (alg allow-list, key
 * resolution, signature, time and sub checks) done the same way for JWT and CWT. */
#include "token/token_int.h"
#include "crypto/crypto.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---------------------------------------------------------------------------------- */
/* Signing                                                                              */

/* The checks of the claims both entries share, in the order tsl_token_sign made them. */
static tsl_status check_claims(const tsl_token_params *p, tsl_error *err)
{
    if (p->sub == NULL || p->sub[0] == '\0')
        return tslp_fail(err, TSL_ERR_ARG, 0, "sign: sub is required (the list's URI)");
    if (p->ttl < 0)
        return tslp_fail(err, TSL_ERR_ARG, 0, "sign: ttl %lld is not positive",
                         (long long)p->ttl);
    if (p->exp < 0 || p->iat < 0)
        return tslp_fail(err, TSL_ERR_ARG, 0, "sign: negative iat or exp");
    return TSL_OK;
}

static tsl_status check_x5c(const tsl_cert_chain *x5c, tsl_error *err)
{
    if (tsl_cert_chain_count(x5c) > TSL_DEFAULT_MAX_X5C)
        return tslp_fail(err, TSL_ERR_ARG, 0, "sign: more than %zu certificates",
                         TSL_DEFAULT_MAX_X5C);
    return TSL_OK;
}

/* Signs with q's claims complete but for format and iat, which default here. */
static tsl_status sign_as(const tsl_list *l, tsl_token_params q, const tsl_signer *s,
                          uint8_t **out, size_t *out_len, tsl_error *err)
{
    if (q.format == 0)
        q.format = TSL_FORMAT_JWT;
    if (q.iat == 0)
        q.iat = (int64_t)time(NULL);
    if (q.format == TSL_FORMAT_JWT)
        return tslp_jwt_sign(l, &q, s, out, out_len, err);
    if (q.format == TSL_FORMAT_CWT)
        return tslp_cwt_sign(l, &q, s, out, out_len, err);
    return tslp_fail(err, TSL_ERR_ARG, 0, "sign: unknown format %d", (int)q.format);
}

tsl_status tsl_token_sign(const tsl_list *l, const tsl_token_params *p, const tsl_key *key,
                          uint8_t **out, size_t *out_len, tsl_error *err)
{
    if (l == NULL || p == NULL || key == NULL || out == NULL || out_len == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "sign: NULL argument");
    tsl_status st = check_claims(p, err);
    if (st == TSL_OK)
        st = check_x5c(p->x5c, err);
    if (st != TSL_OK)
        return st;
    if (!tsl_key_is_private(key))
        return tslp_fail(err, TSL_ERR_KEY, 0, "sign: the key is public; signing needs the "
                                              "private key");
    tsl_alg alg = p->alg != TSL_ALG_UNKNOWN ? p->alg : tsl_key_default_alg(key);
    st = tsl_key_check_alg(key, alg, err);
    if (st != TSL_OK)
        return st;
    /* The key wrapped into a signer on the stack, borrowing everything: the same path
     * (and bytes) as an application's own signer, at no extra cost. */
    tsl_signer s;
    tslp_signer_borrow_key(&s, key, alg, p->kid != NULL ? p->kid : tsl_key_kid(key),
                           p->x5c);
    return sign_as(l, *p, &s, out, out_len, err);
}

tsl_status tsl_token_sign_with(const tsl_list *l, const tsl_token_params *p,
                               const tsl_signer *s, uint8_t **out, size_t *out_len,
                               tsl_error *err)
{
    if (l == NULL || p == NULL || s == NULL || out == NULL || out_len == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "sign: NULL argument");
    tsl_status st = check_claims(p, err);
    if (st != TSL_OK)
        return st;
    /* One source for what the header names: the signer. */
    if (p->alg != TSL_ALG_UNKNOWN || p->kid != NULL || p->x5c != NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "sign: alg, kid and x5c come from the signer; "
                                              "leave them unset in the parameters");
    if ((st = check_x5c(s->x5c, err)) != TSL_OK)
        return st;
    return sign_as(l, *p, s, out, out_len, err);
}

/* ---------------------------------------------------------------------------------- */
/* Parsing                                                                              */

tsl_status tsl_token_parse(const uint8_t *in, size_t len, const tsl_limits *lim,
                           tsl_token **out, tsl_error *err)
{
    if (out == NULL || (in == NULL && len > 0))
        return tslp_fail(err, TSL_ERR_ARG, 0, "token: NULL argument");
    tsl_limits L;
    tslp_limits_resolve(lim, &L);
    if (len > L.max_input)
        return tslp_fail(err, TSL_ERR_LIMIT, 0, "token: %zu bytes exceeds the input limit of %zu",
                         len, L.max_input);
    tsl_token *t = tslp_calloc(1, sizeof *t);
    if (t == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "token: out of memory");

    /* A CWT is binary (a CBOR tag or array head); a JWT is text with '.'; other text
     * may be a CWT written as hex or base64url. */
    tsl_status st;
    size_t a = 0, n = 0;
    uint8_t *bin = NULL;
    size_t bin_len = 0;
    switch (tslp_detect_form(in, len, &a, &n)) {
    case TSL_FORM_CBOR: st = tslp_cwt_parse(t, in, len, &L, err); break;
    case TSL_FORM_EMPTY: st = tslp_fail(err, TSL_ERR_MALFORMED, 0, "token: empty input"); break;
    case TSL_FORM_JWT:
    case TSL_FORM_SDJWT: st = tslp_jwt_parse(t, (const char *)in + a, n, &L, err); break;
    case TSL_FORM_TEXT:
        if (tslp_text_to_bytes(in + a, n, &bin, &bin_len)) {
            st = tslp_cwt_parse(t, bin, bin_len, &L, err);
            tslp_free(bin);
            break;
        }
        /* fall through */
    default:
        st = tslp_fail(err, TSL_ERR_MALFORMED, a,
                       "token: neither a JWT (three '.'-separated parts) nor a CWT "
                       "(CBOR, hex or base64url)");
        break;
    }
    if (st != TSL_OK) {
        tsl_token_free(t);
        return st;
    }
    *out = t;
    return TSL_OK;
}

void tsl_token_free(tsl_token *t)
{
    if (t == NULL)
        return;
    tslp_free(t->typ);
    tslp_free(t->kid);
    for (size_t k = 0; k < t->x5c_n; k++)
        tslp_free(t->x5c[k]);
    tslp_free(t->sub);
    tslp_free(t->iss);
    tslp_free(t->tbs);
    tslp_free(t->sig);
    tsl_list_free(t->list);
    tslp_free(t);
}

/* ---------------------------------------------------------------------------------- */
/* Verification                                                                         */

/* Verifies with the leaf of the token's certificate chain, once the chain reaches an
 * anchor. */
static tsl_status verify_x5c(const tsl_token *t, const tsl_trust_policy *p, tsl_error *err)
{
    /* p is resolved: eku_oid has its default, now is the clock or the caller's. */
    const char *eku = p->require_eku ? p->eku_oid : NULL;
    tslp_x5c chain = {.n = t->x5c_n};
    for (size_t k = 0; k < t->x5c_n; k++) {
        chain.der[k] = t->x5c[k];
        chain.der_len[k] = t->x5c_len[k];
    }
    return tslp_env_verify_chain(p->trust, &chain, p->now, eku, t->alg, t->tbs, t->tbs_len,
                                 t->sig, t->sig_len, err);
}

tsl_status tsl_token_verify(const tsl_token *t, const tsl_verify_opts *o, tsl_error *err)
{
    return tslp_token_verify_at(t, o, 0, err);
}

/* The time claims, once the signature holds. Against the clock (at == 0): exp not
 * passed and nbf not ahead, each with the skew. At a time of interest (a historical
 * check): iat <= at <= exp, the spec's rule for `?time=` (section 8.4), and nbf <= at,
 * all exact because `at` is not a clock reading. iat ahead of the clock is refused
 * either way. */
static tsl_status check_times(const tsl_token *t, int64_t now, int64_t skew, int64_t at,
                              tsl_error *err)
{
    if (at != 0) {
        if (t->iat > at)
            return tslp_fail(err, TSL_ERR_EXPIRED, 0,
                             "iat: issued at %lld, after the time asked for (%lld)",
                             (long long)t->iat, (long long)at);
        if (t->has_exp && at > t->exp)
            return tslp_fail(err, TSL_ERR_EXPIRED, 0,
                             "exp: expired at %lld, before the time asked for (%lld)",
                             (long long)t->exp, (long long)at);
        if (t->has_nbf && t->nbf > at)
            return tslp_fail(err, TSL_ERR_EXPIRED, 0,
                             "nbf: not valid before %lld, after the time asked for (%lld)",
                             (long long)t->nbf, (long long)at);
    } else {
        /* exp is the first instant the token is no longer valid (RFC 7519 4.1.4). */
        if (t->has_exp && now - skew >= t->exp)
            return tslp_fail(err, TSL_ERR_EXPIRED, 0,
                             "exp: the token expired at %lld (now %lld, skew %lld s)",
                             (long long)t->exp, (long long)now, (long long)skew);
        if (t->has_nbf && t->nbf - skew > now)
            return tslp_fail(err, TSL_ERR_EXPIRED, 0,
                             "nbf: not valid before %lld (now %lld, skew %lld s)",
                             (long long)t->nbf, (long long)now, (long long)skew);
    }
    if (t->iat > now && t->iat - now > skew)
        return tslp_fail(err, TSL_ERR_EXPIRED, 0,
                         "iat: issued at %lld, in the future (now %lld, skew %lld s)",
                         (long long)t->iat, (long long)now, (long long)skew);
    return TSL_OK;
}

tsl_status tslp_token_verify_at(const tsl_token *t, const tsl_verify_opts *o, int64_t at,
                                tsl_error *err)
{
    if (t == NULL || o == NULL || at < 0)
        return tslp_fail(err, TSL_ERR_ARG, 0, "verify: NULL argument or negative time");
    /* Trust and time are read from the resolved policy only: the clock once, the one
     * meaning of skew (capped so that now - skew cannot overflow). */
    tsl_trust_policy p;
    tslp_policy_resolve(&o->policy, &p);
    if ((p.algs & TSL_ALG_BIT(t->alg)) == 0)
        return tslp_fail(err, TSL_ERR_ALG, 0, "alg: %s is not in the allow-list",
                         tsl_alg_name(t->alg));

    tsl_status st;
    bool have_keys = p.keys != NULL && tsl_keyset_count(p.keys) > 0;
    if (t->x5c_n > 0 && p.trust != NULL) {
        st = verify_x5c(t, &p, err);
    } else if (p.require_eku) {
        return tslp_fail(err, TSL_ERR_TRUST, 0,
                         t->x5c_n > 0 ? "EKU required: the token's certificate chain needs "
                                        "trust anchors"
                                      : "EKU required, but the token carries no certificate "
                                        "chain");
    } else if (have_keys) {
        st = tslp_env_verify_keys(p.keys, t->kid, t->kid_len, t->alg, t->mac, t->tbs,
                                  t->tbs_len, t->sig, t->sig_len, NULL, err);
    } else if (t->x5c_n > 0) {
        return tslp_fail(err, TSL_ERR_TRUST, 0,
                         "the token carries a certificate chain, but no trust anchors were "
                         "given (a token's own certificates are never trusted by "
                         "themselves)");
    } else {
        return tslp_fail(err, TSL_ERR_KEY, 0, "no key to verify with");
    }
    if (st != TSL_OK)
        return st;

    /* Claims are only believed once the signature holds. */
    st = check_times(t, p.now, p.skew, at, err);
    if (st != TSL_OK)
        return st;
    if (o->sub != NULL && strcmp(o->sub, t->sub) != 0)
        return tslp_fail(err, TSL_ERR_CLAIM, 0, "sub: \"%.80s\" does not match \"%.80s\"",
                         t->sub, o->sub);
    return TSL_OK;
}

/* ---------------------------------------------------------------------------------- */
/* Accessors                                                                            */

tsl_format tsl_token_format(const tsl_token *t)
{
    return t->format;
}

tsl_alg tsl_token_alg(const tsl_token *t)
{
    return t->alg;
}

const uint8_t *tsl_token_kid(const tsl_token *t, size_t *len)
{
    if (len != NULL)
        *len = t->kid_len;
    return t->kid;
}

const char *tsl_token_sub(const tsl_token *t)
{
    return t->sub;
}

const char *tsl_token_iss(const tsl_token *t)
{
    return t->iss;
}

int64_t tsl_token_iat(const tsl_token *t)
{
    return t->iat;
}

int tsl_token_exp(const tsl_token *t, int64_t *v)
{
    if (t->has_exp && v != NULL)
        *v = t->exp;
    return t->has_exp;
}

int tsl_token_ttl(const tsl_token *t, int64_t *v)
{
    if (t->has_ttl && v != NULL)
        *v = t->ttl;
    return t->has_ttl;
}

const tsl_list *tsl_token_list(const tsl_token *t)
{
    return t->list;
}

/* A kid for display: itself if printable ASCII, else hex. */
static json_t *kid_json(const tsl_token *t)
{
    bool printable = true;
    for (size_t k = 0; k < t->kid_len; k++)
        printable = printable && t->kid[k] >= 0x20 && t->kid[k] < 0x7F;
    if (printable)
        return json_stringn((const char *)t->kid, t->kid_len);
    char *hex = tslp_malloc(t->kid_len * 2 + 1);
    if (hex == NULL)
        return NULL;
    for (size_t k = 0; k < t->kid_len; k++)
        snprintf(hex + 2 * k, 3, "%02x", t->kid[k]);
    json_t *v = json_pack("{s:s}", "hex", hex);
    tslp_free(hex);
    return v;
}

tsl_status tsl_token_to_json(const tsl_token *t, char **out, tsl_error *err)
{
    if (t == NULL || out == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "token: NULL argument");
    json_t *h = json_pack("{s:s,s:s?}", "alg", tsl_alg_name(t->alg), "typ", t->typ);
    json_t *c = json_pack("{s:s,s:I}", "sub", t->sub, "iat", (json_int_t)t->iat);
    json_t *o = json_object();
    int bad = h == NULL || c == NULL || o == NULL;
    if (!bad && t->kid != NULL)
        bad = json_object_set_new(h, "kid", kid_json(t)) != 0;
    if (!bad && t->x5c_n > 0)
        bad = json_object_set_new(h, "x5c_certificates", json_integer((json_int_t)t->x5c_n));
    if (!bad && t->has_exp)
        bad = json_object_set_new(c, "exp", json_integer(t->exp)) != 0;
    if (!bad && t->has_ttl)
        bad = json_object_set_new(c, "ttl", json_integer(t->ttl)) != 0;
    if (!bad && t->iss != NULL)
        bad = json_object_set_new(c, "iss", json_string(t->iss)) != 0;
    if (!bad) {
        size_t raw;
        tsl_list_bytes(t->list, &raw);
        json_t *sl = json_pack("{s:i,s:I,s:I,s:I}", "bits", (int)tsl_list_bits(t->list),
                               "entries", (json_int_t)tsl_list_size(t->list), "compressed_bytes",
                               (json_int_t)tsl_list_compressed_size(t->list), "raw_bytes",
                               (json_int_t)raw);
        const char *agg = tsl_list_aggregation_uri(t->list);
        if (sl != NULL && agg != NULL)
            json_object_set_new(sl, "aggregation_uri", json_string(agg));
        bad = sl == NULL || json_object_set_new(c, "status_list", sl) != 0;
    }
    if (!bad) {
        bad = json_object_set_new(o, "format", json_string(t->format == TSL_FORMAT_JWT ? "jwt"
                                                                                       : "cwt"));
        bad = bad || json_object_set_new(o, "header", h) != 0;
        h = NULL;
        bad = bad || json_object_set_new(o, "claims", c) != 0;
        c = NULL;
    }
    json_decref(h);
    json_decref(c);
    char *text = bad ? NULL : json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (text == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "token: out of memory (or a claim is not "
                                                "UTF-8)");
    size_t n = strlen(text);
    *out = tslp_strndup(text, n);
    free(text);
    return *out != NULL ? TSL_OK : tslp_fail(err, TSL_ERR_NOMEM, 0, "token: out of memory");
}
