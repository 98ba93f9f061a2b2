/* sdjwt.c - SD-JWT and SD-JWT VC Referenced Tokens (RFC 9901): issuer-signed JWT ~
 * disclosures ~ optional key-binding JWT. The issuer JWT is verified with the caller's
 * keys (any typ but a Status List Token's; alg "none" refused), every disclosure must be
 * a base64url JSON array whose SHA-256 digest is referenced exactly once from the
 * payload (or from a disclosure that is itself reached), a key-binding JWT must be
 * signed by cnf.jwk over the right sd_hash, and the status claim is read from the
 * issuer-signed payload, where the spec puts it always disclosed. */
#include "codec/cbor_int.h"
#include "ref/ref_int.h"
#include "crypto/crypto.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Bounds on an SD-JWT. */

/* A digest as base64url text of SHA-256: 43 characters. */
#define DIGEST_B64 43

typedef struct {
    char d[DIGEST_B64 + 1];
    int owner;    /* -1: the payload; else the disclosure whose value holds it */
    bool element; /* from an array's {"...": digest}, not from an _sd array */
} ref_digest;

typedef struct {
    ref_digest *v;
    size_t n, cap;
    int owner;   /* set while collecting */
    tsl_error *err;
    tsl_status st;
} digest_set;

static void add_digest(digest_set *s, const json_t *d, bool element)
{
    if (s->st != TSL_OK)
        return;
    if (!json_is_string(d) || json_string_length(d) != DIGEST_B64) {
        s->st = tslp_fail(s->err, TSL_ERR_MALFORMED, 0,
                          "sd-jwt: a digest in _sd or \"...\" is not a SHA-256 base64url "
                          "string");
        return;
    }
    if (s->n == TSLP_SDJWT_MAX_DIGESTS) {
        s->st = tslp_fail(s->err, TSL_ERR_LIMIT, 0, "sd-jwt: more than %d digests",
                          TSLP_SDJWT_MAX_DIGESTS);
        return;
    }
    if (s->n == s->cap) {
        tsl_status st = TSLP_ELEMS_RESERVE(s->v, s->n, s->cap, 1, TSLP_SDJWT_MAX_DIGESTS,
                                           "sd-jwt: digests", s->err);
        if (st != TSL_OK) {
            s->st = st;
            return;
        }
    }
    memcpy(s->v[s->n].d, json_string_value(d), DIGEST_B64 + 1);
    s->v[s->n].element = element;
    s->v[s->n++].owner = s->owner;
}

/* Collects every digest of a JSON value: members of "_sd" arrays and {"...": digest}
 * array elements, at any depth (depth is bounded by the JSON loader). */
static void collect(digest_set *s, json_t *v)
{
    if (s->st != TSL_OK)
        return;
    if (json_is_object(v)) {
        const char *k;
        json_t *m;
        json_object_foreach(v, k, m) {
            if (strcmp(k, "_sd") == 0) {
                if (!json_is_array(m)) {
                    s->st = tslp_fail(s->err, TSL_ERR_MALFORMED, 0,
                                      "sd-jwt: _sd is not an array");
                    return;
                }
                size_t i;
                const json_t *d;
                json_array_foreach(m, i, d) add_digest(s, d, false);
            } else {
                collect(s, m);
            }
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) {
            if (json_is_object(e) && json_object_size(e) == 1 &&
                json_object_get(e, "...") != NULL)
                add_digest(s, json_object_get(e, "..."), true);
            else
                collect(s, e);
        }
    }
}

