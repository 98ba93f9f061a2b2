/* store_publish.c - publishing a stored list: sign a consistent snapshot of its
 * statuses with its key in every configured form, outside any write transaction (a big
 * list takes seconds to compress), then record the tokens, the version they carry and
 * an audit row in one short transaction, dropping tokens past their retention; and
 * reading the token history back, newest or as of a time. Versions only move forward:
 * a token whose snapshot is older than the newest recorded one's (two publishes racing
 * around a change) is not recorded, nor a twin of a recorded one (same version and
 * iat), and a token of newer statuses is always the newest (see record()). */
#include "crypto/crypto.h"
#include "store/backend.h"
#include "store/store_segments.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

/* See drop_fresh. */
#define FRESH_S 60

/* What a list is signed with, loaded from its settings: every token is signed through
 * the tsl_signer, which names the alg, kid and chain. */
typedef struct {
    tsl_key *key;
    tsl_cert_chain *chain;
    tsl_signer *signer;
} signer;

static void signer_free(signer *s)
{
    tsl_signer_free(s->signer);
    tsl_key_free(s->key);
    tsl_cert_chain_free(s->chain);
}

static tsl_status signer_load(const tsl_list_info *in, signer *s, tsl_error *err)
{
    memset(s, 0, sizeof *s);
    tsl_status r = TSL_OK;
    if (in->x5c_path != NULL && (r = tsl_cert_chain_load(in->x5c_path, &s->chain, err)) != TSL_OK) {
        tslp_error_prefix(err, "x5c");
        return r;
    }
    /* A key file or a pkcs11: URI. As `tsl sign` does: a key without a kid is named by
     * its RFC 7638 thumbprint, unless the list has a kid of its own. */
    tsl_signer_opts so;
    memset(&so, 0, sizeof so);
    so.alg = in->alg;
    so.kid = in->kid;
    so.x5c = s->chain;
    if ((r = tsl_signer_load(in->key_path, &so, &s->signer, NULL, err)) != TSL_OK) {
        tslp_error_prefix(err, "key");
        signer_free(s);
    }
    return r;
}

/* What a publish signs with, kept until the tokens are recorded: a token may have to be
 * signed again, from the same snapshot, inside the write transaction. */
typedef struct {
    tsl_list *l; /* the snapshot, compressed once (tsl_list_precompress) */
    signer sg;
    tsl_token_params p;
    int64_t lifetime;
    /* An identifier list (formats TSL_PUBLISH_IDLIST, idl_ids.c): the identifiers of
     * the entries that are not VALID, signed as an identifier list into the CWT slot. */
    bool idl;
    uint8_t idl_key[TSLP_PERM_KEY_BYTES]; /* secret: wiped once the ids are made */
    unsigned id_bytes;                    /* the list's identifier length L */
    uint8_t *ids;                         /* n * L */
    const uint8_t **id_ptr;
    size_t *id_len;
    size_t n;
    const char *aggregation_uri;
} signing;

/* The identifiers listed: every index whose status is not VALID (bits is 1). */
static tsl_status idl_collect(signing *sn, tsl_error *err)
{
    size_t nbytes = 0;
    const uint8_t *b = tsl_list_bytes(sn->l, &nbytes);
    uint64_t size = tsl_list_size(sn->l), cap = 0;
    uint64_t *idx = NULL;
    tsl_status r = TSL_OK;
    for (size_t k = 0; r == TSL_OK && k < nbytes; k++) {
        if (b[k] == 0)
            continue;
        for (unsigned bit = 0; bit < 8 && r == TSL_OK; bit++) {
            uint64_t i = (uint64_t)k * 8 + bit;
            if (!(b[k] >> bit & 1u) || i >= size)
                continue;
            if ((r = TSLP_ELEMS_RESERVE(idx, sn->n, cap, 1, TSLP_IDLIST_MAX_IDS,
                                        "publish: identifiers listed", err)) == TSL_OK)
                idx[sn->n++] = i;
        }
    }
    size_t n = sn->n ? sn->n : 1;
    if (r == TSL_OK && ((sn->ids = tslp_malloc(n * sn->id_bytes)) == NULL ||
                        (sn->id_ptr = tslp_malloc(n * sizeof *sn->id_ptr)) == NULL ||
                        (sn->id_len = tslp_malloc(n * sizeof *sn->id_len)) == NULL))
        r = tslp_fail(err, TSL_ERR_NOMEM, 0, "publish: out of memory");
    if (r == TSL_OK)
        r = tslp_store_idl_ids(sn->idl_key, sn->id_bytes, idx, sn->n, sn->ids, err);
    for (size_t k = 0; r == TSL_OK && k < sn->n; k++) {
        sn->id_ptr[k] = sn->ids + k * sn->id_bytes;
        sn->id_len[k] = sn->id_bytes;
    }
    tslp_cleanse(sn->idl_key, sizeof sn->idl_key);
    tslp_free(idx);
    return r;
}

