/*
 * bert_forward.c - the BERT forward pass over packed sequences (no padding):
 * per layer a fused QKV GEMM, attention per (sequence, head) on the sequence's
 * true length, output projection + residual + LayerNorm, GELU feed-forward +
 * residual + LayerNorm (Vaswani et al. 2017; Devlin et al. 2019). Each phase is
 * split into tasks for the compute pool; pooling and the classifier head follow.
 * A pass on a workspace of its own may be parked after any phase of any layer
 * (bert_run): its state is the workspace plus the position on its caller's
 * stack.
 */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "embed/bert_int.h"
#include "util/mem.h"

typedef struct bf__ctx {
    bert_model *m;
    const bert_batch *b;
    size_t T;       /* total tokens */
    float *x, *qkv, *ctx, *tmp, *ffn, *att;
    size_t att_per_thread;
    /* current GEMM phase */
    bert_gemm_args g;
    size_t rb, nr;  /* row block, row blocks */
    int cb, nc;     /* column block, column blocks */
    const float *ln_g, *ln_b; /* fused LayerNorm when nc == 1 */
    float *ln_x;    /* rows to normalise (separate phase) */
} bf__ctx;

static size_t bf__round(size_t v, size_t m)
{
    return (v + m - 1) / m * m;
}

static void bf__embed_task(void *vc, size_t t, int thread)
{
    bf__ctx *c = vc;
    const bert_config *cfg = &c->m->cfg;
    size_t H = (size_t)cfg->hidden, s = t;
    size_t o = c->b->off[s], L = c->b->off[s + 1] - o;
    for (size_t i = 0; i < L; i++) {
        float *x = c->x + (o + i) * H;
        const float *we = c->m->word_emb + (size_t)c->b->ids[o + i] * H;
        const float *pe = c->m->pos_emb + i * H;
        const float *te = c->m->type_emb + (c->b->type_ids ? (size_t)c->b->type_ids[o + i] : 0) * H;
        for (size_t j = 0; j < H; j++)
            x[j] = we[j] + pe[j] + te[j];
        c->m->k->layernorm(x, H, c->m->emb_ln_g, c->m->emb_ln_b, cfg->ln_eps);
    }
}

static void bf__gemm_task(void *vc, size_t t, int thread)
{
    bf__ctx *c = vc;
    size_t r = t / (size_t)c->nc, cc = t % (size_t)c->nc;
    bert_gemm_args g = c->g;
    size_t r0 = r * c->rb;
    g.rows = r0 + c->rb <= c->T ? c->rb : c->T - r0;
    g.a += r0 * g.lda;
    g.c += r0 * g.ldc;
    if (g.resid)
        g.resid += r0 * g.ldc;
    g.c0 = (int)cc * c->cb;
    g.c1 = g.c0 + c->cb < c->g.l->n ? g.c0 + c->cb : c->g.l->n;
    c->m->k->gemm(&g, c->m->scratch + (size_t)thread * BERT_GEMM_SCRATCH);
    if (c->ln_g && c->nc == 1)
        for (size_t i = 0; i < g.rows; i++)
            c->m->k->layernorm(g.c + i * g.ldc, (size_t)g.l->n, c->ln_g, c->ln_b,
                               c->m->cfg.ln_eps);
}

static void bf__ln_task(void *vc, size_t t, int thread)
{
    bf__ctx *c = vc;
    size_t H = (size_t)c->m->cfg.hidden, r0 = t * c->rb;
    size_t rows = r0 + c->rb <= c->T ? c->rb : c->T - r0;
    for (size_t i = 0; i < rows; i++)
        c->m->k->layernorm(c->ln_x + (r0 + i) * H, H, c->ln_g, c->ln_b, c->m->cfg.ln_eps);
}

/* C = A W^T + b [+ resid] [gelu] [then LayerNorm] over all T rows. */
static void bf__gemm(bf__ctx *c, const bert_linear *l, const float *a, float *out,
                     const float *resid, int gelu, const float *ln_g, const float *ln_b)
{
    int nt = threadpool_size(c->m->pool);
    size_t T = c->T;
    c->rb = bf__round((T + (size_t)nt * 2 - 1) / ((size_t)nt * 2), 32);
    if (c->rb > 128)
        c->rb = 128;
    c->nr = (T + c->rb - 1) / c->rb;
    c->nc = 1;
    if (c->nr < (size_t)nt * 2) {
        int want = (int)(((size_t)nt * 2 + c->nr - 1) / c->nr);
        int maxc = l->n / 64 > 0 ? l->n / 64 : 1;
        c->nc = want < maxc ? want : maxc;
    }
    c->cb = (int)bf__round((size_t)((l->n + c->nc - 1) / c->nc), 32);
    c->nc = (l->n + c->cb - 1) / c->cb;
    c->g = (bert_gemm_args){l, a, (size_t)l->k, out, (size_t)l->n, resid, 0, 0, 0, gelu};
    c->ln_g = ln_g;
    c->ln_b = ln_b;
    threadpool_run(c->m->pool, c->nr * (size_t)c->nc, bf__gemm_task, c);
    if (ln_g && c->nc > 1) {
        c->ln_x = out;
        threadpool_run(c->m->pool, c->nr, bf__ln_task, c);
    }
}

