/* cwt.c - the CWT form of a Status List Token (spec section 5.2): COSE_Sign1_Tagged
 * (18), or COSE_Mac0_Tagged (17) for HS256, never wrapped in the CWT tag 61; protected
 * header {1: alg, 16: "application/statuslist+cwt"}; claims 2 sub, 6 iat, 4 exp,
 * 65534 ttl, 65533 status_list. Parsing uses the bounded CBOR reader only. */
#include "codec/cbor_int.h"
#include "codec/cbor_write_int.h"
#include "crypto/crypto.h"
#include "token/token_int.h"

#include <math.h>
#include <string.h>
#include <strings.h>

#define COSE_TAG_SIGN1 TSLP_COSE_TAG_SIGN1
#define COSE_TAG_MAC0 TSLP_COSE_TAG_MAC0

#define HDR_ALG 1
#define HDR_KID 4
#define HDR_TYP 16
#define HDR_X5CHAIN 33

#define CLAIM_ISS 1
#define CLAIM_SUB 2
#define CLAIM_EXP 4
#define CLAIM_NBF 5
#define CLAIM_IAT 6
#define CLAIM_STATUS_LIST 65533
#define CLAIM_TTL 65534

static const char CWT_TYP[] = "application/statuslist+cwt";

/* Room for everything but the list: headers, claims, certificates are bounded by
 * callers; the list's compressed size is added on top. */

/* ["Signature1" | "MAC0", protected, external_aad = h'', payload] (RFC 9052 4.4, 6.3). */
static void tbs_structure(tslp_cw *w, bool mac, const uint8_t *prot, size_t prot_len,
                          const uint8_t *payload, size_t payload_len)
{
    tslp_cw_array(w, 4);
    tslp_cw_cstr(w, mac ? "MAC0" : "Signature1");
    tslp_cw_bytes(w, prot, prot_len);
    tslp_cw_bytes(w, NULL, 0);
    tslp_cw_bytes(w, payload, payload_len);
}

/* ---------------------------------------------------------------------------------- */
/* Signing                                                                              */

/* The claims map, with the StatusList map written straight into it from the list's
 * stream (borrowed when tsl_list_precompress() kept it): the one time the list is
 * serialised. */
static tsl_status encode_claims(const tsl_list *l, const tsl_token_params *p, uint8_t **out,
                                size_t *out_len, tsl_error *err)
{
    const uint8_t *z = NULL;
    uint8_t *owned = NULL;
    size_t zlen = 0, sl_len = 0;
    tsl_status st = tslp_list_zview(l, p->level, &z, &zlen, &owned, err);
    if (st == TSL_OK)
        st = tslp_statuslist_cbor_write(l, z, zlen, NULL, 0, &sl_len, err);
    if (st != TSL_OK) {
        tslp_free(owned);
        return st;
    }
    tslp_cw w;
    tslp_cw_init(&w, sl_len + TSLP_CWT_MAX_OVERHEAD);
    tslp_cw_map(&w, 3 + (p->iss != NULL) + (p->exp != 0) + (p->ttl != 0));
    if (p->iss != NULL) {
        tslp_cw_uint(&w, CLAIM_ISS);
        tslp_cw_cstr(&w, p->iss);
    }
    tslp_cw_uint(&w, CLAIM_SUB);
    tslp_cw_cstr(&w, p->sub);
    tslp_cw_uint(&w, CLAIM_IAT);
    tslp_cw_int(&w, p->iat);
    if (p->exp != 0) {
        tslp_cw_uint(&w, CLAIM_EXP);
        tslp_cw_int(&w, p->exp);
    }
    if (p->ttl != 0) {
        tslp_cw_uint(&w, CLAIM_TTL);
        tslp_cw_int(&w, p->ttl);
    }
    tslp_cw_uint(&w, CLAIM_STATUS_LIST);
    if (w.st == TSL_OK)
        w.st = tslp_buf_reserve(&w.b, sl_len, err);
    if (w.st == TSL_OK) {
        w.st = tslp_statuslist_cbor_write(l, z, zlen, w.b.data + w.b.len, sl_len, &sl_len,
                                          err);
        if (w.st == TSL_OK)
            w.b.len += sl_len;
    }
    tslp_free(owned);
    return tslp_cw_finish(&w, out, out_len, err);
}

