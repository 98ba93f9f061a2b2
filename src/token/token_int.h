/* token_int.h - the parsed Status List Token shared by jwt.c, cwt.c and token.c.
 * Internal. */
#ifndef TSL_TOKEN_INT_H
#define TSL_TOKEN_INT_H

#include "core/tsl_int.h"
#include "envelope/envelope_int.h" /* the envelopes */

#define TSLP_MAX_SKEW ((int64_t)86400 * 366) /* seconds of clock skew honoured at most */

struct tsl_token {
    tsl_format format;
    tsl_alg alg;
    bool mac;               /* HS256: JWT with a MAC, or COSE_Mac0 */
    char *typ;              /* as found, for display */
    uint8_t *kid;           /* NUL-terminated copy, or NULL */
    size_t kid_len;
    size_t x5c_n;           /* DER certificates, leaf first */
    uint8_t *x5c[TSL_MAX_X5C_CEILING];
    size_t x5c_len[TSL_MAX_X5C_CEILING];
    char *sub;
    char *iss;              /* NULL if absent */
    int64_t iat;
    bool has_exp, has_ttl, has_nbf;
    int64_t exp, ttl, nbf;
    uint8_t *tbs;           /* the bytes the signature or MAC covers */
    size_t tbs_len;
    uint8_t *sig;
    size_t sig_len;
    tsl_list *list;
};

/* Format parsers: fill a zeroed token (token.c frees it on failure). */
tsl_status tslp_jwt_parse(tsl_token *t, const char *in, size_t len, const tsl_limits *lim,
                          tsl_error *err);
tsl_status tslp_cwt_parse(tsl_token *t, const uint8_t *in, size_t len,
                          const tsl_limits *lim, tsl_error *err);

/* Format signers: p's claims are complete (iat set); alg, kid and x5c are s's. */
tsl_status tslp_jwt_sign(const tsl_list *l, const tsl_token_params *p, const tsl_signer *s,
                         uint8_t **out, size_t *out_len, tsl_error *err);
tsl_status tslp_cwt_sign(const tsl_list *l, const tsl_token_params *p, const tsl_signer *s,
                         uint8_t **out, size_t *out_len, tsl_error *err);
/* Keeps in t what tsl_token_verify() needs from an opened COSE envelope: alg, kid,
 * the certificates, the Sig_structure / MAC_structure and the signature or tag. Both
 * CWT forms use it (cwt.c, idlist.c). */
tsl_status tslp_cwt_keep_envelope(tsl_token *t, const tslp_cose *c, tsl_error *err);
/* payload (a CWT's encoded claims) as a tagged COSE_Sign1 (COSE_Mac0 for HS256) by s:
 * alg and typ in the protected header, s's kid and x5chain unprotected. Both CWT forms
 * use it: Status List Tokens (cwt.c) and identifier lists (idlist.c). */
tsl_status tslp_cose_seal(const uint8_t *payload, size_t payload_len, const char *typ,
                          const tsl_signer *s, uint8_t **out, size_t *out_len,
                          tsl_error *err);

/* tsl_token_verify() with an explicit time of interest: at == 0 is tsl_token_verify();
 * at != 0 (a historical check, `?time=`) checks iat <= at <= exp and nbf <= at instead
 * of exp and nbf against the clock. verify.c uses it. */
tsl_status tslp_token_verify_at(const tsl_token *t, const tsl_verify_opts *o, int64_t at,
                                tsl_error *err);

#endif /* TSL_TOKEN_INT_H */
