/* serve_conn.c - the connection gate of `tsl serve`: its own accept loop in front of
 * libmicrohttpd, and the tracking of every connection afterwards.
 *
 * Why a gate: libmicrohttpd 0.9.75 restarts its idle timeout on every byte (so one
 * header byte every few seconds holds a connection for ever), has no global limit that
 * makes room, and answers a malformed Content-Length itself with its status line and
 * headers written twice (parse_connection_headers() queues the error, then its state
 * machine builds the header block again). So the gate thread accepts each connection,
 * reads its first request head with MSG_PEEK (nothing is consumed), and only hands a
 * connection with a complete, acceptable head to libmicrohttpd (MHD_add_connection).
 * A bad head gets one answer written here. Limits, all counted in /metrics:
 *   - a deadline (--head-timeout) for a whole request, from the connection's start or
 *     the end of its previous answer; bytes trickling in do not extend it;
 *   - a per-address limit (--max-per-address) on open connections (an IPv6 /64 counts
 *     as one address);
 *   - a global cap (--max-connections): when full, the connection that has waited
 *     longest for a request is closed to make room (requests being answered never are).
 * Connections inside libmicrohttpd are followed through its connection notifications,
 * the access handler (serve_conn_answering) and the completion callback; the gate
 * thread closes the late ones with shutdown(), which libmicrohttpd then sees as the
 * client going away. libmicrohttpd notifies the close before it closes the descriptor,
 * and the table below is changed under one mutex, so a shutdown() never reaches a
 * descriptor that has been reused. */
#include "serve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Distinct client addresses hashed into this many buckets. */
#define ADDR_BUCKETS 4096
/* A head arriving in more pieces than this is dropped: each piece costs one MSG_PEEK
 * of everything so far, and real clients send a head in one to three. */
#define MAX_PEEKS 32
/* After a refusal the gate reads and drops what the client still sends, so that the
 * close is a FIN after the answer and not a reset that could destroy it; for this long
 * and this much at most. */
#define LINGER_MS 1000
#define LINGER_BYTES (256u * 1024u)
/* The longest the gate thread sleeps, so a deadline is met within this much. */
#define TICK_MS 250
/* Accepts per wake-up and listener, so one busy listener cannot starve the rest. */
#define ACCEPT_BURST 64
/* After EMFILE and the like, accepting pauses for this long. */
#define ACCEPT_PAUSE_MS 100
/* The epoll tag of the listeners and the stop event (never a connection's gen). */
#define LISTENER_TAG 0xffffffffu

typedef enum {
    C_GATE,    /* in the gate, its first head not complete yet */
    C_LINGER,  /* refused by the gate, the answer sent, input drained until closed */
    C_HANDOFF, /* given to libmicrohttpd, which has not started it yet */
    C_WAIT,    /* in libmicrohttpd, waiting for a (next) request to be complete */
    C_BUSY,    /* in libmicrohttpd, a request being answered */
    C_DOOMED,  /* shut down here, libmicrohttpd closing it */
    C_NSTATES
} cstate;

typedef struct addr_node {
    struct addr_node *next;
    unsigned char key[17]; /* family byte and address (addr_key) */
    unsigned count;        /* connections open from this address */
} addr_node;

typedef struct conn {
    int fd;
    uint32_t gen;     /* tells this connection from a later one on the same fd */
    cstate state;
    unsigned listener;
    unsigned peeks;
    unsigned requests; /* answered on this connection */
    int64_t since;     /* ms: start of the current wait (wait list) or of the linger */
    size_t drained;    /* linger bytes dropped */
    addr_node *addr;
    bool linked;
    struct conn *prev, *next; /* wait list or linger list */
    struct sockaddr_storage sa;
    socklen_t salen;
} conn;

typedef struct {
    conn *head, *tail;
} clist;

enum {
    DROP_HEAD_TIMEOUT, DROP_IDLE_TIMEOUT, DROP_PER_ADDRESS, DROP_CAPACITY,
    DROP_FRAGMENTED, DROP_OVERLOAD, DROP_NREASONS
};
static const char *const drop_names[DROP_NREASONS] = {
    "head_timeout", "idle_timeout", "per_address", "capacity", "fragmented", "overload"};

struct serve_conns {
    pthread_mutex_t mu;
    conn **slots; /* by descriptor */
    size_t nslots;
    clist wait;   /* C_GATE, C_HANDOFF, C_WAIT, oldest first */
    clist linger; /* C_LINGER, oldest first */
    addr_node *buckets[ADDR_BUCKETS];
    unsigned n[C_NSTATES];
    unsigned total; /* every tracked connection */
    uint32_t gen;
    atomic_ullong dropped[DROP_NREASONS];

