/*
 * jobs_stats.c - what the job service shows to /metrics and /health: the
 * store's jobs by state, the age of the oldest one still waiting and which
 * instance holds each running job's lease (an overview counted from the index
 * of jobs and their records, never a scan of the keyspace, reused for a second
 * so frequent probes cost one count), and what
 * this instance did since it started (jobs finished by outcome, documents,
 * word pieces and groups indexed, a histogram of job durations).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobs/jobs_int.h"
#include "obs/metrics.h"
#include "util/clock.h"

/* Seconds: ingestion jobs last from a second to hours. */
static const double jobs__dur_bounds[METRICS_NBUCKETS] = {
    1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 10800, INFINITY,
};

const char *jobs_instance(const jobs_t *j)
{
    return j->instance;
}

void jobs__count_finished(jobs_t *j, const jobs_record *r)
{
    if (!jobs_state_terminal(r->state))
        return;
    metrics_inc(&j->c.outcomes[r->state], 1);
    int64_t ms = r->finished_ms > r->created_ms ? r->finished_ms - r->created_ms : 0;
    metrics_hist_observe_in(&j->c.duration, ms * 1000, jobs__dur_bounds);
}

/* ---- the overview ---- */

/* The instance holding id's lease into holder (33 bytes; "" = none). */
static void jobs__holder(jobs_t *j, const char *id, char *holder)
{
    buf_t k = BUF_INIT;
    jobs__key_lease(&k, id);
    store_value v;
    holder[0] = '\0';
    if (store_get(j->o.store, k.data, k.len, &v) == 0) {
        size_t n = v.len < 32 ? v.len : 32;
        memcpy(holder, v.data, n);
        holder[n] = '\0';
        store_value_free(&v);
    }
    buf_free(&k);
}

/* Add record r to ov (its lease read when it is unfinished). */
static void jobs__overview_add(jobs_t *j, const jobs_record *r, int64_t now_ms, jobs_overview *ov)
{
    ov->by_state[r->state]++;
    if (jobs_state_terminal(r->state))
        return;
    if (r->state == JOBS_ENQUEUED && now_ms - r->created_ms > ov->oldest_waiting_ms)
        ov->oldest_waiting_ms = now_ms - r->created_ms;
    char holder[33];
    jobs__holder(j, r->id, holder);
    if (!strcmp(holder, j->instance))
        ov->held_here++;
    if (ov->n_running == JOBS_OVERVIEW_RUNNING)
        return;
    jobs_running *x = &ov->running[ov->n_running++];
    memcpy(x->id, r->id, sizeof x->id);
    memcpy(x->ns, r->ns, sizeof x->ns);
    x->state = r->state;
    memcpy(x->holder, holder, sizeof holder);
}

/* Count the store's jobs into ov. */
static void jobs__overview_count(jobs_t *j, jobs_overview *ov)
{
    memset(ov, 0, sizeof *ov);
    jobs_record *recs;
    size_t n;
    if ((ov->rc = jobs__index_records(j, &recs, &n)))
        return;
    int64_t now = clock_wall_ms();
    for (size_t i = 0; i < n; i++)
        jobs__overview_add(j, &recs[i], now, ov);
    jobs__index_records_free(recs, n);
}

int jobs_overview_get(jobs_t *j, jobs_overview *out)
{
    pthread_mutex_lock(&j->ov_mu);
    int64_t now = clock_mono_us() / 1000;
    if (!j->ov_at_ms || now - j->ov_at_ms >= JOBS_OVERVIEW_MAX_AGE_MS || j->ov.rc) {
        jobs__overview_count(j, &j->ov);
        j->ov_at_ms = now;
    }
    *out = j->ov;
    pthread_mutex_unlock(&j->ov_mu);
    return out->rc;
}

/* ---- rendering ---- */

static void jobs__render_states(buf_t *b, const jobs_overview *ov)
{
    buf_t lab = BUF_INIT;
    metrics_family(b, "ragd_jobs", "gauge", "ingestion jobs in the store by state "
                   "(finished ones until their retention ends)");
    for (int s = 0; s < JOBS_STATE_N; s++) {
        buf_reset(&lab);
        metrics_label(&lab, "state", jobs_state_name(s));
        metrics_sample(b, "ragd_jobs", lab.data, (double)ov->by_state[s]);
    }
    buf_free(&lab);
}

