/*
 * jobs_int.h - the guts of the job service shared by jobs.c (submit, read,
 * cancel, the record's read-modify-write) and jobs_worker.c (threads, leases,
 * one group at a time), jobs_index.c (the index of stored jobs) and
 * jobs_stats.c (the overview /health and /metrics show).
 */
#ifndef RAGD_JOBS_INT_H
#define RAGD_JOBS_INT_H

#include <pthread.h>
#include <time.h>

#include "jobs/jobs.h"
#include "obs/metrics.h"

/* An indexed job id without a record is removed from the index after this:
 * longer than any submit takes between adding the id and writing the record. */
#define JOBS_INDEX_GRACE_MS 60000

/* A job this instance knows is unfinished (submitted here or found by a scan). */
typedef struct jobs_entry {
    char id[JOBS_ID_MAX + 1];
    char owner[JOBS_OWNER_MAX + 1]; /* fairness key (jobs_record_owner_key) */
    bool busy;                /* a worker is on it (its lease is renewed meanwhile) */
    bool owned;               /* this instance holds its lease */
    int64_t not_before_ms;    /* deferred until (mono); 0 = now */
    uint64_t turn;            /* the pick count when it last had a turn */
} jobs_entry;

/* What this instance did, since start (every field atomic). */
typedef struct jobs_counters {
    uint64_t outcomes[JOBS_STATE_N];    /* jobs it brought to a terminal state */
    uint64_t docs_done, docs_failed, tokens_done, groups;
    metrics_hist duration; /* submission to end */
} jobs_counters;

struct jobs {
    jobs_opts o;
    char instance[33];        /* this process's lease value */
    pthread_mutex_t mu;       /* guards everything below */
    pthread_cond_t cv;        /* new work or stop */
    jobs_entry *e;
    size_t n, cap;
    uint64_t turns;           /* picks so far */
    char last_owner[JOBS_OWNER_MAX + 1]; /* fairness key served last */
    bool stop;
    bool scanned;             /* the start-up scan ran */
    int64_t next_scan_ms;     /* mono */
    pthread_t *threads;
    int n_threads;
    pthread_t heartbeat;      /* renews the leases of jobs whose turn is running */
    pthread_cond_t hb_cv;     /* wakes the heartbeat to stop */
    bool heartbeat_on;
    jobs_counters c;
    pthread_mutex_t ov_mu;    /* guards the cached overview (jobs_stats.c) */
    jobs_overview ov;
    int64_t ov_at_ms;         /* mono; 0 = never counted */
    int64_t index_grace_ms;   /* an indexed id without a record is dropped after this */
};

/* Keys of job id, appended to b. */
void jobs__key_meta(buf_t *b, const char *id);
void jobs__key_group(buf_t *b, const char *id, uint32_t g);
void jobs__key_lease(buf_t *b, const char *id);

/* Read the record of id into r (jobs_record_clear it). RAGD_ENOTFOUND,
 * RAGD_EFORMAT, store errors. */
int jobs__load(jobs_t *j, const char *id, jobs_record *r);
/* The same from a store without a service (tests, tools). */
int jobs__load_from(store_t *st, const char *id, jobs_record *r);

/* Read-modify-write of a record by compare-and-set, retried on conflict: fn
 * changes r and returns 0 to write it (setting *ttl_ms: 0 = none), or a code
 * to stop without writing (returned). The record as written (or as read when
 * fn refused) is left in out when out is not NULL (jobs_record_clear it). */
typedef int (*jobs_update_fn)(jobs_record *r, void *ud, int64_t *ttl_ms);
int jobs__update(jobs_t *j, const char *id, jobs_update_fn fn, void *ud, jobs_record *out);

/* The index of stored jobs (jobs_index.c). Add id before its record is
 * first written (the index may name too many, never too few). */
int jobs__index_add(jobs_t *j, const char *id);
/* Every stored job's record, read through the index (ids whose record has
 * been gone for longer than index_grace_ms are removed from it). Caller frees
 * with jobs__index_records_free. Store errors; nothing to free then. */
int jobs__index_records(jobs_t *j, jobs_record **recs, size_t *n);
void jobs__index_records_free(jobs_record *recs, size_t n);

/* Delete every stored group of id (the documents of a finished job). */
void jobs__drop_groups(jobs_t *j, const char *id);

/* Add id (fairness key owner) to the entries (no-op if known) and wake a
 * worker. Caller holds mu. */
void jobs__enqueue_locked(jobs_t *j, const char *id, const char *owner);

/* Count a job this instance brought to a terminal state (r as written). */
void jobs__count_finished(jobs_t *j, const jobs_record *r);

/* Leases (jobs_lease.c): take or renew (0, RAGD_ECONFLICT when another
 * instance holds it, store errors), release, and the heartbeat thread that
 * renews the lease of every job whose turn is running, every lease_ms / 3
 * (jobs__workers_stop tells it to stop; join it after). */
int jobs__lease(jobs_t *j, const char *id);
void jobs__lease_release(jobs_t *j, const char *id);
int jobs__heartbeat_start(jobs_t *j, ragd_error *err);
/* The monotonic time ms from now, for the condition variables' waits. */
struct timespec jobs__deadline(int64_t ms);
void jobs__heartbeat_join(jobs_t *j);

/* Worker threads (jobs_worker.c); stopping them stops the heartbeat too. */
int jobs__workers_start(jobs_t *j, ragd_error *err);
void jobs__workers_stop(jobs_t *j);

#endif