    /* The gate thread. */
    pthread_t thread;
    bool running;
    int epfd, stopfd;
    size_t nl;
    int lfd[SERVE_MAX_LISTEN];
    struct MHD_Daemon *d[SERVE_MAX_LISTEN];
    bool paused;
    int64_t resume_at;
    char peek[SERVE_HEAD_MAX];
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---------------------------------------------------------------------------------- */
/* The table (every function here is called with mu held)                               */

static void list_append(clist *l, conn *c)
{
    c->prev = l->tail;
    c->next = NULL;
    if (l->tail != NULL)
        l->tail->next = c;
    else
        l->head = c;
    l->tail = c;
    c->linked = true;
}

static void list_remove(clist *l, conn *c)
{
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        l->head = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    else
        l->tail = c->prev;
    c->prev = c->next = NULL;
    c->linked = false;
}

static void unlink_conn(serve_conns *cs, conn *c)
{
    if (c->linked)
        list_remove(c->state == C_LINGER ? &cs->linger : &cs->wait, c);
}

static void set_state(serve_conns *cs, conn *c, cstate s)
{
    cs->n[c->state]--;
    cs->n[s]++;
    c->state = s;
}

/* What the per-address limit counts by: an IPv4 address, or an IPv6 /64 (one host
 * commonly has a whole /64 to pick addresses from). */
static bool addr_key(const struct sockaddr *sa, unsigned char key[17])
{
    memset(key, 0, 17);
    if (sa->sa_family == AF_INET) {
        key[0] = 4;
        memcpy(key + 1, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
        return true;
    }
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a =
            &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a)) {
            key[0] = 4;
            memcpy(key + 1, a->s6_addr + 12, 4);
        } else {
            key[0] = 6;
            memcpy(key + 1, a->s6_addr, 8);
        }
        return true;
    }
    return false;
}

static size_t addr_hash(const unsigned char key[17])
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t k = 0; k < 17; k++)
        h = (h ^ key[k]) * 16777619u;
    return h % ADDR_BUCKETS;
}

/* The node of sa's address, created when create is set (NULL: none, or no memory). */
static addr_node *addr_get(serve_conns *cs, const struct sockaddr *sa, bool create)
{
    unsigned char key[17];
    if (!addr_key(sa, key))
        return NULL;
    size_t b = addr_hash(key);
    for (addr_node *a = cs->buckets[b]; a != NULL; a = a->next)
        if (memcmp(a->key, key, sizeof key) == 0)
            return a;
    if (!create)
        return NULL;
    addr_node *a = calloc(1, sizeof *a);
    if (a == NULL)
        return NULL;
    memcpy(a->key, key, sizeof key);
    a->next = cs->buckets[b];
    cs->buckets[b] = a;
    return a;
}

static void addr_put(serve_conns *cs, addr_node *a)
{
    if (a == NULL || --a->count > 0)
        return;
    size_t b = addr_hash(a->key);
    for (addr_node **p = &cs->buckets[b]; *p != NULL; p = &(*p)->next)
        if (*p == a) {
            *p = a->next;
            free(a);
            return;
        }
}

/* A new entry for fd, counted, in state s; NULL when out of memory. */
static conn *track(serve_conns *cs, int fd, const struct sockaddr *sa, socklen_t salen,
                   cstate s)
{
    conn *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->fd = fd;
    if (++cs->gen == LISTENER_TAG)
        cs->gen = 1;
    c->gen = cs->gen;
    c->state = s;
    cs->n[s]++;
    cs->total++;
    if (salen > 0 && (size_t)salen <= sizeof c->sa) {
        memcpy(&c->sa, sa, (size_t)salen);
        c->salen = salen;
        c->addr = addr_get(cs, sa, true);
        if (c->addr != NULL)
            c->addr->count++;
    }
    c->since = now_ms();
    if (s != C_LINGER && s != C_BUSY && s != C_DOOMED)
        list_append(&cs->wait, c);
    if ((size_t)fd < cs->nslots)
        cs->slots[fd] = c;
    return c;
}

/* Forgets c (does not close its descriptor). */
static void untrack(serve_conns *cs, conn *c)
{
    unlink_conn(cs, c);
    cs->n[c->state]--;
    cs->total--;
    addr_put(cs, c->addr);
    if ((size_t)c->fd < cs->nslots && cs->slots[c->fd] == c)
        cs->slots[c->fd] = NULL;
    free(c);
}

/* Closes a connection that libmicrohttpd handles: the shutdown wakes its thread, which
 * sees the client gone, notifies the close (untrack) and closes the descriptor. */
static void doom(serve_conns *cs, conn *c, int reason)
{
    unlink_conn(cs, c);
    set_state(cs, c, C_DOOMED);
    shutdown(c->fd, SHUT_RDWR);
    atomic_fetch_add(&cs->dropped[reason], 1);
}

/* Closes a connection the gate holds. */
static void gate_close(serve_conns *cs, conn *c)
{
    int fd = c->fd;
    untrack(cs, c);
    close(fd); /* also leaves the epoll set */
}

/* Makes room for one more: the oldest lingering refusal, else the connection that has
 * waited longest for a request. False when every connection is busy answering. */
