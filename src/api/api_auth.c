/*
 * api_auth.c - key management (admin scope, see auth_scope.c):
 *   POST   /api/v1/keys       {name?, scopes, user_id | tenant | service, tier?}
 *          -> 201 {key, id, ...}: the secret is shown this once
 *   GET    /api/v1/keys       -> {keys: [...]} (never secrets)
 *   DELETE /api/v1/keys/{id}  -> {deleted: 1}
 * and what a caller's identity may see of other owners' data (api_sees_all).
 */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/api_int.h"
#include "auth/auth.h"
#include "util/json.h"

bool api_sees_all(const http_req *req)
{
    const auth_identity *id = auth_identity_of(req);
    return !id || !(id->user_id[0] || id->tenant[0]);
}

static void keys_api__create(http_req *req, http_resp *resp)
{
    cJSON *body;
    if (!api_parse_object(req, resp, &body))
        return;
    auth_key_spec spec = {
        .name = json_get_str(body, "name"),
        .user_id = json_get_str(body, "user_id"),
        .tenant = json_get_str(body, "tenant"),
        .tier = json_get_str(body, "tier"),
    };
    json_get_bool(body, "service", &spec.service);
    const cJSON *scopes = json_get_arr(body, "scopes");
    bool bad = !scopes || !scopes->child;
    for (const cJSON *it = scopes ? scopes->child : NULL; it; it = it->next) {
        unsigned s = cJSON_IsString(it) ? auth_scope_parse(it->valuestring) : 0;
        bad |= s == 0;
        spec.scopes |= s;
    }
    if (bad) {
        http_error(req, resp, 400, "invalid_request",
                   "'scopes' must be a non-empty array of \"read\", \"write\", \"admin\"");
    } else if (spec.name && (strlen(spec.name) > 128 || !*spec.name)) {
        http_error(req, resp, 400, "invalid_request", "'name' must be 1-128 characters");
    } else {
        char *secret = NULL;
        cJSON *info = NULL;
        ragd_error err;
        int rc = auth_key_create(api_app(req)->auth, &spec, &secret, &info, &err);
        if (rc) {
            api_error_rc(req, resp, rc, "%s", err.msg);
        } else {
            cJSON_AddStringToObject(info, "key", secret);
            api_reply_json(resp, 201, info);
            free(secret);
            cJSON_Delete(info);
        }
    }
    cJSON_Delete(body);
}

static void keys_api__list(http_req *req, http_resp *resp)
{
    cJSON *keys = NULL;
    int rc = auth_key_list(api_app(req)->auth, &keys);
    if (rc) {
        api_error_rc(req, resp, rc, "cannot list keys: %s", ragd_strerror(rc));
        return;
    }
    cJSON *out = cJSON_CreateObject();
    cJSON_AddItemToObject(out, "keys", keys);
    api_reply_json(resp, 200, out);
    cJSON_Delete(out);
}

static void keys_api__delete(http_req *req, http_resp *resp)
{
    const char *id = http_req_param(req, "id");
    int rc = auth_key_delete(api_app(req)->auth, id);
    if (rc == RAGD_ENOTFOUND) {
        http_error(req, resp, 404, "not_found", "no stored key with id '%s'", id);
        return;
    }
    if (rc) {
        api_error_rc(req, resp, rc, "the key was not deleted: %s", ragd_strerror(rc));
        return;
    }
    static const char ok[] = "{\"deleted\":1}";
    http_resp_static(resp, 200, "application/json", ok, sizeof ok - 1);
}

void api_auth_register(router_t *r)
{
    router_add(r, HTTP_POST, "/api/v1/keys", keys_api__create);
    router_add(r, HTTP_GET, "/api/v1/keys", keys_api__list);
    router_add(r, HTTP_DELETE, "/api/v1/keys/{id}", keys_api__delete);
}
