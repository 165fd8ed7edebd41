/*
 * test_json.c - JSON helpers: canonical output (keys sorted bytewise at every
 * depth, no whitespace, one number format, strings re-escaped) so equal
 * documents written differently give the same bytes and the same SHA-256;
 * canonical output parses back to an equal document; parse errors with their
 * position; and the typed getters' ranges and absent/wrong-type answers.
 * The limits json_parse applies to untrusted input (nesting depth, NUL in
 * strings, non-finite numbers, duplicate member names), json_parse_stored for
 * values the server wrote, and the one checked reader of integers from input
 * (json_get_count / json_count_text) at and beyond every boundary.
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

/* "[[[...1...]]]" nested `depth` arrays deep; caller frees. */
static char *nested(int depth)
{
    char *s = malloc((size_t)depth * 2 + 2);
    memset(s, '[', (size_t)depth);
    s[depth] = '1';
    memset(s + depth + 1, ']', (size_t)depth);
    s[2 * depth + 1] = '\0';
    return s;
}

static int parse_rc(const char *s, ragd_error *err)
{
    cJSON *v = NULL;
    int rc = json_parse(s, strlen(s), &v, err);
    cJSON_Delete(v);
    return rc;
}

TEST(depth_limit)
{
    ragd_error err;
    char *ok = nested(JSON_MAX_DEPTH), *deep = nested(JSON_MAX_DEPTH + 1);
    char *abyss = nested(1100);  /* beyond cJSON's own nesting limit */
    ASSERT_OK(parse_rc(ok, &err));
    ASSERT_EQ_INT(parse_rc(deep, &err), RAGD_ETOOBIG);
    ASSERT_TRUE(strstr(err.msg, "deeper than 64") != NULL);
    ASSERT_EQ_INT(parse_rc(abyss, &err), RAGD_ETOOBIG);
    /* brackets inside strings do not count */
    ASSERT_OK(parse_rc("{\"a\": \"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"}",
                       &err));
    /* a stored value deeper than the request limit still reads */
    cJSON *v = NULL;
    ASSERT_OK(json_parse_stored(deep, strlen(deep), &v));
    cJSON_Delete(v);
    v = (cJSON *)&err;  /* must stay untouched on failure */
    ASSERT_EQ_INT(json_parse_stored(abyss, strlen(abyss), &v), RAGD_EFORMAT);
    ASSERT_TRUE(v == (cJSON *)&err);
    ASSERT_EQ_INT(json_parse_stored("", 0, &v), RAGD_EFORMAT);
    free(ok);
    free(deep);
    free(abyss);
}

TEST(nul_refused)
{
    ragd_error err;
    ASSERT_EQ_INT(parse_rc("{\"m\": \"a\\u0000b\"}", &err), RAGD_EFORMAT);
    ASSERT_TRUE(strstr(err.msg, "NUL") != NULL);
    ASSERT_EQ_INT(parse_rc("{\"a\\u0000b\": 1}", &err), RAGD_EFORMAT);  /* in a key too */
    ASSERT_EQ_INT(parse_rc("[\"x\", \"\\\\\\u0000\"]", &err), RAGD_EFORMAT); /* \\ then \u0000 */
    /* an escaped backslash followed by the text u0000 is not a NUL */
    cJSON *v = NULL;
    const char *txt = "{\"m\": \"a\\\\u0000b\"}";
    ASSERT_OK(json_parse(txt, strlen(txt), &v, &err));
    ASSERT_EQ_STR(json_get_str(v, "m"), "a\\u0000b");
    cJSON_Delete(v);
    /* a raw 0 byte inside a string */
    const char raw[] = "{\"m\": \"a\0b\"}";
    v = NULL;
    ASSERT_EQ_INT(json_parse(raw, sizeof raw - 1, &v, &err), RAGD_EFORMAT);
    ASSERT_TRUE(v == NULL);
    /* other escapes are fine */
    ASSERT_OK(parse_rc("{\"m\": \"\\u0001 \\u00e9 \\ud83d\\ude00\"}", &err));
}

/* Two member names differing only in invalid bytes used to canonicalise to
 * the same U+FFFD form (one cache key for two bodies; found by fuzz_json). */
TEST(invalid_utf8_refused)
{
    ragd_error err;
    ASSERT_EQ_INT(parse_rc("{\"a\xff\": 1, \"a\xfe\": 2}", &err), RAGD_EFORMAT);
    ASSERT_TRUE(strstr(err.msg, "UTF-8 at byte 3") != NULL);
    ASSERT_EQ_INT(parse_rc("{\"m\": \"\xc0\xaf\"}", &err), RAGD_EFORMAT);     /* overlong */
    ASSERT_EQ_INT(parse_rc("{\"m\": \"\xed\xa0\x80\"}", &err), RAGD_EFORMAT); /* surrogate */
    ASSERT_EQ_INT(parse_rc("[\"\xe2\x82\"]", &err), RAGD_EFORMAT);             /* cut short */
    ASSERT_OK(parse_rc("{\"caf\xc3\xa9\": \"\xf0\x9f\x98\x80\"}", &err));
}

TEST(non_finite_refused)
{
    ragd_error err;
    ASSERT_EQ_INT(parse_rc("{\"x\": 1e400}", &err), RAGD_EFORMAT);
    ASSERT_TRUE(strstr(err.msg, "'x'") != NULL);
    ASSERT_EQ_INT(parse_rc("[1, [2, -1e999]]", &err), RAGD_EFORMAT);
    ASSERT_OK(parse_rc("{\"x\": 1.7976931348623157e308, \"y\": 1e-400}", &err));
}

