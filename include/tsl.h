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

/* The version of the libtsl that is running (TSL_VERSION of the library, which may be
 * newer than the header a program was built with). Static text. */
TSL_API const char *tsl_version(void);

/* A library libtsl runs with. version is the running library's own (it may differ from
 * the one libtsl was built against after a security update), except where compiled is
 * set: libdeflate and libcbor have no call that says, so theirs is the version libtsl
 * was built against (the static library is then inside libtsl). Static text. */
typedef struct {
    const char *name;    /* "zlib", "libdeflate", "OpenSSL", "libcbor", "jansson",
                          * "SQLite", "libpq", "libcurl" */
    const char *version; /* "1.2.13" */
    int compiled;        /* 1: the version built against, not asked at run time */
} tsl_dependency;

/* The libraries libtsl runs with, in a static table of *n entries (for `tsl
 * --version` and bug reports). Thread-safe; the first call fills the table. */
TSL_API const tsl_dependency *tsl_dependencies(size_t *n);

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
    TSL_ERR_IO,          /* reading or writing a file failed */
    TSL_ERR_ALG,         /* algorithm unknown, "none", or not in the allow-list */
    TSL_ERR_KEY,         /* no usable key: unreadable, wrong type for alg, no kid match */
    TSL_ERR_SIGNATURE,   /* the signature or MAC does not verify */
    TSL_ERR_TYP,         /* the token's typ is not the Status List Token type */
    TSL_ERR_EXPIRED,     /* exp has passed, or iat lies in the future */
    TSL_ERR_CLAIM,       /* a claim is missing, mistyped or does not match (sub, ttl) */
    TSL_ERR_TRUST,       /* a certificate chain does not reach a trust anchor, or EKU */
    TSL_ERR_CRYPTO,      /* the crypto library failed unexpectedly */
    TSL_ERR_NOT_FOUND,   /* no such item: a store has no list of that id */
    TSL_ERR_EXISTS,      /* the item exists already: a list id, or a path a list serves */
    TSL_ERR_DENIED,      /* not authenticated, or not authorised for this (an API key) */
    TSL_ERR_CONFLICT     /* a request clashes with an earlier one: an Idempotency-Key
                          * reused for another request, or one still in progress */
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
 * the compile-time ceilings below are clamped to them. A lowered bound is refused with
 * TSL_ERR_LIMIT and a message naming it. Signing and publishing, which read no
 * untrusted input, use the defaults. Internal caps that are not a caller's choice live
 * in src/core/limits.h. */
typedef struct {
    size_t max_input;       /* bytes of one encoded input (JSON, CBOR, base64url text) */
    size_t max_inflated;    /* bytes a compressed `lst` may inflate to */
    size_t max_depth;       /* nesting depth of JSON or CBOR */
    uint64_t max_entries;   /* entries of one decoded list (after max_inflated) */
    size_t max_x5c;         /* certificates in one x5c header or COSE x5chain */
    size_t max_disclosures; /* disclosures presented with one SD-JWT */
    size_t max_uri;         /* bytes of a Referenced Token's status_list uri */
} tsl_limits;

#define TSL_DEFAULT_MAX_INPUT ((size_t)128 << 20)   /* 128 MiB */
#define TSL_DEFAULT_MAX_INFLATED ((size_t)64 << 20) /* 64 MiB: 2^29 one-bit entries */
#define TSL_DEFAULT_MAX_DEPTH ((size_t)16)
#define TSL_DEFAULT_MAX_ENTRIES ((uint64_t)1 << 35) /* max_inflated bounds it first */
#define TSL_DEFAULT_MAX_X5C ((size_t)10)
#define TSL_DEFAULT_MAX_DISCLOSURES ((size_t)1024)
#define TSL_DEFAULT_MAX_URI ((size_t)4096)
#define TSL_MAX_INPUT_CEILING ((size_t)1 << 30)     /* 1 GiB */
#define TSL_MAX_INFLATED_CEILING ((size_t)1 << 32)  /* 4 GiB: 2^35 one-bit entries */
#define TSL_MAX_DEPTH_CEILING ((size_t)64)
#define TSL_MAX_ENTRIES_CEILING ((uint64_t)1 << 35) /* what 4 GiB of one-bit entries hold */
#define TSL_MAX_X5C_CEILING ((size_t)16)            /* a chain is leaf, intermediates, root */
#define TSL_MAX_DISCLOSURES_CEILING ((size_t)8192)  /* the digests one SD-JWT may reference */
#define TSL_MAX_URI_CEILING ((size_t)4096)          /* TSL_MAX_URI: a check result holds it */

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

/* A status value as a word that tsl_status_parse() reads back: the name for 0 to 3,
 * else the decimal number, written into buf (the value's low 16 bits). */
#define TSL_STATUS_LABEL_SIZE 8
TSL_API const char *tsl_status_label(unsigned value, char buf[TSL_STATUS_LABEL_SIZE]);

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

/* For a list built from entries in any order: grows l so that index idx fits, to at
 * least 1024 entries and then by doubling (few reallocations), never past max_bytes
 * packed. Nothing to do when idx is below the size. TSL_ERR_LIMIT when idx does not fit
 * in max_bytes; l is then unchanged. */
TSL_API tsl_status tsl_list_grow(tsl_list *l, uint64_t idx, uint64_t max_bytes,
                                 tsl_error *err);

/* Sets the size to cover index highest and no more, rounded up to a whole byte (a size
 * in bits that is a multiple of 8, spec section 13.4): what tsl_list_grow() built. */
TSL_API tsl_status tsl_list_fit(tsl_list *l, uint64_t highest, tsl_error *err);

/* One line "IDX VALUE" of `tsl encode`'s input applied to l: '#' starts a comment,
 * blanks, tabs and CR separate, VALUE is a number or a status name (tsl_status_parse).
 * A line with no entry leaves *set 0; otherwise entry *idx is set and *set is 1. With
 * max_grow_bytes 0 the size is fixed; else l grows to fit (tsl_list_grow). line is
 * changed (split in place). Each refusal names line lineno: TSL_ERR_MALFORMED for the
 * syntax, TSL_ERR_VALUE for a value over bits, TSL_ERR_INDEX past a fixed size,
 * TSL_ERR_LIMIT past max_grow_bytes (the message says --size allows it). */
TSL_API tsl_status tsl_list_set_line(tsl_list *l, char *line, unsigned long lineno,
                                     uint64_t max_grow_bytes, uint64_t *idx, int *set,
                                     tsl_error *err);

/* Reads entry idx into *value. TSL_ERR_INDEX if idx >= size; TSL_ERR_ARG if l or value
 * is NULL. err may be NULL (the hot path never touches it). */
TSL_API tsl_status tsl_list_get(const tsl_list *l, uint64_t idx, unsigned *value,
                                tsl_error *err);

/* Sets entry idx. TSL_ERR_INDEX if idx >= size; TSL_ERR_VALUE if value >= 2^bits (the
 * value is never truncated). On failure nothing changes. err may be NULL. */
TSL_API tsl_status tsl_list_set(tsl_list *l, uint64_t idx, unsigned value, tsl_error *err);

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

/* Compression levels. 1 (fastest) to 12 (smallest) are libdeflate's general-purpose
 * levels; lists over 1 MiB packed are compressed at levels 9 to 12 in parallel 1 MiB
 * chunks joined into one stream. TSL_LEVEL_STATUSLIST (13, the default) is libtsl's own
 * encoder for status lists: runs of a repeated byte as distance-1 matches, repeats of
 * earlier stretches found through the list's non-zero bytes, each 64 KiB segment
 * copying from the end of the one before, encoded in parallel and joined; a random
 * list's segments are coded with Huffman codes measured once for their density and
 * joined under one header with a code fitted to them all, other segments get codes
 * fitted to them. The issuer store encodes its segments with a quicker search of the
 * same encoder and re-encodes only the changed segments and those right after them; its
 * stream measured 0 to 0.94% larger (README, "The store searches less than a full
 * encode").
 * Measured on the bench generator's lists with 1% set (BENCHMARKS.md, "A full search
 * for full encodes"), the default is smaller than zlib -9 at every width (8% at 1 bit,
 * 7% at 2 bits, 13% at 4 bits, 19% at 8 bits) in 2 to 14% of its time, and from 0.5%
 * smaller to 0.6% larger than libdeflate level 12 at 1 to 4 bits, 3% larger at 8 bits
 * (libdeflate 12 takes 6 to 150 times as long). A list of a short pattern repeated or
 * of a regular stride costs the default 0.1 to 3 times the CPU of such a random list
 * of the same width (BENCHMARKS.md, `bench encode_shape`): the default prices a random
 * list's symbols from tables measured once, and searches other lists (patterns,
 * strides, revocations in batches) twice. TSL_LEVEL_FAST (libdeflate 6) takes a
 * quarter (1 bit) to seven tenths (8 bits) of the default's CPU at 10^8 entries, on one
 * thread where the default uses every core (so at 8 bits it takes longer), and is 23%
 * (8 bits) to 38% (4 bits) larger than it; against zlib -9 it is 17% larger at 1 bit
 * and the same size at 8 bits (10^7 entries). Every level's output is a standard zlib
 * stream and does not depend on the number of cores. */
#define TSL_LEVEL_STATUSLIST 13
#define TSL_LEVEL_DEFAULT TSL_LEVEL_STATUSLIST
#define TSL_LEVEL_FAST 6

/* Compresses the packed bytes of l into a zlib stream. *out (caller frees with
 * tsl_free()) and *out_len are set on success. level 0 means TSL_LEVEL_DEFAULT. */
TSL_API tsl_status tsl_list_compress(const tsl_list *l, int level, uint8_t **out,
                                     size_t *out_len, tsl_error *err);

/* Compresses l now and keeps the stream with it, so that later tsl_list_compress(),
 * tsl_list_to_json(), tsl_list_to_cbor() and tsl_token_sign() calls at the same level
 * reuse it instead of compressing again (a publisher signing JWT and CWT compresses
 * once). Any change to the list's entries drops it. level as tsl_list_compress(). */
TSL_API tsl_status tsl_list_precompress(tsl_list *l, int level, tsl_error *err);

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

/* Parses a StatusList JSON object (duplicate keys rejected; nesting bounded by
 * lim->max_depth; unknown members ignored; bits must be the integer 1, 2, 4 or 8; lst a
 * non-empty base64url string; aggregation_uri a string when present, null being read
 * as absent) and inflates lst within lim. */
TSL_API tsl_status tsl_list_from_json(const char *json, size_t len,
                                      const tsl_limits *lim, tsl_list **out,
                                      tsl_error *err);

/* CBOR: a map {"bits": uint, "lst": bstr[, "aggregation_uri": tstr]}. Free *out with
 * tsl_free(). */
TSL_API tsl_status tsl_list_to_cbor(const tsl_list *l, int level, uint8_t **out,
                                    size_t *out_len, tsl_error *err);

/* Parses a StatusList CBOR map with a bounded walk that allocates nothing from declared
 * lengths: a declared length larger than the bytes left is TSL_ERR_MALFORMED. Rules as
 * tsl_list_from_json(); `lst` must be a byte string (text is rejected); an
 * aggregation_uri of null or undefined (0xf7) is read as absent; trailing bytes after the
 * map are rejected. */
TSL_API tsl_status tsl_list_from_cbor(const uint8_t *cbor, size_t len,
                                      const tsl_limits *lim, tsl_list **out,
                                      tsl_error *err);

/* ---------------------------------------------------------------------------------- */
/* Algorithms and keys                                                                  */

/* The algorithms we sign and verify with. "none" is not one of them and never will be. */
typedef enum {
    TSL_ALG_UNKNOWN = 0,
    TSL_ALG_ES256, /* ECDSA P-256 SHA-256; JOSE and COSE use raw r||s (64 bytes) */
    TSL_ALG_ES384, /* ECDSA P-384 SHA-384 (96 bytes) */
    TSL_ALG_ES512, /* ECDSA P-521 SHA-512 (132 bytes) */
    TSL_ALG_EDDSA, /* Ed25519 */
    TSL_ALG_RS256, /* RSASSA-PKCS1-v1_5; RSA keys must be at least 2048 bits */
    TSL_ALG_RS384,
    TSL_ALG_RS512,
    TSL_ALG_PS256, /* RSASSA-PSS, salt length = hash length */
    TSL_ALG_PS384,
    TSL_ALG_PS512,
    TSL_ALG_HS256 /* HMAC SHA-256 (a MAC: JWT, or COSE_Mac0 for CWT) */
} tsl_alg;

#define TSL_ALG_COUNT 12
/* Allow-lists are bit masks of these. */
#define TSL_ALG_BIT(a) (1u << (unsigned)(a))
/* Every signature algorithm; HS256 is a MAC and must be allowed explicitly. */
#define TSL_ALGS_SIGNATURE (((1u << TSL_ALG_COUNT) - 1) & ~1u & ~TSL_ALG_BIT(TSL_ALG_HS256))

/* "ES256", "EdDSA", ... or NULL for TSL_ALG_UNKNOWN. Static. */
TSL_API const char *tsl_alg_name(tsl_alg alg);

/* The algorithm named by a JOSE "alg" (exact, case-sensitive) or TSL_ALG_UNKNOWN, which
 * is also the answer for "none". */
TSL_API tsl_alg tsl_alg_from_name(const char *name);

/* The COSE algorithm identifier (-7 ES256, -35, -36, -8 EdDSA, -257..-259 RS*,
 * -37..-39 PS*, 5 HMAC 256/256), or 0 for TSL_ALG_UNKNOWN. */
TSL_API int64_t tsl_alg_cose_id(tsl_alg alg);

/* The algorithm for a COSE identifier, or TSL_ALG_UNKNOWN. */
TSL_API tsl_alg tsl_alg_from_cose_id(int64_t id);

/* A public key, a private key (which can also verify), or an HMAC secret, with an
 * optional kid and the certificate it came from, if any. Reference counted inside; the
 * caller's handle is freed with tsl_key_free(). */
typedef struct tsl_key tsl_key;

/* Reads one key from PEM text: a private key (PKCS#8 unencrypted, SEC1 "EC PRIVATE KEY",
 * PKCS#1 "RSA PRIVATE KEY"), a public key (SPKI "PUBLIC KEY", PKCS#1 "RSA PUBLIC KEY")
 * or an X.509 certificate (its public key; the certificate is kept). The first PEM block
 * is used. Errors: TSL_ERR_MALFORMED (not PEM, bad DER), TSL_ERR_UNSUPPORTED (a key
 * type or curve we do not sign with, an encrypted key), TSL_ERR_KEY (RSA under 2048
 * bits). */
TSL_API tsl_status tsl_key_from_pem(const char *pem, size_t len, tsl_key **out,
                                    tsl_error *err);

/* Reads one JWK (RFC 7517): kty "EC" (P-256, P-384, P-521), "OKP" (Ed25519), "RSA" or
 * "oct" (at least 32 bytes, for HS256). With "d" (or "k") it is private. "kid" and
 * "alg" are kept; a key with "alg" can only be used with that algorithm. So are "use"
 * and "key_ops" (RFC 7517 sections 4.2, 4.3): a key whose "use" is not "sig" (or whose
 * "key_ops" lists neither "sign" nor "verify") is usable with no algorithm, and one
 * whose "key_ops" lacks "verify" joins no keyset. Members are checked strictly
 * (base64url, lengths, the point on the curve, "key_ops" an array of distinct strings). */
TSL_API tsl_status tsl_key_from_jwk(const char *json, size_t len, tsl_key **out,
                                    tsl_error *err);

/* Reads a key file: PEM or JWK, told apart by the content. A file with private
 * material must be a regular file not readable or writable by group or others
 * (TSL_ERR_KEY names the mode), as ssh does for its keys. TSL_ERR_IO if unreadable, or
 * if it is not a regular file (a FIFO, a directory, a device, a socket: refused without
 * blocking, as are the files of tsl_keyset_load, tsl_trust_load, tsl_cert_chain_load). */
TSL_API tsl_status tsl_key_load(const char *path, tsl_key **out, tsl_error *err);

TSL_API void tsl_key_free(tsl_key *key);

/* 1 if the key can sign (private key or HMAC secret), else 0. */
TSL_API int tsl_key_is_private(const tsl_key *key);

/* The key's kid, or NULL. Valid until the key is changed or freed. */
TSL_API const char *tsl_key_kid(const tsl_key *key);

/* Sets (a copy of) the kid, or removes it with NULL. */
TSL_API tsl_status tsl_key_set_kid(tsl_key *key, const char *kid, tsl_error *err);

/* The algorithm a key signs with when none is asked for: the JWK's "alg" if it had
 * one, else ES256/ES384/ES512 by curve, EdDSA for Ed25519, PS256 for RSA, HS256 for a
 * secret. */
TSL_API tsl_alg tsl_key_default_alg(const tsl_key *key);

/* TSL_OK if the key can be used with alg (type, curve and the JWK's "alg" agree, and
 * its JWK's "use" or "key_ops" allow signatures), else TSL_ERR_KEY with a message naming
 * both. */
TSL_API tsl_status tsl_key_check_alg(const tsl_key *key, tsl_alg alg, tsl_error *err);

/* The RFC 7638 JWK SHA-256 thumbprint, base64url: the kid `tsl keygen` assigns. Free
 * *out with tsl_free(). */
TSL_API tsl_status tsl_key_thumbprint(const tsl_key *key, char **out, tsl_error *err);

/* The public JWK as compact JSON (never the private members; an HMAC secret has no
 * public form and gives TSL_ERR_KEY), with "kid" if the key has one. Free with
 * tsl_free(). */
TSL_API tsl_status tsl_key_to_public_jwk(const tsl_key *key, char **out, tsl_error *err);

/* The private key as PEM (PKCS#8), or for an HMAC secret, a private JWK. Free with
 * tsl_free(); the library wipes its own copies, the caller should wipe this one. */
TSL_API tsl_status tsl_key_to_private(const tsl_key *key, char **out, tsl_error *err);

/* Writes text (tsl_key_to_private's) to a new file at path, created with mode 0600 and
 * never over an existing one, and syncs it. TSL_ERR_IO "PATH: reason" otherwise. */
TSL_API tsl_status tsl_write_private_file(const char *path, const char *text,
                                          tsl_error *err);

/* Generates a new key for alg (RSA: 3072 bits; HS256: 32 random bytes) from OpenSSL's
 * CSPRNG. */
