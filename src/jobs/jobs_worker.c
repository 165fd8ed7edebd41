/*
 * jobs_worker.c - the workers: a fixed pool of threads that take unfinished
 * jobs in turn and index one group of documents per turn: round robin over
 * the jobs' owners first (a user with two jobs gets the share of a user with
 * one), then over that owner's jobs. A group's embeddings are bulk model work
 * under the owner as the scheduler's tenant. A turn takes (or renews) the
 * job's lease (jobs_lease.c keeps it while the turn runs), upserts the
 * group (idempotent per document id, so a group redone after a crash is
 * indexed once), falls back to one document at a time when the group is
 * refused so one bad document does not fail the others, and records progress
 * by compare-and-set keyed on the group number (a group is counted once even
 * when two instances raced on it). Unfinished jobs are found through the
 * index of jobs (jobs_index.c) at start (and periodically on a shared store,
 * to take over jobs whose lease lapsed on another instance).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jobs/jobs_int.h"
#include "obs/log.h"
#include "obs/metrics.h"
#include "util/clock.h"
#include "util/json.h"
#include "util/mem.h"

enum { STEP_AGAIN, STEP_DONE, STEP_LOST, STEP_DEFER };

#define JOBS_RETRY_MS 1000  /* wait after a store or model outage */

static int64_t jobs__now_ms(void)
{
    return clock_mono_us() / 1000;
}

/* ---- one group ---- */

/* What a turn did, applied to the record by jobs__apply. */
typedef struct jobs_outcome {
    uint32_t group;
    bool start_only;          /* only enqueued -> processing */
    uint64_t done, failed, tokens;
    int64_t ms;
    cJSON *errors;            /* [{index, id, code, message}] of this group */
    char fail[200];           /* the job fails as a whole ("" = no) */
    int64_t retention_ms;     /* the ttl of a finished record */
    bool final;               /* OUT: the record reached a terminal state */
    bool finished_here;       /* OUT: this outcome moved it there */
} jobs_outcome;

static int jobs__apply(jobs_record *r, void *ud, int64_t *ttl_ms)
{
    jobs_outcome *o = ud;
    int64_t now = clock_wall_ms();
    if (o->start_only) {
        if (r->state != JOBS_ENQUEUED)
            return RAGD_EEXISTS;
        r->state = JOBS_PROCESSING;
        r->started_ms = r->updated_ms = now;
        return RAGD_OK;
    }
    if (r->next_group != o->group)
        return RAGD_EEXISTS; /* counted already (another instance) */
    bool was_final = jobs_state_terminal(r->state);
    if (!was_final) {
        r->state = JOBS_PROCESSING;
        if (!r->started_ms)
            r->started_ms = now;
    }
    r->docs_done += o->done;
    r->docs_failed += o->failed;
    r->tokens_done += o->tokens;
    r->work_ms += o->ms;
    for (const cJSON *e = o->errors ? o->errors->child : NULL; e; e = e->next)
        jobs_record_add_error(r, (uint64_t)cJSON_GetObjectItem(e, "index")->valuedouble,
                              json_get_str(e, "id"), json_get_str(e, "code"),
                              json_get_str(e, "message"));
    r->next_group = o->group + 1;
    r->updated_ms = now;
    if (!jobs_state_terminal(r->state) && o->fail[0]) {
        r->state = JOBS_FAILED;
        snprintf(r->message, sizeof r->message, "%s", o->fail);
    } else if (!jobs_state_terminal(r->state) && r->next_group >= r->groups_total) {
        r->state = r->docs_done > 0 || r->docs_failed == 0 ? JOBS_SUCCEEDED : JOBS_FAILED;
        if (r->state == JOBS_FAILED)
            snprintf(r->message, sizeof r->message, "every document failed (see errors)");
    }
    o->final = jobs_state_terminal(r->state);
    o->finished_here = o->final && !was_final;
    if (o->final) {
        r->next_group = r->groups_total;
        if (!r->finished_ms)
            r->finished_ms = now;
        *ttl_ms = o->retention_ms;
    }
    return RAGD_OK;
}

