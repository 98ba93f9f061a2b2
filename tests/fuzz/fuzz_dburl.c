/* fuzz_dburl.c - libFuzzer target for the check of a store's PostgreSQL URL
 * (tslp_pg_url_check in src/store/store_pg.c), which reads --db and $TSL_DB before
 * anything connects. Aborts when a failure lacks its code or message, when the message
 * shows any of the URL past its scheme (a password could be there), or when a URL is
 * accepted that libpq's own parser rejects or that carries a password. */
#include "store/store_pg.h"

#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    char *url = malloc(size + 1);
    if (url == NULL)
        return 0;
    memcpy(url, data, size);
    url[size] = '\0';
    tsl_error err;
    tsl_error_clear(&err);
    tsl_status st = tslp_pg_url_check(url, &err);
    if (st != TSL_OK) {
        if (err.code != st || err.msg[0] == '\0' || st != TSL_ERR_ARG)
            abort();
        /* Nothing after the scheme appears in the message: it is one of the fixed
         * texts, with at most "postgresql://" or "postgres://" before its reason. */
        const char *m = err.msg;
        if (strcmp(m, "store: not a postgresql:// or postgres:// URL") != 0) {
            if (strncmp(m, "store postgresql://...: ", 24) == 0)
                m += 24;
            else if (strncmp(m, "store postgres://...: ", 22) == 0)
                m += 22;
            else
                abort();
            if (strncmp(m, "not a valid PostgreSQL URL (libpq's connection URI: ", 52) != 0 &&
                strncmp(m, "the URL holds a password, which would show", 42) != 0)
                abort();
        }
    } else {
        char *e = NULL;
        PQconninfoOption *o = PQconninfoParse(url, &e);
        if (o == NULL)
            abort();
        for (PQconninfoOption *p = o; p->keyword != NULL; p++)
            if (strcmp(p->keyword, "password") == 0 && p->val != NULL)
                abort();
        PQconninfoFree(o);
    }
    free(url);
    return 0;
}
