/* fuzz_jwt.c - libFuzzer target for the JWT Status List Token parser: the input is a
 * compact JWS. A token that parses is verified, rendered and queried (fuzz_token.h). */
#include "fuzz_token.h"

#define FUZZ_MAX_INFLATED ((size_t)1 << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tsl_limits lim = {.max_inflated = FUZZ_MAX_INFLATED};
    tsl_token *t = NULL;
    tsl_error err;
    tsl_error_clear(&err);
    tsl_status st = tsl_token_parse(data, size, &lim, &t, &err);
    if (st != TSL_OK) {
        fuzz_check_failure(st, &err);
        if (t != NULL)
            abort();
        return 0;
    }
    fuzz_exercise(t);
    tsl_token_free(t);
    return 0;
}
