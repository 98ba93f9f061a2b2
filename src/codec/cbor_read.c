/* cbor_read.c - the bounded CBOR reader: untrusted bytes in, a small read-only tree out
 * (see cbor_int.h for what is accepted and rejected).
 *
 * Why not cbor_load(): Debian's libcbor 0.8 allocates arrays, maps and strings from
 * their declared lengths, so the five bytes 9A 08 00 00 00 cost it 1 GiB. Here every
 * item is decoded with cbor_stream_decode(), which allocates nothing and hands us one
 * head (or one whole definite string) at a time, and every declared length is checked
 * against the bytes left before it is believed.
 *
 * The walk runs twice over the same bytes. Pass 1 validates everything (lengths, depth,
 * UTF-8, breaks, trailing bytes) and counts the nodes, the bytes of indefinite strings
 * and the largest map; then one block of exactly that many nodes is allocated and pass
 * 2 fills it in pre-order and checks map keys for duplicates. So a hostile input can
 * cost at most a bounded multiple of its own size, and only after it has proved to be
 * well formed. */
#include "codec/cbor_int.h"

#include <cbor.h>

#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------------- */
/* One decoded head: what cbor_stream_decode() reported through the callbacks          */

typedef enum {
    EV_NONE,
    EV_UINT,
    EV_NEGINT,
    EV_BYTES,       /* a whole definite byte string */
    EV_TEXT,        /* a whole definite text string */
    EV_BYTES_INDEF, /* the head of an indefinite byte string; chunks follow */
    EV_TEXT_INDEF,
    EV_ARRAY,
    EV_ARRAY_INDEF,
    EV_MAP,
    EV_MAP_INDEF,
    EV_TAG,
    EV_FLOAT,
    EV_BOOL,
    EV_NULL,
    EV_UNDEF,
    EV_BREAK
} ev_kind;

typedef struct {
    ev_kind kind;
    uint64_t u;       /* integer value or argument, tag number, array/map count */
    const uint8_t *p; /* definite strings */
    size_t len;
    double f;
    bool b;
} event;

/* libcbor's callbacks take a void * context; ours is the event being filled in. */
static void put(void *ctx, ev_kind kind, uint64_t u)
{
    event *e = ctx;
    e->kind = kind;
    e->u = u;
}

static void cb_u8(void *c, uint8_t v) { put(c, EV_UINT, v); }
static void cb_u16(void *c, uint16_t v) { put(c, EV_UINT, v); }
static void cb_u32(void *c, uint32_t v) { put(c, EV_UINT, v); }
static void cb_u64(void *c, uint64_t v) { put(c, EV_UINT, v); }
static void cb_n8(void *c, uint8_t v) { put(c, EV_NEGINT, v); }
static void cb_n16(void *c, uint16_t v) { put(c, EV_NEGINT, v); }
static void cb_n32(void *c, uint32_t v) { put(c, EV_NEGINT, v); }
static void cb_n64(void *c, uint64_t v) { put(c, EV_NEGINT, v); }

static void cb_bytes(void *c, cbor_data p, size_t n)
{
    event *e = c;
    e->kind = EV_BYTES;
    e->p = p;
    e->len = n;
}

static void cb_text(void *c, cbor_data p, size_t n)
{
    event *e = c;
    e->kind = EV_TEXT;
    e->p = p;
    e->len = n;
}

static void cb_bytes_indef(void *c) { put(c, EV_BYTES_INDEF, 0); }
static void cb_text_indef(void *c) { put(c, EV_TEXT_INDEF, 0); }
static void cb_array(void *c, size_t n) { put(c, EV_ARRAY, n); }
static void cb_array_indef(void *c) { put(c, EV_ARRAY_INDEF, 0); }
static void cb_map(void *c, size_t n) { put(c, EV_MAP, n); }
static void cb_map_indef(void *c) { put(c, EV_MAP_INDEF, 0); }
static void cb_tag(void *c, uint64_t v) { put(c, EV_TAG, v); }
static void cb_undef(void *c) { put(c, EV_UNDEF, 0); }
static void cb_null(void *c) { put(c, EV_NULL, 0); }
static void cb_break(void *c) { put(c, EV_BREAK, 0); }

