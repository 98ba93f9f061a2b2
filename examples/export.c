/* export.c - an embedder exporting a store for static hosting without the `tsl`
 * command: it opens the store read-only and calls tsl_export(), which writes each
 * list's recorded tokens as files at the path of its uri under DIR/current, and an
 * nginx.conf serving them, atomically. It prints one line per exported list,
 *
 *     L1 /lists/L1 jwt,cwt max-age 3600
 *
 * names each skipped list on stderr (and exits 1 then), and exits 2 when nothing was
 * exported. Usage: export STORE DIR          (built by `make` into build/examples/) */
#include <tsl.h>

#include <stdio.h>

static void log_line(void *ctx, const char *line)
{
    (void)ctx;
    fprintf(stderr, "export: %s\n", line);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: export STORE DIR\n");
        return 2;
    }
    tsl_error err;
    tsl_error_clear(&err);
    tsl_store *st = NULL;
    /* Exporting only reads: a read-only handle will do, even on a store this process
     * cannot write. */
    if (tsl_store_open_mode(argv[1], TSL_STORE_READONLY, &st, &err) != TSL_OK) {
        fprintf(stderr, "export: %s\n", err.msg);
        return 2;
    }
    tsl_export_opts o = {.log = log_line}; /* JWT by default, no aggregation document */
    tsl_export_report rep;
    tsl_status s = tsl_export(st, argv[2], &o, &rep, &err);
    tsl_store_close(st);
    if (s != TSL_OK)
        return 2; /* err.msg was logged already */
    for (size_t k = 0; k < rep.n; k++) {
        const tsl_export_list *l = &rep.lists[k];
        printf("%s %s %s max-age %lld\n", l->id, l->path,
               l->formats == TSL_PUBLISH_JWT   ? "jwt"
               : l->formats == TSL_PUBLISH_CWT ? "cwt"
                                               : "jwt,cwt",
               (long long)l->max_age);
    }
    int rc = rep.skipped > 0 ? 1 : 0;
    tsl_export_report_free(&rep);
    return rc;
}
