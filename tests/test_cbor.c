/* test_cbor.c - the bounded CBOR reader (src/codec/cbor_read.c) and the StatusList CBOR codec
 * (src/codec/statuslist_cbor.c): the spec example, the inputs that cost cbor_load() 1 GiB,
 * every rejection rule with its message, every truncation, and allocation failures. */
#include "tt.h"

#include "codec/cbor_int.h"

#include <stdlib.h>

/* The text-string keys of a StatusList, head included. */
#define K_BITS 0x64, 'b', 'i', 't', 's'
#define K_LST 0x63, 'l', 's', 't'
#define K_URI                                                                             \
    0x6f, 'a', 'g', 'g', 'r', 'e', 'g', 'a', 't', 'i', 'o', 'n', '_', 'u', 'r', 'i'

/* Spec section 4.3: {"bits": 1, "lst": h'78dadbb918000217015d'}. */
static const uint8_t SPEC[] = {0xa2, 0x64, 'b',  'i',  't',  's',  0x01, 0x63,
                               'l',  's',  't',  0x4a, 0x78, 0xda, 0xdb, 0xb9,
                               0x18, 0x00, 0x02, 0x17, 0x01, 0x5d};
static const uint8_t SPEC_Z[] = {0x78, 0xda, 0xdb, 0xb9, 0x18,
                                 0x00, 0x02, 0x17, 0x01, 0x5d};
static const uint8_t SPEC_RAW[] = {0xb9, 0xa3};

/* SPEC with an aggregation_uri "https://a.example/agg" appended (map of 3). */
static const char URI[] = "https://a.example/agg";

/* Builds {"bits":1,"lst":SPEC_Z,"aggregation_uri":URI} into buf; returns its length. */
static size_t spec_with_uri(uint8_t *buf)
{
    size_t n = sizeof SPEC;
    memcpy(buf, SPEC, n);
    buf[0] = 0xa3;
    buf[n++] = 0x6f; /* text(15) */
    memcpy(buf + n, "aggregation_uri", 15);
    n += 15;
    buf[n++] = (uint8_t)(0x60 + sizeof URI - 1);
    memcpy(buf + n, URI, sizeof URI - 1);
    return n + sizeof URI - 1;
}

/* Parses with the raw reader and the default limits; err is cleared first. */
static tsl_status parse(const uint8_t *in, size_t len, tslp_cbor_doc **doc, tsl_error *err)
{
    tsl_error_clear(err);
    return tslp_cbor_parse(in, len, NULL, NULL, doc, err);
}

static tsl_status from_cbor(const uint8_t *in, size_t len, tsl_list **l, tsl_error *err)
{
    tsl_error_clear(err);
    return tsl_list_from_cbor(in, len, NULL, l, err);
}

/* ---------------------------------------------------------------------------------- */
/* The spec example                                                                     */

TT_TEST(cbor_spec_example_decodes)
{
    tsl_list *l = NULL;
    tsl_error err;
    TT_OK(from_cbor(SPEC, sizeof SPEC, &l, &err));
    TT_EQ_U(tsl_list_bits(l), 1);
    TT_EQ_U(tsl_list_size(l), 16);
    size_t n;
    const uint8_t *b = tsl_list_bytes(l, &n);
    TT_EQ_U(n, 2);
    TT_EQ_MEM(b, SPEC_RAW, 2);
    static const unsigned want[16] = {1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 1, 0, 1};
    for (uint64_t i = 0; i < 16; i++) {
        unsigned v;
        TT_OK(tsl_list_get(l, i, &v, NULL));
        TT_EQ_U(v, want[i]);
    }
    TT_CHECK(tsl_list_aggregation_uri(l) == NULL);
    tsl_list_free(l);
}

/* The encoder's framing, byte for byte, with the spec's own compressed lst. */
TT_TEST(cbor_spec_example_exact_framing)
{
    tsl_list *l = NULL;
    TT_OK(tsl_list_from_bytes(1, SPEC_RAW, sizeof SPEC_RAW, &l, NULL));
    uint8_t buf[64];
    size_t len = 0;
    TT_OK(tslp_statuslist_cbor_write(l, SPEC_Z, sizeof SPEC_Z, NULL, 0, &len, NULL));
    TT_EQ_U(len, sizeof SPEC);
    TT_OK(tslp_statuslist_cbor_write(l, SPEC_Z, sizeof SPEC_Z, buf, sizeof buf, &len,
                                     NULL));
    TT_EQ_U(len, sizeof SPEC);
    TT_EQ_MEM(buf, SPEC, sizeof SPEC);

    /* Too small a buffer: TSL_ERR_BUFFER, the size needed, nothing written. */
    tsl_error err;
    tsl_error_clear(&err);
    memset(buf, 0xee, sizeof buf);
    TT_ERR(tslp_statuslist_cbor_write(l, SPEC_Z, sizeof SPEC_Z, buf, sizeof SPEC - 1, &len,
                                      &err),
           TSL_ERR_BUFFER);
    TT_EQ_U(len, sizeof SPEC);
    TT_EQ_U(buf[0], 0xee);

    /* With an aggregation_uri: a map of three, the uri last. */
    uint8_t want[128];
    size_t want_len = spec_with_uri(want);
    TT_OK(tsl_list_set_aggregation_uri(l, URI, NULL));
    TT_OK(tslp_statuslist_cbor_write(l, SPEC_Z, sizeof SPEC_Z, buf, sizeof buf, &len,
                                     NULL));
    TT_EQ_U(len, want_len);
    TT_EQ_MEM(buf, want, want_len);
    tsl_list_free(l);
}

/* Round trip through the real compressor; compressed bytes may differ from the spec's
 * (our default is libdeflate level 12), so the inflated bytes are compared. */
TT_TEST(cbor_roundtrip)
{
    static const int levels[] = {0, 1, TSL_LEVEL_FAST, 9, TSL_LEVEL_DEFAULT};
    tsl_list *a = NULL;
    tsl_error err;
    TT_OK(from_cbor(SPEC, sizeof SPEC, &a, &err));
    for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++) {
        for (int with_uri = 0; with_uri < 2; with_uri++) {
            TT_OK(tsl_list_set_aggregation_uri(a, with_uri ? URI : NULL, NULL));
            uint8_t *enc = NULL;
            size_t enc_len = 0;
            TT_OK(tsl_list_to_cbor(a, levels[i], &enc, &enc_len, NULL));
            /* The framing before lst is fixed: a2/a3, "bits", 1, "lst". */
            TT_EQ_U(enc[0], with_uri ? 0xa3 : 0xa2);
            TT_EQ_MEM(enc + 1, SPEC + 1, 10);
            tsl_list *b = NULL;
            TT_OK(from_cbor(enc, enc_len, &b, &err));
            size_t na, nb;
            const uint8_t *ba = tsl_list_bytes(a, &na), *bb = tsl_list_bytes(b, &nb);
            TT_EQ_U(na, nb);
            TT_EQ_MEM(ba, bb, na);
            TT_EQ_U(tsl_list_bits(b), 1);
            if (with_uri)
                TT_EQ_STR(tsl_list_aggregation_uri(b), URI);
            else
                TT_CHECK(tsl_list_aggregation_uri(b) == NULL);
            tsl_list_free(b);
            tsl_free(enc);
        }
    }
    tsl_list_free(a);
}

