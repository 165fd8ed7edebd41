/*
 * jobs_lease.c - which instance runs a job: a lease key holding the
 * instance's id with a time to live. A turn takes (or renews) it, and a
 * heartbeat thread renews it every lease_ms / 3 while the turn runs, so a turn
 * longer than the lease (a large group, a model busy with other work) keeps
 * its job; only an instance that stopped renewing (crashed, hung, cut off from
 * the store) loses it to another once it lapses. The heartbeat only extends a
 * lease still holding this instance's id (compare-and-set), so it never takes
 * a job nor revives a lease a finished turn released.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jobs/jobs_int.h"
#include "util/clock.h"
#include "util/mem.h"

struct timespec jobs__deadline(int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

int jobs__lease(jobs_t *j, const char *id)
{
    buf_t k = BUF_INIT;
    jobs__key_lease(&k, id);
    int rc = store_set(j->o.store, k.data, k.len, j->instance, 32, j->o.lease_ms, STORE_NX);
    if (rc == RAGD_EEXISTS)
        rc = store_cas(j->o.store, k.data, k.len, j->instance, 32, j->instance, 32,
                       j->o.lease_ms, 0);
    buf_free(&k);
    return rc;
}

void jobs__lease_release(jobs_t *j, const char *id)
{
    buf_t k = BUF_INIT;
    jobs__key_lease(&k, id);
    store_cas(j->o.store, k.data, k.len, j->instance, 32, NULL, 0, 0, 0);
    buf_free(&k);
}

/* Extend id's lease if this instance holds it (a failure is left to the turn:
 * it finds out when it records its group). */
static void jobs__lease_extend(jobs_t *j, const char *id)
{
    buf_t k = BUF_INIT;
    jobs__key_lease(&k, id);
    store_cas(j->o.store, k.data, k.len, j->instance, 32, j->instance, 32, j->o.lease_ms, 0);
    buf_free(&k);
}

/* The ids of the entries whose turn is running (caller frees each and the
 * array). Caller holds mu. */
static char **jobs__busy_ids_locked(jobs_t *j, size_t *n)
{
    char **ids = xcalloc(j->n ? j->n : 1, sizeof *ids);
    *n = 0;
    for (size_t i = 0; i < j->n; i++)
        if (j->e[i].busy)
            ids[(*n)++] = xstrdup(j->e[i].id);
    return ids;
}

static void *jobs__heartbeat(void *arg)
{
    jobs_t *j = arg;
    int64_t every_ms = j->o.lease_ms / 3 > 0 ? j->o.lease_ms / 3 : 1;
    pthread_mutex_lock(&j->mu);
    while (!j->stop) {
        struct timespec ts = jobs__deadline(every_ms);
        while (!j->stop && pthread_cond_timedwait(&j->hb_cv, &j->mu, &ts) != ETIMEDOUT) {
        }
        if (j->stop)
            break;
        size_t n;
        char **ids = jobs__busy_ids_locked(j, &n);
        pthread_mutex_unlock(&j->mu);
        for (size_t i = 0; i < n; i++) {
            jobs__lease_extend(j, ids[i]);
            free(ids[i]);
        }
        free(ids);
        pthread_mutex_lock(&j->mu);
    }
    pthread_mutex_unlock(&j->mu);
    return NULL;
}

int jobs__heartbeat_start(jobs_t *j, ragd_error *err)
{
    if (pthread_create(&j->heartbeat, NULL, jobs__heartbeat, j) != 0)
        return ragd_error_set(err, RAGD_EINTERNAL, "jobs: cannot start the lease heartbeat");
    j->heartbeat_on = true;
    return RAGD_OK;
}

void jobs__heartbeat_join(jobs_t *j)
{
    if (j->heartbeat_on)
        pthread_join(j->heartbeat, NULL);
    j->heartbeat_on = false;
}
