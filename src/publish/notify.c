/* notify.c - telling the service manager how the server is (systemd's sd_notify
 * protocol, tsl_service_notify): one datagram of "KEY=VALUE" lines to the AF_UNIX socket
 * $NOTIFY_SOCKET names. Written here rather than linking libsystemd: the protocol is one
 * sendto(), and libsystemd would add a dependency (and its own dependencies) to every
 * program that links libtsl, for a call that only `tsl serve` makes. */
#include "core/tsl_int.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

tsl_status tsl_service_notify(const char *state, tsl_error *err)
{
    if (state == NULL || state[0] == '\0')
        return tslp_fail(err, TSL_ERR_ARG, 0, "service notify: empty state");
    const char *name = getenv("NOTIFY_SOCKET");
    if (name == NULL || name[0] == '\0')
        return TSL_OK; /* not started by a service manager that listens */
    struct sockaddr_un sun;
    memset(&sun, 0, sizeof sun);
    sun.sun_family = AF_UNIX;
    size_t len = strlen(name);
    /* A path, or "@NAME" in the abstract namespace (a leading NUL instead of the @; the
     * address's length, not a terminator, ends the name). Anything else (systemd 253's
     * "vsock:" addresses) is not for this process. */
    if (name[0] != '/' && name[0] != '@')
        return tslp_fail(err, TSL_ERR_UNSUPPORTED, 0,
                         "NOTIFY_SOCKET: not a path or an @abstract socket name");
    if (len >= sizeof sun.sun_path)
        return tslp_fail(err, TSL_ERR_ARG, 0, "NOTIFY_SOCKET: longer than %zu bytes",
                         sizeof sun.sun_path - 1);
    memcpy(sun.sun_path, name, len);
    socklen_t alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
    if (name[0] == '@')
        sun.sun_path[0] = '\0';
    else
        alen++; /* the path's terminator */
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return tslp_fail(err, TSL_ERR_IO, 0, "NOTIFY_SOCKET: socket: %s", strerror(errno));
    size_t n = strlen(state);
    ssize_t w;
    do
        w = sendto(fd, state, n, MSG_NOSIGNAL, (const struct sockaddr *)&sun, alen);
    while (w < 0 && errno == EINTR);
    int e = errno;
    close(fd);
    if (w < 0)
        return tslp_fail(err, TSL_ERR_IO, 0, "NOTIFY_SOCKET %s: %s", name, strerror(e));
    if ((size_t)w != n) /* a datagram goes whole or not at all; be sure */
        return tslp_fail(err, TSL_ERR_IO, 0, "NOTIFY_SOCKET %s: short send", name);
    return TSL_OK;
}
