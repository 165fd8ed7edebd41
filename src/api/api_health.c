/*
 * api_health.c - GET /health in the shape the seeds' monitors read:
 * {status: healthy|degraded|unhealthy, models_loaded, database, cache,
 * uptime_seconds}, with the detail (backend, version, outage length) under
 * "details". 200 while ragd serves (healthy or degraded), 503 when unhealthy,
 * so a load balancer takes the instance out only when it cannot serve.
 */
#include <stdbool.h>
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

/* healthy: store and embedding model up; degraded: still serving, but the store
 * is unreachable (lookups are misses) or full (writes refused), or no embedding
 * model is loaded; unhealthy: the store has been unreachable for
 * health_unhealthy_after seconds. */
static const char *health__status(const app_t *app, bool up, bool full, int64_t outage_s)
{
    if (!up && outage_s >= app->cfg.health_unhealthy_after)
        return "unhealthy";
    if (!up || full || !app->embed)
        return "degraded";
    return "healthy";
}

/* The embedding precision in effect, its kernels and, when it was chosen by
 * measurement at start (embed_precision = auto), what was measured. */
static void health__precision(cJSON *emb, const embed_model *m)
{
    const embed_precision_choice *ch = embed_model_precision_choice(m);
    cJSON_AddStringToObject(emb, "precision", embed_precision_name(embed_model_precision(m)));
    cJSON_AddStringToObject(emb, "kernel", embed_model_kernel(m));
    cJSON_AddStringToObject(emb, "precision_chosen_by", ch->measured ? "measurement" : "setting");
    if (!ch->measured)
        return;
    cJSON *ms = cJSON_AddObjectToObject(emb, "precision_measurement");
    cJSON_AddNumberToObject(ms, "probe_texts", (double)ch->probe_texts);
    cJSON_AddNumberToObject(ms, "probe_tokens", (double)ch->probe_tokens);
    cJSON_AddNumberToObject(ms, "startup_ms", ch->total_ms);
    cJSON *cands = cJSON_AddArrayToObject(ms, "candidates");
    for (size_t i = 0; i < ch->ntrials; i++) {
        cJSON *c = cJSON_CreateObject();
        cJSON_AddStringToObject(c, "precision", embed_precision_name(ch->trial[i].precision));
        cJSON_AddStringToObject(c, "kernel", ch->trial[i].kernel);
        cJSON_AddNumberToObject(c, "min_cosine", ch->trial[i].min_cosine);
        cJSON_AddNumberToObject(c, "cpu_ms", ch->trial[i].cpu_ms);
        cJSON_AddBoolToObject(c, "passed", ch->trial[i].passed);
        cJSON_AddItemToArray(cands, c);
    }
}

static cJSON *health__details(app_t *app, bool up, bool full, int64_t outage_s)
{
    cJSON *d = cJSON_CreateObject();
    cJSON_AddStringToObject(d, "version", RAGD_VERSION);
    cJSON *db = cJSON_AddObjectToObject(d, "database");
    cJSON_AddStringToObject(db, "backend", store_backend_name(app->store));
    cJSON_AddStringToObject(db, "status", !up ? "unavailable" : full ? "full" : "ok");
    cJSON_AddNumberToObject(db, "outage_seconds", (double)outage_s);
    cJSON *cache = cJSON_AddObjectToObject(d, "cache");
    cJSON_AddStringToObject(cache, "status", up ? "ok" : "degraded");
    cJSON *emb = cJSON_AddObjectToObject(d, "embedding");
    cJSON_AddStringToObject(emb, "status", app->embed ? "ok" : "unavailable");
    if (app->embed) {
        cJSON_AddNumberToObject(emb, "dimension", (double)embed_model_dim(app->embed));
        health__precision(emb, app->embed);
    }
    return d;
}

static void health__get(http_req *req, http_resp *resp)
{
    app_t *app = api_app(req);
    int prc = store_ping(app->store);
    bool full = prc == RAGD_EFULL, up = prc == 0 || full;
    int64_t outage_s = health__outage_s(app, up);
    const char *status = health__status(app, up, full, outage_s);
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "status", status);
    cJSON *models = cJSON_AddArrayToObject(out, "models_loaded");
    if (app->embed)
        cJSON_AddItemToArray(models, cJSON_CreateString(embed_model_name(app->embed)));
    cJSON_AddStringToObject(out, "database", up ? "connected" : "disconnected");
    cJSON_AddStringToObject(out, "cache", up ? "connected" : "disconnected");
    cJSON_AddNumberToObject(out, "uptime_seconds", (double)app_uptime_s(app));
    cJSON_AddStringToObject(out, "version", RAGD_VERSION);
    cJSON_AddItemToObject(out, "details", health__details(app, up, full, outage_s));
    api_reply_json(resp, strcmp(status, "unhealthy") ? 200 : 503, out);
    cJSON_Delete(out);
}

void api_health_register(router_t *r)
{
    router_add(r, HTTP_GET | HTTP_HEAD, "/health", health__get);
}