TSL_API tsl_status tsl_key_generate(tsl_alg alg, tsl_key **out, tsl_error *err);

/* A set of keys to verify with, matched by kid. */
typedef struct tsl_keyset tsl_keyset;

/* Bounds on one JWKS (text or file) and on the keys one key file adds: real ones hold a
 * handful of keys, and each key is validated as it is read, so an unbounded set costs
 * seconds and hundreds of MB. Beyond them: TSL_ERR_LIMIT naming the bound. */
#define TSL_JWKS_MAX_KEYS 256                   /* members of "keys"; keys of a PEM file */
#define TSL_JWKS_MAX_BYTES ((size_t)1 << 20)    /* 1 MiB of JWKS (or JWK) text */

TSL_API tsl_status tsl_keyset_new(tsl_keyset **out, tsl_error *err);
TSL_API void tsl_keyset_free(tsl_keyset *set);

/* Adds a reference to key (the caller keeps and still frees its own handle). A JWK whose
 * "use" is not "sig", or whose "key_ops" lacks "verify", is refused (TSL_ERR_KEY). */
TSL_API tsl_status tsl_keyset_add(tsl_keyset *set, tsl_key *key, tsl_error *err);

/* Adds every key of a JWKS ({"keys": [...]}) text, at most TSL_JWKS_MAX_KEYS members in
 * TSL_JWKS_MAX_BYTES. Skipped (see tsl_keyset_skipped): a key whose kty, crv or alg we
 * do not support (RFC 7517 section 5), and one not for verifying ("use" other than
 * "sig", "key_ops" without "verify"); TSL_ERR_KEY when that leaves no key at all. A
 * malformed key is an error; on any error the set is unchanged. */
TSL_API tsl_status tsl_keyset_add_jwks(tsl_keyset *set, const char *json, size_t len,
                                       tsl_error *err);

/* Adds the key or keys of a file: PEM, JWK or JWKS (checked as tsl_key_load(), and
 * as tsl_keyset_add() or tsl_keyset_add_jwks()). */
TSL_API tsl_status tsl_keyset_load(tsl_keyset *set, const char *path, tsl_error *err);

/* tsl_keyset_load() into *set, creating the set first when *set is NULL (the caller
 * frees it, also after an error). For a set built from several files. */
TSL_API tsl_status tsl_keyset_load_into(tsl_keyset **set, const char *path, tsl_error *err);

/* The algorithms to allow by default when verifying with set: every signature
 * algorithm (TSL_ALGS_SIGNATURE), plus HS256 only when set holds a secret key. NULL set:
 * TSL_ALGS_SIGNATURE. */
TSL_API uint32_t tsl_keyset_algs(const tsl_keyset *set);

/* How many JWKS members were skipped so far, and in *why (when not NULL; borrowed,
 * valid until the set changes) why the first of them was, e.g. "keys[1] (kid \"e\"):
 * key: its JWK \"use\" is \"enc\", ...". */
TSL_API size_t tsl_keyset_skipped(const tsl_keyset *set, const char **why);

TSL_API size_t tsl_keyset_count(const tsl_keyset *set);

/* The i-th key (borrowed), or NULL past the end. */
TSL_API const tsl_key *tsl_keyset_get(const tsl_keyset *set, size_t i);

/* Trust anchors for x5c / x5chain: X.509 certificates. */
typedef struct tsl_trust tsl_trust;

TSL_API tsl_status tsl_trust_new(tsl_trust **out, tsl_error *err);
TSL_API void tsl_trust_free(tsl_trust *trust);

/* Adds every certificate in PEM text (TSL_ERR_MALFORMED if there is none). */
TSL_API tsl_status tsl_trust_add_pem(tsl_trust *trust, const char *pem, size_t len,
                                     tsl_error *err);

/* Adds every certificate in a PEM file. */
TSL_API tsl_status tsl_trust_load(tsl_trust *trust, const char *path, tsl_error *err);

/* tsl_trust_load() into *trust, creating it first when *trust is NULL (the caller frees
 * it, also after an error). */
TSL_API tsl_status tsl_trust_load_into(tsl_trust **trust, const char *path, tsl_error *err);

/* One "trust this file" rule for a relying party: a file holding certificates adds them
 * as anchors to *trust; a file without any is read as keys (PEM public keys, a JWK or a
 * JWKS) into *keys (both created when NULL; the caller frees them). TSL_ERR_IO when the
 * file cannot be read; otherwise the keys' error when it is neither. */
TSL_API tsl_status tsl_trust_or_keys_load(tsl_trust **trust, tsl_keyset **keys,
                                          const char *path, tsl_error *err);

/* A certificate chain, leaf first: the one shape of a chain in this API. Signing puts it
 * in a token's x5c / x5chain (tsl_token_params.x5c, tsl_signer); trust anchors can be
 * added from one (tsl_trust_add_chain). Immutable once built; free with
 * tsl_cert_chain_free(). */
typedef struct tsl_cert_chain tsl_cert_chain;

/* Reads every CERTIFICATE block of a PEM file, in order (TSL_ERR_MALFORMED if there is
 * none); other blocks are skipped. The file is read as tsl_key_load reads keys. */
TSL_API tsl_status tsl_cert_chain_load(const char *path, tsl_cert_chain **out,
                                       tsl_error *err);

/* The same from PEM text. */
TSL_API tsl_status tsl_cert_chain_from_pem(const char *pem, size_t len,
                                           tsl_cert_chain **out, tsl_error *err);

/* A chain from n DER certificates (copied; they are not parsed here, but a token's
 * reader will), leaf first. TSL_ERR_ARG for n == 0 or an empty certificate. */
TSL_API tsl_status tsl_cert_chain_from_der(const uint8_t *const *der, const size_t *len,
                                           size_t n, tsl_cert_chain **out,
                                           tsl_error *err);

/* The number of certificates (0 for NULL), and the i-th one's DER bytes (borrowed from
 * the chain; NULL past the end). */
TSL_API size_t tsl_cert_chain_count(const tsl_cert_chain *chain);
TSL_API const uint8_t *tsl_cert_chain_der(const tsl_cert_chain *chain, size_t i,
                                          size_t *len);

/* NULL is fine. */
TSL_API void tsl_cert_chain_free(tsl_cert_chain *chain);

/* Adds every certificate of a chain as a trust anchor. */
TSL_API tsl_status tsl_trust_add_chain(tsl_trust *trust, const tsl_cert_chain *chain,
                                       tsl_error *err);

/* The placeholder OID of id-kp-oauthStatusSigning: the spec still has it as
 * 1.3.6.1.5.5.7.3.TBD, so callers that require the EKU pass the OID their ecosystem
 * uses; this default is what our tests and `tsl keygen` certificates use. */
#define TSL_EKU_STATUS_SIGNING_DEFAULT "1.3.6.1.5.5.7.3.99"

/* The trust policy: whom a verification trusts and what time it is. One struct, read
 * alike by Status List Token verification (tsl_verify_opts), Referenced Token
 * validation (tsl_ref_opts) and the verifier (tsl_verifier_opts), which embed it as
 * their `policy`. Zero-initialise and set what you need; pointers are borrowed (the
 * verifier keeps them until it is freed, and copies eku_oid). */
typedef struct {
    const tsl_keyset *keys;  /* candidate keys: those whose kid equals the token's, and
                              * those given without a kid (trusted for any kid); every
                              * key when the token has no kid */
    const tsl_trust *trust;  /* anchors for x5c / x5chain (mdoc IssuerAuth needs them);
                              * without anchors a token's certificates are never trusted */
    uint32_t algs;           /* allow-list of TSL_ALG_BIT()s; 0: TSL_ALGS_SIGNATURE */
    int require_eku;         /* a Status List Token's x5c leaf must carry eku_oid
                              * (Referenced Tokens are not held to it) */
    const char *eku_oid;     /* NULL: TSL_EKU_STATUS_SIGNING_DEFAULT */
    int64_t skew;            /* seconds of clock tolerance, the same for every time check
                              * against now, in both tokens: exp (mdoc validUntil) counts
                              * as passed only at now - skew, nbf, iat (mdoc validFrom)
                              * as ahead only beyond now + skew, and a KB-JWT's
                              * kb_max_age is stretched by it. < 0: 0; at most 366 days
                              * are honoured. A historical check (a time asked for with
                              * ?time=) is exact: that time is not a clock reading */
    int64_t now;             /* unix seconds to verify at; 0: the clock */
} tsl_trust_policy;

/* ---------------------------------------------------------------------------------- */
/* The form of an input                                                                 */

/* What a buffer holds, told from its bytes the one way the library and the command
 * both use. Binary CBOR is recognised by its first byte alone (no trimming): an array
 * or a tag (a COSE message, a CWT) is TSL_FORM_CBOR, a map (a StatusList, an mdoc) is
 * TSL_FORM_CBOR_MAP. Anything else is text, trimmed of ASCII whitespace: nothing left
 * is TSL_FORM_EMPTY; '{' first is TSL_FORM_JSON; a '~' makes it an SD-JWT, else a '.'
 * a JWT (JWS compact); other text is TSL_FORM_TEXT, a CWT or mdoc written as hex or
 * base64url for the caller to decode. */
typedef enum {
    TSL_FORM_EMPTY = 0,
    TSL_FORM_CBOR,     /* binary CBOR array or tag */
    TSL_FORM_CBOR_MAP, /* binary CBOR map */
    TSL_FORM_JSON,     /* text starting with '{' */
    TSL_FORM_SDJWT,    /* text with '~' */
    TSL_FORM_JWT,      /* text with '.' */
    TSL_FORM_TEXT      /* other text: hex or base64url */
} tsl_form;

/* The form of in[0..len). start and n (either may be NULL) receive the trimmed span of
 * a text form; for a binary form they are 0 and len. */
TSL_API tsl_form tsl_detect_form(const uint8_t *in, size_t len, size_t *start, size_t *n);

/* A StatusList object in either form, told apart by tsl_detect_form(): a JSON object
 * (tsl_list_from_json) or a CBOR map (tsl_list_from_cbor). TSL_ERR_MALFORMED for empty
 * input ("input is empty") and for any other form. */
TSL_API tsl_status tsl_list_parse(const uint8_t *in, size_t len, const tsl_limits *lim,
                                  tsl_list **out, tsl_error *err);

/* ---------------------------------------------------------------------------------- */
/* Status List Tokens (section 5): JWT and CWT                                         */

typedef enum { TSL_FORMAT_JWT = 1, TSL_FORMAT_CWT = 2 } tsl_format;

/* What to put in a token. Strings are borrowed for the call. */
typedef struct {
    tsl_format format;         /* 0 means JWT */
    tsl_alg alg;               /* TSL_ALG_UNKNOWN: tsl_key_default_alg(key) */
    const char *kid;           /* NULL: the key's kid, if it has one */
    const tsl_cert_chain *x5c; /* x5c / x5chain (borrowed), or NULL for none */
    const char *sub;           /* REQUIRED: the URI the list is served at */
    const char *iss;           /* optional */
    int64_t iat;               /* 0: the current time */
    int64_t exp;               /* 0: absent (the spec RECOMMENDS one) */
    int64_t ttl;               /* 0: absent (RECOMMENDED); otherwise positive */
    int level;                 /* compression level of lst; 0: TSL_LEVEL_DEFAULT */
} tsl_token_params;

/* Signs l into a Status List Token. JWT: compact serialization, header
 * {"alg","typ":"statuslist+jwt"[,"kid"][,"x5c"]}, claims sub, iat[, exp][, ttl][, iss],
 * status_list; *out is NUL-terminated text. CWT: COSE_Sign1 with tag 18 (COSE_Mac0 with
 * tag 17 for HS256), never tag 61; protected {1: alg, 16: "application/statuslist+cwt"},
 * unprotected {4: kid[, 33: x5chain]}; claims 2 sub, 6 iat, 4 exp, 65534 ttl,
 * 65533 status_list[, 1 iss]; *out is the raw CBOR bytes. Free *out with tsl_free().
 * Errors: TSL_ERR_ARG (no sub, ttl <= 0), TSL_ERR_KEY (not a private key, or one that
 * does not fit alg), TSL_ERR_ALG. */
TSL_API tsl_status tsl_token_sign(const tsl_list *l, const tsl_token_params *p,
                                  const tsl_key *key, uint8_t **out, size_t *out_len,
                                  tsl_error *err);

/* ---- signers: what signs a token, wherever its key lives ---- */

/* A signer turns bytes into a raw signature under one algorithm, and names the kid and
 * the x5c chain that go into the token's header. tsl_token_sign_with() and the store's
 * publishing sign through it only, so a key in memory (tsl_signer_from_key) and a key
 * elsewhere, an HSM or a remote service (tsl_signer_new), look the same to them. A
 * signer is immutable once built; one may be used by several threads at once if its
 * callbacks allow that (a key signer does). */
typedef struct tsl_signer tsl_signer;

/* The callbacks behind a signer. sign() signs msg and writes the signature into sig
 * (room for cap bytes, TSL_SIGNATURE_MAX) and its length into *sig_len, in the raw form
 * JWS and COSE use: r||s of fixed width for ECDSA (64, 96, 132 bytes), 64 bytes for
 * EdDSA, the modulus size for RSA, 32 bytes for HS256. On failure it returns a
 * tsl_status and may fill *err itself (code and msg; err may be NULL); the token is not
 * made and the status reaches the caller as is (with "signer: the sign callback failed"
 * as the message when the callback left none). free() (NULL: nothing) releases ctx
 * when the signer goes. */
#define TSL_SIGNATURE_MAX 2048 /* an RSA-16384 signature, the largest we make */
typedef struct {
    tsl_status (*sign)(void *ctx, const uint8_t *msg, size_t len, uint8_t *sig,
                       size_t cap, size_t *sig_len, tsl_error *err);
    void (*free)(void *ctx);
} tsl_signer_ops;

/* A signer from callbacks. alg is required (not TSL_ALG_UNKNOWN); kid (copied) and x5c
 * (copied) are optional. ops is copied; ctx passes to the signer, also on failure
 * (ops->free is called then). TSL_ERR_ARG for a missing ops->sign or alg. */
TSL_API tsl_status tsl_signer_new(const tsl_signer_ops *ops, void *ctx, tsl_alg alg,
                                  const char *kid, const tsl_cert_chain *x5c,
                                  tsl_signer **out, tsl_error *err);

/* A signer over a private key in memory (it keeps a reference to the key). alg
 * TSL_ALG_UNKNOWN means tsl_key_default_alg(key); kid NULL means the key's kid. The
 * same checks as tsl_token_sign: TSL_ERR_KEY for a public key, tsl_key_check_alg's
 * errors for an algorithm that does not fit. */
TSL_API tsl_status tsl_signer_from_key(const tsl_key *key, tsl_alg alg, const char *kid,
                                       const tsl_cert_chain *x5c, tsl_signer **out,
                                       tsl_error *err);

/* What a signer signs with and names (borrowed from the signer; NULL when absent). */
TSL_API tsl_alg tsl_signer_alg(const tsl_signer *s);
TSL_API const char *tsl_signer_kid(const tsl_signer *s);
TSL_API const tsl_cert_chain *tsl_signer_x5c(const tsl_signer *s);

/* Signs msg: *sig (free with tsl_free) gets the raw signature. The callback's status
 * and message, or TSL_ERR_CRYPTO when it claims a length beyond the buffer. */
TSL_API tsl_status tsl_signer_sign(const tsl_signer *s, const uint8_t *msg, size_t len,
                                   uint8_t **sig, size_t *sig_len, tsl_error *err);

/* NULL is fine. */
TSL_API void tsl_signer_free(tsl_signer *s);

/* tsl_token_sign() through a signer: the token's alg, kid and x5c are the signer's, so
 * p->alg, p->kid and p->x5c must be unset (TSL_ERR_ARG otherwise). For the same key,
 * alg, kid and chain the bytes are those tsl_token_sign() makes. */
TSL_API tsl_status tsl_token_sign_with(const tsl_list *l, const tsl_token_params *p,
                                       const tsl_signer *s, uint8_t **out,
                                       size_t *out_len, tsl_error *err);

/* ---- key references: a key file, or a key in hardware through PKCS#11 ---- */

/* How tsl_signer_load builds a signer. Zero it, then set what is needed. */
typedef struct {
    tsl_alg alg;               /* TSL_ALG_UNKNOWN: tsl_key_default_alg of the key */
    const char *kid;           /* NULL: the JWK's kid, else the RFC 7638 thumbprint */
    int no_kid;                /* 1: the tokens name no kid */
    const tsl_cert_chain *x5c; /* borrowed for the call; NULL: none for a key file, and
                                * for a PKCS#11 key the certificate object with its
                                * CKA_ID, when the token has one */
    const char *pkcs11_module; /* used when the URI has no module-path or module-name;
                                * NULL: the process default (tsl_pkcs11_set_module),
                                * else $TSL_PKCS11_MODULE, else p11-kit's proxy */
} tsl_signer_opts;

/* True when ref is an RFC 7512 URI ("pkcs11:...", scheme case-insensitive) rather than
 * the path of a key file. */
TSL_API int tsl_key_ref_is_pkcs11(const char *ref);

/* Checks a key reference before it is kept (a list's key): a pkcs11: URI must follow
 * RFC 7512 and carry no pin-value, which would sit in argv and in the store
 * (TSL_ERR_MALFORMED naming the attribute, never a value; TSL_ERR_LIMIT past 4096
 * bytes). A file path is TSL_OK here. */
TSL_API tsl_status tsl_key_ref_check(const char *ref, tsl_error *err);

