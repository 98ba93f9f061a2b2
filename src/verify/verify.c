/* verify.c - the relying party's status check (spec section 8.3): validate a Referenced
 * Token, resolve its Status List Token (offline tokens, then a memory and optional disk
 * cache, then a fetch), verify that token against the Referenced Token's uri and read
 * the entry. One verifier may be used from several threads: its cache sits behind a
 * mutex, which is never held during a fetch or a signature check. */
#include "crypto/crypto.h"
#include "verify/disk_cache.h"
#include "verify/fetch_int.h"
#include "verify/idlist_int.h"
#include "token/token_int.h"
#include "core/tsl_int.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define ACCEPT_CWT_FIRST TSL_MEDIA_CWT ", " TSL_MEDIA_JWT ";q=0.9"
#define ACCEPT_JWT_FIRST TSL_MEDIA_JWT ", " TSL_MEDIA_CWT ";q=0.9"

/* A verified Status List Token kept for a request key (the uri, with ?time= when
 * asked for a point in time). */
typedef struct entry {
    struct entry *next;
    char *key;
    tsl_token *tok;
    int64_t valid_until; /* used while now < valid_until */
} entry;

/* A token supplied offline: parsed now, verified at each use. */
typedef struct offline {
    struct offline *next;
    tsl_token *tok;
} offline;

struct tsl_verifier {
    tsl_verifier_opts o; /* fetch_ctx points at cfg when o.fetch was NULL; its strings
                          * point at our copies in owned[] */
    char *owned[4];      /* eku_oid, kb_aud, ca_file, cache_dir, or NULL */
    int cache_fd;        /* the checked cache directory (o.cache_dir), or -1 */
    tslp_fetch_cfg cfg;
    pthread_mutex_t mu;
    offline *offline;
    entry *cache;
    tslp_idl_cache *idl; /* verified identifier lists (idlist_check.c) */
};

static int64_t now_or(int64_t now)
{
    return now != 0 ? now : (int64_t)time(NULL);
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s);
    char *d = tslp_malloc(n + 1);
    if (d != NULL)
        memcpy(d, s, n + 1);
    return d;
}

/* Replaces the caller's string *field (if any) by a copy the verifier owns, in a free
 * slot of v->owned: the caller's may go away. false when memory ran out. */
static bool own_copy(tsl_verifier *v, const char **field)
{
    if (*field == NULL)
        return true;
    size_t k = 0;
    while (v->owned[k] != NULL)
        k++;
    if ((v->owned[k] = dup_str(*field)) == NULL)
        return false;
    *field = v->owned[k];
    return true;
}

/* Frees the verifier's own strings, its cache directory handle and the verifier (not
 * its lists or lock). */
static void release(tsl_verifier *v)
{
    for (size_t k = 0; k < sizeof v->owned / sizeof v->owned[0]; k++)
        tslp_free(v->owned[k]);
    if (v->cache_fd >= 0)
        close(v->cache_fd);
    tslp_free(v);
}

/* The test hook declared in fetch_int.h: NULL in normal use. */
void (*tslp_verify_offline_hook)(void);

