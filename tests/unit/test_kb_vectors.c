/*
 * test_kb_vectors.c - namespaces whose documents bring their own vectors,
 * over a real LMDB store: settings (no model, dimension, metric) validated
 * and persisted, vectors checked before anything is written, the caller's
 * chunks kept as given, searches by vector under each metric, a reopen from
 * the store and from the snapshot, and a meta record of the older layout
 * (no dimension) read with the loaded model's dimension.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kb_fixture.h"
#include "kb/kb_int.h"
#include "kb/search.h"
#include "testing.h"

static char g_dir[] = "/tmp/ragd-test-kbv-XXXXXX";
static wordpiece *g_wp;
static store_t *g_store;

static kb_t *open_kb(const char *snap)
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

static int create(kb_t *kb, const char *name, const char *json)
{
    kb_ns_settings st;
    kb_ns_settings_default(kb, &st);
    cJSON *j = cJSON_Parse(json);
    ragd_error err;
    int rc = kb_ns_settings_apply_json(kb, j, &st, &err);
    if (!rc)
        rc = kb_ns_create(kb, name, &st, &err);
    cJSON_Delete(j);
    kb_ns_settings_clear(&st);
    return rc;
}

static int put(kb_t *kb, const char *ns, const char *id, const char *text, const float *v,
               size_t dim)
{
    kb_doc_in d = { .id = id, .text = text, .len = strlen(text) };
    kb_doc_vec dv = { .vector = v, .dim = dim };
    ragd_error err;
    return kb_docs_upsert_vec(kb, ns, &d, &dv, 1, NULL, NULL, &err);
}

/* The ids of a semantic search by vector q, best first, joined by spaces. */
static const char *by_vector(kb_t *kb, const char *ns, const float *q, size_t dim)
{
    static char out[256];
    kb_search_opts o;
    kb_search_default_opts(&o);
    o.vector = q;
    o.dim = dim;
    o.type = KB_SEARCH_SEMANTIC;
    o.limit = 5;
    o.namespaces = &ns;
    o.n_namespaces = 1;
    kb_search_result res;
    ragd_error err;
    out[0] = '\0';
    if (kb_search(kb, &o, &res, &err))
        return res.bad_dim ? "bad_dim" : "error";
    for (size_t i = 0; i < res.n; i++)
        snprintf(out + strlen(out), sizeof out - strlen(out), "%s%s", i ? " " : "",
                 res.hits[i].doc_id);
    kb_search_result_clear(&res);
    return out;
}

static int count_keys(const char *prefix)
{
    return kbfx_count_keys(g_store, prefix);
}

TEST(settings_without_a_model)
{
    kb_t *kb = open_kb(NULL);
    ASSERT_TRUE(kb != NULL);
    ASSERT_EQ_INT(create(kb, "nodim", "{\"embedding_model\":null}"), RAGD_EINVAL);
    ASSERT_EQ_INT(create(kb, "baddim", "{\"embedding_model\":\"bow\",\"dimension\":3}"),
                  RAGD_EINVAL);
    ASSERT_EQ_INT(create(kb, "badmetric", "{\"dimension\":3,\"metric\":\"manhattan\"}"),
                  RAGD_EINVAL);
    ASSERT_EQ_INT(create(kb, "nomodel", "{\"embedding_model\":\"remote-x\"}"), RAGD_EINVAL);
    ASSERT_OK(create(kb, "byo", "{\"dimension\":3,\"metric\":\"l2\"}"));
    ASSERT_OK(create(kb, "own", "{\"embedding_model\":\"bow\",\"dimension\":64}"));
    kb_close(kb);
    kb = open_kb(NULL);
    kb_ns_info in;
    ASSERT_OK(kb_ns_get_info(kb, "byo", &in));
    ASSERT_EQ_STR(in.settings.model, "");
    ASSERT_EQ_INT(in.settings.dim, 3);
    ASSERT_EQ_INT(in.settings.metric, VEC_L2);
    cJSON *j = kb_ns_settings_to_json(&in.settings);
    ASSERT_TRUE(cJSON_IsNull(cJSON_GetObjectItem(j, "embedding_model")));
    ASSERT_EQ_STR(cJSON_GetObjectItem(j, "metric")->valuestring, "l2");
    cJSON_Delete(j);
    kb_ns_info_clear(&in);
    ASSERT_OK(kb_ns_get_info(kb, "own", &in));
    ASSERT_EQ_STR(in.settings.model, "bow");
    ASSERT_EQ_INT(in.settings.dim, KBFX_DIM);
    kb_ns_info_clear(&in);
    ASSERT_OK(kb_ns_drop(kb, "byo", NULL));
    ASSERT_OK(kb_ns_drop(kb, "own", NULL));
    kb_close(kb);
}

