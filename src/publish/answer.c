/* answer.c - the publisher's one answering call (tsl_publish_answer): a request, given
 * as method, path, `time` and the headers that matter, answered from an immutable
 * snapshot with a status, headers and a body, with no socket in sight. The rules of
 * spec section 8 and RFC 9110: content negotiation (Accept with q-values, 406 naming the
 * available types), gzip by Accept-Encoding, conditional requests (If-None-Match, else
 * If-Modified-Since: 304), caching (max-age, ETag, Last-Modified), history (?time=),
 * the aggregation document, OPTIONS preflight, 405, CORS and Vary. Bodies are borrowed
 * from the snapshot (the response holds a reference) or static; only a history token
 * is owned. `tsl serve` translates libmicrohttpd requests to this call; tests drive it
 * directly. */
#include "publish/publish_int.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define ALLOW_METHODS "GET, HEAD, OPTIONS"
#define EXPOSE_HEADERS "ETag, Last-Modified"
#define ALLOW_HEADERS "If-None-Match, If-Modified-Since"
#define PREFLIGHT_MAX_AGE "86400"
#define VARY "Accept, Accept-Encoding"
#define TEXT_TYPE "text/plain; charset=utf-8"
/* How long caches may keep the aggregation document: it changes when lists come or go. */
#define AGG_CACHE "public, max-age=60"
/* Retry-After of a ?time= answer while the store is unreachable: the publisher tries to
 * reconnect at least every 2 s (publisher.c, RECONNECT_MAX_MS). */
#define STORE_RETRY_AFTER "5"

static void add(tsl_http_response *r, const char *name, const char *value)
{
    if (r->nheaders < TSL_HTTP_MAX_HEADERS)
        r->headers[r->nheaders++] = (tsl_http_header){name, value};
}

/* Status and the headers every answer carries (CORS). */
static void start(tsl_http_response *r, unsigned status, tsl_answer_kind kind)
{
    r->status = status;
    r->kind = kind;
    add(r, "Access-Control-Allow-Origin", "*");
    add(r, "Access-Control-Expose-Headers", EXPOSE_HEADERS);
}

/* A short answer of static text; vary: it depends on the request's Accept headers. */
static void text(tsl_http_response *r, unsigned status, const char *body, bool vary)
{
    start(r, status, TSL_ANSWER_NONE);
    r->body = (const uint8_t *)body;
    r->body_len = strlen(body);
    add(r, "Content-Type", TEXT_TYPE);
    if (vary)
        add(r, "Vary", VARY);
    if (status == 405)
        add(r, "Allow", ALLOW_METHODS);
}

static void preflight(tsl_http_response *r)
{
    start(r, 204, TSL_ANSWER_NONE);
    r->body = (const uint8_t *)"";
    add(r, "Access-Control-Allow-Methods", ALLOW_METHODS);
    add(r, "Access-Control-Allow-Headers", ALLOW_HEADERS);
    add(r, "Access-Control-Max-Age", PREFLIGHT_MAX_AGE);
    add(r, "Allow", ALLOW_METHODS);
}

/* If-None-Match (RFC 9110 section 13.1.2): "*" or a list of entity tags, compared
 * weakly. */
static bool etag_listed(const char *inm, const char *etag)
{
    size_t elen = strlen(etag);
    const char *p = inm;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (*p == '\0')
            return false;
        if (*p == '*')
            return true;
        if (p[0] == 'W' && p[1] == '/')
            p += 2;
        if (*p == '"') {
            const char *q = strchr(p + 1, '"');
            if (q == NULL)
                return false;
            if ((size_t)(q + 1 - p) == elen && memcmp(p, etag, elen) == 0)
                return true;
            p = q + 1;
        } else {
            p += strcspn(p, ",");
        }
    }
}

/* If-Modified-Since as an IMF-fixdate; other forms are ignored (RFC 9110 allows it). */
static bool parse_http_date(const char *s, int64_t *t)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *end = strptime(s, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    if (end == NULL || *end != '\0')
        return false;
    *t = (int64_t)timegm(&tm);
    return true;
}

/* If-None-Match wins over If-Modified-Since (RFC 9110 section 13.2.2). */
static bool not_modified(const tsl_http_request *rq, const char *etag, int64_t iat)
{
    if (rq->if_none_match != NULL)
        return etag_listed(rq->if_none_match, etag);
    int64_t t;
    return rq->if_modified_since != NULL && parse_http_date(rq->if_modified_since, &t) &&
           iat <= t;
}

