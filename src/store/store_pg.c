/* store_pg.c - the issuer store's PostgreSQL backend (backend.h), on libpq: one
 * database shared by issuers and publishers on many hosts, holding the same rows as the
 * SQLite backend (store_sqlite.c) in tables of its own.
 *
 * Selected by a postgresql:// or postgres:// URL (store.c pick_backend). The URL may
 * carry host, port, dbname, user and libpq's options (sslmode, sslrootcert, ...), which
 * are passed to libpq as they are; a URL with a password is refused (it would be on a
 * command line or in the environment of every process): the password comes from
 * libpq's own mechanisms, PGPASSFILE / ~/.pgpass, a service file or PGPASSWORD. No
 * message names the database otherwise than as host/dbname (st->path is replaced by
 * that name once the URL is parsed), so neither a password nor the conninfo leaks.
 *
 * Schema (version TSLP_PG_SCHEMA_VERSION; MIGRATIONS below say what each added):
 *   tsl_schema  (version, applied, what): one row per migration applied; the store's
 *               version is the highest
 *   tsl_lists   as SQLite's lists (bigint columns, perm_key bytea)
 *   tsl_chunks  (list_id, n, data bytea STORAGE EXTERNAL): packed statuses in
 *               TSLP_CHUNK_BYTES slices; a chunk without a row is all zeros. A batch
 *               writes only the chunk rows it changes (see pg_chunk_rewrite)
 *   tsl_tokens  (id bigserial, list_id, format, iat, exp, version, token bytea,
 *               created, lst bytea (version 7)): the history; the newest is the latest
 *               iat, then highest id
 *   tsl_token_lists (list_id, digest bytea, length), tsl_token_pieces (list_id,
 *               digest, data bytea STORAGE EXTERNAL), tsl_token_list_pieces (list_id,
 *               list, seq, piece): a token's list recorded once under its SHA-256 for
 *               the tokens whose lst names it, as the pieces it is cut into, each piece
 *               once per list (token_pack.c; version 7)
 *   tsl_batches (id bigserial, list_id, time, entries, changed, source, kind): audit
 *   tsl_apikeys (id, list_id (NULL: every list), scopes, hash bytea, created, expires,
 *               revoked): the issuer API's keys, only the SHA-256 of each secret
 *   tsl_idempotency (owner, idem_key, list_id, hash bytea, indices bytea, created,
 *               PRIMARY KEY (owner, idem_key)): allocations made with an
 *               Idempotency-Key, kept TSL_IDEMPOTENCY_SECONDS
 *   tsl_segments (list_id, n, level, adler, raw_len, check, data bytea): chunk n
 *               compressed as a segment of the published stream, as SQLite's segments
 *               (version 4); UNLOGGED (version 8): a cache that crash recovery empties
 *   tsl_status_counts (list_id, value, n, PRIMARY KEY (list_id, value)): how many
 *               entries of the list hold each non-zero value, changed with every write
 *               of statuses in its transaction (counts.c; version 5)
 *   tsl_lists.id_bytes: an identifier list's identifier length, 0 for a status list
 *               (version 6)
 *
 * Consistency across processes and hosts. A write transaction is BEGIN (READ
 * COMMITTED) followed by pg_advisory_xact_lock on one key for the store (the schema
 * it lives in): writers of a store run one at a time, each reads the rows after the
 * previous one committed, and the lock goes with COMMIT, ROLLBACK or a lost connection.
 * One store-wide key rather than one per list, because the seam's begin() does not know
 * the list, and create's path check reads every list; a write transaction is short (a
 * bulk update of 10^6 entries holds it for a fraction of a second). So an allocation's
 * read-advance of `next` is serialised (no index twice, and nothing is handed out
 * before COMMIT returns, so a crash hands out nothing), a batch's read-check-write of
 * INVALID entries is serialised (INVALID stays final), and an update is acknowledged
 * only when COMMIT returned (none is lost; fsync on makes COMMIT durable). A read
 * transaction is REPEATABLE READ READ ONLY: one snapshot, never half a batch, never
 * blocking or blocked by writers.
 *
 * Change notification: a write transaction that changed a list sends NOTIFY tsl_change
 * with the list's id just before COMMIT (PostgreSQL delivers it at commit, and never
 * for a rolled-back transaction). A watching handle LISTENs (pg_watch / pg_wait).
 *
 * Publishing: pg_publish_lock takes the session-level pg_try_advisory_lock on a key of
 * the store and the list, released by pg_publish_unlock or by the death of the
 * connection (store_publish.c holds it for snapshot-sign-record).
 *
 * A dropped connection: every call fails with TSL_ERR_IO; the next begin (and the next
 * pg_wait) tries PQreset once, and the handle works again once the server is back. */
#include "store/backend.h"
#include "store/idl_perm.h"
#include "store/store_pg.h"

#include <libpq-fe.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Advisory lock keys are pairs: the first half says whose lock it is, 1953721431
 * ("tslW") the store's writers and 1953721424 ("tslP") its publishers; the second is
 * hashtext of the schema the store lives in (its current_schema()), resp. of the
 * schema, '/' and the list id. */

/* The first version a read-only handle reads without migrating. */
#define PG_SCHEMA_READABLE 1

/* One chunk as chunk_read found it; a ref is its index + 1. */
typedef struct {
    char *id;
    uint64_t n;
    size_t len;
    uint8_t *data;
} cached;

/* The statements, prepared on a connection the first time they run. */
enum {
    Q_LOCK_WRITE,
    Q_VERSION,
    Q_AUDIT,
    Q_LIST_READ,
    Q_LIST_READ_V5,
    Q_LIST_EXISTS,
    Q_LIST_IDS,
    Q_LIST_PATHS,
    Q_ALLOC,
    Q_CHUNKS_LOAD,
    Q_CHUNK_READ,
    Q_CHUNKS_FETCH,
    Q_CHUNK_INSERT,
    Q_CHUNK_UPDATE,
    Q_BUMP,
    Q_TOKEN_HEAD,
    Q_TOKEN_INSERT,
    Q_TOKEN_PRUNE,
    Q_TOKEN_NEWEST,
    Q_TOKEN_AT,
    Q_TOKEN_NEWEST_V6,
    Q_TOKEN_AT_V6,
    Q_LST_HAS,
    Q_LST_PUT,
    Q_LST_PRUNE,
    Q_PIECES_HAVE,
    Q_PIECE_FIX,
    Q_PIECE_PUT,
    Q_PIECE_PUT8,
    Q_LST_LINK,
    Q_LST_READ,
    Q_PIECE_PRUNE,
    Q_NOTIFY,
    Q_PUB_LOCK,
    Q_PUB_UNLOCK,
    Q_LIST_RESTORE,
    Q_TOKENS_ALL,
    Q_TOKENS_ALL_V6,
    Q_AUDIT_ALL,
    Q_AUDIT_PAGE,
    Q_APIKEY_INSERT,
    Q_APIKEY_READ,
    Q_APIKEY_REVOKE,
    Q_APIKEY_ROWS,
    Q_IDEM_READ,
    Q_IDEM_INSERT,
    Q_IDEM_PRUNE,
    Q_SEG_EACH,
    Q_SEG_PUT,
    Q_SEG_DROP,
    Q_SEG_DROP_ALL,
    Q_COUNTS_ADD,
    Q_COUNTS_READ,
    Q_COUNT
};

