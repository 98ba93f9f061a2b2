/* store_sqlite.c - the issuer store's SQLite backend (backend.h): one file shared
 * safely by several processes, holding lists, their packed statuses, allocation state,
 * published tokens and an audit trail.
 *
 * Schema (version TSLP_SCHEMA_VERSION; MIGRATIONS below say what each version added):
 *   meta    (key TEXT PRIMARY KEY, value TEXT)       'application' = 'tsl',
 *                                                    'schema_version' = '7'
 *   lists   (id TEXT PRIMARY KEY, uri, bits, size, key_path, alg (JOSE name or NULL),
 *            kid, x5c_path, lifetime, ttl, formats (TSL_PUBLISH_* mask), decoys,
 *            decoy_value, final_invalid, aggregation_uri, perm_key BLOB (16 bytes),
 *            next (allocation counter), version, created, updated)
 *   chunks  (list_id, n, data BLOB, PRIMARY KEY (list_id, n)): packed statuses in
 *            TSLP_CHUNK_BYTES slices, chunk n holding bytes n*65536.. (the last one
 *            shorter); a chunk without a row is all zeros, so a new list costs nothing
 *            and changing a few entries rewrites only the pages they are on
 *   tokens  (list_id, format 'jwt'/'cwt', iat, exp, version (of the statuses signed),
 *            token BLOB, created), indexed on (list_id, format, iat)
 *   batches (id INTEGER PRIMARY KEY, list_id, time, entries, changed, source, kind
 *            'create'/'update'/'set'/'alloc'/'publish'): the audit trail, indexed on
 *            (list_id, id) since version 2
 *   migrations (version, applied): the migrations applied to this file (version 2)
 *   apikeys (id TEXT PRIMARY KEY, list_id (NULL: every list), scopes, hash BLOB
 *            (SHA-256 of the secret), created, expires, revoked): the issuer API's keys
 *            (version 3)
 *   idempotency (owner, idem_key, list_id, hash BLOB (of the request), indices BLOB
 *            (little-endian u64s), created, PRIMARY KEY (owner, idem_key)): allocations
 *            made with an Idempotency-Key, kept TSL_IDEMPOTENCY_SECONDS (version 3)
 *   segments (list_id, n, level, adler, raw_len, check, data BLOB, PRIMARY KEY (list_id,
 *            n)): chunk n compressed as a segment of the published stream, with the
 *            Adler-32 and length of its packed bytes and a CRC-32 of the row
 *            (store_segments.c); deleted with every write of the chunk (version 4)
 *   status_counts (list_id, value, n, PRIMARY KEY (list_id, value)): how many entries
 *            of the list hold each non-zero value, changed with every write of
 *            statuses in its transaction (counts.c; version 5)
 *   lists.id_bytes: an identifier list's identifier length, 0 for a status list
 *            (version 6)
 *   token_lists (list_id, digest BLOB (SHA-256 of the list), length, PRIMARY KEY
 *            (list_id, digest)), token_pieces (list_id, digest, data BLOB, PRIMARY KEY
 *            (list_id, digest)), token_list_pieces (list_id, list, seq, piece): a token
 *            recorded with its list cut out names the list by digest in tokens.lst
 *            (NULL: the token is whole); the list is recorded once per list and
 *            digest, as the pieces token_list_pieces names in order, each piece once
 *            per list and digest however many lists hold it (token_pack.c; version 7)
 *
 * Durability and concurrency: journal_mode=WAL and synchronous=FULL, so a COMMIT that
 * returned is on disk and a process killed before it leaves the previous state whole;
 * every change runs in one BEGIN IMMEDIATE transaction (writers queue behind the busy
 * timeout; readers see a consistent snapshot and never block them). The file is
 * created 0600: it holds the permutation keys, which predict future indices. */
#include "store/backend.h"
#include "store/idl_perm.h"
#include "store/store_sqlite.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#define BUSY_TIMEOUT_MS 10000
#define BEGIN_DEADLINE_S 60

#define DB(st) tslp_sqlite_db(st)

static void sq_rollback(tsl_store *st);

