/*
 * h1_parse.c - the strict HTTP/1.1 request parser (see h1_parse.h). The head
 * is found by its blank line (every line must end in CRLF: a bare LF is
 * refused, so no two parsers can split it differently), then the request line
 * and each field line are checked against RFC 9112's grammar: a method token,
 * an origin-form target (or an http(s):// absolute-form one, whose authority
 * then stands for Host, or OPTIONS' asterisk-form), HTTP/1.0 or 1.1, field names as tokens with the colon
 * right after, no obs-fold, no control characters in values. Framing follows
 * §6: one Content-Length of digits only, or Transfer-Encoding "chunked" alone;
 * both, either twice or any other coding is refused (request smuggling).
 */
#include "http/h1_parse.h"

#include <string.h>
#include <strings.h>

#include "util/hash.h"

static int h1__fail(h1_error *err, int status, const char *code, const char *msg)
{
    err->status = status;
    err->code = code;
    err->msg = msg;
    return -1;
}

#define H1_BAD(err, msg) h1__fail(err, 400, "bad_request", msg)
#define H1_FRAMING(err, msg) h1__fail(err, 400, "invalid_framing", msg)

/* tchar of RFC 9110 §5.6.2. */
static bool h1__tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* A field value byte: HTAB, SP, VCHAR or obs-text. */
static bool h1__vchar(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

/* Where the head ends (just past its blank line): 0 when it is not all here
 * yet, -1 with err on a bare LF or a line past max_head. *line1 is the length
 * of the request line once known. */
static long h1__head_end(const char *buf, size_t len, size_t start, size_t max_head,
                         size_t *line1, h1_error *err)
{
    size_t ls = start;
    bool first = true;
    for (;;) {
        const char *lf = memchr(buf + ls, '\n', len - ls);
        if (!lf)
            break;
        size_t p = (size_t)(lf - buf);
        /* the size first: a prefix past max_head is refused for its size
         * before its line end arrives, so the whole must be too */
        if (p + 1 > max_head)
            return first ? h1__fail(err, 414, "uri_too_long", "the request line is too long")
                         : h1__fail(err, 431, "header_too_large",
                                    "the request headers are too large");
        if (p == ls || buf[p - 1] != '\r')
            return H1_BAD(err, "a line ends in a bare LF (CRLF is required)");
        if (first)
            *line1 = p - 1 - start;
        else if (p - 1 == ls)
            return (long)(p + 1);
        first = false;
        ls = p + 1;
    }
    if (len >= max_head)
        return first ? h1__fail(err, 414, "uri_too_long", "the request line is too long")
                     : h1__fail(err, 431, "header_too_large", "the request headers are too large");
    return 0;
}

/* "HTTP/1.0" or "HTTP/1.1" into *minor. */
static int h1__version(const char *v, size_t n, int *minor, h1_error *err)
{
    if (n == 8 && memcmp(v, "HTTP/1.", 7) == 0 && (v[7] == '0' || v[7] == '1')) {
        *minor = v[7] - '0';
        return 0;
    }
    if (n == 8 && memcmp(v, "HTTP/", 5) == 0 && v[5] >= '0' && v[5] <= '9' && v[6] == '.' &&
        v[7] >= '0' && v[7] <= '9')
        return h1__fail(err, 505, "http_version_not_supported",
                        "only HTTP/1.0 and HTTP/1.1 are supported");
    if (n == 6 && memcmp(v, "HTTP/", 5) == 0 && v[5] >= '2' && v[5] <= '9')
        return h1__fail(err, 505, "http_version_not_supported",
                        "only HTTP/1.0 and HTTP/1.1 are supported");
    return H1_BAD(err, "the request line has no valid HTTP version");
}

/* An authority byte of RFC 3986 §3.2 without userinfo: unreserved,
 * pct-encoded, sub-delims, ':' and the brackets of an IP literal. */
static bool h1__authority_char(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c && strchr("-._~%!$&'()*+,;=:[]", c) != NULL;
}

/* absolute-form (RFC 9112 §3.2.2) in l[t..e): "http://" or "https://", an
 * authority without userinfo, then the path and query, which become the
 * target; the authority is the request's host (it overrides Host). */
static int h1__absolute(const char *l, size_t start, size_t t, size_t e, h1_request *req,
                        h1_error *err)
{
    size_t s = 0;
    if (e - t >= 7 && strncasecmp(l + t, "http://", 7) == 0)
        s = t + 7;
    else if (e - t >= 8 && strncasecmp(l + t, "https://", 8) == 0)
        s = t + 8;
    else
        return H1_BAD(err, "the request target must be an absolute path (origin-form) or an "
                           "http:// or https:// URL (absolute-form)");
    if (memchr(l + t, '#', e - t))
        return H1_BAD(err, "the request target holds a fragment (#)");
    size_t a = s;
    while (a < e && l[a] != '/' && l[a] != '?') {
        if (l[a] == '@')
            return H1_BAD(err, "the request target holds userinfo (user@), which is not accepted");
        if (!h1__authority_char((unsigned char)l[a]))
            return H1_BAD(err, "the request target's authority is malformed");
        a++;
    }
    if (a == s || l[s] == ':')
        return H1_BAD(err, "the request target's authority has no host");
    req->authority_off = (uint32_t)(start + s);
    req->authority_len = (uint32_t)(a - s);
    req->target_off = (uint32_t)(start + a);
    req->target_len = (uint32_t)(e - a);
    return 0;
}

/* The target in l[t..e): origin-form, absolute-form or, for OPTIONS only,
 * asterisk-form. */
static int h1__target(const char *l, size_t start, size_t t, size_t e, h1_request *req,
                      h1_error *err)
{
    if (l[t] == '/') {
        req->target_off = (uint32_t)(start + t);
        req->target_len = (uint32_t)(e - t);
        return 0;
    }
    if (e - t == 1 && l[t] == '*') {
        if (req->method_len != 7 || memcmp(l, "OPTIONS", 7) != 0)
            return H1_BAD(err, "the asterisk-form target (*) is only for OPTIONS");
        req->target_off = (uint32_t)(start + t);
        req->target_len = 1;
        return 0;
    }
    return h1__absolute(l, start, t, e, req, err);
}

/* method SP request-target SP HTTP-version */
static int h1__request_line(const char *buf, size_t start, size_t n, h1_request *req,
                            h1_error *err)
{
    const char *l = buf + start;
    size_t i = 0;
    while (i < n && h1__tchar((unsigned char)l[i]))
        i++;
    if (i == 0 || i == n || l[i] != ' ')
        return H1_BAD(err, "the method is not a token");
    req->method_off = (uint32_t)start;
    req->method_len = (uint32_t)i;
    size_t t = ++i;
    while (i < n && (unsigned char)l[i] > 0x20 && (unsigned char)l[i] < 0x7f)
        i++;
    if (i == t || i == n || l[i] != ' ')
        return H1_BAD(err, "the request target is malformed");
    if (h1__target(l, start, t, i, req, err))
        return -1;
    return h1__version(l + i + 1, n - i - 1, &req->minor, err);
}

/* name ":" OWS value OWS, into *h. */
static int h1__field(const char *buf, size_t start, size_t n, h1_header *h, h1_error *err)
{
    const char *l = buf + start;
    if (l[0] == ' ' || l[0] == '\t')
        return H1_BAD(err, "obsolete line folding is not accepted");
    size_t i = 0;
    while (i < n && h1__tchar((unsigned char)l[i]))
        i++;
    if (i == n || l[i] != ':')
        return H1_BAD(err, "a header line has no colon after a valid field name");
    if (i == 0)
        return H1_BAD(err, "a header line has an empty field name");
    h->name_off = (uint32_t)start;
    h->name_len = (uint32_t)i;
    size_t v = i + 1, e = n;
    while (v < e && (l[v] == ' ' || l[v] == '\t'))
        v++;
    while (e > v && (l[e - 1] == ' ' || l[e - 1] == '\t'))
        e--;
    for (size_t k = v; k < e; k++)
        if (!h1__vchar((unsigned char)l[k]))
            return H1_BAD(err, "a header value holds a control character");
    h->value_off = (uint32_t)(start + v);
    h->value_len = (uint32_t)(e - v);
    return 0;
}

static bool h1__is(const char *buf, const h1_header *h, const char *name)
{
    size_t n = strlen(name);
    return h->name_len == n && strncasecmp(buf + h->name_off, name, n) == 0;
}

/* Content-Length: 1*DIGIT, no overflow. */
static int h1__content_length(const char *v, size_t n, int64_t *out, h1_error *err)
{
    if (n == 0)
        return H1_FRAMING(err, "Content-Length is empty");
    int64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return H1_FRAMING(err, "Content-Length is not a number of digits");
        if (x > (INT64_MAX - (v[i] - '0')) / 10)
            return H1_FRAMING(err, "Content-Length overflows");
        x = x * 10 + (v[i] - '0');
    }
    *out = x;
    return 0;
}

