/* serve_snapshot.c - the publisher side of `tsl serve`. At start it loads the tokens
 * already recorded in the store into the first snapshot (reading only, so the server
 * listens at once), then a thread with its own store handle runs a round every publish
 * interval: it re-signs each list whose statuses changed or whose newest token has used
 * up two thirds of its lifetime, reloads the newest tokens, gzips the JWTs, computes
 * ETags and dates, and swaps in a new immutable snapshot that request threads read
 * under a reference count. The thread holds no lock that request threads take while it
 * reads keys, signs, compresses or reads the store. A list whose publishing fails keeps
 * its last good tokens; the reason goes to stderr (once per change), and /healthz and
 * /metrics count it. History reads go through separate read-only handles. */
#include "serve.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* How often a list's key file is checked for being loadable and private. */
#define KEY_CHECK_SECONDS 30
/* The longest wait before retrying a list whose publishing failed. */
#define MAX_BACKOFF_SECONDS 60
/* A round is late (a stall, /healthz degraded) when none completed for max(3 publish
 * intervals, STALL_FLOOR_MS) plus twice what the lists took to publish last: a slow
 * but working publisher of big lists is not a stall, one stuck on a key file is. */
#define STALL_FLOOR_MS 10000
/* How long serve_publisher_stop() waits for the thread to finish its step. */
#define STOP_WAIT_MS 3000
/* The clash report kept to notice a change (longer reports are cut). */
#define CONFLICTS_SIZE 2048

/* What the publisher remembers about one list between rounds. */
typedef struct {
    char *id;
    bool seen;              /* in the current round's id list */
    bool have_version;      /* version below is that of the newest token */
    uint64_t version;
    int64_t loaded_iat;     /* last_published when the tokens below were loaded */
    bool need_gz;           /* entry loaded at start, without its gzip body */
    serve_list *entry;      /* the list as served (a reference), or NULL */
    char error[TSL_ERROR_MSG_SIZE + 64]; /* last publish failure, "" if none */
    int64_t retry_at;       /* no publish attempt before this time */
    int64_t backoff;
    int64_t publish_ms;     /* what its last successful publish took */
    char key_error[TSL_ERROR_MSG_SIZE + 64];
    int64_t key_checked;
    int64_t expiry_logged;  /* exp of the token last logged as near expiry */
} list_state;

struct serve_pubstate {
    list_state *lists;
    size_t n, cap;
    char store_error[TSL_ERROR_MSG_SIZE + 64];
    char conflicts[CONFLICTS_SIZE]; /* the last clash report, to log only changes */
    unsigned nconflicts;            /* lists not served because of their path */
};

const unsigned serve_codes[SERVE_NCODES] = {200, 204, 304, 400, 404, 405, 406,
                                            413, 414, 431, 500, 501, 503};
const char *const serve_fmt_names[SERVE_NFMT] = {"none", "jwt", "cwt", "json"};
const char *const serve_prob_names[SERVE_NPROB] = {"store", "publish", "key", "path",
                                                   "expiry"};

static int64_t now_s(void)
{
    return (int64_t)time(NULL);
}

static int64_t mono_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* One line on stderr, written at once so that lines of several threads do not mix. */
__attribute__((format(printf, 1, 2))) static void plog(const char *fmt, ...)
{
    char line[TSL_ERROR_MSG_SIZE + 512];
    int n = snprintf(line, sizeof line, "tsl serve: ");
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = m < 0 ? (size_t)n : (size_t)n + (size_t)m;
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w; /* nowhere to report a failing stderr */
}

/* Says what the publisher is doing from now on ("" when idle), for the stall report. */
__attribute__((format(printf, 2, 3))) static void set_busy(serve_ctx *ctx,
                                                           const char *fmt, ...)
{
    char buf[SERVE_BUSY_SIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&ctx->busy_mu);
    memcpy(ctx->busy, buf, sizeof buf);
    pthread_mutex_unlock(&ctx->busy_mu);
    atomic_store(&ctx->busy_since_ms, mono_ms());
}

