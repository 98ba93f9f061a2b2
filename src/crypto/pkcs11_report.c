/* pkcs11_report.c - what a PKCS#11 module offers, as text for `tsl pkcs11 ls`: its
 * tokens, and on each the signing keys with the pkcs11: URI that names them, their type
 * and default algorithm, and whether a certificate shares their CKA_ID. An operator
 * copies the URI into --key. Private keys are only visible after login, so the token is
 * logged in when a PIN is available; otherwise public keys stand in for their pairs. */
#include "crypto/pkcs11_int.h"
#include "core/buf.h"

#include <p11-kit/pkcs11.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Report text: a listing, not untrusted input, but bounded all the same. */
#define REPORT_MAX ((size_t)1 << 20)

static tsl_status put(tslp_buf *b, tsl_error *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static tsl_status put(tslp_buf *b, tsl_error *err, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0)
        return tslp_fail(err, TSL_ERR_ARG, 0, "pkcs11: formatting failed");
    return tslp_buf_append(b, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1,
                           err);
}

/* RFC 7512 percent-encoding of a value: unreserved characters stay. */
static void pct(const uint8_t *v, size_t n, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t j = 0;
    for (size_t i = 0; i < n && j + 4 < cap; i++) {
        uint8_t c = v[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            out[j++] = (char)c;
        } else {
            out[j++] = '%';
            out[j++] = hex[c >> 4];
            out[j++] = hex[c & 15];
        }
    }
    out[j] = 0;
}

static CK_RV attr(CK_FUNCTION_LIST *f, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
                  CK_ATTRIBUTE_TYPE type, uint8_t *buf, size_t cap, size_t *len)
{
    CK_ATTRIBUTE a = {type, buf, (CK_ULONG)cap};
    CK_RV rv = f->C_GetAttributeValue(s, o, &a, 1);
    *len = rv == CKR_OK && a.ulValueLen != CK_UNAVAILABLE_INFORMATION ? a.ulValueLen : 0;
    return rv;
}

/* The keys of one token: private keys (or, not logged in, public keys). */
static tsl_status token_keys(tslp_p11_token *t, const tslp_p11_uri *u, const char *token,
                             tslp_buf *b, tsl_error *err)
{
    CK_FUNCTION_LIST *f = (CK_FUNCTION_LIST *)(uintptr_t)tslp_p11_funcs(t);
    unsigned long s = 0;
    unsigned gen = 0;
    tsl_status st = tslp_p11_session_get(t, &s, &gen, err);
    if (st != TSL_OK)
        return st;
    CK_RV rv = CKR_OK;
    for (int pass = 0; pass < 2 && st == TSL_OK; pass++) {
        CK_OBJECT_CLASS cls = pass == 0 ? CKO_PRIVATE_KEY : CKO_PUBLIC_KEY;
        CK_ATTRIBUTE tmpl = {CKA_CLASS, &cls, sizeof cls};
        CK_OBJECT_HANDLE hs[TSLP_P11_MAX_LISTED];
        CK_ULONG n = 0;
        if ((rv = f->C_FindObjectsInit(s, &tmpl, 1)) != CKR_OK)
            break;
        rv = f->C_FindObjects(s, hs, TSLP_P11_MAX_LISTED, &n);
        f->C_FindObjectsFinal(s);
        if (rv != CKR_OK)
            break;
        for (CK_ULONG k = 0; k < n && st == TSL_OK; k++) {
            uint8_t label[256], id[256];
            size_t ll = 0, il = 0;
            attr(f, s, hs[k], CKA_LABEL, label, sizeof label - 1, &ll);
            attr(f, s, hs[k], CKA_ID, id, sizeof id, &il);
            label[ll] = 0;
            if (u != NULL && u->object != NULL && strcmp(u->object, (char *)label) != 0)
                continue;
            if (u != NULL && u->has_id && (u->id_len != il || memcmp(u->id, id, il) != 0))
                continue;
            if (pass == 1) {
                /* A public key whose private half was listed is not listed again. */
                CK_OBJECT_CLASS pc = CKO_PRIVATE_KEY;
                CK_ATTRIBUTE pt[2] = {{CKA_CLASS, &pc, sizeof pc}, {CKA_ID, id, il}};
                CK_OBJECT_HANDLE ph;
                CK_ULONG pn = 0;
                if (il > 0 && f->C_FindObjectsInit(s, pt, 2) == CKR_OK) {
                    f->C_FindObjects(s, &ph, 1, &pn);
                    f->C_FindObjectsFinal(s);
                }
                if (pn > 0)
                    continue;
            }
            char el[800], ei[800], what[64];
            pct(token != NULL ? (const uint8_t *)token : (const uint8_t *)"",
                token != NULL ? strlen(token) : 0, el, sizeof el);
            char uri[2048];
            int w = snprintf(uri, sizeof uri, "pkcs11:token=%s", el);
            if (ll > 0) {
                pct(label, ll, ei, sizeof ei);
                w += snprintf(uri + w, sizeof uri - (size_t)w, ";object=%s", ei);
            }
            if (il > 0) {
                pct(id, il, ei, sizeof ei);
                snprintf(uri + w, sizeof uri - (size_t)w, ";id=%s", ei);
            }
            /* The type, through the same reading the signer does. */
            tsl_key *pub = NULL;
            unsigned long kt = 0;
            tsl_error kerr;
            tsl_error_clear(&kerr);
            if (pass == 0 &&
                tslp_p11_read_public(t, s, hs[k], "key", &pub, &kt, &kerr) == TSL_OK) {
                tsl_alg a = tsl_key_default_alg(pub);
                snprintf(what, sizeof what, "%s", tsl_alg_name(a));
            } else if (pass == 0) {
                snprintf(what, sizeof what, "unusable: %.40s", kerr.msg);
            } else {
                snprintf(what, sizeof what, "public key only (log in to see the private key)");
            }
            tsl_key_free(pub);
            CK_OBJECT_CLASS cc = CKO_CERTIFICATE;
            CK_ATTRIBUTE ct[2] = {{CKA_CLASS, &cc, sizeof cc}, {CKA_ID, id, il}};
            CK_OBJECT_HANDLE ch;
            CK_ULONG cn = 0;
            if (il > 0 && f->C_FindObjectsInit(s, ct, 2) == CKR_OK) {
                f->C_FindObjects(s, &ch, 1, &cn);
                f->C_FindObjectsFinal(s);
            }
            st = put(b, err, "  key\t%s\t%s%s\n", uri, what, cn > 0 ? "\tcertificate" : "");
        }
    }
    tslp_p11_session_put(t, s, gen, rv);
    if (st == TSL_OK && rv != CKR_OK)
        st = tslp_fail(err, TSL_ERR_IO, 0, "pkcs11: token \"%s\": listing objects failed (%s)",
                       tslp_p11_token_label(t), tslp_p11_rv_name(rv, (char[24]){0}));
    return st;
}

