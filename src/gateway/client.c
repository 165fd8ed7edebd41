/*
 * client.c - libcurl multi interface in its own thread. Other threads hand
 * over calls and timers through a mutex-guarded list and wake the thread with
 * curl_multi_wakeup; the thread adds the easy handles, drives the transfers
 * and delivers callbacks. Easy handles are kept for reuse, and the multi
 * handle's connection cache keeps upstream connections alive between calls.
 */
#include "gateway/client.h"

#include <curl/curl.h>
#include <ctype.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/clock.h"
#include "util/mem.h"

typedef struct gw_xfer {
    CURL *easy;
    struct curl_slist *headers;
    char *body;
    char *url;
    size_t len;
    int64_t timeout_ms;
    gw_call_cbs cbs;
    int status;
    char ctype[128];
    int64_t retry_after_ms;
    bool head_sent;
    struct gw_xfer *next, *prev;   /* pending list, then active list */
} gw_xfer;

typedef struct gw_timer {
    int64_t due_us;
    void (*fn)(void *ud, int cancelled);
    void *ud;
    struct gw_timer *next;
} gw_timer;

struct gw_client {
    pthread_t thread;
    CURLM *multi;
    pthread_mutex_t mu;     /* guards pending, timers, idle, stop */
    gw_xfer *pending, *pending_tail;
    gw_xfer *active;        /* transfers in the multi handle (client thread only) */
    gw_timer *timers;
    CURL *idle[64];         /* easy handles kept for reuse (client thread only) */
    int nidle;
    bool stop;
};

static pthread_once_t client__once = PTHREAD_ONCE_INIT;

static void client__global_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

int64_t gw_parse_retry_after(const char *v)
{
    while (*v == ' ' || *v == '\t')
        v++;
    if (!*v)
        return -1;
    if (isdigit((unsigned char)*v)) {
        char *end;
        double s = strtod(v, &end);
        while (*end == ' ' || *end == '\r' || *end == '\n')
            end++;
        return *end ? -1 : (int64_t)(s * 1000.0);
    }
    time_t t = curl_getdate(v, NULL);
    if (t < 0)
        return -1;
    int64_t ms = (int64_t)t * 1000 - clock_wall_ms();
    return ms < 0 ? 0 : ms;
}

static void client__head(gw_xfer *x)
{
    if (x->head_sent)
        return;
    x->head_sent = true;
    if (!x->status) {
        long code = 0;
        curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
        x->status = (int)code;
    }
    if (x->cbs.on_head)
        x->cbs.on_head(x->cbs.ud, x->status, x->ctype, x->retry_after_ms);
}

static size_t client__header_cb(char *line, size_t size, size_t n, void *ud)
{
    gw_xfer *x = ud;
    size_t len = size * n;
    if (len >= 5 && memcmp(line, "HTTP/", 5) == 0) {
        const char *sp = memchr(line, ' ', len);
        x->status = sp ? atoi(sp + 1) : 0;
        x->ctype[0] = '\0';
        x->retry_after_ms = -1;
    } else if ((len == 2 && line[0] == '\r') || (len == 1 && line[0] == '\n')) {
        if (x->status >= 200)
            client__head(x);
    } else {
        const char *colon = memchr(line, ':', len);
        if (!colon)
            return len;
        size_t nlen = (size_t)(colon - line);
        char val[256];
        size_t vlen = len - nlen - 1;
        if (vlen >= sizeof val)
            vlen = sizeof val - 1;
        memcpy(val, colon + 1, vlen);
        val[vlen] = '\0';
        while (vlen && (val[vlen - 1] == '\r' || val[vlen - 1] == '\n' || val[vlen - 1] == ' '))
            val[--vlen] = '\0';
        char *v = val;
        while (*v == ' ')
            v++;
        if (nlen == 12 && strncasecmp(line, "content-type", 12) == 0)
            snprintf(x->ctype, sizeof x->ctype, "%.127s", v);
        else if (nlen == 11 && strncasecmp(line, "retry-after", 11) == 0)
            x->retry_after_ms = gw_parse_retry_after(v);
    }
    return len;
}

