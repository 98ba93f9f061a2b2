/* bench_verify.c - the relying party's cases of `bench` (the command line is in
 * tests/bench.c): tsl_verifier_check() of an ES256 SD-JWT VC whose Status List Token is
 * already in the verifier's memory cache (verify_warm, with or without a key-binding
 * JWT), and fresh verifiers that fetch the list from a real `tsl serve` over loopback
 * (verify_cold, set up by tests/bench.sh). The SD-JWT VC is built and signed here with
 * OpenSSL EVP, as an issuer and a holder outside libtsl would do it, so the verifier
 * never sees bytes that libtsl itself produced. Each case prints one JSON line. */
#include "bench.h"
#include "crypto/ossl_int.h"
#include "verify/fetch_int.h"

#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/rand.h>

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ISSUER_KID "issuer-key-1"
#define WARM_URI "https://example.com/statuslists/bench"
/* Each timed run lasts at least this long; the best of REPEATS runs is reported. */
#define MIN_RUN_SECONDS 1.0
/* The Accept header the verifier sends for an SD-JWT (verify.c): JWT first. */
#define ACCEPT_JWT_FIRST TSL_MEDIA_JWT ", " TSL_MEDIA_CWT ";q=0.9"

/* ---- text helpers ---- */

typedef struct {
    char *p;
    size_t len, cap;
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *np = realloc(b->p, cap);
        if (np == NULL)
            bench_die("realloc", TSL_ERR_NOMEM, NULL);
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_str(sbuf *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

/* base64url without padding; free with tsl_free(). */
static char *b64(const void *p, size_t n)
{
    char *o = NULL;
    size_t ol = 0;
    tsl_error err;
    tsl_error_clear(&err);
    tsl_status st = tsl_b64url_encode(p, n, &o, &ol, &err);
    if (st != TSL_OK)
        bench_die("tsl_b64url_encode", st, &err);
    return o;
}

/* A compact JSON text of v (which is released); free with free(). */
static char *dump(json_t *v)
{
    if (v == NULL)
        bench_die("json_pack", TSL_ERR_NOMEM, NULL);
    char *s = json_dumps(v, JSON_COMPACT);
    json_decref(v);
    if (s == NULL)
        bench_die("json_dumps", TSL_ERR_NOMEM, NULL);
    return s;
}

/* base64url(SHA-256(text)): an SD-JWT digest (of a disclosure, or sd_hash). */
static char *digest_b64(const char *text, size_t n)
{
    uint8_t h[32];
    unsigned hl = 0;
    if (EVP_Digest(text, n, h, &hl, EVP_sha256(), NULL) != 1 || hl != sizeof h)
        bench_die("EVP_Digest", TSL_ERR_CRYPTO, NULL);
    return b64(h, sizeof h);
}

/* 16 random bytes as base64url: a disclosure salt or a nonce. */
static char *random_b64(void)
{
    uint8_t r[16];
    if (RAND_bytes(r, sizeof r) != 1)
        bench_die("RAND_bytes", TSL_ERR_CRYPTO, NULL);
    return b64(r, sizeof r);
}

/* ---- ES256 with OpenSSL EVP ---- */

static EVP_PKEY *p256_generate(void)
{
    EVP_PKEY *pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    if (pk == NULL)
        bench_die("EVP_PKEY_Q_keygen", TSL_ERR_CRYPTO, NULL);
    return pk;
}

/* The public JWK of a P-256 key, with a kid when kid is not NULL. */
static json_t *p256_public_jwk(EVP_PKEY *pk, const char *kid)
{
    uint8_t pt[65];
    size_t n = 0;
    /* The uncompressed point 04 || x || y. */
    if (EVP_PKEY_get_octet_string_param(pk, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, pt,
                                        sizeof pt, &n) != 1 ||
        n != sizeof pt || pt[0] != 4)
        bench_die("EC public point", TSL_ERR_CRYPTO, NULL);
    char *x = b64(pt + 1, 32), *y = b64(pt + 33, 32);
    json_t *j =
        json_pack("{s:s, s:s, s:s, s:s}", "kty", "EC", "crv", "P-256", "x", x, "y", y);
    if (j != NULL && kid != NULL)
        json_object_set_new(j, "kid", json_string(kid));
    tsl_free(x);
    tsl_free(y);
    if (j == NULL)
        bench_die("json_pack", TSL_ERR_NOMEM, NULL);
    return j;
}

/* A JWS compact serialization of the header and payload texts, signed ES256 (the JWS
 * form of the signature: raw r || s, 32 bytes each). *tbs_len receives the length of
 * the signing input, the part before the last '.'. Free with free(). */
static char *jws_es256(EVP_PKEY *pk, const char *hdr, const char *payload,
                       size_t *tbs_len)
{
    char *h = b64(hdr, strlen(hdr)), *p = b64(payload, strlen(payload));
    sbuf b = {NULL, 0, 0};
    sb_str(&b, h);
    sb_str(&b, ".");
    sb_str(&b, p);
    tsl_free(h);
    tsl_free(p);
    *tbs_len = b.len;

    unsigned char der[80];
    size_t dl = sizeof der;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    if (c == NULL || EVP_DigestSignInit(c, NULL, EVP_sha256(), NULL, pk) != 1 ||
        EVP_DigestSign(c, der, &dl, (const unsigned char *)b.p, b.len) != 1)
        bench_die("EVP_DigestSign", TSL_ERR_CRYPTO, NULL);
    EVP_MD_CTX_free(c);
    const unsigned char *dp = der;
    ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &dp, (long)dl);
    uint8_t raw[64];
    if (es == NULL || BN_bn2binpad(ECDSA_SIG_get0_r(es), raw, 32) != 32 ||
        BN_bn2binpad(ECDSA_SIG_get0_s(es), raw + 32, 32) != 32)
        bench_die("ECDSA signature", TSL_ERR_CRYPTO, NULL);
    ECDSA_SIG_free(es);
    char *s = b64(raw, sizeof raw);
    sb_str(&b, ".");
    sb_str(&b, s);
    tsl_free(s);
    return b.p;
}

/* ---- the SD-JWT VC ---- */

/* The selectively disclosable claims of a PID-like credential. The issuer makes a
 * disclosure for each; the holder presents the first PRESENTED of them. */
#define CLAIMS 7
#define PRESENTED 5

static json_t *claim_value(int k)
{
    switch (k) {
    case 0:
        return json_string("Erika");
    case 1:
        return json_string("Mustermann");
    case 2:
        return json_string("1963-08-12");
    case 3:
        return json_pack("{s:s, s:s, s:s, s:s}", "street_address", "Heidestrasse 17",
                         "locality", "Koeln", "postal_code", "51147", "country", "DE");
    case 4:
        return json_pack("[s]", "DE");
    case 5:
        return json_string("erika.mustermann@example.com");
    default:
        return json_string("+49 221 1234567");
    }
}

static const char *const claim_names[CLAIMS] = {
    "given_name", "family_name", "birthdate", "address", "nationalities", "email",
    "phone_number"};

typedef struct {
    char *token; /* issuer JWT ~ disclosures ~ [KB-JWT]: what the verifier gets */
    size_t len;
    size_t issuer_len;  /* the issuer-signed JWT is token[0 .. issuer_len) */
    size_t tbs_len;     /* its signing input is token[0 .. tbs_len) */
    json_t *issuer_jwk; /* the issuer's public JWK, kid ISSUER_KID */
} sdjwt_vc;

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Issues an SD-JWT VC (header typ "dc+sd-jwt", ES256, kid) pointing at idx of the list
 * at uri, with cnf.jwk the holder's key, and presents PRESENTED disclosures, followed
 * by a key-binding JWT when kb is set. */
static sdjwt_vc issue(const char *uri, uint64_t idx, int kb)
{
    sdjwt_vc vc;
    memset(&vc, 0, sizeof vc);
    EVP_PKEY *issuer = p256_generate(), *holder = p256_generate();
    int64_t now = (int64_t)time(NULL);

    char *disc[CLAIMS], *dig[CLAIMS];
    for (int k = 0; k < CLAIMS; k++) {
        char *salt = random_b64();
        char *arr = dump(json_pack("[s, s, o]", salt, claim_names[k], claim_value(k)));
        disc[k] = b64(arr, strlen(arr));
        dig[k] = digest_b64(disc[k], strlen(disc[k]));
        free(arr);
        tsl_free(salt);
    }
    /* Issuers sort the digests so that their order tells nothing about the claims. */
    qsort(dig, CLAIMS, sizeof *dig, cmp_str);
    json_t *sd = json_array();
    for (int k = 0; k < CLAIMS; k++)
        json_array_append_new(sd, json_string(dig[k]));
    char *hdr = dump(json_pack("{s:s, s:s, s:s}", "alg", "ES256", "typ", "dc+sd-jwt",
                               "kid", ISSUER_KID));
    char *payload =
        dump(json_pack("{s:s, s:I, s:I, s:s, s:o, s:s, s:{s:o}, s:{s:{s:I, s:s}}}", "iss",
                       "https://issuer.example.com", "iat", (json_int_t)(now - 60), "exp",
                       (json_int_t)(now + 365 * 86400), "vct",
                       "https://credentials.example.com/identity_credential", "_sd", sd,
                       "_sd_alg", "sha-256", "cnf", "jwk", p256_public_jwk(holder, NULL),
                       "status", "status_list", "idx", (json_int_t)idx, "uri", uri));
    size_t tbs_len = 0;
    char *jwt = jws_es256(issuer, hdr, payload, &tbs_len);

    sbuf b = {NULL, 0, 0};
    sb_str(&b, jwt);
    sb_str(&b, "~");
    for (int k = 0; k < PRESENTED; k++) {
        sb_str(&b, disc[k]);
        sb_str(&b, "~");
    }
    if (kb) {
        /* sd_hash covers everything presented up to and including the last '~'. */
        char *sd_hash = digest_b64(b.p, b.len), *nonce = random_b64();
        char *kh = dump(json_pack("{s:s, s:s}", "alg", "ES256", "typ", "kb+jwt"));
        char *kp = dump(json_pack("{s:I, s:s, s:s, s:s}", "iat", (json_int_t)(now - 5),
                                  "aud", "https://verifier.example.org", "nonce", nonce,
                                  "sd_hash", sd_hash));
        size_t kb_tbs = 0;
        char *kbjwt = jws_es256(holder, kh, kp, &kb_tbs);
        sb_str(&b, kbjwt);
        free(kbjwt);
        free(kh);
        free(kp);
        tsl_free(sd_hash);
        tsl_free(nonce);
    }
    vc.token = b.p;
    vc.len = b.len;
    vc.issuer_len = strlen(jwt);
    vc.tbs_len = tbs_len;
    vc.issuer_jwk = p256_public_jwk(issuer, ISSUER_KID);
    for (int k = 0; k < CLAIMS; k++) {
        tsl_free(disc[k]);
        tsl_free(dig[k]);
    }
    free(jwt);
    free(hdr);
    free(payload);
    EVP_PKEY_free(issuer);
    EVP_PKEY_free(holder);
    return vc;
}

/* The verifier's keys: the issuer's (from its public JWK) and the list's. *issuer_key
 * gets the issuer's key (the caller frees it), for the bare OpenSSL comparison. */
static tsl_keyset *verifier_keys(const sdjwt_vc *vc, tsl_key *list_key,
                                 const char *list_file, tsl_key **issuer_key)
{
    tsl_error err;
    tsl_error_clear(&err);
    tsl_keyset *ks = NULL;
    char *jwk = json_dumps(vc->issuer_jwk, JSON_COMPACT);
    tsl_status st =
        jwk ? tsl_key_from_jwk(jwk, strlen(jwk), issuer_key, &err) : TSL_ERR_NOMEM;
    free(jwk);
    if (st == TSL_OK)
        st = tsl_keyset_new(&ks, &err);
    if (st == TSL_OK)
        st = tsl_keyset_add(ks, *issuer_key, &err);
    if (st == TSL_OK && list_key != NULL)
        st = tsl_keyset_add(ks, list_key, &err);
    if (st == TSL_OK && list_file != NULL)
        st = tsl_keyset_load(ks, list_file, &err);
    if (st != TSL_OK)
        bench_die("verifier keys", st, &err);
    return ks;
}

static void free_vc(sdjwt_vc *vc)
{
    free(vc->token);
    json_decref(vc->issuer_jwk);
}

/* The index the benchmark credential points at: the generator's first draw, so its
 * value is known to be set (1 for a one-bit list). */
static uint64_t bench_index(const tsl_list *l, unsigned *value)
{
    uint64_t s = BENCH_SEED;
    uint64_t idx = bench_xorshift64(&s) % tsl_list_size(l);
    if (tsl_list_get(l, idx, value, NULL) != TSL_OK)
        bench_die("tsl_list_get", TSL_ERR_INDEX, NULL);
    return idx;
}

/* ---- verify_warm ---- */

/* A Status List Token served from memory, as application/statuslist+jwt. */
typedef struct {
    const uint8_t *body;
    size_t len;
    int calls;
} memory_server;

static tsl_status serve_from_memory(void *ctx, const char *url, const char *accept,
                                    uint8_t **body, size_t *len, char **content_type,
                                    tsl_error *err)
{
    (void)url; /* one list only */
    (void)accept;
    (void)err;
    memory_server *m = ctx;
    m->calls++;
    *body = malloc(m->len + 1);
    *content_type = strdup(TSL_MEDIA_JWT);
    if (*body == NULL || *content_type == NULL) {
        free(*body);
        free(*content_type);
        return TSL_ERR_NOMEM;
    }
    memcpy(*body, m->body, m->len);
    *len = m->len;
    return TSL_OK;
}

typedef struct {
    tsl_verifier *v;
    const sdjwt_vc *vc;
    unsigned want;
    tsl_keyset *ks;     /* for ref_parse */
    EVP_PKEY *pk;       /* for bare: the issuer's public key */
    const uint8_t *der; /* and the issuer JWT's signature in DER */
    size_t der_len;
} warm_ctx;

/* One check from the cache: the result must be what the list says, with no request. */
static void warm_check(warm_ctx *w)
{
    tsl_check_result res;
    tsl_error err;
    tsl_error_clear(&err);
    tsl_status st = tsl_verifier_check(w->v, (const uint8_t *)w->vc->token, w->vc->len, 0,
                                       0, &res, &err);
    if (st != TSL_OK)
        bench_die("tsl_verifier_check", st, &err);
    if (!res.from_cache || res.fetched || !res.determined || res.value != w->want) {
        fprintf(stderr,
                "bench: check: from_cache %d fetched %d determined %d value %u, "
                "expected a cached answer %u\n",
                res.from_cache, res.fetched, res.determined, res.value, w->want);
        exit(1);
    }
}

/* The Referenced Token's own validation only (signature(s), disclosures, claims). */
static void warm_ref_parse(warm_ctx *w)
{
    tsl_ref_opts o;
    memset(&o, 0, sizeof o);
    o.policy.keys = w->ks;
    tsl_ref *r = NULL;
    tsl_error err;
    tsl_error_clear(&err);
    tsl_status st =
        tsl_ref_parse((const uint8_t *)w->vc->token, w->vc->len, NULL, &o, &r, &err);
    if (st != TSL_OK)
        bench_die("tsl_ref_parse", st, &err);
    tsl_ref_free(r);
}

static void warm_bare(warm_ctx *w)
{
    if (!bench_bare_verify(w->pk, EVP_sha256(), w->der, w->der_len,
                           (const uint8_t *)w->vc->token, w->vc->tbs_len))
        bench_die("bare verify", TSL_ERR_SIGNATURE, NULL);
}

/* CPU time of this thread: on a machine where other processes compete for the cores
 * it still tells what one check costs, where wall time also counts the waits. */
static double thread_cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct {
    double wall;    /* calls per second of wall time, best run */
    double cpu;     /* calls per second of CPU time, best run */
    uint64_t calls; /* calls in the best wall-time run */
} rates;

typedef void (*warm_fn)(warm_ctx *);
#define WARM_FNS 3
#define BATCH 64

/* Calls per second of each of the WARM_FNS functions, the best of REPEATS runs in which
 * each gets at least MIN_RUN_SECONDS. The functions take turns in batches of BATCH
 * calls (a few ms), so that a change in the load of the machine hits all of them alike
 * and their ratios hold even when the absolute figures move. */
static void rate(const warm_fn f[WARM_FNS], warm_ctx *w, rates out[WARM_FNS])
{
    memset(out, 0, WARM_FNS * sizeof *out);
    for (int r = 0; r < REPEATS; r++) {
        double wall[WARM_FNS] = {0}, cpu[WARM_FNS] = {0};
        uint64_t n = 0;
        double start = bench_now();
        do {
            for (int i = 0; i < WARM_FNS; i++) {
                double t0 = bench_now(), c0 = thread_cpu_now();
                for (int k = 0; k < BATCH; k++)
                    f[i](w);
                cpu[i] += thread_cpu_now() - c0;
                wall[i] += bench_now() - t0;
            }
            n += BATCH;
        } while (bench_now() - start < MIN_RUN_SECONDS * WARM_FNS);
        for (int i = 0; i < WARM_FNS; i++) {
            if ((double)n / wall[i] > out[i].wall) {
                out[i].wall = (double)n / wall[i];
                out[i].calls = n;
            }
            if (cpu[i] > 0 && (double)n / cpu[i] > out[i].cpu)
                out[i].cpu = (double)n / cpu[i];
        }
    }
}

int bench_verify_warm(uint64_t n, unsigned bits, int kb)
{
    tsl_error err;
    tsl_error_clear(&err);
    tsl_list *l = bench_generate(n, bits);
    unsigned want = 0;
    uint64_t idx = bench_index(l, &want);

    /* The Status List Token, signed in-process with a key whose kid is its thumbprint
     * (as `tsl keygen` assigns it). */
    tsl_key *list_key = NULL;
    char *thumb = NULL;
    tsl_status st = tsl_key_generate(TSL_ALG_ES256, &list_key, &err);
    if (st == TSL_OK)
        st = tsl_key_thumbprint(list_key, &thumb, &err);
    if (st == TSL_OK)
        st = tsl_key_set_kid(list_key, thumb, &err);
    if (st != TSL_OK)
        bench_die("list key", st, &err);
    tsl_free(thumb);
    int64_t now = (int64_t)time(NULL);
    tsl_token_params p;
    memset(&p, 0, sizeof p);
    p.format = TSL_FORMAT_JWT;
    p.alg = TSL_ALG_ES256;
    p.sub = WARM_URI;
    p.iat = now - 60;
    p.exp = now + 86400;
    p.ttl = 300;
    uint8_t *tok = NULL;
    size_t tok_len = 0;
    if ((st = tsl_token_sign(l, &p, list_key, &tok, &tok_len, &err)) != TSL_OK)
        bench_die("tsl_token_sign", st, &err);

    sdjwt_vc vc = issue(WARM_URI, idx, kb);
    tsl_key *issuer_key = NULL;
    tsl_keyset *ks = verifier_keys(&vc, list_key, NULL, &issuer_key);
    memory_server srv = {tok, tok_len, 0};
    tsl_verifier_opts o;
    memset(&o, 0, sizeof o);
    o.policy.keys = ks;
    o.fetch = serve_from_memory;
    o.fetch_ctx = &srv;
    tsl_verifier *v = NULL;
    if ((st = tsl_verifier_new(&o, &v, &err)) != TSL_OK)
        bench_die("tsl_verifier_new", st, &err);

    /* The first check fetches (through the callback) and fills the cache. */
    tsl_check_result res;
    st = tsl_verifier_check(v, (const uint8_t *)vc.token, vc.len, 0, 0, &res, &err);
    if (st != TSL_OK)
        bench_die("first tsl_verifier_check", st, &err);
    if (!res.fetched || res.from_cache || !res.determined || res.value != want ||
        res.idx != idx || res.kind != TSL_REF_SDJWT || srv.calls != 1) {
        fprintf(stderr,
                "bench: first check: fetched %d from_cache %d value %u (want %u)\n",
                res.fetched, res.from_cache, res.value, want);
        return 1;
    }

    /* The issuer JWT's signature in DER, for the bare OpenSSL verify. */
    const char *dot = vc.token + vc.tbs_len;
    uint8_t *sig = NULL;
    size_t sig_len = 0, der_len = 0;
    st = tsl_b64url_decode(dot + 1, vc.issuer_len - vc.tbs_len - 1, &sig, &sig_len, &err);
    if (st != TSL_OK)
        bench_die("signature", st, &err);
    unsigned char *der = bench_raw_to_der(sig, sig_len, &der_len);
    tsl_free(sig);
    if (der == NULL)
        bench_die("raw_to_der", TSL_ERR_CRYPTO, NULL);

    warm_ctx w = {v, &vc, want, ks, issuer_key->pkey, der, der_len};
    const warm_fn fns[WARM_FNS] = {warm_check, warm_ref_parse, warm_bare};
    rates rt[WARM_FNS];
    rate(fns, &w, rt);
    rates checks = rt[0], ref = rt[1], bare = rt[2];
    if (srv.calls != 1) {
        fprintf(stderr, "bench: %d fetches, expected 1\n", srv.calls);
        return 1;
    }
    /* The floor: as many checks as the signatures alone allow, each verified as an
     * application calling OpenSSL would; compared in CPU time, which other processes
     * on the machine disturb least. */
    int sigs = kb ? 2 : 1;
    printf("{\"case\":\"%s\",\"n\":%" PRIu64 ",\"bits\":%u,\"alg\":\"ES256\","
           "\"disclosures\":%d,\"key_binding\":%s,\"token_bytes\":%zu,"
           "\"list_token_bytes\":%zu,\"idx\":%" PRIu64 ",\"value\":%u,\"fetches\":%d,"
           "\"runs\":%d,\"checks\":%" PRIu64 ",\"checks_per_second\":%.0f,"
           "\"checks_per_cpu_second\":%.0f,\"ref_parse_per_cpu_second\":%.0f,"
           "\"openssl_verify_per_second\":%.0f,\"openssl_verify_per_cpu_second\":%.0f,"
           "\"signatures\":%d,\"crypto_floor_ratio\":%.3f,\"peak_rss_kb\":%ld}\n",
           kb ? "verify_warm_kb" : "verify_warm", n, bits, PRESENTED,
           kb ? "true" : "false", vc.len, tok_len, idx, want, srv.calls, REPEATS,
           checks.calls, checks.wall, checks.cpu, ref.cpu, bare.wall, bare.cpu, sigs,
           checks.cpu / (bare.cpu / sigs), bench_peak_rss_kb());

    OPENSSL_free(der);
    tsl_verifier_free(v);
    tsl_keyset_free(ks);
    tsl_key_free(issuer_key);
    free_vc(&vc);
    tsl_free(tok);
    tsl_key_free(list_key);
    tsl_list_free(l);
    return 0;
}

/* ---- verify_cold ---- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The nearest-rank percentile q (0 < q <= 1) of n sorted values. */
static double pct(const double *v, size_t n, double q)
{
    size_t r = (size_t)ceil(q * (double)n);
    return v[r > 0 ? r - 1 : 0];
}

static double median_of(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return pct(v, n, 0.5);
}

/* One cold check: a fresh verifier (no cache, the built-in libcurl client) and one
 * tsl_verifier_check(); returns the milliseconds from tsl_verifier_new() to the
 * answer. */
static double cold_check(const sdjwt_vc *vc, const tsl_keyset *ks, unsigned want)
{
    tsl_verifier_opts o;
    memset(&o, 0, sizeof o);
    o.policy.keys = ks;
    o.allow_http = 1;
    tsl_error err;
    tsl_error_clear(&err);
    tsl_check_result res;
    tsl_verifier *v = NULL;
    double t0 = bench_now();
    tsl_status st = tsl_verifier_new(&o, &v, &err);
    if (st == TSL_OK)
        st = tsl_verifier_check(v, (const uint8_t *)vc->token, vc->len, 0, 0, &res, &err);
    double t1 = bench_now();
    if (st != TSL_OK)
        bench_die("tsl_verifier_check", st, &err);
    if (!res.fetched || res.from_cache || !res.determined || res.value != want) {
        fprintf(stderr,
                "bench: cold check: fetched %d from_cache %d value %u (want %u)\n",
                res.fetched, res.from_cache, res.value, want);
        exit(1);
    }
    tsl_verifier_free(v);
    return (t1 - t0) * 1e3;
}

int bench_verify_cold(uint64_t n, unsigned bits, const char *url, const char *keyfile,
                      uint64_t count)
{
    /* The served list is the generator's (bench.sh loads `bench gen` into the store), so
     * the expected value comes from the same list built here. */
    tsl_list *l = bench_generate(n, bits);
    unsigned want = 0;
    uint64_t idx = bench_index(l, &want);
    tsl_list_free(l);
    sdjwt_vc vc = issue(url, idx, 0);
    tsl_key *issuer_key = NULL;
    tsl_keyset *ks = verifier_keys(&vc, NULL, keyfile, &issuer_key);

    double *total = calloc(count, sizeof *total), *fetch = calloc(count, sizeof *fetch);
    double *list = calloc(count, sizeof *list), *ref = calloc(count, sizeof *ref);
    if (total == NULL || fetch == NULL || list == NULL || ref == NULL)
        bench_die("calloc", TSL_ERR_NOMEM, NULL);
    /* The first check also pays for what a process does once (curl_global_init,
     * OpenSSL loading its algorithms): reported apart, not counted. */
    double first_ms = cold_check(&vc, ks, want);

    /* What tsl_verifier_new() gives the built-in client with allow_http and defaults. */
    tslp_fetch_cfg cfg = {.allow_http = 1, .max_body = (size_t)16 << 20};
    cfg.timeout_ms = 10000L;
    cfg.max_redirects = 5;
    tsl_verify_opts vo;
    memset(&vo, 0, sizeof vo);
    vo.policy.keys = ks;
    vo.sub = url;
    tsl_ref_opts ro;
    memset(&ro, 0, sizeof ro);
    ro.policy.keys = ks;
    size_t body_len = 0;
    for (uint64_t i = 0; i < count; i++) {
        total[i] = cold_check(&vc, ks, want);

        /* The breakdown, each part on its own: the same GET with the verifier's client
         * and settings; the list token's parse (base64url, JSON, inflate of the 10^6
         * entries) and verification; the Referenced Token's own validation. */
        tsl_error err;
        tsl_error_clear(&err);
        uint8_t *body = NULL;
        char *ct = NULL;
        double t0 = bench_now();
        tsl_status st =
            tslp_fetch_curl(&cfg, url, ACCEPT_JWT_FIRST, &body, &body_len, &ct, &err);
        double t1 = bench_now();
        if (st != TSL_OK)
            bench_die("fetch", st, &err);
        tsl_token *t = NULL;
        st = tsl_token_parse(body, body_len, NULL, &t, &err);
        if (st == TSL_OK)
            st = tsl_token_verify(t, &vo, &err);
        double t2 = bench_now();
        if (st != TSL_OK)
            bench_die("list token", st, &err);
        tsl_token_free(t);
        tsl_free(body);
        tsl_free(ct);
        tsl_ref *r = NULL;
        double t3 = bench_now();
        st = tsl_ref_parse((const uint8_t *)vc.token, vc.len, NULL, &ro, &r, &err);
        double t4 = bench_now();
        if (st != TSL_OK)
            bench_die("tsl_ref_parse", st, &err);
        tsl_ref_free(r);
        fetch[i] = (t1 - t0) * 1e3;
        list[i] = (t2 - t1) * 1e3;
        ref[i] = (t4 - t3) * 1e3;
    }
    qsort(total, count, sizeof *total, cmp_double);
    double fetch_med = median_of(fetch, count), list_med = median_of(list, count);
    double ref_med = median_of(ref, count);
    printf("{\"case\":\"verify_cold\",\"n\":%" PRIu64 ",\"bits\":%u,\"alg\":\"ES256\","
           "\"disclosures\":%d,\"token_bytes\":%zu,\"list_token_bytes\":%zu,"
           "\"idx\":%" PRIu64 ",\"value\":%u,\"iterations\":%" PRIu64 ","
           "\"first_ms\":%.3f,"
           "\"min_ms\":%.3f,\"median_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,"
           "\"max_ms\":%.3f,\"fetch_median_ms\":%.3f,\"list_verify_median_ms\":%.3f,"
           "\"ref_median_ms\":%.3f,\"peak_rss_kb\":%ld}\n",
           n, bits, PRESENTED, vc.len, body_len, idx, want, count, first_ms, total[0],
           pct(total, count, 0.5), pct(total, count, 0.9), pct(total, count, 0.99),
           total[count - 1], fetch_med, list_med, ref_med, bench_peak_rss_kb());
    free(total);
    free(fetch);
    free(list);
    free(ref);
    tsl_keyset_free(ks);
    tsl_key_free(issuer_key);
    free_vc(&vc);
    return 0;
}
