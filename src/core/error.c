/* error.c - status codes, their static texts, and the first-error-wins tsl_error. */
#include "core/tsl_int.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

const char *tsl_strerror(tsl_status code)
{
    switch (code) {
    case TSL_OK: return "success";
    case TSL_ERR_NOMEM: return "out of memory";
    case TSL_ERR_ARG: return "invalid argument";
    case TSL_ERR_BUFFER: return "buffer too small";
    case TSL_ERR_LIMIT: return "input exceeds a limit";
    case TSL_ERR_MALFORMED: return "malformed input";
    case TSL_ERR_INDEX: return "index out of range";
    case TSL_ERR_VALUE: return "status value too large for bits";
    case TSL_ERR_UNSUPPORTED: return "unsupported";
    case TSL_ERR_IO: return "I/O error";
    case TSL_ERR_ALG: return "algorithm not allowed";
    case TSL_ERR_KEY: return "no usable key";
    case TSL_ERR_SIGNATURE: return "signature does not verify";
    case TSL_ERR_TYP: return "wrong token type";
    case TSL_ERR_EXPIRED: return "token expired or not yet valid";
    case TSL_ERR_CLAIM: return "claim missing or invalid";
    case TSL_ERR_TRUST: return "certificate not trusted";
    case TSL_ERR_CRYPTO: return "crypto library failure";
    case TSL_ERR_NOT_FOUND: return "not found";
    case TSL_ERR_EXISTS: return "already exists";
    case TSL_ERR_DENIED: return "not authorised";
    case TSL_ERR_CONFLICT: return "conflicts with an earlier request";
    }
    return "unknown error";
}

void tsl_error_clear(tsl_error *err)
{
    if (err == NULL)
        return;
    err->code = TSL_OK;
    err->offset = 0;
    err->msg[0] = '\0';
}

tsl_status tslp_fail(tsl_error *err, tsl_status code, size_t offset, const char *fmt, ...)
{
    /* The first error wins: the innermost failure knows best what was wrong. */
    if (err == NULL || err->code != TSL_OK)
        return code;
    err->code = code;
    err->offset = offset;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return code;
}

void tslp_error_prefix(tsl_error *err, const char *what)
{
    if (err == NULL || err->code == TSL_OK)
        return;
    /* Shift the message right and write "what: " in front, truncating at the end. */
    size_t w = strlen(what) + 2, m = strlen(err->msg);
    if (w >= sizeof err->msg)
        return;
    if (m > sizeof err->msg - 1 - w)
        m = sizeof err->msg - 1 - w;
    memmove(err->msg + w, err->msg, m);
    err->msg[w + m] = '\0';
    memcpy(err->msg, what, w - 2);
    err->msg[w - 2] = ':';
    err->msg[w - 1] = ' ';
}

const char *tsl_status_name(unsigned value)
{
    switch (value) {
    case TSL_STATUS_VALID: return "VALID";
    case TSL_STATUS_INVALID: return "INVALID";
    case TSL_STATUS_SUSPENDED: return "SUSPENDED";
    case TSL_STATUS_APPLICATION_SPECIFIC: return "APPLICATION_SPECIFIC";
    default:
        /* 0x0C-0x0F were registered as application specific too (0x0B left in -14). */
        if (value >= 0x0C && value <= 0x0F)
            return "APPLICATION_SPECIFIC";
        return "UNKNOWN";
    }
}

const char *tsl_status_label(unsigned value, char buf[TSL_STATUS_LABEL_SIZE])
{
    if (value <= TSL_STATUS_APPLICATION_SPECIFIC)
        return tsl_status_name(value);
    snprintf(buf, TSL_STATUS_LABEL_SIZE, "%u", value & 0xffffu);
    return buf;
}

/* A status by name (any case) or number: the inverse of tsl_status_label, for update
 * files, `tsl set` and encode input. */
tsl_status tsl_status_parse(const char *text, size_t len, unsigned *value, tsl_error *err)
{
    static const struct {
        const char *name;
        unsigned value;
    } names[] = {{"VALID", TSL_STATUS_VALID},
                 {"INVALID", TSL_STATUS_INVALID},
                 {"SUSPENDED", TSL_STATUS_SUSPENDED},
                 {"APPLICATION_SPECIFIC", TSL_STATUS_APPLICATION_SPECIFIC}};
    if (text == NULL || value == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "status: NULL argument");
    if (len == 0)
        goto unknown;
    if (text[0] >= '0' && text[0] <= '9') {
        unsigned v = 0;
        for (size_t k = 0; k < len; k++) {
            if (text[k] < '0' || text[k] > '9' || k >= 3)
                goto unknown;
            v = v * 10 + (unsigned)(text[k] - '0');
        }
        if (v > 255)
            goto unknown;
        *value = v;
        return TSL_OK;
    }
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
        if (strlen(names[k].name) == len && strncasecmp(text, names[k].name, len) == 0) {
            *value = names[k].value;
            return TSL_OK;
        }
unknown:
    return tslp_fail(err, TSL_ERR_MALFORMED, 0,
                     "unknown status \"%.*s\" (VALID, INVALID, SUSPENDED, "
                     "APPLICATION_SPECIFIC or 0-255)",
                     (int)(len > 40 ? 40 : len), text);
}
