/*
 * test_user_content.c - per-user content items over a real LMDB store with
 * the knowledge-base fixture: stored items are owned by their user (get,
 * list and delete reach only the owner's), content types match leniently
 * (plural and case), listing filters by type and pages newest first, and
 * bad items are refused. TTL per content type: the user_content_ttl rules
 * parse (bad ones refused), match leniently with "*" for the rest, and an
 * item whose expiry passed is gone from get and list before any sweep.
 */
#include <stdlib.h>
#include <string.h>

#include "kb_fixture.h"
#include "kb/kb_filter.h"
#include "kb/user_content.h"
#include "testing.h"
#include "util/clock.h"
#include "util/json.h"

static char g_dir[] = "/tmp/ragd-test-uc-XXXXXX";
static wordpiece *g_wp;
static store_t *g_store;

static kb_t *open_kb(void)
{
    kb_opts o = { .store = g_store, .tokenizer = g_wp, .embed = kbfx_embed, .dim = KBFX_DIM,
                  .model = "bow", .max_chunk_tokens = 254, .load_threads = 1 };
    kb_t *kb = NULL;
    ragd_error err;
    if (kb_open(&o, &kb, &err))
        fprintf(stderr, "kb_open: %s\n", err.msg);
    return kb;
}

static int put(kb_t *kb, const char *user, const char *type, const char *text,
               char id[UC_ID_LEN + 1])
{
    ragd_error err = { 0 };
    uc_item_in in = { user, type, text, strlen(text), NULL, 0 };
    return uc_item_put(kb, "uc", &in, id, &err);
}

TEST(types_match_leniently)
{
    ASSERT_TRUE(uc_type_same("workout", "workouts"));
    ASSERT_TRUE(uc_type_same("Workouts", "workout"));
    ASSERT_TRUE(uc_type_same("activities", "activity"));
    ASSERT_TRUE(uc_type_same("progress", "progress"));
    ASSERT_TRUE(!uc_type_same("goal", "workout"));
    ASSERT_TRUE(uc_type_ok("workout") && uc_type_ok("meal_plan-v2.1"));
    ASSERT_TRUE(!uc_type_ok("") && !uc_type_ok("two words") && !uc_type_ok(NULL));
    const char *types[2] = { "Workouts", "activity" };
    cJSON *f = uc_type_filter(types, 2, NULL);
    kb_filter *kf = NULL;
    ragd_error err;
    ASSERT_OK(kb_filter_compile(f, &kf, &err));
    const char *yes[] = { "{\"content_type\":\"workout\"}", "{\"content_type\":\"workouts\"}",
                          "{\"content_type\":\"activities\"}", "{\"content_type\":\"activity\"}" };
    for (int i = 0; i < 4; i++) {
        cJSON *md = cJSON_Parse(yes[i]);
        ASSERT_TRUE(kb_filter_match(kf, md));
        cJSON_Delete(md);
    }
    cJSON *no = cJSON_Parse("{\"content_type\":\"goal\"}");
    ASSERT_TRUE(!kb_filter_match(kf, no));
    cJSON_Delete(no);
    kb_filter_destroy(kf);
    cJSON_Delete(f);
    /* and-ed with another filter */
    cJSON *lvl = cJSON_Parse("{\"level\": 2}");
    f = uc_type_filter(types, 1, lvl);
    ASSERT_OK(kb_filter_compile(f, &kf, &err));
    cJSON *md = cJSON_Parse("{\"content_type\":\"workout\",\"level\":2}");
    ASSERT_TRUE(kb_filter_match(kf, md));
    cJSON_Delete(md);
    md = cJSON_Parse("{\"content_type\":\"workout\",\"level\":3}");
    ASSERT_TRUE(!kb_filter_match(kf, md));
    cJSON_Delete(md);
    kb_filter_destroy(kf);
    cJSON_Delete(f);
    cJSON_Delete(lvl);
}

