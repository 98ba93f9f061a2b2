/* test_idl_ids.c - a stored identifier list's identifiers (src/store/idl_perm.c,
 * idl_ids.c): the 16-byte permutation gives exactly the identifiers tsl made before
 * the length became configurable (values computed by that code), every length from 8 to
 * 64 round-trips and is a bijection on a sample, foreign and altered identifiers are
 * refused, and on both backends a list's length is chosen at creation, kept, checked
 * and used by the identifier calls. The published form is checked by an independent
 * reader in idlist_store.sh. */
#include "store_fx.h"

#include "store/idl_perm.h"
#include "store/store_pg.h"
#include "store/store_sqlite.h"

#include <libpq-fe.h>

/* The key and the identifiers of indices 0, 1, 12345 and 2^36 - 1 as tsl's 16-byte
 * code made them before this change (4-round Feistel, first 8 bytes the index). */
static void fixed_key(uint8_t key[TSLP_PERM_KEY_BYTES])
{
    for (int i = 0; i < TSLP_PERM_KEY_BYTES; i++)
        key[i] = (uint8_t)(i * 17 + 3);
}

static int unhex(const char *h, uint8_t *out)
{
    size_t n = strlen(h) / 2;
    for (size_t k = 0; k < n; k++) {
        unsigned v;
        if (sscanf(h + 2 * k, "%2x", &v) != 1)
            return -1;
        out[k] = (uint8_t)v;
    }
    return (int)n;
}

TT_TEST(idl_ids_16_bytes_unchanged)
{
    static const char *const want[] = {"87928acb39189bd2e3007f175cffb5ac",
                                       "8d0c0bccfaf59283d3ae173ca503ae11",
                                       "b4978fcc873aa663ae621370554a9044",
                                       "e461b46182bf5392c7f8ba4692ee252d"};
    const uint64_t idx[4] = {0, 1, 12345, ((uint64_t)1 << 36) - 1};
    uint8_t key[TSLP_PERM_KEY_BYTES], out[64], exp[16];
    fixed_key(key);
    TT_OK(tslp_store_idl_ids(key, 16, idx, 4, out, NULL));
    for (int k = 0; k < 4; k++) {
        TT_CHECK(unhex(want[k], exp) == 16);
        TT_EQ_MEM(out + 16 * k, exp, 16);
    }
    /* ... and back. */
    tslp_idl_perm p;
    TT_OK(tslp_idl_perm_init(&p, key, 16, NULL));
    TT_EQ_U(p.rounds, 4);
    uint64_t back = 0;
    TT_EQ_U(tslp_idl_perm_index(&p, out + 32, (uint64_t)1 << 36, &back), 1);
    TT_EQ_U(back, 12345);
    tslp_idl_perm_free(&p);
}

static int cmp_id(const void *a, const void *b)
{
    return memcmp(a, b, TSL_STORE_ID_MAX);
}

#define SAMPLE 2048

