/* cmd_rogue.c - `tsl rogue`: a rogue Status List publisher for testing relying parties.
 * It serves the library's rogue cases (tsl_rogue_new: broken Status List Tokens, each
 * with a Referenced Token pointing at it) over libmicrohttpd at stable paths, and an
 * index at / listing each case with the outcome a correct verifier gives. Bounded like
 * any server facing the unknown: a connection limit overall and per address, a memory
 * cap and an idle timeout per connection. Nothing here is stored. */
#include "cli.h"

#include <microhttpd.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define ROGUE_MAX_CONNECTIONS 64
#define ROGUE_PER_ADDRESS 32
#define ROGUE_CONNECTION_TIMEOUT 30 /* seconds idle */
#define ROGUE_CONNECTION_MEMORY (32 * 1024)
#define ROGUE_SLOW_MAX 600 /* bytes a slow body sends, one a second, at most */

typedef struct {
    _Atomic(tsl_rogue *) r; /* NULL until the cases are built (the port must be known) */
    char base[300];
} rogue_ctx;

static enum MHD_Result send_bytes(struct MHD_Connection *conn, unsigned status,
                                  const char *ctype, const void *p, size_t n,
                                  const char *location)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(n, (void *)(uintptr_t)p, MHD_RESPMEM_MUST_COPY);
    if (resp == NULL)
        return MHD_NO;
    if (ctype)
        MHD_add_response_header(resp, "Content-Type", ctype);
    if (location)
        MHD_add_response_header(resp, "Location", location);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "Access-Control-Allow-Origin", "*");
    enum MHD_Result rc = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return rc;
}

/* The slow body: one byte a second (libmicrohttpd runs this connection's thread). */
typedef struct {
    const uint8_t *p;
    size_t n;
} slow_body;

static ssize_t slow_cb(void *cls, uint64_t pos, char *buf, size_t max)
{
    slow_body *s = cls;
    if (pos >= s->n || pos >= ROGUE_SLOW_MAX)
        return MHD_CONTENT_READER_END_OF_STREAM;
    if (pos > 0)
        sleep(1);
    if (max < 1)
        return 0;
    buf[0] = (char)s->p[pos];
    return 1;
}

static void slow_free(void *cls)
{
    free(cls);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version,
                              const char *upload_data, size_t *upload_data_size,
                              void **req_cls)
{
    (void)version;
    (void)upload_data;
    (void)req_cls;
    rogue_ctx *ctx = cls;
    if (*upload_data_size != 0) {
        *upload_data_size = 0; /* bodies are not read; GET and HEAD only */
        return MHD_YES;
    }
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return send_bytes(conn, 405, "text/plain", "GET or HEAD\n", 12, NULL);
    tsl_rogue *r = atomic_load(&ctx->r);
    if (r == NULL)
        return send_bytes(conn, 503, "text/plain", "starting\n", 9, NULL);
    if (strcmp(url, "/") == 0 || strcmp(url, "/index.json") == 0) {
        const char *ix = tsl_rogue_index(r);
        return send_bytes(conn, 200, "application/json", ix, strlen(ix), NULL);
    }
    for (size_t i = 0; i < tsl_rogue_count(r); i++) {
        const tsl_rogue_case *c = tsl_rogue_get(r, i);
        if (strcmp(url, c->ref_path) == 0)
            return send_bytes(conn, 200, "application/jwt", c->ref, strlen(c->ref), NULL);
        if (strcmp(url, c->path) != 0)
            continue;
        if (c->kind == TSL_ROGUE_REDIRECT) {
            char loc[600];
            snprintf(loc, sizeof loc, "%s%s", ctx->base, c->location);
            return send_bytes(conn, c->status, "text/plain", "", 0, loc);
        }
        if (c->kind == TSL_ROGUE_SLOW) {
            slow_body *s = malloc(sizeof *s);
            if (s == NULL)
                return MHD_NO;
            s->p = c->body;
            s->n = c->body_len;
            struct MHD_Response *resp = MHD_create_response_from_callback(
                MHD_SIZE_UNKNOWN, 1, slow_cb, s, slow_free);
            if (resp == NULL) {
                free(s);
                return MHD_NO;
            }
            MHD_add_response_header(resp, "Content-Type", c->content_type);
            enum MHD_Result rc = MHD_queue_response(conn, 200, resp);
            MHD_destroy_response(resp);
            return rc;
        }
        return send_bytes(conn, c->status, c->content_type, c->body, c->body_len, NULL);
    }
    return send_bytes(conn, 404, "text/plain", "no such case; the index is at /\n", 33, NULL);
}

