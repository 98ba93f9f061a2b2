/* fuzz_cwt.c - libFuzzer target for the CWT Status List Token parser: the input is
 * COSE bytes, handed to the CWT parser directly so that every input reaches it (the
 * public entry point would read text as a JWT). A token that parses is verified,
 * rendered and queried (fuzz_token.h). */
#include "fuzz_token.h"

#define FUZZ_MAX_INFLATED ((size_t)1 << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tsl_limits lim = {.max_inflated = FUZZ_MAX_INFLATED};
    tsl_token *t = calloc(1, sizeof *t);
    if (t == NULL)
        return 0;
    tsl_error err;
    tsl_error_clear(&err);
    tsl_status st = tslp_cwt_parse(t, data, size, &lim, &err);
    if (st != TSL_OK)
        fuzz_check_failure(st, &err);
    else
        fuzz_exercise(t);
    tsl_token_free(t);
    return 0;
}
