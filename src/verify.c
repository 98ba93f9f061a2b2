/* verify.c - the relying party's status check (spec section 8.3): validate a Referenced
 * Token, resolve its Status List Token (offline tokens, then a memory and optional disk
 * cache, then a fetch), verify that token against the Referenced Token's uri and read
 * the entry. One verifier may be used from several threads: its cache sits behind a
 * mutex, which is never held during a fetch. */
#include "crypto.h"
#include "fetch_int.h"
#include "tsl_int.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_MIN_CACHE 60
#define DEFAULT_MAX_CACHE 86400
#define DEFAULT_MAX_BODY ((size_t)16 << 20)
#define DEFAULT_TIMEOUT_MS 10000L
#define DEFAULT_MAX_REDIRECTS 5
#define DISK_MAGIC "tsl-cache-1 "

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
    tslp_fetch_cfg cfg;
    pthread_mutex_t mu;
    offline *offline;
    entry *cache;
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

/* Frees the verifier's own strings and the verifier (not its lists or lock). */
static void release(tsl_verifier *v)
{
    for (size_t k = 0; k < sizeof v->owned / sizeof v->owned[0]; k++)
        tslp_free(v->owned[k]);
    tslp_free(v);
}

tsl_status tsl_verifier_new(const tsl_verifier_opts *o, tsl_verifier **out, tsl_error *err)
{
    if (out == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "verifier: NULL argument");
    tsl_verifier *v = tslp_calloc(1, sizeof *v);
    if (v == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "verifier: out of memory");
    if (o != NULL)
        v->o = *o;
    if (v->o.min_cache < 0 || v->o.max_cache < 0 ||
        (v->o.min_cache > 0 && v->o.max_cache > 0 && v->o.min_cache > v->o.max_cache)) {
        tslp_free(v);
        return tslp_fail(err, TSL_ERR_ARG, 0, "verifier: min_cache above max_cache");
    }
    if (v->o.min_cache == 0)
        v->o.min_cache = DEFAULT_MIN_CACHE;
    if (v->o.max_cache == 0)
        v->o.max_cache = DEFAULT_MAX_CACHE;
    if (v->o.min_cache > v->o.max_cache)
        v->o.min_cache = v->o.max_cache;
    if (v->o.max_body == 0)
        v->o.max_body = DEFAULT_MAX_BODY;
    if (v->o.timeout_ms <= 0)
        v->o.timeout_ms = DEFAULT_TIMEOUT_MS;
    if (v->o.max_redirects == 0)
        v->o.max_redirects = DEFAULT_MAX_REDIRECTS;
    if (v->o.max_skew < 0)
        v->o.max_skew = 0;
    if (v->o.kb_max_age < 0)
        v->o.kb_max_age = 0;
    if (!own_copy(v, &v->o.eku_oid) || !own_copy(v, &v->o.kb_aud) ||
        !own_copy(v, &v->o.ca_file) || !own_copy(v, &v->o.cache_dir))
        goto nomem;
    if (v->o.cache_dir != NULL && mkdir(v->o.cache_dir, 0700) != 0 && errno != EEXIST) {
        release(v);
        return tslp_fail(err, TSL_ERR_IO, 0, "verifier: cache directory: %s", strerror(errno));
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
    if (pthread_mutex_init(&v->mu, NULL) != 0)
        goto nomem;
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
        tslp_error_prefix(err, "list token");
        tslp_free(f);
        return st;
    }
    pthread_mutex_lock(&v->mu);
    f->next = v->offline;
    v->offline = f;
    pthread_mutex_unlock(&v->mu);
    return TSL_OK;
}

/* Checks a parsed Status List Token for uri at now: signature, typ, sub, exp, iat (by
 * tsl_token_verify), and with `at` != 0 that iat <= at <= exp. */
static tsl_status check_token(const tsl_verifier *v, const tsl_token *t, const char *uri,
                              int64_t now, int64_t at, tsl_error *err)
{
    tsl_verify_opts vo;
    memset(&vo, 0, sizeof vo);
    vo.keys = v->o.keys;
    vo.trust = v->o.trust;
    vo.algs = v->o.algs;
    vo.sub = uri;
    vo.now = now;
    vo.max_skew = v->o.max_skew;
    vo.require_eku = v->o.require_eku;
    vo.eku_oid = v->o.eku_oid;
    tsl_status st = tsl_token_verify(t, &vo, err);
    if (st != TSL_OK) {
        tslp_error_prefix(err, "status list token");
        return st;
    }
    if (at != 0) {
        int64_t exp;
        if (!tsl_token_exp(t, &exp))
            return tslp_fail(err, TSL_ERR_CLAIM, 0,
                             "status list token: no exp, so it cannot cover time %lld",
                             (long long)at);
        if (tsl_token_iat(t) > at || at > exp)
            return tslp_fail(err, TSL_ERR_EXPIRED, 0,
                             "status list token: time %lld outside iat %lld .. exp %lld",
                             (long long)at, (long long)tsl_token_iat(t), (long long)exp);
    }
    return TSL_OK;
}

