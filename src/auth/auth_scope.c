/*
 * auth_scope.c - the rules every credential is checked against: the form of
 * user ids, scope names, and which scope each route needs. A table keyed by
 * method and route pattern lists the admin-only and the read-only routes;
 * anything else needs read for GET/HEAD and write for other methods. Patterns
 * match the router's patterns segment by segment, any {param} matching any
 * {param}, so the table does not depend on how other areas name their
 * parameters.
 */
#include <string.h>

#include "auth/auth_int.h"

typedef struct scope_rule {
    int methods;
    const char *route;
    unsigned scope;
} scope_rule;

#define ANY (HTTP_GET | HTTP_HEAD | HTTP_POST | HTTP_PUT | HTTP_PATCH | HTTP_DELETE)

static const scope_rule scope_rules[] = {
    /* cache management */
    { HTTP_POST, "/api/v1/cache/clear", AUTH_SCOPE_ADMIN },
    { HTTP_DELETE, "/api/v1/cache", AUTH_SCOPE_ADMIN },
    { HTTP_POST, "/api/v1/cache/config", AUTH_SCOPE_ADMIN },
    /* metrics name prefixes and models: operators only, when not an open route */
    { HTTP_GET | HTTP_HEAD, "/metrics", AUTH_SCOPE_ADMIN },
    /* key management */
    { ANY, "/api/v1/keys", AUTH_SCOPE_ADMIN },
    { ANY, "/api/v1/keys/{}", AUTH_SCOPE_ADMIN },
    /* knowledge bases: creating, changing or dropping a namespace (its settings
     * steer every user's searches and routing) */
    { HTTP_POST, "/api/v1/namespaces", AUTH_SCOPE_ADMIN },
    { HTTP_PUT | HTTP_PATCH | HTTP_DELETE, "/api/v1/namespaces/{}", AUTH_SCOPE_ADMIN },
    /* POSTs that only compute or read */
    { HTTP_POST, "/api/v1/cache/key", AUTH_SCOPE_READ },
    { HTTP_POST, "/api/v1/embeddings/generate", AUTH_SCOPE_READ },
    { HTTP_POST, "/api/v1/search/hybrid", AUTH_SCOPE_READ },
    { HTTP_POST, "/api/v1/rerank", AUTH_SCOPE_READ },
    { HTTP_POST, "/api/v1/rag/query", AUTH_SCOPE_READ },
    { HTTP_POST, "/api/v1/route", AUTH_SCOPE_READ },
    { HTTP_POST, "/v1/embeddings", AUTH_SCOPE_READ },
    { HTTP_POST, "/v1/rerank", AUTH_SCOPE_READ },
    { HTTP_POST, "/v2/rerank", AUTH_SCOPE_READ },
    { HTTP_POST, "/api/v1/semantic-cache/{}/check", AUTH_SCOPE_READ },
    /* the TEI dialect (api_tei.c) */
    { HTTP_POST, "/", AUTH_SCOPE_READ },
    { HTTP_POST, "/embed", AUTH_SCOPE_READ },
    { HTTP_POST, "/rerank", AUTH_SCOPE_READ },
    { HTTP_POST, "/tokenize", AUTH_SCOPE_READ },
};

/* Compare two patterns; a {...} segment in either matches a {...} in the other. */
bool auth__route_eq(const char *a, const char *b)
{
    while (*a && *b) {
        if (*a == '{' && *b == '{') {
            a = strchr(a, '}');
            b = strchr(b, '}');
            if (!a || !b)
                return false;
        } else if (*a != *b) {
            return false;
        }
        a++;
        b++;
    }
    return *a == *b;
}

unsigned auth_required_scope(int method, const char *route)
{
    if (route)
        for (size_t i = 0; i < sizeof scope_rules / sizeof scope_rules[0]; i++)
            if ((scope_rules[i].methods & method) && auth__route_eq(scope_rules[i].route, route))
                return scope_rules[i].scope;
    return (method & (HTTP_GET | HTTP_HEAD | HTTP_OPTIONS)) ? AUTH_SCOPE_READ : AUTH_SCOPE_WRITE;
}

unsigned auth__scopes_close(unsigned s)
{
    if (s & AUTH_SCOPE_ADMIN)
        s |= AUTH_SCOPE_WRITE;
    if (s & AUTH_SCOPE_WRITE)
        s |= AUTH_SCOPE_READ;
    return s;
}

unsigned auth_scope_parse(const char *name)
{
    if (!name)
        return 0;
    if (!strcmp(name, "read"))
        return AUTH_SCOPE_READ;
    if (!strcmp(name, "write"))
        return AUTH_SCOPE_WRITE;
    if (!strcmp(name, "admin"))
        return AUTH_SCOPE_ADMIN;
    return 0;
}

void auth_scopes_json(unsigned scopes, cJSON *arr)
{
    static const char *const names[] = { "read", "write", "admin" };
    for (int i = 0; i < 3; i++)
        if (scopes & (1u << i))
            cJSON_AddItemToArray(arr, cJSON_CreateString(names[i]));
}

bool auth_user_id_valid(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    if (n == 0 || n > AUTH_ID_MAX)
        return false;
    for (; *id; id++) {
        char c = *id;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '@' || c == '+' || c == '|' || c == '-'))
            return false;
    }
    return true;
}
