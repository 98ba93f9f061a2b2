/* store_cli.c - shared pieces of the issuer-store subcommands: resolving --db /
 * $TSL_DB / ./tsl.db, opening the store with one error line, reading a list's settings
 * and starting a batch for it. */
#include "store_cli.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *store_cli_db_path(const char *opt)
{
    if (opt != NULL)
        return opt;
    const char *env = getenv("TSL_DB");
    if (env != NULL && env[0] != '\0')
        return env;
    return STORE_CLI_DEFAULT_DB;
}

int store_cli_open_mode(const char *cmd, const char *db_opt, store_cli_mode mode,
                        tsl_store **out)
{
    const char *path = store_cli_db_path(db_opt);
    static const unsigned flags[] = {0, TSL_STORE_READONLY, TSL_STORE_CREATE};
    tsl_error err;
    tsl_error_clear(&err);
    tsl_status st = tsl_store_open_mode(path, flags[mode], out, &err);
    if (st != TSL_OK) {
        /* The library's message starts with "store PATH: ". */
        bool missing = st == TSL_ERR_IO && mode != STORE_CLI_CREATE &&
                       strstr(path, "://") == NULL && access(path, F_OK) != 0;
        cli_err(cmd, "%s%s", err.msg[0] ? err.msg : tsl_strerror(st),
                missing ? " (tsl list create makes a new store)" : "");
        return cli_exit_for(st);
    }
    return EXIT_OK;
}

int store_cli_open(const char *cmd, const char *db_opt, tsl_store **out)
{
    return store_cli_open_mode(cmd, db_opt, STORE_CLI_WRITE, out);
}

int store_cli_info(const char *cmd, tsl_store *st, const char *id, tsl_list_info *info)
{
    tsl_error err;
    tsl_error_clear(&err);
    memset(info, 0, sizeof *info);
    tsl_status s = tsl_store_list_info(st, id, info, &err);
    if (s != TSL_OK)
        return cli_fail(cmd, &err, s);
    return EXIT_OK;
}

int store_cli_batch(const char *cmd, const char *db_opt, const char *id, tsl_store **st,
                    tsl_batch **b)
{
    int rc = store_cli_open(cmd, db_opt, st);
    if (rc != EXIT_OK)
        return rc;
    tsl_list_info info;
    if ((rc = store_cli_info(cmd, *st, id, &info)) != EXIT_OK) {
        tsl_store_close(*st);
        return rc;
    }
    tsl_error err;
    tsl_error_clear(&err);
    tsl_status s = tsl_batch_new(info.bits, info.size, b, &err);
    tsl_list_info_free(&info);
    if (s != TSL_OK) {
        tsl_store_close(*st);
        return cli_fail(cmd, &err, s);
    }
    return EXIT_OK;
}
