/*
 * test_kb_expire.c - documents with an expiry (kb_doc_in.expires_at,
 * kb_expire.c): an expired document is invisible to search, get, list and
 * counts before any sweep; the sweep deletes it through the delete path (its
 * keys go, the change log carries the delete) and counts it; a restart from
 * the store or from a snapshot keeps expiries (and still sweeps the ones that
 * passed while it was down); on one Redis, a follower drops what another
 * instance swept, and an instance whose memory is stale never sweeps a
 * document another instance re-wrote with a later expiry. Expiries are set in
 * the past or far ahead (never a wait for time to pass); the Redis cases need
 * RAGD_TEST_REDIS_URL (skipped without) and poll a bounded number of times.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kb_fixture.h"
#include "kb/kb_int.h"
#include "kb/search.h"
#include "testing.h"
#include "util/clock.h"
#include "util/json.h"

static char g_dir[] = "/tmp/ragd-test-kb-expire-XXXXXX";
static char g_snap[600];
static wordpiece *g_wp;
static char g_prefix[32];

/* A kb on store with no sweeper thread (kb_expire_sweep runs it). */
static kb_t *open_kb(store_t *store, repl_t *repl, const char *snap)
{
    kb_opts o = { .store = store, .tokenizer = g_wp, .embed = kbfx_embed, .dim = KBFX_DIM,
                  .model = "bow", .max_chunk_tokens = 254, .load_threads = 1, .repl = repl,
                  .snapshot_dir = snap, .expire_interval_ms = -1 };
    kb_t *kb = NULL;
    ragd_error err;
    if (kb_open(&o, &kb, &err))
        fprintf(stderr, "kb_open: %s\n", err.msg);
    return kb;
}

static int64_t now_s(void)
{
    return clock_wall_ms() / 1000;
}

/* Ids of the hits of q in ns (hybrid, shared documents), space-separated. */
static void hits(kb_t *kb, const char *ns, const char *q, char *out, size_t cap)
{
    kb_search_opts o;
    kb_search_default_opts(&o);
    o.query = q;
    o.qlen = strlen(q);
    o.limit = 10;
    const char *names[1] = { ns };
    o.namespaces = names;
    o.n_namespaces = 1;
    kb_search_result r;
    ragd_error err;
    out[0] = '\0';
    if (kb_search(kb, &o, &r, &err))
        return;
    size_t at = 0;
    for (size_t i = 0; i < r.n; i++)
        if (!strstr(out, r.hits[i].doc_id))
            at += (size_t)snprintf(out + at, cap - at, "%s ", r.hits[i].doc_id);
    kb_search_result_clear(&r);
}

static bool has_doc(kb_t *kb, const char *ns, const char *id)
{
    cJSON *o = NULL;
    if (kb_doc_get(kb, ns, id, false, &o))
        return false;
    cJSON_Delete(o);
    return true;
}

/* Documents ns holds in memory, expired or not. */
static uint64_t held(kb_t *kb, const char *ns)
{
    kb_ns_info info;
    if (kb_ns_get_info(kb, ns, &info))
        return 0;
    uint64_t n = info.documents;
    kb_ns_info_clear(&info);
    return n;
}

/* old: expired; fresh: an hour to go; forever: none. */
static void put_three(kb_t *kb, const char *ns)
{
    ragd_error err;
    kb_doc_in d[3] = { { .id = "old", .text = "knee pain old", .len = 13,
                         .expires_at = now_s() - 5 },
                       { .id = "fresh", .text = "knee pain fresh", .len = 15,
                         .expires_at = now_s() + 3600 },
                       { .id = "forever", .text = "knee pain forever", .len = 17 } };
    if (kb_docs_upsert(kb, ns, d, 3, NULL, &err))
        fprintf(stderr, "upsert: %s\n", err.msg);
}

