/*
 * test_tokenizer.c - WordPiece against Hugging Face's BertTokenizer: token ids
 * equal for every fixture text (English, accents, CJK, emoji, punctuation runs,
 * numbers, long and whitespace-only texts), counts, byte offsets, pair encoding
 * and concurrent use of one tokenizer from two threads.
 */
#include <pthread.h>
#include <stdlib.h>

#include "embed/wordpiece.h"
#include "embed_fixture.h"
#include "testing.h"

static fx_fixture g_fx;
static wordpiece *g_wp;

TEST(ids_match_reference)
{
    int32_t ids[256];
    size_t bad = 0;
    for (size_t i = 0; i < g_fx.n; i++) {
        const fx_text *t = &g_fx.t[i];
        size_t n;
        bool trunc;
        ASSERT_OK(wordpiece_encode(g_wp, t->s, t->len, 256, ids, NULL, &n, &trunc));
        int same = n == t->nids && memcmp(ids, t->ids, n * sizeof *ids) == 0;
        if (!same && bad++ < 5) {
            fprintf(stderr, "  text %zu \"%.60s\": got %zu ids, want %zu\n", i, t->s, n, t->nids);
            for (size_t k = 0; k < n && k < t->nids; k++)
                if (ids[k] != t->ids[k]) {
                    fprintf(stderr, "    first diff at %zu: %s vs %s\n", k,
                            wordpiece_token_str(g_wp, ids[k]), wordpiece_token_str(g_wp, t->ids[k]));
                    break;
                }
        }
        if (same && trunc != (t->count > 254))
            bad++;
    }
    ASSERT_EQ_INT(bad, 0);
}

TEST(count_matches_reference)
{
    for (size_t i = 0; i < g_fx.n; i++) {
        ASSERT_EQ_INT(wordpiece_count(g_wp, g_fx.t[i].s, g_fx.t[i].len), g_fx.t[i].count);
        wordpiece_piece *p;
        size_t n;
        bool tr;
        ASSERT_OK(wordpiece_tokenize(g_wp, g_fx.t[i].s, g_fx.t[i].len, 0, &p, &n, &tr));
        ASSERT_EQ_INT(n, g_fx.t[i].count);
        ASSERT_TRUE(!tr);
        free(p);
    }
}

TEST(offsets_point_into_text)
{
    for (size_t i = 0; i < g_fx.n; i++) {
        const fx_text *t = &g_fx.t[i];
        wordpiece_piece *p;
        size_t n;
        ASSERT_OK(wordpiece_tokenize(g_wp, t->s, t->len, 0, &p, &n, NULL));
        uint32_t prev = 0;
        int ascii = 1;
        for (size_t k = 0; k < t->len; k++)
            ascii &= (unsigned char)t->s[k] < 0x80;
        for (size_t k = 0; k < n; k++) {
            ASSERT_TRUE(p[k].start < p[k].end && p[k].end <= t->len);
            ASSERT_TRUE(p[k].start >= prev);
            prev = p[k].start;
            const char *tok = wordpiece_token_str(g_wp, p[k].id);
            if (!ascii || p[k].id == wordpiece_get_specials(g_wp)->unk || tok[0] == '[')
                continue;
            if (tok[0] == '#' && tok[1] == '#' && tok[2])
                tok += 2;
            char buf[256];
            size_t m = p[k].end - p[k].start;
            ASSERT_TRUE(m < sizeof buf);
            for (size_t j = 0; j < m; j++)
                buf[j] = (char)((t->s[p[k].start + j] >= 'A' && t->s[p[k].start + j] <= 'Z')
                                    ? t->s[p[k].start + j] + 32
                                    : t->s[p[k].start + j]);
            buf[m] = '\0';
            ASSERT_EQ_STR(buf, tok);
        }
        free(p);
    }
}

TEST(offsets_non_ascii)
{
    const char *s = "Caf\xc3\xa9 na\xc3\xafve \xe4\xbd\xa0\xe5\xa5\xbd!";
    wordpiece_piece *p;
    size_t n;
    ASSERT_OK(wordpiece_tokenize(g_wp, s, strlen(s), 0, &p, &n, NULL));
    ASSERT_TRUE(n >= 5);
    ASSERT_EQ_INT(p[0].start, 0);
    /* the last two pieces are the two ideographs and "!" */
    ASSERT_EQ_INT(p[n - 1].start, strlen(s) - 1);
    ASSERT_EQ_INT(p[n - 2].start, strlen(s) - 4);
    ASSERT_EQ_INT(p[n - 3].start, strlen(s) - 7);
    ASSERT_EQ_INT(p[n - 3].end, strlen(s) - 4);
    free(p);
}

TEST(truncation_limits)
{
    const fx_text *t = NULL;
    for (size_t i = 0; i < g_fx.n; i++)
        if (g_fx.t[i].count > 300)
            t = &g_fx.t[i];
    ASSERT_TRUE(t != NULL);
    int32_t ids[16];
    wordpiece_piece pc[16];
    size_t n;
    bool tr;
    ASSERT_OK(wordpiece_encode(g_wp, t->s, t->len, 16, ids, pc, &n, &tr));
    ASSERT_EQ_INT(n, 16);
    ASSERT_TRUE(tr);
    ASSERT_EQ_INT(ids[15], wordpiece_get_specials(g_wp)->sep);
    ASSERT_EQ_INT(memcmp(ids, t->ids, 15 * sizeof *ids), 0);
    ASSERT_EQ_INT(wordpiece_encode(g_wp, "x", 1, 1, ids, NULL, &n, &tr), RAGD_EINVAL);
    ASSERT_OK(wordpiece_encode(g_wp, "hello", 5, 2, ids, NULL, &n, &tr));
    ASSERT_EQ_INT(n, 2);
    ASSERT_TRUE(tr);
    wordpiece_piece *p;
    ASSERT_OK(wordpiece_tokenize(g_wp, t->s, t->len, 10, &p, &n, &tr));
    ASSERT_EQ_INT(n, 10);
    ASSERT_TRUE(tr);
    free(p);
}

