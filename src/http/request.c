/*
 * request.c - request accessors and response builders shared by all handlers.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http.h"
#include "http/trace.h"
#include "util/err.h"
#include "util/fmt.h"
#include "util/mem.h"

int http_method_bit(const char *name)
{
    static const struct { const char *name; int bit; } map[] = {
        { "GET", HTTP_GET }, { "HEAD", HTTP_HEAD }, { "POST", HTTP_POST },
        { "PUT", HTTP_PUT }, { "PATCH", HTTP_PATCH }, { "DELETE", HTTP_DELETE },
        { "OPTIONS", HTTP_OPTIONS },
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(name, map[i].name) == 0)
            return map[i].bit;
    return 0;
}

const char *http_req_param(const http_req *req, const char *name)
{
    for (int i = 0; i < req->nparams; i++)
        if (strcmp(req->param_names[i], name) == 0)
            return req->param_values[i];
    return NULL;
}

const char *http_req_header(const http_req *req, const char *name)
{
    return req->src ? req->src->header(req->src, name) : NULL;
}

void http_req_trace(const http_req *req, http_trace *out)
{
    memset(out, 0, sizeof *out);
    snprintf(out->trace_id, sizeof out->trace_id, "%s", req->trace_id);
    snprintf(out->flags, sizeof out->flags, "%s", req->trace_flags[0] ? req->trace_flags : "00");
    char tid[HTTP_TRACE_ID_HEX + 1], flags[3];
    const char *state = http_req_header(req, "tracestate");
    /* tracestate is passed on only with the caller's valid traceparent, whole
     * (at most HTTP_TRACESTATE_MAX printable characters) or not at all */
    if (!state || !http_trace_parse(http_req_header(req, "traceparent"), tid, flags) ||
        strlen(state) > HTTP_TRACESTATE_MAX)
        return;
    for (const char *c = state; *c; c++)
        if (*c < 0x20 || *c > 0x7e)
            return;
    snprintf(out->state, sizeof out->state, "%s", state);
}

const char *http_req_query(const http_req *req, const char *name)
{
    return req->src ? req->src->query(req->src, name) : NULL;
}

void http_req_client_ip(const http_req *req, char *out, size_t n)
{
    out[0] = '\0';
    if (req->src)
        req->src->client_ip(req->src, out, n);
}

void http_req_log_identity(const http_req *req, const char *key_id, const char *user)
{
    if (!req->log)
        return;
    if (key_id)
        fmt_copy(req->log->key_id, sizeof req->log->key_id, key_id);
    if (user)
        fmt_copy(req->log->user, sizeof req->log->user, user);
}

void http_req_log_model(const http_req *req, const char *model)
{
    if (req->log && model)
        fmt_copy(req->log->model, sizeof req->log->model, model);
}

void http_req_log_usage(const http_req *req, int64_t tokens_in, int64_t tokens_out,
                        int64_t upstream_us)
{
    if (!req->log)
        return;
    req->log->tokens_in = tokens_in;
    req->log->tokens_out = tokens_out;
    req->log->upstream_us = upstream_us;
}

static void resp__drop_body(http_resp *resp)
{
    if (!resp->body_static)
        free(resp->body);
    resp->body = NULL;
    resp->body_len = 0;
    resp->body_static = false;
}

void http_resp_set_body(http_resp *resp, int status, const char *content_type, char *data,
                        size_t len)
{
    resp__drop_body(resp);
    resp->status = status;
    fmt_copy(resp->content_type, sizeof resp->content_type, content_type);
    resp->body = data;
    resp->body_len = len;
}

void http_resp_json(http_resp *resp, int status, buf_t *b)
{
    size_t len;
    char *data = buf_detach(b, &len);
    http_resp_set_body(resp, status, "application/json", data, len);
}

void http_resp_static(http_resp *resp, int status, const char *content_type,
                      const char *data, size_t len)
{
    resp__drop_body(resp);
    resp->status = status;
    fmt_copy(resp->content_type, sizeof resp->content_type, content_type);
    resp->body = (char *)data;
    resp->body_len = len;
    resp->body_static = true;
}

void http_resp_header(http_resp *resp, const char *name, const char *value)
{
    if (resp->nheaders >= HTTP_MAX_RESP_HEADERS)
        return;
    resp->header_names[resp->nheaders] = xstrdup(name);
    resp->header_values[resp->nheaders] = xstrdup(value);
    resp->nheaders++;
}

void http_error_body(buf_t *b, const char *code, const char *msg, const char *request_id)
{
    buf_puts(b, "{\"error\":{\"code\":");
    buf_put_json_str(b, code, strlen(code));
    buf_puts(b, ",\"message\":");
    buf_put_json_str(b, msg, strlen(msg));
    buf_puts(b, ",\"request_id\":");
    buf_put_json_str(b, request_id, strlen(request_id));
    buf_puts(b, "}}");
}

void http_error(const http_req *req, http_resp *resp, int status, const char *code,
                const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    buf_t b = BUF_INIT;
    http_error_body(&b, code, msg, req->request_id);
    http_resp_json(resp, status, &b);
}

void http_status_for(int rc, int *status, const char **code)
{
    switch (rc) {
    case RAGD_EINVAL: *status = 400; *code = "invalid_request"; break;
    case RAGD_EFORMAT: *status = 400; *code = "invalid_request"; break;
    case RAGD_ENOTFOUND: *status = 404; *code = "not_found"; break;
    case RAGD_EEXISTS: *status = 409; *code = "conflict"; break;
    case RAGD_ECONFLICT: *status = 409; *code = "conflict"; break;
    case RAGD_ETOOBIG: *status = 413; *code = "payload_too_large"; break;
    case RAGD_EUNAVAIL: *status = 503; *code = "store_unavailable"; break;
    case RAGD_ENOTDURABLE: *status = 503; *code = "store_unavailable"; break;
    case RAGD_ETIMEOUT: *status = 504; *code = "timeout"; break;
    case RAGD_EFULL: *status = 507; *code = "store_full"; break;
    case RAGD_EUNSUPPORTED: *status = 501; *code = "unsupported"; break;
    case RAGD_EUPSTREAM: *status = 502; *code = "upstream_error"; break;
    default: *status = 500; *code = "internal_error"; break;
    }
}

void http_resp_clear(http_resp *resp)
{
    resp__drop_body(resp);
    for (int i = 0; i < resp->nheaders; i++) {
        free(resp->header_names[i]);
        free(resp->header_values[i]);
    }
    resp->nheaders = 0;
}
