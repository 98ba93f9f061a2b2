/* store_sqlite.h - the SQLite backend's own calls: for store_sqlite.c, and for tests
 * that look inside an SQLite store. Nothing above backend.h includes it. Never
 * installed. */
#ifndef TSL_STORE_SQLITE_H
#define TSL_STORE_SQLITE_H

#include "store/store_int.h"

#include <sqlite3.h>

/* The connection of a store opened on the SQLite backend. */
static inline sqlite3 *tslp_sqlite_db(const tsl_store *st)
{
    return (sqlite3 *)st->conn;
}

/* Fails with TSL_ERR_IO (TSL_ERR_NOMEM when SQLite ran out of memory) naming the store,
 * what was being done and sqlite3_errmsg. A corrupt or foreign file is TSL_ERR_IO as
 * well: the store is where the command keeps its state, not input it was handed. */
tsl_status tslp_store_sqlfail(tsl_store *st, int rc, const char *what, tsl_error *err);

/* Prepares a statement (static SQL only; data goes through bound parameters). */
tsl_status tslp_store_prepare(tsl_store *st, const char *sql, sqlite3_stmt **out,
                              tsl_error *err);

#endif /* TSL_STORE_SQLITE_H */
