/* uri.c - the rules for a status list's uri: what `tsl list create` accepts
 * (tsl_uri_check) and the one path rule by which `tsl serve` matches requests and
 * `tsl export` names files (tsl_uri_path).
 *
 * The path rule: segments of unreserved characters (RFC 3986 section 2.3: A-Z a-z 0-9
 * - . _ ~) and percent-encoded forms of those, which are decoded ("/l%41b" is served at
 * "/lAb"). HTTP servers decode percent-encoding before they match a path
 * (libmicrohttpd's unescape callback in tsl serve, nginx's location matching on the
 * normalized URI), and RFC 3986 section 6.2.2.2 makes %41 and A the same URI, so
 * decoding is what a client asking for either spelling gets. Percent-encoding of
 * anything else (%2F, %3F, %00, UTF-8) is refused: decoded, it would change the path's
 * structure or name a file nginx.conf cannot hold. No empty, "." or ".." segment, no
 * trailing '/', not "/" alone: every path is a file name inside the export directory. */
#include "core/tsl_int.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static bool unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_' || c == '~';
}

/* A printable name for byte c in a message ("'!'" or "0x0a"), in buf. */
static const char *show(unsigned char c, char buf[8])
{
    if (c > 0x20 && c < 0x7f)
        snprintf(buf, 8, "'%c'", c);
    else
        snprintf(buf, 8, "0x%02x", c);
    return buf;
}

/* Checks the path that starts at uri + at (a '/') and runs to the end of uri, and
 * writes its decoded form into out (size bytes, NULL: check only). */
static tsl_status path_rule(const char *uri, size_t at, char *out, size_t size,
                            tsl_error *err)
{
    const unsigned char *u = (const unsigned char *)uri;
    size_t w = 0, seg_start = at, seg_len = 0; /* seg_len: decoded bytes */
    char seg2[2] = {0, 0};                     /* the first two decoded bytes */
    char b[8];
    if (u[at + 1] == '\0')
        return tslp_fail(err, TSL_ERR_MALFORMED, at,
                         "the path is \"/\"; a list needs a path of its own");
    for (size_t k = at;; k++) {
        unsigned char c = u[k];
        if (c == '/' || c == '\0') {
            if (k > at) {
                if (seg_len == 0)
                    return tslp_fail(err, TSL_ERR_MALFORMED, seg_start,
                                     "the path has an empty segment at byte %zu (\"//\" or "
                                     "a trailing '/')", seg_start);
                if ((seg_len == 1 && seg2[0] == '.') ||
                    (seg_len == 2 && seg2[0] == '.' && seg2[1] == '.'))
                    return tslp_fail(err, TSL_ERR_MALFORMED, seg_start,
                                     "the path has a \"%s\" segment at byte %zu",
                                     seg_len == 1 ? "." : "..", seg_start);
            }
            if (c == '\0')
                break;
            seg_start = k + 1;
            seg_len = 0;
        } else if (c == '%') {
            int hi = tslp_hexval(u[k + 1]), lo = hi >= 0 ? tslp_hexval(u[k + 2]) : -1;
            if (hi < 0 || lo < 0)
                return tslp_fail(err, TSL_ERR_MALFORMED, k,
                                 "'%%' at byte %zu is not followed by two hex digits", k);
            c = (unsigned char)(hi * 16 + lo);
            if (!unreserved(c))
                return tslp_fail(err, TSL_ERR_MALFORMED, k,
                                 "%%%c%c at byte %zu encodes %s; a list's path may "
                                 "percent-encode only A-Z a-z 0-9 - . _ ~",
                                 u[k + 1], u[k + 2], k, show(c, b));
            k += 2;
        } else if (c == '?' || c == '#') {
            return tslp_fail(err, TSL_ERR_MALFORMED, k,
                             c == '?' ? "a query at byte %zu; a list is served by its "
                                        "path alone"
                                      : "a fragment at byte %zu; it is never sent to the "
                                        "server",
                             k);
        } else if (!unreserved(c)) {
            return tslp_fail(err, TSL_ERR_MALFORMED, k,
                             "%s at byte %zu; a list's path holds only A-Z a-z 0-9 - . _ "
                             "~ / and percent-encoded forms of those",
                             show(c, b), k);
        }
        if (c != '/') {
            if (seg_len < 2)
                seg2[seg_len] = (char)c;
            seg_len++;
        }
        if (out != NULL) {
            if (w + 1 >= size)
                return tslp_fail(err, TSL_ERR_BUFFER, 0, "path buffer of %zu bytes too small",
                                 size);
            out[w++] = (char)c;
        }
    }
    if (out != NULL)
        out[w] = '\0';
    return TSL_OK;
}