static bool evict_one(serve_conns *cs)
{
    if (cs->linger.head != NULL) {
        gate_close(cs, cs->linger.head);
        atomic_fetch_add(&cs->dropped[DROP_CAPACITY], 1);
        return true;
    }
    for (conn *c = cs->wait.head; c != NULL; c = c->next) {
        if (c->state == C_GATE) {
            gate_close(cs, c);
            atomic_fetch_add(&cs->dropped[DROP_CAPACITY], 1);
            return true;
        }
        if (c->state == C_WAIT) {
            doom(cs, c, DROP_CAPACITY);
            return true;
        }
    }
    return false;
}

/* ---------------------------------------------------------------------------------- */
/* Request heads                                                                        */

static bool ieq(const char *p, size_t len, const char *lit)
{
    return strlen(lit) == len && strncasecmp(p, lit, len) == 0;
}

unsigned serve_head_check(const serve_head *h, const char **why)
{
    if (h->http11 && h->n_host == 0) {
        *why = "an HTTP/1.1 request needs a Host header\n";
        return 400;
    }
    if (h->n_host > 1) {
        *why = "more than one Host header\n";
        return 400;
    }
    for (size_t k = 0; k < h->host_len; k++) {
        unsigned char ch = (unsigned char)h->host[k];
        if (ch <= 0x20 || ch == 0x7f) {
            *why = "Host holds a space or a control character\n";
            return 400;
        }
    }
    if (h->n_cl > 1) {
        *why = "more than one Content-Length header\n";
        return 400;
    }
    if (h->n_te > 1 || (h->n_te == 1 && !ieq(h->te, h->te_len, "chunked"))) {
        *why = "transfer coding not supported (only chunked)\n";
        return 501;
    }
    if (h->n_te == 1 && h->n_cl == 1) {
        *why = "Content-Length and Transfer-Encoding together\n";
        return 400;
    }
    if (h->n_cl == 1) {
        uint64_t v = 0;
        if (h->cl_len == 0) {
            *why = "Content-Length is not a number\n";
            return 400;
        }
        for (size_t k = 0; k < h->cl_len; k++) {
            unsigned d = (unsigned)(unsigned char)h->cl[k] - '0';
            if (d > 9) {
                *why = "Content-Length is not a number\n";
                return 400;
            }
            if (v > (UINT64_MAX - d) / 10) {
                *why = "request body too large\n";
                return 413;
            }
            v = v * 10 + d;
        }
        if (h->bodyless && v > SERVE_BODY_MAX) {
            *why = "request body too large\n";
            return 413;
        }
    }
    return 0;
}