tsl_status tslp_cose_seal(const uint8_t *payload, size_t payload_len, const char *typ,
                          const tsl_signer *s, uint8_t **out, size_t *out_len,
                          tsl_error *err)
{
    bool mac = s->alg == TSL_ALG_HS256;
    const char *kid = s->kid;
    const tsl_cert_chain *x5c = s->x5c;
    size_t nx = tsl_cert_chain_count(x5c);
    uint8_t *prot = NULL, *tbs = NULL, *sig = NULL;
    size_t prot_len = 0, tbs_len = 0, sig_len = 0;

    tslp_cw w;
    tslp_cw_init(&w, TSLP_CWT_MAX_OVERHEAD);
    tslp_cw_map(&w, 2);
    tslp_cw_uint(&w, HDR_ALG);
    tslp_cw_int(&w, tsl_alg_cose_id(s->alg));
    tslp_cw_uint(&w, HDR_TYP);
    tslp_cw_cstr(&w, typ);
    tsl_status st = tslp_cw_finish(&w, &prot, &prot_len, err);

    if (st == TSL_OK) {
        tslp_cw_init(&w, payload_len + TSLP_CWT_MAX_OVERHEAD);
        tbs_structure(&w, mac, prot, prot_len, payload, payload_len);
        st = tslp_cw_finish(&w, &tbs, &tbs_len, err);
    }
    if (st == TSL_OK)
        st = tsl_signer_sign(s, tbs, tbs_len, &sig, &sig_len, err);
    if (st == TSL_OK) {
        size_t certs = 0;
        for (size_t k = 0; k < nx; k++)
            certs += x5c->len[k] + 9;
        tslp_cw_init(&w, payload_len + sig_len + certs + TSLP_CWT_MAX_OVERHEAD);
        tslp_cw_tag(&w, mac ? COSE_TAG_MAC0 : COSE_TAG_SIGN1);
        tslp_cw_array(&w, 4);
        tslp_cw_bytes(&w, prot, prot_len);
        /* kid and x5chain are unprotected, as in the spec's example: the signature
         * does not depend on them, and the chain is checked on its own. */
        tslp_cw_map(&w, (kid != NULL) + (nx > 0));
        if (kid != NULL) {
            tslp_cw_uint(&w, HDR_KID);
            tslp_cw_bytes(&w, (const uint8_t *)kid, strlen(kid));
        }
        if (nx == 1) {
            tslp_cw_uint(&w, HDR_X5CHAIN);
            tslp_cw_bytes(&w, x5c->der[0], x5c->len[0]);
        } else if (nx > 1) {
            tslp_cw_uint(&w, HDR_X5CHAIN);
            tslp_cw_array(&w, nx);
            for (size_t k = 0; k < nx; k++)
                tslp_cw_bytes(&w, x5c->der[k], x5c->len[k]);
        }
        tslp_cw_bytes(&w, payload, payload_len);
        tslp_cw_bytes(&w, sig, sig_len);
        st = tslp_cw_finish(&w, out, out_len, err);
    }
    tslp_free(prot);
    tslp_free(tbs);
    tslp_free(sig);
    return st;
}

tsl_status tslp_cwt_sign(const tsl_list *l, const tsl_token_params *p, const tsl_signer *s,
                         uint8_t **out, size_t *out_len, tsl_error *err)
{
    uint8_t *payload = NULL;
    size_t payload_len = 0;
    tsl_status st = encode_claims(l, p, &payload, &payload_len, err);
    if (st == TSL_OK)
        st = tslp_cose_seal(payload, payload_len, CWT_TYP, s, out, out_len, err);
    tslp_free(payload);
    return st;
}

/* ---------------------------------------------------------------------------------- */
/* Parsing                                                                              */

/* Absent, or null/undefined: a common producer quirk that we read as absent. */
static const tslp_cbor_node *optional(const tslp_cbor_node *v)
{
    if (v == NULL || v->type == TSLP_CBOR_NULL || v->type == TSLP_CBOR_UNDEFINED)
        return NULL;
    return v;
}

/* A NumericDate (RFC 8392 section 2): an integer or a float of seconds. */
static tsl_status numeric_date(const tslp_cbor_node *v, const char *name, int64_t *out,
                               tsl_error *err)
{
    uint64_t u;
    if (tslp_cbor_get_uint(v, &u)) {
        if (u > INT64_MAX)
            return tslp_fail(err, TSL_ERR_CLAIM, v->offset, "%s: %llu is out of range", name,
                             (unsigned long long)u);
        *out = (int64_t)u;
        return TSL_OK;
    }
    if (v->type == TSLP_CBOR_FLOAT && v->f >= 0 && v->f < 9.2e18) {
        *out = (int64_t)floor(v->f);
        return TSL_OK;
    }
    return tslp_fail(err, TSL_ERR_CLAIM, v->offset,
                     "%s: %s, expected a non-negative NumericDate", name,
                     tslp_cbor_type_name(v->type));
}

