/*
 * test_redis_cluster.c - Redis Cluster support of the Redis backend: the slot
 * function against known values and the server's own CLUSTER KEYSLOT, MOVED/ASK
 * and CLUSTER SLOTS parsing, seed URLs; then, on a real 3-master cluster
 * started here (redis-server --cluster-enabled yes on free loopback ports), the
 * shared store suite's single-slot cases, detection from a redis:// URL,
 * batches across slots refused whole, MOVED and ASK followed while a slot
 * migrates by hand (and while threads write to it), scans and stats over every
 * master, log waits over several slots (one blocking XREAD per slot), and
 * /health's reason when a master dies.
 */
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "store/redis_cluster.h"
#include "store_suite.h"

enum { NODES = 3 };
static int g_port[NODES];
static pid_t g_pid[NODES];
static char g_tmp[128];
static char g_url[256];
static int g_seq;

/* ---- pure parts ---- */

TEST(slot_known_values)
{
    ASSERT_EQ_INT(rcluster_slot(S("123456789")), 12739); /* the spec's CRC16 check value */
    ASSERT_EQ_INT(rcluster_slot(S("foo")), 12182);
    ASSERT_EQ_INT(rcluster_slot(S("bar")), 5061);
    ASSERT_EQ_INT(rcluster_slot(S("{user1000}.following")), rcluster_slot(S("user1000")));
    ASSERT_EQ_INT(rcluster_slot(S("{user1000}.followers")), 3443);
    ASSERT_EQ_INT(rcluster_slot(S("foo{}{bar}")), 8363);     /* empty tag: whole key */
    ASSERT_EQ_INT(rcluster_slot(S("foo{{bar}}zap")), 4015);  /* tag is "{bar" */
    ASSERT_EQ_INT(rcluster_slot(S("foo{bar}{zap}")), 5061);  /* the first tag only */
    ASSERT_EQ_INT(rcluster_slot(S("{bar")), rcluster_slot(S("{bar"))); /* no '}' */
    ASSERT_EQ_INT(rcluster_slot(S("ragd:sess:{u:alice:s1}")),
                  rcluster_slot(S("ragd:sess:{u:alice:s1}:msgs")));
    const char bin[3] = { 'a', '\0', 'b' };
    ASSERT_TRUE(rcluster_slot(bin, 3) != rcluster_slot("a", 1)); /* binary-safe */
}

TEST(redirect_parse)
{
    rcluster_redirect rd = { 0 };
    ASSERT_EQ_INT(rcluster_redirect_parse(S("MOVED 3999 127.0.0.1:6381"), &rd), RCLUSTER_MOVED);
    ASSERT_EQ_INT(rd.slot, 3999);
    ASSERT_EQ_STR(rd.host, "127.0.0.1");
    ASSERT_EQ_INT(rd.port, 6381);
    ASSERT_EQ_INT(rcluster_redirect_parse(S("ASK 16383 ::1:7000"), &rd), RCLUSTER_ASK);
    ASSERT_EQ_INT(rd.slot, 16383);
    ASSERT_EQ_STR(rd.host, "::1");
    ASSERT_EQ_INT(rd.port, 7000);
    ASSERT_EQ_INT(rcluster_redirect_parse(S("MOVED 16384 h:1"), &rd), RCLUSTER_NONE);
    ASSERT_EQ_INT(rcluster_redirect_parse(S("MOVED 12 h:0"), &rd), RCLUSTER_NONE);
    ASSERT_EQ_INT(rcluster_redirect_parse(S("MOVED x h:1"), &rd), RCLUSTER_NONE);
    ASSERT_EQ_INT(rcluster_redirect_parse(S("MOVED 12 nocolon"), &rd), RCLUSTER_NONE);
    ASSERT_EQ_INT(rcluster_redirect_parse(S("ERR unknown"), &rd), RCLUSTER_NONE);
    ASSERT_EQ_INT(rcluster_redirect_parse(S("MOVED"), &rd), RCLUSTER_NONE);
}

