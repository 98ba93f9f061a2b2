/* fuzz_pkcs11_uri.c - libFuzzer target for the RFC 7512 pkcs11: URI parser
 * (tslp_p11_uri_parse in src/crypto/pkcs11_uri.c), which reads --key, a list's stored
 * key reference and the issuer API's settings. Aborts when a failure lacks its code or
 * message, when a message quotes a pin-value (a PIN must never reach an error), when a
 * URI with a pin-value attribute is accepted, or when an accepted URI's fields break
 * the header's promises: text attributes are NUL-terminated and no longer than the
 * input, the id fits in it, the type is a known one. tsl_key_ref_check must agree. */
#include "crypto/pkcs11_int.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The value of a pin-value attribute in the query, if any (its bytes up to '&'). */
static const char *pin_value(const char *s, size_t n, size_t *vl)
{
    const char *q = memchr(s, '?', n);
    for (const char *p = q; p != NULL && p < s + n;) {
        p++;
        size_t left = (size_t)(s + n - p);
        if (left >= 10 && memcmp(p, "pin-value=", 10) == 0) {
            const char *v = p + 10, *e = memchr(v, '&', (size_t)(s + n - v));
            *vl = (size_t)((e != NULL ? e : s + n) - v);
            return v;
        }
        p = memchr(p, '&', left);
    }
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 2 * TSLP_P11_URI_MAX)
        return 0;
    const char *s = (const char *)data;
    tslp_p11_uri u;
    tsl_error err;
    tsl_error_clear(&err);
    tsl_status st = tslp_p11_uri_parse(s, size, &u, &err);
    size_t vl = 0;
    const char *pv = pin_value(s, size, &vl);
    if (st != TSL_OK) {
        if (err.code != st || err.msg[0] == '\0' || st == TSL_ERR_ARG)
            abort();
        /* The PIN may show only where the message's own words or another part of the
         * input (an attribute name it quotes) hold the same text. */
        static const char fixed[] =
            "pkcs11 URI: pin-value is refused: a PIN in the URI would show in argv and be "
            "kept in the store; use pin-source=file:PATH or $TSL_PKCS11_PIN "
            "unknown path attribute unknown query attribute appears twice an empty "
            "attribute an attribute of the path query is not NAME=VALUE a bad character "
            "in an attribute name a trailing an empty query after a NUL byte (%00) "
            "a % not followed by two hex digits must be percent-encoded byte 0x "
            "does not start with pkcs11: longer than bytes out of memory type is not "
            "private, public, cert, secret-key or data slot-id is not a decimal number "
            "library-version is not a version M or M.N (decimal, 0..255)";
        if (pv != NULL && vl >= 4 && memmem(err.msg, strlen(err.msg), pv, vl) != NULL &&
            memmem(fixed, sizeof fixed - 1, pv, vl) == NULL) {
            /* Elsewhere in the input than its own place? */
            const char *first = memmem(s, size, pv, vl);
            const char *again = first != NULL && first != pv ? first
                                : memmem(pv + 1, (size_t)(s + size - pv - 1), pv, vl);
            if (again == NULL)
                abort();
        }
    } else {
        /* A pin-value before any parse error is refused, so an accepted URI has none. */
        if (pv != NULL)
            abort();
        const char *texts[] = {u.token, u.manufacturer, u.serial, u.model, u.object,
                               u.lib_manufacturer, u.lib_description, u.slot_manufacturer,
                               u.slot_description, u.pin_source, u.module_name,
                               u.module_path};
        for (size_t k = 0; k < sizeof texts / sizeof texts[0]; k++)
            if (texts[k] != NULL && strlen(texts[k]) > size)
                abort();
        if ((u.has_id && u.id_len > size) || (!u.has_id && u.id != NULL) ||
            u.type < TSLP_P11_ANY || u.type > TSLP_P11_DATA)
            abort();
        if (u.lib_major < -1 || u.lib_major > 255 || u.lib_minor < -1 || u.lib_minor > 255)
            abort();
    }
    tslp_p11_uri_free(&u);
    /* The public check agrees on C strings (an embedded NUL ends the string there). */
    char *c = malloc(size + 1);
    if (c == NULL)
        return 0;
    memcpy(c, data, size);
    c[size] = '\0';
    if (strlen(c) == size && tslp_p11_is_uri(c)) {
        tsl_error e2;
        tsl_error_clear(&e2);
        if ((tsl_key_ref_check(c, &e2) == TSL_OK) != (st == TSL_OK))
            abort();
    }
    free(c);
    return 0;
}
