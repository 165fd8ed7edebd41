"""HTTP behaviour every route shares: error shapes, request ids, limits,
health, metrics, OpenAPI and the dashboard."""
import re
import socket

import requests

from ragdtest import Ragd, assert_error


def test_unknown_route_is_json_404(ragd_lmdb):
    assert_error(ragd_lmdb.get("/nope"), 404, "not_found")


def test_wrong_method_is_405_with_allow(ragd_lmdb):
    r = ragd_lmdb.post("/health")
    assert_error(r, 405, "method_not_allowed")
    assert "GET" in r.headers["Allow"]


def test_request_id_is_echoed_or_generated(ragd_lmdb):
    r = ragd_lmdb.get("/health", headers={"X-Request-Id": "abc-123"})
    assert r.headers["X-Request-Id"] == "abc-123"
    r1, r2 = ragd_lmdb.get("/health"), ragd_lmdb.get("/health")
    assert r1.headers["X-Request-Id"] != r2.headers["X-Request-Id"]
    bad = ragd_lmdb.get("/health", headers={"X-Request-Id": "has spaces and <tags>"})
    assert bad.headers["X-Request-Id"] != "has spaces and <tags>"


def test_malformed_json_reports_the_position(ragd_lmdb):
    r = ragd_lmdb.post("/api/v1/cache/clear", data=b'{"prefix": "a",\n "x": }',
                       headers={"Content-Type": "application/json"})
    err = assert_error(r, 400, "invalid_json")
    assert "line 2" in err["message"] and "byte" in err["message"]
    assert_error(ragd_lmdb.post("/api/v1/cache/clear", data=b""), 400, "invalid_json")
    assert_error(ragd_lmdb.post("/api/v1/cache/clear", json=[1, 2]), 400, "invalid_json")


def test_oversized_body_is_413_and_not_stored(ragd_lmdb):
    big = b"x" * (16 * 1024 * 1024 + 1)
    r = ragd_lmdb.put("/api/v1/cache/p/big", data=big)
    assert_error(r, 413, "payload_too_large")
    assert ragd_lmdb.get("/api/v1/cache/p/big").status_code == 404


def test_bad_cache_input_gets_4xx_and_stores_nothing(ragd):
    cases = [
        ("/api/v1/cache/p/k?ttl=-5", 400, "invalid_ttl"),
        ("/api/v1/cache/p/k?ttl=abc", 400, "invalid_ttl"),
        ("/api/v1/cache/p/k?ttl=1.5", 400, "invalid_ttl"),
        ("/api/v1/cache/bad%20prefix/k", 400, "invalid_prefix"),
        ("/api/v1/cache/p%3Ax/k", 400, "invalid_prefix"),
        ("/api/v1/cache/p/" + "k" * 600, 413, "invalid_key"),
        ("/api/v1/cache/p/%FF%FEbad", 400, "invalid_key"),
        ("/api/v1/cache/p/ctl%01char", 400, "invalid_key"),
    ]
    for path, status, code in cases:
        assert_error(ragd.put(path, data="v"), status, code)
    s = ragd.get("/api/v1/cache/stats").json()
    assert s["writes"] == 0 and s["keys"] == 0
    assert_error(ragd.post("/api/v1/cache/config", json={"prefix": "p", "ttl": -1}), 400, "invalid_ttl")
    assert_error(ragd.post("/api/v1/cache/config", json={"prefix": "p", "ttl": "10"}), 400, "invalid_ttl")
    assert_error(ragd.post("/api/v1/cache/clear", json={}), 400, "invalid_request")
    assert_error(ragd.post("/api/v1/cache/clear", json={"prefix": "a", "pattern": "b*"}), 400,
                 "invalid_request")


def test_keep_alive_reuses_the_connection(ragd_lmdb):
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", ragd_lmdb.port, timeout=10)
    c.request("GET", "/health")
    r = c.getresponse()
    r.read()
    sock = c.sock
    for _ in range(20):
        c.request("GET", "/health")
        r = c.getresponse()
        assert r.status == 200
        r.read()
        assert c.sock is sock  # the same TCP connection served every request
    c.close()


