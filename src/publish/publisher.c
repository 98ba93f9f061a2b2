/* publisher.c - the publisher (tsl.h, tsl_publisher): a store kept published and served.
 * The first round may only load the tokens already recorded (TSL_ROUND_LOAD_ONLY), so a
 * server listens at once; every later round re-signs each list whose statuses changed
 * or whose newest token has used up two thirds of its lifetime, takes the tokens it
 * signed as they are (or reloads the newest tokens another process recorded), computes
 * ETags and dates, and swaps in a new immutable snapshot that request threads read
 * under a reference count. A large JWT is served at once and its gzip variant made by
 * the gzip thread (gzipper.c), never in a round's way. A round holds no lock
 * that request threads take while it reads keys, signs, compresses or reads the store
 * (it owns its store handle alone). A list whose publishing fails keeps its last good
 * tokens; the reason goes to the log (once per change) and the health counts it.
 * History reads go through separate read-only handles. Moved from tools/serve_snapshot.c
 * so that an embedder publishes without the `tsl` command.
 *
 * On a store that pushes its changes (PostgreSQL: tslp_store_can_watch) the runner does
 * not poll: the publisher listens on a handle of its own, and each list notified gets a
 * round of its own (tslp_publisher_step), so a publication committed anywhere is served
 * within a second. Full rounds still run, every FULL_ROUND_MS and whenever a served
 * token reaches two thirds of its life, for expiry re-signing, key checks and anything a
 * notification cannot say. Of several publishers on one database only the one holding
 * the list's publish lock signs a version; the others skip (no error, no backoff) and
 * serve it when its token is notified. While the store is unreachable the last snapshot
 * is served; the feed reconnects with backoff and a full round resyncs. */
#include "publish/publish_int.h"
#include "store/backend.h" /* the change feed: tslp_store_can_watch, _watch, _wait; and
                            * token_head, the version a list's newest token was signed from */

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* How often a list's key file is checked for being loadable and private. */
#define KEY_CHECK_SECONDS 30
/* The longest wait before retrying a list whose publishing failed. */
#define MAX_BACKOFF_SECONDS 60
/* A round is late (a stall, degraded) when none completed for max(3 publish intervals,
 * STALL_FLOOR_MS) plus twice what the lists took to publish last: a slow but working
 * publisher of big lists is not a stall, one stuck on a key file is. */
#define STALL_FLOOR_MS 10000
/* The clash report kept to notice a change (longer reports are cut). */
#define CONFLICTS_SIZE 2048
/* What the publisher says it is doing, for the log when it stalls. */
#define BUSY_SIZE 160
/* Read-only store handles for ?time= requests (each used by one thread at a time). */
#define READERS 4
/* A pushed publisher's full rounds: expiry re-signing is scheduled by each token's own
 * time (next_due), so this only bounds how stale a key check or a missed notification
 * can be; it equals KEY_CHECK_SECONDS so that keys are checked as often as when polling. */
#define FULL_ROUND_MS (KEY_CHECK_SECONDS * 1000)
/* When another publisher held a list's lock, the list gets a round of its own again
 * after this: its token is notified at its commit, but the lock may still be held for a
 * moment after it, and the publisher may die before recording it. A try of the lock is
 * one cheap query. */
#define SKIP_RECHECK_MS 250
/* The change feed's reconnect backoff: 0.25 s doubling to 2 s, so that the publisher is
 * back within about 2 s of the database (the issue asks for 5 s). */
#define RECONNECT_MIN_MS 250
#define RECONNECT_MAX_MS 2000
/* Lists remembered as notified between two steps; more is a full round. */
#define PENDING_MAX 1024

/* What the publisher remembers about one list between rounds. */
typedef struct {
    char *id;
    bool seen;              /* in the current round's id list */
    bool have_version;      /* version below is that of the newest token */
    uint64_t version;
    int64_t loaded_iat;     /* last_published when the tokens below were loaded */
    tslp_entry *entry;      /* the list as served (a reference), or NULL */
    char error[TSL_ERROR_MSG_SIZE + 64]; /* last publish failure, "" if none */
    int64_t retry_at;       /* no publish attempt before this time */
    int64_t backoff;
    int64_t publish_ms;     /* what its last successful publish took */
    char key_error[TSL_ERROR_MSG_SIZE + 64];
    int64_t key_checked;
    int64_t expiry_logged;  /* exp of the token last logged as near expiry */
    bool load_error;        /* error[] is about loading its tokens, not publishing */
    int64_t recheck_ms;     /* monotonic: another publisher was signing; look again */
} list_state;


/* One read-only store handle for history reads, and the lock of its user. */
typedef struct {
    pthread_mutex_t mu;
    tsl_store *st;
    int64_t renewed_ms; /* monotonic: when st was last reopened after a failure */
} reader;

struct tsl_publisher {
    /* Options, fixed at open. */
    char *path;
    tsl_format dflt;
    bool history;
    char *agg_path;
    int64_t interval_ms;
    int64_t retention;
    char **reserved;
    size_t nreserved;
    tsl_publisher_log_fn log;
    void *log_ctx;

    tsl_store *st; /* the rounds' own handle */
    tslp_gzipper *gzipper; /* makes the gzip variants of large JWTs (gzipper.c) */
    bool st_stale; /* the store failed: reopen st before the next round */

    /* The change feed of a store that pushes (see the top of the file); the rounds'
     * thread alone uses these, except the atomics. */
    tslp_feed feed;
    bool pushed;            /* feed.can_watch(st) */
    tsl_store *wst;         /* the feed's own handle, or NULL before the first step */
    bool watching;          /* feed.watch succeeded on wst */
    bool resync;            /* a full round is owed: start, a NULL id, a failed round */
    int64_t next_full_ms;   /* monotonic: the next full round at the latest */
    int64_t last_full_ms;   /* monotonic: the last full round */
    int64_t retry_ms;       /* monotonic: no store access before (backoff) */
    int64_t backoff_ms;
    char **pending;         /* ids notified and not yet rounded */
    size_t npending;
    atomic_llong last_sync;  /* unix s: the last time every committed change was known */
    atomic_llong down_since; /* unix s: the store unreachable since, 0: reachable */
    atomic_ullong publishes_skipped; /* another publisher held the lock */

    /* History reads use their own handles, opened at open and kept until close, never
     * the rounds' handle: a read must not wait for a publish that holds it for seconds.
     * Several SQLite handles on one file in one process are safe: SQLite's unix VFS
     * keeps one lock state per file and defers closing a descriptor while any handle
     * holds a lock. */
    reader readers[READERS];
    size_t nreaders;
    atomic_uint reader_next;

