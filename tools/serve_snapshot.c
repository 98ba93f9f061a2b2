/* serve_snapshot.c - the publisher side of `tsl serve`: a thread with its own store
 * handle that, every publish interval, re-signs each list whose statuses changed or
 * whose newest token has used up two thirds of its lifetime, reloads the newest tokens,
 * gzips the JWTs, computes ETags and dates, and swaps in a new immutable snapshot that
 * request threads read under a reference count. A list whose publishing fails keeps its
 * last good tokens; the reason goes to stderr (once per change), /healthz and
 * /metrics. */
#include "serve.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

/* How often a list's key file is checked for being loadable and private. */
#define KEY_CHECK_SECONDS 30
/* The longest wait before retrying a list whose publishing failed. */
#define MAX_BACKOFF_SECONDS 60

/* What the publisher remembers about one list between rounds. */
typedef struct {
    char *id;
    bool seen;              /* in the current round's id list */
    bool have_version;      /* version below is that of the newest token */
    uint64_t version;
    int64_t loaded_iat;     /* last_published when the tokens below were loaded */
    serve_list *entry;      /* the list as served (a reference), or NULL */
    char error[TSL_ERROR_MSG_SIZE + 64]; /* last publish failure, "" if none */
    int64_t retry_at;       /* no publish attempt before this time */
    int64_t backoff;
    char key_error[TSL_ERROR_MSG_SIZE + 64];
    int64_t key_checked;
} list_state;

struct serve_pubstate {
    list_state *lists;
    size_t n, cap;
    char store_error[TSL_ERROR_MSG_SIZE + 64];
    char conflicts[1024]; /* lists skipped because their path was taken */
};

const unsigned serve_codes[SERVE_NCODES] = {200, 204, 304, 400, 404, 405, 406,
                                            413, 414, 431, 500, 501, 503};
const char *const serve_fmt_names[SERVE_NFMT] = {"none", "jwt", "cwt", "json"};

static int64_t now_s(void)
{
    return (int64_t)time(NULL);
}

/* ---------------------------------------------------------------------------------- */
/* Helpers                                                                              */

void serve_etag(const uint8_t *p, size_t len, char out[SERVE_ETAG_SIZE])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    if (EVP_Digest(p, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen < 16)
        memset(md, 0, 16);
    out[0] = '"';
    for (int k = 0; k < 16; k++) {
        out[1 + 2 * k] = hex[md[k] >> 4];
        out[2 + 2 * k] = hex[md[k] & 15];
    }
    out[33] = '"';
    out[34] = '\0';
}

void serve_http_date(int64_t t, char out[SERVE_DATE_SIZE])
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (gmtime_r(&tt, &tm) == NULL ||
        strftime(out, SERVE_DATE_SIZE, "%a, %d %b %Y %H:%M:%S GMT", &tm) == 0)
        snprintf(out, SERVE_DATE_SIZE, "Thu, 01 Jan 1970 00:00:00 GMT");
}

/* gzip (RFC 1952) of in at level 9: zlib with windowBits 31. */
static bool gzip_bytes(const uint8_t *in, size_t len, uint8_t **out, size_t *out_len)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (len > UINT32_MAX / 2 || deflateInit2(&z, 9, Z_DEFLATED, 31, 8,
                                             Z_DEFAULT_STRATEGY) != Z_OK)
        return false;
    uLong bound = deflateBound(&z, (uLong)len);
    uint8_t *buf = malloc(bound);
    if (buf == NULL) {
        deflateEnd(&z);
        return false;
    }
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)len;
    z.next_out = buf;
    z.avail_out = (uInt)bound;
    int rc = deflate(&z, Z_FINISH);
    size_t n = (size_t)z.total_out;
    deflateEnd(&z);
    if (rc != Z_STREAM_END) {
        free(buf);
        return false;
    }
    *out = buf;
    *out_len = n;
    return true;
}

/* The path a list is served at, by the library's one rule (tsl_uri_path, which tsl
 * export follows too): percent-encoded unreserved characters decoded, as the request
 * paths libmicrohttpd hands us are. A malloc'ed copy, or NULL with err set. */
