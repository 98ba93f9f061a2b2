/* admin.c - the issuer API (tsl.h, tsl_admin): routes under /v1, the checks every
 * request goes through (route, method, key, scope and list, media type, size), and the
 * answers. Reads go through a small pool of store handles (the server calls in from
 * several threads at once, and a store handle serves one thread at a time); changes
 * (allocations, status updates) go to the committer (commit.c), which groups concurrent
 * ones into one transaction; creating a list and publishing use a pool handle, as they
 * are rare and take their own transaction. A store that cannot be reached is a 503 with
 * Retry-After, never a crash: a handle whose connection dropped reconnects at its next
 * transaction. Answers are JSON with integers as integers; refusals are problems
 * (problem.c). */
#include "admin/admin_int.h"
#include "crypto/crypto.h" /* tslp_sha256: the idempotency hash of a request */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* Seconds recorded tokens are kept by a publish through the API (as `tsl publish`). */
#define PUBLISH_RETENTION ((int64_t)30 * 86400)
/* How long publish-now waits for another publisher holding the list's publish lock
 * (PostgreSQL): 100 tries 50 ms apart, 5 s, longer than signing a large list takes. */
#define PUBLISH_BUSY_TRIES 100
#define PUBLISH_BUSY_PAUSE_MS 50
/* How often a publish that waits looks at the publisher's snapshot. */
#define WAIT_POLL_MS 20

/* ---------------------------------------------------------------------------------- */
/* Routes                                                                               */

typedef enum {
    R_NONE, R_OPENAPI, R_HEALTHZ, R_LISTS, R_LIST, R_ALLOC, R_STATUSES, R_STATUS,
    R_PUBLISH, R_AUDIT
} route_kind;

typedef struct {
    route_kind kind;
    char list[TSLP_ID_MAX + 1]; /* the {id} segment, when the route has one */
    char idx[2 * TSL_STORE_ID_MAX + 2]; /* the {idx} segment (cut: one character more than
                                 * the longest identifier), for R_STATUS: an index, or
                                 * an identifier list's identifier (16 to 128 hex digits) */
} route;

/* What a body a method takes. */
enum { B_NONE, B_SMALL, B_CHANGES };

typedef struct {
    route_kind kind;
    const char *method;
    unsigned scope; /* 0: no key needed */
    int body;
} rule;

static const rule rules[] = {
    {R_OPENAPI, "GET", 0, B_NONE},
    {R_HEALTHZ, "GET", 0, B_NONE},
    {R_LISTS, "GET", TSL_SCOPE_READ, B_NONE},
    {R_LISTS, "POST", TSL_SCOPE_CREATE, B_SMALL},
    {R_LIST, "GET", TSL_SCOPE_READ, B_NONE},
    {R_ALLOC, "POST", TSL_SCOPE_ALLOC, B_SMALL},
    {R_STATUSES, "GET", TSL_SCOPE_READ, B_NONE},
    {R_STATUSES, "PATCH", TSL_SCOPE_UPDATE, B_CHANGES},
    {R_STATUS, "GET", TSL_SCOPE_READ, B_NONE},
    {R_STATUS, "PUT", TSL_SCOPE_UPDATE, B_SMALL},
    {R_PUBLISH, "POST", TSL_SCOPE_PUBLISH, B_NONE},
    {R_AUDIT, "GET", TSL_SCOPE_READ, B_NONE},
};

static const char *allow_of(route_kind k)
{
    switch (k) {
    case R_LISTS: return "GET, POST";
    case R_STATUSES: return "GET, PATCH";
    case R_STATUS: return "GET, PUT";
    case R_ALLOC:
    case R_PUBLISH: return "POST";
    default: return "GET";
    }
}