/* The per-caller token budget (GCRA per minute, as synchronous upserts). */
typedef struct jobs_budget {
    jobs_t *j;
    const char *who;
    const char *tenant;       /* the scheduler's fairness key (jobs_record_owner_key) */
    int64_t retry_ms;         /* OUT: >= 0 refused for now, -1 never fits */
    bool refused;
} jobs_budget;

static int jobs__budget_fn(void *ud, size_t chunks, size_t tokens)
{
    (void)chunks;
    jobs_budget *b = ud;
    int64_t per_min = b->j->o.tokens_per_minute;
    if (per_min <= 0 || !b->who[0])
        return 0;
    char key[200];
    int klen = snprintf(key, sizeof key, "kbtok:%s", b->who);
    store_rl_params p = { .algo = STORE_RL_GCRA, .limit = per_min, .window_ms = 60000,
                          .burst = per_min, .cost = (int64_t)tokens };
    store_rl_result r;
    if (store_ratelimit(b->j->o.store, key, (size_t)klen, &p, &r) != 0 || r.allowed)
        return 0;
    b->refused = true;
    b->retry_ms = r.retry_after_ms;
    return RAGD_ETOOBIG;
}

static bool jobs__transient(int rc)
{
    return rc == RAGD_EUNAVAIL || rc == RAGD_EIO || rc == RAGD_ETIMEOUT || rc == RAGD_EFULL ||
           rc == RAGD_ENOMEM || rc == RAGD_ECONFLICT; /* other writers kept replacing them */
}

static const char *jobs__code(int rc)
{
    switch (rc) {
    case RAGD_ENOTFOUND: return "document_not_found"; /* another owner's id, as in sync */
    case RAGD_ETOOBIG: return "payload_too_large";
    case RAGD_EINVAL: return "invalid_request";
    default: return "internal_error";
    }
}

/* Upsert docs[0..n) (one call); a refusal that is not an outage nor the budget
 * asking to wait is returned for the caller to split. */
static int jobs__upsert(jobs_t *j, const char *ns, const kb_doc_in *docs, size_t n,
                        jobs_budget *b, ragd_error *err)
{
    kb_admit admit = { j->o.max_chunks, j->o.max_tokens, jobs__budget_fn, b, b->tenant };
    b->refused = false;
    kb_upsert_stats st;
    return kb_docs_upsert_admit(j->o.kb, ns, docs, n, &admit, &st, err);
}

/* Index the group's documents into o; 0, or a code meaning "retry later"
 * (*defer_ms set). */
static int jobs__index(jobs_t *j, const char *ns, const cJSON *arr, size_t first,
                       jobs_budget *b, jobs_outcome *o, int64_t *defer_ms)
{
    size_t n = (size_t)cJSON_GetArraySize(arr), i = 0;
    kb_doc_in *in = xcalloc(n ? n : 1, sizeof *in);
    for (const cJSON *d = arr->child; d; d = d->next, i++) {
        const char *text = json_get_str(d, "text");
        int64_t exp = 0;
        json_get_int(d, "expires_at", 0, KB_EXPIRES_MAX, &exp);
        in[i] = (kb_doc_in){ json_get_str(d, "id"), text, text ? strlen(text) : 0,
                             json_get_obj(d, "metadata"), json_get_str(d, "user_id"), exp };
    }
    ragd_error err = { 0 };
    int rc = n ? jobs__upsert(j, ns, in, n, b, &err) : RAGD_OK;
    if (rc == 0)
        o->done = n;
    if (rc && (jobs__transient(rc) || (b->refused && b->retry_ms >= 0))) {
        *defer_ms = b->refused ? b->retry_ms + 1 : JOBS_RETRY_MS; /* outage, or the budget */
        free(in);
        return rc;
    }
    for (size_t k = 0; rc && k < n; k++) { /* one at a time: errors per document */
        int r1 = n == 1 ? rc : jobs__upsert(j, ns, in + k, 1, b, &err);
        if (r1 == 0) {
            o->done++;
            continue;
        }
        if (jobs__transient(r1) || (b->refused && b->retry_ms >= 0)) {
            *defer_ms = b->refused ? b->retry_ms + 1 : JOBS_RETRY_MS;
            free(in);
            return r1;
        }
        if (r1 == RAGD_ENOTFOUND && !kb_ns_exists(j->o.kb, ns)) {
            snprintf(o->fail, sizeof o->fail, "namespace '%s' no longer exists", ns);
            break;
        }
        if (!o->errors)
            o->errors = cJSON_CreateArray();
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "index", (double)(first + k));
        cJSON_AddStringToObject(e, "id", in[k].id ? in[k].id : "");
        cJSON_AddStringToObject(e, "code", jobs__code(r1));
        cJSON_AddStringToObject(e, "message", b->refused ? "the document needs more word "
                                "pieces than the per-minute budget allows "
                                "(kb_user_tokens_per_minute)" : err.msg);
        cJSON_AddItemToArray(o->errors, e);
        o->failed++;
    }
    free(in);
    return RAGD_OK;
}

