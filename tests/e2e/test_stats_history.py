"""GET /api/v1/stats/history: the in-process rings of per-second and per-minute
samples the dashboard draws (requests/s and latency per route, cache hits per
class, gateway figures, model queues), and what a user-bound key may see."""
import time

import requests

from ragdtest import Ragd, assert_error

ADMIN = "admin-secret-0123456789"


def wait_samples(get, pred, timeout=30):
    """Poll the history until pred(samples) holds (the sampler ticks each second)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        body = get().json()
        if pred(body["samples"]):
            return body
        time.sleep(0.3)
    raise AssertionError(f"history never matched: {body}")


def test_second_samples_carry_route_rates_latency_and_cache_classes(ragd_lmdb):
    ragd_lmdb.put("/api/v1/cache/lesson/a", data="x")
    for _ in range(20):
        ragd_lmdb.get("/api/v1/cache/lesson/a")
    ragd_lmdb.get("/api/v1/cache/lesson/missing")

    route = "GET, HEAD /api/v1/cache/{prefix}/{key*}"

    def seen(samples):
        hits = sum(s["cache"]["generic"]["hits"] for s in samples)
        return hits >= 20 and sum(s["routes"].get(route, {}).get("rps", 0) for s in samples) >= 21

    body = wait_samples(lambda: ragd_lmdb.get("/api/v1/stats/history?resolution=second"), seen)
    assert body["resolution"] == "second" and body["interval_seconds"] == 1
    assert body["capacity"] == 600 and body["scope"] == "all"
    samples = body["samples"]
    assert all(a["t"] < b["t"] for a, b in zip(samples, samples[1:]))
    rows = [s["routes"][route] for s in samples if route in s["routes"]]
    assert sum(r["rps"] for r in rows) == 21  # every request counted once
    assert all(0 < r["p50_ms"] <= r["p99_ms"] for r in rows)
    gen = [s["cache"]["generic"] for s in samples]
    assert sum(g["hits"] for g in gen) == 20 and sum(g["misses"] for g in gen) == 1
    last = samples[-1]
    assert set(last["gateway"]) == {"tokens_saved", "cost_saved_usd", "upstream_calls",
                                    "upstream_errors", "single_flight_joins"}
    assert set(last["scheduler"]) == {"interactive", "bulk"}
    assert "replication_lag_ms" in last and "open_circuits" in last


def test_minute_resolution_and_bad_resolution(ragd_lmdb):
    body = ragd_lmdb.get("/api/v1/stats/history?resolution=minute").json()
    assert body["resolution"] == "minute" and body["interval_seconds"] == 60
    assert body["capacity"] == 1440 and isinstance(body["samples"], list)
    assert_error(ragd_lmdb.get("/api/v1/stats/history?resolution=hour"), 400, "invalid_request")


def test_a_user_key_sees_health_series_only():
    s = Ragd(env={"RAGD_ADMIN_KEY": ADMIN}).start()
    try:
        assert_error(s.get("/api/v1/stats/history"), 401, "unauthorized")
        r = requests.post(s.url + "/api/v1/keys", headers={"X-API-Key": ADMIN},
                          json={"scopes": ["read"], "user_id": "alice"}, timeout=30)
        user_key = r.json()["key"]
        full = wait_samples(lambda: requests.get(s.url + "/api/v1/stats/history",
                                                 headers={"X-API-Key": ADMIN}, timeout=30),
                            lambda samples: len(samples) >= 1)
        assert full["scope"] == "all" and "routes" in full["samples"][-1]
        mine = requests.get(s.url + "/api/v1/stats/history", headers={"X-API-Key": user_key},
                            timeout=30).json()
        assert mine["scope"] == "health" and mine["samples"]
        for smp in mine["samples"]:
            assert "routes" not in smp and "cache" not in smp and "gateway" not in smp
            assert "scheduler" in smp
    finally:
        s.cleanup()
