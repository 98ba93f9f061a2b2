/* token_pack.h - a recorded token with its list cut out (token_pack.c), so that a
 * publication's JWT and CWT, and every re-signing of unchanged statuses, record the
 * list's compressed bytes once. Never installed. */
#ifndef TSL_STORE_TOKEN_PACK_H
#define TSL_STORE_TOKEN_PACK_H

#include "tsl.h"

#include <stddef.h>
#include <stdint.h>

/* The key a cut-out list is recorded under: its SHA-256. */
#define TSLP_TOKEN_DIGEST 32

/* A cut-out list is recorded as pieces cut where its content says (a rolling hash of
 * the last 64 bytes), each under its own SHA-256 once per list: a change of a few
 * entries changes the compressed bytes of one or two segments, so the next list shares
 * all its pieces but one or two with the last, and a publication writes kilobytes
 * instead of the whole list. Pieces are TSLP_PIECE_MIN to TSLP_PIECE_MAX bytes (the
 * last one may be shorter), about 16 KiB on average. */
#define TSLP_PIECE_MIN ((size_t)8 << 10)
#define TSLP_PIECE_MAX ((size_t)64 << 10)

typedef struct {
    size_t off, len;
    uint8_t digest[TSLP_TOKEN_DIGEST];
} tslp_token_piece;

/* Cuts z into pieces (see above) with their SHA-256: *out (tslp_free) holds *n of them,
 * in order, covering z exactly. The same bytes are always cut the same way. Errors: out
 * of memory. */
tsl_status tslp_token_split(const uint8_t *z, size_t zlen, tslp_token_piece **out, size_t *n,
                            tsl_error *err);

/* Cuts the list z (the zlib stream the token was signed with) out of token, a JWT
 * (compact) or a CWT (format) as this library signs them. *packed (tslp_free) is what the
 * token row keeps and digest the SHA-256 of z; *packed is NULL, and TSL_OK returned, when
 * the token does not hold z as its lst (then it is recorded whole). Errors: out of memory
 * only. */
tsl_status tslp_token_pack(tsl_format format, const uint8_t *token, size_t len,
                           const uint8_t *z, size_t zlen, uint8_t **packed,
                           size_t *packed_len, uint8_t digest[TSLP_TOKEN_DIGEST],
                           tsl_error *err);

/* The token again, from a row's packed bytes and the list recorded under digest
 * (body): *out (tslp_free) with a NUL after its *out_len bytes. The body must hash to
 * digest and the packed bytes must be well formed: a row that is not (a damaged store)
 * is TSL_ERR_IO naming the store (where) and the list (id), never a token served. */
tsl_status tslp_token_unpack(const char *where, const char *id, const uint8_t *packed,
                             size_t packed_len, const uint8_t *digest, size_t digest_len,
                             const uint8_t *body, size_t body_len, uint8_t **out,
                             size_t *out_len, tsl_error *err);

/* A token row's bytes as a token read hands them out: tok copied (with a NUL after it)
 * when digest is NULL (a token recorded whole), else tslp_token_unpack of tok around
 * body. Both backends' reads end here. */
tsl_status tslp_token_from_row(const char *where, const char *id, const uint8_t *tok,
                               size_t len, const uint8_t *digest, size_t digest_len,
                               const uint8_t *body, size_t body_len, uint8_t **out,
                               size_t *out_len, tsl_error *err);

#endif /* TSL_STORE_TOKEN_PACK_H */
