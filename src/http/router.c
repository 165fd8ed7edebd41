/*
 * router.c - a linear router over pre-split patterns. ragd has a few dozen
 * routes, so a scan of segment arrays is faster than anything cleverer.
 */
#include "http/router.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/mem.h"

#define ROUTER_MAX_SEGS 12

typedef struct route {
    char *pattern;
    int methods;
    http_handler handler;
    int nsegs;
    char *segs[ROUTER_MAX_SEGS];  /* literal text, or the param name */
    unsigned char is_param[ROUTER_MAX_SEGS];
    bool rest;                    /* last param takes the rest of the path */
} route_t;

struct router {
    route_t *routes;
    int n, cap;
};

router_t *router_create(void)
{
    return xcalloc(1, sizeof(router_t));
}

void router_destroy(router_t *r)
{
    if (!r)
        return;
    for (int i = 0; i < r->n; i++) {
        free(r->routes[i].pattern);
        for (int j = 0; j < r->routes[i].nsegs; j++)
            free(r->routes[i].segs[j]);
    }
    free(r->routes);
    free(r);
}

void router_add(router_t *r, int methods, const char *pattern, http_handler h)
{
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 32;
        r->routes = xrealloc(r->routes, (size_t)r->cap * sizeof(route_t));
    }
    route_t *rt = &r->routes[r->n++];
    memset(rt, 0, sizeof *rt);
    rt->pattern = xstrdup(pattern);
    rt->methods = methods;
    rt->handler = h;
    const char *p = pattern;
    while (*p == '/')
        p++;
    while (*p && rt->nsegs < ROUTER_MAX_SEGS) {
        const char *e = strchr(p, '/');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len >= 2 && p[0] == '{' && p[len - 1] == '}') {
            size_t nl = len - 2;
            if (nl > 0 && p[len - 2] == '*') {
                rt->rest = true;
                nl--;
            }
            rt->segs[rt->nsegs] = xstrndup(p + 1, nl);
            rt->is_param[rt->nsegs] = 1;
        } else {
            rt->segs[rt->nsegs] = xstrndup(p, len);
        }
        rt->nsegs++;
        p += len;
        while (*p == '/')
            p++;
    }
}

static bool router__match_route(const route_t *rt, http_req *req)
{
    const char *p = req->path;
    int np = 0;
    while (*p == '/')
        p++;
    for (int i = 0; i < rt->nsegs; i++) {
        if (!*p)
            goto fail;
        const char *e = strchr(p, '/');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (rt->is_param[i]) {
            if (rt->rest && i == rt->nsegs - 1)
                len = strlen(p);
            if (np < HTTP_MAX_PARAMS) {
                req->param_names[np] = rt->segs[i];
                req->param_values[np] = xstrndup(p, len);
                np++;
            }
        } else if (strlen(rt->segs[i]) != len || memcmp(rt->segs[i], p, len) != 0) {
            goto fail;
        }
        p += len;
        if (*p == '/')
            p++;
    }
    if (*p)
        goto fail;
    req->nparams = np;
    return true;
fail:
    for (int j = 0; j < np; j++) {
        free(req->param_values[j]);
        req->param_values[j] = NULL;
    }
    return false;
}

int router_match(const router_t *r, http_req *req, http_handler *h, int *allowed)
{
    int allow = 0;
    for (int i = 0; i < r->n; i++) {
        const route_t *rt = &r->routes[i];
        if (!router__match_route(rt, req))
            continue;
        if (rt->methods & req->method) {
            req->route = rt->pattern;
            req->route_index = i;
            *h = rt->handler;
            return ROUTER_OK;
        }
        allow |= rt->methods;
        for (int j = 0; j < req->nparams; j++) {
            free(req->param_values[j]);
            req->param_values[j] = NULL;
        }
        req->nparams = 0;
    }
    if (allow) {
        *allowed = allow;
        return ROUTER_BAD_METHOD;
    }
    return ROUTER_NOT_FOUND;
}

int router_count(const router_t *r) { return r->n; }
const char *router_pattern(const router_t *r, int i) { return r->routes[i].pattern; }
int router_methods(const router_t *r, int i) { return r->routes[i].methods; }

void router_allow_string(int methods, char *out, size_t n)
{
    static const char *const names[] = { "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE",
                                         "OPTIONS" };
    size_t off = 0;
    out[0] = '\0';
    for (int i = 0; i < 7; i++) {
        if (!(methods & (1 << i)))
            continue;
        int w = snprintf(out + off, n - off, "%s%s", off ? ", " : "", names[i]);
        if (w < 0 || (size_t)w >= n - off) {
            out[off] = '\0';  /* whole names only */
            break;
        }
        off += (size_t)w;
    }
}
