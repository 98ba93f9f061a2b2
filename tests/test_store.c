/* test_store.c - the issuer store and the allocation permutation: list creation and
 * settings round trips, id checks, allocation (distinct, in range, never a decoy,
 * exhaustion allocating nothing), the permutation being a bijection, batch updates
 * across chunk boundaries with INVALID finality, dry runs, publishing and verifying
 * tokens of both forms, the token history and retention, and a second handle and a
 * reopened store seeing committed state; the backend chosen by the path, schema
 * migrations, and the crypto seam's AES-128 and CSPRNG the permutation stands on.
 * Every test works in its own temp directory. */
#include "tt.h"
#include "crypto/crypto.h"
#include "store/backend.h"
#include "store/store_pg.h"
#include "store/store_sqlite.h"

#include <dirent.h>
#include <libpq-fe.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* A temp directory with a store and an ES256 key file. The store is an SQLite file in
 * the directory, or (fx_pg) a fresh schema of the PostgreSQL server TSL_TEST_PG names
 * (tests/pg.sh; run_all.sh starts one for the suite), selected by its search_path in
 * the URL, and dropped by fx_close. */
typedef struct {
    char dir[64];
    char db[512];
    char key[128];
    char schema[64]; /* PostgreSQL: the fixture's schema */
    tsl_store *st;
} fixture;

/* 1 when the kept status counts of a list equal a recount (defined with its tests). */
static int counts_match(tsl_store *st, const char *id);

/* The backend the next fx_open uses: 0 SQLite, 1 PostgreSQL (STORE_TEST sets it). */
static int fx_pg;

/* A store test, run once on each backend: NAME on SQLite, NAME_pg on PostgreSQL. */
#define STORE_TEST(name)                                                                  \
    static void name##_body(void);                                                        \
    TT_TEST(name)                                                                         \
    {                                                                                     \
        fx_pg = 0;                                                                        \
        name##_body();                                                                    \
    }                                                                                     \
    TT_TEST(name##_pg)                                                                    \
    {                                                                                     \
        fx_pg = 1;                                                                        \
        name##_body();                                                                    \
        fx_pg = 0;                                                                        \
    }                                                                                     \
    static void name##_body(void)

static void quiet(void *arg, const char *msg)
{
    (void)arg;
    (void)msg;
}

/* Runs statements on the test server with libpq; 0 when they succeeded. */
static int pg_admin(const char *sql)
{
    const char *url = getenv("TSL_TEST_PG");
    if (url == NULL || url[0] == '\0') {
        fprintf(stderr, "  TSL_TEST_PG is not set: the PostgreSQL variants need a server "
                        "(make test starts one; else `. tests/pg.sh; pg_ensure`)\n");
        return -1;
    }
    PGconn *c = PQconnectdb(url);
    int ok = PQstatus(c) == CONNECTION_OK;
    PQsetNoticeProcessor(c, quiet, NULL); /* "drop cascades to ..." */
    if (!ok)
        fprintf(stderr, "  %s", PQerrorMessage(c));
    if (ok) {
        PGresult *r = PQexec(c, sql);
        ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
        if (!ok)
            fprintf(stderr, "  %s: %s", sql, PQresultErrorMessage(r));
        PQclear(r);
    }
    PQfinish(c);
    return ok ? 0 : -1;
}

int tt_pg_store(char *url, size_t url_size, char *schema, size_t schema_size)
{
    static unsigned seq;
    snprintf(schema, schema_size, "tsl_t%ld_%u", (long)getpid(), seq++);
    char sql[256];
    snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS %s CASCADE; CREATE SCHEMA %s", schema,
             schema);
    if (pg_admin(sql) != 0)
        return -1;
    const char *base = getenv("TSL_TEST_PG");
    snprintf(url, url_size, "%s%coptions=-csearch_path%%3D%s", base,
             strchr(base, '?') != NULL ? '&' : '?', schema);
    return 0;
}

void tt_pg_drop(char *schema)
{
    if (schema[0] == '\0')
        return;
    char sql[128];
    snprintf(sql, sizeof sql, "DROP SCHEMA %s CASCADE", schema);
    pg_admin(sql);
    schema[0] = '\0';
}

/* f->db: TSL_TEST_PG with the search_path set to a new schema. */
static int fx_pg_store(fixture *f)
{
    return tt_pg_store(f->db, sizeof f->db, f->schema, sizeof f->schema);
}


static int fx_open(fixture *f)
{
    memset(f, 0, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/tsl-store-XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->db, sizeof f->db, "%s/tsl.db", f->dir);
    snprintf(f->key, sizeof f->key, "%s/key.pem", f->dir);
    if (fx_pg && fx_pg_store(f) != 0) {
        rmdir(f->dir); /* no server: nothing was written in it */
        return -1;
    }
    tsl_key *k = NULL;
    char *pem = NULL;
    if (tsl_key_generate(TSL_ALG_ES256, &k, NULL) != TSL_OK ||
        tsl_key_to_private(k, &pem, NULL) != TSL_OK || tt_write_file(f->key, pem, 0600, 0) != 0)
        return -1;
    tsl_free(pem);
    tsl_key_free(k);
    tsl_error err;
    tsl_error_clear(&err);
    if (tsl_store_open(f->db, &f->st, &err) != TSL_OK) {
        fprintf(stderr, "  open: %s\n", err.msg);
        return -1;
    }
    return 0;
}

/* Closes the store and removes the directory (it holds only plain files). */
static void fx_close(fixture *f)
{
    tsl_store_close(f->st);
    f->st = NULL;
    tt_pg_drop(f->schema);
    DIR *d = opendir(f->dir);
    struct dirent *e;
    char path[400];
    while (d != NULL && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", f->dir, e->d_name);
        unlink(path);
    }
    if (d != NULL)
        closedir(d);
    if (rmdir(f->dir) != 0)
        fprintf(stderr, "  could not remove %s\n", f->dir);
}

static tsl_list_spec settings(const fixture *f, const char *id, unsigned bits,
                              uint64_t size)
{
    /* Each list its own path (two lists may not share one), from a ring of buffers
     * that outlives the few settings a test holds at once. */
    static char uris[16][128];
    static unsigned next;
    char *uri = uris[next++ % 16];
    snprintf(uri, sizeof uris[0], "https://example.com/statuslists/%s", id);
    tsl_list_spec in;
    memset(&in, 0, sizeof in);
    in.id = id;
    in.uri = uri;
    in.bits = bits;
    in.size = size;
    in.key_path = f->key;
    return in;
}

static tsl_status create(fixture *f, const char *id, unsigned bits, uint64_t size)
{
    tsl_list_spec in = settings(f, id, bits, size);
    return tsl_store_list_create(f->st, &in, NULL);
}

static unsigned entry(fixture *f, const char *id, uint64_t idx)
{
    tsl_list *l = NULL;
    unsigned v = 999;
    if (tsl_store_list_load(f->st, id, &l, NULL, NULL) == TSL_OK)
        tsl_list_get(l, idx, &v, NULL);
    tsl_list_free(l);
    return v;
}

/* Applies "first last value" triples as one batch from lines 1, 2, ... */
static tsl_status update(fixture *f, const char *id, unsigned bits, uint64_t size,
                         const uint64_t *t, size_t n, int force, int dry, uint64_t *changed,
                         tsl_error *err)
{
    tsl_batch *b = NULL;
    tsl_status s = tsl_batch_new(bits, size, &b, err);
    for (size_t k = 0; s == TSL_OK && k < n; k++)
        s = tsl_batch_add(b, t[3 * k], t[3 * k + 1], (unsigned)t[3 * k + 2], k + 1, err);
    if (s == TSL_OK)
        s = tsl_store_update(f->st, id, b, force, dry, "test", changed, err);
    tsl_batch_free(b);
    return s;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

TT_TEST(perm_bijection)
{
    static const uint64_t sizes[] = {1, 2, 3, 4, 5, 17, 1000, 65537};
    uint8_t key[TSLP_PERM_KEY_BYTES];
    for (size_t k = 0; k < sizeof key; k++)
        key[k] = (uint8_t)(k * 37 + 1);
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        uint64_t n = sizes[s];
        uint8_t *seen = calloc(n, 1);
        TT_CHECK(seen != NULL);
        tslp_perm p;
        TT_OK(tslp_perm_init(&p, key, n, NULL));
        for (uint64_t x = 0; x < n; x++) {
            uint64_t y = n;
            TT_OK(tslp_perm_at(&p, x, &y, NULL));
            TT_CHECK(y < n);
            TT_CHECK(!seen[y]);
            seen[y] = 1;
        }
        TT_ERR(tslp_perm_at(&p, n, &n, NULL), TSL_ERR_ARG);
        tslp_perm_done(&p);
        free(seen);
    }
    /* Another key, another order. */
    tslp_perm a, b;
    uint8_t key2[TSLP_PERM_KEY_BYTES];
    memcpy(key2, key, sizeof key2);
    key2[0] ^= 1;
    TT_OK(tslp_perm_init(&a, key, 1000000, NULL));
    TT_OK(tslp_perm_init(&b, key2, 1000000, NULL));
    int same = 0;
    for (uint64_t x = 0; x < 100; x++) {
        uint64_t ya, yb;
        TT_OK(tslp_perm_at(&a, x, &ya, NULL));
        TT_OK(tslp_perm_at(&b, x, &yb, NULL));
        same += ya == yb;
    }
    tslp_perm_done(&a);
    tslp_perm_done(&b);
    TT_CHECK(same < 5);
}

STORE_TEST(store_create_info_roundtrip)
{
    fixture f;
    TT_CHECK(fx_open(&f) == 0);
    struct stat sb;
    TT_CHECK(fx_pg || (stat(f.db, &sb) == 0 && (sb.st_mode & 077) == 0));
    tsl_list_spec in = settings(&f, "list-1", 2, 1000);
    in.kid = "k1";
    in.lifetime = 3600;
    in.ttl = 300;
    in.formats = TSL_PUBLISH_CWT;
    in.aggregation_uri = "https://example.com/agg";
    in.final_invalid = -1;
    in.alg = TSL_ALG_ES256;
    tsl_error err;
    tsl_error_clear(&err);
    TT_OK(tsl_store_list_create(f.st, &in, &err));
    TT_OK(create(&f, "a", 1, 10));
    tsl_list_info out;
    TT_OK(tsl_store_list_info(f.st, "list-1", &out, NULL));
    TT_EQ_STR(out.id, "list-1");
    TT_EQ_STR(out.uri, in.uri);
    TT_EQ_U(out.bits, 2);
    TT_EQ_U(out.size, 1000);
    TT_CHECK(out.key_path[0] == '/');
    TT_EQ_STR(out.kid, "k1");
    TT_CHECK(out.x5c_path == NULL);
    TT_EQ_U(out.alg, TSL_ALG_ES256);
    TT_EQ_U(out.lifetime, 3600);
    TT_EQ_U(out.ttl, 300);
    TT_EQ_U(out.formats, TSL_PUBLISH_CWT);
    TT_EQ_STR(out.aggregation_uri, "https://example.com/agg");
    TT_EQ_U(out.final_invalid, 0);
    TT_EQ_U(out.decoy_value, TSL_STATUS_INVALID);
    TT_EQ_U(out.allocated, 0);
    TT_EQ_U(out.capacity, 1000);
    TT_EQ_U(out.version, 0);
    TT_EQ_U(out.last_published, 0);
    TT_CHECK(out.created > 0 && out.updated == out.created);
    tsl_list_info_free(&out);
    TT_CHECK(out.id == NULL);
    TT_OK(tsl_store_list_info(f.st, "a", &out, NULL));
    TT_EQ_U(out.lifetime, 86400);
    TT_EQ_U(out.formats, TSL_PUBLISH_JWT | TSL_PUBLISH_CWT);
    TT_EQ_U(out.final_invalid, 1);
    TT_CHECK(out.kid == NULL && out.aggregation_uri == NULL);
    tsl_list_info_free(&out);
    char **ids;
    size_t n;
    TT_OK(tsl_store_list_ids(f.st, &ids, &n, NULL));
    TT_EQ_U(n, 2);
    TT_EQ_STR(ids[0], "a");
    TT_EQ_STR(ids[1], "list-1");
    tsl_store_ids_free(ids, n);
    tsl_list *l = NULL;
    uint64_t version = 9;
    TT_OK(tsl_store_list_load(f.st, "list-1", &l, &version, NULL));
    TT_EQ_U(version, 0);
    TT_EQ_U(tsl_list_size(l), 1000);
    TT_EQ_U(tsl_list_bits(l), 2);
    TT_EQ_STR(tsl_list_aggregation_uri(l), "https://example.com/agg");
    uint64_t counts[256];
    tsl_list_count(l, counts);
    TT_EQ_U(counts[0], 1000);
    tsl_list_free(l);
    tsl_error_clear(&err);
    TT_ERR(tsl_store_list_info(f.st, "nope", &out, &err), TSL_ERR_NOT_FOUND);
    TT_CONTAINS(err.msg, "list \"nope\": no such list");
    fx_close(&f);
}

