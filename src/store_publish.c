/* store_publish.c - publishing a stored list: sign a consistent snapshot of its
 * statuses with its key in every configured form, outside any write transaction (a big
 * list takes seconds to compress), then record the tokens, the version they carry and
 * an audit row in one short transaction, dropping tokens past their retention; and
 * reading the token history back, newest or as of a time. */
#include "store_int.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

/* What a list is signed with, loaded from its settings. */
typedef struct {
    tsl_key *key;
    tsl_cert_chain chain;
} signer;

static void signer_free(signer *s)
{
    tsl_key_free(s->key);
    tsl_cert_chain_free(&s->chain);
}

static tsl_status signer_load(const tsl_list_info *in, signer *s, tsl_error *err)
{
    memset(s, 0, sizeof *s);
    tsl_status r = tsl_key_load(in->key_path, &s->key, err);
    if (r != TSL_OK) {
        tslp_error_prefix(err, "key");
        return r;
    }
    /* As `tsl sign` does: a key without a kid is named by its RFC 7638 thumbprint,
     * unless the list has a kid of its own. */
    if (in->kid == NULL && tsl_key_kid(s->key) == NULL) {
        char *thumb = NULL;
        if ((r = tsl_key_thumbprint(s->key, &thumb, err)) == TSL_OK)
            r = tsl_key_set_kid(s->key, thumb, err);
        tsl_free(thumb);
    }
    if (r == TSL_OK && in->x5c_path != NULL &&
        (r = tsl_cert_chain_load(in->x5c_path, &s->chain, err)) != TSL_OK)
        tslp_error_prefix(err, "x5c");
    if (r != TSL_OK)
        signer_free(s);
    return r;
}

typedef struct {
    tsl_format format;
    uint8_t *token;
    size_t len;
} signed_token;

