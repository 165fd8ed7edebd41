/*
 * server.c - libmicrohttpd glue. Each request gets a conn_ctx that collects
 * the body (bounded by max_body_bytes: beyond it the rest is drained and the
 * answer is 413), then the router picks a handler, and the completion callback
 * logs the request, reports it to the observer and frees everything (the
 * request's arena in one call). Each TCP connection is watched (watch.h) for
 * header, body and keep-alive deadlines, and HTTP_RESERVE_CONNS connections
 * beyond max_connections serve only the operations routes, so /health and
 * /metrics answer at the connection limit.
 * Each request is a span of a W3C trace (http/trace.h): the caller's valid
 * traceparent is joined, else a trace starts; the response carries
 * traceparent with this request's span and the log line its trace id.
 * A request target holding %00 is refused with 400 before routing: decoded,
 * the NUL would end the path or query value early (PUT /cache/p/a%00b would
 * write key "a").
 */
#include "http/server.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "http/stream_int.h"
#include "http/trace.h"
#include "http/watch.h"
#include "obs/log.h"
#include "util/arena.h"
#include "util/clock.h"
#include "util/mem.h"

struct http_server {
    struct MHD_Daemon *mhd;
    const router_t *router;
    http_server_opts opts;
    int port;
    int inflight;             /* requests being served (atomic) */
    http_stream_reg streams;
    http_watch watch;
};

typedef struct conn_ctx {
    http_req req;
    http_resp resp;
    arena scratch;               /* req.arena: the handler's per-request memory */
    buf_t body;
    bool too_big;
    bool nul_target;  /* the raw path or query held %00 */
    bool dispatched;
    bool answered;
    http_req_log log;            /* req.log */
} conn_ctx;

static bool server__valid_request_id(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++) {
        char c = s[n];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_' || c == '.' || c == ':';
        if (!ok || n >= HTTP_REQUEST_ID_MAX)
            return false;
    }
    return n > 0;
}

/* Join the caller's trace (a valid traceparent) or start one; either way
 * this request is a new span of it. */
static void server__trace_begin(http_req *req, struct MHD_Connection *c)
{
    const char *tp = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "traceparent");
    if (!http_trace_parse(tp, req->trace_id, req->trace_flags)) {
        http_trace_random_hex(req->trace_id, HTTP_TRACE_ID_HEX / 2);
        snprintf(req->trace_flags, sizeof req->trace_flags, "00");
    }
    http_trace_random_hex(req->span_id, HTTP_SPAN_ID_HEX / 2);
}

/* What server__uri_log returns for a target holding %00 (see there). */
static char server__nul_marker;

static conn_ctx *server__ctx_new(http_server_t *s, struct MHD_Connection *c, const char *url,
                                 const char *method)
{
    conn_ctx *ctx = xcalloc(1, sizeof *ctx);
    ctx->req.method = http_method_bit(method);
    ctx->req.method_name = xstrdup(method);
    ctx->req.path = xstrdup(url);
    ctx->req.route = "unmatched";
    ctx->req.route_index = -1;
    ctx->req.app = s->opts.app;
    ctx->req.conn = c;
    ctx->req.start_us = clock_mono_us();
    ctx->req.body = "";
    arena_init(&ctx->scratch, 0);
    ctx->req.arena = &ctx->scratch;
    const char *rid = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Request-Id");
    if (rid && server__valid_request_id(rid))
        snprintf(ctx->req.request_id, sizeof ctx->req.request_id, "%s", rid);
    else
        http_trace_random_hex(ctx->req.request_id, 16);
    server__trace_begin(&ctx->req, c);
    ctx->req.log = &ctx->log;
    ctx->log.tokens_in = ctx->log.tokens_out = ctx->log.upstream_us = -1;
    __atomic_fetch_add(&s->inflight, 1, __ATOMIC_RELAXED);
    return ctx;
}

