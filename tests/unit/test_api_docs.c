/*
 * test_api_docs.c - docs/openapi.json (embedded in the binary) against the route
 * table: every route the router serves is documented with the same method and
 * path, and the document names no route the router lacks. Each operation has an
 * operationId (unique), path parameters for its {params}, a requestBody when it
 * takes one, a success response with a schema, and every $ref resolves. Each
 * operation's security names the scope auth_scope.c requires for the route, and
 * says no credential is needed exactly when auth_before lets a request without
 * one through (/health, /metrics, /docs).
 */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "api/api.h"
#include "api/api_docs.h"
#include "auth/auth.h"
#include "http/router.h"
#include "scratch_store.h"
#include "testing.h"

static const char *const methods[] = { "get", "head", "post", "put", "patch", "delete", "options" };
#define NMETHODS 7

static cJSON *load_doc(void)
{
    return cJSON_ParseWithLength(api_asset_openapi_json, api_asset_openapi_json_len);
}

/* The router's pattern as the document writes it: "{key*}" becomes "{key}". */
static void clean_pattern(const char *pat, char *out, size_t n)
{
    size_t k = 0;
    for (const char *p = pat; *p && k + 1 < n; p++)
        if (*p != '*')
            out[k++] = *p;
    out[k] = '\0';
}

static bool router_has(const router_t *r, const char *method, const char *path)
{
    char clean[256];
    for (int i = 0; i < router_count(r); i++) {
        clean_pattern(router_pattern(r, i), clean, sizeof clean);
        if (strcmp(clean, path) != 0)
            continue;
        for (int j = 0; j < NMETHODS; j++)
            if ((router_methods(r, i) & (1 << j)) && !strcmp(methods[j], method))
                return true;
    }
    return false;
}

/* One routed (route, method) pair and its operation in the document (NULL if
 * undocumented); returns how many problems it found (printed). */
typedef struct routed_op {
    const router_t *r;
    int route;                /* index in r */
    int method;               /* HTTP_* bit */
    const char *mname;        /* "get", ... */
    const char *path;         /* the pattern as the document writes it */
    const cJSON *op;
} routed_op;
typedef int (*routed_op_check)(const routed_op *ro, void *ctx);

/* Run check on every method of every route of the full route table against
 * the embedded document; the sum of the problems found. */
static int walk_routes(routed_op_check check, void *ctx)
{
    router_t *r = router_create();
    api_register(r);
    cJSON *doc = load_doc();
    const cJSON *paths = cJSON_GetObjectItemCaseSensitive(doc, "paths");
    int bad = paths ? 0 : 1;
    char clean[256];
    for (int i = 0; i < router_count(r); i++) {
        clean_pattern(router_pattern(r, i), clean, sizeof clean);
        const cJSON *item = cJSON_GetObjectItemCaseSensitive(paths, clean);
        for (int j = 0; j < NMETHODS; j++) {
            if (!(router_methods(r, i) & (1 << j)))
                continue;
            routed_op ro = { r, i, 1 << j, methods[j], clean,
                             cJSON_GetObjectItemCaseSensitive(item, methods[j]) };
            bad += check(&ro, ctx);
        }
    }
    cJSON_Delete(doc);
    router_destroy(r);
    return bad;
}

TEST(document_is_openapi_31_of_this_version)
{
    cJSON *doc = load_doc();
    ASSERT_TRUE(doc != NULL);
    ASSERT_EQ_INT(strlen(api_asset_openapi_json), api_asset_openapi_json_len);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, "openapi");
    ASSERT_TRUE(cJSON_IsString(v) && strncmp(v->valuestring, "3.1.", 4) == 0);
    const cJSON *info = cJSON_GetObjectItemCaseSensitive(doc, "info");
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(info, "version");
    ASSERT_TRUE(cJSON_IsString(ver) && !strcmp(ver->valuestring, RAGD_VERSION));
    const cJSON *comp = cJSON_GetObjectItemCaseSensitive(doc, "components");
    const cJSON *sec = cJSON_GetObjectItemCaseSensitive(comp, "securitySchemes");
    const cJSON *key = cJSON_GetObjectItemCaseSensitive(sec, "apiKey");
    const cJSON *bearer = cJSON_GetObjectItemCaseSensitive(sec, "bearer");
    ASSERT_TRUE(key && bearer);
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(key, "name");
    ASSERT_TRUE(cJSON_IsString(name) && !strcmp(name->valuestring, "X-API-Key"));
    cJSON_Delete(doc);
}

static int check_documented(const routed_op *ro, void *ctx)
{
    int bad = 0;
    if (!ro->op) {
        fprintf(stderr, "  not in docs/openapi.json: %s %s\n", ro->mname, ro->path);
        bad++;
    }
    return bad;
}

TEST(every_route_is_documented)
{
    ASSERT_EQ_INT(walk_routes(check_documented, NULL), 0);
}

