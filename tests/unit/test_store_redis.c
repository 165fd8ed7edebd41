/*
 * test_store_redis.c - the shared store suite on the Redis backend (plain TCP
 * and TLS), plus what only Redis has: URL parsing, AUTH with a password and an
 * ACL user, SELECT, prefix isolation between two stores on one server, OOM, and
 * the server going away and coming back while the store stays open. Uses
 * RAGD_TEST_REDIS_URL when set (scripts/test.sh), and starts its own
 * redis-server processes on free loopback ports for the rest.
 */
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store/redis_conn.h"
#include "store_suite.h"

static char g_url[256];
static const char *g_ca;   /* CA file for rediss:// runs */
static const char *g_cert; /* client certificate and key for rediss:// runs */
static const char *g_key;
static char g_tmp[128];
static int g_timeout_ms = 2000; /* connect and command timeouts of test stores */
static int g_seq;

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        abort();
    close(fd);
    return ntohs(a.sin_port);
}

static bool port_open(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    bool ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

/* Start redis-server on port with extra arguments (NULL-terminated); 0 if it
 * did not come up. */
static pid_t redis_start(int port, const char *const *extra)
{
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%d", port);
    const char *argv[40] = { "redis-server", "--port", portstr, "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no", "--dir", g_tmp };
    int n = 11;
    for (int i = 0; extra && extra[i] && n < 38; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    pid_t pid = fork();
    if (pid == 0) {
        if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr))
            _exit(127);
        execvp("redis-server", (char *const *)argv);
        _exit(127);
    }
    int listen_port = port;
    for (int i = 0; extra && extra[i]; i++)
        if (strcmp(extra[i], "--tls-port") == 0)
            listen_port = atoi(extra[i + 1]);
    for (int i = 0; i < 200; i++) {
        if (port_open(listen_port))
            return pid;
        if (waitpid(pid, NULL, WNOHANG) == pid)
            return 0;
        clock_sleep_ms(25);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return 0;
}

static void redis_stop(pid_t pid)
{
    if (pid > 0) {
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
    }
}

static store_t *open_url(const char *url, const char *prefix, int *rc_out)
{
    store_config cfg;
    store_config_default(&cfg);
    cfg.url = url;
    cfg.key_prefix = prefix;
    cfg.tls_ca_file = g_ca;
    cfg.tls_cert_file = g_cert;
    cfg.tls_key_file = g_key;
    cfg.command_timeout_ms = g_timeout_ms;
    cfg.connect_timeout_ms = g_timeout_ms;
    store_t *s = NULL;
    ragd_error err;
    ragd_error_clear(&err);
    int rc = store_open(&cfg, &s, &err);
    if (rc_out)
        *rc_out = rc;
    else if (rc)
        fprintf(stderr, "store_open(%s): %s\n", url, err.msg);
    return s;
}

static store_t *suite_open(void)
{
    char prefix[32];
    snprintf(prefix, sizeof prefix, "t%d_%d", (int)getpid(), ++g_seq);
    store_t *s = open_url(g_url, prefix, NULL);
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

TEST(url_parse)
{
    redis_url u;
    ragd_error err;
    ASSERT_OK(redis_url_parse("redis://localhost", &u, &err));
    ASSERT_EQ_STR(u.host, "localhost");
    ASSERT_EQ_INT(u.port, 6379);
    ASSERT_EQ_INT(u.db, 0);
    ASSERT_TRUE(!u.tls && !u.user && !u.password);
    redis_url_free(&u);
    ASSERT_OK(redis_url_parse("rediss://app:p%40ss@10.0.0.1:6380/3", &u, &err));
    ASSERT_TRUE(u.tls);
    ASSERT_EQ_STR(u.user, "app");
    ASSERT_EQ_STR(u.password, "p@ss");
    ASSERT_EQ_INT(u.port, 6380);
    ASSERT_EQ_INT(u.db, 3);
    redis_url_free(&u);
    ASSERT_OK(redis_url_parse("redis://:secret@[::1]:7000/0", &u, &err));
    ASSERT_EQ_STR(u.host, "::1");
    ASSERT_TRUE(u.user == NULL);
    ASSERT_EQ_STR(u.password, "secret");
    redis_url_free(&u);
    ASSERT_EQ_INT(redis_url_parse("redis://h:0", &u, &err), RAGD_EINVAL);
    ASSERT_EQ_INT(redis_url_parse("redis://h:99999", &u, &err), RAGD_EINVAL);
    ASSERT_EQ_INT(redis_url_parse("redis://h:12/x", &u, &err), RAGD_EINVAL);
    ASSERT_EQ_INT(redis_url_parse("redis://:pw%zz@h", &u, &err), RAGD_EINVAL);
    ASSERT_EQ_INT(redis_url_parse("redis://", &u, &err), RAGD_EINVAL);
    ASSERT_EQ_INT(redis_url_parse("http://h", &u, &err), RAGD_EINVAL);
}

TEST(prefix_isolation)
{
    store_t *a = open_url(g_url, "iso_a", NULL), *b = open_url(g_url, "iso_b", NULL);
    ASSERT_TRUE(a && b);
    uint64_t n;
    ASSERT_OK(store_del_pattern(a, "*", &n)); /* leftovers of an interrupted run */
    ASSERT_OK(store_del_pattern(b, "*", &n));
    ASSERT_OK(store_set(a, S("same"), S("from a"), 0, 0));
    ASSERT_OK(store_set(b, S("same"), S("from b"), 0, 0));
    ASSERT_OK(store_set(a, S("only_a"), S("x"), 0, 0));
    store_value v;
    ASSERT_OK(store_get(b, S("same"), &v));
    ASSERT_TRUE(v.len == 6 && memcmp(v.data, "from b", 6) == 0);
    store_value_free(&v);
    ASSERT_EQ_INT(store_exists(b, S("only_a")), RAGD_ENOTFOUND);
    scan_acc sa = { 0 };
    ASSERT_OK(store_scan(b, NULL, 0, false, scan_cb, &sa));
    ASSERT_EQ_STR(sa.seen, "same,");
    ASSERT_OK(store_del_pattern(a, "*", &n));
    ASSERT_EQ_INT(n, 2);
    ASSERT_OK(store_exists(b, S("same")));
    ASSERT_OK(store_del_pattern(b, "*", &n));
    ASSERT_EQ_INT(n, 1);
    store_close(a);
    store_close(b);
}

TEST(select_db)
{
    /* the same prefix on two databases of one server: separate key spaces */
    char url5[300];
    const char *slash = strrchr(g_url, '/');
    ASSERT_TRUE(slash && slash > g_url + 9);
    snprintf(url5, sizeof url5, "%.*s/5", (int)(slash - g_url), g_url);
    store_t *d0 = open_url(g_url, "seldb", NULL), *d5 = open_url(url5, "seldb", NULL);
    ASSERT_TRUE(d0 && d5);
    ASSERT_OK(store_set(d5, S("k"), S("in five"), 0, 0));
    ASSERT_EQ_INT(store_exists(d0, S("k")), RAGD_ENOTFOUND);
    ASSERT_OK(store_exists(d5, S("k")));
    ASSERT_OK(store_del(d5, S("k")));
    store_close(d0);
    store_close(d5);
}

TEST(auth_password_and_acl)
{
    int port = free_port();
    const char *extra[] = { "--requirepass", "s3cret", "--user", "app", "on", ">app-pass",
                            "~*", "&*", "+@all", NULL };
    pid_t pid = redis_start(port, extra);
    ASSERT_TRUE(pid > 0);
    char url[128];
    int rc;
    snprintf(url, sizeof url, "redis://:s3cret@127.0.0.1:%d/0", port);
    store_t *s = open_url(url, "auth", &rc);
    ASSERT_OK(rc);
    ASSERT_OK(store_set(s, S("k"), S("v"), 0, 0));
    store_close(s);
    snprintf(url, sizeof url, "redis://app:app-pass@127.0.0.1:%d/0", port);
    s = open_url(url, "auth", &rc);
    ASSERT_OK(rc);
    ASSERT_OK(store_exists(s, S("k")));
    store_close(s);
    snprintf(url, sizeof url, "redis://app:wrong@127.0.0.1:%d/0", port);
    s = open_url(url, "auth", &rc);
    ASSERT_EQ_INT(rc, RAGD_EINVAL);
    ASSERT_TRUE(s == NULL);
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/0", port); /* no password at all */
    s = open_url(url, "auth", &rc);
    ASSERT_EQ_INT(rc, RAGD_EINVAL);
    redis_stop(pid);
}

TEST(down_and_back)
{
    int port = free_port();
    pid_t pid = redis_start(port, NULL);
    ASSERT_TRUE(pid > 0);
    char url[128];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/0", port);
    store_t *s = open_url(url, "down", NULL);
    ASSERT_TRUE(s != NULL);
    ASSERT_OK(store_set(s, S("k"), S("v"), 0, 0));
    redis_stop(pid);
    store_value v;
    ASSERT_EQ_INT(store_get(s, S("k"), &v), RAGD_EUNAVAIL);
    ASSERT_EQ_INT(store_ping(s), RAGD_EUNAVAIL);
    for (int i = 0; i < 100; i++) /* known down: every call fails without waiting */
        ASSERT_EQ_INT(store_set(s, S("k"), S("v"), 0, 0), RAGD_EUNAVAIL);
    store_stats st;
    ASSERT_OK(store_get_stats(s, &st));
    ASSERT_TRUE(!st.available);
    ASSERT_TRUE(st.errors > 0);
    pid = redis_start(port, NULL); /* same port: the store finds it by itself */
    ASSERT_TRUE(pid > 0);
    int64_t end = clock_mono_us() + 10 * 1000000;
    while (store_ping(s) != 0 && clock_mono_us() < end)
        clock_sleep_ms(20);
    ASSERT_OK(store_ping(s));
    ASSERT_OK(store_set(s, S("k2"), S("back"), 0, 0));
    ASSERT_OK(store_get(s, S("k2"), &v));
    store_value_free(&v);
    ASSERT_OK(store_get_stats(s, &st));
    ASSERT_TRUE(st.available);
    ASSERT_TRUE(st.reconnects >= 1);
    store_close(s);
    redis_stop(pid);
}

TEST(hung_server_times_out)
{
    int port = free_port();
    pid_t pid = redis_start(port, NULL);
    ASSERT_TRUE(pid > 0);
    char url[128];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/0", port);
    g_timeout_ms = 300;
    store_t *s = open_url(url, "hung", NULL);
    g_timeout_ms = 2000;
    ASSERT_TRUE(s != NULL);
    ASSERT_OK(store_set(s, S("k"), S("v"), 0, 0));
    kill(pid, SIGSTOP); /* accepts connections (kernel backlog) but never answers */
    store_value v;
    ASSERT_EQ_INT(store_get(s, S("k"), &v), RAGD_EUNAVAIL);
    ASSERT_EQ_INT(store_ping(s), RAGD_EUNAVAIL);
    store_stats st;
    ASSERT_OK(store_get_stats(s, &st));
    ASSERT_TRUE(!st.available);
    kill(pid, SIGCONT);
    int64_t end = clock_mono_us() + 10 * 1000000;
    while (store_ping(s) != 0 && clock_mono_us() < end)
        clock_sleep_ms(20);
    ASSERT_OK(store_ping(s));
    ASSERT_OK(store_get(s, S("k"), &v));
    store_value_free(&v);
    store_close(s);
    redis_stop(pid);
}

TEST(open_while_down)
{
    int port = free_port();
    char url[128];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/0", port);
    int rc;
    store_t *s = open_url(url, "late", &rc);
    ASSERT_OK(rc); /* opens anyway */
    ASSERT_EQ_INT(store_ping(s), RAGD_EUNAVAIL);
    store_stats st;
    ASSERT_OK(store_get_stats(s, &st));
    ASSERT_TRUE(!st.available);
    pid_t pid = redis_start(port, NULL);
    ASSERT_TRUE(pid > 0);
    int64_t end = clock_mono_us() + 10 * 1000000;
    while (store_ping(s) != 0 && clock_mono_us() < end)
        clock_sleep_ms(20);
    ASSERT_OK(store_ping(s));
    ASSERT_OK(store_set(s, S("k"), S("v"), 0, 0));
    store_close(s);
    redis_stop(pid);
}

TEST(oom_is_full)
{
    int port = free_port();
    const char *extra[] = { "--maxmemory", "3mb", "--maxmemory-policy", "noeviction", NULL };
    pid_t pid = redis_start(port, extra);
    ASSERT_TRUE(pid > 0);
    char url[128];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/0", port);
    store_t *s = open_url(url, "oom", NULL);
    ASSERT_TRUE(s != NULL);
    char *val = calloc(1, 100000);
    int rc = 0;
    for (int i = 0; i < 200 && rc == 0; i++) {
        char k[16];
        snprintf(k, sizeof k, "big:%d", i);
        rc = store_set(s, k, strlen(k), val, 100000, 0, STORE_EVICTABLE);
    }
    free(val);
    ASSERT_EQ_INT(rc, RAGD_EFULL);
    store_stats st;
    ASSERT_OK(store_get_stats(s, &st));
    ASSERT_EQ_INT(st.max_bytes, 3 * 1024 * 1024);
    ASSERT_TRUE(st.keys > 0);
    /* the failure shows: counted as oom, and the store refuses writes with
     * Redis' text until a write succeeds again (deletes work under OOM) */
    ASSERT_EQ_INT(st.errors_by_kind[STORE_ERRK_OOM], 1);
    char why[200];
    ASSERT_TRUE(store_refusing_writes(s, why, sizeof why));
    ASSERT_TRUE(strncmp(why, "OOM ", 4) == 0);
    uint64_t deleted = 0;
    ASSERT_OK(store_del_pattern(s, "big:*", &deleted));
    ASSERT_TRUE(deleted > 0);
    ASSERT_OK(store_set(s, "small", 5, "v", 1, 0, 0));
    ASSERT_TRUE(!store_refusing_writes(s, why, sizeof why));
    store_close(s);
    redis_stop(pid);
}

/* Make a self-signed certificate for 127.0.0.1 in g_tmp; false if openssl fails. */
static bool make_cert(const char *name)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
             "-keyout %s/%s.key -out %s/%s.crt -days 1 -subj /CN=localhost "
             "-addext subjectAltName=IP:127.0.0.1,DNS:localhost >/dev/null 2>&1",
             g_tmp, name, g_tmp, name);
    return system(cmd) == 0;
}

