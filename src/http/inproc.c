/*
 * inproc.c - serves a request without a socket (see inproc.h): decodes the URL
 * the way the server does (h1_parse.h: %XX in the path; %XX and '+' in query
 * arguments), then runs the server's own dispatch and hooks.
 */
#include "http/inproc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/h1_parse.h"
#include "http/stream_int.h"
#include "util/arena.h"
#include "util/clock.h"
#include "util/mem.h"

#define INPROC_MAX_QUERY 32

struct http_inproc {
    http_req_src src;  /* first: request.c reads through it */
    const http_kv *headers;
    int nheaders;
    h1_kv query[INPROC_MAX_QUERY];
    int nquery;
    char ip[64];
};

static void inproc__fill_resp(http_resp *resp, http_inproc_resp *out)
{
    memset(out, 0, sizeof *out);
    out->status = resp->status;
    out->deferred = resp->stream != NULL;
    snprintf(out->content_type, sizeof out->content_type, "%s", resp->content_type);
    out->body = xmalloc(resp->body_len + 1);
    if (resp->body_len)
        memcpy(out->body, resp->body, resp->body_len);
    out->body[resp->body_len] = '\0';
    out->body_len = resp->body_len;
}

static const char *inproc__header(const http_req_src *s, const char *name)
{
    const struct http_inproc *ip = (const struct http_inproc *)s;
    for (int i = 0; i < ip->nheaders; i++)
        if (strcasecmp(ip->headers[i].name, name) == 0)
            return ip->headers[i].value;
    return NULL;
}

static const char *inproc__query(const http_req_src *s, const char *name)
{
    const struct http_inproc *ip = (const struct http_inproc *)s;
    return h1_query_get(ip->query, ip->nquery, name);
}

static void inproc__client_ip(const http_req_src *s, char *out, size_t n)
{
    snprintf(out, n, "%s", ((const struct http_inproc *)s)->ip);
}

void http_inproc_call(const router_t *router, const http_server_opts *opts,
                      const http_inproc_req *in, http_inproc_resp *out)
{
    static uint64_t seq;
    struct http_inproc ip = { .src = { inproc__header, inproc__query, inproc__client_ip },
                              .headers = in->headers, .nheaders = in->nheaders };
    snprintf(ip.ip, sizeof ip.ip, "%s", in->client_ip ? in->client_ip : "127.0.0.1");
    char *path = xstrdup(in->url);
    char *q = strchr(path, '?');
    if (q) {
        *q++ = '\0';
        ip.nquery = h1_query_split(q, ip.query, INPROC_MAX_QUERY);
    }
    h1_url_decode(path, false);
    char *body = xmalloc(in->body_len + 1);  /* NUL-terminated, as the server gives it */
    if (in->body_len)
        memcpy(body, in->body, in->body_len);
    body[in->body_len] = '\0';

    arena scratch;
    arena_init(&scratch, 0);
    http_req req = { .method = http_method_bit(in->method), .method_name = in->method,
                     .path = path, .route = "unmatched", .route_index = -1,
                     .body = body, .body_len = in->body_len, .app = opts->app,
                     .start_us = clock_mono_us(), .arena = &scratch, .src = &ip.src };
    snprintf(req.request_id, sizeof req.request_id, "inproc-%llu",
             (unsigned long long)__atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED));
    http_resp resp = { 0 };
    if (opts->max_body_bytes && in->body_len > opts->max_body_bytes)
        http_error(&req, &resp, 413, "payload_too_large",
                   "request body exceeds the limit of %zu bytes", opts->max_body_bytes);
    else
        http_dispatch(router, opts->before, opts->app, &req, &resp);
    inproc__fill_resp(&resp, out);

    if (opts->observe)
        opts->observe(opts->app, &req, out->status, clock_mono_us() - req.start_us);
    if (opts->release)
        opts->release(opts->app, &req);
    http_resp_clear(&resp);
    if (resp.stream)
        http_stream__detach(resp.stream);
    for (int i = 0; i < req.nparams; i++)
        free(req.param_values[i]);
    arena_destroy(&scratch);
    free(body);
    free(path);
}

void http_inproc_resp_free(http_inproc_resp *r)
{
    free(r->body);
    r->body = NULL;
    r->body_len = 0;
}

