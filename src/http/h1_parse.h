/*
 * h1_parse.h - a strict HTTP/1.1 request parser (RFC 9112) for ragd's server:
 * the request head (request line and header fields) parsed whole once its end
 * is in the buffer, the chunked body decoded incrementally, and the URL
 * decoding of paths and query arguments. No I/O and no allocation: the server
 * (server_conn.c) feeds it bytes, the fuzz harness (tests/fuzz/fuzz_h1.c) and
 * the unit tests feed it any split of any bytes. Every refusal carries the
 * HTTP status and the stable error code the server answers with.
 */
#ifndef RAGD_H1_PARSE_H
#define RAGD_H1_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define H1_MAX_HEADERS 100      /* more header fields: 431 */
#define H1_MAX_CHUNK_LINE 1024  /* chunk-size line with its extensions */
#define H1_MAX_TRAILER 8192     /* the trailer section of a chunked body */

/* Why a request was refused: the status, stable code and message to answer. */
typedef struct h1_error {
    int status;           /* 400, 413, 414, 431, 505 */
    const char *code;     /* "bad_request", "invalid_framing", ... (static) */
    const char *msg;      /* static text */
} h1_error;

/* A header field as offsets into the parsed buffer (the buffer may move). */
typedef struct h1_header {
    uint32_t name_off, name_len, value_off, value_len;
} h1_header;

typedef struct h1_request {
    uint32_t method_off, method_len;
    /* The origin-form target "/path?query". An absolute-form target
     * (RFC 9112 §3.2.2: "http://host:port/path?query", https too) leaves
     * its path and query here, empty or starting with '?' when it has no
     * path (read as "/"), and its authority below; OPTIONS' asterisk-form
     * leaves "*". */
    uint32_t target_off, target_len;
    /* The absolute-form's authority ("host:port", no userinfo), which
     * replaces the Host field as the request's host; length 0 otherwise. */
    uint32_t authority_off, authority_len;
    int minor;                        /* HTTP/1.<minor>: 0 or 1 */
    int nheaders;
    h1_header headers[H1_MAX_HEADERS];
    size_t head_len;                  /* bytes of the head, blank line included */
    int64_t content_length;           /* -1: none */
    bool chunked;                     /* Transfer-Encoding: chunked */
    bool keep_alive;                  /* the connection may serve another request */
    bool expect_continue;             /* Expect: 100-continue (HTTP/1.1) */
} h1_request;

/* Parse the request head at the start of buf[0..len). Returns 1 with *req
 * filled once the whole head is there, 0 when more bytes are needed (none of
 * the bytes so far is refused), -1 with *err set when the request is refused.
 * max_head bounds the head: a request line that does not end within it is 414,
 * a head that does not is 431. Offsets in *req are relative to buf. Leading
 * blank lines (CRLF) are skipped, as RFC 9112 §2.2 allows. Pure; thread-safe. */
int h1_parse_head(const char *buf, size_t len, size_t max_head, h1_request *req,
                  h1_error *err);

/* The value of the first header field named name (case-insensitive) as a
 * pointer into buf and its length in *n; NULL when there is none. */
const char *h1_header_get(const h1_request *req, const char *buf, const char *name,
                          size_t *n);

/* The state of a chunked body being decoded (zero it to begin). */
typedef struct h1_chunked {
    int state;
    uint64_t left;       /* data bytes left in the current chunk */
    size_t line;         /* bytes of the current size line or trailer line */
    size_t trailer;      /* bytes of the trailer section so far */
    int digits;          /* hex digits of the current size */
    bool ext;            /* inside a chunk extension */
} h1_chunked;

/* Decode in[0..n) into out (data bytes are compacted in place: out may equal
 * in; *out_n is the count written). *used is the input consumed. Returns 1
 * when the body ended (last chunk and trailers: *used stops right after), 0
 * when more input is needed, -1 with *err set on a malformed body or when the
 * data would pass max_body (413), counting body_so_far bytes already decoded. */
int h1_chunked_feed(h1_chunked *c, const char *in, size_t n, char *out, size_t *out_n,
                    size_t *used, size_t body_so_far, size_t max_body, h1_error *err);

/* Decode %XX escapes in place (and '+' as a space when plus); invalid escapes
 * stay as they are. */
void h1_url_decode(char *s, bool plus);

/* A query argument: value NULL for a name without '='. */
typedef struct h1_kv {
    const char *name;
    const char *value;
} h1_kv;

/* Split a query string (modified in place) on '&' into at most max arguments,
 * each name and value URL-decoded with '+' as a space. Returns the count. */
int h1_query_split(char *query, h1_kv *out, int max);

/* The value of the first argument named name (exact); NULL when there is
 * none or it has no '='. */
const char *h1_query_get(const h1_kv *kv, int n, const char *name);

#endif
