/*
 * api_gateway.h - what the gateway's routes share with the other api/ files
 * (the warm-up of /api/v1/cache/warm-up builds calls the same way).
 */
#ifndef RAGD_API_GATEWAY_H
#define RAGD_API_GATEWAY_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "gateway/gateway.h"
#include "http/http.h"

/* The cache scope of a call into out: "global" if x-ragd-cache-scope says so,
 * else "user:<id>" for the caller (the one place that decides who the caller
 * is). RAGD_EINVAL for an unknown scope value. */
int api_gateway_scope(http_req *req, http_resp *resp, const cJSON *body, char *out, size_t n);

/* Fill call from the request's headers and body (borrowed). LiteLLM's `cache`
 * member is removed from body and applied; call->raw is then body re-rendered
 * (in the request's arena). On a bad header or `cache` fills resp with a 400
 * and returns RAGD_EINVAL. */
int api_gateway_call(http_req *req, http_resp *resp, cJSON *body, int endpoint, gw_call *call);

/* POST /api/v1/cache/warm-up with {requests: [...], concurrency}. */
void api_gateway_warm_up(http_req *req, http_resp *resp, cJSON *body);

#endif
