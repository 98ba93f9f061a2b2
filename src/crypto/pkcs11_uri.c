/* pkcs11_uri.c - the RFC 7512 "pkcs11:" URI parser: which module, token and object a key
 * reference names, and where its PIN comes from. The text is untrusted (argv, a store
 * row, a config file), so every byte is checked against the RFC's grammar, each value
 * is bounded by TSLP_P11_URI_MAX, and a refusal names the attribute, never its value:
 * a value could be a secret pasted in the wrong place. pin-value is refused outright:
 * a PIN in a URI would sit in argv, where `ps` shows it, and in the store. */
#include "crypto/pkcs11_int.h"

#include <stddef.h>
#include <string.h>
#include <strings.h>

void tslp_p11_uri_free(tslp_p11_uri *u)
{
    if (u == NULL)
        return;
    char **texts[] = {&u->token, &u->manufacturer, &u->serial, &u->model, &u->object,
                      &u->lib_manufacturer, &u->lib_description, &u->slot_manufacturer,
                      &u->slot_description, &u->pin_source, &u->module_name,
                      &u->module_path};
    for (size_t k = 0; k < sizeof texts / sizeof texts[0]; k++)
        tslp_free(*texts[k]);
    tslp_free(u->id);
    memset(u, 0, sizeof *u);
    u->lib_major = u->lib_minor = -1;
}

int tslp_p11_is_uri(const char *s)
{
    return s != NULL && strncasecmp(s, "pkcs11:", 7) == 0;
}

static int unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_' || c == '~';
}

/* RFC 7512 pk11-p-special (path) and pk11-q-special (query). */
static int pchar(unsigned char c)
{
    return unreserved(c) || (c != 0 && strchr(":[]@!$'()*+,=&", c) != NULL);
}

static int qchar(unsigned char c)
{
    return unreserved(c) || (c != 0 && strchr(":[]@!$'()*+,=/?|", c) != NULL);
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decodes v[0..n) (each byte allowed by ok) into a new buffer; *out_len gets
 * the decoded length. text: a NUL byte is refused (a C string must hold it whole). */
static tsl_status decode(const char *name, const char *v, size_t n, int (*ok)(unsigned char),
                         int text, uint8_t **out, size_t *out_len, tsl_error *err)
{
    uint8_t *d = tslp_malloc(n + 1);
    if (d == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "pkcs11 URI: out of memory");
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c == '%') {
            int a = i + 1 < n ? hexval((unsigned char)v[i + 1]) : -1;
            int b = i + 2 < n ? hexval((unsigned char)v[i + 2]) : -1;
            int h = a < 0 || b < 0 ? -1 : a * 16 + b;
            if (h < 0) {
                tslp_free(d);
                return tslp_fail(err, TSL_ERR_MALFORMED, 0,
                                 "pkcs11 URI: %s: a %% not followed by two hex digits", name);
            }
            if (h == 0 && text) {
                tslp_free(d);
                return tslp_fail(err, TSL_ERR_MALFORMED, 0,
                                 "pkcs11 URI: %s: a NUL byte (%%00)", name);
            }
            d[j++] = (uint8_t)h;
            i += 2;
        } else if (!ok(c)) {
            tslp_free(d);
            if (c < 0x21 || c > 0x7e)
                return tslp_fail(err, TSL_ERR_MALFORMED, 0,
                                 "pkcs11 URI: %s: byte 0x%02x must be percent-encoded", name,
                                 c);
            return tslp_fail(err, TSL_ERR_MALFORMED, 0,
                             "pkcs11 URI: %s: '%c' must be percent-encoded", name, c);
        } else {
            d[j++] = c;
        }
    }
    d[j] = 0;
    *out = d;
    *out_len = j;
    return TSL_OK;
}

/* Stores a text attribute; a repeated attribute is refused (RFC 7512 section 2.3: an
 * attribute must not appear more than once). */
static tsl_status set_text(char **slot, const char *name, const char *v, size_t n,
                           int (*ok)(unsigned char), tsl_error *err)
{
    if (*slot != NULL)
        return tslp_fail(err, TSL_ERR_MALFORMED, 0, "pkcs11 URI: %s appears twice", name);
    uint8_t *d = NULL;
    size_t dl = 0;
    tsl_status st = decode(name, v, n, ok, 1, &d, &dl, err);
    if (st == TSL_OK)
        *slot = (char *)d;
    return st;
}

