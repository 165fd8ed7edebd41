/*
 * test_kb_snap.c - namespace snapshots and the registry of names at start,
 * over a real LMDB store: a start with a registry and snapshots scans no key
 * and answers as before (documents, metadata, owners, keyword and semantic
 * hits, the BM25 and HNSW counts); a truncated or damaged snapshot, or one of
 * another version, is rebuilt from the store (counted, never a crash); a
 * store without a registry is scanned once and given one; create and drop
 * keep the registry in step; the snapshot folder (parents too) is made by the
 * first snapshot written, never by an open that writes none.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kb_fixture.h"
#include "kb/kb_int.h"
#include "kb/search.h"
#include "testing.h"

static char g_dir[] = "/tmp/ragd-test-kb-snap-XXXXXX";
static char g_snap[600];
static wordpiece *g_wp;
static store_t *g_store;

static kb_t *open_kb(void)
{
    kb_opts o = { .store = g_store, .tokenizer = g_wp, .embed = kbfx_embed, .dim = KBFX_DIM,
                  .model = "bow", .max_chunk_tokens = 254, .load_threads = 2,
                  .snapshot_dir = g_snap };
    kb_t *kb = NULL;
    ragd_error err;
    if (kb_open(&o, &kb, &err))
        fprintf(stderr, "kb_open: %s\n", err.msg);
    return kb;
}

/* The ids of the top hits of q, joined by spaces, into out. */
static void top_ids(kb_t *kb, const char *q, kb_search_type type, char *out, size_t cap)
{
    kb_search_opts o;
    kb_search_default_opts(&o);
    o.query = q;
    o.qlen = strlen(q);
    o.type = type;
    o.limit = 5;
    const char *names[1] = { "snap" };
    o.namespaces = names;
    o.n_namespaces = 1;
    kb_search_result r;
    ragd_error err;
    out[0] = '\0';
    if (kb_search(kb, &o, &r, &err))
        return;
    size_t at = 0;
    for (size_t i = 0; i < r.n; i++)
        at += (size_t)snprintf(out + at, cap - at, "%s:%.4f ", r.hits[i].doc_id, r.hits[i].score);
    kb_search_result_clear(&r);
}

static kb_t *fill(void)
{
    kb_t *kb = open_kb();
    ragd_error err;
    kb_ns_create(kb, "snap", NULL, &err);
    const char *words[] = { "fox", "dog", "knee", "chest", "bench", "squat", "leg", "pain" };
    static char ids[200][16], texts[200][64];
    kb_doc_in d[200];
    cJSON *md = cJSON_Parse("{\"tag\":\"x\",\"n\":[1,2]}");
    for (int i = 0; i < 200; i++) {
        snprintf(ids[i], sizeof ids[i], "d%d", i);
        snprintf(texts[i], sizeof texts[i], "%s %s exercise %s", words[i % 8],
                 words[(i / 8) % 8], words[(i / 64) % 8]);
        d[i] = (kb_doc_in){ ids[i], texts[i], strlen(texts[i]), i % 3 ? NULL : md,
                            i % 5 ? NULL : "u1", 0 };
    }
    kb_docs_upsert(kb, "snap", d, 200, NULL, &err);
    kb_doc_delete(kb, "snap", "d7");
    cJSON_Delete(md);
    return kb;
}

static void snap_path(char *out, size_t n)
{
    snprintf(out, n, "%s/snap.kbsnap", g_snap);
}

/* Keep the first len bytes of the snapshot, or flip the byte at -len. */
static void damage(long len)
{
    char path[700];
    snap_path(path, sizeof path);
    FILE *f = fopen(path, "r+b");
    if (len > 0) {
        if (f)
            fclose(f);
        if (truncate(path, len) != 0)
            perror("truncate");
        return;
    }
    fseek(f, len, SEEK_END);
    int c = fgetc(f);
    fseek(f, len, SEEK_END);
    fputc(c ^ 0x21, f);
    fclose(f);
}

