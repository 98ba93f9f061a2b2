/* limits.h - every internal cap of libtsl in one place; never installed.
 * The bounds a caller may change are in tsl_limits (include/tsl.h, TSL_DEFAULT_* and
 * TSL_*_CEILING); the public fixed ones (TSL_URI_MAX, TSL_JWKS_MAX_*, TSL_BATCH_MAX_LINE,
 * TSL_STORE_MAX_SIZE, TSL_MAX_URI) stay there too. What is here bounds what no caller
 * needs to tune: sizes fixed by a format, or caps that only protect memory and time.
 * Each says what it bounds and why that number. */
#ifndef TSL_LIMITS_H
#define TSL_LIMITS_H

#include <stddef.h>
#include <stdint.h>

/* --- codec ------------------------------------------------------------------------- */

/* Threads one parallel deflate of a large list uses: past 8 the merge and memory cost
 * more than the 2 to 8 cores a publisher typically has give back. */
#define TSLP_DEFLATE_MAX_THREADS 8

/* Items (nodes) in one CBOR document. The input size bounds the count anyway (every item
 * takes at least one byte); this tighter cap keeps the tree (80 bytes a node on LP64)
 * from costing 56 times a large hostile input. Nothing this library reads comes close:
 * a StatusList is 4 to 7 items, a CWT a few dozen. */
#define TSLP_CBOR_MAX_NODES ((size_t)1 << 20)

/* JSON text libtsl writes (a StatusList object, a JWT's claims and its base64url).
 * Its size follows from a list already in memory (4/3 of the compressed stream, twice
 * over for a JWT), never from input, so the cap only stops a runaway writer: a quarter
 * of the address space, which even a list at TSL_MAX_ENTRIES_CEILING fits on LP64. */
#define TSLP_JSON_OUT_MAX (SIZE_MAX / 4)

/* --- crypto ------------------------------------------------------------------------ */

/* RSA moduli accepted for PS256/RS256 keys: under 2048 bits is broken by NIST SP 800-131A;
 * over 16384 only slows verification (a hostile JWK could ask for minutes of work). */
#define TSLP_RSA_MIN_BITS 2048
#define TSLP_RSA_MAX_BITS 16384

/* Bytes of a DER ECDSA signature for P-521, the largest curve: SEQUENCE header (3) and
 * two INTEGERs of tag, length, a sign byte and 66 bytes. */
#define TSLP_ECDSA_DER_MAX (3 + 2 * (2 + 1 + 66))

/* Keys in one tsl_keyset: a JWKS or PEM file adds at most TSL_JWKS_MAX_KEYS; 65536
 * bounds a set built from many of them, far beyond any real trust configuration. */
#define TSLP_KEYSET_MAX_KEYS ((size_t)1 << 16)

/* Certificates in one PEM text: the smallest real certificate takes more than 256 bytes
 * of PEM, so a file within TSLP_KEY_FILE_MAX never reaches this; it bounds the arrays. */
#define TSLP_PEM_MAX_CERTS ((size_t)1 << 16)

/* Bytes of a key, certificate or trust file: a PEM bundle of a few hundred certificates
 * fits in 1 MiB; 16 MiB keeps a wrong path (a disk image) from being read whole. */
#define TSLP_KEY_FILE_MAX ((size_t)16 << 20)

/* Bytes of a JWK libtsl writes (public JWK, thumbprint input, an HMAC secret's JWK): the
 * largest, a 16384-bit RSA key with a 256-byte kid escaped, is under 5 KiB. */
#define TSLP_JWK_MAX_TEXT ((size_t)64 << 10)

/* ---- PKCS#11 (src/crypto/pkcs11*.c) ---- */

/* Bytes of a pkcs11: URI (RFC 7512): a token, an object, an id, a module path and a
 * PIN source take a few hundred. */
#define TSLP_P11_URI_MAX ((size_t)4096)

/* Bytes of a PIN, from a pin-source file or $TSL_PKCS11_PIN. */
#define TSLP_P11_PIN_MAX ((size_t)256)

/* Sessions a process keeps open on one token: the publisher's signing threads share
 * them (an HSM limits sessions per client; softhsm2 does not). */
#define TSLP_P11_MAX_SESSIONS 4

/* Modules and tokens a process opens (each stays open until exit). */
#define TSLP_P11_MAX_TOKENS 16

/* Slots (tokens) of a module looked at when finding a token or listing them. */
#define TSLP_P11_MAX_SLOTS 64

