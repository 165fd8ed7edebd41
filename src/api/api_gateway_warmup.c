/*
 * api_gateway_warmup.c - POST /api/v1/cache/warm-up {requests: [chat or
 * completion bodies], concurrency: N}: each request is filled through the
 * upstream (unless already cached) with at most N calls at a time, without
 * holding a worker thread; the answer is the summary (filled, already cached,
 * failed, with the reason of each failure). Every request is validated before
 * the first call starts.
 *
 * Threads: the calls are started by a pump thread of the warm-up's own, never
 * by the gateway's client thread: starting a call may embed its prompt for the
 * semantic cache (bulk model work, which waits its turn behind ingestion), and
 * the client thread must keep moving every other call's bytes meanwhile. A
 * completion (client thread) only records its result and wakes the pump.
 *
 * Shutdown: the pump holds the gateway (gateway_hold) until it returns, so
 * gateway_destroy waits for it; calls failed by the shutdown wake it, and the
 * calls it starts after that fail at once ("the server is shutting down").
 *
 * Lifetime: a job is reference-counted. The pump holds one reference until it
 * has started the last call, and each call out to the gateway holds one until
 * its completion has finished with the job. The answer goes out when the last
 * result is recorded; the job is freed when the last reference drops, never
 * while another holder still uses j->mu.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/api_gateway.h"
#include "http/stream.h"
#include "util/clock.h"
#include "util/json.h"
#include "util/mem.h"

#define WARM_MAX_REQUESTS 10000
#define WARM_MAX_CONCURRENCY 64

typedef struct warm_job warm_job;

typedef struct warm_item {
    warm_job *job;
    int index;
    gw_call call;
    char *raw;
    size_t raw_len;
} warm_item;

struct warm_job {
    int refs;                /* atomic; see the lifetime note above */
    pthread_mutex_t mu;
    pthread_cond_t cv;       /* a call ended (a slot is free) */
    gateway_t *gw;
    http_stream *st;
    cJSON *body;             /* the request; calls borrow from it */
    warm_item *items;
    int n, next, inflight, finished, concurrency;
    int filled, cached, failed;
    cJSON *errors;
    int64_t start_us;
};

static void warm__reply(warm_job *j)
{
    cJSON *out = cJSON_CreateObject();
    cJSON_AddNumberToObject(out, "requested", j->n);
    cJSON_AddNumberToObject(out, "filled", j->filled);
    cJSON_AddNumberToObject(out, "already_cached", j->cached);
    cJSON_AddNumberToObject(out, "failed", j->failed);
    cJSON_AddNumberToObject(out, "concurrency", j->concurrency);
    cJSON_AddNumberToObject(out, "elapsed_ms", (double)(clock_mono_us() - j->start_us) / 1000.0);
    cJSON_AddItemToObject(out, "errors", j->errors);
    j->errors = NULL;  /* out owns it now; every result has been recorded */
    buf_t b = BUF_INIT;
    json_write(out, &b);
    cJSON_Delete(out);
    size_t len;
    char *body = buf_detach(&b, &len);
    http_stream_reply(j->st, 200, "application/json", body, len);
}

static void warm__ref(warm_job *j)
{
    __atomic_add_fetch(&j->refs, 1, __ATOMIC_RELAXED);
}

