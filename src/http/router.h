/*
 * router.h - maps (method, path) to a handler. Patterns are literal segments
 * and {name} parameters; a final {name*} takes the rest of the path, slashes
 * included. A path that matches with another method is a 405, not a 404.
 */
#ifndef RAGD_ROUTER_H
#define RAGD_ROUTER_H

#include "http/http.h"

typedef struct router router_t;

/* Caller owns the router: router_destroy(). */
router_t *router_create(void);
void router_destroy(router_t *r);

/* Register a handler for a method mask (HTTP_GET|HTTP_HEAD ...). The pattern
 * is copied. Not thread-safe: register everything before serving. */
void router_add(router_t *r, int methods, const char *pattern, http_handler h);

enum { ROUTER_OK = 0, ROUTER_NOT_FOUND = 1, ROUTER_BAD_METHOD = 2 };

/* Match req->path for req->method; on ROUTER_OK fills req->route, route_index,
 * params, and *h. On ROUTER_BAD_METHOD *allowed gets the methods that would
 * match. Thread-safe (read-only). */
int router_match(const router_t *r, http_req *req, http_handler *h, int *allowed);

/* Number of routes and the pattern of route i (for metrics). */
int router_count(const router_t *r);
const char *router_pattern(const router_t *r, int i);
int router_methods(const router_t *r, int i);

/* Write an Allow header value ("GET, HEAD") for a mask into out. */
void router_allow_string(int methods, char *out, size_t n);

#endif
