/*
 * server_conn.c - one connection of the HTTP server as a state machine, run
 * by its worker whenever its socket (edge-triggered) or its stream has news:
 * read a head (bounded by max_header_bytes) and parse it strictly (h1_parse.h),
 * read the body by Content-Length or chunked up to max_body_bytes (a body
 * somewhat over the limit is drained and answered 413 on a connection that
 * stays usable; far over it, or chunked, the 413 comes at once and the
 * connection closes), answer `Expect: 100-continue`, run the handler, write
 * the answer, then the next pipelined request, in order. A request refused
 * before its handler gets ragd's JSON error with X-Request-Id, and
 * `Connection: close` when the connection cannot continue. A streamed answer
 * (http/stream.h) parks the connection off the socket until its producer
 * wakes it; its body goes out in chunks (HTTP/1.1) or until close (1.0).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http/server_int.h"
#include "http/trace.h"
#include "util/clock.h"
#include "util/fmt.h"
#include "util/mem.h"

#define H1_READ_CHUNK 16384
#define H1_DRAIN_FACTOR 8  /* bodies up to this many times the limit are drained */

static bool conn__flush(h1_conn *c);

int64_t h1_now_ms(void)
{
    return clock_mono_us() / 1000;
}

void h1_worker_signal(h1_worker *w)
{
    uint64_t one = 1;
    ssize_t rc = write(w->evfd, &one, sizeof one);
    (void)rc;  /* a full counter still wakes the worker */
}

void h1_server_signal_all(struct http_server *s)
{
    for (int i = 0; i < s->nworkers; i++)
        h1_worker_signal(&s->workers[i]);
}

/* The Date header of the current second. */
static const char *conn__date(h1_worker *w)
{
    time_t now = time(NULL);
    if ((int64_t)now != w->date_s) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(w->date, sizeof w->date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        w->date_s = (int64_t)now;
    }
    return w->date;
}

/* The stream's wake function (http_stream_wake_fn): queue st for its
 * connection's worker, from any thread. */
static void conn__wake_stream(void *worker, http_stream *st)
{
    h1_worker *w = worker;
    pthread_mutex_lock(&w->wake_mu);
    if (w->nwake == w->capwake) {
        w->capwake = w->capwake ? 2 * w->capwake : 16;
        w->wakeq = xrealloc(w->wakeq, w->capwake * sizeof *w->wakeq);
    }
    w->wakeq[w->nwake++] = st;  /* the reference the stream took for us */
    pthread_mutex_unlock(&w->wake_mu);
    h1_worker_signal(w);
}

void h1_conn_open(h1_worker *w, int fd, const struct sockaddr_storage *peer)
{
    struct http_server *s = w->s;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    h1_conn *c = xcalloc(1, sizeof *c);
    c->w = w;
    c->fd = fd;
    c->peer = *peer;
    c->reserve = atomic_fetch_add(&s->nconns, 1) >= s->opts.max_connections;
    c->st = H1_HEAD;
    c->phase = H1_PH_HEADERS;
    c->phase_ms = c->active_ms = h1_now_ms();
    c->next = w->conns;
    if (w->conns)
        w->conns->prev = c;
    w->conns = c;
    struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                              .data.ptr = c };
    if (epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &ev) != 0)
        h1_conn_close(c);
}

/* Off the worker's list onto its dead list (freed after this round). */
static void conn__forget(h1_worker *w, h1_conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->next = w->dead;
    w->dead = c;
    struct http_server *s = w->s;
    if (atomic_fetch_sub(&s->nconns, 1) >= h1_server_limit(s))
        h1_server_signal_all(s);  /* paused workers may listen again */
}

static const char *conn__reason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 499: return "Client Closed Request";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    case 507: return "Insufficient Storage";
    default: return "Status";
    }
}

static bool conn__bodiless(int status)
{
    return status < 200 || status == 204 || status == 304;
}

/* "name: value\r\n" (buf_printf is slow in this process: see util/fmt.h). */
static void conn__header(buf_t *o, const char *name, const char *value)
{
    buf_puts(o, name);
    buf_append(o, ": ", 2);
    buf_puts(o, value);
    buf_append(o, "\r\n", 2);
}

/* "Content-Length: n\r\n" */
static void conn__length(buf_t *o, size_t n)
{
    buf_puts(o, "Content-Length: ");
    buf_put_u64(o, n);
    buf_append(o, "\r\n", 2);
}