static const char *const SQL[Q_COUNT] = {
    [Q_LOCK_WRITE] = "SELECT pg_advisory_xact_lock(1953721431,"
                     " hashtext(coalesce(current_schema(), '')))",
    [Q_VERSION] = "SELECT coalesce(max(version), 0) FROM tsl_schema",
    [Q_AUDIT] = "INSERT INTO tsl_batches (list_id, time, entries, changed, source, kind)"
                " VALUES ($1, $2, $3, $4, $5, $6)",
    [Q_LIST_READ] =
        "SELECT id, uri, bits, size, key_path, alg, kid, x5c_path, lifetime, ttl,"
        " formats, decoys, decoy_value, final_invalid, aggregation_uri, perm_key, next,"
        " version, created, updated,"
        " (SELECT max(iat) FROM tsl_tokens WHERE list_id = $1), id_bytes"
        " FROM tsl_lists WHERE id = $1",
    /* A read-only handle on a store of version 5 or older: 16 bytes, the only length
     * an identifier list had then. */
    [Q_LIST_READ_V5] =
        "SELECT id, uri, bits, size, key_path, alg, kid, x5c_path, lifetime, ttl,"
        " formats, decoys, decoy_value, final_invalid, aggregation_uri, perm_key, next,"
        " version, created, updated,"
        " (SELECT max(iat) FROM tsl_tokens WHERE list_id = $1),"
        " (CASE WHEN formats = 4 THEN 16 ELSE 0 END)::bigint"
        " FROM tsl_lists WHERE id = $1",
    [Q_LIST_EXISTS] = "SELECT 1 FROM tsl_lists WHERE id = $1",
    [Q_LIST_IDS] = "SELECT id FROM tsl_lists ORDER BY id COLLATE \"C\"",
    [Q_LIST_PATHS] = "SELECT id, uri, aggregation_uri FROM tsl_lists",
    [Q_ALLOC] = "UPDATE tsl_lists SET next = next + $2, updated = $3 WHERE id = $1",
    [Q_CHUNKS_LOAD] = "SELECT n, data FROM tsl_chunks WHERE list_id = $1",
    [Q_CHUNK_READ] = "SELECT data FROM tsl_chunks WHERE list_id = $1 AND n = $2",
    [Q_CHUNKS_FETCH] = "SELECT n, data FROM tsl_chunks WHERE list_id = $1 AND n = ANY($2::bigint[])",
    [Q_CHUNK_INSERT] = "INSERT INTO tsl_chunks (list_id, n, data) VALUES ($1, $2, $3)",
    [Q_CHUNK_UPDATE] = "UPDATE tsl_chunks SET data = $3 WHERE list_id = $1 AND n = $2",
    [Q_BUMP] = "UPDATE tsl_lists SET version = version + 1, updated = $2 WHERE id = $1",
    [Q_TOKEN_HEAD] =
        "SELECT version, iat, (SELECT count(*) FROM tsl_tokens WHERE list_id = $1"
        " AND format = $2 AND iat = $4 AND version = $3)"
        " FROM tsl_tokens WHERE list_id = $1 AND format = $2"
        " ORDER BY iat DESC, id DESC LIMIT 1",
    [Q_TOKEN_INSERT] =
        "INSERT INTO tsl_tokens (list_id, format, iat, exp, version, token, created, lst)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    [Q_TOKEN_PRUNE] = "DELETE FROM tsl_tokens WHERE list_id = $1 AND exp < $2",
    /* lst not NULL: the token's list was cut out (token_pack.c), read with Q_LST_READ. */
    [Q_TOKEN_NEWEST] = "SELECT token, iat, exp, lst FROM tsl_tokens WHERE list_id = $1"
                       " AND format = $2 ORDER BY iat DESC, id DESC LIMIT 1",
    [Q_TOKEN_AT] = "SELECT token, iat, exp, lst FROM tsl_tokens WHERE list_id = $1"
                   " AND format = $2 AND iat <= $3 AND $3 < exp"
                   " ORDER BY iat DESC, id DESC LIMIT 1",
    /* A read-only handle on a store of version 6 or older: every token whole. */
    [Q_TOKEN_NEWEST_V6] = "SELECT token, iat, exp, NULL::bytea FROM tsl_tokens"
                          " WHERE list_id = $1 AND format = $2"
                          " ORDER BY iat DESC, id DESC LIMIT 1",
    [Q_TOKEN_AT_V6] = "SELECT token, iat, exp, NULL::bytea FROM tsl_tokens"
                      " WHERE list_id = $1 AND format = $2 AND iat <= $3 AND $3 < exp"
                      " ORDER BY iat DESC, id DESC LIMIT 1",
    [Q_LST_HAS] = "SELECT 1 FROM tsl_token_lists WHERE list_id = $1 AND digest = $2",
    /* ON CONFLICT: a writer whose snapshot predates another's commit of the same list
     * records nothing twice. */
    [Q_LST_PUT] = "INSERT INTO tsl_token_lists (list_id, digest, length) VALUES ($1, $2, $3)"
                  " ON CONFLICT (list_id, digest) DO NOTHING",
    [Q_LST_PRUNE] = "DELETE FROM tsl_token_lists b WHERE b.list_id = $1 AND NOT EXISTS"
                    " (SELECT 1 FROM tsl_tokens t WHERE t.list_id = b.list_id"
                    " AND t.lst = b.digest)",
    /* $2: the pieces' digests end to end (32 bytes each), so that one statement asks
     * for, or links, all of a list's pieces. */
    /* Whether each recorded piece is whole is asked of the server: a piece's digest is
     * the SHA-256 of its bytes, so sha256(data) = digest says they are the list's,
     * without sending the list back (about 1.3 MB at 10^8 entries, in every
     * publication). */
    [Q_PIECES_HAVE] = "SELECT p.digest, sha256(p.data) = p.digest FROM tsl_token_pieces p"
                      " WHERE p.list_id = $1"
                      " AND p.digest IN (SELECT substring($2::bytea FROM k * 32 + 1 FOR 32)"
                      " FROM generate_series(0, length($2::bytea) / 32 - 1) AS k)",
    [Q_PIECE_PUT] = "INSERT INTO tsl_token_pieces (list_id, digest, data) VALUES ($1, $2, $3)"
                    " ON CONFLICT (list_id, digest) DO NOTHING",
    /* Eight at once: a list published from scratch has about 80 new pieces, and one
     * round trip each was most of its write. */
    [Q_PIECE_PUT8] = "INSERT INTO tsl_token_pieces (list_id, digest, data) VALUES ($1, $2, $3),"
                     " ($1, $4, $5), ($1, $6, $7), ($1, $8, $9), ($1, $10, $11),"
                     " ($1, $12, $13), ($1, $14, $15), ($1, $16, $17)"
                     " ON CONFLICT (list_id, digest) DO NOTHING",
    [Q_PIECE_FIX] = "UPDATE tsl_token_pieces SET data = $3 WHERE list_id = $1 AND digest = $2",
    [Q_LST_LINK] = "INSERT INTO tsl_token_list_pieces (list_id, list, seq, piece)"
                   " SELECT $1, $3::bytea, k, substring($2::bytea FROM k * 32 + 1 FOR 32)"
                   " FROM generate_series(0, length($2::bytea) / 32 - 1) AS k"
                   " ON CONFLICT (list_id, list, seq) DO NOTHING",
    [Q_LST_READ] = "SELECT b.length, p.data FROM tsl_token_lists b"
                   " LEFT JOIN tsl_token_list_pieces l ON l.list_id = b.list_id"
                   " AND l.list = b.digest LEFT JOIN tsl_token_pieces p"
                   " ON p.list_id = l.list_id AND p.digest = l.piece"
                   " WHERE b.list_id = $1 AND b.digest = $2 ORDER BY l.seq",
    [Q_PIECE_PRUNE] = "DELETE FROM tsl_token_pieces p WHERE p.list_id = $1 AND NOT EXISTS"
                      " (SELECT 1 FROM tsl_token_list_pieces l WHERE l.list_id = p.list_id"
                      " AND l.piece = p.digest)",
    [Q_NOTIFY] = "SELECT pg_notify('tsl_change', $1)",
    [Q_PUB_LOCK] = "SELECT pg_try_advisory_lock(1953721424,"
                   " hashtext(coalesce(current_schema(), '') || '/' || $1))",
    [Q_PUB_UNLOCK] = "SELECT pg_advisory_unlock(1953721424,"
                     " hashtext(coalesce(current_schema(), '') || '/' || $1))",
    [Q_LIST_RESTORE] =
        "INSERT INTO tsl_lists (id, uri, bits, size, key_path, alg, kid, x5c_path,"
        " lifetime, ttl, formats, decoys, decoy_value, final_invalid, aggregation_uri,"
        " perm_key, next, version, created, updated, id_bytes) VALUES ($1, $2, $3, $4,"
        " $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20,"
        " $21)",
    [Q_TOKENS_ALL] = "SELECT format, iat, exp, version, token, created, lst FROM tsl_tokens"
                     " WHERE list_id = $1 ORDER BY iat, id",
    [Q_TOKENS_ALL_V6] = "SELECT format, iat, exp, version, token, created, NULL::bytea"
                        " FROM tsl_tokens WHERE list_id = $1 ORDER BY iat, id",
    [Q_AUDIT_ALL] = "SELECT time, entries, changed, source, kind FROM tsl_batches"
                    " WHERE list_id = $1 ORDER BY id",
    [Q_AUDIT_PAGE] = "SELECT id, time, entries, changed, source, kind FROM tsl_batches"
                     " WHERE list_id = $1 AND ($2::bigint = 0 OR id < $2::bigint)"
                     " ORDER BY id DESC LIMIT $3::bigint",
    [Q_APIKEY_INSERT] = "INSERT INTO tsl_apikeys (id, list_id, scopes, hash, created,"
                        " expires, revoked) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    [Q_APIKEY_READ] = "SELECT id, list_id, scopes, hash, created, expires, revoked"
                      " FROM tsl_apikeys WHERE id = $1",
    [Q_APIKEY_REVOKE] = "UPDATE tsl_apikeys SET revoked = $2 WHERE id = $1 AND revoked = 0",
    [Q_APIKEY_ROWS] = "SELECT id, list_id, scopes, hash, created, expires, revoked"
                      " FROM tsl_apikeys ORDER BY created DESC, id COLLATE \"C\" DESC",
    [Q_IDEM_READ] = "SELECT list_id, hash, indices FROM tsl_idempotency"
                    " WHERE owner = $1 AND idem_key = $2",
    [Q_IDEM_INSERT] = "INSERT INTO tsl_idempotency (owner, idem_key, list_id, hash, indices,"
                      " created) VALUES ($1, $2, $3, $4, $5, $6)",
    [Q_IDEM_PRUNE] = "DELETE FROM tsl_idempotency WHERE created < $1",
    [Q_SEG_EACH] = "SELECT n, level, adler, raw_len, \"check\", data FROM tsl_segments"
                   " WHERE list_id = $1",
    [Q_SEG_PUT] = "INSERT INTO tsl_segments (list_id, n, level, adler, raw_len, \"check\","
                  " data) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (list_id, n)"
                  " DO UPDATE SET level = EXCLUDED.level, adler = EXCLUDED.adler,"
                  " raw_len = EXCLUDED.raw_len, \"check\" = EXCLUDED.\"check\","
                  " data = EXCLUDED.data",
    [Q_SEG_DROP] = "DELETE FROM tsl_segments WHERE list_id = $1 AND n = $2",
    [Q_SEG_DROP_ALL] = "DELETE FROM tsl_segments WHERE list_id = $1",
    [Q_COUNTS_ADD] = "INSERT INTO tsl_status_counts (list_id, value, n) VALUES ($1, $2, $3)"
                     " ON CONFLICT (list_id, value) DO UPDATE"
                     " SET n = tsl_status_counts.n + excluded.n",
    [Q_COUNTS_READ] = "SELECT value, n FROM tsl_status_counts WHERE list_id = $1",
};

/* The migrations, in order: migration k takes the schema from version k to k + 1 (0:
 * an empty database). All pending ones run in one write transaction, under the
 * store's write lock, with the version read again under it: concurrent openers
 * migrate once, and a crash leaves the old version whole (PostgreSQL's DDL is
 * transactional). Each step only adds, so a read-only handle reads any version from
 * PG_SCHEMA_READABLE on. tests/fixtures/store-pg-v1.sql is a store of version 1. */
static const struct {
    const char *what;
    const char *sql;
    bool backfill_counts; /* then compute every list's counts (counts.c) */
} MIGRATIONS[TSLP_PG_SCHEMA_VERSION] = {
    {"creating the tables",
     "CREATE TABLE tsl_schema (version bigint PRIMARY KEY, applied bigint NOT NULL,"
     " what text NOT NULL);"
     "CREATE TABLE tsl_lists ("
     " id text PRIMARY KEY, uri text NOT NULL, bits bigint NOT NULL,"
     " size bigint NOT NULL, key_path text NOT NULL, alg text, kid text, x5c_path text,"
     " lifetime bigint NOT NULL, ttl bigint NOT NULL, formats bigint NOT NULL,"
     " decoys bigint NOT NULL, decoy_value bigint NOT NULL,"
     " final_invalid bigint NOT NULL, aggregation_uri text, perm_key bytea NOT NULL,"
     " next bigint NOT NULL, version bigint NOT NULL, created bigint NOT NULL,"
     " updated bigint NOT NULL);"
     "CREATE TABLE tsl_chunks ("
     " list_id text NOT NULL REFERENCES tsl_lists(id) ON DELETE CASCADE,"
     " n bigint NOT NULL, data bytea NOT NULL, PRIMARY KEY (list_id, n));"
     /* Packed statuses are rewritten whole and rarely compress much once in use: kept
      * uncompressed, out of line. */
     "ALTER TABLE tsl_chunks ALTER COLUMN data SET STORAGE EXTERNAL;"
     "CREATE TABLE tsl_tokens ("
     " id bigserial PRIMARY KEY,"
     " list_id text NOT NULL REFERENCES tsl_lists(id) ON DELETE CASCADE,"
     " format text NOT NULL CHECK (format IN ('jwt', 'cwt')), iat bigint NOT NULL,"
     " exp bigint NOT NULL, version bigint NOT NULL, token bytea NOT NULL,"
     " created bigint NOT NULL);"
     "CREATE INDEX tsl_tokens_by_iat ON tsl_tokens (list_id, format, iat);"
     "CREATE TABLE tsl_batches ("
     " id bigserial PRIMARY KEY,"
     " list_id text NOT NULL REFERENCES tsl_lists(id) ON DELETE CASCADE,"
     " time bigint NOT NULL, entries bigint NOT NULL, changed bigint NOT NULL,"
     " source text, kind text NOT NULL);", false},
    /* to 2: a list's audit rows and its expired tokens found by index (the foreign
     * keys' child columns are not indexed by PostgreSQL itself). */
    {"indexing the audit trail and the tokens' exp",
     "CREATE INDEX tsl_batches_by_list ON tsl_batches (list_id, id);"
     "CREATE INDEX tsl_tokens_by_exp ON tsl_tokens (list_id, exp);", false},
    /* to 3: the issuer API's keys and its idempotency records. */
    {"adding API keys and idempotency records",
     "CREATE TABLE tsl_apikeys (id text PRIMARY KEY,"
     " list_id text REFERENCES tsl_lists(id) ON DELETE CASCADE, scopes bigint NOT NULL,"
     " hash bytea NOT NULL, created bigint NOT NULL, expires bigint NOT NULL,"
     " revoked bigint NOT NULL);"
     "CREATE TABLE tsl_idempotency (owner text NOT NULL, idem_key text NOT NULL,"
     " list_id text NOT NULL REFERENCES tsl_lists(id) ON DELETE CASCADE,"
     " hash bytea NOT NULL, indices bytea NOT NULL, created bigint NOT NULL,"
     " PRIMARY KEY (owner, idem_key));"
     "CREATE INDEX tsl_idempotency_by_created ON tsl_idempotency (created);", false},
    /* to 4: the compressed segments incremental publishing reuses (store_segments.c),
     * already compressed, so kept out of line without pglz. An existing store starts
     * with none: its next publication encodes them all. */
    {"adding compressed segments",
     "CREATE TABLE tsl_segments ("
     " list_id text NOT NULL REFERENCES tsl_lists(id) ON DELETE CASCADE,"
     " n bigint NOT NULL, level bigint NOT NULL, adler bigint NOT NULL,"
     " raw_len bigint NOT NULL, \"check\" bigint NOT NULL, data bytea NOT NULL,"
     " PRIMARY KEY (list_id, n));"
     "ALTER TABLE tsl_segments ALTER COLUMN data SET STORAGE EXTERNAL;"
     /* A token's list is compressed already: pglz only spends time on it (about half
      * of an incremental publication's write of a 10^8-entry list's two tokens). */
     "ALTER TABLE tsl_tokens ALTER COLUMN token SET STORAGE EXTERNAL;", false},
    /* to 5: status counts, computed once here for the lists already stored. */
    {"adding status counts",
     "CREATE TABLE tsl_status_counts ("
     " list_id text NOT NULL REFERENCES tsl_lists(id) ON DELETE CASCADE,"
     " value bigint NOT NULL, n bigint NOT NULL, PRIMARY KEY (list_id, value));",
     true},
    /* to 6: an identifier list's identifier length, chosen at creation; the lists
     * made before had 16-byte identifiers, and a status list has none (0). */
    {"adding the identifier length",
     "ALTER TABLE tsl_lists ADD COLUMN id_bytes bigint NOT NULL DEFAULT 0;"
     "UPDATE tsl_lists SET id_bytes = 16 WHERE formats = 4;", false},
    /* to 7: a token's list recorded once (token_pack.c): a publication's JWT and CWT,
     * and every re-signing of the same statuses, carry the same compressed list, which
     * was most of an incremental publication's write (TOAST rows, all WAL-logged). The
     * tokens recorded before stay whole (lst NULL). */
    {"recording a token's list once, in pieces",
     "CREATE TABLE tsl_token_lists ("
     " list_id text NOT NULL REFERENCES tsl_lists(id) ON DELETE CASCADE,"
     " digest bytea NOT NULL, length bigint NOT NULL, PRIMARY KEY (list_id, digest));"
     "CREATE TABLE tsl_token_pieces ("
     " list_id text NOT NULL REFERENCES tsl_lists(id) ON DELETE CASCADE,"
     " digest bytea NOT NULL, data bytea NOT NULL, PRIMARY KEY (list_id, digest));"
     "ALTER TABLE tsl_token_pieces ALTER COLUMN data SET STORAGE EXTERNAL;"
     "CREATE TABLE tsl_token_list_pieces (list_id text NOT NULL, list bytea NOT NULL,"
     " seq bigint NOT NULL, piece bytea NOT NULL, PRIMARY KEY (list_id, list, seq),"
     " FOREIGN KEY (list_id, list) REFERENCES tsl_token_lists(list_id, digest)"
     " ON DELETE CASCADE);"
     "CREATE INDEX tsl_token_list_pieces_by_piece ON tsl_token_list_pieces (list_id, piece);"
     "ALTER TABLE tsl_tokens ADD COLUMN lst bytea;"
     "CREATE INDEX tsl_tokens_by_lst ON tsl_tokens (list_id, lst);", false},
    /* to 8: the segments out of the write-ahead log. They are a cache of what the chunks
     * give (every row checked before use, a missing one encoded again), yet their WAL
     * was half of what an incremental publication after many changes had to flush at
     * COMMIT (the segments and the token's new pieces, each about the compressed list's
     * size). An unlogged table is emptied by crash recovery, and is neither replicated
     * nor in physical backups: the next publication after a crash, or the first on a
     * promoted standby or a restored backup, encodes every segment, as one from scratch
     * does (tests/incr.sh "crash"). */
    {"keeping compressed segments out of the write-ahead log",
     "ALTER TABLE tsl_segments SET UNLOGGED;", false},
};

