/* test_ref.c - Referenced Tokens (tsl_ref_*): the spec's CWT (kid-12 key), SD-JWT
 * (RFC 9901 example issuer key) and the historical mdoc IssuerAuth (its own DS
 * certificate as the trust anchor) yield their idx and uri; JWT, CWT and SD-JWT tokens
 * signed here with generated keys pass, and each rule is broken once: signature, exp,
 * nbf, iat, a missing or malformed status, typ, alg none, a tampered or repeated
 * disclosure, the key-binding JWT's sd_hash, signature and typ, an untrusted or
 * expired mdoc chain and a mismatched docType. Also: Status List Tokens are refused,
 * other algorithms work, and every allocation failing in turn gives TSL_ERR_NOMEM. */
#include "tt.h"

#include "codec/cbor_write_int.h"
#include "crypto/crypto.h"

#include <jansson.h>
#include <stdlib.h>

#define VEC "testvectors/"
#define URI1 "https://example.com/statuslists/1"
#define NOW 1700000000

/* A keyset holding one key (the set takes its own reference). */
static tsl_keyset *keyset_of(tsl_key *k)
{
    tsl_keyset *s = NULL;
    if (k == NULL || tsl_keyset_new(&s, NULL) != TSL_OK || tsl_keyset_add(s, k, NULL) != TSL_OK) {
        tsl_keyset_free(s);
        return NULL;
    }
    return s;
}

static tsl_keyset *file_keyset(const char *path, const char *kid)
{
    size_t n;
    unsigned char *b = tt_read_file(path, &n);
    tsl_key *k = NULL;
    tsl_status st = tsl_key_from_jwk((const char *)b, n, &k, NULL);
    free(b);
    if (st != TSL_OK)
        return NULL;
    if (kid != NULL)
        tsl_key_set_kid(k, kid, NULL);
    tsl_keyset *s = keyset_of(k);
    tsl_key_free(k);
    return s;
}

static tsl_ref_opts opts(const tsl_keyset *ks, int64_t now)
{
    tsl_ref_opts o;
    memset(&o, 0, sizeof o);
    o.policy.keys = ks;
    o.policy.now = now;
    return o;
}

/* Parses text; returns the status and fills *r (NULL on failure) and err. */
static tsl_status parse_text(const char *s, const tsl_ref_opts *o, tsl_ref **r, tsl_error *err)
{
    tsl_error_clear(err);
    *r = NULL;
    return tsl_ref_parse((const uint8_t *)s, strlen(s), NULL, o, r, err);
}

/* ---------------------------------------------------------------------------------- */
/* A tiny signer for JWTs and CWTs                                                       */

static char *b64(const void *p, size_t n)
{
    char *o = NULL;
    size_t ol = 0;
    if (tsl_b64url_encode(p, n, &o, &ol, NULL) != TSL_OK)
        return NULL;
    return o;
}

/* header.payload.signature over the given JSON texts. Free with tsl_free(). */
static char *sign_jwt(const tsl_key *key, tsl_alg alg, const char *hdr, const char *payload)
{
    char *h = b64(hdr, strlen(hdr)), *p = b64(payload, strlen(payload));
    size_t n = strlen(h) + 1 + strlen(p);
    char *tbs = malloc(n + 1);
    snprintf(tbs, n + 1, "%s.%s", h, p);
    uint8_t *sig = NULL;
    size_t sl = 0;
    char *out = NULL;
    if (tslp_sign(key, alg, (const uint8_t *)tbs, n, &sig, &sl, NULL) == TSL_OK) {
        char *s = b64(sig, sl);
        out = tslp_malloc(n + 1 + strlen(s) + 1);
        snprintf(out, n + 1 + strlen(s) + 1, "%s.%s", tbs, s);
        tsl_free(s);
    }
    tsl_free(sig);
    tsl_free(h);
    tsl_free(p);
    free(tbs);
    return out;
}

/* COSE_Sign1_Tagged {1: alg} {4: kid} payload (a CBOR map written by the caller). */
static uint8_t *sign_cwt(const tsl_key *key, tsl_alg alg, const char *kid, const uint8_t *pl,
                         size_t pl_len, size_t *out_len)
{
    uint8_t prot[8];
    size_t prot_len = 0;
    {
        tslp_cw w;
        uint8_t *p = NULL;
        tslp_cw_init(&w, 64);
        tslp_cw_map(&w, 1);
        tslp_cw_uint(&w, 1);
        tslp_cw_int(&w, tsl_alg_cose_id(alg));
        if (tslp_cw_finish(&w, &p, &prot_len, NULL) != TSL_OK || prot_len > sizeof prot)
            return NULL;
        memcpy(prot, p, prot_len);
        tsl_free(p);
    }
    tslp_cw w;
    uint8_t *tbs = NULL, *sig = NULL, *out = NULL;
    size_t tbs_len = 0, sig_len = 0;
    tslp_cw_init(&w, pl_len + 256);
    tslp_cw_array(&w, 4);
    tslp_cw_cstr(&w, "Signature1");
    tslp_cw_bytes(&w, prot, prot_len);
    tslp_cw_bytes(&w, NULL, 0);
    tslp_cw_bytes(&w, pl, pl_len);
    if (tslp_cw_finish(&w, &tbs, &tbs_len, NULL) != TSL_OK)
        return NULL;
    if (tslp_sign(key, alg, tbs, tbs_len, &sig, &sig_len, NULL) == TSL_OK) {
        tslp_cw_init(&w, pl_len + 512);
        tslp_cw_tag(&w, 18);
        tslp_cw_array(&w, 4);
        tslp_cw_bytes(&w, prot, prot_len);
        tslp_cw_map(&w, 1);
        tslp_cw_uint(&w, 4);
        tslp_cw_bytes(&w, (const uint8_t *)kid, strlen(kid));
        tslp_cw_bytes(&w, pl, pl_len);
        tslp_cw_bytes(&w, sig, sig_len);
        if (tslp_cw_finish(&w, &out, out_len, NULL) != TSL_OK)
            out = NULL;
    }
    tsl_free(tbs);
    tsl_free(sig);
    return out;
}

/* A CWT claims map: exp/nbf/iat when non-zero, then the status map. idx < 0 writes a
 * negative integer; uri NULL leaves it out; no_status leaves claim 65535 out. */
static uint8_t *cwt_claims(int64_t iat, int64_t exp, int64_t nbf, int64_t idx, const char *uri,
                           int no_status, size_t *len)
{
    tslp_cw w;
    tslp_cw_init(&w, 4096);
    tslp_cw_map(&w, (size_t)(1 + (iat != 0) + (exp != 0) + (nbf != 0) + !no_status));
    tslp_cw_uint(&w, 2);
    tslp_cw_cstr(&w, "subject");
    if (iat != 0) {
        tslp_cw_uint(&w, 6);
        tslp_cw_int(&w, iat);
    }
    if (exp != 0) {
        tslp_cw_uint(&w, 4);
        tslp_cw_int(&w, exp);
    }
    if (nbf != 0) {
        tslp_cw_uint(&w, 5);
        tslp_cw_int(&w, nbf);
    }
    if (!no_status) {
        tslp_cw_uint(&w, 65535);
        tslp_cw_map(&w, 1);
        tslp_cw_cstr(&w, "status_list");
        tslp_cw_map(&w, uri ? 2 : 1);
        tslp_cw_cstr(&w, "idx");
        tslp_cw_int(&w, idx);
        if (uri) {
            tslp_cw_cstr(&w, "uri");
            tslp_cw_cstr(&w, uri);
        }
    }
    uint8_t *out = NULL;
    if (tslp_cw_finish(&w, &out, len, NULL) != TSL_OK)
        return NULL;
    return out;
}

