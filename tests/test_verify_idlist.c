/* test_verify_idlist.c - the verifier following an mdoc's identifier list
 * (src/verify/idlist_check.c), with fixtures made by tests/idl_issue.py
 * (tests/fixtures/idlist/README) and a fetch callback that counts requests: the Accept
 * header sent, INVALID for the listed id and VALID for another, the list kept for its
 * ttl (no second request within 300 s, one after), no ?time=, a wrong Content-Type,
 * a failed fetch and a list with a bad signature left undetermined at their stage,
 * and the result's JSON naming the identifier list. */
#include "tt.h"

#include <stdlib.h>
#include <string.h>

#define FX "tests/fixtures/idlist/"

typedef struct {
    int calls;
    const uint8_t *body;
    size_t len;
    const char *ct;
    char accept[200];
} idl_fake;

static tsl_status idl_fetch(void *ctx, const char *url, const char *accept, uint8_t **body,
                            size_t *len, char **content_type, tsl_error *err)
{
    idl_fake *f = ctx;
    (void)url;
    f->calls++;
    snprintf(f->accept, sizeof f->accept, "%s", accept);
    if (f->body == NULL) {
        if (err != NULL) {
            err->code = TSL_ERR_IO;
            snprintf(err->msg, sizeof err->msg, "fetch: HTTP status 404");
        }
        return TSL_ERR_IO;
    }
    *body = malloc(f->len + 1);
    memcpy(*body, f->body, f->len);
    *len = f->len;
    *content_type = strdup(f->ct);
    return TSL_OK;
}

/* The fixtures both tests use: the list, an mdoc whose id it lists and one it does
 * not, the time they were made (T0) and the IACA as trust anchor. */
typedef struct {
    uint8_t *list, *listed, *valid;
    size_t nl, nm1, nm2;
    int64_t t0;
    tsl_trust *trust;
} idl_fixtures;

static int fixtures_load(idl_fixtures *x)
{
    size_t nt = 0, np = 0;
    memset(x, 0, sizeof *x);
    x->list = tt_read_file(FX "list.cwt", &x->nl);
    x->listed = tt_read_file(FX "listed.mdoc", &x->nm1);
    x->valid = tt_read_file(FX "valid.mdoc", &x->nm2);
    char *t0s = (char *)tt_read_file(FX "T0", &nt);
    char *pem = (char *)tt_read_file(FX "iaca.pem", &np);
    int bad = x->list == NULL || x->listed == NULL || x->valid == NULL || t0s == NULL ||
              pem == NULL;
    x->t0 = bad ? 0 : strtoll(t0s, NULL, 10);
    bad = bad || tsl_trust_new(&x->trust, NULL) != TSL_OK ||
              tsl_trust_add_pem(x->trust, pem, np, NULL) != TSL_OK;
    free(t0s);
    free(pem);
    return bad ? -1 : 0;
}

/* Verifier options trusting the fixtures' IACA and fetching through f. */
static void fixtures_opts(const idl_fixtures *x, idl_fake *f, tsl_verifier_opts *o)
{
    memset(o, 0, sizeof *o);
    o->policy.trust = x->trust;
    o->fetch = idl_fetch;
    o->fetch_ctx = f;
}

static void fixtures_free(idl_fixtures *x)
{
    tsl_trust_free(x->trust);
    free(x->list);
    free(x->listed);
    free(x->valid);
}

