/* cmd_probe.c - `tsl probe URL`: audits a live Status List endpoint of any
 * implementation (tsl_probe_run) and prints each finding; the exit status says whether
 * a MUST failed, so CI can gate on it. */
#include "cli.h"

#include <string.h>

static int parse_cacert(const char *cmd, void *target, const char *arg)
{
    *(const char **)target = arg;
    return cli_regular_file(cmd, "--cacert", arg);
}

int cmd_probe(int argc, char **argv)
{
    cli_keys k = {NULL, NULL};
    tsl_probe_opts o;
    memset(&o, 0, sizeof o);
    bool json = false, strict = false;
    uint64_t timeout = 0, max_body = 0;
    int64_t now = 0;
    const cli_opt opts[] = {
        CLI_FN("key", &k, cli_opt_key, NULL,
               "FILE\tthe publisher's public key: PEM, JWK or JWKS (repeatable);\n"
               "without --key or --trust signatures are not checked"),
        CLI_FN("trust", &k, cli_opt_trust_or_keys, NULL,
               "FILE\ttrust anchor certificates (PEM) for x5c, or else keys"),
        CLI_FLAG("json", &json, "print the findings as one JSON object (for CI)"),
        {"allow-http", 0, CLI_OPT_SET, &o.allow_http, 1, 0, NULL, NULL, NULL,
         "allow plain http:// (default: https only)"},
        CLI_FN("cacert", &o.ca_file, parse_cacert, NULL, "FILE\tCA certificates (PEM) for HTTPS"),
        {"timeout", 0, CLI_OPT_U64, &timeout, 1, 600000, NULL, NULL, NULL,
         "MS\ttime of each request (default 10000)"},
        {"max-body", 0, CLI_OPT_U64, &max_body, 1, (uint64_t)1 << 30, NULL, NULL, NULL,
         "BYTES\tlargest body read (default 16 MiB)"},
        {"now", 0, CLI_OPT_I64, &now, 0, INT64_MAX / 2, NULL, NULL, NULL,
         "T\tjudge times as of unix time T (default: the clock)"},
        CLI_FLAG("strict", &strict, "exit 1 when a SHOULD failed too"),
        CLI_OPT_END};
    static const cli_cmd cmd = {
        "probe", "[OPTIONS] URL",
        "Audits the Status List endpoint at URL (the uri a Referenced Token names), of\n"
        "any implementation, against draft-ietf-oauth-status-list-21 and RFC 9110/9111:\n"
        "content negotiation (JWT, CWT, none, */*, q-values, several types, 406) and\n"
        "Content-Type; caching (ETag/304, Last-Modified, Cache-Control against ttl and\n"
        "exp, Vary, gzip, CORS, HEAD); the tokens (typ, alg, signature, sub == URL, iat,\n"
        "exp, ttl, CWT tag 18 and claim keys, JWT and CWT carrying the same list); the\n"
        "list (bits, base64url without padding, zlib not gzip or raw, a clean end,\n"
        "compression level, size and share of non-zero entries against herd privacy);\n"
        "?time= history; an advertised aggregation_uri. Each finding: pass/FAIL/skip,\n"
        "severity (MUST, SHOULD, advice), id, spec section, evidence.",
        "0 no MUST failed (with --strict: no SHOULD either); 1 a MUST failed; 2 usage,\n"
        "or no HTTP answer at all.",
        "unknown or incomplete option"};
    int first, rc = cli_opts_parse(&cmd, opts, argc, argv, &first);
    if (rc != CLI_OPTS_RUN)
        goto out;
    rc = EXIT_OK;
    if (first + 1 != argc) {
        cli_err("probe", "give exactly one URL");
        rc = EXIT_USAGE;
        goto out;
    }
    o.timeout_ms = (long)timeout;
    o.max_body = (size_t)max_body;
    o.policy.keys = k.keys;
    o.policy.trust = k.trust;
    o.policy.now = now;
    o.policy.algs = tsl_keyset_algs(k.keys);
    tsl_error err;
    tsl_error_clear(&err);
    char *report = NULL;
    tsl_probe_counts c;
    tsl_status st = tsl_probe_run(argv[first], &o, json ? TSL_PROBE_JSON : 0, &report, &c, &err);
    if (st != TSL_OK) {
        /* a URL we refuse is a usage error; no answer at all is I/O */
        cli_err("probe", "%s", err.msg[0] ? err.msg : tsl_strerror(st));
        rc = EXIT_USAGE;
        goto out;
    }
    bool ok = fputs(report, stdout) >= 0;
    tsl_free(report);
    rc = cli_flush("probe", EXIT_OK, ok, "");
    if (rc == EXIT_OK && (c.must_failed || (strict && c.should_failed)))
        rc = EXIT_REJECT;
out:
    cli_keys_free(&k);
    return rc;
}
