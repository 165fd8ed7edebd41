/*
 * key.c - canonical key material for completion requests (see key.h).
 */
#include "gateway/key.h"

#include <string.h>

#include "util/json.h"

const char *gw_endpoint_name(int endpoint)
{
    return endpoint == GW_COMPLETIONS ? "completions" : "chat";
}

bool gw_key_field_ignored(const char *name)
{
    static const char *const ignored[] = {
        "stream", "stream_options", "user", "metadata", "store", "service_tier", NULL,
    };
    for (int i = 0; ignored[i]; i++)
        if (strcmp(name, ignored[i]) == 0)
            return true;
    return false;
}

void gw_key_build(const cJSON *body, int endpoint, const char *scope, buf_t *canon,
                  char hash[HASH_SHA256_HEX_LEN + 1])
{
    cJSON *req = cJSON_CreateObject();
    for (const cJSON *f = body->child; f; f = f->next)
        if (f->string && !gw_key_field_ignored(f->string))
            cJSON_AddItemReferenceToObject(req, f->string, (cJSON *)f);
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "endpoint", gw_endpoint_name(endpoint));
    cJSON_AddStringToObject(root, "scope", scope);
    cJSON_AddItemToObject(root, "request", req);
    size_t start = canon->len;
    json_canonical(root, canon);
    cJSON_Delete(root);
    hash_sha256_hex(canon->data + start, canon->len - start, hash);
}
