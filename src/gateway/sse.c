/*
 * sse.c - server-sent event parsing (the WHATWG event-stream rules the
 * OpenAI API follows: events end at a blank line, `data:` lines are joined
 * with newlines, comments and other fields are skipped), and the conversion
 * between a chunk sequence and a whole completion.
 */
#include "gateway/sse.h"

#include <stdlib.h>
#include <string.h>

#include "util/json.h"
#include "util/mem.h"

/* One line of an event (without its terminator). */
static void sse__line(sse_parser *p, const char *l, size_t n, sse_event_fn fn, void *ud)
{
    if (n == 0) {
        if (p->has_data)
            fn(ud, p->data.data ? p->data.data : "", p->data.len);
        buf_reset(&p->data);
        p->has_data = false;
        return;
    }
    if (n >= 5 && memcmp(l, "data:", 5) == 0) {
        size_t off = (n > 5 && l[5] == ' ') ? 6 : 5;
        if (p->has_data)
            buf_putc(&p->data, '\n');
        buf_append(&p->data, l + off, n - off);
        p->has_data = true;
    }
}

void sse_parser_feed(sse_parser *p, const char *bytes, size_t n, sse_event_fn fn, void *ud)
{
    buf_append(&p->pending, bytes, n);
    char *s = p->pending.data;
    size_t len = p->pending.len, start = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] != '\n' && s[i] != '\r')
            continue;
        if (s[i] == '\r' && i + 1 == len)
            break;  /* maybe half of a CRLF: wait for the next bytes */
        size_t end = i;
        if (s[i] == '\r' && s[i + 1] == '\n')
            i++;
        sse__line(p, s + start, end - start, fn, ud);
        start = i + 1;
    }
    if (start) {
        memmove(s, s + start, len - start);
        p->pending.len = len - start;
        s[p->pending.len] = '\0';
    }
}

void sse_parser_free(sse_parser *p)
{
    buf_free(&p->pending);
    buf_free(&p->data);
}

void sse_events_push(sse_events *e, const char *data, size_t n)
{
    if (e->n == e->cap) {
        e->cap = e->cap ? e->cap * 2 : 16;
        e->items = xrealloc(e->items, e->cap * sizeof *e->items);
    }
    char *s = xmalloc(n + 1);
    memcpy(s, data, n);
    s[n] = '\0';
    e->items[e->n++] = s;
}

void sse_events_free(sse_events *e)
{
    for (size_t i = 0; i < e->n; i++)
        free(e->items[i]);
    free(e->items);
    memset(e, 0, sizeof *e);
}

void sse_put_event(buf_t *b, const char *data, size_t n)
{
    buf_reserve(b, n + 8);
    buf_append(b, "data: ", 6);
    buf_append(b, data, n);
    buf_append(b, "\n\n", 2);
}

bool sse_is_usage_only(const char *data)
{
    if (!strstr(data, "\"usage\""))
        return false;
    cJSON *v = cJSON_Parse(data);
    const cJSON *ch = v ? cJSON_GetObjectItemCaseSensitive(v, "choices") : NULL;
    bool r = v && cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(v, "usage")) &&
             (!ch || (cJSON_IsArray(ch) && cJSON_GetArraySize(ch) == 0));
    cJSON_Delete(v);
    return r;
}

/* ---- assembling ---------------------------------------------------------- */

typedef struct asm_choice {
    int index;
    buf_t content, refusal;
    bool has_content, has_refusal;
    char *role, *finish;
    cJSON *tool_calls;     /* array of {id,type,function{name,arguments}} by index */
    cJSON *logprobs;       /* merged "content" arrays */
} asm_choice;

static asm_choice *asm__choice(asm_choice **cs, int *n, int index)
{
    for (int i = 0; i < *n; i++)
        if ((*cs)[i].index == index)
            return &(*cs)[i];
    *cs = xrealloc(*cs, (size_t)(*n + 1) * sizeof **cs);
    asm_choice *c = &(*cs)[(*n)++];
    memset(c, 0, sizeof *c);
    c->index = index;
    return c;
}

