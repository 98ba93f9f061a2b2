/* alloc.c - the allocation seam: every libtsl allocation passes here so the tests can
 * fail the Nth one and prove each path returns TSL_ERR_NOMEM without leaking. */
#include "core/tsl_int.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* Tests run single-threaded; in production the counter stays 0 and is only read. */
static long fail_after;

void tslp_test_fail_alloc_after(long n)
{
    fail_after = n;
}

static bool should_fail(void)
{
    if (fail_after <= 0)
        return false;
    return --fail_after == 0;
}

void *tslp_malloc(size_t n)
{
    if (should_fail())
        return NULL;
    return malloc(n ? n : 1);
}

void *tslp_calloc(size_t n, size_t size)
{
    if (should_fail())
        return NULL;
    if (n == 0 || size == 0)
        return calloc(1, 1);
    return calloc(n, size);
}

void *tslp_realloc(void *p, size_t n)
{
    if (should_fail())
        return NULL;
    return realloc(p, n ? n : 1);
}

/* Test hook: sees every block tslp_free releases, before it is released, so a test can
 * check that a secret buffer was wiped. NULL (no hook) in production. */
static void (*on_free)(void *p);

void tslp_test_on_free(void (*fn)(void *p))
{
    on_free = fn;
}

void tslp_free(void *p)
{
    if (on_free != NULL && p != NULL)
        on_free(p);
    free(p);
}

void *tslp_zero_pages(size_t n)
{
    if (should_fail())
        return NULL;
    void *p = mmap(NULL, n ? n : 1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void tslp_zero_pages_free(void *p, size_t n)
{
    if (p != NULL)
        munmap(p, n ? n : 1);
}

void tsl_free(void *p)
{
    free(p);
}

char *tslp_strndup(const char *s, size_t n)
{
    char *p = tslp_malloc(n + 1);
    if (p != NULL) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}