/* base64url(SHA-256(p[0..n))) into out (DIGEST_B64 + 1 bytes). */
static tsl_status b64_sha256(const char *p, size_t n, char out[DIGEST_B64 + 1], tsl_error *err)
{
    uint8_t h[32];
    if (tslp_sha256((const uint8_t *)p, n, h) != TSL_OK)
        return tslp_fail(err, TSL_ERR_CRYPTO, 0, "sd-jwt: SHA-256 failed");
    char *t = NULL;
    size_t tl = 0;
    tsl_status st = tsl_b64url_encode(h, sizeof h, &t, &tl, err);
    if (st != TSL_OK)
        return st;
    if (tl != DIGEST_B64) {
        tslp_free(t);
        return tslp_fail(err, TSL_ERR_CRYPTO, 0, "sd-jwt: unexpected digest length");
    }
    memcpy(out, t, DIGEST_B64 + 1);
    tslp_free(t);
    return TSL_OK;
}

/* One disclosure: base64url of a JSON array [salt, name, value] or [salt, value]. */
static tsl_status read_disclosure(const char *p, size_t n, size_t k, const tsl_limits *lim,
                                  json_t **out, tsl_error *err)
{
    uint8_t *raw = NULL;
    size_t rl = 0;
    char what[48];
    snprintf(what, sizeof what, "sd-jwt: disclosure %zu", k);
    tsl_status st = tsl_b64url_decode(p, n, &raw, &rl, err);
    if (st != TSL_OK) {
        tslp_error_prefix(err, what);
        return st;
    }
    void *v = NULL;
    st = tslp_json_load((const char *)raw, rl, lim, &v, what, err);
    tslp_free(raw);
    if (st != TSL_OK)
        return st;
    json_t *a = v;
    size_t sz = json_array_size(a);
    if (!json_is_array(a) || (sz != 2 && sz != 3) || !json_is_string(json_array_get(a, 0)))
        st = tslp_fail(err, TSL_ERR_MALFORMED, 0,
                       "%s: not an array [salt, name, value] or [salt, value]", what);
    else if (sz == 3 && !json_is_string(json_array_get(a, 1)))
        st = tslp_fail(err, TSL_ERR_MALFORMED, 0, "%s: the claim name is not a string", what);
    else if (sz == 3 && (strcmp(json_string_value(json_array_get(a, 1)), "_sd") == 0 ||
                         strcmp(json_string_value(json_array_get(a, 1)), "...") == 0))
        st = tslp_fail(err, TSL_ERR_MALFORMED, 0, "%s: the claim name \"%s\" is reserved", what,
                       json_string_value(json_array_get(a, 1)));
    if (st != TSL_OK) {
        json_decref(a);
        return st;
    }
    *out = a;
    return TSL_OK;
}

static int cmp_digest(const void *a, const void *b)
{
    return strcmp(((const ref_digest *)a)->d, ((const ref_digest *)b)->d);
}

/* Finds d among the sorted digests, or NULL. */
static const ref_digest *find_digest(const digest_set *s, const char *d)
{
    if (s->n == 0)
        return NULL;
    ref_digest key;
    memcpy(key.d, d, DIGEST_B64 + 1);
    return bsearch(&key, s->v, s->n, sizeof *s->v, cmp_digest);
}

/* Checks the disclosures against the digests of the payload and of each other: every
 * digest referenced once, every disclosure reached from the payload. */
