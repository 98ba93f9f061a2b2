/* idl_http.c - content negotiation for an identifier list (a list of kind identifier,
 * ISO/IEC 18013-5), which has one form, application/identifierlist+cwt: whether an
 * Accept header takes it. The most specific range that matches decides (RFC 9110
 * section 12.5.1): the type itself, else "application" with any subtype, else any
 * type; q=0 refuses. No Accept, or none that parses, takes it. */
#include "publish/publish_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* q of one element's parameters ("; q=0.5"), 1000ths; 1000 when absent. */
static int qvalue(const char *p, const char *end)
{
    while (p < end) {
        const char *semi = memchr(p, ';', (size_t)(end - p));
        if (semi == NULL)
            break;
        p = semi + 1;
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        if (end - p >= 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
            p += 2;
            int q = 0, scale = 1000;
            if (p < end && *p == '1')
                return 1000;
            if (p < end && *p == '0')
                p++;
            if (p < end && *p == '.') {
                p++;
                for (int d = 0; d < 3 && p < end && *p >= '0' && *p <= '9'; d++, p++) {
                    scale /= 10;
                    q += (*p - '0') * scale;
                }
            }
            return q;
        }
    }
    return 1000;
}

bool tslp_idl_acceptable(const char *accept, size_t len)
{
    if (accept == NULL || len == 0)
        return true;
    int best = -1, best_q = 0; /* specificity: 2 exact, 1 application/x, 0 x/x */
    bool any = false;
    const char *p = accept, *end = accept + len;
    while (p < end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *e = comma != NULL ? comma : end;
        const char *s = p;
        while (s < e && (*s == ' ' || *s == '\t'))
            s++;
        const char *ne = s;
        while (ne < e && *ne != ';' && *ne != ' ' && *ne != '\t')
            ne++;
        size_t n = (size_t)(ne - s);
        int spec = -1;
        if (n == strlen(TSL_MEDIA_IDLIST) && strncasecmp(s, TSL_MEDIA_IDLIST, n) == 0)
            spec = 2;
        else if (n == 13 && strncasecmp(s, "application/*", 13) == 0)
            spec = 1;
        else if (n == 3 && memcmp(s, "*/*", 3) == 0)
            spec = 0;
        if (n > 0 && memchr(s, '/', n) != NULL)
            any = true;
        if (spec > best) {
            best = spec;
            best_q = qvalue(ne, e);
        }
        p = comma != NULL ? comma + 1 : end;
    }
    if (!any)
        return true;
    return best >= 0 && best_q > 0;
}
