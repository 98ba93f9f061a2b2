/* fuzz_apikey.c - libFuzzer target for the issuer API's key parsers: the presented
 * secret of an Authorization header (tsl_apikey_check, against a store made once in a
 * temp directory, holding one key) and a scope list (tsl_scopes_parse). The first byte
 * chooses. Aborts when a check of anything but the key's own secret succeeds, when a
 * refusal is not TSL_ERR_DENIED with one of the documented messages, when a message
 * quotes the presented text, or when a parsed scope mask does not name back to a list
 * that parses to the same mask. */
#include "tsl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static tsl_store *store;
static char dir[64], secret[TSL_APIKEY_SECRET_SIZE];

static void done(void)
{
    char p[128];
    tsl_store_close(store);
    const char *const names[] = {"tsl.db", "tsl.db-wal", "tsl.db-shm"};
    for (size_t k = 0; k < 3; k++) {
        snprintf(p, sizeof p, "%s/%s", dir, names[k]);
        unlink(p);
    }
    rmdir(dir);
}

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/tsl-fuzzkey-XXXXXX");
    char path[128];
    if (mkdtemp(dir) == NULL)
        abort();
    snprintf(path, sizeof path, "%s/tsl.db", dir);
    if (tsl_store_open(path, &store, NULL) != TSL_OK ||
        tsl_apikey_create(store, NULL, TSL_SCOPE_READ, 0, NULL, secret, NULL) != TSL_OK)
        abort();
    atexit(done);
}

static void check(const uint8_t *data, size_t size)
{
    tsl_error err;
    tsl_error_clear(&err);
    tsl_apikey_info info;
    tsl_status st = tsl_apikey_check(store, (const char *)data, size, 0, &info, &err);
    int own = size == strlen(secret) && memcmp(data, secret, size) == 0;
    if (st == TSL_OK) {
        if (!own)
            abort();
        return;
    }
    if (own || st != TSL_ERR_DENIED || err.code != st ||
        strcmp(err.msg, "API key: unknown or wrong key") != 0)
        abort();
}

static void scopes(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (s == NULL)
        return;
    memcpy(s, data, size);
    s[size] = '\0';
    unsigned m = 0, m2 = 0;
    tsl_error err;
    tsl_error_clear(&err);
    tsl_status st = tsl_scopes_parse(s, &m, &err);
    if (st != TSL_OK) {
        if (st != TSL_ERR_ARG || err.code != st || strncmp(err.msg, "scopes: ", 8) != 0)
            abort();
    } else {
        char buf[64];
        if (m == 0 || (m & ~TSL_SCOPE_ALL) != 0 ||
            tsl_scopes_parse(tsl_scopes_name(m, buf, sizeof buf), &m2, NULL) != TSL_OK ||
            m2 != m)
            abort();
    }
    free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 4096)
        return 0;
    if (store == NULL)
        setup();
    if (data[0] & 1)
        scopes(data + 1, size - 1);
    else
        check(data + 1, size - 1);
    return 0;
}