    /* The current snapshot: request threads hold snap_mu for a few instructions. */
    pthread_mutex_t snap_mu;
    tsl_snapshot *snap;

    /* Health, written by rounds, read by any thread. */
    atomic_uint problems[TSL_NPROBLEMS]; /* TSL_PROBLEM_EXPIRY is computed when read */
    atomic_llong round_done_ms;          /* monotonic ms: the last completed round (or open) */
    atomic_llong stall_ms;               /* a round later than this is a stall */
    atomic_bool stall_logged;            /* the current stall has been logged */
    pthread_mutex_t busy_mu;
    char busy[BUSY_SIZE];                /* what the round is doing ("" between rounds) */
    atomic_llong busy_since_ms;
    atomic_bool stop;
    atomic_ullong publishes_ok, publishes_err;

    /* The rounds' own bookkeeping. */
    list_state *lists;
    size_t n, cap;
    char store_error[TSL_ERROR_MSG_SIZE + 64];
    char conflicts[CONFLICTS_SIZE]; /* the last clash report, to log only changes */
    unsigned nconflicts;            /* lists not served because of their path */
};

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = tslp_malloc(n);
    if (d != NULL)
        memcpy(d, s, n);
    return d;
}

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

void tslp_publisher_log(tsl_publisher *p, const char *fmt, ...)
{
    if (p->log == NULL)
        return;
    char line[TSL_ERROR_MSG_SIZE + 512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    p->log(p->log_ctx, line);
}

/* Says what the publisher is doing from now on ("" when idle), for the stall report. */
__attribute__((format(printf, 2, 3))) static void set_busy(tsl_publisher *p,
                                                           const char *fmt, ...)
{
    char buf[BUSY_SIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&p->busy_mu);
    memcpy(p->busy, buf, sizeof buf);
    pthread_mutex_unlock(&p->busy_mu);
    atomic_store(&p->busy_since_ms, mono_ms());
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
        tslp_fail(err, e.code, 0, "%s", msg);
        return NULL;
    }
    char *p = dup_str(path);
    if (p == NULL)
        tslp_fail(err, TSL_ERR_NOMEM, 0, "out of memory");
    return p;
}

/* ---------------------------------------------------------------------------------- */
/* Lists and snapshots                                                                  */

void tsl_snapshot_release(tsl_snapshot *s)
{
    if (s == NULL || atomic_fetch_sub(&s->refs, 1) != 1)
        return;
    for (size_t k = 0; k < s->n; k++)
        tslp_entry_release(s->lists[k]);
    tslp_free(s->lists);
    tsl_free(s->agg);
    tslp_free(s);
}

tsl_snapshot *tsl_publisher_snapshot(tsl_publisher *p)
{
    pthread_mutex_lock(&p->snap_mu);
    tsl_snapshot *s = p->snap;
    if (s != NULL)
        atomic_fetch_add(&s->refs, 1);
    pthread_mutex_unlock(&p->snap_mu);
    return s;
}

size_t tsl_snapshot_count(const tsl_snapshot *s)
{
    return s != NULL ? s->n : 0;
}

int64_t tsl_snapshot_earliest_exp(const tsl_snapshot *s)
{
    int64_t earliest = 0;
    for (size_t k = 0; s != NULL && k < s->n; k++)
        for (int j = 0; j < 2; j++) {
            const tslp_form *fm = &s->lists[k]->form[j];
            if (fm->present && fm->exp != 0 && (earliest == 0 || fm->exp < earliest))
                earliest = fm->exp;
        }
    return earliest;
}

int tsl_snapshot_list_version(const tsl_snapshot *s, const char *id, uint64_t *version)
{
    /* By id: the snapshot is sorted by path, and holds few lists. */
    for (size_t k = 0; s != NULL && id != NULL && k < s->n; k++) {
        const tslp_entry *e = s->lists[k];
        if (strcmp(e->id, id) == 0 && e->have_version && e->formats != 0) {
            if (version != NULL)
                *version = e->version;
            return 1;
        }
    }
    return 0;
}

static int path_cmp(const char *a, size_t alen, const char *b)
{
    size_t blen = strlen(b);
    int c = memcmp(a, b, alen < blen ? alen : blen);
    if (c != 0)
        return c;
    return alen < blen ? -1 : alen > blen ? 1 : 0;
}

const tslp_entry *tslp_snapshot_find(const tsl_snapshot *s, const char *path, size_t len)
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

/* A JWT of at most this many bytes is gzipped as it is loaded; a larger one is served
 * at once and its gzip variant made by the gzip thread (gzipper.c): a 10^8-entry list's
 * JWT is about 2.4 MB, whose gzip costs about 25 ms of CPU, as much as signing it anew,
 * while 256 KiB (about 10^7 entries at 1% set) gzips in a few ms. */
#define GZ_INLINE_MAX ((size_t)256 << 10)

/* The forms a list is published in, as slots: an identifier list is recorded in the
 * CWT slot (store_publish.c). */
static unsigned list_slots(const tsl_list_info *info)
{
    unsigned formats = info->formats != 0 ? info->formats
                                          : TSL_PUBLISH_JWT | TSL_PUBLISH_CWT;
    return formats == TSL_PUBLISH_IDLIST ? TSL_PUBLISH_CWT : formats;
}

/* A new entry for the list, without its tokens. */
static tsl_status entry_new(const tsl_list_info *info, tslp_entry **out, tsl_error *err)
{
    tslp_entry *l = tslp_calloc(1, sizeof *l);
    if (l == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "out of memory");
    atomic_init(&l->refs, 1);
    l->id = dup_str(info->id);
    l->uri = dup_str(info->uri);
    l->path = l->uri != NULL ? uri_path(info->uri, err) : NULL;
    l->ttl = info->ttl;
    l->created = info->created;
    l->idl = info->formats == TSL_PUBLISH_IDLIST;
    if (l->id == NULL || l->uri == NULL || l->path == NULL) {
        tslp_entry_release(l);
        /* err already says why when uri_path refused the path. */
        return err->code != TSL_OK ? err->code
                                   : tslp_fail(err, TSL_ERR_NOMEM, 0, "out of memory");
    }
    *out = l;
    return TSL_OK;
}

/* A form's token (taken over) and what the headers say about it. */
static void form_set(tslp_entry *l, int k, uint8_t *body, size_t len, int64_t iat,
                     int64_t exp)
{
    tslp_form *f = &l->form[k];
    f->body = body;
    f->len = len;
    f->iat = iat;
    f->exp = exp;
    f->present = true;
    l->formats |= 1u << k;
    tsl_publish_etag(f->body, f->len, f->etag);
    tsl_http_date(f->iat, f->last_modified);
    atomic_init(&f->gz, NULL);
}

