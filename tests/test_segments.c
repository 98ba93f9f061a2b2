/* test_segments.c - incremental publishing (issue 15 part B). The segment contract
 * (codec/segment.h): segments encoded one by one and joined are a zlib stream stock
 * zlib inflates to the input, at every width and density and for adversarial bytes.
 * The store, on SQLite and PostgreSQL: after random change sequences a publication
 * that reuses stored segments gives byte for byte the lst of a publication from
 * scratch, and the token holds every entry as changed; only the changed chunks are
 * encoded again; a damaged segment row (bytes, its Adler-32, a torn row, a row whose
 * check holds but which is not a segment record) is found, rebuilt from its chunk and
 * never served; a store of schema 3 migrates and publishes. */
#include "store_fx.h"
#include "codec/segment.h"
#include "store/backend.h"
#include "store/store_pg.h"
#include "store/store_segments.h"
#include "store/store_sqlite.h"

#include <libpq-fe.h>
#include <zlib.h>

/* ---- the segment contract ---- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* Encodes in[0..len) segment by segment, joins, inflates with stock zlib: 0 when the
 * bytes come back. */
static int seg_roundtrip(const uint8_t *in, size_t len, unsigned bits, int level)
{
    size_t k = (len + TSLP_SEGMENT_BYTES - 1) / TSLP_SEGMENT_BYTES;
    tslp_buf *segs = calloc(k + 1, sizeof *segs);
    const uint8_t **p = calloc(k + 1, sizeof *p);
    size_t *pl = calloc(k + 1, sizeof *pl);
    uLong adler = adler32(0L, NULL, 0);
    int bad = segs == NULL || p == NULL || pl == NULL;
    for (size_t i = 0; !bad && i < k; i++) {
        size_t n = len - i * TSLP_SEGMENT_BYTES < TSLP_SEGMENT_BYTES
                       ? len - i * TSLP_SEGMENT_BYTES
                       : TSLP_SEGMENT_BYTES;
        tslp_buf_init(&segs[i], SIZE_MAX, "t");
        bad = tslp_segment_encode(in + i * TSLP_SEGMENT_BYTES, n, TSLP_SEGMENT_HIST_OF(i), bits,
                                  level, TSLP_SL_FULL, NULL, &segs[i], NULL) != TSL_OK;
        p[i] = segs[i].data;
        pl[i] = segs[i].len;
        adler = adler32_combine(adler, adler32(1L, in + i * TSLP_SEGMENT_BYTES, (uInt)n),
                                (z_off_t)n);
        /* Deterministic: the same input gives the same bytes. */
        tslp_buf again;
        tslp_buf_init(&again, SIZE_MAX, "t");
        bad = bad ||
              tslp_segment_encode(in + i * TSLP_SEGMENT_BYTES, n, TSLP_SEGMENT_HIST_OF(i), bits,
                                  level, TSLP_SL_FULL, NULL, &again, NULL) != TSL_OK ||
              again.len != segs[i].len || memcmp(again.data, segs[i].data, again.len) != 0;
        tslp_buf_free(&again);
    }
    tslp_buf z;
    tslp_buf_init(&z, SIZE_MAX, "t");
    if (!bad)
        bad = tslp_segment_join(p, pl, k, (uint32_t)adler, false, &z, NULL) != TSL_OK;
    uint8_t *back = malloc(len + 1);
    uLongf blen = (uLongf)len + 1;
    if (!bad)
        bad = back == NULL || uncompress(back, &blen, z.data, (uLong)z.len) != Z_OK ||
              blen != len || memcmp(back, in, len) != 0;
    free(back);
    tslp_buf_free(&z);
    for (size_t i = 0; segs != NULL && i < k; i++)
        tslp_buf_free(&segs[i]);
    free(segs);
    free(p);
    free(pl);
    return bad;
}

