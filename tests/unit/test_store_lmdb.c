/*
 * test_store_lmdb.c - the shared store suite on the LMDB backend, plus what only
 * the embedded store has: the active sweeper, eviction of STORE_EVICTABLE entries
 * under a byte budget, durability across reopen and across kill -9 for every
 * fsync policy, a full map, and the glob matcher behind del_pattern.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store/store_int.h"
#include "store_suite.h"
#include "util/hash.h"

static char g_dir[256];

static void rm_rf(const char *dir)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
}

static void fresh_dir(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/ragd_test_lmdb_XXXXXX");
    if (!mkdtemp(g_dir))
        abort();
}

static store_t *open_cfg(store_config *cfg)
{
    store_t *s = NULL;
    ragd_error err;
    cfg->data_dir = g_dir;
    if (store_open(cfg, &s, &err) != 0) {
        fprintf(stderr, "store_open: %s\n", err.msg);
        abort();
    }
    return s;
}

static store_t *suite_open(void)
{
    fresh_dir();
    store_config cfg;
    store_config_default(&cfg);
    cfg.sweep_interval_ms = 50;
    cfg.map_size = 64ull << 20;
    return open_cfg(&cfg);
}

static void suite_close(store_t *s)
{
    store_close(s);
    rm_rf(g_dir);
}

TEST(glob_match)
{
#define M(p, s) store__glob_match(p, strlen(p), s, strlen(s))
    ASSERT_TRUE(M("*", ""));
    ASSERT_TRUE(M("*", "abc"));
    ASSERT_TRUE(M("a*c", "abbbc"));
    ASSERT_TRUE(!M("a*c", "abbb"));
    ASSERT_TRUE(M("a?c", "abc"));
    ASSERT_TRUE(!M("a?c", "ac"));
    ASSERT_TRUE(M("[abc]x", "bx"));
    ASSERT_TRUE(!M("[^abc]x", "bx"));
    ASSERT_TRUE(M("[a-c]*", "cat"));
    ASSERT_TRUE(!M("[a-c]*", "dog"));
    ASSERT_TRUE(M("a\\*b", "a*b"));
    ASSERT_TRUE(!M("a\\*b", "axb"));
    ASSERT_TRUE(M("*:*:*", "llm:gpt:abc"));
    ASSERT_TRUE(M("course_*:*", "course_curriculum:1"));
#undef M
    char lit[32];
    ASSERT_EQ_INT(store__glob_literal_prefix("ragd:a\\*b*", 10, lit), 8);
    ASSERT_TRUE(memcmp(lit, "ragd:a*b", 8) == 0);
    char esc[32];
    ASSERT_EQ_INT(store__glob_escape("a*[", 3, esc), 5);
    ASSERT_TRUE(memcmp(esc, "a\\*\\[", 5) == 0);
    int64_t v;
    ASSERT_TRUE(store__parse_i64("-9223372036854775808", 20, &v) && v == INT64_MIN);
    ASSERT_TRUE(!store__parse_i64("9223372036854775808", 19, &v));
    ASSERT_TRUE(!store__parse_i64("01", 2, &v) && !store__parse_i64("-0", 2, &v));
}

TEST(lmdb_lazy_and_sweeper)
{
    /* without a sweeper, an expired entry reads as missing but is still stored */
    fresh_dir();
    store_config cfg;
    store_config_default(&cfg);
    cfg.sweep_interval_ms = -1;
    store_t *s = open_cfg(&cfg);
    ASSERT_OK(store_set(s, S("lazy"), S("v"), 30, 0));
    ASSERT_EQ_INT(suite_wait_gone(s, "lazy"), RAGD_ENOTFOUND);
    store_stats st;
    ASSERT_OK(store_get_stats(s, &st));
    ASSERT_EQ_INT(st.keys, 1);
    ASSERT_EQ_INT(st.expired, 0);
    store_close(s);
    /* with one, it is deleted: reopen the same data with a 20 ms sweep */
    cfg.sweep_interval_ms = 20;
    s = open_cfg(&cfg);
    for (int i = 0; i < 300; i++) {
        char k[16];
        snprintf(k, sizeof k, "e:%d", i);
        ASSERT_OK(store_set(s, k, strlen(k), "v", 1, 40, 0));
    }
    ASSERT_OK(store_set(s, S("keep"), S("v"), 0, 0));
    int64_t end = clock_mono_us() + 10 * 1000000;
    do {
        ASSERT_OK(store_get_stats(s, &st));
        if (st.keys == 1)
            break;
        clock_sleep_ms(10);
    } while (clock_mono_us() < end);
    ASSERT_EQ_INT(st.keys, 1);
    ASSERT_EQ_INT(st.expired, 301);
    ASSERT_OK(store_exists(s, S("keep")));
    suite_close(s);
}

