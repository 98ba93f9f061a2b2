/* admin_int.h - the entry to the issuer API's group (src/admin): what its files share
 * beyond tsl.h. admin.c routes and answers; problem.c writes RFC 9457 problems and JSON
 * text; body.c parses request bodies and queries; auth.c checks keys, scopes and rate
 * limits; commit.c is the group-commit thread. Never installed. */
#ifndef TSL_ADMIN_INT_H
#define TSL_ADMIN_INT_H

#include "core/tsl_int.h"
#include "store/idl_perm.h" /* an identifier list's changes name entries by id */

#include <pthread.h>
#include <stdatomic.h>

/* ---- refusals (problem.c) ---- */

/* Why a request is refused, as its problem will say: status and class (the stable part
 * of the type, "malformed"), detail, and the members that apply. */
typedef struct {
    unsigned status;
    const char *cls;          /* static: "malformed", "invalid-value", ... */
    const char *field;        /* static or NULL: the offending field */
    bool has_index, has_line, has_offset;
    uint64_t index, line;
    size_t offset;
    unsigned retry_after;     /* seconds, 0: no Retry-After */
    char detail[TSL_ERROR_MSG_SIZE + 64];
} tslp_refusal;

/* Fills r (cleared first) and returns false, so parsers can write
 * `return tslp_refuse(r, 400, "malformed", "...")`. */
bool tslp_refuse(tslp_refusal *r, unsigned status, const char *cls, const char *fmt, ...)
    TSLP_PRINTF(4, 5);

/* Adds a header to out (name and value static, or value in out->hbuf_ / pointing into
 * out). Past TSL_ADMIN_MAX_HEADERS it is dropped (the table fits every answer). */
void tslp_admin_header(tsl_admin_response *out, const char *name, const char *value);

/* Resets out to an empty answer: status 0, no body, Cache-Control: no-store. */
void tslp_admin_response_init(tsl_admin_response *out);

/* The problem answer of r: application/problem+json, Retry-After when set,
 * WWW-Authenticate: Bearer for 401. Out of memory leaves a 500 without body. */
void tslp_admin_problem(tsl_admin_response *out, const tslp_refusal *r);

/* A problem in one call. */
void tslp_admin_fail(tsl_admin_response *out, unsigned status, const char *cls,
                     const char *fmt, ...) TSLP_PRINTF(4, 5);

/* A store or library error as a problem: TSL_ERR_IO 503 unavailable (Retry-After 1),
 * TSL_ERR_NOT_FOUND 404, TSL_ERR_NOMEM and the rest 500 internal. The detail is the
 * error's message. */
void tslp_admin_store_fail(tsl_admin_response *out, tsl_status code, const tsl_error *err);

/* A JSON answer: takes b's bytes (b is left empty). Past the answer cap or without
 * memory, a 500 problem. */
void tslp_admin_json(tsl_admin_response *out, unsigned status, tslp_buf *b);

/* tslp_buf_take() of text: a NUL after the len bytes, so that the body is a C string
 * too. NULL without memory (b is then freed by the caller). */
uint8_t *tslp_buf_take_text(tslp_buf *b, size_t *len);

/* Appends s (n bytes) as a JSON string, quotes included, escaping what JSON requires. */
tsl_status tslp_json_str(tslp_buf *b, const char *s, size_t n, tsl_error *err);

/* ---- bodies and queries (body.c) ---- */

/* The JSON change array: [{"index":I,"status":S} | {"first":A,"last":B,"status":S}, ...]
 * (S a status name in any case or a number 0..255), parsed in one pass without a tree,
 * each item added to b (a batch for a list of `size` entries of `bits`). For an
 * identifier list idl is its permutation (store/idl_perm.h), and {"id":HEX,"status":S}
 * names an entry by its identifier; else NULL. At most max_items items (413 too-large
 * past it). false and r: 400 malformed (offset, field), 400 invalid-value (index or
 * offset, field; an id the list never made), 413 too-large. */
