/* fuzz_json.c - libFuzzer target for the StatusList JSON decoder (tsl_list_from_json).
 *
 * The input is parsed as a StatusList JSON object with max_inflated 1 MiB. A list that
 * decodes is re-encoded with tsl_list_to_json(TSL_LEVEL_FAST) and decoded again; the
 * round-trip oracle aborts if the two lists differ in bits, size, packed bytes or
 * aggregation_uri. Also aborted on: a failure that does not record its own code and a
 * message in tsl_error, TSL_ERR_ARG (the arguments are always valid), *out set on
 * failure, or a JSON text whose reported length disagrees with its NUL. */
#include "fuzz_common.h"
#include "tsl.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_MAX_INFLATED ((size_t)1 << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tsl_limits lim;
    tsl_limits_default(&lim);
    lim.max_inflated = FUZZ_MAX_INFLATED;

    tsl_list *a = NULL;
    tsl_error err;
    tsl_error_clear(&err);
    tsl_status st = tsl_list_from_json((const char *)data, size, &lim, &a, &err);
    if (st != TSL_OK) {
        fuzz_check_failure(st, &err);
        if (a != NULL)
            abort();
        return 0;
    }
    unsigned bits = tsl_list_bits(a);
    if (bits != 1 && bits != 2 && bits != 4 && bits != 8)
        abort();

    char *json = NULL;
    size_t json_len = 0;
    tsl_error_clear(&err);
    st = tsl_list_to_json(a, TSL_LEVEL_FAST, &json, &json_len, &err);
    if (st == TSL_ERR_NOMEM) {
        tsl_list_free(a);
        return 0;
    }
    if (st != TSL_OK || json == NULL || json[json_len] != '\0' || strlen(json) != json_len)
        abort();

    tsl_list *b = NULL;
    tsl_error_clear(&err);
    st = tsl_list_from_json(json, json_len, &lim, &b, &err);
    if (st != TSL_OK && st != TSL_ERR_NOMEM)
        abort(); /* what we wrote, we must read back */
    if (st == TSL_OK && !fuzz_same_list(a, b))
        abort();

    tsl_list_free(b);
    tsl_free(json);
    tsl_list_free(a);
    return 0;
}
