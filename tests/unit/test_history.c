/*
 * test_history.c - the sample ring (src/obs/history.c): samples come back
 * oldest first, the newest overwrites the oldest once full, rows keep their
 * width.
 */
#include <stdlib.h>

#include "obs/history.h"
#include "testing.h"

TEST(empty_and_invalid_rings)
{
    ASSERT_TRUE(history_create(0, 3) == NULL);
    ASSERT_TRUE(history_create(3, 0) == NULL);
    history *h = history_create(4, 2);
    int64_t t[4];
    float v[8];
    ASSERT_EQ_INT(history_read(h, t, v), 0);
    ASSERT_EQ_INT(history_capacity(h), 4);
    ASSERT_EQ_INT(history_width(h), 2);
    history_destroy(h);
}

TEST(samples_come_back_oldest_first_and_wrap)
{
    history *h = history_create(3, 2);
    for (int i = 0; i < 5; i++) {
        float row[2] = { (float)i, (float)(10 * i) };
        history_push(h, 1000 * i, row);
    }
    int64_t t[3];
    float v[6];
    ASSERT_EQ_INT(history_read(h, t, v), 3);  /* 0 and 1 were overwritten */
    for (int i = 0; i < 3; i++) {
        ASSERT_EQ_INT(t[i], 1000 * (i + 2));
        ASSERT_NEAR(v[2 * i], (float)(i + 2), 1e-6);
        ASSERT_NEAR(v[2 * i + 1], (float)(10 * (i + 2)), 1e-6);
    }
    history_destroy(h);
}

int main(void)
{
    RUN(empty_and_invalid_rings);
    RUN(samples_come_back_oldest_first_and_wrap);
    return TEST_REPORT();
}