typedef struct {
    PGconn *pg;
    bool prepared[Q_COUNT];
    bool ran[Q_COUNT];  /* ran once on this handle: prepare it from its second run */
    bool listening;   /* LISTEN tsl_change was sent (pg_watch) */
    bool in_tx;       /* a transaction of ours is open (pg_begin until commit/rollback) */
    bool resync;      /* reconnected while watching: report fn(ctx, NULL) */
    char **changed;   /* the lists this write transaction changed: NOTIFY at commit */
    size_t nchanged, capchanged;
    cached *cache;    /* the chunks read by this transaction */
    size_t ncache, capcache;
} pgc;

#define C(st) ((pgc *)(st)->conn)

PGconn *tslp_pg_conn(const tsl_store *st)
{
    return st->conn != NULL ? C(st)->pg : NULL;
}

bool tslp_pg_is_url(const char *path)
{
    return strncmp(path, "postgresql://", 13) == 0 || strncmp(path, "postgres://", 11) == 0;
}

int tslp_pg_libversion(void)
{
    return PQlibVersion();
}

tsl_status tslp_pg_url_check(const char *url, tsl_error *err)
{
    if (url == NULL || !tslp_pg_is_url(url))
        return tslp_fail(err, TSL_ERR_ARG, 0,
                         "store: not a postgresql:// or postgres:// URL");
    /* Only the scheme is shown: the rest may hold a password. */
    const char *path = url;
    char *errmsg = NULL;
    PQconninfoOption *opts = PQconninfoParse(path, &errmsg);
    if (opts == NULL) {
        PQfreemem(errmsg); /* it may quote the URL */
        return tslp_fail(err, TSL_ERR_ARG, 0,
                         "store %.*s...: not a valid PostgreSQL URL (libpq's connection "
                         "URI: postgresql://[user@]host[:port]/dbname[?param=value...])",
                         strncmp(path, "postgres://", 11) == 0 ? 11 : 13, path);
    }
    bool password = false;
    for (PQconninfoOption *o = opts; o->keyword != NULL; o++)
        if (strcmp(o->keyword, "password") == 0 && o->val != NULL)
            password = true;
    PQconninfoFree(opts);
    if (password)
        return tslp_fail(err, TSL_ERR_ARG, 0,
                         "store %.*s...: the URL holds a password, which would show in the "
                         "process list and the environment: remove it from the URL and "
                         "give it through a password file (~/.pgpass or PGPASSFILE), a "
                         "service file (PGSERVICEFILE) or PGPASSWORD",
                         strncmp(path, "postgres://", 11) == 0 ? 11 : 13, path);
    return TSL_OK;
}

/* ---------------------------------------------------------------------------------- */
/* Statements                                                                           */

/* Parameters of a statement: text, or binary for bytea (no escaping of data). */
#define MAXP 21
typedef struct {
    int n;
    const char *v[MAXP];
    int len[MAXP];
    int fmt[MAXP];
    char num[MAXP][24];
} params;

static void p_text(params *p, const char *s)
{
    p->v[p->n] = s;
    p->len[p->n] = 0;
    p->fmt[p->n] = 0;
    p->n++;
}

static void p_i64(params *p, int64_t x)
{
    snprintf(p->num[p->n], sizeof p->num[0], "%lld", (long long)x);
    p_text(p, p->num[p->n]);
}

static void p_null(params *p)
{
    p->v[p->n] = NULL;
    p->len[p->n] = 0;
    p->fmt[p->n] = 0;
    p->n++;
}

static void p_bin(params *p, const void *data, size_t len)
{
    static const char empty[1];
    p->v[p->n] = len > 0 ? data : empty;
    p->len[p->n] = (int)len;
    p->fmt[p->n] = 1;
    p->n++;
}

/* A bigint column of a binary result (0 when NULL). */
static int64_t get_i64(const PGresult *res, int row, int col)
{
    if (PQgetisnull(res, row, col) || PQgetlength(res, row, col) != 8)
        return 0;
    const unsigned char *b = (const unsigned char *)PQgetvalue(res, row, col);
    uint64_t v = 0;
    for (int k = 0; k < 8; k++)
        v = v << 8 | b[k];
    return (int64_t)v;
}

/* Fails naming the store (host/dbname) and what was being done, with the server's
 * message (which never holds the password: libpq does not echo it). A lost connection
 * says so. */
static tsl_status pg_fail(tsl_store *st, const PGresult *res, const char *what,
                          tsl_error *err)
{
    PGconn *pg = C(st) != NULL ? C(st)->pg : NULL;
    const char *msg = res != NULL ? PQresultErrorMessage(res) : "";
    if ((msg == NULL || msg[0] == '\0') && pg != NULL)
        msg = PQerrorMessage(pg);
    char buf[400];
    snprintf(buf, sizeof buf, "%s", msg != NULL && msg[0] ? msg : "unknown error");
    size_t n = strlen(buf);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
        buf[--n] = '\0';
    for (char *c = buf; *c; c++)
        if (*c == '\n')
            *c = ' ';
    bool lost = (pg == NULL || PQstatus(pg) == CONNECTION_BAD) &&
                strcmp(what, "connecting") != 0 && strcmp(what, "reconnecting") != 0;
    const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    tsl_status code = state != NULL && strcmp(state, "53200") == 0 ? TSL_ERR_NOMEM
                                                                   : TSL_ERR_IO;
    return tslp_fail(err, code, 0, "store %s: %s: %s%s", st->path, what,
                     lost ? "connection lost: " : "", buf);
}

/* Runs statement q with parameters p; the result in *out (NULL: cleared) in binary.
 * TSL_ERR_IO unless it returned `want`. The statements a batch runs once per chunk are
 * prepared on first use; the others go in one round trip each (PQexecParams) the first
 * time, which is what a one-shot command like `tsl set` wants, and are prepared when
 * they run again on the same handle: a kept handle (the issuer API's committer, which
 * runs the same few statements for every request) then skips parsing and planning,
 * which cost more than running them (the list read's plan took up to 1 ms). */
static tsl_status reconnect(tsl_store *st, tsl_error *err);

/* A statement outside any transaction of ours (list ids, a list's info) on a handle
 * whose connection dropped reconnects first, as pg_begin does, so a handle kept across
 * a server restart works again. Inside a transaction it must not: the transaction is
 * gone with the old session, and the statement fails instead. */
static tsl_status revive(tsl_store *st, tsl_error *err)
{
    pgc *c = C(st);
    if (c->in_tx || PQstatus(c->pg) == CONNECTION_OK)
        return TSL_OK;
    return reconnect(st, err);
}

/* A statement's result: kept in *out (NULL: cleared) when its status is want, else
 * cleared and named in err. */
static tsl_status result(tsl_store *st, PGresult *res, ExecStatusType want, PGresult **out,
                         const char *what, tsl_error *err)
{
    if (PQresultStatus(res) != want) {
        tsl_status r = pg_fail(st, res, what, err);
        PQclear(res);
        return r;
    }
    if (out != NULL)
        *out = res;
    else
        PQclear(res);
    return TSL_OK;
}

static tsl_status run(tsl_store *st, int q, const params *p, ExecStatusType want,
                      PGresult **out, const char *what, tsl_error *err)
{
    pgc *c = C(st);
    tsl_status rv = revive(st, err);
    if (rv != TSL_OK)
        return rv;
    char name[16];
    snprintf(name, sizeof name, "tsl%d", q);
    bool hot = q == Q_CHUNK_READ || q == Q_CHUNK_INSERT || q == Q_CHUNK_UPDATE || c->ran[q];
    c->ran[q] = true;
    if (!hot)
        return result(st, PQexecParams(c->pg, SQL[q], p != NULL ? p->n : 0, NULL,
                                       p != NULL ? p->v : NULL, p != NULL ? p->len : NULL,
                                       p != NULL ? p->fmt : NULL, 1),
                      want, out, what, err);
    if (!c->prepared[q]) {
        PGresult *pr = PQprepare(c->pg, name, SQL[q], p != NULL ? p->n : 0, NULL);
        if (PQresultStatus(pr) != PGRES_COMMAND_OK) {
            tsl_status r = pg_fail(st, pr, what, err);
            PQclear(pr);
            return r;
        }
        PQclear(pr);
        c->prepared[q] = true;
    }
    return result(st, PQexecPrepared(c->pg, name, p != NULL ? p->n : 0,
                                     p != NULL ? p->v : NULL, p != NULL ? p->len : NULL,
                                     p != NULL ? p->fmt : NULL, 1),
                  want, out, what, err);
}

/* Runs static SQL without parameters (schema, transaction control). */
static tsl_status exec_static(tsl_store *st, const char *sql, const char *what,
                              tsl_error *err)
{
    tsl_status rv = revive(st, err);
    if (rv != TSL_OK)
        return rv;
    PGresult *res = PQexec(C(st)->pg, sql);
    ExecStatusType s = PQresultStatus(res);
    tsl_status r = s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK ? TSL_OK
                                                                 : pg_fail(st, res, what, err);
    PQclear(res);
    return r;
}

/* Remembers that this transaction changed list id (NOTIFY at commit). */
static tsl_status mark_changed(tsl_store *st, const char *id, tsl_error *err)
{
    pgc *c = C(st);
    for (size_t k = 0; k < c->nchanged; k++)
        if (strcmp(c->changed[k], id) == 0)
            return TSL_OK;
    tsl_status r = TSLP_ELEMS_RESERVE(c->changed, c->nchanged, c->capchanged, 1,
                                      TSLP_STORE_MAX_LISTS, "changed lists", err);
    if (r != TSL_OK)
        return r;
    size_t n = strlen(id);
    char *s = tslp_malloc(n + 1);
    if (s == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "store %s: out of memory", st->path);
    memcpy(s, id, n + 1);
    c->changed[c->nchanged++] = s;
    return TSL_OK;
}

/* Forgets what the transaction read and changed. */
static void tx_clear(pgc *c)
{
    for (size_t k = 0; k < c->nchanged; k++)
        tslp_free(c->changed[k]);
    c->nchanged = 0;
    for (size_t k = 0; k < c->ncache; k++) {
        tslp_free(c->cache[k].id);
        tslp_free(c->cache[k].data);
    }
    c->ncache = 0;
}

/* ---------------------------------------------------------------------------------- */
/* Transactions                                                                         */

static void pg_rollback(tsl_store *st)
{
    pgc *c = C(st);
    tx_clear(c);
    c->in_tx = false;
    if (c->pg != NULL && PQstatus(c->pg) == CONNECTION_OK &&
        PQtransactionStatus(c->pg) != PQTRANS_IDLE)
        PQclear(PQexec(c->pg, "ROLLBACK"));
}

/* After a lost connection: one PQreset. Prepared statements and LISTEN go with the
 * old session. */
static tsl_status reconnect(tsl_store *st, tsl_error *err)
{
    pgc *c = C(st);
    PQreset(c->pg);
    memset(c->prepared, 0, sizeof c->prepared);
    if (PQstatus(c->pg) != CONNECTION_OK)
        return pg_fail(st, NULL, "reconnecting", err);
    if (st->readonly &&
        exec_static(st, "SET default_transaction_read_only = on", "reconnecting", err) != TSL_OK)
        return TSL_ERR_IO;
    if (c->listening) {
        tsl_status r = exec_static(st, "LISTEN tsl_change", "listening", err);
        if (r != TSL_OK)
            return r;
        c->resync = true;
    }
    return TSL_OK;
}

static tsl_status pg_begin(tsl_store *st, bool write, tsl_error *err)
{
    pgc *c = C(st);
    tx_clear(c);
    tsl_status r;
    if (PQstatus(c->pg) != CONNECTION_OK && (r = reconnect(st, err)) != TSL_OK)
        return r;
    if (PQtransactionStatus(c->pg) != PQTRANS_IDLE)
        PQclear(PQexec(c->pg, "ROLLBACK"));
    if (!write) {
        r = exec_static(st, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
                        "starting a transaction", err);
        c->in_tx = r == TSL_OK;
        return r;
    }
    /* A writer that holds the lock and hangs (stopped, not dead: a dead one's lock
     * goes with its connection) fails the others after a minute, as SQLite's busy
     * deadline does, instead of blocking them for ever. */
    if ((r = exec_static(st, "BEGIN; SET LOCAL lock_timeout = '60s'",
                         "starting a transaction", err)) != TSL_OK)
        return r;
    c->in_tx = true;
    if ((r = run(st, Q_LOCK_WRITE, NULL, PGRES_TUPLES_OK, NULL, "taking the write lock",
                 err)) != TSL_OK)
        pg_rollback(st);
    return r;
}

