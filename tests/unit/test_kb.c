/*
 * test_kb.c - knowledge bases over a real LMDB store with a small vocabulary
 * and a bag-of-words embedder: the store layout round-trips, upsert /
 * replace / delete keep the store and the indexes in step, user isolation,
 * filtered searches that still fill `limit`, a reopen that rebuilds the same
 * indexes, namespace drop, identical texts collapsing into one hit, and
 * searches running during writes.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "kb_fixture.h"
#include "kb/kb_int.h"
#include "kb/search.h"
#include "testing.h"

static char g_dir[] = "/tmp/ragd-test-kb-XXXXXX";
static wordpiece *g_wp;
static store_t *g_store;

static char g_snap[600];

static kb_t *open_kb_snap(const char *snap)
{
    kb_opts o = { .store = g_store, .tokenizer = g_wp, .embed = kbfx_embed, .dim = KBFX_DIM,
                  .model = "bow", .max_chunk_tokens = 254, .load_threads = 2,
                  .snapshot_dir = snap };
    kb_t *kb = NULL;
    ragd_error err;
    if (kb_open(&o, &kb, &err))
        fprintf(stderr, "kb_open: %s\n", err.msg);
    return kb;
}

static kb_t *open_kb(void)
{
    return open_kb_snap(g_snap);
}

static int count_keys(const char *prefix)
{
    return kbfx_count_keys(g_store, prefix);
}

static size_t search_n(kb_t *kb, const char *ns, const char *q, kb_search_type type,
                       const char *user, const kb_filter *f, size_t limit, kb_search_result *res)
{
    kb_search_opts o;
    kb_search_default_opts(&o);
    o.query = q;
    o.qlen = strlen(q);
    o.type = type;
    o.user_id = user;
    o.filter = f;
    o.limit = limit;
    const char *names[1] = { ns };
    o.namespaces = names;
    o.n_namespaces = ns ? 1 : 0;
    ragd_error err;
    if (kb_search(kb, &o, res, &err)) {
        fprintf(stderr, "kb_search: %s\n", err.msg);
        return (size_t)-1;
    }
    return res->n;
}

TEST(store_layout_round_trips)
{
    kb_doc d = { .id = "doc/1", .text = "bench \"press\"\nline", .len = 18, .user_id = "u1",
                 .n_chunks = 3, .updated_ms = 1234 };
    d.metadata = cJSON_Parse("{\"category\":\"knee\",\"level\":[1,2]}");
    buf_t b = BUF_INIT;
    kb__doc_encode(&d, &b);
    kb_doc *back = NULL;
    ASSERT_OK(kb__doc_decode(b.data, b.len, &back));
    ASSERT_EQ_STR(back->id, "doc/1");
    ASSERT_EQ_INT(back->len, 18);
    ASSERT_TRUE(memcmp(back->text, d.text, 18) == 0);
    ASSERT_EQ_STR(back->user_id, "u1");
    ASSERT_EQ_INT(back->n_chunks, 3);
    ASSERT_EQ_INT(back->chunks[2], UINT32_MAX);
    ASSERT_EQ_INT(back->updated_ms, 1234);
    ASSERT_TRUE(cJSON_Compare(back->metadata, d.metadata, 1));
    kb__doc_free(back);
    cJSON_Delete(d.metadata);
    ASSERT_EQ_INT(kb__doc_decode("{}", 2, &back), RAGD_EFORMAT);

    float v[4] = { 0.5f, -1.0f, 2.0f, 0.25f };
    buf_reset(&b);
    kb__chunk_encode(7, 19, 5, v, 4, &b);
    ASSERT_EQ_INT(b.len, KB_CHUNK_HDR + 16);
    uint32_t s, e, p, dim;
    const float *got;
    ASSERT_OK(kb__chunk_decode(b.data, b.len, &s, &e, &p, &dim, &got));
    ASSERT_EQ_INT(s, 7);
    ASSERT_EQ_INT(e, 19);
    ASSERT_EQ_INT(p, 5);
    ASSERT_EQ_INT(dim, 4);
    ASSERT_TRUE(memcmp(got, v, sizeof v) == 0);
    ASSERT_EQ_INT(kb__chunk_decode(b.data, b.len - 1, &s, &e, &p, &dim, &got), RAGD_EFORMAT);
    buf_reset(&b);
    kb__key_chunk(&b, "fit", "a:b", 12);
    ASSERT_EQ_STR(b.data, "kb:{fit}:chunk:a:b:12");
    buf_free(&b);
}

TEST(namespace_names_and_settings)
{
    kb_t *kb = open_kb();
    ASSERT_TRUE(kb != NULL);
    ragd_error err;
    ASSERT_EQ_INT(kb_ns_create(kb, "bad name", NULL, &err), RAGD_EINVAL);
    ASSERT_EQ_INT(kb_ns_create(kb, "a:b", NULL, &err), RAGD_EINVAL);
    kb_ns_settings st;
    kb_ns_settings_default(kb, &st);
    cJSON *j = cJSON_Parse("{\"chunk_size\":64,\"chunk_overlap\":8,\"description\":\"knees\","
                           "\"examples\":[\"my knee hurts\"]}");
    ASSERT_OK(kb_ns_settings_apply_json(kb, j, &st, &err));
    cJSON_Delete(j);
    j = cJSON_Parse("{\"chunk_overlap\":60}");
    ASSERT_EQ_INT(kb_ns_settings_apply_json(kb, j, &st, &err), RAGD_EINVAL);
    cJSON_Delete(j);
    j = cJSON_Parse("{\"embedding_model\":\"other-model\"}");
    ASSERT_EQ_INT(kb_ns_settings_apply_json(kb, j, &st, &err), RAGD_EINVAL);
    cJSON_Delete(j);
    st.chunk_overlap = 8;
    ASSERT_OK(kb_ns_create(kb, "settings", &st, &err));
    ASSERT_EQ_INT(kb_ns_create(kb, "settings", &st, &err), RAGD_EEXISTS);
    kb_ns_settings_clear(&st);
    kb_close(kb);
    kb = open_kb(); /* settings persist */
    kb_ns_info in;
    ASSERT_OK(kb_ns_get_info(kb, "settings", &in));
    ASSERT_EQ_INT(in.settings.chunk_size, 64);
    ASSERT_EQ_STR(in.settings.description, "knees");
    ASSERT_EQ_INT(in.settings.n_examples, 1);
    ASSERT_EQ_STR(in.settings.examples[0], "my knee hurts");
    kb_ns_info_clear(&in);
    ASSERT_OK(kb_ns_drop(kb, "settings", NULL));
    ASSERT_EQ_INT(count_keys("kb:{settings}:"), 0);
    kb_close(kb);
}

