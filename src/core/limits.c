/* limits.c - defaults and ceilings for every bound on untrusted input. */
#include "core/tsl_int.h"

void tsl_limits_default(tsl_limits *lim)
{
    if (lim == NULL)
        return;
    lim->max_input = TSL_DEFAULT_MAX_INPUT;
    lim->max_inflated = TSL_DEFAULT_MAX_INFLATED;
    lim->max_depth = TSL_DEFAULT_MAX_DEPTH;
}

static size_t pick(size_t v, size_t dflt, size_t ceiling)
{
    if (v == 0)
        return dflt;
    return v > ceiling ? ceiling : v;
}

void tslp_limits_resolve(const tsl_limits *lim, tsl_limits *out)
{
    tsl_limits d;
    tsl_limits_default(&d);
    if (lim == NULL) {
        *out = d;
        return;
    }
    out->max_input = pick(lim->max_input, d.max_input, TSL_MAX_INPUT_CEILING);
    out->max_inflated = pick(lim->max_inflated, d.max_inflated, TSL_MAX_INFLATED_CEILING);
    out->max_depth = pick(lim->max_depth, d.max_depth, TSL_MAX_DEPTH_CEILING);
}