/* Does the comma-separated list v hold token (case-insensitive)? */
static bool h1__list_has(const char *v, size_t n, const char *token)
{
    size_t tl = strlen(token), i = 0;
    while (i < n) {
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        size_t s = i;
        while (i < n && v[i] != ',')
            i++;
        size_t e = i;
        while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
            e--;
        if (e - s == tl && strncasecmp(v + s, token, tl) == 0)
            return true;
    }
    return false;
}

/* The framing and connection semantics of the parsed fields. */
static int h1__semantics(const char *buf, h1_request *req, h1_error *err)
{
    int ncl = 0, nte = 0, nhost = 0;
    bool close = false, keep = false;
    req->content_length = -1;
    for (int i = 0; i < req->nheaders; i++) {
        const h1_header *h = &req->headers[i];
        const char *v = buf + h->value_off;
        if (h1__is(buf, h, "Content-Length")) {
            if (++ncl > 1)
                return H1_FRAMING(err, "the request has more than one Content-Length");
            if (h1__content_length(v, h->value_len, &req->content_length, err))
                return -1;
        } else if (h1__is(buf, h, "Transfer-Encoding")) {
            if (++nte > 1)
                return H1_FRAMING(err, "the request has more than one Transfer-Encoding");
            if (h->value_len != 7 || strncasecmp(v, "chunked", 7) != 0)
                return H1_FRAMING(err, "the only transfer coding accepted is chunked");
            req->chunked = true;
        } else if (h1__is(buf, h, "Host")) {
            nhost++;
        } else if (h1__is(buf, h, "Connection")) {
            close |= h1__list_has(v, h->value_len, "close");
            keep |= h1__list_has(v, h->value_len, "keep-alive");
        } else if (h1__is(buf, h, "Expect")) {
            req->expect_continue = h->value_len == 12 && strncasecmp(v, "100-continue", 12) == 0;
        }
    }
    if (ncl && nte)
        return H1_FRAMING(err, "the request has both Content-Length and Transfer-Encoding");
    if (nte && req->minor == 0)
        return H1_FRAMING(err, "Transfer-Encoding is not accepted in an HTTP/1.0 request");
    if (nhost > 1 || (req->minor == 1 && nhost == 0))
        return H1_BAD(err, "an HTTP/1.1 request needs exactly one Host header");
    req->keep_alive = !close && (req->minor == 1 || keep);
    req->expect_continue &= req->minor == 1;
    return 0;
}

