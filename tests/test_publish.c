/* test_publish.c - the publisher's shared rules (src/publish/publish.c) and its
 * answering call, driven without sockets: gzip, ETag, dates, max-age, the 406 body and
 * the aggregation document. */
#include "tt.h"

#include <stdlib.h>
#include <zlib.h>

TT_TEST(publish_gzip_round_trip)
{
    static const char text[] = "eyJhbGciOiJFUzI1NiJ9.eyJzdGF0dXNfbGlzdCI6e319.sig "
                               "eyJhbGciOiJFUzI1NiJ9.eyJzdGF0dXNfbGlzdCI6e319.sig";
    uint8_t *gz = NULL;
    size_t gz_len = 0;
    tsl_error err;
    tsl_error_clear(&err);
    TT_OK(tsl_publish_gzip((const uint8_t *)text, sizeof text - 1, &gz, &gz_len, &err));
    TT_CHECK(gz_len > 18 && gz[0] == 0x1f && gz[1] == 0x8b); /* RFC 1952 magic */
    uint8_t back[256];
    z_stream z;
    memset(&z, 0, sizeof z);
    TT_CHECK(inflateInit2(&z, 31) == Z_OK);
    z.next_in = gz;
    z.avail_in = (uInt)gz_len;
    z.next_out = back;
    z.avail_out = sizeof back;
    int rc = inflate(&z, Z_FINISH);
    size_t n = z.total_out;
    inflateEnd(&z);
    tsl_free(gz);
    TT_CHECK(rc == Z_STREAM_END);
    TT_CHECK(n == sizeof text - 1 && memcmp(back, text, n) == 0);
    TT_ERR(tsl_publish_gzip(NULL, 3, &gz, &gz_len, &err), TSL_ERR_ARG);
}

TT_TEST(publish_etag_and_date)
{
    char etag[TSL_ETAG_SIZE], date[TSL_HTTP_DATE_SIZE];
    /* SHA-256("abc") = ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad */
    tsl_publish_etag((const uint8_t *)"abc", 3, etag);
    TT_CHECK(strcmp(etag, "\"ba7816bf8f01cfea414140de5dae2223\"") == 0);
    tsl_http_date(784111777, date);
    TT_CHECK(strcmp(date, "Sun, 06 Nov 1994 08:49:37 GMT") == 0);
    tsl_http_date(0, date);
    TT_CHECK(strcmp(date, "Thu, 01 Jan 1970 00:00:00 GMT") == 0);
}

TT_TEST(publish_max_age_rule)
{
    TT_CHECK(tsl_publish_max_age(0, 1100, 1000) == 100);   /* until exp */
    TT_CHECK(tsl_publish_max_age(30, 1100, 1000) == 30);   /* capped by ttl */
    TT_CHECK(tsl_publish_max_age(300, 1100, 1000) == 100); /* exp first */
    TT_CHECK(tsl_publish_max_age(0, 900, 1000) == 0);      /* expired: never negative */
    TT_CHECK(tsl_publish_max_age(45, 0, 1000) == 45);      /* no exp: the ttl */
    TT_CHECK(tsl_publish_max_age(0, 0, 1000) == 0);
}

TT_TEST(publish_not_acceptable_body)
{
    TT_CHECK(strcmp(tsl_publish_not_acceptable(TSL_PUBLISH_JWT),
                    "acceptable: application/statuslist+jwt\n") == 0);
    TT_CHECK(strcmp(tsl_publish_not_acceptable(TSL_PUBLISH_CWT),
                    "acceptable: application/statuslist+cwt\n") == 0);
    TT_CHECK(strcmp(tsl_publish_not_acceptable(TSL_PUBLISH_JWT | TSL_PUBLISH_CWT),
                    "acceptable: application/statuslist+jwt, "
                    "application/statuslist+cwt\n") == 0);
}

TT_TEST(publish_aggregation_document)
{
    const char *uris[] = {"https://e.example/a", "https://e.example/b\"q"};
    char *doc = NULL;
    size_t len = 0;
    tsl_error err;
    tsl_error_clear(&err);
    TT_OK(tsl_publish_aggregation(uris, 2, &doc, &len, &err));
    TT_CHECK(strcmp(doc, "{\"status_lists\":[\"https://e.example/a\","
                         "\"https://e.example/b\\\"q\"]}") == 0);
    TT_CHECK(len == strlen(doc));
    tsl_free(doc);
    TT_OK(tsl_publish_aggregation(NULL, 0, &doc, NULL, &err));
    TT_CHECK(strcmp(doc, "{\"status_lists\":[]}") == 0);
    tsl_free(doc);
}
