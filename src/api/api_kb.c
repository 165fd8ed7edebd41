/*
 * api_kb.c - knowledge-base routes: namespaces (list, create, get with
 * stats, update routing settings, delete) and documents (batch upsert, list,
 * get, delete, delete by filter). Thin: JSON in and out around rag/kb.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "rag/kb.h"
#include "util/clock.h"
#include "util/json.h"
#include "util/mem.h"

static void kb_api__err(const http_req *req, http_resp *resp, int rc, const ragd_error *err,
                        const char *ns)
{
    if (rc == RAGD_ENOTFOUND && ns && !kb_ns_exists(api_app(req)->kb, ns))
        http_error(req, resp, 404, "namespace_not_found", "namespace '%s' does not exist", ns);
    else if (rc == RAGD_EUNAVAIL && err && strstr(err->msg, "model"))
        http_error(req, resp, 503, "model_unavailable", "%s", err->msg);
    else if (rc == RAGD_EEXISTS)
        http_error(req, resp, 409, "namespace_exists", "%s", err ? err->msg : "already exists");
    else
        api_error_rc(req, resp, rc, "%s", err && err->msg[0] ? err->msg : ragd_strerror(rc));
}

static cJSON *kb_api__info_json(const kb_ns_info *in)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", in->name);
    cJSON_AddNumberToObject(o, "created_at", (double)in->created_ms);
    cJSON_AddItemToObject(o, "settings", kb_ns_settings_to_json(&in->settings));
    cJSON *st = cJSON_AddObjectToObject(o, "stats");
    cJSON_AddNumberToObject(st, "documents", (double)in->documents);
    cJSON_AddNumberToObject(st, "chunks", (double)in->chunks);
    cJSON_AddNumberToObject(st, "text_bytes", (double)in->text_bytes);
    cJSON_AddNumberToObject(st, "dimension", in->dim);
    cJSON *b = cJSON_AddObjectToObject(st, "bm25");
    cJSON_AddNumberToObject(b, "terms", (double)in->bm25_terms);
    cJSON_AddNumberToObject(b, "postings", (double)in->bm25_postings);
    cJSON_AddNumberToObject(b, "memory_bytes", (double)in->bm25_bytes);
    cJSON *h = cJSON_AddObjectToObject(st, "hnsw");
    cJSON_AddNumberToObject(h, "vectors", (double)in->hnsw_vectors);
    cJSON_AddNumberToObject(h, "deleted", (double)in->hnsw_deleted);
    cJSON_AddNumberToObject(h, "memory_bytes", (double)in->hnsw_bytes);
    cJSON_AddNumberToObject(st, "memory_bytes",
                            (double)(in->bm25_bytes + in->hnsw_bytes + in->text_bytes));
    return o;
}

static void kb_api_ns_list(http_req *req, http_resp *resp)
{
    kb_t *kb = api_app(req)->kb;
    char **names;
    size_t n;
    kb_ns_list(kb, &names, &n);
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(o, "namespaces");
    for (size_t i = 0; i < n; i++) {
        kb_ns_info in;
        if (kb_ns_get_info(kb, names[i], &in))
            continue;
        cJSON_AddItemToArray(arr, kb_api__info_json(&in));
        kb_ns_info_clear(&in);
    }
    cJSON_AddNumberToObject(o, "count", cJSON_GetArraySize(arr));
    kb_names_free(names, n);
    api_reply_json(resp, 200, o);
    cJSON_Delete(o);
}

static void kb_api_ns_create(http_req *req, http_resp *resp)
{
    kb_t *kb = api_app(req)->kb;
    cJSON *body;
    if (!api_parse_object(req, resp, &body))
        return;
    ragd_error err = { 0 };
    const char *nm = json_get_str(body, "name");
    char name[KB_NS_NAME_MAX + 1] = "";
    if (nm && strlen(nm) <= KB_NS_NAME_MAX)
        snprintf(name, sizeof name, "%s", nm);
    kb_ns_settings st;
    kb_ns_settings_default(kb, &st);
    int rc = RAGD_OK;
    if (!kb_ns_name_ok(name)) {
        rc = ragd_error_set(&err, RAGD_EINVAL, "'name' is required: 1-%d characters of "
                            "A-Z a-z 0-9 _ - .", KB_NS_NAME_MAX);
    } else {
        cJSON *settings = cJSON_DetachItemFromObjectCaseSensitive(body, "settings");
        cJSON_DeleteItemFromObjectCaseSensitive(body, "name");
        rc = kb_ns_settings_apply_json(kb, body, &st, &err);
        if (!rc && settings)
            rc = kb_ns_settings_apply_json(kb, settings, &st, &err);
        cJSON_Delete(settings);
        if (!rc)
            rc = kb_ns_create(kb, name, &st, &err);
    }
    kb_ns_settings_clear(&st);
    kb_ns_info in;
    if (rc) {
        kb_api__err(req, resp, rc, &err, NULL);
    } else if (kb_ns_get_info(kb, name, &in) == 0) {
        cJSON *o = kb_api__info_json(&in);
        api_reply_json(resp, 201, o);
        cJSON_Delete(o);
        kb_ns_info_clear(&in);
    }
    cJSON_Delete(body);
}

static void kb_api_ns_get(http_req *req, http_resp *resp)
{
    const char *ns = http_req_param(req, "ns");
    kb_ns_info in;
    if (kb_ns_get_info(api_app(req)->kb, ns, &in)) {
        kb_api__err(req, resp, RAGD_ENOTFOUND, NULL, ns);
        return;
    }
    cJSON *o = kb_api__info_json(&in);
    api_reply_json(resp, 200, o);
    cJSON_Delete(o);
    kb_ns_info_clear(&in);
}

static void kb_api_ns_update(http_req *req, http_resp *resp)
{
    kb_t *kb = api_app(req)->kb;
    const char *ns = http_req_param(req, "ns");
    kb_ns_info in;
    if (kb_ns_get_info(kb, ns, &in)) {
        kb_api__err(req, resp, RAGD_ENOTFOUND, NULL, ns);
        return;
    }
    cJSON *body;
    if (!api_parse_object(req, resp, &body)) {
        kb_ns_info_clear(&in);
        return;
    }
    ragd_error err = { 0 };
    cJSON *settings = cJSON_DetachItemFromObjectCaseSensitive(body, "settings");
    int rc = kb_ns_settings_apply_json(kb, settings ? settings : body, &in.settings, &err);
    if (!rc)
        rc = kb_ns_update(kb, ns, &in.settings, &err);
    kb_ns_info_clear(&in);
    cJSON_Delete(settings);
    cJSON_Delete(body);
    if (rc) {
        kb_api__err(req, resp, rc, &err, ns);
        return;
    }
    kb_api_ns_get(req, resp);
}

static void kb_api_ns_delete(http_req *req, http_resp *resp)
{
    const char *ns = http_req_param(req, "ns");
    uint64_t docs = 0;
    int rc = kb_ns_drop(api_app(req)->kb, ns, &docs);
    if (rc) {
        kb_api__err(req, resp, rc, NULL, ns);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", ns);
    cJSON_AddBoolToObject(o, "deleted", true);
    cJSON_AddNumberToObject(o, "documents", (double)docs);
    api_reply_json(resp, 200, o);
    cJSON_Delete(o);
}

/* Fill d from one element of "documents". */
static bool kb_api__doc(const http_req *req, http_resp *resp, const cJSON *it, size_t i,
                        kb_doc_in *d)
{
    if (!cJSON_IsObject(it)) {
        http_error(req, resp, 400, "invalid_request", "documents[%zu] must be an object", i);
        return false;
    }
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(it, "id");
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(it, "text");
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(it, "metadata");
    const cJSON *user = cJSON_GetObjectItemCaseSensitive(it, "user_id");
    if (!cJSON_IsString(id)) {
        http_error(req, resp, 400, "invalid_request", "documents[%zu].id is required (a string)", i);
        return false;
    }
    if (!cJSON_IsString(text)) {
        http_error(req, resp, 400, "invalid_request", "documents[%zu].text is required (a string)",
                   i);
        return false;
    }
    if (md && !cJSON_IsNull(md) && !cJSON_IsObject(md)) {
        http_error(req, resp, 400, "invalid_request", "documents[%zu].metadata must be an object", i);
        return false;
    }
    if (user && !cJSON_IsNull(user) && !cJSON_IsString(user)) {
        http_error(req, resp, 400, "invalid_request", "documents[%zu].user_id must be a string", i);
        return false;
    }
    *d = (kb_doc_in){ id->valuestring, text->valuestring, strlen(text->valuestring),
                      cJSON_IsObject(md) ? md : NULL,
                      cJSON_IsString(user) ? user->valuestring : NULL };
    return true;
}

