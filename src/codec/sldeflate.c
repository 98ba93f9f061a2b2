/* sldeflate.c - a DEFLATE (RFC 1951) encoder specialised for status lists.
 *
 * A status list's packed bytes are long runs of one value (zeros above all) with
 * sparse other bytes in between. A general LZ77 search spends almost all of its time
 * looking for long-distance matches that barely pay on such data (libdeflate level 12
 * takes 5 to 11 times zlib -9's time at 8 bits for 8% fewer bytes, issue 15). This
 * encoder only looks where the gain is:
 *  - a run of a repeated byte becomes one literal and distance-1 matches, the run found
 *    a machine word at a time;
 *  - a short period (distance 2..8, e.g. alternating values) repeating for at least
 *    PERIOD_MIN bytes becomes a match at that distance;
 *  - everything else is a literal.
 * A sparse block of a list narrower than 8 bits is parsed instead by a minimum-cost
 * search over its non-zero runs (dp_parse), which finds the long matches that copy
 * "zeros, value, zeros" from earlier in the window. The search needs each symbol's
 * price: a block of a random list's density takes it from a table measured once on
 * such lists (sldeflate_prices.h, table_search) and is searched once; any other
 * (periodic, strided, a density no table is near) is searched twice, each time at the
 * code lengths of the pass before (the first at what the greedy parse would count,
 * taken from the runs, and over the first half of the block only: it just sets the
 * prices of the second).
 * The search has two efforts (tslp_sl_effort): the full one, a full encode's, also
 * takes sources that cover only part of the zeros around a value, so that matches end
 * inside gaps (and at the cheaper lengths just short of that) where the next match
 * takes over; the quick one, the store's, only sources that cover them all, for half
 * the CPU and 0.5% to 0.8% more bytes. Each has its own price tables.
 * Each block (at most BLOCK_BYTES of input) then gets Huffman codes fitted to its own
 * symbol counts (length-limited to 15 bits, the code-length code to 7), and is written
 * as whichever of dynamic Huffman, fixed Huffman or stored is smallest, so random bytes
 * cost at most 5 bytes per 65535 more than their size; or, a random list's segment, as
 * a body under its table's code, which joining gives one header for many
 * (tslp_sldeflate_run, which for a full encode also fits one code to them all). The
 * output is standard raw DEFLATE: stock zlib inflates it (tests/test_segment.c,
 * tests/segment_xcheck.py). */
#include "codec/sldeflate.h"
#include "codec/sldeflate_prices.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK_BYTES 65536
#define MAX_MATCH 258
#define MIN_MATCH 3
/* A period-d match shorter than this is left as literals: on sparse lists short
 * coincidences (two equal bytes 2 apart) would otherwise spread the length and distance
 * codes for little gain. */
#define PERIOD_MIN 8
#define PERIOD_MAX 8

#define LITLEN_SYMS 288 /* 286 used; 286 and 287 are in the fixed code's lengths only */
#define DIST_SYMS 30
#define CL_SYMS 19
#define EOB 256

/* A token: a literal byte (< 256), or MATCH_FLAG | length << 16 | distance. */
#define MATCH_FLAG 0x80000000u

/* ---- symbol tables ----------------------------------------------------------------- */

static unsigned len_sym(unsigned len, unsigned *xbits, unsigned *xval)
{
    if (len <= 10) {
        *xbits = 0;
        *xval = 0;
        return 254 + len;
    }
    if (len == MAX_MATCH) {
        *xbits = 0;
        *xval = 0;
        return 285;
    }
    unsigned l = len - 3, k = 31u - (unsigned)__builtin_clz(l);
    *xbits = k - 2;
    *xval = l & ((1u << (k - 2)) - 1);
    return 257 + 4 * (k - 1) + ((l >> (k - 2)) & 3);
}

static unsigned dist_sym(unsigned d, unsigned *xbits, unsigned *xval)
{
    if (d <= 4) {
        *xbits = 0;
        *xval = 0;
        return d - 1;
    }
    unsigned l = d - 1, k = 31u - (unsigned)__builtin_clz(l);
    *xbits = k - 1;
    *xval = l & ((1u << (k - 1)) - 1);
    return 2 * k + ((l >> (k - 1)) & 1);
}

/* ---- the parse ---------------------------------------------------------------------- */

/* Bytes equal to b from p on, at most avail: compared 8 at a time, since runs of
 * hundreds of zero bytes are the common case (an 8-bit list with 1% set). */
static size_t run_of(const uint8_t *p, size_t avail, uint8_t b)
{
    const uint64_t pat = 0x0101010101010101ull * b;
    size_t n = 0;
    while (n + 8 <= avail) {
        uint64_t w;
        memcpy(&w, p + n, 8);
        uint64_t x = w ^ pat;
        if (x != 0) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
            return n + ((unsigned)__builtin_clzll(x) >> 3);
#else
            return n + ((unsigned)__builtin_ctzll(x) >> 3);
#endif
        }
        n += 8;
    }
    while (n < avail && p[n] == b)
        n++;
    return n;
}

/* Bytes from p on equal to those d before them, at most avail. */
static size_t period_of(const uint8_t *p, size_t avail, size_t d)
{
    size_t n = 0;
    while (n + 8 <= avail) {
        uint64_t a, b;
        memcpy(&a, p + n, 8);
        memcpy(&b, p + n - d, 8);
        uint64_t x = a ^ b;
        if (x != 0) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
            return n + ((unsigned)__builtin_clzll(x) >> 3);
#else
            return n + ((unsigned)__builtin_ctzll(x) >> 3);
#endif
        }
        n += 8;
    }
    /* (p + n) - d, not p[n - d]: n - d would wrap below zero while n < d. */
    while (n < avail && p[n] == (p + n)[-(ptrdiff_t)d])
        n++;
    return n;
}

/* The non-zero bytes of a block ("events"), found a word at a time: for each, its
 * position, the zero bytes just before it (counted from the block's start) and the
 * previous event of the same value (a hash chain keyed by the value). */
typedef struct {
    uint32_t *pos;
    uint32_t *runb;
    uint32_t *prev;
    uint32_t *cum; /* plain-parse bits from the block's start through event k */
    size_t n;
    uint32_t head[256];
} events;

typedef struct {
    uint32_t *tok;
    size_t ntok;
    uint32_t lfreq[LITLEN_SYMS];
    uint32_t dfreq[DIST_SYMS];
    uint64_t xbits; /* extra bits of all matches */
    /* Estimated bits of each symbol, from the previous pass; cost_on selects whether
     * the long-match search runs. */
    uint8_t lcost[LITLEN_SYMS];
    uint8_t dcost[DIST_SYMS];
    uint16_t lencost[MAX_MATCH + 1]; /* a length's symbol and extra bits, from lcost */
    bool cost_on;
    events ev;
} block;

#define NO_EVENT UINT32_MAX
/* Candidates (earlier events of the same value) a long-match search looks at. */
#define CHAIN_MAX 16
/* After this many candidates, one as long as a match can be ends the walk (zlib's "nice"
 * length): ending at the first cost 159 bytes at 10^8 eight-bit entries, at the fourth
 * 10. */
#define NICE_STEPS 4
#define WINDOW 32768
#ifndef SEARCH_PASSES
#define SEARCH_PASSES 2
#endif
#ifndef DP_PASSES
#define DP_PASSES 2
#endif

static void find_events(const uint8_t *in, size_t start, size_t end, events *e)
{
    e->n = 0;
    for (unsigned v = 0; v < 256; v++)
        e->head[v] = NO_EVENT;
    size_t i = start, last = start;
    while (i < end) {
        i += run_of(in + i, end - i, 0);
        if (i >= end)
            break;
        size_t k = e->n++;
        e->pos[k] = (uint32_t)i;
        e->runb[k] = (uint32_t)(i - last);
        e->prev[k] = e->head[in[i]];
        e->head[in[i]] = (uint32_t)k;
        last = ++i;
    }
}

static unsigned match_cost(const block *b, unsigned len, unsigned d)
{
    unsigned lx, lv, dx, dv;
    unsigned ls = len_sym(len, &lx, &lv), ds = dist_sym(d, &dx, &dv);
    return b->lcost[ls] + lx + b->dcost[ds] + dx;
}

/* Bits of r zero bytes as distance-d matches (r >= 3), split as emit_matches does. */
static unsigned matches_cost(const block *b, size_t r, unsigned d)
{
    unsigned bits = 0;
    while (r >= MIN_MATCH) {
        size_t m = r > MAX_MATCH ? MAX_MATCH : r;
        if (r > MAX_MATCH && r - MAX_MATCH < MIN_MATCH)
            m = r - MIN_MATCH;
        bits += match_cost(b, (unsigned)m, d);
        r -= m;
    }
    return bits;
}

/* Bits of r zeros following a non-zero byte (zero_before false) or a zero byte. */
static unsigned zeros_cost(const block *b, size_t r, bool zero_before)
{
    if (!zero_before) {
        if (r == 0)
            return 0;
        return b->lcost[0] + zeros_cost(b, r - 1, true);
    }
    if (r < MIN_MATCH)
        return (unsigned)r * b->lcost[0];
    return matches_cost(b, r, 1);
}

/* Emits matches of distance d covering r >= MIN_MATCH bytes. */
static void emit_matches(block *b, size_t r, unsigned d)
{
    while (r >= MIN_MATCH) {
        size_t m = r > MAX_MATCH ? MAX_MATCH : r;
        if (r > MAX_MATCH && r - MAX_MATCH < MIN_MATCH)
            m = r - MIN_MATCH; /* leave a legal last match, not 1 or 2 literals */
        unsigned lx, lv, dx, dv;
        b->lfreq[len_sym((unsigned)m, &lx, &lv)]++;
        b->dfreq[dist_sym(d, &dx, &dv)]++;
        b->xbits += lx + dx;
        b->tok[b->ntok++] = MATCH_FLAG | (uint32_t)m << 16 | d;
        r -= m;
    }
}

static void emit_literal(block *b, uint8_t c)
{
    b->lfreq[c]++;
    b->tok[b->ntok++] = c;
}

/* At i, the first of r zero bytes after a non-zero byte (or the block's start), with
 * event k (value y at p = i + r) after them: looks for an earlier stretch "zeros, y,
 * more bytes" that a single match can copy, which pays when the next events repeat
 * earlier ones (sparse lists of narrow entries have few distinct bytes). Emits the best
 * such match and returns the position after it, or returns i when the plain parse is
 * cheaper. */
static size_t long_match(const uint8_t *in, size_t end, size_t i, size_t r,
                         size_t k, block *b)
{
    const events *e = &b->ev;
    size_t p = e->pos[k];
    size_t best_len = 0, best_a = 0, best_d = 0, best_end = 0, best_back = 0;
    long best_gain = 0;
    /* The byte before the zeros, when it was written as the last token (a literal):
     * a match that also covers it saves that literal. */
    bool lit_before = i > 0 && b->ntok > 0 && b->tok[b->ntok - 1] == in[i - 1];
    unsigned steps = 0;
    for (uint32_t j = e->prev[k]; j != NO_EVENT && steps < CHAIN_MAX; j = e->prev[j], steps++) {
        size_t q = e->pos[j], d = p - q;
        if (d > WINDOW)
            break;
        size_t a = r < e->runb[j] ? r : e->runb[j];
        if (a > MAX_MATCH - 1)
            a = MAX_MATCH - 1;
        size_t cap = MAX_MATCH - a - 1;
        if (cap > end - p - 1)
            cap = end - p - 1;
        size_t ext = cap > 0 ? period_of(in + p + 1, cap, d) : 0;
        size_t len = a + 1 + ext;
        if (len < MIN_MATCH)
            continue;
        /* Both ways of writing in[i..e2) end at the same state (e2 starts an event or
         * ends the block), so their costs compare directly. The plain parse's cost
         * between events comes from the running sums in e->cum. */
        size_t m_end = p - a + len, e2 = m_end, t = k + 1;
        while (t < e->n && e->pos[t] < m_end)
            t++;
        bool zero_tail = in[m_end - 1] == 0;
        long plain = (long)(zeros_cost(b, r, false) + b->lcost[in[p]]) +
                     (long)(e->cum[t - 1] - e->cum[k]);
        if (zero_tail) {
            e2 = t < e->n ? e->pos[t] : end;
            plain += zeros_cost(b, e2 - e->pos[t - 1] - 1, false);
        }
        size_t back = lit_before && a == r && len < MAX_MATCH && q - a > 0 &&
                              e->runb[j] == a && in[q - a - 1] == in[i - 1]
                          ? 1
                          : 0;
        long with = (long)(zeros_cost(b, r - a, false) +
                           match_cost(b, (unsigned)(len + back), (unsigned)d) +
                           (zero_tail ? zeros_cost(b, e2 - m_end, true) : 0)) -
                    (back ? (long)b->lcost[in[i - 1]] : 0);
        if (plain - with > best_gain) {
            best_gain = plain - with;
            best_len = len;
            best_a = a;
            best_d = d;
            best_end = m_end;
            best_back = back;
        }
        /* A match as long as a match can be ends the walk (NICE_STEPS): on a periodic
         * list every candidate is one, and comparing sixteen of them over 258 bytes for
         * every 258 bytes coded cost 3 to 4 times a random list's time. */
        if (len + 1 >= MAX_MATCH && steps + 1 >= NICE_STEPS)
            break;
    }
    if (best_gain <= 0)
        return i;
    size_t m_end = best_end;
    /* The zeros before the match, as the plain parse writes them. */
    size_t pre = r - best_a;
    if (pre > 0) {
        emit_literal(b, 0);
        if (pre - 1 >= MIN_MATCH)
            emit_matches(b, pre - 1, 1);
        else
            for (size_t t = 1; t < pre; t++)
                emit_literal(b, 0);
    }
    if (best_back) {
        /* Take back the literal before the zeros: the match starts on it. */
        b->ntok--;
        b->lfreq[in[i - 1]]--;
    }
    emit_matches(b, best_len + best_back, (unsigned)best_d);
    return m_end;
}

