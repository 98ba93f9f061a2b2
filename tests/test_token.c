/* test_token.c - Status List Tokens: the spec's JWT and CWT verify with the kid-12 key
 * and decode to their statuses; every derived token case in
 * derived_negative_and_edge_cases.json is accepted or rejected for its stated reason;
 * sign/parse/verify round trips for every algorithm in both forms; the checks of
 * tsl_token_verify() one by one, nbf and the skew on exp and nbf in both forms, the
 * range of a JWT's ttl. */
#include "codec/cbor_write_int.h"
#include "crypto/crypto.h"
#include "tt.h"

#include <jansson.h>
#include <stdlib.h>

#define VEC "testvectors/"

/* The spec's example key (P-256, kid "12"), public half, from its PEM. */
static tsl_key *example_key(void)
{
    size_t n;
    unsigned char *pem = tt_read_file(VEC "keys/example_es256_kid12.public.pem", &n);
    tsl_key *k = NULL;
    if (tsl_key_from_pem((const char *)pem, n, &k, NULL) == TSL_OK)
        tsl_key_set_kid(k, "12", NULL);
    free(pem);
    return k;
}

static tsl_keyset *example_keyset(void)
{
    tsl_keyset *s = NULL;
    tsl_key *k = example_key();
    if (k == NULL || tsl_keyset_new(&s, NULL) != TSL_OK || tsl_keyset_add(s, k, NULL) != TSL_OK) {
        tsl_key_free(k);
        tsl_keyset_free(s);
        return NULL;
    }
    tsl_key_free(k);
    return s;
}

TT_TEST(token_spec_jwt_8_2)
{
    json_t *v = tt_load_json(VEC "sec8_2_status_list_token_jwt.json");
    TT_CHECK(v != NULL);
    const char *jws = json_string_value(json_object_get(v, "compact_jws"));
    tsl_token *t;
    TT_OK(tsl_token_parse((const uint8_t *)jws, strlen(jws), NULL, &t, NULL));
    tsl_keyset *ks = example_keyset();
    TT_CHECK(ks != NULL);
    tsl_verify_opts o;
    memset(&o, 0, sizeof o);
    o.policy.keys = ks;
    o.sub = "https://example.com/statuslists/1";
    o.policy.now = 1700000000;
    tsl_error err;
    tsl_error_clear(&err);
    tsl_status st = tsl_token_verify(t, &o, &err);
    if (st != TSL_OK)
        fprintf(stderr, "  %s\n", err.msg);
    TT_OK(st);
    TT_EQ_U(tsl_token_format(t), TSL_FORMAT_JWT);
    TT_EQ_U(tsl_token_alg(t), TSL_ALG_ES256);
    TT_EQ_STR(tsl_token_iss(t), "https://example.com");
    int64_t exp = 0, ttl = 0;
    TT_CHECK(tsl_token_exp(t, &exp) && exp == 2291720170);
    TT_CHECK(tsl_token_ttl(t, &ttl) && ttl == 43200);
    json_t *lookups = json_object_get(v, "expected_lookups");
    TT_CHECK(json_array_size(lookups) == 16);
    for (size_t k = 0; k < json_array_size(lookups); k++) {
        json_t *e = json_array_get(lookups, k);
        unsigned val;
        TT_OK(tsl_list_get(tsl_token_list(t), (uint64_t)json_integer_value(json_object_get(e, "idx")),
                           &val, NULL));
        TT_EQ_U(val, json_integer_value(json_object_get(e, "status")));
    }
    /* The same token against another uri, or after exp, or with ES256 not allowed. */
    o.sub = "https://example.com/statuslists/2";
    TT_ERR(tsl_token_verify(t, &o, NULL), TSL_ERR_CLAIM);
    o.sub = NULL;
    o.policy.now = 2291720170;
    TT_ERR(tsl_token_verify(t, &o, NULL), TSL_ERR_EXPIRED);
    o.policy.now = 1686920170 - 10;
    TT_ERR(tsl_token_verify(t, &o, NULL), TSL_ERR_EXPIRED); /* iat in the future */
    o.policy.skew = 10;
    TT_OK(tsl_token_verify(t, &o, NULL));
    o.policy.algs = TSL_ALG_BIT(TSL_ALG_EDDSA);
    TT_ERR(tsl_token_verify(t, &o, NULL), TSL_ERR_ALG);
    tsl_token_free(t);
    tsl_keyset_free(ks);
    json_decref(v);
}

TT_TEST(token_spec_cwt_5_2)
{
    json_t *v = tt_load_json(VEC "sec5_2_status_list_token_cwt.json");
    TT_CHECK(v != NULL);
    size_t n;
    uint8_t *b = tt_unhex(json_string_value(json_object_get(v, "cose_sign1_tagged_hex")), &n);
    tsl_token *t;
    TT_OK(tsl_token_parse(b, n, NULL, &t, NULL));
    tsl_keyset *ks = example_keyset();
    tsl_verify_opts o;
    memset(&o, 0, sizeof o);
    o.policy.keys = ks;
    o.sub = "https://example.com/statuslists/1";
    o.policy.now = 1700000000;
    TT_OK(tsl_token_verify(t, &o, NULL));
    TT_EQ_U(tsl_token_format(t), TSL_FORMAT_CWT);
    size_t kl;
    const uint8_t *kid = tsl_token_kid(t, &kl);
    TT_CHECK(kl == 2 && memcmp(kid, "12", 2) == 0);
    unsigned val;
    TT_OK(tsl_list_get(tsl_token_list(t), 0, &val, NULL));
    TT_EQ_U(val, 1);
    TT_OK(tsl_list_get(tsl_token_list(t), 1, &val, NULL));
    TT_EQ_U(val, 0);
    tsl_token_free(t);
    /* The same bytes as hex text and as base64url text are detected. */
    const char *hex = json_string_value(json_object_get(v, "cose_sign1_tagged_hex"));
    TT_OK(tsl_token_parse((const uint8_t *)hex, strlen(hex), NULL, &t, NULL));
    TT_OK(tsl_token_verify(t, &o, NULL));
    tsl_token_free(t);
    char *b64;
    size_t bl;
    TT_OK(tsl_b64url_encode(b, n, &b64, &bl, NULL));
    TT_OK(tsl_token_parse((const uint8_t *)b64, bl, NULL, &t, NULL));
    TT_OK(tsl_token_verify(t, &o, NULL));
    tsl_token_free(t);
    tsl_free(b64);
    /* One flipped signature bit. */
    b[n - 1] ^= 1;
    TT_OK(tsl_token_parse(b, n, NULL, &t, NULL));
    TT_ERR(tsl_token_verify(t, &o, NULL), TSL_ERR_SIGNATURE);
    tsl_token_free(t);
    free(b);
    tsl_keyset_free(ks);
    json_decref(v);
}

