/* test_uri.c - a list's uri: what tsl_uri_check accepts and refuses (with the byte it
 * names), and tsl_uri_path, the one path rule of tsl serve and tsl export: unreserved
 * characters percent-decoded, everything else that could change the path refused. */
#include "tt.h"

TT_TEST(uri_path_rule)
{
    static const struct {
        const char *uri, *path;
    } good[] = {
        {"https://example.com/statuslists/1", "/statuslists/1"},
        {"https://example.com:8443/a/b", "/a/b"},
        {"http://127.0.0.1:8080/x", "/x"},
        {"https://example.com/l%41b", "/lAb"},       /* %41 is A: served as /lAb */
        {"https://example.com/l%41%62", "/lAb"},     /* lower-case hex digits too */
        {"https://example.com/%7euser/x.y_z-0", "/~user/x.y_z-0"},
        {"https://[2001:db8::1]/v6", "/v6"},
        {"/statuslists", "/statuslists"},            /* a bare path (an aggregation path) */
        {"/a%2Db", "/a-b"},
    };
    char buf[TSL_URI_MAX + 1];
    for (size_t k = 0; k < sizeof good / sizeof good[0]; k++) {
        tsl_error err;
        tsl_error_clear(&err);
        tsl_status s = tsl_uri_path(good[k].uri, buf, sizeof buf, &err);
        if (s != TSL_OK)
            tt_failf(__FILE__, __LINE__, "%s: %s", good[k].uri, err.msg);
        TT_OK(s);
        TT_EQ_STR(buf, good[k].path);
    }
    static const struct {
        const char *uri, *msg;
        size_t offset;
    } bad[] = {
        {"https://example.com/a%2Fb", "%2F at byte 21 encodes '/'", 21},
        {"https://example.com/a%00b", "encodes 0x00", 21},
        {"https://example.com/a%C3%A4", "encodes 0xc3", 21},
        {"https://example.com/a%4", "not followed by two hex digits", 21},
        {"https://example.com/a%zz", "not followed by two hex digits", 21},
        {"https://example.com/%2e%2E/x", "\"..\" segment at byte 20", 20},
        {"https://example.com/a/./b", "\".\" segment at byte 22", 22},
        {"https://example.com/a//b", "empty segment at byte 22", 22},
        {"https://example.com/a/", "empty segment at byte 22", 22},
        {"https://example.com/", "the path is \"/\"", 19},
        {"https://example.com", "has no path", 19},
        {"https://example.com?x", "has no path", 19},
        {"https://example.com/a?time=1", "a query at byte 21", 21},
        {"https://example.com/a#f", "a fragment at byte 21", 21},
        {"https://example.com/a b", "0x20 at byte 21", 21},
        {"https://example.com/a;b", "';' at byte 21", 21},
        {"example.com/a", "not an absolute URI", 0},
        {"", "empty", 0},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        tsl_error err;
        tsl_error_clear(&err);
        tsl_status s = tsl_uri_path(bad[k].uri, buf, sizeof buf, &err);
        if (s != TSL_ERR_MALFORMED)
            tt_failf(__FILE__, __LINE__, "%s: %s", bad[k].uri, tsl_strerror(s));
        TT_ERR(s, TSL_ERR_MALFORMED);
        TT_CONTAINS(err.msg, bad[k].msg);
        TT_EQ_U(err.offset, bad[k].offset);
    }
    /* The decoded path is never longer than the uri: strlen + 1 bytes suffice. */
    TT_OK(tsl_uri_path("/a%41", buf, 6, NULL));
    TT_EQ_STR(buf, "/aA");
    TT_ERR(tsl_uri_path("/abcd", buf, 5, NULL), TSL_ERR_BUFFER);
    char longer[TSL_URI_MAX + 2];
    memset(longer, 'a', sizeof longer - 1);
    longer[0] = '/';
    longer[sizeof longer - 1] = '\0';
    TT_ERR(tsl_uri_path(longer, buf, sizeof buf, NULL), TSL_ERR_LIMIT);
    TT_ERR(tsl_uri_path(NULL, buf, sizeof buf, NULL), TSL_ERR_ARG);
}

