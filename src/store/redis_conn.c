/*
 * redis_conn.c - ragd's Redis transport and connection pool. A connection is a
 * non-blocking socket, optionally wrapped in OpenSSL (rediss://), whose bytes
 * are fed to hiredis' redisReader; every wait is a poll() bounded by the connect
 * or command timeout. The pool hands connections to any thread. When a connect
 * fails it marks the server down: calls then fail at once with RAGD_EUNAVAIL
 * while a monitor thread retries with exponential backoff and, once it gets
 * through, marks the server up again, so the store heals by itself.
 */
#include "store/redis_conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "util/clock.h"
#include "util/mem.h"

#define RP_BACKOFF_MIN_MS 50
#define RP_BACKOFF_MAX_MS 1000

struct rconn {
    int fd;
    SSL *ssl;
    redisReader *rd;
    uint64_t gen; /* the pool's target generation when it was opened */
};

struct rpool {
    redis_url url;
    SSL_CTX *ssl_ctx;
    int size, connect_timeout_ms, command_timeout_ms;

    pthread_mutex_t mu; /* guards everything below but the atomics */
    pthread_cond_t cv;  /* a connection was released or the server came back */
    pthread_cond_t mon_cv;
    rconn **idle;
    int nidle, total;
    bool down, stop;
    int64_t next_retry_ms;
    int backoff_ms;
    uint64_t lost; /* connections lost and not yet replaced */
    pthread_t monitor;
    /* With a resolver (Sentinel): the master's address, asked again when stale;
     * gen counts address changes so connections to an old one are dropped. */
    rpool_resolver res;
    char addr_host[256];
    int addr_port;
    bool addr_stale;
    uint64_t gen;

    _Atomic uint64_t reconnects, errors;
    _Atomic bool available;
};

static int64_t rc__now_ms(void)
{
    return clock_mono_us() / 1000;
}

/* ---- transport ---------------------------------------------------------- */

static void rc__close(rconn *c)
{
    if (!c)
        return;
    if (c->ssl)
        SSL_free(c->ssl);
    if (c->fd >= 0)
        close(c->fd);
    if (c->rd)
        redisReaderFree(c->rd);
    free(c);
}

/* Wait for fd to be ready for events until deadline; RAGD_EUNAVAIL on timeout. */
static int rc__wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - rc__now_ms();
        if (left <= 0)
            return RAGD_EUNAVAIL;
        struct pollfd pfd = { fd, events, 0 };
        int n = poll(&pfd, 1, (int)left);
        if (n > 0)
            return 0;
        if (n < 0 && errno != EINTR)
            return RAGD_EUNAVAIL;
    }
}

/* After an SSL call returned r <= 0: wait as OpenSSL asks, or fail. */
static int rc__ssl_wait(rconn *c, int r, int64_t deadline)
{
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ)
        return rc__wait_fd(c->fd, POLLIN, deadline);
    if (e == SSL_ERROR_WANT_WRITE)
        return rc__wait_fd(c->fd, POLLOUT, deadline);
    ERR_clear_error();
    return RAGD_EUNAVAIL;
}

/* OpenSSL writes with write(2), which raises SIGPIPE on a closed socket: block
 * it around the call and swallow one we caused (libpq does the same). */
static int rc__ssl_write_nosigpipe(SSL *ssl, const char *buf, int len)
{
    sigset_t pipe, old, pending;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    sigpending(&pending);
    bool was_pending = sigismember(&pending, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, &old);
    int n = SSL_write(ssl, buf, len);
    if (!was_pending) {
        sigpending(&pending);
        if (sigismember(&pending, SIGPIPE)) {
            struct timespec zero = { 0, 0 };
            sigtimedwait(&pipe, NULL, &zero);
        }
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return n;
}

static int rc__write_all(rconn *c, const char *buf, size_t len, int64_t deadline)
{
    while (len > 0) {
        if (c->ssl) {
            int n = rc__ssl_write_nosigpipe(c->ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
            if (n > 0) {
                buf += n;
                len -= (size_t)n;
            } else if (rc__ssl_wait(c, n, deadline) != 0) {
                return RAGD_EUNAVAIL;
            }
            continue;
        }
        ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL);
        if (n > 0) {
            buf += n;
            len -= (size_t)n;
        } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (rc__wait_fd(c->fd, POLLOUT, deadline) != 0)
                return RAGD_EUNAVAIL;
        } else {
            return RAGD_EUNAVAIL;
        }
    }
    return 0;
}

