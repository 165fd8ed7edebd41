/*
 * upstream.h - the providers the gateway forwards to: a default upstream
 * (--upstream / RAGD_UPSTREAM_URL, key in RAGD_UPSTREAM_API_KEY) that serves
 * every model, and the config file's "providers": [{name, base_url,
 * api_key_env, models, timeout_ms, dimensions}] that serve the models they
 * list (a name ending in '*' matches by prefix; "dimensions" gives the vector
 * size of embedding models). Each provider has its circuit breaker.
 */
#ifndef RAGD_GW_UPSTREAM_H
#define RAGD_GW_UPSTREAM_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

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
    cJSON *dims;           /* "dimensions": {model: n} of its embedding models, or NULL */
    gw_breaker breaker;
} gw_provider;

typedef struct gw_upstreams {
    gw_provider *p;
    int n;
} gw_upstreams;

/* What the provider list is built from; strings and the section are borrowed
 * for the call only (gw_upstreams_load copies what it keeps). */
typedef struct gw_upstream_opts {
    const char *default_url;       /* the default upstream; NULL/"" = none */
    const char *default_api_key;   /* its key; NULL/"" = none */
    int64_t timeout_ms;            /* call timeout (a provider's timeout_ms wins) */
    int breaker_failures;          /* consecutive failures that open a circuit */
    int64_t breaker_cooldown_ms;   /* open circuit time before a probe */
    const cJSON *providers;        /* the config file's "providers"; NULL = none */
} gw_upstream_opts;

/* Build the provider list from o (default upstream last, so listed models
 * win). A bad "providers" section is an error naming the entry. */
int gw_upstreams_load(const gw_upstream_opts *o, gw_upstreams *out, ragd_error *err);
void gw_upstreams_free(gw_upstreams *u);

/* The provider serving model, or NULL. Borrowed for the list's life. */
gw_provider *gw_upstreams_route(const gw_upstreams *u, const char *model);

#endif