/* ---------------------------------------------------------------------------------- */
/* Helpers                                                                              */

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
        tsl_free(l->form[k].gz);
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
    tsl_free(s->agg);
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

/* Loads the newest tokens of a list into a new serve_list; gz: with the gzip body of
 * the JWT (seconds for a big list, so the first snapshot at start goes without). */
static tsl_status list_load(tsl_store *st, const tsl_list_info *info, bool gz,
                            serve_list **out, tsl_error *err)
{
    serve_list *l = calloc(1, sizeof *l);
    if (l == NULL)
        return cli_error(err, TSL_ERR_NOMEM, "out of memory");
    atomic_init(&l->refs, 1);
    l->id = strdup(info->id);
    l->uri = strdup(info->uri);
    l->path = l->uri != NULL ? uri_path(info->uri, err) : NULL;
    l->ttl = info->ttl;
    l->created = info->created;
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
        tsl_publish_etag(f->body, f->len, f->etag);
        tsl_http_date(f->iat, f->last_modified);
        tsl_error gz_err;
        tsl_error_clear(&gz_err);
        if (gz && k == 0 &&
            tsl_publish_gzip(f->body, f->len, &f->gz, &f->gz_len, &gz_err) == TSL_OK)
            tsl_publish_etag(f->gz, f->gz_len, f->etag_gz);
    }
    *out = l;
    return TSL_OK;
}

/* By path, then the older list first (created, then id): the first of a path is
 * served. */
static int entry_cmp(const void *a, const void *b)
{
    const serve_list *x = *(serve_list *const *)a, *y = *(serve_list *const *)b;
    int c = strcmp(x->path, y->path);
    if (c != 0)
        return c;
    if (x->created != y->created)
        return x->created < y->created ? -1 : 1;
    return strcmp(x->id, y->id);
}

static bool reserved_path(const serve_ctx *ctx, const char *path)
{
    return strcmp(path, "/healthz") == 0 || strcmp(path, "/metrics") == 0 ||
           (ctx->agg_path != NULL && strcmp(path, ctx->agg_path) == 0);
}

/* A path for the log: at most 200 bytes, anything but printable ASCII as '?' (a store
 * written before uri checks may hold any bytes). */
static void log_path(const char *path, char out[208])
{
    size_t k = 0;
    for (; path[k] != '\0' && k < 200; k++)
        out[k] = path[k] > 0x20 && path[k] < 0x7f ? path[k] : '?';
    if (path[k] != '\0')
        for (int j = 0; j < 3; j++)
            out[k++] = '.';
    out[k] = '\0';
}

static void date_text(int64_t t, char out[32])
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (gmtime_r(&tt, &tm) == NULL || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, 32, "%lld", (long long)t);
}

/* Builds a snapshot of every list with tokens. Of two lists on one path the older one
 * is served (the one created first; the smaller id if created in the same second), and
 * a list on a reserved path is not served; each such clash is logged when the set of
 * clashes changes, and counted. Returns false only when out of memory. */
