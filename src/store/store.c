/* store.c - the issuer store: one SQLite file holding lists, their packed statuses,
 * allocation state, published tokens and an audit trail, shared safely by several
 * processes. This file opens and creates the store, creates lists, reads their
 * settings and statuses, and allocates indices; store_update.c applies batches and
 * store_publish.c signs and keeps tokens.
 *
 * Schema (version TSLP_SCHEMA_VERSION; MIGRATIONS below say what each version added):
 *   meta    (key TEXT PRIMARY KEY, value TEXT)       'application' = 'tsl',
 *                                                    'schema_version' = '2'
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
 *
 * Durability and concurrency: journal_mode=WAL and synchronous=FULL, so a COMMIT that
 * returned is on disk and a process killed before it leaves the previous state whole;
 * every change runs in one BEGIN IMMEDIATE transaction (writers queue behind the busy
 * timeout; readers see a consistent snapshot and never block them). The file is
 * created 0600: it holds the permutation keys, which predict future indices. */
#include "crypto/crypto.h"
#include "store/store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#define BUSY_TIMEOUT_MS 10000
#define BEGIN_DEADLINE_S 60
#define ID_MAX 64
#define DEFAULT_LIFETIME 86400

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
} MIGRATIONS[TSLP_SCHEMA_VERSION - 1] = {
    /* to 2: a record of the applied migrations, and an index on the audit trail's
     * list_id (the child key of a foreign key, which SQLite does not index by itself:
     * without it a list's audit rows are found by a full scan). */
    {"recording migrations, indexing the audit trail",
     "CREATE TABLE IF NOT EXISTS migrations (version INTEGER PRIMARY KEY,"
     " applied INTEGER NOT NULL);"
     "CREATE INDEX IF NOT EXISTS batches_by_list ON batches (list_id, id);"},
};

/* ---------------------------------------------------------------------------------- */
/* Helpers shared with store_update.c and store_publish.c                               */

tsl_status tslp_store_sqlfail(tsl_store *st, int rc, const char *what, tsl_error *err)
{
    /* SQLITE_NOTADB and SQLITE_CORRUPT too are I/O: a damaged store is not input the
     * caller handed in, and tsl's commands exit 2 for it. */
    tsl_status code = (rc & 0xFF) == SQLITE_NOMEM ? TSL_ERR_NOMEM : TSL_ERR_IO;
    const char *msg = st != NULL && st->db != NULL ? sqlite3_errmsg(st->db)
                                                   : sqlite3_errstr(rc);
    return tslp_fail(err, code, 0, "store %s: %s: %s", st != NULL ? st->path : "?", what,
                     msg);
}

tsl_status tslp_store_prepare(tsl_store *st, const char *sql, sqlite3_stmt **out,
                              tsl_error *err)
{
    int rc = sqlite3_prepare_v2(st->db, sql, -1, out, NULL);
    if (rc != SQLITE_OK) {
        *out = NULL;
        return tslp_store_sqlfail(st, rc, "preparing a statement", err);
    }
    return TSL_OK;
}

static tsl_status exec_static(tsl_store *st, const char *sql, const char *what,
                              tsl_error *err)
{
    int rc = sqlite3_exec(st->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? TSL_OK : tslp_store_sqlfail(st, rc, what, err);
}

tsl_status tslp_store_begin(tsl_store *st, bool write, tsl_error *err)
{
    if (write && st->readonly)
        return tslp_fail(err, TSL_ERR_ARG, 0, "store %s: opened read-only", st->path);
    /* The busy handler waits up to BUSY_TIMEOUT_MS per attempt; a writer queue longer
     * than that is retried until the deadline rather than failing the command. */
    time_t deadline = time(NULL) + BEGIN_DEADLINE_S;
    for (;;) {
        int rc = sqlite3_exec(st->db, write ? "BEGIN IMMEDIATE" : "BEGIN", NULL, NULL,
                              NULL);
        if (rc == SQLITE_OK)
            return TSL_OK;
        if ((rc & 0xFF) != SQLITE_BUSY || time(NULL) >= deadline)
            return tslp_store_sqlfail(st, rc, "starting a transaction", err);
        usleep(10000);
    }
}

tsl_status tslp_store_commit(tsl_store *st, tsl_error *err)
{
    int rc = sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        tsl_status s = tslp_store_sqlfail(st, rc, "committing", err);
        tslp_store_rollback(st);
        return s;
    }
    return TSL_OK;
}

