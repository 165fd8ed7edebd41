"""Rate limits end to end: rules from the config file applied before handlers (headers,
429 + Retry-After, tiers, keying), the check API for every algorithm, exactness under
concurrency (threads against one LMDB instance; threads against two instances sharing one
Redis), and the fail-open / fail-closed policies while the store is down."""
import json
import os
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from ragdtest import MATRIX, Ragd, Redis, assert_error, store_env

ADMIN = "admin-secret-0123456789"
ALGOS = ["fixed_window", "sliding_window", "gcra"]


def write_config(obj):
    f = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
    json.dump(obj, f)
    f.close()
    return f.name


RULES = {"rate_limits": [
    {"name": "keyroute", "algorithm": "fixed_window", "window": "1h", "limit": 3,
     "tiers": {"premium": 6}, "routes": ["/api/v1/cache/key"], "methods": ["POST"],
     "key_on": ["user"]},
    {"name": "byip", "algorithm": "gcra", "window": 3600, "limit": 4,
     "routes": ["/api/v1/cache/stats"], "key_on": ["ip", "endpoint"]},
]}


@pytest.fixture(params=MATRIX)
def limited(request):
    cfg = write_config(RULES)
    s = Ragd(env=dict(store_env(request, 5), RAGD_ADMIN_KEY=ADMIN), args=["--config", cfg]).start()
    yield s
    s.cleanup()
    os.unlink(cfg)


def new_key(s, **spec):
    r = requests.post(s.url + "/api/v1/keys", headers={"X-API-Key": ADMIN},
                      json=dict(spec, scopes=["read", "write"]), timeout=10)
    assert r.status_code == 201, r.text
    return {"X-API-Key": r.json()["key"]}


def test_rules_headers_and_429(limited):
    alice = new_key(limited, user_id="alice")
    body = {"prefix": "p", "params": {}}
    for i in range(3):
        r = limited.post("/api/v1/cache/key", json=body, headers=alice)
        assert r.status_code == 200, r.text
        assert r.headers["RateLimit-Limit"] == "3"
        assert r.headers["RateLimit-Remaining"] == str(2 - i)
        assert 0 < int(r.headers["RateLimit-Reset"]) <= 3600
    r = limited.post("/api/v1/cache/key", json=body, headers=alice)
    assert_error(r, 429, "rate_limited")
    assert 0 < int(r.headers["Retry-After"]) <= 3600
    assert r.headers["RateLimit-Remaining"] == "0"
    # Other routes and other users are not affected.
    assert limited.put("/api/v1/cache/p/k", data=b"1", headers=alice).status_code == 200
    bob = new_key(limited, user_id="bob")
    assert limited.post("/api/v1/cache/key", json=body, headers=bob).status_code == 200
    text = limited.get("/metrics").text
    assert 'ragd_ratelimit_decisions_total{result="denied"} 1' in text


def test_tiers(limited):
    premium = new_key(limited, user_id="pat", tier="premium")
    ok = sum(limited.post("/api/v1/cache/key", json={"prefix": "p"}, headers=premium).status_code
             == 200 for _ in range(8))
    assert ok == 6


def test_key_on_ip(limited):
    a, b = new_key(limited, user_id="a"), new_key(limited, user_id="b")
    codes = [limited.get("/api/v1/cache/stats", headers=(a if i % 2 else b)).status_code
             for i in range(6)]
    assert codes == [200] * 4 + [429] * 2  # one client IP, whoever the user


def check(s, headers=None, **body):
    return requests.post(s.url + "/api/v1/ratelimit/check", json=body, headers=headers,
                         timeout=30)


@pytest.mark.parametrize("algo", ALGOS)
def test_check_api(ragd, algo):
    res = [check(ragd, key=f"login:{algo}", limit=5, window=3600, algorithm=algo).json()
           for _ in range(7)]
    assert [r["allowed"] for r in res] == [True] * 5 + [False] * 2
    assert [r["remaining"] for r in res[:5]] == [4, 3, 2, 1, 0]
    assert all(r["retry_after"] > 0 for r in res[5:])
    assert all(0 < r["reset_after"] <= 3600 for r in res)
    # cost
    r = check(ragd, key=f"cost:{algo}", limit=10, window=60, cost=7, algorithm=algo).json()
    assert r["allowed"] and r["remaining"] == 3
    r = check(ragd, key=f"cost:{algo}", limit=10, window=60, cost=4, algorithm=algo).json()
    assert not r["allowed"]
    r = check(ragd, key=f"huge:{algo}", limit=10, window=60, cost=11, algorithm=algo).json()
    assert not r["allowed"] and r["retry_after"] < 0  # can never fit


