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

#include <libdeflate.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>
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

/* Finds where the last block of a raw deflate stream starts and where the stream ends,
 * in bits, by letting zlib walk it block by block (Z_BLOCK). The data is our own fresh
 * output, so any failure here is an internal error. */
static tsl_status locate_blocks(chunk *c)
{
    z_stream s;
    memset(&s, 0, sizeof s);
    if (inflateInit2(&s, -15) != Z_OK)
        return TSL_ERR_NOMEM;
    uint8_t scratch[1 << 15]; /* inflated bytes are not needed, only their positions */
    s.next_in = c->out;
    s.avail_in = (uInt)c->out_len;
    size_t last_start = 0; /* a raw stream's first block starts at bit 0 */
    bool have_end = false;
    int rc = Z_OK;
    while (rc == Z_OK) {
        s.next_out = scratch;
        s.avail_out = sizeof scratch;
        rc = inflate(&s, Z_BLOCK);
        if (rc == Z_BUF_ERROR && s.avail_out == 0)
            rc = Z_OK;
        /* Bit 128: stopped at a block boundary; bit 64: the block just ended was the
         * final one. The low 3 bits are the unused bits of the last byte read, so the
         * boundary is exact to the bit. zlib drops the padding before Z_STREAM_END, so
         * the end must be taken here. */
        if (rc == Z_OK && (s.data_type & 128)) {
            size_t pos = (size_t)s.total_in * 8 - (size_t)(s.data_type & 7);
            if (s.data_type & 64) {
                c->end_bit = pos;
                have_end = true;
            } else {
                last_start = pos;
            }
        }
    }
    c->final_bit = last_start;
    inflateEnd(&s);
    return rc == Z_STREAM_END && have_end ? TSL_OK : TSL_ERR_ARG;
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

/* Work is handed out by a shared counter so that idle threads take the next chunk. */
typedef struct {
    chunk *chunks;
    size_t n;
    size_t next;
    pthread_mutex_t lock;
} queue;

static void *worker(void *arg)
{
    queue *q = arg;
    for (;;) {
        pthread_mutex_lock(&q->lock);
        size_t k = q->next++;
        pthread_mutex_unlock(&q->lock);
        if (k >= q->n)
            return NULL;
        compress_chunk(&q->chunks[k]);
    }
}

static size_t thread_count(size_t chunks)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    size_t t = n < 1 ? 1 : (size_t)n;
    if (t > TSLP_DEFLATE_MAX_THREADS)
        t = TSLP_DEFLATE_MAX_THREADS;
    return t < chunks ? t : chunks;
}

/* Runs every chunk, on up to thread_count() threads (the caller's thread included). */
static void run_chunks(chunk *chunks, size_t n)
{
    queue q = {chunks, n, 0, PTHREAD_MUTEX_INITIALIZER};
    pthread_t tid[TSLP_DEFLATE_MAX_THREADS];
    size_t started = 0, want = thread_count(n);
    for (size_t k = 1; k < want; k++)
        if (pthread_create(&tid[started], NULL, worker, &q) == 0)
            started++;
    worker(&q); /* if no thread could start, this one does it all */
    for (size_t k = 0; k < started; k++)
        pthread_join(tid[k], NULL);
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
    run_chunks(chunks, n);
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
    if (level < 1 || level > 12)
        return tslp_fail(err, TSL_ERR_ARG, 0, "compress: level %d is not 1 to 12", level);
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
