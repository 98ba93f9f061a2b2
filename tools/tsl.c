/* tsl.c - the tsl command: one binary, one subcommand per job. Each subcommand parses
 * its own options and returns the exit code (0 ok, 1 rejected, 2 usage or I/O). */
#include "cli.h"

#include <string.h>

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} commands[] = {
    {"encode", cmd_encode, "build a StatusList (JSON or CBOR) from \"IDX VALUE\" lines"},
    {"decode", cmd_decode, "inspect (and verify) a StatusList or Status List Token"},
    {"sign", cmd_sign, "sign a StatusList into a Status List Token (JWT or CWT)"},
    {"keygen", cmd_keygen, "generate a signing key; print its public JWK"},
    {"list", cmd_list, "create, list and show status lists in the issuer store"},
    {"alloc", cmd_alloc, "allocate indices of a stored list for new credentials"},
    {"set", cmd_set, "set the status of one index of a stored list"},
    {"get", cmd_get, "print the status of indices of a stored list"},
    {"update", cmd_update, "apply a file of \"IDX STATUS\" lines to a stored list"},
    {"publish", cmd_publish, "sign a stored list's statuses and record the tokens"},
    {"token", cmd_token, "print a stored list's current (or past) token"},
    {"serve", cmd_serve, "serve the stored lists over HTTP, re-signing as they change"},
    {"apikey", cmd_apikey, "create, list and revoke the issuer API's keys"},
    {"db", cmd_db, "migrate a store's schema, or copy a store (SQLite, PostgreSQL)"},
    {"export", cmd_export, "write the current tokens and an nginx.conf for static hosting"},
    {"verify", cmd_verify, "check a Referenced Token's status (fetching its Status List Token)"},
    {"probe", cmd_probe, "audit any implementation's Status List endpoint (findings by section)"},
    {"rogue", cmd_rogue, "serve broken Status List Tokens that a verifier must refuse"},
    {"pkcs11", cmd_pkcs11, "list an HSM's tokens and keys (PKCS#11); check a key signs"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: tsl COMMAND [OPTIONS] [ARGS]\n\n"
               "Token Status List (draft-ietf-oauth-status-list-21) tools.\n\n"
               "Commands:\n");
    for (size_t k = 0; k < sizeof commands / sizeof commands[0]; k++)
        fprintf(f, "  %-8s %s\n", commands[k].name, commands[k].summary);
    fprintf(f, "\n'tsl COMMAND --help' describes each command; 'tsl --version' prints the\n"
               "versions of tsl and of the libraries it runs with.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return EXIT_OK;
    }
    if (strcmp(cmd, "--version") == 0)
        return cli_version();
    for (size_t k = 0; k < sizeof commands / sizeof commands[0]; k++)
        if (strcmp(cmd, commands[k].name) == 0)
            return commands[k].run(argc - 1, argv + 1);
    fprintf(stderr, "tsl: unknown command \"%s\"\n", cmd);
    usage(stderr);
    return EXIT_USAGE;
}
