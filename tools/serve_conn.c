/* serve_conn.c - libmicrohttpd's side of the connection gate (tsl_gate_* in the
 * library): its connection notifications, the access handler's "answering" and the
 * completion callback become the gate's reports, so the gate's deadlines and eviction
 * go on applying to connections inside libmicrohttpd; and what the gate counts goes to
 * /metrics. The gate's handle of a connection is its MHD socket context.
 * libmicrohttpd notifies a close before it closes the descriptor, as the gate needs. */
#include "serve.h"

#include <netinet/in.h>

void serve_conn_notify(void *cls, struct MHD_Connection *mc, void **socket_context,
                       enum MHD_ConnectionNotificationCode code)
{
    serve_ctx *ctx = cls;
    if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        tsl_gate_conn_closed(ctx->gate, *socket_context);
        *socket_context = NULL;
        return;
    }
    const union MHD_ConnectionInfo *fi =
        MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CONNECTION_FD);
    const union MHD_ConnectionInfo *ai =
        MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (fi == NULL)
        return;
    const struct sockaddr *sa = ai != NULL ? ai->client_addr : NULL;
    size_t salen = 0;
    if (sa != NULL)
        salen = sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                          : sizeof(struct sockaddr_in);
    *socket_context = tsl_gate_conn_started(ctx->gate, fi->connect_fd, sa, salen);
}

static tsl_gate_conn *conn_of(struct MHD_Connection *mc)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci != NULL ? ci->socket_context : NULL;
}

void serve_conn_answering(serve_ctx *ctx, struct MHD_Connection *mc)
{
    tsl_gate_conn_answering(ctx->gate, conn_of(mc));
}

void serve_conn_completed(void *cls, struct MHD_Connection *mc, void **con_cls,
                          enum MHD_RequestTerminationCode toe)
{
    serve_ctx *ctx = cls;
    serve_completed(cls, mc, con_cls, toe);
    tsl_gate_conn_answered(ctx->gate, conn_of(mc));
}

void serve_conn_refused(const tsl_gate_refusal *r, void *user)
{
    serve_ctx *ctx = user;
    serve_count(ctx, r->status, r->bytes);
    serve_log_raw(ctx, r->peer, r->method, r->method_len, r->target, r->target_len,
                  r->status, r->bytes);
}

void serve_conn_metrics(serve_ctx *ctx, FILE *f)
{
    if (ctx->gate == NULL)
        return;
    tsl_gate_stats st;
    tsl_gate_get_stats(ctx->gate, &st);
    fprintf(f, "# HELP tsl_connections Open connections: waiting for a request, "
               "answering one, being closed.\n"
               "# TYPE tsl_connections gauge\n"
               "tsl_connections{state=\"waiting\"} %u\n"
               "tsl_connections{state=\"active\"} %u\n"
               "tsl_connections{state=\"closing\"} %u\n",
            st.waiting, st.active, st.closing);
    fputs("# HELP tsl_connections_dropped_total Connections closed or refused by a "
          "limit, by reason.\n"
          "# TYPE tsl_connections_dropped_total counter\n", f);
    for (int k = 0; k < TSL_GATE_NDROPS; k++)
        fprintf(f, "tsl_connections_dropped_total{reason=\"%s\"} %llu\n",
                tsl_gate_drop_name(k), (unsigned long long)st.dropped[k]);
    fprintf(f, "# HELP tsl_connection_limit The connection limits in force "
               "(per_address 0: none).\n"
               "# TYPE tsl_connection_limit gauge\n"
               "tsl_connection_limit{limit=\"max_connections\"} %u\n"
               "tsl_connection_limit{limit=\"per_address\"} %u\n"
               "tsl_connection_limit{limit=\"head_timeout_seconds\"} %u\n",
            st.max_connections, st.max_per_address, st.head_timeout_ms / 1000);
}
