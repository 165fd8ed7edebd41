/*
 * test_buf.c - the growable buffer: appends across growth stay NUL-terminated
 * and intact (checked against snprintf), printf beyond the stack scratch,
 * reset keeps the memory, detach hands over (never NULL), and JSON string
 * literals that a JSON parser (cJSON) reads back to the same bytes, with
 * invalid UTF-8 replaced by U+FFFD; numbers appended as PRIu64, PRId64 and
 * "%.9g" print them.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "testing.h"
#include "util/buf.h"

TEST(appends_grow_and_stay_terminated)
{
    buf_t b = BUF_INIT;
    ASSERT_TRUE(b.data == NULL && b.len == 0);
    char want[20000];
    size_t wl = 0;
    for (int i = 0; i < 2000; i++) {
        switch (i % 4) {
        case 0: buf_putc(&b, 'x'); want[wl++] = 'x'; break;
        case 1: buf_puts(&b, "ab"); memcpy(want + wl, "ab", 2); wl += 2; break;
        case 2: buf_append(&b, "\0z", 2); memcpy(want + wl, "\0z", 2); wl += 2; break;
        default: buf_printf(&b, "%d;", i); wl += (size_t)snprintf(want + wl, 16, "%d;", i);
        }
        ASSERT_EQ_INT(b.len, wl);
        ASSERT_EQ_INT(b.data[b.len], '\0');
        ASSERT_TRUE(b.cap > b.len);
    }
    ASSERT_TRUE(memcmp(b.data, want, wl) == 0);
    buf_append(&b, NULL, 0);  /* nothing to add is fine */
    ASSERT_EQ_INT(b.len, wl);
    buf_free(&b);
    ASSERT_TRUE(b.data == NULL && b.len == 0 && b.cap == 0);
}

TEST(printf_longer_than_the_scratch)
{
    buf_t b = BUF_INIT;
    buf_puts(&b, "<");
    char big[1000];
    memset(big, 'q', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    buf_printf(&b, "%s|%s|%05d", big, "tail", 42);
    ASSERT_EQ_INT(b.len, 1 + 999 + 1 + 4 + 1 + 5);
    ASSERT_TRUE(memcmp(b.data + 1, big, 999) == 0);
    ASSERT_EQ_STR(b.data + 1000, "|tail|00042");
    buf_free(&b);
}

TEST(reset_and_detach)
{
    buf_t b = BUF_INIT;
    buf_puts(&b, "some bytes");
    char *mem = b.data;
    size_t cap = b.cap;
    buf_reset(&b);
    ASSERT_EQ_INT(b.len, 0);
    ASSERT_EQ_STR(b.data, "");
    ASSERT_TRUE(b.data == mem && b.cap == cap);
    buf_puts(&b, "again");
    size_t len = 0;
    char *p = buf_detach(&b, &len);
    ASSERT_EQ_STR(p, "again");
    ASSERT_EQ_INT(len, 5);
    ASSERT_TRUE(b.data == NULL && b.len == 0 && b.cap == 0);
    free(p);
    p = buf_detach(&b, &len);  /* an empty buffer still gives a string */
    ASSERT_TRUE(p != NULL);
    ASSERT_EQ_STR(p, "");
    ASSERT_EQ_INT(len, 0);
    free(p);
}

/* buf_put_json_str(s) parsed back by cJSON. Caller frees. */
static char *round_trip(const char *s, size_t n, char **literal)
{
    buf_t b = BUF_INIT;
    buf_put_json_str(&b, s, n);
    cJSON *v = cJSON_ParseWithLength(b.data, b.len);
    char *out = cJSON_IsString(v) ? strdup(v->valuestring) : NULL;
    cJSON_Delete(v);
    *literal = buf_detach(&b, NULL);
    return out;
}

TEST(json_strings_round_trip)
{
    char *lit;
    const char *cases[] = {
        "plain", "", "quote \" backslash \\ slash /", "tab\tnl\ncr\rbs\bff\f",
        "\x01\x1f\x7f", "caf\xc3\xa9 \xe4\xb8\xad \xf0\x9f\x98\x80",
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *back = round_trip(cases[i], strlen(cases[i]), &lit);
        ASSERT_TRUE(back != NULL);
        ASSERT_EQ_STR(back, cases[i]);
        free(back);
        free(lit);
    }
    /* control characters are escaped, never raw */
    char *back = round_trip("a\x01" "b", 3, &lit);
    ASSERT_EQ_STR(lit, "\"a\\u0001b\"");
    free(back);
    free(lit);
    /* invalid UTF-8 becomes U+FFFD, so the output is always valid JSON */
    back = round_trip("x\xff" "y\xc3", 4, &lit);
    ASSERT_EQ_STR(lit, "\"x\\ufffdy\\ufffd\"");
    ASSERT_EQ_STR(back, "x\xef\xbf\xbdy\xef\xbf\xbd");
    free(back);
    free(lit);
}

/* xorshift64 values of every magnitude. */
static uint64_t buf__next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s >> (*s % 64);
}

TEST(buf_appends_integers)
{
    buf_t b = BUF_INIT;
    char want[4096];
    size_t wl = 0;
    uint64_t s = 12345;
    for (int i = 0; i < 100; i++) {  /* crosses several buffer growths */
        uint64_t v = buf__next(&s);
        buf_put_u64(&b, v);
        buf_putc(&b, ',');
        buf_put_i64(&b, -(int64_t)(v >> 1));
        buf_putc(&b, ';');
        wl += (size_t)snprintf(want + wl, sizeof want - wl, "%" PRIu64 ",%" PRId64 ";", v,
                               -(int64_t)(v >> 1));
        ASSERT_EQ_INT(b.len, wl);
        ASSERT_EQ_INT(b.data[b.len], '\0');
    }
    buf_put_i64(&b, INT64_MIN);
    buf_put_u64(&b, UINT64_MAX);
    wl += (size_t)snprintf(want + wl, sizeof want - wl, "%" PRId64 "%" PRIu64, INT64_MIN,
                           UINT64_MAX);
    ASSERT_EQ_STR(b.data, want);
    buf_reset(&b);
    buf_put_g(&b, -0.1f, 9);
    buf_putc(&b, ',');
    buf_put_g(&b, 1e-5, 9);
    char want9[64];
    snprintf(want9, sizeof want9, "%.9g,%.9g", (double)-0.1f, 1e-5);
    ASSERT_EQ_STR(b.data, want9);
    buf_free(&b);
}

int main(void)
{
    RUN(appends_grow_and_stay_terminated);
    RUN(printf_longer_than_the_scratch);
    RUN(reset_and_detach);
    RUN(json_strings_round_trip);
    RUN(buf_appends_integers);
    return TEST_REPORT();
}
