/*
 * api_gateway.c - the OpenAI-compatible routes: POST /v1/chat/completions,
 * POST /v1/completions and GET /v1/models. Reads the gateway's request
 * headers (Cache-Control no-cache/no-store, x-ragd-cache-ttl,
 * x-ragd-cache-scope, the caller's identity) and hands the call to gateway/.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "api/api_gateway.h"
#include "gateway/gateway.h"
#include "util/json.h"

int api_gateway_scope(const http_req *req, const cJSON *body, char *out, size_t n)
{
    const char *want = http_req_header(req, "x-ragd-cache-scope");
    if (want && strcasecmp(want, "global") == 0) {
        snprintf(out, n, "global");
        return RAGD_OK;
    }
    if (want && strcasecmp(want, "user") != 0)
        return RAGD_EINVAL;
    /* The caller's identity: the auth layer's (req->auth) once it sets one,
     * until then the x-ragd-user header, else the OpenAI `user` field. */
    const char *user = http_req_header(req, "x-ragd-user");
    if (!user || !*user)
        user = json_get_str(body, "user");
    snprintf(out, n, "user:%s", user ? user : "");
    return RAGD_OK;
}

/* Cache-Control tokens that concern us. */
static void gw_api__cache_control(const http_req *req, bool *no_cache, bool *no_store)
{
    const char *cc = http_req_header(req, "Cache-Control");
    *no_cache = *no_store = false;
    for (const char *p = cc; p && *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        size_t n = strcspn(p, ",");
        size_t m = n;
        while (m && p[m - 1] == ' ')
            m--;
        if (m == 8 && strncasecmp(p, "no-cache", 8) == 0)
            *no_cache = true;
        else if (m == 8 && strncasecmp(p, "no-store", 8) == 0)
            *no_store = true;
        p += n;
    }
}

int api_gateway_call(const http_req *req, http_resp *resp, const cJSON *body, int endpoint,
                     gw_call *call)
{
    memset(call, 0, sizeof *call);
    call->endpoint = endpoint;
    call->body = body;
    call->raw = req->body;
    call->raw_len = req->body_len;
    call->ttl_s = -1;
    call->sem_threshold = -1;
    if (api_gateway_scope(req, body, call->scope, sizeof call->scope)) {
        http_error(req, resp, 400, "invalid_scope", "x-ragd-cache-scope must be user or global");
        return RAGD_EINVAL;
    }
    gw_api__cache_control(req, &call->no_cache, &call->no_store);
    const char *ttl = http_req_header(req, "x-ragd-cache-ttl");
    if (ttl) {
        char *end;
        long long v = strtoll(ttl, &end, 10);
        if (!*ttl || *end || v < 0 || v > 315360000) {
            http_error(req, resp, 400, "invalid_ttl",
                       "x-ragd-cache-ttl must be an integer number of seconds >= 0");
            return RAGD_EINVAL;
        }
        call->ttl_s = v;
    }
    const char *thr = http_req_header(req, "x-ragd-semantic-threshold");
    if (thr) {
        char *end;
        double v = strtod(thr, &end);
        if (!*thr || *end || !(v >= 0 && v <= 1)) {
            http_error(req, resp, 400, "invalid_threshold",
                       "x-ragd-semantic-threshold must be a number in [0, 1]");
            return RAGD_EINVAL;
        }
        call->sem_threshold = v;
    }
    return RAGD_OK;
}

static void gw_api__complete(http_req *req, http_resp *resp, int endpoint)
{
    cJSON *body;
    if (!api_parse_object(req, resp, &body))
        return;
    gw_call call;
    if (api_gateway_call(req, resp, body, endpoint, &call) == 0)
        gateway_serve(api_app(req)->gateway, &call, req, resp);
    cJSON_Delete(body);
}

static void gw_api__chat(http_req *req, http_resp *resp)
{
    gw_api__complete(req, resp, GW_CHAT);
}

static void gw_api__completions(http_req *req, http_resp *resp)
{
    gw_api__complete(req, resp, GW_COMPLETIONS);
}

static void gw_api__models(http_req *req, http_resp *resp)
{
    gateway_models(api_app(req)->gateway, req, resp);
}

void api_gateway_register(router_t *r)
{
    router_add(r, HTTP_POST, "/v1/chat/completions", gw_api__chat);
    router_add(r, HTTP_POST, "/v1/completions", gw_api__completions);
    router_add(r, HTTP_GET, "/v1/models", gw_api__models);
}
