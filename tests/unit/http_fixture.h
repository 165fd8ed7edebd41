/*
 * http_fixture.h - a real ragd HTTP server on a free loopback port for the
 * http/ tests, and a libcurl client that returns the status, headers and body
 * of one request (no mocks: the bytes go through ragd's HTTP server and a socket).
 */
#ifndef RAGD_HTTP_FIXTURE_H
#define RAGD_HTTP_FIXTURE_H

#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

#include "http/server.h"
#include "obs/log.h"
#include "util/buf.h"

/* Start a server for router on 127.0.0.1 (any port); NULL on failure. */
static inline http_server_t *fixture_server(const router_t *router)
{
    log_set_level(LOG_OFF);
    http_server_opts o = { .listen = "127.0.0.1:0", .threads = 2, .max_connections = 64,
                           .idle_timeout_s = 10, .max_body_bytes = 1 << 20,
                           .max_header_bytes = 16384 };
    http_server_t *s = NULL;
    ragd_error err;
    if (http_server_start(&o, router, &s, &err) != 0) {
        fprintf(stderr, "  http_server_start: %s\n", err.msg);
        return NULL;
    }
    return s;
}

typedef struct fixture_reply {
    CURLcode rc;
    long status;
    buf_t headers;   /* raw header lines */
    buf_t body;
} fixture_reply;

static inline size_t fixture__sink(char *p, size_t size, size_t n, void *ud)
{
    buf_append(ud, p, size * n);
    return size * n;
}

/* GET path from the server into r (free with fixture_reply_free). */
static inline void fixture_get(const http_server_t *s, const char *path, fixture_reply *r)
{
    memset(r, 0, sizeof *r);
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", http_server_port(s), path);
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, fixture__sink);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r->body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, fixture__sink);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r->headers);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    r->rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_cleanup(c);
    buf_append(&r->headers, "", 0);  /* never NULL data */
    buf_append(&r->body, "", 0);
}

static inline void fixture_reply_free(fixture_reply *r)
{
    buf_free(&r->headers);
    buf_free(&r->body);
}

/* Case-insensitive search for a header line start such as "content-length: 7". */
static inline bool fixture_has_header(const fixture_reply *r, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = r->headers.data; p && *p;) {
        if (strncasecmp(p, line, n) == 0)
            return true;
        const char *nl = strchr(p, '\n');
        p = nl ? nl + 1 : NULL;
    }
    return false;
}

#endif