TT_TEST(idl_ids_every_length_round_trips)
{
    uint8_t key[TSLP_PERM_KEY_BYTES];
    fixed_key(key);
    static uint8_t ids[SAMPLE][TSL_STORE_ID_MAX];
    for (unsigned len = TSL_STORE_ID_MIN; len <= TSL_STORE_ID_MAX; len++) {
        tslp_idl_perm p;
        TT_OK(tslp_idl_perm_init(&p, key, len, NULL));
        TT_EQ_U(p.rounds, len % 2 == 0 && len >= 16 ? 4 : 8);
        memset(ids, 0, sizeof ids);
        /* The first SAMPLE indices and a few far ones: each back to its index. */
        for (uint64_t i = 0; i < SAMPLE; i++) {
            uint64_t idx = i < SAMPLE - 4 ? i : ((uint64_t)1 << 32) - 1 - (SAMPLE - 1 - i);
            TT_CHECK(tslp_idl_perm_id(&p, idx, ids[i]));
            uint64_t back = ~(uint64_t)0;
            TT_EQ_U(tslp_idl_perm_index(&p, ids[i], (uint64_t)1 << 32, &back), 1);
            TT_EQ_U(back, idx);
            /* Past the list's size: refused. */
            TT_EQ_U(tslp_idl_perm_index(&p, ids[i], idx, &back), 0);
        }
        /* A bijection on the sample: no two identifiers equal (the rest of each row
         * is zero, so whole rows compare). */
        qsort(ids, SAMPLE, sizeof ids[0], cmp_id);
        for (int i = 1; i < SAMPLE; i++)
            TT_CHECK(memcmp(ids[i - 1], ids[i], sizeof ids[0]) != 0);
        /* D(E(x)) = x and E(D(x)) = x for arbitrary blocks (not only index blocks). */
        uint8_t x[TSL_STORE_ID_MAX], y[TSL_STORE_ID_MAX], z[TSL_STORE_ID_MAX];
        for (int t = 0; t < 64; t++) {
            for (unsigned b = 0; b < len; b++)
                x[b] = (uint8_t)(t * 31 + b * 7 + len);
            TT_CHECK(tslp_idl_perm_apply(&p, x, y, false));
            TT_CHECK(memcmp(x, y, len) != 0);
            TT_CHECK(tslp_idl_perm_apply(&p, y, z, true));
            TT_EQ_MEM(z, x, len);
            TT_CHECK(tslp_idl_perm_apply(&p, x, y, true));
            TT_CHECK(tslp_idl_perm_apply(&p, y, z, false));
            TT_EQ_MEM(z, x, len);
        }
        /* Foreign identifiers: one bit flipped anywhere, or arbitrary strings, are not
         * identifiers of a full-size list (chance about size / 2^(8L) each). */
        uint8_t id[TSL_STORE_ID_MAX];
        TT_CHECK(tslp_idl_perm_id(&p, 77, id));
        for (unsigned bit = 0; bit < 8 * len; bit++) {
            uint64_t back;
            id[bit / 8] ^= (uint8_t)(1u << bit % 8);
            TT_EQ_U(tslp_idl_perm_index(&p, id, (uint64_t)1 << 32, &back), 0);
            id[bit / 8] ^= (uint8_t)(1u << bit % 8);
        }
        for (int t = 0; t < 256; t++) {
            uint64_t back;
            for (unsigned b = 0; b < len; b++)
                x[b] = (uint8_t)(t * 131 + b * 17 + 5);
            TT_EQ_U(tslp_idl_perm_index(&p, x, (uint64_t)1 << 32, &back), 0);
        }
        tslp_idl_perm_free(&p);
    }
}

TT_TEST(idl_ids_lengths_keys_and_limits)
{
    uint8_t key[TSLP_PERM_KEY_BYTES], a[TSL_STORE_ID_MAX], b[TSL_STORE_ID_MAX];
    fixed_key(key);
    tslp_idl_perm p;
    tsl_error err;
    tsl_error_clear(&err);
    TT_ERR(tslp_idl_perm_init(&p, key, 7, &err), TSL_ERR_ARG);
    TT_CONTAINS(err.msg, "outside 8 to 64");
    tslp_idl_perm_free(&p);
    TT_ERR(tslp_idl_perm_init(&p, key, 65, NULL), TSL_ERR_ARG);
    tslp_idl_perm_free(&p);
    /* Another key, other identifiers; a 32-byte identifier does not start with the
     * 16-byte one. */
    TT_OK(tslp_idl_perm_init(&p, key, 32, NULL));
    TT_CHECK(tslp_idl_perm_id(&p, 5, a));
    tslp_idl_perm_free(&p);
    key[0] ^= 1;
    TT_OK(tslp_idl_perm_init(&p, key, 32, NULL));
    TT_CHECK(tslp_idl_perm_id(&p, 5, b));
    TT_CHECK(memcmp(a, b, 32) != 0);
    tslp_idl_perm_free(&p);
    TT_OK(tslp_idl_perm_init(&p, key, 16, NULL));
    TT_CHECK(tslp_idl_perm_id(&p, 5, a));
    TT_CHECK(memcmp(a, b, 16) != 0);
    tslp_idl_perm_free(&p);
    /* The index space: half an identifier, at most 8 bytes. */
    TT_EQ_U(tslp_idl_index_bytes(8), 4);
    TT_EQ_U(tslp_idl_index_bytes(9), 4);
    TT_EQ_U(tslp_idl_index_bytes(15), 7);
    TT_EQ_U(tslp_idl_index_bytes(64), 8);
    TT_CHECK(tslp_idl_size_fits(8, (uint64_t)1 << 32));
    TT_CHECK(!tslp_idl_size_fits(8, ((uint64_t)1 << 32) + 1));
    TT_CHECK(!tslp_idl_size_fits(9, ((uint64_t)1 << 32) + 1));
    TT_CHECK(tslp_idl_size_fits(10, TSL_STORE_MAX_SIZE));
    TT_CHECK(tslp_store_id_bytes_bad(TSL_PUBLISH_IDLIST, 100, 0));
    TT_CHECK(tslp_store_id_bytes_bad(TSL_PUBLISH_IDLIST, 100, 65));
    TT_CHECK(tslp_store_id_bytes_bad(TSL_PUBLISH_JWT, 100, 16));
    TT_CHECK(!tslp_store_id_bytes_bad(TSL_PUBLISH_JWT, 100, 0));
    TT_CHECK(!tslp_store_id_bytes_bad(TSL_PUBLISH_IDLIST, 100, 8));
}