/* ---------------------------------------------------------------------------------- */
/* The spec's vectors                                                                    */

TT_TEST(ref_cwt_vector)
{
    json_t *v = tt_load_json(VEC "sec6_3_referenced_token_cwt.json");
    const char *hex = json_string_value(json_object_get(v, "cose_sign1_tagged_hex"));
    TT_CHECK(hex != NULL);
    tsl_keyset *ks = file_keyset(VEC "keys/example_es256_kid12.jwk.json", NULL);
    TT_CHECK(ks != NULL);
    tsl_ref_opts o = opts(ks, NOW);
    size_t n;
    uint8_t *raw = tt_unhex(hex, &n);
    tsl_ref *r = NULL;
    tsl_error err;
    tsl_error_clear(&err);
    TT_OK(tsl_ref_parse(raw, n, NULL, &o, &r, &err));
    TT_EQ_U(tsl_ref_kind_of(r), TSL_REF_CWT);
    TT_EQ_U(tsl_ref_idx(r), 0);
    TT_EQ_STR(tsl_ref_uri(r), URI1);
    tsl_ref_free(r);
    /* The same as hex text. */
    TT_OK(parse_text(hex, &o, &r, &err));
    TT_EQ_STR(tsl_ref_uri(r), URI1);
    tsl_ref_free(r);
    /* A flipped signature byte. */
    raw[n - 5] ^= 1;
    tsl_error_clear(&err);
    TT_ERR(tsl_ref_parse(raw, n, NULL, &o, &r, &err), TSL_ERR_SIGNATURE);
    raw[n - 5] ^= 1;
    /* Expired: exp is 2291720170. */
    o.policy.now = 2291720171;
    tsl_error_clear(&err);
    TT_ERR(tsl_ref_parse(raw, n, NULL, &o, &r, &err), TSL_ERR_EXPIRED);
    TT_CONTAINS(err.msg, "exp");
    /* No keys. */
    o = opts(NULL, NOW);
    tsl_error_clear(&err);
    TT_ERR(tsl_ref_parse(raw, n, NULL, &o, &r, &err), TSL_ERR_KEY);
    free(raw);
    tsl_keyset_free(ks);
    json_decref(v);
}

TT_TEST(ref_sdjwt_vector)
{
    json_t *v = tt_load_json(VEC "sec6_2_referenced_token_jose.json");
    const char *sd = json_string_value(
        json_object_get(json_object_get(v, "sd_jwt"), "serialized"));
    TT_CHECK(sd != NULL);
    tsl_keyset *ks = file_keyset(VEC "keys/rfc9901_example_issuer_es256.jwk.json", NULL);
    TT_CHECK(ks != NULL);
    tsl_ref_opts o = opts(ks, NOW);
    tsl_ref *r = NULL;
    tsl_error err;
    TT_OK(parse_text(sd, &o, &r, &err));
    TT_EQ_U(tsl_ref_kind_of(r), TSL_REF_SDJWT);
    TT_EQ_U(tsl_ref_idx(r), 0);
    TT_EQ_STR(tsl_ref_uri(r), URI1);
    tsl_ref_free(r);

    /* Presented with fewer disclosures: only the first (address's _sd lives in the
     * fifth, so street_address is then unreachable). */
    const char *t1 = strchr(sd, '~');
    size_t jl = (size_t)(t1 - sd);
    char buf[4096];
    const char *d0 = t1 + 1, *d0e = strchr(d0, '~');
    snprintf(buf, sizeof buf, "%.*s~%.*s~", (int)jl, sd, (int)(d0e - d0), d0);
    TT_ERR(parse_text(buf, &o, &r, &err), TSL_ERR_SIGNATURE);
    TT_CONTAINS(err.msg, "not in any _sd");
    /* Only the issuer JWT: fine. */
    snprintf(buf, sizeof buf, "%.*s~", (int)jl, sd);
    TT_OK(parse_text(buf, &o, &r, &err));
    tsl_ref_free(r);
    /* A tampered disclosure: ["salt", "country", "FR"] is in no _sd. */
    const char *fake = "[\"eI8ZWm9QnKPpNPeNenHdhQ\", \"country\", \"FR\"]";
    char *fb = b64(fake, strlen(fake));
    snprintf(buf, sizeof buf, "%.*s~%s~", (int)jl, sd, fb);
    tsl_free(fb);
    TT_ERR(parse_text(buf, &o, &r, &err), TSL_ERR_SIGNATURE);
    TT_CONTAINS(err.msg, "disclosure 0");
    /* The same disclosure twice: the last one (address, which holds digests itself) and
     * the first one (street_address, which holds none). */
    const char *end = strrchr(sd, '~');
    const char *last_d = end;
    while (last_d[-1] != '~')
        last_d--;
    snprintf(buf, sizeof buf, "%.*s~%.*s~%.*s~", (int)jl, sd, (int)(end - last_d), last_d,
             (int)(end - last_d), last_d);
    TT_ERR(parse_text(buf, &o, &r, &err), TSL_ERR_MALFORMED);
    TT_CONTAINS(err.msg, "more than once");
    snprintf(buf, sizeof buf, "%.*s~%.*s~%.*s~%.*s~", (int)jl, sd, (int)(end - last_d), last_d,
             (int)(d0e - d0), d0, (int)(d0e - d0), d0);
    TT_ERR(parse_text(buf, &o, &r, &err), TSL_ERR_MALFORMED);
    TT_CONTAINS(err.msg, "more than once");
    /* address and street_address: a nested disclosure, reached through another. */
    snprintf(buf, sizeof buf, "%.*s~%.*s~%.*s~", (int)jl, sd, (int)(d0e - d0), d0,
             (int)(end - last_d), last_d);
    TT_OK(parse_text(buf, &o, &r, &err));
    tsl_ref_free(r);
    /* The wrong issuer key. */
    tsl_keyset *other = file_keyset(VEC "keys/example_es256_kid12.jwk.json", NULL);
    o.policy.keys = other;
    TT_ERR(parse_text(sd, &o, &r, &err), TSL_ERR_SIGNATURE);
    /* Expired: exp is 1883000000. */
    o.policy.keys = ks;
    o.policy.now = 1883000001;
    TT_ERR(parse_text(sd, &o, &r, &err), TSL_ERR_EXPIRED);
    tsl_keyset_free(other);
    tsl_keyset_free(ks);
    json_decref(v);
}

/* The DS certificate of the mdoc vector as PEM. */
static char *cert_pem(const uint8_t *der, size_t n)
{
    char *b = NULL;
    size_t bl = 0;
    if (tslp_b64std_encode(der, n, &b, &bl, NULL) != TSL_OK)
        return NULL;
    size_t cap = bl + bl / 64 + 128;
    char *pem = malloc(cap);
    size_t o = (size_t)snprintf(pem, cap, "-----BEGIN CERTIFICATE-----\n");
    for (size_t k = 0; k < bl; k += 64)
        o += (size_t)snprintf(pem + o, cap - o, "%.*s\n", (int)(bl - k < 64 ? bl - k : 64),
                              b + k);
    snprintf(pem + o, cap - o, "-----END CERTIFICATE-----\n");
    tsl_free(b);
    return pem;
}

