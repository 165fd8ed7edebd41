/*
 * test_auth_session.c - sessions and history on the LMDB store: documents with
 * TTL modes, RFC 7396 merge patches, size limits, ownership, history trimming,
 * and relevant_to ranking through a stand-in embedder (letter counts), so the
 * ranking code is tested without a model. A stored history that no longer
 * parses is reported, never crashed on and never replaced.
 */
#include <ctype.h>
#include <stdlib.h>
#include <unistd.h>

#include "auth/session.h"
#include "scratch_store.h"
#include "testing.h"
#include "util/json.h"

static cJSON *parse(const char *s)
{
    cJSON *v = NULL;
    if (json_parse(s, strlen(s), &v, NULL))
        abort();
    return v;
}

static char *data_text(const cJSON *view)
{
    return cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(view, "data"));
}

TEST(documents)
{
    store_t *st = scratch_store_open("sess");
    session_opts o = { 256, 10, 3600 };
    sessions_t *s;
    ASSERT_OK(sessions_create(st, &o, &s));
    cJSON *doc = parse("{\"a\": 1, \"b\": {\"c\": 2, \"d\": 3}}");
    bool created = false;
    ASSERT_OK(session_put(s, "alice", "s1", doc, 60, false, &created));
    ASSERT_TRUE(created);
    ASSERT_OK(session_put(s, "alice", "s1", doc, 60, false, &created));
    ASSERT_TRUE(!created);
    cJSON_Delete(doc);
    /* Owners are separate namespaces. */
    cJSON *view = NULL;
    ASSERT_EQ_INT(session_get(s, "bob", "s1", &view), RAGD_ENOTFOUND);
    ASSERT_EQ_INT(session_get(s, NULL, "s1", &view), RAGD_ENOTFOUND);
    ASSERT_OK(session_get(s, "alice", "s1", &view));
    ASSERT_EQ_STR(json_get_str(view, "ttl_mode"), "absolute");
    cJSON_Delete(view);
    /* RFC 7396: null removes, objects merge, other values replace. */
    cJSON *patch = parse("{\"a\": null, \"b\": {\"d\": 4, \"e\": [1]}, \"f\": \"x\"}");
    ASSERT_OK(session_patch(s, "alice", "s1", patch, 0, 1, &view));
    char *t = data_text(view);
    ASSERT_EQ_STR(t, "{\"b\":{\"c\":2,\"d\":4,\"e\":[1]},\"f\":\"x\"}");
    ASSERT_EQ_STR(json_get_str(view, "ttl_mode"), "sliding");
    free(t);
    cJSON_Delete(view);
    cJSON_Delete(patch);
    /* Too big: nothing changes. */
    char big[400];
    snprintf(big, sizeof big, "{\"x\": \"%0300d\"}", 0);
    patch = parse(big);
    ASSERT_EQ_INT(session_patch(s, "alice", "s1", patch, 0, SESSION_TTL_KEEP, &view), RAGD_ETOOBIG);
    ASSERT_EQ_INT(session_put(s, "alice", "s2", patch, 0, false, &created), RAGD_ETOOBIG);
    cJSON_Delete(patch);
    ASSERT_EQ_INT(session_delete(s, "bob", "s1"), RAGD_ENOTFOUND);
    ASSERT_OK(session_delete(s, "alice", "s1"));
    ASSERT_EQ_INT(session_get(s, "alice", "s1", &view), RAGD_ENOTFOUND);
    ASSERT_EQ_INT(session_put(s, "alice", "bad:id", NULL, 0, false, &created), RAGD_EINVAL);
    sessions_destroy(s);
    scratch_store_close(st);
}

TEST(history)
{
    store_t *st = scratch_store_open("sess");
    session_opts o = { 256, 3, 3600 };
    sessions_t *s;
    ASSERT_OK(sessions_create(st, &o, &s));
    cJSON *m = NULL;
    ASSERT_EQ_INT(session_append(s, "alice", "c", "user", "hi", NULL, &m), RAGD_ENOTFOUND);
    cJSON *doc = parse("{}");
    bool created;
    ASSERT_OK(session_put(s, "alice", "c", doc, 0, false, &created));
    cJSON_Delete(doc);
    for (int i = 1; i <= 5; i++) {
        char c[16];
        snprintf(c, sizeof c, "m%d", i);
        ASSERT_OK(session_append(s, "alice", "c", "user", c, NULL, &m));
        int64_t seq;
        ASSERT_OK(json_get_int(m, "seq", 1, 100, &seq));
        ASSERT_EQ_INT(seq, i);
        cJSON_Delete(m);
    }
    cJSON *msgs = NULL;
    ASSERT_OK(session_messages(s, "alice", "c", 0, &msgs));
    ASSERT_EQ_INT(cJSON_GetArraySize(msgs), 3); /* trimmed to max_messages */
    ASSERT_EQ_STR(json_get_str(cJSON_GetArrayItem(msgs, 0), "content"), "m3");
    cJSON_Delete(msgs);
    ASSERT_OK(session_messages(s, "alice", "c", 1, &msgs));
    ASSERT_EQ_INT(cJSON_GetArraySize(msgs), 1);
    ASSERT_EQ_STR(json_get_str(cJSON_GetArrayItem(msgs, 0), "content"), "m5");
    cJSON_Delete(msgs);
    char big[300];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    ASSERT_EQ_INT(session_append(s, "alice", "c", "user", big, NULL, &m), RAGD_ETOOBIG);
    ASSERT_EQ_INT(session_messages(s, "bob", "c", 0, &msgs), RAGD_ENOTFOUND);
    ASSERT_EQ_INT(session_relevant(s, "alice", "c", "x", 1, &msgs), RAGD_EUNSUPPORTED);
    sessions_destroy(s);
    scratch_store_close(st);
}

