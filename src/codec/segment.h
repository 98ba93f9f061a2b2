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

/* A segment as tslp_segment_encode makes it and the store keeps it (a "segment record"):
 * a form byte, then
 *   TSLP_SEGMENT_BLOCKS: raw DEFLATE blocks, none with BFINAL set, ending on a byte
 *     boundary, which joining copies as they are;
 *   TSLP_SEGMENT_BODY: a price table's number (1 byte), nbits (4 bytes, big-endian) and
 *     the nbits bits of one block's codes under that table's Huffman code, without header
 *     or end of block (tslp_sl_body). Joining writes consecutive bodies of the same table
 *     as one block under one header, never across a multiple of TSLP_SEGMENT_RUN
 *     segments: a random list's 64 KiB segments stop paying a header each (about 65
 *     bytes, 1% of a 10^8-entry one-bit list), while a changed segment changes the joined
 *     bytes of at most 16 segments (1 MiB of list), which keeps the store's token pieces
 *     (token_pack.c) mostly the same. */
#define TSLP_SEGMENT_BLOCKS 0
#define TSLP_SEGMENT_BODY 1
#define TSLP_SEGMENT_BODY_HEAD 6
#define TSLP_SEGMENT_RUN 16
/* What joining may add per segment beyond its record: a header of its own for a body,
 * its end of block and alignment (a dynamic header is at most 4,500 bits). */
#define TSLP_SEGMENT_JOIN_SLACK 600

/* Appends to out the segment record (above) of in[0..len) (len <= TSLP_SEGMENT_BYTES, a
 * list of `bits` bits per entry): a body or whole blocks, as is smaller (libdeflate's
 * levels always give blocks). in[-hist..-1] (hist <= TSLP_SEGMENT_HISTORY) are the list's
 * bytes just before the segment: at TSL_LEVEL_STATUSLIST matches may copy from them, so
 * the segment decodes correctly only after exactly those bytes. A segment of zeros only,
 * and every segment at libdeflate's levels 1 to 12, ignores hist and reaches back before
 * in[0] never (the store shares one encoding of a zero chunk). level as tsl_list_compress (0 is the
 * default); effort: how hard its own encoder searches (tslp_sl_effort: the store's
 * segments are TSLP_SL_QUICK, a full encode's TSLP_SL_FULL). work: the encoder's scratch
 * space, kept by a caller that encodes many segments on one thread (tslp_slwork_new), or
 * NULL. Deterministic: the same history, input, bits, level and effort give the same
 * bytes, whatever work is. */
tsl_status tslp_segment_encode(const uint8_t *in, size_t len, size_t hist, unsigned bits,
                               int level, tslp_sl_effort effort, tslp_slwork *work,
                               tslp_buf *out, tsl_error *err);

/* Whether rec[0..len) has a segment record's shape (a known form; a body's table exists
 * and its bit count fits its length): what the store checks of a row before use, so
 * that a row that is not a record is rebuilt rather than refused by the join. */
bool tslp_segment_is_record(const uint8_t *rec, size_t len);

/* Appends to out the segment record rec[0..len) as raw DEFLATE blocks standing alone:
 * its blocks, or its body as a block of its own under its table's header. What a test
 * inflates to check one segment after its history. TSL_ERR_ARG when rec is not a
 * record. */
tsl_status tslp_segment_blocks(const uint8_t *rec, size_t len, tslp_buf *out, tsl_error *err);

/* Appends to out a complete zlib stream: the 2-byte header, the k segment records seg[i]
 * of seg_len[i] bytes in order (bodies joined as above, so seg[0] must be the list's
 * first), a final empty block, and adler (the Adler-32 of all the packed bytes, which the
 * caller combines from the segments' with adler32_combine). It reserves the sum of the
 * records' lengths, TSLP_SEGMENT_JOIN_SLACK for each, and 8. With refit (a full encode,
 * tsl_list_compress), consecutive bodies of one table join however many they are, under
 * the code fitted to their symbols when that is smaller (tslp_sldeflate_run): 0.2% of a
 * 10^8-entry one-bit list, for 30 ms; the store, whose publications must stay fast and
 * change the joined bytes of one run per changed segment, joins without. TSL_ERR_ARG for
 * a record that is not one, or (refit) a body that does not decode under its table. */
tsl_status tslp_segment_join(const uint8_t *const *seg, const size_t *seg_len, size_t k,
                             uint32_t adler, bool refit, tslp_buf *out, tsl_error *err);
#endif
