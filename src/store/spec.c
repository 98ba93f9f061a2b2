/* spec.c - the settings checks of a new list (tsl_list_spec_check): one rule for
 * tsl_store_list_create and for `tsl list create`, which runs it before it opens or
 * creates a store so that a doomed create leaves no empty store behind. The messages
 * name a setting by its `tsl list create` option where there is one (the CLI prints them
 * as they are). The key file and the size for verifiers are checked apart: loading a
 * key is not a settings check, and the size is a policy the caller may waive. */
#include "store/idl_perm.h"
#include "store/store_int.h"

#include <stdio.h>
#include <string.h>

bool tslp_store_id_ok(const char *id)
{
    size_t n = 0;
    for (; id[n] != '\0'; n++) {
        unsigned char c = (unsigned char)id[n];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                  (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
        if (!ok || n >= TSLP_ID_MAX)
            return false;
    }
    return n >= 1;
}

/* A uri setting: tsl_uri_check's code, its message after the option's name. */
static tsl_status check_uri(const char *opt, const char *uri, unsigned create_flags,
                            tsl_error *err)
{
    unsigned f = (create_flags & TSL_CREATE_ALLOW_HTTP) ? TSL_URI_ALLOW_HTTP : 0;
    tsl_status r = tsl_uri_check(uri, f, err);
    if (r != TSL_OK)
        tslp_error_prefix(err, opt);
    return r;
}

tsl_status tsl_list_spec_check(const tsl_list_spec *in, tsl_error *err)
{
    if (in == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "list spec: NULL argument");
    if (in->id == NULL || !tslp_store_id_ok(in->id))
        return tslp_fail(err, TSL_ERR_ARG, 0,
                         "list id \"%s\": use 1 to 64 of A-Z a-z 0-9 . _ -",
                         in->id != NULL ? in->id : "");
    const char *id = in->id;
    if (in->uri == NULL || in->uri[0] == '\0')
        return tslp_fail(err, TSL_ERR_ARG, 0, "list \"%s\": a uri is required", id);
    if (!tslp_bits_ok(in->bits))
        return tslp_fail(err, TSL_ERR_ARG, 0, "list \"%s\": bits %u is not 1, 2, 4 or 8",
                         id, in->bits);
    if (in->size < 1 || in->size > TSL_STORE_MAX_SIZE)
        return tslp_fail(err, TSL_ERR_ARG, 0, "list \"%s\": size %llu is not 1 to %llu",
                         id, (unsigned long long)in->size,
                         (unsigned long long)TSL_STORE_MAX_SIZE);
    if (in->decoys >= in->size)
        return tslp_fail(err, TSL_ERR_ARG, 0, "--decoys: %llu is not fewer than the %llu entries",
                         (unsigned long long)in->decoys, (unsigned long long)in->size);
    unsigned dv = in->decoy_value ? in->decoy_value : TSL_STATUS_INVALID;
    if (dv >> in->bits != 0)
        return tslp_fail(err, TSL_ERR_ARG, 0, "--decoy-value: %u does not fit in %u bits",
                         dv, in->bits);
    tsl_status r = check_uri("--uri", in->uri, in->create_flags, err);
    if (r == TSL_OK && in->aggregation_uri != NULL)
        r = check_uri("--aggregation-uri", in->aggregation_uri, in->create_flags, err);
    if (r != TSL_OK)
        return r;
    /* One path cannot answer with both the list and the aggregation document. */
    char p[TSL_URI_MAX + 1], q[TSL_URI_MAX + 1];
    if (in->aggregation_uri != NULL && tsl_uri_path(in->uri, p, sizeof p, NULL) == TSL_OK &&
        tsl_uri_path(in->aggregation_uri, q, sizeof q, NULL) == TSL_OK && strcmp(p, q) == 0)
        return tslp_fail(err, TSL_ERR_ARG, 0,
                         "list \"%s\": uri and aggregation_uri have the same path %s", id, p);
    if (in->key_path == NULL || in->key_path[0] == '\0')
        return tslp_fail(err, TSL_ERR_ARG, 0, "list \"%s\": a signing key is required", id);
    /* A pkcs11: URI is kept as given, so it must be a valid one without a PIN. */
    if ((r = tsl_key_ref_check(in->key_path, err)) != TSL_OK)
        return r;
    if (in->lifetime < 0 || in->ttl < 0)
        return tslp_fail(err, TSL_ERR_ARG, 0,
                         "list \"%s\": lifetime and ttl must not be negative", id);
    if (in->formats > (TSL_PUBLISH_JWT | TSL_PUBLISH_CWT) && in->formats != TSL_PUBLISH_IDLIST)
        return tslp_fail(err, TSL_ERR_ARG, 0, "list \"%s\": formats %#x unknown (an "
                         "identifier list publishes that form alone)", id, in->formats);
    /* An identifier list says listed or not: one bit (idl_ids.c). */
    if (in->formats == TSL_PUBLISH_IDLIST && in->bits != 1)
        return tslp_fail(err, TSL_ERR_ARG, 0, "list \"%s\": an identifier list has 1 bit "
                         "per entry (listed or not), not %u", id, in->bits);
    /* The identifier length (idl_perm.c): only an identifier list has identifiers, and
     * its indices must fit the part of an identifier that holds them (the rest is
     * the redundancy that refuses foreign identifiers). */
    if (in->id_bytes != 0 && in->formats != TSL_PUBLISH_IDLIST)
        return tslp_fail(err, TSL_ERR_ARG, 0, "--id-length: only an identifier list "
                         "(--formats idlist) has identifiers");
    unsigned idb = in->id_bytes ? in->id_bytes : TSL_STORE_ID_BYTES;
    if (in->formats == TSL_PUBLISH_IDLIST && !tslp_idl_len_ok(idb))
        return tslp_fail(err, TSL_ERR_ARG, 0, "--id-length: %u bytes is not %d to %d",
                         idb, TSL_STORE_ID_MIN, TSL_STORE_ID_MAX);
    if (in->formats == TSL_PUBLISH_IDLIST && !tslp_idl_size_fits(idb, in->size))
        return tslp_fail(err, TSL_ERR_ARG, 0, "--size: %llu entries do not fit identifiers "
                         "of %u bytes (at most 2^%u: use --id-length 10 or more)",
                         (unsigned long long)in->size, idb,
                         8 * tslp_idl_index_bytes(idb));
    if (in->kid != NULL && (in->kid[0] == '\0' || strlen(in->kid) > 256))
        return tslp_fail(err, TSL_ERR_ARG, 0, "list \"%s\": kid must be 1 to 256 bytes", id);
    if (in->create_flags & ~(TSL_CREATE_ALLOW_HTTP | TSL_CREATE_LARGE))
        return tslp_fail(err, TSL_ERR_ARG, 0, "list \"%s\": create_flags %#x unknown", id,
                         in->create_flags);
    return TSL_OK;
}

/* A list's forms by name ("jwt", "cwt", "jwt,cwt"), both ways: a setting of the list,
 * read by `tsl list create` and shown by `tsl list show`. */
tsl_status tsl_publish_formats_parse(const char *s, unsigned *mask, tsl_error *err)
{
    unsigned m = 0;
    for (const char *p = s; p != NULL;) {
        const char *comma = strchr(p, ',');
        size_t n = comma != NULL ? (size_t)(comma - p) : strlen(p);
        unsigned bit = n == 3 && memcmp(p, "jwt", 3) == 0   ? TSL_PUBLISH_JWT
                       : n == 3 && memcmp(p, "cwt", 3) == 0 ? TSL_PUBLISH_CWT
                       : n == 6 && memcmp(p, "idlist", 6) == 0 ? TSL_PUBLISH_IDLIST
                                                            : 0;
        if (bit == 0 || (m & bit) != 0 ||
            (m != 0 && (bit == TSL_PUBLISH_IDLIST || m == TSL_PUBLISH_IDLIST)))
            return tslp_fail(err, TSL_ERR_ARG, 0, "\"%s\" is not jwt, cwt, jwt,cwt or "
                             "idlist", s);
        m |= bit;
        p = comma != NULL ? comma + 1 : NULL;
    }
    *mask = m;
    return TSL_OK;
}

const char *tsl_publish_formats_name(unsigned mask)
{
    switch (mask) {
    case TSL_PUBLISH_JWT: return "jwt";
    case TSL_PUBLISH_CWT: return "cwt";
    case TSL_PUBLISH_IDLIST: return "idlist";
    default: return "jwt,cwt";
    }
}