TEST(items_belong_to_their_user)
{
    kb_t *kb = open_kb();
    ragd_error err;
    ASSERT_OK(uc_ns_ensure(kb, "uc", &err));
    ASSERT_OK(uc_ns_ensure(kb, "uc", &err)); /* idempotent */
    char a1[UC_ID_LEN + 1], a2[UC_ID_LEN + 1], b1[UC_ID_LEN + 1];
    ASSERT_OK(put(kb, "alice", "workout", "squat for the leg", a1));
    ASSERT_OK(put(kb, "alice", "goal", "bench press for the chest", a2));
    ASSERT_OK(put(kb, "bob", "Workouts", "squat for the leg", b1));
    ASSERT_EQ_INT(strlen(a1), UC_ID_LEN);
    ASSERT_TRUE(strncmp(a1, a2, 12) == 0 && strncmp(a1, b1, 12) != 0);
    cJSON *it = NULL;
    ASSERT_OK(uc_item_get(kb, "uc", "alice", a1, &it));
    ASSERT_EQ_STR(json_get_str(it, "content"), "squat for the leg");
    ASSERT_EQ_STR(json_get_str(it, "content_type"), "workout");
    ASSERT_EQ_STR(json_get_str(it, "user_id"), "alice");
    ASSERT_TRUE(json_get_str(it, "created_at") != NULL);
    cJSON_Delete(it);
    ASSERT_EQ_INT(uc_item_get(kb, "uc", "bob", a1, &it), RAGD_ENOTFOUND);
    ASSERT_EQ_INT(uc_item_delete(kb, "uc", "bob", a1), RAGD_ENOTFOUND);
    ASSERT_EQ_INT(uc_item_get(kb, "uc", "alice", "not-an-id", &it), RAGD_ENOTFOUND);

    cJSON *items = NULL;
    uint64_t total = 0;
    ASSERT_OK(uc_item_list(kb, "uc", "alice", NULL, 0, 10, &items, &total));
    ASSERT_EQ_INT(total, 2);
    ASSERT_EQ_INT(cJSON_GetArraySize(items), 2);
    cJSON_Delete(items);
    ASSERT_OK(uc_item_list(kb, "uc", "alice", "workouts", 0, 10, &items, &total));
    ASSERT_EQ_INT(total, 1);
    ASSERT_EQ_STR(json_get_str(cJSON_GetArrayItem(items, 0), "id"), a1);
    cJSON_Delete(items);
    ASSERT_OK(uc_item_list(kb, "uc", "alice", NULL, 1, 10, &items, &total));
    ASSERT_EQ_INT(total, 2);
    ASSERT_EQ_INT(cJSON_GetArraySize(items), 1);
    cJSON_Delete(items);
    ASSERT_OK(uc_item_list(kb, "uc", "bob", "workout", 0, 10, &items, &total));
    ASSERT_EQ_INT(total, 1);
    ASSERT_EQ_STR(json_get_str(cJSON_GetArrayItem(items, 0), "content_type"), "workouts");
    cJSON_Delete(items);

    ASSERT_OK(uc_item_delete(kb, "uc", "alice", a1));
    ASSERT_EQ_INT(uc_item_get(kb, "uc", "alice", a1, &it), RAGD_ENOTFOUND);
    ASSERT_OK(uc_item_get(kb, "uc", "bob", b1, &it));
    cJSON_Delete(it);

    char x[UC_ID_LEN + 1];
    ASSERT_EQ_INT(put(kb, "alice", "bad type", "squat", x), RAGD_EINVAL);
    ASSERT_EQ_INT(put(kb, NULL, "goal", "squat", x), RAGD_EINVAL);
    cJSON *arr = cJSON_CreateArray();
    uc_item_in in = { "alice", "goal", "squat", 5, arr, 0 };
    ASSERT_EQ_INT(uc_item_put(kb, "uc", &in, x, &err), RAGD_EINVAL);
    cJSON_Delete(arr);
    ASSERT_OK(kb_ns_drop(kb, "uc", NULL));
    kb_close(kb);
}

TEST(ttl_per_content_type)
{
    uc_ttl_map m;
    ragd_error err;
    ASSERT_OK(uc_ttl_parse(" workouts=3600, goal=0 ,*=60", &m, &err));
    ASSERT_EQ_INT(m.n, 3);
    ASSERT_EQ_INT(uc_ttl_of(&m, "Workout"), 3600);
    ASSERT_EQ_INT(uc_ttl_of(&m, "goals"), 0);
    ASSERT_EQ_INT(uc_ttl_of(&m, "conversation"), 60);
    uc_ttl_free(&m);
    ASSERT_OK(uc_ttl_parse("", &m, &err));
    ASSERT_EQ_INT(uc_ttl_of(&m, "workout"), 0);
    uc_ttl_free(&m);
    const char *bad[] = { "workout", "workout=-1", "workout=1.5", "workout=", "bad type=5",
                          "workout=315360001", "workout=5,workouts=6", "*=1,*=2", "=5" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ASSERT_EQ_INT(uc_ttl_parse(bad[i], &m, &err), RAGD_EINVAL);
    int64_t now = clock_wall_ms() / 1000;
    ASSERT_EQ_INT(uc_ttl_expiry(0), 0);
    ASSERT_TRUE(uc_ttl_expiry(10) >= now + 10 && uc_ttl_expiry(10) <= now + 12);

    kb_t *kb = open_kb();
    ASSERT_OK(uc_ns_ensure(kb, "uc", &err));
    char gone[UC_ID_LEN + 1], kept[UC_ID_LEN + 1];
    uc_item_in in = { .user_id = "alice", .content_type = "workout", .text = "squat",
                      .len = 5, .expires_at = now - 1 };
    ASSERT_OK(uc_item_put(kb, "uc", &in, gone, &err));
    in.expires_at = now + 3600;
    ASSERT_OK(uc_item_put(kb, "uc", &in, kept, &err));
    cJSON *it = NULL;
    ASSERT_EQ_INT(uc_item_get(kb, "uc", "alice", gone, &it), RAGD_ENOTFOUND);
    ASSERT_OK(uc_item_get(kb, "uc", "alice", kept, &it));
    int64_t exp = 0;
    ASSERT_OK(json_get_int(it, "expires_at", 0, INT64_MAX, &exp));
    ASSERT_EQ_INT(exp, now + 3600);
    cJSON_Delete(it);
    cJSON *items = NULL;
    uint64_t total = 0;
    ASSERT_OK(uc_item_list(kb, "uc", "alice", NULL, 0, 10, &items, &total));
    ASSERT_EQ_INT(total, 1);
    ASSERT_EQ_STR(json_get_str(cJSON_GetArrayItem(items, 0), "id"), kept);
    cJSON_Delete(items);
    ASSERT_OK(kb_ns_drop(kb, "uc", NULL));
    kb_close(kb);
}

int main(void)
{
    if (!mkdtemp(g_dir) || !(g_wp = kbfx_tokenizer(g_dir)) || !(g_store = kbfx_store(g_dir)))
        return 1;
    RUN(types_match_leniently);
    RUN(items_belong_to_their_user);
    RUN(ttl_per_content_type);
    store_close(g_store);
    wordpiece_close(g_wp);
    kbfx_rmdir(g_dir);
    return TEST_REPORT();
}
