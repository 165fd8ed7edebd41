/*
 * guard.c - Host, Origin and Content-Type checks before every handler (see
 * guard.h for why). The lists are parsed once at start and only read after.
 */
#include "http/guard.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/server.h"
#include "util/mem.h"

#define GUARD_NAME_MAX 256

struct http_guard {
    char **hosts, **origins;
    size_t nhosts, norigins;
    bool any_host, any_origin;
    char listen_host[GUARD_NAME_MAX];
};

/* Split a comma-separated list into trimmed, non-empty entries; "*" sets *any. */
static void guard__list(const char *s, char ***out, size_t *n, bool *any)
{
    while (s && *s) {
        const char *comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);
        const char *b = s, *e = s + len;
        while (b < e && (*b == ' ' || *b == '\t'))
            b++;
        while (e > b && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '/'))
            e--;
        if (e - b == 1 && *b == '*') {
            *any = true;
        } else if (e > b) {
            *out = xrealloc(*out, (*n + 1) * sizeof **out);
            (*out)[(*n)++] = xstrndup(b, (size_t)(e - b));
        }
        s = comma ? comma + 1 : NULL;
    }
}

int http_guard_create(const char *allowed_hosts, const char *allowed_origins,
                      const char *listen, http_guard **out, ragd_error *err)
{
    http_guard *g = xcalloc(1, sizeof *g);
    int port;
    if (listen && http_parse_listen(listen, g->listen_host, sizeof g->listen_host, &port)) {
        free(g);
        return ragd_error_set(err, RAGD_EINVAL, "listen: '%s' is not HOST:PORT", listen);
    }
    guard__list(allowed_hosts, &g->hosts, &g->nhosts, &g->any_host);
    guard__list(allowed_origins, &g->origins, &g->norigins, &g->any_origin);
    *out = g;
    return RAGD_OK;
}

void http_guard_destroy(http_guard *g)
{
    if (!g)
        return;
    for (size_t i = 0; i < g->nhosts; i++)
        free(g->hosts[i]);
    for (size_t i = 0; i < g->norigins; i++)
        free(g->origins[i]);
    free(g->hosts);
    free(g->origins);
    free(g);
}

/* The name part of a Host header ("[::1]:80" -> "::1", "a.b:80" -> "a.b");
 * false when it is malformed or too long. */
static bool guard__host_name(const char *host, char *out, size_t n)
{
    const char *end;
    if (host[0] == '[') {
        end = strchr(host, ']');
        if (!end || (end[1] && end[1] != ':'))
            return false;
        host++;
    } else {
        end = strchr(host, ':');
        if (end && strchr(end + 1, ':'))
            return false;
        if (!end)
            end = host + strlen(host);
    }
    size_t len = (size_t)(end - host);
    if (len == 0 || len >= n)
        return false;
    memcpy(out, host, len);
    out[len] = '\0';
    return true;
}

static bool guard__name_listed(const http_guard *g, const char *name)
{
    size_t nl = strlen(name);
    for (size_t i = 0; i < g->nhosts; i++) {
        const char *h = g->hosts[i];
        size_t hl = strlen(h);
        if (strcasecmp(h, name) == 0)
            return true;
        /* ".example.com" matches example.com and its subdomains */
        if (h[0] == '.' && ((nl >= hl && strcasecmp(name + nl - hl, h) == 0) ||
                            strcasecmp(name, h + 1) == 0))
            return true;
    }
    return false;
}

/* A Host names this server when it is an IP address (a rebinding page has a
 * DNS name), a loopback name, the listen host or an allowed host. */