TEST(upsert_replace_delete_keep_store_and_indexes_in_step)
{
    kb_t *kb = open_kb();
    ragd_error err;
    kb_ns_settings st;
    kb_ns_settings_default(kb, &st);
    st.chunk_size = 8;
    st.chunk_overlap = 2;
    ASSERT_OK(kb_ns_create(kb, "docs", &st, &err));
    kb_ns_settings_clear(&st);
    const char *long_text = "the quick brown fox jumps over the lazy dog and the lazy dog "
                            "jumps over the quick brown fox for the exercise";
    kb_doc_in d[2] = { { "d1", long_text, strlen(long_text), NULL, NULL, 0 },
                       { "d2", "bench press for the chest", 25, NULL, NULL, 0 } };
    kb_upsert_stats us;
    ASSERT_OK(kb_docs_upsert(kb, "docs", d, 2, &us, &err));
    ASSERT_EQ_INT(us.documents, 2);
    ASSERT_TRUE(us.chunks >= 4);
    int chunks_d1 = count_keys("kb:{docs}:chunk:d1:");
    ASSERT_EQ_INT(chunks_d1, us.chunks - 1);
    kb_search_result r;
    size_t nfox = search_n(kb, "docs", "fox", KB_SEARCH_KEYWORD, NULL, NULL, 10, &r);
    ASSERT_TRUE(nfox >= 2 && (int)nfox <= chunks_d1); /* first and last chunk at least */
    for (size_t i = 0; i < nfox; i++)
        ASSERT_TRUE(strstr(r.hits[i].content, "fox") && !strcmp(r.hits[i].doc_id, "d1"));
    ASSERT_TRUE(memcmp(long_text + r.hits[0].start, r.hits[0].content, r.hits[0].content_len) == 0);
    kb_search_result_clear(&r);

    /* replace d1 with a short text: old chunks leave the store and the indexes */
    kb_doc_in d1b = { "d1", "squat knee pain", 15, NULL, NULL, 0 };
    ASSERT_OK(kb_docs_upsert(kb, "docs", &d1b, 1, &us, &err));
    ASSERT_EQ_INT(us.replaced, 1);
    ASSERT_EQ_INT(count_keys("kb:{docs}:chunk:d1:"), 1);
    ASSERT_EQ_INT(search_n(kb, "docs", "fox", KB_SEARCH_KEYWORD, NULL, NULL, 10, &r), 0);
    kb_search_result_clear(&r);
    ASSERT_EQ_INT(search_n(kb, "docs", "knee", KB_SEARCH_HYBRID, NULL, NULL, 10, &r), 2);
    ASSERT_EQ_STR(r.hits[0].doc_id, "d1");
    ASSERT_TRUE(r.hits[0].rank_kw == 1 && r.hits[0].rank_sem == 1);
    kb_search_result_clear(&r);
    kb_ns_info in;
    ASSERT_OK(kb_ns_get_info(kb, "docs", &in));
    ASSERT_EQ_INT(in.documents, 2);
    ASSERT_EQ_INT(in.chunks, 2);
    ASSERT_EQ_INT(in.hnsw_vectors, 2);
    kb_ns_info_clear(&in);

    ASSERT_OK(kb_doc_delete(kb, "docs", "d1"));
    ASSERT_EQ_INT(kb_doc_delete(kb, "docs", "d1"), RAGD_ENOTFOUND);
    ASSERT_EQ_INT(count_keys("kb:{docs}:chunk:d1:") + count_keys("kb:{docs}:doc:d1"), 0);
    ASSERT_EQ_INT(search_n(kb, "docs", "knee", KB_SEARCH_KEYWORD, NULL, NULL, 10, &r), 0);
    kb_search_result_clear(&r);
    cJSON *got = NULL;
    ASSERT_OK(kb_doc_get(kb, "docs", "d2", true, &got));
    ASSERT_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(got, "chunks")), 1);
    cJSON_Delete(got);
    ASSERT_OK(kb_ns_drop(kb, "docs", NULL));
    kb_close(kb);
}