static void bf__attn_task(void *vc, size_t t, int thread)
{
    bf__ctx *c = vc;
    const bert_config *cfg = &c->m->cfg;
    size_t H = (size_t)cfg->hidden, nh = (size_t)cfg->heads, dh = H / nh;
    size_t s = t / nh, h = t % nh;
    size_t o = c->b->off[s], L = c->b->off[s + 1] - o;
    float *S = c->att + (size_t)thread * c->att_per_thread;
    const float *Q = c->qkv + o * 3 * H + h * dh, *K = Q + H, *V = Q + 2 * H;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)L, (int)L, (int)dh,
                1.0f / sqrtf((float)dh), Q, (int)(3 * H), K, (int)(3 * H), 0.0f, S, (int)L);
    for (size_t i = 0; i < L; i++)
        c->m->k->softmax(S + i * L, L);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)L, (int)dh, (int)L, 1.0f, S,
                (int)L, V, (int)(3 * H), 0.0f, c->ctx + o * H + h * dh, (int)H);
}

/* Workspace floats for T tokens and longest sequence Lmax. */
static size_t bf__ws_need(const bert_model *m, size_t T, size_t Lmax)
{
    size_t H = (size_t)m->cfg.hidden, F = (size_t)m->cfg.intermediate;
    size_t Tp = bf__round(T, 32);
    return Tp * H * 4 + Tp * 3 * H + Tp * F + (size_t)threadpool_size(m->pool) * Lmax * Lmax + 64;
}

static int bf__check(const bert_model *m, const bert_batch *b, size_t *T, size_t *Lmax)
{
    *T = 0;
    *Lmax = 1;
    if (b->n == 0 || b->off[0] != 0)
        return RAGD_EINVAL;
    for (size_t s = 0; s < b->n; s++) {
        if (b->off[s + 1] <= b->off[s] || b->off[s + 1] - b->off[s] > (size_t)m->cfg.max_positions)
            return RAGD_EINVAL;
        if (b->off[s + 1] - b->off[s] > *Lmax)
            *Lmax = b->off[s + 1] - b->off[s];
    }
    *T = b->off[b->n];
    for (size_t i = 0; i < *T; i++) {
        if (b->ids[i] < 0 || b->ids[i] >= m->cfg.vocab_size)
            return RAGD_EINVAL;
        if (b->type_ids && (b->type_ids[i] < 0 || b->type_ids[i] >= m->cfg.type_vocab))
            return RAGD_EINVAL;
    }
    return 0;
}

void bert__pass_begin(bert_model *m, const bert_run *r, bert__pass *p)
{
    p->m = m;
    p->ws = r && r->ws ? r->ws : m->own_ws;
    p->r = r && r->ws ? r : NULL;
    if (!p->r)
        pthread_mutex_lock(&m->own_lock);
    pthread_mutex_lock(&m->lock);
    m->passes++;
}

void bert__pass_end(bert__pass *p)
{
    bert_model *m = p->m;
    if (--m->passes == 0)
        pthread_cond_broadcast(&m->idle_cv);
    pthread_mutex_unlock(&m->lock);
    if (!p->r)
        pthread_mutex_unlock(&m->own_lock);
}

/* A parkable pass lets its caller run other passes between layers. */
static void bf__yield(bert__pass *p)
{
    if (!p->r || !p->r->yield)
        return;
    pthread_mutex_unlock(&p->m->lock);
    p->r->yield(p->r->yield_ud);
    pthread_mutex_lock(&p->m->lock);
}

/* Lay the workspace out for T tokens: every buffer the pass keeps across a
 * yield lives here, never in the model. */
static void bf__layout(bf__ctx *c, bert_workspace *ws, size_t T, size_t Lmax)
{
    const bert_model *m = c->m;
    size_t need = bf__ws_need(m, T, Lmax);
    if (need > ws->floats) {
        free(ws->f);
        ws->f = xmalloc(need * sizeof(float));
        ws->floats = need;
    }
    size_t H = (size_t)m->cfg.hidden, F = (size_t)m->cfg.intermediate, Tp = bf__round(T, 32);
    c->x = ws->f;
    c->tmp = c->x + Tp * H;
    c->ctx = c->tmp + Tp * H;
    c->qkv = c->ctx + Tp * H;
    c->ffn = c->qkv + Tp * 3 * H;
    c->att = c->ffn + Tp * F;
    c->att_per_thread = Lmax * Lmax;
}