static void asm__append_str(cJSON *obj, const char *name, const char *add)
{
    const cJSON *cur = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!cJSON_IsString(cur)) {
        cJSON_DeleteItemFromObjectCaseSensitive(obj, name);
        cJSON_AddStringToObject(obj, name, add);
        return;
    }
    buf_t b = BUF_INIT;
    buf_puts(&b, cur->valuestring);
    buf_puts(&b, add);
    cJSON_ReplaceItemInObjectCaseSensitive(obj, name, cJSON_CreateString(b.data));
    buf_free(&b);
}

/* Merge one tool-call delta {index, id?, type?, function{name?, arguments?}}. */
static void asm__tool_delta(asm_choice *c, const cJSON *d)
{
    if (!c->tool_calls)
        c->tool_calls = cJSON_CreateArray();
    int64_t idx = 0;
    if (json_get_int(d, "index", 0, 1024, &idx) == RAGD_EINVAL)
        return;
    while (cJSON_GetArraySize(c->tool_calls) <= idx) {
        cJSON *t = cJSON_CreateObject();
        cJSON_AddObjectToObject(t, "function");
        cJSON_AddItemToArray(c->tool_calls, t);
    }
    cJSON *t = cJSON_GetArrayItem(c->tool_calls, (int)idx);
    const char *id = json_get_str(d, "id"), *type = json_get_str(d, "type");
    if (id)
        asm__append_str(t, "id", id);
    if (type && !cJSON_GetObjectItemCaseSensitive(t, "type"))
        cJSON_AddStringToObject(t, "type", type);
    const cJSON *f = json_get_obj(d, "function");
    cJSON *tf = cJSON_GetObjectItemCaseSensitive(t, "function");
    if (f) {
        const char *name = json_get_str(f, "name"), *args = json_get_str(f, "arguments");
        if (name)
            asm__append_str(tf, "name", name);
        if (args)
            asm__append_str(tf, "arguments", args);
    }
}

static void asm__choice_delta(asm_choice *c, const cJSON *ch, bool chat)
{
    const char *fin = json_get_str(ch, "finish_reason");
    if (fin) {
        free(c->finish);
        c->finish = xstrdup(fin);
    }
    const cJSON *lp = cJSON_GetObjectItemCaseSensitive(ch, "logprobs");
    const cJSON *lpc = cJSON_IsObject(lp) ? json_get_arr(lp, "content") : NULL;
    if (lpc) {
        if (!c->logprobs)
            c->logprobs = cJSON_CreateArray();
        for (const cJSON *x = lpc->child; x; x = x->next)
            cJSON_AddItemToArray(c->logprobs, cJSON_Duplicate(x, 1));
    }
    if (!chat) {
        const char *text = json_get_str(ch, "text");
        if (text) {
            buf_puts(&c->content, text);
            c->has_content = true;
        }
        return;
    }
    const cJSON *d = json_get_obj(ch, "delta");
    if (!d)
        return;
    const char *role = json_get_str(d, "role");
    if (role && !c->role)
        c->role = xstrdup(role);
    const char *content = json_get_str(d, "content");
    if (content) {
        buf_puts(&c->content, content);
        c->has_content = true;
    }
    const char *refusal = json_get_str(d, "refusal");
    if (refusal) {
        buf_puts(&c->refusal, refusal);
        c->has_refusal = true;
    }
    const cJSON *tc = json_get_arr(d, "tool_calls");
    for (const cJSON *t = tc ? tc->child : NULL; t; t = t->next)
        asm__tool_delta(c, t);
}