TEST(duplicate_members_refused)
{
    ragd_error err;
    ASSERT_EQ_INT(parse_rc("{\"a\": 1, \"b\": 2, \"a\": 3}", &err), RAGD_EFORMAT);
    ASSERT_EQ_STR(err.msg, "member 'a' appears twice in one object");
    ASSERT_EQ_INT(parse_rc("[{\"x\": {\"m\": [1], \"m\": [2]}}]", &err), RAGD_EFORMAT);
    ASSERT_OK(parse_rc("{\"a\": {\"a\": 1}, \"b\": [{\"a\": 1}, {\"a\": 2}]}", &err));
    ASSERT_OK(parse_rc("{\"a\": 1, \"A\": 2, \"a \": 3}", &err));
}

TEST(count_from_json)
{
    ragd_error err;
    const char *doc = "{\"big\": 9223372036854775807, \"huge\": 1e300, \"neg\": -1, \"frac\": 2.5,"
                      " \"str\": \"10\", \"ok\": 10, \"nul\": null, \"max\": 9007199254740992,"
                      " \"tf\": true, \"exp\": 1e2}";
    cJSON *o = NULL;
    ASSERT_OK(json_parse(doc, strlen(doc), &o, &err));
    int64_t v = 7;
    ASSERT_EQ_INT(json_get_count(o, "big", 1, INT64_MAX, &v, &err), RAGD_EINVAL);
    ASSERT_EQ_STR(err.msg, "'big' must be an integer from 1 to 9007199254740992");
    ASSERT_EQ_INT(json_get_count(o, "big", 1, 1000, &v, &err), RAGD_EINVAL);
    ASSERT_EQ_STR(err.msg, "'big' must be an integer from 1 to 1000");
    ASSERT_EQ_INT(json_get_count(o, "huge", 0, INT64_MAX, &v, NULL), RAGD_EINVAL);
    ASSERT_EQ_INT(json_get_count(o, "neg", 0, 10, &v, NULL), RAGD_EINVAL);
    ASSERT_EQ_INT(json_get_count(o, "frac", 0, 10, &v, NULL), RAGD_EINVAL);
    ASSERT_EQ_INT(json_get_count(o, "str", 0, 10, &v, NULL), RAGD_EINVAL);
    ASSERT_EQ_INT(json_get_count(o, "tf", 0, 10, &v, NULL), RAGD_EINVAL);
    ASSERT_EQ_INT(v, 7);  /* untouched by every failure */
    ASSERT_EQ_INT(json_get_count(o, "nul", 0, 10, &v, NULL), RAGD_ENOTFOUND);
    ASSERT_EQ_INT(json_get_count(o, "absent", 0, 10, &v, NULL), RAGD_ENOTFOUND);
    ASSERT_EQ_INT(v, 7);
    ASSERT_OK(json_get_count(o, "ok", 10, 10, &v, NULL));
    ASSERT_EQ_INT(v, 10);
    ASSERT_OK(json_get_count(o, "exp", 0, 100, &v, NULL));
    ASSERT_EQ_INT(v, 100);
    ASSERT_OK(json_get_count(o, "max", 0, INT64_MAX, &v, NULL));
    ASSERT_EQ_INT(v, JSON_INT_LIMIT);
    ASSERT_EQ_INT(json_get_count(o, "neg", -5, 5, &v, NULL), 0);
    ASSERT_EQ_INT(v, -1);
    /* json_get_int is the same rule */
    ASSERT_EQ_INT(json_get_int(o, "big", 0, INT64_MAX, &v), RAGD_EINVAL);
    cJSON_Delete(o);
}

TEST(count_from_text)
{
    ragd_error err;
    int64_t v = 3;
    const char *bad[] = { "", "-", "+1", " 1", "1 ", "1.0", "1e3", "0x10", "abc",
                          "99999999999999999999", "9223372036854775807", "12345678901234567" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ASSERT_EQ_INT(json_count_text(bad[i], "limit", 0, INT64_MAX, &v, &err), RAGD_EINVAL);
    ASSERT_EQ_INT(v, 3);
    ASSERT_EQ_STR(err.msg, "'limit' must be an integer from 0 to 9007199254740992");
    ASSERT_EQ_INT(json_count_text(NULL, "limit", 0, 10, &v, &err), RAGD_ENOTFOUND);
    ASSERT_EQ_INT(json_count_text("11", "limit", 0, 10, &v, &err), RAGD_EINVAL);
    ASSERT_EQ_INT(json_count_text("-1", "offset", 0, 10, &v, &err), RAGD_EINVAL);
    ASSERT_OK(json_count_text("0010", "limit", 0, 10, &v, &err));
    ASSERT_EQ_INT(v, 10);
    ASSERT_OK(json_count_text("-4", "x", -5, 5, &v, &err));
    ASSERT_EQ_INT(v, -4);
    ASSERT_OK(json_count_text("9007199254740992", "x", 0, INT64_MAX, &v, &err));
    ASSERT_EQ_INT(v, JSON_INT_LIMIT);
}

int main(void)
{
    RUN(canonical_json_sorts_keys_and_normalises_numbers);
    RUN(canonical_forms);
    RUN(json_parse_reports_the_position);
    RUN(typed_getters);
    RUN(depth_limit);
    RUN(nul_refused);
    RUN(invalid_utf8_refused);
    RUN(non_finite_refused);
    RUN(duplicate_members_refused);
    RUN(count_from_json);
    RUN(count_from_text);
    return TEST_REPORT();
}
