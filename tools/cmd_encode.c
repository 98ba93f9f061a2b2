/* cmd_encode.c - `tsl encode`: build a status list from lines "IDX VALUE" and print the
 * StatusList object, JSON by default or the CBOR map's bytes with --cbor. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

/* Without --size the list grows to the highest index; this bounds what one input line
 * can make us allocate. Lists beyond it need an explicit --size. */
#define ENCODE_MAX_GROW_BYTES ((uint64_t)512 << 20)

/* --size, remembered as given: without it the list grows to the largest index. */
typedef struct {
    uint64_t n;
    bool given;
} sized;

static int parse_size(const char *cmd, void *target, const char *arg)
{
    sized *s = target;
    if (!cli_parse_u64(arg, &s->n)) {
        cli_err(cmd, "--size: \"%s\" is not a non-negative integer", arg);
        return EXIT_USAGE;
    }
    s->given = true;
    return EXIT_OK;
}

int cmd_encode(int argc, char **argv)
{
    uint64_t bits = 0, level = TSL_LEVEL_DEFAULT;
    sized size = {0, false};
    bool cbor = false;
    const char *agg = NULL;
    const cli_opt opts[] = {
        CLI_FN("bits", &bits, cli_opt_bits, NULL, "B\tbits per entry: 1, 2, 4 or 8 (required)"),
        CLI_FN("size", &size, parse_size, NULL, "N\tnumber of entries; without it the list "
               "covers the highest\nindex, rounded up to a whole byte (at most 512 MiB packed)"),
        CLI_FLAG("cbor", &cbor, "print the CBOR map (spec section 4.3) instead of JSON"),
        {"level", 0, CLI_OPT_U64, &level, 1, 13, "is not 1 to 13", NULL, NULL,
         "L\tcompression level: 1 to 12 are libdeflate's (1 fastest, 12\n"
         "smallest), 13 the status-list encoder (the default)"},
        CLI_STR("aggregation-uri", &agg, "URI\tadd aggregation_uri (spec section 9.2)"),
        CLI_OPT_END};
    static const cli_cmd cmd = {
        "encode", "--bits B [OPTIONS] [FILE|-]",
        "Reads lines \"IDX VALUE\" (VALUE a number below 2^B or VALID, INVALID,\n"
        "SUSPENDED, APPLICATION_SPECIFIC; blank lines and # comments allowed; later\n"
        "lines win) and prints the StatusList object: JSON {\"bits\",\"lst\"} on one\n"
        "line, or with --cbor the CBOR map's raw bytes. Entries not listed are 0.",
        "0 success, 1 input rejected (the line is named), 2 usage or I/O.", NULL};
    int first, prc = cli_opts_parse(&cmd, opts, argc, argv, &first);
    if (prc != CLI_OPTS_RUN)
        return prc;
    if (bits == 0) {
        cli_err("encode", "--bits is required");
        cli_usage(&cmd, opts, stderr);
        return EXIT_USAGE;
    }
    if (argc - first > 1) {
        cli_err("encode", "one input file at most");
        return EXIT_USAGE;
    }
    const char *path = first < argc ? argv[first] : NULL;

    tsl_error err;
    tsl_error_clear(&err);
    tsl_list *l = NULL;
    tsl_status st = tsl_list_new((unsigned)bits, size.n, &l, &err);
    if (st != TSL_OK)
        return cli_fail("encode", &err, st);
    tsl_lines *r = NULL;
    if ((st = tsl_lines_open(path, CLI_MAX_LINE, &r, &err)) != TSL_OK) {
        tsl_list_free(l);
        return cli_fail("encode", &err, st);
    }
    int rc = EXIT_OK, any = 0;
    uint64_t highest = 0;
    st = tsl_list_set_lines(l, r, size.given ? 0 : ENCODE_MAX_GROW_BYTES, &highest, &any,
                            &err);
    if (st == TSL_ERR_IO) {
        cli_err("encode", "%s: read error", path ? path : "standard input");
        rc = EXIT_USAGE;
    } else if (st != TSL_OK) {
        rc = cli_fail("encode", &err, st); /* the line is named */
    }
    tsl_lines_close(r);
    if (rc == EXIT_OK && !size.given) {
        if (!any) {
            cli_err("encode", "no entries in the input; give --size for an all-0 list");
            rc = EXIT_REJECT;
        } else if ((st = tsl_list_fit(l, highest, &err)) != TSL_OK) {
            rc = cli_fail("encode", &err, st);
        }
    }
    if (rc == EXIT_OK && agg != NULL && (st = tsl_list_set_aggregation_uri(l, agg, &err)))
        rc = cli_fail("encode", &err, st);
    if (rc != EXIT_OK) {
        tsl_list_free(l);
        return rc;
    }

    void *out = NULL;
    size_t out_len = 0;
    if (cbor)
        st = tsl_list_to_cbor(l, (int)level, (uint8_t **)&out, &out_len, &err);
    else
        st = tsl_list_to_json(l, (int)level, (char **)&out, &out_len, &err);
    tsl_list_free(l);
    if (st != TSL_OK)
        return cli_fail("encode", &err, st);
    int ok = fwrite(out, 1, out_len, stdout) == out_len && (cbor || putchar('\n') != EOF);
    tsl_free(out);
    return cli_flush("encode", EXIT_OK, ok, "");
}
