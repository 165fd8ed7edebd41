/*
 * app_history.c - the dashboard's sampler: once a second it reads the
 * cumulative counters (route histograms and status counts, cache counters
 * per prefix, the gateway's account, the scheduler's queues, replication),
 * turns the change since the previous second into one row of the second
 * ring, and every 60 seconds the change since the previous minute into one
 * row of the minute ring. Percentiles come from histogram bucket deltas,
 * interpolated within the bucket as Prometheus' histogram_quantile does.
 */
#include "app/app_history.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app/app.h"
#include "gateway/gateway.h"
#include "obs/history.h"
#include "util/clock.h"
#include "util/mem.h"

/* Gateway counters kept per interval, in this order in a row. */
static const char *const gw_names[] = { "tokens_saved", "cost_saved_usd", "upstream_calls",
                                        "upstream_errors", "single_flight_joins" };
#define GW_N 5
#define ROUTE_COLS 4   /* requests/s, errors/s (5xx), p50 ms, p99 ms */

/* Cumulative counters at one instant; rows are differences of two. */
typedef struct cum {
    uint64_t *buckets;  /* nroutes * METRICS_NBUCKETS */
    uint64_t *count, *errors;
    uint64_t cache[CACHE_CLASS_N][2];  /* hits, misses */
    double gw[GW_N];
    uint64_t wait_n[EMBED_NCLASSES], wait_us[EMBED_NCLASSES];
} cum;

struct app_history {
    app_t *app;
    int nroutes;
    size_t width;
    history *sec, *min;
    cum prev_sec, prev_min;
    int ticks;                  /* seconds since the last minute row */
    pthread_t thr;
    pthread_mutex_t mu;         /* guards stop */
    pthread_cond_t cv;
    bool stop;
};

/* Column offsets in a row. */
#define COL_CACHE(h) ((size_t)(h)->nroutes * ROUTE_COLS)
#define COL_GW(h) (COL_CACHE(h) + CACHE_CLASS_N * 2)
#define COL_OPEN(h) (COL_GW(h) + GW_N)
#define COL_SCHED(h) (COL_OPEN(h) + 1)
#define COL_LAG(h) (COL_SCHED(h) + EMBED_NCLASSES * 2)
#define COL_END(h) (COL_LAG(h) + 1)

static void cum_init(cum *c, int nroutes)
{
    memset(c, 0, sizeof *c);
    c->buckets = xcalloc((size_t)nroutes * METRICS_NBUCKETS + 1, sizeof *c->buckets);
    c->count = xcalloc((size_t)nroutes + 1, sizeof *c->count);
    c->errors = xcalloc((size_t)nroutes + 1, sizeof *c->errors);
}

static void cum_free(cum *c)
{
    free(c->buckets);
    free(c->count);
    free(c->errors);
}

static void cum_copy(cum *dst, const cum *src, int nroutes)
{
    memcpy(dst->buckets, src->buckets, (size_t)nroutes * METRICS_NBUCKETS * sizeof *dst->buckets);
    memcpy(dst->count, src->count, (size_t)nroutes * sizeof *dst->count);
    memcpy(dst->errors, src->errors, (size_t)nroutes * sizeof *dst->errors);
    memcpy(dst->cache, src->cache, sizeof dst->cache);
    memcpy(dst->gw, src->gw, sizeof dst->gw);
    memcpy(dst->wait_n, src->wait_n, sizeof dst->wait_n);
    memcpy(dst->wait_us, src->wait_us, sizeof dst->wait_us);
}

static double num_at(const cJSON *o, const char *a, const char *b)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, a);
    if (x && b)
        x = cJSON_GetObjectItemCaseSensitive(x, b);
    return cJSON_IsNumber(x) ? x->valuedouble : 0.0;
}

