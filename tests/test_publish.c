/* test_publish.c - the publisher's shared rules (src/publish/publish.c) and its
 * answering call, driven without sockets: gzip, ETag, dates, max-age, the 406 body and
 * the aggregation document; and a publisher whose store pushes its changes, driven by a
 * scripted feed: a round for the notified lists only, a full resync on "missed", the
 * outage (snapshot kept, /healthz and /metrics), the reconnect backoff, the runner; and
 * two publishers on one PostgreSQL schema with the store's real feed and publish lock
 * (needs TSL_TEST_PG, as the other _pg tests). */
#include "tt.h"

#include <stdlib.h>
#include <strings.h>
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

/* ---------------------------------------------------------------------------------- */
/* The publisher and its answering call, on a store in a temporary directory            */

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    char dir[64], db[128], key[128];
    tsl_publisher *pub;
    tsl_snapshot *snap;
} pfx;

#define URI_A "https://example.com/statuslists/a"
#define URI_B "https://example.com/statuslists/b"

/* A store with list a (JWT and CWT, ttl 30) and list b (CWT only), a publisher on it
 * (history as asked, aggregation at /agg, /healthz reserved) after one round. */
static int pfx_open(pfx *f, int history)
{
    memset(f, 0, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/tsl-publish-XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->db, sizeof f->db, "%s/tsl.db", f->dir);
    snprintf(f->key, sizeof f->key, "%s/key.pem", f->dir);
    tsl_key *k = NULL;
    char *pem = NULL;
    tsl_store *st = NULL;
    if (tsl_key_generate(TSL_ALG_ES256, &k, NULL) != TSL_OK ||
        tsl_key_to_private(k, &pem, NULL) != TSL_OK || tt_write_file(f->key, pem, 0600, 0) != 0 ||
        tsl_store_open(f->db, &st, NULL) != TSL_OK)
        return -1;
    tsl_free(pem);
    tsl_key_free(k);
    tsl_list_spec in;
    memset(&in, 0, sizeof in);
    in.id = "a";
    in.uri = URI_A;
    in.bits = 1;
    in.size = 1000;
    in.key_path = f->key;
    in.ttl = 30;
    tsl_status r = tsl_store_list_create(st, &in, NULL);
    in.id = "b";
    in.uri = URI_B;
    in.ttl = 0;
    in.formats = TSL_PUBLISH_CWT;
    if (r == TSL_OK)
        r = tsl_store_list_create(st, &in, NULL);
    tsl_store_close(st);
    static const char *const reserved[] = {"/healthz"};
    tsl_publisher_options opt;
    memset(&opt, 0, sizeof opt);
    opt.history = history;
    opt.aggregation_path = "/agg";
    opt.reserved = reserved;
    opt.nreserved = 1;
    opt.retention = 86400;
    if (r != TSL_OK || tsl_publisher_open(f->db, &opt, &f->pub, NULL) != TSL_OK ||
        tsl_publisher_round(f->pub, 0, NULL) != TSL_OK)
        return -1;
    f->snap = tsl_publisher_snapshot(f->pub);
    return f->snap != NULL ? 0 : -1;
}

static void pfx_close(pfx *f)
{
    tsl_snapshot_release(f->snap);
    tsl_publisher_close(f->pub);
    char path[sizeof f->dir + 260];
    DIR *d = opendir(f->dir);
    struct dirent *e;
    while (d != NULL && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", f->dir, e->d_name);
        unlink(path);
    }
    if (d != NULL)
        closedir(d);
    rmdir(f->dir);
}

static const char *hdr(const tsl_http_response *r, const char *name)
{
    for (size_t k = 0; k < r->nheaders; k++)
        if (strcasecmp(r->headers[k].name, name) == 0)
            return r->headers[k].value;
    return NULL;
}

static tsl_http_request get(const char *path)
{
    tsl_http_request q;
    memset(&q, 0, sizeof q);
    q.method = "GET";
    q.path = path;
    return q;
}

/* Whether the body of r is the token recorded for list id in form fmt. */
static int is_token(const pfx *f, const tsl_http_response *r, const char *id, tsl_format fmt)
{
    tsl_store *st = NULL;
    uint8_t *tok = NULL;
    size_t len = 0;
    int same = tsl_store_open(f->db, &st, NULL) == TSL_OK &&
               tsl_store_token(st, id, fmt, 0, &tok, &len, NULL, NULL, NULL) == TSL_OK &&
               len == r->body_len && memcmp(tok, r->body, len) == 0;
    tsl_free(tok);
    tsl_store_close(st);
    return same;
}

