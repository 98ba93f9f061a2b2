/* idl_perm.c - the keyed permutation E of L-byte blocks (TSL_STORE_ID_MIN <= L <=
 * TSL_STORE_ID_MAX) that turns an identifier list's index into its identifier
 * (idl_ids.c): E(index || zeros) is handed out, E^-1 finds the index again.
 *
 * E is a Feistel network over AES-128 (the key derived from the list's permutation key,
 * never that key itself). The block is split into a left part of ceil(L/2) bytes and a
 * right part of floor(L/2); a round maps (l, r) to (r, l ^ F_i(r)), so for odd L the two
 * parts trade lengths every round (an alternating, unbalanced Feistel network, as NIST
 * FF1 and FFX use) and an even number of rounds ends with the lengths it started with.
 *
 * Rounds. For 16 bytes, 4 rounds, exactly as tsl made 16-byte identifiers before the
 * length became configurable, so existing lists keep their identifiers: balanced halves
 * of 64 bits, where Luby-Rackoff's theorem makes 4 rounds a strong PRP (distinguishing
 * advantage about q^2 / 2^64 after q identifiers). Every other even length of 18 bytes
 * or more: also 4 rounds, with halves of at least 72 bits. Odd lengths and lengths under
 * 16: 8 rounds. For an alternating network with parts of b and b + 1 bytes the 4-round
 * proof (Naor-Reingold) goes through with the smaller part, advantage about q^2 / 2^(8b)
 * — which for 8- or 9-byte identifiers (b = 4) is the birthday bound of 2^16
 * identifiers, reachable by a big issuer. Patarin's analyses of 6 and more rounds show
 * security far beyond that bound (close to 2^(8b) queries), so 8 rounds keep short
 * identifiers indistinguishable from random ones at any list size tsl allows; the cost
 * is 8 AES blocks per identifier (16 or fewer bytes per part).
 *
 * The round function F_i from a part of m bytes to n bytes (m, n <= 32):
 *   - m <= 15 and n <= 16: the first n bytes of AES(i || x || 0...), one block (the
 *     16-byte form, unchanged);
 *   - otherwise, for each 16-byte block j of the output, the CBC-MAC of the header
 *     (0x80 | i, j, m, n, 0...) followed by x zero-padded to whole blocks.
 * CBC-MAC is a PRF on a prefix-free set of messages (Petrank-Rackoff); these are: the
 * one-block messages start with a byte below 0x80 and the longer ones with 0x80 or more,
 * and two longer ones with the same header have the same length (a list's L fixes m
 * for each round). One key serves every round; i and j separate them. */
#include "store/idl_perm.h"

#include <string.h>

#define BLK TSLP_AES128_BYTES
#define PART_MAX ((TSL_STORE_ID_MAX + 1) / 2)

unsigned tslp_idl_rounds(unsigned len)
{
    return len % 2 == 0 && len >= 16 ? 4 : 8;
}

unsigned tslp_idl_index_bytes(unsigned len)
{
    return len / 2 < 8 ? len / 2 : 8;
}

bool tslp_idl_len_ok(unsigned len)
{
    return len >= TSL_STORE_ID_MIN && len <= TSL_STORE_ID_MAX;
}

bool tslp_idl_size_fits(unsigned len, uint64_t size)
{
    unsigned ib = tslp_idl_index_bytes(len);
    return ib >= 8 || size <= (uint64_t)1 << (8 * ib);
}

/* Here rather than in idl_ids.c: the backends check every row they read with it, and
 * idl_ids.c reads rows through them (store.c). */
bool tslp_store_id_bytes_bad(int64_t formats, int64_t size, int64_t id_bytes)
{
    if (formats != TSL_PUBLISH_IDLIST)
        return id_bytes != 0;
    return id_bytes < TSL_STORE_ID_MIN || id_bytes > TSL_STORE_ID_MAX || size < 0 ||
           !tslp_idl_size_fits((unsigned)id_bytes, (uint64_t)size);
}

/* The identifier key: AES_perm_key("tsl idlist key 1"), so that it is never the
 * permutation's own key. */
tsl_status tslp_idl_perm_init(tslp_idl_perm *p, const uint8_t perm_key[TSLP_PERM_KEY_BYTES],
                              unsigned len, tsl_error *err)
{
    static const uint8_t label[BLK] = "tsl idlist key 1";
    memset(p, 0, sizeof *p);
    if (!tslp_idl_len_ok(len))
        return tslp_fail(err, TSL_ERR_ARG, 0, "identifier list: an identifier length of "
                         "%u bytes is outside %d to %d", len, TSL_STORE_ID_MIN,
                         TSL_STORE_ID_MAX);
    tslp_aes128 *a = NULL;
    uint8_t k[BLK];
    tsl_status st = tslp_aes128_new(perm_key, &a, err);
    if (st != TSL_OK)
        return st;
    bool ok = tslp_aes128_block(a, label, k);
    tslp_aes128_free(a);
    if (!ok)
        return tslp_fail(err, TSL_ERR_CRYPTO, 0, "identifier list: key derivation failed");
    st = tslp_aes128_new(k, &p->aes, err);
    tslp_cleanse(k, sizeof k);
    p->len = len;
    p->rounds = tslp_idl_rounds(len);
    return st;
}

