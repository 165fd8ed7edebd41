/*
 * gateway_int.h - the gateway's internals shared by gateway.c (lookup,
 * routing), flight.c (one upstream call and the clients waiting for it, and
 * the single-flight table of calls by key) and sink.c (one waiting client).
 * Calls run gateway.c -> flight.c -> sink.c.
 */
#ifndef RAGD_GATEWAY_INT_H
#define RAGD_GATEWAY_INT_H

#include <pthread.h>

#include "gateway/account.h"
#include "gateway/client.h"
#include "gateway/embed_remote.h"
#include "gateway/gateway.h"
#include "gateway/record.h"
#include "gateway/semantic.h"
#include "gateway/semcache.h"
#include "gateway/upstream.h"
#include "http/stream.h"

#define GW_TABLE_BUCKETS 1024
#define GW_MAX_BODY (64u << 20)   /* largest upstream answer we record */
#define GW_LOCK_POLL_MS 25

typedef struct gw_flight gw_flight;

struct gateway {
    cache_t *cache;
    store_t *store;
    bool shared_store;           /* store shared by instances: lock keys coordinate them */
    gw_client *client;
    gw_upstreams ups;
    gw_account *acct;
    gw_semantic *sem;            /* NULL when off or without the embedding model */
    gw_semcache *semc;           /* the standalone semantic cache over sem (NULL with it) */
    double sem_threshold, sem_max_temperature;
    int retries;
    int64_t retry_base_ms, retry_max_ms;
    pthread_mutex_t life_mu;     /* guards the three fields below */
    pthread_cond_t life_cv;      /* fills or holds dropped */
    bool closing;                /* gateway_destroy has begun: fills fail */
    int fills, holds;            /* gateway_fill calls inside; gateway_hold holders */
    pthread_mutex_t table_mu;    /* guards table and the flights' `next` */
    gw_flight *table[GW_TABLE_BUCKETS];
    uint64_t rng;                /* backoff jitter (client thread only) */
    /* counters for the statistics, only touched atomically */
    uint64_t joins, upstream_calls, retries_done, breaker_rejects, lock_waits;
    uint64_t sem_lookups, sem_hits, sem_guard_rejects;
    gw_remote_embs *embs;        /* provider embedding models (embed_remote.c) */
    int64_t emb_ttl_s;           /* their cache TTL (cache_embedding_ttl) */
};

/* A client waiting for a flight: an HTTP response or a callback (warm-up). */
typedef struct gw_sink {
    http_stream *st;
    bool want_stream, include_usage;
    bool live;                   /* its SSE response has begun: events go out as they come */
    size_t sent;                 /* events already written */
    char request_id[HTTP_REQUEST_ID_MAX + 1];
    void (*done)(void *ud, int result, const char *msg);
    void *ud;
    void (*on_usage)(void *ud, int64_t tokens);  /* gw_call's, called once */
    void *usage_ud;
    struct gw_sink *next;
} gw_sink;

/* What a call needs once validated. */
typedef struct gw_prep {
    const char *model;
    gw_provider *prov;
    bool stream, include_usage, chat;
    buf_t canon;
    char hash[HASH_SHA256_HEX_LEN + 1];
    char skey[STORE_KEY_BUF];
    int64_t ttl_ms;
    int64_t max_age_ms;          /* < 0 = a hit of any age */
} gw_prep;

/* flight.c */

/* A new flight for a validated call (not started). cacheable: store the
 * answer; sem (may be NULL; taken) is indexed in the semantic cache once the
 * answer is stored. Caller owns the only reference until gw_flight_launch. */
gw_flight *gw_flight_create(gateway_t *gw, const gw_call *call, const gw_prep *p,
                            bool cacheable, gw_sem_query *sem);

/* The single-flight table (gw->table); the caller holds gw->table_mu. Find
 * the flight calling upstream for skey (NULL if none); register f as the
 * one for its key (it leaves the table by itself when it ends). */
gw_flight *gw_flight_find(gateway_t *gw, const char *skey);
void gw_flight_register(gw_flight *f);

/* Attach a sink (takes ownership). For a flight already streaming, the
 * recorded events are replayed to it first. Thread-safe. */
void gw_flight_add_sink(gw_flight *f, gw_sink *s);

/* Start: take the cross-instance lock when on Redis, then call upstream. */
void gw_flight_launch(gw_flight *f);

/* sink.c */

/* Deliver a record to a sink and free the sink. */
void gw_sink_deliver(gw_sink *s, const gw_record *r, int http_status);

/* Fail a sink with a JSON error and free it. */
void gw_sink_fail(gw_sink *s, int status, const char *code, const char *msg);

/* Report the upstream tokens the sink's answer used, once (later calls do
 * nothing); called before the answer goes out so budgets are settled first. */
void gw_sink_report_usage(gw_sink *s, int64_t tokens);

/* Free a sink that has been answered: report zero usage if none was reported,
 * call its done callback with result/msg, release its stream. */
void gw_sink_free(gw_sink *s, int result, const char *msg);

#endif
