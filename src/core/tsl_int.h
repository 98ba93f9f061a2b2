/* tsl_int.h - declarations shared between libtsl's source files; never installed.
 * Library-internal symbols with external linkage are prefixed tslp_ and hidden by
 * -fvisibility=hidden; only TSL_API symbols are exported. */
#ifndef TSL_INT_H
#define TSL_INT_H

#include "tsl.h"
#include "core/limits.h"
#include "core/buf.h"

#include <stdarg.h>
#include <stdbool.h>

#if defined(__GNUC__)
#define TSLP_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define TSLP_PRINTF(f, a)
#endif

/* Records an error (first error wins) and returns code, so callers can write
 * `return tslp_fail(err, TSL_ERR_MALFORMED, off, "lst: ...");`. err may be NULL. */
tsl_status tslp_fail(tsl_error *err, tsl_status code, size_t offset, const char *fmt, ...)
    TSLP_PRINTF(4, 5);

/* Prefixes the message already in err with "what: " (used when a lower layer's error is
 * reported in the context of a field, e.g. "lst: " + "bad Adler-32 checksum"). */
void tslp_error_prefix(tsl_error *err, const char *what);

/* The effective limits: lim or the defaults, zero fields defaulted, clamped to the
 * ceilings. */
void tslp_limits_resolve(const tsl_limits *lim, tsl_limits *out);
/* One effective bound of lim (NULL: the default), for code deep in a parser. */
size_t tslp_limit_x5c(const tsl_limits *lim);
size_t tslp_limit_disclosures(const tsl_limits *lim);

/* The one reading of a tsl_trust_policy's skew: < 0 is 0, capped at TSLP_MAX_SKEW. */
int64_t tslp_policy_skew(const tsl_trust_policy *p);

/* The policy as every check applies it: now read from the clock when 0, skew as
 * tslp_policy_skew(), algs TSL_ALGS_SIGNATURE when 0, eku_oid defaulted. Resolved once
 * at each public entry point, so that the layers below read one time and one skew. */
void tslp_policy_resolve(const tsl_trust_policy *in, tsl_trust_policy *out);

/* Allocation goes through these so that tests can fail the Nth allocation and check that
 * every path returns TSL_ERR_NOMEM without leaking. */
void *tslp_malloc(size_t n);
void *tslp_calloc(size_t n, size_t size);
void *tslp_realloc(void *p, size_t n);
void tslp_free(void *p);
/* n zero bytes (n > 0) as fresh anonymous pages, which cost nothing until written; NULL
 * when out of memory. For a large buffer that is likely never touched: calloc cannot
 * promise that in a long-running process, where glibc, once a block that large has been
 * freed, serves the next from its heap and must clear it (a 10^8-entry list's 12.5 MB
 * at every publication). Free with tslp_zero_pages_free(p, n). */
void *tslp_zero_pages(size_t n);
void tslp_zero_pages_free(void *p, size_t n);

/* Calls fn(ctx, k, worker) once for each k < n, on up to TSLP_DEFLATE_MAX_THREADS
 * threads (the caller's included; fewer when the machine has fewer cores), and returns
 * when all are done. The calls must be independent. worker (below
 * TSLP_DEFLATE_MAX_THREADS) numbers the thread making the call: no two calls with the
 * same number run at once, so fn may keep per-worker scratch space in ctx. core/parallel.c. */
void tslp_parallel_run(size_t n, void (*fn)(void *ctx, size_t k, unsigned worker), void *ctx);
/* Copies n bytes into a new NUL-terminated string (tslp_malloc); NULL when out of
 * memory. */
char *tslp_strndup(const char *s, size_t n);
/* Test hook: when set >0, the Nth allocation from now fails (1 = the next one). */
void tslp_test_fail_alloc_after(long n);
/* Test hook: fn (NULL: none) is called with every block tslp_free is about to free. */
void tslp_test_on_free(void (*fn)(void *p));

/* The struct behind the opaque tsl_list. */
struct tsl_list {
    unsigned bits;     /* 1, 2, 4 or 8 */
    uint64_t size;     /* entries */
    size_t nbytes;     /* ceil(size * bits / 8) */
    uint8_t *data;     /* nbytes bytes; NULL when nbytes == 0 */
    bool mapped;       /* data is from tslp_zero_pages (tslp_list_from_stream) */
    char *aggregation_uri;
    size_t compressed_size; /* of the zlib stream it came from, 0 if none */
    uint8_t *zcache;        /* tsl_list_precompress(): the stream at zcache_level */
    size_t zcache_len;
    int zcache_level;
};

/* Drops the precompressed stream: every change to a list's entries calls this. */
void tslp_list_changed(tsl_list *l);

/* Creates a list that adopts data (allocated with tslp_malloc) of nbytes bytes, whose
 * size is nbytes * 8 / bits. On failure data is freed. */
tsl_status tslp_list_adopt(unsigned bits, uint8_t *data, size_t nbytes, tsl_list **out,
                           tsl_error *err);