static char *uri_path(const char *uri, tsl_error *err)
{
    char path[TSL_URI_MAX + 1], msg[TSL_ERROR_MSG_SIZE];
    tsl_error e;
    tsl_error_clear(&e);
    if (tsl_uri_path(uri, path, sizeof path, &e) != TSL_OK) {
        snprintf(msg, sizeof msg, "uri: %.200s", e.msg);
        cli_error(err, e.code, msg);
        return NULL;
    }
    char *p = strdup(path);
    if (p == NULL)
        cli_error(err, TSL_ERR_NOMEM, "out of memory");
    return p;
}

/* ---------------------------------------------------------------------------------- */
/* Lists and snapshots                                                                  */

static void list_release(serve_list *l)
{
    if (l == NULL || atomic_fetch_sub(&l->refs, 1) != 1)
        return;
    for (int k = 0; k < 2; k++) {
        tsl_free(l->form[k].body);
        free(l->form[k].gz);
    }
    free(l->id);
    free(l->uri);
    free(l->path);
    free(l);
}

void serve_snapshot_ref(serve_snapshot *s)
{
    atomic_fetch_add(&s->refs, 1);
}

void serve_snapshot_release(serve_snapshot *s)
{
    if (s == NULL || atomic_fetch_sub(&s->refs, 1) != 1)
        return;
    for (size_t k = 0; k < s->n; k++)
        list_release(s->lists[k]);
    free(s->lists);
    free(s->agg);
    free(s);
}

serve_snapshot *serve_snapshot_acquire(serve_ctx *ctx)
{
    pthread_mutex_lock(&ctx->snap_mu);
    serve_snapshot *s = ctx->snap;
    if (s != NULL)
        serve_snapshot_ref(s);
    pthread_mutex_unlock(&ctx->snap_mu);
    return s;
}

static int path_cmp(const char *a, size_t alen, const char *b)
{
    size_t blen = strlen(b);
    int c = memcmp(a, b, alen < blen ? alen : blen);
    if (c != 0)
        return c;
    return alen < blen ? -1 : alen > blen ? 1 : 0;
}

