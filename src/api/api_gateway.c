/*
 * api_gateway.c - the OpenAI-compatible routes: POST /v1/chat/completions,
 * POST /v1/completions and GET /v1/models. Reads the gateway's request
 * headers (Cache-Control no-cache/no-store, x-ragd-cache-ttl,
 * x-ragd-cache-scope, the caller's identity) and hands the call to gateway/.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "auth/auth.h"
#include "auth/ratelimit.h"
#include "api/api_gateway.h"
#include "gateway/gateway.h"
#include "util/json.h"
#include "util/mem.h"

int api_gateway_scope(http_req *req, http_resp *resp, const cJSON *body, char *out, size_t n)
{
    const char *want = http_req_header(req, "x-ragd-cache-scope");
    if (want && strcasecmp(want, "global") != 0 && strcasecmp(want, "user") != 0) {
        http_error(req, resp, 400, "invalid_scope", "x-ragd-cache-scope must be user or global");
        return RAGD_EINVAL;
    }
    /* The user the call acts for: the caller's own identity when it is bound
     * to a user; a service key (or auth off) may name one in x-ragd-user or
     * the OpenAI `user` field. auth_effective_user refuses a user-bound
     * caller naming someone else (403). */
    const char *named = http_req_header(req, "x-ragd-user");
    if (!named || !*named)
        named = json_get_str(body, "user");
    const char *user = NULL;
    if (!auth_effective_user(req, named, &user, resp))
        return RAGD_EINVAL;
    if (want && strcasecmp(want, "global") == 0)
        snprintf(out, n, "global");
    else
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

int api_gateway_call(http_req *req, http_resp *resp, const cJSON *body, int endpoint,
                     gw_call *call)
{
    memset(call, 0, sizeof *call);
    call->endpoint = endpoint;
    call->body = body;
    call->raw = req->body;
    call->raw_len = req->body_len;
    call->ttl_s = -1;
    call->sem_threshold = -1;
    if (api_gateway_scope(req, resp, body, call->scope, sizeof call->scope))
        return RAGD_EINVAL;
    gw_api__cache_control(req, &call->no_cache, &call->no_store);
    const char *ttl = http_req_header(req, "x-ragd-cache-ttl");
    if (ttl && json_count_text(ttl, "x-ragd-cache-ttl", 0, 315360000, &call->ttl_s, NULL)) {
        http_error(req, resp, 400, "invalid_ttl",
                   "x-ragd-cache-ttl must be an integer number of seconds in [0, 315360000]");
        return RAGD_EINVAL;
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

/* A token reservation waiting for the call's real usage. */
typedef struct gw_budget {
    ratelimit_t *rl;
    ratelimit_reservation res;
} gw_budget;

static void gw_api__reconcile(void *ud, int64_t tokens)
{
    gw_budget *b = ud;
    ratelimit_reconcile(b->rl, &b->res, tokens);
    free(b);
}

/* Tokens a call may use, reserved before it goes upstream: the prompt at
 * about four bytes a token plus the completion it allows (max_tokens or
 * max_completion_tokens, else 512). Reconciled with the real usage after. */
static int64_t gw_api__estimate(const http_req *req, const cJSON *body)
{
    int64_t out = 512, v;
    if (json_get_int(body, "max_completion_tokens", 0, INT32_MAX, &v) == 0 ||
        json_get_int(body, "max_tokens", 0, INT32_MAX, &v) == 0)
        out = v;
    return (int64_t)(req->body_len / 4) + out;
}

static void gw_api__complete(http_req *req, http_resp *resp, int endpoint)
{
    cJSON *body;
    if (!api_parse_object(req, resp, &body))
        return;
    gw_call call;
    if (api_gateway_call(req, resp, body, endpoint, &call) == 0) {
        app_t *app = api_app(req);
        ratelimit_reservation res;
        if (ratelimit_reserve(app->ratelimit, req, gw_api__estimate(req, body), &res, resp)) {
            if (res.n > 0) {  /* only token rules need the usage back */
                gw_budget *b = xmalloc(sizeof *b);
                b->rl = app->ratelimit;
                b->res = res;
                call.on_usage = gw_api__reconcile;
                call.usage_ud = b;
            }
            gateway_serve(app->gateway, &call, req, resp);
        }  /* else resp holds the 429 */
    }
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