/* The gateway's totals and how many providers' circuits are open now. */
static int hist__gateway(app_t *app, double gw[GW_N])
{
    cJSON *g = gateway_stats_json(app->gateway);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(g, "totals");
    gw[0] = num_at(t, "tokens_saved", "total");
    gw[1] = num_at(t, "cost_saved_usd", NULL);
    gw[2] = num_at(t, "upstream_calls", NULL);
    gw[3] = num_at(t, "upstream_errors", NULL);
    gw[4] = num_at(g, "single_flight", "joined");
    int open = 0;
    const cJSON *p;
    cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(g, "providers"))
    {
        const char *st = json_get_str(p, "circuit");
        open += st && strcmp(st, "open") == 0;
    }
    cJSON_Delete(g);
    return open;
}

/* Read every cumulative counter into c; returns the open circuits and fills
 * *ss (zeros without a model). */
static int hist__read(app_history *h, cum *c, embed_sched_stats *ss)
{
    app_t *app = h->app;
    memset(ss, 0, sizeof *ss);
    if (app->sched)
        embed_sched_get_stats(app->sched, ss);
    for (int k = 0; k < EMBED_NCLASSES; k++) {
        c->wait_n[k] = ss->cls[k].wait.count;
        c->wait_us[k] = ss->cls[k].wait.sum_us;
    }
    for (int r = 0; r < h->nroutes; r++) {
        const route_metrics *rm = &app->route_metrics[r];
        for (int b = 0; b < METRICS_NBUCKETS; b++)
            c->buckets[r * METRICS_NBUCKETS + b] = metrics_load(&rm->latency.buckets[b]);
        c->count[r] = metrics_load(&rm->latency.count);
        c->errors[r] = 0;
        for (int s = 0; s < APP_STATUS_SLOTS; s++)
            if (app_status_codes[s] >= 500 || app_status_codes[s] == 0)
                c->errors[r] += metrics_load(&rm->status_count[s]);
    }
    memset(c->cache, 0, sizeof c->cache);
    int n = 0;
    cache_prefix_stats *ps = cache_stats_snapshot(cache_stats(app->cache), &n);
    for (int i = 0; i < n; i++) {
        cache_class k = cache_stats_class(ps[i].prefix);
        c->cache[k][0] += ps[i].hits;
        c->cache[k][1] += ps[i].misses;
    }
    free(ps);
    return hist__gateway(app, c->gw);
}

/* The q-quantile in ms of the observations between two bucket snapshots (the
 * buckets' own total: a histogram's count is read apart from its buckets). */
static float hist__quantile(const uint64_t *now, const uint64_t *before, double q)
{
    double total = 0, seen = 0;
    for (int b = 0; b < METRICS_NBUCKETS; b++)
        total += (double)(now[b] - before[b]);
    double rank = q * total;
    for (int b = 0; b < METRICS_NBUCKETS; b++) {
        double in = (double)(now[b] - before[b]);
        if (in > 0 && seen + in >= rank) {
            double lo = b ? metrics_bucket_bounds[b - 1] : 0.0;
            if (b == METRICS_NBUCKETS - 1)
                return (float)(lo * 1000.0);  /* +Inf: the last finite bound */
            double hi = metrics_bucket_bounds[b];
            return (float)((lo + (hi - lo) * (rank - seen) / in) * 1000.0);
        }
        seen += in;
    }
    return 0;
}

