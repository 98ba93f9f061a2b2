/* cmd_publish.c - `tsl publish ID` signs a stored list's current statuses into Status
 * List Tokens with the list's key and records them (dropping old ones past the
 * retention); `tsl token ID` prints the current recorded token, or the one valid at a
 * given time: JWT text and a newline, or the CWT's raw bytes. */
#include "store_cli.h"

#include <stdlib.h>
#include <string.h>

/* --retention: seconds, or "forever" (-1). */
static int parse_retention(const char *cmd, void *target, const char *arg)
{
    (void)cmd;
    uint64_t v;
    if (strcmp(arg, "forever") == 0) {
        *(int64_t *)target = -1;
    } else if (cli_parse_u64(arg, &v) && v <= (uint64_t)INT64_MAX / 2) {
        *(int64_t *)target = (int64_t)v;
    } else {
        return CLI_BAD;
    }
    return EXIT_OK;
}

int cmd_publish(int argc, char **argv)
{
    const char *db = NULL;
    tsl_format fm = 0;
    int64_t retention = STORE_CLI_DEFAULT_RETENTION, now = 0;
    const cli_opt opts[] = {
        CLI_FN("format", &fm, cli_opt_format, CLI_FORMAT_BAD,
               "F\tjwt or cwt (default: the list's formats)"),
        CLI_FN("retention", &retention, parse_retention, "is not a number of seconds or forever",
               "S\tdrop recorded tokens that expired more than S seconds ago\n"
               "(default 2592000, 30 days); forever keeps them all"),
        {"now", 0, CLI_OPT_I64, &now, 1, INT64_MAX / 2, "is not a positive unix time", NULL,
         NULL, "UNIXTIME\tsign as of this time (default: now)"},
        CLI_DB(&db),
        CLI_PKCS11_MODULE,
        CLI_OPT_END};
    static const cli_cmd cmd = {
        "publish", "ID [--format jwt|cwt] [--retention S|forever]\n[--now UNIXTIME] [--db PATH]",
        "Signs the current statuses of list ID with its key, in every form the list was\n"
        "created with (or only --format), records the tokens, and prints one line per\n"
        "token: form, size, iat, exp. Versions only move forward: a token a concurrent\n"
        "publish made stale is not recorded, the line says so, and the exit status is 0.",
        "0 success, 1 rejected (unknown list, key unusable), 2 usage or\nI/O error.", NULL};
    int first, prc = cli_opts_parse(&cmd, opts, argc, argv, &first);
    if (prc != CLI_OPTS_RUN)
        return prc;
    unsigned formats = fm == 0 ? 0 : fm == TSL_FORMAT_JWT ? TSL_PUBLISH_JWT : TSL_PUBLISH_CWT;
    if (argc - first != 1) {
        cli_err("publish", "exactly one list ID is required");
        return EXIT_USAGE;
    }
    const char *id = argv[first];
    tsl_store *store = NULL;
    int rc = store_cli_open("publish", db, &store);
    if (rc != EXIT_OK)
        return rc;
    tsl_error err;
    tsl_error_clear(&err);
    tsl_publish_result res;
    tsl_status st = tsl_store_publish_ex(store, id, formats, now, retention, &res, &err);
    if (st == TSL_OK && res.segments_corrupt > 0)
        fprintf(stderr, "tsl publish: list \"%s\": %llu stored segment(s) failed their check "
                "(a damaged store?) and were rebuilt from the statuses\n", id,
                (unsigned long long)res.segments_corrupt);
    char *text = NULL;
    if (st == TSL_OK)
        st = tsl_store_publish_report(store, id, formats, &res, &text, &err);
    tsl_store_close(store);
    if (text != NULL)
        fputs(text, stdout);
    tsl_free(text);
    if (st != TSL_OK)
        return cli_fail("publish", &err, st);
    return cli_flush("publish", EXIT_OK, true, " (the tokens are recorded)");
}

int cmd_token(int argc, char **argv)
{
    const char *db = NULL;
    tsl_format format = 0;
    int64_t at = 0;
    const cli_opt opts[] = {
        CLI_FN("format", &format, cli_opt_format, CLI_FORMAT_BAD,
               "F\tjwt or cwt (default: jwt, or cwt for a list that publishes\nonly CWTs)"),
        {"at", 0, CLI_OPT_I64, &at, 1, INT64_MAX / 2, "is not a positive unix time", NULL, NULL,
         "UNIXTIME\tthe token valid at that time"},
        CLI_DB(&db),
        CLI_OPT_END};
    static const cli_cmd cmd = {
        "token", "ID [--format jwt|cwt] [--at UNIXTIME] [--db PATH]",
        "Prints the newest recorded token of list ID, or with --at the newest one valid\n"
        "at that time (iat <= UNIXTIME < exp): the compact JWT and a newline, or with\n"
        "--format cwt the CWT's raw bytes.",
        "0 success, 1 unknown list or no such token, 2 usage or I/O.", NULL};
    int first, prc = cli_opts_parse(&cmd, opts, argc, argv, &first);
    if (prc != CLI_OPTS_RUN)
        return prc;
    if (argc - first != 1) {
        cli_err("token", "exactly one list ID is required");
        return EXIT_USAGE;
    }
    const char *id = argv[first];
    tsl_store *store = NULL;
    int rc = store_cli_open_mode("token", db, STORE_CLI_READ, &store);
    if (rc != EXIT_OK)
        return rc;
    if (format == 0) {
        tsl_list_info info;
        if ((rc = store_cli_info("token", store, id, &info)) != EXIT_OK) {
            tsl_store_close(store);
            return rc;
        }
        format = info.formats == TSL_PUBLISH_CWT ? TSL_FORMAT_CWT : TSL_FORMAT_JWT;
        tsl_list_info_free(&info);
    }
    tsl_error err;
    tsl_error_clear(&err);
    uint8_t *tok = NULL;
    size_t len = 0;
    tsl_status st = tsl_store_token(store, id, format, at, &tok, &len, NULL, NULL, &err);
    tsl_store_close(store);
    if (st != TSL_OK)
        return cli_fail("token", &err, st);
    int ok = fwrite(tok, 1, len, stdout) == len &&
             (format == TSL_FORMAT_CWT || putchar('\n') != EOF);
    tsl_free(tok);
    return cli_flush("token", EXIT_OK, ok, "");
}
