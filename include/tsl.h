/* tsl.h - the one installed header of libtsl, a C implementation of the IETF Token
 * Status List (draft-ietf-oauth-status-list-21).
 *
 * This header is the manual: every call documents what it returns, who owns what,
 * which errors it gives and which limits apply.
 *
 * Conventions
 * - Every call that can fail returns a tsl_status; TSL_OK is 0.
 * - The last parameter, `tsl_error *err`, may be NULL. When it is not, a failing call
 *   fills it with the code, a byte offset into the input where that makes sense, and a
 *   message naming what was wrong ("lst: gzip stream, expected zlib"). The first error
 *   wins: a call never overwrites a message already in err (clear it with
 *   tsl_error_clear() before reuse).
 * - `const T *` parameters are borrowed. `T **out` results belong to the caller, are
 *   set only on TSL_OK, and are freed with the matching tsl_*_free() or tsl_free().
 *   Every *_free(NULL) is a no-op.
 * - Untrusted input is bounded by a tsl_limits (NULL means tsl_limits_default()).
 * - Thread safety: distinct objects may be used from distinct threads; one object may be
 *   read (const calls) from several threads at once but not written concurrently.
 */
#ifndef TSL_H
#define TSL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(TSL_BUILDING) && defined(__GNUC__)
#define TSL_API __attribute__((visibility("default")))
#else
#define TSL_API
#endif

#define TSL_VERSION "0.1.0"
#define TSL_VERSION_NUM 0x000100

/* ---------------------------------------------------------------------------------- */
/* Errors                                                                               */

typedef enum {
    TSL_OK = 0,
    TSL_ERR_NOMEM,       /* an allocation failed */
    TSL_ERR_ARG,         /* the caller passed an invalid argument (a bug, not input) */
    TSL_ERR_BUFFER,      /* a caller-supplied buffer is too small */
    TSL_ERR_LIMIT,       /* untrusted input exceeds a tsl_limits bound */
    TSL_ERR_MALFORMED,   /* input is not well formed (encoding, syntax, types) */
    TSL_ERR_INDEX,       /* an index is outside the list */
    TSL_ERR_VALUE,       /* a status value does not fit in the list's bits */
    TSL_ERR_UNSUPPORTED, /* well formed, but a feature or parameter we do not accept */
    TSL_ERR_IO           /* reading or writing a file failed */
} tsl_status;

#define TSL_ERROR_MSG_SIZE 256

typedef struct {
    tsl_status code;              /* TSL_OK while nothing failed */
    size_t offset;                /* byte offset into the input, or 0 when not meaningful */
    char msg[TSL_ERROR_MSG_SIZE]; /* NUL-terminated, never contains secrets */
} tsl_error;

/* A static, never-NULL description of a status code. */
TSL_API const char *tsl_strerror(tsl_status code);

/* Resets err to "no error" so it can be reused. err may be NULL. */
TSL_API void tsl_error_clear(tsl_error *err);

/* ---------------------------------------------------------------------------------- */
/* Limits on untrusted input                                                            */

/* Every decoder takes one of these. Zero in a field means "the default". Values above
 * the compile-time ceilings below are clamped to them. */
typedef struct {
    size_t max_input;    /* bytes of one encoded input (JSON, CBOR, base64url text) */
    size_t max_inflated; /* bytes a compressed `lst` may inflate to */
    size_t max_depth;    /* nesting depth of JSON or CBOR */
} tsl_limits;

#define TSL_DEFAULT_MAX_INPUT ((size_t)128 << 20)   /* 128 MiB */
#define TSL_DEFAULT_MAX_INFLATED ((size_t)64 << 20) /* 64 MiB: 2^29 one-bit entries */
#define TSL_DEFAULT_MAX_DEPTH ((size_t)16)
#define TSL_MAX_INPUT_CEILING ((size_t)1 << 30)     /* 1 GiB */
#define TSL_MAX_INFLATED_CEILING ((size_t)1 << 32)  /* 4 GiB: 2^35 one-bit entries */
#define TSL_MAX_DEPTH_CEILING ((size_t)64)

/* Fills lim with the defaults above. */
TSL_API void tsl_limits_default(tsl_limits *lim);

/* ---------------------------------------------------------------------------------- */
/* Status values (spec section 7)                                                       */