/* A signer for a key reference. A file: tsl_key_load's rules, refused when it holds
 * a public key (TSL_ERR_KEY), signed in memory. A pkcs11: URI such as
 * "pkcs11:token=issuer;object=status-es256": the module is the URI's module-path, else
 * its module-name (p11-kit's NAME.module), else o->pkcs11_module, else the process
 * default, $TSL_PKCS11_MODULE, p11-kit's proxy; the
 * token is found by token/manufacturer/serial/model and logged in once per process
 * with the PIN from the URI's pin-source (file:PATH, a file not readable by group or
 * others) or $TSL_PKCS11_PIN, never from anywhere else; the private key by object
 * (CKA_LABEL) and id (CKA_ID). Its public key is read from the token, the mechanism
 * for the alg is checked (CKM_ECDSA, CKM_EDDSA, CKM_RSA_PKCS_PSS, CKM_RSA_PKCS), and
 * the signer signs through a small pool of sessions from any number of threads,
 * reopening the token when the module reports it lost. A PIN the token refused is not
 * offered again by the process. Errors: TSL_ERR_IO (no module, a module that fails),
 * TSL_ERR_KEY (no PIN, wrong PIN, a key that does not fit alg), TSL_ERR_NOT_FOUND (no
 * such token or key), TSL_ERR_UNSUPPORTED (a mechanism the token lacks, a curve we do
 * not sign with), TSL_ERR_MALFORMED (the URI); messages never hold the PIN.
 * key (may be NULL) gets the key to verify with: the file's key, or the public key
 * read from the token, with the signer's kid. Free both. */
TSL_API tsl_status tsl_signer_load(const char *ref, const tsl_signer_opts *o,
                                   tsl_signer **out, tsl_key **key, tsl_error *err);

/* Signs a fixed message through s and verifies it with key (from tsl_signer_load):
 * one round trip through the token. TSL_ERR_SIGNATURE when it does not verify. */
TSL_API tsl_status tsl_signer_check(const tsl_signer *s, const tsl_key *key,
                                    tsl_error *err);

/* The module used for pkcs11: URIs without a module-path when tsl_signer_opts names
 * none (copied; NULL clears it). Set once at start, before other threads sign. */
TSL_API tsl_status tsl_pkcs11_set_module(const char *path, tsl_error *err);

/* What the process's PKCS#11 tokens have done, for /healthz and /metrics. */
typedef struct {
    size_t tokens;           /* tokens opened */
    uint64_t signs;          /* signatures made */
    uint64_t sign_failures;  /* signatures that failed */
    uint64_t reopens;        /* tokens reopened after a lost session, device or token */
    uint64_t login_failures; /* logins refused (a wrong PIN is tried once) */
    int lost;                /* 1: a token is lost now and has not come back (or a
                              * key it had is not found on it) */
} tsl_pkcs11_stats;
TSL_API void tsl_pkcs11_get_stats(tsl_pkcs11_stats *out);

/* What a module offers, as text for `tsl pkcs11 ls`: a line per token (label,
 * manufacturer, model, serial, flags), then a line per key on it (its pkcs11: URI, the
 * key type and default alg, and whether a certificate shares its CKA_ID). uri (NULL:
 * every token) narrows the tokens and keys; the token is logged in only when a PIN is
 * available (pin-source or $TSL_PKCS11_PIN), since private keys are hidden otherwise.
 * module as tsl_signer_opts.pkcs11_module. Free *out with tsl_free(). */
TSL_API tsl_status tsl_pkcs11_list(const char *uri, const char *module, char **out,
                                   tsl_error *err);

/* A parsed Status List Token. */
typedef struct tsl_token tsl_token;

/* Parses a token without checking its signature. The form is detected: a JWT in
 * compact serialization (text), or a CWT as raw CBOR bytes; a CWT given as hex or
 * base64url text is decoded first. Checked here, before any key is involved:
 * structure and encodings; typ (TSL_ERR_TYP); alg known and not "none" (TSL_ERR_ALG);
 * no unknown crit; for CWT tag 18 or 17 (tag 61, an untagged array, COSE_Sign and
 * COSE_Mac are rejected) and alg matching the tag; required claims present and well
 * typed (TSL_ERR_CLAIM): sub, iat, status_list, and exp, ttl (positive), iss when
 * present (null or undefined optional members mean absent); the list inflates within
 * lim. Free with tsl_token_free(). */
TSL_API tsl_status tsl_token_parse(const uint8_t *in, size_t len, const tsl_limits *lim,
                                   tsl_token **out, tsl_error *err);

TSL_API void tsl_token_free(tsl_token *t);

/* How to verify. Zero-initialise and set what you need. */
typedef struct {
    tsl_trust_policy policy; /* keys, anchors, algs, EKU, skew and now */
    const char *sub;         /* expected sub (the Referenced Token's uri); NULL: any */
} tsl_verify_opts;

/* Verifies a parsed token: alg in the allow-list (TSL_ERR_ALG), a key (TSL_ERR_KEY,
 * TSL_ERR_TRUST), the signature or MAC (TSL_ERR_SIGNATURE), exp not passed, nbf (when
 * present) and iat not ahead of now, each with policy.skew (TSL_ERR_EXPIRED), sub equal
 * to o->sub (TSL_ERR_CLAIM).
 * Every failure names its reason. */
TSL_API tsl_status tsl_token_verify(const tsl_token *t, const tsl_verify_opts *o,
                                    tsl_error *err);

TSL_API tsl_format tsl_token_format(const tsl_token *t);
TSL_API tsl_alg tsl_token_alg(const tsl_token *t);
/* The kid, or NULL (*len receives its length; a CWT kid is a byte string). */
TSL_API const uint8_t *tsl_token_kid(const tsl_token *t, size_t *len);
TSL_API const char *tsl_token_sub(const tsl_token *t);
TSL_API const char *tsl_token_iss(const tsl_token *t); /* NULL if absent */
TSL_API int64_t tsl_token_iat(const tsl_token *t);
/* 1 and *v set when the claim is present, else 0. */
TSL_API int tsl_token_exp(const tsl_token *t, int64_t *v);
TSL_API int tsl_token_ttl(const tsl_token *t, int64_t *v);
/* The list, borrowed: valid until the token is freed. */
TSL_API const tsl_list *tsl_token_list(const tsl_token *t);

/* The header and claims as one JSON object, for display: {"format","header":{...},
 * "claims":{...}} with status_list shown as its bits and sizes. Free with tsl_free(). */
TSL_API tsl_status tsl_token_to_json(const tsl_token *t, char **out, tsl_error *err);

/* tsl_list_summary() and tsl_list_info_report() flags */
#define TSL_REPORT_JSON 1u /* one compact JSON object instead of text lines */

/* What `tsl decode` prints about a StatusList l, read from a token t (NULL for a bare
 * StatusList) whose signature was verified or not. Text: "format: FORMAT", for a token
 * "signature: verified" or "NOT verified", alg, kid, sub, iss, iat, exp (with their UTC
 * date) and ttl, then bits, entries, compressed_bytes, raw_bytes, aggregation_uri and
 * "count V (NAME): N" for every value that occurs, each line ending in '\n'. With
 * TSL_REPORT_JSON: one compact JSON object, tsl_token_to_json() plus "verified" for a
 * token or {"format"} for a bare list, then the same fields ("counts" keyed by value)
 * and, when n > 0, "lookups": [{"index", "value", "status"}] for idx[k] and values[k].
 * format names a bare list's form ("json", "cbor"). Free *out with tsl_free().
 * TSL_ERR_ARG, TSL_ERR_NOMEM. */
TSL_API tsl_status tsl_list_summary(const tsl_list *l, const tsl_token *t, int verified,
                                    const char *format, const uint64_t *idx,
                                    const unsigned *values, size_t n, unsigned flags,
                                    char **out, tsl_error *err);

/* ---------------------------------------------------------------------------------- */
/* Update batches: "IDX STATUS" and "FIRST-LAST STATUS" lines                           */

/* A parsed batch of status changes, kept as ranges (a range line never expands). */
typedef struct tsl_batch tsl_batch;

/* One item: entries first..last (inclusive) get value. */
typedef struct {
    uint64_t first, last;
    uint32_t value;
    uint64_t line; /* the input line it came from, 1-based */
} tsl_batch_item;

/* A status name or number: VALID, INVALID, SUSPENDED, APPLICATION_SPECIFIC (any case)
 * or a decimal number 0-255. TSL_OK and *value set; TSL_ERR_MALFORMED for anything
 * else (*value unchanged); TSL_ERR_ARG if text or value is NULL. err may be NULL. */
TSL_API tsl_status tsl_status_parse(const char *text, size_t len, unsigned *value,
                                    tsl_error *err);

/* A new, empty batch for a list of `size` entries of `bits` bits: every item added is
 * checked against both. Errors: TSL_ERR_ARG (bits), TSL_ERR_NOMEM. */
TSL_API tsl_status tsl_batch_new(unsigned bits, uint64_t size, tsl_batch **out,
                                 tsl_error *err);
TSL_API void tsl_batch_free(tsl_batch *b);

/* Parses one input line (without its newline; a trailing '\r' is allowed): blank,
 * a '#' comment, "IDX STATUS" or "FIRST-LAST STATUS", fields separated by spaces or
 * tabs, a '#' comment may follow. Numbers are decimal without sign; a range must not be
 * reversed; indices must be below the size; the value must fit in bits (SUSPENDED needs
 * bits >= 2). At most TSL_BATCH_MAX_LINE bytes. Errors: TSL_ERR_MALFORMED,
 * TSL_ERR_INDEX, TSL_ERR_VALUE, TSL_ERR_LIMIT, each message starting "line N: ". On
 * error the batch is unchanged. */
#define TSL_BATCH_MAX_LINE 4096
TSL_API tsl_status tsl_batch_add_line(tsl_batch *b, const char *line, size_t len,
                                      uint64_t lineno, tsl_error *err);

/* Adds one item directly (same checks; lineno 0 means "not from a line"). */
TSL_API tsl_status tsl_batch_add(tsl_batch *b, uint64_t first, uint64_t last,
                                 unsigned value, uint64_t lineno, tsl_error *err);

/* Items in input order, and how many entries they cover in all. */
TSL_API size_t tsl_batch_count(const tsl_batch *b);
TSL_API const tsl_batch_item *tsl_batch_items(const tsl_batch *b);
TSL_API uint64_t tsl_batch_entries(const tsl_batch *b);

/* Applies the batch to l in order (later items win), all or nothing. With final_invalid
 * set, an entry that is INVALID (1) in l may not become anything else: the first such
 * item fails the whole call with TSL_ERR_VALUE and "line N: index I is INVALID, which is
 * final". */
TSL_API tsl_status tsl_batch_apply(const tsl_batch *b, tsl_list *l, int final_invalid,
                                   tsl_error *err);

/* ---------------------------------------------------------------------------------- */
/* A status list's uri (README "List URIs")                                            */

#define TSL_URI_MAX 1024       /* bytes of a list's uri or aggregation_uri */
#define TSL_URI_ALLOW_HTTP 1u  /* tsl_uri_check: accept http:// as well as https:// */

/* Checks a uri a list is published at (the sub of its tokens) or an aggregation_uri:
 * at most TSL_URI_MAX bytes of printable ASCII without white space; an absolute https
 * URI (http too with TSL_URI_ALLOW_HTTP) with a host (no user@), an optional port 1 to
 * 65535 and a path that tsl_uri_path() accepts; no query, no fragment; and not a path
 * tsl serve answers itself (/healthz, /metrics). TSL_ERR_MALFORMED, TSL_ERR_UNSUPPORTED
 * (the scheme, a reserved path) or TSL_ERR_LIMIT (the length), with err->offset at the
 * byte and a message naming the problem (callers prefix it with the field's name). */
TSL_API tsl_status tsl_uri_check(const char *uri, unsigned flags, tsl_error *err);

/* The path a publisher serves uri at, written into path (size bytes; strlen(uri) + 1
 * always suffice): the one rule tsl serve matches requests by and tsl export names its
 * files by. uri is an absolute URI or a path starting with '/'. The path must be
 * segments of A-Z a-z 0-9 - . _ ~ and percent-encoded forms of those, which are decoded
 * ("/l%41b" -> "/lAb"), as HTTP servers decode a request's path before matching it;
 * other percent-encoding, an empty, "." or ".." segment, a trailing '/', "/" alone, a
 * query or a fragment give TSL_ERR_MALFORMED; over TSL_URI_MAX bytes TSL_ERR_LIMIT. */
TSL_API tsl_status tsl_uri_path(const char *uri, char *path, size_t size, tsl_error *err);

/* ---------------------------------------------------------------------------------- */
/* The issuer store (SQLite): lists, allocation, updates, published tokens              */

/* One SQLite file shared safely by several processes: WAL journal, synchronous=FULL,
 * writers serialised by BEGIN IMMEDIATE with a busy timeout. Once a changing call
 * returns TSL_OK its change is durable; a process killed mid-call leaves the previous
 * state whole. A handle is used by one thread at a time. */
typedef struct tsl_store tsl_store;

/* How tsl_store_open_mode() opens a store (0: read and write an existing store). */
#define TSL_STORE_CREATE 1u   /* create the file (mode 0600) and the schema if the file
                               * is missing or empty */
#define TSL_STORE_READONLY 2u /* only read; calls that change the store fail with
                               * TSL_ERR_ARG. Works in a directory this process cannot
                               * write to when the -wal and -shm files exist and are
                               * readable, or when there is no -wal file and the
                               * directory is writable by nobody (then the file is read
                               * as immutable); otherwise TSL_ERR_IO says what to change */

/* Opens the store at path. Without TSL_STORE_CREATE a missing file or one without a
 * schema (empty) fails with TSL_ERR_IO naming the path. A damaged file (not an SQLite
 * database, corrupt pages, not a tsl store, an inconsistent row) gives TSL_ERR_IO too,
 * for this and every later call; a newer schema gives TSL_ERR_UNSUPPORTED.
 *
 * A path starting postgresql:// or postgres:// is a PostgreSQL database (libpq's
 * connection URI, passed to libpq as it is: host, port, dbname, user, and parameters
 * such as sslmode=verify-full and sslrootcert=FILE, which libpq honours; options=
 * -csearch_path%3DS puts the store in schema S). A URL holding a password is refused
 * with TSL_ERR_ARG before connecting: libpq takes the password from ~/.pgpass or
 * PGPASSFILE, a service file or PGPASSWORD. Messages name the database as host/dbname,
 * never by its URL. TSL_STORE_CREATE creates the schema in an empty database; opening
 * for writing migrates an older one (README "Stores on PostgreSQL"); a failed
 * connection is TSL_ERR_IO. A handle whose connection dropped fails its calls with
 * TSL_ERR_IO and reconnects at its next transaction. TSL_STORE_READONLY makes the
 * session read-only. */
TSL_API tsl_status tsl_store_open_mode(const char *path, unsigned mode, tsl_store **out,
                                       tsl_error *err);
/* tsl_store_open_mode(path, TSL_STORE_CREATE, ...). */
TSL_API tsl_status tsl_store_open(const char *path, tsl_store **out, tsl_error *err);
TSL_API void tsl_store_close(tsl_store *st);

/* Which token forms a list publishes (bit mask). */
#define TSL_PUBLISH_JWT 1u
#define TSL_PUBLISH_CWT 2u
/* A list of kind "identifier" (ISO/IEC 18013-5 identifier list): formats is exactly
 * this; its entries are identifiers of the list's id_bytes (tsl_list_spec, 16 by
 * default; tsl_store_list_identifiers),
 * revoking one sets its index INVALID, and publishing signs an identifier list of the
 * entries that are not VALID (recorded and served as its CWT form, with the media type
 * application/identifierlist+cwt). */
#define TSL_PUBLISH_IDLIST 4u

/* "jwt", "cwt" or "jwt,cwt" (either order, no repeats) to a TSL_PUBLISH_* mask;
 * TSL_ERR_ARG for anything else. And back: "jwt", "cwt" or "jwt,cwt" for a mask (0, the
 * default, is both); static text. */
TSL_API tsl_status tsl_publish_formats_parse(const char *s, unsigned *mask, tsl_error *err);
TSL_API const char *tsl_publish_formats_name(unsigned mask);

/* What tsl_store_list_create() makes: a list's settings. Strings are borrowed for the
 * call. Zero means the default where one is named. */
typedef struct {
    const char *id;          /* [A-Za-z0-9._-], 1 to 64 characters */
    const char *uri;         /* the sub of its tokens, where it is served */
    unsigned bits;           /* 1, 2, 4, 8 */
    uint64_t size;           /* entries */
    const char *key_path;    /* signing key: a path, never the key itself */
    tsl_alg alg;             /* TSL_ALG_UNKNOWN: from the key */
    const char *kid;         /* NULL: from the key (its kid or thumbprint) */
    const char *x5c_path;    /* certificate chain PEM, or NULL */
    int64_t lifetime;        /* exp - iat of published tokens, seconds; 0: 86400 */
    int64_t ttl;             /* ttl claim, seconds; 0: absent */
    unsigned formats;        /* TSL_PUBLISH_*; 0: both */
    uint64_t decoys;         /* entries set to decoy_value at creation, never allocated */
    unsigned decoy_value;    /* 0: INVALID */
    int final_invalid;       /* 0 or 1: INVALID is final; -1: it may be changed */
    const char *aggregation_uri; /* NULL: none */
    unsigned create_flags;   /* TSL_CREATE_* */
    unsigned id_bytes;       /* an identifier list's identifier length, TSL_STORE_ID_MIN
                              * to TSL_STORE_ID_MAX; 0: TSL_STORE_ID_BYTES. Only with
                              * formats TSL_PUBLISH_IDLIST (else 0) */
} tsl_list_spec;

/* A stored list as tsl_store_list_info() reads it: its settings, with the defaults
 * applied, and its counters. Strings are owned by the result (valid until
 * tsl_list_info_free()). */
typedef struct {
    const char *id;          /* [A-Za-z0-9._-], 1 to 64 characters */
    const char *uri;         /* the sub of its tokens, where it is served */
    unsigned bits;           /* 1, 2, 4, 8 */
    uint64_t size;           /* entries */
    const char *key_path;    /* signing key: an absolute path */
    tsl_alg alg;             /* TSL_ALG_UNKNOWN: from the key */
    const char *kid;         /* NULL: from the key (its kid or thumbprint) */
    const char *x5c_path;    /* certificate chain PEM, or NULL */
    int64_t lifetime;        /* exp - iat of published tokens, seconds */
    int64_t ttl;             /* ttl claim, seconds; 0: absent */
    unsigned formats;        /* TSL_PUBLISH_* */
    uint64_t decoys;         /* entries set to decoy_value at creation, never allocated */
    unsigned decoy_value;    /* the decoys' status */
    int final_invalid;       /* 1: INVALID is final; 0: it may be changed */
    const char *aggregation_uri; /* NULL: none */
    int64_t created, updated; /* unix seconds */
    uint64_t allocated;       /* indices handed out so far */
    uint64_t capacity;        /* size - decoys: how many can ever be allocated */
    int64_t last_published;   /* iat of the newest token, 0 if none */
    uint64_t version;         /* increases with every committed change of statuses */
    unsigned id_bytes;        /* an identifier list's identifier length; 0 for a list of
                               * Status List Tokens */
} tsl_list_info;

