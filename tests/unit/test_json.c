/*
 * test_json.c - JSON helpers: canonical output (keys sorted bytewise at every
 * depth, no whitespace, one number format, strings re-escaped) so equal
 * documents written differently give the same bytes and the same SHA-256;
 * canonical output parses back to an equal document; parse errors with their
 * position; and the typed getters' ranges and absent/wrong-type answers.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testing.h"
#include "util/hash.h"
#include "util/json.h"

static char *canon(const char *json)
{
    cJSON *v = NULL;
    if (json_parse(json, strlen(json), &v, NULL))
        return NULL;
    buf_t b = BUF_INIT;
    json_canonical(v, &b);
    cJSON_Delete(v);
    return buf_detach(&b, NULL);
}

TEST(canonical_json_sorts_keys_and_normalises_numbers)
{
    char *a = canon("{\"b\": [1, 2.0, {\"z\": 1, \"a\": null}], \"a\": \"x\\u00e9\", \"c\": 0.5}");
    ASSERT_EQ_STR(a, "{\"a\":\"x\xc3\xa9\",\"b\":[1,2,{\"a\":null,\"z\":1}],\"c\":0.5}");
    char *b = canon("{\"c\":5e-1,\"a\":\"x\xc3\xa9\",\"b\":[1.0,2,{\"a\":null,\"z\":1.0}]}");
    ASSERT_EQ_STR(a, b);
    char ha[65], hb[65];
    hash_sha256_hex(a, strlen(a), ha);
    hash_sha256_hex(b, strlen(b), hb);
    ASSERT_EQ_STR(ha, hb);
    free(a);
    free(b);
}

/* Each pair is one document written two ways; want is the canonical form. */
TEST(canonical_forms)
{
    static const struct { const char *x, *y, *want; } cases[] = {
        { "[1e2, -0.0, 100.000]", "[100,0,1e+2]", "[100,0,100]" },
        { "[0.1, 1.5e-7]", "[1e-1, 0.00000015]", "[0.10000000000000001,1.4999999999999999e-07]" },
        /* integers below 2^53 print whole; beyond, in %.17g */
        { "[9007199254740991, 1152921504606846976]", "[9007199254740991.0, 1.152921504606846976e18]",
          "[9007199254740991,1.152921504606847e+18]" },
        { "{\"B\":1,\"a\":2,\"_\":3,\"\xc3\xa9\":4}", "{\"\\u00e9\":4,\"_\":3,\"a\":2,\"B\":1}",
          "{\"B\":1,\"_\":3,\"a\":2,\"\xc3\xa9\":4}" },
        { " { \"k\" : [ true , false , null , { } , [ ] ] } ", "{\"k\":[true,false,null,{},[]]}",
          "{\"k\":[true,false,null,{},[]]}" },
        { "\"tab\\tquote\\\"\\u0001\\/\"", "\"tab\\u0009quote\\u0022\\u0001/\"",
          "\"tab\\tquote\\\"\\u0001/\"" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *x = canon(cases[i].x), *y = canon(cases[i].y);
        ASSERT_EQ_STR(x, cases[i].want);
        ASSERT_EQ_STR(y, cases[i].want);
        /* the canonical form is a fixed point and parses back */
        char *again = canon(x);
        ASSERT_EQ_STR(again, x);
        free(x);
        free(y);
        free(again);
    }
    /* array order matters, object order does not */
    char *p = canon("[1,2]"), *q = canon("[2,1]");
    ASSERT_TRUE(strcmp(p, q) != 0);
    free(p);
    free(q);
}

TEST(json_parse_reports_the_position)
{
    ragd_error err;
    cJSON *v = NULL;
    ASSERT_EQ_INT(json_parse("{\"a\":\n  }", 9, &v, &err), RAGD_EFORMAT);
    ASSERT_TRUE(strstr(err.msg, "line 2") != NULL);
    ASSERT_EQ_INT(json_parse("{} x", 4, &v, &err), RAGD_EFORMAT);
    ASSERT_TRUE(strstr(err.msg, "byte 3") != NULL);
    ASSERT_EQ_INT(json_parse("", 0, &v, &err), RAGD_EFORMAT);
    ASSERT_TRUE(v == NULL);
    /* trailing whitespace is fine */
    ASSERT_OK(json_parse("[1] \n", 5, &v, &err));
    ASSERT_TRUE(cJSON_IsArray(v));
    cJSON_Delete(v);
}

TEST(typed_getters)
{
    cJSON *o = NULL;
    const char *doc = "{\"s\":\"x\",\"o\":{},\"a\":[],\"i\":42,\"f\":2.5,\"b\":true,\"n\":null,"
                      "\"neg\":-3}";
    ASSERT_OK(json_parse(doc, strlen(doc), &o, NULL));
    ASSERT_EQ_STR(json_get_str(o, "s"), "x");
    ASSERT_TRUE(json_get_str(o, "i") == NULL && json_get_str(o, "missing") == NULL);
    ASSERT_TRUE(json_get_obj(o, "o") != NULL && json_get_obj(o, "a") == NULL);
    ASSERT_TRUE(json_get_arr(o, "a") != NULL && json_get_arr(o, "o") == NULL);
    int64_t i = 7;
    ASSERT_OK(json_get_int(o, "i", 0, 100, &i));
    ASSERT_EQ_INT(i, 42);
    i = 7;
    ASSERT_EQ_INT(json_get_int(o, "i", 0, 41, &i), RAGD_EINVAL);     /* above max */
    ASSERT_EQ_INT(json_get_int(o, "neg", 0, 10, &i), RAGD_EINVAL);   /* below min */
    ASSERT_EQ_INT(json_get_int(o, "f", 0, 10, &i), RAGD_EINVAL);     /* not whole */
    ASSERT_EQ_INT(json_get_int(o, "s", 0, 10, &i), RAGD_EINVAL);     /* not a number */
    ASSERT_EQ_INT(json_get_int(o, "n", 0, 10, &i), RAGD_ENOTFOUND);  /* null = absent */
    ASSERT_EQ_INT(json_get_int(o, "missing", 0, 10, &i), RAGD_ENOTFOUND);
    ASSERT_EQ_INT(i, 7);  /* untouched by failures */
    double d = 0;
    ASSERT_OK(json_get_num(o, "f", 0, 3, &d));
    ASSERT_NEAR(d, 2.5, 0);
    ASSERT_EQ_INT(json_get_num(o, "f", 0, 2, &d), RAGD_EINVAL);
    bool b = false;
    ASSERT_OK(json_get_bool(o, "b", &b));
    ASSERT_TRUE(b);
    ASSERT_EQ_INT(json_get_bool(o, "i", &b), RAGD_EINVAL);
    ASSERT_EQ_INT(json_get_bool(o, "missing", &b), RAGD_ENOTFOUND);
    buf_t w = BUF_INIT;
    json_write(json_get_obj(o, "o"), &w);
    ASSERT_EQ_STR(w.data, "{}");
    buf_free(&w);
    cJSON_Delete(o);
}

int main(void)
{
    RUN(canonical_json_sorts_keys_and_normalises_numbers);
    RUN(canonical_forms);
    RUN(json_parse_reports_the_position);
    RUN(typed_getters);
    return TEST_REPORT();
}