/* One row: the change from prev to cur over secs seconds, and gauges now. */
static void hist__row(app_history *h, const cum *cur, const cum *prev, double secs, int open,
                      const embed_sched_stats *ss, float *row)
{
    for (int r = 0; r < h->nroutes; r++) {
        float *o = row + r * ROUTE_COLS;
        uint64_t n = cur->count[r] - prev->count[r];
        o[0] = (float)((double)n / secs);
        o[1] = (float)((double)(cur->errors[r] - prev->errors[r]) / secs);
        const uint64_t *a = cur->buckets + r * METRICS_NBUCKETS;
        const uint64_t *b = prev->buckets + r * METRICS_NBUCKETS;
        o[2] = n ? hist__quantile(a, b, 0.5) : 0;
        o[3] = n ? hist__quantile(a, b, 0.99) : 0;
    }
    for (int k = 0; k < CACHE_CLASS_N; k++)
        for (int j = 0; j < 2; j++)
            row[COL_CACHE(h) + k * 2 + j] = (float)(cur->cache[k][j] - prev->cache[k][j]);
    for (int g = 0; g < GW_N; g++)
        row[COL_GW(h) + g] = (float)(cur->gw[g] - prev->gw[g]);
    row[COL_OPEN(h)] = (float)open;
    for (int k = 0; k < EMBED_NCLASSES; k++) {
        uint64_t wn = cur->wait_n[k] - prev->wait_n[k];
        row[COL_SCHED(h) + k * 2] = (float)ss->cls[k].queued;
        row[COL_SCHED(h) + k * 2 + 1] =
            wn ? (float)((double)(cur->wait_us[k] - prev->wait_us[k]) / (double)wn / 1000.0) : 0;
    }
    repl_info ri = { 0 };
    if (h->app->repl)
        repl_info_get(h->app->repl, &ri);
    row[COL_LAG(h)] = (float)ri.max_lag_ms;
}

/* Take one sample: a second row, and a minute row every 60th. */
static void hist__tick(app_history *h, cum *cur, float *row)
{
    embed_sched_stats ss;
    int open = hist__read(h, cur, &ss);
    int64_t now = clock_wall_ms();
    hist__row(h, cur, &h->prev_sec, 1.0, open, &ss, row);
    history_push(h->sec, now, row);
    cum_copy(&h->prev_sec, cur, h->nroutes);
    if (++h->ticks < 60)
        return;
    h->ticks = 0;
    hist__row(h, cur, &h->prev_min, 60.0, open, &ss, row);
    history_push(h->min, now, row);
    cum_copy(&h->prev_min, cur, h->nroutes);
}

static void *hist__main(void *arg)
{
    app_history *h = arg;
    cum cur;
    cum_init(&cur, h->nroutes);
    float *row = xcalloc(h->width, sizeof *row);
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    pthread_mutex_lock(&h->mu);
    while (!h->stop) {
        next.tv_sec++;
        int rc = 0;
        while (!h->stop && rc != ETIMEDOUT)
            rc = pthread_cond_timedwait(&h->cv, &h->mu, &next);
        if (h->stop)
            break;
        pthread_mutex_unlock(&h->mu);
        hist__tick(h, &cur, row);
        pthread_mutex_lock(&h->mu);
    }
    pthread_mutex_unlock(&h->mu);
    free(row);
    cum_free(&cur);
    return NULL;
}

int app_history_start(app_t *app, app_history **out)
{
    app_history *h = xcalloc(1, sizeof *h);
    h->app = app;
    h->nroutes = router_count(app->router);
    h->width = COL_END(h);
    h->sec = history_create(APP_HISTORY_SECONDS, h->width);
    h->min = history_create(APP_HISTORY_MINUTES, h->width);
    cum_init(&h->prev_sec, h->nroutes);
    cum_init(&h->prev_min, h->nroutes);
    embed_sched_stats ss;
    hist__read(h, &h->prev_sec, &ss);
    cum_copy(&h->prev_min, &h->prev_sec, h->nroutes);
    pthread_mutex_init(&h->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&h->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&h->thr, NULL, hist__main, h) != 0) {
        h->stop = true;
        app_history_stop(h);
        return RAGD_EIO;
    }
    *out = h;
    return RAGD_OK;
}

void app_history_stop(app_history *h)
{
    if (!h)
        return;
    if (!h->stop) {
        pthread_mutex_lock(&h->mu);
        h->stop = true;
        pthread_cond_signal(&h->cv);
        pthread_mutex_unlock(&h->mu);
        pthread_join(h->thr, NULL);
    }
    pthread_cond_destroy(&h->cv);
    pthread_mutex_destroy(&h->mu);
    history_destroy(h->sec);
    history_destroy(h->min);
    cum_free(&h->prev_sec);
    cum_free(&h->prev_min);
    free(h);
}