static void server__ctx_free(conn_ctx *ctx)
{
    http_resp_clear(&ctx->resp);
    if (ctx->resp.stream)
        http_stream__detach(ctx->resp.stream);
    if (ctx->resp.raw_response)
        MHD_destroy_response(ctx->resp.raw_response);
    for (int i = 0; i < ctx->req.nparams; i++)
        free(ctx->req.param_values[i]);
    buf_free(&ctx->body);
    arena_destroy(&ctx->scratch);
    free((char *)ctx->req.method_name);
    free((char *)ctx->req.path);
    free(ctx);
}

/* The watched state of a connection (NULL if it has none). */
static http_conn *server__conn(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

static void server__notify_conn(void *cls, struct MHD_Connection *c, void **socket_context,
                                enum MHD_ConnectionNotificationCode toe)
{
    http_server_t *s = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        *socket_context = ci ? http_watch__opened(&s->watch, ci->connect_fd) : NULL;
    } else if (*socket_context) {
        http_watch__closed(&s->watch, *socket_context);
        *socket_context = NULL;
    }
}

/* The request line arrived: the header deadline starts (again, on keep-alive).
 * MHD passes the raw target (path and query, before percent-decoding), and
 * what this returns is the request's first *con_cls: a marker tells
 * server__access that the target held %00. A '%' followed by "00" always
 * decodes to NUL: no other escape can end in a '%'. */
static void *server__uri_log(void *cls, const char *uri, struct MHD_Connection *c)
{
    (void)cls;
    http_conn *hc = server__conn(c);
    if (hc)
        http_watch__phase(hc, HTTP_CONN_HEADERS);
    return strstr(uri, "%00") ? &server__nul_marker : NULL;
}

/* A reserve connection asks for a route the reserve is not for. */
static bool server__reserve_refused(conn_ctx *ctx, http_conn *hc)
{
    if (!hc || !hc->reserve || !strcmp(ctx->req.path, "/health") ||
        !strcmp(ctx->req.path, "/metrics"))
        return false;
    ctx->dispatched = true;
    http_error(&ctx->req, &ctx->resp, 503, "server_busy",
               "the server is at its connection limit; try again shortly");
    http_resp_header(&ctx->resp, "Retry-After", "1");
    http_resp_header(&ctx->resp, "Connection", "close");
    return true;
}

static void server__dispatch(http_server_t *s, conn_ctx *ctx)
{
    http_req *req = &ctx->req;
    http_resp *resp = &ctx->resp;
    ctx->dispatched = true;
    http_conn *hc = server__conn(req->conn);
    if (hc)
        http_watch__phase(hc, HTTP_CONN_HANDLER);
    if (ctx->too_big) {
        http_error(req, resp, 413, "payload_too_large",
                   "request body exceeds the limit of %zu bytes", s->opts.max_body_bytes);
        return;
    }
    if (ctx->nul_target) {
        http_error(req, resp, 400, "invalid_request",
                   "the path or query string holds %%00 (NUL), which is not accepted");
        return;
    }
    if (ctx->body.data) {
        req->body = ctx->body.data;
        req->body_len = ctx->body.len;
    }
    http_dispatch(s->router, s->opts.before, s->opts.app, req, resp);
}

void http_dispatch(const router_t *router, http_before_fn before, void *app, http_req *req,
                   http_resp *resp)
{
    http_handler h = NULL;
    int allowed = 0;
    int m = router_match(router, req, &h, &allowed);
    if (m == ROUTER_NOT_FOUND) {
        http_error(req, resp, 404, "not_found", "no route for %s %s", req->method_name,
                   req->path);
    } else if (m == ROUTER_BAD_METHOD) {
        char allow[96];
        router_allow_string(allowed, allow, sizeof allow);
        http_error(req, resp, 405, "method_not_allowed", "%s is not allowed on %s (allowed: %s)",
                   req->method_name, req->path, allow);
        http_resp_header(resp, "Allow", allow);
    } else if (!before || before(app, req, resp)) {
        h(req, resp);
        if (resp->status == 0 && !resp->raw_response && !resp->stream)
            http_error(req, resp, 500, "internal_error", "handler produced no response");
    }
}