TEST(a_start_from_snapshots_scans_nothing_and_answers_the_same)
{
    kb_t *kb = fill();
    char kw[512], sem[512], kw2[512], sem2[512];
    top_ids(kb, "knee exercise", KB_SEARCH_KEYWORD, kw, sizeof kw);
    top_ids(kb, "squat pain", KB_SEARCH_SEMANTIC, sem, sizeof sem);
    ASSERT_TRUE(strlen(kw) > 0 && strlen(sem) > 0);
    kb_close(kb); /* writes the snapshot */
    kb = open_kb();
    ASSERT_EQ_INT(kb_snapshots_loaded(kb), 1);
    ASSERT_EQ_INT(kb_start_keys_scanned(kb), 0);
    top_ids(kb, "knee exercise", KB_SEARCH_KEYWORD, kw2, sizeof kw2);
    top_ids(kb, "squat pain", KB_SEARCH_SEMANTIC, sem2, sizeof sem2);
    ASSERT_EQ_STR(kw2, kw);
    ASSERT_EQ_STR(sem2, sem);
    kb_ns_info in;
    ASSERT_OK(kb_ns_get_info(kb, "snap", &in));
    ASSERT_EQ_INT(in.documents, 199);
    ASSERT_EQ_INT(in.chunks, 199);
    ASSERT_EQ_INT(in.hnsw_vectors, 199);
    kb_ns_info_clear(&in);
    cJSON *doc = NULL;
    ASSERT_OK(kb_doc_get(kb, "snap", "d15", false, &doc));
    ASSERT_EQ_STR(cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "metadata"), "tag")->valuestring,
                  "x");
    ASSERT_EQ_STR(cJSON_GetObjectItem(doc, "user_id")->valuestring, "u1");
    cJSON_Delete(doc);
    ASSERT_EQ_INT(kb_doc_get(kb, "snap", "d7", false, &doc), RAGD_ENOTFOUND);
    /* the loaded BM25 takes writes: a replaced and a new document */
    ragd_error err;
    kb_doc_in d[2] = { { "d8", "zebra", 5, NULL, NULL, 0 }, { "new", "zebra knee", 10, NULL, NULL, 0 } };
    ASSERT_OK(kb_docs_upsert(kb, "snap", d, 2, NULL, &err));
    top_ids(kb, "zebra", KB_SEARCH_KEYWORD, kw2, sizeof kw2);
    ASSERT_TRUE(strstr(kw2, "d8:") && strstr(kw2, "new:"));
    ASSERT_OK(kb_ns_drop(kb, "snap", NULL));
    kb_close(kb);
}

/* A snapshot that cannot be used: the namespace is rebuilt, counted, whole. */
static void expect_rebuilt(kb_t *kb)
{
    kb_repl_status rs;
    kb_repl_status_get(kb, &rs);
    ASSERT_EQ_INT(kb_snapshots_loaded(kb), 0);
    ASSERT_EQ_INT(rs.rebuilds, 1);
    ASSERT_TRUE(kb_start_keys_scanned(kb) >= 2 * 199); /* documents and chunks */
    kb_ns_info in;
    ASSERT_OK(kb_ns_get_info(kb, "snap", &in));
    ASSERT_EQ_INT(in.documents, 199);
    ASSERT_EQ_INT(in.hnsw_vectors, 199);
    kb_ns_info_clear(&in);
    char kw[512];
    top_ids(kb, "knee exercise", KB_SEARCH_KEYWORD, kw, sizeof kw);
    ASSERT_TRUE(strlen(kw) > 0);
}

TEST(truncated_damaged_or_other_version_snapshots_are_rebuilt)
{
    long cuts[] = { 10, 120, 2000, -40, -2 }; /* header, documents, BM25; flipped bytes */
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
        kb_t *kb = i ? open_kb() : fill();
        kb_close(kb); /* a fresh snapshot */
        damage(cuts[i]);
        kb = open_kb();
        expect_rebuilt(kb);
        kb_close(kb);
        if (t__cur_failed)
            return;
    }
    /* another version of the format (the magic), checksum intact */
    kb_t *kb = open_kb();
    kb_close(kb);
    char path[700], *data = NULL;
    snap_path(path, sizeof path);
    FILE *f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    data = malloc((size_t)n);
    ASSERT_EQ_INT(fread(data, 1, (size_t)n, f), n);
    fclose(f);
    memcpy(data, "KBS2", 4);
    hash_sha256(data, (size_t)n - HASH_SHA256_LEN, (uint8_t *)data + n - HASH_SHA256_LEN);
    f = fopen(path, "wb");
    fwrite(data, 1, (size_t)n, f);
    fclose(f);
    free(data);
    kb = open_kb();
    expect_rebuilt(kb);
    ASSERT_OK(kb_ns_drop(kb, "snap", NULL));
    kb_close(kb);
}

