/*
 * stream_int.h - the server's side of http_stream (server.c only): queue a
 * stream's response once its producer has begun, or suspend the connection
 * until it does; forget a stream when its connection ends; cut every live
 * stream short when the server stops (MHD must not stop with suspended
 * connections).
 */
#ifndef RAGD_HTTP_STREAM_INT_H
#define RAGD_HTTP_STREAM_INT_H

#include <microhttpd.h>
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

/* From the access handler. Returns the response to queue (caller adds its
 * headers, queues and destroys it) with *status set, or NULL after suspending
 * the connection: the access handler is called again once the producer has
 * begun. NULL with *status -1: out of memory, close the connection. */
struct MHD_Response *http_stream__response(http_stream *s, http_stream_reg *reg,
                                           struct MHD_Connection *c, int *status);

/* The connection is done (or never got the stream): mark it closed, leave the
 * registry and drop the server's reference. */
void http_stream__detach(http_stream *s);

/* The usage http_stream_log_usage set (each -1 if never). */
void http_stream__usage(http_stream *s, int64_t *tokens_in, int64_t *tokens_out,
                        int64_t *upstream_us);

/* End every registered stream (server stopping) and resume its connection;
 * later streams are answered 503 without suspending. */
void http_stream__abort_all(http_stream_reg *r);

#endif