bool tslp_body_changes_json(const uint8_t *p, size_t n, unsigned bits, uint64_t size,
                            const tslp_idl_perm *idl, size_t max_items, tsl_batch *b,
                            tslp_refusal *r);

/* The text format of `tsl update` ("IDX STATUS", "FIRST-LAST STATUS", comments), line
 * by line through tsl_batch_add_line(). At most max_items lines that add an item. */
bool tslp_body_changes_text(const uint8_t *p, size_t n, size_t max_items, tsl_batch *b,
                            tslp_refusal *r);

/* {"count": N}, N 1..TSL_ALLOC_MAX_PER_OP. */
bool tslp_body_count(const uint8_t *p, size_t n, uint64_t *count, tslp_refusal *r);

/* {"status": S}: a value 0..255 (bits are checked by the batch). */
bool tslp_body_status(const uint8_t *p, size_t n, unsigned *value, tslp_refusal *r);

/* A new list's settings (POST /v1/lists) into *spec, whose strings point into *owner (a
 * jansson tree, freed with tslp_body_spec_free()). */
bool tslp_body_list_spec(const uint8_t *p, size_t n, tsl_list_spec *spec, void **owner,
                         tslp_refusal *r);
void tslp_body_spec_free(void *owner);

/* A query string: up to TSLP_ADMIN_QUERY_PARAMS name=value pairs separated by '&',
 * percent-decoded ('+' as a space), at most TSLP_ADMIN_QUERY_MAX bytes. A name given
 * twice is malformed. */
typedef struct {
    char text[TSLP_ADMIN_QUERY_MAX + 1];
    const char *name[TSLP_ADMIN_QUERY_PARAMS];
    const char *value[TSLP_ADMIN_QUERY_PARAMS];
    size_t n;
} tslp_query;
bool tslp_query_parse(const char *q, tslp_query *out, tslp_refusal *r);
/* The value of name, or NULL when absent. */
const char *tslp_query_get(const tslp_query *q, const char *name);
/* A parameter only the names in allowed (NULL-terminated) may be: else malformed. */
bool tslp_query_only(const tslp_query *q, const char *const *allowed, tslp_refusal *r);
/* name absent: dflt; "true" / "false" (also "1" / "0"); else malformed. */
bool tslp_query_bool(const tslp_query *q, const char *name, bool dflt, bool *v,
                     tslp_refusal *r);
/* name absent: dflt; decimal digits within [min, max]; else malformed. */
bool tslp_query_u64(const tslp_query *q, const char *name, uint64_t min, uint64_t max,
                    uint64_t dflt, uint64_t *v, tslp_refusal *r);
/* "1,5,9": at most max decimal indices into idx; *n their count (at least one). */
bool tslp_idx_list(const char *s, uint64_t *idx, size_t max, size_t *n, tslp_refusal *r);

/* A decimal index without sign or leading zeros (a path segment). */
bool tslp_parse_index(const char *s, uint64_t *v);

/* ---- the handle ---- */

/* One read handle and the lock of its user. */
typedef struct {
    pthread_mutex_t mu;
    tsl_store *st;
} tslp_reader;

/* The read handles of an issuer API (readers.c): several request threads read at once,
 * each on a handle of its own while it holds it. */
typedef struct {
    tslp_reader r[TSLP_ADMIN_READERS];
    atomic_uint next;
    bool ready; /* the locks exist: tslp_readers_open() ran */
} tslp_readers;

/* Opens every handle of p on db_path (read and write: publish-now signs on one).
 * tslp_readers_close() also after a failure. */
tsl_status tslp_readers_open(tslp_readers *p, const char *db_path, tsl_error *err);
void tslp_readers_close(tslp_readers *p);

typedef struct tslp_auth tslp_auth;         /* auth.c */
typedef struct tslp_committer tslp_committer; /* commit.c */

