/*
 * api_ops.c - operations endpoints: GET /metrics (Prometheus text), GET
 * /openapi.json (generated from the route table) and GET / (the dashboard
 * page, see obs/dashboard.c). /health is api_health.c.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "gateway/gateway.h"
#include "obs/dashboard.h"
#include "util/memtrim.h"
#include "util/json.h"
#include "util/mem.h"

static void ops__route_metrics(buf_t *b, const char *route, const char *method,
                               const route_metrics *rm, bool hist_family_done)
{
    buf_t labels = BUF_INIT;
    for (int s = 0; s < APP_STATUS_SLOTS; s++) {
        uint64_t c = metrics_load(&rm->status_count[s]);
        if (!c)
            continue;
        char st[8];
        if (app_status_codes[s])
            snprintf(st, sizeof st, "%d", app_status_codes[s]);
        else
            snprintf(st, sizeof st, "other");
        buf_reset(&labels);
        metrics_label(&labels, "route", route);
        metrics_label(&labels, "method", method);
        metrics_label(&labels, "status", st);
        metrics_sample(b, "ragd_http_requests_total", labels.data, (double)c);
    }
    buf_free(&labels);
}

/* Replication of this instance's replicas (a shared store only). */
static void ops__replication_metrics(app_t *app, buf_t *b)
{
    if (!app->repl)
        return;
    repl_info ri;
    repl_info_get(app->repl, &ri);
    kb_repl_status ks;
    kb_repl_status_get(app->kb, &ks);
    static const char *const help[][3] = {
        { "ragd_replication_lag_seconds", "gauge",
          "longest time a follower has known of log records it has not applied" },
        { "ragd_replication_lag_entries", "gauge", "most records not applied yet in one log" },
        { "ragd_replication_logs", "gauge", "change logs followed" },
        { "ragd_replication_applied_total", "counter", "log records applied from other instances" },
        { "ragd_replication_rebuilds_total", "counter",
          "replicas reloaded from the store because their log lost records (or, at start, "
          "their snapshot could not be used)" },
        { "ragd_replication_replayed_at_start", "gauge",
          "log records replayed at start after loading snapshots" },
        { "ragd_replication_snapshots_loaded", "gauge", "namespaces loaded from a snapshot at start" },
        { "ragd_replication_resets_total", "counter",
          "store resets detected (epoch key missing or changed)" },
    };
    double v[] = { (double)ri.max_lag_ms / 1000.0, (double)ri.max_lag_entries, (double)ri.logs,
                   (double)ri.applied_total, (double)ks.rebuilds, (double)ks.replayed,
                   (double)ks.snapshots_loaded, (double)ks.resets };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        metrics_family(b, help[i][0], help[i][1], help[i][2]);
        metrics_sample(b, help[i][0], NULL, v[i]);
    }
}

