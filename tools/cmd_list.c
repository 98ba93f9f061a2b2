/* cmd_list.c - `tsl list create|ls|show`: define a status list in the issuer store
 * (its URI, bits, size, signing key and token settings), list the ids, and show one
 * list's settings and counters, as text or as one JSON object. */
#include "store_cli.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* The usage of every subcommand; the options come from the subcommand's table. */
static const cli_cmd list_cmd = {
    "list",
    "create ID --uri URI --bits B --size N --key KEY [OPTIONS]\n"
    "tsl list ls [--db PATH]\ntsl list show ID [--json] [--db PATH]",
    "create  adds a list of N entries of B bits, all VALID except the decoys; ID is\n"
    "        1 to 64 of A-Z a-z 0-9 . _ - (the options below are create's).\n"
    "ls      prints the ids, one per line.\n"
    "show    prints the settings, counts per status, allocated, free, last published\n"
    "        and version; --json: one JSON object.",
    "0 success, 1 rejected (unknown or existing id or path, bad key,\n"
    "too large), 2 usage or I/O error (a bad --uri, a missing or damaged store).",
    NULL};

/* The absolute path of an existing file, so the list still finds it from elsewhere.
 * Free the result. */
static char *absolute(const char *what, const char *path)
{
    char *p = realpath(path, NULL);
    if (p == NULL)
        cli_err("list", "%s %s: %s", what, path, strerror(errno));
    return p;
}

/* --formats: jwt, cwt or both. */
static int parse_formats(const char *cmd, void *target, const char *arg)
{
    (void)cmd;
    return tsl_publish_formats_parse(arg, target, NULL) == TSL_OK ? EXIT_OK : CLI_BAD;
}

/* --decoy-value: a status other than VALID, which unused entries already hold. */
static int parse_decoy_value(const char *cmd, void *target, const char *arg)
{
    unsigned dv;
    if (tsl_status_parse(arg, strlen(arg), &dv, NULL) != TSL_OK) {
        cli_err(cmd, "--decoy-value: \"%s\" is not a status name or 0-255", arg);
        return EXIT_USAGE;
    }
    if (dv == TSL_STATUS_VALID) {
        cli_err(cmd, "--decoy-value: VALID is what unused entries already are");
        return EXIT_USAGE;
    }
    *(unsigned *)target = dv;
    return EXIT_OK;
}