TEST(pair_encoding)
{
    const wordpiece_specials *sp = wordpiece_get_specials(g_wp);
    int32_t ids[64], tt[64];
    size_t n;
    bool tr;
    ASSERT_OK(wordpiece_encode_pair(g_wp, "what is rest", 12, "sleep helps recovery", 20, 64, ids,
                                    tt, &n, &tr));
    ASSERT_TRUE(!tr);
    ASSERT_EQ_INT(n, 3 + 3 + 3);
    ASSERT_EQ_INT(ids[0], sp->cls);
    ASSERT_EQ_INT(ids[4], sp->sep);
    ASSERT_EQ_INT(ids[8], sp->sep);
    ASSERT_EQ_INT(tt[4], 0);
    ASSERT_EQ_INT(tt[5], 1);
    ASSERT_EQ_INT(tt[8], 1);
    ASSERT_EQ_INT(ids[1], wordpiece_token_id(g_wp, "what", 4));
    ASSERT_EQ_INT(ids[5], wordpiece_token_id(g_wp, "sleep", 5));
    /* the second text is cut first; the first stays whole */
    const char *lng = "one two three four five six seven eight nine ten eleven twelve";
    ASSERT_OK(wordpiece_encode_pair(g_wp, "query words", 11, lng, strlen(lng), 10, ids, tt, &n, &tr));
    ASSERT_TRUE(tr);
    ASSERT_EQ_INT(n, 10);
    ASSERT_EQ_INT(ids[3], sp->sep);
    ASSERT_EQ_INT(ids[4], wordpiece_token_id(g_wp, "one", 3));
    ASSERT_EQ_INT(ids[9], sp->sep);
    /* an over-long first text leaves the second a quarter of the budget */
    ASSERT_OK(wordpiece_encode_pair(g_wp, lng, strlen(lng), "b c d e", 7, 11, ids, tt, &n, &tr));
    ASSERT_EQ_INT(n, 11);
    ASSERT_EQ_INT(tt[10], 1);
    ASSERT_EQ_INT(tt[8], 1);
    ASSERT_EQ_INT(tt[7], 0);
}

TEST(vocab_lookup)
{
    ASSERT_EQ_INT(wordpiece_vocab_size(g_wp), 30522);
    ASSERT_EQ_INT(wordpiece_get_specials(g_wp)->cls, 101);
    ASSERT_EQ_INT(wordpiece_get_specials(g_wp)->sep, 102);
    ASSERT_EQ_INT(wordpiece_get_specials(g_wp)->pad, 0);
    ASSERT_EQ_INT(wordpiece_get_specials(g_wp)->unk, 100);
    ASSERT_EQ_STR(wordpiece_token_str(g_wp, 101), "[CLS]");
    ASSERT_TRUE(wordpiece_token_str(g_wp, 30522) == NULL);
    ASSERT_TRUE(wordpiece_token_id(g_wp, "##ing", 5) >= 0);
    ASSERT_EQ_INT(wordpiece_token_id(g_wp, "qqqzzzxx", 8), -1);
}

static void *thread_run(void *arg)
{
    size_t *bad = arg;
    int32_t ids[256];
    for (int rep = 0; rep < 3; rep++)
        for (size_t i = 0; i < g_fx.n; i++) {
            size_t n;
            wordpiece_encode(g_wp, g_fx.t[i].s, g_fx.t[i].len, 256, ids, NULL, &n, NULL);
            if (n != g_fx.t[i].nids || memcmp(ids, g_fx.t[i].ids, n * sizeof *ids) != 0)
                (*bad)++;
        }
    return NULL;
}

TEST(concurrent_use)
{
    pthread_t th[2];
    size_t bad[2] = {0, 0};
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, thread_run, &bad[i]);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    ASSERT_EQ_INT(bad[0] + bad[1], 0);
}

TEST(missing_vocab)
{
    wordpiece *wp;
    ragd_error err;
    ASSERT_EQ_INT(wordpiece_open("/nonexistent/vocab.txt", NULL, &wp, &err), RAGD_ENOTFOUND);
}

int main(void)
{
    char dir[512], path[600];
    ragd_error err;
    if (fx_model_dir(dir, sizeof dir) != 0 || fx_load(&g_fx) != 0) {
        printf("0 passed, 1 failed\n");
        return 1;
    }
    snprintf(path, sizeof path, "%s/vocab.txt", dir);
    if (wordpiece_open(path, NULL, &g_wp, &err) != 0) {
        fprintf(stderr, "wordpiece_open: %s\n", err.msg);
        return 1;
    }
    RUN(vocab_lookup);
    RUN(ids_match_reference);
    RUN(count_matches_reference);
    RUN(offsets_point_into_text);
    RUN(offsets_non_ascii);
    RUN(truncation_limits);
    RUN(pair_encoding);
    RUN(concurrent_use);
    RUN(missing_vocab);
    wordpiece_close(g_wp);
    fx_free(&g_fx);
    return TEST_REPORT();
}
