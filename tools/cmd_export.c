/* cmd_export.c - `tsl export DIR`: option parsing over tsl_export() (src/publish/
 * export.c), which writes every stored list's current tokens as static files and an
 * nginx.conf serving them like `tsl serve`, atomically; this prints its messages and
 * what it exported, and exits 1 when a list was skipped, 2 when nothing was exported. */
#include "store_cli.h"

#include <stdlib.h>
#include <string.h>

#define CMD "export"

/* Prints one of the export's messages as the command's. */
static void log_line(void *ctx, const char *line)
{
    (void)ctx;
    cli_err(CMD, "%s", line);
}

int cmd_export(int argc, char **argv)
{
    const char *db = NULL;
    tsl_export_opts o = {.default_format = TSL_FORMAT_JWT, .log = log_line};
    const cli_opt opts[] = {
        CLI_DB(&db),
        CLI_FN("default-format", &o.default_format, cli_opt_format, CLI_FORMAT_BAD,
               "F\tjwt (default) or cwt: served when the client accepts\n"
               "both equally (or sends no Accept)"),
        CLI_STR("aggregation-path", &o.aggregation_path,
                "P\tserve the aggregation document at path P"),
        CLI_STR("listen", &o.listen, "ADDR:PORT\tnginx listen address (default 127.0.0.1:8080)"),
        CLI_OPT_END};
    static const cli_cmd cmd = {
        "export", "DIR [--db PATH] [--default-format jwt|cwt]\n"
        "[--aggregation-path PATH] [--listen ADDR:PORT]",
        "Writes the current recorded tokens of every stored list as static files under\n"
        "DIR/current, at the path of the list's uri: PATH.jwt, PATH.jwt.gz and PATH.cwt,\n"
        "for the forms the list publishes; the aggregation document as\n"
        "AGGREGATION-PATH.json; and DIR/nginx.conf, for nginx's http {} block, which\n"
        "serves them like `tsl serve` does. Run it again after every `tsl publish`.\n"
        "The export is atomic: built in a new directory DIR/.tsl-export.*, then made\n"
        "live by renaming a symbolic link over DIR/current; on any I/O error the\n"
        "previous export stays in place, whole.",
        "0 success, 1 a list could not be exported (not published, or a\n"
        "uri whose path cannot be a file; the other lists are exported), 2 usage or\n"
        "I/O error (nothing changed).", NULL};
    int first, rc = cli_opts_parse(&cmd, opts, argc, argv, &first);
    if (rc != CLI_OPTS_RUN)
        return rc;
    if (argc - first != 1) {
        cli_err(CMD, "exactly one DIR is required");
        return EXIT_USAGE;
    }
    tsl_store *store = NULL;
    rc = store_cli_open_mode(CMD, db, STORE_CLI_READ, &store);
    if (rc != EXIT_OK)
        return rc;
    tsl_export_report rep;
    tsl_error err;
    tsl_status st = tsl_export(store, argv[first], &o, &rep, &err);
    tsl_store_close(store);
    if (st != TSL_OK)
        return cli_exit_for(st); /* the message went to log_line */
    for (size_t k = 0; k < rep.n; k++)
        printf("%s: %s -> %s/current%s (%s), max-age %lld\n", rep.lists[k].id,
               rep.lists[k].uri, rep.dir, rep.lists[k].path,
               tsl_publish_formats_name(rep.lists[k].formats), (long long)rep.lists[k].max_age);
    printf("nginx: %s/nginx.conf (listen %s)\n", rep.dir,
           o.listen != NULL ? o.listen : "127.0.0.1:8080");
    rc = rep.skipped > 0 ? EXIT_REJECT : EXIT_OK;
    tsl_export_report_free(&rep);
    return cli_flush(CMD, rc, true, "");
}
