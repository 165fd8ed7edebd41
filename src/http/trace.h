/*
 * trace.h - W3C Trace Context (https://www.w3.org/TR/trace-context/): the
 * traceparent header a request may carry, "00-<trace-id>-<parent-id>-<flags>"
 * in lowercase hex. ragd joins the caller's trace (or starts one), names its
 * own span, logs the trace id and returns traceparent with that span.
 */
#ifndef RAGD_HTTP_TRACE_H
#define RAGD_HTTP_TRACE_H

#include <stdbool.h>
#include <stdint.h>

#define HTTP_TRACE_ID_HEX 32
#define HTTP_SPAN_ID_HEX 16

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