/* Parse RESP text into a reply with hiredis' reader. */
static redisReply *resp(const char *text)
{
    redisReader *rd = redisReaderCreate();
    redisReaderFeed(rd, text, strlen(text));
    void *r = NULL;
    if (redisReaderGetReply(rd, &r) != REDIS_OK)
        r = NULL;
    redisReaderFree(rd);
    return r;
}

TEST(slots_parse)
{
    /* Two ranges; the second master's host is empty (an unknown endpoint). */
    redisReply *r = resp("*2\r\n"
                         "*4\r\n:0\r\n:5460\r\n*3\r\n$9\r\n127.0.0.1\r\n:7000\r\n$2\r\nid\r\n"
                         "*3\r\n$9\r\n127.0.0.1\r\n:7003\r\n$2\r\nid\r\n"
                         "*3\r\n:5461\r\n:16383\r\n*2\r\n$0\r\n\r\n:7001\r\n");
    ASSERT_TRUE(r != NULL);
    rcluster_range *v = NULL;
    size_t n = 0;
    ASSERT_OK(rcluster_slots_parse(r, "10.0.0.9", &v, &n));
    ASSERT_EQ_INT(n, 2);
    ASSERT_TRUE(v[0].start == 0 && v[0].end == 5460 && v[0].port == 7000);
    ASSERT_EQ_STR(v[0].host, "127.0.0.1");
    ASSERT_TRUE(v[1].start == 5461 && v[1].end == 16383 && v[1].port == 7001);
    ASSERT_EQ_STR(v[1].host, "10.0.0.9");
    ASSERT_TRUE(v[0].rport == 7003 && strcmp(v[0].rhost, "127.0.0.1") == 0); /* its replica */
    ASSERT_EQ_INT(v[1].rport, 0);                                             /* none */
    free(v);
    freeReplyObject(r);
    r = resp("*1\r\n*3\r\n:9\r\n:3\r\n*2\r\n$1\r\nh\r\n:1\r\n"); /* end before start */
    ASSERT_EQ_INT(rcluster_slots_parse(r, "x", &v, &n), RAGD_EIO);
    freeReplyObject(r);
    r = resp("-ERR This instance has cluster support disabled\r\n");
    ASSERT_EQ_INT(rcluster_slots_parse(r, "x", &v, &n), RAGD_EIO);
    freeReplyObject(r);
}

TEST(url_seeds)
{
    rcluster_url u;
    ragd_error err;
    ASSERT_OK(rcluster_url_parse("redis+cluster://u:p%40ss@h1:7000,[::1]:7001,h3/0", &u, &err));
    ASSERT_EQ_STR(u.head, "redis://u:p%40ss@");
    ASSERT_EQ_INT(u.nseeds, 3);
    ASSERT_TRUE(strcmp(u.seeds[0].host, "h1") == 0 && u.seeds[0].port == 7000);
    ASSERT_TRUE(strcmp(u.seeds[1].host, "::1") == 0 && u.seeds[1].port == 7001);
    ASSERT_TRUE(strcmp(u.seeds[2].host, "h3") == 0 && u.seeds[2].port == 6379);
    rcluster_url_free(&u);
    ASSERT_OK(rcluster_url_parse("rediss+cluster://h:1", &u, &err));
    ASSERT_EQ_STR(u.head, "rediss://");
    rcluster_url_free(&u);
    ASSERT_TRUE(rcluster_url_is_cluster("redis+cluster://h"));
    ASSERT_TRUE(!rcluster_url_is_cluster("redis://h"));
    ASSERT_EQ_INT(rcluster_url_parse("redis+cluster://h:1/2", &u, &err), RAGD_EINVAL);
    ASSERT_EQ_INT(rcluster_url_parse("redis+cluster://h:1,,h:2", &u, &err), RAGD_EINVAL);
    ASSERT_EQ_INT(rcluster_url_parse("redis+cluster://h:99999", &u, &err), RAGD_EINVAL);
    ASSERT_EQ_INT(rcluster_url_parse("http://h", &u, &err), RAGD_EINVAL);
}