static void kb_api_docs_upsert(http_req *req, http_resp *resp)
{
    app_t *app = api_app(req);
    const char *ns = http_req_param(req, "ns");
    if (!kb_ns_exists(app->kb, ns)) {
        kb_api__err(req, resp, RAGD_ENOTFOUND, NULL, ns);
        return;
    }
    cJSON *body;
    if (!api_parse_object(req, resp, &body))
        return;
    const cJSON *docs = json_get_arr(body, "documents");
    size_t n = docs ? (size_t)cJSON_GetArraySize(docs) : 0;
    if (!n) {
        http_error(req, resp, 400, "invalid_request", "'documents' must be a non-empty array");
        cJSON_Delete(body);
        return;
    }
    kb_doc_in *in = xcalloc(n, sizeof *in);
    size_t i = 0;
    bool ok = true;
    for (const cJSON *it = docs->child; it && ok; it = it->next, i++)
        ok = kb_api__doc(req, resp, it, i, &in[i]);
    if (ok) {
        ragd_error err = { 0 };
        kb_upsert_stats st;
        int64_t t0 = clock_mono_us();
        int rc = kb_docs_upsert(app->kb, ns, in, n, &st, &err);
        if (rc) {
            kb_api__err(req, resp, rc, &err, ns);
        } else {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "namespace", ns);
            cJSON_AddNumberToObject(o, "upserted", (double)st.documents);
            cJSON_AddNumberToObject(o, "replaced", (double)st.replaced);
            cJSON_AddNumberToObject(o, "chunks", (double)st.chunks);
            cJSON_AddNumberToObject(o, "processing_time_ms",
                                    (double)(clock_mono_us() - t0) / 1000.0);
            api_reply_json(resp, 200, o);
            cJSON_Delete(o);
        }
    }
    free(in);
    cJSON_Delete(body);
}

