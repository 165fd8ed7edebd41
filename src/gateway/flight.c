/*
 * flight.c - one upstream call and every client waiting for it
 * (single-flight). The flight records the answer as it comes: SSE chunks are
 * parsed into events, each forwarded at once to the clients streaming it, and
 * kept; a whole body is collected. At the end the answer is stored (only a
 * complete 2xx: a stream must have ended with [DONE]) and each waiting client
 * gets it in the form it asked for. Failures before any byte reached a
 * client are retried with backoff; the provider's breaker hears every result.
 * All upstream callbacks run on the client thread; f->mu guards the rest.
 * The single-flight table (flights by store key, under gw->table_mu) lives
 * here too, since a flight leaves it by itself when it ends.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gateway_int.h"
#include "gateway/sse.h"
#include "util/clock.h"
#include "util/hash.h"
#include "util/json.h"
#include "util/mem.h"

struct gw_flight {
    gateway_t *gw;
    pthread_mutex_t mu;
    gw_flight *next;            /* table chain, guarded by gw->table_mu */
    bool registered;
    char *skey, *canon, *model;
    size_t canon_len;
    gw_provider *prov;
    char url[1024];
    char *body;                 /* what goes upstream */
    size_t len;
    bool upstream_stream, chat, cacheable, locked;
    int64_t ttl_ms, lock_deadline_us;
    int attempts;
    int64_t started_us;         /* the first attempt's start (the request logs' upstream time) */
    /* the current attempt */
    int64_t call_us, ttft_us;   /* when it was sent; to its first event (-1: none yet) */
    int status;
    char ctype[128];
    int64_t retry_after_ms;
    bool retry_pending, streaming, done_seen, too_big, client_bytes;
    buf_t raw;
    sse_parser parser;
    sse_events events;
    gw_sink *sinks;
    gw_sem_query sem;           /* a qualifying call's prompt, indexed on store */
    http_trace trace;           /* the leader's request's trace (empty for a warm-up) */
    bool has_sem;
};

/* ---- the single-flight table ---------------------------------------------- */

static gw_flight **flight__bucket(gateway_t *gw, const char *skey)
{
    return &gw->table[hash_fnv1a64(skey, strlen(skey)) % GW_TABLE_BUCKETS];
}

gw_flight *gw_flight_find(gateway_t *gw, const char *skey)
{
    for (gw_flight *f = *flight__bucket(gw, skey); f; f = f->next)
        if (strcmp(f->skey, skey) == 0)
            return f;
    return NULL;
}

void gw_flight_register(gw_flight *f)
{
    gw_flight **b = flight__bucket(f->gw, f->skey);
    f->next = *b;
    *b = f;
    f->registered = true;
}

/* Leave the table (if registered): later calls for the key start anew. */
static void flight__unregister(gw_flight *f)
{
    if (!f->registered)
        return;
    gateway_t *gw = f->gw;
    pthread_mutex_lock(&gw->table_mu);
    for (gw_flight **pp = flight__bucket(gw, f->skey); *pp; pp = &(*pp)->next) {
        if (*pp == f) {
            *pp = f->next;
            break;
        }
    }
    pthread_mutex_unlock(&gw->table_mu);
}

/* ---- creation ------------------------------------------------------------ */

/* The body to send: the client's bytes, except that a streaming call asks
 * for usage (stream_options.include_usage) so the record can be accounted
 * and replayed with usage to clients that want it. */
static void flight__body(gw_flight *f, const gw_call *call)
{
    const cJSON *so = cJSON_GetObjectItemCaseSensitive(call->body, "stream_options");
    bool has_usage = cJSON_IsObject(so) &&
                     cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(so, "include_usage"));
    if (!f->upstream_stream || has_usage) {
        f->body = xmalloc(call->raw_len + 1);
        memcpy(f->body, call->raw, call->raw_len);
        f->body[call->raw_len] = '\0';
        f->len = call->raw_len;
        return;
    }
    cJSON *b = cJSON_Duplicate(call->body, 1);
    cJSON_DeleteItemFromObjectCaseSensitive(b, "stream_options");
    cJSON *nso = cJSON_Duplicate(cJSON_IsObject(so) ? so : NULL, 1);
    if (!nso)
        nso = cJSON_CreateObject();
    cJSON_DeleteItemFromObjectCaseSensitive(nso, "include_usage");
    cJSON_AddTrueToObject(nso, "include_usage");
    cJSON_AddItemToObject(b, "stream_options", nso);
    buf_t out = BUF_INIT;
    json_write(b, &out);
    cJSON_Delete(b);
    f->body = buf_detach(&out, &f->len);
}