static void idl_free(signing *sn)
{
    tslp_cleanse(sn->idl_key, sizeof sn->idl_key);
    tslp_free(sn->ids);
    tslp_free(sn->id_ptr);
    tslp_free(sn->id_len);
}

typedef struct {
    tsl_format format;
    uint8_t *token;
    size_t len;
    int64_t iat;
} signed_token;

/* Signs (again) the token t as of iat. */
static tsl_status sign_at(signing *sn, signed_token *t, int64_t iat, tsl_error *err)
{
    if (iat < 0 || sn->lifetime > INT64_MAX - iat)
        return tslp_fail(err, TSL_ERR_ARG, 0, "publish: iat %lld and lifetime too late",
                         (long long)iat);
    sn->p.format = t->format;
    sn->p.iat = iat;
    sn->p.exp = iat + sn->lifetime;
    uint8_t *tok = NULL;
    size_t len = 0;
    tsl_status r;
    if (sn->idl) {
        tsl_idlist_params ip = {.sub = sn->p.sub, .iat = iat, .exp = sn->p.exp,
                                .ttl = sn->p.ttl, .aggregation_uri = sn->aggregation_uri,
                                .ids = sn->id_ptr, .id_lens = sn->id_len, .n = sn->n};
        r = tsl_idlist_sign(&ip, sn->sg.signer, &tok, &len, err);
    } else {
        r = tsl_token_sign_with(sn->l, &sn->p, sn->sg.signer, &tok, &len, err);
    }
    if (r == TSL_OK) {
        tsl_free(t->token);
        t->token = tok;
        t->len = len;
        t->iat = iat;
    }
    return r;
}


/* Records token t, with the list it carries cut out (token_pack.c) when it is the
 * snapshot's compressed stream: the JWT and CWT of a publication then record the list
 * once between them (*listed: an earlier form of this publication recorded it), and a
 * re-signing of the same statuses writes none of its pieces. */
static tsl_status insert(tsl_store *st, const char *id, const signing *sn,
                         const signed_token *t, uint64_t version, int64_t now, bool *listed,
                         tsl_error *err)
{
    tslp_token_row row = {.bytes = t->token, .len = t->len};
    uint8_t digest[TSLP_TOKEN_DIGEST];
    uint8_t *packed = NULL;
    size_t plen = 0;
    tsl_status r = TSL_OK;
    if (!sn->idl && sn->l->zcache != NULL && st->has_token_lists &&
        (r = tslp_token_pack(t->format, t->token, t->len, sn->l->zcache, sn->l->zcache_len,
                             &packed, &plen, digest, err)) != TSL_OK)
        return r;
    if (packed != NULL) {
        row = (tslp_token_row){.bytes = packed, .len = plen, .lst = digest,
                               .body = *listed ? NULL : sn->l->zcache,
                               .body_len = *listed ? 0 : sn->l->zcache_len};
    }
    r = st->be->token_insert(st, id, t->format, t->iat, t->iat + sn->lifetime, version, &row,
                             now, err);
    if (r == TSL_OK && packed != NULL)
        *listed = true;
    tslp_free(packed);
    return r;
}

