/* cmd_apikey.c - `tsl apikey create|list|revoke`: the issuer API's keys in the store.
 * create prints the secret once, alone on standard output (so that it can be piped
 * into a secret store), and says what it made on standard error; only the secret's
 * SHA-256 is stored, so it cannot be shown again. list and revoke never see a secret. */
#include "store_cli.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static const cli_cmd apikey_cmd = {
    "apikey",
    "create (--list ID | --all) --scope S [--expires T] [--db PATH]\n"
    "tsl apikey list [--json] [--db PATH]\ntsl apikey revoke ID [--db PATH]",
    "create  makes a key for list ID, or for every list (--all), with scopes S: a\n"
    "        comma-separated set of alloc, update, publish, read, create (create only\n"
    "        with --all), or all. It prints the secret once, alone on standard output,\n"
    "        and what it made on standard error; only the secret's SHA-256 is stored.\n"
    "list    prints id, list, scopes, created, expires and revoked of every key,\n"
    "        newest first (never a secret or a hash); --json: one JSON array.\n"
    "revoke  revokes key ID; its row stays, marked revoked.",
    "0 success, 1 rejected (no such list or key), 2 usage or I/O error.",
    NULL};

/* "2027-01-01T00:00:00Z" into *t; false if it is not exactly that form, in range. */
static bool parse_rfc3339(const char *s, int64_t *t)
{
    int y, mo, d, h, mi, se, n = 0;
    if (strlen(s) != 20 || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2dZ%n", &y, &mo, &d, &h, &mi, &se,
                                  &n) != 6 || n != 20)
        return false;
    for (int k = 0; k < 20; k++)
        if (k != 4 && k != 7 && k != 10 && k != 13 && k != 16 && k != 19 &&
            (s[k] < '0' || s[k] > '9'))
            return false;
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 59)
        return false;
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = se;
    time_t v = timegm(&tm);
    if (v == (time_t)-1 || tm.tm_mday != d) /* 2027-02-31 moves to March */
        return false;
    *t = (int64_t)v;
    return true;
}

/* --expires: a time (at), or seconds from the moment the key is made (in), which is
 * after the store is open: counted from the parse, `--expires 1` was refused as "not in
 * the future" whenever opening the store crossed a second. */
typedef struct {
    int64_t at;
    int64_t in;
} expiry;

/* --expires: seconds from now, Nd / Nh / Nm from now, or an RFC 3339 UTC time. */
static int parse_expires(const char *cmd, void *target, const char *arg)
{
    (void)cmd;
    expiry *out = target;
    int64_t at;
    if (parse_rfc3339(arg, &at)) {
        out->at = at;
        out->in = 0;
        return EXIT_OK;
    }
    size_t len = strlen(arg);
    uint64_t unit = 1, v;
    char num[24];
    if (len > 1 && strchr("dhm", arg[len - 1]) != NULL) {
        unit = arg[len - 1] == 'd' ? 86400 : arg[len - 1] == 'h' ? 3600 : 60;
        len--;
    }
    if (len == 0 || len >= sizeof num)
        return CLI_BAD;
    memcpy(num, arg, len);
    num[len] = '\0';
    /* At most about 100 years: far enough, and no overflow. */
    if (!cli_parse_u64(num, &v) || v == 0 || v > (uint64_t)3200000000u / unit)
        return CLI_BAD;
    out->at = 0;
    out->in = (int64_t)(v * unit);
    return EXIT_OK;
}

/* A time as RFC 3339 UTC into buf (21 bytes), or `none` for 0. */
static const char *when(int64_t t, char *buf, size_t size, const char *none)
{
    if (t == 0)
        return none;
    time_t tt = (time_t)t;
    struct tm tm;
    if (gmtime_r(&tt, &tm) == NULL || strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, size, "%lld", (long long)t);
    return buf;
}

static int apikey_create(int argc, char **argv)
{
    const char *db = NULL, *list = NULL, *scope = NULL;
    bool all = false;
    expiry ex = {0, 0};
    const cli_opt opts[] = {
        CLI_STR("list", &list, "ID\tthe list the key is for"),
        CLI_FLAG("all", &all, "a key for every list (needed for the create scope)"),
        CLI_STR("scope", &scope, "S\talloc,update,publish,read,create (any of them), or all"),
        CLI_FN("expires", &ex, parse_expires,
               "is not seconds, Nd, Nh, Nm or a time like 2027-01-01T00:00:00Z",
               "T\texpiry: seconds or Nd/Nh/Nm from now, or an RFC 3339 UTC time\n"
               "(2027-01-01T00:00:00Z); default: never"),
        CLI_DB(&db),
        CLI_OPT_END};
    int first, prc = cli_opts_parse(&apikey_cmd, opts, argc, argv, &first);
    if (prc != CLI_OPTS_RUN)
        return prc;
    if (first < argc) {
        cli_err("apikey", "create: takes no arguments, \"%s\" is extra", argv[first]);
        return EXIT_USAGE;
    }
    if ((list == NULL) == !all) {
        cli_err("apikey", "create: one of --list ID and --all is required");
        return EXIT_USAGE;
    }
    if (scope == NULL) {
        cli_err("apikey", "create: --scope is required");
        return EXIT_USAGE;
    }
    tsl_error err;
    tsl_error_clear(&err);
    unsigned mask = 0;
    tsl_status st = tsl_scopes_parse(scope, &mask, &err);
    if (st != TSL_OK) {
        cli_err("apikey", "--scope: %s", err.msg);
        return EXIT_USAGE;
    }
    tsl_store *store = NULL;
    int rc = store_cli_open("apikey", db, &store);
    if (rc != EXIT_OK)
        return rc;
    char secret[TSL_APIKEY_SECRET_SIZE];
    tsl_apikey_info info;
    int64_t expires = ex.in != 0 ? (int64_t)time(NULL) + ex.in : ex.at;
    st = tsl_apikey_create(store, list, mask, expires, &info, secret, &err);
    tsl_store_close(store);
    if (st != TSL_OK)
        return cli_fail("apikey", &err, st);
    /* The secret alone on stdout; what was made on stderr. */
    printf("%s\n", secret);
    rc = cli_flush("apikey", EXIT_OK, true,
                   " (the key is created: revoke it with tsl apikey revoke)");
    explicit_bzero(secret, sizeof secret);
    char names[64], t[32];
    fprintf(stderr, "tsl apikey: key %s created for %s%s, scopes %s, expires %s\n", info.id,
            info.list_id[0] ? "list " : "all lists", info.list_id,
            tsl_scopes_name(info.scopes, names, sizeof names),
            when(info.expires, t, sizeof t, "never"));
    return rc;
}

