"""LiteLLM's per-request cache controls on the gateway, sent as LiteLLM users send them
(the body field `cache`, through the openai SDK's extra_body too): no-cache, no-store,
ttl, s-maxage and namespace keep LiteLLM's meaning, the field is never forwarded and
never part of the key. And /v1/models lists the local models beside the upstream's."""
import time

import openai
import pytest
import requests

from ragdtest import Ragd, assert_error


@pytest.fixture
def gw(upstream):
    s = Ragd(env={"RAGD_UPSTREAM_URL": upstream.url, "RAGD_GATEWAY_RETRY_BASE_MS": "10"}).start()
    upstream.reset()
    yield s
    s.cleanup()


def chat(gw, content, cache=None):
    body = {"model": "fake-model", "messages": [{"role": "user", "content": content}]}
    if cache is not None:
        body["cache"] = cache
    r = requests.post(gw.url + "/v1/chat/completions", json=body, timeout=60)
    assert r.status_code == 200 or cache is not None, r.text
    return r


def answer(r):
    return r.json()["choices"][0]["message"]["content"]


def test_cache_field_is_not_forwarded_nor_keyed(gw, upstream):
    r = chat(gw, "q", {"ttl": 600})
    assert r.headers["x-ragd-cache"] == "miss"
    assert "cache" not in upstream.bodies()[-1]
    assert upstream.bodies()[-1]["messages"][0]["content"] == "q"
    assert chat(gw, "q").headers["x-ragd-cache"] == "hit"  # same key without the field
    assert chat(gw, "q", {"no-store": False}).headers["x-ragd-cache"] == "hit"
    assert upstream.calls == 1


def test_openai_sdk_extra_body(gw, upstream):
    c = openai.OpenAI(base_url=gw.url + "/v1", api_key="sk", max_retries=0)
    msgs = [{"role": "user", "content": "sdk"}]
    c.chat.completions.create(model="fake-model", messages=msgs)
    raw = c.chat.completions.with_raw_response.create(
        model="fake-model", messages=msgs, extra_body={"cache": {"no-cache": True}})
    assert raw.headers["x-ragd-cache"] == "bypass"
    assert raw.parse().choices[0].message.content == "echo sdk #2"
    assert "cache" not in upstream.bodies()[-1]


def test_no_cache_skips_the_lookup_and_stores_the_fresh_answer(gw, upstream):
    chat(gw, "nc")
    r = chat(gw, "nc", {"no-cache": True})
    assert r.headers["x-ragd-cache"] == "bypass" and answer(r) == "echo nc #2"
    assert answer(chat(gw, "nc")) == "echo nc #2"
    assert upstream.calls == 2


def test_no_store_skips_the_write(gw, upstream):
    assert chat(gw, "ns", {"no-store": True}).headers["x-ragd-cache"] == "miss"
    assert chat(gw, "ns").headers["x-ragd-cache"] == "miss"
    assert chat(gw, "ns", {"no-store": True}).headers["x-ragd-cache"] == "hit"
    assert upstream.calls == 2


def test_namespace_is_a_separate_cache(gw, upstream):
    chat(gw, "n", {"namespace": "team-a"})
    assert chat(gw, "n", {"namespace": "team-a"}).headers["x-ragd-cache"] == "hit"
    assert chat(gw, "n", {"namespace": "team-b"}).headers["x-ragd-cache"] == "miss"
    assert chat(gw, "n").headers["x-ragd-cache"] == "miss"
    assert upstream.calls == 3


def test_s_maxage_refuses_older_hits(gw, upstream):
    chat(gw, "age")
    assert chat(gw, "age", {"s-maxage": 3600}).headers["x-ragd-cache"] == "hit"
    r = chat(gw, "age", {"s-maxage": 0})
    assert r.headers["x-ragd-cache"] == "bypass"
    created = upstream.calls
    time.sleep(1.2)  # the stored answer is now more than a second old
    r = chat(gw, "age", {"s-maxage": 1})
    assert r.headers["x-ragd-cache"] != "hit" and upstream.calls == created + 1
    assert chat(gw, "age", {"s-max-age": 60}).headers["x-ragd-cache"] == "hit"


def test_ttl_is_the_stored_answers_lifetime(redis_server, upstream):
    r = redis_server.client()
    r.flushall()
    s = Ragd(env={"RAGD_UPSTREAM_URL": upstream.url, "REDIS_URL": redis_server.url(0)}).start()
    try:
        key = chat(s, "ttl", {"ttl": 777}).headers["x-ragd-cache-key"]
        assert 770 <= r.ttl("ragd:" + key) <= 777
        assert chat(s, "ttl").headers["x-ragd-cache"] == "hit"
    finally:
        s.cleanup()


@pytest.mark.parametrize("cache", ["yes", {"no-cache": "true"}, {"ttl": 0}, {"ttl": "60"},
                                   {"s-maxage": -1}, {"namespace": ""}, {"namespace": 7}])
def test_bad_cache_controls(gw, upstream, cache):
    assert_error(chat(gw, "bad", cache), 400, "invalid_cache_control")
    assert upstream.calls == 0


def test_models_lists_local_and_upstream_models(gw):
    c = openai.OpenAI(base_url=gw.url + "/v1", api_key="sk", max_retries=0)
    models = {m.id: m.owned_by for m in c.models.list()}
    assert models["all-MiniLM-L6-v2"] == "ragd"
    assert models["cosine:all-MiniLM-L6-v2"] == "ragd"
    assert "fake-model" in models


def test_models_without_upstream_still_lists_local_models():
    s = Ragd().start()
    try:
        ids = [m["id"] for m in requests.get(s.url + "/v1/models").json()["data"]]
        assert ids == ["all-MiniLM-L6-v2", "cosine:all-MiniLM-L6-v2"]
    finally:
        s.cleanup()
