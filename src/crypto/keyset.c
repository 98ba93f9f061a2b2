/* keyset.c - a set of verification keys (tsl_keyset): added one by one, from a JWKS
 * (RFC 7517 section 5: keys we do not support are skipped, and so are keys marked for
 * another purpose than signatures; malformed ones are errors; TSL_JWKS_MAX_KEYS and
 * TSL_JWKS_MAX_BYTES bound one JWKS) or from a file, and searched by kid and algorithm
 * for a token. */
#include "crypto/ossl_int.h"

#include <jansson.h>
#include <string.h>
#include <sys/stat.h>

tsl_status tsl_keyset_new(tsl_keyset **out, tsl_error *err)
{
    if (out == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "keyset: NULL argument");
    tsl_keyset *s = tslp_calloc(1, sizeof *s);
    if (s == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "keyset: out of memory");
    *out = s;
    return TSL_OK;
}

void tsl_keyset_free(tsl_keyset *set)
{
    if (set == NULL)
        return;
    for (size_t i = 0; i < set->n; i++)
        tsl_key_free(set->keys[i]);
    tslp_free(set->keys);
    tslp_free(set);
}

tsl_status tsl_keyset_add(tsl_keyset *set, tsl_key *key, tsl_error *err)
{
    if (set == NULL || key == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "keyset: NULL argument");
    /* A keyset is for verifying: a JWK that says it is not (RFC 7517 "use", "key_ops")
     * is refused when it is given explicitly. */
    tsl_status st = tslp_key_allows(key, TSLP_OP_VERIFY, err);
    if (st != TSL_OK)
        return st;
    st = TSLP_ELEMS_RESERVE(set->keys, set->n, set->cap, 1, TSLP_KEYSET_MAX_KEYS, "keyset",
                            err);
    if (st != TSL_OK)
        return st;
    set->keys[set->n++] = tslp_key_ref(key);
    return TSL_OK;
}

size_t tsl_keyset_count(const tsl_keyset *set)
{
    return set != NULL ? set->n : 0;
}

const tsl_key *tsl_keyset_get(const tsl_keyset *set, size_t i)
{
    return set != NULL && i < set->n ? set->keys[i] : NULL;
}

const tsl_key *tslp_keyset_next(const tsl_keyset *set, const char *kid, tsl_alg alg,
                                size_t *cursor)
{
    if (set == NULL || cursor == NULL)
        return NULL;
    /* With a kid, two passes: *cursor in [0, n) walks the keys with that kid, then
     * [n, 2n) the keys without one (trusted for any kid). */
    size_t n = set->n, end = kid != NULL ? 2 * n : n;
    for (size_t c = *cursor; c < end; c++) {
        const tsl_key *k = set->keys[c % n];
        if (kid != NULL) {
            int exact = k->kid != NULL && strcmp(k->kid, kid) == 0;
            if (c < n ? !exact : k->kid != NULL)
                continue;
        }
        if (tsl_key_check_alg(k, alg, NULL) != TSL_OK)
            continue;
        *cursor = c + 1;
        return k;
    }
    *cursor = end;
    return NULL;
}

size_t tsl_keyset_skipped(const tsl_keyset *set, const char **why)
{
    if (why != NULL)
        *why = set != NULL && set->skipped > 0 ? set->skip_why : NULL;
    return set != NULL ? set->skipped : 0;
}

/* Notes a skipped member: keys[i], its kid when it has a printable one, and why. */
static void note_skip(tsl_keyset *set, size_t i, json_t *jwk, const char *why)
{
    if (set->skipped++ > 0)
        return;
    const char *kid = json_string_value(json_object_get(jwk, "kid"));
    int show = kid != NULL && strlen(kid) <= 32;
    for (const char *c = kid; show && *c; c++)
        show = *c >= 0x20 && *c < 0x7f && *c != '"';
    snprintf(set->skip_why, sizeof set->skip_why, "keys[%zu]%s%s%s: %s", i,
             show ? " (kid \"" : "", show ? kid : "", show ? "\")" : "", why);
}

