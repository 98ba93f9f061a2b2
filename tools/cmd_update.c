/* cmd_update.c - `tsl update ID [FILE|-]`: read "IDX STATUS" / "FIRST-LAST STATUS"
 * lines, check the whole input first (any bad line rejects the batch, naming it), then
 * apply it to the stored list in one transaction and print a summary. */
#include "store_cli.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int cmd_update(int argc, char **argv)
{
    const char *db = NULL;
    bool force = false, dry_run = false;
    const cli_opt opts[] = {
        CLI_FLAG("dry-run", &dry_run, "check everything and report what would change"),
        CLI_FLAG("force", &force, "allow changing INVALID entries (INVALID is final unless\n"
                 "the list was created with --no-final-invalid)"),
        CLI_DB(&db), CLI_OPT_END};
    static const cli_cmd cmd = {
        "update", "ID [--dry-run] [--force] [--db PATH] [FILE|-]",
        "Reads lines \"IDX STATUS\" or \"FIRST-LAST STATUS\" (STATUS: a status name or a\n"
        "number below 2^bits; blank lines and # comments allowed; at most 4096 bytes a\n"
        "line; later lines win). The whole input is checked first: one bad line rejects\n"
        "the batch, naming the line. Then it is applied in one durable transaction and a\n"
        "summary is printed. For an identifier list (formats idlist), IDX may be an\n"
        "identifier (hex).",
        "0 applied, 1 input rejected (the line is named), 2 usage or I/O.", NULL};
    int first, prc = cli_opts_parse(&cmd, opts, argc, argv, &first);
    if (prc != CLI_OPTS_RUN)
        return prc;
    if (first >= argc) {
        cli_err("update", "the list ID is required");
        cli_usage(&cmd, opts, stderr);
        return EXIT_USAGE;
    }
    if (argc - first > 2) {
        cli_err("update", "one input file at most");
        return EXIT_USAGE;
    }
    const char *id = argv[first];
    const char *path = first + 1 < argc ? argv[first + 1] : "-";

    tsl_store *store = NULL;
    tsl_batch *b = NULL;
    int rc = store_cli_batch("update", db, id, &store, &b);
    if (rc != EXIT_OK)
        return rc;
    tsl_error err;
    tsl_error_clear(&err);
    tsl_lines *r = NULL;
    tsl_status st = tsl_lines_open(path, CLI_MAX_LINE, &r, &err);
    if (st != TSL_OK) {
        tsl_batch_free(b);
        tsl_store_close(store);
        return cli_fail("update", &err, st);
    }
    /* Progress on a terminal; the input's size, for the bar, when known. Without memory
     * for it there is no display, and the work goes on. */
    tsl_progress *pg = NULL;
    tsl_progress_new(STDERR_FILENO, "tsl update", tsl_lines_size(r), 0, &pg, NULL);
    uint64_t lines = 0;
    st = tsl_store_batch_add_lines(store, id, b, r, pg, &lines, &err);
    tsl_lines_close(r);
    if (st != TSL_OK) {
        tsl_progress_end(pg);
        rc = cli_fail("update", &err, st);
    }

    uint64_t changed = 0;
    if (rc == EXIT_OK) {
        char what[96];
        snprintf(what, sizeof what, "%s %llu entries", dry_run ? "checking" : "applying",
                 (unsigned long long)tsl_batch_entries(b));
        tsl_progress_busy(pg, what);
        tsl_error_clear(&err);
        st = tsl_store_update(store, id, b, force, dry_run, path, &changed, &err);
        tsl_progress_end(pg);
        if (st != TSL_OK)
            rc = cli_fail("update", &err, st);
    }
    if (rc == EXIT_OK) {
        printf("%s: %llu lines, %zu changes covering %llu entries; %llu %s\n", id,
               (unsigned long long)lines, tsl_batch_count(b),
               (unsigned long long)tsl_batch_entries(b), (unsigned long long)changed,
               dry_run ? "would change (dry run: nothing written)" : "changed");
        rc = cli_flush("update", rc, true, " (the update is applied)");
    }
    tsl_progress_free(pg);
    tsl_batch_free(b);
    tsl_store_close(store);
    return rc;
}
