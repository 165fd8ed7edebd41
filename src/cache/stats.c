/*
 * stats.c - a fixed open-addressing table of prefixes. Slots are claimed once
 * under a mutex and never move, so counter updates are plain atomic adds.
 * Also the prefix classes and the efficiency rating computed over snapshots.
 */
#include "cache/stats.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "util/hash.h"
#include "util/mem.h"

#define STATS_SLOTS 1024   /* power of two */
#define STATS_MAX_USED 768  /* keeps probe chains short */

/* Claimed at creation, outside the clients' share: the overflow bucket and
 * the internal caches' prefixes (embeddings, gateway responses). */
static const char *const stats_reserved[] = { "_other", "emb", "llm" };
#define STATS_NRESERVED (int)(sizeof stats_reserved / sizeof stats_reserved[0])

typedef struct slot {
    int used;  /* atomic: 0 empty, 1 ready */
    cache_prefix_stats s;
} slot_t;

struct cache_stats {
    pthread_mutex_t lock;
    int nused, max_used;
    slot_t slots[STATS_SLOTS];
};

static cache_prefix_stats *stats__find(cache_stats_t *st, const char *prefix, int depth);

cache_stats_t *cache_stats_create(int max_prefixes)
{
    cache_stats_t *st = xcalloc(1, sizeof *st);
    pthread_mutex_init(&st->lock, NULL);
    int cap = STATS_MAX_USED - STATS_NRESERVED;
    st->max_used = STATS_NRESERVED + (max_prefixes > 0 && max_prefixes < cap ? max_prefixes : cap);
    /* Claim the overflow bucket first, so it exists when the table is full. */
    for (int i = 0; i < STATS_NRESERVED; i++)
        stats__find(st, stats_reserved[i], 0);
    return st;
}

void cache_stats_destroy(cache_stats_t *st)
{
    if (!st)
        return;
    pthread_mutex_destroy(&st->lock);
    free(st);
}

static cache_prefix_stats *stats__find(cache_stats_t *st, const char *prefix, int depth)
{
    size_t n = strlen(prefix);
    if (n >= sizeof st->slots[0].s.prefix)
        n = sizeof st->slots[0].s.prefix - 1;
    uint64_t h = hash_fnv1a64(prefix, n);
    for (size_t i = 0; i < STATS_SLOTS; i++) {
        slot_t *sl = &st->slots[(h + i) & (STATS_SLOTS - 1)];
        if (__atomic_load_n(&sl->used, __ATOMIC_ACQUIRE)) {
            if (strncmp(sl->s.prefix, prefix, n) == 0 && sl->s.prefix[n] == '\0')
                return &sl->s;
            continue;
        }
        pthread_mutex_lock(&st->lock);
        if (__atomic_load_n(&sl->used, __ATOMIC_ACQUIRE)) {
            /* Claimed meanwhile: re-check this slot on the next pass. */
            pthread_mutex_unlock(&st->lock);
            return stats__find(st, prefix, depth);
        }
        if (st->nused >= st->max_used) {
            pthread_mutex_unlock(&st->lock);
            return depth ? NULL : stats__find(st, "_other", 1);
        }
        memcpy(sl->s.prefix, prefix, n);
        sl->s.prefix[n] = '\0';
        st->nused++;
        __atomic_store_n(&sl->used, 1, __ATOMIC_RELEASE);
        pthread_mutex_unlock(&st->lock);
        return &sl->s;
    }
    return NULL;
}

#define ADD(field, v) __atomic_fetch_add(&(field), (v), __ATOMIC_RELAXED)

void cache_stats_hit(cache_stats_t *st, const char *prefix)
{
    cache_prefix_stats *s = stats__find(st, prefix, 0);
    if (s)
        ADD(s->hits, 1);
}

void cache_stats_miss(cache_stats_t *st, const char *prefix)
{
    cache_prefix_stats *s = stats__find(st, prefix, 0);
    if (s)
        ADD(s->misses, 1);
}

