"""The LLM gateway end to end, with the official openai SDK as the client and a fake
upstream: exact cache, streaming (faithful replays), scopes, single-flight, errors,
retries, the circuit breaker, accounting and warm-up. Each failure the peers are known
for (collapsed streamed hits, tools/response_format missing from the key, answers
leaking across users or conversations, errors and cut streams cached) is a test here."""
import asyncio
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import pytest
import requests

from ragdtest import STORES, Ragd, assert_error, store_env, wait_for


@pytest.fixture(params=STORES)
def gw(request, upstream):
    """ragd in front of the fake upstream, on both stores."""
    env = {"RAGD_UPSTREAM_URL": upstream.url, "RAGD_UPSTREAM_API_KEY": "sk-test",
           "RAGD_GATEWAY_RETRY_BASE_MS": "10"}
    env.update(store_env(request, 4))
    s = Ragd(env=env).start()
    s.backend = "lmdb" if request.param == "lmdb" else "redis"
    upstream.reset()
    yield s
    s.cleanup()


@pytest.fixture
def gw_lmdb(upstream):
    s = Ragd(env={"RAGD_UPSTREAM_URL": upstream.url, "RAGD_GATEWAY_RETRY_BASE_MS": "10"}).start()
    upstream.reset()
    yield s
    s.cleanup()


def client(gw, **kw):
    return openai.OpenAI(base_url=gw.url + "/v1", api_key="sk-client", max_retries=0, **kw)


def chat(gw, content, headers=None, **kw):
    body = {"model": "fake-model", "messages": [{"role": "user", "content": content}]}
    body.update(kw)
    return requests.post(gw.url + "/v1/chat/completions", json=body, headers=headers or {},
                         timeout=60)


def sse_events(text):
    return [line[6:] for line in text.split("\n") if line.startswith("data: ")]


# ---- basics -------------------------------------------------------------------------

def test_openai_sdk_non_stream_miss_then_hit(gw, upstream):
    c = client(gw)
    raw = c.chat.completions.with_raw_response.create(
        model="fake-model", messages=[{"role": "user", "content": "hi"}])
    assert raw.headers["x-ragd-cache"] == "miss"
    first = raw.parse()
    assert first.choices[0].message.content == "echo hi #1"
    raw2 = c.chat.completions.with_raw_response.create(
        model="fake-model", messages=[{"role": "user", "content": "hi"}])
    assert raw2.headers["x-ragd-cache"] == "hit"
    assert raw2.headers["x-ragd-cache-key"].startswith("llm:{fake-model:")
    assert raw2.headers["x-ragd-cache-key"] == raw.headers["x-ragd-cache-key"]
    assert raw2.parse().choices[0].message.content == "echo hi #1"
    assert upstream.calls == 1
    assert upstream.bodies()[0]["messages"][0]["content"] == "hi"


def test_upstream_gets_the_api_key_and_unknown_fields(gw, upstream):
    r = chat(gw, "fields", extra_thing={"nested": [1, 2]}, top_k=5)
    assert r.status_code == 200
    body = upstream.bodies()[-1]
    assert body["extra_thing"] == {"nested": [1, 2]} and body["top_k"] == 5


def test_text_completions_stream_and_not(gw, upstream):
    c = client(gw)
    a = c.completions.create(model="fake-model", prompt="once upon")
    assert a.choices[0].text == "echo once upon #1"
    chunks = list(c.completions.create(model="fake-model", prompt="once upon", stream=True))
    assert "".join(ch.choices[0].text for ch in chunks if ch.choices) == "echo once upon #1"
    assert upstream.calls == 1


