/*
 * bm25_bench.c - ragd's side of bench/bm25: indexes a JSONL corpus
 * ({"id","text"} per line) with the BM25 index (k1 0.9, b 0.4 unless given),
 * runs every query of a JSONL query file one at a time on one thread
 * (analysis included; times are thread CPU seconds), writes the top-k run as "qid<TAB>docid<TAB>rank<TAB>
 * score" lines and prints one JSON line with build time and queries/s.
 *
 * usage: bm25_bench corpus.jsonl queries.jsonl run.tsv [k] [k1] [b]
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "index/bm25.h"
#include "util/clock.h"

typedef struct strs {
    char **v;
    size_t n, cap;
} strs;

static void strs_push(strs *s, char *x)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 1024;
        s->v = realloc(s->v, s->cap * sizeof *s->v);
    }
    s->v[s->n++] = x;
}

/* Read a JSONL file into parallel id/text arrays. */
static int read_jsonl(const char *path, strs *ids, strs *texts)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, f)) > 0) {
        cJSON *j = cJSON_ParseWithLength(line, (size_t)len);
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "id");
        const cJSON *tx = cJSON_GetObjectItemCaseSensitive(j, "text");
        if (cJSON_IsString(id) && cJSON_IsString(tx)) {
            strs_push(ids, strdup(id->valuestring));
            strs_push(texts, strdup(tx->valuestring));
        }
        cJSON_Delete(j);
    }
    free(line);
    fclose(f);
    return 0;
}

/* CPU seconds of this process (robust when other work shares the machine). */
static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s corpus.jsonl queries.jsonl run.tsv [k] [k1] [b]\n", argv[0]);
        return 2;
    }
    size_t k = argc > 4 ? (size_t)atoi(argv[4]) : 100;
    bm25_params p = bm25_default_params();
    if (argc > 5)
        p.k1 = (float)atof(argv[5]);
    if (argc > 6)
        p.b = (float)atof(argv[6]);
    strs dids = {0}, dtx = {0}, qids = {0}, qtx = {0};
    if (read_jsonl(argv[1], &dids, &dtx) || read_jsonl(argv[2], &qids, &qtx)) {
        fprintf(stderr, "cannot read inputs\n");
        return 1;
    }
    bm25 *ix;
    if (bm25_create(&p, NULL, &ix) != 0)
        return 1;
    double t0 = cpu_s();
    for (size_t i = 0; i < dids.n; i++)
        bm25_add_doc(ix, (uint32_t)i, dtx.v[i], strlen(dtx.v[i]));
    double build = cpu_s() - t0;
    bm25_hit *hits = malloc(qids.n * k * sizeof *hits);
    size_t *nh = calloc(qids.n, sizeof *nh);
    bm25_search_opts o = {.k = k};
    int64_t w0 = clock_mono_ns();
    t0 = cpu_s();
    for (size_t i = 0; i < qids.n; i++)
        bm25_search(ix, qtx.v[i], strlen(qtx.v[i]), &o, hits + i * k, &nh[i]);
    double qs = cpu_s() - t0, qw = (double)(clock_mono_ns() - w0) / 1e9;
    FILE *out = fopen(argv[3], "w");
    if (!out)
        return 1;
    for (size_t i = 0; i < qids.n; i++)
        for (size_t r = 0; r < nh[i]; r++)
            fprintf(out, "%s\t%s\t%zu\t%.6f\n", qids.v[i], dids.v[hits[i * k + r].doc_id], r + 1,
                    hits[i * k + r].score);
    fclose(out);
    bm25_stats st;
    bm25_get_stats(ix, &st);
    printf("{\"docs\":%llu,\"terms\":%llu,\"build_s\":%.3f,\"queries\":%zu,\"qps\":%.1f,\"qps_wall\":%.1f,"
           "\"memory_mb\":%.1f,\"scored_fraction\":%.3f}\n",
           (unsigned long long)st.n_docs, (unsigned long long)st.n_terms, build, qids.n, (double)qids.n / qs,
           (double)qids.n / qw, (double)st.memory_bytes / 1048576.0,
           st.postings_seen ? (double)st.postings_scored / (double)st.postings_seen : 0.0);
    bm25_destroy(ix);
    for (size_t i = 0; i < dids.n; i++) {
        free(dids.v[i]);
        free(dtx.v[i]);
    }
    for (size_t i = 0; i < qids.n; i++) {
        free(qids.v[i]);
        free(qtx.v[i]);
    }
    free(dids.v);
    free(dtx.v);
    free(qids.v);
    free(qtx.v);
    free(hits);
    free(nh);
    return 0;
}