/* The historical mdoc vector: *v (json_decref) holds *hex, the IssuerAuth as hex text;
 * *raw (free) its bytes; *pem (free) its DS certificate as PEM. 0 if it cannot be read. */
static int mdoc_vector(json_t **v, const char **hex, uint8_t **raw, size_t *n, char **pem)
{
    *v = tt_load_json(VEC "historical_rev15_sec6_3_2_mdoc_issuerauth.json");
    *hex = json_string_value(json_object_get(*v, "issuer_auth_cose_sign1_untagged_hex"));
    const char *chex = json_string_value(json_object_get(
        json_object_get(json_object_get(*v, "unprotected_header"), "33 (x5chain)"), "bstr_hex"));
    if (*hex == NULL || chex == NULL)
        return 0;
    size_t cn;
    uint8_t *cert = tt_unhex(chex, &cn);
    *raw = tt_unhex(*hex, n);
    *pem = cert != NULL ? cert_pem(cert, cn) : NULL;
    free(cert);
    return *raw != NULL && *pem != NULL;
}

TT_TEST(ref_mdoc_vector)
{
    json_t *v = NULL;
    const char *hex = NULL;
    uint8_t *raw = NULL;
    size_t n = 0;
    char *pem = NULL;
    TT_CHECK(mdoc_vector(&v, &hex, &raw, &n, &pem));
    tsl_trust *trust = NULL, *empty = NULL;
    TT_OK(tsl_trust_new(&trust, NULL));
    TT_OK(tsl_trust_new(&empty, NULL));
    /* The DS certificate is issued by "utopia iaca" (not self-signed): it is pinned as an
     * anchor itself (partial chains are allowed). */
    TT_OK(tsl_trust_add_pem(trust, pem, strlen(pem), NULL));
    tsl_ref_opts o = opts(NULL, 1735689600); /* 2025-01-01, inside cert and MSO validity */
    o.policy.trust = trust;
    tsl_ref *r = NULL;
    tsl_error err;
    tsl_error_clear(&err);
    TT_OK(tsl_ref_parse(raw, n, NULL, &o, &r, &err));
    TT_EQ_U(tsl_ref_kind_of(r), TSL_REF_MDOC);
    TT_EQ_U(tsl_ref_idx(r), 412);
    TT_EQ_STR(tsl_ref_uri(r), URI1);
    tsl_ref_free(r);
    /* As hex text. */
    TT_OK(parse_text(hex, &o, &r, &err));
    TT_EQ_U(tsl_ref_idx(r), 412);
    tsl_ref_free(r);
    /* Inside a DeviceResponse. */
    tslp_cw w;
    uint8_t *dr = NULL;
    size_t drl = 0;
    tslp_cw_init(&w, n + 256);
    tslp_cw_map(&w, 2);
    tslp_cw_cstr(&w, "version");
    tslp_cw_cstr(&w, "1.0");
    tslp_cw_cstr(&w, "documents");
    tslp_cw_array(&w, 1);
    tslp_cw_map(&w, 2);
    tslp_cw_cstr(&w, "docType");
    tslp_cw_cstr(&w, "org.iso.18013.5.1.mDL");
    tslp_cw_cstr(&w, "issuerSigned");
    tslp_cw_map(&w, 1);
    tslp_cw_cstr(&w, "issuerAuth");
    tslp_cw_raw(&w, raw, n);
    TT_OK(tslp_cw_finish(&w, &dr, &drl, NULL));
    tsl_error_clear(&err);
    TT_OK(tsl_ref_parse(dr, drl, NULL, &o, &r, &err));
    TT_EQ_U(tsl_ref_kind_of(r), TSL_REF_MDOC);
    TT_EQ_U(tsl_ref_idx(r), 412);
    tsl_ref_free(r);
    /* A Document whose docType is not the signed one. */
    tslp_cw_init(&w, n + 256);
    tslp_cw_map(&w, 2);
    tslp_cw_cstr(&w, "docType");
    tslp_cw_cstr(&w, "org.example.other");
    tslp_cw_cstr(&w, "issuerSigned");
    tslp_cw_map(&w, 1);
    tslp_cw_cstr(&w, "issuerAuth");
    tslp_cw_raw(&w, raw, n);
    uint8_t *bad = NULL;
    size_t badl = 0;
    TT_OK(tslp_cw_finish(&w, &bad, &badl, NULL));
    tsl_error_clear(&err);
    TT_ERR(tsl_ref_parse(bad, badl, NULL, &o, &r, &err), TSL_ERR_CLAIM);
    TT_CONTAINS(err.msg, "docType");
    tsl_free(bad);
    /* Untrusted chain: no anchors, or an empty store. */
    o.policy.trust = NULL;
    tsl_error_clear(&err);
    TT_ERR(tsl_ref_parse(raw, n, NULL, &o, &r, &err), TSL_ERR_TRUST);
    o.policy.trust = empty;
    tsl_error_clear(&err);
    TT_ERR(tsl_ref_parse(dr, drl, NULL, &o, &r, &err), TSL_ERR_TRUST);
    /* A flipped signature byte. */
    o.policy.trust = trust;
    raw[n - 3] ^= 1;
    tsl_error_clear(&err);
    TT_ERR(tsl_ref_parse(raw, n, NULL, &o, &r, &err), TSL_ERR_SIGNATURE);
    raw[n - 3] ^= 1;
    /* Before the MSO's validFrom (2024-10-01T13:30:02Z), cert already valid. */
    o.policy.now = 1727775000; /* 2024-10-01T09:30:00Z */
    tsl_error_clear(&err);
    TT_ERR(tsl_ref_parse(raw, n, NULL, &o, &r, &err), TSL_ERR_EXPIRED);
    TT_CONTAINS(err.msg, "validFrom");
    /* After the certificate expired (2025-10-01). */
    o.policy.now = 1790000000;
    tsl_error_clear(&err);
    TT_ERR(tsl_ref_parse(raw, n, NULL, &o, &r, &err), TSL_ERR_TRUST);
    tsl_free(dr);
    tsl_trust_free(trust);
    tsl_trust_free(empty);
    free(pem);
    free(raw);
    json_decref(v);
}

/* An IssuerSigned around the vector's IssuerAuth, presenting one data element of
 * namespace ns (tag 24 around an IssuerSignedItem with digestID id, or a bare map when
 * tagged is 0). The vector's MSO has valueDigests for some "org.iso.18013.5.1" IDs,
 * whose items the draft never printed: any item we make is an altered one. */
static uint8_t *issuer_signed_with(const uint8_t *ia, size_t ian, const char *ns, uint64_t id,
                                   int tagged, size_t *len)
{
    tslp_cw w;
    uint8_t *item = NULL, *out = NULL;
    size_t il = 0;
    tslp_cw_init(&w, 256);
    tslp_cw_map(&w, 4);
    tslp_cw_cstr(&w, "digestID");
    tslp_cw_uint(&w, id);
    tslp_cw_cstr(&w, "random");
    tslp_cw_bytes(&w, (const uint8_t *)"0123456789abcdef", 16);
    tslp_cw_cstr(&w, "elementIdentifier");
    tslp_cw_cstr(&w, "family_name");
    tslp_cw_cstr(&w, "elementValue");
    tslp_cw_cstr(&w, "Mallory");
    if (tslp_cw_finish(&w, &item, &il, NULL) != TSL_OK)
        return NULL;
    tslp_cw_init(&w, ian + il + 128);
    tslp_cw_map(&w, 2);
    tslp_cw_cstr(&w, "nameSpaces");
    tslp_cw_map(&w, ns != NULL ? 1 : 0);
    if (ns != NULL) {
        tslp_cw_cstr(&w, ns);
        tslp_cw_array(&w, 1);
        if (tagged) {
            tslp_cw_tag(&w, 24);
            tslp_cw_bytes(&w, item, il);
        } else {
            tslp_cw_raw(&w, item, il);
        }
    }
    tslp_cw_cstr(&w, "issuerAuth");
    tslp_cw_raw(&w, ia, ian);
    tsl_free(item);
    if (tslp_cw_finish(&w, &out, len, NULL) != TSL_OK)
        return NULL;
    return out;
}