static bool shared_or_owned_by(const void *user, const char *owner)
{
    return !owner || strcmp(owner, user) == 0;
}

TEST(users_see_their_own_and_shared_documents)
{
    kb_t *kb = open_kb();
    ragd_error err;
    ASSERT_OK(kb_ns_create(kb, "users", NULL, &err));
    kb_doc_in d[3] = { { "shared", "knee pain shared doc", 20, NULL, NULL, 0 },
                       { "alice", "knee pain private note", 22, NULL, "alice", 0 },
                       { "bob", "knee pain private note", 22, NULL, "bob", 0 } };
    ASSERT_OK(kb_docs_upsert(kb, "users", d, 3, NULL, &err));
    kb_search_type types[3] = { KB_SEARCH_KEYWORD, KB_SEARCH_SEMANTIC, KB_SEARCH_HYBRID };
    for (int t = 0; t < 3; t++) {
        kb_search_result r;
        ASSERT_EQ_INT(search_n(kb, "users", "knee pain", types[t], NULL, NULL, 10, &r), 1);
        ASSERT_EQ_STR(r.hits[0].doc_id, "shared");
        kb_search_result_clear(&r);
        ASSERT_EQ_INT(search_n(kb, "users", "knee pain", types[t], "alice", NULL, 10, &r), 2);
        for (size_t i = 0; i < r.n; i++)
            ASSERT_TRUE(strcmp(r.hits[i].doc_id, "bob") != 0);
        kb_search_result_clear(&r);
    }
    uint64_t n = 0, chunks = 0, bytes = 0;
    ASSERT_OK(kb_ns_count_visible(kb, "users", shared_or_owned_by, "alice", &n, &chunks, &bytes));
    ASSERT_EQ_INT(n, 2);  /* alice's per-user stats: the shared document and her own */
    ASSERT_EQ_INT(chunks, 2);
    ASSERT_EQ_INT(bytes, 20 + 22);
    ASSERT_EQ_INT(kb_ns_count_visible(kb, "nope", shared_or_owned_by, "alice", &n, &chunks,
                                      &bytes), RAGD_ENOTFOUND);
    ASSERT_OK(kb_docs_delete_where(kb, "users", NULL, "bob", &n));
    ASSERT_EQ_INT(n, 1);
    ASSERT_OK(kb_ns_drop(kb, "users", NULL));
    kb_close(kb);
}

TEST(owned_writes_never_replace_other_owners_documents)
{
    kb_t *kb = open_kb();
    ragd_error err;
    ASSERT_OK(kb_ns_create(kb, "own", NULL, &err));
    kb_doc_in d[2] = { { "shared", "shared squat guide", 18, NULL, NULL, 0 },
                       { "a", "alice knee diary", 16, NULL, "alice", 0 } };
    ASSERT_OK(kb_docs_upsert(kb, "own", d, 2, NULL, &err));
    /* bob on alice's id, bob on a shared id: refused, the whole batch */
    kb_doc_in evil = { "a", "bob owns this now", 17, NULL, "bob", 0 };
    ASSERT_EQ_INT(kb_docs_upsert(kb, "own", &evil, 1, NULL, &err), RAGD_ENOTFOUND);
    kb_doc_in batch[2] = { { "b-new", "bob fresh note", 14, NULL, "bob", 0 },
                           { "shared", "bob rewrote the guide", 21, NULL, "bob", 0 } };
    ASSERT_EQ_INT(kb_docs_upsert(kb, "own", batch, 2, NULL, &err), RAGD_ENOTFOUND);
    ASSERT_TRUE(strstr(err.msg, "documents[1]") != NULL);
    cJSON *got = NULL;
    ASSERT_EQ_INT(kb_doc_get(kb, "own", "b-new", false, &got), RAGD_ENOTFOUND);
    ASSERT_EQ_INT(count_keys("kb:{own}:doc:b-new"), 0);
    ASSERT_OK(kb_doc_get(kb, "own", "a", false, &got));
    ASSERT_EQ_STR(cJSON_GetObjectItem(got, "user_id")->valuestring, "alice");
    ASSERT_EQ_STR(cJSON_GetObjectItem(got, "text")->valuestring, "alice knee diary");
    cJSON_Delete(got);
    ASSERT_OK(kb_doc_get(kb, "own", "shared", false, &got));
    ASSERT_TRUE(cJSON_IsNull(cJSON_GetObjectItem(got, "user_id")));
    cJSON_Delete(got);
    /* the owner replaces its own; a shared (service) write replaces anything */
    kb_upsert_stats us;
    kb_doc_in mine = { "a", "alice knee diary v2", 19, NULL, "alice", 0 };
    ASSERT_OK(kb_docs_upsert(kb, "own", &mine, 1, &us, &err));
    ASSERT_EQ_INT(us.replaced, 1);
    kb_doc_in svc = { "a", "now shared", 10, NULL, NULL, 0 };
    ASSERT_OK(kb_docs_upsert(kb, "own", &svc, 1, &us, &err));
    ASSERT_EQ_INT(us.replaced, 1);
    ASSERT_OK(kb_ns_drop(kb, "own", NULL));
    kb_close(kb);
}

