/*
 * redis_sentinel.c - Redis Sentinel for the Redis backend. The data nodes'
 * pool (redis_conn.c) asks rsent_master for the master's address before it
 * (re)connects, checks ROLE on every new connection and re-discovers on
 * READONLY / MASTERDOWN / a lost server; a watcher thread subscribes to
 * +switch-master on one sentinel at a time and re-targets the pool as soon as
 * a failover is announced, so ragd never waits for a timeout to follow it.
 * Sentinels are spoken to in plain TCP (TLS, with rediss+sentinel://, is for
 * the data nodes only).
 */
#include "store/redis_sentinel.h"

#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "obs/log.h"
#include "util/clock.h"
#include "util/mem.h"

#define RSENT_WATCH_POLL_MS 100   /* how often the watcher polls the sentinels */
#define RSENT_WATCH_RETRY_MS 500  /* pause before re-subscribing to a lost sentinel */
#define RSENT_HOLD_MS 10000       /* longest a failover under way keeps writes back */

struct rsent {
    rsent_url url;
    rpool *pool;
    rpool *replica;              /* rsent_replica_pool's, or NULL */
    const char *user, *password; /* sentinels' AUTH; owned copies or NULL */
    int timeout_ms;
    _Atomic int good;            /* index of the last sentinel that answered */
    _Atomic uint64_t switches;
    _Atomic bool stop;
    pthread_t watcher;
    bool watching;
    /* The watcher's own: a connection per sentinel for polling, and what each
     * sentinel named last (port 0 = nothing yet). */
    rconn *polls[RSENT_MAX];
    struct {
        char host[256];
        int port;
    } named[RSENT_MAX];
    rconn *subs[RSENT_MAX];         /* the watcher's subscriptions */
    int64_t sub_retry_ms[RSENT_MAX];
    /* A failover under way (+selected-slave): the resolver does not name the
     * old master hold_host:hold_port until hold_until_ms. mu guards these. */
    pthread_mutex_t mu;
    bool holding;
    char hold_host[256];
    int hold_port;
    int64_t hold_until_ms;
};

/* ---- URL ------------------------------------------------------------------ */

bool rsent_is_url(const char *url)
{
    return url && (strncmp(url, "redis+sentinel://", 17) == 0 ||
                   strncmp(url, "rediss+sentinel://", 18) == 0);
}

/* One "host[:port]" of the list into sentinel i (default port 26379). */
static int rsent__parse_host(const char *s, size_t n, rsent_url *u, ragd_error *err)
{
    if (u->n >= RSENT_MAX)
        return ragd_error_set(err, RAGD_EINVAL, "sentinel URL: at most %d sentinels", RSENT_MAX);
    if (n == 0 || n > 300)
        return ragd_error_set(err, RAGD_EINVAL, "sentinel URL: empty or too long sentinel address");
    char one[320];
    snprintf(one, sizeof one, "redis://%.*s", (int)n, s);
    const char *close = memchr(s, ']', n);
    const char *after = close ? close + 1 : s;
    bool has_port = memchr(after, ':', (size_t)(s + n - after)) != NULL;
    redis_url r;
    int rc = redis_url_parse(one, &r, err);
    if (rc)
        return rc;
    snprintf(u->sentinels[u->n].host, sizeof u->sentinels[u->n].host, "%s", r.host);
    u->sentinels[u->n].port = has_port ? r.port : RSENT_DEFAULT_PORT;
    u->n++;
    redis_url_free(&r);
    return 0;
}