/* What each derived case must give, and a word its message must contain. */
static const struct {
    const char *name;
    tsl_status code;
    const char *why;
} expect_jwt[] = {
    {"valid", TSL_OK, NULL},
    {"typ-missing", TSL_ERR_TYP, "typ: missing"},
    {"typ-JWT", TSL_ERR_TYP, "\"JWT\""},
    {"typ-full-media-type", TSL_OK, NULL},
    {"sub-mismatch", TSL_ERR_CLAIM, "does not match"},
    {"expired", TSL_ERR_EXPIRED, "exp"},
    {"missing-iat", TSL_ERR_CLAIM, "iat: missing"},
    {"missing-sub", TSL_ERR_CLAIM, "sub: missing"},
    {"missing-status_list", TSL_ERR_CLAIM, "status_list: missing"},
    {"ttl-zero", TSL_ERR_CLAIM, "ttl"},
    {"no-exp-no-ttl", TSL_OK, NULL},
    {"alg-none", TSL_ERR_ALG, "none"},
    {"bad-signature", TSL_ERR_SIGNATURE, "does not verify"},
}, expect_cwt[] = {
    {"valid", TSL_OK, NULL},
    {"wrapped-in-CWT-tag-61", TSL_ERR_MALFORMED, "tag 61"},
    {"untagged-COSE_Sign1", TSL_ERR_MALFORMED, "untagged"},
    {"typ-short-form", TSL_ERR_TYP, "statuslist+cwt"},
    {"typ-in-unprotected-only", TSL_ERR_TYP, "protected"},
    {"status-list-under-65535", TSL_ERR_CLAIM, "65533"},
    {"lst-as-text-base64url", TSL_ERR_MALFORMED, "byte string"},
    {"sub-mismatch", TSL_ERR_CLAIM, "does not match"},
};

/* Parses and verifies one derived case the way a relying party would. */
static tsl_status run_case(const uint8_t *b, size_t n, const char *uri, int64_t now,
                           tsl_error *err)
{
    tsl_token *t = NULL;
    tsl_status st = tsl_token_parse(b, n, NULL, &t, err);
    if (st != TSL_OK)
        return st;
    tsl_keyset *ks = example_keyset();
    tsl_verify_opts o;
    memset(&o, 0, sizeof o);
    o.policy.keys = ks;
    o.sub = uri;
    o.policy.now = now;
    st = tsl_token_verify(t, &o, err);
    tsl_keyset_free(ks);
    tsl_token_free(t);
    return st;
}

TT_TEST(token_derived_jwt_cases)
{
    json_t *v = tt_load_json(VEC "derived_negative_and_edge_cases.json");
    json_t *cases = json_object_get(v, "jwt_cases");
    TT_CHECK(json_array_size(cases) >= 10);
    for (size_t k = 0; k < json_array_size(cases); k++) {
        json_t *c = json_array_get(cases, k);
        const char *name = json_string_value(json_object_get(c, "name"));
        size_t e = 0;
        while (e < sizeof expect_jwt / sizeof expect_jwt[0] && strcmp(expect_jwt[e].name, name))
            e++;
        if (e == sizeof expect_jwt / sizeof expect_jwt[0]) {
            tt_failf(__FILE__, __LINE__, "jwt case %s has no expectation here", name);
            return;
        }
        const char *jws = json_string_value(json_object_get(c, "compact_jws"));
        const char *uri = json_string_value(json_object_get(c, "referenced_token_uri"));
        json_t *vt = json_object_get(c, "verification_time");
        int64_t now = vt ? (int64_t)strtoll(json_is_string(vt) ? json_string_value(vt) : "0",
                                            NULL, 10)
                         : 0;
        if (json_is_integer(vt))
            now = (int64_t)json_integer_value(vt);
        tsl_error err;
        tsl_error_clear(&err);
        tsl_status st = run_case((const uint8_t *)jws, strlen(jws),
                                 uri ? uri : "https://example.com/statuslists/1", now, &err);
        if (st != expect_jwt[e].code) {
            tt_failf(__FILE__, __LINE__, "jwt case %s: %s (%s), expected %s", name,
                     tsl_strerror(st), err.msg, tsl_strerror(expect_jwt[e].code));
            return;
        }
        if (expect_jwt[e].why != NULL)
            TT_CONTAINS(err.msg, expect_jwt[e].why);
    }
    json_decref(v);
}

TT_TEST(token_derived_cwt_cases)
{
    json_t *v = tt_load_json(VEC "derived_negative_and_edge_cases.json");
    json_t *cases = json_object_get(v, "cwt_cases");
    TT_CHECK(json_array_size(cases) >= 5);
    for (size_t k = 0; k < json_array_size(cases); k++) {
        json_t *c = json_array_get(cases, k);
        const char *name = json_string_value(json_object_get(c, "name"));
        size_t e = 0;
        while (e < sizeof expect_cwt / sizeof expect_cwt[0] && strcmp(expect_cwt[e].name, name))
            e++;
        if (e == sizeof expect_cwt / sizeof expect_cwt[0]) {
            tt_failf(__FILE__, __LINE__, "cwt case %s has no expectation here", name);
            return;
        }
        size_t n;
        uint8_t *b = tt_unhex(json_string_value(json_object_get(c, "hex")), &n);
        tsl_error err;
        tsl_error_clear(&err);
        tsl_status st = run_case(b, n, "https://example.com/statuslists/1", 1700000000, &err);
        free(b);
        if (st != expect_cwt[e].code) {
            tt_failf(__FILE__, __LINE__, "cwt case %s: %s (%s), expected %s", name,
                     tsl_strerror(st), err.msg, tsl_strerror(expect_cwt[e].code));
            return;
        }
        if (expect_cwt[e].why != NULL)
            TT_CONTAINS(err.msg, expect_cwt[e].why);
    }
    json_decref(v);
}

/* A small list with a known pattern, for round trips. */
static tsl_list *pattern_list(unsigned bits, uint64_t n)
{
    tsl_list *l = NULL;
    if (tsl_list_new(bits, n, &l, NULL) != TSL_OK)
        return NULL;
    for (uint64_t i = 0; i < n; i += 3)
        tsl_list_set(l, i, (unsigned)(i / 3 % (1u << bits)), NULL);
    return l;
}

TT_TEST(token_roundtrip_every_alg_both_forms)
{
    tsl_list *l = pattern_list(2, 1000);
    TT_CHECK(l != NULL);
    for (int a = TSL_ALG_ES256; a <= TSL_ALG_HS256; a++) {
        tsl_key *k;
        TT_OK(tsl_key_generate((tsl_alg)a, &k, NULL));
        TT_OK(tsl_key_set_kid(k, "k1", NULL));
        tsl_keyset *ks;
        TT_OK(tsl_keyset_new(&ks, NULL));
        TT_OK(tsl_keyset_add(ks, k, NULL));
        for (int f = TSL_FORMAT_JWT; f <= TSL_FORMAT_CWT; f++) {
            tsl_token_params p;
            memset(&p, 0, sizeof p);
            p.format = (tsl_format)f;
            p.sub = "https://example.com/lists/7";
            p.iat = 1700000000;
            p.exp = 1700086400;
            p.ttl = 300;
            p.level = 6;
            uint8_t *tok;
            size_t tl;
            TT_OK(tsl_token_sign(l, &p, k, &tok, &tl, NULL));
            if (f == TSL_FORMAT_CWT)
                TT_EQ_U(tok[0], a == TSL_ALG_HS256 ? 0xD1 : 0xD2); /* tag 17 or 18 */
            tsl_token *t;
            TT_OK(tsl_token_parse(tok, tl, NULL, &t, NULL));
            tsl_verify_opts o;
            memset(&o, 0, sizeof o);
            o.policy.keys = ks;
            o.sub = p.sub;
            o.policy.now = 1700000100;
            o.policy.algs = TSL_ALGS_SIGNATURE | TSL_ALG_BIT(TSL_ALG_HS256);
            tsl_error err;
            tsl_error_clear(&err);
            tsl_status st = tsl_token_verify(t, &o, &err);
            if (st != TSL_OK)
                tt_failf(__FILE__, __LINE__, "%s %s: %s", tsl_alg_name((tsl_alg)a),
                         f == TSL_FORMAT_JWT ? "jwt" : "cwt", err.msg);
            TT_OK(st);
            TT_EQ_U(tsl_token_alg(t), a);
            TT_EQ_U(tsl_token_iat(t), p.iat);
            size_t n1, n2;
            const uint8_t *b1 = tsl_list_bytes(l, &n1);
            const uint8_t *b2 = tsl_list_bytes(tsl_token_list(t), &n2);
            TT_EQ_U(n1, n2);
            TT_EQ_MEM(b2, b1, n1);
            /* HS256 is a MAC: not allowed unless asked for. */
            o.policy.algs = 0;
            TT_ERR(tsl_token_verify(t, &o, NULL),
                   a == TSL_ALG_HS256 ? TSL_ERR_ALG : TSL_OK);
            tsl_token_free(t);
            /* Tampering with any byte of the signed part breaks the signature. */
            size_t at = f == TSL_FORMAT_JWT ? 20 : tl / 2;
            tok[at] ^= 0x01;
            if (tsl_token_parse(tok, tl, NULL, &t, NULL) == TSL_OK) {
                o.policy.algs = TSL_ALGS_SIGNATURE | TSL_ALG_BIT(TSL_ALG_HS256);
                TT_CHECK(tsl_token_verify(t, &o, NULL) != TSL_OK);
                tsl_token_free(t);
            }
            tsl_free(tok);
        }
        tsl_keyset_free(ks);
        tsl_key_free(k);
    }
    tsl_list_free(l);
}