/* Adds the keys of a parsed JWKS; on failure the set keeps what it had before. */
static tsl_status add_jwks_value(tsl_keyset *set, json_t *root, int *any_private,
                                 tsl_error *err)
{
    json_t *keys = json_is_object(root) ? json_object_get(root, "keys") : NULL;
    if (!json_is_array(keys))
        return tslp_fail(err, TSL_ERR_MALFORMED, 0,
                         "jwks: not an object with a \"keys\" array");
    /* Checked before any key is parsed: each one costs a validation. */
    if (json_array_size(keys) > TSL_JWKS_MAX_KEYS)
        return tslp_fail(err, TSL_ERR_LIMIT, 0,
                         "jwks: %zu keys, more than TSL_JWKS_MAX_KEYS (%d)",
                         json_array_size(keys), TSL_JWKS_MAX_KEYS);
    size_t before = set->n, skipped = set->skipped, not_sig = 0;
    char first_not_sig[sizeof set->skip_why] = "";
    tsl_status st = TSL_OK;
    for (size_t i = 0; i < json_array_size(keys) && st == TSL_OK; i++) {
        tsl_key *k = NULL;
        tsl_error one;
        tsl_error_clear(&one);
        json_t *jwk = json_array_get(keys, i);
        st = tslp_key_from_jwk_value(jwk, &k, &one);
        if (st == TSL_ERR_UNSUPPORTED) {
            st = TSL_OK; /* RFC 7517 section 5: ignore keys we do not understand */
            note_skip(set, i, jwk, one.msg);
            continue;
        }
        if (st == TSL_OK && tslp_key_allows(k, TSLP_OP_VERIFY, &one) != TSL_OK) {
            /* A key for encryption, or for signing only: not one to verify with. */
            note_skip(set, i, jwk, one.msg);
            if (not_sig++ == 0)
                snprintf(first_not_sig, sizeof first_not_sig, "keys[%zu]: %.120s", i,
                         one.msg);
            tsl_key_free(k);
            continue;
        }
        if (st != TSL_OK) {
            char what[40];
            snprintf(what, sizeof what, "jwks: keys[%zu]", i);
            tslp_error_prefix(&one, what);
            tslp_fail(err, st, 0, "%s", one.msg);
            break;
        }
        *any_private |= k->is_private;
        st = tsl_keyset_add(set, k, err);
        tsl_key_free(k);
    }
    /* Every key there was is for something else than verifying: as for one such JWK
     * given alone, refuse rather than leave the caller without a key and no reason. */
    if (st == TSL_OK && set->n == before && not_sig > 0)
        st = tslp_fail(err, TSL_ERR_KEY, 0, "jwks: no key for verifying signatures: %s",
                       first_not_sig);
    if (st != TSL_OK) {
        while (set->n > before)
            tsl_key_free(set->keys[--set->n]);
        set->skipped = skipped;
    }
    return st;
}

static tsl_status parse_json(const char *json, size_t len, json_t **root, tsl_error *err)
{
    if (len > TSL_JWKS_MAX_BYTES)
        return tslp_fail(err, TSL_ERR_LIMIT, 0,
                         "jwks: %zu bytes, more than TSL_JWKS_MAX_BYTES (%zu)", len,
                         TSL_JWKS_MAX_BYTES);
    void *v = NULL;
    tsl_status st = tslp_json_load(len ? json : "", len, NULL, &v, "jwks", err);
    *root = v;
    return st;
}

