/* cmd_decode.c - `tsl decode`: read a StatusList (JSON object or CBOR map, told apart
 * by its first byte), then answer --index lookups or print a summary. */
#include "cli.h"

#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define DECODE_MAX_INDEXES 1024

static void usage(FILE *f)
{
    fprintf(f,
            "usage: tsl decode [--index I]... [--json] [--max-inflated BYTES] [FILE|-]\n"
            "\n"
            "Reads a StatusList object, JSON (spec section 4.2) or CBOR (section 4.3),\n"
            "detected from its first byte. With --index, prints \"I<TAB>VALUE\" for each\n"
            "index; without, a summary: bits, entries, compressed and raw bytes, and the\n"
            "count of entries per value.\n"
            "\n"
            "  --index I           look up entry I (repeatable, up to %d)\n"
            "  --json              print the summary (and lookups) as one JSON object\n"
            "  --max-inflated N    refuse lists that inflate to more than N bytes\n"
            "                      (default %zu)\n"
            "\n"
            "Exit status: 0 success, 1 input rejected or an index out of range, 2 usage or\n"
            "I/O error.\n",
            DECODE_MAX_INDEXES, (size_t)TSL_DEFAULT_MAX_INFLATED);
}

typedef enum { FMT_JSON, FMT_CBOR } input_format;

/* Tells JSON from CBOR by the first byte: '{' (after white space) or a CBOR map head. */
static int detect(const unsigned char *b, size_t n, input_format *fmt)
{
    size_t k = 0;
    while (k < n && (b[k] == ' ' || b[k] == '\t' || b[k] == '\r' || b[k] == '\n'))
        k++;
    if (k < n && b[k] == '{') {
        *fmt = FMT_JSON;
        return 0;
    }
    if (n > 0 && (b[0] >> 5) == 5) {
        *fmt = FMT_CBOR;
        return 0;
    }
    if (n == 0)
        cli_err("decode", "input is empty");
    else
        cli_err("decode",
                "input is neither a StatusList JSON object nor a CBOR map (first byte "
                "0x%02x)",
                b[0]);
    return -1;
}

static int print_summary(const tsl_list *l, input_format fmt, bool json,
                         const uint64_t *idx, const unsigned *vals, size_t nidx)
{
    uint64_t counts[256];
    tsl_list_count(l, counts);
    size_t raw;
    tsl_list_bytes(l, &raw);
    const char *agg = tsl_list_aggregation_uri(l);
    const char *fname = fmt == FMT_JSON ? "json" : "cbor";
    if (!json) {
        printf("format: %s\nbits: %u\nentries: %llu\ncompressed_bytes: %zu\nraw_bytes: %zu\n",
               fname, tsl_list_bits(l), (unsigned long long)tsl_list_size(l),
               tsl_list_compressed_size(l), raw);
        if (agg != NULL)
            printf("aggregation_uri: %s\n", agg);
        for (unsigned v = 0; v < 256; v++)
            if (counts[v] != 0)
                printf("count %u (%s): %llu\n", v, tsl_status_name(v),
                       (unsigned long long)counts[v]);
        return EXIT_OK;
    }
    json_t *o = json_object();
    json_object_set_new(o, "format", json_string(fname));
    json_object_set_new(o, "bits", json_integer(tsl_list_bits(l)));
    json_object_set_new(o, "entries", json_integer((json_int_t)tsl_list_size(l)));
    json_object_set_new(o, "compressed_bytes",
                        json_integer((json_int_t)tsl_list_compressed_size(l)));
    json_object_set_new(o, "raw_bytes", json_integer((json_int_t)raw));
    if (agg != NULL)
        json_object_set_new(o, "aggregation_uri", json_string(agg));
    json_t *c = json_object();
    for (unsigned v = 0; v < 256; v++)
        if (counts[v] != 0) {
            char key[4];
            snprintf(key, sizeof key, "%u", v);
            json_object_set_new(c, key, json_integer((json_int_t)counts[v]));
        }
    json_object_set_new(o, "counts", c);
    if (nidx > 0) {
        json_t *a = json_array();
        for (size_t k = 0; k < nidx; k++)
            json_array_append_new(a, json_pack("{s:I,s:i,s:s}", "index", (json_int_t)idx[k],
                                               "value", (int)vals[k], "status",
                                               tsl_status_name(vals[k])));
        json_object_set_new(o, "lookups", a);
    }
    char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (text == NULL) {
        cli_err("decode", "out of memory");
        return EXIT_USAGE;
    }
    puts(text);
    free(text);
    return EXIT_OK;
}

