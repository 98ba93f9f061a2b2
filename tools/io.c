/* io.c - the tsl command's error printing and exit codes, whole-input reads under a
 * byte limit (the library's tsl_read_input), regular-file checks, strict numbers. */
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

int cli_flush(const char *cmd, int rc, bool ok, const char *note)
{
    if (rc != EXIT_OK)
        return rc;
    if (!ok || fflush(stdout) != 0) {
        cli_err(cmd, "write error on standard output%s", note);
        return EXIT_USAGE;
    }
    return EXIT_OK;
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

bool cli_parse_u64(const char *s, uint64_t *out)
{
    return tsl_u64_parse(s, out, NULL) == TSL_OK;
}
