/* cmd_alloc.c - `tsl alloc ID [-n COUNT]`: hand out COUNT new indices of a stored
 * list, one per line, each never handed out before and never a decoy. */
#include "store_cli.h"

#include <stdlib.h>
#include <string.h>

int cmd_alloc(int argc, char **argv)
{
    const char *db = NULL;
    uint64_t n = 1;
    const cli_opt opts[] = {
        {"count", 'n', CLI_OPT_U64, &n, 1, UINT64_MAX, "is not a positive integer", "-n", NULL,
         "COUNT\thow many indices (default 1)"},
        CLI_DB(&db),
        CLI_OPT_END};
    static const cli_cmd cmd = {
        "alloc", "ID [-n COUNT] [--db PATH]",
        "Allocates COUNT indices of list ID for new Referenced Tokens and prints them,\n"
        "one per line: never handed out before and never a decoy, in a keyed\n"
        "pseudorandom order. All or nothing: if fewer are left, none is allocated.\n"
        "For an identifier list (formats idlist), prints identifiers (hex, of the\n"
        "list's id_length, 16 bytes by default).",
        "0 success, 1 unknown list or not enough free indices, 2 usage or\nI/O error.",
        NULL};
    int first, rc = cli_opts_parse(&cmd, opts, argc, argv, &first);
    if (rc != CLI_OPTS_RUN)
        return rc;
    if (argc - first != 1) {
        cli_err("alloc", "exactly one list ID is required");
        return EXIT_USAGE;
    }
    const char *id = argv[first];
    tsl_store *store = NULL;
    rc = store_cli_open("alloc", db, &store);
    if (rc != EXIT_OK)
        return rc;
    tsl_error err;
    tsl_error_clear(&err);
    uint64_t *out = NULL;
    tsl_status st = tsl_store_alloc_new(store, id, n, &out, &err);
    bool printed = false;
    /* An identifier list's entries are identifiers: those are printed instead. */
    if (st == TSL_OK)
        rc = store_cli_idl_print("alloc", store, id, out, n, &printed);
    tsl_store_close(store);
    if (st != TSL_OK)
        return cli_fail("alloc", &err, st);
    for (uint64_t k = 0; !printed && k < n; k++)
        printf("%llu\n", (unsigned long long)out[k]);
    if (rc != EXIT_OK) {
        tsl_free(out);
        return rc;
    }
    tsl_free(out);
    /* The indices are allocated either way; say so, so they can be found again. */
    return cli_flush("alloc", EXIT_OK, !ferror(stdout), " (the indices stay allocated)");
}