int cmd_rogue(int argc, char **argv)
{
    const char *listen = "127.0.0.1:8099", *key = NULL, *base = NULL;
    bool print_index = false;
    const cli_opt opts[] = {
        CLI_STR("listen", &listen, "ADDR:PORT\twhere to listen (default 127.0.0.1:8099; port 0: any)"),
        CLI_STR("key", &key, "KEY\tthe private key (file or pkcs11: URI) that signs every\n"
                "token; give its public key to the verifier under test"),
        CLI_STR("base", &base, "URL\tthe URL the verifier reaches this server at (default\n"
                "http://ADDR:PORT as bound): the tokens' sub and uri start with it"),
        CLI_FLAG("print-index", &print_index, "print the index (JSON) on standard output once\n"
                 "listening"),
        CLI_OPT_END};
    static const cli_cmd cmd = {
        "rogue", "--key KEY [OPTIONS]",
        "Serves Status List Tokens that a relying party must refuse, each at\n"
        "/rogue/NAME with a Referenced Token (a JWT) pointing at it at /rogue/NAME/rt:\n"
        "wrong or missing typ, sub, iat, exp, ttl and status_list, a bad signature, alg\n"
        "none, gzip or raw lst, padded or '+/' base64, an empty lst, trailing bytes, a bad\n"
        "checksum, a zip bomb, bits 0, 3, 16, a string or missing; CWTs untagged, in tag\n"
        "61, with status_list under 65534 or 65535, a short or unprotected typ, lst as\n"
        "text; a wrong Content-Type, 404, a redirect loop, a redirect to\n"
        "another list, a slow body; and controls (VALID, INVALID, idx out of range).\n"
        "GET / lists every case with the outcome a correct verifier gives and the exit\n"
        "status `tsl verify` gives. Runs until SIGTERM or SIGINT.",
        "0 stopped by a signal; 2 usage, key or listen error.",
        "unknown or incomplete option"};
    int first, rc = cli_opts_parse(&cmd, opts, argc, argv, &first);
    if (rc != CLI_OPTS_RUN)
        return rc;
    if (first != argc || key == NULL) {
        cli_err("rogue", first != argc ? "no operands expected" : "--key is required");
        return EXIT_USAGE;
    }
    struct sockaddr_storage sa;
    size_t sa_len = sizeof sa;
    tsl_error err;
    tsl_error_clear(&err);
    if (tsl_listen_parse(listen, &sa, &sa_len, &err) != TSL_OK) {
        cli_err("rogue", "--listen %s: %s", listen, err.msg);
        return EXIT_USAGE;
    }
    tsl_signer_opts so;
    memset(&so, 0, sizeof so);
    tsl_signer *signer = NULL;
    tsl_status st = tsl_signer_load(key, &so, &signer, NULL, &err);
    if (st != TSL_OK) {
        cli_err("rogue", "--key: %s", err.msg);
        return EXIT_USAGE;
    }
    tsl_stop_signals_block();
    rogue_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    atomic_store(&ctx.r, NULL);
    int v6 = sa.ss_family == AF_INET6;
    uint16_t port = v6 ? ntohs(((struct sockaddr_in6 *)&sa)->sin6_port)
                       : ntohs(((struct sockaddr_in *)&sa)->sin_port);
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG |
            (v6 ? MHD_USE_IPv6 : 0),
        port, NULL, NULL, handle, &ctx, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)ROGUE_MAX_CONNECTIONS,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)ROGUE_PER_ADDRESS,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)ROGUE_CONNECTION_TIMEOUT,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)ROGUE_CONNECTION_MEMORY, MHD_OPTION_END);
    if (d == NULL) {
        cli_err("rogue", "cannot listen on %s (in use?)", listen);
        tsl_signer_free(signer);
        return EXIT_USAGE;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    char addr[80];
    tsl_addr_text(&sa, di != NULL ? di->port : 0, addr, sizeof addr);
    if (base)
        snprintf(ctx.base, sizeof ctx.base, "%s", base);
    else
        snprintf(ctx.base, sizeof ctx.base, "http://%s", addr);
    tsl_rogue *r = NULL;
    st = tsl_rogue_new(ctx.base, signer, 0, &r, &err);
    if (st != TSL_OK) {
        cli_err("rogue", "%s", err.msg);
        MHD_stop_daemon(d);
        tsl_signer_free(signer);
        return cli_exit_for(st) == EXIT_REJECT ? EXIT_USAGE : cli_exit_for(st);
    }
    atomic_store(&ctx.r, r);
    if (print_index) {
        fputs(tsl_rogue_index(r), stdout);
        fputs("\n", stdout);
        fflush(stdout);
    }
    fprintf(stderr, "tsl rogue: listening on %s (%zu cases; index at %s/)\n", addr,
            tsl_rogue_count(r), ctx.base);
    tsl_stop_signals_wait();
    MHD_stop_daemon(d);
    tsl_rogue_free(r);
    tsl_signer_free(signer);
    return EXIT_OK;
}
