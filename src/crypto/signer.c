/* signer.c - tsl_signer, the one door every token signature goes through: bytes in, the
 * raw JWS/COSE signature out, with the alg, kid and x5c chain the token names. A key in
 * memory signs through tslp_sign directly (no extra copy, so the bytes and the speed of
 * tsl_token_sign stay as they were); anything else (an HSM through PKCS#11, a remote
 * signing service) through callbacks that write into a buffer of TSL_SIGNATURE_MAX. */
#include "crypto/crypto.h"

#include <string.h>

void tslp_signer_borrow_key(tsl_signer *s, const tsl_key *key, tsl_alg alg,
                            const char *kid, const tsl_cert_chain *x5c)
{
    memset(s, 0, sizeof *s);
    s->key = key;
    s->alg = alg;
    s->kid = kid;
    s->x5c = x5c != NULL && x5c->n > 0 ? x5c : NULL;
}

/* Copies kid and x5c into a new heap signer (key and ops are set by the caller). */
static tsl_status heap_signer(tsl_alg alg, const char *kid, const tsl_cert_chain *x5c,
                              tsl_signer **out, tsl_error *err)
{
    tsl_signer *s = tslp_calloc(1, sizeof *s);
    if (s == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "signer: out of memory");
    s->heap = 1;
    s->alg = alg;
    if (kid != NULL && (s->owned_kid = tslp_strndup(kid, strlen(kid))) == NULL) {
        tslp_free(s);
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "signer: out of memory");
    }
    s->kid = s->owned_kid;
    tsl_status st = tslp_certs_copy(x5c, &s->owned_x5c, err);
    if (st != TSL_OK) {
        tslp_free(s->owned_kid);
        tslp_free(s);
        return st;
    }
    s->x5c = s->owned_x5c.n > 0 ? &s->owned_x5c : NULL;
    *out = s;
    return TSL_OK;
}

tsl_status tsl_signer_new(const tsl_signer_ops *ops, void *ctx, tsl_alg alg,
                          const char *kid, const tsl_cert_chain *x5c, tsl_signer **out,
                          tsl_error *err)
{
    tsl_status st = TSL_OK;
    if (out == NULL || ops == NULL || ops->sign == NULL)
        st = tslp_fail(err, TSL_ERR_ARG, 0, "signer: NULL argument or no sign callback");
    else if (tsl_alg_name(alg) == NULL || alg == TSL_ALG_UNKNOWN)
        st = tslp_fail(err, TSL_ERR_ARG, 0, "signer: an algorithm is required");
    else
        st = heap_signer(alg, kid, x5c, out, err);
    if (st != TSL_OK) {
        /* ctx was handed over: release it as the signer would have. */
        if (ops != NULL && ops->free != NULL)
            ops->free(ctx);
        if (out != NULL)
            *out = NULL;
        return st;
    }
    (*out)->ops = *ops;
    (*out)->ctx = ctx;
    return TSL_OK;
}

tsl_status tsl_signer_from_key(const tsl_key *key, tsl_alg alg, const char *kid,
                               const tsl_cert_chain *x5c, tsl_signer **out,
                               tsl_error *err)
{
    if (key == NULL || out == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "signer: NULL argument");
    *out = NULL;
    /* The same checks, in the same order and words, as tsl_token_sign. */
    if (!tsl_key_is_private(key))
        return tslp_fail(err, TSL_ERR_KEY, 0, "sign: the key is public; signing needs the "
                                              "private key");
    if (alg == TSL_ALG_UNKNOWN)
        alg = tsl_key_default_alg(key);
    tsl_status st = tsl_key_check_alg(key, alg, err);
    if (st != TSL_OK)
        return st;
    if (kid == NULL)
        kid = tsl_key_kid(key);
    if ((st = heap_signer(alg, kid, x5c, out, err)) != TSL_OK)
        return st;
    (*out)->key = tslp_key_ref((tsl_key *)(uintptr_t)key);
    return TSL_OK;
}

tsl_alg tsl_signer_alg(const tsl_signer *s)
{
    return s != NULL ? s->alg : TSL_ALG_UNKNOWN;
}

const char *tsl_signer_kid(const tsl_signer *s)
{
    return s != NULL ? s->kid : NULL;
}

const tsl_cert_chain *tsl_signer_x5c(const tsl_signer *s)
{
    return s != NULL ? s->x5c : NULL;
}

tsl_status tsl_signer_sign(const tsl_signer *s, const uint8_t *msg, size_t len,
                           uint8_t **sig, size_t *sig_len, tsl_error *err)
{
    if (s == NULL || sig == NULL || sig_len == NULL || (msg == NULL && len > 0))
        return tslp_fail(err, TSL_ERR_ARG, 0, "sign: NULL argument");
    if (s->key != NULL)
        return tslp_sign(s->key, s->alg, msg, len, sig, sig_len, err);
    uint8_t *buf = tslp_malloc(TSL_SIGNATURE_MAX);
    if (buf == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "sign: out of memory");
    size_t n = 0;
    tsl_status st = s->ops.sign(s->ctx, msg != NULL ? msg : (const uint8_t *)"", len, buf,
                                TSL_SIGNATURE_MAX, &n, err);
    if (st != TSL_OK) {
        /* Keep the callback's own message; give one when it left none. */
        tslp_fail(err, st, 0, "signer: the sign callback failed");
    } else if (n == 0 || n > TSL_SIGNATURE_MAX) {
        st = tslp_fail(err, TSL_ERR_CRYPTO, 0,
                       "signer: the sign callback returned %zu bytes (1..%d expected)", n,
                       TSL_SIGNATURE_MAX);
    }
    if (st != TSL_OK) {
        tslp_free(buf);
        return st;
    }
    *sig = buf;
    *sig_len = n;
    return TSL_OK;
}

void tsl_signer_free(tsl_signer *s)
{
    if (s == NULL || !s->heap)
        return;
    if (s->key != NULL)
        tsl_key_free((tsl_key *)(uintptr_t)s->key);
    else if (s->ops.free != NULL)
        s->ops.free(s->ctx);
    tslp_free(s->owned_kid);
    tslp_certs_free(&s->owned_x5c);
    tslp_free(s);
}