static bool tchar(unsigned char ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
           (ch >= 'A' && ch <= 'Z') || (ch != 0 && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

/* The end of the head in p[0..n) (the offset after its empty line), or 0 when it has
 * not all arrived. *start is set past the empty lines allowed before a request line. */
static size_t head_end(const char *p, size_t n, size_t *start)
{
    size_t s = 0;
    while (s < n && (p[s] == '\r' || p[s] == '\n') && s < 8)
        s++;
    *start = s;
    for (size_t k = s; k + 1 < n; k++) {
        if (p[k] != '\n')
            continue;
        if (p[k + 1] == '\n')
            return k + 2;
        if (p[k + 1] == '\r' && k + 2 < n && p[k + 2] == '\n')
            return k + 3;
    }
    return 0;
}

/* What the gate learnt from a head, for its answer and the access log. */
typedef struct {
    const char *method, *target;
    size_t mlen, tlen;
    bool is_head;
} head_info;

/* The next line of p[*k..end) without its line ending; false for a bare CR. */
static bool next_line(char *p, size_t end, size_t *k, char **line, size_t *len)
{
    size_t b = *k, e = b;
    while (e < end && p[e] != '\n')
        e++;
    *line = p + b;
    *len = e - b;
    *k = e + 1;
    if (*len > 0 && p[e - 1] == '\r')
        (*len)--;
    return memchr(*line, '\r', *len) == NULL;
}

/* Judges the head p[start..end): 0 to hand it on, else the status with *why. Never
 * more lenient than libmicrohttpd, so it never reaches one of libmicrohttpd's own
 * answers. */
static unsigned gate_parse(char *p, size_t start, size_t end, head_info *hi,
                           const char **why)
{
    size_t k = start;
    char *line;
    size_t len;
    memset(hi, 0, sizeof *hi);
    *why = "malformed request\n";
    if (!next_line(p, end, &k, &line, &len))
        return 400;
    /* method SP request-target SP HTTP-version */
    char *sp1 = memchr(line, ' ', len);
    if (sp1 == NULL || sp1 == line)
        return 400;
    char *tgt = sp1 + 1;
    char *sp2 = memchr(tgt, ' ', len - (size_t)(tgt - line));
    if (sp2 == NULL || sp2 == tgt)
        return 400;
    hi->method = line;
    hi->mlen = (size_t)(sp1 - line);
    hi->target = tgt;
    hi->tlen = (size_t)(sp2 - tgt);
    hi->is_head = ieq(line, hi->mlen, "HEAD");
    for (size_t j = 0; j < hi->mlen; j++)
        if (!tchar((unsigned char)line[j]))
            return 400;
    for (size_t j = 0; j < hi->tlen; j++)
        if ((unsigned char)tgt[j] <= 0x20 || tgt[j] == 0x7f)
            return 400;
    const char *ver = sp2 + 1;
    size_t vlen = len - (size_t)(ver - line);
    serve_head h;
    memset(&h, 0, sizeof h);
    if (vlen != 8 || memcmp(ver, "HTTP/", 5) != 0 || ver[5] < '0' || ver[5] > '9' ||
        ver[6] != '.' || ver[7] < '0' || ver[7] > '9')
        return 400;
    if (ver[5] != '1') {
        *why = "HTTP version not supported\n";
        return 505;
    }
    h.http11 = ver[7] != '0';
    h.bodyless = ieq(line, hi->mlen, "GET") || hi->is_head ||
                 ieq(line, hi->mlen, "OPTIONS");
    for (;;) {
        if (!next_line(p, end, &k, &line, &len))
            return 400;
        if (len == 0)
            break;
        if (line[0] == ' ' || line[0] == '\t') {
            *why = "folded header line (obsolete line folding)\n";
            return 400;
        }
        char *colon = memchr(line, ':', len);
        if (colon == NULL || colon == line) {
            *why = "malformed header line\n";
            return 400;
        }
        for (char *q = line; q < colon; q++)
            if (!tchar((unsigned char)*q)) {
                *why = "malformed header name\n";
                return 400;
            }
        const char *v = colon + 1, *ve = line + len;
        while (v < ve && (*v == ' ' || *v == '\t'))
            v++;
        for (const char *q = v; q < ve; q++)
            if (((unsigned char)*q < 0x20 && *q != '\t') || *q == 0x7f) {
                *why = "control character in a header value\n";
                return 400;
            }
        size_t nlen = (size_t)(colon - line);
        size_t len_v = (size_t)(ve - v);
        if (ieq(line, nlen, "Host")) {
            if (h.n_host++ == 0) {
                h.host = v;
                h.host_len = len_v;
                while (h.host_len > 0 && (v[h.host_len - 1] == ' ' ||
                                          v[h.host_len - 1] == '\t'))
                    h.host_len--;
            }
        } else if (ieq(line, nlen, "Content-Length")) {
            /* Exactly digits up to the line end: libmicrohttpd keeps trailing white
             * space in the value and then answers 400 itself (twice over). */
            if (h.n_cl++ == 0) {
                h.cl = v;
                h.cl_len = len_v;
            }
        } else if (ieq(line, nlen, "Transfer-Encoding")) {
            if (h.n_te++ == 0) {
                h.te = v;
                h.te_len = len_v;
            }
        }
    }
    return serve_head_check(&h, why);
}

/* ---------------------------------------------------------------------------------- */
/* Answers written directly                                                             */

size_t serve_write_error(int fd, unsigned status, const char *body, bool head)
{
    char date[SERVE_DATE_SIZE], buf[1024];
    serve_http_date((int64_t)time(NULL), date);
    const char *reason = MHD_get_reason_phrase_for(status);
    size_t blen = strlen(body);
    int n = snprintf(buf, sizeof buf,
                     "HTTP/1.1 %u %s\r\n"
                     "Date: %s\r\n"
                     "Connection: close\r\n"
                     "Content-Type: text/plain; charset=utf-8\r\n"
                     "Access-Control-Allow-Origin: *\r\n"
                     "Content-Length: %zu\r\n"
                     "\r\n"
                     "%s",
                     status, reason != NULL && reason[0] != '\0' ? reason : "Error", date,
                     blen, head ? "" : body);
    if (n <= 0 || (size_t)n >= sizeof buf)
        return 0;
    /* A few hundred bytes into an empty send buffer: one send() takes them all. */
    size_t off = 0;
    while (off < (size_t)n) {
        ssize_t w = send(fd, buf + off, (size_t)n - off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    return head ? 0 : blen;
}

/* Reads and drops what is already there, up to max bytes; false at the end of the
 * stream or an error. */
static bool drain(int fd, char *buf, size_t cap, size_t max, size_t *got)
{
    while (*got < max) {
        ssize_t r = recv(fd, buf, cap, MSG_DONTWAIT);
        if (r > 0) {
            *got += (size_t)r;
            continue;
        }
        if (r < 0 && errno == EINTR)
            continue;
        return r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    }
    return true;
}

void serve_drain_input(int fd)
{
    char buf[4096];
    size_t got = 0;
    (void)drain(fd, buf, sizeof buf, LINGER_BYTES, &got);
}

/* ---------------------------------------------------------------------------------- */
/* The gate thread                                                                      */

static uint64_t ev_data(int fd, uint32_t gen)
{
    return (uint64_t)(uint32_t)fd | (uint64_t)gen << 32;
}

static void peer_text(const conn *c, char *out, size_t cap)
{
    snprintf(out, cap, "-");
    if (c->sa.ss_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)&c->sa)->sin_addr,
                  out, (socklen_t)cap);
    else if (c->sa.ss_family == AF_INET6)
        inet_ntop(AF_INET6,
                  &((const struct sockaddr_in6 *)(const void *)&c->sa)->sin6_addr, out,
                  (socklen_t)cap);
}

/* Answers status and moves c to the linger list. */
static void gate_refuse(serve_ctx *ctx, conn *c, unsigned status, const char *why,
                        head_info *hi)
{
    serve_conns *cs = ctx->conns;
    size_t got = 0;
    /* Consume what was peeked (and whatever follows), so the close is a clean FIN. */
    bool open = drain(c->fd, cs->peek, sizeof cs->peek, LINGER_BYTES, &got);
    size_t blen = serve_write_error(c->fd, status, why, hi != NULL && hi->is_head);
    shutdown(c->fd, SHUT_WR);
    serve_count(ctx, status, blen);
    char peer[INET6_ADDRSTRLEN + 1];
    peer_text(c, peer, sizeof peer);
    serve_log_raw(ctx, peer, hi != NULL ? hi->method : "-", hi != NULL ? hi->mlen : 1,
                  hi != NULL ? hi->target : "-", hi != NULL ? hi->tlen : 1, status, blen);
    pthread_mutex_lock(&cs->mu);
    if (!open) {
        gate_close(cs, c);
    } else {
        unlink_conn(cs, c);
        set_state(cs, c, C_LINGER);
        c->since = now_ms();
        c->drained = got;
        list_append(&cs->linger, c);
    }
    pthread_mutex_unlock(&cs->mu);
}

static void gate_handoff(serve_ctx *ctx, conn *c)
{
    serve_conns *cs = ctx->conns;
    int fd = c->fd;
    struct sockaddr_storage sa = c->sa;
    socklen_t salen = c->salen;
    struct MHD_Daemon *d = cs->d[c->listener];
    epoll_ctl(cs->epfd, EPOLL_CTL_DEL, fd, NULL);
    pthread_mutex_lock(&cs->mu);
    set_state(cs, c, C_HANDOFF); /* stays in the wait list, with its deadline */
    pthread_mutex_unlock(&cs->mu);
    /* From here on libmicrohttpd owns fd; on failure it has closed it already, and no
     * notification comes (the entry can only be freed here). */
    if (MHD_add_connection(d, fd, (const struct sockaddr *)&sa, salen) != MHD_YES) {
        pthread_mutex_lock(&cs->mu);
        untrack(cs, c);
        pthread_mutex_unlock(&cs->mu);
        atomic_fetch_add(&cs->dropped[DROP_OVERLOAD], 1);
    }
}

/* Input (or a hang-up) on a connection the gate holds. */
static void gate_input(serve_ctx *ctx, uint64_t data, uint32_t events)
{
    serve_conns *cs = ctx->conns;
    int fd = (int)(uint32_t)data;
    uint32_t gen = (uint32_t)(data >> 32);
    pthread_mutex_lock(&cs->mu);
    conn *c = (size_t)fd < cs->nslots ? cs->slots[fd] : NULL;
    bool mine =
        c != NULL && c->gen == gen && (c->state == C_GATE || c->state == C_LINGER);
    pthread_mutex_unlock(&cs->mu);
    if (!mine)
        return; /* closed earlier in this batch */
    /* Only this thread changes C_GATE and C_LINGER entries: c stays valid. */
    if (c->state == C_LINGER) {
        if (!drain(fd, cs->peek, sizeof cs->peek, LINGER_BYTES, &c->drained) ||
            c->drained >= LINGER_BYTES) {
            pthread_mutex_lock(&cs->mu);
            gate_close(cs, c);
            pthread_mutex_unlock(&cs->mu);
        }
        return;
    }
    ssize_t n = recv(fd, cs->peek, sizeof cs->peek, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n <= 0) { /* gone before sending a whole head */
        pthread_mutex_lock(&cs->mu);
        gate_close(cs, c);
        pthread_mutex_unlock(&cs->mu);
        return;
    }
    c->peeks++;
    size_t start, end = head_end(cs->peek, (size_t)n, &start);
    if (end == 0) {
        if ((size_t)n >= sizeof cs->peek) {
            bool line_done = memchr(cs->peek + start, '\n', (size_t)n - start) != NULL;
            gate_refuse(ctx, c, line_done ? 431 : 414,
                        line_done ? "request header fields too large\n"
                                  : "request line too long\n",
                        NULL);
            return;
        }
        bool gone = (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0;
        if (gone || c->peeks >= MAX_PEEKS) {
            if (!gone)
                atomic_fetch_add(&cs->dropped[DROP_FRAGMENTED], 1);
            pthread_mutex_lock(&cs->mu);
            gate_close(cs, c);
            pthread_mutex_unlock(&cs->mu);
        }
        return;
    }
    head_info hi;
    const char *why = NULL;
    unsigned status = gate_parse(cs->peek, start, end, &hi, &why);
    if (status != 0) {
        /* The method and target point into peek, which drain() overwrites. */
        char method[16], target[256];
        size_t ml = hi.mlen < sizeof method ? hi.mlen : sizeof method - 1;
        size_t tl = hi.tlen < sizeof target ? hi.tlen : sizeof target - 1;
        if (hi.method != NULL)
            memcpy(method, hi.method, ml);
        if (hi.target != NULL)
            memcpy(target, hi.target, tl);
        hi.method = hi.method != NULL ? method : NULL;
        hi.target = hi.target != NULL ? target : NULL;
        hi.mlen = ml;
        hi.tlen = tl;
        gate_refuse(ctx, c, status, why, hi.method != NULL ? &hi : NULL);
        return;
    }
    gate_handoff(ctx, c);
}

static void listeners_arm(serve_conns *cs, bool on)
{
    for (size_t k = 0; k < cs->nl; k++) {
        struct epoll_event ev;
        memset(&ev, 0, sizeof ev);
        ev.events = on ? EPOLLIN : 0;
        ev.data.u64 = ev_data((int)k, LISTENER_TAG);
        epoll_ctl(cs->epfd, EPOLL_CTL_MOD, cs->lfd[k], &ev);
    }
    cs->paused = !on;
}

/* Refuses a connection just accepted: a reset, which costs the server no FIN
 * handshake and no TIME_WAIT state, and tells the client at once. */
static void reset_close(int fd)
{
    struct linger lg = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fd);
}

/* A new connection on listener k: refused, or tracked in the gate. */
static void gate_admit(serve_ctx *ctx, int fd, const struct sockaddr_storage *sa,
                       socklen_t salen, unsigned k)
{
    serve_conns *cs = ctx->conns;
    const struct sockaddr *s = (const struct sockaddr *)sa;
    pthread_mutex_lock(&cs->mu);
    if ((size_t)fd >= cs->nslots) {
        pthread_mutex_unlock(&cs->mu);
        reset_close(fd);
        atomic_fetch_add(&cs->dropped[DROP_CAPACITY], 1);
        return;
    }
    if (cs->slots[fd] != NULL) /* a handoff libmicrohttpd dropped without notice */
        untrack(cs, cs->slots[fd]);
    addr_node *a = addr_get(cs, s, false);
    if (ctx->per_address > 0 && a != NULL && a->count >= ctx->per_address) {
        pthread_mutex_unlock(&cs->mu);
        reset_close(fd);
        atomic_fetch_add(&cs->dropped[DROP_PER_ADDRESS], 1);
        return;
    }
    if (cs->total - cs->n[C_DOOMED] >= ctx->max_connections && !evict_one(cs)) {
        pthread_mutex_unlock(&cs->mu);
        reset_close(fd);
        atomic_fetch_add(&cs->dropped[DROP_CAPACITY], 1);
        return;
    }
    conn *c = track(cs, fd, s, salen, C_GATE);
    if (c != NULL)
        c->listener = k;
    pthread_mutex_unlock(&cs->mu);
    if (c == NULL) {
        close(fd);
        return;
    }
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN | EPOLLRDHUP | EPOLLET;
    ev.data.u64 = ev_data(fd, c->gen);
    if (epoll_ctl(cs->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        pthread_mutex_lock(&cs->mu);
        gate_close(cs, c);
        pthread_mutex_unlock(&cs->mu);
        return;
    }
    /* Data that came with the handshake is reported by the first epoll_wait: adding a
     * ready descriptor queues its event. */
}

static void gate_accept(serve_ctx *ctx, unsigned k)
{
    serve_conns *cs = ctx->conns;
    for (int burst = 0; burst < ACCEPT_BURST; burst++) {
        struct sockaddr_storage sa;
        socklen_t salen = sizeof sa;
        int fd = accept4(cs->lfd[k], (struct sockaddr *)&sa, &salen,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
                errno == ENOMEM) {
                /* Out of descriptors: the pending connection keeps the listener
                 * readable, so stop watching it for a moment instead of spinning. */
                listeners_arm(cs, false);
                cs->resume_at = now_ms() + ACCEPT_PAUSE_MS;
            }
            return;
        }
        gate_admit(ctx, fd, &sa, salen, k);
    }
}

/* Deadlines: connections waiting too long for a request, and finished lingers.
 * Returns the milliseconds until the next deadline (at most TICK_MS). */
static int gate_reap(serve_ctx *ctx)
{
    serve_conns *cs = ctx->conns;
    int64_t now = now_ms(), limit = (int64_t)ctx->head_timeout * 1000;
    int64_t next = now + TICK_MS;
    pthread_mutex_lock(&cs->mu);
    conn *c = cs->wait.head;
    while (c != NULL) {
        conn *nx = c->next;
        if (c->since + limit > now) {
            if (c->since + limit < next)
                next = c->since + limit;
            break;
        }
        if (c->state == C_GATE) {
            atomic_fetch_add(&cs->dropped[DROP_HEAD_TIMEOUT], 1);
            gate_close(cs, c);
        } else if (c->state == C_WAIT) {
            doom(cs, c, c->requests == 0 ? DROP_HEAD_TIMEOUT : DROP_IDLE_TIMEOUT);
        } else if (c->state == C_HANDOFF && c->since + limit + 60000 < now) {
            /* libmicrohttpd took it but never started it: a failure it does not
             * report. The descriptor is closed; only the entry is left. */
            untrack(cs, c);
        }
        c = nx;
    }
    while ((c = cs->linger.head) != NULL && c->since + LINGER_MS <= now)
        gate_close(cs, c);
    if (c != NULL && c->since + LINGER_MS < next)
        next = c->since + LINGER_MS;
    pthread_mutex_unlock(&cs->mu);
    if (cs->paused) {
        if (now >= cs->resume_at)
            listeners_arm(cs, true);
        else if (cs->resume_at < next)
            next = cs->resume_at;
    }
    return next > now ? (int)(next - now) : 0;
}

static void *gate_main(void *arg)
{
    serve_ctx *ctx = arg;
    serve_conns *cs = ctx->conns;
    struct epoll_event evs[64];
    int timeout = 0;
    for (;;) {
        int n = epoll_wait(cs->epfd, evs, 64, timeout);
        for (int k = 0; k < n; k++) {
            uint64_t data = evs[k].data.u64;
            if ((uint32_t)(data >> 32) == LISTENER_TAG) {
                uint32_t idx = (uint32_t)data;
                if (idx >= SERVE_MAX_LISTEN)
                    return NULL; /* the stop event */
                gate_accept(ctx, idx);
            } else {
                gate_input(ctx, data, evs[k].events);
            }
        }
        timeout = gate_reap(ctx);
    }
}

/* ---------------------------------------------------------------------------------- */
/* Set-up, notifications, metrics                                                       */

int serve_conns_init(serve_ctx *ctx)
{
    serve_conns *cs = calloc(1, sizeof *cs);
    if (cs == NULL)
        return -1;
    struct rlimit rl;
    size_t nslots = 1u << 16;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        nslots = (size_t)rl.rlim_cur;
    if (nslots > (1u << 20))
        nslots = 1u << 20;
    cs->slots = calloc(nslots, sizeof *cs->slots);
    if (cs->slots == NULL) {
        free(cs);
        return -1;
    }
    cs->nslots = nslots;
    cs->epfd = cs->stopfd = -1;
    pthread_mutex_init(&cs->mu, NULL);
    ctx->conns = cs;
    return 0;
}

int serve_conns_start(serve_ctx *ctx, const int *lfd, struct MHD_Daemon **d, size_t n)
{
    serve_conns *cs = ctx->conns;
    if (n > SERVE_MAX_LISTEN)
        return -1;
    for (size_t k = 0; k < n; k++) { /* taken over even on failure: stop closes them */
        cs->lfd[k] = lfd[k];
        cs->d[k] = d[k];
    }
    cs->nl = n;
    cs->epfd = epoll_create1(EPOLL_CLOEXEC);
    cs->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (cs->epfd < 0 || cs->stopfd < 0)
        return -1;
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN;
    ev.data.u64 = ev_data(SERVE_MAX_LISTEN, LISTENER_TAG); /* the stop event */
    if (epoll_ctl(cs->epfd, EPOLL_CTL_ADD, cs->stopfd, &ev) != 0)
        return -1;
    for (size_t k = 0; k < n; k++) {
        ev.events = EPOLLIN;
        ev.data.u64 = ev_data((int)k, LISTENER_TAG);
        if (epoll_ctl(cs->epfd, EPOLL_CTL_ADD, lfd[k], &ev) != 0)
            return -1;
    }
    if (pthread_create(&cs->thread, NULL, gate_main, ctx) != 0)
        return -1;
    cs->running = true;
    return 0;
}

void serve_conns_stop(serve_ctx *ctx)
{
    serve_conns *cs = ctx->conns;
    if (cs == NULL)
        return;
    if (cs->running) {
        uint64_t one = 1;
        ssize_t w = write(cs->stopfd, &one, sizeof one);
        (void)w;
        pthread_join(cs->thread, NULL);
        cs->running = false;
    }
    /* New clients are refused from now on; the gate's own connections are closed. */
    for (size_t k = 0; k < cs->nl; k++) {
        close(cs->lfd[k]);
        cs->lfd[k] = -1;
    }
    cs->nl = 0;
    pthread_mutex_lock(&cs->mu);
    for (conn *c = cs->wait.head, *nx; c != NULL; c = nx) {
        nx = c->next;
        if (c->state == C_GATE)
            gate_close(cs, c);
    }
    while (cs->linger.head != NULL)
        gate_close(cs, cs->linger.head);
    pthread_mutex_unlock(&cs->mu);
}

void serve_conns_free(serve_ctx *ctx)
{
    serve_conns *cs = ctx->conns;
    if (cs == NULL)
        return;
    serve_conns_stop(ctx);
    /* libmicrohttpd has stopped: whatever is left was dropped without notice. */
    for (size_t k = 0; k < cs->nslots; k++)
        if (cs->slots[k] != NULL)
            untrack(cs, cs->slots[k]);
    if (cs->epfd >= 0)
        close(cs->epfd);
    if (cs->stopfd >= 0)
        close(cs->stopfd);
    pthread_mutex_destroy(&cs->mu);
    free(cs->slots);
    free(cs);
    ctx->conns = NULL;
}

void serve_conn_notify(void *cls, struct MHD_Connection *mc, void **socket_context,
                       enum MHD_ConnectionNotificationCode code)
{
    serve_ctx *ctx = cls;
    serve_conns *cs = ctx->conns;
    if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        conn *c = *socket_context;
        if (c == NULL)
            return;
        pthread_mutex_lock(&cs->mu);
        untrack(cs, c);
        pthread_mutex_unlock(&cs->mu);
        *socket_context = NULL;
        return;
    }
    const union MHD_ConnectionInfo *fi =
        MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CONNECTION_FD);
    const union MHD_ConnectionInfo *ai =
        MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (fi == NULL)
        return;
    int fd = fi->connect_fd;
    pthread_mutex_lock(&cs->mu);
    conn *c = (size_t)fd < cs->nslots ? cs->slots[fd] : NULL;
    if (c != NULL && c->state == C_HANDOFF) {
        set_state(cs, c, C_WAIT); /* keeps its place and deadline in the wait list */
    } else {
        /* Not from the gate: accepted by libmicrohttpd itself in the moment between
         * its start and MHD_quiesce_daemon(). Tracked all the same. */
        if (c != NULL)
            untrack(cs, c);
        const struct sockaddr *sa = ai != NULL ? ai->client_addr : NULL;
        socklen_t salen = 0;
        if (sa != NULL)
            salen = sa->sa_family == AF_INET6 ? (socklen_t)sizeof(struct sockaddr_in6)
                                              : (socklen_t)sizeof(struct sockaddr_in);
        c = track(cs, fd, sa, salen, C_WAIT);
    }
    *socket_context = c;
    pthread_mutex_unlock(&cs->mu);
}

