/* idlist.c - ISO/IEC 18013-5 (second edition) identifier lists: a tagged COSE_Sign1 CWT
 * of media type application/identifierlist+cwt whose claims are 2 sub, 6 iat, 4 exp
 * (required), 65534 ttl (optional), 1 iss (optional) and 65530 {"identifiers": {* bstr
 * => IdentifierInfo}, ? "aggregation_uri": tstr}, and never 65533 (a status list).
 * Parsed, verified (the Status List Token's trust and time rules, plus the certificate
 * an MSO may name), queried in O(log n), and signed.
 *
 * Why a walker of its own: a list of 10^6 identifiers is 2 * 10^6 CBOR items, past the
 * tree reader's node cap (TSLP_CBOR_MAX_NODES) at 56 bytes a node. So the claims map,
 * claim 65530 and its identifiers map are walked head by head here, and every other
 * item (a claim's value, a key, a non-empty IdentifierInfo) goes through the bounded
 * tree reader on its own, so that each stays small. Identifiers stay where they are in
 * one copy of the claims; an index of (pointer, length) is sorted once (length first,
 * then bytes: the deterministic CBOR order of byte-string keys), which also finds the
 * duplicates the walker cannot see.
 *
 * typ: emitted in the protected header (16), as multipaz and newer mdoc-ts do. Read
 * there, or, as older mdoc-ts wrote it, as a claim (16 or "typ") when the protected
 * header has none; "identifierlist+cwt" without "application/" is the same type (RFC
 * 9596 section 3). In the unprotected header, or missing everywhere, it is refused. */
#include "codec/cbor_int.h"
#include "codec/cbor_write_int.h"
#include "crypto/crypto.h"
#include "token/token_int.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* COSE header label of typ (RFC 9596), which the parser looks for. */
#define HDR_TYP 16

#define CLAIM_ISS 1
#define CLAIM_SUB 2
#define CLAIM_EXP 4
#define CLAIM_NBF 5
#define CLAIM_IAT 6
#define CLAIM_TYP 16 /* the older mdoc-ts placement */
#define CLAIM_IDLIST 65530
#define CLAIM_STATUS_LIST 65533
#define CLAIM_TTL 65534

static const char IDL_TYP[] = TSL_MEDIA_IDLIST;
static const char IDL_TYP_SHORT[] = "identifierlist+cwt";

typedef struct {
    const uint8_t *p; /* into the list's copy of its claims */
    size_t len;
} idref;

struct tsl_idlist {
    tsl_token *tok;        /* envelope and common claims (tok->list stays NULL) */
    bool typ_in_claim;     /* typ was read from the claims, not the protected header */
    char *aggregation_uri; /* or NULL */
    uint8_t *claims;       /* the claims' bytes, which ids point into */
    idref *ids;            /* sorted: length, then bytes */
    size_t n, cap;
    size_t info_nonempty;  /* IdentifierInfo maps that are not empty */
    size_t min_len, max_len;
};

/* ---------------------------------------------------------------------------------- */
/* Order and membership                                                                 */

static int idref_cmp(const void *a, const void *b)
{
    const idref *x = a, *y = b;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    return x->len == 0 ? 0 : memcmp(x->p, y->p, x->len);
}

int tsl_idlist_contains(const tsl_idlist *l, const uint8_t *id, size_t len)
{
    if (l == NULL || l->n == 0 || (id == NULL && len > 0))
        return 0;
    idref key = {id, len};
    return bsearch(&key, l->ids, l->n, sizeof *l->ids, idref_cmp) != NULL;
}

/* ---------------------------------------------------------------------------------- */
/* The head-by-head walker                                                              */

typedef struct {
    const uint8_t *p;
    size_t n, pos;
    const tsl_limits *lim;
    tsl_error *err;
} walk;

static tsl_status truncated(walk *w, const char *what)
{
    return tslp_fail(w->err, TSL_ERR_MALFORMED, w->pos, "identifier list: %s: truncated at "
                     "offset %zu of the claims", what, w->pos);
}

/* One head: major type, argument, indefinite (major types 2 to 5 only). Floats and
 * simple values are never read here: the tree reader reads whole items. */
