/*
 * fusion.c - weighted and RRF fusion. Both legs are tagged, sorted by id to
 * join the entries of one document, scored, then sorted by fused score.
 * Weighted fusion normalises each leg first (fusion_norm in fusion.h).
 */
#include "index/fusion.h"

#include <stdlib.h>
#include <string.h>

#include "util/err.h"
#include "util/mem.h"

typedef struct fu_entry {
    uint64_t id;
    uint32_t rank; /* 1-based rank in its leg */
    uint8_t leg;   /* 0 semantic, 1 keyword */
    float score;
} fu_entry;

fusion_opts fusion_default_opts(void)
{
    return (fusion_opts){.method = FUSION_WEIGHTED, .alpha = 0.5f, .rrf_k = 60.0f,
                         .norm = FUSION_NORM_MINMAX};
}

static const char *const fu__norm_names[] = {"max", "relative", "minmax"};

bool fusion_norm_parse(const char *s, fusion_norm *out)
{
    for (int i = 0; s && i < 3; i++)
        if (!strcmp(s, fu__norm_names[i])) {
            *out = (fusion_norm)i;
            return true;
        }
    return false;
}

const char *fusion_norm_name(fusion_norm n)
{
    return (unsigned)n < 3 ? fu__norm_names[n] : "?";
}

static int fu__cmp_id(const void *a, const void *b)
{
    const fu_entry *x = a, *y = b;
    if (x->id != y->id)
        return x->id < y->id ? -1 : 1;
    if (x->leg != y->leg)
        return x->leg - y->leg;
    return (x->rank > y->rank) - (x->rank < y->rank);
}

static int fu__cmp_hit(const void *a, const void *b)
{
    const fusion_hit *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

/* A leg's normalisation: (s - sub) / div clamped to [0, 1]; div 0 = the
 * constant sub (a min-max leg of equal scores, a max leg whose best is <= 0). */
typedef struct fu_lin {
    float sub, div;
} fu_lin;

static fu_lin fu__leg_lin(const fusion_in *v, size_t n, fusion_norm norm, bool semantic)
{
    float mn = n ? v[0].score : 0.0f, mx = mn;
    for (size_t i = 1; i < n; i++) {
        if (v[i].score < mn)
            mn = v[i].score;
        if (v[i].score > mx)
            mx = v[i].score;
    }
    if (norm == FUSION_NORM_MINMAX)
        return mx > mn ? (fu_lin){mn, mx - mn} : (fu_lin){1.0f, 0.0f};
    if (norm == FUSION_NORM_RELATIVE && semantic)
        return (fu_lin){0.0f, 1.0f}; /* cosine as it is */
    return mx > 0.0f ? (fu_lin){0.0f, mx} : (fu_lin){0.0f, 0.0f};
}

static float fu__norm(float s, fu_lin l)
{
    float x = l.div > 0.0f ? (s - l.sub) / l.div : l.sub;
    return x < 0.0f ? 0.0f : x > 1.0f ? 1.0f : x;
}

int fusion_merge(const fusion_in *sem, size_t n_sem, const fusion_in *kw, size_t n_kw,
                 const fusion_opts *opts, fusion_hit *out, size_t cap, size_t *n_out)
{
    fusion_opts o = opts ? *opts : fusion_default_opts();
    if (!n_out || (!sem && n_sem) || (!kw && n_kw) || (!out && cap) || o.method > FUSION_RRF ||
        !(o.alpha >= 0.0f && o.alpha <= 1.0f) || !(o.rrf_k >= 0.0f) ||
        (unsigned)o.norm > FUSION_NORM_MINMAX)
        return RAGD_EINVAL;
    size_t n = n_sem + n_kw;
    fu_entry *e = xmalloc((n ? n : 1) * sizeof *e);
    for (size_t i = 0; i < n_sem; i++)
        e[i] = (fu_entry){sem[i].id, (uint32_t)i + 1, 0, sem[i].score};
    for (size_t i = 0; i < n_kw; i++)
        e[n_sem + i] = (fu_entry){kw[i].id, (uint32_t)i + 1, 1, kw[i].score};
    qsort(e, n, sizeof *e, fu__cmp_id);
    fu_lin ls = fu__leg_lin(sem, n_sem, o.norm, true), lk = fu__leg_lin(kw, n_kw, o.norm, false);
    fusion_hit *h = xcalloc(n ? n : 1, sizeof *h);
    size_t nh = 0;
    for (size_t i = 0; i < n;) {
        fusion_hit *x = &h[nh++];
        x->id = e[i].id;
        for (; i < n && e[i].id == x->id; i++) {
            if (e[i].leg == 0 && !x->rank_sem) {
                x->rank_sem = e[i].rank;
                x->score_sem = e[i].score;
                x->norm_sem = fu__norm(e[i].score, ls);
            } else if (e[i].leg == 1 && !x->rank_kw) {
                x->rank_kw = e[i].rank;
                x->score_kw = e[i].score;
                x->norm_kw = fu__norm(e[i].score, lk);
            }
        }
        if (o.method == FUSION_WEIGHTED) {
            x->score = o.alpha * x->norm_sem + (1.0f - o.alpha) * x->norm_kw;
        } else {
            double s = 0.0;
            if (x->rank_sem)
                s += 1.0 / (o.rrf_k + x->rank_sem);
            if (x->rank_kw)
                s += 1.0 / (o.rrf_k + x->rank_kw);
            x->score = (float)s;
        }
    }
    qsort(h, nh, sizeof *h, fu__cmp_hit);
    *n_out = nh < cap ? nh : cap;
    if (*n_out)
        memcpy(out, h, *n_out * sizeof *out);
    free(h);
    free(e);
    return 0;
}
