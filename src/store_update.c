/* store_update.c - applying a batch of status changes to a stored list: one write
 * transaction that loads only the chunks the batch touches, applies the items in order
 * with the INVALID-is-final check, writes back only the pages that changed (incremental
 * blob I/O), bumps the version and records the batch in the audit trail. A batch that
 * touches every chunk loads the whole list, chunk by chunk, and no more. */
#include "store_int.h"

#include <string.h>
#include <time.h>

/* Bytes compared and rewritten at a time when writing a chunk back: about one page. */
#define SEGMENT 4096

/* One loaded chunk. rowid is 0 when the chunk had no row (all zeros). */
typedef struct {
    int64_t rowid;
    size_t len;
    uint8_t data[];
} slot;

typedef struct {
    tsl_store *st;
    const tsl_list_info *info;
    uint64_t nbytes, nchunks;
    slot **slots;        /* nchunks pointers, NULL until loaded */
    sqlite3_stmt *read;  /* SELECT rowid, data ... WHERE list_id = ? AND n = ? */
    unsigned log2bits;
    uint64_t per_chunk;  /* entries per chunk */
} upd;

static size_t chunk_len(const upd *u, uint64_t c)
{
    return c + 1 < u->nchunks ? TSLP_CHUNK_BYTES
                              : (size_t)(u->nbytes - c * TSLP_CHUNK_BYTES);
}

static tsl_status load_slot(upd *u, uint64_t c, slot **out, tsl_error *err)
{
    if (u->slots[c] != NULL) {
        *out = u->slots[c];
        return TSL_OK;
    }
    size_t len = chunk_len(u, c);
    slot *sl = tslp_malloc(sizeof *sl + len);
    if (sl == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "list \"%s\": out of memory", u->info->id);
    sl->len = len;
    sl->rowid = 0;
    sqlite3_reset(u->read);
    sqlite3_bind_int64(u->read, 2, (sqlite3_int64)c);
    int rc = sqlite3_step(u->read);
    if (rc == SQLITE_ROW) {
        const void *d = sqlite3_column_blob(u->read, 1);
        if (d == NULL || (size_t)sqlite3_column_bytes(u->read, 1) != len) {
            tslp_free(sl);
            return tslp_fail(err, TSL_ERR_MALFORMED, 0,
                             "store %s: list \"%s\": chunk %llu has the wrong size",
                             u->st->path, u->info->id, (unsigned long long)c);
        }
        sl->rowid = sqlite3_column_int64(u->read, 0);
        memcpy(sl->data, d, len);
    } else if (rc == SQLITE_DONE) {
        memset(sl->data, 0, len);
    } else {
        tslp_free(sl);
        return tslp_store_sqlfail(u->st, rc, "reading statuses", err);
    }
    sqlite3_reset(u->read);
    u->slots[c] = sl;
    *out = sl;
    return TSL_OK;
}

static tsl_status final_fail(const upd *u, const tsl_batch_item *it, uint64_t idx,
                             tsl_error *err)
{
    (void)u;
    if (it->line > 0)
        return tslp_fail(err, TSL_ERR_VALUE, 0,
                         "line %llu: index %llu is INVALID, which is final; use --force",
                         (unsigned long long)it->line, (unsigned long long)idx);
    return tslp_fail(err, TSL_ERR_VALUE, 0,
                     "index %llu is INVALID, which is final; use --force",
                     (unsigned long long)idx);
}

/* Sets local entries lo..hi (inclusive) of one chunk to it->value; base is the global
 * index of the chunk's entry 0. */
static tsl_status apply_segment(const upd *u, slot *sl, uint64_t base, uint64_t lo,
                                uint64_t hi, const tsl_batch_item *it, bool final,
                                tsl_error *err)
{
    unsigned bits = u->info->bits, lg = u->log2bits, v = it->value;
    unsigned emask = (1u << bits) - 1, per = 8 / bits;
    unsigned pat = v;
    for (unsigned w = bits; w < 8; w *= 2)
        pat |= pat << w;
    /* Only a change away from INVALID needs looking at the old values. */
    bool check = final && v != TSL_STATUS_INVALID;
    uint64_t i = lo;
    while (i <= hi) {
        uint8_t *b = &sl->data[i >> (3 - lg)];
        unsigned e = (unsigned)(i & (per - 1));
        if (e == 0 && hi - i + 1 >= per) {
            /* A whole byte. */
            if (*b != (uint8_t)pat) {
                if (check)
                    for (unsigned k = 0; k < per; k++)
                        if (((*b >> (k * bits)) & emask) == TSL_STATUS_INVALID)
                            return final_fail(u, it, base + i + k, err);
                *b = (uint8_t)pat;
            }
            i += per;
            continue;
        }
        unsigned shift = e * bits;
        unsigned old = (*b >> shift) & emask;
        if (old != v) {
            if (check && old == TSL_STATUS_INVALID)
                return final_fail(u, it, base + i, err);
            *b = (uint8_t)((*b & ~(emask << shift)) | (v << shift));
        }
        i++;
    }
    return TSL_OK;
}