/* An identifier list id of size entries with identifiers of id_bytes (0: default). */
static tsl_status idl_create(sfx *f, const char *id, uint64_t size, unsigned id_bytes,
                             tsl_error *err)
{
    char uri[128];
    snprintf(uri, sizeof uri, "https://example.com/idl/%s", id);
    tsl_list_spec in;
    memset(&in, 0, sizeof in);
    in.id = id;
    in.uri = uri;
    in.bits = 1;
    in.size = size;
    in.key_path = f->key;
    in.formats = TSL_PUBLISH_IDLIST;
    in.id_bytes = id_bytes;
    return tsl_store_list_create(f->st, &in, err);
}

STORE_TEST(idl_ids_store_length)
{
    sfx f;
    TT_CHECK(sfx_open(&f) == 0);
    tsl_error err;
    /* Chosen at creation, kept in the row; 16 by default, 0 for a status list. */
    TT_OK(idl_create(&f, "d", 100, 0, NULL));
    TT_OK(idl_create(&f, "s", 100, 8, NULL));
    TT_OK(idl_create(&f, "l", 100, 32, NULL));
    TT_OK(idl_create(&f, "x", 100, 64, NULL));
    TT_OK(sfx_list(&f, "sl", 1, 100));
    static const struct {
        const char *id;
        unsigned len;
    } want[] = {{"d", 16}, {"s", 8}, {"l", 32}, {"x", 64}, {"sl", 0}};
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
        tsl_list_info info;
        TT_OK(tsl_store_list_info(f.st, want[k].id, &info, NULL));
        TT_EQ_U(info.id_bytes, want[k].len);
        tsl_list_info_free(&info);
    }
    char *text = NULL;
    TT_OK(tsl_store_list_show(f.st, "l", 0, &text, NULL));
    TT_CONTAINS(text, "\nid_length       32\n");
    tsl_free(text);
    TT_OK(tsl_store_list_show(f.st, "l", TSL_REPORT_JSON, &text, NULL));
    TT_CONTAINS(text, "\"id_length\":32");
    tsl_free(text);
    TT_OK(tsl_store_list_show(f.st, "sl", TSL_REPORT_JSON, &text, NULL));
    TT_CHECK(strstr(text, "id_length") == NULL);
    tsl_free(text);
    /* Refused: out of range (the message names the range), on a status list, and a
     * size the length's index space cannot hold. Nothing is created. */
    tsl_error_clear(&err);
    TT_ERR(idl_create(&f, "bad", 100, 7, &err), TSL_ERR_ARG);
    TT_CONTAINS(err.msg, "--id-length: 7 bytes is not 8 to 64");
    tsl_error_clear(&err);
    TT_ERR(idl_create(&f, "bad", 100, 65, &err), TSL_ERR_ARG);
    TT_CONTAINS(err.msg, "not 8 to 64");
    tsl_error_clear(&err);
    TT_ERR(idl_create(&f, "bad", ((uint64_t)1 << 32) + 1, 9, &err), TSL_ERR_ARG);
    TT_CONTAINS(err.msg, "do not fit identifiers of 9 bytes");
    tsl_list_spec in;
    memset(&in, 0, sizeof in);
    in.id = "bad";
    in.uri = "https://example.com/bad";
    in.bits = 1;
    in.size = 10;
    in.key_path = f.key;
    in.id_bytes = 16;
    tsl_error_clear(&err);
    TT_ERR(tsl_store_list_create(f.st, &in, &err), TSL_ERR_ARG);
    TT_CONTAINS(err.msg, "only an identifier list");
    tsl_list_info info;
    TT_ERR(tsl_store_list_info(f.st, "bad", &info, NULL), TSL_ERR_NOT_FOUND);
    /* The identifiers: as long as the list says, each back to its index. */
    uint64_t idx[10];
    TT_OK(tsl_store_alloc(f.st, "l", 10, idx, NULL));
    uint8_t ids[10 * 32], one[64];
    size_t len = 0;
    TT_OK(tsl_store_list_identifiers(f.st, "l", idx, 10, ids, sizeof ids, &len, NULL));
    TT_EQ_U(len, 32);
    for (int k = 0; k < 10; k++) {
        uint64_t back = 0;
        TT_OK(tsl_store_identifier_index(f.st, "l", ids + 32 * k, 32, &back, NULL));
        TT_EQ_U(back, idx[k]);
    }
    /* A buffer too small is refused, nothing written; n = 0 only gives the length. */
    memset(one, 0xAA, sizeof one);
    tsl_error_clear(&err);
    TT_ERR(tsl_store_list_identifiers(f.st, "l", idx, 2, one, 63, &len, &err), TSL_ERR_ARG);
    TT_CONTAINS(err.msg, "do not fit 63 bytes");
    TT_EQ_U(one[0], 0xAA);
    len = 0;
    TT_OK(tsl_store_list_identifiers(f.st, "s", NULL, 0, NULL, 0, &len, NULL));
    TT_EQ_U(len, 8);
    TT_ERR(tsl_store_list_identifiers(f.st, "l", idx, 1, one, 64, NULL, NULL), TSL_ERR_ARG);
    const uint64_t past = 100;
    TT_ERR(tsl_store_list_identifiers(f.st, "l", &past, 1, one, 64, &len, NULL),
           TSL_ERR_INDEX);
    tsl_error_clear(&err);
    TT_ERR(tsl_store_list_identifiers(f.st, "sl", idx, 1, one, 64, &len, &err), TSL_ERR_ARG);
    TT_CONTAINS(err.msg, "not an identifier list");
    /* The 16-byte call: for 16-byte lists only. */
    tsl_error_clear(&err);
    TT_ERR(tsl_store_identifiers(f.st, "l", idx, 1, one, &err), TSL_ERR_ARG);
    TT_CONTAINS(err.msg, "32 bytes long, not 16");
    uint8_t d16[16], d16b[16];
    TT_OK(tsl_store_identifiers(f.st, "d", idx, 1, d16, NULL));
    TT_OK(tsl_store_list_identifiers(f.st, "d", idx, 1, d16b, 16, &len, NULL));
    TT_EQ_U(len, 16);
    TT_EQ_MEM(d16, d16b, 16);
    /* Another length, an altered identifier, another list's identifier: not found. */
    uint64_t back;
    tsl_error_clear(&err);
    TT_ERR(tsl_store_identifier_index(f.st, "l", ids, 16, &back, &err), TSL_ERR_NOT_FOUND);
    TT_CONTAINS(err.msg, "of 16 bytes is not one of its own (32 bytes)");
    memcpy(one, ids, 32);
    one[31] ^= 0x40;
    TT_ERR(tsl_store_identifier_index(f.st, "l", one, 32, &back, NULL), TSL_ERR_NOT_FOUND);
    TT_OK(tsl_store_list_identifiers(f.st, "s", idx, 1, one, 8, &len, NULL));
    TT_OK(tsl_store_identifier_index(f.st, "s", one, 8, &back, NULL));
    TT_EQ_U(back, idx[0]);
    TT_ERR(tsl_store_identifier_index(f.st, "x", ids, 32, &back, NULL), TSL_ERR_NOT_FOUND);
    sfx_close(&f);
}

