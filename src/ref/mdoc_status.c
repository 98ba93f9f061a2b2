/* mdoc_status.c - an MSO's "status" (ISO/IEC 18013-5 second edition): a Token Status
 * List entry {"status_list": {"idx", "uri"}}, an identifier list entry
 * {"identifier_list": {"id": bstr, "uri": tstr, ? "certificate": bstr (DER)}}, or both.
 * At least one must be there. Both at once are allowed (as mdoc-ts allows; vck refuses
 * them): the verifier follows both and fails closed when they disagree (README
 * "Identifier lists"). */
#include "codec/cbor_int.h"
#include "ref/ref_int.h"

#include <string.h>

void tslp_idl_ref_clear(tslp_idl_ref *r)
{
    tslp_free(r->uri);
    tslp_free(r->id);
    tslp_free(r->cert);
    memset(r, 0, sizeof *r);
}

static tsl_status copy_bytes(const tslp_cbor_node *n, uint8_t **out, size_t *len,
                             tsl_error *err)
{
    *out = tslp_malloc(n->len ? n->len : 1);
    if (*out == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "mdoc: out of memory");
    if (n->len > 0)
        memcpy(*out, n->str, n->len);
    *len = n->len;
    return TSL_OK;
}

/* status.identifier_list: id (1 to TSLP_IDLIST_MAX_ID_LEN bytes), uri, certificate. */
static tsl_status identifier_list(const tslp_cbor_node *il, tslp_idl_ref *out, tsl_error *err)
{
    if (il->type != TSLP_CBOR_MAP)
        return tslp_fail(err, TSL_ERR_CLAIM, il->offset, "mdoc: status.identifier_list: %s, "
                         "expected map", tslp_cbor_type_name(il->type));
    const tslp_cbor_node *id = tslp_cbor_map_get_text(il, "id");
    const tslp_cbor_node *uri = tslp_cbor_map_get_text(il, "uri");
    const tslp_cbor_node *cert = tslp_cbor_map_get_text(il, "certificate");
    if (id == NULL || id->type != TSLP_CBOR_BYTES || id->len == 0 ||
        id->len > TSLP_IDLIST_MAX_ID_LEN)
        return tslp_fail(err, TSL_ERR_CLAIM, il->offset, "mdoc: status.identifier_list.id: "
                         "missing, or not a byte string of 1 to %d bytes",
                         TSLP_IDLIST_MAX_ID_LEN);
    if (uri == NULL || uri->type != TSLP_CBOR_TEXT || uri->len == 0 || uri->len > TSL_MAX_URI ||
        memchr(uri->str, 0, uri->len) != NULL)
        return tslp_fail(err, TSL_ERR_CLAIM, il->offset, "mdoc: status.identifier_list.uri: "
                         "missing, or not a URI of 1 to %d bytes without NUL", TSL_MAX_URI);
    if (cert != NULL && cert->type != TSLP_CBOR_NULL &&
        (cert->type != TSLP_CBOR_BYTES || cert->len == 0))
        return tslp_fail(err, TSL_ERR_CLAIM, cert->offset, "mdoc: status.identifier_list."
                         "certificate: %s, expected a DER certificate (byte string)",
                         tslp_cbor_type_name(cert->type));
    if ((out->uri = tslp_strndup((const char *)uri->str, uri->len)) == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "mdoc: out of memory");
    tsl_status st = copy_bytes(id, &out->id, &out->id_len, err);
    if (st == TSL_OK && cert != NULL && cert->type == TSLP_CBOR_BYTES)
        st = copy_bytes(cert, &out->cert, &out->cert_len, err);
    return st;
}

tsl_status tslp_mdoc_status(const tslp_cbor_node *status, char **uri, uint64_t *idx,
                            tslp_idl_ref *idl, tsl_error *err)
{
    const tslp_cbor_node *il = status != NULL && status->type == TSLP_CBOR_MAP
                                   ? tslp_cbor_map_get_text(status, "identifier_list")
                                   : NULL;
    if (il == NULL) /* the status list alone, read as before */
        return tslp_ref_status_cbor(status, "mdoc: status", uri, idx, err);
    tsl_status st = identifier_list(il, idl, err);
    if (st == TSL_OK && tslp_cbor_map_get_text(status, "status_list") != NULL)
        st = tslp_ref_status_cbor(status, "mdoc: status", uri, idx, err);
    if (st != TSL_OK)
        tslp_idl_ref_clear(idl);
    return st;
}
