/*
 * test_trace.c - traceparent parsing per W3C Trace Context: valid headers
 * give their trace id and flags; malformed ones (case, lengths, zero ids,
 * version ff, version 00 with more fields) are refused without touching the
 * outputs; random ids are lowercase hex of the asked length.
 */
#include <string.h>

#include "http/trace.h"
#include "testing.h"

#define TRACE "4bf92f3577b34da6a3ce929d0e0e4736"

TEST(valid_headers_parse)
{
    char id[33], fl[3];
    ASSERT_TRUE(http_trace_parse("00-" TRACE "-00f067aa0ba902b7-01", id, fl));
    ASSERT_EQ_STR(id, TRACE);
    ASSERT_EQ_STR(fl, "01");
    ASSERT_TRUE(http_trace_parse("cc-" TRACE "-00f067aa0ba902b7-00-what-ever", id, fl));
    ASSERT_EQ_STR(fl, "00");
    ASSERT_TRUE(http_trace_parse("01-" TRACE "-00f067aa0ba902b7-09", id, fl));
}

TEST(malformed_headers_are_refused)
{
    static const char *const bad[] = {
        NULL, "", "garbage",
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        "00-" TRACE "-0000000000000000-01",
        "ff-" TRACE "-00f067aa0ba902b7-01",
        "00-" TRACE "-00f067aa0ba902b7-01-extra",
        "01-" TRACE "-00f067aa0ba902b7-01x",
        "00-" TRACE "-00f067aa0ba902b7-1",
        "00_" TRACE "-00f067aa0ba902b7-01",
        "00-" TRACE "a-00f067aa0ba902b-01",
        "0g-" TRACE "-00f067aa0ba902b7-01",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char id[33] = "untouched", fl[3] = "u";
        ASSERT_TRUE(!http_trace_parse(bad[i], id, fl));
        ASSERT_EQ_STR(id, "untouched");
        ASSERT_EQ_STR(fl, "u");
    }
}

TEST(random_ids_are_lowercase_hex)
{
    char a[33], b[33], s[17];
    http_trace_random_hex(a, 16);
    http_trace_random_hex(b, 16);
    http_trace_random_hex(s, 8);
    ASSERT_EQ_INT(strlen(a), 32);
    ASSERT_EQ_INT(strlen(s), 16);
    ASSERT_EQ_INT(strspn(a, "0123456789abcdef"), 32);
    ASSERT_EQ_INT(strspn(s, "0123456789abcdef"), 16);
    ASSERT_TRUE(strcmp(a, b) != 0);
}

TEST(outgoing_headers_are_a_new_child_span)
{
    char lines[2][HTTP_TRACE_LINE_MAX];
    ASSERT_EQ_INT(http_trace_headers(NULL, lines), 0);
    http_trace t = { .trace_id = "", .flags = "01" };
    ASSERT_EQ_INT(http_trace_headers(&t, lines), 0);  /* no trace: nothing sent */
    snprintf(t.trace_id, sizeof t.trace_id, "%s", TRACE);
    ASSERT_EQ_INT(http_trace_headers(&t, lines), 1);
    char id[33], fl[3];
    ASSERT_TRUE(!strncmp(lines[0], "traceparent: ", 13));
    ASSERT_TRUE(http_trace_parse(lines[0] + 13, id, fl));
    ASSERT_EQ_STR(id, TRACE);
    ASSERT_EQ_STR(fl, "01");
    char first[HTTP_TRACE_LINE_MAX];
    snprintf(first, sizeof first, "%s", lines[0]);
    snprintf(t.state, sizeof t.state, "vendor=abc");
    ASSERT_EQ_INT(http_trace_headers(&t, lines), 2);
    ASSERT_TRUE(strcmp(first, lines[0]) != 0);  /* a new span id per call */
    ASSERT_EQ_STR(lines[1], "tracestate: vendor=abc");
}

TEST(current_trace_is_per_thread)
{
    ASSERT_TRUE(http_trace_current() == NULL);
    http_trace t = { .trace_id = TRACE, .flags = "00" };
    http_trace_set_current(&t);
    t.trace_id[0] = 'x';  /* copied, not borrowed */
    ASSERT_EQ_STR(http_trace_current()->trace_id, TRACE);
    http_trace_set_current(NULL);
    ASSERT_TRUE(http_trace_current() == NULL);
}

int main(void)
{
    RUN(valid_headers_parse);
    RUN(malformed_headers_are_refused);
    RUN(random_ids_are_lowercase_hex);
    RUN(outgoing_headers_are_a_new_child_span);
    RUN(current_trace_is_per_thread);
    return TEST_REPORT();
}
