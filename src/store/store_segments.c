/* store_segments.c - a stored list's zlib stream built from its stored compressed
 * segments (incremental publishing, issue 15). Chunk n of a list (TSLP_CHUNK_BYTES of
 * packed statuses) is kept, once published, as a segment (codec/segment.h) with the
 * Adler-32 and length of its bytes and a CRC-32 of the row. A write of the chunk drops
 * the row in the same transaction (store_update.c), so a publication reuses every row
 * it finds, after checking its CRC (a torn or damaged row is counted, logged by the
 * caller, and rebuilt from the chunk: never served), reads from the store only the
 * chunks whose row is missing or bad, encodes those (in parallel threads when there
 * are several), combines the Adler-32s and joins the segments. The segments it encoded
 * are written back in the transaction that records the tokens, and only if the list
 * has not changed since the snapshot they were read from. All-zero chunks (no row in
 * chunks) get no segment row: their segment is encoded once per publication and
 * length. A segment copies from the last 32 KiB of the chunk before it (the window a
 * decoder has there), so a row also records that chunk's Adler-32: a row whose previous
 * chunk has changed since is stale and encoded again, which is how a change to chunk n
 * re-encodes segments n and n + 1. The stream is byte for byte the one a publication
 * from scratch gives. */
#include "store/store_segments.h"

#include "codec/segment.h"
#include "store/backend.h"

#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

_Static_assert(TSLP_CHUNK_BYTES >= TSLP_SEGMENT_HISTORY,
               "a segment's history lies in the chunk before it");
_Static_assert(TSLP_CHUNK_BYTES == TSLP_SEGMENT_BYTES, "a chunk is a segment");

