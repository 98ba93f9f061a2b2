/* test_copy.c - tsl_store_copy() (src/store/copy.c): between two SQLite files, without a
 * server, every setting, status, counter, recorded token and audit row arrives; the
 * copy goes on allocating exactly where the source would (so it never hands out an
 * index the source handed out); a publish on the copy does not take the copied tokens
 * for newer statuses; a destination holding one of the ids or paths is refused whole
 * and left as it was; bad handles are refused. Then the same round trip through a
 * fresh schema of the PostgreSQL test server (TSL_TEST_PG, as test_store.c's variants);
 * tests/pg_copy.sh runs it with the CLI. */
#include "tt.h"
#include "store/backend.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    char dir[64];
    char key[96];
    char src_path[96];
    tsl_store *src;
    uint64_t handed[40]; /* indices allocated from "a" before the copy */
} cfx;

static int cfx_step(const char *what, tsl_status st, const tsl_error *err)
{
    if (st != TSL_OK)
        fprintf(stderr, "test_copy: %s: %s\n", what, err->msg);
    return st == TSL_OK ? 0 : -1;
}

static int write_key(const char *path)
{
    tsl_key *k = NULL;
    char *pem = NULL;
    if (tsl_key_generate(TSL_ALG_ES256, &k, NULL) != TSL_OK ||
        tsl_key_to_private(k, &pem, NULL) != TSL_OK) {
        tsl_key_free(k);
        return -1;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    int ok = f != NULL && fputs(pem, f) >= 0;
    if (f != NULL && fclose(f) != 0)
        ok = 0;
    tsl_free(pem);
    tsl_key_free(k);
    return ok ? 0 : -1;
}

/* A source store with two lists and some history: "a" (2 bits, decoys, every optional
 * setting, allocations, updates, three publishes) and "b" (1 bit, untouched). */
static int cfx_open(cfx *f)
{
    tsl_error err;
    tsl_error_clear(&err);
    memset(f, 0, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/tsl-copy-XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->key, sizeof f->key, "%s/key.pem", f->dir);
    snprintf(f->src_path, sizeof f->src_path, "%s/src.db", f->dir);
    if (write_key(f->key) != 0 ||
        cfx_step("open", tsl_store_open(f->src_path, &f->src, &err), &err) != 0)
        return -1;
    tsl_list_spec in;
    memset(&in, 0, sizeof in);
    in.id = "a";
    in.uri = "https://example.com/s/a";
    in.bits = 2;
    in.size = 200000; /* 50,000 bytes: chunk 0 only, the last one short */
    in.key_path = f->key;
    in.kid = "kid-a";
    in.lifetime = 3600;
    in.ttl = 300;
    in.formats = TSL_PUBLISH_JWT | TSL_PUBLISH_CWT;
    in.decoys = 30;
    in.decoy_value = TSL_STATUS_SUSPENDED;
    in.final_invalid = -1;
    in.aggregation_uri = "https://example.com/s/all";
    if (cfx_step("create a", tsl_store_list_create(f->src, &in, &err), &err) != 0)
        return -1;
    memset(&in, 0, sizeof in);
    in.id = "b";
    in.uri = "https://example.com/s/b";
    in.bits = 1;
    in.size = 1u << 20; /* two chunks */
    in.key_path = f->key;
    in.formats = TSL_PUBLISH_JWT;
    if (cfx_step("create b", tsl_store_list_create(f->src, &in, &err), &err) != 0 ||
        cfx_step("alloc", tsl_store_alloc(f->src, "a", 40, f->handed, &err), &err) != 0)
        return -1;
    tsl_batch *b = NULL;
    if (cfx_step("batch", tsl_batch_new(2, 200000, &b, &err), &err) != 0)
        return -1;
    int bad = 0;
    for (size_t k = 0; k < 20 && !bad; k++)
        bad = tsl_batch_add(b, f->handed[k], f->handed[k], 1 + k % 3, 0, &err) != TSL_OK;
    bad = bad || cfx_step("update", tsl_store_update(f->src, "a", b, 0, 0, "file.txt", NULL,
                                                     &err), &err) != 0;
    tsl_batch_free(b);
    /* Three publishes at distinct times: a history of six tokens for "a". */
    for (int64_t t = 1700000000; t < 1700000003 && !bad; t++)
        bad = cfx_step("publish", tsl_store_publish(f->src, "a", 0, t, -1, &err),
                       &err) != 0;
    return bad ? -1 : 0;
}

static void cfx_close(cfx *f)
{
    tsl_store_close(f->src);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "test_copy: could not remove %s\n", f->dir);
}