static int reg_names(char *out, size_t cap)
{
    store_value v;
    int rc = store_get(g_store, "kb:registry", 11, &v);
    if (rc == 0) {
        snprintf(out, cap, "%.*s", (int)v.len, (const char *)v.data);
        store_value_free(&v);
    }
    return rc;
}

TEST(the_registry_lists_namespaces_and_is_rebuilt_when_missing)
{
    char reg[256];
    kb_t *kb = open_kb();
    ragd_error err;
    ASSERT_OK(kb_ns_create(kb, "beta", NULL, &err));
    ASSERT_OK(kb_ns_create(kb, "alpha", NULL, &err));
    ASSERT_OK(reg_names(reg, sizeof reg));
    ASSERT_EQ_STR(reg, "1\nalpha\nbeta\n");
    ASSERT_EQ_INT(kb_ns_create(kb, "alpha", NULL, &err), RAGD_EEXISTS);
    ASSERT_OK(kb_ns_drop(kb, "beta", NULL));
    ASSERT_OK(reg_names(reg, sizeof reg));
    ASSERT_EQ_STR(reg, "1\nalpha\n");
    kb_close(kb);
    /* a store without one (an older ragd's): scanned once, then listed */
    ASSERT_OK(store_del(g_store, "kb:registry", 11));
    kb = open_kb();
    ASSERT_TRUE(kb_ns_exists(kb, "alpha"));
    ASSERT_TRUE(kb_start_keys_scanned(kb) > 0);
    ASSERT_OK(reg_names(reg, sizeof reg));
    ASSERT_EQ_STR(reg, "1\nalpha\n");
    kb_close(kb);
    kb = open_kb();
    ASSERT_TRUE(kb_ns_exists(kb, "alpha"));
    ASSERT_EQ_INT(kb_start_keys_scanned(kb), 0);
    /* lost while running: the next create rebuilds it from a scan */
    ASSERT_OK(store_del(g_store, "kb:registry", 11));
    ASSERT_OK(kb_ns_create(kb, "gamma", NULL, &err));
    ASSERT_OK(reg_names(reg, sizeof reg));
    ASSERT_EQ_STR(reg, "1\nalpha\ngamma\n");
    ASSERT_OK(kb_ns_drop(kb, "alpha", NULL));
    ASSERT_OK(kb_ns_drop(kb, "gamma", NULL));
    kb_close(kb);
}

TEST(the_snapshot_folder_is_made_by_the_first_snapshot)
{
    char parent[600];
    snprintf(parent, sizeof parent, "%s/data", g_dir);
    kb_t *kb = open_kb();
    ASSERT_TRUE(kb != NULL);
    kb_close(kb);  /* no namespace: nothing written */
    ASSERT_TRUE(access(parent, F_OK) != 0);
    kb = open_kb();
    ragd_error err;
    ASSERT_OK(kb_ns_create(kb, "first", NULL, &err));
    kb_doc_in d = { "d1", "fox dog", 7, NULL, NULL, 0 };
    ASSERT_OK(kb_docs_upsert(kb, "first", &d, 1, NULL, &err));
    ASSERT_EQ_INT(kb_snapshot_all(kb), 1);
    ASSERT_TRUE(access(g_snap, W_OK) == 0);
    ASSERT_OK(kb_ns_drop(kb, "first", NULL));
    kb_close(kb);
}

int main(void)
{
    if (!mkdtemp(g_dir) || !(g_wp = kbfx_tokenizer(g_dir)) || !(g_store = kbfx_store(g_dir)))
        return 1;
    snprintf(g_snap, sizeof g_snap, "%s/data/snap", g_dir);  /* neither exists yet */
    RUN(the_snapshot_folder_is_made_by_the_first_snapshot);
    RUN(a_start_from_snapshots_scans_nothing_and_answers_the_same);
    RUN(truncated_damaged_or_other_version_snapshots_are_rebuilt);
    RUN(the_registry_lists_namespaces_and_is_rebuilt_when_missing);
    store_close(g_store);
    wordpiece_close(g_wp);
    kbfx_rmdir(g_dir);
    return TEST_REPORT();
}
