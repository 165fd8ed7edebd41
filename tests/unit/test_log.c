/*
 * test_log.c - the logger's two formats, read back from stderr: JSON lines
 * escape like JSON, logfmt lines leave plain tokens bare and quote values
 * with spaces, quotes, '=' or control bytes, absent fields are left out, and
 * the timestamp is UTC with six-digit microseconds.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "obs/log.h"
#include "testing.h"

/* Run one log call with stderr sent to a file; the line written into out. */
static void capture(void (*fn)(void), char *out, size_t n)
{
    FILE *f = tmpfile();
    int saved = dup(STDERR_FILENO);
    dup2(fileno(f), STDERR_FILENO);
    fn();
    dup2(saved, STDERR_FILENO);
    close(saved);
    rewind(f);
    size_t k = fread(out, 1, n - 1, f);
    out[k] = '\0';
    fclose(f);
}

/* ts is "YYYY-MM-DDTHH:MM:SS.uuuuuuZ" (UTC, microseconds as six digits). */
static bool ts_shape(const char *ts)
{
    const char *shape = "dddd-dd-ddTdd:dd:dd.ddddddZ";
    for (size_t i = 0; shape[i]; i++) {
        if (shape[i] == 'd' ? !isdigit((unsigned char)ts[i]) : ts[i] != shape[i])
            return false;
    }
    return true;
}

static void one_request(void)
{
    log_request_line l = {
        .method = "GET", .route = "/v1/chat/completions", .request_id = "r1", .status = 200,
        .latency_us = 1500, .cache = "miss", .client = "::1", .trace_id = NULL, .key_id = "admin",
        .user = "", .model = "my \"odd\" model=x\n", .tokens_in = 3, .tokens_out = -1,
        .upstream_us = 2500,
    };
    log_request(&l);
}

TEST(json_lines)
{
    char line[1024];
    log_set_format(LOG_FORMAT_JSON);
    capture(one_request, line, sizeof line);
    ASSERT_TRUE(strncmp(line, "{\"ts\":\"", 7) == 0);
    ASSERT_TRUE(ts_shape(line + 7) && strncmp(line + 34, "\",\"level\":\"info\"", 16) == 0);
    ASSERT_TRUE(strstr(line, ",\"msg\":\"request\",\"method\":\"GET\",\"route\":"
                             "\"/v1/chat/completions\",\"status\":200,\"latency_us\":1500,"
                             "\"request_id\":\"r1\",\"cache\":\"miss\",\"client\":\"::1\","
                             "\"key_id\":\"admin\",\"model\":\"my \\\"odd\\\" model=x\\n\","
                             "\"tokens_in\":3,\"upstream_ms\":2}\n") != NULL);
}

TEST(text_lines)
{
    char line[1024];
    log_set_format(LOG_FORMAT_TEXT);
    capture(one_request, line, sizeof line);
    log_set_format(LOG_FORMAT_JSON);
    ASSERT_TRUE(strncmp(line, "ts=", 3) == 0 && ts_shape(line + 3));
    ASSERT_TRUE(strstr(line, " level=info msg=request method=GET route=/v1/chat/completions "
                             "status=200 latency_us=1500 request_id=r1 cache=miss client=::1 "
                             "key_id=admin model=\"my \\\"odd\\\" model=x\\n\" tokens_in=3 "
                             "upstream_ms=2\n") != NULL);
}

static void one_msg(void) { log_msg(LOG_WARN, "store down: %s", "a\tb"); }

TEST(text_messages)
{
    char line[256];
    log_set_format(LOG_FORMAT_TEXT);
    capture(one_msg, line, sizeof line);
    log_set_format(LOG_FORMAT_JSON);
    ASSERT_TRUE(strstr(line, " level=warn msg=\"store down: a\\tb\"\n") != NULL);
    ASSERT_EQ_INT(log_format_parse("text"), LOG_FORMAT_TEXT);
    ASSERT_EQ_INT(log_format_parse("json"), LOG_FORMAT_JSON);
    ASSERT_EQ_INT(log_format_parse("xml"), -1);
}

int main(void)
{
    RUN(json_lines);
    RUN(text_lines);
    RUN(text_messages);
    return TEST_REPORT();
}