#define TSL_STATUS_VALID 0x00
#define TSL_STATUS_INVALID 0x01
#define TSL_STATUS_SUSPENDED 0x02
#define TSL_STATUS_APPLICATION_SPECIFIC 0x03

/* The registered name of a status value: "VALID", "INVALID", "SUSPENDED",
 * "APPLICATION_SPECIFIC" (0x03 and 0x0C-0x0F) or "UNKNOWN" for anything else. Static. */
TSL_API const char *tsl_status_name(unsigned value);

/* ---------------------------------------------------------------------------------- */
/* Status lists (spec section 4.1)                                                      */

/* A packed list of entries of 1, 2, 4 or 8 bits, LSB-first within each byte, bytes in
 * natural order. Entries start at 0 (VALID). Optionally carries an aggregation_uri. */
typedef struct tsl_list tsl_list;

/* Creates a list of `size` entries of `bits` bits, all 0. bits must be 1, 2, 4 or 8;
 * size may be 0. The packed array is ceil(size * bits / 8) bytes.
 * Errors: TSL_ERR_ARG (bad bits), TSL_ERR_LIMIT (size too large to address),
 * TSL_ERR_NOMEM. */
TSL_API tsl_status tsl_list_new(unsigned bits, uint64_t size, tsl_list **out,
                                tsl_error *err);

/* Creates a list from a packed byte array (copied). Its size is len * 8 / bits entries,
 * the only size a reader can know (section 8.3). */
TSL_API tsl_status tsl_list_from_bytes(unsigned bits, const uint8_t *bytes, size_t len,
                                       tsl_list **out, tsl_error *err);

/* Frees l and everything it owns. NULL is fine. */
TSL_API void tsl_list_free(tsl_list *l);

/* Bits per entry (1, 2, 4 or 8). */
TSL_API unsigned tsl_list_bits(const tsl_list *l);

/* Number of entries. */
TSL_API uint64_t tsl_list_size(const tsl_list *l);

/* Bytes of the zlib stream l was decoded from (tsl_list_decompress() and the parsers),
 * or 0 for a list built another way. */
TSL_API size_t tsl_list_compressed_size(const tsl_list *l);

/* The packed bytes, valid until l is changed or freed; *len receives their count. */
TSL_API const uint8_t *tsl_list_bytes(const tsl_list *l, size_t *len);

/* Changes the number of entries. New entries are 0; entries past a smaller size are
 * dropped. Errors as tsl_list_new(); on failure l is unchanged. */
TSL_API tsl_status tsl_list_resize(tsl_list *l, uint64_t size, tsl_error *err);

/* Reads entry idx into *value. TSL_ERR_INDEX if idx >= size. */
TSL_API tsl_status tsl_list_get(const tsl_list *l, uint64_t idx, unsigned *value);

/* Sets entry idx. TSL_ERR_INDEX if idx >= size; TSL_ERR_VALUE if value >= 2^bits (the
 * value is never truncated). On failure nothing changes. */
TSL_API tsl_status tsl_list_set(tsl_list *l, uint64_t idx, unsigned value);

/* Sets entries first..last inclusive to value. Checks as tsl_list_set(); on failure
 * nothing changes. */
TSL_API tsl_status tsl_list_set_range(tsl_list *l, uint64_t first, uint64_t last,
                                      unsigned value, tsl_error *err);

/* One (index, value) pair of a batch. */
typedef struct {
    uint64_t index;
    uint32_t value;
} tsl_entry;

/* Applies n pairs in order, all or nothing: every pair is checked first, and on the
 * first bad one the call fails with err->offset set to its position in the array and
 * the list unchanged. */
TSL_API tsl_status tsl_list_apply(tsl_list *l, const tsl_entry *entries, size_t n,
                                  tsl_error *err);

/* Counts entries per value: counts[v] for v < 2^bits; the other cells are set to 0. */
TSL_API void tsl_list_count(const tsl_list *l, uint64_t counts[256]);

/* The optional aggregation_uri (section 9.2), or NULL. Valid until l changes or is
 * freed. */
TSL_API const char *tsl_list_aggregation_uri(const tsl_list *l);

/* Sets (a copy of) the aggregation_uri, or removes it with NULL. */
TSL_API tsl_status tsl_list_set_aggregation_uri(tsl_list *l, const char *uri,
                                                tsl_error *err);

