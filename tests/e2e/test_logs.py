"""Request log lines: client address, key id (never the secret), user, model,
tokens, upstream time and cache outcome; W3C traceparent joined (a malformed one
ignored) or started, its trace id logged and traceparent returned with ragd's own
span; --log-format json|text."""
import json
import re
import time

import pytest
import requests

from ragdtest import Ragd

ADMIN = "admin-secret-0123456789"
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
TP = f"00-{TRACE}-00f067aa0ba902b7-01"
TP_RE = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


def request_lines(s, want, timeout=10.0):
    """The JSON request lines of s's log, once at least `want` are there."""
    deadline = time.time() + timeout
    while True:
        lines = [json.loads(l) for l in s.logs().splitlines() if l.startswith("{")]
        reqs = [l for l in lines if l.get("msg") == "request"]
        if len(reqs) >= want or time.time() > deadline:
            return reqs
        time.sleep(0.05)


def line_for(s, request_id):
    for _ in range(200):
        got = [l for l in request_lines(s, 0) if l["request_id"] == request_id]
        if got:
            return got[0]
        time.sleep(0.05)
    raise AssertionError(f"no log line for {request_id}: {s.logs()}")


@pytest.fixture
def logged(upstream):
    s = Ragd(env={"RAGD_LOG_LEVEL": "info", "RAGD_ADMIN_KEY": ADMIN,
                  "RAGD_UPSTREAM_URL": upstream.url}).start()
    yield s
    s.cleanup()


def test_traceparent_joined_logged_and_returned(logged):
    r = logged.get("/health", headers={"traceparent": TP, "X-Request-Id": "rq-join"})
    m = TP_RE.match(r.headers["traceparent"])
    assert m, r.headers
    assert m.group(1) == TRACE and m.group(3) == "01"
    assert m.group(2) not in ("00f067aa0ba902b7", "0" * 16)  # ragd's own span
    line = line_for(logged, "rq-join")
    assert line["trace_id"] == TRACE and line["client"] == "127.0.0.1"
    assert line["method"] == "GET" and line["route"] == "/health" and line["status"] == 200


@pytest.mark.parametrize("bad", [
    TP.upper(),                                   # uppercase hex
    "00-" + "0" * 32 + "-00f067aa0ba902b7-01",   # all-zero trace id
    f"00-{TRACE}-" + "0" * 16 + "-01",           # all-zero parent id
    f"ff-{TRACE}-00f067aa0ba902b7-01",           # forbidden version
    TP + "-extra",                                # version 00 is exactly 55 characters
    f"00-{TRACE[:-1]}-00f067aa0ba902b7-01",      # short trace id
    "garbage",
])
def test_malformed_traceparent_is_ignored(logged, bad):
    r = logged.get("/health", headers={"traceparent": bad, "X-Request-Id": "rq-bad"})
    assert r.status_code == 200
    m = TP_RE.match(r.headers["traceparent"])
    assert m and m.group(1) != TRACE.upper().lower() and m.group(1) != "0" * 32, r.headers
    assert line_for(logged, "rq-bad")["trace_id"] == m.group(1)


def test_later_versions_keep_their_trace(logged):
    r = logged.get("/health", headers={"traceparent": f"01-{TRACE}-00f067aa0ba902b7-00-more"})
    assert TP_RE.match(r.headers["traceparent"]).group(1) == TRACE


def test_a_trace_starts_without_traceparent(logged):
    a = TP_RE.match(logged.get("/health").headers["traceparent"])
    b = TP_RE.match(logged.get("/health").headers["traceparent"])
    assert a and b and a.group(1) != b.group(1) and a.group(3) == "00"


def test_identity_in_the_log_never_the_secret(logged):
    k = requests.post(logged.url + "/api/v1/keys", headers={"X-API-Key": ADMIN}, timeout=30,
                      json={"scopes": ["write"], "user_id": "alice"}).json()
    r = requests.put(logged.url + "/api/v1/cache/notes/n1", data="v", timeout=30,
                     headers={"X-API-Key": k["key"], "X-Request-Id": "rq-alice"})
    assert r.status_code == 200, r.text
    requests.get(logged.url + "/api/v1/cache/notes/n1", timeout=30,
                 headers={"X-API-Key": k["key"], "X-Request-Id": "rq-alice-get"})
    line = line_for(logged, "rq-alice")
    assert line["key_id"] == k["id"] and line["user"] == "alice"
    assert line_for(logged, "rq-alice-get")["cache"] == "hit"
    requests.get(logged.url + "/api/v1/keys", headers={"X-API-Key": ADMIN,
                                                       "X-Request-Id": "rq-admin"}, timeout=30)
    assert line_for(logged, "rq-admin")["key_id"] == "admin"
    assert k["key"] not in logged.logs() and ADMIN not in logged.logs()


