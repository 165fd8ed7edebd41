/*
 * embed.c - the embedding engine's front: reads a sentence-transformers model
 * directory (pooling mode, normalisation, max_seq_length, lower-casing) around
 * the BERT encoder and the WordPiece tokenizer, and embeds texts in
 * length-sorted batches capped by a token budget. Sequences are packed without
 * padding, so sorting mainly balances attention work across the pool.
 */
#include "embed/embed.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "embed/bert.h"
#include "embed/embed_int.h"
#include "util/mem.h"

#define EMBED_BATCH_TOKENS 4096

struct embed_model {
    bert_model *bert;
    wordpiece *wp;
    char *name;
    size_t dim, max_tokens;
    bert_pooling pooling;
    bool normalize;
    embed_precision_choice choice;
};

void embed_default_opts(embed_opts *o)
{
    o->precision = EMBED_FP32;
    o->threads = 0;
    o->max_tokens = 0;
    o->precision_file = NULL;
    o->remeasure = false;
}

int embed_precision_parse(const char *s, embed_precision *out)
{
    for (int p = EMBED_FP32; p <= EMBED_AUTO; p++)
        if (s && strcasecmp(s, embed_precision_name((embed_precision)p)) == 0) {
            *out = (embed_precision)p;
            return 0;
        }
    return RAGD_EINVAL;
}

const char *embed_precision_name(embed_precision p)
{
    return p == EMBED_BF16 ? "bf16" : p == EMBED_AUTO ? "auto" : "fp32";
}

/* Parse dir/rel as JSON; NULL when the file is absent or not JSON. */
static cJSON *em__json(const char *dir, const char *rel)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    char *buf = xmalloc(1 << 20);
    size_t n = fread(buf, 1, (1 << 20) - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    cJSON *j = cJSON_Parse(buf);
    free(buf);
    return j;
}

static bool em__flag(const cJSON *o, const char *key)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, key));
}

/* modules.json: find the Pooling folder and whether a Normalize module follows. */
static int em__st_config(embed_model *m, const char *dir, ragd_error *err)
{
    char pool_rel[512] = "1_Pooling/config.json";
    m->pooling = BERT_POOL_MEAN;
    m->normalize = false;
    cJSON *mods = em__json(dir, "modules.json");
    for (cJSON *e = mods ? mods->child : NULL; e; e = e->next) {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(e, "type");
        const cJSON *path = cJSON_GetObjectItemCaseSensitive(e, "path");
        if (!cJSON_IsString(type))
            continue;
        if (strstr(type->valuestring, "Normalize"))
            m->normalize = true;
        if (strstr(type->valuestring, "Pooling") && cJSON_IsString(path))
            snprintf(pool_rel, sizeof pool_rel, "%s/config.json", path->valuestring);
    }
    cJSON_Delete(mods);
    cJSON *pc = em__json(dir, pool_rel);
    int rc = 0;
    if (pc) {
        if (em__flag(pc, "pooling_mode_cls_token"))
            m->pooling = BERT_POOL_CLS;
        else if (em__flag(pc, "pooling_mode_max_tokens") ||
                 em__flag(pc, "pooling_mode_mean_sqrt_len_tokens") ||
                 em__flag(pc, "pooling_mode_weightedmean_tokens") ||
                 em__flag(pc, "pooling_mode_lasttoken"))
            rc = ragd_error_set(err, RAGD_EFORMAT, "%s/%s: pooling mode unsupported (mean or cls)",
                                dir, pool_rel);
    }
    cJSON_Delete(pc);
    cJSON *sb = em__json(dir, "sentence_bert_config.json");
    const cJSON *msl = cJSON_GetObjectItemCaseSensitive(sb, "max_seq_length");
    if (cJSON_IsNumber(msl) && msl->valueint >= 4)
        m->max_tokens = (size_t)msl->valueint;
    cJSON_Delete(sb);
    return rc;
}

static int em__tokenizer(embed_model *m, const char *dir, ragd_error *err)
{
    wordpiece_opts o;
    wordpiece_default_opts(&o);
    cJSON *tc = em__json(dir, "tokenizer_config.json");
    const cJSON *lc = cJSON_GetObjectItemCaseSensitive(tc, "do_lower_case");
    const cJSON *sa = cJSON_GetObjectItemCaseSensitive(tc, "strip_accents");
    const cJSON *cjk = cJSON_GetObjectItemCaseSensitive(tc, "tokenize_chinese_chars");
    if (cJSON_IsBool(lc))
        o.lowercase = cJSON_IsTrue(lc);
    o.strip_accents = cJSON_IsBool(sa) ? cJSON_IsTrue(sa) : o.lowercase;
    if (cJSON_IsBool(cjk))
        o.split_cjk = cJSON_IsTrue(cjk);
    cJSON_Delete(tc);
    char path[4096];
    snprintf(path, sizeof path, "%s/vocab.txt", dir);
    return wordpiece_open(path, &o, &m->wp, err);
}