/* ---- a real cluster ---- */

/* Can port be bound on loopback now? */
static bool port_free(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    bool ok = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

/* A free port whose cluster bus port (port + 10000) is free too, both below
 * the ephemeral range (32768 and up by default), where an outgoing connection
 * may take either before the node binds it. */
#define CLUSTER_PORT_LOW 11000
#define CLUSTER_PORT_HIGH 22700
static int free_port(void)
{
    static unsigned seed;
    if (!seed)
        seed = (unsigned)getpid() ^ (unsigned)time(NULL);
    for (;;) {
        int p = CLUSTER_PORT_LOW + (int)(rand_r(&seed) % (CLUSTER_PORT_HIGH - CLUSTER_PORT_LOW));
        if (port_free(p) && port_free(p + 10000))
            return p;
    }
}

/* The lowest port of the kernel's ephemeral range (32768 when unreadable). */
static int ephemeral_low(void)
{
    int low = 32768, high;
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
    if (f) {
        if (fscanf(f, "%d %d", &low, &high) != 2)
            low = 32768;
        fclose(f);
    }
    return low;
}

TEST(node_and_bus_ports_below_the_ephemeral_range)
{
    int low = ephemeral_low();
    for (int i = 0; i < 50; i++) {
        int p = free_port();
        ASSERT_TRUE(p > 1024 && p + 10000 < low);
    }
}

/* Run redis-cli -p port <args> and return its first output line in out. */
static int cli(int port, const char *args, char *out, size_t n)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "redis-cli -p %d %s 2>/dev/null", port, args);
    FILE *f = popen(cmd, "r");
    if (!f)
        return -1;
    char line[512] = "";
    if (!fgets(line, sizeof line, f))
        line[0] = '\0';
    while (fgetc(f) != EOF) {
    }
    int st = pclose(f);
    line[strcspn(line, "\r\n")] = '\0';
    if (out)
        snprintf(out, n, "%s", line);
    return st;
}

static pid_t node_start(int port)
{
    char portstr[16], conf[256], dir[200];
    snprintf(portstr, sizeof portstr, "%d", port);
    snprintf(dir, sizeof dir, "%s/%d", g_tmp, port);
    snprintf(conf, sizeof conf, "nodes-%d.conf", port);
    mkdir(dir, 0700);
    pid_t pid = fork();
    if (pid == 0) {
        if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr))
            _exit(127);
        execlp("redis-server", "redis-server", "--port", portstr, "--bind", "127.0.0.1", "--save",
               "", "--appendonly", "no", "--dir", dir, "--cluster-enabled", "yes",
               "--cluster-config-file", conf, "--cluster-node-timeout", "2000", (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 200; i++) {
        char pong[16];
        if (cli(port, "ping", pong, sizeof pong) == 0 && strcmp(pong, "PONG") == 0)
            return pid;
        clock_sleep_ms(25);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return 0;
}

static bool cluster_ok(int port)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "redis-cli -p %d cluster info | grep -q cluster_state:ok", port);
    return system(cmd) == 0;
}

/* Three masters, slots 0-5460, 5461-10922, 10923-16383 in port order. */
static bool cluster_start(void)
{
    char cmd[512];
    int k = snprintf(cmd, sizeof cmd, "redis-cli --cluster create");
    for (int i = 0; i < NODES; i++) {
        g_port[i] = free_port();
        g_pid[i] = node_start(g_port[i]);
        if (g_pid[i] <= 0)
            return false;
        k += snprintf(cmd + k, sizeof cmd - (size_t)k, " 127.0.0.1:%d", g_port[i]);
    }
    snprintf(cmd + k, sizeof cmd - (size_t)k, " --cluster-yes >/dev/null 2>&1");
    if (system(cmd) != 0)
        return false;
    for (int i = 0; i < 400; i++) {
        bool ok = true;
        for (int j = 0; j < NODES; j++)
            ok = ok && cluster_ok(g_port[j]);
        if (ok)
            return true;
        clock_sleep_ms(25);
    }
    return false;
}

