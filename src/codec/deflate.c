/* deflate.c - compresses a list's packed bytes into a zlib stream (RFC 1950 around
 * RFC 1951). libdeflate is used because, measured on a 10^8-entry 1-bit list with 1% set
 * (BENCHMARKS.md), its level 12 is 9% smaller than zlib -9 and 30% faster, and stock
 * zlib inflates its output.
 *
 * Large lists are cut into fixed 1 MiB chunks compressed in parallel as raw deflate
 * streams, then joined into one stream: each chunk but the last has the "final block"
 * bit of its last block cleared and is followed by an empty stored block, which brings
 * the next chunk to a byte boundary. Chunk boundaries depend only on the input, so the
 * output is the same on any number of cores; the cost is about 300 bytes for the
 * matches lost at each boundary. */
#include "core/tsl_int.h"
#include "codec/segment.h"
#include "codec/sldeflate.h"

#include <libdeflate.h>
#include <string.h>
#include <zlib.h>

#define CHUNK_BYTES ((size_t)1 << 20)

typedef struct {
    const uint8_t *in;
    size_t in_len;
    int level;
    uint8_t *out; /* raw deflate, tslp_malloc'd */
    size_t out_len;
    size_t end_bit; /* bit position just past the end-of-block code of the last block */
    size_t final_bit; /* bit position of the last block's BFINAL bit */
    tsl_status st;
} chunk;

static tsl_status locate_blocks(chunk *c)
{
    return tslp_deflate_locate(c->out, c->out_len, &c->final_bit, &c->end_bit);
}

static void *compress_chunk(void *arg)
{
    chunk *c = arg;
    struct libdeflate_compressor *z = libdeflate_alloc_compressor(c->level);
    if (z == NULL) {
        c->st = TSL_ERR_NOMEM;
        return NULL;
    }
    size_t bound = libdeflate_deflate_compress_bound(z, c->in_len) + 8;
    c->out = tslp_malloc(bound);
    if (c->out == NULL) {
        libdeflate_free_compressor(z);
        c->st = TSL_ERR_NOMEM;
        return NULL;
    }
    c->out_len = libdeflate_deflate_compress(z, c->in, c->in_len, c->out, bound);
    libdeflate_free_compressor(z);
    c->st = c->out_len == 0 ? TSL_ERR_BUFFER : locate_blocks(c);
    return NULL;
}

/* tslp_parallel_run's call of compress_chunk on chunk k. */
static void compress_chunk_at(void *ctx, size_t k, unsigned worker)
{
    (void)worker;
    compress_chunk((chunk *)ctx + k);
}

/* Appends chunk c to out at *pos; not_last means "more chunks follow". */
static void append_chunk(uint8_t *out, size_t *pos, const chunk *c, bool not_last)
{
    size_t nbytes = (c->end_bit + 7) / 8;
    memcpy(out + *pos, c->out, nbytes);
    if (!not_last) {
        *pos += nbytes;
        return;
    }
    uint8_t *base = out + *pos;
    base[c->final_bit / 8] &= (uint8_t)~(1u << (c->final_bit % 8));
    /* Zero the padding after the last code, where the stored block header goes. */
    unsigned r = (unsigned)(c->end_bit % 8);
    if (r != 0)
        base[nbytes - 1] &= (uint8_t)((1u << r) - 1);
    *pos += nbytes;
    /* The 3-bit header (BFINAL 0, BTYPE 00) needs bits r..r+2 of the last byte; when
     * they do not fit, or the stream ended on a byte boundary, a zero byte holds it. */
    if (r == 0 || r > 5)
        out[(*pos)++] = 0x00;
    static const uint8_t empty_stored[4] = {0x00, 0x00, 0xFF, 0xFF}; /* LEN 0, NLEN */
    memcpy(out + *pos, empty_stored, 4);
    *pos += 4;
}