/* tsl_store_list_show: `tsl list show` in one call, counts and version as of the
 * statuses read; an unknown id is TSL_ERR_NOT_FOUND with nothing returned. */
STORE_TEST(store_list_show_counts)
{
    fixture f;
    TT_CHECK(fx_open(&f) == 0);
    TT_OK(create(&f, "s", 2, 8));
    const uint64_t t[] = {1, 1, TSL_STATUS_INVALID, 2, 3, TSL_STATUS_SUSPENDED};
    uint64_t changed = 0;
    TT_OK(update(&f, "s", 2, 8, t, 2, 0, 0, &changed, NULL));
    char *text = NULL;
    TT_OK(tsl_store_list_show(f.st, "s", 0, &text, NULL));
    TT_CONTAINS(text, "\nVALID           5\nINVALID         1\nSUSPENDED       2\n");
    TT_CONTAINS(text, "\nversion         1\n");
    tsl_free(text);
    TT_OK(tsl_store_list_show(f.st, "s", TSL_REPORT_JSON, &text, NULL));
    TT_CONTAINS(text, "\"counts\":{\"VALID\":5,\"INVALID\":1,\"SUSPENDED\":2}");
    TT_CONTAINS(text, "\"version\":1");
    tsl_free(text);
    tsl_error err;
    tsl_error_clear(&err);
    text = (char *)"untouched";
    TT_ERR(tsl_store_list_show(f.st, "nope", 0, &text, &err), TSL_ERR_NOT_FOUND);
    TT_CHECK(text == NULL);
    TT_CONTAINS(err.msg, "no such list");
    fx_close(&f);
}

/* tsl_store_publish_report: `tsl publish`'s lines, read back from the store, for the
 * list's forms or the ones asked for; a token not recorded and a busy list say why. */
STORE_TEST(store_publish_report_lines)
{
    fixture f;
    TT_CHECK(fx_open(&f) == 0);
    TT_OK(create(&f, "p", 1, 16));
    tsl_publish_result res;
    TT_OK(tsl_store_publish_ex(f.st, "p", 0, 1700000000, -1, &res, NULL));
    char *text = NULL;
    TT_OK(tsl_store_publish_report(f.st, "p", 0, &res, &text, NULL));
    TT_CONTAINS(text, "p: published jwt, ");
    TT_CONTAINS(text, " bytes, iat 1700000000, exp 1700086400\np: published cwt, ");
    tsl_free(text);
    TT_OK(tsl_store_publish_ex(f.st, "p", TSL_PUBLISH_CWT, 1700000000, -1, &res, NULL));
    TT_OK(tsl_store_publish_report(f.st, "p", TSL_PUBLISH_CWT, &res, &text, NULL));
    /* SQLite: not recorded (the same iat); PostgreSQL: not signed (just signed). */
    TT_CONTAINS(text, "p: cwt not ");
    TT_CONTAINS(text, " a token of version 0 ");
    TT_CHECK(strstr(text, "jwt") == NULL && strchr(text, '\n') == text + strlen(text) - 1);
    tsl_free(text);
    memset(&res, 0, sizeof res);
    res.busy = 1;
    TT_OK(tsl_store_publish_report(f.st, "p", 0, &res, &text, NULL));
    TT_EQ_STR(text, "p: not signed: another publisher is signing this list\n");
    tsl_free(text);
    TT_ERR(tsl_store_publish_report(f.st, "nope", 0, &res, &text, NULL), TSL_ERR_NOT_FOUND);
    tsl_free(text);
    fx_close(&f);
}

/* tsl_store_set: one entry through tsl_store_update's checks: bounds, bits, INVALID
 * final unless forced; an unknown list is TSL_ERR_NOT_FOUND. */
STORE_TEST(store_set_one_entry)
{
    fixture f;
    TT_CHECK(fx_open(&f) == 0);
    TT_OK(create(&f, "e", 2, 8));
    TT_OK(tsl_store_set(f.st, "e", 3, TSL_STATUS_SUSPENDED, 0, NULL));
    TT_EQ_U(entry(&f, "e", 3), TSL_STATUS_SUSPENDED);
    TT_EQ_U(entry(&f, "e", 2), TSL_STATUS_VALID);
    TT_ERR(tsl_store_set(f.st, "e", 8, 1, 0, NULL), TSL_ERR_INDEX);
    TT_ERR(tsl_store_set(f.st, "e", 1, 4, 0, NULL), TSL_ERR_VALUE);
    TT_OK(tsl_store_set(f.st, "e", 5, TSL_STATUS_INVALID, 0, NULL));
    tsl_error err;
    tsl_error_clear(&err);
    TT_CHECK(tsl_store_set(f.st, "e", 5, TSL_STATUS_VALID, 0, &err) != TSL_OK);
    TT_CONTAINS(err.msg, "INVALID, which is final");
    TT_EQ_U(entry(&f, "e", 5), TSL_STATUS_INVALID);
    TT_OK(tsl_store_set(f.st, "e", 5, TSL_STATUS_VALID, 1, NULL));
    TT_EQ_U(entry(&f, "e", 5), TSL_STATUS_VALID);
    TT_ERR(tsl_store_set(f.st, "nope", 0, 1, 0, NULL), TSL_ERR_NOT_FOUND);
    fx_close(&f);
}

/* tsl_store_alloc_new: n distinct indices in a new array; a count over what is left is
 * TSL_ERR_LIMIT before any array is sized, naming both numbers. */
STORE_TEST(store_alloc_new_array)
{
    fixture f;
    TT_CHECK(fx_open(&f) == 0);
    TT_OK(create(&f, "al", 1, 16));
    uint64_t *out = NULL;
    TT_OK(tsl_store_alloc_new(f.st, "al", 5, &out, NULL));
    for (size_t i = 0; i < 5; i++) {
        TT_CHECK(out[i] < 16);
        for (size_t j = 0; j < i; j++)
            TT_CHECK(out[i] != out[j]);
    }
    tsl_free(out);
    tsl_error err;
    tsl_error_clear(&err);
    out = (uint64_t *)&err; /* overwritten with NULL */
    TT_ERR(tsl_store_alloc_new(f.st, "al", 12, &out, &err), TSL_ERR_LIMIT);
    TT_CHECK(out == NULL);
    TT_EQ_STR(err.msg, "al: 12 indices asked for, 11 left");
    TT_OK(tsl_store_alloc_new(f.st, "al", 11, &out, NULL));
    tsl_free(out);
    TT_ERR(tsl_store_alloc_new(f.st, "al", 1, &out, NULL), TSL_ERR_LIMIT);
    TT_ERR(tsl_store_alloc_new(f.st, "nope", 1, &out, NULL), TSL_ERR_NOT_FOUND);
    fx_close(&f);
}

STORE_TEST(store_create_checks)
{
    fixture f;
    TT_CHECK(fx_open(&f) == 0);
    static const char *bad[] = {"", "a b", "a/b", "é", "x;DROP TABLE lists",
                                "0123456789012345678901234567890123456789012345678901234567890"
                                "1234"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++)
        TT_ERR(create(&f, bad[k], 1, 10), TSL_ERR_ARG);
    TT_OK(create(&f, "0123456789012345678901234567890123456789012345678901234567890123", 1,
                 10));
    TT_OK(create(&f, "A.b_c-9", 1, 10));
    tsl_error err;
    tsl_error_clear(&err);
    tsl_list_spec in = settings(&f, "A.b_c-9", 1, 10);
    TT_ERR(tsl_store_list_create(f.st, &in, &err), TSL_ERR_EXISTS);
    TT_CONTAINS(err.msg, "already exists");
    TT_ERR(create(&f, "z", 3, 10), TSL_ERR_ARG);
    TT_ERR(create(&f, "z", 1, 0), TSL_ERR_ARG);
    TT_ERR(create(&f, "z", 1, TSL_STORE_MAX_SIZE + 1), TSL_ERR_ARG);
    in = settings(&f, "z", 1, 10);
    in.decoys = 10;
    TT_ERR(tsl_store_list_create(f.st, &in, NULL), TSL_ERR_ARG);
    in.decoys = 1;
    in.decoy_value = TSL_STATUS_SUSPENDED;
    TT_ERR(tsl_store_list_create(f.st, &in, NULL), TSL_ERR_ARG);
    in = settings(&f, "z", 1, 10);
    in.key_path = "/nonexistent/key.pem";
    TT_ERR(tsl_store_list_create(f.st, &in, NULL), TSL_ERR_IO);
    in = settings(&f, "z", 1, 10);
    in.alg = TSL_ALG_RS256;
    TT_ERR(tsl_store_list_create(f.st, &in, NULL), TSL_ERR_KEY);
    in = settings(&f, "z", 1, 10);
    in.uri = NULL;
    TT_ERR(tsl_store_list_create(f.st, &in, NULL), TSL_ERR_ARG);
    char **ids;
    size_t n;
    TT_OK(tsl_store_list_ids(f.st, &ids, &n, NULL));
    TT_EQ_U(n, 2);
    tsl_store_ids_free(ids, n);
    fx_close(&f);
}

