/* rogue.c - the rogue publisher's cases: Status List Tokens broken in every way a
 * relying party must refuse (the spec's MUSTs, the mistakes peers make on the wire,
 * and derived attacks: a zip bomb, a redirect loop, a slow body), each with a
 * Referenced Token pointing at it and the outcome a correct verifier gives. Tokens are
 * assembled here by hand, not through tsl_token_sign(), because the library's signer
 * refuses to make them; the signatures are real (the caller's signer), so that only
 * the planted fault is wrong. The HTTP side (tools/cmd_rogue.c) only serves these. */
#include "core/tsl_int.h"
#include "codec/cbor_write_int.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#define ROGUE_BASE_MAX 1024
#define ROGUE_TEXT_MAX ((size_t)1 << 20)     /* a token's JSON parts */
#define ROGUE_BOMB_BYTES ((size_t)128 << 20) /* twice tsl verify's default max_inflated */
#define ROGUE_LIST_ENTRIES 1024              /* a one-bit list of 128 bytes */

/* How one token departs from a good one. */
typedef struct {
    int cwt;              /* CWT instead of JWT */
    const char *typ;      /* NULL: the right one; "": none */
    int alg_none;
    int sub;              /* 0 right, 1 another URI, 2 missing */
    int64_t iat_off;      /* iat = now + iat_off */
    int no_iat;
    int64_t exp_off;      /* 0: now + 1 day */
    const char *ttl;      /* JSON text of ttl; NULL: 300 */
    const char *exp_text; /* JSON text replacing exp */
    int lst;              /* LST_* */
    int bits;             /* 0: 1 */
    int bad_sig;
    int dup_sub;          /* JSON: a second "sub" member */
    int cwt_tag;          /* 18 (0), -1: untagged, 61: wrapped */
    int64_t cwt_key;      /* 0: 65533 */
    int cwt_lst_text;
    int cwt_typ_unprot;   /* typ only in the unprotected header */
    const char *bits_text; /* JSON text of bits; "": the member left out */
    int no_sl;            /* no status_list claim */
} mut;

enum { LST_ZLIB, LST_GZIP, LST_RAW, LST_PADDED, LST_TRAILING, LST_BOMB, LST_BADSUM, LST_NONE,
       LST_EMPTY, LST_STD };

struct tsl_rogue {
    const tsl_signer *s;
    int64_t now;
    char base[ROGUE_BASE_MAX + 1];
    uint8_t *z;           /* the good list, zlib level 9 */
    size_t zn;
    tsl_rogue_case c[TSLP_ROGUE_MAX_CASES];
    size_t n;
    char *index;
};

/* ---- compression variants ---- */

/* Deflates n bytes of raw (or, raw NULL, n zero bytes fed in 64 KiB pieces) with the
 * given window bits: 15 zlib, 31 gzip, -15 raw DEFLATE. */
static tsl_status zcompress(const uint8_t *raw, size_t n, int wbits, uint8_t **out,
                            size_t *out_len, tsl_error *err)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (deflateInit2(&zs, 9, Z_DEFLATED, wbits, 9, Z_DEFAULT_STRATEGY) != Z_OK)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "rogue: deflateInit2 failed");
    static const uint8_t zero[65536];
    tslp_buf b;
    tslp_buf_init(&b, n / 64 + 65536 * 4, "rogue deflate");
    uint8_t tmp[65536];
    size_t fed = 0;
    int rc = Z_OK;
    tsl_status st = TSL_OK;
    while (rc != Z_STREAM_END && st == TSL_OK) {
        if (zs.avail_in == 0 && fed < n) {
            size_t k = n - fed > sizeof zero ? sizeof zero : n - fed;
            zs.next_in = (Bytef *)(uintptr_t)(raw ? raw + fed : zero);
            zs.avail_in = (uInt)k;
            fed += k;
        }
        zs.next_out = tmp;
        zs.avail_out = sizeof tmp;
        rc = deflate(&zs, fed == n ? Z_FINISH : Z_NO_FLUSH);
        if (rc == Z_STREAM_ERROR)
            st = tslp_fail(err, TSL_ERR_NOMEM, 0, "rogue: deflate failed");
        else
            st = tslp_buf_append(&b, tmp, sizeof tmp - zs.avail_out, err);
    }
    deflateEnd(&zs);
    if (st != TSL_OK) {
        tslp_buf_free(&b);
        return st;
    }
    *out = tslp_buf_take(&b, out_len);
    return *out ? TSL_OK : tslp_fail(err, TSL_ERR_NOMEM, 0, "rogue: out of memory");
}

