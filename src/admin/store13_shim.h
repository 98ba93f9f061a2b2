/* store13_shim.h - TRANSITIONAL: the store calls of the issuer API's contract (API13.md
 * section 1), declared here only until branch store13 (which adds them to tsl.h) is
 * merged; guarded so that it is empty once tsl.h has them. Delete after the merge. */
#ifndef TSL_ADMIN_STORE13_SHIM_H
#define TSL_ADMIN_STORE13_SHIM_H

#include "tsl.h"

#ifndef TSL_SCOPE_ALLOC
#define TSL_SCOPE_ALLOC 1u
#define TSL_SCOPE_UPDATE 2u
#define TSL_SCOPE_PUBLISH 4u
#define TSL_SCOPE_READ 8u
#define TSL_SCOPE_CREATE 16u
#define TSL_SCOPE_ALL 31u
tsl_status tsl_scopes_parse(const char *s, unsigned *mask, tsl_error *err);
const char *tsl_scopes_name(unsigned mask, char *buf, size_t size);
#define TSL_APIKEY_ID_LEN 12
#define TSL_APIKEY_SECRET_SIZE 64
typedef struct {
    char id[TSL_APIKEY_ID_LEN + 1];
    char list_id[65];
    unsigned scopes;
    int64_t created;
    int64_t expires;
    int64_t revoked;
} tsl_apikey_info;
tsl_status tsl_apikey_create(tsl_store *st, const char *list_id, unsigned scopes,
                             int64_t expires, tsl_apikey_info *info,
                             char secret[TSL_APIKEY_SECRET_SIZE], tsl_error *err);
tsl_status tsl_apikey_revoke(tsl_store *st, const char *id, tsl_error *err);
tsl_status tsl_apikey_list(tsl_store *st, tsl_apikey_info **out, size_t *n, tsl_error *err);
tsl_status tsl_apikey_check(tsl_store *st, const char *secret, size_t len, int64_t now,
                            tsl_apikey_info *out, tsl_error *err);
typedef enum { TSL_OP_ALLOC = 1, TSL_OP_UPDATE = 2 } tsl_op_kind;
typedef struct {
    tsl_op_kind kind;
    const char *list_id;
    const char *source;
    uint64_t count;
    const char *idem_owner;
    const char *idem_key;
    uint8_t idem_hash[32];
    const tsl_batch *batch;
    int force, dry_run;
    tsl_status status;
    tsl_error error;
    uint64_t *indices;
    int replayed;
    uint64_t changed;
    uint64_t version;
} tsl_store_op;
#define TSL_ALLOC_MAX_PER_OP 100000
#define TSL_IDEMPOTENCY_SECONDS 86400
tsl_status tsl_store_apply(tsl_store *st, tsl_store_op *ops, size_t n, int64_t now,
                           tsl_error *err);
tsl_status tsl_store_statuses(tsl_store *st, const char *id, const uint64_t *idx, size_t n,
                              unsigned *values, uint64_t *version, tsl_error *err);
typedef struct {
    uint64_t seq;
    int64_t time;
    char kind[16];
    uint64_t entries, changed;
    char *source;
} tsl_audit_row;
tsl_status tsl_store_audit(tsl_store *st, const char *id, uint64_t before, size_t limit,
                           tsl_audit_row **out, size_t *n, tsl_error *err);
void tsl_audit_rows_free(tsl_audit_row *rows, size_t n);
#endif

#endif