static void cb_f4(void *c, float v)
{
    put(c, EV_FLOAT, 0);
    ((event *)c)->f = v;
}

static void cb_f8(void *c, double v)
{
    put(c, EV_FLOAT, 0);
    ((event *)c)->f = v;
}

static void cb_bool(void *c, bool v)
{
    put(c, EV_BOOL, 0);
    ((event *)c)->b = v;
}

/* libcbor's own header comments on the string and array members are swapped; the
 * member names are what counts: byte_string/string get definite strings. */
static const struct cbor_callbacks callbacks = {
    .uint8 = cb_u8,
    .uint16 = cb_u16,
    .uint32 = cb_u32,
    .uint64 = cb_u64,
    .negint8 = cb_n8,
    .negint16 = cb_n16,
    .negint32 = cb_n32,
    .negint64 = cb_n64,
    .byte_string_start = cb_bytes_indef,
    .byte_string = cb_bytes,
    .string = cb_text,
    .string_start = cb_text_indef,
    .indef_array_start = cb_array_indef,
    .array_start = cb_array,
    .indef_map_start = cb_map_indef,
    .map_start = cb_map,
    .tag = cb_tag,
    .float2 = cb_f4,
    .float4 = cb_f4,
    .float8 = cb_f8,
    .undefined = cb_undef,
    .null = cb_null,
    .boolean = cb_bool,
    .indef_break = cb_break,
};

/* ---------------------------------------------------------------------------------- */
/* The walk                                                                             */

typedef struct {
    const uint8_t *in;
    size_t len;
    size_t pos;
    size_t max_depth;
    tsl_error *err;
    bool build;            /* pass 2: fill nodes */
    /* pass 1 counts, pass 2 uses */
    size_t nnodes;
    size_t strbytes;       /* bytes of all indefinite strings */
    size_t max_pairs;      /* pairs in the largest map */
    /* pass 2 */
    tslp_cbor_node *nodes;
    size_t used;
    uint8_t *strbuf;
    size_t strpos;
    const tslp_cbor_node **scratch; /* max_pairs keys, for the duplicate check */
} walker;

static const char *major_name(unsigned mt)
{
    static const char *const names[8] = {"unsigned integer", "negative integer",
                                         "byte string", "text string", "array", "map",
                                         "tag", "simple value or float"};
    return names[mt & 7];
}

/* Reads the argument of the head at p (left bytes available) ourselves. Used only to
 * explain a failure precisely: libcbor's `required` overflows for 64-bit lengths. */
static bool head_arg(const uint8_t *p, size_t left, uint64_t *arg, size_t *hlen)
{
    unsigned ai = p[0] & 0x1f;
    if (ai < 24) {
        *arg = ai;
        *hlen = 1;
        return true;
    }
    size_t n = ai == 24 ? 1 : ai == 25 ? 2 : ai == 26 ? 4 : 8;
    if (left < 1 + n)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v << 8 | p[1 + i];
    *arg = v;
    *hlen = 1 + n;
    return true;
}

/* cbor_stream_decode() said it needs more bytes than are left: say which and why. */
static tsl_status explain_short(walker *w)
{
    const uint8_t *p = w->in + w->pos;
    size_t left = w->len - w->pos;
    unsigned mt = p[0] >> 5;
    uint64_t arg;
    size_t hlen;
    if (!head_arg(p, left, &arg, &hlen))
        return tslp_fail(w->err, TSL_ERR_MALFORMED, w->pos,
                         "cbor: %s at offset %zu is truncated: its head needs more than "
                         "the %zu bytes left",
                         major_name(mt), w->pos, left);
    return tslp_fail(w->err, TSL_ERR_MALFORMED, w->pos,
                     "cbor: %s at offset %zu declares %llu bytes, only %zu bytes left",
                     major_name(mt), w->pos, (unsigned long long)arg, left - hlen);
}

