/* probe.c - `tsl probe`: audits a live Status List endpoint of any implementation
 * against draft-ietf-oauth-status-list-21 and RFC 9110/9111, and reports each finding
 * with its id, the section it rests on, its severity (MUST, SHOULD, advice), pass, fail
 * or skip, and the evidence seen. It reads the tokens twice on purpose: once with its
 * own lenient walk, so that it can name *which* rule a broken token breaks (a gzip lst,
 * a padded base64url, status_list under the wrong CWT key) where a strict decoder stops
 * at the first, and once through the library's strict tsl_token_parse() and
 * tsl_token_verify(), which is what a relying party built on libtsl would accept. Every
 * response is untrusted: bounded by the probe client (probe_http.c) and read only by
 * the library's bounded decoders. */
#include "verify/probe_int.h"
#include "codec/cbor_int.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <zlib.h>

typedef enum { SEV_MUST, SEV_SHOULD, SEV_ADVICE } sev;
typedef enum { RES_PASS, RES_FAIL, RES_SKIP } res;

static const char *const sev_name[] = {"MUST", "SHOULD", "advice"};
static const char *const res_name[] = {"pass", "FAIL", "skip"};

typedef struct {
    char id[40];
    const char *section;
    sev s;
    res r;
    char ev[TSLP_PROBE_EVIDENCE];
} finding;

/* What the probe read from one token, by its own lenient walk. */
typedef struct {
    int read;              /* the claims could be read at all */
    int have_sub, have_iat, have_exp, have_ttl, have_bits, have_lst, have_agg;
    char sub[1024];
    int64_t iat, exp;
    double ttl;
    int64_t bits;
    uint8_t *lst;          /* the compressed bytes (tslp_malloc), leniently decoded */
    size_t lst_len;
    char agg[1024];
    tsl_list *list;        /* inflated strictly, or NULL */
} claims;

typedef struct {
    const char *url;
    const tsl_probe_opts *o;
    tslp_probe_cfg cfg;
    tsl_limits lim;
    int64_t now;
    tsl_status fatal;      /* TSL_ERR_NOMEM once memory ran out */
    tsl_error *err;
    size_t n;
    finding f[TSLP_PROBE_MAX_FINDINGS];
} probe;

#define ACCEPT_JWT "Accept: " TSL_MEDIA_JWT
#define ACCEPT_CWT "Accept: " TSL_MEDIA_CWT

static void add(probe *p, const char *id, const char *section, sev s, res r,
                const char *fmt, ...) TSLP_PRINTF(6, 7);

static void add(probe *p, const char *id, const char *section, sev s, res r,
                const char *fmt, ...)
{
    if (p->n >= TSLP_PROBE_MAX_FINDINGS)
        return;
    finding *f = &p->f[p->n++];
    snprintf(f->id, sizeof f->id, "%s", id);
    f->section = section;
    f->s = s;
    f->r = r;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->ev, sizeof f->ev, fmt, ap);
    va_end(ap);
    /* evidence is quoted from the endpoint: keep it one printable ASCII line (the JSON report
     * needs valid UTF-8) */
    for (char *c = f->ev; *c; c++)
        if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
            *c = (unsigned char)*c >= 0x7f ? '?' : ' ';
}

/* One request with an Accept line (NULL: none sent) and up to two more lines. */
static int get(probe *p, const char *method, const char *url, const char *accept,
               const char *h1, const char *h2, tslp_probe_resp *r)
{
    const char *hdrs[4];
    size_t n = 0;
    hdrs[n++] = accept ? accept : "Accept:";
    /* identity unless asked: the body is judged as sent */
    hdrs[n++] = h1 ? h1 : "Accept-Encoding: identity";
    if (h2)
        hdrs[n++] = h2;
    tsl_status st = tslp_probe_http(&p->cfg, method, url, hdrs, n, r, p->err);
    if (st != TSL_OK) {
        p->fatal = st;
        return 0;
    }
    return 1;
}

static int hdr(const tslp_probe_resp *r, const char *name, const char **v, size_t *n)
{
    return r->headers != NULL && tslp_hdr_find(r->headers, r->headers_len, name, v, n);
}

/* The response's Content-Type, cut for evidence. */
static void ctype(const tslp_probe_resp *r, char *buf, size_t cap)
{
    const char *v;
    size_t n;
    if (hdr(r, "Content-Type", &v, &n))
        snprintf(buf, cap, "%.*s", (int)(n > 100 ? 100 : n), v);
    else
        snprintf(buf, cap, "no Content-Type");
}

/* The token format a 2xx response carries, by Content-Type and body both agreeing:
 * TSL_FORMAT_JWT, TSL_FORMAT_CWT, or 0. */
static int served_format(const tslp_probe_resp *r)
{
    if (r->status < 200 || r->status > 299 || r->body_over)
        return 0;
    const char *v;
    size_t n;
    if (!hdr(r, "Content-Type", &v, &n))
        return 0;
    tsl_form f = tsl_detect_form(r->body, r->body_len, NULL, NULL);
    if (tslp_hdr_media_is(v, n, TSL_MEDIA_JWT) && f == TSL_FORM_JWT)
        return TSL_FORMAT_JWT;
    if (tslp_hdr_media_is(v, n, TSL_MEDIA_CWT) && f == TSL_FORM_CBOR)
        return TSL_FORMAT_CWT;
    return 0;
}

static const char *fmt_name(int f)
{
    return f == TSL_FORMAT_JWT ? "JWT" : f == TSL_FORMAT_CWT ? "CWT" : "no token";
}

/* "200 application/statuslist+jwt (JWT)" or the transport error. */
static void outcome(const tslp_probe_resp *r, char *buf, size_t cap)
{
    if (r->status == 0) {
        snprintf(buf, cap, "no answer: %s", r->error);
        return;
    }
    char ct[112];
    ctype(r, ct, sizeof ct);
    snprintf(buf, cap, "%ld %s (%s)", r->status, ct, fmt_name(served_format(r)));
}

/* ---- the tokens, read leniently ---- */

static void claims_free(claims *c)
{
    tslp_free(c->lst);
    tsl_list_free(c->list);
    memset(c, 0, sizeof *c);
}

/* base64url as a sloppy publisher writes it: padding dropped, '+' and '/' mapped, so
 * that the bytes behind a broken encoding can still be judged. */
static uint8_t *lenient_b64(const char *s, size_t n, size_t *out_len)
{
    if (n > TSL_DEFAULT_MAX_INPUT)
        return NULL;
    char *t = tslp_malloc(n + 1);
    if (t == NULL)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '=')
            break;
        t[k++] = c == '+' ? '-' : c == '/' ? '_' : c;
    }
    uint8_t *out = NULL;
    if (tsl_b64url_decode(t, k, &out, out_len, NULL) != TSL_OK)
        out = NULL;
    tslp_free(t);
    return out;
}

static void jwt_lst(probe *p, const char *lst, size_t n, claims *c)
{
    int padded = memchr(lst, '=', n) != NULL;
    int stdalpha = memchr(lst, '+', n) != NULL || memchr(lst, '/', n) != NULL;
    tsl_error e;
    tsl_error_clear(&e);
    uint8_t *z = NULL;
    size_t zn = 0;
    if (tsl_b64url_decode(lst, n, &z, &zn, &e) == TSL_OK) {
        add(p, "jwt.lst-base64url", "4.2", SEV_MUST, RES_PASS,
            "lst is %zu characters of unpadded base64url", n);
    } else {
        add(p, "jwt.lst-base64url", "4.2", SEV_MUST, RES_FAIL, "lst: %s%s%s", e.msg,
            padded ? " (padded with '=')" : "", stdalpha ? " (the '+/' alphabet)" : "");
        z = lenient_b64(lst, n, &zn);
    }
    c->lst = z;
    c->lst_len = z ? zn : 0;
    c->have_lst = z != NULL;
}

