/* store_pg.h - the PostgreSQL backend's own calls: for store_pg.c, and for tests that
 * look inside a PostgreSQL store. Nothing above backend.h includes it. Never
 * installed. */
#ifndef TSL_STORE_PG_H
#define TSL_STORE_PG_H

#include "store/store_int.h"

/* The connection of a store opened on the PostgreSQL backend (NULL before open): a
 * libpq PGconn, which is struct pg_conn (libpq-fe.h stays inside store_pg.c). */
struct pg_conn;
struct pg_conn *tslp_pg_conn(const tsl_store *st);

/* Checks a store URL before anything connects: a postgresql:// or postgres:// URL that
 * libpq's connection-URI parser accepts, holding no password (it would show in the
 * process list and the environment). TSL_ERR_ARG otherwise; the message shows only the
 * scheme, never the rest of the URL. */
tsl_status tslp_pg_url_check(const char *url, tsl_error *err);

/* Schema version of a PostgreSQL store this code writes (the versions are the
 * backend's own, not SQLite's TSLP_SCHEMA_VERSION): 1 the first tables, 2 the indexes
 * on the audit trail and on the tokens' exp, 3 API keys and idempotency records, 4
 * stored compressed segments, 5 status counts, 6 an identifier list's identifier
 * length (tsl_lists.id_bytes), 7 a token's list recorded once (tsl_token_lists,
 * tsl_tokens.lst), 8 tsl_segments unlogged. */
#define TSLP_PG_SCHEMA_VERSION 8
/* The version from which a PostgreSQL store keeps status counts (counts.c). */
#define TSLP_PG_SCHEMA_COUNTS 5
/* The version from which tsl_lists has an id_bytes column. */
#define TSLP_PG_SCHEMA_ID_BYTES 6
/* The version from which a token's list may be recorded apart (tsl_token_lists). */
#define TSLP_PG_SCHEMA_TOKEN_LISTS 7

/* The running libpq's version as PQlibVersion() gives it: 150018 for 15.18. */
int tslp_pg_libversion(void);

#endif /* TSL_STORE_PG_H */
