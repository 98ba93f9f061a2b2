/* form.c - the one detector of an input's form, for the token and Referenced Token
 * parsers and for the command: binary CBOR by its first byte, else trimmed text told
 * apart by its first character and its separators. */
#include "envelope/envelope_int.h"

#include <string.h>

tsl_form tslp_detect_form(const uint8_t *in, size_t len, size_t *start, size_t *n)
{
    size_t a = 0, m = len;
    tsl_form f;
    /* CBOR major types 4 (array) and 6 (tag) open a COSE message or a CWT; 5 (map) a
     * StatusList or an mdoc. No text form can start with these bytes (0x80..0xDF). */
    uint8_t major = len > 0 ? in[0] >> 5 : 0;
    if (len > 0 && (major == 4 || major == 6)) {
        f = TSL_FORM_CBOR;
    } else if (len > 0 && major == 5) {
        f = TSL_FORM_CBOR_MAP;
    } else {
        const uint8_t *s = tslp_trim(in, len, &a, &m);
        if (m == 0)
            f = TSL_FORM_EMPTY;
        else if (s[0] == '{')
            f = TSL_FORM_JSON;
        else if (memchr(s, '~', m) != NULL)
            f = TSL_FORM_SDJWT;
        else if (memchr(s, '.', m) != NULL)
            f = TSL_FORM_JWT;
        else
            f = TSL_FORM_TEXT;
    }
    if (start != NULL)
        *start = a;
    if (n != NULL)
        *n = m;
    return f;
}

tsl_form tsl_detect_form(const uint8_t *in, size_t len, size_t *start, size_t *n)
{
    if (in == NULL)
        len = 0;
    return tslp_detect_form(in, len, start, n);
}

tsl_status tsl_list_parse(const uint8_t *in, size_t len, const tsl_limits *lim,
                          tsl_list **out, tsl_error *err)
{
    switch (tsl_detect_form(in, len, NULL, NULL)) {
    case TSL_FORM_JSON: return tsl_list_from_json((const char *)in, len, lim, out, err);
    case TSL_FORM_CBOR_MAP: return tsl_list_from_cbor(in, len, lim, out, err);
    case TSL_FORM_EMPTY: return tslp_fail(err, TSL_ERR_MALFORMED, 0, "input is empty");
    default:
        return tslp_fail(err, TSL_ERR_MALFORMED, 0,
                         "input is neither a StatusList JSON object nor a CBOR map");
    }
}