TT_TEST(publish_answer_negotiation)
{
    pfx f;
    TT_CHECK(pfx_open(&f, 1) == 0);
    tsl_http_response r;
    tsl_http_request q = get("/statuslists/a");
    tsl_publish_answer(f.snap, &q, &r); /* no Accept: the default, JWT */
    int ok = r.status == 200 && r.kind == TSL_ANSWER_JWT &&
             strcmp(hdr(&r, "Content-Type"), TSL_MEDIA_JWT) == 0 &&
             is_token(&f, &r, "a", TSL_FORMAT_JWT) &&
             strcmp(hdr(&r, "Cache-Control"), "public, max-age=30") == 0;
    tsl_http_response_free(&r);
    q.accept = "application/statuslist+jwt;q=0.5, application/statuslist+cwt";
    tsl_publish_answer(f.snap, &q, &r);
    ok = ok && r.status == 200 && r.kind == TSL_ANSWER_CWT &&
         strcmp(hdr(&r, "Content-Type"), TSL_MEDIA_CWT) == 0 &&
         is_token(&f, &r, "a", TSL_FORMAT_CWT);
    tsl_http_response_free(&r);
    q.accept = "application/statuslist+cwt;q=0, */*;q=0.1";
    tsl_publish_answer(f.snap, &q, &r);
    ok = ok && r.status == 200 && r.kind == TSL_ANSWER_JWT;
    tsl_http_response_free(&r);
    /* 406, naming what the list has; Vary, since Accept decided. */
    q.accept = "text/html";
    tsl_publish_answer(f.snap, &q, &r);
    ok = ok && r.status == 406 && r.body_len == strlen((const char *)r.body) &&
         strcmp((const char *)r.body, tsl_publish_not_acceptable(TSL_PUBLISH_JWT |
                                                                  TSL_PUBLISH_CWT)) == 0 &&
         strcmp(hdr(&r, "Vary"), "Accept, Accept-Encoding") == 0;
    tsl_http_response_free(&r);
    q = get("/statuslists/b");
    q.accept = "application/statuslist+jwt";
    tsl_publish_answer(f.snap, &q, &r);
    ok = ok && r.status == 406 &&
         strcmp((const char *)r.body, "acceptable: " TSL_MEDIA_CWT "\n") == 0;
    tsl_http_response_free(&r);
    pfx_close(&f);
    TT_CHECK(ok);
}

TT_TEST(publish_answer_conditional_and_head)
{
    pfx f;
    TT_CHECK(pfx_open(&f, 1) == 0);
    tsl_http_response r;
    tsl_http_request q = get("/statuslists/a");
    tsl_publish_answer(f.snap, &q, &r);
    char etag[TSL_ETAG_SIZE], lastmod[TSL_HTTP_DATE_SIZE];
    snprintf(etag, sizeof etag, "%s", hdr(&r, "ETag"));
    snprintf(lastmod, sizeof lastmod, "%s", hdr(&r, "Last-Modified"));
    size_t full = r.body_len;
    tsl_http_response_free(&r);
    char list[128];
    snprintf(list, sizeof list, "\"nope\", W/%s", etag);
    q.if_none_match = list; /* weak comparison: W/ matches */
    tsl_publish_answer(f.snap, &q, &r);
    int ok = r.status == 304 && r.body_len == 0 && strcmp(hdr(&r, "ETag"), etag) == 0 &&
             hdr(&r, "Content-Type") == NULL && hdr(&r, "Vary") != NULL;
    tsl_http_response_free(&r);
    q.if_none_match = "\"other\"";
    q.if_modified_since = lastmod; /* If-None-Match wins */
    tsl_publish_answer(f.snap, &q, &r);
    ok = ok && r.status == 200;
    tsl_http_response_free(&r);
    q.if_none_match = NULL;
    tsl_publish_answer(f.snap, &q, &r);
    ok = ok && r.status == 304 && strcmp(hdr(&r, "Last-Modified"), lastmod) == 0;
    tsl_http_response_free(&r);
    q.if_modified_since = "Thu, 01 Jan 1970 00:00:00 GMT";
    tsl_publish_answer(f.snap, &q, &r);
    ok = ok && r.status == 200;
    tsl_http_response_free(&r);
    /* HEAD: the same status and headers, the length of what GET sends. */
    q = get("/statuslists/a");
    q.method = "HEAD";
    tsl_publish_answer(f.snap, &q, &r);
    ok = ok && r.status == 200 && r.body_len == full && strcmp(hdr(&r, "ETag"), etag) == 0;
    tsl_http_response_free(&r);
    q.method = "POST";
    tsl_publish_answer(f.snap, &q, &r);
    ok = ok && r.status == 405 && strcmp(hdr(&r, "Allow"), "GET, HEAD, OPTIONS") == 0;
    tsl_http_response_free(&r);
    pfx_close(&f);
    TT_CHECK(ok);
}

