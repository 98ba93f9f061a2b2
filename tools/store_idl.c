/* store_idl.c - the identifier side of a stored identifier list (formats idlist) for
 * `tsl alloc` (prints identifiers, hex, instead of indices) and `tsl set` (takes an
 * identifier where an index would go). */
#include "store_cli.h"

#include <stdlib.h>
#include <string.h>

int store_cli_idl_print(const char *cmd, tsl_store *st, const char *list, const uint64_t *idx,
                        uint64_t n, bool *printed)
{
    *printed = false;
    tsl_list_info info;
    tsl_error err;
    tsl_error_clear(&err);
    if (tsl_store_list_info(st, list, &info, &err) != TSL_OK)
        return EXIT_OK; /* the caller prints indices */
    bool idl = info.formats == TSL_PUBLISH_IDLIST;
    tsl_list_info_free(&info);
    if (!idl)
        return EXIT_OK;
    /* n is at most the list's size (alloc's output), 2^36: n * 64 fits. */
    size_t len = 0, cap = (size_t)n * TSL_STORE_ID_MAX;
    uint8_t *ids = malloc(cap + 1);
    if (ids == NULL) {
        cli_err(cmd, "out of memory");
        return EXIT_USAGE;
    }
    tsl_status s = tsl_store_list_identifiers(st, list, idx, (size_t)n, ids, cap, &len, &err);
    if (s != TSL_OK) {
        free(ids);
        return cli_fail(cmd, &err, s);
    }
    for (uint64_t k = 0; k < n; k++) {
        for (size_t b = 0; b < len; b++)
            printf("%02x", ids[k * len + b]);
        printf("\n");
    }
    free(ids);
    *printed = true;
    return EXIT_OK;
}

bool store_cli_idl_long(const char *s)
{
    return strlen(s) >= 2 * TSL_STORE_ID_MIN;
}

int store_cli_idl_index(const char *cmd, tsl_store *st, const char *list, const char *hex,
                        uint64_t *idx)
{
    /* The list's own length: a string of another is not one of its identifiers. */
    tsl_error err;
    tsl_error_clear(&err);
    size_t len = 0;
    tsl_status s = tsl_store_list_identifiers(st, list, NULL, 0, NULL, 0, &len, &err);
    /* Not an identifier list: a long number is an index after all (out of range, said
     * by the caller's read), anything else is no index. */
    if (s == TSL_ERR_ARG && cli_parse_u64(hex, idx))
        return EXIT_OK;
    if (s == TSL_ERR_ARG) {
        cli_err(cmd, "\"%.40s\" is not an index (a decimal number)", hex);
        return EXIT_REJECT;
    }
    if (s != TSL_OK)
        return cli_fail(cmd, &err, s);
    uint8_t id[TSL_STORE_ID_MAX];
    if (strlen(hex) != 2 * len || strspn(hex, "0123456789abcdefABCDEF") != 2 * len) {
        cli_err(cmd, "\"%.40s\" is neither an index nor a %zu-byte identifier in hex", hex,
                len);
        return EXIT_REJECT;
    }
    for (size_t b = 0; b < len; b++) {
        char two[3] = {hex[2 * b], hex[2 * b + 1], 0};
        id[b] = (uint8_t)strtoul(two, NULL, 16);
    }
    s = tsl_store_identifier_index(st, list, id, len, idx, &err);
    return s == TSL_OK ? EXIT_OK : cli_fail(cmd, &err, s);
}
