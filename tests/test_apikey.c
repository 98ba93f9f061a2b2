/* test_apikey.c - the issuer API's keys, on SQLite and PostgreSQL: scopes parsed and
 * named, a key made and checked, every refusal (wrong, unknown, malformed, expired,
 * revoked) with its message and never the secret in it, the rules of create (scopes,
 * lists, expiry), only the SHA-256 stored, the list newest first without hashes, the
 * audit rows, and the keys going along with tsl_store_copy. */
#include "store_fx.h"
#include "crypto/crypto.h"
#include "store/backend.h"

#include <time.h>

TT_TEST(apikey_scopes_parse_and_name)
{
    unsigned m = 0;
    tsl_error err;
    TT_OK(tsl_scopes_parse("alloc,read", &m, NULL));
    TT_EQ_U(m, TSL_SCOPE_ALLOC | TSL_SCOPE_READ);
    TT_OK(tsl_scopes_parse("read,create,alloc,publish,update", &m, NULL));
    TT_EQ_U(m, TSL_SCOPE_ALL);
    TT_OK(tsl_scopes_parse("all", &m, NULL));
    TT_EQ_U(m, TSL_SCOPE_ALL);
    tsl_error_clear(&err);
    TT_ERR(tsl_scopes_parse("alloc,alloc", &m, &err), TSL_ERR_ARG);
    TT_CONTAINS(err.msg, "\"alloc\" given twice");
    tsl_error_clear(&err);
    TT_ERR(tsl_scopes_parse("alloc,wrte", &m, &err), TSL_ERR_ARG);
    TT_CONTAINS(err.msg, "\"wrte\" is not a scope");
    TT_ERR(tsl_scopes_parse("", &m, NULL), TSL_ERR_ARG);
    TT_ERR(tsl_scopes_parse("alloc,", &m, NULL), TSL_ERR_ARG);
    TT_ERR(tsl_scopes_parse("Alloc", &m, NULL), TSL_ERR_ARG);
    TT_ERR(tsl_scopes_parse("all,read", &m, NULL), TSL_ERR_ARG);
    char buf[64];
    TT_EQ_STR(tsl_scopes_name(TSL_SCOPE_READ | TSL_SCOPE_ALLOC, buf, sizeof buf), "alloc,read");
    TT_EQ_STR(tsl_scopes_name(TSL_SCOPE_ALL, buf, sizeof buf),
              "alloc,update,publish,read,create");
    TT_EQ_STR(tsl_scopes_name(0, buf, sizeof buf), "");
    /* Cut, still terminated. */
    TT_EQ_STR(tsl_scopes_name(TSL_SCOPE_ALL, buf, 8), "alloc");
    /* And back. */
    TT_OK(tsl_scopes_parse(tsl_scopes_name(TSL_SCOPE_UPDATE | TSL_SCOPE_PUBLISH, buf,
                                           sizeof buf), &m, NULL));
    TT_EQ_U(m, TSL_SCOPE_UPDATE | TSL_SCOPE_PUBLISH);
}

/* Whether text appears in the file at path (the store must not hold the secret). */
static int file_has(const char *path, const char *text)
{
    FILE *fp = fopen(path, "rb");
    if (fp == NULL)
        return 0;
    size_t cap = 1 << 20, len = 0, k;
    char *buf = malloc(cap);
    while (buf != NULL && (k = fread(buf + len, 1, cap - len, fp)) > 0) {
        len += k;
        if (len == cap) {
            char *nb = realloc(buf, cap *= 2);
            if (nb == NULL)
                break;
            buf = nb;
        }
    }
    fclose(fp);
    int found = buf != NULL && memmem(buf, len, text, strlen(text)) != NULL;
    free(buf);
    return found;
}

