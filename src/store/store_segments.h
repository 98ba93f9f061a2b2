/* store_segments.h - a stored list's zlib stream from its stored compressed segments
 * (store_segments.c): what store_publish.c signs. Never installed. */
#ifndef TSL_STORE_SEGMENTS_H
#define TSL_STORE_SEGMENTS_H

#include "store/store_int.h"

/* What a build did, and how long each phase took (the benchmark's per-phase times). */
typedef struct {
    uint64_t stored;      /* segment rows found */
    uint64_t reused;      /* rows used as they were */
    uint64_t corrupt;     /* rows whose CRC-32 failed: rebuilt, never used */
    uint64_t stale;       /* rows encoded after another previous chunk: encoded again */
    uint64_t first_corrupt; /* the first such chunk's n + 1 (0: none) */
    uint64_t chunks_read; /* chunks read from the store */
    uint64_t zero;        /* chunks without a row (the shared zero segment) */
    uint64_t encoded;     /* segments encoded */
    uint64_t written;     /* rows written back */
    double read_ms, encode_ms, join_ms, write_ms;
} tslp_stream_stats;

/* Which encoder made a stored segment: rows of another encoder (or level) are encoded
 * again, never mixed with this one's, so that a publication stays byte for byte one
 * from scratch after an upgrade. Bump it whenever tslp_segment_encode's output changes
 * (1: libdeflate level 12 per segment, a development step; 2: the status-list encoder,
 * src/codec/sldeflate.c; 3: the same with its minimum-cost parse below 8 bits; 4:
 * segments that copy from the previous chunk's last 32 KiB, each row's data starting with
 * that chunk's Adler-32; 5: the minimum-cost search takes its sources from all of those
 * 32 KiB, not the last 8; 6: the search walks 32 and 256 earlier runs of a value, its
 * first pass over half a block, and both parses take zlib's "nice" length; 7: a
 * random list's blocks searched once, at measured prices; 8: the same, kept only for
 * blocks the prices fit within 6%; 9: segment records, a random list's segments written
 * as bodies under their table's code, which joining gives one header per run; 10:
 * revocations in batches told apart before the search, always searched twice; 11: each
 * effort of the search has its own price tables, and the store's segments take the
 * quick one, TSLP_SL_QUICK; 12: the quick search keeps 8 states per gap and ends
 * matches at cheaper lengths too; 13: blocks of fewer than TSLP_SL_QUICK_RUNS runs take
 * the full search). A row's level column holds TSLP_SEGMENT_ENCODER * 1000 + the level
 * asked for (0: the default). */
#define TSLP_SEGMENT_ENCODER 13

/* A list whose segment records come to at most this many bytes is joined as a full
 * encode joins (tslp_segment_join's refit: one block for all bodies, under the code
 * fitted to them), else in runs of TSLP_SEGMENT_RUN spliced under their table's code.
 * Refitting decodes every body, about 25 ms a MB (5 ms here at most), and changes the
 * whole joined stream at each publication; a small sparse list's runs of 16 would pay
 * a header each for a few kilobytes (1.6% more bytes than a full encode for 2.5 MB of
 * 4-bit statuses with 0.12% set), a large list's pay under 0.2%. */
#define TSLP_STORE_REFIT_BYTES (256 * 1024)

/* Bytes before a row's segment: the Adler-32 (big-endian) of the previous chunk the
 * segment was encoded after (1, the Adler-32 of nothing, for chunk 0). */
#define TSLP_SEGMENT_PREFIX 4

typedef struct tslp_stream tslp_stream;

/* Inside the caller's (read) transaction: the zlib stream of list in (its row just read
 * in it) at level (0: the encoder's default), *z (tslp_free) of *zlen bytes, and in *out
 * (tslp_stream_free; it keeps a pointer to in) what to write back. */
tsl_status tslp_stream_build(tsl_store *st, const tsl_list_info *in, int level,
                             tslp_stream **out, uint8_t **z, size_t *zlen, tsl_error *err);

/* Inside the write transaction, when the list's version is still the snapshot's: stores
 * the segments the build encoded (and drops damaged rows of all-zero chunks). */
tsl_status tslp_stream_write_back(tsl_store *st, tslp_stream *b, tsl_error *err);

const tslp_stream_stats *tslp_stream_stats_of(const tslp_stream *b);
void tslp_stream_free(tslp_stream *b);

/* Test and benchmark hook: when set, each publication copies its build's stats (with
 * sign_ms and the write transaction's time in write_ms) to *s. Not thread-safe. */
void tslp_store_publish_stats(tslp_stream_stats *s, double *sign_ms);

#endif /* TSL_STORE_SEGMENTS_H */