gw_flight *gw_flight_create(gateway_t *gw, const gw_call *call, const gw_prep *p,
                            bool cacheable, gw_sem_query *sem)
{
    gw_flight *f = xcalloc(1, sizeof *f);
    pthread_mutex_init(&f->mu, NULL);
    f->gw = gw;
    f->skey = xstrdup(p->skey);
    f->canon = xmalloc(p->canon.len + 1);
    memcpy(f->canon, p->canon.data, p->canon.len + 1);
    f->canon_len = p->canon.len;
    f->model = xstrdup(p->model);
    f->prov = p->prov;
    snprintf(f->url, sizeof f->url, "%s/%s", p->prov->base_url,
             call->endpoint == GW_COMPLETIONS ? "completions" : "chat/completions");
    f->upstream_stream = p->stream;
    f->chat = p->chat;
    f->cacheable = cacheable;
    f->ttl_ms = p->ttl_ms;
    f->retry_after_ms = -1;
    const http_trace *t = http_trace_current();  /* the creating request's: the leader's */
    if (t)
        f->trace = *t;
    if (sem) {
        f->sem = *sem;
        f->has_sem = true;
        memset(sem, 0, sizeof *sem);
    }
    flight__body(f, call);
    return f;
}

static void flight__free(gw_flight *f)
{
    for (gw_sink *s = f->sinks; s;) {
        gw_sink *n = s->next;
        gw_sink_fail(s, 500, "internal_error", "the upstream call was abandoned");
        s = n;
    }
    buf_free(&f->raw);
    sse_parser_free(&f->parser);
    sse_events_free(&f->events);
    free(f->skey);
    free(f->canon);
    free(f->model);
    free(f->body);
    gw_sem_query_free(&f->sem);
    pthread_mutex_destroy(&f->mu);
    free(f);
}

/* ---- streaming to live sinks ---------------------------------------------- */

/* Write events [s->sent, n) to a live sink. Caller holds f->mu. */
static void flight__catch_up(gw_flight *f, gw_sink *s)
{
    buf_t b = BUF_INIT;
    for (; s->sent < f->events.n; s->sent++) {
        const char *e = f->events.items[s->sent];
        if (s->include_usage || !sse_is_usage_only(e))
            sse_put_event(&b, e, strlen(e));
    }
    if (b.len && http_stream_write(s->st, b.data, b.len) == 0)
        f->client_bytes = true;
    buf_free(&b);
}

static void flight__go_live(gw_flight *f, gw_sink *s)
{
    if (!s->st || !s->want_stream || s->live)
        return;
    s->live = true;
    http_stream_begin(s->st, 200, "text/event-stream");
    flight__catch_up(f, s);
}

void gw_flight_add_sink(gw_flight *f, gw_sink *s)
{
    pthread_mutex_lock(&f->mu);
    s->next = f->sinks;
    f->sinks = s;
    if (f->streaming)
        flight__go_live(f, s);
    pthread_mutex_unlock(&f->mu);
}

static void flight__event(void *ud, const char *data, size_t n)
{
    gw_flight *f = ud;
    if (n == 6 && memcmp(data, "[DONE]", 6) == 0) {
        f->done_seen = true;
        return;
    }
    if (f->ttft_us < 0)
        f->ttft_us = clock_mono_us() - f->call_us;
    sse_events_push(&f->events, data, n);
    for (gw_sink *s = f->sinks; s; s = s->next)
        if (s->live)
            flight__catch_up(f, s);
}

/* ---- upstream callbacks --------------------------------------------------- */

static void flight__call(gw_flight *f);