TT_TEST(token_key_resolution)
{
    tsl_list *l = pattern_list(1, 64);
    tsl_key *k, *other;
    TT_OK(tsl_key_generate(TSL_ALG_ES256, &k, NULL));
    TT_OK(tsl_key_generate(TSL_ALG_ES256, &other, NULL));
    TT_OK(tsl_key_set_kid(k, "right", NULL));
    TT_OK(tsl_key_set_kid(other, "wrong", NULL));
    tsl_token_params p;
    memset(&p, 0, sizeof p);
    p.sub = "https://x/1";
    uint8_t *tok;
    size_t tl;
    TT_OK(tsl_token_sign(l, &p, k, &tok, &tl, NULL));
    tsl_token *t;
    TT_OK(tsl_token_parse(tok, tl, NULL, &t, NULL));
    size_t kl;
    TT_CHECK(memcmp(tsl_token_kid(t, &kl), "right", 5) == 0); /* the key's kid is used */

    tsl_keyset *ks;
    TT_OK(tsl_keyset_new(&ks, NULL));
    tsl_verify_opts o;
    memset(&o, 0, sizeof o);
    o.policy.keys = ks;
    tsl_error err;
    tsl_error_clear(&err);
    TT_ERR(tsl_token_verify(t, &o, &err), TSL_ERR_KEY); /* empty set */
    TT_OK(tsl_keyset_add(ks, other, NULL));
    tsl_error_clear(&err);
    TT_ERR(tsl_token_verify(t, &o, &err), TSL_ERR_KEY); /* no key with that kid */
    TT_CONTAINS(err.msg, "kid \"right\"");
    /* The right key material under the wrong kid still does not verify... */
    TT_OK(tsl_key_set_kid(other, "right", NULL));
    tsl_error_clear(&err);
    TT_ERR(tsl_token_verify(t, &o, &err), TSL_ERR_SIGNATURE);
    tsl_keyset_free(ks);
    /* ...and the right key does. A public copy is enough to verify. */
    char *jwk;
    TT_OK(tsl_key_to_public_jwk(k, &jwk, NULL));
    tsl_key *pub;
    TT_OK(tsl_key_from_jwk(jwk, strlen(jwk), &pub, NULL));
    TT_CHECK(!tsl_key_is_private(pub));
    TT_OK(tsl_keyset_new(&ks, NULL));
    TT_OK(tsl_keyset_add(ks, pub, NULL));
    o.policy.keys = ks;
    TT_OK(tsl_token_verify(t, &o, NULL));
    /* A token with no kid is tried against every key. */
    tsl_token_free(t);
    tsl_free(tok);
    TT_OK(tsl_key_set_kid(k, NULL, NULL));
    TT_OK(tsl_token_sign(l, &p, k, &tok, &tl, NULL));
    TT_OK(tsl_token_parse(tok, tl, NULL, &t, NULL));
    TT_CHECK(tsl_token_kid(t, &kl) == NULL);
    TT_OK(tsl_token_verify(t, &o, NULL));
    /* Without any key or trust anchor nothing verifies. */
    o.policy.keys = NULL;
    TT_ERR(tsl_token_verify(t, &o, NULL), TSL_ERR_KEY);
    o.policy.require_eku = 1;
    TT_ERR(tsl_token_verify(t, &o, NULL), TSL_ERR_TRUST);
    /* Signing needs the private key and a matching alg. */
    p.alg = TSL_ALG_ES384;
    TT_ERR(tsl_token_sign(l, &p, k, &tok, &tl, NULL), TSL_ERR_KEY);
    p.alg = TSL_ALG_UNKNOWN;
    TT_ERR(tsl_token_sign(l, &p, pub, &tok, &tl, NULL), TSL_ERR_KEY);
    p.sub = NULL;
    TT_ERR(tsl_token_sign(l, &p, k, &tok, &tl, NULL), TSL_ERR_ARG);
    tsl_token_free(t);
    tsl_free(tok);
    tsl_free(jwk);
    tsl_keyset_free(ks);
    tsl_key_free(pub);
    tsl_key_free(k);
    tsl_key_free(other);
    tsl_list_free(l);
}