/* A history value that cJSON cannot read (nested beyond its limit) as a store
 * fault or an older version could have left it: reads and appends answer
 * RAGD_EINTERNAL, and the stored bytes stay exactly as they were. */
TEST(history_unreadable)
{
    store_t *st = scratch_store_open("sess");
    session_opts o = { 256, 10, 3600 };
    sessions_t *s;
    ASSERT_OK(sessions_create(st, &o, &s));
    cJSON *doc = parse("{}"), *m = NULL;
    bool created;
    ASSERT_OK(session_put(s, "alice", "c", doc, 0, false, &created));
    cJSON_Delete(doc);
    ASSERT_OK(session_append(s, "alice", "c", "user", "kept", NULL, &m));
    cJSON_Delete(m);
    const char *key = "sess:{u:alice:c}:msgs";
    size_t depth = 1100, n = 2 * depth + 1;
    char *bad = malloc(n + 1);
    memset(bad, '[', depth);
    bad[depth] = '1';
    memset(bad + depth + 1, ']', depth);
    bad[n] = '\0';
    ASSERT_OK(store_set(st, key, strlen(key), bad, n, 0, 0));
    cJSON *msgs = NULL;
    ASSERT_EQ_INT(session_messages(s, "alice", "c", 0, &msgs), RAGD_EINTERNAL);
    ASSERT_EQ_INT(session_messages(s, "alice", "c", 2, &msgs), RAGD_EINTERNAL);
    ASSERT_EQ_INT(session_append(s, "alice", "c", "user", "next", NULL, &m), RAGD_EINTERNAL);
    store_value v;
    ASSERT_OK(store_get(st, key, strlen(key), &v));
    ASSERT_TRUE(v.len == n && memcmp(v.data, bad, n) == 0);
    store_value_free(&v);
    free(bad);
    /* not JSON at all: the same */
    ASSERT_OK(store_set(st, key, strlen(key), "{\"messages\": [", 14, 0, 0));
    ASSERT_EQ_INT(session_append(s, "alice", "c", "user", "next", NULL, &m), RAGD_EINTERNAL);
    ASSERT_OK(store_get(st, key, strlen(key), &v));
    ASSERT_TRUE(v.len == 14 && memcmp(v.data, "{\"messages\": [", 14) == 0);
    store_value_free(&v);
    sessions_destroy(s);
    scratch_store_close(st);
}

/* Stand-in embedder: counts of the letters a-z. */
static int letters(void *ud, const char *const *texts, const size_t *lens, size_t n, float *out)
{
    (void)ud;
    memset(out, 0, n * 26 * sizeof(float));
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < lens[i]; j++)
            if (isalpha((unsigned char)texts[i][j]))
                out[i * 26 + (tolower((unsigned char)texts[i][j]) - 'a')] += 1;
    return 0;
}

/* Sessions of the key layout before the hash tag are moved at start, TTL and
 * history included, and the old keys are gone; a newer key is never overwritten. */