/* Load group g of id and index it. */
static int jobs__run_group(jobs_t *j, const jobs_record *r, jobs_outcome *o, int64_t *defer_ms)
{
    buf_t k = BUF_INIT;
    jobs__key_group(&k, r->id, o->group);
    store_value v;
    int rc = store_get(j->o.store, k.data, k.len, &v);
    buf_free(&k);
    if (rc == RAGD_ENOTFOUND) { /* cancelled meanwhile, or damaged */
        snprintf(o->fail, sizeof o->fail, "the documents of group %u are missing", o->group);
        return RAGD_OK;
    }
    if (rc) {
        *defer_ms = JOBS_RETRY_MS;
        return rc;
    }
    cJSON *g = NULL;
    int64_t first = 0, tokens = 0;
    const cJSON *arr = NULL;
    if (json_parse_stored(v.data, v.len, &g) == 0 &&
        json_get_int(g, "first", 0, JSON_INT_LIMIT, &first) == 0 &&
        json_get_int(g, "tokens", 0, JSON_INT_LIMIT, &tokens) == 0)
        arr = json_get_arr(g, "documents");
    store_value_free(&v);
    if (!arr) {
        snprintf(o->fail, sizeof o->fail, "the documents of group %u are damaged", o->group);
        cJSON_Delete(g);
        return RAGD_OK;
    }
    jobs_budget b = { j, r->budget, jobs_record_owner_key(r), 0, false };
    int64_t t0 = jobs__now_ms();
    rc = jobs__index(j, r->ns, arr, (size_t)first, &b, o, defer_ms);
    o->ms = jobs__now_ms() - t0;
    o->tokens = (uint64_t)tokens;
    cJSON_Delete(g);
    return rc;
}

/* Sleep ms unless the service stops first; false when it stops. */
static bool jobs__pause(jobs_t *j, int64_t ms)
{
    struct timespec ts = jobs__deadline(ms);
    pthread_mutex_lock(&j->mu);
    while (!j->stop && pthread_cond_timedwait(&j->cv, &j->mu, &ts) != ETIMEDOUT) {
    }
    bool go = !j->stop;
    pthread_mutex_unlock(&j->mu);
    return go;
}

/* Write o into the record (a finished one gets the retention as its ttl) and
 * count what this instance did. */
static int jobs__record_outcome(jobs_t *j, const char *id, jobs_outcome *o)
{
    o->retention_ms = j->o.retention_ms;
    jobs_record r;
    jobs_record_init(&r);
    int rc = jobs__update(j, id, jobs__apply, o, &r);
    if (rc == 0 && !o->start_only) {
        metrics_inc(&j->c.docs_done, o->done);
        metrics_inc(&j->c.docs_failed, o->failed);
        metrics_inc(&j->c.tokens_done, o->tokens);
        metrics_inc(&j->c.groups, 1);
        if (o->finished_here)
            jobs__count_finished(j, &r);
    }
    jobs_record_clear(&r);
    return rc;
}

