/*
 * api_user_content.c - the seeds' per-user content: embeddings/generate with
 * user_id + content_type stores the text as that user's item (kb/
 * user_content.h, in the user_content_namespace setting's namespace), as
 * does POST /api/v1/users/{user_id}/items; GET /api/v1/users/{user_id}/items
 * [/{id}] + DELETE .../items/{id} list, read and delete a user's items. A
 * user-bound caller reaches only its own items. An item expires after the
 * request's `ttl`, else its content type's (user_content_ttl), else never.
 */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/api_int.h"
#include "auth/auth.h"
#include "kb/user_content.h"
#include "util/json.h"

#define UC_LIST_MAX 1000

bool uc_api_parse(const http_req *req, http_resp *resp, const cJSON *body, const char *user,
                  uc_api_item *out)
{
    memset(out, 0, sizeof *out);
    const cJSON *ct = cJSON_GetObjectItemCaseSensitive(body, "content_type");
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(body, "metadata");
    bool store = true;
    int src = json_get_bool(body, "store", &store);
    if (src == RAGD_EINVAL) {
        http_error(req, resp, 400, "invalid_request", "'store' must be a boolean");
        return false;
    }
    if (ct && !cJSON_IsNull(ct) && (!cJSON_IsString(ct) || !uc_type_ok(ct->valuestring))) {
        http_error(req, resp, 400, "invalid_request", "'content_type' must be 1-%d characters "
                   "of [A-Za-z0-9_.-]", UC_TYPE_MAX);
        return false;
    }
    if (md && !cJSON_IsNull(md) && !cJSON_IsObject(md)) {
        http_error(req, resp, 400, "invalid_request", "'metadata' must be an object");
        return false;
    }
    int64_t ttl = 0;
    ragd_error err = {0};
    int trc = json_get_count(body, "ttl", 0, UC_TTL_MAX, &ttl, &err);
    if (trc == RAGD_EINVAL) {
        http_error(req, resp, 400, "invalid_ttl", "%s seconds (0 = never expires)", err.msg);
        return false;
    }
    out->content_type = cJSON_IsString(ct) ? ct->valuestring : NULL;
    out->metadata = cJSON_IsObject(md) ? md : NULL;
    if (trc == RAGD_ENOTFOUND && out->content_type)
        ttl = uc_ttl_of(&api_app(req)->uc_ttl, out->content_type);
    out->expires_at = uc_ttl_expiry(ttl);
    out->user = user;
    out->store = store && out->content_type && user && *user;
    if (src == 0 && store && !out->store) {
        http_error(req, resp, 400, "invalid_request", "\"store\": true needs a user_id and a "
                   "content_type");
        return false;
    }
    const auth_identity *id = auth_identity_of(req);
    if (out->store && id && !(id->scopes & AUTH_SCOPE_WRITE)) {
        http_error(req, resp, 403, "forbidden", "storing an item needs the write scope (send "
                   "\"store\": false to only embed)");
        return false;
    }
    return true;
}

bool uc_api_store(const http_req *req, http_resp *resp, const uc_api_item *it,
                  const char *text, size_t len, char id[UC_ID_LEN + 1])
{
    app_t *app = api_app(req);
    const char *ns = app->cfg.user_content_namespace;
    ragd_error err = {0};
    uc_item_in in = {.user_id = it->user, .content_type = it->content_type, .text = text,
                     .len = len, .metadata = it->metadata, .expires_at = it->expires_at};
    int rc = uc_ns_ensure(app->kb, ns, &err);
    if (!rc)
        rc = uc_item_put(app->kb, ns, &in, id, &err);
    if (rc)
        api_error_rc(req, resp, rc, "storing the item in namespace %s: %s", ns,
                     err.msg[0] ? err.msg : ragd_strerror(rc));
    return rc == 0;
}

/* The user of a /users/{user_id}/... route, or false with resp filled. */
static bool uc_api__user(http_req *req, http_resp *resp, const char **user)
{
    if (!auth_effective_user(req, http_req_param(req, "user_id"), user, resp))
        return false;
    if (!*user || !**user) {
        http_error(req, resp, 400, "invalid_request", "a user_id is required");
        return false;
    }
    return true;
}

static bool uc_api__ns(http_req *req, http_resp *resp, const char *ns)
{
    if (kb_ns_exists(api_app(req)->kb, ns))
        return true;
    http_error(req, resp, 404, "not_found", "no item stored yet");
    return false;
}