void tslp_store_rollback(tsl_store *st)
{
    if (!sqlite3_get_autocommit(st->db))
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
}

bool tslp_store_id_ok(const char *id)
{
    size_t n = 0;
    for (; id[n] != '\0'; n++) {
        unsigned char c = (unsigned char)id[n];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                  (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
        if (!ok || n >= ID_MAX)
            return false;
    }
    return n >= 1;
}

uint64_t tslp_store_nbytes(unsigned bits, uint64_t size)
{
    /* size <= TSL_STORE_MAX_SIZE (2^36) and bits <= 8: no overflow. */
    return (size * bits + 7) / 8;
}

uint64_t tslp_store_nchunks(unsigned bits, uint64_t size)
{
    return (tslp_store_nbytes(bits, size) + TSLP_CHUNK_BYTES - 1) / TSLP_CHUNK_BYTES;
}

tsl_status tslp_store_audit(tsl_store *st, const char *id, int64_t now, uint64_t entries,
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
    sqlite3_finalize(s);
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

static char *dup_str(const char *s, bool *ok)
{
    if (s == NULL)
        return NULL;
    size_t n = strlen(s);
    char *c = tslp_malloc(n + 1);
    if (c == NULL) {
        *ok = false;
        return NULL;
    }
    memcpy(c, s, n + 1);
    return c;
}

/* The strings of a tsl_list_info are const for callers passing settings in; the ones
 * the store hands out are its own allocations. */
static void free_const(const char *s)
{
    tslp_free((void *)(uintptr_t)s);
}

void tsl_list_info_free(tsl_list_info *info)
{
    if (info == NULL)
        return;
    free_const(info->id);
    free_const(info->uri);
    free_const(info->key_path);
    free_const(info->kid);
    free_const(info->x5c_path);
    free_const(info->aggregation_uri);
    memset(info, 0, sizeof *info);
}

tsl_status tslp_store_read_row(tsl_store *st, const char *id, tslp_list_row *row,
                               tsl_error *err)
{
    memset(row, 0, sizeof *row);
    sqlite3_stmt *s;
    tsl_status r = tslp_store_prepare(
        st,
        "SELECT id, uri, bits, size, key_path, alg, kid, x5c_path, lifetime, ttl,"
        " formats, decoys, decoy_value, final_invalid, aggregation_uri, perm_key, next,"
        " version, created, updated,"
        " (SELECT max(iat) FROM tokens WHERE list_id = ?1)"
        " FROM lists WHERE id = ?1",
        &s, err);
    if (r != TSL_OK)
        return r;
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) {
        sqlite3_finalize(s);
        return tslp_fail(err, TSL_ERR_NOT_FOUND, 0, "list \"%s\": no such list", id);
    }
    if (rc != SQLITE_ROW) {
        sqlite3_finalize(s);
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
    bool bad = !tslp_bits_ok((uint64_t)bits) || size < 1 ||
               (uint64_t)size > TSL_STORE_MAX_SIZE || decoys < 0 || decoys >= size ||
               decoy_value < 0 || decoy_value >= (1 << bits) || formats < 1 ||
               formats > 3 || next < 0 || next > size - decoys || version < 0 ||
               key == NULL || key_len != TSLP_PERM_KEY_BYTES || in->uri == NULL ||
               in->key_path == NULL || (alg != NULL && in->alg == TSL_ALG_UNKNOWN);
    if (!bad)
        memcpy(row->perm_key, key, TSLP_PERM_KEY_BYTES);
    sqlite3_finalize(s);
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
    return TSL_OK;
}

tsl_status tslp_store_load_chunks(tsl_store *st, const tsl_list_info *info,
                                  tsl_list **out, tsl_error *err)
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
            sqlite3_finalize(s);
            tsl_list_free(l);
            return tslp_fail(err, TSL_ERR_IO, 0,
                             "store %s: list \"%s\": chunk %lld has %llu bytes, "
                             "expected %llu", st->path, info->id, (long long)n,
                             (unsigned long long)len, (unsigned long long)want);
        }
        memcpy(l->data + (size_t)n * TSLP_CHUNK_BYTES, data, (size_t)len);
    }
    sqlite3_finalize(s);
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

