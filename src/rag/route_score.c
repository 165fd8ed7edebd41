/*
 * route_score.c - scores every namespace against a query: the cosine to the
 * namespace's centroid (kept as a running sum by the knowledge base, so it is
 * free to read) and to its description and example utterances, embedded in
 * one batch through the embedding cache. The best of these is the score.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "index/vec_kernels.h"
#include "rag/route.h"
#include "util/mem.h"

const char *route_via_name(route_via v)
{
    return v == ROUTE_VIA_EXAMPLE ? "example" : v == ROUTE_VIA_DESCRIPTION ? "description"
                                                                          : "centroid";
}

/* The texts describing every namespace, flattened, with their owners. */
typedef struct rt__texts {
    const char **t;
    size_t *len, *ns;
    int *ex;            /* example index, -1 for a description */
    size_t n, cap;
} rt__texts;

static void rt__add(rt__texts *x, const char *s, size_t ns, int ex)
{
    if (!s || !*s)
        return;
    if (x->n == x->cap) {
        x->cap = x->cap ? 2 * x->cap : 64;
        x->t = xrealloc(x->t, x->cap * sizeof *x->t);
        x->len = xrealloc(x->len, x->cap * sizeof *x->len);
        x->ns = xrealloc(x->ns, x->cap * sizeof *x->ns);
        x->ex = xrealloc(x->ex, x->cap * sizeof *x->ex);
    }
    x->t[x->n] = s;
    x->len[x->n] = strlen(s);
    x->ns[x->n] = ns;
    x->ex[x->n++] = ex;
}

static void rt__consider(route_match *m, float s, route_via via, int ex)
{
    if (s > m->score) {
        m->score = s;
        m->via = via;
        m->example = ex;
    }
}

static int rt__cmp(const void *a, const void *b)
{
    const route_match *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return strcmp(x->ns, y->ns);
}

/* Score names[0..n) into m (score -2 where nothing describes a namespace). */
static int rt__score(kb_t *kb, embcache_t *emb, const float *q, char **names, size_t n,
                     route_match *m, kb_ns_info *info)
{
    size_t dim = embcache_dim(emb);
    float *c = xmalloc(dim * sizeof *c);
    rt__texts x = {0};
    for (size_t i = 0; i < n; i++) {
        snprintf(m[i].ns, sizeof m[i].ns, "%s", names[i]);
        m[i].score = -2.0f;
        m[i].example = -1;
        if (kb_ns_centroid(kb, names[i], c, dim) == 0)
            rt__consider(&m[i], vec_cosine_f32(q, c, dim), ROUTE_VIA_CENTROID, -1);
        if (kb_ns_get_info(kb, names[i], &info[i]) != 0)
            continue;
        rt__add(&x, info[i].settings.description, i, -1);
        for (size_t e = 0; e < info[i].settings.n_examples; e++)
            rt__add(&x, info[i].settings.examples[e], i, (int)e);
    }
    int rc = 0;
    if (x.n) {
        float *v = xmalloc(x.n * dim * sizeof *v);
        rc = embcache_embed(emb, x.t, x.len, x.n, v, &(embcache_info){0});
        for (size_t j = 0; rc == 0 && j < x.n; j++)
            rt__consider(&m[x.ns[j]], vec_cosine_f32(q, v + j * dim, dim),
                         x.ex[j] < 0 ? ROUTE_VIA_DESCRIPTION : ROUTE_VIA_EXAMPLE, x.ex[j]);
        free(v);
    }
    free(x.t);
    free(x.len);
    free(x.ns);
    free(x.ex);
    free(c);
    return rc;
}

int route_query(kb_t *kb, embcache_t *emb, const char *query, size_t k, float threshold,
                route_result *out, ragd_error *err)
{
    memset(out, 0, sizeof *out);
    out->best = -2.0f;
    if (!query || !*query || k == 0)
        return ragd_error_set(err, RAGD_EINVAL, "routing needs a query and k >= 1");
    char **names = NULL;
    size_t n = 0, qlen = strlen(query);
    int rc = kb_ns_list(kb, &names, &n);
    if (rc)
        return ragd_error_set(err, rc, "cannot list namespaces: %s", ragd_strerror(rc));
    float *q = xmalloc(embcache_dim(emb) * sizeof *q);
    route_match *m = xcalloc(n ? n : 1, sizeof *m);
    kb_ns_info *info = xcalloc(n ? n : 1, sizeof *info);
    rc = embcache_embed(emb, &query, &qlen, 1, q, &(embcache_info){0});
    if (rc == 0)
        rc = rt__score(kb, emb, q, names, n, m, info);
    if (rc == 0) {
        qsort(m, n, sizeof *m, rt__cmp);
        for (size_t i = 0; i < n; i++)
            out->considered += m[i].score > -2.0f;
        out->best = n ? m[0].score : -2.0f;
        while (out->n < n && out->n < k && m[out->n].score >= threshold)
            out->n++;
        out->m = m;
        m = NULL;
    } else {
        ragd_error_set(err, rc, "routing failed: %s", ragd_strerror(rc));
    }
    for (size_t i = 0; i < n; i++)
        kb_ns_info_clear(&info[i]);
    free(info);
    free(m);
    free(q);
    kb_names_free(names, n);
    return rc;
}

void route_result_free(route_result *r)
{
    free(r->m);
    memset(r, 0, sizeof *r);
}