TT_TEST(segment_contract_widths_densities_adversarial)
{
    size_t len = 3 * TSLP_SEGMENT_BYTES + 1234;
    uint8_t *b = malloc(len);
    TT_CHECK(b != NULL);
    static const unsigned widths[4] = {1, 2, 4, 8};
    static const int densities[5] = {0, 1, 10, 50, 100}; /* percent of entries set */
    for (int w = 0; w < 4; w++) {
        unsigned bits = widths[w];
        for (int d = 0; d < 5; d++) {
            memset(b, 0, len);
            uint64_t n = (uint64_t)len * 8 / bits;
            for (uint64_t i = 0; i < n; i++)
                if (rng() % 100 < (uint64_t)densities[d]) {
                    uint64_t v = 1 + rng() % ((1u << bits) - 1);
                    b[i * bits / 8] |= (uint8_t)(v << (i * bits % 8));
                }
            TT_CHECK(seg_roundtrip(b, len, bits, 0) == 0);
        }
    }
    /* All ones, alternating values, long repeats, random bytes; at a fast level too. */
    memset(b, 0xFF, len);
    TT_CHECK(seg_roundtrip(b, len, 1, 0) == 0);
    for (size_t i = 0; i < len; i++)
        b[i] = (i & 1) ? 0x55 : 0xAA;
    TT_CHECK(seg_roundtrip(b, len, 2, 0) == 0);
    for (size_t i = 0; i < len; i++)
        b[i] = (uint8_t)((i / 4096) & 1 ? 0x11 : 0x00);
    TT_CHECK(seg_roundtrip(b, len, 4, 1) == 0);
    /* A short pattern tiled and a regular stride: every candidate of every run matches
     * as far as the search looks (what the search remembers of a distance is used and
     * extended there), with some bytes flipped so that the stretches end. */
    static const uint8_t p13[13] = {0, 0, 0, 0x40, 0, 0, 0, 0, 0, 0x10, 0, 0, 1};
    for (size_t i = 0; i < len; i++)
        b[i] = p13[i % 13];
    TT_CHECK(seg_roundtrip(b, len, 1, 0) == 0);
    for (int k = 0; k < 300; k++)
        b[rng() % len] ^= (uint8_t)(1u << (rng() % 8));
    TT_CHECK(seg_roundtrip(b, len, 2, 0) == 0);
    memset(b, 0, len);
    for (size_t i = 0; i < len * 8; i += 97)
        b[i / 8] |= (uint8_t)(1u << (i % 8));
    TT_CHECK(seg_roundtrip(b, len, 1, 0) == 0);
    for (size_t i = 0; i < len; i++)
        b[i] = (uint8_t)rng();
    TT_CHECK(seg_roundtrip(b, len, 8, 0) == 0);
    TT_CHECK(seg_roundtrip(b, 1, 8, 0) == 0);
    TT_CHECK(seg_roundtrip(b, TSLP_SEGMENT_BYTES, 8, 6) == 0);
    /* A segment larger than TSLP_SEGMENT_BYTES is refused. */
    tslp_buf o;
    tslp_buf_init(&o, SIZE_MAX, "t");
    TT_ERR(tslp_segment_encode(b, TSLP_SEGMENT_BYTES + 1, 0, 8, 0, TSLP_SL_FULL, NULL, &o,
                               NULL), TSL_ERR_ARG);
    tslp_buf_free(&o);
    free(b);
}

/* ---- the store ---- */

/* The lst of the newest JWT of list id, b64url text (malloc'd), or NULL. */
static char *newest_lst(sfx *f, const char *id)
{
    uint8_t *tok = NULL;
    size_t len = 0;
    if (tsl_store_token(f->st, id, TSL_FORMAT_JWT, 0, &tok, &len, NULL, NULL, NULL) != TSL_OK)
        return NULL;
    const char *a = memchr(tok, '.', len);
    const char *b = a != NULL ? memchr(a + 1, '.', len - (size_t)((const uint8_t *)a + 1 - tok))
                              : NULL;
    uint8_t *payload = NULL;
    size_t plen = 0;
    char *out = NULL;
    if (b != NULL &&
        tsl_b64url_decode(a + 1, (size_t)(b - a - 1), &payload, &plen, NULL) == TSL_OK) {
        char *text = malloc(plen + 1);
        memcpy(text, payload, plen);
        text[plen] = '\0';
        const char *s = strstr(text, "\"lst\":\"");
        const char *e = s != NULL ? strchr(s + 7, '"') : NULL;
        if (e != NULL)
            out = strndup(s + 7, (size_t)(e - s - 7));
        free(text);
        tsl_free(payload);
    }
    tsl_free(tok);
    return out;
}

/* 0 when the newest JWT and CWT of id hold exactly the entries of ref. */
static int tokens_hold(sfx *f, const char *id, const tsl_list *ref)
{
    static const tsl_format forms[2] = {TSL_FORMAT_JWT, TSL_FORMAT_CWT};
    for (int k = 0; k < 2; k++) {
        uint8_t *tok = NULL;
        size_t len = 0;
        tsl_token *t = NULL;
        if (tsl_store_token(f->st, id, forms[k], 0, &tok, &len, NULL, NULL, NULL) != TSL_OK)
            return 1;
        tsl_status r = tsl_token_parse(tok, len, NULL, &t, NULL);
        tsl_free(tok);
        if (r != TSL_OK) {
            fprintf(stderr, "  parse: %s\n", tsl_strerror(r));
            return 2;
        }
        const tsl_list *l = tsl_token_list(t);
        /* A decoded list has whole bytes of entries: its size is rounded up. */
        int bad = tsl_list_size(l) < tsl_list_size(ref) ||
                  tsl_list_size(l) >= tsl_list_size(ref) + 8 / tsl_list_bits(ref);
        for (uint64_t i = 0; !bad && i < tsl_list_size(ref); i++) {
            unsigned a = 0, b = 0;
            tsl_list_get(l, i, &a, NULL);
            tsl_list_get(ref, i, &b, NULL);
            bad = a != b;
        }
        tsl_token_free(t);
        if (bad) {
            fprintf(stderr, "  %s: entries differ\n", k ? "cwt" : "jwt");
            return 3;
        }
    }
    return 0;
}