TT_TEST(ref_mdoc_value_digests)
{
    json_t *v = NULL;
    const char *hex = NULL;
    uint8_t *raw = NULL;
    size_t n = 0, len;
    char *pem = NULL;
    TT_CHECK(mdoc_vector(&v, &hex, &raw, &n, &pem));
    tsl_trust *trust = NULL;
    TT_OK(tsl_trust_new(&trust, NULL));
    TT_OK(tsl_trust_add_pem(trust, pem, strlen(pem), NULL));
    tsl_ref_opts o = opts(NULL, 1735689600);
    o.policy.trust = trust;
    tsl_ref *r = NULL;
    tsl_error err;
    static const struct {
        const char *ns;
        uint64_t id;
        int tagged;
        tsl_status st;
        const char *msg;
    } cases[] = {
        {NULL, 0, 1, TSL_OK, NULL}, /* nothing presented */
        {"org.iso.18013.5.1", 2, 1, TSL_ERR_SIGNATURE, "digestID 2): the digest does not match"},
        {"org.iso.18013.5.1", 999999, 1, TSL_ERR_CLAIM, "digestID 999999 has no 256-bit"},
        {"org.example.other", 0, 1, TSL_ERR_CLAIM, "no valueDigests for it"},
        {"org.iso.18013.5.1", 0, 0, TSL_ERR_MALFORMED, "expected tag 24"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t *is = issuer_signed_with(raw, n, cases[i].ns, cases[i].id, cases[i].tagged, &len);
        TT_CHECK(is != NULL);
        tsl_error_clear(&err);
        tsl_status st = tsl_ref_parse(is, len, NULL, &o, &r, &err);
        TT_EQ_U(st, cases[i].st);
        if (cases[i].msg != NULL)
            TT_CONTAINS(err.msg, cases[i].msg);
        if (st == TSL_OK) {
            TT_EQ_U(tsl_ref_idx(r), 412);
            tsl_ref_free(r);
        }
        tsl_free(is);
    }
    tsl_trust_free(trust);
    free(pem);
    free(raw);
    json_decref(v);
}

/* ---------------------------------------------------------------------------------- */
/* Generated JWT and CWT Referenced Tokens                                               */

TT_TEST(ref_jwt_generated)
{
    tsl_key *k = NULL, *k2 = NULL;
    TT_OK(tsl_key_generate(TSL_ALG_ES256, &k, NULL));
    TT_OK(tsl_key_generate(TSL_ALG_ES256, &k2, NULL));
    TT_OK(tsl_key_set_kid(k, "k1", NULL));
    tsl_keyset *ks = keyset_of(k);
    TT_CHECK(ks != NULL);
    tsl_ref_opts o = opts(ks, NOW);
    o.policy.skew = 60;
    static const char H[] = "{\"alg\":\"ES256\",\"kid\":\"k1\",\"typ\":\"JWT\"}";
    static const struct {
        const char *payload;
        tsl_status st;
        const char *msg;
    } cases[] = {
        {"{\"iat\":1699999000,\"exp\":1800000000,\"status\":{\"status_list\":{\"idx\":7,"
         "\"uri\":\"" URI1 "\"}}}",
         TSL_OK, NULL},
        {"{\"exp\":1699999000,\"status\":{\"status_list\":{\"idx\":7,\"uri\":\"u\"}}}",
         TSL_ERR_EXPIRED, "referenced token: exp"},
        {"{\"exp\":1700000030,\"status\":{\"status_list\":{\"idx\":7,\"uri\":\"u\"}}}",
         TSL_OK, NULL}, /* within the 60 s skew */
        {"{\"nbf\":1700001000,\"status\":{\"status_list\":{\"idx\":7,\"uri\":\"u\"}}}",
         TSL_ERR_EXPIRED, "nbf"},
        {"{\"iat\":1700001000,\"status\":{\"status_list\":{\"idx\":7,\"uri\":\"u\"}}}",
         TSL_ERR_EXPIRED, "iat"},
        {"{\"iat\":\"yesterday\",\"status\":{\"status_list\":{\"idx\":7,\"uri\":\"u\"}}}",
         TSL_ERR_CLAIM, "iat"},
        {"{\"iat\":1699999000}", TSL_ERR_CLAIM, "status: missing"},
        {"{\"status\":[1]}", TSL_ERR_CLAIM, "status: not"},
        {"{\"status\":{}}", TSL_ERR_CLAIM, "status.status_list: missing"},
        {"{\"status\":{\"status_list\":{\"idx\":-1,\"uri\":\"u\"}}}", TSL_ERR_CLAIM,
         "status.status_list.idx: -1 is not a non-negative integer"},
        {"{\"status\":{\"status_list\":{\"idx\":1.5,\"uri\":\"u\"}}}", TSL_ERR_CLAIM,
         "status.status_list.idx: 1.5 is not an integer"},
        /* issue 10 item 23: 0.0 was "0 is not a non-negative integer" */
        {"{\"status\":{\"status_list\":{\"idx\":0.0,\"uri\":\"u\"}}}", TSL_ERR_CLAIM,
         "status.status_list.idx: 0.0 is not an integer (written with a fraction or an "
         "exponent)"},
        {"{\"status\":{\"status_list\":{\"idx\":1e3,\"uri\":\"u\"}}}", TSL_ERR_CLAIM,
         "status.status_list.idx: 1e+03 is not an integer"},
        {"{\"status\":{\"status_list\":{\"idx\":\"3\",\"uri\":\"u\"}}}", TSL_ERR_CLAIM,
         "status.status_list.idx"},
        {"{\"status\":{\"status_list\":{\"uri\":\"u\"}}}", TSL_ERR_CLAIM, "idx: missing"},
        {"{\"status\":{\"status_list\":{\"idx\":3}}}", TSL_ERR_CLAIM,
         "status.status_list.uri: missing"},
        {"{\"status\":{\"status_list\":{\"idx\":3,\"uri\":5}}}", TSL_ERR_CLAIM,
         "uri: not a string"},
        {"{\"status\":{\"status_list\":{\"idx\":3,\"uri\":\"\"}}}", TSL_ERR_CLAIM, "uri"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char *t = sign_jwt(k, TSL_ALG_ES256, H, cases[c].payload);
        TT_CHECK(t != NULL);
        tsl_ref *r = NULL;
        tsl_error err;
        tsl_status st = parse_text(t, &o, &r, &err);
        if (st != cases[c].st)
            tt_failf(__FILE__, __LINE__, "case %zu: %s (%s), expected %s", c, tsl_strerror(st),
                     err.msg, tsl_strerror(cases[c].st));
        if (st == TSL_OK) {
            TT_EQ_U(tsl_ref_kind_of(r), TSL_REF_JWT);
            TT_EQ_U(tsl_ref_idx(r), 7);
        } else if (cases[c].msg != NULL) {
            TT_CONTAINS(err.msg, cases[c].msg);
        }
        tsl_ref_free(r);
        tsl_free(t);
        TT_CHECK(!tt_failed);
    }
    static const char P[] =
        "{\"status\":{\"status_list\":{\"idx\":7,\"uri\":\"" URI1 "\"}}}";
    tsl_ref *r = NULL;
    tsl_error err;
    /* Signed by another key under the same kid. */
    char *t = sign_jwt(k2, TSL_ALG_ES256, H, P);
    TT_ERR(parse_text(t, &o, &r, &err), TSL_ERR_SIGNATURE);
    tsl_free(t);
    /* A kid nobody has. */
    t = sign_jwt(k, TSL_ALG_ES256, "{\"alg\":\"ES256\",\"kid\":\"zz\"}", P);
    TT_ERR(parse_text(t, &o, &r, &err), TSL_ERR_KEY);
    tsl_free(t);
    /* A Status List Token's typ. */
    t = sign_jwt(k, TSL_ALG_ES256, "{\"alg\":\"ES256\",\"kid\":\"k1\",\"typ\":\"statuslist+jwt\"}",
                 P);
    TT_ERR(parse_text(t, &o, &r, &err), TSL_ERR_TYP);
    tsl_free(t);
    /* alg none, unsigned. */
    char *h = b64("{\"alg\":\"none\"}", 14), *p = b64(P, strlen(P));
    char buf[1024];
    snprintf(buf, sizeof buf, "%s.%s.", h, p);
    TT_ERR(parse_text(buf, &o, &r, &err), TSL_ERR_ALG);
    tsl_free(h);
    tsl_free(p);
    /* A broken signature: change a character in its middle. */
    t = sign_jwt(k, TSL_ALG_ES256, H, P);
    char *dot = strrchr(t, '.');
    dot[10] = dot[10] == 'A' ? 'B' : 'A';
    TT_ERR(parse_text(t, &o, &r, &err), TSL_ERR_SIGNATURE);
    tsl_free(t);
    /* ES256 not allowed. */
    o.policy.algs = TSL_ALG_BIT(TSL_ALG_EDDSA);
    t = sign_jwt(k, TSL_ALG_ES256, H, P);
    TT_ERR(parse_text(t, &o, &r, &err), TSL_ERR_ALG);
    tsl_free(t);
    tsl_keyset_free(ks);
    tsl_key_free(k);
    tsl_key_free(k2);
}

TT_TEST(ref_cwt_generated)
{
    tsl_key *k = NULL;
    TT_OK(tsl_key_generate(TSL_ALG_ES256, &k, NULL));
    TT_OK(tsl_key_set_kid(k, "c1", NULL));
    tsl_keyset *ks = keyset_of(k);
    tsl_ref_opts o = opts(ks, NOW);
    static const struct {
        int64_t iat, exp, nbf, idx;
        const char *uri;
        int no_status;
        tsl_status st;
        const char *msg;
    } cases[] = {
        {1699999000, 1800000000, 0, 42, URI1, 0, TSL_OK, NULL},
        {0, 0, 0, 0, URI1, 0, TSL_OK, NULL},
        {0, 1699999999, 0, 1, URI1, 0, TSL_ERR_EXPIRED, "exp"},
        {0, 0, 1700000100, 1, URI1, 0, TSL_ERR_EXPIRED, "nbf"},
        {1700000100, 0, 0, 1, URI1, 0, TSL_ERR_EXPIRED, "iat"},
        {0, 0, 0, 1, URI1, 1, TSL_ERR_CLAIM, "status (65535): missing"},
        {0, 0, 0, -1, URI1, 0, TSL_ERR_CLAIM, "idx: -1 is not a non-negative integer"},
        {0, 0, 0, 1, NULL, 0, TSL_ERR_CLAIM, "uri: missing"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        size_t cl = 0, tl = 0;
        uint8_t *claims = cwt_claims(cases[c].iat, cases[c].exp, cases[c].nbf, cases[c].idx,
                                     cases[c].uri, cases[c].no_status, &cl);
        uint8_t *t = sign_cwt(k, TSL_ALG_ES256, "c1", claims, cl, &tl);
        TT_CHECK(t != NULL);
        tsl_ref *r = NULL;
        tsl_error err;
        tsl_error_clear(&err);
        tsl_status st = tsl_ref_parse(t, tl, NULL, &o, &r, &err);
        if (st != cases[c].st)
            tt_failf(__FILE__, __LINE__, "case %zu: %s (%s), expected %s", c, tsl_strerror(st),
                     err.msg, tsl_strerror(cases[c].st));
        if (st == TSL_OK) {
            TT_EQ_U(tsl_ref_kind_of(r), TSL_REF_CWT);
            TT_EQ_U(tsl_ref_idx(r), cases[c].idx);
            TT_EQ_STR(tsl_ref_uri(r), URI1);
        } else if (cases[c].msg != NULL) {
            TT_CONTAINS(err.msg, cases[c].msg);
        }
        /* Base64url text of the same bytes is read too. */
        if (st == TSL_OK) {
            char *bt = b64(t, tl);
            tsl_ref_free(r);
            TT_OK(parse_text(bt, &o, &r, &err));
            tsl_free(bt);
        }
        tsl_ref_free(r);
        tsl_free(t);
        tsl_free(claims);
        TT_CHECK(!tt_failed);
    }
    tsl_keyset_free(ks);
    tsl_key_free(k);
}

/* ---------------------------------------------------------------------------------- */
/* Generated SD-JWT with key binding                                                     */

static char *digest_of(const char *s)
{
    uint8_t h[32];
    tslp_sha256((const uint8_t *)s, strlen(s), h);
    return b64(h, 32);
}

TT_TEST(ref_sdjwt_kb)
{
    tsl_key *ik = NULL, *hk = NULL;
    TT_OK(tsl_key_generate(TSL_ALG_ES256, &ik, NULL));
    TT_OK(tsl_key_generate(TSL_ALG_ES256, &hk, NULL));
    tsl_keyset *ks = keyset_of(ik);
    tsl_ref_opts o = opts(ks, NOW);
    char *hjwk = NULL;
    TT_OK(tsl_key_to_public_jwk(hk, &hjwk, NULL));
    const char *dj = "[\"c2FsdHNhbHQ\", \"given_name\", \"Erika\"]";
    char *disc = b64(dj, strlen(dj));
    char *dig = digest_of(disc);
    char payload[2048];
    snprintf(payload, sizeof payload,
             "{\"_sd\":[\"%s\"],\"_sd_alg\":\"sha-256\",\"iat\":1699990000,"
             "\"cnf\":{\"jwk\":%s},\"status\":{\"status_list\":{\"idx\":99,\"uri\":\"" URI1
             "\"}}}",
             dig, hjwk);
    char *ij = sign_jwt(ik, TSL_ALG_ES256, "{\"alg\":\"ES256\",\"typ\":\"dc+sd-jwt\"}", payload);
    TT_CHECK(ij != NULL);
    char presented[4096];
    snprintf(presented, sizeof presented, "%s~%s~", ij, disc);
    char *sdh = digest_of(presented);
    char kbp[512], full[8192];
    snprintf(kbp, sizeof kbp,
             "{\"iat\":1699999990,\"aud\":\"https://verifier.example\",\"nonce\":\"n\","
             "\"sd_hash\":\"%s\"}",
             sdh);
    char *kb = sign_jwt(hk, TSL_ALG_ES256, "{\"alg\":\"ES256\",\"typ\":\"kb+jwt\"}", kbp);
    snprintf(full, sizeof full, "%s%s", presented, kb);
    tsl_ref *r = NULL;
    tsl_error err;
    TT_OK(parse_text(presented, &o, &r, &err));
    TT_EQ_U(tsl_ref_idx(r), 99);
    tsl_ref_free(r);
    TT_OK(parse_text(full, &o, &r, &err));
    TT_EQ_U(tsl_ref_kind_of(r), TSL_REF_SDJWT);
    TT_EQ_U(tsl_ref_idx(r), 99);
    TT_EQ_STR(tsl_ref_uri(r), URI1);
    tsl_ref_free(r);

    /* The KB-JWT over a different presentation (the disclosure left out). */
    snprintf(full, sizeof full, "%s~%s", ij, kb);
    TT_ERR(parse_text(full, &o, &r, &err), TSL_ERR_SIGNATURE);
    TT_CONTAINS(err.msg, "sd_hash");
    /* A wrong sd_hash claim. */
    snprintf(kbp, sizeof kbp, "{\"iat\":1699999990,\"sd_hash\":\"%s\"}", dig);
    char *kb2 = sign_jwt(hk, TSL_ALG_ES256, "{\"alg\":\"ES256\",\"typ\":\"kb+jwt\"}", kbp);
    snprintf(full, sizeof full, "%s%s", presented, kb2);
    TT_ERR(parse_text(full, &o, &r, &err), TSL_ERR_SIGNATURE);
    TT_CONTAINS(err.msg, "sd_hash");
    tsl_free(kb2);
    /* Signed by the issuer instead of the holder. */
    snprintf(kbp, sizeof kbp, "{\"iat\":1699999990,\"sd_hash\":\"%s\"}", sdh);
    kb2 = sign_jwt(ik, TSL_ALG_ES256, "{\"alg\":\"ES256\",\"typ\":\"kb+jwt\"}", kbp);
    snprintf(full, sizeof full, "%s%s", presented, kb2);
    TT_ERR(parse_text(full, &o, &r, &err), TSL_ERR_SIGNATURE);
    tsl_free(kb2);
    /* Wrong typ. */
    kb2 = sign_jwt(hk, TSL_ALG_ES256, "{\"alg\":\"ES256\",\"typ\":\"JWT\"}", kbp);
    snprintf(full, sizeof full, "%s%s", presented, kb2);
    TT_ERR(parse_text(full, &o, &r, &err), TSL_ERR_TYP);
    tsl_free(kb2);
    /* iat in the future. */
    snprintf(kbp, sizeof kbp, "{\"iat\":1700009990,\"sd_hash\":\"%s\"}", sdh);
    kb2 = sign_jwt(hk, TSL_ALG_ES256, "{\"alg\":\"ES256\",\"typ\":\"kb+jwt\"}", kbp);
    snprintf(full, sizeof full, "%s%s", presented, kb2);
    TT_ERR(parse_text(full, &o, &r, &err), TSL_ERR_EXPIRED);
    tsl_free(kb2);
    /* A bad _sd_alg. */
    snprintf(payload, sizeof payload,
             "{\"_sd\":[\"%s\"],\"_sd_alg\":\"sha-1\",\"status\":{\"status_list\":{\"idx\":1,"
             "\"uri\":\"u\"}}}",
             dig);
    char *ij2 = sign_jwt(ik, TSL_ALG_ES256, "{\"alg\":\"ES256\"}", payload);
    snprintf(full, sizeof full, "%s~%s~", ij2, disc);
    TT_ERR(parse_text(full, &o, &r, &err), TSL_ERR_UNSUPPORTED);
    tsl_free(ij2);
    /* An array-element disclosure referenced by {"...": digest}. */
    const char *aj = "[\"c2FsdA\", \"FR\"]";
    char *ad = b64(aj, strlen(aj));
    char *adig = digest_of(ad);
    snprintf(payload, sizeof payload,
             "{\"nationalities\":[{\"...\":\"%s\"}],\"status\":{\"status_list\":{\"idx\":1,"
             "\"uri\":\"u\"}}}",
             adig);
    ij2 = sign_jwt(ik, TSL_ALG_ES256, "{\"alg\":\"ES256\",\"typ\":\"vc+sd-jwt\"}", payload);
    snprintf(full, sizeof full, "%s~%s~", ij2, ad);
    TT_OK(parse_text(full, &o, &r, &err));
    tsl_ref_free(r);
    /* The array-element disclosure referenced from _sd instead. */
    tsl_free(ij2);
    snprintf(payload, sizeof payload,
             "{\"_sd\":[\"%s\"],\"status\":{\"status_list\":{\"idx\":1,\"uri\":\"u\"}}}", adig);
    ij2 = sign_jwt(ik, TSL_ALG_ES256, "{\"alg\":\"ES256\"}", payload);
    snprintf(full, sizeof full, "%s~%s~", ij2, ad);
    TT_ERR(parse_text(full, &o, &r, &err), TSL_ERR_MALFORMED);
    TT_CONTAINS(err.msg, "array element");
    /* Without a status claim. */
    tsl_free(ij2);
    ij2 = sign_jwt(ik, TSL_ALG_ES256, "{\"alg\":\"ES256\"}", "{\"_sd\":[]}");
    snprintf(full, sizeof full, "%s~", ij2);
    TT_ERR(parse_text(full, &o, &r, &err), TSL_ERR_CLAIM);
    tsl_free(ij2);
    tsl_free(ad);
    tsl_free(adig);
    tsl_free(kb);
    tsl_free(sdh);
    tsl_free(ij);
    tsl_free(dig);
    tsl_free(disc);
    tsl_free(hjwk);
    tsl_keyset_free(ks);
    tsl_key_free(ik);
    tsl_key_free(hk);
}

/* Key binding asked for by the caller: aud, nonce, a maximum age, and a KB-JWT
 * required at all (RFC 9901 section 7.3). */
TT_TEST(ref_sdjwt_kb_policy)
{
    tsl_key *ik = NULL, *hk = NULL;
    TT_OK(tsl_key_generate(TSL_ALG_ES256, &ik, NULL));
    TT_OK(tsl_key_generate(TSL_ALG_ES256, &hk, NULL));
    tsl_keyset *ks = keyset_of(ik);
    char *hjwk = NULL;
    TT_OK(tsl_key_to_public_jwk(hk, &hjwk, NULL));
    char payload[2048];
    snprintf(payload, sizeof payload,
             "{\"iat\":1699990000,\"cnf\":{\"jwk\":%s},\"status\":{\"status_list\":"
             "{\"idx\":5,\"uri\":\"" URI1 "\"}}}",
             hjwk);
    char *ij = sign_jwt(ik, TSL_ALG_ES256, "{\"alg\":\"ES256\",\"typ\":\"dc+sd-jwt\"}", payload);
    TT_CHECK(ij != NULL);
    char presented[4096];
    snprintf(presented, sizeof presented, "%s~", ij);
    char *sdh = digest_of(presented);
    static const struct {
        const char *claims; /* around sd_hash */
        const char *aud, *nonce;
        int64_t max_age;
        tsl_status st;
        const char *msg;
    } cases[] = {
        {"\"aud\":\"https://v.example\",\"nonce\":\"n-1\"", "https://v.example", "n-1", 0,
         TSL_OK, NULL},
        {"\"aud\":[\"x\",\"https://v.example\"],\"nonce\":\"n-1\"", "https://v.example", NULL,
         60, TSL_OK, NULL},
        {"\"aud\":\"https://v.example\",\"nonce\":\"n-1\"", "https://other.example", NULL, 0,
         TSL_ERR_CLAIM, "aud does not name"},
        {"\"aud\":\"https://v.example\",\"nonce\":\"n-1\"", NULL, "n-2", 0, TSL_ERR_CLAIM,
         "nonce is not the one"},
        {"\"nonce\":\"n-1\"", NULL, NULL, 0, TSL_ERR_CLAIM, "aud: missing"},
        {"\"aud\":\"https://v.example\"", NULL, NULL, 0, TSL_ERR_CLAIM, "nonce: missing"},
        {"\"aud\":\"https://v.example\",\"nonce\":7", NULL, NULL, 0, TSL_ERR_CLAIM,
         "nonce: not a string"},
        {"\"aud\":\"https://v.example\",\"nonce\":\"n-1\"", NULL, NULL, 5, TSL_ERR_EXPIRED,
         "more than 5 s old"},
    };
    tsl_ref *r = NULL;
    tsl_error err;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char kbp[512], full[8192];
        snprintf(kbp, sizeof kbp, "{\"iat\":1699999990,%s,\"sd_hash\":\"%s\"}", cases[i].claims,
                 sdh);
        char *kb = sign_jwt(hk, TSL_ALG_ES256, "{\"alg\":\"ES256\",\"typ\":\"kb+jwt\"}", kbp);
        TT_CHECK(kb != NULL);
        snprintf(full, sizeof full, "%s%s", presented, kb);
        tsl_ref_opts o = opts(ks, NOW); /* NOW is 10 s after the KB-JWT's iat */
        o.kb_aud = cases[i].aud;
        o.kb_nonce = cases[i].nonce;
        o.kb_max_age = cases[i].max_age;
        tsl_status st = parse_text(full, &o, &r, &err);
        TT_EQ_U(st, cases[i].st);
        if (cases[i].msg != NULL)
            TT_CONTAINS(err.msg, cases[i].msg);
        if (st == TSL_OK) {
            TT_EQ_U(tsl_ref_idx(r), 5);
            tsl_ref_free(r);
        }
        tsl_free(kb);
    }
    /* No KB-JWT: fine unless key binding is asked for. */
    tsl_ref_opts o = opts(ks, NOW);
    TT_OK(parse_text(presented, &o, &r, &err));
    tsl_ref_free(r);
    o.require_kb = 1;
    TT_ERR(parse_text(presented, &o, &r, &err), TSL_ERR_CLAIM);
    TT_CONTAINS(err.msg, "no key-binding JWT");
    o.require_kb = 0;
    o.kb_nonce = "n-1";
    TT_ERR(parse_text(presented, &o, &r, &err), TSL_ERR_CLAIM);
    /* A plain JWT has no key binding to check: refused when it is required. */
    char *plain = sign_jwt(ik, TSL_ALG_ES256, "{\"alg\":\"ES256\",\"typ\":\"JWT\"}", payload);
    o.kb_nonce = NULL;
    TT_OK(parse_text(plain, &o, &r, &err));
    tsl_ref_free(r);
    o.require_kb = 1;
    TT_ERR(parse_text(plain, &o, &r, &err), TSL_ERR_CLAIM);
    TT_CONTAINS(err.msg, "for SD-JWT only, not for a JWT");
    TT_CHECK(r == NULL);
    tsl_free(plain);
    tsl_free(sdh);
    tsl_free(ij);
    tsl_free(hjwk);
    tsl_keyset_free(ks);
    tsl_key_free(ik);
    tsl_key_free(hk);
}

TT_TEST(ref_detection)
{
    tsl_ref_opts o = opts(NULL, NOW);
    tsl_ref *r = NULL;
    tsl_error err;
    TT_ERR(parse_text("", &o, &r, &err), TSL_ERR_MALFORMED);
    TT_ERR(parse_text("not a token!", &o, &r, &err), TSL_ERR_MALFORMED);
    TT_ERR(parse_text("a.b", &o, &r, &err), TSL_ERR_MALFORMED);
    static const uint8_t int_cbor[] = {0xC1, 0x01}; /* tag 1 */
    tsl_error_clear(&err);
    TT_ERR(tsl_ref_parse(int_cbor, sizeof int_cbor, NULL, &o, &r, &err), TSL_ERR_UNSUPPORTED);
    static const uint8_t map_cbor[] = {0xA1, 0x61, 0x61, 0x01}; /* {"a": 1} */
    tsl_error_clear(&err);
    TT_ERR(tsl_ref_parse(map_cbor, sizeof map_cbor, NULL, &o, &r, &err), TSL_ERR_MALFORMED);
    TT_CHECK(r == NULL);
    tsl_error_clear(&err);
    TT_ERR(tsl_ref_parse(NULL, 0, NULL, NULL, &r, &err), TSL_ERR_ARG);
}

/* Every allocation failing in turn: the parse fails with TSL_ERR_NOMEM and no result
 * (ASan's leak check sees the rest), until it succeeds. */
static void nomem_loop(const uint8_t *in, size_t len, const tsl_ref_opts *o, uint64_t idx)
{
    int succeeded = 0;
    for (long n = 1; n < 5000 && !succeeded; n++) {
        tsl_ref *r = NULL;
        tsl_error err;
        tsl_error_clear(&err);
        tslp_test_fail_alloc_after(n);
        tsl_status st = tsl_ref_parse(in, len, NULL, o, &r, &err);
        tslp_test_fail_alloc_after(0);
        if (st == TSL_OK) {
            succeeded = 1;
            TT_EQ_U(tsl_ref_idx(r), idx);
            tsl_ref_free(r);
        } else {
            if (st != TSL_ERR_NOMEM)
                tt_failf(__FILE__, __LINE__, "allocation %ld: %s (%s)", n, tsl_strerror(st),
                         err.msg);
            TT_CHECK(st == TSL_ERR_NOMEM && r == NULL);
        }
    }
    TT_CHECK(succeeded);
}

TT_TEST(ref_nomem)
{
    json_t *v = tt_load_json(VEC "sec6_3_referenced_token_cwt.json");
    size_t n;
    uint8_t *raw = tt_unhex(json_string_value(json_object_get(v, "cose_sign1_tagged_hex")), &n);
    tsl_keyset *ks = file_keyset(VEC "keys/example_es256_kid12.jwk.json", NULL);
    tsl_ref_opts o = opts(ks, NOW);
    nomem_loop(raw, n, &o, 0);
    free(raw);
    tsl_keyset_free(ks);
    json_decref(v);
    TT_CHECK(!tt_failed);

    unsigned char *sd = tt_read_file("tests/fuzz/corpus/fuzz_sdjwt/generated_kb.sdjwt", &n);
    ks = file_keyset(VEC "keys/rfc9901_example_issuer_es256.jwk.json", NULL);
    o = opts(ks, NOW);
    nomem_loop(sd, n, &o, 1234);
    free(sd);
    tsl_keyset_free(ks);
    TT_CHECK(!tt_failed);

    unsigned char *md = tt_read_file("tests/fuzz/corpus/fuzz_mdoc/device_response.cbor", &n);
    v = tt_load_json(VEC "historical_rev15_sec6_3_2_mdoc_issuerauth.json");
    size_t cn;
    uint8_t *cert = tt_unhex(json_string_value(json_object_get(
                              json_object_get(json_object_get(v, "unprotected_header"),
                                              "33 (x5chain)"),
                              "bstr_hex")),
                          &cn);
    char *pem = cert_pem(cert, cn);
    tsl_trust *trust = NULL;
    TT_OK(tsl_trust_new(&trust, NULL));
    TT_OK(tsl_trust_add_pem(trust, pem, strlen(pem), NULL));
    o = opts(NULL, 1735689600);
    o.policy.trust = trust;
    nomem_loop(md, n, &o, 412);
    tsl_trust_free(trust);
    free(pem);
    free(cert);
    free(md);
    json_decref(v);
}

/* Status List Tokens are not Referenced Tokens: their typ is refused in both forms. */
TT_TEST(ref_rejects_list_tokens)
{
    tsl_key *k = NULL;
    tsl_list *l = NULL;
    TT_OK(tsl_key_generate(TSL_ALG_ES256, &k, NULL));
    TT_OK(tsl_key_set_kid(k, "s1", NULL));
    TT_OK(tsl_list_new(1, 16, &l, NULL));
    tsl_keyset *ks = keyset_of(k);
    tsl_ref_opts o = opts(ks, NOW);
    for (int f = TSL_FORMAT_JWT; f <= TSL_FORMAT_CWT; f++) {
        tsl_token_params p;
        memset(&p, 0, sizeof p);
        p.format = (tsl_format)f;
        p.sub = URI1;
        p.iat = NOW - 10;
        uint8_t *t = NULL;
        size_t tl = 0;
        TT_OK(tsl_token_sign(l, &p, k, &t, &tl, NULL));
        tsl_ref *r = NULL;
        tsl_error err;
        tsl_error_clear(&err);
        TT_ERR(tsl_ref_parse(t, tl, NULL, &o, &r, &err), TSL_ERR_TYP);
        TT_CONTAINS(err.msg, "Status List Token");
        tsl_free(t);
    }
    tsl_list_free(l);
    tsl_keyset_free(ks);
    tsl_key_free(k);
}

/* Other signature algorithms, in both forms. */
TT_TEST(ref_algorithms)
{
    static const tsl_alg algs[] = {TSL_ALG_ES384, TSL_ALG_ES512, TSL_ALG_EDDSA, TSL_ALG_PS256};
    for (size_t a = 0; a < sizeof algs / sizeof algs[0]; a++) {
        tsl_key *k = NULL;
        TT_OK(tsl_key_generate(algs[a], &k, NULL));
        TT_OK(tsl_key_set_kid(k, "a", NULL));
        tsl_keyset *ks = keyset_of(k);
        tsl_ref_opts o = opts(ks, NOW);
        char hdr[128];
        snprintf(hdr, sizeof hdr, "{\"alg\":\"%s\",\"kid\":\"a\"}", tsl_alg_name(algs[a]));
        char *t = sign_jwt(k, algs[a], hdr,
                           "{\"status\":{\"status_list\":{\"idx\":5,\"uri\":\"" URI1 "\"}}}");
        tsl_ref *r = NULL;
        tsl_error err;
        TT_OK(parse_text(t, &o, &r, &err));
        TT_EQ_U(tsl_ref_idx(r), 5);
        tsl_ref_free(r);
        tsl_free(t);
        size_t cl = 0, tl = 0;
        uint8_t *claims = cwt_claims(NOW - 5, NOW + 100, 0, 6, URI1, 0, &cl);
        uint8_t *c = sign_cwt(k, algs[a], "a", claims, cl, &tl);
        tsl_error_clear(&err);
        TT_OK(tsl_ref_parse(c, tl, NULL, &o, &r, &err));
        TT_EQ_U(tsl_ref_idx(r), 6);
        tsl_ref_free(r);
        tsl_free(c);
        tsl_free(claims);
        tsl_keyset_free(ks);
        tsl_key_free(k);
    }
}

/* tsl_limits.max_uri and max_disclosures: a lowered bound refuses one past it with
 * TSL_ERR_LIMIT and a message naming it; the same token at the bound passes. */
TT_TEST(ref_limits_uri_and_disclosures)
{
    tsl_key *k = NULL;
    TT_OK(tsl_key_generate(TSL_ALG_ES256, &k, NULL));
    tsl_keyset *ks = keyset_of(k);
    TT_CHECK(ks != NULL);
    tsl_ref_opts o = opts(ks, NOW);
    tsl_ref *r = NULL;
    tsl_error err;

    /* A JWT whose uri is URI1 (33 bytes). */
    char *jwt = sign_jwt(k, TSL_ALG_ES256, "{\"alg\":\"ES256\",\"typ\":\"JWT\"}",
                         "{\"status\":{\"status_list\":{\"idx\":7,\"uri\":\"" URI1 "\"}}}");
    TT_CHECK(jwt != NULL);
    tsl_limits lim = {.max_uri = strlen(URI1) - 1};
    tsl_error_clear(&err);
    TT_ERR(tsl_ref_parse((const uint8_t *)jwt, strlen(jwt), &lim, &o, &r, &err),
           TSL_ERR_LIMIT);
    TT_CHECK(r == NULL);
    TT_CONTAINS(err.msg, "status_list uri of 33 bytes exceeds the limit of 32");
    lim.max_uri = strlen(URI1);
    TT_OK(tsl_ref_parse((const uint8_t *)jwt, strlen(jwt), &lim, &o, &r, NULL));
    TT_EQ_STR(tsl_ref_uri(r), URI1);
    tsl_ref_free(r);
    tsl_free(jwt);

    /* An SD-JWT presented with three disclosures. */
    char *disc[3], *dig[3];
    for (int i = 0; i < 3; i++) {
        char dj[64];
        snprintf(dj, sizeof dj, "[\"c2FsdA%d\", \"claim%d\", %d]", i, i, i);
        disc[i] = b64(dj, strlen(dj));
        dig[i] = digest_of(disc[i]);
    }
    char payload[1024];
    snprintf(payload, sizeof payload,
             "{\"_sd\":[\"%s\",\"%s\",\"%s\"],\"_sd_alg\":\"sha-256\",\"status\":"
             "{\"status_list\":{\"idx\":5,\"uri\":\"" URI1 "\"}}}",
             dig[0], dig[1], dig[2]);
    char *ij = sign_jwt(k, TSL_ALG_ES256, "{\"alg\":\"ES256\",\"typ\":\"dc+sd-jwt\"}", payload);
    TT_CHECK(ij != NULL);
    char sd[4096];
    snprintf(sd, sizeof sd, "%s~%s~%s~%s~", ij, disc[0], disc[1], disc[2]);
    tsl_limits dl = {.max_disclosures = 2};
    r = NULL;
    tsl_error_clear(&err);
    TT_ERR(tsl_ref_parse((const uint8_t *)sd, strlen(sd), &dl, &o, &r, &err), TSL_ERR_LIMIT);
    TT_CHECK(r == NULL);
    TT_CONTAINS(err.msg, "more than 2 disclosures");
    dl.max_disclosures = 3;
    TT_OK(tsl_ref_parse((const uint8_t *)sd, strlen(sd), &dl, &o, &r, NULL));
    TT_EQ_U(tsl_ref_idx(r), 5);
    tsl_ref_free(r);
    TT_OK(tsl_ref_parse((const uint8_t *)sd, strlen(sd), NULL, &o, &r, NULL));
    tsl_ref_free(r);
    for (int i = 0; i < 3; i++) {
        tsl_free(disc[i]);
        tsl_free(dig[i]);
    }
    tsl_free(ij);
    tsl_keyset_free(ks);
    tsl_key_free(k);
}
