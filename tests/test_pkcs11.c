/* test_pkcs11.c - keys in hardware: the RFC 7512 parser (what it keeps, what it refuses
 * and that no refusal quotes a value), key references (a pin-value refused, a file path
 * passed through), the errors of a missing module, and, on a real softhsm2 token made in
 * a temporary directory, eight threads signing at once through the session pool (more
 * threads than sessions) while the module is re-initialised under them, each signature
 * verified (P-256: softhsm2 2.6 leaks a little
 * in C_SignInit for EdDSA, which LeakSanitizer would count against this test). */
#include "tt.h"
#include "crypto/pkcs11_int.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

TT_TEST(pkcs11_uri_parse)
{
    tslp_p11_uri u;
    tsl_error err;
    tsl_error_clear(&err);
    const char *s = "pkcs11:token=My%20token;object=status-es256;id=%01%FF;type=private;"
                    "serial=88b3;slot-id=42;library-version=2.6?pin-source=file:/etc/pin&"
                    "module-path=/usr/lib/softhsm/libsofthsm2.so&x-vendor=1";
    TT_OK(tslp_p11_uri_parse(s, strlen(s), &u, &err));
    TT_EQ_STR(u.token, "My token");
    TT_EQ_STR(u.object, "status-es256");
    TT_EQ_STR(u.serial, "88b3");
    TT_CHECK(u.has_id && u.id_len == 2 && u.id[0] == 1 && u.id[1] == 0xff);
    TT_CHECK(u.type == TSLP_P11_PRIVATE);
    TT_CHECK(u.has_slot_id && u.slot_id == 42);
    TT_CHECK(u.lib_major == 2 && u.lib_minor == 6);
    TT_EQ_STR(u.pin_source, "file:/etc/pin");
    TT_EQ_STR(u.module_path, "/usr/lib/softhsm/libsofthsm2.so");
    tslp_p11_uri_free(&u);

    static const struct {
        const char *uri, *msg;
    } bad[] = {
        {"pkcs11:object=k?pin-value=S3cr3tPIN", "pin-value is refused"},
        {"pkcs11:object=a;object=b", "object appears twice"},
        {"pkcs11:object=%4", "a % not followed by two hex digits"},
        {"pkcs11:object=%00", "a NUL byte"},
        {"pkcs11:object=a b", "byte 0x20 must be percent-encoded"},
        {"pkcs11:object=a/b", "'/' must be percent-encoded"},
        {"pkcs11:foo=bar", "unknown path attribute \"foo\""},
        {"pkcs11:object=k?bar=1", "unknown query attribute \"bar\""},
        {"pkcs11:type=secret", "type is not private"},
        {"pkcs11:slot-id=x1", "slot-id is not a decimal number"},
        {"pkcs11:object=k;", "a trailing ';'"},
        {"pkcs11:object", "not NAME=VALUE"},
        {"pkcs:object=k", "does not start with pkcs11:"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        tsl_error_clear(&err);
        tsl_status st = tslp_p11_uri_parse(bad[k].uri, strlen(bad[k].uri), &u, &err);
        if (st != TSL_ERR_MALFORMED)
            tt_failf(__FILE__, __LINE__, "%s: %s", bad[k].uri, tsl_strerror(st));
        TT_CONTAINS(err.msg, bad[k].msg);
        TT_CHECK(strstr(err.msg, "S3cr3tPIN") == NULL);
        tslp_p11_uri_free(&u);
    }
    char big[TSLP_P11_URI_MAX + 40];
    memset(big, 'a', sizeof big);
    memcpy(big, "pkcs11:object=", 14);
    tsl_error_clear(&err);
    TT_ERR(tslp_p11_uri_parse(big, sizeof big, &u, &err), TSL_ERR_LIMIT);
    tslp_p11_uri_free(&u);
}

TT_TEST(pkcs11_key_refs)
{
    tsl_error err;
    tsl_error_clear(&err);
    TT_CHECK(tsl_key_ref_is_pkcs11("pkcs11:token=t;object=o"));
    TT_CHECK(tsl_key_ref_is_pkcs11("PKCS11:object=o"));
    TT_CHECK(!tsl_key_ref_is_pkcs11("/etc/tsl/key.pem"));
    TT_CHECK(!tsl_key_ref_is_pkcs11("pkcs11.pem"));
    TT_OK(tsl_key_ref_check("/etc/tsl/key.pem", &err));
    TT_OK(tsl_key_ref_check("pkcs11:token=t;object=o?pin-source=file:/run/pin", &err));
    TT_ERR(tsl_key_ref_check("pkcs11:token=t;object=o?pin-value=1234", &err),
           TSL_ERR_MALFORMED);
    TT_CONTAINS(err.msg, "pin-value is refused");
    /* A module that is not there: an I/O error naming it and where a module comes from. */
    tsl_signer_opts so;
    memset(&so, 0, sizeof so);
    so.pkcs11_module = "/nonexistent/module.so";
    tsl_signer *s = NULL;
    tsl_error_clear(&err);
    TT_ERR(tsl_signer_load("pkcs11:token=t;object=o", &so, &s, NULL, &err), TSL_ERR_IO);
    TT_CHECK(s == NULL);
    TT_CONTAINS(err.msg, "module /nonexistent/module.so: No such file");
    TT_CONTAINS(err.msg, "--pkcs11-module or $TSL_PKCS11_MODULE");
    /* A URI naming no key. */
    tsl_error_clear(&err);
    TT_ERR(tsl_signer_load("pkcs11:token=t", &so, &s, NULL, &err), TSL_ERR_ARG);
    TT_CONTAINS(err.msg, "object=LABEL or id=");
}

/* ---- eight threads through the pool of a real softhsm2 token ---- */

#define THREADS 8
#define ROUNDS 100

typedef struct {
    const tsl_signer *s;
    const tsl_key *pub;
    int failures;
} worker;

static void *sign_loop(void *arg)
{
    worker *w = arg;
    for (int k = 0; k < ROUNDS; k++) {
        tsl_error err;
        tsl_error_clear(&err);
        if (tsl_signer_check(w->s, w->pub, &err) != TSL_OK) {
            fprintf(stderr, "pkcs11 thread: %s\n", err.msg);
            w->failures++;
        }
    }
    return NULL;
}

static const char *softhsm_module(void)
{
    static const char *const paths[] = {"/usr/lib/softhsm/libsofthsm2.so",
                                        "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so"};
    for (size_t k = 0; k < 2; k++)
        if (access(paths[k], R_OK) == 0)
            return paths[k];
    return NULL;
}

TT_TEST(pkcs11_threads_share_the_pool)
{
    /* Never skipped: softhsm2 and opensc are dependencies (scripts/deps.sh). */
    const char *mod = softhsm_module();
    TT_CHECK(mod != NULL);
    if (mod == NULL)
        return;
    char dir[] = "/tmp/tsl-p11unit.XXXXXX";
    TT_CHECK(mkdtemp(dir) != NULL);
    char conf[256], cmd[1024];
    snprintf(conf, sizeof conf, "%s/softhsm2.conf", dir);
    FILE *f = fopen(conf, "w");
    TT_CHECK(f != NULL);
    if (f == NULL)
        return;
    fprintf(f, "directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n",
            dir);
    fclose(f);
    setenv("SOFTHSM2_CONF", conf, 1);
    snprintf(cmd, sizeof cmd,
             "softhsm2-util --init-token --free --label unit --so-pin 87654321 --pin 4321 "
             ">/dev/null 2>&1 && pkcs11-tool --module %s --token-label unit --login --pin "
             "4321 --keypairgen --key-type EC:prime256v1 --label p256 --id 07 >/dev/null 2>&1",
             mod);
    TT_CHECK(system(cmd) == 0);
    setenv("TSL_PKCS11_PIN", "4321", 1);
    tsl_signer_opts so;
    memset(&so, 0, sizeof so);
    so.pkcs11_module = mod;
    tsl_signer *s = NULL;
    tsl_key *pub = NULL;
    tsl_error err;
    tsl_error_clear(&err);
    tsl_status st = tsl_signer_load("pkcs11:token=unit;object=p256", &so, &s, &pub, &err);
    if (st != TSL_OK)
        tt_failf(__FILE__, __LINE__, "%s", err.msg);
    TT_OK(st);
    if (st == TSL_OK) {
        TT_CHECK(tsl_signer_alg(s) == TSL_ALG_ES256);
        tsl_pkcs11_stats before, after;
        tsl_pkcs11_get_stats(&before);
        pthread_t th[THREADS];
        worker w[THREADS];
        for (int k = 0; k < THREADS; k++) {
            w[k].s = s;
            w[k].pub = pub;
            w[k].failures = 0;
            TT_CHECK(pthread_create(&th[k], NULL, sign_loop, &w[k]) == 0);
        }
        /* Meanwhile the module is re-initialised under them (what a token that went
         * away and came back causes): C_Finalize waits for the calls in flight, the
         * threads' sessions die, and each sign reopens the token and tries once more. */
        usleep(20000);
        tslp_p11_uri u;
        tslp_p11_token *tok = NULL;
        TT_OK(tslp_p11_uri_parse("pkcs11:token=unit", 17, &u, &err));
        TT_OK(tslp_p11_token_open(&u, mod, 1, &tok, &err));
        tslp_p11_uri_free(&u);
        if (tok != NULL)
            TT_OK(tslp_p11_token_refresh(tok, &err));
        int failures = 0;
        for (int k = 0; k < THREADS; k++) {
            pthread_join(th[k], NULL);
            failures += w[k].failures;
        }
        TT_CHECK(failures == 0);
        /* One more after them all: the token is back in service either way. */
        TT_OK(tsl_signer_check(s, pub, &err));
        tsl_pkcs11_get_stats(&after);
        TT_CHECK(after.signs - before.signs == THREADS * ROUNDS + 1);
        TT_CHECK(after.reopens > before.reopens);
        TT_CHECK(after.tokens >= 1);
    }
    tsl_signer_free(s);
    tsl_key_free(pub);
    unsetenv("TSL_PKCS11_PIN");
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    TT_CHECK(system(cmd) == 0);
}
