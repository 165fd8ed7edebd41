/*
 * ratelimit_apply.c - applying rules: before every handler (request units),
 * around gateway calls (token units: reserve the estimate, reconcile with real
 * usage), and for applications' own keys. A request passes only if every
 * matching rule allows it; units taken by the rules that allowed are given
 * back when a later rule denies, so only requests that went through count.
 * Limiter keys read like rl:<rule>:u=alice:e=/v1/chat/completions.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/ratelimit_int.h"
#include "obs/log.h"
#include "obs/metrics.h"
#include "util/clock.h"
#include "util/fmt.h"
#include "util/hash.h"
#include "util/mem.h"

static bool rl__matches(const rl_rule *r, const http_req *req)
{
    if (r->methods && !(r->methods & req->method))
        return false;
    if (r->nroutes == 0)
        return true;
    for (int i = 0; i < r->nroutes; i++) {
        const char *pat = r->routes[i];
        size_t n = strlen(pat);
        if (n > 1 && pat[n - 1] == '*') {
            if (strncmp(req->path, pat, n - 1) == 0)
                return true;
        } else if ((req->route && auth__route_eq(pat, req->route)) || !strcmp(pat, req->path)) {
            return true;
        }
    }
    return false;
}

/* The rule's limit for the caller's tier; false if the rule does not apply. */
static bool rl__params(const rl_rule *r, const auth_identity *id, store_rl_params *p)
{
    *p = r->p;
    for (int i = 0; i < r->ntiers; i++)
        if (id && !strcmp(r->tiers[i].name, id->tier)) {
            p->limit = r->tiers[i].limit;
            p->burst = r->tiers[i].burst;
            return true;
        }
    return p->limit > 0;
}

static void rl__key(const rl_rule *r, const http_req *req, const auth_identity *id, char *out,
                    size_t n)
{
    buf_t b = BUF_INIT;
    buf_printf(&b, "rl:%s", r->name);
    const char *kid = id ? id->key_id : "anonymous";
    if (r->key_on & RL_ON_KEY)
        buf_printf(&b, ":k=%s", kid);
    if (r->key_on & RL_ON_USER) {
        if (id && id->user_id[0])
            buf_printf(&b, ":u=%s", id->user_id);
        else if (id && id->tenant[0])
            buf_printf(&b, ":u=%s/", id->tenant);
        else
            buf_printf(&b, ":u=key:%s", kid);
    }
    if (r->key_on & RL_ON_ENDPOINT)
        buf_printf(&b, ":e=%s", req->route ? req->route : req->path);
    if (r->key_on & RL_ON_TIER)
        buf_printf(&b, ":t=%s", id ? id->tier : "");
    if (r->key_on & RL_ON_IP) {
        char ip[64];
        http_req_client_ip(req, ip, sizeof ip);
        buf_printf(&b, ":ip=%s", ip);
    }
    if (b.len < n && b.len <= 300) {
        snprintf(out, n, "%s", b.data);
    } else {
        char hex[HASH_SHA256_HEX_LEN + 1];
        hash_sha256_hex(b.data, b.len, hex);
        snprintf(out, n, "rl:%s:h=%s", r->name, hex);
    }
    buf_free(&b);
}

void ratelimit_headers(http_resp *resp, const store_rl_result *r)
{
    char v[FMT_I64_MAX];
    fmt_i64(v, r->limit);
    http_resp_header(resp, "RateLimit-Limit", v);
    fmt_i64(v, r->remaining);
    http_resp_header(resp, "RateLimit-Remaining", v);
    fmt_i64(v, (r->reset_after_ms + 999) / 1000);
    http_resp_header(resp, "RateLimit-Reset", v);
    if (!r->allowed && r->retry_after_ms >= 0) {
        int64_t s = (r->retry_after_ms + 999) / 1000;
        fmt_i64(v, s < 1 ? 1 : s);
        http_resp_header(resp, "Retry-After", v);
    }
}