static enum MHD_Result server__send(http_server_t *s, conn_ctx *ctx,
                                    struct MHD_Connection *c)
{
    http_resp *resp = &ctx->resp;
    struct MHD_Response *r = resp->raw_response;
    resp->raw_response = NULL;
    if (!r && resp->stream) {
        r = http_stream__response(resp->stream, &s->streams, c, &resp->status);
        if (!r)  /* suspended: called again once the producer begins */
            return resp->status == -1 ? MHD_NO : MHD_YES;
    } else if (!r) {
        enum MHD_ResponseMemoryMode mode =
            resp->body_static ? MHD_RESPMEM_PERSISTENT : MHD_RESPMEM_MUST_FREE;
        r = MHD_create_response_from_buffer(resp->body_len, resp->body, mode);
        if (!r)
            return MHD_NO;
        resp->body = NULL;  /* MHD owns it now */
        resp->body_len = 0;
        resp->body_static = false;
        if (resp->content_type[0])
            MHD_add_response_header(r, "Content-Type", resp->content_type);
    }
    MHD_add_response_header(r, "X-Request-Id", ctx->req.request_id);
    char tp[64];
    snprintf(tp, sizeof tp, "00-%s-%s-%s", ctx->req.trace_id, ctx->req.span_id,
             ctx->req.trace_flags);
    MHD_add_response_header(r, "traceparent", tp);
    for (int i = 0; i < resp->nheaders; i++)
        MHD_add_response_header(r, resp->header_names[i], resp->header_values[i]);
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)resp->status, r);
    MHD_destroy_response(r);
    ctx->answered = true;
    return ret;
}

/* Framing headers of a request, counted over every header line. */
typedef struct framing {
    int ncl, nte;
    const char *te;
} framing;

static enum MHD_Result server__count_framing(void *cls, enum MHD_ValueKind kind,
                                             const char *key, const char *value)
{
    (void)kind;
    framing *f = cls;
    if (strcasecmp(key, "Content-Length") == 0)
        f->ncl++;
    if (strcasecmp(key, "Transfer-Encoding") == 0) {
        f->nte++;
        f->te = value;
    }
    return MHD_YES;
}

/* Refuse ambiguous framing, which a proxy in front could read differently
 * (request smuggling): a repeated Content-Length or Transfer-Encoding, both at
 * once, or a transfer coding other than chunked. true with resp filled. */
static bool server__bad_framing(conn_ctx *ctx, struct MHD_Connection *c)
{
    framing f = { 0, 0, NULL };
    MHD_get_connection_values(c, MHD_HEADER_KIND, server__count_framing, &f);
    const char *why = f.ncl > 1                ? "more than one Content-Length header"
                      : f.nte > 1              ? "more than one Transfer-Encoding header"
                      : f.ncl && f.nte         ? "both Content-Length and Transfer-Encoding"
                      : f.nte && strcasecmp(f.te, "chunked") != 0
                          ? "a Transfer-Encoding other than chunked"
                          : NULL;
    if (!why)
        return false;
    ctx->dispatched = true;
    http_error(&ctx->req, &ctx->resp, 400, "invalid_framing",
               "the request has %s: its body cannot be framed unambiguously", why);
    http_resp_header(&ctx->resp, "Connection", "close");
    return true;
}

