/* test_pickup.c - how fast a publisher serves a change (issue 15, `tsl serve` pickup):
 * a large JWT served at once and its gzip variant added later by the gzip thread (with
 * its own ETag, gunzipping to the token, the identity answer unchanged), the tokens a
 * round signed served byte for byte as recorded, the inotify watch of an SQLite store's
 * -wal file (wakes on its writes only, never after stop, none without the file), and a
 * polling runner woken by a commit long before its interval. Real SQLite stores, real threads. */
#include "tt.h"
#include "publish/publish_int.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#define URI_BIG "https://example.com/statuslists/big"

static void pk_sleep_ms(long ms)
{
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

static void pk_rmdir(const char *dir)
{
    char path[512];
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d != NULL && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    if (d != NULL)
        closedir(d);
    rmdir(dir);
}

static const char *pk_hdr(const tsl_http_response *r, const char *name)
{
    for (size_t k = 0; k < r->nheaders; k++)
        if (strcasecmp(r->headers[k].name, name) == 0)
            return r->headers[k].value;
    return NULL;
}

/* A store in dir with list "big": 2,000,000 one-bit entries, every third set at
 * random, whose JWT is over 256 KiB (gzipped by the gzip thread, not inline). */
static int pk_store(char *dir, char *db, size_t dbsize)
{
    snprintf(dir, 64, "/tmp/tsl-pickup-XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(db, dbsize, "%s/tsl.db", dir);
    char key[128];
    snprintf(key, sizeof key, "%s/key.pem", dir);
    tsl_key *k = NULL;
    char *pem = NULL;
    tsl_store *st = NULL;
    int fd = -1;
    if (tsl_key_generate(TSL_ALG_ES256, &k, NULL) != TSL_OK ||
        tsl_key_to_private(k, &pem, NULL) != TSL_OK ||
        (fd = open(key, O_WRONLY | O_CREAT | O_EXCL, 0600)) < 0 ||
        write(fd, pem, strlen(pem)) != (ssize_t)strlen(pem) ||
        tsl_store_open(db, &st, NULL) != TSL_OK) {
        if (fd >= 0)
            close(fd);
        tsl_free(pem);
        tsl_key_free(k);
        return -1;
    }
    close(fd);
    tsl_free(pem);
    tsl_key_free(k);
    tsl_list_spec in;
    memset(&in, 0, sizeof in);
    in.id = "big";
    in.uri = URI_BIG;
    in.bits = 1;
    in.size = 2000000;
    in.key_path = key;
    tsl_status r = tsl_store_list_create(st, &in, NULL);
    tsl_batch *b = NULL;
    if (r == TSL_OK)
        r = tsl_batch_new(1, in.size, &b, NULL);
    uint64_t x = 88172645463325252ull;
    for (uint64_t i = 0; r == TSL_OK && i < in.size; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if (x % 3 == 0)
            r = tsl_batch_add(b, i, i, 1, 0, NULL);
    }
    if (r == TSL_OK)
        r = tsl_store_update(st, "big", b, 1, 0, "test", NULL, NULL);
    tsl_batch_free(b);
    tsl_store_close(st);
    return r == TSL_OK ? 0 : -1;
}

/* Whether body is the newest token of list "big" recorded in db (JWT). */
static int pk_is_recorded(const char *db, const uint8_t *body, size_t len)
{
    tsl_store *st = NULL;
    uint8_t *tok = NULL;
    size_t n = 0;
    int same = tsl_store_open(db, &st, NULL) == TSL_OK &&
               tsl_store_token(st, "big", TSL_FORMAT_JWT, 0, &tok, &n, NULL, NULL, NULL) ==
                   TSL_OK &&
               n == len && memcmp(tok, body, len) == 0;
    tsl_free(tok);
    tsl_store_close(st);
    return same;
}

static int pk_gunzips_to(const tsl_http_response *gz, const tsl_http_response *id)
{
    uint8_t *back = malloc(id->body_len + 1);
    if (back == NULL)
        return 0;
    z_stream z;
    memset(&z, 0, sizeof z);
    int ok = 0;
    if (inflateInit2(&z, 31) == Z_OK) {
        z.next_in = (Bytef *)(uintptr_t)gz->body;
        z.avail_in = (uInt)gz->body_len;
        z.next_out = back;
        z.avail_out = (uInt)id->body_len + 1;
        ok = inflate(&z, Z_FINISH) == Z_STREAM_END && z.total_out == id->body_len &&
             memcmp(back, id->body, id->body_len) == 0;
        inflateEnd(&z);
    }
    free(back);
    return ok;
}

TT_TEST(pickup_large_jwt_served_then_gzipped)
{
    char dir[64], db[128];
    TT_CHECK(pk_store(dir, db, sizeof db) == 0);
    tsl_publisher *p = NULL;
    tsl_publisher_options opt;
    memset(&opt, 0, sizeof opt);
    int ok = tsl_publisher_open(db, &opt, &p, NULL) == TSL_OK &&
             tsl_publisher_round(p, 0, NULL) == TSL_OK; /* publishes: the kept tokens */
    tsl_snapshot *s = ok ? tsl_publisher_snapshot(p) : NULL;
    tsl_http_request q;
    memset(&q, 0, sizeof q);
    q.method = "GET";
    q.path = "/statuslists/big";
    tsl_http_response id, gz;
    memset(&id, 0, sizeof id);
    memset(&gz, 0, sizeof gz);
    ok = ok && s != NULL;
    if (ok) {
        tsl_publish_answer(s, &q, &id);
        /* The token signed by the round, served as recorded, large enough to be
         * gzipped by the thread. */
        ok = id.status == 200 && id.body_len > ((size_t)256 << 10) &&
             pk_hdr(&id, "Content-Encoding") == NULL &&
             pk_is_recorded(db, id.body, id.body_len);
    }
    /* The gzip variant arrives on the same snapshot (the entry gets it). */
    q.accept_encoding = "gzip";
    bool zipped = false;
    for (int k = 0; ok && k < 500 && !zipped; k++) {
        tsl_http_response_free(&gz);
        tsl_publish_answer(s, &q, &gz);
        zipped = gz.status == 200 && pk_hdr(&gz, "Content-Encoding") != NULL;
        if (!zipped) {
            /* Meanwhile a gzip-accepting client gets the same identity token. */
            ok = gz.status == 200 && gz.body_len == id.body_len &&
                 strcmp(pk_hdr(&gz, "ETag"), pk_hdr(&id, "ETag")) == 0;
            pk_sleep_ms(10);
        }
    }
    ok = ok && zipped && strcmp(pk_hdr(&gz, "Content-Encoding"), "gzip") == 0 &&
         strcmp(pk_hdr(&gz, "ETag"), pk_hdr(&id, "ETag")) != 0 &&
         gz.body_len < id.body_len && pk_gunzips_to(&gz, &id);
    /* The identity answer did not change. */
    tsl_http_response again;
    q.accept_encoding = NULL;
    if (ok) {
        tsl_publish_answer(s, &q, &again);
        ok = again.status == 200 && strcmp(pk_hdr(&again, "ETag"), pk_hdr(&id, "ETag")) == 0;
        tsl_http_response_free(&again);
    }
    tsl_http_response_free(&gz);
    tsl_http_response_free(&id);
    tsl_snapshot_release(s);
    tsl_publisher_close(p);
    pk_rmdir(dir);
    TT_CHECK(ok);
}

static void pk_count(void *ctx)
{
    atomic_fetch_add((atomic_int *)ctx, 1);
}

static int pk_wait_count(atomic_int *n, int at_least, long ms)
{
    for (long t = 0; t < ms; t += 5) {
        if (atomic_load(n) >= at_least)
            return 1;
        pk_sleep_ms(5);
    }
    return atomic_load(n) >= at_least;
}

TT_TEST(pickup_walwatch_wakes_on_wal_writes_only)
{
    char dir[64] = "/tmp/tsl-walwatch-XXXXXX", db[128], path[160];
    TT_CHECK(mkdtemp(dir) != NULL);
    snprintf(db, sizeof db, "%s/tsl.db", dir);
    atomic_int n;
    atomic_init(&n, 0);
    /* No -wal file yet: no watch (the publisher keeps one open, so it exists). */
    int ok = tslp_walwatch_start(db, 2, pk_count, &n) == NULL;
    snprintf(path, sizeof path, "%s/tsl.db-wal", dir);
    ok = ok && tt_write_file(path, "", 0600, 1) == 0;
    tslp_walwatch *w = tslp_walwatch_start(db, 2, pk_count, &n);
    ok = ok && w != NULL;
    /* Other files of the directory (the store itself, another store's -wal): nothing. */
    snprintf(path, sizeof path, "%s/tsl.db", dir);
    ok = ok && tt_write_file(path, "x", 0600, 1) == 0;
    snprintf(path, sizeof path, "%s/other.db-wal", dir);
    ok = ok && tt_write_file(path, "x", 0600, 1) == 0;
    pk_sleep_ms(200);
    ok = ok && atomic_load(&n) == 0;
    /* Its -wal file: a call soon. */
    snprintf(path, sizeof path, "%s/tsl.db-wal", dir);
    ok = ok && tt_write_file(path, "x", 0600, 1) == 0 && pk_wait_count(&n, 1, 3000);
    /* Stopped: no more calls. */
    tslp_walwatch_stop(w);
    int after = atomic_load(&n);
    ok = ok && tt_write_file(path, "y", 0600, 1) == 0;
    pk_sleep_ms(100);
    ok = ok && atomic_load(&n) == after;
    /* A directory that does not exist: no watch (the caller polls). */
    ok = ok && tslp_walwatch_start("/nonexistent-tsl-dir/tsl.db", 2, pk_count, &n) == NULL;
    /* A -wal file deleted: the watch ends by itself (the timer goes on), no call. */
    w = tslp_walwatch_start(db, 2, pk_count, &n);
    after = atomic_load(&n);
    ok = ok && w != NULL && unlink(path) == 0;
    pk_sleep_ms(100);
    ok = ok && atomic_load(&n) == after;
    tslp_walwatch_stop(w);
    pk_rmdir(dir);
    TT_CHECK(ok);
}

TT_TEST(pickup_runner_woken_by_a_commit)
{
    char dir[64], db[128];
    TT_CHECK(pk_store(dir, db, sizeof db) == 0);
    tsl_publisher *p = NULL;
    tsl_publisher_runner *run = NULL;
    tsl_publisher_options opt;
    memset(&opt, 0, sizeof opt);
    opt.interval_ms = 60000;
    int ok = tsl_publisher_open(db, &opt, &p, NULL) == TSL_OK &&
             tsl_publisher_round(p, TSL_ROUND_LOAD_ONLY, NULL) == TSL_OK &&
             tsl_publisher_runner_start(p, 60000, &run, NULL) == TSL_OK;
    /* The runner's first round publishes (nothing recorded yet). */
    uint64_t v0 = 0, v = 0;
    for (int k = 0; ok && k < 1000; k++) {
        tsl_snapshot *s = tsl_publisher_snapshot(p);
        int have = tsl_snapshot_list_version(s, "big", &v0);
        tsl_snapshot_release(s);
        if (have)
            break;
        pk_sleep_ms(10);
    }
    ok = ok && v0 > 0;
    /* A commit by another handle: served long before the 60 s interval. */
    tsl_store *st = NULL;
    /* (entry 1 set, then cleared: at least one of the two changes it) */
    ok = ok && tsl_store_open(db, &st, NULL) == TSL_OK &&
         tsl_store_set(st, "big", 1, TSL_STATUS_INVALID, 1, NULL) == TSL_OK &&
         tsl_store_set(st, "big", 1, TSL_STATUS_VALID, 1, NULL) == TSL_OK;
    tsl_store_close(st);
    int served = 0;
    for (int k = 0; ok && k < 1000 && !served; k++) {
        tsl_snapshot *s = tsl_publisher_snapshot(p);
        served = tsl_snapshot_list_version(s, "big", &v) && v > v0;
        tsl_snapshot_release(s);
        if (!served)
            pk_sleep_ms(10);
    }
    ok = ok && served;
    ok = ok && tsl_publisher_runner_stop(run, 10000) == 1;
    tsl_publisher_close(p);
    pk_rmdir(dir);
    TT_CHECK(ok);
}