/* A token answer (200 with body, or 304): the validators and caching headers. */
static void token(tsl_http_response *r, const tsl_http_request *rq, int fmt, bool idl,
                  const uint8_t *body, size_t len, bool gz, const char *etag,
                  const char *lastmod, int64_t iat, int64_t ttl, int64_t exp)
{
    bool nm = not_modified(rq, etag, iat);
    start(r, nm ? 304 : 200, fmt == TSL_FORMAT_CWT ? TSL_ANSWER_CWT : TSL_ANSWER_JWT);
    if (!nm) {
        r->body = body;
        r->body_len = len;
        add(r, "Content-Type", idl                     ? TSL_MEDIA_IDLIST
                               : fmt == TSL_FORMAT_CWT ? TSL_MEDIA_CWT
                                                       : TSL_MEDIA_JWT);
        if (gz)
            add(r, "Content-Encoding", "gzip");
    } else {
        r->body = (const uint8_t *)"";
    }
    snprintf(r->cache_, sizeof r->cache_, "public, max-age=%lld",
             (long long)tsl_publish_max_age(ttl, exp, (int64_t)time(NULL)));
    add(r, "ETag", etag);
    add(r, "Last-Modified", lastmod);
    add(r, "Cache-Control", r->cache_);
    add(r, "Vary", VARY);
}

/* The current token, borrowed from the snapshot. */
static void current(tsl_snapshot *s, const tsl_http_request *rq, tsl_http_response *r,
                    const tslp_entry *l, int fmt)
{
    const tslp_form *f = &l->form[fmt - 1];
    /* The gzip variant once it is made (gzipper.c): until then identity, whose ETag
     * differs, so a cache never mixes the two. */
    const tslp_gz *g = fmt == TSL_FORMAT_JWT ? atomic_load(&f->gz) : NULL;
    bool gz = g != NULL && rq->accept_encoding != NULL &&
              tsl_http_accepts_gzip(rq->accept_encoding, strlen(rq->accept_encoding));
    token(r, rq, fmt, l->idl, gz ? g->data : f->body, gz ? g->len : f->len, gz,
          gz ? g->etag : f->etag, f->last_modified, f->iat, l->ttl, f->exp);
    if (r->status == 200) {
        atomic_fetch_add(&s->refs, 1);
        r->ref_ = s;
    }
}

/* The token valid at time t (section 8.4): iat <= t < exp, read through the
 * publisher's history handles, so it never waits for a round. */
static void history(tsl_snapshot *s, const tsl_http_request *rq, tsl_http_response *r,
                    const tslp_entry *l, int fmt, int64_t t)
{
    uint8_t *tok = NULL;
    size_t len = 0;
    int64_t iat = 0, exp = 0;
    tsl_error err;
    tsl_error_clear(&err);
    tsl_status st = TSL_ERR_NOT_FOUND;
    if (t > 0) /* at 0 the store means "the newest" */
        st = tslp_publisher_history(s->pub, l->id, (tsl_format)fmt, t, &tok, &len, &iat,
                                    &exp, &err);
    if (st == TSL_OK && !(iat <= t && t < exp)) {
        tsl_free(tok);
        st = TSL_ERR_NOT_FOUND;
    }
    if (st == TSL_ERR_NOT_FOUND) {
        text(r, 404, "no token covers that time\n", true);
        return;
    }
    if (st == TSL_ERR_IO) {
        /* The store is unreachable (a database restarting): the token served covers
         * [iat, exp) and is the newest recorded, so it is the answer for a time in it;
         * any other time needs the store: 503, ask again soon. */
        const tslp_form *f = &l->form[fmt - 1];
        if (f->present && f->iat <= t && t < f->exp) {
            current(s, rq, r, l, fmt);
            return;
        }
        text(r, 503, "history unavailable: the store is unreachable; retry later\n", true);
        add(r, "Retry-After", STORE_RETRY_AFTER);
        return;
    }
    if (st != TSL_OK) {
        tslp_publisher_log(s->pub, "history of list \"%s\": %s", l->id,
                           err.msg[0] ? err.msg : tsl_strerror(st));
        text(r, 500, "history unavailable\n", true);
        return;
    }
    tsl_publish_etag(tok, len, r->etag_);
    tsl_http_date(iat, r->date_);
    token(r, rq, fmt, l->idl, tok, len, false, r->etag_, r->date_, iat, l->ttl, exp);
    if (r->status == 200)
        r->owned_ = tok;
    else
        tsl_free(tok);
}

static void aggregation(tsl_snapshot *s, const tsl_http_request *rq, tsl_http_response *r)
{
    if (rq->if_none_match != NULL && etag_listed(rq->if_none_match, s->agg_etag)) {
        start(r, 304, TSL_ANSWER_JSON);
        r->body = (const uint8_t *)"";
    } else {
        start(r, 200, TSL_ANSWER_JSON);
        r->body = (const uint8_t *)s->agg;
        r->body_len = s->agg_len;
        atomic_fetch_add(&s->refs, 1);
        r->ref_ = s;
        add(r, "Content-Type", "application/json");
    }
    add(r, "ETag", s->agg_etag);
    add(r, "Cache-Control", AGG_CACHE);
}

