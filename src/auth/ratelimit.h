/*
 * ratelimit.h - rate limits for every route and for applications' own
 * endpoints. Rules come from the config file's "rate_limits" section; each
 * names an algorithm (fixed window, sliding window, GCRA), a limit per window
 * (per tier if it likes), a burst, the routes it covers, what it keys on (API
 * key, user, endpoint, tier, client IP) and its unit: requests (checked before
 * the handler by ratelimit_before) or tokens (checked by the gateway through
 * ratelimit_reserve / ratelimit_reconcile). Decisions are atomic in the store
 * (store_ratelimit), so limits hold across threads and across instances that
 * share one Redis. When the store is down the configured policy applies:
 * fail-open (allow, counted in ragd_ratelimit_store_failures_total) or
 * fail-closed (503).
 */
#ifndef RAGD_RATELIMIT_H
#define RAGD_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "http/http.h"
#include "store/store.h"
#include "util/buf.h"

typedef struct ratelimit ratelimit_t;

/* What the rate limiter is built from; borrowed for ratelimit_create only. */
typedef struct ratelimit_opts {
    bool fail_closed;     /* store down: refuse (503) instead of allowing */
    const cJSON *rules;   /* the config file's "rate_limits" (an array of rules,
                             or {"rules": [...]}); NULL = none */
} ratelimit_opts;

/* Parse o->rules. err names the bad rule. The store is borrowed. Caller owns
 * *out. */
int ratelimit_create(const ratelimit_opts *o, store_t *store, ratelimit_t **out,
                     ragd_error *err);
void ratelimit_destroy(ratelimit_t *rl);

/* Number of configured rules. */
int ratelimit_rule_count(const ratelimit_t *rl);

/* The server's before-hook (after auth_before): apply every request-unit rule
 * that matches the route, method and the caller's tier. Adds RateLimit-Limit,
 * RateLimit-Remaining and RateLimit-Reset for the tightest rule; on a denial
 * fills resp with 429 "rate_limited" and Retry-After and returns false (the
 * units taken by rules that allowed are given back). Thread-safe. */
bool ratelimit_before(ratelimit_t *rl, http_req *req, http_resp *resp);

#define RATELIMIT_MAX_RESERVED 8

/* Units reserved by ratelimit_reserve, to be reconciled once. Plain data. */
typedef struct ratelimit_reservation {
    int n;
    int64_t estimate;
    struct {
        store_rl_params params;   /* the rule's parameters for this caller */
        char key[STORE_KEY_BUF];  /* the limiter's store key */
    } items[RATELIMIT_MAX_RESERVED];
} ratelimit_reservation;

/* Reserve `estimate` units (e.g. prompt tokens + max_tokens) on every
 * token-unit rule matching the request. true: go ahead (res filled, headers
 * added to resp); false: resp holds the 429 (nothing stays reserved).
 * Thread-safe. A request that no token rule matches gets res->n == 0. */
bool ratelimit_reserve(ratelimit_t *rl, http_req *req, int64_t estimate,
                       ratelimit_reservation *res, http_resp *resp);

/* After the call: charge actual - estimate (a refund when negative) to the
 * reserved limiters, whatever their state. Returns 0 or a RAGD_E* code (store
 * down: the reservation simply stands). Thread-safe. */
int ratelimit_reconcile(ratelimit_t *rl, const ratelimit_reservation *res, int64_t actual);

/* One decision for an application's own key (POST /api/v1/ratelimit/check):
 * key is stored as rl:check:<key>. Store failures follow the failure policy:
 * fail-open returns 0 with an allowed result, fail-closed RAGD_EUNAVAIL. */
int ratelimit_check(ratelimit_t *rl, const char *key, const store_rl_params *p,
                    store_rl_result *out);

/* "fixed" | "fixed_window", "sliding" | "sliding_window", "gcra" |
 * "token_bucket" -> enum store_rl_algo; 0 if unknown. */
int ratelimit_algo_parse(const char *name);

/* A window: seconds (a number) or "500ms", "30s", "1m"/"1min", "1h", "1d",
 * up to ten years. 0, or RAGD_EINVAL (*ms untouched). */
int ratelimit_window_parse(const cJSON *v, int64_t *ms);

/* Set RateLimit-* headers (and Retry-After on a denial) from a result. */
void ratelimit_headers(http_resp *resp, const store_rl_result *r);

/* Append ragd_ratelimit_* metrics. Thread-safe. */
void ratelimit_metrics_render(ratelimit_t *rl, buf_t *b);

#endif