/* The CRC-32 a row carries (store_int.h tslp_segment_row). */
static uint32_t row_check(uint64_t n, int level, uint32_t adler, uint32_t raw_len,
                          const uint8_t *data, size_t len)
{
    uint8_t h[20];
    for (int k = 0; k < 8; k++)
        h[k] = (uint8_t)(n >> (8 * k));
    uint32_t v[3] = {(uint32_t)level, adler, raw_len};
    for (int j = 0; j < 3; j++)
        for (int k = 0; k < 4; k++)
            h[8 + 4 * j + k] = (uint8_t)(v[j] >> (8 * k));
    uLong c = crc32(0L, h, sizeof h);
    /* crc32 takes a uInt length: a segment is far below 4 GiB. */
    return (uint32_t)crc32(c, len > 0 ? data : h, (uInt)len);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Segment k of the stream being built. */
typedef struct {
    uint8_t *data; /* tslp_malloc'd (owned) unless shared (a zero segment's) */
    size_t len;
    size_t off;    /* bytes before the segment in data: the row's prefix, or 0 */
    uint32_t adler;
    uint32_t prev_adler; /* of the chunk before, which the segment was encoded after */
    size_t raw_len;
    size_t hist;   /* bytes of history before raw (the previous chunk's end) */
    uint8_t *rawbuf; /* TSLP_SEGMENT_HISTORY bytes of history, then raw */
    bool have;     /* a stored row that passed its check */
    bool bad;      /* a stored row that failed it (or of the wrong level or size) */
    bool zero;     /* no chunk row: all zeros, the shared segment */
    bool fresh;    /* encoded now from a stored chunk: written back */
    bool fetched;  /* its chunk read already, with the others (fetch_missing) */
    bool found;    /* and it has a row */
    uint8_t *raw;  /* the chunk's bytes while it waits to be encoded */
    tsl_status st; /* of its encoding */
} seg;

struct tslp_stream {
    const tsl_list_info *in;
    int level;
    uint64_t nseg;
    uint64_t nbytes;
    seg *s;
    uint8_t *zero[2];      /* the zero segments of a full chunk and of the last one */
    size_t zero_len[2];
    uint32_t zero_adler[2];
    tslp_stream_stats stats;
};

static size_t raw_len_of(const tslp_stream *b, uint64_t n)
{
    return n + 1 < b->nseg ? TSLP_CHUNK_BYTES : (size_t)(b->nbytes - n * TSLP_CHUNK_BYTES);
}

void tslp_stream_free(tslp_stream *b)
{
    if (b == NULL)
        return;
    for (uint64_t n = 0; b->s != NULL && n < b->nseg; n++) {
        if (!b->s[n].zero)
            tslp_free(b->s[n].data);
        tslp_free(b->s[n].rawbuf);
    }
    tslp_free(b->s);
    tslp_free(b->zero[0]);
    tslp_free(b->zero[1]);
    tslp_free(b);
}

const tslp_stream_stats *tslp_stream_stats_of(const tslp_stream *b)
{
    return &b->stats;
}

/* segments_each's callback: keeps each row that passes its check. */
static tsl_status take_row(void *ctx, const tslp_segment_row *row, tsl_error *err)
{
    tslp_stream *b = ctx;
    b->stats.stored++;
    if (row->n >= b->nseg)
        return TSL_OK; /* past the list's end: ignored (the list cannot shrink) */
    seg *sg = &b->s[row->n];
    size_t want = raw_len_of(b, row->n);
    if (row->check != row_check(row->n, row->level, row->adler, row->raw_len, row->data,
                                row->len) ||
        row->len == 0 || row->len > 2 * (size_t)TSLP_CHUNK_BYTES ||
        (row->level == TSLP_SEGMENT_ENCODER * 1000 + b->level &&
         (row->len <= TSLP_SEGMENT_PREFIX ||
          !tslp_segment_is_record(row->data + TSLP_SEGMENT_PREFIX,
                                  row->len - TSLP_SEGMENT_PREFIX)))) {
        /* A row of this encoder that is not a segment record (its check holds: written
         * so, or damaged with the check made again) is as damaged as a torn one. */
        sg->bad = true;
        b->stats.corrupt++;
        if (b->stats.first_corrupt == 0)
            b->stats.first_corrupt = row->n + 1;
        return TSL_OK;
    }
    if (row->level != TSLP_SEGMENT_ENCODER * 1000 + b->level || row->raw_len != want ||
        row->len <= TSLP_SEGMENT_PREFIX) {
        sg->bad = true; /* another level's (or a damaged store's): encoded again */
        return TSL_OK;
    }
    if ((sg->data = tslp_malloc(row->len)) == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "publish: out of memory");
    memcpy(sg->data, row->data, row->len);
    sg->len = row->len;
    sg->off = TSLP_SEGMENT_PREFIX;
    sg->prev_adler = (uint32_t)row->data[0] << 24 | (uint32_t)row->data[1] << 16 |
                     (uint32_t)row->data[2] << 8 | row->data[3];
    sg->adler = row->adler;
    sg->raw_len = want;
    sg->have = true;
    return TSL_OK;
}

/* Encodes one segment from its raw bytes (after its history), as a row's data: the
 * previous chunk's Adler-32, then the segment. */
static void encode_one(tslp_stream *b, seg *sg, tslp_slwork *work)
{
    tslp_buf out;
    tslp_buf_init(&out, 2 * (size_t)TSLP_CHUNK_BYTES + 1024, "segment");
    const uint8_t pre[TSLP_SEGMENT_PREFIX] = {
        (uint8_t)(sg->prev_adler >> 24), (uint8_t)(sg->prev_adler >> 16),
        (uint8_t)(sg->prev_adler >> 8), (uint8_t)sg->prev_adler};
    sg->st = tslp_buf_append(&out, pre, sizeof pre, NULL);
    if (sg->st == TSL_OK)
        sg->st = tslp_segment_encode(sg->raw, sg->raw_len, sg->hist, b->in->bits, b->level,
                                     TSLP_SL_QUICK, work, &out, NULL);
    if (sg->st == TSL_OK) {
        sg->data = tslp_buf_take(&out, &sg->len);
        sg->off = TSLP_SEGMENT_PREFIX;
        if (sg->data == NULL)
            sg->st = TSL_ERR_NOMEM;
    }
    tslp_buf_free(&out);
    tslp_free(sg->rawbuf);
    sg->rawbuf = NULL;
    sg->raw = NULL;
}

/* Reads at once the chunks of the segments without a usable row, where the backend can
 * (chunks_fetch): each into its raw buffer, as step 2 of tslp_stream_build would one by
 * one. */
static tsl_status fetch_missing(tsl_store *st, tslp_stream *b, tsl_error *err)
{
    size_t k = 0;
    for (uint64_t n = 0; n < b->nseg; n++)
        k += !b->s[n].have;
    if (k == 0)
        return TSL_OK;
    uint64_t *ns = tslp_calloc(k, sizeof *ns);
    uint8_t **bufs = tslp_calloc(k, sizeof *bufs);
    size_t *lens = tslp_calloc(k, sizeof *lens);
    bool *found = tslp_calloc(k, sizeof *found);
    tsl_status r = TSL_OK;
    if (ns == NULL || bufs == NULL || lens == NULL || found == NULL)
        r = tslp_fail(err, TSL_ERR_NOMEM, 0, "publish: out of memory");
    size_t j = 0;
    for (uint64_t n = 0; r == TSL_OK && n < b->nseg; n++) {
        seg *sg = &b->s[n];
        if (sg->have)
            continue;
        sg->raw_len = raw_len_of(b, n);
        if ((sg->rawbuf = tslp_malloc(TSLP_SEGMENT_HISTORY + sg->raw_len)) == NULL) {
            r = tslp_fail(err, TSL_ERR_NOMEM, 0, "publish: out of memory");
            break;
        }
        sg->raw = sg->rawbuf + TSLP_SEGMENT_HISTORY;
        ns[j] = n;
        bufs[j] = sg->raw;
        lens[j] = sg->raw_len;
        j++;
    }
    if (r == TSL_OK)
        r = st->be->chunks_fetch(st, b->in->id, ns, k, bufs, lens, found, err);
    for (size_t q = 0; r == TSL_OK && q < k; q++) {
        b->s[ns[q]].fetched = true;
        b->s[ns[q]].found = found[q];
    }
    tslp_free(ns);
    tslp_free(bufs);
    tslp_free(lens);
    tslp_free(found);
    return r;
}

/* Gives segment n (about to be encoded) the last TSLP_SEGMENT_HISTORY bytes of chunk
 * n - 1: from its bytes when they were read for this build, zeros for a chunk never
 * written, or read now. */
static tsl_status take_history(tsl_store *st, tslp_stream *b, uint64_t n, tsl_error *err)
{
    seg *sg = &b->s[n], *pv = &b->s[n - 1];
    uint8_t *h = sg->raw - TSLP_SEGMENT_HISTORY;
    sg->hist = TSLP_SEGMENT_HISTORY;
    if (pv->raw != NULL) {
        memcpy(h, pv->raw + pv->raw_len - TSLP_SEGMENT_HISTORY, TSLP_SEGMENT_HISTORY);
        return TSL_OK;
    }
    if (pv->zero) {
        memset(h, 0, TSLP_SEGMENT_HISTORY);
        return TSL_OK;
    }
    uint8_t *tmp = tslp_malloc(pv->raw_len);
    if (tmp == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "publish: out of memory");
    int64_t ref = 0;
    tsl_status r = st->be->chunk_read(st, b->in->id, n - 1, tmp, pv->raw_len, &ref, err);
    if (r == TSL_OK) {
        memcpy(h, tmp + pv->raw_len - TSLP_SEGMENT_HISTORY, TSLP_SEGMENT_HISTORY);
        b->stats.chunks_read++;
    }
    tslp_free(tmp);
    return r;
}

/* The segments to encode: todo[k] is the k-th one's number (tslp_parallel_run), and
 * each worker's encoder scratch space (made at its first segment; NULL, when that
 * failed, makes each call allocate its own). */
typedef struct {
    tslp_stream *b;
    const uint64_t *todo;
    tslp_slwork *work[TSLP_DEFLATE_MAX_THREADS];
} todo_list;

static void encode_at(void *ctx, size_t k, unsigned worker)
{
    todo_list *t = ctx;
    if (t->work[worker] == NULL)
        t->work[worker] = tslp_slwork_new();
    encode_one(t->b, &t->b->s[t->todo[k]], t->work[worker]);
}

static void encode_all(tslp_stream *b, uint64_t *todo, size_t n)
{
    todo_list t = {.b = b, .todo = todo};
    tslp_parallel_run(n, encode_at, &t);
    for (unsigned w = 0; w < TSLP_DEFLATE_MAX_THREADS; w++)
        tslp_slwork_free(t.work[w]);
}

/* The zero segment of raw length len (slot 0: a full chunk, 1: the last one). */
static tsl_status zero_segment(tslp_stream *b, int slot, size_t len, tsl_error *err)
{
    if (b->zero[slot] != NULL)
        return TSL_OK;
    uint8_t *z = tslp_calloc(len > 0 ? len : 1, 1);
    if (z == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "publish: out of memory");
    tslp_buf out;
    tslp_buf_init(&out, 2 * (size_t)TSLP_CHUNK_BYTES + 1024, "segment");
    tsl_status r = tslp_segment_encode(z, len, 0, b->in->bits, b->level, TSLP_SL_QUICK, NULL,
                                       &out, err);
    b->zero_adler[slot] = (uint32_t)adler32(1L, z, (uInt)len);
    tslp_free(z);
    if (r == TSL_OK && (b->zero[slot] = tslp_buf_take(&out, &b->zero_len[slot])) == NULL)
        r = tslp_fail(err, TSL_ERR_NOMEM, 0, "publish: out of memory");
    tslp_buf_free(&out);
    return r;
}

tsl_status tslp_stream_build(tsl_store *st, const tsl_list_info *in, int level,
                             tslp_stream **out, uint8_t **z, size_t *zlen, tsl_error *err)
{
    *out = NULL;
    /* level 0 stays 0: the encoder's own default (which may depend on the width). */
    if (level < 0 || level > TSL_LEVEL_STATUSLIST)
        return tslp_fail(err, TSL_ERR_ARG, 0, "publish: level %d is not 0 to %d", level,
                         TSL_LEVEL_STATUSLIST);
    tslp_stream *b = tslp_calloc(1, sizeof *b);
    if (b == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "publish: out of memory");
    b->in = in;
    b->level = level;
    b->nbytes = tslp_store_nbytes(in->bits, in->size);
    b->nseg = tslp_store_nchunks(in->bits, in->size);
    double t0 = now_ms();
    uint64_t *todo = NULL;
    tsl_status r = TSL_OK;
    if (b->nseg > TSL_STORE_MAX_SIZE / TSLP_CHUNK_BYTES + 1 ||
        (b->s = tslp_calloc((size_t)b->nseg + 1, sizeof *b->s)) == NULL ||
        (todo = tslp_calloc((size_t)b->nseg + 1, sizeof *todo)) == NULL)
        r = tslp_fail(err, TSL_ERR_NOMEM, 0, "publish: out of memory");
    /* 1. The stored segments, each checked. */
    if (r == TSL_OK)
        r = st->be->segments_each(st, in->id, take_row, b, err);
    /* 1b. The chunks of the segments without a usable row, many to a statement where
     * the backend is a server; a row found stale in step 2 has its chunk read there. */
    if (r == TSL_OK && st->be->chunks_fetch != NULL)
        r = fetch_missing(st, b, err);
    /* 2. The chunks of the others: read now, inside the snapshot's transaction, in
     * order, so that the chunk before each is known (a segment copies from the end of
     * the chunk before it: a row encoded after another version of that chunk is stale). */
    size_t ntodo = 0;
    for (uint64_t n = 0; r == TSL_OK && n < b->nseg; n++) {
        seg *sg = &b->s[n];
        uint32_t prev = n == 0 ? 1u : b->s[n - 1].adler;
        if (sg->have && sg->prev_adler != prev) {
            tslp_free(sg->data);
            sg->data = NULL;
            sg->have = false;
            b->stats.stale++;
        }
        if (sg->have)
            continue;
        bool found = sg->found;
        if (!sg->fetched) {
            sg->raw_len = raw_len_of(b, n);
            if ((sg->rawbuf = tslp_malloc(TSLP_SEGMENT_HISTORY + sg->raw_len)) == NULL) {
                r = tslp_fail(err, TSL_ERR_NOMEM, 0, "publish: out of memory");
                break;
            }
            sg->raw = sg->rawbuf + TSLP_SEGMENT_HISTORY;
            int64_t ref = 0;
            if ((r = st->be->chunk_read(st, in->id, n, sg->raw, sg->raw_len, &ref, err)) !=
                TSL_OK)
                break;
            found = ref != 0;
        }
        b->stats.chunks_read++;
        if (!found) {
            int slot = sg->raw_len == TSLP_CHUNK_BYTES ? 0 : 1;
            tslp_free(sg->rawbuf);
            sg->rawbuf = NULL;
            sg->raw = NULL;
            if ((r = zero_segment(b, slot, sg->raw_len, err)) != TSL_OK)
                break;
            sg->zero = true;
            sg->data = b->zero[slot];
            sg->len = b->zero_len[slot];
            sg->adler = b->zero_adler[slot];
            b->stats.zero++;
        } else {
            sg->adler = (uint32_t)adler32(1L, sg->raw, (uInt)sg->raw_len);
            sg->prev_adler = prev;
            if (n > 0 && (r = take_history(st, b, n, err)) != TSL_OK)
                break;
            todo[ntodo++] = n;
        }
    }
    double t1 = now_ms();
    b->stats.read_ms = t1 - t0;
    /* 3. Encode the missing ones. */
    if (r == TSL_OK && ntodo > 0) {
        encode_all(b, todo, ntodo);
        for (size_t k = 0; k < ntodo && r == TSL_OK; k++) {
            seg *sg = &b->s[todo[k]];
            if (sg->st != TSL_OK)
                r = tslp_fail(err, sg->st, 0, "publish: encoding chunk %llu: %s",
                              (unsigned long long)todo[k], tsl_strerror(sg->st));
            sg->fresh = true;
        }
        b->stats.encoded = ntodo;
    }
    tslp_free(todo);
    double t2 = now_ms();
    b->stats.encode_ms = t2 - t1;
    /* 4. Join, with the Adler-32s combined. */
    if (r == TSL_OK) {
        const uint8_t **segs = tslp_calloc((size_t)b->nseg + 1, sizeof *segs);
        size_t *lens = tslp_calloc((size_t)b->nseg + 1, sizeof *lens);
        uLong adler = 1L;
        size_t total = 0; /* the records' bytes */
        if (segs == NULL || lens == NULL) {
            r = tslp_fail(err, TSL_ERR_NOMEM, 0, "publish: out of memory");
        } else {
            for (uint64_t n = 0; n < b->nseg; n++) {
                segs[n] = b->s[n].data + b->s[n].off;
                lens[n] = b->s[n].len - b->s[n].off;
                total += lens[n];
                adler = n == 0 ? b->s[n].adler
                               : adler32_combine(adler, b->s[n].adler,
                                                 (z_off_t)b->s[n].raw_len);
                if (!b->s[n].fresh && !b->s[n].zero)
                    b->stats.reused++;
            }
            tslp_buf zb;
            tslp_buf_init(&zb, SIZE_MAX, "compressed list");
            if ((r = tslp_segment_join(segs, lens, (size_t)b->nseg, (uint32_t)adler,
                                       total <= TSLP_STORE_REFIT_BYTES, &zb, err)) ==
                    TSL_OK &&
                (*z = tslp_buf_take(&zb, zlen)) == NULL)
                r = tslp_fail(err, TSL_ERR_NOMEM, 0, "publish: out of memory");
            tslp_buf_free(&zb);
        }
        tslp_free(segs);
        tslp_free(lens);
    }
    b->stats.join_ms = now_ms() - t2;
    if (r != TSL_OK) {
        tslp_stream_free(b);
        return r;
    }
    *out = b;
    return TSL_OK;
}

tsl_status tslp_stream_write_back(tsl_store *st, tslp_stream *b, tsl_error *err)
{
    double t0 = now_ms();
    size_t nfresh = 0;
    for (uint64_t n = 0; n < b->nseg; n++)
        nfresh += b->s[n].fresh;
    tslp_segment_row *rows = tslp_calloc(nfresh > 0 ? nfresh : 1, sizeof *rows);
    if (rows == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "publish: out of memory");
    size_t k = 0;
    tsl_status r = TSL_OK;
    for (uint64_t n = 0; r == TSL_OK && n < b->nseg; n++) {
        seg *sg = &b->s[n];
        if (sg->fresh) {
            int tag = TSLP_SEGMENT_ENCODER * 1000 + b->level;
            tslp_segment_row row = {n, tag, sg->adler, (uint32_t)sg->raw_len, 0, sg->data,
                                    sg->len};
            row.check = row_check(n, tag, sg->adler, row.raw_len, sg->data, sg->len);
            rows[k++] = row;
        } else if (sg->zero && sg->bad) {
            r = st->be->segment_drop(st, b->in->id, n, err); /* a damaged row of no chunk */
        }
    }
    /* All at once: a server backend sends them in one round trip. */
    if (r == TSL_OK && (r = st->be->segments_put(st, b->in->id, rows, k, err)) == TSL_OK)
        b->stats.written += k;
    tslp_free(rows);
    b->stats.write_ms += now_ms() - t0;
    return r;
}
