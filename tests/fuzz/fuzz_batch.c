/* fuzz_batch.c - libFuzzer target for the update-file parser: the input is split into
 * lines and fed to tsl_batch_add_line for a list whose bits and size come from the first
 * two bytes; the batch is then applied with INVALID final (and without it when the
 * first byte's bit 2 is set). Aborts when a failure lacks its code or a message naming
 * the line, when an accepted item breaks the list's bounds, when a failed apply changes
 * the list, or when the (normalised) apply disagrees with the plain in-order application
 * of the items: another result, another failing item or index. */
#include "tsl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    static const unsigned bitsv[4] = {1, 2, 4, 8};
    unsigned bits = bitsv[data[0] & 3];
    int final = (data[0] & 4) == 0;
    uint64_t n = (uint64_t)data[1] * 37 + 1;
    data += 2;
    size -= 2;
    tsl_batch *b = NULL;
    tsl_list *l = NULL;
    if (tsl_batch_new(bits, n, &b, NULL) != TSL_OK || tsl_list_new(bits, n, &l, NULL) != TSL_OK)
        abort();
    uint64_t line = 0;
    size_t k = 0;
    while (k <= size) {
        const uint8_t *nl = memchr(data + k, '\n', size - k);
        size_t end = nl ? (size_t)(nl - data) : size;
        tsl_error err;
        tsl_error_clear(&err);
        tsl_status st = tsl_batch_add_line(b, (const char *)data + k, end - k, ++line, &err);
        if (st != TSL_OK && (err.code != st || strncmp(err.msg, "line ", 5) != 0))
            abort();
        k = end + 1;
        if (nl == NULL)
            break;
    }
    const tsl_batch_item *it = tsl_batch_items(b);
    for (size_t i = 0; i < tsl_batch_count(b); i++)
        if (it[i].first > it[i].last || it[i].last >= n || it[i].value >> bits)
            abort();
    /* Seed some INVALID entries so that finality is exercised. */
    for (uint64_t i = 0; i < n; i += 7)
        tsl_list_set(l, i, 1, NULL);
    size_t len;
    const uint8_t *bytes = tsl_list_bytes(l, &len);
    uint8_t *before = malloc(len + 1);
    memcpy(before, bytes, len);
    /* The reference: item after item on a copy, INVALID final checked against the
     * list as it evolves; the first offending item fails at its lowest INVALID index. */
    uint8_t *want = malloc(len + 1);
    memcpy(want, bytes, len);
    tsl_list *ref = NULL;
    if (tsl_list_new(bits, n, &ref, NULL) != TSL_OK)
        abort();
    for (uint64_t i = 0; i < n; i++) {
        unsigned v;
        tsl_list_get(l, i, &v, NULL);
        tsl_list_set(ref, i, v, NULL);
    }
    long fail_item = -1;
    uint64_t fail_at = 0;
    for (size_t i = 0; fail_item < 0 && i < tsl_batch_count(b); i++) {
        if (final && it[i].value != 1)
            for (uint64_t e = it[i].first; e <= it[i].last; e++) {
                unsigned v;
                tsl_list_get(ref, e, &v, NULL);
                if (v == 1) {
                    fail_item = (long)i;
                    fail_at = e;
                    break;
                }
            }
        if (fail_item < 0)
            tsl_list_set_range(ref, it[i].first, it[i].last, it[i].value, NULL);
    }
    if (fail_item < 0)
        memcpy(want, tsl_list_bytes(ref, &len), len);
    tsl_list_free(ref);
    tsl_error err;
    tsl_error_clear(&err);
    tsl_status st = tsl_batch_apply(b, l, final, &err);
    bytes = tsl_list_bytes(l, &len);
    if (st != TSL_OK && (err.code != st || memcmp(before, bytes, len) != 0))
        abort();
    if ((st == TSL_OK) != (fail_item < 0) || memcmp(want, bytes, len) != 0)
        abort();
    if (fail_item >= 0) {
        char idx[48];
        snprintf(idx, sizeof idx, "index %llu is INVALID", (unsigned long long)fail_at);
        if (err.offset != (size_t)fail_item || strstr(err.msg, idx) == NULL)
            abort();
    }
    free(want);
    free(before);
    tsl_list_free(l);
    tsl_batch_free(b);
    return 0;
}
