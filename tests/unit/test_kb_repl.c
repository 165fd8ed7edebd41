/*
 * test_kb_repl.c - two knowledge bases on one Redis, each with its own store
 * handle and follower, as two ragd instances would be (kb_repl.c): a
 * namespace created on A appears on B; documents written, replaced and
 * deleted on A reach B's memory and indexes (vectors included); a second
 * create of the same name is refused; a replace from B of A's document leaves
 * no orphan chunk keys; a drop on A leaves B; a store reset (the epoch key and
 * the data gone) makes B drop its replicas and report why. A user's replace
 * is decided on the stored owner, not on the writer's memory (an instance
 * that never saw another user's document cannot take it over), and so is a
 * user's delete (an instance still holding the old owner's copy deletes
 * nothing of the new owner's, by id or by filter). Many records
 * reach a follower as batches (HNSW inserts on a pool) and leave it equal to
 * the writer. An expired document is hidden on both at once; when one sweeps
 * it, the other drops it, and an instance whose memory is stale never sweeps a
 * document another re-wrote with a later expiry (sweeps run by hand). Needs
 * RAGD_TEST_REDIS_URL (skipped without). Waits poll a bounded number of times.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kb_fixture.h"
#include "kb/kb_int.h"
#include "testing.h"
#include "util/clock.h"
#include "util/json.h"

static char g_dir[] = "/tmp/ragd-test-kbrepl-XXXXXX";
static wordpiece *g_wp;
static char g_prefix[32];

typedef struct inst {
    store_t *store;
    repl_t *repl;
    kb_t *kb;
} inst;

/* An instance; follow = false: one that never follows the logs (its memory
 * misses whatever the others write after it opened). */
static bool inst_open_with(inst *in, const char *url, bool follow, int threads)
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
    kb_opts o = { .store = in->store, .tokenizer = g_wp, .embed = kbfx_embed, .dim = KBFX_DIM,
                  .model = "bow", .max_chunk_tokens = 254, .load_threads = threads,
                  .repl = in->repl, .expire_interval_ms = -1 };
    ragd_error err;
    if (kb_open(&o, &in->kb, &err)) {
        fprintf(stderr, "kb_open: %s\n", err.msg);
        return false;
    }
    return true;
}

static bool inst_open(inst *in, const char *url)
{
    return inst_open_with(in, url, true, 1);
}

static void inst_close(inst *in)
{
    kb_close(in->kb);
    repl_destroy(in->repl);
    store_close(in->store);
}

/* Poll until cond holds (at most ~20 s of tries). */
#define EVENTUALLY(cond)                                               \
    do {                                                               \
        for (int t__ = 0; t__ < 2000 && !(cond); t__++)                \
            clock_sleep_ms(10);                                        \
        ASSERT_TRUE(cond);                                             \
    } while (0)

static bool doc_text_is(kb_t *kb, const char *ns, const char *id, const char *text)
{
    cJSON *o = NULL;
    if (kb_doc_get(kb, ns, id, false, &o) != 0)
        return text == NULL;
    const char *t = json_get_str(o, "text");
    bool same = text && t && strcmp(t, text) == 0;
    cJSON_Delete(o);
    return same;
}

static uint64_t hnsw_vectors(kb_t *kb, const char *ns)
{
    kb_ns_info info;
    if (kb_ns_get_info(kb, ns, &info))
        return 0;
    uint64_t n = info.hnsw_vectors - info.hnsw_deleted;
    kb_ns_info_clear(&info);
    return n;
}

static int count_cb(void *ud, const char *key, size_t klen, const void *val, size_t vlen)
{
    (void)key, (void)klen, (void)val, (void)vlen;
    (*(int *)ud)++;
    return 0;
}

static int count_keys(store_t *s, const char *prefix)
{
    int n = 0;
    store_scan(s, prefix, strlen(prefix), false, count_cb, &n);
    return n;
}

static const char *LONG_TEXT =
    "bench press chest exercise and the squat for leg and knee pain of the lazy dog "
    "jumping over the quick brown fox and the bench press is unbelievable for chest "
    "exercise and leg squat jumps over the lazy dog for knee pain and chest press";