/* Inside the write transaction, form by form. Versions only move forward: a token of
 * older statuses than the newest recorded one is not recorded (a publish that read its
 * snapshot later recorded first), nor a twin of a recorded token (same version and
 * iat). A token of newer statuses whose iat is earlier than the newest's (its `now` was
 * taken before the other's: a publisher's round, --now) would not be the one readers
 * pick, so it is signed again as of that iat and recorded after it. Then tokens past
 * the retention are dropped and the publication is audited. */
static tsl_status record(tsl_store *st, const tsl_list_info *in, signing *sn,
                         signed_token *t, size_t nt, int64_t now, int64_t retention,
                         const char *by, tsl_publish_result *res, tsl_error *err)
{
    const struct tslp_store_backend *be = st->be;
    tsl_status r = TSL_OK;
    bool listed = false;
    for (size_t k = 0; r == TSL_OK && k < nt; k++) {
        unsigned bit = t[k].format == TSL_FORMAT_CWT ? TSL_PUBLISH_CWT : TSL_PUBLISH_JWT;
        bool have, twin;
        uint64_t nv = 0;
        int64_t ni = 0;
        if ((r = be->token_head(st, in->id, t[k].format, in->version, t[k].iat, &have, &nv,
                                &ni, &twin, err)) != TSL_OK)
            break;
        if ((have && nv > in->version) || twin) {
            res->skipped |= bit;
            if (nv > res->newest)
                res->newest = nv;
            continue;
        }
        if (have && nv < in->version && t[k].iat < ni) {
            if ((r = sign_at(sn, &t[k], ni, err)) != TSL_OK)
                break;
            res->raised |= bit;
        }
        if ((r = insert(st, in->id, sn, &t[k], in->version, now, &listed, err)) == TSL_OK)
            res->recorded |= bit;
    }
    if (r != TSL_OK || res->recorded == 0)
        return r; /* nothing recorded: nothing to drop or audit */
    if (retention >= 0 && (r = be->token_prune(st, in->id, now - retention, err)) != TSL_OK)
        return r;
    const char *forms = sn->idl                                             ? "idlist"
                        : res->recorded == (TSL_PUBLISH_JWT | TSL_PUBLISH_CWT) ? "jwt,cwt"
                        : res->recorded == TSL_PUBLISH_CWT                   ? "cwt"
                                                                             : "jwt";
    /* Who asked (the issuer API's "apikey:ID") before the forms: the audit says who. */
    char src[TSLP_PUBLISH_BY_MAX + 16];
    if (by != NULL)
        snprintf(src, sizeof src, "%.*s (%s)", TSLP_PUBLISH_BY_MAX, by, forms);
    else
        snprintf(src, sizeof src, "%s", forms);
    return tslp_store_audit(st, in->id, now, in->size, 0, src, "publish", err);
}

static tsl_status publish_locked(tsl_store *st, const char *id, unsigned formats,
                                 int64_t now, int64_t retention, const char *by,
                                 tsl_publish_result *res, tslp_published *keep,
                                 tsl_error *err);
static tsl_status publish_any(tsl_store *st, const char *id, unsigned formats, int64_t now,
                              int64_t retention, const char *by, tsl_publish_result *res,
                              tslp_published *keep, tsl_error *err);

tsl_status tsl_store_publish(tsl_store *st, const char *id, unsigned formats, int64_t now,
                             int64_t retention, tsl_error *err)
{
    return tsl_store_publish_ex(st, id, formats, now, retention, NULL, err);
}

tsl_status tsl_store_publish_ex(tsl_store *st, const char *id, unsigned formats,
                                int64_t now, int64_t retention, tsl_publish_result *res,
                                tsl_error *err)
{
    return tsl_store_publish_by(st, id, formats, now, retention, NULL, res, err);
}

tsl_status tsl_store_publish_by(tsl_store *st, const char *id, unsigned formats,
                                int64_t now, int64_t retention, const char *by,
                                tsl_publish_result *res, tsl_error *err)
{
    return publish_any(st, id, formats, now, retention, by, res, NULL, err);
}