static void flight__on_head(void *ud, int status, const char *ctype, int64_t retry_after_ms)
{
    gw_flight *f = ud;
    gateway_t *gw = f->gw;
    pthread_mutex_lock(&f->mu);
    f->status = status;
    snprintf(f->ctype, sizeof f->ctype, "%s", ctype);
    f->retry_after_ms = retry_after_ms;
    bool can_retry = f->attempts <= gw->retries && !f->client_bytes &&
                     retry_after_ms <= gw->retry_max_ms;
    if (gw_status_retryable(status) && can_retry) {
        f->retry_pending = true;
    } else if (status >= 200 && status < 300 && f->upstream_stream) {
        f->streaming = true;
        for (gw_sink *s = f->sinks; s; s = s->next)
            flight__go_live(f, s);
    }
    pthread_mutex_unlock(&f->mu);
}

static void flight__on_data(void *ud, const char *data, size_t n)
{
    gw_flight *f = ud;
    pthread_mutex_lock(&f->mu);
    if (f->retry_pending) {
        /* the body of an answer we will retry */
    } else if (f->streaming) {
        sse_parser_feed(&f->parser, data, n, flight__event, f);
    } else if (f->raw.len + n > GW_MAX_BODY) {
        f->too_big = true;
    } else {
        buf_append(&f->raw, data, n);
    }
    pthread_mutex_unlock(&f->mu);
}

/* Forget the current attempt (before a retry). Caller holds f->mu. */
static void flight__reset_attempt(gw_flight *f)
{
    f->status = 0;
    f->ctype[0] = '\0';
    f->retry_after_ms = -1;
    f->retry_pending = f->streaming = f->done_seen = f->too_big = false;
    buf_reset(&f->raw);
    sse_parser_free(&f->parser);
    memset(&f->parser, 0, sizeof f->parser);
    sse_events_free(&f->events);
    for (gw_sink *s = f->sinks; s; s = s->next)
        s->sent = 0;
}

static void flight__retry_timer(void *ud, int cancelled);
static void flight__finish(gw_flight *f, int rc, const char *msg);

static void flight__on_done(void *ud, int rc, const char *msg)
{
    gw_flight *f = ud;
    gateway_t *gw = f->gw;
    int64_t now = clock_mono_us();
    pthread_mutex_lock(&f->mu);
    gw_account_timing(gw->acct, f->model, now - f->call_us, f->ttft_us);
    bool failed = rc != 0 || f->status >= 500;
    bool retry = f->retry_pending ||
                 (rc != 0 && !f->client_bytes && f->attempts <= gw->retries);
    if (f->status != 429 || rc != 0)
        gw_breaker_record(&f->prov->breaker, !failed, now);
    if (retry) {
        int64_t delay = gw_backoff_ms(f->attempts, gw->retry_base_ms, gw->retry_max_ms,
                                      f->retry_after_ms, &gw->rng);
        flight__reset_attempt(f);
        pthread_mutex_unlock(&f->mu);
        __atomic_fetch_add(&gw->retries_done, 1, __ATOMIC_RELAXED);
        gw_client_later(gw->client, delay, flight__retry_timer, f);
        return;
    }
    pthread_mutex_unlock(&f->mu);
    flight__finish(f, rc, msg);
}

static void flight__retry_timer(void *ud, int cancelled)
{
    gw_flight *f = ud;
    if (cancelled) {
        flight__finish(f, RAGD_EIO, "the gateway is stopping");
        return;
    }
    if (!gw_breaker_allow(&f->prov->breaker, clock_mono_us())) {
        flight__finish(f, RAGD_EUNAVAIL, "the upstream's circuit is open");
        return;
    }
    flight__call(f);
}

static void flight__call(gw_flight *f)
{
    f->attempts++;
    f->call_us = clock_mono_us();
    if (f->attempts == 1)
        f->started_us = f->call_us;
    f->ttft_us = -1;
    __atomic_fetch_add(&f->gw->upstream_calls, 1, __ATOMIC_RELAXED);
    gw_call_cbs cbs = { f, flight__on_head, flight__on_data, flight__on_done };
    gw_client_call(f->gw->client, f->url, f->prov->api_key, f->body, f->len,
                   f->prov->timeout_ms, &f->trace, &cbs);
}

