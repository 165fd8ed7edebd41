/*
 * watch.c - the connection watchdog (see watch.h). The thread wakes every
 * WATCH_TICK_MS, walks the list under mu and shuts down (SHUT_RDWR) the socket
 * of each connection past its phase's deadline; libmicrohttpd then reads EOF and
 * closes it. MHD reports a connection closed before it closes the socket, and
 * the entry leaves the list under mu, so a socket is never shut down after its
 * number was reused.
 */
#include "http/watch.h"

#include <sys/socket.h>
#include <stdlib.h>
#include <time.h>

#include "obs/log.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/mem.h"

#define WATCH_TICK_MS 200
#define WATCH_RESERVE_HEADER_MS 2000

static int64_t watch__now_ms(void)
{
    return clock_mono_us() / 1000;
}

/* The deadline of c's phase in ms (0 = none). */
static int watch__limit(const http_watch *w, const http_conn *c)
{
    switch (atomic_load(&c->phase)) {
    case HTTP_CONN_HEADERS: return c->reserve ? w->reserve_header_ms : w->header_ms;
    case HTTP_CONN_BODY: return w->body_ms;
    case HTTP_CONN_IDLE: return w->idle_ms;
    default: return 0;
    }
}

static void watch__sweep(http_watch *w)
{
    int64_t now = watch__now_ms();
    for (http_conn *c = w->head; c; c = c->next) {
        int limit = watch__limit(w, c);
        if (c->cut || limit <= 0 || now - atomic_load(&c->phase_ms) <= limit)
            continue;
        shutdown(c->fd, SHUT_RDWR);
        c->cut = true;
        atomic_fetch_add(&w->cut, 1);
        log_msg(LOG_DEBUG, "http: connection cut: %s deadline of %d ms passed",
                atomic_load(&c->phase) == HTTP_CONN_BODY ? "body" : "header", limit);
    }
}

static void *watch__main(void *arg)
{
    http_watch *w = arg;
    pthread_mutex_lock(&w->mu);
    while (!w->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += WATCH_TICK_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&w->cv, &w->mu, &ts);
        if (!w->stop)
            watch__sweep(w);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

int http_watch__start(http_watch *w, int header_ms, int body_ms, int idle_ms,
                      unsigned max_conns)
{
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    w->header_ms = header_ms;
    w->body_ms = body_ms;
    w->idle_ms = idle_ms;
    w->reserve_header_ms = header_ms > 0 && header_ms < WATCH_RESERVE_HEADER_MS
                               ? header_ms : WATCH_RESERVE_HEADER_MS;
    w->max_conns = max_conns;
    if (pthread_create(&w->thr, NULL, watch__main, w) != 0)
        return RAGD_EINTERNAL;
    w->running = true;
    return 0;
}

void http_watch__stop(http_watch *w)
{
    if (w->running) {
        pthread_mutex_lock(&w->mu);
        w->stop = true;
        pthread_cond_signal(&w->cv);
        pthread_mutex_unlock(&w->mu);
        pthread_join(w->thr, NULL);
        w->running = false;
    }
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
}

http_conn *http_watch__opened(http_watch *w, int fd)
{
    http_conn *c = xcalloc(1, sizeof *c);
    c->fd = fd;
    c->reserve = atomic_fetch_add(&w->nconns, 1) >= w->max_conns;
    atomic_store(&c->phase, HTTP_CONN_HEADERS);
    atomic_store(&c->phase_ms, watch__now_ms());
    pthread_mutex_lock(&w->mu);
    c->next = w->head;
    if (w->head)
        w->head->prev = c;
    w->head = c;
    pthread_mutex_unlock(&w->mu);
    return c;
}

void http_watch__closed(http_watch *w, http_conn *c)
{
    pthread_mutex_lock(&w->mu);
    if (c->prev)
        c->prev->next = c->next;
    else
        w->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    pthread_mutex_unlock(&w->mu);
    atomic_fetch_sub(&w->nconns, 1);
    free(c);
}

void http_watch__phase(http_conn *c, int phase)
{
    atomic_store(&c->phase_ms, watch__now_ms());
    atomic_store(&c->phase, phase);
}
