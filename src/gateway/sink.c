/*
 * sink.c - a client waiting for a gateway answer (gw_sink): an HTTP response
 * (streamed or whole) or a warm-up callback. Delivers a record in the form
 * the client asked for or a JSON error, settles the call's token usage once,
 * before the answer goes out, and frees the sink.
 */
#include <stdlib.h>
#include <string.h>

#include "gateway/gateway_int.h"

void gw_sink_report_usage(gw_sink *s, int64_t tokens)
{
    if (s->on_usage) {
        s->on_usage(s->usage_ud, tokens);
        s->on_usage = NULL;
    }
}

void gw_sink_free(gw_sink *s, int result, const char *msg)
{
    if (s->st)
        http_stream_release(s->st);
    gw_sink_report_usage(s, 0);  /* not reported yet: nothing was delivered */
    if (s->done)
        s->done(s->ud, result, msg);
    free(s);
}

void gw_sink_fail(gw_sink *s, int status, const char *code, const char *msg)
{
    gw_sink_report_usage(s, 0);
    if (s->st) {
        size_t len;
        buf_t b = BUF_INIT;
        http_error_body(&b, code, msg, s->request_id);
        char *body = buf_detach(&b, &len);
        http_stream_reply(s->st, status, "application/json", body, len);
    }
    gw_sink_free(s, GW_FILL_FAILED, msg);
}

void gw_sink_deliver(gw_sink *s, const gw_record *r, int http_status)
{
    if (s->st) {
        char *body;
        size_t len;
        const char *ctype;
        if (gw_record_render(r, s->want_stream, s->include_usage, &body, &len, &ctype)) {
            gw_sink_fail(s, 502, "upstream_error", "the upstream answer could not be read");
            return;
        }
        /* Usage is settled before the client sees the answer, so its next
         * request finds the budget reconciled. */
        gw_sink_report_usage(s, gw_record_tokens(r));
        http_stream_reply(s->st, http_status, ctype, body, len);
    }
    gw_sink_report_usage(s, gw_record_tokens(r));
    gw_sink_free(s, GW_FILL_FILLED, "");
}
