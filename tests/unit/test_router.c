/*
 * test_router.c - method + path patterns: literal segments, {name}
 * parameters and a final {name*} that takes the rest of the path, the first
 * registered route winning, 404 versus 405 with the Allow methods of every
 * route that matched the path, and the route's pattern and index for metrics.
 */
#include <stdlib.h>
#include <string.h>

#include "http/router.h"
#include "testing.h"

static void h_a(http_req *req, http_resp *resp) { (void)req; resp->status = 1; }
static void h_b(http_req *req, http_resp *resp) { (void)req; resp->status = 2; }
static void h_c(http_req *req, http_resp *resp) { (void)req; resp->status = 3; }

static int route(router_t *r, int method, const char *path, http_req *req, http_handler *h,
                 int *allowed)
{
    memset(req, 0, sizeof *req);
    req->method = method;
    req->path = path;
    req->route_index = -1;
    return router_match(r, req, h, allowed);
}

static void free_params(http_req *req)
{
    for (int i = 0; i < req->nparams; i++)
        free(req->param_values[i]);
    req->nparams = 0;
}

TEST(router_params_rest_404_and_405)
{
    router_t *r = router_create();
    router_add(r, HTTP_GET, "/api/v1/cache/stats", h_a);
    router_add(r, HTTP_GET | HTTP_HEAD, "/api/v1/cache/{prefix}/{key*}", h_b);
    http_req req;
    http_handler h = NULL;
    int allowed = 0;
    ASSERT_EQ_INT(route(r, HTTP_GET, "/api/v1/cache/stats", &req, &h, &allowed), ROUTER_OK);
    ASSERT_TRUE(h == h_a);
    ASSERT_EQ_INT(route(r, HTTP_GET, "/api/v1/cache/p/a/b/c", &req, &h, &allowed), ROUTER_OK);
    ASSERT_TRUE(h == h_b);
    ASSERT_EQ_STR(http_req_param(&req, "prefix"), "p");
    ASSERT_EQ_STR(http_req_param(&req, "key"), "a/b/c");
    free_params(&req);
    ASSERT_EQ_INT(route(r, HTTP_POST, "/api/v1/cache/p/k", &req, &h, &allowed), ROUTER_BAD_METHOD);
    ASSERT_EQ_INT(allowed, HTTP_GET | HTTP_HEAD);
    ASSERT_EQ_INT(req.nparams, 0);  /* nothing left behind on a 405 */
    char allow[64];
    router_allow_string(allowed, allow, sizeof allow);
    ASSERT_EQ_STR(allow, "GET, HEAD");
    ASSERT_EQ_INT(route(r, HTTP_GET, "/api/v1/cache/p", &req, &h, &allowed), ROUTER_NOT_FOUND);
    ASSERT_EQ_INT(route(r, HTTP_GET, "/nope", &req, &h, &allowed), ROUTER_NOT_FOUND);
    router_destroy(r);
}

TEST(several_params_and_segment_counts)
{
    router_t *r = router_create();
    router_add(r, HTTP_GET, "/api/v1/namespaces/{ns}/documents/{id}", h_a);
    http_req req;
    http_handler h = NULL;
    int allowed = 0;
    ASSERT_EQ_INT(route(r, HTTP_GET, "/api/v1/namespaces/kb1/documents/doc-7", &req, &h, &allowed),
                  ROUTER_OK);
    ASSERT_EQ_INT(req.nparams, 2);
    ASSERT_EQ_STR(http_req_param(&req, "ns"), "kb1");
    ASSERT_EQ_STR(http_req_param(&req, "id"), "doc-7");
    ASSERT_TRUE(http_req_param(&req, "nope") == NULL);
    free_params(&req);
    /* a plain parameter is one segment: too many or too few is a 404 */
    ASSERT_EQ_INT(route(r, HTTP_GET, "/api/v1/namespaces/kb1/documents/a/b", &req, &h, &allowed),
                  ROUTER_NOT_FOUND);
    ASSERT_EQ_INT(route(r, HTTP_GET, "/api/v1/namespaces/kb1/documents", &req, &h, &allowed),
                  ROUTER_NOT_FOUND);
    ASSERT_EQ_INT(route(r, HTTP_GET, "/api/v1/namespaces/kb1/other/x", &req, &h, &allowed),
                  ROUTER_NOT_FOUND);
    ASSERT_EQ_INT(req.nparams, 0);
    router_destroy(r);
}

TEST(first_route_wins_and_405_collects_methods)
{
    router_t *r = router_create();
    router_add(r, HTTP_GET, "/items/special", h_a);
    router_add(r, HTTP_GET, "/items/{id}", h_b);
    router_add(r, HTTP_DELETE, "/items/{id}", h_c);
    http_req req;
    http_handler h = NULL;
    int allowed = 0;
    ASSERT_EQ_INT(route(r, HTTP_GET, "/items/special", &req, &h, &allowed), ROUTER_OK);
    ASSERT_TRUE(h == h_a);
    ASSERT_EQ_INT(req.route_index, 0);
    ASSERT_EQ_STR(req.route, "/items/special");
    ASSERT_EQ_INT(route(r, HTTP_DELETE, "/items/special", &req, &h, &allowed), ROUTER_OK);
    ASSERT_TRUE(h == h_c);  /* the literal route has no DELETE: the parameter one answers */
    ASSERT_EQ_INT(req.route_index, 2);
    ASSERT_EQ_STR(req.route, "/items/{id}");
    ASSERT_EQ_STR(http_req_param(&req, "id"), "special");
    free_params(&req);
    ASSERT_EQ_INT(route(r, HTTP_PUT, "/items/9", &req, &h, &allowed), ROUTER_BAD_METHOD);
    ASSERT_EQ_INT(allowed, HTTP_GET | HTTP_DELETE);
    ASSERT_EQ_INT(router_count(r), 3);
    ASSERT_EQ_STR(router_pattern(r, 1), "/items/{id}");
    ASSERT_EQ_INT(router_methods(r, 2), HTTP_DELETE);
    router_destroy(r);
    router_destroy(NULL);
}

TEST(allow_string)
{
    char out[64];
    router_allow_string(HTTP_GET | HTTP_HEAD | HTTP_POST | HTTP_PUT | HTTP_PATCH | HTTP_DELETE |
                        HTTP_OPTIONS, out, sizeof out);
    ASSERT_EQ_STR(out, "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS");
    router_allow_string(0, out, sizeof out);
    ASSERT_EQ_STR(out, "");
    char small[12];  /* too small: whole names only, always terminated */
    router_allow_string(HTTP_GET | HTTP_POST | HTTP_DELETE, small, sizeof small);
    ASSERT_EQ_STR(small, "GET, POST");
}

int main(void)
{
    RUN(router_params_rest_404_and_405);
    RUN(several_params_and_segment_counts);
    RUN(first_route_wins_and_405_collects_methods);
    RUN(allow_string);
    return TEST_REPORT();
}