static bool id_ok(const char *s, size_t n)
{
    if (n == 0 || n > TSLP_ID_MAX)
        return false;
    for (size_t k = 0; k < n; k++) {
        char c = s[k];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

/* The route of a path, or R_NONE. */
static void route_of(const char *path, route *rt)
{
    memset(rt, 0, sizeof *rt);
    if (path == NULL || strncmp(path, "/v1/", 4) != 0)
        return;
    const char *seg[5];
    size_t len[5], n = 0;
    const char *s = path + 4;
    for (;;) {
        const char *slash = strchr(s, '/');
        size_t l = slash != NULL ? (size_t)(slash - s) : strlen(s);
        if (n == 5 || l == 0)
            return; /* too deep, an empty segment, a trailing '/' */
        seg[n] = s;
        len[n] = l;
        n++;
        if (slash == NULL)
            break;
        s = slash + 1;
    }
#define SEG_IS(k, word) (len[k] == strlen(word) && memcmp(seg[k], word, len[k]) == 0)
    if (n == 1 && SEG_IS(0, "openapi.json"))
        rt->kind = R_OPENAPI;
    else if (n == 1 && SEG_IS(0, "healthz"))
        rt->kind = R_HEALTHZ;
    else if (n == 1 && SEG_IS(0, "lists"))
        rt->kind = R_LISTS;
    if (rt->kind != R_NONE || n < 2 || !SEG_IS(0, "lists") || !id_ok(seg[1], len[1]))
        return;
    memcpy(rt->list, seg[1], len[1]);
    rt->list[len[1]] = '\0';
    if (n == 2)
        rt->kind = R_LIST;
    else if (n == 3 && SEG_IS(2, "allocations"))
        rt->kind = R_ALLOC;
    else if (n == 3 && SEG_IS(2, "statuses"))
        rt->kind = R_STATUSES;
    else if (n == 3 && SEG_IS(2, "publish"))
        rt->kind = R_PUBLISH;
    else if (n == 3 && SEG_IS(2, "audit"))
        rt->kind = R_AUDIT;
    else if (n == 4 && SEG_IS(2, "statuses")) {
        rt->kind = R_STATUS;
        size_t l = len[3] < sizeof rt->idx - 1 ? len[3] : sizeof rt->idx - 1;
        memcpy(rt->idx, seg[3], l);
        rt->idx[l] = '\0';
    }
#undef SEG_IS
}

/* The media type of a Content-Type (before ';', white space trimmed) equals type. */
static bool media_is(const char *ct, const char *type)
{
    if (ct == NULL)
        return false;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    size_t n = strcspn(ct, ";");
    while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
        n--;
    return n == strlen(type) && strncasecmp(ct, type, n) == 0;
}

/* ---------------------------------------------------------------------------------- */
/* The handle                                                                           */

void tslp_admin_log(tsl_admin *a, const char *fmt, ...)
{
    if (a->log == NULL)
        return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    a->log(a->log_ctx, line);
}

tsl_status tsl_admin_open(const tsl_admin_options *o, tsl_admin **out, tsl_error *err)
{
    if (o == NULL || o->db_path == NULL || out == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "issuer API: NULL argument");
    if (o->rate < 0)
        return tslp_fail(err, TSL_ERR_ARG, 0, "issuer API: negative rate");
    tsl_admin *a = tslp_calloc(1, sizeof *a);
    if (a == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "issuer API: out of memory");
    a->db_path = tslp_strndup(o->db_path, strlen(o->db_path));
    a->publisher = o->publisher;
    a->runner = o->runner;
    a->max_body = o->max_body != 0 ? o->max_body : TSL_ADMIN_DEFAULT_MAX_BODY;
    a->max_items = o->max_items != 0 ? o->max_items : TSL_ADMIN_DEFAULT_MAX_ITEMS;
    a->create_flags = o->create_flags;
    a->log = o->log;
    a->log_ctx = o->log_ctx;
    pthread_mutex_init(&a->shape_mu, NULL);
    a->shapes = tslp_calloc(TSLP_ADMIN_SHAPE_CACHE, sizeof *a->shapes);
    double rate = o->rate > 0 ? o->rate : TSL_ADMIN_DEFAULT_RATE;
    unsigned burst = o->burst != 0 ? o->burst : (unsigned)(2 * rate < 1 ? 1 : 2 * rate);
    tsl_status r = a->db_path == NULL || a->shapes == NULL
                       ? tslp_fail(err, TSL_ERR_NOMEM, 0, "out of memory")
                                      : tslp_auth_new(rate, burst, &a->auth, err);
    if (r == TSL_OK)
        r = tslp_readers_open(&a->readers, a->db_path, err);
    if (r == TSL_OK)
        r = tslp_committer_start(a->db_path, &a->committer, err);
    if (r != TSL_OK) {
        tsl_admin_close(a);
        return r;
    }
    *out = a;
    return TSL_OK;
}

void tsl_admin_close(tsl_admin *a)
{
    if (a == NULL)
        return;
    tslp_committer_stop(a->committer);
    tslp_readers_close(&a->readers);
    tslp_auth_free(a->auth);
    pthread_mutex_destroy(&a->shape_mu);
    tslp_free(a->shapes);
    tslp_free(a->db_path);
    tslp_free(a);
}

void tsl_admin_response_free(tsl_admin_response *r)
{
    if (r == NULL)
        return;
    tsl_free(r->body);
    r->body = NULL;
    r->body_len = 0;
}


/* ---------------------------------------------------------------------------------- */
/* JSON of a list                                                                       */

#define P(...)                                                                            \
    do {                                                                                  \
        if (r == TSL_OK)                                                                  \
            r = tslp_buf_printf(b, err, __VA_ARGS__);                                     \
    } while (0)
#define S(s)                                                                              \
    do {                                                                                  \
        if (r == TSL_OK)                                                                  \
            r = tslp_json_str(b, (s), strlen(s), err);                                    \
    } while (0)
#define S_OR_NULL(s)                                                                      \
    do {                                                                                  \
        if ((s) != NULL)                                                                  \
            S(s);                                                                         \
        else                                                                              \
            P("null");                                                                    \
    } while (0)

/* INFO: a list's settings (no key path), counts per status, allocation, publication. */
static tsl_status info_json(tsl_store *st, const char *id, tslp_buf *b, tsl_error *err)
{
    tsl_list_info in;
    memset(&in, 0, sizeof in);
    tsl_status r = tsl_store_list_info(st, id, &in, err);
    if (r != TSL_OK)
        return r;
    uint64_t version = in.version;
    uint64_t *counts = tslp_calloc(256, sizeof *counts);
    if (counts == NULL)
        r = tslp_fail(err, TSL_ERR_NOMEM, 0, "out of memory");
    /* The stored counts (store/counts.c): the list itself is not loaded. */
    if (r == TSL_OK)
        r = tsl_store_counts(st, id, counts, &version, err);
    int64_t next_expiry = 0;
    unsigned formats = in.formats != 0 ? in.formats : TSL_PUBLISH_JWT | TSL_PUBLISH_CWT;
    for (int k = 0; r == TSL_OK && k < 2; k++) {
        if (!(formats & (1u << k)))
            continue;
        uint8_t *tok = NULL;
        size_t len = 0;
        int64_t iat = 0, exp = 0;
        tsl_error e;
        tsl_error_clear(&e);
        tsl_status t = tsl_store_token(st, id, k == 0 ? TSL_FORMAT_JWT : TSL_FORMAT_CWT, 0,
                                       &tok, &len, &iat, &exp, &e);
        tsl_free(tok);
        if (t == TSL_OK && exp != 0 && (next_expiry == 0 || exp < next_expiry))
            next_expiry = exp;
        else if (t != TSL_OK && t != TSL_ERR_NOT_FOUND)
            r = tslp_fail(err, t, 0, "%s", e.msg);
    }
    P("{\"id\":");
    S(in.id);
    P(",\"uri\":");
    S(in.uri);
    P(",\"bits\":%u,\"size\":%llu,\"formats\":\"%s\",\"lifetime\":%lld,\"ttl\":", in.bits,
      (unsigned long long)in.size, tsl_publish_formats_name(in.formats),
      (long long)in.lifetime);
    if (in.ttl > 0)
        P("%lld", (long long)in.ttl);
    else
        P("null");
    P(",\"decoys\":%llu,\"final_invalid\":%s,\"aggregation_uri\":",
      (unsigned long long)in.decoys, in.final_invalid ? "true" : "false");
    S_OR_NULL(in.aggregation_uri);
    if (in.formats == TSL_PUBLISH_IDLIST)
        P(",\"id_length\":%u", in.id_bytes);
    if (in.alg != TSL_ALG_UNKNOWN) {
        P(",\"alg\":");
        S(tsl_alg_name(in.alg));
    }
    if (in.kid != NULL) {
        P(",\"kid\":");
        S(in.kid);
    }
    P(",\"counts\":{");
    unsigned top = in.bits >= 8 ? 256 : 1u << in.bits;
    bool first = true;
    for (unsigned v = 0; v < top && r == TSL_OK; v++) {
        if (v > 1 && counts[v] == 0)
            continue; /* VALID and INVALID always, others when they occur */
        char label[TSL_STATUS_LABEL_SIZE];
        P("%s", first ? "" : ",");
        S(tsl_status_label(v, label));
        P(":%llu", (unsigned long long)counts[v]);
        first = false;
    }
    P("},\"allocated\":%llu,\"free\":%llu,\"capacity\":%llu,\"version\":%llu,"
      "\"last_published\":",
      (unsigned long long)in.allocated,
      (unsigned long long)(in.capacity > in.allocated ? in.capacity - in.allocated : 0),
      (unsigned long long)in.capacity, (unsigned long long)version);
    if (in.last_published > 0)
        P("%lld", (long long)in.last_published);
    else
        P("null");
    P(",\"next_expiry\":");
    if (next_expiry > 0)
        P("%lld", (long long)next_expiry);
    else
        P("null");
    P(",\"created\":%lld,\"updated\":%lld}", (long long)in.created, (long long)in.updated);
    tslp_free(counts);
    tsl_list_info_free(&in);
    return r;
}

/* ---------------------------------------------------------------------------------- */
/* Handlers: each fills out; the request is authenticated and allowed.                  */

typedef struct {
    tsl_admin *a;
    const tsl_admin_request *rq;
    const route *rt;
    const tsl_apikey_info *key;
    int64_t now;
    tsl_admin_response *out;
    char source[8 + TSL_APIKEY_ID_LEN + 1]; /* "apikey:ID" */
    unsigned formats; /* the list's, once list_shape has run */
} ctx;

static void refused(tsl_admin_response *out, const tslp_refusal *r)
{
    tslp_admin_problem(out, r);
}

/* A query with only the names allowed. */
static bool query_of(const ctx *c, tslp_query *q, const char *const *allowed)
{
    tslp_refusal r;
    if (!tslp_query_parse(c->rq->query, q, &r) || !tslp_query_only(q, allowed, &r)) {
        refused(c->out, &r);
        return false;
    }
    return true;
}

static void answer_buf(ctx *c, unsigned status, tslp_buf *b, tsl_status r,
                       const tsl_error *err)
{
    if (r != TSL_OK)
        tslp_admin_store_fail(c->out, r, err);
    else
        tslp_admin_json(c->out, status, b);
    tslp_buf_free(b);
}

static void do_list_info(ctx *c)
{
    static const char *const none[] = {NULL};
    tslp_query q;
    if (!query_of(c, &q, none))
        return;
    tslp_buf buf, *b = &buf;
    tslp_buf_init(b, TSLP_ADMIN_MAX_ANSWER, "answer");
    tsl_error e, *err = &e;
    tsl_error_clear(err);
    tslp_reader *rd = tslp_reader_get(c->a);
    tsl_status r = info_json(rd->st, c->rt->list, b, err);
    tslp_reader_put(rd);
    answer_buf(c, 200, b, r, err);
}

static void do_lists(ctx *c)
{
    static const char *const none[] = {NULL};
    tslp_query q;
    if (!query_of(c, &q, none))
        return;
    tslp_buf buf, *b = &buf;
    tslp_buf_init(b, TSLP_ADMIN_MAX_ANSWER, "answer");
    tsl_error e, *err = &e;
    tsl_error_clear(err);
    char **ids = NULL;
    size_t n = 0;
    tslp_reader *rd = tslp_reader_get(c->a);
    tsl_status r = tsl_store_list_ids(rd->st, &ids, &n, err);
    P("{\"lists\":[");
    bool first = true;
    for (size_t k = 0; r == TSL_OK && k < n; k++) {
        /* A key for one list sees that list only. */
        if (c->key->list_id[0] != '\0' && strcmp(c->key->list_id, ids[k]) != 0)
            continue;
        P("%s", first ? "" : ",");
        if (r == TSL_OK)
            r = info_json(rd->st, ids[k], b, err);
        if (r == TSL_ERR_NOT_FOUND) { /* deleted meanwhile */
            tsl_error_clear(err);
            r = TSL_OK;
        }
        first = false;
    }
    P("]}");
    tslp_reader_put(rd);
    tsl_store_ids_free(ids, n);
    answer_buf(c, 200, b, r, err);
}

static void do_create(ctx *c)
{
    static const char *const none[] = {NULL};
    tslp_query q;
    if (!query_of(c, &q, none))
        return;
    tsl_list_spec spec;
    void *owner = NULL;
    tslp_refusal rf;
    if (!tslp_body_list_spec(c->rq->body, c->rq->body_len, &spec, &owner, &rf)) {
        refused(c->out, &rf);
        return;
    }
    spec.create_flags = c->a->create_flags;
    tslp_buf buf, *b = &buf;
    tslp_buf_init(b, TSLP_ADMIN_MAX_ANSWER, "answer");
    tsl_error e, *err = &e;
    tsl_error_clear(err);
    char id[TSLP_ID_MAX + 1] = "";
    if (spec.id != NULL && strlen(spec.id) <= TSLP_ID_MAX)
        memcpy(id, spec.id, strlen(spec.id) + 1);
    tslp_reader *rd = tslp_reader_get(c->a);
    tsl_status r = tsl_store_list_create(rd->st, &spec, err);
    if (r == TSL_OK)
        r = info_json(rd->st, id, b, err);
    tslp_reader_put(rd);
    bool about_files = r == TSL_ERR_IO &&
                       ((spec.key_path != NULL && strstr(err->msg, spec.key_path) != NULL) ||
                        (spec.x5c_path != NULL && strstr(err->msg, spec.x5c_path) != NULL));
    tslp_body_spec_free(owner);
    if (r == TSL_ERR_EXISTS) {
        tslp_admin_fail(c->out, 409, "conflict", "%s", err->msg);
    } else if (r == TSL_ERR_ARG || r == TSL_ERR_LIMIT || r == TSL_ERR_MALFORMED ||
               r == TSL_ERR_UNSUPPORTED || r == TSL_ERR_KEY || r == TSL_ERR_ALG ||
               r == TSL_ERR_VALUE || about_files) {
        tslp_admin_fail(c->out, 400, "invalid-value", "%s", err->msg);
    } else if (r != TSL_OK) {
        tslp_admin_store_fail(c->out, r, err);
    } else {
        /* Location goes after the body's NUL, in the same allocation: the response
         * owns it and frees it with the body. */
        size_t blen = b->len;
        r = tslp_buf_printf(b, err, "%c/v1/lists/%s", '\0', id);
        if (r != TSL_OK) {
            tslp_admin_fail(c->out, 500, "internal", "out of memory");
        } else {
            tslp_admin_json(c->out, 201, b);
            if (c->out->status == 201) {
                c->out->body_len = blen;
                tslp_admin_header(c->out, "Location", c->out->body + blen + 1);
            }
        }
    }
    tslp_buf_free(b);
}

static int64_t mono_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* The list's uri, bits and size (fixed at creation), for a batch or an allocation's
 * answer, and its 404: remembered for TSLP_ADMIN_SHAPE_CACHE_MS, so that the request
 * path of a change reads nothing before it is queued. uri may be NULL. */
static bool list_shape(ctx *c, unsigned *bits, uint64_t *size, char uri[TSL_URI_MAX + 1])
{
    tsl_admin *a = c->a;
    size_t h = 5381;
    for (const char *p = c->rt->list; *p != '\0'; p++)
        h = h * 33 + (unsigned char)*p;
    tslp_shape *sh = &a->shapes[h % TSLP_ADMIN_SHAPE_CACHE];
    int64_t t = mono_ms();
    bool hit = false;
    pthread_mutex_lock(&a->shape_mu);
    if (sh->at_ms != 0 && t - sh->at_ms < TSLP_ADMIN_SHAPE_CACHE_MS &&
        strcmp(sh->id, c->rt->list) == 0) {
        *bits = sh->bits;
        *size = sh->size;
        c->formats = sh->formats;
        if (uri != NULL)
            memcpy(uri, sh->uri, sizeof sh->uri);
        hit = true;
    }
    pthread_mutex_unlock(&a->shape_mu);
    if (hit)
        return true;
    tsl_list_info in;
    memset(&in, 0, sizeof in);
    tsl_error e;
    tsl_error_clear(&e);
    tslp_reader *rd = tslp_reader_get(a);
    tsl_status r = tsl_store_list_info(rd->st, c->rt->list, &in, &e);
    tslp_reader_put(rd);
    if (r == TSL_OK && strlen(in.uri) > TSL_URI_MAX)
        r = tslp_fail(&e, TSL_ERR_IO, 0, "list \"%s\": a uri over %d bytes", c->rt->list,
                      TSL_URI_MAX);
    if (r != TSL_OK) {
        tsl_list_info_free(&in);
        tslp_admin_store_fail(c->out, r, &e);
        return false;
    }
    *bits = in.bits;
    *size = in.size;
    c->formats = in.formats;
    if (uri != NULL)
        memcpy(uri, in.uri, strlen(in.uri) + 1);
    pthread_mutex_lock(&a->shape_mu);
    memcpy(sh->id, c->rt->list, strlen(c->rt->list) + 1);
    memcpy(sh->uri, in.uri, strlen(in.uri) + 1);
    sh->bits = in.bits;
    sh->size = in.size;
    sh->formats = in.formats;
    sh->at_ms = t;
    pthread_mutex_unlock(&a->shape_mu);
    tsl_list_info_free(&in);
    return true;
}

/* An Idempotency-Key: 1 to 255 printable ASCII characters. */
static bool idem_ok(const char *k)
{
    size_t n = strnlen(k, 256);
    if (n == 0 || n > 255)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)k[i] < 0x20 || (unsigned char)k[i] > 0x7e)
            return false;
    return true;
}

