/*
 * app_metrics.c - what the running server counts about itself: the latency
 * histogram and status counts of every route (fed by the server's completion
 * hook) and the uptime, which the ops handlers report.
 */
#include "app/app.h"

#include "util/clock.h"

const int app_status_codes[APP_STATUS_SLOTS] = {
    200, 201, 204, 206, 304, 400, 401, 403, 404, 405,
    409, 413, 415, 422, 429, 500, 502, 503, 504, 0,
};

void app_observe(void *ud, const http_req *req, int status, int64_t us)
{
    app_t *app = ud;
    route_metrics *rm = req->route_index >= 0 ? &app->route_metrics[req->route_index]
                                              : &app->unmatched_metrics;
    metrics_hist_observe(&rm->latency, us);
    int slot = APP_STATUS_SLOTS - 1;
    for (int i = 0; i < APP_STATUS_SLOTS - 1; i++)
        if (app_status_codes[i] == status)
            slot = i;
    metrics_inc(&rm->status_count[slot], 1);
}

int64_t app_uptime_s(const app_t *app)
{
    return (clock_mono_us() - app->started_mono_us) / 1000000;
}
