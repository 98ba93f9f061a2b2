/* bench_pkcs11.c - `bench pkcs11_sign REF ALG SECONDS THREADS`: signatures per second
 * through a signer from tsl_signer_load, so the same code measures a key file in memory
 * and a key on a PKCS#11 token (a pkcs11: URI; the PIN from $TSL_PKCS11_PIN). Each
 * thread signs a 1 KiB message (a JWS signing input's order of size; ECDSA hashes it in
 * software first, so the size matters only for EdDSA) until SECONDS pass. Prints one
 * JSON line (tests/bench_pkcs11.sh names where the key is). */
#include "bench.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const tsl_signer *s;
    double until;
    uint64_t count;
    int failed;
} sign_worker;

static void *sign_worker_run(void *arg)
{
    sign_worker *w = arg;
    uint8_t msg[1024];
    memset(msg, 'm', sizeof msg);
    while (bench_now() < w->until) {
        uint8_t *sig = NULL;
        size_t n = 0;
        tsl_error err;
        tsl_error_clear(&err);
        msg[w->count % sizeof msg] ^= 1; /* a new message each time */
        if (tsl_signer_sign(w->s, msg, sizeof msg, &sig, &n, &err) != TSL_OK) {
            fprintf(stderr, "bench: sign: %s\n", err.msg);
            w->failed = 1;
            return NULL;
        }
        tsl_free(sig);
        w->count++;
    }
    return NULL;
}

int bench_pkcs11_sign(const char *ref, const char *alg_name, const char *where,
                      double seconds, unsigned threads)
{
    tsl_signer_opts so;
    memset(&so, 0, sizeof so);
    so.alg = tsl_alg_from_name(alg_name);
    tsl_signer *s = NULL;
    tsl_error err;
    tsl_error_clear(&err);
    tsl_status st = tsl_signer_load(ref, &so, &s, NULL, &err);
    if (st != TSL_OK)
        bench_die("signer", st, &err);
    sign_worker w[64];
    pthread_t th[64];
    if (threads == 0 || threads > 64)
        threads = 1;
    double t0 = bench_now();
    for (unsigned k = 0; k < threads; k++) {
        w[k].s = s;
        w[k].until = t0 + seconds;
        w[k].count = 0;
        w[k].failed = 0;
        if (pthread_create(&th[k], NULL, sign_worker_run, &w[k]) != 0)
            return 2;
    }
    uint64_t total = 0;
    int failed = 0;
    for (unsigned k = 0; k < threads; k++) {
        pthread_join(th[k], NULL);
        total += w[k].count;
        failed |= w[k].failed;
    }
    double el = bench_now() - t0;
    tsl_signer_free(s);
    if (failed)
        return 1;
    printf("{\"case\":\"pkcs11_sign\",\"alg\":\"%s\",\"key\":\"%s\",\"threads\":%u,"
           "\"signatures\":%llu,\"seconds\":%.3f,\"per_second\":%.1f}\n",
           alg_name, where, threads, (unsigned long long)total, el, (double)total / el);
    return 0;
}
