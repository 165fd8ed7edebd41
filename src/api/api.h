/*
 * api.h - HTTP handlers, one file per area (api_cache.c, api_ops.c, ...),
 * thin: they parse and validate the request, call the core, and render the
 * answer. The helpers here give every area the same JSON parsing and error
 * shapes.
 */
#ifndef RAGD_API_H
#define RAGD_API_H

#include <cjson/cJSON.h>
#include <stdbool.h>

#include "app/app.h"
#include "http/http.h"

/* Register every route of every area. */
void api_register(router_t *r);

/* Per-area registration (called by api_register). */
void api_health_register(router_t *r);   /* /health */
void api_ops_register(router_t *r);
void api_docs_register(router_t *r);     /* /openapi.json, /docs */
void api_stats_register(router_t *r);      /* /api/v1/stats/history */
void api_cache_register(router_t *r);
void api_embed_register(router_t *r);
void api_kb_register(router_t *r);
void api_jobs_register(router_t *r);      /* /api/v1/jobs */
void api_search_register(router_t *r);
void api_auth_register(router_t *r);       /* /api/v1/keys */
void api_ratelimit_register(router_t *r);  /* /api/v1/ratelimit/check */
void api_sessions_register(router_t *r);   /* /api/v1/sessions */
void api_gateway_register(router_t *r);
void api_rerank_register(router_t *r);
void api_rag_register(router_t *r);
void api_route_register(router_t *r);
void api_user_content_register(router_t *r); /* /api/v1/users/{user_id}/items */
void api_semcache_register(router_t *r);   /* /api/v1/semantic-cache */
void api_tei_register(router_t *r);        /* /embed, /rerank, /info, /tokenize */

static inline app_t *api_app(const http_req *req) { return (app_t *)req->app; }

/* Parse the body as any JSON value under json_parse's limits. On failure
 * fills resp with a 400 (invalid_json with the position, or json_too_deep)
 * and returns false; *out is owned by the caller on success (cJSON_Delete). */
bool api_parse_json(const http_req *req, http_resp *resp, cJSON **out);

/* api_parse_json, and the value must be an object (400 invalid_json if not). */
bool api_parse_object(const http_req *req, http_resp *resp, cJSON **out);

/* Does the matched route read its body as JSON? (All do but the cache PUT, which
 * stores the bytes with their Content-Type.) */
bool api_body_is_json(const http_req *req);

/* Every integer a request carries goes through one of these two (both use
 * json_get_count's rule): member `name` of obj, or the query-string parameter
 * `name`, as an integer in [min, max] into *out; *out untouched when absent.
 * On a bad value: false, and resp holds a 400 invalid_request naming the field
 * and the range. */
bool api_get_count(const http_req *req, http_resp *resp, const cJSON *obj, const char *name,
                   int64_t min, int64_t max, int64_t *out);
bool api_query_count(const http_req *req, http_resp *resp, const char *name, int64_t min,
                     int64_t max, int64_t *out);

/* A vector the request carries: v must be a non-empty array of at most 65536
 * numbers, each within a float's range (else 400 invalid_request naming what).
 * *out is taken from the request's arena (valid until the request ends). */
bool api_get_vector(const http_req *req, http_resp *resp, const cJSON *v, const char *what,
                    float **out, size_t *n);

/* An error response from a RAGD_E* code, with a message. */
void api_error_rc(const http_req *req, http_resp *resp, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Render v as the response body with status (v is not freed). */
void api_reply_json(http_resp *resp, int status, const cJSON *v);

/* The model scheduler's descriptor of a client's embedding call: EMBED_BY_SIZE
 * (interactive unless its size makes it bulk: embed_interactive_max_tokens),
 * with the caller (user, else tenant, else key id) as the tenant bulk work runs
 * under. Borrows from req's identity for the request's life. */
embed_work api_embed_work(const http_req *req);

#endif
