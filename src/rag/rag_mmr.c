/*
 * rag_mmr.c - Maximal Marginal Relevance selection (Carbonell & Goldstein,
 * "The Use of MMR, Diversity-Based Reranking for Reordering Documents and
 * Producing Summaries", SIGIR 1998) with a hard near-duplicate cut: a chunk
 * almost identical to one already chosen (a repeated paragraph, an overlapping
 * window) is dropped outright instead of merely being pushed down.
 */
#include <math.h>
#include <stdlib.h>

#include "index/vec_kernels.h"
#include "rag/rag.h"
#include "util/mem.h"

size_t rag_mmr_select(const float *vecs, size_t dim, const float *rel, size_t n, double lambda,
                      double dup, size_t k, size_t *out, size_t *ndup)
{
    /* maxsim[i]: highest cosine of i to a chosen item; state 0 open, 1 taken, 2 dropped */
    float *maxsim = xmalloc((n ? n : 1) * sizeof *maxsim);
    unsigned char *state = xcalloc(n ? n : 1, 1);
    for (size_t i = 0; i < n; i++)
        maxsim[i] = -1.0f;
    size_t m = 0, dropped = 0;
    while (m < k) {
        size_t best = n;
        double bv = -INFINITY;
        for (size_t i = 0; i < n; i++) {
            if (state[i])
                continue;
            double v = lambda * rel[i] - (1.0 - lambda) * (m ? maxsim[i] : 0.0);
            if (v > bv) {
                bv = v;
                best = i;
            }
        }
        if (best == n)
            break;
        state[best] = 1;
        out[m++] = best;
        const float *b = vecs + best * dim;
        for (size_t i = 0; i < n; i++) {
            if (state[i])
                continue;
            float s = vec_cosine_f32(vecs + i * dim, b, dim);
            if (s > maxsim[i])
                maxsim[i] = s;
            if (s >= dup) {
                state[i] = 2;
                dropped++;
            }
        }
    }
    if (ndup)
        *ndup = dropped;
    free(maxsim);
    free(state);
    return m;
}