static tsl_status bad(tsl_error *err, const char *name, const char *why)
{
    return tslp_fail(err, TSL_ERR_MALFORMED, 0, "pkcs11 URI: %s %s", name, why);
}

/* A decimal number of at most 18 digits (a CK_SLOT_ID, a version part). */
static int number(const char *s, size_t n, unsigned long long *out)
{
    if (n == 0 || n > 18)
        return 0;
    unsigned long long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    *out = v;
    return 1;
}

static tsl_status path_attr(tslp_p11_uri *u, const char *name, size_t nl, const char *v,
                            size_t vl, tsl_error *err)
{
    static const struct {
        const char *name;
        size_t off;
    } texts[] = {
        {"token", offsetof(tslp_p11_uri, token)},
        {"manufacturer", offsetof(tslp_p11_uri, manufacturer)},
        {"serial", offsetof(tslp_p11_uri, serial)},
        {"model", offsetof(tslp_p11_uri, model)},
        {"object", offsetof(tslp_p11_uri, object)},
        {"library-manufacturer", offsetof(tslp_p11_uri, lib_manufacturer)},
        {"library-description", offsetof(tslp_p11_uri, lib_description)},
        {"slot-manufacturer", offsetof(tslp_p11_uri, slot_manufacturer)},
        {"slot-description", offsetof(tslp_p11_uri, slot_description)},
    };
    for (size_t k = 0; k < sizeof texts / sizeof texts[0]; k++)
        if (strlen(texts[k].name) == nl && memcmp(texts[k].name, name, nl) == 0)
            return set_text((char **)(void *)((char *)u + texts[k].off), texts[k].name, v,
                            vl, pchar, err);
    uint8_t *d = NULL;
    size_t dl = 0;
    tsl_status st;
#define IS(s) (nl == sizeof s - 1 && memcmp(name, s, nl) == 0)
    if (IS("id")) {
        if (u->has_id)
            return bad(err, "id", "appears twice");
        if ((st = decode("id", v, vl, pchar, 0, &d, &dl, err)) != TSL_OK)
            return st;
        u->id = d;
        u->id_len = dl;
        u->has_id = 1;
        return TSL_OK;
    }
    if (IS("type")) {
        static const char *const types[] = {"private", "public", "cert", "secret-key",
                                            "data"};
        if (u->type != TSLP_P11_ANY)
            return bad(err, "type", "appears twice");
        if ((st = decode("type", v, vl, pchar, 1, &d, &dl, err)) != TSL_OK)
            return st;
        for (int k = 0; k < 5; k++)
            if (strcmp((char *)d, types[k]) == 0)
                u->type = TSLP_P11_PRIVATE + k;
        tslp_free(d);
        return u->type != TSLP_P11_ANY
                   ? TSL_OK
                   : bad(err, "type", "is not private, public, cert, secret-key or data");
    }
    if (IS("slot-id") || IS("library-version")) {
        const char *what = IS("slot-id") ? "slot-id" : "library-version";
        if (IS("slot-id") ? u->has_slot_id : u->lib_major >= 0)
            return bad(err, what, "appears twice");
        if ((st = decode(what, v, vl, pchar, 1, &d, &dl, err)) != TSL_OK)
            return st;
        unsigned long long a = 0, b = 0;
        const char *s = (const char *)d, *dot = strchr(s, '.');
        int ok;
        if (IS("slot-id")) {
            ok = number(s, dl, &a) && a <= 0xffffffffUL;
            u->slot_id = (unsigned long)a;
            u->has_slot_id = ok;
        } else {
            ok = dot == NULL ? number(s, dl, &a)
                             : number(s, (size_t)(dot - s), &a) &&
                                   number(dot + 1, dl - (size_t)(dot - s) - 1, &b);
            ok = ok && a < 256 && b < 256;
            u->lib_major = ok ? (int)a : -1;
            u->lib_minor = ok ? (int)b : -1;
        }
        tslp_free(d);
        return ok ? TSL_OK
                  : bad(err, what,
                        IS("slot-id") ? "is not a decimal number"
                                      : "is not a version M or M.N (decimal, 0..255)");
    }
#undef IS
    /* Vendor attributes (x-...) are allowed by the RFC and mean nothing here. */
    if (nl > 2 && name[0] == 'x' && name[1] == '-')
        return TSL_OK;
    return tslp_fail(err, TSL_ERR_MALFORMED, 0,
                     "pkcs11 URI: unknown path attribute \"%.*s\"", (int)(nl > 40 ? 40 : nl),
                     name);
}