static tsl_status pg_commit(tsl_store *st, tsl_error *err)
{
    pgc *c = C(st);
    tsl_status r = TSL_OK;
    /* Queued now, delivered by the server at COMMIT, dropped with a rollback. */
    for (size_t k = 0; r == TSL_OK && k < c->nchanged; k++) {
        params p = {0};
        p_text(&p, c->changed[k]);
        r = run(st, Q_NOTIFY, &p, PGRES_TUPLES_OK, NULL, "notifying a change", err);
    }
    if (r != TSL_OK) {
        pg_rollback(st);
        return r;
    }
    PGresult *res = PQexec(c->pg, "COMMIT");
    /* A COMMIT of a failed transaction answers ROLLBACK: that is no commit. */
    if (PQresultStatus(res) != PGRES_COMMAND_OK || strcmp(PQcmdStatus(res), "COMMIT") != 0)
        r = PQresultStatus(res) == PGRES_COMMAND_OK
                ? tslp_fail(err, TSL_ERR_IO, 0, "store %s: committing: rolled back",
                            st->path)
                : pg_fail(st, res, "committing", err);
    PQclear(res);
    if (r != TSL_OK)
        pg_rollback(st);
    tx_clear(c);
    c->in_tx = false;
    return r;
}

/* ---------------------------------------------------------------------------------- */
/* Opening                                                                              */

/* The store's name in messages: host/dbname, as libpq resolved them. */
static char *display_name(PGconn *pg)
{
    const char *h = PQhost(pg), *d = PQdb(pg);
    if (h == NULL || h[0] == '\0')
        h = "localhost";
    if (d == NULL)
        d = "";
    size_t n = strlen(h) + strlen(d) + 2;
    char *s = tslp_malloc(n);
    if (s != NULL)
        snprintf(s, n, "%s/%s", h, d);
    return s;
}

static tsl_status read_version(tsl_store *st, int64_t *version, tsl_error *err)
{
    PGresult *res = NULL;
    tsl_status r = run(st, Q_VERSION, NULL, PGRES_TUPLES_OK, &res,
                       "reading the schema version", err);
    if (r != TSL_OK)
        return r;
    *version = PQntuples(res) == 1 ? get_i64(res, 0, 0) : 0;
    PQclear(res);
    return TSL_OK;
}

/* Whether the database has the tsl_schema table (in the search path). */
static tsl_status has_schema(tsl_store *st, bool *yes, tsl_error *err)
{
    PGresult *res = PQexec(C(st)->pg, "SELECT to_regclass('tsl_schema') IS NOT NULL");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        tsl_status r = pg_fail(st, res, "reading the schema", err);
        PQclear(res);
        return r;
    }
    *yes = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    return TSL_OK;
}

/* Brings the schema to TSLP_PG_SCHEMA_VERSION in one write transaction (see
 * MIGRATIONS). from_empty: the database may have no tsl tables yet. */
static tsl_status migrate(tsl_store *st, tsl_error *err)
{
    tsl_status r = pg_begin(st, true, err);
    if (r != TSL_OK)
        return r;
    bool have = false;
    int64_t v = 0;
    if ((r = has_schema(st, &have, err)) == TSL_OK && have)
        r = read_version(st, &v, err);
    int64_t now = (int64_t)time(NULL);
    for (; r == TSL_OK && v < TSLP_PG_SCHEMA_VERSION; v++) {
        /* A step's backfill reads lists as the schema is at that step (the counts of 5
         * are computed before 6 adds id_bytes). */
        st->has_id_bytes = v >= TSLP_PG_SCHEMA_ID_BYTES;
        st->has_token_lists = v >= TSLP_PG_SCHEMA_TOKEN_LISTS;
        if ((r = exec_static(st, MIGRATIONS[v].sql, MIGRATIONS[v].what, err)) != TSL_OK ||
            (MIGRATIONS[v].backfill_counts &&
             (r = tslp_store_counts_backfill(st, err)) != TSL_OK))
            break;
        params p = {0};
        p_i64(&p, v + 1);
        p_i64(&p, now);
        p_text(&p, MIGRATIONS[v].what);
        PGresult *res = PQexecParams(C(st)->pg,
                                     "INSERT INTO tsl_schema VALUES ($1, $2, $3)", p.n,
                                     NULL, p.v, p.len, p.fmt, 1);
        if (PQresultStatus(res) != PGRES_COMMAND_OK)
            r = pg_fail(st, res, "recording a migration", err);
        PQclear(res);
    }
    st->has_id_bytes = true;
    st->has_token_lists = true;
    if (r == TSL_OK)
        return pg_commit(st, err);
    pg_rollback(st);
    return r;
}

/* Creates the schema (create) or checks it is a tsl store, and migrates an older one
 * (unless read-only). */
static tsl_status check_schema(tsl_store *st, bool create, tsl_error *err)
{
    bool have = false;
    tsl_status r = has_schema(st, &have, err);
    if (r != TSL_OK)
        return r;
    if (!have && !create)
        return tslp_fail(err, TSL_ERR_IO, 0,
                         "store %s: the database has no tsl schema: create it with "
                         "tsl db migrate", st->path);
    int64_t version = 0;
    if (have && (r = read_version(st, &version, err)) != TSL_OK)
        return r;
    if (version > TSLP_PG_SCHEMA_VERSION)
        return tslp_fail(err, TSL_ERR_UNSUPPORTED, 0,
                         "store %s: schema version %lld is newer than this tsl's (%d)",
                         st->path, (long long)version, TSLP_PG_SCHEMA_VERSION);
    /* After a migration (below) the counts are kept; a read-only handle on an older
     * store counts by loading the list. */
    st->has_counts = version >= TSLP_PG_SCHEMA_COUNTS || !st->readonly;
    st->has_id_bytes = version >= TSLP_PG_SCHEMA_ID_BYTES || !st->readonly;
    st->has_token_lists = version >= TSLP_PG_SCHEMA_TOKEN_LISTS || !st->readonly;
    if (version == TSLP_PG_SCHEMA_VERSION)
        return TSL_OK;
    if (st->readonly) {
        if (version < PG_SCHEMA_READABLE)
            return tslp_fail(err, TSL_ERR_UNSUPPORTED, 0,
                             "store %s: schema version %lld must be migrated first: run "
                             "tsl db migrate", st->path, (long long)version);
        return TSL_OK;
    }
    return migrate(st, err);
}

static void quiet(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

static tsl_status pg_open(tsl_store *st, bool create, tsl_error *err)
{
    tsl_status r0 = tslp_pg_url_check(st->path, err);
    if (r0 != TSL_OK)
        return r0;
    pgc *c = tslp_calloc(1, sizeof *c);
    if (c == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "store: out of memory");
    st->conn = c;
    /* Ours first: the URL's own settings override them. */
    const char *const keys[] = {"application_name", "connect_timeout", "dbname", NULL};
    const char *const vals[] = {"tsl", "10", st->path, NULL};
    c->pg = PQconnectdbParams(keys, vals, 1);
    if (c->pg == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "store: out of memory");
    /* The server's notices (a FATAL at shutdown, a WARNING) go to the error of the
     * call that meets them, never straight to stderr. */
    PQsetNoticeProcessor(c->pg, quiet, NULL);
    char *name = display_name(c->pg);
    if (name == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "store: out of memory");
    tslp_free(st->path);
    st->path = name;
    if (PQstatus(c->pg) != CONNECTION_OK)
        return pg_fail(st, NULL, "connecting", err);
    tsl_status r = TSL_OK;
    if (st->readonly)
        r = exec_static(st, "SET default_transaction_read_only = on", "setting up", err);
    if (r == TSL_OK)
        r = check_schema(st, create, err);
    return r;
}

static void pg_close(tsl_store *st)
{
    pgc *c = C(st);
    tx_clear(c);
    tslp_free(c->changed);
    tslp_free(c->cache);
    if (c->pg != NULL)
        PQfinish(c->pg);
    tslp_free(c);
    st->conn = NULL;
}

/* ---------------------------------------------------------------------------------- */
/* Lists and allocation                                                                 */

static tsl_status pg_audit(tsl_store *st, const char *id, int64_t now, uint64_t entries,
                           uint64_t changed, const char *source, const char *kind,
                           tsl_error *err)
{
    params p = {0};
    p_text(&p, id);
    p_i64(&p, now);
    p_i64(&p, (int64_t)entries);
    p_i64(&p, (int64_t)changed);
    p_text(&p, source);
    p_text(&p, kind);
    tsl_status r = run(st, Q_AUDIT, &p, PGRES_COMMAND_OK, NULL, "recording a batch", err);
    return r == TSL_OK ? mark_changed(st, id, err) : r;
}

/* A tslp_malloc copy of a nullable text column, or NULL. *ok is cleared on NOMEM. */
static char *col_text(const PGresult *res, int col, bool *ok)
{
    if (PQgetisnull(res, 0, col))
        return NULL;
    size_t n = (size_t)PQgetlength(res, 0, col);
    char *c = tslp_malloc(n + 1);
    if (c == NULL) {
        *ok = false;
        return NULL;
    }
    memcpy(c, PQgetvalue(res, 0, col), n);
    c[n] = '\0';
    return c;
}

static tsl_status pg_list_read(tsl_store *st, const char *id, tslp_list_row *row,
                               tsl_error *err)
{
    memset(row, 0, sizeof *row);
    params p = {0};
    p_text(&p, id);
    PGresult *res = NULL;
    tsl_status r = run(st, st->has_id_bytes ? Q_LIST_READ : Q_LIST_READ_V5, &p,
                       PGRES_TUPLES_OK, &res, "reading a list", err);
    if (r != TSL_OK)
        return r;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return tslp_fail(err, TSL_ERR_NOT_FOUND, 0, "list \"%s\": no such list", id);
    }
    tsl_list_info *in = &row->info;
    bool ok = true;
    in->id = col_text(res, 0, &ok);
    in->uri = col_text(res, 1, &ok);
    int64_t bits = get_i64(res, 0, 2), size = get_i64(res, 0, 3);
    in->key_path = col_text(res, 4, &ok);
    char *alg = col_text(res, 5, &ok);
    in->alg = alg != NULL ? tsl_alg_from_name(alg) : TSL_ALG_UNKNOWN;
    in->kid = col_text(res, 6, &ok);
    in->x5c_path = col_text(res, 7, &ok);
    in->lifetime = get_i64(res, 0, 8);
    in->ttl = get_i64(res, 0, 9);
    int64_t formats = get_i64(res, 0, 10), decoys = get_i64(res, 0, 11);
    int64_t decoy_value = get_i64(res, 0, 12);
    in->final_invalid = get_i64(res, 0, 13) != 0;
    in->aggregation_uri = col_text(res, 14, &ok);
    int key_len = PQgetlength(res, 0, 15);
    int64_t next = get_i64(res, 0, 16), version = get_i64(res, 0, 17);
    in->created = get_i64(res, 0, 18);
    in->updated = get_i64(res, 0, 19);
    in->last_published = get_i64(res, 0, 20);
    int64_t id_bytes = get_i64(res, 0, 21);
    bool bad = tslp_store_id_bytes_bad(formats, size, id_bytes) ||
               !tslp_bits_ok((uint64_t)bits) || size < 1 ||
               (uint64_t)size > TSL_STORE_MAX_SIZE || decoys < 0 || decoys >= size ||
               decoy_value < 0 || decoy_value >= (1 << bits) || formats < 1 ||
               (formats > 3 && formats != TSL_PUBLISH_IDLIST) || next < 0 ||
               next > size - decoys || version < 0 ||
               key_len != TSLP_PERM_KEY_BYTES || in->uri == NULL || in->key_path == NULL ||
               (alg != NULL && in->alg == TSL_ALG_UNKNOWN);
    if (!bad)
        memcpy(row->perm_key, PQgetvalue(res, 0, 15), TSLP_PERM_KEY_BYTES);
    tslp_free(alg);
    PQclear(res);
    if (!ok) {
        tsl_list_info_free(in);
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "list \"%s\": out of memory", id);
    }
    if (bad) {
        tsl_list_info_free(in);
        return tslp_fail(err, TSL_ERR_IO, 0,
                         "store %s: list \"%s\": inconsistent settings row", st->path, id);
    }
    in->bits = (unsigned)bits;
    in->size = (uint64_t)size;
    in->formats = (unsigned)formats;
    in->decoys = (uint64_t)decoys;
    in->decoy_value = (unsigned)decoy_value;
    in->allocated = row->next = (uint64_t)next;
    in->capacity = (uint64_t)(size - decoys);
    in->version = (uint64_t)version;
    in->id_bytes = (unsigned)id_bytes;
    return TSL_OK;
}

