/*
 * test_jobs_index.c - the index of stored jobs (src/jobs/jobs_index.c), on a
 * real LMDB store and, with RAGD_TEST_REDIS_URL, a real Redis: the overview
 * /health and /metrics show (and GET /jobs' list) counts the indexed jobs,
 * never a scan of the keyspace (a record the index does not name is not
 * counted; on Redis, INFO commandstats' SCAN calls do not move across a
 * count); a record that expired leaves the count at once and the index after
 * the grace period, as does an id added by a submit that never wrote its
 * record; a store without the index (an older ragd's) is seeded by one scan.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jobs/jobs_int.h"
#include "kb_fixture.h"
#include "testing.h"
#include "util/clock.h"
#include "util/json.h"
#include "util/mem.h"

static char g_dir[] = "/tmp/ragd-test-jobs-index-XXXXXX";
static char g_prefix[32];
static wordpiece *g_wp;

typedef struct inst {
    store_t *store;
    kb_t *kb;
    jobs_t *jobs;
} inst;

static bool inst_open(inst *in, const char *url)
{
    store_config cfg;
    store_config_default(&cfg);
    cfg.url = url;
    cfg.data_dir = g_dir;
    cfg.key_prefix = g_prefix;
    cfg.sweep_interval_ms = -1;
    ragd_error err;
    if (store_open(&cfg, &in->store, &err))
        return false;
    uint64_t n;
    store_del_pattern(in->store, "*", &n); /* a fresh keyspace under the prefix */
    kb_opts o = { .store = in->store, .tokenizer = g_wp, .embed = kbfx_embed, .dim = KBFX_DIM,
                  .model = "bow", .max_chunk_tokens = 254, .load_threads = 1 };
    if (kb_open(&o, &in->kb, &err) || kb_ns_create(in->kb, "ns", NULL, &err))
        return false;
    jobs_opts jo;
    jobs_default_opts(&jo);
    jo.store = in->store;
    jo.kb = in->kb;
    return jobs_create(&jo, &in->jobs, &err) == 0;
}

static void inst_close(inst *in)
{
    uint64_t n;
    jobs_destroy(in->jobs);
    kb_close(in->kb);
    store_del_pattern(in->store, "*", &n);
    store_close(in->store);
}

static char *submit(jobs_t *j)
{
    kb_doc_in d = { "d1", "the quick brown fox", 19, NULL, NULL, 0 };
    cJSON *job = NULL;
    ragd_error err;
    if (jobs_submit(j, "ns", &d, 1, NULL, &job, &err))
        return NULL;
    char *id = xstrdup(json_get_str(job, "id"));
    cJSON_Delete(job);
    return id;
}

static bool finished(jobs_t *j, const char *id)
{
    for (int i = 0; i < 6000; i++) {
        cJSON *v = NULL;
        bool done = jobs_get(j, id, &v, NULL, NULL) == 0 &&
                    jobs_state_terminal(jobs_state_parse(json_get_str(v, "status")));
        cJSON_Delete(v);
        if (done)
            return true;
        clock_sleep_ms(10);
    }
    return false;
}

/* Jobs in the overview, counted afresh (the cached one is reused for a second). */
static uint64_t counted(jobs_t *j)
{
    clock_sleep_ms(JOBS_OVERVIEW_MAX_AGE_MS + 20);
    jobs_overview ov;
    if (jobs_overview_get(j, &ov))
        return (uint64_t)-1;
    uint64_t n = 0;
    for (int s = 0; s < JOBS_STATE_N; s++)
        n += ov.by_state[s];
    return n;
}

static bool indexed(store_t *st, const char *id)
{
    store_value v;
    if (store_get(st, "jobs:index", 10, &v))
        return false;
    bool in = memmem(v.data, v.len, id, strlen(id)) != NULL;
    store_value_free(&v);
    return in;
}

/* A finished job's record written without the index, as an older ragd did. */
static void write_unindexed(store_t *st, const char *id)
{
    jobs_record r;
    jobs_record_init(&r);
    snprintf(r.id, sizeof r.id, "%s", id);
    snprintf(r.ns, sizeof r.ns, "ns");
    r.state = JOBS_SUCCEEDED;
    r.created_ms = r.finished_ms = clock_wall_ms();
    buf_t k = BUF_INIT, v = BUF_INIT;
    jobs__key_meta(&k, id);
    jobs_record_encode(&r, &v);
    store_set(st, k.data, k.len, v.data, v.len, 0, 0);
    buf_free(&k);
    buf_free(&v);
    jobs_record_clear(&r);
}

