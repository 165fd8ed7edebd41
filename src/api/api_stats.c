/*
 * api_stats.c - GET /api/v1/stats/history?resolution=second|minute: the
 * dashboard's figures over time from the in-process sample rings
 * (app/app_history.h), so the page needs no Prometheus. Service and admin
 * keys (and auth off) get every series; a user- or tenant-bound key gets the
 * server's health series only, since the traffic figures count everyone's
 * requests together.
 */
#include <string.h>

#include "api/api.h"
#include "api/api_int.h"
#include "app/app_history.h"

static void stats__history(http_req *req, http_resp *resp)
{
    app_t *app = api_app(req);
    const char *res = http_req_query(req, "resolution");
    if (res && strcmp(res, "second") != 0 && strcmp(res, "minute") != 0) {
        http_error(req, resp, 400, "invalid_request",
                   "resolution must be 'second' or 'minute'");
        return;
    }
    if (!app->history) {
        http_error(req, resp, 503, "unavailable", "statistics history is not being sampled");
        return;
    }
    cJSON *out = app_history_json(app->history, res && strcmp(res, "minute") == 0,
                                  api_sees_all(req));
    api_reply_json(resp, 200, out);
    cJSON_Delete(out);
}

void api_stats_register(router_t *r)
{
    router_add(r, HTTP_GET, "/api/v1/stats/history", stats__history);
}