static tsl_status pg_list_exists(tsl_store *st, const char *id, tsl_error *err)
{
    params p = {0};
    p_text(&p, id);
    PGresult *res = NULL;
    tsl_status r = run(st, Q_LIST_EXISTS, &p, PGRES_TUPLES_OK, &res, "looking up a list",
                       err);
    if (r != TSL_OK)
        return r;
    int n = PQntuples(res);
    PQclear(res);
    return n > 0 ? tslp_fail(err, TSL_ERR_EXISTS, 0, "list \"%s\" already exists", id)
                 : TSL_OK;
}

static tsl_status pg_list_ids(tsl_store *st, char ***ids, size_t *n, tsl_error *err)
{
    PGresult *res = NULL;
    tsl_status r = run(st, Q_LIST_IDS, NULL, PGRES_TUPLES_OK, &res, "listing lists", err);
    if (r != TSL_OK)
        return r;
    size_t count = (size_t)PQntuples(res);
    char **v = tslp_calloc(count ? count : 1, sizeof *v);
    bool ok = v != NULL;
    for (size_t k = 0; ok && k < count; k++) {
        size_t len = (size_t)PQgetlength(res, (int)k, 0);
        if ((v[k] = tslp_malloc(len + 1)) == NULL) {
            ok = false;
            break;
        }
        memcpy(v[k], PQgetvalue(res, (int)k, 0), len);
        v[k][len] = '\0';
    }
    PQclear(res);
    if (!ok) {
        tsl_store_ids_free(v, count);
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "store: out of memory listing lists");
    }
    if (count == 0) {
        tslp_free(v);
        v = NULL;
    }
    *ids = v;
    *n = count;
    return TSL_OK;
}

static tsl_status pg_list_paths(tsl_store *st, tslp_store_path_fn fn, void *ctx,
                                tsl_error *err)
{
    PGresult *res = NULL;
    tsl_status r = run(st, Q_LIST_PATHS, NULL, PGRES_TUPLES_OK, &res,
                       "reading the lists' uris", err);
    if (r != TSL_OK)
        return r;
    for (int k = 0; r == TSL_OK && k < PQntuples(res); k++)
        r = fn(ctx, PQgetvalue(res, k, 0), PQgetvalue(res, k, 1),
               PQgetisnull(res, k, 2) ? NULL : PQgetvalue(res, k, 2), err);
    PQclear(res);
    return r;
}

static tsl_status pg_alloc_advance(tsl_store *st, const char *id, uint64_t n, int64_t now,
                                   tsl_error *err)
{
    params p = {0};
    p_text(&p, id);
    p_i64(&p, (int64_t)n);
    p_i64(&p, now);
    tsl_status r = run(st, Q_ALLOC, &p, PGRES_COMMAND_OK, NULL, "recording an allocation",
                       err);
    return r == TSL_OK ? mark_changed(st, id, err) : r;
}

/* ---------------------------------------------------------------------------------- */
/* Chunks                                                                               */

static tsl_status pg_chunks_load(tsl_store *st, const tsl_list_info *info, tsl_list **out,
                                 tsl_error *err)
{
    tsl_list *l = NULL;
    tsl_status r = tsl_list_new(info->bits, info->size, &l, err);
    if (r != TSL_OK)
        return r;
    uint64_t nbytes = tslp_store_nbytes(info->bits, info->size);
    uint64_t nchunks = tslp_store_nchunks(info->bits, info->size);
    params p = {0};
    p_text(&p, info->id);
    PGresult *res = NULL;
    if ((r = run(st, Q_CHUNKS_LOAD, &p, PGRES_TUPLES_OK, &res, "reading statuses", err)) !=
        TSL_OK) {
        tsl_list_free(l);
        return r;
    }
    for (int k = 0; r == TSL_OK && k < PQntuples(res); k++) {
        int64_t n = get_i64(res, k, 0);
        uint64_t len = (uint64_t)PQgetlength(res, k, 1), want = 0;
        if (n >= 0 && (uint64_t)n < nchunks)
            want = (uint64_t)n + 1 < nchunks ? TSLP_CHUNK_BYTES
                                             : nbytes - (uint64_t)n * TSLP_CHUNK_BYTES;
        if (want == 0 || len != want)
            r = tslp_fail(err, TSL_ERR_IO, 0,
                          "store %s: list \"%s\": chunk %lld has %llu bytes, expected %llu",
                          st->path, info->id, (long long)n, (unsigned long long)len,
                          (unsigned long long)want);
        else
            memcpy(l->data + (size_t)n * TSLP_CHUNK_BYTES, PQgetvalue(res, k, 1), (size_t)len);
    }
    PQclear(res);
    if (r == TSL_OK && info->aggregation_uri != NULL)
        r = tsl_list_set_aggregation_uri(l, info->aggregation_uri, err);
    if (r != TSL_OK) {
        tsl_list_free(l);
        return r;
    }
    *out = l;
    return TSL_OK;
}

static tsl_status pg_chunk_insert(tsl_store *st, const char *id, uint64_t n,
                                  const uint8_t *data, size_t len, tsl_error *err)
{
    params p = {0};
    p_text(&p, id);
    p_i64(&p, (int64_t)n);
    p_bin(&p, data, len);
    tsl_status r = run(st, Q_CHUNK_INSERT, &p, PGRES_COMMAND_OK, NULL, "writing statuses",
                       err);
    return r == TSL_OK ? mark_changed(st, id, err) : r;
}

static tsl_status pg_chunks_write_new(tsl_store *st, const char *id, const tsl_list *l,
                                      tsl_error *err)
{
    tsl_status r = TSL_OK;
    for (size_t off = 0; r == TSL_OK && off < l->nbytes; off += TSLP_CHUNK_BYTES) {
        size_t len = l->nbytes - off < TSLP_CHUNK_BYTES ? l->nbytes - off : TSLP_CHUNK_BYTES;
        size_t k = 0;
        while (k < len && l->data[off + k] == 0)
            k++;
        if (k < len)
            r = pg_chunk_insert(st, id, off / TSLP_CHUNK_BYTES, l->data + off, len, err);
    }
    return r;
}

static tsl_status pg_chunk_read(tsl_store *st, const char *id, uint64_t n, uint8_t *buf,
                                size_t len, int64_t *ref, tsl_error *err)
{
    *ref = 0;
    params p = {0};
    p_text(&p, id);
    p_i64(&p, (int64_t)n);
    PGresult *res = NULL;
    tsl_status r = run(st, Q_CHUNK_READ, &p, PGRES_TUPLES_OK, &res, "reading statuses", err);
    if (r != TSL_OK)
        return r;
    if (PQntuples(res) == 0) {
        PQclear(res);
        memset(buf, 0, len);
        return TSL_OK;
    }
    if ((size_t)PQgetlength(res, 0, 0) != len) {
        PQclear(res);
        return tslp_fail(err, TSL_ERR_IO, 0,
                         "store %s: list \"%s\": chunk %llu has the wrong size", st->path,
                         id, (unsigned long long)n);
    }
    memcpy(buf, PQgetvalue(res, 0, 0), len);
    PQclear(res);
    /* Kept for chunk_rewrite, which compares against it: the handle is its index + 1. */
    pgc *c = C(st);
    /* At most one entry per chunk of the largest list a store holds. */
    tsl_status rr = TSLP_ELEMS_RESERVE(c->cache, c->ncache, c->capcache, 1,
                                       (size_t)(TSL_STORE_MAX_SIZE / TSLP_CHUNK_BYTES),
                                       "chunks read", err);
    if (rr != TSL_OK)
        return rr;
    cached *e = &c->cache[c->ncache];
    size_t idn = strlen(id);
    e->id = tslp_malloc(idn + 1);
    e->data = tslp_malloc(len);
    if (e->id == NULL || e->data == NULL) {
        tslp_free(e->id);
        tslp_free(e->data);
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "store %s: out of memory", st->path);
    }
    memcpy(e->id, id, idn + 1);
    memcpy(e->data, buf, len);
    e->n = n;
    e->len = len;
    *ref = (int64_t)++c->ncache;
    return TSL_OK;
}

/* Compares the stored chunk with data, segment by segment, and writes the chunk row
 * only when a segment differs: one UPDATE of that row. (PostgreSQL rewrites a bytea
 * value whole whatever part of it changes, so overlay() on the differing segments
 * would write as much and cost more statements; the rows of the chunks the batch did
 * not change are not touched.) */
static tsl_status pg_chunk_rewrite(tsl_store *st, int64_t ref, const uint8_t *data,
                                   size_t len, size_t segment, bool dry_run,
                                   tslp_store_diff_fn diff, void *ctx, uint64_t *changed,
                                   tsl_error *err)
{
    pgc *c = C(st);
    if (ref < 1 || (size_t)ref > c->ncache || c->cache[ref - 1].len != len)
        return tslp_fail(err, TSL_ERR_ARG, 0, "store %s: no such chunk handle", st->path);
    cached *e = &c->cache[ref - 1];
    bool any = false;
    for (size_t off = 0; off < len; off += segment) {
        size_t n = len - off < segment ? len - off : segment;
        uint64_t d = diff(ctx, e->data + off, data + off, n);
        *changed += d;
        any = any || d > 0;
    }
    if (!any || dry_run)
        return TSL_OK;
    params p = {0};
    p_text(&p, e->id);
    p_i64(&p, (int64_t)e->n);
    p_bin(&p, data, len);
    tsl_status r = run(st, Q_CHUNK_UPDATE, &p, PGRES_COMMAND_OK, NULL, "rewriting a chunk",
                       err);
    if (r == TSL_OK) {
        memcpy(e->data, data, len);
        r = mark_changed(st, e->id, err);
    }
    return r;
}

static tsl_status pg_list_bump_version(tsl_store *st, const char *id, int64_t now,
                                       tsl_error *err)
{
    params p = {0};
    p_text(&p, id);
    p_i64(&p, now);
    tsl_status r = run(st, Q_BUMP, &p, PGRES_COMMAND_OK, NULL, "recording the update", err);
    return r == TSL_OK ? mark_changed(st, id, err) : r;
}

/* ---------------------------------------------------------------------------------- */
/* Tokens                                                                               */

static const char *form_name(tsl_format f)
{
    return f == TSL_FORMAT_CWT ? "cwt" : "jwt";
}

static tsl_status pg_token_head(tsl_store *st, const char *id, tsl_format format,
                                uint64_t version, int64_t iat, bool *have, uint64_t *nv,
                                int64_t *ni, bool *twin, tsl_error *err)
{
    params p = {0};
    p_text(&p, id);
    p_text(&p, form_name(format));
    p_i64(&p, (int64_t)version);
    p_i64(&p, iat);
    PGresult *res = NULL;
    tsl_status r = run(st, Q_TOKEN_HEAD, &p, PGRES_TUPLES_OK, &res, "reading the history",
                       err);
    if (r != TSL_OK)
        return r;
    *have = PQntuples(res) > 0;
    *twin = false;
    if (*have) {
        int64_t v = get_i64(res, 0, 0);
        *nv = v > 0 ? (uint64_t)v : 0;
        *ni = get_i64(res, 0, 1);
        *twin = get_i64(res, 0, 2) > 0;
    }
    PQclear(res);
    return TSL_OK;
}

/* Records a cut-out list: each of its pieces that is not recorded yet (sent eight to a
 * statement), or whose recorded bytes differ from the list's (a damaged row: rewritten,
 * so that the tokens sharing it read again), then, unless the list is recorded already,
 * its row and which pieces make it, in order. One statement says which pieces are
 * recorded and whether each still hashes to its digest: a publication after a change of
 * a few entries sends one or two. */