static cJSON *asm__choice_json(asm_choice *c, bool chat)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "index", c->index);
    if (chat) {
        cJSON *m = cJSON_AddObjectToObject(o, "message");
        cJSON_AddStringToObject(m, "role", c->role ? c->role : "assistant");
        if (c->has_content)
            cJSON_AddStringToObject(m, "content", c->content.data ? c->content.data : "");
        else
            cJSON_AddNullToObject(m, "content");
        if (c->has_refusal)
            cJSON_AddStringToObject(m, "refusal", c->refusal.data ? c->refusal.data : "");
        if (c->tool_calls) {
            cJSON_AddItemToObject(m, "tool_calls", c->tool_calls);
            c->tool_calls = NULL;
        }
    } else {
        cJSON_AddStringToObject(o, "text", c->content.data ? c->content.data : "");
    }
    if (c->logprobs) {
        cJSON *lp = cJSON_AddObjectToObject(o, "logprobs");
        cJSON_AddItemToObject(lp, "content", c->logprobs);
        c->logprobs = NULL;
    } else {
        cJSON_AddNullToObject(o, "logprobs");
    }
    if (c->finish)
        cJSON_AddStringToObject(o, "finish_reason", c->finish);
    else
        cJSON_AddNullToObject(o, "finish_reason");
    return o;
}

static void asm__copy(cJSON *dst, const cJSON *src, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(src, name);
    if (v && !cJSON_IsNull(v) && !cJSON_GetObjectItemCaseSensitive(dst, name))
        cJSON_AddItemToObject(dst, name, cJSON_Duplicate(v, 1));
}

cJSON *sse_assemble(const sse_events *e, bool chat)
{
    cJSON *out = NULL;
    asm_choice *cs = NULL;
    int nc = 0;
    for (size_t i = 0; i < e->n; i++) {
        cJSON *ch = cJSON_Parse(e->items[i]);
        if (!cJSON_IsObject(ch)) {
            cJSON_Delete(ch);
            continue;
        }
        if (!out) {
            out = cJSON_CreateObject();
            asm__copy(out, ch, "id");
            cJSON_AddStringToObject(out, "object", chat ? "chat.completion" : "text_completion");
            asm__copy(out, ch, "created");
            asm__copy(out, ch, "model");
        }
        asm__copy(out, ch, "system_fingerprint");
        asm__copy(out, ch, "service_tier");
        const cJSON *u = json_get_obj(ch, "usage");
        if (u) {
            cJSON_DeleteItemFromObjectCaseSensitive(out, "usage");
            cJSON_AddItemToObject(out, "usage", cJSON_Duplicate(u, 1));
        }
        const cJSON *arr = json_get_arr(ch, "choices");
        for (const cJSON *c = arr ? arr->child : NULL; c; c = c->next) {
            int64_t idx = 0;
            json_get_int(c, "index", 0, 1 << 20, &idx);
            asm__choice_delta(asm__choice(&cs, &nc, (int)idx), c, chat);
        }
        cJSON_Delete(ch);
    }
    if (out) {
        cJSON *arr = cJSON_CreateArray();
        for (int i = 0; i < nc; i++)
            cJSON_AddItemToArray(arr, asm__choice_json(&cs[i], chat));
        cJSON_AddItemToObject(out, "choices", arr);
        cJSON *u = cJSON_DetachItemFromObjectCaseSensitive(out, "usage");
        if (u)
            cJSON_AddItemToObject(out, "usage", u);
    }
    for (int i = 0; i < nc; i++) {
        buf_free(&cs[i].content);
        buf_free(&cs[i].refusal);
        free(cs[i].role);
        free(cs[i].finish);
        cJSON_Delete(cs[i].tool_calls);
        cJSON_Delete(cs[i].logprobs);
    }
    free(cs);
    return out;
}

/* ---- exploding ----------------------------------------------------------- */

static cJSON *explode__chunk(const cJSON *completion, bool chat)
{
    cJSON *c = cJSON_CreateObject();
    asm__copy(c, completion, "id");
    cJSON_AddStringToObject(c, "object", chat ? "chat.completion.chunk" : "text_completion");
    asm__copy(c, completion, "created");
    asm__copy(c, completion, "model");
    asm__copy(c, completion, "system_fingerprint");
    return c;
}