/* ---------------------------------------------------------------------------------- */
/* Compression (section 4.1): DEFLATE in the zlib container                             */

/* Compression levels: 1 (fastest) to 12 (smallest). TSL_LEVEL_DEFAULT is the highest,
 * as the spec recommends; TSL_LEVEL_FAST is about 35 times faster and about 25% larger
 * on sparse lists (see BENCHMARKS.md). */
#define TSL_LEVEL_DEFAULT 12
#define TSL_LEVEL_FAST 6

/* Compresses the packed bytes of l into a zlib stream. *out (caller frees with
 * tsl_free()) and *out_len are set on success. level 0 means TSL_LEVEL_DEFAULT. */
TSL_API tsl_status tsl_list_compress(const tsl_list *l, int level, uint8_t **out,
                                     size_t *out_len, tsl_error *err);

/* Inflates a zlib stream into a new list of `bits`. Strict: a gzip stream, a raw
 * deflate stream, a bad header, a bad Adler-32 checksum, a truncated stream and bytes
 * after the end of the stream are TSL_ERR_MALFORMED, each with its own message. More
 * than lim->max_inflated bytes of output is TSL_ERR_LIMIT, found while streaming and
 * before anything larger is allocated. */
TSL_API tsl_status tsl_list_decompress(unsigned bits, const uint8_t *z, size_t z_len,
                                       const tsl_limits *lim, tsl_list **out,
                                       tsl_error *err);

/* ---------------------------------------------------------------------------------- */
/* base64url (RFC 4648 section 5, no padding)                                           */

/* Encodes len bytes. *out is NUL-terminated; *out_len excludes the NUL. out_len may be
 * NULL. Free *out with tsl_free(). */
TSL_API tsl_status tsl_b64url_encode(const uint8_t *in, size_t len, char **out,
                                     size_t *out_len, tsl_error *err);

/* Decodes strictly: only A-Z a-z 0-9 - _; padding '=', the '+' '/' alphabet, white
 * space, a length of 4k+1 and non-zero trailing bits are TSL_ERR_MALFORMED with the
 * offending offset. Free *out with tsl_free(). */
TSL_API tsl_status tsl_b64url_decode(const char *in, size_t len, uint8_t **out,
                                     size_t *out_len, tsl_error *err);

/* ---------------------------------------------------------------------------------- */
/* The StatusList object (sections 4.2 and 4.3)                                        */

/* JSON: {"bits":B,"lst":"<base64url of the zlib stream>"[,"aggregation_uri":"..."]}.
 * *out is NUL-terminated text; free it with tsl_free(). level as tsl_list_compress(). */
TSL_API tsl_status tsl_list_to_json(const tsl_list *l, int level, char **out,
                                    size_t *out_len, tsl_error *err);

/* Parses a StatusList JSON object (duplicate keys rejected; unknown members ignored;
 * bits must be the integer 1, 2, 4 or 8; lst a non-empty base64url string;
 * aggregation_uri a string when present) and inflates lst within lim. */
TSL_API tsl_status tsl_list_from_json(const char *json, size_t len,
                                      const tsl_limits *lim, tsl_list **out,
                                      tsl_error *err);

/* CBOR: a map {"bits": uint, "lst": bstr[, "aggregation_uri": tstr]}. Free *out with
 * tsl_free(). */
TSL_API tsl_status tsl_list_to_cbor(const tsl_list *l, int level, uint8_t **out,
                                    size_t *out_len, tsl_error *err);

/* Parses a StatusList CBOR map with a bounded walk that allocates nothing from declared
 * lengths: a declared length larger than the bytes left is TSL_ERR_MALFORMED. Rules as
 * tsl_list_from_json(); `lst` must be a byte string (text is rejected); trailing bytes
 * after the map are rejected. */
TSL_API tsl_status tsl_list_from_cbor(const uint8_t *cbor, size_t len,
                                      const tsl_limits *lim, tsl_list **out,
                                      tsl_error *err);

/* ---------------------------------------------------------------------------------- */
/* Memory                                                                               */

/* Frees memory the library returned through a `uint8_t **` or `char **` result. */
TSL_API void tsl_free(void *p);

#ifdef __cplusplus
}
#endif

#endif /* TSL_H */
