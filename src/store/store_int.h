/* store_int.h - what the issuer store's files (store.c, store_update.c,
 * store_publish.c, the backends behind backend.h) and the allocation permutation
 * (perm.c) share. No storage engine shows here: SQLite is in store_sqlite.h. Never
 * installed. */
#ifndef TSL_STORE_INT_H
#define TSL_STORE_INT_H

#include "core/tsl_int.h"

/* ---- the allocation permutation (perm.c) ---- */

#define TSLP_PERM_KEY_BYTES 16
#define TSLP_PERM_ROUNDS 10

/* A keyed pseudorandom permutation of [0, size). One per call: not shared, not global. */
typedef struct {
    struct tslp_aes128 *ctx; /* AES-128 under the list's key (crypto/rand.c) */
    uint64_t size; /* the domain [0, size) */
    unsigned half; /* k: bits of each Feistel half */
    uint64_t mask; /* 2^k - 1 */
} tslp_perm;

/* size is 1 to 2^62. TSL_ERR_CRYPTO if AES cannot be set up. */
tsl_status tslp_perm_init(tslp_perm *p, const uint8_t key[TSLP_PERM_KEY_BYTES],
                          uint64_t size, tsl_error *err);
/* *out = P(x) for x < size. */
tsl_status tslp_perm_at(tslp_perm *p, uint64_t x, uint64_t *out, tsl_error *err);
void tslp_perm_done(tslp_perm *p);

/* ---- the store ---- */

/* Bytes of packed statuses per row of the chunks table; the last chunk may be shorter.
 * A chunk that has no row is all zeros (VALID). */
#define TSLP_CHUNK_BYTES 65536

/* Schema version this code writes; an older file is migrated when opened for writing,
 * a newer one is refused. 1: the first release (tests/fixtures/store-v0.1.db); 2: the
 * migrations table and the audit trail's index; 3: API keys and idempotency records;
 * 4: stored compressed segments (incremental publishing); 5: status counts; 6: an
 * identifier list's identifier length (lists.id_bytes); 7: a token's list recorded once
 * (token_lists, tokens.lst: token_pack.c). */
#define TSLP_SCHEMA_VERSION 7
/* The oldest version a read-only handle reads without migrating it. */
#define TSLP_SCHEMA_READABLE 1
/* The SQLite schema version from which the store keeps status counts (counts.c). */
#define TSLP_SCHEMA_COUNTS 5
/* The SQLite schema version from which lists have an id_bytes column. */
#define TSLP_SCHEMA_ID_BYTES 6
/* The SQLite schema version from which a token's list may be recorded apart. */
#define TSLP_SCHEMA_TOKEN_LISTS 7

struct tslp_store_backend; /* backend.h */

struct tsl_store {
    const struct tslp_store_backend *be; /* chosen by tsl_store_open_mode */
    void *conn;                          /* the backend's connection (sqlite3 *) */
    char *path;
    bool readonly; /* opened with TSL_STORE_READONLY */
    bool has_counts; /* the schema keeps status counts (counts.c); set by open */
    bool has_id_bytes; /* lists have an id_bytes column (schema 6); set by open: a
                        * read-only handle on an older store reads 16 for every
                        * identifier list, the only length there was */
    bool has_token_lists; /* tokens have a lst column and token_lists exists (schema
                           * 7); set by open: a read-only handle on an older store
                           * reads every token whole, as they all were then */
};

/* A list's row, read with tslp_store_read_info. */
typedef struct {
    tsl_list_info info; /* strings owned: free with tsl_list_info_free */
    uint8_t perm_key[TSLP_PERM_KEY_BYTES];
    uint64_t next; /* = info.allocated */
} tslp_list_row;

/* An API key's row (apikey.c): what tsl_apikey_info shows, and the SHA-256 of the
 * secret, which only tsl_apikey_check compares and only the copy carries over. */
typedef struct {
    tsl_apikey_info info;
    uint8_t hash[32];
} tslp_apikey_row;

/* A stored compressed segment (store_segments.c): chunk n's packed bytes (raw_len of
 * them, Adler-32 adler) encoded by tslp_segment_encode, data[0..len); level says by
 * which encoder and at which level (store_segments.h TSLP_SEGMENT_ENCODER); check is
 * the CRC-32 of n, level, adler, raw_len (little-endian, 8+4+4+4 bytes) and the data,
 * so a torn or damaged row is found before it is used. */
typedef struct {
    uint64_t n;
    int level;
    uint32_t adler;
    uint32_t raw_len;
    uint32_t check;
    const uint8_t *data;
    size_t len;
} tslp_segment_row;

/* Savepoint steps (backend.h savepoint): one savepoint at a time, inside a write
 * transaction, around each op of tsl_store_apply. */
enum { TSLP_SP_BEGIN, TSLP_SP_RELEASE, TSLP_SP_ROLLBACK };

/* The calls below go to the store's backend (backend.h). */

/* A write transaction (serialising writers) or a read transaction. A write on a
 * read-only handle is TSL_ERR_ARG. */
tsl_status tslp_store_begin(tsl_store *st, bool write, tsl_error *err);
tsl_status tslp_store_commit(tsl_store *st, tsl_error *err);
void tslp_store_rollback(tsl_store *st);

/* Reads a list's row inside the caller's transaction. TSL_ERR_NOT_FOUND "list \"x\": no
 * such list"; TSL_ERR_IO if the row is inconsistent. */
tsl_status tslp_store_read_row(tsl_store *st, const char *id, tslp_list_row *row,
                               tsl_error *err);

