/*
 * api.c - route table assembly and the helpers every handler shares.
 */
#include "api/api.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util/json.h"

void api_register(router_t *r)
{
    api_health_register(r);
    api_ops_register(r);
    api_cache_register(r);
    api_embed_register(r);
    api_kb_register(r);
    api_search_register(r);
    api_auth_register(r);
    api_ratelimit_register(r);
    api_sessions_register(r);
    api_gateway_register(r);
    api_rerank_register(r);
    api_rag_register(r);
    api_route_register(r);
    api_user_content_register(r);
}

bool api_parse_object(const http_req *req, http_resp *resp, cJSON **out)
{
    ragd_error err;
    cJSON *v = NULL;
    if (json_parse(req->body, req->body_len, &v, &err)) {
        http_error(req, resp, 400, "invalid_json", "%s", err.msg);
        return false;
    }
    if (!cJSON_IsObject(v)) {
        cJSON_Delete(v);
        http_error(req, resp, 400, "invalid_json", "the body must be a JSON object");
        return false;
    }
    *out = v;
    return true;
}

bool api_body_is_json(const http_req *req)
{
    return !(req->method == HTTP_PUT && strcmp(req->route, "/api/v1/cache/{prefix}/{key*}") == 0);
}

void api_error_rc(const http_req *req, http_resp *resp, int rc, const char *fmt, ...)
{
    int status;
    const char *code;
    http_status_for(rc, &status, &code);
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    http_error(req, resp, status, code, "%s", msg);
}

void api_reply_json(http_resp *resp, int status, const cJSON *v)
{
    buf_t b = BUF_INIT;
    json_write(v, &b);
    http_resp_json(resp, status, &b);
}