/* Chunks with the same text collapse into the best-ranked one, which lists the
 * others; the limit counts distinct texts. */
TEST(identical_texts_collapse_into_one_hit)
{
    kb_t *kb = open_kb();
    ragd_error err;
    ASSERT_OK(kb_ns_create(kb, "dups", NULL, &err));
    kb_doc_in d[4] = { { "a", "bench press for the chest", 25, NULL, NULL, 0 },
                       { "b", "bench press for the chest", 25, NULL, NULL, 0 },
                       { "c", "bench press for the chest", 25, NULL, NULL, 0 },
                       { "d", "squat for the leg", 17, NULL, NULL, 0 } };
    ASSERT_OK(kb_docs_upsert(kb, "dups", d, 4, NULL, &err));
    kb_search_type types[3] = { KB_SEARCH_KEYWORD, KB_SEARCH_SEMANTIC, KB_SEARCH_HYBRID };
    for (int t = 0; t < 3; t++) {
        kb_search_result r;
        ASSERT_EQ_INT(search_n(kb, "dups", "bench press", types[t], NULL, NULL, 10, &r),
                      types[t] == KB_SEARCH_KEYWORD ? 1 : 2);
        ASSERT_EQ_INT(r.hits[0].n_dups, 2);
        ASSERT_EQ_STR(r.hits[0].dups[0].ns, "dups");
        ASSERT_TRUE(strcmp(r.hits[0].dups[0].doc_id, r.hits[0].doc_id) != 0);
        ASSERT_TRUE(strcmp(r.hits[0].dups[1].doc_id, r.hits[0].dups[0].doc_id) != 0);
        ASSERT_EQ_INT(r.hits[0].dups[0].chunk_index, 0);
        if (r.n > 1) {
            ASSERT_EQ_STR(r.hits[1].doc_id, "d");
            ASSERT_EQ_INT(r.hits[1].n_dups, 0);
        }
        kb_search_result_clear(&r);
    }
    kb_search_result r;
    ASSERT_EQ_INT(search_n(kb, "dups", "bench press chest squat leg", KB_SEARCH_HYBRID, NULL, NULL,
                           1, &r), 1);
    kb_search_result_clear(&r);
    ASSERT_OK(kb_ns_drop(kb, "dups", NULL));
    kb_close(kb);
}

