/* cmd_verify.c - `tsl verify`: the relying party's check of a Referenced Token (spec
 * section 8.3): validate it, get its Status List Token (given offline, from the cache
 * or over HTTP), verify that, and print the status. */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Exit code for "the status could not be determined". */
#define EXIT_UNDETERMINED 3
#define VERIFY_MAX_LIST_TOKENS 64

/* The appliers of the options that are more than a value (CLI_OPT_FN). */
static int parse_time(const char *cmd, void *target, const char *arg)
{
    uint64_t n;
    if (!cli_parse_u64(arg, &n) || n > (uint64_t)INT64_MAX / 2) {
        cli_err(cmd, "--time: bad number \"%s\"", arg);
        return EXIT_USAGE;
    }
    if (n == 0) {
        cli_err(cmd, "--time: must be positive");
        return EXIT_USAGE;
    }
    *(int64_t *)target = (int64_t)n;
    return EXIT_OK;
}

static int parse_cacert(const char *cmd, void *target, const char *arg)
{
    /* Checked here so that a typo is a usage error, not a failed fetch (3), and a FIFO
     * is refused before curl blocks opening it. */
    *(const char **)target = arg;
    return cli_regular_file(cmd, "--cacert", arg);
}

static int parse_inflated(const char *cmd, void *target, const char *arg)
{
    /* The library would clamp it to the ceiling silently; say so instead. */
    uint64_t n;
    if (!cli_parse_u64(arg, &n) || n == 0) {
        cli_err(cmd, "--max-inflated: bad number \"%s\" (bytes, positive)", arg);
        return EXIT_USAGE;
    }
    if (n > (uint64_t)TSL_MAX_INFLATED_CEILING) {
        cli_err(cmd, "--max-inflated: %s is over the ceiling of %zu bytes", arg,
                (size_t)TSL_MAX_INFLATED_CEILING);
        return EXIT_USAGE;
    }
    *(size_t *)target = (size_t)n;
    return EXIT_OK;
}

/* --eku-oid implies --require-eku. */
static int parse_eku_oid(const char *cmd, void *target, const char *arg)
{
    (void)cmd;
    tsl_trust_policy *p = target;
    p->require_eku = 1;
    p->eku_oid = arg;
    return EXIT_OK;
}

/* The status line: a name, or the number with its name for the other values. */
static void status_text(unsigned v, char *buf, size_t n)
{
    if (v <= TSL_STATUS_SUSPENDED)
        snprintf(buf, n, "%s", tsl_status_name(v));
    else
        snprintf(buf, n, "%u %s", v, tsl_status_name(v));
}

/* --json: the library's JSON of the outcome, with the exit status added last. */
static void print_json(tsl_status st, const tsl_check_result *r, const tsl_error *err,
                       int code)
{
    char *text = NULL;
    if (tsl_check_result_json(st, r, err, &text, NULL) == TSL_OK)
        printf("%.*s,\"exit\":%d}\n", (int)strlen(text) - 1, text, code);
    tsl_free(text);
}

