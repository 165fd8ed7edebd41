/*
 * semantic.h - the semantic cache: answers to prompts that mean the same.
 * Only requests that qualify use it (chat, temperature <= a maximum, no tools,
 * one choice, a last message from the user). The last user message is
 * embedded (through the embedding cache); everything else that shapes the
 * answer - model, parameters, system prompt, earlier turns, scope - is hashed
 * into a partition, so two conversations or two users never share an answer.
 * A hit is the nearest prompt of the partition with cosine similarity >= the
 * threshold that also passes a guard: numbers, negations and quoted strings
 * of the two prompts must agree. Entries point at exact-cache entries, which
 * hold the answers.
 */
#ifndef RAGD_GW_SEMANTIC_H
#define RAGD_GW_SEMANTIC_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "cache/embcache.h"
#include "util/err.h"

typedef struct gw_semantic gw_semantic;

/* emb is borrowed (must outlive it). max_entries bounds the prompts kept
 * (later ones are not indexed). Caller owns *out. */
int gw_semantic_create(embcache_t *emb, size_t max_entries, gw_semantic **out);
void gw_semantic_destroy(gw_semantic *s);

/* A qualifying call, ready to look up and insert. */
typedef struct gw_sem_query {
    char partition[65];
    char *prompt;      /* the last user message, owned */
    float *vec;        /* its embedding, owned */
} gw_sem_query;

void gw_sem_query_free(gw_sem_query *q);

/* Does the call qualify (see above)? Pure: no embedding. */
bool gw_semantic_qualifies(const cJSON *body, int endpoint, double max_temperature);

/* Fill q for a qualifying call: partition and embedding, computed as work of
 * w's class (embed/sched.h: a live call is interactive, a warm-up bulk; NULL =
 * interactive). RAGD_EINVAL if it does not qualify, else the embedder's error.
 * Thread-safe. */
int gw_semantic_prepare(gw_semantic *s, const cJSON *body, int endpoint, const char *scope,
                        double max_temperature, const embed_work *w, gw_sem_query *q);

/* The nearest prompt in q's partition with similarity >= threshold that
 * passes the guard: its exact-cache key into skey and its similarity into
 * *sim. RAGD_ENOTFOUND if none. Thread-safe. */
int gw_semantic_lookup(gw_semantic *s, const gw_sem_query *q, double threshold, char *skey,
                       size_t n, float *sim);

/* Index q's prompt as answered by the exact entry skey. Thread-safe. */
void gw_semantic_insert(gw_semantic *s, const gw_sem_query *q, const char *skey);

/* Drop an entry whose exact entry is gone. Thread-safe. */
void gw_semantic_forget(gw_semantic *s, const char *partition, const char *skey);

/* The guard: true when numbers, negations and quoted strings agree. */
bool gw_semantic_guard(const char *a, const char *b);

/* Prompts indexed now. */
size_t gw_semantic_count(gw_semantic *s);

#endif
