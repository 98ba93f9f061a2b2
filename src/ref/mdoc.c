/* mdoc.c - ISO/IEC 18013-5 mdoc Referenced Tokens: a DeviceResponse {"documents":
 * [Document]}, a Document {"issuerSigned": ...}, an IssuerSigned {"issuerAuth": ...} or
 * a bare IssuerAuth (an untagged COSE_Sign1). The IssuerAuth is verified with the leaf
 * of its x5chain (label 33) once that chain reaches the caller's trust anchors; its
 * payload is tag 24 around the MobileSecurityObject, whose validityInfo must hold now
 * and whose "status" carries status_list {idx, uri} (draft -15 section 6.3.2), an
 * identifier_list {id, uri, certificate} (ISO/IEC 18013-5 second edition), or both
 * (mdoc_status.c). The data
 * elements presented in nameSpaces are matched against the MSO's valueDigests; the
 * deviceSigned part is not checked (its signature covers a session transcript only the
 * reader of a live presentation has). */
#include "codec/cbor_int.h"
#include "ref/ref_int.h"
#include "crypto/crypto.h"

#include <string.h>

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian; Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

/* n decimal digits at s, or -1. */
static int digits(const uint8_t *s, size_t n)
{
    int v = 0;
    for (size_t k = 0; k < n; k++) {
        if (s[k] < '0' || s[k] > '9')
            return -1;
        v = v * 10 + (s[k] - '0');
    }
    return v;
}

/* An RFC 3339 date-time (tdate, tag 0): YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM),
 * fractions dropped. */
static bool parse_tdate(const uint8_t *s, size_t n, int64_t *out)
{
    if (n < 20 || n > 64 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') ||
        s[13] != ':' || s[16] != ':')
        return false;
    int y = digits(s, 4), mo = digits(s + 5, 2), d = digits(s + 8, 2);
    int h = digits(s + 11, 2), mi = digits(s + 14, 2), se = digits(s + 17, 2);
    if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 ||
        mi > 59 || se < 0 || se > 60)
        return false;
    size_t k = 19;
    if (k < n && s[k] == '.') {
        k++;
        size_t f = k;
        while (k < n && s[k] >= '0' && s[k] <= '9')
            k++;
        if (k == f)
            return false;
    }
    int64_t off = 0;
    if (k + 1 == n && (s[k] == 'Z' || s[k] == 'z')) {
        off = 0;
    } else if (k + 6 == n && (s[k] == '+' || s[k] == '-') && s[k + 3] == ':') {
        int oh = digits(s + k + 1, 2), om = digits(s + k + 4, 2);
        if (oh < 0 || oh > 23 || om < 0 || om > 59)
            return false;
        off = (oh * 3600 + om * 60) * (s[k] == '-' ? -1 : 1);
    } else {
        return false;
    }
    *out = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + se -
           off;
    return true;
}

/* A validityInfo time: tag 0 around a text date-time. */
static tsl_status mso_time(const tslp_cbor_node *vi, const char *name, int64_t *t,
                           tsl_error *err)
{
    const tslp_cbor_node *n = tslp_cbor_map_get_text(vi, name);
    if (n == NULL)
        return tslp_fail(err, TSL_ERR_CLAIM, vi->offset, "mdoc: validityInfo.%s: missing",
                         name);
    if (n->type != TSLP_CBOR_TAG || n->u != 0 || n->child->type != TSLP_CBOR_TEXT ||
        !parse_tdate(n->child->str, n->child->len, t))
        return tslp_fail(err, TSL_ERR_CLAIM, n->offset,
                         "mdoc: validityInfo.%s: not a tdate (tag 0 around an RFC 3339 "
                         "date-time)",
                         name);
    return TSL_OK;
}

