/* test_listen.c - a server's setup calls (src/publish/listen.c): listening addresses
 * for IPv4 and IPv6 with their ports and refusals, publishing intervals to the
 * millisecond within one day, and fitting the descriptor limit to a connection cap
 * (in a child process, whose limit is lowered for the test). */
#include "tt.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

TT_TEST(listen_parse_addresses)
{
    struct sockaddr_storage ss;
    size_t n = sizeof ss;
    TT_OK(tsl_listen_parse("127.0.0.1:8080", &ss, &n, NULL));
    TT_EQ_U(n, sizeof(struct sockaddr_in));
    struct sockaddr_in a4;
    memcpy(&a4, &ss, sizeof a4);
    TT_EQ_U(a4.sin_family, AF_INET);
    TT_EQ_U(ntohs(a4.sin_port), 8080);
    TT_EQ_U(ntohl(a4.sin_addr.s_addr), 0x7f000001u);
    n = sizeof ss;
    TT_OK(tsl_listen_parse("[::1]:0", &ss, &n, NULL));
    TT_EQ_U(n, sizeof(struct sockaddr_in6));
    struct sockaddr_in6 a6;
    memcpy(&a6, &ss, sizeof a6);
    TT_EQ_U(a6.sin6_family, AF_INET6);
    TT_EQ_U(ntohs(a6.sin6_port), 0);
    TT_EQ_U(a6.sin6_addr.s6_addr[15], 1);
    static const char *bad[] = {"127.0.0.1", ":80", "127.0.0.1:", "127.0.0.1:65536",
                                "127.0.0.1:-1", "127.0.0.1: 80", "localhost:80", "::1:80",
                                "[::1]80", "[::1]:x", "[127.0.0.1]:80", "1.2.3.4.5:80"};
    tsl_error err;
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        n = sizeof ss;
        tsl_error_clear(&err);
        TT_ERR(tsl_listen_parse(bad[k], &ss, &n, &err), TSL_ERR_ARG);
        TT_CONTAINS(err.msg, "is not ADDR:PORT");
    }
    n = sizeof(struct sockaddr_in) - 1; /* too small for the address */
    TT_ERR(tsl_listen_parse("127.0.0.1:1", &ss, &n, NULL), TSL_ERR_ARG);
}

/* tsl_addr_text: the peer of the access log (host alone) and the ready line (with the
 * bound port, IPv6 in brackets); "-" for no address, and cut to the buffer. */
TT_TEST(addr_text_hosts_and_ports)
{
    struct sockaddr_storage ss;
    size_t n = sizeof ss;
    char out[INET6_ADDRSTRLEN + 8];
    TT_OK(tsl_listen_parse("192.0.2.7:0", &ss, &n, NULL));
    tsl_addr_text(&ss, -1, out, sizeof out);
    TT_EQ_STR(out, "192.0.2.7");
    tsl_addr_text(&ss, 41234, out, sizeof out);
    TT_EQ_STR(out, "192.0.2.7:41234");
    n = sizeof ss;
    TT_OK(tsl_listen_parse("[2001:db8::1]:443", &ss, &n, NULL));
    tsl_addr_text(&ss, -1, out, sizeof out);
    TT_EQ_STR(out, "2001:db8::1");
    tsl_addr_text(&ss, 443, out, sizeof out);
    TT_EQ_STR(out, "[2001:db8::1]:443");
    tsl_addr_text(NULL, 80, out, sizeof out);
    TT_EQ_STR(out, "-");
    memset(&ss, 0, sizeof ss); /* AF_UNSPEC */
    tsl_addr_text(&ss, -1, out, sizeof out);
    TT_EQ_STR(out, "-");
    n = sizeof ss;
    TT_OK(tsl_listen_parse("127.0.0.1:8080", &ss, &n, NULL));
    char small[6];
    tsl_addr_text(&ss, 8080, small, sizeof small);
    TT_EQ_STR(small, "127.0");
}

/* tsl_stop_signals_*: in a child, SIGTERM raised after the block is held (the child
 * lives) until the wait returns it, and SIGPIPE is ignored. */
TT_TEST(stop_signals_block_and_wait)
{
    pid_t pid = fork();
    TT_CHECK(pid >= 0);
    if (pid == 0) {
        tsl_stop_signals_block();
        raise(SIGTERM);
        raise(SIGPIPE);
        int sig = tsl_stop_signals_wait();
        _exit(sig == SIGTERM && signal(SIGPIPE, SIG_DFL) == SIG_IGN ? 0 : 1);
    }
    int ws = 0;
    TT_CHECK(waitpid(pid, &ws, 0) == pid);
    TT_CHECK(WIFEXITED(ws));
    TT_EQ_U(WEXITSTATUS(ws), 0);
}

TT_TEST(interval_parse_seconds)
{
    static const struct {
        const char *s;
        int64_t ms;
    } good[] = {{"1", 1000}, {"0.5", 500}, {"2.25", 2250}, {"0.001", 1}, {"0.0019", 1},
                {"86400", 86400000}, {"007", 7000}};
    for (size_t k = 0; k < sizeof good / sizeof good[0]; k++) {
        int64_t ms = -1;
        TT_OK(tsl_interval_parse(good[k].s, &ms, NULL));
        TT_EQ_U(ms, good[k].ms);
    }
    static const char *bad[] = {"", "0", "0.0009", "86400.001", "86401", "1.", ".5", "-1",
                                "1s", " 1", "99999999999999999999"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        int64_t ms = -1;
        TT_ERR(tsl_interval_parse(bad[k], &ms, NULL), TSL_ERR_ARG);
    }
}

/* In a child: with the soft and hard limit at lim, what tsl_fd_limit_fit makes of cap.
 * Exit 0 for the expected outcome, else a code naming the difference. */
static int fit_child(rlim_t lim, unsigned cap, int fixed, tsl_status want, unsigned want_cap,
                     int want_note)
{
    pid_t pid = fork();
    if (pid == 0) {
        struct rlimit rl = {lim, lim};
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            _exit(10);
        char note[128];
        tsl_status st = tsl_fd_limit_fit(&cap, fixed, 2, 1, note, sizeof note, NULL);
        if (st != want)
            _exit(11);
        if (st == TSL_OK && cap != want_cap)
            _exit(12);
        if (st == TSL_OK && (note[0] != '\0') != want_note)
            _exit(13);
        _exit(0);
    }
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

TT_TEST(fd_limit_fit_caps)
{
    /* 256 + 4*2*1 = 264 descriptors besides two per connection. */
    TT_EQ_U(fit_child(1024, 100, 1, TSL_OK, 100, 0), 0);          /* fits */
    TT_EQ_U(fit_child(1024, 1024, 1, TSL_ERR_LIMIT, 0, 0), 0);    /* a fixed cap: refused */
    TT_EQ_U(fit_child(1024, 1024, 0, TSL_OK, 380, 1), 0);         /* a default: lowered */
    TT_EQ_U(fit_child(290, 1024, 0, TSL_ERR_LIMIT, 0, 0), 0);     /* under 16 left */
    TT_ERR(tsl_fd_limit_fit(NULL, 0, 1, 1, NULL, 0, NULL), TSL_ERR_ARG);
}
