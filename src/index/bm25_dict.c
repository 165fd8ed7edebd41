/*
 * bm25_dict.c - fuzzy lookup in a BM25 term dictionary. Terms are kept in a
 * byte-sorted array (plus a short unsorted list of recent terms, merged in when
 * it grows); a query walks the sorted array computing Damerau-Levenshtein
 * (optimal string alignment) DP rows, reusing the rows of the prefix shared
 * with the previous term and skipping every term under a prefix whose row
 * minimum already exceeds the distance bound - a trie walk without a trie.
 */
#include <stdlib.h>
#include <string.h>

#include "index/bm25_int.h"
#include "util/mem.h"

#define DICT_MAX_Q 72 /* longest query term handled (bytes) */

static int dict__cmp_bytes(const char *a, size_t al, const char *b, size_t bl)
{
    int c = memcmp(a, b, al < bl ? al : bl);
    if (c)
        return c;
    return (al > bl) - (al < bl);
}

static int dict__cmp_ids(const void *x, const void *y, void *ctx)
{
    const bm25 *ix = ctx;
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
    return dict__cmp_bytes(bm25__term_str(ix, a), ix->terms[a].str_len, bm25__term_str(ix, b),
                           ix->terms[b].str_len);
}

static void dict__merge(bm25 *ix)
{
    qsort_r(ix->recent, ix->n_recent, sizeof *ix->recent, dict__cmp_ids, ix);
    uint32_t n = ix->n_sorted + ix->n_recent;
    uint32_t *m = xmalloc((size_t)n * sizeof *m);
    uint32_t i = 0, j = 0, k = 0;
    while (i < ix->n_sorted || j < ix->n_recent) {
        if (j == ix->n_recent || (i < ix->n_sorted && dict__cmp_ids(&ix->sorted[i], &ix->recent[j], ix) < 0))
            m[k++] = ix->sorted[i++];
        else
            m[k++] = ix->recent[j++];
    }
    free(ix->sorted);
    ix->sorted = m;
    ix->n_sorted = n;
    ix->n_recent = 0;
}

void bm25__fuzzy_note(bm25 *ix, uint32_t t)
{
    if (ix->n_recent == ix->recent_cap) {
        ix->recent_cap = ix->recent_cap ? ix->recent_cap * 2 : 64;
        ix->recent = xrealloc(ix->recent, ix->recent_cap * sizeof *ix->recent);
    }
    ix->recent[ix->n_recent++] = t;
    if (ix->n_recent >= 256 && ix->n_recent * 8 >= ix->n_sorted)
        dict__merge(ix);
}

void bm25__fuzzy_free(bm25 *ix)
{
    free(ix->sorted);
    free(ix->recent);
}

/* Row d of the OSA table: rows[d][j] = distance(term[0..d), q[0..j)). */
static int dict__row(int rows[][DICT_MAX_Q + 1], int d, const char *t, const char *q, size_t ql)
{
    int *r = rows[d], *p = rows[d - 1];
    unsigned char c = (unsigned char)t[d - 1];
    r[0] = d;
    int mn = d;
    for (size_t j = 1; j <= ql; j++) {
        int v = p[j] + 1;
        if (r[j - 1] + 1 < v)
            v = r[j - 1] + 1;
        int s = p[j - 1] + (c != (unsigned char)q[j - 1]);
        if (s < v)
            v = s;
        if (d > 1 && j > 1 && c == (unsigned char)q[j - 2] && (unsigned char)t[d - 2] == (unsigned char)q[j - 1] &&
            rows[d - 2][j - 2] + 1 < v)
            v = rows[d - 2][j - 2] + 1;
        r[j] = v;
        if (v < mn)
            mn = v;
    }
    return mn;
}

int bm25__osa_bounded(const char *a, size_t al, const char *b, size_t bl, int maxd)
{
    if (bl > DICT_MAX_Q || al > DICT_MAX_Q + 2 || (al > bl ? al - bl : bl - al) > (size_t)maxd)
        return maxd + 1;
    int rows[DICT_MAX_Q + 3][DICT_MAX_Q + 1];
    for (size_t j = 0; j <= bl; j++)
        rows[0][j] = (int)j;
    for (size_t d = 1; d <= al; d++)
        if (dict__row(rows, (int)d, a, b, bl) > maxd)
            return maxd + 1;
    return rows[al][bl] <= maxd ? rows[al][bl] : maxd + 1;
}

/* First index in [lo, n) whose term does not start with p[0..pl). */
static uint32_t dict__prefix_end(const bm25 *ix, uint32_t lo, const char *p, size_t pl)
{
    uint32_t hi = ix->n_sorted;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        uint32_t t = ix->sorted[mid];
        const bm25_term *bt = &ix->terms[t];
        size_t l = bt->str_len < pl ? bt->str_len : pl;
        int c = memcmp(bm25__term_str(ix, t), p, l);
        if (c <= 0)
            lo = mid + 1; /* before or under the prefix */
        else
            hi = mid;
    }
    return lo;
}

void bm25__fuzzy_walk(const bm25 *ix, const char *q, size_t ql, int maxd, bm25__visit_fn visit, void *ud)
{
    if (ql == 0 || ql > DICT_MAX_Q)
        return;
    int rows[DICT_MAX_Q + 3][DICT_MAX_Q + 1];
    for (size_t j = 0; j <= ql; j++)
        rows[0][j] = (int)j;
    size_t maxdepth = ql + (size_t)maxd;
    const char *prev = "";
    size_t computed = 0; /* rows[1..computed] are valid for prev */
    uint32_t i = 0;
    while (i < ix->n_sorted) {
        uint32_t t = ix->sorted[i];
        const bm25_term *bt = &ix->terms[t];
        const char *s = bm25__term_str(ix, t);
        size_t tl = bt->str_len;
        size_t cp = 0;
        while (cp < computed && cp < tl && s[cp] == prev[cp])
            cp++;
        size_t depth = tl < maxdepth ? tl : maxdepth;
        size_t d = cp + 1;
        bool pruned = false;
        for (; d <= depth; d++) {
            if (dict__row(rows, (int)d, s, q, ql) > maxd) {
                pruned = true;
                break;
            }
        }
        prev = s;
        if (pruned) {
            computed = d;
            i = dict__prefix_end(ix, i + 1, s, d);
            continue;
        }
        computed = depth;
        if (tl <= maxdepth && bt->df > 0 && rows[tl][ql] <= maxd)
            visit(ud, t, rows[tl][ql]);
        i++;
    }
    for (uint32_t r = 0; r < ix->n_recent; r++) {
        uint32_t t = ix->recent[r];
        const bm25_term *bt = &ix->terms[t];
        if (bt->df == 0)
            continue;
        int dist = bm25__osa_bounded(bm25__term_str(ix, t), bt->str_len, q, ql, maxd);
        if (dist <= maxd)
            visit(ud, t, dist);
    }
}