/* Read bytes into the reader until one reply is complete. */
static int rc__read_reply(rconn *c, redisReply **out, int64_t deadline)
{
    char buf[16384];
    for (;;) {
        void *r = NULL;
        if (redisReaderGetReply(c->rd, &r) != REDIS_OK)
            return RAGD_EUNAVAIL; /* protocol error: the connection is unusable */
        if (r) {
            *out = r;
            return 0;
        }
        ssize_t n;
        if (c->ssl) {
            int k = SSL_read(c->ssl, buf, sizeof buf);
            if (k <= 0) {
                if (rc__ssl_wait(c, k, deadline) != 0)
                    return RAGD_EUNAVAIL;
                continue;
            }
            n = k;
        } else {
            n = recv(c->fd, buf, sizeof buf, 0);
            if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
                if (rc__wait_fd(c->fd, POLLIN, deadline) != 0)
                    return RAGD_EUNAVAIL;
                continue;
            }
            if (n <= 0)
                return RAGD_EUNAVAIL;
        }
        if (redisReaderFeed(c->rd, buf, (size_t)n) != REDIS_OK)
            return RAGD_EUNAVAIL;
    }
}

/* Pipeline n commands and read n replies. On failure frees what it read. */
static int rc__exec(rconn *c, size_t n, const rpool_cmd *cmds, redisReply **replies,
                      int64_t deadline)
{
    char *all = NULL;
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        char *one = NULL;
        int k = redisFormatCommandArgv(&one, cmds[i].argc, cmds[i].argv, cmds[i].argvlen);
        if (k < 0) {
            free(all);
            return RAGD_ENOMEM;
        }
        all = xrealloc(all, len + (size_t)k);
        memcpy(all + len, one, (size_t)k);
        len += (size_t)k;
        redisFreeCommand(one);
    }
    int rc = rc__write_all(c, all, len, deadline);
    free(all);
    size_t got = 0;
    while (rc == 0 && got < n) {
        rc = rc__read_reply(c, &replies[got], deadline);
        got += rc == 0;
    }
    if (rc) {
        for (size_t i = 0; i < got; i++)
            freeReplyObject(replies[i]);
    }
    return rc;
}

/* Send one command built from C strings; err gets an error reply's text. */
static int rc__simple(rconn *c, int argc, const char **argv, int64_t deadline, char *err,
                        size_t errlen)
{
    size_t lens[4];
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    rpool_cmd cmd = { argc, argv, lens };
    redisReply *r = NULL;
    int rc = rc__exec(c, 1, &cmd, &r, deadline);
    if (rc)
        return rc;
    if (r->type == REDIS_REPLY_ERROR) {
        snprintf(err, errlen, "%s", r->str);
        rc = RAGD_EINVAL;
    }
    freeReplyObject(r);
    return rc;
}

static int rc__tcp_connect(const char *host, int port_num, int64_t deadline)
{
    char port[8];
    snprintf(port, sizeof port, "%d", port_num);
    struct addrinfo hints = { 0 }, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, port, &hints, &res) != 0)
        return -1;
    int fd = -1;
    for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            continue;
        int ok = connect(fd, a->ai_addr, a->ai_addrlen) == 0;
        if (!ok && errno == EINPROGRESS && rc__wait_fd(fd, POLLOUT, deadline) == 0) {
            int soerr = 0;
            socklen_t sl = sizeof soerr;
            ok = getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0;
        }
        if (!ok) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd >= 0) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    return fd;
}