/* ---- identifier lists (ISO 18013-5): entries are identifiers, idl_ids.c ---- */

/* Whether the route's list is an identifier list (formats idlist). */
static bool list_is_idl(ctx *c)
{
    tsl_list_info in;
    memset(&in, 0, sizeof in);
    tslp_reader *rd = tslp_reader_get(c->a);
    bool idl = tsl_store_list_info(rd->st, c->rt->list, &in, NULL) == TSL_OK &&
               in.formats == TSL_PUBLISH_IDLIST;
    tslp_reader_put(rd);
    tsl_list_info_free(&in);
    return idl;
}

/* The identifiers of n allocated indices (n is at most the answer's TSLP_ADMIN_MAX_IDX),
 * as n hex strings of the list's length, each in a slot of HEX_SLOT bytes (NUL after
 * each), in a new block; NULL on failure with err set. */
#define HEX_SLOT (2 * TSL_STORE_ID_MAX + 1)
static char *identifiers_hex(ctx *c, const uint64_t *idx, uint64_t n, tsl_error *err)
{
    size_t cap = (size_t)n * TSL_STORE_ID_MAX, len = 0;
    uint8_t *raw = tslp_malloc(cap + 1);
    char *hex = tslp_malloc((size_t)n * HEX_SLOT + 1);
    tsl_status r = raw != NULL && hex != NULL
                       ? TSL_OK
                       : tslp_fail(err, TSL_ERR_NOMEM, 0, "out of memory");
    if (r == TSL_OK) {
        tslp_reader *rd = tslp_reader_get(c->a);
        r = tsl_store_list_identifiers(rd->st, c->rt->list, idx, (size_t)n, raw, cap, &len,
                                       err);
        tslp_reader_put(rd);
    }
    for (uint64_t k = 0; r == TSL_OK && k < n; k++)
        for (size_t b = 0; b < len; b++)
            snprintf(hex + k * HEX_SLOT + 2 * b, 3, "%02x", raw[k * len + b]);
    tslp_free(raw);
    if (r != TSL_OK) {
        tslp_free(hex);
        return NULL;
    }
    return hex;
}

