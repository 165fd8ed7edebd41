/*
 * embed_remote.h - embeddings from a remote OpenAI-compatible provider with
 * ragd's embedding cache in front. One embedding cache per provider model
 * (keys emb:<model>:<hash>, like the local model's), created on first use;
 * only the texts it misses are sent, in one POST {base_url}/embeddings, with
 * the gateway's retries, circuit breaker and accounting. The calling thread
 * waits for the provider (as it waits for the local model).
 *
 * Concurrent misses of one text share one provider call (single-flight:
 * a small table of texts in flight per model, here rather than the gateway's
 * flight.c, whose flights carry HTTP answers and streams).
 *
 * Dimensions come from the provider's "dimensions" in the config file
 * ({"model": n}) or, for OpenAI's models, a built-in table; otherwise
 * /v1/embeddings refuses the model rather than guess, while a namespace of
 * that model declares its dimension or has it learnt from the provider
 * (gateway_embedder_dim). Provider failures are RAGD_EUPSTREAM, an open
 * circuit RAGD_EUNAVAIL.
 */
#ifndef RAGD_GW_EMBED_REMOTE_H
#define RAGD_GW_EMBED_REMOTE_H

#include <stddef.h>
#include <stdint.h>

#include "cache/embcache.h"
#include "util/buf.h"
#include "util/err.h"

typedef struct gateway gateway_t;
typedef struct gw_remote_embs gw_remote_embs;

/* The dimension of a known provider model (OpenAI's), 0 if unknown. */
size_t gw_remote_known_dim(const char *model);

/* The registry (one per gateway); freed with gw_remote_embs_destroy after the
 * client thread stopped. */
gw_remote_embs *gw_remote_embs_create(void);
void gw_remote_embs_destroy(gw_remote_embs *r);

/* Texts sent and calls made to providers for embeddings (relaxed counters). */
void gw_remote_embs_counts(const gw_remote_embs *r, uint64_t *calls, uint64_t *texts);

#endif