static void hashed_key(char *out, size_t cap, const char *kind, int i)
{
    char buf[32], hex[65];
    snprintf(buf, sizeof buf, "%s%d", kind, i);
    hash_sha256_hex(buf, strlen(buf), hex);
    snprintf(out, cap, "%s:%.16s", kind, hex);
}

TEST(lmdb_eviction)
{
    fresh_dir();
    store_config cfg;
    store_config_default(&cfg);
    cfg.max_bytes = 128 * 1024; /* about 120 cache entries of 1 KiB */
    store_t *s = open_cfg(&cfg);
    char val[1000], k[64];
    memset(val, 'v', sizeof val);
    for (int i = 0; i < 50; i++) { /* documents and sessions: never evicted */
        hashed_key(k, sizeof k, "doc", i);
        ASSERT_OK(store_set(s, k, strlen(k), val, sizeof val, 0, 0));
    }
    for (int i = 0; i < 100; i++) {
        hashed_key(k, sizeof k, "cold", i);
        ASSERT_OK(store_set(s, k, strlen(k), val, sizeof val, 0, STORE_EVICTABLE));
    }
    for (int i = 0; i < 200; i++) { /* new entries while 20 hot ones keep being read */
        hashed_key(k, sizeof k, "new", i);
        ASSERT_OK(store_set(s, k, strlen(k), val, sizeof val, 0, STORE_EVICTABLE));
        for (int h = 0; h < 20; h++) {
            store_value v;
            hashed_key(k, sizeof k, "cold", h);
            if (store_get(s, k, strlen(k), &v) == 0)
                store_value_free(&v);
        }
    }
    store_stats st;
    ASSERT_OK(store_get_stats(s, &st));
    ASSERT_TRUE(st.evictions >= 150);
    ASSERT_EQ_INT(st.max_bytes, cfg.max_bytes);
    for (int i = 0; i < 50; i++) {
        hashed_key(k, sizeof k, "doc", i);
        ASSERT_OK(store_exists(s, k, strlen(k)));
    }
    int hot = 0, cold = 0, total = 0;
    for (int i = 0; i < 100; i++) {
        hashed_key(k, sizeof k, "cold", i);
        int live = store_exists(s, k, strlen(k)) == 0;
        hot += i < 20 && live;
        cold += i >= 20 && live;
        total += live;
    }
    for (int i = 0; i < 200; i++) {
        hashed_key(k, sizeof k, "new", i);
        total += store_exists(s, k, strlen(k)) == 0;
    }
    /* the budget holds, and reads protected the hot entries (approximate LRU) */
    ASSERT_TRUE((uint64_t)total * (1000 + 24 + 21) <= cfg.max_bytes);
    ASSERT_TRUE(hot >= 15);
    ASSERT_TRUE(cold <= 8);
    /* a single entry larger than the whole budget is refused */
    char *huge = calloc(1, cfg.max_bytes);
    ASSERT_EQ_INT(store_set(s, S("huge"), huge, cfg.max_bytes, 0, STORE_EVICTABLE),
                  RAGD_ETOOBIG);
    free(huge);
    suite_close(s);
}

TEST(lmdb_reopen)
{
    fresh_dir();
    store_config cfg;
    store_config_default(&cfg);
    store_t *s = open_cfg(&cfg);
    ASSERT_OK(store_set(s, S("durable"), S("yes"), 0, 0));
    ASSERT_OK(store_set(s, S("ttl"), S("yes"), 600000, STORE_EVICTABLE));
    uint64_t seq;
    ASSERT_OK(store_log_append(s, "l", S("rec"), &seq));
    store_stats before;
    ASSERT_OK(store_get_stats(s, &before));
    store_close(s);
    s = open_cfg(&cfg);
    store_value v;
    ASSERT_OK(store_get(s, S("durable"), &v));
    ASSERT_TRUE(v.len == 3 && memcmp(v.data, "yes", 3) == 0);
    store_value_free(&v);
    int64_t ttl;
    ASSERT_OK(store_ttl(s, S("ttl"), &ttl));
    ASSERT_TRUE(ttl > 0 && ttl <= 600000);
    ASSERT_OK(store_log_append(s, "l", S("rec2"), &seq));
    ASSERT_EQ_INT(seq, 2);
    store_stats after;
    ASSERT_OK(store_get_stats(s, &after));
    ASSERT_EQ_INT(after.bytes_used, before.bytes_used); /* accounting is persistent */
    suite_close(s);
}

