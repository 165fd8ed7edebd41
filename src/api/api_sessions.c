/*
 * api_sessions.c - sessions and conversation history (src/auth/session*.c):
 *   PUT    /api/v1/sessions/{id}?ttl=S&ttl_mode=absolute|sliding   body: the document
 *   GET    /api/v1/sessions/{id}
 *   PATCH  /api/v1/sessions/{id}[?ttl=&ttl_mode=]                  body: a merge patch
 *   DELETE /api/v1/sessions/{id}
 *   POST   /api/v1/sessions/{id}/messages {role, content, metadata?}
 *   GET    /api/v1/sessions/{id}/messages?last=N | ?relevant_to=TEXT&k=K
 * A session belongs to the user the request acts for (auth_effective_user:
 * the caller's own user, or ?user_id= / "user_id" named by a service key);
 * another user's session reads as 404 and cannot be changed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "util/json.h"

/* Resolve {id} and the owner; false with resp filled. */
static bool sess_api__target(http_req *req, http_resp *resp, const char *body_user,
                             const char **id, const char **owner)
{
    *id = http_req_param(req, "id");
    if (!session_id_valid(*id)) {
        http_error(req, resp, 400, "invalid_request",
                   "session id must be 1-128 characters of [A-Za-z0-9_.-]");
        return false;
    }
    const char *u = body_user ? body_user : http_req_query(req, "user_id");
    return auth_effective_user(req, u, owner, resp);
}

static void sess_api__fail(http_req *req, http_resp *resp, int rc, const char *id)
{
    if (rc == RAGD_ENOTFOUND)
        http_error(req, resp, 404, "not_found", "no session '%s'", id);
    else if (rc == RAGD_ETOOBIG)
        http_error(req, resp, 413, "payload_too_large",
                   "the session document or message exceeds session_max_bytes (%lld bytes)",
                   (long long)api_app(req)->cfg.session_max_bytes);
    else if (rc == RAGD_EINTERNAL)
        http_error(req, resp, 500, "history_unreadable",
                   "the stored history of session '%s' cannot be read; it was left unchanged", id);
    else
        api_error_rc(req, resp, rc, "session '%s': %s", id, ragd_strerror(rc));
}

/* ?ttl= and ?ttl_mode=; *ttl 0 and *sliding SESSION_TTL_KEEP when absent. */
static bool sess_api__ttl(http_req *req, http_resp *resp, int64_t *ttl, int *sliding)
{
    const char *t = http_req_query(req, "ttl"), *m = http_req_query(req, "ttl_mode");
    *ttl = 0;
    *sliding = SESSION_TTL_KEEP;
    if (t && json_count_text(t, "ttl", 1, 315360000, ttl, NULL)) {
        http_error(req, resp, 400, "invalid_ttl", "ttl must be seconds in [1, 315360000]");
        return false;
    }
    if (m) {
        if (strcmp(m, "sliding") && strcmp(m, "absolute")) {
            http_error(req, resp, 400, "invalid_request", "ttl_mode must be absolute or sliding");
            return false;
        }
        *sliding = !strcmp(m, "sliding");
    }
    return true;
}

static void sess_api__put(http_req *req, http_resp *resp)
{
    const char *id, *owner;
    int64_t ttl;
    int sliding;
    if (!sess_api__target(req, resp, NULL, &id, &owner) || !sess_api__ttl(req, resp, &ttl, &sliding))
        return;
    if (req->body_len > (size_t)api_app(req)->cfg.session_max_bytes) {
        sess_api__fail(req, resp, RAGD_ETOOBIG, id);
        return;
    }
    cJSON *doc = NULL;
    if (!api_parse_json(req, resp, &doc))
        return;
    bool created = false;
    sessions_t *s = api_app(req)->sessions;
    int rc = session_put(s, owner, id, doc, ttl, sliding == 1, &created);
    cJSON_Delete(doc);
    cJSON *view = NULL;
    if (rc == 0)
        rc = session_get(s, owner, id, &view);
    if (rc) {
        sess_api__fail(req, resp, rc, id);
        return;
    }
    api_reply_json(resp, created ? 201 : 200, view);
    cJSON_Delete(view);
}

static void sess_api__get(http_req *req, http_resp *resp)
{
    const char *id, *owner;
    if (!sess_api__target(req, resp, NULL, &id, &owner))
        return;
    cJSON *view;
    int rc = session_get(api_app(req)->sessions, owner, id, &view);
    if (rc) {
        sess_api__fail(req, resp, rc, id);
        return;
    }
    api_reply_json(resp, 200, view);
    cJSON_Delete(view);
}

