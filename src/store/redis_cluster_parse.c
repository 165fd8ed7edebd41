/*
 * redis_cluster_parse.c - the pure parts of Redis Cluster support, kept apart
 * so unit tests reach them without servers: the key -> hash slot function
 * (CRC16/XMODEM with hash tags, as in the Redis Cluster specification,
 * "Keys distribution model"), MOVED/ASK error texts, CLUSTER SLOTS replies and
 * redis+cluster:// seed lists.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/redis_cluster.h"
#include "util/mem.h"

/* CRC16-CCITT (XMODEM): polynomial 0x1021, initial value 0, as Redis' crc16.c. */
static uint16_t rcp__crc16(const char *buf, size_t len)
{
    uint16_t crc = 0;
    for (size_t i = 0; i < len; i++) {
        crc ^= (uint16_t)((unsigned char)buf[i] << 8);
        for (int b = 0; b < 8; b++)
            crc = (uint16_t)(crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1);
    }
    return crc;
}

unsigned rcluster_slot(const char *key, size_t klen)
{
    const char *open = memchr(key, '{', klen);
    if (open) {
        size_t from = (size_t)(open - key) + 1;
        const char *close = memchr(key + from, '}', klen - from);
        if (close && close > key + from)
            return rcp__crc16(key + from, (size_t)(close - key) - from) & (RCLUSTER_SLOTS - 1);
    }
    return rcp__crc16(key, klen) & (RCLUSTER_SLOTS - 1);
}

/* A decimal port 1-65535 from s[0..n). */
static bool rcp__port(const char *s, size_t n, int *port)
{
    if (n == 0 || n > 5)
        return false;
    int p = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        p = p * 10 + (s[i] - '0');
    }
    if (p < 1 || p > 65535)
        return false;
    *port = p;
    return true;
}

/* "host:port" (the last ':' splits, so IPv6 hosts work) into host and *port. */
static bool rcp__hostport(const char *s, size_t n, char *host, size_t hcap, int *port)
{
    const char *colon = NULL;
    for (size_t i = 0; i < n; i++)
        if (s[i] == ':')
            colon = s + i;
    if (!colon || (size_t)(colon - s) >= hcap ||
        !rcp__port(colon + 1, n - (size_t)(colon - s) - 1, port))
        return false;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    return true;
}

int rcluster_redirect_parse(const char *msg, size_t len, rcluster_redirect *out)
{
    int kind;
    size_t skip;
    if (len > 6 && memcmp(msg, "MOVED ", 6) == 0) {
        kind = RCLUSTER_MOVED;
        skip = 6;
    } else if (len > 4 && memcmp(msg, "ASK ", 4) == 0) {
        kind = RCLUSTER_ASK;
        skip = 4;
    } else {
        return RCLUSTER_NONE;
    }
    int slot = 0;
    size_t i = skip;
    for (; i < len && msg[i] >= '0' && msg[i] <= '9' && slot < RCLUSTER_SLOTS; i++)
        slot = slot * 10 + (msg[i] - '0');
    if (i == skip || i >= len || msg[i] != ' ' || slot >= RCLUSTER_SLOTS)
        return RCLUSTER_NONE;
    rcluster_redirect r;
    r.slot = slot;
    if (!rcp__hostport(msg + i + 1, len - i - 1, r.host, sizeof r.host, &r.port))
        return RCLUSTER_NONE;
    *out = r;
    return kind;
}

/* One node of a range entry, [host, port, id, ...], into host (256 bytes) and
 * *port; an empty host is default_host, "?" (no endpoint) is refused. */
static bool rcp__node(const redisReply *m, const char *default_host, char *host, int *port)
{
    if (m->type != REDIS_REPLY_ARRAY || m->elements < 2 || m->element[0]->type != REDIS_REPLY_STRING ||
        m->element[1]->type != REDIS_REPLY_INTEGER)
        return false;
    long long p = m->element[1]->integer;
    const char *h = m->element[0]->len ? m->element[0]->str : default_host;
    size_t hlen = m->element[0]->len ? m->element[0]->len : strlen(default_host);
    if (p < 1 || p > 65535 || hlen >= 256 || (hlen == 1 && h[0] == '?'))
        return false;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    *port = (int)p;
    return true;
}

/* One range entry: [start, end, [host, port, id, ...], replicas...]. The first
 * usable replica is kept (rport 0: none). */