tsl_status tsl_verifier_new(const tsl_verifier_opts *o, tsl_verifier **out, tsl_error *err)
{
    if (out == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "verifier: NULL argument");
    tsl_verifier *v = tslp_calloc(1, sizeof *v);
    if (v == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "verifier: out of memory");
    v->cache_fd = -1;
    if (o != NULL)
        v->o = *o;
    if (v->o.min_cache < 0 || v->o.max_cache < 0 ||
        (v->o.min_cache > 0 && v->o.max_cache > 0 && v->o.min_cache > v->o.max_cache)) {
        tslp_free(v);
        return tslp_fail(err, TSL_ERR_ARG, 0, "verifier: min_cache above max_cache");
    }
    /* min_cache 0 is no floor: a token is never used past its ttl. */
    if (v->o.max_cache == 0)
        v->o.max_cache = TSLP_VERIFY_DEFAULT_MAX_CACHE;
    if (v->o.min_cache > v->o.max_cache)
        v->o.min_cache = v->o.max_cache;
    if (v->o.max_body == 0)
        v->o.max_body = TSLP_VERIFY_DEFAULT_MAX_BODY;
    if (v->o.timeout_ms <= 0)
        v->o.timeout_ms = TSLP_VERIFY_DEFAULT_TIMEOUT_MS;
    if (v->o.max_redirects == 0)
        v->o.max_redirects = TSLP_VERIFY_DEFAULT_MAX_REDIRECTS;
    v->o.policy.skew = tslp_policy_skew(&v->o.policy);
    if (v->o.kb_max_age < 0)
        v->o.kb_max_age = 0;
    if (!own_copy(v, &v->o.policy.eku_oid) || !own_copy(v, &v->o.kb_aud) ||
        !own_copy(v, &v->o.ca_file) || !own_copy(v, &v->o.cache_dir))
        goto nomem;
    if (v->o.cache_dir != NULL) {
        tsl_status st = tslp_disk_open(v->o.cache_dir, &v->cache_fd, err);
        if (st != TSL_OK) {
            release(v);
            return st;
        }
    }
    v->cfg.allow_http = v->o.allow_http;
    v->cfg.max_body = v->o.max_body;
    v->cfg.timeout_ms = v->o.timeout_ms;
    v->cfg.max_redirects = v->o.max_redirects < 0 ? -1 : v->o.max_redirects;
    v->cfg.ca_file = v->o.ca_file;
    if (v->o.fetch == NULL) {
        v->o.fetch = tslp_fetch_curl;
        v->o.fetch_ctx = &v->cfg;
        tslp_fetch_global_init();
    }
    if ((v->idl = tslp_idl_cache_new()) == NULL)
        goto nomem;
    if (pthread_mutex_init(&v->mu, NULL) != 0) {
        tslp_idl_cache_free(v->idl);
        goto nomem;
    }
    *out = v;
    return TSL_OK;
nomem:
    release(v);
    return tslp_fail(err, TSL_ERR_NOMEM, 0, "verifier: out of memory");
}

void tsl_verifier_free(tsl_verifier *v)
{
    if (v == NULL)
        return;
    for (offline *f = v->offline, *n; f != NULL; f = n) {
        n = f->next;
        tsl_token_free(f->tok);
        tslp_free(f);
    }
    for (entry *e = v->cache, *n; e != NULL; e = n) {
        n = e->next;
        tsl_token_free(e->tok);
        tslp_free(e->key);
        tslp_free(e);
    }
    tslp_idl_cache_free(v->idl);
    pthread_mutex_destroy(&v->mu);
    release(v);
}

tsl_status tsl_verifier_add_list_token(tsl_verifier *v, const uint8_t *tok, size_t len,
                                       tsl_error *err)
{
    if (v == NULL || tok == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "verifier: NULL argument");
    offline *f = tslp_calloc(1, sizeof *f);
    if (f == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "verifier: out of memory");
    tsl_status st = tsl_token_parse(tok, len, &v->o.limits, &f->tok, err);
    if (st != TSL_OK) {
        tslp_free(f);
        /* Not a Status List Token: an identifier list (ISO 18013-5) is the other kind a
         * verifier follows. When it is neither, the first error says why. */
        tsl_idlist *l = NULL;
        if (tsl_idlist_parse(tok, len, &v->o.limits, &l, NULL) == TSL_OK)
            return tslp_idl_add_offline(v->idl, l, err);
        tslp_error_prefix(err, "list token (nor an identifier list)");
        return st;
    }
    pthread_mutex_lock(&v->mu);
    f->next = v->offline;
    v->offline = f;
    pthread_mutex_unlock(&v->mu);
    return TSL_OK;
}

