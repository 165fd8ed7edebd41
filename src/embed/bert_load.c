/*
 * bert_load.c - builds a bert_model from a Hugging Face directory: config.json
 * gives the shape (layers, hidden, heads, intermediate, positions, eps,
 * activation), model.safetensors the weights under "" or "bert." names
 * (BertModel or BertForSequenceClassification). Q, K and V are fused into one
 * [3h, h] matrix; the BF16 paths also pack every matrix into AMX B tiles.
 * The kernel table is chosen here, from the CPU's features (util/cpu.h).
 */
#include <cblas.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "embed/bert_int.h"
#include "embed/safetensors.h"
#include "util/cpu.h"
#include "util/mem.h"

static int bl__read_json(const char *path, cJSON **out, ragd_error *err)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return ragd_error_set(err, RAGD_ENOTFOUND, "%s: cannot open", path);
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    if (n < 0 || n > (1 << 24)) {
        fclose(fp);
        return ragd_error_set(err, RAGD_EFORMAT, "%s: bad size", path);
    }
    char *buf = xmalloc((size_t)n + 1);
    size_t got = fread(buf, 1, (size_t)n, fp);
    fclose(fp);
    *out = cJSON_ParseWithLength(buf, got);
    free(buf);
    if (!cJSON_IsObject(*out)) {
        cJSON_Delete(*out);
        return ragd_error_set(err, RAGD_EFORMAT, "%s: not a JSON object", path);
    }
    return 0;
}

static int bl__int(const cJSON *o, const char *key, int def, int lo, int hi, int *out,
                   ragd_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v) {
        if (def < 0)
            return ragd_error_set(err, RAGD_EFORMAT, "config.json: missing \"%s\"", key);
        *out = def;
        return 0;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble < lo || v->valuedouble > hi)
        return ragd_error_set(err, RAGD_EFORMAT, "config.json: \"%s\" must be in [%d, %d]", key,
                              lo, hi);
    *out = v->valueint;
    return 0;
}

static int bl__config(const char *dir, bert_config *c, ragd_error *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    cJSON *o = NULL;
    int rc = bl__read_json(path, &o, err);
    if (rc)
        return rc;
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(o, "model_type");
    const cJSON *pe = cJSON_GetObjectItemCaseSensitive(o, "position_embedding_type");
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(o, "hidden_act");
    const cJSON *eps = cJSON_GetObjectItemCaseSensitive(o, "layer_norm_eps");
    const cJSON *ca = cJSON_GetObjectItemCaseSensitive(o, "sbert_ce_default_activation_function");
    memset(c, 0, sizeof *c);
    if (cJSON_IsString(mt) && strcmp(mt->valuestring, "bert") != 0)
        rc = ragd_error_set(err, RAGD_EFORMAT, "config.json: model_type '%s' is not bert",
                            mt->valuestring);
    else if (cJSON_IsString(pe) && strcmp(pe->valuestring, "absolute") != 0)
        rc = ragd_error_set(err, RAGD_EFORMAT, "config.json: position_embedding_type '%s' "
                            "unsupported (absolute only)", pe->valuestring);
    if (!rc)
        rc = bl__int(o, "hidden_size", -1, 8, 8192, &c->hidden, err);
    if (!rc)
        rc = bl__int(o, "num_hidden_layers", -1, 1, 256, &c->layers, err);
    if (!rc)
        rc = bl__int(o, "num_attention_heads", -1, 1, 256, &c->heads, err);
    if (!rc)
        rc = bl__int(o, "intermediate_size", -1, 8, 65536, &c->intermediate, err);
    if (!rc)
        rc = bl__int(o, "max_position_embeddings", 512, 2, 65536, &c->max_positions, err);
    if (!rc)
        rc = bl__int(o, "type_vocab_size", 2, 1, 16, &c->type_vocab, err);
    if (!rc)
        rc = bl__int(o, "vocab_size", -1, 8, 1 << 22, &c->vocab_size, err);
    if (!rc && c->hidden % c->heads != 0)
        rc = ragd_error_set(err, RAGD_EFORMAT, "config.json: hidden_size %d not divisible by %d "
                            "heads", c->hidden, c->heads);
    c->ln_eps = cJSON_IsNumber(eps) ? (float)eps->valuedouble : 1e-12f;
    c->act = BERT_ACT_GELU;
    if (!rc && cJSON_IsString(act)) {
        if (strcmp(act->valuestring, "gelu_new") == 0 ||
            strcmp(act->valuestring, "gelu_pytorch_tanh") == 0)
            c->act = BERT_ACT_GELU_TANH;
        else if (strcmp(act->valuestring, "gelu") != 0)
            rc = ragd_error_set(err, RAGD_EFORMAT, "config.json: hidden_act '%s' unsupported",
                                act->valuestring);
    }
    c->score_sigmoid = !(cJSON_IsString(ca) && strstr(ca->valuestring, "Identity"));
    cJSON_Delete(o);
    return rc;
}