int cmd_verify(int argc, char **argv)
{
    cli_keys k = {NULL, NULL};
    tsl_verifier_opts vo;
    memset(&vo, 0, sizeof vo);
    tsl_check_opts co;
    memset(&co, 0, sizeof co);
    const char *lists[VERIFY_MAX_LIST_TOKENS];
    cli_strs list_tokens = {lists, 0};
    int64_t now = 0, at = 0;
    bool json = false;
    uint64_t timeout = 0, max_body = 0;
    const cli_opt opts[] = {
        CLI_FN("trust", &k, cli_opt_trust_or_keys, NULL,
               "FILE\ttrust anchor certificates (PEM), or else\n"
               "public keys, a JWK or a JWKS (repeatable)"),
        CLI_FN("key", &k, cli_opt_key, NULL, "FILE\tverification key: PEM, JWK or JWKS (repeatable)"),
        {"list-token", 0, CLI_OPT_STRS, &list_tokens, 0, VERIFY_MAX_LIST_TOKENS, NULL, NULL,
         NULL, "FILE\ta Status List Token or identifier list to use instead of\n"
                 "fetching (repeatable)"},
        CLI_STR("cache", &vo.cache_dir, "DIR\tkeep fetched Status List Tokens and identifier\n"
                "lists in DIR (0700, refused if a link, or open to others)"),
        CLI_FN("time", &at, parse_time, NULL, "T\tthe status at unix time T (?time=T)"),
        {"now", 0, CLI_OPT_I64, &now, 0, INT64_MAX / 2, NULL, NULL, NULL,
         "T\tthe current time (default: the clock)"},
        {"allow-http", 0, CLI_OPT_SET, &vo.allow_http, 1, 0, NULL, NULL, NULL,
         "allow plain http:// (default: https only)"},
        CLI_FN("cacert", &vo.ca_file, parse_cacert, NULL, "FILE\tCA certificates (PEM) for HTTPS"),
        CLI_FLAG("json", &json, "print each step and its outcome as one JSON object"),
        {"min-cache", 0, CLI_OPT_I64, &vo.min_cache, 0, INT64_MAX / 4, NULL, NULL, NULL,
         "S\tkeep a list token at least S seconds, even past its ttl\n"
         "(default 0; a revocation may then go unseen for S seconds)"},
        {"max-cache", 0, CLI_OPT_I64, &vo.max_cache, 0, INT64_MAX / 4, NULL, NULL, NULL,
         "S\tkeep it at most S seconds (default 86400), never past exp"},
        {"timeout", 0, CLI_OPT_U64, &timeout, 0, 86400000, NULL, NULL, NULL,
         "MS\ttotal time of a fetch (default 10000)"},
        {"max-body", 0, CLI_OPT_U64, &max_body, 0, (uint64_t)1 << 30, NULL, NULL, NULL,
         "BYTES\tlargest response accepted (default 16 MiB)"},
        CLI_FN("max-inflated", &vo.limits.max_inflated, parse_inflated, NULL,
               "BYTES\tlargest list once inflated (default 64 MiB, at most 4 GiB)"),
        {"skew", 0, CLI_OPT_I64, &vo.policy.skew, 0, 86400 * 365, NULL, NULL, NULL,
         "S\tclock skew allowed for exp, nbf and iat (default 0)"},
        {"require-eku", 0, CLI_OPT_SET, &vo.policy.require_eku, 1, 0, NULL, NULL, NULL,
         "an x5c-signed list token's leaf must have the\nstatus-signing EKU"},
        CLI_FN("eku-oid", &vo.policy, parse_eku_oid, NULL, "OID\tthat EKU's OID (the spec's is "
               "TBD); implies --require-eku"),
        CLI_STR("aud", &vo.kb_aud,
                "AUD\tthe SD-JWT's key-binding JWT must be present, with aud AUD"),
        CLI_STR("nonce", &co.kb_nonce, "N\t... and with nonce N"),
        {"require-kb", 0, CLI_OPT_SET, &vo.require_kb, 1, 0, NULL, NULL, NULL,
         "a key-binding JWT must be present (refuses JWT, CWT, mdoc)"},
        {"kb-max-age", 0, CLI_OPT_I64, &vo.kb_max_age, 0, 86400 * 365, NULL, NULL, NULL,
         "S\tthe key-binding JWT's iat at most S seconds old"},
        CLI_OPT_END};
    static const cli_cmd cmd = {
        "verify", "[OPTIONS] [TOKEN_FILE|-]",
        "Checks the status of a Referenced Token (JWT, SD-JWT, CWT or mdoc): validates\n"
        "the token, resolves its Status List Token (a --list-token whose sub is the\n"
        "token's uri, the cache, or an HTTPS request), verifies that token and prints\n"
        "the status: VALID, INVALID, SUSPENDED, or the number with its name.",
        "0 VALID; 1 the Referenced Token must be rejected (status not VALID,\n"
        "index out of bounds, or the token itself invalid); 2 usage or I/O error; 3 the\n"
        "status could not be determined (fetch failed, the Status List Token failed a\n"
        "check, no trusted key).",
        "unknown or incomplete option"};
    int first, rc = cli_opts_parse(&cmd, opts, argc, argv, &first);
    if (rc == CLI_OPTS_RUN)
        rc = EXIT_OK;
    else
        goto out;
    size_t nlists = list_tokens.n;
    if (timeout != 0)
        vo.timeout_ms = (long)timeout;
    if (max_body != 0)
        vo.max_body = (size_t)max_body;
    if (rc != EXIT_OK)
        goto out;
    if (first + 1 < argc) {
        cli_err("verify", "one token file at most");
        rc = EXIT_USAGE;
        goto out;
    }
    vo.policy.keys = k.keys;
    vo.policy.trust = k.trust;
    vo.policy.now = now;
    vo.policy.algs = tsl_keyset_algs(k.keys);

    tsl_error err;
    tsl_error_clear(&err);
    tsl_verifier *v = NULL;
    tsl_status st = tsl_verifier_new(&vo, &v, &err);
    if (st != TSL_OK) {
        rc = cli_fail("verify", &err, st);
        goto out;
    }
    for (size_t i = 0; i < nlists && rc == EXIT_OK; i++) {
        unsigned char *buf = NULL;
        size_t len = 0;
        rc = cli_read_all("verify", lists[i], TSL_DEFAULT_MAX_INPUT, &buf, &len);
        if (rc != EXIT_OK) {
            rc = EXIT_USAGE;
            break;
        }
        tsl_error_clear(&err);
        st = tsl_verifier_add_list_token(v, buf, len, &err);
        tsl_free(buf);
        if (st != TSL_OK) {
            cli_err("verify", "--list-token %s: %s", lists[i], err.msg);
            rc = EXIT_UNDETERMINED;
        }
    }
    unsigned char *tok = NULL;
    size_t tlen = 0;
    if (rc == EXIT_OK) {
        /* A token over the input limit comes back as EXIT_REJECT: it is rejected. */
        rc = cli_read_all("verify", first < argc ? argv[first] : NULL,
                          TSL_DEFAULT_MAX_INPUT, &tok, &tlen);
    }
    if (rc == EXIT_OK) {
        tsl_check_result res;
        tsl_error_clear(&err);
        co.time = at;
        st = tsl_verifier_check_opts(v, tok, tlen, &co, &res, &err);
        if (st == TSL_OK)
            rc = res.value == TSL_STATUS_VALID ? EXIT_OK : EXIT_REJECT;
        else if (st == TSL_ERR_NOMEM || st == TSL_ERR_ARG)
            rc = EXIT_USAGE;
        else if (res.stage == TSL_STAGE_REFERENCED_TOKEN || res.stage == TSL_STAGE_STATUS)
            rc = EXIT_REJECT; /* the Referenced Token itself, or its index */
        else
            rc = EXIT_UNDETERMINED;
        if (json) {
            print_json(st, &res, &err, rc);
        } else if (st == TSL_OK) {
            char line[64];
            status_text(res.value, line, sizeof line);
            printf("%s\n", line);
        }
        if (st != TSL_OK)
            cli_err("verify", "%s", err.msg[0] ? err.msg : tsl_strerror(st));
    }
    tsl_free(tok);
    tsl_verifier_free(v);
out:
    cli_keys_free(&k);
    return rc;
}