/* The compressed bytes of lst for a variant (tslp_malloc'd). */
static tsl_status lst_bytes(tsl_rogue *r, int mode, uint8_t **out, size_t *n, tsl_error *err)
{
    size_t raw_len = 0;
    uint8_t raw[ROGUE_LIST_ENTRIES / 8];
    memset(raw, 0, sizeof raw);
    raw[0] = 0x02; /* idx 1 INVALID, idx 0 VALID */
    raw_len = sizeof raw;
    switch (mode) {
    case LST_GZIP:
        return zcompress(raw, raw_len, 31, out, n, err);
    case LST_RAW:
        return zcompress(raw, raw_len, -15, out, n, err);
    case LST_BOMB:
        return zcompress(NULL, ROGUE_BOMB_BYTES, 15, out, n, err);
    case LST_STD:
        /* a list whose base64url has a '-' or '_', so that the '+/' alphabet shows:
         * a few more entries set until one does (the first few tries suffice) */
        for (unsigned i = 1; i < 256; i++) {
            raw[3] = (uint8_t)i;
            char *t = NULL;
            tsl_status st = zcompress(raw, raw_len, 15, out, n, err);
            if (st == TSL_OK)
                st = tsl_b64url_encode(*out, *n, &t, NULL, err);
            if (st != TSL_OK) { /* *out is NULL (the caller's) or this try's */
                tslp_free(*out);
                *out = NULL;
                return st;
            }
            int hit = strpbrk(t, "-_") != NULL;
            tsl_free(t);
            if (hit)
                return TSL_OK;
            tslp_free(*out);
            *out = NULL;
        }
        return tslp_fail(err, TSL_ERR_ARG, 0, "rogue: no list with '-' or '_' in base64url");
    default:
        break;
    }
    size_t extra = mode == LST_TRAILING ? 4 : 0;
    *out = tslp_malloc(r->zn + extra);
    if (*out == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "rogue: out of memory");
    memcpy(*out, r->z, r->zn);
    if (extra)
        memcpy(*out + r->zn, "\0\0\0\0", 4);
    if (mode == LST_BADSUM)
        (*out)[r->zn - 1] ^= 0x55; /* the Adler-32 trailer */
    *n = r->zn + extra;
    return TSL_OK;
}

/* ---- JWT ---- */

static tsl_status b64(const uint8_t *p, size_t n, tslp_buf *b, tsl_error *err)
{
    char *t = NULL;
    size_t tn = 0;
    tsl_status st = tsl_b64url_encode(p, n, &t, &tn, err);
    if (st == TSL_OK)
        st = tslp_buf_append(b, t, tn, err);
    tsl_free(t);
    return st;
}

static tsl_status sign_jws(tsl_rogue *r, const char *hdr, const char *pay, int alg_none,
                           int bad_sig, uint8_t **out, size_t *out_len, tsl_error *err)
{
    tslp_buf b;
    tslp_buf_init(&b, ROGUE_TEXT_MAX * 2, "rogue jwt");
    tsl_status st = b64((const uint8_t *)hdr, strlen(hdr), &b, err);
    if (st == TSL_OK)
        st = tslp_buf_append(&b, ".", 1, err);
    if (st == TSL_OK)
        st = b64((const uint8_t *)pay, strlen(pay), &b, err);
    if (st == TSL_OK)
        st = tslp_buf_append(&b, ".", 1, err);
    if (st == TSL_OK && !alg_none) {
        uint8_t *sig = NULL;
        size_t sn = 0;
        st = tsl_signer_sign(r->s, b.data, b.len - 1, &sig, &sn, err);
        if (st == TSL_OK && bad_sig)
            sig[sn / 2] ^= 0x01;
        if (st == TSL_OK)
            st = b64(sig, sn, &b, err);
        tsl_free(sig);
    }
    if (st == TSL_OK) /* a C string too: the Referenced Token is served as text */
        st = tslp_buf_append(&b, "", 1, err);
    if (st != TSL_OK) {
        tslp_buf_free(&b);
        return st;
    }
    *out = tslp_buf_take(&b, out_len);
    if (*out == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "rogue: out of memory");
    (*out_len)--;
    return TSL_OK;
}