def test_models_list_and_unknown_model(tmp_path, upstream):
    cfg = tmp_path / "ragd.json"
    cfg.write_text(json.dumps({"providers": [
        {"name": "local", "base_url": upstream.url, "models": ["small-1", "tiny-*"],
         "timeout_ms": 5000}]}))
    s = Ragd(args=["--config", str(cfg)]).start()
    try:
        ids = {m.id for m in client(s).models.list()}
        assert ids == {"small-1", "tiny-*", "all-MiniLM-L6-v2", "cosine:all-MiniLM-L6-v2"}
        r = chat(s, "x")  # fake-model: no provider serves it
        assert_error(r, 404, "model_not_found")
        body = {"model": "tiny-2", "messages": [{"role": "user", "content": "q"}]}
        assert requests.post(s.url + "/v1/chat/completions", json=body).status_code == 200
    finally:
        s.cleanup()


def test_models_list_includes_default_upstream(gw):
    assert "fake-model" in {m.id for m in client(gw).models.list()}


def test_invalid_requests(gw):
    r = requests.post(gw.url + "/v1/chat/completions", json={"messages": []})
    assert_error(r, 400, "invalid_request")
    r = requests.post(gw.url + "/v1/chat/completions", data=b"{not json")
    assert_error(r, 400, "invalid_json")
    assert_error(chat(gw, "x", headers={"x-ragd-cache-ttl": "soon"}), 400, "invalid_ttl")
    assert_error(chat(gw, "x", headers={"x-ragd-cache-scope": "team"}), 400, "invalid_scope")


# ---- streaming ----------------------------------------------------------------------

def test_streamed_hit_keeps_its_chunk_sequence(gw, upstream):
    body = {"model": "fake-model", "stream": True,
            "messages": [{"role": "user", "content": "tell me a story"}]}
    miss = requests.post(gw.url + "/v1/chat/completions", json=body)
    assert miss.headers["x-ragd-cache"] == "miss"
    hit = requests.post(gw.url + "/v1/chat/completions", json=body)
    assert hit.headers["x-ragd-cache"] == "hit"
    assert hit.headers["Content-Type"].startswith("text/event-stream")
    me, he = sse_events(miss.text), sse_events(hit.text)
    assert he[-1] == "[DONE]"
    assert len(he) == len(me) >= 7  # role, 5 words, finish, [DONE]: not one collapsed chunk
    assert [json.loads(e) for e in he[:-1]] == [json.loads(e) for e in me[:-1]]
    assert upstream.calls == 1


def test_openai_sdk_streaming_sync_and_async(gw, upstream):
    c = client(gw)
    kw = dict(model="fake-model", messages=[{"role": "user", "content": "stream me"}],
              stream=True)
    first = [ch.choices[0].delta.content or "" for ch in c.chat.completions.create(**kw)
             if ch.choices]
    assert "".join(first) == "echo stream me #1"

    async def run():
        ac = openai.AsyncOpenAI(base_url=gw.url + "/v1", api_key="k", max_retries=0)
        out = []
        async for ch in await ac.chat.completions.create(**kw):
            if ch.choices:
                out.append(ch.choices[0].delta.content or "")
        again = await ac.chat.completions.create(
            model="fake-model", messages=[{"role": "user", "content": "stream me"}])
        await ac.close()
        return out, again
    chunks, again = asyncio.run(run())
    assert chunks == first  # same chunk boundaries on the replay
    assert again.choices[0].message.content == "echo stream me #1"  # stream -> whole
    assert upstream.calls == 1


def test_stored_whole_replayed_as_stream(gw, upstream):
    c = client(gw)
    whole = c.chat.completions.create(model="fake-model",
                                      messages=[{"role": "user", "content": "w2s"}])
    chunks = list(c.chat.completions.create(model="fake-model", stream=True,
                                            messages=[{"role": "user", "content": "w2s"}]))
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    assert text == whole.choices[0].message.content
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert upstream.calls == 1


