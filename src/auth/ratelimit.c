/*
 * ratelimit.c - rate-limit rules from the config file's "rate_limits"
 * section, e.g.
 *   {"name": "chat", "algorithm": "gcra", "window": "1m", "limit": 20,
 *    "tiers": {"premium": {"limit": 200, "burst": 50}}, "key_on": ["user"],
 *    "routes": ["/v1/chat/completions"], "methods": ["POST"], "unit": "requests"}
 * and the limiter's life cycle. Applying rules lives in ratelimit_apply.c.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/ratelimit_int.h"
#include "util/json.h"
#include "util/mem.h"

int ratelimit_algo_parse(const char *name)
{
    if (!name)
        return 0;
    if (!strcmp(name, "fixed") || !strcmp(name, "fixed_window"))
        return STORE_RL_FIXED;
    if (!strcmp(name, "sliding") || !strcmp(name, "sliding_window"))
        return STORE_RL_SLIDING;
    if (!strcmp(name, "gcra") || !strcmp(name, "token_bucket"))
        return STORE_RL_GCRA;
    return 0;
}

/* A window: a number of seconds, or text such as "500ms", "30s", "1m", "1h", "1d". */
int ratelimit_window_parse(const cJSON *v, int64_t *ms)
{
    if (cJSON_IsNumber(v)) {
        if (!(v->valuedouble > 0 && v->valuedouble <= 315360000))
            return RAGD_EINVAL;
        *ms = (int64_t)ceil(v->valuedouble * 1000);
        return 0;
    }
    if (!cJSON_IsString(v))
        return RAGD_EINVAL;
    char *end;
    double n = strtod(v->valuestring, &end);
    double mul = !strcmp(end, "ms") ? 1 : !strcmp(end, "s") || !*end ? 1000
               : !strcmp(end, "m") || !strcmp(end, "min") ? 60000
               : !strcmp(end, "h") ? 3600000 : !strcmp(end, "d") ? 86400000 : -1;
    /* written so that NaN ("nan") and infinities fail too */
    if (end == v->valuestring || mul < 0 || !(n * mul >= 1 && n * mul <= 315360000000.0))
        return RAGD_EINVAL;
    *ms = (int64_t)(n * mul);
    return 0;
}

static int rl__key_on(const cJSON *arr, unsigned *out)
{
    static const struct { const char *name; unsigned bit; } map[] = {
        { "key", RL_ON_KEY }, { "user", RL_ON_USER }, { "endpoint", RL_ON_ENDPOINT },
        { "tier", RL_ON_TIER }, { "ip", RL_ON_IP },
    };
    *out = 0;
    if (!arr) {
        *out = RL_ON_USER;
        return 0;
    }
    if (!cJSON_IsArray(arr))
        return -1;
    for (const cJSON *it = arr->child; it; it = it->next) {
        unsigned bit = 0;
        for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
            if (cJSON_IsString(it) && !strcmp(it->valuestring, map[i].name))
                bit = map[i].bit;
        if (!bit)
            return -1;
        *out |= bit;
    }
    return 0;
}

static int rl__methods(const cJSON *arr, int *out)
{
    static const struct { const char *name; int bit; } map[] = {
        { "GET", HTTP_GET }, { "HEAD", HTTP_HEAD }, { "POST", HTTP_POST }, { "PUT", HTTP_PUT },
        { "PATCH", HTTP_PATCH }, { "DELETE", HTTP_DELETE },
    };
    *out = 0;
    if (!arr)
        return 0;
    if (!cJSON_IsArray(arr))
        return -1;
    for (const cJSON *it = arr->child; it; it = it->next) {
        int bit = 0;
        for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
            if (cJSON_IsString(it) && !strcasecmp(it->valuestring, map[i].name))
                bit = map[i].bit;
        if (!bit)
            return -1;
        *out |= bit;
    }
    return 0;
}

static int rl__tiers(const cJSON *obj, rl_rule *r, ragd_error *err, int index)
{
    if (!obj)
        return 0;
    if (!cJSON_IsObject(obj))
        return ragd_error_set(err, RAGD_EINVAL, "rate_limits[%d].tiers: an object", index);
    for (const cJSON *it = obj->child; it; it = it->next) {
        rl_tier t = { .limit = 0, .burst = 0 };
        if (!auth_user_id_valid(it->string) || strlen(it->string) > AUTH_TIER_MAX)
            return ragd_error_set(err, RAGD_EINVAL, "rate_limits[%d].tiers: bad tier name",
                                  index);
        snprintf(t.name, sizeof t.name, "%s", it->string);
        if (cJSON_IsNumber(it)) {
            t.limit = it->valuedouble >= 1 && it->valuedouble <= 1e12 ? (int64_t)it->valuedouble : 0;
        } else if (cJSON_IsObject(it)) {
            json_get_int(it, "limit", 1, 1000000000000, &t.limit);
            json_get_int(it, "burst", 0, 1000000000000, &t.burst);
        }
        if (t.limit < 1)
            return ragd_error_set(err, RAGD_EINVAL,
                                  "rate_limits[%d].tiers.%s: a limit >= 1 (a number or "
                                  "{\"limit\", \"burst\"})", index, it->string);
        r->tiers = xrealloc(r->tiers, (size_t)(r->ntiers + 1) * sizeof *r->tiers);
        r->tiers[r->ntiers++] = t;
    }
    return 0;
}

static int rl__routes(const cJSON *arr, rl_rule *r)
{
    if (!arr)
        return 0;
    if (!cJSON_IsArray(arr))
        return -1;
    for (const cJSON *it = arr->child; it; it = it->next) {
        if (!cJSON_IsString(it) || it->valuestring[0] != '/')
            return -1;
        r->routes = xrealloc(r->routes, (size_t)(r->nroutes + 1) * sizeof(char *));
        r->routes[r->nroutes++] = xstrdup(it->valuestring);
    }
    return 0;
}

