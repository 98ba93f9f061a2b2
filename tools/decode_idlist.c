/* decode_idlist.c - `tsl decode` of an identifier list (ISO/IEC 18013-5 second
 * edition): its figures, an optional verification, and --id HEX membership queries. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

/* Hex (upper or lower case, even length, 1 to 128 bytes) into out; false if not. */
static bool parse_hex(const char *s, uint8_t *out, size_t *len)
{
    size_t n = strlen(s);
    if (n == 0 || n % 2 != 0 || n / 2 > CLI_IDLIST_MAX_ID)
        return false;
    for (size_t k = 0; k < n; k += 2) {
        char b[3] = {s[k], s[k + 1], 0};
        char *end;
        if (strspn(b, "0123456789abcdefABCDEF") != 2)
            return false;
        out[k / 2] = (uint8_t)strtoul(b, &end, 16);
    }
    *len = n / 2;
    return true;
}

int cli_opt_id(const char *cmd, void *target, const char *arg)
{
    cli_ids *ids = target;
    uint8_t tmp[CLI_IDLIST_MAX_ID];
    size_t n;
    if (ids->n == CLI_IDLIST_MAX_IDS) {
        cli_err(cmd, "more than %d --id options", CLI_IDLIST_MAX_IDS);
        return EXIT_USAGE;
    }
    if (!parse_hex(arg, tmp, &n)) {
        cli_err(cmd, "--id: \"%.80s\" is not 1 to %d bytes of hex", arg, CLI_IDLIST_MAX_ID);
        return EXIT_USAGE;
    }
    ids->hex[ids->n++] = arg;
    return EXIT_OK;
}

int cli_decode_idlist(const tsl_idlist *l, const cli_keys *k, tsl_verify_opts *vo,
                      const cli_ids *ids, bool json)
{
    tsl_error err;
    tsl_error_clear(&err);
    bool verified = false;
    if (k->keys != NULL || k->trust != NULL) {
        if (vo->policy.algs == 0)
            vo->policy.algs = tsl_keyset_algs(k->keys);
        vo->policy.keys = k->keys;
        vo->policy.trust = k->trust;
        tsl_status st = tsl_idlist_verify(l, vo, NULL, 0, &err);
        if (st != TSL_OK)
            return cli_fail("decode", &err, st);
        verified = true;
    } else {
        fprintf(stderr, "tsl decode: warning: signature NOT verified (no --key or --trust "
                        "given)\n");
    }
    int listed[CLI_IDLIST_MAX_IDS];
    for (size_t i = 0; i < ids->n; i++) {
        uint8_t id[CLI_IDLIST_MAX_ID];
        size_t n = 0;
        parse_hex(ids->hex[i], id, &n); /* checked when the option was read */
        listed[i] = tsl_idlist_contains(l, id, n);
    }
    if (ids->n > 0 && !json) {
        for (size_t i = 0; i < ids->n; i++)
            printf("%s\t%s\n", ids->hex[i], listed[i] ? "listed" : "not-listed");
        return cli_flush("decode", EXIT_OK, true, "");
    }
    char *text = NULL;
    tsl_status st = tsl_idlist_to_json(l, &text, &err);
    if (st != TSL_OK)
        return cli_fail("decode", &err, st);
    if (json) {
        /* The library's object, with verified and the lookups added last. */
        printf("%.*s,\"verified\":%s", (int)strlen(text) - 1, text, verified ? "true" : "false");
        if (ids->n > 0) {
            printf(",\"ids\":{");
            for (size_t i = 0; i < ids->n; i++)
                printf("%s\"%s\":%s", i ? "," : "", ids->hex[i], listed[i] ? "true" : "false");
            printf("}");
        }
        printf("}\n");
    } else {
        int64_t ttl = 0;
        const char *agg = tsl_idlist_aggregation_uri(l);
        printf("format: cwt (identifier list, %s)\n", TSL_MEDIA_IDLIST);
        printf("typ: in the %s\n", tsl_idlist_typ_in_claim(l) ? "claims (older form)"
                                                               : "protected header");
        printf("sub: %s\n", tsl_idlist_sub(l));
        printf("iat: %lld\nexp: %lld\n", (long long)tsl_idlist_iat(l),
               (long long)tsl_idlist_exp(l));
        if (tsl_idlist_ttl(l, &ttl))
            printf("ttl: %lld\n", (long long)ttl);
        if (agg != NULL)
            printf("aggregation_uri: %s\n", agg);
        printf("identifiers: %zu\n", tsl_idlist_count(l));
        printf("verified: %s\n", verified ? "yes" : "no");
    }
    tsl_free(text);
    return cli_flush("decode", EXIT_OK, true, "");
}
