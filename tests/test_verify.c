/* test_verify.c - the relying party's check (tsl_verifier_*): JWT Referenced Tokens
 * signed here, Status List Tokens served from memory by a fetch callback that counts
 * its calls: cache hits make no call, ttl clamping, sub mismatch, Content-Type checks,
 * the time window, index bounds, status values, offline tokens and the disk cache. */
#include "crypto.h"
#include "tt.h"

#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#define URI "https://example.com/statuslists/1"
#define NOW 1700000000

/* What the fake server answers, and what it was asked. */
typedef struct {
    int calls;
    const uint8_t *body;
    size_t len;
    const char *ct;
    char url[600];
    char accept[200];
} fake;

static tsl_status fake_fetch(void *ctx, const char *url, const char *accept, uint8_t **body,
                             size_t *len, char **content_type, tsl_error *err)
{
    fake *f = ctx;
    f->calls++;
    snprintf(f->url, sizeof f->url, "%s", url);
    snprintf(f->accept, sizeof f->accept, "%s", accept);
    if (f->body == NULL) {
        if (err != NULL && err->code == TSL_OK) {
            err->code = TSL_ERR_IO;
            snprintf(err->msg, sizeof err->msg, "fetch: HTTP status 404");
        }
        return TSL_ERR_IO;
    }
    *body = malloc(f->len + 1);
    memcpy(*body, f->body, f->len);
    *len = f->len;
    *content_type = strdup(f->ct);
    return TSL_OK;
}

/* base64url of a NUL-terminated string, appended to out. */
static void b64_append(char *out, size_t cap, const void *p, size_t n)
{
    char *e = NULL;
    if (tsl_b64url_encode(p, n, &e, NULL, NULL) == TSL_OK)
        strncat(out, e, cap - strlen(out) - 1);
    tsl_free(e);
}

/* A JWT Referenced Token signed with key (kid "k1"). */
static char *make_rt(const tsl_key *key, const char *uri, uint64_t idx, int64_t exp)
{
    static char tok[4096];
    char payload[1024];
    const char *hdr = "{\"alg\":\"ES256\",\"kid\":\"k1\",\"typ\":\"JWT\"}";
    snprintf(payload, sizeof payload,
             "{\"iss\":\"https://example.com\",\"iat\":%d,\"exp\":%lld,"
             "\"status\":{\"status_list\":{\"idx\":%llu,\"uri\":\"%s\"}}}",
             NOW - 100, (long long)exp, (unsigned long long)idx, uri);
    tok[0] = '\0';
    b64_append(tok, sizeof tok, hdr, strlen(hdr));
    strcat(tok, ".");
    b64_append(tok, sizeof tok, payload, strlen(payload));
    uint8_t *sig = NULL;
    size_t sl = 0;
    if (tslp_sign(key, TSL_ALG_ES256, (const uint8_t *)tok, strlen(tok), &sig, &sl, NULL) !=
        TSL_OK)
        return NULL;
    strcat(tok, ".");
    b64_append(tok, sizeof tok, sig, sl);
    tslp_free(sig);
    return tok;
}

/* A Status List Token of a 2-bit list whose entries 0..3 are 0, 1, 2, 3. */
static uint8_t *make_lt(const tsl_key *key, tsl_format fmt, const char *sub, int64_t iat,
                        int64_t exp, int64_t ttl, size_t *len)
{
    tsl_list *l = NULL;
    if (tsl_list_new(2, 16, &l, NULL) != TSL_OK)
        return NULL;
    for (unsigned i = 0; i < 4; i++)
        tsl_list_set(l, i, i);
    tsl_token_params p;
    memset(&p, 0, sizeof p);
    p.format = fmt;
    p.sub = sub;
    p.iat = iat;
    p.exp = exp;
    p.ttl = ttl;
    uint8_t *out = NULL;
    tsl_status st = tsl_token_sign(l, &p, key, &out, len, NULL);
    tsl_list_free(l);
    return st == TSL_OK ? out : NULL;
}

typedef struct {
    tsl_key *key;
    tsl_keyset *keys;
    fake f;
    tsl_verifier_opts o;
} fixture;

