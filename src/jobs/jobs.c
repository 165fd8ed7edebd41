/*
 * jobs.c - the job service's front: create and destroy it, accept a batch
 * (validate, split into groups, write the record and the groups in one atomic
 * store batch, queue), read one job or a filtered list, cancel.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "jobs/jobs_int.h"
#include "util/clock.h"
#include "util/hash.h"
#include "util/json.h"
#include "util/mem.h"

void jobs_default_opts(jobs_opts *o)
{
    *o = (jobs_opts){ .workers = 1, .retention_ms = 7LL * 86400 * 1000, .lease_ms = 30000,
                      .group_docs = 32, .group_tokens = 8192, .max_docs = 100000,
                      .scan_interval_ms = 2000 };
}

static void jobs__random_hex(char *out, size_t bytes)
{
    uint8_t rnd[16];
    if (getrandom(rnd, bytes, 0) != (ssize_t)bytes) { /* never in practice: fall back */
        uint64_t x = (uint64_t)clock_mono_ns() ^ (uint64_t)clock_wall_ms() << 20;
        for (size_t i = 0; i < bytes; i++, x = x * 6364136223846793005ULL + 1442695040888963407ULL)
            rnd[i] = (uint8_t)(x >> 56);
    }
    hash_hex(rnd, bytes, out);
}

int jobs_create(const jobs_opts *o, jobs_t **out, ragd_error *err)
{
    if (!o->store || !o->kb || o->workers < 1 || o->group_docs < 1 || o->lease_ms < 100)
        return ragd_error_set(err, RAGD_EINVAL, "jobs: a store, a kb, >= 1 worker, >= 1 "
                              "document per group and a lease of >= 100 ms are needed");
    jobs_t *j = xcalloc(1, sizeof *j);
    j->o = *o;
    j->index_grace_ms = JOBS_INDEX_GRACE_MS;
    jobs__random_hex(j->instance, 16);
    pthread_mutex_init(&j->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&j->cv, &ca);
    pthread_cond_init(&j->hb_cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&j->ov_mu, NULL);
    int rc = jobs__heartbeat_start(j, err);
    if (rc == 0)
        rc = jobs__workers_start(j, err);
    if (rc) {
        jobs_destroy(j);
        return rc;
    }
    *out = j;
    return RAGD_OK;
}

void jobs_destroy(jobs_t *j)
{
    if (!j)
        return;
    jobs__workers_stop(j);
    jobs__heartbeat_join(j);
    pthread_cond_destroy(&j->cv);
    pthread_cond_destroy(&j->hb_cv);
    pthread_mutex_destroy(&j->ov_mu);
    pthread_mutex_destroy(&j->mu);
    free(j->e);
    free(j);
}

/* ---- submit ---- */

/* Append one document's JSON to b. */
static void jobs__doc_json(buf_t *b, const kb_doc_in *d)
{
    buf_puts(b, "{\"id\":");
    buf_put_json_str(b, d->id, strlen(d->id));
    buf_puts(b, ",\"text\":");
    buf_put_json_str(b, d->text, d->len);
    if (d->metadata) {
        buf_puts(b, ",\"metadata\":");
        json_write(d->metadata, b);
    }
    if (d->user_id) {
        buf_puts(b, ",\"user_id\":");
        buf_put_json_str(b, d->user_id, strlen(d->user_id));
    }
    if (d->expires_at)
        buf_printf(b, ",\"expires_at\":%lld", (long long)d->expires_at);
    buf_putc(b, '}');
}

/* Split docs into groups (at most group_docs documents and group_tokens word
 * pieces, a larger document alone) encoded as {first, tokens, documents}. */
