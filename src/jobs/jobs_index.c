/*
 * jobs_index.c - the index of every stored job (one store key, "jobs:index",
 * entries "<id> <wall ms it was added>"), so that counting and listing jobs
 * (/health, /metrics, GET /api/v1/jobs, the workers' look for unfinished jobs)
 * reads the index and the jobs' records, O(jobs), instead of scanning the
 * whole keyspace of a shared Redis.
 *
 * A job's keys share its own hash tag, so on Redis Cluster the index and a
 * record live in different slots and cannot change in one atomic write. The
 * order makes that safe, as for the namespace registry (kb_reg.c): a submit
 * adds the id first and writes the record after, so the index only ever names
 * too many. Readers skip ids without a record; such an id (a finished job
 * whose retention ended, a submit that failed after adding it) is removed once
 * it is older than a grace period, by which time a submit in progress has
 * written its record. A store without the index key (written by an older
 * ragd, or the key was lost) is seeded once by a scan.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobs/jobs_int.h"
#include "util/clock.h"
#include "util/mem.h"

#define JOBS_INDEX_KEY "jobs:index"
#define JOBS_INDEX_HEAD "ragd-jobs-index 1\n" /* never empty: a CAS compares values */
#define JOBS_INDEX_BATCH 256                  /* records read per round trip */

/* One entry of an index value. */
typedef struct jobs_ix {
    char id[JOBS_ID_MAX + 1];
    int64_t added_ms;
} jobs_ix;

/* Parse an index value into *out (caller frees); malformed lines are skipped. */
static size_t jobs__ix_parse(const char *v, size_t len, jobs_ix **out)
{
    size_t n = 0, cap = 0;
    jobs_ix *e = NULL;
    const char *p = v, *end = v + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl ? nl : end;
        const char *sp = memchr(p, ' ', (size_t)(eol - p));
        size_t idlen = sp ? (size_t)(sp - p) : 0;
        if (sp && idlen > 4 && idlen <= JOBS_ID_MAX && !memcmp(p, "job_", 4)) {
            if (n == cap) {
                cap = cap ? cap * 2 : 64;
                e = xrealloc(e, cap * sizeof *e);
            }
            memcpy(e[n].id, p, idlen);
            e[n].id[idlen] = '\0';
            e[n].added_ms = strtoll(sp + 1, NULL, 10);
            n++;
        }
        p = eol + 1;
    }
    *out = e;
    return n;
}

static void jobs__ix_append(buf_t *b, const char *id, int64_t added_ms)
{
    buf_printf(b, "%s %lld\n", id, (long long)added_ms);
}

/* Scan callback: the ids of job:{<id>}:meta keys into an index value. */
static int jobs__ix_seed_key(void *ud, const char *key, size_t klen, const void *val, size_t vlen)
{
    (void)val;
    (void)vlen;
    if (klen < 11 || memcmp(key, "job:{", 5) || memcmp(key + klen - 6, "}:meta", 6) ||
        klen - 11 > JOBS_ID_MAX)
        return 0;
    char id[JOBS_ID_MAX + 1];
    memcpy(id, key + 5, klen - 11);
    id[klen - 11] = '\0';
    jobs__ix_append(ud, id, clock_wall_ms());
    return 0;
}

/* Create the index from one scan of the store (only while the key is missing:
 * another instance seeding first wins, which is as good). */
static int jobs__ix_seed(jobs_t *j)
{
    buf_t v = BUF_INIT;
    buf_puts(&v, JOBS_INDEX_HEAD);
    int rc = store_scan(j->o.store, "job:", 4, false, jobs__ix_seed_key, &v);
    if (rc == 0)
        rc = store_cas(j->o.store, JOBS_INDEX_KEY, strlen(JOBS_INDEX_KEY), NULL, 0, v.data,
                       v.len, 0, 0);
    buf_free(&v);
    return rc == RAGD_ECONFLICT ? 0 : rc;
}

/* The index value into *v, seeding it first when the key is missing. */
static int jobs__ix_read(jobs_t *j, store_value *v)
{
    int rc = store_get(j->o.store, JOBS_INDEX_KEY, strlen(JOBS_INDEX_KEY), v);
    if (rc == RAGD_ENOTFOUND && (rc = jobs__ix_seed(j)) == 0)
        rc = store_get(j->o.store, JOBS_INDEX_KEY, strlen(JOBS_INDEX_KEY), v);
    return rc;
}

/* Order of ids (char *), for sorting and searching the ids to drop. */
static int jobs__ix_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Rewrite the index by compare-and-set, retried on conflict: every entry but
 * those in drop (sorted, ndrop ids), plus add (NULL = none) if it is new. */
