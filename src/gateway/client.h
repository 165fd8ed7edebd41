/*
 * client.h - the gateway's HTTP client: one thread running a libcurl multi
 * handle, so any number of upstream calls (and long generations) are in
 * flight without holding a thread each; connections to upstreams are kept
 * alive and reused. The same thread runs timers (retry backoff, polling for
 * another instance's answer), so all gateway callbacks run on it.
 */
#ifndef RAGD_GW_CLIENT_H
#define RAGD_GW_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "http/trace.h"
#include "util/err.h"

typedef struct gw_client gw_client;

/* Callbacks of one call; all run on the client thread, in this order:
 * on_head once (when the status and headers are in, if the server answered),
 * on_data for each piece of the body, on_done exactly once. */
typedef struct gw_call_cbs {
    void *ud;
    void (*on_head)(void *ud, int status, const char *content_type,
                    int64_t retry_after_ms /* -1 = none */);
    void (*on_data)(void *ud, const char *data, size_t n);
    /* rc 0 = the response ended normally; RAGD_EIO (connection failed or cut),
     * RAGD_ETIMEOUT. msg says what happened. */
    void (*on_done)(void *ud, int rc, const char *msg);
} gw_call_cbs;

/* Start the client thread. Caller owns *out: gw_client_destroy(). */
int gw_client_create(gw_client **out, ragd_error *err);

/* Stop the thread: calls in flight end with on_done(RAGD_EIO), timers that
 * have not fired are run with cancelled=1. */
void gw_client_destroy(gw_client *c);

/* Send a request (POST when body != NULL, else GET) with a JSON body (copied),
 * if api_key is non-empty "Authorization: Bearer <key>", and, if trace is not
 * NULL (read during the call only), its traceparent with a new span id and
 * its tracestate (http_trace_headers). timeout_ms 0 = none. Thread-safe. */
void gw_client_call(gw_client *c, const char *url, const char *api_key, const char *body,
                    size_t len, int64_t timeout_ms, const http_trace *trace,
                    const gw_call_cbs *cbs);

/* Run fn(ud, 0) on the client thread after delay_ms (fn(ud, 1) if the client
 * stops first). Thread-safe. */
void gw_client_later(gw_client *c, int64_t delay_ms, void (*fn)(void *ud, int cancelled),
                     void *ud);

/* Parse a Retry-After value (delta seconds or an HTTP date) into milliseconds
 * from now; -1 if it does not parse. */
int64_t gw_parse_retry_after(const char *v);

#endif