TT_TEST(list_spec_check_without_store)
{
    /* The settings rule `tsl list create` runs before it makes a store: no store, no key
     * file read, and the messages it prints as they are. */
    tsl_list_spec in;
    memset(&in, 0, sizeof in);
    in.id = "l";
    in.uri = "https://example.com/l";
    in.bits = 1;
    in.size = 10;
    in.key_path = "/nonexistent/key.pem"; /* not loaded here */
    tsl_error err;
    TT_OK(tsl_list_spec_check(&in, NULL));
    in.decoys = 10;
    tsl_error_clear(&err);
    TT_ERR(tsl_list_spec_check(&in, &err), TSL_ERR_ARG);
    TT_EQ_STR(err.msg, "--decoys: 10 is not fewer than the 10 entries");
    in.decoys = 1;
    in.decoy_value = TSL_STATUS_SUSPENDED;
    tsl_error_clear(&err);
    TT_ERR(tsl_list_spec_check(&in, &err), TSL_ERR_ARG);
    TT_EQ_STR(err.msg, "--decoy-value: 2 does not fit in 1 bits");
    in.decoy_value = 0; /* INVALID, which fits in any width */
    TT_OK(tsl_list_spec_check(&in, NULL));
    in.uri = "http://example.com/l";
    tsl_error_clear(&err);
    TT_ERR(tsl_list_spec_check(&in, &err), TSL_ERR_UNSUPPORTED);
    TT_CONTAINS(err.msg, "--uri: ");
    in.create_flags = TSL_CREATE_ALLOW_HTTP;
    TT_OK(tsl_list_spec_check(&in, NULL));
    in.aggregation_uri = "https://example.com/a b";
    tsl_error_clear(&err);
    TT_ERR(tsl_list_spec_check(&in, &err), TSL_ERR_MALFORMED);
    TT_CONTAINS(err.msg, "--aggregation-uri: ");
    in.aggregation_uri = "https://other.example/l";
    tsl_error_clear(&err);
    TT_ERR(tsl_list_spec_check(&in, &err), TSL_ERR_ARG);
    TT_EQ_STR(err.msg, "list \"l\": uri and aggregation_uri have the same path /l");
    in.aggregation_uri = NULL;
    /* The size for verifiers is not this check's: tsl_store_size_check says it. */
    in.bits = 8;
    in.size = (uint64_t)32 << 20;
    TT_OK(tsl_list_spec_check(&in, NULL));
    TT_ERR(tsl_store_size_check(in.bits, in.size, NULL), TSL_ERR_LIMIT);
    in.size = TSL_STORE_MAX_SIZE + 1;
    TT_ERR(tsl_list_spec_check(&in, NULL), TSL_ERR_ARG);
    in.size = 10;
    in.id = "a/b";
    tsl_error_clear(&err);
    TT_ERR(tsl_list_spec_check(&in, &err), TSL_ERR_ARG);
    TT_CONTAINS(err.msg, "list id \"a/b\"");
    in.id = "l";
    in.kid = "";
    TT_ERR(tsl_list_spec_check(&in, NULL), TSL_ERR_ARG);
    in.kid = NULL;
    in.key_path = NULL;
    TT_ERR(tsl_list_spec_check(&in, NULL), TSL_ERR_ARG);
    TT_ERR(tsl_list_spec_check(NULL, NULL), TSL_ERR_ARG);
}

TT_TEST(list_info_report_text_and_json)
{
    /* What `tsl list show` prints, from an info and counts alone: rows padded to 16,
     * VALID and INVALID always and others when they occur (a
     * name longer than the padding runs into its value), null for what is absent. */
    tsl_list_info in;
    memset(&in, 0, sizeof in);
    in.id = "L";
    in.uri = "https://e.x/l";
    in.bits = 2;
    in.size = 10;
    in.key_path = "/k.pem";
    in.alg = TSL_ALG_ES256;
    in.lifetime = 86400;
    in.decoys = 2;
    in.decoy_value = TSL_STATUS_SUSPENDED;
    in.final_invalid = 1;
    in.created = in.updated = 5;
    in.allocated = 3;
    in.capacity = 8;
    in.version = 7;
    uint64_t counts[256] = {0};
    counts[0] = 7;
    counts[2] = 2;
    counts[3] = 1;
    char *text = NULL;
    TT_OK(tsl_list_info_report(&in, counts, 0, &text, NULL));
    TT_EQ_STR(text, "id              L\nuri             https://e.x/l\nbits            2\n"
                    "size            10\nkey             /k.pem\nalg             ES256\n"
                    "kid             (from the key)\nx5c             -\n"
                    "lifetime        86400\nttl             -\nformats         jwt,cwt\n"
                    "decoys          2\ndecoy_value     SUSPENDED\nfinal_invalid   yes\n"
                    "aggregation_uri -\ncreated         5\nupdated         5\n"
                    "VALID           7\nINVALID         0\nSUSPENDED       2\n"
                    "APPLICATION_SPECIFIC1\nallocated       3\nfree            5\n"
                    "last_published  never\nversion         7\n");
    tsl_free(text);
    in.ttl = 60;
    in.last_published = 9;
    in.formats = TSL_PUBLISH_CWT;
    TT_OK(tsl_list_info_report(&in, counts, TSL_REPORT_JSON, &text, NULL));
    TT_EQ_STR(text, "{\"id\":\"L\",\"uri\":\"https://e.x/l\",\"bits\":2,\"size\":10,"
                    "\"key\":\"/k.pem\",\"alg\":\"ES256\",\"kid\":null,\"x5c\":null,"
                    "\"lifetime\":86400,\"ttl\":60,\"formats\":[\"cwt\"],\"decoys\":2,"
                    "\"decoy_value\":2,\"final_invalid\":true,\"aggregation_uri\":null,"
                    "\"created\":5,\"updated\":5,\"counts\":{\"VALID\":7,\"INVALID\":0,"
                    "\"SUSPENDED\":2,\"APPLICATION_SPECIFIC\":1},\"allocated\":3,\"capacity\":8,\"free\":5,"
                    "\"last_published\":9,\"version\":7}");
    tsl_free(text);
    in.bits = 3;
    TT_ERR(tsl_list_info_report(&in, counts, 0, &text, NULL), TSL_ERR_ARG);
}

