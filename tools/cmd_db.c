/* cmd_db.c - `tsl db migrate`: bring a store's schema to this tsl's version, creating
 * it in an empty database (or file): the explicit step of an upgrade (README "Stores on
 * PostgreSQL"). Any command that writes migrates as well; this one does only that. */
#include "store_cli.h"

#include <string.h>

int cmd_db(int argc, char **argv)
{
    /* `tsl db copy` has a file of its own (cmd_db_copy.c). */
    if (argc >= 2 && strcmp(argv[1], "copy") == 0)
        return cmd_db_copy(argc - 1, argv + 1);
    const char *db = NULL;
    const cli_opt opts[] = {CLI_DB(&db), CLI_OPT_END};
    static const cli_cmd cmd = {
        "db", "migrate [--db PATH|URL]\n"
              "copy --from SRC --to DST   (see tsl db copy --help)",
        "Creates the store's schema in an empty database (or file), or migrates an\n"
        "older one to this tsl's version, in one transaction: a crash leaves the old\n"
        "version whole, and concurrent runs migrate once. A postgresql:// URL holds no\n"
        "password: libpq reads it from ~/.pgpass, PGPASSFILE, a service file or\n"
        "PGPASSWORD.",
        "0 success, 2 usage or I/O error, or a newer schema.", NULL};
    int first, rc = cli_opts_parse(&cmd, opts, argc, argv, &first);
    if (rc != CLI_OPTS_RUN)
        return rc;
    if (argc - first != 1 || strcmp(argv[first], "migrate") != 0) {
        cli_err("db", "the actions are migrate and copy");
        return EXIT_USAGE;
    }
    tsl_store *store = NULL;
    if ((rc = store_cli_open_mode("db", db, STORE_CLI_CREATE, &store)) != EXIT_OK)
        return rc;
    tsl_store_close(store);
    printf("the store's schema is current\n");
    return EXIT_OK;
}