/* Applies n random changes to id and to ref (indices below `below`). */
static tsl_status change(sfx *f, const char *id, tsl_list *ref, size_t n, uint64_t below)
{
    unsigned bits = tsl_list_bits(ref);
    tsl_batch *b = NULL;
    tsl_status r = tsl_batch_new(bits, tsl_list_size(ref), &b, NULL);
    for (size_t k = 0; r == TSL_OK && k < n; k++) {
        uint64_t i = rng() % below;
        unsigned cur = 0, max = 1u << bits;
        tsl_list_get(ref, i, &cur, NULL);
        /* Always another value (INVALID too: the update forces). */
        unsigned v = (unsigned)((cur + 1 + rng() % (max - 1)) % max);
        if ((r = tsl_batch_add(b, i, i, v, 0, NULL)) == TSL_OK)
            r = tsl_list_set(ref, i, v, NULL);
    }
    tsl_error err;
    tsl_error_clear(&err);
    if (r == TSL_OK && (r = tsl_store_update(f->st, id, b, 1, 0, "t", NULL, &err)) != TSL_OK)
        fprintf(stderr, "  update: %s\n", err.msg);
    tsl_batch_free(b);
    return r;
}

/* Drops every stored segment of id: the next publication is one from scratch. */
static tsl_status drop_all(sfx *f, const char *id)
{
    tsl_status r = tslp_store_begin(f->st, true, NULL);
    if (r == TSL_OK && (r = f->st->be->segment_drop(f->st, id, UINT64_MAX, NULL)) == TSL_OK)
        return tslp_store_commit(f->st, NULL);
    tslp_store_rollback(f->st);
    return r;
}

static int64_t clock_now = 1700000000;

static tsl_status publish(sfx *f, const char *id, tsl_publish_result *res)
{
    tsl_error err;
    tsl_error_clear(&err);
    /* Past the 60 s in which another publisher's token of the same version counts as
     * fresh (PostgreSQL's drop_fresh): every call publishes. */
    clock_now += 100;
    tsl_status r = tsl_store_publish_ex(f->st, id, 0, clock_now, -1, res, &err);
    if (r != TSL_OK)
        fprintf(stderr, "  publish: %s\n", err.msg);
    return r;
}

/* A 1-bit list of 5.5 chunks (chunk 3 stays all zeros: no row, no segment row). */
#define ISIZE ((uint64_t)TSLP_CHUNK_BYTES * 8 * 5 + 300000)

/* A new list id of ISIZE entries, n random ones set outside chunk 3, and *ref (caller
 * frees) the same list in memory. */
static tsl_status sparse_list(sfx *f, const char *id, size_t n, tsl_list **ref)
{
    uint64_t per = (uint64_t)TSLP_CHUNK_BYTES * 8;
    tsl_batch *b = NULL;
    tsl_status r = sfx_list(f, id, 1, ISIZE);
    if (r == TSL_OK)
        r = tsl_list_new(1, ISIZE, ref, NULL);
    if (r == TSL_OK)
        r = tsl_batch_new(1, ISIZE, &b, NULL);
    for (size_t k = 0; r == TSL_OK && k < n; k++) {
        uint64_t i = rng() % ISIZE;
        if (i / per == 3)
            continue;
        if ((r = tsl_batch_add(b, i, i, 1, 0, NULL)) == TSL_OK)
            r = tsl_list_set(*ref, i, 1, NULL);
    }
    if (r == TSL_OK)
        r = tsl_store_update(f->st, id, b, 1, 0, "t", NULL, NULL);
    tsl_batch_free(b);
    return r;
}