static const char SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS lists ("
    " id TEXT PRIMARY KEY, uri TEXT NOT NULL, bits INTEGER NOT NULL,"
    " size INTEGER NOT NULL, key_path TEXT NOT NULL, alg TEXT, kid TEXT, x5c_path TEXT,"
    " lifetime INTEGER NOT NULL, ttl INTEGER NOT NULL, formats INTEGER NOT NULL,"
    " decoys INTEGER NOT NULL, decoy_value INTEGER NOT NULL,"
    " final_invalid INTEGER NOT NULL, aggregation_uri TEXT, perm_key BLOB NOT NULL,"
    " next INTEGER NOT NULL, version INTEGER NOT NULL, created INTEGER NOT NULL,"
    " updated INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS chunks ("
    " list_id TEXT NOT NULL REFERENCES lists(id) ON DELETE CASCADE,"
    " n INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (list_id, n));"
    "CREATE TABLE IF NOT EXISTS tokens ("
    " list_id TEXT NOT NULL REFERENCES lists(id) ON DELETE CASCADE,"
    " format TEXT NOT NULL CHECK (format IN ('jwt', 'cwt')), iat INTEGER NOT NULL,"
    " exp INTEGER NOT NULL, version INTEGER NOT NULL, token BLOB NOT NULL,"
    " created INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS tokens_by_iat ON tokens (list_id, format, iat);"
    "CREATE TABLE IF NOT EXISTS batches ("
    " id INTEGER PRIMARY KEY, list_id TEXT NOT NULL REFERENCES lists(id) ON DELETE CASCADE,"
    " time INTEGER NOT NULL, entries INTEGER NOT NULL, changed INTEGER NOT NULL,"
    " source TEXT, kind TEXT NOT NULL);"
    "INSERT OR IGNORE INTO meta VALUES ('application', 'tsl');"
    "INSERT OR IGNORE INTO meta VALUES ('schema_version', '1');";

/* The migrations, in order: migration k takes schema version k + 1 to k + 2. A new
 * store is made at version 1 (SCHEMA, which stays as the first release wrote it) and
 * brought up through every step, in the same transaction, so that a store made now and
 * one made by an older release and migrated have the same schema. An older store is
 * migrated when it is first opened for writing: all steps in one BEGIN IMMEDIATE
 * transaction, so a crash leaves the old version whole and concurrent openers migrate
 * it once. Each step only adds, so a read-only handle (which cannot migrate) still
 * reads a store of any version from TSLP_SCHEMA_READABLE on. */
static const struct {
    const char *what; /* for the error message */
    const char *sql;
    bool backfill_counts; /* then compute every list's counts (counts.c) */
} MIGRATIONS[TSLP_SCHEMA_VERSION - 1] = {
    /* to 2: a record of the applied migrations, and an index on the audit trail's
     * list_id (the child key of a foreign key, which SQLite does not index by itself:
     * without it a list's audit rows are found by a full scan). */
    {"recording migrations, indexing the audit trail",
     "CREATE TABLE IF NOT EXISTS migrations (version INTEGER PRIMARY KEY,"
     " applied INTEGER NOT NULL);"
     "CREATE INDEX IF NOT EXISTS batches_by_list ON batches (list_id, id);", false},
    /* to 3: the issuer API's keys and its idempotency records. */
    {"adding API keys and idempotency records",
     "CREATE TABLE IF NOT EXISTS apikeys (id TEXT PRIMARY KEY,"
     " list_id TEXT REFERENCES lists(id) ON DELETE CASCADE, scopes INTEGER NOT NULL,"
     " hash BLOB NOT NULL, created INTEGER NOT NULL, expires INTEGER NOT NULL,"
     " revoked INTEGER NOT NULL);"
     "CREATE TABLE IF NOT EXISTS idempotency (owner TEXT NOT NULL,"
     " idem_key TEXT NOT NULL,"
     " list_id TEXT NOT NULL REFERENCES lists(id) ON DELETE CASCADE,"
     " hash BLOB NOT NULL, indices BLOB NOT NULL, created INTEGER NOT NULL,"
     " PRIMARY KEY (owner, idem_key));"
     "CREATE INDEX IF NOT EXISTS idempotency_by_created ON idempotency (created);", false},
    /* to 4: the compressed segments incremental publishing reuses (store_segments.c).
     * An existing store starts with none: its next publication encodes them all. */
    {"adding compressed segments",
     "CREATE TABLE IF NOT EXISTS segments ("
     " list_id TEXT NOT NULL REFERENCES lists(id) ON DELETE CASCADE,"
     " n INTEGER NOT NULL, level INTEGER NOT NULL, adler INTEGER NOT NULL,"
     " raw_len INTEGER NOT NULL, \"check\" INTEGER NOT NULL, data BLOB NOT NULL,"
     " PRIMARY KEY (list_id, n));", false},
    /* to 5: status counts, computed once here for the lists already stored. */
    {"adding status counts",
     "CREATE TABLE IF NOT EXISTS status_counts ("
     " list_id TEXT NOT NULL REFERENCES lists(id) ON DELETE CASCADE,"
     " value INTEGER NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (list_id, value))"
     " WITHOUT ROWID;",
     true},
    /* to 6: an identifier list's identifier length, chosen at creation; the lists
     * made before had 16-byte identifiers, and a status list has none (0). */
    {"adding the identifier length",
     "ALTER TABLE lists ADD COLUMN id_bytes INTEGER NOT NULL DEFAULT 0;"
     "UPDATE lists SET id_bytes = 16 WHERE formats = 4;", false},
    /* to 7: a token's list recorded once (token_pack.c): a publication's JWT and CWT,
     * and every re-signing of the same statuses, carry the same compressed list. The
     * tokens recorded before stay whole (lst NULL). */
    {"recording a token's list once, in pieces",
     "CREATE TABLE IF NOT EXISTS token_lists ("
     " list_id TEXT NOT NULL REFERENCES lists(id) ON DELETE CASCADE,"
     " digest BLOB NOT NULL, length INTEGER NOT NULL, PRIMARY KEY (list_id, digest));"
     "CREATE TABLE IF NOT EXISTS token_pieces ("
     " list_id TEXT NOT NULL REFERENCES lists(id) ON DELETE CASCADE,"
     " digest BLOB NOT NULL, data BLOB NOT NULL, PRIMARY KEY (list_id, digest));"
     "CREATE TABLE IF NOT EXISTS token_list_pieces (list_id TEXT NOT NULL,"
     " list BLOB NOT NULL, seq INTEGER NOT NULL, piece BLOB NOT NULL,"
     " PRIMARY KEY (list_id, list, seq), FOREIGN KEY (list_id, list)"
     " REFERENCES token_lists(list_id, digest) ON DELETE CASCADE) WITHOUT ROWID;"
     "CREATE INDEX IF NOT EXISTS token_list_pieces_by_piece"
     " ON token_list_pieces (list_id, piece);"
     "ALTER TABLE tokens ADD COLUMN lst BLOB;"
     "CREATE INDEX IF NOT EXISTS tokens_by_lst ON tokens (list_id, lst);", false},
};

tsl_status tslp_store_sqlfail(tsl_store *st, int rc, const char *what, tsl_error *err)
{
    /* SQLITE_NOTADB and SQLITE_CORRUPT too are I/O: a damaged store is not input the
     * caller handed in, and tsl's commands exit 2 for it. */
    tsl_status code = (rc & 0xFF) == SQLITE_NOMEM ? TSL_ERR_NOMEM : TSL_ERR_IO;
    const char *msg = st != NULL && DB(st) != NULL ? sqlite3_errmsg(DB(st))
                                                   : sqlite3_errstr(rc);
    return tslp_fail(err, code, 0, "store %s: %s: %s", st != NULL ? st->path : "?", what,
                     msg);
}

tsl_status tslp_store_prepare(tsl_store *st, const char *sql, sqlite3_stmt **out,
                              tsl_error *err)
{
    tslp_sq_conn *c = st->conn;
    tslp_sq_cached *slot = NULL;
    for (size_t k = 0; k < c->ncache; k++) {
        if (c->cache[k].sql == sql) {
            if (!c->cache[k].busy) {
                c->cache[k].busy = true;
                *out = c->cache[k].s;
                return TSL_OK;
            }
            break; /* in use further up the stack: a private one */
        }
    }
    bool keep = false;
    if (c->ncache < TSLP_SQ_CACHE) {
        keep = true;
        for (size_t k = 0; k < c->ncache && keep; k++)
            keep = c->cache[k].sql != sql;
    }
    int rc = sqlite3_prepare_v3(c->db, sql, -1, keep ? SQLITE_PREPARE_PERSISTENT : 0, out,
                                NULL);
    if (rc != SQLITE_OK) {
        *out = NULL;
        return tslp_store_sqlfail(st, rc, "preparing a statement", err);
    }
    if (keep) {
        slot = &c->cache[c->ncache++];
        slot->sql = sql;
        slot->s = *out;
        slot->busy = true;
    }
    return TSL_OK;
}

void tslp_store_finish(tsl_store *st, sqlite3_stmt *s)
{
    if (s == NULL)
        return;
    tslp_sq_conn *c = st->conn;
    for (size_t k = 0; k < c->ncache; k++) {
        if (c->cache[k].s == s) {
            sqlite3_reset(s);
            sqlite3_clear_bindings(s);
            c->cache[k].busy = false;
            return;
        }
    }
    sqlite3_finalize(s);
}

/* Finalizes every cached statement: before the connection closes (a statement left
 * would keep it open as a zombie). */
static void cache_clear(tslp_sq_conn *c)
{
    for (size_t k = 0; k < c->ncache; k++)
        sqlite3_finalize(c->cache[k].s);
    c->ncache = 0;
}

static tsl_status exec_static(tsl_store *st, const char *sql, const char *what,
                              tsl_error *err)
{
    int rc = sqlite3_exec(DB(st), sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? TSL_OK : tslp_store_sqlfail(st, rc, what, err);
}

static tsl_status sq_begin(tsl_store *st, bool write, tsl_error *err)
{
    if (write && st->readonly)
        return tslp_fail(err, TSL_ERR_ARG, 0, "store %s: opened read-only", st->path);
    /* The busy handler waits up to BUSY_TIMEOUT_MS per attempt; a writer queue longer
     * than that is retried until the deadline rather than failing the command. */
    time_t deadline = time(NULL) + BEGIN_DEADLINE_S;
    for (;;) {
        int rc = sqlite3_exec(DB(st), write ? "BEGIN IMMEDIATE" : "BEGIN", NULL, NULL,
                              NULL);
        if (rc == SQLITE_OK)
            return TSL_OK;
        if ((rc & 0xFF) != SQLITE_BUSY || time(NULL) >= deadline)
            return tslp_store_sqlfail(st, rc, "starting a transaction", err);
        usleep(10000);
    }
}

static tsl_status sq_commit(tsl_store *st, tsl_error *err)
{
    int rc = sqlite3_exec(DB(st), "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        tsl_status s = tslp_store_sqlfail(st, rc, "committing", err);
        sq_rollback(st);
        return s;
    }
    return TSL_OK;
}

static void sq_rollback(tsl_store *st)
{
    if (!sqlite3_get_autocommit(DB(st)))
        sqlite3_exec(DB(st), "ROLLBACK", NULL, NULL, NULL);
}

static tsl_status sq_audit(tsl_store *st, const char *id, int64_t now, uint64_t entries,
                           uint64_t changed, const char *source, const char *kind,
                           tsl_error *err)
{
    sqlite3_stmt *s;
    tsl_status r = tslp_store_prepare(
        st,
        "INSERT INTO batches (list_id, time, entries, changed, source, kind)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        &s, err);
    if (r != TSL_OK)
        return r;
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, now);
    sqlite3_bind_int64(s, 3, (sqlite3_int64)entries);
    sqlite3_bind_int64(s, 4, (sqlite3_int64)changed);
    if (source != NULL)
        sqlite3_bind_text(s, 5, source, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 6, kind, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    tslp_store_finish(st, s);
    return rc == SQLITE_DONE ? TSL_OK : tslp_store_sqlfail(st, rc, "recording a batch", err);
}

/* A tslp_malloc copy of a nullable column, or NULL. *ok is cleared on NOMEM. */
static char *col_text(sqlite3_stmt *s, int col, bool *ok)
{
    const unsigned char *t = sqlite3_column_text(s, col);
    if (t == NULL)
        return NULL;
    size_t n = (size_t)sqlite3_column_bytes(s, col);
    char *c = tslp_malloc(n + 1);
    if (c == NULL) {
        *ok = false;
        return NULL;
    }
    memcpy(c, t, n);
    c[n] = '\0';
    return c;
}

static tsl_status sq_list_read(tsl_store *st, const char *id, tslp_list_row *row,
                                tsl_error *err)
{
    /* A read-only handle on a store of schema 5 or older: 16 bytes, the only length an
     * identifier list had then. */
    static const char with_len[] =
        "SELECT id, uri, bits, size, key_path, alg, kid, x5c_path, lifetime, ttl,"
        " formats, decoys, decoy_value, final_invalid, aggregation_uri, perm_key, next,"
        " version, created, updated,"
        " (SELECT max(iat) FROM tokens WHERE list_id = ?1), id_bytes"
        " FROM lists WHERE id = ?1";
    static const char without_len[] =
        "SELECT id, uri, bits, size, key_path, alg, kid, x5c_path, lifetime, ttl,"
        " formats, decoys, decoy_value, final_invalid, aggregation_uri, perm_key, next,"
        " version, created, updated,"
        " (SELECT max(iat) FROM tokens WHERE list_id = ?1),"
        " CASE WHEN formats = 4 THEN 16 ELSE 0 END"
        " FROM lists WHERE id = ?1";
    memset(row, 0, sizeof *row);
    sqlite3_stmt *s;
    tsl_status r = tslp_store_prepare(st, st->has_id_bytes ? with_len : without_len, &s, err);
    if (r != TSL_OK)
        return r;
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) {
        tslp_store_finish(st, s);
        return tslp_fail(err, TSL_ERR_NOT_FOUND, 0, "list \"%s\": no such list", id);
    }
    if (rc != SQLITE_ROW) {
        tslp_store_finish(st, s);
        return tslp_store_sqlfail(st, rc, "reading a list", err);
    }
    tsl_list_info *in = &row->info;
    bool ok = true;
    in->id = col_text(s, 0, &ok);
    in->uri = col_text(s, 1, &ok);
    int64_t bits = sqlite3_column_int64(s, 2), size = sqlite3_column_int64(s, 3);
    in->key_path = col_text(s, 4, &ok);
    const unsigned char *alg = sqlite3_column_text(s, 5);
    in->alg = alg != NULL ? tsl_alg_from_name((const char *)alg) : TSL_ALG_UNKNOWN;
    in->kid = col_text(s, 6, &ok);
    in->x5c_path = col_text(s, 7, &ok);
    in->lifetime = sqlite3_column_int64(s, 8);
    in->ttl = sqlite3_column_int64(s, 9);
    int64_t formats = sqlite3_column_int64(s, 10), decoys = sqlite3_column_int64(s, 11);
    int64_t decoy_value = sqlite3_column_int64(s, 12);
    in->final_invalid = sqlite3_column_int64(s, 13) != 0;
    in->aggregation_uri = col_text(s, 14, &ok);
    const void *key = sqlite3_column_blob(s, 15);
    int key_len = sqlite3_column_bytes(s, 15);
    int64_t next = sqlite3_column_int64(s, 16), version = sqlite3_column_int64(s, 17);
    in->created = sqlite3_column_int64(s, 18);
    in->updated = sqlite3_column_int64(s, 19);
    in->last_published = sqlite3_column_int64(s, 20);
    int64_t id_bytes = sqlite3_column_int64(s, 21);
    bool bad = tslp_store_id_bytes_bad(formats, size, id_bytes) ||
               !tslp_bits_ok((uint64_t)bits) || size < 1 ||
               (uint64_t)size > TSL_STORE_MAX_SIZE || decoys < 0 || decoys >= size ||
               decoy_value < 0 || decoy_value >= (1 << bits) || formats < 1 ||
               (formats > 3 && formats != TSL_PUBLISH_IDLIST) || next < 0 ||
               next > size - decoys || version < 0 ||
               key == NULL || key_len != TSLP_PERM_KEY_BYTES || in->uri == NULL ||
               in->key_path == NULL || (alg != NULL && in->alg == TSL_ALG_UNKNOWN);
    if (!bad)
        memcpy(row->perm_key, key, TSLP_PERM_KEY_BYTES);
    tslp_store_finish(st, s);
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

static tsl_status sq_chunks_load(tsl_store *st, const tsl_list_info *info, tsl_list **out,
                                 tsl_error *err)
{
    tsl_list *l = NULL;
    tsl_status r = tsl_list_new(info->bits, info->size, &l, err);
    if (r != TSL_OK)
        return r;
    uint64_t nbytes = tslp_store_nbytes(info->bits, info->size);
    uint64_t nchunks = tslp_store_nchunks(info->bits, info->size);
    sqlite3_stmt *s;
    if ((r = tslp_store_prepare(st, "SELECT n, data FROM chunks WHERE list_id = ?1", &s,
                                err)) != TSL_OK) {
        tsl_list_free(l);
        return r;
    }
    sqlite3_bind_text(s, 1, info->id, -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        int64_t n = sqlite3_column_int64(s, 0);
        const void *data = sqlite3_column_blob(s, 1);
        uint64_t len = (uint64_t)sqlite3_column_bytes(s, 1);
        uint64_t want = 0;
        if (n >= 0 && (uint64_t)n < nchunks)
            want = (uint64_t)n + 1 < nchunks ? TSLP_CHUNK_BYTES
                                             : nbytes - (uint64_t)n * TSLP_CHUNK_BYTES;
        if (want == 0 || len != want || data == NULL) {
            tslp_store_finish(st, s);
            tsl_list_free(l);
            return tslp_fail(err, TSL_ERR_IO, 0,
                             "store %s: list \"%s\": chunk %lld has %llu bytes, "
                             "expected %llu", st->path, info->id, (long long)n,
                             (unsigned long long)len, (unsigned long long)want);
        }
        memcpy(l->data + (size_t)n * TSLP_CHUNK_BYTES, data, (size_t)len);
    }
    tslp_store_finish(st, s);
    if (rc != SQLITE_DONE) {
        tsl_list_free(l);
        return tslp_store_sqlfail(st, rc, "reading statuses", err);
    }
    if (info->aggregation_uri != NULL &&
        (r = tsl_list_set_aggregation_uri(l, info->aggregation_uri, err)) != TSL_OK) {
        tsl_list_free(l);
        return r;
    }
    *out = l;
    return TSL_OK;
}

/* Creates the file 0600 if it does not exist, so the permutation keys are not readable
 * by others (SQLite gives the -wal and -shm files the database file's mode). */
static tsl_status precreate(const char *path, tsl_error *err)
{
    /* Only a file that does not exist yet is opened (and closed) here: closing any
     * descriptor of a file drops every POSIX lock this process holds on it, which
     * would strip the locks of another open handle on the same store and let another
     * process delete the live WAL under it. */
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 && errno == EEXIST)
        return TSL_OK;
    if (fd < 0)
        return tslp_fail(err, TSL_ERR_IO, 0, "store %s: %s", path, strerror(errno));
    close(fd);
    return TSL_OK;
}

/* Reads meta's schema_version into *version; TSL_ERR_IO when the file is not ours. */
static tsl_status read_version(tsl_store *st, int64_t *version, tsl_error *err)
{
    sqlite3_stmt *s;
    tsl_status r = tslp_store_prepare(
        st,
        "SELECT (SELECT value FROM meta WHERE key = 'application'),"
        " (SELECT value FROM meta WHERE key = 'schema_version')",
        &s, err);
    if (r != TSL_OK)
        return r;
    int rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) {
        tslp_store_finish(st, s);
        return tslp_store_sqlfail(st, rc, "reading the schema version", err);
    }
    const unsigned char *app = sqlite3_column_text(s, 0);
    bool ours = app != NULL && strcmp((const char *)app, "tsl") == 0 &&
                sqlite3_column_type(s, 1) != SQLITE_NULL;
    *version = sqlite3_column_int64(s, 1);
    tslp_store_finish(st, s);
    if (!ours)
        return tslp_fail(err, TSL_ERR_IO, 0,
                         "store %s: an SQLite database, but not a tsl store", st->path);
    return TSL_OK;
}

/* Applies the migrations from version `from` on, inside the caller's write
 * transaction, and records each one and the new version. */
static tsl_status migrate_locked(tsl_store *st, int64_t from, tsl_error *err)
{
    int64_t now = (int64_t)time(NULL);
    for (int64_t v = from; v < TSLP_SCHEMA_VERSION; v++) {
        /* A step's backfill reads lists as the schema is at that step (the counts of 5
         * are computed before 6 adds id_bytes). */
        st->has_id_bytes = v >= TSLP_SCHEMA_ID_BYTES;
        st->has_token_lists = v >= TSLP_SCHEMA_TOKEN_LISTS;
        tsl_status r = exec_static(st, MIGRATIONS[v - 1].sql, MIGRATIONS[v - 1].what, err);
        if (r == TSL_OK && MIGRATIONS[v - 1].backfill_counts)
            r = tslp_store_counts_backfill(st, err);
        if (r != TSL_OK)
            return r;
        sqlite3_stmt *s;
        if ((r = tslp_store_prepare(st, "INSERT OR REPLACE INTO migrations VALUES (?1, ?2)",
                                    &s, err)) != TSL_OK)
            return r;
        sqlite3_bind_int64(s, 1, v + 1);
        sqlite3_bind_int64(s, 2, now);
        int rc = sqlite3_step(s);
        tslp_store_finish(st, s);
        if (rc != SQLITE_DONE)
            return tslp_store_sqlfail(st, rc, "recording a migration", err);
    }
    sqlite3_stmt *s;
    st->has_id_bytes = true;
    st->has_token_lists = true;
    tsl_status r = tslp_store_prepare(
        st, "UPDATE meta SET value = ?1 WHERE key = 'schema_version'", &s, err);
    if (r != TSL_OK)
        return r;
    char buf[24];
    snprintf(buf, sizeof buf, "%d", TSLP_SCHEMA_VERSION);
    sqlite3_bind_text(s, 1, buf, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(s);
    tslp_store_finish(st, s);
    return rc == SQLITE_DONE ? TSL_OK
                             : tslp_store_sqlfail(st, rc, "recording the schema version", err);
}

/* Brings a store of an older schema up to TSLP_SCHEMA_VERSION, in one transaction. The
 * version is read again under the write lock: another process may have migrated it. */
static tsl_status migrate(tsl_store *st, tsl_error *err)
{
    tsl_status r = sq_begin(st, true, err);
    if (r != TSL_OK)
        return r;
    int64_t version = 0;
    if ((r = read_version(st, &version, err)) == TSL_OK && version < TSLP_SCHEMA_VERSION)
        r = migrate_locked(st, version, err);
    if (r == TSL_OK)
        return sq_commit(st, err);
    sq_rollback(st);
    return r;
}

/* Creates the schema in a new file (create), or checks that an existing one is ours,
 * and migrates an older one (unless read-only). */
static tsl_status check_schema(tsl_store *st, bool create, tsl_error *err)
{
    sqlite3_stmt *s;
    tsl_status r = tslp_store_prepare(
        st, "SELECT count(*), sum(name = 'meta') FROM sqlite_master", &s, err);
    if (r != TSL_OK)
        return r;
    int rc = sqlite3_step(s);
    int64_t objects = sqlite3_column_int64(s, 0), has_meta = sqlite3_column_int64(s, 1);
    tslp_store_finish(st, s);
    if (rc != SQLITE_ROW)
        return tslp_store_sqlfail(st, rc, "reading the schema", err);
    if (objects > 0 && has_meta == 0)
        return tslp_fail(err, TSL_ERR_IO, 0,
                         "store %s: an SQLite database, but not a tsl store", st->path);
    if (objects == 0 && !create)
        return tslp_fail(err, TSL_ERR_IO, 0, "store %s: an empty file, not a tsl store",
                         st->path);
    if (objects == 0) {
        /* journal_mode=WAL is recorded in the file; set it before any table. */
        if ((r = exec_static(st, "PRAGMA journal_mode=WAL", "enabling WAL", err)) != TSL_OK ||
            (r = sq_begin(st, true, err)) != TSL_OK)
            return r;
        /* Another process may have created it meanwhile: IF NOT EXISTS / OR IGNORE,
         * and the version read again before migrating. */
        int64_t v0 = 0;
        if ((r = exec_static(st, SCHEMA, "creating the schema", err)) != TSL_OK ||
            (r = read_version(st, &v0, err)) != TSL_OK ||
            (v0 < TSLP_SCHEMA_VERSION && (r = migrate_locked(st, v0, err)) != TSL_OK)) {
            sq_rollback(st);
            return r;
        }
        if ((r = sq_commit(st, err)) != TSL_OK)
            return r;
    }
    int64_t version = 0;
    if ((r = read_version(st, &version, err)) != TSL_OK)
        return r;
    if (version > TSLP_SCHEMA_VERSION)
        return tslp_fail(err, TSL_ERR_UNSUPPORTED, 0,
                         "store %s: schema version %lld is newer than this tsl's (%d)",
                         st->path, (long long)version, TSLP_SCHEMA_VERSION);
    if (version < 1)
        return tslp_fail(err, TSL_ERR_IO, 0, "store %s: bad schema version %lld",
                         st->path, (long long)version);
    /* After a migration (below) the counts are kept; a read-only handle on an older
     * store counts by loading the list. */
    st->has_counts = version >= TSLP_SCHEMA_COUNTS || !st->readonly;
    st->has_id_bytes = version >= TSLP_SCHEMA_ID_BYTES || !st->readonly;
    st->has_token_lists = version >= TSLP_SCHEMA_TOKEN_LISTS || !st->readonly;
    if (version < TSLP_SCHEMA_VERSION && st->readonly) {
        if (version < TSLP_SCHEMA_READABLE)
            return tslp_fail(err, TSL_ERR_UNSUPPORTED, 0,
                             "store %s: schema version %lld must be migrated first: open "
                             "it for writing once", st->path, (long long)version);
        return TSL_OK;
    }
    return version < TSLP_SCHEMA_VERSION ? migrate(st, err) : TSL_OK;
}

/* A read-only handle on a WAL database needs the -shm file: SQLite creates it when it
 * is missing, which fails in a directory this process cannot write to. The file may
 * then be read as immutable (no -shm, no locks) only when nothing can be changing it:
 * there is no -wal file (so no writer has it open and the file holds every committed
 * transaction), and the directory is writable by nobody (mode without w bits, or a
 * read-only file system), so no writer can create one. */
static bool immutable_safe(const char *path)
{
    struct stat sb;
    size_t n = strlen(path);
    char *wal = tslp_malloc(n + 5);
    if (wal == NULL)
        return false;
    memcpy(wal, path, n);
    memcpy(wal + n, "-wal", 5);
    bool no_wal = lstat(wal, &sb) != 0 && errno == ENOENT;
    tslp_free(wal);
    char *dir = realpath(path, NULL);
    if (!no_wal || dir == NULL) {
        free(dir);
        return false;
    }
    *strrchr(dir, '/') = '\0'; /* realpath gives an absolute path: a '/' is there */
    struct statvfs vs;
    bool ro = (stat(dir[0] != '\0' ? dir : "/", &sb) == 0 && (sb.st_mode & 0222) == 0) ||
              (statvfs(dir[0] != '\0' ? dir : "/", &vs) == 0 && (vs.f_flag & ST_RDONLY));
    free(dir);
    return ro;
}

/* "file:" URI of path with immutable=1, or NULL. Free with tslp_free. */
static char *immutable_uri(const char *path)
{
    char *abs = realpath(path, NULL);
    if (abs == NULL)
        return NULL;
    size_t n = strlen(abs);
    char *u = tslp_malloc(5 + 3 * n + sizeof "?immutable=1");
    if (u != NULL) {
        char *w = u + sprintf(u, "file:");
        for (size_t k = 0; k < n; k++) {
            unsigned char c = (unsigned char)abs[k];
            /* '?', '#' and '%' would end or escape the path part of the URI. */
            if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                c == '/' || c == '.' || c == '_' || c == '-' || c == '~')
                *w++ = (char)c;
            else
                w += sprintf(w, "%%%02X", c);
        }
        strcpy(w, "?immutable=1");
    }
    free(abs);
    return u;
}

/* The first read; its result code tells whether a read-only open can see the file. */
static int probe(tsl_store *st)
{
    return sqlite3_exec(DB(st), "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL);
}

static tsl_status open_readonly(tsl_store *st, tsl_error *err)
{
    tslp_sq_conn *c = st->conn;
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(st->path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    c->db = db;
    if (rc == SQLITE_OK) {
        sqlite3_extended_result_codes(DB(st), 1);
        sqlite3_busy_timeout(DB(st), BUSY_TIMEOUT_MS);
        rc = probe(st);
    }
    int prim = rc & 0xFF;
    if (prim != SQLITE_READONLY && prim != SQLITE_CANTOPEN)
        return rc == SQLITE_OK ? TSL_OK : tslp_store_sqlfail(st, rc, "opening", err);
    if (!immutable_safe(st->path))
        return tslp_fail(err, TSL_ERR_IO, 0,
                         "store %s: cannot read it: SQLite must create its -shm file and "
                         "this process cannot write to the directory; make the directory "
                         "writable for it, or read-only for everyone (then the store is "
                         "read as immutable)", st->path);
    char *uri = immutable_uri(st->path);
    if (uri == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "store %s: out of memory", st->path);
    cache_clear(c);
    sqlite3_close_v2(db);
    db = NULL;
    rc = sqlite3_open_v2(uri, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI,
                         NULL);
    c->db = db;
    tslp_free(uri);
    if (rc == SQLITE_OK) {
        sqlite3_extended_result_codes(DB(st), 1);
        rc = probe(st);
    }
    return rc == SQLITE_OK ? TSL_OK : tslp_store_sqlfail(st, rc, "opening as immutable", err);
}

/* Writes the chunks of l that are not all zeros. */
static tsl_status sq_chunks_write_new(tsl_store *st, const char *id, const tsl_list *l,
                                      tsl_error *err)
{
    sqlite3_stmt *s;
    tsl_status r = tslp_store_prepare(
        st, "INSERT INTO chunks (list_id, n, data) VALUES (?1, ?2, ?3)", &s, err);
    if (r != TSL_OK)
        return r;
    for (size_t off = 0; off < l->nbytes; off += TSLP_CHUNK_BYTES) {
        size_t len = l->nbytes - off < TSLP_CHUNK_BYTES ? l->nbytes - off : TSLP_CHUNK_BYTES;
        size_t k = 0;
        while (k < len && l->data[off + k] == 0)
            k++;
        if (k == len)
            continue;
        sqlite3_reset(s);
        sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 2, (sqlite3_int64)(off / TSLP_CHUNK_BYTES));
        sqlite3_bind_blob(s, 3, l->data + off, (int)len, SQLITE_STATIC);
        int rc = sqlite3_step(s);
        if (rc != SQLITE_DONE) {
            r = tslp_store_sqlfail(st, rc, "writing statuses", err);
            break;
        }
    }
    tslp_store_finish(st, s);
    return r;
}

static tsl_status sq_list_exists(tsl_store *st, const char *id, tsl_error *err)
{
    sqlite3_stmt *s;
    tsl_status r = tslp_store_prepare(st, "SELECT 1 FROM lists WHERE id = ?1", &s, err);
    if (r != TSL_OK)
        return r;
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    tslp_store_finish(st, s);
    if (rc == SQLITE_ROW)
        return tslp_fail(err, TSL_ERR_EXISTS, 0, "list \"%s\" already exists", id);
    if (rc != SQLITE_DONE)
        return tslp_store_sqlfail(st, rc, "looking up a list", err);
    return TSL_OK;
}

/* ---------------------------------------------------------------------------------- */
/* Opening and closing                                                                  */

static tsl_status sq_open(tsl_store *st, bool create, tsl_error *err)
{
    const char *path = st->path;
    bool ro = st->readonly;
    tsl_status r = TSL_OK;
    if (create) {
        r = precreate(path, err);
    } else {
        /* stat, not open: see precreate for why an existing store is never opened and
         * closed here. Missing is an error, so a mistyped path creates nothing. */
        struct stat sb;
        if (stat(path, &sb) != 0)
            r = tslp_fail(err, TSL_ERR_IO, 0, "store %s: %s", path, strerror(errno));
        else if (!S_ISREG(sb.st_mode))
            r = tslp_fail(err, TSL_ERR_IO, 0, "store %s: not a regular file", path);
    }
    if (r != TSL_OK)
        return r;
    tslp_sq_conn *c = tslp_calloc(1, sizeof *c);
    if (c == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "store %s: out of memory", path);
    st->conn = c;
    if (ro) {
        r = open_readonly(st, err);
    } else {
        sqlite3 *db = NULL;
        int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
        c->db = db;
        if (rc != SQLITE_OK)
            r = tslp_store_sqlfail(st, rc, "opening", err);
        else {
            sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
            sqlite3_extended_result_codes(db, 1);
        }
    }
    /* A read-only handle leaves journal_mode alone (changing it writes); query_only
     * makes SQLite itself refuse any write that slipped past tslp_store_begin. */
    if (r == TSL_OK && (r = check_schema(st, create, err)) == TSL_OK)
        r = ro ? exec_static(st, "PRAGMA query_only=1; PRAGMA foreign_keys=ON",
                             "setting PRAGMAs", err)
               : exec_static(st, "PRAGMA journal_mode=WAL", "enabling WAL", err);
    if (r == TSL_OK && !ro)
        r = exec_static(st, "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON",
                        "setting PRAGMAs", err);
    return r;
}

static void sq_close(tsl_store *st)
{
    tslp_sq_conn *c = st->conn;
    cache_clear(c);
    sqlite3_close_v2(c->db);
    tslp_free(c);
    st->conn = NULL;
}

/* ---------------------------------------------------------------------------------- */
/* Lists and allocation                                                                 */

static tsl_status sq_list_ids(tsl_store *st, char ***ids, size_t *n, tsl_error *err)
{
    sqlite3_stmt *s;
    tsl_status r = tslp_store_prepare(st, "SELECT id FROM lists ORDER BY id", &s, err);
    if (r != TSL_OK)
        return r;
    char **v = NULL;
    size_t count = 0, cap = 0;
    int rc;
    bool ok = true;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (count == cap && (r = TSLP_ELEMS_RESERVE(v, count, cap, 1, TSLP_STORE_MAX_LISTS,
                                                    "store: list ids", err)) != TSL_OK) {
            ok = false;
            break;
        }
        if ((v[count] = col_text(s, 0, &ok)) == NULL)
            ok = false;
        if (!ok)
            break;
        count++;
    }
    tslp_store_finish(st, s);
    if (!ok || (rc != SQLITE_ROW && rc != SQLITE_DONE)) {
        tsl_store_ids_free(v, count);
        if (r != TSL_OK) /* the array's cap or memory, said by the array */
            return r;
        return ok ? tslp_store_sqlfail(st, rc, "listing lists", err)
                  : tslp_fail(err, TSL_ERR_NOMEM, 0, "store: out of memory listing lists");
    }
    *ids = v;
    *n = count;
    return TSL_OK;
}

static tsl_status sq_list_paths(tsl_store *st, tslp_store_path_fn fn, void *ctx,
                                tsl_error *err)
{
    sqlite3_stmt *s;
    tsl_status r = tslp_store_prepare(st, "SELECT id, uri, aggregation_uri FROM lists", &s,
                                      err);
    if (r != TSL_OK)
        return r;
    int rc = SQLITE_DONE;
    while (r == TSL_OK && (rc = sqlite3_step(s)) == SQLITE_ROW)
        r = fn(ctx, (const char *)sqlite3_column_text(s, 0),
               (const char *)sqlite3_column_text(s, 1),
               (const char *)sqlite3_column_text(s, 2), err);
    tslp_store_finish(st, s);
    if (r == TSL_OK && rc != SQLITE_DONE)
        r = tslp_store_sqlfail(st, rc, "reading the lists' uris", err);
    return r;
}

static tsl_status sq_alloc_advance(tsl_store *st, const char *id, uint64_t n, int64_t now,
                                   tsl_error *err)
{
    sqlite3_stmt *s;
    tsl_status r = tslp_store_prepare(st,
                                      "UPDATE lists SET next = next + ?2, updated = ?3"
                                      " WHERE id = ?1",
                                      &s, err);
    if (r != TSL_OK)
        return r;
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)n);
    sqlite3_bind_int64(s, 3, now);
    int rc = sqlite3_step(s);
    tslp_store_finish(st, s);
    return rc == SQLITE_DONE ? TSL_OK
                             : tslp_store_sqlfail(st, rc, "recording an allocation", err);
}

