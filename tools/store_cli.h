/* store_cli.h - what the issuer-store subcommands (list, alloc, set, get, update,
 * publish, token) share: where the database is, opening it, a list's settings and a
 * batch for it. */
#ifndef TSL_STORE_CLI_H
#define TSL_STORE_CLI_H

#include "cli.h"

/* The database when neither --db nor $TSL_DB names one. */
#define STORE_CLI_DEFAULT_DB "./tsl.db"

/* How long `tsl publish` keeps recorded tokens after they expire (30 days). */
#define STORE_CLI_DEFAULT_RETENTION ((int64_t)30 * 86400)

/* The database path: opt (--db) if given, else $TSL_DB if set and not empty, else
 * STORE_CLI_DEFAULT_DB. */
const char *store_cli_db_path(const char *opt);

/* How a command opens the store. Only creating a list creates one: every other
 * command fails (exit 2, naming the path) on a missing or empty file, so a mistyped
 * --db creates nothing. Commands that only read open read-only, which works in a
 * read-only directory (see TSL_STORE_READONLY). */
typedef enum {
    STORE_CLI_WRITE,  /* an existing store, read and write */
    STORE_CLI_READ,   /* an existing store, read-only */
    STORE_CLI_CREATE  /* read and write, creating the store if missing */
} store_cli_mode;

/* Opens the store named by store_cli_db_path(db_opt) in mode. Returns EXIT_OK, or
 * prints "tsl CMD: reason" (the reason names the path) and returns the exit code: 2 for
 * a missing, empty, unreadable or damaged store. */
int store_cli_open_mode(const char *cmd, const char *db_opt, store_cli_mode mode,
                        tsl_store **out);

/* Identifier lists (store_idl.c): prints the identifiers (hex, one a line) of idx[0..n)
 * when list is an identifier list (*printed true), else prints nothing; and reads an
 * identifier in hex into its index. Return an exit code. */
int store_cli_idl_print(const char *cmd, tsl_store *st, const char *list, const uint64_t *idx,
                        uint64_t n, bool *printed);
/* A digit string this long (16 or more characters) is an identifier of the shortest
 * length, never an index (a list has at most 2^36 entries, 11 digits): a hex identifier
 * made only of digits must not be read as a number. */
bool store_cli_idl_long(const char *s);
int store_cli_idl_index(const char *cmd, tsl_store *st, const char *list, const char *hex,
                        uint64_t *idx);

/* store_cli_open_mode() with STORE_CLI_WRITE. */
int store_cli_open(const char *cmd, const char *db_opt, tsl_store **out);

/* Reads a list's settings; prints the error and returns its exit code on failure (an
 * unknown id is 1). Free *info with tsl_list_info_free() after EXIT_OK. */
int store_cli_info(const char *cmd, tsl_store *st, const char *id, tsl_list_info *info);

/* Opens the store and starts an empty batch sized for list id (its bits and size).
 * Prints the error and returns its exit code on failure, with nothing left open. */
int store_cli_batch(const char *cmd, const char *db_opt, const char *id, tsl_store **st,
                    tsl_batch **b);

#endif /* TSL_STORE_CLI_H */
