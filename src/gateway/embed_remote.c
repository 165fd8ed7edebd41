/*
 * embed_remote.c - provider embeddings behind the embedding cache
 * (embed_remote.h): the registry of per-model caches, the single-flight table
 * of texts being embedded, the blocking provider call with retries and the
 * circuit breaker, parsing the answer, and learning a model's dimension.
 */
#include "gateway/embed_remote.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gateway_int.h"
#include "util/clock.h"
#include "util/hash.h"
#include "util/json.h"
#include "util/mem.h"

/* One text being embedded by a provider call; every concurrent miss of the
 * same text waits for it. refs: the texts (of any caller) waiting for it. */
typedef struct gw_emb_flight {
    uint8_t key[HASH_SHA256_LEN];
    bool done;
    int rc, ntokens;
    int refs;
    float *vec;
    struct gw_emb_flight *next;
} gw_emb_flight;

/* One provider model and its cache. */
typedef struct gw_remote_emb {
    gateway_t *gw;
    gw_provider *prov;
    char *model;
    size_t dim;
    embcache_t *ec;
    pthread_mutex_t mu;          /* guards flights and their fields */
    pthread_cond_t cv;           /* a flight is done */
    gw_emb_flight *flights;      /* in flight (not yet done) */
    struct gw_remote_emb *next;
} gw_remote_emb;

struct gw_remote_embs {
    pthread_mutex_t mu;          /* guards the list */
    gw_remote_emb *head;
    uint64_t calls, texts;       /* relaxed atomics */
};

static const struct { const char *model; size_t dim; } gw__known_dims[] = {
    { "text-embedding-3-small", 1536 },
    { "text-embedding-3-large", 3072 },
    { "text-embedding-ada-002", 1536 },
};

size_t gw_remote_known_dim(const char *model)
{
    for (size_t i = 0; i < sizeof gw__known_dims / sizeof gw__known_dims[0]; i++)
        if (!strcmp(gw__known_dims[i].model, model))
            return gw__known_dims[i].dim;
    return 0;
}

gw_remote_embs *gw_remote_embs_create(void)
{
    gw_remote_embs *r = xcalloc(1, sizeof *r);
    pthread_mutex_init(&r->mu, NULL);
    return r;
}

void gw_remote_embs_destroy(gw_remote_embs *r)
{
    if (!r)
        return;
    for (gw_remote_emb *e = r->head, *nx; e; e = nx) {
        nx = e->next;
        embcache_destroy(e->ec);
        pthread_mutex_destroy(&e->mu);
        pthread_cond_destroy(&e->cv);
        free(e->model);
        free(e);
    }
    pthread_mutex_destroy(&r->mu);
    free(r);
}

void gw_remote_embs_counts(const gw_remote_embs *r, uint64_t *calls, uint64_t *texts)
{
    *calls = __atomic_load_n(&r->calls, __ATOMIC_RELAXED);
    *texts = __atomic_load_n(&r->texts, __ATOMIC_RELAXED);
}

/* ---- one blocking call through the client thread ---------------------------- */

typedef struct gw_wait {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    int status, rc;
    int64_t retry_after_ms;
    buf_t body;
    char msg[160];
} gw_wait;

static void gw__w_head(void *ud, int status, const char *ct, int64_t retry_after_ms)
{
    gw_wait *w = ud;
    w->status = status;
    w->retry_after_ms = retry_after_ms;
}

static void gw__w_data(void *ud, const char *data, size_t n)
{
    gw_wait *w = ud;
    if (w->body.len + n <= GW_MAX_BODY)
        buf_append(&w->body, data, n);
}

