/*
 * api_ops.c - operations endpoints: GET /metrics (Prometheus text) and GET /
 * (the dashboard page, see obs/dashboard.c). /health is api_health.c,
 * /openapi.json and /docs are api_docs.c.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/api_int.h"
#include "ragd_revision.h" /* generated at build time (cmake/revision.cmake) */
#include "gateway/gateway.h"
#include "kb/search.h"
#include "obs/dashboard.h"
#include "obs/process.h"
#include "util/memtrim.h"
#include "util/json.h"
#include "util/mem.h"

/* ragd_http_requests_total of one route: a sample per request method and
 * status seen. */
static void ops__route_metrics(buf_t *b, const char *route, const route_metrics *rm)
{
    buf_t labels = BUF_INIT;
    for (int m = 0; m < APP_METHOD_SLOTS; m++)
        for (int s = 0; s < APP_STATUS_SLOTS; s++) {
            uint64_t c = metrics_load(&rm->by_method[m][s]);
            if (!c)
                continue;
            char st[8];
            if (app_status_codes[s])
                snprintf(st, sizeof st, "%d", app_status_codes[s]);
            else
                snprintf(st, sizeof st, "other");
            buf_reset(&labels);
            metrics_label(&labels, "route", route);
            metrics_label(&labels, "method", app_method_names[m]);
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

/* The build, the uptime, the heap and the standard process_* families. */
static void ops__process_metrics(app_t *app, buf_t *b)
{
    buf_t labels = BUF_INIT;
    metrics_label(&labels, "version", RAGD_VERSION);
    metrics_label(&labels, "revision", RAGD_REVISION);
#if defined(__clang__)
    metrics_label(&labels, "compiler", "clang " __clang_version__);
#elif defined(__GNUC__)
    metrics_label(&labels, "compiler", "gcc " __VERSION__);
#endif
#ifdef NDEBUG
    metrics_label(&labels, "build_type", "release");
#else
    metrics_label(&labels, "build_type", "debug");
#endif
    metrics_family(b, "ragd_build_info", "gauge",
                   "always 1; the labels say which build of ragd this is");
    metrics_sample(b, "ragd_build_info", labels.data, 1);
    buf_free(&labels);
    metrics_family(b, "ragd_uptime_seconds", "gauge", "seconds since start");
    metrics_sample(b, "ragd_uptime_seconds", NULL, (double)app_uptime_s(app));
    size_t heap_used, heap_held;
    memtrim_heap(&heap_used, &heap_held);
    metrics_family(b, "ragd_heap_in_use_bytes", "gauge", "heap bytes in allocated blocks");
    metrics_sample(b, "ragd_heap_in_use_bytes", NULL, (double)heap_used);
    metrics_family(b, "ragd_heap_held_bytes", "gauge",
                   "heap bytes the allocator holds from the system (in use and free)");
    metrics_sample(b, "ragd_heap_held_bytes", NULL, (double)heap_held);
    process_metrics_render(b);
}

static void ops__metrics(http_req *req, http_resp *resp)
{
    app_t *app = api_app(req);
    buf_t b = BUF_INIT, labels = BUF_INIT;
    int n = router_count(app->router);

    metrics_family(&b, "ragd_http_requests_total", "counter",
                   "HTTP requests by route, request method and status");
    for (int i = 0; i < n; i++)
        ops__route_metrics(&b, router_pattern(app->router, i), &app->route_metrics[i]);
    ops__route_metrics(&b, "unmatched", &app->unmatched_metrics);
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
    if (app->kb) {
        kb_search_metrics_render(app->kb, &b);
        metrics_family(&b, "ragd_documents_expired_total", "counter",
                       "documents whose expiry passed, deleted by this instance's sweeper");
        metrics_sample(&b, "ragd_documents_expired_total", NULL,
                       (double)kb_expired_total(app->kb));
    }
    /* whole namespaces' figures: not for a user- or tenant-bound key, which sees
     * only its own documents (GET /api/v1/namespaces gives it those counts) */
    if (app->kb && api_sees_all(req))
        kb_ns_metrics_render(app->kb, (size_t)app->cfg.metrics_max_label_values, &b);
    if (app->jobs)
        jobs_metrics_render(app->jobs, &b);

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
    metrics_family(&b, "ragd_store_replica_reads_total", "counter",
                   "generic cache reads answered by a Redis replica (redis_read_replicas)");
    metrics_sample(&b, "ragd_store_replica_reads_total", labels.data, (double)ss.replica_reads);
    ops__replication_metrics(app, &b);
    ops__process_metrics(app, &b);
    auth_metrics_render(app->auth, &b);
    ratelimit_metrics_render(app->ratelimit, &b);

    buf_free(&labels);
    size_t len;
    char *data = buf_detach(&b, &len);
    http_resp_set_body(resp, 200, "text/plain; version=0.0.4; charset=utf-8", data, len);
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
    router_add(r, HTTP_GET | HTTP_HEAD, "/", ops__dashboard);
}