tsl_status tsl_keyset_add_jwks(tsl_keyset *set, const char *json, size_t len,
                               tsl_error *err)
{
    if (set == NULL || (json == NULL && len > 0))
        return tslp_fail(err, TSL_ERR_ARG, 0, "jwks: NULL argument");
    json_t *root = NULL;
    tsl_status st = parse_json(json, len, &root, err);
    if (st != TSL_OK)
        return st;
    int any_private = 0;
    st = add_jwks_value(set, root, &any_private, err);
    tslp_jwk_wipe(root);
    json_decref(root);
    return st;
}

tsl_status tsl_keyset_load(tsl_keyset *set, const char *path, tsl_error *err)
{
    if (set == NULL || path == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "keyset: NULL argument");
    char *buf = NULL;
    size_t len = 0;
    struct stat stt;
    tsl_status st = tslp_read_key_file(path, &buf, &len, &stt, err);
    if (st != TSL_OK)
        return st;
    size_t before = set->n;
    int any_private = 0;
    if (tslp_looks_like_json(buf, len)) {
        json_t *root = NULL;
        st = parse_json(buf, len, &root, err);
        if (st == TSL_OK) {
            if (json_is_object(root) && json_object_get(root, "keys") != NULL) {
                st = add_jwks_value(set, root, &any_private, err);
            } else {
                tsl_key *k = NULL;
                st = tslp_key_from_jwk_value(root, &k, err);
                if (st == TSL_OK) {
                    any_private = k->is_private;
                    st = tsl_keyset_add(set, k, err);
                    tsl_key_free(k);
                }
            }
            tslp_jwk_wipe(root);
            json_decref(root);
        }
    } else {
        st = tslp_keyset_add_pem(set, buf, len, &any_private, err);
    }
    tslp_free_secret(buf, len + 1);
    if (st != TSL_OK)
        tslp_error_prefix(err, path);
    else if (any_private)
        st = tslp_check_private_mode(path, &stt, err);
    if (st != TSL_OK) {
        while (set->n > before)
            tsl_key_free(set->keys[--set->n]);
    }
    return st;
}

/* ---- PEM bundles (every key block of a PEM text) ---- */

struct set_ctx {
    tsl_keyset *set;
    int any_private;
    size_t added;
};

static tsl_status add_to_set(void *ctx, tsl_key *key, tsl_error *err)
{
    struct set_ctx *c = ctx;
    /* The JWKS bound holds for a PEM bundle too: each key costs a validation. */
    if (++c->added > TSL_JWKS_MAX_KEYS) {
        tsl_key_free(key);
        return tslp_fail(err, TSL_ERR_LIMIT, 0,
                         "pem: more than TSL_JWKS_MAX_KEYS (%d) keys", TSL_JWKS_MAX_KEYS);
    }
    c->any_private |= key->is_private;
    tsl_status st = tsl_keyset_add(c->set, key, err);
    tsl_key_free(key);
    return st;
}

tsl_status tslp_keyset_add_pem(tsl_keyset *set, const char *pem, size_t len,
                               int *any_private, tsl_error *err)
{
    struct set_ctx c = {set, 0, 0};
    tsl_status st = tslp_pem_keys(pem, len, 1, add_to_set, &c, err);
    *any_private = c.any_private;
    return st;
}

tsl_status tsl_keyset_load_into(tsl_keyset **set, const char *path, tsl_error *err)
{
    if (set == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "keyset: NULL argument");
    tsl_status st = *set == NULL ? tsl_keyset_new(set, err) : TSL_OK;
    return st == TSL_OK ? tsl_keyset_load(*set, path, err) : st;
}

uint32_t tsl_keyset_algs(const tsl_keyset *set)
{
    /* A secret among the keys is why HS256 is allowed at all: never otherwise, so that
     * a public key cannot be used as an HMAC secret. */
    for (size_t i = 0; set != NULL && i < set->n; i++)
        if (tsl_key_default_alg(set->keys[i]) == TSL_ALG_HS256)
            return TSL_ALGS_SIGNATURE | TSL_ALG_BIT(TSL_ALG_HS256);
    return TSL_ALGS_SIGNATURE;
}
