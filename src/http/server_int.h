/*
 * server_int.h - the guts of ragd's HTTP/1.1 server, shared by its three
 * files, each using only the ones after it: server.c (workers, their epoll
 * loops, accepting, deadlines, stop), server_conn.c (one connection's state
 * machine: read, parse, body, answer, stream; a worker's wake queue and
 * eventfd) and server_req.c (one request: its id, trace, headers and query
 * for the handlers, dispatch, the log line and the observer).
 * Threads: every connection belongs to one worker and is only touched by that
 * worker's thread; the only cross-thread paths are a worker's wake queue
 * (guarded by wake_mu, signalled through its eventfd) and the atomics of
 * http_server.
 */
#ifndef RAGD_HTTP_SERVER_INT_H
#define RAGD_HTTP_SERVER_INT_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>

#include "http/h1_parse.h"
#include "http/server.h"
#include "http/stream_int.h"
#include "util/arena.h"
#include "util/buf.h"

#define H1_MAX_QUERY 64
#define H1_RESERVE_HEADER_MS 2000  /* the header deadline of a reserve connection */

typedef struct h1_worker h1_worker;
typedef struct h1_conn h1_conn;

/* One request from its head to its log line (server_req.c). src comes first:
 * request.c reads headers and query through it. */
typedef struct h1_ctx {
    http_req_src src;
    http_req req;
    http_resp resp;
    arena scratch;             /* req.arena, the handler's */
    http_req_log log;          /* req.log */
    char *head;                /* owned: the head's bytes (values NUL-terminated),
                                  then the path and query, then the authority */
    const char *authority;     /* in head: an absolute-form target's authority,
                                  which answers for Host; NULL otherwise */
    h1_request parsed;         /* offsets into head */
    h1_kv query[H1_MAX_QUERY];
    int nquery;
    buf_t body;
    h1_conn *conn;
    bool answered;
} h1_ctx;

enum h1_state {
    H1_HEAD,         /* reading a request head */
    H1_BODY,         /* reading its body (or draining one too large) */
    H1_RESPOND,      /* writing the answer */
    H1_PARKED,       /* a stream with nothing to send yet: waits for a wake */
};

enum h1_phase { H1_PH_HEADERS, H1_PH_BODY, H1_PH_BUSY, H1_PH_IDLE };

struct h1_conn {
    h1_conn *prev, *next;      /* the worker's list */
    h1_worker *w;
    int fd;
    struct sockaddr_storage peer;
    bool reserve;              /* past max_connections: /health and /metrics only */
    bool dead;                 /* closed: freed by the worker after the event */
    bool rx_empty;             /* the last read left the socket empty: with edge
                                  triggering, new bytes bring a new event */
    enum h1_state st;
    enum h1_phase phase;
    int64_t phase_ms;          /* monotonic ms the phase began */
    int64_t active_ms;         /* monotonic ms of the last byte in or out */
    buf_t in;                  /* bytes read, from in_off on not yet consumed */
    size_t in_off;
    buf_t out;                 /* bytes to send, from out_off on */
    size_t out_off;
    h1_ctx *ctx;               /* the request being served */
    int64_t body_left;         /* Content-Length bytes still to come */
    h1_chunked chunk;
    bool too_big;              /* the body passes the limit: drained, then 413 */
    bool close_after;          /* close once the answer is out */
    bool head_only;            /* HEAD: no body bytes */
    bool streaming;            /* the answer is an http_stream */
    bool stream_chunked;       /* its body goes out in chunks (HTTP/1.1) */
    bool stream_done;          /* its last bytes are in out */
    bool stream_head;          /* its status line is in out */
};

struct h1_worker {
    struct http_server *s;
    pthread_t thr;
    int ep;                    /* epoll */
    int evfd;                  /* eventfd: wakes, relisten, stop */
    bool listening;            /* the listening socket is in ep */
    h1_conn *conns;
    h1_conn *dead;             /* closed during this round of events: freed after it */
    bool acked_quiesce;
    int64_t sweep_ms;
    pthread_mutex_t wake_mu;   /* guards wakeq */
    http_stream **wakeq;       /* streams whose connection has news (one ref each) */
    size_t nwake, capwake;
    char date[40];             /* the Date header of the current second */
    int64_t date_s;
};

struct http_server {
    const router_t *router;
    http_server_opts opts;
    int lfd;                   /* listening socket */
    int port;
    int nworkers;
    h1_worker *workers;
    http_stream_reg streams;
    _Atomic int inflight;      /* requests between head and log line */
    _Atomic unsigned nconns;
    _Atomic int quiesce;       /* stop accepting */
    _Atomic int stop;          /* workers exit */
    _Atomic int unlistened;    /* workers that left the listening socket */
};

/* server_req.c */
h1_ctx *h1_ctx_begin(struct http_server *s, h1_conn *c, const char *head,
                     const h1_request *parsed);
/* The JSON error answer of a request refused before its handler. */
void h1_ctx_refuse(h1_ctx *ctx, int status, const char *code, const char *msg);
/* The checks between head and body: true with ctx->resp filled when refused. */
bool h1_ctx_precheck(struct http_server *s, h1_ctx *ctx, bool reserve);
void h1_ctx_dispatch(struct http_server *s, h1_ctx *ctx);
/* Log, observe and free a request (status 499 when never answered). */
void h1_ctx_finish(struct http_server *s, h1_ctx *ctx);

/* server_conn.c */
int64_t h1_now_ms(void);
static inline unsigned h1_server_limit(const struct http_server *s)
{
    return s->opts.max_connections + HTTP_RESERVE_CONNS;
}
/* Signal a worker's eventfd; signal every worker of s. Thread-safe. */
void h1_worker_signal(h1_worker *w);
void h1_server_signal_all(struct http_server *s);
/* A connection accepted by w (fd non-blocking): joins w's list and epoll. */
void h1_conn_open(h1_worker *w, int fd, const struct sockaddr_storage *peer);
void h1_conn_run(h1_conn *c);
/* A wake for a parked connection. */
void h1_conn_wake(h1_conn *c);
/* Shut a connection (after a best-effort 408 when a request was under way). */
void h1_conn_timeout(h1_conn *c);
void h1_conn_close(h1_conn *c);
/* Answer a refused request head with the JSON error and close. */
void h1_conn_fail(h1_conn *c, const h1_error *e);

#endif