typedef struct bl__ctx {
    const safetensors_file *st;
    const char *prefix;
    ragd_error *err;
} bl__ctx;

/* Read prefix+name with the given shape into a new float array. */
static int bl__tensor(bl__ctx *x, const char *name, int ndim, int64_t d0, int64_t d1, float **out)
{
    char full[256];
    snprintf(full, sizeof full, "%s%s", x->prefix, name);
    int64_t shape[2] = {d0, d1};
    float *p = xmalloc((size_t)(d0 * (ndim > 1 ? d1 : 1)) * sizeof *p);
    int rc = safetensors_read_f32(x->st, full, ndim, shape, p, x->err);
    if (rc) {
        free(p);
        return rc;
    }
    *out = p;
    return 0;
}

static int bl__linear(bl__ctx *x, const char *name, int n, int k, bert_linear *l)
{
    char w[200], b[200];
    snprintf(w, sizeof w, "%s.weight", name);
    snprintf(b, sizeof b, "%s.bias", name);
    l->n = n;
    l->k = k;
    int rc = bl__tensor(x, w, 2, n, k, &l->w);
    return rc ? rc : bl__tensor(x, b, 1, n, 0, &l->b);
}

/* Q, K and V fused into one [3h, h] linear layer. */
static int bl__qkv(bl__ctx *x, int i, int h, bert_linear *l)
{
    const char *names[3] = {"query", "key", "value"};
    l->n = 3 * h;
    l->k = h;
    l->w = xmalloc((size_t)3 * h * h * sizeof(float));
    l->b = xmalloc((size_t)3 * h * sizeof(float));
    for (int j = 0; j < 3; j++) {
        char nm[128];
        bert_linear part = {0};
        snprintf(nm, sizeof nm, "encoder.layer.%d.attention.self.%s", i, names[j]);
        int rc = bl__linear(x, nm, h, h, &part);
        if (rc) {
            free(part.w);
            free(part.b);
            return rc;
        }
        memcpy(l->w + (size_t)j * h * h, part.w, (size_t)h * h * sizeof(float));
        memcpy(l->b + (size_t)j * h, part.b, (size_t)h * sizeof(float));
        free(part.w);
        free(part.b);
    }
    return 0;
}

static int bl__layer(bl__ctx *x, const bert_config *c, int i, bert_layer *L)
{
    char nm[160];
    int h = c->hidden, f = c->intermediate, rc = bl__qkv(x, i, h, &L->qkv);
    snprintf(nm, sizeof nm, "encoder.layer.%d.attention.output.dense", i);
    if (!rc)
        rc = bl__linear(x, nm, h, h, &L->out);
    snprintf(nm, sizeof nm, "encoder.layer.%d.attention.output.LayerNorm.weight", i);
    if (!rc)
        rc = bl__tensor(x, nm, 1, h, 0, &L->ln1_g);
    snprintf(nm, sizeof nm, "encoder.layer.%d.attention.output.LayerNorm.bias", i);
    if (!rc)
        rc = bl__tensor(x, nm, 1, h, 0, &L->ln1_b);
    snprintf(nm, sizeof nm, "encoder.layer.%d.intermediate.dense", i);
    if (!rc)
        rc = bl__linear(x, nm, f, h, &L->ffn1);
    snprintf(nm, sizeof nm, "encoder.layer.%d.output.dense", i);
    if (!rc)
        rc = bl__linear(x, nm, h, f, &L->ffn2);
    snprintf(nm, sizeof nm, "encoder.layer.%d.output.LayerNorm.weight", i);
    if (!rc)
        rc = bl__tensor(x, nm, 1, h, 0, &L->ln2_g);
    snprintf(nm, sizeof nm, "encoder.layer.%d.output.LayerNorm.bias", i);
    if (!rc)
        rc = bl__tensor(x, nm, 1, h, 0, &L->ln2_b);
    return rc;
}