TEST(two_instances_agree)
{
    const char *url = getenv("RAGD_TEST_REDIS_URL");
    if (!url || !*url)
        SKIP("RAGD_TEST_REDIS_URL not set");
    snprintf(g_prefix, sizeof g_prefix, "tkbr%d", (int)getpid());
    inst a = { 0 }, b = { 0 };
    ASSERT_TRUE(inst_open(&a, url) && inst_open(&b, url));
    ragd_error err;
    kb_ns_settings st;
    kb_ns_settings_default(a.kb, &st);
    st.chunk_size = 8;
    st.chunk_overlap = 2;
    ASSERT_OK(kb_ns_create(a.kb, "shared", &st, &err));
    kb_ns_settings_clear(&st);
    EVENTUALLY(kb_ns_exists(b.kb, "shared"));
    ASSERT_EQ_INT(kb_ns_create(b.kb, "shared", NULL, &err), RAGD_EEXISTS);
    kb_doc_in d[2] = { { "d1", LONG_TEXT, strlen(LONG_TEXT), NULL, NULL, 0 },
                       { "d2", "squat knee pain", 15, NULL, NULL, 0 } };
    ASSERT_OK(kb_docs_upsert(a.kb, "shared", d, 2, NULL, &err));
    EVENTUALLY(doc_text_is(b.kb, "shared", "d1", LONG_TEXT) &&
               doc_text_is(b.kb, "shared", "d2", "squat knee pain"));
    EVENTUALLY(hnsw_vectors(b.kb, "shared") == hnsw_vectors(a.kb, "shared"));
    ASSERT_TRUE(hnsw_vectors(a.kb, "shared") > 3);
    /* update and delete on A */
    kb_doc_in upd = { "d2", "chest press", 11, NULL, NULL, 0 };
    ASSERT_OK(kb_docs_upsert(a.kb, "shared", &upd, 1, NULL, &err));
    ASSERT_OK(kb_doc_delete(a.kb, "shared", "d1"));
    EVENTUALLY(doc_text_is(b.kb, "shared", "d1", NULL) &&
               doc_text_is(b.kb, "shared", "d2", "chest press"));
    EVENTUALLY(hnsw_vectors(b.kb, "shared") == hnsw_vectors(a.kb, "shared"));
    /* B replaces a document A wrote with many chunks: no orphan chunk keys */
    ASSERT_OK(kb_docs_upsert(a.kb, "shared", d, 1, NULL, &err));
    int many = count_keys(a.store, "kb:{shared}:chunk:d1:");
    ASSERT_TRUE(many > 3);
    kb_doc_in shorter = { "d1", "dog", 3, NULL, NULL, 0 };
    ASSERT_OK(kb_docs_upsert(b.kb, "shared", &shorter, 1, NULL, &err));
    ASSERT_EQ_INT(count_keys(a.store, "kb:{shared}:chunk:d1:"), 1);
    EVENTUALLY(doc_text_is(a.kb, "shared", "d1", "dog"));
    /* drop on A: B forgets */
    ASSERT_OK(kb_ns_drop(a.kb, "shared", NULL));
    EVENTUALLY(!kb_ns_exists(b.kb, "shared"));
    /* a reset: the data and the epoch key vanish under both */
    ASSERT_OK(kb_ns_create(a.kb, "again", NULL, &err));
    ASSERT_OK(kb_docs_upsert(a.kb, "again", d + 1, 1, NULL, &err));
    EVENTUALLY(doc_text_is(b.kb, "again", "d2", "squat knee pain"));
    uint64_t n; /* a flush: keys and logs */
    ASSERT_OK(store_del_pattern(a.store, "*", &n));
    ASSERT_OK(store_log_delete(a.store, KB_EPOCH_LOG));
    ASSERT_OK(store_log_delete(a.store, "kb:nslog"));
    ASSERT_OK(store_log_delete(a.store, "kb:{again}:log"));
    EVENTUALLY(!kb_ns_exists(b.kb, "again") && !kb_ns_exists(a.kb, "again"));
    kb_repl_status rs;
    EVENTUALLY((kb_repl_status_get(b.kb, &rs), rs.resets == 1 && rs.degraded[0]));
    ASSERT_TRUE(strstr(rs.degraded, "epoch") != NULL);
    /* writes afterwards create complete namespaces */
    ASSERT_EQ_INT(kb_docs_upsert(a.kb, "again", d + 1, 1, NULL, &err), RAGD_ENOTFOUND);
    ASSERT_EQ_INT(count_keys(a.store, "kb:"), 0);
    ASSERT_OK(kb_ns_create(a.kb, "again", NULL, &err));
    ASSERT_OK(kb_docs_upsert(a.kb, "again", d + 1, 1, NULL, &err));
    EVENTUALLY(doc_text_is(b.kb, "again", "d2", "squat knee pain"));
    inst_close(&a);
    inst_close(&b);
    store_t *s = NULL;
    store_config cfg;
    store_config_default(&cfg);
    cfg.url = url;
    cfg.key_prefix = g_prefix;
    ASSERT_OK(store_open(&cfg, &s, NULL));
    store_del_pattern(s, "*", &n);
    store_log_delete(s, "kb:nslog");
    store_log_delete(s, "kb:{again}:log");
    store_log_delete(s, "kb:{shared}:log");
    store_log_delete(s, KB_EPOCH_LOG);
    store_close(s);
}

