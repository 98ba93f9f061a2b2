/* test_idlist.c - identifier lists (src/token/idlist.c): a signed list parses back with
 * its claims, its identifiers are found and others are not (including prefixes and
 * longer strings), the strict form's bytes (tag 18, typ in the protected header,
 * deterministic key order), verification with the signing key and its refusals (another
 * key, a wrong sub, expiry), and the signer's refusals (no sub, no exp, a duplicate or
 * empty or too long identifier, HS256). The Python issuer's forms are in idlist.sh. */
#include "tt.h"

#include <stdlib.h>
#include <string.h>

static tsl_signer *signer(tsl_key **key)
{
    tsl_signer *s = NULL;
    if (tsl_key_generate(TSL_ALG_ES256, key, NULL) != TSL_OK)
        return NULL;
    if (tsl_signer_from_key(*key, TSL_ALG_UNKNOWN, "idl-1", NULL, &s, NULL) != TSL_OK)
        return NULL;
    return s;
}

TT_TEST(idlist_sign_parse_query)
{
    tsl_key *k = NULL, *k2 = NULL;
    tsl_signer *s = signer(&k), *s2 = signer(&k2);
    TT_CHECK(s != NULL && s2 != NULL);
    enum { N = 1000 };
    static uint8_t idb[N][16];
    const uint8_t *ids[N];
    size_t lens[N];
    for (size_t i = 0; i < N; i++) {
        for (size_t j = 0; j < 16; j++)
            idb[i][j] = (uint8_t)(j < 2 ? i >> (8 * j) : i * 31 + j * 7);
        ids[i] = idb[i];
        lens[i] = 16;
    }
    lens[5] = 3; /* identifiers need not all be 16 bytes */
    tsl_idlist_params p = {.sub = "https://i.example/idl/1", .exp = 4000000000LL, .ttl = 300,
                           .iat = 1700000000, .aggregation_uri = "https://i.example/agg",
                           .ids = ids, .id_lens = lens, .n = N};
    uint8_t *out = NULL;
    size_t len = 0;
    TT_OK(tsl_idlist_sign(&p, s, &out, &len, NULL));
    /* The strict form: COSE_Sign1 tag 18 (0xD2), and the typ text in the protected
     * header (the first bytes after the array head and the protected bstr head). */
    TT_CHECK(len > 64 && out[0] == 0xD2 && out[1] == 0x84);
    TT_CHECK(memmem(out, 64, TSL_MEDIA_IDLIST, strlen(TSL_MEDIA_IDLIST)) != NULL);
    tsl_idlist *l = NULL;
    TT_OK(tsl_idlist_parse(out, len, NULL, &l, NULL));
    TT_EQ_U(tsl_idlist_count(l), N);
    TT_EQ_STR(tsl_idlist_sub(l), "https://i.example/idl/1");
    TT_EQ_U(tsl_idlist_iat(l), 1700000000);
    TT_EQ_U(tsl_idlist_exp(l), 4000000000LL);
    int64_t ttl = 0;
    TT_CHECK(tsl_idlist_ttl(l, &ttl) && ttl == 300);
    TT_EQ_STR(tsl_idlist_aggregation_uri(l), "https://i.example/agg");
    TT_EQ_U(tsl_idlist_typ_in_claim(l), 0);
    for (size_t i = 0; i < N; i++)
        TT_CHECK(tsl_idlist_contains(l, ids[i], lens[i]));
    uint8_t other[17];
    memcpy(other, idb[7], 16);
    other[16] = 0;
    TT_CHECK(!tsl_idlist_contains(l, other, 15)); /* a prefix */
    TT_CHECK(!tsl_idlist_contains(l, other, 17)); /* longer */
    other[15] ^= 0x80;
    TT_CHECK(!tsl_idlist_contains(l, other, 16));
    TT_CHECK(!tsl_idlist_contains(l, idb[5], 16)); /* only its first 3 bytes are listed */
    TT_CHECK(!tsl_idlist_contains(l, NULL, 0));

    /* Verification: the signing key; not another; sub; exp. */
    tsl_keyset *ks = NULL, *ks2 = NULL;
    TT_OK(tsl_keyset_new(&ks, NULL));
    TT_OK(tsl_keyset_add(ks, k, NULL));
    TT_OK(tsl_keyset_new(&ks2, NULL));
    TT_OK(tsl_keyset_add(ks2, k2, NULL));
    tsl_verify_opts o;
    memset(&o, 0, sizeof o);
    o.policy.keys = ks;
    o.sub = "https://i.example/idl/1";
    TT_OK(tsl_idlist_verify(l, &o, NULL, 0, NULL));
    o.sub = "https://i.example/idl/2";
    TT_ERR(tsl_idlist_verify(l, &o, NULL, 0, NULL), TSL_ERR_CLAIM);
    o.sub = NULL;
    o.policy.now = 4000000001LL;
    TT_ERR(tsl_idlist_verify(l, &o, NULL, 0, NULL), TSL_ERR_EXPIRED);
    o.policy.now = 0;
    o.policy.keys = ks2;
    TT_CHECK(tsl_idlist_verify(l, &o, NULL, 0, NULL) != TSL_OK);
    /* A certificate named with no anchors to check it against: refused. */
    uint8_t fake[4] = {0x30, 0x02, 0x05, 0x00};
    TT_ERR(tsl_idlist_verify(l, &o, fake, sizeof fake, NULL), TSL_ERR_TRUST);
    char *json = NULL;
    TT_OK(tsl_idlist_to_json(l, &json, NULL));
    TT_CHECK(strstr(json, "\"identifiers\":1000") != NULL);
    tsl_free(json);
    tsl_idlist_free(l);

    /* The Status List Token parser refuses an identifier list, and the other way. */
    tsl_token *t = NULL;
    TT_ERR(tsl_token_parse(out, len, NULL, &t, NULL), TSL_ERR_TYP);
    tsl_free(out);

    /* The signer's refusals. */
    tsl_idlist_params q = p;
    q.sub = NULL;
    TT_ERR(tsl_idlist_sign(&q, s, &out, &len, NULL), TSL_ERR_ARG);
    q = p;
    q.exp = 0;
    TT_ERR(tsl_idlist_sign(&q, s, &out, &len, NULL), TSL_ERR_ARG);
    q = p;
    ids[9] = ids[8];
    TT_ERR(tsl_idlist_sign(&q, s, &out, &len, NULL), TSL_ERR_ARG); /* twice */
    ids[9] = idb[9];
    lens[9] = 0;
    TT_ERR(tsl_idlist_sign(&q, s, &out, &len, NULL), TSL_ERR_ARG); /* empty */
    lens[9] = 129;
    TT_ERR(tsl_idlist_sign(&q, s, &out, &len, NULL), TSL_ERR_ARG); /* too long */
    lens[9] = 16;
    tsl_key *hk = NULL;
    tsl_signer *hs = NULL;
    TT_OK(tsl_key_generate(TSL_ALG_HS256, &hk, NULL));
    TT_OK(tsl_signer_from_key(hk, TSL_ALG_HS256, NULL, NULL, &hs, NULL));
    TT_ERR(tsl_idlist_sign(&q, hs, &out, &len, NULL), TSL_ERR_ARG);
    /* An empty list is a list. */
    q.n = 0;
    TT_OK(tsl_idlist_sign(&q, s, &out, &len, NULL));
    TT_OK(tsl_idlist_parse(out, len, NULL, &l, NULL));
    TT_EQ_U(tsl_idlist_count(l), 0);
    TT_CHECK(!tsl_idlist_contains(l, idb[0], 16));
    tsl_idlist_free(l);
    tsl_free(out);
    /* A Status List Token is refused by the identifier list parser. */
    tsl_list *sl = NULL;
    TT_OK(tsl_list_new(1, 8, &sl, NULL));
    tsl_token_params tp = {.format = TSL_FORMAT_CWT, .sub = "https://i.example/sl"};
    TT_OK(tsl_token_sign(sl, &tp, k, &out, &len, NULL));
    TT_ERR(tsl_idlist_parse(out, len, NULL, &l, NULL), TSL_ERR_TYP);
    tsl_free(out);
    tsl_list_free(sl);
    tsl_signer_free(hs);
    tsl_key_free(hk);
    tsl_keyset_free(ks);
    tsl_keyset_free(ks2);
    tsl_signer_free(s);
    tsl_signer_free(s2);
    tsl_key_free(k);
    tsl_key_free(k2);
}