static buf_t *jobs__groups(const jobs_t *j, const kb_doc_in *docs, size_t n, const uint64_t *tok,
                           uint32_t *ng)
{
    buf_t *g = NULL;
    size_t cnt = 0, in = 0;
    uint64_t tokens = 0;
    for (size_t i = 0; i < n; i++) {
        bool fresh = cnt == 0 || in >= j->o.group_docs ||
                     (in > 0 && tokens + tok[i] > j->o.group_tokens);
        if (fresh) {
            if (cnt)
                buf_printf(&g[cnt - 1], "],\"tokens\":%llu}", (unsigned long long)tokens);
            g = xrealloc(g, (cnt + 1) * sizeof *g);
            g[cnt] = (buf_t)BUF_INIT;
            buf_printf(&g[cnt++], "{\"first\":%zu,\"documents\":[", i);
            in = 0;
            tokens = 0;
        } else {
            buf_putc(&g[cnt - 1], ',');
        }
        jobs__doc_json(&g[cnt - 1], &docs[i]);
        in++;
        tokens += tok[i];
    }
    if (cnt)
        buf_printf(&g[cnt - 1], "],\"tokens\":%llu}", (unsigned long long)tokens);
    *ng = (uint32_t)cnt;
    return g;
}

static void jobs__owner_copy(jobs_record *r, const jobs_owner *o)
{
    if (!o)
        return;
    snprintf(r->user, sizeof r->user, "%s", o->user_id ? o->user_id : "");
    snprintf(r->tenant, sizeof r->tenant, "%s", o->tenant ? o->tenant : "");
    snprintf(r->key_id, sizeof r->key_id, "%s", o->key_id ? o->key_id : "");
    snprintf(r->budget, sizeof r->budget, "%s", o->budget ? o->budget : "");
}

/* Write the record and its groups in one atomic batch. */
static int jobs__write_new(jobs_t *j, const jobs_record *r, const buf_t *groups)
{
    size_t nops = (size_t)r->groups_total + 1;
    store_op *ops = xcalloc(nops, sizeof *ops);
    buf_t *keys = xcalloc(nops, sizeof *keys), meta = BUF_INIT;
    jobs_record_encode(r, &meta);
    jobs__key_meta(&keys[0], r->id);
    ops[0] = (store_op){ keys[0].data, keys[0].len, meta.data, meta.len, 0, 0 };
    for (uint32_t g = 0; g < r->groups_total; g++) {
        jobs__key_group(&keys[g + 1], r->id, g);
        ops[g + 1] = (store_op){ keys[g + 1].data, keys[g + 1].len, groups[g].data,
                                 groups[g].len, 0, 0 };
    }
    int rc = store_batch(j->o.store, ops, nops);
    for (size_t i = 0; i < nops; i++)
        buf_free(&keys[i]);
    free(keys);
    free(ops);
    buf_free(&meta);
    return rc;
}

int jobs_submit(jobs_t *j, const char *ns, const kb_doc_in *docs, size_t n,
                const jobs_owner *owner, cJSON **job, ragd_error *err)
{
    if (n == 0)
        return ragd_error_set(err, RAGD_EINVAL, "no documents given");
    if (n > j->o.max_docs)
        return ragd_error_set(err, RAGD_ETOOBIG, "%zu documents in one job; the limit is %zu "
                              "(jobs_max_documents)", n, j->o.max_docs);
    uint64_t *tok = xcalloc(n, sizeof *tok);
    int rc = kb_docs_measure(j->o.kb, ns, docs, n, tok, err);
    if (rc) {
        free(tok);
        return rc;
    }
    jobs_record r;
    jobs_record_init(&r);
    memcpy(r.id, "job_", 4);
    jobs__random_hex(r.id + 4, 12);
    snprintf(r.ns, sizeof r.ns, "%s", ns);
    jobs__owner_copy(&r, owner);
    r.created_ms = r.updated_ms = clock_wall_ms();
    r.docs_total = n;
    for (size_t i = 0; i < n; i++)
        r.tokens_total += tok[i];
    buf_t *groups = jobs__groups(j, docs, n, tok, &r.groups_total);
    free(tok);
    rc = jobs__index_add(j, r.id); /* first: the index names too many, never too few */
    if (rc == 0)
        rc = jobs__write_new(j, &r, groups);
    for (uint32_t g = 0; g < r.groups_total; g++)
        buf_free(&groups[g]);
    free(groups);
    if (rc)
        return ragd_error_set(err, rc, "the job could not be stored: %s", ragd_strerror(rc));
    pthread_mutex_lock(&j->mu);
    jobs__enqueue_locked(j, r.id, jobs_record_owner_key(&r));
    pthread_mutex_unlock(&j->mu);
    *job = jobs_record_view(&r);
    jobs_record_clear(&r);
    return RAGD_OK;
}

