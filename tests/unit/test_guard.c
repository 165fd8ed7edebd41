/*
 * test_guard.c - the browser checks of http/guard.c on plain header values:
 * which Host names pass (IP literals, loopback names, the listen host, allowed
 * names and suffixes), which Origins may change state, and which media types a
 * JSON body may carry from a browser and from other clients.
 */
#include <stdlib.h>

#include "http/guard.h"
#include "testing.h"

static http_guard *mk(const char *hosts, const char *origins)
{
    http_guard *g = NULL;
    ragd_error err;
    if (http_guard_create(hosts, origins, "127.0.0.1:8080", &g, &err) != 0)
        abort();
    return g;
}

/* Status of a GET with this Host while the Host rule is enforced. */
static int host_status(const http_guard *g, const char *host)
{
    const char *code = NULL;
    return http_guard_verdict(g, HTTP_GET, host, NULL, NULL, true, true, &code);
}

TEST(host_names)
{
    http_guard *g = mk("ragd.internal, .corp.example", "");
    const char *ok[] = { "127.0.0.1:8080", "127.0.0.1", "[::1]:8080", "10.1.2.3",
                         "localhost", "LOCALHOST:1", "localhost.", "app.localhost:8080",
                         "ragd.internal", "RAGD.INTERNAL:9", "corp.example", "a.b.corp.example" };
    const char *bad[] = { "rebind.evil", "rebind.evil:8080", "localhost.evil", "xcorp.example",
                          "ragd.internal.evil", "[::1", "a:b:c", ":8080", "" };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        ASSERT_EQ_INT(host_status(g, ok[i]), 0);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ASSERT_EQ_INT(host_status(g, bad[i]), 403);
    const char *code = NULL;
    ASSERT_EQ_INT(http_guard_verdict(g, HTTP_GET, "rebind.evil", NULL, NULL, false, true, &code),
                  403); /* allowed_hosts set: enforced with auth on too */
    ASSERT_EQ_STR(code, "host_not_allowed");
    http_guard_destroy(g);
    g = mk("", "");
    ASSERT_EQ_INT(http_guard_verdict(g, HTTP_GET, "ragd.example", NULL, NULL, false, true, &code),
                  0); /* auth on, nothing configured: not enforced */
    http_guard_destroy(g);
    g = mk("*", "");
    ASSERT_EQ_INT(host_status(g, "anything.example"), 0);
    http_guard_destroy(g);
}

TEST(origins)
{
    http_guard *g = mk("", "https://app.example/");
    const char *code = NULL;
#define V(m, host, origin) http_guard_verdict(g, m, host, origin, "application/json", true, true, &code)
    ASSERT_EQ_INT(V(HTTP_POST, "127.0.0.1:8080", "http://127.0.0.1:8080"), 0);
    ASSERT_EQ_INT(V(HTTP_POST, "localhost:8080", "http://LOCALHOST:8080/"), 0);
    ASSERT_EQ_INT(V(HTTP_POST, "127.0.0.1:8080", "https://app.example"), 0);
    ASSERT_EQ_INT(V(HTTP_DELETE, "127.0.0.1:8080", "http://evil.example"), 403);
    ASSERT_EQ_STR(code, "cross_origin");
    ASSERT_EQ_INT(V(HTTP_POST, "127.0.0.1:8080", "http://127.0.0.1:9999"), 403);
    ASSERT_EQ_INT(V(HTTP_PUT, "127.0.0.1:8080", "null"), 403);
    ASSERT_EQ_INT(V(HTTP_POST, "127.0.0.1:8080", "https://app.example.evil"), 403);
    ASSERT_EQ_INT(V(HTTP_GET, "127.0.0.1:8080", "http://evil.example"), 0); /* reads pass */
#undef V
    http_guard_destroy(g);
}

TEST(media_types)
{
    http_guard *g = mk("", "");
    const char *code = NULL;
    const char *own = "http://127.0.0.1:8080";
#define T(origin, ctype, json) \
    http_guard_verdict(g, HTTP_POST, "127.0.0.1:8080", origin, ctype, true, json, &code)
    ASSERT_EQ_INT(T(own, "application/json", true), 0);
    ASSERT_EQ_INT(T(own, "Application/JSON; charset=utf-8", true), 0);
    ASSERT_EQ_INT(T(own, "application/merge-patch+json", true), 0);
    ASSERT_EQ_INT(T(own, "text/plain", true), 415);
    ASSERT_EQ_STR(code, "unsupported_media_type");
    ASSERT_EQ_INT(T(own, "application/x-www-form-urlencoded", true), 415);
    ASSERT_EQ_INT(T(own, NULL, true), 415);
    ASSERT_EQ_INT(T(own, "application/jsonx", true), 415);
    ASSERT_EQ_INT(T(NULL, NULL, true), 0);                 /* a script */
    ASSERT_EQ_INT(T(NULL, "application/x-www-form-urlencoded", true), 0); /* curl -d */
    ASSERT_EQ_INT(T(NULL, "text/plain", true), 415);
    ASSERT_EQ_INT(T(own, "text/plain", false), 0);        /* a raw-body route */
#undef T
    http_guard_destroy(g);
}

int main(void)
{
    RUN(host_names);
    RUN(origins);
    RUN(media_types);
    return TEST_REPORT();
}