/* The largest uncompressed StatusList (size * bits / 8 bytes) that common verifiers
 * accept: k2gl/token-status-list caps at 16 MiB, the OpenID Foundation conformance suite
 * at 32 MiB, tsl verify at its default max_inflated of 64 MiB (README "Size advice"). */
#define TSL_INTEROP_MAX_BYTES ((uint64_t)16 << 20)

/* TSL_ERR_LIMIT when a list of size entries of bits each is larger than
 * TSL_INTEROP_MAX_BYTES uncompressed, naming the verifiers that would refuse it. */
TSL_API tsl_status tsl_store_size_check(unsigned bits, uint64_t size, tsl_error *err);

/* Checks a spec's settings without a store: the id, a uri being there, bits, size (1 to
 * TSL_STORE_MAX_SIZE), decoys (fewer than size), the decoy value fitting in bits, the
 * uri and aggregation_uri (tsl_uri_check(), its code, the message after "--uri: " or
 * "--aggregation-uri: "), that they differ in path, a key path, lifetime, ttl, formats,
 * kid, create_flags and id_bytes (TSL_STORE_ID_MIN to TSL_STORE_ID_MAX, only for formats
 * TSL_PUBLISH_IDLIST, and a size whose indices fit: see TSL_STORE_ID_BYTES). TSL_ERR_ARG
 * otherwise. Neither the key file nor tsl_store_size_check() is looked at. The messages
 * name a setting as `tsl list create`'s option does. tsl_store_list_create() runs it first;
 * a caller may run it before it opens or creates a store. */
TSL_API tsl_status tsl_list_spec_check(const tsl_list_spec *spec, tsl_error *err);

/* tsl_list_spec.create_flags */
#define TSL_CREATE_ALLOW_HTTP 1u /* uri and aggregation_uri may be http:// */
#define TSL_CREATE_LARGE 2u      /* allow a size over TSL_INTEROP_MAX_BYTES */

/* Creates a list, all entries VALID except the decoys. Checks the id, bits, size (1 to
 * TSL_STORE_MAX_SIZE entries, and tsl_store_size_check() unless TSL_CREATE_LARGE),
 * decoys (fewer than size), the uri and aggregation_uri (tsl_uri_check(); TSL_ERR_ARG
 * for a missing uri, the check's code otherwise), that the key file loads and fits alg,
 * and the x5c file. TSL_ERR_ARG for a bad setting, TSL_ERR_EXISTS for an id that exists
 * or a uri whose path (tsl_uri_path()) is already another list's path, or the path of
 * an aggregation_uri, or the other way round. */
#define TSL_STORE_MAX_SIZE ((uint64_t)1 << 36)
TSL_API tsl_status tsl_store_list_create(tsl_store *st, const tsl_list_spec *spec,
                                         tsl_error *err);

/* Lists the ids, sorted; *ids is an array of *n strings, freed with
 * tsl_store_ids_free(). */
TSL_API tsl_status tsl_store_list_ids(tsl_store *st, char ***ids, size_t *n,
                                      tsl_error *err);
TSL_API void tsl_store_ids_free(char **ids, size_t n);

/* Reads a list's settings and counters. TSL_ERR_NOT_FOUND if there is no such list. */
TSL_API tsl_status tsl_store_list_info(tsl_store *st, const char *id, tsl_list_info *out,
                                       tsl_error *err);
TSL_API void tsl_list_info_free(tsl_list_info *info);

/* A list described as `tsl list show` prints it: its settings, the count of every status
 * (counts from tsl_list_count(); VALID to INVALID always, other values when they occur),
 * allocated, free, last_published and in->version. Text: one "NAME VALUE" line each,
 * the name padded to 16 columns, every line ending in '\n'. With TSL_REPORT_JSON: one
 * compact JSON object (no newline), ttl and last_published null when absent, plus
 * capacity. Free *out with tsl_free(). TSL_ERR_ARG, TSL_ERR_NOMEM. */
TSL_API tsl_status tsl_list_info_report(const tsl_list_info *info, const uint64_t counts[256],
                                        unsigned flags, char **out, tsl_error *err);

/* `tsl list show` in one call: list id's settings (tsl_store_list_info), the count of
 * each status and the version of its current statuses (tsl_store_list_load), as
 * tsl_list_info_report() describes them with flags. Free *out with tsl_free().
 * TSL_ERR_NOT_FOUND for no such list, the store's errors, TSL_ERR_NOMEM. */
TSL_API tsl_status tsl_store_list_show(tsl_store *st, const char *id, unsigned flags,
                                       char **out, tsl_error *err);

/* Loads a list's current statuses (with its aggregation_uri) into a new tsl_list;
 * *version receives the version read (may be NULL). */
TSL_API tsl_status tsl_store_list_load(tsl_store *st, const char *id, tsl_list **out,
                                       uint64_t *version, tsl_error *err);

/* Allocates n indices, distinct from every index ever handed out by this list and from
 * its decoys, in an order drawn from a keyed pseudorandom permutation whose key comes
 * from the CSPRNG (README: "Index allocation"). Fails with TSL_ERR_LIMIT, allocating
 * nothing, when fewer than n are left. out must have room for n. */
TSL_API tsl_status tsl_store_alloc(tsl_store *st, const char *id, uint64_t n,
                                   uint64_t *out, tsl_error *err);

/* `tsl alloc`: tsl_store_alloc() into a new array *out of n indices (free with
 * tsl_free()), after checking that n are left, so that a count too large for the list
 * sizes no array: TSL_ERR_LIMIT "ID: N indices asked for, M left". */
TSL_API tsl_status tsl_store_alloc_new(tsl_store *st, const char *id, uint64_t n,
                                       uint64_t **out, tsl_error *err);

/* Applies a batch in one transaction, all or nothing, rewriting only the chunks it
 * touches, and records it in the audit trail with `source` (a file name, "-", "set").
 * force: allow changing INVALID entries of a list whose INVALID is final. dry_run:
 * check everything, change nothing. *changed (may be NULL) receives the number of
 * entries whose value changed. */
TSL_API tsl_status tsl_store_update(tsl_store *st, const char *id, const tsl_batch *b,
                                    int force, int dry_run, const char *source,
                                    uint64_t *changed, tsl_error *err);

/* `tsl set`: entry idx of list id set to value, as a batch of one through
 * tsl_store_update() (its checks, force and the audit trail, source "set"). */
TSL_API tsl_status tsl_store_set(tsl_store *st, const char *id, uint64_t idx, unsigned value,
                                 int force, tsl_error *err);

/* Signs the current statuses in every configured format (or only `formats` if non-zero)
 * with the list's key, records the tokens in the history and drops recorded tokens that
 * expired more than `retention` seconds ago (< 0: keep all). now 0: the current time.
 * Versions only move forward: a form is not recorded (and the call still succeeds) when
 * the newest recorded token has newer statuses, which a concurrent publish recorded
 * while this one was signing, or when a token of the same statuses and iat is recorded.
 * A token of newer statuses than the newest recorded one, but an earlier iat, is signed
 * again as of that one's iat, so that it is the newest.
 * On PostgreSQL, where several publishers share a database, exactly one signs a given
 * version: the call takes the list's publish lock (pg_try_advisory_lock, released at
 * its end or with the connection of a process that dies) and, when another process
 * holds it, returns TSL_OK signing nothing (tsl_publish_result.busy). Holding it, it
 * does not sign a form whose newest recorded token has the current version and an iat
 * within 60 s (and a third of the lifetime) of now (.fresh), so the publishers
 * that react to the same change after the first do not sign it again; re-signing an
 * older token of the same version (before its exp) works as on SQLite. */
TSL_API tsl_status tsl_store_publish(tsl_store *st, const char *id, unsigned formats,
                                     int64_t now, int64_t retention, tsl_error *err);

/* What a publish did, form by form. */
typedef struct {
    uint64_t version;  /* of the statuses signed */
    unsigned recorded; /* TSL_PUBLISH_* forms recorded */
    unsigned skipped;  /* forms not recorded: see tsl_store_publish() */
    unsigned raised;   /* forms recorded with a later iat than `now`: see there */
    uint64_t newest;   /* when some form was skipped: the newest version recorded */
    /* PostgreSQL only (several publishers on one database; always 0 on SQLite): */
    int busy;          /* 1: nothing signed, because another process holds this list's
                        * publish lock (it is signing this version); the call succeeds */
    unsigned fresh;    /* forms not signed (also in skipped): a token of the current
                        * version is recorded with an iat within 60 s (and a third of
                        * the lifetime) of `now`: another publisher has just signed this
                        * version */
    /* Incremental publishing: the list's compressed segments (one per 64 KiB of packed
     * statuses) reused as stored, encoded again (changed since the last publication, right
     * after a changed one, whose last 32 KiB they copy from, or never published), and
     * found damaged (their CRC-32 failed: encoded again from the statuses, never used). */
    uint64_t segments_reused;
    uint64_t segments_encoded;
    uint64_t segments_corrupt;
} tsl_publish_result;

/* tsl_store_publish(), reporting in *res (may be NULL). */
TSL_API tsl_status tsl_store_publish_ex(tsl_store *st, const char *id, unsigned formats,
                                        int64_t now, int64_t retention,
                                        tsl_publish_result *res, tsl_error *err);

/* tsl_store_publish_ex() on behalf of `by` (the issuer API's "apikey:ID"; NULL: none),
 * which the publication's audit row names before the forms recorded ("apikey:ID
 * (jwt,cwt)"; at most 128 bytes of by are kept). */
TSL_API tsl_status tsl_store_publish_by(tsl_store *st, const char *id, unsigned formats,
                                        int64_t now, int64_t retention, const char *by,
                                        tsl_publish_result *res, tsl_error *err);

/* What `tsl publish` prints after tsl_store_publish_ex() of list id returned res: for
 * each form of formats (0: the list's formats), "ID: published FORM, N bytes, iat I,
 * exp E" read back from the store (with a note when the iat was raised), or why it was
 * not signed or not recorded; a busy list is one line saying another publisher is
 * signing it. Lines end in '\n'. *out (tsl_free) is the text, also on a failure
 * reading the store back: then it holds the lines before the failing form. */
TSL_API tsl_status tsl_store_publish_report(tsl_store *st, const char *id, unsigned formats,
                                            const tsl_publish_result *res, char **out,
                                            tsl_error *err);

/* The newest recorded token of a form (at == 0), or the newest one with
 * iat <= at < exp. TSL_ERR_NOT_FOUND if there is none, or no such list (the message
 * says which).
 * *out (tsl_free) is the token's bytes; iat and exp may be NULL. */
TSL_API tsl_status tsl_store_token(tsl_store *st, const char *id, tsl_format format,
                                   int64_t at, uint8_t **out, size_t *out_len,
                                   int64_t *iat, int64_t *exp, tsl_error *err);

/* What tsl_store_copy() copied. */
typedef struct {
    size_t lists;     /* lists copied */
    uint64_t tokens;  /* recorded tokens copied (the whole history) */
    uint64_t audit;   /* audit trail rows copied */
    size_t apikeys;   /* API keys copied (with their hashes; idempotency records are not
                         copied) */
} tsl_copy_result;

/* Copies every list of src into dst, whatever their backends (an SQLite file to
 * PostgreSQL, back, or to a new SQLite file as a backup): each list's settings as they
 * are (the key stays a path: the key file must be at that path where dst is
 * published), its statuses, its allocation state (the counter and the permutation key,
 * so that dst never hands out an index src handed out, and the decoys stay where they
 * are), its version, every recorded token and its audit trail; then the API keys
 * (with their hashes, so their secrets work on dst; a key whose id dst has is kept as
 * dst has it). Idempotency records are not copied. src is read in one
 * read transaction (a consistent snapshot, while others keep writing to it) and dst
 * written in one write transaction: all of it is copied or, on any error, none. A dst
 * that already has a list of one of the ids, or a list on one of their uri paths (see
 * tsl_store_list_create()), is refused whole with TSL_ERR_EXISTS naming it; dst's
 * other lists are kept. src and dst must be different handles; dst must be writable.
 * *res (may be NULL) receives the counts. TSL_ERR_UNSUPPORTED when a backend cannot
 * copy. */
TSL_API tsl_status tsl_store_copy(tsl_store *src, tsl_store *dst, tsl_copy_result *res,
                                  tsl_error *err);

/* ---------------------------------------------------------------------------------- */
/* API keys, grouped changes and reads for the issuer API                              */

/* API keys are the issuer API's credentials (README "API keys"). A key belongs to one
 * list or to every list and carries scopes: */
#define TSL_SCOPE_ALLOC 1u    /* allocate indices */
#define TSL_SCOPE_UPDATE 2u   /* change statuses */
#define TSL_SCOPE_PUBLISH 4u  /* publish now */
#define TSL_SCOPE_READ 8u     /* list info, statuses, audit trail */
#define TSL_SCOPE_CREATE 16u  /* create lists: only a key for all lists may have it */
#define TSL_SCOPE_ALL 31u

/* Parses "alloc,update,publish,read,create" (any of them, in any order, no repeats, no
 * spaces) or "all" into *mask. TSL_ERR_ARG naming the bad or repeated word, or an
 * empty list. */
TSL_API tsl_status tsl_scopes_parse(const char *s, unsigned *mask, tsl_error *err);
/* The names of the scopes in mask, comma-separated in the order above (e.g.
 * "alloc,read"; "" for 0), written into buf (always NUL-terminated; when it is too
 * small, cut after the last name that fits).
 * Returns buf. */
TSL_API const char *tsl_scopes_name(unsigned mask, char *buf, size_t size);

#define TSL_APIKEY_ID_LEN 12       /* lowercase hex */
#define TSL_APIKEY_SECRET_SIZE 64  /* room for the secret text and its NUL */
/* The secret is "tsl_" + id (12 hex) + "_" + 43 base64url chars (32 CSPRNG bytes), 60
 * characters: the id finds the row, the SHA-256 of the whole secret is stored and
 * compared with CRYPTO_memcmp. The secret itself is never stored. */
typedef struct {
    char id[TSL_APIKEY_ID_LEN + 1];
    char list_id[65];  /* "": every list */
    unsigned scopes;   /* TSL_SCOPE_* */
    int64_t created;   /* unix s */
    int64_t expires;   /* unix s; 0: never */
    int64_t revoked;   /* unix s; 0: not revoked */
} tsl_apikey_info;

/* Creates a key for list_id (NULL or "": every list; otherwise the list must exist,
 * else TSL_ERR_NOT_FOUND) with scopes (a non-zero TSL_SCOPE_* mask; TSL_SCOPE_CREATE
 * only without list_id, else TSL_ERR_ARG), expiring at `expires` (0: never; else it
 * must be later than now: TSL_ERR_ARG). Writes the secret (NUL-terminated) into
 * secret[TSL_APIKEY_SECRET_SIZE]: it is shown once and never stored. *info (may be
 * NULL) receives the row. A key for one list is recorded in that list's audit trail
 * (kind "apikey", source "create ID"); a key for every list only in its own row
 * (created, revoked), since the audit trail is per list. */
TSL_API tsl_status tsl_apikey_create(tsl_store *st, const char *list_id, unsigned scopes,
                                     int64_t expires, tsl_apikey_info *info,
                                     char secret[TSL_APIKEY_SECRET_SIZE], tsl_error *err);
/* Revokes key id: its row stays, marked revoked, for the audit (source "revoke ID" in
 * its list's trail). Revoking a revoked key keeps the first time. TSL_ERR_NOT_FOUND
 * for no such key. */
TSL_API tsl_status tsl_apikey_revoke(tsl_store *st, const char *id, tsl_error *err);
/* Every key, newest first (never the hash); *out (tsl_free) an array of *n (NULL and
 * 0 when there is none). */
TSL_API tsl_status tsl_apikey_list(tsl_store *st, tsl_apikey_info **out, size_t *n,
                                   tsl_error *err);
/* Authenticates a presented secret (len bytes, not NUL-terminated) at time now (0:
 * the current time): TSL_OK and *out (may be NULL) filled; TSL_ERR_DENIED for a
 * malformed, unknown, wrong, expired or revoked key, with a message that says which of
 * "unknown or wrong key" / "key expired" / "key revoked" and never contains the secret
 * (the id is named only once the secret matched). Unknown ids cost as much as known
 * ones (a dummy compare). */
TSL_API tsl_status tsl_apikey_check(tsl_store *st, const char *secret, size_t len,
                                    int64_t now, tsl_apikey_info *out, tsl_error *err);

/* Grouped changes: several requests committed in ONE write transaction (one fsync). */
typedef enum { TSL_OP_ALLOC = 1, TSL_OP_UPDATE = 2 } tsl_op_kind;
typedef struct {
    tsl_op_kind kind;
    const char *list_id;
    const char *source;        /* audit source, e.g. "apikey:0123456789ab" (or NULL) */
    /* TSL_OP_ALLOC */
    uint64_t count;            /* 1 .. TSL_ALLOC_MAX_PER_OP */
    const char *idem_owner;    /* the API key id the idempotency key belongs to */
    const char *idem_key;      /* NULL: none. 1..255 printable ASCII */
    uint8_t idem_hash[32];     /* SHA-256 of the canonical request (list, count) */
    /* TSL_OP_UPDATE */
    const tsl_batch *batch;
    int force, dry_run;
    /* Results, set by tsl_store_apply(): */
    tsl_status status;
    tsl_error error;
    uint64_t *indices;         /* ALLOC: count indices, tsl_free() by the caller */
    int replayed;              /* ALLOC: answered from the idempotency record */
    uint64_t changed;          /* UPDATE: entries whose value changed */
    uint64_t version;          /* the list's version after the op */
} tsl_store_op;
#define TSL_ALLOC_MAX_PER_OP 100000
#define TSL_IDEMPOTENCY_SECONDS 86400  /* how long idempotency records are kept */