static tsl_status build_jwt(tsl_rogue *r, const char *path, const mut *m, uint8_t **out,
                            size_t *out_len, tsl_error *err)
{
    const char *alg = m->alg_none ? "none" : tsl_alg_name(tsl_signer_alg(r->s));
    const char *kid = tsl_signer_kid(r->s);
    char hdr[600];
    const char *typ = m->typ ? m->typ : "statuslist+jwt";
    snprintf(hdr, sizeof hdr, "{\"alg\":\"%s\"%s%s%s%s%s%s}", alg, *typ ? ",\"typ\":\"" : "",
             typ, *typ ? "\"" : "", kid ? ",\"kid\":\"" : "", kid ? kid : "", kid ? "\"" : "");
    uint8_t *z = NULL;
    size_t zn = 0;
    tsl_status st = TSL_OK;
    char *lst = NULL;
    if (m->lst != LST_NONE) {
        st = lst_bytes(r, m->lst, &z, &zn, err);
        if (st == TSL_OK)
            st = tsl_b64url_encode(z, zn, &lst, NULL, err);
        tslp_free(z);
        if (st != TSL_OK)
            return st;
    }
    tslp_buf p;
    tslp_buf_init(&p, ROGUE_TEXT_MAX, "rogue payload");
    st = tslp_buf_printf(&p, err, "{");
    if (st == TSL_OK && m->sub != 2)
        st = tslp_buf_printf(&p, err, "\"sub\":\"%s%s\",", m->sub == 1 ? "https://other.example" : r->base,
                             m->sub == 1 ? "/statuslists/1" : path);
    if (st == TSL_OK && m->dup_sub)
        st = tslp_buf_printf(&p, err, "\"sub\":\"https://other.example/statuslists/1\",");
    if (st == TSL_OK && !m->no_iat)
        st = tslp_buf_printf(&p, err, "\"iat\":%lld,", (long long)(r->now + m->iat_off));
    if (st == TSL_OK) {
        if (m->exp_text)
            st = tslp_buf_printf(&p, err, "\"exp\":%s,", m->exp_text);
        else
            st = tslp_buf_printf(&p, err, "\"exp\":%lld,",
                                 (long long)(r->now + (m->exp_off ? m->exp_off : 86400)));
    }
    if (st == TSL_OK)
        st = tslp_buf_printf(&p, err, "\"ttl\":%s", m->ttl ? m->ttl : "300");
    if (lst && m->lst == LST_STD) /* the '+/' alphabet of RFC 4648 section 4 */
        for (char *q = lst; *q; q++)
            *q = *q == '-' ? '+' : *q == '_' ? '/' : *q;
    if (lst && m->lst == LST_EMPTY)
        lst[0] = '\0';
    if (st == TSL_OK && !m->no_sl) {
        char bits[16];
        snprintf(bits, sizeof bits, "%d", m->bits ? m->bits : 1);
        const char *bt = m->bits_text ? m->bits_text : bits;
        st = tslp_buf_printf(&p, err, ",\"status_list\":{%s%s%s", *bt ? "\"bits\":" : "", bt,
                             *bt && lst ? "," : "");
        if (st == TSL_OK && lst)
            st = tslp_buf_printf(&p, err, "\"lst\":\"%s%s\"", lst,
                                 m->lst == LST_PADDED ? (strlen(lst) % 4 == 2   ? "=="
                                                         : strlen(lst) % 4 == 3 ? "="
                                                                                : "====")
                                                      : "");
        if (st == TSL_OK)
            st = tslp_buf_printf(&p, err, "}");
    }
    if (st == TSL_OK)
        st = tslp_buf_printf(&p, err, "}");
    tsl_free(lst);
    if (st == TSL_OK)
        st = sign_jws(r, hdr, (const char *)p.data, m->alg_none, m->bad_sig, out, out_len, err);
    tslp_buf_free(&p);
    return st;
}

/* ---- CWT ---- */

