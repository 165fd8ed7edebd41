/*
 * models.c - GET /v1/models: the models ragd serves itself (embedding,
 * re-ranker), the models the configured providers list, plus
 * what the default upstream (which serves any model) says it has, fetched on
 * the client thread so no worker waits. If the upstream cannot be asked, the
 * configured list is the answer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gateway_int.h"
#include "util/json.h"
#include "util/mem.h"

typedef struct models_job {
    http_stream *st;
    cJSON *list;          /* {"object":"list","data":[...]} */
    buf_t raw;
    int status;
} models_job;

static void models__add(cJSON *data, const char *id, const char *owner)
{
    for (const cJSON *m = data->child; m; m = m->next) {
        const char *have = json_get_str(m, "id");
        if (have && strcmp(have, id) == 0)
            return;
    }
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "id", id);
    cJSON_AddStringToObject(m, "object", "model");
    cJSON_AddNumberToObject(m, "created", 0);
    cJSON_AddStringToObject(m, "owned_by", owner);
    cJSON_AddItemToArray(data, m);
}

static void models__reply(models_job *j)
{
    buf_t b = BUF_INIT;
    json_write(j->list, &b);
    size_t len;
    char *body = buf_detach(&b, &len);
    http_stream_reply(j->st, 200, "application/json", body, len);
    http_stream_release(j->st);
    cJSON_Delete(j->list);
    buf_free(&j->raw);
    free(j);
}

static void models__head(void *ud, int status, const char *ctype, int64_t ra)
{
    ((models_job *)ud)->status = status;
}

static void models__data(void *ud, const char *d, size_t n)
{
    models_job *j = ud;
    if (j->raw.len + n < (8u << 20))
        buf_append(&j->raw, d, n);
}

static void models__done(void *ud, int rc, const char *msg)
{
    models_job *j = ud;
    cJSON *up = rc == 0 && j->status == 200 && j->raw.data
                    ? cJSON_ParseWithLength(j->raw.data, j->raw.len) : NULL;
    const cJSON *arr = up ? json_get_arr(up, "data") : NULL;
    cJSON *data = cJSON_GetObjectItemCaseSensitive(j->list, "data");
    for (const cJSON *m = arr ? arr->child : NULL; m; m = m->next) {
        const char *id = json_get_str(m, "id");
        const char *owner = json_get_str(m, "owned_by");
        if (id)
            models__add(data, id, owner ? owner : "default");
    }
    cJSON_Delete(up);
    models__reply(j);
}

void gateway_models(gateway_t *gw, const char *const *local, size_t nlocal, http_req *req,
                    http_resp *resp)
{
    models_job *j = xcalloc(1, sizeof *j);
    j->list = cJSON_CreateObject();
    cJSON_AddStringToObject(j->list, "object", "list");
    cJSON *data = cJSON_AddArrayToObject(j->list, "data");
    for (size_t i = 0; i < nlocal; i++)
        models__add(data, local[i], "ragd");
    gw_provider *dflt = NULL;
    for (int i = 0; i < gw->ups.n; i++) {
        gw_provider *p = &gw->ups.p[i];
        if (p->all_models)
            dflt = p;
        for (int k = 0; k < p->nmodels; k++)
            models__add(data, p->models[k], p->name);
    }
    j->st = http_stream_open(resp);
    if (!dflt) {
        models__reply(j);
        return;
    }
    char url[1100];
    snprintf(url, sizeof url, "%s/models", dflt->base_url);
    gw_call_cbs cbs = { j, models__head, models__data, models__done };
    gw_client_call(gw->client, url, dflt->api_key, NULL, 0, 10000, http_trace_current(), &cbs);
}