static int setup(fixture *x)
{
    memset(x, 0, sizeof *x);
    if (tsl_key_generate(TSL_ALG_ES256, &x->key, NULL) != TSL_OK ||
        tsl_key_set_kid(x->key, "k1", NULL) != TSL_OK || tsl_keyset_new(&x->keys, NULL) != TSL_OK ||
        tsl_keyset_add(x->keys, x->key, NULL) != TSL_OK)
        return 0;
    x->o.keys = x->keys;
    x->o.fetch = fake_fetch;
    x->o.fetch_ctx = &x->f;
    return 1;
}

static void teardown(fixture *x)
{
    tsl_keyset_free(x->keys);
    tsl_key_free(x->key);
}

static tsl_status check(tsl_verifier *v, const char *rt, int64_t now, int64_t at,
                        tsl_check_result *r)
{
    tsl_error err;
    tsl_error_clear(&err);
    return tsl_verifier_check(v, (const uint8_t *)rt, strlen(rt), now, at, r, &err);
}

TT_TEST(verify_fetch_then_cache_hit)
{
    fixture x;
    TT_CHECK(setup(&x));
    size_t ll;
    uint8_t *lt = make_lt(x.key, TSL_FORMAT_JWT, URI, NOW - 10, NOW + 3600, 300, &ll);
    TT_CHECK(lt != NULL);
    x.f.body = lt;
    x.f.len = ll;
    x.f.ct = "application/statuslist+jwt";
    tsl_verifier *v = NULL;
    TT_OK(tsl_verifier_new(&x.o, &v, NULL));
    tsl_check_result r;
    char *rt = make_rt(x.key, URI, 1, NOW + 1000);
    TT_CHECK(rt != NULL);
    TT_OK(check(v, rt, NOW, 0, &r));
    TT_EQ_U(r.value, 1);
    TT_EQ_U(r.determined, 1);
    TT_EQ_U(r.fetched, 1);
    TT_EQ_U(r.kind, TSL_REF_JWT);
    TT_EQ_STR(r.uri, URI);
    TT_EQ_U(x.f.calls, 1);
    TT_EQ_STR(x.f.url, URI);
    TT_EQ_STR(x.f.accept, "application/statuslist+jwt, application/statuslist+cwt;q=0.9");
    /* a second check within ttl: no call */
    rt = make_rt(x.key, URI, 2, NOW + 1000);
    TT_OK(check(v, rt, NOW + 100, 0, &r));
    TT_EQ_U(r.value, 2);
    TT_EQ_U(r.from_cache, 1);
    TT_EQ_U(r.fetched, 0);
    TT_EQ_U(x.f.calls, 1);
    /* past ttl: fetched again */
    TT_OK(check(v, rt, NOW + 301, 0, &r));
    TT_EQ_U(x.f.calls, 2);
    TT_EQ_U(r.fetched, 1);
    tsl_verifier_free(v);
    tsl_free(lt);
    teardown(&x);
}

TT_TEST(verify_status_values_and_bounds)
{
    fixture x;
    TT_CHECK(setup(&x));
    size_t ll;
    uint8_t *lt = make_lt(x.key, TSL_FORMAT_CWT, URI, NOW - 10, NOW + 3600, 300, &ll);
    TT_CHECK(lt != NULL);
    x.f.body = lt;
    x.f.len = ll;
    x.f.ct = "Application/StatusList+CWT; charset=binary";
    tsl_verifier *v = NULL;
    TT_OK(tsl_verifier_new(&x.o, &v, NULL));
    tsl_check_result r;
    for (unsigned i = 0; i < 5; i++) {
        TT_OK(check(v, make_rt(x.key, URI, i, NOW + 1000), NOW, 0, &r));
        TT_EQ_U(r.value, i < 4 ? i : 0);
    }
    TT_EQ_U(x.f.calls, 1);
    TT_ERR(check(v, make_rt(x.key, URI, 16, NOW + 1000), NOW, 0, &r), TSL_ERR_INDEX);
    TT_EQ_U(r.determined, 0);
    TT_ERR(check(v, make_rt(x.key, URI, 1000000, NOW + 1000), NOW, 0, &r), TSL_ERR_INDEX);
    tsl_verifier_free(v);
    tsl_free(lt);
    teardown(&x);
}

