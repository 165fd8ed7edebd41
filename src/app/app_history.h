/*
 * app_history.h - the figures the dashboard draws over time, sampled by a
 * background thread into two in-memory rings (obs/history.h): one sample a
 * second for the last 10 minutes and one a minute for the last 24 hours.
 * Each sample is the change over its interval (requests/s, p50/p99 latency
 * per route, cache hits and misses per class, gateway tokens and money
 * saved, upstream calls and errors, single-flight joins) and gauges read at
 * its end (open circuits, model queue depth, replication lag). Sampling only
 * reads counters the request path already keeps (relaxed atomics), so it
 * adds nothing to a request's work.
 */
#ifndef RAGD_APP_HISTORY_H
#define RAGD_APP_HISTORY_H

#include <stdbool.h>

#include "util/json.h"

struct app;
typedef struct app_history app_history;

#define APP_HISTORY_SECONDS 600   /* per-second samples kept */
#define APP_HISTORY_MINUTES 1440  /* per-minute samples kept */

/* Start sampling app (its router, route metrics, cache, gateway, scheduler
 * and replication must outlive the sampler). RAGD_EIO if the thread cannot
 * start. Caller owns *out: app_history_stop(). */
int app_history_start(struct app *app, app_history **out);

/* Stop the thread and free the rings. NULL is a no-op. */
void app_history_stop(app_history *h);

/* The samples of one resolution ("second" or "minute") as JSON, oldest
 * first; full: every series, else only the server's health (model queues,
 * open circuits, replication lag: nothing about other users' traffic).
 * Caller frees with cJSON_Delete. Thread-safe. */
cJSON *app_history_json(app_history *h, bool minute, bool full);

#endif