TT_TEST(store_open_refuses_foreign)
{
    fixture f;
    TT_CHECK(fx_open(&f) == 0);
    char path[160];
    tsl_store *st = NULL;
    snprintf(path, sizeof path, "%s/text", f.dir);
    TT_CHECK(tt_write_file(path, "this is not a database, not at all, no sir, not one bit\n",
                           0600, 0) == 0);
    /* A damaged or foreign store is an I/O error (the commands exit 2), not input. */
    TT_ERR(tsl_store_open(path, &st, NULL), TSL_ERR_IO);
    /* Another application's SQLite file. */
    snprintf(path, sizeof path, "%s/other.db", f.dir);
    sqlite3 *db;
    TT_CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    TT_CHECK(sqlite3_exec(db, "CREATE TABLE t (x)", NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
    tsl_error err;
    tsl_error_clear(&err);
    TT_ERR(tsl_store_open(path, &st, &err), TSL_ERR_IO);
    TT_CONTAINS(err.msg, "not a tsl store");
    /* A newer schema. */
    TT_CHECK(sqlite3_open(f.db, &db) == SQLITE_OK);
    TT_CHECK(sqlite3_exec(db, "UPDATE meta SET value = '99' WHERE key = 'schema_version'",
                          NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
    tsl_error_clear(&err);
    TT_ERR(tsl_store_open(f.db, &st, &err), TSL_ERR_UNSUPPORTED);
    TT_CONTAINS(err.msg, "newer");
    fx_close(&f);
}

STORE_TEST(store_alloc_distinct_and_decoys)
{
    fixture f;
    TT_CHECK(fx_open(&f) == 0);
    tsl_list_spec in = settings(&f, "d", 2, 5000);
    in.decoys = 500;
    in.decoy_value = TSL_STATUS_SUSPENDED;
    TT_OK(tsl_store_list_create(f.st, &in, NULL));
    tsl_list *l = NULL;
    TT_OK(tsl_store_list_load(f.st, "d", &l, NULL, NULL));
    uint64_t counts[256];
    tsl_list_count(l, counts);
    TT_EQ_U(counts[TSL_STATUS_SUSPENDED], 500);
    TT_EQ_U(counts[0], 4500);
    uint64_t *got = calloc(4500, sizeof *got);
    TT_CHECK(got != NULL);
    /* In several calls, as separate commands would. */
    TT_OK(tsl_store_alloc(f.st, "d", 1, got, NULL));
    TT_OK(tsl_store_alloc(f.st, "d", 999, got + 1, NULL));
    TT_OK(tsl_store_alloc(f.st, "d", 3000, got + 1000, NULL));
    TT_OK(tsl_store_alloc(f.st, "d", 500, got + 4000, NULL));
    for (size_t k = 0; k < 4500; k++) {
        unsigned v;
        TT_CHECK(got[k] < 5000);
        TT_OK(tsl_list_get(l, got[k], &v, NULL));
        TT_EQ_U(v, 0); /* never a decoy */
    }
    qsort(got, 4500, sizeof *got, cmp_u64);
    for (size_t k = 1; k < 4500; k++)
        TT_CHECK(got[k] != got[k - 1]);
    tsl_list_free(l);
    tsl_list_info out;
    TT_OK(tsl_store_list_info(f.st, "d", &out, NULL));
    TT_EQ_U(out.allocated, 4500);
    TT_EQ_U(out.capacity, 4500);
    TT_EQ_U(out.decoys, 500);
    TT_EQ_U(out.version, 0);
    tsl_list_info_free(&out);
    uint64_t one;
    tsl_error err;
    tsl_error_clear(&err);
    TT_ERR(tsl_store_alloc(f.st, "d", 1, &one, &err), TSL_ERR_LIMIT);
    TT_CONTAINS(err.msg, "list \"d\": only 0 of 4500 indices left");
    TT_ERR(tsl_store_alloc(f.st, "nope", 1, &one, NULL), TSL_ERR_NOT_FOUND);
    free(got);
    fx_close(&f);
}

STORE_TEST(store_alloc_exhaustion_allocates_nothing)
{
    fixture f;
    TT_CHECK(fx_open(&f) == 0);
    TT_OK(create(&f, "s", 1, 10));
    uint64_t out[11];
    TT_OK(tsl_store_alloc(f.st, "s", 7, out, NULL));
    tsl_error err;
    tsl_error_clear(&err);
    TT_ERR(tsl_store_alloc(f.st, "s", 4, out, &err), TSL_ERR_LIMIT);
    TT_CONTAINS(err.msg, "only 3 of 10 indices left");
    tsl_list_info info;
    TT_OK(tsl_store_list_info(f.st, "s", &info, NULL));
    TT_EQ_U(info.allocated, 7);
    tsl_list_info_free(&info);
    TT_OK(tsl_store_alloc(f.st, "s", 3, out + 7, NULL));
    qsort(out, 10, sizeof *out, cmp_u64);
    for (uint64_t k = 0; k < 10; k++)
        TT_EQ_U(out[k], k);
    TT_ERR(tsl_store_alloc(f.st, "s", 1, out, NULL), TSL_ERR_LIMIT);
    TT_OK(tsl_store_alloc(f.st, "s", 0, NULL, NULL));
    fx_close(&f);
}

STORE_TEST(store_update_ranges_across_chunks)
{
    fixture f;
    TT_CHECK(fx_open(&f) == 0);
    /* 1-bit: 524288 entries per chunk; 2-bit: 262144. */
    const uint64_t size1 = 3 * 524288 + 1000, size2 = 2 * 262144 + 7;
    TT_OK(create(&f, "one", 1, size1));
    TT_OK(create(&f, "two", 2, size2));
    const uint64_t t1[] = {524288 - 3, 2 * 524288 + 5, 1, /* spans three chunks */
                           size1 - 1, size1 - 1, 1,       /* the very last entry */
                           0, 0, 1};
    uint64_t changed = 0;
    TT_OK(update(&f, "one", 1, size1, t1, 3, 0, 0, &changed, NULL));
    TT_EQ_U(changed, 524288 + 9 + 1 + 1);
    tsl_list *l = NULL;
    uint64_t version;
    TT_OK(tsl_store_list_load(f.st, "one", &l, &version, NULL));
    TT_EQ_U(version, 1);
    uint64_t counts[256];
    tsl_list_count(l, counts);
    TT_EQ_U(counts[1], changed);
    unsigned v;
    TT_OK(tsl_list_get(l, 524288 - 4, &v, NULL));
    TT_EQ_U(v, 0);
    TT_OK(tsl_list_get(l, 524288 - 3, &v, NULL));
    TT_EQ_U(v, 1);
    TT_OK(tsl_list_get(l, 2 * 524288 + 5, &v, NULL));
    TT_EQ_U(v, 1);
    TT_OK(tsl_list_get(l, 2 * 524288 + 6, &v, NULL));
    TT_EQ_U(v, 0);
    tsl_list_free(l);
    /* 2-bit, mixed values, later items win, and a reference list agrees. */
    const uint64_t t2[] = {10, 262144 + 100, 2, 262140, 262150, 3, 262145, 262145, 0,
                           size2 - 3, size2 - 1, 2, 5, 5, 1};
    TT_OK(update(&f, "two", 2, size2, t2, 5, 0, 0, &changed, NULL));
    tsl_list *ref = NULL;
    TT_OK(tsl_list_new(2, size2, &ref, NULL));
    for (size_t k = 0; k < 5; k++)
        TT_OK(tsl_list_set_range(ref, t2[3 * k], t2[3 * k + 1], (unsigned)t2[3 * k + 2],
                                 NULL));
    tsl_list_count(ref, counts);
    TT_EQ_U(changed, size2 - counts[0]);
    TT_OK(tsl_store_list_load(f.st, "two", &l, NULL, NULL));
    size_t la, lb;
    const uint8_t *a = tsl_list_bytes(l, &la), *b = tsl_list_bytes(ref, &lb);
    TT_EQ_U(la, lb);
    TT_EQ_MEM(a, b, la);
    tsl_list_free(l);
    /* Setting the same values again changes nothing and keeps the version. */
    TT_OK(update(&f, "two", 2, size2, t2 + 12, 1, 0, 0, &changed, NULL));
    TT_EQ_U(changed, 0);
    uint64_t v2;
    TT_OK(tsl_store_list_load(f.st, "two", &l, &v2, NULL));
    TT_EQ_U(v2, 1);
    tsl_list_free(l);
    tsl_list_free(ref);
    fx_close(&f);
}

STORE_TEST(store_update_invalid_is_final)
{
    fixture f;
    TT_CHECK(fx_open(&f) == 0);
    TT_OK(create(&f, "l", 2, 100000));
    const uint64_t inv[] = {70000, 70000, 1, 50, 60, 1};
    TT_OK(update(&f, "l", 2, 100000, inv, 2, 0, 0, NULL, NULL));
    /* A range over an INVALID entry, reported by its line and index. */
    const uint64_t back[] = {0, 0, 2, 40, 99, 0};
    tsl_error err;
    tsl_error_clear(&err);
    TT_ERR(update(&f, "l", 2, 100000, back, 2, 0, 0, NULL, &err), TSL_ERR_VALUE);
    TT_EQ_STR(err.msg, "line 2: index 50 is INVALID, which is final; use --force");
    TT_EQ_U(entry(&f, "l", 0), 0); /* all or nothing */
    /* Within one batch too: INVALID then VALID. */
    const uint64_t twice[] = {7, 7, 1, 7, 7, 0};
    tsl_error_clear(&err);
    TT_ERR(update(&f, "l", 2, 100000, twice, 2, 0, 0, NULL, &err), TSL_ERR_VALUE);
    TT_CONTAINS(err.msg, "line 2: index 7 is INVALID");
    /* INVALID to INVALID is no change and allowed. */
    TT_OK(update(&f, "l", 2, 100000, inv, 1, 0, 0, NULL, NULL));
    uint64_t changed = 9;
    TT_OK(update(&f, "l", 2, 100000, back, 2, 1, 0, &changed, NULL));
    TT_EQ_U(changed, 1 + 11);
    TT_EQ_U(entry(&f, "l", 50), 0);
    TT_EQ_U(entry(&f, "l", 0), 2);
    /* The per-list policy off. */
    tsl_list_spec in = settings(&f, "free", 1, 100);
    in.final_invalid = -1;
    TT_OK(tsl_store_list_create(f.st, &in, NULL));
    const uint64_t a[] = {3, 3, 1}, b[] = {3, 3, 0};
    TT_OK(update(&f, "free", 1, 100, a, 1, 0, 0, NULL, NULL));
    TT_OK(update(&f, "free", 1, 100, b, 1, 0, 0, NULL, NULL));
    TT_EQ_U(entry(&f, "free", 3), 0);
    fx_close(&f);
}

STORE_TEST(store_update_dry_run_and_checks)
{
    fixture f;
    TT_CHECK(fx_open(&f) == 0);
    TT_OK(create(&f, "l", 1, 1000));
    const uint64_t t[] = {0, 99, 1};
    uint64_t changed = 0;
    TT_OK(update(&f, "l", 1, 1000, t, 1, 0, 1, &changed, NULL));
    TT_EQ_U(changed, 100);
    tsl_list *l = NULL;
    uint64_t version = 9;
    TT_OK(tsl_store_list_load(f.st, "l", &l, &version, NULL));
    TT_EQ_U(version, 0);
    uint64_t counts[256];
    tsl_list_count(l, counts);
    TT_EQ_U(counts[0], 1000);
    tsl_list_free(l);
    /* SUSPENDED on a 1-bit list: the batch refuses it, and so does the store when the
     * batch was made for other bits. */
    tsl_batch *b = NULL;
    TT_OK(tsl_batch_new(1, 1000, &b, NULL));
    TT_CHECK(tsl_batch_add(b, 1, 1, TSL_STATUS_SUSPENDED, 1, NULL) != TSL_OK);
    tsl_batch_free(b);
    const uint64_t s[] = {5, 5, 2};
    tsl_error err;
    tsl_error_clear(&err);
    TT_ERR(update(&f, "l", 2, 1000, s, 1, 0, 0, NULL, &err), TSL_ERR_VALUE);
    TT_CONTAINS(err.msg, "SUSPENDED needs bits of at least 2");
    const uint64_t far[] = {999, 1000, 1};
    TT_ERR(update(&f, "l", 1, 2000, far, 1, 0, 0, NULL, NULL), TSL_ERR_INDEX);
    TT_ERR(update(&f, "nope", 1, 1000, t, 1, 0, 0, NULL, NULL), TSL_ERR_NOT_FOUND);
    /* Versions count committed changes; the audit trail has every batch. */
    TT_OK(update(&f, "l", 1, 1000, t, 1, 0, 0, NULL, NULL));
    TT_OK(update(&f, "l", 1, 1000, far, 0, 0, 0, NULL, NULL));
    tsl_list_info info;
    TT_OK(tsl_store_list_info(f.st, "l", &info, NULL));
    TT_EQ_U(info.version, 1);
    tsl_list_info_free(&info);
    if (fx_pg) {
        PGresult *q = PQexec(tslp_pg_conn(f.st),
                             "SELECT count(*), sum(changed) FROM tsl_batches WHERE kind = "
                             "'update' AND list_id = 'l'");
        TT_CHECK(PQresultStatus(q) == PGRES_TUPLES_OK && PQntuples(q) == 1);
        TT_EQ_STR(PQgetvalue(q, 0, 0), "2");
        TT_EQ_STR(PQgetvalue(q, 0, 1), "100");
        PQclear(q);
    } else {
        sqlite3_stmt *q;
        TT_CHECK(sqlite3_prepare_v2(tslp_sqlite_db(f.st),
                                    "SELECT count(*), sum(changed) FROM batches WHERE kind = "
                                    "'update' AND list_id = 'l'",
                                    -1, &q, NULL) == SQLITE_OK);
        TT_CHECK(sqlite3_step(q) == SQLITE_ROW);
        TT_EQ_U(sqlite3_column_int64(q, 0), 2);
        TT_EQ_U(sqlite3_column_int64(q, 1), 100);
        sqlite3_finalize(q);
    }
    fx_close(&f);
}

static tsl_status verify_with_key(const char *key_path, const uint8_t *tok, size_t len,
                                  const char *sub, tsl_token **out)
{
    tsl_key *k = NULL;
    tsl_keyset *ks = NULL;
    tsl_token *t = NULL;
    tsl_error err;
    tsl_error_clear(&err);
    tsl_status s = tsl_key_load(key_path, &k, &err);
    if (s == TSL_OK)
        s = tsl_keyset_new(&ks, &err);
    if (s == TSL_OK)
        s = tsl_keyset_add(ks, k, &err);
    if (s == TSL_OK)
        s = tsl_token_parse(tok, len, NULL, &t, &err);
    if (s == TSL_OK) {
        tsl_verify_opts o;
        memset(&o, 0, sizeof o);
        o.policy.keys = ks;
        o.sub = sub;
        o.policy.now = tsl_token_iat(t);
        s = tsl_token_verify(t, &o, &err);
    }
    if (s != TSL_OK)
        fprintf(stderr, "  verify: %s\n", err.msg);
    tsl_keyset_free(ks);
    tsl_key_free(k);
    if (s == TSL_OK)
        *out = t;
    else
        tsl_token_free(t);
    return s;
}

STORE_TEST(store_publish_and_history)
{
    fixture f;
    TT_CHECK(fx_open(&f) == 0);
    tsl_list_spec in = settings(&f, "p", 2, 300000);
    in.lifetime = 1000;
    in.ttl = 60;
    TT_OK(tsl_store_list_create(f.st, &in, NULL));
    const uint64_t t[] = {3, 3, 1, 200000, 299999, 2};
    TT_OK(update(&f, "p", 2, 300000, t, 2, 0, 0, NULL, NULL));
    tsl_error err;
    tsl_error_clear(&err);
    TT_OK(tsl_store_publish(f.st, "p", 0, 1000000, -1, &err));
    tsl_list *stored = NULL;
    TT_OK(tsl_store_list_load(f.st, "p", &stored, NULL, NULL));
    static const tsl_format forms[] = {TSL_FORMAT_JWT, TSL_FORMAT_CWT};
    for (int k = 0; k < 2; k++) {
        uint8_t *tok = NULL;
        size_t len;
        int64_t iat, exp;
        TT_OK(tsl_store_token(f.st, "p", forms[k], 0, &tok, &len, &iat, &exp, NULL));
        TT_EQ_U(iat, 1000000);
        TT_EQ_U(exp, 1001000);
        tsl_token *tk = NULL;
        TT_OK(verify_with_key(f.key, tok, len, in.uri, &tk));
        tsl_free(tok);
        TT_EQ_U(tsl_token_format(tk), forms[k]);
        int64_t ttl;
        TT_CHECK(tsl_token_ttl(tk, &ttl) && ttl == 60);
        TT_CHECK(tsl_token_kid(tk, &len) != NULL); /* the key's thumbprint */
        size_t la, lb;
        const uint8_t *a = tsl_list_bytes(tsl_token_list(tk), &la);
        const uint8_t *b = tsl_list_bytes(stored, &lb);
        TT_EQ_U(la, lb);
        TT_EQ_MEM(a, b, la);
        tsl_token_free(tk);
    }
    tsl_list_free(stored);
    tsl_list_info info;
    TT_OK(tsl_store_list_info(f.st, "p", &info, NULL));
    TT_EQ_U(info.last_published, 1000000);
    tsl_list_info_free(&info);
    /* Later tokens; the history answers by time. */
    TT_OK(tsl_store_publish(f.st, "p", TSL_PUBLISH_JWT, 1000500, -1, NULL));
    TT_OK(tsl_store_publish(f.st, "p", TSL_PUBLISH_JWT, 1002000, -1, NULL));
    int64_t iat;
    uint8_t *tok;
    size_t len;
    TT_OK(tsl_store_token(f.st, "p", TSL_FORMAT_JWT, 1000100, &tok, &len, &iat, NULL, NULL));
    TT_EQ_U(iat, 1000000);
    tsl_free(tok);
    TT_OK(tsl_store_token(f.st, "p", TSL_FORMAT_JWT, 1000600, &tok, &len, &iat, NULL, NULL));
    TT_EQ_U(iat, 1000500);
    tsl_free(tok);
    TT_OK(tsl_store_token(f.st, "p", TSL_FORMAT_JWT, 0, &tok, &len, &iat, NULL, NULL));
    TT_EQ_U(iat, 1002000);
    tsl_free(tok);
    TT_OK(tsl_store_token(f.st, "p", TSL_FORMAT_CWT, 0, &tok, &len, &iat, NULL, NULL));
    TT_EQ_U(iat, 1000000);
    tsl_free(tok);
    tsl_error_clear(&err);
    TT_ERR(tsl_store_token(f.st, "p", TSL_FORMAT_CWT, 1001500, &tok, &len, NULL, NULL, &err),
           TSL_ERR_NOT_FOUND);
    TT_CONTAINS(err.msg, "no cwt token valid at 1001500");
    TT_ERR(tsl_store_token(f.st, "p", TSL_FORMAT_JWT, 999999, &tok, &len, NULL, NULL, NULL),
           TSL_ERR_NOT_FOUND);
    /* Retention: tokens that expired more than 100 s before now go. */
    TT_OK(tsl_store_publish(f.st, "p", TSL_PUBLISH_JWT, 1001600, 100, NULL));
    TT_ERR(tsl_store_token(f.st, "p", TSL_FORMAT_JWT, 1000100, &tok, &len, NULL, NULL, NULL),
           TSL_ERR_NOT_FOUND);
    TT_ERR(tsl_store_token(f.st, "p", TSL_FORMAT_CWT, 0, &tok, &len, NULL, NULL, NULL),
           TSL_ERR_NOT_FOUND);
    TT_OK(tsl_store_token(f.st, "p", TSL_FORMAT_JWT, 1001450, &tok, &len, &iat, NULL, NULL));
    TT_EQ_U(iat, 1000500);
    tsl_free(tok);
    TT_ERR(tsl_store_publish(f.st, "nope", 0, 0, -1, NULL), TSL_ERR_NOT_FOUND);
    fx_close(&f);
}

STORE_TEST(store_second_handle_and_reopen)
{
    fixture f;
    TT_CHECK(fx_open(&f) == 0);
    tsl_store *other = NULL;
    TT_OK(tsl_store_open(f.db, &other, NULL));
    TT_OK(create(&f, "x", 1, 100));
    tsl_list_info info;
    TT_OK(tsl_store_list_info(other, "x", &info, NULL));
    tsl_list_info_free(&info);
    const uint64_t t[] = {42, 42, 1};
    TT_OK(update(&f, "x", 1, 100, t, 1, 0, 0, NULL, NULL));
    uint64_t idx[60], more[40];
    TT_OK(tsl_store_alloc(other, "x", 60, idx, NULL));
    TT_OK(tsl_store_alloc(f.st, "x", 40, more, NULL));
    tsl_list *l = NULL;
    TT_OK(tsl_store_list_load(other, "x", &l, NULL, NULL));
    unsigned v;
    TT_OK(tsl_list_get(l, 42, &v, NULL));
    TT_EQ_U(v, 1);
    tsl_list_free(l);
    tsl_store_close(other);
    tsl_store_close(f.st);
    f.st = NULL;
    TT_OK(tsl_store_open(f.db, &f.st, NULL));
    TT_OK(tsl_store_list_info(f.st, "x", &info, NULL));
    TT_EQ_U(info.allocated, 100);
    TT_EQ_U(info.version, 1);
    tsl_list_info_free(&info);
    TT_EQ_U(entry(&f, "x", 42), 1);
    uint64_t all[100];
    memcpy(all, idx, sizeof idx);
    memcpy(all + 60, more, sizeof more);
    qsort(all, 100, sizeof *all, cmp_u64);
    for (uint64_t k = 0; k < 100; k++)
        TT_EQ_U(all[k], k);
    fx_close(&f);
}

TT_TEST(store_second_handle_keeps_locks_across_processes)
{
    /* Regression: opening a second handle used to open and close the database file,
     * and closing any descriptor drops every POSIX lock the process holds on the file:
     * the first handle lost the shared lock that WAL mode keeps on the database, so
     * another process could think it was the last user and delete the live WAL.
     * Checked at the lock itself: SQLite's shared-lock range (from 0x40000002, 510
     * bytes) must stay unlockable for writing by another process. */
    fixture f;
    TT_CHECK(fx_open(&f) == 0);
    TT_OK(create(&f, "w", 1, 1000));
    const uint64_t t0[] = {5, 5, 1};
    TT_OK(update(&f, "w", 1, 1000, t0, 1, 0, 0, NULL, NULL));
    tsl_store *second = NULL;
    TT_OK(tsl_store_open(f.db, &second, NULL));
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(f.db, O_RDWR);
        struct flock fl;
        memset(&fl, 0, sizeof fl);
        fl.l_type = F_WRLCK;
        fl.l_whence = SEEK_SET;
        fl.l_start = 0x40000002;
        fl.l_len = 510;
        /* Exit 0 when the lock is refused: the parent still holds its shared lock. */
        _exit(fd >= 0 && fcntl(fd, F_SETLK, &fl) == -1 ? 0 : 1);
    }
    int status = 0;
    TT_CHECK(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status));
    TT_EQ_U(WEXITSTATUS(status), 0);
    tsl_store_close(second);
    fx_close(&f);
}

TT_TEST(store_open_modes)
{
    /* Only TSL_STORE_CREATE makes a store: a mistyped path fails and creates nothing. */
    fixture f;
    TT_CHECK(fx_open(&f) == 0);
    TT_OK(create(&f, "m", 1, 100));
    char path[160];
    tsl_store *st = NULL;
    tsl_error err;
    snprintf(path, sizeof path, "%s/typo.db", f.dir);
    tsl_error_clear(&err);
    TT_ERR(tsl_store_open_mode(path, 0, &st, &err), TSL_ERR_IO);
    TT_CONTAINS(err.msg, path);
    TT_CHECK(access(path, F_OK) != 0);
    TT_ERR(tsl_store_open_mode(path, TSL_STORE_READONLY, &st, NULL), TSL_ERR_IO);
    TT_CHECK(access(path, F_OK) != 0);
    /* An empty file is not a store either, and stays empty. */
    TT_CHECK(tt_write_file(path, "", 0600, 0) == 0);
    tsl_error_clear(&err);
    TT_ERR(tsl_store_open_mode(path, 0, &st, &err), TSL_ERR_IO);
    TT_CONTAINS(err.msg, "empty");
    TT_ERR(tsl_store_open_mode(path, TSL_STORE_READONLY, &st, NULL), TSL_ERR_IO);
    struct stat sb;
    TT_CHECK(stat(path, &sb) == 0 && sb.st_size == 0);
    TT_OK(tsl_store_open_mode(path, TSL_STORE_CREATE, &st, NULL));
    tsl_store_close(st);
    TT_OK(tsl_store_open_mode(path, 0, &st, NULL));
    tsl_store_close(st);
    TT_ERR(tsl_store_open_mode(f.db, TSL_STORE_CREATE | TSL_STORE_READONLY, &st, NULL),
           TSL_ERR_ARG);
    /* Read-only: reads work, every change is refused and changes nothing. */
    TT_OK(tsl_store_open_mode(f.db, TSL_STORE_READONLY, &st, NULL));
    tsl_list_info info;
    TT_OK(tsl_store_list_info(st, "m", &info, NULL));
    tsl_list_info_free(&info);
    tsl_list *l = NULL;
    TT_OK(tsl_store_list_load(st, "m", &l, NULL, NULL));
    tsl_list_free(l);
    uint64_t idx;
    tsl_error_clear(&err);
    TT_ERR(tsl_store_alloc(st, "m", 1, &idx, &err), TSL_ERR_ARG);
    TT_CONTAINS(err.msg, "read-only");
    tsl_list_spec in = settings(&f, "n", 1, 10);
    TT_ERR(tsl_store_list_create(st, &in, NULL), TSL_ERR_ARG);
    TT_ERR(tsl_store_publish(st, "m", 0, 0, -1, NULL), TSL_ERR_ARG);
    tsl_store_close(st);
    TT_OK(tsl_store_list_info(f.st, "m", &info, NULL));
    TT_EQ_U(info.allocated, 0);
    TT_EQ_U(info.last_published, 0);
    tsl_list_info_free(&info);
    TT_ERR(tsl_store_list_info(f.st, "n", &info, NULL), TSL_ERR_NOT_FOUND);
    unlink(path);
    fx_close(&f);
}

TT_TEST(store_damage_is_io)
{
    /* Item: a corrupt store used to give TSL_ERR_MALFORMED (tsl exits 1, "input
     * rejected"); it is the command's own state that is damaged: TSL_ERR_IO (exit 2). */
    fixture f;
    TT_CHECK(fx_open(&f) == 0);
    TT_OK(create(&f, "c", 2, 300000));
    const uint64_t t[] = {1, 1, 1};
    TT_OK(update(&f, "c", 2, 300000, t, 1, 0, 0, NULL, NULL));
    sqlite3 *db;
    TT_CHECK(sqlite3_open(f.db, &db) == SQLITE_OK);
    TT_CHECK(sqlite3_exec(db, "UPDATE lists SET bits = 3 WHERE id = 'c'", NULL, NULL,
                          NULL) == SQLITE_OK);
    tsl_list_info info;
    tsl_error err;
    tsl_error_clear(&err);
    TT_ERR(tsl_store_list_info(f.st, "c", &info, &err), TSL_ERR_IO);
    TT_CONTAINS(err.msg, "inconsistent settings row");
    TT_CHECK(sqlite3_exec(db, "UPDATE lists SET bits = 2 WHERE id = 'c';"
                              "UPDATE chunks SET data = x'00' WHERE list_id = 'c'",
                          NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
    tsl_list *l = NULL;
    tsl_error_clear(&err);
    TT_ERR(tsl_store_list_load(f.st, "c", &l, NULL, &err), TSL_ERR_IO);
    TT_CONTAINS(err.msg, "chunk 0 has 1 bytes");
    /* An update that meets the damaged chunk says so the same way, and changes nothing. */
    tsl_error_clear(&err);
    TT_ERR(update(&f, "c", 2, 300000, t, 1, 0, 0, NULL, &err), TSL_ERR_IO);
    TT_CONTAINS(err.msg, "chunk 0 has the wrong size");
    fx_close(&f);
}

STORE_TEST(store_create_checks_uri_and_paths)
{
    /* Every caller of tsl_store_list_create gets the uri rules (tsl_uri_check) and no
     * two lists on one path, percent-encoding of unreserved characters included. */
    fixture f;
    TT_CHECK(fx_open(&f) == 0);
    static const struct {
        const char *uri;
        tsl_status code;
    } bad[] = {{"https://example.com/a b", TSL_ERR_MALFORMED},
               {"javascript:alert(1)", TSL_ERR_UNSUPPORTED},
               {"/statuslists/1", TSL_ERR_MALFORMED},
               {"https://example.com/healthz", TSL_ERR_UNSUPPORTED},
               {"https://example.com/metrics", TSL_ERR_UNSUPPORTED},
               {"https://example.com/a/../b", TSL_ERR_MALFORMED},
               {"http://example.com/a", TSL_ERR_UNSUPPORTED}};
    tsl_error err;
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        tsl_list_spec in = settings(&f, "u", 1, 10);
        in.uri = bad[k].uri;
        tsl_error_clear(&err);
        TT_ERR(tsl_store_list_create(f.st, &in, &err), bad[k].code);
        TT_CONTAINS(err.msg, "--uri: "); /* tsl_list_spec_check: the CLI's wording */
    }
    char long_uri[TSL_URI_MAX + 2];
    memset(long_uri, 'a', sizeof long_uri - 1);
    memcpy(long_uri, "https://example.com/", 20);
    long_uri[sizeof long_uri - 1] = '\0';
    tsl_list_spec in = settings(&f, "u", 1, 10);
    in.uri = long_uri;
    TT_ERR(tsl_store_list_create(f.st, &in, NULL), TSL_ERR_LIMIT);
    long_uri[TSL_URI_MAX] = '\0';
    TT_OK(tsl_store_list_create(f.st, &in, NULL));
    /* http only when asked for. */
    in = settings(&f, "h", 1, 10);
    in.uri = "http://127.0.0.1:8080/h";
    in.create_flags = TSL_CREATE_ALLOW_HTTP;
    TT_OK(tsl_store_list_create(f.st, &in, NULL));
    in = settings(&f, "h2", 1, 10);
    in.aggregation_uri = "http://127.0.0.1:8080/agg";
    TT_ERR(tsl_store_list_create(f.st, &in, NULL), TSL_ERR_UNSUPPORTED);
    /* Path clashes, whatever the host: /l%41b is /lAb. */
    in = settings(&f, "a", 1, 10);
    in.uri = "https://one.example/l%41b";
    in.aggregation_uri = "https://one.example/agg";
    TT_OK(tsl_store_list_create(f.st, &in, NULL));
    static const struct {
        const char *uri, *agg, *want;
        tsl_status code; /* a path taken by a list is TSL_ERR_EXISTS */
    } clash[] = {
        {"https://two.example/lAb", NULL, "uri path /lAb is already the path of list \"a\"",
         TSL_ERR_EXISTS},
        {"https://two.example/l%41%62", NULL, "already the path of list \"a\"", TSL_ERR_EXISTS},
        {"https://two.example/agg", NULL, "uri path /agg is the aggregation path of list \"a\"",
         TSL_ERR_EXISTS},
        {"https://two.example/ok", "https://one.example/lAb",
         "aggregation_uri path /lAb is the path of list \"a\"", TSL_ERR_EXISTS},
        {"https://two.example/same", "https://two.example/same",
         "uri and aggregation_uri have the same path /same", TSL_ERR_ARG}};
    for (size_t k = 0; k < sizeof clash / sizeof clash[0]; k++) {
        in = settings(&f, "b", 1, 10);
        in.uri = clash[k].uri;
        in.aggregation_uri = clash[k].agg;
        tsl_error_clear(&err);
        TT_ERR(tsl_store_list_create(f.st, &in, &err), clash[k].code);
        TT_CONTAINS(err.msg, clash[k].want);
    }
    /* Sharing an aggregation_uri is what it is for. */
    in = settings(&f, "b", 1, 10);
    in.aggregation_uri = "https://one.example/agg";
    TT_OK(tsl_store_list_create(f.st, &in, NULL));
    char **ids;
    size_t n;
    TT_OK(tsl_store_list_ids(f.st, &ids, &n, NULL));
    TT_EQ_U(n, 4); /* u (long uri), h, a, b */
    tsl_store_ids_free(ids, n);
    fx_close(&f);
}

STORE_TEST(store_create_size_for_verifiers)
{
    /* A list over TSL_INTEROP_MAX_BYTES uncompressed is refused unless asked for, with
     * the verifiers that would refuse it named. */
    fixture f;
    TT_CHECK(fx_open(&f) == 0);
    tsl_error err;
    tsl_error_clear(&err);
    TT_OK(tsl_store_size_check(1, (uint64_t)1 << 27, &err)); /* 16 MiB */
    TT_OK(tsl_store_size_check(8, (uint64_t)1 << 24, &err));
    TT_ERR(tsl_store_size_check(1, ((uint64_t)1 << 27) + 8, &err), TSL_ERR_LIMIT);
    TT_CONTAINS(err.msg, "k2gl/token-status-list (16 MiB)");
    TT_CHECK(strstr(err.msg, "conformance") == NULL);
    tsl_error_clear(&err);
    TT_ERR(tsl_store_size_check(1, (uint64_t)1 << 30, &err), TSL_ERR_LIMIT);
    TT_CONTAINS(err.msg, "134217728 bytes (128.0 MiB) uncompressed");
    TT_CONTAINS(err.msg, "tsl verify (64 MiB");
    TT_CONTAINS(err.msg, "OpenID Foundation conformance suite (32 MiB)");
    tsl_list_spec in = settings(&f, "big", 1, (uint64_t)1 << 30);
    tsl_error_clear(&err);
    TT_ERR(tsl_store_list_create(f.st, &in, &err), TSL_ERR_LIMIT);
    TT_CONTAINS(err.msg, "list \"big\": 1073741824 entries of 1 bit");
    in.create_flags = TSL_CREATE_LARGE;
    TT_OK(tsl_store_list_create(f.st, &in, NULL));
    in = settings(&f, "x", 1, 10);
    in.create_flags = 4;
    TT_ERR(tsl_store_list_create(f.st, &in, NULL), TSL_ERR_ARG);
    fx_close(&f);
}

TT_TEST(store_backend_choice)
{
    fixture f;
    TT_CHECK(fx_open(&f) == 0);
    /* A plain path is an SQLite file. */
    TT_CHECK(f.st->be == &tslp_store_sqlite);
    TT_EQ_STR(f.st->be->name, "sqlite");
    /* A database URL is PostgreSQL's; one with a password is refused before any
     * connection (the password would be on a command line or in the environment),
     * naming where to put it, and never echoed. */
    static const char *const urls[] = {"postgresql://u:s3cret@db.example/tsl",
                                        "postgres://u:s3cret@db.example/tsl",
                                        "postgresql://db.example/tsl?password=s3cret"};
    for (size_t k = 0; k < 3; k++) {
        tsl_store *st = NULL;
        tsl_error err;
        tsl_error_clear(&err);
        TT_ERR(tsl_store_open_mode(urls[k], 0, &st, &err), TSL_ERR_ARG);
        TT_CHECK(st == NULL);
        TT_CONTAINS(err.msg, "the URL holds a password");
        TT_CONTAINS(err.msg, "PGPASSFILE");
        TT_CHECK(strstr(err.msg, "s3cret") == NULL);
        TT_CHECK(strstr(err.msg, "db.example") == NULL);
    }
    fx_close(&f);
}

/* The schema version in meta, read with plain SQLite. */
static long long schema_version(const char *path)
{
    sqlite3 *db;
    long long v = -1;
    sqlite3_stmt *q;
    if (sqlite3_open(path, &db) == SQLITE_OK &&
        sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'schema_version'", -1,
                           &q, NULL) == SQLITE_OK) {
        if (sqlite3_step(q) == SQLITE_ROW)
            v = sqlite3_column_int64(q, 0);
        sqlite3_finalize(q);
    }
    sqlite3_close(db);
    return v;
}

TT_TEST(store_schema_migrates)
{
    fixture f;
    TT_CHECK(fx_open(&f) == 0);
    /* A new store is made at the current version, its migrations recorded. */
    TT_OK(create(&f, "m", 2, 100));
    uint64_t idx[3];
    TT_OK(tsl_store_alloc(f.st, "m", 3, idx, NULL));
    TT_OK(tsl_store_set(f.st, "m", 7, TSL_STATUS_SUSPENDED, 0, NULL));
    TT_OK(tsl_store_set(f.st, "m", 9, TSL_STATUS_INVALID, 0, NULL));
    tsl_store_close(f.st);
    f.st = NULL;
    TT_EQ_U(schema_version(f.db), TSLP_SCHEMA_VERSION);
    /* Take it back to version 1, as the first release wrote it. */
    sqlite3 *db;
    TT_CHECK(sqlite3_open(f.db, &db) == SQLITE_OK);
    TT_CHECK(sqlite3_exec(db, "DROP TABLE migrations; DROP INDEX batches_by_list;"
                              "DROP TABLE apikeys; DROP TABLE idempotency;"
                              "DROP TABLE segments;"
                              "DROP TABLE status_counts;"
                              "ALTER TABLE lists DROP COLUMN id_bytes;"
                              "DELETE FROM tokens WHERE lst IS NOT NULL;"
                              "DROP TABLE token_list_pieces; DROP TABLE token_lists;"
                              "DROP TABLE token_pieces; DROP INDEX tokens_by_lst;"
                              "ALTER TABLE tokens DROP COLUMN lst;"
                              "UPDATE meta SET value = '1' WHERE key = 'schema_version'",
                          NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
    /* A read-only handle reads it as it is. */
    tsl_store *st = NULL;
    tsl_list_info info;
    TT_OK(tsl_store_open_mode(f.db, TSL_STORE_READONLY, &st, NULL));
    TT_OK(tsl_store_list_info(st, "m", &info, NULL));
    TT_EQ_U(info.allocated, 3);
    tsl_list_info_free(&info);
    /* Without the counts table: counted by loading the list. */
    uint64_t counts[256];
    TT_OK(tsl_store_counts(st, "m", counts, NULL, NULL));
    TT_EQ_U(counts[0], 98);
    TT_EQ_U(counts[1], 1);
    TT_EQ_U(counts[2], 1);
    tsl_store_close(st);
    TT_EQ_U(schema_version(f.db), 1);
    /* Opening it for writing migrates it, and it goes on where it was. */
    TT_OK(tsl_store_open_mode(f.db, 0, &st, NULL));
    TT_EQ_U(schema_version(f.db), TSLP_SCHEMA_VERSION);
    uint64_t more;
    TT_OK(tsl_store_alloc(st, "m", 1, &more, NULL));
    TT_CHECK(more != idx[0] && more != idx[1] && more != idx[2]);
    TT_OK(tsl_store_list_info(st, "m", &info, NULL));
    TT_EQ_U(info.allocated, 4);
    tsl_list_info_free(&info);
    /* The migration computed the counts of the lists already there, once. */
    TT_CHECK(counts_match(st, "m"));
    TT_OK(tsl_store_counts(st, "m", counts, NULL, NULL));
    TT_EQ_U(counts[2], 1);
    tsl_store_close(st);
    TT_CHECK(sqlite3_open(f.db, &db) == SQLITE_OK);
    sqlite3_stmt *q;
    TT_CHECK(sqlite3_prepare_v2(db,
                                "SELECT (SELECT group_concat(version) FROM migrations),"
                                " (SELECT count(*) FROM sqlite_master"
                                " WHERE name IN ('batches_by_list', 'apikeys',"
                                " 'idempotency', 'segments', 'status_counts',"
                                " 'token_lists', 'tokens_by_lst', 'token_pieces',"
                                " 'token_list_pieces'))",
                                -1, &q, NULL) == SQLITE_OK);
    TT_CHECK(sqlite3_step(q) == SQLITE_ROW);
    TT_EQ_STR((const char *)sqlite3_column_text(q, 0), "2,3,4,5,6,7");
    TT_EQ_U(sqlite3_column_int64(q, 1), 9);
    sqlite3_finalize(q);
    sqlite3_close(db);
    fx_close(&f);
}

/* ---- the PostgreSQL backend's own behaviour ---- */

/* One value of a query on the store's own connection, or "" (static buffer). */
static const char *pg_value(tsl_store *st, const char *sql)
{
    static char buf[128];
    buf[0] = '\0';
    PGresult *r = PQexec(tslp_pg_conn(st), sql);
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0)
        snprintf(buf, sizeof buf, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    return buf;
}

TT_TEST(store_pg_schema_migrates)
{
    fx_pg = 1;
    fixture f;
    int opened = fx_open(&f);
    fx_pg = 0;
    TT_CHECK(opened == 0);
    TT_EQ_STR(f.st->be->name, "postgresql");
    /* A new store: every migration applied and recorded. */
    TT_EQ_STR(pg_value(f.st, "SELECT string_agg(version::text, ',' ORDER BY version)"
                             " FROM tsl_schema"), "1,2,3,4,5,6,7,8");
    TT_OK(create(&f, "m", 2, 100));
    uint64_t idx[3];
    TT_OK(tsl_store_alloc(f.st, "m", 3, idx, NULL));
    TT_OK(tsl_store_set(f.st, "m", 7, TSL_STATUS_SUSPENDED, 0, NULL));
    TT_OK(tsl_store_set(f.st, "m", 9, TSL_STATUS_INVALID, 0, NULL));
    /* Back to version 1 (tests/fixtures/store-pg-v1.sql is such a store too). */
    PQclear(PQexec(tslp_pg_conn(f.st), "DROP INDEX tsl_batches_by_list;"
                                       "DROP INDEX tsl_tokens_by_exp;"
                                       "DROP TABLE tsl_apikeys; DROP TABLE tsl_idempotency;"
                                       "DROP TABLE tsl_segments;"
                                       "DROP TABLE tsl_status_counts;"
                                       "ALTER TABLE tsl_lists DROP COLUMN id_bytes;"
                                       "DELETE FROM tsl_tokens WHERE lst IS NOT NULL;"
                                       "DROP TABLE tsl_token_list_pieces;"
                                       "DROP TABLE tsl_token_lists;"
                                       "DROP TABLE tsl_token_pieces;"
                                       "ALTER TABLE tsl_tokens DROP COLUMN lst;"
                                       "DELETE FROM tsl_schema WHERE version >= 2"));
    tsl_store_close(f.st);
    f.st = NULL;
    /* A read-only handle reads version 1 as it is; opening for writing migrates. */
    tsl_store *st = NULL;
    TT_OK(tsl_store_open_mode(f.db, TSL_STORE_READONLY, &st, NULL));
    TT_EQ_STR(pg_value(st, "SELECT max(version) FROM tsl_schema"), "1");
    tsl_list_info info;
    TT_OK(tsl_store_list_info(st, "m", &info, NULL));
    TT_EQ_U(info.allocated, 3);
    tsl_list_info_free(&info);
    /* Without the counts table: counted by loading the list. */
    uint64_t counts[256];
    TT_OK(tsl_store_counts(st, "m", counts, NULL, NULL));
    TT_EQ_U(counts[0], 98);
    TT_EQ_U(counts[2], 1);
    /* ... and cannot write. */
    TT_ERR(tsl_store_alloc(st, "m", 1, idx, NULL), TSL_ERR_ARG);
    tsl_store_close(st);
    TT_OK(tsl_store_open_mode(f.db, 0, &f.st, NULL));
    TT_EQ_STR(pg_value(f.st, "SELECT max(version) FROM tsl_schema"), "8");
    /* The migration computed the counts of the lists already there, once. */
    TT_CHECK(counts_match(f.st, "m"));
    TT_EQ_STR(pg_value(f.st, "SELECT n FROM tsl_status_counts WHERE list_id = 'm'"
                             " AND value = 2"), "1");
    TT_EQ_STR(pg_value(f.st, "SELECT count(*) FROM pg_tables WHERE tablename IN"
                             " ('tsl_apikeys', 'tsl_idempotency', 'tsl_segments')"
                             " AND schemaname = current_schema()"), "3");
    TT_EQ_STR(pg_value(f.st, "SELECT count(*) FROM pg_indexes WHERE indexname IN"
                             " ('tsl_batches_by_list', 'tsl_tokens_by_exp')"
                             " AND schemaname = current_schema()"), "2");
    /* A newer schema is refused. */
    PQclear(PQexec(tslp_pg_conn(f.st), "INSERT INTO tsl_schema VALUES (99, 0, 'future')"));
    tsl_error err;
    tsl_error_clear(&err);
    TT_ERR(tsl_store_open_mode(f.db, 0, &st, &err), TSL_ERR_UNSUPPORTED);
    TT_CONTAINS(err.msg, "schema version 99 is newer");
    /* An empty database (schema) is not a store, unless created. */
    char url[512], schema[64];
    TT_CHECK(tt_pg_store(url, sizeof url, schema, sizeof schema) == 0);
    tsl_error_clear(&err);
    TT_ERR(tsl_store_open_mode(url, 0, &st, &err), TSL_ERR_IO);
    TT_CONTAINS(err.msg, "no tsl schema: create it with tsl db migrate");
    /* The database is named host/dbname, never by the URL. */
    TT_CHECK(strstr(err.msg, "postgresql://") == NULL && strstr(err.msg, "search_path") == NULL);
    TT_CONTAINS(err.msg, "/tsl:");
    tt_pg_drop(schema);
    fx_close(&f);
}

typedef struct {
    char ids[16][16];
    int n, resync;
} seen;

static void on_change(void *ctx, const char *id)
{
    seen *s = ctx;
    if (id == NULL)
        s->resync++;
    else if (s->n < 16)
        snprintf(s->ids[s->n++], sizeof s->ids[0], "%s", id);
}

/* Waits until the watcher saw want notifications or about 5 s passed. */
static void wait_for(tsl_store *w, seen *s, int want)
{
    for (int k = 0; k < 50 && s->n < want; k++)
        tslp_store_wait(w, 100, on_change, s, NULL);
}

TT_TEST(store_pg_watch_notifies_each_commit)
{
    fixture f;
    fx_pg = 1;
    int opened = fx_open(&f);
    fx_pg = 0;
    TT_CHECK(opened == 0);
    tsl_store *w = NULL;
    TT_OK(tsl_store_open_mode(f.db, 0, &w, NULL));
    TT_CHECK(tslp_store_can_watch(w));
    TT_OK(tslp_store_watch(w, NULL));
    seen s;
    memset(&s, 0, sizeof s);
    /* A timeout with nothing committed is TSL_OK and reports nothing. */
    TT_OK(tslp_store_wait(w, 50, on_change, &s, NULL));
    TT_EQ_U(s.n, 0);
    TT_OK(create(&f, "a", 1, 1000));
    wait_for(w, &s, 1);
    TT_EQ_U(s.n, 1);
    TT_EQ_STR(s.ids[0], "a");
    uint64_t idx[2];
    TT_OK(tsl_store_alloc(f.st, "a", 2, idx, NULL));
    const uint64_t t[] = {5, 5, 1};
    TT_OK(update(&f, "a", 1, 1000, t, 1, 0, 0, NULL, NULL));
    TT_OK(tsl_store_publish(f.st, "a", 0, 0, -1, NULL));
    wait_for(w, &s, 4);
    TT_EQ_U(s.n, 4);
    /* A refused batch (INVALID is final) and a dry run commit nothing: no notice. */
    const uint64_t back[] = {5, 5, 0};
    TT_ERR(update(&f, "a", 1, 1000, back, 1, 0, 0, NULL, NULL), TSL_ERR_VALUE);
    TT_OK(update(&f, "a", 1, 1000, back, 1, 1, 1, NULL, NULL));
    TT_OK(tslp_store_wait(w, 300, on_change, &s, NULL));
    TT_EQ_U(s.n, 4);
    /* The watcher's connection dropped: TSL_ERR_IO naming host/dbname, then the next
     * call reconnects and says "resync". */
    char sql[200];
    snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%d)", PQbackendPID(tslp_pg_conn(w)));
    TT_EQ_STR(pg_value(f.st, sql), "t");
    tsl_error err;
    tsl_error_clear(&err);
    tsl_status r = TSL_OK;
    for (int k = 0; k < 20 && r == TSL_OK; k++)
        r = tslp_store_wait(w, 100, on_change, &s, &err);
    TT_ERR(r, TSL_ERR_IO);
    TT_CONTAINS(err.msg, "connection lost");
    TT_CHECK(strstr(err.msg, "postgresql://") == NULL);
    TT_OK(tslp_store_wait(w, 100, on_change, &s, NULL));
    TT_EQ_U(s.resync, 1);
    TT_OK(tsl_store_alloc(f.st, "a", 1, idx, NULL));
    wait_for(w, &s, 5);
    TT_EQ_U(s.n, 5);
    TT_EQ_STR(s.ids[4], "a");
    tsl_store_close(w);
    /* SQLite does not push: the publisher polls. */
    fixture g;
    TT_CHECK(fx_open(&g) == 0);
    TT_CHECK(!tslp_store_can_watch(g.st));
    TT_ERR(tslp_store_watch(g.st, NULL), TSL_ERR_UNSUPPORTED);
    fx_close(&g);
    fx_close(&f);
}

TT_TEST(store_pg_publish_lock_and_reconnect)
{
    fixture f;
    fx_pg = 1;
    int opened = fx_open(&f);
    fx_pg = 0;
    TT_CHECK(opened == 0);
    TT_OK(create(&f, "p", 1, 1000));
    /* Another process holds the list's publish lock: nothing signed, and TSL_OK. */
    tsl_store *other = NULL;
    TT_OK(tsl_store_open_mode(f.db, 0, &other, NULL));
    char sql[200];
    snprintf(sql, sizeof sql,
             "SELECT pg_advisory_lock(1953721424,"
             " hashtext(coalesce(current_schema(), '') || '/p'))");
    pg_value(other, sql);
    tsl_publish_result res;
    TT_OK(tsl_store_publish_ex(f.st, "p", 0, 1000000, -1, &res, NULL));
    TT_EQ_U(res.busy, 1);
    TT_EQ_U(res.recorded, 0);
    TT_ERR(tsl_store_token(f.st, "p", TSL_FORMAT_JWT, 0, (uint8_t **)&(uint8_t *){NULL},
                           &(size_t){0}, NULL, NULL, NULL),
           TSL_ERR_NOT_FOUND);
    /* A holder that dies (its connection ends) frees it, once the server has seen the
     * end of its session. */
    tsl_store_close(other);
    res.busy = 1;
    for (int k = 0; k < 50 && res.busy; k++) {
        usleep(k > 0 ? 50000 : 0);
        TT_OK(tsl_store_publish_ex(f.st, "p", 0, 1000000, -1, &res, NULL));
    }
    TT_EQ_U(res.busy, 0);
    TT_EQ_U(res.recorded, TSL_PUBLISH_JWT | TSL_PUBLISH_CWT);
    /* A second publisher of the same version right after: not signed again. */
    TT_OK(tsl_store_publish_ex(f.st, "p", 0, 1000001, -1, &res, NULL));
    TT_EQ_U(res.recorded, 0);
    TT_EQ_U(res.fresh, TSL_PUBLISH_JWT | TSL_PUBLISH_CWT);
    TT_EQ_U(res.skipped, TSL_PUBLISH_JWT | TSL_PUBLISH_CWT);
    /* Later (a re-sign before exp), or after a change: signed. */
    TT_OK(tsl_store_publish_ex(f.st, "p", TSL_PUBLISH_JWT, 1050000, -1, &res, NULL));
    TT_EQ_U(res.recorded, TSL_PUBLISH_JWT);
    const uint64_t t[] = {9, 9, 1};
    TT_OK(update(&f, "p", 1, 1000, t, 1, 0, 0, NULL, NULL));
    TT_OK(tsl_store_publish_ex(f.st, "p", 0, 1050001, -1, &res, NULL));
    TT_EQ_U(res.recorded, TSL_PUBLISH_JWT | TSL_PUBLISH_CWT);
    TT_EQ_U(res.version, 1);
    /* The store's connection dropped: the call fails with TSL_ERR_IO, and the next one
     * reconnects (PQreset on begin). */
    tsl_store *killer = NULL;
    TT_OK(tsl_store_open_mode(f.db, 0, &killer, NULL));
    snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%d)",
             PQbackendPID(tslp_pg_conn(f.st)));
    TT_EQ_STR(pg_value(killer, sql), "t");
    tsl_store_close(killer);
    usleep(100000);
    uint64_t idx[1];
    tsl_error err;
    tsl_error_clear(&err);
    TT_ERR(tsl_store_alloc(f.st, "p", 1, idx, &err), TSL_ERR_IO);
    TT_CHECK(strstr(err.msg, "postgresql://") == NULL);
    TT_OK(tsl_store_alloc(f.st, "p", 1, idx, NULL));
    tsl_list_info info;
    TT_OK(tsl_store_list_info(f.st, "p", &info, NULL));
    TT_EQ_U(info.allocated, 1);
    tsl_list_info_free(&info);
    /* Calls that run outside a transaction (list ids, a list's info) reconnect too: the
     * first notices the drop, the next works, as a publisher holding its handle across
     * a server restart needs. */
    TT_OK(tsl_store_open_mode(f.db, 0, &killer, NULL));
    snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%d)",
             PQbackendPID(tslp_pg_conn(f.st)));
    TT_EQ_STR(pg_value(killer, sql), "t");
    tsl_store_close(killer);
    usleep(100000);
    TT_ERR(tsl_store_list_info(f.st, "p", &info, NULL), TSL_ERR_IO);
    char **ids = NULL;
    size_t nids = 0;
    TT_OK(tsl_store_list_ids(f.st, &ids, &nids, NULL));
    TT_EQ_U(nids, 1);
    tsl_store_ids_free(ids, nids);
    TT_OK(tsl_store_list_info(f.st, "p", &info, NULL));
    tsl_list_info_free(&info);
    fx_close(&f);
}