TT_TEST(verify_ttl_clamped)
{
    fixture x;
    TT_CHECK(setup(&x));
    size_t ll;
    /* ttl 5 is raised to min_cache 60 */
    uint8_t *lt = make_lt(x.key, TSL_FORMAT_JWT, URI, NOW - 10, NOW + 86400, 5, &ll);
    TT_CHECK(lt != NULL);
    x.f.body = lt;
    x.f.len = ll;
    x.f.ct = "application/statuslist+jwt";
    tsl_verifier *v = NULL;
    TT_OK(tsl_verifier_new(&x.o, &v, NULL));
    tsl_check_result r;
    const char *rt = make_rt(x.key, URI, 0, NOW + 100000);
    TT_OK(check(v, rt, NOW, 0, &r));
    TT_OK(check(v, rt, NOW + 30, 0, &r));
    TT_EQ_U(x.f.calls, 1);
    TT_OK(check(v, rt, NOW + 60, 0, &r));
    TT_EQ_U(x.f.calls, 2);
    tsl_verifier_free(v);
    tsl_free(lt);

    /* ttl 100000 is cut to max_cache 100; without ttl, exp - now (cut to max_cache) */
    lt = make_lt(x.key, TSL_FORMAT_JWT, URI, NOW - 10, NOW + 200000, 100000, &ll);
    x.f.body = lt;
    x.f.len = ll;
    x.f.calls = 0;
    x.o.max_cache = 100;
    TT_OK(tsl_verifier_new(&x.o, &v, NULL));
    TT_OK(check(v, rt, NOW, 0, &r));
    TT_OK(check(v, rt, NOW + 99, 0, &r));
    TT_EQ_U(x.f.calls, 1);
    TT_OK(check(v, rt, NOW + 100, 0, &r));
    TT_EQ_U(x.f.calls, 2);
    tsl_verifier_free(v);
    tsl_free(lt);

    /* never past exp, even with a long ttl */
    lt = make_lt(x.key, TSL_FORMAT_JWT, URI, NOW - 10, NOW + 50, 1000, &ll);
    x.f.body = lt;
    x.f.len = ll;
    x.f.calls = 0;
    x.o.max_cache = 0;
    TT_OK(tsl_verifier_new(&x.o, &v, NULL));
    TT_OK(check(v, rt, NOW, 0, &r));
    TT_OK(check(v, rt, NOW + 49, 0, &r));
    TT_EQ_U(x.f.calls, 1);
    TT_ERR(check(v, rt, NOW + 51, 0, &r), TSL_ERR_EXPIRED); /* refetched: expired */
    TT_EQ_U(x.f.calls, 2);
    tsl_verifier_free(v);
    tsl_free(lt);
    teardown(&x);
}

TT_TEST(verify_sub_mismatch_and_content_type)
{
    fixture x;
    TT_CHECK(setup(&x));
    size_t ll;
    uint8_t *lt =
        make_lt(x.key, TSL_FORMAT_JWT, "https://example.com/statuslists/2", NOW - 10,
                NOW + 3600, 300, &ll);
    TT_CHECK(lt != NULL);
    x.f.body = lt;
    x.f.len = ll;
    x.f.ct = "application/statuslist+jwt";
    tsl_verifier *v = NULL;
    TT_OK(tsl_verifier_new(&x.o, &v, NULL));
    tsl_check_result r;
    const char *rt = make_rt(x.key, URI, 0, NOW + 1000);
    TT_ERR(check(v, rt, NOW, 0, &r), TSL_ERR_CLAIM);
    TT_EQ_U(r.determined, 0);
    /* a failed token is not cached */
    TT_ERR(check(v, rt, NOW, 0, &r), TSL_ERR_CLAIM);
    TT_EQ_U(x.f.calls, 2);
    tsl_free(lt);

    lt = make_lt(x.key, TSL_FORMAT_JWT, URI, NOW - 10, NOW + 3600, 300, &ll);
    x.f.body = lt;
    x.f.len = ll;
    x.f.ct = "application/json";
    TT_ERR(check(v, rt, NOW, 0, &r), TSL_ERR_UNSUPPORTED);
    x.f.ct = "application/statuslist+cwt";
    TT_ERR(check(v, rt, NOW, 0, &r), TSL_ERR_MALFORMED);
    x.f.ct = "application/statuslist+jwt";
    TT_OK(check(v, rt, NOW, 0, &r));
    /* a fetch failure is reported as such */
    tsl_verifier_free(v);
    TT_OK(tsl_verifier_new(&x.o, &v, NULL));
    x.f.body = NULL;
    TT_ERR(check(v, rt, NOW, 0, &r), TSL_ERR_IO);
    TT_EQ_U(r.fetched, 1);
    tsl_verifier_free(v);
    tsl_free(lt);
    teardown(&x);
}