static int json_num(json_t *v, double *d)
{
    if (!json_is_number(v))
        return 0;
    *d = json_number_value(v);
    return 1;
}

static void read_jwt(probe *p, const tslp_probe_resp *r, claims *c)
{
    const char *b = (const char *)r->body;
    size_t n = r->body_len;
    while (n > 0 && (b[n - 1] == '\n' || b[n - 1] == '\r' || b[n - 1] == ' '))
        n--;
    const char *d1 = memchr(b, '.', n);
    const char *d2 = d1 ? memchr(d1 + 1, '.', n - (size_t)(d1 + 1 - b)) : NULL;
    if (d1 == NULL || d2 == NULL || memchr(d2 + 1, '.', n - (size_t)(d2 + 1 - b)) != NULL) {
        add(p, "jwt.compact", "5.1", SEV_MUST, RES_FAIL,
            "the body is not a JWS in compact serialization (three dot-separated parts)");
        return;
    }
    add(p, "jwt.compact", "5.1", SEV_MUST, RES_PASS, "three parts, %zu bytes", n);
    tsl_error e;
    tsl_error_clear(&e);
    uint8_t *hb = NULL, *pb = NULL;
    size_t hn = 0, pn = 0;
    json_t *h = NULL, *pl = NULL;
    void *jv = NULL;
    if (tsl_b64url_decode(b, (size_t)(d1 - b), &hb, &hn, &e) != TSL_OK ||
        tslp_json_load((const char *)hb, hn, &p->lim, &jv, "header", &e) != TSL_OK) {
        add(p, "jwt.header", "5.1", SEV_MUST, RES_FAIL, "header: %s", e.msg);
        goto out;
    }
    h = jv;
    json_t *typ = json_object_get(h, "typ");
    const char *ts = json_string_value(typ);
    if (ts != NULL && (strcasecmp(ts, "statuslist+jwt") == 0 ||
                       strcasecmp(ts, "application/statuslist+jwt") == 0))
        add(p, "jwt.typ", "5.1", SEV_MUST, RES_PASS, "typ \"%s\"", ts);
    else
        add(p, "jwt.typ", "5.1", SEV_MUST, RES_FAIL, "typ %s%.80s%s, expected \"statuslist+jwt\"",
            ts ? "\"" : "", ts ? ts : (typ ? "is not a string" : "is missing"), ts ? "\"" : "");
    const char *alg = json_string_value(json_object_get(h, "alg"));
    if (alg == NULL || strcasecmp(alg, "none") == 0)
        add(p, "jwt.alg", "5.1, 11.2", SEV_MUST, RES_FAIL, "alg %s: the token is not signed",
            alg ? "\"none\"" : "missing");
    else
        add(p, "jwt.alg", "5.1, 11.2", SEV_MUST, RES_PASS, "alg \"%.20s\"", alg);
    tsl_error_clear(&e);
    jv = NULL;
    if (tsl_b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), &pb, &pn, &e) != TSL_OK ||
        tslp_json_load((const char *)pb, pn, &p->lim, &jv, "payload", &e) != TSL_OK ||
        !json_is_object((json_t *)jv)) {
        add(p, "jwt.claims", "5.1", SEV_MUST, RES_FAIL, "payload: %s",
            e.msg[0] ? e.msg : "not a JSON object");
        goto out;
    }
    pl = jv;
    c->read = 1;
    const char *sub = json_string_value(json_object_get(pl, "sub"));
    if (sub) {
        c->have_sub = 1;
        snprintf(c->sub, sizeof c->sub, "%s", sub);
    }
    double d;
    if (json_num(json_object_get(pl, "iat"), &d)) {
        c->have_iat = 1;
        c->iat = (int64_t)d;
    }
    if (json_num(json_object_get(pl, "exp"), &d)) {
        c->have_exp = 1;
        c->exp = (int64_t)d;
    }
    if (json_num(json_object_get(pl, "ttl"), &d)) {
        c->have_ttl = 1;
        c->ttl = d;
    }
    json_t *sl = json_object_get(pl, "status_list");
    if (!json_is_object(sl)) {
        add(p, "jwt.status_list", "5.1", SEV_MUST, RES_FAIL,
            "claim status_list %s", sl ? "is not an object" : "is missing");
        goto out;
    }
    add(p, "jwt.status_list", "5.1", SEV_MUST, RES_PASS, "claim status_list present");
    json_t *bits = json_object_get(sl, "bits");
    if (json_is_integer(bits)) {
        c->have_bits = 1;
        c->bits = json_integer_value(bits);
    }
    const char *agg = json_string_value(json_object_get(sl, "aggregation_uri"));
    if (agg) {
        c->have_agg = 1;
        snprintf(c->agg, sizeof c->agg, "%s", agg);
    }
    json_t *lst = json_object_get(sl, "lst");
    if (json_is_string(lst))
        jwt_lst(p, json_string_value(lst), json_string_length(lst), c);
    else
        add(p, "jwt.lst-base64url", "4.2", SEV_MUST, RES_FAIL, "lst %s",
            lst ? "is not a string" : "is missing");
out:
    json_decref(h);
    json_decref(pl);
    tslp_free(hb);
    tslp_free(pb);
}

static void cwt_text(const tslp_cbor_node *n, char *buf, size_t cap, int *have)
{
    const char *s;
    size_t len;
    if (tslp_cbor_get_text(n, &s, &len)) {
        snprintf(buf, cap, "%.*s", (int)(len < cap ? len : cap - 1), s);
        *have = 1;
    }
}

/* The key under which a CWT carries a map that looks like a StatusList, other than
 * 65533: 65534 and 65535 are the peers' usual mistakes. 0 when none. */
static int64_t misplaced_list(const tslp_cbor_node *claims_map)
{
    static const int64_t keys[] = {65534, 65535, 65532, 65536, 19, 20};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const tslp_cbor_node *v = tslp_cbor_map_get_int(claims_map, keys[i]);
        if (v && v->type == TSLP_CBOR_MAP && tslp_cbor_map_get_text(v, "bits"))
            return keys[i];
    }
    return 0;
}

