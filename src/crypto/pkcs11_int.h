/* pkcs11_int.h - the PKCS#11 pieces of the crypto layer, shared by pkcs11_uri.c (the
 * RFC 7512 parser), pkcs11.c (modules, tokens, the session pool, login), pkcs11_key.c
 * (a key on a token: its public half, mechanisms, the tsl_signer over it) and
 * pkcs11_report.c (what `tsl pkcs11` lists and checks). Never installed; the PKCS#11
 * types stay in these files, as OpenSSL's stay behind ossl_int.h. */
#ifndef TSL_PKCS11_INT_H
#define TSL_PKCS11_INT_H

#include "crypto/crypto.h"

/* ---- RFC 7512 URIs (pkcs11_uri.c) ---- */

/* Which object class a URI's "type" names (TSLP_P11_ANY when absent). */
enum { TSLP_P11_ANY, TSLP_P11_PRIVATE, TSLP_P11_PUBLIC, TSLP_P11_CERT, TSLP_P11_SECRET,
       TSLP_P11_DATA };

/* A parsed pkcs11: URI. Text attributes are percent-decoded, NUL-terminated and free
 * of NUL bytes (NULL when absent); id is raw bytes. pin-value is never kept: the
 * parser refuses it (a PIN in a URI would sit in argv and in the store). */
typedef struct {
    char *token, *manufacturer, *serial, *model; /* token attributes */
    char *object;                                /* CKA_LABEL */
    uint8_t *id;                                 /* CKA_ID */
    size_t id_len;
    int has_id;
    int type;                                    /* TSLP_P11_* */
    char *lib_manufacturer, *lib_description;    /* module (library) attributes */
    int lib_major, lib_minor;                    /* library-version, -1 when absent */
    char *slot_manufacturer, *slot_description;
    unsigned long slot_id;
    int has_slot_id;
    char *pin_source;  /* "file:PATH" or a path: where the PIN is read from */
    char *module_name; /* a module of p11-kit's configuration, by name */
    char *module_path; /* the module to dlopen */
} tslp_p11_uri;

/* Parses len bytes of s (at most TSLP_P11_URI_MAX). TSL_ERR_MALFORMED names what is
 * wrong (a bad percent escape, an unknown or repeated attribute, a NUL byte, a
 * pin-value) without quoting any attribute value; TSL_ERR_LIMIT past the cap. *out is
 * zeroed on failure; free it with tslp_p11_uri_free either way. */
tsl_status tslp_p11_uri_parse(const char *s, size_t len, tslp_p11_uri *out,
                              tsl_error *err);
void tslp_p11_uri_free(tslp_p11_uri *u);

/* True when s starts with the scheme "pkcs11:" (case-insensitive, as RFC 3986). */
int tslp_p11_is_uri(const char *s);

/* ---- modules, tokens, sessions (pkcs11.c) ---- */

typedef struct tslp_p11_token tslp_p11_token;

/* The token a URI names, opened and logged in once per process and shared: the same
 * module path and token give the same handle. module is the --pkcs11-module fallback
 * (NULL: $TSL_PKCS11_MODULE, else p11-kit's proxy). Errors name the module, the token
 * and the PKCS#11 return value; never the PIN. login 0 opens without logging in (to
 * list public objects). */
tsl_status tslp_p11_token_open(const tslp_p11_uri *u, const char *module, int login,
                               tslp_p11_token **out, tsl_error *err);

/* The module's function list and the token's label, for pkcs11_key.c. */
const void *tslp_p11_funcs(const tslp_p11_token *t); /* CK_FUNCTION_LIST * */
const char *tslp_p11_token_label(const tslp_p11_token *t);

/* Takes a session of the token's pool (opening one when fewer than
 * TSLP_P11_MAX_SESSIONS are open, else waiting for one), reopening the token first if
 * it was lost. *gen gets the token's generation: object handles found under another
 * generation are stale. */
tsl_status tslp_p11_session_get(tslp_p11_token *t, unsigned long *session, unsigned *gen,
                                tsl_error *err);
/* Returns a session. rv is the last PKCS#11 return value seen on it: when it says the
 * session, the device or the token is gone, every session is dropped and the token is
 * reopened on the next get. */
void tslp_p11_session_put(tslp_p11_token *t, unsigned long session, unsigned gen,
                          unsigned long rv);

/* Whether rv means a lost session, device or token (the reopen class). */
int tslp_p11_rv_lost(unsigned long rv);
/* The CKR_ name of rv ("CKR_PIN_INCORRECT"), or "CKR_0x..." for another value. */
const char *tslp_p11_rv_name(unsigned long rv, char buf[24]);
/* A PKCS#11 space-padded fixed field as a C string (trailing blanks dropped). */
void tslp_p11_fixed(const unsigned char *f, size_t n, char *out, size_t out_size);

/* A key that should be on t was not found: softhsm2 (and network HSM clients) see a
 * token that went away and came back only after C_Initialize. Re-initialises t's
 * module (at most once per 5 s; only a module this process initialised) and marks
 * the token for reopening. TSL_OK when it did, so a retry may find the key;
 * TSL_ERR_NOT_FOUND when it was too soon. */
tsl_status tslp_p11_token_refresh(tslp_p11_token *t, tsl_error *err);
/* Sets the "a token is lost" state of tsl_pkcs11_get_stats. */
void tslp_p11_set_lost(int lost);

/* TSL_OK when the token offers mechanism mt (named mname) for signing, else
 * TSL_ERR_UNSUPPORTED naming it and the alg that needs it. */
tsl_status tslp_p11_mech_check(tslp_p11_token *t, unsigned long mt, const char *mname,
                               const char *alg, tsl_error *err);

/* ---- keys (pkcs11_key.c) ---- */

/* The public key of the private key object priv, read from the token (see the file's
 * comment); *key_type gets its CKA_KEY_TYPE. shown names the key in messages. */
tsl_status tslp_p11_read_public(tslp_p11_token *t, unsigned long session,
                                unsigned long priv, const char *shown, tsl_key **out,
                                unsigned long *key_type, tsl_error *err);

/* tsl_signer_load for a pkcs11: URI. */
tsl_status tslp_p11_signer(const char *uri, const tsl_signer_opts *o, tsl_signer **out,
                           tsl_key **pub_out, tsl_error *err);

/* Counters for /metrics, kept for the whole process (tsl_pkcs11_get_stats). */
void tslp_p11_count_sign(int ok);

#endif /* TSL_PKCS11_INT_H */
