/* test_notify.c - tsl_service_notify (src/publish/notify.c), systemd's readiness
 * protocol: the state arrives as one datagram on a real AF_UNIX socket named by a path
 * and by an @abstract name; no NOTIFY_SOCKET is no message and no error; a socket no
 * one listens on, a relative name and an over-long name are errors that say so. */
#include "tt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

/* A datagram socket bound to name (a path, or "@NAME"); -1 on failure. */
static int bound(const char *name)
{
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_un sun;
    memset(&sun, 0, sizeof sun);
    sun.sun_family = AF_UNIX;
    size_t len = strlen(name);
    memcpy(sun.sun_path, name, len);
    socklen_t alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
    if (name[0] == '@')
        sun.sun_path[0] = '\0';
    else
        alen++;
    struct timeval tv = {2, 0}; /* a lost message fails the test, never hangs it */
    if (bind(fd, (struct sockaddr *)&sun, alen) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Receives one datagram into buf as a string; its length, or -1. */
static long recv_one(int fd, char *buf, size_t cap)
{
    ssize_t n = recv(fd, buf, cap - 1, MSG_DONTWAIT);
    if (n < 0)
        return -1;
    buf[n] = '\0';
    return (long)n;
}

TT_TEST(notify_path_and_abstract)
{
    char dir[] = "/tmp/tsl-notify.XXXXXX";
    TT_CHECK(mkdtemp(dir) != NULL);
    char path[128], buf[256];
    snprintf(path, sizeof path, "%s/notify", dir);
    int fd = bound(path);
    TT_CHECK(fd >= 0);
    TT_CHECK(setenv("NOTIFY_SOCKET", path, 1) == 0);
    const char *state = "READY=1\nSTATUS=listening on 127.0.0.1:8080";
    TT_OK(tsl_service_notify(state, NULL));
    TT_EQ_U(recv_one(fd, buf, sizeof buf), strlen(state));
    TT_CHECK(strcmp(buf, state) == 0);
    TT_CHECK(recv_one(fd, buf, sizeof buf) < 0); /* exactly one datagram */
    close(fd);
    unlink(path);
    /* No one listens any more: an I/O error naming the socket. */
    tsl_error err;
    tsl_error_clear(&err);
    TT_ERR(tsl_service_notify("READY=1", &err), TSL_ERR_IO);
    TT_CHECK(strstr(err.msg, path) != NULL);
    rmdir(dir);

    char abs[64];
    snprintf(abs, sizeof abs, "@tsl-test-notify-%ld", (long)getpid());
    fd = bound(abs);
    TT_CHECK(fd >= 0);
    TT_CHECK(setenv("NOTIFY_SOCKET", abs, 1) == 0);
    TT_OK(tsl_service_notify("STOPPING=1", NULL));
    TT_EQ_U(recv_one(fd, buf, sizeof buf), 10);
    TT_CHECK(strcmp(buf, "STOPPING=1") == 0);
    close(fd);
    unsetenv("NOTIFY_SOCKET");
}

TT_TEST(notify_without_socket_and_refusals)
{
    unsetenv("NOTIFY_SOCKET");
    TT_OK(tsl_service_notify("READY=1", NULL)); /* not a notify service: nothing to do */
    TT_CHECK(setenv("NOTIFY_SOCKET", "", 1) == 0);
    TT_OK(tsl_service_notify("READY=1", NULL));
    TT_ERR(tsl_service_notify("", NULL), TSL_ERR_ARG);
    TT_ERR(tsl_service_notify(NULL, NULL), TSL_ERR_ARG);
    tsl_error err;
    tsl_error_clear(&err);
    TT_CHECK(setenv("NOTIFY_SOCKET", "run/notify", 1) == 0);
    TT_ERR(tsl_service_notify("READY=1", &err), TSL_ERR_UNSUPPORTED);
    TT_CHECK(strstr(err.msg, "NOTIFY_SOCKET") != NULL);
    char longname[200];
    memset(longname, 'a', sizeof longname - 1);
    longname[0] = '/';
    longname[sizeof longname - 1] = '\0';
    TT_CHECK(setenv("NOTIFY_SOCKET", longname, 1) == 0);
    TT_ERR(tsl_service_notify("READY=1", NULL), TSL_ERR_ARG);
    unsetenv("NOTIFY_SOCKET");
}

TT_TEST(version_and_dependencies)
{
    TT_CHECK(strcmp(tsl_version(), TSL_VERSION) == 0);
    size_t n = 0;
    const tsl_dependency *d = tsl_dependencies(&n);
    TT_EQ_U(n, 8);
    static const char *names[] = {"zlib",   "libdeflate", "OpenSSL", "libcbor",
                                  "jansson", "SQLite",    "libpq",   "libcurl"};
    for (size_t k = 0; k < n; k++) {
        TT_CHECK(strcmp(d[k].name, names[k]) == 0);
        /* A version starts with a digit and has a dot: "1.2.13", "15.18". */
        TT_CHECK(d[k].version[0] >= '0' && d[k].version[0] <= '9');
        TT_CHECK(strchr(d[k].version, '.') != NULL);
        TT_EQ_U(d[k].compiled, k == 1 || k == 3);
    }
}
