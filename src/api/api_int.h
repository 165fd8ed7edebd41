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

/* Does the caller see every owner's data (no user- or tenant-bound key: an
 * admin or service key, the metrics key, auth off)? (api_auth.c) */
bool api_sees_all(const http_req *req);

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

/* The work caps of routes that run the local model (api_budget.c). A verdict:
 * status 0 = admitted, 413 (never fits) or 429 (retry after retry_after_s). */
typedef struct api_budget {
    int status;
    int64_t retry_after_s;
    const char *who;  /* the caller charged (borrowed from the request) */
    char msg[320];    /* why, naming the setting */
} api_budget;

/* Word pieces the local model would run for these texts (each counted up to the
 * model's maximum, as it truncates). app->embed must be loaded. */
size_t api_embed_tokens(const app_t *app, const char *const *texts, const size_t *lens, size_t n);
/* Charge tokens to the caller's per-minute budget under "<scope>:<caller>"
 * (per_min 0 = no budget; anonymous callers are not charged). */
void api_budget_check(const http_req *req, const char *scope, int64_t per_min,
                      const char *setting, size_t tokens, api_budget *out);
/* Write a refused verdict as ragd's JSON error (413 payload_too_large or 429
 * rate_limited with Retry-After). */
void api_budget_answer(const http_req *req, http_resp *resp, const api_budget *b);
/* Admit an embedding request run by the local model: embed_max_request_tokens,
 * then embed_user_tokens_per_minute. false with *out saying why. */
bool api_embed_admit(const http_req *req, const char *const *texts, const size_t *lens,
                     size_t n, api_budget *out);

/* A user item to store from embeddings/generate (api_user_content.c); strings
 * borrowed from the request body. */
typedef struct uc_api_item {
    const char *user;           /* effective user */
    const char *content_type;
    const cJSON *metadata;
    bool store;                 /* user + content_type given and "store" not false */
    int64_t expires_at;         /* unix seconds (the request's ttl, else the type's in
                                   user_content_ttl); 0 = never */
} uc_api_item;

/* Validate content_type, metadata, ttl and store of a generate body for user
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
