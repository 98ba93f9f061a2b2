/* backend.h - the issuer store's backend seam, after curl's lib/vtls: one struct of
 * function pointers per storage engine, chosen when a store is opened. The generic
 * store (store.c: settings checks, the uri-path rule, decoys and allocation through the
 * keyed permutation; store_update.c and store_publish.c) calls a backend only through
 * these, and a backend knows nothing of those policies: it keeps rows and runs
 * transactions. SQLite (store_sqlite.c) is the first backend, PostgreSQL (store_pg.c)
 * the second; another one is a new file with a struct like tslp_store_sqlite, and a
 * line in store.c's pick_backend(). Never installed. */
#ifndef TSL_STORE_BACKEND_H
#define TSL_STORE_BACKEND_H

#include "store/store_int.h"
#include "store/token_pack.h"

/* Called by list_paths for each list: its id, uri and aggregation_uri (NULL: none).
 * Returning anything but TSL_OK stops the walk with that status. */
typedef tsl_status (*tslp_store_path_fn)(void *ctx, const char *id, const char *uri,
                                         const char *aggregation_uri, tsl_error *err);

/* Called by chunk_rewrite for each segment: the number of entries that differ between
 * the stored bytes and the new ones (the generic store knows the bits per entry). */
typedef uint64_t (*tslp_store_diff_fn)(void *ctx, const uint8_t *stored,
                                       const uint8_t *now, size_t n);

/* A token as its row records it (token_pack.c): bytes is the whole token when lst is
 * NULL; otherwise the token with its list cut out, lst the list's SHA-256
 * (TSLP_TOKEN_DIGEST bytes) and body the list's bytes, which the store records once
 * per list and digest however many tokens carry them (token_lists). */
typedef struct {
    const uint8_t *bytes;
    size_t len;
    const uint8_t *lst;
    const uint8_t *body;
    size_t body_len;
} tslp_token_row;

/* Called by tokens_each for each recorded token of a list, oldest first (iat, then
 * the order recorded), the row as recorded. row is valid during the call only. */
typedef tsl_status (*tslp_store_token_fn)(void *ctx, tsl_format format, int64_t iat,
                                          int64_t exp, uint64_t version,
                                          const tslp_token_row *row, int64_t created,
                                          tsl_error *err);

/* Called by audit_each for each audit row of a list, in the order recorded. source
 * may be NULL. */
typedef tsl_status (*tslp_store_audit_fn)(void *ctx, int64_t time, uint64_t entries,
                                          uint64_t changed, const char *source,
                                          const char *kind, tsl_error *err);

/* Reading a list's stored segments (segments_each): one call per row. */
typedef tsl_status (*tslp_store_segment_fn)(void *ctx, const tslp_segment_row *row,
                                            tsl_error *err);

struct tslp_store_backend {
    const char *name; /* "sqlite" */

    /* Connection. open sets st->conn; st->path and st->readonly are set before. It
     * checks the file is a tsl store, creates the schema (create) and migrates an
     * older schema to the current version (not when read-only), as tsl_store_open_mode
     * documents. close releases st->conn (NULL: nothing to release). */
    tsl_status (*open)(tsl_store *st, bool create, tsl_error *err);
    void (*close)(tsl_store *st);

    /* Transactions: a write transaction serialises writers across processes; a read
     * transaction sees one consistent snapshot. rollback is a no-op outside one. */
    tsl_status (*begin)(tsl_store *st, bool write, tsl_error *err);
    tsl_status (*commit)(tsl_store *st, tsl_error *err);
    void (*rollback)(tsl_store *st);

    /* Lists. list_read: TSL_ERR_NOT_FOUND "list \"x\": no such list", TSL_ERR_IO for an
     * inconsistent row (the checks are the backend's: it knows the columns' types).
     * list_exists: TSL_ERR_EXISTS "list \"x\" already exists", else TSL_OK.
     * A new list is inserted with list_restore (below), its row built by store.c: the
     * spec as checked with its defaults applied, counters at 0, created = updated =
     * now. list_ids: sorted, freed with tsl_store_ids_free. */
    tsl_status (*list_read)(tsl_store *st, const char *id, tslp_list_row *row,
                            tsl_error *err);
    tsl_status (*list_exists)(tsl_store *st, const char *id, tsl_error *err);
    tsl_status (*list_ids)(tsl_store *st, char ***ids, size_t *n, tsl_error *err);
    tsl_status (*list_paths)(tsl_store *st, tslp_store_path_fn fn, void *ctx,
                             tsl_error *err);
    /* Allocation state: advances the counter `next` by n and sets updated = now. */
    tsl_status (*alloc_advance)(tsl_store *st, const char *id, uint64_t n, int64_t now,
                                tsl_error *err);

    /* Packed statuses in TSLP_CHUNK_BYTES chunks; a chunk without a row is all zeros.
     * chunks_load: the whole list, with a stored chunk of the wrong size TSL_ERR_IO.
     * chunks_write_new: the non-zero chunks of a list just inserted. */
    tsl_status (*chunks_load)(tsl_store *st, const tsl_list_info *info, tsl_list **out,
                              tsl_error *err);
    tsl_status (*chunks_write_new)(tsl_store *st, const char *id, const tsl_list *l,
                                   tsl_error *err);