static void ops__metrics(http_req *req, http_resp *resp)
{
    app_t *app = api_app(req);
    buf_t b = BUF_INIT, labels = BUF_INIT;
    char allow[96];
    int n = router_count(app->router);

    metrics_family(&b, "ragd_http_requests_total", "counter", "HTTP requests by route and status");
    for (int i = 0; i < n; i++) {
        router_allow_string(router_methods(app->router, i), allow, sizeof allow);
        ops__route_metrics(&b, router_pattern(app->router, i), allow, &app->route_metrics[i],
                           false);
    }
    ops__route_metrics(&b, "unmatched", "any", &app->unmatched_metrics, false);
    metrics_family(&b, "ragd_http_request_duration_seconds", "histogram",
                   "HTTP request latency by route");
    for (int i = 0; i < n; i++) {
        if (!metrics_load(&app->route_metrics[i].latency.count))
            continue;
        buf_reset(&labels);
        metrics_label(&labels, "route", router_pattern(app->router, i));
        metrics_hist_render(&b, "ragd_http_request_duration_seconds", labels.data,
                            &app->route_metrics[i].latency);
    }

    int np = 0;
    cache_prefix_stats *ps = cache_stats_snapshot(cache_stats(app->cache), &np);
    static const struct { const char *name, *help; size_t off; } cm[] = {
        { "ragd_cache_hits_total", "cache hits by prefix", offsetof(cache_prefix_stats, hits) },
        { "ragd_cache_misses_total", "cache misses by prefix", offsetof(cache_prefix_stats, misses) },
        { "ragd_cache_writes_total", "cache writes by prefix", offsetof(cache_prefix_stats, writes) },
        { "ragd_cache_skipped_writes_total", "cache writes skipped (store unavailable)",
          offsetof(cache_prefix_stats, skipped_writes) },
        { "ragd_cache_raw_bytes_total", "bytes written before compression",
          offsetof(cache_prefix_stats, raw_bytes) },
        { "ragd_cache_stored_bytes_total", "bytes written after compression",
          offsetof(cache_prefix_stats, stored_bytes) },
    };
    for (size_t m = 0; m < sizeof cm / sizeof cm[0]; m++) {
        metrics_family(&b, cm[m].name, "counter", cm[m].help);
        for (int i = 0; i < np; i++) {
            buf_reset(&labels);
            metrics_label(&labels, "prefix", ps[i].prefix);
            metrics_sample(&b, cm[m].name, labels.data,
                           (double)*(const uint64_t *)((const char *)&ps[i] + cm[m].off));
        }
    }
    free(ps);
    gateway_metrics(app->gateway, &b);
    if (app->sched)
        embed_sched_metrics_render(app->sched, &b);

    store_stats ss;
    memset(&ss, 0, sizeof ss);
    store_get_stats(app->store, &ss);
    buf_reset(&labels);
    metrics_label(&labels, "backend", store_backend_name(app->store));
    metrics_family(&b, "ragd_store_up", "gauge", "1 if the store answers");
    metrics_sample(&b, "ragd_store_up", labels.data, ss.available ? 1 : 0);
    metrics_family(&b, "ragd_store_keys", "gauge", "live keys in the store");
    metrics_sample(&b, "ragd_store_keys", labels.data, (double)ss.keys);
    metrics_family(&b, "ragd_store_bytes", "gauge", "bytes used by the store");
    metrics_sample(&b, "ragd_store_bytes", labels.data, (double)ss.bytes_used);
    metrics_family(&b, "ragd_store_errors_total", "counter",
                   "store errors that were not misses, by kind (docs/OPERATIONS.md)");
    for (int k = 0; k < STORE_ERRK_N; k++) {
        buf_reset(&labels);
        metrics_label(&labels, "backend", store_backend_name(app->store));
        metrics_label(&labels, "kind", store_err_kind_name(k));
        metrics_sample(&b, "ragd_store_errors_total", labels.data, (double)ss.errors_by_kind[k]);
    }
    metrics_family(&b, "ragd_store_redirections_total", "counter",
                   "Redis Cluster redirections followed (MOVED, ASK)");
    static const char *const redirect_kind[2] = { "moved", "ask" };
    for (int k = 0; k < 2; k++) {
        buf_reset(&labels);
        metrics_label(&labels, "backend", store_backend_name(app->store));
        metrics_label(&labels, "kind", redirect_kind[k]);
        metrics_sample(&b, "ragd_store_redirections_total", labels.data,
                       (double)(k ? ss.ask : ss.moved));
    }
    buf_reset(&labels);
    metrics_label(&labels, "backend", store_backend_name(app->store));
    metrics_family(&b, "ragd_store_evictions_total", "counter", "entries evicted by the budget");
    metrics_sample(&b, "ragd_store_evictions_total", labels.data, (double)ss.evictions);
    metrics_family(&b, "ragd_store_expired_total", "counter", "entries removed by expiry");
    metrics_sample(&b, "ragd_store_expired_total", labels.data, (double)ss.expired);
    metrics_family(&b, "ragd_store_reconnects_total", "counter", "store reconnections");
    metrics_sample(&b, "ragd_store_reconnects_total", labels.data, (double)ss.reconnects);
    ops__replication_metrics(app, &b);
    metrics_family(&b, "ragd_uptime_seconds", "gauge", "seconds since start");
    metrics_sample(&b, "ragd_uptime_seconds", NULL, (double)app_uptime_s(app));
    size_t heap_used, heap_held;
    memtrim_heap(&heap_used, &heap_held);
    metrics_family(&b, "ragd_heap_in_use_bytes", "gauge", "heap bytes in allocated blocks");
    metrics_sample(&b, "ragd_heap_in_use_bytes", NULL, (double)heap_used);
    metrics_family(&b, "ragd_heap_held_bytes", "gauge",
                   "heap bytes the allocator holds from the system (in use and free)");
    metrics_sample(&b, "ragd_heap_held_bytes", NULL, (double)heap_held);
    auth_metrics_render(app->auth, &b);
    ratelimit_metrics_render(app->ratelimit, &b);

    buf_free(&labels);
    size_t len;
    char *data = buf_detach(&b, &len);
    http_resp_set_body(resp, 200, "text/plain; version=0.0.4; charset=utf-8", data, len);
}