static void cluster_stop(void)
{
    for (int i = 0; i < NODES; i++) {
        if (g_pid[i] > 0) {
            kill(g_pid[i], SIGKILL);
            waitpid(g_pid[i], NULL, 0);
            g_pid[i] = 0;
        }
    }
}

static store_t *open_url(const char *url, const char *prefix)
{
    store_config cfg;
    store_config_default(&cfg);
    cfg.url = url;
    cfg.key_prefix = prefix;
    cfg.command_timeout_ms = 2000;
    cfg.connect_timeout_ms = 2000;
    store_t *s = NULL;
    ragd_error err;
    ragd_error_clear(&err);
    if (store_open(&cfg, &s, &err) != 0)
        fprintf(stderr, "store_open(%s): %s\n", url, err.msg);
    return s;
}

static store_t *suite_open(void)
{
    char prefix[32];
    snprintf(prefix, sizeof prefix, "c%d_%d", (int)getpid(), ++g_seq);
    store_t *s = open_url(g_url, prefix);
    if (!s)
        abort();
    return s;
}

static void suite_close(store_t *s)
{
    uint64_t n;
    store_del_pattern(s, "*", &n);
    store_close(s);
}

/* The index of the node that serves slot (slots are split in port order). */
static int owner_of(unsigned slot)
{
    return slot <= 5460 ? 0 : slot <= 10922 ? 1 : 2;
}

TEST(slot_matches_server)
{
    const char *keys[] = { "foo", "ragd:llm:{gpt-4o:ab12}", "{a}b", "a{}b", "x{y}{z}", "{{t}}" };
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        char args[128], out[32];
        snprintf(args, sizeof args, "cluster keyslot '%s'", keys[i]);
        ASSERT_EQ_INT(cli(g_port[0], args, out, sizeof out), 0);
        ASSERT_EQ_INT(atoi(out), rcluster_slot(keys[i], strlen(keys[i])));
    }
}

/* Keys in every slot range work through both URL forms; nothing was moved
 * since the map was read at open. */
TEST(routes_every_key)
{
    char url[256];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", g_port[1]); /* detected */
    store_t *s = open_url(url, "det");
    ASSERT_TRUE(s != NULL);
    int per_node[NODES] = { 0 };
    for (int i = 0; i < 60; i++) {
        char k[32];
        snprintf(k, sizeof k, "k%d", i);
        ASSERT_OK(store_set(s, k, strlen(k), k, strlen(k), 0, 0));
        char full[40];
        snprintf(full, sizeof full, "det:%s", k);
        per_node[owner_of(rcluster_slot(full, strlen(full)))]++;
    }
    for (int i = 0; i < 60; i++) {
        char k[32];
        snprintf(k, sizeof k, "k%d", i);
        store_value v;
        ASSERT_OK(store_get(s, k, strlen(k), &v));
        ASSERT_TRUE(v.len == strlen(k) && memcmp(v.data, k, v.len) == 0);
        store_value_free(&v);
    }
    ASSERT_TRUE(per_node[0] > 0 && per_node[1] > 0 && per_node[2] > 0);
    store_stats st;
    ASSERT_OK(store_get_stats(s, &st));
    ASSERT_EQ_INT(st.keys, 60); /* counted over all three masters */
    ASSERT_EQ_INT(st.moved, 0);
    ASSERT_TRUE(st.available);
    uint64_t n = 0;
    ASSERT_OK(store_del_pattern(s, "k*", &n)); /* deleted on all three masters */
    ASSERT_EQ_INT(n, 60);
    store_close(s);
}

