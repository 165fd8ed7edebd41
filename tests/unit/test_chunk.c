/*
 * test_chunk.c - the word-piece chunker: windows never exceed the size, map
 * to exact byte spans, overlap as asked, cover the whole text, and never cut
 * a word between its "##" pieces.
 */
#include <stdlib.h>
#include <string.h>

#include "kb_fixture.h"
#include "kb/chunker.h"
#include "testing.h"

static char g_dir[] = "/tmp/ragd-test-chunk-XXXXXX";
static wordpiece *g_wp;

TEST(short_text_is_one_chunk)
{
    const char *t = "  The quick brown fox.  ";
    chunker_span *sp;
    size_t n;
    ASSERT_OK(chunker_split(g_wp, t, strlen(t), 16, 4, &sp, &n));
    ASSERT_EQ_INT(n, 1);
    ASSERT_EQ_INT(sp[0].start, 2); /* leading blanks left out */
    ASSERT_EQ_INT(sp[0].end, strlen(t) - 2);
    ASSERT_EQ_INT(sp[0].pieces, 5);
    free(sp);
}

TEST(blank_text_gives_one_whole_span)
{
    chunker_span *sp;
    size_t n;
    ASSERT_OK(chunker_split(g_wp, "   ", 3, 16, 4, &sp, &n));
    ASSERT_EQ_INT(n, 1);
    ASSERT_EQ_INT(sp[0].start, 0);
    ASSERT_EQ_INT(sp[0].end, 3);
    free(sp);
}

TEST(windows_respect_size_overlap_and_offsets)
{
    char text[4096] = "";
    for (int i = 0; i < 60; i++)
        strcat(text, i % 3 ? "the lazy dog " : "fox jumping over ");
    size_t len = strlen(text);
    wordpiece_piece *p;
    size_t np;
    wordpiece_tokenize(g_wp, text, len, 0, &p, &np, NULL);
    chunker_span *sp;
    size_t n;
    ASSERT_OK(chunker_split(g_wp, text, len, 10, 3, &sp, &n));
    ASSERT_TRUE(n > 10);
    ASSERT_EQ_INT(sp[0].start, p[0].start);
    ASSERT_EQ_INT(sp[n - 1].end, p[np - 1].end);
    for (size_t i = 0; i < n; i++) {
        ASSERT_TRUE(sp[i].pieces <= 10 && sp[i].pieces > 0);
        /* span bytes re-tokenise to exactly pieces pieces */
        ASSERT_EQ_INT(wordpiece_count(g_wp, text + sp[i].start, sp[i].end - sp[i].start),
                      sp[i].pieces);
        /* never starts or ends inside "jumping" (jump ##ing) */
        ASSERT_TRUE(strncmp(text + sp[i].start, "ing", 3) != 0);
        ASSERT_TRUE(sp[i].end == len || text[sp[i].end] == ' ' || text[sp[i].end] == '.');
        if (i > 0) {
            ASSERT_TRUE(sp[i].start < sp[i - 1].end);  /* overlaps its neighbour */
            ASSERT_TRUE(sp[i].start > sp[i - 1].start); /* and moves forward */
        }
    }
    free(sp);
    free(p);
}

TEST(no_overlap_tiles_the_text)
{
    const char *t = "bench press squat knee chest leg pain exercise for and of is";
    chunker_span *sp;
    size_t n;
    ASSERT_OK(chunker_split(g_wp, t, strlen(t), 4, 0, &sp, &n));
    ASSERT_EQ_INT(n, 3);
    ASSERT_EQ_INT(sp[0].start, 0);
    ASSERT_TRUE(strncmp(t + sp[1].start, "chest", 5) == 0);
    ASSERT_TRUE(strncmp(t + sp[2].start, "for", 3) == 0);
    ASSERT_EQ_INT(sp[2].end, strlen(t));
    free(sp);
}

TEST(word_longer_than_window_is_split)
{
    const char *t = "unbelievable unbelievable"; /* un ##believ ##able each */
    chunker_span *sp;
    size_t n;
    ASSERT_OK(chunker_split(g_wp, t, strlen(t), 2, 0, &sp, &n));
    ASSERT_TRUE(n >= 3);
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += sp[i].pieces;
    free(sp);
    ASSERT_EQ_INT(total, 6);
}

TEST(bad_arguments)
{
    chunker_span *sp;
    size_t n;
    ASSERT_EQ_INT(chunker_split(g_wp, "a", 1, 0, 0, &sp, &n), RAGD_EINVAL);
    ASSERT_EQ_INT(chunker_split(g_wp, "a", 1, 4, 4, &sp, &n), RAGD_EINVAL);
}

int main(void)
{
    if (!mkdtemp(g_dir) || !(g_wp = kbfx_tokenizer(g_dir)))
        return 1;
    RUN(short_text_is_one_chunk);
    RUN(blank_text_gives_one_whole_span);
    RUN(windows_respect_size_overlap_and_offsets);
    RUN(no_overlap_tiles_the_text);
    RUN(word_longer_than_window_is_split);
    RUN(bad_arguments);
    wordpiece_close(g_wp);
    kbfx_rmdir(g_dir);
    return TEST_REPORT();
}