/* ---- the end: store, account, deliver ------------------------------------- */

static void flight__lock_key(const gw_flight *f, char *out, size_t n)
{
    snprintf(out, n, "llmlock:%s", f->skey + 4);  /* skey = "llm:{<model>:<hash>}" */
}

/* The record of a complete 2xx answer; false if the answer is incomplete. */
static bool flight__record(gw_flight *f, gw_record *r)
{
    memset(r, 0, sizeof *r);
    r->chat = f->chat;
    if (f->streaming) {
        r->is_stream = true;
        r->events = f->events;
        memset(&f->events, 0, sizeof f->events);
        gw_record_usage(r);
        return f->done_seen && r->events.n > 0;
    }
    r->len = f->raw.len;
    r->body = buf_detach(&f->raw, NULL);
    gw_record_usage(r);
    cJSON *v = cJSON_ParseWithLength(r->body, r->len);
    bool ok = cJSON_IsObject(v) && !f->too_big;
    cJSON_Delete(v);
    return ok;
}

/* Store the answer; true when the store took it. */
static bool flight__store(gw_flight *f, const gw_record *r)
{
    buf_t b = BUF_INIT;
    gw_record_encode(r, f->canon, f->canon_len, &b);
    int rc = cache_put_raw(f->gw->cache, f->skey, strlen(f->skey), "llm", b.data, b.len,
                           "application/json", f->ttl_ms);
    buf_free(&b);
    return rc == 0;
}

/* Hand the outcome to the detached sinks s, without f->mu (flight__deliver_all). */
static void flight__deliver(gw_flight *f, gw_sink *s, int rc, const char *msg,
                            const gw_record *r, bool complete)
{
    bool ok2xx = rc == 0 && f->status >= 200 && f->status < 300;
    int64_t up_us = f->started_us ? clock_mono_us() - f->started_us : -1;
    while (s) {
        gw_sink *next = s->next;
        if (s->st)
            http_stream_log_usage(s->st, complete ? r->in_tokens : -1,
                                  complete ? r->out_tokens : -1, up_us);
        if (s->live) {
            /* Streaming already: finish as the upstream did. */
            if (ok2xx && f->done_seen)
                http_stream_write(s->st, "data: [DONE]\n\n", 14);
            gw_sink_report_usage(s, ok2xx && complete ? gw_record_tokens(r) : 0);
            http_stream_end(s->st, ok2xx);
            gw_sink_free(s, ok2xx && complete ? GW_FILL_FILLED : GW_FILL_FAILED, msg);
        } else if (rc == RAGD_EUNAVAIL) {
            gw_sink_fail(s, 503, "upstream_unavailable", msg);
        } else if (rc != 0) {
            gw_sink_fail(s, rc == RAGD_ETIMEOUT ? 504 : 502,
                         rc == RAGD_ETIMEOUT ? "upstream_timeout" : "upstream_error", msg);
        } else if (ok2xx && complete) {
            gw_sink_deliver(s, r, f->status);
        } else if (ok2xx) {
            gw_sink_fail(s, 502, "upstream_error", "the upstream answer was incomplete");
        } else if (s->st) {
            /* An upstream error: its status and body, as they came. */
            char *body = xmalloc(f->raw.len + 1);
            memcpy(body, f->raw.data ? f->raw.data : "", f->raw.len);
            http_stream_reply(s->st, f->status, f->ctype[0] ? f->ctype : "application/json",
                              body, f->raw.len);
            gw_sink_free(s, GW_FILL_FAILED, "upstream error");
        } else {
            char m[96];
            snprintf(m, sizeof m, "the upstream answered %d", f->status);
            gw_sink_fail(s, f->status, "upstream_error", m);
        }
        s = next;
    }
}

/* Detach every sink and hand each the outcome. The flight is unregistered
 * already, so no sink can join any more, and f->mu is released before the
 * sinks run: a sink's completion may start new calls (warm-up does), which
 * take the gateway's table lock, and elsewhere that lock is held while a
 * flight's is taken (gw_flight_add_sink). Delivering under f->mu was a lock
 * order inversion (ThreadSanitizer, warm-up e2e test). */
