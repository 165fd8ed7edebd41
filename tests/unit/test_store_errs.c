/*
 * test_store_errs.c - store failures that show (src/store/store_errs.c): the
 * classification of Redis error replies, the counts per kind, the refusal
 * state /health reports, and WAIT on writes (redis_wait_replicas) against a
 * server with no replica: the write answers RAGD_ENOTDURABLE and is counted,
 * while it stays on the master. Needs RAGD_TEST_REDIS_URL (scripts/test.sh)
 * for the live part. (OOM from a real server: test_store_redis.c, oom_is_full,
 * on a server of its own, since the shared one serves other tests meanwhile.)
 */
#include <stdlib.h>

#include "store/store_int.h"
#include "testing.h"

TEST(classify_redis_errors)
{
    static const struct {
        const char *text;
        int kind;
    } cases[] = {
        { "READONLY You can't write against a read only replica.", STORE_ERRK_READONLY },
        { "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
          STORE_ERRK_MASTERDOWN },
        { "OOM command not allowed when used memory > 'maxmemory'.", STORE_ERRK_OOM },
        { "MOVED 3999 127.0.0.1:6381", STORE_ERRK_MOVED },
        { "ASK 3999 127.0.0.1:6381", STORE_ERRK_MOVED },
        { "CLUSTERDOWN The cluster is down", STORE_ERRK_MOVED },
        { "CROSSSLOT Keys in request don't hash to the same slot", STORE_ERRK_MOVED },
        { "TRYAGAIN Multiple keys request during rehashing of slot", STORE_ERRK_MOVED },
        { "LOADING Redis is loading the dataset in memory", STORE_ERRK_UNAVAILABLE },
        { "BUSY Redis is busy running a script.", STORE_ERRK_UNAVAILABLE },
        { "NOAUTH Authentication required.", STORE_ERRK_UNAVAILABLE },
        { "WRONGTYPE Operation against a key holding the wrong kind of value", STORE_ERRK_OTHER },
        { "ERR unknown command", STORE_ERRK_OTHER },
        { "OOMPH not a prefix match", STORE_ERRK_OTHER },
        { "ASKING", STORE_ERRK_OTHER },
        { "", STORE_ERRK_OTHER },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        ASSERT_EQ_INT(store__err_classify(cases[i].text, strlen(cases[i].text)), cases[i].kind);
}

TEST(kind_names_are_stable)
{
    ASSERT_EQ_STR(store_err_kind_name(STORE_ERRK_UNAVAILABLE), "unavailable");
    ASSERT_EQ_STR(store_err_kind_name(STORE_ERRK_READONLY), "readonly");
    ASSERT_EQ_STR(store_err_kind_name(STORE_ERRK_OOM), "oom");
    ASSERT_EQ_STR(store_err_kind_name(STORE_ERRK_NOT_DURABLE), "not_durable");
    ASSERT_EQ_STR(store_err_kind_name(STORE_ERRK_OTHER), "other");
    ASSERT_EQ_STR(store_err_kind_name(STORE_ERRK_N), "?");
    ASSERT_EQ_STR(store_err_kind_name(-1), "?");
}

/* Notes without a backend: misses, conflicts and bad input are not errors; a
 * failure code is counted by its kind; a refusal clears on a good write. */
TEST(note_counts_and_refusal)
{
    store_errs e;
    store__errs_init(&e);
    ASSERT_EQ_INT(store__note(&e, RAGD_ENOTFOUND, false), RAGD_ENOTFOUND);
    ASSERT_EQ_INT(store__note(&e, RAGD_ECONFLICT, true), RAGD_ECONFLICT);
    ASSERT_EQ_INT(store__note(&e, RAGD_EEXISTS, true), RAGD_EEXISTS);
    ASSERT_EQ_INT(store__note(&e, RAGD_EINVAL, true), RAGD_EINVAL);
    store__note(&e, RAGD_EUNAVAIL, false);
    store__note(&e, RAGD_ETIMEOUT, false);
    store__note(&e, RAGD_EFULL, true);
    store__note(&e, RAGD_ENOTDURABLE, true);
    const char *ro = "READONLY You can't write against a read only replica.";
    store__err_detail(store__err_classify(ro, strlen(ro)), ro, strlen(ro));
    store__note(&e, RAGD_EUNAVAIL, true);
    uint64_t by[STORE_ERRK_N], total;
    store__errs_counts(&e, by, &total);
    ASSERT_EQ_INT(total, 5);
    ASSERT_EQ_INT(by[STORE_ERRK_UNAVAILABLE], 1);
    ASSERT_EQ_INT(by[STORE_ERRK_TIMEOUT], 1);
    ASSERT_EQ_INT(by[STORE_ERRK_FULL], 1);
    ASSERT_EQ_INT(by[STORE_ERRK_NOT_DURABLE], 1);
    ASSERT_EQ_INT(by[STORE_ERRK_READONLY], 1);
    char why[200];
    ASSERT_TRUE(store__errs_refusing(&e, why, sizeof why));
    ASSERT_EQ_STR(why, ro);
    store__note(&e, 0, false); /* a read does not end it */
    ASSERT_TRUE(store__errs_refusing(&e, NULL, 0));
    store__note(&e, 0, true);
    ASSERT_TRUE(!store__errs_refusing(&e, why, sizeof why));
    /* a detail left by an operation that then succeeded is not counted */
    store__err_detail(STORE_ERRK_OTHER, "ERR x", 5);
    store__note(&e, 0, true);
    store__errs_counts(&e, by, &total);
    ASSERT_EQ_INT(total, 5);
    store__errs_deinit(&e);
}

/* A Redis store under prefix, writes waiting for `wait` replicas (50 ms). */
static store_t *open_redis(const char *url, const char *prefix, int wait)
{
    store_config cfg;
    store_config_default(&cfg);
    cfg.url = url;
    cfg.key_prefix = prefix;
    cfg.wait_replicas = wait;
    cfg.wait_timeout_ms = 50;
    store_t *s = NULL;
    ragd_error err;
    return store_open(&cfg, &s, &err) == 0 ? s : NULL;
}

TEST(redis_wait_without_replicas_is_not_durable)
{
    const char *url = getenv("RAGD_TEST_REDIS_URL");
    if (!url || !*url)
        SKIP("RAGD_TEST_REDIS_URL not set");
    store_t *s = open_redis(url, "errs-wait", 1);
    ASSERT_TRUE(s != NULL);
    ASSERT_EQ_INT(store_set(s, "k", 1, "v", 1, 0, 0), RAGD_ENOTDURABLE);
    int64_t n = 0;
    ASSERT_EQ_INT(store_incr(s, "n", 1, 1, 0, &n), RAGD_ENOTDURABLE);
    store_op op = { "b", 1, "x", 1, 0, 0 };
    ASSERT_EQ_INT(store_batch(s, &op, 1), RAGD_ENOTDURABLE);
    store_value v;
    ASSERT_OK(store_get(s, "k", 1, &v)); /* reads do not wait; the write is on the master */
    ASSERT_TRUE(v.len == 1 && memcmp(v.data, "v", 1) == 0);
    store_value_free(&v);
    store_stats st;
    ASSERT_OK(store_get_stats(s, &st));
    ASSERT_EQ_INT(st.errors_by_kind[STORE_ERRK_NOT_DURABLE], 3);
    ASSERT_EQ_INT(store_del(s, "k", 1), RAGD_ENOTDURABLE);
    store_close(s);
    s = open_redis(url, "errs-wait", 0); /* clean up without WAIT */
    ASSERT_TRUE(s != NULL);
    store_del(s, "n", 1);
    store_del(s, "b", 1);
    ASSERT_EQ_INT(store_exists(s, "k", 1), RAGD_ENOTFOUND);
    store_close(s);
}

int main(void)
{
    RUN(classify_redis_errors);
    RUN(kind_names_are_stable);
    RUN(note_counts_and_refusal);
    RUN(redis_wait_without_replicas_is_not_durable);
    return TEST_REPORT();
}
