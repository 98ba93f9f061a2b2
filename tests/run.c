/* run.c - the unit test runner: runs every registered test, or those named in argv,
 * and ends with the closing line "N passed, N failed". */
#include "tt.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <unistd.h>

#define TT_MAX 1024

static struct {
    const char *name;
    tt_fn fn;
} tests[TT_MAX];
static int ntests;
int tt_failed;

void tt_register(const char *name, tt_fn fn)
{
    if (ntests == TT_MAX) {
        fprintf(stderr, "tt: more than %d tests\n", TT_MAX);
        exit(2);
    }
    tests[ntests].name = name;
    tests[ntests].fn = fn;
    ntests++;
}

void tt_failf(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    tt_failed = 1;
    fprintf(stderr, "  %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

void tt_hexdiff(const char *file, int line, const void *a, const void *b, size_t n)
{
    const unsigned char *x = a, *y = b;
    size_t i = 0;
    while (i < n && x[i] == y[i])
        i++;
    tt_failf(file, line, "buffers differ at byte %zu of %zu", i, n);
    size_t from = i > 8 ? i - 8 : 0, to = i + 8 < n ? i + 8 : n;
    fprintf(stderr, "    got:      ");
    for (size_t k = from; k < to; k++)
        fprintf(stderr, "%02x", x[k]);
    fprintf(stderr, "\n    expected: ");
    for (size_t k = from; k < to; k++)
        fprintf(stderr, "%02x", y[k]);
    fputc('\n', stderr);
}

int tt_write_file(const char *path, const char *text, unsigned mode, int append)
{
    int fd = open(path, O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC), (mode_t)mode);
    if (fd < 0)
        return -1;
    size_t n = strlen(text);
    int ok = write(fd, text, n) == (ssize_t)n;
    ok = close(fd) == 0 && ok;
    return ok ? 0 : -1;
}

unsigned char *tt_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "tt: cannot open %s (run from the project root)\n", path);
        exit(2);
    }
    size_t cap = 1 << 16, n = 0;
    unsigned char *buf = malloc(cap + 1);
    size_t r;
    while (buf && (r = fread(buf + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            cap *= 2;
            buf = realloc(buf, cap + 1);
        }
    }
    fclose(f);
    if (buf == NULL) {
        fprintf(stderr, "tt: out of memory reading %s\n", path);
        exit(2);
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

static int selected(const char *name, int argc, char **argv)
{
    if (argc < 2)
        return 1;
    for (int i = 1; i < argc; i++)
        if (strstr(name, argv[i]) != NULL)
            return 1;
    return 0;
}

int main(int argc, char **argv)
{
    int passed = 0, failed = 0;
    for (int i = 0; i < ntests; i++) {
        if (!selected(tests[i].name, argc, argv))
            continue;
        tt_failed = 0;
        tests[i].fn();
        if (tt_failed) {
            fprintf(stderr, "FAIL %s\n", tests[i].name);
            failed++;
        } else {
            passed++;
        }
    }
    printf("unit: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}

json_t *tt_load_json(const char *path)
{
    size_t n;
    unsigned char *b = tt_read_file(path, &n);
    json_error_t e;
    json_t *v = json_loadb((const char *)b, n, JSON_REJECT_DUPLICATES, &e);
    free(b);
    if (v == NULL) {
        fprintf(stderr, "tt: %s: %s (line %d)\n", path, e.text, e.line);
        exit(2);
    }
    return v;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

uint8_t *tt_unhex(const char *hex, size_t *len)
{
    size_t n = strlen(hex);
    if (n % 2 != 0)
        return NULL;
    uint8_t *out = malloc(n / 2 + 1);
    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < n / 2; i++) {
        int hi = hexval((unsigned char)hex[2 * i]), lo = hexval((unsigned char)hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            free(out);
            return NULL;
        }
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    *len = n / 2;
    return out;
}
