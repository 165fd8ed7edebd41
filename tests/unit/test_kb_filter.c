/*
 * test_kb_filter.c - metadata filters: equality (also inside array fields),
 * $in/$nin, numeric and string ranges, $exists, $ne, $and/$or, and refusal
 * of malformed filters with a message naming the field.
 */
#include <string.h>

#include "kb/kb_filter.h"
#include "testing.h"

static bool match(const char *filter, const char *md)
{
    cJSON *f = cJSON_Parse(filter), *m = cJSON_Parse(md);
    kb_filter *kf = NULL;
    ragd_error err;
    bool ok = kb_filter_compile(f, &kf, &err) == 0 && kb_filter_match(kf, m);
    kb_filter_destroy(kf);
    cJSON_Delete(f);
    cJSON_Delete(m);
    return ok;
}

static int compile_rc(const char *filter, char *msg)
{
    cJSON *f = cJSON_Parse(filter);
    kb_filter *kf = NULL;
    ragd_error err = { 0 };
    int rc = kb_filter_compile(f, &kf, &err);
    if (msg)
        strcpy(msg, err.msg);
    kb_filter_destroy(kf);
    cJSON_Delete(f);
    return rc;
}

TEST(equality_and_arrays)
{
    ASSERT_TRUE(match("{\"category\":\"knee\"}", "{\"category\":\"knee\",\"x\":1}"));
    ASSERT_TRUE(!match("{\"category\":\"knee\"}", "{\"category\":\"hip\"}"));
    ASSERT_TRUE(!match("{\"category\":\"knee\"}", "{}"));
    ASSERT_TRUE(match("{\"tags\":\"a\"}", "{\"tags\":[\"b\",\"a\"]}"));
    ASSERT_TRUE(match("{\"n\":2}", "{\"n\":2.0}"));
    ASSERT_TRUE(!match("{\"n\":2}", "{\"n\":\"2\"}")); /* types must agree */
    ASSERT_TRUE(match("{\"ok\":true}", "{\"ok\":true}"));
    ASSERT_TRUE(match("{}", "{\"a\":1}"));
    ASSERT_TRUE(match("{\"a\":{\"$eq\":1},\"b\":{\"$ne\":2}}", "{\"a\":1}"));
}

TEST(sets_and_ranges)
{
    const char *f = "{\"category\":\"knee\",\"level\":{\"$in\":[1,2]},\"year\":{\"$gte\":2000}}";
    ASSERT_TRUE(match(f, "{\"category\":\"knee\",\"level\":2,\"year\":2000}"));
    ASSERT_TRUE(!match(f, "{\"category\":\"knee\",\"level\":3,\"year\":2010}"));
    ASSERT_TRUE(!match(f, "{\"category\":\"knee\",\"level\":1,\"year\":1999}"));
    ASSERT_TRUE(match("{\"y\":{\"$gt\":1,\"$lt\":3}}", "{\"y\":2}"));
    ASSERT_TRUE(!match("{\"y\":{\"$gt\":1,\"$lt\":3}}", "{\"y\":3}"));
    ASSERT_TRUE(match("{\"y\":{\"$lte\":3}}", "{\"y\":3}"));
    ASSERT_TRUE(match("{\"d\":{\"$gte\":\"2020-01-01\"}}", "{\"d\":\"2021-05-05\"}"));
    ASSERT_TRUE(!match("{\"d\":{\"$gte\":\"2020-01-01\"}}", "{\"d\":20210505}"));
    ASSERT_TRUE(match("{\"c\":{\"$nin\":[\"a\",\"b\"]}}", "{\"c\":\"z\"}"));
    ASSERT_TRUE(match("{\"c\":{\"$nin\":[\"a\",\"b\"]}}", "{}"));
    ASSERT_TRUE(!match("{\"c\":{\"$nin\":[\"a\",\"b\"]}}", "{\"c\":\"a\"}"));
}

TEST(exists_and_logic)
{
    ASSERT_TRUE(match("{\"a\":{\"$exists\":true}}", "{\"a\":null}"));
    ASSERT_TRUE(match("{\"a\":{\"$exists\":false}}", "{\"b\":1}"));
    const char *f = "{\"$or\":[{\"a\":1},{\"b\":{\"$gt\":5}}],\"c\":\"x\"}";
    ASSERT_TRUE(match(f, "{\"a\":1,\"c\":\"x\"}"));
    ASSERT_TRUE(match(f, "{\"b\":6,\"c\":\"x\"}"));
    ASSERT_TRUE(!match(f, "{\"b\":5,\"c\":\"x\"}"));
    ASSERT_TRUE(!match(f, "{\"a\":1,\"c\":\"y\"}"));
    ASSERT_TRUE(match("{\"$and\":[{\"a\":1},{\"b\":2}]}", "{\"a\":1,\"b\":2}"));
    ASSERT_TRUE(!match("{\"$and\":[{\"a\":1},{\"b\":2}]}", "{\"a\":1}"));
}

TEST(malformed_filters_are_refused)
{
    char msg[256];
    ASSERT_EQ_INT(compile_rc("{\"a\":{\"$like\":1}}", msg), RAGD_EINVAL);
    ASSERT_TRUE(strstr(msg, "$like") != NULL);
    ASSERT_EQ_INT(compile_rc("{\"a\":{\"$in\":3}}", msg), RAGD_EINVAL);
    ASSERT_TRUE(strstr(msg, "filter.a") != NULL);
    ASSERT_EQ_INT(compile_rc("{\"a\":{\"$gt\":[1]}}", NULL), RAGD_EINVAL);
    ASSERT_EQ_INT(compile_rc("{\"$or\":{}}", NULL), RAGD_EINVAL);
    ASSERT_EQ_INT(compile_rc("{\"$nope\":[]}", NULL), RAGD_EINVAL);
    ASSERT_EQ_INT(compile_rc("[1]", NULL), RAGD_EINVAL);
    ASSERT_EQ_INT(compile_rc("{\"a\":[1,2]}", NULL), RAGD_EINVAL);
    ASSERT_EQ_INT(compile_rc("{}", NULL), 0);
}

int main(void)
{
    RUN(equality_and_arrays);
    RUN(sets_and_ranges);
    RUN(exists_and_logic);
    RUN(malformed_filters_are_refused);
    return TEST_REPORT();
}