static tsl_status head(walk *w, const char *what, unsigned *major, uint64_t *arg,
                       bool *indef)
{
    if (w->pos >= w->n)
        return truncated(w, what);
    uint8_t b = w->p[w->pos];
    unsigned ai = b & 31u;
    *major = b >> 5;
    *indef = false;
    size_t need = ai < 24 ? 0 : ai == 24 ? 1 : ai == 25 ? 2 : ai == 26 ? 4 : 8;
    if (ai >= 28 && ai <= 30)
        return tslp_fail(w->err, TSL_ERR_MALFORMED, w->pos,
                         "identifier list: %s: reserved additional information %u", what, ai);
    if (ai == 31) {
        if (*major < 2 || *major > 5)
            return tslp_fail(w->err, TSL_ERR_MALFORMED, w->pos,
                             "identifier list: %s: unexpected break or indefinite item", what);
        *indef = true;
        need = 0;
    }
    if (w->n - w->pos - 1 < need) {
        w->pos = w->n;
        return truncated(w, what);
    }
    uint64_t v = ai < 24 ? ai : 0;
    for (size_t k = 0; k < need; k++)
        v = v << 8 | w->p[w->pos + 1 + k];
    w->pos += 1 + need;
    *arg = v;
    return TSL_OK;
}

/* A map's head; *indef and *left say how its pairs end. */
static tsl_status map_head(walk *w, const char *what, bool *indef, uint64_t *left)
{
    unsigned major;
    size_t at = w->pos;
    tsl_status st = head(w, what, &major, left, indef);
    if (st == TSL_OK && major != 5)
        st = tslp_fail(w->err, TSL_ERR_MALFORMED, at, "identifier list: %s: major type %u, "
                       "expected a map", what, major);
    return st;
}

/* True while another pair follows: a definite map counts down, an indefinite one ends
 * at its break (truncation is found by the next read). */
static bool map_more(walk *w, bool indef, uint64_t *left)
{
    if (!indef) {
        if (*left == 0)
            return false;
        (*left)--;
        return true;
    }
    if (w->pos < w->n && w->p[w->pos] == 0xFF) {
        w->pos++;
        return false;
    }
    return true;
}

/* One whole item through the bounded tree reader; at most max bytes of it. */
static tsl_status item(walk *w, const tsl_limits *lim, size_t max, const char *what,
                       tslp_cbor_doc **doc)
{
    size_t used = 0, room = w->n - w->pos;
    tsl_status st = tslp_cbor_parse(w->p + w->pos, room < max ? room : max, lim, &used, doc,
                                    w->err);
    if (st != TSL_OK) {
        char pre[96];
        snprintf(pre, sizeof pre, "identifier list: %s (at offset %zu of the claims)", what,
                 w->pos);
        tslp_error_prefix(w->err, pre);
        return st;
    }
    w->pos += used;
    return TSL_OK;
}

/* ---------------------------------------------------------------------------------- */
/* Claims                                                                               */

/* A NumericDate (RFC 8392 section 2): an integer or a float of seconds. */
static tsl_status numeric_date(const tslp_cbor_node *v, const char *name, int64_t *out,
                               tsl_error *err)
{
    uint64_t u;
    if (tslp_cbor_get_uint(v, &u) && u <= INT64_MAX) {
        *out = (int64_t)u;
        return TSL_OK;
    }
    if (v->type == TSLP_CBOR_FLOAT && v->f >= 0 && v->f < 9.2e18) {
        *out = (int64_t)floor(v->f);
        return TSL_OK;
    }
    return tslp_fail(err, TSL_ERR_CLAIM, 0, "identifier list: %s: %s, expected a "
                     "non-negative NumericDate", name, tslp_cbor_type_name(v->type));
}

/* A text claim into a new string, at most TSLP_IDLIST_MAX_TEXT bytes. */
static tsl_status text_claim(const tslp_cbor_node *v, const char *name, char **out,
                             tsl_error *err)
{
    if (v->type != TSLP_CBOR_TEXT)
        return tslp_fail(err, TSL_ERR_CLAIM, 0, "identifier list: %s: %s, expected text",
                         name, tslp_cbor_type_name(v->type));
    if (v->len > TSLP_IDLIST_MAX_TEXT)
        return tslp_fail(err, TSL_ERR_LIMIT, 0, "identifier list: %s: longer than %zu bytes",
                         name, TSLP_IDLIST_MAX_TEXT);
    if (memchr(v->str, 0, v->len) != NULL)
        return tslp_fail(err, TSL_ERR_CLAIM, 0, "identifier list: %s: contains NUL", name);
    *out = tslp_strndup(v->len ? (const char *)v->str : "", v->len);
    return *out != NULL ? TSL_OK : tslp_fail(err, TSL_ERR_NOMEM, 0, "identifier list: out "
                                             "of memory");
}

static bool typ_ok(const uint8_t *s, size_t n)
{
    return (n == strlen(IDL_TYP) && strncasecmp((const char *)s, IDL_TYP, n) == 0) ||
           (n == strlen(IDL_TYP_SHORT) && strncasecmp((const char *)s, IDL_TYP_SHORT, n) == 0);
}

