/* export.c - tsl_export(): writes every stored list's current Status List Tokens as
 * static files at the path of the list's uri (PATH.jwt, PATH.jwt.gz pre-gzipped with
 * the same mtime, PATH.cwt), the aggregation document, and nginx.conf: maps and a server
 * block with which nginx serves those files with the same Accept negotiation, 406, gzip,
 * ETag, Cache-Control, Vary, CORS and method rules as tsl_publish_answer(), so that a
 * list can be published by static hosting. `tsl export` is option parsing over it.
 *
 * An export is published whole or not at all. Each one is built complete in a fresh
 * directory DIR/.tsl-export.XXXXXX and flushed to disk, then made live by one rename(2)
 * of a new symbolic link over DIR/current. nginx's root is DIR/current and DIR/nginx.conf
 * is a link to current/nginx.conf, so the configuration and the token files switch
 * together; an error before that rename leaves the previous export serving untouched.
 * The previous version is removed afterwards. Inside the tree nothing follows a symbolic
 * link: directories are walked with openat(O_NOFOLLOW), files are created with
 * O_EXCL|O_NOFOLLOW, and removal unlinks a link instead of descending into it. A lock on
 * DIR serialises concurrent exports into it. */
#include "publish/publish_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CMD "export"
#define EXPORT_MAX_PATH 1024
/* A path of the export tree (a list's path plus ".jwt.gz", a directory name plus
 * nginx.conf, ...): uri paths are capped at EXPORT_MAX_PATH, so this always fits. */
#define EXPORT_PATH_BUF (EXPORT_MAX_PATH + 64)

/* The names tsl export owns inside DIR. A version directory is VERSION_PREFIX followed
 * by VERSION_RAND letters and digits. */
#define VERSION_PREFIX ".tsl-export."
#define VERSION_RAND 6
#define CURRENT_LINK "current"
#define CONF_NAME "nginx.conf"
#define CONF_TARGET CURRENT_LINK "/" CONF_NAME
#define TMP_LINK ".tsl-export-link.tmp"
/* How long an export waits for another one into the same DIR to finish. */
#define EXPORT_LOCK_WAIT_MS 60000
/* Removal descends at most this deep: deeper than any tree export writes (a path of
 * EXPORT_MAX_PATH characters has at most EXPORT_MAX_PATH / 2 segments), and it bounds
 * the descriptors held at once. */
#define REMOVE_MAX_DEPTH (EXPORT_MAX_PATH / 2 + 2)

/* What one step did: done, the list skipped (named on the log), or the whole export
 * abandoned (the error set). Ordered: the worst step decides. */
enum { XR_OK = 0, XR_SKIP = 1, XR_FAIL = 2 };

/* One exported list. */
typedef struct {
    char *id;
    char *uri;
    char *path;         /* the uri's path, "/..." */
    unsigned avail;     /* TSL_PUBLISH_* forms written */
    int64_t max_age;    /* Cache-Control max-age */
    bool idl;           /* an identifier list: its CWT file is served as TSL_MEDIA_IDLIST */
} export_list;

/* The export being built. */
typedef struct {
    const char *dir;            /* DIR's real path, for messages and nginx.conf */
    int dfd;                    /* DIR, open; locked */
    int vfd;                    /* the new version directory, or -1 */
    char ver[sizeof VERSION_PREFIX + VERSION_RAND]; /* its name in DIR */
    char old[sizeof VERSION_PREFIX + VERSION_RAND]; /* current's target, or "" */
    tsl_export_log_fn log; /* every message goes here (may be NULL) */
    void *log_ctx;
    tsl_error *err; /* the first fatal message, also logged */
    tsl_status st;  /* its status: TSL_ERR_IO unless a step says otherwise */
} export_tree;

