/* test_export.c - tsl_export() (src/publish/export.c) without the CLI: the files it
 * writes are the recorded tokens, a list without a recorded token is skipped and
 * logged while the others are exported, bad options are TSL_ERR_ARG, and a DIR/current
 * that the export did not make stops it with TSL_ERR_IO and changes nothing. */
#include "tt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    char dir[64];
    char db[96];
    char out[96];
    tsl_store *st;
    int lines;          /* log lines received */
    char last[512];     /* the last one */
} efx;

static void efx_log(void *ctx, const char *line)
{
    efx *f = ctx;
    f->lines++;
    snprintf(f->last, sizeof f->last, "%s", line);
}

/* A store with list a (published, JWT and CWT) and list b (never published). */
static int efx_step(const char *what, tsl_status st, const tsl_error *err)
{
    if (st != TSL_OK)
        fprintf(stderr, "test_export: %s: %s\n", what, err->msg);
    return st == TSL_OK ? 0 : -1;
}

static int efx_open(efx *f)
{
    tsl_error err;
    tsl_error_clear(&err);
    memset(f, 0, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/tsl-export-XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->db, sizeof f->db, "%s/tsl.db", f->dir);
    snprintf(f->out, sizeof f->out, "%s/www", f->dir);
    char key[96];
    snprintf(key, sizeof key, "%s/key.pem", f->dir);
    tsl_key *k = NULL;
    char *pem = NULL;
    if (tsl_key_generate(TSL_ALG_ES256, &k, NULL) != TSL_OK ||
        tsl_key_to_private(k, &pem, NULL) != TSL_OK)
        return -1;
    int kfd = open(key, O_WRONLY | O_CREAT | O_EXCL, 0600); /* a key must be private */
    FILE *kf = kfd >= 0 ? fdopen(kfd, "w") : NULL;
    int ok = kf != NULL && fputs(pem, kf) >= 0;
    if (kf != NULL && fclose(kf) != 0)
        ok = 0;
    tsl_free(pem);
    tsl_key_free(k);
    if (!ok || efx_step("open", tsl_store_open(f->db, &f->st, &err), &err) != 0)
        return -1;
    tsl_list_spec in;
    memset(&in, 0, sizeof in);
    in.bits = 1;
    in.size = 1000;
    in.key_path = key;
    in.id = "a";
    in.uri = "https://example.com/s/a";
    if (efx_step("create a", tsl_store_list_create(f->st, &in, &err), &err) != 0)
        return -1;
    in.id = "b";
    in.uri = "https://example.com/s/b";
    if (efx_step("create b", tsl_store_list_create(f->st, &in, &err), &err) != 0)
        return -1;
    return efx_step("publish a",
                    tsl_store_publish(f->st, "a", TSL_PUBLISH_JWT | TSL_PUBLISH_CWT, 0,
                                      86400, &err),
                    &err);
}

static void efx_close(efx *f)
{
    tsl_store_close(f->st);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "test_export: cannot remove %s\n", f->dir);
}

/* Whether file path holds exactly the token recorded for list a in format fmt. */
static int same_token(efx *f, const char *path, tsl_format fmt)
{
    uint8_t *tok = NULL;
    size_t len = 0, flen = 0;
    int64_t iat = 0, exp = 0;
    if (tsl_store_token(f->st, "a", fmt, 0, &tok, &len, &iat, &exp, NULL) != TSL_OK)
        return 0;
    unsigned char *file = tt_read_file(path, &flen);
    int same = file != NULL && flen == len && memcmp(file, tok, len) == 0;
    free(file);
    tsl_free(tok);
    return same;
}

