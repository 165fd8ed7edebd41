/*
 * test_gateway.c - the gateway's pure parts: SSE parsing, chunk assembly and
 * explosion, cache keys, cached records, the circuit breaker, backoff,
 * Retry-After, the price table and the bounded per-model table.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/account.h"
#include "gateway/client.h"
#include "gateway/key.h"
#include "gateway/record.h"
#include "gateway/resilience.h"
#include "gateway/semantic.h"
#include "gateway/sse.h"
#include "testing.h"
#include "util/json.h"

static void collect(void *ud, const char *data, size_t n)
{
    sse_events_push(ud, data, n);
}

TEST(sse_parser_splits_events_across_feeds)
{
    const char *in = "data: {\"a\":1}\n\n: comment\ndata: x\r\ndata: y\r\n\r\nevent: e\ndata: [DONE]\n\n";
    sse_events ev = { 0 };
    sse_parser p = { 0 };
    for (size_t i = 0; in[i]; i++)  /* one byte at a time */
        sse_parser_feed(&p, in + i, 1, collect, &ev);
    ASSERT_EQ_INT(ev.n, 3);
    ASSERT_EQ_STR(ev.items[0], "{\"a\":1}");
    ASSERT_EQ_STR(ev.items[1], "x\ny");
    ASSERT_EQ_STR(ev.items[2], "[DONE]");
    sse_parser_free(&p);
    sse_events_free(&ev);
}

static const char *chunks[] = {
    "{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":5,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}",
    "{\"id\":\"c1\",\"created\":5,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"},\"finish_reason\":null}]}",
    "{\"id\":\"c1\",\"created\":5,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo\"},\"finish_reason\":null}]}",
    "{\"id\":\"c1\",\"created\":5,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_9\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"a\\\"\"}}]},\"finish_reason\":null}]}",
    "{\"id\":\"c1\",\"created\":5,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\":1}\"}}]},\"finish_reason\":\"tool_calls\"}]}",
    "{\"id\":\"c1\",\"created\":5,\"model\":\"m\",\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":3}}",
};

static void load_chunks(sse_events *ev)
{
    for (size_t i = 0; i < sizeof chunks / sizeof chunks[0]; i++)
        sse_events_push(ev, chunks[i], strlen(chunks[i]));
}

TEST(assemble_merges_content_tool_calls_and_usage)
{
    sse_events ev = { 0 };
    load_chunks(&ev);
    cJSON *c = sse_assemble(&ev, true);
    ASSERT_TRUE(c != NULL);
    ASSERT_EQ_STR(json_get_str(c, "object"), "chat.completion");
    ASSERT_EQ_STR(json_get_str(c, "id"), "c1");
    const cJSON *ch = cJSON_GetArrayItem(json_get_arr(c, "choices"), 0);
    const cJSON *m = json_get_obj(ch, "message");
    ASSERT_EQ_STR(json_get_str(m, "content"), "Hello");
    ASSERT_EQ_STR(json_get_str(ch, "finish_reason"), "tool_calls");
    const cJSON *tc = cJSON_GetArrayItem(json_get_arr(m, "tool_calls"), 0);
    ASSERT_EQ_STR(json_get_str(tc, "id"), "call_9");
    ASSERT_EQ_STR(json_get_str(json_get_obj(tc, "function"), "arguments"), "{\"a\":1}");
    int64_t pt = 0;
    ASSERT_OK(json_get_int(json_get_obj(c, "usage"), "prompt_tokens", 0, 100, &pt));
    ASSERT_EQ_INT(pt, 7);
    cJSON_Delete(c);
    sse_events_free(&ev);
}

TEST(explode_then_assemble_round_trips)
{
    sse_events ev = { 0 };
    load_chunks(&ev);
    cJSON *whole = sse_assemble(&ev, true);
    sse_events parts = { 0 };
    sse_explode(whole, true, &parts);
    ASSERT_EQ_INT(parts.n, 3);  /* content+tools, finish, usage */
    ASSERT_TRUE(sse_is_usage_only(parts.items[2]));
    ASSERT_TRUE(!sse_is_usage_only(parts.items[0]));
    cJSON *again = sse_assemble(&parts, true);
    buf_t a = BUF_INIT, b = BUF_INIT;
    json_canonical(whole, &a);
    json_canonical(again, &b);
    ASSERT_EQ_STR(a.data, b.data);
    buf_free(&a);
    buf_free(&b);
    cJSON_Delete(whole);
    cJSON_Delete(again);
    sse_events_free(&ev);
    sse_events_free(&parts);
}

