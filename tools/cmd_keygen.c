/* cmd_keygen.c - `tsl keygen`: make a new signing key, write the private half with safe
 * permissions, print the public JWK with a kid derived from its RFC 7638 thumbprint. */
#include "cli.h"

#include <string.h>
#include <unistd.h>

int cmd_keygen(int argc, char **argv)
{
    tsl_alg alg = TSL_ALG_UNKNOWN;
    const char *out = NULL;
    const cli_opt opts[] = {
        {"alg", 0, CLI_OPT_ALG, &alg, 0, 0, "is not a supported algorithm", NULL, NULL,
         "ALG\tES256 ES384 ES512 EdDSA RS256..PS512 HS256 (required)"},
        CLI_STR("out", &out, "FILE\twrite the private key to FILE (mode 0600, never\n"
                "overwritten); without it, it is printed first"),
        CLI_OPT_END};
    static const cli_cmd cmd = {
        "keygen", "--alg ALG [--out FILE]",
        "Generates a key for ALG and prints its public JWK on standard output, with\n"
        "\"kid\" set to the RFC 7638 thumbprint. The private key is PEM (PKCS#8), or for\n"
        "HS256 a private JWK.",
        "0 success, 2 usage or I/O error (FILE exists, cannot be written).", NULL};
    int first, prc = cli_opts_parse(&cmd, opts, argc, argv, &first);
    if (prc != CLI_OPTS_RUN)
        return prc;
    if (alg == TSL_ALG_UNKNOWN || first != argc) {
        cli_err("keygen", alg == TSL_ALG_UNKNOWN ? "--alg is required" : "unexpected argument");
        cli_usage(&cmd, opts, stderr);
        return EXIT_USAGE;
    }
    tsl_error err;
    tsl_error_clear(&err);
    tsl_key *key = NULL;
    char *kid = NULL, *priv = NULL, *pub = NULL;
    tsl_status st = tsl_key_generate(alg, &key, &err);
    if (st == TSL_OK)
        st = tsl_key_thumbprint(key, &kid, &err);
    if (st == TSL_OK)
        st = tsl_key_set_kid(key, kid, &err);
    if (st == TSL_OK)
        st = tsl_key_to_private(key, &priv, &err);
    /* An HMAC secret has no public half to print. */
    if (st == TSL_OK && alg != TSL_ALG_HS256)
        st = tsl_key_to_public_jwk(key, &pub, &err);
    int rc = st == TSL_OK ? EXIT_OK : cli_fail("keygen", &err, st);
    if (rc == EXIT_OK) {
        if (out != NULL && (st = tsl_write_private_file(out, priv, &err)) != TSL_OK)
            rc = cli_fail("keygen", &err, st);
        else if (out == NULL)
            fputs(priv, stdout);
    }
    if (rc == EXIT_OK) {
        if (pub != NULL)
            printf("%s\n", pub);
        else
            fprintf(stderr, "tsl keygen: HS256 secret, kid %s\n", kid);
        rc = cli_flush("keygen", rc, true, "");
    }
    if (priv != NULL) {
        /* Do not leave the private key in freed memory. */
        explicit_bzero(priv, strlen(priv));
        tsl_free(priv);
    }
    tsl_free(pub);
    tsl_free(kid);
    tsl_key_free(key);
    return rc;
}