tsl_status tsl_pkcs11_list(const char *uri, const char *module, char **out, tsl_error *err)
{
    if (out == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "pkcs11: NULL argument");
    *out = NULL;
    tslp_p11_uri u;
    memset(&u, 0, sizeof u);
    u.lib_major = u.lib_minor = -1;
    tsl_status st = uri != NULL ? tslp_p11_uri_parse(uri, strlen(uri), &u, err) : TSL_OK;
    if (st != TSL_OK)
        return st;
    int have_pin = u.pin_source != NULL ||
                   (getenv("TSL_PKCS11_PIN") != NULL && getenv("TSL_PKCS11_PIN")[0] != 0);
    /* First the labels of the tokens present: a token with no label filter is opened
     * by its label. */
    tslp_p11_token *any = NULL;
    char *keep_token = u.token;
    u.token = NULL;
    /* Opening with no token attribute finds the first token: enough to reach the
     * module's function list and its slot list. */
    char *m = u.manufacturer, *sr = u.serial, *md = u.model;
    u.manufacturer = u.serial = u.model = NULL;
    st = tslp_p11_token_open(&u, module, 0, &any, err);
    u.manufacturer = m;
    u.serial = sr;
    u.model = md;
    u.token = keep_token;
    tslp_buf b;
    tslp_buf_init(&b, REPORT_MAX, "pkcs11 listing");
    if (st == TSL_ERR_NOT_FOUND) {
        st = put(&b, err, "no tokens\n");
        any = NULL;
    }
    CK_FUNCTION_LIST *f = any != NULL ? (CK_FUNCTION_LIST *)(uintptr_t)tslp_p11_funcs(any) : NULL;
    CK_SLOT_ID slots[TSLP_P11_MAX_SLOTS];
    CK_ULONG ns = TSLP_P11_MAX_SLOTS;
    if (st == TSL_OK && f != NULL && f->C_GetSlotList(CK_TRUE, slots, &ns) != CKR_OK)
        ns = 0;
    for (CK_ULONG k = 0; st == TSL_OK && f != NULL && k < ns && k < TSLP_P11_MAX_SLOTS; k++) {
        CK_TOKEN_INFO ti;
        if (f->C_GetTokenInfo(slots[k], &ti) != CKR_OK)
            continue;
        char label[40], manuf[40], model[24], serial[24];
        tslp_p11_fixed(ti.label, sizeof ti.label, label, sizeof label);
        tslp_p11_fixed(ti.manufacturerID, sizeof ti.manufacturerID, manuf, sizeof manuf);
        tslp_p11_fixed(ti.model, sizeof ti.model, model, sizeof model);
        tslp_p11_fixed(ti.serialNumber, sizeof ti.serialNumber, serial, sizeof serial);
        if (!(ti.flags & CKF_TOKEN_INITIALIZED))
            continue;
        if ((u.token != NULL && strcmp(u.token, label) != 0) ||
            (u.serial != NULL && strcmp(u.serial, serial) != 0) ||
            (u.manufacturer != NULL && strcmp(u.manufacturer, manuf) != 0) ||
            (u.model != NULL && strcmp(u.model, model) != 0))
            continue;
        st = put(&b, err, "token\t%s\tmanufacturer %s, model %s, serial %s%s\n", label, manuf,
                 model, serial,
                 ti.flags & CKF_LOGIN_REQUIRED
                     ? (have_pin ? ", logged in" : ", login required (no PIN given: public keys only)")
                     : "");
        if (st != TSL_OK)
            break;
        tslp_p11_uri tu = u;
        tu.token = label;
        tu.manufacturer = manuf;
        tu.serial = serial;
        tu.model = model;
        tslp_p11_token *t = NULL;
        tsl_error terr;
        tsl_error_clear(&terr);
        tsl_status ts = tslp_p11_token_open(&tu, module, have_pin, &t, &terr);
        if (ts == TSL_OK)
            ts = token_keys(t, &u, label, &b, &terr);
        if (ts != TSL_OK)
            st = put(&b, err, "  error\t%s\n", terr.msg);
    }
    tslp_p11_uri_free(&u);
    if (st == TSL_OK)
        st = tslp_buf_append(&b, "", 1, err);
    if (st != TSL_OK) {
        tslp_buf_free(&b);
        return st;
    }
    *out = (char *)tslp_buf_take(&b, NULL);
    return TSL_OK;
}
