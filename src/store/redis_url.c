/*
 * redis_url.c - parsing of redis://[user[:password]@]host[:port][/db] and
 * rediss:// (TLS) URLs, with %XX escapes in the user and password and [v6]
 * hosts. A password without a user means the classic AUTH <password>.
 */
#include "store/redis_conn.h"

#include <stdlib.h>
#include <string.h>

#include "util/hash.h"
#include "util/mem.h"

/* Percent-decode s[0..n) into a new string; NULL if an escape is malformed. */
static char *pct_decode(const char *s, size_t n)
{
    char *out = xmalloc(n + 1);
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '%') {
            out[j++] = s[i];
            continue;
        }
        int hi = i + 2 < n ? hash_hex_digit(s[i + 1]) : -1;
        int lo = i + 2 < n ? hash_hex_digit(s[i + 2]) : -1;
        if (hi < 0 || lo < 0) {
            free(out);
            return NULL;
        }
        out[j++] = (char)(hi << 4 | lo);
        i += 2;
    }
    out[j] = '\0';
    return out;
}

/* Parse a decimal in [lo, hi] from s[0..n). */
static bool parse_int(const char *s, size_t n, long lo, long hi, int *out)
{
    if (n == 0 || n > 9)
        return false;
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    if (v < lo || v > hi)
        return false;
    *out = (int)v;
    return true;
}

static int parse_userinfo(const char *s, size_t n, redis_url *u, ragd_error *err)
{
    const char *colon = memchr(s, ':', n);
    size_t ulen = colon ? (size_t)(colon - s) : n;
    if (ulen) {
        u->user = pct_decode(s, ulen);
        if (!u->user)
            return ragd_error_set(err, RAGD_EINVAL, "Redis URL: bad %%-escape in user");
    }
    if (colon) {
        u->password = pct_decode(colon + 1, n - ulen - 1);
        if (!u->password)
            return ragd_error_set(err, RAGD_EINVAL, "Redis URL: bad %%-escape in password");
    } else if (u->user) { /* "redis://secret@host": a lone word is the password */
        u->password = u->user;
        u->user = NULL;
    }
    return 0;
}

static int parse_hostport(const char *s, size_t n, redis_url *u, ragd_error *err)
{
    const char *host = s, *port = NULL;
    size_t hlen = n;
    if (n && s[0] == '[') {
        const char *close = memchr(s, ']', n);
        if (!close)
            return ragd_error_set(err, RAGD_EINVAL, "Redis URL: unclosed [ in host");
        host = s + 1;
        hlen = (size_t)(close - host);
        if (close + 1 < s + n) {
            if (close[1] != ':')
                return ragd_error_set(err, RAGD_EINVAL, "Redis URL: junk after ]");
            port = close + 2;
        }
    } else {
        const char *colon = memchr(s, ':', n);
        if (colon) {
            hlen = (size_t)(colon - s);
            port = colon + 1;
        }
    }
    if (hlen == 0 || hlen >= sizeof u->host)
        return ragd_error_set(err, RAGD_EINVAL, "Redis URL: missing or too long host");
    memcpy(u->host, host, hlen);
    u->host[hlen] = '\0';
    if (port && !parse_int(port, (size_t)(s + n - port), 1, 65535, &u->port))
        return ragd_error_set(err, RAGD_EINVAL, "Redis URL: port must be 1-65535");
    return 0;
}

int redis_url_parse(const char *url, redis_url *out, ragd_error *err)
{
    redis_url u;
    memset(&u, 0, sizeof u);
    u.port = 6379;
    const char *p;
    if (strncmp(url, "redis://", 8) == 0) {
        p = url + 8;
    } else if (strncmp(url, "rediss://", 9) == 0) {
        p = url + 9;
        u.tls = true;
    } else {
        return ragd_error_set(err, RAGD_EINVAL, "Redis URL must start with redis://, rediss://, "
                                                "redis+sentinel:// or rediss+sentinel://");
    }
    const char *end = p + strcspn(p, "/?#");
    const char *at = NULL;
    for (const char *q = p; q < end; q++)
        if (*q == '@')
            at = q; /* the last '@': passwords may contain '@' unescaped */
    int rc = 0;
    if (at) {
        rc = parse_userinfo(p, (size_t)(at - p), &u, err);
        p = at + 1;
    }
    if (rc == 0)
        rc = parse_hostport(p, (size_t)(end - p), &u, err);
    if (rc == 0 && *end == '/' && end[1] && end[1] != '?' && end[1] != '#') {
        size_t dlen = strcspn(end + 1, "?#");
        if (!parse_int(end + 1, dlen, 0, 1 << 20, &u.db))
            rc = ragd_error_set(err, RAGD_EINVAL, "Redis URL: database must be a number");
    }
    if (rc) {
        redis_url_free(&u);
        return rc;
    }
    *out = u;
    return 0;
}

void redis_url_free(redis_url *u)
{
    free(u->user);
    free(u->password);
    u->user = u->password = NULL;
}
