/* limits.c - defaults and ceilings for every bound on untrusted input. */
#include "core/tsl_int.h"

void tsl_limits_default(tsl_limits *lim)
{
    if (lim == NULL)
        return;
    lim->max_input = TSL_DEFAULT_MAX_INPUT;
    lim->max_inflated = TSL_DEFAULT_MAX_INFLATED;
    lim->max_depth = TSL_DEFAULT_MAX_DEPTH;
    lim->max_entries = TSL_DEFAULT_MAX_ENTRIES;
    lim->max_x5c = TSL_DEFAULT_MAX_X5C;
    lim->max_disclosures = TSL_DEFAULT_MAX_DISCLOSURES;
    lim->max_uri = TSL_DEFAULT_MAX_URI;
}

static size_t pick(size_t v, size_t dflt, size_t ceiling)
{
    if (v == 0)
        return dflt;
    return v > ceiling ? ceiling : v;
}

static uint64_t pick64(uint64_t v, uint64_t dflt, uint64_t ceiling)
{
    if (v == 0)
        return dflt;
    return v > ceiling ? ceiling : v;
}

size_t tslp_limit_x5c(const tsl_limits *lim)
{
    return pick(lim ? lim->max_x5c : 0, TSL_DEFAULT_MAX_X5C, TSL_MAX_X5C_CEILING);
}

size_t tslp_limit_disclosures(const tsl_limits *lim)
{
    return pick(lim ? lim->max_disclosures : 0, TSL_DEFAULT_MAX_DISCLOSURES,
                TSL_MAX_DISCLOSURES_CEILING);
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
    out->max_entries = pick64(lim->max_entries, d.max_entries, TSL_MAX_ENTRIES_CEILING);
    out->max_x5c = pick(lim->max_x5c, d.max_x5c, TSL_MAX_X5C_CEILING);
    out->max_disclosures = pick(lim->max_disclosures, d.max_disclosures,
                                TSL_MAX_DISCLOSURES_CEILING);
    out->max_uri = pick(lim->max_uri, d.max_uri, TSL_MAX_URI_CEILING);
}