TEST(batch_across_slots_refused_but_a_log_may_follow)
{
    store_t *s = suite_open();
    store_op split[2] = { { S("a"), S("1"), 0, 0 }, { S("b"), S("2"), 0, 0 } };
    ASSERT_EQ_INT(store_batch(s, split, 2), RAGD_EINVAL);
    ASSERT_EQ_INT(store_exists(s, S("a")), RAGD_ENOTFOUND);
    ASSERT_EQ_INT(store_exists(s, S("b")), RAGD_ENOTFOUND);
    store_op tagged[3] = { { S("x:{t}:1"), S("1"), 0, 0 }, { S("x:{t}:2"), S("2"), 0, 0 },
                           { S("x:{t}:3"), NULL, 0, 0, 0 } };
    ASSERT_OK(store_batch(s, tagged, 3));
    ASSERT_OK(store_exists(s, S("x:{t}:2")));
    uint64_t seq = 0;
    ASSERT_OK(store_batch_log(s, tagged, 2, "x:{t}:log", S("rec"), &seq)); /* log in the slot */
    ASSERT_EQ_INT(seq, 1);
    /* a log in another slot: the writes first (atomically), then the record */
    ASSERT_OK(store_del(s, S("x:{t}:1")));
    ASSERT_OK(store_batch_log(s, tagged, 2, "other", S("rec"), &seq));
    ASSERT_EQ_INT(seq, 1);
    ASSERT_OK(store_exists(s, S("x:{t}:1")));
    uint64_t first = 0, last = 0;
    ASSERT_OK(store_log_bounds(s, "other", &first, &last));
    ASSERT_EQ_INT(last, 1);
    /* writes and checks must still share a slot */
    ASSERT_EQ_INT(store_batch_log(s, split, 2, "other", S("rec"), &seq), RAGD_EINVAL);
    ASSERT_OK(store_log_delete(s, "x:{t}:log"));
    ASSERT_OK(store_log_delete(s, "other"));
    suite_close(s);
}

/* Move slot by hand from node a to node b, keys included (the steps
 * redis-cli --cluster reshard takes). With finish false, the slot is left
 * half-way: MIGRATING on a, IMPORTING on b, no key moved. */
static int move_slot(unsigned slot, int a, int b, bool finish)
{
    char ida[64], idb[64], args[256];
    if (cli(g_port[a], "cluster myid", ida, sizeof ida) || cli(g_port[b], "cluster myid", idb, sizeof idb))
        return -1;
    snprintf(args, sizeof args, "cluster setslot %u importing %s", slot, ida);
    cli(g_port[b], args, NULL, 0);
    snprintf(args, sizeof args, "cluster setslot %u migrating %s", slot, idb);
    cli(g_port[a], args, NULL, 0);
    if (!finish)
        return 0;
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "for k in $(redis-cli -p %d cluster getkeysinslot %u 1000); do "
             "redis-cli -p %d migrate 127.0.0.1 %d \"$k\" 0 5000 >/dev/null; done",
             g_port[a], slot, g_port[a], g_port[b]);
    if (system(cmd) != 0)
        return -1;
    /* The new owner first, then the old, then the rest (the order of the
     * CLUSTER SETSLOT documentation): told first, the old owner would answer
     * MOVED to b while b, still importing, answers MOVED back to a. */
    snprintf(args, sizeof args, "cluster setslot %u node %s", slot, idb);
    cli(g_port[b], args, NULL, 0);
    cli(g_port[a], args, NULL, 0);
    for (int i = 0; i < NODES; i++)
        if (i != a && i != b)
            cli(g_port[i], args, NULL, 0);
    return 0;
}

