/*
 * stream.h - responses produced later, or piece by piece, by another thread
 * (the gateway's upstream calls, server-sent events). A handler opens a stream
 * on its response and returns at once: the connection is suspended, so no
 * worker thread waits, until the producer sets the status; then every chunk
 * written is sent as it comes (chunked transfer encoding) until the producer
 * ends the stream. A whole answer known at once goes out with Content-Length.
 */
#ifndef RAGD_HTTP_STREAM_H
#define RAGD_HTTP_STREAM_H

#include <stdbool.h>
#include <stddef.h>

#include "http/http.h"

typedef struct http_stream http_stream;

/* Make resp a deferred response. Headers already added to resp are sent too.
 * The caller gets one reference (http_stream_release once it has ended or
 * replied); the server holds its own. Call from the handler, once. */
http_stream *http_stream_open(http_resp *resp);

/* Send the status line and headers; the body follows with http_stream_write.
 * Only the first begin or reply counts. Thread-safe. */
void http_stream_begin(http_stream *s, int status, const char *content_type);

/* Queue body bytes (copied) and wake the connection. Returns RAGD_EIO once the
 * client has gone (bytes are dropped), else 0. Thread-safe. */
int http_stream_write(http_stream *s, const void *data, size_t n);

/* End the body. ok=false cuts the response short (the client sees a truncated
 * transfer, never a clean end); ending before any begin answers a bodiless
 * 502. Thread-safe; later calls are ignored. */
void http_stream_end(http_stream *s, bool ok);

/* The whole response at once (begin + write + end, sent with Content-Length).
 * Takes ownership of body (malloc'd). Thread-safe. */
void http_stream_reply(http_stream *s, int status, const char *content_type, char *body,
                       size_t len);

/* What the request's log line reports of the work behind the stream (tokens
 * and upstream time, http_req_log_usage's fields): set it before ending.
 * Thread-safe. */
void http_stream_log_usage(http_stream *s, int64_t tokens_in, int64_t tokens_out,
                           int64_t upstream_us);

/* Drop the caller's reference. */
void http_stream_release(http_stream *s);

#endif