def test_usage_chunk_only_when_asked(gw, upstream):
    body = {"model": "fake-model", "stream": True,
            "messages": [{"role": "user", "content": "usage please"}]}
    plain = sse_events(requests.post(gw.url + "/v1/chat/completions", json=body).text)
    assert not any('"usage"' in e for e in plain)
    assert upstream.bodies()[-1]["stream_options"] == {"include_usage": True}
    body["stream_options"] = {"include_usage": True}
    withu = requests.post(gw.url + "/v1/chat/completions", json=body)
    assert withu.headers["x-ragd-cache"] == "hit"
    u = [json.loads(e) for e in sse_events(withu.text)[:-1] if '"usage"' in e]
    assert u and u[-1]["usage"]["completion_tokens"] == 4


def test_tool_call_deltas_replayed_and_assembled(gw, upstream):
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}}}}]
    c = client(gw)
    kw = dict(model="fake-model", tools=tools,
              messages=[{"role": "user", "content": "weather? [tools]"}])
    live = list(c.chat.completions.create(stream=True, **kw))
    replay = list(c.chat.completions.create(stream=True, **kw))
    assert [ch.model_dump() for ch in replay] == [ch.model_dump() for ch in live]
    deltas = [ch for ch in replay if ch.choices and ch.choices[0].delta.tool_calls]
    assert len(deltas) == 4  # the name chunk and three argument pieces
    whole = c.chat.completions.create(**kw)
    tc = whole.choices[0].message.tool_calls[0]
    assert tc.id == "call_1" and tc.function.name == "get_weather"
    assert json.loads(tc.function.arguments) == {"city": "Paris"}
    assert whole.choices[0].finish_reason == "tool_calls"
    assert upstream.calls == 1


def test_incomplete_streams_are_not_cached(gw, upstream):
    body = {"model": "fake-model", "stream": True,
            "messages": [{"role": "user", "content": "please [cut] here"}]}
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        requests.post(gw.url + "/v1/chat/completions", json=body).text
    body["messages"][0]["content"] = "no end [nodone]"
    r = requests.post(gw.url + "/v1/chat/completions", json=body)
    assert r.status_code == 200 and "[DONE]" not in r.text
    calls = upstream.calls
    r2 = requests.post(gw.url + "/v1/chat/completions", json=body)
    assert r2.headers["x-ragd-cache"] == "miss"
    assert upstream.calls == calls + 1


def test_two_hundred_concurrent_slow_streams(upstream):
    """4 HTTP threads, 200 streams of ~2 s each: connections are suspended, not held."""
    s = Ragd(env={"RAGD_UPSTREAM_URL": upstream.url}, args=["--threads", "4"]).start()
    upstream.reset()

    def one(i):
        body = {"model": "fake-model", "stream": True,
                "messages": [{"role": "user", "content": f"slow {i} [slow:0.3]"}]}
        r = requests.post(s.url + "/v1/chat/completions", json=body, timeout=120)
        return r.status_code, sse_events(r.text)
    try:
        with ThreadPoolExecutor(200) as ex:
            results = list(ex.map(one, range(200)))
    finally:
        s.cleanup()
    assert all(st == 200 and ev[-1] == "[DONE]" for st, ev in results)
    assert upstream.calls == 200
    assert upstream.state.max_concurrent >= 50  # far more than the 4 threads at once


# ---- the key -------------------------------------------------------------------------

def test_tools_and_response_format_are_in_the_key(gw, upstream):
    base = {"model": "fake-model", "messages": [{"role": "user", "content": "same"}]}
    t1 = dict(base, tools=[{"type": "function", "function": {"name": "a", "parameters": {}}}])
    t2 = dict(base, tools=[{"type": "function", "function": {"name": "b", "parameters": {}}}])
    rf = dict(base, response_format={"type": "json_object"})
    keys = set()
    for b in (base, t1, t2, rf, dict(base, temperature=0.2), dict(base, seed=7),
              dict(base, max_tokens=5), dict(base, tool_choice="none")):
        r = requests.post(gw.url + "/v1/chat/completions", json=b)
        assert r.headers["x-ragd-cache"] == "miss", b
        keys.add(r.headers["x-ragd-cache-key"])
    assert len(keys) == 8 and upstream.calls == 8