static int bl__embeddings(bl__ctx *x, bert_model *m)
{
    const bert_config *c = &m->cfg;
    int rc = bl__tensor(x, "embeddings.word_embeddings.weight", 2, c->vocab_size, c->hidden,
                        &m->word_emb);
    if (!rc)
        rc = bl__tensor(x, "embeddings.position_embeddings.weight", 2, c->max_positions,
                        c->hidden, &m->pos_emb);
    if (!rc)
        rc = bl__tensor(x, "embeddings.token_type_embeddings.weight", 2, c->type_vocab, c->hidden,
                        &m->type_emb);
    if (!rc)
        rc = bl__tensor(x, "embeddings.LayerNorm.weight", 1, c->hidden, 0, &m->emb_ln_g);
    if (!rc)
        rc = bl__tensor(x, "embeddings.LayerNorm.bias", 1, c->hidden, 0, &m->emb_ln_b);
    return rc;
}

/* Sequence-classification head: pooler (under the prefix) + classifier (top level). */
static int bl__head(const safetensors_file *st, const char *prefix, bert_model *m, ragd_error *err)
{
    const safetensors_tensor *cw = safetensors_find(st, "classifier.weight");
    if (!cw)
        return 0;
    if (cw->ndim != 2 || cw->shape[1] != m->cfg.hidden || cw->shape[0] < 1 || cw->shape[0] > 1024)
        return ragd_error_set(err, RAGD_EFORMAT, "weights: classifier.weight has a bad shape");
    m->cfg.num_labels = (int)cw->shape[0];
    bl__ctx top = {st, "", err}, pre = {st, prefix, err};
    int rc = bl__linear(&pre, "pooler.dense", m->cfg.hidden, m->cfg.hidden, &m->pooler);
    return rc ? rc : bl__linear(&top, "classifier", m->cfg.num_labels, m->cfg.hidden,
                                &m->classifier);
}

/* Repack the layer matrices for the chosen kernels. */
static void bl__pack_all(bert_model *m)
{
    for (int i = 0; i < m->cfg.layers; i++) {
        bert_linear *ls[4] = {&m->layer[i].qkv, &m->layer[i].out, &m->layer[i].ffn1,
                              &m->layer[i].ffn2};
        for (int j = 0; j < 4; j++) {
            if (m->k->bf16 && !ls[j]->wp && ls[j]->n % 16 == 0 && ls[j]->k % 32 == 0)
                ls[j]->wp = bert__pack_bf16(ls[j]->w, ls[j]->n, ls[j]->k);
            if (m->k->fp32_panels && !ls[j]->wpf && ls[j]->n % 32 == 0)
                ls[j]->wpf = bert__pack_fp32(ls[j]->w, ls[j]->n, ls[j]->k);
        }
    }
}

static int bl__weights(const char *dir, bert_model *m, ragd_error *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    safetensors_file *st;
    int rc = safetensors_open(path, &st, err);
    if (rc)
        return rc;
    const char *prefix = safetensors_find(st, "bert.embeddings.word_embeddings.weight") ? "bert."
                                                                                          : "";
    bl__ctx x = {st, prefix, err};
    rc = bl__embeddings(&x, m);
    m->layer = xcalloc((size_t)m->cfg.layers, sizeof *m->layer);
    for (int i = 0; i < m->cfg.layers && !rc; i++)
        rc = bl__layer(&x, &m->cfg, i, &m->layer[i]);
    if (!rc)
        rc = bl__head(st, prefix, m, err);
    safetensors_close(st);
    return rc;
}

/* The fastest kernel table this CPU runs (util/cpu.h) at the wanted
 * precision: BF16 on AMX tiles, else on AVX512-BF16 dot products (AMD Zen 4/5,
 * Intel without AMX), else FP32 (AVX-512 panels or portable). */
static const bert_kernels *bl__pick_kernels(bert_precision want)
{
#if defined(__x86_64__)
    const cpu_features_t *f = cpu_features();
    bool avx512 = f->avx512f && f->avx512bw && f->avx512vl;
    if (want == BERT_BF16 && avx512 && f->avx512_bf16)
        return f->amx_bf16 ? &bert__kernels_amx : &bert__kernels_avx512_bf16;
    if (avx512)
        return &bert__kernels_avx512;
#endif
    (void)want;
    return &bert__kernels_portable;
}