/* How long a token fetched at `fetched` may be used (section 13.7): ttl, else exp - now,
 * clamped to [min_cache, max_cache], and never past exp. HTTP caching headers are not
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
    if (tsl_list_get(l, idx, &value) != TSL_OK)
        return tslp_fail(err, TSL_ERR_INDEX, 0,
                         "index %llu is outside the list (%llu entries)",
                         (unsigned long long)idx, (unsigned long long)tsl_list_size(l));
    res->value = value;
    res->determined = 1;
    return TSL_OK;
}

/* ---- disk cache: <dir>/<hex SHA-256 of key>, "tsl-cache-1 <fetched>\n" + token ---- */

static tsl_status disk_path(const tsl_verifier *v, const char *key, char **out,
                            tsl_error *err)
{
    uint8_t h[32];
    tsl_status st = tslp_sha256((const uint8_t *)key, strlen(key), h);
    if (st != TSL_OK)
        return tslp_fail(err, st, 0, "cache: SHA-256 failed");
    size_t n = strlen(v->o.cache_dir) + 1 + 64 + 1;
    char *p = tslp_malloc(n);
    if (p == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "cache: out of memory");
    int k = snprintf(p, n, "%s/", v->o.cache_dir);
    for (int i = 0; i < 32; i++)
        k += snprintf(p + k, n - (size_t)k, "%02x", h[i]);
    *out = p;
    return TSL_OK;
}

/* Loads, parses and re-verifies a token from the disk cache; NULL when there is none
 * usable (a bad file is ignored: it is only a cache). */
static tsl_token *disk_load(const tsl_verifier *v, const char *key, const char *uri,
                            int64_t now, int64_t at, int64_t *until)
{
    char *path = NULL;
    if (disk_path(v, key, &path, NULL) != TSL_OK)
        return NULL;
    FILE *f = fopen(path, "rb");
    tslp_free(path);
    if (f == NULL)
        return NULL;
    tsl_token *t = NULL;
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0, max = v->o.max_body + 64;
    for (;;) {
        if (len == cap) {
            cap = cap ? cap * 2 : 8192;
            uint8_t *nb = tslp_realloc(buf, cap);
            if (nb == NULL)
                goto out;
            buf = nb;
        }
        size_t r = fread(buf + len, 1, cap - len, f);
        len += r;
        if (r == 0 || len > max)
            break;
    }
    if (ferror(f) || len > max)
        goto out;
    size_t ml = strlen(DISK_MAGIC);
    uint8_t *nl = len > ml ? memchr(buf, '\n', len) : NULL;
    if (nl == NULL || memcmp(buf, DISK_MAGIC, ml) != 0)
        goto out;
    char *end;
    errno = 0;
    long long fetched = strtoll((const char *)buf + ml, &end, 10);
    if (errno != 0 || end != (char *)nl || fetched <= 0)
        goto out;
    size_t off = (size_t)(nl + 1 - buf);
    if (tsl_token_parse(buf + off, len - off, &v->o.limits, &t, NULL) != TSL_OK) {
        t = NULL;
        goto out;
    }
    if (check_token(v, t, uri, now, at, NULL) != TSL_OK ||
        now >= (*until = valid_until(v, t, (int64_t)fetched))) {
        tsl_token_free(t);
        t = NULL;
    }
out:
    fclose(f);
    tslp_free(buf);
    return t;
}