TEST(bad_vectors_change_nothing)
{
    kb_t *kb = open_kb(NULL);
    ASSERT_OK(create(kb, "v", "{\"dimension\":3}"));
    float ok[3] = { 1, 0, 0 }, zero[3] = { 0, 0, 0 }, inf[3] = { 1, INFINITY, 0 };
    ASSERT_OK(put(kb, "v", "a", "alpha", ok, 3));
    int keys = count_keys("kb:v:");
    ASSERT_EQ_INT(put(kb, "v", "b", "beta", ok, 2), RAGD_EINVAL);
    ASSERT_EQ_INT(put(kb, "v", "b", "beta", inf, 3), RAGD_EINVAL);
    ASSERT_EQ_INT(put(kb, "v", "b", "beta", zero, 3), RAGD_EINVAL);   /* no cosine */
    ASSERT_EQ_INT(put(kb, "v", "b", "beta", NULL, 0), RAGD_EINVAL);   /* no model */
    kb_doc_in d = { .id = "c", .text = "gamma", .len = 5 };
    kb_chunk_in ch[1] = { { 2, 9, ok } };                             /* past the end */
    kb_doc_vec dv = { .chunks = ch, .n_chunks = 1, .dim = 3 };
    ragd_error err;
    ASSERT_EQ_INT(kb_docs_upsert_vec(kb, "v", &d, &dv, 1, NULL, NULL, &err), RAGD_EINVAL);
    ASSERT_EQ_INT(count_keys("kb:v:"), keys);
    ASSERT_EQ_STR(by_vector(kb, "v", ok, 3), "a");
    ASSERT_EQ_STR(by_vector(kb, "v", ok, 2), "bad_dim");
    /* a keyword-only namespace (no dimension) takes no vectors */
    ASSERT_OK(create(kb, "kw", "{\"embedding_model\":\"none\",\"dimension\":2}"));
    ASSERT_OK(kb_ns_drop(kb, "kw", NULL));
    ASSERT_OK(kb_ns_drop(kb, "v", NULL));
    kb_close(kb);
}

TEST(chunks_as_given_and_metrics)
{
    char snap[600];
    snprintf(snap, sizeof snap, "%s/snap", g_dir);
    kb_t *kb = open_kb(snap);
    ASSERT_OK(create(kb, "l2", "{\"dimension\":2,\"metric\":\"l2\"}"));
    ASSERT_OK(create(kb, "dot", "{\"dimension\":2,\"metric\":\"dot\"}"));
    const char *names[2] = { "l2", "dot" };
    float small[2] = { 1, 0 }, big[2] = { 10, 1 }, near[2] = { 2.1f, 0.1f }, q[2] = { 2, 0 };
    for (int i = 0; i < 2; i++) {
        ASSERT_OK(put(kb, names[i], "small", "small", small, 2));
        ASSERT_OK(put(kb, names[i], "big", "big", big, 2));
        ASSERT_OK(put(kb, names[i], "near", "near", near, 2));
    }
    const char *text = "one two three";
    kb_doc_in d = { .id = "split", .text = text, .len = strlen(text) };
    float far[2] = { -5, -5 };
    kb_chunk_in ch[2] = { { 0, 3, far }, { 4, 13, NULL } };
    kb_doc_vec dv = { .chunks = ch, .n_chunks = 2, .dim = 2 };
    ragd_error err;
    /* the second chunk has no vector and the namespace no model */
    ASSERT_EQ_INT(kb_docs_upsert_vec(kb, "l2", &d, &dv, 1, NULL, NULL, &err), RAGD_EINVAL);
    ch[1].vector = far;
    ASSERT_OK(kb_docs_upsert_vec(kb, "l2", &d, &dv, 1, NULL, NULL, &err));
    cJSON *doc = NULL;
    ASSERT_OK(kb_doc_get(kb, "l2", "split", true, &doc));
    const cJSON *c1 = cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "chunks"), 1);
    ASSERT_EQ_INT(cJSON_GetObjectItem(c1, "start")->valueint, 4);
    ASSERT_EQ_INT(cJSON_GetObjectItem(c1, "end")->valueint, 13);
    cJSON_Delete(doc);
    for (int round = 0; round < 3; round++) { /* live, from the snapshot, from the store */
        ASSERT_EQ_STR(by_vector(kb, "l2", q, 2), "near small big split split");
        ASSERT_EQ_STR(by_vector(kb, "dot", q, 2), "big near small");
        kb_close(kb);
        kb = open_kb(round == 0 ? snap : NULL);
        if (round == 0)
            ASSERT_EQ_INT(kb_snapshots_loaded(kb), 2);
    }
    ASSERT_OK(kb_ns_drop(kb, "l2", NULL));
    ASSERT_OK(kb_ns_drop(kb, "dot", NULL));
    kb_close(kb);
}

TEST(older_meta_records_get_the_models_dimension)
{
    const char *meta = "{\"name\":\"old\",\"created_at\":1,\"version\":1,\"settings\":"
                       "{\"chunk_size\":200,\"chunk_overlap\":40,\"embedding_model\":\"bow\"}}";
    ASSERT_OK(store_set(g_store, "kb:old:meta", 11, meta, strlen(meta), 0, 0));
    ASSERT_OK(store_del(g_store, "kb:registry", 11)); /* an older ragd's store has none */
    kb_t *kb = open_kb(NULL);
    kb_ns_info in;
    ASSERT_OK(kb_ns_get_info(kb, "old", &in));
    ASSERT_EQ_INT(in.settings.dim, KBFX_DIM);
    ASSERT_EQ_INT(in.settings.metric, VEC_COSINE);
    kb_ns_info_clear(&in);
    kb_doc_in d = { .id = "x", .text = "bench press", .len = 11 };
    ragd_error err;
    ASSERT_OK(kb_docs_upsert(kb, "old", &d, 1, NULL, &err));
    ASSERT_OK(kb_ns_drop(kb, "old", NULL));
    kb_close(kb);
}

int main(void)
{
    if (!mkdtemp(g_dir) || !(g_wp = kbfx_tokenizer(g_dir)) || !(g_store = kbfx_store(g_dir)))
        return 1;
    RUN(settings_without_a_model);
    RUN(bad_vectors_change_nothing);
    RUN(chunks_as_given_and_metrics);
    RUN(older_meta_records_get_the_models_dimension);
    store_close(g_store);
    wordpiece_close(g_wp);
    kbfx_rmdir(g_dir);
    return TEST_REPORT();
}
