/* fuzz_uri.c - libFuzzer target for the uri rules (src/core/uri.c), which read a
 * list's uri from the command line, a store or an issuer API: tsl_uri_check with and
 * without TSL_URI_ALLOW_HTTP, and tsl_uri_path. Aborts when a failure lacks its code or
 * a message, when an accepted uri breaks the rules the header promises (printable ASCII,
 * no white space, at most TSL_URI_MAX bytes, an https or http scheme), or when a path
 * is accepted that is not "/"-led segments of unreserved characters, or does not fit
 * in strlen(uri) + 1 bytes. */
#include "tsl.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_' || c == '~';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4 * TSL_URI_MAX)
        return 0;
    char *uri = malloc(size + 1);
    if (uri == NULL)
        return 0;
    memcpy(uri, data, size);
    uri[size] = '\0'; /* an embedded NUL simply ends the string, as in C callers */
    size_t len = strlen(uri);
    for (unsigned flags = 0; flags <= TSL_URI_ALLOW_HTTP; flags++) {
        tsl_error err;
        tsl_error_clear(&err);
        tsl_status st = tsl_uri_check(uri, flags, &err);
        if (st != TSL_OK) {
            if (err.code != st || err.msg[0] == '\0')
                abort();
            continue;
        }
        if (len > TSL_URI_MAX)
            abort();
        for (size_t k = 0; k < len; k++)
            if ((unsigned char)uri[k] <= 0x20 || (unsigned char)uri[k] >= 0x7f)
                abort();
        /* Schemes are case-insensitive (RFC 3986 section 3.1). */
        if (strncasecmp(uri, "https://", 8) != 0 &&
            !(flags && strncasecmp(uri, "http://", 7) == 0))
            abort();
    }
    char *path = malloc(len + 1);
    if (path == NULL) {
        free(uri);
        return 0;
    }
    tsl_error err;
    tsl_error_clear(&err);
    tsl_status st = tsl_uri_path(uri, path, len + 1, &err);
    if (st != TSL_OK) {
        if (err.code != st || err.msg[0] == '\0')
            abort();
    } else {
        size_t pl = strlen(path);
        if (pl < 2 || path[0] != '/' || path[pl - 1] == '/')
            abort();
        for (size_t k = 0; k < pl; k++)
            if (path[k] != '/' && !unreserved((unsigned char)path[k]))
                abort();
        if (strstr(path, "//") != NULL)
            abort();
    }
    free(path);
    free(uri);
    return 0;
}
