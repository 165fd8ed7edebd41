/*
 * fuzz_h1.c - libFuzzer harness for the HTTP/1.1 request parser (http/h1_parse.c)
 * as the server drives it: the input is a byte stream on one connection. Each
 * head is parsed whole and again from a prefix the first byte picks (a prefix
 * short of the head is never accepted nor refused differently from the whole;
 * one that holds it gives the same head), offsets must lie inside the head, a
 * refusal must carry a 4xx/5xx status, a code and a message;
 * a chunked body is decoded in one piece and in pieces (same bytes, same end),
 * and the requests that follow on the stream (pipelining) are parsed in turn.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "http/h1_parse.h"

#define MAX_HEAD 2048
#define MAX_BODY 4096

static void check_error(const h1_error *e)
{
    if (e->status < 400 || e->status > 599 || !e->code || !*e->code || !e->msg)
        abort();
}

static void check_head(const h1_request *r, size_t len)
{
    if (r->head_len > len || r->head_len > MAX_HEAD || r->nheaders > H1_MAX_HEADERS)
        abort();
    if (r->method_off + r->method_len > r->head_len || r->target_off + r->target_len > r->head_len)
        abort();
    if (r->authority_len && (r->authority_off + r->authority_len > r->target_off ||
                             r->authority_off <= r->method_off + r->method_len))
        abort();  /* an absolute-form authority lies in the target, before its path */
    for (int i = 0; i < r->nheaders; i++) {
        const h1_header *h = &r->headers[i];
        if (h->name_off + h->name_len > r->head_len || h->value_off + h->value_len > r->head_len)
            abort();
    }
    if (r->chunked && r->content_length != -1)
        abort();
}

/* Decode a chunked body from p[0..n) whole and in pieces of `step`; both must
 * agree. Returns the bytes the body took (0 when it is incomplete or refused). */
static size_t chunked(const char *p, size_t n, size_t step)
{
    char *a = malloc(n ? n : 1), *b = malloc(n ? n : 1);
    memcpy(a, p, n);
    h1_chunked c1, c2;
    memset(&c1, 0, sizeof c1);
    memset(&c2, 0, sizeof c2);
    h1_error e1, e2;
    size_t o1 = 0, u1 = 0;
    int r1 = h1_chunked_feed(&c1, a, n, a, &o1, &u1, 0, MAX_BODY, &e1);
    size_t off = 0, o2 = 0;
    int r2 = 0;
    while (off < n && r2 == 0) {
        size_t k = n - off < step ? n - off : step, used = 0, o = 0;
        char *piece = malloc(k);
        memcpy(piece, p + off, k);
        r2 = h1_chunked_feed(&c2, piece, k, piece, &o, &used, o2, MAX_BODY, &e2);
        memcpy(b + o2, piece, o);
        o2 += o;
        off += used;
        free(piece);
    }
    if (r1 != r2 || (r1 >= 0 && (o1 != o2 || memcmp(a, b, o1) != 0)) || (r1 == 1 && u1 != off))
        abort();
    if (r1 < 0) {
        check_error(&e1);
        if (e1.status != e2.status)
            abort();
    }
    free(a);
    free(b);
    return r1 == 1 ? u1 : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t step = (data[0] & 15) + 1;
    char *buf = fuzz_strndup(data + 1, size - 1);
    size_t len = size - 1, off = 0;
    for (int round = 0; round < 4 && off < len; round++) {
        h1_request r;
        h1_error e = { 0, NULL, NULL };
        size_t n = len - off;
        char *p = malloc(n);  /* exact size: ASan sees a read past it */
        memcpy(p, buf + off, n);
        int rc = h1_parse_head(p, n, MAX_HEAD, &r, &e);
        size_t cut = n ? (size_t)data[0] * 7919 % n : 0;
        h1_request r2;
        h1_error e2 = { 0, NULL, NULL };
        int rc2 = h1_parse_head(p, cut, MAX_HEAD, &r2, &e2);
        if (rc == 1 && cut >= r.head_len) {  /* the prefix holds the whole head */
            if (rc2 != 1 || r2.head_len != r.head_len)
                abort();
        } else if (rc2 == 1 || (rc2 == -1 && (rc != -1 || e2.status != e.status))) {
            abort();
        }
        free(p);
        if (rc <= 0) {
            if (rc < 0)
                check_error(&e);
            break;
        }
        check_head(&r, n);
        off += r.head_len;
        if (r.chunked) {
            size_t used = chunked(buf + off, len - off, step);
            if (!used)
                break;
            off += used;
        } else if (r.content_length > 0) {
            if ((uint64_t)r.content_length > len - off)
                break;
            off += (size_t)r.content_length;
        }
    }
    free(buf);
    return 0;
}
