/* sldeflate.h - the DEFLATE encoder specialised for status lists (sldeflate.c) and the
 * raw-deflate helpers the segment layer shares with deflate.c; never installed. */
#ifndef TSL_CODEC_SLDEFLATE_H
#define TSL_CODEC_SLDEFLATE_H
#include "core/tsl_int.h"
#include "core/buf.h"

/* Upper bound on the bytes tslp_sldeflate() appends for len input bytes: the stored
 * form (two stored blocks of 5 header bytes for each 65536-byte block) and slack. */
#define TSLP_SLDEFLATE_BOUND(len) ((len) + 10 * ((len) / 65536 + 1) + 8)

/* The most bytes before a segment an encoder may copy from: DEFLATE's window. */
#define TSLP_SLDEFLATE_HISTORY 32768

/* The scratch space of tslp_sldeflate (some megabytes for a list narrower than 8 bits).
 * A caller encoding many segments on one thread keeps one and passes it to each call:
 * allocating and freeing it per 64 KiB segment made the allocator hand the pages back
 * to the kernel and fault them in again, a third of the encoder's CPU at 10^8 entries
 * (BENCHMARKS.md). Never shared between threads at once. */
typedef struct tslp_slwork tslp_slwork;

/* How hard tslp_sldeflate searches a sparse block of a list narrower than 8 bits:
 *   TSLP_SL_FULL, the default: also matches from sources that cover only part of the
 *     zeros around a value, ending inside gaps (0.7% fewer bytes than the quick search
 *     at 10^8 one-bit entries, 0.8% with the fitted join, for about twice its CPU);
 *   TSLP_SL_QUICK: only the sources that cover all of them; what the issuer store
 *     encodes changed segments with, so that a publication after 10^4 changes stays
 *     within its time (BENCHMARKS.md). A block of fewer than TSLP_SL_QUICK_RUNS runs
 *     of non-zero bytes is searched fully all the same: that costs no more than the
 *     quick search of a one-bit block with 1% set (4,900 runs), and the quick search
 *     would leave such sparse blocks up to 1.2% larger.
 * Both are deterministic, and give different bytes. */
typedef enum { TSLP_SL_FULL = 0, TSLP_SL_QUICK = 1 } tslp_sl_effort;
#define TSLP_SL_QUICK_RUNS 3000

/* A new, empty scratch space (it grows at its first use); NULL when out of memory. */
tslp_slwork *tslp_slwork_new(void);
void tslp_slwork_free(tslp_slwork *w);

/* What tslp_sldeflate wrote when given a tslp_sl_body: table -1, whole blocks (as
 * without one); else a body: the codes of one block of in[0..len), without its header
 * and its end of block, under the Huffman code of price table `table`, nbits bits (the
 * last byte's unused high bits zero). Bodies of the same table join into one block
 * (tslp_sldeflate_run), which is how segments share a header. Only a segment of at
 * most 65536 bytes (one block) searched once at a table's prices, and smaller so, becomes
 * a body. */
typedef struct {
    int table;
    uint32_t nbits;
} tslp_sl_body;

/* Appends to out the raw DEFLATE encoding of in[0..len) (len <= 4 MiB): blocks with
 * BFINAL clear, ending on a byte boundary. in[-hist..-1] (hist <= TSLP_SLDEFLATE_HISTORY)
 * are the bytes just before the segment, which a decoder has already produced: matches
 * may copy from them, so the output is only correct after exactly those bytes; hist 0
 * makes a segment that stands alone. bits (1, 2, 4 or 8) is the list's entry width:
 * below 8 the sparse blocks get the minimum-cost parse, searched as hard as effort says,
 * at 8 the greedy one (measured the better trade at each). work is a scratch space
 * (tslp_slwork_new) or NULL for one made and freed by this call; it never changes the
 * output. body: NULL, or where to say whether a body was written instead of blocks
 * (tslp_sl_body). Deterministic. */