TEST(moved_and_ask_followed)
{
    store_t *s = open_url(g_url, "mv");
    ASSERT_TRUE(s != NULL);
    ASSERT_OK(store_set(s, S("{m}:a"), S("before"), 0, 0));
    unsigned slot = rcluster_slot(S("mv:{m}:a"));
    int a = owner_of(slot), b = (a + 1) % NODES;
    /* half-way: a key already on a is served by a; a new key gets ASK */
    ASSERT_OK(move_slot(slot, a, b, false));
    ASSERT_OK(store_set(s, S("{m}:new"), S("asked"), 0, 0));
    store_stats st;
    ASSERT_OK(store_get_stats(s, &st));
    ASSERT_TRUE(st.ask >= 1);
    store_value v;
    ASSERT_OK(store_get(s, S("{m}:a"), &v));
    ASSERT_TRUE(v.len == 6 && memcmp(v.data, "before", 6) == 0);
    store_value_free(&v);
    /* the rest of the move: the store learns from MOVED and keeps going */
    ASSERT_OK(move_slot(slot, a, b, true));
    ASSERT_OK(store_get(s, S("{m}:a"), &v));
    ASSERT_TRUE(v.len == 6 && memcmp(v.data, "before", 6) == 0);
    store_value_free(&v);
    ASSERT_OK(store_get(s, S("{m}:new"), &v));
    ASSERT_TRUE(v.len == 5 && memcmp(v.data, "asked", 5) == 0);
    store_value_free(&v);
    int64_t n = 0;
    ASSERT_OK(store_incr(s, S("{m}:n"), 5, 0, &n)); /* a script, routed the same way */
    ASSERT_EQ_INT(n, 5);
    ASSERT_OK(store_get_stats(s, &st));
    ASSERT_TRUE(st.moved >= 1);
    /* and back, so later cases see the original layout */
    ASSERT_OK(move_slot(slot, b, a, true));
    ASSERT_OK(store_get(s, S("{m}:n"), &v));
    ASSERT_TRUE(v.len == 1 && v.data && ((char *)v.data)[0] == '5');
    store_value_free(&v);
    suite_close(s);
}

typedef struct mover_arg {
    store_t *s;
    int id;
    _Atomic bool *stop;
    int64_t acked, failed;
} mover_arg;

/* Increment the thread's own counter (slot of {w}) until told to stop,
 * counting the increments acknowledged and those that failed. */
static void *mover_worker(void *p)
{
    mover_arg *a = p;
    char key[32];
    int klen = snprintf(key, sizeof key, "{w}:n%d", a->id);
    while (!atomic_load(a->stop)) {
        int64_t v;
        if (store_incr(a->s, key, (size_t)klen, 1, 0, &v) == 0)
            a->acked++;
        else
            a->failed++;
    }
    return NULL;
}

/* Threads write while their slot moves to another master and back: the slot
 * map changes under readers (MOVED, ASK, refreshes), nothing fails and every
 * acknowledged increment is counted (run under ThreadSanitizer too). */
TEST(slot_moves_under_concurrent_writers)
{
    enum { T = 4 };
    store_t *s = open_url(g_url, "mw");
    ASSERT_TRUE(s != NULL);
    unsigned slot = rcluster_slot(S("mw:{w}:n0"));
    int a = owner_of(slot), b = (a + 1) % NODES;
    _Atomic bool stop = false;
    mover_arg args[T];
    pthread_t th[T];
    for (int i = 0; i < T; i++) {
        args[i] = (mover_arg){ s, i, &stop, 0, 0 };
        ASSERT_EQ_INT(pthread_create(&th[i], NULL, mover_worker, &args[i]), 0);
    }
    clock_sleep_ms(100);
    int moved = move_slot(slot, a, b, true);
    clock_sleep_ms(100);
    int back = move_slot(slot, b, a, true);
    clock_sleep_ms(100);
    atomic_store(&stop, true);
    for (int i = 0; i < T; i++)
        pthread_join(th[i], NULL);
    ASSERT_OK(moved);
    ASSERT_OK(back);
    for (int i = 0; i < T; i++) {
        char key[32];
        int klen = snprintf(key, sizeof key, "{w}:n%d", i);
        store_value v;
        ASSERT_EQ_INT(args[i].failed, 0);
        ASSERT_TRUE(args[i].acked > 0);
        ASSERT_OK(store_get(s, key, (size_t)klen, &v));
        char num[32] = "";
        memcpy(num, v.data, v.len < sizeof num - 1 ? v.len : sizeof num - 1);
        ASSERT_EQ_INT(strtoll(num, NULL, 10), args[i].acked);
        store_value_free(&v);
    }
    store_stats st;
    ASSERT_OK(store_get_stats(s, &st));
    ASSERT_TRUE(st.moved >= 1);
    suite_close(s);
}

