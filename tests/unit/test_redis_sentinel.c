/*
 * test_redis_sentinel.c - Redis Sentinel (src/store/redis_sentinel.c and the
 * pool's resolver hooks in redis_conn.c): redis+sentinel:// URL parsing, and
 * against a real Sentinel set (1 master, 2 replicas, 3 sentinels started with
 * scripts/redis-topology.sh on loopback ports): the master comes from the
 * sentinels, a pool pointed at a replica never writes to it (ROLE check),
 * an unknown master name is refused at open, and after SENTINEL FAILOVER the
 * store follows the new master (+switch-master) with bounded retries.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "store/redis_sentinel.h"
#include "testing.h"
#include "util/clock.h"

TEST(url_forms)
{
    rsent_url u;
    ragd_error err;
    ASSERT_OK(rsent_url_parse("redis+sentinel://10.0.0.1:5000,[::1]:5001,sent.local/mymaster",
                              &u, &err));
    ASSERT_EQ_INT(u.n, 3);
    ASSERT_EQ_STR(u.sentinels[0].host, "10.0.0.1");
    ASSERT_EQ_INT(u.sentinels[0].port, 5000);
    ASSERT_EQ_STR(u.sentinels[1].host, "::1");
    ASSERT_EQ_INT(u.sentinels[1].port, 5001);
    ASSERT_EQ_STR(u.sentinels[2].host, "sent.local");
    ASSERT_EQ_INT(u.sentinels[2].port, RSENT_DEFAULT_PORT);
    ASSERT_EQ_STR(u.master, "mymaster");
    ASSERT_TRUE(!u.data.tls && !u.data.user && !u.data.password);
    ASSERT_EQ_INT(u.data.db, 0);
    rsent_url_free(&u);

    ASSERT_OK(rsent_url_parse("rediss+sentinel://app:p%40ss@h1:1,h2:2/m.1-x/3", &u, &err));
    ASSERT_TRUE(u.data.tls);
    ASSERT_EQ_STR(u.data.user, "app");
    ASSERT_EQ_STR(u.data.password, "p@ss");
    ASSERT_EQ_INT(u.data.db, 3);
    ASSERT_EQ_INT(u.n, 2);
    ASSERT_EQ_STR(u.master, "m.1-x");
    rsent_url_free(&u);

    ASSERT_OK(rsent_url_parse("redis+sentinel://secret@h/m", &u, &err));
    ASSERT_TRUE(!u.data.user);
    ASSERT_EQ_STR(u.data.password, "secret");
    rsent_url_free(&u);
    ASSERT_TRUE(rsent_is_url("redis+sentinel://h/m") && rsent_is_url("rediss+sentinel://h/m"));
    ASSERT_TRUE(!rsent_is_url("redis://h") && !rsent_is_url("sentinel://h/m"));
}

TEST(url_errors)
{
    static const char *const bad[] = {
        "redis://h:1/m",                         /* not a sentinel URL */
        "redis+sentinel://h:1",                  /* no master name */
        "redis+sentinel://h:1/",                 /* empty master name */
        "redis+sentinel:///m",                   /* no sentinel */
        "redis+sentinel://h:1,/m",               /* empty sentinel */
        "redis+sentinel://h:0/m",                /* port out of range */
        "redis+sentinel://h:99999/m",
        "redis+sentinel://h:1/bad name",         /* name characters */
        "redis+sentinel://h:1/m/db",             /* db not a number */
        "redis+sentinel://u:%zz@h:1/m",          /* bad escape */
        "redis+sentinel://[::1/m",               /* unclosed [ */
        "redis+sentinel://a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q/m", /* more than 16 */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rsent_url u;
        ragd_error err = { 0 };
        int rc = rsent_url_parse(bad[i], &u, &err);
        if (rc == 0)
            rsent_url_free(&u);
        ASSERT_EQ_INT(rc, RAGD_EINVAL);
        ASSERT_TRUE(err.msg[0] != '\0');
    }
}

/* ---- a live Sentinel set ---------------------------------------------------- */

static int g_base;         /* topology base port; 0 = not started */
static char g_script[512]; /* scripts/redis-topology.sh */
static char g_dir[128];    /* RAGD_TOPOLOGY_DIR */

static int topology(const char *action)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "RAGD_TOPOLOGY_DIR=%s sh %s sentinel %s %d >/dev/null 2>&1",
             g_dir, g_script, action, g_base);
    return system(cmd);
}

static bool topology_up(void)
{
    snprintf(g_script, sizeof g_script, "%s", __FILE__);
    char *cut = strstr(g_script, "tests/unit/");
    if (!cut)
        return false;
    strcpy(cut, "scripts/redis-topology.sh");
    snprintf(g_dir, sizeof g_dir, "/tmp/ragd-test-sentinel-%d", (int)getpid());
    g_base = 27200 + (int)(getpid() % 300) * 16; /* below the ephemeral ports */
    if (topology("up") != 0) {
        topology("down");
        g_base = 0;
    }
    return g_base != 0;
}

static char *sentinel_url(const char *master)
{
    static char url[256];
    snprintf(url, sizeof url, "redis+sentinel://127.0.0.1:%d,127.0.0.1:%d,127.0.0.1:%d/%s",
             g_base + 10, g_base + 11, g_base + 12, master);
    return url;
}

