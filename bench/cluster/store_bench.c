/*
 * store_bench.c - cache-sized SETs and GETs straight through the store
 * (store_set / store_get), without ragd's HTTP path: T threads pick one of K
 * keys at random for S seconds against each Redis URL given (one server,
 * Sentinel or Cluster), so the Redis side of one server and of a cluster can be
 * compared without wrk and the HTTP server sharing the cores. Per row: ops/s,
 * latency percentiles, this process' CPU per op, and the ratio to the first
 * target's row of the same op.
 * Usage: store_bench --target LABEL=URL [--target ...] [--threads 8]
 *        [--seconds 3] [--keys 1000] [--value-bytes 64] [--pool 8] [--ops set,get]
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "store/store.h"
#include "util/clock.h"

#define SB_MAX_TARGETS 8
#define SB_HIST_US 20000 /* 1 us buckets up to 20 ms; above that the last bucket */

typedef struct sb_opts {
    const char *label[SB_MAX_TARGETS], *url[SB_MAX_TARGETS];
    int ntargets, threads, keys, value_bytes, pool;
    double seconds;
    char ops[64];
} sb_opts;

typedef struct sb_run {
    store_t *s;
    const sb_opts *o;
    bool set;           /* SET, else GET */
    int64_t deadline_us;
    const char *value;
} sb_run;

typedef struct sb_thread {
    sb_run *run;
    unsigned seed;
    uint64_t ops, errors;
    uint32_t *hist; /* SB_HIST_US + 1 buckets, owned */
} sb_thread;

static int sb__key(char *buf, size_t cap, unsigned *seed, int keys)
{
    return snprintf(buf, cap, "cache:bench:k%d", (int)(rand_r(seed) % (unsigned)keys) + 1);
}

static void *sb__worker(void *arg)
{
    sb_thread *t = arg;
    const sb_run *r = t->run;
    size_t vlen = (size_t)r->o->value_bytes;
    char key[64];
    while (clock_mono_us() < r->deadline_us) {
        int kl = sb__key(key, sizeof key, &t->seed, r->o->keys);
        int64_t t0 = clock_mono_us();
        int rc;
        if (r->set) {
            rc = store_set(r->s, key, (size_t)kl, r->value, vlen, 3600 * 1000, STORE_EVICTABLE);
        } else {
            store_value v;
            rc = store_get(r->s, key, (size_t)kl, &v);
            if (rc == 0)
                store_value_free(&v);
        }
        int64_t us = clock_mono_us() - t0;
        t->hist[us < SB_HIST_US ? us : SB_HIST_US]++;
        t->ops++;
        t->errors += rc != 0;
    }
    return NULL;
}

static double sb__cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

/* The smallest bucket at or below which q of n samples lie. */
static int sb__pct(const uint64_t *hist, uint64_t n, double q)
{
    uint64_t want = (uint64_t)((double)n * q), seen = 0;
    for (int i = 0; i <= SB_HIST_US; i++)
        if ((seen += hist[i]) >= want && seen)
            return i;
    return SB_HIST_US;
}

/* One timed run of op on s; prints its row; returns ops/s. */
static double sb__run(store_t *s, const sb_opts *o, const char *label, bool set, double base)
{
    char *value = malloc((size_t)o->value_bytes + 1);
    memset(value, 'v', (size_t)o->value_bytes);
    sb_run r = { s, o, set, 0, value };
    sb_thread *ts = calloc((size_t)o->threads, sizeof *ts);
    pthread_t *th = calloc((size_t)o->threads, sizeof *th);
    double cpu0 = sb__cpu_s();
    int64_t t0 = clock_mono_us();
    r.deadline_us = t0 + (int64_t)(o->seconds * 1e6);
    for (int i = 0; i < o->threads; i++) {
        ts[i] = (sb_thread){ &r, (unsigned)(i * 7919 + 1), 0, 0,
                             calloc(SB_HIST_US + 1, sizeof *ts[i].hist) };
        pthread_create(&th[i], NULL, sb__worker, &ts[i]);
    }
    uint64_t *hist = calloc(SB_HIST_US + 1, sizeof *hist), ops = 0, errors = 0;
    for (int i = 0; i < o->threads; i++) {
        pthread_join(th[i], NULL);
        for (int b = 0; b <= SB_HIST_US; b++)
            hist[b] += ts[i].hist[b];
        ops += ts[i].ops;
        errors += ts[i].errors;
        free(ts[i].hist);
    }
    double el = (double)(clock_mono_us() - t0) / 1e6, cpu = sb__cpu_s() - cpu0;
    double rate = (double)ops / el;
    printf("| %-24s | %-3s | %7d | %10.0f | %6.2f | %6d | %6d | %7.1f | %6llu |\n", label,
           set ? "SET" : "GET", o->threads, rate, base > 0 ? rate / base : 1.0,
           sb__pct(hist, ops, 0.50), sb__pct(hist, ops, 0.99), ops ? cpu * 1e6 / (double)ops : 0,
           (unsigned long long)errors);
    fflush(stdout);
    free(hist);
    free(th);
    free(ts);
    free(value);
    return rate;
}