/* Writes the raw token to the disk cache (best effort: a failure is ignored). */
static void disk_store(const tsl_verifier *v, const char *key, const uint8_t *raw,
                       size_t len, int64_t fetched)
{
    char *path = NULL;
    if (disk_path(v, key, &path, NULL) != TSL_OK)
        return;
    size_t n = strlen(path) + 16;
    char *tmp = tslp_malloc(n);
    if (tmp == NULL) {
        tslp_free(path);
        return;
    }
    snprintf(tmp, n, "%s.tmp%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd >= 0) {
        FILE *f = fdopen(fd, "wb");
        if (f == NULL) {
            close(fd);
        } else {
            int ok = fprintf(f, DISK_MAGIC "%lld\n", (long long)fetched) > 0 &&
                     fwrite(raw, 1, len, f) == len;
            ok = (fclose(f) == 0) && ok;
            if (ok && rename(tmp, path) == 0) {
                tslp_free(tmp);
                tslp_free(path);
                return;
            }
        }
        unlink(tmp);
    }
    tslp_free(tmp);
    tslp_free(path);
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

static tsl_status fetch_token(tsl_verifier *v, const char *url, const char *uri,
                              tsl_ref_kind kind, int64_t now, int64_t at, tsl_token **out,
                              uint8_t **raw, size_t *raw_len, tsl_error *err)
{
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
    st = tsl_token_parse(body, len, &v->o.limits, &t, err);
    if (st != TSL_OK) {
        tslp_error_prefix(err, "status list token");
        goto out;
    }
    if ((int)tsl_token_format(t) != form) {
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
    now = now_or(now);

    /* Step 0: the Referenced Token itself; an invalid one stops here. */
    tsl_ref_opts ro;
    memset(&ro, 0, sizeof ro);
    ro.keys = v->o.keys;
    ro.trust = v->o.trust;
    ro.algs = v->o.algs;
    ro.now = now;
    ro.max_skew = v->o.max_skew;
    ro.require_kb = v->o.require_kb;
    ro.kb_aud = co->kb_aud != NULL ? co->kb_aud : v->o.kb_aud;
    ro.kb_nonce = co->kb_nonce;
    ro.kb_max_age = v->o.kb_max_age;
    tsl_ref *ref = NULL;
    tsl_status st = tsl_ref_parse(token, len, &v->o.limits, &ro, &ref, err);
    if (st != TSL_OK)
        return st;
    const char *uri = tsl_ref_uri(ref);
    uint64_t idx = tsl_ref_idx(ref);
    res->kind = tsl_ref_kind_of(ref);
    snprintf(res->uri, sizeof res->uri, "%s", uri);
    res->idx = idx;

    /* The request key: the uri, with the time parameter when one is asked for. */
    size_t ul = strlen(uri);
    char *url = tslp_malloc(ul + 32);
    if (url == NULL) {
        tsl_ref_free(ref);
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "verifier: out of memory");
    }
    if (time != 0)
        snprintf(url, ul + 32, "%s%ctime=%lld", uri, strchr(uri, '?') ? '&' : '?',
                 (long long)time);
    else
        memcpy(url, uri, ul + 1);

    /* 1. Offline tokens whose sub is the uri. */
    int matched = 0;
    pthread_mutex_lock(&v->mu);
    tsl_error oerr;
    tsl_error_clear(&oerr);
    for (offline *f = v->offline; f != NULL; f = f->next) {
        if (strcmp(tsl_token_sub(f->tok), uri) != 0)
            continue;
        matched = 1;
        tsl_error_clear(&oerr);
        st = check_token(v, f->tok, uri, now, time, &oerr);
        if (st == TSL_OK) {
            st = read_entry(f->tok, idx, res, err);
            pthread_mutex_unlock(&v->mu);
            goto done;
        }
    }
    if (matched) {
        pthread_mutex_unlock(&v->mu);
        if (err != NULL && err->code == TSL_OK)
            *err = oerr;
        goto done;
    }

    /* 2. The memory cache, then the disk cache. */
    entry *e = cache_find(v, url);
    if (e != NULL && now < e->valid_until) {
        res->from_cache = 1;
        st = read_entry(e->tok, idx, res, err);
        pthread_mutex_unlock(&v->mu);
        goto done;
    }
    pthread_mutex_unlock(&v->mu);
    if (v->o.cache_dir != NULL) {
        int64_t until = 0;
        tsl_token *t = disk_load(v, url, uri, now, time, &until);
        if (t != NULL) {
            res->from_cache = 1;
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
        st = fetch_token(v, url, uri, res->kind, now, time, &t, &raw, &raw_len, err);
        if (st != TSL_OK)
            goto done;
        int64_t until = valid_until(v, t, now);
        if (v->o.cache_dir != NULL)
            disk_store(v, url, raw, raw_len, now);
        tsl_free(raw);
        pthread_mutex_lock(&v->mu);
        st = read_entry(t, idx, res, err);
        cache_put(v, url, t, until, now);
        pthread_mutex_unlock(&v->mu);
    }
done:
    tslp_free(url);
    tsl_ref_free(ref);
    return st;
}