static void key_of(const char *json, const char *scope, char hash[65])
{
    cJSON *v = cJSON_Parse(json);
    buf_t canon = BUF_INIT;
    gw_key_build(v, GW_CHAT, scope, &canon, hash);
    buf_free(&canon);
    cJSON_Delete(v);
}

TEST(key_ignores_stream_and_order_but_not_answer_fields)
{
    char a[65], b[65], c[65], d[65], e[65], f[65];
    key_of("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"q\"}]}", "user:", a);
    key_of("{\"stream\":true,\"stream_options\":{\"include_usage\":true},"
           "\"messages\":[{\"content\":\"q\",\"role\":\"user\"}],\"model\":\"m\"}", "user:", b);
    ASSERT_EQ_STR(a, b);
    key_of("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],"
           "\"tools\":[{\"type\":\"function\"}]}", "user:", c);
    key_of("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],"
           "\"response_format\":{\"type\":\"json_object\"}}", "user:", d);
    key_of("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"q\"}]}", "user:bob", e);
    key_of("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],"
           "\"user\":\"x\"}", "user:", f);
    ASSERT_TRUE(strcmp(a, c) != 0 && strcmp(a, d) != 0 && strcmp(c, d) != 0);
    ASSERT_TRUE(strcmp(a, e) != 0);
    ASSERT_EQ_STR(a, f);  /* the body's user is scope, not key material */
    ASSERT_TRUE(gw_key_field_ignored("stream") && !gw_key_field_ignored("seed"));
}

TEST(record_round_trip_and_verification)
{
    gw_record r = { 0 };
    r.chat = true;
    r.is_stream = true;
    load_chunks(&r.events);
    gw_record_usage(&r);
    ASSERT_EQ_INT(r.in_tokens, 7);
    ASSERT_EQ_INT(r.out_tokens, 3);
    buf_t b = BUF_INIT;
    gw_record_encode(&r, "{\"canon\":1}", 11, &b);
    gw_record d;
    ASSERT_EQ_INT(gw_record_decode(b.data, b.len, "{\"canon\":2}", 11, &d), RAGD_ECONFLICT);
    ASSERT_EQ_INT(gw_record_decode("nope", 4, "x", 1, &d), RAGD_EFORMAT);
    ASSERT_OK(gw_record_decode(b.data, b.len, "{\"canon\":1}", 11, &d));
    ASSERT_EQ_INT(d.events.n, r.events.n);
    ASSERT_EQ_INT(d.in_tokens, 7);
    char *body;
    size_t len;
    const char *ct;
    ASSERT_OK(gw_record_render(&d, true, false, &body, &len, &ct));
    ASSERT_EQ_STR(ct, "text/event-stream");
    ASSERT_TRUE(strstr(body, "\"usage\"") == NULL);  /* not asked for */
    ASSERT_TRUE(len > 14 && strcmp(body + len - 14, "data: [DONE]\n\n") == 0);
    free(body);
    ASSERT_OK(gw_record_render(&d, true, true, &body, &len, &ct));
    ASSERT_TRUE(strstr(body, "\"usage\"") != NULL);
    free(body);
    ASSERT_OK(gw_record_render(&d, false, false, &body, &len, &ct));
    ASSERT_TRUE(strstr(body, "\"content\":\"Hello\"") != NULL);
    free(body);
    gw_record_free(&d);
    gw_record_free(&r);
    buf_free(&b);
}

TEST(breaker_opens_probes_and_closes)
{
    gw_breaker b;
    gw_breaker_init(&b, 3, 100);
    int64_t t = 1000000;
    for (int i = 0; i < 2; i++)
        gw_breaker_record(&b, false, t);
    ASSERT_TRUE(gw_breaker_allow(&b, t));
    gw_breaker_record(&b, false, t);
    ASSERT_TRUE(!gw_breaker_allow(&b, t + 50000));
    ASSERT_EQ_STR(gw_breaker_state_name(&b, t + 50000), "open");
    ASSERT_TRUE(gw_breaker_allow(&b, t + 100000));   /* the probe */
    ASSERT_TRUE(!gw_breaker_allow(&b, t + 100001));  /* only one */
    gw_breaker_record(&b, false, t + 100002);         /* probe failed: open again */
    ASSERT_EQ_STR(gw_breaker_state_name(&b, t + 100003), "open");
    ASSERT_TRUE(gw_breaker_allow(&b, t + 300000));
    gw_breaker_record(&b, true, t + 300001);
    ASSERT_EQ_STR(gw_breaker_state_name(&b, t + 300002), "closed");
    gw_breaker_deinit(&b);
}