/* Where the path of uri starts: uri itself when it begins with '/', else after
 * "scheme://authority". TSL_ERR_MALFORMED when there is none. */
static tsl_status path_start(const char *uri, size_t *at, tsl_error *err)
{
    if (uri[0] == '/') {
        *at = 0;
        return TSL_OK;
    }
    const char *sep = strstr(uri, "://");
    size_t scheme = sep != NULL ? (size_t)(sep - uri) : 0;
    for (size_t k = 0; k < scheme; k++) {
        unsigned char c = (unsigned char)uri[k];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                  (k > 0 && ((c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.'));
        if (!ok) {
            scheme = 0;
            break;
        }
    }
    if (scheme == 0)
        return tslp_fail(err, TSL_ERR_MALFORMED, 0,
                         "not an absolute URI (scheme://host/path) nor a path");
    size_t p = scheme + 3 + strcspn(uri + scheme + 3, "/?#");
    if (uri[p] != '/')
        return tslp_fail(err, TSL_ERR_MALFORMED, p, "has no path");
    *at = p;
    return TSL_OK;
}

static tsl_status length_ok(const char *uri, tsl_error *err)
{
    size_t n = strnlen(uri, TSL_URI_MAX + 1);
    if (n > TSL_URI_MAX)
        return tslp_fail(err, TSL_ERR_LIMIT, TSL_URI_MAX,
                         "longer than the %d bytes allowed", TSL_URI_MAX);
    if (n == 0)
        return tslp_fail(err, TSL_ERR_MALFORMED, 0, "empty");
    return TSL_OK;
}

tsl_status tsl_uri_path(const char *uri, char *path, size_t size, tsl_error *err)
{
    if (uri == NULL || path == NULL || size == 0)
        return tslp_fail(err, TSL_ERR_ARG, 0, "uri: NULL argument");
    size_t at = 0;
    tsl_status r = length_ok(uri, err);
    if (r == TSL_OK && (r = path_start(uri, &at, err)) == TSL_OK)
        r = path_rule(uri, at, path, size, err);
    return r;
}

/* Checks "host[:port]" in uri[from, to). */
static tsl_status authority_ok(const char *uri, size_t from, size_t to, tsl_error *err)
{
    const unsigned char *u = (const unsigned char *)uri;
    char b[8];
    size_t k = from;
    if (memchr(uri + from, '@', to - from) != NULL)
        return tslp_fail(err, TSL_ERR_MALFORMED, from,
                         "user information (user@host) is not allowed (RFC 9110 4.2.4)");
    if (k < to && u[k] == '[') { /* an IP literal */
        for (k++; k < to && u[k] != ']'; k++)
            if (tslp_hexval(u[k]) < 0 && u[k] != ':' && u[k] != '.')
                return tslp_fail(err, TSL_ERR_MALFORMED, k,
                                 "%s at byte %zu in an IP literal host", show(u[k], b), k);
        if (k >= to || k == from + 1)
            return tslp_fail(err, TSL_ERR_MALFORMED, from, "the IP literal host is not "
                                                           "closed or is empty");
        k++;
    } else {
        /* A DNS name or IPv4 address; internationalised names go in their A-label form. */
        for (; k < to && u[k] != ':'; k++)
            if (!((u[k] >= 'A' && u[k] <= 'Z') || (u[k] >= 'a' && u[k] <= 'z') ||
                  (u[k] >= '0' && u[k] <= '9') || u[k] == '-' || u[k] == '.'))
                return tslp_fail(err, TSL_ERR_MALFORMED, k,
                                 "%s at byte %zu in the host; a host holds A-Z a-z 0-9 - .",
                                 show(u[k], b), k);
        if (k == from)
            return tslp_fail(err, TSL_ERR_MALFORMED, from, "has no host");
    }
    if (k == to)
        return TSL_OK;
    if (u[k] != ':')
        return tslp_fail(err, TSL_ERR_MALFORMED, k, "%s at byte %zu after the host",
                         show(u[k], b), k);
    unsigned long port = 0;
    size_t digits = 0;
    for (k++; k < to && u[k] >= '0' && u[k] <= '9' && digits < 6; k++, digits++)
        port = port * 10 + (unsigned long)(u[k] - '0');
    if (k != to || digits == 0 || port < 1 || port > 65535)
        return tslp_fail(err, TSL_ERR_MALFORMED, k, "the port is not 1 to 65535");
    return TSL_OK;
}

tsl_status tsl_uri_check(const char *uri, unsigned flags, tsl_error *err)
{
    if (uri == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "uri: NULL argument");
    tsl_status r = length_ok(uri, err);
    if (r != TSL_OK)
        return r;
    const unsigned char *u = (const unsigned char *)uri;
    for (size_t k = 0; u[k] != '\0'; k++) {
        if (u[k] <= 0x20 || u[k] == 0x7f)
            return tslp_fail(err, TSL_ERR_MALFORMED, k,
                             "a control character or white space (0x%02x) at byte %zu",
                             u[k], k);
        if (u[k] >= 0x80)
            return tslp_fail(err, TSL_ERR_MALFORMED, k,
                             "a byte that is not ASCII (0x%02x) at byte %zu", u[k], k);
    }
    size_t colon = strcspn(uri, ":/?#");
    if (uri[colon] != ':' || colon == 0)
        return tslp_fail(err, TSL_ERR_MALFORMED, 0,
                         "not an absolute URI (https://host/path)");
    bool https = colon == 5 && strncasecmp(uri, "https", 5) == 0;
    bool http = colon == 4 && strncasecmp(uri, "http", 4) == 0;
    if (http && !(flags & TSL_URI_ALLOW_HTTP))
        return tslp_fail(err, TSL_ERR_UNSUPPORTED, 0,
                         "http is not allowed unless asked for (TSL_URI_ALLOW_HTTP, "
                         "--allow-http); use https");
    if (!https && !http)
        return tslp_fail(err, TSL_ERR_UNSUPPORTED, 0, "scheme \"%.*s\" is not https",
                         colon > 16 ? 16 : (int)colon, uri);
    if (strncmp(uri + colon, "://", 3) != 0)
        return tslp_fail(err, TSL_ERR_MALFORMED, colon,
                         "no authority: expected \"//host\" after the scheme");
    size_t host = colon + 3, end = host + strcspn(uri + host, "/?#");
    if ((r = authority_ok(uri, host, end, err)) != TSL_OK)
        return r;
    if (uri[end] != '/')
        return tslp_fail(err, TSL_ERR_MALFORMED, end, "has no path");
    char path[TSL_URI_MAX + 1];
    if ((r = path_rule(uri, end, path, sizeof path, err)) != TSL_OK)
        return r;
    /* The paths tsl serve answers itself. The aggregation path is an option of each
     * tsl serve / tsl export run; the store checks the aggregation_uris it knows. */
    if (strcmp(path, "/healthz") == 0 || strcmp(path, "/metrics") == 0)
        return tslp_fail(err, TSL_ERR_UNSUPPORTED, end,
                         "the path %s is reserved for tsl serve's %s", path,
                         path[1] == 'h' ? "health check" : "metrics");
    return TSL_OK;
}