/* Finds the IssuerAuth in whatever wraps it. */
static tsl_status find_issuer_auth(const tslp_cbor_node *root, const tslp_cbor_node **ia,
                                   const tslp_cbor_node **doc_type,
                                   const tslp_cbor_node **issuer_signed, tsl_error *err)
{
    const tslp_cbor_node *n = root;
    if (n->type == TSLP_CBOR_MAP && tslp_cbor_map_get_text(n, "documents") != NULL) {
        const tslp_cbor_node *docs = tslp_cbor_map_get_text(n, "documents");
        if (docs->type != TSLP_CBOR_ARRAY || docs->count != 1)
            return tslp_fail(err, TSL_ERR_UNSUPPORTED, docs->offset,
                             "mdoc: documents: expected an array of exactly one Document "
                             "(one Referenced Token at a time)");
        n = docs->child;
    }
    if (n->type == TSLP_CBOR_MAP && tslp_cbor_map_get_text(n, "issuerSigned") != NULL) {
        *doc_type = tslp_cbor_map_get_text(n, "docType");
        n = tslp_cbor_map_get_text(n, "issuerSigned");
    }
    if (n->type == TSLP_CBOR_MAP) {
        const tslp_cbor_node *a = tslp_cbor_map_get_text(n, "issuerAuth");
        *issuer_signed = n;
        if (a == NULL)
            return tslp_fail(err, TSL_ERR_MALFORMED, n->offset,
                             "mdoc: no documents, issuerSigned or issuerAuth");
        n = a;
    }
    if (n->type == TSLP_CBOR_TAG && n->u == 18) /* tolerated, though ISO uses untagged */
        n = n->child;
    if (n->type != TSLP_CBOR_ARRAY)
        return tslp_fail(err, TSL_ERR_MALFORMED, n->offset,
                         "mdoc: issuerAuth: %s, expected COSE_Sign1",
                         tslp_cbor_type_name(n->type));
    *ia = n;
    return TSL_OK;
}

/* The data elements an IssuerSigned presents (nameSpaces: {ns: [IssuerSignedItemBytes]})
 * must be the ones the issuer signed: each item is tag 24 around a byte string holding
 * a map with digestID, and the digestAlgorithm hash of the item's whole encoding (tag
 * included, ISO/IEC 18013-5 section 9.1.2.4) must equal valueDigests[ns][digestID]. A
 * tampered element makes the whole mdoc invalid, as a bad disclosure does an SD-JWT. */