TEST(selective_filters_still_fill_the_limit_and_survive_reopen)
{
    kb_t *kb = open_kb();
    ragd_error err;
    ASSERT_OK(kb_ns_create(kb, "many", NULL, &err));
    enum { N = 3000 };
    static char ids[N][16], texts[N][64], mds[N][64];
    kb_doc_in *d = calloc(N, sizeof *d);
    cJSON **md = calloc(N, sizeof *md);
    const char *words[] = { "fox", "dog", "knee", "chest", "bench", "squat", "leg", "pain" };
    for (int i = 0; i < N; i++) {
        snprintf(ids[i], sizeof ids[i], "d%d", i);
        snprintf(texts[i], sizeof texts[i], "%s %s exercise %s", words[i % 8], words[(i / 8) % 8],
                 words[(i / 64) % 8]);
        snprintf(mds[i], sizeof mds[i], "{\"rare\":%s,\"year\":%d}", i % 150 == 0 ? "true" : "false",
                 1900 + i % 200);
        md[i] = cJSON_Parse(mds[i]);
        d[i] = (kb_doc_in){ ids[i], texts[i], strlen(texts[i]), md[i], NULL, 0 };
    }
    for (int at = 0; at < N; at += 1000)
        ASSERT_OK(kb_docs_upsert(kb, "many", d + at, 1000, NULL, &err));
    cJSON *fj = cJSON_Parse("{\"rare\":true,\"year\":{\"$gte\":1900}}");
    kb_filter *f;
    ASSERT_OK(kb_filter_compile(fj, &f, &err));
    kb_search_type types[3] = { KB_SEARCH_KEYWORD, KB_SEARCH_SEMANTIC, KB_SEARCH_HYBRID };
    kb_search_result before[3];
    for (int t = 0; t < 3; t++) { /* 20 of 3000 match; every one contains "exercise" */
        ASSERT_EQ_INT(search_n(kb, "many", "exercise fox", types[t], NULL, f, 15, &before[t]), 15);
        for (size_t i = 0; i < 15; i++)
            ASSERT_TRUE(cJSON_IsTrue(cJSON_GetObjectItem(before[t].hits[i].metadata, "rare")));
    }
    kb_close(kb); /* writes the snapshot */
    kb = open_kb();
    ASSERT_EQ_INT(kb_snapshots_loaded(kb), 1);
    kb_ns_info in;
    ASSERT_OK(kb_ns_get_info(kb, "many", &in));
    ASSERT_EQ_INT(in.documents, N);
    ASSERT_EQ_INT(in.chunks, N);
    ASSERT_EQ_INT(in.hnsw_vectors, N);
    kb_ns_info_clear(&in);
    for (int t = 0; t < 3; t++) {
        kb_search_result r;
        ASSERT_EQ_INT(search_n(kb, "many", "exercise fox", types[t], NULL, f, 15, &r), 15);
        for (size_t i = 0; i < 15; i++) {
            /* equal scores may swap (ties break on internal ids, renumbered at load) */
            ASSERT_TRUE(cJSON_IsTrue(cJSON_GetObjectItem(r.hits[i].metadata, "rare")));
            ASSERT_NEAR(r.hits[i].score, before[t].hits[i].score, 1e-4);
        }
        kb_search_result_clear(&r);
        kb_search_result_clear(&before[t]);
    }
    float c[KBFX_DIM];
    ASSERT_OK(kb_ns_centroid(kb, "many", c, KBFX_DIM));
    /* a change made without the snapshot directory: the snapshot loads and the
     * namespace's log is replayed from its position */
    kb_close(kb);
    kb = open_kb_snap(NULL);
    kb_doc_in extra = { "extra", "fox exercise extra", 18, md[0], NULL, 0 };
    ASSERT_OK(kb_docs_upsert(kb, "many", &extra, 1, NULL, &err));
    ASSERT_OK(kb_doc_delete(kb, "many", "d1"));
    kb_close(kb);
    kb = open_kb();
    kb_repl_status rs;
    kb_repl_status_get(kb, &rs);
    ASSERT_EQ_INT(kb_snapshots_loaded(kb), 1);
    ASSERT_EQ_INT(rs.replayed, 2);
    ASSERT_EQ_INT(rs.rebuilds, 0);
    ASSERT_OK(kb_ns_get_info(kb, "many", &in));
    ASSERT_EQ_INT(in.documents, N);
    ASSERT_EQ_INT(in.hnsw_vectors, N);
    kb_ns_info_clear(&in);
    cJSON *gone = NULL;
    ASSERT_EQ_INT(kb_doc_get(kb, "many", "d1", false, &gone), RAGD_ENOTFOUND);
    /* the log trimmed past the snapshot: rebuilt from the store */
    kb_close(kb);
    kb = open_kb_snap(NULL);
    ASSERT_OK(kb_doc_delete(kb, "many", "d2"));
    ASSERT_OK(kb_doc_delete(kb, "many", "d3"));
    kb_close(kb);
    ASSERT_OK(store_log_trim(g_store, "kb:{many}:log", 1));
    kb = open_kb();
    kb_repl_status_get(kb, &rs);
    ASSERT_EQ_INT(kb_snapshots_loaded(kb), 0);
    ASSERT_EQ_INT(rs.rebuilds, 1);
    ASSERT_EQ_INT(rs.replayed, 0);
    ASSERT_OK(kb_ns_get_info(kb, "many", &in));
    ASSERT_EQ_INT(in.documents, N - 2);
    ASSERT_EQ_INT(in.hnsw_vectors, N - 2);
    kb_ns_info_clear(&in);
    kb_close(kb); /* a fresh snapshot; then damage it: rebuilt, no crash */
    char path[700];
    snprintf(path, sizeof path, "%s/many.kbsnap", g_snap);
    FILE *fp = fopen(path, "r+b");
    ASSERT_TRUE(fp != NULL);
    ASSERT_OK(fseek(fp, 200, SEEK_SET));
    int ch = fgetc(fp);
    ASSERT_OK(fseek(fp, 200, SEEK_SET));
    fputc(ch ^ 0x5a, fp);
    fclose(fp);
    kb = open_kb();
    kb_repl_status_get(kb, &rs);
    ASSERT_EQ_INT(kb_snapshots_loaded(kb), 0);
    ASSERT_EQ_INT(rs.rebuilds, 1);
    ASSERT_OK(kb_ns_get_info(kb, "many", &in));
    ASSERT_EQ_INT(in.documents, N - 2);
    ASSERT_EQ_INT(in.hnsw_vectors, N - 2);
    kb_ns_info_clear(&in);
    kb_search_result r2;
    ASSERT_EQ_INT(search_n(kb, "many", "fox exercise extra", KB_SEARCH_SEMANTIC, NULL, NULL, 1, &r2), 1);
    ASSERT_EQ_STR(r2.hits[0].doc_id, "extra");
    kb_search_result_clear(&r2);
    kb_filter_destroy(f);
    cJSON_Delete(fj);
    for (int i = 0; i < N; i++)
        cJSON_Delete(md[i]);
    free(md);
    free(d);
    ASSERT_OK(kb_ns_drop(kb, "many", NULL));
    kb_close(kb);
}