TEST(expired_invisible_before_the_sweep_then_deleted)
{
    char dir[700];
    snprintf(dir, sizeof dir, "%s/a", g_dir);
    store_t *st = kbfx_store(dir);
    kb_t *kb = open_kb(st, NULL, NULL);
    ASSERT_TRUE(kb);
    ragd_error err;
    ASSERT_OK(kb_ns_create(kb, "ns", NULL, &err));
    kb_doc_in bad = { .id = "x", .text = "dog", .len = 3, .expires_at = -1 };
    ASSERT_EQ_INT(kb_docs_upsert(kb, "ns", &bad, 1, NULL, &err), RAGD_EINVAL);
    bad.expires_at = KB_EXPIRES_MAX + 1;
    ASSERT_EQ_INT(kb_docs_upsert(kb, "ns", &bad, 1, NULL, &err), RAGD_EINVAL);
    put_three(kb, "ns");
    char out[256];
    hits(kb, "ns", "knee pain", out, sizeof out);
    ASSERT_TRUE(strstr(out, "fresh") && strstr(out, "forever") && !strstr(out, "old"));
    ASSERT_TRUE(!has_doc(kb, "ns", "old") && has_doc(kb, "ns", "fresh"));
    cJSON *o = NULL;
    ASSERT_OK(kb_doc_get(kb, "ns", "fresh", false, &o));
    int64_t exp = 0;
    ASSERT_OK(json_get_int(o, "expires_at", 1, KB_EXPIRES_MAX, &exp));
    ASSERT_TRUE(exp > now_s() + 3000);
    cJSON_Delete(o);
    ASSERT_OK(kb_doc_get(kb, "ns", "forever", false, &o));
    ASSERT_TRUE(!cJSON_GetObjectItemCaseSensitive(o, "expires_at"));
    cJSON_Delete(o);
    char **ids = NULL;
    size_t n = 0;
    uint64_t total = 0;
    ASSERT_OK(kb_doc_list(kb, "ns", 0, 10, &ids, &n, &total));
    ASSERT_EQ_INT((int)total, 2);
    ASSERT_EQ_INT((int)n, 2);
    for (size_t i = 0; i < n; i++)
        ASSERT_TRUE(strcmp(ids[i], "old") != 0);
    kb_names_free(ids, n);
    /* still in memory and the store until the sweep */
    ASSERT_EQ_INT((int)held(kb, "ns"), 3);
    ASSERT_EQ_INT(kbfx_count_keys(st, "kb:{ns}:doc:old"), 1);
    uint64_t first = 0, last = 0;
    ASSERT_OK(store_log_bounds(st, "kb:{ns}:log", &first, &last));
    ASSERT_EQ_INT((int)kb_expire_sweep(kb), 1);
    ASSERT_EQ_INT((int)kb_expired_total(kb), 1);
    ASSERT_EQ_INT(kbfx_count_keys(st, "kb:{ns}:doc:old"), 0);
    ASSERT_EQ_INT(kbfx_count_keys(st, "kb:{ns}:chunk:old:"), 0);
    ASSERT_EQ_INT((int)held(kb, "ns"), 2);
    uint64_t last2 = 0;
    ASSERT_OK(store_log_bounds(st, "kb:{ns}:log", &first, &last2));
    ASSERT_EQ_INT((int)(last2 - last), 1); /* one delete record */
    ASSERT_EQ_INT((int)kb_expire_sweep(kb), 0);
    /* a re-write with a later expiry (or none) is kept by a sweep */
    kb_doc_in again = { .id = "fresh", .text = "knee pain again", .len = 15 };
    ASSERT_OK(kb_docs_upsert(kb, "ns", &again, 1, NULL, &err));
    ASSERT_EQ_INT((int)kb_expire_sweep(kb), 0);
    ASSERT_TRUE(has_doc(kb, "ns", "fresh"));
    kb_close(kb);
    store_close(st);
}

TEST(restart_keeps_expiries)
{
    char dir[700];
    snprintf(dir, sizeof dir, "%s/b", g_dir);
    for (int snap = 0; snap < 2; snap++) {
        store_t *st = kbfx_store(dir);
        kb_t *kb = open_kb(st, NULL, snap ? g_snap : NULL);
        ASSERT_TRUE(kb);
        ragd_error err;
        char ns[16];
        snprintf(ns, sizeof ns, "r%d", snap);
        ASSERT_OK(kb_ns_create(kb, ns, NULL, &err));
        put_three(kb, ns);
        kb_close(kb); /* writes the snapshot (snap) */
        kb = open_kb(st, NULL, snap ? g_snap : NULL);
        ASSERT_TRUE(kb);
        if (snap)
            ASSERT_EQ_INT((int)kb_snapshots_loaded(kb), 2); /* r0 too */
        cJSON *o = NULL;
        ASSERT_OK(kb_doc_get(kb, ns, "fresh", false, &o));
        int64_t exp = 0;
        ASSERT_OK(json_get_int(o, "expires_at", 1, KB_EXPIRES_MAX, &exp));
        ASSERT_TRUE(exp > now_s() + 3000);
        cJSON_Delete(o);
        ASSERT_TRUE(!has_doc(kb, ns, "old"));
        ASSERT_EQ_INT((int)held(kb, ns), 3);
        ASSERT_EQ_INT((int)kb_expire_sweep(kb), 1); /* the heap was built at load */
        ASSERT_EQ_INT((int)held(kb, ns), 2);
        kb_close(kb);
        store_close(st);
    }
}