STORE_TEST(apikey_create_check_refusals)
{
    sfx f;
    TT_CHECK(sfx_open(&f) == 0);
    TT_OK(sfx_list(&f, "a", 2, 1000));
    char secret[TSL_APIKEY_SECRET_SIZE];
    tsl_apikey_info info, got;
    int64_t now = (int64_t)time(NULL);
    TT_OK(tsl_apikey_create(f.st, "a", TSL_SCOPE_ALLOC | TSL_SCOPE_READ, 0, &info, secret,
                            NULL));
    /* The secret's shape: tsl_ + id + _ + 43 base64url. */
    TT_EQ_U(strlen(secret), 60);
    TT_CHECK(strncmp(secret, "tsl_", 4) == 0 && strncmp(secret + 4, info.id, 12) == 0 &&
             secret[16] == '_');
    TT_EQ_U(strlen(info.id), TSL_APIKEY_ID_LEN);
    TT_EQ_STR(info.list_id, "a");
    TT_EQ_U(info.scopes, TSL_SCOPE_ALLOC | TSL_SCOPE_READ);
    TT_CHECK(info.created >= now && info.created <= now + 5);
    TT_EQ_U(info.expires, 0);
    TT_EQ_U(info.revoked, 0);
    /* It checks. */
    memset(&got, 0, sizeof got);
    TT_OK(tsl_apikey_check(f.st, secret, strlen(secret), 0, &got, NULL));
    TT_EQ_STR(got.id, info.id);
    TT_EQ_STR(got.list_id, "a");
    TT_EQ_U(got.scopes, info.scopes);
    /* Only the SHA-256 of the secret is stored. */
    tslp_apikey_row row;
    bool found = false;
    uint8_t h[32];
    TT_OK(f.st->be->apikey_read(f.st, info.id, &row, &found, NULL));
    TT_CHECK(found);
    TT_OK(tslp_sha256((const uint8_t *)secret, 60, h));
    TT_EQ_MEM(row.hash, h, 32);
    if (!sfx_pg) {
        char wal[600];
        snprintf(wal, sizeof wal, "%s-wal", f.db);
        TT_CHECK(!file_has(f.db, secret + 17) && !file_has(wal, secret + 17));
        TT_CHECK(file_has(f.db, info.id) || file_has(wal, info.id));
    }
    /* Refusals: each DENIED, with its message, never the secret. */
    struct {
        const char *what;
        char text[80];
        size_t len;
    } bad[6];
    size_t nb = 0;
    snprintf(bad[nb].text, sizeof bad[nb].text, "%s", secret);
    bad[nb].text[59] = bad[nb].text[59] == 'A' ? 'B' : 'A';
    bad[nb].len = 60, bad[nb++].what = "wrong";
    snprintf(bad[nb].text, sizeof bad[nb].text, "%s", secret);
    bad[nb].text[5] = bad[nb].text[5] == 'a' ? 'b' : 'a';
    bad[nb].len = 60, bad[nb++].what = "unknown id";
    snprintf(bad[nb].text, sizeof bad[nb].text, "%s", secret);
    bad[nb].len = 59, bad[nb++].what = "short";
    snprintf(bad[nb].text, sizeof bad[nb].text, "%s", secret);
    bad[nb].text[30] = '+';
    bad[nb].len = 60, bad[nb++].what = "not base64url";
    snprintf(bad[nb].text, sizeof bad[nb].text, "Bearer %s", secret);
    bad[nb].len = strlen(bad[nb].text), bad[nb++].what = "with the scheme";
    bad[nb].text[0] = '\0';
    bad[nb].len = 0, bad[nb++].what = "empty";
    for (size_t k = 0; k < nb; k++) {
        tsl_error err;
        tsl_error_clear(&err);
        tsl_status s = tsl_apikey_check(f.st, bad[k].text, bad[k].len, 0, &got, &err);
        if (s != TSL_ERR_DENIED)
            fprintf(stderr, "  %s: %s\n", bad[k].what, tsl_strerror(s));
        TT_EQ_U(s, TSL_ERR_DENIED);
        TT_CONTAINS(err.msg, "unknown or wrong key");
        TT_CHECK(strstr(err.msg, secret + 17) == NULL && strstr(err.msg, "tsl_") == NULL);
        TT_CHECK(strstr(err.msg, info.id) == NULL); /* not even the id of a wrong key */
    }
    /* Expiry, at the `now` given. */
    char s2[TSL_APIKEY_SECRET_SIZE];
    tsl_apikey_info i2;
    TT_OK(tsl_apikey_create(f.st, "a", TSL_SCOPE_UPDATE, now + 100, &i2, s2, NULL));
    TT_EQ_U(i2.expires, now + 100);
    TT_OK(tsl_apikey_check(f.st, s2, 60, now + 99, &got, NULL));
    tsl_error err;
    tsl_error_clear(&err);
    TT_ERR(tsl_apikey_check(f.st, s2, 60, now + 100, &got, &err), TSL_ERR_DENIED);
    TT_CONTAINS(err.msg, "key expired");
    TT_CHECK(strstr(err.msg, s2 + 17) == NULL);
    /* Revocation: refused from then on, the row kept with its time. */
    TT_OK(tsl_apikey_revoke(f.st, info.id, NULL));
    tsl_error_clear(&err);
    TT_ERR(tsl_apikey_check(f.st, secret, 60, 0, &got, &err), TSL_ERR_DENIED);
    TT_CONTAINS(err.msg, "key revoked");
    TT_CHECK(strstr(err.msg, secret + 17) == NULL);
    tsl_apikey_info *keys = NULL;
    size_t n = 0;
    TT_OK(tsl_apikey_list(f.st, &keys, &n, NULL));
    TT_EQ_U(n, 2);
    int64_t revoked = 0;
    for (size_t k = 0; k < n; k++)
        if (strcmp(keys[k].id, info.id) == 0)
            revoked = keys[k].revoked;
    tsl_free(keys);
    TT_CHECK(revoked >= now);
    /* Again: no error, the first time kept. */
    TT_OK(tsl_apikey_revoke(f.st, info.id, NULL));
    tsl_error_clear(&err);
    TT_ERR(tsl_apikey_revoke(f.st, "0123456789ab", &err), TSL_ERR_NOT_FOUND);
    TT_CONTAINS(err.msg, "no such key");
    TT_ERR(tsl_apikey_revoke(f.st, "nothex", NULL), TSL_ERR_NOT_FOUND);
    /* The other key still works. */
    TT_OK(tsl_apikey_check(f.st, s2, 60, now, &got, NULL));
    tslp_cleanse(secret, sizeof secret);
    sfx_close(&f);
}