/* "/<master-name>[/db]" into u->master and the data URL's db text. */
static int rsent__parse_path(const char *path, rsent_url *u, const char **db, ragd_error *err)
{
    if (*path != '/')
        return ragd_error_set(err, RAGD_EINVAL,
                              "sentinel URL: needs /<master-name> after the hosts");
    path++;
    size_t n = strcspn(path, "/?#");
    if (n == 0 || n > RSENT_NAME_MAX)
        return ragd_error_set(err, RAGD_EINVAL, "sentinel URL: master name of 1-%d characters",
                              RSENT_NAME_MAX);
    for (size_t i = 0; i < n; i++) {
        char c = path[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return ragd_error_set(err, RAGD_EINVAL,
                                  "sentinel URL: master name must be [A-Za-z0-9_.-]");
    }
    memcpy(u->master, path, n);
    u->master[n] = '\0';
    *db = path[n] == '/' ? path + n : "";
    return 0;
}

int rsent_url_parse(const char *url, rsent_url *out, ragd_error *err)
{
    if (!rsent_is_url(url))
        return ragd_error_set(err, RAGD_EINVAL, "sentinel URL must start with "
                                                "redis+sentinel:// or rediss+sentinel://");
    rsent_url *u = xcalloc(1, sizeof *u);
    bool tls = url[5] == 's';
    const char *p = url + (tls ? 18 : 17);
    const char *end = p + strcspn(p, "/?#");
    const char *at = NULL;
    for (const char *q = p; q < end; q++)
        if (*q == '@')
            at = q;
    const char *hosts = at ? at + 1 : p, *db = "";
    int rc = 0;
    for (const char *h = hosts; rc == 0 && h <= end;) {
        const char *comma = memchr(h, ',', (size_t)(end - h));
        const char *stop = comma ? comma : end;
        rc = rsent__parse_host(h, (size_t)(stop - h), u, err);
        h = stop + 1;
    }
    if (rc == 0)
        rc = rsent__parse_path(end, u, &db, err);
    if (rc == 0) { /* the data nodes: same credentials, db and TLS, host from Sentinel */
        char *data = xmalloc(strlen(url) + 32);
        sprintf(data, "%s://%.*s%sdata%s", tls ? "rediss" : "redis", at ? (int)(at - p) : 0, p,
                at ? "@" : "", db);
        rc = redis_url_parse(data, &u->data, err);
        free(data);
    }
    if (rc == 0)
        *out = *u;
    free(u);
    return rc;
}

void rsent_url_free(rsent_url *u)
{
    redis_url_free(&u->data);
}

/* ---- asking the sentinels ---------------------------------------------------- */

static rconn_target rsent__target(const rsent *s, int i)
{
    rconn_target t = { s->url.sentinels[i].host, s->url.sentinels[i].port, s->user,
                       s->password, 0, NULL, s->timeout_ms, false };
    return t;
}

/* Ask a sentinel over connection c: 0 with the address, RAGD_ENOTFOUND if
 * it does not know the master, RAGD_EUNAVAIL if the exchange failed (then c
 * is unusable). */
static int rsent__ask_on(rsent *s, rconn *c, char *host, size_t cap, int *port)
{
    const char *argv[3] = { "SENTINEL", "get-master-addr-by-name", s->url.master };
    size_t lens[3] = { 8, 23, strlen(s->url.master) };
    rpool_cmd cmd = { 3, argv, lens };
    redisReply *r = NULL;
    int rc = rconn_exec(c, 1, &cmd, &r, s->timeout_ms);
    if (rc)
        return RAGD_EUNAVAIL;
    if (r->type == REDIS_REPLY_NIL) {
        rc = RAGD_ENOTFOUND;
    } else if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
               r->element[0]->type == REDIS_REPLY_STRING &&
               r->element[1]->type == REDIS_REPLY_STRING && r->element[0]->len < cap) {
        snprintf(host, cap, "%s", r->element[0]->str);
        *port = atoi(r->element[1]->str);
        rc = *port > 0 && *port < 65536 ? 0 : RAGD_EUNAVAIL;
    } else {
        rc = RAGD_EUNAVAIL;
    }
    freeReplyObject(r);
    return rc;
}

/* The value of field name in a flat [field, value, ...] reply, or "". */
static const char *rsent__field(const redisReply *e, const char *name)
{
    for (size_t i = 0; i + 1 < e->elements; i += 2)
        if (e->element[i]->type == REDIS_REPLY_STRING && strcmp(e->element[i]->str, name) == 0 &&
            e->element[i + 1]->type == REDIS_REPLY_STRING)
            return e->element[i + 1]->str;
    return "";
}

/* Ask a sentinel over c for a replica to read from (SENTINEL REPLICAS): the
 * first one that is neither down nor disconnected and whose link to the
 * master is up. Codes as rsent__ask_on (RAGD_ENOTFOUND: no such replica). */
static int rsent__ask_replica_on(rsent *s, rconn *c, char *host, size_t cap, int *port)
{
    const char *argv[3] = { "SENTINEL", "REPLICAS", s->url.master };
    size_t lens[3] = { 8, 8, strlen(s->url.master) };
    rpool_cmd cmd = { 3, argv, lens };
    redisReply *r = NULL;
    if (rconn_exec(c, 1, &cmd, &r, s->timeout_ms) != 0)
        return RAGD_EUNAVAIL;
    int rc = r->type == REDIS_REPLY_ARRAY ? RAGD_ENOTFOUND : RAGD_EUNAVAIL;
    for (size_t i = 0; rc == RAGD_ENOTFOUND && i < r->elements; i++) {
        const redisReply *e = r->element[i];
        if (e->type != REDIS_REPLY_ARRAY || strcmp(rsent__field(e, "flags"), "slave") != 0 ||
            strcmp(rsent__field(e, "master-link-status"), "ok") != 0)
            continue;
        const char *ip = rsent__field(e, "ip");
        int p = atoi(rsent__field(e, "port"));
        if (*ip && strlen(ip) < cap && p > 0 && p < 65536) {
            snprintf(host, cap, "%s", ip);
            *port = p;
            rc = 0;
        }
    }
    freeReplyObject(r);
    return rc;
}