static tsl_status check_disclosures(json_t *payload, const char *in, const size_t *off,
                                    const size_t *dlen, size_t nd, const tsl_limits *lim,
                                    tsl_error *err)
{
    const json_t *alg = json_object_get(payload, "_sd_alg");
    if (alg != NULL && (!json_is_string(alg) || strcmp(json_string_value(alg), "sha-256") != 0))
        return tslp_fail(err, TSL_ERR_UNSUPPORTED, 0,
                         "sd-jwt: _sd_alg: %s%.40s%s, only \"sha-256\" is supported",
                         json_is_string(alg) ? "\"" : "",
                         json_is_string(alg) ? json_string_value(alg) : "not a string",
                         json_is_string(alg) ? "\"" : "");
    digest_set s = {NULL, 0, 0, -1, err, TSL_OK};
    char(*mine)[DIGEST_B64 + 1] = nd ? tslp_malloc(nd * sizeof *mine) : NULL;
    bool *reached = nd ? tslp_calloc(nd, sizeof *reached) : NULL;
    bool *element = nd ? tslp_calloc(nd, sizeof *element) : NULL;
    if (nd > 0 && (mine == NULL || reached == NULL || element == NULL)) {
        tslp_free(mine);
        tslp_free(reached);
        tslp_free(element);
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "sd-jwt: out of memory");
    }
    collect(&s, payload);
    for (size_t k = 0; k < nd && s.st == TSL_OK; k++) {
        json_t *a = NULL;
        s.st = read_disclosure(in + off[k], dlen[k], k, lim, &a, err);
        if (s.st == TSL_OK)
            s.st = b64_sha256(in + off[k], dlen[k], mine[k], err);
        if (s.st == TSL_OK) {
            element[k] = json_array_size(a) == 2;
            s.owner = (int)k;
            collect(&s, json_array_get(a, json_array_size(a) - 1));
        }
        json_decref(a);
    }
    for (size_t k = 0; k < nd && s.st == TSL_OK; k++)
        for (size_t j = 0; j < k && s.st == TSL_OK; j++)
            if (strcmp(mine[j], mine[k]) == 0)
                s.st = tslp_fail(err, TSL_ERR_MALFORMED, off[k],
                                 "sd-jwt: disclosure %zu: presented more than once", k);
    if (s.st == TSL_OK) {
        if (s.n > 1)
            qsort(s.v, s.n, sizeof *s.v, cmp_digest);
        for (size_t k = 1; k < s.n && s.st == TSL_OK; k++)
            if (strcmp(s.v[k - 1].d, s.v[k].d) == 0)
                s.st = tslp_fail(err, TSL_ERR_MALFORMED, 0,
                                 "sd-jwt: digest %.43s appears more than once", s.v[k].d);
    }
    /* Reachability from the payload: at most nd rounds, each marking one more. */
    for (size_t round = 0; s.st == TSL_OK && round <= nd; round++) {
        bool changed = false;
        for (size_t k = 0; k < nd; k++) {
            if (reached[k])
                continue;
            const ref_digest *d = find_digest(&s, mine[k]);
            if (d != NULL && d->element != element[k]) {
                s.st = tslp_fail(err, TSL_ERR_MALFORMED, off[k],
                                 "sd-jwt: disclosure %zu: %s disclosure referenced from %s", k,
                                 element[k] ? "an array element" : "an object property",
                                 d->element ? "an array's \"...\"" : "an _sd array");
                break;
            }
            if (d != NULL && (d->owner < 0 || reached[d->owner])) {
                reached[k] = true;
                changed = true;
            }
        }
        if (!changed)
            break;
    }
    for (size_t k = 0; k < nd && s.st == TSL_OK; k++)
        if (!reached[k])
            s.st = tslp_fail(err, TSL_ERR_SIGNATURE, off[k],
                             "sd-jwt: disclosure %zu: its digest %.43s is not in any _sd of "
                             "the issuer-signed JWT",
                             k, mine[k]);
    tslp_free(s.v);
    tslp_free(mine);
    tslp_free(reached);
    tslp_free(element);
    return s.st;
}

/* true when the KB-JWT's aud (a string, or an array of strings as RFC 7519 allows)
 * names want. */
static bool aud_names(const json_t *aud, const char *want)
{
    if (json_is_string(aud))
        return strcmp(json_string_value(aud), want) == 0;
    size_t i;
    const json_t *a;
    json_array_foreach(aud, i, a)
        if (json_is_string(a) && strcmp(json_string_value(a), want) == 0)
            return true;
    return false;
}

/* The key-binding JWT (RFC 9901 sections 4.3 and 7.3): typ "kb+jwt", signed by
 * cnf.jwk, sd_hash over everything up to and including the last '~', iat not ahead of
 * now (nor older than kb_max_age), aud and nonce present and, when the caller names
 * them, equal to what it expects. */