/* A typ found in the claims (the older placement): only when the header had none. */
static tsl_status typ_claim(tsl_idlist *l, const tslp_cbor_node *v, tsl_error *err)
{
    if (v->type != TSLP_CBOR_TEXT || !typ_ok(v->str, v->len))
        return tslp_fail(err, TSL_ERR_TYP, 0, "identifier list: typ claim: expected \"%s\"",
                         IDL_TYP);
    if (l->tok->typ != NULL && !l->typ_in_claim)
        return TSL_OK; /* the header's, already checked, wins; they agree */
    if (l->tok->typ != NULL)
        return tslp_fail(err, TSL_ERR_TYP, 0, "identifier list: typ claim given twice");
    l->typ_in_claim = true;
    return text_claim(v, "typ", &l->tok->typ, err);
}

/* One identifier (a definite byte string key) and its IdentifierInfo. */
static tsl_status one_identifier(tsl_idlist *l, walk *w, const tsl_limits *info_lim)
{
    unsigned major;
    uint64_t len;
    bool indef;
    size_t at = w->pos;
    tsl_status st = head(w, "identifiers: key", &major, &len, &indef);
    if (st != TSL_OK)
        return st;
    if (major != 2 || indef)
        return tslp_fail(w->err, TSL_ERR_MALFORMED, at, "identifier list: identifiers: key "
                         "at offset %zu is %s, expected a (definite) byte string", at,
                         indef ? "an indefinite string" : "not a byte string");
    if (len > TSLP_IDLIST_MAX_ID_LEN)
        return tslp_fail(w->err, TSL_ERR_LIMIT, at, "identifier list: identifier at offset "
                         "%zu is %llu bytes, over the limit of %d", at,
                         (unsigned long long)len, TSLP_IDLIST_MAX_ID_LEN);
    if (len > w->n - w->pos) {
        w->pos = w->n;
        return truncated(w, "identifiers: key");
    }
    st = TSLP_ELEMS_RESERVE(l->ids, l->n, l->cap, 1, TSLP_IDLIST_MAX_IDS,
                            "identifier list: identifiers", w->err);
    if (st != TSL_OK)
        return st;
    l->ids[l->n].p = w->p + w->pos;
    l->ids[l->n].len = (size_t)len;
    l->n++;
    if (l->n == 1 || len < l->min_len)
        l->min_len = (size_t)len;
    if (len > l->max_len)
        l->max_len = (size_t)len;
    w->pos += (size_t)len;
    /* The IdentifierInfo: nearly always the empty map, taken without the tree reader. */
    if (w->pos < w->n && w->p[w->pos] == 0xA0) {
        w->pos++;
        return TSL_OK;
    }
    tslp_cbor_doc *d = NULL;
    st = item(w, info_lim, TSLP_IDLIST_MAX_INFO_BYTES, "IdentifierInfo", &d);
    if (st != TSL_OK)
        return st;
    bool map = d->root->type == TSLP_CBOR_MAP;
    tslp_cbor_free(d);
    if (!map)
        return tslp_fail(w->err, TSL_ERR_MALFORMED, at, "identifier list: the IdentifierInfo "
                         "of the identifier at offset %zu is not a map", at);
    l->info_nonempty++;
    return TSL_OK;
}

/* Claim 65530: {"identifiers": {* bstr => IdentifierInfo}, ? "aggregation_uri": tstr}. */
static tsl_status identifier_list_claim(tsl_idlist *l, walk *w)
{
    bool indef, seen_ids = false, seen_agg = false;
    uint64_t left;
    tsl_status st = map_head(w, "claim 65530", &indef, &left);
    tsl_limits info_lim = *w->lim;
    info_lim.max_depth = TSLP_IDLIST_MAX_INFO_DEPTH;
    while (st == TSL_OK && map_more(w, indef, &left)) {
        tslp_cbor_doc *k = NULL;
        size_t at = w->pos;
        if ((st = item(w, w->lim, TSLP_IDLIST_MAX_TEXT + 16, "claim 65530 key", &k)) != TSL_OK)
            break;
        const char *s = NULL;
        size_t sl = 0;
        bool is_text = tslp_cbor_get_text(k->root, &s, &sl);
        bool ids = is_text && sl == 11 && memcmp(s, "identifiers", 11) == 0;
        bool agg = is_text && sl == 15 && memcmp(s, "aggregation_uri", 15) == 0;
        tslp_cbor_free(k);
        if ((ids && seen_ids) || (agg && seen_agg)) {
            st = tslp_fail(w->err, TSL_ERR_MALFORMED, at, "identifier list: claim 65530: "
                           "duplicate key \"%s\"", ids ? "identifiers" : "aggregation_uri");
        } else if (ids) {
            seen_ids = true;
            bool ind;
            uint64_t n;
            st = map_head(w, "identifiers", &ind, &n);
            while (st == TSL_OK && map_more(w, ind, &n))
                st = one_identifier(l, w, &info_lim);
        } else {
            tslp_cbor_doc *v = NULL;
            st = item(w, w->lim, w->n, agg ? "aggregation_uri" : "claim 65530 member", &v);
            if (st == TSL_OK && agg) {
                seen_agg = true;
                st = text_claim(v->root, "aggregation_uri", &l->aggregation_uri, w->err);
            }
            tslp_cbor_free(v);
        }
    }
    if (st == TSL_OK && !seen_ids)
        st = tslp_fail(w->err, TSL_ERR_CLAIM, 0,
                       "identifier list: claim 65530: \"identifiers\" is missing");
    return st;
}