/* Checks a parsed Status List Token for uri at now: signature, typ, sub, and the time
 * claims (tslp_token_verify_at): against the clock, or with `at` != 0 (a historical
 * check) iat <= at <= exp, where a token without exp cannot prove the time. */
static tsl_status check_token(const tsl_verifier *v, const tsl_token *t, const char *uri,
                              int64_t now, int64_t at, tsl_error *err)
{
    tsl_verify_opts vo;
    memset(&vo, 0, sizeof vo);
    vo.policy = v->o.policy;
    vo.policy.now = now;
    vo.sub = uri;
    if (at != 0 && !tsl_token_exp(t, NULL))
        return tslp_fail(err, TSL_ERR_CLAIM, 0,
                         "status list token: no exp, so it cannot cover time %lld",
                         (long long)at);
    tsl_status st = tslp_token_verify_at(t, &vo, at, err);
    if (st != TSL_OK)
        tslp_error_prefix(err, "status list token");
    return st;
}

/* How long a token fetched at `fetched` may be used (spec section 13.7): ttl, else
 * exp - now, cut to max_cache and never past exp. ttl is the most a consumer should
 * cache, so no default floor extends it; only an explicit min_cache does, at the
 * documented cost of missing revocations for that long. HTTP caching headers are not
 * consulted, so they never extend it. */
static int64_t valid_until(const tsl_verifier *v, const tsl_token *t, int64_t fetched)
{
    int64_t ttl, exp, life;
    int has_exp = tsl_token_exp(t, &exp);
    if (tsl_token_ttl(t, &ttl))
        life = ttl;
    else if (has_exp)
        life = exp - fetched;
    else
        life = v->o.max_cache;
    if (life < v->o.min_cache)
        life = v->o.min_cache;
    if (life > v->o.max_cache)
        life = v->o.max_cache;
    if (life < 0)
        life = 0;
    int64_t until = fetched + life;
    if (has_exp && exp < until)
        until = exp;
    return until;
}

/* Reads the entry of a verified token into res (caller holds what keeps t alive). */
static tsl_status read_entry(const tsl_token *t, uint64_t idx, tsl_check_result *res,
                             tsl_error *err)
{
    const tsl_list *l = tsl_token_list(t);
    unsigned value;
    if (tsl_list_get(l, idx, &value, NULL) != TSL_OK)
        return tslp_fail(err, TSL_ERR_INDEX, 0,
                         "index %llu is outside the list (%llu entries)",
                         (unsigned long long)idx, (unsigned long long)tsl_list_size(l));
    res->value = value;
    res->determined = 1;
    return TSL_OK;
}

/* ---- the disk cache (verify/disk_cache.c): the raw token, parsed and checked again
 * when loaded ---- */

/* Loads, parses and re-verifies a token from the disk cache; NULL when there is none
 * usable (a bad entry is ignored: it is only a cache). */
static tsl_token *disk_load(const tsl_verifier *v, const char *key, const char *uri,
                            int64_t now, int64_t at, int64_t *until)
{
    size_t len = 0;
    int64_t fetched = 0;
    uint8_t *buf = tslp_disk_load(v->cache_fd, key, v->o.max_body, &len, &fetched);
    if (buf == NULL)
        return NULL;
    tsl_token *t = NULL;
    if (tsl_token_parse(buf, len, &v->o.limits, &t, NULL) != TSL_OK)
        t = NULL;
    else if (check_token(v, t, uri, now, at, NULL) != TSL_OK ||
             now >= (*until = valid_until(v, t, fetched))) {
        tsl_token_free(t);
        t = NULL;
    }
    tslp_free(buf);
    return t;
}

/* ---- the memory cache (callers hold v->mu) ---- */

static entry *cache_find(tsl_verifier *v, const char *key)
{
    for (entry *e = v->cache; e != NULL; e = e->next)
        if (strcmp(e->key, key) == 0)
            return e;
    return NULL;
}

