/*
 * sched.c - one dispatcher thread over two queues. Interactive requests wait
 * in one FIFO; each turn takes a prefix of it (at most max_batch texts, or one
 * task) into a single forward pass, waiting up to window_us for more while
 * traffic is concurrent. Bulk requests wait in per-tenant FIFOs on a ring; a
 * turn serves one micro-batch (a run of the head request's texts, sorted by
 * length at submit, of at most bulk_batch_tokens word pieces) of the tenant
 * after the one served last. Interactive work is checked before every turn,
 * and inside a bulk pass after every phase of every encoder layer: submit
 * raises ipending, the pass (on the bulk class's own workspace) finds it with
 * one relaxed load at its next phase boundary and, still on the dispatcher
 * thread, serves the interactive FIFO on the interactive workspace (a
 * preemption), then goes on with its next phase. Requests live on their
 * callers' stacks; mu guards the queues, the ring, every request's progress
 * and done flag, and the statistics; parked_us is the dispatcher's own.
 */
#include "embed/sched.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "embed/embed_int.h"
#include "util/clock.h"
#include "util/mem.h"

const embed_work embed_work_interactive = { EMBED_INTERACTIVE, NULL };

typedef struct es__tenant es__tenant;

typedef struct es__req {
    struct es__req *next;      /* in the interactive FIFO or its tenant's FIFO */
    embed_class cls;
    embed__seq *seqs;          /* NULL for a task */
    size_t n, next_seq;        /* texts; first one not yet handed to a forward */
    size_t tokens;
    int (*fn)(void *);         /* a task (embed_sched_run) */
    void *ud;
    int64_t t_submit;
    int rc;
    bool started, done;
} es__req;

struct es__tenant {
    es__tenant *next;          /* ring of tenants with queued bulk work */
    char *name;
    es__req *head, *tail;
};

struct embed_sched {
    embed_model *m;
    embed_sched_opts o;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t work_cv, done_cv;
    es__req *ihead, *itail;    /* interactive FIFO */
    size_t iqueued_texts;
    atomic_int ipending;       /* ihead != NULL, for the bulk pass's unlocked check */
    bert_workspace *ws[EMBED_NCLASSES]; /* a parked bulk pass keeps its activations */
    int64_t parked_us;         /* time bulk passes spent parked (dispatcher only) */
    es__tenant *ring;          /* the tenant served last; ring->next goes next */
    int quit;
    int64_t last_end_us;       /* when the previous interactive batch finished */
    size_t last_merged;        /* requests in it */
    embed_sched_stats st;
};

void embed_sched_default_opts(embed_sched_opts *o)
{
    memset(o, 0, sizeof *o);
    o->window_us = 1000;
    o->max_batch = 256;
    o->bulk_batch_tokens = 128;
    o->interactive_max_tokens = 4096;
}

const char *embed_class_name(embed_class c)
{
    return c == EMBED_BULK ? "bulk" : "interactive";
}

/* ---- queues (mu held) --------------------------------------------------------- */

static es__tenant *es__tenant_get(embed_sched *s, const char *name)
{
    es__tenant *t = s->ring;
    if (t) {
        do {
            if (strcmp(t->name, name) == 0)
                return t;
            t = t->next;
        } while (t != s->ring);
    }
    t = xcalloc(1, sizeof *t);
    t->name = xstrdup(name);
    if (!s->ring) {
        t->next = t;
        s->ring = t;
    } else { /* served right after the tenant served last */
        t->next = s->ring->next;
        s->ring->next = t;
    }
    s->st.tenants++;
    return t;
}

/* Unlink a tenant whose FIFO emptied and free it. */
static void es__tenant_drop(embed_sched *s, es__tenant *t)
{
    es__tenant *p = t;
    while (p->next != t)
        p = p->next;
    if (p == t) {
        s->ring = NULL;
    } else {
        p->next = t->next;
        if (s->ring == t)
            s->ring = p;
    }
    s->st.tenants--;
    free(t->name);
    free(t);
}

static void es__enqueue(embed_sched *s, es__req *r, const char *tenant)
{
    if (r->cls == EMBED_INTERACTIVE) {
        if (s->itail)
            s->itail->next = r;
        else
            s->ihead = r;
        s->itail = r;
        s->iqueued_texts += r->n ? r->n : 1;
        atomic_store_explicit(&s->ipending, 1, memory_order_relaxed);
    } else {
        es__tenant *t = es__tenant_get(s, tenant ? tenant : "");
        if (t->tail)
            t->tail->next = r;
        else
            t->head = r;
        t->tail = r;
    }
    s->st.cls[r->cls].queued++;
    s->st.cls[r->cls].queued_tokens += r->tokens;
}

