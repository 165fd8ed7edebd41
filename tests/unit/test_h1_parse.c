/*
 * test_h1_parse.c - the HTTP/1.1 request parser (http/h1_parse.c): valid heads
 * and their framing, every refusal with its status and code, every split of a
 * request into a prefix and the rest (a prefix is never refused when the whole
 * is valid, and never accepted), pipelined requests, chunked bodies fed whole,
 * byte by byte and at every split, and URL decoding of paths and queries.
 */
#include <stdlib.h>
#include <string.h>

#include "http/h1_parse.h"
#include "testing.h"

#define MAXH 16384

static int parse(const char *s, h1_request *r, h1_error *e)
{
    return h1_parse_head(s, strlen(s), MAXH, r, e);
}

static const char *hdr(const h1_request *r, const char *buf, const char *name, char *out)
{
    size_t n;
    const char *v = h1_header_get(r, buf, name, &n);
    if (!v)
        return NULL;
    memcpy(out, v, n);
    out[n] = '\0';
    return out;
}

TEST(a_valid_head_is_parsed)
{
    const char *s = "GET /api/v1/x?a=1 HTTP/1.1\r\nHost: h\r\nX-Thing:  v a l \t\r\n"
                    "Content-Length: 5\r\n\r\nhello";
    h1_request r;
    h1_error e;
    ASSERT_EQ_INT(parse(s, &r, &e), 1);
    ASSERT_EQ_INT(r.head_len, strlen(s) - 5);
    ASSERT_EQ_INT(r.method_len, 3);
    ASSERT_TRUE(strncmp(s + r.target_off, "/api/v1/x?a=1", r.target_len) == 0);
    ASSERT_EQ_INT(r.minor, 1);
    ASSERT_EQ_INT(r.nheaders, 3);
    ASSERT_EQ_INT(r.content_length, 5);
    ASSERT_TRUE(r.keep_alive && !r.chunked && !r.expect_continue);
    char v[64];
    ASSERT_TRUE(hdr(&r, s, "x-thing", v) && strcmp(v, "v a l") == 0);
    ASSERT_TRUE(hdr(&r, s, "missing", v) == NULL);
}

TEST(connection_semantics_follow_the_version)
{
    h1_request r;
    h1_error e;
    ASSERT_EQ_INT(parse("GET / HTTP/1.0\r\n\r\n", &r, &e), 1);
    ASSERT_TRUE(!r.keep_alive);
    ASSERT_EQ_INT(parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &r, &e), 1);
    ASSERT_TRUE(r.keep_alive);
    ASSERT_EQ_INT(parse("GET / HTTP/1.1\r\nHost: h\r\nConnection: foo, close\r\n\r\n", &r, &e), 1);
    ASSERT_TRUE(!r.keep_alive);
    ASSERT_EQ_INT(parse("POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\n"
                        "Transfer-Encoding: Chunked\r\n\r\n", &r, &e), 1);
    ASSERT_TRUE(r.expect_continue && r.chunked && r.content_length == -1);
    ASSERT_EQ_INT(parse("\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", &r, &e), 1);
    ASSERT_EQ_INT(r.method_off, 4);
}

/* Check the target and authority parsed from s. */
static void check_forms(const char *s, const char *target, const char *authority)
{
    h1_request r;
    h1_error e;
    ASSERT_EQ_INT(parse(s, &r, &e), 1);
    ASSERT_EQ_INT(r.target_len, strlen(target));
    ASSERT_TRUE(strncmp(s + r.target_off, target, r.target_len) == 0);
    ASSERT_EQ_INT(r.authority_len, strlen(authority));
    ASSERT_TRUE(strncmp(s + r.authority_off, authority, r.authority_len) == 0);
}

TEST(absolute_and_asterisk_forms_are_accepted)
{
    check_forms("GET /a?b=1 HTTP/1.1\r\nHost: h\r\n\r\n", "/a?b=1", "");
    check_forms("GET http://example.com:8080/a/b?c=d HTTP/1.1\r\nHost: x\r\n\r\n",
                "/a/b?c=d", "example.com:8080");
    check_forms("GET HTTPS://127.0.0.1/ HTTP/1.1\r\nHost: x\r\n\r\n", "/", "127.0.0.1");
    check_forms("GET http://[::1]:80 HTTP/1.1\r\nHost: x\r\n\r\n", "", "[::1]:80");
    check_forms("GET http://h?q=1 HTTP/1.1\r\nHost: x\r\n\r\n", "?q=1", "h");
    check_forms("GET http://h/ HTTP/1.0\r\n\r\n", "/", "h");
    check_forms("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", "*", "");
}