static int jobs__ix_rewrite(jobs_t *j, const char *add, char **drop, size_t ndrop)
{
    int rc = RAGD_ECONFLICT;
    for (int attempt = 0; attempt < 100 && rc == RAGD_ECONFLICT; attempt++) {
        store_value cur;
        if ((rc = jobs__ix_read(j, &cur)))
            return rc;
        jobs_ix *e;
        size_t n = jobs__ix_parse(cur.data, cur.len, &e);
        buf_t next = BUF_INIT;
        buf_puts(&next, JOBS_INDEX_HEAD);
        bool have = false;
        for (size_t i = 0; i < n; i++) {
            const char *id = e[i].id;
            have |= add && !strcmp(id, add);
            if (!ndrop || !bsearch(&id, drop, ndrop, sizeof *drop, jobs__ix_cmp))
                jobs__ix_append(&next, id, e[i].added_ms);
        }
        if (add && !have)
            jobs__ix_append(&next, add, clock_wall_ms());
        rc = next.len == cur.len && !memcmp(next.data, cur.data, cur.len)
                 ? 0
                 : store_cas(j->o.store, JOBS_INDEX_KEY, strlen(JOBS_INDEX_KEY), cur.data,
                             cur.len, next.data, next.len, 0, 0);
        buf_free(&next);
        free(e);
        store_value_free(&cur);
    }
    return rc;
}

int jobs__index_add(jobs_t *j, const char *id)
{
    return jobs__ix_rewrite(j, id, NULL, 0);
}

/* Read the records of e[0..n) into recs (appending to *m); ids without a
 * record older than the grace period go to *gone (appending to *ngone). */
static int jobs__ix_load(jobs_t *j, const jobs_ix *e, size_t n, int64_t now, jobs_record *recs,
                         size_t *m, char **gone, size_t *ngone)
{
    buf_t keys[JOBS_INDEX_BATCH];
    const char *kp[JOBS_INDEX_BATCH] = { 0 };
    size_t kl[JOBS_INDEX_BATCH] = { 0 };
    store_value vals[JOBS_INDEX_BATCH];
    int rcs[JOBS_INDEX_BATCH];
    for (size_t i = 0; i < n; i++) {
        keys[i] = (buf_t)BUF_INIT;
        jobs__key_meta(&keys[i], e[i].id);
        kp[i] = keys[i].data;
        kl[i] = keys[i].len;
    }
    int rc = store_get_many(j->o.store, kp, kl, n, vals, rcs);
    for (size_t i = 0; i < n; i++) {
        buf_free(&keys[i]);
        if (rc)
            continue;
        if (rcs[i] == 0) {
            if (jobs_record_decode(vals[i].data, vals[i].len, &recs[*m]) == 0)
                (*m)++;
            store_value_free(&vals[i]);
        } else if (rcs[i] == RAGD_ENOTFOUND && now - e[i].added_ms > j->index_grace_ms) {
            gone[(*ngone)++] = xstrdup(e[i].id);
        } else if (rcs[i] != RAGD_ENOTFOUND) {
            rc = rcs[i];
        }
    }
    return rc;
}

int jobs__index_records(jobs_t *j, jobs_record **out, size_t *nout)
{
    *out = NULL;
    *nout = 0;
    store_value v;
    int rc = jobs__ix_read(j, &v);
    if (rc)
        return rc;
    jobs_ix *e;
    size_t n = jobs__ix_parse(v.data, v.len, &e), m = 0, ngone = 0;
    store_value_free(&v);
    jobs_record *recs = xcalloc(n ? n : 1, sizeof *recs);
    char **gone = xcalloc(n ? n : 1, sizeof *gone);
    int64_t now = clock_wall_ms();
    for (size_t i = 0; i < n && !rc; i += JOBS_INDEX_BATCH)
        rc = jobs__ix_load(j, e + i, n - i < JOBS_INDEX_BATCH ? n - i : JOBS_INDEX_BATCH, now,
                           recs, &m, gone, &ngone);
    if (!rc && ngone) {
        qsort(gone, ngone, sizeof *gone, jobs__ix_cmp);
        jobs__ix_rewrite(j, NULL, gone, ngone); /* best effort: the next reader retries */
    }
    for (size_t i = 0; i < ngone; i++)
        free(gone[i]);
    free(gone);
    free(e);
    if (rc) {
        jobs__index_records_free(recs, m);
        return rc;
    }
    *out = recs;
    *nout = m;
    return 0;
}

void jobs__index_records_free(jobs_record *recs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        jobs_record_clear(&recs[i]);
    free(recs);
}
