/* sigtool.c - a small command over the crypto seam, for the Python interop checks in
 * tests/sig_xcheck.py. Not installed.
 *
 *   sigtool keygen ALG              private key to stdout (PKCS#8 PEM; JWK for HS256)
 *   sigtool sign KEYFILE ALG        signs stdin, raw signature to stdout
 *   sigtool verify KEYFILE ALG SIG  verifies stdin against the signature file
 *   sigtool thumbprint KEYFILE      RFC 7638 thumbprint
 *   sigtool pubjwk KEYFILE          public JWK
 *
 * Exit status: 0 ok, 1 verification or key failure (message on stderr), 2 usage. */
#include "crypto/crypto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const char *what, tsl_status st, const tsl_error *err)
{
    fprintf(stderr, "sigtool: %s: %s (%s)\n", what, err->msg[0] ? err->msg : "",
            tsl_strerror(st));
    return 1;
}

/* Reads a whole stream into malloc'd memory. */
static uint8_t *slurp(FILE *f, size_t *len)
{
    size_t cap = 4096, n = 0;
    uint8_t *b = malloc(cap);
    while (b != NULL) {
        size_t r = fread(b + n, 1, cap - n, f);
        n += r;
        if (r == 0)
            break;
        if (n == cap) {
            uint8_t *nb = realloc(b, cap * 2);
            if (nb == NULL) {
                free(b);
                return NULL;
            }
            b = nb;
            cap *= 2;
        }
    }
    *len = n;
    return b;
}

static tsl_alg parse_alg(const char *name)
{
    tsl_alg a = tsl_alg_from_name(name);
    if (a == TSL_ALG_UNKNOWN) {
        fprintf(stderr, "sigtool: unknown algorithm %s\n", name);
        exit(2);
    }
    return a;
}

int main(int argc, char **argv)
{
    tsl_error err;
    tsl_error_clear(&err);
    tsl_status st;
    if (argc == 3 && strcmp(argv[1], "keygen") == 0) {
        tsl_key *k = NULL;
        char *text = NULL;
        if ((st = tsl_key_generate(parse_alg(argv[2]), &k, &err)) != TSL_OK ||
            (st = tsl_key_to_private(k, &text, &err)) != TSL_OK)
            return fail("keygen", st, &err);
        fputs(text, stdout);
        tsl_free(text);
        tsl_key_free(k);
        return 0;
    }
    if (argc < 3) {
        fprintf(stderr, "usage: sigtool keygen ALG | sign KEY ALG | verify KEY ALG SIG | "
                        "thumbprint KEY | pubjwk KEY\n");
        return 2;
    }
    tsl_key *k = NULL;
    if ((st = tsl_key_load(argv[2], &k, &err)) != TSL_OK)
        return fail("load", st, &err);
    int rc = 0;
    char *text = NULL;
    if (strcmp(argv[1], "thumbprint") == 0 || strcmp(argv[1], "pubjwk") == 0) {
        st = argv[1][0] == 't' ? tsl_key_thumbprint(k, &text, &err)
                               : tsl_key_to_public_jwk(k, &text, &err);
        if (st != TSL_OK)
            rc = fail(argv[1], st, &err);
        else
            printf("%s\n", text);
        tsl_free(text);
    } else if (strcmp(argv[1], "sign") == 0 && argc == 4) {
        size_t len = 0, slen = 0;
        uint8_t *msg = slurp(stdin, &len), *sig = NULL;
        if (msg == NULL)
            return 2;
        st = tslp_sign(k, parse_alg(argv[3]), msg, len, &sig, &slen, &err);
        if (st != TSL_OK)
            rc = fail("sign", st, &err);
        else
            fwrite(sig, 1, slen, stdout);
        tslp_free(sig);
        free(msg);
    } else if (strcmp(argv[1], "verify") == 0 && argc == 5) {
        size_t len = 0, slen = 0;
        FILE *f = fopen(argv[4], "rb");
        uint8_t *msg = slurp(stdin, &len), *sig = f ? slurp(f, &slen) : NULL;
        if (f != NULL)
            fclose(f);
        if (msg == NULL || sig == NULL) {
            fprintf(stderr, "sigtool: cannot read the message or %s\n", argv[4]);
            return 2;
        }
        st = tslp_verify(k, parse_alg(argv[3]), msg, len, sig, slen, &err);
        if (st != TSL_OK)
            rc = fail("verify", st, &err);
        free(msg);
        free(sig);
    } else {
        fprintf(stderr, "sigtool: bad command\n");
        rc = 2;
    }
    tsl_key_free(k);
    return rc;
}