static tsl_status apply_item(upd *u, const tsl_batch_item *it, bool final, tsl_error *err)
{
    const tsl_list_info *in = u->info;
    if (it->first > it->last || it->last >= in->size)
        return tslp_fail(err, TSL_ERR_INDEX, 0,
                         "line %llu: index %llu is out of range (list \"%s\" has %llu)",
                         (unsigned long long)it->line, (unsigned long long)it->last, in->id,
                         (unsigned long long)in->size);
    if (it->value >> in->bits != 0) {
        if (it->value == TSL_STATUS_SUSPENDED)
            return tslp_fail(err, TSL_ERR_VALUE, 0,
                             "line %llu: SUSPENDED needs bits of at least 2; list \"%s\" "
                             "has %u", (unsigned long long)it->line, in->id, in->bits);
        return tslp_fail(err, TSL_ERR_VALUE, 0,
                         "line %llu: value %u does not fit in %u bits",
                         (unsigned long long)it->line, (unsigned)it->value, in->bits);
    }
    uint64_t c = it->first / u->per_chunk, clast = it->last / u->per_chunk;
    for (; c <= clast; c++) {
        uint64_t base = c * u->per_chunk;
        uint64_t lo = it->first > base ? it->first - base : 0;
        uint64_t hi = it->last - base < u->per_chunk - 1 ? it->last - base
                                                          : u->per_chunk - 1;
        slot *sl = NULL;
        tsl_status r = load_slot(u, c, &sl, err);
        if (r == TSL_OK)
            r = apply_segment(u, sl, base, lo, hi, it, final, err);
        if (r != TSL_OK)
            return r;
    }
    return TSL_OK;
}

/* Entries that differ between a and b (packed, n bytes). */
static uint64_t count_diff(const uint8_t *a, const uint8_t *b, size_t n, unsigned bits)
{
    uint64_t total = 0;
    for (size_t k = 0; k < n; k++) {
        unsigned x = (unsigned)(a[k] ^ b[k]);
        if (x == 0)
            continue;
        switch (bits) {
        case 1: break;
        case 2: x = (x | x >> 1) & 0x55; break;
        case 4: x = (x | x >> 1 | x >> 2 | x >> 3) & 0x11; break;
        default: x = 1; break;
        }
        total += (uint64_t)__builtin_popcount(x);
    }
    return total;
}

static const uint8_t zeros[SEGMENT];

/* Counts the changes of one loaded chunk against what is stored and, unless dry_run,
 * writes the segments that differ. */
static tsl_status write_slot(upd *u, uint64_t c, const slot *sl, bool dry_run,
                             sqlite3_stmt *ins, uint64_t *changed, tsl_error *err)
{
    unsigned bits = u->info->bits;
    if (sl->rowid == 0) {
        uint64_t d = 0;
        for (size_t off = 0; off < sl->len; off += SEGMENT) {
            size_t n = sl->len - off < SEGMENT ? sl->len - off : SEGMENT;
            d += count_diff(sl->data + off, zeros, n, bits);
        }
        *changed += d;
        if (d == 0 || dry_run)
            return TSL_OK;
        sqlite3_reset(ins);
        sqlite3_bind_int64(ins, 2, (sqlite3_int64)c);
        sqlite3_bind_blob(ins, 3, sl->data, (int)sl->len, SQLITE_STATIC);
        int rc = sqlite3_step(ins);
        sqlite3_reset(ins);
        return rc == SQLITE_DONE ? TSL_OK
                                 : tslp_store_sqlfail(u->st, rc, "writing statuses", err);
    }
    sqlite3_blob *blob = NULL;
    int rc = sqlite3_blob_open(u->st->db, "main", "chunks", "data", sl->rowid,
                               dry_run ? 0 : 1, &blob);
    if (rc != SQLITE_OK)
        return tslp_store_sqlfail(u->st, rc, "opening a chunk", err);
    uint8_t old[SEGMENT];
    for (size_t off = 0; rc == SQLITE_OK && off < sl->len; off += SEGMENT) {
        int n = (int)(sl->len - off < SEGMENT ? sl->len - off : SEGMENT);
        if ((rc = sqlite3_blob_read(blob, old, n, (int)off)) != SQLITE_OK)
            break;
        uint64_t d = count_diff(old, sl->data + off, (size_t)n, bits);
        *changed += d;
        if (d > 0 && !dry_run)
            rc = sqlite3_blob_write(blob, sl->data + off, n, (int)off);
    }
    tsl_status r = rc == SQLITE_OK ? TSL_OK
                                   : tslp_store_sqlfail(u->st, rc, "rewriting a chunk", err);
    sqlite3_blob_close(blob);
    return r;
}

