/* cose.c - COSE_Sign1 and COSE_Mac0 (RFC 9052), the one parser of them: the tags, the
 * four-item array, the protected header decoded from its byte string, the placement
 * rules (alg only protected, no label in both buckets, crit refused), kid and x5chain,
 * the protected alg, the Sig_structure / MAC_structure, and the check with an x5chain
 * leaf or the caller's keys. Status List Tokens (token/cwt.c) and Referenced Tokens
 * (ref/ref.c, ref/mdoc.c) read their claims from c->payload. Bounded CBOR reader only. */
#include "codec/cbor_write_int.h"
#include "crypto/crypto.h"
#include "envelope/envelope_int.h"

#include <string.h>

#define COSE_TAG_SIGN 98
#define COSE_TAG_MAC 97

#define HDR_ALG 1
#define HDR_CRIT 2
#define HDR_KID 4
#define HDR_X5CHAIN 33

tsl_status tslp_cose_tagged(const tslp_cbor_node *root, bool *mac, tsl_error *err)
{
    if (root->type == TSLP_CBOR_ARRAY)
        return tslp_fail(err, TSL_ERR_MALFORMED, 0,
                         "cose: untagged array; a Status List Token must be "
                         "COSE_Sign1_Tagged (18) or COSE_Mac0_Tagged (17)");
    if (root->type != TSLP_CBOR_TAG)
        return tslp_fail(err, TSL_ERR_MALFORMED, 0, "cwt: %s, expected a tagged COSE message",
                         tslp_cbor_type_name(root->type));
    switch (root->u) {
    case TSLP_COSE_TAG_SIGN1:
    case TSLP_COSE_TAG_MAC0: *mac = root->u == TSLP_COSE_TAG_MAC0; return TSL_OK;
    case TSLP_CWT_TAG:
        return tslp_fail(err, TSL_ERR_MALFORMED, 0,
                         "cwt: CWT tag 61 must not wrap a Status List Token (section 5.2)");
    case COSE_TAG_SIGN:
        return tslp_fail(err, TSL_ERR_MALFORMED, 0,
                         "cose: COSE_Sign (98) is not allowed, expected COSE_Sign1 (18)");
    case COSE_TAG_MAC:
        return tslp_fail(err, TSL_ERR_MALFORMED, 0,
                         "cose: COSE_Mac (97) is not allowed, expected COSE_Mac0 (17)");
    default:
        return tslp_fail(err, TSL_ERR_MALFORMED, 0,
                         "cose: tag %llu, expected COSE_Sign1 (18) or COSE_Mac0 (17)",
                         (unsigned long long)root->u);
    }
}

/* Absent, or null/undefined: a common producer quirk that we read as absent. */
static const tslp_cbor_node *optional(const tslp_cbor_node *v)
{
    if (v == NULL || v->type == TSLP_CBOR_NULL || v->type == TSLP_CBOR_UNDEFINED)
        return NULL;
    return v;
}

static tsl_status add_cert(tslp_cose *c, const tslp_cbor_node *n, const char *what,
                           tsl_error *err)
{
    if (n->type != TSLP_CBOR_BYTES || n->len == 0)
        return tslp_env_fail(err, TSL_ERR_MALFORMED, n->offset, what,
                     "x5chain (33): %s, expected a DER certificate as byte string",
                     tslp_cbor_type_name(n->type));
    if (c->x5c.n == c->max_x5c)
        return tslp_env_fail(err, TSL_ERR_LIMIT, n->offset, what,
                             "x5chain (33): more than %zu certificates", c->max_x5c);
    c->x5c.der[c->x5c.n] = n->str;
    c->x5c.der_len[c->x5c.n++] = n->len;
    return TSL_OK;
}

