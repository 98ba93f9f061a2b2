/* test_limits.c - the bounds a caller sets in tsl_limits: zero fields take the
 * defaults, large ones are clamped to the ceilings, and each bound added with the
 * settled API (max_entries, max_x5c) refuses one past a lowered value with
 * TSL_ERR_LIMIT and a message naming it, while the same input at the bound passes.
 * The Referenced Token bounds (max_disclosures, max_uri) are in test_ref.c. */
#include "tt.h"

#include "core/tsl_int.h"

TT_TEST(limits_default_and_clamp)
{
    tsl_limits d, r;
    tsl_limits_default(&d);
    TT_EQ_U(d.max_entries, TSL_DEFAULT_MAX_ENTRIES);
    TT_EQ_U(d.max_x5c, 10);
    TT_EQ_U(d.max_disclosures, 1024);
    TT_EQ_U(d.max_uri, TSL_MAX_URI);
    /* NULL and all-zero resolve to the defaults. */
    tslp_limits_resolve(NULL, &r);
    TT_EQ_U(r.max_x5c, d.max_x5c);
    TT_EQ_U(r.max_entries, d.max_entries);
    tsl_limits z = {0};
    tslp_limits_resolve(&z, &r);
    TT_EQ_U(r.max_disclosures, d.max_disclosures);
    TT_EQ_U(r.max_uri, d.max_uri);
    /* Above a ceiling: clamped; below: kept. */
    tsl_limits big = {.max_entries = UINT64_MAX, .max_x5c = 1000, .max_disclosures = 1u << 30,
                      .max_uri = 1u << 20};
    tslp_limits_resolve(&big, &r);
    TT_EQ_U(r.max_entries, TSL_MAX_ENTRIES_CEILING);
    TT_EQ_U(r.max_x5c, TSL_MAX_X5C_CEILING);
    TT_EQ_U(r.max_disclosures, TSL_MAX_DISCLOSURES_CEILING);
    TT_EQ_U(r.max_uri, TSL_MAX_URI_CEILING);
    tsl_limits small = {.max_entries = 7, .max_x5c = 2, .max_disclosures = 3, .max_uri = 9};
    tslp_limits_resolve(&small, &r);
    TT_EQ_U(r.max_entries, 7);
    TT_EQ_U(r.max_x5c, 2);
    TT_EQ_U(r.max_disclosures, 3);
    TT_EQ_U(r.max_uri, 9);
    TT_EQ_U(tslp_limit_x5c(NULL), 10);
    TT_EQ_U(tslp_limit_x5c(&small), 2);
    TT_EQ_U(tslp_limit_disclosures(&big), TSL_MAX_DISCLOSURES_CEILING);
}

TT_TEST(limits_max_entries)
{
    static const unsigned bits[2] = {1, 2};
    for (int k = 0; k < 2; k++) {
        tsl_list *l = NULL, *back = NULL;
        TT_OK(tsl_list_new(bits[k], 16, &l, NULL));
        TT_OK(tsl_list_set(l, 15, 1, NULL));
        uint8_t *z = NULL;
        size_t zl = 0;
        TT_OK(tsl_list_compress(l, 9, &z, &zl, NULL));
        tsl_error err;
        tsl_error_clear(&err);
        tsl_limits lim = {.max_entries = 15};
        TT_ERR(tsl_list_decompress(bits[k], z, zl, &lim, &back, &err), TSL_ERR_LIMIT);
        TT_CHECK(back == NULL);
        TT_CONTAINS(err.msg, "list of 16 entries exceeds the limit of 15 entries");
        /* At the bound it passes, and so does the default. */
        lim.max_entries = 16;
        TT_OK(tsl_list_decompress(bits[k], z, zl, &lim, &back, NULL));
        TT_EQ_U(tsl_list_size(back), 16);
        tsl_list_free(back);
        TT_OK(tsl_list_decompress(bits[k], z, zl, NULL, &back, NULL));
        tsl_list_free(back);
        /* The same bound through a whole status list document. */
        char *json = NULL;
        size_t jl = 0;
        TT_OK(tsl_list_to_json(l, 9, &json, &jl, NULL));
        lim.max_entries = 8;
        TT_ERR(tsl_list_from_json(json, jl, &lim, &back, NULL), TSL_ERR_LIMIT);
        tsl_free(json);
        tsl_free(z);
        tsl_list_free(l);
    }
}

/* Signs a token carrying n certificates: arbitrary DER-like bytes, since parsing only
 * carries them (a chain is checked when the token is verified against a trust store). */
static tsl_status token_with_certs(tsl_format f, size_t n, uint8_t **tok, size_t *tl)
{
    static const uint8_t cert[4] = {0x30, 0x02, 0x05, 0x00};
    const uint8_t *der[4] = {cert, cert, cert, cert};
    size_t len[4] = {4, 4, 4, 4};
    tsl_key *k = NULL;
    tsl_list *l = NULL;
    tsl_token_params p;
    memset(&p, 0, sizeof p);
    p.format = f;
    p.sub = "https://example.com/statuslists/x5c";
    p.iat = 1700000000;
    tsl_cert_chain *chain = NULL;
    tsl_status st = tsl_cert_chain_from_der(der, len, n, &chain, NULL);
    if (st != TSL_OK)
        return st;
    p.x5c = chain;
    st = tsl_key_generate(TSL_ALG_ES256, &k, NULL);
    if (st == TSL_OK)
        st = tsl_list_new(1, 16, &l, NULL);
    if (st == TSL_OK)
        st = tsl_token_sign(l, &p, k, tok, tl, NULL);
    tsl_list_free(l);
    tsl_key_free(k);
    tsl_cert_chain_free(chain);
    return st;
}

TT_TEST(limits_max_x5c)
{
    static const tsl_format fmts[2] = {TSL_FORMAT_JWT, TSL_FORMAT_CWT};
    for (int k = 0; k < 2; k++) {
        uint8_t *tok = NULL;
        size_t tl = 0;
        TT_OK(token_with_certs(fmts[k], 3, &tok, &tl));
        tsl_token *t = NULL;
        tsl_error err;
        tsl_error_clear(&err);
        tsl_limits lim = {.max_x5c = 2};
        TT_ERR(tsl_token_parse(tok, tl, &lim, &t, &err), TSL_ERR_LIMIT);
        TT_CHECK(t == NULL);
        TT_CONTAINS(err.msg, "more than 2 certificates");
        lim.max_x5c = 3;
        TT_OK(tsl_token_parse(tok, tl, &lim, &t, NULL));
        tsl_token_free(t);
        t = NULL;
        TT_OK(tsl_token_parse(tok, tl, NULL, &t, NULL));
        tsl_token_free(t);
        tsl_free(tok);
    }
}