/* ---- read, list, cancel ---- */

int jobs_get(jobs_t *j, const char *id, cJSON **job, char *user, char *tenant)
{
    if (!id || strlen(id) > JOBS_ID_MAX || strncmp(id, "job_", 4))
        return RAGD_ENOTFOUND;
    jobs_record r;
    int rc = jobs__load(j, id, &r);
    if (rc)
        return rc;
    *job = jobs_record_view(&r);
    if (user)
        memcpy(user, r.user, sizeof r.user);
    if (tenant)
        memcpy(tenant, r.tenant, sizeof r.tenant);
    jobs_record_clear(&r);
    return RAGD_OK;
}

static int jobs__cmp_created(const void *a, const void *b)
{
    double x = cJSON_GetObjectItem(*(cJSON *const *)a, "created_at")->valuedouble;
    double y = cJSON_GetObjectItem(*(cJSON *const *)b, "created_at")->valuedouble;
    return x < y ? 1 : x > y ? -1 : 0;
}

int jobs_list(jobs_t *j, const jobs_filter *f, cJSON **out)
{
    jobs_record *recs;
    size_t n;
    int rc = jobs__index_records(j, &recs, &n);
    if (rc)
        return rc;
    cJSON **views = xcalloc(n ? n : 1, sizeof *views);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        const jobs_record *r = &recs[i];
        if ((!f->ns || !strcmp(f->ns, r->ns)) && (f->state < 0 || f->state == r->state) &&
            (!f->visible || f->visible(f->ud, r->user, r->tenant)))
            views[m++] = jobs_record_view(r);
    }
    jobs__index_records_free(recs, n);
    if (m)
        qsort(views, m, sizeof *views, jobs__cmp_created);
    size_t limit = f->limit ? f->limit : 100;
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; i < m; i++) {
        if (i < limit)
            cJSON_AddItemToArray(arr, views[i]);
        else
            cJSON_Delete(views[i]);
    }
    free(views);
    *out = arr;
    return RAGD_OK;
}

static int jobs__cancel_fn(jobs_record *r, void *ud, int64_t *ttl_ms)
{
    const jobs_t *j = ud;
    if (!jobs_state_allows(r->state, JOBS_CANCELLED))
        return RAGD_ECONFLICT;
    r->state = JOBS_CANCELLED;
    r->finished_ms = r->updated_ms = clock_wall_ms();
    *ttl_ms = j->o.retention_ms;
    return RAGD_OK;
}

int jobs_cancel(jobs_t *j, const char *id, cJSON **job)
{
    if (!id || strlen(id) > JOBS_ID_MAX || strncmp(id, "job_", 4))
        return RAGD_ENOTFOUND;
    jobs_record r;
    jobs_record_init(&r);
    int rc = jobs__update(j, id, jobs__cancel_fn, j, &r);
    if (rc && rc != RAGD_ECONFLICT) {
        jobs_record_clear(&r);
        return rc;
    }
    if (rc == 0) {
        jobs__drop_groups(j, id);
        jobs__count_finished(j, &r);
    }
    *job = jobs_record_view(&r);
    jobs_record_clear(&r);
    return rc;
}
