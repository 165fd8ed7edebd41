/*
 * record.c - cached answers: entry format
 *   {"v":1,"request":"<canonical>","chat":bool,"kind":"stream"|"json",
 *    "events":["<chunk json>",...] | "body":"<completion json>",
 *    "usage":{"prompt_tokens":n,"completion_tokens":n}}
 * Chunks and bodies are kept as the upstream's own text, so a replay is
 * byte-faithful.
 */
#include "gateway/record.h"

#include <stdlib.h>
#include <string.h>

#include "util/json.h"
#include "util/mem.h"

void gw_record_free(gw_record *r)
{
    sse_events_free(&r->events);
    free(r->body);
    memset(r, 0, sizeof *r);
}

static void record__usage_from(gw_record *r, const cJSON *u)
{
    int64_t v;
    if (json_get_int(u, "prompt_tokens", 0, INT64_MAX / 2, &v) == 0)
        r->in_tokens = v;
    if (json_get_int(u, "completion_tokens", 0, INT64_MAX / 2, &v) == 0)
        r->out_tokens = v;
}

int64_t gw_record_tokens(const gw_record *r)
{
    return (r->in_tokens > 0 ? r->in_tokens : 0) + (r->out_tokens > 0 ? r->out_tokens : 0);
}

void gw_record_usage(gw_record *r)
{
    r->in_tokens = r->out_tokens = -1;
    if (r->is_stream) {
        for (size_t i = r->events.n; i-- > 0;) {
            if (!strstr(r->events.items[i], "\"usage\""))
                continue;
            cJSON *c = cJSON_Parse(r->events.items[i]);
            const cJSON *u = c ? json_get_obj(c, "usage") : NULL;
            if (u)
                record__usage_from(r, u);
            cJSON_Delete(c);
            if (u)
                return;
        }
        return;
    }
    cJSON *c = r->body ? cJSON_Parse(r->body) : NULL;
    const cJSON *u = c ? json_get_obj(c, "usage") : NULL;
    if (u)
        record__usage_from(r, u);
    cJSON_Delete(c);
}

void gw_record_encode(const gw_record *r, const char *canon, size_t canon_len, buf_t *out)
{
    buf_puts(out, "{\"v\":1,\"request\":");
    buf_put_json_str(out, canon, canon_len);
    buf_printf(out, ",\"chat\":%s,\"kind\":\"%s\"", r->chat ? "true" : "false",
               r->is_stream ? "stream" : "json");
    if (r->is_stream) {
        buf_puts(out, ",\"events\":[");
        for (size_t i = 0; i < r->events.n; i++) {
            if (i)
                buf_putc(out, ',');
            buf_put_json_str(out, r->events.items[i], strlen(r->events.items[i]));
        }
        buf_putc(out, ']');
    } else {
        buf_puts(out, ",\"body\":");
        buf_put_json_str(out, r->body, r->len);
    }
    buf_printf(out, ",\"usage\":{\"prompt_tokens\":%lld,\"completion_tokens\":%lld}}",
               (long long)r->in_tokens, (long long)r->out_tokens);
}

int gw_record_decode(const char *data, size_t len, const char *canon, size_t canon_len,
                     gw_record *r)
{
    cJSON *v = cJSON_ParseWithLength(data, len);
    const char *req = v ? json_get_str(v, "request") : NULL;
    const char *kind = v ? json_get_str(v, "kind") : NULL;
    if (!req || !kind) {
        cJSON_Delete(v);
        return RAGD_EFORMAT;
    }
    if (canon && (strlen(req) != canon_len || memcmp(req, canon, canon_len) != 0)) {
        cJSON_Delete(v);
        return RAGD_ECONFLICT;
    }
    memset(r, 0, sizeof *r);
    r->chat = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(v, "chat"));
    r->is_stream = strcmp(kind, "stream") == 0;
    int rc = RAGD_OK;
    if (r->is_stream) {
        const cJSON *ev = json_get_arr(v, "events");
        for (const cJSON *e = ev ? ev->child : NULL; e; e = e->next)
            if (cJSON_IsString(e))
                sse_events_push(&r->events, e->valuestring, strlen(e->valuestring));
        if (!ev)
            rc = RAGD_EFORMAT;
    } else {
        const char *body = json_get_str(v, "body");
        if (body) {
            r->body = xstrdup(body);
            r->len = strlen(body);
        } else {
            rc = RAGD_EFORMAT;
        }
    }
    r->in_tokens = r->out_tokens = -1;
    const cJSON *u = json_get_obj(v, "usage");
    if (u)
        record__usage_from(r, u);
    cJSON_Delete(v);
    if (rc)
        gw_record_free(r);
    return rc;
}

int gw_record_render(const gw_record *r, bool want_stream, bool include_usage, char **body,
                     size_t *len, const char **ctype)
{
    buf_t b = BUF_INIT;
    if (want_stream) {
        sse_events tmp = { 0 };
        const sse_events *ev = &r->events;
        if (!r->is_stream) {
            cJSON *c = cJSON_Parse(r->body);
            if (!c)
                return RAGD_EFORMAT;
            sse_explode(c, r->chat, &tmp);
            cJSON_Delete(c);
            ev = &tmp;
        }
        for (size_t i = 0; i < ev->n; i++)
            if (include_usage || !sse_is_usage_only(ev->items[i]))
                sse_put_event(&b, ev->items[i], strlen(ev->items[i]));
        buf_puts(&b, "data: [DONE]\n\n");
        sse_events_free(&tmp);
        *ctype = "text/event-stream";
    } else if (r->is_stream) {
        cJSON *c = sse_assemble(&r->events, r->chat);
        if (!c)
            return RAGD_EFORMAT;
        json_write(c, &b);
        cJSON_Delete(c);
        *ctype = "application/json";
    } else {
        buf_append(&b, r->body, r->len);
        *ctype = "application/json";
    }
    *body = buf_detach(&b, len);
    return RAGD_OK;
}