static tsl_status query_attr(tslp_p11_uri *u, const char *name, size_t nl, const char *v,
                             size_t vl, tsl_error *err)
{
#define IS(s) (nl == sizeof s - 1 && memcmp(name, s, nl) == 0)
    if (IS("pin-value"))
        return tslp_fail(err, TSL_ERR_MALFORMED, 0,
                         "pkcs11 URI: pin-value is refused: a PIN in the URI would show in "
                         "argv and be kept in the store; use pin-source=file:PATH or "
                         "$TSL_PKCS11_PIN");
    if (IS("pin-source"))
        return set_text(&u->pin_source, "pin-source", v, vl, qchar, err);
    if (IS("module-name"))
        return set_text(&u->module_name, "module-name", v, vl, qchar, err);
    if (IS("module-path"))
        return set_text(&u->module_path, "module-path", v, vl, qchar, err);
#undef IS
    if (nl > 2 && name[0] == 'x' && name[1] == '-')
        return TSL_OK;
    return tslp_fail(err, TSL_ERR_MALFORMED, 0,
                     "pkcs11 URI: unknown query attribute \"%.*s\"",
                     (int)(nl > 40 ? 40 : nl), name);
}

static int attr_name_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_';
}

/* Splits s[0..n) at sep into name=value pairs and hands each to fn. */
static tsl_status attrs(tslp_p11_uri *u, const char *s, size_t n, char sep, int query,
                        tsl_error *err)
{
    size_t i = 0;
    while (i < n) {
        size_t end = i;
        while (end < n && s[end] != sep)
            end++;
        const char *eq = memchr(s + i, '=', end - i);
        if (end == i)
            return tslp_fail(err, TSL_ERR_MALFORMED, 0, "pkcs11 URI: an empty attribute");
        if (eq == NULL || eq == s + i)
            return tslp_fail(err, TSL_ERR_MALFORMED, 0,
                             "pkcs11 URI: an attribute of the %s is not NAME=VALUE",
                             query ? "query" : "path");
        size_t nl = (size_t)(eq - (s + i));
        for (size_t k = 0; k < nl; k++)
            if (!attr_name_char((unsigned char)s[i + k]))
                return tslp_fail(err, TSL_ERR_MALFORMED, 0,
                                 "pkcs11 URI: a bad character in an attribute name");
        const char *v = eq + 1;
        size_t vl = (size_t)(s + end - v);
        tsl_status st = query ? query_attr(u, s + i, nl, v, vl, err)
                              : path_attr(u, s + i, nl, v, vl, err);
        if (st != TSL_OK)
            return st;
        i = end + 1;
        if (end + 1 == n)
            return tslp_fail(err, TSL_ERR_MALFORMED, 0, "pkcs11 URI: a trailing '%c'", sep);
    }
    return TSL_OK;
}

tsl_status tslp_p11_uri_parse(const char *s, size_t len, tslp_p11_uri *out, tsl_error *err)
{
    if (out == NULL || (s == NULL && len > 0))
        return tslp_fail(err, TSL_ERR_ARG, 0, "pkcs11 URI: NULL argument");
    memset(out, 0, sizeof *out);
    out->lib_major = out->lib_minor = -1;
    if (len > TSLP_P11_URI_MAX)
        return tslp_fail(err, TSL_ERR_LIMIT, 0, "pkcs11 URI: longer than %zu bytes",
                         TSLP_P11_URI_MAX);
    if (len < 7 || strncasecmp(s, "pkcs11:", 7) != 0)
        return tslp_fail(err, TSL_ERR_MALFORMED, 0, "pkcs11 URI: does not start with pkcs11:");
    const char *p = s + 7, *end = s + len;
    const char *q = memchr(p, '?', (size_t)(end - p));
    const char *pend = q != NULL ? q : end;
    tsl_status st = attrs(out, p, (size_t)(pend - p), ';', 0, err);
    if (st == TSL_OK && q != NULL) {
        if (q + 1 == end)
            st = tslp_fail(err, TSL_ERR_MALFORMED, 0, "pkcs11 URI: an empty query after '?'");
        else
            st = attrs(out, q + 1, (size_t)(end - q - 1), '&', 1, err);
    }
    if (st == TSL_OK && memchr(s, '\0', len) != NULL)
        st = tslp_fail(err, TSL_ERR_MALFORMED, 0, "pkcs11 URI: a NUL byte");
    if (st != TSL_OK)
        tslp_p11_uri_free(out);
    return st;
}
