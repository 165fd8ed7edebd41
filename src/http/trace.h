/*
 * trace.h - W3C Trace Context (https://www.w3.org/TR/trace-context/): the
 * traceparent header a request may carry, "00-<trace-id>-<parent-id>-<flags>"
 * in lowercase hex. ragd joins the caller's trace (or starts one), names its
 * own span, logs the trace id and returns traceparent with that span.
 * Calls ragd makes to upstreams carry the trace on, each as a new client span
 * (http_trace_headers), with the caller's tracestate passed through.
 */
#ifndef RAGD_HTTP_TRACE_H
#define RAGD_HTTP_TRACE_H

#include <stdbool.h>
#include <stdint.h>

#define HTTP_TRACE_ID_HEX 32
#define HTTP_SPAN_ID_HEX 16
#define HTTP_TRACESTATE_MAX 512      /* longer tracestate values are not passed on */

/* The trace an outgoing call continues: a request's trace id and flags and
 * the caller's tracestate (empty when none or when its traceparent was not
 * valid: the specification forbids passing it on then). */
typedef struct http_trace {
    char trace_id[HTTP_TRACE_ID_HEX + 1];   /* "" = no trace: nothing is sent */
    char flags[3];
    char state[HTTP_TRACESTATE_MAX + 1];
} http_trace;

/* The header lines of one outgoing call of trace t: "traceparent: 00-<trace
 * id>-<new span id>-<flags>" and, when t has a tracestate, "tracestate: ...".
 * Returns how many lines were written into lines (0 when t is NULL or has no
 * trace id). Each call makes a new span id (one per attempt). Thread-safe. */
#define HTTP_TRACE_LINE_MAX (HTTP_TRACESTATE_MAX + 16)
int http_trace_headers(const http_trace *t, char lines[2][HTTP_TRACE_LINE_MAX]);

/* The trace of the request the calling thread is handling (set by
 * http_dispatch around the handler, so code below the API layer, such as a
 * provider embedding call, continues it); NULL outside a handler. The
 * pointer is valid until the handler returns; copy it to keep it. */
const http_trace *http_trace_current(void);

/* Set (t copied) or clear (t NULL) the calling thread's current trace. */
void http_trace_set_current(const http_trace *t);

/* Parse a traceparent value: true with trace_id (33 bytes: 32 hex + NUL) and
 * flags (3 bytes) filled when it is valid per the specification's version
 * 00 rules (lowercase hex, ids not all zero, version not ff; a later version
 * may append "-..." fields). false leaves the outputs untouched: a malformed
 * header is ignored, never an error. */
bool http_trace_parse(const char *value, char *trace_id, char *flags);

/* Write n random bytes as 2n lowercase hex digits + NUL into out (never all
 * zeros). Thread-safe (a per-thread generator seeded from getrandom). */
void http_trace_random_hex(char *out, int n);

#endif