typedef int (*rsent_ask_fn)(rsent *s, rconn *c, char *host, size_t cap, int *port);

/* Sentinel i's answer to ask on a connection of its own. */
static int rsent__ask(rsent *s, int i, rsent_ask_fn ask, char *host, size_t cap, int *port)
{
    rconn_target t = rsent__target(s, i);
    rconn *c = NULL;
    char msg[256];
    if (rconn_open(&t, &c, msg, sizeof msg) != 0)
        return RAGD_EUNAVAIL;
    int rc = ask(s, c, host, cap, port);
    rconn_close(c);
    return rc;
}

/* Ask the sentinels in turn (the last good one first) until one answers;
 * RAGD_ENOTFOUND when every sentinel that answered had nothing to name. */
static int rsent__find_with(rsent *s, rsent_ask_fn ask, char *host, size_t cap, int *port)
{
    int first = atomic_load(&s->good), rc = RAGD_EUNAVAIL;
    bool unknown = false;
    for (int k = 0; k < s->url.n; k++) {
        int i = (first + k) % s->url.n;
        rc = rsent__ask(s, i, ask, host, cap, port);
        if (rc == 0) {
            atomic_store(&s->good, i);
            return 0;
        }
        unknown |= rc == RAGD_ENOTFOUND;
    }
    return unknown ? RAGD_ENOTFOUND : RAGD_EUNAVAIL;
}

/* As rsent_master, but RAGD_ENOTFOUND when every sentinel that answered said
 * it does not know the master. */
static int rsent__find(rsent *s, char *host, size_t cap, int *port)
{
    return rsent__find_with(s, rsent__ask_on, host, cap, port);
}

/* With mu held: is host:port the master a failover in progress is leaving? */
static bool rsent__held(rsent *s, const char *host, int port)
{
    if (!s->holding)
        return false;
    if (clock_mono_us() / 1000 >= s->hold_until_ms) {
        s->holding = false;
        return false;
    }
    return port == s->hold_port && strcmp(host, s->hold_host) == 0;
}

int rsent_master(rsent *s, char *host, size_t cap, int *port)
{
    if (rsent__find(s, host, cap, port) != 0)
        return RAGD_EUNAVAIL;
    pthread_mutex_lock(&s->mu);
    bool held = rsent__held(s, host, *port);
    pthread_mutex_unlock(&s->mu);
    return held ? RAGD_EUNAVAIL : 0;
}

static int rsent__resolve(void *ud, char *host, size_t cap, int *port)
{
    return rsent_master(ud, host, cap, port);
}

/* The replica pool's resolver: a healthy replica, named by the sentinels. */
static int rsent__resolve_replica(void *ud, char *host, size_t cap, int *port)
{
    return rsent__find_with(ud, rsent__ask_replica_on, host, cap, port) ? RAGD_EUNAVAIL : 0;
}

int rsent_replica_pool(rsent *s, const store_config *cfg, rpool **out, ragd_error *err)
{
    rsent_url u;
    int rc = rsent_url_parse(cfg->url, &u, err);
    if (rc)
        return rc;
    rpool_resolver res = { rsent__resolve_replica, s, true };
    rc = rpool_create_at(cfg, &u.data, &res, &s->replica, err);
    rsent_url_free(&u);
    if (rc == 0)
        *out = s->replica;
    return rc;
}

uint64_t rsent_switches(rsent *s)
{
    return atomic_load(&s->switches);
}

/* ---- the watcher ------------------------------------------------------------ */

/* The master is now host:port (a switch, or a sentinel naming it): end any
 * hold and re-target the pool. */
static void rsent__moved(rsent *s, const char *host, int port)
{
    pthread_mutex_lock(&s->mu);
    bool held = rsent__held(s, host, port);
    if (!held)
        s->holding = false;
    pthread_mutex_unlock(&s->mu);
    if (!held)
        rpool_retarget(s->pool, host, port);
}