static void warm__unref(warm_job *j)
{
    if (__atomic_sub_fetch(&j->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    http_stream_release(j->st);
    for (int i = 0; i < j->n; i++)
        free(j->items[i].raw);
    free(j->items);
    cJSON_Delete(j->errors);
    cJSON_Delete(j->body);
    pthread_cond_destroy(&j->cv);
    pthread_mutex_destroy(&j->mu);
    free(j);
}

/* Record one result and wake the pump; true when it was the last. */
static bool warm__record(warm_job *j, int index, int result, const char *msg)
{
    pthread_mutex_lock(&j->mu);
    if (result == GW_FILL_FILLED)
        j->filled++;
    else if (result == GW_FILL_CACHED)
        j->cached++;
    else {
        j->failed++;
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "index", index);
        cJSON_AddStringToObject(e, "error", msg && *msg ? msg : "failed");
        cJSON_AddItemToArray(j->errors, e);
    }
    j->inflight--;
    bool last = ++j->finished == j->n;
    pthread_cond_signal(&j->cv);
    pthread_mutex_unlock(&j->mu);
    return last;
}

/* A call's completion (client thread): record, and answer after the last. */
static void warm__done(void *ud, int result, const char *msg)
{
    warm_item *it = ud;
    warm_job *j = it->job;
    if (warm__record(j, it->index, result, msg))
        warm__reply(j);
    warm__unref(j);
}

/* The pump: start calls while fewer than `concurrency` are out, waiting for a
 * slot, until every call has started; then drop the pump's reference. Results
 * known at once (already cached, invalid) are recorded here. */
static void *warm__pump(void *arg)
{
    warm_job *j = arg;
    for (;;) {
        pthread_mutex_lock(&j->mu);
        while (j->next < j->n && j->inflight >= j->concurrency)
            pthread_cond_wait(&j->cv, &j->mu);
        if (j->next >= j->n) {
            pthread_mutex_unlock(&j->mu);
            break;
        }
        warm_item *it = &j->items[j->next++];
        j->inflight++;
        pthread_mutex_unlock(&j->mu);
        ragd_error err;
        ragd_error_clear(&err);
        warm__ref(j);  /* the call's, dropped by warm__done */
        int r = gateway_fill(j->gw, &it->call, warm__done, it, &err);
        if (r == GW_FILL_PENDING)
            continue;
        warm__unref(j);  /* no callback will come; the pump's reference remains */
        if (warm__record(j, it->index, r, err.msg))
            warm__reply(j);
    }
    gateway_t *gw = j->gw;
    warm__unref(j);
    gateway_release(gw);  /* the hold api_gateway_warm_up took for this thread */
    return NULL;
}

/* Run the pump on a thread of its own (on this one if none can start). */
static void warm__start(warm_job *j)
{
    pthread_t th;
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&th, &at, warm__pump, j) != 0)
        warm__pump(j);
    pthread_attr_destroy(&at);
}

void api_gateway_warm_up(http_req *req, http_resp *resp, cJSON *body)
{
    const cJSON *reqs = json_get_arr(body, "requests");
    int n = cJSON_GetArraySize(reqs);
    int64_t conc = 4;
    if (n == 0 || n > WARM_MAX_REQUESTS) {
        http_error(req, resp, n ? 413 : 400, n ? "too_many_requests" : "invalid_request",
                   "'requests' must hold 1 to %d request bodies", WARM_MAX_REQUESTS);
        cJSON_Delete(body);
        return;
    }
    if (!api_get_count(req, resp, body, "concurrency", 1, WARM_MAX_CONCURRENCY, &conc)) {
        cJSON_Delete(body);
        return;
    }
    warm_job *j = xcalloc(1, sizeof *j);
    j->items = xcalloc((size_t)n, sizeof *j->items);
    j->n = n;
    int i = 0;
    cJSON *items = cJSON_GetObjectItemCaseSensitive(body, "requests");
    for (cJSON *it = items->child; it; it = it->next, i++) {
        warm_item *w = &j->items[i];
        w->job = j;
        w->index = i;
        int ep = json_get_arr(it, "messages") ? GW_CHAT : GW_COMPLETIONS;
        if (!cJSON_IsObject(it) || (ep == GW_COMPLETIONS && !cJSON_GetObjectItem(it, "prompt"))) {
            http_error(req, resp, 400, "invalid_request",
                       "requests[%d]: a chat (messages) or completion (prompt) body", i);
            goto fail;
        }
        if (api_gateway_call(req, resp, it, ep, &w->call))
            goto fail;
        buf_t b = BUF_INIT;
        json_write(it, &b);
        w->raw = buf_detach(&b, &w->raw_len);
        w->call.raw = w->raw;
        w->call.raw_len = w->raw_len;
    }
    if (gateway_hold(api_app(req)->gateway)) {  /* released when the pump returns */
        http_error(req, resp, 503, "unavailable", "the server is shutting down");
        goto fail;
    }
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->cv, NULL);
    j->refs = 1;  /* the pump's */
    j->gw = api_app(req)->gateway;
    j->body = body;
    j->concurrency = (int)conc;
    j->errors = cJSON_CreateArray();
    j->start_us = clock_mono_us();
    j->st = http_stream_open(resp);
    warm__start(j);
    return;
fail:
    for (int k = 0; k < n; k++)
        free(j->items[k].raw);
    free(j->items);
    free(j);
    cJSON_Delete(body);
}