/* A path segment that may be an identifier: 16 to 128 characters (8 to 64 bytes in
 * hex; an index has at most 11 digits, so a digits-only identifier is not misread). */
static bool identifier_like(const char *s)
{
    size_t n = strlen(s);
    return n >= 2 * TSL_STORE_ID_MIN && n <= 2 * TSL_STORE_ID_MAX;
}

/* The index of the identifier in the path (the list's length in hex) of an
 * identifier list. */
static bool identifier_index(ctx *c, uint64_t *idx)
{
    const char *s = c->rt->idx;
    size_t n = strlen(s);
    uint8_t id[TSL_STORE_ID_MAX];
    tslp_refusal rf;
    if (n % 2 != 0 || !identifier_like(s) || strspn(s, "0123456789abcdefABCDEF") != n) {
        tslp_refuse(&rf, 400, "malformed", "the index in the path is neither a decimal "
                    "number nor an identifier (%d to %d bytes in hex)", TSL_STORE_ID_MIN,
                    TSL_STORE_ID_MAX);
        rf.field = "idx";
        refused(c->out, &rf);
        return false;
    }
    for (size_t b = 0; b < n / 2; b++) {
        char two[3] = {s[2 * b], s[2 * b + 1], 0};
        id[b] = (uint8_t)strtoul(two, NULL, 16);
    }
    tsl_error e;
    tsl_error_clear(&e);
    tslp_reader *rd = tslp_reader_get(c->a);
    tsl_status r = tsl_store_identifier_index(rd->st, c->rt->list, id, n / 2, idx, &e);
    tslp_reader_put(rd);
    if (r == TSL_ERR_NOT_FOUND || r == TSL_ERR_ARG) {
        tslp_refuse(&rf, 400, "invalid-value", "%s", e.msg);
        rf.field = "idx";
        refused(c->out, &rf);
        return false;
    }
    if (r != TSL_OK) {
        tslp_admin_store_fail(c->out, r, &e);
        return false;
    }
    return true;
}

static void do_alloc(ctx *c)
{
    static const char *const none[] = {NULL};
    tslp_query q;
    if (!query_of(c, &q, none))
        return;
    if (c->rq->idempotency_key == NULL) {
        tslp_admin_fail(c->out, 400, "idempotency-key-missing",
                        "an allocation needs an Idempotency-Key header");
        return;
    }
    if (!idem_ok(c->rq->idempotency_key)) {
        tslp_refusal rf;
        tslp_refuse(&rf, 400, "malformed",
                    "the Idempotency-Key must be 1 to 255 printable ASCII characters");
        rf.field = "Idempotency-Key";
        refused(c->out, &rf);
        return;
    }
    uint64_t count = 0;
    tslp_refusal rf;
    if (!tslp_body_count(c->rq->body, c->rq->body_len, &count, &rf)) {
        refused(c->out, &rf);
        return;
    }
    tsl_error e, *err = &e;
    tsl_error_clear(err);
    /* The uri of the list, for the answer (and a 404 before anything is queued). */
    char uri[TSL_URI_MAX + 1];
    unsigned bits;
    uint64_t size;
    if (!list_shape(c, &bits, &size, uri))
        return;
    tsl_status r;
    tsl_store_op op;
    memset(&op, 0, sizeof op);
    op.kind = TSL_OP_ALLOC;
    op.list_id = c->rt->list;
    op.source = c->source;
    op.count = count;
    op.idem_owner = c->key->id;
    op.idem_key = c->rq->idempotency_key;
    /* The canonical request: what a retry must repeat to be the same request. */
    char canon[TSLP_ID_MAX + 64];
    int cl = snprintf(canon, sizeof canon, "POST allocations\n%s\n%llu\n", c->rt->list,
                      (unsigned long long)count);
    tslp_sha256((const uint8_t *)canon, (size_t)cl, op.idem_hash);
    if (!tslp_commit(c->a->committer, &op)) {
        tslp_admin_fail(c->out, 503, "unavailable", "too many changes waiting; retry");
        return;
    }
    r = op.status;
    if (r == TSL_OK && op.indices == NULL)
        r = tslp_fail(&op.error, TSL_ERR_NOMEM, 0, "no indices returned");
    if (r == TSL_ERR_CONFLICT) {
        tslp_admin_fail(c->out, 422, "idempotency-key-reused", "%s", op.error.msg);
    } else if (r == TSL_ERR_LIMIT) {
        tslp_admin_fail(c->out, 409, "conflict", "%s", op.error.msg);
    } else if (r != TSL_OK) {
        tslp_admin_store_fail(c->out, r, &op.error);
    } else {
        tslp_buf buf, *b = &buf;
        tslp_buf_init(b, TSLP_ADMIN_MAX_ANSWER, "answer");
        /* The uri is the same in every entry: escaped once. */
        tslp_buf ub;
        tslp_buf_init(&ub, TSL_URI_MAX * 2 + 16, "uri");
        r = tslp_json_str(&ub, uri, strlen(uri), err);
        /* An identifier list's entries are the MSO's identifier_list {id, uri}. */
        char *ids = c->formats == TSL_PUBLISH_IDLIST
                        ? identifiers_hex(c, op.indices, count, err)
                        : NULL;
        if (ids == NULL && err->code != TSL_OK)
            r = err->code;
        P("{\"list\":");
        S(c->rt->list);
        P(",\"entries\":[");
        for (uint64_t k = 0; k < count && r == TSL_OK; k++) {
            if (ids != NULL)
                P("%s{\"id\":\"%s\",\"uri\":", k == 0 ? "" : ",", ids + k * HEX_SLOT);
            else
                P("%s{\"idx\":%llu,\"uri\":", k == 0 ? "" : ",",
                  (unsigned long long)op.indices[k]);
            if (r == TSL_OK)
                r = tslp_buf_append(b, ub.data, ub.len, err);
            P("}");
        }
        P("]}");
        tslp_free(ids);
        tslp_buf_free(&ub);
        if (r == TSL_OK && op.replayed) {
            atomic_fetch_add(&c->a->replays, 1);
            tslp_admin_header(c->out, "Idempotent-Replayed", "true");
        } else if (r == TSL_OK) {
            atomic_fetch_add(&c->a->allocated, count);
        }
        answer_buf(c, op.replayed ? 200 : 201, b, r, err);
    }
    tsl_free(op.indices);
}