/* The entry of the tokens this publisher has just recorded for the list at version,
 * when they are every form of it (else false: the list is loaded from the store): they
 * are the newest recorded, and reading 3.7 MB back (a 10^8-entry list's JWT and CWT)
 * would only delay serving them. *lp is what the list's last_published is now. */
static bool entry_from_kept(const tsl_list_info *info, tslp_published *kept,
                            uint64_t version, tslp_entry **out, int64_t *lp)
{
    unsigned slots = list_slots(info);
    for (int k = 0; k < 2; k++)
        if ((slots & (1u << k)) && kept->token[k] == NULL)
            return false;
    tsl_error err;
    tsl_error_clear(&err);
    tslp_entry *l = NULL;
    if (entry_new(info, &l, &err) != TSL_OK)
        return false;
    l->have_version = true;
    l->version = version;
    *lp = 0;
    for (int k = 0; k < 2; k++) {
        if (!(slots & (1u << k)))
            continue;
        form_set(l, k, kept->token[k], kept->len[k], kept->iat[k], kept->exp[k]);
        kept->token[k] = NULL;
        if (kept->iat[k] > *lp)
            *lp = kept->iat[k];
    }
    if (l->form[0].present && l->form[0].len <= GZ_INLINE_MAX)
        tslp_entry_gzip(l);
    *out = l;
    return true;
}

/* Loads the newest tokens of a list into a new tslp_entry; a JWT of at most
 * GZ_INLINE_MAX bytes gets its gzip variant when gz_small (not at start-up, where a
 * server listens at once: the gzip thread makes them all). */
static tsl_status list_load(tsl_store *st, const tsl_list_info *info, bool gz_small,
                            tslp_entry **out, tsl_error *err)
{
    tslp_entry *l = NULL;
    tsl_status r0 = entry_new(info, &l, err);
    if (r0 != TSL_OK)
        return r0;
    unsigned formats = list_slots(info);
    /* The versions of the newest tokens, read before the tokens themselves: the newest
     * only moves forward, so what is loaded below is at least this version (the issuer
     * API waits on it: tsl_snapshot_list_version). */
    if (tslp_store_begin(st, false, err) == TSL_OK) {
        for (int k = 0; k < 2; k++) {
            bool have = false, twin = false;
            uint64_t nv = 0;
            int64_t ni = 0;
            if (!(formats & (1u << k)) ||
                st->be->token_head(st, info->id, k == 0 ? TSL_FORMAT_JWT : TSL_FORMAT_CWT,
                                   0, 0, &have, &nv, &ni, &twin, err) != TSL_OK ||
                !have)
                continue;
            if (!l->have_version || nv < l->version)
                l->version = nv;
            l->have_version = true;
        }
        tslp_store_rollback(st);
    }
    tsl_error_clear(err); /* no version known is not a failure: nothing waits on it */
    for (int k = 0; k < 2; k++) {
        if (!(formats & (1u << k)))
            continue;
        uint8_t *body = NULL;
        size_t len = 0;
        int64_t iat = 0, exp = 0;
        tsl_status r = tsl_store_token(st, info->id, k == 0 ? TSL_FORMAT_JWT
                                                             : TSL_FORMAT_CWT,
                                       0, &body, &len, &iat, &exp, err);
        if (r == TSL_ERR_NOT_FOUND) { /* not published in this form (yet) */
            tsl_error_clear(err);
            continue;
        }
        if (r != TSL_OK) {
            tslp_entry_release(l);
            return r;
        }
        form_set(l, k, body, len, iat, exp);
    }
    if (gz_small && l->form[0].present && l->form[0].len <= GZ_INLINE_MAX)
        tslp_entry_gzip(l);
    *out = l;
    return TSL_OK;
}

/* By path, then the older list first (created, then id): the first of a path is
 * served. */
static int entry_cmp(const void *a, const void *b)
{
    const tslp_entry *x = *(tslp_entry *const *)a, *y = *(tslp_entry *const *)b;
    int c = strcmp(x->path, y->path);
    if (c != 0)
        return c;
    if (x->created != y->created)
        return x->created < y->created ? -1 : 1;
    return strcmp(x->id, y->id);
}

bool tslp_publisher_reserved(const tsl_publisher *p, const char *path)
{
    for (size_t k = 0; k < p->nreserved; k++)
        if (strcmp(path, p->reserved[k]) == 0)
            return true;
    return false;
}