static enum MHD_Result server__access(void *cls, struct MHD_Connection *c, const char *url,
                                      const char *method, const char *version,
                                      const char *upload_data, size_t *upload_data_size,
                                      void **con_cls)
{
    http_server_t *s = cls;
    conn_ctx *ctx = *con_cls;
    if (!ctx || ctx == (void *)&server__nul_marker) {
        bool nul = ctx != NULL;
        ctx = server__ctx_new(s, c, url, method);
        ctx->nul_target = nul;
        *con_cls = ctx;
        http_conn *hc = server__conn(c);
        if (hc)
            http_watch__phase(hc, HTTP_CONN_BODY);
        if (server__bad_framing(ctx, c) || server__reserve_refused(ctx, hc))
            return server__send(s, ctx, c);
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        if (cl) {
            unsigned long long n = strtoull(cl, NULL, 10);
            if (n > s->opts.max_body_bytes) {
                ctx->too_big = true;
                /* Far beyond the limit: answer now rather than drain it all. */
                if (n > 8ull * s->opts.max_body_bytes) {
                    server__dispatch(s, ctx);
                    return server__send(s, ctx, c);
                }
            }
        }
        return MHD_YES;
    }
    if (ctx->answered)
        return MHD_YES;
    if (ctx->dispatched)  /* a resumed deferred response */
        return server__send(s, ctx, c);
    if (*upload_data_size) {
        if (!ctx->too_big) {
            if (ctx->body.len + *upload_data_size > s->opts.max_body_bytes) {
                ctx->too_big = true;
                buf_free(&ctx->body);
            } else {
                buf_append(&ctx->body, upload_data, *upload_data_size);
            }
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    server__dispatch(s, ctx);
    return server__send(s, ctx, c);
}

/* The request's log line (what handlers and a deferred response reported). */
static void server__log(conn_ctx *ctx, int status, int64_t lat)
{
    if (LOG_INFO < log_get_level())
        return;
    http_req_log *lg = &ctx->log;
    if (ctx->resp.stream) {
        int64_t in, out, up;
        http_stream__usage(ctx->resp.stream, &in, &out, &up);
        if (in >= 0 || up >= 0)
            http_req_log_usage(&ctx->req, in, out, up);
    }
    char client[64];
    http_req_client_ip(&ctx->req, client, sizeof client);
    log_request_line l = {
        .method = ctx->req.method_name, .route = ctx->req.route,
        .request_id = ctx->req.request_id, .status = status, .latency_us = lat,
        .cache = ctx->req.cache_outcome, .client = client, .trace_id = ctx->req.trace_id,
        .key_id = lg->key_id, .user = lg->user, .model = lg->model,
        .tokens_in = lg->tokens_in, .tokens_out = lg->tokens_out,
        .upstream_us = lg->upstream_us,
    };
    log_request(&l);
}

static void server__completed(void *cls, struct MHD_Connection *c, void **con_cls,
                              enum MHD_RequestTerminationCode toe)
{
    http_server_t *s = cls;
    conn_ctx *ctx = *con_cls;
    http_conn *hc = server__conn(c);
    if (hc)
        http_watch__phase(hc, HTTP_CONN_IDLE);
    if (!ctx || ctx == (void *)&server__nul_marker)
        return;
    int64_t lat = clock_mono_us() - ctx->req.start_us;
    int status = ctx->answered ? ctx->resp.status : 499;
    server__log(ctx, status, lat);
    if (s->opts.observe)
        s->opts.observe(s->opts.app, &ctx->req, status, lat);
    if (s->opts.release)
        s->opts.release(s->opts.app, &ctx->req);
    server__ctx_free(ctx);
    *con_cls = NULL;
    __atomic_fetch_sub(&s->inflight, 1, __ATOMIC_RELAXED);
}

int http_parse_listen(const char *listen, char *host, size_t hn, int *port)
{
    const char *colon;
    if (listen[0] == '[') {
        const char *close = strchr(listen, ']');
        if (!close || close[1] != ':')
            return RAGD_EINVAL;
        snprintf(host, hn, "%.*s", (int)(close - listen - 1), listen + 1);
        colon = close + 1;
    } else {
        colon = strrchr(listen, ':');
        if (!colon)
            return RAGD_EINVAL;
        snprintf(host, hn, "%.*s", (int)(colon - listen), listen);
    }
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (*end || end == colon + 1 || p < 0 || p > 65535 || !host[0])
        return RAGD_EINVAL;
    *port = (int)p;
    return RAGD_OK;
}

static void server__mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && msg[n - 1] == '\n')
        msg[--n] = '\0';
    log_msg(LOG_DEBUG, "http: %s", msg);
}