/* Account a request's part of a finished forward pass. */
static void es__progress(embed_sched *s, es__req *r, size_t texts, size_t tokens, int rc)
{
    embed_sched_class_stats *c = &s->st.cls[r->cls];
    c->texts += texts;
    c->tokens += tokens;
    c->queued_tokens -= tokens;
    if (rc && !r->rc)
        r->rc = rc;
}

static void es__finish(embed_sched *s, es__req *r)
{
    embed_sched_class_stats *c = &s->st.cls[r->cls];
    c->requests++;
    c->queued--;
    if (r->next_seq < r->n) { /* cut short by an error */
        size_t left = 0;
        for (size_t i = r->next_seq; i < r->n; i++)
            left += r->seqs[i].n;
        c->queued_tokens -= left;
    }
    r->done = true;
}

static void es__started(embed_sched *s, es__req *r, int64_t now)
{
    if (r->started)
        return;
    r->started = true;
    metrics_hist_observe(&s->st.cls[r->cls].wait, now - r->t_submit);
}

/* ---- one turn ------------------------------------------------------------------ */

/* Wait (mu held) while merging more interactive requests is worth it. */
static void es__maybe_wait(embed_sched *s)
{
    int64_t now = clock_mono_us();
    if (s->o.window_us <= 0 || s->last_merged < 2 || now - s->last_end_us > s->o.window_us)
        return;
    int64_t deadline = now + s->o.window_us;
    while (!s->quit && s->iqueued_texts < s->o.max_batch && (now = clock_mono_us()) < deadline) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t ns = ts.tv_nsec + (deadline - now) * 1000;
        ts.tv_sec += ns / 1000000000;
        ts.tv_nsec = ns % 1000000000;
        pthread_cond_timedwait(&s->work_cv, &s->mu, &ts);
    }
}

static void es__serve_interactive(embed_sched *s);

/* Between two phases of a bulk pass (mu not held): serve the interactive work
 * that is waiting, if any, and go back to the pass. */
static void es__preempt(void *ud)
{
    embed_sched *s = ud;
    if (!atomic_load_explicit(&s->ipending, memory_order_relaxed))
        return;
    int64_t t0 = clock_mono_us();
    pthread_mutex_lock(&s->mu);
    if (s->ihead)
        s->st.preemptions++;
    while (s->ihead)
        es__serve_interactive(s);
    pthread_mutex_unlock(&s->mu);
    s->parked_us += clock_mono_us() - t0;
}

/* Run a forward pass or a task (mu released), report it, then take mu again
 * and record its time (without the time a bulk pass spent parked). Returns
 * the pass's result. Bulk passes are preemptible; interactive ones and tasks
 * run to the end. */
static int es__run(embed_sched *s, embed__seq *seqs, size_t n, es__req *task,
                   const embed_sched_batch *b)
{
    bool bulk = b->cls == EMBED_BULK;
    bert_run run = { s->ws[b->cls], bulk ? es__preempt : NULL, s };
    pthread_mutex_unlock(&s->mu);
    int64_t t0 = clock_mono_us(), parked0 = s->parked_us;
    int rc = task ? task->fn(task->ud) : embed__run(s->m, &run, seqs, n);
    int64_t us = clock_mono_us() - t0 - (s->parked_us - parked0);
    if (s->o.on_batch)
        s->o.on_batch(s->o.on_batch_ud, b);
    pthread_mutex_lock(&s->mu);
    metrics_hist_observe(&s->st.cls[b->cls].forward, us);
    s->st.cls[b->cls].batches++;
    return rc;
}

/* Serve a prefix of the interactive FIFO: merged encodes, or one task. */
static void es__serve_interactive(embed_sched *s)
{
    es__maybe_wait(s);
    es__req *first = s->ihead, *last = first;
    size_t k = 1, n = first->n;
    while (first->seqs && last->next && last->next->seqs && n + last->next->n <= s->o.max_batch) {
        last = last->next;
        n += last->n;
        k++;
    }
    s->ihead = last->next;
    if (!s->ihead) {
        s->itail = NULL;
        atomic_store_explicit(&s->ipending, 0, memory_order_relaxed);
    }
    last->next = NULL;
    s->iqueued_texts -= first->seqs ? n : 1;
    int64_t now = clock_mono_us();
    embed__seq *all = n ? xmalloc(n * sizeof *all) : NULL;
    size_t at = 0, tokens = 0;
    for (es__req *r = first; r; r = r->next) {
        es__started(s, r, now);
        for (size_t i = 0; i < r->n; i++) {
            all[at++] = r->seqs[i];
            tokens += r->seqs[i].n;
        }
    }
    embed_sched_batch b = { EMBED_INTERACTIVE, "", k, n, tokens, first->seqs == NULL };
    int rc = es__run(s, all, n, first->seqs ? NULL : first, &b);
    free(all);
    for (es__req *r = first, *nx; r; r = nx) {
        nx = r->next;
        r->next_seq = r->n;
        size_t rt = r->tokens;
        es__progress(s, r, r->n, rt, rc);
        es__finish(s, r);
    }
    s->last_end_us = clock_mono_us();
    s->last_merged = k;
    pthread_cond_broadcast(&s->done_cv);
}