STORE_TEST(incremental_publish_equals_full)
{
    sfx f;
    TT_CHECK(sfx_open(&f) == 0);
    tsl_list *ref = NULL;
    TT_OK(sparse_list(&f, "inc", (size_t)(ISIZE / 100), &ref));
    tsl_publish_result res;
    /* The first publication encodes every chunk that has a row (chunk 3 has none). */
    TT_OK(publish(&f, "inc", &res));
    TT_EQ_U(res.recorded, TSL_PUBLISH_JWT | TSL_PUBLISH_CWT);
    TT_EQ_U(res.segments_encoded, 5);
    TT_EQ_U(res.segments_reused, 0);
    TT_CHECK(tokens_hold(&f, "inc", ref) == 0);
    /* Nothing changed: every segment reused. */
    TT_OK(publish(&f, "inc", &res));
    TT_EQ_U(res.segments_encoded, 0);
    TT_EQ_U(res.segments_reused, 5);
    static const size_t rounds[6] = {1, 1, 3, 10, 100, 1000};
    uint64_t per = (uint64_t)TSLP_CHUNK_BYTES * 8;
    for (int k = 0; k < 6; k++) {
        /* The first two rounds stay inside chunk 0: its segment and segment 1, which
         * copies from chunk 0's end (its row records chunk 0's old Adler-32: stale),
         * are encoded again. */
        TT_OK(change(&f, "inc", ref, rounds[k], k < 2 ? per : ISIZE));
        TT_OK(publish(&f, "inc", &res));
        TT_EQ_U(res.recorded, TSL_PUBLISH_JWT | TSL_PUBLISH_CWT);
        if (k < 2) {
            TT_EQ_U(res.segments_encoded, 2);
            TT_EQ_U(res.segments_reused, 3);
        }
        TT_EQ_U(res.segments_corrupt, 0);
        TT_CHECK(tokens_hold(&f, "inc", ref) == 0);
        char *inc = newest_lst(&f, "inc");
        TT_CHECK(inc != NULL);
        /* From scratch: the same bytes. */
        TT_OK(drop_all(&f, "inc"));
        TT_OK(publish(&f, "inc", &res));
        TT_EQ_U(res.segments_reused, 0);
        char *full = newest_lst(&f, "inc");
        TT_CHECK(full != NULL);
        TT_EQ_STR(inc, full);
        free(inc);
        free(full);
    }
    tsl_list_free(ref);
    sfx_close(&f);
}

STORE_TEST(incremental_publish_every_width)
{
    sfx f;
    TT_CHECK(sfx_open(&f) == 0);
    static const unsigned widths[4] = {1, 2, 4, 8};
    for (int w = 0; w < 4; w++) {
        char id[8];
        snprintf(id, sizeof id, "w%u", widths[w]);
        uint64_t size = (uint64_t)TSLP_CHUNK_BYTES * 8 / widths[w] * 3 + 77;
        TT_OK(sfx_list(&f, id, widths[w], size));
        tsl_list *ref = NULL;
        TT_OK(tsl_list_new(widths[w], size, &ref, NULL));
        tsl_publish_result res;
        TT_OK(publish(&f, id, &res)); /* all zeros: no chunk row, nothing stored */
        TT_EQ_U(res.segments_encoded, 0);
        TT_CHECK(tokens_hold(&f, id, ref) == 0);
        for (int k = 0; k < 4; k++) {
            TT_OK(change(&f, id, ref, (size_t)(size / 50), size));
            TT_OK(publish(&f, id, &res));
            TT_CHECK(tokens_hold(&f, id, ref) == 0);
            char *inc = newest_lst(&f, id);
            TT_OK(drop_all(&f, id));
            TT_OK(publish(&f, id, &res));
            char *full = newest_lst(&f, id);
            TT_CHECK(inc != NULL && full != NULL);
            TT_EQ_STR(inc, full);
            free(inc);
            free(full);
        }
        tsl_list_free(ref);
    }
    sfx_close(&f);
}

static tsl_status rewrite_rows(sfx *f, const char *id, int enc, uint64_t n_mangled,
                               void (*mangle)(uint8_t *data, size_t len));
static void mangle_form(uint8_t *data, size_t len);
static void mangle_nbits(uint8_t *data, size_t len);

