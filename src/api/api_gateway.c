/*
 * api_gateway.c - the OpenAI-compatible routes: POST /v1/chat/completions,
 * POST /v1/completions and GET /v1/models. Reads the gateway's request
 * headers (Cache-Control no-cache/no-store, x-ragd-cache-ttl,
 * x-ragd-cache-scope, the caller's identity) and LiteLLM's body field `cache`
 * (taken out of the body before it is keyed or forwarded), and hands the call
 * to gateway/.
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
#include "util/arena.h"
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

/* The members of LiteLLM's `cache` object; on false msg says what is wrong. */
static bool gw_api__litellm_fields(const cJSON *c, gw_call *call, char *msg, size_t n)
{
    bool no_cache = false, no_store = false;
    int64_t ttl = -1, age = -1;
    const cJSON *ns = cJSON_GetObjectItemCaseSensitive(c, "namespace");
    const char *age_name = cJSON_GetObjectItemCaseSensitive(c, "s-max-age") ? "s-max-age"
                                                                            : "s-maxage";
    if (json_get_bool(c, "no-cache", &no_cache) == RAGD_EINVAL ||
        json_get_bool(c, "no-store", &no_store) == RAGD_EINVAL) {
        snprintf(msg, n, "'cache.no-cache' and 'cache.no-store' must be booleans");
        return false;
    }
    if (json_get_int(c, "ttl", 1, 315360000, &ttl) == RAGD_EINVAL ||
        json_get_int(c, age_name, 0, 315360000, &age) == RAGD_EINVAL) {
        snprintf(msg, n, "'cache.ttl' must be an integer number of seconds >= 1 and "
                 "'cache.s-maxage' one >= 0");
        return false;
    }
    size_t used = strlen(call->scope);
    if (ns && (!cJSON_IsString(ns) || !*ns->valuestring || strlen(ns->valuestring) > 128 ||
               strpbrk(ns->valuestring, "\r\n") || used + 4 + strlen(ns->valuestring) >=
               sizeof call->scope)) {
        snprintf(msg, n, "'cache.namespace' must be a non-empty string of at most 128 bytes");
        return false;
    }
    call->no_cache |= no_cache || age == 0;
    call->no_store |= no_store;
    if (ttl > 0)
        call->ttl_s = ttl;
    if (age > 0)
        call->max_age_s = age;
    if (ns)
        snprintf(call->scope + used, sizeof call->scope - used, "|ns:%s", ns->valuestring);
    return true;
}

/* LiteLLM's per-request cache controls, body field `cache`: {"no-cache": skip
 * the lookup, "no-store": skip the write, "ttl": seconds to keep the answer,
 * "s-maxage": serve only a hit at most this old, "namespace": a separate
 * cache}. The field leaves the body (it is never keyed nor forwarded): the
 * bytes sent upstream are re-rendered into the request's arena. */
static int gw_api__litellm_cache(http_req *req, http_resp *resp, cJSON *body, gw_call *call)
{
    cJSON *c = cJSON_DetachItemFromObjectCaseSensitive(body, "cache");
    if (!c)
        return RAGD_OK;
    char msg[160];
    bool ok = cJSON_IsObject(c) ? gw_api__litellm_fields(c, call, msg, sizeof msg)
                                : (snprintf(msg, sizeof msg, "'cache' must be an object"), false);
    cJSON_Delete(c);
    if (!ok) {
        http_error(req, resp, 400, "invalid_cache_control", "%s", msg);
        return RAGD_EINVAL;
    }
    buf_t b = BUF_INIT;
    json_write(body, &b);
    char *raw = arena_alloc(req->arena, b.len + 1);
    memcpy(raw, b.data, b.len);
    raw[b.len] = '\0';
    call->raw = raw;
    call->raw_len = b.len;
    buf_free(&b);
    return RAGD_OK;
}

int api_gateway_call(http_req *req, http_resp *resp, cJSON *body, int endpoint, gw_call *call)
{
    memset(call, 0, sizeof *call);
    call->endpoint = endpoint;
    call->body = body;
    call->raw = req->body;
    call->raw_len = req->body_len;
    call->ttl_s = -1;
    call->max_age_s = -1;
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
    return gw_api__litellm_cache(req, resp, body, call);
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

/* GET /v1/models: the local embedding model and re-ranker, then the upstreams'. */
static void gw_api__models(http_req *req, http_resp *resp)
{
    app_t *app = api_app(req);
    const char *local[2];
    size_t n = 0;
    if (app->embed)
        local[n++] = embed_model_name(app->embed);
    if (app->rerank && rerank_ready(app->rerank))
        local[n++] = rerank_model_name(app->rerank);
    gateway_models(app->gateway, local, n, req, resp);
}

void api_gateway_register(router_t *r)
{
    router_add(r, HTTP_POST, "/v1/chat/completions", gw_api__chat);
    router_add(r, HTTP_POST, "/v1/completions", gw_api__completions);
    router_add(r, HTTP_GET, "/v1/models", gw_api__models);
}