static tsl_status build_cwt(tsl_rogue *r, const char *path, const mut *m, uint8_t **out,
                            size_t *out_len, tsl_error *err)
{
    uint8_t *z = NULL, *prot = NULL, *pay = NULL, *tbs = NULL, *sig = NULL;
    size_t zn = 0, pn = 0, yn = 0, tn = 0, sn = 0;
    tsl_status st = lst_bytes(r, m->lst, &z, &zn, err);
    if (st != TSL_OK)
        return st;
    tslp_cw w;
    /* protected header {1: alg, 16: typ} */
    tslp_cw_init(&w, 4096);
    const char *typ = m->cwt_typ_unprot ? "" : m->typ ? m->typ : TSL_MEDIA_CWT;
    tslp_cw_map(&w, *typ ? 2 : 1);
    tslp_cw_uint(&w, 1);
    tslp_cw_int(&w, tsl_alg_cose_id(tsl_signer_alg(r->s)));
    if (*typ) {
        tslp_cw_uint(&w, 16);
        tslp_cw_cstr(&w, typ);
    }
    st = tslp_cw_finish(&w, &prot, &pn, err);
    /* claims */
    if (st == TSL_OK) {
        char sub[ROGUE_BASE_MAX + 300];
        snprintf(sub, sizeof sub, "%s%s", r->base, path);
        tslp_cw_init(&w, ROGUE_TEXT_MAX);
        tslp_cw_map(&w, 5);
        tslp_cw_uint(&w, 2);
        tslp_cw_cstr(&w, sub);
        tslp_cw_uint(&w, 6);
        tslp_cw_int(&w, r->now);
        tslp_cw_uint(&w, 4);
        tslp_cw_int(&w, r->now + 86400);
        int64_t key = m->cwt_key ? m->cwt_key : 65533;
        if (key != 65534) {
            tslp_cw_uint(&w, 65534);
            tslp_cw_uint(&w, 300);
        } else {
            tslp_cw_uint(&w, 65532); /* keep five claims: an unknown one */
            tslp_cw_uint(&w, 0);
        }
        tslp_cw_uint(&w, (uint64_t)key);
        tslp_cw_map(&w, 2);
        tslp_cw_cstr(&w, "bits");
        tslp_cw_uint(&w, 1);
        tslp_cw_cstr(&w, "lst");
        if (m->cwt_lst_text) {
            char *t = NULL;
            st = tsl_b64url_encode(z, zn, &t, NULL, err);
            if (st == TSL_OK)
                tslp_cw_cstr(&w, t);
            tsl_free(t);
        } else {
            tslp_cw_bytes(&w, z, zn);
        }
        if (st == TSL_OK)
            st = tslp_cw_finish(&w, &pay, &yn, err);
        else
            tslp_cw_free(&w);
    }
    /* Sig_structure ["Signature1", protected, h'', payload] (RFC 9052 section 4.4) */
    if (st == TSL_OK) {
        tslp_cw_init(&w, ROGUE_TEXT_MAX * 2);
        tslp_cw_array(&w, 4);
        tslp_cw_cstr(&w, "Signature1");
        tslp_cw_bytes(&w, prot, pn);
        tslp_cw_bytes(&w, NULL, 0);
        tslp_cw_bytes(&w, pay, yn);
        st = tslp_cw_finish(&w, &tbs, &tn, err);
    }
    if (st == TSL_OK)
        st = tsl_signer_sign(r->s, tbs, tn, &sig, &sn, err);
    if (st == TSL_OK) {
        if (m->bad_sig)
            sig[sn / 2] ^= 0x01;
        const char *kid = tsl_signer_kid(r->s);
        tslp_cw_init(&w, ROGUE_TEXT_MAX * 2);
        if (m->cwt_tag == 61)
            tslp_cw_tag(&w, 61);
        if (m->cwt_tag != -1)
            tslp_cw_tag(&w, 18);
        tslp_cw_array(&w, 4);
        tslp_cw_bytes(&w, prot, pn);
        tslp_cw_map(&w, (kid ? 1 : 0) + (m->cwt_typ_unprot ? 1 : 0));
        if (kid) {
            tslp_cw_uint(&w, 4);
            tslp_cw_bytes(&w, (const uint8_t *)kid, strlen(kid));
        }
        if (m->cwt_typ_unprot) {
            tslp_cw_uint(&w, 16);
            tslp_cw_cstr(&w, TSL_MEDIA_CWT);
        }
        tslp_cw_bytes(&w, pay, yn);
        tslp_cw_bytes(&w, sig, sn);
        st = tslp_cw_finish(&w, out, out_len, err);
    }
    tslp_free(z);
    tslp_free(prot);
    tslp_free(pay);
    tslp_free(tbs);
    tsl_free(sig);
    return st;
}