/* The status line and the headers every answer of ctx carries. */
static void conn__head(h1_conn *c, int status, const char *ctype, const h1_ctx *ctx)
{
    buf_t *o = &c->out;
    buf_puts(o, "HTTP/1.1 ");
    buf_put_i64(o, status);
    buf_putc(o, ' ');
    buf_puts(o, conn__reason(status));
    buf_append(o, "\r\n", 2);
    conn__header(o, "Date", conn__date(c->w));
    if (ctype && *ctype)
        conn__header(o, "Content-Type", ctype);
    if (!ctx)
        return;
    const http_req *req = &ctx->req;
    const http_resp *r = &ctx->resp;
    conn__header(o, "X-Request-Id", req->request_id);
    buf_puts(o, "traceparent: 00-");
    buf_puts(o, req->trace_id);
    buf_putc(o, '-');
    buf_puts(o, req->span_id);
    buf_putc(o, '-');
    buf_puts(o, req->trace_flags);
    buf_append(o, "\r\n", 2);
    for (int i = 0; i < r->nheaders; i++) {
        if (strcasecmp(r->header_names[i], "Connection") == 0) {
            c->close_after |= strcasecmp(r->header_values[i], "close") == 0;
            continue;  /* said once, by conn__head_end */
        }
        conn__header(o, r->header_names[i], r->header_values[i]);
    }
}

static void conn__head_end(h1_conn *c)
{
    if (atomic_load(&c->w->s->quiesce))
        c->close_after = true;
    if (c->close_after)
        buf_puts(&c->out, "Connection: close\r\n\r\n");
    else if (c->ctx && c->ctx->parsed.minor == 0)
        buf_puts(&c->out, "Connection: keep-alive\r\n\r\n");
    else
        buf_puts(&c->out, "\r\n");
}

/* Queue a whole answer of ctx. */
static void conn__plain(h1_conn *c)
{
    h1_ctx *ctx = c->ctx;
    http_resp *r = &ctx->resp;
    ctx->answered = true;
    conn__head(c, r->status, r->content_type, ctx);
    if (!conn__bodiless(r->status))
        conn__length(&c->out, r->body_len);
    conn__head_end(c);
    if (!c->head_only && !conn__bodiless(r->status) && r->body_len)
        buf_append(&c->out, r->body, r->body_len);
}

/* The handler's answer is ready (or a stream was opened): start writing. */
static int conn__answer(h1_conn *c)
{
    h1_ctx *ctx = c->ctx;
    if (ctx->resp.stream) {
        c->streaming = true;
        http_stream__attach(ctx->resp.stream, &c->w->s->streams, c, conn__wake_stream,
                            c->w);
    } else {
        conn__plain(c);
    }
    c->st = H1_RESPOND;
    c->phase = H1_PH_BUSY;
    return 1;
}

static int conn__refuse(h1_conn *c, const h1_error *e)
{
    h1_ctx_refuse(c->ctx, e->status, e->code, e->msg);
    c->close_after = true;
    return conn__answer(c);
}

void h1_conn_fail(h1_conn *c, const h1_error *e)
{
    char rid[HTTP_REQUEST_ID_MAX + 1];
    http_trace_random_hex(rid, 16);
    buf_t b = BUF_INIT;
    http_error_body(&b, e->code, e->msg, rid);
    conn__head(c, e->status, "application/json", NULL);
    conn__length(&c->out, b.len);
    conn__header(&c->out, "X-Request-Id", rid);
    c->close_after = true;
    conn__head_end(c);
    buf_append(&c->out, b.data, b.len);
    buf_free(&b);
    c->in_off = c->in.len;
    c->st = H1_RESPOND;
    c->phase = H1_PH_BUSY;
}