static tsl_status pg_lst_put(tsl_store *st, const char *id, const tslp_token_row *row,
                             tsl_error *err)
{
    tslp_token_piece *pc = NULL;
    size_t n = 0;
    tsl_status r = tslp_token_split(row->body, row->body_len, &pc, &n, err);
    if (r != TSL_OK)
        return r;
    uint8_t *digests = tslp_malloc(n * TSLP_TOKEN_DIGEST + 1);
    /* 0: not recorded, 1: recorded as it is, 2: recorded with other bytes. */
    uint8_t *state = tslp_calloc(n + 1, 1);
    if (digests == NULL || state == NULL)
        r = tslp_fail(err, TSL_ERR_NOMEM, 0, "out of memory for %zu pieces", n);
    for (size_t k = 0; r == TSL_OK && k < n; k++)
        memcpy(digests + k * TSLP_TOKEN_DIGEST, pc[k].digest, TSLP_TOKEN_DIGEST);
    params q = {0};
    p_text(&q, id);
    p_bin(&q, digests, n * TSLP_TOKEN_DIGEST);
    PGresult *res = NULL;
    if (r == TSL_OK &&
        (r = run(st, Q_PIECES_HAVE, &q, PGRES_TUPLES_OK, &res, "recording a token's list",
                 err)) == TSL_OK) {
        for (int i = 0; i < PQntuples(res); i++)
            for (size_t k = 0; PQgetlength(res, i, 0) == TSLP_TOKEN_DIGEST && k < n; k++)
                if (memcmp(PQgetvalue(res, i, 0), pc[k].digest, TSLP_TOKEN_DIGEST) == 0)
                    /* A binary boolean: one byte, 1 for true. */
                    state[k] = PQgetlength(res, i, 1) == 1 && PQgetvalue(res, i, 1)[0] == 1
                                   ? 1
                                   : 2;
        PQclear(res);
    }
    /* The same piece twice in one list is written once. */
    for (size_t k = 0; k < n; k++)
        for (size_t j = k + 1; state[k] != 1 && j < n; j++)
            if (memcmp(pc[j].digest, pc[k].digest, TSLP_TOKEN_DIGEST) == 0)
                state[j] = 1;
    for (size_t k = 0; r == TSL_OK && k < n; k++) {
        if (state[k] != 2)
            continue;
        params w = {0};
        p_text(&w, id);
        p_bin(&w, pc[k].digest, TSLP_TOKEN_DIGEST);
        p_bin(&w, row->body + pc[k].off, pc[k].len);
        r = run(st, Q_PIECE_FIX, &w, PGRES_COMMAND_OK, NULL, "recording a token's list", err);
    }
    size_t k = 0;
    while (r == TSL_OK && k < n) {
        /* The next (up to) eight pieces to write. */
        size_t pick[8], m = 0;
        for (; k < n && m < 8; k++)
            if (state[k] == 0)
                pick[m++] = k;
        if (m == 0)
            break;
        params w = {0};
        p_text(&w, id);
        for (size_t i = 0; i < m; i++) {
            p_bin(&w, pc[pick[i]].digest, TSLP_TOKEN_DIGEST);
            p_bin(&w, row->body + pc[pick[i]].off, pc[pick[i]].len);
        }
        if (m == 8) {
            r = run(st, Q_PIECE_PUT8, &w, PGRES_COMMAND_OK, NULL, "recording a token's list",
                    err);
            continue;
        }
        for (size_t i = 0; r == TSL_OK && i < m; i++) {
            params one = {0};
            p_text(&one, id);
            p_bin(&one, pc[pick[i]].digest, TSLP_TOKEN_DIGEST);
            p_bin(&one, row->body + pc[pick[i]].off, pc[pick[i]].len);
            r = run(st, Q_PIECE_PUT, &one, PGRES_COMMAND_OK, NULL, "recording a token's list",
                    err);
        }
    }
    /* The list's row and links, unless it is recorded already. */
    params w = {0};
    p_text(&w, id);
    p_bin(&w, row->lst, TSLP_TOKEN_DIGEST);
    bool have = false;
    if (r == TSL_OK &&
        (r = run(st, Q_LST_HAS, &w, PGRES_TUPLES_OK, &res, "recording a token's list",
                 err)) == TSL_OK) {
        have = PQntuples(res) > 0;
        PQclear(res);
    }
    if (r == TSL_OK && !have) {
        p_i64(&w, (int64_t)row->body_len);
        r = run(st, Q_LST_PUT, &w, PGRES_COMMAND_OK, NULL, "recording a token's list", err);
    }
    if (r == TSL_OK && !have) {
        p_bin(&q, row->lst, TSLP_TOKEN_DIGEST); /* $3 */
        r = run(st, Q_LST_LINK, &q, PGRES_COMMAND_OK, NULL, "recording a token's list", err);
    }
    tslp_free(state);
    tslp_free(digests);
    tslp_free(pc);
    return r;
}

/* The list recorded under digest for list id, put together from its pieces: *out
 * (tslp_free) of *len bytes, or NULL when no list of that digest is recorded. Pieces
 * missing or of the wrong length are a damaged store, named. */
static tsl_status pg_lst_get(tsl_store *st, const char *id, const uint8_t *digest,
                             size_t dlen, uint8_t **out, size_t *len, tsl_error *err)
{
    *out = NULL;
    *len = 0;
    params p = {0};
    p_text(&p, id);
    p_bin(&p, digest, dlen);
    PGresult *res = NULL;
    tsl_status r = run(st, Q_LST_READ, &p, PGRES_TUPLES_OK, &res, "reading a token's list",
                       err);
    if (r != TSL_OK)
        return r;
    int rows = PQntuples(res);
    if (rows == 0) {
        PQclear(res);
        return TSL_OK;
    }
    int64_t want = get_i64(res, 0, 0);
    /* Grown by the pieces actually read, never by the length the row claims. */
    tslp_buf b;
    tslp_buf_init(&b, SIZE_MAX, "a token's list");
    bool missing = false;
    for (int k = 0; r == TSL_OK && k < rows; k++) {
        if (PQgetisnull(res, k, 1))
            missing = true;
        else
            r = tslp_buf_append(&b, PQgetvalue(res, k, 1), (size_t)PQgetlength(res, k, 1),
                                err);
    }
    PQclear(res);
    if (r == TSL_OK && (missing || want < 0 || b.len != (uint64_t)want))
        r = tslp_fail(err, TSL_ERR_IO, 0,
                      "store %s: list \"%s\": a recorded token's list has pieces missing",
                      st->path, id);
    if (r == TSL_OK && (*out = tslp_buf_take(&b, len)) == NULL)
        r = tslp_fail(err, TSL_ERR_NOMEM, 0, "out of memory");
    tslp_buf_free(&b);
    return r;
}

static tsl_status pg_token_insert(tsl_store *st, const char *id, tsl_format format,
                                  int64_t iat, int64_t exp, uint64_t version,
                                  const tslp_token_row *row, int64_t now, tsl_error *err)
{
    /* A handle that writes has migrated the store: token lists exist. */
    tsl_status r = row->body != NULL ? pg_lst_put(st, id, row, err) : TSL_OK;
    if (r != TSL_OK)
        return r;
    params p = {0};
    p_text(&p, id);
    p_text(&p, form_name(format));
    p_i64(&p, iat);
    p_i64(&p, exp);
    p_i64(&p, (int64_t)version);
    p_bin(&p, row->bytes, row->len);
    p_i64(&p, now);
    if (row->lst != NULL)
        p_bin(&p, row->lst, TSLP_TOKEN_DIGEST);
    else
        p_null(&p);
    r = run(st, Q_TOKEN_INSERT, &p, PGRES_COMMAND_OK, NULL, "recording a token", err);
    return r == TSL_OK ? mark_changed(st, id, err) : r;
}

static tsl_status pg_token_prune(tsl_store *st, const char *id, int64_t before,
                                 tsl_error *err)
{
    params p = {0};
    p_text(&p, id);
    p_i64(&p, before);
    PGresult *res = NULL;
    tsl_status r = run(st, Q_TOKEN_PRUNE, &p, PGRES_COMMAND_OK, &res, "dropping old tokens",
                       err);
    if (r != TSL_OK)
        return r;
    const char *n = PQcmdTuples(res);
    bool dropped = n != NULL && n[0] != '\0' && strcmp(n, "0") != 0;
    PQclear(res);
    if (!dropped || !st->has_token_lists)
        return TSL_OK;
    /* The lists no remaining token carries (tsl_tokens_by_lst finds the carriers; their
     * tsl_token_list_pieces rows go with them), then the pieces no remaining list holds. */
    params q = {0};
    p_text(&q, id);
    if ((r = run(st, Q_LST_PRUNE, &q, PGRES_COMMAND_OK, &res, "dropping old tokens' lists",
                 err)) != TSL_OK)
        return r;
    n = PQcmdTuples(res);
    dropped = n != NULL && n[0] != '\0' && strcmp(n, "0") != 0;
    PQclear(res);
    if (!dropped)
        return TSL_OK; /* no list dropped: every piece is still held */
    return run(st, Q_PIECE_PRUNE, &q, PGRES_COMMAND_OK, NULL, "dropping old tokens' lists",
               err);
}

/* The token of row k of res (columns t, and lst after it when lst > 0), put together
 * again when its list was cut out. */
static tsl_status pg_row_token(tsl_store *st, const char *id, const PGresult *res, int k,
                               int t, int lst, uint8_t **out, size_t *out_len,
                               tsl_error *err)
{
    const uint8_t *digest = NULL;
    size_t dlen = 0, body_len = 0;
    uint8_t *body = NULL;
    tsl_status r = TSL_OK;
    if (lst > 0 && !PQgetisnull(res, k, lst)) {
        digest = (const uint8_t *)PQgetvalue(res, k, lst);
        dlen = (size_t)PQgetlength(res, k, lst);
        r = pg_lst_get(st, id, digest, dlen, &body, &body_len, err);
    }
    if (r == TSL_OK)
        r = tslp_token_from_row(st->path, id, (const uint8_t *)PQgetvalue(res, k, t),
                                (size_t)PQgetlength(res, k, t), digest, dlen, body, body_len,
                                out, out_len, err);
    tslp_free(body);
    return r;
}

static tsl_status pg_token_read(tsl_store *st, const char *id, tsl_format format,
                                int64_t at, bool *found, uint8_t **out, size_t *out_len,
                                int64_t *iat, int64_t *exp, tsl_error *err)
{
    *found = false;
    params p = {0};
    p_text(&p, id);
    p_text(&p, form_name(format));
    if (at != 0)
        p_i64(&p, at);
    int q = st->has_token_lists ? (at == 0 ? Q_TOKEN_NEWEST : Q_TOKEN_AT)
                                : (at == 0 ? Q_TOKEN_NEWEST_V6 : Q_TOKEN_AT_V6);
    PGresult *res = NULL;
    tsl_status r = run(st, q, &p, PGRES_TUPLES_OK, &res, "reading a token", err);
    if (r != TSL_OK)
        return r;
    if (PQntuples(res) > 0 && (r = pg_row_token(st, id, res, 0, 0, 3, out, out_len, err)) ==
                                  TSL_OK) {
        *found = true;
        if (iat != NULL)
            *iat = get_i64(res, 0, 1);
        if (exp != NULL)
            *exp = get_i64(res, 0, 2);
    }
    PQclear(res);
    return r;
}

/* ---------------------------------------------------------------------------------- */
/* Watching for changes, and the publish lock                                           */

static tsl_status pg_watch(tsl_store *st, tsl_error *err)
{
    pgc *c = C(st);
    c->listening = true;
    if (PQstatus(c->pg) != CONNECTION_OK)
        return reconnect(st, err);
    return exec_static(st, "LISTEN tsl_change", "listening", err);
}

/* Hands the notifications received so far to fn. */
static void drain(pgc *c, void (*fn)(void *ctx, const char *id), void *ctx)
{
    PGnotify *nf;
    while ((nf = PQnotifies(c->pg)) != NULL) {
        if (strcmp(nf->relname, "tsl_change") == 0)
            fn(ctx, nf->extra);
        PQfreemem(nf);
    }
}

static tsl_status pg_wait(tsl_store *st, int timeout_ms,
                          void (*fn)(void *ctx, const char *id), void *ctx, tsl_error *err)
{
    pgc *c = C(st);
    tsl_status r;
    if (PQstatus(c->pg) != CONNECTION_OK) {
        if ((r = reconnect(st, err)) != TSL_OK)
            return r;
    }
    if (c->resync) {
        c->resync = false;
        fn(ctx, NULL);
        drain(c, fn, ctx);
        return TSL_OK;
    }
    if (!PQconsumeInput(c->pg))
        return pg_fail(st, NULL, "waiting for changes", err);
    PGnotify *nf = PQnotifies(c->pg);
    if (nf == NULL) {
        struct pollfd pfd = {PQsocket(c->pg), POLLIN, 0};
        if (pfd.fd < 0)
            return pg_fail(st, NULL, "waiting for changes", err);
        int n = poll(&pfd, 1, timeout_ms < 0 ? 0 : timeout_ms);
        if (n < 0 && errno != EINTR)
            return tslp_fail(err, TSL_ERR_IO, 0, "store %s: waiting for changes: %s",
                             st->path, strerror(errno));
        if (n > 0 && (!PQconsumeInput(c->pg) || PQstatus(c->pg) != CONNECTION_OK))
            return pg_fail(st, NULL, "waiting for changes", err);
    } else {
        if (strcmp(nf->relname, "tsl_change") == 0)
            fn(ctx, nf->extra);
        PQfreemem(nf);
    }
    drain(c, fn, ctx);
    return PQstatus(c->pg) == CONNECTION_OK ? TSL_OK
                                            : pg_fail(st, NULL, "waiting for changes", err);
}

static tsl_status pg_publish_lock(tsl_store *st, const char *id, bool *got, tsl_error *err)
{
    *got = false;
    pgc *c = C(st);
    tsl_status r;
    if (PQstatus(c->pg) != CONNECTION_OK && (r = reconnect(st, err)) != TSL_OK)
        return r;
    params p = {0};
    p_text(&p, id);
    PGresult *res = NULL;
    if ((r = run(st, Q_PUB_LOCK, &p, PGRES_TUPLES_OK, &res, "taking the publish lock",
                 err)) != TSL_OK)
        return r;
    *got = PQntuples(res) == 1 && PQgetlength(res, 0, 0) == 1 && PQgetvalue(res, 0, 0)[0] == 1;
    PQclear(res);
    return TSL_OK;
}

static void pg_publish_unlock(tsl_store *st, const char *id)
{
    /* On a lost connection the lock went with the session. */
    if (PQstatus(C(st)->pg) != CONNECTION_OK)
        return;
    params p = {0};
    p_text(&p, id);
    run(st, Q_PUB_UNLOCK, &p, PGRES_TUPLES_OK, NULL, "releasing the publish lock", NULL);
}

