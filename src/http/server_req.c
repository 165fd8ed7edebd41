/*
 * server_req.c - one request of the HTTP server, from its parsed head to its
 * log line: the request id (the caller's valid X-Request-Id, else a new one),
 * the W3C trace span (http/trace.h: the caller's valid traceparent is joined,
 * else a trace starts), the decoded path and query the handlers read (an
 * absolute-form target's authority answers for the Host header, as RFC 9112
 * §3.2.2 says, so every host check sees it), the checks before the body
 * (reserve connections serve only /health and /metrics; a target holding %00
 * is refused, as decoded its NUL would end the path or a query value early;
 * OPTIONS * is answered with the server's methods), routing, and at the end
 * one log line, one observation and the release of everything (the request's
 * arena in one call).
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/server_int.h"
#include "http/trace.h"
#include "obs/log.h"
#include "util/clock.h"
#include "util/fmt.h"
#include "util/mem.h"

static bool req__valid_request_id(const char *s)
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

static const char *req__header(const http_req_src *src, const char *name)
{
    const h1_ctx *ctx = (const h1_ctx *)src;
    size_t n;
    if (ctx->authority && strcasecmp(name, "Host") == 0)
        return ctx->authority;
    return h1_header_get(&ctx->parsed, ctx->head, name, &n);
}

static const char *req__query(const http_req_src *src, const char *name)
{
    const h1_ctx *ctx = (const h1_ctx *)src;
    return h1_query_get(ctx->query, ctx->nquery, name);
}

static void req__client_ip(const http_req_src *src, char *out, size_t n)
{
    const struct sockaddr_storage *sa = &((const h1_ctx *)src)->conn->peer;
    out[0] = '\0';
    if (sa->ss_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)n);
    else if (sa->ss_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out, (socklen_t)n);
}

/* Copy the head with the method and every field value NUL-terminated in
 * place (the SP or CR after each), and room after it for the decoded target
 * and the authority (one block, apart from the handler's arena, which starts
 * empty). */
static void req__own_head(h1_ctx *ctx, const char *head, const h1_request *parsed)
{
    ctx->parsed = *parsed;
    size_t tail = parsed->head_len + 1 + 1 + parsed->target_len + 1;
    ctx->head = xmalloc(tail + parsed->authority_len + 1);
    memcpy(ctx->head, head, parsed->head_len);
    ctx->head[parsed->head_len] = '\0';
    ctx->head[parsed->method_off + parsed->method_len] = '\0';
    for (int i = 0; i < parsed->nheaders; i++)
        ctx->head[parsed->headers[i].value_off + parsed->headers[i].value_len] = '\0';
    if (parsed->authority_len) {
        char *a = ctx->head + tail;
        memcpy(a, head + parsed->authority_off, parsed->authority_len);
        a[parsed->authority_len] = '\0';
        ctx->authority = a;
    }
}

/* The decoded path and the split query of the target ("/" first when an
 * absolute-form target has no path). */
static void req__target(h1_ctx *ctx, const char *head)
{
    const char *t = head + ctx->parsed.target_off;
    char *path = ctx->head + ctx->parsed.head_len + 1;
    size_t n = ctx->parsed.target_len, k = 0;
    if (ctx->authority && (n == 0 || t[0] != '/'))
        path[k++] = '/';
    memcpy(path + k, t, n);
    path[k + n] = '\0';
    char *q = strchr(path, '?');
    if (q) {
        *q++ = '\0';
        ctx->nquery = h1_query_split(q, ctx->query, H1_MAX_QUERY);
    }
    h1_url_decode(path, false);
    ctx->req.path = path;
}

h1_ctx *h1_ctx_begin(struct http_server *s, h1_conn *c, const char *head,
                     const h1_request *parsed)
{
    h1_ctx *ctx = xcalloc(1, sizeof *ctx);
    ctx->src = (http_req_src){ req__header, req__query, req__client_ip };
    ctx->conn = c;
    arena_init(&ctx->scratch, 0);
    req__own_head(ctx, head, parsed);
    req__target(ctx, head);
    http_req *req = &ctx->req;
    req->method_name = ctx->head + parsed->method_off;
    req->method = http_method_bit(req->method_name);
    req->route = "unmatched";
    req->route_index = -1;
    req->app = s->opts.app;
    req->start_us = clock_mono_us();
    req->body = "";
    req->arena = &ctx->scratch;
    req->src = &ctx->src;
    const char *rid = req__header(&ctx->src, "X-Request-Id");
    if (rid && req__valid_request_id(rid))
        fmt_copy(req->request_id, sizeof req->request_id, rid);
    else
        http_trace_random_hex(req->request_id, 16);
    if (!http_trace_parse(req__header(&ctx->src, "traceparent"), req->trace_id,
                          req->trace_flags)) {
        http_trace_random_hex(req->trace_id, HTTP_TRACE_ID_HEX / 2);
        fmt_copy(req->trace_flags, sizeof req->trace_flags, "00");
    }
    http_trace_random_hex(req->span_id, HTTP_SPAN_ID_HEX / 2);
    req->log = &ctx->log;
    ctx->log.tokens_in = ctx->log.tokens_out = ctx->log.upstream_us = -1;
    atomic_fetch_add(&s->inflight, 1);
    return ctx;
}