/* Which claims were read, so that a repeated one is refused (the tree reader refuses
 * duplicate keys; this walker must do it for the claims it reads). */
enum { SEEN_SUB = 1, SEEN_IAT = 2, SEEN_EXP = 4, SEEN_TTL = 8, SEEN_ISS = 16, SEEN_IDL = 32,
       SEEN_NBF = 64, SEEN_TYP = 128 };

/* A claim other than 65530, whose value v is read whole. */
static tsl_status simple_claim(tsl_idlist *l, int64_t key, const tslp_cbor_node *v,
                               tsl_error *err)
{
    tsl_token *t = l->tok;
    bool absent = v->type == TSLP_CBOR_NULL || v->type == TSLP_CBOR_UNDEFINED;
    uint64_t u;
    switch (key) {
    case CLAIM_SUB: return text_claim(v, "sub (2)", &t->sub, err);
    case CLAIM_ISS: return absent ? TSL_OK : text_claim(v, "iss (1)", &t->iss, err);
    case CLAIM_IAT: return numeric_date(v, "iat (6)", &t->iat, err);
    case CLAIM_EXP:
        t->has_exp = true;
        return numeric_date(v, "exp (4)", &t->exp, err);
    case CLAIM_NBF:
        if (absent)
            return TSL_OK;
        t->has_nbf = true;
        return numeric_date(v, "nbf (5)", &t->nbf, err);
    case CLAIM_TTL:
        if (absent)
            return TSL_OK;
        if (!tslp_cbor_get_uint(v, &u) || u == 0 || u > INT64_MAX)
            return tslp_fail(err, TSL_ERR_CLAIM, 0,
                             "identifier list: ttl (65534): expected a positive integer");
        t->ttl = (int64_t)u;
        t->has_ttl = true;
        return TSL_OK;
    case CLAIM_TYP: return typ_claim(l, v, err);
    case CLAIM_STATUS_LIST:
        return tslp_fail(err, TSL_ERR_CLAIM, 0, "identifier list: claim 65533 (status_list) "
                         "is present: this is a Status List Token's claim, never an "
                         "identifier list's");
    default: return TSL_OK; /* unknown claims are ignored (RFC 8392 section 3) */
    }
}

static unsigned seen_bit(int64_t key, bool text_typ)
{
    if (text_typ)
        return SEEN_TYP;
    switch (key) {
    case CLAIM_SUB: return SEEN_SUB;
    case CLAIM_IAT: return SEEN_IAT;
    case CLAIM_EXP: return SEEN_EXP;
    case CLAIM_TTL: return SEEN_TTL;
    case CLAIM_ISS: return SEEN_ISS;
    case CLAIM_IDLIST: return SEEN_IDL;
    case CLAIM_NBF: return SEEN_NBF;
    case CLAIM_TYP: return SEEN_TYP;
    default: return 0;
    }
}

