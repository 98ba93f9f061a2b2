/* serve_conn.c - libmicrohttpd's side of the connection gate (tsl_gate_* in the
 * library): its connection notifications, the access handler's "answering" and the
 * completion callback become the gate's reports, so the gate's deadlines and eviction
 * go on applying to connections inside libmicrohttpd; a refusal the gate answered is
 * counted and logged like any answer. The gate's handle of a connection is its MHD socket context.
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
    tsl_metrics_count(ctx->metrics, r->status, TSL_ANSWER_NONE, r->bytes);
    tsl_access_log_write(ctx->log, r->peer, r->method, r->method_len, r->target,
                         r->target_len, r->status, r->bytes, TSL_ANSWER_NONE);
}