def test_check_api_validation(ragd):
    for body in [{}, {"key": "k", "limit": 0, "window": 1}, {"key": "k", "limit": 1},
                 {"key": "k", "limit": 1, "window": -1}, {"key": "k", "limit": 1, "window": "1y"},
                 {"key": "k", "limit": 1, "window": 1, "algorithm": "leaky"},
                 {"key": "", "limit": 1, "window": 1}, {"key": "k", "limit": 1, "window": 1,
                                                         "cost": -1}]:
        assert_error(check(ragd, **body), 400)
    r = check(ragd, key="k", limit=2, window="500ms", algorithm="token_bucket")
    assert r.status_code == 200 and r.json()["algorithm"] == "gcra"


def hammer(urls, algo, key, limit, threads=16, per_thread=40):
    """threads x per_thread checks spread over urls; returns the number allowed."""
    allowed = [0] * threads
    def worker(i):
        sess = requests.Session()
        for j in range(per_thread):
            url = urls[(i + j) % len(urls)]
            r = sess.post(url + "/api/v1/ratelimit/check",
                          json={"key": key, "limit": limit, "window": 3600, "algorithm": algo},
                          timeout=30)
            assert r.status_code == 200, r.text
            allowed[i] += r.json()["allowed"]
    ts = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return sum(allowed)


@pytest.mark.parametrize("algo", ALGOS)
def test_exact_on_lmdb_under_threads(ragd_lmdb, algo):
    assert hammer([ragd_lmdb.url], algo, f"exact:{algo}", 100) == 100


@pytest.mark.parametrize("algo", ALGOS)
def test_exact_across_two_instances_on_one_redis(redis_server, algo):
    import redis as redis_py
    redis_py.Redis(port=redis_server.port, db=5).flushdb()
    env = {"REDIS_URL": redis_server.url(5)}
    a, b = Ragd(env=env).start(), Ragd(env=env).start()
    try:
        assert hammer([a.url, b.url], algo, f"exact2:{algo}", 100) == 100
    finally:
        a.cleanup()
        b.cleanup()


@pytest.mark.parametrize("policy", ["open", "closed"])
def test_store_down_policy(policy):
    red = Redis().start()
    cfg = write_config({"rate_limits": [{"name": "k", "algorithm": "gcra", "window": 60,
                                         "limit": 100, "routes": ["/api/v1/cache/key"]}]})
    s = Ragd(env={"REDIS_URL": red.url(0), "RAGD_RATELIMIT_FAILURE": policy,
                  "RAGD_REDIS_TIMEOUT_MS": "200"}, args=["--config", cfg]).start()
    try:
        assert s.post("/api/v1/cache/key", json={"prefix": "p"}).status_code == 200
        red.stop()
        r = s.post("/api/v1/cache/key", json={"prefix": "p"})
        c = check(s, key="k", limit=1, window=60)
        if policy == "open":
            assert r.status_code == 200
            assert c.status_code == 200 and c.json()["allowed"]
            line = [l for l in s.get("/metrics").text.splitlines()
                    if l.startswith("ragd_ratelimit_store_failures_total")][0]
            assert float(line.split()[-1]) >= 2
            opened = [l for l in s.get("/metrics").text.splitlines()
                      if l.startswith("ragd_ratelimit_fail_open_total")][0]
            assert float(opened.split()[-1]) == 2  # the rule's request and the check
            assert "allowed without a decision (fail-open)" in s.logs()
        else:
            assert_error(r, 503, "rate_limit_unavailable")
            assert_error(c, 503)
    finally:
        s.cleanup()
        red.cleanup()
        os.unlink(cfg)