/* ---------------------------------------------------------------------------------- */
/* Copying a store whole (copy.c)                                                       */

static tsl_status pg_list_restore(tsl_store *st, const tslp_list_row *row, tsl_error *err)
{
    const tsl_list_info *in = &row->info;
    params p = {0};
    p_text(&p, in->id);
    p_text(&p, in->uri);
    p_i64(&p, in->bits);
    p_i64(&p, (int64_t)in->size);
    p_text(&p, in->key_path);
    p_text(&p, in->alg != TSL_ALG_UNKNOWN ? tsl_alg_name(in->alg) : NULL);
    p_text(&p, in->kid);
    p_text(&p, in->x5c_path);
    p_i64(&p, in->lifetime);
    p_i64(&p, in->ttl);
    p_i64(&p, in->formats);
    p_i64(&p, (int64_t)in->decoys);
    p_i64(&p, in->decoy_value);
    p_i64(&p, in->final_invalid ? 1 : 0);
    p_text(&p, in->aggregation_uri);
    p_bin(&p, row->perm_key, TSLP_PERM_KEY_BYTES);
    p_i64(&p, (int64_t)row->next);
    p_i64(&p, (int64_t)in->version);
    p_i64(&p, in->created);
    p_i64(&p, in->updated);
    p_i64(&p, in->id_bytes);
    tsl_status r = run(st, Q_LIST_RESTORE, &p, PGRES_COMMAND_OK, NULL, "restoring a list",
                       err);
    return r == TSL_OK ? mark_changed(st, in->id, err) : r;
}

static tsl_status pg_tokens_each(tsl_store *st, const char *id, tslp_store_token_fn fn,
                                 void *ctx, tsl_error *err)
{
    params p = {0};
    p_text(&p, id);
    PGresult *res = NULL;
    tsl_status r = run(st, st->has_token_lists ? Q_TOKENS_ALL : Q_TOKENS_ALL_V6, &p,
                       PGRES_TUPLES_OK, &res, "reading the history", err);
    if (r != TSL_OK)
        return r;
    for (int k = 0; r == TSL_OK && k < PQntuples(res); k++) {
        const char *form = PQgetvalue(res, k, 0);
        int64_t version = get_i64(res, k, 3);
        tslp_token_row row = {.bytes = (const uint8_t *)PQgetvalue(res, k, 4),
                              .len = (size_t)PQgetlength(res, k, 4)};
        bool packed = !PQgetisnull(res, k, 6);
        uint8_t *body = NULL;
        if (packed) {
            row.lst = (const uint8_t *)PQgetvalue(res, k, 6);
            if (PQgetlength(res, k, 6) == TSLP_TOKEN_DIGEST &&
                (r = pg_lst_get(st, id, row.lst, TSLP_TOKEN_DIGEST, &body, &row.body_len,
                                err)) != TSL_OK)
                break;
            row.body = body;
        }
        if (version < 0 || (strcmp(form, "jwt") != 0 && strcmp(form, "cwt") != 0) ||
            (packed && (PQgetlength(res, k, 6) != TSLP_TOKEN_DIGEST || body == NULL)))
            r = tslp_fail(err, TSL_ERR_IO, 0, "store %s: list \"%s\": inconsistent token row",
                          st->path, id);
        else
            r = fn(ctx, form[0] == 'c' ? TSL_FORMAT_CWT : TSL_FORMAT_JWT,
                   get_i64(res, k, 1), get_i64(res, k, 2), (uint64_t)version, &row,
                   get_i64(res, k, 5), err);
        tslp_free(body);
    }
    PQclear(res);
    return r;
}

static tsl_status pg_audit_each(tsl_store *st, const char *id, tslp_store_audit_fn fn,
                                void *ctx, tsl_error *err)
{
    params p = {0};
    p_text(&p, id);
    PGresult *res = NULL;
    tsl_status r = run(st, Q_AUDIT_ALL, &p, PGRES_TUPLES_OK, &res,
                       "reading the audit trail", err);
    if (r != TSL_OK)
        return r;
    for (int k = 0; r == TSL_OK && k < PQntuples(res); k++) {
        int64_t entries = get_i64(res, k, 1), changed = get_i64(res, k, 2);
        if (entries < 0 || changed < 0)
            r = tslp_fail(err, TSL_ERR_IO, 0, "store %s: list \"%s\": inconsistent audit row",
                          st->path, id);
        else
            r = fn(ctx, get_i64(res, k, 0), (uint64_t)entries, (uint64_t)changed,
                   PQgetisnull(res, k, 3) ? NULL : PQgetvalue(res, k, 3),
                   PQgetvalue(res, k, 4), err);
    }
    PQclear(res);
    return r;
}


/* ---------------------------------------------------------------------------------- */
/* Savepoints, the audit trail by pages, API keys and idempotency records              */

/* Forgets the chunks read (their handles are not used after an op), keeping the
 * changed lists: a list whose change was rolled back to a savepoint is notified
 * anyway, which costs a publisher one needless look and misses nothing. */
static void cache_clear(pgc *c)
{
    for (size_t k = 0; k < c->ncache; k++) {
        tslp_free(c->cache[k].id);
        tslp_free(c->cache[k].data);
    }
    c->ncache = 0;
}

static tsl_status pg_savepoint(tsl_store *st, int step, tsl_error *err)
{
    static const char *const sql[] = {"SAVEPOINT tsl_op", "RELEASE SAVEPOINT tsl_op",
                                      "ROLLBACK TO SAVEPOINT tsl_op;"
                                      " RELEASE SAVEPOINT tsl_op"};
    if (step != TSLP_SP_BEGIN)
        cache_clear(C(st));
    return exec_static(st, sql[step], "a savepoint", err);
}

/* A text column of row k into a fixed buffer (cut, NUL-terminated; "" when NULL). */
static void copy_col(char *dst, size_t size, const PGresult *res, int k, int col)
{
    snprintf(dst, size, "%s", PQgetisnull(res, k, col) ? "" : PQgetvalue(res, k, col));
}

static tsl_status pg_audit_page(tsl_store *st, const char *id, uint64_t before, size_t limit,
                                tsl_audit_row **out, size_t *n, tsl_error *err)
{
    *out = NULL;
    *n = 0;
    params p = {0};
    p_text(&p, id);
    p_i64(&p, (int64_t)before);
    p_i64(&p, (int64_t)limit);
    PGresult *res = NULL;
    tsl_status r = run(st, Q_AUDIT_PAGE, &p, PGRES_TUPLES_OK, &res,
                       "reading the audit trail", err);
    if (r != TSL_OK)
        return r;
    size_t cnt = (size_t)PQntuples(res);
    if (cnt > limit)
        cnt = limit;
    tsl_audit_row *rows = cnt > 0 ? tslp_calloc(cnt, sizeof *rows) : NULL;
    if (cnt > 0 && rows == NULL) {
        PQclear(res);
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "store %s: out of memory", st->path);
    }
    size_t k = 0;
    for (; r == TSL_OK && k < cnt; k++) {
        int64_t seq = get_i64(res, (int)k, 0), entries = get_i64(res, (int)k, 2),
                changed = get_i64(res, (int)k, 3);
        if (seq < 1 || entries < 0 || changed < 0) {
            r = tslp_fail(err, TSL_ERR_IO, 0, "store %s: list \"%s\": inconsistent audit row",
                          st->path, id);
            break;
        }
        tsl_audit_row *a = &rows[k];
        a->seq = (uint64_t)seq;
        a->time = get_i64(res, (int)k, 1);
        a->entries = (uint64_t)entries;
        a->changed = (uint64_t)changed;
        copy_col(a->kind, sizeof a->kind, res, (int)k, 5);
        if (!PQgetisnull(res, (int)k, 4)) {
            size_t len = (size_t)PQgetlength(res, (int)k, 4);
            if ((a->source = tslp_malloc(len + 1)) == NULL) {
                r = tslp_fail(err, TSL_ERR_NOMEM, 0, "store %s: out of memory", st->path);
                break;
            }
            memcpy(a->source, PQgetvalue(res, (int)k, 4), len);
            a->source[len] = '\0';
        }
    }
    PQclear(res);
    if (r != TSL_OK) {
        tsl_audit_rows_free(rows, cnt);
        return r;
    }
    *out = rows;
    *n = cnt;
    return TSL_OK;
}

static tsl_status pg_apikey_insert(tsl_store *st, const tslp_apikey_row *row, tsl_error *err)
{
    const tsl_apikey_info *in = &row->info;
    params p = {0};
    p_text(&p, in->id);
    p_text(&p, in->list_id[0] != '\0' ? in->list_id : NULL);
    p_i64(&p, in->scopes);
    p_bin(&p, row->hash, sizeof row->hash);
    p_i64(&p, in->created);
    p_i64(&p, in->expires);
    p_i64(&p, in->revoked);
    tsl_status rv = revive(st, err);
    if (rv != TSL_OK)
        return rv;
    PGresult *res = PQexecParams(C(st)->pg, SQL[Q_APIKEY_INSERT], p.n, NULL, p.v, p.len,
                                 p.fmt, 1);
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    if (state != NULL && strcmp(state, "23505") == 0) {
        PQclear(res);
        return tslp_fail(err, TSL_ERR_EXISTS, 0, "API key %s already exists", in->id);
    }
    return result(st, res, PGRES_COMMAND_OK, NULL, "recording a key", err);
}

/* Row k of an apikeys result (id, list_id, scopes, hash, created, expires, revoked). */
static bool apikey_row(const PGresult *res, int k, tslp_apikey_row *row)
{
    memset(row, 0, sizeof *row);
    int64_t scopes = get_i64(res, k, 2);
    if (PQgetisnull(res, k, 0) || PQgetlength(res, k, 0) != TSL_APIKEY_ID_LEN ||
        PQgetisnull(res, k, 3) || PQgetlength(res, k, 3) != (int)sizeof row->hash ||
        PQgetlength(res, k, 1) > 64 || scopes < 1 || scopes > TSL_SCOPE_ALL)
        return false;
    copy_col(row->info.id, sizeof row->info.id, res, k, 0);
    copy_col(row->info.list_id, sizeof row->info.list_id, res, k, 1);
    row->info.scopes = (unsigned)scopes;
    memcpy(row->hash, PQgetvalue(res, k, 3), sizeof row->hash);
    row->info.created = get_i64(res, k, 4);
    row->info.expires = get_i64(res, k, 5);
    row->info.revoked = get_i64(res, k, 6);
    return true;
}

static tsl_status pg_apikey_read(tsl_store *st, const char *id, tslp_apikey_row *row,
                                 bool *found, tsl_error *err)
{
    *found = false;
    params p = {0};
    p_text(&p, id);
    PGresult *res = NULL;
    tsl_status r = run(st, Q_APIKEY_READ, &p, PGRES_TUPLES_OK, &res, "reading a key", err);
    if (r != TSL_OK)
        return r;
    if (PQntuples(res) > 0) {
        if (apikey_row(res, 0, row))
            *found = true;
        else
            r = tslp_fail(err, TSL_ERR_IO, 0, "store %s: inconsistent API key row",
                          st->path);
    }
    PQclear(res);
    return r;
}

static tsl_status pg_apikey_revoke(tsl_store *st, const char *id, int64_t now, tsl_error *err)
{
    params p = {0};
    p_text(&p, id);
    p_i64(&p, now);
    return run(st, Q_APIKEY_REVOKE, &p, PGRES_COMMAND_OK, NULL, "revoking a key", err);
}

static tsl_status pg_apikey_rows(tsl_store *st, tslp_apikey_row **out, size_t *n,
                                 tsl_error *err)
{
    *out = NULL;
    *n = 0;
    PGresult *res = NULL;
    tsl_status r = run(st, Q_APIKEY_ROWS, NULL, PGRES_TUPLES_OK, &res, "reading the keys",
                       err);
    if (r != TSL_OK)
        return r;
    size_t cnt = (size_t)PQntuples(res);
    if (cnt > TSLP_STORE_MAX_APIKEYS) {
        PQclear(res);
        return tslp_fail(err, TSL_ERR_LIMIT, 0, "store %s: more than %zu API keys",
                         st->path, (size_t)TSLP_STORE_MAX_APIKEYS);
    }
    tslp_apikey_row *rows = cnt > 0 ? tslp_calloc(cnt, sizeof *rows) : NULL;
    if (cnt > 0 && rows == NULL)
        r = tslp_fail(err, TSL_ERR_NOMEM, 0, "store %s: out of memory", st->path);
    for (size_t k = 0; r == TSL_OK && k < cnt; k++)
        if (!apikey_row(res, (int)k, &rows[k]))
            r = tslp_fail(err, TSL_ERR_IO, 0, "store %s: inconsistent API key row",
                          st->path);
    PQclear(res);
    if (r != TSL_OK) {
        tslp_free(rows);
        return r;
    }
    *out = rows;
    *n = cnt;
    return TSL_OK;
}