TT_TEST(publish_answer_history)
{
    pfx f;
    TT_CHECK(pfx_open(&f, 1) == 0);
    tsl_http_response r;
    tsl_http_request q = get("/statuslists/a");
    tsl_store *st = NULL;
    int64_t iat = 0;
    uint8_t *tok = NULL;
    size_t len = 0;
    int ok = tsl_store_open(f.db, &st, NULL) == TSL_OK &&
             tsl_store_token(st, "a", TSL_FORMAT_JWT, 0, &tok, &len, &iat, NULL, NULL) ==
                 TSL_OK;
    tsl_free(tok);
    tsl_store_close(st);
    char t[32];
    snprintf(t, sizeof t, "%lld", (long long)iat);
    q.has_time = 1;
    q.time = t;
    q.time_len = strlen(t);
    tsl_publish_answer(f.snap, &q, &r);
    ok = ok && r.status == 200 && is_token(&f, &r, "a", TSL_FORMAT_JWT) &&
         hdr(&r, "ETag") != NULL;
    tsl_http_response_free(&r);
    q.time = "1";
    q.time_len = 1;
    tsl_publish_answer(f.snap, &q, &r);
    ok = ok && r.status == 404 && strcmp((const char *)r.body, "no token covers that time\n") == 0;
    tsl_http_response_free(&r);
    q.time = "12x";
    q.time_len = 3;
    tsl_publish_answer(f.snap, &q, &r);
    ok = ok && r.status == 400;
    tsl_http_response_free(&r);
    q.time = NULL; /* ?time without a value */
    q.time_len = 0;
    tsl_publish_answer(f.snap, &q, &r);
    ok = ok && r.status == 400;
    tsl_http_response_free(&r);
    pfx_close(&f);
    TT_CHECK(ok);
    /* History off: 501. */
    TT_CHECK(pfx_open(&f, 0) == 0);
    q.time = t;
    q.time_len = strlen(t);
    tsl_publish_answer(f.snap, &q, &r);
    ok = r.status == 501 && hdr(&r, "Vary") != NULL;
    tsl_http_response_free(&r);
    pfx_close(&f);
    TT_CHECK(ok);
}