static void kb_api_docs_list(http_req *req, http_resp *resp)
{
    const char *ns = http_req_param(req, "ns");
    const char *qo = http_req_query(req, "offset"), *ql = http_req_query(req, "limit");
    long off = qo ? strtol(qo, NULL, 10) : 0, lim = ql ? strtol(ql, NULL, 10) : 100;
    if (off < 0 || lim < 1 || lim > 10000) {
        http_error(req, resp, 400, "invalid_request", "offset >= 0 and 1 <= limit <= 10000");
        return;
    }
    char **ids;
    size_t n;
    uint64_t total;
    if (kb_doc_list(api_app(req)->kb, ns, (size_t)off, (size_t)lim, &ids, &n, &total)) {
        kb_api__err(req, resp, RAGD_ENOTFOUND, NULL, ns);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(o, "ids");
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(arr, cJSON_CreateString(ids[i]));
    cJSON_AddNumberToObject(o, "total", (double)total);
    cJSON_AddNumberToObject(o, "offset", (double)off);
    kb_names_free(ids, n);
    api_reply_json(resp, 200, o);
    cJSON_Delete(o);
}

static void kb_api_doc_get(http_req *req, http_resp *resp)
{
    const char *ns = http_req_param(req, "ns"), *id = http_req_param(req, "id");
    cJSON *o = NULL;
    int rc = kb_doc_get(api_app(req)->kb, ns, id, true, &o);
    if (rc == RAGD_ENOTFOUND && kb_ns_exists(api_app(req)->kb, ns)) {
        http_error(req, resp, 404, "document_not_found", "document '%s' is not in '%s'", id, ns);
        return;
    }
    if (rc) {
        kb_api__err(req, resp, rc, NULL, ns);
        return;
    }
    cJSON_AddStringToObject(o, "namespace", ns);
    api_reply_json(resp, 200, o);
    cJSON_Delete(o);
}

static void kb_api_doc_delete(http_req *req, http_resp *resp)
{
    const char *ns = http_req_param(req, "ns"), *id = http_req_param(req, "id");
    int rc = kb_doc_delete(api_app(req)->kb, ns, id);
    if (rc == RAGD_ENOTFOUND && kb_ns_exists(api_app(req)->kb, ns)) {
        http_error(req, resp, 404, "document_not_found", "document '%s' is not in '%s'", id, ns);
        return;
    }
    if (rc) {
        kb_api__err(req, resp, rc, NULL, ns);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", id);
    cJSON_AddBoolToObject(o, "deleted", true);
    api_reply_json(resp, 200, o);
    cJSON_Delete(o);
}

static void kb_api_docs_delete_where(http_req *req, http_resp *resp)
{
    const char *ns = http_req_param(req, "ns");
    cJSON *body;
    if (!api_parse_object(req, resp, &body))
        return;
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(body, "filter");
    const cJSON *user = cJSON_GetObjectItemCaseSensitive(body, "user_id");
    ragd_error err = { 0 };
    kb_filter *f = NULL;
    int rc = RAGD_OK;
    if (!spec && !user)
        rc = ragd_error_set(&err, RAGD_EINVAL, "give a 'filter' (use {} to delete every document) "
                            "and/or a 'user_id'");
    else if (user && !cJSON_IsString(user))
        rc = ragd_error_set(&err, RAGD_EINVAL, "'user_id' must be a string");
    else
        rc = kb_filter_compile(spec, &f, &err);
    uint64_t deleted = 0;
    if (!rc)
        rc = kb_docs_delete_where(api_app(req)->kb, ns, f, user ? user->valuestring : NULL,
                                  &deleted);
    if (rc) {
        kb_api__err(req, resp, rc, &err, ns);
    } else {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "deleted", (double)deleted);
        api_reply_json(resp, 200, o);
        cJSON_Delete(o);
    }
    kb_filter_destroy(f);
    cJSON_Delete(body);
}

void api_kb_register(router_t *r)
{
    router_add(r, HTTP_GET | HTTP_HEAD, "/api/v1/namespaces", kb_api_ns_list);
    router_add(r, HTTP_POST, "/api/v1/namespaces", kb_api_ns_create);
    router_add(r, HTTP_GET | HTTP_HEAD, "/api/v1/namespaces/{ns}", kb_api_ns_get);
    router_add(r, HTTP_PATCH | HTTP_PUT, "/api/v1/namespaces/{ns}", kb_api_ns_update);
    router_add(r, HTTP_DELETE, "/api/v1/namespaces/{ns}", kb_api_ns_delete);
    router_add(r, HTTP_POST, "/api/v1/namespaces/{ns}/documents", kb_api_docs_upsert);
    router_add(r, HTTP_GET | HTTP_HEAD, "/api/v1/namespaces/{ns}/documents", kb_api_docs_list);
    router_add(r, HTTP_POST, "/api/v1/namespaces/{ns}/documents/delete", kb_api_docs_delete_where);
    router_add(r, HTTP_GET | HTTP_HEAD, "/api/v1/namespaces/{ns}/documents/{id*}", kb_api_doc_get);
    router_add(r, HTTP_DELETE, "/api/v1/namespaces/{ns}/documents/{id*}", kb_api_doc_delete);
}