/* The plain parse's bits through each event, at the current prices. */
static void sum_costs(const uint8_t *in, block *b)
{
    events *e = &b->ev;
    uint32_t sum = 0;
    for (size_t k = 0; k < e->n; k++) {
        sum += zeros_cost(b, e->runb[k], false) + b->lcost[in[e->pos[k]]];
        e->cum[k] = sum;
    }
}

/* Parses in[start..end) (in[0..start) is history a match may reach back into). */
static void parse(const uint8_t *in, size_t start, size_t end, block *b)
{
    size_t i = start, k = 0;
    while (i < end) {
        uint8_t c = in[i];
        if (i > 0 && in[i - 1] == c) {
            size_t r = run_of(in + i, end - i, c);
            if (r >= MIN_MATCH) {
                emit_matches(b, r, 1);
                i += r;
                continue;
            }
        } else if (c == 0 && b->cost_on) {
            while (k < b->ev.n && b->ev.pos[k] < i)
                k++;
            if (k < b->ev.n) {
                size_t r = b->ev.pos[k] - i, j = long_match(in, end, i, r, k, b);
                if (j != i) {
                    i = j;
                    continue;
                }
            }
        } else {
            size_t best = 0, bd = 0;
            for (size_t d = 2; d <= PERIOD_MAX && d <= i; d++) {
                if (in[i - d] != c)
                    continue;
                size_t r = period_of(in + i, end - i, d);
                if (r > best) {
                    best = r;
                    bd = d;
                }
            }
            if (best >= PERIOD_MIN) {
                emit_matches(b, best, (unsigned)bd);
                i += best;
                continue;
            }
        }
        emit_literal(b, c);
        i++;
    }
}

/* ---- the minimum-cost parse of a sparse block --------------------------------------- */

/* On a sparse block (the common case: 1% of entries set) the only places where a
 * choice exists are the non-zero bytes, so the parse is a shortest path over them,
 * libdeflate's near-optimal parse reduced to the positions that matter. The block is a
 * sequence of "runs" (a maximal run of one non-zero value, with the zero bytes before
 * it). A state is a position where coding resumes: just after run k (the byte before
 * it non-zero), or inside the zeros before run k after a match that ended there. From
 * a state, either the zeros and run k are written plainly (one literal 0 and
 * distance-1 matches, the value as a literal and distance-1 matches), or some zeros
 * plainly and a match copying an earlier "zeros, value, zeros, value..." stretch, which
 * may end after any run it covers or where it stops matching. Candidates come from a
 * hash of (value, its count, the following gap, the next value), every one of which
 * copies at least the next run too, and from the nearest earlier runs of the same value
 * with gaps around them at least as long (a match from them covers all the zeros
 * around run k; these matches, ending inside a gap, carry most of the gain); the full
 * search (struct search) also from the nearest runs of the value that cover only part
 * of those zeros, each reaching further on one side than any nearer one taken. Costs
 * are the previous pass's Huffman code lengths, or a price table's. */

#define DENSE_DIV 4 /* more than len / DENSE_DIV runs: the greedy parse instead */
#define KEY_BITS 12
#define KEY_CHAIN 8 /* candidates with the same key looked at */
#define EXT_CAP 4096 /* bytes a candidate match is extended over, at most */
#define COVER_MAX 16 /* run ends inside one match priced as states (see dp_parse) */
#define NICE_MATCH 1024 /* a candidate this long is taken without searching inside it */
/* Earlier runs of the same value looked at (VAL_WALK_FIRST in the first search,
 * VAL_WALK in the last), of which those whose gaps before and after are at least as
 * long as run k's are taken (VAL_FIRST, VAL_CHAIN of them): they can cover all the
 * zeros around run k. Measured at 10^7 one-bit entries: taking the nearest 8 of any
 * gaps instead gives 0.5% more bytes in 25% more time. At 10^8 one-bit entries, once
 * the walk read its runs in sequence without mispredicted branches (vruns), walking 256
 * rather than 128 in the last search gave 0.16% fewer bytes at no measurable cost, and
 * 32 rather than 128 in the first 7% less CPU at no more bytes (its matches only set
 * the prices). */
#define VAL_WALK_FIRST 32
#define VAL_WALK 256
#define VAL_FIRST 1
#define VAL_CHAIN 2
#define FRONT_MAX 16 /* the full search's other sources per run, at most */
#define FRONT_LEN 6  /* bytes such a source's match covers around run k, at least */
#define CANDS_MAX (KEY_CHAIN + VAL_CHAIN + FRONT_MAX)
/* The first search parses only this much of a block: it only sets the prices of the
 * last, and half a block's symbols price them about as well. At 10^8 one-bit entries
 * (with the walks above) 0.04% more bytes than a first search over the whole block,
 * for a sixth less CPU. */
#define FIRST_SAMPLE 32768
/* States inside gaps allocated per run, on average, and kept inside one gap: the quick
 * effort's first search, its last, and the full effort's. */
#define MID_POOL_QUICK 1
#define MID_QUICK 4
#define MID_POOL_QUICK_LAST 2
#define MID_QUICK_LAST 8
#define MID_POOL_FULL 4
#define MID_MAX 16
#define FIRST_ZERO_COST 8 /* bits of a literal 0 in the first search (see tslp_sldeflate) */
/* Bytes before a block whose runs the minimum-cost search takes as match sources (the
 * greedy parse may reach the whole window): all of DEFLATE's 32 KiB, 0.53% fewer bytes
 * than the last 8 KiB at 10^8 one-bit entries, for 7% more encoding time in a
 * publication of 10^4 changes (`bench store_publish`, two threads). It was measured as
 * a third more CPU before, most of which were page faults of the scratch space when it
 * was allocated per segment (see tslp_slwork in sldeflate.h). */
#define DP_HISTORY 32768
/* Gaps up to this many zeros are priced from a table made at each search's start: the
 * search prices a gap several times per candidate, and computing it went four ways on
 * two unpredictable branches. */
#define ZC_MAX 1024
#define NO_STATE UINT32_MAX

typedef struct {
    uint32_t cost;
    uint32_t from; /* the state this one is reached from */
    uint32_t pos;  /* where coding resumes */
    uint32_t s;    /* the edge: zeros from `from`'s pos to s, then run or match to pos */
    uint16_t d;    /* the match's distance, 0 for the plain run */
    uint8_t pz;    /* the byte before pos is zero */
} dpst;

/* The runs as the search for earlier runs of a value reads them: grouped by value, each
 * value's in the order of the block, as four arrays (position, count, the gaps before
 * and after) so that four runs are tested at once (the walk, in dp_parse). Reached
 * through chains of run indices, the same walk read five scattered words per run, a
 * third of the search's instructions and more of its time. */
typedef struct {
    uint32_t *pos, *cnt, *gapb, *gapa;
} vruns;

/* Four lanes of GCC's and clang's vector extension (SSE2 on x86-64, NEON on arm64, plain
 * code elsewhere); a comparison gives -1 in each lane where it holds. */
typedef uint32_t v4u __attribute__((vector_size(16)));
typedef int32_t v4i __attribute__((vector_size(16)));

