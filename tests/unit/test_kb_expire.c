/*
 * test_kb_expire.c - documents with an expiry (kb_doc_in.expires_at,
 * kb_expire.c): an expired document is invisible to search, get, list and
 * counts before any sweep; the sweep deletes it through the delete path (its
 * keys go, the change log carries the delete) and counts it; a restart from
 * the store or from a snapshot keeps expiries (and still sweeps the ones that
 * passed while it was down). Expiries are set in the past or far ahead (never
 * a wait for time to pass). Two instances on one Redis: test_kb_repl.c.
 */
#include <stdlib.h>
#include <string.h>

#include "kb_fixture.h"
#include "kb/search.h"
#include "testing.h"
#include "util/clock.h"
#include "util/json.h"

static char g_dir[] = "/tmp/ragd-test-kb-expire-XXXXXX";
static char g_snap[600];
static wordpiece *g_wp;

/* A kb on store with no sweeper thread (kb_expire_sweep runs it). */
static kb_t *open_kb(store_t *store, const char *snap)
{
    kb_opts o = { .store = store, .tokenizer = g_wp, .embed = kbfx_embed, .dim = KBFX_DIM,
                  .model = "bow", .max_chunk_tokens = 254, .load_threads = 1,
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

TEST(expired_invisible_before_the_sweep_then_deleted)
{
    char dir[700];
    snprintf(dir, sizeof dir, "%s/a", g_dir);
    store_t *st = kbfx_store(dir);
    kb_t *kb = open_kb(st, NULL);
    ASSERT_TRUE(kb);
    ragd_error err;
    ASSERT_OK(kb_ns_create(kb, "ns", NULL, &err));
    kb_doc_in bad = { .id = "x", .text = "dog", .len = 3, .expires_at = -1 };
    ASSERT_EQ_INT(kb_docs_upsert(kb, "ns", &bad, 1, NULL, &err), RAGD_EINVAL);
    bad.expires_at = KB_EXPIRES_MAX + 1;
    ASSERT_EQ_INT(kb_docs_upsert(kb, "ns", &bad, 1, NULL, &err), RAGD_EINVAL);
    kbfx_put_expiring(kb, "ns");
    char out[256];
    hits(kb, "ns", "knee pain", out, sizeof out);
    ASSERT_TRUE(strstr(out, "fresh") && strstr(out, "forever") && !strstr(out, "old"));
    ASSERT_TRUE(!kbfx_has_doc(kb, "ns", "old") && kbfx_has_doc(kb, "ns", "fresh"));
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
    ASSERT_EQ_INT((int)kbfx_held(kb, "ns"), 3);
    ASSERT_EQ_INT(kbfx_count_keys(st, "kb:{ns}:doc:old"), 1);
    uint64_t first = 0, last = 0;
    ASSERT_OK(store_log_bounds(st, "kb:{ns}:log", &first, &last));
    ASSERT_EQ_INT((int)kb_expire_sweep(kb), 1);
    ASSERT_EQ_INT((int)kb_expired_total(kb), 1);
    ASSERT_EQ_INT(kbfx_count_keys(st, "kb:{ns}:doc:old"), 0);
    ASSERT_EQ_INT(kbfx_count_keys(st, "kb:{ns}:chunk:old:"), 0);
    ASSERT_EQ_INT((int)kbfx_held(kb, "ns"), 2);
    uint64_t last2 = 0;
    ASSERT_OK(store_log_bounds(st, "kb:{ns}:log", &first, &last2));
    ASSERT_EQ_INT((int)(last2 - last), 1); /* one delete record */
    ASSERT_EQ_INT((int)kb_expire_sweep(kb), 0);
    /* a re-write with a later expiry (or none) is kept by a sweep */
    kb_doc_in again = { .id = "fresh", .text = "knee pain again", .len = 15 };
    ASSERT_OK(kb_docs_upsert(kb, "ns", &again, 1, NULL, &err));
    ASSERT_EQ_INT((int)kb_expire_sweep(kb), 0);
    ASSERT_TRUE(kbfx_has_doc(kb, "ns", "fresh"));
    kb_close(kb);
    store_close(st);
}

TEST(restart_keeps_expiries)
{
    char dir[700];
    snprintf(dir, sizeof dir, "%s/b", g_dir);
    for (int snap = 0; snap < 2; snap++) {
        store_t *st = kbfx_store(dir);
        kb_t *kb = open_kb(st, snap ? g_snap : NULL);
        ASSERT_TRUE(kb);
        ragd_error err;
        char ns[16];
        snprintf(ns, sizeof ns, "r%d", snap);
        ASSERT_OK(kb_ns_create(kb, ns, NULL, &err));
        kbfx_put_expiring(kb, ns);
        kb_close(kb); /* writes the snapshot (snap) */
        kb = open_kb(st, snap ? g_snap : NULL);
        ASSERT_TRUE(kb);
        if (snap)
            ASSERT_EQ_INT((int)kb_snapshots_loaded(kb), 2); /* r0 too */
        cJSON *o = NULL;
        ASSERT_OK(kb_doc_get(kb, ns, "fresh", false, &o));
        int64_t exp = 0;
        ASSERT_OK(json_get_int(o, "expires_at", 1, KB_EXPIRES_MAX, &exp));
        ASSERT_TRUE(exp > now_s() + 3000);
        cJSON_Delete(o);
        ASSERT_TRUE(!kbfx_has_doc(kb, ns, "old"));
        ASSERT_EQ_INT((int)kbfx_held(kb, ns), 3);
        ASSERT_EQ_INT((int)kb_expire_sweep(kb), 1); /* the heap was built at load */
        ASSERT_EQ_INT((int)kbfx_held(kb, ns), 2);
        kb_close(kb);
        store_close(st);
    }
}

int main(void)
{
    if (!mkdtemp(g_dir) || !(g_wp = kbfx_tokenizer(g_dir)))
        return 1;
    snprintf(g_snap, sizeof g_snap, "%s/snap", g_dir);
    RUN(expired_invisible_before_the_sweep_then_deleted);
    RUN(restart_keeps_expiries);
    wordpiece_close(g_wp);
    kbfx_rmdir(g_dir);
    return TEST_REPORT();
}
