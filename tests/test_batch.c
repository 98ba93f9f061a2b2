/* test_batch.c - update batches: the line format (indices, ranges, names, comments),
 * every rejection with its line number, and all-or-nothing application with INVALID
 * final. */
#include "tt.h"

static tsl_status add(tsl_batch *b, const char *line, uint64_t n, tsl_error *err)
{
    return tsl_batch_add_line(b, line, strlen(line), n, err);
}

TT_TEST(batch_lines_parse)
{
    tsl_batch *b;
    TT_OK(tsl_batch_new(2, 100, &b, NULL));
    TT_OK(add(b, "", 1, NULL));
    TT_OK(add(b, "   # only a comment", 2, NULL));
    TT_OK(add(b, "5 INVALID", 3, NULL));
    TT_OK(add(b, "\t7\tsuspended  # trailing comment\r", 4, NULL));
    TT_OK(add(b, "10-19 1", 5, NULL));
    TT_OK(add(b, "99 3", 6, NULL));
    TT_EQ_U(tsl_batch_count(b), 4);
    TT_EQ_U(tsl_batch_entries(b), 13);
    const tsl_batch_item *it = tsl_batch_items(b);
    TT_EQ_U(it[1].first, 7);
    TT_EQ_U(it[1].value, 2);
    TT_EQ_U(it[1].line, 4);
    TT_EQ_U(it[2].first, 10);
    TT_EQ_U(it[2].last, 19);
    tsl_batch_free(b);
}

TT_TEST(batch_rejections_name_the_line)
{
    static const struct {
        const char *line;
        tsl_status code;
        const char *why;
    } bad[] = {
        {"5", TSL_ERR_MALFORMED, "expected"},
        {"5 1 1", TSL_ERR_MALFORMED, "expected"},
        {"x 1", TSL_ERR_MALFORMED, "not an index"},
        {"-5 1", TSL_ERR_MALFORMED, "not an index"},
        {"5- 1", TSL_ERR_MALFORMED, "not an index"},
        {"0x10 1", TSL_ERR_MALFORMED, "not an index"},
        {"18446744073709551616 1", TSL_ERR_MALFORMED, "not an index"},
        {"9-3 1", TSL_ERR_MALFORMED, "reversed"},
        {"100 1", TSL_ERR_INDEX, "out of range"},
        {"5-100 1", TSL_ERR_INDEX, "out of range"},
        {"5 4", TSL_ERR_VALUE, "does not fit in 2 bits"},
        {"5 256", TSL_ERR_MALFORMED, "unknown status"},
        {"5 REVOKED", TSL_ERR_MALFORMED, "unknown status \"REVOKED\""},
        {"5 1\0garbage", TSL_ERR_MALFORMED, "NUL"},
    };
    tsl_batch *b;
    TT_OK(tsl_batch_new(2, 100, &b, NULL));
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        tsl_error err;
        tsl_error_clear(&err);
        size_t len = strlen(bad[k].line);
        if (strcmp(bad[k].line, "5 1") == 0)
            len = 11; /* the NUL case: include the bytes after it */
        TT_ERR(tsl_batch_add_line(b, bad[k].line, len, 42, &err), bad[k].code);
        TT_CONTAINS(err.msg, "line 42: ");
        TT_CONTAINS(err.msg, bad[k].why);
    }
    TT_EQ_U(tsl_batch_count(b), 0); /* nothing was added */
    char longline[TSL_BATCH_MAX_LINE + 2];
    memset(longline, '1', sizeof longline);
    TT_ERR(tsl_batch_add_line(b, longline, sizeof longline, 7, NULL), TSL_ERR_LIMIT);
    tsl_batch_free(b);
    /* SUSPENDED on a one-bit list says why. */
    TT_OK(tsl_batch_new(1, 10, &b, NULL));
    tsl_error err;
    tsl_error_clear(&err);
    TT_ERR(add(b, "3 SUSPENDED", 9, &err), TSL_ERR_VALUE);
    TT_CONTAINS(err.msg, "at least 2 bits");
    tsl_batch_free(b);
}

TT_TEST(batch_apply_final_invalid)
{
    tsl_list *l;
    TT_OK(tsl_list_new(2, 64, &l, NULL));
    TT_OK(tsl_list_set(l, 3, TSL_STATUS_INVALID));
    tsl_batch *b;
    TT_OK(tsl_batch_new(2, 64, &b, NULL));
    TT_OK(add(b, "0-9 SUSPENDED", 1, NULL));
    tsl_error err;
    tsl_error_clear(&err);
    TT_ERR(tsl_batch_apply(b, l, 1, &err), TSL_ERR_VALUE);
    TT_CONTAINS(err.msg, "line 1: index 3 is INVALID");
    unsigned v;
    TT_OK(tsl_list_get(l, 0, &v));
    TT_EQ_U(v, 0); /* nothing applied */
    TT_OK(tsl_batch_apply(b, l, 0, NULL)); /* with --force */
    TT_OK(tsl_list_get(l, 3, &v));
    TT_EQ_U(v, 2);
    tsl_batch_free(b);
    /* Within one batch: an entry made INVALID by an earlier line stays INVALID. */
    TT_OK(tsl_batch_new(2, 64, &b, NULL));
    TT_OK(add(b, "20 INVALID", 1, NULL));
    TT_OK(add(b, "21 INVALID", 2, NULL));
    TT_OK(add(b, "20 VALID", 3, NULL));
    tsl_error_clear(&err);
    TT_ERR(tsl_batch_apply(b, l, 1, &err), TSL_ERR_VALUE);
    TT_CONTAINS(err.msg, "line 3: index 20");
    TT_OK(tsl_list_get(l, 21, &v));
    TT_EQ_U(v, 0); /* restored */
    /* INVALID to INVALID is no change and allowed. */
    tsl_batch_free(b);
    TT_OK(tsl_batch_new(2, 64, &b, NULL));
    TT_OK(add(b, "3 INVALID", 1, NULL));
    TT_OK(add(b, "3-4 INVALID", 2, NULL));
    TT_OK(tsl_batch_apply(b, l, 1, NULL));
    tsl_batch_free(b);
    tsl_list_free(l);
}

TT_TEST(batch_status_parse)
{
    unsigned v;
    TT_CHECK(tsl_status_parse("valid", 5, &v) && v == 0);
    TT_CHECK(tsl_status_parse("Invalid", 7, &v) && v == 1);
    TT_CHECK(tsl_status_parse("APPLICATION_SPECIFIC", 20, &v) && v == 3);
    TT_CHECK(tsl_status_parse("255", 3, &v) && v == 255);
    TT_CHECK(!tsl_status_parse("256", 3, &v));
    TT_CHECK(!tsl_status_parse("1000", 4, &v));
    TT_CHECK(!tsl_status_parse("VALIDX", 6, &v));
    TT_CHECK(!tsl_status_parse("", 0, &v));
}
