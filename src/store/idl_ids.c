/* idl_ids.c - the identifiers of a stored identifier list (a list whose formats is
 * TSL_PUBLISH_IDLIST): an identifier list's entries are identifiers, but the store
 * keeps every list as indices with a status, so that allocation (the keyed permutation,
 * perm.c), batch updates, versions, history and export stay one machinery. Index i is
 * handed out as the 16-byte identifier E(i), where E is a keyed pseudorandom
 * permutation of 128-bit blocks: a 4-round Feistel network (Luby-Rackoff) over two
 * 64-bit halves, whose round function is AES-128 under a key derived from the list's
 * permutation key. So identifiers look uniformly random to anyone without the key (the
 * 18013-5 privacy requirement: an identifier says nothing about when, or in which
 * order, a credential was issued), revealing nothing of the index; and E inverts with
 * the key alone, which is how "revoke this identifier" finds its index. E^-1 of a
 * string the issuer never made has a non-zero low half with probability 1 - 2^-64: it
 * is refused as not an identifier of this list. Revoking sets the index's status to
 * INVALID; publishing lists E(i) for every index whose status is not VALID. */
#include "crypto/crypto.h"
#include "store/store_int.h"

#include <string.h>

#define ROUNDS 4

/* The identifier key: AES_perm_key("tsl idlist key 1"), so that it is never the
 * permutation's own key. */
static tsl_status idl_cipher(const uint8_t perm_key[TSLP_PERM_KEY_BYTES], tslp_aes128 **out,
                             tsl_error *err)
{
    static const uint8_t label[TSLP_AES128_BYTES] = "tsl idlist key 1";
    tslp_aes128 *p = NULL;
    uint8_t k[TSLP_AES128_BYTES];
    tsl_status st = tslp_aes128_new(perm_key, &p, err);
    if (st != TSL_OK)
        return st;
    bool ok = tslp_aes128_block(p, label, k);
    tslp_aes128_free(p);
    if (!ok)
        return tslp_fail(err, TSL_ERR_CRYPTO, 0, "identifier list: key derivation failed");
    st = tslp_aes128_new(k, out, err);
    tslp_cleanse(k, sizeof k);
    return st;
}

/* F_r(x): the first 8 bytes of AES(r || x || 0...). */
static bool round_fn(tslp_aes128 *c, unsigned r, const uint8_t x[8], uint8_t out[8])
{
    uint8_t in[TSLP_AES128_BYTES] = {0}, o[TSLP_AES128_BYTES];
    in[0] = (uint8_t)r;
    memcpy(in + 1, x, 8);
    if (!tslp_aes128_block(c, in, o))
        return false;
    memcpy(out, o, 8);
    return true;
}

/* The Feistel network forwards (inverse false) or backwards. */
static bool feistel(tslp_aes128 *c, const uint8_t in[16], uint8_t out[16], bool inverse)
{
    uint8_t l[8], r[8], f[8];
    memcpy(l, in, 8);
    memcpy(r, in + 8, 8);
    for (unsigned i = 0; i < ROUNDS; i++) {
        if (!inverse) { /* (l, r) -> (r, l ^ F_i(r)) */
            if (!round_fn(c, i, r, f))
                return false;
            for (int b = 0; b < 8; b++)
                f[b] ^= l[b];
            memcpy(l, r, 8);
            memcpy(r, f, 8);
        } else { /* (l, r) -> (r ^ F_j(l), l), rounds in reverse */
            if (!round_fn(c, ROUNDS - 1 - i, l, f))
                return false;
            for (int b = 0; b < 8; b++)
                f[b] ^= r[b];
            memcpy(r, l, 8);
            memcpy(l, f, 8);
        }
    }
    memcpy(out, l, 8);
    memcpy(out + 8, r, 8);
    return true;
}

