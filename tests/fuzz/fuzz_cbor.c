/* fuzz_cbor.c - libFuzzer target for the bounded CBOR reader (tslp_cbor_parse) and the
 * StatusList CBOR decoder (tsl_list_from_cbor).
 *
 * 1. The input goes through tsl_list_from_cbor() with max_inflated 1 MiB. A list that
 *    decodes is re-encoded with tsl_list_to_cbor(TSL_LEVEL_FAST) and decoded again; the
 *    two lists must agree in bits, size, packed bytes and aggregation_uri.
 * 2. The input goes through the raw reader as a CBOR sequence (item after item). For
 *    every tree it builds: each node's encoding lies inside its parent's, definite
 *    strings point inside their own encoding, counts match the children, and the
 *    encoding of every node, parsed on its own, succeeds with the same length and the
 *    same number of nodes (what the CWT code relies on when it re-reads the protected
 *    header's bytes).
 * Aborted on: a failure without its own code and message in tsl_error, TSL_ERR_ARG
 * (the arguments are always valid), an output set on failure, or a broken invariant. */
#include "fuzz_common.h"
#include "codec/cbor_int.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_MAX_INFLATED ((size_t)1 << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void statuslist(const uint8_t *data, size_t size, const tsl_limits *lim)
{
    tsl_list *a = NULL;
    tsl_error err;
    tsl_error_clear(&err);
    tsl_status st = tsl_list_from_cbor(data, size, lim, &a, &err);
    if (st != TSL_OK) {
        fuzz_check_failure(st, &err);
        if (a != NULL)
            abort();
        return;
    }
    if (!tslp_bits_ok(tsl_list_bits(a)))
        abort();

    uint8_t *enc = NULL;
    size_t enc_len = 0;
    tsl_error_clear(&err);
    st = tsl_list_to_cbor(a, TSL_LEVEL_FAST, &enc, &enc_len, &err);
    if (st == TSL_ERR_NOMEM) {
        tsl_list_free(a);
        return;
    }
    if (st != TSL_OK || enc == NULL)
        abort();
    tsl_list *b = NULL;
    tsl_error_clear(&err);
    st = tsl_list_from_cbor(enc, enc_len, lim, &b, &err);
    if (st != TSL_OK && st != TSL_ERR_NOMEM)
        abort(); /* what we wrote, we must read back */
    if (st == TSL_OK && !fuzz_same_list(a, b))
        abort();
    tsl_list_free(b);
    tsl_free(enc);
    tsl_list_free(a);
}

/* Checks n and its subtree; returns the number of nodes in it. */
static size_t check_node(const tslp_cbor_node *n, const uint8_t *base, size_t lo, size_t hi,
                         const tsl_limits *lim)
{
    if (n == NULL || n->enc_len == 0 || n->offset < lo || n->offset > hi ||
        n->enc_len > hi - n->offset)
        abort();
    size_t end = n->offset + n->enc_len;
    if ((n->type == TSLP_CBOR_BYTES || n->type == TSLP_CBOR_TEXT) && !n->indefinite &&
        n->len > 0 &&
        (n->str < base + n->offset || n->str + n->len != base + end))
        abort();
    if ((n->str == NULL) != (n->len == 0))
        abort();
    size_t total = 1, kids = 0;
    for (const tslp_cbor_node *c = n->child; c != NULL; c = c->next) {
        total += check_node(c, base, n->offset + 1, end, lim);
        kids++;
    }
    size_t want = n->type == TSLP_CBOR_MAP ? 2 * n->count
                  : n->type == TSLP_CBOR_ARRAY || n->type == TSLP_CBOR_TAG ? n->count
                                                                          : 0;
    if (kids != want)
        abort();

    /* The node's own encoding stands alone. */
    tslp_cbor_doc *sub = NULL;
    tsl_error err;
    tsl_error_clear(&err);
    tsl_status st = tslp_cbor_parse(base + n->offset, n->enc_len, lim, NULL, &sub, &err);
    if (st == TSL_ERR_NOMEM)
        return total;
    if (st != TSL_OK || sub->nnodes != total || sub->root->enc_len != n->enc_len ||
        sub->root->type != n->type)
        abort();
    tslp_cbor_free(sub);
    return total;
}

static void raw(const uint8_t *data, size_t size, const tsl_limits *lim)
{
    size_t pos = 0;
    while (pos < size) {
        tslp_cbor_doc *doc = NULL;
        size_t used = 0;
        tsl_error err;
        tsl_error_clear(&err);
        tsl_status st = tslp_cbor_parse(data + pos, size - pos, lim, &used, &doc, &err);
        if (st != TSL_OK) {
            fuzz_check_failure(st, &err);
            if (doc != NULL || err.offset > size - pos)
                abort();
            return;
        }
        if (used == 0 || used > size - pos || doc->input_len != used ||
            doc->root->offset != 0 || doc->root->enc_len != used)
            abort();
        if (check_node(doc->root, data + pos, 0, used, lim) != doc->nnodes)
            abort();
        tslp_cbor_free(doc);
        pos += used;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tsl_limits lim;
    tsl_limits_default(&lim);
    lim.max_inflated = FUZZ_MAX_INFLATED;
    statuslist(data, size, &lim);
    raw(data, size, &lim);
    return 0;
}