/* ---- the Referenced Token and the case table ---- */

static tsl_status build_ref(tsl_rogue *r, const char *path, uint64_t idx, char **out,
                            tsl_error *err)
{
    const char *kid = tsl_signer_kid(r->s);
    char hdr[600], pay[ROGUE_BASE_MAX * 2 + 400];
    snprintf(hdr, sizeof hdr, "{\"alg\":\"%s\",\"typ\":\"JWT\"%s%s%s}",
             tsl_alg_name(tsl_signer_alg(r->s)), kid ? ",\"kid\":\"" : "", kid ? kid : "",
             kid ? "\"" : "");
    snprintf(pay, sizeof pay,
             "{\"iss\":\"%s\",\"iat\":%lld,\"exp\":%lld,\"status\":{\"status_list\":"
             "{\"idx\":%llu,\"uri\":\"%s%s\"}}}",
             r->base, (long long)r->now, (long long)(r->now + 365 * 86400),
             (unsigned long long)idx, r->base, path);
    size_t n = 0;
    return sign_jws(r, hdr, pay, 0, 0, (uint8_t **)out, &n, err);
}

typedef struct {
    const char *name, *what, *section, *expect;
    int exit;
    tsl_rogue_kind kind;
    unsigned status;      /* 0: 200 */
    const char *ctype;    /* NULL: by form */
    uint64_t idx;
    mut m;
} spec;

#define REJ "reject: no status can be determined"