static size_t client__write_cb(char *data, size_t size, size_t n, void *ud)
{
    gw_xfer *x = ud;
    client__head(x);
    if (x->cbs.on_data)
        x->cbs.on_data(x->cbs.ud, data, size * n);
    return size * n;
}

static void client__start(gw_client *c, gw_xfer *x)
{
    x->easy = c->nidle ? c->idle[--c->nidle] : curl_easy_init();
    CURL *e = x->easy;
    curl_easy_reset(e);
    curl_easy_setopt(e, CURLOPT_URL, x->url);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    if (x->timeout_ms > 0)
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)x->timeout_ms);
    if (x->body) {
        curl_easy_setopt(e, CURLOPT_POST, 1L);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, x->body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)x->len);
    }
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->headers);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, client__header_cb);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, client__write_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(e, CURLOPT_PRIVATE, x);
    x->prev = NULL;
    x->next = c->active;
    if (c->active)
        c->active->prev = x;
    c->active = x;
    curl_multi_add_handle(c->multi, e);
}

static void client__finish(gw_client *c, gw_xfer *x, CURLcode res)
{
    if (x->prev)
        x->prev->next = x->next;
    else
        c->active = x->next;
    if (x->next)
        x->next->prev = x->prev;
    curl_multi_remove_handle(c->multi, x->easy);
    int rc = RAGD_OK;
    char msg[256] = "";
    if (res == CURLE_OK) {
        client__head(x);
    } else {
        rc = res == CURLE_OPERATION_TIMEDOUT ? RAGD_ETIMEOUT : RAGD_EIO;
        snprintf(msg, sizeof msg, "upstream: %s", curl_easy_strerror(res));
    }
    if (c->nidle < (int)(sizeof c->idle / sizeof c->idle[0]))
        c->idle[c->nidle++] = x->easy;
    else
        curl_easy_cleanup(x->easy);
    if (x->cbs.on_done)
        x->cbs.on_done(x->cbs.ud, rc, msg);
    curl_slist_free_all(x->headers);
    free(x->body);
    free(x->url);
    free(x);
}

/* Take due timers off the list (caller holds mu); returns them in due order
 * of discovery and sets *wait_ms to the time until the next one. */
static gw_timer *client__due(gw_client *c, int64_t now, long *wait_ms)
{
    gw_timer *due = NULL, **pp = &c->timers;
    while (*pp) {
        gw_timer *t = *pp;
        if (t->due_us <= now) {
            *pp = t->next;
            t->next = due;
            due = t;
        } else {
            long w = (long)((t->due_us - now + 999) / 1000);
            if (w < *wait_ms)
                *wait_ms = w;
            pp = &t->next;
        }
    }
    return due;
}

static void *client__main(void *arg)
{
    gw_client *c = arg;
    for (;;) {
        long wait_ms = 1000;
        pthread_mutex_lock(&c->mu);
        if (c->stop) {
            pthread_mutex_unlock(&c->mu);
            break;
        }
        gw_xfer *xs = c->pending;
        c->pending = c->pending_tail = NULL;
        gw_timer *due = client__due(c, clock_mono_us(), &wait_ms);
        pthread_mutex_unlock(&c->mu);
        while (xs) {
            gw_xfer *next = xs->next;
            client__start(c, xs);
            xs = next;
        }
        while (due) {
            gw_timer *next = due->next;
            due->fn(due->ud, 0);
            free(due);
            due = next;
        }
        int running = 0;
        curl_multi_perform(c->multi, &running);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(c->multi, &left))) {
            if (m->msg != CURLMSG_DONE)
                continue;
            gw_xfer *x = NULL;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
            client__finish(c, x, m->data.result);
        }
        curl_multi_poll(c->multi, NULL, 0, (int)wait_ms, NULL);
    }
    return NULL;
}

