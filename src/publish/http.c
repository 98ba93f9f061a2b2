/* http.c - what a Status List publisher needs from HTTP headers (spec section 8,
 * RFC 9110 section 12): choosing JWT or CWT from Accept with q-values and wildcards,
 * whether Accept-Encoding allows gzip, and the `time` query parameter. Headers come
 * from the network: every scan is bounded by the given length and allocates nothing. */
#include "core/tsl_int.h"

#include <string.h>
#include <strings.h>

/* One list element: "type/subtype;params" or "coding;params", with its q-value in
 * thousandths (RFC 9110 section 12.4.2: at most three decimals). */
typedef struct {
    const char *name; /* type/subtype or coding, not NUL-terminated */
    size_t name_len;
    int q;            /* 0..1000, or -1 when the element is malformed */
} element;

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* RFC 9110 tchar. */
static bool is_tchar(char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Parses a qvalue: "0", "0.5", "1", "1.000"; -1 if malformed. */
static int parse_q(const char *s, size_t n)
{
    if (n == 0 || (s[0] != '0' && s[0] != '1'))
        return -1;
    int q = (s[0] - '0') * 1000;
    if (n == 1)
        return q;
    if (s[1] != '.' || n > 5)
        return -1;
    int scale = 100;
    for (size_t k = 2; k < n; k++, scale /= 10) {
        if (s[k] < '0' || s[k] > '9')
            return -1;
        q += (s[k] - '0') * scale;
    }
    return q > 1000 ? -1 : q;
}

/* Reads the element starting at *pos, up to the next top-level comma, and moves *pos
 * past that comma. Parameters are skipped except q; quoted strings may hold commas. */
static element next_element(const char *h, size_t len, size_t *pos)
{
    element e = {NULL, 0, 1000};
    size_t k = *pos;
    while (k < len && (is_ows(h[k]) || h[k] == ','))
        k++;
    size_t start = k;
    while (k < len && (is_tchar(h[k]) || h[k] == '/'))
        k++;
    e.name = h + start;
    e.name_len = k - start;
    if (e.name_len == 0)
        e.q = -1;
    /* Parameters: *( OWS ";" OWS name "=" ( token / quoted-string ) ) */
    for (;;) {
        while (k < len && is_ows(h[k]))
            k++;
        if (k >= len || h[k] != ';')
            break;
        k++;
        while (k < len && is_ows(h[k]))
            k++;
        size_t ns = k;
        while (k < len && is_tchar(h[k]))
            k++;
        size_t nl = k - ns;
        if (k >= len || h[k] != '=' || nl == 0) {
            e.q = -1;
            break;
        }
        k++;
        size_t vs = k;
        if (k < len && h[k] == '"') {
            k++;
            while (k < len && h[k] != '"') {
                if (h[k] == '\\' && k + 1 < len)
                    k++;
                k++;
            }
            if (k >= len) {
                e.q = -1;
                break;
            }
            k++;
        } else {
            while (k < len && is_tchar(h[k]))
                k++;
        }
        if (nl == 1 && (h[ns] == 'q' || h[ns] == 'Q') && e.q >= 0)
            e.q = parse_q(h + vs, k - vs);
    }
    /* Anything else before the comma makes the element malformed; skip to it. */
    while (k < len && is_ows(h[k]))
        k++;
    if (k < len && h[k] != ',')
        e.q = -1;
    bool quoted = false;
    while (k < len && (quoted || h[k] != ',')) {
        if (h[k] == '"')
            quoted = !quoted;
        k++;
    }
    *pos = k < len ? k + 1 : len;
    return e;
}

static bool name_is(const element *e, const char *s)
{
    return e->name_len == strlen(s) && strncasecmp(e->name, s, e->name_len) == 0;
}

/* How specifically a media range names a type: 2 exact, 1 "application/ *",
 * 0 "* / *", -1 no match. */
static int specificity(const element *e, const char *media)
{
    if (name_is(e, media))
        return 2;
    if (name_is(e, "application/*"))
        return 1;
    if (name_is(e, "*/*"))
        return 0;
    return -1;
}

int tsl_http_choose_format(const char *accept, size_t len, unsigned available,
                           tsl_format dflt)
{
    static const struct {
        tsl_format f;
        unsigned bit;
        const char *media;
    } forms[2] = {{TSL_FORMAT_JWT, TSL_PUBLISH_JWT, TSL_MEDIA_JWT},
                  {TSL_FORMAT_CWT, TSL_PUBLISH_CWT, TSL_MEDIA_CWT}};
    int best_spec[2] = {-1, -1}, q[2] = {0, 0};
    bool any = false;
    size_t pos = 0;
    while (accept != NULL && pos < len) {
        element e = next_element(accept, len, &pos);
        /* A media range is type "/" subtype, both non-empty. */
        const char *slash = e.q < 0 ? NULL : memchr(e.name, '/', e.name_len);
        if (slash == NULL || slash == e.name || slash == e.name + e.name_len - 1 ||
            memchr(slash + 1, '/', e.name_len - (size_t)(slash + 1 - e.name)) != NULL)
            continue;
        any = true;
        for (int f = 0; f < 2; f++) {
            int s = specificity(&e, forms[f].media);
            /* The most specific matching range decides; among equals, the higher q. */
            if (s > best_spec[f] || (s == best_spec[f] && s >= 0 && e.q > q[f])) {
                best_spec[f] = s;
                q[f] = e.q;
            }
        }
    }
    if (!any) {
        /* No Accept (or nothing readable in it): the default, else what there is. */
        for (int f = 0; f < 2; f++)
            if (forms[f].f == dflt && (available & forms[f].bit))
                return forms[f].f;
        for (int f = 0; f < 2; f++)
            if (available & forms[f].bit)
                return forms[f].f;
        return 0;
    }
    int pick = -1;
    for (int f = 0; f < 2; f++) {
        if (!(available & forms[f].bit) || q[f] <= 0)
            continue;
        if (pick < 0 || q[f] > q[pick] || (q[f] == q[pick] && forms[f].f == dflt))
            pick = f;
    }
    return pick < 0 ? 0 : forms[pick].f;
}

int tsl_http_accepts_gzip(const char *accept_encoding, size_t len)
{
    int gzip_q = -1, star_q = -1;
    size_t pos = 0;
    while (accept_encoding != NULL && pos < len) {
        element e = next_element(accept_encoding, len, &pos);
        if (e.q < 0)
            continue;
        if (name_is(&e, "gzip") || name_is(&e, "x-gzip"))
            gzip_q = e.q > gzip_q ? e.q : gzip_q;
        else if (name_is(&e, "*"))
            star_q = e.q;
    }
    if (gzip_q >= 0)
        return gzip_q > 0;
    return star_q > 0;
}

tsl_status tsl_http_parse_time(const char *text, size_t len, int64_t *t, tsl_error *err)
{
    if (t == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "time: no output");
    if (text == NULL || len == 0 || len > 19)
        return tslp_fail(err, TSL_ERR_MALFORMED, 0, "time: expected 1 to 19 digits");
    uint64_t v = 0;
    for (size_t k = 0; k < len; k++) {
        if (text[k] < '0' || text[k] > '9')
            return tslp_fail(err, TSL_ERR_MALFORMED, k, "time: expected unix seconds");
        v = v * 10 + (uint64_t)(text[k] - '0');
    }
    if (v > (uint64_t)INT64_MAX)
        return tslp_fail(err, TSL_ERR_MALFORMED, 0, "time: beyond 2^63 - 1 seconds");
    *t = (int64_t)v;
    return TSL_OK;
}

size_t tsl_http_unescape(char *s)
{
    size_t r = 0, w = 0;
    while (s[r] != '\0') {
        int hi, lo;
        /* "%00" stays as it is: a NUL must never cut a path short. */
        if (s[r] == '%' && (hi = tslp_hexval((unsigned char)s[r + 1])) >= 0 &&
            (lo = tslp_hexval((unsigned char)s[r + 2])) >= 0 &&
            (hi | lo) != 0) {
            s[w++] = (char)(hi * 16 + lo);
            r += 3;
        } else {
            s[w++] = s[r++];
        }
    }
    s[w] = '\0';
    return w;
}