/* ---------------------------------------------------------------------------------- */
/* Tokens                                                                               */

/* The newest recorded token of a list's form, as readers pick it (latest iat, then last
 * recorded): *have, and its version and iat. Also whether a token of this version and
 * iat is recorded (*twin). Index lookups only. */
static tsl_status sq_token_head(tsl_store *st, const char *id, tsl_format format,
                                uint64_t version, int64_t iat, bool *have, uint64_t *nv,
                                int64_t *ni, bool *twin, tsl_error *err)
{
    const char *form = format == TSL_FORMAT_CWT ? "cwt" : "jwt";
    sqlite3_stmt *s;
    tsl_status r = tslp_store_prepare(
        st,
        "SELECT version, iat, (SELECT count(*) FROM tokens WHERE list_id = ?1"
        " AND format = ?2 AND iat = ?4 AND version = ?3)"
        " FROM tokens WHERE list_id = ?1 AND format = ?2"
        " ORDER BY iat DESC, rowid DESC LIMIT 1",
        &s, err);
    if (r != TSL_OK)
        return r;
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, form, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, (sqlite3_int64)version);
    sqlite3_bind_int64(s, 4, iat);
    int rc = sqlite3_step(s);
    *have = rc == SQLITE_ROW;
    *twin = false;
    if (rc == SQLITE_ROW) {
        int64_t v = sqlite3_column_int64(s, 0);
        *nv = v > 0 ? (uint64_t)v : 0;
        *ni = sqlite3_column_int64(s, 1);
        *twin = sqlite3_column_int64(s, 2) > 0;
    }
    tslp_store_finish(st, s);
    return rc == SQLITE_ROW || rc == SQLITE_DONE
               ? TSL_OK
               : tslp_store_sqlfail(st, rc, "reading the history", err);
}