static void flight__deliver_all(gw_flight *f, int rc, const char *msg, const gw_record *r,
                                bool complete)
{
    pthread_mutex_lock(&f->mu);
    gw_sink *s = f->sinks;
    f->sinks = NULL;
    pthread_mutex_unlock(&f->mu);
    flight__deliver(f, s, rc, msg, r, complete);
}

static void flight__finish(gw_flight *f, int rc, const char *msg)
{
    gateway_t *gw = f->gw;
    gw_record r;
    memset(&r, 0, sizeof r);
    bool ok2xx = rc == 0 && f->status >= 200 && f->status < 300;
    bool complete = ok2xx && flight__record(f, &r);
    if (rc != RAGD_EUNAVAIL)
        gw_account_upstream(gw->acct, f->model, ok2xx,
                             r.in_tokens > 0 ? r.in_tokens : 0,
                             r.out_tokens > 0 ? r.out_tokens : 0);
    if (complete && f->cacheable && flight__store(f, &r) && f->has_sem && gw->sem)
        gw_semantic_insert(gw->sem, &f->sem, f->skey, f->ttl_ms);
    flight__unregister(f);
    if (f->locked) {
        char lk[STORE_KEY_BUF];
        flight__lock_key(f, lk, sizeof lk);
        store_del(gw->store, lk, strlen(lk));
    }
    flight__deliver_all(f, rc, msg && *msg ? msg : "upstream call failed", &r, complete);
    gw_record_free(&r);
    flight__free(f);
}

/* ---- cross-instance lock (Redis) ------------------------------------------ */

/* Another instance is calling upstream for this key: wait for its answer in
 * the cache, or for its lock to go. Runs on the client thread. */
static void flight__poll(void *ud, int cancelled)
{
    gw_flight *f = ud;
    gateway_t *gw = f->gw;
    if (cancelled) {
        flight__finish(f, RAGD_EIO, "the gateway is stopping");
        return;
    }
    cache_entry e;
    if (cache_get_raw(gw->cache, f->skey, strlen(f->skey), "llm", &e) == 0) {
        gw_record r;
        int rc = gw_record_decode(e.data, e.len, f->canon, f->canon_len, &r);
        cache_entry_free(&e);
        if (rc == 0) {
            flight__unregister(f);
            pthread_mutex_lock(&f->mu);
            f->status = 200;
            pthread_mutex_unlock(&f->mu);
            flight__deliver_all(f, 0, "", &r, true);
            gw_record_free(&r);
            flight__free(f);
            return;
        }
    }
    char lk[STORE_KEY_BUF];
    flight__lock_key(f, lk, sizeof lk);
    int64_t ttl = f->prov->timeout_ms < 120000 ? f->prov->timeout_ms : 120000;
    int rc = store_set(gw->store, lk, strlen(lk), "1", 1, ttl, STORE_NX);
    if (rc == RAGD_EEXISTS && clock_mono_us() < f->lock_deadline_us) {
        gw_client_later(gw->client, GW_LOCK_POLL_MS, flight__poll, f);
        return;
    }
    f->locked = rc == 0;
    flight__call(f);
}

void gw_flight_launch(gw_flight *f)
{
    gateway_t *gw = f->gw;
    if (gw->shared_store && f->cacheable) {
        char lk[STORE_KEY_BUF];
        flight__lock_key(f, lk, sizeof lk);
        int64_t ttl = f->prov->timeout_ms < 120000 ? f->prov->timeout_ms : 120000;
        int rc = store_set(gw->store, lk, strlen(lk), "1", 1, ttl, STORE_NX);
        if (rc == RAGD_EEXISTS) {
            __atomic_fetch_add(&gw->lock_waits, 1, __ATOMIC_RELAXED);
            f->lock_deadline_us = clock_mono_us() + ttl * 1000;
            gw_client_later(gw->client, GW_LOCK_POLL_MS, flight__poll, f);
            return;
        }
        f->locked = rc == 0;
    }
    flight__call(f);
}