TEST(backoff_is_jittered_bounded_and_honours_retry_after)
{
    uint64_t rng = 88172645463325252ull;
    for (int attempt = 1; attempt < 10; attempt++) {
        int64_t d = gw_backoff_ms(attempt, 100, 1000, -1, &rng);
        ASSERT_TRUE(d >= 0 && d <= 1000);
        ASSERT_TRUE(d <= (100 << (attempt - 1)));
    }
    ASSERT_EQ_INT(gw_backoff_ms(1, 100, 5000, 2000, &rng), 2000);
    ASSERT_EQ_INT(gw_backoff_ms(1, 100, 500, 2000, &rng), 500);
    ASSERT_TRUE(gw_status_retryable(429) && gw_status_retryable(503));
    ASSERT_TRUE(!gw_status_retryable(400) && !gw_status_retryable(501));
}

TEST(retry_after_parses_seconds_and_dates)
{
    ASSERT_EQ_INT(gw_parse_retry_after("2"), 2000);
    ASSERT_EQ_INT(gw_parse_retry_after(" 1.5\r\n"), 1500);
    ASSERT_EQ_INT(gw_parse_retry_after("soon"), -1);
    ASSERT_EQ_INT(gw_parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), 0);  /* past */
}

TEST(prices_exact_and_prefix)
{
    cJSON *p = cJSON_Parse("{\"gpt-4o\":{\"input_per_1m\":2.5,\"output_per_1m\":10},"
                           "\"gpt-*\":{\"input_per_1m\":1,\"output_per_1m\":2}}");
    gw_account *a;
    ASSERT_OK(gw_account_create(p, 100, &a, NULL));
    ASSERT_NEAR(gw_account_price(a, "gpt-4o", 1000000, 1000000), 12.5, 1e-9);
    ASSERT_NEAR(gw_account_price(a, "gpt-3.5", 1000000, 0), 1.0, 1e-9);
    ASSERT_NEAR(gw_account_price(a, "claude", 1000000, 0), 0.0, 1e-9);
    gw_account_request(a, "gpt-4o", GW_OUT_HIT, 100, 200);
    cJSON *j = gw_account_json(a);
    const cJSON *m = json_get_obj(json_get_obj(j, "models"), "gpt-4o");
    int64_t hits = 0;
    ASSERT_OK(json_get_int(m, "hit", 0, 10, &hits));
    ASSERT_EQ_INT(hits, 1);
    cJSON_Delete(j);
    gw_account_destroy(a);
    cJSON_Delete(p);
    cJSON *bad = cJSON_Parse("{\"m\":{\"input_per_1m\":\"cheap\"}}");
    ASSERT_EQ_INT(gw_account_create(bad, 100, &a, NULL), RAGD_EINVAL);
    cJSON_Delete(bad);
}