static bool snapshot_build(serve_ctx *ctx, serve_snapshot **out)
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
    char report[CONFLICTS_SIZE];
    size_t used = 0;
    unsigned nconf = 0;
    report[0] = '\0';
    size_t w = 0;
    for (size_t k = 0; k < s->n; k++) {
        serve_list *e = s->lists[k];
        const serve_list *kept = NULL;
        if (w > 0 && strcmp(s->lists[w - 1]->path, e->path) == 0)
            kept = s->lists[w - 1];
        if (kept == NULL && !reserved_path(ctx, e->path)) {
            s->lists[w++] = e;
            continue;
        }
        char line[640], c1[32], c2[32], path[208];
        log_path(e->path, path);
        if (kept != NULL) {
            date_text(kept->created, c1);
            date_text(e->created, c2);
            snprintf(line, sizeof line,
                     "CLASH: lists \"%s\" (created %s) and \"%s\" (created %s) have the "
                     "same path %s: serving \"%s\" (%s), NOT serving \"%s\" (give it "
                     "another uri)", kept->id, c1, e->id, c2, path, kept->id,
                     kept->created < e->created ? "the older"
                                                : "created in the same second, smaller id",
                     e->id);
        } else {
            snprintf(line, sizeof line,
                     "CLASH: list \"%s\" has the path %s, which the server uses itself: "
                     "NOT serving it (give it another uri)", e->id, path);
        }
        if (used < sizeof report) {
            int n = snprintf(report + used, sizeof report - used, "%s\n", line);
            used = n < 0 ? used : used + (size_t)n;
        }
        nconf++;
        list_release(e);
    }
    s->n = w;
    if (used >= sizeof report)
        used = sizeof report - 1;
    report[used] = '\0';
    if (strcmp(report, ps->conflicts) != 0) {
        /* Every line, each time the set changes: a list that is not served is loud. */
        for (char *p = report; *p != '\0';) {
            size_t n = strcspn(p, "\n");
            plog("%.*s", (int)n, p);
            p += n + (p[n] == '\n');
        }
        if (report[0] == '\0' && ps->conflicts[0] != '\0')
            plog("no more path clashes: every list is served");
        memcpy(ps->conflicts, report, sizeof report);
    }
    ps->nconflicts = nconf;
    /* The aggregation document (section 9.3). */
    const char **uris = calloc(s->n > 0 ? s->n : 1, sizeof *uris);
    tsl_error aerr;
    tsl_error_clear(&aerr);
    for (size_t k = 0; uris != NULL && k < s->n; k++)
        uris[k] = s->lists[k]->uri;
    if (uris == NULL ||
        tsl_publish_aggregation(uris, s->n, &s->agg, &s->agg_len, &aerr) != TSL_OK) {
        free(uris);
        serve_snapshot_release(s);
        return false;
    }
    free(uris);
    tsl_publish_etag((const uint8_t *)s->agg, s->agg_len, s->agg_etag);
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

/* Loads the key now and then (it signs the next publish); no lock is held, so a key
 * file that blocks stalls only this thread. A change of verdict is logged. */
static void check_key(serve_ctx *ctx, list_state *ls, const tsl_list_info *info,
                      int64_t now)
{
    if (ls->key_checked != 0 && now - ls->key_checked < KEY_CHECK_SECONDS)
        return;
    ls->key_checked = now;
    set_busy(ctx, "checking the key of list \"%s\"", info->id);
    tsl_error err;
    tsl_error_clear(&err);
    tsl_key *key = NULL;
    tsl_status r = tsl_key_load(info->key_path, &key, &err);
    char msg[sizeof ls->key_error];
    if (r == TSL_OK && !tsl_key_is_private(key))
        snprintf(msg, sizeof msg, "key of list \"%s\" cannot sign", info->id);
    else if (r != TSL_OK)
        snprintf(msg, sizeof msg, "key of list \"%s\": %s", info->id,
                 err.msg[0] ? err.msg : tsl_strerror(r));
    else
        msg[0] = '\0';
    tsl_key_free(key);
    if (strcmp(msg, ls->key_error) != 0) {
        if (msg[0] != '\0')
            plog("%s", msg);
        else
            plog("key of list \"%s\" loads again", info->id);
    }
    memcpy(ls->key_error, msg, sizeof msg);
}

/* What a failed publish leaves served, for the log. */
static const char *still_served(const serve_list *e, int64_t now)
{
    int64_t iat = 0, exp = entry_exp(e, &iat);
    if (e == NULL || e->formats == 0)
        return "no token to serve: the list is not served until it publishes";
    if (exp != 0 && exp <= now)
        return "serving its last token, which has expired";
    return "serving the last good token";
}

/* One list: publish if needed (unless load_only), reload its tokens if they changed.
 * Returns true when the served entry changed. */