/* A store of schema 5 (before the identifier length): a read-only handle reads its
 * identifier lists as 16-byte ones, and opening it for writing adds the column with 16
 * for them, 0 for status lists; the identifiers stay what they were. */
STORE_TEST(idl_ids_schema5_migrates)
{
    sfx f;
    TT_CHECK(sfx_open(&f) == 0);
    TT_OK(idl_create(&f, "d", 100, 0, NULL));
    TT_OK(sfx_list(&f, "sl", 2, 100));
    uint64_t idx[3];
    uint8_t before[48], after[48];
    size_t len = 0;
    TT_OK(tsl_store_alloc(f.st, "d", 3, idx, NULL));
    TT_OK(tsl_store_identifiers(f.st, "d", idx, 3, before, NULL));
    TT_CHECK(sfx_sql(&f, sfx_pg ? "ALTER TABLE tsl_lists DROP COLUMN id_bytes;"
                                  " DELETE FROM tsl_tokens WHERE lst IS NOT NULL;"
                                  " DROP TABLE tsl_token_list_pieces; DROP TABLE tsl_token_lists;"
                                  " DROP TABLE tsl_token_pieces;"
                                  " ALTER TABLE tsl_tokens DROP COLUMN lst;"
                                  " DELETE FROM tsl_schema WHERE version >= 6"
                                : "ALTER TABLE lists DROP COLUMN id_bytes;"
                                  " DELETE FROM tokens WHERE lst IS NOT NULL;"
                                  " DROP TABLE token_list_pieces; DROP TABLE token_lists;"
                                  " DROP TABLE token_pieces; DROP INDEX tokens_by_lst;"
                                  " ALTER TABLE tokens DROP COLUMN lst;"
                                  " DELETE FROM migrations WHERE version >= 6;"
                                  " UPDATE meta SET value = '5'"
                                  " WHERE key = 'schema_version'") == 0);
    tsl_store_close(f.st);
    f.st = NULL;
    tsl_list_info info;
    TT_OK(tsl_store_open_mode(f.db, TSL_STORE_READONLY, &f.st, NULL));
    TT_OK(tsl_store_list_info(f.st, "d", &info, NULL));
    TT_EQ_U(info.id_bytes, 16);
    tsl_list_info_free(&info);
    TT_OK(tsl_store_list_info(f.st, "sl", &info, NULL));
    TT_EQ_U(info.id_bytes, 0);
    tsl_list_info_free(&info);
    TT_OK(tsl_store_list_identifiers(f.st, "d", idx, 3, after, sizeof after, &len, NULL));
    TT_EQ_MEM(after, before, 48);
    /* Still version 5: a read-only handle does not migrate. */
    TT_CHECK(sfx_sql(&f, sfx_pg ? "SELECT id_bytes FROM tsl_lists"
                                : "SELECT id_bytes FROM lists") != 0);
    tsl_store_close(f.st);
    f.st = NULL;
    TT_OK(tsl_store_open(f.db, &f.st, NULL));
    TT_CHECK(sfx_sql(&f, sfx_pg ? "SELECT id_bytes FROM tsl_lists"
                                : "SELECT id_bytes FROM lists") == 0);
    TT_OK(tsl_store_list_info(f.st, "d", &info, NULL));
    TT_EQ_U(info.id_bytes, 16);
    tsl_list_info_free(&info);
    TT_OK(tsl_store_list_info(f.st, "sl", &info, NULL));
    TT_EQ_U(info.id_bytes, 0);
    tsl_list_info_free(&info);
    memset(after, 0, sizeof after);
    TT_OK(tsl_store_identifiers(f.st, "d", idx, 3, after, NULL));
    TT_EQ_MEM(after, before, 48);
    /* A new list of another length on the migrated store. */
    TT_OK(idl_create(&f, "e", 100, 24, NULL));
    TT_OK(tsl_store_list_info(f.st, "e", &info, NULL));
    TT_EQ_U(info.id_bytes, 24);
    tsl_list_info_free(&info);
    sfx_close(&f);
}

