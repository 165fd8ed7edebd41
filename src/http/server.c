/*
 * server.c - ragd's HTTP/1.1 server: N worker threads, each with its own epoll
 * (the event loop shape of Redis' ae), all sharing the listening socket with
 * EPOLLEXCLUSIVE so one worker wakes per new connection. A worker owns the
 * connections it accepted (server_conn.c runs them, edge-triggered, on
 * non-blocking sockets) and an eventfd other threads write to: a stream's
 * producer queues a wake for a parked connection, a closing connection lets
 * paused workers listen again, stop asks them to quiesce or exit.
 * Deadlines are swept by each worker every H1_SWEEP_MS: the request line and
 * headers within header_timeout (reserve connections H1_RESERVE_HEADER_MS),
 * the body within body_timeout, and no byte in or out for idle_timeout; a
 * request cut midway is answered 408. Past max_connections, HTTP_RESERVE_CONNS
 * more connections serve /health and /metrics only; past those the workers
 * stop accepting (the rest wait in the listen backlog) until one closes.
 */
#include "http/server.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "http/server_int.h"
#include "obs/log.h"
#include "util/clock.h"
#include "util/mem.h"

#define H1_SWEEP_MS 200
#define H1_ACCEPT_BATCH 16
#define H1_EVENTS 64

static void server__listen(h1_worker *w, bool on)
{
    if (w->listening == on)
        return;
    struct epoll_event ev = { .events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = w->s };
    epoll_ctl(w->ep, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, w->s->lfd, &ev);
    w->listening = on;
}