static int apikey_list(int argc, char **argv)
{
    const char *db = NULL;
    bool json = false;
    const cli_opt opts[] = {CLI_FLAG("json", &json, "print one JSON array"), CLI_DB(&db),
                            CLI_OPT_END};
    int first, prc = cli_opts_parse(&apikey_cmd, opts, argc, argv, &first);
    if (prc != CLI_OPTS_RUN)
        return prc;
    if (first < argc) {
        cli_err("apikey", "list: takes no arguments, \"%s\" is extra", argv[first]);
        return EXIT_USAGE;
    }
    tsl_store *store = NULL;
    int rc = store_cli_open_mode("apikey", db, STORE_CLI_READ, &store);
    if (rc != EXIT_OK)
        return rc;
    tsl_error err;
    tsl_error_clear(&err);
    tsl_apikey_info *keys = NULL;
    size_t n = 0;
    tsl_status st = tsl_apikey_list(store, &keys, &n, &err);
    tsl_store_close(store);
    if (st != TSL_OK)
        return cli_fail("apikey", &err, st);
    char names[64], c[32], e[32], r[32];
    if (json)
        printf("[");
    else
        printf("id\tlist\tscopes\tcreated\texpires\trevoked\n");
    for (size_t k = 0; k < n; k++) {
        const tsl_apikey_info *i = &keys[k];
        tsl_scopes_name(i->scopes, names, sizeof names);
        if (!json) {
            printf("%s\t%s\t%s\t%s\t%s\t%s\n", i->id, i->list_id[0] ? i->list_id : "*",
                   names, when(i->created, c, sizeof c, "-"),
                   when(i->expires, e, sizeof e, "never"), when(i->revoked, r, sizeof r, "-"));
            continue;
        }
        /* Ids and list ids are of [A-Za-z0-9._-]: nothing to escape. */
        printf("%s{\"id\":\"%s\",\"list\":", k ? "," : "", i->id);
        printf(i->list_id[0] ? "\"%s\"" : "null", i->list_id);
        printf(",\"scopes\":\"%s\",\"created\":%lld,\"expires\":", names,
               (long long)i->created);
        printf(i->expires ? "%lld" : "null", (long long)i->expires);
        printf(",\"revoked\":");
        printf(i->revoked ? "%lld}" : "null}", (long long)i->revoked);
    }
    if (json)
        printf("]\n");
    tsl_free(keys);
    return cli_flush("apikey", EXIT_OK, true, "");
}

static int apikey_revoke(int argc, char **argv)
{
    const char *db = NULL;
    const cli_opt opts[] = {CLI_DB(&db), CLI_OPT_END};
    int first, prc = cli_opts_parse(&apikey_cmd, opts, argc, argv, &first);
    if (prc != CLI_OPTS_RUN)
        return prc;
    if (argc - first != 1) {
        cli_err("apikey", "revoke: exactly one key ID is required");
        return EXIT_USAGE;
    }
    tsl_store *store = NULL;
    int rc = store_cli_open("apikey", db, &store);
    if (rc != EXIT_OK)
        return rc;
    tsl_error err;
    tsl_error_clear(&err);
    tsl_status st = tsl_apikey_revoke(store, argv[first], &err);
    tsl_store_close(store);
    if (st != TSL_OK)
        return cli_fail("apikey", &err, st);
    fprintf(stderr, "tsl apikey: key %s revoked\n", argv[first]);
    return EXIT_OK;
}

int cmd_apikey(int argc, char **argv)
{
    if (argc < 2) {
        cli_err("apikey", "a subcommand is required (create, list, revoke)");
        return EXIT_USAGE;
    }
    const char *sub = argv[1];
    if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0 || strcmp(sub, "help") == 0) {
        char *help[] = {"create", "--help", NULL}; /* create's options: the most */
        return apikey_create(2, help);
    }
    if (strcmp(sub, "create") == 0)
        return apikey_create(argc - 1, argv + 1);
    if (strcmp(sub, "list") == 0)
        return apikey_list(argc - 1, argv + 1);
    if (strcmp(sub, "revoke") == 0)
        return apikey_revoke(argc - 1, argv + 1);
    cli_err("apikey", "unknown subcommand \"%s\" (create, list, revoke)", sub);
    return EXIT_USAGE;
}
