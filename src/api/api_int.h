/*
 * api_int.h - handlers and helpers shared between api/ files (not for other
 * subsystems).
 */
#ifndef RAGD_API_INT_H
#define RAGD_API_INT_H

#include <cjson/cJSON.h>

#include "cache/cache.h"
#include "http/http.h"
#include "kb/user_content.h"
#include "app/app.h"
#include "jobs/jobs.h"
#include "rag/route.h"

/* api_cache_stats.c: the TTL settings object ({default, embedding, response,
 * prefixes}; caller owns it, cJSON_Delete) and two of the cache routes. */
cJSON *cache_api_ttl_settings(cache_t *c);
void cache_api_stats(http_req *req, http_resp *resp);
void cache_api_warm_up(http_req *req, http_resp *resp);

/* Namespace routing for a handler (api_route.c): threshold from the body's
 * "threshold" or the route_threshold setting. On false resp holds the error. */
bool route_api_run(const http_req *req, http_resp *resp, const char *query, size_t k,
                   const cJSON *threshold, route_result *out, double *used_threshold);
/* {namespaces: [{namespace, score, via, example?}], none, best_score, threshold} */
cJSON *route_api_json(const http_req *req, const route_result *r, double threshold);

/* A user item to store from embeddings/generate (api_user_content.c); strings
 * borrowed from the request body. */
typedef struct uc_api_item {
    const char *user;           /* effective user */
    const char *content_type;
    const cJSON *metadata;
    bool store;                 /* user + content_type given and "store" not false */
} uc_api_item;

/* Validate content_type, metadata and store of a generate body for user
 * (effective, may be NULL); false with resp filled (400, or 403 when storing
 * without the write scope). */
bool uc_api_parse(const http_req *req, http_resp *resp, const cJSON *body, const char *user,
                  uc_api_item *out);
/* Store text as the item; id gets its id. False with resp filled. */
bool uc_api_store(const http_req *req, http_resp *resp, const uc_api_item *it,
                  const char *text, size_t len, char id[UC_ID_LEN + 1]);
/* Whether a re-rank request may be scored (api_rerank.c): its `model` is absent,
 * names the configured re-ranker (with or without an org/ prefix), or the
 * request opts into whatever is configured with "fallback": true. On false,
 * why (n bytes) says what is configured and how to opt in. */
bool rerank_api_model_ok(const app_t *app, const cJSON *body, char *why, size_t n);

/* The submitter of a job from the request's identity (api_jobs.c); strings
 * borrowed for the request's life. */
void jobs_api_owner(const http_req *req, jobs_owner *out);

#endif