/* Serve one micro-batch of the next tenant's head request. */
static void es__serve_bulk(embed_sched *s)
{
    es__tenant *t = s->ring->next;
    s->ring = t;
    es__req *r = t->head;
    es__started(s, r, clock_mono_us());
    size_t i = r->next_seq, j = i, tokens = 0;
    while (j < r->n && (j == i || tokens + r->seqs[j].n <= s->o.bulk_batch_tokens))
        tokens += r->seqs[j++].n;
    r->next_seq = j;
    embed_sched_batch b = { EMBED_BULK, t->name, 1, j - i, tokens, r->seqs == NULL };
    int rc = es__run(s, r->seqs ? r->seqs + i : NULL, j - i, r->seqs ? NULL : r, &b);
    es__progress(s, r, j - i, tokens, rc);
    if (r->next_seq < r->n && !r->rc)
        return;
    t->head = r->next;
    if (!t->head) {
        t->tail = NULL;
        es__tenant_drop(s, t);
    }
    es__finish(s, r);
    pthread_cond_broadcast(&s->done_cv);
}

static void *es__main(void *arg)
{
    embed_sched *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->ihead && !s->ring && !s->quit)
            pthread_cond_wait(&s->work_cv, &s->mu);
        if (s->ihead)
            es__serve_interactive(s);
        else if (s->ring)
            es__serve_bulk(s);
        else
            break; /* quit with nothing queued */
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* ---- life cycle ------------------------------------------------------------------ */