static void server__accept(h1_worker *w)
{
    struct http_server *s = w->s;
    for (int i = 0; i < H1_ACCEPT_BATCH; i++) {
        if (atomic_load(&s->nconns) >= h1_server_limit(s)) {
            server__listen(w, false);  /* until a connection closes */
            return;
        }
        struct sockaddr_storage peer;
        socklen_t plen = sizeof peer;
        int fd = accept4(s->lfd, (struct sockaddr *)&peer, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        h1_conn_open(w, fd, &peer);
    }
}

/* The eventfd fired: stream wakes, and quiesce or relisten. */
static void server__woken(h1_worker *w)
{
    struct http_server *s = w->s;
    uint64_t n;
    ssize_t rc = read(w->evfd, &n, sizeof n);
    (void)rc;
    pthread_mutex_lock(&w->wake_mu);
    http_stream **q = w->wakeq;
    size_t nq = w->nwake;
    w->wakeq = NULL;
    w->nwake = w->capwake = 0;
    pthread_mutex_unlock(&w->wake_mu);
    for (size_t i = 0; i < nq; i++) {
        h1_conn *c = http_stream__conn(q[i]);
        http_stream__unref(q[i]);
        if (c)
            h1_conn_wake(c);
    }
    free(q);
    if (atomic_load(&s->quiesce)) {
        server__listen(w, false);
        if (!w->acked_quiesce) {
            w->acked_quiesce = true;
            atomic_fetch_add(&s->unlistened, 1);
        }
    } else if (!w->listening && atomic_load(&s->nconns) < h1_server_limit(s)) {
        server__listen(w, true);
    }
}

/* The deadline a connection has passed, if any. */
static bool server__overdue(const struct http_server *s, const h1_conn *c, int64_t now)
{
    const http_server_opts *o = &s->opts;
    if (c->st == H1_PARKED)
        return false;
    if (o->idle_timeout_s && now - c->active_ms > (int64_t)o->idle_timeout_s * 1000)
        return true;
    if (c->st == H1_HEAD && c->phase == H1_PH_HEADERS) {
        int64_t lim = (int64_t)o->header_timeout_s * 1000;
        if (c->reserve && (lim == 0 || lim > H1_RESERVE_HEADER_MS))
            lim = H1_RESERVE_HEADER_MS;
        return lim && now - c->phase_ms > lim;
    }
    if (c->st == H1_BODY)
        return o->body_timeout_s && now - c->phase_ms > (int64_t)o->body_timeout_s * 1000;
    if (c->st == H1_HEAD && c->phase == H1_PH_IDLE)
        return atomic_load(&s->quiesce) != 0;
    return false;
}

static void server__sweep(h1_worker *w)
{
    int64_t now = h1_now_ms();
    if (now - w->sweep_ms < H1_SWEEP_MS)
        return;
    w->sweep_ms = now;
    h1_conn *next;
    for (h1_conn *c = w->conns; c; c = next) {
        next = c->next;
        if (server__overdue(w->s, c, now)) {
            log_msg(LOG_DEBUG, "http: connection cut: a deadline passed");
            h1_conn_timeout(c);
        }
    }
}

static void server__bury(h1_worker *w)
{
    while (w->dead) {
        h1_conn *c = w->dead;
        w->dead = c->next;
        free(c);
    }
}

static void server__event(h1_worker *w, struct epoll_event *ev)
{
    if (ev->data.ptr == w->s) {
        server__accept(w);
    } else if (ev->data.ptr == w) {
        server__woken(w);
    } else {
        h1_conn *c = ev->data.ptr;
        if (c->dead || (ev->events == EPOLLOUT && c->st != H1_RESPOND))
            return;  /* room to write, and nothing to write */
        if (ev->events & (EPOLLIN | EPOLLRDHUP))
            c->rx_empty = false;
        if ((ev->events & (EPOLLERR | EPOLLHUP)) ||
            ((ev->events & EPOLLRDHUP) && c->st == H1_PARKED))
            h1_conn_close(c);
        else
            h1_conn_run(c);
    }
}

static void *server__worker(void *arg)
{
    h1_worker *w = arg;
    struct epoll_event evs[H1_EVENTS];
    while (!atomic_load(&w->s->stop)) {
        int n = epoll_wait(w->ep, evs, H1_EVENTS, H1_SWEEP_MS);
        for (int i = 0; i < n; i++)
            server__event(w, &evs[i]);
        server__bury(w);
        server__sweep(w);
        server__bury(w);
    }
    while (w->conns)
        h1_conn_close(w->conns);
    server__bury(w);
    server__woken(w);  /* drop the references of queued wakes */
    return NULL;
}

static int server__worker_init(struct http_server *s, h1_worker *w)
{
    w->s = s;
    pthread_mutex_init(&w->wake_mu, NULL);
    w->ep = epoll_create1(EPOLL_CLOEXEC);
    w->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (w->ep < 0 || w->evfd < 0)
        return RAGD_EIO;
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = w };
    if (epoll_ctl(w->ep, EPOLL_CTL_ADD, w->evfd, &ev) != 0)
        return RAGD_EIO;
    server__listen(w, true);
    return w->listening ? RAGD_OK : RAGD_EIO;
}

static void server__worker_deinit(h1_worker *w)
{
    if (w->ep >= 0)
        close(w->ep);
    if (w->evfd >= 0)
        close(w->evfd);
    free(w->wakeq);
    pthread_mutex_destroy(&w->wake_mu);
}

int http_parse_listen(const char *listen, char *host, size_t hn, int *port)
{
    const char *colon;
    if (listen[0] == '[') {
        const char *close = strchr(listen, ']');
        if (!close || close[1] != ':')
            return RAGD_EINVAL;
        snprintf(host, hn, "%.*s", (int)(close - listen - 1), listen + 1);
        colon = close + 1;
    } else {
        colon = strrchr(listen, ':');
        if (!colon)
            return RAGD_EINVAL;
        snprintf(host, hn, "%.*s", (int)(colon - listen), listen);
    }
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (*end || end == colon + 1 || p < 0 || p > 65535 || !host[0])
        return RAGD_EINVAL;
    *port = (int)p;
    return RAGD_OK;
}