static tsl_status parse_claims(tsl_idlist *l, const uint8_t *p, size_t n,
                               const tsl_limits *lim, tsl_error *err)
{
    walk w = {p, n, 0, lim, err};
    bool indef;
    uint64_t left;
    unsigned seen = 0;
    tsl_status st = map_head(&w, "claims", &indef, &left);
    while (st == TSL_OK && map_more(&w, indef, &left)) {
        tslp_cbor_doc *k = NULL;
        size_t at = w.pos;
        if ((st = item(&w, lim, TSLP_IDLIST_MAX_TEXT + 16, "claim key", &k)) != TSL_OK)
            break;
        int64_t key = -1;
        const char *s = NULL;
        size_t sl = 0;
        bool int_key = tslp_cbor_get_int(k->root, &key);
        bool text_typ = !int_key && tslp_cbor_get_text(k->root, &s, &sl) && sl == 3 &&
                        memcmp(s, "typ", 3) == 0;
        tslp_cbor_free(k);
        if (!int_key)
            key = -1;
        unsigned bit = seen_bit(key, text_typ);
        if (bit != 0 && (seen & bit) != 0) {
            st = tslp_fail(err, TSL_ERR_MALFORMED, at, "identifier list: claim %s%lld at "
                           "offset %zu is repeated", text_typ ? "typ " : "", (long long)key,
                           at);
            break;
        }
        seen |= bit;
        if (key == CLAIM_IDLIST) {
            st = identifier_list_claim(l, &w);
            continue;
        }
        tslp_cbor_doc *v = NULL;
        if ((st = item(&w, lim, n, "claim value", &v)) != TSL_OK)
            break;
        if (int_key || text_typ)
            st = simple_claim(l, text_typ ? CLAIM_TYP : key, v->root, err);
        tslp_cbor_free(v);
    }
    if (st == TSL_OK && w.pos != n)
        st = tslp_fail(err, TSL_ERR_MALFORMED, w.pos, "identifier list: %zu bytes after the "
                       "claims map", n - w.pos);
    if (st != TSL_OK)
        return st;
    if (!(seen & SEEN_SUB))
        return tslp_fail(err, TSL_ERR_CLAIM, 0, "identifier list: sub (2): missing "
                         "(REQUIRED: the uri the MSO names)");
    if (!(seen & SEEN_IAT))
        return tslp_fail(err, TSL_ERR_CLAIM, 0, "identifier list: iat (6): missing (REQUIRED)");
    if (!(seen & SEEN_EXP))
        return tslp_fail(err, TSL_ERR_CLAIM, 0, "identifier list: exp (4): missing (REQUIRED "
                         "for an identifier list)");
    if (!(seen & SEEN_IDL))
        return tslp_fail(err, TSL_ERR_CLAIM, 0, "identifier list: claim 65530 "
                         "(identifier_list): missing");
    if (l->tok->typ == NULL)
        return tslp_fail(err, TSL_ERR_TYP, 0, "identifier list: typ: missing from the "
                         "protected header (16), expected \"%s\"", IDL_TYP);
    return TSL_OK;
}

/* ---------------------------------------------------------------------------------- */
/* Parsing                                                                              */

/* typ (16) in the protected header: checked when there; absent leaves it to a claim. */
static tsl_status header_typ(tsl_idlist *l, const tslp_cose *c, tsl_error *err)
{
    if (c->unprot->type == TSLP_CBOR_MAP && tslp_cbor_map_get_int(c->unprot, HDR_TYP) != NULL)
        return tslp_fail(err, TSL_ERR_TYP, 0, "identifier list: typ (16): must be in the "
                         "protected header, not the unprotected one");
    const tslp_cbor_node *typ = tslp_cbor_map_get_int(c->pdoc->root, HDR_TYP);
    if (typ == NULL)
        return TSL_OK;
    if (typ->type == TSLP_CBOR_TEXT && typ->len == strlen(TSL_MEDIA_CWT) &&
        strncasecmp((const char *)typ->str, TSL_MEDIA_CWT, typ->len) == 0)
        return tslp_fail(err, TSL_ERR_TYP, 0, "identifier list: typ (16) is \"%s\": this is a "
                         "Status List Token, not an identifier list", TSL_MEDIA_CWT);
    if (typ->type != TSLP_CBOR_TEXT || !typ_ok(typ->str, typ->len))
        return tslp_fail(err, TSL_ERR_TYP, 0, "identifier list: typ (16): expected \"%s\"",
                         IDL_TYP);
    return text_claim(typ, "typ (16)", &l->tok->typ, err);
}

static tsl_status parse_cose(tsl_idlist *l, const uint8_t *in, size_t len,
                             const tsl_limits *lim, tsl_error *err)
{
    tslp_cbor_doc *doc = NULL;
    tsl_status st = tslp_cbor_parse(in, len, lim, NULL, &doc, err);
    if (st != TSL_OK) {
        tslp_error_prefix(err, "identifier list");
        return st;
    }
    bool mac = false;
    tslp_cose c;
    memset(&c, 0, sizeof c);
    st = tslp_cose_tagged(doc->root, &mac, err);
    if (st == TSL_OK && mac)
        st = tslp_fail(err, TSL_ERR_MALFORMED, 0, "identifier list: COSE_Mac0: an identifier "
                       "list is signed (COSE_Sign1, tag 18)");
    if (st == TSL_OK)
        st = tslp_cose_open(&c, doc->root->child, false, lim, "identifier list", err);
    if (st == TSL_OK)
        st = header_typ(l, &c, err);
    if (st == TSL_OK)
        st = tslp_cose_alg(&c, 0, "identifier list", err);
    if (st == TSL_OK) {
        l->claims = tslp_malloc(c.payload->len ? c.payload->len : 1);
        if (l->claims == NULL)
            st = tslp_fail(err, TSL_ERR_NOMEM, 0, "identifier list: out of memory");
        else if (c.payload->len > 0)
            memcpy(l->claims, c.payload->str, c.payload->len);
    }
    if (st == TSL_OK)
        st = parse_claims(l, l->claims, c.payload->len, lim, err);
    if (st == TSL_OK)
        st = tslp_cwt_keep_envelope(l->tok, &c, err); /* as a status list's */
    tslp_cose_close(&c);
    tslp_cbor_free(doc);
    return st;
}