/* Keys of one class listed per token by `tsl pkcs11 ls`. */
#define TSLP_P11_MAX_LISTED 256

/* Bytes of one attribute read from a token (a modulus, a point, a certificate). */
#define TSLP_P11_MAX_ATTR ((size_t)64 << 10)

/* --- token headers (Status List Tokens and Referenced Tokens) ------------------------ */

/* Bytes of a kid: real ones are a thumbprint or a short name; 256 bounds the copies. */
#define TSLP_MAX_KID 256

/* Seconds of clock skew honoured at most: a year, so that a skew option can never make
 * an expired token valid for ever. */
#define TSLP_MAX_SKEW ((int64_t)86400 * 366)

/* Bytes a CWT may add around its claims (headers, kid, signature, CBOR framing): 1 MiB
 * is far beyond any real header and bounds the output buffer of a broken caller. */
#define TSLP_CWT_MAX_OVERHEAD ((size_t)1 << 20)

/* --- Referenced Tokens --------------------------------------------------------------- */

/* Digests referenced from an SD-JWT payload and its disclosures together: 8 per
 * disclosure at the ceiling of disclosures, so the digest set stays a small sort. */
#define TSLP_SDJWT_MAX_DIGESTS 8192

/* --- store --------------------------------------------------------------------------- */

/* Items (lines or ranges) in one update batch: 2^26 keeps an item number inside a
 * 28-bit segment reference (batch_int.h) with room for its marker. */
#define TSLP_BATCH_MAX_ITEMS ((size_t)1 << 26)

/* Segments one batch normalises to: n ranges cut the indices into at most 2n - 1. */
#define TSLP_BATCH_MAX_SEGS (2 * TSLP_BATCH_MAX_ITEMS)

/* Lists in one store as libtsl lists them (list ids, the publisher's per-list state):
 * 2^24 ids of at most TSLP_ID_MAX bytes is 1 GiB, far beyond any real issuer. */
#define TSLP_STORE_MAX_LISTS ((size_t)1 << 24)

/* Bytes of a list id: a short name that is also a file and URL path component. */
#define TSLP_ID_MAX 64

/* API keys a store may hold (tsl apikey list reads them all into one array: 2^20 rows
 * of about 130 bytes is 130 MiB; an issuer has a handful). */
#define TSLP_STORE_MAX_APIKEYS ((size_t)1 << 20)

/* --- verifier ------------------------------------------------------------------------ */

/* Default seconds a fetched Status List Token is cached at most: one day, the ttl most
 * issuers use. */
#define TSLP_VERIFY_DEFAULT_MAX_CACHE 86400

/* Default bytes of a fetched response body: 16 MiB is a list of 2^27 one-bit entries
 * sent uncompressed, far beyond a real token. */
#define TSLP_VERIFY_DEFAULT_MAX_BODY ((size_t)16 << 20)

/* Default milliseconds one fetch may take, and redirects followed: what a browser
 * tolerates before it gives up. */
#define TSLP_VERIFY_DEFAULT_TIMEOUT_MS 10000L
#define TSLP_VERIFY_DEFAULT_MAX_REDIRECTS 5

/* Bytes of response headers (status line included) accepted in one hop: a Status List
 * Token response needs a few hundred. */
#define TSLP_FETCH_MAX_HEADERS ((size_t)64 << 10)

/* --- the issuer API (src/admin) ------------------------------------------------------ */

/* Read handles of one tsl_admin, each used by one request at a time: a few keep reads
 * (key checks, list info, statuses) off the committer's handle without a connection per
 * request thread. */
#define TSLP_ADMIN_READERS 4

/* Ops waiting for the committer: past this a request is refused (503, Retry-After) at
 * once instead of queueing without bound behind a slow disk. */
/* The longest "who" (tsl_store_publish_by) an audit row of a publication keeps. */
#define TSLP_PUBLISH_BY_MAX 128
#define TSLP_ADMIN_QUEUE_MAX 4096

/* Ops committed in one transaction: a group this large already shares one fsync among
 * a thousand requests; more would only lengthen the wait of the first. */
#define TSLP_ADMIN_GROUP_MAX 1024

/* Authenticated keys remembered (by the SHA-256 of the presented secret), and for how
 * long: 1 s, so that a revoked or expired key stops within a second. */
#define TSLP_ADMIN_KEY_CACHE 1024
#define TSLP_ADMIN_KEY_CACHE_MS 1000