/* Puts tok (adopted) under key, replacing an older entry, and drops the other entries
 * that expired by now, so a long-lived verifier does not grow without bound. On
 * failure tok is freed. */
static void cache_put(tsl_verifier *v, const char *key, tsl_token *tok, int64_t until,
                      int64_t now)
{
    for (entry **pp = &v->cache; *pp != NULL;) {
        entry *old = *pp;
        if (old->valid_until <= now && strcmp(old->key, key) != 0) {
            *pp = old->next;
            tsl_token_free(old->tok);
            tslp_free(old->key);
            tslp_free(old);
        } else {
            pp = &old->next;
        }
    }
    entry *e = cache_find(v, key);
    if (e != NULL) {
        tsl_token_free(e->tok);
        e->tok = tok;
        e->valid_until = until;
        return;
    }
    e = tslp_calloc(1, sizeof *e);
    if (e == NULL || (e->key = dup_str(key)) == NULL) {
        tslp_free(e);
        tsl_token_free(tok);
        return;
    }
    e->tok = tok;
    e->valid_until = until;
    e->next = v->cache;
    v->cache = e;
}

/* ---- fetching ---- */

/* The media type of a Content-Type value (parameters and white space dropped):
 * TSL_FORMAT_JWT, TSL_FORMAT_CWT or 0. */
static int media_format(const char *ct)
{
    if (ct == NULL)
        return 0;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    size_t n = strcspn(ct, "; \t");
    if (n == strlen(TSL_MEDIA_JWT) && strncasecmp(ct, TSL_MEDIA_JWT, n) == 0)
        return TSL_FORMAT_JWT;
    if (n == strlen(TSL_MEDIA_CWT) && strncasecmp(ct, TSL_MEDIA_CWT, n) == 0)
        return TSL_FORMAT_CWT;
    return 0;
}

/* Fetches, parses and checks the Status List Token for uri. *stage says which part
 * failed: the response (TSL_STAGE_FETCH) or the token in it (TSL_STAGE_LIST_TOKEN). */
static tsl_status fetch_token(tsl_verifier *v, const char *url, const char *uri,
                              tsl_ref_kind kind, int64_t now, int64_t at, tsl_token **out,
                              uint8_t **raw, size_t *raw_len, tsl_check_stage *stage,
                              tsl_error *err)
{
    *stage = TSL_STAGE_FETCH;
    const char *accept = (kind == TSL_REF_CWT || kind == TSL_REF_MDOC) ? ACCEPT_CWT_FIRST
                                                                       : ACCEPT_JWT_FIRST;
    uint8_t *body = NULL;
    size_t len = 0;
    char *ct = NULL;
    tsl_status st = v->o.fetch(v->o.fetch_ctx, url, accept, &body, &len, &ct, err);
    if (st != TSL_OK)
        return st;
    if (len > v->o.max_body) {
        st = tslp_fail(err, TSL_ERR_LIMIT, 0, "fetch: body of %zu bytes over %zu", len,
                       v->o.max_body);
        goto out;
    }
    int form = media_format(ct);
    if (form == 0) {
        st = tslp_fail(err, TSL_ERR_UNSUPPORTED, 0,
                       "fetch: Content-Type \"%.100s\" is not a Status List Token type",
                       ct ? ct : "");
        goto out;
    }
    tsl_token *t = NULL;
    *stage = TSL_STAGE_LIST_TOKEN;
    st = tsl_token_parse(body, len, &v->o.limits, &t, err);
    if (st != TSL_OK) {
        tslp_error_prefix(err, "status list token");
        goto out;
    }
    if ((int)tsl_token_format(t) != form) {
        *stage = TSL_STAGE_FETCH; /* the response contradicts itself */
        tsl_token_free(t);
        st = tslp_fail(err, TSL_ERR_MALFORMED, 0,
                       "fetch: Content-Type says %s but the body is a %s",
                       form == TSL_FORMAT_JWT ? "JWT" : "CWT",
                       form == TSL_FORMAT_JWT ? "CWT" : "JWT");
        goto out;
    }
    st = check_token(v, t, uri, now, at, err);
    if (st != TSL_OK) {
        tsl_token_free(t);
        goto out;
    }
    *out = t;
    *raw = body;
    *raw_len = len;
    body = NULL;
out:
    tsl_free(body);
    tsl_free(ct);
    return st;
}

