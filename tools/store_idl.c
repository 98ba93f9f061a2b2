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
    uint8_t *ids = malloc(n * TSL_STORE_ID_BYTES + 1);
    if (ids == NULL) {
        cli_err(cmd, "out of memory");
        return EXIT_USAGE;
    }
    tsl_status s = tsl_store_identifiers(st, list, idx, (size_t)n, ids, &err);
    if (s != TSL_OK) {
        free(ids);
        return cli_fail(cmd, &err, s);
    }
    for (uint64_t k = 0; k < n; k++) {
        for (int b = 0; b < TSL_STORE_ID_BYTES; b++)
            printf("%02x", ids[k * TSL_STORE_ID_BYTES + (uint64_t)b]);
        printf("\n");
    }
    free(ids);
    *printed = true;
    return EXIT_OK;
}

int store_cli_idl_index(const char *cmd, tsl_store *st, const char *list, const char *hex,
                        uint64_t *idx)
{
    uint8_t id[TSL_STORE_ID_BYTES];
    if (strlen(hex) != 2 * TSL_STORE_ID_BYTES ||
        strspn(hex, "0123456789abcdefABCDEF") != 2 * TSL_STORE_ID_BYTES) {
        cli_err(cmd, "\"%.40s\" is neither an index nor a %d-byte identifier in hex", hex,
                TSL_STORE_ID_BYTES);
        return EXIT_REJECT;
    }
    for (int b = 0; b < TSL_STORE_ID_BYTES; b++) {
        char two[3] = {hex[2 * b], hex[2 * b + 1], 0};
        id[b] = (uint8_t)strtoul(two, NULL, 16);
    }
    tsl_error err;
    tsl_error_clear(&err);
    tsl_status s = tsl_store_identifier_index(st, list, id, sizeof id, idx, &err);
    return s == TSL_OK ? EXIT_OK : cli_fail(cmd, &err, s);
}
