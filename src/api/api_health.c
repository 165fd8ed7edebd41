/*
 * api_health.c - GET /health in the shape the seeds' monitors read:
 * {status: healthy|degraded|unhealthy, models_loaded, database, cache,
 * uptime_seconds}, with the detail (backend, version, outage length, why the
 * store is impaired, replication) under "details". 200 while ragd serves
 * (healthy or degraded), 503 when unhealthy, so a load balancer takes the
 * instance out only when it cannot serve.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "gateway/gateway.h"
#include "gateway/sem_log.h"
#include "gateway/semantic.h"
#include "util/clock.h"
#include "util/mem.h"

/* The follower's view of one log into *out; false when it is not followed. */
static bool health__log_info(app_t *app, const char *log, repl_log_info *out)
{
    if (!app->repl)
        return false;
    size_t n = repl_logs_get(app->repl, NULL, 0) + 8, got;
    repl_log_info *all = xcalloc(n, sizeof *all);
    got = repl_logs_get(app->repl, all, n);
    bool found = false;
    for (size_t i = 0; i < got && i < n && !found; i++) {
        if (strcmp(all[i].log, log) == 0) {
            *out = all[i];
            found = true;
        }
    }
    free(all);
    return found;
}

/* The semantic cache's index and how far its follower is behind. */
static void health__semantic(app_t *app, cJSON *d)
{
    cJSON *o = cJSON_AddObjectToObject(d, "semantic_cache");
    gw_semantic *sem = app->gateway ? gateway_semantic(app->gateway) : NULL;
    cJSON_AddStringToObject(o, "status", sem ? "ok" : "off");
    if (!sem)
        return;
    gw_semantic_stats st;
    gw_semantic_get_stats(sem, &st);
    cJSON_AddNumberToObject(o, "entries", (double)st.entries);
    cJSON_AddNumberToObject(o, "max_entries", (double)st.max_entries);
    cJSON_AddNumberToObject(o, "evictions", (double)st.evictions);
    repl_log_info li;
    cJSON *log = cJSON_AddObjectToObject(o, "log");
    cJSON_AddStringToObject(log, "name", GW_SEMLOG);
    cJSON_AddNumberToObject(log, "applied_seq", (double)st.applied_seq);
    if (health__log_info(app, GW_SEMLOG, &li)) {
        cJSON_AddNumberToObject(log, "last_seq", (double)li.last_seq);
        cJSON_AddNumberToObject(log, "lag_entries", (double)li.lag_entries);
        cJSON_AddNumberToObject(log, "lag_ms", (double)li.lag_ms);
    }
}

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
    bool up, full, refusing, partial;
    int64_t outage_s;
    char reason[256]; /* why it is not "ok" */
} health_store;

/* healthy: store and embedding model up; degraded: still serving, but the store
 * is unreachable (lookups are misses), full or refusing writes (READONLY,
 * MASTERDOWN, OOM), partly down (a Redis Cluster with slots that have no
 * reachable master), no embedding model is loaded, or the knowledge bases were
 * just reloaded after a store reset (reset non-empty); unhealthy: the store has
 * been unreachable for health_unhealthy_after seconds. */
static const char *health__status(const app_t *app, const health_store *h, const char *reset)
{
    if (!h->up && h->outage_s >= app->cfg.health_unhealthy_after)
        return "unhealthy";
    if (!h->up || h->full || h->refusing || h->partial || !app->embed || *reset)
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
    /* "measured" at this start, or "reused" from the data directory's file */
    cJSON_AddStringToObject(ms, "source", ch->reused ? "reused" : "measured");
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

/* The model scheduler's queues per class: depth now, mean wait before the
 * first forward pass and mean pass time since start (seconds). */
static void health__scheduler(app_t *app, cJSON *d)
{
    embed_sched_stats st;
    embed_sched_get_stats(app->sched, &st);
    cJSON *sc = cJSON_AddObjectToObject(d, "scheduler");
    for (int c = 0; c < EMBED_NCLASSES; c++) {
        const embed_sched_class_stats *k = &st.cls[c];
        cJSON *o = cJSON_AddObjectToObject(sc, embed_class_name((embed_class)c));
        cJSON_AddNumberToObject(o, "queue_depth", (double)k->queued);
        cJSON_AddNumberToObject(o, "queued_tokens", (double)k->queued_tokens);
        cJSON_AddNumberToObject(o, "requests", (double)k->requests);
        cJSON_AddNumberToObject(o, "tokens", (double)k->tokens);
        cJSON_AddNumberToObject(o, "forward_passes", (double)k->batches);
        cJSON_AddNumberToObject(o, "mean_wait_seconds",
                                k->wait.count ? k->wait.sum_us / 1e6 / (double)k->wait.count : 0);
        cJSON_AddNumberToObject(o, "mean_forward_seconds",
                                k->forward.count ? k->forward.sum_us / 1e6 / (double)k->forward.count
                                                 : 0);
    }
    cJSON_AddNumberToObject(sc, "bulk_tenants", (double)st.tenants);
    cJSON_AddNumberToObject(sc, "preemptions", (double)st.preemptions);
    cJSON_AddNumberToObject(sc, "bulk_batch_tokens", (double)app->cfg.embed_bulk_batch_tokens);
}

static void health__probe(app_t *app, health_store *h)
{
    h->reason[0] = '\0';
    int prc = store_health(app->store, h->reason, sizeof h->reason);
    h->full = prc == RAGD_EFULL;
    h->up = prc == 0 || h->full;
    h->partial = prc == 0 && h->reason[0];
    h->outage_s = health__outage_s(app, h->up);
    if (h->up && !h->partial)
        h->refusing = store_refusing_writes(app->store, h->reason, sizeof h->reason);
    if (!h->up)
        snprintf(h->reason, sizeof h->reason, "%s unreachable",
                 store_has(app->store, STORE_CAP_SHARED) ? "Redis master" : "store");
    else if (h->full && !h->refusing)
        snprintf(h->reason, sizeof h->reason, "store full: writes refused");
}

static const char *health__db_status(const health_store *h)
{
    return !h->up ? "unavailable" : h->full ? "full" : h->refusing ? "refusing_writes"
                                                   : h->partial ? "degraded" : "ok";
}

/* One followed log under details.replication.logs. */
static cJSON *health__log(const repl_log_info *li)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "log", li->log);
    cJSON_AddNumberToObject(o, "applied_seq", (double)li->applied_seq);
    cJSON_AddNumberToObject(o, "last_seq", (double)li->last_seq);
    cJSON_AddNumberToObject(o, "lag_entries", (double)li->lag_entries);
    cJSON_AddNumberToObject(o, "lag_ms", (double)li->lag_ms);
    cJSON_AddNumberToObject(o, "applied", (double)li->applied);
    return o;
}