def test_gateway_lines_carry_model_tokens_and_upstream_time(logged):
    hdr = {"X-API-Key": ADMIN}
    body = {"model": "fake-model", "messages": [{"role": "user", "content": "log me"}]}
    for rid, stream in (("rq-miss", False), ("rq-hit", False), ("rq-stream", True)):
        if stream:
            body["messages"][0]["content"] = "log me streamed"
        r = requests.post(logged.url + "/v1/chat/completions", timeout=30,
                          json=dict(body, stream=stream), headers=dict(hdr, **{"X-Request-Id": rid}))
        assert r.status_code == 200, r.text
    miss, hit, st = (line_for(logged, rid) for rid in ("rq-miss", "rq-hit", "rq-stream"))
    assert miss["model"] == "fake-model" and miss["cache"] == "miss"
    assert miss["tokens_in"] > 0 and miss["tokens_out"] > 0 and miss["upstream_ms"] >= 0
    assert hit["cache"] == "hit" and "upstream_ms" not in hit
    assert (hit["tokens_in"], hit["tokens_out"]) == (miss["tokens_in"], miss["tokens_out"])
    assert st["cache"] == "miss" and st["model"] == "fake-model" and st["upstream_ms"] >= 0


def _text_line(s, rid):
    deadline = time.time() + 10
    while f"request_id={rid} " not in s.logs() and time.time() < deadline:
        time.sleep(0.05)
    lines = [l for l in s.logs().splitlines() if f"request_id={rid} " in l]
    assert len(lines) == 1, s.logs()
    return lines[0]


def test_embedding_lines_carry_model_and_tokens(logged):
    r = requests.post(logged.url + "/v1/embeddings", timeout=30,
                      json={"model": "all-MiniLM-L6-v2", "input": ["one two three"]},
                      headers={"X-API-Key": ADMIN, "X-Request-Id": "rq-emb"})
    assert r.status_code == 200, r.text
    line = line_for(logged, "rq-emb")
    assert line["model"] == "all-MiniLM-L6-v2" and line["cache"] == "miss"
    assert line["tokens_in"] == r.json()["usage"]["prompt_tokens"] and "tokens_out" not in line


@pytest.mark.parametrize("how", ["flag", "env"])
def test_text_format(how, upstream):
    args, env = ((["--log-format", "text"], {}) if how == "flag"
                 else ([], {"RAGD_LOG_FORMAT": "text"}))
    env.update({"RAGD_LOG_LEVEL": "info", "RAGD_UPSTREAM_URL": upstream.url})
    s = Ragd(args=args, env=env).start()
    try:
        s.get("/api/v1/cache/p/k", headers={"X-Request-Id": "rq-text", "traceparent": TP})
        line = _text_line(s, "rq-text")
        assert re.match(r"^ts=\S+Z level=info msg=request method=GET "
                        r"route=/api/v1/cache/\{prefix\}/\{key\*\} status=404 latency_us=\d+ "
                        rf"request_id=rq-text cache=miss client=127\.0\.0\.1 trace_id={TRACE} "
                        r"key_id=anonymous$", line), line
        body = {"model": 'my "odd" model', "messages": [{"role": "user", "content": "hi"}]}
        requests.post(s.url + "/v1/chat/completions", json=body, timeout=30,
                      headers={"X-Request-Id": "rq-odd"})
        assert ' model="my \\"odd\\" model" ' in _text_line(s, "rq-odd")
        assert not [l for l in s.logs().splitlines() if l.startswith("{")]
    finally:
        s.cleanup()


def test_bad_log_format_is_refused():
    s = Ragd(args=["--log-format", "xml"])
    with pytest.raises(RuntimeError, match="--log-format: .xml. is not one of json.text"):
        s.start()
    s.cleanup()
