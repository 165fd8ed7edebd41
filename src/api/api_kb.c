/*
 * api_kb.c - knowledge-base routes: namespaces (list, create, get with
 * stats - per-caller counts for user keys -, update routing settings, delete)
 * and documents (batch upsert - text, or chunks and vectors of the caller's -,
 * list, get, delete, delete by filter). Thin:
 * JSON in and out around kb/kb.h, plus who may see and write which document.
 */
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/api_int.h"
#include "auth/auth.h"
#include "kb/kb.h"
#include "kb/user_content.h"
#include "util/arena.h"
#include "util/clock.h"
#include "util/json.h"
#include "util/mem.h"

static void kb_api__err(const http_req *req, http_resp *resp, int rc, const ragd_error *err,
                        const char *ns)
{
    if (rc == RAGD_ENOTFOUND && ns && !kb_ns_exists(api_app(req)->kb, ns))
        http_error(req, resp, 404, "namespace_not_found", "namespace '%s' does not exist", ns);
    else if (rc == RAGD_EUNAVAIL && err && strstr(err->msg, "provider"))
        http_error(req, resp, 503, "upstream_unavailable", "%s", err->msg);
    else if (rc == RAGD_EUNAVAIL && err && strstr(err->msg, "model"))
        http_error(req, resp, 503, "model_unavailable", "%s", err->msg);
    else if (rc == RAGD_EEXISTS)
        http_error(req, resp, 409, "namespace_exists", "%s", err ? err->msg : "already exists");
    else
        api_error_rc(req, resp, rc, "%s", err && err->msg[0] ? err->msg : ragd_strerror(rc));
}

/* May caller id see (or, with own_only, delete) a document owned by owner
 * (NULL = shared)? A user-bound caller sees shared documents and its own, and
 * deletes only its own; a tenant its users'; service keys see everything.
 * Others' documents read as missing. */
static bool kb_api__owner_visible(const auth_identity *id, const char *owner, bool own_only)
{
    if (!id || !(id->user_id[0] || id->tenant[0]))
        return true;
    if (!owner)
        return !own_only;
    const char *me = id->user_id;
    size_t tl = strlen(id->tenant);
    if (!me[0]) /* a tenant sees its users' documents */
        return strncmp(owner, id->tenant, tl) == 0 && owner[tl] == '/';
    return strcmp(owner, me) == 0;
}

static bool kb_api__visible(const http_req *req, const cJSON *doc, bool own_only)
{
    return kb_api__owner_visible(auth_identity_of(req), json_get_str(doc, "user_id"), own_only);
}

static bool kb_api__sees_owner(const void *id, const char *owner)
{
    return kb_api__owner_visible(id, owner, false);
}

static bool kb_api__may_delete(const void *id, const char *owner)
{
    return kb_api__owner_visible(id, owner, true);
}

/* Does the caller see every document (auth off, service or admin keys)? */
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

/* The namespace as the caller may see it: a user-bound or tenant caller gets
 * counts over the documents it can see (shared ones and its own); index and
 * memory sizes mix everyone's documents, so they are left out of its view. */