static tsl_status check_value_digests(const tslp_cbor_node *issuer_signed,
                                      const tslp_cbor_node *mso, const tslp_cbor_doc *doc,
                                      const tsl_limits *lim, tsl_error *err)
{
    const tslp_cbor_node *nss = tslp_cbor_map_get_text(issuer_signed, "nameSpaces");
    if (nss == NULL)
        return TSL_OK; /* nothing presented, nothing to match */
    if (nss->type != TSLP_CBOR_MAP)
        return tslp_fail(err, TSL_ERR_MALFORMED, nss->offset, "mdoc: nameSpaces: %s, "
                         "expected map", tslp_cbor_type_name(nss->type));
    const tslp_cbor_node *alg = tslp_cbor_map_get_text(mso, "digestAlgorithm");
    const char *a = NULL;
    size_t al = 0;
    unsigned bits = 0;
    if (tslp_cbor_get_text(alg, &a, &al)) {
        if (al == 7 && memcmp(a, "SHA-256", 7) == 0)
            bits = 256;
        else if (al == 7 && memcmp(a, "SHA-384", 7) == 0)
            bits = 384;
        else if (al == 7 && memcmp(a, "SHA-512", 7) == 0)
            bits = 512;
    }
    if (bits == 0)
        return tslp_fail(err, TSL_ERR_UNSUPPORTED, alg ? alg->offset : 0,
                         "mdoc: digestAlgorithm: %s%.*s%s, expected SHA-256, SHA-384 or "
                         "SHA-512", a ? "\"" : "", a ? (int)(al > 40 ? 40 : al) : 7,
                         a ? a : "missing", a ? "\"" : "");
    const tslp_cbor_node *vd = tslp_cbor_map_get_text(mso, "valueDigests");
    if (vd == NULL || vd->type != TSLP_CBOR_MAP)
        return tslp_fail(err, TSL_ERR_CLAIM, 0, "mdoc: valueDigests: missing or not a map");
    const tslp_cbor_node *k = nss->child;
    for (size_t i = 0; i < nss->count; i++, k = k->next->next) {
        const char *ns = NULL;
        size_t nl = 0;
        if (!tslp_cbor_get_text(k, &ns, &nl))
            return tslp_fail(err, TSL_ERR_MALFORMED, k->offset,
                             "mdoc: nameSpaces: key is %s, expected text string",
                             tslp_cbor_type_name(k->type));
        const tslp_cbor_node *items = k->next, *ids = NULL;
        for (const tslp_cbor_node *vk = vd->child; vk != NULL; vk = vk->next->next)
            if (vk->type == TSLP_CBOR_TEXT && vk->len == nl &&
                (nl == 0 || memcmp(vk->str, ns, nl) == 0))
                ids = vk->next;
        if (ids == NULL || ids->type != TSLP_CBOR_MAP)
            return tslp_fail(err, TSL_ERR_CLAIM, k->offset,
                             "mdoc: nameSpaces \"%.*s\": no valueDigests for it",
                             (int)(nl > 60 ? 60 : nl), ns);
        if (items->type != TSLP_CBOR_ARRAY)
            return tslp_fail(err, TSL_ERR_MALFORMED, items->offset,
                             "mdoc: nameSpaces \"%.*s\": %s, expected array",
                             (int)(nl > 60 ? 60 : nl), ns, tslp_cbor_type_name(items->type));
        size_t j = 0;
        for (const tslp_cbor_node *it = items->child; it != NULL; it = it->next, j++) {
            if (it->type != TSLP_CBOR_TAG || it->u != 24 || it->child->type != TSLP_CBOR_BYTES)
                return tslp_fail(err, TSL_ERR_MALFORMED, it->offset,
                                 "mdoc: nameSpaces \"%.*s\"[%zu]: expected tag 24 around a "
                                 "byte string (IssuerSignedItemBytes)",
                                 (int)(nl > 60 ? 60 : nl), ns, j);
            tslp_cbor_doc *idoc = NULL;
            tsl_status st = tslp_cbor_parse(it->child->str, it->child->len, lim, NULL, &idoc,
                                            err);
            if (st != TSL_OK) {
                tslp_error_prefix(err, "mdoc: IssuerSignedItem");
                return st;
            }
            uint64_t id = 0;
            bool have_id = idoc->root->type == TSLP_CBOR_MAP &&
                           tslp_cbor_get_uint(tslp_cbor_map_get_text(idoc->root, "digestID"),
                                              &id);
            tslp_cbor_free(idoc);
            if (!have_id)
                return tslp_fail(err, TSL_ERR_MALFORMED, it->offset,
                                 "mdoc: nameSpaces \"%.*s\"[%zu]: no unsigned digestID",
                                 (int)(nl > 60 ? 60 : nl), ns, j);
            const tslp_cbor_node *want = NULL;
            for (const tslp_cbor_node *dk = ids->child; dk != NULL; dk = dk->next->next)
                if (dk->type == TSLP_CBOR_UINT && dk->u == id)
                    want = dk->next;
            uint8_t got[64];
            if (want == NULL || want->type != TSLP_CBOR_BYTES || want->len != bits / 8)
                return tslp_fail(err, TSL_ERR_CLAIM, it->offset,
                                 "mdoc: nameSpaces \"%.*s\"[%zu]: digestID %llu has no "
                                 "%u-bit digest in valueDigests",
                                 (int)(nl > 60 ? 60 : nl), ns, j, (unsigned long long)id,
                                 bits);
            if (tslp_sha2(bits, doc->input + it->offset, it->enc_len, got) != TSL_OK)
                return tslp_fail(err, TSL_ERR_CRYPTO, 0, "mdoc: digest failed");
            if (memcmp(got, want->str, bits / 8) != 0)
                return tslp_fail(err, TSL_ERR_SIGNATURE, it->offset,
                                 "mdoc: nameSpaces \"%.*s\"[%zu] (digestID %llu): the digest "
                                 "does not match valueDigests: the data element was altered",
                                 (int)(nl > 60 ? 60 : nl), ns, j, (unsigned long long)id);
        }
    }
    return TSL_OK;
}