/* Runs a prepared statement that returns no row, with id in ?1 and a digest in ?2. */
static int sq_step_done(tsl_store *st, sqlite3_stmt *s)
{
    int rc = sqlite3_step(s);
    tslp_store_finish(st, s);
    return rc;
}

/* Records a cut-out list: each of its pieces that is not recorded yet, or whose
 * recorded bytes differ from the list's (a damaged row: rewritten, so that the tokens
 * sharing it read again), then, unless the list is recorded already, its row and which
 * pieces make it, in order. The pieces are compared in memory, read from the page
 * cache: a publication after a change of a few entries writes one or two. */
static tsl_status sq_lst_put(tsl_store *st, const char *id, const tslp_token_row *row,
                             tsl_error *err)
{
    tslp_token_piece *pc = NULL;
    size_t n = 0;
    tsl_status r = tslp_token_split(row->body, row->body_len, &pc, &n, err);
    if (r != TSL_OK)
        return r;
    sqlite3_stmt *s;
    int rc = SQLITE_DONE;
    for (size_t k = 0; r == TSL_OK && rc == SQLITE_DONE && k < n; k++) {
        const uint8_t *want = row->body + pc[k].off;
        if ((r = tslp_store_prepare(st,
                                    "SELECT data FROM token_pieces WHERE list_id = ?1"
                                    " AND digest = ?2",
                                    &s, err)) != TSL_OK)
            break;
        sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
        sqlite3_bind_blob(s, 2, pc[k].digest, TSLP_TOKEN_DIGEST, SQLITE_STATIC);
        rc = sqlite3_step(s);
        bool have = rc == SQLITE_ROW, same = false;
        if (have)
            same = (size_t)sqlite3_column_bytes(s, 0) == pc[k].len &&
                   memcmp(sqlite3_column_blob(s, 0), want, pc[k].len) == 0;
        tslp_store_finish(st, s);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
            break;
        rc = SQLITE_DONE;
        if (same)
            continue;
        if ((r = tslp_store_prepare(st,
                                    have ? "UPDATE token_pieces SET data = ?3"
                                           " WHERE list_id = ?1 AND digest = ?2"
                                         : "INSERT INTO token_pieces (list_id, digest, data)"
                                           " VALUES (?1, ?2, ?3)",
                                    &s, err)) != TSL_OK)
            break;
        sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
        sqlite3_bind_blob(s, 2, pc[k].digest, TSLP_TOKEN_DIGEST, SQLITE_STATIC);
        sqlite3_bind_blob64(s, 3, want, pc[k].len, SQLITE_STATIC);
        rc = sq_step_done(st, s);
    }
    if (r == TSL_OK && rc == SQLITE_DONE &&
        (r = tslp_store_prepare(st,
                                "INSERT OR IGNORE INTO token_lists (list_id, digest, length)"
                                " VALUES (?1, ?2, ?3)",
                                &s, err)) == TSL_OK) {
        sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
        sqlite3_bind_blob(s, 2, row->lst, TSLP_TOKEN_DIGEST, SQLITE_STATIC);
        sqlite3_bind_int64(s, 3, (sqlite3_int64)row->body_len);
        rc = sq_step_done(st, s);
    }
    /* A list recorded already keeps its links (nothing new was inserted above). */
    bool added = r == TSL_OK && rc == SQLITE_DONE && sqlite3_changes(DB(st)) > 0;
    for (size_t k = 0; added && r == TSL_OK && rc == SQLITE_DONE && k < n; k++) {
        if ((r = tslp_store_prepare(st,
                                    "INSERT OR IGNORE INTO token_list_pieces"
                                    " (list_id, list, seq, piece) VALUES (?1, ?2, ?3, ?4)",
                                    &s, err)) != TSL_OK)
            break;
        sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
        sqlite3_bind_blob(s, 2, row->lst, TSLP_TOKEN_DIGEST, SQLITE_STATIC);
        sqlite3_bind_int64(s, 3, (sqlite3_int64)k);
        sqlite3_bind_blob(s, 4, pc[k].digest, TSLP_TOKEN_DIGEST, SQLITE_STATIC);
        rc = sq_step_done(st, s);
    }
    tslp_free(pc);
    if (r == TSL_OK && rc != SQLITE_DONE)
        r = tslp_store_sqlfail(st, rc, "recording a token's list", err);
    return r;
}