tsl_status tsl_verifier_check(tsl_verifier *v, const uint8_t *token, size_t len,
                              int64_t now, int64_t time, tsl_check_result *res,
                              tsl_error *err)
{
    tsl_check_opts co;
    memset(&co, 0, sizeof co);
    co.now = now;
    co.time = time;
    return tsl_verifier_check_opts(v, token, len, &co, res, err);
}

tsl_status tsl_verifier_check_opts(tsl_verifier *v, const uint8_t *token, size_t len,
                                   const tsl_check_opts *co, tsl_check_result *res,
                                   tsl_error *err)
{
    static const tsl_check_opts none;
    if (co == NULL)
        co = &none;
    int64_t now = co->now, time = co->time;
    if (v == NULL || token == NULL || res == NULL || time < 0)
        return tslp_fail(err, TSL_ERR_ARG, 0, "verifier: bad argument");
    memset(res, 0, sizeof *res);
    now = now_or(now != 0 ? now : v->o.policy.now);

    /* Step 0: the Referenced Token itself; an invalid one stops here. `stage` follows
     * the steps below, and is what res->stage reports if one of them fails. */
    tsl_check_stage stage = TSL_STAGE_REFERENCED_TOKEN;
    tsl_ref_opts ro;
    memset(&ro, 0, sizeof ro);
    ro.policy = v->o.policy;
    ro.policy.now = now;
    ro.require_kb = v->o.require_kb;
    ro.kb_aud = co->kb_aud != NULL ? co->kb_aud : v->o.kb_aud;
    ro.kb_nonce = co->kb_nonce;
    ro.kb_max_age = v->o.kb_max_age;
    tsl_ref *ref = NULL;
    tsl_status st = tsl_ref_parse(token, len, &v->o.limits, &ro, &ref, err);
    if (st != TSL_OK) {
        res->stage = stage;
        return st;
    }
    res->kind = tsl_ref_kind_of(ref);
    /* An mdoc's identifier list (idlist_check.c) first: alone, it is the answer; beside
     * a status list, both are followed and must agree (README "Identifier lists"). */
    int listed = -1;
    if (tsl_ref_idlist_uri(ref) != NULL) {
        if (time != 0) {
            st = tslp_fail(err, TSL_ERR_UNSUPPORTED, 0, "identifier list: no status at a "
                           "past time (?time=) is defined for it");
            res->stage = TSL_STAGE_FETCH;
            tsl_ref_free(ref);
            return st;
        }
        st = tslp_idl_check(v->idl, v->cache_fd, &v->o, ref, now, &listed, res, &stage,
                           err);
        if (st == TSL_OK && tsl_ref_uri(ref) == NULL) {
            snprintf(res->uri, sizeof res->uri, "%s", tsl_ref_idlist_uri(ref));
            res->listed = listed;
            res->value = listed ? TSL_STATUS_INVALID : TSL_STATUS_VALID;
            res->determined = 1;
        }
        if (st != TSL_OK || tsl_ref_uri(ref) == NULL) {
            res->stage = st == TSL_OK ? TSL_STAGE_NONE : stage;
            tsl_ref_free(ref);
            return st;
        }
        res->listed = listed;
        stage = TSL_STAGE_REFERENCED_TOKEN;
    }
    const char *uri = tsl_ref_uri(ref);
    uint64_t idx = tsl_ref_idx(ref);
    snprintf(res->uri, sizeof res->uri, "%s", uri); /* fits: tsl_ref_parse caps it */
    res->idx = idx;

    /* The request key: the uri, with the time parameter when one is asked for. */
    size_t ul = strlen(uri);
    stage = TSL_STAGE_FETCH;
    char *url = tslp_malloc(ul + 32);
    if (url == NULL) {
        tsl_ref_free(ref);
        res->stage = stage;
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "verifier: out of memory");
    }
    if (time != 0)
        snprintf(url, ul + 32, "%s%ctime=%lld", uri, strchr(uri, '?') ? '&' : '?',
                 (long long)time);
    else
        memcpy(url, uri, ul + 1);

    /* 1. Offline tokens whose sub is the uri. They are only ever prepended, and never
     * changed or freed before the verifier, so once the head is read under the lock the
     * list can be walked without it: the signature and chain checks of several threads
     * run at once. */
    pthread_mutex_lock(&v->mu);
    offline *head = v->offline;
    pthread_mutex_unlock(&v->mu);
    int matched = 0;
    tsl_error oerr;
    tsl_error_clear(&oerr);
    for (offline *f = head; f != NULL; f = f->next) {
        if (strcmp(tsl_token_sub(f->tok), uri) != 0)
            continue;
        matched = 1;
        tsl_error_clear(&oerr);
        if (tslp_verify_offline_hook != NULL)
            tslp_verify_offline_hook();
        stage = TSL_STAGE_LIST_TOKEN;
        st = check_token(v, f->tok, uri, now, time, &oerr);
        if (st == TSL_OK) {
            stage = TSL_STAGE_STATUS;
            st = read_entry(f->tok, idx, res, err);
            goto done;
        }
    }
    if (matched) {
        if (err != NULL && err->code == TSL_OK)
            *err = oerr;
        goto done;
    }

    /* 2. The memory cache, then the disk cache. */
    pthread_mutex_lock(&v->mu);
    entry *e = cache_find(v, url);
    if (e != NULL && now < e->valid_until) {
        res->from_cache = 1;
        stage = TSL_STAGE_STATUS;
        st = read_entry(e->tok, idx, res, err);
        pthread_mutex_unlock(&v->mu);
        goto done;
    }
    pthread_mutex_unlock(&v->mu);
    if (v->cache_fd >= 0) {
        int64_t until = 0;
        tsl_token *t = disk_load(v, url, uri, now, time, &until);
        if (t != NULL) {
            res->from_cache = 1;
            stage = TSL_STAGE_STATUS;
            pthread_mutex_lock(&v->mu);
            st = read_entry(t, idx, res, err);
            cache_put(v, url, t, until, now);
            pthread_mutex_unlock(&v->mu);
            goto done;
        }
    }

    /* 3. Fetch. */
    {
        tsl_token *t = NULL;
        uint8_t *raw = NULL;
        size_t raw_len = 0;
        res->fetched = 1;
        st = fetch_token(v, url, uri, res->kind, now, time, &t, &raw, &raw_len, &stage, err);
        if (st != TSL_OK)
            goto done;
        stage = TSL_STAGE_STATUS;
        int64_t until = valid_until(v, t, now);
        if (v->cache_fd >= 0)
            tslp_disk_store(v->cache_fd, url, raw, raw_len, now);
        tsl_free(raw);
        pthread_mutex_lock(&v->mu);
        st = read_entry(t, idx, res, err);
        cache_put(v, url, t, until, now);
        pthread_mutex_unlock(&v->mu);
    }
