/*
 * api_int.h - handlers and helpers shared between api/ files (not for other
 * subsystems).
 */
#ifndef RAGD_API_INT_H
#define RAGD_API_INT_H

#include <cjson/cJSON.h>

#include "cache/cache.h"
#include "http/http.h"

/* The TTL settings object ({default, embedding, response, prefixes}); caller
 * owns it (cJSON_Delete). */
cJSON *cache_api_ttl_settings(cache_t *c);

void cache_api_stats(http_req *req, http_resp *resp);
void cache_api_warm_up(http_req *req, http_resp *resp);

#endif
