/* json_write.c - JSON text written directly, for the documents libtsl emits whole: a
 * Status List Token's claims (token/jwt.c) and the StatusList object
 * (statuslist_json.c). Building a jansson tree to dump it again would copy the list's
 * `lst` (up to megabytes) three times; this writes it once. Strings are escaped
 * exactly as jansson's json_dumps() does without flags (", \ and control characters;
 * \b \f \n \r \t by name, the rest as \u00XX with upper-case hex; '/' and non-ASCII
 * as they are), so the bytes are the same as before, and must be valid UTF-8, as
 * jansson requires. */
#include "codec/cbor_int.h" /* tslp_utf8_check */
#include "core/tsl_int.h"

#include <string.h>

tsl_status tslp_json_put_str(tslp_buf *b, const char *s, const char *what, tsl_error *err)
{
    size_t n = strlen(s);
    size_t bad = tslp_utf8_check((const uint8_t *)s, n);
    if (bad != n)
        return tslp_fail(err, TSL_ERR_ARG, bad, "%s: not valid UTF-8 at byte %zu", what, bad);
    /* At most 6 bytes of output an input byte (\u00XX), plus the quotes. */
    if (n > (SIZE_MAX - 2) / 6)
        return tslp_fail(err, TSL_ERR_LIMIT, 0, "%s: %zu bytes is too long", what, n);
    tsl_status st = tslp_buf_reserve(b, 6 * n + 2, err);
    if (st != TSL_OK)
        return st;
    char *p = (char *)b->data + b->len;
    *p++ = '"';
    for (size_t k = 0; k < n; k++) {
        unsigned char c = (unsigned char)s[k];
        if (c >= 0x20 && c != '"' && c != '\\') {
            *p++ = (char)c;
            continue;
        }
        *p++ = '\\';
        switch (c) {
        case '"': *p++ = '"'; break;
        case '\\': *p++ = '\\'; break;
        case '\b': *p++ = 'b'; break;
        case '\f': *p++ = 'f'; break;
        case '\n': *p++ = 'n'; break;
        case '\r': *p++ = 'r'; break;
        case '\t': *p++ = 't'; break;
        default: {
            static const char hex[] = "0123456789ABCDEF";
            *p++ = 'u';
            *p++ = '0';
            *p++ = '0';
            *p++ = hex[c >> 4];
            *p++ = hex[c & 15];
        }
        }
    }
    *p++ = '"';
    b->len = (size_t)(p - (char *)b->data);
    return TSL_OK;
}

tsl_status tslp_json_put_member(tslp_buf *b, bool first, const char *key, tsl_error *err)
{
    /* Keys are ours: plain ASCII that needs no escaping. */
    return tslp_buf_printf(b, err, "%s\"%s\":", first ? "" : ",", key);
}
