"""Store failures that show: a real redis-server put into a failing state (out
of memory with noeviction, read-only as a replica, shut down) makes ragd count
the error by kind in ragd_store_errors_total, log it with Redis' own text,
answer /health degraded with the reason while writes are refused, and heal by
itself; WAIT with no replica to confirm answers 503 and says the write is not
durable."""
import time

import pytest

from ragdtest import Ragd, Redis, assert_error


def errors_of(s, kind):
    needle = f'ragd_store_errors_total{{backend="redis",kind="{kind}"}} '
    for line in s.get("/metrics").text.splitlines():
        if line.startswith(needle):
            return float(line.split()[-1])
    raise AssertionError(f"no {needle} sample")


def wait_status(s, status, tries=200):
    for _ in range(tries):
        h = s.get("/health").json()
        if h["status"] == status:
            return h
        time.sleep(0.1)
    return s.get("/health").json()


@pytest.fixture
def red():
    # AOF: a Redis stopped and started again keeps its data; one that came back
    # empty would be a reset, degraded for a minute (test_replication.py covers it)
    r = Redis(extra_args=["--appendonly", "yes"]).start()
    yield r
    r.cleanup()


def test_oom_counts_logs_degrades_and_heals(red):
    s = Ragd(env={"REDIS_URL": red.url(0)}).start()
    c = red.client()
    try:
        assert s.put("/api/v1/cache/p/a", data="x").status_code == 200
        assert s.get("/health").json()["status"] == "healthy"
        c.config_set("maxmemory-policy", "noeviction")
        c.config_set("maxmemory", "1")
        assert_error(s.put("/api/v1/cache/p/b", data="x"), 507, "store_full")
        h = s.get("/health").json()
        assert h["status"] == "degraded", h
        db = h["details"]["database"]
        assert db["status"] == "refusing_writes" and db["reason"].startswith("OOM "), db
        assert errors_of(s, "oom") == 1
        assert "kind=oom: OOM command not allowed" in s.logs()
        c.config_set("maxmemory", "0")
        assert s.put("/api/v1/cache/p/b", data="x").status_code == 200
        assert s.get("/health").json()["status"] == "healthy"
    finally:
        s.cleanup()


def test_replica_refuses_writes_readonly(red):
    other = Redis().start()
    s = Ragd(env={"REDIS_URL": red.url(0)}).start()
    c = red.client()
    try:
        c.replicaof("127.0.0.1", other.port)
        assert_error(s.put("/api/v1/cache/p/k", data="x"), 503, "store_unavailable")
        h = s.get("/health").json()
        assert h["status"] == "degraded"
        assert h["details"]["database"]["reason"].startswith("READONLY"), h
        assert errors_of(s, "readonly") == 1
        assert "kind=readonly: READONLY" in s.logs()
        c.replicaof("no", "one")
        assert s.put("/api/v1/cache/p/k", data="x").status_code == 200
        assert s.get("/health").json()["status"] == "healthy"
    finally:
        s.cleanup()
        other.cleanup()


def test_shutdown_shows_as_unavailable_and_heals(red):
    s = Ragd(env={"REDIS_URL": red.url(0), "RAGD_REDIS_TIMEOUT_MS": "300"}).start()
    try:
        assert s.put("/api/v1/cache/p/k", data="x").status_code == 200
        red.stop()
        assert_error(s.put("/api/v1/cache/p/k", data="y"), 503, "store_unavailable")
        h = s.get("/health").json()
        assert h["status"] == "degraded"
        assert h["details"]["database"]["reason"] == "Redis master unreachable", h
        assert errors_of(s, "unavailable") >= 1
        assert "kind=unavailable" in s.logs()
        red.start()
        assert wait_status(s, "healthy")["status"] == "healthy"
    finally:
        s.cleanup()


def test_wait_without_a_replica_is_not_durable(red):
    s = Ragd(env={"REDIS_URL": red.url(0), "RAGD_REDIS_WAIT_REPLICAS": "1",
                  "RAGD_REDIS_WAIT_TIMEOUT_MS": "50"}).start()
    try:
        before = errors_of(s, "not_durable")  # the store's epoch, written at start, counts too
        err = assert_error(s.put("/api/v1/cache/p/k", data="x"), 503, "store_unavailable")
        assert "not durable" in err["message"], err
        assert errors_of(s, "not_durable") == before + 1
        assert "kind=not_durable: WAIT: 0 of 1 replicas" in s.logs()
    finally:
        s.cleanup()
