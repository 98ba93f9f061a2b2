/* gate.c - a connection gate in front of an HTTP server: its own accept loop on the
 * server's listening sockets, and the tracking of every connection afterwards
 * (tsl_gate_* in tsl.h), plus the request-head rules it shares with the server
 * (tsl_http_head_check) and the answers it writes itself.
 *
 * Why a gate: an HTTP library may restart its idle timeout on every byte (so one header
 * byte every few seconds holds a connection for ever), have no global limit that makes
 * room, and answer some malformed heads badly (the one `tsl serve` uses writes its
 * status line and headers twice for a malformed Content-Length). So the gate thread
 * accepts each connection, reads its first request head with MSG_PEEK (nothing is
 * consumed), and only hands a connection with a complete, acceptable head to the server
 * (opt.handoff). A bad head gets one answer written here. Limits, all counted in the
 * stats: a deadline for a whole request, a per-address limit, and a global cap that
 * evicts the connection waiting longest (see tsl.h).
 * Connections inside the server are followed through its reports (tsl_gate_conn_*);
 * the gate thread closes the late ones with shutdown(), which the server then sees as
 * the client going away. The server reports a close before it closes the descriptor,
 * and the table below is changed under one mutex, so a shutdown() never reaches a
 * descriptor that has been reused. Nothing here depends on the server's HTTP library. */
#include "publish/gate_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
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
/* Bytes dropped per recv() while draining. */
#define DRAIN_CHUNK 4096

typedef enum {
    C_GATE,    /* in the gate, its first head not complete yet */
    C_LINGER,  /* refused by the gate, the answer sent, input drained until closed */
    C_HANDOFF, /* given to the server, which has not started it yet */
    C_WAIT,    /* in the server, waiting for a (next) request to be complete */
    C_BUSY,    /* in the server, a request being answered */
    C_DOOMED,  /* shut down here, the server closing it */
    C_NSTATES
} cstate;

typedef struct addr_node {
    struct addr_node *next;
    unsigned char key[17]; /* family byte and address (addr_key) */
    unsigned count;        /* connections open from this address */
} addr_node;

struct tsl_gate_conn {
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
    struct tsl_gate_conn *prev, *next; /* wait list or linger list */
    struct sockaddr_storage sa;
    socklen_t salen;
};
typedef struct tsl_gate_conn conn;

typedef struct {
    conn *head, *tail;
} clist;

#define DROP_HEAD_TIMEOUT TSL_GATE_DROP_HEAD_TIMEOUT
#define DROP_IDLE_TIMEOUT TSL_GATE_DROP_IDLE_TIMEOUT
#define DROP_PER_ADDRESS TSL_GATE_DROP_PER_ADDRESS
#define DROP_CAPACITY TSL_GATE_DROP_CAPACITY
#define DROP_FRAGMENTED TSL_GATE_DROP_FRAGMENTED
#define DROP_OVERLOAD TSL_GATE_DROP_OVERLOAD
#define DROP_NREASONS TSL_GATE_NDROPS
static const char *const drop_names[DROP_NREASONS] = {
    "head_timeout", "idle_timeout", "per_address", "capacity", "fragmented", "overload"};