/* Loads the packed statuses of a list (row already read) inside the caller's
 * transaction. */
tsl_status tslp_store_load_chunks(tsl_store *st, const tsl_list_info *info,
                                  tsl_list **out, tsl_error *err);

/* Appends an audit row (kind "create", "update", "set", "alloc", "publish"). */
/* Status counts (counts.c). add_bytes: adds sign times the count of each non-zero
 * value among the entries packed in data[0..n) to counts[v]. write_new: a new or
 * copied list's chunks (the backend's chunks_write_new) and its counts, inside the
 * caller's write transaction. backfill: every list's counts computed from its chunks,
 * for the migration that adds them (inside its transaction). */
void tslp_counts_add_bytes(int64_t counts[256], unsigned bits, const uint8_t *data,
                           size_t n, int sign);
tsl_status tslp_store_write_new(tsl_store *st, const char *id, const tsl_list *l,
                                tsl_error *err);
tsl_status tslp_store_counts_backfill(tsl_store *st, tsl_error *err);

tsl_status tslp_store_audit(tsl_store *st, const char *id, int64_t now, uint64_t entries,
                            uint64_t changed, const char *source, const char *kind,
                            tsl_error *err);

/* The work of one allocation inside the caller's write transaction (store.c): n
 * indices into out, the counter advanced, an audit row (kind "alloc", source) at now;
 * *version (may be NULL) the list's version. TSL_ERR_LIMIT when fewer are left. */
tsl_status tslp_store_alloc_locked(tsl_store *st, const char *id, uint64_t n, int64_t now,
                                   const char *source, uint64_t *out, uint64_t *version,
                                   tsl_error *err);

/* A batch update in two steps (store_update.c), so that several can share one
 * transaction (apply.c): tslp_update_prepare, outside any transaction, normalises a
 * batch of long or overlapping lines (*plan, NULL for a batch applied line by line;
 * free with tslp_update_plan_free); tslp_update_locked applies it inside the caller's
 * write (or, for a dry run, read) transaction, with the audit row at now; *changed and
 * *version (may be NULL) the entries changed and the list's version after it. */
typedef struct tslp_update_plan tslp_update_plan;
tsl_status tslp_update_prepare(const tsl_batch *b, tslp_update_plan **plan, tsl_error *err);
void tslp_update_plan_free(tslp_update_plan *plan);
tsl_status tslp_update_locked(tsl_store *st, const char *id, const tsl_batch *b,
                              const tslp_update_plan *plan, int force, int dry_run,
                              const char *source, int64_t now, uint64_t *changed,
                              uint64_t *version, tsl_error *err);

/* ---- a publication's tokens, handed to the publisher (store_publish.c) ---- */

/* The tokens a publication recorded, by form ([0] JWT, [1] CWT; an identifier list's in
 * [1]); token[k] NULL where that form was not recorded. */
typedef struct {
    uint8_t *token[2]; /* tsl_free, or tslp_published_free */
    size_t len[2];
    int64_t iat[2], exp[2];
} tslp_published;

/* tsl_store_publish_ex (every form of the list) that also hands over the tokens it
 * recorded in *out (zeroed first; on failure nothing), so that a server serves them
 * without reading them back from the store. */
tsl_status tslp_store_publish_keep(tsl_store *st, const char *id, int64_t now,
                                   int64_t retention, tsl_publish_result *res,
                                   tslp_published *out, tsl_error *err);
void tslp_published_free(tslp_published *p);

/* ---- change notification (the PostgreSQL backend; the publisher's seam) ---- */

/* True when the store's backend pushes committed changes (PostgreSQL), false (SQLite):
 * then the publisher keeps polling every interval. */
bool tslp_store_can_watch(const tsl_store *st);

/* Starts listening for changes on this handle (it must be a handle used for nothing
 * else while it waits: the publisher opens one of its own). TSL_ERR_UNSUPPORTED when
 * the backend cannot watch. */
tsl_status tslp_store_watch(tsl_store *st, tsl_error *err);

/* Waits up to timeout_ms for changes committed by any process on any host and calls
 * fn(ctx, id) once per list that changed (statuses, allocation, tokens recorded, list
 * created). fn(ctx, NULL) means "changes may have been missed" (after a reconnect):
 * resync every list. Returns TSL_OK on notifications or on timeout; TSL_ERR_IO when the
 * connection is down; each later call tries to reconnect once (the caller backs off
 * between calls) and, once reconnected, LISTENs again and reports fn(ctx, NULL). */
tsl_status tslp_store_wait(tsl_store *st, int timeout_ms,
                           void (*fn)(void *ctx, const char *id), void *ctx,
                           tsl_error *err);

/* The identifiers of indices idx[0..n) of an identifier list with this permutation key
 * and identifier length (idl_ids.c), id_bytes each into out: what publishing lists. */
tsl_status tslp_store_idl_ids(const uint8_t perm_key[TSLP_PERM_KEY_BYTES], unsigned id_bytes,
                              const uint64_t *idx, size_t n, uint8_t *out, tsl_error *err);

/* Checks an id: [A-Za-z0-9._-], 1 to 64 characters. */
bool tslp_store_id_ok(const char *id);

/* Byte count of a list's packed statuses and its number of chunks. */
uint64_t tslp_store_nbytes(unsigned bits, uint64_t size);
uint64_t tslp_store_nchunks(unsigned bits, uint64_t size);

#endif /* TSL_STORE_INT_H */