/* Write every key once, so GETs hit. */
static int sb__prime(store_t *s, const sb_opts *o)
{
    char *value = malloc((size_t)o->value_bytes + 1);
    memset(value, 'v', (size_t)o->value_bytes);
    char key[64];
    int rc = 0;
    for (int k = 1; k <= o->keys && rc == 0; k++) {
        int kl = snprintf(key, sizeof key, "cache:bench:k%d", k);
        rc = store_set(s, key, (size_t)kl, value, (size_t)o->value_bytes, 3600 * 1000,
                       STORE_EVICTABLE);
    }
    free(value);
    return rc;
}

static int sb__args(int argc, char **argv, sb_opts *o)
{
    *o = (sb_opts){ .threads = 8, .keys = 1000, .value_bytes = 64, .pool = 8, .seconds = 3,
                    .ops = "set,get" };
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *a = argv[i], *v = argv[i + 1];
        if (!strcmp(a, "--target") && o->ntargets < SB_MAX_TARGETS && strchr(v, '=')) {
            char *eq = strchr(v, '=');
            *eq = '\0';
            o->label[o->ntargets] = v;
            o->url[o->ntargets++] = eq + 1;
        } else if (!strcmp(a, "--threads")) {
            o->threads = atoi(v);
        } else if (!strcmp(a, "--seconds")) {
            o->seconds = atof(v);
        } else if (!strcmp(a, "--keys")) {
            o->keys = atoi(v);
        } else if (!strcmp(a, "--value-bytes")) {
            o->value_bytes = atoi(v);
        } else if (!strcmp(a, "--pool")) {
            o->pool = atoi(v);
        } else if (!strcmp(a, "--ops")) {
            snprintf(o->ops, sizeof o->ops, "%s", v);
        } else {
            return -1;
        }
    }
    if (o->ntargets == 0 || o->threads < 1 || o->threads > 256 || o->keys < 1 ||
        o->value_bytes < 0 || o->value_bytes > (1 << 20) || o->seconds <= 0 || o->pool < 1)
        return -1;
    return 0;
}

int main(int argc, char **argv)
{
    sb_opts o;
    if (sb__args(argc, argv, &o)) {
        fprintf(stderr, "usage: store_bench --target LABEL=URL [--target ...] [--threads 8] "
                        "[--seconds 3] [--keys 1000] [--value-bytes 64] [--pool 8] "
                        "[--ops set,get]\n");
        return 2;
    }
    printf("| target                   | op  | threads | ops/s      | vs 1st | p50 us | p99 us "
           "| cpu us/op | errors |\n");
    printf("|--------------------------|-----|---------|------------|--------|--------|--------"
           "|-----------|--------|\n");
    double base_set = 0, base_get = 0;
    for (int t = 0; t < o.ntargets; t++) {
        store_config cfg;
        store_config_default(&cfg);
        cfg.url = o.url[t];
        cfg.pool_size = o.pool;
        store_t *s;
        ragd_error err;
        if (store_open(&cfg, &s, &err)) {
            fprintf(stderr, "%s: %s\n", o.label[t], err.msg);
            return 1;
        }
        if (sb__prime(s, &o)) {
            fprintf(stderr, "%s: cannot write the keys\n", o.label[t]);
            store_close(s);
            return 1;
        }
        for (const char *op = o.ops; *op; op += strcspn(op, ",") + (op[strcspn(op, ",")] != 0)) {
            bool set = strncmp(op, "set", 3) == 0;
            double rate = sb__run(s, &o, o.label[t], set, set ? base_set : base_get);
            if (t == 0)
                *(set ? &base_set : &base_get) = rate;
        }
        store_close(s);
    }
    return 0;
}
