/*
 * rl_bench.c - rate-limit decisions per second straight through the store
 * (store_ratelimit), per algorithm, on LMDB and (with a URL) on Redis: T
 * threads hammer one hot limiter for D seconds; the limit is set well below the
 * number of calls, so the run also checks that exactly `limit` were allowed.
 * Usage: bench_rl_bench [--threads 8] [--seconds 3] [--limit 20000] [--redis URL]
 * Prints one table row per (backend, algorithm).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/store.h"
#include "util/clock.h"

typedef struct run {
    store_t *s;
    int algo;
    int64_t limit;
    int64_t deadline_us;
    char key[64];
    _Atomic long calls, allowed, errors;
} run;

static void *worker(void *arg)
{
    run *r = arg;
    /* A 30-day window: GCRA refills one unit per window/limit, far longer than the run. */
    store_rl_params p = { r->algo, r->limit, 30ll * 86400 * 1000, 0, 1, false };
    long calls = 0, allowed = 0, errors = 0;
    while (clock_mono_us() < r->deadline_us) {
        for (int i = 0; i < 64; i++) {
            store_rl_result res;
            if (store_ratelimit(r->s, r->key, strlen(r->key), &p, &res))
                errors++;
            else
                allowed += res.allowed;
            calls++;
        }
    }
    atomic_fetch_add(&r->calls, calls);
    atomic_fetch_add(&r->allowed, allowed);
    atomic_fetch_add(&r->errors, errors);
    return NULL;
}

static const char *algo_name(int a)
{
    return a == STORE_RL_FIXED ? "fixed_window" : a == STORE_RL_SLIDING ? "sliding_window" : "gcra";
}

static void bench(store_t *s, const char *backend, int threads, double seconds, int64_t limit,
                  double *base)
{
    for (int algo = STORE_RL_FIXED; algo <= STORE_RL_GCRA; algo++) {
        run r = { .s = s, .algo = algo, .limit = limit };
        snprintf(r.key, sizeof r.key, "rl:bench:%s:%d:%lld", algo_name(algo), (int)getpid(),
                 (long long)clock_wall_ms());
        pthread_t *th = malloc((size_t)threads * sizeof *th);
        int64_t t0 = clock_mono_us();
        r.deadline_us = t0 + (int64_t)(seconds * 1e6);
        for (int i = 0; i < threads; i++)
            pthread_create(&th[i], NULL, worker, &r);
        for (int i = 0; i < threads; i++)
            pthread_join(th[i], NULL);
        double el = (double)(clock_mono_us() - t0) / 1e6;
        free(th);
        double rate = (double)r.calls / el;
        if (algo == STORE_RL_FIXED)
            *base = rate;
        long expect = r.calls < limit ? r.calls : (long)limit;
        printf("| %-6s | %-14s | %7d | %12.0f | %5.2fx | %9ld | %8ld | %6lld | %-5s |\n",
               backend, algo_name(algo), threads, rate, rate / *base, (long)r.calls,
               (long)r.allowed, (long long)limit,
               r.errors == 0 && r.allowed == expect ? "yes" : "NO");
        store_del(s, r.key, strlen(r.key));
    }
}

int main(int argc, char **argv)
{
    int threads = 8;
    double seconds = 3;
    int64_t limit = 20000;
    const char *redis = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--threads"))
            threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--seconds"))
            seconds = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--limit"))
            limit = atoll(argv[i + 1]);
        else if (!strcmp(argv[i], "--redis"))
            redis = argv[i + 1];
    }
    printf("| store  | algorithm      | threads | decisions/s  | vs fixed | calls     | allowed  | limit  | exact |\n");
    printf("|--------|----------------|---------|--------------|----------|-----------|----------|--------|-------|\n");
    char dir[] = "/tmp/ragd_rl_bench_XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    store_config cfg;
    store_config_default(&cfg);
    cfg.data_dir = dir;
    cfg.map_size = 256ull << 20;
    store_t *s;
    ragd_error err;
    double base = 1;
    if (store_open(&cfg, &s, &err)) {
        fprintf(stderr, "lmdb: %s\n", err.msg);
        return 1;
    }
    bench(s, "lmdb", threads, seconds, limit, &base);
    store_close(s);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
    if (redis) {
        store_config_default(&cfg);
        cfg.url = redis;
        cfg.pool_size = threads;
        if (store_open(&cfg, &s, &err)) {
            fprintf(stderr, "redis: %s\n", err.msg);
            return 1;
        }
        bench(s, "redis", threads, seconds, limit, &base);
        store_close(s);
    }
    return 0;
}
