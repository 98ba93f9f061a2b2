/* apikey.c - the issuer API's credentials: scopes, and API keys made, revoked, listed
 * and checked. A key's secret is "tsl_" + id + "_" + 43 base64url characters of 32
 * CSPRNG bytes; the store keeps only its SHA-256 (a secret of 256 random bits needs no
 * slow hash: nothing can be guessed from the digest), under the id, which is not
 * secret and finds the row. The secret exists in memory only while it is made or
 * checked, and is wiped after. */
#include "crypto/crypto.h"
#include "store/backend.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define PREFIX "tsl_"
#define PREFIX_LEN 4
#define RAND_BYTES 32
#define RAND_CHARS 43 /* base64url of 32 bytes, unpadded */
/* "tsl_" id "_" random */
#define SECRET_LEN (PREFIX_LEN + TSL_APIKEY_ID_LEN + 1 + RAND_CHARS)

static const char *const SCOPE_NAMES[] = {"alloc", "update", "publish", "read", "create"};
#define NSCOPES (sizeof SCOPE_NAMES / sizeof SCOPE_NAMES[0])

tsl_status tsl_scopes_parse(const char *s, unsigned *mask, tsl_error *err)
{
    if (s == NULL || mask == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "scopes: NULL argument");
    if (strcmp(s, "all") == 0) {
        *mask = TSL_SCOPE_ALL;
        return TSL_OK;
    }
    unsigned m = 0;
    const char *p = s;
    for (;;) {
        size_t len = strcspn(p, ",");
        size_t k = 0;
        while (k < NSCOPES && !(strlen(SCOPE_NAMES[k]) == len &&
                                memcmp(SCOPE_NAMES[k], p, len) == 0))
            k++;
        if (k == NSCOPES)
            return tslp_fail(err, TSL_ERR_ARG, 0,
                             "scopes: \"%.*s\" is not a scope (alloc, update, publish, read, "
                             "create, or all)", (int)(len > 64 ? 64 : len), p);
        if (m & (1u << k))
            return tslp_fail(err, TSL_ERR_ARG, 0, "scopes: \"%s\" given twice",
                             SCOPE_NAMES[k]);
        m |= 1u << k;
        if (p[len] == '\0')
            break;
        p += len + 1;
    }
    *mask = m;
    return TSL_OK;
}

const char *tsl_scopes_name(unsigned mask, char *buf, size_t size)
{
    if (buf == NULL || size == 0)
        return buf;
    buf[0] = '\0';
    size_t used = 0;
    for (size_t k = 0; k < NSCOPES; k++) {
        if (!(mask & (1u << k)))
            continue;
        int w = snprintf(buf + used, size - used, "%s%s", used ? "," : "", SCOPE_NAMES[k]);
        if (w < 0 || (size_t)w >= size - used) {
            buf[used] = '\0'; /* cut after the last whole name */
            break;
        }
        used += (size_t)w;
    }
    return buf;
}

/* base64url without padding of n bytes into out (4 * n / 3 rounded up, plus NUL). The
 * secret's own encoder, so that no copy of it lands in a heap buffer. */