static tsl_status compress_parallel(const uint8_t *in, size_t len, int level, uint8_t **out,
                                    size_t *out_len, tsl_error *err)
{
    size_t n = (len + CHUNK_BYTES - 1) / CHUNK_BYTES;
    chunk *chunks = tslp_calloc(n, sizeof *chunks);
    if (chunks == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "compress: out of memory");
    for (size_t k = 0; k < n; k++) {
        chunks[k].in = in + k * CHUNK_BYTES;
        chunks[k].in_len = k + 1 < n ? CHUNK_BYTES : len - k * CHUNK_BYTES;
        chunks[k].level = level;
    }
    tslp_parallel_run(n, compress_chunk_at, chunks);
    tsl_status st = TSL_OK;
    size_t total = 2 + 4;
    for (size_t k = 0; k < n && st == TSL_OK; k++) {
        st = chunks[k].st;
        total += chunks[k].out_len + 5;
    }
    uint8_t *buf = st == TSL_OK ? tslp_malloc(total) : NULL;
    if (st == TSL_OK && buf == NULL)
        st = TSL_ERR_NOMEM;
    if (st == TSL_OK) {
        /* zlib header: deflate, 32K window, "maximum compression" flag, check bits. */
        size_t pos = 0;
        buf[pos++] = 0x78;
        buf[pos++] = 0xDA;
        for (size_t k = 0; k < n; k++)
            append_chunk(buf, &pos, &chunks[k], k + 1 < n);
        uint32_t a = libdeflate_adler32(1, in, len);
        buf[pos++] = (uint8_t)(a >> 24);
        buf[pos++] = (uint8_t)(a >> 16);
        buf[pos++] = (uint8_t)(a >> 8);
        buf[pos++] = (uint8_t)a;
        uint8_t *shrunk = tslp_realloc(buf, pos);
        *out = shrunk != NULL ? shrunk : buf;
        *out_len = pos;
    }
    for (size_t k = 0; k < n; k++)
        tslp_free(chunks[k].out);
    tslp_free(chunks);
    if (st != TSL_OK)
        return tslp_fail(err, st, 0, "compress: %s", tsl_strerror(st));
    return TSL_OK;
}

/* One segment of the default level's encode: in, its output and its Adler-32. */
typedef struct {
    const uint8_t *in;
    size_t in_len;
    unsigned bits;
    tslp_buf out;
    uint32_t adler;
    tsl_status st;
    tsl_error err;
} segjob;

/* The segments of one compression and each worker's scratch space (made at its first
 * segment; NULL, when that failed, makes each call allocate its own). */
typedef struct {
    segjob *jobs;
    tslp_slwork *work[TSLP_DEFLATE_MAX_THREADS];
} segjobs;

static void encode_segment(void *ctx, size_t k, unsigned worker)
{
    segjobs *all = ctx;
    segjob *j = &all->jobs[k];
    if (all->work[worker] == NULL)
        all->work[worker] = tslp_slwork_new();
    j->st = tslp_segment_encode(j->in, j->in_len, TSLP_SEGMENT_HIST_OF(k), j->bits,
                                TSL_LEVEL_STATUSLIST, TSLP_SL_FULL, all->work[worker], &j->out,
                                &j->err);
    if (j->st == TSL_OK)
        j->adler = (uint32_t)adler32(1, j->in, (uInt)j->in_len);
}

/* The default level: the list cut at every TSLP_SEGMENT_BYTES, each segment encoded (in
 * parallel) with the window of the one before as history, the segments joined, the
 * Adler-32s combined. Incremental publishing re-encodes only changed segments and those
 * right after them, and joins them the same way, so both give the same bytes. */
static tsl_status compress_segments(const tsl_list *l, uint8_t **out, size_t *out_len,
                                    tsl_error *err)
{
    size_t len = l->nbytes, n = (len + TSLP_SEGMENT_BYTES - 1) / TSLP_SEGMENT_BYTES;
    segjob *jobs = tslp_calloc(n > 0 ? n : 1, sizeof *jobs);
    const uint8_t **segs = tslp_calloc(n > 0 ? n : 1, sizeof *segs);
    size_t *seg_len = tslp_calloc(n > 0 ? n : 1, sizeof *seg_len);
    if (jobs == NULL || segs == NULL || seg_len == NULL) {
        tslp_free(jobs);
        tslp_free(segs);
        tslp_free(seg_len);
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "compress: out of memory");
    }
    for (size_t k = 0; k < n; k++) {
        jobs[k].in = l->data + k * TSLP_SEGMENT_BYTES;
        jobs[k].in_len = k + 1 < n ? TSLP_SEGMENT_BYTES : len - k * TSLP_SEGMENT_BYTES;
        jobs[k].bits = l->bits;
        tslp_buf_init(&jobs[k].out,
                      TSLP_SLDEFLATE_BOUND(jobs[k].in_len) + TSLP_SEGMENT_BODY_HEAD, "segment");
        tsl_error_clear(&jobs[k].err);
    }
    /* Below about 16 segments (1 MiB) a thread costs more than it saves. */
    segjobs all = {.jobs = jobs};
    if (n >= 16)
        tslp_parallel_run(n, encode_segment, &all);
    else
        for (size_t k = 0; k < n; k++)
            encode_segment(&all, k, 0);
    for (unsigned w = 0; w < TSLP_DEFLATE_MAX_THREADS; w++)
        tslp_slwork_free(all.work[w]);
    tsl_status st = TSL_OK;
    uint32_t adler = 1;
    size_t total = 8 + n * TSLP_SEGMENT_JOIN_SLACK;
    for (size_t k = 0; k < n; k++) {
        if (jobs[k].st != TSL_OK) {
            st = jobs[k].st;
            if (err != NULL && err->code == TSL_OK)
                *err = jobs[k].err;
            break;
        }
        segs[k] = jobs[k].out.data;
        seg_len[k] = jobs[k].out.len;
        total += seg_len[k];
        adler = (uint32_t)adler32_combine(adler, jobs[k].adler, (z_off_t)jobs[k].in_len);
    }
    tslp_buf z;
    tslp_buf_init(&z, total, "compressed list");
    if (st == TSL_OK)
        st = tslp_segment_join(segs, seg_len, n, adler, true, &z, err);
    for (size_t k = 0; k < n; k++)
        tslp_buf_free(&jobs[k].out);
    tslp_free(jobs);
    tslp_free(segs);
    tslp_free(seg_len);
    if (st == TSL_OK) {
        *out = tslp_buf_take(&z, out_len);
        if (*out == NULL)
            st = tslp_fail(err, TSL_ERR_NOMEM, 0, "compress: out of memory");
    }
    tslp_buf_free(&z);
    return st;
}