STORE_TEST(incremental_publish_corrupt_segment_rebuilt)
{
    sfx f;
    TT_CHECK(sfx_open(&f) == 0);
    tsl_list *ref = NULL;
    TT_OK(sparse_list(&f, "c", (size_t)(ISIZE / 100), &ref));
    tsl_publish_result res;
    TT_OK(publish(&f, "c", &res));
    char *good = newest_lst(&f, "c");
    TT_CHECK(good != NULL);
    const char *sqlite_damage[3] = {
        /* a byte of the data flipped (a damaged page) */
        "UPDATE segments SET data = CAST(substr(data, 1, 100) || x'5A' ||"
        " substr(data, 102) AS BLOB) WHERE n = 1",
        /* the Adler-32 of the chunk changed, the data left (the check covers the row) */
        "UPDATE segments SET adler = adler + 1 WHERE n = 2",
        /* a torn row: the data cut short */
        "UPDATE segments SET data = substr(data, 1, 64) WHERE n = 4",
    };
    const char *pg_damage[3] = {
        "UPDATE tsl_segments SET data = overlay(data placing '\\x5a'::bytea from 101"
        " for 1) WHERE n = 1",
        "UPDATE tsl_segments SET adler = adler + 1 WHERE n = 2",
        "UPDATE tsl_segments SET data = substring(data from 1 for 64) WHERE n = 4",
    };
    /* Then a row whose check holds but which is not a segment record (written so by a
     * bug, or edited with the check made again): an unknown form, a body's bit count
     * changed. It is as damaged as a torn row, never handed to the join (which would
     * refuse it and fail the publication). */
    void (*mangles[2])(uint8_t *, size_t) = {mangle_form, mangle_nbits};
    for (int k = 0; k < 5; k++) {
        if (k < 3)
            TT_CHECK(sfx_sql(&f, sfx_pg ? pg_damage[k] : sqlite_damage[k]) == 0);
        else
            TT_OK(rewrite_rows(&f, "c", TSLP_SEGMENT_ENCODER, 1, mangles[k - 3]));
        /* Nothing changed in the statuses: the same lst, the damaged row rebuilt. */
        TT_OK(publish(&f, "c", &res));
        TT_EQ_U(res.segments_corrupt, 1);
        TT_EQ_U(res.segments_encoded, 1);
        TT_CHECK(tokens_hold(&f, "c", ref) == 0);
        char *now = newest_lst(&f, "c");
        TT_CHECK(now != NULL);
        TT_EQ_STR(now, good);
        free(now);
        /* Rewritten: the next publication finds nothing wrong. */
        TT_OK(publish(&f, "c", &res));
        TT_EQ_U(res.segments_corrupt, 0);
        TT_EQ_U(res.segments_encoded, 0);
    }
    /* A damaged row and a change in another chunk in one publication. */
    TT_CHECK(sfx_sql(&f, sfx_pg ? pg_damage[0] : sqlite_damage[0]) == 0);
    uint64_t per = (uint64_t)TSLP_CHUNK_BYTES * 8;
    TT_OK(tsl_store_set(f.st, "c", 5 * per + 7, 1, 1, NULL));
    TT_OK(tsl_list_set(ref, 5 * per + 7, 1, NULL));
    TT_OK(publish(&f, "c", &res));
    TT_EQ_U(res.segments_corrupt, 1);
    TT_EQ_U(res.segments_encoded, 2);
    TT_CHECK(tokens_hold(&f, "c", ref) == 0);
    free(good);
    tsl_list_free(ref);
    sfx_close(&f);
}

/* A write that fails and rolls back leaves the segments as they were; a dry run drops
 * nothing; a change that writes the same value drops nothing. */
STORE_TEST(incremental_publish_only_real_writes_invalidate)
{
    sfx f;
    TT_CHECK(sfx_open(&f) == 0);
    tsl_list *ref = NULL;
    TT_OK(sparse_list(&f, "d", 1000, &ref));
    tsl_publish_result res;
    TT_OK(publish(&f, "d", &res));
    tsl_batch *b = NULL;
    TT_OK(tsl_batch_new(1, ISIZE, &b, NULL));
    TT_OK(tsl_batch_add(b, 10, 10, 1, 0, NULL));
    TT_OK(tsl_store_update(f.st, "d", b, 1, 1, "t", NULL, NULL)); /* dry run */
    tsl_batch_free(b);
    unsigned v = 0;
    TT_OK(tsl_list_get(ref, 20, &v, NULL));
    TT_OK(tsl_store_set(f.st, "d", 20, v, 1, NULL)); /* the value it has */
    TT_OK(publish(&f, "d", &res));
    TT_EQ_U(res.segments_encoded, 0);
    /* A new chunk row (chunk 3 had none) is encoded once it exists, and so is the
     * segment after it (encoded after zeros until now). */
    uint64_t per = (uint64_t)TSLP_CHUNK_BYTES * 8;
    TT_OK(tsl_store_set(f.st, "d", 3 * per + 1, 1, 1, NULL));
    TT_OK(tsl_list_set(ref, 3 * per + 1, 1, NULL));
    TT_OK(publish(&f, "d", &res));
    TT_EQ_U(res.segments_encoded, 2);
    TT_CHECK(tokens_hold(&f, "d", ref) == 0);
    tsl_list_free(ref);
    sfx_close(&f);
}

/* A store of schema 3 (before segments) migrates when opened for writing; its first
 * publication encodes everything and stores the segments. */
