/* test_http.c - content negotiation, Accept-Encoding and the time parameter, against
 * the cases clients actually send (curl's default, browsers, wallets, q-values). */
#include "tt.h"

#define BOTH (TSL_PUBLISH_JWT | TSL_PUBLISH_CWT)
#define J TSL_FORMAT_JWT
#define C TSL_FORMAT_CWT

static int choose(const char *a, unsigned avail, tsl_format dflt)
{
    return tsl_http_choose_format(a, a ? strlen(a) : 0, avail, dflt);
}

TT_TEST(http_accept_negotiation)
{
    static const struct {
        const char *accept;
        unsigned avail;
        tsl_format dflt;
        int want;
    } cases[] = {
        {NULL, BOTH, J, J},
        {NULL, BOTH, C, C},
        {"", BOTH, J, J},
        {NULL, TSL_PUBLISH_CWT, J, C},
        {"*/*", BOTH, J, J},                               /* curl's default */
        {"*/*", BOTH, C, C},
        {"application/*", BOTH, J, J},
        {"application/statuslist+cwt", BOTH, J, C},
        {"APPLICATION/StatusList+CWT", BOTH, J, C},       /* media types ignore case */
        {"application/statuslist+jwt", TSL_PUBLISH_CWT, J, 0},
        {"text/html", BOTH, J, 0},
        {"text/html, application/xhtml+xml, */*;q=0.8", BOTH, J, J},  /* a browser */
        {"application/statuslist+jwt;q=0.5, application/statuslist+cwt", BOTH, J, C},
        {"application/statuslist+cwt;q=0.9, application/statuslist+jwt;q=0.95", BOTH, C, J},
        {"application/statuslist+jwt;q=0, */*", BOTH, J, C},
        {"application/statuslist+jwt;q=0, application/statuslist+cwt;q=0", BOTH, J, 0},
        {"*/*;q=0", BOTH, J, 0},
        {"application/statuslist+jwt;q=0.5, application/statuslist+cwt;q=0.5", BOTH, C, C},
        {"application/*;q=0.2, application/statuslist+cwt;q=0", BOTH, C, J},
        {"application/statuslist+cwt; charset=\"a,b\"; q=1", BOTH, J, C},  /* quoted comma */
        {"application/statuslist+cwt;q=2", BOTH, J, J},  /* malformed: ignored, then default */
        {"garbage", BOTH, C, C},                          /* no media range: default */
        {"text/", BOTH, J, J},
        {"a/b/c", BOTH, C, C},
        {";;;,,,", BOTH, J, J},
        {"application/statuslist+cwt;q=0.001", BOTH, J, C},
        {"application/statuslist+cwt;q=0.0001", BOTH, J, J},  /* 4 decimals: malformed */
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        int got = choose(cases[k].accept, cases[k].avail, cases[k].dflt);
        if (got != cases[k].want) {
            tt_failf(__FILE__, __LINE__, "Accept \"%s\": got %d, want %d",
                     cases[k].accept ? cases[k].accept : "(none)", got, cases[k].want);
            return;
        }
    }
}

TT_TEST(http_accept_encoding_gzip)
{
    static const struct {
        const char *ae;
        int want;
    } cases[] = {
        {"gzip", 1},        {"gzip, deflate, br", 1}, {"GZIP", 1},
        {"deflate", 0},     {"gzip;q=0", 0},          {"*", 1},
        {"*;q=0", 0},       {"*, gzip;q=0", 0},       {"identity", 0},
        {"x-gzip", 1},      {"br;q=1.0, gzip;q=0.8, *;q=0.1", 1},
        {"", 0},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
        if (tsl_http_accepts_gzip(cases[k].ae, strlen(cases[k].ae)) != cases[k].want) {
            tt_failf(__FILE__, __LINE__, "Accept-Encoding \"%s\": want %d", cases[k].ae,
                     cases[k].want);
            return;
        }
    TT_EQ_U(tsl_http_accepts_gzip(NULL, 0), 0);
}

TT_TEST(http_time_parameter)
{
    int64_t t;
    tsl_error e;
    tsl_error_clear(&e);
    TT_OK(tsl_http_parse_time("1686920170", 10, &t, NULL));
    TT_EQ_U(t, 1686920170);
    TT_OK(tsl_http_parse_time("0", 1, &t, NULL));
    TT_EQ_U(t, 0);
    TT_OK(tsl_http_parse_time("9223372036854775807", 19, &t, NULL));
    TT_EQ_U(t, INT64_MAX);
    TT_ERR(tsl_http_parse_time("9223372036854775808", 19, &t, &e), TSL_ERR_MALFORMED);
    TT_EQ_U(e.code, TSL_ERR_MALFORMED);
    TT_ERR(tsl_http_parse_time("", 0, &t, NULL), TSL_ERR_MALFORMED);
    TT_ERR(tsl_http_parse_time("-1", 2, &t, NULL), TSL_ERR_MALFORMED);
    TT_ERR(tsl_http_parse_time("1e9", 3, &t, NULL), TSL_ERR_MALFORMED);
    TT_ERR(tsl_http_parse_time("12345678901234567890", 20, &t, NULL), TSL_ERR_MALFORMED);
    TT_ERR(tsl_http_parse_time("abc", 3, &t, NULL), TSL_ERR_MALFORMED);
    TT_ERR(tsl_http_parse_time("1", 1, NULL, NULL), TSL_ERR_ARG);
}
