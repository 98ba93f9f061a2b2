/* test_token_pack.c - a recorded token with its list cut out (src/store/token_pack.c,
 * schema 7). The codec: a JWT and a CWT signed by this library come back byte for byte
 * from their packed form and the list; a list that does not hash to its digest, a
 * missing list and damaged packed bytes are refused, never turned into a token; a
 * token that does not carry the list is left whole. The store, on SQLite and
 * PostgreSQL: a publication records its list once for both forms, a re-signing of the
 * same statuses records none, a change records a new list that shares all but a few
 * of its pieces with the last, pruning drops the lists no token carries and the pieces
 * no list holds, the history reads every token back as it was signed, and a damaged
 * or missing piece or list row makes the read fail naming it, until the next
 * publication records it again. The cutting: pieces
 * cover the list in order within their bounds, and a change leaves the others. */
#include "store_fx.h"
#include "core/tsl_int.h"
#include "crypto/crypto.h"
#include "store/backend.h"
#include "store/store_pg.h"
#include "store/store_sqlite.h"
#include "store/token_pack.h"

#include <libpq-fe.h>

/* ---- the codec ---- */

typedef struct {
    tsl_list *l;
    tsl_key *key;
    uint8_t *tok[2];
    size_t len[2];
} signed_pair;

/* A 1-bit list of n entries with every 37th set, precompressed, and its JWT and CWT. */
static int sign_pair(signed_pair *sp, uint64_t n)
{
    memset(sp, 0, sizeof *sp);
    if (tsl_list_new(1, n, &sp->l, NULL) != TSL_OK ||
        tsl_key_generate(TSL_ALG_ES256, &sp->key, NULL) != TSL_OK)
        return -1;
    for (uint64_t i = 0; i < n; i += 37)
        tsl_list_set(sp->l, i, 1, NULL);
    if (tsl_list_precompress(sp->l, 0, NULL) != TSL_OK || sp->l->zcache == NULL)
        return -1;
    tsl_token_params p;
    memset(&p, 0, sizeof p);
    p.sub = "https://example.com/statuslists/1";
    p.iat = 1700000000;
    p.exp = 1700086400;
    p.ttl = 300;
    for (int k = 0; k < 2; k++) {
        p.format = k == 0 ? TSL_FORMAT_JWT : TSL_FORMAT_CWT;
        if (tsl_token_sign(sp->l, &p, sp->key, &sp->tok[k], &sp->len[k], NULL) != TSL_OK)
            return -1;
    }
    return 0;
}

static void free_pair(signed_pair *sp)
{
    tsl_free(sp->tok[0]);
    tsl_free(sp->tok[1]);
    tsl_key_free(sp->key);
    tsl_list_free(sp->l);
}

