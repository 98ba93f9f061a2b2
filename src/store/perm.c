/* perm.c - the keyed pseudorandom permutation behind index allocation (spec sections
 * 12.4, 13.2 and 13.3: indices should be drawn at random so that their order reveals
 * nothing about when a Referenced Token was issued, and no index is ever handed out
 * twice).
 *
 * P is a permutation of [0, size): a balanced Feistel network over the smallest even
 * number of bits 2k with 2^(2k) >= size (k >= 1), TSLP_PERM_ROUNDS rounds, whose round
 * function is AES-128 keyed with the list's 16-byte permutation key, applied to one
 * block (round number, the right half), truncated to k bits. A Feistel network is a
 * bijection of [0, 2^(2k)) whatever its round function; cycle-walking (apply it again
 * until the value falls below size) restricts it to a bijection of [0, size), and since
 * 2^(2k) < 4 * size, it takes fewer than four steps on average.
 *
 * Why this satisfies "uniformly at random from the free ones": the list allocates
 * P(0), P(1), P(2), ... in turn. With AES a pseudorandom function and a key drawn from
 * the CSPRNG at list creation and never shown, P is a pseudorandom permutation:
 * no efficient observer can tell the sequence P(0), P(1), ... from a uniformly random
 * ordering of [0, size), which is exactly drawing uniformly without replacement (each
 * index is uniform over those not yet drawn). Distinctness is not a matter of
 * probability: P is a bijection, and the counter never goes back, so an index is handed
 * out once ever, and the decoys, P(size - decoys) .. P(size - 1), never. */
#include "crypto/crypto.h"
#include "store/store_int.h"

#include <string.h>

tsl_status tslp_perm_init(tslp_perm *p, const uint8_t key[TSLP_PERM_KEY_BYTES],
                          uint64_t size, tsl_error *err)
{
    memset(p, 0, sizeof *p);
    if (size == 0 || size > ((uint64_t)1 << 62))
        return tslp_fail(err, TSL_ERR_ARG, 0, "permutation: size %llu out of range",
                         (unsigned long long)size);
    unsigned k = 1;
    while (k < 31 && ((uint64_t)1 << (2 * k)) < size)
        k++;
    p->size = size;
    p->half = k;
    p->mask = ((uint64_t)1 << k) - 1;
    tslp_aes128 *aes;
    tsl_status r = tslp_aes128_new(key, &aes, err);
    if (r != TSL_OK)
        return tslp_error_prefix(err, "permutation"), r;
    p->ctx = aes;
    return TSL_OK;
}

void tslp_perm_done(tslp_perm *p)
{
    if (p == NULL)
        return;
    tslp_aes128_free(p->ctx);
    p->ctx = NULL;
}

/* The round function: AES_key(round || right half || zeros), first 8 bytes, k bits. */
static bool round_fn(tslp_perm *p, unsigned round, uint64_t r, uint64_t *f)
{
    uint8_t in[TSLP_AES128_BYTES], out[TSLP_AES128_BYTES];
    memset(in, 0, sizeof in);
    in[0] = (uint8_t)round;
    for (int i = 0; i < 8; i++)
        in[1 + i] = (uint8_t)(r >> (56 - 8 * i));
    if (!tslp_aes128_block(p->ctx, in, out))
        return false;
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | out[i];
    *f = v & p->mask;
    return true;
}

/* One pass of the Feistel network over [0, 2^(2k)). */
static bool feistel(tslp_perm *p, uint64_t x, uint64_t *y)
{
    uint64_t l = x >> p->half, r = x & p->mask;
    for (unsigned round = 0; round < TSLP_PERM_ROUNDS; round++) {
        uint64_t f;
        if (!round_fn(p, round, r, &f))
            return false;
        uint64_t t = l ^ f;
        l = r;
        r = t;
    }
    *y = l << p->half | r;
    return true;
}

tsl_status tslp_perm_at(tslp_perm *p, uint64_t x, uint64_t *out, tsl_error *err)
{
    if (p->ctx == NULL || x >= p->size)
        return tslp_fail(err, TSL_ERR_ARG, 0, "permutation: %llu outside [0, %llu)",
                         (unsigned long long)x, (unsigned long long)p->size);
    /* Cycle-walking: the cycle through x returns to x, which is below size, so this
     * ends; every step leaves [0, size) with probability under 3/4. */
    uint64_t y = x;
    do {
        if (!feistel(p, y, &y))
            return tslp_fail(err, TSL_ERR_CRYPTO, 0, "permutation: AES-128 failed");
    } while (y >= p->size);
    *out = y;
    return TSL_OK;
}
