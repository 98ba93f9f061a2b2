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
        "pseudorandom order. All or nothing: if fewer are left, none is allocated.",
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
    tsl_list_info info;
    if ((rc = store_cli_info("alloc", store, id, &info)) != EXIT_OK) {
        tsl_store_close(store);
        return rc;
    }
    /* Refuse a count beyond what is left before sizing the output array by it; the
     * store checks again inside its transaction. */
    uint64_t left = info.capacity - info.allocated;
    tsl_list_info_free(&info);
    if (n > left) {
        cli_err("alloc", "%s: %llu indices asked for, %llu left", id,
                (unsigned long long)n, (unsigned long long)left);
        tsl_store_close(store);
        return EXIT_REJECT;
    }
    uint64_t *out = n <= SIZE_MAX / sizeof *out ? malloc((size_t)n * sizeof *out) : NULL;
    if (out == NULL) {
        cli_err("alloc", "out of memory for %llu indices", (unsigned long long)n);
        tsl_store_close(store);
        return EXIT_USAGE;
    }
    tsl_error err;
    tsl_error_clear(&err);
    tsl_status st = tsl_store_alloc(store, id, n, out, &err);
    tsl_store_close(store);
    if (st != TSL_OK) {
        free(out);
        return cli_fail("alloc", &err, st);
    }
    for (uint64_t k = 0; k < n; k++)
        printf("%llu\n", (unsigned long long)out[k]);
    free(out);
    /* The indices are allocated either way; say so, so they can be found again. */
    return cli_flush("alloc", EXIT_OK, !ferror(stdout), " (the indices stay allocated)");
}