static int rc__tls_handshake(const rconn_target *t, rconn *c, int64_t deadline, char *err,
                             size_t errlen)
{
    c->ssl = SSL_new(t->ssl_ctx);
    if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1)
        return RAGD_EUNAVAIL;
    struct in6_addr ip;
    bool is_ip = inet_pton(AF_INET, t->host, &ip) == 1 || inet_pton(AF_INET6, t->host, &ip) == 1;
    if (is_ip) {
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), t->host);
    } else {
        SSL_set_tlsext_host_name(c->ssl, t->host);
        SSL_set1_host(c->ssl, t->host);
    }
    for (;;) {
        int r = SSL_connect(c->ssl);
        if (r == 1)
            return 0;
        long vr = SSL_get_verify_result(c->ssl);
        if (vr != X509_V_OK) { /* a reachable server we must not trust: configuration */
            snprintf(err, errlen, "TLS certificate of %.64s: %.128s", t->host,
                     X509_verify_cert_error_string(vr));
            ERR_clear_error();
            return RAGD_EINVAL;
        }
        if (rc__ssl_wait(c, r, deadline) != 0)
            return RAGD_EUNAVAIL;
    }
}

int rconn_open(const rconn_target *t, rconn **out, char *err, size_t errlen)
{
    int64_t deadline = rc__now_ms() + t->connect_timeout_ms;
    rconn *c = xcalloc(1, sizeof *c);
    c->rd = redisReaderCreate();
    c->fd = rc__tcp_connect(t->host, t->port, deadline);
    int rc = c->fd < 0 ? RAGD_EUNAVAIL : 0;
    if (rc == 0 && t->ssl_ctx)
        rc = rc__tls_handshake(t, c, deadline, err, errlen);
    if (rc == 0 && t->password) {
        const char *auth[3] = { "AUTH", t->user, t->password };
        if (!t->user)
            auth[1] = t->password;
        rc = rc__simple(c, t->user ? 3 : 2, auth, deadline, err, errlen);
    }
    if (rc == 0 && !t->password) { /* learn now if the server wants a password */
        const char *ping[1] = { "PING" };
        rc = rc__simple(c, 1, ping, deadline, err, errlen);
    }
    if (rc == 0 && t->db) {
        char db[16];
        snprintf(db, sizeof db, "%d", t->db);
        const char *sel[2] = { "SELECT", db };
        rc = rc__simple(c, 2, sel, deadline, err, errlen);
    }
    if (rc) {
        if (rc == RAGD_EUNAVAIL)
            snprintf(err, errlen, "cannot reach %.200s:%d", t->host, t->port);
        rc__close(c);
        return rc;
    }
    *out = c;
    return 0;
}

int rconn_exec(rconn *c, size_t n, const rpool_cmd *cmds, redisReply **replies, int timeout_ms)
{
    return rc__exec(c, n, cmds, replies, rc__now_ms() + timeout_ms);
}

int rconn_read(rconn *c, redisReply **out, int timeout_ms)
{
    void *r = NULL;
    if (redisReaderGetReply(c->rd, &r) != REDIS_OK)
        return RAGD_EUNAVAIL;
    if (r) {
        *out = r;
        return 0;
    }
    if (!(c->ssl && SSL_pending(c->ssl) > 0)) {
        struct pollfd pfd = { c->fd, POLLIN, 0 };
        int n = poll(&pfd, 1, timeout_ms);
        if (n == 0 || (n < 0 && errno == EINTR))
            return RAGD_ETIMEOUT;
        if (n < 0)
            return RAGD_EUNAVAIL;
    }
    /* Something came: give the rest of the reply a moment even when polling. */
    return rc__read_reply(c, out, rc__now_ms() + (timeout_ms > 100 ? timeout_ms : 100));
}

int rconn_fd(const rconn *c)
{
    return c->fd;
}

void rconn_close(rconn *c)
{
    rc__close(c);
}

/* With a resolver: is the server behind c a master? (ROLE's first element.) */
static int rc__check_master(rconn *c, int64_t deadline, char *err, size_t errlen)
{
    const char *argv[1] = { "ROLE" };
    size_t lens[1] = { 4 };
    rpool_cmd cmd = { 1, argv, lens };
    redisReply *r = NULL;
    int rc = rc__exec(c, 1, &cmd, &r, deadline);
    if (rc)
        return rc;
    bool master = r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
                  r->element[0]->type == REDIS_REPLY_STRING &&
                  strcmp(r->element[0]->str, "master") == 0;
    if (!master)
        snprintf(err, errlen, "not a master (ROLE %.32s)",
                 r->type == REDIS_REPLY_ARRAY && r->elements > 0 && r->element[0]->str
                     ? r->element[0]->str
                     : r->type == REDIS_REPLY_ERROR ? r->str : "?");
    freeReplyObject(r);
    return master ? 0 : RAGD_EUNAVAIL;
}

