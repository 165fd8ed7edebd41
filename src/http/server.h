/*
 * server.h - the HTTP server: ragd's own HTTP/1.1 server (server.c,
 * server_conn.c, server_req.c over the parser of h1_parse.h) with a pool of
 * epoll worker threads, keep-alive and pipelining, limits on headers (431),
 * body size (413), connections and time per phase (408), ragd's JSON error on
 * every refusal, request ids, one log line and one metrics observation per
 * request, and a graceful stop that lets in-flight requests finish.
 */
#ifndef RAGD_SERVER_H
#define RAGD_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http/router.h"
#include "util/err.h"

typedef struct http_server http_server_t;

/* Connections accepted beyond max_connections, for GET /health and /metrics only. */
#define HTTP_RESERVE_CONNS 8

/* Called once per finished request (after the response was sent). */
typedef void (*http_observe_fn)(void *app, const http_req *req, int status,
                                int64_t latency_us);

/* Called after routing, before the matched handler (req->route is set). It may
 * set req->auth and add response headers; to stop the request it fills resp
 * (e.g. 401, 429) and returns false. */
typedef bool (*http_before_fn)(void *app, http_req *req, http_resp *resp);

/* Called when a request is freed: releases what `before` attached (req->auth). */
typedef void (*http_release_fn)(void *app, http_req *req);

typedef struct http_server_opts {
    const char *listen;        /* "HOST:PORT" or "[v6]:PORT"; port 0 = any free port */
    int threads;               /* worker threads in the pool */
    unsigned max_connections;  /* plus HTTP_RESERVE_CONNS for /health and /metrics */
    unsigned idle_timeout_s;   /* idle keep-alive, and the whole wait for the next
                                  request line */
    unsigned header_timeout_s; /* request line + headers, whole (0 = none) */
    unsigned body_timeout_s;   /* the body, whole (0 = none) */
    size_t max_body_bytes;
    size_t max_header_bytes;   /* per-connection memory for headers */
    void *app;                 /* passed to handlers as req->app */
    http_observe_fn observe;   /* may be NULL */
    http_before_fn before;     /* may be NULL */
    http_release_fn release;   /* may be NULL */
} http_server_opts;

/* Bind and start serving with the given router (borrowed; must outlive the
 * server). *out is owned by the caller: http_server_stop() it. */
int http_server_start(const http_server_opts *opts, const router_t *router,
                      http_server_t **out, ragd_error *err);

/* The bound port (useful with port 0). */
int http_server_port(const http_server_t *s);

/* Number of requests being handled right now. */
int http_server_inflight(const http_server_t *s);

/* Stop accepting, wait up to grace_ms for in-flight requests, then stop and
 * free everything. */
void http_server_stop(http_server_t *s, int grace_ms);

/* Route req (path, method and body set) with router and run it: 404/405 when
 * no route matches, else `before` (may be NULL) and then the handler; resp
 * always ends with a status or a deferred response. Used by the server once a
 * body is in, and by in-process callers (http/inproc.h). Thread-safe. */
void http_dispatch(const router_t *router, http_before_fn before, void *app, http_req *req,
                   http_resp *resp);

/* Split "host:port" / "[v6]:port" into host (out, size hn) and port. */
int http_parse_listen(const char *listen, char *host, size_t hn, int *port);

#endif
