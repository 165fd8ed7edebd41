"""The semantic cache and the run-time settings shared by several ragd instances on
one Redis (and kept by one instance across restarts on both stores): entries and
TTL overrides travel on change logs that every instance follows. Waits poll with
a generous deadline; nothing asserts a time."""
import os
import time

import pytest
import redis as redis_py
import requests

from ragdtest import Ragd, wait_for

MODEL_DIR = os.path.expanduser(os.environ.get("RAGD_MODEL_DIR", "~/.cache/ragd/models/all-MiniLM-L6-v2"))
pytestmark = pytest.mark.skipif(not os.path.exists(os.path.join(MODEL_DIR, "model.safetensors")),
                                reason="embedding model not installed")
DB = 11


@pytest.fixture
def cluster(redis_server, upstream):
    """Start instances on one Redis db (flushed first); all cleaned up after."""
    redis_py.Redis(port=redis_server.port, db=DB).flushdb()
    upstream.reset()
    started = []

    def start(**env):
        e = {"RAGD_UPSTREAM_URL": upstream.url, "RAGD_MODEL_DIR": MODEL_DIR,
             "REDIS_URL": redis_server.url(DB)}
        e.update(env)
        s = Ragd(env=e).start()
        started.append(s)
        return s
    yield start
    for s in started:
        s.cleanup()


def ask(gw, q, headers=None):
    body = {"model": "fake-model", "temperature": 0,
            "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": q}]}
    r = requests.post(gw.url + "/v1/chat/completions", json=body, headers=headers or {},
                      timeout=60)
    assert r.status_code == 200, r.text
    return r


def semantic(gw):
    return gw.get("/api/v1/cache/stats").json()["gateway"]["semantic"]


def test_semantic_hit_on_b_for_a_prompt_cached_through_a(cluster, upstream):
    a, b, c = cluster(), cluster(), cluster()
    first = ask(a, "How do I reset my password?")
    assert first.headers["x-ragd-cache"] == "miss"
    wait_for(lambda: semantic(b)["entries"] == 1 and semantic(c)["entries"] == 1,
             "B and C to apply A's entry")
    r = ask(b, "How can I reset my password?")
    assert r.headers["x-ragd-cache"] == "semantic-hit"
    assert float(r.headers["x-ragd-cache-similarity"]) >= 0.85
    assert r.json() == first.json()
    assert ask(c, "How can I reset my password?").headers["x-ragd-cache"] == "semantic-hit"
    assert upstream.calls == 1
    # what each instance shows of its index and its follower
    wait_for(lambda: b.get("/health").json()["details"]["semantic_cache"]["log"].get(
        "lag_entries") == 0, "B's follower to report no lag")
    h = b.get("/health").json()["details"]["semantic_cache"]
    assert h["status"] == "ok" and h["entries"] == 1 and h["evictions"] == 0
    assert h["log"]["name"] == "llmsem:{log}" and h["log"]["applied_seq"] == h["log"]["last_seq"] == 1
    assert h["log"]["lag_ms"] == 0
    m = b.get("/metrics").text
    assert "ragd_gateway_semantic_entries 1" in m
    assert "ragd_gateway_semantic_evictions_total 0" in m
    assert "ragd_gateway_semantic_log_applied_total 1" in m


def test_no_instance_serves_an_expired_entry_semantically(cluster, upstream):
    a, b = cluster(), cluster()
    ask(a, "What is the capital of France?", headers={"x-ragd-cache-ttl": "1"})
    wait_for(lambda: semantic(b)["entries"] == 1, "B to apply A's entry")
    time.sleep(1.2)  # the exact entry's TTL passes
    for s in (a, b):  # no-store: the misses add nothing a later ask could hit
        r = ask(s, "Tell me the capital of France?", headers={"cache-control": "no-store"})
        assert r.headers["x-ragd-cache"] == "miss", s.url
    assert upstream.calls == 3


def test_a_forgotten_entry_leaves_every_instance(cluster, redis_server):
    a, b = cluster(), cluster()
    ask(a, "How tall is the Eiffel tower?")
    wait_for(lambda: semantic(b)["entries"] == 1, "B to apply A's entry")
    r = redis_py.Redis(port=redis_server.port, db=DB)
    for k in r.scan_iter("ragd:llm:*"):  # the exact entry is evicted
        r.delete(k)
    assert ask(b, "What is the height of the Eiffel tower?").headers["x-ragd-cache"] == "miss"
    wait_for(lambda: semantic(a)["entries"] <= 1 and semantic(b)["entries"] <= 1, "forgets")
    # B's miss stored a new answer; A dropped the old entry on B's forget record
    log = [e[1][b"d"][:3] for e in r.xrange("ragd.log:llmsem:{log}")]
    assert log == [b"S1A", b"S1F", b"S1A"]


def test_more_than_max_entries_prompts_keep_being_learned(cluster):
    a, b = cluster(RAGD_SEMANTIC_MAX_ENTRIES="3"), cluster(RAGD_SEMANTIC_MAX_ENTRIES="3")
    topics = ["the boiling point of water", "the speed of light", "the tallest mountain",
              "the largest ocean", "the longest river", "the smallest planet"]
    for t in topics:
        ask(a, f"What is {t}?")
    wait_for(lambda: semantic(b)["log_applied_seq"] >= 6, "B to apply every record")
    for s in (a, b):
        st = semantic(s)
        assert st["entries"] == 3 and st["evictions"] >= 3, st
        assert ask(s, "Tell me what is the smallest planet?").headers["x-ragd-cache"] == \
            "semantic-hit"


def test_restart_reloads_the_semantic_index_from_the_log(cluster, upstream):
    a, b = cluster(), cluster()
    ask(a, "How do I bake sourdough bread?")
    b.kill9()
    b.start()
    assert semantic(b)["entries"] == 1
    assert ask(b, "How can I bake sourdough bread?").headers["x-ragd-cache"] == "semantic-hit"
    assert upstream.calls == 1


def test_restart_reloads_the_semantic_index_on_lmdb(upstream):
    upstream.reset()
    s = Ragd(env={"RAGD_UPSTREAM_URL": upstream.url, "RAGD_MODEL_DIR": MODEL_DIR}).start()
    try:
        ask(s, "How do I bake sourdough bread?")
        s.restart()
        assert semantic(s)["entries"] == 1
        assert ask(s, "How can I bake sourdough bread?").headers["x-ragd-cache"] == \
            "semantic-hit"
        assert upstream.calls == 1
    finally:
        s.cleanup()


def test_ttl_override_on_a_applies_on_b(cluster):
    a, b = cluster(), cluster()

    def prefixes(s):
        return s.get("/api/v1/cache/config").json()["ttl"]["prefixes"]

    assert b.put("/api/v1/cache/course/k0", data="x").json()["ttl"] == 3600
    assert a.post("/api/v1/cache/config", json={"prefix": "course", "ttl": 120}).status_code == 200
    wait_for(lambda: prefixes(b).get("course") == 120, "B to apply the override")
    assert b.put("/api/v1/cache/course/k1", data="x").json()["ttl"] == 120
    # and a third instance started later loads it from the store
    c = cluster()
    assert prefixes(c)["course"] == 120
