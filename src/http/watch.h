/*
 * watch.h - private to the HTTP server: deadlines per phase of a connection,
 * which libmicrohttpd 0.9.75 lacks (its timeout is an idle timeout, reset by
 * every byte, so a client trickling one header line every few seconds holds a
 * connection forever). Each TCP connection gets an http_conn (MHD's socket
 * context); the server moves it through its phases and a watchdog thread shuts
 * down the socket of one that overstays: the request line and headers within
 * header_ms, the body within body_ms, the next request line of a keep-alive
 * connection within idle_ms. The handler phase has no deadline here.
 * Connections past max_conns are the reserve: they may only ask for the routes
 * the server keeps answerable (/health, /metrics), with a short header deadline.
 */
#ifndef RAGD_HTTP_WATCH_H
#define RAGD_HTTP_WATCH_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

enum http_conn_phase {
    HTTP_CONN_HEADERS,  /* request line and headers arriving */
    HTTP_CONN_BODY,     /* the body arriving */
    HTTP_CONN_HANDLER,  /* handled, answering: no deadline */
    HTTP_CONN_IDLE,     /* keep-alive between requests */
};

typedef struct http_conn {
    struct http_conn *prev, *next;  /* guarded by http_watch.mu */
    int fd;
    bool reserve;                   /* beyond max_conns: /health and /metrics only */
    bool cut;                       /* the watchdog shut it down */
    _Atomic int phase;
    _Atomic int64_t phase_ms;       /* monotonic ms the phase began */
} http_conn;

typedef struct http_watch {
    pthread_mutex_t mu;             /* guards the list and every shutdown() */
    pthread_cond_t cv;
    http_conn *head;
    pthread_t thr;
    bool running, stop;
    int header_ms, body_ms, idle_ms, reserve_header_ms;
    unsigned max_conns;
    _Atomic unsigned nconns;
    _Atomic uint64_t cut;           /* connections shut down for a deadline */
} http_watch;

/* Start the watchdog thread. 0 or RAGD_EINTERNAL. */
int http_watch__start(http_watch *w, int header_ms, int body_ms, int idle_ms,
                      unsigned max_conns);
void http_watch__stop(http_watch *w);

/* A connection opened (its socket is fd): a new http_conn, owned by the watch
 * until http_watch__closed(). */
http_conn *http_watch__opened(http_watch *w, int fd);
/* The connection closed (its socket is still open): forget and free it. */
void http_watch__closed(http_watch *w, http_conn *c);

/* Enter a phase now. Thread-safe. */
void http_watch__phase(http_conn *c, int phase);

#endif