static cJSON *kb_api__info_for(const http_req *req, const kb_ns_info *in)
{
    cJSON *o = kb_api__info_json(in);
    if (api_sees_all(req))
        return o;
    uint64_t docs = 0, chunks = 0, bytes = 0;
    kb_ns_count_visible(api_app(req)->kb, in->name, kb_api__sees_owner, auth_identity_of(req),
                        &docs, &chunks, &bytes);
    cJSON_DeleteItemFromObjectCaseSensitive(o, "stats");
    cJSON *st = cJSON_AddObjectToObject(o, "stats");
    cJSON_AddStringToObject(st, "scope", "user");
    cJSON_AddNumberToObject(st, "documents", (double)docs);
    cJSON_AddNumberToObject(st, "chunks", (double)chunks);
    cJSON_AddNumberToObject(st, "text_bytes", (double)bytes);
    cJSON_AddNumberToObject(st, "dimension", in->dim);
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
        cJSON_AddItemToArray(arr, kb_api__info_for(req, &in));
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
    if (rc == RAGD_ENOTFOUND) { /* the resolver's: nobody serves the model */
        http_error(req, resp, 400, "model_not_found", "%s", err.msg);
    } else if (rc) {
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
    cJSON *o = kb_api__info_for(req, &in);
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
    cJSON_AddNumberToObject(o, "deleted", 1);
    cJSON_AddNumberToObject(o, "documents", (double)docs);
    api_reply_json(resp, 200, o);
    cJSON_Delete(o);
}

/* A document made of chunks [{text, vector?}]: its text is theirs joined by
 * a blank line, each chunk's span pointing into it (arena memory). */
static bool kb_api__chunks(const http_req *req, http_resp *resp, const cJSON *arr, size_t i,
                           kb_doc_in *d, kb_doc_vec *dv)
{
    size_t n = cJSON_IsArray(arr) ? (size_t)cJSON_GetArraySize(arr) : 0, len = 0, c = 0;
    if (!n || n > 4096) {
        http_error(req, resp, 400, "invalid_request", "documents[%zu].chunks must be a non-empty "
                   "array of at most 4096 objects", i);
        return false;
    }
    for (const cJSON *e = arr->child; e; e = e->next) {
        const char *t = json_get_str(e, "text");
        if (!t || !*t) {
            http_error(req, resp, 400, "invalid_request", "documents[%zu].chunks[]: each needs a "
                       "non-empty 'text'", i);
            return false;
        }
        len += strlen(t) + 2;
    }
    char *text = arena_alloc(req->arena, len + 1);
    kb_chunk_in *ch = arena_alloc(req->arena, n * sizeof *ch);
    size_t at = 0;
    char what[96];
    for (const cJSON *e = arr->child; e; e = e->next, c++) {
        const char *t = json_get_str(e, "text");
        size_t tl = strlen(t), vn = 0;
        if (c) {
            memcpy(text + at, "\n\n", 2);
            at += 2;
        }
        memcpy(text + at, t, tl);
        ch[c] = (kb_chunk_in){ (uint32_t)at, (uint32_t)(at + tl), NULL };
        at += tl;
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(e, "vector");
        snprintf(what, sizeof what, "documents[%zu].chunks[%zu].vector", i, c);
        float *cv = NULL;
        if (v && !cJSON_IsNull(v) && !api_get_vector(req, resp, v, what, &cv, &vn))
            return false;
        ch[c].vector = cv;
        if (vn && dv->dim && vn != dv->dim) {
            http_error(req, resp, 400, "dimension_mismatch", "%s has %zu dimensions, the one "
                       "before %zu", what, vn, dv->dim);
            return false;
        }
        dv->dim = vn ? vn : dv->dim;
    }
    text[at] = '\0';
    d->text = text;
    d->len = at;
    dv->chunks = ch;
    dv->n_chunks = n;
    return true;
}

/* The expiry of document i from its "ttl" (seconds from now) or "expires_at"
 * (unix seconds), at most one of them; 0 = never. False with resp filled
 * (400 invalid_ttl). */
static bool kb_api__expiry(const http_req *req, http_resp *resp, const cJSON *it, size_t i,
                           int64_t *out)
{
    int64_t ttl = 0, at = 0;
    ragd_error err = { 0 };
    int t = json_get_count(it, "ttl", 0, UC_TTL_MAX, &ttl, &err);
    int a = t == RAGD_EINVAL ? 0 : json_get_count(it, "expires_at", 0, KB_EXPIRES_MAX, &at, &err);
    if (t == RAGD_EINVAL || a == RAGD_EINVAL) {
        http_error(req, resp, 400, "invalid_ttl", "documents[%zu]: %s (%s, 0 = never)", i,
                   err.msg, t == RAGD_EINVAL ? "seconds from now" : "unix seconds");
        return false;
    }
    if (t == 0 && a == 0) {
        http_error(req, resp, 400, "invalid_ttl", "documents[%zu]: give 'ttl' or "
                   "'expires_at', not both", i);
        return false;
    }
    *out = t == 0 ? uc_ttl_expiry(ttl) : a == 0 ? at : 0;
    return true;
}

/* Fill d from one element of "documents": {id, text, metadata?, user_id?,
 * ttl? | expires_at?, vector?} or {id, chunks: [{text, vector?}], ...}. */
static bool kb_api__doc(const http_req *req, http_resp *resp, const cJSON *it, size_t i,
                        kb_doc_in *d, kb_doc_vec *dv)
{
    if (!cJSON_IsObject(it)) {
        http_error(req, resp, 400, "invalid_request", "documents[%zu] must be an object", i);
        return false;
    }
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(it, "id");
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(it, "text");
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(it, "metadata");
    const cJSON *user = cJSON_GetObjectItemCaseSensitive(it, "user_id");
    const cJSON *vec = cJSON_GetObjectItemCaseSensitive(it, "vector");
    const cJSON *chunks = cJSON_GetObjectItemCaseSensitive(it, "chunks");
    if (!cJSON_IsString(id)) {
        http_error(req, resp, 400, "invalid_request", "documents[%zu].id is required (a string)", i);
        return false;
    }
    if (chunks && (text || vec)) {
        http_error(req, resp, 400, "invalid_request", "documents[%zu]: 'chunks' replaces 'text' "
                   "and 'vector'", i);
        return false;
    }
    if (!chunks && !cJSON_IsString(text)) {
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
    /* user_id as named; the caller resolves the owner (auth_effective_user) */
    *d = (kb_doc_in){ .id = id->valuestring, .metadata = cJSON_IsObject(md) ? md : NULL,
                      .user_id = cJSON_IsString(user) ? user->valuestring : NULL };
    if (!kb_api__expiry(req, resp, it, i, &d->expires_at))
        return false;
    if (chunks)
        return kb_api__chunks(req, resp, chunks, i, d, dv);
    d->text = text->valuestring;
    d->len = strlen(text->valuestring);
    char what[64];
    snprintf(what, sizeof what, "documents[%zu].vector", i);
    float *v = NULL;
    if (vec && !cJSON_IsNull(vec) && !api_get_vector(req, resp, vec, what, &v, &dv->dim))
        return false;
    dv->vector = v;
    return true;
}

/* Vectors of the namespace's dimension (400 dimension_mismatch otherwise). */
static bool kb_api__dims(const http_req *req, http_resp *resp, const char *ns,
                         const kb_doc_vec *in, size_t n)
{
    kb_ns_info info;
    if (kb_ns_get_info(api_app(req)->kb, ns, &info))
        return true; /* dropped meanwhile: the upsert says so */
    uint32_t want = info.settings.dim;
    kb_ns_info_clear(&info);
    for (size_t i = 0; i < n; i++)
        if (in[i].dim && in[i].dim != want) {
            http_error(req, resp, 400, "dimension_mismatch", "documents[%zu]: the vector has %zu "
                       "dimensions; namespace '%s' takes %u%s", i, in[i].dim, ns, want,
                       want ? "" : " (it holds no vectors)");
            return false;
        }
    return true;
}

/* The per-user budget of word pieces embedded per minute (kb_user_tokens_per_minute),
 * charged once the documents are chunked (api_budget.c). */
typedef struct kb_api_budget {
    http_req *req;
    http_resp *resp;
    bool refused;  /* resp holds the answer */
} kb_api_budget;

static int kb_api__user_budget(void *ud, size_t chunks, size_t tokens)
{
    kb_api_budget *b = ud;
    app_t *app = api_app(b->req);
    api_budget v;
    (void)chunks;
    api_budget_check(b->req, "kbtok", app->cfg.kb_user_tokens_per_minute,
                     "kb_user_tokens_per_minute", tokens, &v);
    if (v.status == 0)
        return 0;
    b->refused = true;
    api_budget_answer(b->req, b->resp, &v);
    return RAGD_ETOOBIG;
}

/* Accept the documents as a background job: 202 with the job and its Location. */
static void kb_api__submit_job(http_req *req, http_resp *resp, const char *ns,
                               const kb_doc_in *in, size_t n)
{
    jobs_owner owner;
    jobs_api_owner(req, &owner);
    ragd_error err = { 0 };
    cJSON *job = NULL;
    int rc = jobs_submit(api_app(req)->jobs, ns, in, n, &owner, &job, &err);
    if (rc) {
        kb_api__err(req, resp, rc, &err, ns);
        return;
    }
    http_resp_header(resp, "Location", json_get_str(job, "location"));
    api_reply_json(resp, 202, job);
    cJSON_Delete(job);
}

/* Run synchronously? "wait" (a boolean) decides; without it, batches of more
 * than kb_async_threshold documents become jobs. False with resp filled. */
static bool kb_api__wait(const http_req *req, http_resp *resp, const cJSON *body, size_t n,
                         bool *wait)
{
    *wait = n <= (size_t)api_app(req)->cfg.kb_async_threshold;
    if (json_get_bool(body, "wait", wait) == RAGD_EINVAL) {
        http_error(req, resp, 400, "invalid_request", "'wait' must be a boolean");
        return false;
    }
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
    bool wait;
    if (!kb_api__wait(req, resp, body, n, &wait)) {
        cJSON_Delete(body);
        return;
    }
    kb_doc_in *in = xcalloc(n, sizeof *in);
    kb_doc_vec *vin = arena_alloc(req->arena, n * sizeof *vin);
    memset(vin, 0, n * sizeof *vin);
    char **owners = xcalloc(n, sizeof *owners);
    size_t i = 0;
    bool ok = true;
    for (const cJSON *it = docs->child; it && ok; it = it->next, i++) {
        const char *user = NULL; /* a user-bound caller owns what it writes */
        ok = kb_api__doc(req, resp, it, i, &in[i], &vin[i]) &&
             auth_effective_user(req, in[i].user_id, &user, resp);
        if (ok && user) /* the identity's buffer is reused by the next call: copy */
            in[i].user_id = owners[i] = xstrdup(user);
        else if (ok)
            in[i].user_id = NULL;
    }
    if (ok && !wait) {
        kb_api__submit_job(req, resp, ns, in, n);
    } else if (ok && kb_api__dims(req, resp, ns, vin, n)) {
        ragd_error err = { 0 };
        kb_upsert_stats st;
        int64_t t0 = clock_mono_us();
        kb_api_budget budget = { req, resp, false };
        embed_work who = api_embed_work(req); /* bulk work under the caller, as its jobs */
        kb_admit admit = { (size_t)app->cfg.kb_max_request_chunks,
                           (size_t)app->cfg.kb_max_request_tokens, kb_api__user_budget,
                           &budget, who.tenant[0] ? who.tenant : NULL /* the namespace */ };
        int rc = kb_docs_upsert_vec(app->kb, ns, in, vin, n, &admit, &st, &err);
        if (rc == RAGD_ENOTFOUND && kb_ns_exists(app->kb, ns)) { /* another owner's id */
            http_error(req, resp, 404, "document_not_found", "%s", err.msg);
        } else if (rc) {
            if (!budget.refused)  /* else the budget filled resp */
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
    for (size_t k = 0; k < n; k++)
        free(owners[k]);
    free(owners);
    free(in);
    cJSON_Delete(body);
}

/* GET .../documents?offset=&limit=&with_chunks=: a page of the documents the
 * caller may see (a user-bound caller: its own and shared ones). */
static void kb_api_docs_list(http_req *req, http_resp *resp)
{
    const char *ns = http_req_param(req, "ns");
    int64_t off = 0, lim = 100;
    if (!api_query_count(req, resp, "offset", 0, JSON_INT_LIMIT, &off) ||
        !api_query_count(req, resp, "limit", 1, 10000, &lim))
        return;
    bool all = api_sees_all(req);
    char **ids;
    size_t n;
    uint64_t total;
    /* A restricted caller's page is cut from its visible documents, so the
     * whole list is read and filtered first. */
    if (kb_doc_list(api_app(req)->kb, ns, all ? (size_t)off : 0, all ? (size_t)lim : SIZE_MAX,
                    &ids, &n, &total)) {
        kb_api__err(req, resp, RAGD_ENOTFOUND, NULL, ns);
        return;
    }
    const char *full = http_req_query(req, "with_chunks");
    bool with_docs = full && (!strcmp(full, "true") || !strcmp(full, "1"));
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(o, "ids");
    cJSON *docs = with_docs ? cJSON_AddArrayToObject(o, "documents") : NULL;
    uint64_t seen = 0;
    for (size_t i = 0; i < n; i++) {
        cJSON *d = NULL;
        if (!all || docs) {
            if (kb_doc_get(api_app(req)->kb, ns, ids[i], with_docs, &d) != 0)
                continue;
            if (!all && !kb_api__visible(req, d, false)) {
                cJSON_Delete(d);
                continue;
            }
            if (!all && (seen++ < (uint64_t)off || seen > (uint64_t)(off + lim))) {
                cJSON_Delete(d);
                continue;
            }
        }
        cJSON_AddItemToArray(arr, cJSON_CreateString(ids[i]));
        if (docs)
            cJSON_AddItemToArray(docs, d);
        else
            cJSON_Delete(d);
    }
    cJSON_AddNumberToObject(o, "total", (double)(all ? total : seen));
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
    if (rc == 0 && !kb_api__visible(req, o, false)) {
        cJSON_Delete(o);
        rc = RAGD_ENOTFOUND;
    }
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
    /* the owner rule is checked on the stored record, with the delete */
    int rc = kb_doc_delete_as(api_app(req)->kb, ns, id,
                              api_sees_all(req) ? NULL : kb_api__may_delete,
                              auth_identity_of(req));
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
    cJSON_AddNumberToObject(o, "deleted", 1);
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
    const char *owner = NULL; /* a user-bound caller only deletes its own documents */
    if (!rc && !auth_effective_user(req, user ? user->valuestring : NULL, &owner, resp)) {
        kb_filter_destroy(f);
        cJSON_Delete(body);
        return;
    }
    uint64_t deleted = 0;
    if (!rc)
        rc = kb_docs_delete_where(api_app(req)->kb, ns, f, owner, &deleted);
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
