/* listen.c - a server's setup that does not depend on its HTTP library: a listening
 * address "HOST:PORT" / "[V6]:PORT" as a socket address (tsl_listen_parse), a period
 * "1" / "0.5" in seconds (tsl_interval_parse), fitting the descriptor limit to a
 * connection cap (tsl_fd_limit_fit), the numeric text of an address (tsl_addr_text)
 * and the stop signals (tsl_stop_signals_*). `tsl serve` uses them; so can an
 * embedder's server in front of tsl_gate and tsl_publish_answer. */
#include "core/tsl_int.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>

tsl_status tsl_interval_parse(const char *s, int64_t *ms, tsl_error *err)
{
    if (s == NULL || ms == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "interval: NULL argument");
    int64_t whole = 0, frac = 0, scale = 1000;
    const char *p = s;
    if (*p < '0' || *p > '9')
        goto bad;
    for (; *p >= '0' && *p <= '9'; p++) {
        whole = whole * 10 + (*p - '0');
        if (whole > 86400) /* stops before any overflow */
            goto bad;
    }
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            goto bad;
        /* Digits past the millisecond are read and dropped. */
        for (; *p >= '0' && *p <= '9'; p++) {
            if (scale > 1) {
                scale /= 10;
                frac += (*p - '0') * scale;
            }
        }
    }
    if (*p != '\0' || whole * 1000 + frac < 1 || whole * 1000 + frac > 86400 * 1000)
        goto bad;
    *ms = whole * 1000 + frac;
    return TSL_OK;
bad:
    return tslp_fail(err, TSL_ERR_ARG, 0, "interval \"%s\" is not seconds (0.001 to 86400)",
                     s);
}

static void stop_set(sigset_t *s)
{
    sigemptyset(s);
    sigaddset(s, SIGTERM);
    sigaddset(s, SIGINT);
}

void tsl_stop_signals_block(void)
{
    sigset_t s;
    stop_set(&s);
    pthread_sigmask(SIG_BLOCK, &s, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int tsl_stop_signals_wait(void)
{
    sigset_t s;
    stop_set(&s);
    int sig = 0;
    while (sigwait(&s, &sig) != 0)
        ;
    return sig;
}

void tsl_addr_text(const void *sa, long port, char *out, size_t cap)
{
    if (out == NULL || cap == 0)
        return;
    char host[INET6_ADDRSTRLEN];
    const struct sockaddr *s = sa;
    bool v6 = s != NULL && s->sa_family == AF_INET6;
    if (s != NULL && s->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, host, sizeof host);
    else if (v6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, host, sizeof host);
    else
        snprintf(host, sizeof host, "-");
    if (port < 0 || host[0] == '-')
        snprintf(out, cap, "%s", host);
    else
        snprintf(out, cap, v6 ? "[%s]:%ld" : "%s:%ld", host, port);
}

tsl_status tsl_listen_parse(const char *s, void *sa, size_t *sa_len, tsl_error *err)
{
    if (s == NULL || sa == NULL || sa_len == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "listen: NULL argument");
    char host[64];
    const char *port;
    bool v6 = s[0] == '[';
    if (v6) {
        const char *end = strchr(s, ']');
        if (end == NULL || end[1] != ':' || (size_t)(end - s - 1) >= sizeof host)
            goto bad;
        memcpy(host, s + 1, (size_t)(end - s - 1));
        host[end - s - 1] = '\0';
        port = end + 2;
    } else {
        const char *colon = strrchr(s, ':');
        if (colon == NULL || (size_t)(colon - s) >= sizeof host || colon == s)
            goto bad;
        memcpy(host, s, (size_t)(colon - s));
        host[colon - s] = '\0';
        port = colon + 1;
    }
    /* The port: 0 to 65535 in digits only, no sign or spaces. */
    unsigned long p = 0;
    if (*port == '\0')
        goto bad;
    for (const char *q = port; *q != '\0'; q++)
        if (*q < '0' || *q > '9' || (p = p * 10 + (unsigned long)(*q - '0')) > 65535)
            goto bad;
    if (v6) {
        struct sockaddr_in6 a;
        memset(&a, 0, sizeof a);
        a.sin6_family = AF_INET6;
        a.sin6_port = htons((uint16_t)p);
        if (*sa_len < sizeof a || inet_pton(AF_INET6, host, &a.sin6_addr) != 1)
            goto bad;
        memcpy(sa, &a, sizeof a);
        *sa_len = sizeof a;
    } else {
        struct sockaddr_in a;
        memset(&a, 0, sizeof a);
        a.sin_family = AF_INET;
        a.sin_port = htons((uint16_t)p);
        if (*sa_len < sizeof a || inet_pton(AF_INET, host, &a.sin_addr) != 1)
            goto bad;
        memcpy(sa, &a, sizeof a);
        *sa_len = sizeof a;
    }
    return TSL_OK;
bad:
    return tslp_fail(err, TSL_ERR_ARG, 0,
                     "listen address \"%s\" is not ADDR:PORT (IPv6: [ADDR]:PORT)", s);
}

tsl_status tsl_fd_limit_fit(unsigned *max_connections, int fixed, unsigned threads,
                            size_t nlisteners, char *note, size_t note_size, tsl_error *err)
{
    if (max_connections == NULL || (note == NULL && note_size > 0))
        return tslp_fail(err, TSL_ERR_ARG, 0, "fd limit: NULL argument");
    if (note_size > 0)
        note[0] = '\0';
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return TSL_OK; /* nothing known to fit against */
    rlim_t extra = TSL_FD_RESERVE + (rlim_t)TSL_FD_PER_THREAD * threads * nlisteners;
    rlim_t need = (rlim_t)*max_connections * 2 + extra;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
        /* Raise the soft limit toward the hard one: no privilege needed. */
        struct rlimit want = rl;
        want.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need ? need
                                                                           : rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &want) == 0)
            rl = want;
    }
    if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= need)
        return TSL_OK;
    rlim_t fit = rl.rlim_cur > extra ? (rl.rlim_cur - extra) / 2 : 0;
    if (fixed || fit < 16)
        return tslp_fail(err, TSL_ERR_LIMIT, 0,
                         "--max-connections %u needs %llu file descriptors; the limit is "
                         "%llu (ulimit -n)", *max_connections, (unsigned long long)need,
                         (unsigned long long)rl.rlim_cur);
    if (note_size > 0)
        snprintf(note, note_size, "%llu file descriptors (ulimit -n): at most %llu connections",
                 (unsigned long long)rl.rlim_cur, (unsigned long long)fit);
    *max_connections = (unsigned)fit;
    return TSL_OK;
}
