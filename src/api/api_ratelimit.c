/*
 * api_ratelimit.c - rate limits for applications' own endpoints:
 *   POST /api/v1/ratelimit/check {key, limit, window, cost?, algorithm?, burst?, user_id?}
 *   -> {allowed, remaining, reset_after, retry_after, limit, algorithm}
 * window is seconds (or "30s", "1m", "500ms"); algorithm fixed_window (default,
 * what INCR+EXPIRE counts), sliding_window or gcra / token_bucket. A user-bound
 * caller's keys live in its own namespace (u:<user>:<key>), so users cannot
 * drain each other's limits; a shared key starting with "u:" is refused.
 * RateLimit-* headers describe the decision.
 */
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "util/json.h"

static bool rl_api__key_ok(const char *k)
{
    size_t n = k ? strlen(k) : 0;
    if (n == 0 || n > 256)
        return false;
    for (; *k; k++)
        if ((unsigned char)*k < 0x20 || *k == 0x7f)
            return false;
    return true;
}

static void rl_api__check(http_req *req, http_resp *resp)
{
    cJSON *body;
    if (!api_parse_object(req, resp, &body))
        return;
    const char *key = json_get_str(body, "key");
    const char *algo = json_get_str(body, "algorithm");
    store_rl_params p = { .algo = algo ? ratelimit_algo_parse(algo) : STORE_RL_FIXED, .cost = 1 };
    char ns[AUTH_ID_MAX * 2 + 8], full[600];
    if (!rl_api__key_ok(key)) {
        http_error(req, resp, 400, "invalid_request",
                   "'key' must be 1-256 characters without control characters");
    } else if (!p.algo) {
        http_error(req, resp, 400, "invalid_request", "'algorithm' must be fixed_window, "
                   "sliding_window, gcra or token_bucket");
    } else if (!cJSON_GetObjectItemCaseSensitive(body, "limit")) {
        http_error(req, resp, 400, "invalid_request", "'limit' is required");
    } else if (!api_get_count(req, resp, body, "limit", 1, 1000000000000, &p.limit)) {
        /* resp holds the error */
    } else if (ratelimit_window_parse(cJSON_GetObjectItemCaseSensitive(body, "window"), &p.window_ms)) {
        http_error(req, resp, 400, "invalid_request",
                   "'window' must be seconds (> 0) or a duration such as \"30s\", \"1m\"");
    } else if (!api_get_count(req, resp, body, "cost", 0, 1000000000000, &p.cost) ||
               !api_get_count(req, resp, body, "burst", 0, 1000000000000, &p.burst)) {
        /* resp holds the error */
    } else if (auth_user_namespace(req, json_get_str(body, "user_id"), ns, sizeof ns, resp) &&
               auth_shared_key_ok(req, ns, key, resp)) {
        snprintf(full, sizeof full, "%s%s", ns, key);
        store_rl_result r;
        int rc = ratelimit_check(api_app(req)->ratelimit, full, &p, &r);
        if (rc) {
            api_error_rc(req, resp, rc, "the limit could not be checked: %s", ragd_strerror(rc));
        } else {
            cJSON *out = cJSON_CreateObject();
            cJSON_AddBoolToObject(out, "allowed", r.allowed);
            cJSON_AddNumberToObject(out, "remaining", (double)r.remaining);
            cJSON_AddNumberToObject(out, "reset_after", (double)r.reset_after_ms / 1000.0);
            cJSON_AddNumberToObject(out, "retry_after", (double)r.retry_after_ms / 1000.0);
            cJSON_AddNumberToObject(out, "limit", (double)r.limit);
            cJSON_AddStringToObject(out, "algorithm", p.algo == STORE_RL_FIXED ? "fixed_window"
                                    : p.algo == STORE_RL_SLIDING ? "sliding_window" : "gcra");
            ratelimit_headers(resp, &r);
            api_reply_json(resp, 200, out);
            cJSON_Delete(out);
        }
    }
    cJSON_Delete(body);
}

void api_ratelimit_register(router_t *r)
{
    router_add(r, HTTP_POST, "/api/v1/ratelimit/check", rl_api__check);
}
