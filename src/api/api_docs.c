/*
 * api_docs.c - GET /openapi.json (the checked-in OpenAPI 3.1 document, served
 * byte for byte) and GET /docs (a static page that fetches and renders it; no
 * credential needed for the page itself, the document keeps the route's auth).
 * The document is written by hand beside the code; test_api_docs.c fails when
 * a route is missing from it or it names a route the router does not have.
 */
#include "api/api.h"
#include "api/api_docs.h"

static void docs__openapi(http_req *req, http_resp *resp)
{
    http_resp_static(resp, 200, "application/json", api_asset_openapi_json,
                     api_asset_openapi_json_len);
}

static void docs__page(http_req *req, http_resp *resp)
{
    http_resp_static(resp, 200, "text/html; charset=utf-8", api_asset_apidocs_html,
                     api_asset_apidocs_html_len);
}

void api_docs_register(router_t *r)
{
    router_add(r, HTTP_GET, "/openapi.json", docs__openapi);
    router_add(r, HTTP_GET | HTTP_HEAD, "/docs", docs__page);
}
