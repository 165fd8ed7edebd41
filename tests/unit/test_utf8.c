/*
 * test_utf8.c - strict UTF-8 validation against an independent reference:
 * the table of well-formed byte sequences in The Unicode Standard (ch. 3,
 * Table 3-7), checked exhaustively for every 1-, 2- and 3-byte sequence and
 * for every 4-byte lead with sampled tails; plus the offset of the first bad
 * byte and the classic hostile cases (overlongs, surrogates, > U+10FFFF,
 * truncation).
 */
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "testing.h"
#include "util/utf8.h"

/* Table 3-7: the ranges of each byte of a well-formed sequence, by lead. */
static bool in(unsigned char b, unsigned lo, unsigned hi)
{
    return b >= lo && b <= hi;
}

/* Length of the well-formed sequence at s[0..n), 0 if ill-formed. */
static size_t ref_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    if (c <= 0x7f)
        return 1;
    size_t len;
    unsigned lo2 = 0x80, hi2 = 0xbf;
    if (in(c, 0xc2, 0xdf)) len = 2;
    else if (c == 0xe0) { len = 3; lo2 = 0xa0; }
    else if (in(c, 0xe1, 0xec) || in(c, 0xee, 0xef)) len = 3;
    else if (c == 0xed) { len = 3; hi2 = 0x9f; }
    else if (c == 0xf0) { len = 4; lo2 = 0x90; }
    else if (in(c, 0xf1, 0xf3)) len = 4;
    else if (c == 0xf4) { len = 4; hi2 = 0x8f; }
    else return 0;
    if (n < len || !in(s[1], lo2, hi2))
        return 0;
    for (size_t i = 2; i < len; i++)
        if (!in(s[i], 0x80, 0xbf))
            return 0;
    return len;
}

TEST(every_short_sequence_matches_the_reference)
{
    unsigned char s[4];
    for (unsigned a = 0; a < 256; a++) {
        s[0] = (unsigned char)a;
        ASSERT_EQ_INT(utf8_valid_prefix((char *)s, 1), ref_len(s, 1));
        for (unsigned b = 0; b < 256; b++) {
            s[1] = (unsigned char)b;
            ASSERT_EQ_INT(utf8_valid_prefix((char *)s, 2), ref_len(s, 2));
            if (a < 0xe0 || a > 0xef)
                continue;  /* only 3-byte leads have 3-byte sequences */
            for (unsigned c = 0; c < 256; c++) {
                s[2] = (unsigned char)c;
                if (utf8_valid_prefix((char *)s, 3) != ref_len(s, 3))
                    ASSERT_EQ_INT(utf8_valid_prefix((char *)s, 3), ref_len(s, 3));
            }
        }
    }
}

TEST(four_byte_sequences_match_the_reference)
{
    /* every lead and second byte, third and fourth from the edges and the
     * middle of the continuation range and just outside it */
    static const unsigned tails[] = { 0x00, 0x7f, 0x80, 0x81, 0x9f, 0xa0, 0xbf, 0xc0, 0xff };
    unsigned char s[4];
    for (unsigned a = 0xf0; a < 0x100; a++)
        for (unsigned b = 0; b < 256; b++)
            for (size_t i = 0; i < sizeof tails / sizeof tails[0]; i++)
                for (size_t j = 0; j < sizeof tails / sizeof tails[0]; j++) {
                    s[0] = (unsigned char)a;
                    s[1] = (unsigned char)b;
                    s[2] = (unsigned char)tails[i];
                    s[3] = (unsigned char)tails[j];
                    if (utf8_valid_prefix((char *)s, 4) != ref_len(s, 4))
                        ASSERT_EQ_INT(utf8_valid_prefix((char *)s, 4), ref_len(s, 4));
                }
}

TEST(hostile_cases_and_bad_offsets)
{
    static const struct { const char *s; size_t off; } bad[] = {
        { "ab\xc0\x80", 2 },           /* overlong NUL */
        { "\xe0\x80\xaf", 0 },         /* overlong '/' */
        { "x\xf0\x80\x80\xaf", 1 },    /* 4-byte overlong */
        { "ok\xed\xa0\x80", 2 },       /* high surrogate U+D800 */
        { "\xed\xbf\xbf", 0 },         /* low surrogate U+DFFF */
        { "\xf4\x90\x80\x80", 0 },     /* U+110000 */
        { "abc\xe2\x82", 3 },          /* truncated euro sign */
        { "\x80", 0 },                 /* stray continuation */
        { "\xc3\x28", 0 },             /* bad continuation */
        { "\xf5\x80\x80\x80", 0 },     /* lead beyond U+10FFFF */
        { "\xfe", 0 }, { "\xff", 0 },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t off = 99;
        ASSERT_TRUE(!utf8_valid(bad[i].s, strlen(bad[i].s), &off));
        ASSERT_EQ_INT(off, bad[i].off);
        ASSERT_TRUE(!utf8_valid(bad[i].s, strlen(bad[i].s), NULL));
    }
    /* well-formed: the largest code point, the last before the surrogates,
     * the euro sign, CJK, an emoji; NUL bytes are valid UTF-8 */
    const char *good = "\xf4\x8f\xbf\xbf \xed\x9f\xbf \xe2\x82\xac \xe4\xb8\xad \xf0\x9f\x98\x80";
    size_t off = 99;
    ASSERT_TRUE(utf8_valid(good, strlen(good), &off));
    ASSERT_EQ_INT(off, 99);  /* untouched when valid */
    ASSERT_TRUE(utf8_valid("a\0b", 3, NULL));
    ASSERT_TRUE(utf8_valid("", 0, NULL));
    ASSERT_EQ_INT(utf8_valid_prefix("", 0), 0);
    /* a valid sequence cut by n is invalid */
    ASSERT_EQ_INT(utf8_valid_prefix("\xe2\x82\xac", 2), 0);
    ASSERT_EQ_INT(utf8_valid_prefix("\xe2\x82\xac", 3), 3);
}

int main(void)
{
    RUN(every_short_sequence_matches_the_reference);
    RUN(four_byte_sequences_match_the_reference);
    RUN(hostile_cases_and_bad_offsets);
    return TEST_REPORT();
}
