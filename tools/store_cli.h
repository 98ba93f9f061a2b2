/* store_cli.h - what the issuer-store subcommands (list, alloc, set, get, update,
 * publish, token) share: where the database is, opening it, option values common to
 * several of them, status labels, and the progress display on a terminal. */
#ifndef TSL_STORE_CLI_H
#define TSL_STORE_CLI_H

#include "cli.h"

#include <pthread.h>
#include <time.h>

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

/* store_cli_open_mode() with STORE_CLI_READ for the commands of other files that only
 * read the store ("token", "export") and STORE_CLI_WRITE for every other cmd. */
int store_cli_open(const char *cmd, const char *db_opt, tsl_store **out);

/* Reads a list's settings; prints the error and returns its exit code on failure (an
 * unknown id is 1). Free *info with tsl_list_info_free() after EXIT_OK. */
int store_cli_info(const char *cmd, tsl_store *st, const char *id, tsl_list_info *info);

/* Opens the store and starts an empty batch sized for list id (its bits and size).
 * Prints the error and returns its exit code on failure, with nothing left open. */
int store_cli_batch(const char *cmd, const char *db_opt, const char *id, tsl_store **st,
                    tsl_batch **b);

/* Progress on stderr while a long command runs, shown only when stderr is a terminal
 * and redrawn at most ten times a second. Phase one counts input lines (with a bar
 * when the input's size is known); phase two, during one library call that reports
 * nothing, shows the elapsed time from a helper thread. */
typedef struct {
    bool on;            /* stderr is a terminal */
    const char *cmd;
    struct timespec t0; /* start of the current phase */
    struct timespec last_draw;
    uint64_t total_bytes; /* 0: unknown */
    /* The busy phase. */
    bool thread_running;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
    char what[96];
} store_cli_progress;

void store_cli_progress_init(store_cli_progress *p, const char *cmd,
                             uint64_t total_bytes);

/* Called for every input line: cheap; redraws when 100 ms have passed. */
void store_cli_progress_lines(store_cli_progress *p, uint64_t lines, uint64_t bytes);

/* Starts the elapsed-time display for `what` ("applying 1000000 entries"). */
void store_cli_progress_busy(store_cli_progress *p, const char *what);

/* Stops any display and clears its line, so that what follows starts on a clean line. */
void store_cli_progress_end(store_cli_progress *p);

#endif /* TSL_STORE_CLI_H */