static int list_create(int argc, char **argv)
{
    tsl_list_spec info;
    memset(&info, 0, sizeof info);
    info.final_invalid = 1;
    const char *db = NULL, *key_arg = NULL, *x5c_arg = NULL;
    uint64_t bits = 0, id_length = 0;
    bool allow_http = false, force = false;
    char size_bad[80];
    snprintf(size_bad, sizeof size_bad, "is not a number of entries from 1 to %llu",
             (unsigned long long)TSL_STORE_MAX_SIZE);
    const char *secs = "is not a positive number of seconds";
    const cli_opt opts[] = {
        CLI_STR("uri", &info.uri, "URI\twhere the list is served: the sub of its tokens; an\n"
                "https URI of at most 1024 bytes whose path no other list has"),
        CLI_FN("bits", &bits, cli_opt_bits, NULL, "B\tbits per entry: 1, 2, 4 or 8"),
        {"size", 0, CLI_OPT_U64, &info.size, 1, TSL_STORE_MAX_SIZE, size_bad, NULL, NULL,
         "N\tnumber of entries"},
        CLI_STR("key", &key_arg, "KEY\tsigning key file (PEM or JWK); its absolute path is\n"
                "recorded, never the key; or a PKCS#11 URI pkcs11:token=T;object=O,\n"
                "recorded as given (a pin-value is refused)"),
        CLI_PKCS11_MODULE,
        {"alg", 0, CLI_OPT_ALG, &info.alg, 0, 0, "is not a supported algorithm", NULL, NULL,
         "ALG\tdefault from the key, as `tsl sign` does"},
        CLI_STR("kid", &info.kid, "KID\tdefault: the key's kid, else its RFC 7638 thumbprint"),
        CLI_STR("x5c", &x5c_arg, "PEM\tcertificate chain for x5c / x5chain"),
        {"ttl", 0, CLI_OPT_I64, &info.ttl, 1, INT64_MAX / 2, secs, NULL, NULL,
         "S\tttl claim of the tokens (default: none)"},
        {"lifetime", 0, CLI_OPT_I64, &info.lifetime, 1, INT64_MAX / 2, secs, NULL, NULL,
         "S\texp - iat of the tokens (default 86400)"},
        CLI_FN("formats", &info.formats, parse_formats, "is not jwt, cwt, jwt,cwt or idlist",
               "F\tjwt, cwt or jwt,cwt (default) for `tsl publish`;\n"
               "idlist: an ISO 18013-5 identifier list (--bits 1)"),
        {"id-length", 0, CLI_OPT_U64, &id_length, TSL_STORE_ID_MIN, TSL_STORE_ID_MAX,
         "is not a number of bytes from 8 to 64", NULL, NULL,
         "L\tidlist: bytes of each identifier, 8 to 64 (default 16;\n"
         "8 or 9 bytes hold at most 2^32 entries)"},
        {"decoys", 0, CLI_OPT_U64, &info.decoys, 0, UINT64_MAX, "is not a non-negative integer",
         NULL, NULL, "N\tentries set to the decoy value and never allocated"},
        CLI_FN("decoy-value", &info.decoy_value, parse_decoy_value, NULL,
               "V\tstatus of the decoys (default INVALID)"),
        CLI_STR("aggregation-uri", &info.aggregation_uri, "URI\taggregation_uri of the StatusList"),
        {"no-final-invalid", 0, CLI_OPT_SET, &info.final_invalid, (uint64_t)-1, 0, NULL, NULL,
         NULL, "allow INVALID entries to change without --force"},
        CLI_FLAG("allow-http", &allow_http, "accept http:// for --uri and --aggregation-uri"),
        CLI_FLAG("force", &force, "create a list larger than common verifiers accept"),
        CLI_DB(&db),
        CLI_OPT_END};
    int first, prc = cli_opts_parse(&list_cmd, opts, argc, argv, &first);
    if (prc != CLI_OPTS_RUN)
        return prc;
    info.bits = (unsigned)bits;
    info.id_bytes = (unsigned)id_length;
    bool have_size = info.size != 0; /* 0 is refused above */
    if (allow_http)
        info.create_flags |= TSL_CREATE_ALLOW_HTTP;
    if (force)
        info.create_flags |= TSL_CREATE_LARGE;
    if (first >= argc) {
        cli_err("list", "create: the list ID is required");
        return EXIT_USAGE;
    }
    if (argc - first > 1) {
        cli_err("list", "create: one ID only, \"%s\" is extra", argv[first + 1]);
        return EXIT_USAGE;
    }
    info.id = argv[first];
    if (info.uri == NULL || info.bits == 0 || !have_size || key_arg == NULL) {
        cli_err("list", "create: --uri, --bits, --size and --key are required");
        return EXIT_USAGE;
    }
    /* The settings and the size are checked again by the store; checked here first so
     * that a doomed create does not make a new, empty store. */
    tsl_error err;
    tsl_error_clear(&err);
    info.key_path = key_arg; /* made absolute below */
    /* A refused key reference (a pkcs11: URI with a pin-value) is rejected input. */
    tsl_status kst = tsl_key_ref_check(key_arg, &err);
    if (kst != TSL_OK)
        return cli_fail("list", &err, kst);
    if (tsl_list_spec_check(&info, &err) != TSL_OK) {
        cli_err("list", "%s", err.msg);
        return EXIT_USAGE;
    }
    if (!(info.create_flags & TSL_CREATE_LARGE) &&
        tsl_store_size_check(info.bits, info.size, &err) != TSL_OK) {
        cli_err("list", "list \"%s\": %s; --force creates it anyway", info.id, err.msg);
        return EXIT_REJECT;
    }

    /* Check the key here too, to resolve the algorithm as `tsl sign` would and to name
     * the problem before anything is written. A pkcs11: URI is checked on its token. */
    tsl_status st = TSL_OK;
    int p11 = tsl_key_ref_is_pkcs11(key_arg);
    if (p11) {
        tsl_signer_opts so;
        memset(&so, 0, sizeof so);
        so.alg = info.alg;
        tsl_signer *sg = NULL;
        if ((st = tsl_key_ref_check(key_arg, &err)) == TSL_OK &&
            (st = tsl_signer_load(key_arg, &so, &sg, NULL, &err)) == TSL_OK)
            info.alg = tsl_signer_alg(sg);
        tsl_signer_free(sg);
        if (st != TSL_OK)
            return cli_fail("list", &err, st);
    } else {
        tsl_key *key = NULL;
        st = tsl_key_load(key_arg, &key, &err);
        if (st == TSL_OK && !tsl_key_is_private(key))
            st = cli_error(&err, TSL_ERR_KEY, "--key: not a private key or secret");
        if (st == TSL_OK && info.alg == TSL_ALG_UNKNOWN)
            info.alg = tsl_key_default_alg(key);
        if (st == TSL_OK)
            st = tsl_key_check_alg(key, info.alg, &err);
        tsl_key_free(key);
        if (st != TSL_OK)
            return cli_fail("list", &err, st);
    }

    /* A URI is kept as given (it names no file); a file by its absolute path. */
    char *key_path = p11 ? strdup(key_arg) : absolute("--key", key_arg);
    char *x5c_path = x5c_arg != NULL ? absolute("--x5c", x5c_arg) : NULL;
    if (key_path == NULL || (x5c_arg != NULL && x5c_path == NULL)) {
        free(key_path);
        free(x5c_path);
        return EXIT_USAGE;
    }
    info.key_path = key_path;
    info.x5c_path = x5c_path;

    tsl_store *store = NULL;
    int rc = store_cli_open_mode("list", db, STORE_CLI_CREATE, &store);
    if (rc == EXIT_OK && (st = tsl_store_list_create(store, &info, &err)) != TSL_OK)
        rc = cli_fail("list", &err, st);
    tsl_store_close(store);
    free(key_path);
    free(x5c_path);
    return rc;
}