/* The index an INVALID-is-final refusal names ("... index I is INVALID ..."). */
static bool final_index(const char *msg, uint64_t *idx)
{
    const char *p = strstr(msg, "index ");
    if (p == NULL || strstr(msg, "INVALID") == NULL)
        return false;
    char *end;
    unsigned long long v = strtoull(p + 6, &end, 10);
    if (end == p + 6)
        return false;
    *idx = v;
    return true;
}

/* Commits an update op of batch b and answers. */
static void commit_update(ctx *c, const tsl_batch *b_in, bool force, bool dry_run)
{
    tsl_store_op op;
    memset(&op, 0, sizeof op);
    op.kind = TSL_OP_UPDATE;
    op.list_id = c->rt->list;
    op.source = c->source;
    op.batch = b_in;
    op.force = force;
    op.dry_run = dry_run;
    if (!tslp_commit(c->a->committer, &op)) {
        tslp_admin_fail(c->out, 503, "unavailable", "too many changes waiting; retry");
        return;
    }
    tsl_status r = op.status;
    uint64_t idx;
    if (r == TSL_ERR_VALUE && strstr(op.error.msg, "final") != NULL &&
        final_index(op.error.msg, &idx)) {
        tslp_refusal rf;
        tslp_refuse(&rf, 409, "final-invalid", "%s (force=true changes it)", op.error.msg);
        rf.has_index = true;
        rf.index = idx;
        refused(c->out, &rf);
        return;
    }
    if (r == TSL_ERR_VALUE || r == TSL_ERR_INDEX) {
        tslp_admin_fail(c->out, 400, "invalid-value", "%s", op.error.msg);
        return;
    }
    if (r == TSL_ERR_LIMIT) {
        tslp_admin_fail(c->out, 413, "too-large", "%s", op.error.msg);
        return;
    }
    if (r != TSL_OK) {
        tslp_admin_store_fail(c->out, r, &op.error);
        return;
    }
    if (!dry_run)
        atomic_fetch_add(&c->a->changes, op.changed);
    tslp_buf buf, *b = &buf;
    tslp_buf_init(b, (size_t)4 << 10, "answer");
    tsl_error e, *err = &e;
    tsl_error_clear(err);
    r = TSL_OK;
    P("{\"list\":");
    S(c->rt->list);
    P(",\"entries\":%llu,\"changed\":%llu,\"version\":%llu,\"dry_run\":%s}",
      (unsigned long long)tsl_batch_entries(b_in), (unsigned long long)op.changed,
      (unsigned long long)op.version, dry_run ? "true" : "false");
    answer_buf(c, 200, b, r, err);
}

static void do_patch(ctx *c)
{
    static const char *const allowed[] = {"dry_run", "force", NULL};
    tslp_query q;
    bool dry_run = false, force = false;
    tslp_refusal rf;
    if (!query_of(c, &q, allowed))
        return;
    if (!tslp_query_bool(&q, "dry_run", false, &dry_run, &rf) ||
        !tslp_query_bool(&q, "force", false, &force, &rf)) {
        refused(c->out, &rf);
        return;
    }
    unsigned bits;
    uint64_t size;
    if (!list_shape(c, &bits, &size, NULL))
        return;
    tsl_batch *b = NULL;
    tsl_error e;
    tsl_error_clear(&e);
    if (tsl_batch_new(bits, size, &b, &e) != TSL_OK) {
        tslp_admin_store_fail(c->out, e.code, &e);
        return;
    }
    bool json = media_is(c->rq->content_type, "application/json");
    /* An identifier list's JSON changes may name entries by "id": its permutation,
     * opened once for the whole body (list_shape has the list's formats, cached). */
    tslp_idl_perm perm, *idl = NULL;
    memset(&perm, 0, sizeof perm);
    if (json && c->formats == TSL_PUBLISH_IDLIST) {
        uint64_t isize = 0;
        tslp_reader *rd = tslp_reader_get(c->a);
        tsl_status s = tslp_store_idl_open(rd->st, c->rt->list, &perm, &isize, &e);
        tslp_reader_put(rd);
        if (s != TSL_OK) {
            tslp_idl_perm_free(&perm);
            tsl_batch_free(b);
            tslp_admin_store_fail(c->out, s, &e);
            return;
        }
        idl = &perm;
    }
    bool ok = json ? tslp_body_changes_json(c->rq->body, c->rq->body_len, bits, size, idl,
                                            c->a->max_items, b, &rf)
                   : tslp_body_changes_text(c->rq->body, c->rq->body_len, c->a->max_items,
                                            b, &rf);
    tslp_idl_perm_free(&perm);
    if (!ok)
        refused(c->out, &rf);
    else
        commit_update(c, b, force, dry_run);
    tsl_batch_free(b);
}

static bool index_of(ctx *c, uint64_t *idx)
{
    /* An identifier list's entries may be named by their identifiers. */
    if (identifier_like(c->rt->idx) && list_is_idl(c))
        return identifier_index(c, idx);
    if (!tslp_parse_index(c->rt->idx, idx)) {
        tslp_refusal rf;
        tslp_refuse(&rf, 400, "malformed", "the index in the path is not a decimal number");
        rf.field = "idx";
        refused(c->out, &rf);
        return false;
    }
    return true;
}

static void do_put(ctx *c)
{
    static const char *const allowed[] = {"force", NULL};
    tslp_query q;
    bool force = false;
    tslp_refusal rf;
    uint64_t idx;
    unsigned value = 0, bits;
    uint64_t size;
    if (!query_of(c, &q, allowed))
        return;
    if (!tslp_query_bool(&q, "force", false, &force, &rf) ||
        !tslp_body_status(c->rq->body, c->rq->body_len, &value, &rf)) {
        refused(c->out, &rf);
        return;
    }
    if (!index_of(c, &idx) || !list_shape(c, &bits, &size, NULL))
        return;
    if (idx >= size || (bits < 8 && (value >> bits) != 0)) {
        if (idx >= size)
            tslp_refuse(&rf, 400, "invalid-value", "index %llu is outside the list (%llu "
                        "entries)", (unsigned long long)idx, (unsigned long long)size);
        else
            tslp_refuse(&rf, 400, "invalid-value", "status %u does not fit in %u bits",
                        value, bits);
        rf.field = idx >= size ? "idx" : "status";
        rf.has_index = true;
        rf.index = idx;
        refused(c->out, &rf);
        return;
    }
    tsl_batch *b = NULL;
    tsl_error e;
    tsl_error_clear(&e);
    if (tsl_batch_new(bits, size, &b, &e) != TSL_OK ||
        tsl_batch_add(b, idx, idx, value, 1, &e) != TSL_OK) {
        tsl_batch_free(b);
        tslp_admin_fail(c->out, 400, "invalid-value", "%s", e.msg);
        return;
    }
    commit_update(c, b, force, false);
    tsl_batch_free(b);
}