static int em__probe_encode(void *ud, const char *const *texts, const size_t *lens, size_t n,
                            float *out, int *ntok)
{
    return embed_encode(ud, texts, lens, n, out, ntok, NULL);
}

/* EMBED_AUTO: the choice kept in the precision file when it still holds,
 * else a measurement (then kept there; a file that cannot be written only
 * means the next start measures too). */
static int em__auto_precision(embed_model *m, const char *dir, const embed_opts *o)
{
    const char *file = o->precision_file;
    if (file && !o->remeasure && embed__precision_load(file, dir, m->bert, &m->choice) == 0)
        return 0;
    embed__prober pr = {m->bert, m->dim, em__probe_encode, m};
    int rc = embed__choose_precision(&pr, &m->choice);
    if (rc == 0 && file)
        embed__precision_save(file, dir, &m->choice);
    return rc;
}

int embed_model_open(const char *dir, const embed_opts *opts, embed_model **out, ragd_error *err)
{
    embed_opts o;
    embed_default_opts(&o);
    if (opts)
        o = *opts;
    if (o.max_tokens == 1 || o.threads < 0)
        return ragd_error_set(err, RAGD_EINVAL, "embed: max_tokens must be >= 2, threads >= 0");
    embed_model *m = xcalloc(1, sizeof *m);
    bert_opts bo = {o.precision == EMBED_BF16 ? BERT_BF16 : BERT_FP32, o.threads};
    int rc = em__tokenizer(m, dir, err);
    if (!rc)
        rc = em__st_config(m, dir, err);
    if (!rc)
        rc = bert_open(dir, &bo, &m->bert, err);
    if (rc) {
        embed_model_close(m);
        return rc;
    }
    const bert_config *c = bert_get_config(m->bert);
    if ((int)wordpiece_vocab_size(m->wp) > c->vocab_size) {
        rc = ragd_error_set(err, RAGD_EFORMAT, "%s: vocab.txt has %zu tokens, model %d", dir,
                            wordpiece_vocab_size(m->wp), c->vocab_size);
        embed_model_close(m);
        return rc;
    }
    if (o.max_tokens)
        m->max_tokens = o.max_tokens;
    if (!m->max_tokens || m->max_tokens > (size_t)c->max_positions)
        m->max_tokens = (size_t)c->max_positions;
    m->dim = (size_t)c->hidden;
    m->choice.chosen = embed_model_precision(m);
    if (o.precision == EMBED_AUTO && (rc = em__auto_precision(m, dir, &o))) {
        embed_model_close(m);
        return ragd_error_set(err, rc, "%s: precision measurement failed: %s", dir,
                              ragd_strerror(rc));
    }
    const char *base = strrchr(dir, '/');
    while (base && base[1] == '\0' && base > dir) { /* trailing slash */
        const char *p = base - 1;
        while (p > dir && *p != '/')
            p--;
        base = p;
    }
    m->name = xstrdup(base && *base == '/' ? base + 1 : (base ? base : dir));
    char *slash = strchr(m->name, '/');
    if (slash)
        *slash = '\0';
    *out = m;
    return 0;
}

void embed_model_close(embed_model *m)
{
    if (!m)
        return;
    bert_close(m->bert);
    wordpiece_close(m->wp);
    free(m->name);
    free(m);
}

size_t embed_model_dim(const embed_model *m) { return m->dim; }
const char *embed_model_name(const embed_model *m) { return m->name; }
size_t embed_model_max_tokens(const embed_model *m) { return m->max_tokens; }
bool embed_model_normalized(const embed_model *m) { return m->normalize; }
const char *embed_model_pooling(const embed_model *m)
{
    return m->pooling == BERT_POOL_CLS ? "cls" : "mean";
}
const wordpiece *embed_model_tokenizer(const embed_model *m) { return m->wp; }
const char *embed_model_kernel(const embed_model *m) { return bert_kernel_name(m->bert); }
const embed_precision_choice *embed_model_precision_choice(const embed_model *m)
{
    return &m->choice;
}

embed_precision embed_model_precision(const embed_model *m)
{
    return bert_get_precision(m->bert) == BERT_BF16 ? EMBED_BF16 : EMBED_FP32;
}

bool embed_model_has_classifier(const embed_model *m)
{
    return bert_get_config(m->bert)->num_labels > 0;
}

int embed_model_num_labels(const embed_model *m)
{
    return bert_get_config(m->bert)->num_labels;
}

void embed__tokenize(const embed_model *m, const char *text, size_t len, int32_t *ids, size_t *n,
                     bool *truncated)
{
    wordpiece_encode(m->wp, text, len, m->max_tokens, ids, NULL, n, truncated);
}