static tsl_store *open_new(const cfx *f, const char *name)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", f->dir, name);
    tsl_store *st = NULL;
    return tsl_store_open(path, &st, NULL) == TSL_OK ? st : NULL;
}

static int same_str(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* The audit rows of a list as text, one per line, through the backend (no public call
 * reads the trail). */
typedef struct {
    char text[4096];
    size_t len;
    size_t rows;
} audit_text;

static tsl_status add_audit(void *ctx, int64_t time, uint64_t entries, uint64_t changed,
                            const char *source, const char *kind, tsl_error *err)
{
    (void)err;
    audit_text *t = ctx;
    int n = snprintf(t->text + t->len, sizeof t->text - t->len, "%lld %llu %llu %s %s\n",
                     (long long)time, (unsigned long long)entries,
                     (unsigned long long)changed, source != NULL ? source : "-", kind);
    if (n > 0 && (size_t)n < sizeof t->text - t->len)
        t->len += (size_t)n;
    t->rows++;
    return TSL_OK;
}

/* Every token of a list as text: format, iat, exp, version, created, bytes (as
 * recorded: with a cut-out list, the row's bytes, the digest and the list's). */
static tsl_status add_token(void *ctx, tsl_format format, int64_t iat, int64_t exp,
                            uint64_t version, const tslp_token_row *row, int64_t created,
                            tsl_error *err)
{
    (void)err;
    audit_text *t = ctx;
    const uint8_t *token = row->bytes;
    size_t len = row->len;
    int n = snprintf(t->text + t->len, sizeof t->text - t->len,
                     "%d %lld %lld %llu %lld %zu ", (int)format, (long long)iat,
                     (long long)exp, (unsigned long long)version, (long long)created, len);
    if (n > 0 && (size_t)n < sizeof t->text - t->len)
        t->len += (size_t)n;
    /* A checksum of the bytes keeps the text short; equal bytes are also compared
     * through tsl_store_token below. */
    uint64_t h = 1469598103934665603ull;
    for (size_t k = 0; k < len; k++)
        h = (h ^ token[k]) * 1099511628211ull;
    for (size_t k = 0; row->lst != NULL && k < TSLP_TOKEN_DIGEST; k++)
        h = (h ^ row->lst[k]) * 1099511628211ull;
    for (size_t k = 0; row->lst != NULL && k < row->body_len; k++)
        h = (h ^ row->body[k]) * 1099511628211ull;
    n = snprintf(t->text + t->len, sizeof t->text - t->len, "%016llx\n",
                 (unsigned long long)h);
    if (n > 0 && (size_t)n < sizeof t->text - t->len)
        t->len += (size_t)n;
    t->rows++;
    return TSL_OK;
}

static int same_trails(tsl_store *x, tsl_store *y, const char *id)
{
    audit_text *t = calloc(4, sizeof *t);
    int same = 0;
    if (t != NULL && x->be->audit_each(x, id, add_audit, &t[0], NULL) == TSL_OK &&
        y->be->audit_each(y, id, add_audit, &t[1], NULL) == TSL_OK &&
        x->be->tokens_each(x, id, add_token, &t[2], NULL) == TSL_OK &&
        y->be->tokens_each(y, id, add_token, &t[3], NULL) == TSL_OK) {
        same = t[0].rows > 0 && t[0].len == t[1].len &&
               memcmp(t[0].text, t[1].text, t[0].len) == 0 && t[2].len == t[3].len &&
               memcmp(t[2].text, t[3].text, t[2].len) == 0;
        if (!same)
            fprintf(stderr, "test_copy: %s differs:\n%s---\n%s===\n%s---\n%s", id,
                    t[0].text, t[1].text, t[2].text, t[3].text);
    }
    free(t);
    return same;
}

/* Checks that list id reads the same from x and from y: settings, counters, statuses,
 * the newest token of each form and the trails. */
static int same_list(tsl_store *x, tsl_store *y, const char *id)
{
    tsl_list_info a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    int same = tsl_store_list_info(x, id, &a, NULL) == TSL_OK &&
               tsl_store_list_info(y, id, &b, NULL) == TSL_OK;
    same = same && same_str(a.id, b.id) && same_str(a.uri, b.uri) && a.bits == b.bits &&
           a.size == b.size && same_str(a.key_path, b.key_path) && a.alg == b.alg &&
           same_str(a.kid, b.kid) && same_str(a.x5c_path, b.x5c_path) &&
           a.lifetime == b.lifetime && a.ttl == b.ttl && a.formats == b.formats &&
           a.decoys == b.decoys && a.decoy_value == b.decoy_value &&
           a.final_invalid == b.final_invalid &&
           same_str(a.aggregation_uri, b.aggregation_uri) && a.created == b.created &&
           a.updated == b.updated && a.allocated == b.allocated &&
           a.capacity == b.capacity && a.last_published == b.last_published &&
           a.version == b.version;
    tsl_list_info_free(&a);
    tsl_list_info_free(&b);
    tsl_list *la = NULL, *lb = NULL;
    uint64_t va = 0, vb = 1;
    same = same && tsl_store_list_load(x, id, &la, &va, NULL) == TSL_OK &&
           tsl_store_list_load(y, id, &lb, &vb, NULL) == TSL_OK && va == vb &&
           la->nbytes == lb->nbytes && memcmp(la->data, lb->data, la->nbytes) == 0 &&
           same_str(la->aggregation_uri, lb->aggregation_uri);
    tsl_list_free(la);
    tsl_list_free(lb);
    for (int form = 0; same && form < 2; form++) {
        tsl_format fmt = form ? TSL_FORMAT_CWT : TSL_FORMAT_JWT;
        uint8_t *ta = NULL, *tb = NULL;
        size_t na = 0, nb = 0;
        tsl_status ra = tsl_store_token(x, id, fmt, 0, &ta, &na, NULL, NULL, NULL);
        tsl_status rb = tsl_store_token(y, id, fmt, 0, &tb, &nb, NULL, NULL, NULL);
        same = ra == rb && na == nb && (na == 0 || memcmp(ta, tb, na) == 0);
        tsl_free(ta);
        tsl_free(tb);
    }
    return same && same_trails(x, y, id);
}

TT_TEST(copy_sqlite_to_sqlite_is_whole)
{
    cfx f;
    TT_CHECK(cfx_open(&f) == 0);
    tsl_store *dst = open_new(&f, "dst.db");
    TT_CHECK(dst != NULL);
    tsl_error err;
    tsl_error_clear(&err);
    tsl_copy_result res;
    TT_OK(tsl_store_copy(f.src, dst, &res, &err));
    TT_EQ_U(res.lists, 2);
    TT_EQ_U(res.tokens, 6);  /* a: three publishes of two forms; b: none */
    TT_EQ_U(res.audit, 7);   /* a: create, alloc, update, 3 publishes; b: create */
    TT_CHECK(same_list(f.src, dst, "a"));
    TT_CHECK(same_list(f.src, dst, "b"));
    char **ids = NULL;
    size_t n = 0;
    TT_OK(tsl_store_list_ids(dst, &ids, &n, &err));
    TT_EQ_U(n, 2);
    tsl_store_ids_free(ids, n);
    /* The history came along: the token of an earlier time is the same one. */
    uint8_t *t1 = NULL, *t2 = NULL;
    size_t n1 = 0, n2 = 0;
    TT_OK(tsl_store_token(f.src, "a", TSL_FORMAT_CWT, 1700000001, &t1, &n1, NULL, NULL,
                          &err));
    TT_OK(tsl_store_token(dst, "a", TSL_FORMAT_CWT, 1700000001, &t2, &n2, NULL, NULL,
                          &err));
    int same = n1 == n2 && memcmp(t1, t2, n1) == 0;
    tsl_free(t1);
    tsl_free(t2);
    TT_CHECK(same);
    /* Allocation goes on where the source would: the same next indices from both, and
     * none of them one handed out before the copy. */
    uint64_t from_src[25], from_dst[25];
    TT_OK(tsl_store_alloc(f.src, "a", 25, from_src, &err));
    TT_OK(tsl_store_alloc(dst, "a", 25, from_dst, &err));
    for (size_t k = 0; k < 25; k++) {
        TT_EQ_U(from_dst[k], from_src[k]);
        for (size_t j = 0; j < 40; j++)
            TT_CHECK(from_dst[k] != f.handed[j]);
    }
    /* A publish on the copy signs the copied version as the next token, not an older
     * one (the version came along with the history). */
    tsl_publish_result pr;
    TT_OK(tsl_store_publish_ex(dst, "a", 0, 1700000010, -1, &pr, &err));
    TT_EQ_U(pr.recorded, TSL_PUBLISH_JWT | TSL_PUBLISH_CWT);
    tsl_list_info info;
    TT_OK(tsl_store_list_info(f.src, "a", &info, &err));
    TT_EQ_U(pr.version, info.version);
    tsl_list_info_free(&info);
    tsl_store_close(dst);
    cfx_close(&f);
}

TT_TEST(copy_refuses_a_destination_with_a_list)
{
    cfx f;
    TT_CHECK(cfx_open(&f) == 0);
    tsl_error err;
    tsl_error_clear(&err);
    /* The same id. */
    tsl_store *dst = open_new(&f, "dst.db");
    TT_CHECK(dst != NULL);
    tsl_list_spec in;
    memset(&in, 0, sizeof in);
    in.id = "b";
    in.uri = "https://example.com/other/b";
    in.bits = 1;
    in.size = 100;
    in.key_path = f.key;
    TT_OK(tsl_store_list_create(dst, &in, &err));
    tsl_copy_result res;
    TT_ERR(tsl_store_copy(f.src, dst, &res, &err), TSL_ERR_EXISTS);
    TT_CHECK(strstr(err.msg, "\"b\"") != NULL);
    TT_EQ_U(res.lists, 0);
    /* Nothing of "a" (copied first, before "b" was refused) is left. */
    tsl_list_info info;
    TT_ERR(tsl_store_list_info(dst, "a", &info, NULL), TSL_ERR_NOT_FOUND);
    tsl_store_close(dst);
    /* Another id on a copied list's path (b's): "a" was restored before b's clash is
     * found, and the rollback takes it away again. */
    dst = open_new(&f, "dst2.db");
    TT_CHECK(dst != NULL);
    in.id = "z";
    in.uri = "https://other.example/s/b";
    TT_OK(tsl_store_list_create(dst, &in, &err));
    tsl_error_clear(&err);
    TT_ERR(tsl_store_copy(f.src, dst, NULL, &err), TSL_ERR_EXISTS);
    TT_CHECK(strstr(err.msg, "/s/b") != NULL && strstr(err.msg, "\"z\"") != NULL);
    TT_ERR(tsl_store_list_info(dst, "a", &info, NULL), TSL_ERR_NOT_FOUND);
    char **ids = NULL;
    size_t n = 0;
    TT_OK(tsl_store_list_ids(dst, &ids, &n, &err));
    TT_EQ_U(n, 1);
    tsl_store_ids_free(ids, n);
    /* A destination with other lists on other paths takes the copy beside them. */
    tsl_store_close(dst);
    dst = open_new(&f, "dst3.db");
    TT_CHECK(dst != NULL);
    in.uri = "https://example.com/s/z";
    TT_OK(tsl_store_list_create(dst, &in, &err));
    TT_OK(tsl_store_copy(f.src, dst, &res, &err));
    TT_EQ_U(res.lists, 2);
    TT_OK(tsl_store_list_ids(dst, &ids, &n, &err));
    TT_EQ_U(n, 3);
    tsl_store_ids_free(ids, n);
    tsl_store_close(dst);
    cfx_close(&f);
}

TT_TEST(copy_refuses_bad_handles)
{
    cfx f;
    TT_CHECK(cfx_open(&f) == 0);
    tsl_error err;
    tsl_error_clear(&err);
    TT_ERR(tsl_store_copy(f.src, f.src, NULL, &err), TSL_ERR_ARG);
    tsl_error_clear(&err);
    TT_ERR(tsl_store_copy(NULL, f.src, NULL, &err), TSL_ERR_ARG);
    /* A read-only destination: nothing written. */
    char path[128];
    snprintf(path, sizeof path, "%s/ro.db", f.dir);
    tsl_store *ro = NULL;
    TT_OK(tsl_store_open(path, &ro, &err));
    tsl_store_close(ro);
    TT_OK(tsl_store_open_mode(path, TSL_STORE_READONLY, &ro, &err));
    tsl_error_clear(&err);
    TT_ERR(tsl_store_copy(f.src, ro, NULL, &err), TSL_ERR_ARG);
    tsl_store_close(ro);
    /* A read-only source is enough: the copy only reads it. */
    tsl_store *src_ro = NULL, *dst = open_new(&f, "dst.db");
    TT_CHECK(dst != NULL);
    TT_OK(tsl_store_open_mode(f.src_path, TSL_STORE_READONLY, &src_ro, &err));
    tsl_copy_result res;
    TT_OK(tsl_store_copy(src_ro, dst, &res, &err));
    TT_EQ_U(res.lists, 2);
    tsl_store_close(src_ro);
    tsl_store_close(dst);
    cfx_close(&f);
}

/* The same round trip through PostgreSQL (a fresh schema of the test server,
 * TSL_TEST_PG): SQLite -> PostgreSQL -> SQLite, each copy reading as the source. */
TT_TEST(copy_sqlite_to_postgresql_and_back)
{
    cfx f;
    TT_CHECK(cfx_open(&f) == 0);
    char url[1024], schema[64] = "";
    tsl_store *pg = NULL, *back = open_new(&f, "back.db");
    tsl_error err;
    tsl_error_clear(&err);
    tsl_status r = back == NULL ? TSL_ERR_IO : TSL_OK;
    if (r == TSL_OK && tt_pg_store(url, sizeof url, schema, sizeof schema) != 0)
        r = tslp_fail(&err, TSL_ERR_IO, 0, "no PostgreSQL test server");
    if (r == TSL_OK)
        r = tsl_store_open(url, &pg, &err);
    tsl_copy_result res1 = {0, 0, 0, 0}, res2 = {0, 0, 0, 0};
    if (r == TSL_OK)
        r = tsl_store_copy(f.src, pg, &res1, &err);
    if (r == TSL_OK)
        r = tsl_store_copy(pg, back, &res2, &err);
    if (r != TSL_OK)
        fprintf(stderr, "test_copy: %s\n", err.msg);
    int same = r == TSL_OK && res1.lists == 2 && res1.tokens == 6 && res1.audit == 7 &&
               res2.lists == res1.lists && res2.tokens == res1.tokens &&
               res2.audit == res1.audit && same_list(f.src, pg, "a") &&
               same_list(f.src, pg, "b") && same_list(f.src, back, "a") &&
               same_list(f.src, back, "b");
    /* PostgreSQL goes on allocating where SQLite would. */
    uint64_t from_src[10], from_pg[10];
    if (same && tsl_store_alloc(f.src, "a", 10, from_src, &err) == TSL_OK &&
        tsl_store_alloc(pg, "a", 10, from_pg, &err) == TSL_OK)
        same = memcmp(from_src, from_pg, sizeof from_src) == 0;
    else
        same = 0;
    /* And refuses a second copy whole. */
    tsl_error_clear(&err);
    if (same)
        same = tsl_store_copy(f.src, pg, NULL, &err) == TSL_ERR_EXISTS;
    tsl_store_close(pg);
    tsl_store_close(back);
    tt_pg_drop(schema);
    cfx_close(&f);
    TT_CHECK(same);
}