/* Remove what a test left under g_prefix: keys and the logs named. */
static void wipe(const char *url, const char *const *logs, size_t n)
{
    store_t *s = NULL;
    store_config cfg;
    store_config_default(&cfg);
    cfg.url = url;
    cfg.key_prefix = g_prefix;
    if (store_open(&cfg, &s, NULL))
        return;
    uint64_t k;
    store_del_pattern(s, "*", &k);
    for (size_t i = 0; i < n; i++)
        store_log_delete(s, logs[i]);
    store_log_delete(s, "kb:nslog");
    store_log_delete(s, KB_EPOCH_LOG);
    store_close(s);
}

TEST(replace_checks_the_stored_owner)
{
    const char *url = getenv("RAGD_TEST_REDIS_URL");
    if (!url || !*url)
        SKIP("RAGD_TEST_REDIS_URL not set");
    snprintf(g_prefix, sizeof g_prefix, "tkbo%d", (int)getpid());
    inst a = { 0 }, b = { 0 };
    ASSERT_TRUE(inst_open(&a, url));
    ragd_error err;
    kb_ns_settings st;
    kb_ns_settings_default(a.kb, &st);
    st.chunk_size = 8;
    st.chunk_overlap = 2;
    ASSERT_OK(kb_ns_create(a.kb, "own", &st, &err));
    kb_ns_settings_clear(&st);
    ASSERT_TRUE(inst_open_with(&b, url, false, 1)); /* B holds "own" empty, forever */
    kb_doc_in alice = { "x", LONG_TEXT, strlen(LONG_TEXT), NULL, "alice", 0 };
    ASSERT_OK(kb_docs_upsert(a.kb, "own", &alice, 1, NULL, &err));
    int chunks = count_keys(a.store, "kb:{own}:chunk:x:");
    ASSERT_TRUE(chunks > 3);
    /* B's memory has no "x": the stored owner refuses bob, as for a missing id */
    kb_doc_in bob[2] = { { "y", "bob fresh note", 14, NULL, "bob", 0 },
                         { "x", "bob owns this now", 17, NULL, "bob", 0 } };
    ASSERT_EQ_INT(kb_docs_upsert(b.kb, "own", bob, 2, NULL, &err), RAGD_ENOTFOUND);
    ASSERT_TRUE(kb_ns_exists(b.kb, "own"));
    ASSERT_TRUE(strstr(err.msg, "documents[1]") != NULL);
    ASSERT_TRUE(doc_text_is(a.kb, "own", "x", LONG_TEXT));
    ASSERT_EQ_INT(count_keys(a.store, "kb:{own}:doc:y"), 0);
    ASSERT_EQ_INT(count_keys(a.store, "kb:{own}:chunk:x:"), chunks);
    /* alice on B may replace her own; a shared write replaces anything,
     * removing every chunk key the stored record had */
    kb_doc_in mine = { "x", LONG_TEXT, strlen(LONG_TEXT) - 8, NULL, "alice", 0 };
    ASSERT_OK(kb_docs_upsert(b.kb, "own", &mine, 1, NULL, &err));
    kb_doc_in shared = { "x", "dog", 3, NULL, NULL, 0 };
    ASSERT_OK(kb_docs_upsert(b.kb, "own", &shared, 1, NULL, &err));
    ASSERT_EQ_INT(count_keys(a.store, "kb:{own}:chunk:x:"), 1);
    ASSERT_EQ_INT(kb_docs_upsert(b.kb, "own", bob + 1, 1, NULL, &err), RAGD_ENOTFOUND);
    EVENTUALLY(doc_text_is(a.kb, "own", "x", "dog"));
    inst_close(&b);
    inst_close(&a);
    const char *logs[] = { "kb:{own}:log" };
    wipe(url, logs, 1);
}