/* Child: write keys, acknowledging each on the pipe once store_set returned. */
static void kill_child(int fd, int policy)
{
    store_config cfg;
    store_config_default(&cfg);
    cfg.data_dir = g_dir;
    cfg.fsync_policy = policy;
    store_t *s;
    if (store_open(&cfg, &s, NULL) != 0)
        _exit(2);
    for (uint32_t i = 0;; i++) {
        char k[32];
        snprintf(k, sizeof k, "ack:%u", i);
        if (store_set(s, k, strlen(k), k, strlen(k), 0, 0) != 0)
            _exit(3);
        if (write(fd, &i, sizeof i) != sizeof i)
            _exit(4);
    }
}

static void kill9_policy(int policy)
{
    fresh_dir();
    int p[2];
    ASSERT_OK(pipe(p));
    pid_t pid = fork();
    ASSERT_TRUE(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        kill_child(p[1], policy);
    }
    close(p[1]);
    uint32_t acked = 0, got = 0, i;
    while (got < 300 && read(p[0], &i, sizeof i) == sizeof i) {
        acked = i + 1;
        got++;
    }
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    while (read(p[0], &i, sizeof i) == sizeof i) /* acks sent before the kill */
        acked = i + 1;
    close(p[0]);
    ASSERT_TRUE(WIFSIGNALED(status));
    ASSERT_TRUE(acked >= 300);
    store_config cfg;
    store_config_default(&cfg);
    store_t *s = open_cfg(&cfg);
    for (uint32_t k = 0; k < acked; k++) {
        char key[32];
        snprintf(key, sizeof key, "ack:%u", k);
        store_value v;
        int rc = store_get(s, key, strlen(key), &v);
        if (rc != 0)
            fprintf(stderr, "  policy %d: acknowledged key %s lost\n", policy, key);
        ASSERT_OK(rc);
        ASSERT_TRUE(v.len == strlen(key) && memcmp(v.data, key, v.len) == 0);
        store_value_free(&v);
    }
    ASSERT_OK(store_set(s, S("after"), S("crash"), 0, 0)); /* still writable */
    suite_close(s);
}

TEST(lmdb_kill9_always) { kill9_policy(STORE_FSYNC_ALWAYS); }
TEST(lmdb_kill9_everysec) { kill9_policy(STORE_FSYNC_EVERYSEC); }
TEST(lmdb_kill9_no) { kill9_policy(STORE_FSYNC_NO); }

TEST(lmdb_map_full)
{
    fresh_dir();
    store_config cfg;
    store_config_default(&cfg);
    cfg.map_size = 1 << 20;
    store_t *s = open_cfg(&cfg);
    char val[4096];
    memset(val, 'x', sizeof val);
    int rc = 0, i;
    for (i = 0; i < 1000 && rc == 0; i++) {
        char k[16];
        snprintf(k, sizeof k, "f:%d", i);
        rc = store_set(s, k, strlen(k), val, sizeof val, 0, 0);
    }
    ASSERT_EQ_INT(rc, RAGD_EFULL);
    ASSERT_OK(store_exists(s, S("f:0"))); /* earlier data intact */
    /* deleting frees the space (LMDB reuses pages freed two commits back) */
    uint64_t n;
    ASSERT_OK(store_del_pattern(s, "f:1*", &n));
    ASSERT_TRUE(n > 0);
    ASSERT_OK(store_del_pattern(s, "f:*", &n));
    ASSERT_TRUE(n > 0);
    ASSERT_OK(store_set(s, S("f:again"), val, sizeof val, 0, 0));
    suite_close(s);
}

/* A fresh store whose map starts at map and may grow to max. */
static store_t *open_map(uint64_t map, uint64_t max)
{
    fresh_dir();
    store_config cfg;
    store_config_default(&cfg);
    cfg.map_size = map;
    cfg.map_max = max;
    return open_cfg(&cfg);
}