TT_TEST(crypto_seam_aes_and_random)
{
    /* FIPS-197 appendix C.1: AES-128. The permutation's round function is this
     * block, so a provider behind the seam must give exactly these bytes. */
    static const uint8_t key[16] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
                                    0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f};
    static const uint8_t pt[16] = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
                                   0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};
    static const uint8_t ct[16] = {0x69, 0xc4, 0xe0, 0xd8, 0x6a, 0x7b, 0x04, 0x30,
                                   0xd8, 0xcd, 0xb7, 0x80, 0x70, 0xb4, 0xc5, 0x5a};
    tslp_aes128 *aes = NULL;
    TT_OK(tslp_aes128_new(key, &aes, NULL));
    uint8_t out[16];
    TT_CHECK(tslp_aes128_block(aes, pt, out));
    TT_EQ_MEM(out, ct, 16);
    /* The context is reused block after block. */
    TT_CHECK(tslp_aes128_block(aes, pt, out));
    TT_EQ_MEM(out, ct, 16);
    tslp_aes128_free(aes);
    uint8_t a[32], b[32];
    memset(a, 0, sizeof a);
    memset(b, 0, sizeof b);
    TT_OK(tslp_random_bytes(a, sizeof a, NULL));
    TT_OK(tslp_random_bytes(b, sizeof b, NULL));
    TT_CHECK(memcmp(a, b, sizeof a) != 0);
    tslp_cleanse(a, sizeof a);
    static const uint8_t zero[32];
    TT_EQ_MEM(a, zero, sizeof a);
}