typedef struct rl_taken {
    int rule;
    char key[STORE_KEY_BUF];
    store_rl_params p;
} rl_taken;

static void rl__refund(ratelimit_t *rl, const rl_taken *t, int n)
{
    for (int i = 0; i < n; i++) {
        store_rl_params p = t[i].p;
        store_rl_result r;
        p.cost = -p.cost;
        p.force = true;
        store_ratelimit(rl->store, t[i].key, strlen(t[i].key), &p, &r);
    }
}

/* A decision the store could not make was let through (fail-open): count it
 * and log it, at most one line per 10 s with the number held back. */
static void rl__fail_open(ratelimit_t *rl, const char *what, int rc)
{
    metrics_inc(&rl->n_fail_open, 1);
    int64_t now = clock_mono_us();
    int64_t last = __atomic_load_n(&rl->fail_open_log_us, __ATOMIC_RELAXED);
    if ((last && now - last < 10 * 1000000LL) ||
        !__atomic_compare_exchange_n(&rl->fail_open_log_us, &last, now, false, __ATOMIC_RELAXED,
                                     __ATOMIC_RELAXED)) {
        __atomic_fetch_add(&rl->fail_open_held, 1, __ATOMIC_RELAXED);
        return;
    }
    uint64_t held = __atomic_exchange_n(&rl->fail_open_held, 0, __ATOMIC_RELAXED);
    log_msg(LOG_WARN, "rate limit %s allowed without a decision (fail-open): store %s; "
            "%llu more since the last line", what, ragd_strerror(rc), (unsigned long long)held);
}

/* Apply the matching rules of one unit. Returns true to go on; on false resp
 * holds a 429 or (fail-closed) 503. taken/ntaken get the limiters charged. */
static bool rl__apply(ratelimit_t *rl, http_req *req, http_resp *resp, bool tokens,
                      int64_t cost, rl_taken *taken, int *ntaken, int max_taken)
{
    const auth_identity *id = auth_identity_of(req);
    store_rl_result tight = { .remaining = INT64_MAX };
    bool any = false;
    *ntaken = 0;
    for (int i = 0; i < rl->nrules; i++) {
        const rl_rule *r = &rl->rules[i];
        store_rl_params p;
        if (r->tokens != tokens || !rl__matches(r, req) || !rl__params(r, id, &p))
            continue;
        if (tokens)
            p.cost = cost;
        char key[STORE_KEY_BUF];
        rl__key(r, req, id, key, sizeof key);
        store_rl_result res;
        int rc = store_ratelimit(rl->store, key, strlen(key), &p, &res);
        if (rc) {
            metrics_inc(&rl->n_store_fail, 1);
            if (!rl->fail_closed) {
                rl__fail_open(rl, r->name, rc);
                continue;
            }
            rl__refund(rl, taken, *ntaken);
            *ntaken = 0;
            http_error(req, resp, 503, "rate_limit_unavailable",
                       "rate limits cannot be checked (%s) and the policy is fail-closed",
                       ragd_strerror(rc));
            return false;
        }
        if (!res.allowed) {
            rl__refund(rl, taken, *ntaken);
            *ntaken = 0;
            metrics_inc(&rl->n_denied, 1);
            http_error(req, resp, 429, "rate_limited",
                       res.retry_after_ms < 0
                           ? "rate limit '%s': a cost of %" PRId64 " can never fit the limit"
                           : "rate limit '%s' exceeded (cost %" PRId64 "); retry later",
                       r->name, p.cost);
            ratelimit_headers(resp, &res);
            return false;
        }
        if (*ntaken < max_taken) {
            taken[*ntaken].rule = i;
            taken[*ntaken].p = p;
            snprintf(taken[*ntaken].key, sizeof taken[*ntaken].key, "%s", key);
            (*ntaken)++;
        }
        if (res.remaining < tight.remaining)
            tight = res;
        any = true;
    }
    if (any) {
        metrics_inc(&rl->n_allowed, 1);
        ratelimit_headers(resp, &tight);
    }
    return true;
}

