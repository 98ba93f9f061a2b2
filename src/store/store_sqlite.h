/* store_sqlite.h - the SQLite backend's own calls: for store_sqlite.c, and for tests
 * that look inside an SQLite store. Nothing above backend.h includes it. Never
 * installed. */
#ifndef TSL_STORE_SQLITE_H
#define TSL_STORE_SQLITE_H

#include "store/store_int.h"

#include <sqlite3.h>

/* Prepared statements kept per connection, by the address of their static SQL text:
 * parsing a statement again costs more than running it (an allocation through the
 * issuer API runs about ten), so the hot ones are parsed once per handle. */
#define TSLP_SQ_CACHE 64

typedef struct {
    const char *sql; /* the static text it was prepared from (compared by address) */
    sqlite3_stmt *s;
    bool busy;       /* handed out and not yet given back */
} tslp_sq_cached;

/* What st->conn points to on the SQLite backend. */
typedef struct {
    sqlite3 *db;
    tslp_sq_cached cache[TSLP_SQ_CACHE];
    size_t ncache;
} tslp_sq_conn;

/* The connection of a store opened on the SQLite backend (NULL before it opened). */
static inline sqlite3 *tslp_sqlite_db(const tsl_store *st)
{
    return st->conn != NULL ? ((const tslp_sq_conn *)st->conn)->db : NULL;
}

/* Fails with TSL_ERR_IO (TSL_ERR_NOMEM when SQLite ran out of memory) naming the store,
 * what was being done and sqlite3_errmsg. A corrupt or foreign file is TSL_ERR_IO as
 * well: the store is where the command keeps its state, not input it was handed. */
tsl_status tslp_store_sqlfail(tsl_store *st, int rc, const char *what, tsl_error *err);

/* Prepares a statement (static SQL only; data goes through bound parameters): the
 * connection's cached one for this text when it is free, else a new one. Give it back
 * with tslp_store_finish(), never sqlite3_finalize(). */
tsl_status tslp_store_prepare(tsl_store *st, const char *sql, sqlite3_stmt **out,
                              tsl_error *err);
/* Gives a statement back: a cached one is reset (its read ends) and its bindings
 * cleared for the next user; any other is finalized. NULL is a no-op. */
void tslp_store_finish(tsl_store *st, sqlite3_stmt *s);

/* The running SQLite library's version, "3.40.1" (static text), for tsl_dependencies(). */
const char *tslp_sqlite_libversion(void);

#endif /* TSL_STORE_SQLITE_H */