/* ---------------------------------------------------------------------------------- */
/* Opening                                                                              */

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
    tsl_status r = tslp_store_prepare(st,
                                      "SELECT (SELECT value FROM meta WHERE key = 'application'),"
                                      " (SELECT value FROM meta WHERE key = 'schema_version')",
                                      &s, err);
    if (r != TSL_OK)
        return r;
    int rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) {
        sqlite3_finalize(s);
        return tslp_store_sqlfail(st, rc, "reading the schema version", err);
    }
    const unsigned char *app = sqlite3_column_text(s, 0);
    bool ours = app != NULL && strcmp((const char *)app, "tsl") == 0 &&
                sqlite3_column_type(s, 1) != SQLITE_NULL;
    *version = sqlite3_column_int64(s, 1);
    sqlite3_finalize(s);
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
        tsl_status r = exec_static(st, MIGRATIONS[v - 1].sql, MIGRATIONS[v - 1].what, err);
        if (r != TSL_OK)
            return r;
        sqlite3_stmt *s;
        if ((r = tslp_store_prepare(st, "INSERT OR REPLACE INTO migrations VALUES (?1, ?2)",
                                    &s, err)) != TSL_OK)
            return r;
        sqlite3_bind_int64(s, 1, v + 1);
        sqlite3_bind_int64(s, 2, now);
        int rc = sqlite3_step(s);
        sqlite3_finalize(s);
        if (rc != SQLITE_DONE)
            return tslp_store_sqlfail(st, rc, "recording a migration", err);
    }
    sqlite3_stmt *s;
    tsl_status r = tslp_store_prepare(
        st, "UPDATE meta SET value = ?1 WHERE key = 'schema_version'", &s, err);
    if (r != TSL_OK)
        return r;
    char buf[24];
    snprintf(buf, sizeof buf, "%d", TSLP_SCHEMA_VERSION);
    sqlite3_bind_text(s, 1, buf, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? TSL_OK
                             : tslp_store_sqlfail(st, rc, "recording the schema version", err);
}

/* Brings a store of an older schema up to TSLP_SCHEMA_VERSION, in one transaction. The
 * version is read again under the write lock: another process may have migrated it. */
static tsl_status migrate(tsl_store *st, tsl_error *err)
{
    tsl_status r = tslp_store_begin(st, true, err);
    if (r != TSL_OK)
        return r;
    int64_t version = 0;
    if ((r = read_version(st, &version, err)) == TSL_OK && version < TSLP_SCHEMA_VERSION)
        r = migrate_locked(st, version, err);
    if (r == TSL_OK)
        return tslp_store_commit(st, err);
    tslp_store_rollback(st);
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
    sqlite3_finalize(s);
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
            (r = tslp_store_begin(st, true, err)) != TSL_OK)
            return r;
        /* Another process may have created it meanwhile: IF NOT EXISTS / OR IGNORE,
         * and the version read again before migrating. */
        int64_t v0 = 0;
        if ((r = exec_static(st, SCHEMA, "creating the schema", err)) != TSL_OK ||
            (r = read_version(st, &v0, err)) != TSL_OK ||
            (v0 < TSLP_SCHEMA_VERSION && (r = migrate_locked(st, v0, err)) != TSL_OK)) {
            tslp_store_rollback(st);
            return r;
        }
        if ((r = tslp_store_commit(st, err)) != TSL_OK)
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
    return sqlite3_exec(st->db, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL);
}

