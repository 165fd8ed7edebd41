/*
 * test_arena.c - the per-request bump allocator: alignment of every
 * allocation, contents survive later allocations (no overlap), oversized
 * requests, strdup, calloc zeroing, reset reusing its chunk, and destroy
 * (ASan reports anything left behind).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "testing.h"
#include "util/arena.h"

TEST(allocations_are_aligned_and_disjoint)
{
    arena a;
    arena_init(&a, 256);
    enum { N = 2000 };
    unsigned char *p[N];
    size_t len[N];
    for (int i = 0; i < N; i++) {
        len[i] = (size_t)(i * 7919 % 300);  /* 0..299 bytes, some above the chunk */
        p[i] = arena_alloc(&a, len[i]);
        ASSERT_TRUE(p[i] != NULL);
        ASSERT_EQ_INT((uintptr_t)p[i] % ARENA_ALIGN, 0);
        memset(p[i], i & 0xff, len[i]);
    }
    for (int i = 0; i < N; i++)
        for (size_t j = 0; j < len[i]; j++)
            ASSERT_EQ_INT(p[i][j], i & 0xff);
    /* zero-size allocations are distinct pointers */
    ASSERT_TRUE(arena_alloc(&a, 0) != arena_alloc(&a, 0));
    arena_destroy(&a);
}

TEST(large_allocations_get_their_own_chunk)
{
    arena a = ARENA_INIT;
    char *small = arena_alloc(&a, 10);
    memcpy(small, "before", 7);
    size_t big = 10 * ARENA_DEFAULT_CHUNK;
    unsigned char *b = arena_alloc(&a, big);
    memset(b, 0xab, big);
    /* the current chunk still serves small requests after the big one */
    char *after = arena_alloc(&a, 10);
    ASSERT_TRUE(after == small + ARENA_ALIGN);
    ASSERT_EQ_STR(small, "before");
    ASSERT_EQ_INT(b[big - 1], 0xab);
    ASSERT_TRUE(arena_used(&a) >= big + 20);
    arena_destroy(&a);
    ASSERT_EQ_INT(arena_used(&a), 0);
}

TEST(strdup_and_calloc)
{
    arena a = ARENA_INIT;
    char *s = arena_strdup(&a, "squat");
    char *t = arena_strndup(&a, "deadlift", 4);
    ASSERT_EQ_STR(s, "squat");
    ASSERT_EQ_STR(t, "dead");
    double *z = arena_calloc(&a, 1000, sizeof *z);
    for (int i = 0; i < 1000; i++)
        ASSERT_TRUE(z[i] == 0.0);
    arena_destroy(&a);
}

TEST(reset_forgets_everything_and_reuses_a_chunk)
{
    arena a;
    arena_init(&a, 1024);
    arena_alloc(&a, 100);
    for (int i = 0; i < 100; i++)
        arena_alloc(&a, 500);
    arena_alloc(&a, 1 << 20);
    ASSERT_TRUE(arena_used(&a) > (1 << 20));
    arena_reset(&a);
    ASSERT_EQ_INT(arena_used(&a), 0);
    /* one regular chunk is kept: the next allocation starts at its beginning */
    void *again = arena_alloc(&a, 100);
    ASSERT_TRUE(again != NULL);
    ASSERT_EQ_INT((uintptr_t)again % ARENA_ALIGN, 0);
    arena_reset(&a);
    arena_reset(&a);  /* twice, and on an empty arena, is fine */
    arena_destroy(&a);
    arena_destroy(&a);
    ASSERT_TRUE(arena_alloc(&a, 8) != NULL);  /* usable after destroy */
    arena_destroy(&a);
}

int main(void)
{
    RUN(allocations_are_aligned_and_disjoint);
    RUN(large_allocations_get_their_own_chunk);
    RUN(strdup_and_calloc);
    RUN(reset_forgets_everything_and_reuses_a_chunk);
    return TEST_REPORT();
}
