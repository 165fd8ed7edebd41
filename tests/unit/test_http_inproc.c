/*
 * test_http_inproc.c - the in-process request path (http/inproc.c): routing,
 * path parameters, percent-decoding of path and query like the server,
 * case-insensitive headers, bodies with NUL bytes, the before hook, 404/405
 * answers in the JSON error shape, and the body limit.
 */
#include <stdlib.h>
#include <string.h>

#include "http/inproc.h"
#include "testing.h"
#include "util/buf.h"

/* Echo what the handler saw as JSON-free text: param|query a|query b|header|body length. */
static void echo(http_req *req, http_resp *resp)
{
    const char *id = http_req_param(req, "id"), *a = http_req_query(req, "a");
    const char *b = http_req_query(req, "b"), *h = http_req_header(req, "X-Thing");
    char ip[64];
    http_req_client_ip(req, ip, sizeof ip);
    buf_t out = BUF_INIT;
    buf_printf(&out, "%s|%s|%s|%s|%zu|%s|%s", id ? id : "-", a ? a : "-", b ? b : "-",
               h ? h : "-", req->body_len, ip, req->route);
    size_t n;
    char *data = buf_detach(&out, &n);
    http_resp_set_body(resp, 200, "text/plain", data, n);
}

static bool before(void *app, http_req *req, http_resp *resp)
{
    if (http_req_header(req, "X-Deny")) {
        http_error(req, resp, 401, "unauthorized", "denied");
        return false;
    }
    return true;
}

static router_t *make_router(void)
{
    router_t *r = router_create();
    router_add(r, HTTP_GET | HTTP_POST, "/things/{id}", echo);
    return r;
}

static void call(router_t *r, const char *method, const char *url, const http_kv *hs, int nh,
                 const char *body, size_t blen, http_inproc_resp *out)
{
    http_server_opts o = { .max_body_bytes = 64, .before = before };
    http_inproc_req in = { .method = method, .url = url, .headers = hs, .nheaders = nh,
                           .body = body, .body_len = blen, .client_ip = "10.0.0.7" };
    http_inproc_call(r, &o, &in, out);
}

TEST(routes_params_query_headers)
{
    router_t *r = make_router();
    http_kv hs[] = { { "x-thing", "v1" } };
    http_inproc_resp out;
    call(r, "POST", "/things/a%20b?a=x%20y+z&b&c=1", hs, 1, "ab\0cd", 5, &out);
    ASSERT_EQ_INT(out.status, 200);
    ASSERT_EQ_STR(out.body, "a b|x y z|-|v1|5|10.0.0.7|/things/{id}");
    ASSERT_TRUE(!out.deferred);
    http_inproc_resp_free(&out);
    router_destroy(r);
}

TEST(errors_have_the_json_shape)
{
    router_t *r = make_router();
    http_inproc_resp out;
    call(r, "GET", "/nothing", NULL, 0, NULL, 0, &out);
    ASSERT_EQ_INT(out.status, 404);
    ASSERT_TRUE(strstr(out.body, "\"code\":\"not_found\"") != NULL);
    ASSERT_TRUE(strstr(out.body, "\"request_id\":\"inproc-") != NULL);
    http_inproc_resp_free(&out);
    call(r, "DELETE", "/things/1", NULL, 0, NULL, 0, &out);
    ASSERT_EQ_INT(out.status, 405);
    http_inproc_resp_free(&out);
    call(r, "BREW", "/things/1", NULL, 0, NULL, 0, &out);
    ASSERT_EQ_INT(out.status, 405);
    http_inproc_resp_free(&out);
    http_kv deny[] = { { "X-Deny", "1" } };
    call(r, "GET", "/things/1", deny, 1, NULL, 0, &out);
    ASSERT_EQ_INT(out.status, 401);
    http_inproc_resp_free(&out);
    char big[65] = { 0 };
    call(r, "POST", "/things/1", NULL, 0, big, sizeof big, &out);
    ASSERT_EQ_INT(out.status, 413);
    ASSERT_TRUE(strstr(out.body, "payload_too_large") != NULL);
    http_inproc_resp_free(&out);
    router_destroy(r);
}

int main(void)
{
    RUN(routes_params_query_headers);
    RUN(errors_have_the_json_shape);
    return TEST_REPORT();
}
