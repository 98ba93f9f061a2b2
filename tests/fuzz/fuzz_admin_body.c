/* fuzz_admin_body.c - libFuzzer target for the issuer API's request parsers (src/admin/
 * body.c): the first byte picks one, the second the list's bits and size, the rest is
 * the body or query. 0: the JSON change array, 1: the text lines, 2: {"count"}, 3:
 * {"status"}, 4: a new list's settings, 5: a query string and an idx list, 6: the JSON
 * change array of an identifier list (8-byte ids, a fixed key). Aborts when a
 * refusal lacks its status, class or detail, when its problem body is not valid JSON
 * naming the class, or when an accepted change breaks the list's bounds. */
#include "admin/admin_int.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_refusal(const tslp_refusal *r)
{
    if ((r->status != 400 && r->status != 413 && r->status != 500) || r->cls == NULL ||
        r->detail[0] == '\0' || memchr(r->detail, '\0', sizeof r->detail) == NULL)
        abort();
    tsl_admin_response out;
    tslp_admin_response_init(&out);
    tslp_admin_problem(&out, r);
    json_t *j = out.body != NULL ? json_loadb(out.body, out.body_len, 0, NULL) : NULL;
    if (j == NULL || out.status != r->status ||
        strncmp(json_string_value(json_object_get(j, "type")), "urn:tsl:problem:", 16) != 0)
        abort();
    json_decref(j);
    tsl_admin_response_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    static const unsigned bitsv[4] = {1, 2, 4, 8};
    unsigned which = data[0] % 7, bits = bitsv[data[1] & 3];
    uint64_t n = (uint64_t)(data[1] >> 2) * 97 + 1;
    data += 2;
    size -= 2;
    tslp_refusal r;
    memset(&r, 0, sizeof r);
    bool ok = true;
    if (which <= 1 || which == 6) {
        static tslp_idl_perm perm;
        static const uint8_t key[TSLP_PERM_KEY_BYTES] = {1, 2, 3};
        if (which == 6 && perm.aes == NULL && tslp_idl_perm_init(&perm, key, 8, NULL) != TSL_OK)
            abort();
        tsl_batch *b = NULL;
        if (tsl_batch_new(bits, n, &b, NULL) != TSL_OK)
            abort();
        ok = which == 1 ? tslp_body_changes_text(data, size, 64, b, &r)
                        : tslp_body_changes_json(data, size, bits, n, which == 6 ? &perm : NULL,
                                                 64, b, &r);
        const tsl_batch_item *it = tsl_batch_items(b);
        if (ok && (tsl_batch_count(b) == 0 || tsl_batch_count(b) > 64))
            abort();
        for (size_t k = 0; ok && k < tsl_batch_count(b); k++)
            if (it[k].first > it[k].last || it[k].last >= n || (bits < 8 && it[k].value >> bits))
                abort();
        tsl_batch_free(b);
    } else if (which == 2) {
        uint64_t count = 0;
        ok = tslp_body_count(data, size, &count, &r);
        if (ok && (count < 1 || count > TSL_ALLOC_MAX_PER_OP))
            abort();
    } else if (which == 3) {
        unsigned v = 0;
        ok = tslp_body_status(data, size, &v, &r);
        if (ok && v > 255)
            abort();
    } else if (which == 4) {
        tsl_list_spec spec;
        void *owner = NULL;
        ok = tslp_body_list_spec(data, size, &spec, &owner, &r);
        if (ok && (spec.id == NULL || spec.uri == NULL || spec.key_path == NULL ||
                   (spec.id_bytes != 0 && (spec.id_bytes < TSL_STORE_ID_MIN ||
                                           spec.id_bytes > TSL_STORE_ID_MAX))))
            abort();
        tslp_body_spec_free(owner);
    } else {
        char *q = malloc(size + 1);
        memcpy(q, data, size);
        q[size] = '\0';
        tslp_query *qs = malloc(sizeof *qs);
        ok = tslp_query_parse(q, qs, &r);
        if (ok) {
            bool bv;
            uint64_t uv;
            const char *idx = tslp_query_get(qs, "idx");
            uint64_t list[TSLP_ADMIN_MAX_IDX];
            size_t cnt;
            if (!tslp_query_bool(qs, "wait", false, &bv, &r))
                check_refusal(&r);
            if (!tslp_query_u64(qs, "limit", 1, 1000, 100, &uv, &r))
                check_refusal(&r);
            else if (uv < 1 || uv > 1000)
                abort();
            if (idx != NULL && !tslp_idx_list(idx, list, TSLP_ADMIN_MAX_IDX, &cnt, &r))
                check_refusal(&r);
            ok = true;
        }
        free(qs);
        free(q);
    }
    if (!ok)
        check_refusal(&r);
    return 0;
}
