/* file.c - reading key, certificate and trust files, and the secrets read from them:
 * the bottom of the crypto folder's key stack (it calls nothing in key.c, jwk.c,
 * keyset.c or pem.c, which all read their files through here). Files are opened without
 * blocking and must be regular; private material obeys ssh's permission rule; secret
 * buffers are wiped before they are freed. */
#include "crypto/crypto.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void tslp_free_secret(void *p, size_t n)
{
    if (p == NULL)
        return;
    OPENSSL_cleanse(p, n);
    tslp_free(p);
}

int tslp_looks_like_json(const char *text, size_t len)
{
    size_t i = 0;
    while (i < len &&
           (text[i] == ' ' || text[i] == '\t' || text[i] == '\r' || text[i] == '\n'))
        i++;
    return i < len && text[i] == '{';
}

/* What a file that is not a regular file is, for messages. */
static const char *file_kind(mode_t m)
{
    return S_ISDIR(m)    ? "a directory"
           : S_ISFIFO(m) ? "a FIFO (named pipe)"
           : S_ISSOCK(m) ? "a socket"
           : S_ISCHR(m)  ? "a character device"
           : S_ISBLK(m)  ? "a block device"
                         : "not a regular file";
}

tsl_status tslp_read_key_file(const char *path, char **buf, size_t *len, struct stat *st,
                              tsl_error *err)
{
    if (path == NULL || buf == NULL || len == NULL || st == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "key file: NULL argument");
    /* O_NONBLOCK: open() of a FIFO with no writer blocks forever, and `tsl serve` would
     * hang in it holding the store lock; a device may block too. The file is checked
     * to be regular before anything is read, so O_NONBLOCK never changes a read. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        int e = errno;
        struct stat ls;
        /* A socket cannot be opened (ENXIO); say what it is rather than "No such
         * device or address". */
        if (e == ENXIO && stat(path, &ls) == 0 && !S_ISREG(ls.st_mode))
            return tslp_fail(err, TSL_ERR_IO, 0, "%s: is %s, not a regular file", path,
                             file_kind(ls.st_mode));
        return tslp_fail(err, TSL_ERR_IO, 0, "%s: %s", path, strerror(e));
    }
    /* fstat on the open file: the mode checked is the mode of what was read. */
    if (fstat(fd, st) != 0) {
        int e = errno;
        close(fd);
        return tslp_fail(err, TSL_ERR_IO, 0, "%s: %s", path, strerror(e));
    }
    /* Keys, certificates and trust anchors come from regular files only: a FIFO or a
     * device could block a reader or feed it without end. */
    if (!S_ISREG(st->st_mode)) {
        close(fd);
        return tslp_fail(err, TSL_ERR_IO, 0, "%s: is %s, not a regular file", path,
                         file_kind(st->st_mode));
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
        int e = errno;
        close(fd);
        return tslp_fail(err, TSL_ERR_IO, 0, "%s: %s", path, strerror(e));
    }
    /* A secret buffer: a private key file leaves no stray copy in freed memory. Its
     * limit lets one byte past TSLP_KEY_FILE_MAX be read, so that a file of exactly the
     * cap is told from a larger one, plus the terminator. The file's size is only a hint
     * (it may change while read): room for it and one more byte is one read and one
     * allocation for the usual file. */
    tslp_buf b;
    tslp_buf_init_secret(&b, TSLP_KEY_FILE_MAX + 2, path);
    size_t hint = st->st_size > 0 && (uint64_t)st->st_size < TSLP_KEY_FILE_MAX
                      ? (size_t)st->st_size + 2
                      : 4096;
    tsl_error e;
    tsl_error_clear(&e);
    tsl_status s = tslp_buf_reserve(&b, hint, &e);
    while (s == TSL_OK) {
        if (b.cap - b.len < 2 && (s = tslp_buf_reserve(&b, 2, &e)) != TSL_OK)
            break;
        ssize_t r = read(fd, b.data + b.len, b.cap - b.len - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            s = tslp_fail(err, TSL_ERR_IO, 0, "%s: %s", path, strerror(errno));
            break;
        }
        if (r == 0)
            break;
        b.len += (size_t)r;
    }
    close(fd);
    /* The buffer's refusals (in e) say it as key files always have: past the cap is
     * "larger than", out of memory names the file. */
    if (s == TSL_ERR_LIMIT || (s == TSL_OK && b.len > TSLP_KEY_FILE_MAX))
        s = tslp_fail(err, TSL_ERR_LIMIT, 0, "%s: larger than %zu bytes", path,
                      TSLP_KEY_FILE_MAX);
    else if (s == TSL_ERR_NOMEM)
        s = tslp_fail(err, TSL_ERR_NOMEM, 0, "%s", e.msg);
    if (s != TSL_OK) {
        tslp_buf_free(&b);
        return s;
    }
    /* take() leaves a secret buffer's slack wiped, so the caller's wipe of len + 1
     * bytes covers the whole block. */
    b.data[b.len] = '\0';
    size_t n = 0;
    char *text = (char *)tslp_buf_take(&b, &n);
    if (text == NULL) /* not reached: the block exists and a secret take() keeps it */
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "%s: out of memory", path);
    *buf = text;
    *len = n;
    return TSL_OK;
}

tsl_status tsl_write_private_file(const char *path, const char *text, tsl_error *err)
{
    if (path == NULL || text == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "private key file: NULL argument");
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return tslp_fail(err, TSL_ERR_IO, 0, "%s: %s", path, strerror(errno));
    size_t n = strlen(text), off = 0;
    while (off < n) {
        ssize_t w = write(fd, text + off, n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            int e = w < 0 ? errno : EIO;
            close(fd);
            return tslp_fail(err, TSL_ERR_IO, 0, "%s: %s", path, strerror(e));
        }
        off += (size_t)w;
    }
    if (fsync(fd) != 0) {
        int e = errno;
        close(fd);
        return tslp_fail(err, TSL_ERR_IO, 0, "%s: %s", path, strerror(e));
    }
    if (close(fd) != 0)
        return tslp_fail(err, TSL_ERR_IO, 0, "%s: %s", path, strerror(errno));
    return TSL_OK;
}

tsl_status tslp_check_private_mode(const char *path, const struct stat *st,
                                   tsl_error *err)
{
    if (!S_ISREG(st->st_mode))
        return tslp_fail(err, TSL_ERR_KEY, 0,
                         "%s: private key material must be in a regular file", path);
    if ((st->st_mode & 077) != 0)
        return tslp_fail(err, TSL_ERR_KEY, 0,
                         "%s: private key file has mode %04o; it must not be accessible "
                         "by group or others (chmod 600)",
                         path, (unsigned)(st->st_mode & 07777));
    return TSL_OK;
}