STORE_TEST(incremental_publish_schema3_migrates)
{
    sfx f;
    TT_CHECK(sfx_open(&f) == 0);
    tsl_list *ref = NULL;
    TT_OK(sparse_list(&f, "m", 2000, &ref));
    tsl_publish_result res;
    TT_OK(publish(&f, "m", &res));
    char *before = newest_lst(&f, "m");
    /* Back to schema 3: without segments, the status counts of 5 and the identifier
     * length of 6. */
    TT_CHECK(sfx_sql(&f, sfx_pg ? "DROP TABLE tsl_segments; DROP TABLE tsl_status_counts;"
                                  " ALTER TABLE tsl_lists DROP COLUMN id_bytes;"
                                  " DELETE FROM tsl_tokens WHERE lst IS NOT NULL;"
                                  " DROP TABLE tsl_token_list_pieces; DROP TABLE tsl_token_lists;"
                                  " DROP TABLE tsl_token_pieces;"
                                  " ALTER TABLE tsl_tokens DROP COLUMN lst;"
                                  " DELETE FROM tsl_schema WHERE version >= 4"
                                : "DROP TABLE segments; DROP TABLE status_counts;"
                                  " ALTER TABLE lists DROP COLUMN id_bytes;"
                                  " DELETE FROM tokens WHERE lst IS NOT NULL;"
                                  " DROP TABLE token_list_pieces; DROP TABLE token_lists;"
                                  " DROP TABLE token_pieces; DROP INDEX tokens_by_lst;"
                                  " ALTER TABLE tokens DROP COLUMN lst;"
                                  " DELETE FROM migrations WHERE version >= 4;"
                                  " UPDATE meta SET value = '3'"
                                  " WHERE key = 'schema_version'") == 0);
    tsl_store_close(f.st);
    f.st = NULL;
    TT_OK(tsl_store_open(f.db, &f.st, NULL));
    TT_OK(publish(&f, "m", &res));
    TT_EQ_U(res.segments_encoded, 5);
    char *after = newest_lst(&f, "m");
    TT_CHECK(before != NULL && after != NULL);
    TT_EQ_STR(before, after);
    TT_OK(publish(&f, "m", &res));
    TT_EQ_U(res.segments_reused, 5);
    free(before);
    free(after);
    tsl_list_free(ref);
    sfx_close(&f);
}

static tsl_status count_row(void *ctx, const tslp_segment_row *row, tsl_error *err)
{
    (void)row;
    (void)err;
    ++*(uint64_t *)ctx;
    return TSL_OK;
}

/* The segment rows stored for list id (UINT64_MAX when they cannot be read). */
static uint64_t count_segments(sfx *f, const char *id)
{
    uint64_t n = 0;
    if (tslp_store_begin(f->st, false, NULL) != TSL_OK)
        return UINT64_MAX;
    tsl_status r = f->st->be->segments_each(f->st, id, count_row, &n, NULL);
    tslp_store_rollback(f->st);
    return r == TSL_OK ? n : UINT64_MAX;
}

/* The segments of a publication are written in one batch (PostgreSQL: pipelined, 32 to
 * a round trip). A row the database refuses in a later round trip fails the
 * publication with the database's reason, records no token and leaves the stored
 * segments as they were; the same handle then publishes again, byte for byte as a
 * publication from scratch. */
/* A new 1-bit list id of 70 chunks with 20 random entries set in each but chunk `skip`
 * (UINT64_MAX: none skipped), and *ref (caller frees) the same list in memory. */
static tsl_status fill_70(sfx *f, const char *id, uint64_t skip, tsl_list **ref)
{
    uint64_t per = (uint64_t)TSLP_CHUNK_BYTES * 8, size = 70 * per;
    tsl_batch *b = NULL;
    tsl_status r = sfx_list(f, id, 1, size);
    if (r == TSL_OK)
        r = tsl_list_new(1, size, ref, NULL);
    if (r == TSL_OK)
        r = tsl_batch_new(1, size, &b, NULL);
    for (uint64_t c = 0; r == TSL_OK && c < 70; c++)
        for (int k = 0; r == TSL_OK && c != skip && k < 20; k++) {
            uint64_t i = c * per + rng() % per;
            if ((r = tsl_batch_add(b, i, i, 1, 0, NULL)) == TSL_OK)
                r = tsl_list_set(*ref, i, 1, NULL);
        }
    if (r == TSL_OK)
        r = tsl_store_update(f->st, id, b, 1, 0, "t", NULL, NULL);
    tsl_batch_free(b);
    return r;
}