tsl_status tsl_idlist_parse(const uint8_t *in, size_t len, const tsl_limits *lim,
                            tsl_idlist **out, tsl_error *err)
{
    if (out == NULL || (in == NULL && len > 0))
        return tslp_fail(err, TSL_ERR_ARG, 0, "identifier list: NULL argument");
    tsl_limits L;
    tslp_limits_resolve(lim, &L);
    if (len > L.max_input)
        return tslp_fail(err, TSL_ERR_LIMIT, 0, "identifier list: %zu bytes exceeds the input "
                         "limit of %zu", len, L.max_input);
    if (len == 0)
        return tslp_fail(err, TSL_ERR_MALFORMED, 0, "identifier list: empty input");
    tsl_idlist *l = tslp_calloc(1, sizeof *l);
    if (l == NULL || (l->tok = tslp_calloc(1, sizeof *l->tok)) == NULL) {
        tslp_free(l);
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "identifier list: out of memory");
    }
    l->tok->format = TSL_FORMAT_CWT;
    /* Raw CBOR, or the same as hex or base64url text (as tsl_token_parse takes it). */
    uint8_t *bin = NULL;
    size_t bin_len = 0, a = 0, n = 0;
    tsl_status st;
    tsl_form f = tslp_detect_form(in, len, &a, &n);
    if (f == TSL_FORM_CBOR)
        st = parse_cose(l, in, len, &L, err);
    else if (f == TSL_FORM_TEXT && tslp_text_to_bytes(in + a, n, &bin, &bin_len))
        st = parse_cose(l, bin, bin_len, &L, err);
    else
        st = tslp_fail(err, TSL_ERR_MALFORMED, 0, "identifier list: not a tagged COSE_Sign1 "
                       "(CBOR, hex or base64url)");
    tslp_free(bin);
    if (st == TSL_OK && l->n > 1) {
        qsort(l->ids, l->n, sizeof *l->ids, idref_cmp);
        for (size_t k = 1; k < l->n && st == TSL_OK; k++)
            if (idref_cmp(&l->ids[k - 1], &l->ids[k]) == 0)
                st = tslp_fail(err, TSL_ERR_MALFORMED, 0, "identifier list: identifiers: an "
                               "identifier of %zu bytes is listed twice (duplicate map key)",
                               l->ids[k].len);
    }
    if (st != TSL_OK) {
        tsl_idlist_free(l);
        return st;
    }
    *out = l;
    return TSL_OK;
}

void tsl_idlist_free(tsl_idlist *l)
{
    if (l == NULL)
        return;
    tsl_token_free(l->tok);
    tslp_free(l->aggregation_uri);
    tslp_free(l->claims);
    tslp_free(l->ids);
    tslp_free(l);
}

/* ---------------------------------------------------------------------------------- */
/* Verification                                                                         */

tsl_status tsl_idlist_verify(const tsl_idlist *l, const tsl_verify_opts *o,
                             const uint8_t *cert, size_t cert_len, tsl_error *err)
{
    if (l == NULL || o == NULL || (cert == NULL && cert_len > 0))
        return tslp_fail(err, TSL_ERR_ARG, 0, "identifier list: NULL argument");
    if (cert == NULL || cert_len == 0)
        return tslp_token_verify_at(l->tok, o, 0, err);
    /* The MSO names the list's signing certificate: the list is verified with it, it
     * must reach the anchors, and a chain the list carries must start with it. */
    if (o->policy.trust == NULL)
        return tslp_fail(err, TSL_ERR_TRUST, 0, "identifier list: the MSO names the list's "
                         "certificate, which must chain to trust anchors; none were given");
    const tsl_token *t = l->tok;
    if (t->x5c_n > 0 && (t->x5c_len[0] != cert_len || memcmp(t->x5c[0], cert, cert_len) != 0))
        return tslp_fail(err, TSL_ERR_TRUST, 0, "identifier list: its x5chain leaf is not the "
                         "certificate the MSO names");
    tsl_token c = *t; /* shallow: only the chain's first certificate differs */
    memcpy(&c.x5c[0], &cert, sizeof cert);
    c.x5c_len[0] = cert_len;
    if (c.x5c_n == 0)
        c.x5c_n = 1;
    return tslp_token_verify_at(&c, o, 0, err);
}