/* The address to connect to: the URL's, or with a resolver the master's
 * (asked again when stale). *gen gets the target generation. */
static int rc__target(rpool *p, char *host, size_t cap, int *port, uint64_t *gen)
{
    pthread_mutex_lock(&p->mu);
    bool stale = p->res.resolve && p->addr_stale;
    snprintf(host, cap, "%s", p->res.resolve ? p->addr_host : p->url.host);
    *port = p->res.resolve ? p->addr_port : p->url.port;
    *gen = p->gen;
    pthread_mutex_unlock(&p->mu);
    if (!stale)
        return 0;
    int rc = p->res.resolve(p->res.ud, host, cap, port);
    if (rc)
        return rc;
    pthread_mutex_lock(&p->mu);
    if (strcmp(host, p->addr_host) != 0 || *port != p->addr_port) {
        snprintf(p->addr_host, sizeof p->addr_host, "%s", host);
        p->addr_port = *port;
        p->gen++;
    }
    p->addr_stale = false;
    *gen = p->gen;
    pthread_mutex_unlock(&p->mu);
    return 0;
}

/* Open, secure and authenticate one connection to the pool's server (with a
 * resolver: the current master, checked with ROLE). RAGD_EUNAVAIL if it cannot
 * be reached; RAGD_EINVAL (message in err) if it refuses AUTH/SELECT. */
static int rc__open(rpool *p, rconn **out, char *err, size_t errlen)
{
    char host[256];
    rconn_target t = { host, 0, p->url.user, p->url.password, p->url.db, p->ssl_ctx,
                       p->connect_timeout_ms };
    uint64_t gen;
    if (rc__target(p, host, sizeof host, &t.port, &gen) != 0) {
        snprintf(err, errlen, "no master address from the sentinels");
        return RAGD_EUNAVAIL;
    }
    int rc = rconn_open(&t, out, err, errlen);
    if (rc == 0 && p->res.resolve &&
        (rc = rc__check_master(*out, rc__now_ms() + p->connect_timeout_ms, err, errlen)) != 0) {
        rc__close(*out);
        pthread_mutex_lock(&p->mu);
        p->addr_stale = true; /* a replica now, or gone: ask the sentinels again */
        pthread_mutex_unlock(&p->mu);
        return RAGD_EUNAVAIL;
    }
    if (rc == 0)
        (*out)->gen = gen;
    return rc;
}

/* An idle connection is healthy if it has nothing to read; after the server
 * closed it, it is readable with EOF. (TLS may deliver session tickets late.) */
static bool rc__alive(rconn *c)
{
    struct pollfd pfd = { c->fd, POLLIN, 0 };
    if (poll(&pfd, 1, 0) == 0)
        return true;
    if (pfd.revents & (POLLERR | POLLHUP | POLLNVAL))
        return false;
    if (c->ssl) {
        char b;
        int r = SSL_peek(c->ssl, &b, 1);
        if (r > 0)
            return false; /* unsolicited data: out of sync */
        int e = SSL_get_error(c->ssl, r);
        ERR_clear_error();
        return e == SSL_ERROR_WANT_READ;
    }
    char b;
    ssize_t n = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && errno == EAGAIN;
}

/* ---- pool ---------------------------------------------------------------- */

/* With mu held: note the server is down, drop idle connections, wake the monitor. */
static void rc__mark_down(rpool *p)
{
    p->addr_stale = true; /* with a resolver: the master may have moved */
    for (int i = 0; i < p->nidle; i++)
        rc__close(p->idle[i]);
    p->total -= p->nidle;
    p->lost += (uint64_t)p->nidle;
    p->nidle = 0;
    if (!p->down) {
        p->down = true;
        atomic_store(&p->available, false);
        p->backoff_ms = RP_BACKOFF_MIN_MS;
        p->next_retry_ms = rc__now_ms() + p->backoff_ms;
        pthread_cond_signal(&p->mon_cv);
    }
}

/* With mu held: a connection was just opened; count it if it replaced a lost one. */
static void rc__count_open(rpool *p)
{
    if (p->lost > 0) {
        p->lost--;
        atomic_fetch_add(&p->reconnects, 1);
    }
}

