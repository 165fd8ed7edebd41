/*
 * test_server.c - the server's per-request arena: every handler gets one
 * (req->arena), empty at the start of each request, and everything allocated
 * from it is freed when the request ends (ASan's leak check runs at exit).
 */
#include <stdlib.h>

#include "http/router.h"
#include "http_fixture.h"
#include "testing.h"
#include "util/arena.h"

/* Builds its answer from many small arena pieces; says what it saw. */
static void h_pieces(http_req *req, http_resp *resp)
{
    if (!req->arena) {
        http_resp_set_body(resp, 500, "text/plain", strdup("no arena"), 8);
        return;
    }
    size_t at_start = arena_used(req->arena);
    char **parts = arena_alloc(req->arena, 1000 * sizeof *parts);
    for (int i = 0; i < 1000; i++) {
        char tmp[16];
        snprintf(tmp, sizeof tmp, "%d", i % 10);
        parts[i] = arena_strdup(req->arena, tmp);
    }
    buf_t b = BUF_INIT;
    buf_printf(&b, "%zu ", at_start);
    for (int i = 0; i < 1000; i++)
        buf_puts(&b, parts[i]);
    size_t len = 0;
    char *body = buf_detach(&b, &len);
    http_resp_set_body(resp, 200, "text/plain", body, len);
}

TEST(each_request_gets_a_fresh_arena)
{
    router_t *r = router_create();
    router_add(r, HTTP_GET, "/pieces", h_pieces);
    http_server_t *s = fixture_server(r);
    ASSERT_TRUE(s != NULL);
    for (int k = 0; k < 3; k++) {
        fixture_reply rep;
        fixture_get(s, "/pieces", &rep);
        ASSERT_EQ_INT(rep.rc, CURLE_OK);
        ASSERT_EQ_INT(rep.status, 200);
        ASSERT_EQ_INT(rep.body.len, 2 + 1000);
        ASSERT_TRUE(strncmp(rep.body.data, "0 0123456789", 12) == 0);
        fixture_reply_free(&rep);
    }
    http_server_stop(s, 1000);
    router_destroy(r);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    RUN(each_request_gets_a_fresh_arena);
    curl_global_cleanup();
    return TEST_REPORT();
}