TT_TEST(verify_time_window)
{
    fixture x;
    TT_CHECK(setup(&x));
    size_t ll;
    uint8_t *lt = make_lt(x.key, TSL_FORMAT_JWT, URI "?v=1", NOW - 1000, NOW + 1000, 0, &ll);
    TT_CHECK(lt != NULL);
    x.f.body = lt;
    x.f.len = ll;
    x.f.ct = "application/statuslist+jwt";
    tsl_verifier *v = NULL;
    TT_OK(tsl_verifier_new(&x.o, &v, NULL));
    tsl_check_result r;
    const char *rt = make_rt(x.key, URI "?v=1", 1, NOW + 5000);
    TT_OK(check(v, rt, NOW, NOW - 500, &r));
    TT_EQ_STR(x.f.url, URI "?v=1&time=1699999500");
    TT_EQ_U(r.value, 1);
    TT_ERR(check(v, rt, NOW, NOW - 1001, &r), TSL_ERR_EXPIRED);
    TT_EQ_STR(x.f.url, URI "?v=1&time=1699998999");
    TT_ERR(check(v, rt, NOW, NOW + 1001, &r), TSL_ERR_EXPIRED);
    tsl_free(lt);
    /* without exp, a time cannot be answered */
    tsl_verifier_free(v);
    lt = make_lt(x.key, TSL_FORMAT_JWT, URI "?v=1", NOW - 1000, 0, 0, &ll);
    x.f.body = lt;
    x.f.len = ll;
    TT_OK(tsl_verifier_new(&x.o, &v, NULL));
    TT_ERR(check(v, rt, NOW, NOW - 500, &r), TSL_ERR_CLAIM);
    tsl_verifier_free(v);
    tsl_free(lt);
    teardown(&x);
}

TT_TEST(verify_offline_and_invalid_rt)
{
    fixture x;
    TT_CHECK(setup(&x));
    size_t ll;
    uint8_t *lt = make_lt(x.key, TSL_FORMAT_CWT, URI, NOW - 10, NOW + 3600, 300, &ll);
    TT_CHECK(lt != NULL);
    tsl_verifier *v = NULL;
    TT_OK(tsl_verifier_new(&x.o, &v, NULL));
    TT_OK(tsl_verifier_add_list_token(v, lt, ll, NULL));
    tsl_check_result r;
    TT_OK(check(v, make_rt(x.key, URI, 3, NOW + 1000), NOW, 0, &r));
    TT_EQ_U(r.value, 3);
    TT_EQ_U(r.fetched, 0);
    TT_EQ_U(r.from_cache, 0);
    TT_EQ_U(x.f.calls, 0);
    /* an expired Referenced Token is rejected before anything is looked up */
    TT_CHECK(check(v, make_rt(x.key, URI, 3, NOW - 1), NOW, 0, &r) != TSL_OK);
    TT_EQ_U(r.kind, 0);
    /* a tampered one too */
    char *rt = make_rt(x.key, URI, 3, NOW + 1000);
    rt[strlen(rt) - 3] = rt[strlen(rt) - 3] == 'A' ? 'B' : 'A';
    TT_CHECK(check(v, rt, NOW, 0, &r) != TSL_OK);
    TT_EQ_U(r.kind, 0);
    /* an untrusted key: the list token fails, status undetermined */
    tsl_key *other = NULL;
    tsl_keyset *ks = NULL;
    TT_OK(tsl_key_generate(TSL_ALG_ES256, &other, NULL));
    uint8_t *lt2 = make_lt(other, TSL_FORMAT_JWT, "https://example.com/x", NOW - 10,
                           NOW + 3600, 300, &ll);
    TT_OK(tsl_verifier_add_list_token(v, lt2, ll, NULL));
    tsl_status st = check(v, make_rt(x.key, "https://example.com/x", 0, NOW + 100), NOW, 0, &r);
    TT_CHECK(st == TSL_ERR_SIGNATURE || st == TSL_ERR_KEY);
    TT_EQ_U(r.kind, TSL_REF_JWT);
    TT_EQ_U(x.f.calls, 0);
    tsl_free(lt2);
    tsl_key_free(other);
    tsl_keyset_free(ks);
    tsl_verifier_free(v);
    tsl_free(lt);
    teardown(&x);
}