/* Runs ops in order in one write transaction and one commit. Each op runs in its own
 * savepoint: an op that fails gets op->status / op->error and changes nothing, the
 * others still commit. ALLOC with idem_key: if (idem_owner, idem_key) is recorded
 * (within TSL_IDEMPOTENCY_SECONDS) for the same list with the same idem_hash,
 * op->indices are the recorded ones, replayed = 1, nothing is allocated; with another
 * list or hash, TSL_ERR_CONFLICT "Idempotency-Key already used for another request".
 * Otherwise the allocation and its record commit together. Records older than
 * TSL_IDEMPOTENCY_SECONDS are pruned. ALLOC without room: TSL_ERR_LIMIT. UPDATE: as
 * tsl_store_update() (final INVALID -> TSL_ERR_VALUE naming the first index, force,
 * dry_run, audit with source). Audit rows and list times use `now` (0: the current
 * time). Returns TSL_OK when the transaction committed (look at each op's status),
 * else the transaction's error (every op then has that status, no indices, and
 * nothing is changed). On PostgreSQL the changed lists are notified at commit. */
TSL_API tsl_status tsl_store_apply(tsl_store *st, tsl_store_op *ops, size_t n, int64_t now,
                                   tsl_error *err);

/* How many entries of list id hold each status: counts[v] for v in 0..255 (0 past
 * the list's values), read from the counts the store keeps with every write, in one
 * read transaction, without loading the list; *version (may be NULL) the version they
 * are of. A store whose schema predates the counts, opened read-only, is counted by
 * loading the list. TSL_ERR_NOT_FOUND, TSL_ERR_IO (also for stored counts that do not
 * fit the list). */
TSL_API tsl_status tsl_store_counts(tsl_store *st, const char *id, uint64_t counts[256],
                                    uint64_t *version, tsl_error *err);

/* Reads n statuses of list id (idx[k] -> values[k]) in one read transaction, reading
 * only the chunks they are in; *version (may be NULL) the version read. TSL_ERR_INDEX
 * naming the first index >= size. */
TSL_API tsl_status tsl_store_statuses(tsl_store *st, const char *id, const uint64_t *idx,
                                      size_t n, unsigned *values, uint64_t *version,
                                      tsl_error *err);

/* One row of a list's audit trail. */
typedef struct {
    uint64_t seq;          /* increasing per store */
    int64_t time;
    char kind[16];         /* "create" "update" "set" "alloc" "publish" "apikey" */
    uint64_t entries, changed;
    char *source;          /* who/what: "apikey:ID", a file name, "set", or NULL */
} tsl_audit_row;
/* The audit trail of list id, newest first: rows with seq < before (0: from the
 * newest), at most limit (1..1000, else TSL_ERR_ARG). *out (tsl_audit_rows_free) an
 * array of *n (NULL and 0 when none). TSL_ERR_NOT_FOUND for no such list. */
TSL_API tsl_status tsl_store_audit(tsl_store *st, const char *id, uint64_t before,
                                   size_t limit, tsl_audit_row **out, size_t *n,
                                   tsl_error *err);
TSL_API void tsl_audit_rows_free(tsl_audit_row *rows, size_t n);

/* ---------------------------------------------------------------------------------- */
/* HTTP helpers for publishers (spec section 8, RFC 9110)                               */

#define TSL_MEDIA_JWT "application/statuslist+jwt"
#define TSL_MEDIA_CWT "application/statuslist+cwt"

/* Chooses the form to serve for an Accept header (RFC 9110 section 12.5.1): media
 * ranges with q-values, "* / *" and "application/ *" wildcards (without the spaces),
 * several types, any case. Among the forms in `available` (TSL_PUBLISH_* bits), the one
 * with the highest q wins, an exact type counting over a wildcard; ties go to dflt, then
 * JWT. A missing or empty header (accept NULL or len 0) gets dflt if available.
 * Malformed elements are ignored. Returns TSL_FORMAT_JWT or TSL_FORMAT_CWT, or 0 when
 * nothing acceptable is available (answer 406). */
TSL_API int tsl_http_choose_format(const char *accept, size_t len, unsigned available,
                                   tsl_format dflt);

/* 1 if an Accept-Encoding header allows gzip (a "gzip" or "x-gzip" coding, or "*",
 * with q > 0 and not excluded by "gzip;q=0"), else 0. */
TSL_API int tsl_http_accepts_gzip(const char *accept_encoding, size_t len);

/* Parses the value of a `time` query parameter: decimal unix seconds, no sign, at most
 * 19 digits. TSL_OK and *t, or TSL_ERR_MALFORMED (answer 400); TSL_ERR_ARG if t is
 * NULL. */
TSL_API tsl_status tsl_http_parse_time(const char *text, size_t len, int64_t *t,
                                       tsl_error *err);

/* A request head as far as tsl_http_head_check() judges it. A server fills it from the
 * head's bytes or from its HTTP library's header list; the values point into the head. */
typedef struct {
    int http11;   /* HTTP/1.1: Host is required */
    int bodyless; /* GET, HEAD or OPTIONS: a body over body_max is refused */
    unsigned n_host, n_cl, n_te; /* how many Host, Content-Length, Transfer-Encoding */
    const char *host, *cl, *te;  /* the first of each (Host without trailing white
                                    space), or NULL */
    size_t host_len, cl_len, te_len;
} tsl_http_head;

/* Judges a request head: 0 when h is acceptable, else the HTTP status to answer (400,
 * 413, 501) and *why, a line of static text for the answer's body. Refused: HTTP/1.1
 * without Host; more than one Host or Content-Length; a Host with a space or a control
 * character; a Content-Length that is not digits, or over body_max for a bodyless
 * method; a transfer coding other than chunked; Content-Length with Transfer-Encoding.
 * A verdict on the client's input, not a failure of the call, so not a tsl_status. */
TSL_API unsigned tsl_http_head_check(const tsl_http_head *h, uint64_t body_max,
                                     const char **why);

/* Adds one header field of a request head to h (a server that gets the head's fields
 * from its HTTP library calls this for each): Host (trailing white space dropped),
 * Content-Length and Transfer-Encoding are counted and the first of each kept, pointing
 * at value; other names, matched without regard to case, are ignored. */
TSL_API void tsl_http_head_field(tsl_http_head *h, const char *name, size_t name_len,
                                 const char *value, size_t value_len);

/* Percent-decodes s in place (a path or query argument, NUL-terminated) and returns its
 * new length. "%00" and malformed escapes stay as they are, so a NUL never cuts a
 * decoded path short. */
TSL_API size_t tsl_http_unescape(char *s);

/* Writes a whole answer with status and a text body (none when head is set) straight
 * to the socket fd, with Connection: close; returns the body bytes sent. For answers a
 * server's HTTP library cannot send itself. */
TSL_API size_t tsl_http_write_error(int fd, unsigned status, const char *body, int head);

/* Reads and drops the input already received on fd (at most 256 KiB, without
 * waiting), so that closing it sends a FIN after an answer rather than a reset. */
TSL_API void tsl_http_drain_input(int fd);

/* ---------------------------------------------------------------------------------- */
/* Connection gate: admission in front of an HTTP server                                */
/*
 * A gate thread accepts on the server's listening sockets and reads each connection's
 * first request head without consuming it (MSG_PEEK). Only a connection with a whole,
 * acceptable head is handed to the server (options.handoff); a bad head gets one answer
 * from the gate (414, 431, 400, 413, 501, 505) and the connection is closed. Limits:
 *   - a deadline (head_timeout_ms) for a whole request, from the connection's start or
 *     the end of its previous answer; bytes trickling in do not extend it;
 *   - max_per_address open connections per client address (an IPv6 /64 counts as one);
 *   - max_connections in all: when full, the connection that has waited longest for a
 *     request is closed to make room (one being answered never is).
 * After the handoff the server tells the gate what each connection does (the
 * tsl_gate_conn_* calls), so deadlines and eviction go on applying: the gate closes a
 * late connection the server holds with shutdown(), which the server then sees as the
 * client going away. The server must report a close before it closes the descriptor. */

#define TSL_GATE_DEFAULT_MAX_CONNECTIONS 1024u
#define TSL_GATE_DEFAULT_PER_ADDRESS 64u
#define TSL_GATE_DEFAULT_HEAD_TIMEOUT_MS 10000u
#define TSL_GATE_HEAD_MAX (16u * 1024u) /* default head_max */
#define TSL_GATE_BODY_MAX (64u * 1024u) /* default body_max */
#define TSL_GATE_MAX_LISTEN 16          /* listening sockets per gate */

/* A server's setup. "HOST:PORT" (IPv4) or "[HOST]:PORT" (IPv6), numeric hosts, port 0
 * to 65535 (0: any free port), into the socket address at sa (a struct sockaddr_in or
 * sockaddr_in6; pass a struct sockaddr_storage), whose size *sa_len gives and which gets
 * the length used. TSL_ERR_ARG for anything else. */
TSL_API tsl_status tsl_listen_parse(const char *s, void *sa, size_t *sa_len, tsl_error *err);

/* The numeric text of a socket address sa (a struct sockaddr_in or sockaddr_in6, as the
 * peer of a connection or a listener's): the host alone when port < 0 (an access log's
 * peer), else "HOST:PORT", or "[HOST]:PORT" for IPv6 (a listener's ready line, with the
 * port it bound). "-" for a NULL sa or another family. out gets at most cap - 1 bytes;
 * INET6_ADDRSTRLEN + 8 always fits. */
TSL_API void tsl_addr_text(const void *sa, long port, char *out, size_t cap);

/* A server's stop signals. tsl_stop_signals_block() blocks SIGTERM and SIGINT in the
 * calling thread, before any thread starts so that every thread inherits the mask, and
 * ignores SIGPIPE (a client gone mid-answer is a failed write, not the end of the
 * server). tsl_stop_signals_wait() then waits for one of the two and returns it. */
TSL_API void tsl_stop_signals_block(void);
TSL_API int tsl_stop_signals_wait(void);

/* Tells the service manager the server's state (systemd's sd_notify protocol, without
 * libsystemd): sends state, newline-separated "KEY=VALUE" lines such as
 * "READY=1\nSTATUS=listening on 127.0.0.1:8080" or "STOPPING=1", as one datagram to the
 * AF_UNIX socket $NOTIFY_SOCKET names (a path, or "@NAME" in the abstract namespace).
 * Without NOTIFY_SOCKET (not run as a Type=notify service) it does nothing and returns
 * TSL_OK. TSL_ERR_ARG for an empty state or an over-long socket name,
 * TSL_ERR_UNSUPPORTED for another kind of address, TSL_ERR_IO when the send fails (no
 * one listening); a server logs these and goes on. */
TSL_API tsl_status tsl_service_notify(const char *state, tsl_error *err);

/* Seconds as digits with an optional fraction ("1", "0.5", "2.25"; digits past the
 * millisecond are dropped) to milliseconds, 1 ms to one day. TSL_ERR_ARG otherwise. */
TSL_API tsl_status tsl_interval_parse(const char *s, int64_t *ms, tsl_error *err);

/* Descriptors a server needs beyond two per connection: the store, the log, the
 * listeners (TSL_FD_RESERVE), and per listener and thread its event descriptors. */
#define TSL_FD_RESERVE 256u
#define TSL_FD_PER_THREAD 4u

/* Fits the process's descriptor limit (RLIMIT_NOFILE) to *max_connections: raises the
 * soft limit toward the hard one as far as needed. When that is not enough, a fixed
 * (caller-chosen) cap, or one that would fall under 16, fails with TSL_ERR_LIMIT saying
 * how many are needed; otherwise *max_connections is lowered to fit and note (may be
 * NULL with note_size 0) says so. An unreadable limit is left alone. */
TSL_API tsl_status tsl_fd_limit_fit(unsigned *max_connections, int fixed, unsigned threads,
                                    size_t nlisteners, char *note, size_t note_size,
                                    tsl_error *err);

typedef struct tsl_gate tsl_gate;
typedef struct tsl_gate_conn tsl_gate_conn; /* a connection the gate follows */

/* An answer the gate gave itself, for the server's counters and access log. method and
 * target are "-" when the request line could not be read; peer is the client address
 * as text ("-" when unknown). Valid during the callback only. */
typedef struct {
    unsigned status;
    size_t bytes; /* body bytes sent */
    const char *peer;
    const char *method, *target; /* not NUL-terminated */
    size_t method_len, target_len;
} tsl_gate_refusal;

typedef struct {
    unsigned max_connections; /* 0: TSL_GATE_DEFAULT_MAX_CONNECTIONS */
    unsigned max_per_address; /* 0: no limit */
    unsigned head_timeout_ms; /* 0: TSL_GATE_DEFAULT_HEAD_TIMEOUT_MS */
    size_t head_max;          /* the longest first head (longer: 414 or 431); 0: default */
    uint64_t body_max;        /* see tsl_http_head_check(); 0: TSL_GATE_BODY_MAX */
    /* Gives the connection fd (non-blocking, accepted on listening socket `listener`,
     * an index into the array given to tsl_gate_start) to the server. Returns 0 when
     * the server took it (it then reports it with tsl_gate_conn_started), else non-zero
     * after closing fd. Called on the gate thread. */
    int (*handoff)(int fd, const void *addr, size_t addr_len, unsigned listener,
                   void *user);
    /* Told of every answer the gate gives; may be NULL. Called on the gate thread. */
    void (*refused)(const tsl_gate_refusal *r, void *user);
    void *user;
} tsl_gate_options;

/* A gate with the options (copied); nothing runs yet. TSL_ERR_ARG without handoff.
 * Free with tsl_gate_free(). */
TSL_API tsl_status tsl_gate_new(const tsl_gate_options *opt, tsl_gate **out,
                                tsl_error *err);

/* Starts the gate thread accepting on the n listening sockets fds (non-blocking or
 * not; taken over even on failure: tsl_gate_stop() closes them). TSL_ERR_ARG for more
 * than TSL_GATE_MAX_LISTEN, TSL_ERR_IO when the thread or its epoll set cannot start. */
TSL_API tsl_status tsl_gate_start(tsl_gate *g, const int *fds, size_t n, tsl_error *err);

/* Stops accepting (the listening sockets are closed) and closes the connections still
 * in the gate. Connections handed to the server are left to it. */
TSL_API void tsl_gate_stop(tsl_gate *g);

/* After the server has stopped: stops the gate if needed and frees it. g may be NULL. */
TSL_API void tsl_gate_free(tsl_gate *g);

/* The server's reports, from any thread. tsl_gate_conn_started: the server begins
 * serving fd (a handoff, or a connection it accepted itself, which is then counted all
 * the same); the handle returned (NULL without memory) goes with the other calls.
 * answering: a request is complete and being answered (no deadline or eviction
 * applies); answered: its answer is done, the connection waits for a next request;
 * closed: the server is about to close fd (the handle is invalid afterwards). c may be
 * NULL in all three. */
TSL_API tsl_gate_conn *tsl_gate_conn_started(tsl_gate *g, int fd, const void *addr,
                                             size_t addr_len);
TSL_API void tsl_gate_conn_answering(tsl_gate *g, tsl_gate_conn *c);
TSL_API void tsl_gate_conn_answered(tsl_gate *g, tsl_gate_conn *c);
TSL_API void tsl_gate_conn_closed(tsl_gate *g, tsl_gate_conn *c);

/* Why the gate closed or refused a connection. */
typedef enum {
    TSL_GATE_DROP_HEAD_TIMEOUT, /* no whole first request within the deadline */
    TSL_GATE_DROP_IDLE_TIMEOUT, /* no whole next request within the deadline */
    TSL_GATE_DROP_PER_ADDRESS,  /* max_per_address reached */
    TSL_GATE_DROP_CAPACITY,     /* max_connections: evicted, or refused when all busy */
    TSL_GATE_DROP_FRAGMENTED,   /* a first head in too many pieces */
    TSL_GATE_DROP_OVERLOAD,     /* the server did not take a handoff */
    TSL_GATE_NDROPS
} tsl_gate_drop;

/* "head_timeout", "idle_timeout", "per_address", "capacity", "fragmented", "overload";
 * NULL for anything else. */
TSL_API const char *tsl_gate_drop_name(int reason);

/* For a server's metrics. */
typedef struct {
    unsigned waiting; /* open, waiting for a (first or next) request */
    unsigned active;  /* a request being answered */
    unsigned closing; /* refused or shut down, not closed yet */
    uint64_t dropped[TSL_GATE_NDROPS];
    unsigned max_connections, max_per_address, head_timeout_ms; /* in force */
} tsl_gate_stats;

TSL_API void tsl_gate_get_stats(tsl_gate *g, tsl_gate_stats *out);

/* ---------------------------------------------------------------------------------- */
/* What a publisher serves: one rule each, shared by `tsl serve` and `tsl export`       */

/* A strong entity tag: a quote, 32 hex digits (the first 16 bytes of the SHA-256 of
 * the body), a quote, NUL. */
#define TSL_ETAG_SIZE 36
/* An IMF-fixdate, "Sun, 06 Nov 1994 08:49:37 GMT", and room to spare. */
#define TSL_HTTP_DATE_SIZE 40

/* The gzip (RFC 1952) form of in, the Content-Encoding: gzip variant of a JWT. *out
 * is freed with tsl_free(). TSL_ERR_NOMEM, TSL_ERR_ARG. */
TSL_API tsl_status tsl_publish_gzip(const uint8_t *in, size_t len, uint8_t **out,
                                    size_t *out_len, tsl_error *err);

/* The strong ETag of len bytes at p (see TSL_ETAG_SIZE). */
TSL_API void tsl_publish_etag(const uint8_t *p, size_t len, char out[TSL_ETAG_SIZE]);

/* The IMF-fixdate of unix time t (Last-Modified of a token: its iat). */
TSL_API void tsl_http_date(int64_t t, char out[TSL_HTTP_DATE_SIZE]);

/* The Cache-Control max-age of a token (seconds, never negative): until its exp (0:
 * none), capped by the list's ttl (0: none); without exp, the ttl. */
TSL_API int64_t tsl_publish_max_age(int64_t ttl, int64_t exp, int64_t now);

/* The body of a 406 answer for a list publishing `formats` (TSL_PUBLISH_* bits):
 * "acceptable: TYPE[, TYPE]\n", static text. */
TSL_API const char *tsl_publish_not_acceptable(unsigned formats);

/* The aggregation document (section 9.3) of n list uris, in order:
 * {"status_lists":[...]}, compact JSON, NUL-terminated; *out is freed with tsl_free()
 * and *out_len (may be NULL) receives its length. TSL_ERR_NOMEM, TSL_ERR_ARG. */