done:
    /* Both mechanisms: a status other than VALID and a listed id must go together;
     * when they do not, the mdoc is rejected (fail closed), its status undetermined. */
    if (st == TSL_OK && listed >= 0 && (res->value != TSL_STATUS_VALID) != (listed != 0)) {
        stage = TSL_STAGE_STATUS;
        res->determined = 0;
        st = tslp_fail(err, TSL_ERR_CLAIM, 0,
                       "the MSO's status mechanisms disagree: the status list says %s, the "
                       "identifier list %s the id; rejected (fail closed)",
                       tsl_status_name(res->value), listed ? "lists" : "does not list");
    }
    res->stage = st == TSL_OK ? TSL_STAGE_NONE : stage;
    tslp_free(url);
    tsl_ref_free(ref);
    return st;
}

/* ---------------------------------------------------------------------------------- */
/* A check's outcome as JSON                                                          */

static const char *ref_kind_name(tsl_ref_kind k)
{
    switch (k) {
    case TSL_REF_JWT: return "jwt";
    case TSL_REF_SDJWT: return "sd-jwt";
    case TSL_REF_CWT: return "cwt";
    case TSL_REF_MDOC: return "mdoc";
    }
    return "unknown";
}

/* The stage's name, the name of its step where they correspond. */
static const char *stage_name(tsl_check_stage s)
{
    switch (s) {
    case TSL_STAGE_NONE: break;
    case TSL_STAGE_REFERENCED_TOKEN: return "referenced_token";
    case TSL_STAGE_FETCH: return "fetch";
    case TSL_STAGE_LIST_TOKEN: return "status_list_token";
    case TSL_STAGE_STATUS: return "index";
    }
    return "none";
}