/* Lists whose shape (uri, bits, size: fixed at creation) is remembered, and for how
 * long: an allocation or an update then needs no read of the list's row before it is
 * queued. The time bounds what a store replaced under a running server can confuse. */
#define TSLP_ADMIN_SHAPE_CACHE 256
#define TSLP_ADMIN_SHAPE_CACHE_MS 10000

/* Token buckets: per key (requests) and per client address (failed authentications, an
 * IPv6 /64 as one). A full table replaces its least recently used bucket of a probe
 * window, so a flood of addresses costs memory only up to this. */
#define TSLP_ADMIN_RATE_SLOTS 4096
#define TSLP_ADMIN_AUTH_SLOTS 4096
#define TSLP_ADMIN_PROBE 8

/* Failed authentications per address: 10 at once, then one per 6 s. */
#define TSLP_ADMIN_AUTH_BURST 10
#define TSLP_ADMIN_AUTH_REFILL_MS 6000

/* Bytes of an Authorization header looked at: a secret is 60 characters. */
#define TSLP_ADMIN_AUTH_MAX 512

/* Bytes of a query string and parameters in it; indices in one statuses read (?idx=). */
#define TSLP_ADMIN_QUERY_MAX 4096
#define TSLP_ADMIN_QUERY_PARAMS 16
#define TSLP_ADMIN_MAX_IDX 1000

/* Bytes of the small JSON bodies (create a list, allocate, one status): a list's
 * settings with two 1 KiB uris fit many times over. */
#define TSLP_ADMIN_SMALL_BODY ((size_t)64 << 10)

/* Seconds a publish may wait for its token to be served (?timeout=, default 10). */
#define TSLP_ADMIN_PUBLISH_WAIT_MAX 60
#define TSLP_ADMIN_PUBLISH_WAIT_DEFAULT 10

/* Bytes of an answer: an allocation of TSL_ALLOC_MAX_PER_OP entries with a 1 KiB uri
 * each is about 100 MiB; a list of lists of TSLP_STORE_MAX_LISTS is bounded by this. */
#define TSLP_ADMIN_MAX_ANSWER ((size_t)256 << 20)

/* --- probe and rogue publisher (src/verify/probe*.c, rogue.c; issue 18) ------------- */

/* Findings one probe reports: about 60 checks exist; the cap bounds the array. */
#define TSLP_PROBE_MAX_FINDINGS 128

/* Bytes of one finding's evidence text: a header value or a message, cut. */
#define TSLP_PROBE_EVIDENCE 320

/* Bytes of one response body the probe keeps by default (a Status List Token of a
 * 10^8-entry list at 1% revoked is about 1.5 MB); --max-body raises it. */
#define TSLP_PROBE_MAX_BODY ((size_t)16 << 20)

/* Bytes of one header value the probe's parsers look at (Cache-Control, Vary, ...). */
#define TSLP_PROBE_MAX_HEADER ((size_t)8 << 10)

/* Bytes a gzip Content-Encoding may inflate to when the probe compares it with the
 * identity body: the body cap, since the two must be the same token. */
#define TSLP_PROBE_MAX_GUNZIP TSLP_PROBE_MAX_BODY

/* Cases the rogue publisher serves (about 40); the cap bounds its table. */
#define TSLP_ROGUE_MAX_CASES 64

/* --- identifier lists (ISO/IEC 18013-5 second edition; src/token/idlist.c) ---------- */

/* Identifiers in one identifier list: 2^24 of 16 bytes is a 300 MiB token, beyond the
 * input limit, so the input bounds a real list first; this bounds the index array. */
#define TSLP_IDLIST_MAX_IDS ((size_t)1 << 24)

/* Bytes of one identifier: issuers use 16 (a random 128-bit value); 128 leaves room for
 * a hash or a UUID in any encoding and keeps the sorted index small. */
#define TSLP_IDLIST_MAX_ID_LEN 128

/* One IdentifierInfo (the map after each identifier, usually empty): its encoded bytes
 * and its nesting (the map itself counts as 1). Nothing is defined inside it yet, so a
 * small bound only refuses a list padded to waste the verifier's time. */
#define TSLP_IDLIST_MAX_INFO_BYTES ((size_t)4096)
#define TSLP_IDLIST_MAX_INFO_DEPTH 4

/* Bytes of an identifier list's sub, aggregation_uri and typ. */
#define TSLP_IDLIST_MAX_TEXT ((size_t)4096)

#endif