/* The list recorded under digest for list id, put together from its pieces: *out
 * (tslp_free) of *len bytes, or NULL when no list of that digest is recorded. Pieces
 * missing or of the wrong length are a damaged store, named. */
static tsl_status sq_lst_get(tsl_store *st, const char *id, const void *digest, size_t dlen,
                             uint8_t **out, size_t *len, tsl_error *err)
{
    *out = NULL;
    *len = 0;
    sqlite3_stmt *s;
    tsl_status r = tslp_store_prepare(
        st, "SELECT length FROM token_lists WHERE list_id = ?1 AND digest = ?2", &s, err);
    if (r != TSL_OK)
        return r;
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_blob(s, 2, digest, (int)dlen, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    int64_t want = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : -1;
    tslp_store_finish(st, s);
    if (rc != SQLITE_ROW)
        return rc == SQLITE_DONE ? TSL_OK
                                 : tslp_store_sqlfail(st, rc, "reading a token's list", err);
    if ((r = tslp_store_prepare(st,
                                "SELECT p.data FROM token_list_pieces l JOIN token_pieces p"
                                " ON p.list_id = l.list_id AND p.digest = l.piece"
                                " WHERE l.list_id = ?1 AND l.list = ?2 ORDER BY l.seq",
                                &s, err)) != TSL_OK)
        return r;
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_blob(s, 2, digest, (int)dlen, SQLITE_STATIC);
    /* Grown by the pieces actually read, never by the length the row claims. */
    tslp_buf b;
    tslp_buf_init(&b, SIZE_MAX, "a token's list");
    while (r == TSL_OK && (rc = sqlite3_step(s)) == SQLITE_ROW)
        r = tslp_buf_append(&b, sqlite3_column_blob(s, 0),
                            (size_t)sqlite3_column_bytes(s, 0), err);
    tslp_store_finish(st, s);
    if (r == TSL_OK && rc != SQLITE_DONE)
        r = tslp_store_sqlfail(st, rc, "reading a token's list", err);
    if (r == TSL_OK && (want < 0 || b.len != (uint64_t)want))
        r = tslp_fail(err, TSL_ERR_IO, 0,
                      "store %s: list \"%s\": a recorded token's list has pieces missing",
                      st->path, id);
    if (r == TSL_OK && (*out = tslp_buf_take(&b, len)) == NULL)
        r = tslp_fail(err, TSL_ERR_NOMEM, 0, "out of memory");
    tslp_buf_free(&b);
    return r;
}

static tsl_status sq_token_insert(tsl_store *st, const char *id, tsl_format format,
                                  int64_t iat, int64_t exp, uint64_t version,
                                  const tslp_token_row *row, int64_t now, tsl_error *err)
{
    /* A handle that writes has migrated the store: token lists exist. */
    tsl_status r = row->body != NULL ? sq_lst_put(st, id, row, err) : TSL_OK;
    if (r != TSL_OK)
        return r;
    sqlite3_stmt *s;
    r = tslp_store_prepare(
        st,
        "INSERT INTO tokens (list_id, format, iat, exp, version, token, created, lst)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        &s, err);
    if (r != TSL_OK)
        return r;
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, format == TSL_FORMAT_CWT ? "cwt" : "jwt", -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, iat);
    sqlite3_bind_int64(s, 4, exp);
    sqlite3_bind_int64(s, 5, (sqlite3_int64)version);
    sqlite3_bind_blob64(s, 6, row->bytes, row->len, SQLITE_STATIC);
    sqlite3_bind_int64(s, 7, now);
    if (row->lst != NULL)
        sqlite3_bind_blob(s, 8, row->lst, TSLP_TOKEN_DIGEST, SQLITE_STATIC);
    else
        sqlite3_bind_null(s, 8);
    int rc = sqlite3_step(s);
    tslp_store_finish(st, s);
    return rc == SQLITE_DONE ? TSL_OK : tslp_store_sqlfail(st, rc, "recording a token", err);
}

static tsl_status sq_token_prune(tsl_store *st, const char *id, int64_t before,
                                 tsl_error *err)
{
    sqlite3_stmt *s;
    tsl_status r = tslp_store_prepare(st, "DELETE FROM tokens WHERE list_id = ?1 AND exp < ?2",
                                      &s, err);
    if (r != TSL_OK)
        return r;
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, before);
    int rc = sqlite3_step(s);
    tslp_store_finish(st, s);
    if (rc != SQLITE_DONE)
        return tslp_store_sqlfail(st, rc, "dropping old tokens", err);
    if (sqlite3_changes(DB(st)) == 0 || !st->has_token_lists)
        return TSL_OK;
    /* The lists no remaining token carries (tokens_by_lst finds the carriers; their
     * token_list_pieces rows go with them), then the pieces no remaining list holds. */
    static const char *const drop[2] = {
        "DELETE FROM token_lists WHERE list_id = ?1 AND NOT EXISTS"
        " (SELECT 1 FROM tokens t WHERE t.list_id = ?1 AND t.lst = token_lists.digest)",
        "DELETE FROM token_pieces WHERE list_id = ?1 AND NOT EXISTS"
        " (SELECT 1 FROM token_list_pieces l WHERE l.list_id = ?1"
        " AND l.piece = token_pieces.digest)"};
    for (int k = 0; k < 2; k++) {
        if ((r = tslp_store_prepare(st, drop[k], &s, err)) != TSL_OK)
            return r;
        sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
        if ((rc = sq_step_done(st, s)) != SQLITE_DONE)
            return tslp_store_sqlfail(st, rc, "dropping old tokens' lists", err);
        if (sqlite3_changes(DB(st)) == 0)
            break; /* no list dropped: every piece is still held */
    }
    return TSL_OK;
}

/* The token a row holds (columns t and lst of statement s), put together again when
 * its list was cut out. */
