/* disk_cache.c - the relying party's disk cache (disk_cache.h): a private directory,
 * checked once and then used through its descriptor, with one file per request key.
 * An entry is believed about when it was fetched, so both the directory and each entry
 * must be writable by their owner alone; the caller verifies the token itself again. */
#include "verify/disk_cache.h"
#include "crypto/crypto.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define DISK_MAGIC "tsl-cache-1 "
#define DISK_TMP_PREFIX ".tmp-" /* temporary files: DISK_TMP_PREFIX + 16 random hex */
#define DISK_TMP_TRIES 8         /* names tried before a store gives up */

/* Opens the disk cache directory, creating it (0700) if missing, and checks that only
 * its owner can put entries in it: a cached entry's fetch time is believed, so whoever
 * can plant one could make an old, validly signed token (from before a revocation)
 * pass for fresh. Refused: a symbolic link, a non-directory, a directory owned by
 * someone other than the current user or root, and one writable by group or others
 * unless it is sticky (like /tmp: then nobody can replace our entries, and entries are
 * only read when the current user owns them). The directory is used through the
 * descriptor from then on, so it cannot be swapped after the checks. */
tsl_status tslp_disk_open(const char *dir, int *out, tsl_error *err)
{
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return tslp_fail(err, TSL_ERR_IO, 0, "cache directory %.150s: cannot create it: %s",
                         dir, strerror(errno));
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        struct stat ls;
        if (lstat(dir, &ls) == 0 && S_ISLNK(ls.st_mode))
            return tslp_fail(err, TSL_ERR_IO, 0,
                             "cache directory %.150s: is a symbolic link (give the directory "
                             "itself)", dir);
        if (e == ENOTDIR)
            return tslp_fail(err, TSL_ERR_IO, 0, "cache directory %.150s: not a directory",
                             dir);
        return tslp_fail(err, TSL_ERR_IO, 0, "cache directory %.150s: %s", dir, strerror(e));
    }
    struct stat st;
    tsl_status rc = TSL_OK;
    uid_t me = geteuid();
    if (fstat(fd, &st) != 0)
        rc = tslp_fail(err, TSL_ERR_IO, 0, "cache directory %.150s: %s", dir, strerror(errno));
    else if (st.st_uid != me && st.st_uid != 0)
        rc = tslp_fail(err, TSL_ERR_IO, 0,
                       "cache directory %.150s: owned by uid %lu, not by you (uid %lu) or "
                       "root", dir, (unsigned long)st.st_uid, (unsigned long)me);
    else if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0 && (st.st_mode & S_ISVTX) == 0)
        rc = tslp_fail(err, TSL_ERR_IO, 0,
                       "cache directory %.150s: writable by group or others (mode %04o), "
                       "who could plant entries; use a private directory or chmod go-w",
                       dir, (unsigned)(st.st_mode & 07777));
    if (rc != TSL_OK) {
        close(fd);
        return rc;
    }
    *out = fd;
    return TSL_OK;
}

/* An entry: <dir>/<hex SHA-256 of key>, "tsl-cache-1 <fetched>\n" + token. Every access
 * goes through the descriptor (openat, renameat): the directory tslp_disk_open()
 * checked is the one used. */

#define DISK_NAME_LEN 64 /* hex SHA-256 */

static tsl_status disk_name(const char *key, char name[DISK_NAME_LEN + 1])
{
    uint8_t h[32];
    tsl_status st = tslp_sha256((const uint8_t *)key, strlen(key), h);
    if (st != TSL_OK)
        return st;
    for (int i = 0; i < 32; i++)
        snprintf(name + 2 * i, 3, "%02x", h[i]);
    return TSL_OK;
}

/* Only a regular file owned by the current user and writable by nobody else is read
 * (never through a symbolic link, never blocking on a FIFO): an entry is believed about
 * its fetch time. */
uint8_t *tslp_disk_load(int dirfd, const char *key, size_t max, size_t *len,
                        int64_t *fetched)
{
    char name[DISK_NAME_LEN + 1];
    if (disk_name(key, name) != TSL_OK)
        return NULL;
    int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    uint8_t *buf = NULL, *out = NULL;
    size_t got = 0;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
        (st.st_mode & (S_IWGRP | S_IWOTH)) != 0 || st.st_size <= 0 ||
        (uint64_t)st.st_size > (uint64_t)max + 64)
        goto done;
    buf = tslp_malloc((size_t)st.st_size);
    if (buf == NULL)
        goto done;
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    size_t ml = strlen(DISK_MAGIC);
    uint8_t *nl = got > ml ? memchr(buf, '\n', got) : NULL;
    if (nl == NULL || memcmp(buf, DISK_MAGIC, ml) != 0)
        goto done;
    char *end;
    errno = 0;
    long long when = strtoll((const char *)buf + ml, &end, 10);
    if (errno != 0 || end != (char *)nl || when <= 0)
        goto done;
    size_t off = (size_t)(nl + 1 - buf);
    if (got - off == 0 || got - off > max)
        goto done;
    /* The token moves to the front of the buffer, which the caller then owns. */
    memmove(buf, buf + off, got - off);
    *len = got - off;
    *fetched = (int64_t)when;
    out = buf;
    buf = NULL;
done:
    close(fd);
    tslp_free(buf);
    return out;
}

/* Creates a new temporary file in the cache directory: a random name, created with
 * O_EXCL and O_NOFOLLOW, so a name planted in advance (a symbolic link to a victim
 * file) is never opened, and two writers (threads or processes) never share one.
 * Returns the descriptor and fills tmp, or -1. */
static int disk_tmp(int dirfd, char tmp[sizeof DISK_TMP_PREFIX + 16])
{
    for (int k = 0; k < DISK_TMP_TRIES; k++) {
        uint8_t r[8];
        if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
            return -1;
        int n = snprintf(tmp, sizeof DISK_TMP_PREFIX, "%s", DISK_TMP_PREFIX);
        for (int i = 0; i < 8; i++)
            n += snprintf(tmp + n, 3, "%02x", r[i]);
        int fd = openat(dirfd, tmp,
                        O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd >= 0 || errno != EEXIST)
            return fd;
    }
    return -1;
}

/* Into a temporary file of its own, so that concurrent writers (threads or processes)
 * leave one whole entry. */
void tslp_disk_store(int dirfd, const char *key, const uint8_t *raw, size_t len,
                     int64_t fetched)
{
    char name[DISK_NAME_LEN + 1], tmp[sizeof DISK_TMP_PREFIX + 16];
    if (disk_name(key, name) != TSL_OK)
        return;
    int fd = disk_tmp(dirfd, tmp);
    if (fd < 0)
        return;
    FILE *f = fdopen(fd, "wb");
    if (f == NULL) {
        close(fd);
        unlinkat(dirfd, tmp, 0);
        return;
    }
    int ok = fprintf(f, DISK_MAGIC "%lld\n", (long long)fetched) > 0 &&
             fwrite(raw, 1, len, f) == len;
    ok = (fclose(f) == 0) && ok;
    if (!ok || renameat(dirfd, tmp, dirfd, name) != 0)
        unlinkat(dirfd, tmp, 0);
}

