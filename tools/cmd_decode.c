/* cmd_decode.c - `tsl decode`: read a StatusList (JSON object or CBOR map, told apart
 * by its first byte), then answer --index lookups or print a summary. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

#define DECODE_MAX_INDEXES 1024

typedef struct {
    const char *format; /* json, cbor, jwt, cwt */
    const tsl_list *list;
    const tsl_token *token; /* NULL for a bare StatusList */
    bool verified;
} decoded;

/* The --index values, in the order given. */
typedef struct {
    uint64_t *v;
    size_t n;
} indexes;

static int add_index(const char *cmd, void *target, const char *arg)
{
    indexes *ix = target;
    if (ix->n == DECODE_MAX_INDEXES) {
        cli_err(cmd, "more than %d --index options", DECODE_MAX_INDEXES);
        return EXIT_USAGE;
    }
    if (!cli_parse_u64(arg, &ix->v[ix->n++])) {
        cli_err(cmd, "--index: \"%s\" is not a non-negative integer", arg);
        return EXIT_USAGE;
    }
    return EXIT_OK;
}

int cmd_decode(int argc, char **argv)
{
    static uint64_t idx[DECODE_MAX_INDEXES];
    static unsigned vals[DECODE_MAX_INDEXES];
    static const char *idhex[CLI_IDLIST_MAX_IDS];
    indexes ix = {idx, 0};
    cli_ids ids = {idhex, 0};
    bool json = false;
    tsl_limits lim;
    tsl_limits_default(&lim);
    cli_keys v = {NULL, NULL}; /* --key, --trust */
    tsl_verify_opts vo;
    memset(&vo, 0, sizeof vo);
    uint64_t max_inflated = lim.max_inflated;
    char inflated_bad[48];
    snprintf(inflated_bad, sizeof inflated_bad, "is not 1 to %zu",
             (size_t)TSL_MAX_INFLATED_CEILING);
    const char *secs = "is not a number of seconds";
    const cli_opt opts[] = {
        CLI_FN("index", &ix, add_index, NULL, "I\tlook up entry I (repeatable, up to 1024)"),
        CLI_FN("id", &ids, cli_opt_id, NULL, "HEX\tan identifier list: is HEX listed? "
               "(repeatable)"),
        CLI_FLAG("json", &json, "print the summary (and lookups) as one JSON object"),
        CLI_FN("key", &v, cli_opt_key, NULL, "KEY\tverification key: PEM, JWK or JWKS (repeatable)"),
        CLI_FN("trust", &v, cli_opt_trust, NULL, "CERT\ttrust anchor certificates (PEM) for x5c"),
        CLI_STR("uri", &vo.sub, "URI\tthe expected sub (the Referenced Token's uri)"),
        {"now", 0, CLI_OPT_I64, &vo.policy.now, 0, INT64_MAX / 2, secs, NULL, NULL,
         "UNIXTIME\tthe time to check exp and iat against (default: now)"},
        {"skew", 0, CLI_OPT_I64, &vo.policy.skew, 0, INT64_MAX / 2, secs, NULL, NULL,
         "SECONDS\tclock skew allowed for exp, nbf and iat (default 0)"},
        CLI_FN("alg", &vo.policy.algs, cli_opt_alg_bit, NULL, "ALG\tallow ALG (repeatable); "
               "default: every signature\nalgorithm, plus HS256 when a --key is a secret"),
        {"require-eku", 0, CLI_OPT_SET, &vo.policy.require_eku, 1, 0, NULL, NULL, NULL,
         "the x5c leaf must have the status-signing EKU"},
        CLI_STR("eku-oid", &vo.policy.eku_oid, "OID\tthat EKU's OID (the spec's is TBD)"),
        {"max-inflated", 0, CLI_OPT_U64, &max_inflated, 1, TSL_MAX_INFLATED_CEILING,
         inflated_bad, NULL, NULL, "N\trefuse lists that inflate to more than N bytes"},
        CLI_OPT_END};
    static const cli_cmd cmd = {
        "decode", "[OPTIONS] [FILE|-]",
        "Reads a StatusList object (JSON, spec section 4.2, or CBOR, 4.3) or a Status\n"
        "List Token (a JWT, or a CWT as raw bytes, hex or base64url), or an ISO 18013-5\n"
        "identifier list (application/identifierlist+cwt), told apart by the\n"
        "bytes. With --id HEX, says whether HEX is listed. With --index, prints \"I<TAB>VALUE\" for each index; without, a summary.\n"
        "A token is verified first when --key or --trust is given; without them the\n"
        "signature is NOT verified, which is said on stderr.",
        "0 success, 1 input rejected, verification failed or an index out of\n"
        "range, 2 usage or I/O error.", NULL};
    int first, rc = cli_opts_parse(&cmd, opts, argc, argv, &first);
    /* After --help, rc < 0 skips the work and still frees what options loaded. */
    rc = rc == CLI_OPTS_RUN ? EXIT_OK : rc == EXIT_OK ? -1 : rc;
    lim.max_inflated = (size_t)max_inflated;
    size_t nidx = ix.n;
    if (rc == EXIT_OK && argc - first > 1) {
        cli_err("decode", "one input file at most");
        rc = EXIT_USAGE;
    }
    unsigned char *buf = NULL;
    size_t len = 0;
    if (rc == EXIT_OK)
        rc = cli_read_all("decode", first < argc ? argv[first] : NULL, lim.max_input, &buf,
                          &len);
    tsl_error err;
    tsl_error_clear(&err);
    tsl_status st = TSL_OK;
    tsl_list *l = NULL;
    tsl_token *t = NULL;
    decoded d = {NULL, NULL, NULL, false};
    tsl_form in = rc == EXIT_OK ? tsl_detect_form(buf, len, NULL, NULL) : TSL_FORM_EMPTY;
    /* An identifier list has a decoder of its own (decode_idlist.c). */
    tsl_idlist *il = NULL;
    tsl_status ist = rc == EXIT_OK && (in == TSL_FORM_CBOR || in == TSL_FORM_TEXT)
                         ? tsl_idlist_parse(buf, len, &lim, &il, &err)
                         : TSL_ERR_MALFORMED;
    /* One that names its media type but does not parse: its own error, not a Status
     * List Token's. */
    if (ist != TSL_OK && rc == EXIT_OK && memmem(buf, len, "identifierlist+cwt", 18) != NULL) {
        tsl_free(buf);
        cli_keys_free(&v);
        return cli_fail("decode", &err, ist);
    }
    tsl_error_clear(&err);
    if (ist == TSL_OK) {
        rc = nidx > 0 ? (cli_err("decode", "--index: an identifier list has no indices; "
                                 "use --id"), EXIT_USAGE)
                      : cli_decode_idlist(il, &v, &vo, &ids, json);
        tsl_idlist_free(il);
        tsl_free(buf);
        cli_keys_free(&v);
        return rc;
    }
    if (rc == EXIT_OK && ids.n > 0) {
        cli_err("decode", "--id: the input is not an identifier list");
        rc = EXIT_REJECT;
    }
    if (rc == EXIT_OK &&
        (in == TSL_FORM_EMPTY || in == TSL_FORM_JSON || in == TSL_FORM_CBOR_MAP)) {
        st = tsl_list_parse(buf, len, &lim, &l, &err);
        d.format = in == TSL_FORM_JSON ? "json" : "cbor";
        d.list = l;
        if (st == TSL_OK && (v.keys != NULL || v.trust != NULL))
            fprintf(stderr, "tsl decode: note: a bare StatusList carries no signature; "
                            "--key/--trust were not used\n");
    } else if (rc == EXIT_OK) {
        st = tsl_token_parse(buf, len, &lim, &t, &err);
        if (st == TSL_OK) {
            d.format = tsl_token_format(t) == TSL_FORMAT_JWT ? "jwt" : "cwt";
            d.list = tsl_token_list(t);
            d.token = t;
            if (v.keys != NULL || v.trust != NULL) {
                if (vo.policy.algs == 0)
                    vo.policy.algs = tsl_keyset_algs(v.keys);
                vo.policy.keys = v.keys;
                vo.policy.trust = v.trust;
                st = tsl_token_verify(t, &vo, &err);
                d.verified = st == TSL_OK;
            } else {
                fprintf(stderr, "tsl decode: warning: signature NOT verified (no --key or "
                                "--trust given)\n");
            }
        }
    }
    tsl_free(buf);
    if (rc == EXIT_OK && st != TSL_OK)
        rc = cli_fail("decode", &err, st);

    /* Check every index before printing any, so output is all or nothing. */
    for (size_t k = 0; rc == EXIT_OK && k < nidx; k++) {
        if (tsl_list_get(d.list, idx[k], &vals[k], NULL) != TSL_OK) {
            cli_err("decode", "index %llu is out of range (the list has %llu entries)",
                    (unsigned long long)idx[k], (unsigned long long)tsl_list_size(d.list));
            rc = EXIT_REJECT;
        }
    }
    if (rc == EXIT_OK) {
        if (nidx > 0 && !json) {
            for (size_t k = 0; k < nidx; k++)
                printf("%llu\t%u\n", (unsigned long long)idx[k], vals[k]);
        } else {
            char *text = NULL;
            st = tsl_list_summary(d.list, d.token, d.verified, d.format, idx, vals, nidx,
                                  json ? TSL_REPORT_JSON : 0, &text, &err);
            if (st != TSL_OK)
                rc = cli_fail("decode", &err, st);
            else /* a write error shows in fflush below */
                printf(json ? "%s\n" : "%s", text);
            tsl_free(text);
        }
        rc = cli_flush("decode", rc, true, "");
    }
    tsl_list_free(l);
    tsl_token_free(t);
    cli_keys_free(&v);
    return rc < 0 ? EXIT_OK : rc;
}