/* Frame what a stream produced into out. 0 when parked (nothing to send). */
static int conn__pump(h1_conn *c)
{
    h1_ctx *ctx = c->ctx;
    http_stream_poll p;
    buf_t data = BUF_INIT;
    if (!http_stream__poll(ctx->resp.stream, &p, &data)) {
        c->st = H1_PARKED;
        return 0;
    }
    if (!c->stream_head) {
        c->stream_head = true;
        ctx->answered = true;
        ctx->resp.status = p.status;
        conn__head(c, p.status, p.ctype, ctx);
        if (p.whole) {
            conn__length(&c->out, data.len);
            conn__head_end(c);
            if (!c->head_only)
                buf_append(&c->out, data.data, data.len);
            c->stream_done = true;
            buf_free(&data);
            return 1;
        }
        c->stream_chunked = ctx->parsed.minor == 1;
        if (c->stream_chunked)
            buf_puts(&c->out, "Transfer-Encoding: chunked\r\n");
        else
            c->close_after = true;  /* HTTP/1.0: the body ends at the close */
        conn__head_end(c);
    }
    bool sent = data.len > 0;
    if (data.len && !c->head_only) {
        if (c->stream_chunked) {
            char size[FMT_HEX_MAX];
            buf_append(&c->out, size, fmt_hex(size, data.len, 0));
            buf_append(&c->out, "\r\n", 2);
        }
        buf_append(&c->out, data.data, data.len);
        if (c->stream_chunked)
            buf_puts(&c->out, "\r\n");
    }
    buf_free(&data);
    if (p.ended) {
        c->stream_done = true;
        if (!p.ok)
            c->close_after = true;  /* cut short: never a clean end */
        else if (c->stream_chunked && !c->head_only)
            buf_puts(&c->out, "0\r\n\r\n");
        return 1;
    }
    if (!sent) {
        c->st = H1_PARKED;
        return 0;
    }
    return 1;
}

/* The head is in: framing, limits, 100-continue, then the body or the handler. */
static int conn__start(h1_conn *c)
{
    struct http_server *s = c->w->s;
    h1_ctx *ctx = c->ctx;
    const h1_request *pr = &ctx->parsed;
    size_t max = s->opts.max_body_bytes;
    c->head_only = ctx->req.method == HTTP_HEAD;
    c->close_after = !pr->keep_alive;
    c->too_big = false;
    c->body_left = pr->content_length > 0 ? pr->content_length : 0;
    memset(&c->chunk, 0, sizeof c->chunk);
    bool has_body = pr->chunked || c->body_left > 0;
    if (h1_ctx_precheck(s, ctx, c->reserve)) {
        c->close_after |= has_body;
        return conn__answer(c);
    }
    if ((uint64_t)c->body_left > max) {
        c->too_big = true;
        if ((uint64_t)c->body_left / H1_DRAIN_FACTOR > max || pr->expect_continue) {
            h1_error e = { 413, "payload_too_large", "the request body is too large" };
            return conn__refuse(c, &e);
        }
    }
    if (!has_body) {
        h1_ctx_dispatch(s, ctx);
        return conn__answer(c);
    }
    if (pr->expect_continue) {
        buf_puts(&c->out, "HTTP/1.1 100 Continue\r\n\r\n");
        if (!conn__flush(c) && c->dead)
            return 1;
    }
    if (!c->too_big && c->body_left)
        buf_reserve(&ctx->body, (size_t)c->body_left);
    c->st = H1_BODY;
    c->phase = H1_PH_BODY;
    c->phase_ms = h1_now_ms();
    return 0;
}

/* Body bytes from in; 1 once the answer is queued, 0 for more input. */
static int conn__body(h1_conn *c)
{
    struct http_server *s = c->w->s;
    h1_ctx *ctx = c->ctx;
    char *p = c->in.data + c->in_off;
    size_t avail = c->in.len - c->in_off;
    if (!ctx->parsed.chunked) {
        size_t k = avail < (uint64_t)c->body_left ? avail : (size_t)c->body_left;
        if (!c->too_big && k)
            buf_append(&ctx->body, p, k);
        c->in_off += k;
        c->body_left -= (int64_t)k;
        if (c->body_left > 0)
            return 0;
    } else {
        size_t used = 0, outn = 0;
        h1_error e;
        int r = h1_chunked_feed(&c->chunk, p, avail, p, &outn, &used, ctx->body.len,
                                s->opts.max_body_bytes, &e);
        if (outn)
            buf_append(&ctx->body, p, outn);
        c->in_off += used;
        if (r < 0)
            return conn__refuse(c, &e);
        if (r == 0)
            return 0;
    }
    if (c->too_big) {
        http_error(&ctx->req, &ctx->resp, 413, "payload_too_large",
                   "request body exceeds the limit of %zu bytes", s->opts.max_body_bytes);
    } else {
        h1_ctx_dispatch(s, ctx);
    }
    return conn__answer(c);
}