/* Reads one header map; `prot` says which one, for the placement rules. */
static tsl_status header_map(tslp_cose *c, const tslp_cbor_node *m, bool prot,
                             const tslp_cbor_node *other, const char *what, tsl_error *err)
{
    if (m->type != TSLP_CBOR_MAP)
        return tslp_env_fail(err, TSL_ERR_MALFORMED, m->offset, what,
                             "%s header: %s, expected map",
                     prot ? "protected" : "unprotected", tslp_cbor_type_name(m->type));
    for (const tslp_cbor_node *k = m->child; k != NULL; k = k->next->next) {
        const tslp_cbor_node *v = k->next;
        int64_t label;
        if (!tslp_cbor_get_int(k, &label))
            continue; /* text labels belong to private use; none concern us */
        /* RFC 9052 section 3: a label must not be in both buckets. */
        if (other->type == TSLP_CBOR_MAP && tslp_cbor_map_get_int(other, label) != NULL)
            return tslp_env_fail(err, TSL_ERR_MALFORMED, k->offset, what,
                         "header label %lld is in both the protected and unprotected headers",
                         (long long)label);
        tsl_status st = TSL_OK;
        switch (label) {
        case HDR_ALG:
            if (!prot)
                return tslp_env_fail(err, TSL_ERR_ALG, k->offset, what,
                             "alg (1): must be in the protected header");
            break;
        case HDR_CRIT:
            return tslp_env_fail(err, TSL_ERR_UNSUPPORTED, k->offset, what,
                         "crit (2): critical header parameters are not understood");
        case HDR_KID:
            if (optional(v) == NULL)
                break;
            /* RFC 9052 makes kid a byte string; a text kid is a harmless quirk. */
            if (v->type != TSLP_CBOR_BYTES && v->type != TSLP_CBOR_TEXT)
                return tslp_env_fail(err, TSL_ERR_MALFORMED, v->offset, what,
                             "kid (4): %s, expected byte string", tslp_cbor_type_name(v->type));
            if (v->len > TSLP_MAX_KID)
                return tslp_env_fail(err, TSL_ERR_LIMIT, v->offset, what,
                             "kid (4): longer than %d bytes", TSLP_MAX_KID);
            c->kid = v;
            break;
        case HDR_X5CHAIN:
            if (optional(v) == NULL)
                break;
            if (v->type == TSLP_CBOR_BYTES) {
                st = add_cert(c, v, what, err);
            } else if (v->type == TSLP_CBOR_ARRAY && v->count > 0) {
                for (const tslp_cbor_node *e = v->child; e != NULL && st == TSL_OK; e = e->next)
                    st = add_cert(c, e, what, err);
            } else {
                st = tslp_env_fail(err, TSL_ERR_MALFORMED, v->offset, what,
                           "x5chain (33): %s, expected a byte string or an array of them",
                           tslp_cbor_type_name(v->type));
            }
            break;
        default: break;
        }
        if (st != TSL_OK)
            return st;
    }
    return TSL_OK;
}

tsl_status tslp_cose_open(tslp_cose *c, const tslp_cbor_node *arr, bool mac,
                          const tsl_limits *lim, const char *what, tsl_error *err)
{
    memset(c, 0, sizeof *c);
    c->mac = mac;
    c->max_x5c = tslp_limit_x5c(lim);
    const char *sig_name = mac ? "tag" : "signature";
    if (arr->type != TSLP_CBOR_ARRAY || arr->count != 4)
        return tslp_env_fail(err, TSL_ERR_MALFORMED, arr->offset, what,
                     "expected %s, an array of 4 items (protected, unprotected, payload, %s)",
                     mac ? "COSE_Mac0" : "COSE_Sign1", sig_name);
    c->prot = arr->child;
    c->unprot = c->prot->next;
    c->payload = c->unprot->next;
    c->sig = c->payload->next;
    const struct {
        const tslp_cbor_node *n;
        const char *name;
    } parts[3] = {{c->prot, "protected header"}, {c->payload, "payload"}, {c->sig, sig_name}};
    for (int k = 0; k < 3; k++) {
        if (k == 1 && c->payload->type == TSLP_CBOR_NULL)
            return tslp_env_fail(err, TSL_ERR_MALFORMED, c->payload->offset, what,
                         "detached payload: a token carries its claims");
        if (parts[k].n->type != TSLP_CBOR_BYTES)
            return tslp_env_fail(err, TSL_ERR_MALFORMED, parts[k].n->offset, what,
                         "%s: %s, expected byte string", parts[k].name,
                         tslp_cbor_type_name(parts[k].n->type));
    }
    /* The protected header: a serialized map; an empty string stands for an empty map. */
    static const uint8_t empty_map[1] = {0xA0};
    tsl_status st = c->prot->len == 0
                        ? tslp_cbor_parse(empty_map, 1, lim, NULL, &c->pdoc, err)
                        : tslp_cbor_parse(c->prot->str, c->prot->len, lim, NULL, &c->pdoc, err);
    if (st != TSL_OK) {
        if (what != NULL)
            tslp_error_prefix(err, what);
        return st;
    }
    st = header_map(c, c->pdoc->root, true, c->unprot, what, err);
    if (st == TSL_OK)
        st = header_map(c, c->unprot, false, c->pdoc->root, what, err);
    return st;
}