TT_TEST(export_writes_tokens_and_skips_unpublished)
{
    efx f;
    TT_CHECK(efx_open(&f) == 0);
    tsl_export_opts o = {.aggregation_path = "/agg", .log = efx_log, .log_ctx = &f};
    tsl_export_report rep;
    tsl_error err;
    TT_OK(tsl_export(f.st, f.out, &o, &rep, &err));
    TT_EQ_U(rep.n, 1);
    TT_EQ_U(rep.skipped, 1);
    TT_CHECK(strcmp(rep.lists[0].id, "a") == 0);
    TT_CHECK(strcmp(rep.lists[0].path, "/s/a") == 0);
    TT_EQ_U(rep.lists[0].formats, TSL_PUBLISH_JWT | TSL_PUBLISH_CWT);
    TT_CHECK(rep.lists[0].max_age > 0);
    /* b is named on the log, with what to do about it. */
    TT_EQ_U(f.lines, 1); /* b: no jwt token recorded, and skipped whole */
    TT_CHECK(strstr(f.last, "run tsl publish b") != NULL);
    char p[256];
    snprintf(p, sizeof p, "%s/current/s/a.jwt", rep.dir);
    TT_CHECK(same_token(&f, p, TSL_FORMAT_JWT));
    snprintf(p, sizeof p, "%s/current/s/a.cwt", rep.dir);
    TT_CHECK(same_token(&f, p, TSL_FORMAT_CWT));
    struct stat sb;
    snprintf(p, sizeof p, "%s/current/s/a.jwt.gz", rep.dir);
    TT_CHECK(stat(p, &sb) == 0 && sb.st_size > 0);
    snprintf(p, sizeof p, "%s/current/s/b.jwt", rep.dir);
    TT_CHECK(stat(p, &sb) != 0);
    snprintf(p, sizeof p, "%s/current/agg.json", rep.dir);
    size_t alen = 0;
    unsigned char *agg = tt_read_file(p, &alen);
    TT_CHECK(agg != NULL && alen > 0 &&
              strstr((char *)agg, "https://example.com/s/a") != NULL &&
              strstr((char *)agg, "/s/b") == NULL);
    free(agg);
    snprintf(p, sizeof p, "%s/nginx.conf", rep.dir);
    size_t clen = 0;
    unsigned char *conf = tt_read_file(p, &clen);
    TT_CHECK(conf != NULL && strstr((char *)conf, "location = /s/a {") != NULL &&
              strstr((char *)conf, "location = /s/b {") == NULL);
    free(conf);
    tsl_export_report_free(&rep);
    efx_close(&f);
}

TT_TEST(export_refuses_bad_options_and_foreign_current)
{
    efx f;
    TT_CHECK(efx_open(&f) == 0);
    tsl_export_opts o = {.listen = "1.2.3.4:80; evil", .log = efx_log, .log_ctx = &f};
    tsl_export_report rep;
    tsl_error err;
    TT_ERR(tsl_export(f.st, f.out, &o, &rep, &err), TSL_ERR_ARG);
    TT_CHECK(strstr(err.msg, "is not ADDR:PORT") != NULL);
    o.listen = NULL;
    o.aggregation_path = "/a/../b";
    TT_ERR(tsl_export(f.st, f.out, &o, &rep, &err), TSL_ERR_ARG);
    o.aggregation_path = NULL;
    /* A real directory at DIR/current is not the export's link: nothing is written. */
    char cur[160];
    snprintf(cur, sizeof cur, "%s/current", f.out);
    TT_CHECK(mkdir(f.out, 0755) == 0 && mkdir(cur, 0755) == 0);
    f.lines = 0;
    TT_ERR(tsl_export(f.st, f.out, &o, &rep, &err), TSL_ERR_IO);
    TT_CHECK(strstr(err.msg, "is not a symbolic link") != NULL);
    TT_EQ_U(f.lines, 1);
    TT_CHECK(strcmp(f.last, err.msg) == 0);
    char conf[160];
    snprintf(conf, sizeof conf, "%s/nginx.conf", f.out);
    struct stat sb;
    TT_CHECK(lstat(conf, &sb) != 0);
    efx_close(&f);
}