static void read_cwt(probe *p, const tslp_probe_resp *r, claims *c)
{
    tsl_error e;
    tsl_error_clear(&e);
    tslp_cbor_doc *doc = NULL, *ph = NULL, *pay = NULL;
    if (tslp_cbor_parse(r->body, r->body_len, &p->lim, NULL, &doc, &e) != TSL_OK) {
        add(p, "cwt.cbor", "5.2", SEV_MUST, RES_FAIL, "%s", e.msg);
        return;
    }
    const tslp_cbor_node *n = doc->root;
    if (n->type == TSLP_CBOR_TAG && n->u == 61) {
        add(p, "cwt.tag", "5.2", SEV_MUST, RES_FAIL,
            "wrapped in the CWT tag 61, which a Status List Token must not be");
        n = n->child;
    }
    if (n->type == TSLP_CBOR_TAG && (n->u == 18 || n->u == 17)) {
        if (n == doc->root)
            add(p, "cwt.tag", "5.2", SEV_MUST, RES_PASS, "COSE_%s_Tagged (tag %llu)",
                n->u == 18 ? "Sign1" : "Mac0", (unsigned long long)n->u);
        n = n->child;
    } else if (n->type == TSLP_CBOR_ARRAY) {
        add(p, "cwt.tag", "5.2", SEV_MUST, RES_FAIL,
            "an untagged COSE array: must be COSE_Sign1_Tagged (18) or COSE_Mac0_Tagged (17)");
    } else if (n->type == TSLP_CBOR_TAG) {
        add(p, "cwt.tag", "5.2", SEV_MUST, RES_FAIL, "tag %llu, expected 18 or 17",
            (unsigned long long)n->u);
        n = n->child;
    }
    const uint8_t *pb, *pp;
    size_t pbl, ppl;
    if (n == NULL || n->type != TSLP_CBOR_ARRAY || n->count != 4 ||
        !tslp_cbor_get_bytes(tslp_cbor_array_get(n, 0), &pb, &pbl) ||
        !tslp_cbor_get_bytes(tslp_cbor_array_get(n, 2), &pp, &ppl)) {
        add(p, "cwt.cose", "5.2", SEV_MUST, RES_FAIL,
            "not a COSE_Sign1/Mac0 array [protected, unprotected, payload, tag]");
        goto out;
    }
    tsl_error_clear(&e);
    const tslp_cbor_node *typ = NULL;
    if (pbl > 0 && tslp_cbor_parse(pb, pbl, &p->lim, NULL, &ph, &e) == TSL_OK &&
        ph->root->type == TSLP_CBOR_MAP)
        typ = tslp_cbor_map_get_int(ph->root, 16);
    const char *ts;
    size_t tl;
    uint64_t tu;
    if (typ && tslp_cbor_get_text(typ, &ts, &tl) && tl == strlen(TSL_MEDIA_CWT) &&
        strncasecmp(ts, TSL_MEDIA_CWT, tl) == 0)
        add(p, "cwt.typ", "5.2", SEV_MUST, RES_PASS, "protected header 16 \"%s\"", TSL_MEDIA_CWT);
    else if (typ && tslp_cbor_get_uint(typ, &tu))
        add(p, "cwt.typ", "5.2", SEV_MUST, RES_PASS,
            "protected header 16 is the CoAP Content-Format %llu (still TBD in -21)",
            (unsigned long long)tu);
    else if (typ && tslp_cbor_get_text(typ, &ts, &tl))
        add(p, "cwt.typ", "5.2", SEV_MUST, RES_FAIL,
            "protected header 16 \"%.*s\", expected \"%s\"", (int)(tl > 80 ? 80 : tl), ts,
            TSL_MEDIA_CWT);
    else
        add(p, "cwt.typ", "5.2", SEV_MUST, RES_FAIL,
            "no typ (16) in the protected header");
    tsl_error_clear(&e);
    if (tslp_cbor_parse(pp, ppl, &p->lim, NULL, &pay, &e) != TSL_OK ||
        pay->root->type != TSLP_CBOR_MAP) {
        add(p, "cwt.claims", "5.2", SEV_MUST, RES_FAIL, "payload: %s",
            e.msg[0] ? e.msg : "not a CBOR map");
        goto out;
    }
    c->read = 1;
    const tslp_cbor_node *m = pay->root;
    cwt_text(tslp_cbor_map_get_int(m, 2), c->sub, sizeof c->sub, &c->have_sub);
    c->have_iat = tslp_cbor_get_int(tslp_cbor_map_get_int(m, 6), &c->iat);
    c->have_exp = tslp_cbor_get_int(tslp_cbor_map_get_int(m, 4), &c->exp);
    int64_t ttl;
    const tslp_cbor_node *tn = tslp_cbor_map_get_int(m, 65534);
    if (tslp_cbor_get_int(tn, &ttl)) {
        c->have_ttl = 1;
        c->ttl = (double)ttl;
    }
    const tslp_cbor_node *sl = tslp_cbor_map_get_int(m, 65533);
    int64_t wrong = misplaced_list(m);
    if (sl == NULL || sl->type != TSLP_CBOR_MAP) {
        if (wrong != 0)
            add(p, "cwt.claim-keys", "5.2, 14.2", SEV_MUST, RES_FAIL,
                "status_list is under claim key %lld, not 65533%s", (long long)wrong,
                wrong == 65534 ? " (65534 is ttl)" : wrong == 65535 ? " (65535 is a "
                "Referenced Token's status)" : "");
        else
            add(p, "cwt.claim-keys", "5.2, 14.2", SEV_MUST, RES_FAIL,
                "no status_list (claim 65533)");
        if (wrong == 0)
            goto out;
        sl = tslp_cbor_map_get_int(m, wrong);
        if (wrong == 65534)
            c->have_ttl = 0; /* that key held the list, not a ttl */
    } else {
        add(p, "cwt.claim-keys", "5.2, 14.2", SEV_MUST, RES_PASS,
            "sub 2, iat 6, exp 4, ttl 65534, status_list 65533");
    }
    uint64_t bits;
    if (tslp_cbor_get_uint(tslp_cbor_map_get_text(sl, "bits"), &bits)) {
        c->have_bits = 1;
        c->bits = bits > 1000 ? 1000 : (int64_t)bits;
    }
    int have_agg = 0;
    cwt_text(tslp_cbor_map_get_text(sl, "aggregation_uri"), c->agg, sizeof c->agg, &have_agg);
    c->have_agg = have_agg;
    const tslp_cbor_node *lst = tslp_cbor_map_get_text(sl, "lst");
    const uint8_t *lb;
    size_t ll;
    const char *lt;
    if (tslp_cbor_get_bytes(lst, &lb, &ll)) {
        add(p, "cwt.lst-bytes", "4.3", SEV_MUST, RES_PASS, "lst is a byte string of %zu bytes", ll);
        c->lst = tslp_malloc(ll ? ll : 1);
        if (c->lst == NULL) {
            p->fatal = tslp_fail(p->err, TSL_ERR_NOMEM, 0, "probe: out of memory");
            goto out;
        }
        if (ll)
            memcpy(c->lst, lb, ll);
        c->lst_len = ll;
        c->have_lst = 1;
    } else if (tslp_cbor_get_text(lst, &lt, &ll)) {
        add(p, "cwt.lst-bytes", "4.3", SEV_MUST, RES_FAIL,
            "lst is a text string (base64?), expected a byte string");
        c->lst = lenient_b64(lt, ll, &c->lst_len);
        c->have_lst = c->lst != NULL;
    } else {
        add(p, "cwt.lst-bytes", "4.3", SEV_MUST, RES_FAIL, "lst %s",
            lst ? "is not a byte string" : "is missing");
    }
out:
    tslp_cbor_free(pay);
    tslp_cbor_free(ph);
    tslp_cbor_free(doc);
}

/* ---- checks shared by JWT and CWT ---- */

static void id_of(char *buf, size_t cap, int fmt, const char *what)
{
    snprintf(buf, cap, "%s.%s", fmt == TSL_FORMAT_JWT ? "jwt" : "cwt", what);
}