/* ---- status counts (store/counts.c) ---- */

/* 1 when the counts the store keeps for list id equal a full recount of the list. */
static int counts_match(tsl_store *st, const char *id)
{
    uint64_t kept[256], real[256], v1 = 0, v2 = 0;
    tsl_list *l = NULL;
    tsl_error err;
    tsl_error_clear(&err);
    if (tsl_store_counts(st, id, kept, &v1, &err) != TSL_OK ||
        tsl_store_list_load(st, id, &l, &v2, &err) != TSL_OK) {
        fprintf(stderr, "  counts %s: %s\n", id, err.msg);
        tsl_list_free(l);
        return 0;
    }
    tsl_list_count(l, real);
    tsl_list_free(l);
    for (unsigned v = 0; v < 256; v++)
        if (kept[v] != real[v]) {
            fprintf(stderr, "  counts %s: status %u kept %llu, recount %llu\n", id, v,
                    (unsigned long long)kept[v], (unsigned long long)real[v]);
            return 0;
        }
    return v1 == v2;
}

static uint64_t rnd_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Random sequences of every kind of write, on both backends: after each, the kept
 * counts equal a recount. Updates of single entries, ranges across chunks and whole
 * lists (both the in-order and the normalised paths), forced and refused changes of
 * INVALID entries, dry runs, sets, allocations, issuer API groups (tsl_store_apply)
 * where one op fails and is rolled back to its savepoint, lists created with decoys,
 * and a copy of the store. */