/* Copies a text or byte string into a new NUL-terminated buffer. */
static char *dup_str(const tslp_cbor_node *n)
{
    return tslp_strndup(n->len ? (const char *)n->str : "", n->len);
}

/* typ (16): the Status List Token's media type, in the protected header only. */
static tsl_status parse_typ(tsl_token *t, const tslp_cose *c, tsl_error *err)
{
    if (c->unprot->type == TSLP_CBOR_MAP && tslp_cbor_map_get_int(c->unprot, HDR_TYP) != NULL)
        return tslp_fail(err, TSL_ERR_TYP, tslp_cbor_map_get_int(c->unprot, HDR_TYP)->offset,
                         "typ (16): must be in the protected header");
    const tslp_cbor_node *prot = c->pdoc->root;
    const tslp_cbor_node *typ = tslp_cbor_map_get_int(prot, HDR_TYP);
    if (typ == NULL)
        return tslp_fail(err, TSL_ERR_TYP, prot->offset,
                         "typ (16): missing from the protected header, expected \"%s\"",
                         CWT_TYP);
    if (typ->type == TSLP_CBOR_UINT)
        /* The CoAP Content-Format ID is still TBD in -21: no integer is known to be it. */
        return tslp_fail(err, TSL_ERR_TYP, typ->offset,
                         "typ (16): CoAP Content-Format %llu is not known (the spec's ID is "
                         "still TBD); expected \"%s\"",
                         (unsigned long long)typ->u, CWT_TYP);
    if (typ->type != TSLP_CBOR_TEXT)
        return tslp_fail(err, TSL_ERR_TYP, typ->offset, "typ (16): %s, expected text",
                         tslp_cbor_type_name(typ->type));
    if ((t->typ = dup_str(typ)) == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "cwt: out of memory");
    if (strlen(t->typ) != typ->len || strcasecmp(t->typ, CWT_TYP) != 0)
        return tslp_fail(err, TSL_ERR_TYP, typ->offset, "typ (16): \"%.60s\", expected \"%s\"",
                         t->typ, CWT_TYP);
    return TSL_OK;
}

tsl_status tslp_cwt_keep_envelope(tsl_token *t, const tslp_cose *c, tsl_error *err)
{
    t->alg = c->alg;
    t->mac = c->mac;
    if (c->kid != NULL) {
        if ((t->kid = (uint8_t *)dup_str(c->kid)) == NULL)
            return tslp_fail(err, TSL_ERR_NOMEM, 0, "cwt: out of memory");
        t->kid_len = c->kid->len;
    }
    for (size_t k = 0; k < c->x5c.n; k++) {
        if ((t->x5c[k] = tslp_malloc(c->x5c.der_len[k])) == NULL)
            return tslp_fail(err, TSL_ERR_NOMEM, 0, "cwt: out of memory");
        memcpy(t->x5c[k], c->x5c.der[k], c->x5c.der_len[k]);
        t->x5c_len[k] = c->x5c.der_len[k];
        t->x5c_n = k + 1;
    }
    tsl_status st = tslp_cose_tbs(c, &t->tbs, &t->tbs_len, err);
    if (st != TSL_OK)
        return st;
    if ((t->sig = tslp_malloc(c->sig->len ? c->sig->len : 1)) == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "cwt: out of memory");
    if (c->sig->len > 0)
        memcpy(t->sig, c->sig->str, c->sig->len);
    t->sig_len = c->sig->len;
    return TSL_OK;
}

