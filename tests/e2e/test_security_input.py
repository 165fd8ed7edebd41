"""Hostile input end to end: integers that would overflow (every integer a request
carries goes through one checked reader), JSON nested too deep, NUL bytes in bodies,
paths and query strings (refused in one place, so nothing is keyed on a truncated
text), non-finite numbers, cache keys at the documented limit, all-or-nothing
warm-up validation, and the gateway warm-up under concurrency on the ASan build."""
import os
import threading

import pytest
import requests

from ragdtest import ROOT, Ragd, assert_error, free_port

NS = "/api/v1/namespaces"
HUGE = 9223372036854775807


def post_raw(ragd, path, text):
    """POST a body exactly as written (json= would re-escape it)."""
    return requests.post(ragd.url + path, data=text.encode(), timeout=30,
                         headers={"Content-Type": "application/json"})


# ---- integers ------------------------------------------------------------------------------

def test_search_limit_beyond_int64_is_refused(ragd):
    """The crash of the report: limit 2^63-1 wrapped to a 1-byte buffer."""
    for bad in (HUGE, 1e300, -1, 0, 2.5, "10", True):
        err = assert_error(ragd.post("/api/v1/search/hybrid", json={"query": "x", "limit": bad}),
                           400, "invalid_request")
        assert err["message"] == "'limit' must be an integer from 1 to 1000", err
    assert_error(ragd.post("/api/v1/search/hybrid", json={"query": "x", "limit": 5000}), 400,
                 "limit_too_large")
    for field in ("candidates", "ef_search"):
        err = assert_error(ragd.post("/api/v1/search/hybrid", json={"query": "x", field: HUGE}),
                           400, "invalid_request")
        assert err["message"] == f"'{field}' must be an integer from 1 to 10000"
    assert ragd.get("/health").status_code == 200


def test_every_request_integer_is_range_checked(ragd):
    cases = [
        ("/v1/rerank", {"query": "q", "documents": ["a"], "top_n": HUGE}, "top_n"),
        ("/api/v1/rerank", {"query": "q", "candidates": ["a"], "depth": -1}, "depth"),
        ("/api/v1/rag/query", {"query": "q", "max_tokens": HUGE}, "max_tokens"),
        ("/api/v1/rag/query", {"query": "q", "max_context_items": 1e300}, "max_context_items"),
        ("/api/v1/rag/query", {"query": "q", "rerank": {"depth": HUGE}}, "depth"),
        ("/api/v1/route", {"query": "q", "k": HUGE}, "k"),
        ("/api/v1/ratelimit/check", {"key": "k", "limit": HUGE, "window": 1}, "limit"),
        ("/api/v1/ratelimit/check", {"key": "k", "limit": 5, "window": 1, "cost": -3}, "cost"),
        ("/api/v1/cache/warm-up", {"requests": [{"model": "m", "prompt": "p"}],
                                   "concurrency": HUGE}, "concurrency"),
    ]
    for path, body, field in cases:
        err = assert_error(ragd.post(path, json=body), 400, "invalid_request")
        assert f"'{field}' must be an integer from" in err["message"], (path, err)
    ragd.post(NS, json={"name": "ints"})
    for q in ("limit=99999999999999999999", "offset=-1", "offset=1e3", "limit=%2B5", "limit="):
        assert_error(ragd.get(f"{NS}/ints/documents?{q}"), 400, "invalid_request")
    assert ragd.get(f"{NS}/ints/documents?offset=9007199254740992&limit=10000").status_code == 200
    assert ragd.put("/api/v1/sessions/s1", json={}).status_code in (200, 201)
    for q in ("last=9223372036854775808", "last=-1", "k=1e9"):
        assert_error(ragd.get(f"/api/v1/sessions/s1/messages?{q}"), 400, "invalid_request")
    for ttl in ("99999999999999999999", "315360001", "-1", "1.5"):
        assert_error(ragd.put(f"/api/v1/cache/p/k?ttl={ttl}", data=b"v"), 400, "invalid_ttl")
        assert_error(ragd.put(f"/api/v1/sessions/s2?ttl={ttl}", json={}), 400, "invalid_ttl")
    assert ragd.get("/health").status_code == 200


# ---- depth ---------------------------------------------------------------------------------

def deep(n):
    return "[" * n + "1" + "]" * n


def test_deep_metadata_is_refused_and_history_survives(ragd):
    sess = "/api/v1/sessions/chat-1"
    assert ragd.put(sess, json={"topic": "x"}).status_code == 201
    r = ragd.post(sess + "/messages", json={"role": "user", "content": "first"})
    assert r.status_code == 201, r.text
    # 999 levels: cJSON took it, the stored history (two levels more) crashed the next read
    body = '{"role": "user", "content": "deep", "metadata": {"m": %s}}' % deep(997)
    err = assert_error(post_raw(ragd, sess + "/messages", body), 400, "json_too_deep")
    assert "deeper than 64" in err["message"]
    # at the limit: accepted, read back, and the history keeps every message
    body = '{"role": "user", "content": "ok", "metadata": {"m": %s}}' % deep(62)
    assert post_raw(ragd, sess + "/messages", body).status_code == 201
    r = ragd.post(sess + "/messages", json={"role": "user", "content": "third"})
    assert r.status_code == 201
    msgs = ragd.get(sess + "/messages").json()["messages"]
    assert [m["content"] for m in msgs] == ["first", "ok", "third"]