/* Parse what is buffered: 1 when an answer was queued, 0 for more input. */
static int conn__consume(h1_conn *c)
{
    if (c->st == H1_BODY)
        return conn__body(c);
    size_t avail = c->in.len - c->in_off;
    if (!avail)
        return 0;
    if (c->phase == H1_PH_IDLE) {
        c->phase = H1_PH_HEADERS;
        c->phase_ms = h1_now_ms();
    }
    h1_request pr;
    h1_error e;
    int r = h1_parse_head(c->in.data + c->in_off, avail, c->w->s->opts.max_header_bytes, &pr,
                          &e);
    if (r == 0)
        return 0;
    if (r < 0) {
        h1_conn_fail(c, &e);
        return 1;
    }
    c->ctx = h1_ctx_begin(c->w->s, c, c->in.data + c->in_off, &pr);
    c->in_off += pr.head_len;
    if (conn__start(c))
        return 1;
    return conn__body(c);
}

/* Read once: 1 bytes came, 0 none for now (EAGAIN, or the last read left the
 * socket empty), -1 the connection closed. */
static int conn__recv(h1_conn *c)
{
    if (c->in_off == c->in.len) {
        c->in_off = 0;
        buf_reset(&c->in);
    } else if (c->in_off) {
        memmove(c->in.data, c->in.data + c->in_off, c->in.len - c->in_off);
        c->in.len -= c->in_off;
        c->in_off = 0;
    }
    if (c->rx_empty)
        return 0;
    buf_reserve(&c->in, H1_READ_CHUNK);
    ssize_t n = recv(c->fd, c->in.data + c->in.len, H1_READ_CHUNK, 0);
    if (n > 0) {
        c->in.len += (size_t)n;
        c->rx_empty = n < H1_READ_CHUNK;
        c->active_ms = h1_now_ms();
        return 1;
    }
    if (n < 0 && errno == EINTR)
        return 1;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        c->rx_empty = true;
        return 0;
    }
    h1_conn_close(c);  /* EOF or an error: a partial request is dropped */
    return -1;
}

/* Send what out holds: true once it is all out. */
static bool conn__flush(h1_conn *c)
{
    while (c->out_off < c->out.len) {
        ssize_t n = send(c->fd, c->out.data + c->out_off, c->out.len - c->out_off,
                         MSG_NOSIGNAL);
        if (n > 0) {
            c->out_off += (size_t)n;
            c->active_ms = h1_now_ms();
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return false;
        } else {
            h1_conn_close(c);
            return false;
        }
    }
    c->out_off = 0;
    buf_reset(&c->out);
    return true;
}

/* The answer is out: end the request, then close or wait for the next. */
static void conn__done(h1_conn *c)
{
    if (c->ctx) {
        h1_ctx_finish(c->w->s, c->ctx);
        c->ctx = NULL;
    }
    c->streaming = c->stream_done = c->stream_head = c->stream_chunked = false;
    if (c->close_after) {
        h1_conn_close(c);
        return;
    }
    c->st = H1_HEAD;
    c->phase = c->in_off < c->in.len ? H1_PH_HEADERS : H1_PH_IDLE;
    c->phase_ms = c->active_ms = h1_now_ms();
}

void h1_conn_run(h1_conn *c)
{
    while (!c->dead) {
        if (c->st == H1_PARKED)
            return;
        if (c->st == H1_RESPOND) {
            if (!conn__flush(c))
                return;
            if (c->streaming && !c->stream_done) {
                if (!conn__pump(c))
                    return;
                continue;
            }
            conn__done(c);
            continue;
        }
        if (conn__consume(c))
            continue;
        if (conn__recv(c) <= 0)
            return;
    }
}

void h1_conn_wake(h1_conn *c)
{
    if (c->dead || c->st != H1_PARKED)
        return;
    c->st = H1_RESPOND;
    h1_conn_run(c);
}

void h1_conn_timeout(h1_conn *c)
{
    bool midway = c->st == H1_BODY || (c->st == H1_HEAD && c->in_off < c->in.len);
    if (midway && c->out.len == 0) {
        h1_error e = { 408, "request_timeout",
                       "the request did not arrive within the server's time limit" };
        h1_conn_fail(c, &e);
        conn__flush(c);
    }
    h1_conn_close(c);
}

void h1_conn_close(h1_conn *c)
{
    if (c->dead)
        return;
    c->dead = true;
    if (c->ctx) {
        h1_ctx_finish(c->w->s, c->ctx);
        c->ctx = NULL;
    }
    close(c->fd);
    buf_free(&c->in);
    buf_free(&c->out);
    conn__forget(c->w, c);
}
