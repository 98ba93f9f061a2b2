/* test_input.c - the bounded whole-input reader (tsl_read_input, src/core/input.c):
 * exact bytes at and across its read step, NUL bytes kept and a terminator added, one
 * byte over the limit refused with TSL_ERR_LIMIT naming it, and a missing file or a
 * directory refused with TSL_ERR_IO naming the path. */
#include "tt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
