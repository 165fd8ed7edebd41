/*
 * jobs.h - durable ingestion jobs: a batch of documents accepted for a
 * namespace is written to the store first (the job record and its documents
 * in groups, one atomic batch under one hash tag), then chunked, embedded and
 * indexed by a small pool of worker threads one group at a time, so documents
 * become searchable as they go and a crash loses nothing: a job left
 * enqueued or processing is picked up again at start (or by another instance
 * once its lease lapses) from its last completed group. Upserts are
 * idempotent per document id, so a group redone after a crash is indexed once.
 *
 * Store layout (keys outside kb:, one hash tag per job for Redis Cluster):
 *   job:{<id>}:meta    the job record (JSON, jobs_record), expires after the
 *                      retention once the job is finished
 *   job:{<id>}:d:<g>   group g of the documents (deleted when the job ends)
 *   job:{<id>}:lease   the instance running the job (expires; renewed)
 *
 * Threading: every function is thread-safe. Workers take jobs round robin, one
 * group at a time, so concurrent jobs progress in turn.
 */
#ifndef RAGD_JOBS_H
#define RAGD_JOBS_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kb/kb.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/err.h"

typedef struct jobs jobs_t;

/* States. enqueued -> processing -> succeeded | failed; enqueued or
 * processing -> cancelled (or failed, when the namespace went away). */
enum jobs_state {
    JOBS_ENQUEUED = 0,
    JOBS_PROCESSING,
    JOBS_SUCCEEDED,
    JOBS_FAILED,
    JOBS_CANCELLED,
    JOBS_STATE_N
};

#define JOBS_ID_MAX 32          /* "job_" + 24 hex digits */
#define JOBS_OWNER_MAX 128
#define JOBS_ERRORS_KEPT 100    /* per-document errors kept in a record */

/* "enqueued", ... ; NULL for an unknown state. */
const char *jobs_state_name(int state);
/* The state named s, or -1. */
int jobs_state_parse(const char *s);
/* succeeded, failed or cancelled? */
bool jobs_state_terminal(int state);
/* May a record move from state `from` to state `to`? (processing -> processing
 * is a progress update; nothing leaves a terminal state.) */
bool jobs_state_allows(int from, int to);

/* Who submitted a job: the visibility rules live with the caller (api/). */
typedef struct jobs_owner {
    const char *user_id;   /* user-bound key's user, "" or NULL otherwise */
    const char *tenant;    /* tenant-bound key's tenant, "" or NULL otherwise */
    const char *key_id;    /* the credential, for operators */
    const char *budget;    /* subject of the per-caller token budget ("" = none) */
} jobs_owner;

typedef struct jobs_opts {
    store_t *store;               /* borrowed, must outlive the jobs */
    kb_t *kb;                     /* borrowed, must outlive the jobs */
    int workers;                  /* worker threads (>= 1) */
    int64_t retention_ms;         /* finished jobs expire after this */
    int64_t lease_ms;             /* a running job's lease; renewed while working */
    uint32_t group_docs;          /* documents per group at most */
    uint64_t group_tokens;        /* word pieces per group at most (a larger document
                                     gets a group of its own) */
    size_t max_docs;              /* documents per job at most */
    size_t max_chunks;            /* kb_admit caps per group (0 = none) */
    size_t max_tokens;
    int64_t tokens_per_minute;    /* per-owner budget (owner.budget); 0 = none */
    int64_t group_delay_ms;       /* pause before each group (a slow-down for tests) */
    int64_t scan_interval_ms;     /* how often the store is searched for orphaned jobs */
} jobs_opts;

/* Defaults: 1 worker, 7 days, 30 s lease, 32 docs / 8192 pieces per group,
 * 100000 documents, 2 s scan. store and kb stay NULL. */
void jobs_default_opts(jobs_opts *o);

/* Create the job service and start its workers; they resume the store's
 * unfinished jobs. *out is owned by the caller (jobs_destroy). */
int jobs_create(const jobs_opts *o, jobs_t **out, ragd_error *err);
/* Stop the workers (each finishes its current group), release leases, free.
 * NULL is a no-op. */
void jobs_destroy(jobs_t *j);

/* Accept documents for namespace ns: validated up front (kb_docs_measure;
 * errors as it gives them, nothing written), then written durably, then
 * queued. *job gets the job's public view (caller cJSON_Deletes). Errors:
 * RAGD_ETOOBIG (more than max_docs), kb_docs_measure's, store errors. */
int jobs_submit(jobs_t *j, const char *ns, const kb_doc_in *docs, size_t n,
                const jobs_owner *owner, cJSON **job, ragd_error *err);

/* The public view of job id (caller cJSON_Deletes) and its owner's user and
 * tenant (copied into user/tenant, JOBS_OWNER_MAX + 1 bytes each, may be
 * NULL). RAGD_ENOTFOUND, RAGD_EFORMAT (a damaged record), store errors. */
int jobs_get(jobs_t *j, const char *id, cJSON **job, char *user, char *tenant);

/* Filters of jobs_list; NULL/-1 fields match everything. visible(ud, user,
 * tenant) decides which owners' jobs the caller sees. */
typedef struct jobs_filter {
    const char *ns;
    int state;
    bool (*visible)(const void *ud, const char *user, const char *tenant);
    const void *ud;
    size_t limit;                 /* 0 = 100 */
} jobs_filter;