TT_TEST(token_pack_roundtrip_both_forms)
{
    signed_pair sp;
    TT_CHECK(sign_pair(&sp, 2000000) == 0);
    const uint8_t *z = sp.l->zcache;
    size_t zlen = sp.l->zcache_len;
    uint8_t want_digest[TSLP_TOKEN_DIGEST];
    TT_OK(tslp_sha256(z, zlen, want_digest));
    for (int k = 0; k < 2; k++) {
        tsl_format f = k == 0 ? TSL_FORMAT_JWT : TSL_FORMAT_CWT;
        uint8_t *packed = NULL, digest[TSLP_TOKEN_DIGEST];
        size_t plen = 0;
        TT_OK(tslp_token_pack(f, sp.tok[k], sp.len[k], z, zlen, &packed, &plen, digest, NULL));
        TT_CHECK(packed != NULL);
        if (packed == NULL)
            continue;
        TT_EQ_MEM(digest, want_digest, sizeof digest);
        /* What the row keeps is the token without the list: a few hundred bytes. */
        TT_CHECK(plen < 1024);
        TT_CHECK(plen + zlen <= sp.len[k] + 5);
        uint8_t *out = NULL;
        size_t out_len = 0;
        TT_OK(tslp_token_unpack("s", "1", packed, plen, digest, sizeof digest, z, zlen, &out,
                                &out_len, NULL));
        TT_EQ_U(out_len, sp.len[k]);
        if (out_len == sp.len[k])
            TT_EQ_MEM(out, sp.tok[k], out_len);
        TT_EQ_U(out[out_len], 0);
        tsl_free(out);

        /* A list whose bytes are not those of the digest: refused, named. */
        uint8_t *bad = malloc(zlen);
        memcpy(bad, z, zlen);
        bad[zlen / 2] ^= 1;
        tsl_error err;
        tsl_error_clear(&err);
        out = NULL;
        TT_ERR(tslp_token_unpack("s", "1", packed, plen, digest, sizeof digest, bad, zlen,
                                 &out, &out_len, &err),
               TSL_ERR_IO);
        TT_CONTAINS(err.msg, "do not match its SHA-256");
        TT_CHECK(out == NULL);
        free(bad);
        /* No list recorded under the digest. */
        tsl_error_clear(&err);
        TT_ERR(tslp_token_unpack("s", "1", packed, plen, digest, sizeof digest, NULL, 0, &out,
                                 &out_len, &err),
               TSL_ERR_IO);
        TT_CONTAINS(err.msg, "not recorded");
        /* A digest of the wrong length. */
        TT_ERR(tslp_token_unpack("s", "1", packed, plen, digest, 31, z, zlen, &out, &out_len,
                                 NULL),
               TSL_ERR_IO);
        /* Damaged packed bytes: every truncation and a bad kind or cut is an error or
         * (a cut moved inside the rest) a token that differs; never a crash. */
        for (size_t n = 0; n < plen; n += (n < 64 ? 1 : 97)) {
            out = NULL;
            tsl_status r = tslp_token_unpack("s", "1", packed, n, digest, sizeof digest, z,
                                             zlen, &out, &out_len, NULL);
            TT_CHECK(r != TSL_OK || out_len != sp.len[k] ||
                     memcmp(out, sp.tok[k], out_len) != 0);
            tsl_free(out);
        }
        uint8_t save = packed[0];
        packed[0] = 9;
        TT_ERR(tslp_token_unpack("s", "1", packed, plen, digest, sizeof digest, z, zlen, &out,
                                 &out_len, NULL),
               TSL_ERR_IO);
        packed[0] = save;
        uint8_t cut[4];
        memcpy(cut, packed + 1, 4);
        memset(packed + 1, 0xFF, 4);
        TT_ERR(tslp_token_unpack("s", "1", packed, plen, digest, sizeof digest, z, zlen, &out,
                                 &out_len, NULL),
               TSL_ERR_IO);
        memset(packed + 1, 0, 4); /* before the JWT's first dot: refused */
        if (f == TSL_FORMAT_JWT)
            TT_ERR(tslp_token_unpack("s", "1", packed, plen, digest, sizeof digest, z, zlen,
                                     &out, &out_len, NULL),
                   TSL_ERR_IO);
        memcpy(packed + 1, cut, 4);
        tsl_free(packed);
    }
    free_pair(&sp);
}

TT_TEST(token_pack_leaves_other_tokens_whole)
{
    signed_pair sp;
    TT_CHECK(sign_pair(&sp, 100000) == 0);
    const uint8_t *z = sp.l->zcache;
    size_t zlen = sp.l->zcache_len;
    uint8_t digest[TSLP_TOKEN_DIGEST], *packed = NULL;
    size_t plen = 0;
    /* Another list than the one signed: not found, recorded whole. */
    uint8_t *other = malloc(zlen);
    memcpy(other, z, zlen);
    other[zlen - 1] ^= 0x55;
    for (int k = 0; k < 2; k++) {
        tsl_format f = k == 0 ? TSL_FORMAT_JWT : TSL_FORMAT_CWT;
        TT_OK(tslp_token_pack(f, sp.tok[k], sp.len[k], other, zlen, &packed, &plen, digest,
                              NULL));
        TT_CHECK(packed == NULL);
    }
    free(other);
    /* Not a JWT at all, a JWT whose payload is not strict base64url, no lst claim. */
    static const char *const junk[] = {
        "no dots here", "a.b", "eyJhIjoxfQ.eyJsc3QiOiJ4In0.c2ln", "x..y",
        "eyJhIjoxfQ.eyJsc3QiOiJ4In1.c2ln"};
    for (size_t k = 0; k < sizeof junk / sizeof junk[0]; k++) {
        TT_OK(tslp_token_pack(TSL_FORMAT_JWT, (const uint8_t *)junk[k], strlen(junk[k]), z,
                              zlen < 3 ? zlen : 3, &packed, &plen, digest, NULL));
        TT_CHECK(packed == NULL);
    }
    /* A JWT whose lst is the list's base64url with a character more: whole. */
    TT_OK(tslp_token_pack(TSL_FORMAT_JWT, sp.tok[0], sp.len[0], z, zlen - 1, &packed, &plen,
                          digest, NULL));
    TT_CHECK(packed == NULL);
    free_pair(&sp);
}

