/*
 * api_route.c - POST /api/v1/route {query, k, threshold?}: the knowledge-base
 * namespaces a query is about, best first, each with its score and what
 * matched (centroid, description or an example utterance); "none" when no
 * namespace reaches the threshold. rag/query routes through the same code
 * when a request names no namespaces.
 */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/api_int.h"
#include "util/json.h"
#include "util/utf8.h"

#define ROUTE_K_MAX 100

bool route_api_run(const http_req *req, http_resp *resp, const char *query, size_t k,
                   const cJSON *threshold, route_result *out, double *used)
{
    app_t *app = api_app(req);
    memset(out, 0, sizeof *out);
    if (!app->embcache) {
        http_error(req, resp, 503, "model_unavailable",
                   "namespace routing needs the embedding model (model_dir %s has none)",
                   app->cfg.model_dir);
        return false;
    }
    double t = app->cfg.route_threshold;  /* range-checked at start-up */
    if (threshold && !cJSON_IsNull(threshold)) {
        if (!cJSON_IsNumber(threshold) || threshold->valuedouble < -1 ||
            threshold->valuedouble > 1) {
            http_error(req, resp, 400, "invalid_request", "'threshold' must be a number in "
                       "[-1, 1] (a cosine similarity)");
            return false;
        }
        t = threshold->valuedouble;
    }
    *used = t;
    ragd_error err = {0};
    int rc = route_query(app->kb, app->embcache, query, k, (float)t, out, &err);
    if (rc) {
        api_error_rc(req, resp, rc, "%s", err.msg);
        return false;
    }
    return true;
}

cJSON *route_api_json(const http_req *req, const route_result *r, double threshold)
{
    app_t *app = api_app(req);
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(o, "namespaces");
    for (size_t i = 0; i < r->n; i++) {
        const route_match *m = &r->m[i];
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "namespace", m->ns);
        cJSON_AddNumberToObject(e, "score", m->score);
        cJSON_AddStringToObject(e, "via", route_via_name(m->via));
        if (m->via == ROUTE_VIA_EXAMPLE)
            cJSON_AddNumberToObject(e, "example", m->example);
        cJSON_AddItemToArray(arr, e);
    }
    cJSON_AddBoolToObject(o, "none", r->n == 0);
    if (r->considered)
        cJSON_AddNumberToObject(o, "best_score", r->best);
    else
        cJSON_AddNullToObject(o, "best_score");
    cJSON_AddNumberToObject(o, "threshold", threshold);
    cJSON_AddNumberToObject(o, "namespaces_considered", (double)r->considered);
    cJSON_AddStringToObject(o, "model", embcache_model(app->embcache));
    return o;
}

/* POST /api/v1/route {query, k?, threshold?, user_id?} */
static void route_api__route(http_req *req, http_resp *resp)
{
    cJSON *body;
    if (!api_parse_object(req, resp, &body))
        return;
    const char *q = json_get_str(body, "query");
    int64_t k = 3;
    size_t bad;
    route_result r;
    double thr;
    if (!q || !*q) {
        http_error(req, resp, 400, "invalid_request", "'query' must be a non-empty string");
    } else if (!utf8_valid(q, strlen(q), &bad)) {
        http_error(req, resp, 400, "invalid_input", "'query' is not valid UTF-8 (byte %zu)", bad);
    } else if (!api_get_count(req, resp, body, "k", 1, ROUTE_K_MAX, &k)) {
        /* resp holds the error */
    } else if (route_api_run(req, resp, q, (size_t)k,
                             cJSON_GetObjectItemCaseSensitive(body, "threshold"), &r, &thr)) {
        cJSON *o = route_api_json(req, &r, thr);
        cJSON_AddStringToObject(o, "route", r.n ? r.m[0].ns : "none");
        api_reply_json(resp, 200, o);
        cJSON_Delete(o);
        route_result_free(&r);
    }
    cJSON_Delete(body);
}

void api_route_register(router_t *r)
{
    router_add(r, HTTP_POST, "/api/v1/route", route_api__route);
}