/* ---------------------------------------------------------------------------------- */
/* Accessors and figures                                                                */

size_t tsl_idlist_count(const tsl_idlist *l)
{
    return l->n;
}

const char *tsl_idlist_sub(const tsl_idlist *l)
{
    return l->tok->sub;
}

int64_t tsl_idlist_iat(const tsl_idlist *l)
{
    return l->tok->iat;
}

int64_t tsl_idlist_exp(const tsl_idlist *l)
{
    return l->tok->exp;
}

int tsl_idlist_ttl(const tsl_idlist *l, int64_t *v)
{
    if (l->tok->has_ttl && v != NULL)
        *v = l->tok->ttl;
    return l->tok->has_ttl;
}

const char *tsl_idlist_aggregation_uri(const tsl_idlist *l)
{
    return l->aggregation_uri;
}

int tsl_idlist_typ_in_claim(const tsl_idlist *l)
{
    return l->typ_in_claim;
}

tsl_status tsl_idlist_to_json(const tsl_idlist *l, char **out, tsl_error *err)
{
    if (l == NULL || out == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "identifier list: NULL argument");
    const tsl_token *t = l->tok;
    json_t *h = json_pack("{s:s,s:s,s:s}", "alg", tsl_alg_name(t->alg), "typ", t->typ,
                          "typ_placement", l->typ_in_claim ? "claim" : "protected header");
    json_t *c = json_pack("{s:s,s:I,s:I}", "sub", t->sub, "iat", (json_int_t)t->iat, "exp",
                          (json_int_t)t->exp);
    json_t *il = json_pack("{s:I,s:I,s:I,s:I}", "identifiers", (json_int_t)l->n,
                           "min_identifier_bytes", (json_int_t)l->min_len,
                           "max_identifier_bytes", (json_int_t)l->max_len,
                           "nonempty_identifier_info", (json_int_t)l->info_nonempty);
    json_t *o = json_object();
    int bad = h == NULL || c == NULL || il == NULL || o == NULL;
    if (!bad && t->kid_len > 0)
        bad = json_object_set_new(h, "kid", json_stringn((const char *)t->kid, t->kid_len));
    if (!bad && t->x5c_n > 0)
        bad = json_object_set_new(h, "x5c_certificates", json_integer((json_int_t)t->x5c_n));
    if (!bad && t->has_ttl)
        bad = json_object_set_new(c, "ttl", json_integer(t->ttl));
    if (!bad && t->iss != NULL)
        bad = json_object_set_new(c, "iss", json_string(t->iss));
    if (!bad && l->aggregation_uri != NULL)
        bad = json_object_set_new(il, "aggregation_uri", json_string(l->aggregation_uri));
    if (!bad) {
        bad = json_object_set_new(c, "identifier_list", il) != 0;
        il = NULL;
        bad = bad || json_object_set_new(o, "format", json_string("cwt")) != 0;
        bad = bad || json_object_set_new(o, "kind", json_string("identifier_list")) != 0;
        bad = bad || json_object_set_new(o, "header", h) != 0;
        h = NULL;
        bad = bad || json_object_set_new(o, "claims", c) != 0;
        c = NULL;
    }
    json_decref(h);
    json_decref(c);
    json_decref(il);
    char *text = bad ? NULL : json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (text == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "identifier list: out of memory (or a claim "
                         "is not UTF-8)");
    *out = tslp_strndup(text, strlen(text));
    free(text);
    return *out != NULL ? TSL_OK : tslp_fail(err, TSL_ERR_NOMEM, 0, "identifier list: out "
                                             "of memory");
}

/* ---------------------------------------------------------------------------------- */
/* Signing                                                                              */