TSL_API tsl_status tsl_publish_aggregation(const char *const *uris, size_t n, char **out,
                                           size_t *out_len, tsl_error *err);

/* ---------------------------------------------------------------------------------- */
/* The publisher: rounds, immutable snapshots, and one server-neutral answering call    */
/*                                                                                        */
/* A tsl_publisher keeps the lists of a store published and served: each round re-signs   */
/* the lists whose statuses changed or whose newest token has used up two thirds of its   */
/* lifetime (backing off a list that fails, up to a minute), checks every 30 s that each  */
/* list's key loads and can sign, and builds a new immutable snapshot holding per list    */
/* the tokens per form, the gzip variant of the JWT, ETags, Last-Modified, ttl and exp,   */
/* and the aggregation document. A server (tsl serve is one) takes a reference to the     */
/* current snapshot per request and answers with tsl_publish_answer(); nothing is signed  */
/* or compressed on the request path, and a round holds no lock a request takes while it  */
/* reads keys, signs or reads the store. A list that fails to publish keeps its last      */
/* good tokens. Of two lists on one path the older one is served; a list on a reserved     */
/* path (the aggregation path, the server's own) is not. Both are logged and counted.     */

typedef struct tsl_publisher tsl_publisher;
typedef struct tsl_snapshot tsl_snapshot;

/* Receives one line of the publisher's log (a failing list, a clash, a stall, each once
 * per change), without a trailing newline. May be called from any thread that calls the
 * publisher. */
typedef void (*tsl_publisher_log_fn)(void *ctx, const char *line);

typedef struct {
    tsl_format default_format;    /* answered when Accept allows both; 0: JWT */
    int history;                  /* non-zero: answer ?time= from recorded tokens (else 501) */
    const char *aggregation_path; /* where the aggregation document is served, or NULL */
    int64_t interval_ms;          /* the caller's time between rounds; 0: 1000 */
    int64_t retention;            /* seconds recorded tokens are kept (tsl_store_publish) */
    const char *const *reserved;  /* paths the server answers itself (no list served) */
    size_t nreserved;
    tsl_publisher_log_fn log;     /* or NULL: no log */
    void *log_ctx;
} tsl_publisher_options;

/* Opens the store at path for the publisher (and, with history, a few read-only handles
 * kept until close). Reads nothing yet: call tsl_publisher_round() with
 * TSL_ROUND_LOAD_ONLY to serve the recorded tokens at once. TSL_ERR_IO, TSL_ERR_NOMEM. */
TSL_API tsl_status tsl_publisher_open(const char *path, const tsl_publisher_options *opt,
                                      tsl_publisher **out, tsl_error *err);
/* Closes the store handles and frees the publisher. Snapshots taken from it must have
 * been released (their history reads go through it). NULL is a no-op. */
TSL_API void tsl_publisher_close(tsl_publisher *p);

/* tsl_publisher_round() flags. */
#define TSL_ROUND_LOAD_ONLY 1u /* sign nothing, skip gzip: serve what is recorded, now */

/* One publishing round over every list of the store (from one thread at a time), then
 * a new snapshot if anything changed. TSL_ERR_IO when the store cannot be read (the
 * previous snapshot stays), TSL_ERR_NOMEM. Per-list failures are not errors: they are
 * logged and counted in the health. */
TSL_API tsl_status tsl_publisher_round(tsl_publisher *p, unsigned flags, tsl_error *err);

/* Asks a round in progress to stop between lists (from any thread); every later round
 * returns at once. */
TSL_API void tsl_publisher_stop(tsl_publisher *p);

/* What the publisher is doing ("" between rounds), for a report of a stuck round. */
TSL_API void tsl_publisher_busy(tsl_publisher *p, char *out, size_t size);

/* Kinds of problem that make a publisher degraded, counted in tsl_publisher_health. */
enum {
    TSL_PROBLEM_STORE,   /* the store could not be read */
    TSL_PROBLEM_PUBLISH, /* a list failed to publish or to load its tokens */
    TSL_PROBLEM_KEY,     /* a list's key does not load or cannot sign */
    TSL_PROBLEM_PATH,    /* a list not served: its path is taken or reserved */
    TSL_PROBLEM_EXPIRY,  /* a served token expired or in the last quarter of its life */
    TSL_NPROBLEMS
};

typedef struct {
    unsigned problems[TSL_NPROBLEMS]; /* how many of each kind */
    int degraded;                     /* any problem, or stalled */
    int stalled;                      /* no round completed within the expected time */
    int64_t round_age_ms;             /* since the last completed round */
    uint64_t publishes_ok, publishes_err; /* publishing attempts so far */
    uint64_t publishes_skipped; /* not signed: another publisher held the list's lock or
                                 * had signed this version (PostgreSQL) */
    int64_t last_sync;          /* unix s: the last time every committed change was known
                                 * (a round read the store, or its change feed answered);
                                 * 0: never */
    int64_t store_down_since;   /* unix s: the store unreachable since (the last snapshot
                                 * is served); 0: it answers */
    int pushed;                 /* the store pushes its changes (PostgreSQL) */
} tsl_publisher_health;

/* The health at this moment (any thread). Logs, once per stall, a publisher that has not
 * completed a round in time, and what it is doing. */
TSL_API void tsl_publisher_health_get(tsl_publisher *p, tsl_publisher_health *out);

/* A new reference to the current snapshot (any thread), or NULL before the first round
 * built one. Give it back with tsl_snapshot_release(). */
TSL_API tsl_snapshot *tsl_publisher_snapshot(tsl_publisher *p);
TSL_API void tsl_snapshot_release(tsl_snapshot *s);
/* How many lists s serves, and the earliest exp of their tokens (0 if none). */
TSL_API size_t tsl_snapshot_count(const tsl_snapshot *s);
TSL_API int64_t tsl_snapshot_earliest_exp(const tsl_snapshot *s);
/* The version of the statuses that list id's served tokens were signed from (the
 * lowest of its forms), read when the snapshot loaded them: *version, and 1; 0 when s
 * serves no token of id. A lower bound: a token recorded while they loaded may be
 * newer. */
TSL_API int tsl_snapshot_list_version(const tsl_snapshot *s, const char *id,
                                      uint64_t *version);

/* One HTTP request as the answering call sees it; absent headers are NULL. */
typedef struct {
    const char *method;            /* "GET", "HEAD", "OPTIONS", ... */
    const char *path;              /* percent-decoded, without the query */
    int has_time;                  /* a `time` query parameter was given */
    const char *time;              /* its value (time_len bytes), or NULL */
    size_t time_len;
    const char *accept;
    const char *accept_encoding;
    const char *if_none_match;
    const char *if_modified_since;
} tsl_http_request;

#define TSL_HTTP_MAX_HEADERS 12

typedef struct {
    const char *name, *value;
} tsl_http_header;

/* What was answered, for a server's counters. */
typedef enum {
    TSL_ANSWER_NONE = 0, TSL_ANSWER_JWT = 1, TSL_ANSWER_CWT = 2, TSL_ANSWER_JSON = 3
} tsl_answer_kind;

/* An answer: status, headers and body, valid until tsl_http_response_free(). The body is
 * borrowed from the snapshot (a reference is held) or from static text, or owned for a
 * history token; for HEAD, 204 and 304 a server sends the headers only (body_len still
 * gives the length of the body a GET would get, for Content-Length). */
typedef struct {
    unsigned status;
    tsl_answer_kind kind;
    const uint8_t *body;
    size_t body_len;
    tsl_http_header headers[TSL_HTTP_MAX_HEADERS];
    size_t nheaders;
    /* Private. */
    tsl_snapshot *ref_;
    uint8_t *owned_;
    char etag_[TSL_ETAG_SIZE], date_[TSL_HTTP_DATE_SIZE], cache_[48];
} tsl_http_response;

/* Answers rq from s: a list's path (Accept negotiation with q-values, 406 naming the
 * available types, gzip when Accept-Encoding allows it, 304 by If-None-Match or else
 * If-Modified-Since, ?time= from the recorded tokens: 400 malformed, 404 none covers it,
 * 501 history off; while the store is unreachable the served token when the time falls
 * in its [iat, exp), else 503 with Retry-After: 5), the aggregation path (200/304 with
 * max-age 60), OPTIONS preflight (204), 405 for other methods, 404 for other paths. On a
 * reserved path (tsl_publisher_options.reserved) only OPTIONS (204) and methods other than
 * GET and HEAD (405) are answered; for GET and HEAD status is 0: the server answers its own
 * path (a health check, say). Every answer carries Access-Control-Allow-Origin: * and
 * Access-Control-Expose-Headers; token answers and their refusals carry Vary: Accept,
 * Accept-Encoding. Never fails: out of memory or a history read that fails is a 500. Free
 * resp with tsl_http_response_free(). */
TSL_API void tsl_publish_answer(tsl_snapshot *s, const tsl_http_request *rq,
                                tsl_http_response *resp);
TSL_API void tsl_http_response_free(tsl_http_response *resp);

/* The answer to a request head tsl_http_head_check() refused with status and why: why
 * as a text/plain body, Connection: close (what follows the head cannot be trusted to
 * frame the next request) and the CORS headers. why is static text, so resp borrows it
 * and holds nothing to free. */
TSL_API void tsl_http_refusal(unsigned status, const char *why, tsl_http_response *resp);

/* ---------------------------------------------------------------------------------- */
/* Around the publisher: its thread, health, metrics and access log (src/publish/ops.c) */
/*                                                                                        */
/* What a server needs besides the answering call, independent of the HTTP server: tsl   */
/* serve is libmicrohttpd calling these.                                                 */

/* A thread running the publisher's rounds: the first at once, then one every interval.
 * On a store that pushes its changes (PostgreSQL; tsl_publisher_health.pushed) it does
 * not poll: it listens for them and runs a round for each list notified, so that a
 * publication committed by any process on any host is served within a second, plus a
 * full round every 30 s and whenever a served token reaches two thirds of its life
 * (never more often than every interval). When the store becomes unreachable it keeps
 * the last snapshot served and tries again after 0.25 s, doubling to 2 s, then resyncs
 * every list. Of several publishers on one database each new version is signed by one
 * (the list's publish lock); the others serve it when its token is notified. */
typedef struct tsl_publisher_runner tsl_publisher_runner;

/* Starts the thread over p (which must outlive it) with interval_ms (> 0) between the
 * end of a round and the start of the next. Run a TSL_ROUND_LOAD_ONLY round before, so
 * that something is served while the first round signs. TSL_ERR_ARG, TSL_ERR_NOMEM (no
 * thread). */
TSL_API tsl_status tsl_publisher_runner_start(tsl_publisher *p, int64_t interval_ms,
                                              tsl_publisher_runner **out, tsl_error *err);
/* Stops the thread: asks a round in progress to stop between lists
 * (tsl_publisher_stop()) and waits at most timeout_ms for it. Returns 1 when it ended (r
 * is freed), 0 when it did not (stuck on a key file that blocks, or signing a huge
 * list): r and p are then still in use and must not be freed — end the process; an
 * unfinished publish leaves the store whole. tsl_publisher_busy() says what it does.
 * NULL returns 1. */
TSL_API int tsl_publisher_runner_stop(tsl_publisher_runner *r, int64_t timeout_ms);

/* Asks the runner's thread for a round at once (any thread): a polling runner cuts its
 * wait short; a pushed one needs no kick (the store notifies the publication). For a caller
 * that has just published and wants the new token served (the issuer API's
 * publish-and-wait). NULL is a no-op. */
TSL_API void tsl_publisher_runner_kick(tsl_publisher_runner *r);

/* The health check: 200 with *body "ok\n", or 503 with "degraded\n" when any problem is
 * counted or the publisher is stalled (tsl_publisher_health). Static text; nothing more,
 * since which list and why (key paths, list ids) belongs in the log, not on a public
 * endpoint. */
TSL_API unsigned tsl_publisher_healthz(tsl_publisher *p, const char **body);
/* tsl_publisher_healthz() with the body written into buf (size bytes, NUL-terminated,
 * cut to fit): the same "ok\n" and "degraded\n", except while the store is unreachable,
 * when it says since when and nothing else about the store:
 * "degraded: store unreachable since 2026-12-02T08:00:00Z\n". */
TSL_API unsigned tsl_publisher_healthz_text(tsl_publisher *p, char *buf, size_t size);

/* A server's request counters (thread-safe), and the Prometheus text of them with the
 * publisher's health and the gate's connections. */
typedef struct tsl_metrics tsl_metrics;

/* Answers a server's operations paths, for GET and HEAD (send the headers only): /healthz
 * (tsl_publisher_healthz(), text/plain) and /metrics (tsl_metrics_text() of m, p and g
 * at unix time now; g may be NULL), both with Cache-Control: no-store and the CORS
 * headers of tsl_publish_answer(). Any other request: TSL_OK with status 0. Free resp
 * with tsl_http_response_free(). TSL_ERR_ARG, TSL_ERR_NOMEM (no answer: close the
 * connection). */
TSL_API tsl_status tsl_publish_answer_ops(tsl_publisher *p, tsl_metrics *m, tsl_gate *g,
                                          const tsl_http_request *rq, int64_t now,
                                          tsl_http_response *resp, tsl_error *err);

TSL_API tsl_status tsl_metrics_new(tsl_metrics **out, tsl_error *err);
TSL_API void tsl_metrics_free(tsl_metrics *m);
/* Counts one answer: its status (200, 204, 304, 400, 404, 405, 406, 413, 414, 431, 500,
 * 501 and 503 by name, any other as "other"), what it carried, and its body bytes
 * sent. NULL m is a no-op. */
TSL_API void tsl_metrics_count(tsl_metrics *m, unsigned status, tsl_answer_kind kind,
                               uint64_t bytes);
/* The text exposition format (version 0.0.4) at unix time now: tsl_requests_total{code,
 * format} (only series that are not zero), tsl_response_bytes_total,
 * tsl_access_log_dropped_total, tsl_publishes_total{result}, tsl_seconds_to_earliest_
 * expiry (when a token has an exp), tsl_lists, tsl_problems{kind}, tsl_publisher_round_
 * age_seconds, tsl_publisher_stalled, tsl_store_connected (0 while the store is
 * unreachable), tsl_store_last_sync_seconds (since every committed change was last
 * known; absent before the first sync) and, with a gate g (may be NULL), tsl_connections
 * {state}, tsl_connections_dropped_total{reason} and tsl_connection_limit{limit}. *out
 * is freed with tsl_free(); *out_len (may be NULL) is its length. TSL_ERR_ARG,
 * TSL_ERR_NOMEM. */
TSL_API tsl_status tsl_metrics_text(tsl_metrics *m, tsl_publisher *p, tsl_gate *g,
                                    int64_t now, char **out, size_t *out_len,
                                    tsl_error *err);

/* An access log on a descriptor the caller owns, opened non-blocking
 * (O_NONBLOCK|O_APPEND): one line per answer, "TIME PEER METHOD PATH STATUS BYTES
 * FORMAT", TIME in UTC (2006-01-02T15:04:05Z), written with one write() shorter than
 * PIPE_BUF. A log that cannot take a line at once (a pipe nobody reads, a full disk)
 * loses it, counted by tsl_access_log_dropped() and, when m is given, in m's
 * tsl_access_log_dropped_total: a request thread never waits for the log. */
typedef struct tsl_access_log tsl_access_log;

TSL_API tsl_status tsl_access_log_new(int fd, tsl_metrics *m, tsl_access_log **out,
                                      tsl_error *err);
/* Frees the log; the descriptor stays open. NULL is a no-op. */
TSL_API void tsl_access_log_free(tsl_access_log *l);
/* Writes one line (any thread). method and path are method_len and path_len bytes, cut
 * at a NUL; bytes other than printable ASCII, '"', '%' and '\\' are written as %XX, the
 * method is cut after 8 bytes and the path after 200 (ending in "..."). peer NULL: "-".
 * NULL l is a no-op. */
TSL_API void tsl_access_log_write(tsl_access_log *l, const char *peer, const char *method,
                                  size_t method_len, const char *path, size_t path_len,
                                  unsigned status, uint64_t bytes, tsl_answer_kind kind);
/* tsl_access_log_write() with one more field at the end of the line: who acted, e.g.
 * the issuer API's "apikey:0123456789ab" (an id, never a secret), or "-" for NULL or "".
 * Escaped like the path and cut after 40 bytes. */
TSL_API void tsl_access_log_write_by(tsl_access_log *l, const char *peer, const char *method,
                                     size_t method_len, const char *path, size_t path_len,
                                     unsigned status, uint64_t bytes, tsl_answer_kind kind,
                                     const char *by);
/* The lines lost so far. */
TSL_API uint64_t tsl_access_log_dropped(const tsl_access_log *l);

/* A tsl_publisher_log_fn for a server's standard error: "PREFIX: LINE" and a newline in
 * one write(), so that lines of several threads do not mix; ctx is PREFIX (a string),
 * or NULL for the line alone. A long line is cut; a failing stderr is ignored. */
TSL_API void tsl_log_stderr(void *ctx, const char *line);

/* ---------------------------------------------------------------------------------- */
/* Referenced Tokens (spec section 6) and the relying party's check (section 8.3)      */

typedef enum {
    TSL_REF_JWT = 1, /* a JWT with a "status" claim */
    TSL_REF_SDJWT,   /* SD-JWT or SD-JWT VC (RFC 9901): issuer JWT ~ disclosures ~ [KB-JWT] */
    TSL_REF_CWT,     /* a CWT (COSE_Sign1) with claim 65535 */
    TSL_REF_MDOC     /* ISO mdoc: DeviceResponse, Document, IssuerSigned or IssuerAuth */
} tsl_ref_kind;

/* A Referenced Token that passed its own validation, and the entry it points at. */
typedef struct tsl_ref tsl_ref;

/* How to validate a Referenced Token (spec section 8.3 step 0). */
typedef struct {
    tsl_trust_policy policy; /* issuer keys (matched by kid), anchors, algs, skew, now;
                              * require_eku is not applied to Referenced Tokens */
    /* Key binding (SD-JWT's KB-JWT, RFC 9901 section 7.3). A KB-JWT, when present, must
     * carry iat, aud, nonce and sd_hash; these ask more of it: */
    int require_kb;          /* a KB-JWT must be present (other forms are refused: this
                              * library checks no key binding for them) */
    const char *kb_aud;      /* non-NULL: a KB-JWT must be present, aud equal to this */
    const char *kb_nonce;    /* non-NULL: a KB-JWT must be present, nonce equal to this */
    int64_t kb_max_age;      /* > 0: the KB-JWT's iat at most this many seconds old */
} tsl_ref_opts;

