/*
 * api_jobs.c - ingestion job routes: GET /api/v1/jobs (filter by namespace
 * and status), GET /api/v1/jobs/{id}, DELETE /api/v1/jobs/{id} (cancel), and
 * who may see a job: the caller that submitted it (a user key its own, a
 * tenant key its users'), service and admin keys every job. Others' jobs
 * answer 404, as missing ones do. Jobs are created by a document upsert with
 * "wait": false (api_kb.c).
 */
#include <string.h>

#include "api/api.h"
#include "api/api_int.h"
#include "auth/auth.h"
#include "jobs/jobs.h"
#include "util/json.h"

static bool jobs_api__visible(const void *ud, const char *user, const char *tenant)
{
    const auth_identity *id = ud;
    if (!id || (id->scopes & AUTH_SCOPE_ADMIN) || !(id->user_id[0] || id->tenant[0]))
        return true;
    if (strcmp(tenant, id->tenant))
        return false;
    return !id->user_id[0] || !strcmp(user, id->user_id);
}

void jobs_api_owner(const http_req *req, jobs_owner *out)
{
    const auth_identity *id = auth_identity_of(req);
    *out = (jobs_owner){ "", "", "", "" };
    if (!id)
        return;
    out->user_id = id->user_id;
    out->tenant = id->tenant;
    out->key_id = id->key_id;
    out->budget = id->user_id[0] ? id->user_id : id->key_id; /* as synchronous upserts */
}

static void jobs_api__not_found(const http_req *req, http_resp *resp, const char *id)
{
    http_error(req, resp, 404, "job_not_found", "job '%.64s' does not exist (or has expired)",
               id);
}

/* The job, if the caller may see it: 0 with *job set, else resp holds the error. */
static int jobs_api__get(const http_req *req, http_resp *resp, const char *id, cJSON **job)
{
    char user[JOBS_OWNER_MAX + 1], tenant[JOBS_OWNER_MAX + 1];
    int rc = jobs_get(api_app(req)->jobs, id, job, user, tenant);
    if (rc == 0 && !jobs_api__visible(auth_identity_of(req), user, tenant)) {
        cJSON_Delete(*job);
        rc = RAGD_ENOTFOUND;
    }
    if (rc == RAGD_ENOTFOUND)
        jobs_api__not_found(req, resp, id);
    else if (rc)
        api_error_rc(req, resp, rc, "job '%.64s': %s", id, ragd_strerror(rc));
    return rc;
}

static void jobs_api_get(http_req *req, http_resp *resp)
{
    cJSON *job;
    if (jobs_api__get(req, resp, http_req_param(req, "id"), &job))
        return;
    api_reply_json(resp, 200, job);
    cJSON_Delete(job);
}

static void jobs_api_cancel(http_req *req, http_resp *resp)
{
    const char *id = http_req_param(req, "id");
    cJSON *job;
    if (jobs_api__get(req, resp, id, &job))
        return;
    cJSON_Delete(job);
    int rc = jobs_cancel(api_app(req)->jobs, id, &job);
    if (rc == RAGD_ENOTFOUND) {
        jobs_api__not_found(req, resp, id);
    } else if (rc == RAGD_ECONFLICT) {
        http_error(req, resp, 409, "job_finished", "job '%s' has already finished (%s)", id,
                   json_get_str(job, "status"));
        cJSON_Delete(job);
    } else if (rc) {
        api_error_rc(req, resp, rc, "job '%.64s': %s", id, ragd_strerror(rc));
    } else {
        cJSON_AddStringToObject(job, "note", "the job is cancelled: documents it had already "
                                "indexed stay in the namespace (delete them to undo), the "
                                "others are dropped");
        api_reply_json(resp, 200, job);
        cJSON_Delete(job);
    }
}

static void jobs_api_list(http_req *req, http_resp *resp)
{
    jobs_filter f = { http_req_query(req, "namespace"), -1, jobs_api__visible,
                      auth_identity_of(req), 100 };
    const char *status = http_req_query(req, "status");
    if (status && *status && (f.state = jobs_state_parse(status)) < 0) {
        http_error(req, resp, 400, "invalid_request", "'status' must be one of enqueued, "
                   "processing, succeeded, failed, cancelled");
        return;
    }
    if (f.ns && !*f.ns)
        f.ns = NULL;
    int64_t limit = 100;
    if (!api_query_count(req, resp, "limit", 1, 1000, &limit))
        return;
    f.limit = (size_t)limit;
    cJSON *arr;
    int rc = jobs_list(api_app(req)->jobs, &f, &arr);
    if (rc) {
        api_error_rc(req, resp, rc, "listing jobs failed: %s", ragd_strerror(rc));
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "count", cJSON_GetArraySize(arr));
    cJSON_AddItemToObject(o, "jobs", arr);
    api_reply_json(resp, 200, o);
    cJSON_Delete(o);
}

void api_jobs_register(router_t *r)
{
    router_add(r, HTTP_GET | HTTP_HEAD, "/api/v1/jobs", jobs_api_list);
    router_add(r, HTTP_GET | HTTP_HEAD, "/api/v1/jobs/{id}", jobs_api_get);
    router_add(r, HTTP_DELETE, "/api/v1/jobs/{id}", jobs_api_cancel);
}