/* cbor_stream_decode() rejected the initial byte. */
static tsl_status explain_bad(walker *w)
{
    uint8_t b = w->in[w->pos];
    unsigned ai = b & 0x1f;
    if (ai >= 28 && ai <= 30)
        return tslp_fail(w->err, TSL_ERR_MALFORMED, w->pos,
                         "cbor: reserved initial byte 0x%02x (%s) at offset %zu", b,
                         major_name(b >> 5), w->pos);
    if (ai == 31)
        return tslp_fail(w->err, TSL_ERR_MALFORMED, w->pos,
                         "cbor: %s at offset %zu cannot have indefinite length (0x%02x)",
                         major_name(b >> 5), w->pos, b);
    return tslp_fail(w->err, TSL_ERR_MALFORMED, w->pos,
                     "cbor: unsupported simple value (0x%02x) at offset %zu", b, w->pos);
}

/* Decodes the head at w->pos into *e and advances past it (past the whole string for a
 * definite string). */
static tsl_status next_head(walker *w, event *e)
{
    if (w->pos >= w->len)
        return tslp_fail(w->err, TSL_ERR_MALFORMED, w->pos,
                         "cbor: input ends at offset %zu where an item was expected",
                         w->pos);
    memset(e, 0, sizeof *e);
    uint8_t b = w->in[w->pos];
    /* libcbor 0.8 rejects the one-byte tag heads 0xC6-0xD4 (tags 6-20) as "unassigned",
     * but they are well formed, and 0xD1/0xD2 are COSE_Mac0 and COSE_Sign1 (17, 18). */
    if (b >= 0xC6 && b <= 0xD4) {
        e->kind = EV_TAG;
        e->u = b & 0x1f;
        w->pos += 1;
        return TSL_OK;
    }
    struct cbor_decoder_result r =
        cbor_stream_decode(w->in + w->pos, w->len - w->pos, &callbacks, e);
    if (r.status == CBOR_DECODER_NEDATA)
        return explain_short(w);
    if (r.status != CBOR_DECODER_FINISHED || e->kind == EV_NONE || r.read == 0)
        return explain_bad(w);
    w->pos += r.read;
    return TSL_OK;
}

size_t tslp_utf8_check(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t more;
        uint8_t lo = 0x80, hi = 0xBF; /* the range of the second byte */
        if (c >= 0xC2 && c <= 0xDF) {
            more = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            more = 2;
            if (c == 0xE0)
                lo = 0xA0; /* overlong */
            else if (c == 0xED)
                hi = 0x9F; /* surrogates */
        } else if (c >= 0xF0 && c <= 0xF4) {
            more = 3;
            if (c == 0xF0)
                lo = 0x90; /* overlong */
            else if (c == 0xF4)
                hi = 0x8F; /* above U+10FFFF */
        } else {
            return i;
        }
        if (n - i <= more)
            return i;
        if (s[i + 1] < lo || s[i + 1] > hi)
            return i;
        for (size_t k = 2; k <= more; k++)
            if ((s[i + k] & 0xC0) != 0x80)
                return i;
        i += more + 1;
    }
    return n;
}

static tsl_status check_text(walker *w, const uint8_t *s, size_t n, size_t item_off)
{
    size_t bad = tslp_utf8_check(s, n);
    if (bad == n)
        return TSL_OK;
    size_t at = (size_t)(s - w->in) + bad;
    return tslp_fail(w->err, TSL_ERR_MALFORMED, at,
                     "cbor: text string at offset %zu has invalid UTF-8 at offset %zu",
                     item_off, at);
}

static tslp_cbor_node *new_node(walker *w, tslp_cbor_type t, size_t off)
{
    if (!w->build)
        return NULL;
    /* Pass 1 counted exactly the nodes pass 2 creates over the same bytes. */
    tslp_cbor_node *n = &w->nodes[w->used++];
    n->type = t;
    n->offset = off;
    return n;
}