TT_TEST(publish_answer_gzip_cors_aggregation)
{
    pfx f;
    TT_CHECK(pfx_open(&f, 0) == 0);
    tsl_http_response r, id;
    tsl_http_request q = get("/statuslists/a");
    tsl_publish_answer(f.snap, &q, &id);
    q.accept_encoding = "br, gzip;q=0.5";
    tsl_publish_answer(f.snap, &q, &r);
    uint8_t back[4096];
    uLongf n = sizeof back;
    int ok = r.status == 200 && hdr(&r, "Content-Encoding") != NULL &&
             strcmp(hdr(&r, "Content-Encoding"), "gzip") == 0 &&
             strcmp(hdr(&r, "ETag"), hdr(&id, "ETag")) != 0;
    z_stream z;
    memset(&z, 0, sizeof z);
    if (ok && inflateInit2(&z, 31) == Z_OK) {
        z.next_in = (Bytef *)(uintptr_t)r.body;
        z.avail_in = (uInt)r.body_len;
        z.next_out = back;
        z.avail_out = (uInt)n;
        ok = inflate(&z, Z_FINISH) == Z_STREAM_END && z.total_out == id.body_len &&
             memcmp(back, id.body, id.body_len) == 0;
        inflateEnd(&z);
    }
    tsl_http_response_free(&r);
    tsl_http_response_free(&id);
    q.accept_encoding = "gzip;q=0";
    tsl_publish_answer(f.snap, &q, &r);
    ok = ok && r.status == 200 && hdr(&r, "Content-Encoding") == NULL;
    tsl_http_response_free(&r);
    q = get("/statuslists/b"); /* CWT: never gzip */
    q.accept_encoding = "gzip";
    tsl_publish_answer(f.snap, &q, &r);
    ok = ok && r.status == 200 && hdr(&r, "Content-Encoding") == NULL &&
         strcmp(hdr(&r, "Access-Control-Allow-Origin"), "*") == 0 &&
         strcmp(hdr(&r, "Access-Control-Expose-Headers"), "ETag, Last-Modified") == 0;
    tsl_http_response_free(&r);
    /* Unknown path: 404 without Vary; OPTIONS: the preflight. */
    q = get("/nothing");
    tsl_publish_answer(f.snap, &q, &r);
    ok = ok && r.status == 404 && hdr(&r, "Vary") == NULL &&
         strcmp(hdr(&r, "Access-Control-Allow-Origin"), "*") == 0;
    tsl_http_response_free(&r);
    q = get("/statuslists/a");
    q.method = "OPTIONS";
    tsl_publish_answer(f.snap, &q, &r);
    ok = ok && r.status == 204 &&
         strcmp(hdr(&r, "Access-Control-Allow-Methods"), "GET, HEAD, OPTIONS") == 0;
    tsl_http_response_free(&r);
    /* The aggregation document, and 304 on its ETag. */
    q = get("/agg");
    tsl_publish_answer(f.snap, &q, &r);
    char etag[TSL_ETAG_SIZE] = "";
    ok = ok && r.status == 200 && r.kind == TSL_ANSWER_JSON &&
         r.body_len == strlen("{\"status_lists\":[\"" URI_A "\",\"" URI_B "\"]}") &&
         memcmp(r.body, "{\"status_lists\":[\"" URI_A "\",\"" URI_B "\"]}", r.body_len) == 0;
    if (ok)
        snprintf(etag, sizeof etag, "%s", hdr(&r, "ETag"));
    tsl_http_response_free(&r);
    q.if_none_match = etag;
    tsl_publish_answer(f.snap, &q, &r);
    ok = ok && r.status == 304;
    tsl_http_response_free(&r);
    /* A reserved path is the server's for GET; the method rules are ours. */
    q = get("/healthz");
    tsl_publish_answer(f.snap, &q, &r);
    ok = ok && r.status == 0;
    tsl_http_response_free(&r);
    q.method = "DELETE";
    tsl_publish_answer(f.snap, &q, &r);
    ok = ok && r.status == 405 && hdr(&r, "Vary") == NULL;
    tsl_http_response_free(&r);
    /* Health after a good round, and what the snapshot holds. */
    tsl_publisher_health h;
    tsl_publisher_health_get(f.pub, &h);
    ok = ok && !h.degraded && h.publishes_ok == 2 && h.publishes_err == 0 &&
         tsl_snapshot_count(f.snap) == 2 && tsl_snapshot_earliest_exp(f.snap) > 0;
    pfx_close(&f);
    TT_CHECK(ok);
}

/* The names of a list's forms, both ways. */
TT_TEST(publish_formats_names)
{
    unsigned m = 99;
    TT_OK(tsl_publish_formats_parse("jwt", &m, NULL));
    TT_EQ_U(m, TSL_PUBLISH_JWT);
    TT_OK(tsl_publish_formats_parse("cwt,jwt", &m, NULL));
    TT_EQ_U(m, TSL_PUBLISH_JWT | TSL_PUBLISH_CWT);
    tsl_error err;
    tsl_error_clear(&err);
    static const char *const bad[] = {"", "jwt,", "jwt,jwt", "JWT", "jwt, cwt", "x"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        m = 99;
        TT_ERR(tsl_publish_formats_parse(bad[k], &m, NULL), TSL_ERR_ARG);
        TT_EQ_U(m, 99);
    }
    TT_ERR(tsl_publish_formats_parse("y", &m, &err), TSL_ERR_ARG);
    TT_CONTAINS(err.msg, "\"y\" is not jwt, cwt, jwt,cwt or idlist");
    /* An identifier list (ISO 18013-5) is a form alone. */
    TT_OK(tsl_publish_formats_parse("idlist", &m, NULL));
    TT_EQ_U(m, TSL_PUBLISH_IDLIST);
    TT_ERR(tsl_publish_formats_parse("idlist,cwt", &m, NULL), TSL_ERR_ARG);
    TT_ERR(tsl_publish_formats_parse("jwt,idlist", &m, NULL), TSL_ERR_ARG);
    TT_CHECK(strcmp(tsl_publish_formats_name(TSL_PUBLISH_IDLIST), "idlist") == 0);
    TT_CHECK(strcmp(tsl_publish_formats_name(TSL_PUBLISH_JWT), "jwt") == 0);
    TT_CHECK(strcmp(tsl_publish_formats_name(TSL_PUBLISH_CWT), "cwt") == 0);
    TT_CHECK(strcmp(tsl_publish_formats_name(0), "jwt,cwt") == 0);
    TT_CHECK(strcmp(tsl_publish_formats_name(3), "jwt,cwt") == 0);
}

/* ---------------------------------------------------------------------------------- */
/* A publisher whose store pushes its changes, driven by a scripted feed                */

#include "publish/publish_int.h"

#include <time.h>