static tsl_status open_readonly(tsl_store *st, tsl_error *err)
{
    int rc = sqlite3_open_v2(st->path, &st->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX,
                             NULL);
    if (rc == SQLITE_OK) {
        sqlite3_extended_result_codes(st->db, 1);
        sqlite3_busy_timeout(st->db, BUSY_TIMEOUT_MS);
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
    sqlite3_close_v2(st->db);
    st->db = NULL;
    rc = sqlite3_open_v2(uri, &st->db,
                         SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI, NULL);
    tslp_free(uri);
    if (rc == SQLITE_OK) {
        sqlite3_extended_result_codes(st->db, 1);
        rc = probe(st);
    }
    return rc == SQLITE_OK ? TSL_OK : tslp_store_sqlfail(st, rc, "opening as immutable", err);
}

tsl_status tsl_store_open_mode(const char *path, unsigned mode, tsl_store **out,
                               tsl_error *err)
{
    if (path == NULL || path[0] == '\0' || out == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "store: no path");
    bool create = (mode & TSL_STORE_CREATE) != 0, ro = (mode & TSL_STORE_READONLY) != 0;
    if (create && ro)
        return tslp_fail(err, TSL_ERR_ARG, 0, "store %s: create and read-only", path);
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
    tsl_store *st = tslp_calloc(1, sizeof *st);
    bool ok = true;
    if (st == NULL || (st->path = dup_str(path, &ok)) == NULL) {
        tslp_free(st);
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "store %s: out of memory", path);
    }
    st->readonly = ro;
    if (ro) {
        r = open_readonly(st, err);
    } else {
        int rc = sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                                 NULL);
        if (rc != SQLITE_OK)
            r = tslp_store_sqlfail(st, rc, "opening", err);
        else {
            sqlite3_busy_timeout(st->db, BUSY_TIMEOUT_MS);
            sqlite3_extended_result_codes(st->db, 1);
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
    if (r != TSL_OK) {
        tsl_store_close(st);
        return r;
    }
    *out = st;
    return TSL_OK;
}

tsl_status tsl_store_open(const char *path, tsl_store **out, tsl_error *err)
{
    return tsl_store_open_mode(path, TSL_STORE_CREATE, out, err);
}

void tsl_store_close(tsl_store *st)
{
    if (st == NULL)
        return;
    sqlite3_close_v2(st->db);
    tslp_free(st->path);
    tslp_free(st);
}

/* ---------------------------------------------------------------------------------- */
/* Lists                                                                                */

tsl_status tsl_store_size_check(unsigned bits, uint64_t size, tsl_error *err)
{
    /* The verifiers with a known cap, largest first (README "Size advice"). */
    static const struct {
        const char *name, *note;
        uint64_t max;
    } peers[] = {{"tsl verify", ", its default max_inflated", TSL_DEFAULT_MAX_INFLATED},
                 {"the OpenID Foundation conformance suite", "", (uint64_t)32 << 20},
                 {"k2gl/token-status-list", "", TSL_INTEROP_MAX_BYTES}};
    if (!tslp_bits_ok(bits) || size > TSL_STORE_MAX_SIZE)
        return tslp_fail(err, TSL_ERR_ARG, 0, "size check: bits %u or size %llu out of range",
                         bits, (unsigned long long)size);
    uint64_t bytes = tslp_store_nbytes(bits, size);
    if (bytes <= TSL_INTEROP_MAX_BYTES)
        return TSL_OK;
    char who[160];
    size_t used = 0;
    who[0] = '\0';
    for (size_t k = 0; k < sizeof peers / sizeof peers[0]; k++)
        if (bytes > peers[k].max && used < sizeof who) {
            int w = snprintf(who + used, sizeof who - used, "%s%s (%llu MiB%s)",
                             used ? ", " : "", peers[k].name,
                             (unsigned long long)(peers[k].max >> 20), peers[k].note);
            used = w < 0 ? used : used + (size_t)w;
        }
    return tslp_fail(err, TSL_ERR_LIMIT, 0,
                     "%llu entries of %u bit%s are %llu bytes (%.1f MiB) uncompressed, more "
                     "than these verifiers accept: %s",
                     (unsigned long long)size, bits, bits > 1 ? "s" : "",
                     (unsigned long long)bytes, (double)bytes / (1 << 20), who);
}

/* The path of a uri into buf (TSL_URI_MAX + 1 bytes), or "" when it has none that
 * tsl_uri_path accepts (such a list, made before the rule, is not served). */
static const char *path_or_empty(const char *uri, char *buf)
{
    if (uri == NULL || tsl_uri_path(uri, buf, TSL_URI_MAX + 1, NULL) != TSL_OK)
        buf[0] = '\0';
    return buf;
}

/* Checks a uri setting with tsl_uri_check, prefixing the message with the field. */
static tsl_status check_uri(const char *id, const char *field, const char *uri,
                            unsigned create_flags, tsl_error *err)
{
    unsigned f = (create_flags & TSL_CREATE_ALLOW_HTTP) ? TSL_URI_ALLOW_HTTP : 0;
    tsl_status r = tsl_uri_check(uri, f, err);
    if (r != TSL_OK) {
        char what[96];
        snprintf(what, sizeof what, "list \"%s\": %s", id, field);
        tslp_error_prefix(err, what);
    }
    return r;
}

static tsl_status check_settings(const tsl_list_spec *in, tsl_error *err)
{
    if (in->id == NULL || !tslp_store_id_ok(in->id))
        return tslp_fail(err, TSL_ERR_ARG, 0,
                         "list id \"%s\": use 1 to 64 of A-Z a-z 0-9 . _ -",
                         in->id != NULL ? in->id : "");
    const char *id = in->id;
    if (in->uri == NULL || in->uri[0] == '\0')
        return tslp_fail(err, TSL_ERR_ARG, 0, "list \"%s\": a uri is required", id);
    tsl_status r = check_uri(id, "uri", in->uri, in->create_flags, err);
    if (r == TSL_OK && in->aggregation_uri != NULL)
        r = check_uri(id, "aggregation_uri", in->aggregation_uri, in->create_flags, err);
    if (r != TSL_OK)
        return r;
    char p[TSL_URI_MAX + 1], q[TSL_URI_MAX + 1];
    if (in->aggregation_uri != NULL &&
        strcmp(path_or_empty(in->uri, p), path_or_empty(in->aggregation_uri, q)) == 0)
        return tslp_fail(err, TSL_ERR_ARG, 0,
                         "list \"%s\": uri and aggregation_uri have the same path %s", id, p);
    if (!tslp_bits_ok(in->bits))
        return tslp_fail(err, TSL_ERR_ARG, 0, "list \"%s\": bits %u is not 1, 2, 4 or 8",
                         id, in->bits);
    if (in->size < 1 || in->size > TSL_STORE_MAX_SIZE)
        return tslp_fail(err, TSL_ERR_ARG, 0, "list \"%s\": size %llu is not 1 to %llu",
                         id, (unsigned long long)in->size,
                         (unsigned long long)TSL_STORE_MAX_SIZE);
    if (!(in->create_flags & TSL_CREATE_LARGE) &&
        (r = tsl_store_size_check(in->bits, in->size, err)) != TSL_OK) {
        char what[80];
        snprintf(what, sizeof what, "list \"%s\"", id);
        tslp_error_prefix(err, what);
        return r;
    }
    if (in->decoys >= in->size)
        return tslp_fail(err, TSL_ERR_ARG, 0,
                         "list \"%s\": %llu decoys leave no room in %llu entries", id,
                         (unsigned long long)in->decoys, (unsigned long long)in->size);
    unsigned dv = in->decoy_value ? in->decoy_value : TSL_STATUS_INVALID;
    if (dv >> in->bits != 0)
        return tslp_fail(err, TSL_ERR_ARG, 0,
                         "list \"%s\": decoy value %u does not fit in %u bits", id, dv,
                         in->bits);
    if (in->key_path == NULL || in->key_path[0] == '\0')
        return tslp_fail(err, TSL_ERR_ARG, 0, "list \"%s\": a signing key is required", id);
    if (in->lifetime < 0 || in->ttl < 0)
        return tslp_fail(err, TSL_ERR_ARG, 0,
                         "list \"%s\": lifetime and ttl must not be negative", id);
    if (in->formats > (TSL_PUBLISH_JWT | TSL_PUBLISH_CWT))
        return tslp_fail(err, TSL_ERR_ARG, 0, "list \"%s\": formats %#x unknown", id,
                         in->formats);
    if (in->kid != NULL && (in->kid[0] == '\0' || strlen(in->kid) > 256))
        return tslp_fail(err, TSL_ERR_ARG, 0, "list \"%s\": kid must be 1 to 256 bytes", id);
    if (in->create_flags & ~(TSL_CREATE_ALLOW_HTTP | TSL_CREATE_LARGE))
        return tslp_fail(err, TSL_ERR_ARG, 0, "list \"%s\": create_flags %#x unknown", id,
                         in->create_flags);
    return TSL_OK;
}

/* Refuses a list whose path is already taken: tsl serve and tsl export serve every list
 * of a store at its path whatever the host, and a second list on a path would take it
 * over (or be dropped). Runs inside the write transaction, so two concurrent creates
 * cannot both take one path. */
static tsl_status check_paths(tsl_store *st, const tsl_list_spec *in, tsl_error *err)
{
    char mine[TSL_URI_MAX + 1], agg[TSL_URI_MAX + 1], p[TSL_URI_MAX + 1];
    char q[TSL_URI_MAX + 1];
    path_or_empty(in->uri, mine);
    path_or_empty(in->aggregation_uri, agg);
    sqlite3_stmt *s;
    tsl_status r = tslp_store_prepare(st, "SELECT id, uri, aggregation_uri FROM lists", &s,
                                      err);
    if (r != TSL_OK)
        return r;
    int rc = SQLITE_DONE;
    while (r == TSL_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *id = (const char *)sqlite3_column_text(s, 0);
        path_or_empty((const char *)sqlite3_column_text(s, 1), p);
        path_or_empty((const char *)sqlite3_column_text(s, 2), q);
        if (p[0] != '\0' && strcmp(p, mine) == 0)
            r = tslp_fail(err, TSL_ERR_EXISTS, 0,
                          "list \"%s\": uri path %s is already the path of list \"%s\"",
                          in->id, mine, id != NULL ? id : "?");
        else if (q[0] != '\0' && strcmp(q, mine) == 0)
            r = tslp_fail(err, TSL_ERR_EXISTS, 0,
                          "list \"%s\": uri path %s is the aggregation path of list "
                          "\"%s\"", in->id, mine, id != NULL ? id : "?");
        else if (p[0] != '\0' && strcmp(p, agg) == 0)
            r = tslp_fail(err, TSL_ERR_EXISTS, 0,
                          "list \"%s\": aggregation_uri path %s is the path of list \"%s\"",
                          in->id, agg, id != NULL ? id : "?");
    }
    sqlite3_finalize(s);
    if (r == TSL_OK && rc != SQLITE_DONE)
        r = tslp_store_sqlfail(st, rc, "reading the lists' uris", err);
    return r;
}

/* Loads the key and the chain now, so that a list is never created with settings it
 * cannot publish with. */
static tsl_status check_key(const tsl_list_spec *in, tsl_error *err)
{
    tsl_key *key = NULL;
    tsl_status r = tsl_key_load(in->key_path, &key, err);
    if (r != TSL_OK) {
        tslp_error_prefix(err, "key");
        return r;
    }
    if (!tsl_key_is_private(key))
        r = tslp_fail(err, TSL_ERR_KEY, 0, "key %s: a public key cannot sign",
                      in->key_path);
    else
        r = tsl_key_check_alg(key, in->alg != TSL_ALG_UNKNOWN ? in->alg
                                                              : tsl_key_default_alg(key),
                              err);
    tsl_key_free(key);
    if (r == TSL_OK && in->x5c_path != NULL) {
        tsl_cert_chain chain = {0, NULL, NULL};
        r = tsl_cert_chain_load(in->x5c_path, &chain, err);
        if (r != TSL_OK)
            tslp_error_prefix(err, "x5c");
        tsl_cert_chain_free(&chain);
    }
    return r;
}

/* Sets the decoys (P(size - decoys) .. P(size - 1)) in a zeroed packed list. */
static tsl_status place_decoys(const tsl_list_spec *in, const uint8_t *perm_key,
                               unsigned value, tsl_list *l, tsl_error *err)
{
    tslp_perm p;
    tsl_status r = tslp_perm_init(&p, perm_key, in->size, err);
    for (uint64_t i = in->size - in->decoys; r == TSL_OK && i < in->size; i++) {
        uint64_t idx;
        if ((r = tslp_perm_at(&p, i, &idx, err)) == TSL_OK)
            r = tsl_list_set(l, idx, value);
    }
    tslp_perm_done(&p);
    return r;
}

/* Writes the chunks of l that are not all zeros. */
static tsl_status write_chunks(tsl_store *st, const char *id, const tsl_list *l,
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
    sqlite3_finalize(s);
    return r;
}

static tsl_status insert_list(tsl_store *st, const tsl_list_spec *in, const char *key_path,
                              unsigned decoy_value, const uint8_t *perm_key, int64_t now,
                              tsl_error *err)
{
    sqlite3_stmt *s;
    tsl_status r = tslp_store_prepare(st, "SELECT 1 FROM lists WHERE id = ?1", &s, err);
    if (r != TSL_OK)
        return r;
    sqlite3_bind_text(s, 1, in->id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc == SQLITE_ROW)
        return tslp_fail(err, TSL_ERR_EXISTS, 0, "list \"%s\" already exists", in->id);
    if (rc != SQLITE_DONE)
        return tslp_store_sqlfail(st, rc, "looking up a list", err);
    if ((r = check_paths(st, in, err)) != TSL_OK)
        return r;
    if ((r = tslp_store_prepare(
             st,
             "INSERT INTO lists (id, uri, bits, size, key_path, alg, kid, x5c_path,"
             " lifetime, ttl, formats, decoys, decoy_value, final_invalid, aggregation_uri,"
             " perm_key, next, version, created, updated) VALUES (?1, ?2, ?3, ?4, ?5, ?6,"
             " ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, 0, 0, ?17, ?17)",
             &s, err)) != TSL_OK)
        return r;
    sqlite3_bind_text(s, 1, in->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, in->uri, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, in->bits);
    sqlite3_bind_int64(s, 4, (sqlite3_int64)in->size);
    sqlite3_bind_text(s, 5, key_path, -1, SQLITE_STATIC);
    if (in->alg != TSL_ALG_UNKNOWN)
        sqlite3_bind_text(s, 6, tsl_alg_name(in->alg), -1, SQLITE_STATIC);
    if (in->kid != NULL)
        sqlite3_bind_text(s, 7, in->kid, -1, SQLITE_STATIC);
    if (in->x5c_path != NULL)
        sqlite3_bind_text(s, 8, in->x5c_path, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 9, in->lifetime ? in->lifetime : DEFAULT_LIFETIME);
    sqlite3_bind_int64(s, 10, in->ttl);
    sqlite3_bind_int64(s, 11, in->formats ? in->formats : TSL_PUBLISH_JWT | TSL_PUBLISH_CWT);
    sqlite3_bind_int64(s, 12, (sqlite3_int64)in->decoys);
    sqlite3_bind_int64(s, 13, decoy_value);
    sqlite3_bind_int64(s, 14, in->final_invalid == -1 ? 0 : 1);
    if (in->aggregation_uri != NULL)
        sqlite3_bind_text(s, 15, in->aggregation_uri, -1, SQLITE_STATIC);
    sqlite3_bind_blob(s, 16, perm_key, TSLP_PERM_KEY_BYTES, SQLITE_STATIC);
    sqlite3_bind_int64(s, 17, now);
    rc = sqlite3_step(s);
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? TSL_OK : tslp_store_sqlfail(st, rc, "creating a list", err);
}

tsl_status tsl_store_list_create(tsl_store *st, const tsl_list_spec *in, tsl_error *err)
{
    if (st == NULL || in == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "store: NULL argument");
    tsl_status r = check_settings(in, err);
    if (r != TSL_OK || (r = check_key(in, err)) != TSL_OK)
        return r;
    /* The key is kept as an absolute path: later commands may run elsewhere. */
    char *key_path = realpath(in->key_path, NULL);
    if (key_path == NULL)
        return tslp_fail(err, TSL_ERR_IO, 0, "key %s: %s", in->key_path, strerror(errno));
    uint8_t perm_key[TSLP_PERM_KEY_BYTES];
    unsigned dv = in->decoy_value ? in->decoy_value : TSL_STATUS_INVALID;
    tsl_list *l = NULL;
    if (tslp_random_bytes(perm_key, sizeof perm_key, NULL) != TSL_OK)
        r = tslp_fail(err, TSL_ERR_CRYPTO, 0, "list \"%s\": the CSPRNG failed", in->id);
    /* Decoys are placed in memory first: one packed copy, the only time a list is
     * held whole here. Without decoys nothing is written (absent chunks are zeros). */
    if (r == TSL_OK && in->decoys > 0 &&
        (r = tsl_list_new(in->bits, in->size, &l, err)) == TSL_OK)
        r = place_decoys(in, perm_key, dv, l, err);
    int64_t now = (int64_t)time(NULL);
    if (r == TSL_OK && (r = tslp_store_begin(st, true, err)) == TSL_OK) {
        if ((r = insert_list(st, in, key_path, dv, perm_key, now, err)) == TSL_OK &&
            (l == NULL || (r = write_chunks(st, in->id, l, err)) == TSL_OK) &&
            (r = tslp_store_audit(st, in->id, now, in->size, in->decoys, NULL, "create",
                                  err)) == TSL_OK)
            r = tslp_store_commit(st, err);
        else
            tslp_store_rollback(st);
    }
    tslp_cleanse(perm_key, sizeof perm_key);
    tsl_list_free(l);
    free(key_path);
    return r;
}

tsl_status tsl_store_list_ids(tsl_store *st, char ***ids, size_t *n, tsl_error *err)
{
    if (st == NULL || ids == NULL || n == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "store: NULL argument");
    sqlite3_stmt *s;
    tsl_status r = tslp_store_prepare(st, "SELECT id FROM lists ORDER BY id", &s, err);
    if (r != TSL_OK)
        return r;
    char **v = NULL;
    size_t count = 0, cap = 0;
    int rc;
    bool ok = true;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (count == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            char **nv = tslp_realloc(v, ncap * sizeof *nv);
            if (nv == NULL) {
                ok = false;
                break;
            }
            v = nv;
            cap = ncap;
        }
        if ((v[count] = col_text(s, 0, &ok)) == NULL)
            ok = false;
        if (!ok)
            break;
        count++;
    }
    sqlite3_finalize(s);
    if (!ok || (rc != SQLITE_ROW && rc != SQLITE_DONE)) {
        tsl_store_ids_free(v, count);
        return ok ? tslp_store_sqlfail(st, rc, "listing lists", err)
                  : tslp_fail(err, TSL_ERR_NOMEM, 0, "store: out of memory listing lists");
    }
    *ids = v;
    *n = count;
    return TSL_OK;
}