/* Orders two nodes by type and value, for the duplicate-key check. Integers compare by
 * value (so 0x01 and 0x18 0x01 are equal), strings by bytes, floats by the bits of the
 * widened double, containers item by item (maps in their encoded order). */
static int node_cmp(const tslp_cbor_node *a, const tslp_cbor_node *b)
{
    if (a->type != b->type)
        return a->type < b->type ? -1 : 1;
    switch (a->type) {
    case TSLP_CBOR_UINT:
    case TSLP_CBOR_NEGINT:
        return a->u < b->u ? -1 : a->u > b->u;
    case TSLP_CBOR_BYTES:
    case TSLP_CBOR_TEXT:
        if (a->len != b->len)
            return a->len < b->len ? -1 : 1;
        return a->len == 0 ? 0 : memcmp(a->str, b->str, a->len);
    case TSLP_CBOR_BOOL:
        return (int)a->b - (int)b->b;
    case TSLP_CBOR_FLOAT: {
        uint64_t x, y;
        memcpy(&x, &a->f, sizeof x);
        memcpy(&y, &b->f, sizeof y);
        return x < y ? -1 : x > y;
    }
    case TSLP_CBOR_TAG:
        if (a->u != b->u)
            return a->u < b->u ? -1 : 1;
        return node_cmp(a->child, b->child);
    case TSLP_CBOR_ARRAY:
    case TSLP_CBOR_MAP: {
        if (a->count != b->count)
            return a->count < b->count ? -1 : 1;
        const tslp_cbor_node *x = a->child, *y = b->child;
        for (; x != NULL && y != NULL; x = x->next, y = y->next) {
            int c = node_cmp(x, y);
            if (c != 0)
                return c;
        }
        return 0;
    }
    case TSLP_CBOR_NULL:
    case TSLP_CBOR_UNDEFINED:
        return 0;
    }
    return 0;
}

