/* cbor_int.h - the bounded CBOR reader and the StatusList CBOR map, for libtsl's own
 * use; never installed.
 *
 * The reader turns untrusted CBOR into a small read-only tree without ever allocating
 * from a declared length: every declared string, array or map length is checked
 * against the bytes actually left before it is believed, and the tree is allocated in
 * one block whose size is known only after a first pass has validated the whole input.
 * Definite strings point into the caller's input (no copy), so the input must outlive
 * the document.
 *
 * What the reader accepts (RFC 8949, well-formed and "valid" in its section 5.3 sense):
 * - every major type; integers up to 64 bits; half, single and double floats;
 *   false, true, null, undefined. Other simple values (0-19, 32-255) are rejected,
 *   as libcbor 0.8 does.
 * - tags of any number, each wrapping one item (counts as one nesting level).
 * - indefinite-length arrays, maps and strings. The chunks of an indefinite string must
 *   be definite strings of the same major type; they are concatenated into one
 *   document-owned buffer whose total size is at most the input size. Each text chunk
 *   must be valid UTF-8 on its own.
 * What it rejects, all TSL_ERR_MALFORMED unless said otherwise:
 * - a declared length larger than the bytes left (before anything is allocated);
 * - truncation, reserved additional-information values, a stray break;
 * - invalid UTF-8 in a text string (overlong forms, surrogates, > U+10FFFF);
 * - duplicate map keys (same type and value: 1 and 0x18 0x01 are the same key);
 * - bytes after the top-level item, unless the caller asks for the count consumed;
 * - input longer than max_input, nesting deeper than max_depth, and more than
 *   TSLP_CBOR_MAX_NODES items: TSL_ERR_LIMIT.
 * Nesting depth counts open containers: arrays, maps and tags. A scalar at the top has
 * depth 0, [1] has depth 1, {"a": [1]} has depth 2. */
#ifndef TSL_CBOR_INT_H
#define TSL_CBOR_INT_H

#include "core/tsl_int.h"

typedef enum {
    TSLP_CBOR_UINT,      /* major type 0: u */
    TSLP_CBOR_NEGINT,    /* major type 1: the value is -1 - u */
    TSLP_CBOR_BYTES,     /* major type 2: str, len */
    TSLP_CBOR_TEXT,      /* major type 3: str, len (valid UTF-8, not NUL-terminated) */
    TSLP_CBOR_ARRAY,     /* major type 4: count items from child via next */
    TSLP_CBOR_MAP,       /* major type 5: count pairs; child = key 1, key->next = value
                          * 1, value->next = key 2, ... */
    TSLP_CBOR_TAG,       /* major type 6: u is the tag number, child the tagged item */
    TSLP_CBOR_BOOL,      /* b */
    TSLP_CBOR_NULL,
    TSLP_CBOR_UNDEFINED,
    TSLP_CBOR_FLOAT      /* f (half and single floats widened) */
} tslp_cbor_type;

typedef struct tslp_cbor_node tslp_cbor_node;
struct tslp_cbor_node {
    tslp_cbor_type type;
    bool indefinite;       /* encoded with indefinite length (strings, arrays, maps) */
    bool b;                /* BOOL */
    size_t offset;         /* of the item's first byte in the input (a tag: its head) */
    size_t enc_len;        /* bytes of the whole encoded item, children included: the
                            * exact encoding is input[offset .. offset + enc_len) */
    uint64_t u;            /* UINT, NEGINT (argument), TAG (number) */
    double f;              /* FLOAT */
    const uint8_t *str;    /* BYTES, TEXT: into the input, or into the document's
                            * buffer for an indefinite string; NULL when len is 0 */
    size_t len;            /* BYTES, TEXT: length in bytes */
    size_t count;          /* ARRAY: items; MAP: pairs; TAG: 1 */
    tslp_cbor_node *child; /* ARRAY, MAP, TAG: the first child, or NULL */
    tslp_cbor_node *next;  /* the next sibling inside the parent, or NULL */
};

/* A parsed document: owns the nodes and the indefinite-string buffer, borrows the
 * input. */
typedef struct {
    tslp_cbor_node *root;
    tslp_cbor_node *nodes; /* nnodes nodes in one block, root first (pre-order) */
    size_t nnodes;
    uint8_t *strbuf;       /* concatenated indefinite strings, or NULL */
    const uint8_t *input;
    size_t input_len;      /* bytes of the item (== consumed) */
} tslp_cbor_doc;