tsl_status tslp_mdoc_parse(const uint8_t *in, size_t len, const tsl_limits *lim,
                           const tsl_ref_opts *o, int64_t now, char **uri, uint64_t *idx,
                           tslp_idl_ref *idl, tsl_error *err)
{
    tslp_cbor_doc *doc = NULL, *mdoc = NULL;
    tsl_status st = tslp_cbor_parse(in, len, lim, NULL, &doc, err);
    if (st != TSL_OK)
        return st;
    const tslp_cbor_node *ia = NULL, *pl = NULL, *doc_type = NULL, *issuer_signed = NULL;
    st = find_issuer_auth(doc->root, &ia, &doc_type, &issuer_signed, err);
    if (st == TSL_OK)
        st = tslp_ref_cose_sign1(ia, lim, o, now, true, "mdoc: issuerAuth", &pl, err);
    /* The payload: tag 24 (encoded CBOR data item) around a byte string holding the
     * MobileSecurityObject. */
    const tslp_cbor_node *mso = NULL;
    if (st == TSL_OK) {
        tslp_cbor_doc *pdoc = NULL;
        st = tslp_cbor_parse(pl->str, pl->len, lim, NULL, &pdoc, err);
        if (st != TSL_OK) {
            tslp_error_prefix(err, "mdoc: issuerAuth payload");
        } else {
            const tslp_cbor_node *t = pdoc->root;
            if (t->type != TSLP_CBOR_TAG || t->u != 24 || t->child->type != TSLP_CBOR_BYTES)
                st = tslp_fail(err, TSL_ERR_MALFORMED, 0,
                               "mdoc: issuerAuth payload: expected tag 24 around a byte "
                               "string (the MobileSecurityObject)");
            else
                st = tslp_cbor_parse(t->child->str, t->child->len, lim, NULL, &mdoc, err);
            tslp_cbor_free(pdoc); /* mdoc points into pl, in doc */
            if (st == TSL_OK) {
                mso = mdoc->root;
                if (mso->type != TSLP_CBOR_MAP)
                    st = tslp_fail(err, TSL_ERR_MALFORMED, 0,
                                   "mdoc: MobileSecurityObject: %s, expected map",
                                   tslp_cbor_type_name(mso->type));
            }
        }
    }
    if (st == TSL_OK) {
        const tslp_cbor_node *vi = tslp_cbor_map_get_text(mso, "validityInfo");
        int64_t from = 0, until = 0;
        int64_t skew = o->policy.skew > 0 ? o->policy.skew : 0;
        if (vi == NULL || vi->type != TSLP_CBOR_MAP)
            st = tslp_fail(err, TSL_ERR_CLAIM, 0, "mdoc: validityInfo: missing or not a map");
        if (st == TSL_OK)
            st = mso_time(vi, "validFrom", &from, err);
        if (st == TSL_OK)
            st = mso_time(vi, "validUntil", &until, err);
        if (st == TSL_OK && from - skew > now)
            st = tslp_fail(err, TSL_ERR_EXPIRED, 0,
                           "mdoc: validityInfo.validFrom %lld is after now %lld",
                           (long long)from, (long long)now);
        if (st == TSL_OK && now - skew >= until)
            st = tslp_fail(err, TSL_ERR_EXPIRED, 0,
                           "mdoc: validityInfo.validUntil %lld has passed (now %lld)",
                           (long long)until, (long long)now);
    }
    if (st == TSL_OK && doc_type != NULL) {
        /* The Document's docType is unsigned: it must be the one the issuer signed. */
        const tslp_cbor_node *signed_type = tslp_cbor_map_get_text(mso, "docType");
        if (doc_type->type != TSLP_CBOR_TEXT || signed_type == NULL ||
            signed_type->type != TSLP_CBOR_TEXT || signed_type->len != doc_type->len ||
            (doc_type->len > 0 && memcmp(signed_type->str, doc_type->str, doc_type->len) != 0))
            st = tslp_fail(err, TSL_ERR_CLAIM, doc_type->offset,
                           "mdoc: the Document's docType is not the MSO's docType");
    }
    if (st == TSL_OK && issuer_signed != NULL)
        st = check_value_digests(issuer_signed, mso, doc, lim, err);
    if (st == TSL_OK)
        st = tslp_mdoc_status(tslp_cbor_map_get_text(mso, "status"), uri, idx, idl, err);
    tslp_cbor_free(mdoc);
    tslp_cbor_free(doc);
    return st;
}