/* One turn on job id. */
static int jobs__step(jobs_t *j, const char *id, int64_t *defer_ms)
{
    int rc = jobs__lease(j, id);
    if (rc == RAGD_ECONFLICT)
        return STEP_LOST;
    jobs_record r;
    if (rc == 0)
        rc = jobs__load(j, id, &r);
    if (rc == RAGD_ENOTFOUND || rc == RAGD_EFORMAT) {
        if (rc == RAGD_EFORMAT)
            log_msg(LOG_WARN, "jobs: the record of %s is damaged: it is left alone", id);
        jobs__lease_release(j, id);
        return STEP_DONE;
    }
    if (rc) {
        *defer_ms = JOBS_RETRY_MS;
        return STEP_DEFER;
    }
    int step = STEP_AGAIN;
    jobs_outcome o = { .group = r.next_group };
    if (jobs_state_terminal(r.state) || r.next_group >= r.groups_total) {
        step = STEP_DONE;
    } else {
        if (r.state == JOBS_ENQUEUED) {
            jobs_outcome s = { .start_only = true };
            jobs__record_outcome(j, id, &s);
        }
        if (j->o.group_delay_ms > 0 && !jobs__pause(j, j->o.group_delay_ms))
            step = STEP_DEFER; /* stopping: the group stays for the next start */
        else if (jobs__run_group(j, &r, &o, defer_ms))
            step = STEP_DEFER;
        else if ((rc = jobs__record_outcome(j, id, &o)) && rc != RAGD_EEXISTS)
            step = rc == RAGD_ENOTFOUND ? STEP_DONE : STEP_DEFER, *defer_ms = JOBS_RETRY_MS;
        else if (o.final)
            step = STEP_DONE;
    }
    if (step == STEP_DONE) {
        jobs__drop_groups(j, id);
        jobs__lease_release(j, id);
    }
    cJSON_Delete(o.errors);
    jobs_record_clear(&r);
    return step;
}

/* ---- the pool ---- */

/* Find unfinished jobs in the store (through its index of jobs). On a store of this process alone, leases
 * left by a previous run (killed) are stale: they are removed at start. */
static void jobs__scan(jobs_t *j)
{
    jobs_record *recs;
    size_t n;
    if (jobs__index_records(j, &recs, &n))
        return;
    pthread_mutex_lock(&j->mu);
    bool shared = store_has(j->o.store, STORE_CAP_SHARED), first = !j->scanned;
    pthread_mutex_unlock(&j->mu);
    for (size_t i = 0; i < n; i++) {
        const jobs_record *r = &recs[i];
        if (!jobs_state_terminal(r->state)) {
            if (first && !shared) {
                buf_t k = BUF_INIT;
                jobs__key_lease(&k, r->id);
                store_del(j->o.store, k.data, k.len);
                buf_free(&k);
            }
            pthread_mutex_lock(&j->mu);
            jobs__enqueue_locked(j, r->id, jobs_record_owner_key(r));
            pthread_mutex_unlock(&j->mu);
        } else if (first) {
            jobs__drop_groups(j, r->id); /* left by a crash after the last group */
        }
    }
    jobs__index_records_free(recs, n);
    pthread_mutex_lock(&j->mu);
    j->scanned = true;
    pthread_mutex_unlock(&j->mu);
}

/* Is e idle and due (else *wake moves to when it is)? */
static bool jobs__ready(const jobs_entry *e, int64_t now, int64_t *wake)
{
    if (e->busy)
        return false;
    if (e->not_before_ms > now) {
        *wake = *wake < e->not_before_ms ? *wake : e->not_before_ms;
        return false;
    }
    return true;
}

/* The owner whose turn is next among the ready entries: the first key after
 * the one served last (cyclic order); NULL if no entry is ready. */
static const char *jobs__next_owner_locked(jobs_t *j, int64_t now, int64_t *wake)
{
    const char *after = NULL, *lowest = NULL;
    for (size_t i = 0; i < j->n; i++) {
        const char *o = j->e[i].owner;
        if (!jobs__ready(&j->e[i], now, wake))
            continue;
        if (!lowest || strcmp(o, lowest) < 0)
            lowest = o;
        if (strcmp(o, j->last_owner) > 0 && (!after || strcmp(o, after) < 0))
            after = o;
    }
    return after ? after : lowest;
}

