/* idl_perm.h - the keyed permutation of L-byte blocks behind a stored identifier
 * list's identifiers (idl_perm.c). */
#ifndef TSLP_IDL_PERM_H
#define TSLP_IDL_PERM_H

#include "crypto/crypto.h"
#include "store/store_int.h"

typedef struct {
    tslp_aes128 *aes;  /* the round functions' key (secret) */
    unsigned len;      /* L, bytes of a block */
    unsigned rounds;   /* tslp_idl_rounds(len) */
} tslp_idl_perm;

/* The Feistel rounds for L-byte blocks: 4 for an even L >= 16, else 8. */
unsigned tslp_idl_rounds(unsigned len);
/* Bytes of the block that hold the index (big-endian, first): min(8, L / 2); the rest
 * are zero, the redundancy that refuses a foreign identifier. */
unsigned tslp_idl_index_bytes(unsigned len);
/* L in TSL_STORE_ID_MIN..TSL_STORE_ID_MAX. */
bool tslp_idl_len_ok(unsigned len);
/* Every index of a list of size entries fits tslp_idl_index_bytes(len) bytes. */
bool tslp_idl_size_fits(unsigned len, uint64_t size);
/* A stored row's identifier length is inconsistent: not 0 for a status list, or for
 * an identifier list out of range or too short for its size. */
bool tslp_store_id_bytes_bad(int64_t formats, int64_t size, int64_t id_bytes);

/* Derives the key from a list's permutation key. TSL_ERR_ARG for a length out of
 * range, TSL_ERR_CRYPTO, TSL_ERR_NOMEM. Free with tslp_idl_perm_free() (also after a
 * failure). */
tsl_status tslp_idl_perm_init(tslp_idl_perm *p, const uint8_t perm_key[TSLP_PERM_KEY_BYTES],
                              unsigned len, tsl_error *err);
void tslp_idl_perm_free(tslp_idl_perm *p);

/* E (or E^-1 when inverse) of the p->len bytes at in, into out. False if AES failed. */
bool tslp_idl_perm_apply(const tslp_idl_perm *p, const uint8_t *in, uint8_t *out,
                         bool inverse);
/* The identifier of index idx (p->len bytes into out). The caller has checked that idx
 * fits (tslp_idl_size_fits). */
bool tslp_idl_perm_id(const tslp_idl_perm *p, uint64_t idx, uint8_t *out);
/* The index of identifier id (p->len bytes) of a list of size entries: 1 and *idx, 0
 * when id is not one of them, -1 if AES failed. */
int tslp_idl_perm_index(const tslp_idl_perm *p, const uint8_t *id, uint64_t size,
                        uint64_t *idx);

/* Reads stored list `list`'s row in a read transaction and opens its identifier
 * permutation into *p, with the list's size (idl_ids.c). TSL_ERR_ARG for a list that is
 * not an identifier list, the store's errors otherwise. Free *p with
 * tslp_idl_perm_free, also after a failure. */
tsl_status tslp_store_idl_open(tsl_store *st, const char *list, tslp_idl_perm *p,
                              uint64_t *size, tsl_error *err);

#endif
