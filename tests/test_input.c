/* test_input.c - the bounded readers of src/core/input.c. tsl_read_input:
 * exact bytes at and across its read step, NUL bytes kept and a terminator added, one
 * byte over the limit refused with TSL_ERR_LIMIT naming it, and a missing file or a
 * directory refused with TSL_ERR_IO naming the path. tsl_lines_*: the line bound, CR,
 * NUL and read errors. tsl_progress_*: drawn only on a terminal or when forced. */
#include "tt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Writes n bytes of a pattern (with NULs) to a new temporary file; its path in path. */
static int write_tmp(char path[64], size_t n)
{
    snprintf(path, 64, "/tmp/tsl-input-XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0)
        return -1;
    int ok = 1;
    for (size_t i = 0; i < n && ok; i++) {
        unsigned char c = (unsigned char)(i % 251);
        ok = write(fd, &c, 1) == 1;
    }
    close(fd);
    return ok ? 0 : -1;
}

TT_TEST(read_input_bounded)
{
    static const size_t sizes[] = {0, 1, 65535, 65536, 65537, 200000};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        char path[64];
        size_t n = sizes[k];
        TT_CHECK(write_tmp(path, n) == 0);
        uint8_t *b = NULL;
        size_t len = 99;
        /* At the limit: read whole. */
        TT_OK(tsl_read_input(path, n, &b, &len, NULL));
        TT_EQ_U(len, n);
        TT_EQ_U(b[n], 0);
        size_t bad = 0;
        for (size_t i = 0; i < n; i++)
            bad += b[i] != (uint8_t)(i % 251);
        TT_EQ_U(bad, 0);
        tsl_free(b);
        /* One byte over: refused, naming the limit. */
        if (n > 0) {
            tsl_error err;
            tsl_error_clear(&err);
            b = NULL;
            TT_ERR(tsl_read_input(path, n - 1, &b, &len, &err), TSL_ERR_LIMIT);
            TT_CHECK(b == NULL);
            char want[128];
            snprintf(want, sizeof want, "%s: larger than the input limit of %zu bytes", path,
                     n - 1);
            TT_EQ_STR(err.msg, want);
        }
        unlink(path);
    }
    tsl_error err;
    tsl_error_clear(&err);
    uint8_t *b = NULL;
    size_t len;
    TT_ERR(tsl_read_input("/nonexistent/in", 10, &b, &len, &err), TSL_ERR_IO);
    TT_EQ_STR(err.msg, "/nonexistent/in: No such file or directory");
    tsl_error_clear(&err);
    TT_ERR(tsl_read_input("/", 10, &b, &len, &err), TSL_ERR_IO);
    TT_CONTAINS(err.msg, "/: read error: ");
    TT_ERR(tsl_read_input("/", 10, NULL, &len, NULL), TSL_ERR_ARG);
}

