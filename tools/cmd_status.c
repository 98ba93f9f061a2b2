/* cmd_status.c - `tsl set ID IDX STATUS` changes one entry of a stored list (a batch
 * of one, through the same checks and audit trail as `tsl update`); `tsl get ID
 * IDX...` prints "IDX<TAB>NAME" for each index asked for. */
#include "store_cli.h"

#include <stdlib.h>
#include <string.h>

int cmd_set(int argc, char **argv)
{
    const char *db = NULL;
    bool force = false;
    const cli_opt opts[] = {
        CLI_FLAG("force", &force, "change an INVALID entry (INVALID is final unless the\n"
                 "list was created with --no-final-invalid)"),
        CLI_DB(&db), CLI_OPT_END};
    static const cli_cmd cmd = {
        "set", "ID IDX STATUS [--force] [--db PATH]",
        "Sets entry IDX of list ID to STATUS: VALID, INVALID, SUSPENDED,\n"
        "APPLICATION_SPECIFIC (any case) or a number below 2^bits, durably. For an\n"
        "identifier list, IDX may be an identifier (hex) that tsl alloc printed.",
        "0 success, 1 rejected (unknown list, index out of range, value\n"
        "too large for the bits, INVALID is final), 2 usage or I/O error.", NULL};
    int first, prc = cli_opts_parse(&cmd, opts, argc, argv, &first);
    if (prc != CLI_OPTS_RUN)
        return prc;
    if (argc - first != 3) {
        cli_err("set", "expected ID IDX STATUS");
        cli_usage(&cmd, opts, stderr);
        return EXIT_USAGE;
    }
    const char *id = argv[first], *idx_s = argv[first + 1], *val_s = argv[first + 2];
    uint64_t idx;
    unsigned value;
    /* Not a number: an identifier of an identifier list, once the store is open. */
    bool by_id = !cli_parse_u64(idx_s, &idx) || store_cli_idl_long(idx_s);
    if (tsl_status_parse(val_s, strlen(val_s), &value, NULL) != TSL_OK) {
        cli_err("set",
                "unknown status \"%.40s\" (VALID, INVALID, SUSPENDED, "
                "APPLICATION_SPECIFIC or a number)",
                val_s);
        return EXIT_REJECT;
    }
    tsl_store *store = NULL;
    int rc = store_cli_open("set", db, &store);
    if (rc != EXIT_OK)
        return rc;
    if (by_id && (rc = store_cli_idl_index("set", store, id, idx_s, &idx)) != EXIT_OK) {
        tsl_store_close(store);
        return rc;
    }
    tsl_error err;
    tsl_error_clear(&err);
    tsl_status st = tsl_store_set(store, id, idx, value, force, &err);
    tsl_store_close(store);
    return st == TSL_OK ? EXIT_OK : cli_fail("set", &err, st);
}

int cmd_get(int argc, char **argv)
{
    const char *db = NULL;
    const cli_opt opts[] = {CLI_DB(&db), CLI_OPT_END};
    static const cli_cmd cmd = {
        "get", "ID IDX... [--db PATH]",
        "Prints \"IDX<TAB>NAME\" for each IDX of list ID, in the order given: VALID,\n"
        "INVALID, SUSPENDED, APPLICATION_SPECIFIC for 0 to 3, else the number. Every\n"
        "index is checked before anything is printed. For an identifier list, IDX may\n"
        "be an identifier (hex).",
        "0 success, 1 unknown list or index out of range, 2 usage or I/O.", NULL};
    int first, prc = cli_opts_parse(&cmd, opts, argc, argv, &first);
    if (prc != CLI_OPTS_RUN)
        return prc;
    if (argc - first < 2) {
        cli_err("get", "expected ID and at least one IDX");
        cli_usage(&cmd, opts, stderr);
        return EXIT_USAGE;
    }
    const char *id = argv[first];
    size_t n = (size_t)(argc - first - 1);
    uint64_t *idx = malloc(n * sizeof *idx);
    if (idx == NULL) {
        cli_err("get", "out of memory");
        return EXIT_USAGE;
    }
    bool any_id = false;
    for (size_t k = 0; k < n; k++)
        any_id = any_id || !cli_parse_u64(argv[first + 1 + (int)k], &idx[k]) ||
                 store_cli_idl_long(argv[first + 1 + (int)k]);
    tsl_store *store = NULL;
    int rc = store_cli_open_mode("get", db, STORE_CLI_READ, &store);
    /* Not a number: an identifier of an identifier list (store_idl.c). */
    for (size_t k = 0; any_id && rc == EXIT_OK && k < n; k++) {
        const char *s = argv[first + 1 + (int)k];
        if (!cli_parse_u64(s, &idx[k]) || store_cli_idl_long(s))
            rc = store_cli_idl_index("get", store, id, s, &idx[k]);
    }
    if (rc != EXIT_OK) {
        tsl_store_close(store);
        free(idx);
        return rc;
    }
    tsl_error err;
    tsl_error_clear(&err);
    /* Only the chunks the indices are in are read (tsl_store_statuses): a few indices
     * of a 10^8-entry list cost what they cost on a small one. */
    unsigned *values = malloc(n * sizeof *values);
    tsl_status st = values == NULL ? TSL_ERR_NOMEM
                                   : tsl_store_statuses(store, id, idx, n, values, NULL, &err);
    tsl_store_close(store);
    if (st != TSL_OK) {
        free(values);
        free(idx);
        if (st == TSL_ERR_NOMEM && err.msg[0] == '\0') {
            cli_err("get", "out of memory");
            return EXIT_USAGE;
        }
        return cli_fail("get", &err, st);
    }
    for (size_t k = 0; k < n; k++) {
        char buf[8];
        const char *s = argv[first + 1 + (int)k];
        uint64_t u;
        if (cli_parse_u64(s, &u))
            printf("%llu\t%s\n", (unsigned long long)idx[k], tsl_status_label(values[k], buf));
        else /* an identifier, as given */
            printf("%s\t%s\n", s, tsl_status_label(values[k], buf));
    }
    free(values);
    free(idx);
    return cli_flush("get", rc, true, "");
}