static void check_list(probe *p, int fmt, claims *c)
{
    char id[40];
    const char *sec = fmt == TSL_FORMAT_JWT ? "4.2" : "4.3";
    id_of(id, sizeof id, fmt, "bits");
    int bits_ok = c->have_bits && (c->bits == 1 || c->bits == 2 || c->bits == 4 || c->bits == 8);
    if (bits_ok)
        add(p, id, sec, SEV_MUST, RES_PASS, "bits %lld", (long long)c->bits);
    else if (c->have_bits)
        add(p, id, sec, SEV_MUST, RES_FAIL, "bits %lld, expected 1, 2, 4 or 8", (long long)c->bits);
    else
        add(p, id, sec, SEV_MUST, RES_FAIL, "bits is missing or not an integer");
    if (!c->have_lst)
        return;
    const uint8_t *z = c->lst;
    size_t zn = c->lst_len;
    id_of(id, sizeof id, fmt, "lst-zlib");
    if (zn >= 2 && z[0] == 0x1f && z[1] == 0x8b)
        add(p, id, "4.1", SEV_MUST, RES_FAIL, "lst is a gzip stream (1f 8b), expected zlib (RFC 1950)");
    else if (zn >= 2 && (z[0] & 0x0f) == 8 && ((unsigned)z[0] << 8 | z[1]) % 31 == 0)
        add(p, id, "4.1", SEV_MUST, RES_PASS, "zlib header %02x %02x", z[0], z[1]);
    else
        add(p, id, "4.1", SEV_MUST, RES_FAIL,
            "lst starts %02x %02x: not a zlib header (raw DEFLATE?)", zn > 0 ? z[0] : 0,
            zn > 1 ? z[1] : 0);
    if (!bits_ok)
        return;
    tsl_error e;
    tsl_error_clear(&e);
    id_of(id, sizeof id, fmt, "lst-stream");
    tsl_status st = tsl_list_decompress((unsigned)c->bits, z, zn, &p->lim, &c->list, &e);
    if (st != TSL_OK) {
        add(p, id, "4.1", SEV_MUST, RES_FAIL, "%s", e.msg);
        return;
    }
    const tsl_list *l = c->list;
    size_t raw = 0;
    tsl_list_bytes(l, &raw);
    add(p, id, "4.1", SEV_MUST, RES_PASS,
        "inflates cleanly to %zu bytes (%llu entries), nothing after the stream", raw,
        (unsigned long long)tsl_list_size(l));
    /* the highest level is RECOMMENDED; level 9 of zlib is what any publisher has */
    uint8_t *z9 = NULL;
    size_t z9n = 0;
    id_of(id, sizeof id, fmt, "lst-level");
    if (tsl_list_compress(l, 9, &z9, &z9n, NULL) == TSL_OK) {
        if (zn <= z9n + z9n / 20 + 16)
            add(p, id, "4.1", SEV_ADVICE, RES_PASS, "%zu bytes; zlib level 9 gives %zu", zn, z9n);
        else
            add(p, id, "4.1", SEV_ADVICE, RES_FAIL,
                "%zu bytes where zlib level 9 gives %zu: the highest level is RECOMMENDED",
                zn, z9n);
        tsl_free(z9);
    }
    uint64_t counts[256];
    tsl_list_count(l, counts);
    uint64_t size = tsl_list_size(l), nz = size - counts[0];
    double share = size ? 100.0 * (double)nz / (double)size : 0;
    id_of(id, sizeof id, fmt, "herd");
    /* no number in the spec; 2^17 entries is the smallest list peers deploy for
     * herd privacy (Procivis, statuslist-agent), and a share of non-zero entries far
     * from 0% tells outsiders the revocation rate (12.4) */
    if (size >= ((uint64_t)1 << 17))
        add(p, id, "12.1, 12.4, 13.4", SEV_ADVICE, RES_PASS,
            "%llu entries, %.2f%% non-zero", (unsigned long long)size, share);
    else
        add(p, id, "12.1, 12.4, 13.4", SEV_ADVICE, RES_FAIL,
            "%llu entries (%.2f%% non-zero): a small herd; 131072 or more entries, random "
            "indices and decoys hide who is checked and the revocation rate",
            (unsigned long long)size, share);
    id_of(id, sizeof id, fmt, "size");
    if (raw <= ((size_t)16 << 20))
        add(p, id, "13.4", SEV_ADVICE, RES_PASS, "%zu bytes inflated", raw);
    else
        add(p, id, "13.4", SEV_ADVICE, RES_FAIL,
            "%zu bytes inflated: over 16 MiB, which common verifiers refuse", raw);
}

static void check_claims(probe *p, int fmt, const claims *c)
{
    char id[40];
    const char *sec = fmt == TSL_FORMAT_JWT ? "5.1" : "5.2";
    id_of(id, sizeof id, fmt, "sub");
    if (!c->have_sub)
        add(p, id, sec, SEV_MUST, RES_FAIL, "sub is missing");
    else if (strcmp(c->sub, p->url) == 0)
        add(p, id, "5.1, 8.3", SEV_MUST, RES_PASS, "sub equals the URL");
    else
        add(p, id, "5.1, 8.3", SEV_MUST, RES_FAIL, "sub \"%.200s\" is not the URL probed",
            c->sub);
    id_of(id, sizeof id, fmt, "iat");
    if (!c->have_iat)
        add(p, id, sec, SEV_MUST, RES_FAIL, "iat is missing");
    else if (c->iat > p->now + 60)
        add(p, id, sec, SEV_MUST, RES_FAIL, "iat %lld is %lld s in the future",
            (long long)c->iat, (long long)(c->iat - p->now));
    else
        add(p, id, sec, SEV_MUST, RES_PASS, "iat %lld (%lld s ago)", (long long)c->iat,
            (long long)(p->now - c->iat));
    id_of(id, sizeof id, fmt, "exp");
    if (!c->have_exp)
        add(p, id, sec, SEV_SHOULD, RES_FAIL, "exp is missing (RECOMMENDED)");
    else if (c->exp <= p->now)
        add(p, id, "5.1, 8.3", SEV_MUST, RES_FAIL, "expired %lld s ago",
            (long long)(p->now - c->exp));
    else
        add(p, id, sec, SEV_SHOULD, RES_PASS, "exp in %lld s", (long long)(c->exp - p->now));
    id_of(id, sizeof id, fmt, "ttl");
    if (!c->have_ttl)
        add(p, id, sec, SEV_SHOULD, RES_FAIL, "ttl is missing (RECOMMENDED)");
    else if (!(c->ttl > 0))
        add(p, id, sec, SEV_MUST, RES_FAIL, "ttl %g is not positive", c->ttl);
    else if (c->ttl < 60)
        add(p, id, "11.5", SEV_ADVICE, RES_FAIL,
            "ttl %g s: tiny values make every relying party refetch (11.5)", c->ttl);
    else if (c->have_exp && c->have_iat && c->ttl > (double)(c->exp - c->iat))
        add(p, id, "13.7", SEV_ADVICE, RES_FAIL, "ttl %g s outlives the token (exp - iat %lld s)",
            c->ttl, (long long)(c->exp - c->iat));
    else
        add(p, id, sec, SEV_SHOULD, RES_PASS, "ttl %g s", c->ttl);
}

/* The strict check a libtsl relying party makes, and the signature when keys are
 * given. */
static void check_strict(probe *p, int fmt, const tslp_probe_resp *r)
{
    char id[40];
    tsl_error e;
    tsl_error_clear(&e);
    tsl_token *t = NULL;
    id_of(id, sizeof id, fmt, "token");
    tsl_status st = tsl_token_parse(r->body, r->body_len, &p->lim, &t, &e);
    if (st != TSL_OK) {
        add(p, id, fmt == TSL_FORMAT_JWT ? "5.1, 8.3" : "5.2, 8.3", SEV_MUST, RES_FAIL,
            "libtsl refuses it: %s", e.msg);
    } else {
        add(p, id, fmt == TSL_FORMAT_JWT ? "5.1, 8.3" : "5.2, 8.3", SEV_MUST, RES_PASS,
            "libtsl's strict decoder accepts it");
    }
    id_of(id, sizeof id, fmt, "signature");
    if (p->o->policy.keys == NULL && p->o->policy.trust == NULL) {
        add(p, id, "5.1, 5.2", SEV_MUST, RES_SKIP, "no --key or --trust: signature not checked");
    } else if (t == NULL) {
        add(p, id, "5.1, 5.2", SEV_MUST, RES_SKIP, "the token could not be decoded");
    } else {
        tsl_verify_opts vo;
        memset(&vo, 0, sizeof vo);
        vo.policy = p->o->policy;
        vo.policy.now = p->now;
        vo.policy.skew = 60;
        tsl_error_clear(&e);
        if (tsl_token_verify(t, &vo, &e) == TSL_OK)
            add(p, id, "5.1, 5.2", SEV_MUST, RES_PASS, "verified (alg %s)",
                tsl_alg_name(tsl_token_alg(t)));
        else
            add(p, id, "5.1, 5.2", SEV_MUST, RES_FAIL, "%s", e.msg);
    }
    tsl_token_free(t);
}