static tsl_status parse_claims(tsl_token *t, const tslp_cbor_node *c, const tsl_limits *lim,
                               tsl_error *err)
{
    if (c->type != TSLP_CBOR_MAP)
        return tslp_fail(err, TSL_ERR_MALFORMED, c->offset, "cwt claims: %s, expected map",
                         tslp_cbor_type_name(c->type));
    const tslp_cbor_node *sub = tslp_cbor_map_get_int(c, CLAIM_SUB);
    if (sub == NULL)
        return tslp_fail(err, TSL_ERR_CLAIM, c->offset, "sub (2): missing (REQUIRED, 5.2)");
    if (sub->type != TSLP_CBOR_TEXT)
        return tslp_fail(err, TSL_ERR_CLAIM, sub->offset, "sub (2): %s, expected text",
                         tslp_cbor_type_name(sub->type));
    if ((t->sub = dup_str(sub)) == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "cwt: out of memory");

    const tslp_cbor_node *iat = tslp_cbor_map_get_int(c, CLAIM_IAT);
    if (iat == NULL)
        return tslp_fail(err, TSL_ERR_CLAIM, c->offset, "iat (6): missing (REQUIRED, 5.2)");
    tsl_status st = numeric_date(iat, "iat (6)", &t->iat, err);
    if (st != TSL_OK)
        return st;
    const tslp_cbor_node *exp = optional(tslp_cbor_map_get_int(c, CLAIM_EXP));
    if (exp != NULL) {
        if ((st = numeric_date(exp, "exp (4)", &t->exp, err)) != TSL_OK)
            return st;
        t->has_exp = true;
    }
    const tslp_cbor_node *nbf = optional(tslp_cbor_map_get_int(c, CLAIM_NBF));
    if (nbf != NULL) {
        if ((st = numeric_date(nbf, "nbf (5)", &t->nbf, err)) != TSL_OK)
            return st;
        t->has_nbf = true;
    }
    const tslp_cbor_node *ttl = optional(tslp_cbor_map_get_int(c, CLAIM_TTL));
    if (ttl != NULL) {
        uint64_t u;
        if (!tslp_cbor_get_uint(ttl, &u) || u == 0 || u > INT64_MAX)
            return tslp_fail(err, TSL_ERR_CLAIM, ttl->offset,
                             "ttl (65534): expected a positive unsigned integer");
        t->ttl = (int64_t)u;
        t->has_ttl = true;
    }
    const tslp_cbor_node *iss = optional(tslp_cbor_map_get_int(c, CLAIM_ISS));
    if (iss != NULL) {
        if (iss->type != TSLP_CBOR_TEXT)
            return tslp_fail(err, TSL_ERR_CLAIM, iss->offset, "iss (1): %s, expected text",
                             tslp_cbor_type_name(iss->type));
        if ((t->iss = dup_str(iss)) == NULL)
            return tslp_fail(err, TSL_ERR_NOMEM, 0, "cwt: out of memory");
    }
    const tslp_cbor_node *sl = tslp_cbor_map_get_int(c, CLAIM_STATUS_LIST);
    if (sl == NULL) {
        if (tslp_cbor_map_get_int(c, 65535) != NULL)
            return tslp_fail(err, TSL_ERR_CLAIM, c->offset,
                             "status_list (65533): missing; claim 65535 is a Referenced "
                             "Token's status, not a status list");
        return tslp_fail(err, TSL_ERR_CLAIM, c->offset,
                         "status_list (65533): missing (REQUIRED, 5.2)");
    }
    st = tslp_statuslist_from_node(sl, lim, &t->list, err);
    tslp_error_prefix(err, "status_list (65533)");
    return st;
}

tsl_status tslp_cwt_parse(tsl_token *t, const uint8_t *in, size_t len,
                          const tsl_limits *lim, tsl_error *err)
{
    t->format = TSL_FORMAT_CWT;
    tslp_cbor_doc *doc = NULL, *cdoc = NULL;
    tsl_status st = tslp_cbor_parse(in, len, lim, NULL, &doc, err);
    if (st != TSL_OK)
        return st;
    bool mac = false;
    tslp_cose c;
    memset(&c, 0, sizeof c);
    st = tslp_cose_tagged(doc->root, &mac, err);
    if (st == TSL_OK)
        st = tslp_cose_open(&c, doc->root->child, mac, lim, "cose", err);
    if (st == TSL_OK)
        st = parse_typ(t, &c, err);
    /* The allow-list is the verifier's: tsl_token_verify() applies it. */
    if (st == TSL_OK)
        st = tslp_cose_alg(&c, 0, "cose", err);
    if (st == TSL_OK) {
        st = tslp_cbor_parse(c.payload->str, c.payload->len, lim, NULL, &cdoc, err);
        if (st != TSL_OK)
            tslp_error_prefix(err, "cwt claims");
    }
    if (st == TSL_OK)
        st = parse_claims(t, cdoc->root, lim, err);
    if (st == TSL_OK)
        st = tslp_cwt_keep_envelope(t, &c, err);
    tslp_cbor_free(cdoc);
    tslp_cose_close(&c);
    tslp_cbor_free(doc);
    return st;
}