static conn *conn_of(struct MHD_Connection *mc)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci != NULL ? ci->socket_context : NULL;
}

void serve_conn_answering(serve_ctx *ctx, struct MHD_Connection *mc)
{
    serve_conns *cs = ctx->conns;
    conn *c = conn_of(mc);
    if (c == NULL)
        return;
    pthread_mutex_lock(&cs->mu);
    if (c->state == C_WAIT) {
        unlink_conn(cs, c);
        set_state(cs, c, C_BUSY);
    }
    pthread_mutex_unlock(&cs->mu);
}

void serve_conn_completed(void *cls, struct MHD_Connection *mc, void **con_cls,
                          enum MHD_RequestTerminationCode toe)
{
    serve_ctx *ctx = cls;
    serve_conns *cs = ctx->conns;
    serve_completed(cls, mc, con_cls, toe);
    conn *c = conn_of(mc);
    if (c == NULL)
        return;
    pthread_mutex_lock(&cs->mu);
    if (c->state == C_BUSY || c->state == C_WAIT) {
        /* Waiting for the next request on this connection from now on. */
        unlink_conn(cs, c);
        set_state(cs, c, C_WAIT);
        c->requests++;
        c->since = now_ms();
        list_append(&cs->wait, c);
    }
    pthread_mutex_unlock(&cs->mu);
}