TEST(old_layout_moved)
{
    store_t *st = scratch_store_open("sessmig");
    const char *doc = "{\"ttl\":600,\"mode\":\"absolute\",\"created_at\":1,"
                      "\"updated_at\":1,\"data\":{\"v\":1}}";
    const char *msgs = "{\"next\":2,\"messages\":[{\"seq\":1,\"role\":\"user\","
                       "\"content\":\"hi\",\"metadata\":{},\"created_at\":1}]}";
    ASSERT_OK(store_set(st, "sess:u:al:ice:s1", 16, doc, strlen(doc), 600000, 0));
    ASSERT_OK(store_set(st, "sess:u:al:ice:s1:msgs", 21, msgs, strlen(msgs), 600000, 0));
    ASSERT_OK(store_set(st, "sess:s:shared", 13, doc, strlen(doc), 0, 0));
    const char *newer = "{\"ttl\":600,\"mode\":\"absolute\",\"created_at\":2,"
                        "\"updated_at\":2,\"data\":{\"v\":2}}";
    ASSERT_OK(store_set(st, "sess:{s:both}", 13, newer, strlen(newer), 0, 0));
    ASSERT_OK(store_set(st, "sess:s:both", 11, doc, strlen(doc), 0, 0));
    session_opts o = { 4096, 10, 3600 };
    sessions_t *s;
    ASSERT_OK(sessions_create(st, &o, &s));
    cJSON *view = NULL;
    ASSERT_OK(session_get(s, "al:ice", "s1", &view)); /* an owner with a ':' */
    char *t = data_text(view);
    ASSERT_EQ_STR(t, "{\"v\":1}");
    free(t);
    ASSERT_TRUE(cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(view, "expires_in")) > 500);
    cJSON_Delete(view);
    cJSON *m = NULL;
    ASSERT_OK(session_messages(s, "al:ice", "s1", 0, &m));
    ASSERT_EQ_INT(cJSON_GetArraySize(m), 1);
    cJSON_Delete(m);
    ASSERT_OK(session_get(s, NULL, "shared", &view));
    cJSON_Delete(view);
    ASSERT_OK(session_get(s, NULL, "both", &view));
    t = data_text(view);
    ASSERT_EQ_STR(t, "{\"v\":2}");
    free(t);
    cJSON_Delete(view);
    const char *old[] = { "sess:u:al:ice:s1", "sess:u:al:ice:s1:msgs", "sess:s:shared",
                          "sess:s:both" };
    for (int i = 0; i < 4; i++)
        ASSERT_EQ_INT(store_exists(st, old[i], strlen(old[i])), RAGD_ENOTFOUND);
    ASSERT_OK(session_delete(s, "al:ice", "s1")); /* one batch: one slot */
    sessions_destroy(s);
    /* An old-layout key written later (an instance not yet upgraded) moves at
     * the next start; no marker key is left behind. */
    ASSERT_OK(store_set(st, "sess:s:late", 11, doc, strlen(doc), 0, 0));
    ASSERT_OK(sessions_create(st, &o, &s));
    ASSERT_EQ_INT(store_exists(st, "sess:s:late", 11), RAGD_ENOTFOUND);
    ASSERT_OK(store_exists(st, "sess:{s:late}", 13));
    store_stats ss;
    ASSERT_OK(store_get_stats(st, &ss));
    ASSERT_EQ_INT(ss.keys, 3); /* sess:{s:shared}, sess:{s:both}, sess:{s:late} */
    sessions_destroy(s);
    scratch_store_close(st);
}

TEST(relevant)
{
    store_t *st = scratch_store_open("sess");
    session_opts o = { 4096, 100, 3600 };
    sessions_t *s;
    ASSERT_OK(sessions_create(st, &o, &s));
    sessions_set_embedder(s, letters, NULL, 26);
    cJSON *doc = parse("{}"), *m;
    bool created;
    ASSERT_OK(session_put(s, NULL, "r", doc, 0, false, &created));
    cJSON_Delete(doc);
    const char *texts[] = { "aaaa", "zzzz", "aazz", "bbbb" };
    for (int i = 0; i < 4; i++) {
        ASSERT_OK(session_append(s, NULL, "r", "user", texts[i], NULL, &m));
        cJSON_Delete(m);
    }
    cJSON *res = NULL;
    ASSERT_OK(session_relevant(s, NULL, "r", "zz", 2, &res));
    ASSERT_EQ_INT(cJSON_GetArraySize(res), 2);
    ASSERT_EQ_STR(json_get_str(cJSON_GetArrayItem(res, 0), "content"), "zzzz");
    ASSERT_EQ_STR(json_get_str(cJSON_GetArrayItem(res, 1), "content"), "aazz");
    double s0, s1;
    ASSERT_OK(json_get_num(cJSON_GetArrayItem(res, 0), "score", -2, 2, &s0));
    ASSERT_OK(json_get_num(cJSON_GetArrayItem(res, 1), "score", -2, 2, &s1));
    ASSERT_NEAR(s0, 1.0, 1e-6);
    ASSERT_NEAR(s1, 0.7071, 1e-3);
    cJSON_Delete(res);
    sessions_destroy(s);
    scratch_store_close(st);
}

int main(void)
{
    RUN(documents);
    RUN(history);
    RUN(history_unreadable);
    RUN(old_layout_moved);
    RUN(relevant);
    return TEST_REPORT();
}
