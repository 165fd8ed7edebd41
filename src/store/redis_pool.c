/*
 * redis_pool.c - ragd's Redis connection pool over the transport of
 * redis_conn.c. The pool hands connections to any thread. When a connect fails
 * it marks the server down: calls then fail at once with RAGD_EUNAVAIL while a
 * monitor thread retries with exponential backoff and, once it gets through,
 * marks the server up again, so the store heals by itself. With a resolver
 * (Sentinel) it connects to whichever server the resolver names as master.
 */
#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/redis_conn_int.h"
#include "util/mem.h"

#define RP_BACKOFF_MIN_MS 50
#define RP_BACKOFF_MAX_MS 1000

struct rpool {
    redis_url url;
    SSL_CTX *ssl_ctx;
    int size, connect_timeout_ms, command_timeout_ms;
    bool readonly; /* a Cluster replica's pool: READONLY on every connection */

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

/* With a resolver: is the server behind c a master? (ROLE's first element.) */
static int rp__check_master(rconn *c, int64_t deadline, char *err, size_t errlen)
{
    const char *argv[1] = { "ROLE" };
    size_t lens[1] = { 4 };
    rpool_cmd cmd = { 1, argv, lens };
    redisReply *r = NULL;
    int rc = rconn__exec(c, 1, &cmd, &r, deadline);
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
static int rp__target(rpool *p, char *host, size_t cap, int *port, uint64_t *gen)
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
static int rp__open(rpool *p, rconn **out, char *err, size_t errlen)
{
    char host[256];
    rconn_target t = { host, 0, p->url.user, p->url.password, p->url.db, p->ssl_ctx,
                       p->connect_timeout_ms, p->readonly };
    uint64_t gen;
    if (rp__target(p, host, sizeof host, &t.port, &gen) != 0) {
        snprintf(err, errlen, "no master address from the sentinels");
        return RAGD_EUNAVAIL;
    }
    int rc = rconn_open(&t, out, err, errlen);
    if (rc == 0 && p->res.resolve && !p->res.replica &&
        (rc = rp__check_master(*out, rconn__now_ms() + p->connect_timeout_ms, err, errlen)) != 0) {
        rconn_close(*out);
        pthread_mutex_lock(&p->mu);
        p->addr_stale = true; /* a replica now, or gone: ask the sentinels again */
        pthread_mutex_unlock(&p->mu);
        return RAGD_EUNAVAIL;
    }
    if (rc == 0)
        (*out)->gen = gen;
    return rc;
}

/* ---- pool ---------------------------------------------------------------- */

/* With mu held: note the server is down, drop idle connections, wake the monitor. */
static void rp__mark_down(rpool *p)
{
    p->addr_stale = true; /* with a resolver: the master may have moved */
    for (int i = 0; i < p->nidle; i++)
        rconn_close(p->idle[i]);
    p->total -= p->nidle;
    p->lost += (uint64_t)p->nidle;
    p->nidle = 0;
    if (!p->down) {
        p->down = true;
        atomic_store(&p->available, false);
        p->backoff_ms = RP_BACKOFF_MIN_MS;
        p->next_retry_ms = rconn__now_ms() + p->backoff_ms;
        pthread_cond_signal(&p->mon_cv);
    }
}

/* With mu held: a connection was just opened; count it if it replaced a lost one. */
static void rp__count_open(rpool *p)
{
    if (p->lost > 0) {
        p->lost--;
        atomic_fetch_add(&p->reconnects, 1);
    }
}

/* With mu held: add a freshly opened connection to the idle set (or close it
 * when the pool is full). */
static void rp__pool_adopt(rpool *p, rconn *c)
{
    rp__count_open(p);
    if (p->total < p->size) {
        p->idle[p->nidle++] = c;
        p->total++;
        pthread_cond_signal(&p->cv);
    } else {
        rconn_close(c);
    }
}

static void *rp__monitor_main(void *arg)
{
    rpool *p = arg;
    char err[256];
    pthread_mutex_lock(&p->mu);
    while (!p->stop) {
        if (!p->down) {
            pthread_cond_wait(&p->mon_cv, &p->mu);
            continue;
        }
        int64_t wait = p->next_retry_ms - rconn__now_ms();
        if (wait > 0) {
            struct timespec ts = { (time_t)(p->next_retry_ms / 1000),
                                   (long)(p->next_retry_ms % 1000) * 1000000L };
            pthread_cond_timedwait(&p->mon_cv, &p->mu, &ts);
            continue;
        }
        pthread_mutex_unlock(&p->mu);
        rconn *c = NULL;
        int rc = rp__open(p, &c, err, sizeof err);
        pthread_mutex_lock(&p->mu);
        if (rc == 0 && !p->stop) {
            p->down = false;
            atomic_store(&p->available, true);
            rp__pool_adopt(p, c);
            pthread_cond_broadcast(&p->cv);
        } else {
            rconn_close(c);
            p->backoff_ms = p->backoff_ms * 2 > RP_BACKOFF_MAX_MS ? RP_BACKOFF_MAX_MS
                                                                  : p->backoff_ms * 2;
            p->next_retry_ms = rconn__now_ms() + p->backoff_ms;
        }
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* Take a connection (idle, or newly opened if below the pool size). */
static int rp__pool_acquire(rpool *p, rconn **out, int64_t deadline)
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
            if (rconn__alive(c)) {
                pthread_mutex_unlock(&p->mu);
                *out = c;
                return 0;
            }
            rconn_close(c); /* the server closed it (restart, idle timeout) */
            p->total--;
            p->lost++;
            continue;
        }
        if (p->total < p->size) {
            p->total++;
            pthread_mutex_unlock(&p->mu);
            rconn *c = NULL;
            int rc = rp__open(p, &c, err, sizeof err);
            pthread_mutex_lock(&p->mu);
            if (rc == 0) {
                rp__count_open(p);
                pthread_mutex_unlock(&p->mu);
                *out = c;
                return 0;
            }
            p->total--;
            atomic_fetch_add(&p->errors, 1);
            rp__mark_down(p);
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

static void rp__pool_release(rpool *p, rconn *c, bool healthy)
{
    pthread_mutex_lock(&p->mu);
    if (healthy && !p->down && c->gen == p->gen) {
        p->idle[p->nidle++] = c;
    } else {
        rconn_close(c);
        p->total--;
        p->lost++;
    }
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

/* Does a reply say the server no longer takes writes as a master (a replica
 * after a failover, or a master that lost its replicas' quorum)? */
static bool rp__refuses(size_t n, redisReply **replies)
{
    for (size_t i = 0; i < n; i++) {
        const redisReply *r = replies[i];
        if (r->type == REDIS_REPLY_ERROR &&
            (strncmp(r->str, "READONLY", 8) == 0 || strncmp(r->str, "MASTERDOWN", 10) == 0))
            return true;
        if (r->type == REDIS_REPLY_ARRAY && r->elements && rp__refuses(r->elements, r->element))
            return true;
    }
    return false;
}

int rpool_exec(rpool *p, size_t n, const rpool_cmd *cmds, redisReply **replies)
{
    int64_t deadline = rconn__now_ms() + p->command_timeout_ms;
    rconn *c;
    int rc = rp__pool_acquire(p, &c, deadline);
    if (rc)
        return rc;
    rc = rconn__exec(c, n, cmds, replies, deadline);
    if (rc) {
        atomic_fetch_add(&p->errors, 1);
        /* A failed exchange leaves the stream out of sync: drop the connection
         * and find out whether the server is still there. */
        rp__pool_release(p, c, false);
        rconn *probe = NULL;
        char err[256];
        int prc = rp__open(p, &probe, err, sizeof err);
        pthread_mutex_lock(&p->mu);
        if (prc == 0)
            rp__pool_adopt(p, probe);
        else
            rp__mark_down(p);
        pthread_mutex_unlock(&p->mu);
        return RAGD_EUNAVAIL;
    }
    if (p->res.resolve && rp__refuses(n, replies)) {
        /* Behind a resolver this server is no longer the master: drop every
         * connection and re-discover. The caller still sees the error reply. */
        rp__pool_release(p, c, false);
        rpool_suspend(p);
        return 0;
    }
    rp__pool_release(p, c, true);
    return 0;
}

void rpool_suspend(rpool *p)
{
    pthread_mutex_lock(&p->mu);
    p->gen++;
    rp__mark_down(p);
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
            rconn_close(p->idle[i]);
        p->total -= p->nidle;
        p->lost += (uint64_t)p->nidle;
        p->nidle = 0;
    }
    p->addr_stale = false;
    if (p->down) {
        p->next_retry_ms = rconn__now_ms(); /* try the new master now */
        p->backoff_ms = RP_BACKOFF_MIN_MS;
        pthread_cond_signal(&p->mon_cv);
    }
    pthread_mutex_unlock(&p->mu);
}

static int rp__tls_setup(rpool *p, const store_config *cfg, ragd_error *err)
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

static int rp__create(const store_config *cfg, redis_url *url, const rpool_resolver *res,
                      bool readonly, rpool **out, ragd_error *err);

int rpool_create(const store_config *cfg, rpool **out, ragd_error *err)
{
    redis_url u;
    int rc = redis_url_parse(cfg->url, &u, err);
    return rc ? rc : rp__create(cfg, &u, NULL, false, out, err);
}

int rpool_create_replica(const store_config *cfg, rpool **out, ragd_error *err)
{
    redis_url u;
    int rc = redis_url_parse(cfg->url, &u, err);
    return rc ? rc : rp__create(cfg, &u, NULL, true, out, err);
}

int rpool_create_at(const store_config *cfg, redis_url *url, const rpool_resolver *res,
                    rpool **out, ragd_error *err)
{
    return rp__create(cfg, url, res, false, out, err);
}

static int rp__create(const store_config *cfg, redis_url *url, const rpool_resolver *res,
                      bool readonly, rpool **out, ragd_error *err)
{
    rpool *p = xcalloc(1, sizeof *p);
    int rc;
    p->readonly = readonly;
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
    if (p->url.tls && (rc = rp__tls_setup(p, cfg, err)) != 0) {
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
    rc = rp__open(p, &c, msg, sizeof msg);
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
        p->next_retry_ms = rconn__now_ms() + p->backoff_ms;
    }
    if (pthread_create(&p->monitor, NULL, rp__monitor_main, p) != 0) {
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
        rconn_close(p->idle[i]);
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
    int rc = rp__open(p, out, err, sizeof err);
    if (rc)
        atomic_fetch_add(&p->errors, 1);
    return rc ? RAGD_EUNAVAIL : 0;
}

int rpool_conn_exec(rpool *p, rconn *c, size_t n, const rpool_cmd *cmds,
                    redisReply **replies, int wait_ms)
{
    int64_t deadline = rconn__now_ms() + p->command_timeout_ms + (wait_ms > 0 ? wait_ms : 0);
    int rc = rconn__exec(c, n, cmds, replies, deadline);
    if (rc)
        atomic_fetch_add(&p->errors, 1);
    return rc ? RAGD_EUNAVAIL : 0;
}

void rpool_conn_close(rconn *c)
{
    rconn_close(c);
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
