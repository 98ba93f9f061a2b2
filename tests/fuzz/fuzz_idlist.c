/* fuzz_idlist.c - libFuzzer target for the identifier-list parser (src/token/idlist.c):
 * the input goes to tsl_idlist_parse(); a list that parses is verified (no key: the
 * check must fail cleanly), rendered as JSON and queried with ids taken from the input,
 * so that the walker, the sorted index and the figures all see every input. */
#include "tsl.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tsl_limits lim;
    tsl_limits_default(&lim);
    lim.max_input = (size_t)1 << 20;
    tsl_idlist *l = NULL;
    tsl_error err;
    tsl_error_clear(&err);
    tsl_status st = tsl_idlist_parse(data, size, &lim, &l, &err);
    if (st != TSL_OK) {
        /* A refusal always says what is wrong. */
        if (err.msg[0] == '\0')
            abort();
        return 0;
    }
    tsl_verify_opts vo;
    memset(&vo, 0, sizeof vo);
    if (tsl_idlist_verify(l, &vo, NULL, 0, &err) == TSL_OK)
        abort(); /* nothing to verify with: never accepted */
    char *json = NULL;
    if (tsl_idlist_to_json(l, &json, NULL) == TSL_OK)
        tsl_free(json);
    for (size_t k = 0; k + 16 <= size && k < 256; k += 16)
        (void)tsl_idlist_contains(l, data + k, 16);
    (void)tsl_idlist_contains(l, data, size < 128 ? size : 128);
    (void)tsl_idlist_count(l);
    tsl_idlist_free(l);
    return 0;
}