static const spec specs[] = {
    {"ok-jwt", "control: a good JWT, idx 0 VALID", "8.3", "VALID", 0, TSL_ROGUE_BODY, 0, NULL, 0, {0}},
    {"ok-revoked", "control: a good JWT, idx 1 INVALID", "7, 8.3", "INVALID", 1, TSL_ROGUE_BODY, 0, NULL, 1, {0}},
    {"ok-cwt", "control: a good CWT, idx 0 VALID", "5.2, 8.3", "VALID", 0, TSL_ROGUE_BODY, 0, NULL, 0, {.cwt = 1}},
    {"idx-out-of-range", "idx 5000 in a list of 1024 entries", "8.3 step 6", "reject (MUST)", 1, TSL_ROGUE_BODY, 0, NULL, 5000, {0}},
    {"typ-wrong", "JWT typ \"JWT\"", "5.1", REJ, 3, TSL_ROGUE_BODY, 0, NULL, 0, {.typ = "JWT"}},
    {"typ-missing", "JWT without typ", "5.1", REJ, 3, TSL_ROGUE_BODY, 0, NULL, 0, {.typ = ""}},
    {"sub-wrong", "sub names another list", "8.3 step 4a", REJ, 3, TSL_ROGUE_BODY, 0, NULL, 0, {.sub = 1}},
    {"sub-missing", "no sub", "5.1", REJ, 3, TSL_ROGUE_BODY, 0, NULL, 0, {.sub = 2}},
    {"sub-duplicate", "two sub members, the second another list", "5.1, RFC 8725 3.x", REJ, 3, TSL_ROGUE_BODY, 0, NULL, 0, {.dup_sub = 1}},
    {"expired", "exp an hour ago", "8.3 step 4c", REJ, 3, TSL_ROGUE_BODY, 0, NULL, 0, {.iat_off = -7200, .exp_off = -3600}},
    {"iat-future", "iat a day ahead", "5.1, RFC 7519 7.2", REJ, 3, TSL_ROGUE_BODY, 0, NULL, 0, {.iat_off = 86400, .exp_off = 2 * 86400}},
    {"iat-missing", "no iat", "5.1", REJ, 3, TSL_ROGUE_BODY, 0, NULL, 0, {.no_iat = 1}},
    {"exp-string", "exp is a string", "5.1, RFC 7519 4.1.4", REJ, 3, TSL_ROGUE_BODY, 0, NULL, 0, {.exp_text = "\"tomorrow\""}},
    {"ttl-zero", "ttl 0", "5.1", REJ, 3, TSL_ROGUE_BODY, 0, NULL, 0, {.ttl = "0"}},
    {"ttl-negative", "ttl -300", "5.1", REJ, 3, TSL_ROGUE_BODY, 0, NULL, 0, {.ttl = "-300"}},
    {"bad-signature", "one bit of the signature flipped", "5.1, 8.3 step 3", REJ, 3, TSL_ROGUE_BODY, 0, NULL, 0, {.bad_sig = 1}},
    {"alg-none", "alg none, no signature", "5.1, 11.2", REJ, 3, TSL_ROGUE_BODY, 0, NULL, 0, {.alg_none = 1}},
    {"lst-gzip", "lst is gzip, not zlib", "4.1", REJ, 3, TSL_ROGUE_BODY, 0, NULL, 0, {.lst = LST_GZIP}},
    {"lst-raw", "lst is raw DEFLATE, not zlib", "4.1", REJ, 3, TSL_ROGUE_BODY, 0, NULL, 0, {.lst = LST_RAW}},
    {"lst-padded", "lst base64url with '=' padding", "4.2", REJ, 3, TSL_ROGUE_BODY, 0, NULL, 0, {.lst = LST_PADDED}},
    {"lst-trailing", "four bytes after the end of the zlib stream", "4.1", REJ, 3, TSL_ROGUE_BODY, 0, NULL, 0, {.lst = LST_TRAILING}},
    {"lst-bad-checksum", "the zlib Adler-32 trailer altered", "4.1, RFC 1950", REJ, 3, TSL_ROGUE_BODY, 0, NULL, 0, {.lst = LST_BADSUM}},
    {"lst-missing", "status_list without lst", "4.2", REJ, 3, TSL_ROGUE_BODY, 0, NULL, 0, {.lst = LST_NONE}},
    {"lst-empty", "lst is the empty string", "4.2", REJ, 3, TSL_ROGUE_BODY, 0, NULL, 0, {.lst = LST_EMPTY}},
    {"lst-std-alphabet", "lst in the '+/' base64 alphabet", "4.2", REJ, 3, TSL_ROGUE_BODY, 0, NULL, 0, {.lst = LST_STD}},
    {"status-list-missing", "no status_list claim", "5.1", REJ, 3, TSL_ROGUE_BODY, 0, NULL, 0, {.no_sl = 1}},
    {"bits-0", "bits 0", "4.2", REJ, 3, TSL_ROGUE_BODY, 0, NULL, 0, {.bits_text = "0"}},
    {"bits-string", "bits is the string \"1\"", "4.2", REJ, 3, TSL_ROGUE_BODY, 0, NULL, 0, {.bits_text = "\"1\""}},
    {"bits-missing", "status_list without bits", "4.2", REJ, 3, TSL_ROGUE_BODY, 0, NULL, 0, {.bits_text = ""}},
    {"zip-bomb", "lst inflates to 128 MiB (from about 130 KB)", "4.1 (no limit in -21)", REJ, 3, TSL_ROGUE_BODY, 0, NULL, 0, {.lst = LST_BOMB}},
    {"bits-3", "bits 3", "4.2", REJ, 3, TSL_ROGUE_BODY, 0, NULL, 0, {.bits = 3}},
    {"bits-16", "bits 16", "4.2", REJ, 3, TSL_ROGUE_BODY, 0, NULL, 0, {.bits = 16}},
    {"cwt-untagged", "COSE_Sign1 without tag 18", "5.2", REJ, 3, TSL_ROGUE_BODY, 0, NULL, 0, {.cwt = 1, .cwt_tag = -1}},
    {"cwt-tag61", "wrapped in the CWT tag 61", "5.2", REJ, 3, TSL_ROGUE_BODY, 0, NULL, 0, {.cwt = 1, .cwt_tag = 61}},
    {"cwt-key-65534", "status_list under claim 65534 (ttl's key)", "5.2", REJ, 3, TSL_ROGUE_BODY, 0, NULL, 0, {.cwt = 1, .cwt_key = 65534}},
    {"cwt-key-65535", "status_list under claim 65535 (a Referenced Token's status)", "5.2", REJ, 3, TSL_ROGUE_BODY, 0, NULL, 0, {.cwt = 1, .cwt_key = 65535}},
    {"cwt-typ-short", "CWT typ \"statuslist+cwt\" (the -07 spelling)", "5.2", REJ, 3, TSL_ROGUE_BODY, 0, NULL, 0, {.cwt = 1, .typ = "statuslist+cwt"}},
    {"cwt-typ-unprotected", "CWT typ only in the unprotected header", "5.2", REJ, 3, TSL_ROGUE_BODY, 0, NULL, 0, {.cwt = 1, .cwt_typ_unprot = 1}},
    {"cwt-lst-text", "CWT lst as base64url text, not bytes", "4.3", REJ, 3, TSL_ROGUE_BODY, 0, NULL, 0, {.cwt = 1, .cwt_lst_text = 1}},
    {"cwt-bad-signature", "CWT with one signature bit flipped", "5.2", REJ, 3, TSL_ROGUE_BODY, 0, NULL, 0, {.cwt = 1, .bad_sig = 1}},
    {"content-type-wrong", "a good JWT served as text/plain", "8.2", REJ, 3, TSL_ROGUE_BODY, 0, "text/plain", 0, {0}},
    {"content-type-swapped", "a good JWT served as application/statuslist+cwt", "8.2", REJ, 3, TSL_ROGUE_BODY, 0, TSL_MEDIA_CWT, 0, {0}},
    {"http-404", "404 Not Found", "8.2, 8.3", REJ, 3, TSL_ROGUE_BODY, 404, "text/plain", 0, {0}},
    {"redirect-loop", "302 to itself, forever", "8.2, 11.4", REJ, 3, TSL_ROGUE_REDIRECT, 302, NULL, 0, {0}},
    {"redirect-sub", "302 to ok-jwt, whose sub is not the uri asked for", "8.3 step 4a", REJ, 3, TSL_ROGUE_REDIRECT, 302, NULL, 0, {0}},
    {"slow-body", "a good JWT sent one byte a second", "11.4 (DoS)", REJ " (a bounded client times out)", 3, TSL_ROGUE_SLOW, 0, NULL, 0, {0}},
};