/* Reads n statuses; on TSL_ERR_INDEX names the first index outside. */
static tsl_status read_statuses(ctx *c, const uint64_t *idx, size_t n, unsigned *values,
                                uint64_t *version)
{
    tsl_error e;
    tsl_error_clear(&e);
    tslp_reader *rd = tslp_reader_get(c->a);
    tsl_status r = tsl_store_statuses(rd->st, c->rt->list, idx, n, values, version, &e);
    uint64_t size = UINT64_MAX;
    if (r == TSL_ERR_INDEX) {
        tsl_list_info in;
        memset(&in, 0, sizeof in);
        tsl_error e2;
        tsl_error_clear(&e2);
        if (tsl_store_list_info(rd->st, c->rt->list, &in, &e2) == TSL_OK)
            size = in.size;
        tsl_list_info_free(&in);
    }
    tslp_reader_put(rd);
    if (r == TSL_ERR_INDEX) {
        tslp_refusal rf;
        tslp_refuse(&rf, 400, "invalid-value", "%s", e.msg);
        rf.field = "idx";
        for (size_t k = 0; k < n; k++)
            if (idx[k] >= size) {
                rf.has_index = true;
                rf.index = idx[k];
                break;
            }
        refused(c->out, &rf);
    } else if (r != TSL_OK) {
        tslp_admin_store_fail(c->out, r, &e);
    }
    return r;
}

static void do_get_status(ctx *c)
{
    static const char *const none[] = {NULL};
    tslp_query q;
    uint64_t idx, version = 0;
    unsigned v = 0;
    if (!query_of(c, &q, none) || !index_of(c, &idx) ||
        read_statuses(c, &idx, 1, &v, &version) != TSL_OK)
        return;
    tslp_buf buf, *b = &buf;
    tslp_buf_init(b, (size_t)4 << 10, "answer");
    tsl_error e, *err = &e;
    tsl_error_clear(err);
    tsl_status r = TSL_OK;
    P("{\"idx\":%llu,\"status\":%u,\"label\":\"%s\",\"version\":%llu}",
      (unsigned long long)idx, v, tsl_status_name(v), (unsigned long long)version);
    answer_buf(c, 200, b, r, err);
}

static void do_get_statuses(ctx *c)
{
    static const char *const allowed[] = {"idx", NULL};
    tslp_query q;
    if (!query_of(c, &q, allowed))
        return;
    const char *list = tslp_query_get(&q, "idx");
    tslp_refusal rf;
    if (list == NULL) {
        tslp_refuse(&rf, 400, "malformed", "the query needs idx=I[,I...]");
        rf.field = "idx";
        refused(c->out, &rf);
        return;
    }
    uint64_t idx[TSLP_ADMIN_MAX_IDX];
    unsigned values[TSLP_ADMIN_MAX_IDX];
    size_t n = 0;
    uint64_t version = 0;
    if (!tslp_idx_list(list, idx, TSLP_ADMIN_MAX_IDX, &n, &rf)) {
        refused(c->out, &rf);
        return;
    }
    if (read_statuses(c, idx, n, values, &version) != TSL_OK)
        return;
    tslp_buf buf, *b = &buf;
    tslp_buf_init(b, (size_t)1 << 20, "answer");
    tsl_error e, *err = &e;
    tsl_error_clear(err);
    tsl_status r = TSL_OK;
    P("{\"version\":%llu,\"statuses\":[", (unsigned long long)version);
    for (size_t k = 0; k < n; k++)
        P("%s{\"idx\":%llu,\"status\":%u,\"label\":\"%s\"}", k == 0 ? "" : ",",
          (unsigned long long)idx[k], values[k], tsl_status_name(values[k]));
    P("]}");
    answer_buf(c, 200, b, r, err);
}

/* Whether the publisher of this process serves list id at version >= v. */
static bool served(tsl_admin *a, const char *id, uint64_t v)
{
    tsl_snapshot *s = tsl_publisher_snapshot(a->publisher);
    uint64_t have = 0;
    bool ok = s != NULL && tsl_snapshot_list_version(s, id, &have) && have >= v;
    tsl_snapshot_release(s);
    return ok;
}

static void do_publish(ctx *c)
{
    static const char *const allowed[] = {"wait", "timeout", NULL};
    tslp_query q;
    bool wait = false;
    uint64_t timeout = 0;
    tslp_refusal rf;
    if (!query_of(c, &q, allowed))
        return;
    if (!tslp_query_bool(&q, "wait", false, &wait, &rf) ||
        !tslp_query_u64(&q, "timeout", 1, TSLP_ADMIN_PUBLISH_WAIT_MAX,
                        TSLP_ADMIN_PUBLISH_WAIT_DEFAULT, &timeout, &rf)) {
        refused(c->out, &rf);
        return;
    }
    tsl_error e, *err = &e;
    tsl_error_clear(err);
    tsl_publish_result res;
    memset(&res, 0, sizeof res);
    tsl_list_info in;
    memset(&in, 0, sizeof in);
    tslp_buf buf, *b = &buf;
    tslp_buf_init(b, (size_t)64 << 10, "answer");
    tslp_reader *rd = tslp_reader_get(c->a);
    tsl_status r = tsl_store_publish_by(rd->st, c->rt->list, 0, c->now, PUBLISH_RETENTION,
                                        c->source, &res, err);
    /* PostgreSQL: another publisher (this process's runner, woken by the change, or
     * another host's) holds the list's publish lock and is signing it. A 200 must mean
     * a token of the current statuses is recorded, so ask again until it lets go: then
     * that token is there (fresh, nothing signed) or this call signs. */
    for (int tries = 0; r == TSL_OK && res.busy && tries < PUBLISH_BUSY_TRIES; tries++) {
        struct timespec pause = {0, PUBLISH_BUSY_PAUSE_MS * 1000000L};
        nanosleep(&pause, NULL);
        memset(&res, 0, sizeof res);
        r = tsl_store_publish_by(rd->st, c->rt->list, 0, c->now, PUBLISH_RETENTION,
                                 c->source, &res, err);
    }
    bool busy = r == TSL_OK && res.busy;
    if (r == TSL_OK)
        r = tsl_store_list_info(rd->st, c->rt->list, &in, err);
    /* The version the tokens carry: what was signed, or (another publisher signs it,
     * PostgreSQL) the list's current one. */
    uint64_t v = r == TSL_OK && res.version != 0 && !res.busy ? res.version : in.version;
    P("{\"list\":");
    S(c->rt->list);
    P(",\"version\":%llu,\"tokens\":[", (unsigned long long)v);
    unsigned formats = in.formats != 0 ? in.formats : TSL_PUBLISH_JWT | TSL_PUBLISH_CWT;
    bool first = true;
    for (int k = 0; r == TSL_OK && k < 2; k++) {
        if (!(formats & (1u << k)))
            continue;
        uint8_t *tok = NULL;
        size_t len = 0;
        int64_t iat = 0, exp = 0;
        tsl_status t = tsl_store_token(rd->st, c->rt->list,
                                       k == 0 ? TSL_FORMAT_JWT : TSL_FORMAT_CWT, 0, &tok,
                                       &len, &iat, &exp, err);
        tsl_free(tok);
        if (t == TSL_ERR_NOT_FOUND) {
            tsl_error_clear(err);
            continue;
        }
        r = t;
        P("%s{\"format\":\"%s\",\"iat\":%lld,\"exp\":%lld,\"bytes\":%zu}", first ? "" : ",",
          k == 0 ? "jwt" : "cwt", (long long)iat, (long long)exp, len);
        first = false;
    }
    /* A failure to sign (the key file missing, unreadable, refused) is the server's
     * business: 500 without the path, which goes to the log; a store that answers no
     * more is a 503. Which one: the store is asked again. */
    bool signing = false;
    if (r == TSL_ERR_KEY || r == TSL_ERR_ALG || r == TSL_ERR_CRYPTO || r == TSL_ERR_IO) {
        tsl_list_info again;
        memset(&again, 0, sizeof again);
        signing = r != TSL_ERR_IO ||
                  tsl_store_list_info(rd->st, c->rt->list, &again, NULL) == TSL_OK;
        tsl_list_info_free(&again);
    }
    tslp_reader_put(rd);
    tsl_list_info_free(&in);
    if (r == TSL_OK && busy) {
        tslp_buf_free(b);
        tslp_admin_fail(c->out, 503, "unavailable", "list \"%s\": another publisher is "
                        "still signing it; try again", c->rt->list);
        return;
    }
    if (r != TSL_OK) {
        tslp_buf_free(b);
        if (signing) {
            tslp_admin_log(c->a, "issuer API: publishing list \"%s\" failed: %s",
                           c->rt->list, err->msg);
            tslp_admin_fail(c->out, 500, "internal", "list \"%s\" could not be signed; "
                            "the server's log says why", c->rt->list);
        } else {
            tslp_admin_store_fail(c->out, r, err);
        }
        return;
    }
    atomic_fetch_add(&c->a->publishes, 1);
    bool is_served = false;
    if (wait && c->a->publisher != NULL) {
        tsl_publisher_runner_kick(c->a->runner);
        int64_t until = mono_ms() + (int64_t)timeout * 1000;
        while (!(is_served = served(c->a, c->rt->list, v)) && mono_ms() < until) {
            struct timespec ts = {0, WAIT_POLL_MS * 1000000L};
            nanosleep(&ts, NULL);
        }
        if (!is_served) {
            tslp_buf_free(b);
            tslp_admin_fail(c->out, 504, "timeout",
                            "version %llu of list \"%s\" published but not served within "
                            "%llu s", (unsigned long long)v, c->rt->list,
                            (unsigned long long)timeout);
            return;
        }
    }
    P("],\"served\":%s}", is_served ? "true" : "false");
    answer_buf(c, 200, b, r, err);
}