void tslp_idl_perm_free(tslp_idl_perm *p)
{
    tslp_aes128_free(p->aes);
    p->aes = NULL;
}

/* out = F_r(x), x of m bytes, out of n bytes (see the top). */
static bool round_fn(tslp_aes128 *c, unsigned r, const uint8_t *x, unsigned m, uint8_t *out,
                     unsigned n)
{
    uint8_t in[BLK], o[BLK];
    if (m <= BLK - 1 && n <= BLK) {
        memset(in, 0, sizeof in);
        in[0] = (uint8_t)r;
        memcpy(in + 1, x, m);
        if (!tslp_aes128_block(c, in, o))
            return false;
        memcpy(out, o, n);
        return true;
    }
    for (unsigned j = 0; j * BLK < n; j++) {
        memset(in, 0, sizeof in);
        in[0] = (uint8_t)(0x80u | r);
        in[1] = (uint8_t)j;
        in[2] = (uint8_t)m;
        in[3] = (uint8_t)n;
        if (!tslp_aes128_block(c, in, o))
            return false;
        for (unsigned off = 0; off < m; off += BLK) {
            for (unsigned b = 0; b < BLK; b++)
                in[b] = (uint8_t)(o[b] ^ (off + b < m ? x[off + b] : 0));
            if (!tslp_aes128_block(c, in, o))
                return false;
        }
        unsigned take = n - j * BLK < BLK ? n - j * BLK : BLK;
        memcpy(out + j * BLK, o, take);
    }
    return true;
}

bool tslp_idl_perm_apply(const tslp_idl_perm *p, const uint8_t *in, uint8_t *out,
                         bool inverse)
{
    uint8_t l[PART_MAX], r[PART_MAX], f[PART_MAX];
    unsigned la = p->len - p->len / 2, lr = p->len / 2;
    memcpy(l, in, la);
    memcpy(r, in + la, lr);
    bool ok = true;
    if (!inverse) {
        /* (l, r) -> (r, l ^ F_i(r)): the parts swap lengths. */
        for (unsigned i = 0; ok && i < p->rounds; i++) {
            ok = round_fn(p->aes, i, r, lr, f, la);
            for (unsigned b = 0; b < la; b++)
                f[b] ^= l[b];
            memcpy(l, r, lr);
            memcpy(r, f, la);
            unsigned t = la;
            la = lr;
            lr = t;
        }
    } else {
        /* Undoing round i: (l, r) = (r0, l0 ^ F_i(r0)) gives r0 = l and
         * l0 = r ^ F_i(l), rounds in reverse. */
        for (unsigned i = p->rounds; ok && i-- > 0;) {
            ok = round_fn(p->aes, i, l, la, f, lr);
            for (unsigned b = 0; b < lr; b++)
                f[b] ^= r[b];
            memcpy(r, l, la);
            memcpy(l, f, lr);
            unsigned t = la;
            la = lr;
            lr = t;
        }
    }
    memcpy(out, l, la);
    memcpy(out + la, r, lr);
    tslp_cleanse(l, sizeof l);
    tslp_cleanse(r, sizeof r);
    tslp_cleanse(f, sizeof f);
    return ok;
}

bool tslp_idl_perm_id(const tslp_idl_perm *p, uint64_t idx, uint8_t *out)
{
    uint8_t in[TSL_STORE_ID_MAX] = {0};
    unsigned ib = tslp_idl_index_bytes(p->len);
    for (unsigned b = 0; b < ib; b++)
        in[b] = (uint8_t)(idx >> (8 * (ib - 1 - b)));
    return tslp_idl_perm_apply(p, in, out, false);
}

int tslp_idl_perm_index(const tslp_idl_perm *p, const uint8_t *id, uint64_t size,
                        uint64_t *idx)
{
    uint8_t plain[TSL_STORE_ID_MAX];
    if (!tslp_idl_perm_apply(p, id, plain, true))
        return -1;
    unsigned ib = tslp_idl_index_bytes(p->len);
    uint64_t v = 0;
    uint8_t pad = 0;
    for (unsigned b = 0; b < ib; b++)
        v = v << 8 | plain[b];
    for (unsigned b = ib; b < p->len; b++)
        pad |= plain[b];
    if (pad != 0 || v >= size)
        return 0;
    *idx = v;
    return 1;
}