/* Answer classes counted for the metrics. */
enum { TSLP_A_2XX, TSLP_A_400, TSLP_A_401, TSLP_A_403, TSLP_A_404, TSLP_A_405, TSLP_A_409,
       TSLP_A_413, TSLP_A_415, TSLP_A_422, TSLP_A_429, TSLP_A_500, TSLP_A_503, TSLP_A_504,
       TSLP_A_OTHER, TSLP_A_N };

/* A list's shape as remembered (admin.c: list_shape). */
typedef struct {
    char id[TSLP_ID_MAX + 1];
    char uri[TSL_URI_MAX + 1];
    unsigned bits;
    uint64_t size;
    unsigned formats; /* TSL_PUBLISH_*: an identifier list's entries are identifiers */
    int64_t at_ms; /* monotonic: when read; 0: empty */
} tslp_shape;

struct tsl_admin {
    char *db_path;
    tsl_publisher *publisher;
    tsl_publisher_runner *runner;
    size_t max_body, max_items;
    unsigned create_flags;
    tsl_publisher_log_fn log;
    void *log_ctx;

    tslp_readers readers;

    tslp_auth *auth;
    tslp_committer *committer;

    pthread_mutex_t shape_mu;
    tslp_shape *shapes; /* TSLP_ADMIN_SHAPE_CACHE, direct-mapped by id */

    /* Counters (metrics). */
    atomic_ullong answers[TSLP_A_N];
    atomic_ullong allocated;    /* indices handed out (not replays) */
    atomic_ullong replays;      /* allocations answered from an Idempotency-Key */
    atomic_ullong changes;      /* entries changed by status updates */
    atomic_ullong publishes;
};

/* A read handle of a's pool, locked for the caller (the first free one, else it waits
 * for one); give it back with tslp_reader_put(). readers.c. */
tslp_reader *tslp_reader_get(tsl_admin *a);
void tslp_reader_put(tslp_reader *rd);

/* One line to the admin's log (never a secret). */
void tslp_admin_log(tsl_admin *a, const char *fmt, ...) TSLP_PRINTF(2, 3);

/* ---- authentication and rate limits (auth.c) ---- */

tsl_status tslp_auth_new(double rate, unsigned burst, tslp_auth **out, tsl_error *err);
void tslp_auth_free(tslp_auth *au);

/* Authenticates rq's bearer key at now: true and *key; else false and out holds the
 * problem (401 unauthorized with WWW-Authenticate, 429 while the address is limited,
 * 503 when the store cannot be read). spend: take a token of the key's bucket (else
 * only look: 429 when it is empty). */
bool tslp_auth_check(tsl_admin *a, const tsl_admin_request *rq, int64_t now, bool spend,
                     tsl_apikey_info *key, tsl_admin_response *out);

/* Scope and list: true, or false and a 403 forbidden problem in out. list_id NULL: an
 * operation on no single list (list the lists: any key; create: an all-lists key). */
bool tslp_auth_allow(const tsl_apikey_info *key, unsigned scope, const char *list_id,
                     tsl_admin_response *out);

/* Counters for the metrics. */
void tslp_auth_counts(tslp_auth *au, uint64_t *failed, uint64_t *limited_addr,
                      uint64_t *limited_key);

/* ---- the committer (commit.c) ---- */

tsl_status tslp_committer_start(const char *db_path, tslp_committer **out, tsl_error *err);
/* Commits what is queued, stops the thread, closes its handle. */
void tslp_committer_stop(tslp_committer *c);

/* Queues op, waits until it is committed (or refused) and returns true; op's results
 * are set by tsl_store_apply(). false when the queue is full (nothing queued). */
bool tslp_commit(tslp_committer *c, tsl_store_op *op);

/* Transactions and ops committed so far; ops waiting now. */
void tslp_committer_counts(tslp_committer *c, uint64_t *commits, uint64_t *ops,
                           uint64_t *queued, uint64_t *refused);

#endif /* TSL_ADMIN_INT_H */