static void b64url(const uint8_t *in, size_t n, char *out)
{
    static const char A[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0;
    for (size_t k = 0; k < n; k += 3) {
        uint32_t v = (uint32_t)in[k] << 16;
        if (k + 1 < n)
            v |= (uint32_t)in[k + 1] << 8;
        if (k + 2 < n)
            v |= in[k + 2];
        out[o++] = A[v >> 18 & 63];
        out[o++] = A[v >> 12 & 63];
        if (k + 1 < n)
            out[o++] = A[v >> 6 & 63];
        if (k + 2 < n)
            out[o++] = A[v & 63];
    }
    out[o] = '\0';
}

static bool is_b64url(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_';
}

static bool is_id(const char *s, size_t len)
{
    if (len != TSL_APIKEY_ID_LEN)
        return false;
    for (size_t k = 0; k < len; k++)
        if (!((s[k] >= '0' && s[k] <= '9') || (s[k] >= 'a' && s[k] <= 'f')))
            return false;
    return true;
}

/* An audit row for a key bound to a list ("create ID", "revoke ID"); a key for every
 * list has no list trail to go in (its row keeps created and revoked). */
static tsl_status audit_key(tsl_store *st, const tsl_apikey_info *in, const char *what,
                            int64_t now, tsl_error *err)
{
    if (in->list_id[0] == '\0')
        return TSL_OK;
    char source[32];
    snprintf(source, sizeof source, "%s %s", what, in->id);
    return tslp_store_audit(st, in->list_id, now, 0, 0, source, "apikey", err);
}

tsl_status tsl_apikey_create(tsl_store *st, const char *list_id, unsigned scopes,
                             int64_t expires, tsl_apikey_info *info,
                             char secret[TSL_APIKEY_SECRET_SIZE], tsl_error *err)
{
    if (st == NULL || secret == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "API key: NULL argument");
    secret[0] = '\0';
    if (list_id != NULL && list_id[0] == '\0')
        list_id = NULL;
    if (scopes == 0 || (scopes & ~TSL_SCOPE_ALL) != 0)
        return tslp_fail(err, TSL_ERR_ARG, 0, "API key: scopes 0x%x are not a set of scopes",
                         scopes);
    if (list_id != NULL && (scopes & TSL_SCOPE_CREATE))
        return tslp_fail(err, TSL_ERR_ARG, 0,
                         "API key: the create scope needs a key for all lists, not one for "
                         "list \"%s\"", list_id);
    if (list_id != NULL && !tslp_store_id_ok(list_id))
        return tslp_fail(err, TSL_ERR_ARG, 0, "API key: \"%s\" is not a list id", list_id);
    int64_t now = (int64_t)time(NULL);
    if (expires < 0 || (expires != 0 && expires <= now))
        return tslp_fail(err, TSL_ERR_ARG, 0,
                         "API key: expiry %lld is not in the future (now %lld)",
                         (long long)expires, (long long)now);
    tslp_apikey_row row;
    memset(&row, 0, sizeof row);
    uint8_t rnd[6 + RAND_BYTES];
    char text[TSL_APIKEY_SECRET_SIZE];
    tsl_status r = tslp_random_bytes(rnd, sizeof rnd, err);
    if (r != TSL_OK)
        return r;
    for (size_t k = 0; k < 6; k++)
        snprintf(row.info.id + 2 * k, 3, "%02x", rnd[k]);
    memcpy(text, PREFIX, PREFIX_LEN);
    memcpy(text + PREFIX_LEN, row.info.id, TSL_APIKEY_ID_LEN);
    text[PREFIX_LEN + TSL_APIKEY_ID_LEN] = '_';
    b64url(rnd + 6, RAND_BYTES, text + PREFIX_LEN + TSL_APIKEY_ID_LEN + 1);
    tslp_cleanse(rnd, sizeof rnd);
    if ((r = tslp_sha256((const uint8_t *)text, SECRET_LEN, row.hash)) != TSL_OK)
        r = tslp_fail(err, TSL_ERR_CRYPTO, 0, "API key: SHA-256 failed");
    if (list_id != NULL)
        snprintf(row.info.list_id, sizeof row.info.list_id, "%s", list_id);
    row.info.scopes = scopes;
    row.info.created = now;
    row.info.expires = expires;
    if (r == TSL_OK && (r = tslp_store_begin(st, true, err)) == TSL_OK) {
        tslp_list_row lr;
        if (list_id != NULL && (r = tslp_store_read_row(st, list_id, &lr, err)) == TSL_OK) {
            tslp_cleanse(lr.perm_key, sizeof lr.perm_key);
            tsl_list_info_free(&lr.info);
        }
        if (r == TSL_OK && (r = st->be->apikey_insert(st, &row, err)) == TSL_OK &&
            (r = audit_key(st, &row.info, "create", now, err)) == TSL_OK)
            r = tslp_store_commit(st, err);
        else
            tslp_store_rollback(st);
    }
    if (r == TSL_OK) {
        memcpy(secret, text, SECRET_LEN + 1);
        if (info != NULL)
            *info = row.info;
    }
    tslp_cleanse(text, sizeof text);
    return r;
}

tsl_status tsl_apikey_revoke(tsl_store *st, const char *id, tsl_error *err)
{
    if (st == NULL || id == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "API key: NULL argument");
    if (!is_id(id, strlen(id)))
        return tslp_fail(err, TSL_ERR_NOT_FOUND, 0,
                         "API key \"%.16s\": no such key (an id is 12 hex digits)", id);
    int64_t now = (int64_t)time(NULL);
    tsl_status r = tslp_store_begin(st, true, err);
    if (r != TSL_OK)
        return r;
    tslp_apikey_row row;
    bool found = false;
    if ((r = st->be->apikey_read(st, id, &row, &found, err)) == TSL_OK && !found)
        r = tslp_fail(err, TSL_ERR_NOT_FOUND, 0, "API key %s: no such key", id);
    /* Revoking again keeps the first time and records nothing. */
    if (r == TSL_OK && row.info.revoked == 0 &&
        (r = st->be->apikey_revoke(st, id, now, err)) == TSL_OK)
        r = audit_key(st, &row.info, "revoke", now, err);
    if (r == TSL_OK)
        return tslp_store_commit(st, err);
    tslp_store_rollback(st);
    return r;
}

tsl_status tsl_apikey_list(tsl_store *st, tsl_apikey_info **out, size_t *n, tsl_error *err)
{
    if (st == NULL || out == NULL || n == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "API key: NULL argument");
    *out = NULL;
    *n = 0;
    tslp_apikey_row *rows = NULL;
    size_t cnt = 0;
    tsl_status r = st->be->apikey_rows(st, &rows, &cnt, err);
    if (r != TSL_OK || cnt == 0)
        return r;
    /* The rows are turned into infos in place: the hashes go. */
    tsl_apikey_info *infos = (tsl_apikey_info *)(void *)rows;
    for (size_t k = 0; k < cnt; k++)
        memmove(&infos[k], &rows[k].info, sizeof infos[k]);
    *out = infos;
    *n = cnt;
    return TSL_OK;
}

tsl_status tsl_apikey_check(tsl_store *st, const char *secret, size_t len, int64_t now,
                            tsl_apikey_info *out, tsl_error *err)
{
    if (st == NULL || (secret == NULL && len > 0))
        return tslp_fail(err, TSL_ERR_ARG, 0, "API key: NULL argument");
    if (now == 0)
        now = (int64_t)time(NULL);
    /* A presented secret of the wrong shape is refused like a wrong one, without
     * looking anything up, and the message says nothing of what it was. */
    bool shaped = len == SECRET_LEN && memcmp(secret, PREFIX, PREFIX_LEN) == 0 &&
                  is_id(secret + PREFIX_LEN, TSL_APIKEY_ID_LEN) &&
                  secret[PREFIX_LEN + TSL_APIKEY_ID_LEN] == '_';
    for (size_t k = PREFIX_LEN + TSL_APIKEY_ID_LEN + 1; shaped && k < len; k++)
        shaped = is_b64url((unsigned char)secret[k]);
    if (!shaped)
        return tslp_fail(err, TSL_ERR_DENIED, 0, "API key: unknown or wrong key");
    char id[TSL_APIKEY_ID_LEN + 1];
    memcpy(id, secret + PREFIX_LEN, TSL_APIKEY_ID_LEN);
    id[TSL_APIKEY_ID_LEN] = '\0';
    tslp_apikey_row row;
    memset(&row, 0, sizeof row);
    bool found = false;
    tsl_status r = st->be->apikey_read(st, id, &row, &found, err);
    if (r != TSL_OK)
        return r;
    /* An unknown id is compared against a hash no secret has (all zeros), so that it
     * costs what a known one does. */
    uint8_t got[32];
    if (tslp_sha256((const uint8_t *)secret, len, got) != TSL_OK)
        return tslp_fail(err, TSL_ERR_CRYPTO, 0, "API key: SHA-256 failed");
    bool match = tslp_equal_ct(got, row.hash, sizeof got) && found;
    tslp_cleanse(got, sizeof got);
    if (!match)
        return tslp_fail(err, TSL_ERR_DENIED, 0, "API key: unknown or wrong key");
    if (row.info.revoked != 0)
        return tslp_fail(err, TSL_ERR_DENIED, 0, "API key %s: key revoked", id);
    if (row.info.expires != 0 && now >= row.info.expires)
        return tslp_fail(err, TSL_ERR_DENIED, 0, "API key %s: key expired", id);
    if (out != NULL)
        *out = row.info;
    return TSL_OK;
}
