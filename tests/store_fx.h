/* store_fx.h - a store fixture for the issuer API's store tests (test_apikey.c,
 * test_apply.c): a temp directory with an ES256 key and a store, an SQLite file in it
 * or (fx_pg) a fresh schema of the PostgreSQL test server (tt_pg_store, TSL_TEST_PG),
 * and STORE_TEST, which runs a test on each backend (NAME, NAME_pg), as test_store.c
 * does. Static: each test file has its own copy. */
#ifndef TSL_STORE_FX_H
#define TSL_STORE_FX_H

#include "tt.h"
#include "store/store_pg.h"
#include "store/store_sqlite.h"

#include <libpq-fe.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    char dir[64];
    char db[512];
    char key[128];
    char schema[64];
    tsl_store *st;
} sfx;

static int sfx_pg;

#define STORE_TEST(name)                                                                  \
    static void name##_body(void);                                                        \
    TT_TEST(name)                                                                         \
    {                                                                                     \
        sfx_pg = 0;                                                                       \
        name##_body();                                                                    \
    }                                                                                     \
    TT_TEST(name##_pg)                                                                    \
    {                                                                                     \
        sfx_pg = 1;                                                                       \
        name##_body();                                                                    \
        sfx_pg = 0;                                                                       \
    }                                                                                     \
    static void name##_body(void)

static void sfx_close(sfx *f);

/* Opens the fixture; on failure nothing is left behind (the caller's check fails). */
static int sfx_open_(sfx *f);
static int sfx_open(sfx *f)
{
    int r = sfx_open_(f);
    if (r != 0 && f->dir[0] != '\0' && strcmp(f->dir, "/tmp/tsl-sfx-XXXXXX") != 0)
        sfx_close(f);
    return r;
}

static int sfx_open_(sfx *f)
{
    memset(f, 0, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/tsl-sfx-XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->db, sizeof f->db, "%s/tsl.db", f->dir);
    snprintf(f->key, sizeof f->key, "%s/key.pem", f->dir);
    if (sfx_pg && tt_pg_store(f->db, sizeof f->db, f->schema, sizeof f->schema) != 0) {
        rmdir(f->dir); /* no server: nothing was written in it */
        return -1;
    }
    tsl_key *k = NULL;
    char *pem = NULL;
    if (tsl_key_generate(TSL_ALG_ES256, &k, NULL) != TSL_OK ||
        tsl_key_to_private(k, &pem, NULL) != TSL_OK)
        return -1;
    int fd = open(f->key, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    size_t n = strlen(pem);
    int ok = fd >= 0 && write(fd, pem, n) == (ssize_t)n;
    if (fd >= 0)
        close(fd);
    tsl_free(pem);
    tsl_key_free(k);
    if (!ok)
        return -1;
    tsl_error err;
    tsl_error_clear(&err);
    if (tsl_store_open(f->db, &f->st, &err) != TSL_OK) {
        fprintf(stderr, "  open: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static void sfx_close(sfx *f)
{
    tsl_store_close(f->st);
    f->st = NULL;
    tt_pg_drop(f->schema);
    DIR *d = opendir(f->dir);
    struct dirent *e;
    char path[400];
    while (d != NULL && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", f->dir, e->d_name);
        unlink(path);
    }
    if (d != NULL)
        closedir(d);
    rmdir(f->dir);
}

/* A list id of bits and size, at https://example.com/statuslists/ID. */
static tsl_status sfx_list(sfx *f, const char *id, unsigned bits, uint64_t size)
{
    char uri[128];
    snprintf(uri, sizeof uri, "https://example.com/statuslists/%s", id);
    tsl_list_spec in;
    memset(&in, 0, sizeof in);
    in.id = id;
    in.uri = uri;
    in.bits = bits;
    in.size = size;
    in.key_path = f->key;
    return tsl_store_list_create(f->st, &in, NULL);
}

/* Raw SQL on the store's own connection (a test damaging or downgrading its store): 0
 * when it ran. Inline: a file that does not use it gets no unused-function warning. */
static inline int sfx_sql(sfx *f, const char *sql)
{
    if (sfx_pg) {
        PGresult *res = PQexec(tslp_pg_conn(f->st), sql);
        ExecStatusType s = PQresultStatus(res);
        PQclear(res);
        return s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK ? 0 : -1;
    }
    return sqlite3_exec(tslp_sqlite_db(f->st), sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

#endif /* TSL_STORE_FX_H */
