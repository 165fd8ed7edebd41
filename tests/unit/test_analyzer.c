/*
 * test_analyzer.c - the analyzer's folding, tokenising, stop words, stemming
 * and CJK handling, plus concurrent use from several threads.
 */
#include <pthread.h>
#include <stdlib.h>

#include "index/analyzer.h"
#include "testing.h"

static char *joined(analyzer *a, const char *text)
{
    static char out[1024];
    analyzer_tokens t;
    analyzer_tokens_init(&t);
    out[0] = '\0';
    if (analyzer_analyze(a, text, strlen(text), &t) != 0) {
        analyzer_tokens_free(&t);
        return NULL;
    }
    for (size_t i = 0; i < t.n; i++) {
        if (i)
            strcat(out, " ");
        strcat(out, analyzer_token(&t, i));
    }
    analyzer_tokens_free(&t);
    return out;
}

TEST(test_stem_and_stop)
{
    analyzer *a = analyzer_default();
    ASSERT_TRUE(a != NULL);
    ASSERT_EQ_STR(joined(a, "The runners are running to the Bench Presses"), "runner run bench press");
    ASSERT_EQ_STR(joined(a, "Squats, deadlifts; and push-ups!"), "squat deadlift push up");
    ASSERT_EQ_STR(joined(a, "generously generalization"), "generous general");
}

TEST(test_fold_accents)
{
    analyzer *a = analyzer_default();
    ASSERT_EQ_STR(joined(a, "Café NAÏVE résumé"), "cafe naiv resum");
    /* NFKC: full-width letters and the fi ligature fold to ASCII */
    ASSERT_EQ_STR(joined(a, "\xEF\xBC\xA1\xEF\xBC\xA2\xEF\xBC\xA3 \xEF\xAC\x81sh"), "abc fish");
    ASSERT_EQ_STR(joined(a, "Straße"), "strass");
}

TEST(test_possessive_digits)
{
    analyzer *a = analyzer_default();
    ASSERT_EQ_STR(joined(a, "the LORD's house in 2024"), "lord hous 2024");
    ASSERT_EQ_STR(joined(a, "John 3:16"), "john 3 16");
}

TEST(test_cjk)
{
    analyzer *a = analyzer_default();
    /* 東京大学 -> 東京 京大 大学 */
    ASSERT_EQ_STR(joined(a, "\xE6\x9D\xB1\xE4\xBA\xAC\xE5\xA4\xA7\xE5\xAD\xA6"),
                  "\xE6\x9D\xB1\xE4\xBA\xAC \xE4\xBA\xAC\xE5\xA4\xA7 \xE5\xA4\xA7\xE5\xAD\xA6");
    /* mixed: latin word, single CJK char */
    ASSERT_EQ_STR(joined(a, "tokyo\xE6\x9D\xB1 x"), "tokyo \xE6\x9D\xB1 x");
    analyzer_opts o = analyzer_default_opts();
    o.cjk_bigrams = false;
    analyzer *u;
    ASSERT_OK(analyzer_create(&o, &u));
    ASSERT_EQ_STR(joined(u, "\xE6\x9D\xB1\xE4\xBA\xAC"), "\xE6\x9D\xB1 \xE4\xBA\xAC");
    analyzer_destroy(u);
}

TEST(test_options_and_invalid)
{
    analyzer_opts o = {.fold = true};
    analyzer *a;
    ASSERT_OK(analyzer_create(&o, &a));
    ASSERT_EQ_STR(joined(a, "The Running"), "the running");
    /* invalid UTF-8 bytes act as separators */
    ASSERT_EQ_STR(joined(a, "ab\xff\xfe" "cd"), "ab cd");
    ASSERT_EQ_STR(joined(a, ""), "");
    analyzer_destroy(a);
    ASSERT_TRUE(analyzer_is_stopword("the", 3));
    ASSERT_TRUE(!analyzer_is_stopword("thence", 6));
    int n = 0;
    for (const char *const *w = analyzer_stopwords(); *w; w++)
        n++;
    ASSERT_EQ_INT(n, 33);
}

static void *worker(void *arg)
{
    analyzer *a = arg;
    analyzer_tokens t;
    analyzer_tokens_init(&t);
    long bad = 0;
    for (int i = 0; i < 300; i++) {
        const char *s = "Running runners ran quickly towards the generously wide benches";
        if (analyzer_analyze(a, s, strlen(s), &t) != 0 || t.n != 8 ||
            strcmp(analyzer_token(&t, 0), "run") != 0 || strcmp(analyzer_token(&t, 7), "bench") != 0)
            bad++;
    }
    analyzer_tokens_free(&t);
    return (void *)bad;
}

TEST(test_threads)
{
    analyzer *a;
    ASSERT_OK(analyzer_create(NULL, &a));
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, worker, a);
    long bad = 0;
    for (int i = 0; i < 4; i++) {
        void *r;
        pthread_join(th[i], &r);
        bad += (long)r;
    }
    analyzer_destroy(a);
    ASSERT_EQ_INT(bad, 0);
}

int main(void)
{
    RUN(test_stem_and_stop);
    RUN(test_fold_accents);
    RUN(test_possessive_digits);
    RUN(test_cjk);
    RUN(test_options_and_invalid);
    RUN(test_threads);
    return TEST_REPORT();
}