/* Fill a map of fixed size (no room to grow) with small entries: deleting single
 * keys, a prefix and everything must still work (issue 13 item 16). */
static void fill_small(store_t *s, int *count)
{
    char val[100];
    memset(val, 'x', sizeof val);
    int rc = 0, i;
    for (i = 0; rc == 0 && i < 1000000; i++) {
        char k[32];
        snprintf(k, sizeof k, "f:%06d", i);
        rc = store_set(s, k, strlen(k), val, sizeof val, 0, 0);
    }
    ASSERT_EQ_INT(rc, RAGD_EFULL);
    *count = i - 1;
}

TEST(lmdb_full_deletes_work)
{
    store_t *s = open_map(1 << 20, 1 << 20);
    int count;
    fill_small(s, &count);
    for (int j = 0; j < 20; j++) {
        char k[32];
        snprintf(k, sizeof k, "f:%06d", j * 97);
        ASSERT_OK(store_del(s, k, strlen(k)));
    }
    uint64_t n;
    ASSERT_OK(store_del_pattern(s, "f:001*", &n));
    ASSERT_TRUE(n > 0);
    ASSERT_OK(store_del_pattern(s, "*", &n));
    ASSERT_TRUE(n > 0);
    ASSERT_OK(store_set(s, S("f:again"), "v", 1, 0, 0));
    suite_close(s);
}

/* A map allowed to grow doubles when it fills, up to map_max; the store is
 * then full at the maximum, and its stats say so. */
TEST(lmdb_map_grows)
{
    store_t *s = open_map(1 << 20, 4 << 20);
    int count;
    fill_small(s, &count);
    ASSERT_TRUE(count > 3 * 5000); /* a 1 MiB map holds about 5,000 */
    store_stats st;
    ASSERT_OK(store_get_stats(s, &st));
    ASSERT_EQ_INT(st.map_bytes, 4 << 20);
    ASSERT_TRUE(st.full);
    ASSERT_OK(store_exists(s, S("f:000000")));
    ASSERT_OK(store_del(s, S("f:000001")));
    suite_close(s);
}

/* A full filesystem (a 2 MiB tmpfs; needs root to mount): writes fail with
 * RAGD_EFULL (not an I/O error), the store reports itself full, deleting frees
 * space and the next write that fits clears the state (issue 13 item 17). */
static void disk_full_body(void)
{
    store_config cfg;
    store_config_default(&cfg);
    cfg.map_size = 64ull << 20;
    cfg.fsync_policy = STORE_FSYNC_ALWAYS;
    store_t *s = open_cfg(&cfg);
    char val[4096];
    memset(val, 'x', sizeof val);
    int rc = 0, i;
    for (i = 0; rc == 0 && i < 10000; i++) {
        char k[32];
        snprintf(k, sizeof k, "d:%06d", i);
        rc = store_set(s, k, strlen(k), val, sizeof val, 0, 0);
    }
    store_stats st, st2;
    uint64_t n1 = 0, n2 = 0;
    int rs = store_get_stats(s, &st);
    int rd1 = store_del(s, S("d:000000"));
    int rd2 = store_del_pattern(s, "d:*", &n1);
    int rs2 = store_set(s, S("d:after"), val, sizeof val, 0, 0);
    int rd3 = store_del_pattern(s, "d:*", &n2); /* the reserve is back: again */
    int rs3 = store_get_stats(s, &st2);
    store_close(s); /* before any ASSERT returns: the tmpfs must be unmounted */
    ASSERT_EQ_INT(rc, RAGD_EFULL);
    ASSERT_OK(rs);
    ASSERT_OK(rd1);
    ASSERT_OK(rd2);
    ASSERT_TRUE(n1 > 0);
    ASSERT_OK(rs2);
    ASSERT_OK(rd3);
    ASSERT_EQ_INT(n2, 1);
    ASSERT_OK(rs3);
    ASSERT_TRUE(st.full);
    ASSERT_EQ_INT(st.map_bytes, 64ull << 20); /* a full disk does not grow the map */
    ASSERT_TRUE(!st2.full);
}

/* The disk filled by someone else: LMDB has no slack of its own, and a delete
 * runs on the reserve file the store gives up. */
