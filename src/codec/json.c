/* json.c - the one way libtsl reads untrusted JSON: the input size and nesting depth
 * are checked by a scan before jansson builds anything, and duplicate keys are
 * rejected. jansson alone would accept 2048 levels of nesting. Also the text of a JSON
 * real for messages, shared by the Status List Token and Referenced Token readers. */
#include "core/tsl_int.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The deepest nesting of arrays and objects in text, ignoring brackets inside strings.
 * Stops counting at limit + 1. */
static size_t json_depth(const char *text, size_t len, size_t limit)
{
    size_t depth = 0, max = 0;
    bool in_string = false, escaped = false;
    for (size_t k = 0; k < len && max <= limit; k++) {
        char c = text[k];
        if (in_string) {
            if (escaped)
                escaped = false;
            else if (c == '\\')
                escaped = true;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > max)
                max = depth;
        } else if ((c == ']' || c == '}') && depth > 0) {
            depth--;
        }
    }
    return max;
}

tsl_status tslp_json_load(const char *text, size_t len, const tsl_limits *lim, void **out,
                          const char *what, tsl_error *err)
{
    tsl_limits L;
    tslp_limits_resolve(lim, &L);
    if (len > L.max_input)
        return tslp_fail(err, TSL_ERR_LIMIT, 0, "%s: %zu bytes exceeds the input limit of %zu",
                         what, len, L.max_input);
    if (json_depth(text, len, L.max_depth) > L.max_depth)
        return tslp_fail(err, TSL_ERR_LIMIT, 0, "%s: nested deeper than %zu levels", what,
                         L.max_depth);
    json_error_t jerr;
    json_t *v = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (v == NULL && json_error_code(&jerr) == json_error_out_of_memory)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "%s: out of memory", what);
    if (v == NULL)
        return tslp_fail(err, TSL_ERR_MALFORMED, (size_t)jerr.position,
                         "%s: %s (line %d, column %d)", what, jerr.text, jerr.line,
                         jerr.column);
    *out = v;
    return TSL_OK;
}

void tslp_real_text(double d, char *buf, size_t n)
{
    if (n == 0)
        return;
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, n, "%.*g", prec, d);
        if (strtod(buf, NULL) == d)
            break;
    }
    if (strpbrk(buf, ".eni") == NULL && strlen(buf) + 2 < n)
        strcat(buf, ".0");
}