STORE_TEST(apikey_create_rules_list_audit)
{
    sfx f;
    TT_CHECK(sfx_open(&f) == 0);
    TT_OK(sfx_list(&f, "a", 1, 1000));
    char secret[TSL_APIKEY_SECRET_SIZE];
    tsl_apikey_info i1, i2, i3;
    tsl_error err;
    /* The create scope only for a key of every list. */
    tsl_error_clear(&err);
    TT_ERR(tsl_apikey_create(f.st, "a", TSL_SCOPE_CREATE | TSL_SCOPE_READ, 0, NULL, secret,
                             &err), TSL_ERR_ARG);
    TT_CONTAINS(err.msg, "create scope");
    TT_EQ_STR(secret, "");
    tsl_error_clear(&err);
    TT_ERR(tsl_apikey_create(f.st, "nosuch", TSL_SCOPE_READ, 0, NULL, secret, &err),
           TSL_ERR_NOT_FOUND);
    TT_CONTAINS(err.msg, "nosuch");
    TT_ERR(tsl_apikey_create(f.st, "a", 0, 0, NULL, secret, NULL), TSL_ERR_ARG);
    TT_ERR(tsl_apikey_create(f.st, "a", 64, 0, NULL, secret, NULL), TSL_ERR_ARG);
    tsl_error_clear(&err);
    TT_ERR(tsl_apikey_create(f.st, "a", TSL_SCOPE_READ, (int64_t)time(NULL) - 1, NULL, secret,
                             &err), TSL_ERR_ARG);
    TT_CONTAINS(err.msg, "not in the future");
    /* Nothing was made by the refusals. */
    tsl_apikey_info *keys = NULL;
    size_t n = 99;
    TT_OK(tsl_apikey_list(f.st, &keys, &n, NULL));
    TT_EQ_U(n, 0);
    TT_CHECK(keys == NULL);
    TT_OK(tsl_apikey_create(f.st, "a", TSL_SCOPE_READ, 0, &i1, secret, NULL));
    TT_OK(tsl_apikey_create(f.st, NULL, TSL_SCOPE_ALL, 0, &i2, secret, NULL));
    TT_EQ_STR(i2.list_id, "");
    TT_OK(tsl_apikey_check(f.st, secret, strlen(secret), 0, &i3, NULL));
    TT_EQ_STR(i3.list_id, "");
    TT_EQ_U(i3.scopes, TSL_SCOPE_ALL);
    TT_OK(tsl_apikey_create(f.st, "", TSL_SCOPE_READ, 0, &i3, secret, NULL));
    TT_EQ_STR(i3.list_id, "");
    TT_CHECK(strcmp(i1.id, i2.id) != 0 && strcmp(i2.id, i3.id) != 0);
    /* Newest first (same second: by id, descending, as the backends order them). */
    TT_OK(tsl_apikey_list(f.st, &keys, &n, NULL));
    TT_EQ_U(n, 3);
    for (size_t k = 1; k < n; k++)
        TT_CHECK(keys[k - 1].created > keys[k].created ||
                 (keys[k - 1].created == keys[k].created &&
                  strcmp(keys[k - 1].id, keys[k].id) > 0));
    tsl_free(keys);
    /* The list's audit trail has the key made and revoked. */
    TT_OK(tsl_apikey_revoke(f.st, i1.id, NULL));
    tsl_audit_row *rows = NULL;
    TT_OK(tsl_store_audit(f.st, "a", 0, 10, &rows, &n, NULL));
    TT_EQ_U(n, 3); /* revoke, create (key), create (list) */
    char want[40];
    TT_EQ_STR(rows[0].kind, "apikey");
    snprintf(want, sizeof want, "revoke %s", i1.id);
    TT_EQ_STR(rows[0].source, want);
    TT_EQ_STR(rows[1].kind, "apikey");
    snprintf(want, sizeof want, "create %s", i1.id);
    TT_EQ_STR(rows[1].source, want);
    TT_EQ_STR(rows[2].kind, "create");
    tsl_audit_rows_free(rows, n);
    sfx_close(&f);
}