/* The next entry to run: the next owner in turn, and of its ready jobs the
 * one served longest ago; NULL if none is ready. */
static jobs_entry *jobs__pick_locked(jobs_t *j, int64_t now, int64_t *wake)
{
    const char *owner = jobs__next_owner_locked(j, now, wake);
    if (!owner)
        return NULL;
    jobs_entry *best = NULL;
    for (size_t i = 0; i < j->n; i++) {
        jobs_entry *e = &j->e[i];
        if (!strcmp(e->owner, owner) && jobs__ready(e, now, wake) &&
            (!best || e->turn < best->turn))
            best = e;
    }
    best->turn = ++j->turns;
    memcpy(j->last_owner, best->owner, sizeof j->last_owner);
    return best;
}

static void jobs__wait_locked(jobs_t *j, int64_t until_ms)
{
    int64_t ms = until_ms - jobs__now_ms();
    if (ms <= 0)
        return;
    struct timespec ts = jobs__deadline(ms);
    pthread_cond_timedwait(&j->cv, &j->mu, &ts);
}

/* After a turn: the entry of id is updated or removed. Caller holds mu. */
static void jobs__after_locked(jobs_t *j, const char *id, int step, int64_t defer_ms)
{
    for (size_t i = 0; i < j->n; i++) {
        jobs_entry *e = &j->e[i];
        if (strcmp(e->id, id))
            continue;
        e->busy = false;
        if (step == STEP_DONE || step == STEP_LOST) {
            j->e[i] = j->e[--j->n];
            return;
        }
        e->owned = true;
        e->not_before_ms = step == STEP_DEFER ? jobs__now_ms() + defer_ms : 0;
        return;
    }
}

static void *jobs__worker(void *arg)
{
    jobs_t *j = arg;
    bool shared = store_has(j->o.store, STORE_CAP_SHARED);
    pthread_mutex_lock(&j->mu);
    while (!j->stop) {
        int64_t now = jobs__now_ms();
        if (now >= j->next_scan_ms && (shared || !j->scanned)) {
            j->next_scan_ms = now + j->o.scan_interval_ms;
            pthread_mutex_unlock(&j->mu);
            jobs__scan(j);
            pthread_mutex_lock(&j->mu);
            continue;
        }
        int64_t wake = shared ? j->next_scan_ms : now + 60000;
        jobs_entry *e = jobs__pick_locked(j, now, &wake);
        if (!e) {
            jobs__wait_locked(j, wake);
            continue;
        }
        e->busy = true;
        char id[JOBS_ID_MAX + 1];
        memcpy(id, e->id, sizeof id);
        pthread_mutex_unlock(&j->mu);
        int64_t defer_ms = 0;
        int step = jobs__step(j, id, &defer_ms);
        pthread_mutex_lock(&j->mu);
        jobs__after_locked(j, id, step, defer_ms);
    }
    pthread_mutex_unlock(&j->mu);
    return NULL;
}

int jobs__workers_start(jobs_t *j, ragd_error *err)
{
    j->threads = xcalloc((size_t)j->o.workers, sizeof *j->threads);
    for (int i = 0; i < j->o.workers; i++) {
        if (pthread_create(&j->threads[i], NULL, jobs__worker, j) != 0)
            return ragd_error_set(err, RAGD_EINTERNAL, "jobs: cannot start worker %d", i);
        j->n_threads++;
    }
    return RAGD_OK;
}

void jobs__workers_stop(jobs_t *j)
{
    pthread_mutex_lock(&j->mu);
    j->stop = true;
    pthread_cond_broadcast(&j->cv);
    pthread_cond_broadcast(&j->hb_cv);
    pthread_mutex_unlock(&j->mu);
    for (int i = 0; i < j->n_threads; i++)
        pthread_join(j->threads[i], NULL);
    free(j->threads);
    j->threads = NULL;
    for (size_t i = 0; i < j->n; i++)
        if (j->e[i].owned)
            jobs__lease_release(j, j->e[i].id);
}