static const struct {
    const char *in;
    int status;
    const char *code;
} refusals[] = {
    { "GE T / HTTP/1.1\r\nHost: h\r\n\r\n", 400, "bad_request" },
    { "G(T / HTTP/1.1\r\nHost: h\r\n\r\n", 400, "bad_request" },
    { " GET / HTTP/1.1\r\nHost: h\r\n\r\n", 400, "bad_request" },
    { "GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400, "bad_request" },
    { "GET ftp://h/ HTTP/1.1\r\nHost: h\r\n\r\n", 400, "bad_request" },
    { "GET h/x HTTP/1.1\r\nHost: h\r\n\r\n", 400, "bad_request" },
    { "GET http:/h/ HTTP/1.1\r\nHost: h\r\n\r\n", 400, "bad_request" },
    { "GET http://user@h/ HTTP/1.1\r\nHost: h\r\n\r\n", 400, "bad_request" },
    { "GET http://u:p@h:80/ HTTP/1.1\r\nHost: h\r\n\r\n", 400, "bad_request" },
    { "GET http:/// HTTP/1.1\r\nHost: h\r\n\r\n", 400, "bad_request" },
    { "GET http:// HTTP/1.1\r\nHost: h\r\n\r\n", 400, "bad_request" },
    { "GET http://:80/ HTTP/1.1\r\nHost: h\r\n\r\n", 400, "bad_request" },
    { "GET http://h/x#frag HTTP/1.1\r\nHost: h\r\n\r\n", 400, "bad_request" },
    { "GET http://h#f HTTP/1.1\r\nHost: h\r\n\r\n", 400, "bad_request" },
    { "GET http://h\"x/ HTTP/1.1\r\nHost: h\r\n\r\n", 400, "bad_request" },
    { "GET http://h/ HTTP/1.1\r\n\r\n", 400, "bad_request" },
    { "GET * HTTP/1.1\r\nHost: h\r\n\r\n", 400, "bad_request" },
    { "OPTIONS *x HTTP/1.1\r\nHost: h\r\n\r\n", 400, "bad_request" },
    { "GET /\x01 HTTP/1.1\r\nHost: h\r\n\r\n", 400, "bad_request" },
    { "GET / HTTP/1.1 \r\nHost: h\r\n\r\n", 400, "bad_request" },
    { "GET / http/1.1\r\nHost: h\r\n\r\n", 400, "bad_request" },
    { "GET /\r\nHost: h\r\n\r\n", 400, "bad_request" },
    { "GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505, "http_version_not_supported" },
    { "GET / HTTP/1.2\r\nHost: h\r\n\r\n", 505, "http_version_not_supported" },
    { "GET / HTTP/0.9\r\nHost: h\r\n\r\n", 505, "http_version_not_supported" },
    { "GET / HTTP/3\r\nHost: h\r\n\r\n", 505, "http_version_not_supported" },
    { "GET / HTTP/1.1\nHost: h\r\n\r\n", 400, "bad_request" },
    { "GET / HTTP/1.1\r\nHost: h\n\r\n", 400, "bad_request" },
    { "GET / HTTP/1.1\r\nHost: h\r\n\n", 400, "bad_request" },
    { "GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n", 400, "bad_request" },
    { "GET / HTTP/1.1\r\nHost: h\r\nName : v\r\n\r\n", 400, "bad_request" },
    { "GET / HTTP/1.1\r\nHost: h\r\n: v\r\n\r\n", 400, "bad_request" },
    { "GET / HTTP/1.1\r\nHost: h\r\nA: b\r\n folded\r\n\r\n", 400, "bad_request" },
    { "GET / HTTP/1.1\r\nHost: h\r\nA: b\x01\r\n\r\n", 400, "bad_request" },
    { "GET / HTTP/1.1\r\nHost: h\r\nA: b\x7f\r\n\r\n", 400, "bad_request" },
    { "GET / HTTP/1.1\r\n\r\n", 400, "bad_request" },
    { "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "bad_request" },
    { "PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", 400, "invalid_framing" },
    { "PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: +1\r\n\r\n", 400, "invalid_framing" },
    { "PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 1 2\r\n\r\n", 400, "invalid_framing" },
    { "PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x10\r\n\r\n", 400, "invalid_framing" },
    { "PUT / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\n", 400, "invalid_framing" },
    { "PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999\r\n\r\n", 400,
      "invalid_framing" },
    { "PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n", 400,
      "invalid_framing" },
    { "PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
      400, "invalid_framing" },
    { "PUT / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 400,
      "invalid_framing" },
    { "PUT / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
      "Transfer-Encoding: chunked\r\n\r\n", 400, "invalid_framing" },
    { "PUT / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400, "invalid_framing" },
};

/* A line past the limit that ends in a bare LF is refused for its size, as
 * every prefix of it past the limit is (the fuzzer found them disagreeing). */
TEST(a_bare_lf_past_the_limit_is_refused_for_size)
{
    char s[4096];
    int n = snprintf(s, sizeof s, "GET / HTTP/1.1\r\nHost: h\r\nX: ");
    memset(s + n, 'a', 3000);
    memcpy(s + n + 3000, "\n\r\n", 4);
    size_t len = (size_t)n + 3004;
    for (size_t cut = 2048; cut <= len; cut++) {  /* the last is the whole head */
        h1_request r;
        h1_error e = { 0, NULL, NULL };
        ASSERT_EQ_INT(h1_parse_head(s, cut, 2048, &r, &e), -1);
        ASSERT_EQ_INT(e.status, 431);
    }
    h1_request r;
    h1_error e = { 0, NULL, NULL };
    memcpy(s, "GET /", 5);
    memset(s + 5, 'a', 3000);
    memcpy(s + 3005, "\n\r\n", 4);
    ASSERT_EQ_INT(h1_parse_head(s, 3009, 2048, &r, &e), -1);
    ASSERT_EQ_INT(e.status, 414);
}

TEST(every_refusal_has_its_status_and_code)
{
    for (size_t i = 0; i < sizeof refusals / sizeof refusals[0]; i++) {
        h1_request r;
        h1_error e = { 0, NULL, NULL };
        int rc = parse(refusals[i].in, &r, &e);
        if (rc != -1 || e.status != refusals[i].status || strcmp(e.code, refusals[i].code))
            fprintf(stderr, "  case %zu: rc %d status %d code %s\n", i, rc, e.status,
                    e.code ? e.code : "-");
        ASSERT_EQ_INT(rc, -1);
        ASSERT_EQ_INT(e.status, refusals[i].status);
        ASSERT_TRUE(strcmp(e.code, refusals[i].code) == 0);
        ASSERT_TRUE(e.msg && *e.msg);
    }
}

TEST(heads_past_the_limit_are_414_or_431)
{
    h1_request r;
    h1_error e;
    char *big = malloc(MAXH + 64);
    memset(big, 'a', MAXH + 63);
    memcpy(big, "GET /", 5);
    big[MAXH + 63] = '\0';
    ASSERT_EQ_INT(parse(big, &r, &e), -1);
    ASSERT_EQ_INT(e.status, 414);
    ASSERT_TRUE(strcmp(e.code, "uri_too_long") == 0);
    size_t n = (size_t)snprintf(big, MAXH + 64, "GET / HTTP/1.1\r\nHost: h\r\nX: ");
    memset(big + n, 'b', MAXH + 63 - n);  /* a field that never ends */
    ASSERT_EQ_INT(parse(big, &r, &e), -1);
    ASSERT_EQ_INT(e.status, 431);
    ASSERT_TRUE(strcmp(e.code, "header_too_large") == 0);
    /* a complete head one byte over the limit, and one exactly at it */
    n = (size_t)snprintf(big, MAXH + 64, "GET / HTTP/1.1\r\nHost: h\r\nX: ");
    memset(big + n, 'c', MAXH - n - 4);
    memcpy(big + MAXH - 4, "\r\n\r\n", 5);
    ASSERT_EQ_INT(h1_parse_head(big, MAXH, MAXH, &r, &e), 1);
    ASSERT_EQ_INT(h1_parse_head(big, MAXH, MAXH - 1, &r, &e), -1);
    ASSERT_EQ_INT(e.status, 431);
    free(big);
    /* too many fields */
    char many[8192] = "GET / HTTP/1.1\r\nHost: h\r\n";
    for (int i = 0; i < H1_MAX_HEADERS; i++)
        strcat(many, "A: b\r\n");
    strcat(many, "\r\n");
    ASSERT_EQ_INT(parse(many, &r, &e), -1);
    ASSERT_EQ_INT(e.status, 431);
}

/* Every prefix of s answers 0 (or the same refusal when s is refused). */
static int check_prefixes(const char *s, int whole_rc, int whole_status)
{
    size_t n = strlen(s);
    for (size_t k = 0; k < n; k++) {
        char *p = malloc(k ? k : 1);  /* exact size: ASan sees a read past it */
        memcpy(p, s, k);
        h1_request r;
        h1_error e = { 0, NULL, NULL };
        int rc = h1_parse_head(p, k, MAXH, &r, &e);
        free(p);
        if (rc == 1 || (rc == -1 && (whole_rc != -1 || e.status != whole_status))) {
            fprintf(stderr, "  prefix %zu of %zu: rc %d\n", k, n, rc);
            return -1;
        }
    }
    return 0;
}

TEST(a_head_split_at_every_byte_is_incomplete_until_whole)
{
    static const char *valid[] = {
        "GET / HTTP/1.1\r\nHost: h\r\n\r\n",
        "POST /a/b?c=d HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nX: y\r\n\r\n",
        "\r\nGET / HTTP/1.0\r\n\r\n",
    };
    for (size_t i = 0; i < 3; i++) {
        h1_request r;
        h1_error e;
        ASSERT_EQ_INT(check_prefixes(valid[i], 1, 0), 0);
        ASSERT_EQ_INT(parse(valid[i], &r, &e), 1);
        ASSERT_EQ_INT(r.head_len, strlen(valid[i]));
    }
    for (size_t i = 0; i < sizeof refusals / sizeof refusals[0]; i++)
        ASSERT_EQ_INT(check_prefixes(refusals[i].in, -1, refusals[i].status), 0);
}

TEST(pipelined_requests_parse_one_after_another)
{
    const char *s = "PUT /a HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi"
                    "GET /b HTTP/1.1\r\nHost: h\r\n\r\n"
                    "GET /c HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
    size_t off = 0, len = strlen(s);
    const char *targets[] = { "/a", "/b", "/c" };
    for (int i = 0; i < 3; i++) {
        h1_request r;
        h1_error e;
        ASSERT_EQ_INT(h1_parse_head(s + off, len - off, MAXH, &r, &e), 1);
        ASSERT_TRUE(strncmp(s + off + r.target_off, targets[i], r.target_len) == 0);
        ASSERT_EQ_INT(r.keep_alive, i < 2);
        off += r.head_len + (size_t)(r.content_length > 0 ? r.content_length : 0);
    }
    ASSERT_EQ_INT(off, len);
}

/* Decode s fed in pieces of at most step bytes (0 = split once at cut). */
static int decode(const char *s, size_t step, size_t cut, size_t max, char *out, size_t *outn,
                  size_t *used_total, h1_error *e)
{
    h1_chunked c;
    memset(&c, 0, sizeof c);
    size_t n = strlen(s), off = 0;
    *outn = 0;
    int rc = 0;
    for (int round = 0; off < n && rc == 0; round++) {
        size_t k = step ? (n - off < step ? n - off : step) : (round == 0 ? cut : n - off);
        char *piece = malloc(k ? k : 1);
        memcpy(piece, s + off, k);
        size_t used = 0, o = 0;
        rc = h1_chunked_feed(&c, piece, k, piece, &o, &used, *outn, max, e);
        memcpy(out + *outn, piece, o);
        *outn += o;
        off += used;
        free(piece);
        if (rc == 0 && used != k)
            return -2;
        if (!step && round > 2)
            return -3;
    }
    *used_total = off;
    return rc;
}

TEST(chunked_bodies_decode_at_every_split)
{
    const char *s = "5;ext=1;q=\"x y\"\r\nhello\r\nA \r\n, world!!!\r\n0\r\nT: v\r\nU:\r\n\r\nNEXT";
    size_t body_end = strlen(s) - 4;
    char out[64];
    size_t outn, used;
    h1_error e;
    for (size_t step = 1; step <= 3; step++) {
        ASSERT_EQ_INT(decode(s, step, 0, 1000, out, &outn, &used, &e), 1);
        ASSERT_EQ_INT(outn, 15);
        ASSERT_TRUE(memcmp(out, "hello, world!!!", 15) == 0);
        ASSERT_EQ_INT(used, body_end);
    }
    for (size_t cut = 0; cut <= body_end; cut++) {
        ASSERT_EQ_INT(decode(s, 0, cut, 1000, out, &outn, &used, &e), 1);
        ASSERT_EQ_INT(outn, 15);
        ASSERT_EQ_INT(used, body_end);
    }
}

TEST(malformed_chunked_bodies_are_refused)
{
    static const struct { const char *in; int status; } bad[] = {
        { "g\r\n", 400 },              /* not hex */
        { "\r\n", 400 },               /* no size */
        { ";x\r\n", 400 },             /* extension without a size */
        { "5\nhello\r\n0\r\n\r\n", 400 },     /* bare LF */
        { "5\r\nhelloX\r\n0\r\n\r\n", 400 },  /* data not followed by CRLF */
        { "5\r\nhello\r\n0\r\n\n", 400 },     /* end without CR */
        { "5\r\nhello\r\n0\r\nNoColon\r\n\r\n", 400 },
        { "5\r\nhello\r\n0\r\n folded: x\r\n\r\n", 400 },
        { "5\x01\r\n", 400 },          /* control byte after the size */
        { "11111111111111111\r\n", 400 },  /* 17 hex digits: overflow */
        { "ffffffffffffffff\r\n", 413 },
        { "3e9\r\n", 413 },            /* over the 1000-byte limit at once */
    };
    char out[64];
    size_t outn, used;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        h1_error e = { 0, NULL, NULL };
        int rc = decode(bad[i].in, 1, 0, 1000, out, &outn, &used, &e);
        if (rc != -1 || e.status != bad[i].status)
            fprintf(stderr, "  case %zu: rc %d status %d\n", i, rc, e.status);
        ASSERT_EQ_INT(rc, -1);
        ASSERT_EQ_INT(e.status, bad[i].status);
    }
    /* many small chunks pass the limit together */
    h1_error e;
    ASSERT_EQ_INT(decode("3\r\nabc\r\n3\r\nabc\r\n0\r\n\r\n", 4, 0, 5, out, &outn, &used, &e),
                  -1);
    ASSERT_EQ_INT(e.status, 413);
    ASSERT_TRUE(strcmp(e.code, "payload_too_large") == 0);
    /* a long extension and a long trailer */
    char longline[4096] = "1;";
    memset(longline + 2, 'x', H1_MAX_CHUNK_LINE + 10);
    ASSERT_EQ_INT(decode(longline, 64, 0, 1000, out, &outn, &used, &e), -1);
    ASSERT_EQ_INT(e.status, 400);
    char trailer[H1_MAX_TRAILER + 64] = "0\r\nT: ";
    memset(trailer + 6, 'v', H1_MAX_TRAILER + 10);
    ASSERT_EQ_INT(decode(trailer, 512, 0, 1000, out, &outn, &used, &e), -1);
    ASSERT_EQ_INT(e.status, 431);
}

TEST(paths_and_queries_are_url_decoded)
{
    char path[] = "/a%20b/c+d/%zz/%4";
    h1_url_decode(path, false);
    ASSERT_TRUE(strcmp(path, "/a b/c+d/%zz/%4") == 0);
    char q[] = "a=1+2&b&c=%26x&a=3&=e";
    h1_kv kv[8];
    int n = h1_query_split(q, kv, 8);
    ASSERT_EQ_INT(n, 5);
    ASSERT_TRUE(strcmp(h1_query_get(kv, n, "a"), "1 2") == 0);
    ASSERT_TRUE(h1_query_get(kv, n, "b") == NULL);
    ASSERT_TRUE(strcmp(h1_query_get(kv, n, "c"), "&x") == 0);
    ASSERT_TRUE(h1_query_get(kv, n, "zz") == NULL);
    char q2[] = "a&b&c";
    ASSERT_EQ_INT(h1_query_split(q2, kv, 2), 2);
}

int main(void)
{
    RUN(a_valid_head_is_parsed);
    RUN(connection_semantics_follow_the_version);
    RUN(absolute_and_asterisk_forms_are_accepted);
    RUN(a_bare_lf_past_the_limit_is_refused_for_size);
    RUN(every_refusal_has_its_status_and_code);
    RUN(heads_past_the_limit_are_414_or_431);
    RUN(a_head_split_at_every_byte_is_incomplete_until_whole);
    RUN(pipelined_requests_parse_one_after_another);
    RUN(chunked_bodies_decode_at_every_split);
    RUN(malformed_chunked_bodies_are_refused);
    RUN(paths_and_queries_are_url_decoded);
    return TEST_REPORT();
}