static void jobs__render_duration(buf_t *b, const jobs_counters *c)
{
    metrics_family(b, "ragd_job_duration_seconds", "histogram",
                   "ingestion jobs from submission to their end (this instance's)");
    metrics_hist_render_in(b, "ragd_job_duration_seconds", "", &c->duration, jobs__dur_bounds);
}

void jobs_metrics_render(jobs_t *j, buf_t *b)
{
    jobs_overview ov;
    jobs_overview_get(j, &ov);
    jobs__render_states(b, &ov);
    static const int outcomes[] = { JOBS_SUCCEEDED, JOBS_FAILED, JOBS_CANCELLED };
    char lab[48];
    metrics_family(b, "ragd_jobs_total", "counter", "ingestion jobs this instance brought "
                   "to an end, by outcome");
    for (size_t i = 0; i < sizeof outcomes / sizeof outcomes[0]; i++) {
        snprintf(lab, sizeof lab, "outcome=\"%s\"", jobs_state_name(outcomes[i]));
        metrics_sample(b, "ragd_jobs_total", lab,
                       (double)metrics_load(&j->c.outcomes[outcomes[i]]));
    }
    metrics_family(b, "ragd_jobs_documents_total", "counter",
                   "documents ingestion jobs indexed or failed on this instance");
    metrics_sample(b, "ragd_jobs_documents_total", "result=\"indexed\"",
                   (double)metrics_load(&j->c.docs_done));
    metrics_sample(b, "ragd_jobs_documents_total", "result=\"failed\"",
                   (double)metrics_load(&j->c.docs_failed));
    metrics_family(b, "ragd_jobs_tokens_total", "counter",
                   "word pieces of the documents ingestion jobs processed on this instance");
    metrics_sample(b, "ragd_jobs_tokens_total", NULL, (double)metrics_load(&j->c.tokens_done));
    metrics_family(b, "ragd_jobs_groups_total", "counter",
                   "groups of documents ingestion jobs indexed on this instance");
    metrics_sample(b, "ragd_jobs_groups_total", NULL, (double)metrics_load(&j->c.groups));
    jobs__render_duration(b, &j->c);
    metrics_family(b, "ragd_jobs_oldest_waiting_seconds", "gauge",
                   "age of the oldest ingestion job not started yet (0 = none)");
    metrics_sample(b, "ragd_jobs_oldest_waiting_seconds", NULL, ov.oldest_waiting_ms / 1000.0);
    metrics_family(b, "ragd_jobs_leases_held", "gauge",
                   "unfinished ingestion jobs whose lease this instance holds");
    metrics_sample(b, "ragd_jobs_leases_held", NULL, (double)ov.held_here);
}

cJSON *jobs_health(jobs_t *j)
{
    jobs_overview ov;
    int rc = jobs_overview_get(j, &ov);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "status", rc ? "unavailable" : "ok");
    cJSON_AddStringToObject(o, "instance", j->instance);
    cJSON_AddNumberToObject(o, "workers", j->o.workers);
    cJSON_AddNumberToObject(o, "enqueued", (double)ov.by_state[JOBS_ENQUEUED]);
    cJSON_AddNumberToObject(o, "processing", (double)ov.by_state[JOBS_PROCESSING]);
    cJSON_AddNumberToObject(o, "oldest_waiting_seconds", ov.oldest_waiting_ms / 1000.0);
    cJSON_AddNumberToObject(o, "leases_held", (double)ov.held_here);
    cJSON *run = cJSON_AddArrayToObject(o, "running");
    for (size_t i = 0; i < ov.n_running; i++) {
        const jobs_running *x = &ov.running[i];
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "id", x->id);
        cJSON_AddStringToObject(e, "namespace", x->ns);
        cJSON_AddStringToObject(e, "status", jobs_state_name(x->state));
        if (x->holder[0])
            cJSON_AddStringToObject(e, "lease_holder", x->holder);
        else
            cJSON_AddNullToObject(e, "lease_holder");
        cJSON_AddBoolToObject(e, "this_instance", !strcmp(x->holder, j->instance));
        cJSON_AddItemToArray(run, e);
    }
    cJSON *fin = cJSON_AddObjectToObject(o, "finished");
    for (int s = JOBS_SUCCEEDED; s < JOBS_STATE_N; s++)
        cJSON_AddNumberToObject(fin, jobs_state_name(s), (double)ov.by_state[s]);
    return o;
}
