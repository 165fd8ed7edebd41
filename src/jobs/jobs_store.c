/*
 * jobs_store.c - where jobs live in the store: their key names (one hash tag
 * per job), reading a record, the compare-and-set read-modify-write every
 * change of a record goes through (workers on many instances and a cancel may
 * race; none overwrites another), and the in-memory list of unfinished jobs the workers take turns on.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobs/jobs_int.h"
#include "util/mem.h"

void jobs__key_meta(buf_t *b, const char *id)
{
    buf_printf(b, "job:{%s}:meta", id);
}

void jobs__key_group(buf_t *b, const char *id, uint32_t g)
{
    buf_printf(b, "job:{%s}:d:%u", id, g);
}

void jobs__key_lease(buf_t *b, const char *id)
{
    buf_printf(b, "job:{%s}:lease", id);
}

int jobs__load(jobs_t *j, const char *id, jobs_record *r)
{
    return jobs__load_from(j->o.store, id, r);
}

int jobs__load_from(store_t *st, const char *id, jobs_record *r)
{
    buf_t k = BUF_INIT;
    jobs__key_meta(&k, id);
    store_value v;
    int rc = store_get(st, k.data, k.len, &v);
    buf_free(&k);
    if (rc)
        return rc;
    rc = jobs_record_decode(v.data, v.len, r);
    store_value_free(&v);
    return rc;
}

int jobs__update(jobs_t *j, const char *id, jobs_update_fn fn, void *ud, jobs_record *out)
{
    buf_t k = BUF_INIT;
    jobs__key_meta(&k, id);
    int rc = RAGD_ECONFLICT;
    bool raced = true;
    for (int attempt = 0; attempt < 100 && raced; attempt++) {
        store_value v;
        raced = false;
        if ((rc = store_get(j->o.store, k.data, k.len, &v)))
            break;
        jobs_record r;
        rc = jobs_record_decode(v.data, v.len, &r);
        int64_t ttl = 0;
        if (rc == 0 && (rc = fn(&r, ud, &ttl)) == 0) {
            buf_t enc = BUF_INIT;
            jobs_record_encode(&r, &enc);
            rc = store_cas(j->o.store, k.data, k.len, v.data, v.len, enc.data, enc.len, ttl, 0);
            raced = rc == RAGD_ECONFLICT;
            buf_free(&enc);
        }
        store_value_free(&v);
        if (!raced && out)
            *out = r;
        else
            jobs_record_clear(&r);
    }
    buf_free(&k);
    return rc;
}

void jobs__drop_groups(jobs_t *j, const char *id)
{
    char pat[64];
    snprintf(pat, sizeof pat, "job:{%s}:d:*", id);
    uint64_t n;
    store_del_pattern(j->o.store, pat, &n);
}

void jobs__enqueue_locked(jobs_t *j, const char *id, const char *owner)
{
    for (size_t i = 0; i < j->n; i++)
        if (!strcmp(j->e[i].id, id))
            return;
    if (j->n == j->cap) {
        j->cap = j->cap ? j->cap * 2 : 16;
        j->e = xrealloc(j->e, j->cap * sizeof *j->e);
    }
    jobs_entry *e = &j->e[j->n++];
    memset(e, 0, sizeof *e);
    snprintf(e->id, sizeof e->id, "%s", id);
    snprintf(e->owner, sizeof e->owner, "%s", owner ? owner : "");
    e->turn = j->turns; /* a new job waits behind the owner's jobs not served since */
    pthread_cond_broadcast(&j->cv);
}