static bool round_list(serve_ctx *ctx, list_state *ls, const tsl_list_info *info,
                       int64_t now, bool load_only)
{
    tsl_error err;
    int64_t iat = 0, exp = entry_exp(ls->entry, &iat);
    const char *why = NULL;
    if (load_only)
        ; /* start-up: serve what is recorded, the thread's first round signs */
    else if (info->last_published == 0)
        why = "no token";
    else if (ls->have_version && info->version != ls->version)
        why = "statuses changed";
    else if (!ls->have_version && info->updated >= info->last_published)
        why = "changed since the last token"; /* at startup: cannot know, re-sign */
    else if (ls->entry != NULL && ls->loaded_iat == info->last_published &&
             (exp == 0 || (exp - now) * 3 < exp - iat))
        why = "token near expiry";
    if (!load_only && why == NULL && !ls->have_version) {
        ls->have_version = true;
        ls->version = info->version;
    }
    if (why != NULL && now >= ls->retry_at) {
        uint64_t v = info->version;
        tsl_error_clear(&err);
        set_busy(ctx, "publishing list \"%s\" (%s)", info->id, why);
        int64_t t0 = mono_ms();
        tsl_status r = tsl_store_publish(ctx->pub_store, info->id, 0, now, ctx->retention,
                                         &err);
        if (r == TSL_OK) {
            atomic_fetch_add(&ctx->publishes_ok, 1);
            if (ls->error[0] != '\0')
                plog("list \"%s\" publishes again", info->id);
            ls->publish_ms = mono_ms() - t0;
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
                plog("%s; %s", msg, still_served(ls->entry, now));
            memcpy(ls->error, msg, sizeof msg);
            ls->backoff = ls->backoff == 0 ? 1 : ls->backoff * 2;
            if (ls->backoff > MAX_BACKOFF_SECONDS)
                ls->backoff = MAX_BACKOFF_SECONDS;
            ls->retry_at = now + ls->backoff;
        }
    }
    if (!load_only)
        check_key(ctx, ls, info, now);
    /* Reload after our publish (loaded_iat -1) or someone else's (`tsl publish`), and
     * once after start-up for the gzip body. */
    if (ls->entry != NULL && ls->loaded_iat == info->last_published && !ls->need_gz)
        return false;
    set_busy(ctx, "loading the tokens of list \"%s\"", info->id);
    tsl_list_info fresh;
    memset(&fresh, 0, sizeof fresh);
    tsl_error_clear(&err);
    if (tsl_store_list_info(ctx->pub_store, info->id, &fresh, &err) != TSL_OK)
        return false;
    serve_list *e = NULL;
    tsl_status r = list_load(ctx->pub_store, &fresh, !load_only, &e, &err);
    int64_t lp = fresh.last_published;
    tsl_list_info_free(&fresh);
    if (r != TSL_OK) {
        char msg[sizeof ls->error];
        snprintf(msg, sizeof msg, "loading the tokens of list \"%s\": %s", info->id,
                 err.msg[0] ? err.msg : tsl_strerror(r));
        if (strcmp(msg, ls->error) != 0)
            plog("%s; %s", msg, still_served(ls->entry, now));
        memcpy(ls->error, msg, sizeof msg);
        return false;
    }
    list_release(ls->entry);
    ls->entry = e;
    ls->loaded_iat = lp;
    ls->need_gz = load_only;
    return true;
}

/* Publishes the counts of problems and the stall threshold, and logs a served token
 * that has entered the last quarter of its life (once per token). */
static void set_health(serve_ctx *ctx, int64_t now)
{
    struct serve_pubstate *ps = ctx->pub;
    unsigned publish = 0, key = 0;
    int64_t budget = 0;
    for (size_t k = 0; k < ps->n; k++) {
        list_state *ls = &ps->lists[k];
        publish += ls->error[0] != '\0';
        key += ls->key_error[0] != '\0';
        budget += ls->publish_ms;
        int64_t iat = 0, exp = entry_exp(ls->entry, &iat);
        if (exp != 0 && (exp - now) * 4 < exp - iat && ls->expiry_logged != exp) {
            ls->expiry_logged = exp;
            if (exp <= now)
                plog("the token of list \"%s\" has expired", ls->id);
            else
                plog("the token of list \"%s\" expires in %lld s", ls->id,
                     (long long)(exp - now));
        }
    }
    atomic_store(&ctx->problems[SERVE_PROB_STORE], ps->store_error[0] != '\0');
    atomic_store(&ctx->problems[SERVE_PROB_PUBLISH], publish);
    atomic_store(&ctx->problems[SERVE_PROB_KEY], key);
    atomic_store(&ctx->problems[SERVE_PROB_PATH], ps->nconflicts);
    int64_t floor_ms = 3 * ctx->interval_ms > STALL_FLOOR_MS ? 3 * ctx->interval_ms
                                                              : STALL_FLOOR_MS;
    atomic_store(&ctx->stall_ms, floor_ms + 2 * budget);
}

