/*
 * bert_int.h - the BERT model's guts shared by bert_load.c, bert_forward.c and
 * the kernel files: weights (FP32, plus BF16 tiles packed for the BF16 kernels), the kernel
 * table chosen at load, and the reusable forward workspace.
 */
#ifndef RAGD_BERT_INT_H
#define RAGD_BERT_INT_H

#include <pthread.h>

#include "embed/bert.h"

/* A linear layer y = x W^T + b; W is [n, k] row-major as in PyTorch. */
typedef struct bert_linear {
    int n, k;
    float *w;
    float *b;
    uint16_t *wp; /* BF16, packed in AMX B tiles (BF16 kernels; NULL in FP32) */
    float *wpf;   /* FP32, packed in 32-column panels (AVX-512 path) */
} bert_linear;

typedef struct bert_layer {
    bert_linear qkv, out, ffn1, ffn2;
    float *ln1_g, *ln1_b, *ln2_g, *ln2_b;
} bert_layer;

/* Row-block GEMM with the epilogue applied: C = A W^T + b [+ R] [gelu].
 * A: rows x k (lda), C and R: rows x n (ldc). Columns [c0, c1). */
typedef struct bert_gemm_args {
    const bert_linear *l;
    const float *a;
    size_t lda;
    float *c;
    size_t ldc;
    const float *resid;
    size_t rows;
    int c0, c1;
    int gelu; /* 0 none, 1 erf, 2 tanh */
} bert_gemm_args;

typedef struct bert_kernels {
    const char *name;
    void (*gemm)(const bert_gemm_args *g, void *scratch);
    void (*layernorm)(float *x, size_t n, const float *g, const float *b, float eps);
    void (*softmax)(float *x, size_t n);
    void (*gelu)(float *x, size_t n, int kind);
    int bf16; /* gemm wants packed BF16 weights */
    int fp32_panels; /* gemm wants FP32 32-column panels */
} bert_kernels;

/* Kernel tables; bert_load.c chooses one from cpu_features(). */
extern const bert_kernels bert__kernels_portable;
#if defined(__x86_64__)
extern const bert_kernels bert__kernels_avx512;
extern const bert_kernels bert__kernels_avx512_bf16;
extern const bert_kernels bert__kernels_amx;
#endif

/* Scratch bytes one gemm call may use per thread. */
#define BERT_GEMM_SCRATCH (1u << 20)

/* Pack W [n, k] into BF16 AMX B tiles (n % 16 == 0, k % 32 == 0). */
uint16_t *bert__pack_bf16(const float *w, int n, int k);

/* Pack W [n, k] into FP32 panels of 32 columns (n % 32 == 0). */
float *bert__pack_fp32(const float *w, int n, int k);

/* Shared helpers of the portable path, reused by the vector paths for tails. */
void bert__gemm_fp32(const bert_gemm_args *g, void *scratch);
void bert__epilogue_portable(const bert_gemm_args *g, float *c, size_t ldc, size_t rows, int c0,
                             int c1);

struct bert_model {
    bert_config cfg;
    bert_precision precision;
    const bert_kernels *k;
    threadpool *pool;
    float *word_emb, *pos_emb, *type_emb, *emb_ln_g, *emb_ln_b;
    bert_layer *layer;
    bert_linear pooler, classifier; /* n == 0 when absent */
    /* lock guards the kernel table and packed weights, scratch and own_ws;
     * a pass holds it while it computes and drops it only to yield (between
     * phases, on a workspace of its own). own_lock is held for a whole pass on
     * own_ws. passes counts the passes begun and not ended (parked ones
     * included; guarded by lock), idle_cv is signalled when it drops to 0. */
    pthread_mutex_t lock, own_lock;
    pthread_cond_t idle_cv;
    int passes;
    bert_workspace *own_ws;
    unsigned char *scratch;         /* threads x BERT_GEMM_SCRATCH */
};

struct bert_workspace {
    float *f;
    size_t floats;
};

/* One pass's hold on the model: bert__pass_begin takes lock (and own_lock
 * with no workspace of its own), counts the pass and returns the workspace
 * to use; bert__pass_end undoes it. */
typedef struct bert__pass {
    bert_model *m;
    bert_workspace *ws;
    const bert_run *r; /* NULL: not parkable */
} bert__pass;

void bert__pass_begin(bert_model *m, const bert_run *r, bert__pass *p);
void bert__pass_end(bert__pass *p);

/* Run the encoder over the packed batch; leaves final hidden states in *h
 * (total_tokens x hidden, inside the pass's workspace). Between bert__pass_begin
 * and bert__pass_end; yields after each phase when the pass is parkable. */
int bert__forward(bert__pass *p, const bert_batch *b, float **h);

#endif
