/*
 * upstream.h - the providers the gateway forwards to: a default upstream
 * (--upstream / RAGD_UPSTREAM_URL, key in RAGD_UPSTREAM_API_KEY) that serves
 * every model, and the config file's "providers": [{name, base_url,
 * api_key_env, models, timeout_ms}] that serve the models they list (a name
 * ending in '*' matches by prefix). Each provider has its circuit breaker.
 */
#ifndef RAGD_GW_UPSTREAM_H
#define RAGD_GW_UPSTREAM_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

#include "app/config.h"
#include "gateway/resilience.h"
#include "util/err.h"

typedef struct gw_provider {
    char *name;
    char *base_url;        /* without a trailing '/' */
    char *api_key;         /* "" when none */
    char **models;
    int nmodels;
    bool all_models;       /* the default upstream */
    int64_t timeout_ms;
    gw_breaker breaker;
} gw_provider;

typedef struct gw_upstreams {
    gw_provider *p;
    int n;
} gw_upstreams;

/* Build the provider list from cfg (default upstream last, so listed models
 * win). A bad "providers" section is an error naming the entry. */
int gw_upstreams_load(const ragd_config *cfg, gw_upstreams *out, ragd_error *err);
void gw_upstreams_free(gw_upstreams *u);

/* The provider serving model, or NULL. Borrowed for the list's life. */
gw_provider *gw_upstreams_route(const gw_upstreams *u, const char *model);

#endif