/* One round over every list (load_only: the start-up load of recorded tokens). Returns
 * false when the store cannot be read or no snapshot can be built. */
static bool publish_round(serve_ctx *ctx, bool load_only)
{
    struct serve_pubstate *ps = ctx->pub;
    tsl_error err;
    tsl_error_clear(&err);
    char **ids = NULL;
    size_t nids = 0;
    int64_t now = now_s();
    set_busy(ctx, "reading the list ids");
    tsl_status r = tsl_store_list_ids(ctx->pub_store, &ids, &nids, &err);
    if (r != TSL_OK) {
        char msg[sizeof ps->store_error];
        snprintf(msg, sizeof msg, "store unreadable: %s",
                 err.msg[0] ? err.msg : tsl_strerror(r));
        if (strcmp(msg, ps->store_error) != 0)
            plog("%s", msg);
        memcpy(ps->store_error, msg, sizeof msg);
        set_health(ctx, now);
        return false;
    }
    if (ps->store_error[0] != '\0')
        plog("the store is readable again");
    ps->store_error[0] = '\0';
    bool changed = load_only;
    for (size_t k = 0; k < ps->n; k++)
        ps->lists[k].seen = false;
    for (size_t k = 0; k < nids && !atomic_load(&ctx->stop); k++) {
        list_state *ls = state_for(ps, ids[k]);
        if (ls == NULL)
            continue;
        ls->seen = true;
        tsl_list_info info;
        memset(&info, 0, sizeof info);
        tsl_error_clear(&err);
        set_busy(ctx, "reading list \"%s\"", ids[k]);
        if ((r = tsl_store_list_info(ctx->pub_store, ids[k], &info, &err)) == TSL_OK) {
            if (round_list(ctx, ls, &info, now, load_only))
                changed = true;
            tsl_list_info_free(&info);
        } /* else deleted meanwhile: gone next round */
    }
    tsl_store_ids_free(ids, nids);
    if (atomic_load(&ctx->stop))
        return true;
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
    bool ok = true;
    if (changed) {
        set_busy(ctx, "building the snapshot");
        serve_snapshot *s = NULL;
        if (snapshot_build(ctx, &s)) {
            pthread_mutex_lock(&ctx->snap_mu);
            serve_snapshot *old = ctx->snap;
            ctx->snap = s;
            pthread_mutex_unlock(&ctx->snap_mu);
            serve_snapshot_release(old);
        } else {
            plog("out of memory building the snapshot; serving the previous one");
            ok = false;
        }
    }
    set_health(ctx, now);
    return ok;
}

/* A round is over: a stall, if one was logged, has ended. */
static void round_done(serve_ctx *ctx)
{
    set_busy(ctx, "%s", "");
    atomic_store(&ctx->round_done_ms, mono_ms());
    if (atomic_exchange(&ctx->stall_logged, false))
        plog("the publisher completes its rounds again");
}

