/*
 * bert.h - a BERT encoder read from a Hugging Face model directory
 * (config.json + model.safetensors): embeddings + LayerNorm, self-attention per
 * sequence on its true length, GELU feed-forward, and what sits on top:
 * pooled sentence vectors (mean or [CLS], optional L2 normalisation) or the
 * sequence-classification head of cross-encoders (pooler dense + tanh on
 * [CLS], classifier dense). Sequences are packed without padding; the GEMMs run
 * on an AVX-512 FP32 micro-kernel, AMX tiles or AVX512-BF16 dot products
 * (BF16) or OpenBLAS (portable), chosen at load from util/cpu.h.
 */
#ifndef RAGD_BERT_H
#define RAGD_BERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"
#include "util/threadpool.h"

typedef struct bert_model bert_model;

typedef enum bert_precision { BERT_FP32 = 0, BERT_BF16 = 1 } bert_precision;
typedef enum bert_pooling { BERT_POOL_MEAN = 0, BERT_POOL_CLS = 1 } bert_pooling;
typedef enum bert_act { BERT_ACT_GELU = 0, BERT_ACT_GELU_TANH = 1 } bert_act;

/* What config.json says (plus the classifier found in the weights). */
typedef struct bert_config {
    int vocab_size, hidden, layers, heads, intermediate, max_positions, type_vocab;
    float ln_eps;
    bert_act act;
    int num_labels;      /* 0 without a classification head */
    bool score_sigmoid;  /* cross-encoder: sigmoid of a single logit (default) */
} bert_config;

typedef struct bert_opts {
    bert_precision precision; /* BF16 needs AMX or AVX512-BF16; FP32 elsewhere */
    int threads;              /* compute threads; 0 = online CPUs */
} bert_opts;

/* A batch of packed sequences: sequence i is ids[off[i] .. off[i+1]),
 * already with [CLS]/[SEP]. type_ids may be NULL (all 0). Borrowed. */
typedef struct bert_batch {
    size_t n;
    const int32_t *ids;
    const int32_t *type_ids;
    const size_t *off; /* n + 1 entries, off[0] = 0 */
} bert_batch;

/* Load dir/config.json and dir/model.safetensors. opts may be NULL (FP32,
 * all CPUs). *out is owned by the caller (bert_close). Errors: RAGD_ENOTFOUND,
 * RAGD_EFORMAT (unsupported architecture or activation, missing or misshapen
 * tensor, named in err). */
int bert_open(const char *dir, const bert_opts *opts, bert_model **out, ragd_error *err);
void bert_close(bert_model *m);

const bert_config *bert_get_config(const bert_model *m); /* borrowed */
bert_precision bert_get_precision(const bert_model *m);  /* in effect */
const char *bert_kernel_name(const bert_model *m);       /* "amx-bf16", "avx512", ... */

/* Switch to the fastest kernels for `want` on this CPU (as bert_open chooses),
 * repacking the weights they read; returns the precision in effect. Waits for
 * every forward in flight (parked ones included) to end; later calls see the
 * new kernels. Thread-safe; never from a bert_run.yield callback. */
bert_precision bert_set_precision(bert_model *m, bert_precision want);

/* A forward pass's own memory (activations, attention scores), grown on
 * demand and kept for the next pass. A pass on a workspace of its own can be
 * parked between phases (bert_run.yield) while another pass runs on another
 * workspace: the parked activations stay untouched, so the parked pass's
 * result is bit-identical to an uninterrupted one. The GEMM kernels' scratch
 * stays the model's: it holds nothing from one GEMM call to the next. Owned by
 * the caller (bert_workspace_destroy; NULL is a no-op); one pass at a time per
 * workspace, usable with any model. */
typedef struct bert_workspace bert_workspace;
bert_workspace *bert_workspace_create(void);
void bert_workspace_destroy(bert_workspace *ws);

/* How a pass runs. NULL (or ws NULL) = the model's own workspace, held for the
 * whole pass, never parked (yield is then ignored). With a workspace of its
 * own, yield (may be NULL) is called after each of the BERT_YIELDS_PER_LAYER
 * phases of every encoder layer (QKV projection, attention, output projection,
 * feed-forward in and out; the last call comes just before pooling) with the
 * model released, on the calling thread: it may run other passes on other
 * workspaces of the same model, then returns and the pass resumes with the
 * next phase. Borrowed for the call. */
#define BERT_YIELDS_PER_LAYER 5
typedef struct bert_run {
    bert_workspace *ws;
    void (*yield)(void *ud);
    void *yield_ud;
} bert_run;

/* Pooled vectors, n x hidden floats into out, run as r says (may be NULL).
 * Thread-safe: concurrent calls are serialised on the model's compute pool,
 * one layer at a time. Errors: RAGD_EINVAL (ids out of range, a sequence
 * longer than max_positions or empty). */
int bert_encode_pooled(bert_model *m, const bert_run *r, const bert_batch *b, bert_pooling pool,
                       bool normalize, float *out);

/* Classification-head logits, n x num_labels floats. RAGD_EUNSUPPORTED when
 * the model has no head. Thread-safe as above. */
int bert_classify(bert_model *m, const bert_batch *b, float *logits);

/* Floating-point operations of one forward pass over b (for GFLOP/s reports). */
double bert_flops(const bert_model *m, const bert_batch *b);

#endif