tsl_status tslp_sldeflate(const uint8_t *in, size_t len, size_t hist, unsigned bits,
                          tslp_sl_effort effort, tslp_slwork *work, tslp_sl_body *body,
                          tslp_buf *out, tsl_error *err);

/* Symbol prices measured on random lists (sldeflate_prices.h): the code lengths of the
 * minimum-cost search's last parse, at `effort`, over blocks of about `runs` runs of
 * non-zero bytes per 65536 bytes, a list of `bits` bits per entry. A block whose
 * density is near one is parsed once at its prices instead of twice (sldeflate.c,
 * table_search). Each effort has its own: the full search chooses other symbols. */
typedef struct {
    tslp_sl_effort effort;
    uint8_t bits;
    uint32_t runs;
    uint8_t ll[286]; /* literal/length symbols; 0: not seen */
    uint8_t dl[30];  /* distance symbols */
} tslp_sl_prices;

/* The number of price tables: a body's table is below it. */
unsigned tslp_sldeflate_tables(void);

/* Appends to out one DEFLATE block (BFINAL clear, ending on a byte boundary): the
 * dynamic header of price table `table`'s code, the k bodies body[i] of nbits[i] bits
 * written under it (tslp_sl_body) spliced one after the other at bit offsets, the end of
 * block, and what aligns it (header entries, empty fixed blocks, or an empty stored
 * block). With refit, the bodies are decoded and written again under the code fitted
 * to their symbols instead, when that is smaller, its header included (0.1% of a
 * 10^8-entry one-bit list, for about 1 ms a run of 16 segments). TSL_ERR_ARG for a
 * table that does not exist, or (refit) a body that does not decode under it (*bad, when
 * bad is not NULL, says which). */
tsl_status tslp_sldeflate_run(unsigned table, const uint8_t *const *body,
                              const uint32_t *nbits, size_t k, bool refit, size_t *bad,
                              tslp_buf *out, tsl_error *err);

/* Test and benchmark hook: when tslp_sldeflate_hook is set (it is NULL otherwise; set it
 * only while nothing is encoding), no_tables makes every sparse block take the two
 * searches (how the tables are measured: bench price_tables), counts (when not NULL)
 * receives each such block's final symbol counts, from the encoding threads, and the
 * block counters are added to atomically. */
typedef struct {
    bool no_tables;
    bool no_bodies; /* every segment written as whole blocks, as before bodies */
    void (*counts)(void *ctx, unsigned bits, uint32_t runs, const uint32_t *lfreq,
                   const uint32_t *dfreq);
    void *ctx;
    unsigned long one_search; /* blocks parsed once, at a table's prices */
    unsigned long fallback;   /* blocks a table did not fit: parsed twice after all */
    unsigned long two_search; /* blocks parsed twice without trying a table */
    unsigned long bodies;     /* segments written as a body under a table's code */
} tslp_sl_hook;
extern tslp_sl_hook *tslp_sldeflate_hook;

/* Length-limited (15) Huffman code lengths of freq[0..n) as the encoder makes them
 * (n <= 288), for bench price_tables. */
void tslp_sldeflate_lengths(const uint32_t *freq, unsigned n, uint8_t *lens);

/* Finds, in a raw deflate stream of z_len bytes that ends with a final block, the bit
 * position of that last block's BFINAL bit and the bit position just past its
 * end-of-block code, by letting zlib walk it block by block. TSL_ERR_ARG if the stream
 * is not a complete raw deflate stream. */
tsl_status tslp_deflate_locate(const uint8_t *z, size_t z_len, size_t *final_bit,
                               size_t *end_bit);

/* Appends to out the raw deflate stream z (from tslp_deflate_locate) with the last
 * block's BFINAL bit cleared and an empty stored block after it, so that the result ends
 * on a byte boundary and another stream's blocks may follow. */
tsl_status tslp_deflate_unfinal(const uint8_t *z, size_t final_bit, size_t end_bit,
                                tslp_buf *out, tsl_error *err);
#endif