static void run_tls(void)
{
    char crt[256], key[256], other[256], tport[16];
    if (!make_cert("srv") || !make_cert("other")) {
        fprintf(stderr, "note: openssl could not make a certificate; TLS not tested\n");
        return;
    }
    snprintf(crt, sizeof crt, "%s/srv.crt", g_tmp);
    snprintf(key, sizeof key, "%s/srv.key", g_tmp);
    snprintf(other, sizeof other, "%s/other.crt", g_tmp);
    int port = free_port();
    snprintf(tport, sizeof tport, "%d", port);
    const char *extra[] = { "--tls-port", tport, "--tls-cert-file", crt, "--tls-key-file", key,
                            "--tls-ca-cert-file", crt, "--tls-auth-clients", "yes", NULL };
    pid_t pid = redis_start(0, extra);
    if (pid <= 0) {
        fprintf(stderr, "note: this redis-server has no TLS support; rediss:// not tested\n");
        return;
    }
    char saved[256];
    snprintf(saved, sizeof saved, "%s", g_url);
    snprintf(g_url, sizeof g_url, "rediss://127.0.0.1:%d/0", port);
    g_ca = other; /* a server certificate we do not trust: refused at open */
    g_cert = crt;
    g_key = key;
    int rc;
    store_t *s = open_url(g_url, "tls", &rc);
    if (rc != RAGD_EINVAL || s != NULL)
        fprintf(stderr, "  untrusted TLS certificate accepted (rc %d)\n", rc);
    t__failed += rc != RAGD_EINVAL;
    g_ca = crt;
    g_cert = NULL; /* the server requires a client certificate: no service without */
    s = open_url(g_url, "tls", &rc);
    if (rc == 0 && store_ping(s) == 0) {
        fprintf(stderr, "  TLS server answered a client without a certificate\n");
        t__failed++;
    }
    store_close(s);
    g_cert = crt;
    fprintf(stderr, "-- suite over TLS (%s)\n", g_url);
    store_suite_run();
    RUN(prefix_isolation);
    snprintf(g_url, sizeof g_url, "%s", saved);
    g_ca = g_cert = g_key = NULL;
    redis_stop(pid);
}

int main(void)
{
    snprintf(g_tmp, sizeof g_tmp, "/tmp/ragd_test_redis_XXXXXX");
    if (!mkdtemp(g_tmp))
        return 1;
    const char *env = getenv("RAGD_TEST_REDIS_URL");
    pid_t own = 0;
    if (env && *env) {
        snprintf(g_url, sizeof g_url, "%s", env);
    } else {
        int port = free_port();
        own = redis_start(port, NULL);
        if (own <= 0) {
            fprintf(stderr, "cannot start redis-server\n");
            return 1;
        }
        snprintf(g_url, sizeof g_url, "redis://127.0.0.1:%d/0", port);
    }
    fprintf(stderr, "-- suite over TCP (%s)\n", g_url);
    RUN(url_parse);
    store_suite_run();
    RUN(prefix_isolation);
    RUN(select_db);
    RUN(auth_password_and_acl);
    RUN(down_and_back);
    RUN(hung_server_times_out);
    RUN(open_while_down);
    RUN(oom_is_full);
    run_tls();
    redis_stop(own);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmp);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", g_tmp);
    return TEST_REPORT();
}