static void gw__w_done(void *ud, int rc, const char *msg)
{
    gw_wait *w = ud;
    pthread_mutex_lock(&w->mu);
    w->rc = rc;
    snprintf(w->msg, sizeof w->msg, "%s", msg ? msg : "");
    w->done = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* POST body to the provider's /embeddings and wait; w holds the answer. */
static void gw__post_wait(gateway_t *gw, const gw_provider *p, const buf_t *body, gw_wait *w)
{
    char url[1024];
    snprintf(url, sizeof url, "%s/embeddings", p->base_url);
    memset(w, 0, sizeof *w);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    w->retry_after_ms = -1;
    gw_call_cbs cbs = { w, gw__w_head, gw__w_data, gw__w_done };
    /* on the caller's thread: its request's trace (the leader's, for texts
     * that concurrent requests share) */
    gw_client_call(gw->client, url, p->api_key, body->data, body->len, p->timeout_ms,
                   http_trace_current(), &cbs);
    pthread_mutex_lock(&w->mu);
    while (!w->done)
        pthread_cond_wait(&w->cv, &w->mu);
    pthread_mutex_unlock(&w->mu);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
}

/* The provider's answer into out[n * dim] and per-text tokens. */
static int gw__parse(const gw_remote_emb *e, const buf_t *body, size_t n, const size_t *lens,
                     float *out, int *ntokens, int64_t *usage, ragd_error *err)
{
    cJSON *v = cJSON_ParseWithLength(body->data ? body->data : "", body->len);
    const cJSON *data = json_get_arr(v, "data");
    int rc = data && (size_t)cJSON_GetArraySize(data) == n ? 0 : RAGD_EFORMAT;
    bool *seen = xcalloc(n ? n : 1, sizeof *seen);
    for (const cJSON *d = data ? data->child : NULL; !rc && d; d = d->next) {
        int64_t idx = -1;
        const cJSON *emb = json_get_arr(d, "embedding");
        json_get_int(d, "index", 0, (int64_t)n - 1, &idx);
        if (idx < 0 || seen[idx] || !emb || (size_t)cJSON_GetArraySize(emb) != e->dim) {
            rc = RAGD_EFORMAT;
            break;
        }
        seen[idx] = true;
        size_t j = 0;
        for (const cJSON *x = emb->child; x; x = x->next)
            out[(size_t)idx * e->dim + j++] = cJSON_IsNumber(x) ? (float)x->valuedouble : 0.0f;
    }
    *usage = 0;
    json_get_int(json_get_obj(v, "usage"), "prompt_tokens", 0, INT64_MAX, usage);
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += lens[i];
    for (size_t i = 0; ntokens && i < n; i++)  /* the provider counts per call: share it */
        ntokens[i] = total ? (int)((double)*usage * (double)lens[i] / (double)total + 0.5) : 0;
    free(seen);
    cJSON_Delete(v);
    if (rc)
        ragd_error_set(err, rc, "provider %s: the embeddings answer for %s is not %zu vectors "
                       "of %zu dimensions", e->prov->name, e->model, n, e->dim);
    return rc;
}

static void gw__request_body(const gw_remote_emb *e, const char *const *texts, const size_t *lens,
                             size_t n, buf_t *b)
{
    buf_puts(b, "{\"model\":");
    buf_put_json_str(b, e->model, strlen(e->model));
    buf_puts(b, ",\"input\":[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            buf_putc(b, ',');
        buf_put_json_str(b, texts[i], lens[i]);
    }
    buf_puts(b, "],\"encoding_format\":\"float\"}");
}

/* n texts in one provider call, retried on 429/5xx and connection failures
 * (backoff with jitter, Retry-After honoured), refused while the provider's
 * circuit is open (RAGD_EUNAVAIL); a failure is RAGD_EUPSTREAM. */
static int gw__call(gw_remote_emb *e, const char *const *texts, const size_t *lens, size_t n,
                    float *out, int *ntokens)
{
    gateway_t *gw = e->gw;
    buf_t body = BUF_INIT;
    gw__request_body(e, texts, lens, n, &body);
    uint64_t rng = (uint64_t)clock_mono_ns() | 1;
    int rc = RAGD_EIO;
    for (int attempt = 0; attempt <= gw->retries; attempt++) {
        if (!gw_breaker_allow(&e->prov->breaker, clock_mono_us())) {
            __atomic_add_fetch(&gw->breaker_rejects, 1, __ATOMIC_RELAXED);
            rc = RAGD_EUNAVAIL;
            break;
        }
        gw_wait w;
        int64_t t0 = clock_mono_us();
        gw__post_wait(gw, e->prov, &body, &w);
        gw_account_timing(gw->acct, e->model, clock_mono_us() - t0, -1);
        __atomic_add_fetch(&gw->embs->calls, 1, __ATOMIC_RELAXED);
        __atomic_add_fetch(&gw->embs->texts, n, __ATOMIC_RELAXED);
        bool failed = w.rc != 0 || gw_status_retryable(w.status);
        gw_breaker_record(&e->prov->breaker, !failed, clock_mono_us());
        int64_t usage = 0;
        ragd_error err = { 0 };
        rc = failed || w.status != 200 ? RAGD_EUPSTREAM
             : gw__parse(e, &w.body, n, lens, out, ntokens, &usage, &err);
        gw_account_upstream(gw->acct, e->model, rc == 0, usage, 0);
        buf_free(&w.body);
        if (!failed || attempt == gw->retries)
            break;
        __atomic_add_fetch(&gw->retries_done, 1, __ATOMIC_RELAXED);
        clock_sleep_ms(gw_backoff_ms(attempt + 1, gw->retry_base_ms, gw->retry_max_ms,
                                     w.retry_after_ms, &rng));
    }
    buf_free(&body);
    return rc == RAGD_EFORMAT ? RAGD_EUPSTREAM : rc;
}

/* ---- single-flight ------------------------------------------------------------ */

/* Join the flight of text i (or start one, marking mine[i]). Caller holds e->mu. */
static gw_emb_flight *gw__flight_join(gw_remote_emb *e, const char *text, size_t len, bool *mine)
{
    uint8_t key[HASH_SHA256_LEN];
    hash_sha256(text, len, key);
    gw_emb_flight *f = e->flights;
    while (f && memcmp(f->key, key, sizeof key))
        f = f->next;
    *mine = !f;
    if (!f) {
        f = xcalloc(1, sizeof *f);
        memcpy(f->key, key, sizeof key);
        f->next = e->flights;
        e->flights = f;
    }
    f->refs++;
    return f;
}

/* Finish the flights this caller started: results in, out of the table,
 * waiters woken. Caller holds e->mu. */
static void gw__flights_land(gw_remote_emb *e, gw_emb_flight **mine, size_t m, int rc,
                             const float *vecs, const int *ntok)
{
    for (size_t j = 0; j < m; j++) {
        gw_emb_flight *f = mine[j];
        f->rc = rc;
        if (!rc) {
            f->vec = xmalloc(e->dim * sizeof *f->vec);
            memcpy(f->vec, vecs + j * e->dim, e->dim * sizeof *f->vec);
            f->ntokens = ntok[j];
        }
        f->done = true;
        gw_emb_flight **pp = &e->flights;
        while (*pp != f)
            pp = &(*pp)->next;
        *pp = f->next;
    }
    pthread_cond_broadcast(&e->cv);
}

/* embcache's compute: each missed text joins the flight already embedding it
 * or starts one; the started ones go to the provider in one call, then every
 * text takes its flight's vector. The local model's scheduling class (work)
 * does not apply to a provider. */
static int gw__compute(void *ud, const embed_work *work, const char *const *texts,
                       const size_t *lens, size_t n, float *out, int *ntokens, bool *truncated)
{
    (void)work;
    gw_remote_emb *e = ud;
    gw_emb_flight **fl = xmalloc(n * sizeof *fl), **mine = xmalloc(n * sizeof *mine);
    const char **mt = xmalloc(n * sizeof *mt);
    size_t *ml = xmalloc(n * sizeof *ml), m = 0;
    pthread_mutex_lock(&e->mu);
    for (size_t i = 0; i < n; i++) {
        bool started;
        fl[i] = gw__flight_join(e, texts[i], lens[i], &started);
        if (started) {
            mine[m] = fl[i];
            mt[m] = texts[i];
            ml[m++] = lens[i];
        }
    }
    pthread_mutex_unlock(&e->mu);
    float *mv = m ? xmalloc(m * e->dim * sizeof *mv) : NULL;
    int *mnt = xmalloc((m ? m : 1) * sizeof *mnt);
    int rc = m ? gw__call(e, mt, ml, m, mv, mnt) : RAGD_OK;
    pthread_mutex_lock(&e->mu);
    gw__flights_land(e, mine, m, rc, mv, mnt);
    for (size_t i = 0; i < n; i++) {
        gw_emb_flight *f = fl[i];
        while (!f->done)
            pthread_cond_wait(&e->cv, &e->mu);
        if (f->rc && !rc)
            rc = f->rc;
        if (!f->rc) {
            memcpy(out + i * e->dim, f->vec, e->dim * sizeof *out);
            ntokens[i] = f->ntokens;
        }
        if (--f->refs == 0) {
            free(f->vec);
            free(f);
        }
        truncated[i] = false;
    }
    pthread_mutex_unlock(&e->mu);
    free(mv);
    free(mnt);
    free(fl);
    free(mine);
    free(mt);
    free(ml);
    return rc;
}

/* ---- the registry ------------------------------------------------------------ */

/* The provider's configured dimension of model, else the built-in one. */
static size_t gw__dim(const gw_provider *p, const char *model)
{
    int64_t d = 0;
    if (p->dims && json_get_int(p->dims, model, 1, 65536, &d) == 0)
        return (size_t)d;
    return gw_remote_known_dim(model);
}

/* Ask the provider for one embedding of a probe text: its length is the
 * model's dimension. */
static int gw__probe_dim(gateway_t *gw, gw_provider *p, const char *model, size_t *dim,
                         ragd_error *err)
{
    buf_t body = BUF_INIT;
    buf_puts(&body, "{\"model\":");
    buf_put_json_str(&body, model, strlen(model));
    buf_puts(&body, ",\"input\":[\"dimension probe\"],\"encoding_format\":\"float\"}");
    gw_wait w;
    gw__post_wait(gw, p, &body, &w);
    buf_free(&body);
    __atomic_add_fetch(&gw->embs->calls, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&gw->embs->texts, 1, __ATOMIC_RELAXED);
    cJSON *v = w.rc == 0 && w.status == 200
                   ? cJSON_ParseWithLength(w.body.data ? w.body.data : "", w.body.len) : NULL;
    const cJSON *data = json_get_arr(v, "data");
    const cJSON *emb = data ? json_get_arr(data->child, "embedding") : NULL;
    int n = emb ? cJSON_GetArraySize(emb) : 0;
    cJSON_Delete(v);
    buf_free(&w.body);
    if (n < 1 || n > 65536)
        return ragd_error_set(err, RAGD_EUPSTREAM, "provider %s did not embed a probe text "
                              "with '%s' (HTTP %d): its dimension is unknown", p->name, model,
                              w.status);
    *dim = (size_t)n;
    return RAGD_OK;
}

/* A new model entry of dimension dim (r->mu held). */
static gw_remote_emb *gw__emb_new(gateway_t *gw, gw_provider *p, const char *model, size_t dim)
{
    gw_remote_embs *r = gw->embs;
    gw_remote_emb *e = xcalloc(1, sizeof *e);
    e->gw = gw;
    e->prov = p;
    e->model = xstrdup(model);
    e->dim = dim;
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->cv, NULL);
    embcache_create(gw->cache, e->model, dim, gw->emb_ttl_s, gw__compute, e, &e->ec);
    e->next = r->head;
    r->head = e;
    return e;
}

