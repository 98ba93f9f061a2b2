/* cmd_sign.c - `tsl sign`: wrap a StatusList (JSON or CBOR, as `tsl encode` prints it)
 * into a signed Status List Token, JWT text or CWT bytes. */
#include "cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: tsl sign --key KEY --sub URI [--format jwt|cwt] [--alg ALG] [--kid KID]\n"
            "                [--x5c PEM] [--iss ISS] [--ttl SECONDS] [--exp SECONDS]\n"
            "                [--iat UNIXTIME] [--level L] [FILE|-]\n"
            "\n"
            "Reads a StatusList object (JSON or CBOR, as `tsl encode` prints it) and writes a\n"
            "signed Status List Token: the compact JWT and a newline, or with --format cwt\n"
            "the CWT's raw bytes (COSE_Sign1, tag 18; COSE_Mac0, tag 17, for HS256).\n"
            "\n"
            "  --key KEY        private key: PEM (PKCS#8, SEC1, PKCS#1) or JWK; the file must\n"
            "                   not be readable by group or others\n"
            "  --sub URI        the URI the token is served at (claim sub; required)\n"
            "  --format F       jwt (default) or cwt\n"
            "  --alg ALG        ES256 ES384 ES512 EdDSA RS256 RS384 RS512 PS256 PS384 PS512\n"
            "                   HS256; default from the key: the JWK's alg, else ES256/384/512\n"
            "                   by curve, EdDSA for Ed25519, PS256 for RSA, HS256 for a secret\n"
            "  --kid KID        key id for the header (default: the JWK's kid, else the\n"
            "                   key's RFC 7638 thumbprint, as `tsl keygen` prints it)\n"
            "  --no-kid         put no kid in the header\n"
            "  --x5c PEM        certificate chain, leaf first, for x5c / x5chain\n"
            "  --iss ISS        issuer claim\n"
            "  --ttl SECONDS    ttl claim: how long verifiers may cache the token\n"
            "  --exp SECONDS    exp claim, SECONDS after iat\n"
            "  --iat UNIXTIME   issued-at (default: now)\n"
            "  --level L        compression level of lst, 1 to 12 (default 12)\n"
            "\n"
            "Exit status: 0 success, 1 input or key rejected, 2 usage or I/O error.\n");
}

