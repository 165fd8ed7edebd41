/*
 * redis_conn.c - ragd's Redis transport: one connection is a non-blocking
 * socket, optionally wrapped in OpenSSL (rediss://), whose bytes are fed to
 * hiredis' redisReader; every wait is a poll() bounded by the connect or
 * command timeout. The pool that shares connections between threads, marks a
 * server down and heals it is redis_pool.c, built on this file.
 */
#include "store/redis_conn_int.h"

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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "util/clock.h"
#include "util/mem.h"

int64_t rconn__now_ms(void)
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
        int64_t left = deadline - rconn__now_ms();
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

/* Format n commands and write them, pipelined, before deadline. */
static int rc__send(rconn *c, size_t n, const rpool_cmd *cmds, int64_t deadline)
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
    return rc;
}

/* Pipeline n commands and read n replies. On failure frees what it read. */
int rconn__exec(rconn *c, size_t n, const rpool_cmd *cmds, redisReply **replies,
                int64_t deadline)
{
    int rc = rc__send(c, n, cmds, deadline);
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
    int rc = rconn__exec(c, 1, &cmd, &r, deadline);
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
    int64_t deadline = rconn__now_ms() + t->connect_timeout_ms;
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
    if (rc == 0 && t->readonly) {
        const char *ro[1] = { "READONLY" };
        rc = rc__simple(c, 1, ro, deadline, err, errlen);
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
    return rconn__exec(c, n, cmds, replies, rconn__now_ms() + timeout_ms);
}

int rconn_send(rconn *c, size_t n, const rpool_cmd *cmds, int timeout_ms)
{
    return rc__send(c, n, cmds, rconn__now_ms() + timeout_ms);
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
    return rc__read_reply(c, out, rconn__now_ms() + (timeout_ms > 100 ? timeout_ms : 100));
}

int rconn_fd(const rconn *c)
{
    return c->fd;
}

void rconn_close(rconn *c)
{
    rc__close(c);
}

/* An idle connection is healthy if it has nothing to read; after the server
 * closed it, it is readable with EOF. (TLS may deliver session tickets late.) */
bool rconn__alive(rconn *c)
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