int h1_parse_head(const char *buf, size_t len, size_t max_head, h1_request *req,
                  h1_error *err)
{
    size_t start = 0;
    while (start + 1 < len && buf[start] == '\r' && buf[start + 1] == '\n')
        start += 2;
    size_t line1 = 0;
    long end = h1__head_end(buf, len, start, max_head, &line1, err);
    if (end <= 0)
        return (int)end;
    memset(req, 0, sizeof *req);
    if (h1__request_line(buf, start, line1, req, err))
        return -1;
    size_t ls = start + line1 + 2;
    while (ls + 2 < (size_t)end) {
        const char *lf = memchr(buf + ls, '\n', (size_t)end - ls);
        size_t n = (size_t)(lf - buf) - 1 - ls;
        if (req->nheaders == H1_MAX_HEADERS)
            return h1__fail(err, 431, "header_too_large", "the request has too many headers");
        if (h1__field(buf, ls, n, &req->headers[req->nheaders++], err))
            return -1;
        ls += n + 2;
    }
    req->head_len = (size_t)end;
    return h1__semantics(buf, req, err) ? -1 : 1;
}

const char *h1_header_get(const h1_request *req, const char *buf, const char *name,
                          size_t *n)
{
    for (int i = 0; i < req->nheaders; i++)
        if (h1__is(buf, &req->headers[i], name)) {
            *n = req->headers[i].value_len;
            return buf + req->headers[i].value_off;
        }
    return NULL;
}

enum {
    CH_SIZE, CH_SIZE_LF, CH_DATA, CH_DATA_CR, CH_DATA_LF,
    CH_TRAILER, CH_TRAILER_LINE, CH_TRAILER_LF, CH_END_LF,
};