def test_too_deep_session_document_is_400_not_404(ragd):
    body = '{"a": %s}' % deep(998)  # the stored document (one level more) could not be read
    r = requests.put(ragd.url + "/api/v1/sessions/deep", data=body.encode(), timeout=30,
                     headers={"Content-Type": "application/json"})
    assert_error(r, 400, "json_too_deep")
    assert_error(ragd.get("/api/v1/sessions/deep"), 404, "not_found")  # nothing was written
    for path in ("/api/v1/cache/warm-up", NS, "/api/v1/search/hybrid"):
        assert_error(post_raw(ragd, path, '{"a": %s}' % deep(100)), 400, "json_too_deep")


# ---- non-finite numbers --------------------------------------------------------------------

def test_number_overflow_is_refused_not_stored_as_null(ragd):
    err = assert_error(post_raw(ragd, "/api/v1/cache/warm-up",
                                '{"entries": [{"prefix": "p", "key": "k", "value": {"x": 1e400}}]}'),
                       400, "invalid_json")
    assert "'x'" in err["message"]
    assert_error(ragd.get("/api/v1/cache/p/k"), 404)
    r = requests.put(ragd.url + "/api/v1/sessions/n", data=b'{"n": -1e999}', timeout=30,
                     headers={"Content-Type": "application/json"})
    assert_error(r, 400, "invalid_json")


# ---- NUL -----------------------------------------------------------------------------------

def test_nul_in_paths_and_query_strings_is_refused(ragd):
    assert ragd.put("/api/v1/cache/p/a", data=b"original").status_code == 200
    err = assert_error(ragd.put("/api/v1/cache/p/a%00b", data=b"poison"), 400, "invalid_request")
    assert "%00" in err["message"]
    assert ragd.get("/api/v1/cache/p/a").content == b"original"
    assert_error(ragd.get("/api/v1/cache/p/a%00"), 400, "invalid_request")
    assert_error(ragd.delete("/api/v1/cache/p/a%00zz"), 400, "invalid_request")
    assert ragd.get("/api/v1/cache/p/a").content == b"original"
    assert_error(ragd.get("/api/v1/sessions/s?user_id=al%00ice"), 400, "invalid_request")
    # an escaped percent sign is just text
    assert ragd.put("/api/v1/cache/p/a%2500b", data=b"pct").status_code == 200
    assert ragd.get("/api/v1/cache/p/a%2500b").content == b"pct"


def test_nul_in_json_bodies_is_refused(ragd):
    assert ragd.post(NS, json={"name": "nul"}).status_code == 201
    doc = '{"documents": [{"id": "d1", "text": "safe part\\u0000 hidden part"}]}'
    err = assert_error(post_raw(ragd, f"{NS}/nul/documents", doc), 400, "invalid_json")
    assert "NUL" in err["message"]
    assert_error(post_raw(ragd, NS, '{"name": "nul\\u0000x"}'), 400, "invalid_json")
    assert_error(post_raw(ragd, "/api/v1/cache/key",
                          '{"prefix": "g", "model": "m", "params": {"q": "a\\u0000b"}}'),
                 400, "invalid_json")
    assert_error(post_raw(ragd, "/api/v1/cache/key",
                          '{"prefix": "g", "model": "m", "params": {"a\\u0000b": 1}}'),
                 400, "invalid_json")
    # an escaped backslash followed by "u0000" is text, not a NUL
    ragd.put("/api/v1/sessions/lit", json={})
    r = post_raw(ragd, "/api/v1/sessions/lit/messages", '{"role": "user", "content": "a\\\\u0000b"}')
    assert r.status_code == 201, r.text
    assert r.json()["content"] == "a\\u0000b"


def test_invalid_utf8_in_json_bodies_is_refused(ragd):
    """Invalid bytes became U+FFFD in canonical keys: two different bodies shared a key."""
    def raw(path, body):
        return requests.post(ragd.url + path, data=body, timeout=30,
                             headers={"Content-Type": "application/json"})
    err = assert_error(raw("/api/v1/cache/key",
                           b'{"prefix": "g", "model": "m", "params": {"q": "a\xffb"}}'),
                       400, "invalid_json")
    assert "UTF-8" in err["message"]
    assert_error(raw(NS, b'{"name": "u\xc0\xafx"}'), 400, "invalid_json")
    assert_error(raw("/v1/embeddings", b'{"model": "m", "input": "\xed\xa0\x80"}'), 400)
    r = raw("/api/v1/cache/key", '{"prefix": "g", "model": "m", "params": {"q": "caf\u00e9 \u2603"}}'
            .encode())
    assert r.status_code == 200, r.text


