/* keysel.c - key selection for both envelopes: a certificate chain's leaf once the
 * chain reaches an anchor, or the caller's keys that fit the kid and the alg. The
 * signature itself is checked through the crypto seam (tslp_verify). */
#include "crypto/crypto.h"
#include "envelope/envelope_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

tsl_status tslp_env_verify_chain(const tsl_trust *trust, const tslp_x5c *chain, int64_t now,
                                 const char *eku, tsl_alg alg, const uint8_t *tbs,
                                 size_t tbs_len, const uint8_t *sig, size_t sig_len,
                                 tsl_error *err)
{
    tsl_key *leaf = NULL;
    tsl_status st = tslp_chain_verify(trust, chain->der, chain->der_len, chain->n, now, eku,
                                      &leaf, err);
    if (st == TSL_OK)
        st = tsl_key_check_alg(leaf, alg, err);
    if (st == TSL_OK)
        st = tslp_verify(leaf, alg, tbs, tbs_len, sig, sig_len, err);
    tsl_key_free(leaf);
    return st;
}

tsl_status tslp_env_fail(tsl_error *err, tsl_status code, size_t off, const char *what,
                         const char *fmt, ...)
{
    char msg[TSL_ERROR_MSG_SIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return tslp_fail(err, code, off, "%s%s%s", what ? what : "", what ? ": " : "", msg);
}

tsl_status tslp_env_verify_keys(const tsl_keyset *ks, const uint8_t *kid, size_t kid_len,
                                tsl_alg alg, bool mac, const uint8_t *tbs, size_t tbs_len,
                                const uint8_t *sig, size_t sig_len, const char *what,
                                tsl_error *err)
{
    if (ks == NULL || tsl_keyset_count(ks) == 0)
        return tslp_env_fail(err, TSL_ERR_KEY, 0, what, "no key to verify with");
    /* Key ids are C strings: a kid with a NUL byte (possible in a COSE byte string)
     * can name none of them. */
    char id[TSLP_MAX_KID + 1];
    if (kid != NULL && (kid_len > TSLP_MAX_KID || memchr(kid, '\0', kid_len) != NULL))
        return tslp_env_fail(err, TSL_ERR_KEY, 0, what,
                             "kid: contains a NUL byte, matches no key");
    if (kid != NULL) {
        if (kid_len > 0)
            memcpy(id, kid, kid_len);
        id[kid_len] = '\0';
    }
    size_t cursor = 0, tried = 0;
    const tsl_key *k;
    while ((k = tslp_keyset_next(ks, kid ? id : NULL, alg, &cursor)) != NULL) {
        tried++;
        tsl_error e;
        tsl_error_clear(&e);
        tsl_status st = tslp_verify(k, alg, tbs, tbs_len, sig, sig_len, &e);
        if (st == TSL_OK)
            return TSL_OK;
        if (st != TSL_ERR_SIGNATURE) /* not a mismatch: report it as it is */
            return tslp_env_fail(err, st, 0, what, "%s", e.msg);
    }
    if (tried == 0 && kid != NULL)
        return tslp_env_fail(err, TSL_ERR_KEY, 0, what, "no trusted %s key with kid \"%.64s\"",
                             tsl_alg_name(alg), id);
    if (tried == 0)
        return tslp_env_fail(err, TSL_ERR_KEY, 0, what, "no trusted key usable with %s",
                             tsl_alg_name(alg));
    return tslp_env_fail(err, TSL_ERR_SIGNATURE, 0, what,
                         "%s signature does not verify with %zu trusted key(s)%s",
                         mac ? "MAC" : tsl_alg_name(alg), tried, kid ? " of that kid" : "");
}