/* Jobs passing f, newest first, as a JSON array (caller cJSON_Deletes). */
int jobs_list(jobs_t *j, const jobs_filter *f, cJSON **out);

/* Cancel job id: its state becomes cancelled and its remaining documents are
 * dropped; documents already indexed stay (a group being indexed at that
 * moment completes). *job gets the view. RAGD_ENOTFOUND, RAGD_ECONFLICT (the
 * job had already finished; *job still set). */
int jobs_cancel(jobs_t *j, const char *id, cJSON **job);

/* ---- what the service is doing (jobs_stats.c) ---- */

#define JOBS_OVERVIEW_RUNNING 32   /* unfinished jobs listed by an overview */
#define JOBS_OVERVIEW_MAX_AGE_MS 1000 /* an overview is counted again after this */

/* An unfinished job and the instance holding its lease. */
typedef struct jobs_running {
    char id[JOBS_ID_MAX + 1];
    char ns[KB_NS_NAME_MAX + 1];
    int state;                    /* enqueued or processing */
    char holder[33];              /* the lease holder's instance id; "" = none (waiting) */
} jobs_running;

/* The store's jobs as counted through its index of jobs (no keyspace scan). */
typedef struct jobs_overview {
    uint64_t by_state[JOBS_STATE_N]; /* stored records (finished ones until they expire) */
    int64_t oldest_waiting_ms;    /* age of the oldest enqueued job; 0 = none */
    uint64_t held_here;           /* unfinished jobs whose lease this instance holds */
    size_t n_running;             /* entries of running (the first JOBS_OVERVIEW_RUNNING
                                     unfinished jobs, oldest first) */
    jobs_running running[JOBS_OVERVIEW_RUNNING];
    int rc;                       /* the count's store error; 0 = counted */
} jobs_overview;

/* This process's instance id (the value of the leases it holds); borrowed
 * for the service's life. */
const char *jobs_instance(const jobs_t *j);

/* The store's jobs by state, the oldest waiting one and who holds the leases
 * (*out copied). One read of the index of jobs and their records, reused by calls within
 * JOBS_OVERVIEW_MAX_AGE_MS. Returns out->rc. Thread-safe. */
int jobs_overview_get(jobs_t *j, jobs_overview *out);

/* Append the jobs' Prometheus families to b: ragd_jobs{state} (gauge, the
 * overview), ragd_jobs_total{outcome}, ragd_jobs_documents_total{result},
 * ragd_jobs_tokens_total, ragd_jobs_groups_total (this instance's work),
 * ragd_job_duration_seconds (histogram, created to finished),
 * ragd_jobs_oldest_waiting_seconds and ragd_jobs_leases_held. Thread-safe. */
void jobs_metrics_render(jobs_t *j, buf_t *b);

/* /health's details.jobs: {instance, workers, enqueued, processing,
 * oldest_waiting_seconds, leases_held, running: [{id, namespace, status,
 * lease_holder, this_instance}], finished: {succeeded, failed, cancelled}}
 * (caller cJSON_Deletes). Thread-safe. */
cJSON *jobs_health(jobs_t *j);

/* ---- the record (jobs_record.c) ---- */

/* A job record as stored under job:{<id>}:meta. */
typedef struct jobs_record {
    char id[JOBS_ID_MAX + 1];
    char ns[KB_NS_NAME_MAX + 1];
    char user[JOBS_OWNER_MAX + 1], tenant[JOBS_OWNER_MAX + 1];
    char key_id[JOBS_OWNER_MAX + 1], budget[JOBS_OWNER_MAX + 1];
    int state;
    int64_t created_ms, started_ms, updated_ms, finished_ms;
    int64_t work_ms;              /* time spent indexing (for the ETA) */
    uint64_t docs_total, docs_done, docs_failed;
    uint64_t tokens_total, tokens_done;
    uint32_t groups_total, next_group;
    uint64_t errors_total;
    cJSON *errors;                /* owned array of {index, id, code, message}, at most
                                     JOBS_ERRORS_KEPT; NULL = none */
    char message[256];            /* why a job failed as a whole; "" = none */
} jobs_record;

/* Zeroed record (state enqueued). */
void jobs_record_init(jobs_record *r);
/* Free what r owns; r may be reused after jobs_record_init. */
void jobs_record_clear(jobs_record *r);
/* Append r's stored form (JSON) to out. */
void jobs_record_encode(const jobs_record *r, buf_t *out);
/* Parse a stored record into r (initialised here). RAGD_EFORMAT when it is not
 * one (never crashes on damaged input); r is then empty. */
int jobs_record_decode(const void *val, size_t len, jobs_record *r);
/* Record a per-document error: counted always, kept while fewer than
 * JOBS_ERRORS_KEPT are. */
void jobs_record_add_error(jobs_record *r, uint64_t index, const char *doc_id,
                           const char *code, const char *message);
/* Who a job's turns and model work are shared out by: its user, else its
 * tenant, else its key, else (no authentication) its namespace. Borrowed from r. */
const char *jobs_record_owner_key(const jobs_record *r);
/* The public view: {id, namespace, status, created_at, started_at,
 * finished_at, updated_at, documents: {total, done, failed}, tokens: {total,
 * done}, progress, eta_seconds, errors, errors_total, message?}. eta_seconds
 * comes from the tokens left at the rate tokens were indexed so far (null
 * until there is one, 0 when finished). Caller cJSON_Deletes. */
cJSON *jobs_record_view(const jobs_record *r);

#endif