void cache_stats_write(cache_stats_t *st, const char *prefix, uint64_t raw, uint64_t stored)
{
    cache_prefix_stats *s = stats__find(st, prefix, 0);
    if (s) {
        ADD(s->writes, 1);
        ADD(s->raw_bytes, raw);
        ADD(s->stored_bytes, stored);
    }
}

void cache_stats_skipped_write(cache_stats_t *st, const char *prefix)
{
    cache_prefix_stats *s = stats__find(st, prefix, 0);
    if (s)
        ADD(s->skipped_writes, 1);
}

cache_prefix_stats *cache_stats_snapshot(cache_stats_t *st, int *n)
{
    cache_prefix_stats *out = xmalloc(STATS_SLOTS * sizeof *out);
    int k = 0;
    for (size_t i = 0; i < STATS_SLOTS; i++) {
        slot_t *sl = &st->slots[i];
        if (!__atomic_load_n(&sl->used, __ATOMIC_ACQUIRE))
            continue;
        cache_prefix_stats *d = &out[k];
        memcpy(d->prefix, sl->s.prefix, sizeof d->prefix);
        d->hits = __atomic_load_n(&sl->s.hits, __ATOMIC_RELAXED);
        d->misses = __atomic_load_n(&sl->s.misses, __ATOMIC_RELAXED);
        d->writes = __atomic_load_n(&sl->s.writes, __ATOMIC_RELAXED);
        d->skipped_writes = __atomic_load_n(&sl->s.skipped_writes, __ATOMIC_RELAXED);
        d->raw_bytes = __atomic_load_n(&sl->s.raw_bytes, __ATOMIC_RELAXED);
        d->stored_bytes = __atomic_load_n(&sl->s.stored_bytes, __ATOMIC_RELAXED);
        if (d->hits || d->misses || d->writes || d->skipped_writes)
            k++;  /* prefixes with no traffic (the reserved "_other") are left out */
    }
    *n = k;
    return out;
}

const char *const cache_class_names[CACHE_CLASS_N] = { "llm", "embeddings", "generic" };

cache_class cache_stats_class(const char *prefix)
{
    if (strcmp(prefix, "llm") == 0)
        return CACHE_CLASS_LLM;
    if (strcmp(prefix, "emb") == 0)
        return CACHE_CLASS_EMB;
    return CACHE_CLASS_GENERIC;
}

bool cache_stats_filling(const cache_prefix_stats *p, int64_t keys)
{
    return keys >= 0 && p->writes > 0 && p->hits < p->writes &&
           (uint64_t)keys * 10 >= p->writes * 9;
}

static const char *stats__rating(uint64_t lookups, double rate)
{
    if (lookups == 0)
        return "no data";
    if (lookups < CACHE_STATS_MIN_LOOKUPS)
        return "insufficient data";
    if (rate >= 0.8)
        return "excellent";
    if (rate >= 0.6)
        return "good";
    return "needs improvement";
}

void cache_stats_efficiency(const cache_prefix_stats *ps, const int64_t *keys, int n,
                            cache_efficiency *out)
{
    uint64_t llm_hits = 0, llm_lookups = 0, hits = 0, lookups = 0;
    for (int i = 0; i < n; i++) {
        if (cache_stats_class(ps[i].prefix) == CACHE_CLASS_LLM) {
            llm_hits += ps[i].hits;
            llm_lookups += ps[i].hits + ps[i].misses;
        }
        if (cache_stats_filling(&ps[i], keys ? keys[i] : -1))
            continue;
        hits += ps[i].hits;
        lookups += ps[i].hits + ps[i].misses;
    }
    bool llm = llm_lookups >= CACHE_STATS_MIN_LOOKUPS;
    out->basis = llm ? "llm" : "all";
    out->hits = llm ? llm_hits : hits;
    out->lookups = llm ? llm_lookups : lookups;
    out->hit_rate = out->lookups ? (double)out->hits / (double)out->lookups : 0.0;
    out->rating = stats__rating(out->lookups, out->hit_rate);
}