/* "+switch-master <name> <old-ip> <old-port> <new-ip> <new-port>". */
static void rsent__on_switch(rsent *s, const char *msg)
{
    char name[RSENT_NAME_MAX + 1], oldip[256], newip[256];
    int oldport, newport;
    if (sscanf(msg, "%128s %255s %d %255s %d", name, oldip, &oldport, newip, &newport) != 5 ||
        strcmp(name, s->url.master) != 0)
        return;
    atomic_fetch_add(&s->switches, 1);
    log_msg(LOG_WARN, "Sentinel: master %s moved from %s:%d to %s:%d", name, oldip, oldport,
            newip, newport);
    rsent__moved(s, newip, newport);
}

/* "+selected-slave <type> <name> <ip> <port> @ <master> <master-ip> <master-port>":
 * a failover of our master has chosen a replica and is about to promote it.
 * From then on the old master's writes would be wiped by its demotion, so
 * stop writing to it now: the pool goes down and the resolver will not name
 * it again until a sentinel names another master (or RSENT_HOLD_MS pass, for
 * a failover that was aborted). */
static void rsent__on_selected(rsent *s, const char *msg)
{
    const char *at = strstr(msg, " @ ");
    char name[RSENT_NAME_MAX + 1], ip[256];
    int port;
    if (!at || sscanf(at + 3, "%128s %255s %d", name, ip, &port) != 3 ||
        strcmp(name, s->url.master) != 0)
        return;
    pthread_mutex_lock(&s->mu);
    s->holding = true;
    snprintf(s->hold_host, sizeof s->hold_host, "%s", ip);
    s->hold_port = port;
    s->hold_until_ms = clock_mono_us() / 1000 + RSENT_HOLD_MS;
    pthread_mutex_unlock(&s->mu);
    log_msg(LOG_WARN, "Sentinel: failover of %s from %s:%d under way: writes wait for the "
            "new master", name, ip, port);
    rpool_suspend(s->pool);
}

/* "-failover-abort-...": the old master stays; stop holding it back. */
static void rsent__on_abort(rsent *s, const char *msg)
{
    const char *at = strstr(msg, " @ ");
    char name[RSENT_NAME_MAX + 1];
    if (at && sscanf(at + 3, "%128s", name) == 1 && strcmp(name, s->url.master) == 0) {
        pthread_mutex_lock(&s->mu);
        s->holding = false;
        pthread_mutex_unlock(&s->mu);
        rpool_suspend(s->pool); /* and ask the sentinels again */
    }
}

/* One pushed message: ["message", channel, text]. */
static void rsent__on_message(rsent *s, const redisReply *r)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
        r->element[0]->type != REDIS_REPLY_STRING || strcmp(r->element[0]->str, "message") ||
        r->element[1]->type != REDIS_REPLY_STRING || r->element[2]->type != REDIS_REPLY_STRING)
        return;
    const char *ch = r->element[1]->str, *msg = r->element[2]->str;
    if (strcmp(ch, "+switch-master") == 0)
        rsent__on_switch(s, msg);
    else if (strcmp(ch, "+selected-slave") == 0)
        rsent__on_selected(s, msg);
    else if (strncmp(ch, "-failover-abort", 15) == 0)
        rsent__on_abort(s, msg);
}

/* Keep a subscription open on sentinel i (reopened at most every
 * RSENT_WATCH_RETRY_MS) and hand what it pushed to rsent__on_message. The
 * failover events come from the sentinel leading it, so every sentinel is
 * subscribed. */
static void rsent__drain(rsent *s, int i)
{
    static const char *const chans[] = { "SUBSCRIBE", "+switch-master", "+selected-slave",
                                         "-failover-abort-no-good-slave",
                                         "-failover-abort-slave-timeout" };
    int64_t now = clock_mono_us() / 1000;
    if (!s->subs[i] && now >= s->sub_retry_ms[i]) {
        rconn_target t = rsent__target(s, i);
        char msg[256];
        size_t lens[5];
        for (int k = 0; k < 5; k++)
            lens[k] = strlen(chans[k]);
        rpool_cmd cmd = { 5, (const char **)chans, lens };
        redisReply *r = NULL;
        s->sub_retry_ms[i] = now + RSENT_WATCH_RETRY_MS;
        if (rconn_open(&t, &s->subs[i], msg, sizeof msg) == 0 &&
            rconn_exec(s->subs[i], 1, &cmd, &r, s->timeout_ms) == 0) {
            freeReplyObject(r); /* the first confirmation; the others come as pushes */
        } else {
            rconn_close(s->subs[i]);
            s->subs[i] = NULL;
        }
    }
    for (int rc = 0; s->subs[i] && rc == 0;) {
        redisReply *r = NULL;
        rc = rconn_read(s->subs[i], &r, 0);
        if (rc == 0) {
            rsent__on_message(s, r);
            freeReplyObject(r);
        } else if (rc != RAGD_ETIMEOUT) {
            rconn_close(s->subs[i]);
            s->subs[i] = NULL;
        }
    }
}