static tsl_status update_locked(upd *u, const tsl_batch *b, int force, int dry_run,
                                const char *source, uint64_t *changed, tsl_error *err)
{
    const tsl_list_info *in = u->info;
    u->nbytes = tslp_store_nbytes(in->bits, in->size);
    u->nchunks = tslp_store_nchunks(in->bits, in->size);
    u->log2bits = in->bits == 1 ? 0 : in->bits == 2 ? 1 : in->bits == 4 ? 2 : 3;
    u->per_chunk = (uint64_t)TSLP_CHUNK_BYTES * 8 / in->bits;
    if ((u->slots = tslp_calloc((size_t)u->nchunks, sizeof *u->slots)) == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "list \"%s\": out of memory", in->id);
    tsl_status r = tslp_store_prepare(
        u->st, "SELECT rowid, data FROM chunks WHERE list_id = ?1 AND n = ?2", &u->read,
        err);
    if (r != TSL_OK)
        return r;
    sqlite3_bind_text(u->read, 1, in->id, -1, SQLITE_STATIC);
    bool final = in->final_invalid && !force;
    size_t n = tsl_batch_count(b);
    const tsl_batch_item *items = tsl_batch_items(b);
    for (size_t k = 0; k < n; k++)
        if ((r = apply_item(u, &items[k], final, err)) != TSL_OK)
            return r;
    sqlite3_stmt *ins = NULL;
    if ((r = tslp_store_prepare(u->st,
                                "INSERT INTO chunks (list_id, n, data) VALUES (?1, ?2, ?3)",
                                &ins, err)) != TSL_OK)
        return r;
    sqlite3_bind_text(ins, 1, in->id, -1, SQLITE_STATIC);
    uint64_t total = 0;
    for (uint64_t c = 0; r == TSL_OK && c < u->nchunks; c++)
        if (u->slots[c] != NULL)
            r = write_slot(u, c, u->slots[c], dry_run, ins, &total, err);
    sqlite3_finalize(ins);
    if (r != TSL_OK)
        return r;
    *changed = total;
    if (dry_run)
        return TSL_OK;
    int64_t now = (int64_t)time(NULL);
    if (total > 0) {
        sqlite3_stmt *s;
        if ((r = tslp_store_prepare(u->st,
                                    "UPDATE lists SET version = version + 1, updated = ?2"
                                    " WHERE id = ?1",
                                    &s, err)) != TSL_OK)
            return r;
        sqlite3_bind_text(s, 1, in->id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 2, now);
        int rc = sqlite3_step(s);
        sqlite3_finalize(s);
        if (rc != SQLITE_DONE)
            return tslp_store_sqlfail(u->st, rc, "recording the update", err);
    }
    bool is_set = source != NULL && strcmp(source, "set") == 0;
    return tslp_store_audit(u->st, in->id, now, tsl_batch_entries(b), total, source,
                            is_set ? "set" : "update", err);
}

tsl_status tsl_store_update(tsl_store *st, const char *id, const tsl_batch *b, int force,
                            int dry_run, const char *source, uint64_t *changed,
                            tsl_error *err)
{
    if (st == NULL || id == NULL || b == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "store: NULL argument");
    /* A dry run reads a snapshot and never takes the write lock. */
    tsl_status r = tslp_store_begin(st, !dry_run, err);
    if (r != TSL_OK)
        return r;
    tslp_list_row row;
    upd u;
    memset(&u, 0, sizeof u);
    u.st = st;
    uint64_t total = 0;
    if ((r = tslp_store_read_row(st, id, &row, err)) == TSL_OK) {
        memset(row.perm_key, 0, sizeof row.perm_key);
        u.info = &row.info;
        r = update_locked(&u, b, force, dry_run, source, &total, err);
        sqlite3_finalize(u.read);
        if (u.slots != NULL)
            for (uint64_t c = 0; c < u.nchunks; c++)
                tslp_free(u.slots[c]);
        tslp_free(u.slots);
        tsl_list_info_free(&row.info);
    }
    if (r == TSL_OK && !dry_run)
        r = tslp_store_commit(st, err);
    else
        tslp_store_rollback(st);
    if (r == TSL_OK && changed != NULL)
        *changed = total;
    return r;
}
