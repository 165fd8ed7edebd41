/*
 * batcher.h - merges concurrent embedding requests into shared batches. Many
 * threads (e.g. libmicrohttpd workers) call embed_batcher_encode and block;
 * each tokenises its own texts, then one dispatcher thread runs the encoder on
 * everything queued so far as one length-sorted batch and wakes the callers.
 * A lone or idle caller is served at once; while traffic is concurrent, a
 * batch may wait up to window_us for more requests to join.
 */
#ifndef RAGD_BATCHER_H
#define RAGD_BATCHER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "embed/embed.h"

typedef struct embed_batcher embed_batcher;

typedef struct embed_batcher_opts {
    int window_us;    /* merge window while busy (default 1000 = 1 ms; 0 = never wait) */
    size_t max_batch; /* texts per merged batch (default 256); a larger request runs alone */
} embed_batcher_opts;

typedef struct embed_batcher_stats {
    uint64_t requests; /* embed_batcher_encode calls served */
    uint64_t texts;
    uint64_t batches;  /* encoder runs; requests / batches = merge factor */
    uint64_t tokens;   /* word pieces encoded, incl. [CLS]/[SEP] */
} embed_batcher_stats;

void embed_batcher_default_opts(embed_batcher_opts *o);

/* Start a batcher over model m (borrowed: it must outlive the batcher). opts
 * may be NULL. *out is owned by the caller (embed_batcher_destroy). */
int embed_batcher_create(embed_model *m, const embed_batcher_opts *opts, embed_batcher **out);

/* Serve what is queued, stop the dispatcher and free. No call may be in
 * progress or start after this begins. NULL is a no-op. */
void embed_batcher_destroy(embed_batcher *b);

/* Same contract as embed_encode (vectors in input order into out, n * dim
 * floats; ntokens_out/truncated_out may be NULL), blocking until done.
 * Thread-safe; meant to be called from many threads at once. */
int embed_batcher_encode(embed_batcher *b, const char *const *texts, const size_t *lens, size_t n,
                         float *out, int *ntokens_out, bool *truncated_out);

/* Counters since create. Thread-safe. */
void embed_batcher_get_stats(embed_batcher *b, embed_batcher_stats *out);

#endif
