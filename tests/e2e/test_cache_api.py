"""The generic cache API on both stores: values, TTLs, compression, canonical
keys, clearing, stats and configuration."""
import time

import pytest
import requests

from ragdtest import assert_error


def test_put_get_head_delete_roundtrip(ragd):
    r = ragd.put("/api/v1/cache/course_curriculum/intro-1?ttl=600", data=b'{"lessons": 3}',
                 headers={"Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    assert r.json()["stored"] is True and r.json()["ttl"] == 600
    g = ragd.get("/api/v1/cache/course_curriculum/intro-1")
    assert g.status_code == 200
    assert g.content == b'{"lessons": 3}'
    assert g.headers["Content-Type"] == "application/json"
    assert g.headers["x-ragd-cache"] == "hit"
    assert 590 <= int(g.headers["X-Cache-TTL"]) <= 600
    h = ragd.head("/api/v1/cache/course_curriculum/intro-1")
    assert h.status_code == 200 and h.content == b""
    assert ragd.delete("/api/v1/cache/course_curriculum/intro-1").json() == {"deleted": 1}
    assert_error(ragd.get("/api/v1/cache/course_curriculum/intro-1"), 404, "not_found")
    assert_error(ragd.delete("/api/v1/cache/course_curriculum/intro-1"), 404, "not_found")
    assert ragd.head("/api/v1/cache/course_curriculum/intro-1").status_code == 404


def test_keys_may_contain_slashes_and_unicode(ragd):
    key = "users/42/résumé ✓"
    assert ragd.put(f"/api/v1/cache/p/{key}", data="v").status_code == 200
    assert ragd.get(f"/api/v1/cache/p/{key}").text == "v"
    assert ragd.get("/api/v1/cache/p/users/42").status_code == 404


def test_binary_values_are_kept_exactly(ragd):
    blob = bytes(range(256)) * 50
    ragd.put("/api/v1/cache/bin/k", data=blob)
    assert ragd.get("/api/v1/cache/bin/k").content == blob


def test_ttl_expires_entries(ragd):
    ragd.put("/api/v1/cache/short/k?ttl=1", data="x")
    deadline = time.time() + 10
    while time.time() < deadline and ragd.get("/api/v1/cache/short/k").status_code == 200:
        time.sleep(0.1)
    assert ragd.get("/api/v1/cache/short/k").status_code == 404


def test_default_ttl_per_prefix_and_runtime_config(ragd):
    r = ragd.put("/api/v1/cache/plain/k", data="x")
    assert r.json()["ttl"] == 3600  # CACHE_DEFAULT_TTL
    assert ragd.put("/api/v1/cache/embedding/k", data="x").json()["ttl"] == 604800
    assert ragd.put("/api/v1/cache/ai_response/k", data="x").json()["ttl"] == 21600
    c = ragd.post("/api/v1/cache/config", json={"prefix": "plain", "ttl": 120})
    assert c.status_code == 200, c.text
    assert c.json()["ttl"]["prefixes"]["plain"] == 120
    assert ragd.put("/api/v1/cache/plain/k2", data="x").json()["ttl"] == 120
    c = ragd.post("/api/v1/cache/config", json={"ttl": {"a": 5, "b": 6}})
    assert c.json()["ttl"]["prefixes"] == {"plain": 120, "a": 5, "b": 6}


def test_ttl_config_persists_across_restart(ragd):
    ragd.post("/api/v1/cache/config", json={"prefix": "lessons", "ttl": 77})
    ragd.restart()
    assert ragd.get("/api/v1/cache/config").json()["ttl"]["prefixes"]["lessons"] == 77
    assert ragd.put("/api/v1/cache/lessons/k", data="x").json()["ttl"] == 77


def test_large_values_are_compressed_transparently(ragd):
    text = ("The squat is a compound, full-body exercise that trains primarily the muscles "
            "of the thighs, hips and buttocks. " * 400).encode()
    ragd.put("/api/v1/cache/docs/big", data=text, headers={"Content-Type": "text/plain"})
    ragd.put("/api/v1/cache/docs/small", data=b"tiny")
    assert ragd.get("/api/v1/cache/docs/big").content == text
    assert ragd.get("/api/v1/cache/docs/small").content == b"tiny"
    comp = ragd.get("/api/v1/cache/stats").json()["compression"]
    assert comp["raw_bytes"] >= len(text)
    assert comp["ratio"] > 5, comp


def test_canonical_key_is_order_independent_sha256(ragd):
    a = ragd.post("/api/v1/cache/key", json={"prefix": "gen", "model": "gpt-4o",
                                              "params": {"topic": "squats", "level": 2, "tags": ["a", "b"]}}).json()
    b = ragd.post("/api/v1/cache/key", json={"model": "gpt-4o", "prefix": "gen",
                                              "params": {"tags": ["a", "b"], "level": 2.0, "topic": "squats"}}).json()
    c = ragd.post("/api/v1/cache/key", json={"prefix": "gen", "model": "gpt-4o",
                                              "params": {"topic": "squats", "level": 3, "tags": ["a", "b"]}}).json()
    assert a["key"] == b["key"] != c["key"]
    assert a["algorithm"] == "sha256" and len(a["hash"]) == 64
    assert a["key"] == "gpt-4o:" + a["hash"]
    # the key works with the value API as given
    assert ragd.put(a["path"], data="cached").status_code == 200
    assert ragd.get(f"/api/v1/cache/gen/{b['key']}").text == "cached"


def test_clear_by_prefix_pattern_and_all(ragd):
    for i in range(5):
        ragd.put(f"/api/v1/cache/course_curriculum/c{i}", data="x")
    for i in range(3):
        ragd.put(f"/api/v1/cache/quiz/q{i}", data="x")
    ragd.put("/api/v1/cache/quiz/keep-me", data="x")
    r = ragd.post("/api/v1/cache/clear", json={"prefix": "course_curriculum"})
    assert r.json() == {"deleted": 5}
    assert ragd.get("/api/v1/cache/course_curriculum/c1").status_code == 404
    r = ragd.post("/api/v1/cache/clear", json={"pattern": "quiz:q*"})
    assert r.json() == {"deleted": 3}
    assert ragd.get("/api/v1/cache/quiz/keep-me").status_code == 200
    r = ragd.delete("/api/v1/cache")
    assert r.json()["deleted"] == 1
    assert ragd.get("/api/v1/cache/quiz/keep-me").status_code == 404


def test_stats_hit_rate_prefixes_and_rating(ragd):
    for i in range(4):
        ragd.put(f"/api/v1/cache/lesson/k{i}", data="x")
    for i in range(4):
        assert ragd.get(f"/api/v1/cache/lesson/k{i}").status_code == 200
    ragd.get("/api/v1/cache/lesson/absent")
    s = ragd.get("/api/v1/cache/stats").json()
    assert s["hits"] == 4 and s["misses"] == 1
    assert s["hit_rate"] == pytest.approx(0.8)
    # five lookups are no basis for a rating (it said "excellent" after one hit)
    assert s["efficiency"]["rating"] == "insufficient data"
    assert s["efficiency"]["min_lookups"] == 100
    p = s["prefixes"]["lesson"]
    assert p["keys"] == 4 and p["hits"] == 4 and p["misses"] == 1 and p["class"] == "generic"
    assert s["classes"]["generic"]["keys"] == 4 and s["classes"]["llm"]["hits"] == 0
    assert s["ttl"]["default"] == 3600 and s["ttl"]["embedding"] == 604800
    assert s["memory"]["backend"] == ragd.backend
    assert isinstance(s["recommendations"], list)
    for i in range(72):
        ragd.get(f"/api/v1/cache/lesson/k{i % 4}")
    s = ragd.get("/api/v1/cache/stats").json()  # 76 / 77
    assert s["efficiency"]["rating"] == "insufficient data"
    for i in range(23):
        ragd.get("/api/v1/cache/lesson/absent")
    s = ragd.get("/api/v1/cache/stats").json()  # 76 / 100 = 76%
    assert s["efficiency"]["lookups"] == 100
    assert s["efficiency"]["rating"] == "good"
    for i in range(60):
        ragd.get("/api/v1/cache/lesson/absent")
    s = ragd.get("/api/v1/cache/stats").json()  # 76 / 160 = 47.5%
    assert s["efficiency"]["rating"] == "needs improvement"


def test_rating_leaves_out_a_prefix_filled_for_the_first_time(ragd):
    """An ingest's first-time misses (each followed by a write of a new key) say
    nothing about the TTLs: the rating is over the prefixes in use."""
    for i in range(150):
        assert ragd.get(f"/api/v1/cache/ingest/d{i}").status_code == 404
        ragd.put(f"/api/v1/cache/ingest/d{i}", data="v")
    ragd.put("/api/v1/cache/answers/a", data="v")
    for i in range(100):
        ragd.get(f"/api/v1/cache/answers/{'a' if i % 10 else 'missing'}")
    s = ragd.get("/api/v1/cache/stats").json()
    assert s["prefixes"]["ingest"]["filling"] is True
    assert s["prefixes"]["answers"]["filling"] is False
    eff = s["efficiency"]
    assert eff["filling"] == ["ingest"] and eff["basis"] == "all"
    assert eff["lookups"] == 100 and eff["rating"] == "excellent"
    assert not any("ingest" in r for r in s["recommendations"])


def test_compression_figures_compare_payload_bytes(ragd):
    """raw_bytes and stored_bytes count the payload before and after
    compression (no header), so a small value's ratio is 1, not below it."""
    ragd.put("/api/v1/cache/small/one", data=b"x" * 34, headers={"Content-Type": "text/plain"})
    comp = ragd.get("/api/v1/cache/stats").json()["compression"]
    assert comp["raw_bytes"] == 34 and comp["stored_bytes"] == 34 and comp["ratio"] == 1


def test_clearing_everything_keeps_counters_and_counts_no_keys(ragd):
    for i in range(3):
        ragd.put(f"/api/v1/cache/lesson/k{i}", data="x")
        ragd.get(f"/api/v1/cache/lesson/k{i}")
    ragd.put("/api/v1/sessions/s1", json={"metadata": {}})  # not a cache entry
    assert ragd.delete("/api/v1/cache").json()["deleted"] == 3
    s = ragd.get("/api/v1/cache/stats").json()
    assert s["hits"] == 3 and s["writes"] == 3  # counters never reset
    assert s["keys"] == 0 and s["prefixes"]["lesson"]["keys"] == 0
    assert s["memory"]["store_keys"] >= 1  # the session and ragd's own keys
    m = ragd.get("/metrics").text
    assert 'ragd_cache_hits_total{prefix="lesson"} 3' in m


def test_warm_up_preloads_entries(ragd):
    r = ragd.post("/api/v1/cache/warm-up", json={"entries": [
        {"prefix": "faq", "key": "hours", "value": "9-5"},
        {"prefix": "faq", "key": "plan", "value": {"tier": "premium"}, "ttl": 60},
    ]})
    assert r.status_code == 200, r.text
    assert r.json()["stored"] == 2
    assert ragd.get("/api/v1/cache/faq/hours").text == "9-5"
    g = ragd.get("/api/v1/cache/faq/plan")
    assert g.json() == {"tier": "premium"} and g.headers["Content-Type"] == "application/json"


def test_warm_up_with_one_bad_entry_stores_nothing(ragd):
    r = ragd.post("/api/v1/cache/warm-up", json={"entries": [
        {"prefix": "faq", "key": "a", "value": "1"},
        {"prefix": "bad prefix!", "key": "b", "value": "2"},
    ]})
    assert_error(r, 400, "invalid_prefix")
    assert ragd.get("/api/v1/cache/faq/a").status_code == 404