TT_TEST(verify_disk_cache)
{
    fixture x;
    TT_CHECK(setup(&x));
    char dir[] = "/tmp/tsl-vcache-XXXXXX";
    TT_CHECK(mkdtemp(dir) != NULL);
    size_t ll;
    uint8_t *lt = make_lt(x.key, TSL_FORMAT_JWT, URI, NOW - 10, NOW + 3600, 300, &ll);
    TT_CHECK(lt != NULL);
    x.f.body = lt;
    x.f.len = ll;
    x.f.ct = "application/statuslist+jwt";
    x.o.cache_dir = dir;
    tsl_verifier *v = NULL;
    TT_OK(tsl_verifier_new(&x.o, &v, NULL));
    tsl_check_result r;
    const char *rt = make_rt(x.key, URI, 1, NOW + 1000);
    TT_OK(check(v, rt, NOW, 0, &r));
    TT_EQ_U(x.f.calls, 1);
    tsl_verifier_free(v);
    /* a new verifier finds it on disk */
    TT_OK(tsl_verifier_new(&x.o, &v, NULL));
    TT_OK(check(v, rt, NOW + 10, 0, &r));
    TT_EQ_U(r.from_cache, 1);
    TT_EQ_U(x.f.calls, 1);
    tsl_verifier_free(v);
    /* past ttl it is fetched again */
    TT_OK(tsl_verifier_new(&x.o, &v, NULL));
    TT_OK(check(v, rt, NOW + 400, 0, &r));
    TT_EQ_U(x.f.calls, 2);
    tsl_verifier_free(v);
    /* the file is re-verified on load: with other keys it is not used */
    tsl_keyset *ks = NULL;
    tsl_key *other = NULL;
    TT_OK(tsl_keyset_new(&ks, NULL));
    TT_OK(tsl_key_generate(TSL_ALG_ES256, &other, NULL));
    TT_OK(tsl_key_set_kid(other, "k1", NULL));
    TT_OK(tsl_keyset_add(ks, other, NULL));
    x.o.keys = ks;
    TT_OK(tsl_verifier_new(&x.o, &v, NULL));
    x.f.body = NULL; /* a fetch would fail */
    TT_ERR(check(v, make_rt(other, URI, 1, NOW + 1000), NOW + 410, 0, &r), TSL_ERR_IO);
    TT_EQ_U(r.from_cache, 0);
    TT_EQ_U(x.f.calls, 3);
    tsl_verifier_free(v);
    tsl_keyset_free(ks);
    tsl_key_free(other);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    TT_CHECK(system(cmd) == 0);
    tsl_free(lt);
    teardown(&x);
}

/* Several threads on one verifier: every check answers, and the cache serves most. */
typedef struct {
    tsl_verifier *v;
    const char *rt;
    int ok;
} worker;

