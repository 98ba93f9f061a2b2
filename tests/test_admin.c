/* test_admin.c - the issuer API (tsl_admin) driven through tsl_admin_answer() and
 * tsl_admin_precheck() without HTTP, on SQLite and PostgreSQL (STORE_TEST): every
 * endpoint, every problem class with its status and type, nothing changed by a refusal,
 * idempotent replays, INVALID final, dry runs, a 10^6-change body, group commit under
 * concurrent requests, rate limits, a dropped database connection, publish-and-wait
 * against a real publisher, and metrics that never show a key. The body parsers are
 * tested on their own too (admin_int.h). */
#include "store_fx.h"
#include "admin/admin_int.h"

#include <libpq-fe.h>
#include <netinet/in.h>
#include <pthread.h>
#include <time.h>

typedef struct {
    sfx f;
    tsl_admin *a;
    char secret[TSL_APIKEY_SECRET_SIZE]; /* a key for every list, every scope */
    tsl_apikey_info key;
    char auth[TSL_APIKEY_SECRET_SIZE + 16];
    char db[600]; /* the store the admin opened */
} afx;

static int afx_open_opts(afx *x, tsl_admin_options *o)
{
    memset(x, 0, sizeof *x);
    if (sfx_open(&x->f) != 0 || sfx_list(&x->f, "a", 2, 1000) != TSL_OK ||
        sfx_list(&x->f, "b", 1, 100) != TSL_OK)
        return -1;
    tsl_error err;
    tsl_error_clear(&err);
    if (tsl_apikey_create(x->f.st, NULL, TSL_SCOPE_ALL, 0, &x->key, x->secret, &err) !=
        TSL_OK) {
        fprintf(stderr, "  apikey: %s\n", err.msg);
        return -1;
    }
    snprintf(x->auth, sizeof x->auth, "Bearer %s", x->secret);
    snprintf(x->db, sizeof x->db, "%s", x->f.db);
    if (sfx_pg) /* named, so that a test can drop the admin's connections */
        snprintf(x->db, sizeof x->db, "%s&application_name=tsladmin%ld", x->f.db,
                 (long)getpid());
    o->db_path = x->db;
    if (tsl_admin_open(o, &x->a, &err) != TSL_OK) {
        fprintf(stderr, "  admin: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static int afx_open(afx *x)
{
    tsl_admin_options o;
    memset(&o, 0, sizeof o);
    return afx_open_opts(x, &o);
}

static void afx_close(afx *x)
{
    tsl_admin_close(x->a);
    x->a = NULL;
    sfx_close(&x->f);
}

/* One request with auth (NULL: none) and a body (NUL-terminated text or NULL). */
static void call(afx *x, const char *auth, const char *method, const char *path,
                 const char *query, const char *ctype, const char *idem, const char *body,
                 tsl_admin_response *out)
{
    tsl_admin_request rq;
    memset(&rq, 0, sizeof rq);
    rq.method = method;
    rq.path = path;
    rq.query = query;
    rq.authorization = auth;
    rq.content_type = ctype;
    rq.idempotency_key = idem;
    rq.body = (const uint8_t *)body;
    rq.body_len = body != NULL ? strlen(body) : 0;
    tsl_admin_answer(x->a, &rq, 0, out);
}

/* With the fixture's key. */
static void req(afx *x, const char *method, const char *path, const char *query,
                const char *ctype, const char *idem, const char *body,
                tsl_admin_response *out)
{
    call(x, x->auth, method, path, query, ctype, idem, body, out);
}

/* The answer's JSON (NULL if it is not JSON). */
static json_t *js(const tsl_admin_response *r)
{
    return r->body != NULL ? json_loadb(r->body, r->body_len, 0, NULL) : NULL;
}

static const char *header(const tsl_admin_response *r, const char *name)
{
    for (size_t k = 0; k < r->nheaders; k++)
        if (strcasecmp(r->headers[k].name, name) == 0)
            return r->headers[k].value;
    return NULL;
}

/* 1 when r is a problem of status and class, with Cache-Control: no-store, and a body
 * that holds no secret. */
static int is_problem(const tsl_admin_response *r, unsigned status, const char *cls,
                      const char *secret)
{
    json_t *j = js(r);
    char type[96];
    snprintf(type, sizeof type, "urn:tsl:problem:%s", cls);
    int ok = r->status == status && j != NULL &&
             strcmp(r->content_type, "application/problem+json") == 0 &&
             json_is_string(json_object_get(j, "type")) &&
             strcmp(json_string_value(json_object_get(j, "type")), type) == 0 &&
             json_integer_value(json_object_get(j, "status")) == (json_int_t)status &&
             json_is_string(json_object_get(j, "title")) &&
             json_is_string(json_object_get(j, "detail")) &&
             header(r, "Cache-Control") != NULL &&
             strcmp(header(r, "Cache-Control"), "no-store") == 0 &&
             (secret == NULL || memmem(r->body, r->body_len, secret, strlen(secret)) == NULL);
    if (!ok)
        fprintf(stderr, "  expected %u %s, got %u: %.*s\n", status, cls, r->status,
                (int)(r->body_len < 400 ? r->body_len : 400), r->body ? r->body : "");
    json_decref(j);
    return ok;
}

static json_int_t jint(const tsl_admin_response *r, const char *member)
{
    json_t *j = js(r);
    json_int_t v = j != NULL ? json_integer_value(json_object_get(j, member)) : -1;
    json_decref(j);
    return v;
}

/* The version and allocation counter of list id, read from the store. */
static void state_of(afx *x, const char *id, uint64_t *version, uint64_t *allocated)
{
    tsl_list_info in;
    memset(&in, 0, sizeof in);
    *version = *allocated = UINT64_MAX;
    if (tsl_store_list_info(x->f.st, id, &in, NULL) == TSL_OK) {
        *version = in.version;
        *allocated = in.allocated;
    }
    tsl_list_info_free(&in);
}

static unsigned status_of(afx *x, const char *id, uint64_t idx)
{
    unsigned v = 99;
    tsl_store_statuses(x->f.st, id, &idx, 1, &v, NULL, NULL);
    return v;
}

static uint64_t metric(tsl_admin *a, const char *name)
{
    char *text = NULL;
    if (tsl_admin_metrics_text(a, &text, NULL) != TSL_OK)
        return UINT64_MAX;
    char pat[128];
    snprintf(pat, sizeof pat, "\n%s ", name);
    const char *p = strstr(text, pat);
    uint64_t v = p != NULL ? strtoull(p + strlen(pat), NULL, 10) : UINT64_MAX;
    tsl_free(text);
    return v;
}

/* ---------------------------------------------------------------------------------- */

STORE_TEST(admin_lists_and_info)
{
    afx x;
    TT_CHECK(afx_open(&x) == 0);
    tsl_admin_response r;
    /* Create a list: 201, Location, INFO without the key path. */
    char body[1024];
    snprintf(body, sizeof body,
             "{\"id\":\"c\",\"uri\":\"https://example.com/statuslists/c\",\"bits\":2,"
             "\"size\":4096,\"key\":\"%s\",\"ttl\":300,\"formats\":\"jwt\",\"decoys\":10}",
             x.f.key);
    req(&x, "POST", "/v1/lists", NULL, "application/json", NULL, body, &r);
    TT_EQ_U(r.status, 201);
    TT_EQ_STR(header(&r, "Location"), "/v1/lists/c");
    TT_EQ_STR(header(&r, "Cache-Control"), "no-store");
    TT_EQ_STR(r.content_type, "application/json");
    TT_CHECK(memmem(r.body, r.body_len, x.f.key, strlen(x.f.key)) == NULL);
    json_t *j = js(&r);
    TT_CHECK(j != NULL);
    TT_EQ_STR(json_string_value(json_object_get(j, "id")), "c");
    TT_EQ_U(json_integer_value(json_object_get(j, "size")), 4096);
    TT_EQ_U(json_integer_value(json_object_get(j, "ttl")), 300);
    TT_EQ_U(json_integer_value(json_object_get(j, "decoys")), 10);
    TT_EQ_U(json_integer_value(json_object_get(j, "capacity")), 4086);
    TT_EQ_U(json_integer_value(json_object_get(j, "free")), 4086);
    TT_EQ_U(json_integer_value(json_object_get(json_object_get(j, "counts"), "INVALID")), 10);
    TT_EQ_U(json_integer_value(json_object_get(json_object_get(j, "counts"), "VALID")), 4086);
    TT_CHECK(json_is_null(json_object_get(j, "last_published")));
    TT_CHECK(json_is_null(json_object_get(j, "next_expiry")));
    TT_CHECK(json_object_get(j, "key") == NULL);
    json_decref(j);
    tsl_admin_response_free(&r);
    /* The same id again: 409 conflict; a bad setting: 400 invalid-value. */
    req(&x, "POST", "/v1/lists", NULL, "application/json", NULL, body, &r);
    TT_CHECK(is_problem(&r, 409, "conflict", x.secret));
    tsl_admin_response_free(&r);
    req(&x, "POST", "/v1/lists", NULL, "application/json", NULL,
        "{\"id\":\"d\",\"uri\":\"ftp://x/y\",\"bits\":3,\"size\":10,\"key\":\"/nope\"}", &r);
    TT_CHECK(is_problem(&r, 400, "invalid-value", x.secret));
    tsl_admin_response_free(&r);
    req(&x, "POST", "/v1/lists", NULL, "application/json", NULL,
        "{\"id\":\"d\",\"uri\":\"https://example.com/d\",\"bits\":1,\"size\":10,"
        "\"key\":\"/nope\",\"colour\":1}", &r);
    TT_CHECK(is_problem(&r, 400, "malformed", x.secret));
    tsl_admin_response_free(&r);
    /* GET /v1/lists: three lists; a key for list b sees b only. */
    req(&x, "GET", "/v1/lists", NULL, NULL, NULL, NULL, &r);
    TT_EQ_U(r.status, 200);
    j = js(&r);
    TT_EQ_U(json_array_size(json_object_get(j, "lists")), 3);
    json_decref(j);
    tsl_admin_response_free(&r);
    char sb[TSL_APIKEY_SECRET_SIZE], ab[96];
    TT_OK(tsl_apikey_create(x.f.st, "b", TSL_SCOPE_READ, 0, NULL, sb, NULL));
    snprintf(ab, sizeof ab, "Bearer %s", sb);
    call(&x, ab, "GET", "/v1/lists", NULL, NULL, NULL, NULL, &r);
    TT_EQ_U(r.status, 200);
    j = js(&r);
    TT_EQ_U(json_array_size(json_object_get(j, "lists")), 1);
    TT_EQ_STR(json_string_value(json_object_get(json_array_get(json_object_get(j, "lists"), 0),
                                                "id")), "b");
    json_decref(j);
    tsl_admin_response_free(&r);
    call(&x, ab, "GET", "/v1/lists/a", NULL, NULL, NULL, NULL, &r);
    TT_CHECK(is_problem(&r, 403, "forbidden", sb));
    tsl_admin_response_free(&r);
    /* Only an all-lists key with the create scope creates. */
    call(&x, ab, "POST", "/v1/lists", NULL, "application/json", NULL, body, &r);
    TT_CHECK(is_problem(&r, 403, "forbidden", sb));
    tsl_admin_response_free(&r);
    req(&x, "GET", "/v1/lists/zz", NULL, NULL, NULL, NULL, &r);
    TT_CHECK(is_problem(&r, 404, "not-found", x.secret));
    tsl_admin_response_free(&r);
    req(&x, "GET", "/v1/lists/a", NULL, NULL, NULL, NULL, &r);
    TT_EQ_U(r.status, 200);
    TT_EQ_U(jint(&r, "bits"), 2);
    TT_EQ_U(jint(&r, "allocated"), 0);
    tsl_admin_response_free(&r);
    /* openapi and healthz need no key. */
    call(&x, NULL, "GET", "/v1/openapi.json", NULL, NULL, NULL, NULL, &r);
    TT_EQ_U(r.status, 200);
    j = js(&r);
    TT_CHECK(json_is_string(json_object_get(j, "openapi")));
    json_decref(j);
    tsl_admin_response_free(&r);
    call(&x, NULL, "GET", "/v1/healthz", NULL, NULL, NULL, NULL, &r);
    TT_EQ_U(r.status, 200);
    tsl_admin_response_free(&r);
    afx_close(&x);
}

STORE_TEST(admin_alloc_idempotent)
{
    afx x;
    TT_CHECK(afx_open(&x) == 0);
    tsl_admin_response r, r2;
    req(&x, "POST", "/v1/lists/a/allocations", NULL, "application/json", "k-1",
        "{\"count\":10}", &r);
    TT_EQ_U(r.status, 201);
    TT_CHECK(header(&r, "Idempotent-Replayed") == NULL);
    TT_EQ_STR(r.key_id, x.key.id);
    json_t *j = js(&r);
    json_t *e = json_object_get(j, "entries");
    TT_EQ_U(json_array_size(e), 10);
    TT_EQ_STR(json_string_value(json_object_get(j, "list")), "a");
    uint64_t seen[10];
    for (size_t k = 0; k < 10; k++) {
        json_t *it = json_array_get(e, k);
        TT_CHECK(json_is_integer(json_object_get(it, "idx")));
        seen[k] = (uint64_t)json_integer_value(json_object_get(it, "idx"));
        TT_CHECK(seen[k] < 1000);
        for (size_t i = 0; i < k; i++)
            TT_CHECK(seen[i] != seen[k]);
        TT_EQ_STR(json_string_value(json_object_get(it, "uri")),
                  "https://example.com/statuslists/a");
    }
    json_decref(j);
    uint64_t v0, a0;
    state_of(&x, "a", &v0, &a0);
    TT_EQ_U(a0, 10);
    /* The retry: 200, the same body, nothing allocated. */
    req(&x, "POST", "/v1/lists/a/allocations", NULL, "application/json", "k-1",
        "{\"count\":10}", &r2);
    TT_EQ_U(r2.status, 200);
    TT_EQ_STR(header(&r2, "Idempotent-Replayed"), "true");
    TT_EQ_U(r2.body_len, r.body_len);
    TT_CHECK(memcmp(r.body, r2.body, r.body_len) == 0);
    tsl_admin_response_free(&r2);
    uint64_t v1, a1;
    state_of(&x, "a", &v1, &a1);
    TT_EQ_U(a1, 10);
    /* Another body with the key: 422; another list: 422; no key: 400. */
    req(&x, "POST", "/v1/lists/a/allocations", NULL, "application/json", "k-1",
        "{\"count\":11}", &r2);
    TT_CHECK(is_problem(&r2, 422, "idempotency-key-reused", x.secret));
    tsl_admin_response_free(&r2);
    req(&x, "POST", "/v1/lists/b/allocations", NULL, "application/json", "k-1",
        "{\"count\":10}", &r2);
    TT_CHECK(is_problem(&r2, 422, "idempotency-key-reused", x.secret));
    tsl_admin_response_free(&r2);
    req(&x, "POST", "/v1/lists/a/allocations", NULL, "application/json", NULL,
        "{\"count\":1}", &r2);
    TT_CHECK(is_problem(&r2, 400, "idempotency-key-missing", x.secret));
    tsl_admin_response_free(&r2);
    req(&x, "POST", "/v1/lists/a/allocations", NULL, "application/json", "bad\001key",
        "{\"count\":1}", &r2);
    TT_CHECK(is_problem(&r2, 400, "malformed", x.secret));
    tsl_admin_response_free(&r2);
    /* count out of range, malformed, more than is left. */
    req(&x, "POST", "/v1/lists/a/allocations", NULL, "application/json", "k-2",
        "{\"count\":0}", &r2);
    TT_CHECK(is_problem(&r2, 400, "invalid-value", x.secret));
    tsl_admin_response_free(&r2);
    req(&x, "POST", "/v1/lists/a/allocations", NULL, "application/json", "k-2",
        "{\"count\":100001}", &r2);
    TT_CHECK(is_problem(&r2, 400, "invalid-value", x.secret));
    tsl_admin_response_free(&r2);
    req(&x, "POST", "/v1/lists/a/allocations", NULL, "application/json", "k-2",
        "{\"count\":", &r2);
    TT_CHECK(is_problem(&r2, 400, "malformed", x.secret));
    tsl_admin_response_free(&r2);
    req(&x, "POST", "/v1/lists/b/allocations", NULL, "application/json", "k-3",
        "{\"count\":101}", &r2);
    TT_CHECK(is_problem(&r2, 409, "conflict", x.secret));
    tsl_admin_response_free(&r2);
    req(&x, "POST", "/v1/lists/zz/allocations", NULL, "application/json", "k-4",
        "{\"count\":1}", &r2);
    TT_CHECK(is_problem(&r2, 404, "not-found", x.secret));
    tsl_admin_response_free(&r2);
    state_of(&x, "a", &v1, &a1);
    TT_EQ_U(a1, 10);
    TT_EQ_U(v1, v0);
    state_of(&x, "b", &v1, &a1);
    TT_EQ_U(a1, 0);
    /* The audit names the key. */
    req(&x, "GET", "/v1/lists/a/audit", "limit=5", NULL, NULL, NULL, &r2);
    TT_EQ_U(r2.status, 200);
    char by[64];
    snprintf(by, sizeof by, "\"by\":\"apikey:%s\"", x.key.id);
    TT_CHECK(memmem(r2.body, r2.body_len, by, strlen(by)) != NULL);
    TT_CHECK(memmem(r2.body, r2.body_len, "\"kind\":\"alloc\"", 14) != NULL);
    tsl_admin_response_free(&r2);
    TT_EQ_U(metric(x.a, "tsl_admin_allocated_total"), 10);
    TT_EQ_U(metric(x.a, "tsl_admin_idempotent_replays_total"), 1);
    tsl_admin_response_free(&r);
    afx_close(&x);
}

STORE_TEST(admin_updates)
{
    afx x;
    TT_CHECK(afx_open(&x) == 0);
    tsl_admin_response r;
    uint64_t v0, a0, v1, a1;
    req(&x, "PATCH", "/v1/lists/a/statuses", NULL, "application/json", NULL,
        "[{\"index\":5,\"status\":\"INVALID\"},{\"first\":10,\"last\":19,\"status\":2},"
        "{\"index\":7,\"status\":\"suspended\"}]", &r);
    TT_EQ_U(r.status, 200);
    TT_EQ_U(jint(&r, "entries"), 12);
    TT_EQ_U(jint(&r, "changed"), 12);
    json_t *j = js(&r);
    TT_CHECK(json_is_false(json_object_get(j, "dry_run")));
    json_decref(j);
    tsl_admin_response_free(&r);
    TT_EQ_U(status_of(&x, "a", 5), 1);
    TT_EQ_U(status_of(&x, "a", 15), 2);
    state_of(&x, "a", &v0, &a0);
    /* Un-revoke without force: 409 naming index 5; nothing changed. */
    req(&x, "PATCH", "/v1/lists/a/statuses", NULL, "text/plain; charset=utf-8", NULL,
        "3 SUSPENDED\n5 VALID\n", &r);
    TT_CHECK(is_problem(&r, 409, "final-invalid", x.secret));
    TT_EQ_U(jint(&r, "index"), 5);
    tsl_admin_response_free(&r);
    TT_EQ_U(status_of(&x, "a", 3), 0);
    state_of(&x, "a", &v1, &a1);
    TT_EQ_U(v1, v0);
    /* A dry run changes nothing and says so. */
    req(&x, "PATCH", "/v1/lists/a/statuses", "dry_run=true", "text/plain", NULL,
        "100-199 INVALID\n", &r);
    TT_EQ_U(r.status, 200);
    TT_EQ_U(jint(&r, "changed"), 100);
    j = js(&r);
    TT_CHECK(json_is_true(json_object_get(j, "dry_run")));
    json_decref(j);
    tsl_admin_response_free(&r);
    TT_EQ_U(status_of(&x, "a", 150), 0);
    state_of(&x, "a", &v1, &a1);
    TT_EQ_U(v1, v0);
    /* Refusals of the body: each with its class, the index, line, offset or field. */
    struct {
        const char *ctype, *body;
        unsigned status;
        const char *cls, *member;
        json_int_t value;
    } bad[] = {
        {"application/json", "[{\"index\":1000,\"status\":1}]", 400, "invalid-value", "index", 1000},
        {"application/json", "[{\"first\":990,\"last\":1005,\"status\":1}]", 400, "invalid-value", "index", 1000},
        {"application/json", "[{\"index\":1,\"status\":4}]", 400, "invalid-value", "index", 1},
        {"application/json", "[{\"index\":1,\"status\":256}]", 400, "invalid-value", NULL, 0},
        {"application/json", "[{\"index\":1,\"status\":\"REVOKED\"}]", 400, "malformed", "offset", 21},
        {"application/json", "[{\"index\":1}]", 400, "malformed", NULL, 0},
        {"application/json", "[{\"index\":1,\"status\":1,\"index\":2}]", 400, "malformed", NULL, 0},
        {"application/json", "[{\"index\":-1,\"status\":1}]", 400, "malformed", "offset", 10},
        {"application/json", "[{\"index\":1.5,\"status\":1}]", 400, "malformed", NULL, 0},
        {"application/json", "[{\"index\":1,\"status\":1}", 400, "malformed", NULL, 0},
        {"application/json", "[]", 400, "malformed", NULL, 0},
        {"application/json", "{\"index\":1}", 400, "malformed", "offset", 0},
        {"application/json", "\x01\x02\xff\xfe garbage", 400, "malformed", NULL, 0},
        {"text/plain", "1 INVALID\n2 NOPE\n", 400, "malformed", "line", 2},
        {"text/plain", "1 INVALID\n2000 INVALID\n", 400, "invalid-value", "line", 2},
        {"application/xml", "<x/>", 415, "unsupported-media-type", NULL, 0},
        {NULL, "1 INVALID\n", 415, "unsupported-media-type", NULL, 0},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        req(&x, "PATCH", "/v1/lists/a/statuses", NULL, bad[k].ctype, NULL, bad[k].body, &r);
        if (!is_problem(&r, bad[k].status, bad[k].cls, x.secret))
            fprintf(stderr, "  case %zu\n", k);
        TT_CHECK(is_problem(&r, bad[k].status, bad[k].cls, x.secret));
        if (bad[k].member != NULL)
            TT_EQ_U(jint(&r, bad[k].member), bad[k].value);
        tsl_admin_response_free(&r);
    }
    state_of(&x, "a", &v1, &a1);
    TT_EQ_U(v1, v0);
    /* PUT one status; force un-revokes. */
    req(&x, "PUT", "/v1/lists/a/statuses/5", NULL, "application/json", NULL,
        "{\"status\":\"VALID\"}", &r);
    TT_CHECK(is_problem(&r, 409, "final-invalid", x.secret));
    TT_EQ_U(jint(&r, "index"), 5);
    tsl_admin_response_free(&r);
    req(&x, "PUT", "/v1/lists/a/statuses/5", "force=true", "application/json", NULL,
        "{\"status\":\"VALID\"}", &r);
    TT_EQ_U(r.status, 200);
    TT_EQ_U(jint(&r, "changed"), 1);
    TT_EQ_U(jint(&r, "version"), v0 + 1);
    tsl_admin_response_free(&r);
    TT_EQ_U(status_of(&x, "a", 5), 0);
    req(&x, "PUT", "/v1/lists/a/statuses/1000", NULL, "application/json", NULL,
        "{\"status\":1}", &r);
    TT_CHECK(is_problem(&r, 400, "invalid-value", x.secret));
    TT_EQ_U(jint(&r, "index"), 1000);
    tsl_admin_response_free(&r);
    /* An index past INT64_MAX: the problem stays JSON any reader takes. */
    req(&x, "PUT", "/v1/lists/a/statuses/18446744073709551615", NULL, "application/json",
        NULL, "{\"status\":1}", &r);
    TT_CHECK(is_problem(&r, 400, "invalid-value", x.secret));
    tsl_admin_response_free(&r);
    req(&x, "PATCH", "/v1/lists/a/statuses", NULL, "application/json", NULL,
        "[{\"index\":99999999999999999999,\"status\":1}]", &r);
    TT_CHECK(is_problem(&r, 400, "invalid-value", x.secret));
    tsl_admin_response_free(&r);
    req(&x, "PUT", "/v1/lists/a/statuses/x1", NULL, "application/json", NULL,
        "{\"status\":1}", &r);
    TT_CHECK(is_problem(&r, 400, "malformed", x.secret));
    tsl_admin_response_free(&r);
    req(&x, "PATCH", "/v1/lists/a/statuses", "force=maybe", "text/plain", NULL, "1 1\n", &r);
    TT_CHECK(is_problem(&r, 400, "malformed", x.secret));
    tsl_admin_response_free(&r);
    /* Reads. */
    req(&x, "GET", "/v1/lists/a/statuses/15", NULL, NULL, NULL, NULL, &r);
    TT_EQ_U(r.status, 200);
    TT_EQ_U(jint(&r, "status"), 2);
    TT_EQ_U(jint(&r, "idx"), 15);
    TT_CONTAINS(r.body, "\"label\":\"SUSPENDED\"");
    tsl_admin_response_free(&r);
    req(&x, "GET", "/v1/lists/a/statuses", "idx=5,15,0", NULL, NULL, NULL, &r);
    TT_EQ_U(r.status, 200);
    j = js(&r);
    json_t *s = json_object_get(j, "statuses");
    TT_EQ_U(json_array_size(s), 3);
    TT_EQ_U(json_integer_value(json_object_get(json_array_get(s, 1), "status")), 2);
    json_decref(j);
    tsl_admin_response_free(&r);
    req(&x, "GET", "/v1/lists/a/statuses", "idx=5,1000", NULL, NULL, NULL, &r);
    TT_CHECK(is_problem(&r, 400, "invalid-value", x.secret));
    TT_EQ_U(jint(&r, "index"), 1000);
    tsl_admin_response_free(&r);
    req(&x, "GET", "/v1/lists/a/statuses", "idx=5,,1", NULL, NULL, NULL, &r);
    TT_CHECK(is_problem(&r, 400, "malformed", x.secret));
    tsl_admin_response_free(&r);
    /* The audit: newest first, paged with next. */
    req(&x, "GET", "/v1/lists/a/audit", "limit=1", NULL, NULL, NULL, &r);
    TT_EQ_U(r.status, 200);
    j = js(&r);
    TT_EQ_U(json_array_size(json_object_get(j, "entries")), 1);
    TT_CHECK(json_is_integer(json_object_get(j, "next")));
    json_decref(j);
    tsl_admin_response_free(&r);
    req(&x, "GET", "/v1/lists/a/audit", "limit=0", NULL, NULL, NULL, &r);
    TT_CHECK(is_problem(&r, 400, "malformed", x.secret));
    tsl_admin_response_free(&r);
    afx_close(&x);
}

STORE_TEST(admin_refusals)
{
    tsl_admin_options o;
    memset(&o, 0, sizeof o);
    o.max_body = 4096;
    afx x;
    TT_CHECK(afx_open_opts(&x, &o) == 0);
    tsl_admin_response r;
    uint64_t v0, a0, v1, a1;
    state_of(&x, "a", &v0, &a0);
    const char *path = "/v1/lists/a/allocations", *ct = "application/json",
               *body = "{\"count\":1}";
    /* No key, a wrong key, a malformed header. */
    call(&x, NULL, "POST", path, NULL, ct, "i", body, &r);
    TT_CHECK(is_problem(&r, 401, "unauthorized", x.secret));
    TT_EQ_STR(header(&r, "WWW-Authenticate"), "Bearer");
    tsl_admin_response_free(&r);
    char wrong[128];
    snprintf(wrong, sizeof wrong, "%s", x.auth);
    wrong[strlen(wrong) - 1] ^= 1;
    call(&x, wrong, "POST", path, NULL, ct, "i", body, &r);
    TT_CHECK(is_problem(&r, 401, "unauthorized", wrong + 7));
    tsl_admin_response_free(&r);
    call(&x, "Basic abc", "POST", path, NULL, ct, "i", body, &r);
    TT_CHECK(is_problem(&r, 401, "unauthorized", NULL));
    tsl_admin_response_free(&r);
    /* A key for another list; one without the scope; expired; revoked. */
    char s1[TSL_APIKEY_SECRET_SIZE], h1[96];
    TT_OK(tsl_apikey_create(x.f.st, "b", TSL_SCOPE_ALLOC, 0, NULL, s1, NULL));
    snprintf(h1, sizeof h1, "Bearer %s", s1);
    call(&x, h1, "POST", path, NULL, ct, "i", body, &r);
    TT_CHECK(is_problem(&r, 403, "forbidden", s1));
    tsl_admin_response_free(&r);
    char s2[TSL_APIKEY_SECRET_SIZE], h2[96];
    TT_OK(tsl_apikey_create(x.f.st, "a", TSL_SCOPE_READ, 0, NULL, s2, NULL));
    snprintf(h2, sizeof h2, "Bearer %s", s2);
    call(&x, h2, "POST", path, NULL, ct, "i", body, &r);
    TT_CHECK(is_problem(&r, 403, "forbidden", s2));
    tsl_admin_response_free(&r);
    char s3[TSL_APIKEY_SECRET_SIZE], h3[96];
    TT_OK(tsl_apikey_create(x.f.st, "a", TSL_SCOPE_ALLOC, (int64_t)time(NULL) + 1, NULL, s3,
                            NULL));
    snprintf(h3, sizeof h3, "Bearer %s", s3);
    tsl_admin_request rq;
    memset(&rq, 0, sizeof rq);
    rq.method = "POST";
    rq.path = path;
    rq.authorization = h3;
    rq.content_type = ct;
    rq.idempotency_key = "i";
    rq.body = (const uint8_t *)body;
    rq.body_len = strlen(body);
    tsl_admin_answer(x.a, &rq, (int64_t)time(NULL) + 100, &r);
    TT_CHECK(is_problem(&r, 401, "unauthorized", s3));
    TT_CONTAINS(r.body, "expired");
    tsl_admin_response_free(&r);
    /* A key that worked stops within a second of its revocation. */
    char s4[TSL_APIKEY_SECRET_SIZE], h4[96];
    tsl_apikey_info k4;
    TT_OK(tsl_apikey_create(x.f.st, "a", TSL_SCOPE_READ, 0, &k4, s4, NULL));
    snprintf(h4, sizeof h4, "Bearer %s", s4);
    call(&x, h4, "GET", "/v1/lists/a", NULL, NULL, NULL, NULL, &r);
    TT_EQ_U(r.status, 200);
    tsl_admin_response_free(&r);
    TT_OK(tsl_apikey_revoke(x.f.st, k4.id, NULL));
    struct timespec ts = {1, 100000000L};
    nanosleep(&ts, NULL);
    call(&x, h4, "GET", "/v1/lists/a", NULL, NULL, NULL, NULL, &r);
    TT_CHECK(is_problem(&r, 401, "unauthorized", s4));
    TT_CONTAINS(r.body, "revoked");
    tsl_admin_response_free(&r);
    /* Bodies: over max_body, malformed, a wrong media type. */
    char *big = malloc(5000);
    memset(big, ' ', 4999);
    big[0] = '[';
    big[4998] = ']';
    big[4999] = '\0';
    req(&x, "PATCH", "/v1/lists/a/statuses", NULL, "application/json", NULL, big, &r);
    TT_CHECK(is_problem(&r, 413, "too-large", x.secret));
    tsl_admin_response_free(&r);
    free(big);
    req(&x, "POST", path, NULL, "text/plain", "i", body, &r);
    TT_CHECK(is_problem(&r, 415, "unsupported-media-type", x.secret));
    tsl_admin_response_free(&r);
    req(&x, "POST", path, NULL, ct, "i", "\x89PNG\r\n\x1a\n\x00", &r);
    TT_CHECK(is_problem(&r, 400, "malformed", x.secret));
    tsl_admin_response_free(&r);
    /* Routes and methods. */
    req(&x, "GET", "/v1/nothing", NULL, NULL, NULL, NULL, &r);
    TT_CHECK(is_problem(&r, 404, "not-found", x.secret));
    tsl_admin_response_free(&r);
    req(&x, "GET", "/v1/lists/a/", NULL, NULL, NULL, NULL, &r);
    TT_CHECK(is_problem(&r, 404, "not-found", x.secret));
    tsl_admin_response_free(&r);
    req(&x, "DELETE", "/v1/lists/a", NULL, NULL, NULL, NULL, &r);
    TT_CHECK(is_problem(&r, 405, "method-not-allowed", x.secret));
    TT_EQ_STR(header(&r, "Allow"), "GET");
    tsl_admin_response_free(&r);
    req(&x, "GET", "/v1/lists/a/allocations", NULL, NULL, NULL, NULL, &r);
    TT_CHECK(is_problem(&r, 405, "method-not-allowed", x.secret));
    TT_EQ_STR(header(&r, "Allow"), "POST");
    tsl_admin_response_free(&r);
    req(&x, "GET", "/v1/lists/a", "x=1", NULL, NULL, NULL, &r);
    TT_CHECK(is_problem(&r, 400, "malformed", x.secret));
    tsl_admin_response_free(&r);
    /* Precheck: the refusals that need no body, before it is read. */
    memset(&rq, 0, sizeof rq);
    rq.method = "PATCH";
    rq.path = "/v1/lists/a/statuses";
    rq.authorization = x.auth;
    rq.content_type = "application/json";
    tsl_admin_precheck(x.a, &rq, 4096, 0, &r);
    TT_EQ_U(r.status, 0);
    tsl_admin_response_free(&r);
    tsl_admin_precheck(x.a, &rq, 4097, 0, &r);
    TT_CHECK(is_problem(&r, 413, "too-large", x.secret));
    tsl_admin_response_free(&r);
    tsl_admin_precheck(x.a, &rq, UINT64_MAX, 0, &r);
    TT_EQ_U(r.status, 0);
    tsl_admin_response_free(&r);
    rq.content_type = "image/png";
    tsl_admin_precheck(x.a, &rq, 10, 0, &r);
    TT_CHECK(is_problem(&r, 415, "unsupported-media-type", x.secret));
    tsl_admin_response_free(&r);
    rq.authorization = h2; /* read only */
    rq.content_type = "application/json";
    tsl_admin_precheck(x.a, &rq, 10, 0, &r);
    TT_CHECK(is_problem(&r, 403, "forbidden", s2));
    tsl_admin_response_free(&r);
    rq.authorization = NULL;
    tsl_admin_precheck(x.a, &rq, 10, 0, &r);
    TT_CHECK(is_problem(&r, 401, "unauthorized", NULL));
    tsl_admin_response_free(&r);
    rq.method = "POST";
    tsl_admin_precheck(x.a, &rq, 10, 0, &r);
    TT_CHECK(is_problem(&r, 405, "method-not-allowed", NULL));
    tsl_admin_response_free(&r);
    /* Nothing changed, and no key in the metrics. */
    state_of(&x, "a", &v1, &a1);
    TT_EQ_U(v1, v0);
    TT_EQ_U(a1, a0);
    char *m = NULL;
    TT_OK(tsl_admin_metrics_text(x.a, &m, NULL));
    TT_CHECK(strstr(m, x.key.id) == NULL && strstr(m, k4.id) == NULL);
    TT_CHECK(strstr(m, x.secret) == NULL && strstr(m, "tsl_") != NULL);
    TT_CHECK(strstr(m, "tsl_admin_requests_total{code=\"401\"}") != NULL);
    tsl_free(m);
    afx_close(&x);
}

STORE_TEST(admin_rate_limits)
{
    tsl_admin_options o;
    memset(&o, 0, sizeof o);
    o.rate = 0.5;
    o.burst = 3;
    afx x;
    TT_CHECK(afx_open_opts(&x, &o) == 0);
    tsl_admin_response r;
    for (int k = 0; k < 3; k++) {
        req(&x, "GET", "/v1/lists/a", NULL, NULL, NULL, NULL, &r);
        TT_EQ_U(r.status, 200);
        tsl_admin_response_free(&r);
    }
    req(&x, "GET", "/v1/lists/a", NULL, NULL, NULL, NULL, &r);
    TT_CHECK(is_problem(&r, 429, "rate-limited", x.secret));
    TT_CHECK(header(&r, "Retry-After") != NULL && strtol(header(&r, "Retry-After"), NULL, 10) >= 1);
    tsl_admin_response_free(&r);
    /* The precheck says so too, before a body is read, and spends nothing itself. */
    tsl_admin_request pq;
    memset(&pq, 0, sizeof pq);
    pq.method = "GET";
    pq.path = "/v1/lists/a";
    pq.authorization = x.auth;
    tsl_admin_precheck(x.a, &pq, 0, 0, &r);
    TT_CHECK(is_problem(&r, 429, "rate-limited", x.secret));
    TT_EQ_STR(r.key_id, x.key.id);
    tsl_admin_response_free(&r);
    /* Failed authentications from one address: 10, then 429 even with a good key; an
     * address in another /64 is not limited, one in the same /64 is. */
    char s2[TSL_APIKEY_SECRET_SIZE], h2[96];
    TT_OK(tsl_apikey_create(x.f.st, NULL, TSL_SCOPE_READ, 0, NULL, s2, NULL));
    snprintf(h2, sizeof h2, "Bearer %s", s2);
    struct sockaddr_in6 p1, p2, p3;
    memset(&p1, 0, sizeof p1);
    p1.sin6_family = AF_INET6;
    p1.sin6_addr.s6_addr[0] = 0x20;
    p1.sin6_addr.s6_addr[15] = 1;
    p2 = p1;
    p2.sin6_addr.s6_addr[15] = 2; /* same /64 */
    p3 = p1;
    p3.sin6_addr.s6_addr[7] = 1; /* another /64 */
    tsl_admin_request rq;
    memset(&rq, 0, sizeof rq);
    rq.method = "GET";
    rq.path = "/v1/lists";
    rq.peer = (const struct sockaddr *)&p1;
    rq.peer_len = sizeof p1;
    rq.authorization = "Bearer tsl_000000000000_wrongwrongwrongwrongwrongwrongwrongwrong";
    for (int k = 0; k < 10; k++) {
        tsl_admin_answer(x.a, &rq, 0, &r);
        TT_CHECK(is_problem(&r, 401, "unauthorized", NULL));
        tsl_admin_response_free(&r);
    }
    rq.authorization = h2;
    tsl_admin_answer(x.a, &rq, 0, &r);
    TT_CHECK(is_problem(&r, 429, "rate-limited", s2));
    TT_CHECK(header(&r, "Retry-After") != NULL);
    tsl_admin_response_free(&r);
    rq.peer = (const struct sockaddr *)&p2;
    tsl_admin_answer(x.a, &rq, 0, &r);
    TT_EQ_U(r.status, 429);
    tsl_admin_response_free(&r);
    rq.peer = (const struct sockaddr *)&p3;
    tsl_admin_answer(x.a, &rq, 0, &r);
    TT_EQ_U(r.status, 200);
    tsl_admin_response_free(&r);
    TT_CHECK(metric(x.a, "tsl_admin_auth_failed_total") == 10);
    afx_close(&x);
}

/* ---------------------------------------------------------------------------------- */
/* Group commit under concurrent requests                                               */

#define THREADS 8
#define PER_THREAD 40

typedef struct {
    afx *x;
    int t;
    int ok;
    uint64_t idx[PER_THREAD];
} worker;

static void *alloc_worker(void *arg)
{
    worker *w = arg;
    w->ok = 1;
    for (int k = 0; k < PER_THREAD; k++) {
        char idem[32];
        snprintf(idem, sizeof idem, "t%d-%d", w->t, k);
        tsl_admin_response r;
        req(w->x, "POST", "/v1/lists/a/allocations", NULL, "application/json", idem,
            "{\"count\":1}", &r);
        json_t *j = js(&r);
        if (r.status != 201 || j == NULL)
            w->ok = 0;
        else
            w->idx[k] = (uint64_t)json_integer_value(
                json_object_get(json_array_get(json_object_get(j, "entries"), 0), "idx"));
        json_decref(j);
        tsl_admin_response_free(&r);
        /* and a status change, grouped with the allocations */
        char body[64];
        snprintf(body, sizeof body, "[{\"index\":%d,\"status\":2}]", w->t * PER_THREAD + k);
        req(w->x, "PATCH", "/v1/lists/a/statuses", NULL, "application/json", NULL, body, &r);
        if (r.status != 200)
            w->ok = 0;
        tsl_admin_response_free(&r);
    }
    return NULL;
}

STORE_TEST(admin_group_commit)
{
    afx x;
    TT_CHECK(afx_open(&x) == 0);
    worker w[THREADS];
    pthread_t th[THREADS];
    for (int t = 0; t < THREADS; t++) {
        w[t].x = &x;
        w[t].t = t;
        TT_CHECK(pthread_create(&th[t], NULL, alloc_worker, &w[t]) == 0);
    }
    for (int t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);
    for (int t = 0; t < THREADS; t++)
        TT_CHECK(w[t].ok);
    /* Every index once. */
    static uint8_t seen[1000];
    memset(seen, 0, sizeof seen);
    for (int t = 0; t < THREADS; t++)
        for (int k = 0; k < PER_THREAD; k++) {
            TT_CHECK(w[t].idx[k] < 1000 && !seen[w[t].idx[k]]);
            seen[w[t].idx[k]] = 1;
        }
    uint64_t v, a;
    state_of(&x, "a", &v, &a);
    TT_EQ_U(a, THREADS * PER_THREAD);
    TT_EQ_U(status_of(&x, "a", THREADS * PER_THREAD - 1), 2);
    uint64_t commits = metric(x.a, "tsl_admin_commits_total");
    uint64_t ops = metric(x.a, "tsl_admin_commit_ops_total");
    fprintf(stderr, "  %llu ops in %llu transactions\n", (unsigned long long)ops,
            (unsigned long long)commits);
    TT_EQ_U(ops, 2 * THREADS * PER_THREAD);
    TT_CHECK(commits < ops);
    afx_close(&x);
}

/* ---------------------------------------------------------------------------------- */
/* 10^6 changes in one request                                                          */

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

STORE_TEST(admin_bulk_million)
{
    afx x;
    TT_CHECK(afx_open(&x) == 0);
    TT_OK(sfx_list(&x.f, "big", 1, 4000000));
    size_t cap = (size_t)40 << 20, len = 0;
    char *body = malloc(cap);
    TT_CHECK(body != NULL);
    body[len++] = '[';
    for (unsigned k = 0; k < 1000000; k++)
        len += (size_t)snprintf(body + len, cap - len, "%s{\"index\":%u,\"status\":\"INVALID\"}",
                                k == 0 ? "" : ",", k * 3);
    body[len++] = ']';
    body[len] = '\0';
    double t0 = now_s();
    tsl_admin_response r;
    req(&x, "PATCH", "/v1/lists/big/statuses", NULL, "application/json", NULL, body, &r);
    double dt = now_s() - t0;
    fprintf(stderr, "  10^6 changes, %zu bytes: %.2f s\n", len, dt);
    TT_EQ_U(r.status, 200);
    TT_EQ_U(jint(&r, "changed"), 1000000);
    TT_EQ_U(jint(&r, "entries"), 1000000);
    tsl_admin_response_free(&r);
    TT_EQ_U(status_of(&x, "big", 2999997), 1);
    TT_EQ_U(status_of(&x, "big", 2999998), 0);
    /* Over max_items: 413, nothing changed. */
    tsl_admin_close(x.a);
    tsl_admin_options o;
    memset(&o, 0, sizeof o);
    o.db_path = x.db;
    o.max_items = 999999;
    TT_OK(tsl_admin_open(&o, &x.a, NULL));
    body[10] = '1'; /* index 1 instead of 0: a change if it went through */
    req(&x, "PATCH", "/v1/lists/big/statuses", "force=true", "application/json", NULL, body,
        &r);
    TT_CHECK(is_problem(&r, 413, "too-large", x.secret));
    tsl_admin_response_free(&r);
    TT_EQ_U(status_of(&x, "big", 1), 0);
    free(body);
    afx_close(&x);
}

/* ---------------------------------------------------------------------------------- */
/* Publish, and publish-and-wait against a real publisher                               */

/* A publication through the API is audited with the key that asked (no publisher in
 * this process, so nothing else signs the list meanwhile). */
STORE_TEST(admin_publish_audited)
{
    afx x;
    TT_CHECK(afx_open(&x) == 0);
    tsl_admin_response r;
    req(&x, "POST", "/v1/lists/a/publish", NULL, NULL, NULL, NULL, &r);
    TT_EQ_U(r.status, 200);
    tsl_admin_response_free(&r);
    req(&x, "GET", "/v1/lists/a/audit", "limit=1", NULL, NULL, NULL, &r);
    TT_EQ_U(r.status, 200);
    char by[64];
    snprintf(by, sizeof by, "\"by\":\"apikey:%s (jwt,cwt)\"", x.key.id);
    TT_CHECK(memmem(r.body, r.body_len, by, strlen(by)) != NULL);
    TT_CHECK(memmem(r.body, r.body_len, "\"kind\":\"publish\"", 16) != NULL);
    tsl_admin_response_free(&r);
    afx_close(&x);
}

STORE_TEST(admin_publish_wait)
{
    afx x;
    memset(&x, 0, sizeof x);
    TT_CHECK(sfx_open(&x.f) == 0);
    TT_OK(sfx_list(&x.f, "a", 2, 1000));
    TT_OK(tsl_apikey_create(x.f.st, NULL, TSL_SCOPE_ALL, 0, &x.key, x.secret, NULL));
    snprintf(x.auth, sizeof x.auth, "Bearer %s", x.secret);
    tsl_publisher_options po;
    memset(&po, 0, sizeof po);
    po.interval_ms = 60000; /* only a kick makes it publish in time */
    tsl_publisher *p = NULL;
    tsl_publisher_runner *run = NULL;
    TT_OK(tsl_publisher_open(x.f.db, &po, &p, NULL));
    TT_OK(tsl_publisher_round(p, TSL_ROUND_LOAD_ONLY, NULL));
    TT_OK(tsl_publisher_runner_start(p, 60000, &run, NULL));
    tsl_admin_options o;
    memset(&o, 0, sizeof o);
    o.db_path = x.f.db;
    o.publisher = p;
    o.runner = run;
    TT_OK(tsl_admin_open(&o, &x.a, NULL));
    tsl_admin_response r;
    /* Let the runner's first round pass, then change and publish with wait. */
    struct timespec ts = {0, 300000000L};
    nanosleep(&ts, NULL);
    req(&x, "PATCH", "/v1/lists/a/statuses", NULL, "text/plain", NULL, "7 INVALID\n", &r);
    TT_EQ_U(r.status, 200);
    uint64_t v = (uint64_t)jint(&r, "version");
    tsl_admin_response_free(&r);
    req(&x, "POST", "/v1/lists/a/publish", "wait=true&timeout=20", NULL, NULL, NULL, &r);
    TT_EQ_U(r.status, 200);
    json_t *j = js(&r);
    TT_CHECK(json_is_true(json_object_get(j, "served")));
    TT_EQ_U(json_integer_value(json_object_get(j, "version")), v);
    TT_EQ_U(json_array_size(json_object_get(j, "tokens")), 2);
    json_t *t0 = json_array_get(json_object_get(j, "tokens"), 0);
    TT_EQ_STR(json_string_value(json_object_get(t0, "format")), "jwt");
    TT_CHECK(json_integer_value(json_object_get(t0, "bytes")) > 0);
    json_decref(j);
    tsl_admin_response_free(&r);
    tsl_snapshot *s = tsl_publisher_snapshot(p);
    uint64_t served = 0;
    TT_CHECK(tsl_snapshot_list_version(s, "a", &served) == 1 && served >= v);
    TT_CHECK(tsl_snapshot_list_version(s, "nope", &served) == 0);
    tsl_snapshot_release(s);
    /* Without wait: served false; the INFO shows the publication. */
    req(&x, "POST", "/v1/lists/a/publish", NULL, NULL, NULL, NULL, &r);
    TT_EQ_U(r.status, 200);
    TT_CONTAINS(r.body, "\"served\":false");
    tsl_admin_response_free(&r);
    req(&x, "GET", "/v1/lists/a", NULL, NULL, NULL, NULL, &r);
    TT_CHECK(jint(&r, "last_published") > 0 && jint(&r, "next_expiry") > 0);
    tsl_admin_response_free(&r);
    /* A key that is gone: 500, without its path. */
    char moved[160];
    snprintf(moved, sizeof moved, "%s/moved.pem", x.f.dir);
    TT_CHECK(rename(x.f.key, moved) == 0);
    req(&x, "PATCH", "/v1/lists/a/statuses", NULL, "text/plain", NULL, "8 INVALID\n", &r);
    TT_EQ_U(r.status, 200);
    tsl_admin_response_free(&r);
    req(&x, "POST", "/v1/lists/a/publish", NULL, NULL, NULL, NULL, &r);
    TT_CHECK(is_problem(&r, 500, "internal", x.secret));
    TT_CHECK(memmem(r.body, r.body_len, x.f.key, strlen(x.f.key)) == NULL);
    tsl_admin_response_free(&r);
    TT_CHECK(rename(moved, x.f.key) == 0);
    req(&x, "POST", "/v1/lists/a/publish", "timeout=61", NULL, NULL, NULL, &r);
    TT_CHECK(is_problem(&r, 400, "malformed", x.secret));
    tsl_admin_response_free(&r);
    tsl_admin_close(x.a);
    x.a = NULL;
    TT_CHECK(tsl_publisher_runner_stop(run, 10000) == 1);
    tsl_publisher_close(p);
    sfx_close(&x.f);
}

/* ---------------------------------------------------------------------------------- */
/* PostgreSQL: a dropped connection is a 503, then the API works again                  */

TT_TEST(admin_pg_connection_lost)
{
    sfx_pg = 1;
    afx x;
    int opened = afx_open(&x) == 0;
    sfx_pg = 0;
    TT_CHECK(opened);
    tsl_admin_response r;
    req(&x, "GET", "/v1/lists/a", NULL, NULL, NULL, NULL, &r);
    TT_EQ_U(r.status, 200);
    tsl_admin_response_free(&r);
    /* Every connection of this admin (its application_name) is terminated. */
    PGconn *c = PQconnectdb(getenv("TSL_TEST_PG"));
    TT_CHECK(PQstatus(c) == CONNECTION_OK);
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
             "WHERE application_name = 'tsladmin%ld'", (long)getpid());
    PGresult *res = PQexec(c, sql);
    TT_CHECK(PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) >= 1);
    PQclear(res);
    PQfinish(c);
    struct timespec ts = {0, 200000000L};
    nanosleep(&ts, NULL);
    /* Each handle fails once (503, Retry-After) and reconnects at its next use. */
    int unavailable = 0, ok = 0;
    for (int k = 0; k < 3 * TSLP_ADMIN_READERS + 4; k++) {
        req(&x, "PATCH", "/v1/lists/a/statuses", NULL, "text/plain", NULL, "3 2\n", &r);
        if (r.status == 503) {
            TT_CHECK(is_problem(&r, 503, "unavailable", x.secret));
            TT_CHECK(header(&r, "Retry-After") != NULL);
            unavailable++;
        } else if (r.status == 200) {
            ok++;
        } else {
            TT_CHECK(r.status == 200 || r.status == 503);
        }
        tsl_admin_response_free(&r);
    }
    fprintf(stderr, "  %d unavailable, %d ok\n", unavailable, ok);
    TT_CHECK(unavailable >= 1 && ok >= 1);
    req(&x, "GET", "/v1/lists/a/statuses/3", NULL, NULL, NULL, NULL, &r);
    TT_EQ_U(r.status, 200);
    TT_EQ_U(jint(&r, "status"), 2);
    tsl_admin_response_free(&r);
    afx_close(&x);
}

/* ---------------------------------------------------------------------------------- */
/* The parsers alone                                                                    */

TT_TEST(admin_body_parsers)
{
    tsl_batch *b = NULL;
    tslp_refusal r;
    TT_OK(tsl_batch_new(2, 100, &b, NULL));
    const char *ok = " [ {\"status\":\"Invalid\" , \"index\" : 0 },{\"first\":1,\"last\":9,"
                     "\"status\":3}, {\"\\u0069ndex\":99,\"st\\u0061tus\":\"VALID\"} ] ";
    TT_CHECK(tslp_body_changes_json((const uint8_t *)ok, strlen(ok), 2, 100, NULL, 10, b, &r));
    TT_EQ_U(tsl_batch_count(b), 3);
    TT_EQ_U(tsl_batch_entries(b), 11);
    TT_EQ_U(tsl_batch_items(b)[1].value, 3);
    tsl_batch_free(b);
    /* max_items */
    TT_OK(tsl_batch_new(2, 100, &b, NULL));
    const char *three = "[{\"index\":1,\"status\":1},{\"index\":2,\"status\":1},"
                        "{\"index\":3,\"status\":1}]";
    TT_CHECK(!tslp_body_changes_json((const uint8_t *)three, strlen(three), 2, 100, NULL, 2, b,
                                     &r));
    TT_EQ_U(r.status, 413);
    tsl_batch_free(b);
    /* An identifier list's changes by "id": found with the permutation (either case of
     * hex), beside indices; refused on a status list, with an index, at the wrong length
     * or when the list never made it (the offset and field named). */
    tslp_idl_perm perm;
    static const uint8_t key[TSLP_PERM_KEY_BYTES] = {7};
    TT_OK(tslp_idl_perm_init(&perm, key, 8, NULL));
    uint8_t id7[8];
    TT_CHECK(tslp_idl_perm_id(&perm, 7, id7));
    char hex[17], upper[17];
    for (int k = 0; k < 8; k++) {
        snprintf(hex + 2 * k, 3, "%02x", id7[k]);
        snprintf(upper + 2 * k, 3, "%02X", id7[k]);
    }
    char body[200];
    snprintf(body, sizeof body, "[{\"id\":\"%s\",\"status\":1},{\"status\":1,\"id\":\"%s\"},"
             "{\"index\":3,\"status\":1}]", hex, upper);
    TT_OK(tsl_batch_new(1, 100, &b, NULL));
    TT_CHECK(tslp_body_changes_json((const uint8_t *)body, strlen(body), 1, 100, &perm, 10, b,
                                    &r));
    TT_EQ_U(tsl_batch_count(b), 3);
    TT_EQ_U(tsl_batch_items(b)[0].first, 7);
    TT_EQ_U(tsl_batch_items(b)[1].last, 7);
    TT_EQ_U(tsl_batch_items(b)[2].first, 3);
    tsl_batch_free(b);
    TT_OK(tsl_batch_new(1, 100, &b, NULL));
    TT_CHECK(!tslp_body_changes_json((const uint8_t *)body, strlen(body), 1, 100, NULL, 10, b,
                                     &r));
    TT_CONTAINS(r.detail, "unknown member");
    tsl_batch_free(b);
    snprintf(body, sizeof body, "[{\"id\":\"%s\",\"index\":2,\"status\":1}]", hex);
    TT_OK(tsl_batch_new(1, 100, &b, NULL));
    TT_CHECK(!tslp_body_changes_json((const uint8_t *)body, strlen(body), 1, 100, &perm, 10, b,
                                     &r));
    TT_EQ_STR(r.field, "id");
    tsl_batch_free(b);
    const char *shortid = "[{\"id\":\"0011\",\"status\":1}]";
    TT_OK(tsl_batch_new(1, 100, &b, NULL));
    TT_CHECK(!tslp_body_changes_json((const uint8_t *)shortid, strlen(shortid), 1, 100, &perm,
                                     10, b, &r));
    TT_CONTAINS(r.detail, "an id of 4 hex digits");
    tsl_batch_free(b);
    hex[0] = hex[0] == '0' ? '1' : '0'; /* another 8 bytes: not one of the list's */
    snprintf(body, sizeof body, "[{\"index\":1,\"status\":1},{\"id\":\"%s\",\"status\":1}]",
             hex);
    TT_OK(tsl_batch_new(1, 100, &b, NULL));
    TT_CHECK(!tslp_body_changes_json((const uint8_t *)body, strlen(body), 1, 100, &perm, 10, b,
                                     &r));
    TT_EQ_U(r.status, 400);
    TT_CONTAINS(r.detail, "is not one of the list's identifiers");
    TT_EQ_STR(r.field, "id");
    tsl_batch_free(b);
    tslp_idl_perm_free(&perm);
    /* text, with a BOM and comments */
    TT_OK(tsl_batch_new(2, 100, &b, NULL));
    const char *text = "\xEF\xBB\xBF# revocations\n1 INVALID\r\n5-9 SUSPENDED # x\n\n";
    TT_CHECK(tslp_body_changes_text((const uint8_t *)text, strlen(text), 10, b, &r));
    TT_EQ_U(tsl_batch_count(b), 2);
    tsl_batch_free(b);
    /* queries */
    tslp_query q;
    TT_CHECK(tslp_query_parse("wait=true&timeout=5&x=a%20b+c", &q, &r));
    TT_EQ_STR(tslp_query_get(&q, "x"), "a b c");
    TT_CHECK(!tslp_query_parse("a=1&a=2", &q, &r));
    uint64_t idx[4];
    size_t n;
    TT_CHECK(tslp_idx_list("1,2,3,4", idx, 4, &n, &r) && n == 4 && idx[3] == 4);
    TT_CHECK(!tslp_idx_list("1,2,3,4,5", idx, 4, &n, &r) && r.status == 413);
    TT_CHECK(!tslp_idx_list("1,99999999999999999999", idx, 4, &n, &r) && r.status == 400);
    uint64_t v;
    TT_CHECK(tslp_parse_index("0", &v) && v == 0);
    TT_CHECK(!tslp_parse_index("01", &v) && !tslp_parse_index("", &v) &&
             !tslp_parse_index("-1", &v));
    /* The OpenAPI document is the committed file. */
    size_t len = 0;
    const char *doc = tsl_admin_openapi(&len);
    size_t flen = 0;
    unsigned char *file = tt_read_file("api/openapi.json", &flen);
    TT_EQ_U(len, flen);
    TT_CHECK(memcmp(doc, file, len) == 0 && doc[len] == '\0');
    free(file);
}
