/* ref_int.h - what the Referenced Token forms share (claims.c, used by ref.c, sdjwt.c
 * and mdoc.c): a JWS check against the caller's keys, a COSE_Sign1 check against keys
 * or an x5chain, time claims, the status.status_list {idx, uri} reference in JSON and
 * CBOR; and the SD-JWT and mdoc parsers that ref.c calls. Internal. */
#ifndef TSL_REF_INT_H
#define TSL_REF_INT_H

#include "codec/cbor_int.h"
#include "core/tsl_int.h"

tsl_status tslp_ref_jws(const char *in, size_t len, const tsl_limits *lim,
                        const tsl_ref_opts *o, int64_t now, const tsl_key *key,
                        const char *what, void **hdr, void **payload, tsl_error *err);
tsl_status tslp_ref_jwt_times(const void *payload, int64_t now, int64_t skew,
                              const char *what, tsl_error *err);
tsl_status tslp_ref_check_times(bool has_exp, int64_t exp, bool has_nbf, int64_t nbf,
                                bool has_iat, int64_t iat, int64_t now, int64_t skew,
                                const char *what, tsl_error *err);
tsl_status tslp_ref_status_json(const void *payload, char **uri, uint64_t *idx,
                                tsl_error *err);
tsl_status tslp_ref_status_cbor(const tslp_cbor_node *status, const char *what, char **uri,
                                uint64_t *idx, tsl_error *err);
tsl_status tslp_ref_cose_sign1(const tslp_cbor_node *arr, const tsl_limits *lim,
                               const tsl_ref_opts *o, int64_t now, bool x5chain_only,
                               const char *what, const tslp_cbor_node **payload,
                               tsl_error *err);
tsl_status tslp_sdjwt_parse(const char *in, size_t len, const tsl_limits *lim,
                            const tsl_ref_opts *o, int64_t now, char **uri, uint64_t *idx,
                            tsl_error *err);
/* An mdoc's identifier list entry (mdoc_status.c); all NULL when it has none. */
typedef struct {
    char *uri;
    uint8_t *id;
    size_t id_len;
    uint8_t *cert; /* DER, or NULL */
    size_t cert_len;
} tslp_idl_ref;
void tslp_idl_ref_clear(tslp_idl_ref *r);
/* An MSO's status: status_list (into *uri, *idx; *uri stays NULL without one),
 * identifier_list (into *idl), or both; one at least. */
tsl_status tslp_mdoc_status(const tslp_cbor_node *status, char **uri, uint64_t *idx,
                            tslp_idl_ref *idl, tsl_error *err);
tsl_status tslp_mdoc_parse(const uint8_t *in, size_t len, const tsl_limits *lim,
                           const tsl_ref_opts *o, int64_t now, char **uri, uint64_t *idx,
                           tslp_idl_ref *idl, tsl_error *err);

#endif /* TSL_REF_INT_H */