/* ---- two instances on one Redis ---- */

typedef struct inst {
    store_t *store;
    repl_t *repl;
    kb_t *kb;
} inst;

static bool inst_open(inst *in, const char *url, bool follow)
{
    store_config cfg;
    store_config_default(&cfg);
    cfg.url = url;
    cfg.key_prefix = g_prefix;
    if (store_open(&cfg, &in->store, NULL))
        return false;
    repl_opts ro;
    repl_opts_default(&ro);
    ro.store = in->store;
    ro.wait_ms = 50;
    ro.check_every_ms = 50;
    if (follow && repl_create(&ro, &in->repl))
        return false;
    return (in->kb = open_kb(in->store, in->repl, NULL)) != NULL;
}

static void inst_close(inst *in)
{
    kb_close(in->kb);
    repl_destroy(in->repl);
    store_close(in->store);
}

#define EVENTUALLY(cond)                                               \
    do {                                                               \
        for (int t__ = 0; t__ < 2000 && !(cond); t__++)                \
            clock_sleep_ms(10);                                        \
        ASSERT_TRUE(cond);                                             \
    } while (0)

static void wipe(store_t *s)
{
    uint64_t k;
    store_del_pattern(s, "*", &k);
    store_log_delete(s, "kb:{ttl}:log");
    store_log_delete(s, "kb:nslog");
    store_log_delete(s, KB_EPOCH_LOG);
}

TEST(followers_drop_what_another_swept)
{
    const char *url = getenv("RAGD_TEST_REDIS_URL");
    if (!url || !*url)
        SKIP("RAGD_TEST_REDIS_URL not set");
    snprintf(g_prefix, sizeof g_prefix, "tkbx%d", (int)getpid());
    inst a = { 0 }, b = { 0 }, c = { 0 };
    ASSERT_TRUE(inst_open(&a, url, true) && inst_open(&b, url, true));
    ragd_error err;
    ASSERT_OK(kb_ns_create(a.kb, "ttl", NULL, &err));
    EVENTUALLY(kb_ns_exists(b.kb, "ttl"));
    put_three(a.kb, "ttl");
    EVENTUALLY(held(b.kb, "ttl") == 3);
    ASSERT_TRUE(!has_doc(b.kb, "ttl", "old") && has_doc(b.kb, "ttl", "fresh"));
    ASSERT_EQ_INT((int)kb_expire_sweep(a.kb), 1);
    EVENTUALLY(held(b.kb, "ttl") == 2);
    ASSERT_EQ_INT((int)kb_expire_sweep(b.kb), 0); /* nothing left: deleting is idempotent */
    /* c loads an expired document and never follows: another instance re-writes it
     * with a later expiry meanwhile, and c's sweep keeps it */
    kb_doc_in x = { .id = "x", .text = "dog", .len = 3, .expires_at = now_s() - 5 };
    ASSERT_OK(kb_docs_upsert(a.kb, "ttl", &x, 1, NULL, &err));
    ASSERT_TRUE(inst_open(&c, url, false));
    x.expires_at = now_s() + 3600;
    ASSERT_OK(kb_docs_upsert(a.kb, "ttl", &x, 1, NULL, &err));
    ASSERT_TRUE(!has_doc(c.kb, "ttl", "x")); /* c's memory: the expired record */
    ASSERT_EQ_INT((int)kb_expire_sweep(c.kb), 0);
    ASSERT_TRUE(has_doc(a.kb, "ttl", "x"));
    ASSERT_TRUE(has_doc(c.kb, "ttl", "x")); /* re-read from the store */
    inst_close(&c);
    inst_close(&b);
    wipe(a.store);
    inst_close(&a);
}

int main(void)
{
    if (!mkdtemp(g_dir) || !(g_wp = kbfx_tokenizer(g_dir)))
        return 1;
    snprintf(g_snap, sizeof g_snap, "%s/snap", g_dir);
    RUN(expired_invisible_before_the_sweep_then_deleted);
    RUN(restart_keeps_expiries);
    RUN(followers_drop_what_another_swept);
    wordpiece_close(g_wp);
    kbfx_rmdir(g_dir);
    return TEST_REPORT();
}
