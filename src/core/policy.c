/* policy.c - the one reading of a tsl_trust_policy: its clock and its skew. Token
 * verification, Referenced Token validation and the verifier all resolve their policy
 * here, so that skew means the same in each of them. */
#include "core/tsl_int.h"

#include <time.h>

int64_t tslp_policy_skew(const tsl_trust_policy *p)
{
    if (p->skew <= 0)
        return 0;
    return p->skew > TSLP_MAX_SKEW ? TSLP_MAX_SKEW : p->skew;
}

void tslp_policy_resolve(const tsl_trust_policy *in, tsl_trust_policy *out)
{
    *out = *in;
    if (out->now == 0)
        out->now = (int64_t)time(NULL);
    out->skew = tslp_policy_skew(in);
    if (out->algs == 0)
        out->algs = TSL_ALGS_SIGNATURE;
    if (out->eku_oid == NULL)
        out->eku_oid = TSL_EKU_STATUS_SIGNING_DEFAULT;
}