static void sess_api__patch(http_req *req, http_resp *resp)
{
    const char *id, *owner;
    int64_t ttl;
    int sliding;
    if (!sess_api__target(req, resp, NULL, &id, &owner) || !sess_api__ttl(req, resp, &ttl, &sliding))
        return;
    cJSON *patch = NULL, *view = NULL;
    if (!api_parse_json(req, resp, &patch))
        return;
    int rc = session_patch(api_app(req)->sessions, owner, id, patch, ttl, sliding, &view);
    cJSON_Delete(patch);
    if (rc) {
        sess_api__fail(req, resp, rc, id);
        return;
    }
    api_reply_json(resp, 200, view);
    cJSON_Delete(view);
}

static void sess_api__delete(http_req *req, http_resp *resp)
{
    const char *id, *owner;
    if (!sess_api__target(req, resp, NULL, &id, &owner))
        return;
    int rc = session_delete(api_app(req)->sessions, owner, id);
    if (rc) {
        sess_api__fail(req, resp, rc, id);
        return;
    }
    static const char ok[] = "{\"deleted\":1}";
    http_resp_static(resp, 200, "application/json", ok, sizeof ok - 1);
}

static void sess_api__append(http_req *req, http_resp *resp)
{
    cJSON *body;
    if (!api_parse_object(req, resp, &body))
        return;
    const char *id, *owner;
    const char *role = json_get_str(body, "role"), *content = json_get_str(body, "content");
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(body, "metadata");
    if (!sess_api__target(req, resp, json_get_str(body, "user_id"), &id, &owner)) {
        cJSON_Delete(body);
        return;
    }
    cJSON *msg = NULL;
    if (!role || !*role || strlen(role) > 32) {
        http_error(req, resp, 400, "invalid_request", "'role' must be a string of 1-32 characters");
    } else if (!content) {
        http_error(req, resp, 400, "invalid_request", "'content' must be a string");
    } else if (meta && !cJSON_IsObject(meta) && !cJSON_IsNull(meta)) {
        http_error(req, resp, 400, "invalid_request", "'metadata' must be an object");
    } else {
        int rc = session_append(api_app(req)->sessions, owner, id, role, content,
                                cJSON_IsObject(meta) ? meta : NULL, &msg);
        if (rc)
            sess_api__fail(req, resp, rc, id);
        else
            api_reply_json(resp, 201, msg);
    }
    cJSON_Delete(msg);
    cJSON_Delete(body);
}

static bool sess_api__int(http_req *req, http_resp *resp, const char *name, int def, int max,
                          int *out)
{
    int64_t v = def;
    if (!api_query_count(req, resp, name, 1, max, &v))
        return false;
    *out = (int)v;
    return true;
}

static void sess_api__messages(http_req *req, http_resp *resp)
{
    const char *id, *owner;
    int last, k;
    if (!sess_api__target(req, resp, NULL, &id, &owner) ||
        !sess_api__int(req, resp, "last", 0, 100000, &last) ||
        !sess_api__int(req, resp, "k", 5, 1000, &k))
        return;
    const char *rel = http_req_query(req, "relevant_to");
    cJSON *msgs = NULL;
    int rc;
    if (rel) {
        rc = session_relevant(api_app(req)->sessions, owner, id, rel, k, &msgs);
        if (rc == RAGD_EUNSUPPORTED) {
            http_error(req, resp, 503, "model_unavailable",
                       "relevant_to needs the embedding model, which is not loaded");
            return;
        }
    } else {
        rc = session_messages(api_app(req)->sessions, owner, id, last, &msgs);
    }
    if (rc) {
        sess_api__fail(req, resp, rc, id);
        return;
    }
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "session", id);
    cJSON_AddItemToObject(out, "messages", msgs);
    api_reply_json(resp, 200, out);
    cJSON_Delete(out);
}

void api_sessions_register(router_t *r)
{
    router_add(r, HTTP_PUT, "/api/v1/sessions/{id}", sess_api__put);
    router_add(r, HTTP_GET, "/api/v1/sessions/{id}", sess_api__get);
    router_add(r, HTTP_PATCH, "/api/v1/sessions/{id}", sess_api__patch);
    router_add(r, HTTP_DELETE, "/api/v1/sessions/{id}", sess_api__delete);
    router_add(r, HTTP_POST, "/api/v1/sessions/{id}/messages", sess_api__append);
    router_add(r, HTTP_GET, "/api/v1/sessions/{id}/messages", sess_api__messages);
}