STORE_TEST(store_counts_random_ops)
{
    fixture f;
    TT_CHECK(fx_open(&f) == 0);
    static const unsigned bits[] = {1, 2, 8};
    static const char *ids[] = {"c1", "c2", "c8"};
    /* Over two chunks of 65536 bytes each, so ranges cross chunk boundaries. */
    static const uint64_t sizes[] = {1100000, 300000, 140000};
    for (int k = 0; k < 3; k++) {
        tsl_list_spec in = settings(&f, ids[k], bits[k], sizes[k]);
        in.decoys = 1000 + 37 * (uint64_t)k;
        if (bits[k] > 1)
            in.decoy_value = TSL_STATUS_SUSPENDED;
        TT_OK(tsl_store_list_create(f.st, &in, NULL));
        TT_CHECK(counts_match(f.st, ids[k]));
    }
    uint64_t seed = 0x9E3779B97F4A7C15ull;
    for (int round = 0; round < 60; round++) {
        int k = (int)(rnd_next(&seed) % 3);
        const char *id = ids[k];
        uint64_t size = sizes[k];
        unsigned maxv = (1u << bits[k]) - 1;
        int kind = (int)(rnd_next(&seed) % 6);
        tsl_batch *b = NULL;
        TT_OK(tsl_batch_new(bits[k], size, &b, NULL));
        size_t lines = kind == 1 ? 3 : 1 + (size_t)(rnd_next(&seed) % 40);
        for (size_t j = 0; j < lines; j++) {
            uint64_t first = rnd_next(&seed) % size;
            uint64_t len = kind == 1 ? size / 2 : rnd_next(&seed) % 3 == 0 ? 1 + rnd_next(&seed) % 70000 : 1;
            uint64_t last = first + len - 1 < size ? first + len - 1 : size - 1;
            unsigned v = (unsigned)(rnd_next(&seed) % (maxv + 1));
            if (v == 3 && bits[k] == 2)
                v = 2;
            TT_OK(tsl_batch_add(b, first, last, v, j + 1, NULL));
        }
        int force = (int)(rnd_next(&seed) % 2);
        tsl_status r = TSL_OK;
        if (kind <= 2) {
            /* An update; refused (nothing changes) when it would change INVALID. */
            r = tsl_store_update(f.st, id, b, force, 0, "t", NULL, NULL);
            TT_CHECK(r == TSL_OK || r == TSL_ERR_VALUE);
        } else if (kind == 3) {
            TT_OK(tsl_store_update(f.st, id, b, 1, 1, "dry", NULL, NULL));
        } else if (kind == 4) {
            uint64_t idx = rnd_next(&seed) % size;
            r = tsl_store_set(f.st, id, idx, (unsigned)(rnd_next(&seed) % 2), 1, NULL);
            TT_OK(r);
            uint64_t got[5];
            r = tsl_store_alloc(f.st, id, 5, got, NULL);
            TT_CHECK(r == TSL_OK || r == TSL_ERR_LIMIT);
        } else {
            /* A group: an update, one that fails (index past the end of another
             * list's batch: refused inside its savepoint), an allocation. */
            tsl_batch *bad = NULL;
            TT_OK(tsl_batch_new(bits[(k + 1) % 3], sizes[(k + 1) % 3], &bad, NULL));
            TT_OK(tsl_batch_add(bad, 0, sizes[(k + 1) % 3] - 1, 1, 1, NULL));
            tsl_store_op ops[3];
            memset(ops, 0, sizeof ops);
            ops[0].kind = TSL_OP_UPDATE;
            ops[0].list_id = id;
            ops[0].batch = b;
            ops[0].force = 1;
            ops[1].kind = TSL_OP_UPDATE;
            ops[1].list_id = ids[(k + 1) % 3];
            ops[1].batch = bad;
            ops[1].force = 0; /* refused if that list has an INVALID entry anywhere */
            ops[2].kind = TSL_OP_ALLOC;
            ops[2].list_id = id;
            ops[2].count = 3;
            TT_OK(tsl_store_apply(f.st, ops, 3, 0, NULL));
            TT_OK(ops[0].status);
            tsl_free(ops[2].indices);
            tsl_batch_free(bad);
            TT_CHECK(counts_match(f.st, ids[(k + 1) % 3]));
        }
        tsl_batch_free(b);
        if (!counts_match(f.st, id)) {
            tt_failf(__FILE__, __LINE__, "round %d, kind %d: counts differ", round, kind);
            break;
        }
    }
    /* A copy to a new SQLite store keeps them (copy.c writes them with the chunks). */
    char dst_path[600];
    snprintf(dst_path, sizeof dst_path, "%s/copy.db", f.dir);
    tsl_store *dst = NULL;
    TT_OK(tsl_store_open_mode(dst_path, TSL_STORE_CREATE, &dst, NULL));
    TT_OK(tsl_store_copy(f.st, dst, NULL, NULL));
    for (int k = 0; k < 3; k++) {
        TT_CHECK(counts_match(dst, ids[k]));
        TT_CHECK(counts_match(f.st, ids[k]));
    }
    tsl_store_close(dst);
    fx_close(&f);
}
