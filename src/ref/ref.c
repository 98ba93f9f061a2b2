/* ref.c - Referenced Tokens (spec section 6): the form detected from the bytes, the
 * common struct tsl_ref and its accessors, and the JWT and CWT forms; the SD-JWT
 * (sdjwt.c) and mdoc (mdoc.c) forms are parsed in their own files, and what all forms
 * share is in claims.c. A token is validated by its own rules before its status
 * reference is read. */
#include "codec/cbor_int.h"
#include "envelope/envelope_int.h"
#include "ref/ref_int.h"

#include <jansson.h>
#include <math.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* Bounds on what a Referenced Token may carry. */

struct tsl_ref {
    tsl_ref_kind kind;
    char *uri;        /* the status list's; NULL for an mdoc with an identifier list only */
    uint64_t idx;
    tslp_idl_ref idl; /* an mdoc's identifier list entry, or all NULL */
};

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
        st = tslp_ref_check_times(he, exp, hn, nbf, hi, iat, now, o->policy.skew,
                                  "referenced token", err);
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
        st = tslp_mdoc_parse(in, len, lim, o, now, &r->uri, &r->idx, &r->idl, err);
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
    size_t a = 0, n = 0;
    const char *s = (const char *)in;
    uint8_t *bin = NULL;
    size_t bin_len = 0;
    tsl_form form = tslp_detect_form(in, len, &a, &n);
    s += a;
    switch (form) {
    case TSL_FORM_CBOR:
    case TSL_FORM_CBOR_MAP: st = cbor_ref(in, len, &L, o, now, r, err); break;
    case TSL_FORM_EMPTY:
        st = tslp_fail(err, TSL_ERR_MALFORMED, 0, "referenced token: empty input");
        break;
    case TSL_FORM_SDJWT:
        r->kind = TSL_REF_SDJWT;
        st = tslp_sdjwt_parse(s, n, &L, o, now, &r->uri, &r->idx, err);
        break;
    case TSL_FORM_JWT:
        r->kind = TSL_REF_JWT;
        st = jwt_ref(s, n, &L, o, now, r, err);
        break;
    case TSL_FORM_TEXT:
        if (tslp_text_to_bytes(in + a, n, &bin, &bin_len)) {
            tsl_form inner = tslp_detect_form(bin, bin_len, NULL, NULL);
            if (inner == TSL_FORM_CBOR || inner == TSL_FORM_CBOR_MAP)
                st = cbor_ref(bin, bin_len, &L, o, now, r, err);
            else
                st = tslp_fail(err, TSL_ERR_MALFORMED, a,
                               "referenced token: decoded bytes are not a CWT or an mdoc");
            tslp_free(bin);
            break;
        }
        /* fall through */
    default:
        st = tslp_fail(err, TSL_ERR_MALFORMED, a,
                       "referenced token: neither a JWT, an SD-JWT, nor CBOR (raw, hex "
                       "or base64url)");
        break;
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
    tslp_idl_ref_clear(&r->idl);
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

const char *tsl_ref_idlist_uri(const tsl_ref *r)
{
    return r->idl.uri;
}

const uint8_t *tsl_ref_idlist_id(const tsl_ref *r, size_t *len)
{
    if (len != NULL)
        *len = r->idl.id_len;
    return r->idl.id;
}

const uint8_t *tsl_ref_idlist_cert(const tsl_ref *r, size_t *len)
{
    if (len != NULL)
        *len = r->idl.cert_len;
    return r->idl.cert;
}