def test_stream_flag_and_key_order_do_not_change_the_key(gw):
    a = requests.post(gw.url + "/v1/chat/completions", data=json.dumps(
        {"model": "fake-model", "temperature": 0, "messages": [{"role": "user", "content": "o"}]}))
    b = requests.post(gw.url + "/v1/chat/completions", data=json.dumps(
        {"messages": [{"content": "o", "role": "user"}], "temperature": 0.0, "stream": False,
         "model": "fake-model"}))
    assert b.headers["x-ragd-cache"] == "hit"
    assert a.headers["x-ragd-cache-key"] == b.headers["x-ragd-cache-key"]


def test_no_cross_user_leak(gw, upstream):
    a = chat(gw, "my account balance?", user="alice")
    b = chat(gw, "my account balance?", user="bob")
    assert b.headers["x-ragd-cache"] == "miss"
    assert a.json()["choices"][0]["message"]["content"] != b.json()["choices"][0]["message"]["content"]
    c = chat(gw, "my account balance?", headers={"x-ragd-user": "carol"})
    assert c.headers["x-ragd-cache"] == "miss"
    assert chat(gw, "my account balance?", user="alice").headers["x-ragd-cache"] == "hit"
    assert upstream.calls == 3


def test_global_scope_is_shared(gw, upstream):
    h = {"x-ragd-cache-scope": "global"}
    chat(gw, "capital of France?", headers=h, user="alice")
    r = chat(gw, "capital of France?", headers=h, user="bob")
    assert r.headers["x-ragd-cache"] == "hit" and upstream.calls == 1


def test_conversations_ending_alike_do_not_share(gw, upstream):
    def conv(first):
        return {"model": "fake-model", "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": first},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": "and how much does it cost?"}]}
    a = requests.post(gw.url + "/v1/chat/completions", json=conv("tell me about cars"))
    b = requests.post(gw.url + "/v1/chat/completions", json=conv("tell me about boats"))
    assert b.headers["x-ragd-cache"] == "miss"
    assert a.headers["x-ragd-cache-key"] != b.headers["x-ragd-cache-key"]
    tool_a = {"model": "fake-model", "messages": [
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_A", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_A", "content": "42"},
        {"role": "user", "content": "so?"}]}
    tool_b = json.loads(json.dumps(tool_a).replace("call_A", "call_B"))
    ra = requests.post(gw.url + "/v1/chat/completions", json=tool_a)
    rb = requests.post(gw.url + "/v1/chat/completions", json=tool_b)
    assert ra.headers["x-ragd-cache-key"] != rb.headers["x-ragd-cache-key"]
    assert upstream.calls == 4


# ---- cache control -------------------------------------------------------------------

def test_cache_control_headers(gw, upstream):
    chat(gw, "cc", headers={"Cache-Control": "no-store"})
    assert chat(gw, "cc").headers["x-ragd-cache"] == "miss"  # nothing was stored
    r = chat(gw, "cc", headers={"Cache-Control": "no-cache"})
    assert r.headers["x-ragd-cache"] == "bypass"
    assert r.json()["choices"][0]["message"]["content"] == "echo cc #3"
    assert chat(gw, "cc").json()["choices"][0]["message"]["content"] == "echo cc #3"
    assert upstream.calls == 3


def test_ttl_header(gw, upstream):
    chat(gw, "short lived", headers={"x-ragd-cache-ttl": "1"})
    assert chat(gw, "short lived").headers["x-ragd-cache"] == "hit"
    deadline = time.time() + 10
    while time.time() < deadline and chat(gw, "short lived").headers["x-ragd-cache"] == "hit":
        time.sleep(0.2)
    assert chat(gw, "short lived").headers["x-ragd-cache"] in ("miss", "hit")
    assert upstream.calls >= 2


# ---- errors, retries, breaker ----------------------------------------------------------

