/*
 * upstream.c - provider list from the settings and the config file, and
 * routing a model name to its provider.
 */
#include "gateway/upstream.h"

#include <stdlib.h>
#include <string.h>

#include "util/json.h"
#include "util/mem.h"

static void ups__init(gw_provider *p, const char *name, const char *url, const char *key,
                      int64_t timeout_ms, const gw_upstream_opts *o)
{
    memset(p, 0, sizeof *p);
    p->name = xstrdup(name);
    p->base_url = xstrdup(url);
    size_t n = strlen(p->base_url);
    while (n && p->base_url[n - 1] == '/')
        p->base_url[--n] = '\0';
    p->api_key = xstrdup(key ? key : "");
    p->timeout_ms = timeout_ms;
    gw_breaker_init(&p->breaker, o->breaker_failures, o->breaker_cooldown_ms);
}

static int ups__one(const cJSON *e, int i, const gw_upstream_opts *o, gw_provider *p,
                    ragd_error *err)
{
    const char *name = json_get_str(e, "name"), *url = json_get_str(e, "base_url");
    const char *key_env = json_get_str(e, "api_key_env");
    const cJSON *models = json_get_arr(e, "models");
    if (!cJSON_IsObject(e) || !name || !*name || !url || !*url || !models)
        return ragd_error_set(err, RAGD_EINVAL, "providers[%d]: needs name, base_url and "
                              "models (api_key_env and timeout_ms are optional)", i);
    int64_t timeout = o->timeout_ms;
    if (json_get_int(e, "timeout_ms", 1, 86400000, &timeout) == RAGD_EINVAL)
        return ragd_error_set(err, RAGD_EINVAL, "providers[%d].timeout_ms: not a positive "
                              "integer", i);
    const cJSON *dims = cJSON_GetObjectItemCaseSensitive(e, "dimensions");
    if (dims && !cJSON_IsObject(dims))
        return ragd_error_set(err, RAGD_EINVAL, "providers[%d].dimensions: must be an object "
                              "{\"model\": n}", i);
    for (const cJSON *d = dims ? dims->child : NULL; d; d = d->next)
        if (!cJSON_IsNumber(d) || d->valuedouble < 1 || d->valuedouble > 65536 ||
            d->valuedouble != (double)(int64_t)d->valuedouble)
            return ragd_error_set(err, RAGD_EINVAL, "providers[%d].dimensions.%s: not an "
                                  "integer in [1, 65536]", i, d->string);
    const char *key = key_env ? getenv(key_env) : NULL;
    ups__init(p, name, url, key, timeout, o);
    p->dims = dims ? cJSON_Duplicate(dims, 1) : NULL;
    p->models = xcalloc((size_t)cJSON_GetArraySize(models) + 1, sizeof *p->models);
    for (const cJSON *m = models->child; m; m = m->next) {
        if (!cJSON_IsString(m) || !*m->valuestring)
            return ragd_error_set(err, RAGD_EINVAL, "providers[%d].models: names must be "
                                  "non-empty strings", i);
        p->models[p->nmodels++] = xstrdup(m->valuestring);
    }
    return RAGD_OK;
}

int gw_upstreams_load(const gw_upstream_opts *o, gw_upstreams *out, ragd_error *err)
{
    memset(out, 0, sizeof *out);
    const cJSON *list = o->providers;
    if (list && !cJSON_IsArray(list))
        return ragd_error_set(err, RAGD_EINVAL, "providers: must be an array");
    int n = list ? cJSON_GetArraySize(list) : 0;
    out->p = xcalloc((size_t)n + 1, sizeof *out->p);
    int i = 0;
    for (const cJSON *e = list ? list->child : NULL; e; e = e->next, i++) {
        int rc = ups__one(e, i, o, &out->p[out->n], err);
        out->n++;
        if (rc) {
            gw_upstreams_free(out);
            return rc;
        }
    }
    if (o->default_url && *o->default_url) {
        gw_provider *p = &out->p[out->n++];
        ups__init(p, "default", o->default_url, o->default_api_key, o->timeout_ms, o);
        p->all_models = true;
    }
    return RAGD_OK;
}

void gw_upstreams_free(gw_upstreams *u)
{
    for (int i = 0; i < u->n; i++) {
        gw_provider *p = &u->p[i];
        free(p->name);
        free(p->base_url);
        free(p->api_key);
        for (int j = 0; j < p->nmodels; j++)
            free(p->models[j]);
        free(p->models);
        cJSON_Delete(p->dims);
        if (p->name || p->base_url)
            gw_breaker_deinit(&p->breaker);
    }
    free(u->p);
    memset(u, 0, sizeof *u);
}

static bool ups__matches(const char *pattern, const char *model)
{
    size_t n = strlen(pattern);
    if (n && pattern[n - 1] == '*')
        return strncmp(pattern, model, n - 1) == 0;
    return strcmp(pattern, model) == 0;
}

gw_provider *gw_upstreams_route(const gw_upstreams *u, const char *model)
{
    for (int i = 0; i < u->n; i++) {
        gw_provider *p = &u->p[i];
        if (p->all_models)
            return p;
        for (int j = 0; j < p->nmodels; j++)
            if (ups__matches(p->models[j], model))
                return p;
    }
    return NULL;
}
