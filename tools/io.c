/* io.c - input handling for the tsl command: whole-input reads under a byte limit, a
 * line reader that refuses overlong lines instead of buffering them, strict numbers. */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void cli_err(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "tsl %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int cli_exit_for(tsl_status st)
{
    switch (st) {
    case TSL_OK: return EXIT_OK;
    case TSL_ERR_IO:
    case TSL_ERR_CRYPTO:
    case TSL_ERR_NOMEM:
    case TSL_ERR_ARG: return EXIT_USAGE;
    default: return EXIT_REJECT;
    }
}

tsl_status cli_error(tsl_error *err, tsl_status code, const char *msg)
{
    if (err->code == TSL_OK) {
        err->code = code;
        snprintf(err->msg, sizeof err->msg, "%s", msg);
    }
    return code;
}

int cli_fail(const char *cmd, const tsl_error *err, tsl_status st)
{
    cli_err(cmd, "%s", err->msg[0] ? err->msg : tsl_strerror(st));
    return cli_exit_for(st);
}

FILE *cli_open(const char *cmd, const char *path)
{
    if (path == NULL || strcmp(path, "-") == 0)
        return stdin;
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        cli_err(cmd, "%s: %s", path, strerror(errno));
    return f;
}

int cli_regular_file(const char *cmd, const char *opt, const char *path)
{
    /* O_NONBLOCK: opening a FIFO without a writer would block forever. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 && (errno != ENXIO || stat(path, &st) != 0)) {
        cli_err(cmd, "%s %s: %s", opt, path, strerror(errno));
        return EXIT_USAGE;
    }
    if (fd >= 0 && fstat(fd, &st) != 0) {
        cli_err(cmd, "%s %s: %s", opt, path, strerror(errno));
        close(fd);
        return EXIT_USAGE;
    }
    if (fd >= 0)
        close(fd);
    if (S_ISREG(st.st_mode))
        return EXIT_OK;
    cli_err(cmd, "%s %s: is %s, not a regular file", opt, path,
            S_ISDIR(st.st_mode)    ? "a directory"
            : S_ISFIFO(st.st_mode) ? "a FIFO (named pipe)"
            : S_ISSOCK(st.st_mode) ? "a socket"
            : S_ISCHR(st.st_mode)  ? "a character device"
            : S_ISBLK(st.st_mode)  ? "a block device"
                                   : "of another kind");
    return EXIT_USAGE;
}

int cli_read_all(const char *cmd, const char *path, size_t max, unsigned char **buf,
                 size_t *len)
{
    tsl_error err;
    tsl_error_clear(&err);
    tsl_status st = tsl_read_input(path, max, buf, len, &err);
    return st == TSL_OK ? EXIT_OK : cli_fail(cmd, &err, st);
}

int cli_next_line(cli_lines *r)
{
    /* Byte by byte (getc_unlocked is a macro over the stdio buffer): a NUL anywhere is
     * seen, and an overlong line is refused at byte CLI_MAX_LINE + 1 without reading
     * the rest of it, since every caller stops at the first bad line. */
    size_t n = 0;
    bool nul = false;
    int c;
    while ((c = getc_unlocked(r->f)) != EOF && c != '\n') {
        if (n == CLI_MAX_LINE) {
            r->lineno++;
            return -1;
        }
        nul |= c == '\0';
        r->buf[n++] = (char)c;
    }
    if (c == EOF && ferror(r->f))
        return -2;
    if (c == EOF && n == 0)
        return 0;
    r->lineno++;
    if (nul)
        return -3;
    r->buf[n] = '\0';
    r->len = n;
    return 1;
}

bool cli_parse_u64(const char *s, uint64_t *out)
{
    if (*s < '0' || *s > '9')
        return false;
    uint64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}
