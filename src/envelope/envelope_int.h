/* envelope_int.h - the one JOSE / COSE envelope layer: JWS compact serialization and
 * COSE_Sign1 / COSE_Mac0, parsed and verified in exactly one place, and the detector of
 * an input's form. Status List Tokens (src/token) and Referenced Tokens (src/ref) read
 * only their claims on top of it. Internal.
 *
 * Every message is prefixed with the caller's `what` ("jwt", "cose", "referenced token",
 * "sd-jwt: issuer jwt", ...) unless what is NULL, so that one parser serves both stacks
 * and an error still names the token it is about. */
#ifndef TSL_ENVELOPE_INT_H
#define TSL_ENVELOPE_INT_H

#include "codec/cbor_int.h"
#include "core/tsl_int.h"

/* Bounds on what an envelope header may carry: TSLP_MAX_KID (core/limits.h), and the
 * caller's tsl_limits.max_x5c (at most TSL_MAX_X5C_CEILING, which sizes the arrays). */

/* tslp_fail with "what: " in front of the message when what is not NULL. */
tsl_status tslp_env_fail(tsl_error *err, tsl_status code, size_t off, const char *what,
                         const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* ---------------------------------------------------------------------------------- */
/* Input form                                                                           */

/* tsl_detect_form() (tsl.h) is the public face; this is the same rule, plus the
 * trimmed span [*start, *start + *n) of a text form. */
tsl_form tslp_detect_form(const uint8_t *in, size_t len, size_t *start, size_t *n);

/* ---------------------------------------------------------------------------------- */
/* Key selection and verification (both envelopes)                                     */

/* A certificate chain, leaf first, as DER (owned or borrowed, as the holder says). */
typedef struct {
    size_t n;
    const uint8_t *der[TSL_MAX_X5C_CEILING];
    size_t der_len[TSL_MAX_X5C_CEILING];
} tslp_x5c;

/* Verifies sig over tbs with the chain's leaf once the chain reaches an anchor of
 * trust (with the EKU when eku is not NULL); the leaf must fit alg. */
tsl_status tslp_env_verify_chain(const tsl_trust *trust, const tslp_x5c *chain, int64_t now,
                                 const char *eku, tsl_alg alg, const uint8_t *tbs,
                                 size_t tbs_len, const uint8_t *sig, size_t sig_len,
                                 tsl_error *err);

/* Tries the keys of ks that fit kid (kid_len bytes, NULL: every key) and alg; the
 * first that verifies wins. A kid with a NUL byte matches no key. `mac` names the
 * check a MAC in the message. */
tsl_status tslp_env_verify_keys(const tsl_keyset *ks, const uint8_t *kid, size_t kid_len,
                                tsl_alg alg, bool mac, const uint8_t *tbs, size_t tbs_len,
                                const uint8_t *sig, size_t sig_len, const char *what,
                                tsl_error *err);

/* ---------------------------------------------------------------------------------- */
/* JOSE: JWS compact serialization (RFC 7515 section 7.1)                              */

typedef struct {
    const char *in;     /* the whole serialization (borrowed) */
    size_t hl, pl, sl;  /* lengths of the header, payload and signature parts */
    void *hdr;          /* the header, a jansson object (owned) */
    void *payload;      /* the payload, a jansson object (owned), once read */
    tsl_alg alg;
    const char *kid;    /* into hdr, or NULL */
    size_t kid_len;
    uint8_t *sig;       /* the decoded signature (owned) */
    size_t sig_len;
    size_t max_x5c;     /* the caller's tsl_limits.max_x5c, resolved */
} tslp_jws;

/* Splits in into three '.'-separated parts (a fourth, a JWE, is refused) and decodes
 * the header into a JSON object within lim. j is zeroed first. */
tsl_status tslp_jws_open(tslp_jws *j, const char *in, size_t len, const tsl_limits *lim,
                         const char *what, tsl_error *err);

/* The header's typ as a string, or NULL when absent or not a string. */
const char *tslp_jws_typ(const tslp_jws *j);

/* The header's alg (a string naming a supported algorithm; "none" is never accepted;
 * in algs unless algs is 0), no crit, and kid (a string of at most TSLP_MAX_KID bytes
 * without NUL, null meaning absent). */
tsl_status tslp_jws_header(tslp_jws *j, uint32_t algs, const char *what, tsl_error *err);

/* Decodes x5c (standard base64 DER, leaf first, at most j->max_x5c) into new buffers
 * out->der[] (the caller frees them with tslp_x5c_free). Absent or null: out->n == 0. */
tsl_status tslp_jws_x5c(const tslp_jws *j, tslp_x5c *out, const char *what, tsl_error *err);
void tslp_x5c_free(tslp_x5c *c);

/* Decodes the payload into a JSON object within lim (j->payload). */
tsl_status tslp_jws_payload(tslp_jws *j, const tsl_limits *lim, const char *what,
                            tsl_error *err);

/* Decodes the signature (j->sig); an empty one (an unsecured JWS) is refused. */
tsl_status tslp_jws_signature(tslp_jws *j, const char *what, tsl_error *err);

/* The signing input: header.payload, inside j->in. */
const uint8_t *tslp_jws_tbs(const tslp_jws *j, size_t *len);

/* Verifies the signature: with key when given; else with the x5c leaf when x5c is
 * present and trust given; else with the keys of ks that fit the kid. */
tsl_status tslp_jws_verify(const tslp_jws *j, const tsl_key *key, const tsl_trust *trust,
                           const tsl_keyset *ks, int64_t now, const char *what,
                           tsl_error *err);

/* Frees what j owns (not j). */
void tslp_jws_close(tslp_jws *j);

/* ---------------------------------------------------------------------------------- */
/* COSE: COSE_Sign1 and COSE_Mac0 (RFC 9052 sections 4.2 and 6.2)                      */

#define TSLP_COSE_TAG_MAC0 17
#define TSLP_COSE_TAG_SIGN1 18
#define TSLP_CWT_TAG 61

typedef struct {
    bool mac;                       /* COSE_Mac0 */
    tslp_cbor_doc *pdoc;            /* the protected header, decoded (owned) */
    const tslp_cbor_node *prot;     /* the protected header's byte string */
    const tslp_cbor_node *unprot;   /* the unprotected header map */
    const tslp_cbor_node *payload;  /* a byte string */
    const tslp_cbor_node *sig;      /* signature or tag, a byte string */
    const tslp_cbor_node *kid;      /* the kid value (bytes or text), or NULL */
    tslp_x5c x5c;                   /* x5chain, borrowed from the message's document */
    tsl_alg alg;                    /* once tslp_cose_alg() has run */
    size_t max_x5c;                 /* the caller's tsl_limits.max_x5c, resolved */
} tslp_cose;

/* The strict envelope of a Status List Token: root must be COSE_Sign1_Tagged (18) or
 * COSE_Mac0_Tagged (17); the CWT tag 61, COSE_Sign (98), COSE_Mac (97), other tags
 * and an untagged array are each refused by name. *mac says which it is. */
tsl_status tslp_cose_tagged(const tslp_cbor_node *root, bool *mac, tsl_error *err);

/* Opens a COSE_Sign1 (mac false) or COSE_Mac0 array [protected, unprotected, payload,
 * signature]: byte strings where due, no detached payload, the protected header
 * decoded (an empty string is an empty map), then both header maps: alg only in the
 * protected one, no label in both, no crit, kid (bytes, or text as a quirk, at most
 * TSLP_MAX_KID), x5chain (33: a certificate or an array of them). null and undefined
 * kid / x5chain mean absent. c is zeroed first. */
tsl_status tslp_cose_open(tslp_cose *c, const tslp_cbor_node *arr, bool mac,
                          const tsl_limits *lim, const char *what, tsl_error *err);

/* The protected alg: present, an integer, a supported algorithm that fits the message
 * (a MAC for COSE_Mac0, a signature algorithm for COSE_Sign1), and in algs unless
 * algs is 0. Sets c->alg. */
tsl_status tslp_cose_alg(tslp_cose *c, uint32_t algs, const char *what, tsl_error *err);

/* A protected or unprotected header parameter by integer label, or NULL. */
const tslp_cbor_node *tslp_cose_header(const tslp_cose *c, int64_t label);

/* Sig_structure / MAC_structure ["Signature1" | "MAC0", protected, h'', payload]
 * (RFC 9052 sections 4.4 and 6.3) as new bytes. */
tsl_status tslp_cose_tbs(const tslp_cose *c, uint8_t **out, size_t *out_len, tsl_error *err);

/* Verifies with the x5chain leaf once the chain reaches trust (when both are there);
 * else, unless x5chain_only, with the keys of ks that fit kid. */
tsl_status tslp_cose_verify(const tslp_cose *c, const tsl_trust *trust, const tsl_keyset *ks,
                            int64_t now, bool x5chain_only, const char *what,
                            tsl_error *err);

void tslp_cose_close(tslp_cose *c);

#endif /* TSL_ENVELOPE_INT_H */