/* GET /api/v1/users/{user_id}/items?content_type=&limit=&offset= */
static void uc_api__list(http_req *req, http_resp *resp)
{
    app_t *app = api_app(req);
    const char *user, *ct = http_req_query(req, "content_type");
    const char *lim = http_req_query(req, "limit"), *off = http_req_query(req, "offset");
    char *e1 = NULL, *e2 = NULL;
    long long limit = lim ? strtoll(lim, &e1, 10) : 100, offset = off ? strtoll(off, &e2, 10) : 0;
    if (!uc_api__user(req, resp, &user))
        return;
    if ((e1 && *e1) || (e2 && *e2) || limit < 1 || limit > UC_LIST_MAX || offset < 0) {
        http_error(req, resp, 400, "invalid_request", "limit must be in [1, %d] and offset >= 0",
                   UC_LIST_MAX);
        return;
    }
    cJSON *items = NULL;
    uint64_t total = 0;
    const char *ns = app->cfg.user_content_namespace;
    int rc = kb_ns_exists(app->kb, ns)
                 ? uc_item_list(app->kb, ns, user, ct && *ct ? ct : NULL, (size_t)offset,
                                (size_t)limit, &items, &total)
                 : 0;
    if (rc) {
        api_error_rc(req, resp, rc, "listing items: %s", ragd_strerror(rc));
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "items", items ? items : cJSON_CreateArray());
    cJSON_AddNumberToObject(o, "total", (double)total);
    api_reply_json(resp, 200, o);
    cJSON_Delete(o);
}

/* POST /api/v1/users/{user_id}/items {content, content_type, metadata?, ttl?}:
 * 201 with the stored item. */
static void uc_api__create(http_req *req, http_resp *resp)
{
    app_t *app = api_app(req);
    const char *user;
    cJSON *body = NULL, *item = NULL;
    uc_api_item it;
    char id[UC_ID_LEN + 1];
    if (!uc_api__user(req, resp, &user) || !api_parse_object(req, resp, &body))
        return;
    const char *text = json_get_str(body, "content");
    if (!uc_api_parse(req, resp, body, user, &it)) {
        /* resp is filled */
    } else if (!text || !*text || !it.content_type) {
        http_error(req, resp, 400, "invalid_request", "'content' (a non-empty string) and "
                   "'content_type' are required");
    } else if (!it.store) {
        http_error(req, resp, 400, "invalid_request", "\"store\": false stores nothing");
    } else if (uc_api_store(req, resp, &it, text, strlen(text), id)) {
        if (uc_item_get(app->kb, app->cfg.user_content_namespace, user, id, &item) == 0)
            api_reply_json(resp, 201, item);
        else
            http_error(req, resp, 404, "not_found", "item %s expired at once (ttl)", id);
    }
    cJSON_Delete(item);
    cJSON_Delete(body);
}

static void uc_api__items(http_req *req, http_resp *resp)
{
    if (req->method == HTTP_POST)
        uc_api__create(req, resp);
    else
        uc_api__list(req, resp);
}

/* GET|DELETE /api/v1/users/{user_id}/items/{id} */
static void uc_api__item(http_req *req, http_resp *resp)
{
    app_t *app = api_app(req);
    const char *user, *id = http_req_param(req, "id");
    const char *ns = app->cfg.user_content_namespace;
    if (!uc_api__user(req, resp, &user) || !uc_api__ns(req, resp, ns))
        return;
    cJSON *item = NULL;
    int rc = req->method == HTTP_DELETE ? uc_item_delete(app->kb, ns, user, id)
                                        : uc_item_get(app->kb, ns, user, id, &item);
    if (rc == RAGD_ENOTFOUND) {
        http_error(req, resp, 404, "not_found", "no item %s for this user", id);
    } else if (rc) {
        api_error_rc(req, resp, rc, "item %s: %s", id, ragd_strerror(rc));
    } else if (item) {
        api_reply_json(resp, 200, item);
    } else {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddBoolToObject(o, "deleted", true);
        cJSON_AddStringToObject(o, "id", id);
        api_reply_json(resp, 200, o);
        cJSON_Delete(o);
    }
    cJSON_Delete(item);
}

void api_user_content_register(router_t *r)
{
    router_add(r, HTTP_GET | HTTP_POST, "/api/v1/users/{user_id}/items", uc_api__items);
    router_add(r, HTTP_GET | HTTP_DELETE, "/api/v1/users/{user_id}/items/{id}", uc_api__item);
}
