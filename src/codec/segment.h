/* segment.h - a status list's packed bytes compressed in independent segments that join
 * into one zlib stream; the unit of incremental publishing. */
#ifndef TSL_CODEC_SEGMENT_H
#define TSL_CODEC_SEGMENT_H
#include "core/tsl_int.h"
#include "core/buf.h"
#include "codec/sldeflate.h"

/* Segment size in packed bytes. Equals the store's chunk size (TSLP_CHUNK_BYTES), so a
 * changed store chunk dirties exactly one segment. */
#define TSLP_SEGMENT_BYTES 65536

/* The bytes before a segment its encoding may copy from (DEFLATE's 32 KiB window): the
 * end of the previous segment, so a segment's bytes depend on its own chunk and on the
 * last TSLP_SEGMENT_HISTORY bytes of the one before. */
#define TSLP_SEGMENT_HISTORY 32768

/* The history segment k of a list of nbytes packed bytes is encoded with: the
 * TSLP_SEGMENT_HISTORY bytes before it, fewer for the first. */
#define TSLP_SEGMENT_HIST_OF(k) ((k) == 0 ? (size_t)0 : (size_t)TSLP_SEGMENT_HISTORY)

/* Appends to out the raw DEFLATE encoding of in[0..len) (len <= TSLP_SEGMENT_BYTES, a list
 * of `bits` bits per entry): one or more blocks, none with BFINAL set, ending on a byte
 * boundary. in[-hist..-1] (hist <= TSLP_SEGMENT_HISTORY) are the list's bytes just before
 * the segment: at TSL_LEVEL_STATUSLIST matches may copy from them, so the segment decodes
 * correctly only after exactly those bytes. A segment of zeros only, and every segment at
 * libdeflate's levels 1 to 12, ignores hist and reaches back before in[0] never (the
 * store shares one encoding of a zero chunk). level as tsl_list_compress (0 is the
 * default). work: the encoder's scratch space, kept by a caller that encodes many
 * segments on one thread (tslp_slwork_new), or NULL. Deterministic: the same history,
 * input, bits and level give the same bytes, whatever work is. */
tsl_status tslp_segment_encode(const uint8_t *in, size_t len, size_t hist, unsigned bits,
                               int level, tslp_slwork *work, tslp_buf *out, tsl_error *err);

/* Appends to out a complete zlib stream: the 2-byte header, the k segments seg[i] of
 * seg_len[i] bytes in order, a final empty block, and adler (the Adler-32 of all the
 * packed bytes, which the caller combines from the segments' with adler32_combine). */
tsl_status tslp_segment_join(const uint8_t *const *seg, const size_t *seg_len, size_t k,
                             uint32_t adler, tslp_buf *out, tsl_error *err);
#endif