/* One command on a plain connection to 127.0.0.1:port; the reply is freed. */
static int node_cmd(int port, int argc, const char **argv, redisReply **keep)
{
    rconn_target t = { "127.0.0.1", port, NULL, NULL, 0, NULL, 1000, false };
    rconn *c = NULL;
    char msg[256];
    int rc = rconn_open(&t, &c, msg, sizeof msg);
    if (rc)
        return rc;
    size_t lens[8];
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    rpool_cmd cmd = { argc, argv, lens };
    redisReply *r = NULL;
    rc = rconn_exec(c, 1, &cmd, &r, 5000);
    rconn_close(c);
    if (rc == 0 && r->type == REDIS_REPLY_ERROR)
        rc = RAGD_EIO;
    if (rc == 0 && keep)
        *keep = r;
    else if (r)
        freeReplyObject(r);
    return rc;
}

static bool is_master(int port)
{
    const char *argv[1] = { "ROLE" };
    redisReply *r = NULL;
    if (node_cmd(port, 1, argv, &r) != 0)
        return false;
    bool m = r->type == REDIS_REPLY_ARRAY && r->elements && r->element[0]->str &&
             strcmp(r->element[0]->str, "master") == 0;
    freeReplyObject(r);
    return m;
}

static _Atomic int g_resolve_port;

static int fixed_resolver(void *ud, char *host, size_t cap, int *port)
{
    (void)ud;
    snprintf(host, cap, "127.0.0.1");
    *port = g_resolve_port;
    return 0;
}

static int pool_set(rpool *p, const char *key)
{
    const char *argv[3] = { "SET", key, "v" };
    size_t lens[3] = { 3, strlen(key), 1 };
    rpool_cmd cmd = { 3, argv, lens };
    redisReply *r = NULL;
    int rc = rpool_exec(p, 1, &cmd, &r);
    if (rc == 0) {
        rc = r->type == REDIS_REPLY_ERROR ? RAGD_EIO : 0;
        freeReplyObject(r);
    }
    return rc;
}

TEST(pool_never_writes_to_a_replica)
{
    if (!g_base)
        SKIP("no Sentinel set (redis-server missing?)");
    store_config cfg;
    store_config_default(&cfg);
    redis_url u;
    ragd_error err;
    ASSERT_OK(redis_url_parse("redis://127.0.0.1/0", &u, &err));
    g_resolve_port = g_base + 1; /* a replica */
    rpool_resolver res = { fixed_resolver, NULL, false };
    rpool *p = NULL;
    ASSERT_OK(rpool_create_at(&cfg, &u, &res, &p, &err));
    ASSERT_TRUE(!rpool_available(p));
    ASSERT_EQ_INT(pool_set(p, "never-on-replica"), RAGD_EUNAVAIL);
    g_resolve_port = g_base; /* the master */
    rpool_retarget(p, "127.0.0.1", g_base);
    int rc = RAGD_EUNAVAIL;
    for (int i = 0; i < 100 && rc != 0; i++) {
        rc = pool_set(p, "on-master");
        if (rc)
            clock_sleep_ms(20);
    }
    ASSERT_OK(rc);
    rpool_destroy(p);
}

TEST(unknown_master_name_is_refused)
{
    if (!g_base)
        SKIP("no Sentinel set (redis-server missing?)");
    store_config cfg;
    store_config_default(&cfg);
    cfg.url = sentinel_url("nosuchmaster");
    store_t *s = NULL;
    ragd_error err;
    ASSERT_EQ_INT(store_open(&cfg, &s, &err), RAGD_EINVAL);
    ASSERT_TRUE(strstr(err.msg, "nosuchmaster") != NULL);
}

/* Write through the store with bounded retries; 0 once one write succeeds. */
static int set_retrying(store_t *s, const char *key)
{
    int rc = RAGD_EUNAVAIL;
    for (int i = 0; i < 1000 && rc != 0; i++) {
        rc = store_set(s, key, strlen(key), "v", 1, 0, 0);
        if (rc)
            clock_sleep_ms(20);
    }
    return rc;
}

TEST(store_follows_a_failover)
{
    if (!g_base)
        SKIP("no Sentinel set (redis-server missing?)");
    store_config cfg;
    store_config_default(&cfg);
    cfg.url = sentinel_url("ragd");
    cfg.key_prefix = "sent";
    store_t *s = NULL;
    ragd_error err;
    ASSERT_OK(store_open(&cfg, &s, &err));
    ASSERT_OK(set_retrying(s, "before"));
    ASSERT_TRUE(is_master(g_base));
    const char *argv[3] = { "SENTINEL", "FAILOVER", "ragd" };
    ASSERT_OK(node_cmd(g_base + 10, 3, argv, NULL));
    int master = 0;
    for (int i = 0; i < 1000 && !master; i++) { /* a replica is promoted */
        if (is_master(g_base + 1))
            master = g_base + 1;
        else if (is_master(g_base + 2))
            master = g_base + 2;
        else
            clock_sleep_ms(20);
    }
    ASSERT_TRUE(master != 0);
    /* the store writes to the new master, never to the demoted one */
    int found = 0;
    for (int i = 0; i < 500 && !found; i++) {
        ASSERT_OK(set_retrying(s, "after"));
        const char *ex[2] = { "EXISTS", "sent:after" };
        redisReply *r = NULL;
        if (node_cmd(master, 2, ex, &r) == 0) {
            found = r->type == REDIS_REPLY_INTEGER && r->integer == 1;
            freeReplyObject(r);
        }
        if (!found)
            clock_sleep_ms(20);
    }
    ASSERT_TRUE(found);
    store_stats st;
    ASSERT_OK(store_get_stats(s, &st));
    ASSERT_TRUE(st.available);
    store_close(s);
}

int main(void)
{
    RUN(url_forms);
    RUN(url_errors);
    bool up = topology_up();
    RUN(pool_never_writes_to_a_replica);
    RUN(unknown_master_name_is_refused);
    RUN(store_follows_a_failover);
    if (up) {
        topology("down");
        rmdir(g_dir);
    }
    return TEST_REPORT();
}