static tsl_status sq_row_token(tsl_store *st, const char *id, sqlite3_stmt *s, int t,
                               int lst, uint8_t **out, size_t *out_len, tsl_error *err)
{
    const uint8_t *digest = NULL;
    size_t dlen = 0, body_len = 0;
    uint8_t *body = NULL;
    tsl_status r = TSL_OK;
    if (lst >= 0 && sqlite3_column_type(s, lst) != SQLITE_NULL) {
        digest = sqlite3_column_blob(s, lst);
        dlen = (size_t)sqlite3_column_bytes(s, lst);
        r = sq_lst_get(st, id, digest, dlen, &body, &body_len, err);
    }
    if (r == TSL_OK)
        r = tslp_token_from_row(st->path, id, sqlite3_column_blob(s, t),
                                (size_t)sqlite3_column_bytes(s, t), digest, dlen, body,
                                body_len, out, out_len, err);
    tslp_free(body);
    return r;
}

static tsl_status sq_token_read(tsl_store *st, const char *id, tsl_format format,
                                int64_t at, bool *found, uint8_t **out, size_t *out_len,
                                int64_t *iat, int64_t *exp, tsl_error *err)
{
    *found = false;
    sqlite3_stmt *s;
    /* A read-only handle on a store older than 7 has no lst column: every token whole. */
    static const char *const sql[2][2] = {
        {"SELECT token, iat, exp FROM tokens WHERE list_id = ?1 AND format = ?2"
         " ORDER BY iat DESC, rowid DESC LIMIT 1",
         "SELECT token, iat, exp FROM tokens WHERE list_id = ?1 AND format = ?2"
         " AND iat <= ?3 AND ?3 < exp ORDER BY iat DESC, rowid DESC LIMIT 1"},
        {"SELECT token, iat, exp, lst FROM tokens WHERE list_id = ?1 AND format = ?2"
         " ORDER BY iat DESC, rowid DESC LIMIT 1",
         "SELECT token, iat, exp, lst FROM tokens WHERE list_id = ?1 AND format = ?2"
         " AND iat <= ?3 AND ?3 < exp ORDER BY iat DESC, rowid DESC LIMIT 1"}};
    tsl_status r = tslp_store_prepare(st, sql[st->has_token_lists][at != 0], &s, err);
    if (r != TSL_OK)
        return r;
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, format == TSL_FORMAT_CWT ? "cwt" : "jwt", -1, SQLITE_STATIC);
    if (at != 0)
        sqlite3_bind_int64(s, 3, at);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        r = sq_row_token(st, id, s, 0, st->has_token_lists ? 3 : -1, out, out_len, err);
        if (r == TSL_OK) {
            *found = true;
            if (iat != NULL)
                *iat = sqlite3_column_int64(s, 1);
            if (exp != NULL)
                *exp = sqlite3_column_int64(s, 2);
        }
    } else if (rc != SQLITE_DONE) {
        r = tslp_store_sqlfail(st, rc, "reading a token", err);
    }
    tslp_store_finish(st, s);
    return r;
}

/* ---------------------------------------------------------------------------------- */
/* Status counts (counts.c)                                                             */

static tsl_status sq_counts_add(tsl_store *st, const char *id, const int64_t delta[256],
                                tsl_error *err)
{
    for (unsigned v = 1; v < 256; v++) {
        if (delta[v] == 0)
            continue;
        sqlite3_stmt *s;
        tsl_status r = tslp_store_prepare(
            st, "INSERT INTO status_counts (list_id, value, n) VALUES (?1, ?2, ?3)"
                " ON CONFLICT (list_id, value) DO UPDATE SET n = n + excluded.n", &s, err);
        if (r != TSL_OK)
            return r;
        sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 2, v);
        sqlite3_bind_int64(s, 3, delta[v]);
        int rc = sqlite3_step(s);
        tslp_store_finish(st, s);
        if (rc != SQLITE_DONE)
            return tslp_store_sqlfail(st, rc, "writing status counts", err);
    }
    return TSL_OK;
}

static tsl_status sq_counts_read(tsl_store *st, const char *id, int64_t counts[256],
                                 tsl_error *err)
{
    sqlite3_stmt *s;
    tsl_status r = tslp_store_prepare(
        st, "SELECT value, n FROM status_counts WHERE list_id = ?1", &s, err);
    if (r != TSL_OK)
        return r;
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    int rc = SQLITE_DONE;
    while (r == TSL_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        int64_t v = sqlite3_column_int64(s, 0);
        if (v < 1 || v > 255)
            r = tslp_fail(err, TSL_ERR_IO, 0, "store %s: list \"%s\": a count of status %lld",
                          st->path, id, (long long)v);
        else
            counts[v] = sqlite3_column_int64(s, 1);
    }
    if (r == TSL_OK && rc != SQLITE_DONE)
        r = tslp_store_sqlfail(st, rc, "reading status counts", err);
    tslp_store_finish(st, s);
    return r;
}

/* ---------------------------------------------------------------------------------- */
/* Chunks, as a batch update reads and writes them                                      */

static tsl_status sq_chunk_read(tsl_store *st, const char *id, uint64_t n, uint8_t *buf,
                                size_t len, int64_t *ref, tsl_error *err)
{
    *ref = 0;
    sqlite3_stmt *s;
    tsl_status r = tslp_store_prepare(
        st, "SELECT rowid, data FROM chunks WHERE list_id = ?1 AND n = ?2", &s, err);
    if (r != TSL_OK)
        return r;
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)n);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        const void *d = sqlite3_column_blob(s, 1);
        if (d == NULL || (size_t)sqlite3_column_bytes(s, 1) != len) {
            /* The store's own state is damaged, not the caller's input: an I/O error
             * (exit 2), like every other damage the store finds. */
            r = tslp_fail(err, TSL_ERR_IO, 0,
                          "store %s: list \"%s\": chunk %llu has the wrong size", st->path,
                          id, (unsigned long long)n);
        } else {
            /* The rowid is the handle chunk_rewrite opens the blob by. */
            *ref = sqlite3_column_int64(s, 0);
            memcpy(buf, d, len);
        }
    } else if (rc == SQLITE_DONE) {
        memset(buf, 0, len);
    } else {
        r = tslp_store_sqlfail(st, rc, "reading statuses", err);
    }
    tslp_store_finish(st, s);
    return r;
}

static tsl_status sq_chunk_insert(tsl_store *st, const char *id, uint64_t n,
                                  const uint8_t *data, size_t len, tsl_error *err)
{
    sqlite3_stmt *s;
    tsl_status r = tslp_store_prepare(
        st, "INSERT INTO chunks (list_id, n, data) VALUES (?1, ?2, ?3)", &s, err);
    if (r != TSL_OK)
        return r;
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)n);
    sqlite3_bind_blob(s, 3, data, (int)len, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    tslp_store_finish(st, s);
    return rc == SQLITE_DONE ? TSL_OK : tslp_store_sqlfail(st, rc, "writing statuses", err);
}

/* Incremental blob I/O: a segment is read, compared and written in place, so changing
 * a few entries rewrites only the pages they are on. */
static tsl_status sq_chunk_rewrite(tsl_store *st, int64_t ref, const uint8_t *data,
                                   size_t len, size_t segment, bool dry_run,
                                   tslp_store_diff_fn diff, void *ctx, uint64_t *changed,
                                   tsl_error *err)
{
    sqlite3_blob *blob = NULL;
    int rc = sqlite3_blob_open(DB(st), "main", "chunks", "data", ref, dry_run ? 0 : 1,
                               &blob);
    if (rc != SQLITE_OK)
        return tslp_store_sqlfail(st, rc, "opening a chunk", err);
    uint8_t *old = tslp_malloc(segment);
    if (old == NULL) {
        sqlite3_blob_close(blob);
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "store %s: out of memory", st->path);
    }
    for (size_t off = 0; rc == SQLITE_OK && off < len; off += segment) {
        int n = (int)(len - off < segment ? len - off : segment);
        if ((rc = sqlite3_blob_read(blob, old, n, (int)off)) != SQLITE_OK)
            break;
        uint64_t d = diff(ctx, old, data + off, (size_t)n);
        *changed += d;
        if (d > 0 && !dry_run)
            rc = sqlite3_blob_write(blob, data + off, n, (int)off);
    }
    tslp_free(old);
    tsl_status r = rc == SQLITE_OK ? TSL_OK
                                   : tslp_store_sqlfail(st, rc, "rewriting a chunk", err);
    sqlite3_blob_close(blob);
    return r;
}

static tsl_status sq_list_bump_version(tsl_store *st, const char *id, int64_t now,
                                       tsl_error *err)
{
    sqlite3_stmt *s;
    tsl_status r = tslp_store_prepare(
        st, "UPDATE lists SET version = version + 1, updated = ?2 WHERE id = ?1", &s, err);
    if (r != TSL_OK)
        return r;
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, now);
    int rc = sqlite3_step(s);
    tslp_store_finish(st, s);
    return rc == SQLITE_DONE ? TSL_OK
                             : tslp_store_sqlfail(st, rc, "recording the update", err);
}

/* ---------------------------------------------------------------------------------- */
/* Copying a store whole (copy.c)                                                       */

static tsl_status sq_list_restore(tsl_store *st, const tslp_list_row *row, tsl_error *err)
{
    const tsl_list_info *in = &row->info;
    sqlite3_stmt *s;
    tsl_status r;
    if ((r = tslp_store_prepare(
             st,
             "INSERT INTO lists (id, uri, bits, size, key_path, alg, kid, x5c_path,"
             " lifetime, ttl, formats, decoys, decoy_value, final_invalid, aggregation_uri,"
             " perm_key, next, version, created, updated, id_bytes) VALUES (?1, ?2, ?3, ?4,"
             " ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20,"
             " ?21)",
             &s, err)) != TSL_OK)
        return r;
    sqlite3_bind_text(s, 1, in->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, in->uri, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, in->bits);
    sqlite3_bind_int64(s, 4, (sqlite3_int64)in->size);
    sqlite3_bind_text(s, 5, in->key_path, -1, SQLITE_STATIC);
    if (in->alg != TSL_ALG_UNKNOWN)
        sqlite3_bind_text(s, 6, tsl_alg_name(in->alg), -1, SQLITE_STATIC);
    if (in->kid != NULL)
        sqlite3_bind_text(s, 7, in->kid, -1, SQLITE_STATIC);
    if (in->x5c_path != NULL)
        sqlite3_bind_text(s, 8, in->x5c_path, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 9, in->lifetime);
    sqlite3_bind_int64(s, 10, in->ttl);
    sqlite3_bind_int64(s, 11, in->formats);
    sqlite3_bind_int64(s, 12, (sqlite3_int64)in->decoys);
    sqlite3_bind_int64(s, 13, in->decoy_value);
    sqlite3_bind_int64(s, 14, in->final_invalid ? 1 : 0);
    if (in->aggregation_uri != NULL)
        sqlite3_bind_text(s, 15, in->aggregation_uri, -1, SQLITE_STATIC);
    sqlite3_bind_blob(s, 16, row->perm_key, TSLP_PERM_KEY_BYTES, SQLITE_STATIC);
    sqlite3_bind_int64(s, 17, (sqlite3_int64)row->next);
    sqlite3_bind_int64(s, 18, (sqlite3_int64)in->version);
    sqlite3_bind_int64(s, 19, in->created);
    sqlite3_bind_int64(s, 20, in->updated);
    sqlite3_bind_int64(s, 21, in->id_bytes);
    int rc = sqlite3_step(s);
    tslp_store_finish(st, s);
    return rc == SQLITE_DONE ? TSL_OK : tslp_store_sqlfail(st, rc, "restoring a list", err);
}