bool ratelimit_before(ratelimit_t *rl, http_req *req, http_resp *resp)
{
    if (rl->nrules == 0)
        return true;
    rl_taken *taken = xmalloc((size_t)rl->nrules * sizeof *taken);
    int n = 0;
    bool ok = rl__apply(rl, req, resp, false, 0, taken, &n, rl->nrules);
    free(taken);
    return ok;
}

bool ratelimit_reserve(ratelimit_t *rl, http_req *req, int64_t estimate,
                       ratelimit_reservation *res, http_resp *resp)
{
    memset(res, 0, sizeof *res);
    res->estimate = estimate < 0 ? 0 : estimate;
    rl_taken taken[RATELIMIT_MAX_RESERVED];
    int n = 0;
    if (!rl__apply(rl, req, resp, true, res->estimate, taken, &n, RATELIMIT_MAX_RESERVED))
        return false;
    for (int i = 0; i < n; i++) {
        res->items[i].params = taken[i].p;
        snprintf(res->items[i].key, sizeof res->items[i].key, "%s", taken[i].key);
    }
    res->n = n;
    return true;
}

int ratelimit_reconcile(ratelimit_t *rl, const ratelimit_reservation *res, int64_t actual)
{
    int64_t delta = (actual < 0 ? 0 : actual) - res->estimate;
    int rc = 0;
    for (int i = 0; i < res->n && delta != 0; i++) {
        store_rl_params p = res->items[i].params;
        p.cost = delta;
        p.force = true;
        store_rl_result r;
        int src = store_ratelimit(rl->store, res->items[i].key, strlen(res->items[i].key), &p, &r);
        if (src && !rc)
            rc = src;
    }
    return rc;
}

int ratelimit_check(ratelimit_t *rl, const char *key, const store_rl_params *p,
                    store_rl_result *out)
{
    char skey[STORE_KEY_BUF];
    int n = snprintf(skey, sizeof skey, "rl:check:%s", key);
    if (n < 0 || (size_t)n >= sizeof skey)
        return RAGD_ETOOBIG;
    int rc = store_ratelimit(rl->store, skey, (size_t)n, p, out);
    if (rc == RAGD_EUNAVAIL || rc == RAGD_ETIMEOUT || rc == RAGD_EIO) {
        metrics_inc(&rl->n_store_fail, 1);
        if (rl->fail_closed)
            return RAGD_EUNAVAIL;
        rl__fail_open(rl, "check", rc);
        memset(out, 0, sizeof *out);
        out->allowed = true;
        out->limit = p->burst > 0 && p->algo == STORE_RL_GCRA ? p->burst : p->limit;
        out->remaining = out->limit;
        return 0;
    }
    if (rc == 0)
        metrics_inc(out->allowed ? &rl->n_allowed : &rl->n_denied, 1);
    return rc;
}

void ratelimit_metrics_render(ratelimit_t *rl, buf_t *b)
{
    metrics_family(b, "ragd_ratelimit_decisions_total", "counter",
                   "rate-limit decisions (requests through rules and checks)");
    metrics_sample(b, "ragd_ratelimit_decisions_total", "result=\"allowed\"",
                   (double)metrics_load(&rl->n_allowed));
    metrics_sample(b, "ragd_ratelimit_decisions_total", "result=\"denied\"",
                   (double)metrics_load(&rl->n_denied));
    metrics_family(b, "ragd_ratelimit_store_failures_total", "counter",
                   "decisions the store could not make (fail-open allows, fail-closed refuses)");
    metrics_sample(b, "ragd_ratelimit_store_failures_total",
                   rl->fail_closed ? "policy=\"closed\"" : "policy=\"open\"",
                   (double)metrics_load(&rl->n_store_fail));
    metrics_family(b, "ragd_ratelimit_fail_open_total", "counter",
                   "requests allowed because the store could not decide (fail-open policy)");
    metrics_sample(b, "ragd_ratelimit_fail_open_total", NULL,
                   (double)metrics_load(&rl->n_fail_open));
}