/* ---- JSON ------------------------------------------------------------------- */

/* A float figure as JSON, rounded to 3 decimals (no float noise in the text). */
static void hist__num(cJSON *o, const char *name, float v)
{
    cJSON_AddNumberToObject(o, name, round((double)v * 1000.0) / 1000.0);
}

/* A route's name in the samples: "GET, HEAD /api/v1/x". */
static void hist__route_name(const app_history *h, int r, char *out, size_t n)
{
    char allow[96];
    router_allow_string(router_methods(h->app->router, r), allow, sizeof allow);
    snprintf(out, n, "%s %s", allow, router_pattern(h->app->router, r));
}

static void hist__routes_json(const app_history *h, const float *row, cJSON *s)
{
    cJSON *routes = cJSON_AddObjectToObject(s, "routes");
    for (int r = 0; r < h->nroutes; r++) {
        const float *o = row + r * ROUTE_COLS;
        if (o[0] <= 0)
            continue;
        char name[320];
        hist__route_name(h, r, name, sizeof name);
        cJSON *j = cJSON_AddObjectToObject(routes, name);
        hist__num(j, "rps", o[0]);
        hist__num(j, "errors_per_s", o[1]);
        hist__num(j, "p50_ms", o[2]);
        hist__num(j, "p99_ms", o[3]);
    }
}

static void hist__traffic_json(const app_history *h, const float *row, cJSON *s)
{
    hist__routes_json(h, row, s);
    cJSON *cache = cJSON_AddObjectToObject(s, "cache");
    for (int k = 0; k < CACHE_CLASS_N; k++) {
        float hits = row[COL_CACHE(h) + k * 2], misses = row[COL_CACHE(h) + k * 2 + 1];
        cJSON *c = cJSON_AddObjectToObject(cache, cache_class_names[k]);
        hist__num(c, "hits", hits);
        hist__num(c, "misses", misses);
        if (hits + misses > 0)
            hist__num(c, "hit_rate", hits / (hits + misses));
        else
            cJSON_AddNullToObject(c, "hit_rate");
    }
    cJSON *gw = cJSON_AddObjectToObject(s, "gateway");
    for (int g = 0; g < GW_N; g++)
        hist__num(gw, gw_names[g], row[COL_GW(h) + g]);
}

static cJSON *hist__sample_json(const app_history *h, int64_t t, const float *row, bool full)
{
    cJSON *s = cJSON_CreateObject();
    cJSON_AddNumberToObject(s, "t", (double)t);
    if (full)
        hist__traffic_json(h, row, s);
    hist__num(s, "open_circuits", row[COL_OPEN(h)]);
    cJSON *sc = cJSON_AddObjectToObject(s, "scheduler");
    for (int k = 0; k < EMBED_NCLASSES; k++) {
        cJSON *c = cJSON_AddObjectToObject(sc, embed_class_name((embed_class)k));
        hist__num(c, "queue_depth", row[COL_SCHED(h) + k * 2]);
        hist__num(c, "mean_wait_ms", row[COL_SCHED(h) + k * 2 + 1]);
    }
    hist__num(s, "replication_lag_ms", row[COL_LAG(h)]);
    return s;
}

cJSON *app_history_json(app_history *h, bool minute, bool full)
{
    history *ring = minute ? h->min : h->sec;
    size_t cap = history_capacity(ring);
    int64_t *t = xmalloc(cap * sizeof *t);
    float *vals = xmalloc(cap * h->width * sizeof *vals);
    size_t n = history_read(ring, t, vals);
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "resolution", minute ? "minute" : "second");
    cJSON_AddNumberToObject(out, "interval_seconds", minute ? 60 : 1);
    cJSON_AddNumberToObject(out, "capacity", (double)cap);
    cJSON_AddStringToObject(out, "scope", full ? "all" : "health");
    cJSON *arr = cJSON_AddArrayToObject(out, "samples");
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(arr, hist__sample_json(h, t[i], vals + i * h->width, full));
    free(t);
    free(vals);
    return out;
}
