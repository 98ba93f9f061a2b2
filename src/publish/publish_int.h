/* publish_int.h - the entry to the publish group (src/publish): the publisher
 * (publisher.c: rounds, snapshots, health, history readers; gzipper.c: the gzip
 * variants of large JWTs; walwatch.c: an SQLite store's writes wake it), the answering call
 * (answer.c), the shared rules (publish.c), the export to files (export.c), the uri
 * rules and the HTTP header helpers.
 * What the files of the group share beyond tsl.h: the layout of a snapshot. */
#ifndef TSL_PUBLISH_INT_H
#define TSL_PUBLISH_INT_H

#include "core/tsl_int.h"

#include <stdatomic.h>

/* The gzip variant of a JWT body, with its own ETag. */
typedef struct {
    uint8_t *data; /* tsl_free */
    size_t len;
    char etag[TSL_ETAG_SIZE];
} tslp_gz;

/* One published form of a list: the token bytes and what the headers say about them. */
typedef struct {
    bool present;
    uint8_t *body; /* the token: JWT text or CWT bytes (tsl_free) */
    size_t len;
    /* JWT only: the body gzip-encoded, or NULL until it is made (gzipper.c). Set once,
     * from NULL, while the entry is served: request threads read it atomically. */
    _Atomic(tslp_gz *) gz;
    char etag[TSL_ETAG_SIZE];
    char last_modified[TSL_HTTP_DATE_SIZE]; /* of iat */
    int64_t iat, exp;
} tslp_form;

/* A list as served: immutable once built, shared by consecutive snapshots. */
typedef struct {
    atomic_uint refs;
    char *id;
    char *uri;
    char *path;         /* the path of uri (tsl_uri_path): where it is served */
    unsigned formats;   /* TSL_PUBLISH_* bits of the forms present */
    int64_t ttl;        /* the list's ttl setting, 0: none */
    int64_t created;    /* when the list was created: the older list keeps a shared path */
    bool have_version;  /* version below was read (the list has a token) */
    uint64_t version;   /* a lower bound of the version its tokens were signed from */
    tslp_form form[2];  /* [0] JWT, [1] CWT */
    bool idl;           /* an identifier list: form[1] is it, served as TSL_MEDIA_IDLIST */
} tslp_entry;

/* Whether an Accept header takes application/identifierlist+cwt (idl_http.c). */
bool tslp_idl_acceptable(const char *accept, size_t len);

/* Everything served at one moment. */
struct tsl_snapshot {
    atomic_uint refs;
    size_t n;
    tslp_entry **lists; /* sorted by path, no two alike */
    char *agg;          /* {"status_lists":[...]} (tsl_free) */
    size_t agg_len;
    char agg_etag[TSL_ETAG_SIZE];
    /* What the answering call needs of the publisher's options. */
    tsl_format dflt;
    char *agg_path;     /* or NULL */
    tsl_publisher *pub; /* for history reads (outlives its snapshots) */
};

/* Drops a reference to an entry; the last one frees it. */
void tslp_entry_release(tslp_entry *e);

/* ---- gzip variants made off the publisher's path (gzipper.c) ---- */

typedef struct tslp_gzipper tslp_gzipper;

/* Starts the gzip thread; NULL when it cannot (tslp_gzipper_add then gzips at once). */
tslp_gzipper *tslp_gzipper_start(void);

/* Has e's JWT gzipped and attached later, if it has a JWT without a gzip variant
 * (takes a reference to e until then; a list's older entry still waiting is dropped). */
void tslp_gzipper_add(tslp_gzipper *z, tslp_entry *e);

/* Stops the thread (after the gzip under way) and drops the entries waiting. */
void tslp_gzipper_stop(tslp_gzipper *z);

/* Gzips e's JWT now and attaches it; false when there is nothing to do, it was
 * attached meanwhile, or out of memory. */
bool tslp_entry_gzip(tslp_entry *e);

/* ---- an SQLite store's writes wake a polling publisher (walwatch.c) ---- */

typedef struct tslp_walwatch tslp_walwatch;

/* Watches the -wal file of the SQLite store at path and calls fn(ctx) from a thread of
 * its own after writes to it, at most once every gap_ms; NULL when it cannot (no -wal
 * file, no inotify, a path too long, out of memory): the caller polls only. */
tslp_walwatch *tslp_walwatch_start(const char *path, int64_t gap_ms, void (*fn)(void *ctx),
                                   void *ctx);

/* Stops and frees the watch; fn is not called once this returns. */
void tslp_walwatch_stop(tslp_walwatch *w);

/* The file of the publisher's store when it is an SQLite file, else NULL. */
const char *tslp_publisher_file(const tsl_publisher *p);

/* The list served at path (len bytes), or NULL. */
const tslp_entry *tslp_snapshot_find(const tsl_snapshot *s, const char *path, size_t len);

/* A recorded token valid at time t, read through one of the publisher's history
 * handles; TSL_ERR_UNSUPPORTED when history is off. */
tsl_status tslp_publisher_history(tsl_publisher *p, const char *id, tsl_format fmt,
                                  int64_t t, uint8_t **tok, size_t *len, int64_t *iat,
                                  int64_t *exp, tsl_error *err);

/* Whether the publisher answers ?time= (tsl_publisher_options.history). */
bool tslp_publisher_has_history(const tsl_publisher *p);

/* Whether path is one the server answers itself (tsl_publisher_options.reserved). */
bool tslp_publisher_reserved(const tsl_publisher *p, const char *path);

/* One line to the publisher's log callback (prefix-free; the callback adds its own). */
void tslp_publisher_log(tsl_publisher *p, const char *fmt, ...) TSLP_PRINTF(2, 3);

/* ---- changes pushed by the store (publisher.c) ---- */

/* The store's change feed as the publisher uses it: the store seam's three calls
 * (tslp_store_can_watch, tslp_store_watch, tslp_store_wait in store/store_int.h), held
 * as pointers so that a test can drive the publisher with a scripted feed. */
typedef struct {
    bool (*can_watch)(const tsl_store *st);
    tsl_status (*watch)(tsl_store *st, tsl_error *err);
    tsl_status (*wait)(tsl_store *st, int timeout_ms,
                       void (*fn)(void *ctx, const char *id), void *ctx, tsl_error *err);
} tslp_feed;

/* Replaces the store's feed (tests; before the first step), and decides again whether
 * the publisher is pushed (feed->can_watch on its store handle). */
void tslp_publisher_set_feed(tsl_publisher *p, const tslp_feed *feed);

/* Whether the store pushes its changes: then tsl_publisher_runner calls
 * tslp_publisher_step instead of a round every interval. */
bool tslp_publisher_pushed(const tsl_publisher *p);

/* One step of a pushed publisher (the runner's thread, as rounds): listens if it does
 * not yet (then owes a full round), waits at most max_ms for changes and runs a round
 * over the lists notified, or a full round when one is owed or due; while the store is
 * unreachable it backs off (RECONNECT_MIN_MS doubling to RECONNECT_MAX_MS) between
 * attempts. Returns within about max_ms unless a round signs. */
void tslp_publisher_step(tsl_publisher *p, int64_t max_ms);

#endif /* TSL_PUBLISH_INT_H */
