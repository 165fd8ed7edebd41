/*
 * guard.h - the browser-facing checks every request passes before its handler:
 * DNS rebinding (the Host header must name this server), cross-site request
 * forgery (a state-changing request that carries an Origin must come from the
 * same origin or an allowed one) and the media type of JSON bodies (a browser
 * can send text/plain or a form without a CORS preflight; JSON cannot be). These
 * matter most when authentication is off on loopback, where a web page the user
 * visits could otherwise drive the server, as local development servers guard.
 */
#ifndef RAGD_GUARD_H
#define RAGD_GUARD_H

#include <stdbool.h>

#include "http/http.h"
#include "util/err.h"

typedef struct http_guard http_guard;

/* Build the checks. allowed_hosts and allowed_origins are comma-separated lists
 * ("" = none; "*" = any): host names (".example.com" also matches subdomains) and
 * origins ("https://app.example.com"). listen is the "HOST:PORT" the server binds;
 * its host is allowed too. *out is owned by the caller: http_guard_destroy() it. */
int http_guard_create(const char *allowed_hosts, const char *allowed_origins,
                      const char *listen, http_guard **out, ragd_error *err);
void http_guard_destroy(http_guard *g);

/* Check req; false with resp filled (403 host_not_allowed, 403 cross_origin,
 * 415 unsupported_media_type). check_host: enforce the Host rule even when no
 * allowed_hosts are configured (the caller passes true while auth is off).
 * json_body: the route reads its body as JSON. Thread-safe (read-only). */
bool http_guard_check(const http_guard *g, const http_req *req, http_resp *resp,
                      bool check_host, bool json_body);

/* The same decision on plain values (NULL = header absent; method is one enum
 * http_method bit): 0 = pass, else the HTTP status with *code set to the stable
 * error code (a static string). */
int http_guard_verdict(const http_guard *g, int method, const char *host, const char *origin,
                       const char *ctype, bool check_host, bool json_body, const char **code);

#endif