def test_health_in_the_seed_shape(ragd):
    """The seed's monitors read {status, models_loaded, database, cache, uptime_seconds}."""
    r = ragd.get("/health")
    assert r.status_code == 200
    h = r.json()
    assert h["status"] == "healthy"
    assert h["models_loaded"] == ["all-MiniLM-L6-v2"]
    assert h["database"] == "connected" and h["cache"] == "connected"
    assert isinstance(h["uptime_seconds"], int) and h["uptime_seconds"] >= 0
    assert h["details"]["database"] == {"backend": ragd.backend, "status": "ok",
                                        "outage_seconds": 0}
    assert h["details"]["version"] == h["version"]
    emb = h["details"]["embedding"]
    assert emb["status"] == "ok" and emb["dimension"] == 384
    # the precision in effect, its kernels and how it was chosen (see test_embeddings.py)
    assert emb["precision"] in ("fp32", "bf16") and emb["kernel"]
    assert emb["precision_chosen_by"] == "measurement"


def test_health_without_a_model_is_degraded_but_serving():
    s = Ragd(env={"RAGD_MODEL_DIR": "/nonexistent-model-dir"}).start()
    try:
        r = s.get("/health")
        assert r.status_code == 200
        h = r.json()
        assert h["status"] == "degraded" and h["models_loaded"] == []
        assert h["database"] == "connected"
        assert h["details"]["embedding"] == {"status": "unavailable"}
    finally:
        s.cleanup()


def test_metrics_are_prometheus_text(ragd_lmdb):
    ragd_lmdb.put("/api/v1/cache/m/k", data="v")
    ragd_lmdb.get("/api/v1/cache/m/k")
    ragd_lmdb.get("/api/v1/cache/m/absent")
    text = ragd_lmdb.get("/metrics").text
    assert '# TYPE ragd_http_requests_total counter' in text
    assert 'ragd_http_requests_total{route="/api/v1/cache/{prefix}/{key*}",method="GET",status="200"} 1' in text
    assert 'ragd_cache_hits_total{prefix="m"} 1' in text
    assert 'ragd_cache_misses_total{prefix="m"} 1' in text
    assert 'ragd_http_request_duration_seconds_bucket{route="/api/v1/cache/{prefix}/{key*}",le="+Inf"}' in text
    assert 'ragd_store_up{backend="lmdb"} 1' in text
    heap = {m.group(1): float(m.group(2)) for m in
            re.finditer(r"^(ragd_heap_(?:in_use|held)_bytes) (\S+)$", text, re.M)}
    assert heap["ragd_heap_in_use_bytes"] > 1e6, heap  # the model alone is tens of MB
    assert heap["ragd_heap_held_bytes"] >= heap["ragd_heap_in_use_bytes"], heap


def test_openapi_lists_routes(ragd_lmdb):
    doc = ragd_lmdb.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    assert "get" in doc["paths"]["/api/v1/cache/{prefix}/{key}"]
    assert "post" in doc["paths"]["/api/v1/cache/clear"]


def test_dashboard_page(ragd_lmdb):
    r = ragd_lmdb.get("/")
    assert r.status_code == 200 and "text/html" in r.headers["Content-Type"]
    assert "/api/v1/cache/stats" in r.text


def test_raw_http_garbage_does_not_kill_the_server(ragd_lmdb):
    with socket.create_connection(("127.0.0.1", ragd_lmdb.port)) as s:
        s.sendall(b"\x00\x01GARBAGE\r\n\r\n")
        s.settimeout(2)
        try:
            s.recv(100)
        except OSError:
            pass
    assert ragd_lmdb.get("/health").status_code == 200


def test_sigterm_finishes_in_flight_requests():
    import signal
    import threading
    import time

    from ragdtest import Ragd

    s = Ragd().start()
    result = {}

    def slow_body():
        yield b"a" * 1000
        time.sleep(1.0)
        yield b"b" * 1000

    def client():
        result["r"] = requests.put(s.url + "/api/v1/cache/slow/k", data=slow_body(), timeout=30)

    try:
        t = threading.Thread(target=client)
        t.start()
        time.sleep(0.4)
        s.proc.send_signal(signal.SIGTERM)
        t.join(30)
        assert result["r"].status_code == 200, result["r"].text
        assert s.proc.wait(30) == 0
    finally:
        s.cleanup()