int bert__forward(bert__pass *p, const bert_batch *b, float **h)
{
    bert_model *m = p->m;
    size_t T, Lmax;
    int rc = bf__check(m, b, &T, &Lmax);
    if (rc)
        return rc;
    bf__ctx c = {.m = m, .b = b, .T = T};
    bf__layout(&c, p->ws, T, Lmax);
    threadpool_run(m->pool, b->n, bf__embed_task, &c);
    int gelu = m->cfg.act == BERT_ACT_GELU ? 1 : 2;
    for (int i = 0; i < m->cfg.layers; i++) {
        const bert_layer *L = &m->layer[i];
        /* every phase leaves its output in the pass's own workspace (qkv, ctx,
         * tmp, ffn, x), so the pass can be parked after any of them */
        bf__gemm(&c, &L->qkv, c.x, c.qkv, NULL, 0, NULL, NULL);
        bf__yield(p);
        threadpool_run(m->pool, b->n * (size_t)m->cfg.heads, bf__attn_task, &c);
        bf__yield(p);
        bf__gemm(&c, &L->out, c.ctx, c.tmp, c.x, 0, L->ln1_g, L->ln1_b);
        bf__yield(p);
        bf__gemm(&c, &L->ffn1, c.tmp, c.ffn, NULL, gelu, NULL, NULL);
        bf__yield(p);
        bf__gemm(&c, &L->ffn2, c.ffn, c.x, c.tmp, 0, L->ln2_g, L->ln2_b);
        bf__yield(p);
    }
    *h = c.x;
    return 0;
}

/* Mean or [CLS] pooling of sequence s, optionally L2-normalised, into v. */
static void bf__pool(const bert_model *m, const bert_batch *b, const float *h, size_t s,
                     bert_pooling pool, bool normalize, float *v)
{
    size_t H = (size_t)m->cfg.hidden, o = b->off[s], L = b->off[s + 1] - o;
    if (pool == BERT_POOL_CLS) {
        memcpy(v, h + o * H, H * sizeof *v);
    } else {
        memset(v, 0, H * sizeof *v);
        for (size_t i = 0; i < L; i++)
            for (size_t j = 0; j < H; j++)
                v[j] += h[(o + i) * H + j];
        for (size_t j = 0; j < H; j++)
            v[j] /= (float)L;
    }
    if (normalize) {
        double ss = 0;
        for (size_t j = 0; j < H; j++)
            ss += (double)v[j] * v[j];
        float inv = (float)(1.0 / fmax(sqrt(ss), 1e-12));
        for (size_t j = 0; j < H; j++)
            v[j] *= inv;
    }
}

int bert_encode_pooled(bert_model *m, const bert_run *r, const bert_batch *b, bert_pooling pool,
                       bool normalize, float *out)
{
    bert__pass p;
    float *h;
    bert__pass_begin(m, r, &p);
    int rc = bert__forward(&p, b, &h);
    for (size_t s = 0; rc == 0 && s < b->n; s++)
        bf__pool(m, b, h, s, pool, normalize, out + s * (size_t)m->cfg.hidden);
    bert__pass_end(&p);
    return rc;
}

/* y = W x + b for one vector (small head layers). */
static void bf__matvec(const bert_linear *l, const float *x, float *y)
{
    for (int i = 0; i < l->n; i++) {
        float acc = l->b[i];
        const float *w = l->w + (size_t)i * l->k;
        for (int j = 0; j < l->k; j++)
            acc += w[j] * x[j];
        y[i] = acc;
    }
}

int bert_classify(bert_model *m, const bert_batch *b, float *logits)
{
    if (m->cfg.num_labels == 0)
        return RAGD_EUNSUPPORTED;
    size_t H = (size_t)m->cfg.hidden;
    float *pooled = xmalloc(H * sizeof *pooled), *h;
    bert__pass p;
    bert__pass_begin(m, NULL, &p);
    int rc = bert__forward(&p, b, &h);
    for (size_t s = 0; rc == 0 && s < b->n; s++) {
        bf__matvec(&m->pooler, h + b->off[s] * H, pooled);
        for (size_t j = 0; j < H; j++)
            pooled[j] = tanhf(pooled[j]);
        bf__matvec(&m->classifier, pooled, logits + s * (size_t)m->cfg.num_labels);
    }
    bert__pass_end(&p);
    free(pooled);
    return rc;
}

double bert_flops(const bert_model *m, const bert_batch *b)
{
    double H = m->cfg.hidden, F = m->cfg.intermediate, f = 0;
    for (size_t s = 0; s < b->n; s++) {
        double L = (double)(b->off[s + 1] - b->off[s]);
        f += L * 2.0 * (4.0 * H * H + 2.0 * H * F) + 4.0 * L * L * H;
    }
    return f * m->cfg.layers;
}
