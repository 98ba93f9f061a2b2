/* bench.h - what the two halves of the `bench` binary share: tests/bench.c (lists,
 * tokens, the command line) and tests/bench_verify.c (the relying party's check).
 * Only the benchmark includes it. */
#ifndef TSL_BENCH_H
#define TSL_BENCH_H

#include "tsl.h"

#include <openssl/evp.h>

#include <stddef.h>
#include <stdint.h>

#define BENCH_SEED 42
#define REPEATS 3

uint64_t bench_xorshift64(uint64_t *s);
double bench_now(void);   /* CLOCK_MONOTONIC, seconds */
long bench_peak_rss_kb(void);
void bench_die(const char *what, tsl_status st, const tsl_error *err);
/* The documented generator list: N entries of BITS bits, N/100 draws from seed 42
 * (N * BENCH_PER10K / 10,000 when that environment variable is set). */
tsl_list *bench_generate(uint64_t n, unsigned bits);
/* The same with N * per10k / 10,000 draws. */
tsl_list *bench_generate_per(uint64_t n, unsigned bits, unsigned per10k);

/* bench price_tables 1 1 (bench_prices.c): prints src/codec/sldeflate_prices.h. */
int bench_price_tables(void);

/* ECDSA raw r||s to DER (OPENSSL_free), for a bare OpenSSL verify. */
unsigned char *bench_raw_to_der(const uint8_t *sig, size_t len, size_t *der_len);
/* One verification as an application calling OpenSSL directly would do it: a new
 * EVP_MD_CTX, EVP_DigestVerifyInit, EVP_DigestVerify. */
int bench_bare_verify(EVP_PKEY *pk, const EVP_MD *md, const uint8_t *sig, size_t sig_len,
                      const uint8_t *msg, size_t len);

/* bench verify_warm N BITS [kb] and bench verify_cold N BITS URL KEYFILE [COUNT]
 * (bench_verify.c); each prints one JSON line and returns the exit status. */
int bench_verify_warm(uint64_t n, unsigned bits, int kb);
int bench_verify_cold(uint64_t n, unsigned bits, const char *url, const char *keyfile,
                      uint64_t count);

/* bench store_bulk N BITS DB KEY [CHANGES], bench store_set N BITS DB KEY [RUNS] and
 * bench store_alloc N BITS DB KEY [PROCS [PER_PROC [PER_CALL]]] (bench_store.c); each
 * prints JSON lines and returns the exit status. */
int bench_store_bulk(uint64_t n, unsigned bits, const char *db, const char *key,
                     uint64_t changes);
int bench_store_set(uint64_t n, unsigned bits, const char *db, const char *key,
                    uint64_t runs);
int bench_store_alloc(uint64_t n, unsigned bits, const char *db, const char *key,
                      uint64_t procs, uint64_t per_proc, uint64_t per_call);

/* bench store_publish N BITS DB KEY [RUNS] (bench_incr.c): publications from scratch,
 * after one change and after 10^4 changes, with their phases. */
int bench_store_publish(uint64_t n, unsigned bits, const char *db, const char *key,
                        uint64_t runs);

/* bench pkcs11_sign 1 1 REF ALG WHERE SECONDS THREADS (bench_pkcs11.c): signatures per
 * second through tsl_signer_load(REF), a key file or a pkcs11: URI. */
int bench_pkcs11_sign(const char *ref, const char *alg_name, const char *where,
                      double seconds, unsigned threads);

/* bench idlist_gen N 1 FILE and bench idlist N 1 FILE (bench_idlist.c): an identifier
 * list of N 16-byte identifiers signed into FILE, then parsed and queried. */
int bench_idlist_gen(uint64_t n, const char *file);
int bench_idlist(uint64_t n, const char *file);

#endif /* TSL_BENCH_H */
