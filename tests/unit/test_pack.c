/*
 * test_pack.c - context packing: item and token limits (tokens counted with
 * the real WordPiece vocabulary), merging of overlapping, touching, bridged
 * and consecutive chunks of one document, chunks already inside an entry,
 * cutting the chunk that crosses the budget, and the prompt rendering.
 */
#include <stdlib.h>

#include "embed/wordpiece.h"
#include "rag/pack.h"
#include "rag_fixture.h"
#include "testing.h"

static wordpiece *g_wp;

/* A document and chunks of it given by byte spans. */
static const char *DOC = "Squats build the legs. Deadlifts build the back. Bench presses "
                         "build the chest. Rows build the upper back. Rest days matter.";

static pack_item chunk(const char *doc_id, size_t start, size_t end, int64_t seq, float rel)
{
    return (pack_item){"fitness", doc_id, start, end, seq, DOC + start, end - start, rel};
}

static pack_result run(const pack_item *it, size_t n, size_t max_items, size_t max_tokens)
{
    pack_opts o;
    pack_default_opts(&o);
    o.max_items = max_items;
    o.max_tokens = max_tokens;
    o.min_tail_tokens = 4;
    pack_result r;
    pack_context(g_wp, it, n, &o, &r);
    return r;
}

static size_t count(const char *s) { return wordpiece_count(g_wp, s, strlen(s)); }

TEST(item_limit_and_order)
{
    pack_item it[3] = {chunk("a", 0, 22, 0, 0.9f), chunk("b", 23, 48, 0, 0.8f),
                       chunk("c", 49, 79, 0, 0.7f)};
    pack_result r = run(it, 3, 2, 0);
    ASSERT_EQ_INT(r.n, 2);
    ASSERT_EQ_INT(r.skipped, 1);
    ASSERT_EQ_STR(r.e[0].doc_id, "a");
    ASSERT_EQ_STR(r.e[0].text, "Squats build the legs.");
    ASSERT_EQ_INT(r.e[0].tokens, count("Squats build the legs."));
    ASSERT_EQ_INT(r.total_tokens, r.e[0].tokens + r.e[1].tokens);
    ASSERT_TRUE(!r.e[0].truncated && r.e[0].nchunks == 1);
    pack_result_free(&r);
}

TEST(overlapping_chunks_merge_once)
{
    /* [0,48) and [23,79) overlap on "Deadlifts build the back." */
    pack_item it[2] = {chunk("d", 23, 79, 1, 0.9f), chunk("d", 0, 48, 0, 0.8f)};
    pack_result r = run(it, 2, 5, 0);
    ASSERT_EQ_INT(r.n, 1);
    ASSERT_EQ_INT(r.e[0].start, 0);
    ASSERT_EQ_INT(r.e[0].end, 79);
    ASSERT_TRUE(r.e[0].len == 79 && memcmp(r.e[0].text, DOC, 79) == 0);
    ASSERT_EQ_INT(r.e[0].nchunks, 2);
    ASSERT_NEAR(r.e[0].relevance, 0.9, 1e-6);
    ASSERT_EQ_INT(r.total_tokens, wordpiece_count(g_wp, DOC, 79));
    pack_result_free(&r);
}

TEST(bridging_chunk_joins_two_entries)
{
    pack_item it[4] = {chunk("d", 0, 22, 0, 0.9f), chunk("x", 0, 5, 0, 0.85f),
                       chunk("d", 49, 79, 2, 0.8f), chunk("d", 22, 49, 1, 0.7f)};
    pack_result r = run(it, 4, 3, 0);
    ASSERT_EQ_INT(r.n, 2);
    ASSERT_EQ_STR(r.e[0].doc_id, "d");
    ASSERT_EQ_INT(r.e[0].end, 79);
    ASSERT_TRUE(memcmp(r.e[0].text, DOC, 79) == 0 && r.e[0].len == 79);
    ASSERT_EQ_INT(r.e[0].nchunks, 3);
    ASSERT_EQ_INT(r.e[0].seq_first, 0);
    ASSERT_EQ_INT(r.e[0].seq_last, 2);
    ASSERT_EQ_STR(r.e[1].doc_id, "x");
    ASSERT_EQ_INT(r.total_tokens, r.e[0].tokens + r.e[1].tokens);
    pack_result_free(&r);
}

