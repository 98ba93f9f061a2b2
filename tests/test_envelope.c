/* test_envelope.c - the envelope layer on its own (src/envelope): the input-form
 * detector, JWS compact splitting and header rules (alg "none", the allow-list, crit,
 * kid, x5c, an unsecured JWS), COSE tags, the COSE_Sign1 / COSE_Mac0 structure and
 * header placement (alg only protected, no label in both, crit, kid, x5chain), the
 * protected alg against the message type, the Sig_structure bytes, and a signature
 * checked through key selection (kid match, kid mismatch, a wrong key). */
#include "codec/cbor_write_int.h"
#include "crypto/crypto.h"
#include "envelope/envelope_int.h"
#include "tt.h"

#include <stdlib.h>

/* ---- the input form ---- */

TT_TEST(envelope_detect_form)
{
    static const struct {
        const char *in;
        size_t len;
        tsl_form form;
        size_t start, n;
    } cases[] = {
        {"", 0, TSL_FORM_EMPTY, 0, 0},
        {" \t\r\n", 4, TSL_FORM_EMPTY, 4, 0},
        {"\xd2\x84", 2, TSL_FORM_CBOR, 0, 2},          /* tag 18 */
        {"\x84\x40", 2, TSL_FORM_CBOR, 0, 2},          /* array of 4 */
        {"\xa2\x01\x02", 3, TSL_FORM_CBOR_MAP, 0, 3},  /* map */
        {"  {\"bits\":1}\n", 13, TSL_FORM_JSON, 2, 10},
        {"eyJh.eyJi.c2ln", 14, TSL_FORM_JWT, 0, 14},
        {" eyJh.eyJi.c2ln~d1~\n", 20, TSL_FORM_SDJWT, 1, 18},
        {"d28443a10126", 12, TSL_FORM_TEXT, 0, 12},   /* hex */
        {"0oRDoQEm", 8, TSL_FORM_TEXT, 0, 8},          /* base64url */
        /* Whitespace before binary CBOR makes it text: the first byte decides. */
        {" \xd2\x84", 3, TSL_FORM_TEXT, 1, 2},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        size_t a = 99, n = 99;
        tsl_form f = tsl_detect_form((const uint8_t *)cases[k].in, cases[k].len, &a, &n);
        if (f != cases[k].form || a != cases[k].start || n != cases[k].n)
            tt_failf(__FILE__, __LINE__, "case %zu: form %d [%zu,+%zu), expected %d [%zu,+%zu)",
                     k, (int)f, a, n, (int)cases[k].form, cases[k].start, cases[k].n);
        TT_CHECK(f == cases[k].form);
    }
    TT_CHECK(tsl_detect_form(NULL, 5, NULL, NULL) == TSL_FORM_EMPTY);
}

/* ---- JOSE ---- */

/* base64url of a JSON text, into buf. */
static const char *b64j(const char *json, char *buf, size_t cap)
{
    char *t = NULL;
    size_t n = 0;
    if (tsl_b64url_encode((const uint8_t *)json, strlen(json), &t, &n, NULL) != TSL_OK ||
        n >= cap)
        abort();
    memcpy(buf, t, n + 1);
    tsl_free(t);
    return buf;
}

/* HEADER.PAYLOAD.SIG with the header and payload given as JSON text. */
static char *jws_text(const char *hdr, const char *payload, const char *sig)
{
    static char out[4096];
    char h[1024], p[1024];
    snprintf(out, sizeof out, "%s.%s.%s", b64j(hdr, h, sizeof h), b64j(payload, p, sizeof p),
             sig);
    return out;
}