static void check_token(probe *p, int fmt, const tslp_probe_resp *r, claims *c)
{
    if (fmt == TSL_FORMAT_JWT)
        read_jwt(p, r, c);
    else
        read_cwt(p, r, c);
    if (p->fatal != TSL_OK)
        return;
    if (c->read) {
        check_claims(p, fmt, c);
        check_list(p, fmt, c);
    }
    check_strict(p, fmt, r);
}

/* ---- HTTP: negotiation, caching, history, aggregation ---- */

/* Content-Type of every 2xx seen must name a Status List Token type that matches the
 * body (8.2). Returns 1 when r is fine or not a 2xx. */
static int ct_ok(const tslp_probe_resp *r, char *why, size_t cap)
{
    if (r->status < 200 || r->status > 299)
        return 1;
    if (served_format(r) != 0)
        return 1;
    char ct[112];
    ctype(r, ct, sizeof ct);
    tsl_form f = tsl_detect_form(r->body, r->body_len, NULL, NULL);
    snprintf(why, cap, "a %ld answer with %s and a %s body", r->status, ct,
             f == TSL_FORM_JWT ? "JWT" : f == TSL_FORM_CBOR ? "CBOR" : "non-token");
    return 0;
}

static void negotiate(probe *p, tslp_probe_resp *rj, tslp_probe_resp *rc, int *jwt, int *cwt)
{
    char a[200], b[200];
    *jwt = served_format(rj) == TSL_FORMAT_JWT;
    *cwt = served_format(rc) == TSL_FORMAT_CWT;
    outcome(rj, a, sizeof a);
    outcome(rc, b, sizeof b);
    if (*jwt || *cwt)
        add(p, "http.get", "8.1", SEV_MUST, RES_PASS, "GET answers with a Status List Token (%s%s%s)",
            *jwt ? "JWT" : "", *jwt && *cwt ? " and " : "", *cwt ? "CWT" : "");
    else
        add(p, "http.get", "8.1", SEV_MUST, RES_FAIL, "Accept JWT: %s; Accept CWT: %s", a, b);
    /* a provider may offer one format: then 406 for the other is right */
    if (*jwt || rj->status == 406)
        add(p, "neg.jwt", "8.1, RFC 9110 12.5.1", SEV_SHOULD, RES_PASS, "Accept: %s -> %s",
            TSL_MEDIA_JWT, a);
    else
        add(p, "neg.jwt", "8.1, RFC 9110 12.5.1", SEV_SHOULD, RES_FAIL, "Accept: %s -> %s",
            TSL_MEDIA_JWT, a);
    if (*cwt || rc->status == 406)
        add(p, "neg.cwt", "8.1, RFC 9110 12.5.1", SEV_SHOULD, RES_PASS, "Accept: %s -> %s",
            TSL_MEDIA_CWT, b);
    else
        add(p, "neg.cwt", "8.1, RFC 9110 12.5.1", SEV_SHOULD, RES_FAIL, "Accept: %s -> %s",
            TSL_MEDIA_CWT, b);
    if (*jwt && *cwt)
        add(p, "formats", "8.1, 13.9", SEV_ADVICE, RES_PASS, "both JWT and CWT are offered");
    else if (*jwt || *cwt)
        add(p, "formats", "8.1, 13.9", SEV_ADVICE, RES_FAIL,
            "only %s is offered: relying parties of the other form (mdoc, SD-JWT VC) cannot "
            "negotiate theirs", *jwt ? "JWT" : "CWT");
}

/* One more negotiation request: Accept value acc (NULL: none); want is the format that
 * must come back (0: any token). */
static void neg_case(probe *p, const char *id, const char *acc, int want, sev s,
                     const char *what, char *ctbad, size_t ctcap, int *ctfail)
{
    char line[300];
    if (acc)
        snprintf(line, sizeof line, "Accept: %s", acc);
    tslp_probe_resp r;
    if (!get(p, "GET", p->url, acc ? line : NULL, NULL, NULL, &r))
        return;
    char o[200];
    outcome(&r, o, sizeof o);
    int f = served_format(&r);
    int good = want ? f == want : f != 0;
    add(p, id, "8.1, RFC 9110 12.5.1", s, good ? RES_PASS : RES_FAIL, "%s%s -> %s%s",
        acc ? "Accept: " : "no Accept", acc ? acc : "", o, good ? "" : what);
    if (!*ctfail && !ct_ok(&r, ctbad, ctcap))
        *ctfail = 1;
    tslp_probe_resp_free(&r);
}

static void neg_more(probe *p, int jwt, int cwt, const tslp_probe_resp *rj,
                     const tslp_probe_resp *rc)
{
    char ctbad[240] = "";
    int ctfail = !ct_ok(rj, ctbad, sizeof ctbad) || !ct_ok(rc, ctbad, sizeof ctbad);
    neg_case(p, "neg.none", NULL, 0, SEV_SHOULD, ": with no Accept any token should do",
             ctbad, sizeof ctbad, &ctfail);
    neg_case(p, "neg.any", "*/*", 0, SEV_SHOULD, "", ctbad, sizeof ctbad, &ctfail);
    neg_case(p, "neg.multi", TSL_MEDIA_JWT ", " TSL_MEDIA_CWT, 0, SEV_SHOULD,
             ": an Accept naming both types must not fail", ctbad, sizeof ctbad, &ctfail);
    if (jwt && cwt) {
        neg_case(p, "neg.q-cwt", TSL_MEDIA_JWT ";q=0.2, " TSL_MEDIA_CWT, TSL_FORMAT_CWT,
                 SEV_SHOULD, ": the higher q-value is CWT", ctbad, sizeof ctbad, &ctfail);
        neg_case(p, "neg.q-jwt", TSL_MEDIA_CWT ";q=0.2, " TSL_MEDIA_JWT, TSL_FORMAT_JWT,
                 SEV_SHOULD, ": the higher q-value is JWT", ctbad, sizeof ctbad, &ctfail);
    } else {
        neg_case(p, "neg.q", TSL_MEDIA_JWT ";q=0.5, " TSL_MEDIA_CWT ";q=0.9", 0,
                 SEV_SHOULD, ": q-values must be understood", ctbad, sizeof ctbad, &ctfail);
    }
    tslp_probe_resp r;
    if (get(p, "GET", p->url, "Accept: text/html", NULL, NULL, &r)) {
        char o[200];
        outcome(&r, o, sizeof o);
        if (r.status == 406)
            add(p, "neg.406", "RFC 9110 15.5.7", SEV_ADVICE, RES_PASS, "Accept: text/html -> %s", o);
        else if (served_format(&r) != 0)
            add(p, "neg.406", "RFC 9110 12.1", SEV_ADVICE, RES_FAIL,
                "Accept: text/html -> %s: ignoring Accept is allowed, 406 tells the client", o);
        else
            add(p, "neg.406", "RFC 9110 15.5.7", SEV_SHOULD, RES_FAIL,
                "Accept: text/html -> %s: expected 406 Not Acceptable", o);
        if (!ctfail && !ct_ok(&r, ctbad, sizeof ctbad))
            ctfail = 1;
        tslp_probe_resp_free(&r);
    }
    if (ctfail)
        add(p, "http.content-type", "8.2", SEV_MUST, RES_FAIL, "%s", ctbad);
    else
        add(p, "http.content-type", "8.2", SEV_MUST, RES_PASS,
            "every 2xx answer is application/statuslist+jwt or +cwt with that body");
}

