/*
 * test_kb_filter.c - metadata filters: equality (also inside array fields),
 * $in/$nin, numeric and string ranges, $exists, $ne, $and/$or, and refusal
 * of malformed filters with a message naming the field; Qdrant's
 * must/should/must_not form with match/range/is_empty/is_null and nesting.
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

TEST(qdrant_must_should_must_not)
{
    const char *f = "{\"must\":[{\"key\":\"city\",\"match\":{\"value\":\"London\"}},"
                    "{\"key\":\"price\",\"range\":{\"gte\":10,\"lt\":20}}],"
                    "\"must_not\":[{\"key\":\"color\",\"match\":{\"any\":[\"red\"]}}]}";
    ASSERT_TRUE(match(f, "{\"city\":\"London\",\"price\":10}"));
    ASSERT_TRUE(match(f, "{\"city\":\"London\",\"price\":19.5,\"color\":\"blue\"}"));
    ASSERT_TRUE(!match(f, "{\"city\":\"London\",\"price\":20}"));
    ASSERT_TRUE(!match(f, "{\"city\":\"Paris\",\"price\":12}"));
    ASSERT_TRUE(!match(f, "{\"city\":\"London\",\"price\":12,\"color\":[\"red\",\"x\"]}"));
    const char *sh = "{\"should\":[{\"key\":\"a\",\"match\":{\"value\":1}},"
                     "{\"key\":\"b\",\"match\":{\"except\":[1,2]}}]}";
    ASSERT_TRUE(match(sh, "{\"a\":1,\"b\":1}"));
    ASSERT_TRUE(match(sh, "{\"a\":2,\"b\":3}"));
    ASSERT_TRUE(!match(sh, "{\"a\":2,\"b\":2}"));
    ASSERT_TRUE(match("{\"should\":[],\"must\":[]}", "{}"));  /* empty clauses: no condition */
    /* a single condition object instead of an array, and a nested filter */
    const char *nest = "{\"must\":{\"should\":[{\"key\":\"t\",\"match\":{\"value\":true}},"
                       "{\"must_not\":{\"key\":\"n\",\"range\":{\"gt\":0}}}]}}";
    ASSERT_TRUE(match(nest, "{\"t\":true,\"n\":5}"));
    ASSERT_TRUE(match(nest, "{\"n\":0}"));
    ASSERT_TRUE(!match(nest, "{\"t\":false,\"n\":1}"));
}

TEST(qdrant_is_empty_is_null_and_errors)
{
    const char *e = "{\"must\":[{\"is_empty\":{\"key\":\"tags\"}}]}";
    ASSERT_TRUE(match(e, "{}"));
    ASSERT_TRUE(match(e, "{\"tags\":[]}"));
    ASSERT_TRUE(match(e, "{\"tags\":null}"));
    ASSERT_TRUE(!match(e, "{\"tags\":[1]}"));
    const char *n = "{\"must\":[{\"is_null\":{\"key\":\"x\"}}]}";
    ASSERT_TRUE(match(n, "{\"x\":null}"));
    ASSERT_TRUE(!match(n, "{}"));
    /* a field named must in the Mongo form is still a field */
    ASSERT_TRUE(match("{\"must\":\"x\"}", "{\"must\":\"x\"}"));
    ASSERT_TRUE(match("{\"must\":{\"$in\":[1]}}", "{\"must\":1}"));
    char msg[256];
    ASSERT_EQ_INT(compile_rc("{\"must\":[{\"key\":\"a\",\"match\":{\"text\":\"x\"}}]}",
                             msg), RAGD_EINVAL);
    ASSERT_TRUE(strstr(msg, "'a'") != NULL);
    ASSERT_EQ_INT(compile_rc("{\"must\":[{\"key\":\"a\",\"range\":{}}]}", NULL), RAGD_EINVAL);
    ASSERT_EQ_INT(compile_rc("{\"must\":[{\"key\":\"a\",\"range\":{\"gt\":[1]}}]}", NULL),
                  RAGD_EINVAL);
    ASSERT_EQ_INT(compile_rc("{\"must\":[{\"has_id\":[1]}]}", msg), RAGD_EINVAL);
    ASSERT_TRUE(strstr(msg, "has_id") != NULL);
    ASSERT_EQ_INT(compile_rc("{\"must\":[3]}", NULL), RAGD_EINVAL);
    ASSERT_EQ_INT(compile_rc("{\"must\":[{\"is_null\":{}}]}", NULL), RAGD_EINVAL);
}

int main(void)
{
    RUN(equality_and_arrays);
    RUN(sets_and_ranges);
    RUN(exists_and_logic);
    RUN(malformed_filters_are_refused);
    RUN(qdrant_must_should_must_not);
    RUN(qdrant_is_empty_is_null_and_errors);
    return TEST_REPORT();
}