/* Detects the form from the bytes (JWT text; SD-JWT text with '~'; CWT or mdoc CBOR,
 * raw, hex or base64url), validates it by its own rules (signature, exp/nbf/iat; for
 * SD-JWT every disclosure's digest in _sd and, when present, the key-binding JWT signed
 * by cnf.jwk with a matching sd_hash; for mdoc the IssuerAuth signature and its
 * x5chain against o->policy.trust, the MSO validity, and the presented data elements
 * against the MSO's valueDigests) and reads status.status_list
 * {idx, uri} (for mdoc the MSO's "status"). An invalid token is rejected before any
 * status is looked at. TSL_ERR_CLAIM when the status reference is missing or
 * malformed. */
TSL_API tsl_status tsl_ref_parse(const uint8_t *in, size_t len, const tsl_limits *lim,
                                 const tsl_ref_opts *o, tsl_ref **out, tsl_error *err);
TSL_API void tsl_ref_free(tsl_ref *r);
TSL_API tsl_ref_kind tsl_ref_kind_of(const tsl_ref *r);
TSL_API const char *tsl_ref_uri(const tsl_ref *r);   /* valid until r is freed */
TSL_API uint64_t tsl_ref_idx(const tsl_ref *r);
/* An mdoc's status.identifier_list (ISO/IEC 18013-5 second edition): its uri (NULL when
 * the MSO has none), id and certificate (DER; NULL when absent). An MSO may carry it
 * alone (tsl_ref_uri() is NULL then) or beside status_list. Valid until r is freed. */
TSL_API const char *tsl_ref_idlist_uri(const tsl_ref *r);
TSL_API const uint8_t *tsl_ref_idlist_id(const tsl_ref *r, size_t *len);
TSL_API const uint8_t *tsl_ref_idlist_cert(const tsl_ref *r, size_t *len);

/* The relying party's status check (section 8.3): a verifier holds trust, limits, a
 * cache of Status List Tokens and a way to fetch them. */
typedef struct tsl_verifier tsl_verifier;

/* Fetches url with the given Accept header. On TSL_OK, *body (tsl_free) and *len hold
 * the response body, and *content_type (tsl_free) its Content-Type. Redirects, TLS and
 * timeouts are the callback's business; non-2xx answers are errors (TSL_ERR_IO). */
typedef tsl_status (*tsl_fetch_fn)(void *ctx, const char *url, const char *accept,
                                   uint8_t **body, size_t *len, char **content_type,
                                   tsl_error *err);

typedef struct {
    tsl_trust_policy policy; /* for both tokens; policy.now is the time of every check
                              * that does not name its own (0: the clock) */
    /* How long a list token is cached, in seconds: its ttl (without ttl, until exp), cut
     * to max_cache (0: 86400) and never past exp. min_cache (default 0: none) is a
     * floor that keeps a token past a shorter ttl: a revocation published meanwhile
     * then goes unseen for up to min_cache seconds. */
    int64_t min_cache, max_cache;
    size_t max_body;         /* largest response accepted; 0: 16 MiB */
    long timeout_ms;         /* total fetch time; 0: 10000 */
    int max_redirects;       /* 0: 5; < 0: none */
    int allow_http;          /* plain http:// allowed (default: https only) */
    const char *ca_file;     /* the built-in client's TLS trust: a PEM file of CA
                              * certificates instead of the system's; NULL: the system's */
    tsl_fetch_fn fetch;      /* NULL: the built-in libcurl client */
    void *fetch_ctx;
    const char *cache_dir;   /* NULL: memory only; else also files in this directory (Status
                              * List Tokens and identifier lists, each verified again when
                              * read),
                              * created 0700 if missing. tsl_verifier_new() fails with
                              * TSL_ERR_IO if it is not a directory, a symbolic link, not
                              * owned by the current user or root, or writable by group
                              * or others without the sticky bit */
    tsl_limits limits;       /* zeroes: defaults; limits.max_inflated admits lists over
                              * the 64 MiB default (up to TSL_MAX_INFLATED_CEILING) */
    int require_kb;          /* key binding for every check: as in tsl_ref_opts */
    const char *kb_aud;      /* the verifier's own identifier, for KB-JWT aud */
    int64_t kb_max_age;
} tsl_verifier_opts;

TSL_API tsl_status tsl_verifier_new(const tsl_verifier_opts *o, tsl_verifier **out,
                                    tsl_error *err);
TSL_API void tsl_verifier_free(tsl_verifier *v);

/* Supplies a Status List Token offline; it is used for the Referenced Tokens whose uri
 * equals its sub, instead of fetching. An identifier list (ISO/IEC 18013-5) is taken as
 * well: it answers for the mdocs whose identifier_list uri equals its sub. Either is
 * verified at each use, as a fetched one would be. When tok is neither, the Status List
 * Token parser's error, its message saying it is no identifier list either. */
TSL_API tsl_status tsl_verifier_add_list_token(tsl_verifier *v, const uint8_t *tok,
                                               size_t len, tsl_error *err);

/* The longest status_list uri a Referenced Token may carry, in bytes. */
#define TSL_MAX_URI 4096

/* Where a check stopped, in the order of section 8.3. */
typedef enum {
    TSL_STAGE_NONE = 0,         /* no failure: the status was determined (or the call's
                                 * arguments were refused, TSL_ERR_ARG) */
    TSL_STAGE_REFERENCED_TOKEN, /* parsing or validating the Referenced Token: it is
                                 * invalid, or its status reference is */
    TSL_STAGE_FETCH,            /* getting its Status List Token: the request, the body
                                 * size, the Content-Type */
    TSL_STAGE_LIST_TOKEN,       /* the Status List Token: parsing, typ, signature or MAC,
                                 * trust, sub, iat/exp/ttl, the time asked for */
    TSL_STAGE_STATUS            /* the entry: idx outside the list (TSL_ERR_INDEX) */
} tsl_check_stage;

/* The outcome of a check, step by step. */
typedef struct {
    tsl_check_stage stage;   /* on an error, the stage that failed; TSL_STAGE_NONE on
                              * TSL_OK */
    tsl_ref_kind kind;       /* the Referenced Token's form */
    char uri[TSL_MAX_URI + 1]; /* its status_list uri, whole */
    uint64_t idx;
    unsigned value;          /* the status value, when determined */
    int determined;          /* 1 when value holds the status */
    int from_cache;          /* the list token came from the cache (no request) */
    int fetched;             /* a request was made */
    int idlist;              /* an mdoc's identifier list was consulted (uri is its uri
                              * when the MSO has no status_list) */
    int listed;              /* ... and the mdoc's id is in it (value is then INVALID) */
} tsl_check_result;

/* The outcome of a check as one compact JSON object, for a relying party that reports
 * it: "kind", "uri" and "idx" once the Referenced Token was read; "steps", each
 * {"step", "ok", "detail" (cerr's message, on the failing step), "source" (of the
 * Status List Token: "offline", "cache" or "fetch")} for referenced_token,
 * status_list_token and index as far as the check got; then "value" and "status" when
 * the status was determined, else "error" (tsl_strerror(st)) and "stage" ("none",
 * "referenced_token", "fetch", "status_list_token", "index"). st, r and cerr (may be
 * NULL) are what the check gave. Free *out with tsl_free(). TSL_ERR_ARG, TSL_ERR_NOMEM. */
TSL_API tsl_status tsl_check_result_json(tsl_status st, const tsl_check_result *r,
                                         const tsl_error *cerr, char **out, tsl_error *err);

/* Runs section 8.3 on a Referenced Token: validate it (an invalid one is rejected and
 * nothing is fetched), resolve its Status List Token (offline, cache, or fetch with an
 * Accept naming CWT first for CWT and mdoc, JWT first for JWT and SD-JWT), verify that
 * (typ, signature, sub == uri, iat, exp, positive ttl; with `time` != 0 also
 * iat <= time <= exp after asking for ?time=), check idx against the list and read the
 * value. now 0: the verifier's policy.now, else the clock. res->stage names the stage
 * an error came from. Returns TSL_OK when the status was determined (the
 * caller judges res->value: only 0 is VALID); TSL_ERR_INDEX when idx is out of bounds;
 * the Referenced Token's own error when it is invalid; and any other error when the
 * status could not be determined. Safe to call from several threads on one verifier. */
TSL_API tsl_status tsl_verifier_check(tsl_verifier *v, const uint8_t *token, size_t len,
                                      int64_t now, int64_t time, tsl_check_result *res,
                                      tsl_error *err);

/* What varies from one presentation to the next. */
typedef struct {
    int64_t now;          /* 0: the verifier's policy.now, else the clock */
    int64_t time;         /* != 0: the status at that unix time (?time=) */
    const char *kb_nonce; /* the nonce this presentation's KB-JWT must carry */
    const char *kb_aud;   /* non-NULL: replaces the verifier's kb_aud for this check */
} tsl_check_opts;

/* tsl_verifier_check() with per-presentation options (co may be NULL). */
TSL_API tsl_status tsl_verifier_check_opts(tsl_verifier *v, const uint8_t *token,
                                           size_t len, const tsl_check_opts *co,
                                           tsl_check_result *res, tsl_error *err);

/* ---------------------------------------------------------------------------------- */
/* Export: a store's recorded tokens as static files, and an nginx.conf serving them    */
/*                                                                                        */
/* tsl_export() writes the current recorded token of every list of a store as files at  */
/* the path of the list's uri (tsl_uri_path): PATH.jwt, PATH.jwt.gz (tsl_publish_gzip,   */
/* same mtime) and PATH.cwt, each file's mtime its iat; the aggregation document as      */
/* AGG.json (optional); and nginx.conf, which serves them with the negotiation, 406,     */
/* ETag, Cache-Control (tsl_publish_max_age, computed at export time), Vary, CORS and    */
/* method rules of tsl_publish_answer(). An export is atomic: it is built in a new       */
/* DIR/.tsl-export.XXXXXX, flushed, then made live by renaming a symbolic link over      */
/* DIR/current (DIR/nginx.conf links to current/nginx.conf); any I/O error leaves the    */
/* previous export in place. Links inside DIR are never followed; a lock on DIR          */
/* serialises exports into it. It only reads the store (a read-only store will do).     */

/* Receives one line of an export's messages (a list skipped and why, a warning, and the
 * error that stopped it), without a newline. */
typedef void (*tsl_export_log_fn)(void *ctx, const char *line);

typedef struct {
    tsl_format default_format;    /* served when a client accepts both equally; 0: JWT */
    const char *aggregation_path; /* "/..." where the aggregation document is served, or
                                   * NULL: none */
    const char *listen;           /* nginx listen ADDR:PORT; NULL: "127.0.0.1:8080" */
    int64_t now;                  /* the time max-age is computed at; 0: time(NULL) */
    tsl_export_log_fn log;        /* or NULL: no messages */
    void *log_ctx;
} tsl_export_opts;

/* One list an export wrote. */
typedef struct {
    char *id;
    char *uri;
    char *path;       /* the uri's path: its files are DIR/current + path + ".jwt", ... */
    unsigned formats; /* TSL_PUBLISH_* forms written */
    int64_t max_age;  /* the Cache-Control max-age nginx.conf sends */
} tsl_export_list;

/* What an export did; free with tsl_export_report_free(). */
typedef struct {
    char *dir;              /* DIR's real path (nginx.conf is dir + "/nginx.conf") */
    tsl_export_list *lists; /* the lists exported, in the store's order */
    size_t n;
    size_t skipped; /* lists not exported (not published, a uri whose path cannot be a
                     * file, files colliding): each named on the log; the others are */
} tsl_export_report;

/* Exports the lists of st into dir (created if missing; it may itself be a link) as
 * described above. TSL_OK when the new export is live, even with lists skipped
 * (rep->skipped); TSL_ERR_ARG for bad options (listen not an address, an aggregation
 * path that is not a plain path or collides with nginx.conf, a dir name that cannot go
 * into nginx.conf); TSL_ERR_IO (or the store's error) when nothing was made live. The
 * error's message is also the log's. rep (may be NULL) is filled on TSL_OK. */
TSL_API tsl_status tsl_export(tsl_store *st, const char *dir, const tsl_export_opts *o,
                              tsl_export_report *rep, tsl_error *err);
TSL_API void tsl_export_report_free(tsl_export_report *rep);

/* ---------------------------------------------------------------------------------- */
/* Memory                                                                               */

/* Frees memory the library returned through a `uint8_t **` or `char **` result. */
TSL_API void tsl_free(void *p);

/* Reads all of path (NULL or "-": standard input) into *out, NUL-terminated (the NUL not
 * counted in *len), holding at most max + 1 bytes while reading. TSL_ERR_IO when it
 * cannot be opened or read ("PATH: reason"), TSL_ERR_LIMIT when it is larger than max,
 * TSL_ERR_NOMEM. Free *out with tsl_free(). */
TSL_API tsl_status tsl_read_input(const char *path, size_t max, uint8_t **out, size_t *len,
                                  tsl_error *err);

/* A decimal number of digits only (no sign, space or leading '+'), at most UINT64_MAX:
 * indices, counts and sizes given as text. TSL_ERR_MALFORMED names the text (at most 40
 * bytes of it); *out is unchanged then. */
TSL_API tsl_status tsl_u64_parse(const char *s, uint64_t *out, tsl_error *err);

/* A reader of lines of at most a given length, from a file or standard input. */
typedef struct tsl_lines tsl_lines;
#define TSL_LINES_MAX ((size_t)1 << 20) /* the longest max_line */

/* Opens path (NULL or "-": standard input; path is borrowed until close) for lines of at
 * most max_line bytes (1 to TSL_LINES_MAX). TSL_ERR_IO "PATH: reason", TSL_ERR_ARG,
 * TSL_ERR_NOMEM. Close with tsl_lines_close(). */
TSL_API tsl_status tsl_lines_open(const char *path, size_t max_line, tsl_lines **out,
                                  tsl_error *err);
/* The next line, without its '\n' (a '\r' before it is kept for the caller to judge),
 * NUL-terminated, in the reader's buffer (the caller may change its bytes, e.g. to split
 * it), valid until the next call; *line is NULL at the end. A line longer
 * than max_line is TSL_ERR_LIMIT "line N: longer than MAX bytes" (the rest is not read),
 * one holding a NUL byte TSL_ERR_MALFORMED "line N: contains a NUL byte", a failing read
 * TSL_ERR_IO "NAME: read error: reason" (NAME: the path or "standard input"). */
TSL_API tsl_status tsl_lines_next(tsl_lines *r, char **line, size_t *len,
                                  tsl_error *err);
/* The number of the line just read or refused (0 before the first). */
TSL_API unsigned long tsl_lines_number(const tsl_lines *r);
/* The input's size in bytes when it is a regular file, else 0 (for a progress bar). */
TSL_API uint64_t tsl_lines_size(const tsl_lines *r);
TSL_API void tsl_lines_close(tsl_lines *r);

/* Progress of a long run on descriptor fd, shown only when fd is a terminal (or with
 * TSL_PROGRESS_FORCE) and redrawn at most ten times a second, each redraw one write
 * starting with '\r' and ending in an erase-to-end-of-line. Phase one counts input lines,
 * "PREFIX: reading [####----] 42% N lines" when total_bytes (the input's size) is known,
 * else "PREFIX: reading N lines"; phase two, during one call that reports nothing,
 * shows "PREFIX: WHAT 1.2 s" from a helper thread. Free with tsl_progress_free(). */
typedef struct tsl_progress tsl_progress;
#define TSL_PROGRESS_FORCE 1u /* draw even when fd is not a terminal */
TSL_API tsl_status tsl_progress_new(int fd, const char *prefix, uint64_t total_bytes,
                                    unsigned flags, tsl_progress **out, tsl_error *err);
/* For every input line: cheap (the clock is read every 1024 lines). p may be NULL. */
TSL_API void tsl_progress_lines(tsl_progress *p, uint64_t lines, uint64_t bytes);
/* Starts the elapsed-time display for what ("applying 1000000 entries"). */
TSL_API void tsl_progress_busy(tsl_progress *p, const char *what);
/* Stops any display and clears its line, so that what follows starts on a clean line. */
TSL_API void tsl_progress_end(tsl_progress *p);

/* `tsl update`'s reader: every line of r into b by tsl_batch_add_line(), a UTF-8 byte
 * order mark opening the first line skipped (as some editors save files; one anywhere
 * else is refused, named), progress reported to pg (may be NULL). *lines (may be NULL)
 * receives the number of lines read. The first bad line stops it, named in err. */
TSL_API tsl_status tsl_batch_add_lines(tsl_batch *b, tsl_lines *r, tsl_progress *pg,
                                       uint64_t *lines, tsl_error *err);

/* tsl_batch_add_lines() for stored list `list` (`tsl update`): for an identifier list
 * a line may also name its entry by identifier, "HEX STATUS" (the list's id_bytes in
 * hex, any case; no ranges), turned into its index with the list's key (derived once
 * for the whole input); an identifier the list never made is TSL_ERR_NOT_FOUND "line N:
 * HEX is not one of the list's identifiers". For other lists exactly
 * tsl_batch_add_lines(). The store's errors (TSL_ERR_NOT_FOUND for no such list). */
TSL_API tsl_status tsl_store_batch_add_lines(tsl_store *st, const char *list, tsl_batch *b,
                                             tsl_lines *r, tsl_progress *pg,
                                             uint64_t *lines, tsl_error *err);

/* `tsl encode`'s reader: every line of r applied to l by tsl_list_set_line() with
 * max_grow_bytes. *any receives 1 when some line set an entry, and *highest the highest
 * index set (what tsl_list_fit() takes). The first bad line stops it, named in err; a
 * read error is TSL_ERR_IO. */
TSL_API tsl_status tsl_list_set_lines(tsl_list *l, tsl_lines *r, uint64_t max_grow_bytes,
                                      uint64_t *highest, int *any, tsl_error *err);
TSL_API void tsl_progress_free(tsl_progress *p);

