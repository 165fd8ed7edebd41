/*
 * kb_ns_metrics.c - the knowledge bases' per-namespace gauges for /metrics:
 * documents, chunks and the memory each namespace holds. Namespaces are
 * created by clients, so the series are bounded: the max_values largest (by
 * documents, then by name) have their own, the rest are summed under
 * namespace="_other" (as cache prefixes and models are). Named ragd_namespace_*:
 * promtool reads "kb" in a metric name as an abbreviated unit.
 */
#include <stdlib.h>
#include <string.h>

#include "kb/kb_int.h"
#include "kb/search.h"
#include "obs/metrics.h"
#include "util/mem.h"

#define KB_NS_OTHER "_other"

typedef struct kb_ns_row {
    char name[KB_NS_NAME_MAX + 1];
    uint64_t v[3];                /* documents, chunks, memory bytes */
} kb_ns_row;

/* Largest first; a namespace literally named "_other" sorts last, into the fold. */
static int kb__row_cmp(const void *a, const void *b)
{
    const kb_ns_row *x = a, *y = b;
    bool xo = !strcmp(x->name, KB_NS_OTHER), yo = !strcmp(y->name, KB_NS_OTHER);
    if (xo != yo)
        return xo ? 1 : -1;
    if (x->v[0] != y->v[0])
        return x->v[0] > y->v[0] ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* Every namespace's figures (caller frees). */
static size_t kb__ns_rows(kb_t *kb, kb_ns_row **out)
{
    char **names;
    size_t n, m = 0;
    *out = NULL;
    if (kb_ns_list(kb, &names, &n))
        return 0;
    kb_ns_row *rows = xcalloc(n ? n : 1, sizeof *rows);
    for (size_t i = 0; i < n; i++) {
        kb_ns_info in;
        if (kb_ns_get_info(kb, names[i], &in))
            continue;
        memcpy(rows[m].name, in.name, sizeof rows[m].name);
        rows[m].v[0] = in.documents;
        rows[m].v[1] = in.chunks;
        rows[m].v[2] = in.bm25_bytes + in.hnsw_bytes + in.text_bytes;
        m++;
        kb_ns_info_clear(&in);
    }
    kb_names_free(names, n);
    *out = rows;
    return m;
}

static void kb__ns_sample(buf_t *b, buf_t *lab, const char *family, const char *ns, uint64_t v)
{
    buf_reset(lab);
    metrics_label(lab, "namespace", ns);
    metrics_sample(b, family, lab->data, (double)v);
}

void kb_ns_metrics_render(kb_t *kb, size_t max_values, buf_t *b)
{
    static const char *const fam[3][2] = {
        { "ragd_namespace_documents", "documents in a knowledge-base namespace" },
        { "ragd_namespace_chunks", "chunks (indexed passages) in a knowledge-base namespace" },
        { "ragd_namespace_memory_bytes", "memory a namespace's indexes and text hold" },
    };
    kb_ns_row *rows;
    size_t n = kb__ns_rows(kb, &rows), own = 0;
    qsort(rows, n, sizeof *rows, kb__row_cmp);
    while (own < n && own < max_values && strcmp(rows[own].name, KB_NS_OTHER))
        own++;
    uint64_t other[3] = { 0 };
    for (size_t i = own; i < n; i++)
        for (int f = 0; f < 3; f++)
            other[f] += rows[i].v[f];
    buf_t lab = BUF_INIT;
    for (int f = 0; f < 3; f++) {
        metrics_family(b, fam[f][0], "gauge", fam[f][1]);
        for (size_t i = 0; i < own; i++)
            kb__ns_sample(b, &lab, fam[f][0], rows[i].name, rows[i].v[f]);
        if (n > own)
            kb__ns_sample(b, &lab, fam[f][0], KB_NS_OTHER, other[f]);
    }
    buf_free(&lab);
    free(rows);
}