static void list_request(tsl_snapshot *s, const tsl_http_request *rq, tsl_http_response *r,
                         bool get, bool head, bool options)
{
    const tslp_entry *l = s != NULL ? tslp_snapshot_find(s, rq->path, strlen(rq->path))
                                    : NULL;
    if (l == NULL) {
        text(r, 404, "not found\n", false);
        return;
    }
    if (options) {
        preflight(r);
        return;
    }
    if (!get && !head) {
        text(r, 405, "method not allowed\n", true);
        return;
    }
    int64_t t = 0;
    size_t alen = rq->accept != NULL ? strlen(rq->accept) : 0;
    /* An identifier list has one form of its own media type. */
    int fmt = l->idl ? (tslp_idl_acceptable(rq->accept, alen) ? TSL_FORMAT_CWT : 0)
                     : tsl_http_choose_format(rq->accept, alen, l->formats, s->dflt);
    if (rq->has_time && (s->pub == NULL || !tslp_publisher_has_history(s->pub)))
        text(r, 501, "history (?time=) is not supported\n", true);
    else if (rq->has_time &&
             (rq->time == NULL ||
              tsl_http_parse_time(rq->time, rq->time_len, &t, NULL) != TSL_OK))
        text(r, 400, "time: expected unix seconds\n", true);
    else if ((fmt != TSL_FORMAT_JWT && fmt != TSL_FORMAT_CWT) ||
             !(l->formats & (unsigned)fmt)) /* the helper offered a missing form */
        text(r, 406, l->idl ? "acceptable: " TSL_MEDIA_IDLIST "\n"
                            : tsl_publish_not_acceptable(l->formats), true);
    else if (rq->has_time)
        history(s, rq, r, l, fmt, t);
    else
        current(s, rq, r, l, fmt);
}

void tsl_publish_answer(tsl_snapshot *s, const tsl_http_request *rq, tsl_http_response *r)
{
    memset(r, 0, sizeof *r);
    const char *m = rq->method != NULL ? rq->method : "";
    bool get = strcmp(m, "GET") == 0, head = strcmp(m, "HEAD") == 0;
    bool options = strcmp(m, "OPTIONS") == 0;
    const char *path = rq->path != NULL ? rq->path : "";
    if (s != NULL && s->pub != NULL && tslp_publisher_reserved(s->pub, path)) {
        /* The server's own path (/healthz, say): only the method rules are ours. */
        if (options)
            preflight(r);
        else if (!get && !head)
            text(r, 405, "method not allowed\n", false);
        return;
    }
    if (s == NULL || s->agg_path == NULL || strcmp(path, s->agg_path) != 0) {
        tsl_http_request q = *rq;
        q.path = path;
        list_request(s, &q, r, get, head, options);
    } else if (options) {
        preflight(r);
    } else if (!get && !head) {
        text(r, 405, "method not allowed\n", false);
    } else {
        aggregation(s, rq, r);
    }
}

tsl_status tsl_publish_answer_ops(tsl_publisher *p, tsl_metrics *m, tsl_gate *g,
                                  const tsl_http_request *rq, int64_t now,
                                  tsl_http_response *r, tsl_error *err)
{
    memset(r, 0, sizeof *r);
    if (p == NULL || rq == NULL || rq->method == NULL || rq->path == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "publish answer: no publisher or request");
    bool healthz = strcmp(rq->path, "/healthz") == 0;
    if ((strcmp(rq->method, "GET") != 0 && strcmp(rq->method, "HEAD") != 0) ||
        (!healthz && strcmp(rq->path, "/metrics") != 0))
        return TSL_OK; /* not one of these: status 0 */
    const char *body = NULL;
    char *text = NULL;
    size_t len = 0;
    if (healthz) {
        /* ok, or degraded and since when the store is unreachable (a time, no names). */
        enum { HEALTHZ_BODY = 96 };
        if ((text = tslp_malloc(HEALTHZ_BODY)) == NULL)
            return tslp_fail(err, TSL_ERR_NOMEM, 0, "publish answer: out of memory");
        r->status = tsl_publisher_healthz_text(p, text, HEALTHZ_BODY);
        r->owned_ = (uint8_t *)text;
        body = text;
        len = strlen(body);
    } else {
        tsl_status st = tsl_metrics_text(m, p, g, now, &text, &len, err);
        if (st != TSL_OK)
            return st;
        r->status = 200;
        r->owned_ = (uint8_t *)text;
        body = text;
    }
    r->kind = TSL_ANSWER_NONE;
    r->body = (const uint8_t *)body;
    r->body_len = len;
    add(r, "Content-Type", healthz ? TEXT_TYPE : "text/plain; version=0.0.4");
    add(r, "Cache-Control", "no-store");
    add(r, "Access-Control-Allow-Origin", "*");
    add(r, "Access-Control-Expose-Headers", EXPOSE_HEADERS);
    return TSL_OK;
}

void tsl_http_refusal(unsigned status, const char *why, tsl_http_response *r)
{
    memset(r, 0, sizeof *r);
    r->status = status;
    r->kind = TSL_ANSWER_NONE;
    r->body = (const uint8_t *)why;
    r->body_len = strlen(why);
    add(r, "Content-Type", TEXT_TYPE);
    add(r, "Connection", "close");
    add(r, "Access-Control-Allow-Origin", "*");
    add(r, "Access-Control-Expose-Headers", EXPOSE_HEADERS);
}

void tsl_http_response_free(tsl_http_response *r)
{
    if (r == NULL)
        return;
    tsl_snapshot_release(r->ref_);
    tsl_free(r->owned_);
    r->ref_ = NULL;
    r->owned_ = NULL;
}