static int list_ls(int argc, char **argv)
{
    const char *db = NULL;
    const cli_opt opts[] = {CLI_DB(&db), CLI_OPT_END};
    int first, prc = cli_opts_parse(&list_cmd, opts, argc, argv, &first);
    if (prc != CLI_OPTS_RUN)
        return prc;
    if (first < argc) {
        cli_err("list", "ls: takes no arguments, \"%s\" is extra", argv[first]);
        return EXIT_USAGE;
    }
    tsl_store *store = NULL;
    int rc = store_cli_open_mode("list", db, STORE_CLI_READ, &store);
    if (rc != EXIT_OK)
        return rc;
    tsl_error err;
    tsl_error_clear(&err);
    char **ids = NULL;
    size_t n = 0;
    tsl_status st = tsl_store_list_ids(store, &ids, &n, &err);
    if (st != TSL_OK) {
        rc = cli_fail("list", &err, st);
    } else {
        for (size_t k = 0; k < n; k++)
            printf("%s\n", ids[k]);
        tsl_store_ids_free(ids, n);
        rc = cli_flush("list", rc, true, "");
    }
    tsl_store_close(store);
    return rc;
}

static int list_show(int argc, char **argv)
{
    const char *db = NULL;
    bool json = false;
    const cli_opt opts[] = {CLI_FLAG("json", &json, "print one JSON object"), CLI_DB(&db),
                            CLI_OPT_END};
    int first, prc = cli_opts_parse(&list_cmd, opts, argc, argv, &first);
    if (prc != CLI_OPTS_RUN)
        return prc;
    if (argc - first != 1) {
        cli_err("list", "show: exactly one list ID is required");
        return EXIT_USAGE;
    }
    const char *id = argv[first];
    tsl_store *store = NULL;
    int rc = store_cli_open_mode("list", db, STORE_CLI_READ, &store);
    if (rc != EXIT_OK)
        return rc;
    tsl_error err;
    tsl_error_clear(&err);
    char *text = NULL;
    tsl_status st = tsl_store_list_show(store, id, json ? TSL_REPORT_JSON : 0, &text, &err);
    tsl_store_close(store);
    if (st != TSL_OK)
        return cli_fail("list", &err, st);
    printf(json ? "%s\n" : "%s", text); /* a write error shows in cli_flush */
    tsl_free(text);
    return cli_flush("list", EXIT_OK, true, "");
}

int cmd_list(int argc, char **argv)
{
    if (argc < 2) {
        cli_err("list", "a subcommand is required (create, ls, show)");
        return EXIT_USAGE;
    }
    const char *sub = argv[1];
    if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0 ||
        strcmp(sub, "help") == 0) {
        char *help[] = {"create", "--help", NULL}; /* create's options: the most */
        return list_create(2, help);
    }
    if (strcmp(sub, "create") == 0)
        return list_create(argc - 1, argv + 1);
    if (strcmp(sub, "ls") == 0)
        return list_ls(argc - 1, argv + 1);
    if (strcmp(sub, "show") == 0)
        return list_show(argc - 1, argv + 1);
    cli_err("list", "unknown subcommand \"%s\" (create, ls, show)", sub);
    return EXIT_USAGE;
}