static bool reserved_path(const tsl_publisher *p, const char *path)
{
    return tslp_publisher_reserved(p, path) ||
           (p->agg_path != NULL && strcmp(path, p->agg_path) == 0);
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
static bool snapshot_build(tsl_publisher *p, tsl_snapshot **out)
{
    tsl_snapshot *s = tslp_calloc(1, sizeof *s);
    if (s == NULL)
        return false;
    atomic_init(&s->refs, 1);
    s->dflt = p->dflt;
    s->agg_path = p->agg_path;
    s->pub = p;
    s->lists = tslp_calloc(p->n > 0 ? p->n : 1, sizeof *s->lists);
    if (s->lists == NULL) {
        tslp_free(s);
        return false;
    }
    for (size_t k = 0; k < p->n; k++) {
        tslp_entry *e = p->lists[k].entry;
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
        tslp_entry *e = s->lists[k];
        const tslp_entry *kept = NULL;
        if (w > 0 && strcmp(s->lists[w - 1]->path, e->path) == 0)
            kept = s->lists[w - 1];
        if (kept == NULL && !reserved_path(p, e->path)) {
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
        tslp_entry_release(e);
    }
    s->n = w;
    if (used >= sizeof report)
        used = sizeof report - 1;
    report[used] = '\0';
    if (strcmp(report, p->conflicts) != 0) {
        /* Every line, each time the set changes: a list that is not served is loud. */
        for (char *q = report; *q != '\0';) {
            size_t n = strcspn(q, "\n");
            tslp_publisher_log(p, "%.*s", (int)n, q);
            q += n + (q[n] == '\n');
        }
        if (report[0] == '\0' && p->conflicts[0] != '\0')
            tslp_publisher_log(p, "no more path clashes: every list is served");
        memcpy(p->conflicts, report, sizeof report);
    }
    p->nconflicts = nconf;
    /* The aggregation document (section 9.3). */
    const char **uris = tslp_calloc(s->n > 0 ? s->n : 1, sizeof *uris);
    tsl_error aerr;
    tsl_error_clear(&aerr);
    size_t na = 0;
    /* Status lists only: an identifier list is not one (ISO 18013-5 names no
     * aggregation of them). */
    for (size_t k = 0; uris != NULL && k < s->n; k++)
        if (!s->lists[k]->idl)
            uris[na++] = s->lists[k]->uri;
    if (uris == NULL ||
        tsl_publish_aggregation(uris, na, &s->agg, &s->agg_len, &aerr) != TSL_OK) {
        tslp_free(uris);
        tsl_snapshot_release(s);
        return false;
    }
    tslp_free(uris);
    tsl_publish_etag((const uint8_t *)s->agg, s->agg_len, s->agg_etag);
    *out = s;
    return true;
}

/* ---------------------------------------------------------------------------------- */
/* Publishing rounds                                                                    */

static list_state *state_for(tsl_publisher *p, const char *id)
{
    for (size_t k = 0; k < p->n; k++)
        if (strcmp(p->lists[k].id, id) == 0)
            return &p->lists[k];
    if (p->n == p->cap && TSLP_ELEMS_RESERVE(p->lists, p->n, p->cap, 1, TSLP_STORE_MAX_LISTS,
                                             "publisher: lists", NULL) != TSL_OK)
        return NULL;
    list_state *s = &p->lists[p->n];
    memset(s, 0, sizeof *s);
    if ((s->id = dup_str(id)) == NULL)
        return NULL;
    p->n++;
    return s;
}

/* The earliest exp among the loaded forms, or 0. */
static int64_t entry_exp(const tslp_entry *e, int64_t *iat)
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
static void check_key(tsl_publisher *p, list_state *ls, const tsl_list_info *info,
                      int64_t now)
{
    if (ls->key_checked != 0 && now - ls->key_checked < KEY_CHECK_SECONDS)
        return;
    ls->key_checked = now;
    set_busy(p, "checking the key of list \"%s\"", info->id);
    tsl_error err;
    tsl_error_clear(&err);
    tsl_key *key = NULL;
    tsl_status r;
    if (tsl_key_ref_is_pkcs11(info->key_path)) {
        /* A key on a token: the token is opened (once per process) and the key found;
         * a lost token is reopened here too, so its recovery shows in the log. */
        tsl_signer_opts so;
        memset(&so, 0, sizeof so);
        so.alg = info->alg;
        tsl_signer *sg = NULL;
        r = tsl_signer_load(info->key_path, &so, &sg, &key, &err);
        tsl_signer_free(sg);
    } else {
        r = tsl_key_load(info->key_path, &key, &err);
    }
    char msg[sizeof ls->key_error];
    if (r == TSL_OK && !tsl_key_is_private(key) && !tsl_key_ref_is_pkcs11(info->key_path))
        snprintf(msg, sizeof msg, "key of list \"%s\" cannot sign", info->id);
    else if (r != TSL_OK)
        snprintf(msg, sizeof msg, "key of list \"%s\": %s", info->id,
                 err.msg[0] ? err.msg : tsl_strerror(r));
    else
        msg[0] = '\0';
    tsl_key_free(key);
    if (strcmp(msg, ls->key_error) != 0) {
        if (msg[0] != '\0')
            tslp_publisher_log(p, "%s", msg);
        else
            tslp_publisher_log(p, "key of list \"%s\" loads again", info->id);
    }
    memcpy(ls->key_error, msg, sizeof msg);
}

/* What a failed publish leaves served, for the log. */
static const char *still_served(const tslp_entry *e, int64_t now)
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
static bool round_list(tsl_publisher *p, list_state *ls, const tsl_list_info *info,
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
    tslp_entry *mine = NULL; /* the tokens this round recorded, as an entry */
    int64_t mine_lp = 0;
    if (!load_only && why == NULL && !ls->have_version) {
        ls->have_version = true;
        ls->version = info->version;
    }
    if (why != NULL && now >= ls->retry_at) {
        uint64_t v = info->version;
        tsl_error_clear(&err);
        set_busy(p, "publishing list \"%s\" (%s)", info->id, why);
        int64_t t0 = mono_ms();
        tsl_publish_result res;
        memset(&res, 0, sizeof res);
        tslp_published kept;
        tsl_status r = tslp_store_publish_keep(p->st, info->id, now, p->retention, &res,
                                               &kept, &err);
        if (r == TSL_OK && res.busy) {
            /* Another publisher holds the list's publish lock and signs this version
             * (PostgreSQL). Not an error and no backoff: its token is notified and
             * loaded then; the version stays "moved", and the list gets a round again
             * after SKIP_RECHECK_MS, should that publisher die before recording it. */
            atomic_fetch_add(&p->publishes_skipped, 1);
            ls->recheck_ms = mono_ms() + SKIP_RECHECK_MS;
        } else if (r == TSL_OK) {
            if (res.segments_corrupt > 0)
                tslp_publisher_log(p, "list \"%s\": %llu stored segment(s) failed their check "
                                   "(a damaged store?) and were rebuilt from the statuses",
                                   info->id, (unsigned long long)res.segments_corrupt);
            ls->recheck_ms = 0;
            /* Nothing recorded because another publisher signed this version already
             * (PostgreSQL: .fresh, or a newer version recorded meanwhile) is a skip too:
             * this one signed nothing. SQLite counts as before. */
            atomic_fetch_add(res.recorded == 0 && (res.fresh != 0 || p->pushed)
                                 ? &p->publishes_skipped
                                 : &p->publishes_ok,
                             1);
            if (ls->error[0] != '\0')
                tslp_publisher_log(p, "list \"%s\" publishes again", info->id);
            ls->publish_ms = mono_ms() - t0;
            ls->have_version = true;
            ls->version = v;
            ls->error[0] = '\0';
            ls->load_error = false;
            ls->backoff = 0;
            ls->retry_at = 0;
            ls->loaded_iat = -1; /* reload below */
            if (!entry_from_kept(info, &kept, res.version, &mine, &mine_lp))
                mine = NULL;
        } else {
            atomic_fetch_add(&p->publishes_err, 1);
            char msg[sizeof ls->error];
            snprintf(msg, sizeof msg, "publishing list \"%s\" failed (%s): %s", info->id,
                     why, err.msg[0] ? err.msg : tsl_strerror(r));
            if (strcmp(msg, ls->error) != 0)
                tslp_publisher_log(p, "%s; %s", msg, still_served(ls->entry, now));
            memcpy(ls->error, msg, sizeof msg);
            ls->load_error = false;
            ls->backoff = ls->backoff == 0 ? 1 : ls->backoff * 2;
            if (ls->backoff > MAX_BACKOFF_SECONDS)
                ls->backoff = MAX_BACKOFF_SECONDS;
            ls->retry_at = now + ls->backoff;
        }
        tslp_published_free(&kept);
    }
    if (!load_only)
        check_key(p, ls, info, now);
    if (mine != NULL) { /* served as signed, not read back */
        tslp_entry_release(ls->entry);
        ls->entry = mine;
        ls->loaded_iat = mine_lp;
        tslp_gzipper_add(p->gzipper, mine);
        return true;
    }
    /* Reload after our publish (loaded_iat -1) or someone else's (`tsl publish`). */
    if (ls->entry != NULL && ls->loaded_iat == info->last_published)
        return false;
    set_busy(p, "loading the tokens of list \"%s\"", info->id);
    tsl_list_info fresh;
    memset(&fresh, 0, sizeof fresh);
    tsl_error_clear(&err);
    if (tsl_store_list_info(p->st, info->id, &fresh, &err) != TSL_OK)
        return false;
    tslp_entry *e = NULL;
    tsl_status r = list_load(p->st, &fresh, !load_only, &e, &err);
    int64_t lp = fresh.last_published;
    tsl_list_info_free(&fresh);
    if (r != TSL_OK) {
        char msg[sizeof ls->error];
        snprintf(msg, sizeof msg, "loading the tokens of list \"%s\": %s", info->id,
                 err.msg[0] ? err.msg : tsl_strerror(r));
        if (strcmp(msg, ls->error) != 0)
            tslp_publisher_log(p, "%s; %s", msg, still_served(ls->entry, now));
        memcpy(ls->error, msg, sizeof msg);
        ls->load_error = true;
        return false;
    }
    if (ls->load_error) { /* e.g. the store was unreachable while it loaded */
        tslp_publisher_log(p, "list \"%s\" loads again", info->id);
        ls->error[0] = '\0';
        ls->load_error = false;
    }
    tslp_entry_release(ls->entry);
    ls->entry = e;
    ls->loaded_iat = lp;
    /* Served at once, identity only if its JWT is large: the gzip thread adds the
     * gzip variant (never in this round's way). */
    tslp_gzipper_add(p->gzipper, e);
    return true;
}

/* Publishes the counts of problems and the stall threshold, and logs a served token
 * that has entered the last quarter of its life (once per token). */
static void set_health(tsl_publisher *p, int64_t now)
{
        unsigned publish = 0, key = 0;
    int64_t budget = 0;
    for (size_t k = 0; k < p->n; k++) {
        list_state *ls = &p->lists[k];
        publish += ls->error[0] != '\0';
        key += ls->key_error[0] != '\0';
        budget += ls->publish_ms;
        int64_t iat = 0, exp = entry_exp(ls->entry, &iat);
        if (exp != 0 && (exp - now) * 4 < exp - iat && ls->expiry_logged != exp) {
            ls->expiry_logged = exp;
            if (exp <= now)
                tslp_publisher_log(p, "the token of list \"%s\" has expired", ls->id);
            else
                tslp_publisher_log(p, "the token of list \"%s\" expires in %lld s", ls->id,
                     (long long)(exp - now));
        }
    }
    atomic_store(&p->problems[TSL_PROBLEM_STORE], p->store_error[0] != '\0');
    atomic_store(&p->problems[TSL_PROBLEM_PUBLISH], publish);
    atomic_store(&p->problems[TSL_PROBLEM_KEY], key);
    atomic_store(&p->problems[TSL_PROBLEM_PATH], p->nconflicts);
    int64_t floor_ms = 3 * p->interval_ms > STALL_FLOOR_MS ? 3 * p->interval_ms
                                                              : STALL_FLOOR_MS;
    atomic_store(&p->stall_ms, floor_ms + 2 * budget);
}

/* The store could not be read (why: the backend's message, which names a database by
 * host and name, never a password): the last snapshot stays served. Logged when the
 * reason changes; /healthz says since when. */
static void store_down(tsl_publisher *p, tsl_status r, const tsl_error *err)
{
    char msg[sizeof p->store_error];
    snprintf(msg, sizeof msg, "store unreadable: %s",
             err->msg[0] ? err->msg : tsl_strerror(r));
    if (strcmp(msg, p->store_error) != 0)
        tslp_publisher_log(p, "%s", msg);
    memcpy(p->store_error, msg, sizeof msg);
    p->st_stale = true;
    long long none = 0;
    atomic_compare_exchange_strong(&p->down_since, &none, (long long)now_s());
}

/* A new handle for the rounds after the store failed: a connection that dropped is not
 * trusted to come back by itself (a PostgreSQL handle resets only at a transaction's
 * start, and some reads take none). False, with the store still down, if it cannot be
 * opened. */
static bool renew_handle(tsl_publisher *p)
{
    if (!p->st_stale)
        return true;
    tsl_store *st = NULL;
    tsl_error err;
    tsl_error_clear(&err);
    set_busy(p, "opening the store again");
    tsl_status r = tsl_store_open(p->path, &st, &err);
    if (r != TSL_OK) {
        store_down(p, r, &err);
        return false;
    }
    tsl_store_close(p->st);
    p->st = st;
    p->st_stale = false;
    return true;
}

/* The store answers again: lists that failed while it did not are retried at once
 * rather than after their backoff. */
static void store_up(tsl_publisher *p)
{
    if (p->store_error[0] != '\0') {
        tslp_publisher_log(p, "the store is readable again");
        for (size_t k = 0; k < p->n; k++) {
            p->lists[k].retry_at = 0;
            p->lists[k].backoff = 0;
        }
    }
    p->store_error[0] = '\0';
    atomic_store(&p->down_since, 0);
}

/* Swaps in a snapshot of the lists as they are now. False when out of memory (the
 * previous one stays). */
static bool swap_snapshot(tsl_publisher *p)
{
    set_busy(p, "building the snapshot");
    tsl_snapshot *s = NULL;
    if (!snapshot_build(p, &s)) {
        tslp_publisher_log(p, "out of memory building the snapshot; serving the "
                              "previous one");
        return false;
    }
    pthread_mutex_lock(&p->snap_mu);
    tsl_snapshot *old = p->snap;
    p->snap = s;
    pthread_mutex_unlock(&p->snap_mu);
    tsl_snapshot_release(old);
    return true;
}

/* Forgets a list gone from the store (it stops being served); false if unknown. */
static bool forget_list(tsl_publisher *p, const char *id)
{
    for (size_t k = 0; k < p->n; k++)
        if (strcmp(p->lists[k].id, id) == 0) {
            tslp_entry_release(p->lists[k].entry);
            tslp_free(p->lists[k].id);
            p->lists[k] = p->lists[--p->n];
            return true;
        }
    return false;
}

/* One round over every list (load_only: the start-up load of recorded tokens). Returns
 * false when the store cannot be read or no snapshot can be built. */
static bool publish_round(tsl_publisher *p, bool load_only)
{
    tsl_error err;
    tsl_error_clear(&err);
    char **ids = NULL;
    size_t nids = 0;
    int64_t now = now_s();
    if (!renew_handle(p)) {
        set_health(p, now);
        return false;
    }
    set_busy(p, "reading the list ids");
    tsl_status r = tsl_store_list_ids(p->st, &ids, &nids, &err);
    if (r != TSL_OK) {
        store_down(p, r, &err);
        set_health(p, now);
        return false;
    }
    store_up(p);
    bool changed = load_only, failed = false;
    for (size_t k = 0; k < p->n; k++)
        p->lists[k].seen = false;
    for (size_t k = 0; k < nids && !atomic_load(&p->stop); k++) {
        list_state *ls = state_for(p, ids[k]);
        if (ls == NULL)
            continue;
        ls->seen = true;
        if (failed) /* the store went away during the round: keep serving the rest */
            continue;
        tsl_list_info info;
        memset(&info, 0, sizeof info);
        tsl_error_clear(&err);
        set_busy(p, "reading list \"%s\"", ids[k]);
        if ((r = tsl_store_list_info(p->st, ids[k], &info, &err)) == TSL_OK) {
            if (round_list(p, ls, &info, now, load_only))
                changed = true;
            tsl_list_info_free(&info);
        } else if (r != TSL_ERR_NOT_FOUND) {
            store_down(p, r, &err);
            failed = true;
        } /* else deleted meanwhile: gone next round */
    }
    tsl_store_ids_free(ids, nids);
    if (atomic_load(&p->stop))
        return true;
    /* Lists no longer in the store stop being served. */
    for (size_t k = 0; k < p->n;) {
        if (p->lists[k].seen) {
            k++;
            continue;
        }
        tslp_entry_release(p->lists[k].entry);
        tslp_free(p->lists[k].id);
        p->lists[k] = p->lists[--p->n];
        changed = true;
    }
    bool ok = !failed;
    if (changed && !swap_snapshot(p))
        ok = false;
    if (ok)
        atomic_store(&p->last_sync, (long long)now);
    set_health(p, now);
    return ok;
}

/* A round over the lists notified (a pushed publisher): each one is read, published if
 * its version moved or its token nears expiry, and reloaded if its tokens changed; one
 * gone from the store stops being served. False when the store could not be read (a
 * full round is then owed) or out of memory. */
static bool publish_lists(tsl_publisher *p, char *const *ids, size_t n)
{
    int64_t now = now_s();
    bool changed = false, ok = renew_handle(p);
    for (size_t k = 0; k < n && ok && !atomic_load(&p->stop); k++) {
        tsl_list_info info;
        memset(&info, 0, sizeof info);
        tsl_error err;
        tsl_error_clear(&err);
        set_busy(p, "reading list \"%s\"", ids[k]);
        tsl_status r = tsl_store_list_info(p->st, ids[k], &info, &err);
        if (r == TSL_ERR_NOT_FOUND) {
            changed = forget_list(p, ids[k]) || changed;
            continue;
        }
        if (r != TSL_OK) {
            store_down(p, r, &err);
            ok = false;
            break;
        }
        list_state *ls = state_for(p, ids[k]);
        if (ls == NULL)
            ok = false;
        else if (round_list(p, ls, &info, now, false))
            changed = true;
        tsl_list_info_free(&info);
    }
    if (changed && !swap_snapshot(p))
        ok = false;
    set_health(p, now);
    return ok;
}

/* A round is over: a stall, if one was logged, has ended. */
static void round_done(tsl_publisher *p)
{
    set_busy(p, "%s", "");
    atomic_store(&p->round_done_ms, mono_ms());
    if (atomic_exchange(&p->stall_logged, false))
        tslp_publisher_log(p, "the publisher completes its rounds again");
}

tsl_status tsl_publisher_round(tsl_publisher *p, unsigned flags, tsl_error *err)
{
    if (p == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "publisher: none");
    if (atomic_load(&p->stop))
        return TSL_OK;
    bool ok = publish_round(p, (flags & TSL_ROUND_LOAD_ONLY) != 0);
    round_done(p);
    if (p->store_error[0] != '\0')
        return tslp_fail(err, TSL_ERR_IO, 0, "%s", p->store_error);
    if (!ok)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "out of memory building the snapshot");
    return TSL_OK;
}

/* ---------------------------------------------------------------------------------- */
/* Changes pushed by the store                                                          */

static const tslp_feed store_feed = {tslp_store_can_watch, tslp_store_watch,
                                     tslp_store_wait};

void tslp_publisher_set_feed(tsl_publisher *p, const tslp_feed *feed)
{
    p->feed = *feed;
    p->pushed = p->feed.can_watch(p->st);
    if (p->pushed && p->pending == NULL &&
        (p->pending = tslp_calloc(PENDING_MAX, sizeof *p->pending)) == NULL)
        p->pushed = false; /* out of memory: poll, which needs nothing more */
}

const char *tslp_publisher_file(const tsl_publisher *p)
{
    return p != NULL && p->st != NULL && strcmp(p->st->be->name, "sqlite") == 0 ? p->path
                                                                                : NULL;
}

bool tslp_publisher_pushed(const tsl_publisher *p)
{
    return p != NULL && p->pushed;
}

/* The feed's callback: a list to round, or NULL, changes may have been missed. */
static void notified(void *ctx, const char *id)
{
    tsl_publisher *p = ctx;
    if (id == NULL || p->resync) {
        p->resync = true;
        return;
    }
    for (size_t k = 0; k < p->npending; k++)
        if (strcmp(p->pending[k], id) == 0)
            return;
    char *d = p->npending < PENDING_MAX ? dup_str(id) : NULL;
    if (d == NULL) { /* too many at once, or out of memory: round them all */
        p->resync = true;
        return;
    }
    p->pending[p->npending++] = d;
}

static void pending_clear(tsl_publisher *p)
{
    for (size_t k = 0; k < p->npending; k++)
        tslp_free(p->pending[k]);
    p->npending = 0;
}

/* Monotonic ms at wall time t (unix s), seen from now (mono t_ms, wall now). */
static int64_t mono_at(int64_t t, int64_t now, int64_t t_ms)
{
    return t_ms + (t - now) * 1000;
}

/* When the next full round is due: FULL_ROUND_MS after the last, or earlier when a
 * served token reaches two thirds of its life (round_list re-signs it then) or a failed
 * list may be retried; never sooner than one publish interval after the last full
 * round, so that a list that cannot be fixed does not spin the thread. */
static int64_t next_due(tsl_publisher *p, int64_t t_ms)
{
    int64_t now = now_s(), due = p->next_full_ms;
    for (size_t k = 0; k < p->n; k++) {
        const list_state *ls = &p->lists[k];
        int64_t iat = 0, exp = entry_exp(ls->entry, &iat);
        int64_t at = INT64_MAX;
        if (ls->error[0] != '\0' && ls->retry_at > 0) /* failing: its backoff decides */
            at = mono_at(ls->retry_at, now, t_ms);
        else if (exp != 0 && exp > iat) /* (exp - now) * 3 < exp - iat from then on */
            at = mono_at(exp - (exp - iat) / 3 + 1, now, t_ms);
        if (at < due)
            due = at;
    }
    int64_t floor = p->last_full_ms + p->interval_ms;
    return due > floor ? due : floor;
}

/* The earliest time a list skipped for another publisher is to be looked at again
 * (monotonic), or INT64_MAX; with take, those due at t are notified (a round of their
 * own) and forgotten. */
static int64_t rechecks(tsl_publisher *p, int64_t t, bool take)
{
    int64_t first = INT64_MAX;
    for (size_t k = 0; k < p->n; k++) {
        list_state *ls = &p->lists[k];
        if (ls->recheck_ms == 0)
            continue;
        if (take && ls->recheck_ms <= t) {
            ls->recheck_ms = 0;
            notified(p, ls->id);
        } else if (ls->recheck_ms < first) {
            first = ls->recheck_ms;
        }
    }
    return first;
}

/* No store access for a while (the store failed): RECONNECT_MIN_MS doubling. */
static void back_off(tsl_publisher *p)
{
    p->backoff_ms = p->backoff_ms == 0 ? RECONNECT_MIN_MS : p->backoff_ms * 2;
    if (p->backoff_ms > RECONNECT_MAX_MS)
        p->backoff_ms = RECONNECT_MAX_MS;
    p->retry_ms = mono_ms() + p->backoff_ms;
}

/* The feed failed (the connection dropped, or the server is down). */
static void feed_down(tsl_publisher *p, tsl_status r, const tsl_error *err)
{
    store_down(p, r, err);
    back_off(p);
    set_health(p, now_s());
}

static void sleep_ms(int64_t ms)
{
    if (ms <= 0)
        return;
    struct timespec t = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

void tslp_publisher_step(tsl_publisher *p, int64_t max_ms)
{
    if (atomic_load(&p->stop))
        return;
    int64_t t = mono_ms();
    if (t < p->retry_ms) { /* backing off: serve the snapshot meanwhile */
        sleep_ms(p->retry_ms - t < max_ms ? p->retry_ms - t : max_ms);
        round_done(p);
        return;
    }
    tsl_error err;
    tsl_error_clear(&err);
    if (!p->watching) {
        /* Listen before the full round it owes, so that nothing committed between the
         * two is missed. */
        tsl_status r = TSL_OK;
        if (p->wst == NULL)
            r = tsl_store_open(p->path, &p->wst, &err);
        if (r == TSL_OK)
            r = p->feed.watch(p->wst, &err);
        if (r != TSL_OK) {
            feed_down(p, r, &err);
            round_done(p);
            return;
        }
        p->watching = true;
        p->resync = true;
    }
    int64_t due = next_due(p, t), recheck = rechecks(p, t, false);
    if (!p->resync && p->npending == 0 && due > t && recheck > t) {
        int64_t until = due < recheck ? due : recheck;
        int64_t wait = until - t < max_ms ? until - t : max_ms;
        set_busy(p, "%s", "");
        tsl_status r = p->feed.wait(p->wst, (int)wait, notified, p, &err);
        if (r != TSL_OK) {
            feed_down(p, r, &err);
            round_done(p);
            return;
        }
        /* The feed answers: whatever was committed until now is notified (a reconnect
         * reported NULL, a resync). */
        p->backoff_ms = 0;
        if (atomic_load(&p->down_since) != 0)
            p->resync = true;
        atomic_store(&p->last_sync, (long long)now_s());
        t = mono_ms();
    }
    if (p->resync || t >= due) {
        /* The pending ids are covered by the full round (it reads every list after
         * they were notified). */
        pending_clear(p);
        p->last_full_ms = t;
        p->next_full_ms = t + FULL_ROUND_MS;
        p->resync = !publish_round(p, false);
        if (p->resync) /* try again after a backoff */
            back_off(p);
        else
            p->backoff_ms = 0;
    } else {
        rechecks(p, t, true); /* lists skipped for another publisher, due again */
        if (p->npending > 0) {
            bool ok = publish_lists(p, p->pending, p->npending);
            pending_clear(p);
            if (!ok) {
                p->resync = true;
                back_off(p);
            }
        }
    }
    round_done(p);
}

void tsl_publisher_stop(tsl_publisher *p)
{
    if (p != NULL)
        atomic_store(&p->stop, true);
}

void tsl_publisher_busy(tsl_publisher *p, char *out, size_t size)
{
    if (size == 0)
        return;
    pthread_mutex_lock(&p->busy_mu);
    snprintf(out, size, "%s", p->busy);
    pthread_mutex_unlock(&p->busy_mu);
}

/* ---------------------------------------------------------------------------------- */
/* Health and history                                                                   */

void tsl_publisher_health_get(tsl_publisher *p, tsl_publisher_health *out)
{
    memset(out, 0, sizeof *out);
    for (int k = 0; k < TSL_NPROBLEMS; k++)
        out->problems[k] = atomic_load(&p->problems[k]);
    tsl_snapshot *snap = tsl_publisher_snapshot(p);
    int64_t now = now_s();
    for (size_t k = 0; snap != NULL && k < snap->n; k++)
        for (int j = 0; j < 2; j++) {
            const tslp_form *fm = &snap->lists[k]->form[j];
            if (fm->present && fm->exp != 0 && (fm->exp - now) * 4 < fm->exp - fm->iat)
                out->problems[TSL_PROBLEM_EXPIRY]++;
        }
    tsl_snapshot_release(snap);
    int64_t t = mono_ms();
    out->round_age_ms = t - atomic_load(&p->round_done_ms);
    out->stalled = out->round_age_ms > atomic_load(&p->stall_ms);
    out->publishes_ok = atomic_load(&p->publishes_ok);
    out->publishes_err = atomic_load(&p->publishes_err);
    out->publishes_skipped = atomic_load(&p->publishes_skipped);
    out->last_sync = atomic_load(&p->last_sync);
    out->store_down_since = atomic_load(&p->down_since);
    out->pushed = p->pushed;
    if (out->store_down_since != 0 && out->problems[TSL_PROBLEM_STORE] == 0)
        out->problems[TSL_PROBLEM_STORE] = 1; /* the feed failed, no round yet */
    out->degraded = out->stalled;
    for (int k = 0; k < TSL_NPROBLEMS; k++)
        out->degraded = out->degraded || out->problems[k] != 0;
    if (out->stalled && !atomic_exchange(&p->stall_logged, true)) {
        char busy[BUSY_SIZE];
        tsl_publisher_busy(p, busy, sizeof busy);
        int64_t since = t - atomic_load(&p->busy_since_ms);
        tslp_publisher_log(p, "STALLED: the publisher has completed no round for %lld s; "
                              "it has been %s for %lld s; serving the tokens it last "
                              "loaded",
                           (long long)(out->round_age_ms / 1000), busy[0] ? busy : "idle",
                           (long long)(since / 1000));
    }
}

bool tslp_publisher_has_history(const tsl_publisher *p)
{
    return p->history;
}

tsl_status tslp_publisher_history(tsl_publisher *p, const char *id, tsl_format fmt,
                                  int64_t t, uint8_t **tok, size_t *len, int64_t *iat,
                                  int64_t *exp, tsl_error *err)
{
    if (p == NULL || p->nreaders == 0)
        return tslp_fail(err, TSL_ERR_UNSUPPORTED, 0, "no history reader");
    /* A free reader if there is one, else wait for one in turn. */
    reader *rd = NULL;
    for (size_t k = 0; k < p->nreaders && rd == NULL; k++)
        if (pthread_mutex_trylock(&p->readers[k].mu) == 0)
            rd = &p->readers[k];
    if (rd == NULL) {
        rd = &p->readers[atomic_fetch_add(&p->reader_next, 1) % p->nreaders];
        pthread_mutex_lock(&rd->mu);
    }
    tsl_status r = tsl_store_token(rd->st, id, fmt, t, tok, len, iat, exp, err);
    int64_t now = mono_ms();
    if (r == TSL_ERR_IO && atomic_load(&p->down_since) == 0 &&
        now - rd->renewed_ms >= RECONNECT_MAX_MS) {
        /* The store failed under this handle (a database that restarted) but the
         * publisher reaches it again: a new handle, at most every 2 s per reader, and
         * the read once more. While the publisher finds the store down no request waits
         * for a connection attempt: answer.c serves what the snapshot covers. */
        rd->renewed_ms = now;
        tsl_store *st = NULL;
        if (tsl_store_open(p->path, &st, NULL) == TSL_OK) {
            tsl_store_close(rd->st);
            rd->st = st;
            tsl_error_clear(err);
            r = tsl_store_token(rd->st, id, fmt, t, tok, len, iat, exp, err);
        }
    }
    pthread_mutex_unlock(&rd->mu);
    return r;
}

/* ---------------------------------------------------------------------------------- */
/* Open and close                                                                       */

tsl_status tsl_publisher_open(const char *path, const tsl_publisher_options *opt,
                              tsl_publisher **out, tsl_error *err)
{
    if (path == NULL || out == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "publisher: no store path");
    *out = NULL;
    tsl_publisher *p = tslp_calloc(1, sizeof *p);
    if (p == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "out of memory");
    pthread_mutex_init(&p->snap_mu, NULL);
    pthread_mutex_init(&p->busy_mu, NULL);
    for (size_t k = 0; k < READERS; k++)
        pthread_mutex_init(&p->readers[k].mu, NULL);
    atomic_init(&p->reader_next, 0);
    for (size_t k = 0; k < TSL_NPROBLEMS; k++)
        atomic_init(&p->problems[k], 0);
    atomic_init(&p->round_done_ms, mono_ms());
    atomic_init(&p->stall_ms, STALL_FLOOR_MS);
    atomic_init(&p->stall_logged, false);
    atomic_init(&p->busy_since_ms, mono_ms());
    atomic_init(&p->stop, false);
    atomic_init(&p->publishes_ok, 0);
    atomic_init(&p->publishes_err, 0);
    atomic_init(&p->publishes_skipped, 0);
    atomic_init(&p->last_sync, 0);
    atomic_init(&p->down_since, 0);
    p->dflt = opt != NULL && opt->default_format == TSL_FORMAT_CWT ? TSL_FORMAT_CWT
                                                                   : TSL_FORMAT_JWT;
    p->history = opt != NULL && opt->history;
    p->interval_ms = opt != NULL && opt->interval_ms > 0 ? opt->interval_ms : 1000;
    p->retention = opt != NULL ? opt->retention : 0;
    p->log = opt != NULL ? opt->log : NULL;
    p->log_ctx = opt != NULL ? opt->log_ctx : NULL;
    bool ok = (p->path = dup_str(path)) != NULL;
    if (ok && opt != NULL && opt->aggregation_path != NULL)
        ok = (p->agg_path = dup_str(opt->aggregation_path)) != NULL;
    if (ok && opt != NULL && opt->nreserved > 0) {
        ok = (p->reserved = tslp_calloc(opt->nreserved, sizeof *p->reserved)) != NULL;
        for (size_t k = 0; ok && k < opt->nreserved; k++, p->nreserved++)
            ok = (p->reserved[k] = dup_str(opt->reserved[k])) != NULL;
    }
    if (!ok) {
        tsl_publisher_close(p);
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "out of memory");
    }
    tsl_status r = tsl_store_open(path, &p->st, err);
    /* History readers, open until close (see the struct). */
    for (size_t k = 0; r == TSL_OK && p->history && k < READERS; k++)
        if ((r = tsl_store_open(path, &p->readers[k].st, err)) == TSL_OK)
            p->nreaders++;
    if (r != TSL_OK) {
        tsl_publisher_close(p);
        return r;
    }
    /* The feed's handle is opened by the first step, in the runner's thread. */
    tslp_publisher_set_feed(p, &store_feed);
    p->gzipper = tslp_gzipper_start(); /* NULL: gzipped in the rounds instead */
    *out = p;
    return TSL_OK;
}

void tsl_publisher_close(tsl_publisher *p)
{
    if (p == NULL)
        return;
    tslp_gzipper_stop(p->gzipper);
    for (size_t k = 0; k < p->n; k++) {
        tslp_entry_release(p->lists[k].entry);
        tslp_free(p->lists[k].id);
    }
    tslp_free(p->lists);
    tsl_snapshot_release(p->snap);
    for (size_t k = 0; k < READERS; k++) {
        tsl_store_close(p->readers[k].st);
        pthread_mutex_destroy(&p->readers[k].mu);
    }
    tsl_store_close(p->st);
    tsl_store_close(p->wst);
    if (p->pending != NULL)
        pending_clear(p);
    tslp_free(p->pending);
    pthread_mutex_destroy(&p->busy_mu);
    pthread_mutex_destroy(&p->snap_mu);
    for (size_t k = 0; k < p->nreserved; k++)
        tslp_free(p->reserved[k]);
    tslp_free(p->reserved);
    tslp_free(p->agg_path);
    tslp_free(p->path);
    tslp_free(p);
}