STORE_TEST(incremental_publish_segment_write_refused)
{
    sfx f;
    TT_CHECK(sfx_open(&f) == 0);
    /* 70 chunks, a few entries in each: 70 segment rows, three round trips. */
    tsl_list *ref = NULL;
    TT_OK(fill_70(&f, "w", UINT64_MAX, &ref));
    TT_CHECK(sfx_sql(&f, sfx_pg ? "CREATE FUNCTION refuse_seg() RETURNS trigger LANGUAGE plpgsql"
                                  " AS $$BEGIN RAISE EXCEPTION 'segment 45 refused'; END$$;"
                                  " CREATE TRIGGER refuse BEFORE INSERT OR UPDATE ON tsl_segments"
                                  " FOR EACH ROW WHEN (NEW.n = 45) EXECUTE FUNCTION refuse_seg()"
                                : "CREATE TRIGGER refuse BEFORE INSERT ON segments"
                                  " WHEN NEW.n = 45 BEGIN"
                                  " SELECT RAISE(ABORT, 'segment 45 refused'); END") == 0);
    tsl_error err;
    tsl_error_clear(&err);
    tsl_publish_result res;
    clock_now += 100;
    TT_ERR(tsl_store_publish_ex(f.st, "w", 0, clock_now, -1, &res, &err), TSL_ERR_IO);
    /* The database's reason, and what was being done. */
    TT_CHECK(strstr(err.msg, "segment 45 refused") != NULL);
    TT_CHECK(strstr(err.msg, "writing") != NULL);
    TT_EQ_U(res.recorded, 0);
    uint8_t *tok = NULL;
    size_t len = 0;
    TT_ERR(tsl_store_token(f.st, "w", TSL_FORMAT_JWT, 0, &tok, &len, NULL, NULL, NULL),
           TSL_ERR_NOT_FOUND);
    TT_EQ_U(count_segments(&f, "w"), 0);
    TT_CHECK(sfx_sql(&f, sfx_pg ? "DROP TRIGGER refuse ON tsl_segments" : "DROP TRIGGER refuse")
             == 0);
    /* The same handle: every segment written, then all reused. */
    TT_OK(publish(&f, "w", &res));
    TT_EQ_U(res.segments_encoded, 70);
    TT_EQ_U(count_segments(&f, "w"), 70);
    TT_CHECK(tokens_hold(&f, "w", ref) == 0);
    char *first = newest_lst(&f, "w");
    TT_OK(publish(&f, "w", &res));
    TT_EQ_U(res.segments_reused, 70);
    TT_EQ_U(res.segments_encoded, 0);
    char *again = newest_lst(&f, "w");
    TT_CHECK(first != NULL && again != NULL);
    TT_EQ_STR(first, again);
    free(first);
    free(again);
    tsl_list_free(ref);
    sfx_close(&f);
}

/* A publication reads the chunks of the segments it encodes; PostgreSQL's in statements
 * of 32 (chunks_fetch). A chunk of the wrong size among them (chunk 45 of 70: the second
 * statement) fails the publication naming it, and records nothing; a chunk without a
 * row (all zeros) beside them is encoded as zeros. */
STORE_TEST(incremental_publish_damaged_chunk_refused)
{
    sfx f;
    TT_CHECK(sfx_open(&f) == 0);
    tsl_list *ref = NULL;
    TT_OK(fill_70(&f, "d", 50, &ref)); /* chunk 50 stays without a row */
    tsl_publish_result res;
    TT_OK(publish(&f, "d", &res));
    TT_EQ_U(res.segments_encoded, 69);
    TT_CHECK(tokens_hold(&f, "d", ref) == 0);
    char *good = newest_lst(&f, "d");
    TT_CHECK(good != NULL);
    /* Every segment row dropped, chunk 45 cut short. */
    TT_OK(drop_all(&f, "d"));
    TT_CHECK(sfx_sql(&f, sfx_pg ? "UPDATE tsl_chunks SET data = substring(data from 1 for 100)"
                                  " WHERE n = 45"
                                : "UPDATE chunks SET data = substr(data, 1, 100) WHERE n = 45")
             == 0);
    tsl_error err;
    tsl_error_clear(&err);
    clock_now += 100;
    TT_ERR(tsl_store_publish_ex(f.st, "d", 0, clock_now, -1, &res, &err), TSL_ERR_IO);
    TT_CONTAINS(err.msg, "chunk 45 has the wrong size");
    TT_EQ_U(res.recorded, 0);
    TT_EQ_U(count_segments(&f, "d"), 0);
    char *now = newest_lst(&f, "d");
    TT_CHECK(now != NULL);
    TT_EQ_STR(now, good);
    free(now);
    free(good);
    tsl_list_free(ref);
    sfx_close(&f);
}

/* The rows of a list, copied (segments_each's data lives only during its callback). */
typedef struct {
    tslp_segment_row row[8];
    uint8_t *data[8];
    size_t n;
} row_copy;