/* Poll every sentinel on its own kept connection. +switch-master comes only at
 * the end of a failover; the leading sentinel names the promoted replica as
 * soon as it sees it master. A sentinel whose answer changes re-targets the
 * pool at once; each sentinel's own change counts, so one that lags behind
 * never moves the pool back. */
static void rsent__poll(rsent *s)
{
    for (int i = 0; i < s->url.n; i++) {
        char msg[256], host[256];
        int port;
        if (!s->polls[i]) {
            rconn_target t = rsent__target(s, i);
            if (rconn_open(&t, &s->polls[i], msg, sizeof msg) != 0)
                continue;
        }
        int rc = rsent__ask_on(s, s->polls[i], host, sizeof host, &port);
        if (rc == RAGD_EUNAVAIL) {
            rconn_close(s->polls[i]);
            s->polls[i] = NULL;
        }
        if (rc)
            continue;
        bool changed = s->named[i].port &&
                       (port != s->named[i].port || strcmp(host, s->named[i].host) != 0);
        snprintf(s->named[i].host, sizeof s->named[i].host, "%s", host);
        s->named[i].port = port;
        if (changed) {
            log_msg(LOG_WARN, "Sentinel %s:%d: master %s is now %s:%d", s->url.sentinels[i].host,
                    s->url.sentinels[i].port, s->url.master, host, port);
            rsent__moved(s, host, port);
        }
    }
}

/* Every RSENT_WATCH_POLL_MS: read what the subscriptions pushed, then poll. */
static void *rsent__watch_main(void *arg)
{
    rsent *s = arg;
    while (!atomic_load(&s->stop)) {
        struct pollfd pfd[RSENT_MAX];
        int n = 0;
        for (int i = 0; i < s->url.n; i++)
            if (s->subs[i])
                pfd[n++] = (struct pollfd){ rconn_fd(s->subs[i]), POLLIN, 0 };
        if (n)
            poll(pfd, (nfds_t)n, RSENT_WATCH_POLL_MS);
        else
            clock_sleep_ms(RSENT_WATCH_POLL_MS);
        for (int i = 0; i < s->url.n && !atomic_load(&s->stop); i++)
            rsent__drain(s, i);
        if (!atomic_load(&s->stop))
            rsent__poll(s);
    }
    return NULL;
}

int rsent_create(const store_config *cfg, rsent **out, rpool **pool, ragd_error *err)
{
    rsent *s = xcalloc(1, sizeof *s);
    int rc = rsent_url_parse(cfg->url, &s->url, err);
    if (rc) {
        free(s);
        return rc;
    }
    pthread_mutex_init(&s->mu, NULL);
    s->user = cfg->sentinel_user && *cfg->sentinel_user ? xstrdup(cfg->sentinel_user) : NULL;
    s->password =
        cfg->sentinel_password && *cfg->sentinel_password ? xstrdup(cfg->sentinel_password) : NULL;
    s->timeout_ms = cfg->connect_timeout_ms > 0 ? cfg->connect_timeout_ms : 1000;
    char host[256];
    int port;
    if (rsent__find(s, host, sizeof host, &port) == RAGD_ENOTFOUND) {
        rc = ragd_error_set(err, RAGD_EINVAL, "no sentinel knows a master named \"%s\"",
                            s->url.master);
        rsent_destroy(s);
        return rc;
    }
    rpool_resolver res = { rsent__resolve, s, false };
    rc = rpool_create_at(cfg, &s->url.data, &res, &s->pool, err);
    if (rc == 0 && pthread_create(&s->watcher, NULL, rsent__watch_main, s) != 0)
        rc = ragd_error_set(err, RAGD_EINTERNAL, "cannot start the Sentinel watcher thread");
    s->watching = rc == 0;
    if (rc) {
        rsent_destroy(s);
        return rc;
    }
    *out = s;
    *pool = s->pool;
    return 0;
}

void rsent_destroy(rsent *s)
{
    if (!s)
        return;
    atomic_store(&s->stop, true);
    if (s->watching)
        pthread_join(s->watcher, NULL);
    for (int i = 0; i < RSENT_MAX; i++) {
        rconn_close(s->polls[i]);
        rconn_close(s->subs[i]);
    }
    pthread_mutex_destroy(&s->mu);
    rpool_destroy(s->replica);
    rpool_destroy(s->pool);
    rsent_url_free(&s->url);
    free((char *)s->user);
    free((char *)s->password);
    free(s);
}
