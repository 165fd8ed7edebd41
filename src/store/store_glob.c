/*
 * store_glob.c - Redis' MATCH glob syntax for keys (* ? [abc] [^a] [a-z] \x),
 * so that store_del_pattern means the same on LMDB as SCAN MATCH does on Redis,
 * plus the small text helpers both backends share (escaping, integer parsing).
 */
#include "store/store_int.h"

#include <limits.h>
#include <string.h>

/* Match one [...] class at *pp (just after '['); advances *pp past ']'. */
static bool glob_class(const char **pp, const char *end, unsigned char c)
{
    const char *p = *pp;
    bool neg = false, hit = false;
    if (p < end && *p == '^') {
        neg = true;
        p++;
    }
    while (p < end && *p != ']') {
        if (*p == '\\' && p + 1 < end) {
            p++;
            hit |= (unsigned char)*p == c;
            p++;
        } else if (p + 2 < end && p[1] == '-' && p[2] != ']') {
            unsigned char a = (unsigned char)p[0], b = (unsigned char)p[2];
            if (a > b) {
                unsigned char t = a;
                a = b;
                b = t;
            }
            hit |= c >= a && c <= b;
            p += 3;
        } else {
            hit |= (unsigned char)*p == c;
            p++;
        }
    }
    *pp = p < end ? p + 1 : p; /* an unclosed class runs to the end, as in Redis */
    return neg ? !hit : hit;
}

bool store__glob_match(const char *pat, size_t plen, const char *s, size_t slen)
{
    const char *p = pat, *pend = pat + plen, *t = s, *tend = s + slen;
    const char *star_p = NULL, *star_t = NULL;
    while (t < tend) {
        if (p < pend && *p == '*') {
            while (p < pend && *p == '*')
                p++;
            if (p == pend)
                return true;
            star_p = p;
            star_t = t;
            continue;
        }
        if (p < pend) {
            const char *q = p;
            bool ok;
            if (*q == '?') {
                ok = true;
                q++;
            } else if (*q == '[') {
                q++;
                ok = glob_class(&q, pend, (unsigned char)*t);
            } else {
                if (*q == '\\' && q + 1 < pend)
                    q++;
                ok = *q == *t;
                q++;
            }
            if (ok) {
                p = q;
                t++;
                continue;
            }
        }
        if (!star_p)
            return false; /* backtrack to the last '*' and let it eat one more byte */
        p = star_p;
        t = ++star_t;
    }
    while (p < pend && *p == '*')
        p++;
    return p == pend;
}

size_t store__glob_literal_prefix(const char *pat, size_t plen, char *out)
{
    size_t n = 0;
    for (size_t i = 0; i < plen; i++) {
        char c = pat[i];
        if (c == '*' || c == '?' || c == '[')
            break;
        if (c == '\\' && i + 1 < plen)
            c = pat[++i];
        out[n++] = c;
    }
    return n;
}

size_t store__glob_escape(const char *s, size_t len, char *out)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '*' || s[i] == '?' || s[i] == '[' || s[i] == ']' || s[i] == '\\')
            out[n++] = '\\';
        out[n++] = s[i];
    }
    return n;
}

bool store__parse_i64(const void *v, size_t len, int64_t *out)
{
    const char *p = v;
    if (len == 0 || len > 20)
        return false;
    bool neg = p[0] == '-';
    size_t i = neg ? 1 : 0;
    if (i == len || (p[i] == '0' && len - i > 1))
        return false;
    unsigned long long acc = 0;
    for (; i < len; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        unsigned d = (unsigned)(p[i] - '0');
        if (acc > (ULLONG_MAX - d) / 10)
            return false;
        acc = acc * 10 + d;
    }
    if (neg ? acc > (unsigned long long)INT64_MAX + 1 : acc > (unsigned long long)INT64_MAX)
        return false;
    if (neg && acc == 0)
        return false;
    *out = neg ? (int64_t)(0 - acc) : (int64_t)acc;
    return true;
}
