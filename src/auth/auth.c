/*
 * auth.c - the auth layer's life cycle and the per-request hook: find the
 * credential (X-API-Key, or Authorization: Bearer with an API key or a JWT),
 * turn it into an auth_identity on req->auth, and check the route's scope.
 * Per-user rules are the handlers' through auth_effective_user().
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth_int.h"
#include "http/server.h"
#include "obs/metrics.h"
#include "util/clock.h"
#include "util/fmt.h"
#include "util/json.h"
#include "util/mem.h"

#define AUTH_PROBE_MS 2000

static int auth__load_section(auth_t *a, const cJSON *sec, ragd_error *err)
{
    const char *tier = json_get_str(sec, "default_tier");
    if (tier) {
        if (!*tier || strlen(tier) > AUTH_TIER_MAX || !auth_user_id_valid(tier))
            return ragd_error_set(err, RAGD_EINVAL, "auth.default_tier: 1-32 characters");
        snprintf(a->default_tier, sizeof a->default_tier, "%s", tier);
    }
    const cJSON *open = cJSON_GetObjectItemCaseSensitive(sec, "open_routes");
    if (!open)
        return 0;
    if (!cJSON_IsArray(open))
        return ragd_error_set(err, RAGD_EINVAL, "auth.open_routes: an array of paths");
    for (size_t i = 0; i < a->nopen; i++)
        free(a->open_routes[i]);
    a->nopen = 0;
    for (const cJSON *it = open->child; it; it = it->next) {
        if (!cJSON_IsString(it) || it->valuestring[0] != '/')
            return ragd_error_set(err, RAGD_EINVAL, "auth.open_routes: paths such as \"/health\"");
        a->open_routes = xrealloc(a->open_routes, (a->nopen + 1) * sizeof(char *));
        a->open_routes[a->nopen++] = xstrdup(it->valuestring);
    }
    return 0;
}

int auth_create(const auth_opts *o, store_t *store, auth_t **out, ragd_error *err)
{
    auth_t *a = xcalloc(1, sizeof *a);
    a->store = store;
    snprintf(a->default_tier, sizeof a->default_tier, "free");
    a->open_routes = xcalloc(2, sizeof(char *));
    a->open_routes[0] = xstrdup("/health");
    a->open_routes[1] = xstrdup("/metrics");
    a->nopen = 2;
    if (o->metrics_key && o->metrics_key[0])
        hash_sha256_hex(o->metrics_key, strlen(o->metrics_key), a->metrics_hash);
    const cJSON *sec = o->section, *jwt = o->jwt;
    int rc = 0;
    if (sec && !cJSON_IsObject(sec))
        rc = ragd_error_set(err, RAGD_EINVAL, "auth: must be an object");
    else if (sec)
        rc = auth__load_section(a, sec, err);
    if (rc == 0)
        rc = auth__keys_load(a, o, err);
    if (rc == 0 && jwt)
        rc = auth__jwt_create(jwt, &a->jwt, err);
    if (rc) {
        auth_destroy(a);
        return rc;
    }
    bool on = a->nkeys > 0 || a->jwt || store_exists(store, AUTH_ENABLED_KEY,
                                                     strlen(AUTH_ENABLED_KEY)) == 0;
    atomic_store(&a->enabled, on);
    atomic_store(&a->next_probe_ms, clock_wall_ms() + AUTH_PROBE_MS);
    *out = a;
    return 0;
}

void auth_destroy(auth_t *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->nopen; i++)
        free(a->open_routes[i]);
    free(a->open_routes);
    free(a->keys);
    auth__jwt_destroy(a->jwt);
    free(a);
}

bool auth_enabled(auth_t *a)
{
    if (atomic_load(&a->enabled))
        return true;
    /* Another instance on the same store may have created the first key. */
    int64_t now = clock_wall_ms(), next = atomic_load(&a->next_probe_ms);
    if (now >= next && atomic_compare_exchange_strong(&a->next_probe_ms, &next,
                                                      now + AUTH_PROBE_MS)) {
        if (store_exists(a->store, AUTH_ENABLED_KEY, strlen(AUTH_ENABLED_KEY)) == 0)
            atomic_store(&a->enabled, true);
    }
    return atomic_load(&a->enabled);
}

static bool auth__addr_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
    if (sa->sa_family != AF_INET6)
        return false;
    const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
    return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
}

/* Every address the listen host resolves to (the server binds one of them) is
 * a loopback address; a name that merely starts with "127." is not enough. */
static bool auth__loopback(const char *host)
{
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
    struct addrinfo *ai = NULL;
    if (getaddrinfo(host, NULL, &hints, &ai) != 0 || !ai)
        return false;
    bool ok = true;
    for (const struct addrinfo *p = ai; p && ok; p = p->ai_next)
        ok = auth__addr_loopback(p->ai_addr);
    freeaddrinfo(ai);
    return ok;
}