static void disk_filled_body(void)
{
    store_config cfg;
    store_config_default(&cfg);
    cfg.map_size = 64ull << 20;
    cfg.fsync_policy = STORE_FSYNC_ALWAYS;
    store_t *s = open_cfg(&cfg);
    char val[4096], path[300];
    memset(val, 'x', sizeof val);
    int rc = 0;
    for (int i = 0; rc == 0 && i < 40; i++) {
        char k[32];
        snprintf(k, sizeof k, "d:%06d", i);
        rc = store_set(s, k, strlen(k), val, sizeof val, 0, 0);
    }
    snprintf(path, sizeof path, "%s/filler", g_dir);
    FILE *f = fopen(path, "wb");
    while (f && fwrite(val, 1, sizeof val, f) == sizeof val && fflush(f) == 0)
        ;
    if (f)
        fclose(f);
    int rs = store_set(s, S("d:more"), val, sizeof val, 0, 0);
    int rd = store_del(s, S("d:000007"));
    int rx = store_exists(s, S("d:000007"));
    store_close(s);
    ASSERT_OK(rc);
    ASSERT_EQ_INT(rs, RAGD_EFULL);
    ASSERT_OK(rd);
    ASSERT_EQ_INT(rx, RAGD_ENOTFOUND);
}

static void on_tmpfs(const char *name, void (*body)(void))
{
    fresh_dir();
    if (mount("tmpfs", g_dir, "tmpfs", 0, "size=2m") != 0) {
        printf("skip %s: cannot mount a tmpfs (%s)\n", name, strerror(errno));
        rm_rf(g_dir);
        return;
    }
    body();
    ASSERT_EQ_INT(umount(g_dir), 0);
    rm_rf(g_dir);
}

TEST(lmdb_disk_full) { on_tmpfs("lmdb_disk_full", disk_full_body); }
TEST(lmdb_disk_filled) { on_tmpfs("lmdb_disk_filled", disk_filled_body); }

TEST(lmdb_bad_config)
{
    store_config cfg;
    store_config_default(&cfg);
    store_t *s = NULL;
    ragd_error err;
    ASSERT_EQ_INT(store_open(&cfg, &s, &err), RAGD_EINVAL); /* no data_dir */
    cfg.data_dir = "/proc/ragd-cannot-create";
    ASSERT_TRUE(store_open(&cfg, &s, &err) != 0);
    cfg.data_dir = "/tmp";
    cfg.key_prefix = "bad prefix";
    ASSERT_EQ_INT(store_open(&cfg, &s, &err), RAGD_EINVAL);
    cfg.key_prefix = "ok";
    cfg.url = "http://example";
    ASSERT_EQ_INT(store_open(&cfg, &s, &err), RAGD_EINVAL);
    ASSERT_TRUE(s == NULL);
}

/* A second process on the same data directory is refused while the first
 * lives (flock on ragd.lock), and allowed once it is gone, even by SIGKILL. */
TEST(lmdb_second_process_refused)
{
    fresh_dir();
    int p[2];
    ASSERT_OK(pipe(p));
    pid_t pid = fork();
    ASSERT_TRUE(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        store_config cfg;
        store_config_default(&cfg);
        cfg.data_dir = g_dir;
        store_t *s = NULL;
        char ok = store_open(&cfg, &s, NULL) == 0 ? 'y' : 'n';
        if (write(p[1], &ok, 1) != 1)
            _exit(3);
        for (;;)
            pause();
    }
    close(p[1]);
    char ok = 0;
    ASSERT_TRUE(read(p[0], &ok, 1) == 1);
    close(p[0]);
    ASSERT_TRUE(ok == 'y');
    store_config cfg;
    store_config_default(&cfg);
    cfg.data_dir = g_dir;
    store_t *s = NULL;
    ragd_error err = { 0 };
    ASSERT_EQ_INT(store_open(&cfg, &s, &err), RAGD_EEXISTS);
    ASSERT_TRUE(s == NULL && strstr(err.msg, "another ragd process") != NULL);
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    ASSERT_OK(store_open(&cfg, &s, &err));
    store_close(s);
}

