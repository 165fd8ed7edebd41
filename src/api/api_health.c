/*
 * api_health.c - GET /health in the shape the seeds' monitors read:
 * {status: healthy|degraded|unhealthy, models_loaded, database, cache,
 * uptime_seconds}, with the detail (backend, version, outage length) under
 * "details". 200 while ragd serves (healthy or degraded), 503 when unhealthy,
 * so a load balancer takes the instance out only when it cannot serve.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "util/clock.h"

/* How long the store has been unreachable, in seconds (0 when it answers).
 * The outage starts at the first /health that found the store down. */
static int64_t health__outage_s(app_t *app, bool up)
{
    if (up) {
        __atomic_store_n(&app->store_down_since_us, 0, __ATOMIC_RELAXED);
        return 0;
    }
    int64_t now = clock_mono_us(), expected = 0;
    if (__atomic_compare_exchange_n(&app->store_down_since_us, &expected, now, false,
                                    __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        return 0;
    return (now - expected) / 1000000;
}

/* What /health found out about the store. */
typedef struct health_store {
    bool up, full, refusing;
    int64_t outage_s;
    char reason[200]; /* why it is not "ok" */
} health_store;

/* healthy: store and embedding model up; degraded: still serving, but the store
 * is unreachable (lookups are misses), full or refusing writes (READONLY,
 * MASTERDOWN, OOM), or no embedding model is loaded; unhealthy: the store has
 * been unreachable for health_unhealthy_after seconds. */
static const char *health__status(const app_t *app, const health_store *h)
{
    if (!h->up && h->outage_s >= app->cfg.health_unhealthy_after)
        return "unhealthy";
    if (!h->up || h->full || h->refusing || !app->embed)
        return "degraded";
    return "healthy";
}

static void health__probe(app_t *app, health_store *h)
{
    int prc = store_ping(app->store);
    h->full = prc == RAGD_EFULL;
    h->up = prc == 0 || h->full;
    h->outage_s = health__outage_s(app, h->up);
    h->reason[0] = '\0';
    h->refusing = h->up && store_refusing_writes(app->store, h->reason, sizeof h->reason);
    if (!h->up)
        snprintf(h->reason, sizeof h->reason, "%s unreachable",
                 store_has(app->store, STORE_CAP_SHARED) ? "Redis master" : "store");
    else if (h->full && !h->refusing)
        snprintf(h->reason, sizeof h->reason, "store full: writes refused");
}

static const char *health__db_status(const health_store *h)
{
    return !h->up ? "unavailable" : h->full ? "full" : h->refusing ? "refusing_writes" : "ok";
}

static cJSON *health__details(app_t *app, const health_store *h)
{
    bool up = h->up;
    cJSON *d = cJSON_CreateObject();
    cJSON_AddStringToObject(d, "version", RAGD_VERSION);
    cJSON *db = cJSON_AddObjectToObject(d, "database");
    cJSON_AddStringToObject(db, "backend", store_backend_name(app->store));
    cJSON_AddStringToObject(db, "status", health__db_status(h));
    if (h->reason[0])
        cJSON_AddStringToObject(db, "reason", h->reason);
    cJSON_AddNumberToObject(db, "outage_seconds", (double)h->outage_s);
    cJSON *cache = cJSON_AddObjectToObject(d, "cache");
    cJSON_AddStringToObject(cache, "status", up ? "ok" : "degraded");
    cJSON *emb = cJSON_AddObjectToObject(d, "embedding");
    cJSON_AddStringToObject(emb, "status", app->embed ? "ok" : "unavailable");
    if (app->embed)
        cJSON_AddNumberToObject(emb, "dimension", (double)embed_model_dim(app->embed));
    return d;
}

static void health__get(http_req *req, http_resp *resp)
{
    app_t *app = api_app(req);
    health_store h;
    health__probe(app, &h);
    bool up = h.up;
    const char *status = health__status(app, &h);
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "status", status);
    cJSON *models = cJSON_AddArrayToObject(out, "models_loaded");
    if (app->embed)
        cJSON_AddItemToArray(models, cJSON_CreateString(embed_model_name(app->embed)));
    cJSON_AddStringToObject(out, "database", up ? "connected" : "disconnected");
    cJSON_AddStringToObject(out, "cache", up ? "connected" : "disconnected");
    cJSON_AddNumberToObject(out, "uptime_seconds", (double)app_uptime_s(app));
    cJSON_AddStringToObject(out, "version", RAGD_VERSION);
    cJSON_AddItemToObject(out, "details", health__details(app, &h));
    api_reply_json(resp, strcmp(status, "unhealthy") ? 200 : 503, out);
    cJSON_Delete(out);
}

void api_health_register(router_t *r)
{
    router_add(r, HTTP_GET | HTTP_HEAD, "/health", health__get);
}