/* ---- the store ---- */

static int64_t clock_now = 1700000000;

static tsl_status publish_at(sfx *f, const char *id, int64_t now, int64_t retention,
                             tslp_published *keep)
{
    tsl_error err;
    tsl_error_clear(&err);
    tsl_publish_result res;
    tsl_status r = tslp_store_publish_keep(f->st, id, now, retention, &res, keep, &err);
    if (r != TSL_OK)
        fprintf(stderr, "  publish: %s\n", err.msg);
    return r;
}

/* A number from the store's own connection: SELECT count(*) ... */
static long long count_of(sfx *f, const char *sqlite_sql, const char *pg_sql)
{
    long long v = -1;
    if (sfx_pg) {
        PGresult *res = PQexec(tslp_pg_conn(f->st), pg_sql);
        if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
            v = atoll(PQgetvalue(res, 0, 0));
        else
            fprintf(stderr, "  %s: %s\n", pg_sql, PQresultErrorMessage(res));
        PQclear(res);
        return v;
    }
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(tslp_sqlite_db(f->st), sqlite_sql, -1, &s, NULL) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
}

#define LISTS(f) count_of(f, "SELECT count(*) FROM token_lists", \
                          "SELECT count(*) FROM tsl_token_lists")
#define CUT(f) count_of(f, "SELECT count(*) FROM tokens WHERE lst IS NOT NULL", \
                        "SELECT count(*) FROM tsl_tokens WHERE lst IS NOT NULL")

/* 0 when the store's token of form k at `at` is exactly keep's. */
static int reads_as(sfx *f, const char *id, int k, int64_t at, const tslp_published *keep)
{
    uint8_t *tok = NULL;
    size_t len = 0;
    tsl_error err;
    tsl_error_clear(&err);
    if (tsl_store_token(f->st, id, k == 0 ? TSL_FORMAT_JWT : TSL_FORMAT_CWT, at, &tok, &len,
                        NULL, NULL, &err) != TSL_OK) {
        fprintf(stderr, "  read: %s\n", err.msg);
        return -1;
    }
    int same = keep->token[k] != NULL && len == keep->len[k] &&
               memcmp(tok, keep->token[k], len) == 0;
    tsl_free(tok);
    return same ? 0 : 1;
}

#define PIECES(f) count_of(f, "SELECT count(*) FROM token_pieces", \
                           "SELECT count(*) FROM tsl_token_pieces")
#define HELD(f) count_of(f, "SELECT count(DISTINCT piece) FROM token_list_pieces", \
                         "SELECT count(DISTINCT piece) FROM tsl_token_list_pieces")

/* An 8-bit list of 400,000 entries, a third of them set to values from 2 to 255: its
 * compressed list is a few hundred KB, many pieces. */
static void fill(sfx *f, const char *id)
{
    TT_OK(sfx_list(f, id, 8, 400000));
    tsl_batch *b = NULL;
    TT_OK(tsl_batch_new(8, 400000, &b, NULL));
    uint64_t x = 12345;
    for (uint64_t i = 0; i < 400000; i += 3) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        TT_OK(tsl_batch_add(b, i, i, (unsigned)(2 + (x >> 33) % 254), 0, NULL));
    }
    TT_OK(tsl_store_update(f->st, id, b, 1, 0, "t", NULL, NULL));
    tsl_batch_free(b);
}