static tsl_status sq_tokens_each(tsl_store *st, const char *id, tslp_store_token_fn fn,
                                 void *ctx, tsl_error *err)
{
    sqlite3_stmt *s;
    tsl_status r = tslp_store_prepare(
        st,
        st->has_token_lists
            ? "SELECT format, iat, exp, version, token, created, lst FROM tokens"
              " WHERE list_id = ?1 ORDER BY iat, rowid"
            : "SELECT format, iat, exp, version, token, created, NULL FROM tokens"
              " WHERE list_id = ?1 ORDER BY iat, rowid",
        &s, err);
    if (r != TSL_OK)
        return r;
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    int rc = SQLITE_DONE;
    while (r == TSL_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        const unsigned char *form = sqlite3_column_text(s, 0);
        int64_t version = sqlite3_column_int64(s, 3);
        tslp_token_row row = {.bytes = sqlite3_column_blob(s, 4),
                              .len = (size_t)sqlite3_column_bytes(s, 4)};
        bool packed = sqlite3_column_type(s, 6) != SQLITE_NULL;
        uint8_t *body = NULL;
        if (packed) {
            row.lst = sqlite3_column_blob(s, 6);
            if (sqlite3_column_bytes(s, 6) == TSLP_TOKEN_DIGEST &&
                (r = sq_lst_get(st, id, row.lst, TSLP_TOKEN_DIGEST, &body, &row.body_len,
                                err)) != TSL_OK)
                break;
            row.body = body;
        }
        if (form == NULL || row.bytes == NULL || version < 0 ||
            (packed && (sqlite3_column_bytes(s, 6) != TSLP_TOKEN_DIGEST || body == NULL)) ||
            (strcmp((const char *)form, "jwt") != 0 && strcmp((const char *)form, "cwt") != 0))
            r = tslp_fail(err, TSL_ERR_IO, 0, "store %s: list \"%s\": inconsistent token row",
                          st->path, id);
        else
            r = fn(ctx, form[0] == 'c' ? TSL_FORMAT_CWT : TSL_FORMAT_JWT,
                   sqlite3_column_int64(s, 1), sqlite3_column_int64(s, 2),
                   (uint64_t)version, &row, sqlite3_column_int64(s, 5), err);
        tslp_free(body);
    }
    if (r == TSL_OK && rc != SQLITE_DONE)
        r = tslp_store_sqlfail(st, rc, "reading the history", err);
    tslp_store_finish(st, s);
    return r;
}

static tsl_status sq_audit_each(tsl_store *st, const char *id, tslp_store_audit_fn fn,
                                void *ctx, tsl_error *err)
{
    sqlite3_stmt *s;
    tsl_status r = tslp_store_prepare(
        st,
        "SELECT time, entries, changed, source, kind FROM batches WHERE list_id = ?1"
        " ORDER BY id",
        &s, err);
    if (r != TSL_OK)
        return r;
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    int rc = SQLITE_DONE;
    while (r == TSL_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        int64_t entries = sqlite3_column_int64(s, 1), changed = sqlite3_column_int64(s, 2);
        const unsigned char *kind = sqlite3_column_text(s, 4);
        if (kind == NULL || entries < 0 || changed < 0)
            r = tslp_fail(err, TSL_ERR_IO, 0, "store %s: list \"%s\": inconsistent audit row",
                          st->path, id);
        else
            r = fn(ctx, sqlite3_column_int64(s, 0), (uint64_t)entries, (uint64_t)changed,
                   (const char *)sqlite3_column_text(s, 3), (const char *)kind, err);
    }
    if (r == TSL_OK && rc != SQLITE_DONE)
        r = tslp_store_sqlfail(st, rc, "reading the audit trail", err);
    tslp_store_finish(st, s);
    return r;
}

/* ---------------------------------------------------------------------------------- */
/* Savepoints, the audit trail by pages, API keys and idempotency records              */

static tsl_status sq_savepoint(tsl_store *st, int step, tsl_error *err)
{
    static const char *const sql[] = {"SAVEPOINT tsl_op", "RELEASE tsl_op",
                                      "ROLLBACK TO tsl_op; RELEASE tsl_op"};
    return exec_static(st, sql[step], "a savepoint", err);
}

/* Copies text into a fixed buffer of size bytes (cut, NUL-terminated). */
static void copy_text(char *dst, size_t size, const unsigned char *t)
{
    snprintf(dst, size, "%s", t != NULL ? (const char *)t : "");
}

static tsl_status sq_audit_page(tsl_store *st, const char *id, uint64_t before, size_t limit,
                                tsl_audit_row **out, size_t *n, tsl_error *err)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *s;
    tsl_status r = tslp_store_prepare(
        st,
        "SELECT id, time, entries, changed, source, kind FROM batches WHERE list_id = ?1"
        " AND (?2 = 0 OR id < ?2) ORDER BY id DESC LIMIT ?3",
        &s, err);
    if (r != TSL_OK)
        return r;
    tsl_audit_row *rows = tslp_calloc(limit > 0 ? limit : 1, sizeof *rows);
    if (rows == NULL) {
        tslp_store_finish(st, s);
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "store %s: out of memory", st->path);
    }
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)before);
    sqlite3_bind_int64(s, 3, (sqlite3_int64)limit);
    int rc = SQLITE_DONE;
    size_t k = 0;
    while (r == TSL_OK && k < limit && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        int64_t seq = sqlite3_column_int64(s, 0), entries = sqlite3_column_int64(s, 2),
                changed = sqlite3_column_int64(s, 3);
        const unsigned char *kind = sqlite3_column_text(s, 5);
        bool ok = true;
        if (kind == NULL || seq < 1 || entries < 0 || changed < 0) {
            r = tslp_fail(err, TSL_ERR_IO, 0, "store %s: list \"%s\": inconsistent audit row",
                          st->path, id);
            break;
        }
        tsl_audit_row *a = &rows[k];
        a->seq = (uint64_t)seq;
        a->time = sqlite3_column_int64(s, 1);
        a->entries = (uint64_t)entries;
        a->changed = (uint64_t)changed;
        copy_text(a->kind, sizeof a->kind, kind);
        a->source = col_text(s, 4, &ok);
        if (!ok)
            r = tslp_fail(err, TSL_ERR_NOMEM, 0, "store %s: out of memory", st->path);
        k++;
    }
    if (r == TSL_OK && rc != SQLITE_DONE && rc != SQLITE_ROW)
        r = tslp_store_sqlfail(st, rc, "reading the audit trail", err);
    tslp_store_finish(st, s);
    if (r != TSL_OK) {
        tsl_audit_rows_free(rows, k);
        return r;
    }
    if (k == 0) {
        tslp_free(rows);
        rows = NULL;
    }
    *out = rows;
    *n = k;
    return TSL_OK;
}

static tsl_status sq_apikey_insert(tsl_store *st, const tslp_apikey_row *row, tsl_error *err)
{
    sqlite3_stmt *s;
    tsl_status r = tslp_store_prepare(
        st,
        "INSERT INTO apikeys (id, list_id, scopes, hash, created, expires, revoked)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        &s, err);
    if (r != TSL_OK)
        return r;
    const tsl_apikey_info *in = &row->info;
    sqlite3_bind_text(s, 1, in->id, -1, SQLITE_STATIC);
    if (in->list_id[0] != '\0')
        sqlite3_bind_text(s, 2, in->list_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, in->scopes);
    sqlite3_bind_blob(s, 4, row->hash, sizeof row->hash, SQLITE_STATIC);
    sqlite3_bind_int64(s, 5, in->created);
    sqlite3_bind_int64(s, 6, in->expires);
    sqlite3_bind_int64(s, 7, in->revoked);
    int rc = sqlite3_step(s);
    tslp_store_finish(st, s);
    if ((rc & 0xFF) == SQLITE_CONSTRAINT)
        return tslp_fail(err, TSL_ERR_EXISTS, 0, "API key %s already exists", in->id);
    return rc == SQLITE_DONE ? TSL_OK : tslp_store_sqlfail(st, rc, "recording a key", err);
}

/* One apikeys row (columns id, list_id, scopes, hash, created, expires, revoked). */
static bool apikey_row(sqlite3_stmt *s, tslp_apikey_row *row)
{
    memset(row, 0, sizeof *row);
    const unsigned char *id = sqlite3_column_text(s, 0);
    const void *hash = sqlite3_column_blob(s, 3);
    int64_t scopes = sqlite3_column_int64(s, 2);
    if (id == NULL || strlen((const char *)id) != TSL_APIKEY_ID_LEN || hash == NULL ||
        sqlite3_column_bytes(s, 3) != (int)sizeof row->hash || scopes < 1 ||
        scopes > TSL_SCOPE_ALL || sqlite3_column_bytes(s, 1) > 64)
        return false;
    copy_text(row->info.id, sizeof row->info.id, id);
    copy_text(row->info.list_id, sizeof row->info.list_id, sqlite3_column_text(s, 1));
    row->info.scopes = (unsigned)scopes;
    memcpy(row->hash, hash, sizeof row->hash);
    row->info.created = sqlite3_column_int64(s, 4);
    row->info.expires = sqlite3_column_int64(s, 5);
    row->info.revoked = sqlite3_column_int64(s, 6);
    return true;
}

static tsl_status sq_apikey_read(tsl_store *st, const char *id, tslp_apikey_row *row,
                                 bool *found, tsl_error *err)
{
    *found = false;
    sqlite3_stmt *s;
    tsl_status r = tslp_store_prepare(
        st,
        "SELECT id, list_id, scopes, hash, created, expires, revoked FROM apikeys"
        " WHERE id = ?1",
        &s, err);
    if (r != TSL_OK)
        return r;
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        if (apikey_row(s, row))
            *found = true;
        else
            r = tslp_fail(err, TSL_ERR_IO, 0, "store %s: inconsistent API key row",
                          st->path);
    } else if (rc != SQLITE_DONE) {
        r = tslp_store_sqlfail(st, rc, "reading a key", err);
    }
    tslp_store_finish(st, s);
    return r;
}