/* Parses one CBOR item from in[0..len). With consumed NULL, bytes after the item are
 * TSL_ERR_MALFORMED; otherwise *consumed receives the item's length and the rest is
 * left for the caller (a sequence, or a container format of its own). *out is set on
 * TSL_OK only; free it with tslp_cbor_free(). lim may be NULL (the defaults).
 * Errors: TSL_ERR_ARG, TSL_ERR_LIMIT, TSL_ERR_MALFORMED, TSL_ERR_NOMEM; every message
 * starts "cbor: " and names the item and its offset. */
tsl_status tslp_cbor_parse(const uint8_t *in, size_t len, const tsl_limits *lim,
                           size_t *consumed, tslp_cbor_doc **out, tsl_error *err);

/* Frees doc and its nodes (not the input). NULL is fine. */
void tslp_cbor_free(tslp_cbor_doc *doc);

/* A static name for a type, for messages: "unsigned integer", "byte string", ... */
const char *tslp_cbor_type_name(tslp_cbor_type t);

/* The value for a text-string key in a MAP node, or NULL when absent (or n is not a
 * map). key is NUL-terminated and compared byte for byte. */
const tslp_cbor_node *tslp_cbor_map_get_text(const tslp_cbor_node *map, const char *key);

/* The value for an integer key (UINT or NEGINT) in a MAP node, or NULL. */
const tslp_cbor_node *tslp_cbor_map_get_int(const tslp_cbor_node *map, int64_t key);

/* Item i of an ARRAY node, or NULL when i >= count. Walks the siblings: O(i). */
const tslp_cbor_node *tslp_cbor_array_get(const tslp_cbor_node *arr, size_t i);

/* Typed accessors: true and *v set when n is non-NULL and of the type (and, for
 * get_int, the value fits in an int64_t); false and *v untouched otherwise. */
bool tslp_cbor_get_uint(const tslp_cbor_node *n, uint64_t *v);
bool tslp_cbor_get_int(const tslp_cbor_node *n, int64_t *v);
bool tslp_cbor_get_bytes(const tslp_cbor_node *n, const uint8_t **p, size_t *len);
bool tslp_cbor_get_text(const tslp_cbor_node *n, const char **p, size_t *len);
bool tslp_cbor_get_bool(const tslp_cbor_node *n, bool *v);

/* Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF.
 * Returns the index of the first bad byte, or n when all of s[0..n) is valid. */
size_t tslp_utf8_check(const uint8_t *s, size_t n);

/* Checks that n has type t; otherwise fails with TSL_ERR_MALFORMED at n's offset and
 * the message "<what>: <n's type>, expected <t>", e.g. "lst: text string, expected
 * byte string". n must not be NULL. */
tsl_status tslp_cbor_expect(const tslp_cbor_node *n, tslp_cbor_type t, const char *what,
                            tsl_error *err);

/* ---------------------------------------------------------------------------------- */
/* The StatusList map (spec section 4.3), shared with the CWT code (claim 65533)        */

/* Encodes the StatusList map of l, whose packed bytes are already compressed into
 * z[0..zlen), into buf[0..cap): {"bits": B, "lst": z[, "aggregation_uri": U]}, keys in
 * that order. *len receives the bytes written, or with buf NULL (cap ignored) the
 * bytes needed. A cap smaller than needed is TSL_ERR_BUFFER with *len set to the size
 * needed and nothing written. An aggregation_uri that is not valid UTF-8 (a CBOR text
 * string must be) is TSL_ERR_ARG. */
tsl_status tslp_statuslist_cbor_write(const tsl_list *l, const uint8_t *z, size_t zlen,
                                      uint8_t *buf, size_t cap, size_t *len,
                                      tsl_error *err);

/* Builds a list from an already-parsed StatusList map node (the rules of
 * tsl_list_from_cbor()); inflates lst within lim. Offsets in errors are those of the
 * nodes, so they point into the document the node came from. */
tsl_status tslp_statuslist_from_node(const tslp_cbor_node *map, const tsl_limits *lim,
                                     tsl_list **out, tsl_error *err);

#endif /* TSL_CBOR_INT_H */