/* OpenAPI 3 document generated from the route table, so it never drifts. */
static void ops__openapi(http_req *req, http_resp *resp)
{
    app_t *app = api_app(req);
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddStringToObject(doc, "openapi", "3.0.3");
    cJSON *info = cJSON_AddObjectToObject(doc, "info");
    cJSON_AddStringToObject(info, "title", "ragd");
    cJSON_AddStringToObject(info, "version", RAGD_VERSION);
    cJSON *paths = cJSON_AddObjectToObject(doc, "paths");
    static const char *const mnames[] = { "get", "head", "post", "put", "patch", "delete",
                                          "options" };
    for (int i = 0; i < router_count(app->router); i++) {
        const char *pat = router_pattern(app->router, i);
        char clean[256];
        size_t k = 0;
        for (const char *p = pat; *p && k < sizeof clean - 1; p++)
            if (*p != '*')
                clean[k++] = *p;
        clean[k] = '\0';
        cJSON *item = cJSON_GetObjectItemCaseSensitive(paths, clean);
        if (!item)
            item = cJSON_AddObjectToObject(paths, clean);
        int m = router_methods(app->router, i);
        for (int j = 0; j < 7; j++) {
            if (!(m & (1 << j)) || cJSON_GetObjectItemCaseSensitive(item, mnames[j]))
                continue;
            cJSON *op = cJSON_AddObjectToObject(item, mnames[j]);
            cJSON *params = cJSON_AddArrayToObject(op, "parameters");
            for (const char *p = strchr(clean, '{'); p; p = strchr(p + 1, '{')) {
                const char *e = strchr(p, '}');
                if (!e)
                    break;
                cJSON *prm = cJSON_CreateObject();
                char name[64];
                snprintf(name, sizeof name, "%.*s", (int)(e - p - 1), p + 1);
                cJSON_AddStringToObject(prm, "name", name);
                cJSON_AddStringToObject(prm, "in", "path");
                cJSON_AddBoolToObject(prm, "required", true);
                cJSON_AddItemToObject(prm, "schema", cJSON_Parse("{\"type\":\"string\"}"));
                cJSON_AddItemToArray(params, prm);
            }
            cJSON *responses = cJSON_AddObjectToObject(op, "responses");
            cJSON *d = cJSON_AddObjectToObject(responses, "default");
            cJSON_AddStringToObject(d, "description", "JSON body; errors are {\"error\":{code,message,request_id}}");
        }
    }
    api_reply_json(resp, 200, doc);
    cJSON_Delete(doc);
}

static void ops__dashboard(http_req *req, http_resp *resp)
{
    size_t len;
    const char *page = dashboard_html(&len);
    http_resp_static(resp, 200, "text/html; charset=utf-8", page, len);
}

void api_ops_register(router_t *r)
{
    router_add(r, HTTP_GET, "/metrics", ops__metrics);
    router_add(r, HTTP_GET, "/openapi.json", ops__openapi);
    router_add(r, HTTP_GET | HTTP_HEAD, "/", ops__dashboard);
}