/* The entry of model (created with its dimension: configured, known, want,
 * or - learn set and want 0 - the provider's). r->mu held. */
static int gw__emb_find(gateway_t *gw, const char *model, size_t want, bool learn,
                        gw_remote_emb **out, ragd_error *err)
{
    gw_remote_emb *e = gw->embs->head;
    while (e && strcmp(e->model, model))
        e = e->next;
    if (!e) {
        gw_provider *p = gw_upstreams_route(&gw->ups, model);
        if (!p)
            return ragd_error_set(err, RAGD_ENOTFOUND, "no provider serves the embedding model "
                                  "'%s'", model);
        size_t dim = gw__dim(p, model);
        int rc = RAGD_OK;
        if (!dim && learn && !(dim = want))
            rc = gw__probe_dim(gw, p, model, &dim, err);
        if (rc)
            return rc;
        if (!dim)
            return ragd_error_set(err, RAGD_EINVAL, "the dimension of '%s' is unknown: set it "
                                  "in the provider's \"dimensions\" in the config file", model);
        e = gw__emb_new(gw, p, model, dim);
    }
    if (want && want != e->dim)
        return ragd_error_set(err, RAGD_EINVAL, "'%s' gives %zu dimensions, not %zu", model,
                              e->dim, want);
    *out = e;
    return RAGD_OK;
}

int gateway_embedder(gateway_t *gw, const char *model, embcache_t **out, ragd_error *err)
{
    gw_remote_emb *e = NULL;
    pthread_mutex_lock(&gw->embs->mu);
    int rc = gw__emb_find(gw, model, 0, false, &e, err);
    pthread_mutex_unlock(&gw->embs->mu);
    if (!rc)
        *out = e->ec;
    return rc;
}

int gateway_embedder_dim(gateway_t *gw, const char *model, size_t dim, embcache_t **out,
                         ragd_error *err)
{
    gw_remote_emb *e = NULL;
    pthread_mutex_lock(&gw->embs->mu);
    int rc = gw__emb_find(gw, model, dim, true, &e, err);
    pthread_mutex_unlock(&gw->embs->mu);
    if (!rc)
        *out = e->ec;
    return rc;
}