static bool rcp__range(const redisReply *e, const char *default_host, rcluster_range *out)
{
    if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 ||
        e->element[0]->type != REDIS_REPLY_INTEGER || e->element[1]->type != REDIS_REPLY_INTEGER)
        return false;
    long long a = e->element[0]->integer, b = e->element[1]->integer;
    if (a < 0 || b < a || b >= RCLUSTER_SLOTS ||
        !rcp__node(e->element[2], default_host, out->host, &out->port))
        return false;
    out->start = (int)a;
    out->end = (int)b;
    out->rport = 0;
    for (size_t i = 3; i < e->elements && !out->rport; i++)
        if (!rcp__node(e->element[i], default_host, out->rhost, &out->rport))
            out->rport = 0;
    return true;
}

int rcluster_slots_parse(const redisReply *r, const char *default_host, rcluster_range **out,
                         size_t *n)
{
    if (r->type != REDIS_REPLY_ARRAY)
        return RAGD_EIO;
    rcluster_range *v = xcalloc(r->elements ? r->elements : 1, sizeof *v);
    for (size_t i = 0; i < r->elements; i++) {
        if (!rcp__range(r->element[i], default_host, &v[i])) {
            free(v);
            return RAGD_EIO;
        }
    }
    *out = v;
    *n = r->elements;
    return 0;
}

bool rcluster_url_is_cluster(const char *url)
{
    return strncmp(url, "redis+cluster://", 16) == 0 || strncmp(url, "rediss+cluster://", 17) == 0;
}

/* One seed "host[:port]" or "[v6][:port]" into *out, parsed as redis_url does. */
static bool rcp__seed(const char *s, size_t n, rcluster_range *out)
{
    char url[sizeof out->host + 16];
    if (n == 0 || n + 9 > sizeof url || memchr(s, '@', n))
        return false;
    snprintf(url, sizeof url, "redis://%.*s", (int)n, s);
    redis_url u;
    ragd_error err;
    if (redis_url_parse(url, &u, &err) != 0)
        return false;
    snprintf(out->host, sizeof out->host, "%s", u.host);
    out->port = u.port;
    redis_url_free(&u);
    return true;
}

/* Split the comma-separated seeds of s[0..n) into u->seeds. */
static int rcp__seeds(const char *s, size_t n, rcluster_url *u, ragd_error *err)
{
    size_t count = 1;
    for (size_t i = 0; i < n; i++)
        count += s[i] == ',';
    u->seeds = xcalloc(count, sizeof *u->seeds);
    const char *p = s, *end = s + n;
    while (u->nseeds < count) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *e = comma ? comma : end;
        if (!rcp__seed(p, (size_t)(e - p), &u->seeds[u->nseeds]))
            return ragd_error_set(err, RAGD_EINVAL, "Redis URL: bad host or port \"%.*s\"",
                                  (int)(e - p), p);
        u->nseeds++;
        p = e + 1;
    }
    return 0;
}

int rcluster_url_parse(const char *url, rcluster_url *out, ragd_error *err)
{
    static const char *const schemes[4] = { "redis://", "rediss://", "redis+cluster://",
                                            "rediss+cluster://" };
    int k = 0;
    while (k < 4 && strncmp(url, schemes[k], strlen(schemes[k])) != 0)
        k++;
    if (k == 4)
        return ragd_error_set(err, RAGD_EINVAL,
                              "Redis URL must start with redis://, rediss:// or redis+cluster://");
    const char *p = url + strlen(schemes[k]);
    const char *end = p + strcspn(p, "/?#"), *at = NULL;
    for (const char *q = p; q < end; q++)
        if (*q == '@')
            at = q;
    rcluster_url u = { 0 };
    const char *hosts = at ? at + 1 : p;
    size_t ulen = at ? (size_t)(hosts - p) : 0;
    const char *scheme = k % 2 ? "rediss://" : "redis://";
    u.head = xmalloc(strlen(scheme) + ulen + 1);
    memcpy(u.head, scheme, strlen(scheme));
    memcpy(u.head + strlen(scheme), p, ulen);
    u.head[strlen(scheme) + ulen] = '\0';
    int rc = rcp__seeds(hosts, (size_t)(end - hosts), &u, err);
    size_t dblen = *end == '/' ? strcspn(end + 1, "?#") : 0;
    if (rc == 0 && k >= 2 && dblen && !(dblen == 1 && end[1] == '0'))
        rc = ragd_error_set(err, RAGD_EINVAL, "Redis Cluster has only database 0");
    if (rc) {
        rcluster_url_free(&u);
        return rc;
    }
    *out = u;
    return 0;
}

void rcluster_url_free(rcluster_url *u)
{
    free(u->head);
    free(u->seeds);
    u->head = NULL;
    u->seeds = NULL;
    u->nseeds = 0;
}