struct tsl_gate {
    tsl_gate_options opt; /* defaults filled in */
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
    int lfd[TSL_GATE_MAX_LISTEN];
    bool paused;
    int64_t resume_at;
    char *peek; /* opt.head_max bytes: the first head, peeked */
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

static void unlink_conn(tsl_gate *cs, conn *c)
{
    if (c->linked)
        list_remove(c->state == C_LINGER ? &cs->linger : &cs->wait, c);
}

static void set_state(tsl_gate *cs, conn *c, cstate s)
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
static addr_node *addr_get(tsl_gate *cs, const struct sockaddr *sa, bool create)
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

static void addr_put(tsl_gate *cs, addr_node *a)
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
static conn *track(tsl_gate *cs, int fd, const struct sockaddr *sa, socklen_t salen,
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
static void untrack(tsl_gate *cs, conn *c)
{
    unlink_conn(cs, c);
    cs->n[c->state]--;
    cs->total--;
    addr_put(cs, c->addr);
    if ((size_t)c->fd < cs->nslots && cs->slots[c->fd] == c)
        cs->slots[c->fd] = NULL;
    free(c);
}

/* Closes a connection that the server holds: the shutdown wakes its thread, which
 * sees the client gone, notifies the close (untrack) and closes the descriptor. */
static void doom(tsl_gate *cs, conn *c, int reason)
{
    unlink_conn(cs, c);
    set_state(cs, c, C_DOOMED);
    shutdown(c->fd, SHUT_RDWR);
    atomic_fetch_add(&cs->dropped[reason], 1);
}

/* Closes a connection the gate holds. */
static void gate_close(tsl_gate *cs, conn *c)
{
    int fd = c->fd;
    untrack(cs, c);
    close(fd); /* also leaves the epoll set */
}

/* Makes room for one more: the oldest lingering refusal, else the connection that has
 * waited longest for a request. False when every connection is busy answering. */
static bool evict_one(tsl_gate *cs)
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

unsigned tsl_http_head_check(const tsl_http_head *h, uint64_t body_max, const char **why)
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
        if (h->bodyless && v > body_max) {
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

size_t tslp_gate_head_end(const char *p, size_t n, size_t *start)
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

typedef tslp_head_info head_info;

/* The next line of p[*k..end) without its line ending; false for a bare CR. */
static bool next_line(const char *p, size_t end, size_t *k, const char **line,
                      size_t *len)
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

/* Never more lenient than the server's HTTP library (for tsl serve, one that answers
 * some malformed heads badly itself), so a head handed on never reaches one of the
 * library's own answers. */
unsigned tslp_gate_parse(const char *p, size_t start, size_t end, uint64_t body_max,
                         tslp_head_info *hi, const char **why)
{
    size_t k = start;
    const char *line;
    size_t len;
    memset(hi, 0, sizeof *hi);
    *why = "malformed request\n";
    if (!next_line(p, end, &k, &line, &len))
        return 400;
    /* method SP request-target SP HTTP-version */
    const char *sp1 = memchr(line, ' ', len);
    if (sp1 == NULL || sp1 == line)
        return 400;
    const char *tgt = sp1 + 1;
    const char *sp2 = memchr(tgt, ' ', len - (size_t)(tgt - line));
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
    tsl_http_head h;
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
        const char *colon = memchr(line, ':', len);
        if (colon == NULL || colon == line) {
            *why = "malformed header line\n";
            return 400;
        }
        for (const char *q = line; q < colon; q++)
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
        tsl_http_head_field(&h, line, (size_t)(colon - line), v, (size_t)(ve - v));
    }
    return tsl_http_head_check(&h, body_max, why);
}

void tsl_http_head_field(tsl_http_head *h, const char *name, size_t name_len,
                         const char *value, size_t value_len)
{
    if (ieq(name, name_len, "Host")) {
        if (h->n_host++ == 0) {
            while (value_len > 0 && (value[value_len - 1] == ' ' ||
                                     value[value_len - 1] == '\t'))
                value_len--;
            h->host = value;
            h->host_len = value_len;
        }
    } else if (ieq(name, name_len, "Content-Length")) {
        /* Exactly digits up to the line end: an HTTP library may keep trailing white
         * space in the value and then answer 400 itself (tsl serve's does, with its
         * headers written twice). */
        if (h->n_cl++ == 0) {
            h->cl = value;
            h->cl_len = value_len;
        }
    } else if (ieq(name, name_len, "Transfer-Encoding")) {
        if (h->n_te++ == 0) {
            h->te = value;
            h->te_len = value_len;
        }
    }
}

/* ---------------------------------------------------------------------------------- */
/* Answers written directly                                                             */

/* The reason phrases of the answers written here (RFC 9110 section 15), as the
 * answers of the server's HTTP library spell them. */
static const char *reason_phrase(unsigned status)
{
    switch (status) {
    case 400: return "Bad Request";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 431: return "Request Header Fields Too Large";
    case 501: return "Not Implemented";
    case 505: return "HTTP Version Not Supported";
    default: return "Error";
    }
}

size_t tsl_http_write_error(int fd, unsigned status, const char *body, int head)
{
    char date[40], buf[1024];
    time_t now = time(NULL);
    struct tm tm;
    if (gmtime_r(&now, &tm) == NULL ||
        strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm) == 0)
        snprintf(date, sizeof date, "Thu, 01 Jan 1970 00:00:00 GMT");
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
                     status, reason_phrase(status), date,
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

void tsl_http_drain_input(int fd)
{
    char buf[DRAIN_CHUNK];
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
    tsl_addr_text(&c->sa, -1, out, cap);
}

/* Answers status and moves c to the linger list. */
static void gate_refuse(tsl_gate *cs, conn *c, unsigned status, const char *why,
                        head_info *hi)
{
    size_t got = 0;
    /* Consume what was peeked (and whatever follows), so the close is a clean FIN. */
    bool open = drain(c->fd, cs->peek, cs->opt.head_max, LINGER_BYTES, &got);
    size_t blen = tsl_http_write_error(c->fd, status, why, hi != NULL && hi->is_head);
    shutdown(c->fd, SHUT_WR);
    if (cs->opt.refused != NULL) {
        char peer[INET6_ADDRSTRLEN + 1];
        peer_text(c, peer, sizeof peer);
        tsl_gate_refusal r = {status, blen, peer, "-", "-", 1, 1};
        if (hi != NULL) {
            r.method = hi->method;
            r.target = hi->target;
            r.method_len = hi->mlen;
            r.target_len = hi->tlen;
        }
        cs->opt.refused(&r, cs->opt.user);
    }
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

static void gate_handoff(tsl_gate *cs, conn *c)
{
    int fd = c->fd;
    struct sockaddr_storage sa = c->sa;
    socklen_t salen = c->salen;
    unsigned listener = c->listener;
    epoll_ctl(cs->epfd, EPOLL_CTL_DEL, fd, NULL);
    pthread_mutex_lock(&cs->mu);
    set_state(cs, c, C_HANDOFF); /* stays in the wait list, with its deadline */
    pthread_mutex_unlock(&cs->mu);
    /* From here on the server owns fd; on failure it has closed it already, and no
     * report comes (the entry can only be freed here). */
    if (cs->opt.handoff(fd, &sa, (size_t)salen, listener, cs->opt.user) != 0) {
        pthread_mutex_lock(&cs->mu);
        untrack(cs, c);
        pthread_mutex_unlock(&cs->mu);
        atomic_fetch_add(&cs->dropped[DROP_OVERLOAD], 1);
    }
}

/* Input (or a hang-up) on a connection the gate holds. */
static void gate_input(tsl_gate *cs, uint64_t data, uint32_t events)
{
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
        if (!drain(fd, cs->peek, cs->opt.head_max, LINGER_BYTES, &c->drained) ||
            c->drained >= LINGER_BYTES) {
            pthread_mutex_lock(&cs->mu);
            gate_close(cs, c);
            pthread_mutex_unlock(&cs->mu);
        }
        return;
    }
    ssize_t n = recv(fd, cs->peek, cs->opt.head_max, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n <= 0) { /* gone before sending a whole head */
        pthread_mutex_lock(&cs->mu);
        gate_close(cs, c);
        pthread_mutex_unlock(&cs->mu);
        return;
    }
    c->peeks++;
    size_t start, end = tslp_gate_head_end(cs->peek, (size_t)n, &start);
    if (end == 0) {
        if ((size_t)n >= cs->opt.head_max) {
            bool line_done = memchr(cs->peek + start, '\n', (size_t)n - start) != NULL;
            gate_refuse(cs, c, line_done ? 431 : 414,
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
    unsigned status = tslp_gate_parse(cs->peek, start, end, cs->opt.body_max, &hi, &why);
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
        gate_refuse(cs, c, status, why, hi.method != NULL ? &hi : NULL);
        return;
    }
    gate_handoff(cs, c);
}

static void listeners_arm(tsl_gate *cs, bool on)
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
static void gate_admit(tsl_gate *cs, int fd, const struct sockaddr_storage *sa,
                       socklen_t salen, unsigned k)
{
    const struct sockaddr *s = (const struct sockaddr *)sa;
    pthread_mutex_lock(&cs->mu);
    if ((size_t)fd >= cs->nslots) {
        pthread_mutex_unlock(&cs->mu);
        reset_close(fd);
        atomic_fetch_add(&cs->dropped[DROP_CAPACITY], 1);
        return;
    }
    if (cs->slots[fd] != NULL) /* a handoff the server dropped without notice */
        untrack(cs, cs->slots[fd]);
    addr_node *a = addr_get(cs, s, false);
    if (cs->opt.max_per_address > 0 && a != NULL &&
        a->count >= cs->opt.max_per_address) {
        pthread_mutex_unlock(&cs->mu);
        reset_close(fd);
        atomic_fetch_add(&cs->dropped[DROP_PER_ADDRESS], 1);
        return;
    }
    if (cs->total - cs->n[C_DOOMED] >= cs->opt.max_connections && !evict_one(cs)) {
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

static void gate_accept(tsl_gate *cs, unsigned k)
{
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
        gate_admit(cs, fd, &sa, salen, k);
    }
}

/* Deadlines: connections waiting too long for a request, and finished lingers.
 * Returns the milliseconds until the next deadline (at most TICK_MS). */
static int gate_reap(tsl_gate *cs)
{
    int64_t now = now_ms(), limit = (int64_t)cs->opt.head_timeout_ms;
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
            /* The server took it but never started it: a failure it does not
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
    tsl_gate *cs = arg;
    struct epoll_event evs[64];
    int timeout = 0;
    for (;;) {
        int n = epoll_wait(cs->epfd, evs, 64, timeout);
        for (int k = 0; k < n; k++) {
            uint64_t data = evs[k].data.u64;
            if ((uint32_t)(data >> 32) == LISTENER_TAG) {
                uint32_t idx = (uint32_t)data;
                if (idx >= TSL_GATE_MAX_LISTEN)
                    return NULL; /* the stop event */
                gate_accept(cs, idx);
            } else {
                gate_input(cs, data, evs[k].events);
            }
        }
        timeout = gate_reap(cs);
    }
}

/* ---------------------------------------------------------------------------------- */
/* Set-up, the server's reports, stats                                                  */

tsl_status tsl_gate_new(const tsl_gate_options *opt, tsl_gate **out, tsl_error *err)
{
    if (out == NULL || opt == NULL || opt->handoff == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "gate: no options or no handoff");
    *out = NULL;
    tsl_gate *cs = calloc(1, sizeof *cs);
    if (cs == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "gate: out of memory");
    cs->opt = *opt;
    if (cs->opt.max_connections == 0)
        cs->opt.max_connections = TSL_GATE_DEFAULT_MAX_CONNECTIONS;
    if (cs->opt.head_timeout_ms == 0)
        cs->opt.head_timeout_ms = TSL_GATE_DEFAULT_HEAD_TIMEOUT_MS;
    if (cs->opt.head_max == 0)
        cs->opt.head_max = TSL_GATE_HEAD_MAX;
    if (cs->opt.body_max == 0)
        cs->opt.body_max = TSL_GATE_BODY_MAX;
    /* One slot per possible descriptor: the table is indexed by fd. */
    struct rlimit rl;
    size_t nslots = 1u << 16;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        nslots = (size_t)rl.rlim_cur;
    if (nslots > (1u << 20))
        nslots = 1u << 20;
    cs->slots = calloc(nslots, sizeof *cs->slots);
    cs->peek = malloc(cs->opt.head_max);
    if (cs->slots == NULL || cs->peek == NULL) {
        free(cs->slots);
        free(cs->peek);
        free(cs);
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "gate: out of memory");
    }
    cs->nslots = nslots;
    cs->epfd = cs->stopfd = -1;
    pthread_mutex_init(&cs->mu, NULL);
    *out = cs;
    return TSL_OK;
}

tsl_status tsl_gate_start(tsl_gate *cs, const int *lfd, size_t n, tsl_error *err)
{
    if (cs == NULL || (n > 0 && lfd == NULL) || cs->running)
        return tslp_fail(err, TSL_ERR_ARG, 0, "gate: not started twice, and needs fds");
    if (n > TSL_GATE_MAX_LISTEN) {
        for (size_t k = 0; k < n; k++)
            close(lfd[k]);
        return tslp_fail(err, TSL_ERR_ARG, 0, "gate: more than %d listening sockets",
                         TSL_GATE_MAX_LISTEN);
    }
    for (size_t k = 0; k < n; k++) /* taken over even on failure: stop closes them */
        cs->lfd[k] = lfd[k];
    cs->nl = n;
    cs->epfd = epoll_create1(EPOLL_CLOEXEC);
    cs->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (cs->epfd < 0 || cs->stopfd < 0)
        return tslp_fail(err, TSL_ERR_IO, 0, "gate: epoll: %s", strerror(errno));
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN;
    ev.data.u64 = ev_data(TSL_GATE_MAX_LISTEN, LISTENER_TAG); /* the stop event */
    if (epoll_ctl(cs->epfd, EPOLL_CTL_ADD, cs->stopfd, &ev) != 0)
        return tslp_fail(err, TSL_ERR_IO, 0, "gate: epoll: %s", strerror(errno));
    for (size_t k = 0; k < n; k++) {
        ev.events = EPOLLIN;
        ev.data.u64 = ev_data((int)k, LISTENER_TAG);
        if (epoll_ctl(cs->epfd, EPOLL_CTL_ADD, lfd[k], &ev) != 0)
            return tslp_fail(err, TSL_ERR_IO, 0, "gate: listening socket %zu: %s", k,
                             strerror(errno));
    }
    int rc = pthread_create(&cs->thread, NULL, gate_main, cs);
    if (rc != 0)
        return tslp_fail(err, TSL_ERR_IO, 0, "gate: thread: %s", strerror(rc));
    cs->running = true;
    return TSL_OK;
}

void tsl_gate_stop(tsl_gate *cs)
{
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

void tsl_gate_free(tsl_gate *cs)
{
    if (cs == NULL)
        return;
    tsl_gate_stop(cs);
    /* The server has stopped: whatever is left was dropped without a report. */
    for (size_t k = 0; k < cs->nslots; k++)
        if (cs->slots[k] != NULL)
            untrack(cs, cs->slots[k]);
    if (cs->epfd >= 0)
        close(cs->epfd);
    if (cs->stopfd >= 0)
        close(cs->stopfd);
    pthread_mutex_destroy(&cs->mu);
    free(cs->slots);
    free(cs->peek);
    free(cs);
}

tsl_gate_conn *tsl_gate_conn_started(tsl_gate *cs, int fd, const void *addr,
                                     size_t addr_len)
{
    if (cs == NULL || fd < 0)
        return NULL;
    pthread_mutex_lock(&cs->mu);
    conn *c = (size_t)fd < cs->nslots ? cs->slots[fd] : NULL;
    if (c != NULL && c->state == C_HANDOFF) {
        set_state(cs, c, C_WAIT); /* keeps its place and deadline in the wait list */
    } else {
        /* Not from the gate (tsl serve: accepted by its HTTP library in the moment
         * between its start and the gate taking its socket). Tracked all the same. */
        if (c != NULL)
            untrack(cs, c);
        struct sockaddr_storage none;
        memset(&none, 0, sizeof none);
        c = track(cs, fd, addr != NULL ? addr : (const void *)&none,
                  addr != NULL ? (socklen_t)addr_len : 0, C_WAIT);
    }
    pthread_mutex_unlock(&cs->mu);
    return c;
}

void tsl_gate_conn_answering(tsl_gate *cs, tsl_gate_conn *c)
{
    if (cs == NULL || c == NULL)
        return;
    pthread_mutex_lock(&cs->mu);
    if (c->state == C_WAIT) {
        unlink_conn(cs, c);
        set_state(cs, c, C_BUSY);
    }
    pthread_mutex_unlock(&cs->mu);
}

void tsl_gate_conn_answered(tsl_gate *cs, tsl_gate_conn *c)
{
    if (cs == NULL || c == NULL)
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

void tsl_gate_conn_closed(tsl_gate *cs, tsl_gate_conn *c)
{
    if (cs == NULL || c == NULL)
        return;
    pthread_mutex_lock(&cs->mu);
    untrack(cs, c);
    pthread_mutex_unlock(&cs->mu);
}

const char *tsl_gate_drop_name(int reason)
{
    return reason >= 0 && reason < DROP_NREASONS ? drop_names[reason] : NULL;
}

void tsl_gate_get_stats(tsl_gate *cs, tsl_gate_stats *out)
{
    memset(out, 0, sizeof *out);
    if (cs == NULL)
        return;
    pthread_mutex_lock(&cs->mu);
    out->waiting = cs->n[C_GATE] + cs->n[C_HANDOFF] + cs->n[C_WAIT];
    out->active = cs->n[C_BUSY];
    out->closing = cs->n[C_LINGER] + cs->n[C_DOOMED];
    pthread_mutex_unlock(&cs->mu);
    for (int k = 0; k < DROP_NREASONS; k++)
        out->dropped[k] = (uint64_t)atomic_load(&cs->dropped[k]);
    out->max_connections = cs->opt.max_connections;
    out->max_per_address = cs->opt.max_per_address;
    out->head_timeout_ms = cs->opt.head_timeout_ms;
}
