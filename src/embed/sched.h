/*
 * sched.h - the model scheduler: every piece of model work (embeddings,
 * cross-encoder scoring) goes through one dispatcher thread that decides what
 * the CPU runs next. Two classes: interactive work (query embeddings,
 * semantic-cache lookups, small embedding calls, re-ranking) and bulk work
 * (document ingestion, warm-up, large embedding calls). Waiting interactive
 * requests always go first and are merged into one forward pass; bulk requests
 * are cut into micro-batches of at most bulk_batch_tokens word pieces, and the
 * bulk requests of different tenants (namespace, user: the caller names it)
 * take one micro-batch each in turn (round robin), so one upload cannot
 * starve another. A bulk micro-batch's forward pass is preemptible: after
 * each phase of each encoder layer (a GEMM or the attention) it checks for
 * waiting interactive work and, if there is some, parks (its activations stay
 * in the bulk class's own workspace) while the interactive work runs, then
 * resumes with bit-identical results; so a query waits at most one phase of
 * one micro-batch, about a thirtieth of the pass (tasks run to the end).
 */
#ifndef RAGD_EMBED_SCHED_H
#define RAGD_EMBED_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "embed/embed.h"
#include "obs/metrics.h"
#include "util/buf.h"

typedef enum embed_class {
    EMBED_INTERACTIVE = 0, /* served first; concurrent requests merged */
    EMBED_BULK = 1,        /* token-bounded micro-batches, round robin per tenant */
    EMBED_BY_SIZE = 2,     /* a request's size decides: bulk above interactive_max_tokens,
                              else interactive (clients' embedding calls) */
} embed_class;
#define EMBED_NCLASSES 2   /* the classes work runs in (AUTO resolves to one of them) */

/* Who asks for model work: the class and, for bulk work, the fairness key.
 * Borrowed for the call only. */
typedef struct embed_work {
    embed_class cls;
    const char *tenant;    /* namespace or user; NULL = "" (one shared tenant) */
} embed_work;

/* The descriptor of interactive work with no tenant. */
extern const embed_work embed_work_interactive;

typedef struct embed_sched_batch {
    embed_class cls;
    const char *tenant;    /* bulk: the tenant served (borrowed for the call); else "" */
    size_t requests;       /* requests that share this forward pass */
    size_t texts, tokens;  /* 0 for a task (embed_sched_run) */
    bool task;
} embed_sched_batch;

typedef struct embed_sched_opts {
    int window_us;             /* interactive merge window while busy (default 1000) */
    size_t max_batch;          /* interactive texts per forward (default 256) */
    size_t bulk_batch_tokens;  /* word pieces per bulk micro-batch (default 128; a
                                  longer text still runs, alone) */
    size_t interactive_max_tokens; /* an EMBED_BY_SIZE encode of more word pieces runs
                                  as bulk under its tenant (default 4096; 0 = never) */
    /* Optional observer, called on the dispatcher thread after each forward pass
     * or task (tests and traces); an interactive pass served while a bulk pass
     * was parked is reported before that bulk pass. It must not call back into
     * the scheduler. */
    void (*on_batch)(void *ud, const embed_sched_batch *b);
    void *on_batch_ud;
} embed_sched_opts;

typedef struct embed_sched_class_stats {
    uint64_t requests;     /* requests served (encodes and tasks) */
    uint64_t texts, tokens;
    uint64_t batches;      /* forward passes and tasks run */
    uint64_t queued;       /* requests waiting or in progress now */
    uint64_t queued_tokens;/* word pieces of theirs not encoded yet */
    metrics_hist wait;     /* submit to the request's first forward, us */
    metrics_hist forward;  /* each forward pass or task, us (a bulk pass's parked
                              time not included) */
} embed_sched_class_stats;

typedef struct embed_sched_stats {
    embed_sched_class_stats cls[EMBED_NCLASSES];
    uint64_t tenants;      /* bulk tenants with queued work now */
    uint64_t demoted;      /* EMBED_BY_SIZE encodes run as bulk (interactive_max_tokens) */
    uint64_t preemptions;  /* times a bulk pass was parked for interactive work */
} embed_sched_stats;

typedef struct embed_sched embed_sched;

void embed_sched_default_opts(embed_sched_opts *o);

/* Start a scheduler over model m (borrowed: it must outlive the scheduler).
 * opts may be NULL. *out is owned by the caller (embed_sched_destroy). */
int embed_sched_create(embed_model *m, const embed_sched_opts *opts, embed_sched **out);

/* Serve what is queued, stop the dispatcher and free. No call may be in
 * progress or start after this begins. NULL is a no-op. */
void embed_sched_destroy(embed_sched *s);

/* Same contract as embed_encode (vectors in input order into out, n * dim
 * floats; ntokens_out/truncated_out may be NULL), blocking until done, as work
 * of class w->cls (w NULL = embed_work_interactive). Tokenises on the calling
 * thread. Thread-safe; meant to be called from many threads at once. */
int embed_sched_encode(embed_sched *s, const embed_work *w, const char *const *texts,
                       const size_t *lens, size_t n, float *out, int *ntokens_out,
                       bool *truncated_out);

/* Run fn(ud) on the dispatcher thread as one unit of class w->cls (alone, never
 * merged) and return its result: model work that must share the CPU with the
 * embeddings, such as a cross-encoder's embed_score_pairs. Blocks until done.
 * Thread-safe. */
int embed_sched_run(embed_sched *s, const embed_work *w, int (*fn)(void *ud), void *ud);

/* Counters since create and the queues now. Thread-safe. */
void embed_sched_get_stats(embed_sched *s, embed_sched_stats *out);

/* Class name: "interactive" or "bulk" (static string). */
const char *embed_class_name(embed_class c);

/* Append the scheduler's Prometheus families (ragd_model_queue_depth{class},
 * ragd_model_queue_wait_seconds{class}, ragd_model_forward_seconds{class},
 * ragd_model_requests_total, _tokens_total, _batches_total,
 * ragd_embed_preemptions_total) to b. Thread-safe. */
void embed_sched_metrics_render(embed_sched *s, buf_t *b);

#endif