static tsl_status copy_row(void *ctx, const tslp_segment_row *row, tsl_error *err)
{
    (void)err;
    row_copy *c = ctx;
    if (c->n == 8 || (c->data[c->n] = malloc(row->len)) == NULL)
        return TSL_ERR_NOMEM;
    memcpy(c->data[c->n], row->data, row->len);
    c->row[c->n] = *row;
    c->row[c->n].data = c->data[c->n];
    c->n++;
    return TSL_OK;
}

static void mangle_none(uint8_t *data, size_t len)
{
    (void)data;
    (void)len;
}

/* Every row of list id made again as encoder `enc`'s, with a check that holds (the
 * CRC-32 of n, level, adler, raw_len, little-endian, and the data: store_int.h), and
 * row n_mangled's data changed by mangle first. */
static tsl_status rewrite_rows(sfx *f, const char *id, int enc, uint64_t n_mangled,
                               void (*mangle)(uint8_t *data, size_t len))
{
    row_copy c = {.n = 0};
    tsl_status r = tslp_store_begin(f->st, true, NULL);
    if (r == TSL_OK)
        r = f->st->be->segments_each(f->st, id, copy_row, &c, NULL);
    for (size_t k = 0; r == TSL_OK && k < c.n; k++) {
        tslp_segment_row *w = &c.row[k];
        w->level = enc * 1000 + w->level % 1000;
        if (w->n == n_mangled)
            mangle(c.data[k], w->len);
        uint8_t h[20];
        for (int b = 0; b < 8; b++)
            h[b] = (uint8_t)(w->n >> (8 * b));
        uint32_t v[3] = {(uint32_t)w->level, w->adler, w->raw_len};
        for (int j = 0; j < 3; j++)
            for (int b = 0; b < 4; b++)
                h[8 + 4 * j + b] = (uint8_t)(v[j] >> (8 * b));
        w->check = (uint32_t)crc32(crc32(0L, h, sizeof h), w->data, (uInt)w->len);
    }
    if (r == TSL_OK)
        r = f->st->be->segments_put(f->st, id, c.row, c.n, NULL);
    if (r == TSL_OK)
        r = tslp_store_commit(f->st, NULL);
    else
        tslp_store_rollback(f->st);
    for (size_t k = 0; k < c.n; k++)
        free(c.data[k]);
    return r;
}

static tsl_status retag_rows(sfx *f, const char *id, int enc)
{
    return rewrite_rows(f, id, enc, UINT64_MAX, mangle_none);
}

/* A row's segment record given an unknown form; a body's bit count changed (test
 * incremental_publish_corrupt_segment_rebuilt). */
static void mangle_form(uint8_t *data, size_t len)
{
    if (len > TSLP_SEGMENT_PREFIX)
        data[TSLP_SEGMENT_PREFIX] = 7;
}

static void mangle_nbits(uint8_t *data, size_t len)
{
    if (len > TSLP_SEGMENT_PREFIX + TSLP_SEGMENT_BODY_HEAD)
        data[TSLP_SEGMENT_PREFIX + 5] ^= 0x80;
}

/* A row records which encoder made it (TSLP_SEGMENT_ENCODER * 1000 + the level): a row
 * of another encoder (an upgrade) is encoded again, neither reused nor counted as
 * damaged, so that a publication stays byte for byte a full one. */
STORE_TEST(incremental_publish_other_encoder_rows_encoded_again)
{
    sfx f;
    TT_CHECK(sfx_open(&f) == 0);
    tsl_list *ref = NULL;
    TT_OK(sparse_list(&f, "e", (size_t)(ISIZE / 100), &ref));
    tsl_publish_result res;
    TT_OK(publish(&f, "e", &res));
    TT_EQ_U(res.segments_encoded, 5);
    char *first = newest_lst(&f, "e");
    TT_CHECK(first != NULL);
    /* A row retagged as this encoder's is reused (the check above is the store's). */
    TT_OK(retag_rows(&f, "e", TSLP_SEGMENT_ENCODER));
    TT_OK(publish(&f, "e", &res));
    TT_EQ_U(res.segments_reused, 5);
    TT_EQ_U(res.segments_corrupt, 0);
    /* The previous encoder's rows: all encoded again, none damaged, the same token. */
    TT_OK(retag_rows(&f, "e", TSLP_SEGMENT_ENCODER - 1));
    TT_OK(publish(&f, "e", &res));
    TT_EQ_U(res.segments_encoded, 5);
    TT_EQ_U(res.segments_reused, 0);
    TT_EQ_U(res.segments_corrupt, 0);
    char *now = newest_lst(&f, "e");
    TT_CHECK(now != NULL);
    TT_EQ_STR(now, first);
    free(now);
    TT_OK(publish(&f, "e", &res));
    TT_EQ_U(res.segments_reused, 5);
    free(first);
    tsl_list_free(ref);
    sfx_close(&f);
}