typedef struct race_ctx {
    kb_t *kb;
    _Atomic int stop;  /* atomics: both searchers and the writer touch them */
    _Atomic int bad;
} race_ctx;

static void *race_searcher(void *ud)
{
    race_ctx *c = ud;
    while (!c->stop) {
        kb_search_result r;
        if (search_n(c->kb, "race", "knee pain", KB_SEARCH_HYBRID, NULL, NULL, 5, &r) == (size_t)-1)
            c->bad++;
        for (size_t i = 0; i < r.n; i++)
            if (strstr(r.hits[i].content, "knee") == NULL && strstr(r.hits[i].content, "leg") == NULL)
                c->bad++;
        kb_search_result_clear(&r);
    }
    return NULL;
}

TEST(searches_run_during_writes)
{
    kb_t *kb = open_kb();
    ragd_error err;
    ASSERT_OK(kb_ns_create(kb, "race", NULL, &err));
    race_ctx c = { .kb = kb };
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, race_searcher, &c);
    for (int round = 0; round < 30; round++) {
        kb_doc_in d[4];
        char ids[4][16];
        for (int i = 0; i < 4; i++) {
            snprintf(ids[i], sizeof ids[i], "r%d", i);
            d[i] = (kb_doc_in){ ids[i], round % 2 ? "knee pain squat" : "leg pain bench", 15, NULL, NULL, 0 };
        }
        ASSERT_OK(kb_docs_upsert(kb, "race", d, 4, NULL, &err));
        if (round % 5 == 2)
            ASSERT_OK(kb_doc_delete(kb, "race", "r0"));
    }
    c.stop = 1;
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    ASSERT_EQ_INT(c.bad, 0);
    kb_ns_info in;
    ASSERT_OK(kb_ns_get_info(kb, "race", &in));
    ASSERT_EQ_INT(in.documents, 4);
    ASSERT_EQ_INT(in.hnsw_vectors, 4);
    kb_ns_info_clear(&in);
    ASSERT_OK(kb_ns_drop(kb, "race", NULL));
    kb_close(kb);
}
/* Two instances on one store (as two ragd processes on one Redis): a create
 * the other did not see is still refused, and a settings change from a stale
 * instance is a conflict that leaves it holding the current settings. */
TEST(two_instances_agree_on_namespace_life_cycle)
{
    kb_t *a = open_kb_snap(NULL), *b = open_kb_snap(NULL);
    ragd_error err;
    ASSERT_OK(kb_ns_create(a, "late", NULL, &err));
    ASSERT_TRUE(!kb_ns_exists(b, "late"));
    ASSERT_EQ_INT(kb_ns_create(b, "late", NULL, &err), RAGD_EEXISTS);
    kb_close(b);
    b = open_kb_snap(NULL); /* b knows "late" at version 1 */
    kb_ns_settings st;
    kb_ns_settings_default(a, &st);
    st.hnsw_ef_search = 77;
    ASSERT_OK(kb_ns_update(a, "late", &st, &err));
    st.hnsw_ef_search = 55;
    ASSERT_EQ_INT(kb_ns_update(b, "late", &st, &err), RAGD_ECONFLICT);
    kb_ns_info in;
    ASSERT_OK(kb_ns_get_info(b, "late", &in));
    ASSERT_EQ_INT(in.settings.hnsw_ef_search, 77); /* b took a's settings */
    kb_ns_info_clear(&in);
    ASSERT_OK(kb_ns_update(b, "late", &st, &err)); /* the retry wins */
    ASSERT_EQ_INT(kb_ns_update(a, "late", &st, &err), RAGD_ECONFLICT);
    kb_ns_settings_clear(&st);
    ASSERT_OK(kb_ns_drop(a, "late", NULL));
    kb_ns_settings_default(b, &st);
    ASSERT_EQ_INT(kb_ns_update(b, "late", &st, &err), RAGD_ENOTFOUND); /* gone from the store */
    kb_ns_settings_clear(&st);
    kb_close(a);
    kb_close(b);
}