/* B never follows: it keeps alice's "d" in memory while A deletes it and bob
 * creates "d" in the store. alice's delete through B passes B's copy but the
 * stored record is bob's: refused, nothing deleted; the same by filter; an
 * unbound (admin) delete still deletes. */
TEST(delete_checks_the_stored_owner)
{
    const char *url = getenv("RAGD_TEST_REDIS_URL");
    if (!url || !*url)
        SKIP("RAGD_TEST_REDIS_URL not set");
    snprintf(g_prefix, sizeof g_prefix, "tkbd%d", (int)getpid());
    inst a = { 0 }, b = { 0 };
    ASSERT_TRUE(inst_open(&a, url));
    ragd_error err;
    ASSERT_OK(kb_ns_create(a.kb, "del", NULL, &err));
    kb_doc_in alice[2] = { { "d", "alice squat note", 16, NULL, "alice", 0 },
                           { "e", "alice press note", 16, NULL, "alice", 0 } };
    ASSERT_OK(kb_docs_upsert(a.kb, "del", alice, 2, NULL, &err));
    ASSERT_TRUE(inst_open_with(&b, url, false, 1)); /* B holds alice's d and e, forever */
    ASSERT_TRUE(doc_text_is(b.kb, "del", "d", "alice squat note"));
    ASSERT_OK(kb_doc_delete_as(a.kb, "del", "d", kb_owner_is, "alice"));
    kb_doc_in bob = { "d", "bob knee note", 13, NULL, "bob", 0 };
    ASSERT_OK(kb_docs_upsert(a.kb, "del", &bob, 1, NULL, &err));
    ASSERT_EQ_INT(kb_doc_delete_as(b.kb, "del", "d", kb_owner_is, "alice"), RAGD_ENOTFOUND);
    ASSERT_TRUE(doc_text_is(a.kb, "del", "d", "bob knee note"));
    ASSERT_EQ_INT(count_keys(a.store, "kb:{del}:doc:d"), 1);
    uint64_t n = 9;
    ASSERT_OK(kb_docs_delete_where(b.kb, "del", NULL, "alice", &n));
    ASSERT_EQ_INT(n, 1); /* e, hers in the store too; d skipped */
    ASSERT_EQ_INT(count_keys(a.store, "kb:{del}:doc:d"), 1);
    ASSERT_EQ_INT(count_keys(a.store, "kb:{del}:doc:e"), 0);
    EVENTUALLY(doc_text_is(a.kb, "del", "e", NULL));
    ASSERT_TRUE(doc_text_is(a.kb, "del", "d", "bob knee note"));
    ASSERT_OK(kb_doc_delete(b.kb, "del", "d")); /* unbound: any owner */
    ASSERT_EQ_INT(count_keys(a.store, "kb:{del}:doc:d"), 0);
    EVENTUALLY(doc_text_is(a.kb, "del", "d", NULL));
    inst_close(&b);
    inst_close(&a);
    const char *logs[] = { "kb:{del}:log" };
    wipe(url, logs, 1);
}

/* Many records behind a follower (several writes before it reads them) are
 * applied in batches, HNSW inserts on a pool of two: B ends equal to A. */