/* The keys go with tsl_store_copy (hashes and all): a secret checks on the copy. */
STORE_TEST(apikey_copied_with_the_store)
{
    sfx f;
    TT_CHECK(sfx_open(&f) == 0);
    TT_OK(sfx_list(&f, "a", 1, 1000));
    char secret[TSL_APIKEY_SECRET_SIZE];
    tsl_apikey_info info;
    TT_OK(tsl_apikey_create(f.st, "a", TSL_SCOPE_READ, 0, &info, secret, NULL));
    char to[600];
    snprintf(to, sizeof to, "%s/copy.db", f.dir);
    tsl_store *dst = NULL;
    TT_OK(tsl_store_open(to, &dst, NULL));
    tsl_copy_result res;
    TT_OK(tsl_store_copy(f.st, dst, &res, NULL));
    TT_EQ_U(res.lists, 1);
    TT_EQ_U(res.apikeys, 1);
    tsl_apikey_info got;
    TT_OK(tsl_apikey_check(dst, secret, strlen(secret), 0, &got, NULL));
    TT_EQ_STR(got.id, info.id);
    TT_EQ_STR(got.list_id, "a");
    tsl_store_close(dst);
    char side[700];
    unlink(to);
    snprintf(side, sizeof side, "%s-wal", to);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", to);
    unlink(side);
    sfx_close(&f);
}