STORE_TEST(token_lists_recorded_once)
{
    sfx f;
    TT_CHECK(sfx_open(&f) == 0);
    if (tt_failed)
        return;
    fill(&f, "t");
    tslp_published a, b, c, d;
    int64_t t0 = clock_now;
    TT_OK(publish_at(&f, "t", t0, -1, &a));
    /* Both forms carry the list: recorded once, named by both rows, in pieces. */
    TT_EQ_U(LISTS(&f), 1);
    TT_EQ_U(CUT(&f), 2);
    long long p0 = PIECES(&f);
    TT_CHECK(p0 >= 8);
    TT_CHECK(p0 <= (long long)(a.len[1] / TSLP_PIECE_MIN + 1));
    TT_CHECK(reads_as(&f, "t", 0, 0, &a) == 0);
    TT_CHECK(reads_as(&f, "t", 1, 0, &a) == 0);
    /* Signed again later with the same statuses: no new list, no new piece. */
    TT_OK(publish_at(&f, "t", t0 + 100, -1, &b));
    TT_EQ_U(LISTS(&f), 1);
    TT_EQ_U(CUT(&f), 4);
    TT_EQ_U(PIECES(&f), p0);
    /* One entry changed: a second list, sharing all its pieces but a few with the
     * first; the history still reads the first tokens as signed. */
    TT_OK(tsl_store_set(f.st, "t", 200000, 7, 1, NULL));
    TT_OK(publish_at(&f, "t", t0 + 200, -1, &c));
    TT_EQ_U(LISTS(&f), 2);
    long long p1 = PIECES(&f);
    TT_CHECK(p1 > p0 && p1 <= p0 + 4);
    TT_CHECK(reads_as(&f, "t", 0, 0, &c) == 0);
    TT_CHECK(reads_as(&f, "t", 1, 0, &c) == 0);
    TT_CHECK(reads_as(&f, "t", 0, t0 + 50, &a) == 0);
    TT_CHECK(reads_as(&f, "t", 1, t0 + 150, &b) == 0);
    /* The list's lifetime is a day: publishing two days later with a retention of a
     * day drops the first four tokens, the first list and the pieces only it held. */
    TT_OK(tsl_store_set(f.st, "t", 3, 9, 1, NULL));
    int64_t later = t0 + 200 + 2 * 86400 + 100000;
    TT_OK(publish_at(&f, "t", later, 86400 + 100000, &d));
    TT_EQ_U(LISTS(&f), 2); /* the change's list and this one's */
    TT_EQ_U(CUT(&f), 4);
    TT_EQ_U(PIECES(&f), HELD(&f));
    TT_CHECK(PIECES(&f) < p1 + 4);
    TT_CHECK(reads_as(&f, "t", 0, t0 + 250, &c) == 0);
    TT_CHECK(reads_as(&f, "t", 1, 0, &d) == 0);

    /* A damaged piece: the read fails naming it, nothing is served; the next
     * publication (the same statuses, signed again) rewrites it and reads again. */
    TT_CHECK(sfx_sql(&f, sfx_pg ? "UPDATE tsl_token_pieces SET data = set_byte(data, 100,"
                                  " get_byte(data, 100) # 1)"
                                : "UPDATE token_pieces SET data = CAST(substr(data, 1, 100)"
                                  " || X'00' || substr(data, 102) AS BLOB)") == 0);
    tsl_error err;
    tsl_error_clear(&err);
    uint8_t *tok = NULL;
    size_t len = 0;
    TT_ERR(tsl_store_token(f.st, "t", TSL_FORMAT_CWT, 0, &tok, &len, NULL, NULL, &err),
           TSL_ERR_IO);
    TT_CONTAINS(err.msg, "SHA-256");
    TT_CONTAINS(err.msg, "\"t\"");
    tslp_published e;
    TT_OK(publish_at(&f, "t", later + 100, -1, &e));
    TT_CHECK(reads_as(&f, "t", 0, 0, &e) == 0);
    TT_CHECK(reads_as(&f, "t", 1, 0, &e) == 0);
    tslp_published_free(&e);
    /* A piece gone: named; the next publication records it again. */
    TT_CHECK(sfx_sql(&f, sfx_pg ? "DELETE FROM tsl_token_pieces WHERE digest IN (SELECT"
                                  " piece FROM tsl_token_list_pieces WHERE seq = 1)"
                                : "DELETE FROM token_pieces WHERE digest IN (SELECT"
                                  " piece FROM token_list_pieces WHERE seq = 1)") == 0);
    tsl_error_clear(&err);
    TT_ERR(tsl_store_token(f.st, "t", TSL_FORMAT_JWT, 0, &tok, &len, NULL, NULL, &err),
           TSL_ERR_IO);
    TT_CONTAINS(err.msg, "pieces missing");
    TT_OK(publish_at(&f, "t", later + 200, -1, &e));
    TT_CHECK(reads_as(&f, "t", 0, 0, &e) == 0);
    tslp_published_free(&e);
    /* The list's row gone: named; the next publication records it again. */
    TT_CHECK(sfx_sql(&f, sfx_pg ? "DELETE FROM tsl_token_lists" : "DELETE FROM token_lists") ==
             0);
    tsl_error_clear(&err);
    TT_ERR(tsl_store_token(f.st, "t", TSL_FORMAT_JWT, 0, &tok, &len, NULL, NULL, &err),
           TSL_ERR_IO);
    TT_CONTAINS(err.msg, "not recorded");
    TT_OK(publish_at(&f, "t", later + 300, -1, &e));
    TT_CHECK(reads_as(&f, "t", 1, 0, &e) == 0);
    tslp_published_free(&e);
    tslp_published_free(&a);
    tslp_published_free(&b);
    tslp_published_free(&c);
    tslp_published_free(&d);
    sfx_close(&f);
}

