/*
 * auth.h - who is calling and what they may do. Credentials are API keys
 * (X-API-Key or Authorization: Bearer; from the bootstrap admin key, the config
 * file's "api_keys", or the admin API, stored as SHA-256 hashes) and JWT bearer
 * tokens (HS256/RS256, issuer, audience and expiry checked). auth_before runs
 * after routing and before every handler: it attaches an auth_identity to
 * req->auth, answers 401/403 itself, and leaves per-user rules to handlers
 * through auth_effective_user().
 *
 * With no credential source configured auth is off: every caller is an
 * anonymous service identity with every scope, and ragd must listen on loopback
 * unless --allow-unauthenticated is given (auth_check_listen).
 */
#ifndef RAGD_AUTH_H
#define RAGD_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "http/http.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/err.h"

typedef struct auth auth_t;

/* Scopes. They nest: admin includes write, write includes read. */
enum auth_scope { AUTH_SCOPE_READ = 1, AUTH_SCOPE_WRITE = 2, AUTH_SCOPE_ADMIN = 4 };

#define AUTH_ID_MAX 128
#define AUTH_TIER_MAX 32

/* The caller of one request (req->auth). Exactly one of: user-bound
 * (user_id set), tenant-bound (tenant set) or service (is_service). */
typedef struct auth_identity {
    char user_id[AUTH_ID_MAX + 1];   /* fixed user; "" if not user-bound */
    char tenant[AUTH_ID_MAX + 1];    /* tenant; "" if not tenant-bound */
    char key_id[48];                 /* "key_<16 hex>", "admin", "jwt", "config:<name>",
                                        "anonymous" (auth off or an open route) */
    char tier[AUTH_TIER_MAX + 1];    /* rate-limit tier ("free" unless set) */
    unsigned scopes;                 /* AUTH_SCOPE_* bits, nesting applied */
    bool is_service;                 /* may act for any user named in a request */
    bool anonymous;                  /* no credential was checked */
    char effective[2 * AUTH_ID_MAX + 2]; /* storage for auth_effective_user */
} auth_identity;

/* What auth is built from; everything is borrowed for auth_create only. */
typedef struct auth_opts {
    const char *admin_key;   /* bootstrap admin key (16+ characters); NULL/"" = none */
    const cJSON *api_keys;   /* the config file's sections; NULL = absent: */
    const cJSON *jwt;        /*   "api_keys", "jwt", */
    const cJSON *section;    /*   and "auth" ({open_routes, default_tier}) */
    const char *metrics_key; /* secret GET /metrics then needs; NULL/"" = none */
} auth_opts;

/* Build from o. The store is borrowed (keys created by the API live there).
 * err names a bad setting. Caller owns *out: auth_destroy(). */
int auth_create(const auth_opts *o, store_t *store, auth_t **out, ragd_error *err);
void auth_destroy(auth_t *a);

/* Is any credential source configured (so every non-open route needs one)?
 * Thread-safe; turns true for good once a key is created. */
bool auth_enabled(auth_t *a);

/* 0 if admin_key is empty/NULL or 16 to AUTH_SECRET_MAX characters; RAGD_EINVAL
 * with err naming the rule otherwise. auth_create checks it too; app calls it
 * before anything heavy is loaded. */
int auth_check_admin_key(const char *admin_key, ragd_error *err);

/* Start-up policy: with auth off, listening on a non-loopback address is
 * refused unless allow_unauthenticated. Fills err with the reason. */
int auth_check_listen(auth_t *a, const char *listen, bool allow_unauthenticated,
                      ragd_error *err);

/* The server's before-hook: authenticate, attach the identity to req->auth,
 * check the route's scope. Returns false with resp filled (401 unauthorized
 * with WWW-Authenticate, 403 forbidden, 503 when the key store is down).
 * Thread-safe. */
bool auth_before(auth_t *a, http_req *req, http_resp *resp);

/* Free req->auth (the server's release hook). */
void auth_release(http_req *req);

/* The caller's identity, or NULL before auth ran (unit tests). Borrowed for
 * the request's life. */
const auth_identity *auth_identity_of(const http_req *req);

/* The user a request acts for, enforcing "a user_id in a request must be the
 * caller's own unless the caller is a service key". body_user_id is the
 * user_id the client named (body or query; NULL or "" if none).
 *   user-bound caller: *user = its user id; a different body_user_id -> 403.
 *   tenant caller:     *user = "<tenant>/<body_user_id>", or "<tenant>/" for the
 *                      tenant itself; tenants never see each other's users.
 *   service caller:    *user = body_user_id, or NULL (shared data, no user).
 * A malformed user id -> 400. On false, resp holds the error and the handler
 * must return. *user is borrowed for the request's life. Handlers of every
 * per-user resource (sessions, documents with an owner, user-scoped cache,
 * conversation history) call this and filter by *user. Thread-safe. */
bool auth_effective_user(const http_req *req, const char *body_user_id, const char **user,
                         http_resp *resp);

/* A store-key namespace for the request's user: "u:<user>:" when
 * auth_effective_user gives a user, "" otherwise (shared data). Same error
 * contract as auth_effective_user. */
bool auth_user_namespace(const http_req *req, const char *body_user_id, char *out, size_t n,
                         http_resp *resp);

/* The user-scope marker: per-user store keys are "u:<user>:<key>". */
#define AUTH_USER_MARK "u:"

/* May a client-chosen key be stored under ns (from auth_user_namespace)? A
 * shared key (ns "") starting with AUTH_USER_MARK would alias a user's entry
 * ("u:alice:k" is alice's "k"), so it is refused: false with resp holding
 * 400 reserved_key. Keys under a user's namespace are always fine. Used by
 * the cache API, warm-up and rate-limit checks. Thread-safe. */
bool auth_shared_key_ok(const http_req *req, const char *ns, const char *key, http_resp *resp);

/* 1-128 characters of [A-Za-z0-9_.@+|-]: safe inside store keys. */
bool auth_user_id_valid(const char *id);

/* The scope a method + route pattern needs (a table of admin-only and
 * read-only routes; otherwise GET/HEAD read, anything else write). */
unsigned auth_required_scope(int method, const char *route);

/* Scope names <-> bits ("read", "write", "admin"); parse returns 0 if unknown. */
unsigned auth_scope_parse(const char *name);
void auth_scopes_json(unsigned scopes, cJSON *arr);

/* Key management (admin API). */
typedef struct auth_key_spec {
    const char *name;      /* label, may be NULL */
    unsigned scopes;
    const char *user_id;   /* exactly one of user_id, tenant, service */
    const char *tenant;
    bool service;
    const char *tier;      /* NULL = default tier */
} auth_key_spec;

/* Create a key: *secret gets the plaintext (shown once; caller frees), *info
 * its description (caller cJSON_Deletes). Stored as auth:key:<sha256>. */
int auth_key_create(auth_t *a, const auth_key_spec *spec, char **secret, cJSON **info,
                    ragd_error *err);
/* The keys stored through the API, without secrets (caller cJSON_Deletes). */
int auth_key_list(auth_t *a, cJSON **out);
/* Delete a stored key by id ("key_<16 hex>"). RAGD_ENOTFOUND if unknown. */
int auth_key_delete(auth_t *a, const char *id);

/* Append ragd_auth_* metrics (Prometheus text). Thread-safe. */
void auth_metrics_render(auth_t *a, buf_t *b);

#endif