/* Opens and reads the header; returns the first failure's status, message in err. */
static tsl_status jws_check(const char *in, uint32_t algs, tsl_error *err)
{
    tslp_jws j;
    tsl_error_clear(err);
    tsl_status st = tslp_jws_open(&j, in, strlen(in), NULL, "t", err);
    if (st == TSL_OK)
        st = tslp_jws_header(&j, algs, "t", err);
    if (st == TSL_OK)
        st = tslp_jws_payload(&j, NULL, "t", err);
    if (st == TSL_OK)
        st = tslp_jws_signature(&j, "t", err);
    if (st == TSL_OK) {
        tslp_x5c c;
        st = tslp_jws_x5c(&j, &c, "t", err);
        if (st == TSL_OK)
            tslp_x5c_free(&c);
    }
    tslp_jws_close(&j);
    return st;
}

TT_TEST(envelope_jws_split_and_header)
{
    static const char es[] = "{\"alg\":\"ES256\"}";
    static const struct {
        const char *hdr, *payload, *sig;
        uint32_t algs;
        tsl_status want;
        const char *msg;
    } cases[] = {
        {es, "{}", "c2ln", 0, TSL_OK, ""},
        {"{\"alg\":\"none\"}", "{}", "c2ln", 0, TSL_ERR_ALG, "t: alg: \"none\" is never"},
        {"{\"typ\":\"JWT\"}", "{}", "c2ln", 0, TSL_ERR_ALG, "t: alg: missing"},
        {"{\"alg\":7}", "{}", "c2ln", 0, TSL_ERR_ALG, "t: alg: not a string"},
        {"{\"alg\":\"XS999\"}", "{}", "c2ln", 0, TSL_ERR_ALG, "\"XS999\" is not supported"},
        {es, "{}", "c2ln", TSL_ALG_BIT(TSL_ALG_ES384), TSL_ERR_ALG, "ES256 is not in the "
                                                                    "allow-list"},
        {"{\"alg\":\"ES256\",\"crit\":[\"exp\"]}", "{}", "c2ln", 0, TSL_ERR_UNSUPPORTED,
         "crit: critical header \"exp\""},
        {"{\"alg\":\"ES256\",\"kid\":5}", "{}", "c2ln", 0, TSL_ERR_MALFORMED,
         "kid: not a string"},
        {"{\"alg\":\"ES256\",\"kid\":\"a\\u0000b\"}", "{}", "c2ln", 0, TSL_ERR_MALFORMED,
         "not allowed"}, /* the JSON reader refuses a NUL before the header rules */
        {"{\"alg\":\"ES256\",\"kid\":null}", "{}", "c2ln", 0, TSL_OK, ""},
        {es, "[]", "c2ln", 0, TSL_ERR_MALFORMED, "t payload: not a JSON object"},
        {"[1]", "{}", "c2ln", 0, TSL_ERR_MALFORMED, "t header: not a JSON object"},
        {es, "{}", "", 0, TSL_ERR_SIGNATURE, "t: empty signature"},
        {es, "{}", "c2l*", 0, TSL_ERR_MALFORMED, "t signature"},
        {"{\"alg\":\"ES256\",\"x5c\":{}}", "{}", "c2ln", 0, TSL_ERR_MALFORMED,
         "x5c: not a non-empty array"},
        {"{\"alg\":\"ES256\",\"x5c\":[\"AA\",\"AA\",\"AA\",\"AA\",\"AA\",\"AA\",\"AA\",\"AA\","
         "\"AA\",\"AA\",\"AA\"]}",
         "{}", "c2ln", 0, TSL_ERR_LIMIT, "x5c: more than 10"},
        {"{\"alg\":\"ES256\",\"x5c\":[1]}", "{}", "c2ln", 0, TSL_ERR_MALFORMED,
         "x5c[0]: not a string"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        tsl_error err;
        const char *in = jws_text(cases[k].hdr, cases[k].payload, cases[k].sig);
        tsl_status st = jws_check(in, cases[k].algs, &err);
        if (st != cases[k].want || strstr(err.msg, cases[k].msg) == NULL)
            tt_failf(__FILE__, __LINE__, "case %zu: %s \"%s\", expected %s \"%s\"", k,
                     tsl_strerror(st), err.msg, tsl_strerror(cases[k].want), cases[k].msg);
        TT_CHECK(st == cases[k].want);
    }
    /* A kid longer than TSLP_MAX_KID. */
    char hdr[400];
    int w = snprintf(hdr, sizeof hdr, "{\"alg\":\"ES256\",\"kid\":\"");
    for (int b = 0; b <= TSLP_MAX_KID; b++)
        hdr[w++] = 'k';
    snprintf(hdr + w, sizeof hdr - (size_t)w, "\"}");
    tsl_error lerr;
    TT_ERR(jws_check(jws_text(hdr, "{}", "c2ln"), 0, &lerr), TSL_ERR_MALFORMED);
    TT_CONTAINS(lerr.msg, "t: kid: longer than 256 bytes");
    /* The split itself: two parts, four parts (a JWE has five), and no '.' at all. */
    static const struct {
        const char *in, *msg;
    } split[] = {
        {"eyJ9.e30", "t: expected three base64url parts"},
        {"nodots", "t: expected three base64url parts"},
        {"a.b.c.d.e", "t: more than three parts (an encrypted JWE"},
        {"a.b.c.", "more than three parts"},
        {"!!.e30.c2ln", "t header"},
    };
    for (size_t k = 0; k < sizeof split / sizeof split[0]; k++) {
        tsl_error err;
        TT_ERR(jws_check(split[k].in, 0, &err), TSL_ERR_MALFORMED);
        TT_CONTAINS(err.msg, split[k].msg);
    }
    /* what == NULL: no prefix at all. */
    tslp_jws j;
    tsl_error err;
    tsl_error_clear(&err);
    TT_ERR(tslp_jws_open(&j, "a.b", 3, NULL, NULL, &err), TSL_ERR_MALFORMED);
    TT_CHECK(strncmp(err.msg, "expected three", 14) == 0);
    tslp_jws_close(&j);
}

/* Signs header.payload with key and returns the compact JWS (malloc'd). */
static char *jws_signed(const tsl_key *key, const char *hdr, const char *payload)
{
    char h[1024], p[1024];
    char *tbs = NULL;
    if (asprintf(&tbs, "%s.%s", b64j(hdr, h, sizeof h), b64j(payload, p, sizeof p)) < 0)
        abort();
    uint8_t *sig = NULL;
    size_t sig_len = 0;
    char *sb = NULL;
    size_t sl = 0;
    if (tslp_sign(key, TSL_ALG_ES256, (const uint8_t *)tbs, strlen(tbs), &sig, &sig_len,
                  NULL) != TSL_OK ||
        tsl_b64url_encode(sig, sig_len, &sb, &sl, NULL) != TSL_OK)
        abort();
    char *out = NULL;
    if (asprintf(&out, "%s.%s", tbs, sb) < 0)
        abort();
    free(tbs);
    tsl_free(sig);
    tsl_free(sb);
    return out;
}

static tsl_status jws_verify(const char *in, const tsl_key *key, const tsl_keyset *ks,
                             tsl_error *err)
{
    tslp_jws j;
    tsl_error_clear(err);
    tsl_status st = tslp_jws_open(&j, in, strlen(in), NULL, "t", err);
    if (st == TSL_OK)
        st = tslp_jws_header(&j, 0, "t", err);
    if (st == TSL_OK)
        st = tslp_jws_signature(&j, "t", err);
    if (st == TSL_OK)
        st = tslp_jws_verify(&j, key, NULL, ks, 0, "t", err);
    tslp_jws_close(&j);
    return st;
}

TT_TEST(envelope_jws_key_selection)
{
    tsl_key *k1 = NULL, *k2 = NULL;
    tsl_keyset *ks = NULL;
    TT_OK(tsl_key_generate(TSL_ALG_ES256, &k1, NULL));
    TT_OK(tsl_key_generate(TSL_ALG_ES256, &k2, NULL));
    TT_OK(tsl_key_set_kid(k1, "k1", NULL));
    TT_OK(tsl_key_set_kid(k2, "k2", NULL));
    TT_OK(tsl_keyset_new(&ks, NULL));
    TT_OK(tsl_keyset_add(ks, k2, NULL));
    char *good = jws_signed(k1, "{\"alg\":\"ES256\",\"kid\":\"k1\"}", "{}");
    char *nokid = jws_signed(k1, "{\"alg\":\"ES256\"}", "{}");
    tsl_error err;
    /* Only k2 is trusted: the kid names no key; without a kid, k2 is tried and fails. */
    TT_ERR(jws_verify(good, NULL, ks, &err), TSL_ERR_KEY);
    TT_CONTAINS(err.msg, "t: no trusted ES256 key with kid \"k1\"");
    TT_ERR(jws_verify(nokid, NULL, ks, &err), TSL_ERR_SIGNATURE);
    TT_CONTAINS(err.msg, "t: ES256 signature does not verify with 1 trusted key(s)");
    TT_ERR(jws_verify(good, NULL, NULL, &err), TSL_ERR_KEY);
    TT_CONTAINS(err.msg, "t: no key to verify with");
    /* Trusted k1: the kid selects it; a given key bypasses the set. */
    TT_OK(tsl_keyset_add(ks, k1, NULL));
    TT_OK(jws_verify(good, NULL, ks, &err));
    TT_OK(jws_verify(nokid, NULL, ks, &err));
    TT_OK(jws_verify(good, k1, NULL, &err));
    TT_ERR(jws_verify(good, k2, NULL, &err), TSL_ERR_SIGNATURE);
    TT_CHECK(strncmp(err.msg, "t: ", 3) == 0);
    /* One flipped byte of the payload breaks the signature. */
    char *d = strchr(good, '.');
    d[1] = d[1] == 'e' ? 'f' : 'e';
    TT_ERR(jws_verify(good, NULL, ks, &err), TSL_ERR_SIGNATURE);
    free(good);
    free(nokid);
    tsl_keyset_free(ks);
    tsl_key_free(k1);
    tsl_key_free(k2);
}

/* ---- COSE ---- */

TT_TEST(envelope_cose_tags)
{
    static const struct {
        const char *hex, *msg;
    } cases[] = {
        {"84", "untagged array"},
        {"d83d84", "CWT tag 61 must not wrap"},
        {"d86284", "COSE_Sign (98) is not allowed"},
        {"d86184", "COSE_Mac (97) is not allowed"},
        {"c184", "tag 1, expected COSE_Sign1 (18) or COSE_Mac0 (17)"},
        {"a0", "map, expected a tagged COSE message"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        /* Complete each head into a document: the array gets four empty byte strings. */
        char hex[64];
        snprintf(hex, sizeof hex, "%s%s", cases[k].hex,
                 strcmp(cases[k].hex, "a0") == 0 ? "" : "40404040");
        size_t n = 0;
        uint8_t *in = tt_unhex(hex, &n);
        tslp_cbor_doc *doc = NULL;
        TT_OK(tslp_cbor_parse(in, n, NULL, NULL, &doc, NULL));
        bool mac = true;
        tsl_error err;
        tsl_error_clear(&err);
        tsl_status st = tslp_cose_tagged(doc->root, &mac, &err);
        tslp_cbor_free(doc);
        free(in);
        TT_ERR(st, TSL_ERR_MALFORMED);
        TT_CONTAINS(err.msg, cases[k].msg);
    }
    static const char *ok[] = {"d28440404040", "d18440404040"};
    for (int k = 0; k < 2; k++) {
        size_t n = 0;
        uint8_t *in = tt_unhex(ok[k], &n);
        tslp_cbor_doc *doc = NULL;
        TT_OK(tslp_cbor_parse(in, n, NULL, NULL, &doc, NULL));
        bool mac = k == 0;
        tsl_status st = tslp_cose_tagged(doc->root, &mac, NULL);
        tslp_cbor_free(doc);
        free(in);
        TT_OK(st);
        TT_CHECK(mac == (k == 1));
    }
}

/* [protected, unprotected, payload, sig] with the headers given as encoded maps (hex)
 * and an alg check with `algs`; returns the first failure. */
static tsl_status cose_check(const char *arr_hex, bool mac, uint32_t algs, tsl_error *err)
{
    size_t n = 0;
    uint8_t *in = tt_unhex(arr_hex, &n);
    tslp_cbor_doc *doc = NULL;
    tsl_error_clear(err);
    tsl_status st = tslp_cbor_parse(in, n, NULL, NULL, &doc, err);
    tslp_cose c;
    memset(&c, 0, sizeof c);
    if (st == TSL_OK)
        st = tslp_cose_open(&c, doc->root, mac, NULL, "t", err);
    if (st == TSL_OK)
        st = tslp_cose_alg(&c, algs, "t", err);
    tslp_cose_close(&c);
    tslp_cbor_free(doc);
    free(in);
    return st;
}

TT_TEST(envelope_cose_structure_and_headers)
{
    static const struct {
        const char *hex;
        bool mac;
        uint32_t algs;
        tsl_status want;
        const char *msg;
    } cases[] = {
        /* protected {1: -7} (ES256), unprotected {}, payload h'', signature h'' */
        {"8443a10126a04040", false, 0, TSL_OK, ""},
        /* protected {1: 5} (HMAC 256/256) in a COSE_Mac0 */
        {"8443a10105a04040", true, 0, TSL_OK, ""},
        {"8343a10126a040", false, 0, TSL_ERR_MALFORMED,
         "t: expected COSE_Sign1, an array of 4"},
        {"84a10126a04040", false, 0, TSL_ERR_MALFORMED, "t: protected header: map, expected "
                                                        "byte string"},
        {"8443a10126a0f640", false, 0, TSL_ERR_MALFORMED, "t: detached payload"},
        {"8443a10126a04001", true, 0, TSL_ERR_MALFORMED, "t: tag: unsigned integer"},
        {"8443a10126a04001", false, 0, TSL_ERR_MALFORMED, "t: signature: unsigned integer"},
        {"844180a04040", false, 0, TSL_ERR_MALFORMED, "t: protected header: array, expected "
                                                      "map"},
        {"8443a1012680 4040", false, 0, TSL_ERR_MALFORMED, "unprotected header: array"},
        /* alg only in the unprotected header */
        {"8440a101264040", false, 0, TSL_ERR_ALG,
         "t: alg (1): must be in the protected header"},
        /* kid (4) in both buckets */
        {"8446a2012604 4161 a1044161 4040", false, 0, TSL_ERR_MALFORMED,
         "t: header label 4 is in both"},
        /* crit (2) */
        {"8446a2012602 8104 a0 4040", false, 0, TSL_ERR_UNSUPPORTED, "t: crit (2)"},
        /* kid of 257 bytes */
        {NULL, false, 0, TSL_ERR_LIMIT, "t: kid (4): longer than 256 bytes"},
        /* kid that is an integer; kid null (absent) */
        {"8443a10126a10405 4040", false, 0, TSL_ERR_MALFORMED, "t: kid (4): unsigned integer"},
        {"8443a10126a104f6 4040", false, 0, TSL_OK, ""},
        /* x5chain (33) a map; an empty certificate */
        {"8443a10126a11821a0 4040", false, 0, TSL_ERR_MALFORMED, "t: x5chain (33): map"},
        {"8443a10126a1182140 4040", false, 0, TSL_ERR_MALFORMED,
         "t: x5chain (33): byte string, expected a DER"},
        /* alg: missing, text, unknown, a MAC in Sign1, a signature alg in Mac0, allow-list */
        {"8441a0a04040", false, 0, TSL_ERR_ALG, "t: alg (1): missing"},
        {"8444a1016145a04040", false, 0, TSL_ERR_ALG, "t: alg (1): text string, expected an "
                                                      "integer"},
        {"8445a1011903e7a04040", false, 0, TSL_ERR_ALG, "t: alg (1): 999 is not supported"},
        {"8443a10105a04040", false, 0, TSL_ERR_ALG, "HS256 is a MAC, but COSE_Sign1"},
        {"8443a10126a04040", true, 0, TSL_ERR_ALG, "ES256 is a signature algorithm, but "
                                                   "COSE_Mac0"},
        {"8443a10126a04040", false, TSL_ALG_BIT(TSL_ALG_ES384), TSL_ERR_ALG,
         "t: alg: ES256 is not in the allow-list"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char hex[1200];
        if (cases[k].hex == NULL) {
            /* unprotected {4: h'00' * 257} */
            int w = snprintf(hex, sizeof hex, "8443a10126a104590101");
            for (int b = 0; b < 257; b++)
                w += snprintf(hex + w, sizeof hex - (size_t)w, "61");
            snprintf(hex + w, sizeof hex - (size_t)w, "4040");
        } else {
            /* Spaces in the table only group the bytes for the reader. */
            size_t w = 0;
            for (const char *p = cases[k].hex; *p && w + 1 < sizeof hex; p++)
                if (*p != ' ')
                    hex[w++] = *p;
            hex[w] = '\0';
        }
        tsl_error err;
        tsl_status st = cose_check(hex, cases[k].mac, cases[k].algs, &err);
        if (st != cases[k].want || strstr(err.msg, cases[k].msg) == NULL)
            tt_failf(__FILE__, __LINE__, "case %zu: %s \"%s\", expected %s \"%s\"", k,
                     tsl_strerror(st), err.msg, tsl_strerror(cases[k].want), cases[k].msg);
        TT_CHECK(st == cases[k].want);
    }
}

TT_TEST(envelope_cose_sign1_verify)
{
    tsl_key *key = NULL, *other = NULL;
    tsl_keyset *ks = NULL;
    TT_OK(tsl_key_generate(TSL_ALG_ES256, &key, NULL));
    TT_OK(tsl_key_generate(TSL_ALG_ES256, &other, NULL));
    TT_OK(tsl_key_set_kid(key, "k1", NULL));
    TT_OK(tsl_keyset_new(&ks, NULL));
    TT_OK(tsl_keyset_add(ks, key, NULL));
    static const uint8_t prot[] = {0xa1, 0x01, 0x26}, payload[] = {0xa1, 0x02, 0x61, 0x78};
    /* The Sig_structure, written out by hand. */
    static const uint8_t want_tbs[] = {0x84, 0x6a, 'S', 'i', 'g', 'n', 'a', 't', 'u', 'r', 'e',
                                       '1', 0x43, 0xa1, 0x01, 0x26, 0x40, 0x44, 0xa1, 0x02,
                                       0x61, 0x78};
    uint8_t *sig = NULL, *msg = NULL;
    size_t sig_len = 0, msg_len = 0;
    TT_OK(tslp_sign(key, TSL_ALG_ES256, want_tbs, sizeof want_tbs, &sig, &sig_len, NULL));
    for (int round = 0; round < 3; round++) {
        const char *kid = round == 0 ? "k1" : round == 1 ? "k2" : NULL;
        tslp_cw w;
        tslp_cw_init(&w, 4096);
        tslp_cw_tag(&w, 18);
        tslp_cw_array(&w, 4);
        tslp_cw_bytes(&w, prot, sizeof prot);
        tslp_cw_map(&w, kid != NULL);
        if (kid != NULL) {
            tslp_cw_uint(&w, 4);
            tslp_cw_bytes(&w, (const uint8_t *)kid, 2);
        }
        tslp_cw_bytes(&w, payload, sizeof payload);
        tslp_cw_bytes(&w, sig, sig_len);
        TT_OK(tslp_cw_finish(&w, &msg, &msg_len, NULL));
        tslp_cbor_doc *doc = NULL;
        TT_OK(tslp_cbor_parse(msg, msg_len, NULL, NULL, &doc, NULL));
        bool mac = true;
        tslp_cose c;
        tsl_error err;
        tsl_error_clear(&err);
        TT_OK(tslp_cose_tagged(doc->root, &mac, NULL));
        TT_OK(tslp_cose_open(&c, doc->root->child, mac, NULL, "t", NULL));
        TT_OK(tslp_cose_alg(&c, 0, "t", NULL));
        uint8_t *tbs = NULL;
        size_t tbs_len = 0;
        TT_OK(tslp_cose_tbs(&c, &tbs, &tbs_len, NULL));
        TT_EQ_MEM(tbs, want_tbs, sizeof want_tbs);
        TT_CHECK(tbs_len == sizeof want_tbs);
        tsl_free(tbs);
        tsl_status st = tslp_cose_verify(&c, NULL, ks, 0, false, "t", &err);
        tsl_status x5 = tslp_cose_verify(&c, NULL, ks, 0, true, "t", NULL);
        tslp_cose_close(&c);
        tslp_cbor_free(doc);
        tsl_free(msg);
        /* The mdoc rule: no x5chain, no verification. */
        TT_ERR(x5, TSL_ERR_TRUST);
        if (round == 1) {
            TT_ERR(st, TSL_ERR_KEY);
            TT_CONTAINS(err.msg, "t: no trusted ES256 key with kid \"k2\"");
        } else {
            TT_OK(st);
        }
    }
    /* A trusted key that did not sign: the signature does not verify. */
    tsl_keyset_free(ks);
    TT_OK(tsl_keyset_new(&ks, NULL));
    TT_OK(tsl_keyset_add(ks, other, NULL));
    tsl_error err;
    tsl_error_clear(&err);
    TT_ERR(tslp_env_verify_keys(ks, NULL, 0, TSL_ALG_ES256, false, want_tbs, sizeof want_tbs,
                                sig, sig_len, NULL, &err),
           TSL_ERR_SIGNATURE);
    TT_CONTAINS(err.msg, "ES256 signature does not verify with 1 trusted key(s)");
    TT_ERR(tslp_env_verify_keys(ks, (const uint8_t *)"a\0b", 3, TSL_ALG_ES256, false, want_tbs,
                                sizeof want_tbs, sig, sig_len, NULL, &err),
           TSL_ERR_KEY);
    tsl_free(sig);
    tsl_keyset_free(ks);
    tsl_key_free(key);
    tsl_key_free(other);
}

/* tsl_list_parse: a StatusList in either form, the form told by tsl_detect_form(). */
TT_TEST(form_list_parse_either_form)
{
    static const char json[] = " {\"bits\":1,\"lst\":\"eNrbuRgAAhcBXQ\"}";
    tsl_list *l = NULL;
    tsl_error err;
    tsl_error_clear(&err);
    TT_OK(tsl_list_parse((const uint8_t *)json, sizeof json - 1, NULL, &l, &err));
    TT_EQ_U(tsl_list_bits(l), 1);
    uint8_t *cbor = NULL;
    size_t n = 0;
    TT_OK(tsl_list_to_cbor(l, TSL_LEVEL_DEFAULT, &cbor, &n, &err));
    uint64_t size = tsl_list_size(l);
    tsl_list_free(l);
    l = NULL;
    TT_OK(tsl_list_parse(cbor, n, NULL, &l, &err));
    TT_EQ_U(tsl_list_size(l), size);
    tsl_list_free(l);
    tsl_free(cbor);
    TT_ERR(tsl_list_parse((const uint8_t *)" \n", 2, NULL, &l, &err), TSL_ERR_MALFORMED);
    TT_CONTAINS(err.msg, "input is empty");
    tsl_error_clear(&err);
    TT_ERR(tsl_list_parse((const uint8_t *)"a.b.c", 5, NULL, &l, &err), TSL_ERR_MALFORMED);
    TT_CONTAINS(err.msg, "neither a StatusList JSON object nor a CBOR map");
}