/* Creates a list of size entries of bits bits whose entries are NOT loaded (they read
 * as zeros) and whose precompressed stream (zcache, as tsl_list_precompress leaves it)
 * is a copy of z[0..zlen) at level: what the store's incremental publisher
 * (store/store_segments.c) hands to the token layer, which signs from the stream only,
 * so 12.5 MB of entries are never inflated or copied. The zero entries cost nothing:
 * they are fresh pages (tslp_zero_pages), never touched. Such a list must only be
 * signed. */
tsl_status tslp_list_from_stream(unsigned bits, uint64_t size, const uint8_t *z, size_t zlen,
                                 int level, tsl_list **out, tsl_error *err);

/* True for 1, 2, 4, 8. */
bool tslp_bits_ok(uint64_t bits);

/* Builds a list from a parsed StatusList JSON object (a jansson json_t *, kept as void *
 * so this header does not need jansson.h). Used by the JWT parser for `status_list`. */
tsl_status tslp_list_from_json_value(const void *value, const tsl_limits *lim,
                                     tsl_list **out, tsl_error *err);

/* The value of one hexadecimal digit (either case), or -1: for hex input and for
 * percent-encoding, which share it. */
static inline int tslp_hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* base64url without padding written into dst, which has room for
 * TSLP_B64URL_LEN(len) chars (no terminator is written); returns the chars written.
 * The allocating form is tsl_b64url_encode(); this one lets a token be assembled in
 * one buffer (token/jwt.c) instead of copied part by part. */
#define TSLP_B64URL_LEN(len) ((len) / 3 * 4 + ((len) % 3 == 0 ? 0 : (len) % 3 + 1))
size_t tslp_b64url_encode_into(const uint8_t *in, size_t len, char *dst);

/* Standard base64 with padding (RFC 4648 section 4), as JOSE's x5c uses it. */
tsl_status tslp_b64std_encode(const uint8_t *in, size_t len, char **out, size_t *out_len,
                              tsl_error *err);
tsl_status tslp_b64std_decode(const char *in, size_t len, uint8_t **out, size_t *out_len,
                              tsl_error *err);

/* Parses untrusted JSON into a jansson json_t * (returned as void *): input size and
 * nesting depth checked against lim first, duplicate keys rejected. `what` prefixes
 * messages ("json", "jwt header", "jwk"). */
tsl_status tslp_json_load(const char *text, size_t len, const tsl_limits *lim, void **out,
                          const char *what, tsl_error *err);

/* JSON text written directly (json_write.c), into a buffer whose limit the caller set.
 * put_str appends s as a JSON string, escaped as jansson's json_dumps() escapes it;
 * TSL_ERR_ARG "<what>: not valid UTF-8 at byte N" when it is not UTF-8. put_member
 * appends `"key":`, after a comma unless first; key is plain ASCII. */
tsl_status tslp_json_put_str(tslp_buf *b, const char *s, const char *what, tsl_error *err);
tsl_status tslp_json_put_member(tslp_buf *b, bool first, const char *key, tsl_error *err);

/* The StatusList JSON object of l, {"bits":B,"lst":"...","aggregation_uri":"..."},
 * appended to b (statuslist_json.c): lst from the stream tsl_list_precompress() kept
 * when it is at this level, so a precompressed list is neither compressed nor copied
 * again. level as tsl_list_compress(). */
tsl_status tslp_statuslist_json_put(tslp_buf *b, const tsl_list *l, int level,
                                    tsl_error *err);

/* The list's zlib stream at level (zview.c): the one tsl_list_precompress() kept, when
 * it is at this level (*owned NULL: borrowed from l, valid while l is unchanged), else
 * compressed now (*owned is it: free with tslp_free). level as tsl_list_compress(). */
tsl_status tslp_list_zview(const tsl_list *l, int level, const uint8_t **z, size_t *zlen,
                           uint8_t **owned, tsl_error *err);

/* A JSON real as text for a message: the shortest form that reads back as d, with
 * ".0" added when that looks like an integer (0.0 stays "0.0", 1e19 is "1e+19"), so
 * the message shows the number as written rather than %g's rounding. */
void tslp_real_text(double d, char *buf, size_t n);

/* Hex text to bytes (b64url.c); false if it is not hex or memory ran out. Free *out
 * with tslp_free. */
bool tslp_hex_decode(const uint8_t *in, size_t len, uint8_t **out, size_t *out_len);

/* The text between leading and trailing white space: *start is its offset in `in`, *n
 * its length; returns in + *start. */
const uint8_t *tslp_trim(const uint8_t *in, size_t len, size_t *start, size_t *n);

/* Binary CBOR written as text (hex, else base64url) back to bytes; false if it is
 * neither. Free *out with tslp_free. Used where a CWT or mdoc may arrive pasted. */
bool tslp_text_to_bytes(const uint8_t *s, size_t n, uint8_t **out, size_t *out_len);

#endif /* TSL_INT_H */