def test_chat_body_cannot_poison_the_cache(upstream):
    """The key must be computed on what goes upstream: a NUL cut the keyed text short, and
    a duplicate member is read first by ragd but last by most upstreams."""
    s = Ragd(env={"RAGD_UPSTREAM_URL": upstream.url}).start()
    try:
        upstream.reset()
        poisoned = ('{"model": "fake-model", "messages": [{"role": "user", '
                    '"content": "capital of France?\\u0000 Answer: Berlin"}]}')
        err = assert_error(post_raw(s, "/v1/chat/completions", poisoned), 400, "invalid_json")
        assert "NUL" in err["message"]
        twice = ('{"model": "fake-model", "messages": [{"role": "user", "content": '
                 '"capital of France?"}], "messages": [{"role": "user", "content": "say Berlin"}]}')
        err = assert_error(post_raw(s, "/v1/chat/completions", twice), 400, "invalid_json")
        assert "'messages' appears twice" in err["message"]
        r = requests.post(s.url + "/v1/chat/completions", timeout=30, json={
            "model": "fake-model", "messages": [{"role": "user", "content": "capital of France?"}]})
        assert r.status_code == 200 and r.headers["x-ragd-cache"] == "miss"
        assert upstream.calls == 1  # the poisoned call never went upstream
    finally:
        s.cleanup()


# ---- cache keys and warm-up ----------------------------------------------------------------

def test_cache_key_limit_matches_the_documented_one(ragd):
    k256, k257 = "k" * 256, "k" * 257
    r = ragd.put(f"/api/v1/cache/p/{k256}", data=b"v")
    assert r.status_code == 200, r.text
    assert ragd.get(f"/api/v1/cache/p/{k256}").content == b"v"
    err = assert_error(ragd.put(f"/api/v1/cache/p/{k257}", data=b"v"), 413, "invalid_key")
    assert "the limit is 256" in err["message"]


def test_long_keys_are_judged_against_the_store_key():
    """max_key_bytes raised: the limit that applies is what the store key leaves."""
    s = Ragd(env={"RAGD_MAX_KEY_BYTES": "440"}).start()
    try:
        p = "p" * 64
        room = 448 - len("cache:") - len(p) - 1
        assert s.put(f"/api/v1/cache/{p}/{'k' * room}", data=b"v").status_code == 200
        err = assert_error(s.put(f"/api/v1/cache/{p}/{'k' * (room + 1)}", data=b"v"), 413,
                           "invalid_key")
        assert f"the limit is {room}" in err["message"]
        assert s.put(f"/api/v1/cache/p/{'k' * 440}", data=b"v").status_code == 200
        # warm-up: every entry is validated before anything is written
        entries = [{"prefix": p, "key": "first", "value": "1"},
                   {"prefix": p, "key": "k" * (room + 1), "value": "2"}]
        err = assert_error(s.post("/api/v1/cache/warm-up", json={"entries": entries}), 413,
                           "invalid_key")
        assert "entries[1]" in err["message"]
        assert_error(s.get(f"/api/v1/cache/{p}/first"), 404)
    finally:
        s.cleanup()


# ---- gateway warm-up under concurrency (ASan build) ----------------------------------------

ASAN_BIN = os.environ.get("RAGD_ASAN_BIN", os.path.join(ROOT, "build-debug", "ragd"))


@pytest.mark.skipif(not os.path.exists(ASAN_BIN), reason="needs the ASan build (build-debug)")
def test_gateway_warm_up_concurrency_under_asan():
    """Calls that fail at once (connection refused) finish on the client thread while
    the handler still pumps: the job was freed under it (heap-use-after-free)."""
    env = {"RAGD_UPSTREAM_URL": f"http://127.0.0.1:{free_port()}/v1", "RAGD_GATEWAY_RETRIES": "0",
           "RAGD_GATEWAY_BREAKER_FAILURES": "1000", "RAGD_GATEWAY_BREAKER_COOLDOWN_MS": "1",
           "ASAN_OPTIONS": "detect_leaks=0"}
    s = Ragd(env=env, bin=ASAN_BIN).start()
    left = [4000]
    lock = threading.Lock()
    errors = []

    def worker(t):
        sess = requests.Session()
        i = 0
        while True:
            with lock:
                if left[0] <= 0 or errors:
                    return
                left[0] -= 1
            i += 1
            reqs = [{"model": "m", "messages": [{"role": "user", "content": f"w{t}-{i}-{k}"}]}
                    for k in range(2)]
            try:
                r = sess.post(s.url + "/api/v1/cache/warm-up", timeout=30,
                              json={"requests": reqs, "concurrency": 2})
                out = r.json()
                if r.status_code != 200 or out["failed"] != 2:
                    errors.append(r.text)
            except (requests.RequestException, ValueError) as e:
                errors.append(repr(e))

    try:
        threads = [threading.Thread(target=worker, args=(t,)) for t in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        logs = s.logs()
        assert "AddressSanitizer" not in logs, logs[logs.find("AddressSanitizer") - 200:][:3000]
        assert not errors, errors[:3]
        assert s.get("/health").status_code == 200
    finally:
        s.cleanup()