int gw_client_create(gw_client **out, ragd_error *err)
{
    pthread_once(&client__once, client__global_init);
    gw_client *c = xcalloc(1, sizeof *c);
    c->multi = curl_multi_init();
    if (!c->multi) {
        free(c);
        return ragd_error_set(err, RAGD_EINTERNAL, "gateway: curl_multi_init failed");
    }
    curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, 512L);
    pthread_mutex_init(&c->mu, NULL);
    if (pthread_create(&c->thread, NULL, client__main, c) != 0) {
        curl_multi_cleanup(c->multi);
        pthread_mutex_destroy(&c->mu);
        free(c);
        return ragd_error_set(err, RAGD_EINTERNAL, "gateway: cannot start the client thread");
    }
    *out = c;
    return RAGD_OK;
}

void gw_client_destroy(gw_client *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    c->stop = true;
    pthread_mutex_unlock(&c->mu);
    curl_multi_wakeup(c->multi);
    pthread_join(c->thread, NULL);
    /* The thread is gone: end what is left here. Callbacks may queue more
     * (a retry, a timer), so repeat until nothing is left. */
    for (;;) {
        while (c->active)
            client__finish(c, c->active, CURLE_ABORTED_BY_CALLBACK);
        pthread_mutex_lock(&c->mu);
        gw_xfer *xs = c->pending;
        c->pending = c->pending_tail = NULL;
        long never = 0;
        gw_timer *due = client__due(c, INT64_MAX, &never);
        pthread_mutex_unlock(&c->mu);
        if (!xs && !due)
            break;
        while (xs) {
            gw_xfer *next = xs->next;
            client__start(c, xs);
            client__finish(c, xs, CURLE_ABORTED_BY_CALLBACK);
            xs = next;
        }
        while (due) {
            gw_timer *next = due->next;
            due->fn(due->ud, 1);
            free(due);
            due = next;
        }
    }
    for (int i = 0; i < c->nidle; i++)
        curl_easy_cleanup(c->idle[i]);
    curl_multi_cleanup(c->multi);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

void gw_client_call(gw_client *c, const char *url, const char *api_key, const char *body,
                    size_t len, int64_t timeout_ms, const http_trace *trace,
                    const gw_call_cbs *cbs)
{
    gw_xfer *x = xcalloc(1, sizeof *x);
    x->url = xstrdup(url);
    if (body) {
        x->body = xmalloc(len + 1);
        memcpy(x->body, body, len);
        x->body[len] = '\0';
        x->len = len;
    }
    x->timeout_ms = timeout_ms;
    x->cbs = *cbs;
    x->retry_after_ms = -1;
    x->headers = curl_slist_append(NULL, "Content-Type: application/json");
    x->headers = curl_slist_append(x->headers, "Expect:");
    if (api_key && *api_key) {
        char h[1024];
        snprintf(h, sizeof h, "Authorization: Bearer %s", api_key);
        x->headers = curl_slist_append(x->headers, h);
    }
    char tl[2][HTTP_TRACE_LINE_MAX];
    for (int i = 0, n = http_trace_headers(trace, tl); i < n; i++)
        x->headers = curl_slist_append(x->headers, tl[i]);
    pthread_mutex_lock(&c->mu);
    if (c->pending_tail)
        c->pending_tail->next = x;
    else
        c->pending = x;
    c->pending_tail = x;
    pthread_mutex_unlock(&c->mu);
    curl_multi_wakeup(c->multi);
}

void gw_client_later(gw_client *c, int64_t delay_ms, void (*fn)(void *ud, int cancelled),
                     void *ud)
{
    gw_timer *t = xcalloc(1, sizeof *t);
    t->due_us = clock_mono_us() + delay_ms * 1000;
    t->fn = fn;
    t->ud = ud;
    pthread_mutex_lock(&c->mu);
    t->next = c->timers;
    c->timers = t;
    pthread_mutex_unlock(&c->mu);
    curl_multi_wakeup(c->multi);
}