TEST(account_models_are_bounded_and_listed_models_keep_their_row)
{
    cJSON *p = cJSON_Parse("{\"priced\":{\"input_per_1m\":1,\"output_per_1m\":1},"
                           "\"gpt-*\":{\"input_per_1m\":1,\"output_per_1m\":2}}");
    gw_account *a;
    ASSERT_OK(gw_account_create(p, 5, &a, NULL));
    gw_account_list_model(a, "listed");
    gw_account_list_model(a, "pattern-*");
    char name[32];
    for (int i = 0; i < 300; i++) {  /* a client flooding the table with junk names */
        snprintf(name, sizeof name, "junk-%d", i);
        gw_account_request(a, name, GW_OUT_MISS, 0, 0);
    }
    gw_account_request(a, "listed", GW_OUT_MISS, 0, 0);
    gw_account_upstream(a, "priced", true, 10, 10);
    gw_account_request(a, "pattern-x", GW_OUT_MISS, 0, 0);
    cJSON *j = gw_account_json(a);
    const cJSON *models = json_get_obj(j, "models");
    /* 5 junk rows, "_other", and the two configured names */
    ASSERT_EQ_INT(cJSON_GetArraySize(models), 8);
    int64_t v = 0;
    ASSERT_OK(json_get_int(json_get_obj(models, "listed"), "miss", 0, 10, &v));
    ASSERT_EQ_INT(v, 1);
    ASSERT_OK(json_get_int(json_get_obj(models, "priced"), "upstream_calls", 0, 10, &v));
    ASSERT_EQ_INT(v, 1);
    ASSERT_OK(json_get_int(json_get_obj(models, "_other"), "miss", 0, 1000, &v));
    ASSERT_EQ_INT(v, 296);  /* junk-5 .. junk-299 and pattern-x */
    cJSON_Delete(j);
    buf_t b = BUF_INIT;
    gw_account_metrics(a, &b);
    ASSERT_TRUE(strstr(b.data, "model=\"_other\",cache=\"miss\"} 296") != NULL);
    buf_free(&b);
    gw_account_destroy(a);
    cJSON_Delete(p);
}

TEST(semantic_guard)
{
    ASSERT_TRUE(gw_semantic_guard("How do I reset my password?", "How can I reset my password"));
    ASSERT_TRUE(!gw_semantic_guard("convert 100 dollars", "convert 200 dollars"));
    ASSERT_TRUE(gw_semantic_guard("pay 1,000 now", "now pay 1000"));
    ASSERT_TRUE(!gw_semantic_guard("is it open", "isn't it open"));
    ASSERT_TRUE(!gw_semantic_guard("is it open", "is it not open"));
    ASSERT_TRUE(gw_semantic_guard("never late", "not late"));  /* one negation each */
    ASSERT_TRUE(!gw_semantic_guard("say \"hi\"", "say \"bye\""));
    ASSERT_TRUE(gw_semantic_guard("say \xe2\x80\x9cHi\xe2\x80\x9d", "say \"hi\""));
}

TEST(semantic_qualifies)
{
    cJSON *a = cJSON_Parse("{\"temperature\":0.2,\"messages\":[{\"role\":\"user\",\"content\":\"q\"}]}");
    cJSON *b = cJSON_Parse("{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}]}");
    cJSON *c = cJSON_Parse("{\"temperature\":0,\"tools\":[{}],\"messages\":[{\"role\":\"user\",\"content\":\"q\"}]}");
    cJSON *d = cJSON_Parse("{\"temperature\":0,\"messages\":[{\"role\":\"assistant\",\"content\":\"q\"}]}");
    cJSON *e = cJSON_Parse("{\"temperature\":0,\"n\":2,\"messages\":[{\"role\":\"user\",\"content\":\"q\"}]}");
    ASSERT_TRUE(gw_semantic_qualifies(a, GW_CHAT, 0.3));
    ASSERT_TRUE(!gw_semantic_qualifies(a, GW_COMPLETIONS, 0.3));
    ASSERT_TRUE(!gw_semantic_qualifies(b, GW_CHAT, 0.3));  /* default temperature 1 */
    ASSERT_TRUE(!gw_semantic_qualifies(c, GW_CHAT, 0.3));
    ASSERT_TRUE(!gw_semantic_qualifies(d, GW_CHAT, 0.3));
    ASSERT_TRUE(!gw_semantic_qualifies(e, GW_CHAT, 0.3));
    cJSON_Delete(a);
    cJSON_Delete(b);
    cJSON_Delete(c);
    cJSON_Delete(d);
    cJSON_Delete(e);
}

int main(void)
{
    RUN(account_models_are_bounded_and_listed_models_keep_their_row);
    RUN(semantic_guard);
    RUN(semantic_qualifies);
    RUN(sse_parser_splits_events_across_feeds);
    RUN(assemble_merges_content_tool_calls_and_usage);
    RUN(explode_then_assemble_round_trips);
    RUN(key_ignores_stream_and_order_but_not_answer_fields);
    RUN(record_round_trip_and_verification);
    RUN(breaker_opens_probes_and_closes);
    RUN(backoff_is_jittered_bounded_and_honours_retry_after);
    RUN(retry_after_parses_seconds_and_dates);
    RUN(prices_exact_and_prefix);
    return TEST_REPORT();
}