tsl_status tslp_cose_alg(tslp_cose *c, uint32_t algs, const char *what, tsl_error *err)
{
    const tslp_cbor_node *prot = c->pdoc->root;
    const tslp_cbor_node *alg = tslp_cbor_map_get_int(prot, HDR_ALG);
    int64_t id;
    if (alg == NULL)
        return tslp_env_fail(err, TSL_ERR_ALG, c->prot->offset, what,
                     "alg (1): missing from the protected header");
    if (!tslp_cbor_get_int(alg, &id))
        return tslp_env_fail(err, TSL_ERR_ALG, alg->offset, what,
                             "alg (1): %s, expected an integer",
                     tslp_cbor_type_name(alg->type));
    c->alg = tsl_alg_from_cose_id(id);
    if (c->alg == TSL_ALG_UNKNOWN)
        return tslp_env_fail(err, TSL_ERR_ALG, alg->offset, what,
                             "alg (1): %lld is not supported",
                     (long long)id);
    if ((c->alg == TSL_ALG_HS256) != c->mac)
        return tslp_env_fail(err, TSL_ERR_ALG, alg->offset, what,
                     c->mac ? "alg (1): %s is a signature algorithm, but COSE_Mac0 needs a MAC"
                            : "alg (1): %s is a MAC, but COSE_Sign1 needs a signature "
                              "algorithm",
                     tsl_alg_name(c->alg));
    if (algs != 0 && (algs & TSL_ALG_BIT(c->alg)) == 0)
        return tslp_env_fail(err, TSL_ERR_ALG, alg->offset, what,
                             "alg: %s is not in the allow-list",
                     tsl_alg_name(c->alg));
    return TSL_OK;
}

const tslp_cbor_node *tslp_cose_header(const tslp_cose *c, int64_t label)
{
    const tslp_cbor_node *v = tslp_cbor_map_get_int(c->pdoc->root, label);
    if (v == NULL && c->unprot->type == TSLP_CBOR_MAP)
        v = tslp_cbor_map_get_int(c->unprot, label);
    return v;
}

tsl_status tslp_cose_tbs(const tslp_cose *c, uint8_t **out, size_t *out_len, tsl_error *err)
{
    tslp_cw w;
    tslp_cw_init(&w, c->payload->len + c->prot->len + 64);
    tslp_cw_array(&w, 4);
    tslp_cw_cstr(&w, c->mac ? "MAC0" : "Signature1");
    tslp_cw_bytes(&w, c->prot->str, c->prot->len);
    tslp_cw_bytes(&w, NULL, 0);
    tslp_cw_bytes(&w, c->payload->str, c->payload->len);
    return tslp_cw_finish(&w, out, out_len, err);
}

tsl_status tslp_cose_verify(const tslp_cose *c, const tsl_trust *trust, const tsl_keyset *ks,
                            int64_t now, bool x5chain_only, const char *what,
                            tsl_error *err)
{
    uint8_t *tbs = NULL;
    size_t tbs_len = 0;
    tsl_status st = tslp_cose_tbs(c, &tbs, &tbs_len, err);
    if (st != TSL_OK)
        return st;
    if (c->x5c.n > 0 && trust != NULL) {
        st = tslp_env_verify_chain(trust, &c->x5c, now, NULL, c->alg, tbs, tbs_len,
                                   c->sig->str, c->sig->len, err);
        if (st != TSL_OK && what != NULL)
            tslp_error_prefix(err, what);
    } else if (x5chain_only) {
        st = tslp_env_fail(err, TSL_ERR_TRUST, 0, what, "%s",
                   c->x5c.n > 0 ? "the x5chain needs trust anchors (a token's own "
                                  "certificates are never trusted by themselves)"
                                : "no x5chain (33) to verify the signature with");
    } else {
        /* An empty kid is still a kid (it names only keys whose kid is ""). */
        const uint8_t *kid = c->kid ? (c->kid->len ? c->kid->str : (const uint8_t *)"") : NULL;
        st = tslp_env_verify_keys(ks, kid, c->kid ? c->kid->len : 0,
                                  c->alg, c->mac, tbs, tbs_len, c->sig->str, c->sig->len, what,
                                  err);
    }
    tslp_free(tbs);
    return st;
}

void tslp_cose_close(tslp_cose *c)
{
    tslp_cbor_free(c->pdoc);
    c->pdoc = NULL;
}