static void es__free(embed_sched *s)
{
    for (int c = 0; c < EMBED_NCLASSES; c++)
        bert_workspace_destroy(s->ws[c]);
    pthread_cond_destroy(&s->work_cv);
    pthread_cond_destroy(&s->done_cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

int embed_sched_create(embed_model *m, const embed_sched_opts *opts, embed_sched **out)
{
    embed_sched *s = xcalloc(1, sizeof *s);
    s->m = m;
    if (opts)
        s->o = *opts;
    else
        embed_sched_default_opts(&s->o);
    if (s->o.max_batch == 0)
        s->o.max_batch = 1;
    for (int c = 0; c < EMBED_NCLASSES; c++)
        s->ws[c] = bert_workspace_create();
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->work_cv, NULL);
    pthread_cond_init(&s->done_cv, NULL);
    if (pthread_create(&s->th, NULL, es__main, s) != 0) {
        es__free(s);
        return RAGD_EIO;
    }
    *out = s;
    return 0;
}

void embed_sched_destroy(embed_sched *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    s->quit = 1;
    pthread_cond_signal(&s->work_cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->th, NULL);
    es__free(s);
}

/* ---- submitting ------------------------------------------------------------------ */

/* The class an EMBED_BY_SIZE request of this many word pieces runs in. */
static embed_class es__resolve(const embed_sched *s, embed_class c, size_t tokens)
{
    if (c != EMBED_BY_SIZE)
        return c;
    return s->o.interactive_max_tokens && tokens > s->o.interactive_max_tokens
               ? EMBED_BULK : EMBED_INTERACTIVE;
}

/* Queue r and block until the dispatcher marks it done. */
static int es__submit(embed_sched *s, es__req *r, bool demoted, const char *tenant)
{
    r->t_submit = clock_mono_us();
    pthread_mutex_lock(&s->mu);
    if (demoted)
        s->st.demoted++;
    es__enqueue(s, r, tenant);
    pthread_cond_signal(&s->work_cv);
    while (!r->done)
        pthread_cond_wait(&s->done_cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
    return r->rc;
}

static int es__cmp_len(const void *a, const void *b)
{
    const embed__seq *x = a, *y = b;
    return x->n < y->n ? -1 : x->n > y->n;
}

int embed_sched_encode(embed_sched *s, const embed_work *w, const char *const *texts,
                       const size_t *lens, size_t n, float *out, int *ntokens_out,
                       bool *truncated_out)
{
    if (n == 0 || !texts || !lens)
        return RAGD_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!texts[i])
            return RAGD_EINVAL;
    w = w ? w : &embed_work_interactive;
    size_t T = embed_model_max_tokens(s->m), dim = embed_model_dim(s->m), tokens = 0;
    int32_t *ids = xmalloc(n * T * sizeof *ids);
    embed__seq *seqs = xmalloc(n * sizeof *seqs);
    for (size_t i = 0; i < n; i++) {
        bool tr;
        embed__tokenize(s->m, texts[i], lens[i], ids + i * T, &seqs[i].n, &tr);
        seqs[i].ids = ids + i * T;
        seqs[i].out = out + i * dim;
        tokens += seqs[i].n;
        if (ntokens_out)
            ntokens_out[i] = (int)seqs[i].n;
        if (truncated_out)
            truncated_out[i] = tr;
    }
    es__req r = { .cls = es__resolve(s, w->cls, tokens), .seqs = seqs, .n = n, .tokens = tokens };
    if (r.cls == EMBED_BULK)
        qsort(seqs, n, sizeof *seqs, es__cmp_len); /* micro-batches of similar lengths */
    int rc = es__submit(s, &r, w->cls == EMBED_BY_SIZE && r.cls == EMBED_BULK, w->tenant);
    free(seqs);
    free(ids);
    return rc;
}

int embed_sched_run(embed_sched *s, const embed_work *w, int (*fn)(void *ud), void *ud)
{
    if (!fn)
        return RAGD_EINVAL;
    w = w ? w : &embed_work_interactive;
    es__req r = { .cls = es__resolve(s, w->cls, 0), .fn = fn, .ud = ud };
    return es__submit(s, &r, false, w->tenant);
}

/* ---- statistics ------------------------------------------------------------------ */

void embed_sched_get_stats(embed_sched *s, embed_sched_stats *out)
{
    pthread_mutex_lock(&s->mu);
    *out = s->st;
    pthread_mutex_unlock(&s->mu);
}

void embed_sched_metrics_render(embed_sched *s, buf_t *b)
{
    embed_sched_stats st;
    embed_sched_get_stats(s, &st);
    static const struct { const char *name, *type, *help; size_t off; } fam[] = {
        { "ragd_model_queue_depth", "gauge", "model requests waiting or in progress",
          offsetof(embed_sched_class_stats, queued) },
        { "ragd_model_queue_tokens", "gauge", "word pieces queued for the model",
          offsetof(embed_sched_class_stats, queued_tokens) },
        { "ragd_model_requests_total", "counter", "model requests served",
          offsetof(embed_sched_class_stats, requests) },
        { "ragd_model_tokens_total", "counter", "word pieces encoded",
          offsetof(embed_sched_class_stats, tokens) },
        { "ragd_model_batches_total", "counter", "forward passes and tasks run",
          offsetof(embed_sched_class_stats, batches) },
    };
    char lab[32];
    for (size_t f = 0; f < sizeof fam / sizeof fam[0]; f++) {
        metrics_family(b, fam[f].name, fam[f].type, fam[f].help);
        for (int c = 0; c < EMBED_NCLASSES; c++) {
            snprintf(lab, sizeof lab, "class=\"%s\"", embed_class_name((embed_class)c));
            metrics_sample(b, fam[f].name, lab,
                           (double)*(const uint64_t *)((const char *)&st.cls[c] + fam[f].off));
        }
    }
    metrics_family(b, "ragd_model_queue_wait_seconds", "histogram",
                   "time from submitting model work to its first forward pass");
    for (int c = 0; c < EMBED_NCLASSES; c++) {
        snprintf(lab, sizeof lab, "class=\"%s\"", embed_class_name((embed_class)c));
        metrics_hist_render(b, "ragd_model_queue_wait_seconds", lab, &st.cls[c].wait);
    }
    metrics_family(b, "ragd_model_forward_seconds", "histogram",
                   "duration of each forward pass or task by class");
    for (int c = 0; c < EMBED_NCLASSES; c++) {
        snprintf(lab, sizeof lab, "class=\"%s\"", embed_class_name((embed_class)c));
        metrics_hist_render(b, "ragd_model_forward_seconds", lab, &st.cls[c].forward);
    }
    metrics_family(b, "ragd_model_bulk_tenants", "gauge", "bulk tenants with queued work");
    metrics_sample(b, "ragd_model_bulk_tenants", NULL, (double)st.tenants);
    metrics_family(b, "ragd_model_demoted_total", "counter",
                   "interactive embedding requests run as bulk for their size");
    metrics_sample(b, "ragd_model_demoted_total", NULL, (double)st.demoted);
    metrics_family(b, "ragd_embed_preemptions_total", "counter",
                   "times a bulk forward pass was parked to serve interactive work");
    metrics_sample(b, "ragd_embed_preemptions_total", NULL, (double)st.preemptions);
}