static tsl_status check_kb(const json_t *payload, const char *in, size_t presented,
                           const char *kb, size_t kb_len, const tsl_limits *lim,
                           const tsl_ref_opts *o, int64_t now, tsl_error *err)
{
    const json_t *cnf = json_object_get(payload, "cnf");
    const json_t *jwk = json_object_get(cnf, "jwk");
    if (!json_is_object(jwk))
        return tslp_fail(err, TSL_ERR_KEY, 0,
                         "sd-jwt: a key-binding JWT, but the issuer JWT has no cnf.jwk");
    tsl_key *key = NULL;
    tsl_status st = tslp_key_from_jwk_value(jwk, &key, err);
    if (st != TSL_OK) {
        tslp_error_prefix(err, "sd-jwt: cnf.jwk");
        return st;
    }
    void *h = NULL, *c = NULL;
    st = tslp_ref_jws(kb, kb_len, lim, o, now, key, "sd-jwt: key-binding jwt", &h, &c, err);
    tsl_key_free(key);
    if (st != TSL_OK)
        return st;
    const char *typ = json_string_value(json_object_get(h, "typ"));
    char want[DIGEST_B64 + 1];
    if (typ == NULL || strcasecmp(typ, "kb+jwt") != 0)
        st = tslp_fail(err, TSL_ERR_TYP, 0, "sd-jwt: key-binding jwt: typ %s%.40s%s, expected "
                                            "\"kb+jwt\"",
                       typ ? "\"" : "", typ ? typ : "missing", typ ? "\"" : "");
    if (st == TSL_OK)
        st = b64_sha256(in, presented, want, err);
    const json_t *sh = json_object_get(c, "sd_hash");
    if (st == TSL_OK && !json_is_string(sh))
        st = tslp_fail(err, TSL_ERR_CLAIM, 0, "sd-jwt: key-binding jwt: sd_hash: %s",
                       sh ? "not a string" : "missing");
    if (st == TSL_OK && strcmp(json_string_value(sh), want) != 0)
        st = tslp_fail(err, TSL_ERR_SIGNATURE, 0,
                       "sd-jwt: key-binding jwt: sd_hash does not match the presented SD-JWT");
    const json_t *iat = json_object_get(c, "iat");
    if (st == TSL_OK && !json_is_number(iat))
        st = tslp_fail(err, TSL_ERR_CLAIM, 0, "sd-jwt: key-binding jwt: iat: missing or not "
                                              "a number");
    if (st == TSL_OK)
        st = tslp_ref_jwt_times(c, now, o->policy.skew, "sd-jwt: key-binding jwt", err);
    if (st == TSL_OK && o->kb_max_age > 0 &&
        json_number_value(iat) < (double)(now - o->kb_max_age - o->policy.skew))
        st = tslp_fail(err, TSL_ERR_EXPIRED, 0,
                       "sd-jwt: key-binding jwt: iat %.0f is more than %lld s old",
                       json_number_value(iat), (long long)o->kb_max_age);
    const json_t *aud = json_object_get(c, "aud");
    if (st == TSL_OK && !json_is_string(aud) && !json_is_array(aud))
        st = tslp_fail(err, TSL_ERR_CLAIM, 0, "sd-jwt: key-binding jwt: aud: %s",
                       aud ? "not a string" : "missing");
    if (st == TSL_OK && o->kb_aud != NULL && !aud_names(aud, o->kb_aud))
        st = tslp_fail(err, TSL_ERR_CLAIM, 0,
                       "sd-jwt: key-binding jwt: aud does not name \"%.80s\"", o->kb_aud);
    const json_t *nonce = json_object_get(c, "nonce");
    if (st == TSL_OK && !json_is_string(nonce))
        st = tslp_fail(err, TSL_ERR_CLAIM, 0, "sd-jwt: key-binding jwt: nonce: %s",
                       nonce ? "not a string" : "missing");
    if (st == TSL_OK && o->kb_nonce != NULL &&
        strcmp(json_string_value(nonce), o->kb_nonce) != 0)
        st = tslp_fail(err, TSL_ERR_CLAIM, 0,
                       "sd-jwt: key-binding jwt: nonce is not the one this presentation was "
                       "asked for");
    json_decref(h);
    json_decref(c);
    return st;
}