int auth_check_listen(auth_t *a, const char *listen, bool allow_unauthenticated,
                      ragd_error *err)
{
    char host[256];
    int port;
    if (auth_enabled(a) || allow_unauthenticated ||
        http_parse_listen(listen, host, sizeof host, &port) != 0 || auth__loopback(host))
        return 0;
    return ragd_error_set(err, RAGD_EINVAL,
                          "refusing to listen on %s without authentication: set RAGD_ADMIN_KEY "
                          "(or api_keys / jwt in the config file), listen on 127.0.0.1, or pass "
                          "--allow-unauthenticated", listen);
}

static bool auth__is_open(const auth_t *a, const char *path)
{
    for (size_t i = 0; i < a->nopen; i++)
        if (strcmp(a->open_routes[i], path) == 0)
            return true;
    return false;
}

/* The static pages hold no data: GET / (the dashboard) and GET /docs (the API
 * reference, whose content comes from /openapi.json, which keeps its own
 * rules) ask for a key and send it with every call they make, so a browser can
 * open them with auth on, whatever open_routes says. POST / (the TEI dialect)
 * still needs a credential. */
static bool auth__is_page(const http_req *req)
{
    return (req->method & (HTTP_GET | HTTP_HEAD)) &&
           (strcmp(req->path, "/") == 0 || strcmp(req->path, "/docs") == 0);
}

static void auth__anonymous(auth_t *a, auth_identity *id, unsigned scopes, bool service)
{
    memset(id, 0, sizeof *id);
    fmt_copy(id->key_id, sizeof id->key_id, "anonymous");  /* every open request */
    fmt_copy(id->tier, sizeof id->tier, a->default_tier);
    id->scopes = scopes;
    id->is_service = service;
    id->anonymous = true;
}

static bool auth__fail(auth_t *a, http_req *req, http_resp *resp, bool invalid, const char *msg)
{
    metrics_inc(invalid ? &a->n_invalid : &a->n_missing, 1);
    http_error(req, resp, 401, "unauthorized", "%s", msg);
    http_resp_header(resp, "WWW-Authenticate",
                     invalid ? "Bearer realm=\"ragd\", error=\"invalid_token\""
                             : "Bearer realm=\"ragd\"");
    return false;
}

/* Authenticate cred into id; false with resp filled. */
static bool auth__authenticate(auth_t *a, http_req *req, http_resp *resp, const char *cred,
                               bool bearer, auth_identity *id)
{
    ragd_error err;
    bool looks_jwt = bearer && strchr(cred, '.') && strchr(strchr(cred, '.') + 1, '.');
    if (looks_jwt && a->jwt) {
        if (auth__jwt_verify(a, cred, id, &err))
            return auth__fail(a, req, resp, true, err.msg);
        return true;
    }
    int rc = auth__key_lookup(a, cred, id);
    if (rc == RAGD_EUNAVAIL) {
        metrics_inc(&a->n_unavailable, 1);
        http_error(req, resp, 503, "store_unavailable",
                   "the key store is unavailable: the credential cannot be checked");
        return false;
    }
    if (rc)
        return auth__fail(a, req, resp, true, "the API key is not valid");
    return true;
}

