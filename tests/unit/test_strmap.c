/*
 * test_strmap.c - the string map against a reference: put/get/replace/delete
 * of byte-string keys (embedded NULs, empty key), iteration sees each live
 * key once, and churn (insert and delete of ever new keys, 1M of them) keeps
 * the table as small as its live entries need.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testing.h"
#include "util/strmap.h"

static size_t key_of(int i, char *k)
{
    return (size_t)snprintf(k, 32, "key-%d", i);
}

TEST(put_get_replace_delete)
{
    strmap m = STRMAP_INIT;
    int vals[1000];
    char k[32];
    ASSERT_TRUE(strmap_get(&m, "x", 1) == NULL);
    ASSERT_TRUE(strmap_del(&m, "x", 1) == NULL);
    for (int i = 0; i < 1000; i++)
        ASSERT_TRUE(strmap_put(&m, k, key_of(i, k), &vals[i]) == NULL);
    ASSERT_EQ_INT(m.count, 1000);
    for (int i = 0; i < 1000; i++)
        ASSERT_TRUE(strmap_get(&m, k, key_of(i, k)) == &vals[i]);
    /* replacing returns the previous value and does not add an entry */
    ASSERT_TRUE(strmap_put(&m, k, key_of(7, k), &vals[8]) == &vals[7]);
    ASSERT_TRUE(strmap_get(&m, k, key_of(7, k)) == &vals[8]);
    ASSERT_EQ_INT(m.count, 1000);
    for (int i = 0; i < 1000; i += 2)
        ASSERT_TRUE(strmap_del(&m, k, key_of(i, k)) != NULL);
    ASSERT_EQ_INT(m.count, 500);
    for (int i = 0; i < 1000; i++) {
        void *v = strmap_get(&m, k, key_of(i, k));
        ASSERT_TRUE(i % 2 ? v != NULL : v == NULL);
    }
    ASSERT_TRUE(strmap_del(&m, k, key_of(0, k)) == NULL);  /* already gone */
    strmap_free(&m);
    ASSERT_EQ_INT(m.cap, 0);
    ASSERT_TRUE(m.slots == NULL);
}

TEST(keys_are_byte_strings)
{
    strmap m = STRMAP_INIT;
    int a, b, c;
    /* "a\0b" and "a" differ; the empty key is a key */
    ASSERT_TRUE(strmap_put(&m, "a\0b", 3, &a) == NULL);
    ASSERT_TRUE(strmap_put(&m, "a", 1, &b) == NULL);
    ASSERT_TRUE(strmap_put(&m, "", 0, &c) == NULL);
    ASSERT_TRUE(strmap_get(&m, "a\0b", 3) == &a);
    ASSERT_TRUE(strmap_get(&m, "a", 1) == &b);
    ASSERT_TRUE(strmap_get(&m, "", 0) == &c);
    ASSERT_TRUE(strmap_get(&m, "a\0c", 3) == NULL);
    /* the map keeps its own copy of the key */
    char buf[8] = "temp";
    ASSERT_TRUE(strmap_put(&m, buf, 4, &a) == NULL);
    memcpy(buf, "XXXX", 4);
    ASSERT_TRUE(strmap_get(&m, "temp", 4) == &a);
    strmap_free(&m);
}

TEST(iteration_sees_each_live_key_once)
{
    strmap m = STRMAP_INIT;
    enum { N = 500 };
    static int seen[N];
    char k[32];
    for (int i = 0; i < N; i++)
        strmap_put(&m, k, key_of(i, k), &seen[i]);
    for (int i = 0; i < N; i += 3)
        strmap_del(&m, k, key_of(i, k));
    memset(seen, 0, sizeof seen);
    const char *key;
    void *val;
    size_t n = 0;
    for (size_t it = 0; strmap_next(&m, &it, &key, &val);) {
        int idx = (int)((int *)val - seen);
        ASSERT_TRUE(idx >= 0 && idx < N && idx % 3 != 0);
        char want[32];
        key_of(idx, want);
        ASSERT_EQ_STR(key, want);
        seen[idx]++;
        n++;
    }
    ASSERT_EQ_INT(n, m.count);
    for (int i = 0; i < N; i++)
        ASSERT_EQ_INT(seen[i], i % 3 ? 1 : 0);
    strmap_free(&m);
}

/* A map of document ids under churn: 1M keys inserted and deleted, never
 * more than one live at a time. The table must not grow with the tombstones. */
TEST(churn_does_not_grow_the_table)
{
    strmap m = STRMAP_INIT;
    int v;
    char k[32];
    for (int i = 0; i < 1000000; i++) {
        size_t n = key_of(i, k);
        strmap_put(&m, k, n, &v);
        ASSERT_TRUE(strmap_del(&m, k, n) == &v);
    }
    ASSERT_EQ_INT(m.count, 0);
    ASSERT_TRUE(m.cap <= 16);
    /* with a steady population of 1,000 live keys the table stays sized for them */
    for (int i = 0; i < 1000; i++)
        strmap_put(&m, k, key_of(i, k), &v);
    size_t cap = m.cap;
    for (int i = 1000; i < 1000000; i++) {
        strmap_put(&m, k, key_of(i, k), &v);
        strmap_del(&m, k, key_of(i - 1000, k));
    }
    ASSERT_EQ_INT(m.count, 1000);
    ASSERT_TRUE(m.cap <= cap);
    for (int i = 999000; i < 1000000; i++)
        ASSERT_TRUE(strmap_get(&m, k, key_of(i, k)) == &v);
    strmap_free(&m);
}

int main(void)
{
    RUN(put_get_replace_delete);
    RUN(keys_are_byte_strings);
    RUN(iteration_sees_each_live_key_once);
    RUN(churn_does_not_grow_the_table);
    return TEST_REPORT();
}