tsl_status tslp_store_publish_keep(tsl_store *st, const char *id, int64_t now,
                                   int64_t retention, tsl_publish_result *res,
                                   tslp_published *out, tsl_error *err)
{
    if (out != NULL)
        memset(out, 0, sizeof *out);
    return publish_any(st, id, 0, now, retention, NULL, res, out, err);
}

void tslp_published_free(tslp_published *p)
{
    if (p == NULL)
        return;
    for (int k = 0; k < 2; k++)
        tsl_free(p->token[k]);
    memset(p, 0, sizeof *p);
}

static tsl_status publish_any(tsl_store *st, const char *id, unsigned formats, int64_t now,
                              int64_t retention, const char *by, tsl_publish_result *res,
                              tslp_published *keep, tsl_error *err)
{
    tsl_publish_result local;
    if (res == NULL)
        res = &local;
    memset(res, 0, sizeof *res);
    if (st == NULL || id == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "store: NULL argument");
    if (formats > (TSL_PUBLISH_JWT | TSL_PUBLISH_CWT) && formats != TSL_PUBLISH_IDLIST)
        return tslp_fail(err, TSL_ERR_ARG, 0, "publish: formats %#x unknown", formats);
    if (now < 0)
        return tslp_fail(err, TSL_ERR_ARG, 0, "publish: negative time");
    if (now == 0)
        now = (int64_t)time(NULL);
    /* Publishers on other hosts (PostgreSQL): one signs at a time, the others skip. */
    tsl_status r;
    if (st->be->publish_lock != NULL) {
        bool got = false;
        if ((r = st->be->publish_lock(st, id, &got, err)) != TSL_OK)
            return r;
        if (!got) {
            res->busy = 1;
            return TSL_OK;
        }
        r = publish_locked(st, id, formats, now, retention, by, res, keep, err);
        st->be->publish_unlock(st, id);
        return r;
    }
    return publish_locked(st, id, formats, now, retention, by, res, keep, err);
}

/* Drops from *formats the forms whose newest recorded token has the current version
 * and an iat at most FRESH_S seconds (and a third of the lifetime) from now, either way
 * for the clocks of other hosts (see tsl_store_publish_ex): another publisher signed
 * this version as this one was deciding to. Publishers that react to the same change
 * do so within a second or two; a re-sign before exp (the publisher's "near expiry",
 * two thirds into the lifetime) is always older than that. Inside the snapshot's
 * transaction. */
static tsl_status drop_fresh(tsl_store *st, const tsl_list_info *in, unsigned *formats,
                             int64_t now, tsl_publish_result *res, tsl_error *err)
{
    static const tsl_format forms[2] = {TSL_FORMAT_JWT, TSL_FORMAT_CWT};
    for (int k = 0; k < 2; k++) {
        if (!(*formats & (1u << k)))
            continue;
        bool have = false, twin = false;
        uint64_t nv = 0;
        int64_t ni = 0;
        tsl_status r = st->be->token_head(st, in->id, forms[k], in->version, now, &have,
                                          &nv, &ni, &twin, err);
        if (r != TSL_OK)
            return r;
        int64_t window = in->lifetime / 3 < FRESH_S ? in->lifetime / 3 : FRESH_S;
        if (have && nv == in->version && ni >= now - window && ni <= now + window) {
            *formats &= ~(1u << k);
            res->fresh |= 1u << k;
            res->skipped |= 1u << k;
            res->newest = nv;
        }
    }
    return TSL_OK;
}

/* See tslp_store_publish_stats. */
static tslp_stream_stats *stats_hook;
static double *sign_hook;

void tslp_store_publish_stats(tslp_stream_stats *s, double *sign_ms)
{
    stats_hook = s;
    sign_hook = sign_ms;
}

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Inside the write transaction: the segments the build encoded are stored when the
 * list is still at the snapshot's version (a batch committed since may have changed
 * the chunks they were encoded from; the next publication encodes those again). */
