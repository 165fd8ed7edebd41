/*
 * stream.c - deferred and streamed responses. One mutex per stream guards its
 * state; the connection is parked (under that mutex) whenever it has nothing
 * to send, and the producer wakes it (under the same mutex, through the
 * server's wake function) when it adds something, so a wake never comes
 * before its park. References: the producer's, the server's (until the
 * connection ends) and one per entry in a worker's wake queue.
 */
#include "http/stream.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "http/stream_int.h"
#include "util/err.h"
#include "util/fmt.h"
#include "util/mem.h"

struct http_stream {
    pthread_mutex_t mu;
    int refs;
    void *conn;                    /* set while the server serves it */
    http_stream_wake_fn wake;
    void *wake_ctx;
    http_stream_reg *reg;
    http_stream *prev, *next;      /* in reg, guarded by reg->mu */
    bool suspended, begun, ended, ok, closed, whole, polled;
    int status;
    char ctype[128];
    buf_t q;                       /* body bytes not yet sent */
    size_t qoff;
    int64_t tokens_in, tokens_out, upstream_us;  /* for the request log (-1 = unknown) */
};

void http_stream__ref(http_stream *s)
{
    pthread_mutex_lock(&s->mu);
    s->refs++;
    pthread_mutex_unlock(&s->mu);
}