/* Last: one master dies; its slots have no master (no replicas here). */
TEST(master_down_shows)
{
    store_t *s = open_url(g_url, "hd");
    ASSERT_TRUE(s != NULL);
    char reason[256];
    ASSERT_OK(store_health(s, reason, sizeof reason));
    ASSERT_EQ_STR(reason, "");
    kill(g_pid[2], SIGKILL);
    waitpid(g_pid[2], NULL, 0);
    g_pid[2] = 0;
    ASSERT_OK(store_health(s, reason, sizeof reason)); /* the others still answer */
    ASSERT_TRUE(strstr(reason, "unreachable") || strstr(reason, "cluster_state"));
    store_stats st;
    ASSERT_OK(store_get_stats(s, &st));
    ASSERT_TRUE(!st.available);
    const char *k = "{x}"; /* slot 16287: the dead master's */
    ASSERT_TRUE(rcluster_slot(S("hd:{x}")) > 10922);
    ASSERT_EQ_INT(store_set(s, k, strlen(k), "v", 1, 0, 0), RAGD_EUNAVAIL);
    store_close(s);
}

/* Calls of XREAD the masters have served so far (INFO commandstats). */
static long xread_calls(void)
{
    long sum = 0;
    for (int i = 0; i < NODES; i++) {
        char line[256];
        cli(g_port[i], "info commandstats | grep cmdstat_xread:", line, sizeof line);
        const char *c = strstr(line, "calls=");
        sum += c ? atol(c + 6) : 0;
    }
    return sum;
}

/* What a wait over three logs delivered: per log index, the records. */
typedef struct lwait {
    store_t *s;
    const char *const *logs;
    uint64_t after[3];
    int timeout_ms, rc, n[3];
    char rec[3][16];
} lwait;

static int lwait_cb(void *ud, size_t idx, uint64_t seq, const void *rec, size_t len)
{
    lwait *w = ud;
    (void)seq;
    if (idx < 3 && w->n[idx]++ == 0)
        snprintf(w->rec[idx], sizeof w->rec[idx], "%.*s", (int)len, (const char *)rec);
    return 0;
}

static void *lwait_main(void *p)
{
    lwait *w = p;
    w->rc = store_log_wait(w->s, w->logs, w->after, 3, w->timeout_ms, lwait_cb, w);
    return NULL;
}

/* A waiter on the three logs woken by an append to log i (its timeout is long:
 * it was woken, not timed out) gets that record and nothing else. */
static void lwait_woken_by(store_t *s, const char *const *logs, const uint64_t *after, int i,
                           const char *rec)
{
    lwait w = { .s = s, .logs = logs, .after = { after[0], after[1], after[2] },
                .timeout_ms = 30000, .rc = -1 };
    pthread_t th;
    ASSERT_EQ_INT(pthread_create(&th, NULL, lwait_main, &w), 0);
    clock_sleep_ms(50);
    uint64_t seq;
    ASSERT_OK(store_log_append(s, logs[i], rec, strlen(rec), &seq));
    pthread_join(th, NULL);
    ASSERT_OK(w.rc);
    for (int k = 0; k < 3; k++)
        ASSERT_EQ_INT(w.n[k], k == i ? 1 : 0);
    ASSERT_EQ_STR(w.rec[i], rec);
}

