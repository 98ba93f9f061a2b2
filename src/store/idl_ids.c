/* idl_ids.c - the identifiers of a stored identifier list (a list whose formats is
 * TSL_PUBLISH_IDLIST): an identifier list's entries are identifiers, but the store
 * keeps every list as indices with a status, so that allocation (the keyed permutation,
 * perm.c), batch updates, versions, history and export stay one machinery. Index i is
 * handed out as the L-byte identifier E(i || 0...), where L is the list's id_bytes
 * (16 by default, chosen at creation) and E a keyed pseudorandom permutation of L-byte
 * blocks under a key derived from the list's permutation key (idl_perm.c). So
 * identifiers look uniformly random to anyone without the key (the 18013-5 privacy
 * requirement: an identifier says nothing about when, or in which order, a credential
 * was issued), revealing nothing of the index; and E inverts with the key alone, which
 * is how "revoke this identifier" finds its index.
 *
 * A string the issuer never made is refused: E^-1 of it is (E being a PRP) close to a
 * uniform L-byte block, which is one of the list's size valid blocks (index < size in
 * the first min(8, L/2) bytes, zeros after) with probability about size / 2^(8L). Since
 * size <= 2^(8 min(8, L/2)) (tslp_idl_size_fits), that is at most 2^-(4L): 2^-32 for
 * 8-byte identifiers even with a full 2^32-entry list, about 2^-44 for 8 bytes and 10^6
 * entries, at most 2^-92 for 16 bytes. Revoking sets the index's status to INVALID;
 * publishing lists E(i) for every index whose status is not VALID. */
#include "store/idl_perm.h"

#include <string.h>

/* See idl_perm.h. */
tsl_status tslp_store_idl_open(tsl_store *st, const char *list, tslp_idl_perm *p,
                              uint64_t *size, tsl_error *err)
{
    memset(p, 0, sizeof *p);
    if (st == NULL || list == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "store: NULL argument");
    tsl_status r = tslp_store_begin(st, false, err);
    if (r != TSL_OK)
        return r;
    tslp_list_row row;
    r = tslp_store_read_row(st, list, &row, err);
    tslp_store_rollback(st);
    if (r != TSL_OK)
        return r;
    unsigned formats = row.info.formats, len = row.info.id_bytes;
    *size = row.info.size;
    tsl_list_info_free(&row.info);
    if (formats != TSL_PUBLISH_IDLIST)
        r = tslp_fail(err, TSL_ERR_ARG, 0, "list \"%s\": not an identifier list (it "
                      "publishes Status List Tokens: its entries are indices)", list);
    else
        r = tslp_idl_perm_init(p, row.perm_key, len, err);
    tslp_cleanse(row.perm_key, sizeof row.perm_key);
    return r;
}

tsl_status tslp_store_idl_ids(const uint8_t perm_key[TSLP_PERM_KEY_BYTES], unsigned id_bytes,
                              const uint64_t *idx, size_t n, uint8_t *out, tsl_error *err)
{
    tslp_idl_perm p;
    tsl_status r = tslp_idl_perm_init(&p, perm_key, id_bytes, err);
    for (size_t k = 0; r == TSL_OK && k < n; k++)
        if (!tslp_idl_perm_id(&p, idx[k], out + k * id_bytes))
            r = tslp_fail(err, TSL_ERR_CRYPTO, 0, "identifier list: AES failed");
    tslp_idl_perm_free(&p);
    return r;
}

tsl_status tsl_store_list_identifiers(tsl_store *st, const char *list, const uint64_t *idx,
                                      size_t n, uint8_t *out, size_t cap, size_t *id_len,
                                      tsl_error *err)
{
    if (id_len == NULL || (n > 0 && (idx == NULL || out == NULL)))
        return tslp_fail(err, TSL_ERR_ARG, 0, "store: NULL argument");
    tslp_idl_perm p;
    uint64_t size = 0;
    tsl_status r = tslp_store_idl_open(st, list, &p, &size, err);
    if (r == TSL_OK && n > cap / p.len)
        r = tslp_fail(err, TSL_ERR_ARG, 0, "list \"%s\": %zu identifiers of %u bytes do not "
                      "fit %zu bytes", list, n, p.len, cap);
    for (size_t k = 0; r == TSL_OK && k < n; k++) {
        if (idx[k] >= size)
            r = tslp_fail(err, TSL_ERR_INDEX, 0, "list \"%s\": index %llu is outside the "
                          "list", list, (unsigned long long)idx[k]);
        else if (!tslp_idl_perm_id(&p, idx[k], out + k * p.len))
            r = tslp_fail(err, TSL_ERR_CRYPTO, 0, "identifier list: AES failed");
    }
    if (r == TSL_OK)
        *id_len = p.len;
    tslp_idl_perm_free(&p);
    return r;
}

tsl_status tsl_store_identifiers(tsl_store *st, const char *list, const uint64_t *idx,
                                 size_t n, uint8_t *out, tsl_error *err)
{
    size_t len = 0;
    tsl_status r = tsl_store_list_identifiers(st, list, NULL, 0, NULL, 0, &len, err);
    if (r == TSL_OK && len != TSL_STORE_ID_BYTES)
        return tslp_fail(err, TSL_ERR_ARG, 0, "list \"%s\": its identifiers are %zu bytes "
                         "long, not %d: read them with tsl_store_list_identifiers", list,
                         len, TSL_STORE_ID_BYTES);
    if (r != TSL_OK || n == 0)
        return r;
    if (n > SIZE_MAX / TSL_STORE_ID_BYTES)
        return tslp_fail(err, TSL_ERR_ARG, 0, "store: too many identifiers");
    return tsl_store_list_identifiers(st, list, idx, n, out, n * TSL_STORE_ID_BYTES, &len,
                                      err);
}

tsl_status tsl_store_identifier_index(tsl_store *st, const char *list, const uint8_t *id,
                                      size_t len, uint64_t *idx, tsl_error *err)
{
    if (id == NULL || idx == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "store: NULL argument");
    tslp_idl_perm p;
    uint64_t size = 0;
    tsl_status r = tslp_store_idl_open(st, list, &p, &size, err);
    if (r == TSL_OK && len != p.len)
        r = tslp_fail(err, TSL_ERR_NOT_FOUND, 0, "list \"%s\": an identifier of %zu bytes "
                      "is not one of its own (%u bytes)", list, len, p.len);
    int found = 0;
    if (r == TSL_OK && (found = tslp_idl_perm_index(&p, id, size, idx)) < 0)
        r = tslp_fail(err, TSL_ERR_CRYPTO, 0, "identifier list: AES failed");
    tslp_idl_perm_free(&p);
    if (r == TSL_OK && found == 0)
        r = tslp_fail(err, TSL_ERR_NOT_FOUND, 0, "list \"%s\": not one of its identifiers",
                      list);
    return r;
}