/* The script: what the next wait reports, and counts of what the publisher called. */
static struct {
    tsl_status fail;  /* the wait fails with this (TSL_OK: it answers) */
    int null_id;      /* report "changes may have been missed" */
    const char *ids[4];
    int nids;
    int watches, waits;
    int sleep;        /* the wait sleeps its timeout (runner test) */
} ff;

static bool ff_can_watch(const tsl_store *st)
{
    (void)st;
    return true;
}

static tsl_status ff_watch(tsl_store *st, tsl_error *err)
{
    (void)st, (void)err;
    ff.watches++;
    return TSL_OK;
}

static tsl_status ff_wait(tsl_store *st, int timeout_ms,
                          void (*fn)(void *ctx, const char *id), void *ctx, tsl_error *err)
{
    (void)st;
    ff.waits++;
    if (ff.sleep) {
        struct timespec t = {0, (long)(timeout_ms < 20 ? timeout_ms : 20) * 1000000L};
        nanosleep(&t, NULL);
    }
    if (ff.fail != TSL_OK) /* as the backend names a database: host and name only */
        return tslp_fail(err, ff.fail, 0, "database \"tsl\" on host \"db1\": connection lost");
    if (ff.null_id)
        fn(ctx, NULL);
    for (int k = 0; k < ff.nids; k++)
        fn(ctx, ff.ids[k]);
    ff.null_id = 0;
    ff.nids = 0;
    return TSL_OK;
}

static const tslp_feed fake_feed = {ff_can_watch, ff_watch, ff_wait};

/* Sets entry idx of list id to value through a handle of its own, as another process. */
static int pfx_set(const pfx *f, const char *id, uint64_t idx, unsigned value)
{
    tsl_store *st = NULL;
    tsl_batch *b = NULL;
    int ok = tsl_store_open(f->db, &st, NULL) == TSL_OK &&
             tsl_batch_new(1, 1000, &b, NULL) == TSL_OK &&
             tsl_batch_add(b, idx, idx, value, 0, NULL) == TSL_OK &&
             tsl_store_update(st, id, b, 0, 0, "test", NULL, NULL) == TSL_OK;
    tsl_batch_free(b);
    tsl_store_close(st);
    return ok ? 0 : -1;
}

static uint64_t pfx_published(tsl_publisher *p)
{
    tsl_publisher_health h;
    tsl_publisher_health_get(p, &h);
    return h.publishes_ok;
}

TT_TEST(publish_pushed_rounds_only_notified_lists)
{
    pfx f;
    TT_CHECK(pfx_open(&f, 0) == 0);
    memset(&ff, 0, sizeof ff);
    tslp_publisher_set_feed(f.pub, &fake_feed);
    TT_CHECK(tslp_publisher_pushed(f.pub));
    uint64_t n0 = pfx_published(f.pub); /* a and b, signed by pfx_open's round */
    TT_EQ_U(n0, 2);
    /* The first step listens, then owes a full round: nothing changed, nothing signed. */
    tslp_publisher_step(f.pub, 20);
    TT_EQ_U(ff.watches, 1);
    TT_EQ_U(ff.waits, 0);
    TT_EQ_U(pfx_published(f.pub), n0);
    tsl_publisher_health h;
    tsl_publisher_health_get(f.pub, &h);
    TT_CHECK(h.pushed && h.last_sync != 0 && h.store_down_since == 0);
    /* A change nobody notified is not looked for: no polling. */
    TT_CHECK(pfx_set(&f, "a", 5, 1) == 0);
    TT_CHECK(pfx_set(&f, "b", 6, 1) == 0);
    tslp_publisher_step(f.pub, 20);
    TT_EQ_U(ff.waits, 1);
    TT_EQ_U(pfx_published(f.pub), n0);
    /* a notified: a alone is signed and served. */
    ff.ids[0] = "a";
    ff.nids = 1;
    tslp_publisher_step(f.pub, 20);
    TT_EQ_U(pfx_published(f.pub), n0 + 1);
    tsl_snapshot *s = tsl_publisher_snapshot(f.pub);
    tsl_http_response r;
    tsl_http_request q = get("/statuslists/a");
    tsl_publish_answer(s, &q, &r);
    int served = r.status == 200 && is_token(&f, &r, "a", TSL_FORMAT_JWT);
    tsl_http_response_free(&r);
    tsl_snapshot_release(s);
    TT_CHECK(served);
    /* "Changes may have been missed": a full round signs b too. */
    ff.null_id = 1;
    tslp_publisher_step(f.pub, 20);
    TT_EQ_U(pfx_published(f.pub), n0 + 2);
    /* A list created elsewhere and notified is served. */
    tsl_store *st = NULL;
    TT_OK(tsl_store_open(f.db, &st, NULL));
    tsl_list_spec in;
    memset(&in, 0, sizeof in);
    in.id = "c";
    in.uri = "https://example.com/statuslists/c";
    in.bits = 1;
    in.size = 1000;
    in.key_path = f.key;
    tsl_status cr = tsl_store_list_create(st, &in, NULL);
    tsl_store_close(st);
    TT_OK(cr);
    ff.ids[0] = "c";
    ff.nids = 1;
    tslp_publisher_step(f.pub, 20);
    s = tsl_publisher_snapshot(f.pub);
    size_t count = tsl_snapshot_count(s);
    tsl_snapshot_release(s);
    TT_EQ_U(count, 3);
    TT_EQ_U(pfx_published(f.pub), n0 + 3);
    pfx_close(&f);
}