TEST(document_names_no_route_the_router_lacks)
{
    router_t *r = router_create();
    api_register(r);
    cJSON *doc = load_doc();
    const cJSON *paths = cJSON_GetObjectItemCaseSensitive(doc, "paths");
    int extra = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, paths) {
        const cJSON *op;
        cJSON_ArrayForEach(op, item) {
            bool is_method = false;
            for (int j = 0; j < NMETHODS; j++)
                is_method |= !strcmp(op->string, methods[j]);
            if (!is_method || router_has(r, op->string, item->string))
                continue;
            fprintf(stderr, "  documented but not routed: %s %s\n", op->string, item->string);
            extra++;
        }
    }
    cJSON_Delete(doc);
    router_destroy(r);
    ASSERT_EQ_INT(extra, 0);
}

/* Does op declare the path parameter name? */
static bool has_path_param(const cJSON *op, const char *name)
{
    const cJSON *p;
    cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(op, "parameters")) {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(p, "name");
        const cJSON *in = cJSON_GetObjectItemCaseSensitive(p, "in");
        if (cJSON_IsString(n) && !strcmp(n->valuestring, name) && cJSON_IsString(in) &&
            !strcmp(in->valuestring, "path"))
            return true;
    }
    return false;
}

/* Problems with one operation (printed), 0 if none. */
static int check_operation(const char *path, const char *method, const cJSON *op, cJSON *ids)
{
    int bad = 0;
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(op, "operationId");
    if (!cJSON_IsString(id) || cJSON_GetObjectItemCaseSensitive(ids, id->valuestring)) {
        fprintf(stderr, "  %s %s: operationId missing or not unique\n", method, path);
        bad++;
    } else {
        cJSON_AddTrueToObject(ids, id->valuestring);
    }
    for (const char *p = strchr(path, '{'); p; p = strchr(p + 1, '{')) {
        char name[64];
        const char *e = strchr(p, '}');
        snprintf(name, sizeof name, "%.*s", e ? (int)(e - p - 1) : 0, p + 1);
        if (!has_path_param(op, name)) {
            fprintf(stderr, "  %s %s: path parameter '%s' not declared\n", method, path, name);
            bad++;
        }
    }
    bool takes_body = !strcmp(method, "post") || !strcmp(method, "put") || !strcmp(method, "patch");
    if (takes_body && !cJSON_GetObjectItemCaseSensitive(op, "requestBody")) {
        fprintf(stderr, "  %s %s: no requestBody\n", method, path);
        bad++;
    }
    bool success = false;
    const cJSON *res;
    cJSON_ArrayForEach(res, cJSON_GetObjectItemCaseSensitive(op, "responses")) {
        if (res->string[0] != '2')
            continue;
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(res, "content");
        success |= !strcmp(method, "head") ||
                   (content && content->child &&
                    cJSON_GetObjectItemCaseSensitive(content->child, "schema"));
    }
    if (!success) {
        fprintf(stderr, "  %s %s: no 2xx response with a schema\n", method, path);
        bad++;
    }
    return bad;
}

TEST(every_operation_is_complete)
{
    cJSON *doc = load_doc();
    cJSON *ids = cJSON_CreateObject();
    int bad = 0, ops = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(doc, "paths")) {
        for (int j = 0; j < NMETHODS; j++) {
            const cJSON *op = cJSON_GetObjectItemCaseSensitive(item, methods[j]);
            if (op) {
                bad += check_operation(item->string, methods[j], op, ids);
                ops++;
            }
        }
    }
    cJSON_Delete(ids);
    cJSON_Delete(doc);
    ASSERT_TRUE(ops > 50);
    ASSERT_EQ_INT(bad, 0);
}

/* Follow a local "#/a/b" reference in doc; NULL if it does not resolve. */
static const cJSON *resolve_ref(const cJSON *doc, const char *ref)
{
    if (strncmp(ref, "#/", 2) != 0)
        return NULL;
    const cJSON *at = doc;
    char seg[128];
    for (const char *p = ref + 2; at && *p;) {
        size_t n = strcspn(p, "/");
        snprintf(seg, sizeof seg, "%.*s", (int)n, p);
        at = cJSON_GetObjectItemCaseSensitive(at, seg);
        p += n;
        if (*p == '/')
            p++;
    }
    return at;
}

static int count_bad_refs(const cJSON *doc, const cJSON *v)
{
    int bad = 0;
    for (const cJSON *c = v->child; c; c = c->next) {
        if (c->string && !strcmp(c->string, "$ref") && cJSON_IsString(c) &&
            !resolve_ref(doc, c->valuestring)) {
            fprintf(stderr, "  unresolved $ref %s\n", c->valuestring);
            bad++;
        }
        bad += count_bad_refs(doc, c);
    }
    return bad;
}

TEST(every_ref_resolves)
{
    cJSON *doc = load_doc();
    ASSERT_EQ_INT(count_bad_refs(doc, doc), 0);
    ASSERT_TRUE(resolve_ref(doc, "#/components/schemas/Error") != NULL);
    cJSON_Delete(doc);
}

/* Each security requirement of a routed operation names the scope auth_scope.c's
 * table asks for. */