static tsl_status pg_idem_read(tsl_store *st, const char *owner, const char *key, bool *found,
                               char *list_id, uint8_t hash[32], uint8_t **blob, size_t *len,
                               tsl_error *err)
{
    *found = false;
    *blob = NULL;
    *len = 0;
    params p = {0};
    p_text(&p, owner);
    p_text(&p, key);
    PGresult *res = NULL;
    tsl_status r = run(st, Q_IDEM_READ, &p, PGRES_TUPLES_OK, &res,
                       "reading an idempotency record", err);
    if (r != TSL_OK)
        return r;
    if (PQntuples(res) > 0) {
        size_t bl = (size_t)PQgetlength(res, 0, 2);
        if (PQgetlength(res, 0, 1) != 32 || bl % 8 != 0 || PQgetlength(res, 0, 0) > 64) {
            r = tslp_fail(err, TSL_ERR_IO, 0, "store %s: inconsistent idempotency record",
                          st->path);
        } else if ((*blob = tslp_malloc(bl > 0 ? bl : 1)) == NULL) {
            r = tslp_fail(err, TSL_ERR_NOMEM, 0, "store %s: out of memory", st->path);
        } else {
            memcpy(*blob, PQgetvalue(res, 0, 2), bl);
            *len = bl;
            memcpy(hash, PQgetvalue(res, 0, 1), 32);
            copy_col(list_id, 65, res, 0, 0);
            *found = true;
        }
    }
    PQclear(res);
    return r;
}

static tsl_status pg_idem_insert(tsl_store *st, const char *owner, const char *key,
                                 const char *list_id, const uint8_t hash[32],
                                 const uint8_t *blob, size_t len, int64_t now, tsl_error *err)
{
    params p = {0};
    p_text(&p, owner);
    p_text(&p, key);
    p_text(&p, list_id);
    p_bin(&p, hash, 32);
    p_bin(&p, blob, len);
    p_i64(&p, now);
    return run(st, Q_IDEM_INSERT, &p, PGRES_COMMAND_OK, NULL,
               "recording an idempotency key", err);
}

static tsl_status pg_idem_prune(tsl_store *st, int64_t before, tsl_error *err)
{
    params p = {0};
    p_i64(&p, before);
    return run(st, Q_IDEM_PRUNE, &p, PGRES_COMMAND_OK, NULL,
               "dropping old idempotency records", err);
}

/* ---------------------------------------------------------------------------------- */
/* Compressed segments (version 4)                                                      */

static tsl_status pg_segments_each(tsl_store *st, const char *id, tslp_store_segment_fn fn,
                                   void *ctx, tsl_error *err)
{
    params p = {0};
    p_text(&p, id);
    PGresult *res = NULL;
    tsl_status r = run(st, Q_SEG_EACH, &p, PGRES_TUPLES_OK, &res, "reading segments", err);
    if (r != TSL_OK)
        return r;
    int rows = PQntuples(res);
    for (int k = 0; r == TSL_OK && k < rows; k++) {
        tslp_segment_row row;
        memset(&row, 0, sizeof row);
        int64_t n = get_i64(res, k, 0);
        row.n = n < 0 ? UINT64_MAX : (uint64_t)n;
        row.level = (int)get_i64(res, k, 1);
        row.adler = (uint32_t)get_i64(res, k, 2);
        row.raw_len = (uint32_t)get_i64(res, k, 3);
        row.check = (uint32_t)get_i64(res, k, 4);
        row.data = (const uint8_t *)PQgetvalue(res, k, 5);
        row.len = (size_t)PQgetlength(res, k, 5);
        r = fn(ctx, &row, err);
    }
    PQclear(res);
    return r;
}

/* At most this many upserts are queued before their results are read: each answers
 * about 30 bytes, so the server never blocks writing answers the client has not read yet
 * (which, with the client still sending, would deadlock both). */
#define SEG_PIPELINE 32

/* Reads the answers of `queued` pipelined statements and their sync point; the first
 * failure is kept in r (later statements of the pipeline answer "aborted"). */
static tsl_status pipeline_drain(tsl_store *st, size_t queued, tsl_status r, tsl_error *err)
{
    PGconn *pg = C(st)->pg;
    for (size_t k = 0; k < queued; k++) {
        PGresult *res = PQgetResult(pg);
        if (res == NULL) /* the connection failed under the pipeline */
            return r != TSL_OK ? r : pg_fail(st, NULL, "writing segments", err);
        if (r == TSL_OK && PQresultStatus(res) != PGRES_COMMAND_OK)
            r = pg_fail(st, res, "writing segments", err);
        PQclear(res);
        while ((res = PQgetResult(pg)) != NULL) /* the end of this statement's answers */
            PQclear(res);
    }
    PGresult *sync = PQgetResult(pg);
    if (sync == NULL || PQresultStatus(sync) != PGRES_PIPELINE_SYNC) {
        if (r == TSL_OK)
            r = pg_fail(st, sync, "writing segments", err);
    }
    PQclear(sync);
    return r;
}

/* A publication that re-encoded a whole 10^8-entry list writes 191 rows; one upsert per
 * round trip spent 32 to 39 ms there. They go in libpq's pipeline mode instead: sent
 * back to back and answered together, inside the caller's transaction (a failure
 * aborts the rest of the pipeline, and the caller rolls the transaction back). */
static tsl_status pg_segments_put(tsl_store *st, const char *id, const tslp_segment_row *rows,
                                  size_t n, tsl_error *err)
{
    pgc *c = C(st);
    if (n == 0)
        return TSL_OK;
    char name[16];
    snprintf(name, sizeof name, "tsl%d", Q_SEG_PUT);
    if (!c->prepared[Q_SEG_PUT]) {
        PGresult *pr = PQprepare(c->pg, name, SQL[Q_SEG_PUT], 7, NULL);
        tsl_status r = result(st, pr, PGRES_COMMAND_OK, NULL, "writing segments", err);
        if (r != TSL_OK)
            return r;
        c->prepared[Q_SEG_PUT] = true;
    }
    if (!PQenterPipelineMode(c->pg))
        return pg_fail(st, NULL, "writing segments", err);
    tsl_status r = TSL_OK;
    for (size_t k = 0; r == TSL_OK && k < n;) {
        size_t queued = 0;
        for (; k < n && queued < SEG_PIPELINE; k++) {
            params p = {0};
            p_text(&p, id);
            p_i64(&p, (int64_t)rows[k].n);
            p_i64(&p, rows[k].level);
            p_i64(&p, rows[k].adler);
            p_i64(&p, rows[k].raw_len);
            p_i64(&p, rows[k].check);
            p_bin(&p, rows[k].data, rows[k].len);
            if (!PQsendQueryPrepared(c->pg, name, p.n, p.v, p.len, p.fmt, 1)) {
                r = pg_fail(st, NULL, "writing segments", err);
                break;
            }
            queued++;
        }
        if (!PQpipelineSync(c->pg)) {
            if (r == TSL_OK)
                r = pg_fail(st, NULL, "writing segments", err);
            break;
        }
        r = pipeline_drain(st, queued, r, err);
    }
    if (!PQexitPipelineMode(c->pg) && r == TSL_OK)
        r = pg_fail(st, NULL, "writing segments", err);
    return r;
}

/* At most this many chunks (64 KiB each) are asked for in one statement: libpq holds a
 * statement's whole answer in memory before the first row is read. */
#define CHUNKS_FETCH_MAX 32

static tsl_status pg_chunks_fetch(tsl_store *st, const char *id, const uint64_t *ns,
                                  size_t k, uint8_t *const *bufs, const size_t *lens,
                                  bool *found, tsl_error *err)
{
    tsl_status r = TSL_OK;
    for (size_t at = 0; r == TSL_OK && at < k; at += CHUNKS_FETCH_MAX) {
        size_t m = k - at < CHUNKS_FETCH_MAX ? k - at : CHUNKS_FETCH_MAX;
        /* The numbers as a text array: "{n1,n2,...}", 20 digits and a comma each. */
        char arr[2 + CHUNKS_FETCH_MAX * 21];
        size_t len = 0;
        arr[len++] = '{';
        for (size_t j = 0; j < m; j++) {
            found[at + j] = false;
            len += (size_t)snprintf(arr + len, sizeof arr - len, "%s%llu", j > 0 ? "," : "",
                                    (unsigned long long)ns[at + j]);
        }
        arr[len++] = '}';
        arr[len] = '\0';
        params p = {0};
        p_text(&p, id);
        p_text(&p, arr);
        PGresult *res = NULL;
        r = run(st, Q_CHUNKS_FETCH, &p, PGRES_TUPLES_OK, &res, "reading statuses", err);
        if (r != TSL_OK)
            break;
        int rows = PQntuples(res);
        for (int row = 0; r == TSL_OK && row < rows; row++) {
            int64_t n = get_i64(res, row, 0);
            /* The answer's order is the server's: each row to its place in ns. */
            size_t j = 0;
            while (j < m && (int64_t)ns[at + j] != n)
                j++;
            if (j == m || found[at + j]) {
                r = tslp_fail(err, TSL_ERR_IO, 0, "store %s: list \"%s\": chunk %lld "
                              "answered unasked", st->path, id, (long long)n);
            } else if ((size_t)PQgetlength(res, row, 1) != lens[at + j]) {
                r = tslp_fail(err, TSL_ERR_IO, 0,
                              "store %s: list \"%s\": chunk %llu has the wrong size",
                              st->path, id, (unsigned long long)ns[at + j]);
            } else {
                memcpy(bufs[at + j], PQgetvalue(res, row, 1), lens[at + j]);
                found[at + j] = true;
            }
        }
        PQclear(res);
        for (size_t j = 0; r == TSL_OK && j < m; j++)
            if (!found[at + j])
                memset(bufs[at + j], 0, lens[at + j]);
    }
    return r;
}

static tsl_status pg_segment_drop(tsl_store *st, const char *id, uint64_t n, tsl_error *err)
{
    params p = {0};
    p_text(&p, id);
    if (n != UINT64_MAX)
        p_i64(&p, (int64_t)n);
    return run(st, n == UINT64_MAX ? Q_SEG_DROP_ALL : Q_SEG_DROP, &p, PGRES_COMMAND_OK, NULL,
               "dropping a segment", err);
}

/* Status counts (counts.c). */
static tsl_status pg_counts_add(tsl_store *st, const char *id, const int64_t delta[256],
                                tsl_error *err)
{
    for (unsigned v = 1; v < 256; v++) {
        if (delta[v] == 0)
            continue;
        params p = {0};
        p_text(&p, id);
        p_i64(&p, v);
        p_i64(&p, delta[v]);
        tsl_status r = run(st, Q_COUNTS_ADD, &p, PGRES_COMMAND_OK, NULL,
                           "writing status counts", err);
        if (r != TSL_OK)
            return r;
    }
    return TSL_OK;
}

static tsl_status pg_counts_read(tsl_store *st, const char *id, int64_t counts[256],
                                 tsl_error *err)
{
    params p = {0};
    p_text(&p, id);
    PGresult *res = NULL;
    tsl_status r = run(st, Q_COUNTS_READ, &p, PGRES_TUPLES_OK, &res,
                       "reading status counts", err);
    if (r != TSL_OK)
        return r;
    for (int k = 0; r == TSL_OK && k < PQntuples(res); k++) {
        int64_t v = get_i64(res, k, 0);
        if (v < 1 || v > 255)
            r = tslp_fail(err, TSL_ERR_IO, 0, "store %s: list \"%s\": a count of status %lld",
                          st->path, id, (long long)v);
        else
            counts[v] = get_i64(res, k, 1);
    }
    PQclear(res);
    return r;
}

const struct tslp_store_backend tslp_store_pg = {
    .name = "postgresql",
    .open = pg_open,
    .close = pg_close,
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .list_read = pg_list_read,
    .list_exists = pg_list_exists,
    .list_ids = pg_list_ids,
    .list_paths = pg_list_paths,
    .alloc_advance = pg_alloc_advance,
    .chunks_load = pg_chunks_load,
    .chunks_write_new = pg_chunks_write_new,
    .chunk_read = pg_chunk_read,
    .chunk_insert = pg_chunk_insert,
    .chunk_rewrite = pg_chunk_rewrite,
    .counts_add = pg_counts_add,
    .counts_read = pg_counts_read,
    .list_bump_version = pg_list_bump_version,
    .token_head = pg_token_head,
    .token_insert = pg_token_insert,
    .token_prune = pg_token_prune,
    .token_read = pg_token_read,
    .audit = pg_audit,
    .watch = pg_watch,
    .wait = pg_wait,
    .publish_lock = pg_publish_lock,
    .publish_unlock = pg_publish_unlock,
    .list_restore = pg_list_restore,
    .tokens_each = pg_tokens_each,
    .audit_each = pg_audit_each,
    .savepoint = pg_savepoint,
    .audit_page = pg_audit_page,
    .apikey_insert = pg_apikey_insert,
    .apikey_read = pg_apikey_read,
    .apikey_revoke = pg_apikey_revoke,
    .apikey_rows = pg_apikey_rows,
    .idem_read = pg_idem_read,
    .idem_insert = pg_idem_insert,
    .idem_prune = pg_idem_prune,
    .segments_each = pg_segments_each,
    .segments_put = pg_segments_put,
    .chunks_fetch = pg_chunks_fetch,
    .segment_drop = pg_segment_drop,
};
