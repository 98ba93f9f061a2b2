/* alg.c - the algorithm table: JOSE names and COSE identifiers of the algorithms we
 * sign and verify with. "none" is not in it, so it maps to TSL_ALG_UNKNOWN. */
#include "core/tsl_int.h"

#include <string.h>

static const struct {
    tsl_alg alg;
    const char *name;
    int64_t cose;
} algs[] = {
    {TSL_ALG_ES256, "ES256", -7},   {TSL_ALG_ES384, "ES384", -35},
    {TSL_ALG_ES512, "ES512", -36},  {TSL_ALG_EDDSA, "EdDSA", -8},
    {TSL_ALG_RS256, "RS256", -257}, {TSL_ALG_RS384, "RS384", -258},
    {TSL_ALG_RS512, "RS512", -259}, {TSL_ALG_PS256, "PS256", -37},
    {TSL_ALG_PS384, "PS384", -38},  {TSL_ALG_PS512, "PS512", -39},
    {TSL_ALG_HS256, "HS256", 5},
};

#define NALGS (sizeof algs / sizeof algs[0])

const char *tsl_alg_name(tsl_alg alg)
{
    for (size_t i = 0; i < NALGS; i++)
        if (algs[i].alg == alg)
            return algs[i].name;
    return NULL;
}

tsl_alg tsl_alg_from_name(const char *name)
{
    if (name == NULL)
        return TSL_ALG_UNKNOWN;
    for (size_t i = 0; i < NALGS; i++)
        if (strcmp(algs[i].name, name) == 0)
            return algs[i].alg;
    return TSL_ALG_UNKNOWN;
}

int64_t tsl_alg_cose_id(tsl_alg alg)
{
    for (size_t i = 0; i < NALGS; i++)
        if (algs[i].alg == alg)
            return algs[i].cose;
    return 0;
}

tsl_alg tsl_alg_from_cose_id(int64_t id)
{
    if (id == 0)
        return TSL_ALG_UNKNOWN;
    for (size_t i = 0; i < NALGS; i++)
        if (algs[i].cose == id)
            return algs[i].alg;
    return TSL_ALG_UNKNOWN;
}