void serve_conn_metrics(serve_ctx *ctx, FILE *f)
{
    serve_conns *cs = ctx->conns;
    if (cs == NULL)
        return;
    pthread_mutex_lock(&cs->mu);
    unsigned waiting = cs->n[C_GATE] + cs->n[C_HANDOFF] + cs->n[C_WAIT];
    unsigned active = cs->n[C_BUSY], closing = cs->n[C_LINGER] + cs->n[C_DOOMED];
    pthread_mutex_unlock(&cs->mu);
    fprintf(f, "# HELP tsl_connections Open connections: waiting for a request, "
               "answering one, being closed.\n"
               "# TYPE tsl_connections gauge\n"
               "tsl_connections{state=\"waiting\"} %u\n"
               "tsl_connections{state=\"active\"} %u\n"
               "tsl_connections{state=\"closing\"} %u\n",
            waiting, active, closing);
    fputs("# HELP tsl_connections_dropped_total Connections closed or refused by a "
          "limit, by reason.\n"
          "# TYPE tsl_connections_dropped_total counter\n", f);
    for (int k = 0; k < DROP_NREASONS; k++)
        fprintf(f, "tsl_connections_dropped_total{reason=\"%s\"} %llu\n", drop_names[k],
                (unsigned long long)atomic_load(&cs->dropped[k]));
    fprintf(f, "# HELP tsl_connection_limit The connection limits in force "
               "(per_address 0: none).\n"
               "# TYPE tsl_connection_limit gauge\n"
               "tsl_connection_limit{limit=\"max_connections\"} %u\n"
               "tsl_connection_limit{limit=\"per_address\"} %u\n"
               "tsl_connection_limit{limit=\"head_timeout_seconds\"} %u\n",
            ctx->max_connections, ctx->per_address, ctx->head_timeout);
}