TT_TEST(verify_idlist_fetch_cache_outcomes)
{
    idl_fixtures x;
    TT_CHECK(fixtures_load(&x) == 0);
    const uint8_t *list = x.list, *listed = x.listed, *valid = x.valid;
    size_t nl = x.nl, nm1 = x.nm1, nm2 = x.nm2;
    int64_t t0 = x.t0;
    idl_fake f = {0, list, nl, TSL_MEDIA_IDLIST, ""};
    tsl_verifier_opts o;
    fixtures_opts(&x, &f, &o);
    tsl_verifier *v = NULL;
    TT_OK(tsl_verifier_new(&o, &v, NULL));
    tsl_check_result r;
    tsl_error err;
    tsl_error_clear(&err);
    TT_OK(tsl_verifier_check(v, listed, nm1, t0 + 10, 0, &r, &err));
    TT_EQ_U(r.value, TSL_STATUS_INVALID);
    TT_CHECK(r.determined && r.idlist && r.listed && r.fetched && !r.from_cache);
    TT_EQ_U(f.calls, 1);
    TT_EQ_STR(f.accept, TSL_MEDIA_IDLIST);
    TT_EQ_STR(r.uri, "https://issuer.example/idl/1");
    char *json = NULL;
    TT_OK(tsl_check_result_json(TSL_OK, &r, &err, &json, NULL));
    TT_CHECK(strstr(json, "\"identifier_list\":{\"listed\":true}") != NULL);
    tsl_free(json);
    /* Within ttl (300 s): from the cache, no request. */
    TT_OK(tsl_verifier_check(v, valid, nm2, t0 + 200, 0, &r, &err));
    TT_EQ_U(r.value, TSL_STATUS_VALID);
    TT_CHECK(r.determined && !r.listed && r.from_cache && !r.fetched);
    TT_EQ_U(f.calls, 1);
    /* Past it: fetched again. */
    TT_OK(tsl_verifier_check(v, valid, nm2, t0 + 400, 0, &r, &err));
    TT_EQ_U(r.value, TSL_STATUS_VALID);
    TT_EQ_U(f.calls, 2);
    /* ?time= is not defined for identifier lists. */
    tsl_error_clear(&err);
    TT_ERR(tsl_verifier_check(v, valid, nm2, t0 + 400, t0 + 5, &r, &err), TSL_ERR_UNSUPPORTED);
    tsl_verifier_free(v);

    /* A wrong Content-Type, a failed fetch: undetermined at the fetch. */
    f.ct = TSL_MEDIA_CWT;
    TT_OK(tsl_verifier_new(&o, &v, NULL));
    tsl_error_clear(&err);
    TT_ERR(tsl_verifier_check(v, valid, nm2, t0 + 10, 0, &r, &err), TSL_ERR_UNSUPPORTED);
    TT_EQ_U(r.stage, TSL_STAGE_FETCH);
    TT_CHECK(!r.determined);
    f.body = NULL;
    tsl_error_clear(&err);
    TT_ERR(tsl_verifier_check(v, valid, nm2, t0 + 10, 0, &r, &err), TSL_ERR_IO);
    TT_EQ_U(r.stage, TSL_STAGE_FETCH);
    tsl_verifier_free(v);

    /* A list whose signature was altered: undetermined at the list token. */
    uint8_t *bad = malloc(nl);
    memcpy(bad, list, nl);
    bad[nl - 1] ^= 1;
    f.body = bad;
    f.ct = TSL_MEDIA_IDLIST;
    TT_OK(tsl_verifier_new(&o, &v, NULL));
    tsl_error_clear(&err);
    TT_CHECK(tsl_verifier_check(v, valid, nm2, t0 + 10, 0, &r, &err) != TSL_OK);
    TT_EQ_U(r.stage, TSL_STAGE_LIST_TOKEN);
    TT_CHECK(!r.determined);
    tsl_verifier_free(v);
    free(bad);
    fixtures_free(&x);
}

TT_TEST(verify_idlist_offline_list_token)
{
    /* tsl_verifier_add_list_token takes an identifier list: it answers without a fetch
     * (the fetch callback fails and counts), verified at each use: a damaged list is
     * taken (parsing does not verify) but never answers, and nothing is fetched instead
     * (tests/idlist.sh also gives an expired and a foreign-signed list offline). */
    idl_fixtures x;
    TT_CHECK(fixtures_load(&x) == 0);
    const uint8_t *list = x.list, *listed = x.listed, *valid = x.valid;
    size_t nl = x.nl, nm1 = x.nm1, nm2 = x.nm2;
    int64_t t0 = x.t0;
    idl_fake f = {0, NULL, 0, TSL_MEDIA_IDLIST, ""};
    tsl_verifier_opts o;
    fixtures_opts(&x, &f, &o);
    tsl_verifier *v = NULL;
    TT_OK(tsl_verifier_new(&o, &v, NULL));
    TT_OK(tsl_verifier_add_list_token(v, list, nl, NULL));
    tsl_check_result r;
    tsl_error err;
    tsl_error_clear(&err);
    TT_OK(tsl_verifier_check(v, listed, nm1, t0 + 10, 0, &r, &err));
    TT_EQ_U(r.value, TSL_STATUS_INVALID);
    TT_CHECK(r.determined && r.listed && !r.fetched && !r.from_cache);
    TT_OK(tsl_verifier_check(v, valid, nm2, t0 + 10, 0, &r, &err));
    TT_EQ_U(r.value, TSL_STATUS_VALID);
    TT_EQ_U(f.calls, 0);
    tsl_verifier_free(v);

    uint8_t *bad = malloc(nl);
    memcpy(bad, list, nl);
    bad[nl - 1] ^= 1;
    TT_OK(tsl_verifier_new(&o, &v, NULL));
    TT_OK(tsl_verifier_add_list_token(v, bad, nl, NULL));
    tsl_error_clear(&err);
    TT_CHECK(tsl_verifier_check(v, listed, nm1, t0 + 10, 0, &r, &err) != TSL_OK);
    TT_EQ_U(r.stage, TSL_STAGE_LIST_TOKEN);
    TT_CHECK(!r.determined);
    TT_EQ_U(f.calls, 0);
    /* Neither kind of token: refused, naming both. */
    tsl_error_clear(&err);
    TT_CHECK(tsl_verifier_add_list_token(v, (const uint8_t *)"junk", 4, &err) != TSL_OK);
    TT_CONTAINS(err.msg, "nor an identifier list");
    tsl_verifier_free(v);
    free(bad);
    fixtures_free(&x);
}
