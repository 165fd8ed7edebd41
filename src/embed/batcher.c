/*
 * batcher.c - a queue of blocked requests and one dispatcher thread. Requests
 * that arrive while a batch runs are merged into the next one (continuous
 * batching); when the previous batch merged several requests and ended less
 * than window_us ago, the dispatcher also waits up to window_us for more.
 * Requests live on their callers' stacks; mu guards the queue and every
 * request's done flag.
 */
#include "embed/batcher.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "embed/embed_int.h"
#include "util/clock.h"
#include "util/mem.h"

typedef struct eb__req {
    struct eb__req *next;
    embed__seq *seqs;
    size_t n;
    int rc;
    int done;
} eb__req;

struct embed_batcher {
    embed_model *m;
    embed_batcher_opts o;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t work_cv, done_cv;
    eb__req *head, *tail;
    size_t queued_texts;
    int quit;
    int64_t last_end_us;   /* when the previous batch finished */
    size_t last_merged;    /* requests in the previous batch */
    embed_batcher_stats st;
};

void embed_batcher_default_opts(embed_batcher_opts *o)
{
    o->window_us = 1000;
    o->max_batch = 256;
}

/* Wait (mu held) while merging more requests is worth it. */
static void eb__maybe_wait(embed_batcher *b)
{
    int64_t now = clock_mono_us();
    if (b->o.window_us <= 0 || b->last_merged < 2 || now - b->last_end_us > b->o.window_us)
        return;
    int64_t deadline = now + b->o.window_us;
    while (!b->quit && b->queued_texts < b->o.max_batch && (now = clock_mono_us()) < deadline) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t ns = ts.tv_nsec + (deadline - now) * 1000;
        ts.tv_sec += ns / 1000000000;
        ts.tv_nsec = ns % 1000000000;
        pthread_cond_timedwait(&b->work_cv, &b->mu, &ts);
    }
}

/* Detach (mu held) a prefix of the queue holding at most max_batch texts
 * (at least one request). Returns the list; *nreq, *ntexts count it. */
static eb__req *eb__take(embed_batcher *b, size_t *nreq, size_t *ntexts)
{
    eb__req *first = b->head, *last = b->head;
    size_t n = last->n, k = 1;
    while (last->next && n + last->next->n <= b->o.max_batch) {
        last = last->next;
        n += last->n;
        k++;
    }
    b->head = last->next;
    if (!b->head)
        b->tail = NULL;
    last->next = NULL;
    b->queued_texts -= n;
    *nreq = k;
    *ntexts = n;
    return first;
}

static void eb__serve(embed_batcher *b, eb__req *list, size_t nreq, size_t ntexts)
{
    embed__seq *all = xmalloc(ntexts * sizeof *all);
    size_t k = 0, tokens = 0;
    for (eb__req *r = list; r; r = r->next)
        for (size_t i = 0; i < r->n; i++) {
            all[k++] = r->seqs[i];
            tokens += r->seqs[i].n;
        }
    int rc = embed__run(b->m, all, ntexts);
    free(all);
    pthread_mutex_lock(&b->mu);
    for (eb__req *r = list, *nx; r; r = nx) {
        nx = r->next;
        r->rc = rc;
        r->done = 1;
    }
    b->st.requests += nreq;
    b->st.texts += ntexts;
    b->st.batches++;
    b->st.tokens += tokens;
    b->last_end_us = clock_mono_us();
    b->last_merged = nreq;
    pthread_cond_broadcast(&b->done_cv);
    pthread_mutex_unlock(&b->mu);
}

static void *eb__main(void *arg)
{
    embed_batcher *b = arg;
    pthread_mutex_lock(&b->mu);
    for (;;) {
        while (!b->head && !b->quit)
            pthread_cond_wait(&b->work_cv, &b->mu);
        if (!b->head && b->quit)
            break;
        eb__maybe_wait(b);
        size_t nreq, ntexts;
        eb__req *list = eb__take(b, &nreq, &ntexts);
        pthread_mutex_unlock(&b->mu);
        eb__serve(b, list, nreq, ntexts);
        pthread_mutex_lock(&b->mu);
    }
    pthread_mutex_unlock(&b->mu);
    return NULL;
}

int embed_batcher_create(embed_model *m, const embed_batcher_opts *opts, embed_batcher **out)
{
    embed_batcher *b = xcalloc(1, sizeof *b);
    b->m = m;
    if (opts)
        b->o = *opts;
    else
        embed_batcher_default_opts(&b->o);
    if (b->o.max_batch == 0)
        b->o.max_batch = 1;
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->work_cv, NULL);
    pthread_cond_init(&b->done_cv, NULL);
    if (pthread_create(&b->th, NULL, eb__main, b) != 0) {
        pthread_cond_destroy(&b->work_cv);
        pthread_cond_destroy(&b->done_cv);
        pthread_mutex_destroy(&b->mu);
        free(b);
        return RAGD_EIO;
    }
    *out = b;
    return 0;
}

void embed_batcher_destroy(embed_batcher *b)
{
    if (!b)
        return;
    pthread_mutex_lock(&b->mu);
    b->quit = 1;
    pthread_cond_signal(&b->work_cv);
    pthread_mutex_unlock(&b->mu);
    pthread_join(b->th, NULL);
    pthread_cond_destroy(&b->work_cv);
    pthread_cond_destroy(&b->done_cv);
    pthread_mutex_destroy(&b->mu);
    free(b);
}

int embed_batcher_encode(embed_batcher *b, const char *const *texts, const size_t *lens, size_t n,
                         float *out, int *ntokens_out, bool *truncated_out)
{
    if (n == 0 || !texts || !lens)
        return RAGD_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!texts[i])
            return RAGD_EINVAL;
    size_t T = embed_model_max_tokens(b->m), dim = embed_model_dim(b->m);
    int32_t *ids = xmalloc(n * T * sizeof *ids);
    embed__seq *seqs = xmalloc(n * sizeof *seqs);
    for (size_t i = 0; i < n; i++) {
        bool tr;
        embed__tokenize(b->m, texts[i], lens[i], ids + i * T, &seqs[i].n, &tr);
        seqs[i].ids = ids + i * T;
        seqs[i].out = out + i * dim;
        if (ntokens_out)
            ntokens_out[i] = (int)seqs[i].n;
        if (truncated_out)
            truncated_out[i] = tr;
    }
    eb__req r = {NULL, seqs, n, 0, 0};
    pthread_mutex_lock(&b->mu);
    if (b->tail)
        b->tail->next = &r;
    else
        b->head = &r;
    b->tail = &r;
    b->queued_texts += n;
    pthread_cond_signal(&b->work_cv);
    while (!r.done)
        pthread_cond_wait(&b->done_cv, &b->mu);
    pthread_mutex_unlock(&b->mu);
    free(seqs);
    free(ids);
    return r.rc;
}

void embed_batcher_get_stats(embed_batcher *b, embed_batcher_stats *out)
{
    pthread_mutex_lock(&b->mu);
    *out = b->st;
    pthread_mutex_unlock(&b->mu);
}