static int64_t mono_now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

TT_TEST(publish_pushed_outage_backoff_and_resync)
{
    pfx f;
    TT_CHECK(pfx_open(&f, 0) == 0);
    memset(&ff, 0, sizeof ff);
    tslp_publisher_set_feed(f.pub, &fake_feed);
    tslp_publisher_step(f.pub, 20); /* listen, full round */
    /* The connection drops: the snapshot stays, the health says since when. */
    ff.fail = TSL_ERR_IO;
    tslp_publisher_step(f.pub, 20);
    TT_EQ_U(ff.waits, 1);
    tsl_publisher_health h;
    tsl_publisher_health_get(f.pub, &h);
    TT_CHECK(h.store_down_since != 0 && h.problems[TSL_PROBLEM_STORE] == 1 && h.degraded);
    char body[96];
    TT_EQ_U(tsl_publisher_healthz_text(f.pub, body, sizeof body), 503);
    TT_CHECK(strncmp(body, "degraded: store unreachable since 20", 36) == 0);
    TT_CHECK(strstr(body, "db1") == NULL && body[strlen(body) - 1] == '\n');
    tsl_snapshot *s = tsl_publisher_snapshot(f.pub);
    TT_EQ_U(tsl_snapshot_count(s), 2);
    tsl_snapshot_release(s);
    tsl_metrics *m = NULL;
    TT_OK(tsl_metrics_new(&m, NULL));
    char *text = NULL;
    TT_OK(tsl_metrics_text(m, f.pub, NULL, (int64_t)time(NULL) + 7, &text, NULL, NULL));
    int gauges = strstr(text, "\ntsl_store_connected 0\n") != NULL &&
                 strstr(text, "\ntsl_store_last_sync_seconds 7\n") != NULL;
    tsl_free(text);
    TT_CHECK(gauges);
    /* Backing off (0.25 s at first): the next steps do not touch the store. */
    int64_t t0 = mono_now_ms();
    tslp_publisher_step(f.pub, 20);
    TT_CHECK(mono_now_ms() - t0 < 200);
    TT_EQ_U(ff.waits, 1);
    /* Still down after the backoff: tried once more, then 0.5 s. */
    while (mono_now_ms() - t0 < 300)
        tslp_publisher_step(f.pub, 20);
    TT_EQ_U(ff.waits, 2);
    /* Back: the reconnected feed reports NULL; the full round resyncs a change made
     * meanwhile, and the health is ok again. */
    TT_CHECK(pfx_set(&f, "b", 9, 1) == 0);
    uint64_t n0 = pfx_published(f.pub);
    ff.fail = TSL_OK;
    ff.null_id = 1;
    for (int k = 0; k < 60 && ff.waits < 3; k++)
        tslp_publisher_step(f.pub, 20);
    TT_EQ_U(ff.waits, 3);
    TT_EQ_U(pfx_published(f.pub), n0 + 1);
    tsl_publisher_health_get(f.pub, &h);
    TT_CHECK(h.store_down_since == 0 && !h.degraded);
    TT_EQ_U(tsl_publisher_healthz_text(f.pub, body, sizeof body), 200);
    TT_EQ_STR(body, "ok\n");
    TT_OK(tsl_metrics_text(m, f.pub, NULL, (int64_t)time(NULL), &text, NULL, NULL));
    gauges = strstr(text, "\ntsl_store_connected 1\n") != NULL;
    tsl_free(text);
    tsl_metrics_free(m);
    TT_CHECK(gauges);
    pfx_close(&f);
}