static json_t *step(const char *name, int ok, const char *detail)
{
    json_t *o = json_pack("{s:s,s:b}", "step", name, "ok", ok);
    if (o != NULL && detail != NULL)
        json_object_set_new(o, "detail", json_string(detail));
    return o;
}

tsl_status tsl_check_result_json(tsl_status st, const tsl_check_result *r,
                                 const tsl_error *cerr, char **out, tsl_error *err)
{
    if (r == NULL || out == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "check result: NULL argument");
    const char *why = cerr != NULL ? cerr->msg : "";
    json_t *o = json_object();
    json_t *steps = json_array();
    char *text = NULL;
    if (o != NULL && steps != NULL) {
        int ref_ok = r->kind != 0;
        json_array_append_new(steps, step("referenced_token", ref_ok, ref_ok ? NULL : why));
        if (ref_ok) {
            json_object_set_new(o, "kind", json_string(ref_kind_name(r->kind)));
            json_object_set_new(o, "uri", json_string(r->uri));
            json_object_set_new(o, "idx", json_integer((json_int_t)r->idx));
            const char *src = r->from_cache ? "cache" : r->fetched ? "fetch" : "offline";
            int lt_ok = st == TSL_OK || r->stage == TSL_STAGE_STATUS;
            json_t *s = step("status_list_token", lt_ok, lt_ok ? NULL : why);
            json_object_set_new(s, "source", json_string(src));
            json_array_append_new(steps, s);
            if (lt_ok)
                json_array_append_new(steps, step("index", st == TSL_OK,
                                                  st == TSL_OK ? NULL : why));
        }
        json_object_set_new(o, "steps", steps);
        steps = NULL;
        if (ref_ok && r->idlist)
            json_object_set_new(o, "identifier_list", json_pack("{s:b}", "listed",
                                                                r->listed));
        if (st == TSL_OK && r->determined) {
            json_object_set_new(o, "value", json_integer(r->value));
            json_object_set_new(o, "status", json_string(tsl_status_name(r->value)));
        } else {
            json_object_set_new(o, "error", json_string(tsl_strerror(st)));
            json_object_set_new(o, "stage", json_string(stage_name(r->stage)));
        }
        text = json_dumps(o, JSON_COMPACT);
    }
    json_decref(steps);
    json_decref(o);
    *out = text != NULL ? tslp_strndup(text, strlen(text)) : NULL;
    free(text);
    return *out != NULL ? TSL_OK : tslp_fail(err, TSL_ERR_NOMEM, 0, "check result: out of memory");
}