TT_TEST(token_split_cuts_by_content)
{
    size_t n = (size_t)3 << 20;
    uint8_t *z = malloc(n);
    uint64_t x = 99;
    for (size_t k = 0; k < n; k++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        z[k] = (uint8_t)(x >> 56);
    }
    tslp_token_piece *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    TT_OK(tslp_token_split(z, n, &a, &na, NULL));
    /* In order, covering z exactly, within the bounds, about 16 KiB on average. */
    size_t at = 0;
    for (size_t k = 0; k < na; k++) {
        TT_EQ_U(a[k].off, at);
        TT_CHECK(a[k].len <= TSLP_PIECE_MAX);
        TT_CHECK(a[k].len >= TSLP_PIECE_MIN || k + 1 == na);
        at += a[k].len;
    }
    TT_EQ_U(at, n);
    TT_CHECK(na > n / (24 << 10) && na < n / (12 << 10));
    /* A changed stretch in the middle: the pieces before it and after the next
     * boundary are the same pieces. */
    for (size_t k = n / 2; k < n / 2 + 5000; k++)
        z[k] ^= 0x5A;
    TT_OK(tslp_token_split(z, n, &b, &nb, NULL));
    size_t same = 0;
    for (size_t i = 0; i < nb; i++)
        for (size_t j = 0; j < na; j++)
            if (memcmp(b[i].digest, a[j].digest, TSLP_TOKEN_DIGEST) == 0) {
                same++;
                break;
            }
    TT_CHECK(same + 3 >= nb);
    TT_CHECK(same < nb);
    /* Short inputs: one piece; nothing: none. */
    tsl_free(b);
    TT_OK(tslp_token_split(z, 100, &b, &nb, NULL));
    TT_EQ_U(nb, 1);
    TT_EQ_U(b[0].len, 100);
    tsl_free(b);
    TT_OK(tslp_token_split(z, 0, &b, &nb, NULL));
    TT_EQ_U(nb, 0);
    tsl_free(b);
    tsl_free(a);
    free(z);
}
