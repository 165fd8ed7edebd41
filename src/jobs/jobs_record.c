/*
 * jobs_record.c - a job's record: its states and the moves allowed between
 * them, the stored JSON form (decoded defensively: a damaged value is
 * RAGD_EFORMAT, never a crash) and the public view with progress and an ETA
 * computed from word pieces (the work the model does), not documents.
 */
#include <stdio.h>
#include <string.h>

#include "jobs/jobs.h"
#include "util/json.h"

static const char *const jobs__state_names[JOBS_STATE_N] = {
    "enqueued", "processing", "succeeded", "failed", "cancelled",
};

const char *jobs_state_name(int state)
{
    return state >= 0 && state < JOBS_STATE_N ? jobs__state_names[state] : NULL;
}

int jobs_state_parse(const char *s)
{
    for (int i = 0; s && i < JOBS_STATE_N; i++)
        if (!strcmp(s, jobs__state_names[i]))
            return i;
    return -1;
}

bool jobs_state_terminal(int state)
{
    return state == JOBS_SUCCEEDED || state == JOBS_FAILED || state == JOBS_CANCELLED;
}

bool jobs_state_allows(int from, int to)
{
    if (!jobs_state_name(from) || !jobs_state_name(to) || jobs_state_terminal(from))
        return false;
    if (from == JOBS_ENQUEUED)
        return to != JOBS_SUCCEEDED && to != JOBS_ENQUEUED;
    return to != JOBS_ENQUEUED; /* processing */
}

void jobs_record_init(jobs_record *r)
{
    memset(r, 0, sizeof *r);
    r->state = JOBS_ENQUEUED;
}

void jobs_record_clear(jobs_record *r)
{
    cJSON_Delete(r->errors);
    r->errors = NULL;
}

const char *jobs_record_owner_key(const jobs_record *r)
{
    return r->user[0] ? r->user : r->tenant[0] ? r->tenant : r->key_id[0] ? r->key_id : r->ns;
}

void jobs_record_add_error(jobs_record *r, uint64_t index, const char *doc_id, const char *code,
                           const char *message)
{
    r->errors_total++;
    if (!r->errors)
        r->errors = cJSON_CreateArray();
    if (cJSON_GetArraySize(r->errors) >= JOBS_ERRORS_KEPT)
        return;
    cJSON *e = cJSON_CreateObject();
    cJSON_AddNumberToObject(e, "index", (double)index);
    cJSON_AddStringToObject(e, "id", doc_id ? doc_id : "");
    cJSON_AddStringToObject(e, "code", code);
    cJSON_AddStringToObject(e, "message", message);
    cJSON_AddItemToArray(r->errors, e);
}

void jobs_record_encode(const jobs_record *r, buf_t *out)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", r->id);
    cJSON_AddStringToObject(o, "namespace", r->ns);
    cJSON_AddStringToObject(o, "state", jobs_state_name(r->state));
    cJSON_AddStringToObject(o, "user", r->user);
    cJSON_AddStringToObject(o, "tenant", r->tenant);
    cJSON_AddStringToObject(o, "key_id", r->key_id);
    cJSON_AddStringToObject(o, "budget", r->budget);
    const int64_t times[] = { r->created_ms, r->started_ms, r->updated_ms, r->finished_ms,
                              r->work_ms };
    const char *const tnames[] = { "created", "started", "updated", "finished", "work_ms" };
    for (size_t i = 0; i < 5; i++)
        cJSON_AddNumberToObject(o, tnames[i], (double)times[i]);
    const uint64_t counts[] = { r->docs_total, r->docs_done, r->docs_failed, r->tokens_total,
                                r->tokens_done, r->groups_total, r->next_group,
                                r->errors_total };
    const char *const cnames[] = { "docs_total", "docs_done", "docs_failed", "tokens_total",
                                   "tokens_done", "groups_total", "next_group", "errors_total" };
    for (size_t i = 0; i < 8; i++)
        cJSON_AddNumberToObject(o, cnames[i], (double)counts[i]);
    cJSON_AddItemToObject(o, "errors", r->errors ? cJSON_Duplicate(r->errors, 1)
                                                 : cJSON_CreateArray());
    cJSON_AddStringToObject(o, "message", r->message);
    json_write(o, out);
    cJSON_Delete(o);
}

/* Copy string member name into dst[cap]; false when absent or too long. */
static bool jobs__str(const cJSON *o, const char *name, char *dst, size_t cap)
{
    const char *s = json_get_str(o, name);
    if (!s || strlen(s) >= cap)
        return false;
    memcpy(dst, s, strlen(s) + 1);
    return true;
}

static bool jobs__u64(const cJSON *o, const char *name, uint64_t *out)
{
    int64_t v;
    if (json_get_int(o, name, 0, JSON_INT_LIMIT, &v))
        return false;
    *out = (uint64_t)v;
    return true;
}