TT_TEST(uri_check_rules)
{
    static const char *const good[] = {
        "https://example.com/statuslists/1",
        "HTTPS://Example.COM/statuslists/1",
        "https://example.com:443/l%41b",
        "https://192.0.2.1/x",
        "https://[2001:db8::1]:8443/x",
        "https://example.com/healthz/1",
        "https://example.com/metricsx",
    };
    for (size_t k = 0; k < sizeof good / sizeof good[0]; k++) {
        tsl_error err;
        tsl_error_clear(&err);
        tsl_status s = tsl_uri_check(good[k], 0, &err);
        if (s != TSL_OK)
            tt_failf(__FILE__, __LINE__, "%s: %s", good[k], err.msg);
        TT_OK(s);
    }
    static const struct {
        const char *uri;
        unsigned flags;
        tsl_status code;
        const char *msg;
    } bad[] = {
        {"http://example.com/a", 0, TSL_ERR_UNSUPPORTED, "use https"},
        {"javascript:alert(1)", 0, TSL_ERR_UNSUPPORTED, "scheme \"javascript\" is not https"},
        {"ftp://example.com/a", TSL_URI_ALLOW_HTTP, TSL_ERR_UNSUPPORTED, "not https"},
        {"/statuslists/1", 0, TSL_ERR_MALFORMED, "not an absolute URI"},
        {"statuslists/1", 0, TSL_ERR_MALFORMED, "not an absolute URI"},
        {"https:/example.com/a", 0, TSL_ERR_MALFORMED, "no authority"},
        {"https:///a", 0, TSL_ERR_MALFORMED, "has no host"},
        {"https://user:pw@example.com/a", 0, TSL_ERR_MALFORMED, "user information"},
        {"https://exa_mple.com/a", 0, TSL_ERR_MALFORMED, "'_' at byte 11 in the host"},
        {"https://example.com:0/a", 0, TSL_ERR_MALFORMED, "port"},
        {"https://example.com:65536/a", 0, TSL_ERR_MALFORMED, "port"},
        {"https://example.com:/a", 0, TSL_ERR_MALFORMED, "port"},
        {"https://example.com:8x/a", 0, TSL_ERR_MALFORMED, "port"},
        {"https://[zz]/a", 0, TSL_ERR_MALFORMED, "IP literal"},
        {"https://example.com/a\nb", 0, TSL_ERR_MALFORMED, "(0x0a) at byte 21"},
        {"https://example.com/a\tb", 0, TSL_ERR_MALFORMED, "(0x09) at byte 21"},
        {"https://example.com/a\x7f", 0, TSL_ERR_MALFORMED, "(0x7f) at byte 21"},
        {"https://ex\xc3\xa4mple.com/a", 0, TSL_ERR_MALFORMED, "not ASCII (0xc3) at byte 10"},
        {"https://example.com/healthz", 0, TSL_ERR_UNSUPPORTED, "reserved"},
        {"https://example.com/metrics", TSL_URI_ALLOW_HTTP, TSL_ERR_UNSUPPORTED, "reserved"},
        {"https://example.com/%68ealthz", 0, TSL_ERR_UNSUPPORTED, "/healthz is reserved"},
        {"https://example.com/../etc/passwd", 0, TSL_ERR_MALFORMED, "\"..\" segment"},
        {"https://example.com/a?b", 0, TSL_ERR_MALFORMED, "query"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        tsl_error err;
        tsl_error_clear(&err);
        tsl_status s = tsl_uri_check(bad[k].uri, bad[k].flags, &err);
        if (s != bad[k].code)
            tt_failf(__FILE__, __LINE__, "%s: %s (%s)", bad[k].uri, tsl_strerror(s),
                     err.msg);
        TT_ERR(s, bad[k].code);
        TT_CONTAINS(err.msg, bad[k].msg);
    }
    TT_OK(tsl_uri_check("http://127.0.0.1:8080/x", TSL_URI_ALLOW_HTTP, NULL));
    /* The length cap: TSL_URI_MAX bytes pass, one more does not. */
    char u[TSL_URI_MAX + 2];
    memset(u, 'a', sizeof u - 1);
    memcpy(u, "https://example.com/", 20);
    u[TSL_URI_MAX + 1] = '\0';
    tsl_error err;
    tsl_error_clear(&err);
    TT_ERR(tsl_uri_check(u, 0, &err), TSL_ERR_LIMIT);
    TT_CONTAINS(err.msg, "1024 bytes");
    u[TSL_URI_MAX] = '\0';
    TT_OK(tsl_uri_check(u, 0, NULL));
    TT_ERR(tsl_uri_check(NULL, 0, NULL), TSL_ERR_ARG);
}
