/*
 * http.h - the request and response that API handlers see. A handler reads a
 * fully received request (path parameters, query, headers, body) and fills a
 * response; the server (server_req.c) owns both and frees them after sending.
 * Handlers run on the server's worker threads and must be thread-safe.
 */
#ifndef RAGD_HTTP_H
#define RAGD_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

#define HTTP_MAX_PARAMS 6
#define HTTP_MAX_RESP_HEADERS 16
#define HTTP_REQUEST_ID_MAX 64

enum http_method {
    HTTP_GET = 1 << 0,
    HTTP_HEAD = 1 << 1,
    HTTP_POST = 1 << 2,
    HTTP_PUT = 1 << 3,
    HTTP_PATCH = 1 << 4,
    HTTP_DELETE = 1 << 5,
    HTTP_OPTIONS = 1 << 6,
};

typedef struct http_req http_req;
typedef struct http_resp http_resp;

/* What the request's log line says beyond the request itself, filled by the
 * layers that know it (auth: key id and user; handlers: model, tokens,
 * upstream time) through the http_req_log_* setters; every field optional. */
typedef struct http_req_log {
    char key_id[48];
    char user[272];
    char model[128];
    int64_t tokens_in, tokens_out;  /* -1 = unknown */
    int64_t upstream_us;            /* -1 = no upstream call */
} http_req_log;
/* Where a request gets its headers, query and client address: the server
 * (server_req.c) and the in-process path (http/inproc.c) each fill one, and
 * the accessors of request.c read through it. A table of functions, so
 * request.c calls neither. */
typedef struct http_req_src http_req_src;
struct http_req_src {
    const char *(*header)(const http_req_src *s, const char *name);
    const char *(*query)(const http_req_src *s, const char *name);
    void (*client_ip)(const http_req_src *s, char *out, size_t n);
};

/* A route handler. It always leaves a response in resp (status 0 = 500). */
typedef void (*http_handler)(http_req *req, http_resp *resp);

struct http_req {
    int method;                  /* one enum http_method bit */
    const char *method_name;
    const char *path;            /* decoded path, no query string */
    const char *route;           /* the matched pattern, for logs and metrics */
    int route_index;             /* index of the route in its router, -1 if none */
    int nparams;
    const char *param_names[HTTP_MAX_PARAMS];
    char *param_values[HTTP_MAX_PARAMS];  /* decoded, owned by the request */
    const char *body;            /* NUL-terminated; "" when there is none */
    size_t body_len;
    char request_id[HTTP_REQUEST_ID_MAX + 1];
    int64_t start_us;            /* monotonic time the request arrived */
    void *app;                   /* the server's user pointer (app_t) */
    const char *cache_outcome;   /* set by handlers for the request log */
    http_req_log *log;           /* the log line's context, owned by the server
                                    (NULL in process: nothing is logged) */
    char trace_id[33];           /* W3C trace id: the caller's traceparent's, else new */
    char span_id[17];            /* this request's span (sent back in traceparent) */
    char trace_flags[3];
    void *auth;                  /* identity of the caller, set by the auth layer */
    struct arena *arena;         /* per-request scratch memory (util/arena.h): owned by
                                    the server, freed in one call when the request
                                    ends; keep no pointer into it past the handler
                                    (deferred responses, queues of other threads) */
    const http_req_src *src;     /* headers, query and peer; borrowed */
};

struct http_resp {
    int status;
    char *body;                  /* owned (free) unless body_static */
    size_t body_len;
    bool body_static;
    char content_type[64];
    int nheaders;
    char *header_names[HTTP_MAX_RESP_HEADERS];   /* owned */
    char *header_values[HTTP_MAX_RESP_HEADERS];  /* owned */
    struct http_stream *stream;  /* a deferred response (http/stream.h); the
                                    server holds a reference */
};

/* The enum http_method bit of a method name ("GET"), 0 for any other. */
int http_method_bit(const char *name);

/* Request accessors; returned strings are borrowed for the request's life. */
const char *http_req_param(const http_req *req, const char *name);
const char *http_req_header(const http_req *req, const char *name);
const char *http_req_query(const http_req *req, const char *name);
/* The request's trace as an outgoing call continues it (http/trace.h): its
 * trace id and flags, and the caller's tracestate when it may be passed on. */
struct http_trace;
void http_req_trace(const http_req *req, struct http_trace *out);
/* The peer's address as text ("127.0.0.1", "::1") into out; "" if unknown. */
void http_req_client_ip(const http_req *req, char *out, size_t n);

/* Fill the request's log context (each a no-op without one; strings are
 * copied, truncated to the field). Thread-safe for one request's handler. */
void http_req_log_identity(const http_req *req, const char *key_id, const char *user);
void http_req_log_model(const http_req *req, const char *model);
void http_req_log_usage(const http_req *req, int64_t tokens_in, int64_t tokens_out,
                        int64_t upstream_us);

/* Set the body, taking ownership of data (malloc'd). */
void http_resp_set_body(http_resp *resp, int status, const char *content_type, char *data,
                        size_t len);
/* Set a JSON body from a buf, taking its bytes (b is left empty). */
void http_resp_json(http_resp *resp, int status, buf_t *b);
/* Set a static (never freed) body. */
void http_resp_static(http_resp *resp, int status, const char *content_type,
                      const char *data, size_t len);
/* Add a response header (copied). Extra headers past the maximum are dropped. */
void http_resp_header(http_resp *resp, const char *name, const char *value);

/* Append the error shape {"error":{"code","message","request_id"}} to b. */
void http_error_body(buf_t *b, const char *code, const char *msg, const char *request_id);

/* Fill resp with the error shape {"error":{"code","message","request_id"}}. */
void http_error(const http_req *req, http_resp *resp, int status, const char *code,
                const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Map a RAGD_E* code to an HTTP status and stable error code string. */
void http_status_for(int rc, int *status, const char **code);

/* Release resp's memory (done by the server). */
void http_resp_clear(http_resp *resp);

#endif