static tsl_status record(tsl_store *st, const tsl_list_info *in, const signed_token *t,
                         size_t nt, int64_t iat, int64_t exp, int64_t now,
                         int64_t retention, tsl_error *err)
{
    sqlite3_stmt *s;
    tsl_status r = tslp_store_prepare(
        st,
        "INSERT INTO tokens (list_id, format, iat, exp, version, token, created)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        &s, err);
    if (r != TSL_OK)
        return r;
    for (size_t k = 0; k < nt; k++) {
        sqlite3_reset(s);
        sqlite3_bind_text(s, 1, in->id, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 2, t[k].format == TSL_FORMAT_CWT ? "cwt" : "jwt", -1,
                          SQLITE_STATIC);
        sqlite3_bind_int64(s, 3, iat);
        sqlite3_bind_int64(s, 4, exp);
        sqlite3_bind_int64(s, 5, (sqlite3_int64)in->version);
        sqlite3_bind_blob64(s, 6, t[k].token, t[k].len, SQLITE_STATIC);
        sqlite3_bind_int64(s, 7, now);
        int rc = sqlite3_step(s);
        if (rc != SQLITE_DONE) {
            r = tslp_store_sqlfail(st, rc, "recording a token", err);
            break;
        }
    }
    sqlite3_finalize(s);
    if (r != TSL_OK)
        return r;
    if (retention >= 0) {
        if ((r = tslp_store_prepare(st, "DELETE FROM tokens WHERE list_id = ?1 AND exp < ?2",
                                    &s, err)) != TSL_OK)
            return r;
        sqlite3_bind_text(s, 1, in->id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 2, now - retention);
        int rc = sqlite3_step(s);
        sqlite3_finalize(s);
        if (rc != SQLITE_DONE)
            return tslp_store_sqlfail(st, rc, "dropping old tokens", err);
    }
    const char *src = nt == 2 ? "jwt,cwt" : t[0].format == TSL_FORMAT_CWT ? "cwt" : "jwt";
    return tslp_store_audit(st, in->id, now, in->size, 0, src, "publish", err);
}

tsl_status tsl_store_publish(tsl_store *st, const char *id, unsigned formats, int64_t now,
                             int64_t retention, tsl_error *err)
{
    if (st == NULL || id == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "store: NULL argument");
    if (formats > (TSL_PUBLISH_JWT | TSL_PUBLISH_CWT))
        return tslp_fail(err, TSL_ERR_ARG, 0, "publish: formats %#x unknown", formats);
    if (now < 0)
        return tslp_fail(err, TSL_ERR_ARG, 0, "publish: negative time");
    if (now == 0)
        now = (int64_t)time(NULL);
    /* A snapshot: settings, statuses and their version read in one transaction. */
    tsl_status r = tslp_store_begin(st, false, err);
    if (r != TSL_OK)
        return r;
    tslp_list_row row;
    tsl_list *l = NULL;
    if ((r = tslp_store_read_row(st, id, &row, err)) == TSL_OK) {
        memset(row.perm_key, 0, sizeof row.perm_key);
        if ((r = tslp_store_load_chunks(st, &row.info, &l, err)) != TSL_OK)
            tsl_list_info_free(&row.info);
    }
    tslp_store_rollback(st);
    if (r != TSL_OK)
        return r;
    const tsl_list_info *in = &row.info;
    if (formats == 0)
        formats = in->formats;
    if (in->lifetime > INT64_MAX - now) {
        tsl_list_free(l);
        tsl_list_info_free(&row.info);
        return tslp_fail(err, TSL_ERR_ARG, 0, "list \"%s\": lifetime too long", id);
    }
    signer sg;
    signed_token t[2];
    size_t nt = 0;
    memset(t, 0, sizeof t);
    /* Both forms carry the same zlib stream: compress once. */
    if ((r = tsl_list_precompress(l, 0, err)) == TSL_OK &&
        (r = signer_load(in, &sg, err)) == TSL_OK) {
        tsl_token_params p;
        memset(&p, 0, sizeof p);
        p.alg = in->alg;
        p.kid = in->kid;
        p.x5c = (const uint8_t *const *)sg.chain.der;
        p.x5c_len = sg.chain.len;
        p.x5c_count = sg.chain.count;
        p.sub = in->uri;
        p.iat = now;
        p.exp = now + in->lifetime;
        p.ttl = in->ttl;
        static const tsl_format forms[2] = {TSL_FORMAT_JWT, TSL_FORMAT_CWT};
        for (int k = 0; r == TSL_OK && k < 2; k++) {
            if (!(formats & (1u << k)))
                continue;
            p.format = forms[k];
            t[nt].format = forms[k];
            if ((r = tsl_token_sign(l, &p, sg.key, &t[nt].token, &t[nt].len, err)) == TSL_OK)
                nt++;
        }
        signer_free(&sg);
    }
    if (r != TSL_OK) {
        char what[80];
        snprintf(what, sizeof what, "list \"%s\"", id);
        tslp_error_prefix(err, what);
    }
    tsl_list_free(l);
    if (r == TSL_OK && (r = tslp_store_begin(st, true, err)) == TSL_OK) {
        if ((r = record(st, in, t, nt, now, now + in->lifetime, now, retention, err)) ==
            TSL_OK)
            r = tslp_store_commit(st, err);
        else
            tslp_store_rollback(st);
    }
    for (size_t k = 0; k < nt; k++)
        tsl_free(t[k].token);
    tsl_list_info_free(&row.info);
    return r;
}

tsl_status tsl_store_token(tsl_store *st, const char *id, tsl_format format, int64_t at,
                           uint8_t **out, size_t *out_len, int64_t *iat, int64_t *exp,
                           tsl_error *err)
{
    if (st == NULL || id == NULL || out == NULL || out_len == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "store: NULL argument");
    if (format != TSL_FORMAT_JWT && format != TSL_FORMAT_CWT)
        return tslp_fail(err, TSL_ERR_ARG, 0, "store: unknown token format %d", (int)format);
    const char *fname = format == TSL_FORMAT_CWT ? "cwt" : "jwt";
    tsl_status r = tslp_store_begin(st, false, err);
    if (r != TSL_OK)
        return r;
    sqlite3_stmt *s = NULL;
    tslp_list_row row;
    if ((r = tslp_store_read_row(st, id, &row, err)) == TSL_OK) {
        tsl_list_info_free(&row.info);
        r = tslp_store_prepare(
            st,
            at == 0 ? "SELECT token, iat, exp FROM tokens WHERE list_id = ?1 AND format = ?2"
                      " ORDER BY iat DESC, rowid DESC LIMIT 1"
                    : "SELECT token, iat, exp FROM tokens WHERE list_id = ?1 AND format = ?2"
                      " AND iat <= ?3 AND ?3 < exp ORDER BY iat DESC, rowid DESC LIMIT 1",
            &s, err);
    }
    memset(row.perm_key, 0, sizeof row.perm_key);
    if (r == TSL_OK) {
        sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 2, fname, -1, SQLITE_STATIC);
        if (at != 0)
            sqlite3_bind_int64(s, 3, at);
        int rc = sqlite3_step(s);
        if (rc == SQLITE_ROW) {
            const void *tok = sqlite3_column_blob(s, 0);
            size_t len = (size_t)sqlite3_column_bytes(s, 0);
            uint8_t *copy = tslp_malloc(len + 1);
            if (copy == NULL) {
                r = tslp_fail(err, TSL_ERR_NOMEM, 0, "list \"%s\": out of memory", id);
            } else {
                if (len > 0)
                    memcpy(copy, tok, len);
                copy[len] = '\0'; /* a JWT can be used as a string */
                *out = copy;
                *out_len = len;
                if (iat != NULL)
                    *iat = sqlite3_column_int64(s, 1);
                if (exp != NULL)
                    *exp = sqlite3_column_int64(s, 2);
            }
        } else if (rc == SQLITE_DONE) {
            r = at == 0 ? tslp_fail(err, TSL_ERR_INDEX, 0,
                                    "list \"%s\": no %s token published", id, fname)
                        : tslp_fail(err, TSL_ERR_INDEX, 0,
                                    "list \"%s\": no %s token valid at %lld", id, fname,
                                    (long long)at);
        } else {
            r = tslp_store_sqlfail(st, rc, "reading a token", err);
        }
    }
    sqlite3_finalize(s);
    tslp_store_rollback(st);
    return r;
}