TEST(follower_applies_batches)
{
    const char *url = getenv("RAGD_TEST_REDIS_URL");
    if (!url || !*url)
        SKIP("RAGD_TEST_REDIS_URL not set");
    snprintf(g_prefix, sizeof g_prefix, "tkbb%d", (int)getpid());
    inst a = { 0 }, b = { 0 };
    ASSERT_TRUE(inst_open(&a, url) && inst_open_with(&b, url, true, 2));
    ragd_error err;
    ASSERT_OK(kb_ns_create(a.kb, "many", NULL, &err));
    EVENTUALLY(kb_ns_exists(b.kb, "many"));
    static char texts[300][48], ids[300][8];
    kb_doc_in d[100];
    for (int w = 0; w < 3; w++) {
        for (int i = 0; i < 100; i++) {
            int k = w * 100 + i;
            snprintf(ids[k], sizeof ids[k], "d%d", k % 250); /* the last 50 replace */
            snprintf(texts[k], sizeof texts[k], "squat %d knee %d press w%d", k, k * 7, w);
            d[i] = (kb_doc_in){ ids[k], texts[k], strlen(texts[k]), NULL, NULL, 0 };
        }
        ASSERT_OK(kb_docs_upsert(a.kb, "many", d, 100, NULL, &err));
    }
    ASSERT_OK(kb_doc_delete(a.kb, "many", "d3"));
    EVENTUALLY(doc_text_is(b.kb, "many", "d3", NULL) &&
               doc_text_is(b.kb, "many", "d0", texts[250]) &&
               doc_text_is(b.kb, "many", "d249", texts[249]));
    EVENTUALLY(hnsw_vectors(b.kb, "many") == hnsw_vectors(a.kb, "many"));
    ASSERT_TRUE(hnsw_vectors(a.kb, "many") > 150);
    kb_ns_info ia, ib;
    ASSERT_OK(kb_ns_get_info(a.kb, "many", &ia));
    ASSERT_OK(kb_ns_get_info(b.kb, "many", &ib));
    ASSERT_EQ_INT(ib.documents, ia.documents);
    ASSERT_EQ_INT(ib.chunks, ia.chunks);
    kb_ns_info_clear(&ia);
    kb_ns_info_clear(&ib);
    inst_close(&b);
    inst_close(&a);
    const char *logs[] = { "kb:{many}:log" };
    wipe(url, logs, 1);
}

TEST(followers_drop_what_another_swept)
{
    const char *url = getenv("RAGD_TEST_REDIS_URL");
    if (!url || !*url)
        SKIP("RAGD_TEST_REDIS_URL not set");
    snprintf(g_prefix, sizeof g_prefix, "tkbx%d", (int)getpid());
    inst a = { 0 }, b = { 0 }, c = { 0 };
    ASSERT_TRUE(inst_open(&a, url) && inst_open(&b, url));
    ragd_error err;
    ASSERT_OK(kb_ns_create(a.kb, "ttl", NULL, &err));
    EVENTUALLY(kb_ns_exists(b.kb, "ttl"));
    ASSERT_OK(kbfx_put_expiring(a.kb, "ttl"));
    EVENTUALLY(kbfx_held(b.kb, "ttl") == 3);
    ASSERT_TRUE(!kbfx_has_doc(b.kb, "ttl", "old") && kbfx_has_doc(b.kb, "ttl", "fresh"));
    ASSERT_EQ_INT((int)kb_expire_sweep(a.kb), 1);
    EVENTUALLY(kbfx_held(b.kb, "ttl") == 2);
    ASSERT_EQ_INT((int)kb_expire_sweep(b.kb), 0); /* nothing left: deleting is idempotent */
    /* c loads an expired document and never follows; a re-writes it with a later
     * expiry meanwhile: c's sweep keeps it and re-reads it */
    int64_t now = clock_wall_ms() / 1000;
    kb_doc_in x = { .id = "x", .text = "dog", .len = 3, .expires_at = now - 5 };
    ASSERT_OK(kb_docs_upsert(a.kb, "ttl", &x, 1, NULL, &err));
    ASSERT_TRUE(inst_open_with(&c, url, false, 1));
    x.expires_at = now + 3600;
    ASSERT_OK(kb_docs_upsert(a.kb, "ttl", &x, 1, NULL, &err));
    ASSERT_TRUE(!kbfx_has_doc(c.kb, "ttl", "x")); /* c's memory: the expired record */
    ASSERT_EQ_INT((int)kb_expire_sweep(c.kb), 0);
    ASSERT_TRUE(kbfx_has_doc(a.kb, "ttl", "x") && kbfx_has_doc(c.kb, "ttl", "x"));
    inst_close(&c);
    inst_close(&b);
    inst_close(&a);
    const char *logs[] = { "kb:{ttl}:log" };
    wipe(url, logs, 1);
}

int main(void)
{
    if (!mkdtemp(g_dir) || !(g_wp = kbfx_tokenizer(g_dir)))
        return 1;
    RUN(two_instances_agree);
    RUN(replace_checks_the_stored_owner);
    RUN(delete_checks_the_stored_owner);
    RUN(follower_applies_batches);
    RUN(followers_drop_what_another_swept);
    wordpiece_close(g_wp);
    kbfx_rmdir(g_dir);
    return TEST_REPORT();
}