/* The presented credential (X-API-Key, else Authorization: Bearer), or NULL. */
static const char *auth__credential(const http_req *req, bool *bearer)
{
    const char *cred = http_req_header(req, "X-API-Key");
    *bearer = false;
    if (cred && *cred)
        return cred;
    const char *h = http_req_header(req, "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7) != 0)
        return NULL;
    for (cred = h + 7; *cred == ' '; cred++)
        ;
    *bearer = true;
    return *cred ? cred : NULL;
}

/* Is cred the configured metrics key? (compares hashes: no early exit on the
 * secret's bytes) */
static bool auth__is_metrics_key(const auth_t *a, const char *cred)
{
    char hash[HASH_SHA256_HEX_LEN + 1];
    if (!cred || !a->metrics_hash[0])
        return false;
    hash_sha256_hex(cred, strlen(cred), hash);
    return memcmp(hash, a->metrics_hash, HASH_SHA256_HEX_LEN) == 0;
}

/* auth_before's checks; req->auth is set. */
static bool auth__before(auth_t *a, http_req *req, http_resp *resp)
{
    auth_identity *id = req->auth;
    if (auth__is_page(req)) {
        auth__anonymous(a, id, AUTH_SCOPE_READ, false);
        return true;
    }
    bool bearer;
    const char *cred = auth__credential(req, &bearer);
    /* With metrics_key set, /metrics needs it (or an admin credential), open
     * route or not, auth on or off. */
    bool metrics = a->metrics_hash[0] && strcmp(req->path, "/metrics") == 0;
    if (metrics && auth__is_metrics_key(a, cred)) {
        auth__anonymous(a, id, AUTH_SCOPE_READ, false);
        return true;
    }
    if (!auth_enabled(a) && !metrics) {
        auth__anonymous(a, id, auth__scopes_close(AUTH_SCOPE_ADMIN), true);
        return true;
    }
    if (!metrics && auth__is_open(a, req->path)) {
        auth__anonymous(a, id, AUTH_SCOPE_READ, false);
        return true;
    }
    if (!cred)
        return auth__fail(a, req, resp, false,
                          "a credential is required: send X-API-Key or Authorization: Bearer");
    if (!auth__authenticate(a, req, resp, cred, bearer, id))
        return false;
    unsigned need = auth_required_scope(req->method, req->route);
    if ((id->scopes & need) != need) {
        metrics_inc(&a->n_forbidden, 1);
        http_error(req, resp, 403, "forbidden", "%s %s needs the '%s' scope", req->method_name,
                   req->route, need == AUTH_SCOPE_ADMIN ? "admin" : need == AUTH_SCOPE_WRITE
                                                              ? "write" : "read");
        return false;
    }
    metrics_inc(&a->n_ok, 1);
    return true;
}

bool auth_before(auth_t *a, http_req *req, http_resp *resp)
{
    auth_identity *id = xcalloc(1, sizeof *id);
    req->auth = id;
    bool ok = auth__before(a, req, resp);
    http_req_log_identity(req, id->key_id, id->user_id[0] ? id->user_id : id->tenant);
    return ok;
}

void auth_release(http_req *req)
{
    free(req->auth);
    req->auth = NULL;
}

const auth_identity *auth_identity_of(const http_req *req)
{
    return req->auth;
}

bool auth_effective_user(const http_req *req, const char *body_user_id, const char **user,
                         http_resp *resp)
{
    auth_identity *id = req->auth;
    if (body_user_id && !*body_user_id)
        body_user_id = NULL;
    if (body_user_id && !auth_user_id_valid(body_user_id)) {
        http_error(req, resp, 400, "invalid_request",
                   "user_id must be 1-128 characters of [A-Za-z0-9_.@+|-]");
        return false;
    }
    if (id && id->user_id[0]) {
        if (body_user_id && strcmp(body_user_id, id->user_id) != 0) {
            http_error(req, resp, 403, "forbidden",
                       "user_id '%s' is not the caller's; only service keys act for other users",
                       body_user_id);
            return false;
        }
        *user = id->user_id;
    } else if (id && id->tenant[0]) {
        snprintf(id->effective, sizeof id->effective, "%s/%s", id->tenant,
                 body_user_id ? body_user_id : "");
        *user = id->effective;
    } else {
        *user = body_user_id;
    }
    http_req_log_identity(req, NULL, *user);
    return true;
}

bool auth_user_namespace(const http_req *req, const char *body_user_id, char *out, size_t n,
                         http_resp *resp)
{
    const char *user = NULL;
    if (!auth_effective_user(req, body_user_id, &user, resp))
        return false;
    if (user)
        snprintf(out, n, AUTH_USER_MARK "%s:", user);
    else if (n)
        out[0] = '\0';
    return true;
}

bool auth_shared_key_ok(const http_req *req, const char *ns, const char *key, http_resp *resp)
{
    if (ns[0] || strncmp(key, AUTH_USER_MARK, sizeof AUTH_USER_MARK - 1) != 0)
        return true;
    http_error(req, resp, 400, "reserved_key", "keys starting with \"%s\" are reserved for "
               "per-user entries: name the user (user_id) or choose another key",
               AUTH_USER_MARK);
    return false;
}

void auth_metrics_render(auth_t *a, buf_t *b)
{
    static const char *const names[] = { "ok", "missing", "invalid", "forbidden", "unavailable" };
    const uint64_t *vals[] = { &a->n_ok, &a->n_missing, &a->n_invalid, &a->n_forbidden,
                               &a->n_unavailable };
    metrics_family(b, "ragd_auth_requests_total", "counter",
                   "authentication outcomes of requests to protected routes");
    for (int i = 0; i < 5; i++) {
        char labels[48];
        snprintf(labels, sizeof labels, "result=\"%s\"", names[i]);
        metrics_sample(b, "ragd_auth_requests_total", labels, (double)metrics_load(vals[i]));
    }
    metrics_family(b, "ragd_auth_enabled", "gauge", "1 when credentials are required");
    metrics_sample(b, "ragd_auth_enabled", NULL, auth_enabled(a) ? 1 : 0);
}