static bool jobs__decode_obj(const cJSON *o, jobs_record *r)
{
    uint64_t t[5], g[2];
    const char *const tnames[] = { "created", "started", "updated", "finished", "work_ms" };
    for (size_t i = 0; i < 5; i++)
        if (!jobs__u64(o, tnames[i], &t[i]))
            return false;
    r->created_ms = (int64_t)t[0];
    r->started_ms = (int64_t)t[1];
    r->updated_ms = (int64_t)t[2];
    r->finished_ms = (int64_t)t[3];
    r->work_ms = (int64_t)t[4];
    r->state = jobs_state_parse(json_get_str(o, "state"));
    const cJSON *errs = json_get_arr(o, "errors");
    bool ok = r->state >= 0 && errs && jobs__str(o, "id", r->id, sizeof r->id) &&
              jobs__str(o, "namespace", r->ns, sizeof r->ns) &&
              jobs__str(o, "user", r->user, sizeof r->user) &&
              jobs__str(o, "tenant", r->tenant, sizeof r->tenant) &&
              jobs__str(o, "key_id", r->key_id, sizeof r->key_id) &&
              jobs__str(o, "budget", r->budget, sizeof r->budget) &&
              jobs__str(o, "message", r->message, sizeof r->message) &&
              jobs__u64(o, "docs_total", &r->docs_total) &&
              jobs__u64(o, "docs_done", &r->docs_done) &&
              jobs__u64(o, "docs_failed", &r->docs_failed) &&
              jobs__u64(o, "tokens_total", &r->tokens_total) &&
              jobs__u64(o, "tokens_done", &r->tokens_done) &&
              jobs__u64(o, "groups_total", &g[0]) && jobs__u64(o, "next_group", &g[1]) &&
              jobs__u64(o, "errors_total", &r->errors_total) && g[0] <= UINT32_MAX &&
              g[1] <= g[0];
    if (!ok)
        return false;
    r->groups_total = (uint32_t)g[0];
    r->next_group = (uint32_t)g[1];
    r->errors = cJSON_Duplicate(errs, 1);
    return true;
}

int jobs_record_decode(const void *val, size_t len, jobs_record *r)
{
    jobs_record_init(r);
    cJSON *o = NULL;
    if (json_parse_stored(val, len, &o))
        return RAGD_EFORMAT;
    bool ok = cJSON_IsObject(o) && jobs__decode_obj(o, r);
    cJSON_Delete(o);
    if (ok)
        return RAGD_OK;
    jobs_record_clear(r);
    jobs_record_init(r);
    return RAGD_EFORMAT;
}

/* Seconds left at the rate word pieces were indexed so far, over the wall
 * time since the job started (turns shared with other jobs included);
 * -1 = unknown. */
static double jobs__eta_s(const jobs_record *r)
{
    if (jobs_state_terminal(r->state))
        return 0;
    int64_t ms = r->updated_ms - r->started_ms;
    if (ms <= 0 || !r->started_ms)
        ms = r->work_ms;
    if (r->tokens_done == 0 || ms <= 0)
        return -1;
    double rate = (double)r->tokens_done / ((double)ms / 1000.0);
    uint64_t left = r->tokens_total > r->tokens_done ? r->tokens_total - r->tokens_done : 0;
    return (double)left / rate;
}

static void jobs__add_time(cJSON *o, const char *name, int64_t ms)
{
    if (ms)
        cJSON_AddNumberToObject(o, name, (double)ms);
    else
        cJSON_AddNullToObject(o, name);
}

cJSON *jobs_record_view(const jobs_record *r)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", r->id);
    cJSON_AddStringToObject(o, "object", "job");
    cJSON_AddStringToObject(o, "type", "documents_upsert");
    cJSON_AddStringToObject(o, "namespace", r->ns);
    cJSON_AddStringToObject(o, "status", jobs_state_name(r->state));
    jobs__add_time(o, "created_at", r->created_ms);
    jobs__add_time(o, "started_at", r->started_ms);
    jobs__add_time(o, "updated_at", r->updated_ms);
    jobs__add_time(o, "finished_at", r->finished_ms);
    cJSON *d = cJSON_AddObjectToObject(o, "documents");
    cJSON_AddNumberToObject(d, "total", (double)r->docs_total);
    cJSON_AddNumberToObject(d, "done", (double)r->docs_done);
    cJSON_AddNumberToObject(d, "failed", (double)r->docs_failed);
    cJSON *t = cJSON_AddObjectToObject(o, "tokens");
    cJSON_AddNumberToObject(t, "total", (double)r->tokens_total);
    cJSON_AddNumberToObject(t, "done", (double)r->tokens_done);
    double progress = r->tokens_total ? (double)r->tokens_done / (double)r->tokens_total
                      : r->docs_total ? (double)(r->docs_done + r->docs_failed) /
                                            (double)r->docs_total
                                      : 1.0;
    cJSON_AddNumberToObject(o, "progress", progress > 1 ? 1 : progress);
    double eta = jobs__eta_s(r);
    if (eta < 0)
        cJSON_AddNullToObject(o, "eta_seconds");
    else
        cJSON_AddNumberToObject(o, "eta_seconds", (double)(int64_t)(eta + 0.5));
    cJSON_AddItemToObject(o, "errors", r->errors ? cJSON_Duplicate(r->errors, 1)
                                                 : cJSON_CreateArray());
    cJSON_AddNumberToObject(o, "errors_total", (double)r->errors_total);
    if (r->message[0])
        cJSON_AddStringToObject(o, "message", r->message);
    char loc[64];
    snprintf(loc, sizeof loc, "/api/v1/jobs/%s", r->id);
    cJSON_AddStringToObject(o, "location", loc);
    return o;
}