    /* A batch update, inside its transaction, chunk by chunk. chunk_read: chunk n of
     * len bytes into buf (zeros, *ref 0, when it has no row; else *ref is a non-zero
     * handle on it); a stored chunk of another size is TSL_ERR_IO. chunk_insert: a
     * chunk that had no row. chunk_rewrite: compares the stored chunk *ref with data,
     * segment bytes at a time, adds diff() of each segment to *changed and, unless
     * dry_run, writes the segments that differ. list_bump_version: version + 1 and
     * updated = now, after a batch that changed something. */
    tsl_status (*chunk_read)(tsl_store *st, const char *id, uint64_t n, uint8_t *buf,
                             size_t len, int64_t *ref, tsl_error *err);
    tsl_status (*chunk_insert)(tsl_store *st, const char *id, uint64_t n,
                               const uint8_t *data, size_t len, tsl_error *err);
    tsl_status (*chunk_rewrite)(tsl_store *st, int64_t ref, const uint8_t *data, size_t len,
                                size_t segment, bool dry_run, tslp_store_diff_fn diff,
                                void *ctx, uint64_t *changed, tsl_error *err);
    tsl_status (*list_bump_version)(tsl_store *st, const char *id, int64_t now,
                                    tsl_error *err);

    /* Status counts (counts.c), inside the caller's transaction: counts_add adds
     * delta[v] to the stored count of value v (1..255; delta[0] is ignored, the
     * count of 0 is derived), counts_read gives the stored ones (0 where none). */
    tsl_status (*counts_add)(tsl_store *st, const char *id, const int64_t delta[256],
                             tsl_error *err);
    tsl_status (*counts_read)(tsl_store *st, const char *id, int64_t counts[256],
                              tsl_error *err);

    /* Published tokens, the history readers pick from: the newest of a form is the
     * one with the latest iat, then the last recorded. token_head: that one's version
     * and iat (*have false if none), and whether a token of this version and iat is
     * recorded (*twin). token_insert: records row, and its body first (pieces
     * missing or damaged are written, see token_pack.h) unless body is NULL: the list
     * was recorded by an earlier token_insert of the same transaction. token_read: the newest (at 0) or the newest
     * with iat <= at < exp, put together again (tslp_token_unpack); *found false if
     * none; *out is tslp_malloc'd with a NUL after the bytes. token_prune: drops the
     * tokens with exp < before, and the lists no token carries any more. */
    tsl_status (*token_head)(tsl_store *st, const char *id, tsl_format format,
                             uint64_t version, int64_t iat, bool *have, uint64_t *nv,
                             int64_t *ni, bool *twin, tsl_error *err);
    tsl_status (*token_insert)(tsl_store *st, const char *id, tsl_format format,
                               int64_t iat, int64_t exp, uint64_t version,
                               const tslp_token_row *row, int64_t now, tsl_error *err);
    tsl_status (*token_prune)(tsl_store *st, const char *id, int64_t before,
                              tsl_error *err);
    tsl_status (*token_read)(tsl_store *st, const char *id, tsl_format format, int64_t at,
                             bool *found, uint8_t **out, size_t *out_len, int64_t *iat,
                             int64_t *exp, tsl_error *err);

    /* The audit trail: one row per change (kind "create", "update", "set", "alloc",
     * "publish"). */
    tsl_status (*audit)(tsl_store *st, const char *id, int64_t now, uint64_t entries,
                        uint64_t changed, const char *source, const char *kind,
                        tsl_error *err);

    /* Optional (NULL: the backend does not push changes, and publishers never race:
     * SQLite). watch and wait: tslp_store_watch and tslp_store_wait (store_int.h).
     * publish_lock: tries the list's publish lock without waiting (*got false: another
     * publisher holds it); it lasts until publish_unlock or the connection's end. */
    tsl_status (*watch)(tsl_store *st, tsl_error *err);
    tsl_status (*wait)(tsl_store *st, int timeout_ms, void (*fn)(void *ctx, const char *id),
                       void *ctx, tsl_error *err);
    tsl_status (*publish_lock)(tsl_store *st, const char *id, bool *got, tsl_error *err);
    void (*publish_unlock)(tsl_store *st, const char *id);

    /* Inserting a list's row, and copying a store whole (copy.c). list_restore: inserts
     * a list's row exactly as given (a new list's from store.c, a copied one as
     * list_read gave it): every setting of row->info verbatim (no defaults applied),
     * row->perm_key, next = row->next, version, created and updated as they are
     * (last_published, allocated and capacity are derived, not stored). Its chunks
     * follow with chunks_write_new, its tokens with token_insert (now = created) and
     * its audit rows with audit. tokens_each / audit_each: walk a list's tokens and
     * audit rows as the callbacks above say; a callback's status other than TSL_OK
     * stops the walk and is returned. All three run inside the caller's
     * transaction. */
    tsl_status (*list_restore)(tsl_store *st, const tslp_list_row *row, tsl_error *err);
    tsl_status (*tokens_each)(tsl_store *st, const char *id, tslp_store_token_fn fn,
                              void *ctx, tsl_error *err);
    tsl_status (*audit_each)(tsl_store *st, const char *id, tslp_store_audit_fn fn,
                             void *ctx, tsl_error *err);