/* Logs one line: a skipped list or a warning. */
__attribute__((format(printf, 2, 3))) static void xlog(const export_tree *t,
                                                       const char *fmt, ...)
{
    if (t->log == NULL)
        return;
    char line[EXPORT_PATH_BUF * 2 + 256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    t->log(t->log_ctx, line);
}

/* Logs the error that abandons the export and keeps the first one in t->err. The tree
 * is const in the walk's signatures; the error belongs to the caller. */
__attribute__((format(printf, 2, 3))) static void xfail(const export_tree *t,
                                                        const char *fmt, ...)
{
    char line[EXPORT_PATH_BUF * 2 + 256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (t->log != NULL)
        t->log(t->log_ctx, line);
    if (t->err != NULL && t->err->code == TSL_OK)
        tslp_fail(t->err, t->st, 0, "%s", line);
}

/* ---------------------------------------------------------------------------------- */
/* Bounded paths                                                                       */

/* snprintf into buf that reports truncation: false (and buf unusable) when the result
 * would not fit in size bytes, so a cut-off path can never be used. */
__attribute__((format(printf, 3, 4))) static bool fmt_path(char *buf, size_t size,
                                                           const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return n >= 0 && (size_t)n < size;
}

/* Whether a and b, two files of the tree relative to its root, cannot both exist: the
 * same name, or one is a directory on the other's path ("a.jwt" and "a.jwt/b.cwt"). */
static bool files_collide(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    if (na > nb)
        return files_collide(b, a);
    return memcmp(a, b, na) == 0 && (b[na] == '\0' || b[na] == '/');
}

/* The files of list l relative to the tree's root ("statuslists/1.jwt", ...), for the
 * forms in `forms`; fills names[] and returns how many (at most 3). */
static size_t list_files(const char *path, unsigned forms, char names[3][EXPORT_PATH_BUF])
{
    size_t n = 0;
    /* The path is at most EXPORT_MAX_PATH long (export_one checks), so these fit; a
     * failure would leave the name empty, which collides with nothing and is refused
     * by write_file. */
    if (forms & TSL_PUBLISH_JWT) {
        if (!fmt_path(names[n++], EXPORT_PATH_BUF, "%s.jwt", path + 1))
            names[n - 1][0] = '\0';
        if (!fmt_path(names[n++], EXPORT_PATH_BUF, "%s.jwt.gz", path + 1))
            names[n - 1][0] = '\0';
    }
    if (forms & TSL_PUBLISH_CWT) {
        if (!fmt_path(names[n++], EXPORT_PATH_BUF, "%s.cwt", path + 1))
            names[n - 1][0] = '\0';
    }
    return n;
}

/* ---------------------------------------------------------------------------------- */
/* Files, without following links                                                      */

/* Opens directory `name` in parent, never through a symbolic link; with create, makes it
 * first (mode 0755 whatever the umask: the export is public) and flushes parent so the
 * new entry is durable. Returns the descriptor, or -1 with errno set (ELOOP for a
 * link). */
static int open_subdir(int parent, const char *name, bool create)
{
    int flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK;
    if (create) {
        if (mkdirat(parent, name, 0755) == 0) {
            int fd = openat(parent, name, flags);
            if (fd < 0)
                return -1;
            if (fchmod(fd, 0755) != 0 || fsync(parent) != 0) {
                int e = errno;
                close(fd);
                errno = e;
                return -1;
            }
            return fd;
        }
        if (errno != EEXIST)
            return -1;
    }
    return openat(parent, name, flags);
}

/* The reason for errno after an open that refused to follow a link. */
static const char *open_reason(int e)
{
    return e == ELOOP ? "it is a symbolic link, which tsl export never follows"
                      : strerror(e);
}

/* Writes file `rel` (relative, "a/b/c.jwt") of the new version: its directories made
 * or opened one by one without following links, the file created with
 * O_EXCL|O_NOFOLLOW (the version is new, so nothing may be there), mode 0644, mtime (if
 * > 0), flushed to disk with its directory. Prints the error and returns -1. */
static int write_file(const export_tree *t, const char *rel, const void *data, size_t len,
                      int64_t mtime)
{
    char comp[EXPORT_PATH_BUF];
    int cur = t->vfd;
    int fd = -1, e = 0;
    const char *what = "cannot write";
    const char *p = rel;
    for (;;) {
        size_t n = strcspn(p, "/");
        /* uri_path already refuses these; checked again here because the walk relies
         * on it: ".." would climb out of the tree. */
        if (n == 0 || n >= sizeof comp || (n == 1 && p[0] == '.') ||
            (n == 2 && p[0] == '.' && p[1] == '.')) {
            xfail(t, "%s/%s: %s: not a plain relative file name", t->dir, t->ver, rel);
            goto out;
        }
        memcpy(comp, p, n);
        comp[n] = '\0';
        if (p[n] != '/')
            break;
        int next = open_subdir(cur, comp, true);
        if (next < 0) {
            e = errno;
            what = "cannot create the directories of";
            goto fail;
        }
        if (cur != t->vfd)
            close(cur);
        cur = next;
        p += n + 1;
    }
    fd = openat(cur, comp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) {
        e = errno;
        goto fail;
    }
    const unsigned char *b = data;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, b, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            e = w < 0 ? errno : EIO;
            goto fail;
        }
        b += w;
        left -= (size_t)w;
    }
    if (fchmod(fd, 0644) != 0) {
        e = errno;
        goto fail;
    }
    if (mtime > 0) {
        struct timespec ts[2] = {{.tv_sec = (time_t)mtime}, {.tv_sec = (time_t)mtime}};
        if (futimens(fd, ts) != 0) {
            e = errno;
            goto fail;
        }
    }
    /* The data and then the directory entry reach the disk before the version can go
     * live. */
    if (fsync(fd) != 0 || fsync(cur) != 0) {
        e = errno;
        goto fail;
    }
    if (close(fd) != 0) {
        fd = -1;
        e = errno;
        goto fail;
    }
    fd = -1;
    if (cur != t->vfd)
        close(cur);
    return 0;
fail:
    xfail(t, "%s %s/%s/%s: %s", what, t->dir, t->ver, rel, open_reason(e));
out:
    if (fd >= 0)
        close(fd);
    if (cur != t->vfd)
        close(cur);
    return -1;
}

/* Removes entry `name` of directory parent and, when it is a directory, everything
 * under it. Never follows a symbolic link: a link is unlinked, not what it points to.
 * depth bounds the recursion. Returns 0, or -1 with errno set. */
static int remove_tree(int parent, const char *name, unsigned depth)
{
    int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        if (errno == ENOTDIR || errno == ELOOP)
            return unlinkat(parent, name, 0) == 0 || errno == ENOENT ? 0 : -1;
        return -1;
    }
    if (depth == 0) {
        close(fd);
        errno = ELOOP;
        return -1;
    }
    DIR *d = fdopendir(fd);
    if (d == NULL) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    int rc = 0, e = 0;
    struct dirent *ent;
    while ((ent = readdir(d)) != NULL) {
        if (strcmp(ent->d_name, ".") == 0 || strcmp(ent->d_name, "..") == 0)
            continue;
        if (remove_tree(dirfd(d), ent->d_name, depth - 1) != 0 && rc == 0) {
            rc = -1;
            e = errno;
        }
    }
    closedir(d);
    if (rc == 0 && unlinkat(parent, name, AT_REMOVEDIR) != 0 && errno != ENOENT) {
        rc = -1;
        e = errno;
    }
    errno = e;
    return rc;
}

/* Whether name is a version directory name: VERSION_PREFIX and VERSION_RAND letters or
 * digits. */