static void do_audit(ctx *c)
{
    static const char *const allowed[] = {"limit", "before", NULL};
    tslp_query q;
    uint64_t limit = 0, before = 0;
    tslp_refusal rf;
    if (!query_of(c, &q, allowed))
        return;
    if (!tslp_query_u64(&q, "limit", 1, 1000, 100, &limit, &rf) ||
        !tslp_query_u64(&q, "before", 0, UINT64_MAX, 0, &before, &rf)) {
        refused(c->out, &rf);
        return;
    }
    tsl_error e, *err = &e;
    tsl_error_clear(err);
    tsl_audit_row *rows = NULL;
    size_t n = 0;
    tslp_reader *rd = tslp_reader_get(c->a);
    tsl_status r = tsl_store_audit(rd->st, c->rt->list, before, (size_t)limit, &rows, &n,
                                   err);
    tslp_reader_put(rd);
    if (r != TSL_OK) {
        tslp_admin_store_fail(c->out, r, err);
        return;
    }
    tslp_buf buf, *b = &buf;
    tslp_buf_init(b, TSLP_ADMIN_MAX_ANSWER, "answer");
    P("{\"entries\":[");
    for (size_t k = 0; k < n; k++) {
        char kind[sizeof rows[k].kind + 1];
        memcpy(kind, rows[k].kind, sizeof rows[k].kind);
        kind[sizeof rows[k].kind] = '\0';
        P("%s{\"seq\":%llu,\"time\":%lld,\"kind\":", k == 0 ? "" : ",",
          (unsigned long long)rows[k].seq, (long long)rows[k].time);
        S(kind);
        P(",\"entries\":%llu,\"changed\":%llu,\"by\":", (unsigned long long)rows[k].entries,
          (unsigned long long)rows[k].changed);
        S_OR_NULL(rows[k].source);
        P("}");
    }
    P("],\"next\":");
    if (n == limit && n > 0)
        P("%llu", (unsigned long long)rows[n - 1].seq);
    else
        P("null");
    P("}");
    tsl_audit_rows_free(rows, n);
    answer_buf(c, 200, b, r, err);
}

/* ---------------------------------------------------------------------------------- */
/* The checks and the dispatch                                                          */

static int64_t now_or_clock(int64_t now)
{
    return now != 0 ? now : (int64_t)time(NULL);
}

/* The rule of rq's route and method; NULL with out holding a 404 or 405. */
static const rule *rule_of(const tsl_admin_request *rq, route *rt, tsl_admin_response *out)
{
    route_of(rq->path, rt);
    if (rt->kind == R_NONE) {
        tslp_admin_fail(out, 404, "not-found", "no such resource");
        return NULL;
    }
    for (size_t k = 0; k < sizeof rules / sizeof rules[0]; k++)
        if (rules[k].kind == rt->kind && rq->method != NULL &&
            strcmp(rules[k].method, rq->method) == 0)
            return &rules[k];
    tslp_admin_fail(out, 405, "method-not-allowed", "%s is not allowed here",
                    rq->method != NULL && strlen(rq->method) < 16 ? rq->method : "this method");
    tslp_admin_header(out, "Allow", allow_of(rt->kind));
    return NULL;
}

/* The largest body a rule takes. */
static size_t body_cap(const tsl_admin *a, const rule *ru)
{
    return ru->body == B_CHANGES ? a->max_body : TSLP_ADMIN_SMALL_BODY;
}

/* Key, scope and list, media type, size. */
static bool gate(tsl_admin *a, const tsl_admin_request *rq, const rule *ru, const route *rt,
                 uint64_t content_length, int64_t now, bool spend, tsl_apikey_info *key,
                 tsl_admin_response *out)
{
    if (ru->scope != 0) {
        if (!tslp_auth_check(a, rq, now, spend, key, out))
            return false;
        const char *list = rt->kind == R_LISTS ? NULL : rt->list;
        if (!tslp_auth_allow(key, ru->scope, list, out))
            return false;
    }
    if (ru->body == B_SMALL && !media_is(rq->content_type, "application/json")) {
        tslp_admin_fail(out, 415, "unsupported-media-type", "the body must be "
                                                            "application/json");
        return false;
    }
    if (ru->body == B_CHANGES && !media_is(rq->content_type, "application/json") &&
        !media_is(rq->content_type, "text/plain")) {
        tslp_admin_fail(out, 415, "unsupported-media-type",
                        "the body must be application/json or text/plain");
        return false;
    }
    size_t cap = body_cap(a, ru);
    if (content_length != UINT64_MAX && content_length > cap) {
        tslp_refusal r;
        tslp_refuse(&r, 413, "too-large", "the body is over %zu bytes", cap);
        tslp_admin_problem(out, &r);
        return false;
    }
    return true;
}

