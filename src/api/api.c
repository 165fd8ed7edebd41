/*
 * api.c - route table assembly: every area's routes, registered once at
 * start. The helpers the handlers share are in api_json.c.
 */
#include "api/api.h"

void api_register(router_t *r)
{
    api_health_register(r);
    api_ops_register(r);
    api_docs_register(r);
    api_stats_register(r);
    api_cache_register(r);
    api_embed_register(r);
    api_kb_register(r);
    api_jobs_register(r);
    api_search_register(r);
    api_auth_register(r);
    api_ratelimit_register(r);
    api_sessions_register(r);
    api_gateway_register(r);
    api_rerank_register(r);
    api_rag_register(r);
    api_route_register(r);
    api_user_content_register(r);
    api_tei_register(r);
    api_semcache_register(r);
}