TT_TEST(publish_pushed_runner_steps_and_stops)
{
    pfx f;
    TT_CHECK(pfx_open(&f, 0) == 0);
    memset(&ff, 0, sizeof ff);
    ff.sleep = 1;
    tslp_publisher_set_feed(f.pub, &fake_feed);
    TT_CHECK(pfx_set(&f, "a", 3, 1) == 0);
    uint64_t n0 = pfx_published(f.pub);
    tsl_publisher_runner *run = NULL;
    TT_OK(tsl_publisher_runner_start(f.pub, 1000, &run, NULL));
    /* The thread listens and resyncs at once (a signed), then waits on the feed. */
    int64_t t0 = mono_now_ms();
    while (pfx_published(f.pub) == n0 && mono_now_ms() - t0 < 3000) {
        struct timespec t = {0, 10 * 1000000L};
        nanosleep(&t, NULL);
    }
    uint64_t n1 = pfx_published(f.pub);
    t0 = mono_now_ms();
    int stopped = tsl_publisher_runner_stop(run, 2000);
    int64_t took = mono_now_ms() - t0;
    TT_CHECK(stopped == 1);
    TT_EQ_U(n1, n0 + 1);
    TT_EQ_U(ff.watches, 1);
    TT_CHECK(took < 1000);
    pfx_close(&f);
}

/* ---------------------------------------------------------------------------------- */
/* Two publishers on one PostgreSQL database (the store's real change feed)             */

#include <libpq-fe.h>

/* Steps both publishers (either may be NULL) until cond holds or ms pass; cond true. */
#define STEP_UNTIL(p1, p2, ms, cond)                                                      \
    do {                                                                                  \
        int64_t su_t0_ = mono_now_ms();                                                   \
        while (!(cond) && mono_now_ms() - su_t0_ < (ms)) {                                \
            if ((p1) != NULL)                                                             \
                tslp_publisher_step((p1), 20);                                            \
            if ((p2) != NULL)                                                             \
                tslp_publisher_step((p2), 20);                                            \
        }                                                                                 \
    } while (0)

/* Records the line of the first failing check in bad_line, and goes on (cleanup). */
#define CK(cond)                                                                          \
    do {                                                                                  \
        if (!(cond) && bad_line == 0)                                                     \
            bad_line = __LINE__;                                                          \
    } while (0)

/* Whether p serves list "a" with the newest token recorded in db (JWT). */
static int serves_newest(tsl_publisher *p, const char *db)
{
    tsl_snapshot *s = tsl_publisher_snapshot(p);
    if (s == NULL)
        return 0;
    tsl_http_response r;
    tsl_http_request q = get("/statuslists/a");
    tsl_publish_answer(s, &q, &r);
    tsl_store *st = NULL;
    uint8_t *tok = NULL;
    size_t len = 0;
    int same = r.status == 200 && tsl_store_open(db, &st, NULL) == TSL_OK &&
               tsl_store_token(st, "a", TSL_FORMAT_JWT, 0, &tok, &len, NULL, NULL, NULL) ==
                   TSL_OK &&
               len == r.body_len && memcmp(tok, r.body, len) == 0;
    tsl_free(tok);
    tsl_store_close(st);
    tsl_http_response_free(&r);
    tsl_snapshot_release(s);
    return same;
}

static uint64_t skipped(tsl_publisher *p)
{
    tsl_publisher_health h;
    tsl_publisher_health_get(p, &h);
    return h.publishes_skipped;
}

