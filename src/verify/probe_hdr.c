/* probe_hdr.c - the probe's readers of response header values (Cache-Control, Vary,
 * Content-Type, any field by name). The values come from the endpoint under test, so
 * every reader is bounded by the length given and by TSLP_PROBE_MAX_HEADER, allocates
 * nothing and accepts any bytes. */
#include "verify/probe_int.h"

#include <strings.h>
#include <string.h>

static int is_ws(char c)
{
    return c == ' ' || c == '\t';
}

static int ieq(const char *a, size_t an, const char *b)
{
    size_t bn = strlen(b);
    return an == bn && strncasecmp(a, b, bn) == 0;
}

int tslp_hdr_find(const char *block, size_t len, const char *name, const char **v,
                  size_t *n)
{
    size_t i = 0, nl = strlen(name);
    while (i < len) {
        size_t e = i;
        while (e < len && block[e] != '\n')
            e++;
        size_t le = e;
        if (le > i && block[le - 1] == '\r')
            le--;
        /* "Name:" at the start of the line; the status line has no colon right
         * after a token, so it never matches a field name */
        if (le - i > nl && block[i + nl] == ':' && strncasecmp(block + i, name, nl) == 0) {
            size_t s = i + nl + 1;
            while (s < le && is_ws(block[s]))
                s++;
            size_t t = le;
            while (t > s && is_ws(block[t - 1]))
                t--;
            if (t - s > TSLP_PROBE_MAX_HEADER)
                t = s + TSLP_PROBE_MAX_HEADER;
            *v = block + s;
            *n = t - s;
            return 1;
        }
        i = e + 1;
    }
    return 0;
}

int tslp_hdr_has_token(const char *v, size_t n, const char *tok)
{
    if (n > TSLP_PROBE_MAX_HEADER)
        n = TSLP_PROBE_MAX_HEADER;
    size_t i = 0;
    while (i < n) {
        size_t e = i;
        while (e < n && v[e] != ',')
            e++;
        size_t s = i, t = e;
        while (s < t && is_ws(v[s]))
            s++;
        /* the token ends at '=' (max-age=5) or ';' (a parameter) */
        size_t k = s;
        while (k < t && v[k] != '=' && v[k] != ';')
            k++;
        t = k;
        while (t > s && is_ws(v[t - 1]))
            t--;
        if (ieq(v + s, t - s, tok))
            return 1;
        i = e + 1;
    }
    return 0;
}

int tslp_hdr_max_age(const char *v, size_t n, int64_t *secs)
{
    if (n > TSLP_PROBE_MAX_HEADER)
        n = TSLP_PROBE_MAX_HEADER;
    size_t i = 0;
    while (i < n) {
        size_t e = i;
        int quoted = 0;
        /* a comma inside a quoted string does not end the directive */
        while (e < n && (quoted || v[e] != ',')) {
            if (v[e] == '"')
                quoted = !quoted;
            e++;
        }
        size_t s = i;
        while (s < e && is_ws(v[s]))
            s++;
        size_t k = s;
        while (k < e && v[k] != '=' && !is_ws(v[k]))
            k++;
        if (ieq(v + s, k - s, "max-age")) {
            while (k < e && is_ws(v[k]))
                k++;
            if (k >= e || v[k] != '=')
                return -1;
            k++;
            while (k < e && is_ws(v[k]))
                k++;
            size_t t = e;
            while (t > k && is_ws(v[t - 1]))
                t--;
            if (t - k >= 2 && v[k] == '"' && v[t - 1] == '"') {
                k++;
                t--;
            }
            if (t == k)
                return -1;
            int64_t x = 0;
            for (size_t j = k; j < t; j++) {
                if (v[j] < '0' || v[j] > '9')
                    return -1;
                if (x < ((int64_t)1 << 31))
                    x = x * 10 + (v[j] - '0');
            }
            /* RFC 9111 section 1.2.2: a delta-seconds too large is 2^31 */
            *secs = x > ((int64_t)1 << 31) ? ((int64_t)1 << 31) : x;
            return 1;
        }
        i = e + 1;
    }
    return 0;
}

int tslp_hdr_media_is(const char *v, size_t n, const char *type)
{
    if (n > TSLP_PROBE_MAX_HEADER)
        n = TSLP_PROBE_MAX_HEADER;
    size_t s = 0;
    while (s < n && is_ws(v[s]))
        s++;
    size_t t = s;
    while (t < n && v[t] != ';')
        t++;
    while (t > s && is_ws(v[t - 1]))
        t--;
    return ieq(v + s, t - s, type);
}