static void explode__emit(sse_events *out, cJSON *chunk)
{
    buf_t b = BUF_INIT;
    json_write(chunk, &b);
    sse_events_push(out, b.data, b.len);
    buf_free(&b);
    cJSON_Delete(chunk);
}

/* The tool calls of a message as deltas (each with its index). */
static cJSON *explode__tool_deltas(const cJSON *tcs)
{
    cJSON *arr = cJSON_CreateArray();
    int i = 0;
    for (const cJSON *t = tcs->child; t; t = t->next, i++) {
        cJSON *d = cJSON_Duplicate(t, 1);
        cJSON_DeleteItemFromObjectCaseSensitive(d, "index");
        cJSON_AddNumberToObject(d, "index", i);
        cJSON_AddItemToArray(arr, d);
    }
    return arr;
}

static void explode__choice(const cJSON *completion, const cJSON *ch, bool chat,
                            sse_events *out)
{
    int64_t idx = 0;
    json_get_int(ch, "index", 0, 1 << 20, &idx);
    cJSON *chunk = explode__chunk(completion, chat);
    cJSON *arr = cJSON_AddArrayToObject(chunk, "choices");
    cJSON *c = cJSON_CreateObject();
    cJSON_AddNumberToObject(c, "index", (double)idx);
    if (chat) {
        const cJSON *m = json_get_obj(ch, "message");
        cJSON *d = cJSON_AddObjectToObject(c, "delta");
        const char *role = m ? json_get_str(m, "role") : NULL;
        cJSON_AddStringToObject(d, "role", role ? role : "assistant");
        const char *content = m ? json_get_str(m, "content") : NULL;
        if (content)
            cJSON_AddStringToObject(d, "content", content);
        const char *refusal = m ? json_get_str(m, "refusal") : NULL;
        if (refusal)
            cJSON_AddStringToObject(d, "refusal", refusal);
        const cJSON *tcs = m ? json_get_arr(m, "tool_calls") : NULL;
        if (tcs)
            cJSON_AddItemToObject(d, "tool_calls", explode__tool_deltas(tcs));
    } else {
        const char *text = json_get_str(ch, "text");
        cJSON_AddStringToObject(c, "text", text ? text : "");
    }
    const cJSON *lp = cJSON_GetObjectItemCaseSensitive(ch, "logprobs");
    cJSON_AddItemToObject(c, "logprobs", lp ? cJSON_Duplicate(lp, 1) : cJSON_CreateNull());
    cJSON_AddNullToObject(c, "finish_reason");
    cJSON_AddItemToArray(arr, c);
    explode__emit(out, chunk);

    chunk = explode__chunk(completion, chat);
    arr = cJSON_AddArrayToObject(chunk, "choices");
    c = cJSON_CreateObject();
    cJSON_AddNumberToObject(c, "index", (double)idx);
    if (chat)
        cJSON_AddObjectToObject(c, "delta");
    else
        cJSON_AddStringToObject(c, "text", "");
    cJSON_AddNullToObject(c, "logprobs");
    const cJSON *fin = cJSON_GetObjectItemCaseSensitive(ch, "finish_reason");
    cJSON_AddItemToObject(c, "finish_reason", fin ? cJSON_Duplicate(fin, 1) : cJSON_CreateNull());
    cJSON_AddItemToArray(arr, c);
    explode__emit(out, chunk);
}

void sse_explode(const cJSON *completion, bool chat, sse_events *out)
{
    const cJSON *choices = json_get_arr(completion, "choices");
    for (const cJSON *ch = choices ? choices->child : NULL; ch; ch = ch->next)
        explode__choice(completion, ch, chat, out);
    const cJSON *u = json_get_obj(completion, "usage");
    if (u) {
        cJSON *chunk = explode__chunk(completion, chat);
        cJSON_AddArrayToObject(chunk, "choices");
        cJSON_AddItemToObject(chunk, "usage", cJSON_Duplicate(u, 1));
        explode__emit(out, chunk);
    }
}