/* gunzip, bounded: 1 when body[0..n) is gzip that inflates to exactly want. */
static int gunzip_equals(const uint8_t *body, size_t n, const uint8_t *want, size_t wn,
                         char *why, size_t cap)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit2(&zs, 16 + 15) != Z_OK) {
        snprintf(why, cap, "zlib init failed");
        return 0;
    }
    uint8_t buf[16384];
    size_t pos = 0;
    int same = 1, rc = Z_OK;
    zs.next_in = (Bytef *)(uintptr_t)body;
    zs.avail_in = (uInt)(n > UINT32_MAX ? UINT32_MAX : n);
    while (rc == Z_OK) {
        zs.next_out = buf;
        zs.avail_out = sizeof buf;
        rc = inflate(&zs, Z_NO_FLUSH);
        size_t got = sizeof buf - zs.avail_out;
        if (pos + got > TSLP_PROBE_MAX_GUNZIP || pos + got > wn ||
            memcmp(buf, want + pos, got) != 0)
            same = 0;
        pos += got;
        if (!same || (rc == Z_BUF_ERROR && got == 0))
            break;
    }
    inflateEnd(&zs);
    if (rc != Z_STREAM_END) {
        snprintf(why, cap, same ? "the gzip stream is broken or truncated"
                                : "it inflates to other bytes than the identity body");
        return 0;
    }
    if (!same || pos != wn) {
        snprintf(why, cap, "it inflates to %zu bytes, not the identity body's %zu", pos, wn);
        return 0;
    }
    return 1;
}

static void caching(probe *p, const tslp_probe_resp *m, const char *acc, int both,
                    const claims *c)
{
    const char *v;
    size_t n;
    tslp_probe_resp r;
    char line[400], o[200];
    /* ETag and If-None-Match */
    if (hdr(m, "ETag", &v, &n)) {
        add(p, "cache.etag", "RFC 9110 8.8.3", SEV_ADVICE, RES_PASS, "ETag %.*s",
            (int)(n > 80 ? 80 : n), v);
        snprintf(line, sizeof line, "If-None-Match: %.*s", (int)(n > 300 ? 300 : n), v);
        if (get(p, "GET", p->url, acc, NULL, line, &r)) {
            outcome(&r, o, sizeof o);
            add(p, "cache.304-etag", "RFC 9110 13.1.2", SEV_SHOULD,
                r.status == 304 ? RES_PASS : RES_FAIL, "If-None-Match with the ETag -> %s", o);
            tslp_probe_resp_free(&r);
        }
    } else {
        add(p, "cache.etag", "RFC 9110 8.8.3", SEV_ADVICE, RES_FAIL,
            "no ETag: clients refetch the whole token instead of a 304");
    }
    if (hdr(m, "Last-Modified", &v, &n)) {
        add(p, "cache.last-modified", "RFC 9110 8.8.2", SEV_ADVICE, RES_PASS,
            "Last-Modified %.*s", (int)(n > 60 ? 60 : n), v);
        snprintf(line, sizeof line, "If-Modified-Since: %.*s", (int)(n > 100 ? 100 : n), v);
        if (get(p, "GET", p->url, acc, NULL, line, &r)) {
            outcome(&r, o, sizeof o);
            add(p, "cache.304-date", "RFC 9110 13.1.3", SEV_ADVICE,
                r.status == 304 ? RES_PASS : RES_FAIL, "If-Modified-Since -> %s", o);
            tslp_probe_resp_free(&r);
        }
    } else {
        add(p, "cache.last-modified", "RFC 9110 8.8.2", SEV_ADVICE, RES_FAIL, "no Last-Modified");
    }
    /* Cache-Control against the token's ttl and exp */
    if (hdr(m, "Cache-Control", &v, &n)) {
        int64_t age = 0;
        int ma = tslp_hdr_max_age(v, n, &age);
        int64_t lim = INT64_MAX;
        const char *by = "";
        if (c && c->have_ttl && c->ttl > 0 && c->ttl < 9e15) {
            lim = (int64_t)c->ttl;
            by = "ttl";
        }
        if (c && c->have_exp && c->exp - p->now < lim) {
            lim = c->exp - p->now;
            by = "the time to exp";
        }
        if (tslp_hdr_has_token(v, n, "no-store") || tslp_hdr_has_token(v, n, "no-cache"))
            add(p, "cache.max-age", "8.2, 13.7", SEV_SHOULD, RES_PASS,
                "Cache-Control %.*s: caches revalidate", (int)(n > 100 ? 100 : n), v);
        else if (ma < 0)
            add(p, "cache.max-age", "RFC 9111 5.2.2.1", SEV_SHOULD, RES_FAIL,
                "Cache-Control %.*s: malformed max-age", (int)(n > 100 ? 100 : n), v);
        else if (ma == 0)
            add(p, "cache.max-age", "8.2, 13.7", SEV_ADVICE, RES_FAIL,
                "Cache-Control %.*s without max-age: caches guess freshness",
                (int)(n > 100 ? 100 : n), v);
        else if (age > lim + 5)
            add(p, "cache.max-age", "8.2, 13.7", SEV_SHOULD, RES_FAIL,
                "max-age %lld outlives %s (%lld s): caches serve the token after a newer "
                "one may exist", (long long)age, by, (long long)lim);
        else
            add(p, "cache.max-age", "8.2, 13.7", SEV_SHOULD, RES_PASS,
                "max-age %lld within %s (%lld s)", (long long)age, *by ? by : "no ttl or exp",
                lim == INT64_MAX ? 0LL : (long long)lim);
    } else {
        add(p, "cache.max-age", "8.2, 13.7", SEV_ADVICE, RES_FAIL,
            "no Cache-Control: caches guess freshness (heuristically, RFC 9111 4.2.2) "
            "instead of following ttl");
    }
    int vary = hdr(m, "Vary", &v, &n);
    int vary_accept = vary && (tslp_hdr_has_token(v, n, "Accept") || tslp_hdr_has_token(v, n, "*"));
    if (both)
        add(p, "cache.vary", "RFC 9110 12.5.5", SEV_SHOULD, vary_accept ? RES_PASS : RES_FAIL,
            vary ? "Vary: %.*s" : "no Vary%.*s: a shared cache may hand a CWT to a JWT client",
            (int)(vary ? (n > 100 ? 100 : n) : 0), vary ? v : "");
    else
        add(p, "cache.vary", "RFC 9110 12.5.5", SEV_ADVICE, vary_accept ? RES_PASS : RES_FAIL,
            vary ? "Vary: %.*s" : "no Vary%.*s (one format only)",
            (int)(vary ? (n > 100 ? 100 : n) : 0), vary ? v : "");
    /* CORS */
    if (get(p, "GET", p->url, acc, NULL, "Origin: https://rp.example", &r)) {
        if (hdr(&r, "Access-Control-Allow-Origin", &v, &n))
            add(p, "http.cors", "8.1", SEV_SHOULD, RES_PASS, "Access-Control-Allow-Origin: %.*s",
                (int)(n > 80 ? 80 : n), v);
        else
            add(p, "http.cors", "8.1", SEV_SHOULD, RES_FAIL,
                "no Access-Control-Allow-Origin: browser-based relying parties cannot read it");
        if (hdr(&r, "Access-Control-Allow-Credentials", &v, &n) &&
            tslp_hdr_has_token(v, n, "true"))
            add(p, "http.cors-credentials", "12.1", SEV_ADVICE, RES_FAIL,
                "Access-Control-Allow-Credentials: true invites cookies on a herd-privacy fetch");
        tslp_probe_resp_free(&r);
    }
    /* HEAD */
    if (get(p, "HEAD", p->url, acc, NULL, NULL, &r)) {
        char ga[112], ha[112];
        ctype(m, ga, sizeof ga);
        ctype(&r, ha, sizeof ha);
        if (r.status == m->status && strcmp(ga, ha) == 0 && r.body_len == 0)
            add(p, "http.head", "RFC 9110 9.1, 9.3.2", SEV_MUST, RES_PASS, "HEAD -> %ld %s",
                r.status, ha);
        else
            add(p, "http.head", "RFC 9110 9.1, 9.3.2", SEV_MUST, RES_FAIL,
                "HEAD -> %ld %s (%zu body bytes); GET gave %ld %s", r.status,
                r.status ? ha : r.error, r.body_len, m->status, ga);
        tslp_probe_resp_free(&r);
    }
}

