/* cmd_db_copy.c - `tsl db copy --from SRC --to DST`: every list of one store into
 * another, with its statuses, allocation state, token history and audit trail, in one
 * transaction on DST (tsl_store_copy()). Moves a store from SQLite to PostgreSQL, back,
 * or into a new SQLite file as a backup. */
#include "store_cli.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int cmd_db_copy(int argc, char **argv)
{
    const char *from = NULL, *to = NULL;
    const cli_opt opts[] = {
        CLI_STR("from", &from, "SRC\tthe store to copy (only read)"),
        CLI_STR("to", &to, "DST\tthe store to copy into"),
        CLI_OPT_END};
    static const cli_cmd cmd = {
        "db copy", "--from SRC --to DST",
        "Copies every list of the store SRC into the store DST: settings, statuses,\n"
        "allocation state (DST never hands out an index SRC handed out), version,\n"
        "every recorded token and the audit trail. SRC is read as one consistent\n"
        "snapshot (others may keep writing to it); DST gets all of it in one\n"
        "transaction, or nothing. DST is created if missing; it may hold other\n"
        "lists, but none with an id or a uri path of SRC's lists. Each store is the\n"
        "path of an SQLite file or a postgresql:// URL (no password in it: libpq\n"
        "reads it from ~/.pgpass, PGPASSFILE or a service file). Signing keys stay\n"
        "paths: the key files must be at the same paths where DST is published.\n"
        "Prints \"copied N lists (T tokens, A audit rows)\".",
        "0 success, 1 refused (DST has one of the lists or paths), 2 usage or\n"
        "I/O error (nothing copied; an SQLite file DST that the copy created is\n"
        "removed).",
        NULL};
    int first, rc = cli_opts_parse(&cmd, opts, argc, argv, &first);
    if (rc != CLI_OPTS_RUN)
        return rc;
    if (first != argc) {
        cli_err("db copy", "unexpected argument \"%s\"", argv[first]);
        return EXIT_USAGE;
    }
    if (from == NULL || to == NULL || from[0] == '\0' || to[0] == '\0') {
        cli_err("db copy", "--from SRC and --to DST are required");
        return EXIT_USAGE;
    }
    if (strcmp(from, to) == 0) {
        cli_err("db copy", "--from and --to name the same store");
        return EXIT_USAGE;
    }
    tsl_store *src = NULL, *dst = NULL;
    if ((rc = store_cli_open_mode("db copy", from, STORE_CLI_READ, &src)) != EXIT_OK)
        return rc;
    /* An SQLite file this copy creates is removed again when the copy fails, so that a
     * failed backup leaves no empty store behind to be mistaken for one. */
    bool url = strncmp(to, "postgresql://", 13) == 0 || strncmp(to, "postgres://", 11) == 0;
    bool fresh = !url && access(to, F_OK) != 0;
    if ((rc = store_cli_open_mode("db copy", to, STORE_CLI_CREATE, &dst)) != EXIT_OK) {
        tsl_store_close(src);
        return rc;
    }
    tsl_error err;
    tsl_error_clear(&err);
    tsl_copy_result res;
    tsl_status st = tsl_store_copy(src, dst, &res, &err);
    tsl_store_close(dst);
    tsl_store_close(src);
    if (st != TSL_OK) {
        if (fresh) {
            char side[4096];
            unlink(to);
            if (snprintf(side, sizeof side, "%s-wal", to) < (int)sizeof side)
                unlink(side);
            if (snprintf(side, sizeof side, "%s-shm", to) < (int)sizeof side)
                unlink(side);
        }
        return cli_fail("db copy", &err, st);
    }
    printf("copied %zu list%s (%llu token%s, %llu audit row%s)", res.lists,
           res.lists == 1 ? "" : "s", (unsigned long long)res.tokens,
           res.tokens == 1 ? "" : "s", (unsigned long long)res.audit,
           res.audit == 1 ? "" : "s");
    /* Said only when there were keys: the line stays as it was for stores without. */
    if (res.apikeys > 0)
        printf(" and %zu API key%s", res.apikeys, res.apikeys == 1 ? "" : "s");
    printf("\n");
    if (fflush(stdout) != 0 || ferror(stdout)) {
        cli_err("db copy", "write error on standard output (the copy is committed)");
        return EXIT_USAGE;
    }
    return EXIT_OK;
}