static bool is_version_name(const char *name)
{
    size_t np = strlen(VERSION_PREFIX);
    if (strncmp(name, VERSION_PREFIX, np) != 0 || strlen(name) != np + VERSION_RAND)
        return false;
    for (const char *p = name + np; *p != '\0'; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')))
            return false;
    return true;
}

/* Removes every version directory in DIR except `keep` (may be NULL): the one replaced
 * by this export, and any left by an export that was killed. Failures are warnings: the
 * live export does not depend on them, and the next export retries. */
static void remove_versions(const export_tree *t, const char *keep)
{
    int fd = openat(t->dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (d == NULL) {
        if (fd >= 0)
            close(fd);
        xlog(t, "warning: cannot list %s: %s", t->dir, strerror(errno));
        return;
    }
    struct dirent *ent;
    while ((ent = readdir(d)) != NULL) {
        if (!is_version_name(ent->d_name) || (keep != NULL && strcmp(ent->d_name, keep) == 0))
            continue;
        if (remove_tree(t->dfd, ent->d_name, REMOVE_MAX_DEPTH) != 0)
            xlog(t, "warning: cannot remove the old export %s/%s: %s", t->dir,
                    ent->d_name, strerror(errno));
    }
    closedir(d);
}

/* Creates the new, empty version directory under a random name. */
static int make_version(export_tree *t)
{
    static const char alnum[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    for (int attempt = 0; attempt < 16; attempt++) {
        unsigned char r[VERSION_RAND];
        if (getentropy(r, sizeof r) != 0) {
            xfail(t, "no randomness for a directory name: %s", strerror(errno));
            return -1;
        }
        char *p = t->ver;
        memcpy(p, VERSION_PREFIX, strlen(VERSION_PREFIX));
        p += strlen(VERSION_PREFIX);
        for (size_t k = 0; k < VERSION_RAND; k++)
            *p++ = alnum[r[k] % (sizeof alnum - 1)];
        *p = '\0';
        t->vfd = open_subdir(t->dfd, t->ver, true);
        if (t->vfd >= 0)
            return 0;
        if (errno != EEXIST) {
            xfail(t, "cannot create %s/%s: %s", t->dir, t->ver, open_reason(errno));
            t->ver[0] = '\0';
            return -1;
        }
    }
    xfail(t, "cannot create a new directory in %s: every name tried exists", t->dir);
    t->ver[0] = '\0';
    return -1;
}

/* Locks DIR against another tsl export, waiting up to EXPORT_LOCK_WAIT_MS. */
static int lock_dir(const export_tree *t)
{
    for (int waited = 0;; waited += 100) {
        if (flock(t->dfd, LOCK_EX | LOCK_NB) == 0)
            return 0;
        if (errno != EWOULDBLOCK && errno != EINTR) {
            xfail(t, "cannot lock %s: %s", t->dir, strerror(errno));
            return -1;
        }
        if (waited >= EXPORT_LOCK_WAIT_MS) {
            xfail(t, "%s: another tsl export into it has been running for %d s; not "
                         "exporting", t->dir, EXPORT_LOCK_WAIT_MS / 1000);
            return -1;
        }
        struct timespec ts = {.tv_sec = 0, .tv_nsec = 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

/* Reads what DIR/current and DIR/nginx.conf are before anything is built, and refuses
 * what tsl export did not make: current must be absent or a link to a version
 * directory; nginx.conf must not be a directory (a file or link there is replaced,
 * never written through). Fills t->old. */
static int check_dir(export_tree *t)
{
    t->old[0] = '\0';
    char target[sizeof t->old + 1];
    ssize_t n = readlinkat(t->dfd, CURRENT_LINK, target, sizeof target);
    if (n < 0 && errno != ENOENT) {
        if (errno == EINVAL)
            xfail(t, "%s/%s exists and is not a symbolic link: tsl export does not "
                         "replace it (move it away)", t->dir, CURRENT_LINK);
        else
            xfail(t, "cannot read %s/%s: %s", t->dir, CURRENT_LINK, strerror(errno));
        return -1;
    }
    if (n >= 0) {
        target[(size_t)n < sizeof target ? (size_t)n : sizeof target - 1] = '\0';
        if ((size_t)n >= sizeof target || !is_version_name(target)) {
            xfail(t, "%s/%s is a symbolic link that tsl export did not make (it does "
                         "not point to a " VERSION_PREFIX "* directory); refusing to replace "
                         "it (remove it)", t->dir, CURRENT_LINK);
            return -1;
        }
        memcpy(t->old, target, (size_t)n + 1);
    }
    struct stat sb;
    if (fstatat(t->dfd, CONF_NAME, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(sb.st_mode)) {
        xfail(t, "%s/%s is a directory: tsl export does not replace it (move it away)",
                t->dir, CONF_NAME);
        return -1;
    }
    return 0;
}

/* Points DIR/name at target by renaming a new link over it: atomic, and an existing file
 * or link at name is replaced, never written through. Flushes DIR. */
static int replace_link(const export_tree *t, const char *target, const char *name)
{
    if (unlinkat(t->dfd, TMP_LINK, 0) != 0 && errno != ENOENT) {
        xfail(t, "cannot remove %s/%s: %s", t->dir, TMP_LINK, strerror(errno));
        return -1;
    }
    if (symlinkat(target, t->dfd, TMP_LINK) != 0) {
        xfail(t, "cannot create %s/%s: %s", t->dir, TMP_LINK, strerror(errno));
        return -1;
    }
    if (renameat(t->dfd, TMP_LINK, t->dfd, name) != 0) {
        xfail(t, "cannot rename %s/%s to %s: %s", t->dir, TMP_LINK, name,
                strerror(errno));
        unlinkat(t->dfd, TMP_LINK, 0);
        return -1;
    }
    if (fsync(t->dfd) != 0) {
        xfail(t, "cannot flush %s (%s now points to %s): %s", t->dir, name, target,
                strerror(errno));
        return -1;
    }
    return 0;
}
/* ---------------------------------------------------------------------------------- */
/* Tokens and paths                                                                    */

/* ---------------------------------------------------------------------------------- */
/* Paths                                                                               */

/* The path of a uri, or of a path starting with '/', by the library's one rule
 * (tsl_uri_path, which tsl serve follows too): A-Z a-z 0-9 . _ ~ - and '/' once
 * percent-encoded unreserved characters are decoded ("/l%41b" -> "/lAb", the file
 * nginx finds for either spelling), no empty, "." or ".." segment, not ending in '/':
 * a file name nginx matches literally and that stays inside DIR. At most
 * EXPORT_MAX_PATH bytes. Returns a malloc'ed copy or NULL with why (why_size bytes)
 * set. */
static char *uri_path(const char *uri, char *why, size_t why_size)
{
    char path[TSL_URI_MAX + 1];
    tsl_error err;
    tsl_error_clear(&err);
    if (tsl_uri_path(uri, path, sizeof path, &err) != TSL_OK) {
        snprintf(why, why_size, "%s", err.msg);
        return NULL;
    }
    if (strlen(path) > EXPORT_MAX_PATH) {
        snprintf(why, why_size, "path is too long");
        return NULL;
    }
    char *out = strdup(path);
    if (out == NULL)
        snprintf(why, why_size, "out of memory");
    return out;
}

/* ---------------------------------------------------------------------------------- */
/* One list                                                                            */

/* Whether list lists[k] (its path set, forms `want`) would collide with nginx.conf, the
 * aggregation document or an earlier exported list; prints which and returns true. */
static bool list_collides(const export_tree *t, const export_list *lists, size_t k,
                          unsigned want, const char *agg_path)
{
    const export_list *l = &lists[k];
    for (size_t j = 0; j < k; j++)
        if (lists[j].avail != 0 && strcmp(lists[j].path, l->path) == 0) {
            xlog(t, "%s: path %s is also the path of list %s; skipped", l->id, l->path,
                    lists[j].id);
            return true;
        }
    char mine[3][EXPORT_PATH_BUF], other[3][EXPORT_PATH_BUF], agg_file[EXPORT_PATH_BUF];
    size_t nm = list_files(l->path, want, mine);
    bool have_agg =
        agg_path != NULL && fmt_path(agg_file, sizeof agg_file, "%s.json", agg_path + 1);
    for (size_t a = 0; a < nm; a++) {
        const char *with = files_collide(mine[a], CONF_NAME) ? CONF_NAME
                           : have_agg && files_collide(mine[a], agg_file)
                               ? "the aggregation document"
                               : NULL;
        if (with != NULL) {
            xlog(t, "%s: its file %s would collide with %s; skipped", l->id, mine[a],
                    with);
            return true;
        }
    }
    for (size_t j = 0; j < k; j++) {
        if (lists[j].avail == 0)
            continue;
        size_t no = list_files(lists[j].path, lists[j].avail, other);
        for (size_t a = 0; a < nm; a++)
            for (size_t b = 0; b < no; b++)
                if (files_collide(mine[a], other[b])) {
                    xlog(t, "%s: its file %s would collide with %s of list %s; skipped",
                            l->id, mine[a], other[b], lists[j].id);
                    return true;
                }
    }
    return false;
}

/* A store call that failed for a list: as `tsl` always did, an error of I/O, memory,
 * crypto or arguments abandons the export, any other skips the list. */
static int store_failed(export_tree *t, const tsl_error *err, tsl_status st)
{
    const char *msg = err->msg[0] ? err->msg : tsl_strerror(st);
    if (st == TSL_ERR_IO || st == TSL_ERR_CRYPTO || st == TSL_ERR_NOMEM || st == TSL_ERR_ARG) {
        t->st = st;
        xfail(t, "%s", msg);
        return XR_FAIL;
    }
    xlog(t, "%s", msg);
    return XR_SKIP;
}

/* Writes the token files of list `id` into the new version; fills lists[k]. Returns
 * XR_OK, XR_SKIP (list skipped, message printed, none of its files written) or
 * XR_FAIL (I/O error: the whole export is abandoned). */
static int export_one(tsl_store *store, export_tree *t, const char *id, int64_t now,
                      export_list *lists, size_t k, const char *agg_path)
{
    export_list *l = &lists[k];
    tsl_list_info info;
    memset(&info, 0, sizeof info);
    tsl_error ierr;
    tsl_error_clear(&ierr);
    tsl_status ist = tsl_store_list_info(store, id, &info, &ierr);
    if (ist != TSL_OK)
        return store_failed(t, &ierr, ist);
    int rc = XR_OK;
    char why[TSL_ERROR_MSG_SIZE] = "out of memory";
    l->id = strdup(id);
    l->uri = strdup(info.uri);
    l->path = uri_path(info.uri, why, sizeof why);
    unsigned want = info.formats != 0 ? info.formats : TSL_PUBLISH_JWT | TSL_PUBLISH_CWT;
    /* An identifier list is recorded in the CWT slot, and written as PATH.cwt. */
    l->idl = want == TSL_PUBLISH_IDLIST;
    if (l->idl)
        want = TSL_PUBLISH_CWT;
    int64_t ttl = info.ttl;
    tsl_list_info_free(&info);
    if (l->id == NULL || l->uri == NULL || l->path == NULL) {
        xlog(t, "%s: uri \"%s\": %s; list skipped", id, l->uri ? l->uri : "", why);
        return XR_SKIP;
    }
    /* Another check of uri_path's cap, relied on by the fixed-size names below. */
    if (strlen(l->path) > EXPORT_MAX_PATH) {
        xlog(t, "%s: the path of uri \"%s\" is longer than %d; list skipped", id,
                l->uri, EXPORT_MAX_PATH);
        return XR_SKIP;
    }
    if (list_collides(t, lists, k, want, agg_path))
        return XR_SKIP;

    /* Every token is read before any file is written, so that a list missing one is
     * skipped whole. */
    uint8_t *tok[2] = {NULL, NULL};
    size_t len[2] = {0, 0};
    int64_t iat[2] = {0, 0};
    l->max_age = -1;
    for (unsigned f = 0; f < 2 && rc == XR_OK; f++) {
        unsigned bit = f == 0 ? TSL_PUBLISH_JWT : TSL_PUBLISH_CWT;
        if (!(want & bit))
            continue;
        const char *ext = f == 0 ? "jwt" : "cwt";
        int64_t exp = 0;
        tsl_error err;
        tsl_error_clear(&err);
        tsl_status st = tsl_store_token(store, id, f == 0 ? TSL_FORMAT_JWT : TSL_FORMAT_CWT,
                                        0, &tok[f], &len[f], &iat[f], &exp, &err);
        if (st == TSL_ERR_NOT_FOUND) {
            xlog(t, "%s: no %s token recorded (run tsl publish %s)", id, ext, id);
            rc = XR_SKIP;
            break;
        }
        if (st != TSL_OK) {
            rc = store_failed(t, &err, st);
            break;
        }
        int64_t age = tsl_publish_max_age(ttl, exp, now);
        if (exp <= now)
            xlog(t, "%s: warning: the %s token expired at %lld (run tsl publish %s)",
                    id, ext, (long long)exp, id);
        if (l->max_age < 0 || age < l->max_age)
            l->max_age = age;
    }
    char names[3][EXPORT_PATH_BUF];
    list_files(l->path, want, names);
    size_t next = 0;
    for (unsigned f = 0; f < 2 && rc == XR_OK; f++) {
        if (tok[f] == NULL)
            continue;
        if (write_file(t, names[next++], tok[f], len[f], iat[f]) != 0) {
            rc = XR_FAIL;
        } else if (f == 0) {
            uint8_t *gz = NULL;
            size_t gz_len = 0;
            tsl_error gz_err;
            tsl_error_clear(&gz_err);
            if (tsl_publish_gzip(tok[f], len[f], &gz, &gz_len, &gz_err) != TSL_OK) {
                xfail(t, "%s: gzip failed", id);
                rc = XR_FAIL;
            } else if (write_file(t, names[next++], gz, gz_len, iat[f]) != 0) {
                rc = XR_FAIL;
            }
            tsl_free(gz);
        }
    }
    tsl_free(tok[0]);
    tsl_free(tok[1]);
    if (rc == XR_OK)
        l->avail = want;
    if (l->max_age < 0)
        l->max_age = 0;
    return rc;
}

/* ---------------------------------------------------------------------------------- */
/* nginx.conf                                                                          */

static const char *media(unsigned bit)
{
    return bit == TSL_PUBLISH_JWT ? TSL_MEDIA_JWT : TSL_MEDIA_CWT;
}

/* The 406 body naming the available types, the same bytes as tsl serve's
 * (tsl_publish_not_acceptable()), nginx-quoted: "\n" is an escape there. */
static void body_406(FILE *f, unsigned avail)
{
    fputc('"', f);
    for (const char *p = tsl_publish_not_acceptable(avail); *p != '\0'; p++)
        if (*p == '\n')
            fputs("\\n", f);
        else
            fputc(*p, f);
    fputc('"', f);
}

/* The headers every response of a list location carries (CORS, Vary) and, on 200 and
 * 304 only, Cache-Control. `in` indents. */
static void common_headers(FILE *f, const char *in, int64_t max_age)
{
    fprintf(f, "%sadd_header Access-Control-Allow-Origin \"*\" always;\n", in);
    fprintf(f, "%sadd_header Vary \"Accept, Accept-Encoding\" always;\n", in);
    if (max_age >= 0)
        fprintf(f, "%sadd_header Cache-Control \"public, max-age=%lld\";\n", in,
                (long long)max_age);
}

/* The method rules of one location: OPTIONS preflight 204, anything but GET and HEAD
 * 405 with Allow. The headers are repeated inside each `if`, because an add_header
 * there replaces the location's. */
static void method_rules(FILE *f, int64_t max_age)
{
    fprintf(f, "        if ($request_method = OPTIONS) {\n");
    common_headers(f, "            ", -1);
    fprintf(f, "            add_header Access-Control-Allow-Methods \"GET, HEAD, OPTIONS\" "
               "always;\n"
               "            add_header Access-Control-Allow-Headers \"Accept, "
               "Accept-Encoding, If-None-Match, If-Modified-Since\" always;\n"
               "            add_header Access-Control-Max-Age 86400 always;\n"
               "            add_header Allow \"GET, HEAD, OPTIONS\" always;\n"
               "            return 204;\n"
               "        }\n"
               "        if ($request_method !~ ^(GET|HEAD)$) {\n");
    common_headers(f, "            ", -1);
    fprintf(f, "            add_header Allow \"GET, HEAD, OPTIONS\" always;\n"
               "            return 405;\n"
               "        }\n");
    common_headers(f, "        ", max_age);
}

/* Ranks of a q-value as the maps compute them: 0 not acceptable, 1..10 a q of 0.0x
 * (x > 0) to 0.9x by its first decimal, 11 a q of 1. */
#define RANK_MAX 11

static void write_maps(FILE *f, tsl_format dflt)
{
    fputs(
        "# Content negotiation, done with maps on $http_accept: an approximation of the\n"
        "# RFC 9110 section 12.5.1 rules of `tsl serve` (tsl_http_choose_format()).\n"
        "#\n"
        "# Handled as tsl serve does:\n"
        "#  - no Accept header, or an empty one: the default format;\n"
        "#  - exact types application/statuslist+jwt and application/statuslist+cwt,\n"
        "#    alone or in a list with other types, any case, with or without q;\n"
        "#  - the wildcards */* and application/* (application/* taking precedence\n"
        "#    over */*), with or without q; a named type's q overrides the wildcard's;\n"
        "#  - exclusion with q=0 (e.g. \"application/statuslist+jwt;q=0, */*\");\n"
        "#  - several acceptable types: the higher q wins, a tie goes to the default\n"
        "#    format; nothing acceptable: 406 with a body naming the available types.\n"
        "#\n"
        "# Approximations, for clients sending unusual headers:\n"
        "#  - q-values are compared by their first decimal only (0.55 ties with 0.5);\n"
        "#  - only the first occurrence of each type and of each wildcard counts, and\n"
        "#    only the first Accept header;\n"
        "#  - a malformed q makes that type unacceptable instead of ignoring the\n"
        "#    element; parameters other than q are skipped, not compared.\n"
        "\n",
        f);
    static const struct {
        const char *var, *type, *cap;
    } named[] = {{"jwt", "application/statuslist\\+jwt", "tsl_qv_jwt"},
                 {"cwt", "application/statuslist\\+cwt", "tsl_qv_cwt"}};
    for (size_t k = 0; k < 2; k++) {
        fprintf(f,
                "# The q of %s when the header names it, else \"-\".\n"
                "map $http_accept $tsl_q_%s {\n"
                "    default \"-\";\n"
                "    \"~*(^|,)\\s*%s\\s*;([^,]*;)?\\s*q\\s*=\\s*(?<%s>[0-9.]*)\" $%s;\n"
                "    \"~*(^|,)\\s*%s\\s*(;|,|$)\" 1;\n"
                "}\n",
                named[k].var, named[k].var, named[k].type, named[k].cap, named[k].cap,
                named[k].type);
    }
    fputs("# The q of a wildcard covering both types: application/* first, then */*;\n"
          "# no Accept at all accepts anything.\n"
          "map $http_accept $tsl_q_any {\n"
          "    default \"-\";\n"
          "    \"\" 1;\n"
          "    \"~*(^|,)\\s*application/\\*\\s*;([^,]*;)?\\s*q\\s*=\\s*(?<tsl_qv_app>[0-9.]*)\" "
          "$tsl_qv_app;\n"
          "    \"~*(^|,)\\s*application/\\*\\s*(;|,|$)\" 1;\n"
          "    \"~*(^|,)\\s*\\*/\\*\\s*;([^,]*;)?\\s*q\\s*=\\s*(?<tsl_qv_all>[0-9.]*)\" "
          "$tsl_qv_all;\n"
          "    \"~*(^|,)\\s*\\*/\\*\\s*(;|,|$)\" 1;\n"
          "}\n",
          f);
    static const char *const qs[] = {"jwt", "cwt", "any"};
    for (size_t k = 0; k < 3; k++) {
        fprintf(f,
                "# Rank of that q: 0 excluded (or malformed), 1..10 by the first decimal,\n"
                "# 11 for q=1.\n"
                "map $tsl_q_%s $tsl_r_%s {\n"
                "    default 0;\n"
                "    \"-\" \"-\";\n"
                "    \"~^0*(\\.0*)?$\" 0;\n",
                qs[k], qs[k]);
        for (int d = 0; d <= 9; d++)
            fprintf(f, "    \"~^0*\\.%d\" %d;\n", d, d + 1);
        fprintf(f, "    \"~^1(\\.0*)?$\" %d;\n}\n", RANK_MAX);
    }
    for (size_t k = 0; k < 2; k++)
        fprintf(f,
                "# Effective rank of %s: its own if named, else the wildcard's.\n"
                "map \"$tsl_r_%s:$tsl_r_any\" $tsl_e_%s {\n"
                "    default 0;\n"
                "    \"-:-\" 0;\n"
                "    \"~^-:(?<tsl_ew_%s>[0-9]+)$\" $tsl_ew_%s;\n"
                "    \"~^(?<tsl_en_%s>[0-9]+):\" $tsl_en_%s;\n"
                "}\n",
                qs[k], qs[k], qs[k], qs[k], qs[k], qs[k], qs[k]);
    fputs("# The form to serve for a list with only JWT, only CWT, or both (406: none).\n"
          "map $tsl_e_jwt $tsl_pick_jwt {\n"
          "    default jwt;\n"
          "    0 406;\n"
          "}\n"
          "map $tsl_e_cwt $tsl_pick_cwt {\n"
          "    default cwt;\n"
          "    0 406;\n"
          "}\n",
          f);
    fprintf(f, "map \"$tsl_e_jwt:$tsl_e_cwt\" $tsl_pick_both {\n    default 406;\n");
    for (int j = 0; j <= RANK_MAX; j++)
        for (int c = 0; c <= RANK_MAX; c++) {
            if (j == 0 && c == 0)
                continue;
            const char *v = j > c   ? "jwt"
                            : c > j ? "cwt"
                                    : (dflt == TSL_FORMAT_CWT ? "cwt" : "jwt");
            fprintf(f, "    \"%d:%d\" %s;\n", j, c, v);
        }
    fputs("}\n\n", f);
}

/* Negotiation for identifier lists (one form, TSL_MEDIA_IDLIST), written when one is
 * exported: the type named (q=0 refuses it), a wildcard (its q is not
 * compared), or no Accept. An approximation of tslp_idl_acceptable(). */
static void write_idl_map(FILE *f)
{
    fputs("# Identifier lists (ISO 18013-5): application/identifierlist+cwt, named (q=0\n"
          "# refuses it), or a wildcard, or no Accept; anything else 406.\n"
          "map $http_accept $tsl_pick_idl {\n"
          "    default 406;\n"
          "    \"\" cwt;\n"
          "    \"~*(^|,)\\s*application/identifierlist\\+cwt\\s*;([^,]*;)?\\s*q\\s*=\\s*0*"
          "(\\.0*)?\\s*(,|;|$)\" 406;\n"
          "    \"~*(^|,)\\s*application/identifierlist\\+cwt\\s*(;|,|$)\" cwt;\n"
          "    \"~*(^|,)\\s*(application/\\*|\\*/\\*)\\s*(;|,|$)\" cwt;\n"
          "}\n\n",
          f);
}

/* The location serving an identifier list. */
static void write_idl_location(FILE *f, const export_list *l)
{
    fprintf(f, "    # list %s: %s (%s)\n", l->id, l->uri, TSL_MEDIA_IDLIST);
    fprintf(f, "    location = %s {\n", l->path);
    fprintf(f, "        default_type text/plain;\n"
               "        types {\n"
               "            %s cwt;\n"
               "        }\n"
               "        etag on;\n"
               "        if_modified_since before;\n",
            TSL_MEDIA_IDLIST);
    method_rules(f, l->max_age);
    fprintf(f, "        if ($tsl_pick_idl = 406) {\n");
    common_headers(f, "            ", -1);
    fprintf(f, "            return 406 \"acceptable: %s\\n\";\n        }\n", TSL_MEDIA_IDLIST);
    fprintf(f, "        try_files %s.cwt =404;\n    }\n\n", l->path);
}

/* The location serving one list. */
static void write_location(FILE *f, const export_list *l)
{
    if (l->idl) {
        write_idl_location(f, l);
        return;
    }
    const char *pick = l->avail == TSL_PUBLISH_JWT   ? "$tsl_pick_jwt"
                       : l->avail == TSL_PUBLISH_CWT ? "$tsl_pick_cwt"
                                                     : "$tsl_pick_both";
    fprintf(f, "    # list %s: %s (%s%s%s)\n", l->id, l->uri,
            (l->avail & TSL_PUBLISH_JWT) ? media(TSL_PUBLISH_JWT) : "",
            l->avail == (TSL_PUBLISH_JWT | TSL_PUBLISH_CWT) ? ", " : "",
            (l->avail & TSL_PUBLISH_CWT) ? media(TSL_PUBLISH_CWT) : "");
    fprintf(f, "    location = %s {\n", l->path);
    fprintf(f, "        default_type text/plain;\n"
               "        types {\n"
               "            %s jwt;\n"
               "            %s cwt;\n"
               "        }\n"
               "        etag on;\n"
               "        if_modified_since before;\n",
            TSL_MEDIA_JWT, TSL_MEDIA_CWT);
    if (l->avail & TSL_PUBLISH_JWT)
        fprintf(f, "        gzip_static on;\n");
    method_rules(f, l->max_age);
    fprintf(f, "        if (%s = 406) {\n", pick);
    common_headers(f, "            ", -1);
    fprintf(f, "            return 406 ");
    body_406(f, l->avail);
    fprintf(f, ";\n        }\n");
    fprintf(f, "        try_files %s.%s =404;\n    }\n\n", l->path, pick);
}

static int write_nginx(const export_tree *t, const char *listen, tsl_format dflt,
                       const export_list *lists, size_t n, const char *agg_path)
{
    char *text = NULL;
    size_t text_len = 0;
    FILE *f = open_memstream(&text, &text_len);
    if (f == NULL) {
        xfail(t, "out of memory");
        return XR_FAIL;
    }
    fprintf(f,
            "# nginx.conf - written by `tsl export`: serves the Status List Tokens under\n"
            "# this directory like `tsl serve` does. Include it inside nginx's http {}\n"
            "# block (it defines maps, which belong there, and one server); include only\n"
            "# one export per http block. The Cache-Control max-age values were computed\n"
            "# when the export ran: export again after every `tsl publish`, then reload\n"
            "# nginx. The root is the link " CURRENT_LINK ", which every export replaces\n"
            "# atomically with the tokens and this file.\n\n");
    write_maps(f, dflt);
    bool any_idl = false;
    for (size_t k = 0; k < n; k++)
        any_idl = any_idl || (lists[k].avail != 0 && lists[k].idl);
    if (any_idl)
        write_idl_map(f);
    fprintf(f, "server {\n"
               "    listen %s;\n"
               "    root \"%s/" CURRENT_LINK "\";\n"
               "    default_type text/plain;\n"
               "    gzip off;\n"
               "    gzip_vary off;\n"
               "    server_tokens off;\n"
               "    add_header Access-Control-Allow-Origin \"*\" always;\n\n",
            listen, t->dir);
    for (size_t k = 0; k < n; k++)
        if (lists[k].avail != 0)
            write_location(f, &lists[k]);
    if (agg_path != NULL) {
        fprintf(f, "    # The aggregation document (spec section 9.3).\n"
                   "    location = %s {\n"
                   "        default_type application/json;\n"
                   "        types {\n"
                   "            application/json json;\n"
                   "        }\n"
                   "        etag on;\n"
                   "        if_modified_since before;\n",
                agg_path);
        method_rules(f, -1);
        fprintf(f, "        try_files %s.json =404;\n    }\n\n", agg_path);
    }
    fprintf(f, "    # Nothing else under this directory is served.\n"
               "    location / {\n"
               "        return 404;\n"
               "    }\n"
               "}\n");
    if (fclose(f) != 0) {
        free(text);
        xfail(t, "out of memory");
        return XR_FAIL;
    }
    int rc = write_file(t, CONF_NAME, text, text_len, 0) == 0 ? XR_OK : XR_FAIL;
    free(text);
    return rc;
}

static int write_aggregation(const export_tree *t, const char *agg_path,
                             const export_list *lists, size_t n)
{
    const char **uris = calloc(n > 0 ? n : 1, sizeof *uris);
    size_t m = 0;
    for (size_t k = 0; uris != NULL && k < n; k++)
        if (lists[k].avail != 0 && !lists[k].idl) /* status lists only */
            uris[m++] = lists[k].uri;
    char *text = NULL;
    size_t len = 0;
    tsl_error err;
    tsl_error_clear(&err);
    int rc = XR_FAIL;
    char file[EXPORT_PATH_BUF];
    if (uris == NULL || tsl_publish_aggregation(uris, m, &text, &len, &err) != TSL_OK)
        xfail(t, "out of memory");
    else if (!fmt_path(file, sizeof file, "%s.json", agg_path + 1))
        xfail(t, "--aggregation-path: %s is too long", agg_path);
    else if (write_file(t, file, text, len, 0) == 0)
        rc = XR_OK;
    tsl_free(text);
    free(uris);
    return rc;
}

/* The listen value goes into nginx.conf verbatim: allow only address characters. */
static bool listen_ok(const char *s)
{
    if (*s == '\0' || strlen(s) > 64)
        return false;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') ||
              (*s >= 'A' && *s <= 'Z') || *s == '.' || *s == ':' || *s == '[' ||
              *s == ']' || *s == '-'))
            return false;
    return true;
}

/* Builds the new version (every list, the aggregation document, nginx.conf) and makes
 * it live. Returns the exit code; on XR_FAIL nothing live has changed, except when
 * the message says so. */
static int export_all(export_tree *t, tsl_store *store, char **ids, size_t n,
                      export_list *lists, const char *listen, tsl_format dflt,
                      const char *agg_path, int64_t now)
{
    /* Leftovers of a killed export go first: on a nearly full disk their room may be
     * what this export needs. */
    remove_versions(t, t->old[0] != '\0' ? t->old : NULL);
    if (make_version(t) != 0)
        return XR_FAIL;
    int rc = XR_OK;
    for (size_t k = 0; k < n; k++) {
        int r = export_one(store, t, ids[k], now, lists, k, agg_path);
        if (r != XR_OK)
            lists[k].avail = 0;
        if (r > rc)
            rc = r;
        if (rc == XR_FAIL)
            break;
    }
    if (rc != XR_FAIL && agg_path != NULL) {
        int r = write_aggregation(t, agg_path, lists, n);
        if (r > rc)
            rc = r;
    }
    if (rc != XR_FAIL) {
        int r = write_nginx(t, listen, dflt, lists, n, agg_path);
        if (r > rc)
            rc = r;
    }
    close(t->vfd);
    t->vfd = -1;
    /* The one step that publishes: rename(2) of a new link over DIR/current. */
    if (rc == XR_FAIL || replace_link(t, t->ver, CURRENT_LINK) != 0) {
        if (remove_tree(t->dfd, t->ver, REMOVE_MAX_DEPTH) != 0)
            xlog(t, "warning: cannot remove the unfinished export %s/%s: %s", t->dir,
                    t->ver, strerror(errno));
        xlog(t, "nothing exported; %s", t->old[0] != '\0'
                                                  ? "the previous export is still in place"
                                                  : "there was no previous export");
        return XR_FAIL;
    }
    /* DIR/nginx.conf becomes a link into current the first time (or after an export
     * of the former layout, which wrote a file there). */
    char conf[sizeof CONF_TARGET + 1];
    ssize_t cn = readlinkat(t->dfd, CONF_NAME, conf, sizeof conf);
    if (cn != (ssize_t)strlen(CONF_TARGET) || memcmp(conf, CONF_TARGET, (size_t)cn) != 0) {
        if (replace_link(t, CONF_TARGET, CONF_NAME) != 0) {
            xfail(t, "the tokens are exported in %s/%s, but %s/%s is not the link to "
                         "%s", t->dir, CURRENT_LINK, t->dir, CONF_NAME, CONF_TARGET);
            return XR_FAIL;
        }
    }
    remove_versions(t, t->ver);
    return rc;
}

/* Frees the lists of an export in progress. */
static void lists_free(export_list *lists, size_t n)
{
    for (size_t k = 0; lists != NULL && k < n; k++) {
        free(lists[k].id);
        free(lists[k].uri);
        free(lists[k].path);
    }
    free(lists);
}

/* Moves the exported lists into rep (the skipped ones are only counted). */
static tsl_status fill_report(tsl_export_report *rep, char **dir, export_list *lists,
                              size_t n, tsl_error *err)
{
    size_t m = 0;
    for (size_t k = 0; k < n; k++)
        m += lists[k].avail != 0;
    rep->lists = calloc(m ? m : 1, sizeof *rep->lists);
    if (rep->lists == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "export: out of memory");
    for (size_t k = 0; k < n; k++) {
        export_list *l = &lists[k];
        if (l->avail == 0) {
            rep->skipped++;
            continue;
        }
        rep->lists[rep->n++] = (tsl_export_list){.id = l->id, .uri = l->uri,
                                                 .path = l->path,
                                                 .formats = l->idl ? TSL_PUBLISH_IDLIST
                                                                   : l->avail,
                                                 .max_age = l->max_age};
        l->id = l->uri = l->path = NULL;
    }
    rep->dir = *dir;
    *dir = NULL;
    return TSL_OK;
}

tsl_status tsl_export(tsl_store *store, const char *dir_arg, const tsl_export_opts *o,
                      tsl_export_report *rep, tsl_error *err)
{
    static const tsl_export_opts defaults = {0};
    if (o == NULL)
        o = &defaults;
    if (rep != NULL)
        memset(rep, 0, sizeof *rep);
    export_tree t = {.dfd = -1, .vfd = -1, .log = o->log, .log_ctx = o->log_ctx,
                     .err = err, .st = TSL_ERR_ARG};
    if (err != NULL)
        tsl_error_clear(err);
    const char *listen = o->listen != NULL ? o->listen : "127.0.0.1:8080";
    tsl_format dflt = o->default_format == TSL_FORMAT_CWT ? TSL_FORMAT_CWT : TSL_FORMAT_JWT;
    const char *agg = o->aggregation_path;
    if (store == NULL || dir_arg == NULL) {
        xfail(&t, "export: no store or directory");
        return TSL_ERR_ARG;
    }
    if (!listen_ok(listen)) {
        xfail(&t, "--listen: \"%s\" is not ADDR:PORT", listen);
        return TSL_ERR_ARG;
    }
    char *agg_path = NULL;
    if (agg != NULL) {
        char why[TSL_ERROR_MSG_SIZE] = "does not start with '/'";
        if (agg[0] != '/' || (agg_path = uri_path(agg, why, sizeof why)) == NULL) {
            xfail(&t, "--aggregation-path: \"%s\": %s", agg, why);
            return TSL_ERR_ARG;
        }
        char agg_file[EXPORT_PATH_BUF];
        if (!fmt_path(agg_file, sizeof agg_file, "%s.json", agg_path + 1) ||
            files_collide(agg_file, CONF_NAME)) {
            xfail(&t, "--aggregation-path: \"%s\" would collide with %s", agg, CONF_NAME);
            free(agg_path);
            return TSL_ERR_ARG;
        }
    }
    t.st = TSL_ERR_IO;
    if (mkdir(dir_arg, 0755) != 0 && errno != EEXIST) {
        xfail(&t, "cannot create %s: %s", dir_arg, strerror(errno));
        free(agg_path);
        return TSL_ERR_IO;
    }
    /* DIR itself may be a link (the operator's choice); links inside it are not
     * followed. */
    char *dir = realpath(dir_arg, NULL);
    if (dir == NULL) {
        xfail(&t, "%s: %s", dir_arg, strerror(errno));
        free(agg_path);
        return TSL_ERR_IO;
    }
    t.dir = dir;
    if (strcspn(dir, "\"\\$;{} \t\r\n'") != strlen(dir) || strlen(dir) > PATH_MAX / 2) {
        t.st = TSL_ERR_ARG;
        xfail(&t, "%s: the directory's name cannot go into nginx.conf (quotes, $, ;, "
                  "braces or white space)", dir);
        free(dir);
        free(agg_path);
        return TSL_ERR_ARG;
    }

    char **ids = NULL;
    size_t n = 0;
    tsl_error lerr;
    tsl_error_clear(&lerr);
    tsl_status st = tsl_store_list_ids(store, &ids, &n, &lerr);
    if (st != TSL_OK) {
        t.st = st;
        xfail(&t, "%s", lerr.msg[0] ? lerr.msg : tsl_strerror(st));
        free(dir);
        free(agg_path);
        return st;
    }
    int64_t now = o->now > 0 ? o->now : (int64_t)time(NULL);
    export_list *lists = calloc(n ? n : 1, sizeof *lists);
    int rc;
    if (lists == NULL) {
        t.st = TSL_ERR_NOMEM;
        xfail(&t, "out of memory");
        rc = XR_FAIL;
    } else if ((t.dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        xfail(&t, "cannot open %s: %s", dir, strerror(errno));
        rc = XR_FAIL;
    } else if (lock_dir(&t) != 0 || check_dir(&t) != 0) {
        rc = XR_FAIL;
    } else {
        rc = export_all(&t, store, ids, n, lists, listen, dflt, agg_path, now);
    }
    if (t.dfd >= 0)
        close(t.dfd); /* and the lock with it */
    st = rc == XR_FAIL ? (err != NULL && err->code != TSL_OK ? err->code : t.st) : TSL_OK;
    if (st == TSL_OK && rep != NULL)
        st = fill_report(rep, &dir, lists, n, err);
    lists_free(lists, n);
    tsl_store_ids_free(ids, n);
    free(dir);
    free(agg_path);
    return st;
}

void tsl_export_report_free(tsl_export_report *rep)
{
    if (rep == NULL)
        return;
    for (size_t k = 0; k < rep->n; k++) {
        free(rep->lists[k].id);
        free(rep->lists[k].uri);
        free(rep->lists[k].path);
    }
    free(rep->lists);
    free(rep->dir);
    memset(rep, 0, sizeof *rep);
}
