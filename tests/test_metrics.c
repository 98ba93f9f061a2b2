/* test_metrics.c - what a server needs around a publisher, without a server
 * (src/publish/ops.c): the /metrics text for known counters, the /healthz answer of a
 * healthy and a degraded publisher, the access log's line format and its dropping of
 * lines on a full pipe, and the publisher thread's rounds and bounded stop. */
#include "tt.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    char dir[64], db[128], key[128];
    tsl_publisher *pub;
} mfx;

/* A store with one list (JWT and CWT, ttl 30), its key in the fixture's directory (made
 * unreadable after the list was created when bad_key), and a publisher on it after one
 * round. */
static int mfx_open(mfx *f, int bad_key)
{
    memset(f, 0, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/tsl-metrics-XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->db, sizeof f->db, "%s/tsl.db", f->dir);
    snprintf(f->key, sizeof f->key, "%s/key.pem", f->dir);
    tsl_key *k = NULL;
    char *pem = NULL;
    tsl_store *st = NULL;
    if (tsl_key_generate(TSL_ALG_ES256, &k, NULL) != TSL_OK ||
        tsl_key_to_private(k, &pem, NULL) != TSL_OK)
        return -1;
    /* 0600: the library refuses a private key others can read. */
    int fd = open(f->key, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    size_t plen = strlen(pem);
    int ok = fd >= 0 && write(fd, pem, plen) == (ssize_t)plen;
    if (fd >= 0)
        close(fd);
    tsl_free(pem);
    tsl_key_free(k);
    if (!ok || tsl_store_open(f->db, &st, NULL) != TSL_OK)
        return -1;
    tsl_list_spec in;
    memset(&in, 0, sizeof in);
    in.id = "a";
    in.uri = "https://example.com/statuslists/a";
    in.bits = 1;
    in.size = 1000;
    in.key_path = f->key;
    in.ttl = 30;
    tsl_status r = tsl_store_list_create(st, &in, NULL);
    tsl_store_close(st);
    if (bad_key && unlink(f->key) != 0)
        return -1;
    static const char *const reserved[] = {"/healthz", "/metrics"};
    tsl_publisher_options opt;
    memset(&opt, 0, sizeof opt);
    opt.reserved = reserved;
    opt.nreserved = 2;
    opt.retention = 86400;
    if (r != TSL_OK || tsl_publisher_open(f->db, &opt, &f->pub, NULL) != TSL_OK ||
        tsl_publisher_round(f->pub, 0, NULL) != TSL_OK)
        return -1;
    return 0;
}

static void mfx_close(mfx *f)
{
    tsl_publisher_close(f->pub);
    char path[sizeof f->dir + 260];
    DIR *d = opendir(f->dir);
    struct dirent *e;
    while (d != NULL && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", f->dir, e->d_name);
        unlink(path);
    }
    if (d != NULL)
        closedir(d);
    rmdir(f->dir);
}

/* Whether text has line as a whole line. */
static int has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; (p = strstr(p, line)) != NULL; p++)
        if ((p == text || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0'))
            return 1;
    return 0;
}

static int no_handoff(int fd, const void *addr, size_t addr_len, unsigned listener,
                      void *user)
{
    (void)fd, (void)addr, (void)addr_len, (void)listener, (void)user;
    return -1;
}

TT_TEST(metrics_text_known_counters)
{
    mfx f;
    TT_CHECK(mfx_open(&f, 0) == 0);
    tsl_metrics *m = NULL;
    TT_OK(tsl_metrics_new(&m, NULL));
    tsl_metrics_count(m, 200, TSL_ANSWER_JWT, 10);
    tsl_metrics_count(m, 200, TSL_ANSWER_JWT, 20);
    tsl_metrics_count(m, 304, TSL_ANSWER_CWT, 0);
    tsl_metrics_count(m, 404, TSL_ANSWER_NONE, 5);
    tsl_metrics_count(m, 599, TSL_ANSWER_NONE, 7);
    tsl_snapshot *s = tsl_publisher_snapshot(f.pub);
    TT_CHECK(s != NULL);
    int64_t exp = tsl_snapshot_earliest_exp(s);
    tsl_snapshot_release(s);
    TT_CHECK(exp > 0);
    char *text = NULL;
    size_t len = 0;
    TT_OK(tsl_metrics_text(m, f.pub, NULL, exp - 100, &text, &len, NULL));
    TT_CHECK(strlen(text) == len);
    TT_CHECK(has_line(text, "# TYPE tsl_requests_total counter"));
    TT_CHECK(has_line(text, "tsl_requests_total{code=\"200\",format=\"jwt\"} 2"));
    TT_CHECK(has_line(text, "tsl_requests_total{code=\"304\",format=\"cwt\"} 1"));
    TT_CHECK(has_line(text, "tsl_requests_total{code=\"404\",format=\"none\"} 1"));
    TT_CHECK(has_line(text, "tsl_requests_total{code=\"other\",format=\"none\"} 1"));
    TT_CHECK(strstr(text, "format=\"json\"") == NULL); /* zero series are left out */
    TT_CHECK(strstr(text, "code=\"599\"") == NULL);
    TT_CHECK(has_line(text, "tsl_response_bytes_total 42"));
    TT_CHECK(has_line(text, "tsl_access_log_dropped_total 0"));
    TT_CHECK(has_line(text, "tsl_publishes_total{result=\"error\"} 0"));
    TT_CHECK(has_line(text, "tsl_seconds_to_earliest_expiry 100"));
    TT_CHECK(has_line(text, "tsl_lists 1"));
    TT_CHECK(has_line(text, "tsl_problems{kind=\"store\"} 0"));
    TT_CHECK(has_line(text, "tsl_problems{kind=\"key\"} 0"));
    TT_CHECK(has_line(text, "tsl_problems{kind=\"expiry\"} 0"));
    TT_CHECK(has_line(text, "tsl_publisher_stalled 0"));
    TT_CHECK(strstr(text, "tsl_publisher_round_age_seconds ") != NULL);
    TT_CHECK(strstr(text, "tsl_connections") == NULL); /* no gate given */
    tsl_free(text);

    /* With a gate: its connections and limits. */
    tsl_gate_options go;
    memset(&go, 0, sizeof go);
    go.max_connections = 7;
    go.max_per_address = 3;
    go.head_timeout_ms = 5000;
    go.handoff = no_handoff;
    tsl_gate *g = NULL;
    TT_OK(tsl_gate_new(&go, &g, NULL));
    TT_OK(tsl_metrics_text(m, f.pub, g, exp - 100, &text, NULL, NULL));
    tsl_gate_free(g);
    TT_CHECK(has_line(text, "tsl_connections{state=\"waiting\"} 0"));
    TT_CHECK(has_line(text, "tsl_connections_dropped_total{reason=\"head_timeout\"} 0"));
    TT_CHECK(has_line(text, "tsl_connection_limit{limit=\"max_connections\"} 7"));
    TT_CHECK(has_line(text, "tsl_connection_limit{limit=\"per_address\"} 3"));
    TT_CHECK(has_line(text, "tsl_connection_limit{limit=\"head_timeout_seconds\"} 5"));
    tsl_free(text);
    TT_ERR(tsl_metrics_text(m, NULL, NULL, 0, &text, NULL, NULL), TSL_ERR_ARG);
    tsl_metrics_free(m);
    mfx_close(&f);
}

TT_TEST(metrics_healthz_ok_and_degraded)
{
    mfx f;
    TT_CHECK(mfx_open(&f, 0) == 0);
    const char *body = NULL;
    TT_CHECK(tsl_publisher_healthz(f.pub, &body) == 200);
    TT_CHECK(strcmp(body, "ok\n") == 0);
    mfx_close(&f);

    /* A list whose key cannot be read: the publisher is degraded, and says no more. */
    TT_CHECK(mfx_open(&f, 1) == 0);
    TT_CHECK(tsl_publisher_healthz(f.pub, &body) == 503);
    TT_CHECK(strcmp(body, "degraded\n") == 0);
    tsl_metrics *m = NULL;
    TT_OK(tsl_metrics_new(&m, NULL));
    char *text = NULL;
    TT_OK(tsl_metrics_text(m, f.pub, NULL, (int64_t)time(NULL), &text, NULL, NULL));
    TT_CHECK(!has_line(text, "tsl_problems{kind=\"publish\"} 0") ||
             !has_line(text, "tsl_problems{kind=\"key\"} 0"));
    tsl_free(text);
    tsl_metrics_free(m);
    mfx_close(&f);
}

/* The operations paths: /healthz and /metrics for GET and HEAD, nothing for the rest. */
TT_TEST(metrics_answer_ops)
{
    mfx f;
    TT_CHECK(mfx_open(&f, 0) == 0);
    tsl_metrics *m = NULL;
    TT_OK(tsl_metrics_new(&m, NULL));
    tsl_metrics_count(m, 200, TSL_ANSWER_JWT, 10);
    tsl_http_request q;
    memset(&q, 0, sizeof q);
    tsl_http_response a;
    q.method = "GET";
    q.path = "/healthz";
    TT_OK(tsl_publish_answer_ops(f.pub, m, NULL, &q, 0, &a, NULL));
    TT_EQ_U(a.status, 200);
    TT_CHECK(a.body_len == 3 && memcmp(a.body, "ok\n", 3) == 0);
    TT_EQ_U(a.nheaders, 4);
    TT_CHECK(strcmp(a.headers[1].name, "Cache-Control") == 0 &&
             strcmp(a.headers[1].value, "no-store") == 0);
    TT_CHECK(strcmp(a.headers[2].name, "Access-Control-Allow-Origin") == 0);
    tsl_http_response_free(&a);
    q.method = "HEAD";
    q.path = "/metrics";
    TT_OK(tsl_publish_answer_ops(f.pub, m, NULL, &q, (int64_t)time(NULL), &a, NULL));
    TT_EQ_U(a.status, 200);
    TT_CHECK(strcmp(a.headers[0].value, "text/plain; version=0.0.4") == 0);
    TT_CHECK(a.body_len == strlen((const char *)a.body));
    TT_CHECK(strstr((const char *)a.body, "tsl_response_bytes_total 10\n") != NULL);
    tsl_http_response_free(&a);
    q.method = "POST";
    TT_OK(tsl_publish_answer_ops(f.pub, m, NULL, &q, 0, &a, NULL));
    TT_EQ_U(a.status, 0);
    q.method = "GET";
    q.path = "/metrics/";
    TT_OK(tsl_publish_answer_ops(f.pub, m, NULL, &q, 0, &a, NULL));
    TT_EQ_U(a.status, 0);
    TT_ERR(tsl_publish_answer_ops(NULL, m, NULL, &q, 0, &a, NULL), TSL_ERR_ARG);
    tsl_metrics_free(m);
    mfx_close(&f);
}

TT_TEST(metrics_access_log_line_format)
{
    int p[2];
    TT_CHECK(pipe(p) == 0);
    tsl_access_log *l = NULL;
    TT_ERR(tsl_access_log_new(-1, NULL, &l, NULL), TSL_ERR_ARG);
    TT_OK(tsl_access_log_new(p[1], NULL, &l, NULL));
    tsl_access_log_write(l, "192.0.2.1", "GET", 3, "/a b%\"x", 7, 200, 123, TSL_ANSWER_JWT);
    char longpath[301];
    memset(longpath, 'p', 300);
    longpath[0] = '/';
    longpath[300] = '\0';
    /* Not NUL-terminated at the given length: the method is 4 of "HEADX". */
    tsl_access_log_write(l, NULL, "HEADX", 4, longpath, 300, 304, 0, TSL_ANSWER_NONE);
    char buf[2048];
    ssize_t n = read(p[0], buf, sizeof buf - 1);
    TT_CHECK(n > 0);
    buf[n] = '\0';
    /* "2026-01-02T03:04:05Z PEER METHOD PATH STATUS BYTES FORMAT" */
    char *nl = strchr(buf, '\n');
    TT_CHECK(nl != NULL);
    *nl = '\0';
    TT_CHECK(strlen(buf) > 21 && buf[4] == '-' && buf[10] == 'T' && buf[19] == 'Z' &&
             buf[20] == ' ');
    TT_CHECK(strcmp(buf + 21, "192.0.2.1 GET /a%20b%25%22x 200 123 jwt") == 0);
    char want[400];
    snprintf(want, sizeof want, "- HEAD %.200s... 304 0 none", longpath);
    char *second = nl + 1, *end = strchr(second, '\n');
    TT_CHECK(end != NULL && end[1] == '\0'); /* two whole lines, nothing more */
    *end = '\0';
    TT_CHECK(strlen(second) > 21 && strcmp(second + 21, want) == 0);
    TT_CHECK(tsl_access_log_dropped(l) == 0);
    tsl_access_log_free(l);
    close(p[0]);
    close(p[1]);
}

/* tsl_access_log_write_by: the publisher's line plus who acted, escaped and cut like the
 * path; "-" for none. */
TT_TEST(metrics_access_log_by)
{
    int p[2];
    TT_CHECK(pipe(p) == 0);
    tsl_access_log *l = NULL;
    TT_OK(tsl_access_log_new(p[1], NULL, &l, NULL));
    tsl_access_log_write_by(l, "192.0.2.1", "POST", 4, "/v1/lists/L1/allocations", 24, 201,
                            91, TSL_ANSWER_JSON, "apikey:0123456789ab");
    tsl_access_log_write_by(l, "192.0.2.1", "GET", 3, "/v1/lists", 9, 401, 127,
                            TSL_ANSWER_JSON, NULL);
    char longby[61];
    memset(longby, 'k', 60);
    longby[0] = ' ';
    longby[60] = '\0';
    tsl_access_log_write_by(l, NULL, "GET", 3, "/", 1, 200, 0, TSL_ANSWER_JSON, longby);
    char buf[2048];
    ssize_t n = read(p[0], buf, sizeof buf - 1);
    TT_CHECK(n > 0);
    buf[n] = '\0';
    char *line[3], *cur = buf;
    for (int k = 0; k < 3; k++) {
        char *nl = strchr(cur, '\n');
        TT_CHECK(nl != NULL);
        if (nl == NULL)
            break;
        *nl = '\0';
        TT_CHECK(strlen(cur) > 21);
        line[k] = cur + 21;
        cur = nl + 1;
    }
    TT_CHECK(*cur == '\0'); /* three whole lines */
    TT_CHECK(strcmp(line[0], "192.0.2.1 POST /v1/lists/L1/allocations 201 91 json "
                             "apikey:0123456789ab") == 0);
    TT_CHECK(strcmp(line[1], "192.0.2.1 GET /v1/lists 401 127 json -") == 0);
    char want[200];
    snprintf(want, sizeof want, "- GET / 200 0 json %%20%.39s...", longby + 1);
    TT_CHECK(strcmp(line[2], want) == 0);
    tsl_access_log_free(l);
    close(p[0]);
    close(p[1]);
}

/* tsl_log_stderr: one line with its prefix (or none) and a newline, in one write to
 * standard error; a line longer than the buffer is cut, still ending in a newline. */
TT_TEST(metrics_log_stderr_lines)
{
    int p[2];
    TT_CHECK(pipe(p) == 0);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    TT_CHECK(saved >= 0 && dup2(p[1], STDERR_FILENO) == STDERR_FILENO);
    char prefix[] = "tsl serve";
    tsl_log_stderr(prefix, "list a: key unreadable");
    tsl_log_stderr(NULL, "bare");
    static char big[TSL_ERROR_MSG_SIZE + 1024];
    memset(big, 'x', sizeof big - 1);
    tsl_log_stderr(prefix, big);
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(p[1]);
    static char got[2 * sizeof big];
    size_t n = 0;
    ssize_t r;
    while ((r = read(p[0], got + n, sizeof got - 1 - n)) > 0)
        n += (size_t)r;
    close(p[0]);
    got[n] = '\0';
    TT_CHECK(strncmp(got, "tsl serve: list a: key unreadable\nbare\ntsl serve: xxx", 51) == 0);
    TT_CHECK(n < 41 + sizeof big && got[n - 1] == '\n');
    TT_CHECK(strchr(got + 41, '\n') == got + n - 1);
}

TT_TEST(metrics_access_log_drops_on_full_pipe)
{
    mfx f;
    TT_CHECK(mfx_open(&f, 0) == 0);
    int p[2];
    TT_CHECK(pipe(p) == 0);
    /* Nobody reads the pipe: a blocking write would hold up the request thread. */
    TT_CHECK(fcntl(p[1], F_SETFL, fcntl(p[1], F_GETFL) | O_NONBLOCK) == 0);
    tsl_metrics *m = NULL;
    TT_OK(tsl_metrics_new(&m, NULL));
    tsl_access_log *l = NULL;
    TT_OK(tsl_access_log_new(p[1], m, &l, NULL));
    int i;
    for (i = 0; i < 100000 && tsl_access_log_dropped(l) < 5; i++)
        tsl_access_log_write(l, "192.0.2.1", "GET", 3, "/statuslists/a", 14, 200, 1,
                             TSL_ANSWER_CWT);
    TT_CHECK(tsl_access_log_dropped(l) == 5);
    char *text = NULL;
    TT_OK(tsl_metrics_text(m, f.pub, NULL, (int64_t)time(NULL), &text, NULL, NULL));
    TT_CHECK(has_line(text, "tsl_access_log_dropped_total 5"));
    tsl_free(text);
    /* Every line in the pipe is whole: the pipe holds a multiple of one line's length. */
    char line[256];
    ssize_t n = read(p[0], line, sizeof line);
    TT_CHECK(n > 0);
    char *nl = memchr(line, '\n', (size_t)n);
    TT_CHECK(nl != NULL);
    size_t one = (size_t)(nl - line) + 1;
    size_t total = (size_t)n;
    char sink[4096];
    while ((n = read(p[0], sink, sizeof sink)) > 0 && total < (size_t)1 << 24) {
        total += (size_t)n;
        if ((size_t)n < sizeof sink)
            break;
    }
    TT_CHECK(total % one == 0);
    TT_CHECK(total / one == (size_t)i - 5);
    tsl_access_log_free(l);
    tsl_metrics_free(m);
    close(p[0]);
    close(p[1]);
    mfx_close(&f);
}

TT_TEST(metrics_publisher_runner_rounds_and_stops)
{
    mfx f;
    TT_CHECK(mfx_open(&f, 0) == 0);
    tsl_publisher_runner *r = NULL;
    TT_ERR(tsl_publisher_runner_start(f.pub, 0, &r, NULL), TSL_ERR_ARG);
    tsl_publisher_health h0, h;
    tsl_publisher_health_get(f.pub, &h0);
    TT_OK(tsl_publisher_runner_start(f.pub, 20, &r, NULL));
    /* Rounds run on their own: the round age stays far below a second. */
    struct timespec ms50 = {0, 50 * 1000000L};
    for (int k = 0; k < 10; k++)
        nanosleep(&ms50, NULL);
    tsl_publisher_health_get(f.pub, &h);
    TT_CHECK(h.round_age_ms < 400);
    TT_CHECK(h.stalled == 0);
    TT_CHECK(tsl_publisher_runner_stop(r, 2000) == 1);
    TT_CHECK(tsl_publisher_runner_stop(NULL, 0) == 1);
    /* After the stop, rounds return at once and nothing runs them. */
    mfx_close(&f);
}