static tsl_status encode_claims(const tsl_idlist_params *p, const idref *ids, size_t n,
                                size_t room, uint8_t **out, size_t *out_len, tsl_error *err)
{
    tslp_cw w;
    tslp_cw_init(&w, room);
    tslp_cw_map(&w, 4 + (p->ttl != 0) + (p->iss != NULL));
    if (p->iss != NULL) {
        tslp_cw_uint(&w, CLAIM_ISS);
        tslp_cw_cstr(&w, p->iss);
    }
    tslp_cw_uint(&w, CLAIM_SUB);
    tslp_cw_cstr(&w, p->sub);
    tslp_cw_uint(&w, CLAIM_EXP);
    tslp_cw_int(&w, p->exp);
    tslp_cw_uint(&w, CLAIM_IAT);
    tslp_cw_int(&w, p->iat != 0 ? p->iat : (int64_t)time(NULL));
    if (p->ttl != 0) {
        tslp_cw_uint(&w, CLAIM_TTL);
        tslp_cw_int(&w, p->ttl);
    }
    tslp_cw_uint(&w, CLAIM_IDLIST);
    tslp_cw_map(&w, 1 + (p->aggregation_uri != NULL));
    tslp_cw_cstr(&w, "identifiers");
    tslp_cw_map(&w, n);
    for (size_t k = 0; k < n; k++) {
        tslp_cw_bytes(&w, ids[k].p, ids[k].len);
        tslp_cw_map(&w, 0);
    }
    if (p->aggregation_uri != NULL) {
        tslp_cw_cstr(&w, "aggregation_uri");
        tslp_cw_cstr(&w, p->aggregation_uri);
    }
    return tslp_cw_finish(&w, out, out_len, err);
}

static tsl_status check_params(const tsl_idlist_params *p, const tsl_signer *s,
                               tsl_error *err)
{
    if (p->sub == NULL || p->sub[0] == '\0')
        return tslp_fail(err, TSL_ERR_ARG, 0, "identifier list: sub is required (the uri it "
                         "is served at)");
    if (p->exp <= 0)
        return tslp_fail(err, TSL_ERR_ARG, 0, "identifier list: exp is required");
    if (p->ttl < 0 || p->iat < 0)
        return tslp_fail(err, TSL_ERR_ARG, 0, "identifier list: negative ttl or iat");
    if (p->n > TSLP_IDLIST_MAX_IDS)
        return tslp_fail(err, TSL_ERR_LIMIT, 0, "identifier list: %zu identifiers, over the "
                         "limit of %zu", p->n, TSLP_IDLIST_MAX_IDS);
    if (p->n > 0 && (p->ids == NULL || p->id_lens == NULL))
        return tslp_fail(err, TSL_ERR_ARG, 0, "identifier list: NULL identifiers");
    if (tsl_signer_alg(s) == TSL_ALG_HS256)
        return tslp_fail(err, TSL_ERR_ARG, 0, "identifier list: HS256 is a MAC; an "
                         "identifier list is signed (COSE_Sign1)");
    if (tsl_cert_chain_count(tsl_signer_x5c(s)) > TSL_DEFAULT_MAX_X5C)
        return tslp_fail(err, TSL_ERR_ARG, 0, "identifier list: more than %zu certificates",
                         TSL_DEFAULT_MAX_X5C);
    return TSL_OK;
}

tsl_status tsl_idlist_sign(const tsl_idlist_params *p, const tsl_signer *s, uint8_t **out,
                           size_t *out_len, tsl_error *err)
{
    if (p == NULL || s == NULL || out == NULL || out_len == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "identifier list: NULL argument");
    tsl_status st = check_params(p, s, err);
    if (st != TSL_OK)
        return st;
    idref *ids = tslp_malloc((p->n ? p->n : 1) * sizeof *ids);
    if (ids == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "identifier list: out of memory");
    size_t room = TSLP_CWT_MAX_OVERHEAD;
    for (size_t k = 0; k < p->n && st == TSL_OK; k++) {
        if ((p->ids[k] == NULL && p->id_lens[k] > 0) || p->id_lens[k] == 0 ||
            p->id_lens[k] > TSLP_IDLIST_MAX_ID_LEN)
            st = tslp_fail(err, TSL_ERR_ARG, 0, "identifier list: identifier %zu is %zu bytes "
                           "(1 to %d)", k, p->id_lens[k], TSLP_IDLIST_MAX_ID_LEN);
        ids[k].p = p->ids[k];
        ids[k].len = p->id_lens[k];
        room += ids[k].len + 3;
    }
    if (st == TSL_OK && p->n > 1) {
        /* Deterministic CBOR order of the keys, and no key twice. */
        qsort(ids, p->n, sizeof *ids, idref_cmp);
        for (size_t k = 1; k < p->n && st == TSL_OK; k++)
            if (idref_cmp(&ids[k - 1], &ids[k]) == 0)
                st = tslp_fail(err, TSL_ERR_ARG, 0, "identifier list: an identifier is given "
                               "twice");
    }
    uint8_t *payload = NULL;
    size_t payload_len = 0;
    if (st == TSL_OK)
        st = encode_claims(p, ids, p->n, room, &payload, &payload_len, err);
    tslp_free(ids);
    /* A tagged COSE_Sign1 as a Status List Token's (HS256 was refused above). */
    if (st == TSL_OK)
        st = tslp_cose_seal(payload, payload_len, IDL_TYP, s, out, out_len, err);
    tslp_free(payload);
    return st;
}