typedef struct log_seen {
    int n;
    uint64_t last_seq;
    char recs[4][256];
} log_seen;

static int log_seen_cb(void *ud, uint64_t seq, const void *rec, size_t len)
{
    log_seen *ls = ud;
    if (ls->n < 4)
        snprintf(ls->recs[ls->n], sizeof ls->recs[0], "%.*s", (int)len, (const char *)rec);
    ls->n += seq > ls->last_seq; /* strictly increasing */
    ls->last_seq = seq;
    return 0;
}

/* Every document write appends one record to the namespace's change log,
 * carrying the version token the write stored and the writing instance; the
 * namespace's creation and drop go to kb:nslog, and the drop removes the
 * namespace's log with its keys. */
TEST(writes_append_to_the_change_log)
{
    kb_t *kb = open_kb_snap(NULL);
    ragd_error err;
    uint64_t first = 0, ns_before = 0, ns_after = 0;
    ASSERT_OK(store_log_bounds(g_store, "kb:nslog", &first, &ns_before));
    ASSERT_OK(kb_ns_create(kb, "logged", NULL, &err));
    kb_doc_in d[2] = { { "a", "bench press", 11, NULL, NULL, 0 }, { "b", "squat", 5, NULL, NULL, 0 } };
    ASSERT_OK(kb_docs_upsert(kb, "logged", d, 2, NULL, &err));
    store_value ver;
    ASSERT_OK(store_get(g_store, "kb:{logged}:ver", 15, &ver));
    ASSERT_OK(kb_doc_delete(kb, "logged", "a"));
    log_seen ls = { 0 };
    ASSERT_OK(store_log_read(g_store, "kb:{logged}:log", 0, log_seen_cb, &ls));
    ASSERT_EQ_INT(ls.n, 2);
    char want[160];
    snprintf(want, sizeof want, "{\"op\":\"upsert\",\"ids\":[\"a\",\"b\"],\"ver\":\"%.*s\","
             "\"origin\":\"", (int)ver.len, (const char *)ver.data);
    store_value_free(&ver);
    ASSERT_TRUE(strncmp(ls.recs[0], want, strlen(want)) == 0);
    const char *del = "{\"op\":\"delete\",\"ids\":[\"a\"],";
    ASSERT_TRUE(strncmp(ls.recs[1], del, strlen(del)) == 0);
    ASSERT_OK(kb_ns_drop(kb, "logged", NULL));
    uint64_t last = 9;
    ASSERT_OK(store_log_bounds(g_store, "kb:{logged}:log", &first, &last));
    ASSERT_EQ_INT(last, 0);
    memset(&ls, 0, sizeof ls);
    ASSERT_OK(store_log_read(g_store, "kb:nslog", ns_before, log_seen_cb, &ls));
    ASSERT_EQ_INT(ls.n, 2);
    ASSERT_TRUE(strncmp(ls.recs[0], "{\"op\":\"create\",\"ns\":\"logged\",\"origin\":\"", 38) == 0);
    ASSERT_TRUE(strncmp(ls.recs[1], "{\"op\":\"drop\",\"ns\":\"logged\",\"origin\":\"", 36) == 0);
    ASSERT_OK(store_log_bounds(g_store, "kb:nslog", &first, &ns_after));
    ASSERT_EQ_INT(ns_after, ns_before + 2);
    kb_close(kb);
}

/* Keys of a namespace copied back to the layout before hash tags. */
typedef struct old_keys {
    char keys[16][128];
    buf_t vals[16];
    int n;
} old_keys;

static int old_keys_cb(void *ud, const char *k, size_t kl, const void *v, size_t vl)
{
    old_keys *o = ud;
    if (o->n < 16 && kl < 120) {
        snprintf(o->keys[o->n], sizeof o->keys[0], "%.*s", (int)kl, k);
        buf_append(&o->vals[o->n], v, vl);
        o->n++;
    }
    return 0;
}

/* Data in the layout before hash tags (kb:<ns>:meta, ...) is moved once at
 * start to kb:{<ns>}:... and loads as before. */