int cmd_sign(int argc, char **argv)
{
    static const struct option opts[] = {
        {"key", required_argument, NULL, 'k'},    {"sub", required_argument, NULL, 's'},
        {"format", required_argument, NULL, 'f'}, {"alg", required_argument, NULL, 'a'},
        {"kid", required_argument, NULL, 'i'},    {"x5c", required_argument, NULL, 'x'},
        {"iss", required_argument, NULL, 'I'},    {"ttl", required_argument, NULL, 't'},
        {"exp", required_argument, NULL, 'e'},    {"iat", required_argument, NULL, 'T'},
        {"level", required_argument, NULL, 'l'},  {"no-kid", no_argument, NULL, 'K'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *key_path = NULL, *x5c_path = NULL;
    tsl_token_params p;
    memset(&p, 0, sizeof p);
    p.format = TSL_FORMAT_JWT;
    uint64_t exp_after = 0, v;
    bool no_kid = false;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'k': key_path = optarg; break;
        case 's': p.sub = optarg; break;
        case 'f':
            if (strcmp(optarg, "jwt") == 0)
                p.format = TSL_FORMAT_JWT;
            else if (strcmp(optarg, "cwt") == 0)
                p.format = TSL_FORMAT_CWT;
            else {
                cli_err("sign", "--format: \"%s\" is not jwt or cwt", optarg);
                return EXIT_USAGE;
            }
            break;
        case 'a':
            if ((p.alg = tsl_alg_from_name(optarg)) == TSL_ALG_UNKNOWN) {
                cli_err("sign", "--alg: \"%s\" is not a supported algorithm", optarg);
                return EXIT_USAGE;
            }
            break;
        case 'i': p.kid = optarg; break;
        case 'K': no_kid = true; break;
        case 'x': x5c_path = optarg; break;
        case 'I': p.iss = optarg; break;
        case 't':
        case 'e':
        case 'T':
            if (!cli_parse_u64(optarg, &v) || v == 0 || v > (uint64_t)INT64_MAX / 2) {
                cli_err("sign", "--%s: \"%s\" is not a positive number of seconds",
                        c == 't' ? "ttl" : c == 'e' ? "exp" : "iat", optarg);
                return EXIT_USAGE;
            }
            if (c == 't')
                p.ttl = (int64_t)v;
            else if (c == 'e')
                exp_after = v;
            else
                p.iat = (int64_t)v;
            break;
        case 'l':
            if (!cli_parse_u64(optarg, &v) || v < 1 || v > 12) {
                cli_err("sign", "--level: \"%s\" is not 1 to 12", optarg);
                return EXIT_USAGE;
            }
            p.level = (int)v;
            break;
        case 'h': usage(stdout); return EXIT_OK;
        default: usage(stderr); return EXIT_USAGE;
        }
    }
    if (key_path == NULL || p.sub == NULL) {
        cli_err("sign", "--key and --sub are required");
        usage(stderr);
        return EXIT_USAGE;
    }
    if (argc - optind > 1) {
        cli_err("sign", "one input file at most");
        return EXIT_USAGE;
    }
    if (p.iat == 0)
        p.iat = (int64_t)time(NULL);
    if (exp_after != 0)
        p.exp = p.iat + (int64_t)exp_after;

    tsl_error err;
    tsl_error_clear(&err);
    tsl_key *key = NULL;
    tsl_status st = tsl_key_load(key_path, &key, &err);
    if (st != TSL_OK)
        return cli_fail("sign", &err, st);
    /* A PEM key carries no kid: use its thumbprint, the kid `tsl keygen` printed. */
    char *thumb = NULL;
    if (no_kid)
        st = tsl_key_set_kid(key, NULL, &err);
    else if (p.kid == NULL && tsl_key_kid(key) == NULL &&
             (st = tsl_key_thumbprint(key, &thumb, &err)) == TSL_OK)
        st = tsl_key_set_kid(key, thumb, &err);
    tsl_free(thumb);
    if (st != TSL_OK) {
        tsl_key_free(key);
        return cli_fail("sign", &err, st);
    }
    if (no_kid)
        p.kid = NULL;
    tsl_cert_chain *chain = NULL;
    if (x5c_path != NULL && (st = tsl_cert_chain_load(x5c_path, &chain, &err)) != TSL_OK) {
        tsl_key_free(key);
        return cli_fail("sign", &err, st);
    }
    p.x5c = chain;

    unsigned char *buf = NULL;
    size_t len = 0;
    tsl_list *l = NULL;
    int rc = cli_read_all("sign", optind < argc ? argv[optind] : NULL, TSL_DEFAULT_MAX_INPUT,
                          &buf, &len);
    if (rc == EXIT_OK) {
        st = cli_parse_statuslist(buf, len, NULL, &l, &err);
        free(buf);
        if (st != TSL_OK)
            rc = cli_fail("sign", &err, st);
    }
    uint8_t *tok = NULL;
    size_t tok_len = 0;
    if (rc == EXIT_OK && (st = tsl_token_sign(l, &p, key, &tok, &tok_len, &err)) != TSL_OK)
        rc = cli_fail("sign", &err, st);
    if (rc == EXIT_OK) {
        int ok = fwrite(tok, 1, tok_len, stdout) == tok_len &&
                 (p.format == TSL_FORMAT_CWT || putchar('\n') != EOF);
        if (!ok || fflush(stdout) != 0) {
            cli_err("sign", "write error on standard output");
            rc = EXIT_USAGE;
        }
    }
    tsl_free(tok);
    tsl_list_free(l);
    tsl_cert_chain_free(chain);
    tsl_key_free(key);
    return rc;
}