/* One byte of a chunk-size line (size, extensions, CR, LF). */
static int h1__chunk_line(h1_chunked *c, unsigned char b, size_t total, size_t max_body,
                          h1_error *err)
{
    if (++c->line > H1_MAX_CHUNK_LINE)
        return H1_FRAMING(err, "a chunk-size line is too long");
    if (c->state == CH_SIZE_LF) {
        if (b != '\n')
            return H1_FRAMING(err, "a chunk-size line does not end in CRLF");
        if (c->left > max_body - total)
            return h1__fail(err, 413, "payload_too_large", "the request body is too large");
        c->state = c->left ? CH_DATA : CH_TRAILER;
        c->line = 0;
        return 0;
    }
    int d = c->ext ? -1 : hash_hex_digit((char)b);
    if (d >= 0) {
        if (++c->digits > 16)
            return H1_FRAMING(err, "a chunk size overflows");
        c->left = c->left * 16 + (uint64_t)d;
    } else if (c->digits == 0) {
        return H1_FRAMING(err, "a chunk size is not hexadecimal");
    } else if (b == '\r') {
        c->state = CH_SIZE_LF;
    } else if (b == ';' || b == ' ' || b == '\t' || (c->ext && b >= 0x20 && b != 0x7f)) {
        c->ext = true;
    } else {
        return H1_FRAMING(err, "a chunk size or extension is malformed");
    }
    return 0;
}

/* One byte of the trailer section (field lines, then the blank line). */
static int h1__trailer(h1_chunked *c, unsigned char b, h1_error *err)
{
    if (++c->trailer > H1_MAX_TRAILER)
        return h1__fail(err, 431, "header_too_large", "the chunked trailer is too large");
    switch (c->state) {
    case CH_TRAILER:
        if (b == '\r') {
            c->state = CH_END_LF;
        } else if (h1__tchar(b)) {
            c->state = CH_TRAILER_LINE;
            c->ext = false;  /* a colon seen */
        } else {
            return H1_FRAMING(err, "a trailer field is malformed");
        }
        return 0;
    case CH_TRAILER_LINE:
        if (b == '\r' && c->ext)
            c->state = CH_TRAILER_LF;
        else if (b == ':')
            c->ext = true;
        else if (!h1__vchar(b) || (!c->ext && !h1__tchar(b)))
            return H1_FRAMING(err, "a trailer field is malformed");
        return 0;
    case CH_TRAILER_LF:
        if (b != '\n')
            return H1_FRAMING(err, "a trailer line does not end in CRLF");
        c->state = CH_TRAILER;
        return 0;
    default:  /* CH_END_LF */
        if (b != '\n')
            return H1_FRAMING(err, "the chunked body does not end in CRLF");
        return 1;
    }
}

int h1_chunked_feed(h1_chunked *c, const char *in, size_t n, char *out, size_t *out_n,
                    size_t *used, size_t body_so_far, size_t max_body, h1_error *err)
{
    size_t i = 0, o = 0;
    int rc = 0;
    while (i < n && rc == 0) {
        unsigned char b = (unsigned char)in[i];
        if (c->state == CH_DATA) {
            size_t k = n - i < c->left ? n - i : (size_t)c->left;
            memmove(out + o, in + i, k);
            o += k;
            i += k;
            c->left -= k;
            if (!c->left)
                c->state = CH_DATA_CR;
            continue;
        }
        i++;
        if (c->state == CH_DATA_CR || c->state == CH_DATA_LF) {
            if (b != (c->state == CH_DATA_CR ? '\r' : '\n')) {
                rc = H1_FRAMING(err, "chunk data is not followed by CRLF");
            } else if (c->state == CH_DATA_LF) {
                memset(c, 0, sizeof *c);  /* CH_SIZE */
            } else {
                c->state = CH_DATA_LF;
            }
        } else if (c->state == CH_SIZE || c->state == CH_SIZE_LF) {
            rc = h1__chunk_line(c, b, body_so_far + o, max_body, err);
        } else {
            rc = h1__trailer(c, b, err);
        }
    }
    *out_n = o;
    *used = i;
    return rc;
}

void h1_url_decode(char *s, bool plus)
{
    char *w = s;
    for (char *r = s; *r; r++) {
        int hi, lo;
        if (*r == '%' && (hi = hash_hex_digit(r[1])) >= 0 && (lo = hash_hex_digit(r[2])) >= 0) {
            *w++ = (char)(hi * 16 + lo);
            r += 2;
        } else {
            *w++ = plus && *r == '+' ? ' ' : *r;
        }
    }
    *w = '\0';
}

int h1_query_split(char *query, h1_kv *out, int max)
{
    int n = 0;
    char *save = NULL;
    for (char *arg = strtok_r(query, "&", &save); arg && n < max;
         arg = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(arg, '=');
        if (eq)
            *eq++ = '\0';
        h1_url_decode(arg, true);
        if (eq)
            h1_url_decode(eq, true);
        out[n++] = (h1_kv){ arg, eq };
    }
    return n;
}

const char *h1_query_get(const h1_kv *kv, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(kv[i].name, name) == 0)
            return kv[i].value;
    return NULL;
}