static inline v4u v4_load(const uint32_t *p)
{
    v4u v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline bool v4_any(v4i m)
{
    uint64_t h[2];
    memcpy(h, &m, sizeof h);
    return (h[0] | h[1]) != 0;
}

typedef struct {
    uint32_t *pos, *cnt, *gap, *prevk, *vslot; /* run k: at pos, cnt bytes, gap zeros
                                                * before; the earlier run of the same key;
                                                * its place in vr */
    vruns vr; /* the runs grouped by value (vbeg[v] the first of value v) */
    uint32_t *mid; /* MID_MAX state indices per run (mid_max used) */
    unsigned mid_max;
    uint32_t pool; /* states the search may use (at most cap) */
    size_t nalloc; /* runs the arrays are made for */
    uint8_t *nmid;
    dpst *st;
    uint32_t nst, n, cap; /* states used, runs, states allocated */
    uint32_t first;       /* the first run of the block (those before are history) */
    uint32_t *edge; /* the path, for emission */
    uint32_t head[1u << KEY_BITS];
    uint32_t vbeg[256];
    uint32_t zc[2][ZC_MAX + 1]; /* zcost of r <= ZC_MAX zeros after a non-zero, a zero */
    uint16_t cheaper[MAX_MATCH + 1]; /* the longest length below each that costs less */
} dpwork;

/* The runs of in[hist..end), with the sentinel run n at end (cnt 0): those before start
 * (history, at most WINDOW bytes back) are sources for matches only, and w->first is
 * the first run at or after start (a run that crosses start is cut there). Returns false
 * when the block has more than max runs (a dense block). */
static bool find_runs(const uint8_t *in, size_t hist, size_t start, size_t end, size_t max,
                      dpwork *w)
{
    size_t n = 0, i = hist, last = hist, first = SIZE_MAX;
    for (;;) {
        i += run_of(in + i, end - i, 0);
        if (i >= end)
            break;
        if (i >= start && first == SIZE_MAX)
            first = n;
        if (first != SIZE_MAX && n - first == max)
            return false;
        if (first == SIZE_MAX && n == max) /* a dense history: the block alone */
            return find_runs(in, start, start, end, max, w);
        size_t lim = i < start ? start : end;
        size_t c = run_of(in + i, lim - i, in[i]);
        w->pos[n] = (uint32_t)i;
        w->cnt[n] = (uint32_t)c;
        w->gap[n] = (uint32_t)(i - last);
        n++;
        i += c;
        last = i;
    }
    w->pos[n] = (uint32_t)end;
    w->cnt[n] = 0;
    w->gap[n] = (uint32_t)(end - last);
    w->n = (uint32_t)n;
    w->first = first == SIZE_MAX ? (uint32_t)n : (uint32_t)first;
    for (unsigned h = 0; h < (1u << KEY_BITS); h++)
        w->head[h] = NO_EVENT;
    for (size_t k = 0; k < n; k++) {
        uint32_t nv = k + 1 < n ? in[w->pos[k + 1]] : 0;
        uint32_t x = (uint32_t)in[w->pos[k]] | w->cnt[k] << 8,
                 y = nv ^ w->gap[k + 1] << 8 ^ w->cnt[k + 1] << 20;
        uint32_t h = (x * 0x9E3779B1u ^ y * 0x85EBCA77u) >> (32 - KEY_BITS);
        w->prevk[k] = w->head[h];
        w->head[h] = (uint32_t)k;
    }
    /* A counting sort of the runs by value, each value's in block order. */
    uint32_t at[256];
    memset(at, 0, sizeof at);
    for (size_t k = 0; k < n; k++)
        at[in[w->pos[k]]]++;
    for (uint32_t v = 0, sum = 0; v < 256; v++) {
        uint32_t c = at[v];
        w->vbeg[v] = at[v] = sum;
        sum += c;
    }
    for (size_t k = 0; k < n; k++) {
        uint32_t slot = at[in[w->pos[k]]]++;
        w->vslot[k] = slot;
        w->vr.pos[slot] = w->pos[k];
        w->vr.cnt[slot] = w->cnt[k];
        w->vr.gapb[slot] = w->gap[k];
        w->vr.gapa[slot] = w->gap[k + 1];
    }
    return true;
}

/* A distance's symbol and extra bits. */
static unsigned dist_cost(const block *b, unsigned d)
{
    unsigned dx, dv, ds = dist_sym(d, &dx, &dv);
    return b->dcost[ds] + dx;
}

/* matches_cost from the tables: r >= MIN_MATCH bytes as matches of distance cost dc. */
static inline unsigned mcost(const block *b, size_t r, unsigned dc)
{
    if (r <= MAX_MATCH)
        return b->lencost[r] + dc;
    /* As emit_matches cuts r: whole MAX_MATCH pieces while at least MIN_MATCH would be
     * left, then the rest, or (259 and 260) MIN_MATCH short of it and MIN_MATCH. In
     * closed form: a periodic list prices matches of thousands of bytes by the million. */
    size_t q = r >= MAX_MATCH + MIN_MATCH ? (r - MAX_MATCH - MIN_MATCH) / MAX_MATCH + 1 : 0;
    size_t rest = r - q * MAX_MATCH;
    unsigned bits = (unsigned)q * (b->lencost[MAX_MATCH] + dc);
    if (rest <= MAX_MATCH)
        return bits + b->lencost[rest] + dc;
    return bits + b->lencost[rest - MIN_MATCH] + b->lencost[MIN_MATCH] + 2 * dc;
}

/* zeros_cost from the tables; d1 is the cost of distance 1. */
static inline unsigned zcost(const block *b, size_t r, bool pz, unsigned d1)
{
    if (r == 0)
        return 0;
    unsigned bits = 0;
    if (!pz) {
        bits = b->lcost[0];
        r--;
    }
    return bits + (r < MIN_MATCH ? (unsigned)r * b->lcost[0] : mcost(b, r, d1));
}

static unsigned run_cost(const block *b, uint8_t v, size_t c)
{
    unsigned bits = b->lcost[v];
    if (c - 1 >= MIN_MATCH)
        return bits + matches_cost(b, c - 1, 1);
    return bits + (unsigned)(c - 1) * b->lcost[v];
}

static void relax(dpwork *w, uint32_t to, uint32_t cost, uint32_t from, uint32_t s, unsigned d,
                  uint32_t pos, bool pz)
{
    dpst *t = &w->st[to];
    if (cost < t->cost) {
        t->cost = cost;
        t->from = from;
        t->s = s;
        t->d = (uint16_t)d;
        t->pos = pos;
        t->pz = pz;
    }
}

/* A state inside the zeros before run t, at pos. */
static void add_mid(dpwork *w, uint32_t t, uint32_t cost, uint32_t from, uint32_t s,
                    unsigned d, uint32_t pos)
{
    uint32_t *m = w->mid + (size_t)t * w->mid_max;
    unsigned worst = 0;
    for (unsigned q = 0; q < w->nmid[t]; q++) {
        if (w->st[m[q]].pos == pos) {
            relax(w, m[q], cost, from, s, d, pos, true);
            return;
        }
        if (w->st[m[q]].cost > w->st[m[worst]].cost)
            worst = q;
    }
    uint32_t idx;
    if (w->nmid[t] < w->mid_max && w->nst < w->pool) {
        idx = w->nst++;
        m[w->nmid[t]++] = idx;
    } else if (w->nmid[t] > 0 && w->st[m[worst]].cost > cost) {
        /* (With no state of its own yet, m[0] would be another gap's or unset.) */
        idx = m[worst];
    } else {
        return;
    }
    w->st[idx].cost = UINT32_MAX;
    relax(w, idx, cost, from, s, d, pos, true);
}

static void emit_zeros(block *b, size_t r, bool pz)
{
    if (r == 0)
        return;
    if (!pz) {
        emit_literal(b, 0);
        r--;
    }
    if (r >= MIN_MATCH)
        emit_matches(b, r, 1);
    else
        while (r-- > 0)
            emit_literal(b, 0);
}

static void dpwork_free(dpwork *w)
{
    if (w == NULL)
        return;
    tslp_free(w->pos);
    tslp_free(w->vr.pos);
    tslp_free(w->mid);
    tslp_free(w->nmid);
    tslp_free(w->st);
    tslp_free(w);
}

/* Work space for blocks of at most n runs (plus the sentinel). */
static dpwork *dpwork_new(size_t n)
{
    dpwork *w = tslp_malloc(sizeof *w);
    if (w == NULL)
        return NULL;
    memset(w, 0, sizeof *w);
    size_t ns = (n + 2) + (n + 1) * MID_POOL_FULL;
    w->pos = tslp_malloc((6 * (n + 1) + ns) * sizeof *w->pos);
    w->mid = tslp_malloc((n + 1) * MID_MAX * sizeof *w->mid);
    w->nmid = tslp_malloc(n + 1);
    w->st = tslp_malloc(ns * sizeof *w->st);
    w->vr.pos = tslp_malloc(4 * (n + 1) * sizeof *w->vr.pos);
    if (w->pos == NULL || w->mid == NULL || w->nmid == NULL || w->st == NULL ||
        w->vr.pos == NULL) {
        dpwork_free(w);
        return NULL;
    }
    w->cnt = w->pos + (n + 1);
    w->gap = w->cnt + (n + 1);
    w->prevk = w->gap + (n + 1);
    w->vslot = w->prevk + (n + 1);
    w->cap = (uint32_t)ns;
    w->nalloc = n;
    w->vr.cnt = w->vr.pos + (n + 1);
    w->vr.gapb = w->vr.cnt + (n + 1);
    w->vr.gapa = w->vr.gapb + (n + 1);
    w->edge = w->vslot + (n + 1);
    return w;
}

/* What the plain parse would count on a sparse block, from its runs instead of its
 * bytes (zeros as one literal and distance-1 matches, a run as its value and
 * distance-1 matches): the first search's prices. The tokens written are dropped by
 * the search, which starts its own. */
static void plain_counts(const uint8_t *in, size_t start, const dpwork *w, block *b)
{
    for (uint32_t k = w->first; k <= w->n; k++) {
        uint32_t p = w->pos[k];
        size_t z0 = p - w->gap[k] < start ? start : p - w->gap[k];
        emit_zeros(b, p - z0, z0 > 0 && in[z0 - 1] == 0);
        if (k == w->n)
            break;
        size_t c = w->cnt[k];
        emit_literal(b, in[p]);
        if (c - 1 >= MIN_MATCH)
            emit_matches(b, c - 1, 1);
        else
            for (size_t q = 1; q < c; q++)
                emit_literal(b, in[p]);
    }
}

/* The last run u in [t, n] whose end is at most m_end, given that run t's is (run ends
 * increase with u). */
static uint32_t last_covered(const dpwork *w, uint32_t t, uint32_t n, uint32_t m_end)
{
    uint32_t lo = t, hi = n; /* the answer is in [lo, hi] */
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo + 1) / 2;
        if (w->pos[mid] + w->cnt[mid] <= m_end)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

/* What the search has learnt of in[x] == in[x - d] for a distance d: true for every x in
 * [from, upto), and false at upto when exact. On a periodic list every candidate of
 * every run matches to EXT_CAP: extended afresh each time, the search compared up to
 * 40 KiB per run and a 64 KiB block of a 13-byte pattern took 60 ms; remembered, each
 * stretch is compared once. The answers are period_of's exactly (facts about in only),
 * so the bytes do not change. */
typedef struct {
    uint32_t d, from, upto;
    bool exact;
} ext_memo;
#define MEMO_SLOTS 64 /* by distance, MEMO_PROBES slots from its hash: a run's */
#define MEMO_PROBES 4 /* candidates have at most a dozen distances */
#define MEMO_FROM 64  /* stretches shorter than this are compared, not remembered */

/* period_of(in + p, cap, d), from and into the memo m. */
static size_t period_memo(ext_memo *m, const uint8_t *in, size_t p, size_t cap, size_t d)
{
    /* Most candidates of a random list stop within a few bytes: those are answered as
     * before, without the memo's upkeep. */
    size_t quick = period_of(in + p, cap < MEMO_FROM ? cap : MEMO_FROM, d);
    if (quick < MEMO_FROM)
        return quick;
    /* The multiples of a period, the distances a periodic list's candidates have, can
     * hash to a few slots (879 x 1..8 to 4 of them): probing the next slots too keeps
     * them apart. A distance not found replaces an empty slot, else the one whose
     * stretch ends first. */
    uint32_t h = ((uint32_t)d * 0x9E3779B1u) >> 26;
    ext_memo *e = NULL, *victim = &m[h];
    for (uint32_t k = 0; k < MEMO_PROBES; k++) {
        ext_memo *t = &m[(h + k) % MEMO_SLOTS];
        if (t->d == d) {
            e = t;
            break;
        }
        if (victim->d != 0 && (t->d == 0 || t->upto < victim->upto))
            victim = t;
    }
    if (e != NULL && e->from <= p && p <= e->upto) {
        size_t have = e->upto - p;
        if (have >= cap)
            return cap;
        if (e->exact)
            return have;
        size_t more = period_of(in + e->upto, cap - have, d);
        e->upto += (uint32_t)more;
        e->exact = have + more < cap;
        return have + more;
    }
    size_t n = period_of(in + p, cap, d);
    *(e != NULL ? e : victim) = (ext_memo){(uint32_t)d, (uint32_t)p, (uint32_t)(p + n), n < cap};
    return n;
}

/* zcost, from w's table when r is in it. */
static inline unsigned zcost_t(const dpwork *w, const block *b, size_t r, bool pz,
                               unsigned d1)
{
    return r <= ZC_MAX ? w->zc[pz][r] : zcost(b, r, pz, d1);
}

/* The match candidates of one run: distance, zeros before the source run, where the
 * match ends, the distance's cost. */
typedef struct {
    uint32_t d[CANDS_MAX], g[CANDS_MAX], m[CANDS_MAX], c[CANDS_MAX];
    unsigned n;
} cands;

/* Takes a run of c bytes at p, d bytes after an earlier one with g zeros before it, as a
 * candidate when its match covers the run and no candidate taken already does better;
 * cap is how far a match is extended. */
static inline void cand_add(cands *cs, const block *b, ext_memo *memo, const uint8_t *in,
                            uint32_t p, size_t cap, uint32_t c, uint32_t d, uint32_t g)
{
    unsigned nc = cs->n, dup = 0;
    while (dup < nc && cs->d[dup] != d)
        dup++;
    if (dup < nc)
        return;
    size_t ext = period_memo(memo, in, p, cap, d);
    if (ext < c)
        return;
    /* A candidate ending where an earlier one does, after as many zeros, at no lower
     * distance cost, reaches the same states at no lower cost and after it: it can never
     * win one, so it is not priced. On a periodic list every candidate is such a repeat
     * of the nearest; on a random one a short candidate seldom is, and is not looked
     * at. */
    uint32_t m_end = p + (uint32_t)ext;
    unsigned dc = dist_cost(b, d), dom = ext >= MEMO_FROM ? 0 : nc;
    while (dom < nc && !(cs->m[dom] == m_end && cs->g[dom] == g && cs->c[dom] <= dc))
        dom++;
    if (dom < nc)
        return;
    cs->d[nc] = d;
    cs->g[nc] = g;
    cs->m[nc] = m_end;
    cs->c[nc] = dc;
    cs->n = nc + 1;
}

/* How hard one search looks (see FULL_SEARCH below). */
typedef struct search {
    tslp_sl_effort effort;        /* whose price tables a block takes */
    unsigned val_chain, val_walk; /* the value's earlier runs taken (covering run k's
                                   * gaps), walked */
    unsigned front;   /* others taken (0 to FRONT_MAX), see dp_parse */
    unsigned mid_max; /* states kept inside one gap (at most MID_MAX) */
    unsigned pool;    /* states inside gaps per run, on average (at most MID_POOL_FULL) */
    bool trim;        /* a match ending inside a gap may also end at a cheaper length */
    bool dominated;   /* a state inside a gap is skipped only when one before it wins */
    const struct search *first; /* the first of two searches before this one */
} search;

/* Each effort's searches: the first of two (it only sets the prices of the last, and
 * the tables are measured after it: bench_prices.c), and the last. The full search's
 * states inside gaps pay in its first search too (its tables then price 0.08% better). */
static const search FIRST_QUICK = {.effort = TSLP_SL_QUICK, .val_chain = VAL_FIRST,
                                   .val_walk = VAL_WALK_FIRST, .mid_max = MID_QUICK,
                                   .pool = MID_POOL_QUICK};
static const search QUICK_SEARCH = {.effort = TSLP_SL_QUICK, .val_chain = VAL_CHAIN,
                                    .val_walk = VAL_WALK, .mid_max = MID_QUICK_LAST,
                                    .pool = MID_POOL_QUICK_LAST, .trim = true,
                                    .dominated = true, .first = &FIRST_QUICK};
static const search FIRST_FULL = {.effort = TSLP_SL_FULL, .val_chain = VAL_FIRST,
                                  .val_walk = VAL_WALK_FIRST, .mid_max = MID_MAX,
                                  .pool = MID_POOL_FULL, .trim = true, .dominated = true};
static const search FULL_SEARCH = {.effort = TSLP_SL_FULL, .val_chain = VAL_CHAIN,
                                   .val_walk = VAL_WALK, .front = FRONT_MAX,
                                   .mid_max = MID_MAX, .pool = MID_POOL_FULL, .trim = true,
                                   .dominated = true, .first = &FIRST_FULL};

/* The minimum-cost parse of in[start..end) at b's prices, as tokens in b. */
static void dp_parse(const uint8_t *in, size_t start, size_t end, block *b, dpwork *w,
                     const search *sr)
{
    uint32_t n = w->n;
    /* States h..n+1: h the block's start, k + 1 just after run k (n + 1 the end); the
     * runs before h are history, matched against but not coded. */
    const uint32_t h = w->first;
    for (uint32_t k = 0; k <= n + 1; k++) {
        w->st[k].cost = UINT32_MAX;
        if (k <= n)
            w->nmid[k] = 0;
    }
    w->nst = n + 2;
    w->mid_max = sr->mid_max;
    w->pool = (uint32_t)((w->nalloc + 2) + (w->nalloc + 1) * sr->pool);
    w->st[h] = (dpst){0, NO_STATE, (uint32_t)start, (uint32_t)start, 0, 0};
    cands cs;
    const unsigned d1 = dist_cost(b, 1);
    for (uint32_t r = 0; r <= ZC_MAX; r++) {
        w->zc[0][r] = zcost(b, r, false, d1);
        w->zc[1][r] = zcost(b, r, true, d1);
    }
    ext_memo memo[MEMO_SLOTS];
    memset(memo, 0, sizeof memo); /* d 0 is no distance: every slot empty */
    if (sr->trim) {
        memset(w->cheaper, 0, sizeof w->cheaper);
        for (unsigned len = MIN_MATCH + 1; len <= MAX_MATCH; len++) {
            unsigned q = len - 1;
            while (q >= MIN_MATCH && b->lencost[q] >= b->lencost[len])
                q--;
            w->cheaper[len] = (uint16_t)(q >= MIN_MATCH ? q : 0);
        }
    }
    const unsigned val_walk = sr->val_walk, val_chain = sr->val_chain;
    for (uint32_t k = h; k <= n; k++) {
        uint32_t p = w->pos[k], c = w->cnt[k];
        uint8_t v = k < n ? in[p] : 0; /* the sentinel (k == n) is at the end */
        cs.n = 0;
        if (k < n) {
            size_t cap = end - p > EXT_CAP ? EXT_CAP : end - p;
            unsigned steps = 0;
            for (uint32_t j = w->prevk[k]; j != NO_EVENT && steps < KEY_CHAIN;
                 j = w->prevk[j], steps++) {
                uint32_t d = p - w->pos[j];
                if (d > WINDOW)
                    break;
                if (in[w->pos[j]] == v && w->cnt[j] == c)
                    cand_add(&cs, b, memo, in, p, cap, c, d, w->gap[j]);
            }
            /* The value's earlier runs, nearest first: those with gaps at least as long
             * as run k's on both sides. */
            const vruns *vr = &w->vr;
            uint32_t lo = w->vbeg[v], q = w->vslot[k];
            uint32_t gb = w->gap[k], ga = w->gap[k + 1];
            /* A run further back than the window (d > WINDOW) ends the walk. */
            uint32_t pmin = p > WINDOW ? p - WINDOW : 0;
            const v4u vc = {c, c, c, c}, vgb = {gb, gb, gb, gb}, vga = {ga, ga, ga, ga},
                      vpmin = {pmin, pmin, pmin, pmin};
            /* Besides those, the full search takes the front of the others (sr->front
             * at most): a run is taken when no nearer one taken has as many zeros before
             * and after it (counted up to run k's). Their matches end inside the gap
             * after run k, or start after the first zeros of the gap before, and the
             * next or the last match covers the rest: at 10^8 one-bit entries 0.7% fewer
             * bytes than the quick search, for twice its CPU. Up to four runs of the
             * front are kept as thresholds for the four-at-once test: a run with no more
             * zeros before (over gt) nor after (over ht) than one of them is behind it. A
             * side already at run k's cannot be beaten (a threshold of UINT32_MAX); one
             * pair of UINT32_MAX closes the front (full, or a covering run found, which
             * every further run is behind). */
            unsigned took = 0, nf = 0;
            uint32_t fg[FRONT_MAX], fh[FRONT_MAX];
            v4u gt[4], ht[4];
            unsigned nt = 0, next = 0;
            bool open = sr->front > 0;
            const v4u vmax = {UINT32_MAX, UINT32_MAX, UINT32_MAX, UINT32_MAX};
            if (!open) {
                gt[0] = ht[0] = vmax;
                nt = 1;
            }
            steps = 0;
            while (q > lo && steps < val_walk && took < val_chain) {
                /* Four runs skipped at once when none can be taken or is out of the
                 * window; else they are looked at one by one, as below. */
                if (q - lo >= 4 && val_walk - steps >= 4) {
                    v4u sb = v4_load(vr->gapb + q - 4), sa = v4_load(vr->gapa + q - 4);
                    v4i front = (v4i){-1, -1, -1, -1};
                    for (unsigned i = 0; i < nt; i++)
                        front &= (sb > gt[i]) | (sa > ht[i]);
                    v4i hit = (v4_load(vr->cnt + q - 4) == vc) &
                              (((sb >= vgb) & (sa >= vga)) | front);
                    if (!v4_any(hit | (v4_load(vr->pos + q - 4) < vpmin))) {
                        q -= 4;
                        steps += 4;
                        continue;
                    }
                }
                q--;
                steps++;
                if (vr->pos[q] < pmin)
                    break;
                if (vr->cnt[q] != c)
                    continue;
                uint32_t sb = vr->gapb[q], sa = vr->gapa[q];
                if (sb >= gb && sa >= ga) {
                    took++;
                    open = false;
                    gt[0] = ht[0] = vmax;
                    nt = 1;
                    cand_add(&cs, b, memo, in, p, cap, c, p - vr->pos[q], sb);
                    continue;
                }
                if (!open)
                    continue;
                uint32_t g = sb < gb ? sb : gb, a = sa < ga ? sa : ga;
                if (g + c + a < FRONT_LEN)
                    continue; /* too short to pay for a distance */
                unsigned f = 0;
                while (f < nf && !(fg[f] >= g && fh[f] >= a))
                    f++;
                if (f < nf)
                    continue;
                fg[nf] = g;
                fh[nf] = a;
                if (++nf == sr->front) {
                    open = false;
                    gt[0] = ht[0] = vmax;
                    nt = 1;
                } else {
                    uint32_t tg = g >= gb ? UINT32_MAX : g, th = a >= ga ? UINT32_MAX : a;
                    gt[next] = (v4u){tg, tg, tg, tg};
                    ht[next] = (v4u){th, th, th, th};
                    next = (next + 1) % 4;
                    nt = nt < 4 ? nt + 1 : 4;
                }
                cand_add(&cs, b, memo, in, p, cap, c, p - vr->pos[q], sb);
            }
        }
        const unsigned nc = cs.n;
        const uint32_t *cand_d = cs.d, *cand_g = cs.g, *cand_m = cs.m, *cand_c = cs.c;
        uint32_t nsrc = 1 + w->nmid[k];
        /* Reaching run k plainly from just after run k - 1: a state inside the gap that
         * does not beat it is not searched from (it seldom leads anywhere better). */
        uint32_t via_a = w->st[k].cost + zcost_t(w, b, p - w->st[k].pos, false, d1);
        /* Every source's match from candidate ci that ends inside a gap ends at the same
         * place: only the cheapest becomes a state there (best[ci]), after all sources. */
        struct {
            uint32_t cost, si, s, t, me;
        } best[CANDS_MAX];
        for (unsigned ci = 0; ci < nc; ci++)
            best[ci].cost = UINT32_MAX;
        for (uint32_t q = 0; q < nsrc; q++) {
            uint32_t si = q == 0 ? k : w->mid[(size_t)k * w->mid_max + q - 1];
            const dpst *src = &w->st[si];
            if (src->cost == UINT32_MAX)
                continue;
            uint32_t z = p - src->pos;
            bool pz = src->pz;
            uint32_t base = src->cost;
            uint32_t zz = zcost_t(w, b, z, pz, d1);
            if (q > 0 && (sr->dominated ? w->st[k].cost != UINT32_MAX &&
                                              base >= w->st[k].cost +
                                                          zcost_t(w, b, src->pos -
                                                                  w->st[k].pos, false, d1)
                                        : base + zz >= via_a))
                continue;
            /* plainly */
            uint32_t plain = base + zz + (k < n ? run_cost(b, v, c) : 0);
            relax(w, k + 1, plain, si, p, 0, p + c, false);
            for (unsigned ci = 0; ci < nc; ci++) {
                uint32_t a = z < cand_g[ci] ? z : cand_g[ci];
                uint32_t s = p - a, d = cand_d[ci], m_end = cand_m[ci];
                uint32_t pre = base + zcost_t(w, b, z - a, pz, d1);
                uint32_t t = k;
                unsigned covered = 0;
                while (t <= n && w->pos[t] + w->cnt[t] <= m_end) {
                    uint32_t e = w->pos[t] + w->cnt[t];
                    /* Past the first COVER_MAX runs only the last one covered is a
                     * state worth reaching: on repetitive lists a match may cover
                     * thousands of runs, and pricing an end after each made the search
                     * quadratic (a fuzzer input took seconds). */
                    if (++covered == COVER_MAX && t < n &&
                        w->pos[t + 1] + w->cnt[t + 1] <= m_end) {
                        t = last_covered(w, t + 1, n, m_end);
                        e = w->pos[t] + w->cnt[t];
                    }
                    if (e - s >= MIN_MATCH)
                        relax(w, t + 1, pre + mcost(b, e - s, cand_c[ci]), si, s, d, e, false);
                    if (t == n)
                        break;
                    t++;
                }
                if (t == n && w->pos[n] <= m_end)
                    continue; /* it reaches the block's end */
                /* m_end lies in the zeros before run t, or inside it (stop at its start) */
                uint32_t me = m_end > w->pos[t] ? w->pos[t] : m_end;
                uint32_t prev_end = w->pos[t] - w->gap[t];
                if (me <= prev_end || me - s < MIN_MATCH)
                    continue;
                uint32_t mc = pre + mcost(b, me - s, cand_c[ci]);
                if (mc < best[ci].cost) {
                    best[ci].cost = mc;
                    best[ci].si = si;
                    best[ci].s = s;
                    best[ci].t = t;
                    best[ci].me = me;
                }
            }
        }
        for (unsigned ci = 0; ci < nc; ci++) {
            uint32_t mc = best[ci].cost, t = best[ci].t, me = best[ci].me, s = best[ci].s;
            if (mc == UINT32_MAX)
                continue;
            /* The test the state would meet as a source (with the state after run t - 1
             * as it is now, which only gets cheaper). */
            const dpst *at_t = &w->st[t];
            if (at_t->cost != UINT32_MAX &&
                mc + zcost_t(w, b, w->pos[t] - me, true, d1) >=
                    at_t->cost + zcost_t(w, b, w->gap[t], false, d1))
                continue;
            add_mid(w, t, mc, best[ci].si, s, cand_d[ci], me);
            /* Ending sooner, at a cheaper length, leaves more zeros to the next match,
             * which may start earlier: the two cheaper lengths below. */
            uint32_t prev_end = w->pos[t] - w->gap[t];
            unsigned len = sr->trim && me - s <= MAX_MATCH ? w->cheaper[me - s] : 0;
            for (unsigned j = 0; j < 2 && len != 0 && s + len > prev_end; j++) {
                uint32_t pre = mc - mcost(b, me - s, cand_c[ci]);
                add_mid(w, t, pre + b->lencost[len] + cand_c[ci], best[ci].si, s, cand_d[ci],
                        s + len);
                len = w->cheaper[len];
            }
        }
        /* A match this long is taken as zlib takes its "nice" length: the runs it covers
         * are not searched from (their states stay as reached). On a periodic list every
         * run has one, and searching from each of a block's thousands of runs cost 30
         * times zlib -9's time; on a random list no match comes near. The state after
         * the last run it covers was reached by it (the search prices the last end a
         * match covers), and the loop still ends at the sentinel run n. */
        uint32_t far = p; /* no candidate: no match */
        for (unsigned ci = 0; ci < nc; ci++)
            if (cand_m[ci] > far)
                far = cand_m[ci];
        if (far - p >= NICE_MATCH && k + 1 < n) {
            uint32_t t = last_covered(w, k, n - 1, far);
            if (t > k && w->st[t + 1].cost != UINT32_MAX)
                k = t; /* the loop goes on at run t + 1, from the state after run t */
        }
    }
    /* Walk back from the end and emit forwards. */
    uint32_t ne = 0;
    for (uint32_t si = n + 1; si != h; si = w->st[si].from)
        w->edge[ne++] = si;
    while (ne > 0) {
        const dpst *t = &w->st[w->edge[--ne]];
        const dpst *f = &w->st[t->from];
        emit_zeros(b, t->s - f->pos, f->pz);
        if (t->d != 0) {
            emit_matches(b, t->pos - t->s, t->d);
        } else if (t->pos > t->s) {
            size_t c = t->pos - t->s;
            emit_literal(b, in[t->s]);
            if (c - 1 >= MIN_MATCH)
                emit_matches(b, c - 1, 1);
            else
                for (size_t q = 1; q < c; q++)
                    emit_literal(b, in[t->s]);
        }
    }
}

/* ---- Huffman codes ------------------------------------------------------------------ */

typedef struct {
    uint32_t freq;
    uint16_t sym;
} fsym;

static int fsym_cmp(const void *a, const void *b)
{
    const fsym *x = a, *y = b;
    if (x->freq != y->freq)
        return x->freq < y->freq ? -1 : 1;
    return (int)x->sym - (int)y->sym; /* a total order keeps the output deterministic */
}

/* Moffat and Katajainen's in-place minimum-redundancy code: A[0..n) holds weights in
 * ascending order and receives the code lengths (A[0], the lightest, the longest). */
static void min_redundancy(uint32_t *A, int n)
{
    int root, leaf, next, avbl, used, dpth;
    A[0] += A[1];
    root = 0;
    leaf = 2;
    for (next = 1; next < n - 1; next++) {
        if (leaf >= n || A[root] < A[leaf]) {
            A[next] = A[root];
            A[root++] = (uint32_t)next;
        } else {
            A[next] = A[leaf++];
        }
        if (leaf >= n || (root < next && A[root] < A[leaf])) {
            A[next] += A[root];
            A[root++] = (uint32_t)next;
        } else {
            A[next] += A[leaf++];
        }
    }
    A[n - 2] = 0;
    for (next = n - 3; next >= 0; next--)
        A[next] = A[A[next]] + 1;
    avbl = 1;
    used = dpth = 0;
    root = n - 2;
    next = n - 1;
    while (avbl > 0) {
        while (root >= 0 && (int)A[root] == dpth) {
            used++;
            root--;
        }
        while (avbl > used) {
            A[next--] = (uint32_t)dpth;
            avbl--;
        }
        avbl = 2 * used;
        dpth++;
        used = 0;
    }
}

/* Code lengths for freq[0..n), none over limit. Fewer than two used symbols get two
 * codes of length 1 (a complete code, which every inflater accepts). */
static void build_lengths(const uint32_t *freq, unsigned n, unsigned limit, uint8_t *lens)
{
    fsym s[LITLEN_SYMS];
    uint32_t A[LITLEN_SYMS];
    int m = 0;
    for (unsigned k = 0; k < n; k++) {
        lens[k] = 0;
        if (freq[k] != 0) {
            s[m].freq = freq[k];
            s[m].sym = (uint16_t)k;
            m++;
        }
    }
    if (m < 2) {
        unsigned a = m == 1 ? s[0].sym : 0;
        lens[a] = 1;
        lens[a == 0 ? 1 : 0] = 1;
        return;
    }
    qsort(s, (size_t)m, sizeof s[0], fsym_cmp);
    for (int k = 0; k < m; k++)
        A[k] = s[k].freq;
    min_redundancy(A, m);
    unsigned cnt[33] = {0};
    for (int k = 0; k < m; k++)
        cnt[A[k] > 32 ? 32 : A[k]]++;
    /* Length limiting (the heuristic of zlib's gen_bitlen / miniz): fold every longer
     * code into the limit, then lengthen the longest shorter codes until Kraft's sum is
     * exactly 1 again. */
    for (unsigned k = limit + 1; k <= 32; k++) {
        cnt[limit] += cnt[k];
        cnt[k] = 0;
    }
    uint32_t total = 0;
    for (unsigned k = limit; k > 0; k--)
        total += cnt[k] << (limit - k);
    while (total != (1u << limit)) {
        cnt[limit]--;
        for (unsigned k = limit - 1; k > 0; k--) {
            if (cnt[k] != 0) {
                cnt[k]--;
                cnt[k + 1] += 2;
                break;
            }
        }
        total--;
    }
    int k = 0;
    for (unsigned len = limit; len > 0; len--)
        for (unsigned c = cnt[len]; c > 0; c--)
            lens[s[k++].sym] = (uint8_t)len;
}

/* Canonical codes (RFC 1951 3.2.2), bit-reversed for the LSB-first bit writer. */
static void make_codes(const uint8_t *lens, unsigned n, uint16_t *codes)
{
    unsigned cnt[16] = {0}, next[16];
    for (unsigned s = 0; s < n; s++)
        cnt[lens[s]]++;
    cnt[0] = 0;
    unsigned code = 0;
    for (unsigned b = 1; b < 16; b++) {
        code = (code + cnt[b - 1]) << 1;
        next[b] = code;
    }
    for (unsigned s = 0; s < n; s++) {
        unsigned len = lens[s];
        codes[s] = 0;
        if (len == 0)
            continue;
        unsigned c = next[len]++, r = 0;
        for (unsigned k = 0; k < len; k++, c >>= 1)
            r = (r << 1) | (c & 1);
        codes[s] = (uint16_t)r;
    }
}

/* ---- bit output --------------------------------------------------------------------- */

typedef struct {
    uint8_t *p;
    uint64_t acc;
    unsigned n;
} bitw;

static inline void put(bitw *w, uint32_t v, unsigned nb)
{
    w->acc |= (uint64_t)v << w->n;
    w->n += nb;
    if (w->n >= 32) {
        w->p[0] = (uint8_t)w->acc;
        w->p[1] = (uint8_t)(w->acc >> 8);
        w->p[2] = (uint8_t)(w->acc >> 16);
        w->p[3] = (uint8_t)(w->acc >> 24);
        w->p += 4;
        w->acc >>= 32;
        w->n -= 32;
    }
}

/* Writes the pending bits, the last byte padded with zeros. */
static void flush_bits(bitw *w)
{
    while (w->n > 0) {
        *w->p++ = (uint8_t)w->acc;
        w->acc >>= 8;
        w->n = w->n > 8 ? w->n - 8 : 0;
    }
}

/* ---- blocks ------------------------------------------------------------------------- */

static const uint8_t cl_order[CL_SYMS] = {16, 17, 18, 0, 8,  7, 9,  6, 10, 5,
                                          11, 4,  12, 3, 13, 2, 14, 1, 15};

/* The dynamic header's code-length sequence, run-length coded: each item is a symbol
 * 0..18 in the low byte and its extra-bit value above. */
typedef struct {
    uint16_t item[LITLEN_SYMS + DIST_SYMS];
    unsigned n;
    uint32_t freq[CL_SYMS];
} cl_seq;

static void cl_add(cl_seq *q, unsigned sym, unsigned extra)
{
    q->item[q->n++] = (uint16_t)(sym | extra << 8);
    q->freq[sym]++;
}

static void cl_encode(const uint8_t *lens, unsigned n, cl_seq *q)
{
    memset(q, 0, sizeof *q);
    for (unsigned i = 0; i < n;) {
        unsigned v = lens[i], run = 1;
        while (i + run < n && lens[i + run] == v)
            run++;
        i += run;
        if (v == 0) {
            while (run >= 11) {
                unsigned k = run > 138 ? 138 : run;
                cl_add(q, 18, k - 11);
                run -= k;
            }
            if (run >= 3) {
                cl_add(q, 17, run - 3);
                run = 0;
            }
        } else {
            cl_add(q, v, 0);
            run--;
            while (run >= 3) {
                unsigned k = run > 6 ? 6 : run;
                cl_add(q, 16, k - 3);
                run -= k;
            }
        }
        while (run-- > 0)
            cl_add(q, v, 0);
    }
}

static const uint8_t cl_extra[CL_SYMS] = {[16] = 2, [17] = 3, [18] = 7};

typedef struct {
    uint8_t llen[LITLEN_SYMS], dlen[DIST_SYMS], cllen[CL_SYMS];
    uint16_t lcode[LITLEN_SYMS], dcode[DIST_SYMS], clcode[CL_SYMS];
    unsigned hlit, hdist, hclen;
    cl_seq q;
} codes;

/* Bits of the tokens (with end of block) under code lengths llen/dlen. */
static uint64_t body_bits(const block *b, const uint8_t *llen, const uint8_t *dlen)
{
    uint64_t bits = b->xbits;
    for (unsigned s = 0; s < LITLEN_SYMS; s++)
        bits += (uint64_t)b->lfreq[s] * llen[s];
    for (unsigned s = 0; s < DIST_SYMS; s++)
        bits += (uint64_t)b->dfreq[s] * dlen[s];
    return bits;
}

/* Fits dynamic codes with lengths built from lfreq (b's own counts or a smoothed copy)
 * and returns the header's size in bits (from BTYPE's end). */
static uint64_t header_from_lengths(codes *c);

static uint64_t dynamic_codes_from(const block *b, const uint32_t *lfreq, codes *c)
{
    build_lengths(lfreq, LITLEN_SYMS, 15, c->llen);
    build_lengths(b->dfreq, DIST_SYMS, 15, c->dlen);
    return header_from_lengths(c);
}

/* Fits the dynamic header to c's code lengths (llen, dlen) and returns its size in bits
 * (from BTYPE's end). */
static uint64_t header_from_lengths(codes *c)
{
    c->hlit = 286;
    while (c->hlit > 257 && c->llen[c->hlit - 1] == 0)
        c->hlit--;
    c->hdist = DIST_SYMS;
    while (c->hdist > 1 && c->dlen[c->hdist - 1] == 0)
        c->hdist--;
    uint8_t all[LITLEN_SYMS + DIST_SYMS];
    memcpy(all, c->llen, c->hlit);
    memcpy(all + c->hlit, c->dlen, c->hdist);
    cl_encode(all, c->hlit + c->hdist, &c->q);
    build_lengths(c->q.freq, CL_SYMS, 7, c->cllen);
    c->hclen = CL_SYMS;
    while (c->hclen > 4 && c->cllen[cl_order[c->hclen - 1]] == 0)
        c->hclen--;
    uint64_t bits = 5 + 5 + 4 + 3 * (uint64_t)c->hclen;
    for (unsigned s = 0; s < CL_SYMS; s++)
        bits += (uint64_t)c->q.freq[s] * (c->cllen[s] + cl_extra[s]);
    return bits;
}

/* sm = freq with the literal counts of 1..255 averaged over groups of g (0: as they
 * are): a flatter code for the literals costs fewer header bits, at 8 bits where the
 * non-zero bytes are near uniform. */
static void smooth_literals(uint32_t sm[LITLEN_SYMS], const uint32_t *freq, unsigned g)
{
    memcpy(sm, freq, LITLEN_SYMS * sizeof sm[0]);
    if (g == 0)
        return;
    for (unsigned g0 = 1; g0 < 256; g0 += g) {
        unsigned g1 = g0 + g > 256 ? 256 : g0 + g;
        uint64_t sum = 0;
        for (unsigned s = g0; s < g1; s++)
            sum += sm[s];
        if (sum == 0)
            continue;
        uint32_t avg = (uint32_t)((sum + (g1 - g0) / 2) / (g1 - g0));
        for (unsigned s = g0; s < g1; s++)
            sm[s] = avg > 0 ? avg : 1;
    }
}

/* Fits the dynamic codes to b: header plus body as small as this encoder can make them,
 * and returns the header's size in bits. With many distinct literals seen a few times
 * each (an 8-bit list has up to 255 values in a 64 KiB block holding ~650 set entries),
 * the exact Huffman lengths scatter between 8 and 12 bits and their description costs
 * 3 to 4 bits a literal; giving a group of literals one average count lets the header
 * describe them as repeats (code 16) for a few more body bits. The cheapest of the
 * exact counts and a few group sizes is taken (measured: 4% smaller at 8 bits). */
static uint64_t dynamic_codes(const block *b, codes *c)
{
    static const unsigned groups[] = {0, 8, 32, 255};
    uint32_t sm[LITLEN_SYMS];
    uint64_t best = UINT64_MAX;
    unsigned best_g = 0;
    for (unsigned gi = 0; gi < sizeof groups / sizeof groups[0]; gi++) {
        unsigned g = groups[gi];
        smooth_literals(sm, b->lfreq, g);
        uint64_t bits = dynamic_codes_from(b, sm, c);
        bits += body_bits(b, c->llen, c->dlen);
        if (bits < best) {
            best = bits;
            best_g = gi;
        }
    }
    smooth_literals(sm, b->lfreq, groups[best_g]);
    uint64_t bits = dynamic_codes_from(b, sm, c);
    make_codes(c->llen, LITLEN_SYMS, c->lcode);
    make_codes(c->dlen, DIST_SYMS, c->dcode);
    make_codes(c->cllen, CL_SYMS, c->clcode);
    return bits;
}

static void fixed_codes(codes *c)
{
    for (unsigned s = 0; s < LITLEN_SYMS; s++)
        c->llen[s] = s < 144 ? 8 : s < 256 ? 9 : s < 280 ? 7 : 8;
    for (unsigned s = 0; s < DIST_SYMS; s++)
        c->dlen[s] = 5;
    make_codes(c->llen, LITLEN_SYMS, c->lcode);
    make_codes(c->dlen, DIST_SYMS, c->dcode);
}

static void write_body(bitw *w, const block *b, const codes *c);

static void write_tokens(bitw *w, const block *b, const codes *c)
{
    write_body(w, b, c);
    put(w, c->lcode[EOB], c->llen[EOB]);
}

/* b's tokens under c, without the end of block. */
static void write_body(bitw *w, const block *b, const codes *c)
{
    for (size_t k = 0; k < b->ntok; k++) {
        uint32_t t = b->tok[k];
        if (!(t & MATCH_FLAG)) {
            put(w, c->lcode[t], c->llen[t]);
            continue;
        }
        unsigned len = (t >> 16) & 0x1FF, d = t & 0xFFFF, lx, lv, dx, dv;
        unsigned ls = len_sym(len, &lx, &lv), ds = dist_sym(d, &dx, &dv);
        put(w, c->lcode[ls], c->llen[ls]);
        put(w, lv, lx);
        put(w, c->dcode[ds], c->dlen[ds]);
        put(w, dv, dx);
    }
}

/* The cheapest way to add a number of bits = pad (mod 8) at the end of a block
 * so that it ends on a byte boundary: h more (zero) code-length-code lengths in the
 * dynamic header (3 bits each, at most spare of them) and f empty fixed blocks after it
 * (10 bits each). Returns false when no such pair exists (pad odd and spare 0): then an
 * empty stored block aligns instead. */
static bool align_plan(unsigned pad, unsigned spare, unsigned *h, unsigned *f)
{
    unsigned best = ~0u;
    for (unsigned hh = 0; hh <= spare && hh < 8; hh++)
        for (unsigned ff = 0; ff < 4; ff++)
            if ((3 * hh + 10 * ff) % 8 == pad && 3 * hh + 10 * ff < best) {
                best = 3 * hh + 10 * ff;
                *h = hh;
                *f = ff;
            }
    return best != ~0u;
}

static void write_stored(bitw *w, const uint8_t *in, size_t len)
{
    do {
        size_t k = len > 65535 ? 65535 : len;
        put(w, 0, 3);
        flush_bits(w);
        w->p[0] = (uint8_t)k;
        w->p[1] = (uint8_t)(k >> 8);
        w->p[2] = (uint8_t)~k;
        w->p[3] = (uint8_t)(~k >> 8);
        memcpy(w->p + 4, in, k);
        w->p += 4 + k;
        in += k;
        len -= k;
    } while (len > 0);
}

/* BFINAL 0, BTYPE 10 and c's dynamic header, with h more (zero) code-length-code
 * lengths than it needs (align_plan). */
static void write_dyn_header(bitw *w, const codes *c, unsigned h)
{
    put(w, 2 << 1, 3);
    put(w, c->hlit - 257, 5);
    put(w, c->hdist - 1, 5);
    put(w, c->hclen + h - 4, 4);
    for (unsigned k = 0; k < c->hclen + h; k++)
        put(w, c->cllen[cl_order[k]], 3);
    for (unsigned k = 0; k < c->q.n; k++) {
        unsigned s = c->q.item[k] & 0xFF, x = c->q.item[k] >> 8;
        put(w, c->clcode[s], c->cllen[s]);
        put(w, x, cl_extra[s]);
    }
}

/* Writes one block for in[0..len) (tokens in b), starting on a byte boundary and ending
 * on one, BFINAL clear. */
static void write_block(bitw *w, const uint8_t *in, size_t len, const block *b, codes *c)
{
    uint64_t dyn = 3 + dynamic_codes(b, c) + body_bits(b, c->llen, c->dlen);
    unsigned spare = CL_SYMS - c->hclen, h = 0, f = 0;
    if (align_plan((unsigned)((8 - dyn % 8) % 8), spare, &h, &f))
        dyn += 3 * h + 10 * f;
    else
        dyn = UINT64_MAX;
    codes fx;
    fixed_codes(&fx);
    uint64_t fix = 3 + body_bits(b, fx.llen, fx.dlen);
    unsigned fh = 0, ff = 0;
    if (align_plan((unsigned)((8 - fix % 8) % 8), 0, &fh, &ff))
        fix += 10 * ff;
    else
        fix += 3 + 7 + 32; /* worst case of an empty stored block after it */
    uint64_t sto = 8 * ((uint64_t)len + 5 * (len / 65535 + 1));

    if (sto <= dyn && sto <= fix) {
        write_stored(w, in, len);
        return;
    }
    if (dyn <= fix) {
        write_dyn_header(w, c, h);
        write_tokens(w, b, c);
    } else {
        put(w, 1 << 1, 3); /* BFINAL 0, BTYPE 01 */
        write_tokens(w, b, &fx);
        if (!align_plan((8 - w->n % 8) % 8, 0, &fh, &f)) {
            put(w, 0, 3); /* an empty stored block: header, padding, LEN 0, NLEN */
            flush_bits(w);
            put(w, 0xFFFF0000u, 32);
            return;
        }
    }
    for (unsigned k = 0; k < f; k++)
        put(w, 1 << 1, 10); /* BFINAL 0, BTYPE 01, end of block (7 zero bits) */
}

/* Sets b's symbol prices from its current counts: each symbol's Huffman code length,
 * and for a symbol not used yet a guess (12 bits a literal or length, 5 plus its extra
 * bits a distance) so that the search may still introduce it. */
static void length_prices(block *b)
{
    for (unsigned len = MIN_MATCH; len <= MAX_MATCH; len++) {
        unsigned lx, lv, ls = len_sym(len, &lx, &lv);
        b->lencost[len] = (uint16_t)(b->lcost[ls] + lx);
    }
}

static void price(block *b, codes *c)
{
    build_lengths(b->lfreq, LITLEN_SYMS, 15, c->llen);
    build_lengths(b->dfreq, DIST_SYMS, 15, c->dlen);
    for (unsigned s = 0; s < LITLEN_SYMS; s++)
        b->lcost[s] = c->llen[s] != 0 ? c->llen[s] : 12;
    for (unsigned s = 0; s < DIST_SYMS; s++)
        b->dcost[s] = c->dlen[s] != 0 && b->dfreq[s] != 0 ? c->dlen[s] : 5;
    length_prices(b);
}

/* Empties b's symbol counts and tokens for another parse (the end-of-block code counted
 * once). */
static void reset_counts(block *b)
{
    memset(b->lfreq, 0, sizeof b->lfreq);
    memset(b->dfreq, 0, sizeof b->dfreq);
    b->xbits = 0;
    b->ntok = 0;
    b->lfreq[EOB] = 1;
}

void tslp_sldeflate_lengths(const uint32_t *freq, unsigned n, uint8_t *lens)
{
    build_lengths(freq, n > LITLEN_SYMS ? LITLEN_SYMS : n, 15, lens);
}

tslp_sl_hook *tslp_sldeflate_hook;

/* A table is used only for a block within this factor of its density (runs per 64 KiB):
 * the tables are measured a factor of 2 apart (bench price_tables). */
#define TABLE_REACH 2
/* A table is tried only when it prices the plain parse (plain_counts) within this many
 * percent of that parse's own code, and the one search at its prices is kept when they
 * were within FIT_PCT percent of what the block's own code charges for the symbols it
 * chose. Measured (1, 2 and 4 bits, 0.12% to 3% set, bench encode_shape's periodic and
 * strided lists, and revocations in batches: runs of 1 to 16 entries, 1% set): a random
 * list's blocks are at 101% to 146% of the plain parse's own, the shapes at 186% to
 * 276%, the batches at 122% to 153%. After the search a random list's blocks are within
 * 0.4% to 2.4% on average (about one block a list, without history or partial, up to
 * 11%), the shapes 6 to 9 times over, the batches 7% to 21% over: searched once at a
 * random list's prices, they took 1.7% to 3% more bytes than with the two searches, so
 * they fell back, and cost the wasted search (1.3 to 1.8 times the two searches' CPU):
 * batches are now told apart before it (CLUSTER_PCT). */
#define PLAIN_PCT 170
#define FIT_PCT 6

/* Revocations in batches (set entries next to each other) are not the tables' lists,
 * and their blocks' symbols, searched once at a table's prices, land over FIT_PCT
 * (fallback: the search wasted, 1.5 to 1.8 times the two searches' CPU) or, at 2 and 4
 * bits and runs of 1 or 2 entries, within it for up to 1.2% more bytes. They are told
 * apart before any search by their entries per non-zero byte: on a random list of entry
 * density q, m entries a byte, that is m q / (1 - (1 - q)^m), about 1 + (m - 1) q / 2;
 * measured over blocks of random lists at 1, 2 and 4 bits and 0.12% to 4% set, the
 * ratio of the count to that stays within 0.993 and 1.010, and batches of 1 to 2 entries
 * reach 1.12 (4 bits) to 1.34 (1 bit), longer ones more (a throwaway program, 20 to 40
 * blocks each). Over CLUSTER_PCT percent: two searches at once. */
#define CLUSTER_PCT 108

/* Whether the block's runs (of in[at..end), a list of `bits` bits) hold more non-zero
 * entries per non-zero byte than random placement gives (CLUSTER_PCT). Integer
 * arithmetic only, so that every machine decides the same. */
static bool clustered(const uint8_t *in, const dpwork *w, size_t len, unsigned bits)
{
    uint64_t ne = 0, nb = 0, m = 8 / bits, mask = (1u << bits) - 1;
    for (uint32_t k = w->first; k < w->n; k++) {
        uint8_t v = in[w->pos[k]];
        unsigned e = 0;
        for (unsigned j = 0; j < m; j++)
            e += (v >> (j * bits) & mask) != 0;
        ne += (uint64_t)e * w->cnt[k];
        nb += w->cnt[k];
    }
    /* ne / nb > CLUSTER_PCT / 100 * (1 + (m - 1) * ne / (2 m len)) */
    return nb > 0 && ne * 100 * 2 * m * len >
                         (uint64_t)CLUSTER_PCT * nb * (2 * m * len + (m - 1) * ne);
}

/* The table for a block of `runs` runs of non-zero bytes in len bytes of a list of
 * `bits` bits: the nearest density measured for that width, or NULL when none is within
 * TABLE_REACH. Integer arithmetic only, so that every machine picks the same. */
static const tslp_sl_prices *pick_prices(tslp_sl_effort effort, unsigned bits, uint32_t runs,
                                         size_t len)
{
    uint64_t r = (uint64_t)runs * 65536 / (len > 0 ? len : 1) + 1;
    const tslp_sl_prices *best = NULL;
    uint64_t bhi = 0, blo = 1;
    for (size_t k = 0; k < sizeof SL_PRICES / sizeof SL_PRICES[0]; k++) {
        const tslp_sl_prices *t = &SL_PRICES[k];
        if (t->bits != bits || t->effort != effort)
            continue;
        uint64_t tr = (uint64_t)t->runs + 1;
        uint64_t hi = r > tr ? r : tr, lo = r > tr ? tr : r;
        /* hi / lo < bhi / blo */
        if (hi <= TABLE_REACH * lo && (best == NULL || hi * blo < bhi * lo)) {
            best = t;
            bhi = hi;
            blo = lo;
        }
    }
    return best;
}

/* The bits b's symbol counts cost at its prices (lcost, dcost: *at) and at the code
 * fitted to them (*own); c's lengths are overwritten. Extra bits are left out: the same
 * in both. */
static void count_costs(const block *b, codes *c, uint64_t *at, uint64_t *own)
{
    build_lengths(b->lfreq, LITLEN_SYMS, 15, c->llen);
    build_lengths(b->dfreq, DIST_SYMS, 15, c->dlen);
    uint64_t p = 0, h = 0;
    for (unsigned s = 0; s < LITLEN_SYMS; s++) {
        p += (uint64_t)b->lfreq[s] * b->lcost[s];
        h += (uint64_t)b->lfreq[s] * c->llen[s];
    }
    for (unsigned s = 0; s < DIST_SYMS; s++) {
        p += (uint64_t)b->dfreq[s] * b->dcost[s];
        h += (uint64_t)b->dfreq[s] * c->dlen[s];
    }
    *at = p;
    *own = h;
}

/* Parses a sparse block (b holding its plain parse's counts) once, at the prices
 * measured for random lists of its density, instead of twice (a first search only to
 * learn the prices, then the last): a quarter less CPU at 10^8 one-bit entries, and
 * fewer bytes, a fixed table pricing better than one learnt from half a block. Returns
 * the table, or NULL, b holding the plain parse's counts again, when no table is near
 * the block's density or the block proves not to be random (periodic, strided: see
 * PLAIN_PCT): the two searches then run as before, and give the same bytes as before the
 * tables. */
static const tslp_sl_prices *table_search(const uint8_t *in, size_t at, size_t end,
                                          unsigned bits, block *b, codes *c, dpwork *dw,
                                          const search *last)
{
    tslp_sl_hook *hk = tslp_sldeflate_hook;
    const tslp_sl_prices *t = NULL;
    if ((hk == NULL || !hk->no_tables) && !clustered(in, dw, end - at, bits))
        t = pick_prices(last->effort, bits, dw->n - dw->first, end - at);
    if (t == NULL) {
        if (hk != NULL)
            __atomic_fetch_add(&hk->two_search, 1, __ATOMIC_RELAXED);
        return NULL;
    }
    for (unsigned s = 0; s < LITLEN_SYMS; s++)
        b->lcost[s] = s < sizeof t->ll ? t->ll[s] : 12; /* every symbol has a length */
    for (unsigned s = 0; s < DIST_SYMS; s++)
        b->dcost[s] = t->dl[s];
    length_prices(b);
    uint64_t p = 0, h = 0;
    count_costs(b, c, &p, &h);
    if (p * 100 > h * PLAIN_PCT) {
        if (hk != NULL)
            __atomic_fetch_add(&hk->two_search, 1, __ATOMIC_RELAXED);
        return NULL; /* b untouched: the plain parse's counts */
    }
    reset_counts(b);
    dp_parse(in, at, end, b, dw, last);
    count_costs(b, c, &p, &h);
    if (p > h && (p - h) * 100 > p * FIT_PCT) {
        reset_counts(b);
        plain_counts(in, at, dw, b);
        if (hk != NULL)
            __atomic_fetch_add(&hk->fallback, 1, __ATOMIC_RELAXED);
        return NULL;
    }
    if (hk != NULL)
        __atomic_fetch_add(&hk->one_search, 1, __ATOMIC_RELAXED);
    return t;
}

/* t's code as DEFLATE codes (the tables are complete codes: bench_prices.c). */
static void table_codes(const tslp_sl_prices *t, codes *c)
{
    memset(c->llen, 0, sizeof c->llen);
    memcpy(c->llen, t->ll, sizeof t->ll);
    memcpy(c->dlen, t->dl, sizeof t->dl);
    make_codes(c->llen, LITLEN_SYMS, c->lcode);
    make_codes(c->dlen, DIST_SYMS, c->dcode);
}

/* A body's share of the header it is joined under, in bits: a run of up to
 * TSLP_SEGMENT_RUN (16) segments shares one header of 500 to 850 bits (segment.c). */
#define BODY_SHARE 64

/* Whether b, searched at t's prices, is smaller written under t's code as a body (its
 * share of a joined header, BODY_SHARE) than as a block of its own (header included):
 * the table's code charges what its prices charged, at most FIT_PCT over b's own code,
 * and the header is left out. c is overwritten. */
static bool body_pays(const block *b, const tslp_sl_prices *t, codes *c)
{
    uint64_t own = dynamic_codes(b, c) + body_bits(b, c->llen, c->dlen);
    table_codes(t, c);
    return body_bits(b, c->llen, c->dlen) - c->llen[EOB] + BODY_SHARE <= own;
}

unsigned tslp_sldeflate_tables(void)
{
    return (unsigned)(sizeof SL_PRICES / sizeof SL_PRICES[0]);
}

/* Extra bits of each length symbol (257 + i) and distance symbol. */
static const uint8_t LEN_XBITS[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                      2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
static const uint8_t DIST_XBITS[30] = {0, 0, 0, 0, 1, 1, 2, 2,  3,  3,  4,  4,  5,  5,  6,
                                       6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};

/* A canonical code's decoding table: the next DEC_BITS bits of a stream (as DEFLATE
 * packs them, first bit lowest) give the symbol (low 9 bits) and its length (bits 9 to
 * 12). Only for complete codes (the price tables' are), where any 15 bits decode. */
#define DEC_BITS 15
static void decode_table(const uint8_t *lens, unsigned n, uint16_t *dec)
{
    uint16_t code[LITLEN_SYMS];
    memset(dec, 0, (1u << DEC_BITS) * sizeof *dec);
    make_codes(lens, n, code);
    for (unsigned s = 0; s < n; s++)
        for (uint32_t i = code[s]; lens[s] != 0 && i < (1u << DEC_BITS); i += 1u << lens[s])
            dec[i] = (uint16_t)(s | (unsigned)lens[s] << 9);
}

/* A body as a bit stream, first bit lowest, zeros after its end. */
typedef struct {
    const uint8_t *p;
    size_t nbytes, at; /* its bytes; the next not yet in acc */
    uint64_t acc;
    unsigned have; /* bits in acc */
    uint64_t left; /* bits of the body not yet taken */
} bitr;

static uint32_t peek(bitr *r, unsigned nb)
{
    while (r->have <= 56) {
        r->acc |= (uint64_t)(r->at < r->nbytes ? r->p[r->at] : 0) << r->have;
        r->at++;
        r->have += 8;
    }
    return (uint32_t)(r->acc & ((1ull << nb) - 1));
}

/* Takes nb bits; false when the body has fewer left. */
static bool take(bitr *r, unsigned nb)
{
    if (nb > r->left)
        return false;
    r->acc >>= nb;
    r->have -= nb;
    r->left -= nb;
    return true;
}

/* Reads one body of nbits bits (under the code whose decoding tables are dl and dd)
 * symbol by symbol: counts each in lf and df when w is NULL, else writes it under c's
 * code. False when it does not decode as a body: an end of block inside it, or a symbol
 * (or a length's distance) cut off at its end. */
static bool recode(const uint8_t *body, uint32_t nbits, const uint16_t *dl, const uint16_t *dd,
                   uint32_t *lf, uint32_t *df, bitw *w, const codes *c)
{
    bitr r = {body, ((size_t)nbits + 7) / 8, 0, 0, 0, nbits};
    while (r.left > 0) {
        uint16_t e = dl[peek(&r, DEC_BITS)];
        unsigned sym = e & 0x1FF;
        /* (a length of 0 would be a pattern of no code: not in a complete one) */
        if ((e >> 9) == 0 || !take(&r, e >> 9) || sym == EOB)
            return false;
        if (w == NULL)
            lf[sym]++;
        else
            put(w, c->lcode[sym], c->llen[sym]);
        if (sym < EOB)
            continue;
        unsigned x = LEN_XBITS[sym - 257];
        uint32_t xv = peek(&r, x);
        if (!take(&r, x))
            return false;
        if (w != NULL)
            put(w, xv, x);
        e = dd[peek(&r, DEC_BITS)];
        sym = e & 0x1FF;
        if ((e >> 9) == 0 || sym >= DIST_SYMS || !take(&r, e >> 9))
            return false;
        x = DIST_XBITS[sym];
        xv = peek(&r, x);
        if (!take(&r, x))
            return false;
        if (w == NULL) {
            df[sym]++;
        } else {
            put(w, c->dcode[sym], c->dlen[sym]);
            put(w, xv, x);
        }
    }
    return true;
}

/* What re-coding a run works in: the table's decoding tables, the fitted code. */
typedef struct {
    uint16_t dl[1u << DEC_BITS], dd[1u << DEC_BITS];
    codes fit;
} refit_work;

/* The code a run of k bodies of table t is written under, in c: t's, or (rw not NULL)
 * the code fitted to the run's symbols when that is smaller, header included (then
 * *fitted). *bits: the bodies' bits under it, end of block included. False when body
 * *bad does not decode. */
static bool run_code(const tslp_sl_prices *t, const uint8_t *const *body, const uint32_t *nbits,
                     size_t k, refit_work *rw, codes *c, uint64_t *bits, bool *fitted,
                     size_t *bad)
{
    table_codes(t, c);
    uint64_t at_table = c->llen[EOB];
    for (size_t i = 0; i < k; i++)
        at_table += nbits[i];
    *bits = at_table;
    *fitted = false;
    if (rw == NULL)
        return true;
    uint32_t lf[LITLEN_SYMS] = {0}, df[DIST_SYMS] = {0};
    decode_table(t->ll, sizeof t->ll, rw->dl);
    decode_table(t->dl, sizeof t->dl, rw->dd);
    for (size_t i = 0; i < k; i++) {
        if (!recode(body[i], nbits[i], rw->dl, rw->dd, lf, df, NULL, NULL)) {
            *bad = i;
            return false;
        }
    }
    lf[EOB] = 1;
    codes *fit = &rw->fit;
    build_lengths(lf, LITLEN_SYMS, 15, fit->llen);
    build_lengths(df, DIST_SYMS, 15, fit->dlen);
    uint64_t at_fit = 0;
    for (unsigned s = 0; s < 286; s++) /* (286 and 287 never occur) */
        at_fit += (uint64_t)lf[s] * (fit->llen[s] + (s > EOB ? LEN_XBITS[s - 257] : 0));
    for (unsigned s = 0; s < DIST_SYMS; s++)
        at_fit += (uint64_t)df[s] * (fit->dlen[s] + DIST_XBITS[s]);
    if (header_from_lengths(fit) + at_fit < header_from_lengths(c) + at_table) {
        memcpy(c->llen, fit->llen, sizeof c->llen);
        memcpy(c->dlen, fit->dlen, sizeof c->dlen);
        make_codes(c->llen, LITLEN_SYMS, c->lcode);
        make_codes(c->dlen, DIST_SYMS, c->dcode);
        *bits = at_fit;
        *fitted = true;
    }
    return true;
}

tsl_status tslp_sldeflate_run(unsigned table, const uint8_t *const *body,
                              const uint32_t *nbits, size_t k, bool refit, size_t *bad,
                              tslp_buf *out, tsl_error *err)
{
    size_t which = 0;
    if (table >= tslp_sldeflate_tables())
        return tslp_fail(err, TSL_ERR_ARG, 0, "compress: no price table %u", table);
    codes *c = tslp_malloc(sizeof *c);
    refit_work *rw = refit ? tslp_malloc(sizeof *rw) : NULL;
    uint64_t bits = 0;
    bool fitted = false;
    tsl_status st = TSL_OK;
    if (c == NULL || (refit && rw == NULL))
        st = tslp_fail(err, TSL_ERR_NOMEM, 0, "compress: out of memory");
    else if (!run_code(&SL_PRICES[table], body, nbits, k, rw, c, &bits, &fitted, &which))
        st = tslp_fail(err, TSL_ERR_ARG, 0, "compress: body %zu of %zu does not decode under "
                       "price table %u", which, k, table);
    if (bad != NULL)
        *bad = which;
    uint64_t total = 0;
    if (st == TSL_OK) {
        total = 3 + header_from_lengths(c) + bits;
        make_codes(c->cllen, CL_SYMS, c->clcode);
        st = tslp_buf_reserve(out, (size_t)((total + 7) / 8) + 8, err);
    }
    if (st != TSL_OK) {
        tslp_free(c);
        tslp_free(rw);
        return st;
    }
    /* End on a byte boundary: more header entries and empty fixed blocks (align_plan),
     * else an empty stored block. */
    unsigned h = 0, f = 0;
    bool planned = align_plan((unsigned)((8 - total % 8) % 8), CL_SYMS - c->hclen, &h, &f);
    bitw w = {out->data + out->len, 0, 0};
    write_dyn_header(&w, c, h);
    for (size_t i = 0; i < k; i++) {
        if (fitted) { /* (it decoded when counted) */
            recode(body[i], nbits[i], rw->dl, rw->dd, NULL, NULL, &w, c);
            continue;
        }
        /* 32 bits a step: the writer keeps fewer than 32 pending, so a 64-bit
         * accumulator holds them all. */
        const uint8_t *p = body[i];
        uint32_t left = nbits[i];
        for (; left >= 32; left -= 32, p += 4)
            put(&w, (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                        (uint32_t)p[3] << 24, 32);
        for (; left >= 8; left -= 8)
            put(&w, *p++, 8);
        if (left > 0)
            put(&w, *p & ((1u << left) - 1), left);
    }
    put(&w, c->lcode[EOB], c->llen[EOB]);
    if (planned) {
        for (unsigned j = 0; j < f; j++)
            put(&w, 1 << 1, 10); /* BFINAL 0, BTYPE 01, end of block (7 zero bits) */
    } else {
        put(&w, 0, 3); /* an empty stored block: header, padding, LEN 0, NLEN */
        flush_bits(&w);
        put(&w, 0xFFFF0000u, 32);
    }
    flush_bits(&w);
    out->len = (size_t)(w.p - out->data);
    tslp_free(c);
    tslp_free(rw);
    return TSL_OK;
}

/* The two searches of a sparse block (b holding its plain parse's counts): the first,
 * over at most FIRST_SAMPLE bytes, at the plain parse's code lengths, only to learn the
 * prices of the second, over the whole block. */
static void two_searches(const uint8_t *in, size_t at, size_t end, block *b, codes *c,
                         dpwork *dw, const search *last)
{
    for (unsigned pass = 0; pass < DP_PASSES; pass++) {
        price(b, c);
        /* The plain parse writes a literal 0 after every value, which makes that literal
         * cheap and steers the first search away from the long matches that cover those
         * zeros: priced as rare instead, the search settles on 1.1% fewer bytes (10^7
         * one-bit entries, 1% set). */
        if (pass == 0 && b->lcost[0] < FIRST_ZERO_COST)
            b->lcost[0] = FIRST_ZERO_COST;
        reset_counts(b);
        if (pass + 1 == DP_PASSES) {
            dp_parse(in, at, end, b, dw, last);
        } else if (pass == 0 && end - at > FIRST_SAMPLE) {
            /* The runs before the first one at or past the sample's end, that run's start
             * made the end (the runs after it are never looked at: the search only looks
             * back). */
            uint32_t m = dw->first, n = dw->n;
            while (m < n && dw->pos[m] < at + FIRST_SAMPLE)
                m++;
            uint32_t cnt_m = dw->cnt[m];
            dw->cnt[m] = 0;
            dw->n = m;
            dp_parse(in, at, dw->pos[m], b, dw, last->first);
            dw->n = n;
            dw->cnt[m] = cnt_m;
        } else {
            dp_parse(in, at, end, b, dw, last->first);
        }
    }
}

/* What tslp_sldeflate works in, sized for blocks of tcap bytes: kept by a caller that
 * encodes many segments on one thread (tslp_slwork_new), else made for one call. */
struct tslp_slwork {
    block *b;
    codes *c;
    uint32_t *tok; /* 5 * tcap: the tokens, then the greedy search's event arrays */
    size_t tcap;
    dpwork *dw; /* for lists narrower than 8 bits, made at the first such block */
    size_t dcap;
};

tslp_slwork *tslp_slwork_new(void)
{
    return tslp_calloc(1, sizeof(tslp_slwork));
}

void tslp_slwork_free(tslp_slwork *w)
{
    if (w == NULL)
        return;
    tslp_free(w->b);
    tslp_free(w->c);
    tslp_free(w->tok);
    dpwork_free(w->dw);
    tslp_free(w);
}

/* Makes w ready for blocks of tcap bytes of a list of `bits` bits per entry. */
static bool slwork_fit(tslp_slwork *w, size_t tcap, unsigned bits)
{
    if (w->b == NULL && (w->b = tslp_malloc(sizeof *w->b)) == NULL)
        return false;
    if (w->c == NULL && (w->c = tslp_malloc(sizeof *w->c)) == NULL)
        return false;
    if (w->tcap < tcap) {
        tslp_free(w->tok);
        w->tcap = 0;
        if ((w->tok = tslp_malloc(tcap * 5 * sizeof *w->tok)) == NULL)
            return false;
        w->tcap = tcap;
    }
    /* Room for a block's runs and as many of history's. */
    size_t runs = 2 * (tcap / DENSE_DIV + 1);
    if (bits < 8 && w->dcap < runs) {
        dpwork_free(w->dw);
        w->dcap = 0;
        if ((w->dw = dpwork_new(runs)) == NULL)
            return false;
        w->dcap = runs;
    }
    return true;
}

tsl_status tslp_sldeflate(const uint8_t *in, size_t len, size_t hist, unsigned bits,
                          tslp_sl_effort effort, tslp_slwork *work, tslp_sl_body *body,
                          tslp_buf *out, tsl_error *err)
{
    if (body != NULL) {
        body->table = -1;
        body->nbits = 0;
    }
    if (len > ((size_t)4 << 20) || hist > TSLP_SLDEFLATE_HISTORY)
        return tslp_fail(err, TSL_ERR_ARG, 0, "compress: segment of %zu bytes after %zu of "
                         "history", len, hist);
    size_t bound = TSLP_SLDEFLATE_BOUND(len);
    tsl_status st = tslp_buf_reserve(out, bound, err);
    if (st != TSL_OK)
        return st;
    if (len == 0) {
        /* No block at all would be valid too, but a segment is "one or more blocks". */
        static const uint8_t empty_stored[5] = {0x00, 0x00, 0x00, 0xFF, 0xFF};
        return tslp_buf_append(out, empty_stored, sizeof empty_stored, err);
    }
    tslp_slwork *own = NULL;
    if (work == NULL && (work = own = tslp_slwork_new()) == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "compress: out of memory");
    size_t tcap = len < BLOCK_BYTES ? len : BLOCK_BYTES;
    if (!slwork_fit(work, tcap, bits)) {
        tslp_slwork_free(own);
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "compress: out of memory");
    }
    block *b = work->b;
    codes *c = work->c;
    uint32_t *tok = work->tok;
    dpwork *dw = work->dw;
    tcap = work->tcap; /* the event arrays below are laid out at the capacity */
    bitw w = {out->data + out->len, 0, 0};
    /* From here on positions count from the history's start: in[0..hist) are bytes
     * before the segment that matches may copy (the window a decoder has after the
     * previous segments), never coded. */
    in -= hist;
    len += hist;
    for (size_t at = hist; at < len; at += BLOCK_BYTES) {
        size_t end = len - at > BLOCK_BYTES ? at + BLOCK_BYTES : len;
        size_t from = at > DP_HISTORY ? at - DP_HISTORY : 0;
        memset(b, 0, sizeof *b);
        b->tok = tok;
        b->ev.pos = tok + tcap;
        b->ev.runb = tok + 2 * tcap;
        b->ev.prev = tok + 3 * tcap;
        b->ev.cum = tok + 4 * tcap;
        /* Pass 1: the plain parse, whose symbol counts price the symbols for pass 2,
         * which also weighs long matches against the plain parse. On a sparse block
         * those counts come from its runs, found for the search anyway. At 8 bits the
         * values rarely repeat near each other: the greedy search is as small there
         * (measured: 0.3% smaller at 10^7) and faster. */
        b->lfreq[EOB] = 1;
        if (bits < 8 && find_runs(in, from, at, end, (end - at) / DENSE_DIV, dw)) {
            tslp_sl_hook *hk = tslp_sldeflate_hook;
            plain_counts(in, at, dw, b);
            const search *last = effort == TSLP_SL_QUICK &&
                                         dw->n - dw->first >= TSLP_SL_QUICK_RUNS
                                     ? &QUICK_SEARCH
                                     : &FULL_SEARCH;
            const tslp_sl_prices *t = table_search(in, at, end, bits, b, c, dw, last);
            if (t == NULL)
                two_searches(in, at, end, b, c, dw, last);
            if (hk != NULL && hk->counts != NULL)
                hk->counts(hk->ctx, bits, dw->n - dw->first, b->lfreq, b->dfreq);
            /* A segment of one block searched at a table's prices may be written as a
             * body under the table's code, to share a header with its neighbours. */
            if (t != NULL && body != NULL && at == hist && end == len &&
                (hk == NULL || !hk->no_bodies) && body_pays(b, t, c)) {
                write_body(&w, b, c);
                body->table = (int)(t - SL_PRICES);
                body->nbits = (uint32_t)((size_t)(w.p - (out->data + out->len)) * 8 + w.n);
                if (hk != NULL)
                    __atomic_fetch_add(&hk->bodies, 1, __ATOMIC_RELAXED);
                break;
            }
            write_block(&w, in + at, end - at, b, c);
            continue;
        }
        parse(in, at, end, b);
        for (unsigned pass = 0; pass < SEARCH_PASSES; pass++) {
            price(b, c);
            if (pass == 0)
                find_events(in, at, end, &b->ev);
            sum_costs(in, b);
            reset_counts(b);
            b->cost_on = true;
            parse(in, at, end, b);
        }
        write_block(&w, in + at, end - at, b, c);
    }
    flush_bits(&w); /* nothing pending: every block ends on a byte boundary */
    out->len = (size_t)(w.p - out->data);
    tslp_slwork_free(own);
    return TSL_OK;
}