/* The bound, listening, non-blocking socket of listen; -1 with err set. */
static int server__bind(const char *listen_at, int *port_out, ragd_error *err)
{
    char host[256];
    int port;
    if (http_parse_listen(listen_at, host, sizeof host, &port))
        return ragd_error_set(err, RAGD_EINVAL, "listen: '%s' is not HOST:PORT", listen_at), -1;
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_NUMERICSERV | AI_PASSIVE };
    struct addrinfo *ai = NULL;
    char ps[8];
    snprintf(ps, sizeof ps, "%d", port);
    if (getaddrinfo(host, ps, &hints, &ai) != 0 || !ai)
        return ragd_error_set(err, RAGD_EINVAL, "listen: cannot resolve host '%s'", host), -1;
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 1024) != 0) {
        if (fd >= 0)
            close(fd);
        freeaddrinfo(ai);
        return ragd_error_set(err, RAGD_EIO, "listen: cannot bind %s (address in use?)",
                              listen_at), -1;
    }
    freeaddrinfo(ai);
    struct sockaddr_storage sa;
    socklen_t sl = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    *port_out = ntohs(sa.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&sa)->sin6_port
                                               : ((struct sockaddr_in *)&sa)->sin_port);
    return fd;
}

static void server__free(http_server_t *s)
{
    for (int i = 0; i < s->nworkers; i++)
        server__worker_deinit(&s->workers[i]);
    free(s->workers);
    if (s->lfd >= 0)
        close(s->lfd);
    http_stream__reg_deinit(&s->streams);
    free(s);
}

int http_server_start(const http_server_opts *opts, const router_t *router,
                      http_server_t **out, ragd_error *err)
{
    http_server_t *s = xcalloc(1, sizeof *s);
    http_stream__reg_init(&s->streams);
    s->opts = *opts;
    s->router = router;
    s->lfd = server__bind(opts->listen, &s->port, err);
    s->nworkers = opts->threads > 0 ? opts->threads : 4;
    s->workers = xcalloc((size_t)s->nworkers, sizeof *s->workers);
    for (int i = 0; i < s->nworkers; i++)
        s->workers[i].ep = s->workers[i].evfd = -1;
    if (s->lfd < 0) {
        server__free(s);
        return err->code;
    }
    int started = 0;
    for (; started < s->nworkers; started++) {
        h1_worker *w = &s->workers[started];
        if (server__worker_init(s, w) || pthread_create(&w->thr, NULL, server__worker, w))
            break;
    }
    if (started < s->nworkers) {
        atomic_store(&s->stop, 1);
        h1_server_signal_all(s);
        for (int i = 0; i < started; i++)
            pthread_join(s->workers[i].thr, NULL);
        server__free(s);
        return ragd_error_set(err, RAGD_EINTERNAL, "cannot start the HTTP workers");
    }
    *out = s;
    return RAGD_OK;
}

int http_server_port(const http_server_t *s) { return s->port; }

int http_server_inflight(const http_server_t *s)
{
    return atomic_load(&((http_server_t *)s)->inflight);
}

static void server__wait_idle(http_server_t *s, int64_t ms)
{
    int64_t deadline = clock_mono_us() + ms * 1000;
    while (http_server_inflight(s) > 0 && clock_mono_us() < deadline)
        clock_sleep_ms(5);
}

void http_server_stop(http_server_t *s, int grace_ms)
{
    if (!s)
        return;
    atomic_store(&s->quiesce, 1);
    h1_server_signal_all(s);
    int64_t deadline = clock_mono_us() + 2000000;
    while (atomic_load(&s->unlistened) < s->nworkers && clock_mono_us() < deadline)
        clock_sleep_ms(2);
    close(s->lfd);  /* new connections are refused from here */
    s->lfd = -1;
    server__wait_idle(s, grace_ms);
    http_stream__abort_all(&s->streams);  /* cut live streams short */
    server__wait_idle(s, 1000);
    http_stream__abort_all(&s->streams);
    atomic_store(&s->stop, 1);
    h1_server_signal_all(s);
    for (int i = 0; i < s->nworkers; i++)
        pthread_join(s->workers[i].thr, NULL);
    server__free(s);
}
