/*
 * ratelimit_int.h - private to src/auth/ratelimit*.c: parsed rules and the
 * limiter handle.
 */
#ifndef RAGD_RATELIMIT_INT_H
#define RAGD_RATELIMIT_INT_H

#include "auth/auth_int.h"
#include "auth/ratelimit.h"

enum { RL_ON_KEY = 1, RL_ON_USER = 2, RL_ON_ENDPOINT = 4, RL_ON_TIER = 8, RL_ON_IP = 16 };

typedef struct rl_tier {
    char name[AUTH_TIER_MAX + 1];
    int64_t limit, burst;
} rl_tier;

typedef struct rl_rule {
    char name[49];
    store_rl_params p;     /* algo, window, cost; limit/burst = the default (limit 0: none) */
    unsigned key_on;       /* RL_ON_* */
    char **routes;         /* route patterns, or path prefixes ending in '*'; none = all */
    int nroutes;
    int methods;           /* HTTP_* mask; 0 = all */
    rl_tier *tiers;
    int ntiers;
    bool tokens;           /* unit: tokens (gateway reservations) instead of requests */
} rl_rule;

struct ratelimit {
    store_t *store;
    rl_rule *rules;
    int nrules;
    bool fail_closed;
    uint64_t n_allowed, n_denied, n_store_fail; /* counters (atomic only) */
    uint64_t n_fail_open;       /* requests let through because the store failed (atomic) */
    int64_t fail_open_log_us;   /* last fail-open log line (atomic); one per 10 s */
    uint64_t fail_open_held;    /* fail-open lines held back since (atomic) */
};

/* Parse one rule object into r (ratelimit.c). */
int rl__rule_parse(const cJSON *o, int index, rl_rule *r, ragd_error *err);
void rl__rule_free(rl_rule *r);

#endif