static char *dup_str(const char *s)
{
    return tslp_strndup(s, strlen(s));
}

static tsl_status add_case(tsl_rogue *r, const spec *sp, tsl_error *err)
{
    if (r->n >= TSLP_ROGUE_MAX_CASES)
        return tslp_fail(err, TSL_ERR_LIMIT, 0, "rogue: more than %d cases", TSLP_ROGUE_MAX_CASES);
    tsl_rogue_case *c = &r->c[r->n];
    memset(c, 0, sizeof *c);
    char path[200], ref_path[220];
    snprintf(path, sizeof path, "/rogue/%s", sp->name);
    snprintf(ref_path, sizeof ref_path, "/rogue/%s/rt", sp->name);
    c->name = sp->name;
    c->what = sp->what;
    c->section = sp->section;
    c->expect = sp->expect;
    c->expect_exit = sp->exit;
    c->kind = sp->kind;
    c->status = sp->status ? sp->status : 200;
    c->path = dup_str(path);
    c->ref_path = dup_str(ref_path);
    r->n++; /* from here tsl_rogue_free() releases what the case holds */
    if (c->path == NULL || c->ref_path == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "rogue: out of memory");
    char *ref = NULL;
    tsl_status st = build_ref(r, path, sp->idx, &ref, err);
    if (st != TSL_OK)
        return st;
    c->ref = ref;
    if (sp->kind == TSL_ROGUE_REDIRECT) {
        c->location = dup_str(strcmp(sp->name, "redirect-loop") == 0 ? path : "/rogue/ok-jwt");
        return c->location ? TSL_OK : tslp_fail(err, TSL_ERR_NOMEM, 0, "rogue: out of memory");
    }
    if (c->status != 200) {
        c->content_type = sp->ctype;
        c->body = (const uint8_t *)dup_str("not found\n");
        c->body_len = c->body ? strlen((const char *)c->body) : 0;
        return c->body ? TSL_OK : tslp_fail(err, TSL_ERR_NOMEM, 0, "rogue: out of memory");
    }
    uint8_t *b = NULL;
    size_t bn = 0;
    st = sp->m.cwt ? build_cwt(r, path, &sp->m, &b, &bn, err)
                   : build_jwt(r, path, &sp->m, &b, &bn, err);
    if (st != TSL_OK)
        return st;
    c->body = b;
    c->body_len = bn;
    c->content_type = sp->ctype ? sp->ctype : sp->m.cwt ? TSL_MEDIA_CWT : TSL_MEDIA_JWT;
    return TSL_OK;
}

