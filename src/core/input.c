/* input.c - reading a whole input under a byte limit (tsl_read_input): a file or
 * standard input read in growing steps that never hold more than the limit plus one
 * byte, so an endless or huge input is refused without being buffered; and a line
 * reader (tsl_lines_*) that refuses an overlong line or one holding a NUL, naming it,
 * instead of buffering it. The tsl command reads tokens, lists and update batches
 * through them; an embedder reading untrusted input can too. */
#include "core/tsl_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define READ_STEP ((size_t)1 << 16)

tsl_status tsl_read_input(const char *path, size_t max, uint8_t **out, size_t *len,
                          tsl_error *err)
{
    if (out == NULL || len == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "read input: NULL argument");
    bool std = path == NULL || strcmp(path, "-") == 0;
    FILE *f = std ? stdin : fopen(path, "rb");
    if (f == NULL)
        return tslp_fail(err, TSL_ERR_IO, 0, "%s: %s", path, strerror(errno));
    const char *name = std ? "standard input" : path;
    if (max > SIZE_MAX / 2)
        max = SIZE_MAX / 2;
    tslp_buf b;
    tslp_buf_init(&b, SIZE_MAX, "input");
    tsl_status r = TSL_OK;
    for (;;) {
        /* Up to one byte past max: enough to tell "over the limit" without more. */
        size_t want = max + 1 - b.len < READ_STEP ? max + 1 - b.len : READ_STEP;
        if (tslp_buf_reserve(&b, want + 1, NULL) != TSL_OK) {
            r = tslp_fail(err, TSL_ERR_NOMEM, 0, "%s: out of memory", name);
            break;
        }
        size_t got = fread(b.data + b.len, 1, want, f);
        b.len += got;
        if (got < want) {
            if (ferror(f))
                r = tslp_fail(err, TSL_ERR_IO, 0, "%s: read error: %s", name,
                              strerror(errno));
            break;
        }
        if (b.len > max) {
            r = tslp_fail(err, TSL_ERR_LIMIT, 0, "%s: larger than the input limit of %zu bytes",
                          name, max);
            break;
        }
    }
    if (!std)
        fclose(f);
    if (r != TSL_OK) {
        tslp_buf_free(&b);
        return r;
    }
    b.data[b.len++] = '\0'; /* room was reserved; taken along: take() may shrink to len */
    size_t n;
    *out = tslp_buf_take(&b, &n);
    if (*out == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "%s: out of memory", name);
    *len = n - 1;
    return TSL_OK;
}

/* ---------------------------------------------------------------------------------- */
/* Lines under a length bound                                                          */

struct tsl_lines {
    FILE *f;
    bool std;
    const char *name;   /* "standard input" or the path (borrowed) */
    char *buf;          /* max + 1 bytes */
    size_t max;
    unsigned long lineno;
    uint64_t size;      /* of a regular file, else 0 */
};

tsl_status tsl_lines_open(const char *path, size_t max_line, tsl_lines **out, tsl_error *err)
{
    if (out == NULL || max_line == 0 || max_line > TSL_LINES_MAX)
        return tslp_fail(err, TSL_ERR_ARG, 0, "lines: NULL argument or bad line length");
    *out = NULL;
    tsl_lines *r = tslp_calloc(1, sizeof *r);
    if (r == NULL || (r->buf = tslp_malloc(max_line + 1)) == NULL) {
        tslp_free(r);
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "lines: out of memory");
    }
    r->std = path == NULL || strcmp(path, "-") == 0;
    r->f = r->std ? stdin : fopen(path, "rb");
    if (r->f == NULL) {
        tsl_status st = tslp_fail(err, TSL_ERR_IO, 0, "%s: %s", path, strerror(errno));
        tslp_free(r->buf);
        tslp_free(r);
        return st;
    }
    r->name = r->std ? "standard input" : path;
    r->max = max_line;
    struct stat sb;
    if (fstat(fileno(r->f), &sb) == 0 && S_ISREG(sb.st_mode))
        r->size = (uint64_t)sb.st_size;
    *out = r;
    return TSL_OK;
}

tsl_status tsl_lines_next(tsl_lines *r, char **line, size_t *len, tsl_error *err)
{
    if (r == NULL || line == NULL || len == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "lines: NULL argument");
    *line = NULL;
    *len = 0;
    /* Byte by byte (getc_unlocked is a macro over the stdio buffer): a NUL anywhere is
     * seen, and an overlong line is refused at byte max + 1 without reading the rest of
     * it, since a caller stops at the first bad line. */
    size_t n = 0;
    bool nul = false;
    int c;
    while ((c = getc_unlocked(r->f)) != EOF && c != '\n') {
        if (n == r->max)
            return tslp_fail(err, TSL_ERR_LIMIT, 0, "line %lu: longer than %zu bytes",
                             ++r->lineno, r->max);
        nul |= c == '\0';
        r->buf[n++] = (char)c;
    }
    if (c == EOF && ferror(r->f))
        return tslp_fail(err, TSL_ERR_IO, 0, "%s: read error: %s", r->name, strerror(errno));
    if (c == EOF && n == 0)
        return TSL_OK; /* the end */
    r->lineno++;
    if (nul)
        return tslp_fail(err, TSL_ERR_MALFORMED, 0, "line %lu: contains a NUL byte",
                         r->lineno);
    r->buf[n] = '\0';
    *line = r->buf;
    *len = n;
    return TSL_OK;
}

unsigned long tsl_lines_number(const tsl_lines *r)
{
    return r != NULL ? r->lineno : 0;
}

uint64_t tsl_lines_size(const tsl_lines *r)
{
    return r != NULL ? r->size : 0;
}

void tsl_lines_close(tsl_lines *r)
{
    if (r == NULL)
        return;
    if (!r->std)
        fclose(r->f);
    tslp_free(r->buf);
    tslp_free(r);
}

/* ---------------------------------------------------------------------------------- */
/* Numbers                                                                              */

tsl_status tsl_u64_parse(const char *s, uint64_t *out, tsl_error *err)
{
    if (s == NULL || out == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "number: NULL argument");
    uint64_t v = 0;
    const char *p = s;
    for (; *p >= '0' && *p <= '9'; p++) {
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return tslp_fail(err, TSL_ERR_MALFORMED, 0, "\"%.40s\" is larger than %llu", s,
                             (unsigned long long)UINT64_MAX);
        v = v * 10 + d;
    }
    if (p == s || *p != '\0')
        return tslp_fail(err, TSL_ERR_MALFORMED, 0, "\"%.40s\" is not a decimal number", s);
    *out = v;
    return TSL_OK;
}