static void count(tsl_admin *a, unsigned status)
{
    int k;
    switch (status) {
    case 400: k = TSLP_A_400; break;
    case 401: k = TSLP_A_401; break;
    case 403: k = TSLP_A_403; break;
    case 404: k = TSLP_A_404; break;
    case 405: k = TSLP_A_405; break;
    case 409: k = TSLP_A_409; break;
    case 413: k = TSLP_A_413; break;
    case 415: k = TSLP_A_415; break;
    case 422: k = TSLP_A_422; break;
    case 429: k = TSLP_A_429; break;
    case 500: k = TSLP_A_500; break;
    case 503: k = TSLP_A_503; break;
    case 504: k = TSLP_A_504; break;
    default: k = status >= 200 && status < 300 ? TSLP_A_2XX : TSLP_A_OTHER; break;
    }
    atomic_fetch_add(&a->answers[k], 1);
}

void tsl_admin_precheck(tsl_admin *a, const tsl_admin_request *rq, uint64_t content_length,
                        int64_t now, tsl_admin_response *out)
{
    tslp_admin_response_init(out);
    if (a == NULL || rq == NULL)
        return;
    route rt;
    const rule *ru = rule_of(rq, &rt, out);
    tsl_apikey_info key;
    if (ru != NULL)
        gate(a, rq, ru, &rt, content_length, now_or_clock(now), false, &key, out);
    if (out->status != 0)
        count(a, out->status);
}

void tsl_admin_answer(tsl_admin *a, const tsl_admin_request *rq, int64_t now,
                      tsl_admin_response *out)
{
    tslp_admin_response_init(out);
    if (a == NULL || rq == NULL) {
        tslp_admin_fail(out, 500, "internal", "no issuer API handle");
        return;
    }
    now = now_or_clock(now);
    route rt;
    const rule *ru = rule_of(rq, &rt, out);
    tsl_apikey_info key;
    memset(&key, 0, sizeof key);
    if (ru == NULL || !gate(a, rq, ru, &rt, rq->body_len, now, true, &key, out)) {
        count(a, out->status);
        return;
    }
    ctx c = {a, rq, &rt, &key, now, out, "", 0};
    snprintf(c.source, sizeof c.source, "apikey:%s", key.id);
    const char *m = rq->method;
    switch (rt.kind) {
    case R_OPENAPI: {
        size_t len = 0;
        const char *doc = tsl_admin_openapi(&len);
        out->body = tslp_malloc(len + 1);
        if (out->body == NULL) {
            tslp_admin_fail(out, 500, "internal", "out of memory");
            break;
        }
        memcpy(out->body, doc, len + 1);
        out->body_len = len;
        out->status = 200;
        out->content_type = "application/json";
        break;
    }
    case R_HEALTHZ: {
        out->body = tslp_strndup("{\"status\":\"ok\"}", 15);
        out->body_len = out->body != NULL ? 15 : 0;
        out->status = out->body != NULL ? 200 : 500;
        out->content_type = "application/json";
        break;
    }
    case R_LISTS:
        if (strcmp(m, "GET") == 0)
            do_lists(&c);
        else
            do_create(&c);
        break;
    case R_LIST: do_list_info(&c); break;
    case R_ALLOC: do_alloc(&c); break;
    case R_STATUSES:
        if (strcmp(m, "GET") == 0)
            do_get_statuses(&c);
        else
            do_patch(&c);
        break;
    case R_STATUS:
        if (strcmp(m, "GET") == 0)
            do_get_status(&c);
        else
            do_put(&c);
        break;
    case R_PUBLISH: do_publish(&c); break;
    case R_AUDIT: do_audit(&c); break;
    case R_NONE: break;
    }
    if (out->status == 500)
        tslp_admin_log(a, "issuer API: %s %s: 500", m, rq->path);
    count(a, out->status);
}

/* ---------------------------------------------------------------------------------- */
/* Metrics                                                                              */

tsl_status tsl_admin_metrics_text(tsl_admin *a, char **out, tsl_error *err)
{
    if (a == NULL || out == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "issuer API: NULL argument");
    static const char *const codes[TSLP_A_N] = {"2xx", "400", "401", "403", "404", "405",
                                                "409", "413", "415", "422", "429", "500",
                                                "503", "504", "other"};
    tslp_buf buf, *b = &buf;
    tslp_buf_init(b, (size_t)64 << 10, "metrics");
    tsl_status r = TSL_OK;
    P("# HELP tsl_admin_requests_total Issuer API answers by status.\n"
      "# TYPE tsl_admin_requests_total counter\n");
    for (int k = 0; k < TSLP_A_N; k++)
        P("tsl_admin_requests_total{code=\"%s\"} %llu\n", codes[k],
          (unsigned long long)atomic_load(&a->answers[k]));
    uint64_t commits, ops, queued, qrefused, failed, lim_addr, lim_key;
    tslp_committer_counts(a->committer, &commits, &ops, &queued, &qrefused);
    tslp_auth_counts(a->auth, &failed, &lim_addr, &lim_key);
    P("# HELP tsl_admin_commits_total Write transactions of the group committer.\n"
      "# TYPE tsl_admin_commits_total counter\n"
      "tsl_admin_commits_total %llu\n"
      "# HELP tsl_admin_commit_ops_total Allocations and updates committed in them.\n"
      "# TYPE tsl_admin_commit_ops_total counter\n"
      "tsl_admin_commit_ops_total %llu\n"
      "# HELP tsl_admin_commit_queue Ops waiting for the committer.\n"
      "# TYPE tsl_admin_commit_queue gauge\n"
      "tsl_admin_commit_queue %llu\n"
      "# HELP tsl_admin_commit_refused_total Ops refused because the queue was full.\n"
      "# TYPE tsl_admin_commit_refused_total counter\n"
      "tsl_admin_commit_refused_total %llu\n",
      (unsigned long long)commits, (unsigned long long)ops, (unsigned long long)queued,
      (unsigned long long)qrefused);
    P("# HELP tsl_admin_allocated_total Indices allocated (replays not counted).\n"
      "# TYPE tsl_admin_allocated_total counter\n"
      "tsl_admin_allocated_total %llu\n"
      "# HELP tsl_admin_idempotent_replays_total Allocations answered from an "
      "Idempotency-Key.\n"
      "# TYPE tsl_admin_idempotent_replays_total counter\n"
      "tsl_admin_idempotent_replays_total %llu\n"
      "# HELP tsl_admin_changed_total Entries whose status changed.\n"
      "# TYPE tsl_admin_changed_total counter\n"
      "tsl_admin_changed_total %llu\n"
      "# HELP tsl_admin_publishes_total Publications through the API.\n"
      "# TYPE tsl_admin_publishes_total counter\n"
      "tsl_admin_publishes_total %llu\n",
      (unsigned long long)atomic_load(&a->allocated),
      (unsigned long long)atomic_load(&a->replays),
      (unsigned long long)atomic_load(&a->changes),
      (unsigned long long)atomic_load(&a->publishes));
    P("# HELP tsl_admin_auth_failed_total Failed authentications.\n"
      "# TYPE tsl_admin_auth_failed_total counter\n"
      "tsl_admin_auth_failed_total %llu\n"
      "# HELP tsl_admin_rate_limited_total Requests refused by a rate limit.\n"
      "# TYPE tsl_admin_rate_limited_total counter\n"
      "tsl_admin_rate_limited_total{limit=\"address\"} %llu\n"
      "tsl_admin_rate_limited_total{limit=\"key\"} %llu\n",
      (unsigned long long)failed, (unsigned long long)lim_addr,
      (unsigned long long)lim_key);
    if (r != TSL_OK) {
        tslp_buf_free(b);
        return r;
    }
    size_t len;
    *out = (char *)tslp_buf_take_text(b, &len);
    tslp_buf_free(b);
    return *out != NULL ? TSL_OK : tslp_fail(err, TSL_ERR_NOMEM, 0, "out of memory");
}