/* Compresses without looking at the cache. */
static tsl_status compress_now(const tsl_list *l, int level, uint8_t **out, size_t *out_len,
                               tsl_error *err);

tsl_status tsl_list_compress(const tsl_list *l, int level, uint8_t **out, size_t *out_len,
                             tsl_error *err)
{
    if (l == NULL || out == NULL || out_len == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "compress: NULL argument");
    if (level == 0)
        level = TSL_LEVEL_DEFAULT;
    if (level < 1 || level > TSL_LEVEL_STATUSLIST)
        return tslp_fail(err, TSL_ERR_ARG, 0, "compress: level %d is not 1 to %d", level,
                         TSL_LEVEL_STATUSLIST);
    if (l->zcache != NULL && l->zcache_level == level) {
        uint8_t *copy = tslp_malloc(l->zcache_len);
        if (copy == NULL)
            return tslp_fail(err, TSL_ERR_NOMEM, 0, "compress: out of memory");
        memcpy(copy, l->zcache, l->zcache_len);
        *out = copy;
        *out_len = l->zcache_len;
        return TSL_OK;
    }
    return compress_now(l, level, out, out_len, err);
}

tsl_status tsl_list_precompress(tsl_list *l, int level, tsl_error *err)
{
    if (l == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "compress: NULL argument");
    if (level == 0)
        level = TSL_LEVEL_DEFAULT;
    if (l->zcache != NULL && l->zcache_level == level)
        return TSL_OK;
    uint8_t *z = NULL;
    size_t zl = 0;
    tsl_status st = tsl_list_compress(l, level, &z, &zl, err);
    if (st != TSL_OK)
        return st;
    tslp_list_changed(l);
    l->zcache = z;
    l->zcache_len = zl;
    l->zcache_level = level;
    return TSL_OK;
}

static tsl_status compress_now(const tsl_list *l, int level, uint8_t **out, size_t *out_len,
                               tsl_error *err)
{
    if (level == TSL_LEVEL_STATUSLIST)
        return compress_segments(l, out, out_len, err);
    /* Fast levels take milliseconds even for large lists: chunking would only cost
     * size there. */
    if (l->nbytes > CHUNK_BYTES && level >= 9)
        return compress_parallel(l->data, l->nbytes, level, out, out_len, err);

    struct libdeflate_compressor *c = libdeflate_alloc_compressor(level);
    if (c == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "out of memory for a level %d compressor",
                         level);
    /* libdeflate wants a non-NULL input even when it is empty. */
    static const uint8_t empty[1];
    const uint8_t *in = l->nbytes > 0 ? l->data : empty;
    size_t bound = libdeflate_zlib_compress_bound(c, l->nbytes);
    uint8_t *buf = tslp_malloc(bound);
    if (buf == NULL) {
        libdeflate_free_compressor(c);
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "out of memory for %zu bytes", bound);
    }
    size_t n = libdeflate_zlib_compress(c, in, l->nbytes, buf, bound);
    libdeflate_free_compressor(c);
    if (n == 0) {
        /* Cannot happen with a buffer of compress_bound() bytes; fail loudly anyway. */
        tslp_free(buf);
        return tslp_fail(err, TSL_ERR_BUFFER, 0, "compress: output exceeded its bound");
    }
    /* The bound is about the input size; give the slack back (a shrink never fails in
     * practice, and if it does the larger block is still valid). */
    uint8_t *shrunk = tslp_realloc(buf, n);
    *out = shrunk != NULL ? shrunk : buf;
    *out_len = n;
    return TSL_OK;
}