/* Larger lists of every width, including a zero-entry list and one whose lst needs a
 * two-byte length head. */
TT_TEST(cbor_roundtrip_widths)
{
    static const unsigned widths[] = {1, 2, 4, 8};
    static const uint64_t sizes[] = {0, 1, 300, 100000};
    for (size_t w = 0; w < 4; w++) {
        for (size_t k = 0; k < 4; k++) {
            tsl_list *a = NULL, *b = NULL;
            TT_OK(tsl_list_new(widths[w], sizes[k], &a, NULL));
            for (uint64_t i = 0; i < sizes[k]; i += 7)
                TT_OK(tsl_list_set(a, i, (unsigned)(i * 31 % (1u << widths[w])), NULL));
            uint8_t *enc = NULL;
            size_t enc_len = 0;
            TT_OK(tsl_list_to_cbor(a, TSL_LEVEL_FAST, &enc, &enc_len, NULL));
            tsl_error err;
            TT_OK(from_cbor(enc, enc_len, &b, &err));
            size_t na, nb;
            const uint8_t *ba = tsl_list_bytes(a, &na), *bb = tsl_list_bytes(b, &nb);
            TT_EQ_U(tsl_list_bits(b), widths[w]);
            TT_EQ_U(na, nb);
            if (na > 0)
                TT_EQ_MEM(ba, bb, na);
            tsl_free(enc);
            tsl_list_free(a);
            tsl_list_free(b);
        }
    }
}

/* ---------------------------------------------------------------------------------- */
/* The inputs that cost cbor_load() 1 GiB, and their cousins                            */

/* Fails with code and message, allocating nothing: with the very next allocation set to
 * fail, any allocation would have turned the result into TSL_ERR_NOMEM. */
static int rejects_without_alloc(const uint8_t *in, size_t len, tsl_status code,
                                 const char *msg)
{
    tsl_error err;
    tsl_list *l = NULL;
    tsl_error_clear(&err);
    tslp_test_fail_alloc_after(1);
    tsl_status s = tsl_list_from_cbor(in, len, NULL, &l, &err);
    tslp_test_fail_alloc_after(0);
    if (s != code || err.code != code || l != NULL) {
        tt_failf(__FILE__, __LINE__, "got %s (%s), expected %s", tsl_strerror(s), err.msg,
                 tsl_strerror(code));
        return 0;
    }
    if (msg != NULL && strstr(err.msg, msg) == NULL) {
        tt_failf(__FILE__, __LINE__, "\"%s\" does not contain \"%s\"", err.msg, msg);
        return 0;
    }
    return 1;
}