/* tsl_store_copy keeps the length, and so the identifiers: SQLite to PostgreSQL and
 * back. */
TT_TEST(idl_ids_copy_keeps_length)
{
    sfx f;
    sfx_pg = 0;
    TT_CHECK(sfx_open(&f) == 0);
    TT_OK(idl_create(&f, "c", 100, 24, NULL));
    uint64_t idx[3];
    uint8_t before[72], after[72];
    size_t len = 0;
    TT_OK(tsl_store_alloc(f.st, "c", 3, idx, NULL));
    TT_OK(tsl_store_list_identifiers(f.st, "c", idx, 3, before, sizeof before, &len, NULL));
    char url[512], schema[64], back[600];
    TT_CHECK(tt_pg_store(url, sizeof url, schema, sizeof schema) == 0);
    snprintf(back, sizeof back, "%s/back.db", f.dir);
    tsl_store *pg = NULL, *b2 = NULL;
    tsl_error err;
    tsl_error_clear(&err);
    TT_OK(tsl_store_open(url, &pg, NULL));
    TT_OK(tsl_store_copy(f.st, pg, NULL, &err));
    TT_OK(tsl_store_open(back, &b2, NULL));
    TT_OK(tsl_store_copy(pg, b2, NULL, &err));
    tsl_store *both[2] = {pg, b2};
    for (int k = 0; k < 2; k++) {
        tsl_list_info info;
        TT_OK(tsl_store_list_info(both[k], "c", &info, NULL));
        TT_EQ_U(info.id_bytes, 24);
        tsl_list_info_free(&info);
        memset(after, 0, sizeof after);
        TT_OK(tsl_store_list_identifiers(both[k], "c", idx, 3, after, sizeof after, &len,
                                         NULL));
        TT_EQ_U(len, 24);
        TT_EQ_MEM(after, before, 72);
    }
    tsl_store_close(pg);
    tsl_store_close(b2);
    tt_pg_drop(schema);
    sfx_close(&f);
}