static tsl_status make_index(tsl_rogue *r, tsl_error *err)
{
    json_t *o = json_object(), *arr = json_array();
    if (o == NULL || arr == NULL) {
        json_decref(o);
        json_decref(arr);
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "rogue: out of memory");
    }
    json_object_set_new(o, "base", json_string(r->base));
    for (size_t i = 0; i < r->n; i++) {
        const tsl_rogue_case *c = &r->c[i];
        json_array_append_new(arr, json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:i}", "name", c->name,
                                             "path", c->path, "ref_path", c->ref_path, "what",
                                             c->what, "section", c->section, "expect",
                                             c->expect, "expect_exit", c->expect_exit));
    }
    json_object_set_new(o, "cases", arr);
    char *s = json_dumps(o, JSON_INDENT(1));
    json_decref(o);
    if (s == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "rogue: out of memory");
    r->index = dup_str(s);
    free(s);
    return r->index ? TSL_OK : tslp_fail(err, TSL_ERR_NOMEM, 0, "rogue: out of memory");
}

tsl_status tsl_rogue_new(const char *base, const tsl_signer *s, int64_t now, tsl_rogue **out,
                         tsl_error *err)
{
    if (base == NULL || s == NULL || out == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "rogue: NULL argument");
    size_t bl = strlen(base);
    if (bl > ROGUE_BASE_MAX)
        return tslp_fail(err, TSL_ERR_LIMIT, 0, "rogue: base URL over %d bytes", ROGUE_BASE_MAX);
    for (size_t i = 0; i < bl; i++)
        if ((unsigned char)base[i] <= 0x20 || base[i] == '"' || base[i] == '\\' ||
            (unsigned char)base[i] >= 0x7f)
            return tslp_fail(err, TSL_ERR_ARG, 0, "rogue: base URL with a space, quote, "
                                                  "backslash or control character");
    tsl_rogue *r = tslp_calloc(1, sizeof *r);
    if (r == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "rogue: out of memory");
    memcpy(r->base, base, bl);
    while (bl > 0 && r->base[bl - 1] == '/')
        r->base[--bl] = '\0';
    r->s = s;
    r->now = now ? now : (int64_t)time(NULL);
    uint8_t raw[ROGUE_LIST_ENTRIES / 8];
    memset(raw, 0, sizeof raw);
    raw[0] = 0x02;
    tsl_status st = zcompress(raw, sizeof raw, 15, &r->z, &r->zn, err);
    for (size_t i = 0; st == TSL_OK && i < sizeof specs / sizeof specs[0]; i++)
        st = add_case(r, &specs[i], err);
    if (st == TSL_OK)
        st = make_index(r, err);
    if (st != TSL_OK) {
        tsl_rogue_free(r);
        return st;
    }
    *out = r;
    return TSL_OK;
}

size_t tsl_rogue_count(const tsl_rogue *r)
{
    return r ? r->n : 0;
}

const tsl_rogue_case *tsl_rogue_get(const tsl_rogue *r, size_t i)
{
    return r && i < r->n ? &r->c[i] : NULL;
}

const char *tsl_rogue_index(const tsl_rogue *r)
{
    return r ? r->index : NULL;
}

void tsl_rogue_free(tsl_rogue *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n; i++) {
        tsl_rogue_case *c = &r->c[i];
        tslp_free((void *)(uintptr_t)c->path);
        tslp_free((void *)(uintptr_t)c->ref_path);
        tslp_free((void *)(uintptr_t)c->location);
        tslp_free((void *)(uintptr_t)c->body);
        tslp_free((void *)(uintptr_t)c->ref);
    }
    tslp_free(r->z);
    tslp_free(r->index);
    tslp_free(r);
}
