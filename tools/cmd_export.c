/* cmd_export.c - `tsl export DIR`: option parsing over tsl_export() (src/publish/
 * export.c), which writes every stored list's current tokens as static files and an
 * nginx.conf serving them like `tsl serve`, atomically; this prints its messages and
 * what it exported, and exits 1 when a list was skipped, 2 when nothing was exported. */
#include "store_cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#define CMD "export"
/* The names in the usage text; tsl_export() owns them. */
#define VERSION_PREFIX ".tsl-export."

static void usage(FILE *f)
{
    fprintf(f,
            "usage: tsl export DIR [--db PATH] [--default-format jwt|cwt]\n"
            "                  [--aggregation-path PATH] [--listen ADDR:PORT]\n"
            "\n"
            "Writes the current recorded tokens of every stored list as static files under\n"
            "DIR/current, at the path of the list's uri (the host is ignored): PATH.jwt and\n"
            "PATH.jwt.gz (pre-gzipped) and PATH.cwt, for the forms the list publishes;\n"
            "with --aggregation-path, the aggregation document {\"status_lists\":[...]} as\n"
            "AGGREGATION-PATH.json; and DIR/nginx.conf, to be included in nginx's\n"
            "http {} block, which serves them like `tsl serve` does: Accept negotiation\n"
            "(an approximation, described in the file), 406, gzip_static, ETag,\n"
            "Last-Modified, Cache-Control max-age (computed now from ttl and exp), Vary,\n"
            "CORS, 405 for other methods and 204 for OPTIONS preflights. Each token\n"
            "file's mtime is its iat. Run it again after every `tsl publish`.\n"
            "\n"
            "The export is atomic: it is built in a new directory DIR/" VERSION_PREFIX "*,\n"
            "flushed to disk, then made live by renaming a symbolic link over DIR/current\n"
            "(DIR/nginx.conf links to current/nginx.conf); on any I/O error the previous\n"
            "export stays in place, whole. Symbolic links inside the tree are never\n"
            "followed; DIR/current must be the link tsl export made.\n"
            "\n"
            "  --db PATH              the store (default: $TSL_DB, else %s)\n"
            "  --default-format F     jwt (default) or cwt: served when the client accepts\n"
            "                         both equally (or sends no Accept)\n"
            "  --aggregation-path P   serve the aggregation document at path P\n"
            "  --listen ADDR:PORT     nginx listen address (default 127.0.0.1:8080)\n"
            "\n"
            "Exit status: 0 success, 1 a list could not be exported (not published, or a\n"
            "uri whose path cannot be a file; the other lists are exported), 2 usage or\n"
            "I/O error (nothing changed).\n",
            STORE_CLI_DEFAULT_DB);
}

/* Prints one of the export's messages as the command's. */
static void log_line(void *ctx, const char *line)
{
    (void)ctx;
    cli_err(CMD, "%s", line);
}

int cmd_export(int argc, char **argv)
{
    static const struct option opts[] = {{"db", required_argument, NULL, 'D'},
                                         {"default-format", required_argument, NULL, 'f'},
                                         {"aggregation-path", required_argument, NULL, 'a'},
                                         {"listen", required_argument, NULL, 'l'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *db = NULL;
    tsl_export_opts o = {.default_format = TSL_FORMAT_JWT, .log = log_line};
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'D': db = optarg; break;
        case 'f':
            if (!store_cli_parse_format(optarg, &o.default_format)) {
                cli_err(CMD, "--default-format: \"%s\" is not jwt or cwt", optarg);
                return EXIT_USAGE;
            }
            break;
        case 'a': o.aggregation_path = optarg; break;
        case 'l': o.listen = optarg; break;
        case 'h': usage(stdout); return EXIT_OK;
        default: usage(stderr); return EXIT_USAGE;
        }
    }
    if (argc - optind != 1) {
        cli_err(CMD, "exactly one DIR is required");
        return EXIT_USAGE;
    }
    tsl_store *store = NULL;
    int rc = store_cli_open(CMD, db, &store);
    if (rc != EXIT_OK)
        return rc;
    tsl_export_report rep;
    tsl_error err;
    tsl_status st = tsl_export(store, argv[optind], &o, &rep, &err);
    tsl_store_close(store);
    if (st != TSL_OK)
        return cli_exit_for(st); /* the message went to log_line */
    for (size_t k = 0; k < rep.n; k++)
        printf("%s: %s -> %s/current%s (%s), max-age %lld\n", rep.lists[k].id,
               rep.lists[k].uri, rep.dir, rep.lists[k].path,
               store_cli_formats_name(rep.lists[k].formats), (long long)rep.lists[k].max_age);
    printf("nginx: %s/nginx.conf (listen %s)\n", rep.dir,
           o.listen != NULL ? o.listen : "127.0.0.1:8080");
    rc = rep.skipped > 0 ? EXIT_REJECT : EXIT_OK;
    tsl_export_report_free(&rep);
    if (fflush(stdout) != 0 && rc == EXIT_OK) {
        cli_err(CMD, "write error on standard output");
        rc = EXIT_USAGE;
    }
    return rc;
}
