/*
 * app.h - the running ragd: configuration, store, cache, embedding model and
 * cache, knowledge bases, re-ranking, the LLM gateway, auth, rate limits,
 * sessions and the HTTP server, opened once at start by app_open in the order
 * they depend on each other, handed to every handler as req->app, and freed
 * in reverse by app_close.
 */
#ifndef RAGD_APP_H
#define RAGD_APP_H

#include <stdint.h>

#include "app/config.h"
#include "auth/auth.h"
#include "auth/ratelimit.h"
#include "auth/session.h"
#include "cache/cache.h"
#include "cache/embcache.h"
#include "embed/embed.h"
#include "embed/sched.h"
#include "http/guard.h"
#include "http/router.h"
#include "http/server.h"
#include "jobs/jobs.h"
#include "obs/metrics.h"
#include "kb/kb.h"
#include "kb/user_content.h"
#include "rag/rerank.h"
#include "repl/repl.h"
#include "store/store.h"

#define APP_STATUS_SLOTS 20
#define APP_METHOD_SLOTS 8   /* the enum http_method bits, then any other method */

/* Per-route request metrics, indexed like the router's routes. */
typedef struct route_metrics {
    metrics_hist latency;
    uint64_t status_count[APP_STATUS_SLOTS]; /* atomic only (metrics_inc) */
    uint64_t by_method[APP_METHOD_SLOTS][APP_STATUS_SLOTS]; /* the same, per request
                                                               method (atomic only) */
} route_metrics;

typedef struct app {
    ragd_config cfg;
    store_t *store;
    cache_t *cache;
    struct gateway *gateway;          /* LLM gateway (gateway/gateway.h) */
    router_t *router;
    http_server_t *server;
    http_guard *guard;                /* Host / Origin / Content-Type checks */
    int64_t started_wall_ms;
    int64_t started_mono_us;
    route_metrics *route_metrics;     /* router_count() entries */
    route_metrics unmatched_metrics;  /* 404/405 on no route */
    auth_t *auth;                     /* credentials, scopes (src/auth) */
    ratelimit_t *ratelimit;           /* rate-limit rules */
    sessions_t *sessions;             /* sessions and conversation history */
    embed_model *embed;               /* NULL when the model directory is absent */
    embed_sched *sched;               /* the model scheduler: interactive work first,
                                         bulk in micro-batches (NULL with embed) */
    embcache_t *embcache;             /* embeddings through the cache; NULL with embed */
    repl_t *repl;                     /* follower of the change logs other instances write
                                         (a shared store only, else NULL); destroyed after
                                         everything that follows logs through it */
    kb_t *kb;                         /* knowledge bases (namespaces, documents, search) */
    jobs_t *jobs;                     /* background ingestion jobs (their workers) */
    uc_ttl_map uc_ttl;                /* user_content_ttl parsed (read-only after open) */
    rerank_t *rerank;                 /* re-ranking service (cosine fallback at least) */
    struct memtrim *memtrim;          /* returns freed heap pages (util/memtrim.h); NULL = off */
    struct app_history *history;      /* the dashboard's sample rings (app/app_history.h);
                                         NULL until app_start */
    int64_t store_down_since_us;      /* monotonic time /health first found the store
                                         unreachable, 0 = reachable (__atomic access) */
} app_t;

/* Open the store and cache and build the router from cfg (already loaded).
 * On failure err says why and everything opened so far is closed. */
int app_open(app_t *app, ragd_error *err);

/* The server options app_start uses (limits, hooks: browser guard, auth,
 * rate limits, metrics), creating the guard on first use; also what an
 * in-process caller (http/inproc.h) passes. err says why the guard's
 * settings were refused. */
int app_server_opts(app_t *app, http_server_opts *o, ragd_error *err);

/* Start the HTTP server; returns once it listens. */
int app_start(app_t *app, ragd_error *err);

/* Block until SIGINT/SIGTERM, then stop gracefully. */
void app_wait_for_signal(app_t *app);

/* Stop the server (if running) and free everything. */
void app_close(app_t *app);

/* ---- app_metrics.c ---- */

/* The HTTP status codes tracked per route, in slot order (last = other). */
extern const int app_status_codes[APP_STATUS_SLOTS];
/* The method of each by_method slot ("GET"... then "other"). */
extern const char *const app_method_names[APP_METHOD_SLOTS];

/* The server's completion hook (ud = the app): records the request's latency
 * and status under its route. Thread-safe (relaxed atomic counters). */
void app_observe(void *ud, const http_req *req, int status, int64_t us);

/* Seconds since start. */
int64_t app_uptime_s(const app_t *app);

#endif