def test_upstream_errors_pass_through_and_are_not_cached(gw, upstream):
    r = chat(gw, "bad [status:400]")
    assert r.status_code == 400
    assert r.json()["error"]["message"] == "fake failure 400"
    r2 = chat(gw, "bad [status:400]")
    assert r2.status_code == 400 and r2.headers["x-ragd-cache"] == "miss"
    assert upstream.calls == 2


def test_retries_on_429_and_5xx_honour_retry_after(gw, upstream):
    upstream.fail_next({"status": 429, "retry_after": 1}, {"status": 503})
    t0 = time.time()
    r = chat(gw, "flaky")
    assert r.status_code == 200, r.text
    assert time.time() - t0 >= 0.9  # waited for Retry-After
    assert upstream.calls == 3
    stats = gw.get("/api/v1/cache/stats").json()["gateway"]
    assert stats["retries"] == 2


def test_retries_are_bounded(gw, upstream):
    upstream.fail_next(*[{"status": 500}] * 3)
    r = chat(gw, "always failing")
    assert r.status_code == 500 and upstream.calls == 3  # 1 + 2 retries


def test_circuit_breaker_opens_and_recovers(upstream):
    s = Ragd(env={"RAGD_UPSTREAM_URL": upstream.url, "RAGD_GATEWAY_RETRIES": "0",
                  "RAGD_GATEWAY_BREAKER_FAILURES": "3",
                  "RAGD_GATEWAY_BREAKER_COOLDOWN_MS": "500"}).start()
    upstream.reset()
    try:
        upstream.fail_next(*[{"status": 502}] * 3)
        for i in range(3):
            assert chat(s, f"b{i}").status_code == 502
        r = chat(s, "b-open")
        assert_error(r, 503, "upstream_unavailable")
        assert upstream.calls == 3
        assert s.get("/api/v1/cache/stats").json()["gateway"]["providers"]["default"][
            "circuit"] == "open"
        time.sleep(0.6)
        assert chat(s, "b-probe").status_code == 200  # half-open probe succeeds
        assert chat(s, "b-after").status_code == 200
    finally:
        s.cleanup()


def test_connection_errors_give_502(tmp_path):
    s = Ragd(env={"RAGD_UPSTREAM_URL": "http://127.0.0.1:9/v1", "RAGD_GATEWAY_RETRIES": "1",
                  "RAGD_GATEWAY_RETRY_BASE_MS": "1"}).start()
    try:
        assert_error(chat(s, "nobody home"), 502, "upstream_error")
    finally:
        s.cleanup()


# ---- single-flight ----------------------------------------------------------------------

def test_fifty_identical_requests_make_one_call(gw, upstream):
    def one(_):
        return chat(gw, "popular question [slow:0.3]")
    with ThreadPoolExecutor(50) as ex:
        rs = list(ex.map(one, range(50)))
    assert all(r.status_code == 200 for r in rs)
    texts = {r.json()["choices"][0]["message"]["content"] for r in rs}
    assert texts == {"echo popular question [slow:0.3] #1"}
    assert upstream.calls == 1


def test_single_flight_streaming_followers(gw, upstream):
    body = {"model": "fake-model", "stream": True,
            "messages": [{"role": "user", "content": "shared stream [slow:0.1]"}]}

    def one(i):
        if i % 3 == 2:  # some followers want the whole answer
            b = dict(body, stream=False)
            r = requests.post(gw.url + "/v1/chat/completions", json=b, timeout=60)
            return r.json()["choices"][0]["message"]["content"]
        r = requests.post(gw.url + "/v1/chat/completions", json=body, timeout=60)
        ev = sse_events(r.text)
        assert ev[-1] == "[DONE]"
        return "".join(json.loads(e)["choices"][0]["delta"].get("content") or ""
                       for e in ev[:-1] if json.loads(e)["choices"])
    with ThreadPoolExecutor(30) as ex:
        texts = set(ex.map(one, range(30)))
    assert texts == {"echo shared stream [slow:0.1] #1"}
    assert upstream.calls == 1