/* store_log_wait over logs in three slots (one per master) blocks in one XREAD
 * per slot instead of reading every log each few ms: a wait that times out
 * costs three XREADs in all; records present in two slots come in one call,
 * each under its caller's index; the reads released early stay in step (the
 * next waits deliver exactly what is appended, nothing twice or stale). */
TEST(log_wait_blocks_per_slot)
{
    static char names[3][16];
    const char *logs[3];
    for (int node = 0, t = 0; node < 3; t++) { /* a hash tag on each master */
        snprintf(names[node], sizeof names[node], "lw{t%d}", t);
        char tag[8];
        int tl = snprintf(tag, sizeof tag, "t%d", t);
        if (owner_of(rcluster_slot(tag, (size_t)tl)) == node) {
            logs[node] = names[node];
            node++;
        }
    }
    store_t *s = suite_open();
    long before = xread_calls();
    lwait w = { .s = s, .logs = logs, .timeout_ms = 300, .rc = -1 };
    lwait_main(&w);
    ASSERT_OK(w.rc);
    ASSERT_TRUE(w.n[0] == 0 && w.n[1] == 0 && w.n[2] == 0);
    long xreads = xread_calls() - before;
    ASSERT_TRUE(xreads >= 1 && xreads <= 3);
    uint64_t seq;
    ASSERT_OK(store_log_append(s, logs[0], S("a1"), &seq));
    ASSERT_OK(store_log_append(s, logs[2], S("c1"), &seq));
    w = (lwait){ .s = s, .logs = logs, .timeout_ms = 30000, .rc = -1 };
    lwait_main(&w);
    ASSERT_OK(w.rc);
    ASSERT_TRUE(w.n[0] == 1 && w.n[1] == 0 && w.n[2] == 1);
    ASSERT_EQ_STR(w.rec[0], "a1");
    ASSERT_EQ_STR(w.rec[2], "c1");
    w = (lwait){ .s = s, .logs = logs, .after = { 1, 0, 1 }, .timeout_ms = 100, .rc = -1 };
    lwait_main(&w);
    ASSERT_OK(w.rc);
    ASSERT_TRUE(w.n[0] == 0 && w.n[1] == 0 && w.n[2] == 0);
    uint64_t after[3] = { 1, 0, 1 };
    lwait_woken_by(s, logs, after, 1, "b1");
    after[1] = 1;
    lwait_woken_by(s, logs, after, 0, "a2");
    after[0] = 2;
    lwait_woken_by(s, logs, after, 2, "c2");
    for (int i = 0; i < 3; i++)
        ASSERT_OK(store_log_delete(s, logs[i]));
    suite_close(s);
}

static void cluster_suite(void)
{
    RUN(slot_matches_server);
    store_suite_run_any_slot();
    RUN(routes_every_key);
    RUN(batch_across_slots_refused_but_a_log_may_follow);
    RUN(moved_and_ask_followed);
    RUN(slot_moves_under_concurrent_writers);
    RUN(suite_log_wait);
    RUN(log_wait_blocks_per_slot);
    RUN(master_down_shows);
}

int main(void)
{
    RUN(slot_known_values);
    RUN(redirect_parse);
    RUN(slots_parse);
    RUN(url_seeds);
    RUN(node_and_bus_ports_below_the_ephemeral_range);
    snprintf(g_tmp, sizeof g_tmp, "/tmp/ragd_test_cluster_XXXXXX");
    if (!mkdtemp(g_tmp))
        return 1;
    if (cluster_start()) {
        snprintf(g_url, sizeof g_url, "redis+cluster://127.0.0.1:%d,127.0.0.1:%d", g_port[0],
                 g_port[2]);
        fprintf(stderr, "-- cluster (%s)\n", g_url);
        cluster_suite();
    } else {
        fprintf(stderr, "cannot start a Redis Cluster\n");
        t__failed++;
    }
    cluster_stop();
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmp);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", g_tmp);
    return TEST_REPORT();
}