/* With mu held: add a freshly opened connection to the idle set (or close it
 * when the pool is full). */
static void rc__pool_adopt(rpool *p, rconn *c)
{
    rc__count_open(p);
    if (p->total < p->size) {
        p->idle[p->nidle++] = c;
        p->total++;
        pthread_cond_signal(&p->cv);
    } else {
        rc__close(c);
    }
}

static void *rc__monitor_main(void *arg)
{
    rpool *p = arg;
    char err[256];
    pthread_mutex_lock(&p->mu);
    while (!p->stop) {
        if (!p->down) {
            pthread_cond_wait(&p->mon_cv, &p->mu);
            continue;
        }
        int64_t wait = p->next_retry_ms - rc__now_ms();
        if (wait > 0) {
            struct timespec ts = { (time_t)(p->next_retry_ms / 1000),
                                   (long)(p->next_retry_ms % 1000) * 1000000L };
            pthread_cond_timedwait(&p->mon_cv, &p->mu, &ts);
            continue;
        }
        pthread_mutex_unlock(&p->mu);
        rconn *c = NULL;
        int rc = rc__open(p, &c, err, sizeof err);
        pthread_mutex_lock(&p->mu);
        if (rc == 0 && !p->stop) {
            p->down = false;
            atomic_store(&p->available, true);
            rc__pool_adopt(p, c);
            pthread_cond_broadcast(&p->cv);
        } else {
            rc__close(c);
            p->backoff_ms = p->backoff_ms * 2 > RP_BACKOFF_MAX_MS ? RP_BACKOFF_MAX_MS
                                                                  : p->backoff_ms * 2;
            p->next_retry_ms = rc__now_ms() + p->backoff_ms;
        }
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* Take a connection (idle, or newly opened if below the pool size). */
static int rc__pool_acquire(rpool *p, rconn **out, int64_t deadline)
{
    char err[256];
    pthread_mutex_lock(&p->mu);
    for (;;) {
        if (p->down) {
            pthread_mutex_unlock(&p->mu);
            return RAGD_EUNAVAIL;
        }
        if (p->nidle > 0) {
            rconn *c = p->idle[--p->nidle];
            if (rc__alive(c)) {
                pthread_mutex_unlock(&p->mu);
                *out = c;
                return 0;
            }
            rc__close(c); /* the server closed it (restart, idle timeout) */
            p->total--;
            p->lost++;
            continue;
        }
        if (p->total < p->size) {
            p->total++;
            pthread_mutex_unlock(&p->mu);
            rconn *c = NULL;
            int rc = rc__open(p, &c, err, sizeof err);
            pthread_mutex_lock(&p->mu);
            if (rc == 0) {
                rc__count_open(p);
                pthread_mutex_unlock(&p->mu);
                *out = c;
                return 0;
            }
            p->total--;
            atomic_fetch_add(&p->errors, 1);
            rc__mark_down(p);
            pthread_mutex_unlock(&p->mu);
            return RAGD_EUNAVAIL;
        }
        int64_t ms = deadline;
        struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
        if (pthread_cond_timedwait(&p->cv, &p->mu, &ts) == ETIMEDOUT) {
            pthread_mutex_unlock(&p->mu);
            return RAGD_ETIMEOUT;
        }
    }
}

static void rc__pool_release(rpool *p, rconn *c, bool healthy)
{
    pthread_mutex_lock(&p->mu);
    if (healthy && !p->down && c->gen == p->gen) {
        p->idle[p->nidle++] = c;
    } else {
        rc__close(c);
        p->total--;
        p->lost++;
    }
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

/* Does a reply say the server no longer takes writes as a master (a replica
 * after a failover, or a master that lost its replicas' quorum)? */
static bool rc__refuses(size_t n, redisReply **replies)
{
    for (size_t i = 0; i < n; i++) {
        const redisReply *r = replies[i];
        if (r->type == REDIS_REPLY_ERROR &&
            (strncmp(r->str, "READONLY", 8) == 0 || strncmp(r->str, "MASTERDOWN", 10) == 0))
            return true;
        if (r->type == REDIS_REPLY_ARRAY && r->elements && rc__refuses(r->elements, r->element))
            return true;
    }
    return false;
}

int rpool_exec(rpool *p, size_t n, const rpool_cmd *cmds, redisReply **replies)
{
    int64_t deadline = rc__now_ms() + p->command_timeout_ms;
    rconn *c;
    int rc = rc__pool_acquire(p, &c, deadline);
    if (rc)
        return rc;
    rc = rc__exec(c, n, cmds, replies, deadline);
    if (rc) {
        atomic_fetch_add(&p->errors, 1);
        /* A failed exchange leaves the stream out of sync: drop the connection
         * and find out whether the server is still there. */
        rc__pool_release(p, c, false);
        rconn *probe = NULL;
        char err[256];
        int prc = rc__open(p, &probe, err, sizeof err);
        pthread_mutex_lock(&p->mu);
        if (prc == 0)
            rc__pool_adopt(p, probe);
        else
            rc__mark_down(p);
        pthread_mutex_unlock(&p->mu);
        return RAGD_EUNAVAIL;
    }
    if (p->res.resolve && rc__refuses(n, replies)) {
        /* Behind a resolver this server is no longer the master: drop every
         * connection and re-discover. The caller still sees the error reply. */
        rc__pool_release(p, c, false);
        rpool_suspend(p);
        return 0;
    }
    rc__pool_release(p, c, true);
    return 0;
}

void rpool_suspend(rpool *p)
{
    pthread_mutex_lock(&p->mu);
    p->gen++;
    rc__mark_down(p);
    pthread_mutex_unlock(&p->mu);
}

void rpool_retarget(rpool *p, const char *host, int port)
{
    pthread_mutex_lock(&p->mu);
    if (strcmp(host, p->addr_host) != 0 || port != p->addr_port) {
        snprintf(p->addr_host, sizeof p->addr_host, "%s", host);
        p->addr_port = port;
        p->gen++;
        for (int i = 0; i < p->nidle; i++)
            rc__close(p->idle[i]);
        p->total -= p->nidle;
        p->lost += (uint64_t)p->nidle;
        p->nidle = 0;
    }
    p->addr_stale = false;
    if (p->down) {
        p->next_retry_ms = rc__now_ms(); /* try the new master now */
        p->backoff_ms = RP_BACKOFF_MIN_MS;
        pthread_cond_signal(&p->mon_cv);
    }
    pthread_mutex_unlock(&p->mu);
}

static int rc__tls_setup(rpool *p, const store_config *cfg, ragd_error *err)
{
    p->ssl_ctx = SSL_CTX_new(TLS_client_method());
    if (!p->ssl_ctx)
        return ragd_error_set(err, RAGD_EINTERNAL, "TLS: cannot create context");
    SSL_CTX_set_min_proto_version(p->ssl_ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(p->ssl_ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (cfg->tls_cert_file) {
        const char *keyf = cfg->tls_key_file ? cfg->tls_key_file : cfg->tls_cert_file;
        if (SSL_CTX_use_certificate_chain_file(p->ssl_ctx, cfg->tls_cert_file) != 1 ||
            SSL_CTX_use_PrivateKey_file(p->ssl_ctx, keyf, SSL_FILETYPE_PEM) != 1 ||
            SSL_CTX_check_private_key(p->ssl_ctx) != 1) {
            ERR_clear_error();
            return ragd_error_set(err, RAGD_EINVAL, "TLS: cannot load client certificate %s",
                                  cfg->tls_cert_file);
        }
    }
    if (cfg->tls_insecure) {
        SSL_CTX_set_verify(p->ssl_ctx, SSL_VERIFY_NONE, NULL);
        return 0;
    }
    SSL_CTX_set_verify(p->ssl_ctx, SSL_VERIFY_PEER, NULL);
    int ok = cfg->tls_ca_file ? SSL_CTX_load_verify_locations(p->ssl_ctx, cfg->tls_ca_file, NULL)
                              : SSL_CTX_set_default_verify_paths(p->ssl_ctx);
    if (ok != 1) {
        ERR_clear_error();
        return ragd_error_set(err, RAGD_EINVAL, "TLS: cannot load CA %s",
                              cfg->tls_ca_file ? cfg->tls_ca_file : "(system default)");
    }
    return 0;
}

int rpool_create(const store_config *cfg, rpool **out, ragd_error *err)
{
    redis_url u;
    int rc = redis_url_parse(cfg->url, &u, err);
    return rc ? rc : rpool_create_at(cfg, &u, NULL, out, err);
}

int rpool_create_at(const store_config *cfg, redis_url *url, const rpool_resolver *res,
                    rpool **out, ragd_error *err)
{
    rpool *p = xcalloc(1, sizeof *p);
    int rc;
    p->url = *url;
    memset(url, 0, sizeof *url);
    if (res) {
        p->res = *res;
        p->addr_stale = true;
    }
    p->size = cfg->pool_size > 0 ? cfg->pool_size : 8;
    p->connect_timeout_ms = cfg->connect_timeout_ms > 0 ? cfg->connect_timeout_ms : 1000;
    p->command_timeout_ms = cfg->command_timeout_ms > 0 ? cfg->command_timeout_ms : 1000;
    p->idle = xcalloc((size_t)p->size, sizeof *p->idle);
    if (p->url.tls && (rc = rc__tls_setup(p, cfg, err)) != 0) {
        rpool_destroy(p);
        return rc;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->cv, &ca);
    pthread_cond_init(&p->mon_cv, &ca);
    pthread_condattr_destroy(&ca);
    char msg[256] = "";
    rconn *c = NULL;
    rc = rc__open(p, &c, msg, sizeof msg);
    if (rc == RAGD_EINVAL) {
        ragd_error_set(err, RAGD_EINVAL, "Redis refused the connection set-up: %s", msg);
        rpool_destroy(p);
        return RAGD_EINVAL;
    }
    if (rc == 0) {
        p->idle[p->nidle++] = c;
        p->total = 1;
        atomic_store(&p->available, true);
    } else {
        p->down = true; /* start anyway; the monitor connects when it can */
        p->backoff_ms = RP_BACKOFF_MIN_MS;
        p->next_retry_ms = rc__now_ms() + p->backoff_ms;
    }
    if (pthread_create(&p->monitor, NULL, rc__monitor_main, p) != 0) {
        rpool_destroy(p);
        return ragd_error_set(err, RAGD_EINTERNAL, "cannot start the Redis monitor thread");
    }
    *out = p;
    return 0;
}

void rpool_destroy(rpool *p)
{
    if (!p)
        return;
    if (p->monitor) {
        pthread_mutex_lock(&p->mu);
        p->stop = true;
        pthread_cond_signal(&p->mon_cv);
        pthread_mutex_unlock(&p->mu);
        pthread_join(p->monitor, NULL);
        pthread_mutex_destroy(&p->mu);
        pthread_cond_destroy(&p->cv);
        pthread_cond_destroy(&p->mon_cv);
    }
    for (int i = 0; i < p->nidle; i++)
        rc__close(p->idle[i]);
    free(p->idle);
    if (p->ssl_ctx)
        SSL_CTX_free(p->ssl_ctx);
    redis_url_free(&p->url);
    free(p);
}

int rpool_conn_open(rpool *p, rconn **out)
{
    if (!atomic_load(&p->available))
        return RAGD_EUNAVAIL;
    char err[256];
    int rc = rc__open(p, out, err, sizeof err);
    if (rc)
        atomic_fetch_add(&p->errors, 1);
    return rc ? RAGD_EUNAVAIL : 0;
}

int rpool_conn_exec(rpool *p, rconn *c, size_t n, const rpool_cmd *cmds,
                    redisReply **replies, int wait_ms)
{
    int64_t deadline = rc__now_ms() + p->command_timeout_ms + (wait_ms > 0 ? wait_ms : 0);
    int rc = rc__exec(c, n, cmds, replies, deadline);
    if (rc)
        atomic_fetch_add(&p->errors, 1);
    return rc ? RAGD_EUNAVAIL : 0;
}

void rpool_conn_close(rconn *c)
{
    rc__close(c);
}

bool rpool_available(rpool *p)
{
    return atomic_load(&p->available);
}

uint64_t rpool_reconnects(rpool *p)
{
    return atomic_load(&p->reconnects);
}

uint64_t rpool_errors(rpool *p)
{
    return atomic_load(&p->errors);
}