static void *work(void *p)
{
    worker *w = p;
    for (int i = 0; i < 200; i++) {
        tsl_check_result r;
        if (check(w->v, w->rt, NOW, 0, &r) == TSL_OK && r.value == 2)
            w->ok++;
    }
    return NULL;
}

TT_TEST(verify_threads)
{
    fixture x;
    TT_CHECK(setup(&x));
    size_t ll;
    uint8_t *lt = make_lt(x.key, TSL_FORMAT_JWT, URI, NOW - 10, NOW + 3600, 300, &ll);
    TT_CHECK(lt != NULL);
    x.f.body = lt;
    x.f.len = ll;
    x.f.ct = "application/statuslist+jwt";
    tsl_verifier *v = NULL;
    TT_OK(tsl_verifier_new(&x.o, &v, NULL));
    char rt[4096];
    snprintf(rt, sizeof rt, "%s", make_rt(x.key, URI, 2, NOW + 1000));
    /* warm the cache first, so the fake server (not thread-safe) is called once */
    tsl_check_result r;
    TT_OK(check(v, rt, NOW, 0, &r));
    worker w[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        w[i].v = v;
        w[i].rt = rt;
        w[i].ok = 0;
        TT_CHECK(pthread_create(&th[i], NULL, work, &w[i]) == 0);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < 4; i++)
        TT_EQ_U(w[i].ok, 200);
    TT_EQ_U(x.f.calls, 1);
    tsl_verifier_free(v);
    tsl_free(lt);
    teardown(&x);
}

/* Reads "cose_sign1_tagged_hex" of a spec vector file into bytes. */
static uint8_t *vector_bytes(const char *path, size_t *len)
{
    json_t *v = tt_load_json(path);
    const char *hex = json_string_value(json_object_get(v, "cose_sign1_tagged_hex"));
    uint8_t *out = hex != NULL ? tt_unhex(hex, len) : NULL;
    json_decref(v);
    return out;
}

/* The spec's CWT Referenced Token, its list token fetched: CWT is asked for first. */
TT_TEST(verify_spec_cwt_fetch)
{
    size_t rl = 0, ll = 0;
    uint8_t *rt = vector_bytes("testvectors/sec6_3_referenced_token_cwt.json", &rl);
    uint8_t *lt = vector_bytes("testvectors/sec5_2_status_list_token_cwt.json", &ll);
    TT_CHECK(rt != NULL && lt != NULL);
    tsl_keyset *ks = NULL;
    TT_OK(tsl_keyset_new(&ks, NULL));
    TT_OK(tsl_keyset_load(ks, "testvectors/keys/example_es256_kid12.public.pem", NULL));
    fake f;
    memset(&f, 0, sizeof f);
    f.body = lt;
    f.len = ll;
    f.ct = "application/statuslist+cwt";
    tsl_verifier_opts o;
    memset(&o, 0, sizeof o);
    o.keys = ks;
    o.fetch = fake_fetch;
    o.fetch_ctx = &f;
    tsl_verifier *v = NULL;
    TT_OK(tsl_verifier_new(&o, &v, NULL));
    tsl_check_result r;
    tsl_error err;
    tsl_error_clear(&err);
    TT_OK(tsl_verifier_check(v, rt, rl, NOW, 0, &r, &err));
    TT_EQ_U(r.kind, TSL_REF_CWT);
    TT_EQ_U(r.idx, 0);
    TT_EQ_U(r.value, TSL_STATUS_INVALID);
    TT_EQ_STR(f.url, "https://example.com/statuslists/1");
    TT_EQ_STR(f.accept, "application/statuslist+cwt, application/statuslist+jwt;q=0.9");
    tsl_verifier_free(v);
    /* a body over max_body from a callback that does not bound it */
    o.max_body = ll - 1;
    TT_OK(tsl_verifier_new(&o, &v, NULL));
    tsl_error_clear(&err);
    TT_ERR(tsl_verifier_check(v, rt, rl, NOW, 0, &r, &err), TSL_ERR_LIMIT);
    tsl_verifier_free(v);
    tsl_keyset_free(ks);
    free(rt);
    free(lt);
}