tsl_status tslp_sdjwt_parse(const char *in, size_t len, const tsl_limits *lim,
                            const tsl_ref_opts *o, int64_t now, char **uri, uint64_t *idx,
                            tsl_error *err)
{
    const char *t1 = memchr(in, '~', len);
    if (t1 == NULL)
        return tslp_fail(err, TSL_ERR_MALFORMED, 0, "sd-jwt: no '~' separator");
    const char *last = in + len;
    while (last > in && last[-1] != '~')
        last--;
    /* last points just after the last '~': the KB-JWT is [last, in + len). */
    size_t presented = (size_t)(last - in);
    size_t nd = 0;
    for (const char *p = t1 + 1; p < last; p++)
        if (*p == '~')
            nd++;
    if (nd > tslp_limit_disclosures(lim))
        return tslp_fail(err, TSL_ERR_LIMIT, 0, "sd-jwt: more than %zu disclosures",
                         tslp_limit_disclosures(lim));
    size_t *off = nd ? tslp_malloc(nd * sizeof *off) : NULL;
    size_t *dl = nd ? tslp_malloc(nd * sizeof *dl) : NULL;
    if (nd > 0 && (off == NULL || dl == NULL)) {
        tslp_free(off);
        tslp_free(dl);
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "sd-jwt: out of memory");
    }
    tsl_status st = TSL_OK;
    const char *p = t1 + 1;
    for (size_t k = 0; k < nd; k++) {
        const char *e = memchr(p, '~', (size_t)(last - p));
        off[k] = (size_t)(p - in);
        dl[k] = (size_t)(e - p);
        if (dl[k] == 0 && st == TSL_OK)
            st = tslp_fail(err, TSL_ERR_MALFORMED, off[k], "sd-jwt: disclosure %zu is empty",
                           k);
        p = e + 1;
    }
    void *h = NULL, *c = NULL;
    if (st == TSL_OK)
        st = tslp_ref_jws(in, (size_t)(t1 - in), lim, o, now, NULL, "sd-jwt: issuer jwt", &h,
                          &c, err);
    if (st == TSL_OK) {
        const char *typ = json_string_value(json_object_get(h, "typ"));
        if (typ != NULL && (strcasecmp(typ, "statuslist+jwt") == 0 ||
                            strcasecmp(typ, "application/statuslist+jwt") == 0))
            st = tslp_fail(err, TSL_ERR_TYP, 0,
                           "sd-jwt: issuer jwt: typ \"%.40s\" is a Status List Token", typ);
    }
    if (st == TSL_OK)
        st = tslp_ref_jwt_times(c, now, o->policy.skew, "referenced token", err);
    if (st == TSL_OK)
        st = check_disclosures(c, in, off, dl, nd, lim, err);
    if (st == TSL_OK && presented < len)
        st = check_kb(c, in, presented, last, len - presented, lim, o, now, err);
    else if (st == TSL_OK && (o->require_kb || o->kb_aud != NULL || o->kb_nonce != NULL))
        st = tslp_fail(err, TSL_ERR_CLAIM, 0,
                       "sd-jwt: no key-binding JWT, and key binding is required");
    if (st == TSL_OK)
        st = tslp_ref_status_json(c, uri, idx, err);
    json_decref(h);
    json_decref(c);
    tslp_free(off);
    tslp_free(dl);
    return st;
}