static void *publisher(void *arg)
{
    serve_ctx *ctx = arg;
    /* The first round at once: it signs what changed while the server was down. */
    publish_round(ctx, false);
    round_done(ctx);
    pthread_mutex_lock(&ctx->pub_mu);
    while (!atomic_load(&ctx->stop)) {
        struct timespec wake;
        clock_gettime(CLOCK_MONOTONIC, &wake);
        wake.tv_sec += (time_t)(ctx->interval_ms / 1000);
        wake.tv_nsec += (long)(ctx->interval_ms % 1000) * 1000000L;
        if (wake.tv_nsec >= 1000000000L) {
            wake.tv_sec++;
            wake.tv_nsec -= 1000000000L;
        }
        while (!atomic_load(&ctx->stop) &&
               pthread_cond_timedwait(&ctx->pub_cv, &ctx->pub_mu, &wake) == 0)
            ;
        if (atomic_load(&ctx->stop))
            break;
        pthread_mutex_unlock(&ctx->pub_mu);
        publish_round(ctx, false);
        round_done(ctx);
        pthread_mutex_lock(&ctx->pub_mu);
    }
    ctx->pub_done = true;
    pthread_cond_broadcast(&ctx->pub_cv);
    pthread_mutex_unlock(&ctx->pub_mu);
    return NULL;
}

/* ---------------------------------------------------------------------------------- */
/* Health and history                                                                   */

void serve_health(serve_ctx *ctx, serve_health_info *out)
{
    memset(out, 0, sizeof *out);
    for (int k = 0; k < SERVE_NPROB; k++)
        out->problems[k] = atomic_load(&ctx->problems[k]);
    serve_snapshot *snap = serve_snapshot_acquire(ctx);
    int64_t now = now_s();
    for (size_t k = 0; snap != NULL && k < snap->n; k++)
        for (int j = 0; j < 2; j++) {
            const serve_form *fm = &snap->lists[k]->form[j];
            if (fm->present && fm->exp != 0 && (fm->exp - now) * 4 < fm->exp - fm->iat)
                out->problems[SERVE_PROB_EXPIRY]++;
        }
    serve_snapshot_release(snap);
    int64_t t = mono_ms();
    out->round_age_ms = t - atomic_load(&ctx->round_done_ms);
    out->stalled = out->round_age_ms > atomic_load(&ctx->stall_ms);
    if (out->stalled && !atomic_exchange(&ctx->stall_logged, true)) {
        char busy[SERVE_BUSY_SIZE];
        pthread_mutex_lock(&ctx->busy_mu);
        memcpy(busy, ctx->busy, sizeof busy);
        pthread_mutex_unlock(&ctx->busy_mu);
        int64_t since = t - atomic_load(&ctx->busy_since_ms);
        plog("STALLED: the publisher has completed no round for %lld s; it has been %s "
             "for %lld s; serving the tokens it last loaded",
             (long long)(out->round_age_ms / 1000), busy[0] ? busy : "idle",
             (long long)(since / 1000));
    }
}

tsl_status serve_history_token(serve_ctx *ctx, const char *id, tsl_format fmt, int64_t t,
                               uint8_t **tok, size_t *len, int64_t *iat, int64_t *exp,
                               tsl_error *err)
{
    if (ctx->nreaders == 0)
        return cli_error(err, TSL_ERR_IO, "no history reader");
    /* A free reader if there is one, else wait for one in turn. */
    serve_reader *rd = NULL;
    for (size_t k = 0; k < ctx->nreaders && rd == NULL; k++)
        if (pthread_mutex_trylock(&ctx->readers[k].mu) == 0)
            rd = &ctx->readers[k];
    if (rd == NULL) {
        rd = &ctx->readers[atomic_fetch_add(&ctx->reader_next, 1) % ctx->nreaders];
        pthread_mutex_lock(&rd->mu);
    }
    tsl_status r = tsl_store_token(rd->st, id, fmt, t, tok, len, iat, exp, err);
    pthread_mutex_unlock(&rd->mu);
    return r;
}

/* ---------------------------------------------------------------------------------- */
/* Setup and teardown                                                                   */