def test_single_flight_across_instances_on_redis(redis_server, upstream):
    import redis as redis_py
    redis_py.Redis(port=redis_server.port, db=5).flushdb()
    env = {"RAGD_UPSTREAM_URL": upstream.url, "REDIS_URL": redis_server.url(5)}
    a, b = Ragd(env=env).start(), Ragd(env=env).start()
    upstream.reset()
    try:
        def one(i):
            s = a if i % 2 else b
            return chat(s, "cross instance [slow:0.3]").json()["choices"][0]["message"]["content"]
        with ThreadPoolExecutor(20) as ex:
            texts = set(ex.map(one, range(20)))
        assert texts == {"echo cross instance [slow:0.3] #1"}
        assert upstream.calls == 1
    finally:
        a.cleanup()
        b.cleanup()


# ---- store outage, accounting, warm-up -----------------------------------------------------

def test_store_outage_keeps_proxying(upstream):
    from ragdtest import Redis
    r = Redis().start()
    s = Ragd(env={"RAGD_UPSTREAM_URL": upstream.url, "REDIS_URL": r.url(0),
                  "RAGD_REDIS_TIMEOUT_MS": "200"}).start()
    upstream.reset()
    try:
        r.stop()
        assert chat(s, "outage").status_code == 200
        assert chat(s, "outage").status_code == 200
        assert upstream.calls == 2
    finally:
        s.cleanup()
        r.cleanup()


def test_accounting_in_stats_and_metrics(tmp_path, upstream):
    cfg = tmp_path / "ragd.json"
    cfg.write_text(json.dumps({"prices": {"fake-*": {"input_per_1m": 1000000,
                                                     "output_per_1m": 2000000}}}))
    s = Ragd(env={"RAGD_UPSTREAM_URL": upstream.url}, args=["--config", str(cfg)]).start()
    upstream.reset()
    try:
        chat(s, "count my tokens")
        chat(s, "count my tokens")
        g = s.get("/api/v1/cache/stats").json()["gateway"]
        m = g["models"]["fake-model"]
        assert m["hit"] == 1 and m["miss"] == 1 and m["upstream_calls"] == 1
        assert m["tokens_saved"] == {"input": 3, "output": 5, "total": 8}
        assert m["cost_saved_usd"] == pytest.approx(3 * 1 + 5 * 2)
        assert g["totals"]["cost_saved_usd"] == pytest.approx(13)
        met = s.get("/metrics").text
        assert 'ragd_gateway_requests_total{model="fake-model",cache="hit"} 1' in met
        assert 'ragd_gateway_cost_saved_usd_total{model="fake-model"} 13' in met
    finally:
        s.cleanup()


def test_warm_up_requests(gw, upstream):
    reqs = [{"model": "fake-model", "messages": [{"role": "user", "content": f"warm {i}"}]}
            for i in range(12)]
    reqs.append({"model": "fake-model", "prompt": "x [status:400]"})
    chat(gw, "warm 0")
    r = gw.post("/api/v1/cache/warm-up", json={"requests": reqs, "concurrency": 3})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["requested"] == 13 and out["filled"] == 11
    assert out["already_cached"] == 1 and out["failed"] == 1
    assert out["errors"][0]["index"] == 12
    assert upstream.calls == 13
    assert upstream.state.max_concurrent <= 3
    for i in range(12):
        assert chat(gw, f"warm {i}").headers["x-ragd-cache"] == "hit"
    # the old shape still works
    e = gw.post("/api/v1/cache/warm-up", json={"entries": [{"prefix": "p", "key": "k", "value": 1}]})
    assert e.json()["stored"] == 1


