/* tt.h - the in-house test harness: tests register themselves, tests/run runs them all
 * (or those named on the command line) and ends with "N passed, N failed".
 * A failed check prints file:line and both values, then ends that test. */
#ifndef TT_H
#define TT_H

#include "tsl.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

typedef void (*tt_fn)(void);
void tt_register(const char *name, tt_fn fn);
void tt_failf(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void tt_hexdiff(const char *file, int line, const void *a, const void *b, size_t n);
/* Reads a whole file (tests run from the project root); exits the run if it cannot. */
unsigned char *tt_read_file(const char *path, size_t *len);
/* Writes text to path, created with mode (0600, 0644...) if missing, replacing what it
 * held or (append) after it. 0 on success, -1 on any failure. */
int tt_write_file(const char *path, const char *text, unsigned mode, int append);
/* Reads a JSON file (duplicate keys rejected); exits the run if it cannot. Free with
 * json_decref(). */
json_t *tt_load_json(const char *path);
/* Decodes hex text (either case) into a malloc'd buffer of *len bytes, or NULL when it
 * is not an even number of hex digits. */
uint8_t *tt_unhex(const char *hex, size_t *len);
extern int tt_failed; /* set when the current test failed */
/* A store on the PostgreSQL server TSL_TEST_PG names (test_store.c): a new schema,
 * whose name goes to schema, and a URL selecting it to url. -1 (with a message on
 * stderr) when TSL_TEST_PG is unset or the server fails: the test then fails. */
int tt_pg_store(char *url, size_t url_size, char *schema, size_t schema_size);
/* Drops the schema tt_pg_store made (nothing when schema is ""), and clears it. */
void tt_pg_drop(char *schema);

#define TT_TEST(name)                                                                     \
    static void name(void);                                                               \
    __attribute__((constructor)) static void name##_register(void)                        \
    {                                                                                     \
        tt_register(#name, name);                                                         \
    }                                                                                     \
    static void name(void)

#define TT_CHECK(cond)                                                                    \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            tt_failf(__FILE__, __LINE__, "check failed: %s", #cond);                      \
            return;                                                                       \
        }                                                                                 \
    } while (0)

#define TT_OK(expr)                                                                       \
    do {                                                                                  \
        tsl_status tt_s_ = (expr);                                                        \
        if (tt_s_ != TSL_OK) {                                                            \
            tt_failf(__FILE__, __LINE__, "%s -> %s", #expr, tsl_strerror(tt_s_));          \
            return;                                                                       \
        }                                                                                 \
    } while (0)

/* Expects expr to fail with code. */
#define TT_ERR(expr, code)                                                                \
    do {                                                                                  \
        tsl_status tt_s_ = (expr);                                                        \
        if (tt_s_ != (code)) {                                                            \
            tt_failf(__FILE__, __LINE__, "%s -> %s, expected %s", #expr,                   \
                     tsl_strerror(tt_s_), tsl_strerror(code));                            \
            return;                                                                       \
        }                                                                                 \
    } while (0)

#define TT_EQ_U(a, b)                                                                     \
    do {                                                                                  \
        uint64_t tt_a_ = (uint64_t)(a), tt_b_ = (uint64_t)(b);                            \
        if (tt_a_ != tt_b_) {                                                             \
            tt_failf(__FILE__, __LINE__, "%s == %s: %" PRIu64 " != %" PRIu64, #a, #b,      \
                     tt_a_, tt_b_);                                                       \
            return;                                                                       \
        }                                                                                 \
    } while (0)

#define TT_EQ_STR(a, b)                                                                   \
    do {                                                                                  \
        const char *tt_a_ = (a), *tt_b_ = (b);                                            \
        if (tt_a_ == NULL || tt_b_ == NULL || strcmp(tt_a_, tt_b_) != 0) {                \
            tt_failf(__FILE__, __LINE__, "%s == %s: \"%s\" != \"%s\"", #a, #b,            \
                     tt_a_ ? tt_a_ : "(null)", tt_b_ ? tt_b_ : "(null)");                  \
            return;                                                                       \
        }                                                                                 \
    } while (0)

/* Substring check, for error messages. */
#define TT_CONTAINS(hay, needle)                                                          \
    do {                                                                                  \
        const char *tt_h_ = (hay), *tt_n_ = (needle);                                     \
        if (tt_h_ == NULL || strstr(tt_h_, tt_n_) == NULL) {                              \
            tt_failf(__FILE__, __LINE__, "\"%s\" does not contain \"%s\"",                \
                     tt_h_ ? tt_h_ : "(null)", tt_n_);                                    \
            return;                                                                       \
        }                                                                                 \
    } while (0)

#define TT_EQ_MEM(a, b, n)                                                                \
    do {                                                                                  \
        if (memcmp((a), (b), (n)) != 0) {                                                 \
            tt_hexdiff(__FILE__, __LINE__, (a), (b), (n));                                \
            return;                                                                       \
        }                                                                                 \
    } while (0)

#endif /* TT_H */