/* Reads the list's row in a read transaction and opens its identifier cipher. */
static tsl_status open_list(tsl_store *st, const char *list, tslp_aes128 **c, uint64_t *size,
                            tsl_error *err)
{
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
    unsigned formats = row.info.formats;
    *size = row.info.size;
    tsl_list_info_free(&row.info);
    if (formats != TSL_PUBLISH_IDLIST)
        r = tslp_fail(err, TSL_ERR_ARG, 0, "list \"%s\": not an identifier list (it "
                      "publishes Status List Tokens: its entries are indices)", list);
    else
        r = idl_cipher(row.perm_key, c, err);
    tslp_cleanse(row.perm_key, sizeof row.perm_key);
    return r;
}

tsl_status tslp_store_idl_ids(const uint8_t perm_key[TSLP_PERM_KEY_BYTES],
                              const uint64_t *idx, size_t n, uint8_t *out, tsl_error *err)
{
    tslp_aes128 *c = NULL;
    tsl_status r = idl_cipher(perm_key, &c, err);
    for (size_t k = 0; r == TSL_OK && k < n; k++) {
        uint8_t in[16] = {0};
        for (int b = 0; b < 8; b++)
            in[b] = (uint8_t)(idx[k] >> (56 - 8 * b));
        if (!feistel(c, in, out + k * TSL_STORE_ID_BYTES, false))
            r = tslp_fail(err, TSL_ERR_CRYPTO, 0, "identifier list: AES failed");
    }
    tslp_aes128_free(c);
    return r;
}

tsl_status tsl_store_identifiers(tsl_store *st, const char *list, const uint64_t *idx,
                                 size_t n, uint8_t *out, tsl_error *err)
{
    if (n > 0 && (idx == NULL || out == NULL))
        return tslp_fail(err, TSL_ERR_ARG, 0, "store: NULL argument");
    tslp_aes128 *c = NULL;
    uint64_t size = 0;
    tsl_status r = open_list(st, list, &c, &size, err);
    for (size_t k = 0; r == TSL_OK && k < n; k++) {
        uint8_t in[16] = {0};
        if (idx[k] >= size) {
            r = tslp_fail(err, TSL_ERR_INDEX, 0, "list \"%s\": index %llu is outside the "
                          "list", list, (unsigned long long)idx[k]);
            break;
        }
        for (int b = 0; b < 8; b++)
            in[b] = (uint8_t)(idx[k] >> (56 - 8 * b));
        if (!feistel(c, in, out + k * TSL_STORE_ID_BYTES, false))
            r = tslp_fail(err, TSL_ERR_CRYPTO, 0, "identifier list: AES failed");
    }
    tslp_aes128_free(c);
    return r;
}

tsl_status tsl_store_identifier_index(tsl_store *st, const char *list, const uint8_t *id,
                                      size_t len, uint64_t *idx, tsl_error *err)
{
    if (id == NULL || idx == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "store: NULL argument");
    if (len != TSL_STORE_ID_BYTES)
        return tslp_fail(err, TSL_ERR_NOT_FOUND, 0, "list \"%s\": an identifier of %zu "
                         "bytes is not one of its own (%d bytes)", list, len,
                         TSL_STORE_ID_BYTES);
    tslp_aes128 *c = NULL;
    uint64_t size = 0;
    tsl_status r = open_list(st, list, &c, &size, err);
    uint8_t plain[16];
    if (r == TSL_OK && !feistel(c, id, plain, true))
        r = tslp_fail(err, TSL_ERR_CRYPTO, 0, "identifier list: AES failed");
    tslp_aes128_free(c);
    if (r != TSL_OK)
        return r;
    uint64_t v = 0;
    bool zero = true;
    for (int b = 0; b < 8; b++) {
        v = v << 8 | plain[b];
        zero = zero && plain[8 + b] == 0;
    }
    if (!zero || v >= size)
        return tslp_fail(err, TSL_ERR_NOT_FOUND, 0, "list \"%s\": not one of its "
                         "identifiers", list);
    *idx = v;
    return TSL_OK;
}
