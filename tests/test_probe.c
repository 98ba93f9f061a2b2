/* test_probe.c - issue 18: the probe's header-value readers (untrusted text from the
 * endpoint under test) and the rogue publisher's cases, each of which libtsl's own
 * decoder must refuse (the controls it must accept), without any HTTP. */
#include "verify/probe_int.h"
#include "tt.h"

#include <string.h>

#define S(x) x, strlen(x)

TT_TEST(probe_header_find)
{
    const char *blk = "HTTP/1.1 200 OK\r\nContent-Type:  application/statuslist+jwt ; q=1\r\n"
                      "ETag: \"abc\"\r\nvary: Accept,Accept-Encoding\r\nX-Empty:\r\n\r\n";
    const char *v;
    size_t n;
    TT_CHECK(tslp_hdr_find(blk, strlen(blk), "content-type", &v, &n) == 1);
    TT_CHECK(n == strlen("application/statuslist+jwt ; q=1"));
    TT_CHECK(tslp_hdr_media_is(v, n, TSL_MEDIA_JWT));
    TT_CHECK(!tslp_hdr_media_is(v, n, TSL_MEDIA_CWT));
    TT_CHECK(tslp_hdr_find(blk, strlen(blk), "Vary", &v, &n) == 1);
    TT_CHECK(tslp_hdr_has_token(v, n, "accept"));
    TT_CHECK(tslp_hdr_has_token(v, n, "Accept-Encoding"));
    TT_CHECK(!tslp_hdr_has_token(v, n, "Origin"));
    TT_CHECK(tslp_hdr_find(blk, strlen(blk), "X-Empty", &v, &n) == 1 && n == 0);
    TT_CHECK(tslp_hdr_find(blk, strlen(blk), "Last-Modified", &v, &n) == 0);
    /* a prefix of a field name is not the field; the status line is no field */
    TT_CHECK(tslp_hdr_find(blk, strlen(blk), "ETa", &v, &n) == 0);
    TT_CHECK(tslp_hdr_find(blk, strlen(blk), "HTTP/1.1 200 OK", &v, &n) == 0);
    /* bounded by the length given, not by a NUL */
    TT_CHECK(tslp_hdr_find(blk, 34, "Content-Type", &v, &n) == 1 && n == 2);
    TT_CHECK(tslp_hdr_find(blk, 20, "Content-Type", &v, &n) == 0);
    TT_CHECK(tslp_hdr_find("", 0, "Vary", &v, &n) == 0);
}

TT_TEST(probe_cache_control)
{
    int64_t s = -1;
    TT_CHECK(tslp_hdr_max_age(S("public, max-age=300"), &s) == 1 && s == 300);
    TT_CHECK(tslp_hdr_max_age(S("MAX-AGE = 7 , no-transform"), &s) == 1 && s == 7);
    TT_CHECK(tslp_hdr_max_age(S("max-age=\"60\""), &s) == 1 && s == 60);
    TT_CHECK(tslp_hdr_max_age(S("private=\"a,max-age=5\", max-age=9"), &s) == 1 && s == 9);
    TT_CHECK(tslp_hdr_max_age(S("max-age=99999999999999999999999"), &s) == 1 &&
             s == ((int64_t)1 << 31));
    TT_CHECK(tslp_hdr_max_age(S("no-store"), &s) == 0);
    TT_CHECK(tslp_hdr_max_age(S("s-maxage=5"), &s) == 0);
    TT_CHECK(tslp_hdr_max_age(S("max-age=-1"), &s) == -1);
    TT_CHECK(tslp_hdr_max_age(S("max-age="), &s) == -1);
    TT_CHECK(tslp_hdr_max_age(S("max-age"), &s) == -1);
    TT_CHECK(tslp_hdr_max_age(S("max-age=1e3"), &s) == -1);
    TT_CHECK(tslp_hdr_has_token(S("public, no-cache=\"Set-Cookie\""), "no-cache"));
    TT_CHECK(tslp_hdr_has_token(S(" no-store "), "no-store"));
    TT_CHECK(!tslp_hdr_has_token(S("no-storex"), "no-store"));
}

/* Every rogue Status List Token is refused by tsl_token_parse or tsl_token_verify
 * (the rule it breaks is named), the controls are accepted, and the Referenced Tokens
 * carry the case's own uri. */
TT_TEST(rogue_cases_refused_by_libtsl)
{
    tsl_key *key = NULL;
    tsl_signer *s = NULL;
    tsl_keyset *ks = NULL;
    tsl_rogue *r = NULL;
    TT_OK(tsl_key_generate(TSL_ALG_ES256, &key, NULL));
    TT_OK(tsl_signer_from_key(key, TSL_ALG_UNKNOWN, NULL, NULL, &s, NULL));
    TT_OK(tsl_keyset_new(&ks, NULL));
    TT_OK(tsl_keyset_add(ks, key, NULL));
    const char *base = "http://127.0.0.1:9";
    TT_OK(tsl_rogue_new(base, s, 0, &r, NULL));
    TT_CHECK(tsl_rogue_count(r) >= 39);
    TT_CHECK(tsl_rogue_get(r, tsl_rogue_count(r)) == NULL);
    TT_CHECK(strstr(tsl_rogue_index(r), "\"expect_exit\"") != NULL);
    size_t refused = 0, controls = 0;
    for (size_t i = 0; i < tsl_rogue_count(r); i++) {
        const tsl_rogue_case *c = tsl_rogue_get(r, i);
        tsl_ref *ref = NULL;
        tsl_ref_opts ro;
        memset(&ro, 0, sizeof ro);
        ro.policy.keys = ks;
        TT_OK(tsl_ref_parse((const uint8_t *)c->ref, strlen(c->ref), NULL, &ro, &ref, NULL));
        char uri[1200];
        snprintf(uri, sizeof uri, "%s%s", base, c->path);
        TT_CHECK(strcmp(tsl_ref_uri(ref), uri) == 0);
        tsl_ref_free(ref);
        /* HTTP-level cases carry good tokens or none: judged by tests/probe.sh */
        if (c->kind != TSL_ROGUE_BODY || c->status != 200 ||
            strncmp(c->name, "content-type", 12) == 0)
            continue;
        tsl_token *t = NULL;
        tsl_error e;
        tsl_error_clear(&e);
        tsl_status st = tsl_token_parse(c->body, c->body_len, NULL, &t, &e);
        if (st == TSL_OK) {
            tsl_verify_opts vo;
            memset(&vo, 0, sizeof vo);
            vo.policy.keys = ks;
            vo.sub = uri;
            st = tsl_token_verify(t, &vo, &e);
            tsl_token_free(t);
        }
        int good = c->expect_exit != 3;
        if (good && st != TSL_OK)
            tt_failf(__FILE__, __LINE__, "control %s refused: %s", c->name, e.msg);
        if (!good && st == TSL_OK)
            tt_failf(__FILE__, __LINE__, "rogue %s accepted", c->name);
        if (!good && e.msg[0] == '\0')
            tt_failf(__FILE__, __LINE__, "rogue %s refused without a reason", c->name);
        good ? controls++ : refused++;
    }
    TT_CHECK(controls == 4);
    TT_CHECK(refused >= 28);
    TT_ERR(tsl_rogue_new("http://a b", s, 0, &r, NULL), TSL_ERR_ARG);
    tsl_rogue_free(r);
    tsl_rogue_free(NULL);
    tsl_keyset_free(ks);
    tsl_signer_free(s);
    tsl_key_free(key);
}