/* Writes text of n bytes to a new temporary file; its path in path. */
static int write_text(char path[64], const char *text, size_t n)
{
    snprintf(path, 64, "/tmp/tsl-lines-XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0)
        return -1;
    int ok = write(fd, text, n) == (ssize_t)n;
    close(fd);
    return ok ? 0 : -1;
}

TT_TEST(lines_bounded_and_named)
{
    /* Lines at the bound pass, a CR is kept, a last line without '\n' counts, the size of
     * a file is known; one byte over the bound and a NUL are refused naming the line. */
    char path[64];
    static const char text[] = "abcd\r\n\n1234\nxyz";
    TT_CHECK(write_text(path, text, sizeof text - 1) == 0);
    tsl_lines *r = NULL;
    TT_OK(tsl_lines_open(path, 4, &r, NULL));
    TT_EQ_U(tsl_lines_size(r), sizeof text - 1);
    char *line;
    size_t len;
    tsl_error err;
    tsl_error_clear(&err);
    /* "abcd\r" is 5 bytes: over a bound of 4. */
    TT_ERR(tsl_lines_next(r, &line, &len, &err), TSL_ERR_LIMIT);
    TT_EQ_STR(err.msg, "line 1: longer than 4 bytes");
    tsl_lines_close(r);
    TT_OK(tsl_lines_open(path, 5, &r, NULL));
    static const char *want[] = {"abcd\r", "", "1234", "xyz"};
    for (size_t k = 0; k < 4; k++) {
        TT_OK(tsl_lines_next(r, &line, &len, NULL));
        TT_CHECK(line != NULL);
        TT_EQ_STR(line, want[k]);
        TT_EQ_U(len, strlen(want[k]));
        TT_EQ_U(tsl_lines_number(r), k + 1);
    }
    TT_OK(tsl_lines_next(r, &line, &len, NULL));
    TT_CHECK(line == NULL);
    tsl_lines_close(r);
    unlink(path);

    static const char nul[] = "1 2\n3\0004\n";
    TT_CHECK(write_text(path, nul, sizeof nul - 1) == 0);
    TT_OK(tsl_lines_open(path, 100, &r, NULL));
    TT_OK(tsl_lines_next(r, &line, &len, NULL));
    tsl_error_clear(&err);
    TT_ERR(tsl_lines_next(r, &line, &len, &err), TSL_ERR_MALFORMED);
    TT_EQ_STR(err.msg, "line 2: contains a NUL byte");
    tsl_lines_close(r);
    unlink(path);

    tsl_error_clear(&err);
    TT_ERR(tsl_lines_open("/nonexistent/in", 10, &r, &err), TSL_ERR_IO);
    TT_EQ_STR(err.msg, "/nonexistent/in: No such file or directory");
    TT_OK(tsl_lines_open("/", 10, &r, NULL));
    tsl_error_clear(&err);
    TT_ERR(tsl_lines_next(r, &line, &len, &err), TSL_ERR_IO);
    TT_CONTAINS(err.msg, "/: read error: ");
    tsl_lines_close(r);
    TT_ERR(tsl_lines_open(NULL, 0, &r, NULL), TSL_ERR_ARG);
    tsl_lines_close(NULL);
}

/* Reads what is in the pipe now (its write end closed first). */
static size_t drain(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    ssize_t r;
    while (n + 1 < cap && (r = read(fd, buf + n, cap - 1 - n)) > 0)
        n += (size_t)r;
    buf[n] = '\0';
    return n;
}

TT_TEST(progress_draws_only_on_a_terminal)
{
    /* A pipe is no terminal: nothing is drawn unless forced. Forced: the line count
     * with its bar after 100 ms at a multiple of 1024 lines, the busy phase from its
     * thread, and a cleared line at the end. */
    int fds[2];
    TT_CHECK(pipe(fds) == 0);
    tsl_progress *p = NULL;
    TT_OK(tsl_progress_new(fds[1], "tsl t", 1000, 0, &p, NULL));
    struct timespec pause = {0, 120 * 1000000L};
    nanosleep(&pause, NULL);
    tsl_progress_lines(p, 1024, 500);
    tsl_progress_end(p);
    tsl_progress_free(p);
    TT_OK(tsl_progress_new(fds[1], "tsl t", 1000, TSL_PROGRESS_FORCE, &p, NULL));
    tsl_progress_lines(p, 1024, 500); /* too soon: not drawn */
    nanosleep(&pause, NULL);
    tsl_progress_lines(p, 1000, 500); /* not a multiple of 1024: not drawn */
    tsl_progress_lines(p, 2048, 500);
    tsl_progress_busy(p, "applying 5 entries");
    nanosleep(&pause, NULL);
    tsl_progress_end(p);
    tsl_progress_free(p);
    close(fds[1]);
    char out[1024];
    drain(fds[0], out, sizeof out);
    close(fds[0]);
    const char *want = "\rtsl t: reading [############------------]  50% 2048 lines\033[K"
                       "\rtsl t: applying 5 entries 0.0 s\033[K";
    TT_CHECK(strncmp(out, want, strlen(want)) == 0);
    size_t n = strlen(out);
    TT_CHECK(n >= 4 && strcmp(out + n - 4, "\r\033[K") == 0);
    TT_ERR(tsl_progress_new(1, NULL, 0, 0, &p, NULL), TSL_ERR_ARG);
    tsl_progress_lines(NULL, 1024, 0);
    tsl_progress_free(NULL);
}

/* Decimal numbers: digits only, up to UINT64_MAX, anything else named. */
TT_TEST(u64_parse_strict)
{
    uint64_t v = 7;
    TT_OK(tsl_u64_parse("0", &v, NULL));
    TT_EQ_U(v, 0);
    TT_OK(tsl_u64_parse("18446744073709551615", &v, NULL));
    TT_CHECK(v == UINT64_MAX);
    static const char *const bad[] = {"", "-1", "+1", " 1", "1 ", "1.0", "0x10", "1e3",
                                      "18446744073709551616", "99999999999999999999"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        v = 7;
        TT_ERR(tsl_u64_parse(bad[k], &v, NULL), TSL_ERR_MALFORMED);
        TT_EQ_U(v, 7);
    }
    tsl_error err;
    tsl_error_clear(&err);
    TT_ERR(tsl_u64_parse("12a", &v, &err), TSL_ERR_MALFORMED);
    TT_CONTAINS(err.msg, "\"12a\" is not a decimal number");
    tsl_error_clear(&err);
    TT_ERR(tsl_u64_parse("18446744073709551616", &v, &err), TSL_ERR_MALFORMED);
    TT_CONTAINS(err.msg, "is larger than 18446744073709551615");
    TT_ERR(tsl_u64_parse(NULL, &v, NULL), TSL_ERR_ARG);
}