static int key_cmp(const void *a, const void *b)
{
    const tslp_cbor_node *x = *(const tslp_cbor_node *const *)a;
    const tslp_cbor_node *y = *(const tslp_cbor_node *const *)b;
    int c = node_cmp(x, y);
    if (c != 0)
        return c;
    /* Ties by position, so the report names the later of two equal keys. */
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static tsl_status dup_key(walker *w, const tslp_cbor_node *map, const tslp_cbor_node *k)
{
    return tslp_fail(w->err, TSL_ERR_MALFORMED, k->offset,
                     "cbor: map at offset %zu has a duplicate key (%s) at offset %zu",
                     map->offset, tslp_cbor_type_name(k->type), k->offset);
}

/* Pass 2: rejects a map with two equal keys. Small maps pairwise; larger ones sorted in
 * the scratch array pass 1 sized, so a hostile map costs O(n log n), not O(n^2). */
static tsl_status check_keys(walker *w, const tslp_cbor_node *map)
{
    size_t n = map->count;
    if (n < 2)
        return TSL_OK;
    if (n <= 8) {
        for (const tslp_cbor_node *k = map->child; k != NULL; k = k->next->next)
            for (const tslp_cbor_node *j = k->next->next; j != NULL; j = j->next->next)
                if (node_cmp(k, j) == 0)
                    return dup_key(w, map, j);
        return TSL_OK;
    }
    size_t i = 0;
    for (const tslp_cbor_node *k = map->child; k != NULL; k = k->next->next)
        w->scratch[i++] = k;
    qsort(w->scratch, n, sizeof w->scratch[0], key_cmp);
    for (i = 1; i < n; i++)
        if (node_cmp(w->scratch[i - 1], w->scratch[i]) == 0)
            return dup_key(w, map, w->scratch[i]);
    return TSL_OK;
}

static tsl_status walk_item(walker *w, size_t depth, tslp_cbor_node **out);

/* Appends child to parent's list (pass 2); tail tracks the last link. */
static void link_child(tslp_cbor_node ***tail, tslp_cbor_node *child)
{
    if (child != NULL) {
        **tail = child;
        *tail = &child->next;
    }
}

/* The chunks of an indefinite string, up to and including the break. */
static tsl_status walk_indef_string(walker *w, tslp_cbor_node *n, bool text, size_t off)
{
    const char *what = text ? "text string" : "byte string";
    size_t total = 0;
    size_t start = w->strpos;
    for (;;) {
        if (w->pos >= w->len)
            return tslp_fail(w->err, TSL_ERR_MALFORMED, w->pos,
                             "cbor: indefinite-length %s at offset %zu has no break", what,
                             off);
        if (w->in[w->pos] == 0xFF) {
            w->pos++;
            break;
        }
        size_t chunk_off = w->pos;
        event e;
        tsl_status s = next_head(w, &e);
        if (s != TSL_OK)
            return s;
        if (e.kind != (text ? EV_TEXT : EV_BYTES))
            return tslp_fail(w->err, TSL_ERR_MALFORMED, chunk_off,
                             "cbor: indefinite-length %s at offset %zu has a chunk at "
                             "offset %zu that is not a definite %s",
                             what, off, chunk_off, what);
        if (text && !w->build && (s = check_text(w, e.p, e.len, chunk_off)) != TSL_OK)
            return s;
        if (w->build && e.len > 0) {
            memcpy(w->strbuf + w->strpos, e.p, e.len);
            w->strpos += e.len;
        }
        total += e.len; /* cannot overflow: the chunks are distinct bytes of the input */
    }
    if (!w->build) {
        w->strbytes += total;
    } else {
        n->str = total > 0 ? w->strbuf + start : NULL;
        n->len = total;
        n->indefinite = true;
    }
    return TSL_OK;
}

/* The items of an array or the pairs of a map, definite (count) or not (until break). */
static tsl_status walk_children(walker *w, tslp_cbor_node *n, bool map, bool indef,
                                uint64_t count, size_t depth, size_t off)
{
    const char *what = map ? "map" : "array";
    tslp_cbor_node **tail = n != NULL ? &n->child : NULL;
    uint64_t got = 0;
    tsl_status s;
    for (;;) {
        if (indef) {
            if (w->pos >= w->len)
                return tslp_fail(w->err, TSL_ERR_MALFORMED, w->pos,
                                 "cbor: indefinite-length %s at offset %zu has no break",
                                 what, off);
            if (w->in[w->pos] == 0xFF) {
                w->pos++;
                break;
            }
        } else if (got == count) {
            break;
        }
        tslp_cbor_node *c = NULL;
        if ((s = walk_item(w, depth + 1, &c)) != TSL_OK)
            return s;
        if (tail != NULL)
            link_child(&tail, c);
        if (map) {
            if (indef && w->pos < w->len && w->in[w->pos] == 0xFF)
                return tslp_fail(w->err, TSL_ERR_MALFORMED, w->pos,
                                 "cbor: map at offset %zu ends at offset %zu after a key "
                                 "without a value",
                                 off, w->pos);
            if ((s = walk_item(w, depth + 1, &c)) != TSL_OK)
                return s;
            if (tail != NULL)
                link_child(&tail, c);
        }
        got++;
    }
    if (map && got > w->max_pairs)
        w->max_pairs = (size_t)got;
    if (n != NULL) {
        n->count = (size_t)got;
        n->indefinite = indef;
        if (map)
            return check_keys(w, n);
    }
    return TSL_OK;
}

/* One item at w->pos, nested inside `depth` containers. */
static tsl_status walk_item(walker *w, size_t depth, tslp_cbor_node **out)
{
    size_t off = w->pos;
    event e;
    tsl_status s = next_head(w, &e);
    if (s != TSL_OK)
        return s;
    if (e.kind == EV_BREAK)
        return tslp_fail(w->err, TSL_ERR_MALFORMED, off,
                         "cbor: break (0xff) at offset %zu outside an indefinite-length "
                         "item",
                         off);
    if (!w->build && ++w->nnodes > TSLP_CBOR_MAX_NODES)
        return tslp_fail(w->err, TSL_ERR_LIMIT, off,
                         "cbor: more than %zu items (at offset %zu)", TSLP_CBOR_MAX_NODES,
                         off);
    bool container = e.kind == EV_ARRAY || e.kind == EV_ARRAY_INDEF || e.kind == EV_MAP ||
                     e.kind == EV_MAP_INDEF || e.kind == EV_TAG;
    if (container && depth + 1 > w->max_depth)
        return tslp_fail(w->err, TSL_ERR_LIMIT, off,
                         "cbor: %s at offset %zu nests deeper than max_depth %zu",
                         e.kind == EV_TAG ? "tag" : e.kind <= EV_ARRAY_INDEF ? "array"
                                                                              : "map",
                         off, w->max_depth);
    size_t left = w->len - w->pos;
    tslp_cbor_node *n = NULL;
    switch (e.kind) {
    case EV_UINT:
    case EV_NEGINT:
        n = new_node(w, e.kind == EV_UINT ? TSLP_CBOR_UINT : TSLP_CBOR_NEGINT, off);
        if (n != NULL)
            n->u = e.u;
        break;
    case EV_BYTES:
    case EV_TEXT:
        /* UTF-8 is checked once, in pass 1; pass 2 walks the same bytes. */
        if (e.kind == EV_TEXT && !w->build) {
            if ((s = check_text(w, e.p, e.len, off)) != TSL_OK)
                return s;
        }
        n = new_node(w, e.kind == EV_BYTES ? TSLP_CBOR_BYTES : TSLP_CBOR_TEXT, off);
        if (n != NULL) {
            n->str = e.len > 0 ? e.p : NULL;
            n->len = e.len;
        }
        break;
    case EV_BYTES_INDEF:
    case EV_TEXT_INDEF:
        n = new_node(w, e.kind == EV_BYTES_INDEF ? TSLP_CBOR_BYTES : TSLP_CBOR_TEXT, off);
        if ((s = walk_indef_string(w, n, e.kind == EV_TEXT_INDEF, off)) != TSL_OK)
            return s;
        break;
    case EV_ARRAY:
    case EV_ARRAY_INDEF:
        /* Every item takes at least one byte: a larger count is a lie, caught here
         * before anything is sized from it. */
        if (e.kind == EV_ARRAY && e.u > left)
            return tslp_fail(w->err, TSL_ERR_MALFORMED, off,
                             "cbor: array at offset %zu declares %llu items, only %zu "
                             "bytes left",
                             off, (unsigned long long)e.u, left);
        n = new_node(w, TSLP_CBOR_ARRAY, off);
        if ((s = walk_children(w, n, false, e.kind == EV_ARRAY_INDEF, e.u, depth, off)) !=
            TSL_OK)
            return s;
        break;
    case EV_MAP:
    case EV_MAP_INDEF:
        /* Every pair takes at least two bytes. */
        if (e.kind == EV_MAP && e.u > left / 2)
            return tslp_fail(w->err, TSL_ERR_MALFORMED, off,
                             "cbor: map at offset %zu declares %llu pairs, only %zu bytes "
                             "left",
                             off, (unsigned long long)e.u, left);
        n = new_node(w, TSLP_CBOR_MAP, off);
        if ((s = walk_children(w, n, true, e.kind == EV_MAP_INDEF, e.u, depth, off)) !=
            TSL_OK)
            return s;
        break;
    case EV_TAG: {
        n = new_node(w, TSLP_CBOR_TAG, off);
        if (w->pos >= w->len)
            return tslp_fail(w->err, TSL_ERR_MALFORMED, w->pos,
                             "cbor: tag %llu at offset %zu has no content",
                             (unsigned long long)e.u, off);
        tslp_cbor_node *c = NULL;
        if ((s = walk_item(w, depth + 1, &c)) != TSL_OK)
            return s;
        if (n != NULL) {
            n->u = e.u;
            n->child = c;
            n->count = 1;
        }
        break;
    }
    case EV_FLOAT:
        n = new_node(w, TSLP_CBOR_FLOAT, off);
        if (n != NULL)
            n->f = e.f;
        break;
    case EV_BOOL:
        n = new_node(w, TSLP_CBOR_BOOL, off);
        if (n != NULL)
            n->b = e.b;
        break;
    case EV_NULL:
        n = new_node(w, TSLP_CBOR_NULL, off);
        break;
    case EV_UNDEF:
        n = new_node(w, TSLP_CBOR_UNDEFINED, off);
        break;
    case EV_NONE:
    case EV_BREAK:
        return explain_bad(w);
    }
    if (n != NULL)
        n->enc_len = w->pos - off;
    *out = n;
    return TSL_OK;
}

/* ---------------------------------------------------------------------------------- */
/* Entry points                                                                         */

void tslp_cbor_free(tslp_cbor_doc *doc)
{
    if (doc == NULL)
        return;
    tslp_free(doc->nodes);
    tslp_free(doc->strbuf);
    tslp_free(doc);
}

tsl_status tslp_cbor_parse(const uint8_t *in, size_t len, const tsl_limits *lim,
                           size_t *consumed, tslp_cbor_doc **out, tsl_error *err)
{
    if (out == NULL || (in == NULL && len > 0))
        return tslp_fail(err, TSL_ERR_ARG, 0, "cbor: NULL input or output");
    tsl_limits l;
    tslp_limits_resolve(lim, &l);
    if (len > l.max_input)
        return tslp_fail(err, TSL_ERR_LIMIT, 0,
                         "cbor: input of %zu bytes exceeds max_input (%zu)", len,
                         l.max_input);
    if (len == 0)
        return tslp_fail(err, TSL_ERR_MALFORMED, 0, "cbor: empty input");

    walker w = {.in = in, .len = len, .max_depth = l.max_depth, .err = err};
    tslp_cbor_node *root = NULL;
    tsl_status s = walk_item(&w, 0, &root);
    if (s != TSL_OK)
        return s;
    size_t end = w.pos;
    if (consumed == NULL && end != len)
        return tslp_fail(err, TSL_ERR_MALFORMED, end,
                         "cbor: %zu byte%s after the item that ends at offset %zu",
                         len - end, len - end == 1 ? "" : "s", end);

    /* Pass 2: everything is known to be well formed; allocate exactly what it needs. */
    tslp_cbor_doc *doc = tslp_calloc(1, sizeof *doc);
    if (doc == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "cbor: out of memory");
    w.nodes = tslp_calloc(w.nnodes, sizeof *w.nodes);
    doc->nodes = w.nodes;
    if (w.nodes == NULL)
        goto nomem;
    if (w.strbytes > 0) {
        w.strbuf = tslp_malloc(w.strbytes);
        doc->strbuf = w.strbuf;
        if (w.strbuf == NULL)
            goto nomem;
    }
    if (w.max_pairs > 8) {
        w.scratch = tslp_calloc(w.max_pairs, sizeof *w.scratch);
        if (w.scratch == NULL)
            goto nomem;
    }
    w.build = true;
    w.pos = 0;
    s = walk_item(&w, 0, &root);
    tslp_free((void *)w.scratch);
    if (s != TSL_OK) {
        tslp_cbor_free(doc);
        return s;
    }
    doc->root = root;
    doc->nnodes = w.used;
    doc->input = in;
    doc->input_len = end;
    if (consumed != NULL)
        *consumed = end;
    *out = doc;
    return TSL_OK;

nomem:
    tslp_cbor_free(doc);
    return tslp_fail(err, TSL_ERR_NOMEM, 0, "cbor: out of memory for %zu items", w.nnodes);
}

/* ---------------------------------------------------------------------------------- */
/* Lookups and typed accessors                                                          */

const char *tslp_cbor_type_name(tslp_cbor_type t)
{
    switch (t) {
    case TSLP_CBOR_UINT: return "unsigned integer";
    case TSLP_CBOR_NEGINT: return "negative integer";
    case TSLP_CBOR_BYTES: return "byte string";
    case TSLP_CBOR_TEXT: return "text string";
    case TSLP_CBOR_ARRAY: return "array";
    case TSLP_CBOR_MAP: return "map";
    case TSLP_CBOR_TAG: return "tag";
    case TSLP_CBOR_BOOL: return "boolean";
    case TSLP_CBOR_NULL: return "null";
    case TSLP_CBOR_UNDEFINED: return "undefined";
    case TSLP_CBOR_FLOAT: return "float";
    }
    return "unknown";
}

const tslp_cbor_node *tslp_cbor_map_get_text(const tslp_cbor_node *map, const char *key)
{
    if (map == NULL || map->type != TSLP_CBOR_MAP || key == NULL)
        return NULL;
    size_t klen = strlen(key);
    for (const tslp_cbor_node *k = map->child; k != NULL; k = k->next->next)
        if (k->type == TSLP_CBOR_TEXT && k->len == klen &&
            (klen == 0 || memcmp(k->str, key, klen) == 0))
            return k->next;
    return NULL;
}

const tslp_cbor_node *tslp_cbor_map_get_int(const tslp_cbor_node *map, int64_t key)
{
    if (map == NULL || map->type != TSLP_CBOR_MAP)
        return NULL;
    /* A negative key -1 - n is stored as NEGINT with argument n. */
    tslp_cbor_type t = key < 0 ? TSLP_CBOR_NEGINT : TSLP_CBOR_UINT;
    uint64_t u = key < 0 ? (uint64_t)(-(key + 1)) : (uint64_t)key;
    for (const tslp_cbor_node *k = map->child; k != NULL; k = k->next->next)
        if (k->type == t && k->u == u)
            return k->next;
    return NULL;
}

const tslp_cbor_node *tslp_cbor_array_get(const tslp_cbor_node *arr, size_t i)
{
    if (arr == NULL || arr->type != TSLP_CBOR_ARRAY || i >= arr->count)
        return NULL;
    const tslp_cbor_node *c = arr->child;
    while (i-- > 0)
        c = c->next;
    return c;
}

bool tslp_cbor_get_uint(const tslp_cbor_node *n, uint64_t *v)
{
    if (n == NULL || n->type != TSLP_CBOR_UINT)
        return false;
    *v = n->u;
    return true;
}

bool tslp_cbor_get_int(const tslp_cbor_node *n, int64_t *v)
{
    if (n == NULL || n->u > (uint64_t)INT64_MAX)
        return false;
    if (n->type == TSLP_CBOR_UINT)
        *v = (int64_t)n->u;
    else if (n->type == TSLP_CBOR_NEGINT)
        *v = -1 - (int64_t)n->u;
    else
        return false;
    return true;
}

bool tslp_cbor_get_bytes(const tslp_cbor_node *n, const uint8_t **p, size_t *len)
{
    if (n == NULL || n->type != TSLP_CBOR_BYTES)
        return false;
    *p = n->str;
    *len = n->len;
    return true;
}

bool tslp_cbor_get_text(const tslp_cbor_node *n, const char **p, size_t *len)
{
    if (n == NULL || n->type != TSLP_CBOR_TEXT)
        return false;
    *p = (const char *)n->str;
    *len = n->len;
    return true;
}

bool tslp_cbor_get_bool(const tslp_cbor_node *n, bool *v)
{
    if (n == NULL || n->type != TSLP_CBOR_BOOL)
        return false;
    *v = n->b;
    return true;
}

tsl_status tslp_cbor_expect(const tslp_cbor_node *n, tslp_cbor_type t, const char *what,
                            tsl_error *err)
{
    if (n->type == t)
        return TSL_OK;
    return tslp_fail(err, TSL_ERR_MALFORMED, n->offset, "%s: %s, expected %s", what,
                     tslp_cbor_type_name(n->type), tslp_cbor_type_name(t));
}