static int em__cmp_len(const void *a, const void *b)
{
    const embed__seq *x = a, *y = b;
    return x->n < y->n ? -1 : x->n > y->n;
}

/* One forward over seqs[0..n): pack ids, run, scatter vectors. */
static int em__run_chunk(embed_model *m, const bert_run *r, const embed__seq *seqs, size_t n,
                         size_t ntok)
{
    int32_t *ids = xmalloc(ntok * sizeof *ids);
    size_t *off = xmalloc((n + 1) * sizeof *off);
    float *vec = xmalloc(n * m->dim * sizeof *vec);
    off[0] = 0;
    for (size_t i = 0; i < n; i++) {
        memcpy(ids + off[i], seqs[i].ids, seqs[i].n * sizeof *ids);
        off[i + 1] = off[i] + seqs[i].n;
    }
    bert_batch b = {n, ids, NULL, off};
    int rc = bert_encode_pooled(m->bert, r, &b, m->pooling, m->normalize, vec);
    for (size_t i = 0; rc == 0 && i < n; i++)
        memcpy(seqs[i].out, vec + i * m->dim, m->dim * sizeof *vec);
    free(ids);
    free(off);
    free(vec);
    return rc;
}

int embed__run(embed_model *m, const bert_run *r, embed__seq *seqs, size_t n)
{
    qsort(seqs, n, sizeof *seqs, em__cmp_len);
    size_t i = 0;
    while (i < n) {
        size_t j = i, ntok = 0;
        while (j < n && (j == i || ntok + seqs[j].n <= EMBED_BATCH_TOKENS))
            ntok += seqs[j++].n;
        int rc = em__run_chunk(m, r, seqs + i, j - i, ntok);
        if (rc)
            return rc;
        i = j;
    }
    return 0;
}

int embed_encode(embed_model *m, const char *const *texts, const size_t *lens, size_t n,
                 float *out, int *ntokens_out, bool *truncated_out)
{
    if (n == 0 || !texts || !lens)
        return RAGD_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!texts[i])
            return RAGD_EINVAL;
    int32_t *ids = xmalloc(n * m->max_tokens * sizeof *ids);
    embed__seq *seqs = xmalloc(n * sizeof *seqs);
    for (size_t i = 0; i < n; i++) {
        bool tr;
        int32_t *p = ids + i * m->max_tokens;
        embed__tokenize(m, texts[i], lens[i], p, &seqs[i].n, &tr);
        seqs[i].ids = p;
        seqs[i].out = out + i * m->dim;
        if (ntokens_out)
            ntokens_out[i] = (int)seqs[i].n;
        if (truncated_out)
            truncated_out[i] = tr;
    }
    int rc = embed__run(m, NULL, seqs, n);
    free(seqs);
    free(ids);
    return rc;
}

double embed_flops(const embed_model *m, const int *ntokens, size_t n)
{
    size_t *off = xmalloc((n + 1) * sizeof *off);
    off[0] = 0;
    for (size_t i = 0; i < n; i++)
        off[i + 1] = off[i] + (size_t)ntokens[i];
    bert_batch b = {n, NULL, NULL, off};
    double f = bert_flops(m->bert, &b);
    free(off);
    return f;
}

int embed_score_pairs(embed_model *m, const char *query, size_t qlen, const char *const *docs,
                      const size_t *lens, size_t n, float *scores, float *logits_out)
{
    int nl = bert_get_config(m->bert)->num_labels;
    if (nl == 0)
        return RAGD_EUNSUPPORTED;
    if (n == 0 || !query || !docs || !lens)
        return RAGD_EINVAL;
    size_t T = m->max_tokens;
    int32_t *ids = xmalloc(n * T * sizeof *ids), *tt = xmalloc(n * T * sizeof *tt);
    size_t *off = xmalloc((n + 1) * sizeof *off);
    float *lg = xmalloc(n * (size_t)nl * sizeof *lg);
    off[0] = 0;
    for (size_t i = 0; i < n; i++) {
        size_t k;
        if (!docs[i]) {
            k = 0;
        } else {
            wordpiece_encode_pair(m->wp, query, qlen, docs[i], lens[i], T, ids + off[i],
                                  tt + off[i], &k, NULL);
        }
        off[i + 1] = off[i] + k;
    }
    bert_batch b = {n, ids, tt, off};
    int rc = bert_classify(m->bert, &b, lg);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        float z = lg[i * (size_t)nl];
        bool sig = nl == 1 && bert_get_config(m->bert)->score_sigmoid;
        scores[i] = sig ? 1.0f / (1.0f + expf(-z)) : z;
    }
    if (rc == 0 && logits_out)
        memcpy(logits_out, lg, n * (size_t)nl * sizeof *lg);
    free(ids);
    free(tt);
    free(off);
    free(lg);
    return rc;
}
