/*
 * test_stream.c - deferred and streamed responses through a real server:
 * chunks written by another thread arrive in order with chunked encoding, a
 * whole answer goes out with Content-Length, a stream ended before it began is
 * a bodiless 502, one cut short mid-body is a truncated transfer (never a
 * clean end), and stopping the server answers a never-begun stream with 503.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <strings.h>
#include <unistd.h>

#include "http/router.h"
#include "http/stream.h"
#include "http_fixture.h"
#include "testing.h"

/* The producer of the current request: what it does, and its thread. */
enum produce { P_CHUNKS, P_WHOLE, P_FAIL_EARLY, P_FAIL_MID, P_NEVER };
static enum produce g_mode;
static pthread_t g_producer;
static http_stream *g_stream;
static atomic_int g_opened;  /* requests whose handler has run */

static void *producer(void *arg)
{
    http_stream *s = arg;
    switch (g_mode) {
    case P_CHUNKS:
        http_stream_begin(s, 200, "text/plain");
        http_stream_write(s, "one\n", 4);
        http_stream_write(s, "two\n", 4);
        http_stream_write(s, "three\n", 6);
        http_stream_end(s, true);
        break;
    case P_WHOLE:
        http_stream_reply(s, 201, "application/json", strdup("{\"a\":1}"), 7);
        http_stream_write(s, "ignored", 7);  /* after the end: dropped */
        break;
    case P_FAIL_EARLY:
        http_stream_end(s, false);
        break;
    case P_FAIL_MID:
        http_stream_begin(s, 200, "text/plain");
        http_stream_write(s, "partial", 7);
        http_stream_end(s, false);
        break;
    case P_NEVER:
        return NULL;  /* the test keeps the reference and releases it later */
    }
    http_stream_release(s);
    return NULL;
}

static void h_stream(http_req *req, http_resp *resp)
{
    (void)req;
    g_stream = http_stream_open(resp);
    pthread_create(&g_producer, NULL, producer, g_stream);
    atomic_fetch_add(&g_opened, 1);
}

static router_t *make_router(void)
{
    router_t *r = router_create();
    router_add(r, HTTP_GET, "/stream", h_stream);
    return r;
}

/* One request in mode m; the producer is joined before returning. */
static void request(const http_server_t *s, enum produce m, fixture_reply *rep)
{
    g_mode = m;
    fixture_get(s, "/stream", rep);
    pthread_join(g_producer, NULL);
}

/* Serve one request in mode m on a fresh server into rep. */
static bool serve_one(enum produce m, fixture_reply *rep)
{
    router_t *r = make_router();
    http_server_t *s = fixture_server(r);
    if (s)
        request(s, m, rep);
    http_server_stop(s, 1000);
    router_destroy(r);
    return s != NULL;
}

TEST(chunks_arrive_in_order)
{
    fixture_reply rep;
    ASSERT_TRUE(serve_one(P_CHUNKS, &rep));
    ASSERT_EQ_INT(rep.rc, CURLE_OK);
    ASSERT_EQ_INT(rep.status, 200);
    ASSERT_EQ_STR(rep.body.data, "one\ntwo\nthree\n");
    ASSERT_TRUE(fixture_has_header(&rep, "transfer-encoding: chunked"));
    ASSERT_TRUE(fixture_has_header(&rep, "content-type: text/plain"));
    ASSERT_TRUE(fixture_has_header(&rep, "x-request-id: "));
    fixture_reply_free(&rep);
}

TEST(a_whole_reply_has_a_length)
{
    fixture_reply rep;
    ASSERT_TRUE(serve_one(P_WHOLE, &rep));
    ASSERT_EQ_INT(rep.rc, CURLE_OK);
    ASSERT_EQ_INT(rep.status, 201);
    ASSERT_EQ_STR(rep.body.data, "{\"a\":1}");
    ASSERT_TRUE(fixture_has_header(&rep, "content-length: 7"));
    ASSERT_TRUE(!fixture_has_header(&rep, "transfer-encoding: chunked"));
    fixture_reply_free(&rep);
}

TEST(failures_are_never_a_clean_end)
{
    fixture_reply rep;
    ASSERT_TRUE(serve_one(P_FAIL_EARLY, &rep));  /* nothing said yet: a bodiless 502 */
    ASSERT_EQ_INT(rep.rc, CURLE_OK);
    ASSERT_EQ_INT(rep.status, 502);
    ASSERT_EQ_INT(rep.body.len, 0);
    fixture_reply_free(&rep);
    /* cut mid-body: a truncated transfer (the connection closes without the
     * last chunk). */
    ASSERT_TRUE(serve_one(P_FAIL_MID, &rep));
    ASSERT_TRUE(rep.rc != CURLE_OK);
    ASSERT_EQ_INT(rep.status, 200);
    fixture_reply_free(&rep);
}

typedef struct client_arg {
    const http_server_t *s;
    fixture_reply rep;
} client_arg;

static void *client(void *arg)
{
    client_arg *c = arg;
    fixture_get(c->s, "/stream", &c->rep);
    return NULL;
}

TEST(stopping_answers_waiting_streams)
{
    router_t *r = make_router();
    http_server_t *s = fixture_server(r);
    ASSERT_TRUE(s != NULL);
    g_mode = P_NEVER;
    client_arg c = { .s = s };
    pthread_t th;
    int before = atomic_load(&g_opened);
    ASSERT_TRUE(pthread_create(&th, NULL, client, &c) == 0);
    while (atomic_load(&g_opened) == before)  /* the handler ran: its stream waits */
        usleep(1000);
    pthread_join(g_producer, NULL);
    http_server_stop(s, 100);
    pthread_join(th, NULL);
    ASSERT_EQ_INT(c.rep.status, 503);
    http_stream_release(g_stream);  /* the producer's reference outlives the server */
    fixture_reply_free(&c.rep);
    router_destroy(r);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    RUN(chunks_arrive_in_order);
    RUN(a_whole_reply_has_a_length);
    RUN(failures_are_never_a_clean_end);
    RUN(stopping_answers_waiting_streams);
    curl_global_cleanup();
    return TEST_REPORT();
}