void h1_ctx_refuse(h1_ctx *ctx, int status, const char *code, const char *msg)
{
    http_error(&ctx->req, &ctx->resp, status, code, "%s", msg);
}

/* OPTIONS * (asterisk-form): 200 with Allow naming every method a route
 * takes, OPTIONS included (RFC 9110 §9.3.7). */
static void req__options_any(struct http_server *s, h1_ctx *ctx)
{
    int methods = HTTP_OPTIONS;
    for (int i = 0; i < router_count(s->router); i++)
        methods |= router_methods(s->router, i);
    char allow[96];
    router_allow_string(methods, allow, sizeof allow);
    http_resp_static(&ctx->resp, 200, "text/plain", "", 0);
    http_resp_header(&ctx->resp, "Allow", allow);
}

bool h1_ctx_precheck(struct http_server *s, h1_ctx *ctx, bool reserve)
{
    const char *path = ctx->req.path;
    if (strcmp(path, "*") == 0) {
        req__options_any(s, ctx);
        return true;
    }
    if (reserve && strcmp(path, "/health") != 0 && strcmp(path, "/metrics") != 0) {
        h1_ctx_refuse(ctx, 503, "server_busy",
                      "the server is at its connection limit; try again shortly");
        http_resp_header(&ctx->resp, "Retry-After", "1");
        http_resp_header(&ctx->resp, "Connection", "close");
        return true;
    }
    const char *t = ctx->head + ctx->parsed.target_off;
    const char *nul = memmem(t, ctx->parsed.target_len, "%00", 3);
    if (nul) {
        h1_ctx_refuse(ctx, 400, "invalid_request",
                      "the path or query string holds %00 (NUL), which is not accepted");
        return true;
    }
    return false;
}

void h1_ctx_dispatch(struct http_server *s, h1_ctx *ctx)
{
    if (ctx->body.data) {
        ctx->req.body = ctx->body.data;
        ctx->req.body_len = ctx->body.len;
    }
    http_dispatch(s->router, s->opts.before, s->opts.app, &ctx->req, &ctx->resp);
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
        /* the handler's thread carries the request's trace (http_trace_current)
         * for the upstream calls made below it; a request dispatched in process
         * from inside a handler, without a trace of its own, keeps the outer one */
        const http_trace *outer = http_trace_current();
        http_trace saved, t;
        if (outer)
            saved = *outer;
        if (req->trace_id[0]) {
            http_req_trace(req, &t);
            http_trace_set_current(&t);
        }
        h(req, resp);
        http_trace_set_current(outer ? &saved : NULL);
        if (resp->status == 0 && !resp->stream)
            http_error(req, resp, 500, "internal_error", "handler produced no response");
    }
}

/* The request's log line (what handlers and a deferred response reported). */
static void req__log(h1_ctx *ctx, int status, int64_t lat)
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

void h1_ctx_finish(struct http_server *s, h1_ctx *ctx)
{
    int64_t lat = clock_mono_us() - ctx->req.start_us;
    int status = ctx->answered ? ctx->resp.status : 499;
    req__log(ctx, status, lat);
    if (s->opts.observe)
        s->opts.observe(s->opts.app, &ctx->req, status, lat);
    if (s->opts.release)
        s->opts.release(s->opts.app, &ctx->req);
    http_resp_clear(&ctx->resp);
    if (ctx->resp.stream)
        http_stream__detach(ctx->resp.stream);
    for (int i = 0; i < ctx->req.nparams; i++)
        free(ctx->req.param_values[i]);
    buf_free(&ctx->body);
    arena_destroy(&ctx->scratch);
    free(ctx->head);
    free(ctx);
    atomic_fetch_sub(&s->inflight, 1);
}