TT_TEST(publish_pushed_two_publishers_pg)
{
    char db[512], schema[64], dir[64], key[128];
    TT_CHECK(tt_pg_store(db, sizeof db, schema, sizeof schema) == 0);
    snprintf(dir, sizeof dir, "/tmp/tsl-publish-pg-XXXXXX");
    TT_CHECK(mkdtemp(dir) != NULL);
    snprintf(key, sizeof key, "%s/key.pem", dir);
    tsl_key *k = NULL;
    char *pem = NULL;
    tsl_store *st = NULL;
    int ok = tsl_key_generate(TSL_ALG_ES256, &k, NULL) == TSL_OK &&
             tsl_key_to_private(k, &pem, NULL) == TSL_OK && tt_write_file(key, pem, 0600, 0) == 0 &&
             tsl_store_open_mode(db, TSL_STORE_CREATE, &st, NULL) == TSL_OK;
    tsl_free(pem);
    tsl_key_free(k);
    tsl_list_spec in;
    memset(&in, 0, sizeof in);
    in.id = "a";
    in.uri = URI_A;
    in.bits = 1;
    in.size = 1000;
    in.key_path = key;
    ok = ok && tsl_store_list_create(st, &in, NULL) == TSL_OK;
    tsl_store_close(st);
    tsl_publisher_options opt;
    memset(&opt, 0, sizeof opt);
    opt.retention = 86400;
    tsl_publisher *p1 = NULL, *p2 = NULL;
    ok = ok && tsl_publisher_open(db, &opt, &p1, NULL) == TSL_OK &&
         tsl_publisher_open(db, &opt, &p2, NULL) == TSL_OK;
    /* The lock another process holds: a session of our own, in the store's schema. */
    PGconn *c = ok ? PQconnectdb(db) : NULL;
    ok = ok && PQstatus(c) == CONNECTION_OK;
    int bad_line = 0; /* the first check that failed */
    if (ok) {
        /* The real feed: both are pushed, both listen and sign "a" once between them. */
        CK(tslp_publisher_pushed(p1) && tslp_publisher_pushed(p2));
        STEP_UNTIL(p1, p2, 5000, serves_newest(p1, db) && serves_newest(p2, db));
        CK(serves_newest(p1, db) && serves_newest(p2, db));
        CK(pfx_published(p1) + pfx_published(p2) == 1);
        /* An update by another handle: notified, signed by one, served by both. */
        tsl_store *w = NULL;
        tsl_batch *b = NULL;
        CK(tsl_store_open(db, &w, NULL) == TSL_OK &&
                  tsl_batch_new(1, 1000, &b, NULL) == TSL_OK &&
                  tsl_batch_add(b, 4, 4, 1, 0, NULL) == TSL_OK &&
                  tsl_store_update(w, "a", b, 0, 0, "test", NULL, NULL) == TSL_OK);
        int64_t t0 = mono_now_ms();
        STEP_UNTIL(p1, p2, 3000, serves_newest(p1, db) && serves_newest(p2, db) &&
                                     pfx_published(p1) + pfx_published(p2) == 2);
        CK(mono_now_ms() - t0 < 1000);
        CK(pfx_published(p1) + pfx_published(p2) == 2);
        /* A publisher that holds the lock and never records (it died signing): p1
         * skips, no error, and signs once the lock is free, within SKIP_RECHECK_MS. */
        PGresult *res = PQexec(c, "SELECT pg_try_advisory_lock(1953721424, "
                                  "hashtext(current_schema() || '/a'))");
        CK(PQresultStatus(res) == PGRES_TUPLES_OK &&
                  strcmp(PQgetvalue(res, 0, 0), "t") == 0);
        PQclear(res);
        tsl_batch_free(b);
        b = NULL;
        CK(tsl_batch_new(1, 1000, &b, NULL) == TSL_OK &&
                  tsl_batch_add(b, 5, 5, 1, 0, NULL) == TSL_OK &&
                  tsl_store_update(w, "a", b, 0, 0, "test", NULL, NULL) == TSL_OK);
        uint64_t s0 = skipped(p1), n1 = pfx_published(p1);
        STEP_UNTIL(p1, (tsl_publisher *)NULL, 3000, skipped(p1) > s0);
        /* Every notification queued is consumed while the lock is held (each round
         * skips again), so that only the look again can sign below. */
        STEP_UNTIL(p1, (tsl_publisher *)NULL, 700, 0);
        CK(skipped(p1) > s0 && pfx_published(p1) == n1);
        tsl_publisher_health h;
        tsl_publisher_health_get(p1, &h);
        CK(h.publishes_err == 0 && h.problems[TSL_PROBLEM_PUBLISH] == 0);
        PQclear(PQexec(c, "SELECT pg_advisory_unlock_all()"));
        t0 = mono_now_ms();
        STEP_UNTIL(p1, (tsl_publisher *)NULL, 3000, pfx_published(p1) == n1 + 1);
        CK(pfx_published(p1) == n1 + 1 && mono_now_ms() - t0 < 1000);
        STEP_UNTIL(p1, p2, 3000, serves_newest(p1, db) && serves_newest(p2, db));
        CK(serves_newest(p1, db) && serves_newest(p2, db));
        tsl_batch_free(b);
        tsl_store_close(w);
        /* One token per version and form. */
        res = PQexec(c, "SELECT count(*) FROM (SELECT version, format FROM tsl_tokens "
                        "GROUP BY version, format HAVING count(*) > 1) d");
        CK(PQresultStatus(res) == PGRES_TUPLES_OK &&
                  strcmp(PQgetvalue(res, 0, 0), "0") == 0);
        PQclear(res);
    }
    PQfinish(c);
    tsl_publisher_close(p1);
    tsl_publisher_close(p2);
    unlink(key);
    rmdir(dir);
    tt_pg_drop(schema);
    TT_CHECK(ok);
    if (bad_line != 0)
        tt_failf(__FILE__, bad_line, "check failed");
}
