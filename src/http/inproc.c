/*
 * inproc.c - serves a request without a socket (see inproc.h): decodes the URL
 * the way libmicrohttpd does (%XX in the path; %XX and '+' in query
 * arguments), then runs the server's own dispatch and hooks.
 */
#include "http/inproc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/stream_int.h"
#include "util/arena.h"
#include "util/clock.h"
#include "util/hash.h"
#include "util/mem.h"

#define INPROC_MAX_QUERY 32

struct http_inproc {
    http_req_src src;  /* first: request.c reads through it */
    const http_kv *headers;
    int nheaders;
    http_kv query[INPROC_MAX_QUERY];
    int nquery;
    char ip[64];
};

/* Decode %XX (and '+' as a space when plus) in place; invalid escapes stay. */
static void inproc__unescape(char *s, bool plus)
{
    char *w = s;
    for (char *r = s; *r; r++) {
        int hi, lo;
        if (*r == '%' && (hi = hash_hex_digit(r[1])) >= 0 && (lo = hash_hex_digit(r[2])) >= 0) {
            *w++ = (char)(hi * 16 + lo);
            r += 2;
        } else {
            *w++ = plus && *r == '+' ? ' ' : *r;
        }
    }
    *w = '\0';
}

/* Split query (modified in place) into ip->query; a name without '=' has a
 * NULL value, as libmicrohttpd reports it. */
static void inproc__parse_query(struct http_inproc *ip, char *query)
{
    char *save = NULL;
    for (char *arg = strtok_r(query, "&", &save); arg && ip->nquery < INPROC_MAX_QUERY;
         arg = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(arg, '=');
        if (eq)
            *eq++ = '\0';
        inproc__unescape(arg, true);
        if (eq)
            inproc__unescape(eq, true);
        ip->query[ip->nquery++] = (http_kv){ arg, eq };
    }
}

static void inproc__fill_resp(http_resp *resp, http_inproc_resp *out)
{
    memset(out, 0, sizeof *out);
    out->status = resp->status;
    out->deferred = resp->stream != NULL || resp->raw_response != NULL;
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
    for (int i = 0; i < ip->nquery; i++)
        if (strcmp(ip->query[i].name, name) == 0)
            return ip->query[i].value;
    return NULL;
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
        inproc__parse_query(&ip, q);
    }
    inproc__unescape(path, false);
    char *body = xmalloc(in->body_len + 1);  /* NUL-terminated, as the server gives it */
    if (in->body_len)
        memcpy(body, in->body, in->body_len);
    body[in->body_len] = '\0';

    arena scratch;
    arena_init(&scratch, 0);
    http_req req = { .method = http_method_bit(in->method), .method_name = in->method,
                     .path = path, .route = "unmatched", .route_index = -1,
                     .body = body, .body_len = in->body_len, .app = opts->app,
                     .start_us = clock_mono_us(), .arena = &scratch, .inproc = &ip.src };
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
    if (resp.raw_response)
        MHD_destroy_response(resp.raw_response);
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