TEST(lmdb_prefix_in_keys)
{
    /* keys carry the global prefix inside the store; callers never see it */
    fresh_dir();
    store_config cfg;
    store_config_default(&cfg);
    cfg.key_prefix = "pfx";
    store_t *s = open_cfg(&cfg);
    ASSERT_OK(store_set(s, S("a"), S("1"), 0, 0));
    scan_acc a = { 0 };
    ASSERT_OK(store_scan(s, NULL, 0, false, scan_cb, &a));
    ASSERT_EQ_STR(a.seen, "a,");
    store_t *twice = NULL;
    ragd_error err;
    ASSERT_EQ_INT(store_open(&cfg, &twice, &err), RAGD_EEXISTS); /* one env per process */
    store_close(s);
    cfg.key_prefix = "other";
    s = open_cfg(&cfg);
    ASSERT_EQ_INT(store_exists(s, S("a")), RAGD_ENOTFOUND);
    suite_close(s);
}

typedef struct stress_arg {
    store_t *s;
    unsigned seed;
    int fails;
} stress_arg;

static void *stress_worker(void *p)
{
    stress_arg *a = p;
    char k[32], val[700];
    memset(val, 'z', sizeof val);
    for (int i = 0; i < 3000; i++) {
        unsigned r = rand_r(&a->seed);
        snprintf(k, sizeof k, "%s:%u", r % 3 ? "c" : "d", r % 400);
        int rc = 0;
        store_value v;
        int64_t out;
        switch (r % 7) {
        case 0: case 1:
            rc = store_set(a->s, k, strlen(k), val, r % sizeof val, 0,
                           k[0] == 'c' ? STORE_EVICTABLE : 0);
            break;
        case 2: case 3:
            rc = store_get(a->s, k, strlen(k), &v);
            if (rc == 0)
                store_value_free(&v);
            break;
        case 4:
            rc = store_del(a->s, k, strlen(k));
            break;
        case 5:
            snprintf(k, sizeof k, "n:%u", r % 10);
            rc = store_incr(a->s, k, strlen(k), 1, 0, &out);
            break;
        default:
            rc = store_exists(a->s, k, strlen(k));
        }
        a->fails += rc != 0 && rc != RAGD_ENOTFOUND;
    }
    return NULL;
}

static int sum_cb(void *ud, const char *key, size_t klen, const void *val, size_t vlen)
{
    (void)key, (void)val;
    *(uint64_t *)ud += 5 /* "ragd:" */ + klen + 24 + vlen;
    return 0;
}

TEST(lmdb_stress_accounting)
{
    /* readers, writers and eviction at once; afterwards the persistent byte
     * accounting must equal what is really stored */
    fresh_dir();
    store_config cfg;
    store_config_default(&cfg);
    cfg.max_bytes = 64 * 1024;
    cfg.sweep_interval_ms = -1;
    store_t *s = open_cfg(&cfg);
    enum { T = 4 };
    pthread_t th[T];
    stress_arg args[T];
    for (int i = 0; i < T; i++) {
        args[i] = (stress_arg){ s, 1234u + (unsigned)i, 0 };
        pthread_create(&th[i], NULL, stress_worker, &args[i]);
    }
    for (int i = 0; i < T; i++) {
        pthread_join(th[i], NULL);
        ASSERT_EQ_INT(args[i].fails, 0);
    }
    store_stats st;
    ASSERT_OK(store_get_stats(s, &st));
    uint64_t sum = 0;
    ASSERT_OK(store_scan(s, NULL, 0, true, sum_cb, &sum));
    ASSERT_EQ_INT(st.bytes_used, sum);
    ASSERT_TRUE(st.evictions > 0);
    store_close(s);
    s = open_cfg(&cfg); /* and it is the same after a reopen */
    store_stats st2;
    ASSERT_OK(store_get_stats(s, &st2));
    ASSERT_EQ_INT(st2.bytes_used, sum);
    suite_close(s);
}

int main(void)
{
    RUN(glob_match);
    store_suite_run();
    RUN(lmdb_lazy_and_sweeper);
    RUN(lmdb_eviction);
    RUN(lmdb_reopen);
    RUN(lmdb_kill9_always);
    RUN(lmdb_kill9_everysec);
    RUN(lmdb_kill9_no);
    RUN(lmdb_map_full);
    RUN(lmdb_full_deletes_work);
    RUN(lmdb_map_grows);
    RUN(lmdb_disk_full);
    RUN(lmdb_disk_filled);
    RUN(lmdb_bad_config);
    RUN(lmdb_second_process_refused);
    RUN(lmdb_prefix_in_keys);
    RUN(lmdb_stress_accounting);
    return TEST_REPORT();
}