TEST(consecutive_chunks_with_a_gap_and_contained_chunks)
{
    /* seq 0 and 1 with the space between them not in either chunk */
    pack_item it[3] = {chunk("d", 0, 22, 0, 0.9f), chunk("d", 23, 48, 1, 0.8f),
                       chunk("d", 7, 12, -1, 0.7f)};
    pack_result r = run(it, 3, 5, 0);
    ASSERT_EQ_INT(r.n, 1);
    ASSERT_EQ_STR(r.e[0].text, "Squats build the legs. Deadlifts build the back.");
    ASSERT_EQ_INT(r.e[0].nchunks, 2); /* the contained one adds nothing */
    ASSERT_EQ_INT(r.skipped, 0);
    pack_result_free(&r);
}

TEST(token_budget_cuts_at_a_piece)
{
    pack_item it[2] = {chunk("a", 0, 48, 0, 0.9f), chunk("b", 49, 124, 0, 0.8f)};
    size_t first = wordpiece_count(g_wp, DOC, 48);
    pack_result r = run(it, 2, 5, first + 6);
    ASSERT_EQ_INT(r.n, 2);
    ASSERT_TRUE(r.e[1].truncated);
    ASSERT_TRUE(r.e[1].tokens <= 6 && r.e[1].tokens >= 4);
    ASSERT_TRUE(r.total_tokens <= first + 6);
    ASSERT_TRUE(strncmp(r.e[1].text, "Bench presses", 13) == 0);
    ASSERT_EQ_INT(r.e[1].end, 49 + r.e[1].len);
    pack_result_free(&r);
    /* too little room for a useful tail: skipped, and a later small chunk fits */
    pack_item it2[3] = {chunk("a", 0, 48, 0, 0.9f), chunk("b", 49, 106, 0, 0.8f),
                        chunk("c", 107, 124, 0, 0.7f)};
    size_t small = wordpiece_count(g_wp, DOC + 107, 17);
    pack_opts o;
    pack_default_opts(&o);
    o.max_tokens = first + small;
    o.min_tail_tokens = small + 1;
    pack_context(g_wp, it2, 3, &o, &r);
    ASSERT_EQ_INT(r.n, 2);
    ASSERT_EQ_STR(r.e[1].doc_id, "c");
    ASSERT_EQ_INT(r.skipped, 1);
    ASSERT_EQ_INT(r.total_tokens, first + small);
    pack_result_free(&r);
}

TEST(merge_that_does_not_fit_is_skipped)
{
    pack_item it[2] = {chunk("d", 0, 22, 0, 0.9f), chunk("d", 22, 124, 1, 0.8f)};
    pack_result r = run(it, 2, 5, count("Squats build the legs.") + 3);
    ASSERT_EQ_INT(r.n, 1);
    ASSERT_EQ_INT(r.e[0].end, 22);
    ASSERT_EQ_INT(r.skipped, 1);
    pack_result_free(&r);
}

TEST(prompt_has_numbered_citations)
{
    pack_item it[2] = {chunk("a", 0, 22, 0, 0.9f), chunk("b", 23, 48, 0, 0.8f)};
    pack_result r = run(it, 2, 5, 0);
    buf_t b = BUF_INIT;
    pack_render_prompt(&r, "what builds the back?", &b);
    ASSERT_TRUE(strstr(b.data, "[1] (fitness / a)\nSquats build the legs.\n") != NULL);
    ASSERT_TRUE(strstr(b.data, "[2] (fitness / b)\nDeadlifts build the back.\n") != NULL);
    ASSERT_TRUE(strstr(b.data, "Cite the sources you use as [n]") != NULL);
    ASSERT_TRUE(strstr(b.data, "\nQuestion: what builds the back?\n") != NULL);
    buf_free(&b);
    pack_result_free(&r);
    pack_result empty = {0};
    pack_render_prompt(&empty, "q", &b);
    ASSERT_TRUE(strstr(b.data, "(no sources matched)") != NULL);
    buf_free(&b);
}

int main(void)
{
    char vocab[600];
    ragd_error err;
    if (rag_fx_vocab(vocab, sizeof vocab) != 0)
        return 1;
    if (wordpiece_open(vocab, NULL, &g_wp, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    RUN(item_limit_and_order);
    RUN(overlapping_chunks_merge_once);
    RUN(bridging_chunk_joins_two_entries);
    RUN(consecutive_chunks_with_a_gap_and_contained_chunks);
    RUN(token_budget_cuts_at_a_piece);
    RUN(merge_that_does_not_fit_is_skipped);
    RUN(prompt_has_numbered_citations);
    wordpiece_close(g_wp);
    return TEST_REPORT();
}