void tsl_store_ids_free(char **ids, size_t n)
{
    if (ids == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        tslp_free(ids[i]);
    tslp_free(ids);
}

tsl_status tsl_store_list_info(tsl_store *st, const char *id, tsl_list_info *out,
                               tsl_error *err)
{
    if (st == NULL || id == NULL || out == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "store: NULL argument");
    tslp_list_row row;
    tsl_status r = tslp_store_read_row(st, id, &row, err);
    tslp_cleanse(row.perm_key, sizeof row.perm_key);
    if (r == TSL_OK)
        *out = row.info;
    return r;
}

tsl_status tsl_store_list_load(tsl_store *st, const char *id, tsl_list **out,
                               uint64_t *version, tsl_error *err)
{
    if (st == NULL || id == NULL || out == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "store: NULL argument");
    /* One read transaction: the settings, the chunks and the version agree. */
    tsl_status r = tslp_store_begin(st, false, err);
    if (r != TSL_OK)
        return r;
    tslp_list_row row;
    if ((r = tslp_store_read_row(st, id, &row, err)) == TSL_OK) {
        r = tslp_store_load_chunks(st, &row.info, out, err);
        if (r == TSL_OK && version != NULL)
            *version = row.info.version;
        tsl_list_info_free(&row.info);
    }
    tslp_cleanse(row.perm_key, sizeof row.perm_key);
    tslp_store_rollback(st);
    return r;
}

/* ---------------------------------------------------------------------------------- */
/* Allocation                                                                           */

static tsl_status alloc_locked(tsl_store *st, const char *id, uint64_t n, uint64_t *out,
                               tsl_error *err)
{
    tslp_list_row row;
    tsl_status r = tslp_store_read_row(st, id, &row, err);
    if (r != TSL_OK)
        return r;
    uint64_t left = row.info.capacity - row.next;
    if (n > left) {
        r = tslp_fail(err, TSL_ERR_LIMIT, 0, "list \"%s\": only %llu of %llu indices left",
                      id, (unsigned long long)left,
                      (unsigned long long)row.info.capacity);
    } else {
        tslp_perm p;
        r = tslp_perm_init(&p, row.perm_key, row.info.size, err);
        for (uint64_t i = 0; r == TSL_OK && i < n; i++)
            r = tslp_perm_at(&p, row.next + i, &out[i], err);
        tslp_perm_done(&p);
    }
    tslp_cleanse(row.perm_key, sizeof row.perm_key);
    tsl_list_info_free(&row.info);
    if (r != TSL_OK)
        return r;
    int64_t now = (int64_t)time(NULL);
    sqlite3_stmt *s;
    if ((r = tslp_store_prepare(st,
                                "UPDATE lists SET next = next + ?2, updated = ?3"
                                " WHERE id = ?1",
                                &s, err)) != TSL_OK)
        return r;
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)n);
    sqlite3_bind_int64(s, 3, now);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE)
        return tslp_store_sqlfail(st, rc, "recording an allocation", err);
    return tslp_store_audit(st, id, now, n, 0, NULL, "alloc", err);
}

tsl_status tsl_store_alloc(tsl_store *st, const char *id, uint64_t n, uint64_t *out,
                           tsl_error *err)
{
    if (st == NULL || id == NULL || (out == NULL && n > 0))
        return tslp_fail(err, TSL_ERR_ARG, 0, "store: NULL argument");
    if (n == 0)
        return TSL_OK;
    /* Read, draw and advance the counter under the write lock: two processes can never
     * draw from the same counter value, and a crash before COMMIT hands out nothing. */
    tsl_status r = tslp_store_begin(st, true, err);
    if (r != TSL_OK)
        return r;
    if ((r = alloc_locked(st, id, n, out, err)) == TSL_OK)
        return tslp_store_commit(st, err);
    tslp_store_rollback(st);
    return r;
}