void http_stream__unref(http_stream *s)
{
    pthread_mutex_lock(&s->mu);
    int left = --s->refs;
    pthread_mutex_unlock(&s->mu);
    if (left)
        return;
    buf_free(&s->q);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

/* Wake the connection if it waits for us. Caller holds s->mu. */
static void stream__wake(http_stream *s)
{
    if (s->suspended && s->conn) {
        s->suspended = false;
        s->refs++;  /* the wake queue's, dropped by the server */
        s->wake(s->wake_ctx, s);
    }
}

http_stream *http_stream_open(http_resp *resp)
{
    http_stream *s = xcalloc(1, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    s->refs = 2;  /* the caller's and the server's (through resp) */
    s->tokens_in = s->tokens_out = s->upstream_us = -1;
    resp->stream = s;
    resp->status = 0;
    return s;
}

void http_stream_log_usage(http_stream *s, int64_t tokens_in, int64_t tokens_out,
                           int64_t upstream_us)
{
    pthread_mutex_lock(&s->mu);
    s->tokens_in = tokens_in;
    s->tokens_out = tokens_out;
    s->upstream_us = upstream_us;
    pthread_mutex_unlock(&s->mu);
}

void http_stream__usage(http_stream *s, int64_t *tokens_in, int64_t *tokens_out,
                        int64_t *upstream_us)
{
    pthread_mutex_lock(&s->mu);
    *tokens_in = s->tokens_in;
    *tokens_out = s->tokens_out;
    *upstream_us = s->upstream_us;
    pthread_mutex_unlock(&s->mu);
}

void http_stream_begin(http_stream *s, int status, const char *content_type)
{
    pthread_mutex_lock(&s->mu);
    if (!s->begun) {
        s->begun = true;
        s->status = status;
        fmt_copy(s->ctype, sizeof s->ctype, content_type ? content_type : "");
        stream__wake(s);
    }
    pthread_mutex_unlock(&s->mu);
}

int http_stream_write(http_stream *s, const void *data, size_t n)
{
    pthread_mutex_lock(&s->mu);
    int rc = RAGD_OK;
    if (s->closed) {
        rc = RAGD_EIO;
    } else if (!s->ended && n) {
        buf_append(&s->q, data, n);
        if (s->begun)
            stream__wake(s);
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

void http_stream_end(http_stream *s, bool ok)
{
    pthread_mutex_lock(&s->mu);
    if (!s->ended) {
        if (!s->begun) {
            /* Ended before anything was said: a bodiless 502 (the server
             * would otherwise wait for a begin that never comes). */
            s->begun = true;
            s->status = 502;
            ok = false;
        }
        s->ended = true;
        s->ok = ok;
        stream__wake(s);
    }
    pthread_mutex_unlock(&s->mu);
}

void http_stream_reply(http_stream *s, int status, const char *content_type, char *body,
                       size_t len)
{
    pthread_mutex_lock(&s->mu);
    if (s->begun) {
        pthread_mutex_unlock(&s->mu);
        free(body);
        return;
    }
    buf_free(&s->q);
    s->q.data = body;
    s->q.len = len;
    s->q.cap = len;
    s->qoff = 0;
    s->whole = true;
    s->begun = s->ended = s->ok = true;
    s->status = status;
    fmt_copy(s->ctype, sizeof s->ctype, content_type ? content_type : "");
    stream__wake(s);
    pthread_mutex_unlock(&s->mu);
}

void http_stream_release(http_stream *s)
{
    if (s)
        http_stream__unref(s);
}

static void stream__reg_add(http_stream_reg *reg, http_stream *s)
{
    s->reg = reg;
    s->prev = NULL;
    s->next = reg->head;
    if (reg->head)
        reg->head->prev = s;
    reg->head = s;
}

void http_stream__attach(http_stream *s, http_stream_reg *reg, void *conn,
                         http_stream_wake_fn wake, void *wake_ctx)
{
    pthread_mutex_lock(&reg->mu);
    pthread_mutex_lock(&s->mu);
    if (!s->reg)
        stream__reg_add(reg, s);
    s->conn = conn;
    s->wake = wake;
    s->wake_ctx = wake_ctx;
    if (reg->stopping && !s->begun) {
        s->begun = s->ended = true;
        s->status = 503;
    }
    pthread_mutex_unlock(&s->mu);
    pthread_mutex_unlock(&reg->mu);
}

bool http_stream__poll(http_stream *s, http_stream_poll *p, buf_t *data)
{
    pthread_mutex_lock(&s->mu);
    if (!s->begun) {
        s->suspended = true;
        pthread_mutex_unlock(&s->mu);
        return false;
    }
    if (!s->polled && s->ended && !s->ok && s->q.len == 0 && !s->whole) {
        /* Ended before anything was said: a bodiless 502 rather than a hang. */
        s->whole = true;
        if (s->status < 400)
            s->status = 502;
    }
    s->polled = true;
    p->status = s->status;
    fmt_copy(p->ctype, sizeof p->ctype, s->ctype);
    p->whole = s->whole;
    p->ended = s->ended;
    p->ok = s->ok || s->whole;
    if (s->q.len > s->qoff)
        buf_append(data, s->q.data + s->qoff, s->q.len - s->qoff);
    s->qoff = s->q.len = 0;
    if (!s->ended)
        s->suspended = true;
    pthread_mutex_unlock(&s->mu);
    return true;
}

void *http_stream__conn(http_stream *s)
{
    pthread_mutex_lock(&s->mu);
    void *c = s->conn;
    pthread_mutex_unlock(&s->mu);
    return c;
}

void http_stream__detach(http_stream *s)
{
    http_stream_reg *reg = s->reg;
    if (reg)
        pthread_mutex_lock(&reg->mu);
    pthread_mutex_lock(&s->mu);
    if (reg) {
        if (s->prev)
            s->prev->next = s->next;
        else
            reg->head = s->next;
        if (s->next)
            s->next->prev = s->prev;
        s->reg = NULL;
    }
    s->closed = true;
    s->conn = NULL;
    s->suspended = false;
    pthread_mutex_unlock(&s->mu);
    if (reg)
        pthread_mutex_unlock(&reg->mu);
    http_stream__unref(s);
}

void http_stream__abort_all(http_stream_reg *r)
{
    pthread_mutex_lock(&r->mu);
    r->stopping = true;
    for (http_stream *s = r->head; s; s = s->next) {
        pthread_mutex_lock(&s->mu);
        if (!s->begun) {
            s->begun = true;
            s->status = 503;
        }
        if (!s->ended) {
            s->ended = true;
            s->ok = false;
        }
        stream__wake(s);
        pthread_mutex_unlock(&s->mu);
    }
    pthread_mutex_unlock(&r->mu);
}

void http_stream__reg_init(http_stream_reg *r)
{
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->mu, NULL);
}

void http_stream__reg_deinit(http_stream_reg *r)
{
    pthread_mutex_destroy(&r->mu);
}