static int check_scope(const routed_op *ro, void *ctx)
{
    if (!ro->op)
        return 0;  /* check_documented's finding */
    unsigned need = auth_required_scope(ro->method, router_pattern(ro->r, ro->route));
    const char *want = need == AUTH_SCOPE_ADMIN ? "admin" : need == AUTH_SCOPE_WRITE ? "write"
                                                                                     : "read";
    int bad = 0;
    const cJSON *req;
    cJSON_ArrayForEach(req, cJSON_GetObjectItemCaseSensitive(ro->op, "security")) {
        const cJSON *scheme;
        cJSON_ArrayForEach(scheme, req) {
            const cJSON *first = cJSON_GetArrayItem(scheme, 0);
            if (cJSON_GetArraySize(scheme) != 1 || !cJSON_IsString(first) ||
                strcmp(first->valuestring, want) != 0) {
                fprintf(stderr, "  %s %s: security %s should name the '%s' scope\n", ro->mname,
                        ro->path, scheme->string, want);
                bad++;
            }
        }
    }
    return bad;
}

TEST(security_names_the_scope_auth_requires)
{
    ASSERT_EQ_INT(walk_routes(check_scope, NULL), 0);
}

/* Does the operation say it can be called without a credential (security [] or
 * a requirement {})? */
static bool documented_open(const cJSON *op)
{
    const cJSON *sec = cJSON_GetObjectItemCaseSensitive(op, "security");
    if (cJSON_IsArray(sec) && cJSON_GetArraySize(sec) == 0)
        return true;
    const cJSON *req;
    cJSON_ArrayForEach(req, sec)
        if (cJSON_IsObject(req) && !req->child)
            return true;
    return false;
}

/* Would auth (on, with the default open routes) let a request without a
 * credential through to route i with method bit m? */
static bool served_open(auth_t *a, const router_t *r, int i, int m)
{
    char path[256];
    size_t k = 0;
    for (const char *p = router_pattern(r, i); *p && k + 2 < sizeof path; p++) {
        if (*p == '{') {  /* any value for a parameter */
            path[k++] = 'x';
            p = strchr(p, '}');
            if (!p)
                break;
        } else {
            path[k++] = *p;
        }
    }
    path[k] = '\0';
    http_req req;
    http_resp resp;
    memset(&req, 0, sizeof req);
    memset(&resp, 0, sizeof resp);
    req.method = m;
    req.method_name = "?";
    req.path = path;
    req.route = router_pattern(r, i);
    req.route_index = i;
    bool ok = auth_before(a, &req, &resp);
    auth_release(&req);
    http_resp_clear(&resp);
    return ok;
}

typedef struct open_ctx {
    auth_t *auth;
    int open;  /* routes served without a credential */
} open_ctx;

/* The operation is documented open exactly when auth serves it open. */
static int check_open(const routed_op *ro, void *ctx)
{
    open_ctx *c = ctx;
    if (!ro->op)
        return 0;
    bool served = served_open(c->auth, ro->r, ro->route, ro->method);
    c->open += served;
    if (served == documented_open(ro->op))
        return 0;
    fprintf(stderr, "  %s %s: served %s a credential, documented %s\n", ro->mname, ro->path,
            served ? "without" : "only with", served ? "with" : "without");
    return 1;
}

TEST(documented_security_matches_what_auth_lets_through)
{
    store_t *st = scratch_store_open("api_docs");
    auth_opts o = { .admin_key = "api-docs-admin-key-0123" };
    open_ctx c = { 0 };
    ragd_error err;
    ASSERT_EQ_INT(auth_create(&o, st, &c.auth, &err), 0);
    int bad = walk_routes(check_open, &c);
    auth_destroy(c.auth);
    scratch_store_close(st);
    ASSERT_TRUE(c.open >= 4);  /* /health (GET, HEAD), /metrics, /docs (GET, HEAD) at least */
    ASSERT_EQ_INT(bad, 0);
    cJSON *doc = load_doc();
    const cJSON *global = cJSON_GetObjectItemCaseSensitive(doc, "security");
    bool two = cJSON_IsArray(global) && cJSON_GetArraySize(global) == 2;
    cJSON_Delete(doc);
    ASSERT_TRUE(two);  /* everything else: an API key or a bearer token */
}

TEST(docs_page_is_embedded)
{
    ASSERT_TRUE(api_asset_apidocs_html_len > 1000);
    ASSERT_TRUE(strstr(api_asset_apidocs_html, "/openapi.json") != NULL);
    ASSERT_TRUE(strstr(api_asset_apidocs_html, "<script") != NULL);
    ASSERT_TRUE(strstr(api_asset_apidocs_html, "http://") == NULL);  /* no CDN */
    ASSERT_TRUE(strstr(api_asset_apidocs_html, "https://") == NULL);
}

int main(void)
{
    RUN(document_is_openapi_31_of_this_version);
    RUN(every_route_is_documented);
    RUN(document_names_no_route_the_router_lacks);
    RUN(every_operation_is_complete);
    RUN(every_ref_resolves);
    RUN(security_names_the_scope_auth_requires);
    RUN(documented_security_matches_what_auth_lets_through);
    RUN(docs_page_is_embedded);
    return TEST_REPORT();
}
