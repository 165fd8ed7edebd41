/*
 * embed_bench.c - in-process driver for bench/embed/run.py: embeds the texts
 * of a file (one per line) at the given batch sizes for a few seconds each and
 * prints one JSON line per measurement (sentences/s, GFLOP/s), then single-text
 * latency percentiles. Usage:
 *   embed_bench MODEL_DIR TEXTS_FILE PRECISION(fp32|bf16|auto) SECONDS BATCH...
 * (RAGD_CPU=avx512 in the environment hides AMX: BF16 then runs on AVX512-BF16.)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "embed/embed.h"
#include "util/clock.h"

/* Process CPU seconds (all threads): under a shared machine, wall time alone
 * mixes in other tenants' load. */
static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static char **read_lines(const char *path, size_t *n)
{
    FILE *fp = fopen(path, "r");
    if (!fp)
        return NULL;
    size_t cap = 64;
    char **v = malloc(cap * sizeof *v), *line = NULL;
    size_t lcap = 0;
    ssize_t k;
    *n = 0;
    while ((k = getline(&line, &lcap, fp)) > 0) {
        if (line[k - 1] == '\n')
            line[--k] = '\0';
        if (*n == cap)
            v = realloc(v, (cap *= 2) * sizeof *v);
        v[(*n)++] = strdup(line);
    }
    free(line);
    fclose(fp);
    return v;
}

static void run_batch(embed_model *m, char **texts, size_t nt, size_t batch, double secs)
{
    const char **tx = malloc(batch * sizeof *tx);
    size_t *ln = malloc(batch * sizeof *ln);
    int *ntok = malloc(batch * sizeof *ntok);
    float *out = malloc(batch * embed_model_dim(m) * sizeof *out);
    size_t done = 0, at = 0;
    double flops = 0;
    for (size_t i = 0; i < batch; i++) { /* warm-up */
        tx[i] = texts[(at + i) % nt];
        ln[i] = strlen(tx[i]);
    }
    embed_encode(m, tx, ln, batch, out, ntok, NULL);
    int64_t t0 = clock_mono_us(), t1;
    double c0 = cpu_seconds();
    do {
        for (size_t i = 0; i < batch; i++) {
            tx[i] = texts[(at + i) % nt];
            ln[i] = strlen(tx[i]);
        }
        at += batch;
        if (embed_encode(m, tx, ln, batch, out, ntok, NULL) != 0) {
            fprintf(stderr, "embed_encode failed\n");
            exit(1);
        }
        flops += embed_flops(m, ntok, batch);
        done += batch;
        t1 = clock_mono_us();
    } while (t1 - t0 < (int64_t)(secs * 1e6));
    double s = (double)(t1 - t0) / 1e6, cpu = cpu_seconds() - c0;
    printf("{\"kind\":\"throughput\",\"batch\":%zu,\"sent_per_s\":%.2f,\"gflops\":%.2f,"
           "\"sent_per_cpu_s\":%.2f}\n",
           batch, (double)done / s, flops / s / 1e9, (double)done / cpu);
    fflush(stdout);
    free(tx);
    free(ln);
    free(ntok);
    free(out);
}

static void run_latency(embed_model *m, char **texts, size_t nt, int reps)
{
    int64_t *lat = malloc((size_t)reps * sizeof *lat);
    float *out = malloc(embed_model_dim(m) * sizeof *out);
    for (int i = -20; i < reps; i++) {
        const char *t = texts[(size_t)(i + 20) % nt];
        size_t l = strlen(t);
        int64_t a = clock_mono_ns();
        embed_encode(m, &t, &l, 1, out, NULL, NULL);
        if (i >= 0)
            lat[i] = clock_mono_ns() - a;
    }
    qsort(lat, (size_t)reps, sizeof *lat, cmp_i64);
    printf("{\"kind\":\"latency\",\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"n\":%d}\n",
           lat[reps / 2] / 1e6, lat[(size_t)(reps * 0.99)] / 1e6, reps);
    free(lat);
    free(out);
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: %s MODEL_DIR TEXTS PRECISION SECONDS BATCH...\n", argv[0]);
        return 2;
    }
    embed_opts o;
    embed_default_opts(&o);
    if (getenv("EMBED_THREADS"))
        o.threads = atoi(getenv("EMBED_THREADS"));
    if (embed_precision_parse(argv[3], &o.precision) != 0) {
        fprintf(stderr, "precision must be fp32, bf16 or auto\n");
        return 2;
    }
    size_t nt;
    char **texts = read_lines(argv[2], &nt);
    if (!texts || nt == 0) {
        fprintf(stderr, "no texts in %s\n", argv[2]);
        return 2;
    }
    embed_model *m;
    ragd_error err;
    if (embed_model_open(argv[1], &o, &m, &err) != 0) {
        fprintf(stderr, "open: %s\n", err.msg);
        return 1;
    }
    printf("{\"kind\":\"info\",\"kernel\":\"%s\",\"precision\":\"%s\",\"chosen_ms\":%.1f}\n",
           embed_model_kernel(m), embed_precision_name(embed_model_precision(m)),
           embed_model_precision_choice(m)->total_ms);
    double secs = atof(argv[4]);
    for (int i = 5; i < argc; i++) {
        if (strcmp(argv[i], "latency") == 0)
            run_latency(m, texts, nt, 500);
        else
            run_batch(m, texts, nt, (size_t)atol(argv[i]), secs);
    }
    embed_model_close(m);
    for (size_t i = 0; i < nt; i++)
        free(texts[i]);
    free(texts);
    return 0;
}