int cmd_decode(int argc, char **argv)
{
    static const struct option opts[] = {{"index", required_argument, NULL, 'i'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"max-inflated", required_argument, NULL, 'm'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    static uint64_t idx[DECODE_MAX_INDEXES];
    static unsigned vals[DECODE_MAX_INDEXES];
    size_t nidx = 0;
    bool json = false;
    tsl_limits lim;
    tsl_limits_default(&lim);
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'i':
            if (nidx == DECODE_MAX_INDEXES) {
                cli_err("decode", "more than %d --index options", DECODE_MAX_INDEXES);
                return EXIT_USAGE;
            }
            if (!cli_parse_u64(optarg, &idx[nidx])) {
                cli_err("decode", "--index: \"%s\" is not a non-negative integer", optarg);
                return EXIT_USAGE;
            }
            nidx++;
            break;
        case 'j': json = true; break;
        case 'm': {
            uint64_t m;
            if (!cli_parse_u64(optarg, &m) || m == 0 || m > TSL_MAX_INFLATED_CEILING) {
                cli_err("decode", "--max-inflated: \"%s\" is not 1 to %zu", optarg,
                        (size_t)TSL_MAX_INFLATED_CEILING);
                return EXIT_USAGE;
            }
            lim.max_inflated = (size_t)m;
            break;
        }
        case 'h': usage(stdout); return EXIT_OK;
        default: usage(stderr); return EXIT_USAGE;
        }
    }
    if (argc - optind > 1) {
        cli_err("decode", "one input file at most");
        return EXIT_USAGE;
    }
    unsigned char *buf;
    size_t len;
    int rc = cli_read_all("decode", optind < argc ? argv[optind] : NULL, lim.max_input, &buf,
                          &len);
    if (rc != EXIT_OK)
        return rc;
    input_format fmt;
    if (detect(buf, len, &fmt) != 0) {
        free(buf);
        return EXIT_REJECT;
    }
    tsl_error err;
    tsl_error_clear(&err);
    tsl_list *l = NULL;
    tsl_status st = fmt == FMT_JSON
                        ? tsl_list_from_json((const char *)buf, len, &lim, &l, &err)
                        : tsl_list_from_cbor(buf, len, &lim, &l, &err);
    free(buf);
    if (st != TSL_OK)
        return cli_fail("decode", &err, st);

    /* Check every index before printing any, so output is all or nothing. */
    for (size_t k = 0; k < nidx; k++) {
        if (tsl_list_get(l, idx[k], &vals[k]) != TSL_OK) {
            cli_err("decode", "index %llu is out of range (the list has %llu entries)",
                    (unsigned long long)idx[k], (unsigned long long)tsl_list_size(l));
            tsl_list_free(l);
            return EXIT_REJECT;
        }
    }
    if (nidx > 0 && !json) {
        for (size_t k = 0; k < nidx; k++)
            printf("%llu\t%u\n", (unsigned long long)idx[k], vals[k]);
    } else {
        rc = print_summary(l, fmt, json, idx, vals, nidx);
    }
    tsl_list_free(l);
    if (fflush(stdout) != 0) {
        cli_err("decode", "write error on standard output");
        return EXIT_USAGE;
    }
    return rc;
}