def test_metrics_escape_label_values_and_bound_their_number(upstream):
    """Client-chosen model names and cache prefixes end up as label values: a name
    with a quote or a backslash must not inject a sample or break the scrape, and junk
    names beyond metrics_max_label_values count as _other."""
    from prometheus_client.parser import text_string_to_metric_families
    s = Ragd(env={"RAGD_UPSTREAM_URL": upstream.url, "RAGD_METRICS_MAX_LABEL_VALUES": "4",
                  "RAGD_SEMANTIC_CACHE": "off"}).start()
    upstream.reset()
    try:
        weird = ['q"} 1 # ', "m\\x", 'zürich\\"}']  # control characters are refused anyway
        names = weird + [f"junk-{i}" for i in range(10)]
        for m in names:
            r = requests.post(s.url + "/v1/chat/completions", timeout=30, json={
                "model": m, "messages": [{"role": "user", "content": "hi"}]})
            assert r.status_code == 200, r.text
        for i in range(10):
            assert s.put(f"/api/v1/cache/p{i}/k", data=b"v").status_code == 200
        fams = {f.name: f for f in text_string_to_metric_families(s.get("/metrics").text)}
        reqs = [x for x in fams["ragd_gateway_requests"].samples if x.labels["cache"] == "miss"]
        by_model = {x.labels["model"]: x.value for x in reqs}
        assert set(by_model) == set(names[:4]) | {"_other"}, by_model
        assert by_model["_other"] == 9 and sum(by_model.values()) == len(names)
        writes = {x.labels["prefix"]: x.value for x in fams["ragd_cache_writes"].samples}
        assert {p for p in writes if p.startswith("p")} == {"p0", "p1", "p2", "p3"}, writes
        assert writes["_other"] == 6
    finally:
        s.cleanup()


def test_many_model_names_fold_into_other_with_default_settings(gw_lmdb):
    """A client cycling through model names fills the per-model table; past it every
    new name is counted as _other (the table used to recurse forever at its 128th
    name), and the metrics keep parsing with a bounded number of series."""
    from prometheus_client.parser import text_string_to_metric_families
    with ThreadPoolExecutor(4) as ex:
        codes = list(ex.map(lambda i: requests.post(
            gw_lmdb.url + "/v1/chat/completions", timeout=30,
            json={"model": f"m-{i}", "messages": [{"role": "user", "content": "hi"}]}
        ).status_code, range(140)))
    assert codes == [200] * 140
    fams = {f.name: f for f in text_string_to_metric_families(gw_lmdb.get("/metrics").text)}
    models = {x.labels["model"] for x in fams["ragd_gateway_requests"].samples}
    assert len(models) == 101 and "_other" in models
    assert gw_lmdb.get("/health").status_code == 200


def test_warm_up_cut_short_by_shutdown(upstream):
    """SIGTERM while a warm-up still has calls to start: the warm-up's pump thread
    used to outlive the gateway (it was detached and app_close did not wait), so a
    completion failed by the shutdown woke it to start the next call on a gateway
    being freed. ragd must stop cleanly: exit 0, no sanitizer report. The warm-up
    (80 calls of 0.5 s, two at a time) outlasts the server's 10 s grace for requests
    in flight, so the gateway closes under it."""
    s = Ragd(env={"RAGD_UPSTREAM_URL": upstream.url, "RAGD_SEMANTIC_CACHE": "off"}).start()
    upstream.reset()
    reqs = [{"model": "fake-model", "messages": [{"role": "user", "content": f"cut {i} [slow:0.5]"}]}
            for i in range(80)]
    answers = []
    t = threading.Thread(target=lambda: answers.append(
        requests.post(s.url + "/api/v1/cache/warm-up", timeout=60,
                      json={"requests": reqs, "concurrency": 2})), daemon=True)
    try:
        t.start()
        wait_for(lambda: upstream.calls >= 2, "the warm-up's first calls")
        rc = s.stop()
        log = s.logs()
        assert rc == 0, log
        for bad in ("Sanitizer", "Segmentation", "heap-use-after-free"):
            assert bad not in log, log
        t.join(30)
        assert upstream.calls < len(reqs)  # it was cut short, not run to the end
    finally:
        s.cleanup()