const serve_list *serve_snapshot_find(const serve_snapshot *s, const char *path,
                                      size_t len)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = path_cmp(path, len, s->lists[mid]->path);
        if (c == 0)
            return s->lists[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

/* Loads the newest tokens of a list into a new serve_list. */
static tsl_status list_load(tsl_store *st, const tsl_list_info *info, serve_list **out,
                            tsl_error *err)
{
    serve_list *l = calloc(1, sizeof *l);
    if (l == NULL)
        return cli_error(err, TSL_ERR_NOMEM, "out of memory");
    atomic_init(&l->refs, 1);
    l->id = strdup(info->id);
    l->uri = strdup(info->uri);
    l->path = l->uri != NULL ? uri_path(info->uri, err) : NULL;
    l->ttl = info->ttl;
    if (l->id == NULL || l->uri == NULL || l->path == NULL) {
        list_release(l);
        /* err already says why when uri_path refused the path. */
        return err->code != TSL_OK ? err->code
                                   : cli_error(err, TSL_ERR_NOMEM, "out of memory");
    }
    unsigned formats = info->formats != 0 ? info->formats
                                          : TSL_PUBLISH_JWT | TSL_PUBLISH_CWT;
    for (int k = 0; k < 2; k++) {
        if (!(formats & (1u << k)))
            continue;
        serve_form *f = &l->form[k];
        tsl_status r = tsl_store_token(st, info->id, k == 0 ? TSL_FORMAT_JWT
                                                             : TSL_FORMAT_CWT,
                                       0, &f->body, &f->len, &f->iat, &f->exp, err);
        if (r == TSL_ERR_INDEX) { /* not published in this form (yet) */
            tsl_error_clear(err);
            continue;
        }
        if (r != TSL_OK) {
            list_release(l);
            return r;
        }
        f->present = true;
        l->formats |= 1u << k;
        serve_etag(f->body, f->len, f->etag);
        serve_http_date(f->iat, f->last_modified);
        if (k == 0 && gzip_bytes(f->body, f->len, &f->gz, &f->gz_len))
            serve_etag(f->gz, f->gz_len, f->etag_gz);
    }
    *out = l;
    return TSL_OK;
}

static int entry_cmp(const void *a, const void *b)
{
    const serve_list *x = *(serve_list *const *)a, *y = *(serve_list *const *)b;
    int c = strcmp(x->path, y->path);
    return c != 0 ? c : strcmp(x->id, y->id);
}

static bool reserved_path(const serve_ctx *ctx, const char *path)
{
    return strcmp(path, "/healthz") == 0 || strcmp(path, "/metrics") == 0 ||
           (ctx->agg_path != NULL && strcmp(path, ctx->agg_path) == 0);
}

/* Builds a snapshot of every list with tokens. Two lists on one path (or a list on a
 * reserved path): fatal at startup (returns false, message printed); later the first
 * keeps the path and the conflict goes to health. */
static bool snapshot_build(serve_ctx *ctx, bool initial, serve_snapshot **out)
{
    struct serve_pubstate *ps = ctx->pub;
    serve_snapshot *s = calloc(1, sizeof *s);
    if (s == NULL)
        return false;
    atomic_init(&s->refs, 1);
    s->lists = calloc(ps->n > 0 ? ps->n : 1, sizeof *s->lists);
    if (s->lists == NULL) {
        free(s);
        return false;
    }
    for (size_t k = 0; k < ps->n; k++) {
        serve_list *e = ps->lists[k].entry;
        if (e == NULL || e->formats == 0)
            continue;
        atomic_fetch_add(&e->refs, 1);
        s->lists[s->n++] = e;
    }
    qsort(s->lists, s->n, sizeof *s->lists, entry_cmp);
    ps->conflicts[0] = '\0';
    bool ok = true;
    size_t w = 0;
    for (size_t k = 0; k < s->n; k++) {
        serve_list *e = s->lists[k];
        const char *clash = NULL;
        if (w > 0 && strcmp(s->lists[w - 1]->path, e->path) == 0)
            clash = s->lists[w - 1]->id;
        if (clash != NULL || reserved_path(ctx, e->path)) {
            char line[300];
            if (clash != NULL)
                snprintf(line, sizeof line, "lists \"%s\" and \"%s\" have the same path %s",
                         clash, e->id, e->path);
            else
                snprintf(line, sizeof line, "list \"%s\": path %s is reserved", e->id,
                         e->path);
            if (initial) {
                cli_err("serve", "%s", line);
                ok = false;
            } else {
                size_t used = strlen(ps->conflicts);
                snprintf(ps->conflicts + used, sizeof ps->conflicts - used, "%s%s",
                         used ? "\n" : "", line);
            }
            list_release(e);
            continue;
        }
        s->lists[w++] = e;
    }
    s->n = w;
    /* The aggregation document (section 9.3). */
    json_t *arr = json_array(), *doc = json_object();
    if (arr != NULL && doc != NULL) {
        for (size_t k = 0; k < s->n; k++)
            json_array_append_new(arr, json_string(s->lists[k]->uri));
        json_object_set(doc, "status_lists", arr);
        s->agg = json_dumps(doc, JSON_COMPACT);
    }
    json_decref(arr);
    json_decref(doc);
    if (s->agg == NULL) {
        serve_snapshot_release(s);
        return false;
    }
    s->agg_len = strlen(s->agg);
    serve_etag((const uint8_t *)s->agg, s->agg_len, s->agg_etag);
    if (!ok) {
        serve_snapshot_release(s);
        return false;
    }
    *out = s;
    return true;
}

/* ---------------------------------------------------------------------------------- */
/* Publishing rounds                                                                    */

static list_state *state_for(struct serve_pubstate *ps, const char *id)
{
    for (size_t k = 0; k < ps->n; k++)
        if (strcmp(ps->lists[k].id, id) == 0)
            return &ps->lists[k];
    if (ps->n == ps->cap) {
        size_t cap = ps->cap ? ps->cap * 2 : 16;
        list_state *p = realloc(ps->lists, cap * sizeof *p);
        if (p == NULL)
            return NULL;
        ps->lists = p;
        ps->cap = cap;
    }
    list_state *s = &ps->lists[ps->n];
    memset(s, 0, sizeof *s);
    if ((s->id = strdup(id)) == NULL)
        return NULL;
    ps->n++;
    return s;
}

/* The earliest exp among the loaded forms, or 0. */
static int64_t entry_exp(const serve_list *e, int64_t *iat)
{
    int64_t exp = 0;
    for (int k = 0; e != NULL && k < 2; k++)
        if (e->form[k].present && (exp == 0 || e->form[k].exp < exp)) {
            exp = e->form[k].exp;
            *iat = e->form[k].iat;
        }
    return exp;
}

static void check_key(list_state *ls, const tsl_list_info *info, int64_t now)
{
    if (ls->key_checked != 0 && now - ls->key_checked < KEY_CHECK_SECONDS)
        return;
    ls->key_checked = now;
    tsl_error err;
    tsl_error_clear(&err);
    tsl_key *key = NULL;
    tsl_status r = tsl_key_load(info->key_path, &key, &err);
    if (r == TSL_OK && !tsl_key_is_private(key))
        snprintf(ls->key_error, sizeof ls->key_error, "key of list \"%s\" cannot sign",
                 info->id);
    else if (r != TSL_OK)
        snprintf(ls->key_error, sizeof ls->key_error, "key of list \"%s\": %s", info->id,
                 err.msg[0] ? err.msg : tsl_strerror(r));
    else
        ls->key_error[0] = '\0';
    tsl_key_free(key);
}

/* One list: publish if needed, reload its tokens if they changed. Returns true when the
 * served entry changed. */
static bool round_list(serve_ctx *ctx, list_state *ls, const tsl_list_info *info,
                       int64_t now)
{
    tsl_error err;
    int64_t iat = 0, exp = entry_exp(ls->entry, &iat);
    const char *why = NULL;
    if (info->last_published == 0)
        why = "no token";
    else if (ls->have_version && info->version != ls->version)
        why = "statuses changed";
    else if (!ls->have_version && info->updated >= info->last_published)
        why = "changed since the last token"; /* at startup: cannot know, re-sign */
    else if (ls->entry != NULL && ls->loaded_iat == info->last_published &&
             (exp == 0 || (exp - now) * 3 < exp - iat))
        why = "token near expiry";
    if (why == NULL && !ls->have_version) {
        ls->have_version = true;
        ls->version = info->version;
    }
    if (why != NULL && now >= ls->retry_at) {
        uint64_t v = info->version;
        tsl_error_clear(&err);
        tsl_status r = tsl_store_publish(ctx->pub_store, info->id, 0, now, ctx->retention,
                                         &err);
        if (r == TSL_OK) {
            atomic_fetch_add(&ctx->publishes_ok, 1);
            ls->have_version = true;
            ls->version = v;
            ls->error[0] = '\0';
            ls->backoff = 0;
            ls->retry_at = 0;
            ls->loaded_iat = -1; /* reload below */
        } else {
            atomic_fetch_add(&ctx->publishes_err, 1);
            char msg[sizeof ls->error];
            snprintf(msg, sizeof msg, "publishing list \"%s\" failed (%s): %s", info->id,
                     why, err.msg[0] ? err.msg : tsl_strerror(r));
            if (strcmp(msg, ls->error) != 0)
                cli_err("serve", "%s; serving the last good token", msg);
            memcpy(ls->error, msg, sizeof msg);
            ls->backoff = ls->backoff == 0 ? 1 : ls->backoff * 2;
            if (ls->backoff > MAX_BACKOFF_SECONDS)
                ls->backoff = MAX_BACKOFF_SECONDS;
            ls->retry_at = now + ls->backoff;
        }
    }
    check_key(ls, info, now);
    /* Reload after our publish (loaded_iat -1) or someone else's (`tsl publish`). */
    if (ls->entry != NULL && ls->loaded_iat == info->last_published)
        return false;
    tsl_list_info fresh;
    memset(&fresh, 0, sizeof fresh);
    tsl_error_clear(&err);
    if (tsl_store_list_info(ctx->pub_store, info->id, &fresh, &err) != TSL_OK)
        return false;
    serve_list *e = NULL;
    tsl_status r = list_load(ctx->pub_store, &fresh, &e, &err);
    int64_t lp = fresh.last_published;
    tsl_list_info_free(&fresh);
    if (r != TSL_OK) {
        snprintf(ls->error, sizeof ls->error, "loading the tokens of list \"%s\": %s",
                 info->id, err.msg[0] ? err.msg : tsl_strerror(r));
        return false;
    }
    list_release(ls->entry);
    ls->entry = e;
    ls->loaded_iat = lp;
    return true;
}

static void set_health(serve_ctx *ctx)
{
    struct serve_pubstate *ps = ctx->pub;
    char buf[SERVE_HEALTH_SIZE];
    size_t used = 0;
    buf[0] = '\0';
#define ADD(s)                                                                          \
    do {                                                                                \
        if ((s)[0] != '\0' && used < sizeof buf) {                                      \
            int w_ = snprintf(buf + used, sizeof buf - used, "%s\n", (s));              \
            used = w_ < 0 ? used : used + (size_t)w_;                                   \
        }                                                                               \
    } while (0)
    ADD(ps->store_error);
    ADD(ps->conflicts);
    for (size_t k = 0; k < ps->n; k++) {
        ADD(ps->lists[k].error);
        ADD(ps->lists[k].key_error);
    }
#undef ADD
    pthread_mutex_lock(&ctx->health_mu);
    memcpy(ctx->health, buf, sizeof buf);
    ctx->health[sizeof ctx->health - 1] = '\0';
    pthread_mutex_unlock(&ctx->health_mu);
}

/* One round over every list. Returns false only when the first snapshot cannot be
 * built (initial) or the store cannot be read at startup. */
static bool publish_round(serve_ctx *ctx, bool initial)
{
    struct serve_pubstate *ps = ctx->pub;
    tsl_error err;
    tsl_error_clear(&err);
    char **ids = NULL;
    size_t nids = 0;
    pthread_mutex_lock(&ctx->store_mu);
    tsl_status r = tsl_store_list_ids(ctx->pub_store, &ids, &nids, &err);
    pthread_mutex_unlock(&ctx->store_mu);
    if (r != TSL_OK) {
        char msg[sizeof ps->store_error];
        snprintf(msg, sizeof msg, "store unreadable: %s",
                 err.msg[0] ? err.msg : tsl_strerror(r));
        if (strcmp(msg, ps->store_error) != 0)
            cli_err("serve", "%s", msg);
        memcpy(ps->store_error, msg, sizeof msg);
        set_health(ctx);
        return !initial;
    }
    ps->store_error[0] = '\0';
    bool changed = initial;
    int64_t now = now_s();
    for (size_t k = 0; k < ps->n; k++)
        ps->lists[k].seen = false;
    for (size_t k = 0; k < nids; k++) {
        list_state *ls = state_for(ps, ids[k]);
        if (ls == NULL)
            continue;
        ls->seen = true;
        tsl_list_info info;
        memset(&info, 0, sizeof info);
        tsl_error_clear(&err);
        pthread_mutex_lock(&ctx->store_mu);
        if ((r = tsl_store_list_info(ctx->pub_store, ids[k], &info, &err)) == TSL_OK) {
            if (round_list(ctx, ls, &info, now))
                changed = true;
            tsl_list_info_free(&info);
        } /* else deleted meanwhile: gone next round */
        pthread_mutex_unlock(&ctx->store_mu);
    }
    tsl_store_ids_free(ids, nids);
    /* Lists no longer in the store stop being served. */
    for (size_t k = 0; k < ps->n;) {
        if (ps->lists[k].seen) {
            k++;
            continue;
        }
        list_release(ps->lists[k].entry);
        free(ps->lists[k].id);
        ps->lists[k] = ps->lists[--ps->n];
        changed = true;
    }
    if (changed) {
        serve_snapshot *s = NULL;
        if (!snapshot_build(ctx, initial, &s)) {
            set_health(ctx);
            return false;
        }
        pthread_mutex_lock(&ctx->snap_mu);
        serve_snapshot *old = ctx->snap;
        ctx->snap = s;
        pthread_mutex_unlock(&ctx->snap_mu);
        serve_snapshot_release(old);
    }
    set_health(ctx);
    return true;
}

static void *publisher(void *arg)
{
    serve_ctx *ctx = arg;
    pthread_mutex_lock(&ctx->pub_mu);
    while (!ctx->stop) {
        struct timespec wake;
        clock_gettime(CLOCK_MONOTONIC, &wake);
        wake.tv_sec += (time_t)(ctx->interval_ms / 1000);
        wake.tv_nsec += (long)(ctx->interval_ms % 1000) * 1000000L;
        if (wake.tv_nsec >= 1000000000L) {
            wake.tv_sec++;
            wake.tv_nsec -= 1000000000L;
        }
        while (!ctx->stop && pthread_cond_timedwait(&ctx->pub_cv, &ctx->pub_mu, &wake) == 0)
            ;
        if (ctx->stop)
            break;
        pthread_mutex_unlock(&ctx->pub_mu);
        publish_round(ctx, false);
        pthread_mutex_lock(&ctx->pub_mu);
    }
    pthread_mutex_unlock(&ctx->pub_mu);
    return NULL;
}

/* ---------------------------------------------------------------------------------- */
/* Setup and teardown                                                                   */

void serve_ctx_init(serve_ctx *ctx)
{
    pthread_mutex_init(&ctx->log_mu, NULL);
    pthread_mutex_init(&ctx->snap_mu, NULL);
    pthread_mutex_init(&ctx->store_mu, NULL);
    pthread_mutex_init(&ctx->health_mu, NULL);
    pthread_mutex_init(&ctx->pub_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&ctx->pub_cv, &ca);
    pthread_condattr_destroy(&ca);
    ctx->snap = NULL;
    ctx->health[0] = '\0';
    ctx->pub = NULL;
    ctx->stop = false;
    ctx->pub_running = false;
    for (size_t i = 0; i <= SERVE_NCODES; i++)
        for (size_t j = 0; j < SERVE_NFMT; j++)
            atomic_init(&ctx->requests[i][j], 0);
    atomic_init(&ctx->bytes, 0);
    atomic_init(&ctx->publishes_ok, 0);
    atomic_init(&ctx->publishes_err, 0);
    atomic_init(&ctx->inflight, 0);
}

void serve_ctx_destroy(serve_ctx *ctx)
{
    struct serve_pubstate *ps = ctx->pub;
    if (ps != NULL) {
        for (size_t k = 0; k < ps->n; k++) {
            list_release(ps->lists[k].entry);
            free(ps->lists[k].id);
        }
        free(ps->lists);
        free(ps);
        ctx->pub = NULL;
    }
    serve_snapshot_release(ctx->snap);
    ctx->snap = NULL;
    pthread_cond_destroy(&ctx->pub_cv);
    pthread_mutex_destroy(&ctx->pub_mu);
    pthread_mutex_destroy(&ctx->health_mu);
    pthread_mutex_destroy(&ctx->store_mu);
    pthread_mutex_destroy(&ctx->snap_mu);
    pthread_mutex_destroy(&ctx->log_mu);
}

int serve_publisher_start(serve_ctx *ctx)
{
    ctx->pub = calloc(1, sizeof *ctx->pub);
    if (ctx->pub == NULL) {
        cli_err("serve", "out of memory");
        return EXIT_USAGE;
    }
    if (!publish_round(ctx, true)) {
        if (ctx->pub->store_error[0] != '\0')
            return EXIT_USAGE;
        return EXIT_REJECT;
    }
    if (pthread_create(&ctx->pub_thread, NULL, publisher, ctx) != 0) {
        cli_err("serve", "cannot start the publisher thread");
        return EXIT_USAGE;
    }
    ctx->pub_running = true;
    return EXIT_OK;
}

void serve_publisher_stop(serve_ctx *ctx)
{
    if (!ctx->pub_running)
        return;
    pthread_mutex_lock(&ctx->pub_mu);
    ctx->stop = true;
    pthread_cond_signal(&ctx->pub_cv);
    pthread_mutex_unlock(&ctx->pub_mu);
    pthread_join(ctx->pub_thread, NULL);
    ctx->pub_running = false;
}