static void del_record(store_t *st, const char *id)
{
    buf_t k = BUF_INIT;
    jobs__key_meta(&k, id);
    store_del(st, k.data, k.len);
    buf_free(&k);
}

/* SCAN calls the Redis at url has served (INFO commandstats); -1 if unknown. */
static long scan_calls(const char *url)
{
    char cmd[512], line[512];
    snprintf(cmd, sizeof cmd, "redis-cli -u '%s' info commandstats 2>/dev/null", url);
    FILE *p = popen(cmd, "r");
    long calls = -1;
    while (p && fgets(line, sizeof line, p))
        if (!strncmp(line, "cmdstat_scan:", 13)) {
            const char *c = strstr(line, "calls=");
            calls = c ? atol(c + 6) : -1;
        }
    if (p)
        pclose(p);
    return calls < 0 ? 0 : calls;
}

/* Does a fresh /health + /metrics count leave SCAN untouched? Other tests may
 * share the server: one quiet window out of ten is enough (before the index,
 * every count scanned). */
static bool counts_without_scan(jobs_t *j, const char *url)
{
    for (int attempt = 0; attempt < 10; attempt++) {
        clock_sleep_ms(JOBS_OVERVIEW_MAX_AGE_MS + 20);
        long before = scan_calls(url);
        cJSON_Delete(jobs_health(j));
        buf_t b = BUF_INIT;
        jobs_metrics_render(j, &b);
        buf_free(&b);
        if (scan_calls(url) == before)
            return true;
    }
    return false;
}

static void index_cases(const char *url)
{
    snprintf(g_prefix, sizeof g_prefix, "tjix%d%s", (int)getpid(), url ? "r" : "l");
    inst in = { 0 };
    ASSERT_TRUE(inst_open(&in, url));
    jobs_t *j = in.jobs;
    char *a = submit(j), *b = submit(j);
    ASSERT_TRUE(a && b && finished(j, a) && finished(j, b));
    ASSERT_TRUE(indexed(in.store, a) && indexed(in.store, b));
    ASSERT_EQ_INT(counted(j), 2);
    /* a record the index does not name is not seen: nothing scanned the keyspace */
    write_unindexed(in.store, "job_0123456789abcdef01234567");
    ASSERT_EQ_INT(counted(j), 2);
    if (url)
        ASSERT_TRUE(counts_without_scan(j, url));
    /* an expired record leaves the count at once, the index after the grace */
    del_record(in.store, a);
    ASSERT_EQ_INT(counted(j), 1);
    ASSERT_TRUE(indexed(in.store, a));
    /* an id whose submit never wrote the record: kept within the grace */
    ASSERT_OK(jobs__index_add(j, "job_feedfeedfeedfeedfeedfeed"));
    ASSERT_EQ_INT(counted(j), 1);
    ASSERT_TRUE(indexed(in.store, "job_feedfeedfeedfeedfeedfeed"));
    j->index_grace_ms = 0;
    ASSERT_EQ_INT(counted(j), 1);
    ASSERT_TRUE(!indexed(in.store, a) && !indexed(in.store, "job_feedfeedfeedfeedfeedfeed"));
    ASSERT_TRUE(indexed(in.store, b));
    /* without the index (an older ragd's store) one scan seeds it */
    ASSERT_OK(store_del(in.store, "jobs:index", 10));
    ASSERT_EQ_INT(counted(j), 2);
    ASSERT_TRUE(indexed(in.store, "job_0123456789abcdef01234567") && indexed(in.store, b));
    jobs_filter f = { .state = -1 };
    cJSON *list = NULL;
    ASSERT_OK(jobs_list(j, &f, &list));
    ASSERT_EQ_INT(cJSON_GetArraySize(list), 2);
    cJSON_Delete(list);
    free(a);
    free(b);
    inst_close(&in);
}

TEST(lmdb_counts_through_the_index)
{
    index_cases(NULL);
}

TEST(redis_counts_through_the_index)
{
    const char *url = getenv("RAGD_TEST_REDIS_URL");
    if (!url || !*url)
        SKIP("RAGD_TEST_REDIS_URL not set");
    index_cases(url);
}

int main(void)
{
    if (!mkdtemp(g_dir) || !(g_wp = kbfx_tokenizer(g_dir)))
        return 1;
    RUN(lmdb_counts_through_the_index);
    RUN(redis_counts_through_the_index);
    wordpiece_close(g_wp);
    kbfx_rmdir(g_dir);
    return TEST_REPORT();
}
