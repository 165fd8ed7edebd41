/*
 * inproc.h - an HTTP request served without a socket: method, URL, headers and
 * body go through the same router, `before` hook (auth, rate limits) and
 * handlers as a request from a socket, and the status and body come back.
 * It exists for the fuzz harnesses (tests/fuzz/) and for tests that want the
 * whole request path without a server; nothing in ragd itself serves this way.
 */
#ifndef RAGD_HTTP_INPROC_H
#define RAGD_HTTP_INPROC_H

#include <stdbool.h>
#include <stddef.h>

#include "http/server.h"

/* A header or query argument. */
typedef struct http_kv {
    const char *name;
    const char *value;
} http_kv;

typedef struct http_inproc_req {
    const char *method;        /* "GET", ...; any other name is routed as method 0 */
    const char *url;           /* percent-encoded path with an optional ?query */
    const http_kv *headers;    /* borrowed; names match case-insensitively */
    int nheaders;
    const char *body;          /* body_len bytes (may contain NUL); NULL = none */
    size_t body_len;
    const char *client_ip;     /* NULL = "127.0.0.1" */
} http_inproc_req;

typedef struct http_inproc_resp {
    int status;                /* 0 with deferred = true for a streamed response */
    bool deferred;             /* the handler opened an http_stream (not awaited) */
    char *body;                /* owned, NUL-terminated; free with http_inproc_resp_free */
    size_t body_len;
    char content_type[64];
} http_inproc_resp;

/* Serve one request the way the server does after receiving it: the request
 * id, the body limit (413 over opts->max_body_bytes; 0 = none), routing,
 * opts->before, the handler, opts->observe and opts->release, using
 * opts->app. Only those fields of opts are used. A deferred response is
 * detached at once (its producer sees a closed client). Thread-safe when the
 * handlers are. */
void http_inproc_call(const router_t *router, const http_server_opts *opts,
                      const http_inproc_req *in, http_inproc_resp *out);
void http_inproc_resp_free(http_inproc_resp *r);


#endif