static void gzip_check(probe *p, const tslp_probe_resp *m)
{
    tslp_probe_resp r;
    if (!get(p, "GET", p->url, ACCEPT_JWT, "Accept-Encoding: gzip", NULL, &r))
        return;
    const char *v;
    size_t n;
    if (hdr(&r, "Content-Encoding", &v, &n) && tslp_hdr_has_token(v, n, "gzip")) {
        add(p, "http.gzip", "8.2", SEV_SHOULD, RES_PASS, "Accept-Encoding: gzip -> "
            "Content-Encoding: gzip, %zu bytes for %zu", r.body_len, m->body_len);
        char why[160];
        if (gunzip_equals(r.body, r.body_len, m->body, m->body_len, why, sizeof why))
            add(p, "http.gzip-body", "RFC 9110 8.4", SEV_MUST, RES_PASS,
                "the gzip body inflates to the identity body");
        else
            add(p, "http.gzip-body", "RFC 9110 8.4", SEV_MUST, RES_FAIL, "%s", why);
        int vary = hdr(&r, "Vary", &v, &n);
        add(p, "http.vary-encoding", "RFC 9110 12.5.5", SEV_SHOULD,
            vary && (tslp_hdr_has_token(v, n, "Accept-Encoding") || tslp_hdr_has_token(v, n, "*"))
                ? RES_PASS : RES_FAIL,
            "Vary: %.*s", (int)(vary ? (n > 100 ? 100 : n) : 4), vary ? v : "none");
    } else {
        add(p, "http.gzip", "8.2", SEV_SHOULD, RES_FAIL,
            "Accept-Encoding: gzip -> %ld without Content-Encoding gzip (%zu bytes)",
            r.status, r.body_len);
    }
    tslp_probe_resp_free(&r);
}

static void history(probe *p, const claims *c, const char *acc)
{
    int64_t t = c && c->have_iat ? c->iat - 1 : p->now - 86400;
    char url[TSL_MAX_URI + 64];
    snprintf(url, sizeof url, "%s%stime=%lld", p->url, strchr(p->url, '?') ? "&" : "?",
             (long long)t);
    tslp_probe_resp r;
    if (!get(p, "GET", url, acc, NULL, NULL, &r))
        return;
    char o[200];
    outcome(&r, o, sizeof o);
    if (r.status == 404 || r.status == 501) {
        add(p, "history.time", "8.4", SEV_SHOULD, RES_PASS, "?time=%lld (before the current "
            "token) -> %s: %s", (long long)t, o,
            r.status == 501 ? "history not supported, as 12.7 recommends" : "time not available");
    } else if (served_format(&r) != 0) {
        tsl_token *tk = NULL;
        int64_t exp = 0;
        if (tsl_token_parse(r.body, r.body_len, &p->lim, &tk, NULL) == TSL_OK &&
            tsl_token_iat(tk) <= t && (!tsl_token_exp(tk, &exp) || t <= exp))
            add(p, "history.time", "8.4", SEV_SHOULD, RES_PASS,
                "?time=%lld -> a token with iat %lld that covers it", (long long)t,
                (long long)tsl_token_iat(tk));
        else
            add(p, "history.time", "8.4", SEV_SHOULD, RES_FAIL,
                "?time=%lld -> %s, a token that does not cover that time (the query is "
                "ignored, as static hosting does): answer 501 or 404; clients must reject "
                "it", (long long)t, o);
        tsl_token_free(tk);
    } else {
        add(p, "history.time", "8.4", SEV_SHOULD, RES_FAIL,
            "?time=%lld -> %s: expected a token covering it, 404 or 501", (long long)t, o);
    }
    tslp_probe_resp_free(&r);
}

static void aggregation(probe *p, const claims *c)
{
    if (c == NULL || !c->have_agg) {
        add(p, "aggregation", "9.2", SEV_ADVICE, RES_SKIP,
            "no aggregation_uri in the list: nothing advertised");
        return;
    }
    tslp_probe_resp r;
    if (!get(p, "GET", c->agg, "Accept: application/json", NULL, NULL, &r))
        return;
    char o[200];
    outcome(&r, o, sizeof o);
    const char *v;
    size_t n;
    if (r.status < 200 || r.status > 299) {
        add(p, "aggregation.get", "9.3", SEV_SHOULD, RES_FAIL, "aggregation_uri %.200s -> %s",
            c->agg, o);
        tslp_probe_resp_free(&r);
        return;
    }
    add(p, "aggregation.get", "9.3", SEV_SHOULD, RES_PASS, "%.200s -> %ld", c->agg, r.status);
    int ctj = hdr(&r, "Content-Type", &v, &n) && tslp_hdr_media_is(v, n, "application/json");
    add(p, "aggregation.content-type", "9.3", SEV_MUST, ctj ? RES_PASS : RES_FAIL,
        "Content-Type %.*s", (int)(ctj || hdr(&r, "Content-Type", &v, &n) ? (n > 80 ? 80 : n) : 4),
        ctj || hdr(&r, "Content-Type", &v, &n) ? v : "none");
    void *jv = NULL;
    json_t *arr = NULL;
    if (tslp_json_load((const char *)r.body, r.body_len, &p->lim, &jv, "aggregation", NULL) ==
        TSL_OK)
        arr = json_object_get(jv, "status_lists");
    int ok = json_is_array(arr), listed = 0;
    for (size_t i = 0; ok && i < json_array_size(arr); i++) {
        const char *s = json_string_value(json_array_get(arr, i));
        if (s == NULL)
            ok = 0;
        else if (strcmp(s, p->url) == 0)
            listed = 1;
    }
    add(p, "aggregation.document", "9.3", SEV_MUST, ok ? RES_PASS : RES_FAIL,
        ok ? "{\"status_lists\": [...]} with %zu URIs" : "not a JSON object with a "
        "status_lists array of strings%.0zu", ok ? json_array_size(arr) : 0);
    if (ok)
        add(p, "aggregation.listed", "9.3", SEV_SHOULD, listed ? RES_PASS : RES_FAIL,
            "the probed URL is %slisted", listed ? "" : "not ");
    json_decref(jv);
    tslp_probe_resp_free(&r);
}

