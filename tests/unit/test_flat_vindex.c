/*
 * test_flat_vindex.c - the flat-then-graph facade: exact while small, switch
 * to HNSW past flat_max with every vector kept, deletes and filters through
 * both modes, snapshot of a flat index loads as a graph.
 */
#include <stdlib.h>
#include <unistd.h>

#include "index/vindex.h"
#include "testing.h"
#include "util/err.h"

#define D 16

static bool odd(void *ud, uint32_t id)
{
    (void)ud;
    return id % 2 == 1;
}

TEST(test_vindex_modes)
{
    float *v = malloc(sizeof(float) * 600 * D);
    for (int i = 0; i < 600 * D; i++)
        v[i] = (float)rand() / RAND_MAX - 0.5f;
    vindex_params p = vindex_default_params(D);
    p.flat_max = 300;
    vindex *vx;
    ASSERT_OK(vindex_create(&p, &vx));
    for (uint32_t i = 0; i < 300; i++)
        ASSERT_OK(vindex_add(vx, i, v + i * D));
    ASSERT_TRUE(!vindex_is_graph(vx));
    vec_hit h[5];
    size_t n;
    hnsw_search_opts o = {.k = 5, .n_match = -1};
    ASSERT_OK(vindex_search(vx, v + 7 * D, &o, h, &n));
    ASSERT_EQ_INT(h[0].id, 7);
    ASSERT_EQ_INT(vindex_add(vx, 7, v), RAGD_EEXISTS);
    ASSERT_OK(vindex_delete(vx, 7));
    for (uint32_t i = 300; i < 600; i++)
        ASSERT_OK(vindex_add(vx, i, v + i * D));
    ASSERT_TRUE(vindex_is_graph(vx));
    ASSERT_EQ_INT(vindex_count(vx), 599);
    o.mode = HNSW_GRAPH;
    ASSERT_OK(vindex_search(vx, v + 450 * D, &o, h, &n));
    ASSERT_EQ_INT(h[0].id, 450);
    ASSERT_OK(vindex_search(vx, v + 7 * D, &o, h, &n));
    ASSERT_TRUE(h[0].id != 7);
    o.filter = odd;
    ASSERT_OK(vindex_search(vx, v + 450 * D, &o, h, &n));
    ASSERT_EQ_INT(n, 5);
    for (size_t i = 0; i < n; i++)
        ASSERT_EQ_INT(h[i].id % 2, 1);
    ASSERT_TRUE(vindex_memory(vx) > 600 * D * 4);
    vindex_destroy(vx);

    /* a flat index saves as a graph */
    ASSERT_OK(vindex_create(&p, &vx));
    for (uint32_t i = 0; i < 50; i++)
        ASSERT_OK(vindex_add(vx, i, v + i * D));
    char path[] = "/tmp/ragd_vindex_XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    ASSERT_OK(vindex_save(vx, path));
    vindex *ld;
    ASSERT_OK(vindex_load(path, 300, &ld));
    ASSERT_TRUE(vindex_is_graph(ld));
    ASSERT_EQ_INT(vindex_count(ld), 50);
    o.filter = NULL;
    ASSERT_OK(vindex_search(ld, v + 3 * D, &o, h, &n));
    ASSERT_EQ_INT(h[0].id, 3);
    unlink(path);
    vindex_destroy(vx);
    vindex_destroy(ld);
    free(v);
}

int main(void)
{
    RUN(test_vindex_modes);
    return TEST_REPORT();
}
