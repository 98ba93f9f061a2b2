/* cmd_pkcs11.c - `tsl pkcs11 ls|check`: check an HSM setup before a list uses it. ls
 * prints a module's tokens and the signing keys on them with the pkcs11: URI to give
 * --key; check opens a key as `tsl sign` and the publisher do, signs once and verifies
 * the signature with the public key read back from the token, then prints that public
 * key as a JWK (kid: its RFC 7638 thumbprint), for verifiers. */
#include "cli.h"

#include <string.h>

static const cli_cmd pkcs11_cmd = {
    "pkcs11", "ls [URI] [--pkcs11-module SO]\ntsl pkcs11 check URI [--alg ALG] [--pkcs11-module SO]",
    "ls      prints the module's tokens, and the keys on each as a pkcs11: URI with\n"
    "        the algorithm it signs with (\"token\" and \"key\" lines, TAB-separated);\n"
    "        URI narrows them. Private keys show only after login: give the PIN\n"
    "        as pin-source=file:PATH in the URI or in $TSL_PKCS11_PIN.\n"
    "check   signs once with the key URI names and verifies the signature with the\n"
    "        public key read from the token; prints that public key as a JWK.\n"
    "The module: the URI's module-path or module-name, else --pkcs11-module, else\n"
    "$TSL_PKCS11_MODULE, else p11-kit's proxy. The PIN is never taken from argv.",
    "0 success, 1 rejected (no such token or key, wrong PIN, unsupported\n"
    "mechanism, a signature that does not verify), 2 usage or I/O error (no module).",
    NULL};

int cli_opt_pkcs11_module(const char *cmd, void *target, const char *arg)
{
    (void)target;
    tsl_error err;
    tsl_error_clear(&err);
    tsl_status st = tsl_pkcs11_set_module(arg, &err);
    return st == TSL_OK ? EXIT_OK : cli_fail(cmd, &err, st);
}

static int pkcs11_ls(int argc, char **argv)
{
    const char *module = NULL;
    const cli_opt opts[] = {
        CLI_STR("pkcs11-module", &module, "SO\tthe PKCS#11 module"), CLI_OPT_END};
    int first, prc = cli_opts_parse(&pkcs11_cmd, opts, argc, argv, &first);
    if (prc != CLI_OPTS_RUN)
        return prc;
    if (argc - first > 1) {
        cli_err("pkcs11", "ls: one URI at most");
        return EXIT_USAGE;
    }
    tsl_error err;
    tsl_error_clear(&err);
    char *text = NULL;
    tsl_status st = tsl_pkcs11_list(first < argc ? argv[first] : NULL, module, &text, &err);
    if (st != TSL_OK)
        return cli_fail("pkcs11", &err, st);
    int ok = fputs(text, stdout) >= 0;
    tsl_free(text);
    return cli_flush("pkcs11", EXIT_OK, ok, "");
}

static int pkcs11_check(int argc, char **argv)
{
    tsl_signer_opts so;
    memset(&so, 0, sizeof so);
    const cli_opt opts[] = {
        CLI_STR("pkcs11-module", &so.pkcs11_module, "SO\tthe PKCS#11 module"),
        {"alg", 0, CLI_OPT_ALG, &so.alg, 0, 0, "is not a supported algorithm", NULL, NULL,
         "ALG\tthe algorithm to sign with (default from the key)"},
        CLI_OPT_END};
    int first, prc = cli_opts_parse(&pkcs11_cmd, opts, argc, argv, &first);
    if (prc != CLI_OPTS_RUN)
        return prc;
    if (argc - first != 1 || !tsl_key_ref_is_pkcs11(argv[first])) {
        cli_err("pkcs11", "check: one pkcs11: URI is required");
        return EXIT_USAGE;
    }
    tsl_error err;
    tsl_error_clear(&err);
    tsl_signer *s = NULL;
    tsl_key *pub = NULL;
    char *jwk = NULL;
    tsl_status st = tsl_signer_load(argv[first], &so, &s, &pub, &err);
    if (st == TSL_OK)
        st = tsl_signer_check(s, pub, &err);
    if (st == TSL_OK)
        st = tsl_key_to_public_jwk(pub, &jwk, &err);
    int rc = st == TSL_OK ? EXIT_OK : cli_fail("pkcs11", &err, st);
    if (rc == EXIT_OK) {
        const tsl_cert_chain *x5c = tsl_signer_x5c(s);
        fprintf(stderr, "tsl pkcs11: ok: %s signature made on the token verifies with its "
                        "public key (kid %s%s)\n",
                tsl_alg_name(tsl_signer_alg(s)), tsl_signer_kid(s) ? tsl_signer_kid(s) : "-",
                x5c != NULL ? "; x5c from the token's certificate" : "");
        rc = cli_flush("pkcs11", rc, printf("%s\n", jwk) > 0, "");
    }
    tsl_free(jwk);
    tsl_key_free(pub);
    tsl_signer_free(s);
    return rc;
}

int cmd_pkcs11(int argc, char **argv)
{
    if (argc < 2) {
        cli_err("pkcs11", "ls or check is required");
        return EXIT_USAGE;
    }
    const char *sub = argv[1];
    if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0 || strcmp(sub, "help") == 0) {
        char *help[] = {argv[0], (char *)"--help", NULL};
        return pkcs11_ls(2, help);
    }
    if (strcmp(sub, "ls") == 0)
        return pkcs11_ls(argc - 1, argv + 1);
    if (strcmp(sub, "check") == 0)
        return pkcs11_check(argc - 1, argv + 1);
    cli_err("pkcs11", "unknown subcommand \"%s\" (ls or check)", sub);
    return EXIT_USAGE;
}
