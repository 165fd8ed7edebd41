/*
 * app_metrics.c - what the running server counts about itself: the latency
 * histogram and status counts of every route, per request method (fed by the
 * server's completion hook), and the uptime, which the ops handlers report.
 */
#include "app/app.h"

#include "util/clock.h"

const int app_status_codes[APP_STATUS_SLOTS] = {
    200, 201, 204, 206, 304, 400, 401, 403, 404, 405,
    409, 413, 415, 422, 429, 500, 502, 503, 504, 0,
};

const char *const app_method_names[APP_METHOD_SLOTS] = {
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other",
};

/* The by_method slot of an enum http_method bit (0 = a method ragd has no
 * bit for: the last slot). */
static int app__method_slot(int bit)
{
    for (int i = 0; i < APP_METHOD_SLOTS - 1; i++)
        if (bit == 1 << i)
            return i;
    return APP_METHOD_SLOTS - 1;
}

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
    metrics_inc(&rm->by_method[app__method_slot(req->method)][slot], 1);
}

int64_t app_uptime_s(const app_t *app)
{
    return (clock_mono_us() - app->started_mono_us) / 1000000;
}