    /* Savepoints inside a write transaction (TSLP_SP_BEGIN, _RELEASE, _ROLLBACK: back
     * to the savepoint and release it), so that one op of a group can fail and leave
     * the others (apply.c). A backend that caches what the transaction read forgets
     * it at release and rollback. */
    tsl_status (*savepoint)(tsl_store *st, int step, tsl_error *err);

    /* The audit trail read by pages (tsl_store_audit): rows of list id with id < before
     * (0: any), newest first, at most limit; *out (tslp_free, each source tslp_free)
     * an array of *n. */
    tsl_status (*audit_page)(tsl_store *st, const char *id, uint64_t before, size_t limit,
                             tsl_audit_row **out, size_t *n, tsl_error *err);

    /* API keys (schema 3; apikey.c). apikey_insert: a new row (TSL_ERR_EXISTS when the
     * id is taken). apikey_read: *found false when there is none. apikey_revoke: sets
     * revoked = now unless already set. apikey_rows: every row, newest first (created,
     * then id, descending); *out tslp_free'd, NULL when *n is 0. Inside or outside a
     * transaction; apikey_rows also gives the hashes, for the copy. */
    tsl_status (*apikey_insert)(tsl_store *st, const tslp_apikey_row *row, tsl_error *err);
    tsl_status (*apikey_read)(tsl_store *st, const char *id, tslp_apikey_row *row,
                              bool *found, tsl_error *err);
    tsl_status (*apikey_revoke)(tsl_store *st, const char *id, int64_t now, tsl_error *err);
    tsl_status (*apikey_rows)(tsl_store *st, tslp_apikey_row **out, size_t *n,
                              tsl_error *err);

    /* Idempotency records (schema 3; apply.c), inside the write transaction.
     * idem_read: the record of (owner, key): *found, its list (list_id, 65 bytes),
     * request hash and indices blob (*blob tslp_malloc'd, *len bytes: little-endian
     * u64s). idem_insert: a new record. idem_prune: drops those created before
     * `before`. */
    tsl_status (*idem_read)(tsl_store *st, const char *owner, const char *key, bool *found,
                            char *list_id, uint8_t hash[32], uint8_t **blob, size_t *len,
                            tsl_error *err);
    tsl_status (*idem_insert)(tsl_store *st, const char *owner, const char *key,
                              const char *list_id, const uint8_t hash[32],
                              const uint8_t *blob, size_t len, int64_t now, tsl_error *err);
    tsl_status (*idem_prune)(tsl_store *st, int64_t before, tsl_error *err);

    /* Compressed segments (schema 4; store_segments.c), one row per list and chunk n,
     * kept as the generic store gives them (it computes and checks the checksum).
     * segments_each: every row of list id, inside the caller's transaction (a row's
     * data lives until fn returns). segments_put: inserts or replaces the n rows given
     * (a publication's re-encoded segments at once, so that a server backend sends them
     * in one round trip).
     * segment_drop: deletes row n (UINT64_MAX: every row of the list); inside the
     * write transaction that changes the chunk, so a stored segment never outlives
     * the bytes it encodes. */
    tsl_status (*segments_each)(tsl_store *st, const char *id, tslp_store_segment_fn fn,
                                void *ctx, tsl_error *err);
    tsl_status (*segments_put)(tsl_store *st, const char *id, const tslp_segment_row *rows,
                               size_t n, tsl_error *err);
    tsl_status (*segment_drop)(tsl_store *st, const char *id, uint64_t n, tsl_error *err);
    /* chunks_fetch: a publication's chunks_read at once, inside its snapshot's
     * transaction: chunks ns[0..k) (ascending) of list id, each of lens[j] bytes into
     * bufs[j]; found[j] false and the buffer zeros for a chunk without a row; a stored
     * chunk of another size is TSL_ERR_IO. NULL where reading them one by one
     * (chunk_read) costs no more: a server backend answers each in a round trip, and
     * 191 of them (a 10^8-entry list after 10^4 random changes) took 40 to 95 ms. */
    tsl_status (*chunks_fetch)(tsl_store *st, const char *id, const uint64_t *ns, size_t k,
                               uint8_t *const *bufs, const size_t *lens, bool *found,
                               tsl_error *err);
};

/* The backends. */
extern const struct tslp_store_backend tslp_store_sqlite;
extern const struct tslp_store_backend tslp_store_pg; /* store_pg.c */

/* True when path is a PostgreSQL URL (postgresql:// or postgres://): store_pg.c. */
bool tslp_pg_is_url(const char *path);

#endif /* TSL_STORE_BACKEND_H */
