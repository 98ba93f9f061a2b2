/* cmd_sign.c - `tsl sign`: wrap a StatusList (JSON or CBOR, as `tsl encode` prints it)
 * into a signed Status List Token, JWT text or CWT bytes, with a key file or a key on a
 * PKCS#11 token (--key pkcs11:...). */
#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

int cmd_sign(int argc, char **argv)
{
    const char *key_path = NULL, *x5c_path = NULL, *module = NULL;
    tsl_token_params p;
    memset(&p, 0, sizeof p);
    p.format = TSL_FORMAT_JWT;
    uint64_t exp_after = 0, level = 0;
    bool no_kid = false;
    const char *secs = "is not a positive number of seconds";
    const cli_opt opts[] = {
        CLI_STR("key", &key_path, "KEY\tprivate key: PEM or JWK, not readable by group or others;\n"
                                  "or a PKCS#11 URI, pkcs11:token=T;object=O (see README)"),
        CLI_STR("pkcs11-module", &module, "SO\tPKCS#11 module for a pkcs11: key without module-path\n"
                                         "(default $TSL_PKCS11_MODULE, else p11-kit's proxy)"),
        CLI_STR("sub", &p.sub, "URI\tthe URI the token is served at (claim sub; required)"),
        CLI_FN("format", &p.format, cli_opt_format, CLI_FORMAT_BAD, "F\tjwt (default) or cwt"),
        {"alg", 0, CLI_OPT_ALG, &p.alg, 0, 0, "is not a supported algorithm", NULL, NULL,
         "ALG\tES256..ES512 EdDSA RS256..PS512 HS256 (default from the key)"},
        CLI_STR("kid", &p.kid, "KID\tkey id (default: the JWK's kid, else its thumbprint)"),
        CLI_STR("x5c", &x5c_path, "PEM\tcertificate chain, leaf first, for x5c / x5chain"),
        CLI_STR("iss", &p.iss, "ISS\tissuer claim"),
        {"ttl", 0, CLI_OPT_I64, &p.ttl, 1, INT64_MAX / 2, secs, NULL, NULL,
         "SECONDS\tttl claim: how long verifiers may cache the token"},
        {"exp", 0, CLI_OPT_U64, &exp_after, 1, INT64_MAX / 2, secs, NULL, NULL,
         "SECONDS\texp claim, SECONDS after iat"},
        {"iat", 0, CLI_OPT_I64, &p.iat, 1, INT64_MAX / 2, secs, NULL, NULL,
         "UNIXTIME\tissued-at (default: now)"},
        {"level", 0, CLI_OPT_U64, &level, 1, 13, "is not 1 to 13", NULL, NULL,
         "L\tcompression level of lst, 1 to 13 (default 13, the status-list\nencoder)"},
        CLI_FLAG("no-kid", &no_kid, "put no kid in the header"),
        CLI_OPT_END};
    static const cli_cmd cmd = {
        "sign", "--key KEY --sub URI [OPTIONS] [FILE|-]",
        "Reads a StatusList object (JSON or CBOR, as `tsl encode` prints it) and writes a\n"
        "signed Status List Token: the compact JWT and a newline, or with --format cwt\n"
        "the CWT's raw bytes (COSE_Sign1, tag 18; COSE_Mac0, tag 17, for HS256).",
        "0 success, 1 input or key rejected, 2 usage or I/O error.", NULL};
    int first, prc = cli_opts_parse(&cmd, opts, argc, argv, &first);
    if (prc != CLI_OPTS_RUN)
        return prc;
    p.level = (int)level;
    if (key_path == NULL || p.sub == NULL) {
        cli_err("sign", "--key and --sub are required");
        cli_usage(&cmd, opts, stderr);
        return EXIT_USAGE;
    }
    if (argc - first > 1) {
        cli_err("sign", "one input file at most");
        return EXIT_USAGE;
    }
    if (p.iat == 0)
        p.iat = (int64_t)time(NULL);
    if (exp_after != 0)
        p.exp = p.iat + (int64_t)exp_after;

    tsl_error err;
    tsl_error_clear(&err);
    tsl_cert_chain *chain = NULL;
    tsl_status st = TSL_OK;
    if (x5c_path != NULL && (st = tsl_cert_chain_load(x5c_path, &chain, &err)) != TSL_OK)
        return cli_fail("sign", &err, st);
    /* The signer names the alg, kid and x5c: a key file's kid or thumbprint (what
     * `tsl keygen` printed), or a token key's thumbprint. */
    tsl_signer_opts so;
    memset(&so, 0, sizeof so);
    so.alg = p.alg;
    so.kid = p.kid;
    so.no_kid = no_kid;
    so.x5c = chain;
    so.pkcs11_module = module;
    tsl_signer *signer = NULL;
    if ((st = tsl_signer_load(key_path, &so, &signer, NULL, &err)) != TSL_OK) {
        tsl_cert_chain_free(chain);
        return cli_fail("sign", &err, st);
    }
    p.alg = TSL_ALG_UNKNOWN;
    p.kid = NULL;

    unsigned char *buf = NULL;
    size_t len = 0;
    tsl_list *l = NULL;
    int rc = cli_read_all("sign", first < argc ? argv[first] : NULL, TSL_DEFAULT_MAX_INPUT,
                          &buf, &len);
    if (rc == EXIT_OK) {
        st = tsl_list_parse(buf, len, NULL, &l, &err);
        tsl_free(buf);
        if (st != TSL_OK)
            rc = cli_fail("sign", &err, st);
    }
    uint8_t *tok = NULL;
    size_t tok_len = 0;
    if (rc == EXIT_OK && (st = tsl_token_sign_with(l, &p, signer, &tok, &tok_len, &err)) != TSL_OK)
        rc = cli_fail("sign", &err, st);
    if (rc == EXIT_OK) {
        int ok = fwrite(tok, 1, tok_len, stdout) == tok_len &&
                 (p.format == TSL_FORMAT_CWT || putchar('\n') != EOF);
        rc = cli_flush("sign", rc, ok, "");
    }
    tsl_free(tok);
    tsl_list_free(l);
    tsl_signer_free(signer);
    tsl_cert_chain_free(chain);
    return rc;
}