/* Drop the packed copies the kernels in effect do not read. */
static void bl__unpack_all(bert_model *m)
{
    for (int i = 0; i < m->cfg.layers; i++) {
        bert_linear *ls[4] = {&m->layer[i].qkv, &m->layer[i].out, &m->layer[i].ffn1,
                              &m->layer[i].ffn2};
        for (int j = 0; j < 4; j++) {
            if (!m->k->bf16) {
                free(ls[j]->wp);
                ls[j]->wp = NULL;
            }
            if (!m->k->fp32_panels) {
                free(ls[j]->wpf);
                ls[j]->wpf = NULL;
            }
        }
    }
}

bert_precision bert_set_precision(bert_model *m, bert_precision want)
{
    pthread_mutex_lock(&m->lock);
    while (m->passes) /* a parked pass must resume on the kernels it began with */
        pthread_cond_wait(&m->idle_cv, &m->lock);
    m->k = bl__pick_kernels(want);
    m->precision = m->k->bf16 ? BERT_BF16 : BERT_FP32;
    bl__unpack_all(m);
    bl__pack_all(m);
    bert_precision p = m->precision;
    pthread_mutex_unlock(&m->lock);
    return p;
}

int bert_open(const char *dir, const bert_opts *opts, bert_model **out, ragd_error *err)
{
    bert_opts o = {BERT_FP32, 0};
    if (opts)
        o = *opts;
    bert_model *m = xcalloc(1, sizeof *m);
    pthread_mutex_init(&m->lock, NULL);
    pthread_mutex_init(&m->own_lock, NULL);
    pthread_cond_init(&m->idle_cv, NULL);
    m->own_ws = bert_workspace_create();
    int rc = bl__config(dir, &m->cfg, err);
    if (!rc)
        rc = bl__weights(dir, m, err);
    if (!rc && threadpool_create(o.threads, &m->pool) != 0)
        rc = ragd_error_set(err, RAGD_EIO, "bert: cannot start compute threads");
    if (rc) {
        bert_close(m);
        return rc;
    }
    openblas_set_num_threads(1); /* the pool parallelises; each GEMM tile is serial */
    m->k = bl__pick_kernels(o.precision);
    m->precision = m->k->bf16 ? BERT_BF16 : BERT_FP32;
    bl__pack_all(m);
    m->scratch = xmalloc((size_t)threadpool_size(m->pool) * BERT_GEMM_SCRATCH);
    *out = m;
    return 0;
}

static void bl__free_linear(bert_linear *l)
{
    free(l->w);
    free(l->b);
    free(l->wp);
    free(l->wpf);
}

void bert_close(bert_model *m)
{
    if (!m)
        return;
    threadpool_destroy(m->pool);
    for (int i = 0; m->layer && i < m->cfg.layers; i++) {
        bert_layer *L = &m->layer[i];
        bl__free_linear(&L->qkv);
        bl__free_linear(&L->out);
        bl__free_linear(&L->ffn1);
        bl__free_linear(&L->ffn2);
        free(L->ln1_g);
        free(L->ln1_b);
        free(L->ln2_g);
        free(L->ln2_b);
    }
    free(m->layer);
    bl__free_linear(&m->pooler);
    bl__free_linear(&m->classifier);
    free(m->word_emb);
    free(m->pos_emb);
    free(m->type_emb);
    free(m->emb_ln_g);
    free(m->emb_ln_b);
    bert_workspace_destroy(m->own_ws);
    free(m->scratch);
    pthread_cond_destroy(&m->idle_cv);
    pthread_mutex_destroy(&m->own_lock);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

bert_workspace *bert_workspace_create(void)
{
    return xcalloc(1, sizeof(bert_workspace));
}

void bert_workspace_destroy(bert_workspace *ws)
{
    if (!ws)
        return;
    free(ws->f);
    free(ws);
}

const bert_config *bert_get_config(const bert_model *m)
{
    return &m->cfg;
}

bert_precision bert_get_precision(const bert_model *m)
{
    return m->precision;
}

const char *bert_kernel_name(const bert_model *m)
{
    return m->k->name;
}