TT_TEST(cbor_huge_declared_lengths)
{
    static const uint8_t arr[] = {0x9a, 0x08, 0x00, 0x00, 0x00};
    static const uint8_t map[] = {0xba, 0x08, 0x00, 0x00, 0x00};
    static const uint8_t bstr[] = {0x5a, 0x08, 0x00, 0x00, 0x00};
    static const uint8_t tstr[] = {0x7a, 0x08, 0x00, 0x00, 0x00, 'a', 'b', 'c'};
    static const uint8_t arr64[] = {0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    static const uint8_t bstr64[] = {0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    static const uint8_t map64[] = {0xbb, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    /* Inside a valid-looking StatusList: lst claims 2^32 - 1 bytes. */
    static const uint8_t lst[] = {0xa2, 0x64, 'b', 'i', 't', 's', 0x01, 0x63, 'l', 's',
                                  't',  0x5a, 0xff, 0xff, 0xff, 0xff, 0x78, 0xda};
    /* An array of 5 declared with 4 bytes left: one too many. */
    static const uint8_t arr5[] = {0x85, 0x01, 0x02, 0x03, 0x04};
    TT_CHECK(rejects_without_alloc(arr, sizeof arr, TSL_ERR_MALFORMED,
                                   "cbor: array at offset 0 declares 134217728 items, "
                                   "only 0 bytes left"));
    TT_CHECK(rejects_without_alloc(map, sizeof map, TSL_ERR_MALFORMED,
                                   "cbor: map at offset 0 declares 134217728 pairs"));
    TT_CHECK(rejects_without_alloc(bstr, sizeof bstr, TSL_ERR_MALFORMED,
                                   "cbor: byte string at offset 0 declares 134217728 "
                                   "bytes, only 0 bytes left"));
    TT_CHECK(rejects_without_alloc(tstr, sizeof tstr, TSL_ERR_MALFORMED,
                                   "cbor: text string at offset 0 declares 134217728 "
                                   "bytes, only 3 bytes left"));
    TT_CHECK(rejects_without_alloc(arr64, sizeof arr64, TSL_ERR_MALFORMED,
                                   "declares 18446744073709551615 items"));
    TT_CHECK(rejects_without_alloc(bstr64, sizeof bstr64, TSL_ERR_MALFORMED,
                                   "declares 18446744073709551615 bytes"));
    TT_CHECK(rejects_without_alloc(map64, sizeof map64, TSL_ERR_MALFORMED,
                                   "declares 9223372036854775807 pairs"));
    TT_CHECK(rejects_without_alloc(lst, sizeof lst, TSL_ERR_MALFORMED,
                                   "byte string at offset 11 declares 4294967295 bytes, "
                                   "only 2 bytes left"));
    TT_CHECK(rejects_without_alloc(arr5, sizeof arr5, TSL_ERR_MALFORMED,
                                   "declares 5 items, only 4 bytes left"));
}

/* The same inputs from the regression directory, as the fuzz replay sees them. */
TT_TEST(cbor_regress_files)
{
    static const char *const files[] = {
        "tests/fuzz/regress/fuzz_cbor/array_1gib.cbor",
        "tests/fuzz/regress/fuzz_cbor/map_1gib.cbor",
        "tests/fuzz/regress/fuzz_cbor/bstr_1gib.cbor",
        "tests/fuzz/regress/fuzz_cbor/tstr_1gib.cbor",
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        size_t len;
        unsigned char *in = tt_read_file(files[i], &len);
        int ok = rejects_without_alloc(in, len, TSL_ERR_MALFORMED, "declares");
        free(in);
        TT_CHECK(ok);
    }
}

/* ---------------------------------------------------------------------------------- */
/* Limits                                                                               */

TT_TEST(cbor_depth_limit)
{
    uint8_t buf[80];
    tslp_cbor_doc *doc = NULL;
    tsl_error err;
    /* 16 nested arrays (the default max_depth) around a 0: accepted. */
    memset(buf, 0x81, 16);
    buf[16] = 0x00;
    TT_OK(parse(buf, 17, &doc, &err));
    TT_EQ_U(doc->nnodes, 17);
    tslp_cbor_free(doc);
    /* 17: refused, naming the offset of the 17th. */
    memset(buf, 0x81, 17);
    buf[17] = 0x00;
    TT_ERR(parse(buf, 18, &doc, &err), TSL_ERR_LIMIT);
    TT_CONTAINS(err.msg, "cbor: array at offset 16 nests deeper than max_depth 16");
    TT_EQ_U(err.offset, 16);
    /* Tags and maps count too. */
    memset(buf, 0xc6, 17); /* tag 6, one of the heads libcbor 0.8 rejects itself */
    buf[17] = 0x00;
    TT_ERR(parse(buf, 18, &doc, &err), TSL_ERR_LIMIT);
    TT_CONTAINS(err.msg, "tag at offset 16 nests deeper");
    for (size_t i = 0; i < 17; i++) {
        buf[2 * i] = 0xa1;
        buf[2 * i + 1] = 0x00;
    }
    buf[34] = 0x00;
    TT_ERR(parse(buf, 35, &doc, &err), TSL_ERR_LIMIT);
    TT_CONTAINS(err.msg, "map at offset 32 nests deeper");
    /* A custom, smaller depth; and the ceiling (64) for anything larger. */
    tsl_limits lim = {.max_depth = 2};
    static const uint8_t two[] = {0x81, 0x81, 0x01};
    static const uint8_t three[] = {0x81, 0x81, 0x81, 0x01};
    tsl_error_clear(&err);
    TT_OK(tslp_cbor_parse(two, sizeof two, &lim, NULL, &doc, &err));
    tslp_cbor_free(doc);
    TT_ERR(tslp_cbor_parse(three, sizeof three, &lim, NULL, &doc, &err), TSL_ERR_LIMIT);
    lim.max_depth = 1000;
    memset(buf, 0x81, 65);
    buf[65] = 0x00;
    tsl_error_clear(&err);
    TT_ERR(tslp_cbor_parse(buf, 66, &lim, NULL, &doc, &err), TSL_ERR_LIMIT);
    TT_CONTAINS(err.msg, "max_depth 64");
    /* The StatusList decoder applies it too. */
    static const uint8_t deep[] = {0xa3, K_BITS, 0x01, K_LST, 0x41, 0x00,
                                   0x61, 'x',    0x81, 0x81,  0x81, 0x00};
    lim.max_depth = 2;
    tsl_list *l = NULL;
    tsl_error_clear(&err);
    TT_ERR(tsl_list_from_cbor(deep, sizeof deep, &lim, &l, &err), TSL_ERR_LIMIT);
}

TT_TEST(cbor_input_and_node_limits)
{
    tsl_limits lim = {.max_input = sizeof SPEC - 1};
    tsl_list *l = NULL;
    tsl_error err;
    tsl_error_clear(&err);
    TT_ERR(tsl_list_from_cbor(SPEC, sizeof SPEC, &lim, &l, &err), TSL_ERR_LIMIT);
    TT_CONTAINS(err.msg, "exceeds max_input");
    lim.max_input = sizeof SPEC;
    TT_OK(tsl_list_from_cbor(SPEC, sizeof SPEC, &lim, &l, NULL));
    tsl_list_free(l);

    /* An array of TSLP_CBOR_MAX_NODES zeros: MAX_NODES + 1 items with the array. */
    size_t n = TSLP_CBOR_MAX_NODES;
    uint8_t *buf = calloc(n + 5, 1);
    TT_CHECK(buf != NULL);
    buf[0] = 0x9a;
    buf[1] = (uint8_t)(n >> 24);
    buf[2] = (uint8_t)(n >> 16);
    buf[3] = (uint8_t)(n >> 8);
    buf[4] = (uint8_t)n;
    tslp_cbor_doc *doc = NULL;
    tsl_status s = parse(buf, n + 5, &doc, &err);
    if (s == TSL_OK)
        tslp_cbor_free(doc);
    /* One fewer item fits exactly. */
    buf[1] = (uint8_t)((n - 1) >> 24);
    buf[2] = (uint8_t)((n - 1) >> 16);
    buf[3] = (uint8_t)((n - 1) >> 8);
    buf[4] = (uint8_t)(n - 1);
    tsl_error err2;
    tsl_status s2 = parse(buf, n + 4, &doc, &err2);
    if (s2 == TSL_OK) {
        TT_EQ_U(doc->nnodes, n);
        tslp_cbor_free(doc);
    }
    free(buf);
    TT_ERR(s, TSL_ERR_LIMIT);
    TT_CONTAINS(err.msg, "more than 1048576 items");
    TT_OK(s2);
}

/* ---------------------------------------------------------------------------------- */
/* Rejection rules of the reader                                                        */

struct bad_case {
    const char *name;
    const uint8_t *in;
    size_t len;
    const char *msg;
    size_t offset;
};

#define BYTES(...) (const uint8_t[]){__VA_ARGS__}
#define BAD(name, msg, off, ...)                                                          \
    {name, BYTES(__VA_ARGS__), sizeof(BYTES(__VA_ARGS__)), msg, off}

TT_TEST(cbor_reader_rejects)
{
    const struct bad_case cases[] = {
        BAD("empty", "cbor: empty input", 0, 0x00),
        BAD("trailing", "cbor: 1 byte after the item that ends at offset 1", 1, 0x01,
            0x02),
        BAD("truncated head", "cbor: unsigned integer at offset 0 is truncated", 0, 0x19,
            0x01),
        BAD("reserved ai", "reserved initial byte 0x1c", 0, 0x1c),
        BAD("reserved ai in array", "reserved initial byte 0x7d (text string) at offset 1",
            1, 0x81, 0x7d),
        BAD("indefinite uint", "cannot have indefinite length (0x1f)", 0, 0x1f),
        BAD("indefinite tag", "tag at offset 0 cannot have indefinite length", 0, 0xdf),
        BAD("simple 0", "unsupported simple value (0xe0)", 0, 0xe0),
        BAD("simple f8", "unsupported simple value (0xf8)", 0, 0xf8, 0x20),
        BAD("stray break", "break (0xff) at offset 0 outside", 0, 0xff),
        BAD("break in definite array", "break (0xff) at offset 2 outside", 2, 0x82, 0x01,
            0xff),
        BAD("array missing break", "indefinite-length array at offset 0 has no break", 2,
            0x9f, 0x01),
        BAD("map missing break", "indefinite-length map at offset 1 has no break", 4, 0x81,
            0xbf, 0x01, 0x02),
        BAD("indef map key only", "map at offset 0 ends at offset 2 after a key without",
            2, 0xbf, 0x01, 0xff),
        BAD("definite array short", "input ends at offset 4 where an item was expected", 4,
            0x82, 0x82, 0x01, 0x02),
        BAD("bstr chunk type", "indefinite-length byte string at offset 0 has a chunk at "
                               "offset 1 that is not a definite byte string",
            1, 0x5f, 0x61, 0x61, 0xff),
        BAD("nested indef chunk", "has a chunk at offset 1", 1, 0x7f, 0x7f, 0xff, 0xff),
        BAD("bstr no break", "indefinite-length byte string at offset 0 has no break", 3,
            0x5f, 0x41, 0x00),
        BAD("tag no content", "tag 18 at offset 0 has no content", 1, 0xd2),
        BAD("utf8 overlong", "text string at offset 0 has invalid UTF-8 at offset 1", 1,
            0x62, 0xc0, 0x80),
        BAD("utf8 surrogate", "invalid UTF-8 at offset 2", 2, 0x64, 'a', 0xed, 0xa0, 0x80),
        BAD("utf8 too big", "invalid UTF-8", 1, 0x64, 0xf4, 0x90, 0x80, 0x80),
        BAD("utf8 overlong 3", "invalid UTF-8", 1, 0x63, 0xe0, 0x80, 0xaf),
        BAD("utf8 overlong 4", "invalid UTF-8", 1, 0x64, 0xf0, 0x80, 0x80, 0xaf),
        BAD("utf8 lone continuation", "invalid UTF-8", 1, 0x61, 0x80),
        BAD("utf8 cut short", "invalid UTF-8", 1, 0x62, 0xe2, 0x82),
        BAD("utf8 bad continuation", "invalid UTF-8", 1, 0x63, 0xe2, 0x28, 0xa1),
        BAD("utf8 f5", "invalid UTF-8", 1, 0x61, 0xf5),
        BAD("utf8 in chunk", "text string at offset 3 has invalid UTF-8 at offset 4", 4,
            0x7f, 0x61, 'a', 0x61, 0xff, 0xff),
        BAD("utf8 split across chunks", "text string at offset 1 has invalid UTF-8", 2,
            0x7f, 0x61, 0xc3, 0x61, 0xa9, 0xff),
        BAD("dup text key", "cbor: map at offset 0 has a duplicate key (text string) at "
                            "offset 4",
            4, 0xa2, 0x61, 'a', 0x01, 0x61, 'a', 0x02),
        BAD("dup int key, non-minimal", "duplicate key (unsigned integer) at offset 3", 3,
            0xa2, 0x01, 0x00, 0x18, 0x01, 0x00),
        BAD("dup negint key", "duplicate key (negative integer)", 3, 0xa2, 0x20, 0x00,
            0x20, 0x00),
        BAD("dup bstr key in nested map", "map at offset 1 has a duplicate key", 5, 0x81,
            0xa2, 0x41, 0x00, 0x00, 0x41, 0x00, 0x00),
        BAD("dup indef text key", "duplicate key (text string) at offset 4", 4, 0xa2, 0x61,
            'a', 0x00, 0x7f, 0x61, 'a', 0xff, 0x00),
        BAD("dup array key", "duplicate key (array)", 5, 0xa2, 0x82, 0x01, 0x02, 0x00,
            0x82, 0x01, 0x02, 0x00),
        BAD("dup float key", "duplicate key (float)", 5, 0xa2, 0xf9, 0x3c, 0x00, 0x00,
            0xfa, 0x3f, 0x80, 0x00, 0x00, 0x00),
        BAD("dup null key", "duplicate key (null)", 3, 0xa2, 0xf6, 0x00, 0xf6, 0x00),
        BAD("dup key in indef map", "duplicate key", 3, 0xbf, 0x01, 0x00, 0x01, 0xf5,
            0xff),
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct bad_case *c = &cases[i];
        size_t len = strcmp(c->name, "empty") == 0 ? 0 : c->len;
        tslp_cbor_doc *doc = NULL;
        tsl_error err;
        tsl_status s = parse(c->in, len, &doc, &err);
        if (s == TSL_OK)
            tslp_cbor_free(doc);
        if (s != TSL_ERR_MALFORMED || strstr(err.msg, c->msg) == NULL ||
            err.offset != c->offset) {
            tt_failf(__FILE__, __LINE__,
                     "%s: %s, offset %zu, \"%s\"; expected \"%s\" at %zu", c->name,
                     tsl_strerror(s), err.offset, err.msg, c->msg, c->offset);
            return;
        }
    }
}

/* Equal keys found through the sorting path (more than 8 pairs). */
TT_TEST(cbor_dup_keys_large_map)
{
    uint8_t buf[64];
    size_t n = 0;
    buf[n++] = 0xb4; /* 20 pairs */
    for (unsigned k = 0; k < 20; k++) {
        buf[n++] = (uint8_t)(k == 19 ? 7 : k); /* key 7 twice */
        buf[n++] = 0xf6;
    }
    tslp_cbor_doc *doc = NULL;
    tsl_error err;
    TT_ERR(parse(buf, n, &doc, &err), TSL_ERR_MALFORMED);
    TT_CONTAINS(err.msg, "map at offset 0 has a duplicate key (unsigned integer) at "
                         "offset 39");
    buf[39] = 0x17;
    TT_OK(parse(buf, n, &doc, &err));
    TT_EQ_U(doc->root->count, 20);
    TT_CHECK(tslp_cbor_map_get_int(doc->root, 23) != NULL);
    tslp_cbor_free(doc);
}

/* ---------------------------------------------------------------------------------- */
/* What the reader accepts, and the tree it builds                                      */

TT_TEST(cbor_reader_tree)
{
    /* 18([h'a10126', {4: h'3132'}, h'a1...', h'']) : the shape of a COSE_Sign1. The tag
     * head 0xd2 is one that libcbor 0.8's streaming decoder rejects by itself. */
    static const uint8_t cose[] = {0xd2, 0x84, 0x43, 0xa1, 0x01, 0x26, 0xa1, 0x04, 0x42,
                                   0x31, 0x32, 0x44, 0xa1, 0x02, 0x61, 'x',  0x40};
    tslp_cbor_doc *doc = NULL;
    tsl_error err;
    TT_OK(parse(cose, sizeof cose, &doc, &err));
    const tslp_cbor_node *t = doc->root;
    TT_EQ_U(t->type, TSLP_CBOR_TAG);
    TT_EQ_U(t->u, 18);
    TT_EQ_U(t->offset, 0);
    TT_EQ_U(t->enc_len, sizeof cose);
    const tslp_cbor_node *a = t->child;
    TT_EQ_U(a->type, TSLP_CBOR_ARRAY);
    TT_EQ_U(a->count, 4);
    TT_EQ_U(a->offset, 1);
    TT_EQ_U(a->enc_len, sizeof cose - 1);
    const tslp_cbor_node *prot = tslp_cbor_array_get(a, 0);
    const uint8_t *p;
    size_t len;
    TT_CHECK(tslp_cbor_get_bytes(prot, &p, &len));
    TT_EQ_U(len, 3);
    TT_CHECK(p == cose + 3); /* no copy: points into the input */
    TT_EQ_U(prot->offset, 2);
    TT_EQ_U(prot->enc_len, 4);
    const tslp_cbor_node *unprot = tslp_cbor_array_get(a, 1);
    TT_EQ_U(unprot->type, TSLP_CBOR_MAP);
    TT_CHECK(tslp_cbor_get_bytes(tslp_cbor_map_get_int(unprot, 4), &p, &len));
    TT_EQ_U(len, 2);
    TT_EQ_MEM(p, "12", 2);
    TT_CHECK(tslp_cbor_map_get_int(unprot, 5) == NULL);
    TT_CHECK(tslp_cbor_map_get_text(unprot, "4") == NULL);
    const tslp_cbor_node *sig = tslp_cbor_array_get(a, 3);
    TT_CHECK(tslp_cbor_get_bytes(sig, &p, &len));
    TT_EQ_U(len, 0);
    TT_EQ_U(sig->offset, 16);
    TT_EQ_U(sig->enc_len, 1);
    TT_CHECK(tslp_cbor_array_get(a, 4) == NULL);
    TT_CHECK(tslp_cbor_array_get(unprot, 0) == NULL);

    /* The protected header, parsed on its own from the bytes the node points at. */
    tslp_cbor_doc *hdr = NULL;
    TT_OK(tslp_cbor_get_bytes(prot, &p, &len) ? parse(p, len, &hdr, &err) : TSL_ERR_ARG);
    int64_t alg = 0;
    TT_CHECK(tslp_cbor_get_int(tslp_cbor_map_get_int(hdr->root, 1), &alg));
    TT_EQ_U(alg, (uint64_t)-7);
    tslp_cbor_free(hdr);

    /* Typed accessors refuse other types. */
    uint64_t u;
    const char *s;
    bool b;
    TT_CHECK(!tslp_cbor_get_uint(prot, &u));
    TT_CHECK(!tslp_cbor_get_text(prot, &s, &len));
    TT_CHECK(!tslp_cbor_get_bool(prot, &b));
    TT_CHECK(!tslp_cbor_get_int(NULL, &alg));
    tsl_error_clear(&err);
    TT_ERR(tslp_cbor_expect(prot, TSLP_CBOR_TEXT, "typ", &err), TSL_ERR_MALFORMED);
    TT_EQ_STR(err.msg, "typ: byte string, expected text string");
    TT_EQ_U(err.offset, 2);
    TT_OK(tslp_cbor_expect(prot, TSLP_CBOR_BYTES, "typ", NULL));
    tslp_cbor_free(doc);
}

TT_TEST(cbor_reader_scalars)
{
    /* [0, 23, 24, 2^64-1, -1, -2^64, 1.0 (half), 1.5 (single), -2.25 (double), false,
     *  true, null, undefined, "€𝄞", 65533(h'')] */
    static const uint8_t in[] = {
        0x8f, 0x00, 0x17, 0x18, 0x18, 0x1b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x20, 0x3b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xf9, 0x3c,
        0x00, 0xfa, 0x3f, 0xc0, 0x00, 0x00, 0xfb, 0xc0, 0x02, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0xf4, 0xf5, 0xf6, 0xf7, 0x67, 0xe2, 0x82, 0xac, 0xf0, 0x9d, 0x84,
        0x9e, 0xd9, 0xff, 0xfd, 0x40};
    tslp_cbor_doc *doc = NULL;
    tsl_error err;
    TT_OK(parse(in, sizeof in, &doc, &err));
    const tslp_cbor_node *a = doc->root;
    TT_EQ_U(a->count, 15);
    TT_EQ_U(doc->nnodes, 17);
    uint64_t u;
    int64_t i;
    TT_CHECK(tslp_cbor_get_uint(tslp_cbor_array_get(a, 0), &u) && u == 0);
    TT_CHECK(tslp_cbor_get_uint(tslp_cbor_array_get(a, 1), &u) && u == 23);
    TT_CHECK(tslp_cbor_get_uint(tslp_cbor_array_get(a, 2), &u) && u == 24);
    TT_CHECK(tslp_cbor_get_uint(tslp_cbor_array_get(a, 3), &u) && u == UINT64_MAX);
    TT_CHECK(!tslp_cbor_get_int(tslp_cbor_array_get(a, 3), &i)); /* does not fit */
    TT_CHECK(tslp_cbor_get_int(tslp_cbor_array_get(a, 4), &i) && i == -1);
    TT_CHECK(!tslp_cbor_get_uint(tslp_cbor_array_get(a, 4), &u));
    const tslp_cbor_node *big = tslp_cbor_array_get(a, 5);
    TT_EQ_U(big->type, TSLP_CBOR_NEGINT);
    TT_EQ_U(big->u, UINT64_MAX);
    TT_CHECK(!tslp_cbor_get_int(big, &i));
    TT_CHECK(tslp_cbor_array_get(a, 6)->f == 1.0);
    TT_CHECK(tslp_cbor_array_get(a, 7)->f == 1.5);
    TT_CHECK(tslp_cbor_array_get(a, 8)->f == -2.25);
    bool b = true;
    TT_CHECK(tslp_cbor_get_bool(tslp_cbor_array_get(a, 9), &b) && !b);
    TT_CHECK(tslp_cbor_get_bool(tslp_cbor_array_get(a, 10), &b) && b);
    TT_EQ_U(tslp_cbor_array_get(a, 11)->type, TSLP_CBOR_NULL);
    TT_EQ_U(tslp_cbor_array_get(a, 12)->type, TSLP_CBOR_UNDEFINED);
    const char *s;
    size_t len;
    TT_CHECK(tslp_cbor_get_text(tslp_cbor_array_get(a, 13), &s, &len));
    TT_EQ_U(len, 7);
    TT_EQ_MEM(s, "\xe2\x82\xac\xf0\x9d\x84\x9e", 7);
    const tslp_cbor_node *tag = tslp_cbor_array_get(a, 14);
    TT_EQ_U(tag->u, 65533);
    TT_EQ_U(tag->child->type, TSLP_CBOR_BYTES);
    TT_EQ_U(tag->enc_len, 4);
    TT_CHECK(tslp_cbor_map_get_int(a, 0) == NULL); /* not a map */
    tslp_cbor_free(doc);

    /* Integer map keys at the int64 edges. */
    static const uint8_t keys[] = {0xa2, 0x3b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                   0xff, 0x01, 0x1b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff,
                                   0xff, 0xff, 0x02};
    TT_OK(parse(keys, sizeof keys, &doc, &err));
    const tslp_cbor_node *m = doc->root;
    TT_CHECK(tslp_cbor_get_uint(tslp_cbor_map_get_int(m, INT64_MIN), &u) && u == 1);
    TT_CHECK(tslp_cbor_get_uint(tslp_cbor_map_get_int(m, INT64_MAX), &u) && u == 2);
    TT_CHECK(tslp_cbor_map_get_int(doc->root, -1) == NULL);
    tslp_cbor_free(doc);
}

TT_TEST(cbor_reader_indefinite)
{
    /* {_ "a": [_ 1, (_ h'78', h'', h'da'), (_ "b", "cd")], "e": (_ )} */
    static const uint8_t in[] = {0xbf, 0x61, 'a',  0x9f, 0x01, 0x5f, 0x41, 0x78, 0x40,
                                 0x41, 0xda, 0xff, 0x7f, 0x61, 'b',  0x62, 'c',  'd',
                                 0xff, 0xff, 0x61, 'e',  0x5f, 0xff, 0xff};
    tslp_cbor_doc *doc = NULL;
    tsl_error err;
    TT_OK(parse(in, sizeof in, &doc, &err));
    const tslp_cbor_node *m = doc->root;
    TT_CHECK(m->indefinite);
    TT_EQ_U(m->count, 2);
    TT_EQ_U(m->enc_len, sizeof in);
    const tslp_cbor_node *arr = tslp_cbor_map_get_text(m, "a");
    TT_CHECK(arr != NULL && arr->indefinite);
    TT_EQ_U(arr->count, 3);
    TT_EQ_U(arr->offset, 3);
    TT_EQ_U(arr->enc_len, 17);
    const uint8_t *p;
    size_t len;
    TT_CHECK(tslp_cbor_get_bytes(tslp_cbor_array_get(arr, 1), &p, &len));
    TT_EQ_U(len, 2);
    TT_EQ_MEM(p, "\x78\xda", 2);
    TT_EQ_U(tslp_cbor_array_get(arr, 1)->enc_len, 7);
    const char *s;
    TT_CHECK(tslp_cbor_get_text(tslp_cbor_array_get(arr, 2), &s, &len));
    TT_EQ_U(len, 3);
    TT_EQ_MEM(s, "bcd", 3);
    TT_CHECK(tslp_cbor_get_bytes(tslp_cbor_map_get_text(m, "e"), &p, &len));
    TT_EQ_U(len, 0);
    TT_CHECK(tslp_cbor_map_get_text(m, "x") == NULL);
    tslp_cbor_free(doc);

    /* A StatusList written entirely with indefinite lengths decodes the same. */
    static const uint8_t sl[] = {0xbf, 0x7f, 0x62, 'b',  'i',  0x62, 't',  's',  0xff,
                                 0x01, 0x63, 'l',  's',  't',  0x5f, 0x43, 0x78, 0xda,
                                 0xdb, 0x47, 0xb9, 0x18, 0x00, 0x02, 0x17, 0x01, 0x5d,
                                 0xff, 0xff};
    tsl_list *l = NULL;
    TT_OK(from_cbor(sl, sizeof sl, &l, &err));
    const uint8_t *raw = tsl_list_bytes(l, &len);
    TT_EQ_U(len, 2);
    TT_EQ_MEM(raw, SPEC_RAW, 2);
    tsl_list_free(l);
}

/* Bytes after the item: rejected, or reported when the caller asks. */
TT_TEST(cbor_trailing_bytes)
{
    uint8_t buf[64];
    memcpy(buf, SPEC, sizeof SPEC);
    buf[sizeof SPEC] = 0x00;
    tsl_list *l = NULL;
    tsl_error err;
    TT_ERR(from_cbor(buf, sizeof SPEC + 1, &l, &err), TSL_ERR_MALFORMED);
    TT_CONTAINS(err.msg, "cbor: 1 byte after the item that ends at offset 22");
    TT_EQ_U(err.offset, 22);
    TT_CHECK(l == NULL);

    tslp_cbor_doc *doc = NULL;
    size_t used = 0;
    TT_OK(tslp_cbor_parse(buf, sizeof SPEC + 1, NULL, &used, &doc, NULL));
    TT_EQ_U(used, sizeof SPEC);
    TT_EQ_U(doc->input_len, sizeof SPEC);
    tslp_cbor_free(doc);
    /* A CBOR sequence, item by item. */
    TT_OK(tslp_cbor_parse(buf + used, 1, NULL, &used, &doc, NULL));
    TT_EQ_U(used, 1);
    tslp_cbor_free(doc);
}

/* ---------------------------------------------------------------------------------- */
/* StatusList validation                                                                */

TT_TEST(cbor_statuslist_rejects)
{
    const struct bad_case cases[] = {
        BAD("not a map", "status_list: array, expected map", 0, 0x80),
        BAD("no bits", "status_list: missing \"bits\"", 0, 0xa1, K_LST, 0x41, 0x00),
        BAD("no lst", "status_list: missing \"lst\"", 0, 0xa1, K_BITS, 0x01),
        BAD("bits 3", "bits: 3 is not 1, 2, 4 or 8", 6, 0xa2, K_BITS, 3, K_LST, 0x41, 0),
        BAD("bits 0", "bits: 0 is not 1, 2, 4 or 8", 6, 0xa2, K_BITS, 0, K_LST, 0x41, 0),
        BAD("bits 256", "bits: 256 is not 1, 2, 4 or 8", 6, 0xa2, K_BITS, 0x19, 0x01, 0x00,
            K_LST, 0x41, 0x00),
        BAD("bits -1", "bits: negative integer, expected unsigned integer", 6, 0xa2,
            K_BITS, 0x20, K_LST, 0x41, 0x00),
        BAD("bits text", "bits: text string, expected unsigned integer", 6, 0xa2, K_BITS,
            0x61, '1', K_LST, 0x41, 0x00),
        BAD("bits float", "bits: float, expected unsigned integer", 6, 0xa2, K_BITS, 0xf9,
            0x3c, 0x00, K_LST, 0x41, 0x00),
        BAD("bits tagged", "bits: tag, expected unsigned integer", 6, 0xa2, K_BITS, 0xc1,
            0x01, K_LST, 0x41, 0x00),
        BAD("lst text", "lst: text string, expected byte string", 11, 0xa2, K_BITS, 0x01,
            K_LST, 0x61, 'x'),
        BAD("lst empty", "lst: empty byte string", 11, 0xa2, K_BITS, 0x01, K_LST, 0x40),
        BAD("lst gzip", "lst: ", 12, 0xa2, K_BITS, 0x01, K_LST, 0x43, 0x1f, 0x8b, 0x08),
        BAD("uri int", "aggregation_uri: unsigned integer, expected text string", 29, 0xa3,
            K_BITS, 0x01, K_LST, 0x41, 0x00, K_URI, 0x01),
        BAD("uri nul", "aggregation_uri: contains a NUL", 29, 0xa3, K_BITS, 0x01, K_LST,
            0x41, 0x00, K_URI, 0x62, 'a', 0x00),
        BAD("dup bits",
            "cbor: map at offset 0 has a duplicate key (text string) at offset 7", 7, 0xa3,
            K_BITS, 0x01, K_BITS, 0x01, K_LST, 0x41, 0x00),
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct bad_case *c = &cases[i];
        tsl_list *l = NULL;
        tsl_error err;
        tsl_status s = from_cbor(c->in, c->len, &l, &err);
        if (s != TSL_ERR_MALFORMED || strstr(err.msg, c->msg) != err.msg ||
            err.offset != c->offset || l != NULL) {
            tt_failf(__FILE__, __LINE__,
                     "%s: %s, offset %zu, \"%s\"; expected \"%s\" at %zu", c->name,
                     tsl_strerror(s), err.offset, err.msg, c->msg, c->offset);
            tsl_list_free(l);
            return;
        }
    }
}

/* Unknown keys are ignored, a null aggregation_uri is "absent", and the keys may come
 * in any order. */
TT_TEST(cbor_statuslist_accepts)
{
    /* {"x": [1], "lst": h'78da...', 7: null, "aggregation_uri": null, "bits": 1} */
    static const uint8_t in[] = {0xa5, 0x61, 'x', 0x81, 0x01, 0x63, 'l', 's', 't', 0x4a,
                                 0x78, 0xda, 0xdb, 0xb9, 0x18, 0x00, 0x02, 0x17, 0x01,
                                 0x5d, 0x07, 0xf6, 0x6f, 'a', 'g', 'g', 'r', 'e', 'g',
                                 'a', 't', 'i', 'o', 'n', '_', 'u', 'r', 'i', 0xf6, 0x64,
                                 'b', 'i', 't', 's', 0x01};
    tsl_list *l = NULL;
    tsl_error err;
    TT_OK(from_cbor(in, sizeof in, &l, &err));
    TT_EQ_U(tsl_list_size(l), 16);
    TT_CHECK(tsl_list_aggregation_uri(l) == NULL);
    tsl_list_free(l);

    uint8_t buf[128];
    size_t n = spec_with_uri(buf);
    TT_OK(from_cbor(buf, n, &l, &err));
    TT_EQ_STR(tsl_list_aggregation_uri(l), URI);
    tsl_list_free(l);

    /* tslp_statuslist_from_node on a map nested in another document (the CWT case). */
    uint8_t wrapped[64];
    wrapped[0] = 0xa1;
    wrapped[1] = 0x19;
    wrapped[2] = 0xff;
    wrapped[3] = 0xfd; /* 65533 */
    memcpy(wrapped + 4, SPEC, sizeof SPEC);
    tslp_cbor_doc *doc = NULL;
    TT_OK(parse(wrapped, 4 + sizeof SPEC, &doc, &err));
    const tslp_cbor_node *claim = tslp_cbor_map_get_int(doc->root, 65533);
    TT_CHECK(claim != NULL);
    TT_EQ_U(claim->offset, 4);
    TT_EQ_U(claim->enc_len, sizeof SPEC);
    tsl_error_clear(&err);
    tsl_status s = tslp_statuslist_from_node(claim, NULL, &l, &err);
    tslp_cbor_free(doc);
    TT_OK(s);
    TT_EQ_U(tsl_list_size(l), 16);
    tsl_list_free(l);
}

/* Issue 10 item 20: @owf/token-status-list 0.3 writes "aggregation_uri": undefined
 * (0xf7) into every StatusList without one; undefined, like null, means absent. Both in
 * a StatusList document and inside a CWT claim. */
TT_TEST(cbor_statuslist_undefined_is_absent)
{
    /* {"bits": 1, "lst": h'78da...', "aggregation_uri": undefined / null} */
    static const uint8_t simple[] = {0xf7, 0xf6};
    for (size_t i = 0; i < sizeof simple; i++) {
        uint8_t in[64];
        memcpy(in, SPEC, sizeof SPEC);
        in[0] = 0xa3;
        const uint8_t uri[] = {K_URI};
        memcpy(in + sizeof SPEC, uri, sizeof uri);
        in[sizeof SPEC + sizeof uri] = simple[i];
        size_t n = sizeof SPEC + sizeof uri + 1;
        tsl_list *l = NULL;
        tsl_error err;
        tsl_status s = from_cbor(in, n, &l, &err);
        if (s != TSL_OK) {
            tt_failf(__FILE__, __LINE__, "aggregation_uri 0x%02x: %s", simple[i], err.msg);
            return;
        }
        TT_EQ_U(tsl_list_size(l), 16);
        TT_CHECK(tsl_list_aggregation_uri(l) == NULL);
        size_t rl = 0;
        const uint8_t *raw = tsl_list_bytes(l, &rl);
        TT_EQ_U(rl, 2);
        TT_EQ_MEM(raw, SPEC_RAW, 2);
        tsl_list_free(l);

        /* The same map as claim 65533 of a CWT payload. */
        uint8_t wrapped[80];
        wrapped[0] = 0xa1;
        wrapped[1] = 0x19;
        wrapped[2] = 0xff;
        wrapped[3] = 0xfd;
        memcpy(wrapped + 4, in, n);
        tslp_cbor_doc *doc = NULL;
        TT_OK(parse(wrapped, 4 + n, &doc, &err));
        tsl_error_clear(&err);
        s = tslp_statuslist_from_node(tslp_cbor_map_get_int(doc->root, 65533), NULL, &l,
                                      &err);
        tslp_cbor_free(doc);
        TT_OK(s);
        TT_CHECK(tsl_list_aggregation_uri(l) == NULL);
        tsl_list_free(l);
    }
    /* Any other simple value is still refused. */
    static const uint8_t bad[] = {0xa3, K_BITS, 0x01, K_LST, 0x41, 0x00, K_URI, 0xf5};
    tsl_list *l = NULL;
    tsl_error err;
    TT_ERR(from_cbor(bad, sizeof bad, &l, &err), TSL_ERR_MALFORMED);
    TT_CONTAINS(err.msg, "aggregation_uri: ");
}

/* An inflate failure is reported in the context of lst, at an offset in the document. */
TT_TEST(cbor_statuslist_inflate_errors)
{
    uint8_t buf[64];
    memcpy(buf, SPEC, sizeof SPEC);
    buf[sizeof SPEC - 1] ^= 0xff; /* break the Adler-32 */
    tsl_list *l = NULL;
    tsl_error err;
    TT_ERR(from_cbor(buf, sizeof SPEC, &l, &err), TSL_ERR_MALFORMED);
    TT_CHECK(strncmp(err.msg, "lst: ", 5) == 0);
    TT_CHECK(err.offset >= 12 && err.offset <= sizeof SPEC);

    /* max_inflated applies: 2 bytes inflated, 1 allowed. */
    tsl_limits lim = {.max_inflated = 1};
    tsl_error_clear(&err);
    TT_ERR(tsl_list_from_cbor(SPEC, sizeof SPEC, &lim, &l, &err), TSL_ERR_LIMIT);
    TT_CHECK(strncmp(err.msg, "lst: ", 5) == 0);

    /* The first error wins: an error already in err is neither replaced nor prefixed. */
    tsl_error_clear(&err);
    tslp_fail(&err, TSL_ERR_IO, 3, "earlier");
    TT_ERR(tsl_list_from_cbor(buf, sizeof SPEC, NULL, &l, &err), TSL_ERR_MALFORMED);
    TT_EQ_STR(err.msg, "earlier");
    TT_EQ_U(err.offset, 3);
    TT_EQ_U(err.code, TSL_ERR_IO);
}

TT_TEST(cbor_bad_arguments)
{
    tsl_list *l = NULL;
    uint8_t *out = NULL;
    size_t len = 0;
    TT_ERR(tsl_list_from_cbor(SPEC, sizeof SPEC, NULL, NULL, NULL), TSL_ERR_ARG);
    TT_ERR(tsl_list_from_cbor(NULL, 5, NULL, &l, NULL), TSL_ERR_ARG);
    TT_ERR(tsl_list_from_cbor(NULL, 0, NULL, &l, NULL), TSL_ERR_MALFORMED);
    TT_ERR(tsl_list_to_cbor(NULL, 0, &out, &len, NULL), TSL_ERR_ARG);
    TT_OK(tsl_list_new(1, 8, &l, NULL));
    TT_ERR(tsl_list_to_cbor(l, 0, NULL, &len, NULL), TSL_ERR_ARG);
    TT_ERR(tsl_list_to_cbor(l, 0, &out, NULL, NULL), TSL_ERR_ARG);
    TT_ERR(tslp_statuslist_cbor_write(l, NULL, 3, NULL, 0, &len, NULL), TSL_ERR_ARG);
    TT_ERR(tslp_statuslist_from_node(NULL, NULL, &l, NULL), TSL_ERR_ARG);
    /* An aggregation_uri that CBOR cannot carry as text. */
    TT_OK(tsl_list_set_aggregation_uri(l, "https://x/\xc3(", NULL));
    tsl_error err;
    tsl_error_clear(&err);
    TT_ERR(tsl_list_to_cbor(l, 0, &out, &len, &err), TSL_ERR_ARG);
    TT_EQ_STR(err.msg, "aggregation_uri: not valid UTF-8 at byte 10");
    TT_CHECK(out == NULL);
    TT_OK(tsl_list_set_aggregation_uri(l, "https://x/\xc3\xa9", NULL));
    TT_OK(tsl_list_to_cbor(l, 0, &out, &len, NULL));
    tsl_free(out);
    tsl_list_free(l);
    tslp_cbor_doc *doc = NULL;
    TT_ERR(tslp_cbor_parse(SPEC, sizeof SPEC, NULL, NULL, NULL, NULL), TSL_ERR_ARG);
    TT_ERR(tslp_cbor_parse(NULL, 1, NULL, NULL, &doc, NULL), TSL_ERR_ARG);
    tslp_cbor_free(NULL);
}

/* ---------------------------------------------------------------------------------- */
/* Every prefix, every allocation                                                       */

/* Every proper prefix of a valid document fails cleanly: MALFORMED with a message, no
 * output, nothing leaked (ASan), never a read past the prefix (each prefix is copied
 * into a heap block of exactly its size). */
static int prefixes_fail(const uint8_t *in, size_t len, bool statuslist)
{
    for (size_t k = 0; k < len; k++) {
        uint8_t *p = malloc(k ? k : 1);
        if (p == NULL)
            return 0;
        memcpy(p, in, k);
        tsl_error err;
        tsl_error_clear(&err);
        tsl_status s;
        if (statuslist) {
            tsl_list *l = NULL;
            s = tsl_list_from_cbor(p, k, NULL, &l, &err);
            if (l != NULL)
                s = TSL_OK;
            tsl_list_free(l);
        } else {
            tslp_cbor_doc *doc = NULL;
            s = tslp_cbor_parse(p, k, NULL, NULL, &doc, &err);
            if (doc != NULL)
                s = TSL_OK;
            tslp_cbor_free(doc);
        }
        free(p);
        if (s != TSL_ERR_MALFORMED || err.code != s || err.msg[0] == '\0' ||
            err.offset > k) {
            tt_failf(__FILE__, __LINE__, "prefix of %zu of %zu bytes: %s, \"%s\"", k, len,
                     tsl_strerror(s), err.msg);
            return 0;
        }
    }
    return 1;
}

TT_TEST(cbor_every_prefix_fails)
{
    uint8_t buf[128];
    size_t n = spec_with_uri(buf);
    TT_CHECK(prefixes_fail(SPEC, sizeof SPEC, true));
    TT_CHECK(prefixes_fail(buf, n, true));
    TT_CHECK(prefixes_fail(buf, n, false));
    /* A document with every kind of item, definite and not. */
    static const uint8_t rich[] = {
        0xbf, 0x61, 'a',  0x9f, 0x01, 0x5f, 0x41, 0x78, 0x40, 0x41, 0xda, 0xff, 0x7f,
        0x61, 'b',  0x62, 'c',  'd',  0xff, 0xff, 0x20, 0xd2, 0x84, 0x43, 0xa1, 0x01,
        0x26, 0xa1, 0x04, 0x42, 0x31, 0x32, 0xf6, 0x40, 0x19, 0xff, 0xfd, 0xa2, 0xf9,
        0x3c, 0x00, 0xfb, 0xc0, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf5, 0xf7,
        0x1b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x64, 0xf0, 0x9d, 0x84,
        0x9e, 0xff};
    tslp_cbor_doc *doc = NULL;
    tsl_error err;
    TT_OK(parse(rich, sizeof rich, &doc, &err));
    TT_EQ_U(doc->root->count, 4);
    tslp_cbor_free(doc);
    TT_CHECK(prefixes_fail(rich, sizeof rich, false));
}

/* Fails allocation 1, 2, ... in turn: each run must fail with TSL_ERR_NOMEM and no
 * output (ASan checks the leaks) until n is large enough for the call to succeed. */
#define ALLOC_SWEEP(call, out, release)                                                   \
    do {                                                                                  \
        int done_ = 0;                                                                    \
        for (long n_ = 1; n_ < 200 && !done_; n_++) {                                     \
            tsl_error e_;                                                                 \
            tsl_error_clear(&e_);                                                         \
            tslp_test_fail_alloc_after(n_);                                               \
            tsl_status s_ = (call);                                                       \
            tslp_test_fail_alloc_after(0);                                                \
            if (s_ == TSL_OK) {                                                           \
                release;                                                                  \
                done_ = 1;                                                                \
            } else if (s_ != TSL_ERR_NOMEM || e_.code != s_ || (out) != NULL) {          \
                tt_failf(__FILE__, __LINE__, "allocation %ld failed: %s, \"%s\"", n_,     \
                         tsl_strerror(s_), e_.msg);                                       \
                return;                                                                   \
            }                                                                             \
        }                                                                                 \
        TT_CHECK(done_);                                                                  \
    } while (0)

TT_TEST(cbor_alloc_failures)
{
    uint8_t buf[128];
    size_t n = spec_with_uri(buf);
    tsl_list *l = NULL;
    ALLOC_SWEEP(tsl_list_from_cbor(SPEC, sizeof SPEC, NULL, &l, &e_), l,
                (tsl_list_free(l), l = NULL));
    ALLOC_SWEEP(tsl_list_from_cbor(buf, n, NULL, &l, &e_), l,
                (tsl_list_free(l), l = NULL));

    /* The raw reader with an indefinite string buffer and a large map's scratch. */
    uint8_t big[64];
    size_t k = 0;
    big[k++] = 0xb4;
    for (unsigned i = 0; i < 20; i++) {
        big[k++] = (uint8_t)i;
        big[k++] = i == 3 ? 0x5f : 0xf6;
        if (i == 3) {
            big[k++] = 0x41;
            big[k++] = 0x01;
            big[k++] = 0xff;
        }
    }
    tslp_cbor_doc *doc = NULL;
    ALLOC_SWEEP(tslp_cbor_parse(big, k, NULL, NULL, &doc, &e_), doc,
                (tslp_cbor_free(doc), doc = NULL));

    tsl_list *src = NULL;
    TT_OK(tsl_list_from_bytes(1, SPEC_RAW, sizeof SPEC_RAW, &src, NULL));
    TT_OK(tsl_list_set_aggregation_uri(src, URI, NULL));
    uint8_t *out = NULL;
    size_t out_len = 0;
    ALLOC_SWEEP(tsl_list_to_cbor(src, TSL_LEVEL_FAST, &out, &out_len, &e_), out,
                (tsl_free(out), out = NULL));
    tsl_list_free(src);
}