TEST(old_key_layout_moves_at_start)
{
    kb_t *kb = open_kb_snap(NULL);
    ragd_error err;
    ASSERT_OK(kb_ns_create(kb, "mig", NULL, &err));
    kb_doc_in d = { "m1", "bench press", 11, NULL, NULL, 0 };
    ASSERT_OK(kb_docs_upsert(kb, "mig", &d, 1, NULL, &err));
    kb_close(kb);
    old_keys o = { 0 };
    ASSERT_OK(store_scan(g_store, "kb:{mig}:", 9, true, old_keys_cb, &o));
    ASSERT_TRUE(o.n >= 4); /* meta, doc, chunk, ver */
    for (int i = 0; i < o.n; i++) {
        char old[140];
        snprintf(old, sizeof old, "kb:mig:%s", o.keys[i] + 9);
        ASSERT_OK(store_set(g_store, old, strlen(old), o.vals[i].data, o.vals[i].len, 0, 0));
        ASSERT_OK(store_del(g_store, o.keys[i], strlen(o.keys[i])));
        buf_free(&o.vals[i]);
    }
    ASSERT_EQ_INT(count_keys("kb:{mig}:"), 0);
    /* an older ragd's store has no registry of names: the start checks the layout */
    ASSERT_OK(store_del(g_store, "kb:registry", 11));
    kb = open_kb_snap(NULL);
    ASSERT_TRUE(kb_ns_exists(kb, "mig"));
    cJSON *doc = NULL;
    ASSERT_OK(kb_doc_get(kb, "mig", "m1", false, &doc));
    cJSON_Delete(doc);
    ASSERT_EQ_INT(count_keys("kb:mig:"), 0);
    ASSERT_EQ_INT(count_keys("kb:{mig}:"), o.n);
    ASSERT_OK(kb_ns_drop(kb, "mig", NULL));
    kb_close(kb);
}

/* What kb asks of its embedder: an upsert's chunks as bulk work under the
 * namespace (or kb_admit.tenant), a search's query as a query. */
static struct { kb_embed_class cls[8]; char tenant[8][32]; int n; } g_seen;

static int rec_embed(void *ud, kb_embed_class cls, const char *tenant, const char *const *texts,
                     const size_t *lens, size_t n, float *out)
{
    if (g_seen.n < 8) {
        g_seen.cls[g_seen.n] = cls;
        snprintf(g_seen.tenant[g_seen.n], sizeof g_seen.tenant[0], "%s", tenant);
        g_seen.n++;
    }
    return kbfx_embed(ud, cls, tenant, texts, lens, n, out);
}

TEST(embeddings_name_their_class_and_tenant)
{
    kb_opts o = { .store = g_store, .tokenizer = g_wp, .embed = rec_embed, .dim = KBFX_DIM,
                  .model = "bow", .max_chunk_tokens = 254, .load_threads = 1 };
    kb_t *kb = NULL;
    ragd_error err;
    ASSERT_OK(kb_open(&o, &kb, &err));
    ASSERT_OK(kb_ns_create(kb, "classy", NULL, &err));
    kb_doc_in d = { "a", "bench press", 11, NULL, NULL, 0 };
    ASSERT_OK(kb_docs_upsert(kb, "classy", &d, 1, NULL, &err));
    kb_admit adm = { .tenant = "user-7" };
    ASSERT_OK(kb_docs_upsert_admit(kb, "classy", &d, 1, &adm, NULL, &err));
    kb_search_result res;
    ASSERT_EQ_INT(search_n(kb, "classy", "bench", KB_SEARCH_HYBRID, NULL, NULL, 5, &res), 1);
    kb_search_result_clear(&res);
    ASSERT_OK(kb_ns_drop(kb, "classy", NULL));
    kb_close(kb);
    ASSERT_EQ_INT(g_seen.n, 3);
    ASSERT_EQ_INT(g_seen.cls[0], KB_EMBED_BULK);
    ASSERT_EQ_STR(g_seen.tenant[0], "classy");
    ASSERT_EQ_INT(g_seen.cls[1], KB_EMBED_BULK);
    ASSERT_EQ_STR(g_seen.tenant[1], "user-7");
    ASSERT_EQ_INT(g_seen.cls[2], KB_EMBED_QUERY);
    ASSERT_EQ_STR(g_seen.tenant[2], "");
}

int main(void)
{
    if (!mkdtemp(g_dir) || !(g_wp = kbfx_tokenizer(g_dir)) || !(g_store = kbfx_store(g_dir)))
        return 1;
    snprintf(g_snap, sizeof g_snap, "%s/snap", g_dir);
    RUN(store_layout_round_trips);
    RUN(namespace_names_and_settings);
    RUN(upsert_replace_delete_keep_store_and_indexes_in_step);
    RUN(users_see_their_own_and_shared_documents);
    RUN(owned_writes_never_replace_other_owners_documents);
    RUN(identical_texts_collapse_into_one_hit);
    RUN(selective_filters_still_fill_the_limit_and_survive_reopen);
    RUN(searches_run_during_writes);
    RUN(two_instances_agree_on_namespace_life_cycle);
    RUN(writes_append_to_the_change_log);
    RUN(old_key_layout_moves_at_start);
    RUN(embeddings_name_their_class_and_tenant);
    store_close(g_store);
    wordpiece_close(g_wp);
    kbfx_rmdir(g_dir);
    return TEST_REPORT();
}