static void same_list(probe *p, const claims *j, const claims *c)
{
    if (j->list == NULL || c->list == NULL)
        return;
    size_t a = 0, b = 0;
    const uint8_t *pa = tsl_list_bytes(j->list, &a), *pb = tsl_list_bytes(c->list, &b);
    unsigned ja = tsl_list_bits(j->list), cb = tsl_list_bits(c->list);
    if (ja == cb && a == b && (a == 0 || memcmp(pa, pb, a) == 0))
        add(p, "tokens.same-list", "5, 8.1", SEV_SHOULD, RES_PASS,
            "JWT and CWT carry the same list (%u bits, %zu bytes)", ja, a);
    else
        add(p, "tokens.same-list", "5, 8.1", SEV_SHOULD, RES_FAIL,
            "JWT and CWT carry different lists: %u bits and %zu bytes, %u bits and %zu bytes",
            ja, a, cb, b);
}

/* ---- the report ---- */

static tsl_status report(probe *p, unsigned flags, char **out, tsl_probe_counts *cnt)
{
    memset(cnt, 0, sizeof *cnt);
    for (size_t i = 0; i < p->n; i++) {
        cnt->checks++;
        if (p->f[i].r == RES_SKIP)
            cnt->skipped++;
        else if (p->f[i].r == RES_FAIL)
            (*(p->f[i].s == SEV_MUST     ? &cnt->must_failed
               : p->f[i].s == SEV_SHOULD ? &cnt->should_failed
                                         : &cnt->advice_failed))++;
    }
    tslp_buf b;
    tslp_buf_init(&b, (size_t)TSLP_PROBE_MAX_FINDINGS * (TSLP_PROBE_EVIDENCE * 2 + 200) +
                          TSL_MAX_URI * 2 + 4096, "probe report");
    tsl_status st = TSL_OK;
    if (flags & TSL_PROBE_JSON) {
        json_t *o = json_object(), *arr = json_array();
        if (o == NULL || arr == NULL) {
            json_decref(o);
            json_decref(arr);
            return tslp_fail(p->err, TSL_ERR_NOMEM, 0, "probe: out of memory");
        }
        json_object_set_new(o, "url", json_string(p->url));
        for (size_t i = 0; i < p->n; i++) {
            const finding *f = &p->f[i];
            json_array_append_new(arr, json_pack("{s:s,s:s,s:s,s:s,s:s}", "id", f->id,
                                                 "section", f->section, "severity",
                                                 sev_name[f->s], "result",
                                                 f->r == RES_FAIL ? "fail" : res_name[f->r],
                                                 "evidence", f->ev));
        }
        json_object_set_new(o, "findings", arr);
        json_object_set_new(o, "checks", json_integer(cnt->checks));
        json_object_set_new(o, "must_failed", json_integer(cnt->must_failed));
        json_object_set_new(o, "should_failed", json_integer(cnt->should_failed));
        json_object_set_new(o, "advice_failed", json_integer(cnt->advice_failed));
        json_object_set_new(o, "skipped", json_integer(cnt->skipped));
        /* evidence is quoted from the endpoint: invalid UTF-8 there would make
         * json_string() NULL, so ensure_ascii-style output keeps it valid */
        char *s = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
        json_decref(o);
        if (s == NULL)
            return tslp_fail(p->err, TSL_ERR_NOMEM, 0, "probe: out of memory");
        st = tslp_buf_printf(&b, p->err, "%s\n", s);
        free(s);
    } else {
        st = tslp_buf_printf(&b, p->err, "tsl probe %s\n", p->url);
        for (size_t i = 0; i < p->n && st == TSL_OK; i++) {
            const finding *f = &p->f[i];
            st = tslp_buf_printf(&b, p->err, "%-4s  %-6s  %-24s %-20s %s\n", res_name[f->r],
                                 sev_name[f->s], f->id, f->section, f->ev);
        }
        if (st == TSL_OK)
            st = tslp_buf_printf(&b, p->err,
                                 "summary: %u checks, %u MUST failed, %u SHOULD failed, "
                                 "%u advice not followed, %u skipped\n",
                                 cnt->checks, cnt->must_failed, cnt->should_failed,
                                 cnt->advice_failed, cnt->skipped);
    }
    if (st == TSL_OK) /* take() keeps len bytes only: the NUL goes in explicitly */
        st = tslp_buf_append(&b, "", 1, p->err);
    if (st != TSL_OK) {
        tslp_buf_free(&b);
        return st;
    }
    size_t n = 0;
    *out = (char *)tslp_buf_take(&b, &n);
    return *out ? TSL_OK : tslp_fail(p->err, TSL_ERR_NOMEM, 0, "probe: out of memory");
}

tsl_status tsl_probe_run(const char *url, const tsl_probe_opts *o, unsigned flags,
                         char **out, tsl_probe_counts *counts, tsl_error *err)
{
    if (url == NULL || o == NULL || out == NULL || counts == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "probe: NULL argument");
    if (strlen(url) > TSL_MAX_URI)
        return tslp_fail(err, TSL_ERR_LIMIT, 0, "probe: URL over %d bytes", TSL_MAX_URI);
    if (strncasecmp(url, "https://", 8) != 0 &&
        !(o->allow_http && strncasecmp(url, "http://", 7) == 0))
        return tslp_fail(err, TSL_ERR_UNSUPPORTED, 0, "probe: %s",
                         o->allow_http ? "the URL must be http:// or https://"
                                       : "the URL must be https:// (--allow-http for http://)");
    probe *p = tslp_calloc(1, sizeof *p);
    if (p == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "probe: out of memory");
    p->url = url;
    p->o = o;
    p->err = err;
    p->cfg.allow_http = o->allow_http;
    p->cfg.ca_file = o->ca_file;
    p->cfg.timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 10000;
    p->cfg.max_body = o->max_body > 0 ? o->max_body : TSLP_PROBE_MAX_BODY;
    tslp_limits_resolve(&o->limits, &p->lim);
    p->now = o->policy.now ? o->policy.now : (int64_t)time(NULL);
    tslp_probe_resp rj, rc;
    memset(&rj, 0, sizeof rj);
    memset(&rc, 0, sizeof rc);
    claims cj, cc;
    memset(&cj, 0, sizeof cj);
    memset(&cc, 0, sizeof cc);
    tsl_status st = TSL_OK;
    if (!get(p, "GET", url, ACCEPT_JWT, NULL, NULL, &rj) ||
        !get(p, "GET", url, ACCEPT_CWT, NULL, NULL, &rc)) {
        st = p->fatal;
        goto out;
    }
    if (rj.status == 0 && rc.status == 0) {
        st = tslp_fail(err, TSL_ERR_IO, 0, "probe: %s: %s", url, rj.error);
        goto out;
    }
    int jwt = 0, cwt = 0;
    negotiate(p, &rj, &rc, &jwt, &cwt);
    neg_more(p, jwt, cwt, &rj, &rc);
    if (jwt)
        check_token(p, TSL_FORMAT_JWT, &rj, &cj);
    if (cwt && p->fatal == TSL_OK)
        check_token(p, TSL_FORMAT_CWT, &rc, &cc);
    if (jwt && cwt)
        same_list(p, &cj, &cc);
    const claims *mc = jwt ? &cj : cwt ? &cc : NULL;
    const tslp_probe_resp *m = jwt ? &rj : &rc;
    const char *acc = jwt ? ACCEPT_JWT : ACCEPT_CWT;
    if (mc != NULL && p->fatal == TSL_OK) {
        caching(p, m, acc, jwt && cwt, mc);
        if (jwt)
            gzip_check(p, &rj);
        history(p, mc, acc);
        aggregation(p, mc);
    }
    st = p->fatal;
    if (st == TSL_OK)
        st = report(p, flags, out, counts);
out:
    claims_free(&cj);
    claims_free(&cc);
    tslp_probe_resp_free(&rj);
    tslp_probe_resp_free(&rc);
    tslp_free(p);
    return st;
}