TT_TEST(token_parse_rejections)
{
    static const struct {
        const char *in;
        tsl_status code;
        const char *why;
    } bad[] = {
        {"", TSL_ERR_MALFORMED, "empty"},
        {"not a token", TSL_ERR_MALFORMED, "neither"},
        {"a.b", TSL_ERR_MALFORMED, "three"},
        {"a.b.c.d.e", TSL_ERR_MALFORMED, "JWE"},
        /* {"alg":"ES256","typ":"statuslist+jwt","crit":["exp"]} */
        {"eyJhbGciOiJFUzI1NiIsInR5cCI6InN0YXR1c2xpc3Qrand0IiwiY3JpdCI6WyJleHAiXX0.e30.AA",
         TSL_ERR_UNSUPPORTED, "crit"},
        /* {"alg":"HS999","typ":"statuslist+jwt"} */
        {"eyJhbGciOiJIUzk5OSIsInR5cCI6InN0YXR1c2xpc3Qrand0In0.e30.AA", TSL_ERR_ALG, "HS999"},
        /* {"alg":"ES256","typ":"statuslist+jwt"} . [] */
        {"eyJhbGciOiJFUzI1NiIsInR5cCI6InN0YXR1c2xpc3Qrand0In0.W10.AA", TSL_ERR_MALFORMED,
         "not a JSON object"},
        /* header is not base64url */
        {"ey+J.e30.AA", TSL_ERR_MALFORMED, "jwt header: base64url"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        tsl_token *t = NULL;
        tsl_error err;
        tsl_error_clear(&err);
        TT_ERR(tsl_token_parse((const uint8_t *)bad[k].in, strlen(bad[k].in), NULL, &t, &err),
               bad[k].code);
        TT_CHECK(t == NULL);
        TT_CONTAINS(err.msg, bad[k].why);
    }
    /* COSE_Sign (98) and a Sign1 with a MAC alg are named. */
    static const uint8_t sign98[] = {0xD8, 0x62, 0x84, 0x40, 0xA0, 0x40, 0x80};
    tsl_token *t = NULL;
    tsl_error err;
    tsl_error_clear(&err);
    TT_ERR(tsl_token_parse(sign98, sizeof sign98, NULL, &t, &err), TSL_ERR_MALFORMED);
    TT_CONTAINS(err.msg, "COSE_Sign (98)");
}

TT_TEST(token_to_json)
{
    tsl_list *l = pattern_list(4, 10);
    tsl_key *k;
    TT_OK(tsl_key_generate(TSL_ALG_EDDSA, &k, NULL));
    tsl_token_params p;
    memset(&p, 0, sizeof p);
    p.format = TSL_FORMAT_CWT;
    p.sub = "https://x/2";
    p.iss = "https://issuer";
    p.kid = "\x01\x02";
    p.iat = 1;
    uint8_t *tok;
    size_t tl;
    TT_OK(tsl_token_sign(l, &p, k, &tok, &tl, NULL));
    tsl_token *t;
    TT_OK(tsl_token_parse(tok, tl, NULL, &t, NULL));
    char *j;
    TT_OK(tsl_token_to_json(t, &j, NULL));
    TT_CONTAINS(j, "\"format\":\"cwt\"");
    TT_CONTAINS(j, "\"alg\":\"EdDSA\"");
    TT_CONTAINS(j, "\"kid\":{\"hex\":\"0102\"}");
    TT_CONTAINS(j, "\"iss\":\"https://issuer\"");
    TT_CONTAINS(j, "\"bits\":4");
    tsl_free(j);
    tsl_token_free(t);
    tsl_free(tok);
    tsl_key_free(k);
    tsl_list_free(l);
}

/* header.payload.AA with both parts base64url-encoded from JSON text; free with free(). */
static char *jwt_of(const char *header, const char *payload)
{
    char *h = NULL, *p = NULL;
    if (tsl_b64url_encode((const uint8_t *)header, strlen(header), &h, NULL, NULL) != TSL_OK ||
        tsl_b64url_encode((const uint8_t *)payload, strlen(payload), &p, NULL, NULL) != TSL_OK) {
        tsl_free(h);
        return NULL;
    }
    size_t n = strlen(h) + strlen(p) + 5;
    char *t = malloc(n);
    if (t != NULL)
        snprintf(t, n, "%s.%s.AA", h, p);
    tsl_free(h);
    tsl_free(p);
    return t;
}

/* Issue 10 item 19: JWT parsing ignored the caller's tsl_limits, so a claim nested 9
 * deep passed with max_depth 3 (the CWT path refused it). */
TT_TEST(token_jwt_honours_max_depth)
{
    static const char hdr[] = "{\"alg\":\"ES256\",\"typ\":\"statuslist+jwt\"}";
    char *deep = jwt_of(hdr, "{\"sub\":\"https://x/1\",\"iat\":1,"
                             "\"status_list\":{\"bits\":1,\"lst\":\"eNrbuRgAAhcBXQ\"},"
                             "\"x\":[[[[[[[[[0]]]]]]]]]}");
    char *flat = jwt_of(hdr, "{\"sub\":\"https://x/1\",\"iat\":1,"
                             "\"status_list\":{\"bits\":1,\"lst\":\"eNrbuRgAAhcBXQ\"}}");
    char *deep_hdr = jwt_of("{\"alg\":\"ES256\",\"typ\":\"statuslist+jwt\",\"h\":[[[[1]]]]}",
                            "{\"sub\":\"https://x/1\",\"iat\":1,"
                            "\"status_list\":{\"bits\":1,\"lst\":\"eNrbuRgAAhcBXQ\"}}");
    TT_CHECK(deep != NULL && flat != NULL && deep_hdr != NULL);
    tsl_limits lim;
    tsl_limits_default(&lim);
    lim.max_depth = 3;
    tsl_token *t = NULL;
    tsl_error err;
    tsl_error_clear(&err);
    TT_ERR(tsl_token_parse((const uint8_t *)deep, strlen(deep), &lim, &t, &err), TSL_ERR_LIMIT);
    TT_CHECK(t == NULL);
    TT_CONTAINS(err.msg, "jwt payload: nested deeper than 3 levels");
    tsl_error_clear(&err);
    TT_ERR(tsl_token_parse((const uint8_t *)deep_hdr, strlen(deep_hdr), &lim, &t, &err),
           TSL_ERR_LIMIT);
    TT_CONTAINS(err.msg, "jwt header: nested deeper than 3 levels");
    /* Within the limit, and the same deep token under the default limit of 16. */
    TT_OK(tsl_token_parse((const uint8_t *)flat, strlen(flat), &lim, &t, NULL));
    tsl_token_free(t);
    TT_OK(tsl_token_parse((const uint8_t *)deep, strlen(deep), NULL, &t, NULL));
    tsl_token_free(t);
    /* max_input too: the payload alone is larger than a 64-byte limit. */
    lim.max_depth = 0;
    lim.max_input = 64;
    tsl_error_clear(&err);
    tsl_status st = tsl_token_parse((const uint8_t *)flat, strlen(flat), &lim, &t, &err);
    TT_EQ_U(st, TSL_ERR_LIMIT);
    free(deep);
    free(flat);
    free(deep_hdr);
}

/* Issue 10 item 19: a JWK marked "use":"enc", or with "key_ops" lacking "verify", was
 * used to verify Status List Tokens. In a JWKS it is now skipped, so a token signed by
 * that key finds no key; the same key marked "use":"sig" verifies it. */
TT_TEST(token_jwks_key_purpose)
{
    tsl_list *l = pattern_list(1, 16);
    tsl_key *k = NULL, *other = NULL;
    TT_OK(tsl_key_generate(TSL_ALG_ES256, &k, NULL));
    TT_OK(tsl_key_generate(TSL_ALG_ES256, &other, NULL));
    TT_OK(tsl_key_set_kid(k, "k1", NULL));
    TT_OK(tsl_key_set_kid(other, "k2", NULL));
    tsl_token_params p;
    memset(&p, 0, sizeof p);
    p.sub = "https://x/1";
    uint8_t *tok = NULL;
    size_t tl = 0;
    TT_OK(tsl_token_sign(l, &p, k, &tok, &tl, NULL));
    tsl_token *t = NULL;
    TT_OK(tsl_token_parse(tok, tl, NULL, &t, NULL));
    char *kj = NULL, *oj = NULL;
    TT_OK(tsl_key_to_public_jwk(k, &kj, NULL));
    TT_OK(tsl_key_to_public_jwk(other, &oj, NULL));
    static const char *const marks[] = {"\"use\":\"enc\"", "\"key_ops\":[\"sign\"]",
                                        "\"use\":\"sig\"", "\"key_ops\":[\"verify\"]"};
    for (size_t i = 0; i < 4; i++) {
        char jwks[1024];
        snprintf(jwks, sizeof jwks, "{\"keys\":[{%s,%s,%s]}", marks[i], kj + 1, oj);
        tsl_keyset *ks = NULL;
        TT_OK(tsl_keyset_new(&ks, NULL));
        TT_OK(tsl_keyset_add_jwks(ks, jwks, strlen(jwks), NULL));
        tsl_verify_opts o;
        memset(&o, 0, sizeof o);
        o.policy.keys = ks;
        tsl_error err;
        tsl_error_clear(&err);
        tsl_status st = tsl_token_verify(t, &o, &err);
        tsl_keyset_free(ks);
        if (i < 2 && st != TSL_ERR_KEY) {
            tt_failf(__FILE__, __LINE__, "%s: verify -> %s, expected no key", marks[i],
                     tsl_strerror(st));
            return;
        }
        if (i >= 2 && st != TSL_OK) {
            tt_failf(__FILE__, __LINE__, "%s: verify -> %s: %s", marks[i], tsl_strerror(st),
                     err.msg);
            return;
        }
    }
    tsl_free(kj);
    tsl_free(oj);
    tsl_token_free(t);
    tsl_free(tok);
    tsl_key_free(k);
    tsl_key_free(other);
    tsl_list_free(l);
}

/* Issue 10 item 20: a CWT made by the npm package @owf/token-status-list 0.3 (see
 * testvectors/owf/make_cwt.cjs) writes exp, ttl and aggregation_uri as undefined
 * (0xf7) when absent; tsl refused every such token. It verifies with the key that
 * signed it (the spec's kid-12 key) and reads the spec's section 4.1 statuses. */
TT_TEST(token_owf_npm_cwt)
{
    size_t n;
    unsigned char *b = tt_read_file(VEC "owf/owf_0.3.0_es256.cwt", &n);
    tsl_token *t = NULL;
    tsl_error err;
    tsl_error_clear(&err);
    tsl_status st = tsl_token_parse(b, n, NULL, &t, &err);
    free(b);
    if (st != TSL_OK) {
        tt_failf(__FILE__, __LINE__, "parse: %s", err.msg);
        return;
    }
    TT_EQ_U(tsl_token_format(t), TSL_FORMAT_CWT);
    TT_EQ_STR(tsl_token_sub(t), "https://example.com/statuslists/owf");
    TT_EQ_U(tsl_token_iat(t), 1750000000);
    int64_t v;
    TT_CHECK(!tsl_token_exp(t, &v));
    TT_CHECK(!tsl_token_ttl(t, &v));
    TT_CHECK(tsl_list_aggregation_uri(tsl_token_list(t)) == NULL);
    tsl_keyset *ks = example_keyset();
    TT_CHECK(ks != NULL);
    tsl_verify_opts o;
    memset(&o, 0, sizeof o);
    o.policy.keys = ks;
    o.sub = "https://example.com/statuslists/owf";
    tsl_error_clear(&err);
    st = tsl_token_verify(t, &o, &err);
    tsl_keyset_free(ks);
    if (st != TSL_OK) {
        tsl_token_free(t);
        tt_failf(__FILE__, __LINE__, "verify: %s", err.msg);
        return;
    }
    static const unsigned want[16] = {1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 1, 0, 1};
    TT_EQ_U(tsl_list_size(tsl_token_list(t)), 16);
    for (uint64_t i = 0; i < 16; i++) {
        unsigned s = 9;
        TT_OK(tsl_list_get(tsl_token_list(t), i, &s, NULL));
        TT_EQ_U(s, want[i]);
    }
    tsl_token_free(t);
}

/* A COSE_Sign1 CWT (its signature is zeros: parsing does not check it) whose
 * unprotected header is {4: kid} (kid: its encoded value, NULL for h'6b31') and `un`
 * more entries `uh`, and whose claims are {2: "s", 6: 1, 65533: StatusList} and `cn`
 * more entries `cl`. Returns the length. */
static size_t cwt_with(uint8_t *out, const uint8_t *kid, unsigned un, const uint8_t *uh,
                       size_t uhl, unsigned cn, const uint8_t *cl, size_t cll)
{
    static const uint8_t prot[] = {0x58, 0x20, 0xa2, 0x01, 0x26, 0x10, 0x78, 0x1a, 'a', 'p',
                                   'p',  'l',  'i',  'c',  'a',  't',  'i',  'o',  'n',  '/',
                                   's',  't',  'a',  't',  'u',  's',  'l',  'i',  's',  't',
                                   '+',  'c',  'w',  't'};
    static const uint8_t claims[] = {0x02, 0x61, 's',  0x06, 0x01, 0x19, 0xff, 0xfd, 0xa2,
                                     0x64, 'b',  'i',  't',  's',  0x01, 0x63, 'l',  's',
                                     't',  0x4a, 0x78, 0xda, 0xdb, 0xb9, 0x18, 0x00, 0x02,
                                     0x17, 0x01, 0x5d};
    size_t n = 0;
    out[n++] = 0xd2;
    out[n++] = 0x84;
    memcpy(out + n, prot, sizeof prot);
    n += sizeof prot;
    out[n++] = (uint8_t)(0xa1 + un);
    out[n++] = 0x04;
    if (kid != NULL) {
        out[n++] = *kid;
    } else {
        out[n++] = 0x42;
        out[n++] = 'k';
        out[n++] = '1';
    }
    if (uhl > 0)
        memcpy(out + n, uh, uhl);
    n += uhl;
    size_t pl = 1 + sizeof claims + cll;
    out[n++] = 0x58;
    out[n++] = (uint8_t)pl;
    out[n++] = (uint8_t)(0xa3 + cn);
    memcpy(out + n, claims, sizeof claims);
    n += sizeof claims;
    if (cll > 0)
        memcpy(out + n, cl, cll);
    n += cll;
    out[n++] = 0x58;
    out[n++] = 0x40;
    memset(out + n, 0, 64);
    return n + 64;
}

/* Every optional member of a CWT Status List Token may be undefined or null, read as
 * absent: the claims exp (4), ttl (65534) and iss (1), and the header parameters kid (4)
 * and x5chain (33). Other types are still refused. */
TT_TEST(token_cwt_undefined_members_absent)
{
    static const uint8_t simple[] = {0xf7, 0xf6};
    for (size_t i = 0; i < sizeof simple; i++) {
        uint8_t u = simple[i], buf[256];
        const uint8_t exp_ttl_iss[] = {0x04, u, 0x19, 0xff, 0xfe, u, 0x01, u};
        size_t n = cwt_with(buf, NULL, 0, NULL, 0, 3, exp_ttl_iss, sizeof exp_ttl_iss);
        tsl_token *t = NULL;
        tsl_error err;
        tsl_error_clear(&err);
        tsl_status st = tsl_token_parse(buf, n, NULL, &t, &err);
        if (st != TSL_OK) {
            tt_failf(__FILE__, __LINE__, "claims 0x%02x: %s", u, err.msg);
            return;
        }
        int64_t v;
        TT_CHECK(!tsl_token_exp(t, &v) && !tsl_token_ttl(t, &v) && tsl_token_iss(t) == NULL);
        tsl_token_free(t);

        /* x5chain undefined in the unprotected header. */
        const uint8_t x5[] = {0x18, 0x21, u};
        n = cwt_with(buf, NULL, 1, x5, sizeof x5, 0, NULL, 0);
        tsl_error_clear(&err);
        st = tsl_token_parse(buf, n, NULL, &t, &err);
        if (st != TSL_OK) {
            tt_failf(__FILE__, __LINE__, "x5chain 0x%02x: %s", u, err.msg);
            return;
        }
        size_t kl = 0;
        TT_CHECK(tsl_token_kid(t, &kl) != NULL && kl == 2);
        tsl_token_free(t);

        /* kid undefined: the token has no kid. */
        n = cwt_with(buf, &u, 0, NULL, 0, 0, NULL, 0);
        tsl_error_clear(&err);
        st = tsl_token_parse(buf, n, NULL, &t, &err);
        if (st != TSL_OK) {
            tt_failf(__FILE__, __LINE__, "kid 0x%02x: %s", u, err.msg);
            return;
        }
        TT_CHECK(tsl_token_kid(t, &kl) == NULL);
        tsl_token_free(t);
    }
    /* Still refused: an x5chain that is true, a kid that is false, an exp that is a
     * string. */
    uint8_t buf[256];
    const uint8_t x5[] = {0x18, 0x21, 0xf5};
    size_t n = cwt_with(buf, NULL, 1, x5, sizeof x5, 0, NULL, 0);
    tsl_token *t = NULL;
    TT_ERR(tsl_token_parse(buf, n, NULL, &t, NULL), TSL_ERR_MALFORMED);
    const uint8_t no = 0xf4;
    n = cwt_with(buf, &no, 0, NULL, 0, 0, NULL, 0);
    TT_ERR(tsl_token_parse(buf, n, NULL, &t, NULL), TSL_ERR_MALFORMED);
    const uint8_t exp[] = {0x04, 0x61, '1'};
    n = cwt_with(buf, NULL, 0, NULL, 0, 1, exp, sizeof exp);
    TT_ERR(tsl_token_parse(buf, n, NULL, &t, NULL), TSL_ERR_CLAIM);
}

/* ---- time claims the signer does not write: tokens built here, claim by claim ---- */

#define T_NOW 1700000000
#define T_SUB "https://example.com/statuslists/1"

/* base64url of n bytes, appended to out (cap bytes in all). */
static void b64_cat(char *out, size_t cap, const void *p, size_t n)
{
    char *e = NULL;
    if (tsl_b64url_encode(p, n, &e, NULL, NULL) == TSL_OK)
        strncat(out, e, cap - strlen(out) - 1);
    tsl_free(e);
}

/* A JWT Status List Token (ES256, no kid) whose payload is sub, the JSON members in
 * `claims` and the spec's 1-bit list; NULL on failure. The caller frees it. */
static char *jwt_with(const tsl_key *k, const char *claims)
{
    static const char hdr[] = "{\"alg\":\"ES256\",\"typ\":\"statuslist+jwt\"}";
    char payload[512];
    snprintf(payload, sizeof payload,
             "{\"sub\":\"" T_SUB "\",%s,\"status_list\":{\"bits\":1,\"lst\":\"eNrbuRgAAhcBXQ\"}}",
             claims);
    char *tok = calloc(1, 2048);
    if (tok == NULL)
        return NULL;
    b64_cat(tok, 2048, hdr, strlen(hdr));
    strcat(tok, ".");
    b64_cat(tok, 2048, payload, strlen(payload));
    uint8_t *sig = NULL;
    size_t sl = 0;
    if (tslp_sign(k, TSL_ALG_ES256, (const uint8_t *)tok, strlen(tok), &sig, &sl, NULL) !=
        TSL_OK) {
        free(tok);
        return NULL;
    }
    strcat(tok, ".");
    b64_cat(tok, 2048, sig, sl);
    tslp_free(sig);
    return tok;
}

/* A CWT Status List Token (COSE_Sign1, ES256) with sub, iat, and nbf (5) and exp (4)
 * when not 0, and the spec's 1-bit list. *len receives its size; tslp_free it. */
static uint8_t *cwt_times(const tsl_key *k, int64_t iat, int64_t nbf, int64_t exp,
                         size_t *len)
{
    static const uint8_t lst[] = {0x78, 0xda, 0xdb, 0xb9, 0x18, 0x00, 0x02, 0x17, 0x01, 0x5d};
    uint8_t *prot = NULL, *payload = NULL, *tbs = NULL, *sig = NULL, *out = NULL;
    size_t prot_len = 0, payload_len = 0, tbs_len = 0, sig_len = 0;
    tslp_cw w;
    tslp_cw_init(&w, 4096);
    tslp_cw_map(&w, 2);
    tslp_cw_uint(&w, 1); /* alg: ES256 */
    tslp_cw_int(&w, -7);
    tslp_cw_uint(&w, 16); /* typ */
    tslp_cw_cstr(&w, "application/statuslist+cwt");
    if (tslp_cw_finish(&w, &prot, &prot_len, NULL) != TSL_OK)
        return NULL;
    tslp_cw_init(&w, 4096);
    tslp_cw_map(&w, 3 + (nbf != 0) + (exp != 0));
    tslp_cw_uint(&w, 2);
    tslp_cw_cstr(&w, T_SUB);
    tslp_cw_uint(&w, 6);
    tslp_cw_int(&w, iat);
    if (nbf != 0) {
        tslp_cw_uint(&w, 5);
        tslp_cw_int(&w, nbf);
    }
    if (exp != 0) {
        tslp_cw_uint(&w, 4);
        tslp_cw_int(&w, exp);
    }
    tslp_cw_uint(&w, 65533);
    tslp_cw_map(&w, 2);
    tslp_cw_cstr(&w, "bits");
    tslp_cw_uint(&w, 1);
    tslp_cw_cstr(&w, "lst");
    tslp_cw_bytes(&w, lst, sizeof lst);
    tsl_status st = tslp_cw_finish(&w, &payload, &payload_len, NULL);
    if (st == TSL_OK) {
        tslp_cw_init(&w, 4096);
        tslp_cw_array(&w, 4);
        tslp_cw_cstr(&w, "Signature1");
        tslp_cw_bytes(&w, prot, prot_len);
        tslp_cw_bytes(&w, NULL, 0);
        tslp_cw_bytes(&w, payload, payload_len);
        st = tslp_cw_finish(&w, &tbs, &tbs_len, NULL);
    }
    if (st == TSL_OK)
        st = tslp_sign(k, TSL_ALG_ES256, tbs, tbs_len, &sig, &sig_len, NULL);
    if (st == TSL_OK) {
        tslp_cw_init(&w, 4096);
        tslp_cw_tag(&w, 18);
        tslp_cw_array(&w, 4);
        tslp_cw_bytes(&w, prot, prot_len);
        tslp_cw_map(&w, 0);
        tslp_cw_bytes(&w, payload, payload_len);
        tslp_cw_bytes(&w, sig, sig_len);
        st = tslp_cw_finish(&w, &out, len, NULL);
    }
    tslp_free(prot);
    tslp_free(payload);
    tslp_free(tbs);
    tslp_free(sig);
    return st == TSL_OK ? out : NULL;
}

/* Parses and verifies b at T_NOW with skew, filling err. */
static tsl_status verify_at(tsl_key *k, const uint8_t *b, size_t n, int64_t skew,
                            tsl_error *err)
{
    tsl_keyset *ks = NULL;
    tsl_token *t = NULL;
    tsl_error_clear(err);
    tsl_status st = tsl_keyset_new(&ks, err);
    if (st == TSL_OK)
        st = tsl_keyset_add(ks, k, err);
    if (st == TSL_OK)
        st = tsl_token_parse(b, n, NULL, &t, err);
    if (st == TSL_OK) {
        tsl_verify_opts o;
        memset(&o, 0, sizeof o);
        o.policy.keys = ks;
        o.sub = T_SUB;
        o.policy.now = T_NOW;
        o.policy.skew = skew;
        st = tsl_token_verify(t, &o, err);
    }
    tsl_token_free(t);
    tsl_keyset_free(ks);
    return st;
}

/* Issue 10 item 18: a Status List Token's nbf is checked (it was ignored), and the
 * skew applies to exp and nbf (it applied to iat only), in both forms. */
TT_TEST(token_nbf_and_skew)
{
    tsl_key *k = NULL;
    TT_OK(tsl_key_generate(TSL_ALG_ES256, &k, NULL));
    tsl_error err;
    /* nbf 100 s ahead: refused, unless the skew covers it */
    char *j = jwt_with(k, "\"iat\":1699999900,\"nbf\":1700000100");
    size_t cl = 0;
    uint8_t *c = cwt_times(k, T_NOW - 100, T_NOW + 100, 0, &cl);
    TT_CHECK(j != NULL && c != NULL);
    TT_ERR(verify_at(k, (const uint8_t *)j, strlen(j), 0, &err), TSL_ERR_EXPIRED);
    TT_CONTAINS(err.msg, "nbf: not valid before 1700000100 (now 1700000000, skew 0 s)");
    TT_ERR(verify_at(k, (const uint8_t *)j, strlen(j), 99, &err), TSL_ERR_EXPIRED);
    TT_OK(verify_at(k, (const uint8_t *)j, strlen(j), 100, &err));
    TT_ERR(verify_at(k, c, cl, 0, &err), TSL_ERR_EXPIRED);
    TT_CONTAINS(err.msg, "nbf");
    TT_OK(verify_at(k, c, cl, 100, &err));
    free(j);
    tslp_free(c);
    /* nbf in the past is fine */
    j = jwt_with(k, "\"iat\":1699999900,\"nbf\":1699999950");
    TT_CHECK(j != NULL);
    TT_OK(verify_at(k, (const uint8_t *)j, strlen(j), 0, &err));
    free(j);
    /* exp 30 s ago: expired, unless the skew covers it */
    j = jwt_with(k, "\"iat\":1699999000,\"exp\":1699999970");
    c = cwt_times(k, T_NOW - 1000, 0, T_NOW - 30, &cl);
    TT_CHECK(j != NULL && c != NULL);
    TT_ERR(verify_at(k, (const uint8_t *)j, strlen(j), 0, &err), TSL_ERR_EXPIRED);
    TT_CONTAINS(err.msg, "exp: the token expired at 1699999970");
    TT_ERR(verify_at(k, (const uint8_t *)j, strlen(j), 30, &err), TSL_ERR_EXPIRED);
    TT_OK(verify_at(k, (const uint8_t *)j, strlen(j), 31, &err));
    TT_ERR(verify_at(k, c, cl, 0, &err), TSL_ERR_EXPIRED);
    TT_OK(verify_at(k, c, cl, 60, &err));
    free(j);
    tslp_free(c);
    /* a malformed nbf is named */
    j = jwt_with(k, "\"iat\":1699999900,\"nbf\":\"soon\"");
    TT_CHECK(j != NULL);
    TT_ERR(verify_at(k, (const uint8_t *)j, strlen(j), 0, &err), TSL_ERR_CLAIM);
    TT_CONTAINS(err.msg, "nbf");
    free(j);
    tsl_key_free(k);
}

/* Issue 10 item 23: a JWT's ttl of 2^63-1 is a positive integer like any other (a CWT
 * took it; the JWT reader said "9.22337e+18 is not a positive number"); a real beyond
 * int64 is out of range, and the messages show the number as written. */
TT_TEST(token_jwt_ttl_range)
{
    tsl_key *k = NULL;
    TT_OK(tsl_key_generate(TSL_ALG_ES256, &k, NULL));
    char *j = jwt_with(k, "\"iat\":1699999900,\"ttl\":9223372036854775807");
    TT_CHECK(j != NULL);
    tsl_token *t = NULL;
    tsl_error err;
    tsl_error_clear(&err);
    TT_OK(tsl_token_parse((const uint8_t *)j, strlen(j), NULL, &t, &err));
    int64_t ttl = 0;
    TT_CHECK(tsl_token_ttl(t, &ttl) && ttl == INT64_MAX);
    tsl_token_free(t);
    free(j);
    static const struct {
        const char *claim, *why;
    } bad[] = {
        {"\"ttl\":1e19", "ttl: 1e+19 is out of range (at most 9223372036854775807 seconds)"},
        {"\"ttl\":0.5", "ttl: 0.5 is not a positive number of seconds"},
        {"\"ttl\":0", "ttl: 0 is not a positive number of seconds"},
        {"\"ttl\":-3", "ttl: -3 is not a positive number of seconds"},
        {"\"ttl\":\"60\"", "ttl: not a number"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char claims[128];
        snprintf(claims, sizeof claims, "\"iat\":1699999900,%s", bad[i].claim);
        j = jwt_with(k, claims);
        TT_CHECK(j != NULL);
        tsl_error_clear(&err);
        t = NULL;
        TT_ERR(tsl_token_parse((const uint8_t *)j, strlen(j), NULL, &t, &err), TSL_ERR_CLAIM);
        TT_CONTAINS(err.msg, bad[i].why);
        free(j);
    }
    tsl_key_free(k);
}

TT_TEST(list_summary_text_and_json)
{
    /* What `tsl decode` prints: a bare list exactly, a token's header and claims
     * before the list's lines, and lookups in the JSON only. */
    tsl_list *l = NULL;
    TT_OK(tsl_list_new(2, 8, &l, NULL));
    TT_OK(tsl_list_set(l, 1, 1, NULL));
    TT_OK(tsl_list_set(l, 2, 3, NULL));
    char *text = NULL;
    TT_OK(tsl_list_summary(l, NULL, 0, "json", NULL, NULL, 0, 0, &text, NULL));
    size_t raw;
    tsl_list_bytes(l, &raw);
    char want[512];
    snprintf(want, sizeof want,
             "format: json\nbits: 2\nentries: 8\ncompressed_bytes: %zu\nraw_bytes: %zu\n"
             "count 0 (VALID): 6\ncount 1 (INVALID): 1\ncount 3 (APPLICATION_SPECIFIC): 1\n",
             tsl_list_compressed_size(l), raw);
    TT_EQ_STR(text, want);
    tsl_free(text);
    uint64_t idx[] = {2, 0};
    unsigned vals[] = {3, 0};
    TT_OK(tsl_list_summary(l, NULL, 0, "cbor", idx, vals, 2, TSL_REPORT_JSON, &text, NULL));
    snprintf(want, sizeof want,
             "{\"format\":\"cbor\",\"bits\":2,\"entries\":8,\"compressed_bytes\":%zu,"
             "\"raw_bytes\":%zu,\"counts\":{\"0\":6,\"1\":1,\"3\":1},\"lookups\":[{\"index\":2,"
             "\"value\":3,\"status\":\"APPLICATION_SPECIFIC\"},{\"index\":0,\"value\":0,"
             "\"status\":\"VALID\"}]}",
             tsl_list_compressed_size(l), raw);
    TT_EQ_STR(text, want);
    tsl_free(text);
    TT_ERR(tsl_list_summary(l, NULL, 0, "json", NULL, NULL, 1, 0, &text, NULL), TSL_ERR_ARG);
    tsl_list_free(l);

    json_t *v = tt_load_json(VEC "sec8_2_status_list_token_jwt.json");
    TT_CHECK(v != NULL);
    const char *jws = json_string_value(json_object_get(v, "compact_jws"));
    tsl_token *t;
    TT_OK(tsl_token_parse((const uint8_t *)jws, strlen(jws), NULL, &t, NULL));
    TT_OK(tsl_list_summary(tsl_token_list(t), t, 1, "jwt", NULL, NULL, 0, 0, &text, NULL));
    TT_EQ_STR(text, "format: jwt\nsignature: verified\nalg: ES256\nkid: 12\n"
                    "sub: https://example.com/statuslists/1\niss: https://example.com\n"
                    "iat: 1686920170 (2023-06-16T12:56:10Z)\n"
                    "exp: 2291720170 (2042-08-15T12:56:10Z)\nttl: 43200\nbits: 1\n"
                    "entries: 16\ncompressed_bytes: 10\nraw_bytes: 2\ncount 0 (VALID): 7\n"
                    "count 1 (INVALID): 9\n");
    tsl_free(text);
    TT_OK(tsl_list_summary(tsl_token_list(t), t, 0, "jwt", NULL, NULL, 0, TSL_REPORT_JSON,
                           &text, NULL));
    TT_CONTAINS(text, "\"verified\":false,\"bits\":1,");
    tsl_free(text);
    tsl_token_free(t);
    json_decref(v);
}

/* The claims as the signer built them before it wrote JSON itself: a jansson object,
 * keys in order, dumped compactly. The reference the new payload must equal byte for
 * byte (the tokens tsl signed before and after are the same JSON). */
static char *reference_claims(const tsl_list *l, const tsl_token_params *p)
{
    uint8_t *z = NULL;
    size_t zl = 0;
    char *lst = NULL;
    if (tsl_list_compress(l, p->level, &z, &zl, NULL) != TSL_OK ||
        tsl_b64url_encode(z, zl, &lst, NULL, NULL) != TSL_OK)
        return NULL;
    tsl_free(z);
    json_t *sl = json_object();
    json_object_set_new(sl, "bits", json_integer(tsl_list_bits(l)));
    json_object_set_new(sl, "lst", json_string(lst));
    tsl_free(lst);
    if (tsl_list_aggregation_uri(l) != NULL)
        json_object_set_new(sl, "aggregation_uri", json_string(tsl_list_aggregation_uri(l)));
    json_t *c = json_object();
    json_object_set_new(c, "sub", json_string(p->sub));
    json_object_set_new(c, "iat", json_integer(p->iat));
    if (p->exp != 0)
        json_object_set_new(c, "exp", json_integer(p->exp));
    if (p->ttl != 0)
        json_object_set_new(c, "ttl", json_integer(p->ttl));
    if (p->iss != NULL)
        json_object_set_new(c, "iss", json_string(p->iss));
    json_object_set_new(c, "status_list", sl);
    char *text = json_dumps(c, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(c);
    return text;
}

/* The JWT payload is written as text with lst spliced in (token/jwt.c): it must be the
 * same bytes jansson wrote, for strings that need every kind of escape, non-ASCII,
 * optional claims present and absent, and a precompressed list (whose stream is
 * borrowed, not recompressed); and it must parse back to the same claims. */
TT_TEST(token_jwt_payload_same_bytes_as_jansson)
{
    static const char *subs[] = {
        "https://example.com/lists/7",
        "quote\" backslash\\ slash/ tab\t nl\n cr\r bs\b ff\f",
        "ctl \x01\x02\x1f del\x7f",
        "utf8 \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80 \xe2\x80\xa8",
        "",
    };
    tsl_key *k;
    TT_OK(tsl_key_generate(TSL_ALG_ES256, &k, NULL));
    tsl_keyset *ks;
    TT_OK(tsl_keyset_new(&ks, NULL));
    TT_OK(tsl_keyset_add(ks, k, NULL));
    for (unsigned bits = 1; bits <= 8; bits *= 2) {
        tsl_list *l = pattern_list(bits, 5000);
        TT_CHECK(l != NULL);
        if (bits == 2)
            TT_OK(tsl_list_set_aggregation_uri(l, "https://e.com/agg?\"q\"=\\\x01", NULL));
        if (bits >= 4)
            TT_OK(tsl_list_precompress(l, bits == 4 ? 0 : 6, NULL));
        for (size_t s = 0; s < sizeof subs / sizeof subs[0]; s++) {
            tsl_token_params p;
            memset(&p, 0, sizeof p);
            p.format = TSL_FORMAT_JWT;
            p.sub = subs[s][0] != '\0' ? subs[s] : "x";
            p.iss = s % 2 == 0 ? subs[(s + 1) % 5] : NULL;
            p.iat = 1700000000 + (int64_t)s;
            p.exp = s % 3 == 0 ? 0 : 1700086400;
            p.ttl = s % 2 == 0 ? 300 : 0;
            p.level = bits == 8 ? 6 : 0;
            uint8_t *tok;
            size_t tl;
            TT_OK(tsl_token_sign(l, &p, k, &tok, &tl, NULL));
            const char *d1 = memchr(tok, '.', tl);
            const char *d2 = d1 ? memchr(d1 + 1, '.', tl - (size_t)(d1 + 1 - (char *)tok)) : NULL;
            TT_CHECK(d2 != NULL);
            uint8_t *pl = NULL;
            size_t pn = 0;
            TT_OK(tsl_b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), &pl, &pn, NULL));
            char *ref = reference_claims(l, &p);
            TT_CHECK(ref != NULL);
            TT_EQ_U(pn, strlen(ref));
            if (pn == strlen(ref))
                TT_EQ_MEM(pl, ref, pn);
            /* Parsed back: the same claims, and the token verifies. */
            json_t *a = json_loadb((const char *)pl, pn, JSON_REJECT_DUPLICATES, NULL);
            json_t *b = json_loads(ref, 0, NULL);
            TT_CHECK(a != NULL && b != NULL && json_equal(a, b));
            json_decref(a);
            json_decref(b);
            tsl_token *t;
            TT_OK(tsl_token_parse(tok, tl, NULL, &t, NULL));
            TT_EQ_STR(tsl_token_sub(t), p.sub);
            tsl_verify_opts o;
            memset(&o, 0, sizeof o);
            o.policy.keys = ks;
            o.policy.now = 1700000100;
            TT_OK(tsl_token_verify(t, &o, NULL));
            tsl_token_free(t);
            free(ref);
            tsl_free(pl);
            tsl_free(tok);
        }
        tsl_list_free(l);
    }
    /* A claim that is not UTF-8 is refused, named (jansson refused it too). */
    tsl_list *l = pattern_list(1, 100);
    tsl_token_params p;
    memset(&p, 0, sizeof p);
    p.sub = "https://example.com/\xc3";
    p.iat = 1700000000;
    uint8_t *tok = NULL;
    size_t tl;
    tsl_error err;
    tsl_error_clear(&err);
    TT_ERR(tsl_token_sign(l, &p, k, &tok, &tl, &err), TSL_ERR_ARG);
    TT_CONTAINS(err.msg, "sub: not valid UTF-8");
    p.sub = "https://example.com/";
    p.iss = "\xed\xa0\x80"; /* a surrogate */
    TT_ERR(tsl_token_sign(l, &p, k, &tok, &tl, &err), TSL_ERR_ARG);
    tsl_list_free(l);
    tsl_keyset_free(ks);
    tsl_key_free(k);
}
