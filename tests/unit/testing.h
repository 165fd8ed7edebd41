/*
 * testing.h - a tiny test harness: TEST(name) defines a case, RUN(name) runs it,
 * ASSERT_* record a failure with file:line and return from the case. SKIP(why)
 * ends a case that cannot run here (no AMX, no Redis): it prints "SKIP name:
 * why" and counts as skipped, never as passed. main() ends with TEST_REPORT(),
 * which prints "N passed, N failed, N skipped" and sets the exit code: 1 on any
 * failure, TEST_SKIP_CODE (ctest's SKIP_RETURN_CODE) when every case skipped.
 */
#ifndef RAGD_TESTING_H
#define RAGD_TESTING_H

#include <math.h>
#include <stdio.h>
#include <string.h>

#define TEST_SKIP_CODE 77

static int t__passed, t__failed, t__skipped, t__cur_failed, t__cur_skipped;
static char t__skip_why[256];

#define TEST(name) static void name(void)
#define RUN(name)                                                        \
    do {                                                                 \
        t__cur_failed = 0;                                               \
        t__cur_skipped = 0;                                              \
        name();                                                          \
        if (t__cur_failed) {                                             \
            t__failed++;                                                 \
            fprintf(stderr, "FAIL %s\n", #name);                         \
        } else if (t__cur_skipped) {                                     \
            t__skipped++;                                                \
            fprintf(stderr, "SKIP %s: %s\n", #name, t__skip_why);        \
        } else {                                                         \
            t__passed++;                                                 \
            fprintf(stderr, "ok   %s\n", #name);                         \
        }                                                                \
    } while (0)
/* End the current case as skipped, with a reason (printf format). */
#define SKIP(...)                                                        \
    do {                                                                 \
        snprintf(t__skip_why, sizeof t__skip_why, __VA_ARGS__);         \
        t__cur_skipped = 1;                                              \
        return;                                                          \
    } while (0)
#define T__FAIL(...)                                                     \
    do {                                                                 \
        fprintf(stderr, "  %s:%d: ", __FILE__, __LINE__);                \
        fprintf(stderr, __VA_ARGS__);                                    \
        fputc('\n', stderr);                                             \
        t__cur_failed = 1;                                               \
        return;                                                          \
    } while (0)
#define ASSERT_TRUE(c)                                                   \
    do { if (!(c)) T__FAIL("expected true: %s", #c); } while (0)
#define ASSERT_EQ_INT(a, b)                                              \
    do {                                                                 \
        long long t__a = (long long)(a), t__b = (long long)(b);          \
        if (t__a != t__b)                                                \
            T__FAIL("%s == %s: %lld != %lld", #a, #b, t__a, t__b);       \
    } while (0)
#define ASSERT_EQ_STR(a, b)                                              \
    do {                                                                 \
        const char *t__a = (a), *t__b = (b);                             \
        if (!t__a || !t__b || strcmp(t__a, t__b) != 0)                   \
            T__FAIL("%s == %s: \"%s\" != \"%s\"", #a, #b,                \
                    t__a ? t__a : "(null)", t__b ? t__b : "(null)");     \
    } while (0)
#define ASSERT_NEAR(a, b, eps)                                           \
    do {                                                                 \
        double t__a = (a), t__b = (b);                                   \
        if (!(fabs(t__a - t__b) <= (eps)))                               \
            T__FAIL("%s ~= %s: %g vs %g (eps %g)", #a, #b, t__a, t__b,   \
                    (double)(eps));                                      \
    } while (0)
#define ASSERT_OK(expr)                                                  \
    do {                                                                 \
        int t__rc = (expr);                                              \
        if (t__rc != 0)                                                  \
            T__FAIL("%s returned %d", #expr, t__rc);                     \
    } while (0)
#define TEST_REPORT()                                                    \
    (printf("%d passed, %d failed, %d skipped\n", t__passed, t__failed,  \
            t__skipped),                                                 \
     t__failed ? 1 : (t__skipped && !t__passed) ? TEST_SKIP_CODE : 0)

#endif