void rl__rule_free(rl_rule *r)
{
    for (int i = 0; i < r->nroutes; i++)
        free(r->routes[i]);
    free(r->routes);
    free(r->tiers);
}

int rl__rule_parse(const cJSON *o, int index, rl_rule *r, ragd_error *err)
{
    memset(r, 0, sizeof *r);
    if (!cJSON_IsObject(o))
        return ragd_error_set(err, RAGD_EINVAL, "rate_limits[%d]: must be an object", index);
    const char *name = json_get_str(o, "name");
    if (name && (!auth_user_id_valid(name) || strlen(name) > 48 || strchr(name, '|')))
        return ragd_error_set(err, RAGD_EINVAL, "rate_limits[%d].name: 1-48 of [A-Za-z0-9_.@+-]",
                              index);
    snprintf(r->name, sizeof r->name, "%s", name ? name : "");
    if (!name)
        snprintf(r->name, sizeof r->name, "rule%d", index);
    const char *algo = json_get_str(o, "algorithm");
    r->p.algo = algo ? ratelimit_algo_parse(algo) : STORE_RL_GCRA;
    if (!r->p.algo)
        return ragd_error_set(err, RAGD_EINVAL, "rate_limits[%d].algorithm: fixed_window, "
                              "sliding_window or gcra (token_bucket)", index);
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(o, "window");
    if (ratelimit_window_parse(w, &r->p.window_ms))
        return ragd_error_set(err, RAGD_EINVAL, "rate_limits[%d].window: seconds, or \"500ms\", "
                              "\"30s\", \"1m\", \"1h\", \"1d\"", index);
    if (json_get_int(o, "limit", 1, 1000000000000, &r->p.limit) == RAGD_EINVAL ||
        json_get_int(o, "burst", 0, 1000000000000, &r->p.burst) == RAGD_EINVAL)
        return ragd_error_set(err, RAGD_EINVAL, "rate_limits[%d]: limit >= 1, burst >= 0", index);
    r->p.cost = 1;
    if (json_get_int(o, "cost", 1, 1000000, &r->p.cost) == RAGD_EINVAL)
        return ragd_error_set(err, RAGD_EINVAL, "rate_limits[%d].cost: an integer >= 1", index);
    const char *unit = json_get_str(o, "unit");
    if (unit && strcmp(unit, "requests") && strcmp(unit, "tokens"))
        return ragd_error_set(err, RAGD_EINVAL, "rate_limits[%d].unit: requests or tokens", index);
    r->tokens = unit && !strcmp(unit, "tokens");
    int rc = rl__tiers(cJSON_GetObjectItemCaseSensitive(o, "tiers"), r, err, index);
    if (rc)
        return rc;
    if (r->p.limit == 0 && r->ntiers == 0)
        return ragd_error_set(err, RAGD_EINVAL, "rate_limits[%d]: give a limit or tiers", index);
    if (rl__key_on(cJSON_GetObjectItemCaseSensitive(o, "key_on"), &r->key_on))
        return ragd_error_set(err, RAGD_EINVAL, "rate_limits[%d].key_on: some of key, user, "
                              "endpoint, tier, ip", index);
    if (rl__methods(cJSON_GetObjectItemCaseSensitive(o, "methods"), &r->methods))
        return ragd_error_set(err, RAGD_EINVAL, "rate_limits[%d].methods: HTTP methods", index);
    if (rl__routes(cJSON_GetObjectItemCaseSensitive(o, "routes"), r))
        return ragd_error_set(err, RAGD_EINVAL, "rate_limits[%d].routes: route patterns or path "
                              "prefixes ending in '*', starting with '/'", index);
    return 0;
}

int ratelimit_create(const ratelimit_opts *o, store_t *store, ratelimit_t **out,
                     ragd_error *err)
{
    ratelimit_t *rl = xcalloc(1, sizeof *rl);
    rl->store = store;
    rl->fail_closed = o->fail_closed;
    const cJSON *sec = o->rules;
    const cJSON *rules = cJSON_IsObject(sec) ? json_get_arr(sec, "rules") : sec;
    int rc = 0;
    if (sec && !cJSON_IsArray(rules))
        rc = ragd_error_set(err, RAGD_EINVAL, "rate_limits: an array of rules or {\"rules\": [...]}");
    int i = 0;
    for (const cJSON *it = rc ? NULL : rules ? rules->child : NULL; it; it = it->next, i++) {
        rl->rules = xrealloc(rl->rules, (size_t)(rl->nrules + 1) * sizeof *rl->rules);
        rc = rl__rule_parse(it, i, &rl->rules[rl->nrules], err);
        rl->nrules++;
        for (int j = 0; rc == 0 && j < rl->nrules - 1; j++)
            if (!strcmp(rl->rules[j].name, rl->rules[rl->nrules - 1].name))
                rc = ragd_error_set(err, RAGD_EINVAL, "rate_limits[%d]: name '%s' is used twice",
                                    i, rl->rules[j].name);
        if (rc)
            break;
    }
    if (rc) {
        ratelimit_destroy(rl);
        return rc;
    }
    *out = rl;
    return 0;
}

void ratelimit_destroy(ratelimit_t *rl)
{
    if (!rl)
        return;
    for (int i = 0; i < rl->nrules; i++)
        rl__rule_free(&rl->rules[i]);
    free(rl->rules);
    free(rl);
}

int ratelimit_rule_count(const ratelimit_t *rl)
{
    return rl->nrules;
}