/* details.replication: this instance's role and how far its replicas are
 * behind the change logs (summary first, each log under "logs"). */
static cJSON *health__replication(app_t *app, const kb_repl_status *ks)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "role", app->repl ? "peer" : "standalone");
    cJSON_AddNumberToObject(o, "load_seconds", kb_load_seconds(app->kb));
    cJSON_AddNumberToObject(o, "snapshots_loaded", (double)ks->snapshots_loaded);
    cJSON_AddNumberToObject(o, "keys_scanned_at_start",
                            (double)kb_start_keys_scanned(app->kb));
    cJSON_AddNumberToObject(o, "replayed_at_start", (double)ks->replayed);
    cJSON_AddNumberToObject(o, "snapshots_written", (double)ks->snapshots_written);
    cJSON_AddNumberToObject(o, "rebuilds_total", (double)ks->rebuilds);
    if (!app->repl)
        return o;
    repl_info ri;
    repl_info_get(app->repl, &ri);
    cJSON_AddBoolToObject(o, "connected", ri.connected);
    cJSON_AddNumberToObject(o, "followed_logs", (double)ri.logs);
    cJSON_AddNumberToObject(o, "max_lag_entries", (double)ri.max_lag_entries);
    cJSON_AddNumberToObject(o, "max_lag_ms", (double)ri.max_lag_ms);
    cJSON_AddNumberToObject(o, "applied_total", (double)ri.applied_total);
    cJSON_AddNumberToObject(o, "resets_total", (double)ks->resets);
    if (ks->degraded[0])
        cJSON_AddStringToObject(o, "degraded", ks->degraded);
    size_t cap = ri.logs + 8;
    repl_log_info *li = xcalloc(cap, sizeof *li);
    size_t n = repl_logs_get(app->repl, li, cap);
    cJSON *arr = cJSON_AddArrayToObject(o, "logs");
    for (size_t i = 0; i < n && i < cap; i++)
        cJSON_AddItemToArray(arr, health__log(&li[i]));
    free(li);
    return o;
}

static cJSON *health__details(app_t *app, const health_store *h, const kb_repl_status *ks)
{
    cJSON *d = cJSON_CreateObject();
    cJSON_AddStringToObject(d, "version", RAGD_VERSION);
    cJSON *db = cJSON_AddObjectToObject(d, "database");
    cJSON_AddStringToObject(db, "backend", store_backend_name(app->store));
    cJSON_AddStringToObject(db, "status", health__db_status(h));
    if (h->reason[0])
        cJSON_AddStringToObject(db, "reason", h->reason);
    cJSON_AddNumberToObject(db, "outage_seconds", (double)h->outage_s);
    cJSON *cache = cJSON_AddObjectToObject(d, "cache");
    cJSON_AddStringToObject(cache, "status", h->up ? "ok" : "degraded");
    cJSON *emb = cJSON_AddObjectToObject(d, "embedding");
    cJSON_AddStringToObject(emb, "status", app->embed ? "ok" : "unavailable");
    if (app->embed) {
        cJSON_AddNumberToObject(emb, "dimension", (double)embed_model_dim(app->embed));
        health__precision(emb, app->embed);
    }
    cJSON_AddItemToObject(d, "replication", health__replication(app, ks));
    health__semantic(app, d);
    if (app->sched)
        health__scheduler(app, d);
    if (app->jobs)
        cJSON_AddItemToObject(d, "jobs", jobs_health(app->jobs));
    return d;
}

static void health__get(http_req *req, http_resp *resp)
{
    app_t *app = api_app(req);
    health_store h;
    health__probe(app, &h);
    kb_repl_status ks;
    kb_repl_status_get(app->kb, &ks);
    const char *status = health__status(app, &h, ks.degraded);
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "status", status);
    cJSON *models = cJSON_AddArrayToObject(out, "models_loaded");
    if (app->embed)
        cJSON_AddItemToArray(models, cJSON_CreateString(embed_model_name(app->embed)));
    cJSON_AddStringToObject(out, "database", h.up ? "connected" : "disconnected");
    cJSON_AddStringToObject(out, "cache", h.up ? "connected" : "disconnected");
    cJSON_AddNumberToObject(out, "uptime_seconds", (double)app_uptime_s(app));
    cJSON_AddStringToObject(out, "version", RAGD_VERSION);
    if (ks.degraded[0])
        cJSON_AddStringToObject(out, "reason", ks.degraded);
    cJSON_AddItemToObject(out, "details", health__details(app, &h, &ks));
    api_reply_json(resp, strcmp(status, "unhealthy") ? 200 : 503, out);
    cJSON_Delete(out);
}

void api_health_register(router_t *r)
{
    router_add(r, HTTP_GET | HTTP_HEAD, "/health", health__get);
}
