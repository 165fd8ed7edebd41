/*
 * ann_bench.c - ragd's side of bench/ann: builds an HNSW index over a raw
 * float32 matrix (single thread), then for each ef_search runs every query
 * one at a time (single thread) and reports recall@k against a given ground
 * truth and queries/s; optionally a filtered run (ids with id % 10 == 0).
 * Times are this process's CPU time (wall time is printed too), so other load
 * on a shared machine does not skew the ratios. Output: one JSON object per
 * line, read by bench/ann/run.py.
 *
 * usage: ann_bench data.f32 queries.f32 gt.i32 gt_filtered.i32 dim M efC
 *                  efS[,efS...] [int8]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "index/hnsw.h"
#include "util/clock.h"

static void *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *p = malloc((size_t)n);
    if (p && fread(p, 1, (size_t)n, f) != (size_t)n) {
        free(p);
        p = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return p;
}

/* CPU seconds of this process: insensitive to other processes on a shared box. */
static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static bool filt10(void *ud, uint32_t id)
{
    (void)ud;
    return id % 10 == 0;
}

static void run(hnsw *ix, const float *q, size_t nq, uint32_t dim, const int32_t *gt, size_t k, uint32_t ef,
                bool filtered, hnsw_mode mode, const char *label)
{
    vec_hit *h = malloc(k * sizeof *h);
    long hit = 0;
    hnsw_search_opts o = {.k = k, .ef = ef, .filter = filtered ? filt10 : NULL, .n_match = -1, .mode = mode};
    int64_t t0 = clock_mono_ns();
    double c0 = cpu_s();
    for (size_t i = 0; i < nq; i++) {
        size_t n;
        hnsw_search(ix, q + i * dim, &o, h, &n);
        for (size_t a = 0; a < n; a++)
            for (size_t b = 0; b < k; b++)
                if ((int32_t)h[a].id == gt[i * k + b]) {
                    hit++;
                    break;
                }
    }
    double s = (double)(clock_mono_ns() - t0) / 1e9, cs = cpu_s() - c0;
    printf("{\"kind\":\"search\",\"label\":\"%s\",\"ef\":%u,\"filtered\":%d,\"recall\":%.4f,\"qps\":%.1f,"
           "\"qps_wall\":%.1f}\n",
           label, ef, filtered, (double)hit / (double)(nq * k), (double)nq / cs, (double)nq / s);
    fflush(stdout);
    free(h);
}

int main(int argc, char **argv)
{
    if (argc < 9) {
        fprintf(stderr, "usage: %s data.f32 queries.f32 gt.i32 gtf.i32 dim M efC efS[,efS] [int8]\n", argv[0]);
        return 2;
    }
    uint32_t dim = (uint32_t)atoi(argv[5]);
    size_t dl, ql, gl, gfl;
    float *data = slurp(argv[1], &dl), *q = slurp(argv[2], &ql);
    int32_t *gt = slurp(argv[3], &gl), *gtf = slurp(argv[4], &gfl);
    if (!data || !q || !gt || !gtf) {
        fprintf(stderr, "cannot read inputs\n");
        return 1;
    }
    size_t n = dl / (dim * 4), nq = ql / (dim * 4), k = gl / 4 / nq;
    hnsw_params p = hnsw_default_params(dim);
    p.M = (uint32_t)atoi(argv[6]);
    p.ef_construction = (uint32_t)atoi(argv[7]);
    p.int8 = argc > 9 && strcmp(argv[9], "int8") == 0;
    const char *label = p.int8 ? "ragd-int8" : "ragd";
    hnsw *ix;
    const char *snap = getenv("ANN_SNAPSHOT"); /* reuse a saved graph (profiling runs) */
    int64_t t0 = clock_mono_ns();
    double c0 = cpu_s();
    if (snap && hnsw_load(snap, &ix) == 0) {
        fprintf(stderr, "loaded %s\n", snap);
    } else {
        if (hnsw_create(&p, &ix) != 0)
            return 1;
        for (size_t i = 0; i < n; i++)
            hnsw_insert(ix, (uint32_t)i, data + i * dim);
        if (snap)
            hnsw_save(ix, snap);
    }
    double bs = cpu_s() - c0, bw = (double)(clock_mono_ns() - t0) / 1e9;
    hnsw_stats st;
    hnsw_get_stats(ix, &st);
    printf("{\"kind\":\"build\",\"label\":\"%s\",\"n\":%zu,\"seconds\":%.2f,\"seconds_wall\":%.2f,"
           "\"memory_mb\":%.1f}\n",
           label, n, bs, bw, (double)st.memory_bytes / 1048576.0);
    fflush(stdout);
    char *efs = strdup(argv[8]);
    for (char *tok = strtok(efs, ","); tok; tok = strtok(NULL, ","))
        run(ix, q, nq, dim, gt, k, (uint32_t)atoi(tok), false, HNSW_GRAPH, label);
    free(efs);
    efs = strdup(argv[8]);
    for (char *tok = strtok(efs, ","); tok; tok = strtok(NULL, ","))
        run(ix, q, nq, dim, gtf, k, (uint32_t)atoi(tok), true, HNSW_GRAPH, label);
    run(ix, q, nq, dim, gtf, k, 64, true, HNSW_AUTO, p.int8 ? "ragd-int8-auto" : "ragd-auto");
    free(efs);
    hnsw_destroy(ix);
    free(data);
    free(q);
    free(gt);
    free(gtf);
    return 0;
}
