/*
 * stream_int.h - the server's side of http_stream (server_conn.c only): attach
 * a stream to its connection, poll it for the status and the bytes queued so
 * far (parking the connection until the producer adds something), forget it
 * when the connection ends, and cut every live stream short when the server
 * stops.
 */
#ifndef RAGD_HTTP_STREAM_INT_H
#define RAGD_HTTP_STREAM_INT_H

#include <pthread.h>
#include <stdbool.h>

#include "http/stream.h"

/* The live streams of one server, guarded by mu. */
typedef struct http_stream_reg {
    pthread_mutex_t mu;
    http_stream *head;
    bool stopping;
} http_stream_reg;

void http_stream__reg_init(http_stream_reg *r);
void http_stream__reg_deinit(http_stream_reg *r);

/* Called under the stream's lock when a parked connection has something new
 * (a begin, bytes, the end): it must only queue s for its connection's thread
 * (taking a reference with http_stream__ref) and signal that thread. */
typedef void (*http_stream_wake_fn)(void *wake_ctx, http_stream *s);

/* Bind s to the connection conn (opaque here) of the server's registry. A
 * stream not begun while the server stops is answered 503. */
void http_stream__attach(http_stream *s, http_stream_reg *reg, void *conn,
                         http_stream_wake_fn wake, void *wake_ctx);

/* What a stream has for its connection. */
typedef struct http_stream_poll {
    int status;
    char ctype[128];
    bool whole;   /* the whole body is in data: send it with Content-Length */
    bool ended;   /* no bytes will follow what data got */
    bool ok;      /* ended cleanly (else the transfer is cut short) */
} http_stream_poll;

/* false when the producer has not begun: the connection is parked until it
 * does. Else true with *p filled and the queued bytes moved to the end of
 * data; with none queued and the stream not ended, the connection is parked
 * until more comes. A stream ended before any byte with an error becomes a
 * bodiless whole 502. Thread-safe. */
bool http_stream__poll(http_stream *s, http_stream_poll *p, buf_t *data);

/* The connection a stream is bound to: NULL once detached. Thread-safe. */
void *http_stream__conn(http_stream *s);

/* Take and drop a reference (the wake queue holds one per queued stream). */
void http_stream__ref(http_stream *s);
void http_stream__unref(http_stream *s);

/* The connection is done (or never got the stream): mark it closed, leave the
 * registry and drop the server's reference. */
void http_stream__detach(http_stream *s);

/* The usage http_stream_log_usage set (each -1 if never). */
void http_stream__usage(http_stream *s, int64_t *tokens_in, int64_t *tokens_out,
                        int64_t *upstream_us);

/* End every registered stream (server stopping) and wake its connection;
 * later streams are answered 503. */
void http_stream__abort_all(http_stream_reg *r);

#endif