static bool guard__host_ok(const http_guard *g, const char *host)
{
    char name[GUARD_NAME_MAX];
    unsigned char addr[16];
    if (!guard__host_name(host, name, sizeof name))
        return false;
    size_t nl = strlen(name);
    while (nl > 1 && name[nl - 1] == '.')  /* "localhost." is "localhost" */
        name[--nl] = '\0';
    if (inet_pton(AF_INET, name, addr) == 1 || inet_pton(AF_INET6, name, addr) == 1)
        return true;
    if (strcasecmp(name, "localhost") == 0 ||
        (nl > 10 && strcasecmp(name + nl - 10, ".localhost") == 0))
        return true;
    return strcasecmp(name, g->listen_host) == 0 || guard__name_listed(g, name);
}

/* An Origin may change state when it is this server's own origin (its
 * authority equals Host) or an allowed one. */
static bool guard__origin_ok(const http_guard *g, const char *origin, const char *host)
{
    if (g->any_origin)
        return true;
    size_t ol = strlen(origin);
    while (ol > 0 && origin[ol - 1] == '/')
        ol--;
    for (size_t i = 0; i < g->norigins; i++)
        if (strlen(g->origins[i]) == ol && strncasecmp(g->origins[i], origin, ol) == 0)
            return true;
    const char *auth = strstr(origin, "://");
    if (!auth || !host)
        return false;  /* "null" (a sandboxed page, a file) or no Host to compare */
    auth += 3;
    size_t al = (size_t)(origin + ol - auth);
    return al == strlen(host) && strncasecmp(auth, host, al) == 0;
}

/* JSON bodies: application/json or a +json type. Without an Origin (not a
 * browser: curl -d, scripts) a missing type or a form type is accepted too. */
static bool guard__type_ok(const char *ctype, bool from_browser)
{
    if (!ctype || !*ctype)
        return !from_browser;
    const char *semi = strchr(ctype, ';');
    size_t len = semi ? (size_t)(semi - ctype) : strlen(ctype);
    while (len > 0 && (ctype[len - 1] == ' ' || ctype[len - 1] == '\t'))
        len--;
    if (len == 16 && strncasecmp(ctype, "application/json", 16) == 0)
        return true;
    if (len > 5 && strncasecmp(ctype + len - 5, "+json", 5) == 0)
        return true;
    if (len == 33 && strncasecmp(ctype, "application/x-www-form-urlencoded", 33) == 0)
        return !from_browser;
    return false;
}

int http_guard_verdict(const http_guard *g, int method, const char *host, const char *origin,
                       const char *ctype, bool check_host, bool json_body, const char **code)
{
    if (!g->any_host && (check_host || g->nhosts > 0) && host && !guard__host_ok(g, host)) {
        *code = "host_not_allowed";
        return 403;
    }
    if ((method & (HTTP_POST | HTTP_PUT | HTTP_PATCH | HTTP_DELETE)) && origin &&
        !guard__origin_ok(g, origin, host)) {
        *code = "cross_origin";
        return 403;
    }
    if (json_body && (method & (HTTP_POST | HTTP_PUT | HTTP_PATCH)) &&
        !guard__type_ok(ctype, origin != NULL)) {
        *code = "unsupported_media_type";
        return 415;
    }
    return 0;
}

bool http_guard_check(const http_guard *g, const http_req *req, http_resp *resp,
                      bool check_host, bool json_body)
{
    const char *host = http_req_header(req, "Host"), *origin = http_req_header(req, "Origin");
    const char *ctype = http_req_header(req, "Content-Type"), *code = NULL;
    int status = http_guard_verdict(g, req->method, host, origin, ctype, check_host, json_body,
                                    &code);
    if (status == 0)
        return true;
    if (strcmp(code, "host_not_allowed") == 0)
        http_error(req, resp, status, code, "Host '%.100s' does not name this server (DNS "
                   "rebinding protection): add it to allowed_hosts", host);
    else if (strcmp(code, "cross_origin") == 0)
        http_error(req, resp, status, code, "cross-origin request from '%.100s' refused: add "
                   "the origin to allowed_origins", origin);
    else
        http_error(req, resp, status, code, "the body must be sent as Content-Type: "
                   "application/json (got '%.100s')", ctype && *ctype ? ctype : "none");
    return false;
}