int http_server_start(const http_server_opts *opts, const router_t *router,
                      http_server_t **out, ragd_error *err)
{
    char host[256];
    int port;
    if (http_parse_listen(opts->listen, host, sizeof host, &port))
        return ragd_error_set(err, RAGD_EINVAL, "listen: '%s' is not HOST:PORT", opts->listen);
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_NUMERICSERV };
    struct addrinfo *ai = NULL;
    char ps[8];
    snprintf(ps, sizeof ps, "%d", port);
    if (getaddrinfo(host, ps, &hints, &ai) != 0 || !ai)
        return ragd_error_set(err, RAGD_EINVAL, "listen: cannot resolve host '%s'", host);
    http_server_t *s = xcalloc(1, sizeof *s);
    http_stream__reg_init(&s->streams);
    s->opts = *opts;
    s->router = router;
    if (http_watch__start(&s->watch, (int)opts->header_timeout_s * 1000,
                          (int)opts->body_timeout_s * 1000, (int)opts->idle_timeout_s * 1000,
                          opts->max_connections)) {
        freeaddrinfo(ai);
        http_stream__reg_deinit(&s->streams);
        free(s);
        return ragd_error_set(err, RAGD_EINTERNAL, "cannot start the connection watchdog");
    }
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ERROR_LOG | MHD_USE_TURBO;
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    s->mhd = MHD_start_daemon(
        flags, (uint16_t)port, NULL, NULL, server__access, s,
        MHD_OPTION_SOCK_ADDR, ai->ai_addr,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)(opts->threads > 0 ? opts->threads : 4),
        MHD_OPTION_CONNECTION_LIMIT, opts->max_connections + HTTP_RESERVE_CONNS,
        MHD_OPTION_CONNECTION_TIMEOUT, opts->idle_timeout_s,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, opts->max_header_bytes,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u,
        MHD_OPTION_NOTIFY_COMPLETED, server__completed, s,
        MHD_OPTION_NOTIFY_CONNECTION, server__notify_conn, s,
        MHD_OPTION_URI_LOG_CALLBACK, server__uri_log, s,
        MHD_OPTION_EXTERNAL_LOGGER, server__mhd_log, NULL,
        MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!s->mhd) {
        http_watch__stop(&s->watch);
        http_stream__reg_deinit(&s->streams);
        free(s);
        return ragd_error_set(err, RAGD_EIO, "listen: cannot bind %s (address in use?)",
                              opts->listen);
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : port;
    *out = s;
    return RAGD_OK;
}

int http_server_port(const http_server_t *s) { return s->port; }

int http_server_inflight(const http_server_t *s)
{
    return __atomic_load_n(&s->inflight, __ATOMIC_RELAXED);
}

void http_server_stop(http_server_t *s, int grace_ms)
{
    if (!s)
        return;
    MHD_socket fd = MHD_quiesce_daemon(s->mhd);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
    int64_t deadline = clock_mono_us() + (int64_t)grace_ms * 1000;
    while (http_server_inflight(s) > 0 && clock_mono_us() < deadline)
        clock_sleep_ms(5);
    /* MHD must not stop with suspended connections: cut live streams short. */
    http_stream__abort_all(&s->streams);
    deadline = clock_mono_us() + 1000000;
    while (http_server_inflight(s) > 0 && clock_mono_us() < deadline)
        clock_sleep_ms(5);
    http_stream__abort_all(&s->streams);
    MHD_stop_daemon(s->mhd);
    http_watch__stop(&s->watch);
    http_stream__reg_deinit(&s->streams);
    free(s);
}