static tsl_status write_back(tsl_store *st, const tsl_list_info *in, tslp_stream *b,
                             bool *wrote, tsl_error *err)
{
    *wrote = false;
    if (tslp_stream_stats_of(b)->encoded == 0 && tslp_stream_stats_of(b)->corrupt == 0)
        return TSL_OK;
    tslp_list_row now;
    tsl_status r = tslp_store_read_row(st, in->id, &now, err);
    if (r != TSL_OK)
        return r;
    memset(now.perm_key, 0, sizeof now.perm_key);
    bool same = now.info.version == in->version;
    tsl_list_info_free(&now.info);
    if (!same)
        return TSL_OK;
    *wrote = true;
    return tslp_stream_write_back(st, b, err);
}

static tsl_status publish_locked(tsl_store *st, const char *id, unsigned formats,
                                 int64_t now, int64_t retention, const char *by,
                                 tsl_publish_result *res, tslp_published *keep,
                                 tsl_error *err)
{
    /* A snapshot: settings, statuses and their version read in one transaction. */
    tsl_status r = tslp_store_begin(st, false, err);
    if (r != TSL_OK)
        return r;
    tslp_list_row row;
    signing sn;
    memset(&sn, 0, sizeof sn);
    /* A status list's zlib stream comes from the stored segments (store_segments.c):
     * only the chunks whose segment is missing or damaged are read and encoded, in this
     * snapshot. An identifier list needs its entries (the listed indices), so it loads
     * them instead. */
    tslp_stream *stream = NULL;
    uint8_t *z = NULL;
    size_t zlen = 0;
    if ((r = tslp_store_read_row(st, id, &row, err)) == TSL_OK) {
        /* An identifier list is recorded and served in the CWT slot; its key makes the
         * identifiers (idl_ids.c). */
        sn.idl = row.info.formats == TSL_PUBLISH_IDLIST;
        if (sn.idl) {
            memcpy(sn.idl_key, row.perm_key, sizeof sn.idl_key);
            sn.id_bytes = row.info.id_bytes;
            if (formats == TSL_PUBLISH_JWT)
                r = tslp_fail(err, TSL_ERR_ARG, 0, "list \"%s\": an identifier list has no "
                              "JWT form", id);
            formats = TSL_PUBLISH_CWT;
        } else if (formats == TSL_PUBLISH_IDLIST) {
            r = tslp_fail(err, TSL_ERR_ARG, 0, "list \"%s\": not an identifier list", id);
        }
        tslp_cleanse(row.perm_key, sizeof row.perm_key);
        if (r != TSL_OK)
            tsl_list_info_free(&row.info);
    }
    if (r == TSL_OK) {
        if (formats == 0)
            formats = row.info.formats;
        if ((st->be->publish_lock != NULL &&
             (r = drop_fresh(st, &row.info, &formats, now, res, err)) != TSL_OK) ||
            (formats != 0 && sn.idl &&
             (r = tslp_store_load_chunks(st, &row.info, &sn.l, err)) != TSL_OK) ||
            (formats != 0 && !sn.idl &&
             (r = tslp_stream_build(st, &row.info, 0, &stream, &z, &zlen, err)) != TSL_OK))
            tsl_list_info_free(&row.info);
    }
    tslp_store_rollback(st);
    if (r != TSL_OK) {
        idl_free(&sn);
        tsl_list_free(sn.l);
        return r;
    }
    const tsl_list_info *in = &row.info;
    res->version = in->version;
    if (formats == 0) {
        /* Every form is fresh: nothing to sign. */
        idl_free(&sn);
        tsl_list_free(sn.l);
        tsl_list_info_free(&row.info);
        return TSL_OK;
    }
    double t_sign = mono_ms();
    if (!sn.idl) {
        const tslp_stream_stats *ss = tslp_stream_stats_of(stream);
        res->segments_reused = ss->reused;
        res->segments_encoded = ss->encoded;
        res->segments_corrupt = ss->corrupt;
        /* Signed from the stream alone: a list whose entries are not loaded. */
        r = tslp_list_from_stream(in->bits, in->size, z, zlen, TSL_LEVEL_DEFAULT, &sn.l, err);
        tslp_free(z);
        if (r == TSL_OK && in->aggregation_uri != NULL)
            r = tsl_list_set_aggregation_uri(sn.l, in->aggregation_uri, err);
    }
    if (r == TSL_OK && in->lifetime > INT64_MAX - now)
        r = tslp_fail(err, TSL_ERR_ARG, 0, "list \"%s\": lifetime too long", id);
    if (r != TSL_OK) {
        idl_free(&sn);
        tsl_list_free(sn.l);
        tslp_stream_free(stream);
        tsl_list_info_free(&row.info);
        return r;
    }
    signed_token t[2];
    size_t nt = 0;
    memset(t, 0, sizeof t);
    bool loaded = false;
    /* Both forms carry the same zlib stream, built once, outside any transaction; an
     * identifier list collects its listed identifiers once. */
    if ((r = sn.idl ? idl_collect(&sn, err) : TSL_OK) == TSL_OK &&
        (r = signer_load(in, &sn.sg, err)) == TSL_OK) {
        sn.aggregation_uri = in->aggregation_uri;
        loaded = true;
        sn.p.sub = in->uri;
        sn.p.ttl = in->ttl;
        sn.lifetime = in->lifetime;
        static const tsl_format forms[2] = {TSL_FORMAT_JWT, TSL_FORMAT_CWT};
        for (int k = 0; r == TSL_OK && k < 2; k++) {
            if (!(formats & (1u << k)))
                continue;
            t[nt].format = forms[k];
            if ((r = sign_at(&sn, &t[nt], now, err)) == TSL_OK)
                nt++;
        }
    }
    double t_write = mono_ms();
    bool wrote = false;
    if (r != TSL_OK) {
        char what[80];
        snprintf(what, sizeof what, "list \"%s\"", id);
        tslp_error_prefix(err, what);
    } else if ((r = tslp_store_begin(st, true, err)) == TSL_OK) {
        /* The tokens and the segments encoded for them, in one transaction. */
        if ((r = record(st, in, &sn, t, nt, now, retention, by, res, err)) == TSL_OK &&
            (stream == NULL || (r = write_back(st, in, stream, &wrote, err)) == TSL_OK) &&
            (res->recorded != 0 || wrote))
            r = tslp_store_commit(st, err);
        else
            tslp_store_rollback(st);
        if (r != TSL_OK)
            res->recorded = res->raised = 0;
    }
    if (stats_hook != NULL && stream != NULL) {
        *stats_hook = *tslp_stream_stats_of(stream);
        stats_hook->write_ms = mono_ms() - t_write;
        if (sign_hook != NULL)
            *sign_hook = t_write - t_sign;
    }
    tslp_stream_free(stream);
    if (loaded)
        signer_free(&sn.sg);
    idl_free(&sn);
    tsl_list_free(sn.l);
    /* The tokens recorded, to the caller that keeps them (committed: r is TSL_OK). */
    for (size_t k = 0; keep != NULL && r == TSL_OK && k < nt; k++) {
        int slot = t[k].format == TSL_FORMAT_CWT;
        if (!(res->recorded & (slot ? TSL_PUBLISH_CWT : TSL_PUBLISH_JWT)))
            continue;
        keep->token[slot] = t[k].token;
        keep->len[slot] = t[k].len;
        keep->iat[slot] = t[k].iat;
        keep->exp[slot] = t[k].iat + sn.lifetime;
        t[k].token = NULL;
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
    tslp_list_row row;
    if ((r = tslp_store_read_row(st, id, &row, err)) == TSL_OK) {
        tsl_list_info_free(&row.info);
        memset(row.perm_key, 0, sizeof row.perm_key);
        bool found = false;
        r = st->be->token_read(st, id, format, at, &found, out, out_len, iat, exp, err);
        if (r == TSL_OK && !found)
            r = at == 0 ? tslp_fail(err, TSL_ERR_NOT_FOUND, 0,
                                    "list \"%s\": no %s token published", id, fname)
                        : tslp_fail(err, TSL_ERR_NOT_FOUND, 0,
                                    "list \"%s\": no %s token valid at %lld", id, fname,
                                    (long long)at);
    }
    tslp_store_rollback(st);
    return r;
}