static tsl_status sq_apikey_revoke(tsl_store *st, const char *id, int64_t now, tsl_error *err)
{
    sqlite3_stmt *s;
    tsl_status r = tslp_store_prepare(
        st, "UPDATE apikeys SET revoked = ?2 WHERE id = ?1 AND revoked = 0", &s, err);
    if (r != TSL_OK)
        return r;
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, now);
    int rc = sqlite3_step(s);
    tslp_store_finish(st, s);
    return rc == SQLITE_DONE ? TSL_OK : tslp_store_sqlfail(st, rc, "revoking a key", err);
}

static tsl_status sq_apikey_rows(tsl_store *st, tslp_apikey_row **out, size_t *n,
                                 tsl_error *err)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *s;
    tsl_status r = tslp_store_prepare(
        st,
        "SELECT id, list_id, scopes, hash, created, expires, revoked FROM apikeys"
        " ORDER BY created DESC, id DESC",
        &s, err);
    if (r != TSL_OK)
        return r;
    tslp_apikey_row *rows = NULL;
    size_t cnt = 0, cap = 0;
    int rc;
    while (r == TSL_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        if ((r = TSLP_ELEMS_RESERVE(rows, cnt, cap, 1, TSLP_STORE_MAX_APIKEYS, "API keys",
                                    err)) != TSL_OK)
            break;
        if (!apikey_row(s, &rows[cnt]))
            r = tslp_fail(err, TSL_ERR_IO, 0, "store %s: inconsistent API key row",
                          st->path);
        else
            cnt++;
    }
    if (r == TSL_OK && rc != SQLITE_DONE)
        r = tslp_store_sqlfail(st, rc, "reading the keys", err);
    tslp_store_finish(st, s);
    if (r != TSL_OK) {
        tslp_free(rows);
        return r;
    }
    *out = rows;
    *n = cnt;
    return TSL_OK;
}

static tsl_status sq_idem_read(tsl_store *st, const char *owner, const char *key, bool *found,
                               char *list_id, uint8_t hash[32], uint8_t **blob, size_t *len,
                               tsl_error *err)
{
    *found = false;
    *blob = NULL;
    *len = 0;
    sqlite3_stmt *s;
    tsl_status r = tslp_store_prepare(
        st,
        "SELECT list_id, hash, indices FROM idempotency WHERE owner = ?1 AND idem_key = ?2",
        &s, err);
    if (r != TSL_OK)
        return r;
    sqlite3_bind_text(s, 1, owner, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        const void *h = sqlite3_column_blob(s, 1), *b = sqlite3_column_blob(s, 2);
        size_t hl = (size_t)sqlite3_column_bytes(s, 1), bl = (size_t)sqlite3_column_bytes(s, 2);
        if (h == NULL || hl != 32 || b == NULL || bl % 8 != 0 ||
            sqlite3_column_bytes(s, 0) > 64) {
            r = tslp_fail(err, TSL_ERR_IO, 0, "store %s: inconsistent idempotency record",
                          st->path);
        } else if ((*blob = tslp_malloc(bl)) == NULL) {
            r = tslp_fail(err, TSL_ERR_NOMEM, 0, "store %s: out of memory", st->path);
        } else {
            memcpy(*blob, b, bl);
            *len = bl;
            memcpy(hash, h, 32);
            copy_text(list_id, 65, sqlite3_column_text(s, 0));
            *found = true;
        }
    } else if (rc != SQLITE_DONE) {
        r = tslp_store_sqlfail(st, rc, "reading an idempotency record", err);
    }
    tslp_store_finish(st, s);
    return r;
}

static tsl_status sq_idem_insert(tsl_store *st, const char *owner, const char *key,
                                 const char *list_id, const uint8_t hash[32],
                                 const uint8_t *blob, size_t len, int64_t now, tsl_error *err)
{
    sqlite3_stmt *s;
    tsl_status r = tslp_store_prepare(
        st,
        "INSERT INTO idempotency (owner, idem_key, list_id, hash, indices, created)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        &s, err);
    if (r != TSL_OK)
        return r;
    sqlite3_bind_text(s, 1, owner, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, list_id, -1, SQLITE_STATIC);
    sqlite3_bind_blob(s, 4, hash, 32, SQLITE_STATIC);
    sqlite3_bind_blob64(s, 5, blob, len, SQLITE_STATIC);
    sqlite3_bind_int64(s, 6, now);
    int rc = sqlite3_step(s);
    tslp_store_finish(st, s);
    return rc == SQLITE_DONE ? TSL_OK
                             : tslp_store_sqlfail(st, rc, "recording an idempotency key", err);
}

static tsl_status sq_idem_prune(tsl_store *st, int64_t before, tsl_error *err)
{
    sqlite3_stmt *s;
    tsl_status r = tslp_store_prepare(st, "DELETE FROM idempotency WHERE created < ?1", &s,
                                      err);
    if (r != TSL_OK)
        return r;
    sqlite3_bind_int64(s, 1, before);
    int rc = sqlite3_step(s);
    tslp_store_finish(st, s);
    return rc == SQLITE_DONE
               ? TSL_OK
               : tslp_store_sqlfail(st, rc, "dropping old idempotency records", err);
}

/* ---------------------------------------------------------------------------------- */
/* Compressed segments (version 4)                                                      */

static tsl_status sq_segments_each(tsl_store *st, const char *id, tslp_store_segment_fn fn,
                                   void *ctx, tsl_error *err)
{
    sqlite3_stmt *s;
    tsl_status r = tslp_store_prepare(st,
                                      "SELECT n, level, adler, raw_len, \"check\", data"
                                      " FROM segments WHERE list_id = ?1",
                                      &s, err);
    if (r != TSL_OK)
        return r;
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    int rc;
    while (r == TSL_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        int64_t n = sqlite3_column_int64(s, 0);
        tslp_segment_row row;
        memset(&row, 0, sizeof row);
        /* Out-of-range numbers are kept out of range (and then fail the check) rather
         * than wrapped into a plausible value. */
        row.n = n < 0 ? UINT64_MAX : (uint64_t)n;
        row.level = (int)sqlite3_column_int64(s, 1);
        row.adler = (uint32_t)sqlite3_column_int64(s, 2);
        row.raw_len = (uint32_t)sqlite3_column_int64(s, 3);
        row.check = (uint32_t)sqlite3_column_int64(s, 4);
        row.data = sqlite3_column_blob(s, 5);
        row.len = (size_t)sqlite3_column_bytes(s, 5);
        r = fn(ctx, &row, err);
    }
    tslp_store_finish(st, s);
    if (r == TSL_OK && rc != SQLITE_DONE)
        r = tslp_store_sqlfail(st, rc, "reading segments", err);
    return r;
}

static tsl_status sq_segments_put(tsl_store *st, const char *id,
                                  const tslp_segment_row *rows, size_t n, tsl_error *err)
{
    tsl_status r = TSL_OK;
    for (size_t k = 0; r == TSL_OK && k < n; k++) {
        sqlite3_stmt *s;
        if ((r = tslp_store_prepare(
                 st, "INSERT OR REPLACE INTO segments (list_id, n, level, adler, raw_len,"
                     " \"check\", data) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)", &s, err)) != TSL_OK)
            break;
        sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 2, (sqlite3_int64)rows[k].n);
        sqlite3_bind_int64(s, 3, rows[k].level);
        sqlite3_bind_int64(s, 4, rows[k].adler);
        sqlite3_bind_int64(s, 5, rows[k].raw_len);
        sqlite3_bind_int64(s, 6, rows[k].check);
        sqlite3_bind_blob(s, 7, rows[k].len > 0 ? (const void *)rows[k].data : "",
                          (int)rows[k].len, SQLITE_STATIC);
        int rc = sqlite3_step(s);
        tslp_store_finish(st, s);
        if (rc != SQLITE_DONE)
            r = tslp_store_sqlfail(st, rc, "writing a segment", err);
    }
    return r;
}

static tsl_status sq_segment_drop(tsl_store *st, const char *id, uint64_t n, tsl_error *err)
{
    sqlite3_stmt *s;
    tsl_status r = tslp_store_prepare(
        st, n == UINT64_MAX ? "DELETE FROM segments WHERE list_id = ?1"
                            : "DELETE FROM segments WHERE list_id = ?1 AND n = ?2",
        &s, err);
    if (r != TSL_OK)
        return r;
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    if (n != UINT64_MAX)
        sqlite3_bind_int64(s, 2, (sqlite3_int64)n);
    int rc = sqlite3_step(s);
    tslp_store_finish(st, s);
    return rc == SQLITE_DONE ? TSL_OK
                             : tslp_store_sqlfail(st, rc, "dropping a segment", err);
}

const struct tslp_store_backend tslp_store_sqlite = {
    .name = "sqlite",
    .open = sq_open,
    .close = sq_close,
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .list_read = sq_list_read,
    .list_exists = sq_list_exists,
    .list_ids = sq_list_ids,
    .list_paths = sq_list_paths,
    .alloc_advance = sq_alloc_advance,
    .chunks_load = sq_chunks_load,
    .chunks_write_new = sq_chunks_write_new,
    .chunk_read = sq_chunk_read,
    .chunk_insert = sq_chunk_insert,
    .chunk_rewrite = sq_chunk_rewrite,
    .counts_add = sq_counts_add,
    .counts_read = sq_counts_read,
    .list_bump_version = sq_list_bump_version,
    .token_head = sq_token_head,
    .token_insert = sq_token_insert,
    .token_prune = sq_token_prune,
    .token_read = sq_token_read,
    .audit = sq_audit,
    .list_restore = sq_list_restore,
    .tokens_each = sq_tokens_each,
    .audit_each = sq_audit_each,
    .savepoint = sq_savepoint,
    .audit_page = sq_audit_page,
    .apikey_insert = sq_apikey_insert,
    .apikey_read = sq_apikey_read,
    .apikey_revoke = sq_apikey_revoke,
    .apikey_rows = sq_apikey_rows,
    .idem_read = sq_idem_read,
    .idem_insert = sq_idem_insert,
    .idem_prune = sq_idem_prune,
    .segments_each = sq_segments_each,
    .segments_put = sq_segments_put,
    .segment_drop = sq_segment_drop,
};

const char *tslp_sqlite_libversion(void)
{
    return sqlite3_libversion();
}