/* ---------------------------------------------------------------------------------- */
/* The issuer API: authenticated endpoints for issuance services (src/admin)          */
/*                                                                                        */
/* Independent of the HTTP server: a server (tsl serve --admin-listen) hands each request */
/* to tsl_admin_answer() and sends the answer. Routes under /v1 (README "The issuer       */
/* API", api/openapi.json): lists, allocations with Idempotency-Key, bulk status changes, */
/* statuses, publish (and wait until served), audit. Every request but GET                */
/* /v1/openapi.json and /v1/healthz carries "Authorization: Bearer SECRET" of a key made  */
/* with tsl_apikey_create(); its scopes and list are checked. Failed authentications are  */
/* rate limited per client address (an IPv6 /64 as one), requests per key by a token     */
/* bucket. Allocations and status changes of concurrent requests are committed together  */
/* by one thread (group commit: one transaction, one fsync), each durable before it is    */
/* answered. Refusals are RFC 9457 problems, application/problem+json with a stable type  */
/* "urn:tsl:problem:CLASS" and never a secret.                                            */

typedef struct tsl_admin tsl_admin;
struct sockaddr;

#define TSL_ADMIN_DEFAULT_MAX_BODY ((size_t)64 << 20) /* bytes of a request body */
#define TSL_ADMIN_DEFAULT_MAX_ITEMS ((size_t)1 << 20) /* changes of one request */
#define TSL_ADMIN_DEFAULT_RATE 20000.0                /* requests per second per key */

typedef struct {
    const char *db_path;          /* the store (SQLite path or postgresql:// URL) */
    tsl_publisher *publisher;     /* the publisher of this process, or NULL */
    tsl_publisher_runner *runner; /* its thread (kicked after a publish), or NULL */
    size_t max_body;              /* 0: TSL_ADMIN_DEFAULT_MAX_BODY */
    size_t max_items;             /* changes per request; 0: TSL_ADMIN_DEFAULT_MAX_ITEMS */
    double rate;                  /* requests per second per key; 0: the default */
    unsigned burst;               /* 0: 2 * rate */
    unsigned create_flags;        /* TSL_CREATE_* for lists created through the API */
    tsl_publisher_log_fn log;     /* or NULL: no log */
    void *log_ctx;
} tsl_admin_options;

/* Opens the store (a committer handle and a few read handles) and starts the committer
 * thread. TSL_ERR_IO when the store cannot be opened, TSL_ERR_ARG, TSL_ERR_NOMEM. */
TSL_API tsl_status tsl_admin_open(const tsl_admin_options *o, tsl_admin **out,
                                  tsl_error *err);
/* Stops the committer thread (the ops queued are committed first) and closes the store
 * handles. No request may be in tsl_admin_answer(). NULL is a no-op. */
TSL_API void tsl_admin_close(tsl_admin *a);

/* One request. Absent headers are NULL. */
typedef struct {
    const char *method;      /* "GET" "POST" "PUT" "PATCH" ... */
    const char *path;        /* percent-decoded, without the query */
    const char *query;       /* raw text after '?', or NULL */
    const char *authorization, *content_type, *idempotency_key;
    const uint8_t *body;
    size_t body_len;
    const struct sockaddr *peer; /* for the failed-auth limiter; NULL: one shared bucket */
    size_t peer_len;
} tsl_admin_request;

#define TSL_ADMIN_MAX_HEADERS 8

/* An answer. body is owned (tsl_admin_response_free); headers point into the response
 * or at static text. */
typedef struct {
    unsigned status;
    const char *content_type;   /* "application/json", "application/problem+json" */
    char *body;
    size_t body_len;
    tsl_http_header headers[TSL_ADMIN_MAX_HEADERS]; /* Cache-Control: no-store always;
                                * Retry-After, Location, Idempotent-Replayed, Allow,
                                * WWW-Authenticate when they apply */
    size_t nheaders;
    char key_id[TSL_APIKEY_ID_LEN + 1]; /* the key that acted ("" if none): access log */
    char hbuf_[64];             /* private */
} tsl_admin_response;

/* After the head, before the body is read: the refusals that need no body (401, 403,
 * 404, 405, 413, 415, 429; no store change). status 0: go on and read the body, at most
 * content_length bytes, which is then <= max_body. content_length UINT64_MAX: unknown
 * (chunked); the server must stop reading past max_body then. now: unix seconds (0: the
 * clock). The per-key rate is looked at, not spent: tsl_admin_answer() spends it. */
TSL_API void tsl_admin_precheck(tsl_admin *a, const tsl_admin_request *rq,
                                uint64_t content_length, int64_t now,
                                tsl_admin_response *out);
/* Answers the whole request, body included, from any thread (several at once). Never
 * fails: out of memory is a 500 problem, a store that cannot be reached a 503. */
TSL_API void tsl_admin_answer(tsl_admin *a, const tsl_admin_request *rq, int64_t now,
                              tsl_admin_response *out);
/* Frees the body; r may be reused. NULL is a no-op. */
TSL_API void tsl_admin_response_free(tsl_admin_response *r);

/* The admin's counters as Prometheus text (no key ids, no secrets): answers by status,
 * allocations and changes, the committer's transactions and ops
 * (tsl_admin_commits_total, tsl_admin_commit_ops_total: their ratio is the grouping),
 * its queue, refused authentications and rate-limited requests. *out (tsl_free). */
TSL_API tsl_status tsl_admin_metrics_text(tsl_admin *a, char **out, tsl_error *err);

/* The OpenAPI 3.1 document of the issuer API (api/openapi.json, compiled in): static,
 * NUL-terminated; *len (may be NULL) its length. */
TSL_API const char *tsl_admin_openapi(size_t *len);

/* ---------------------------------------------------------------------------------- */
/* Testing other implementations (issue 18): the probe of a publisher, and the rogue    */
/* publisher that tests a verifier                                                        */

/* How tsl_probe_run() fetches and judges. Zero-initialise, then set what you need. */
typedef struct {
    tsl_trust_policy policy; /* keys or anchors for the tokens' signatures; with neither
                              * the signature findings are skipped; policy.now is the
                              * time judged (0: the clock) */
    int allow_http;          /* plain http:// allowed (default: https only) */
    const char *ca_file;     /* PEM CA certificates for HTTPS instead of the system's */
    long timeout_ms;         /* per request, redirects included; 0: 10000 */
    size_t max_body;         /* bytes of a body kept; 0: 16 MiB */
    tsl_limits limits;       /* for the tokens and lists read; zeroes: the defaults */
} tsl_probe_opts;

/* What a probe found, counted. */
typedef struct {
    unsigned checks;         /* findings reported */
    unsigned must_failed;    /* failed MUSTs: the endpoint breaks the spec */
    unsigned should_failed;  /* failed SHOULDs (RECOMMENDED included) */
    unsigned advice_failed;  /* advice not followed (herd privacy, caching hints) */
    unsigned skipped;        /* checks that could not run (no key, nothing advertised) */
} tsl_probe_counts;

#define TSL_PROBE_JSON 1u /* report as one JSON object instead of text lines */

/* Audits the Status List endpoint at url (the uri Referenced Tokens name) of any
 * implementation, over HTTP(S) with bounded bodies, headers and time: content
 * negotiation (JWT, CWT, no Accept, any type, q-values, several types, 406) and
 * Content-Type; caching (ETag and 304, Last-Modified, Cache-Control against ttl and
 * exp, Vary, gzip, CORS, HEAD); each token served (typ, alg, signature with o's keys,
 * sub equal to url, iat, exp, ttl, the CWT tag and claim keys, JWT and CWT carrying one
 * list); each list (bits, unpadded base64url or a CBOR byte string, zlib rather than
 * gzip or raw DEFLATE, a stream that ends cleanly, the compression level, the size and
 * share of non-zero entries against herd privacy); ?time= history; an advertised
 * aggregation_uri. *report (tsl_free) is the findings, one per line: "pass", "FAIL" or
 * "skip", severity (MUST, SHOULD, advice), id, spec section, evidence; then a summary
 * line; or, with TSL_PROBE_JSON, {"url", "findings": [{"id", "section", "severity",
 * "result", "evidence"}], "checks", "must_failed", ...}. TSL_OK when the probe ran,
 * whatever it found (*counts says what); TSL_ERR_IO when url gave no HTTP answer at
 * all; TSL_ERR_UNSUPPORTED for a URL that is not https (or http with allow_http);
 * TSL_ERR_ARG, TSL_ERR_LIMIT (a URL over TSL_MAX_URI), TSL_ERR_NOMEM. */
TSL_API tsl_status tsl_probe_run(const char *url, const tsl_probe_opts *o, unsigned flags,
                                 char **report, tsl_probe_counts *counts, tsl_error *err);

/* The rogue publisher: broken Status List Tokens, each with a Referenced Token that
 * points at it, that a relying party must refuse, and two good controls. */
typedef enum {
    TSL_ROGUE_BODY = 0,     /* answer status, content_type and body */
    TSL_ROGUE_REDIRECT,     /* answer 302 to location (a loop: location is path) */
    TSL_ROGUE_SLOW          /* answer 200 and send the body one byte a second */
} tsl_rogue_kind;

typedef struct {
    const char *name;         /* "typ-wrong": a stable name */
    const char *path;         /* "/rogue/typ-wrong": where the Status List Token is */
    const char *ref_path;     /* "/rogue/typ-wrong/rt": its Referenced Token (a JWT) */
    const char *what;         /* what is broken, one line */
    const char *section;      /* the spec section a verifier must apply */
    const char *expect;       /* what a correct verifier concludes: "VALID", "INVALID",
                               * "reject" (no status can be determined) */
    int expect_exit;          /* `tsl verify`'s exit code for it: 0, 1 or 3 */
    tsl_rogue_kind kind;
    unsigned status;          /* HTTP status of a TSL_ROGUE_BODY answer */
    const char *content_type;
    const uint8_t *body;
    size_t body_len;
    const char *location;     /* TSL_ROGUE_REDIRECT */
    const char *ref;          /* the Referenced Token, a compact JWT */
} tsl_rogue_case;

typedef struct tsl_rogue tsl_rogue;

/* Builds every case for a publisher reachable at base ("http://127.0.0.1:8099", no
 * trailing '/'): tokens whose sub (when not the broken part) is base + path, signed by
 * s (ES256, EdDSA, RS or PS keys; their public key is what the verifier under test
 * trusts), iat now (0: the clock). Referenced Tokens are JWTs signed by s too, with
 * status.status_list {idx, uri}. TSL_ERR_ARG, TSL_ERR_LIMIT (base over 1024 bytes),
 * TSL_ERR_NOMEM, and the signer's errors. */
TSL_API tsl_status tsl_rogue_new(const char *base, const tsl_signer *s, int64_t now,
                                 tsl_rogue **out, tsl_error *err);
TSL_API size_t tsl_rogue_count(const tsl_rogue *r);
/* Case i (borrowed until tsl_rogue_free), or NULL past the end. */
TSL_API const tsl_rogue_case *tsl_rogue_get(const tsl_rogue *r, size_t i);
/* The index page: {"base", "cases": [{"name", "path", "ref_path", "what", "section",
 * "expect", "expect_exit"}]}, NUL-terminated, borrowed. */
TSL_API const char *tsl_rogue_index(const tsl_rogue *r);
/* NULL is fine. */
TSL_API void tsl_rogue_free(tsl_rogue *r);

/* ---------------------------------------------------------------------------------- */
/* Identifier lists (ISO/IEC 18013-5 second edition): mdoc revocation by listing       */

/* Bytes of an identifier a stored identifier list hands out: TSL_STORE_ID_BYTES by
 * default, any length from TSL_STORE_ID_MIN to TSL_STORE_ID_MAX chosen at creation
 * (tsl_list_spec.id_bytes; README "Identifier lists"). Identifiers of 8 or 9 bytes
 * carry at most 2^32 entries (half of an identifier is redundancy that refuses
 * foreign ones: tsl_list_spec_check() refuses a larger size). */
#define TSL_STORE_ID_BYTES 16
#define TSL_STORE_ID_MIN 8
#define TSL_STORE_ID_MAX 64

/* The identifiers of indices idx[0..n) (as tsl_store_alloc hands them out) of list, an
 * identifier list of 16-byte identifiers: n * TSL_STORE_ID_BYTES bytes into out. They
 * are a keyed pseudorandom permutation of the index (README "Identifier lists").
 * TSL_ERR_ARG if the list is not an identifier list or its identifiers are not 16
 * bytes long (use tsl_store_list_identifiers), TSL_ERR_INDEX past its size. */
TSL_API tsl_status tsl_store_identifiers(tsl_store *st, const char *list,
                                         const uint64_t *idx, size_t n, uint8_t *out,
                                         tsl_error *err);

/* The identifiers of indices idx[0..n) of list, an identifier list of any identifier
 * length: *id_len (never NULL) receives the list's length L (tsl_list_info.id_bytes)
 * and out, of cap bytes owned by the caller, identifier k at out + k * L (n * L bytes,
 * at most n * TSL_STORE_ID_MAX). With n = 0 only *id_len is set (out may be NULL).
 * TSL_ERR_ARG if the list is not an identifier list or cap < n * L (nothing written),
 * TSL_ERR_INDEX past its size. */
TSL_API tsl_status tsl_store_list_identifiers(tsl_store *st, const char *list,
                                              const uint64_t *idx, size_t n, uint8_t *out,
                                              size_t cap, size_t *id_len, tsl_error *err);

/* The index of identifier id (len bytes) of list (to revoke it with tsl_store_set /
 * updates). TSL_ERR_NOT_FOUND when id is not one of the list's identifiers (of another
 * length, or one it never handed out: refused with probability at least 1 - 2^-(4L),
 * README "Identifier lists"). */
TSL_API tsl_status tsl_store_identifier_index(tsl_store *st, const char *list,
                                              const uint8_t *id, size_t len, uint64_t *idx,
                                              tsl_error *err);

/* An identifier list is a tagged COSE_Sign1 CWT whose claim 65530 is {"identifiers":
 * {* bstr => IdentifierInfo}, ? "aggregation_uri": tstr}; sub (the uri an MSO's
 * status.identifier_list names), iat and exp are required, ttl (65534) optional, and a
 * status list claim (65533) is refused. An mdoc is revoked if and only if its id is a
 * key of identifiers, byte for byte. */
#define TSL_MEDIA_IDLIST "application/identifierlist+cwt"

typedef struct tsl_idlist tsl_idlist;

/* Parses an identifier list: raw CBOR, or the same as hex or base64url text. typ
 * "application/identifierlist+cwt" (or "identifierlist+cwt") in the protected header,
 * or, the older placement, as a claim (16 or "typ") when the header has none. Limits:
 * lim's input and depth, at most 2^24 identifiers of at most 128 bytes each, and each
 * IdentifierInfo a map of at most 4 KiB and depth 4. Duplicate identifiers are
 * TSL_ERR_MALFORMED. The signature is not checked: tsl_idlist_verify() does that.
 * Errors: TSL_ERR_MALFORMED, TSL_ERR_TYP, TSL_ERR_CLAIM, TSL_ERR_LIMIT, TSL_ERR_ALG,
 * TSL_ERR_NOMEM. Free with tsl_idlist_free(). */
TSL_API tsl_status tsl_idlist_parse(const uint8_t *in, size_t len, const tsl_limits *lim,
                                    tsl_idlist **out, tsl_error *err);
TSL_API void tsl_idlist_free(tsl_idlist *l);

/* Verifies the list as tsl_token_verify() does a Status List Token (alg allow-list,
 * x5chain to o->policy.trust or the keys, exp / nbf / iat against the clock, sub equal
 * to o->sub when set). cert (DER, may be NULL): the certificate the MSO names; the list
 * is then verified with that certificate, which must chain to o->policy.trust, and a
 * chain the list carries must start with it (TSL_ERR_TRUST otherwise). */
TSL_API tsl_status tsl_idlist_verify(const tsl_idlist *l, const tsl_verify_opts *o,
                                     const uint8_t *cert, size_t cert_len, tsl_error *err);

/* 1 when id[0..len) is listed (O(log n): a sorted index), else 0. */
TSL_API int tsl_idlist_contains(const tsl_idlist *l, const uint8_t *id, size_t len);

/* The list's figures (borrowed strings; NULL when absent). */
TSL_API size_t tsl_idlist_count(const tsl_idlist *l);
TSL_API const char *tsl_idlist_sub(const tsl_idlist *l);
TSL_API int64_t tsl_idlist_iat(const tsl_idlist *l);
TSL_API int64_t tsl_idlist_exp(const tsl_idlist *l);
TSL_API int tsl_idlist_ttl(const tsl_idlist *l, int64_t *v);
TSL_API const char *tsl_idlist_aggregation_uri(const tsl_idlist *l);
/* 1 when typ came from the claims (the older placement), 0 from the protected header. */
TSL_API int tsl_idlist_typ_in_claim(const tsl_idlist *l);
/* The header, claims and figures as one JSON object (*out: tsl_free). */
TSL_API tsl_status tsl_idlist_to_json(const tsl_idlist *l, char **out, tsl_error *err);

/* What to put in an identifier list. Borrowed for the call. */
typedef struct {
    const char *sub;             /* REQUIRED: the uri it is served at */
    const char *iss;             /* optional */
    int64_t iat;                 /* 0: the clock */
    int64_t exp;                 /* REQUIRED (> 0) */
    int64_t ttl;                 /* 0: absent */
    const char *aggregation_uri; /* optional */
    const uint8_t *const *ids;   /* n identifiers of id_lens[k] bytes (1 to 128) */
    const size_t *id_lens;
    size_t n;
} tsl_idlist_params;

/* Signs an identifier list in the strict form: COSE_Sign1 tag 18, protected {1: alg,
 * 16: "application/identifierlist+cwt"}, unprotected {4: kid, 33: x5chain} from the
 * signer, claims {1 iss, 2 sub, 4 exp, 6 iat, 65534 ttl, 65530 {"identifiers": {id:
 * {}}, "aggregation_uri"}}, identifiers in deterministic order (length, then bytes).
 * Errors: TSL_ERR_ARG (no sub or exp, an identifier given twice or of a bad length, an
 * HS256 signer), TSL_ERR_LIMIT, the signer's. *out: tsl_free. */
TSL_API tsl_status tsl_idlist_sign(const tsl_idlist_params *p, const tsl_signer *s,
                                   uint8_t **out, size_t *out_len, tsl_error *err);

#ifdef __cplusplus
}
#endif

#endif /* TSL_H */