void serve_ctx_init(serve_ctx *ctx)
{
    pthread_mutex_init(&ctx->log_mu, NULL);
    pthread_mutex_init(&ctx->snap_mu, NULL);
    pthread_mutex_init(&ctx->busy_mu, NULL);
    pthread_mutex_init(&ctx->pub_mu, NULL);
    for (size_t k = 0; k < SERVE_READERS; k++) {
        pthread_mutex_init(&ctx->readers[k].mu, NULL);
        ctx->readers[k].st = NULL;
    }
    ctx->nreaders = 0;
    atomic_init(&ctx->reader_next, 0);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&ctx->pub_cv, &ca);
    pthread_condattr_destroy(&ca);
    ctx->snap = NULL;
    ctx->busy[0] = '\0';
    ctx->pub = NULL;
    atomic_init(&ctx->stop, false);
    ctx->pub_done = false;
    ctx->pub_running = false;
    for (size_t k = 0; k < SERVE_NPROB; k++)
        atomic_init(&ctx->problems[k], 0);
    atomic_init(&ctx->round_done_ms, mono_ms());
    atomic_init(&ctx->stall_ms, STALL_FLOOR_MS);
    atomic_init(&ctx->stall_logged, false);
    atomic_init(&ctx->busy_since_ms, mono_ms());
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
    for (size_t k = 0; k < SERVE_READERS; k++) {
        tsl_store_close(ctx->readers[k].st);
        ctx->readers[k].st = NULL;
        pthread_mutex_destroy(&ctx->readers[k].mu);
    }
    ctx->nreaders = 0;
    tsl_store_close(ctx->pub_store);
    ctx->pub_store = NULL;
    pthread_cond_destroy(&ctx->pub_cv);
    pthread_mutex_destroy(&ctx->pub_mu);
    pthread_mutex_destroy(&ctx->busy_mu);
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
    /* History readers, open until exit (see serve.h). */
    for (size_t k = 0; ctx->history && k < SERVE_READERS; k++) {
        tsl_error err;
        tsl_error_clear(&err);
        tsl_status r = tsl_store_open(ctx->db_path, &ctx->readers[k].st, &err);
        if (r != TSL_OK) {
            cli_err("serve", "%s: %s", ctx->db_path, err.msg[0] ? err.msg : tsl_strerror(r));
            return EXIT_USAGE;
        }
        ctx->nreaders++;
    }
    /* The tokens already recorded, so that the server can listen now. */
    if (!publish_round(ctx, true)) {
        if (ctx->pub->store_error[0] != '\0')
            return EXIT_USAGE;
        cli_err("serve", "out of memory");
        return EXIT_USAGE;
    }
    set_busy(ctx, "%s", "");
    atomic_store(&ctx->round_done_ms, mono_ms());
    if (pthread_create(&ctx->pub_thread, NULL, publisher, ctx) != 0) {
        cli_err("serve", "cannot start the publisher thread");
        return EXIT_USAGE;
    }
    ctx->pub_running = true;
    return EXIT_OK;
}

bool serve_publisher_stop(serve_ctx *ctx)
{
    if (!ctx->pub_running)
        return true;
    struct timespec limit;
    clock_gettime(CLOCK_MONOTONIC, &limit);
    limit.tv_sec += STOP_WAIT_MS / 1000;
    limit.tv_nsec += (long)(STOP_WAIT_MS % 1000) * 1000000L;
    if (limit.tv_nsec >= 1000000000L) {
        limit.tv_sec++;
        limit.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&ctx->pub_mu);
    atomic_store(&ctx->stop, true);
    pthread_cond_broadcast(&ctx->pub_cv);
    int rc = 0;
    while (!ctx->pub_done && rc == 0)
        rc = pthread_cond_timedwait(&ctx->pub_cv, &ctx->pub_mu, &limit);
    bool done = ctx->pub_done;
    pthread_mutex_unlock(&ctx->pub_mu);
    if (!done) {
        char busy[SERVE_BUSY_SIZE];
        pthread_mutex_lock(&ctx->busy_mu);
        memcpy(busy, ctx->busy, sizeof busy);
        pthread_mutex_unlock(&ctx->busy_mu);
        plog("the publisher is still %s after %d s; exiting without it (the store stays "
             "whole)", busy[0] ? busy : "busy", STOP_WAIT_MS / 1000);
        return false;
    }
    pthread_join(ctx->pub_thread, NULL);
    ctx->pub_running = false;
    return true;
}
