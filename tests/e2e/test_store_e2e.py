"""Store behaviour seen from outside: durability across kill -9, key names in
Redis, Redis outages, AUTH with a password and with an ACL user."""
import base64
import os
import subprocess
import tempfile
import time

import pytest

from ragdtest import Ragd, Redis, assert_error


@pytest.mark.parametrize("fsync", ["always", "everysec", "no"])
def test_acknowledged_writes_survive_kill_9(fsync):
    s = Ragd(env={"RAGD_STORE_FSYNC": fsync}).start()
    try:
        for i in range(200):
            assert s.put(f"/api/v1/cache/durable/k{i}?ttl=0", data=f"value-{i}").status_code == 200
        s.kill9()
        s.start()
        for i in range(200):
            assert s.get(f"/api/v1/cache/durable/k{i}").text == f"value-{i}"
    finally:
        s.cleanup()


def test_second_process_on_one_lmdb_dir_is_refused():
    a = Ragd().start()
    b = Ragd(data_dir=a.data_dir)
    try:
        with pytest.raises(RuntimeError) as exc:
            b.start(timeout=20)
        assert "another ragd process" in str(exc.value)
        assert a.get("/health").status_code == 200
        a.kill9()
        b.start()  # the lock died with its holder
        assert b.get("/health").status_code == 200
    finally:
        b.cleanup()
        a.cleanup()


def test_keys_are_readable_in_redis(redis_server):
    r = redis_server.client()
    r.flushall()
    s = Ragd(env={"REDIS_URL": redis_server.url(0), "RAGD_KEY_PREFIX": "myapp"}).start()
    try:
        s.put("/api/v1/cache/course_curriculum/intro?ttl=500", data="x")
        keys = [k.decode() for k in r.scan_iter("myapp:*")]
        assert "myapp:cache:course_curriculum:intro" in keys
        assert 490 <= r.ttl("myapp:cache:course_curriculum:intro") <= 500
    finally:
        s.cleanup()


def test_redis_outage_degrades_and_recovers():
    """The Redis keeps its data over the restart (AOF), as in the next test: one that
    comes back empty is a reset, reported degraded for a minute (test_replication.py);
    which of the two a run saw depended on whether Redis saved at shutdown."""
    red = Redis(extra_args=["--appendonly", "yes"]).start()
    s = Ragd(env={"REDIS_URL": red.url(0), "RAGD_REDIS_TIMEOUT_MS": "300"}).start()
    try:
        s.put("/api/v1/cache/p/k", data="before")
        red.stop()
        r = s.get("/health")
        h = r.json()
        assert r.status_code == 200  # still serving: a load balancer keeps it
        assert h["status"] == "degraded" and h["database"] == "disconnected"
        assert h["cache"] == "disconnected"
        assert h["details"]["database"]["status"] == "unavailable"
        assert s.get("/api/v1/cache/p/k").status_code == 404  # a miss, not an error
        assert_error(s.put("/api/v1/cache/p/k2", data="x"), 503, "store_unavailable")
        red.start()  # same port, same data
        deadline = time.time() + 20
        while time.time() < deadline and s.get("/health").json()["status"] != "healthy":
            time.sleep(0.2)
        assert s.get("/health").json()["status"] == "healthy"
        assert s.put("/api/v1/cache/p/k3", data="after").status_code == 200
        assert s.get("/api/v1/cache/p/k3").text == "after"
    finally:
        s.cleanup()
        red.cleanup()


def test_sustained_store_outage_is_unhealthy_503():
    """Past health_unhealthy_after seconds of outage /health answers 503 (0 = at once),
    so load balancers take the instance out; it is healthy again when Redis is back.
    The Redis keeps its data over the restart (AOF): one that comes back empty is a
    reset, reported degraded for a while (test_replication.py)."""
    red = Redis(extra_args=["--appendonly", "yes"]).start()
    s = Ragd(env={"REDIS_URL": red.url(0), "RAGD_REDIS_TIMEOUT_MS": "300",
                  "RAGD_HEALTH_UNHEALTHY_AFTER": "0"}).start()
    try:
        assert s.get("/health").status_code == 200
        red.stop()
        r = s.get("/health")
        assert r.status_code == 503
        assert r.json()["status"] == "unhealthy" and r.json()["database"] == "disconnected"
        red.start()
        deadline = time.time() + 20
        while time.time() < deadline and s.get("/health").status_code != 200:
            time.sleep(0.2)
        assert s.get("/health").json()["status"] == "healthy"
    finally:
        s.cleanup()
        red.cleanup()


def test_redis_requirepass_and_acl_user():
    pw = Redis(password="pw-secret").start()
    acl = Redis(acl_user=("ragd_app", "acl-secret")).start()
    try:
        for red in (pw, acl):
            s = Ragd(env={"REDIS_URL": red.url(0)}).start()
            try:
                assert s.get("/health").json()["status"] == "healthy"
                assert s.put("/api/v1/cache/p/k", data="v").status_code == 200
                assert red.client().get("ragd:cache:p:k") is not None
            finally:
                s.cleanup()
        # wrong credentials are a configuration error: refused at start-up, by name
        bad = Ragd(env={"REDIS_URL": f"redis://:wrong@127.0.0.1:{pw.port}/0"})
        with pytest.raises(RuntimeError, match="WRONGPASS"):
            bad.start()
        bad.cleanup()
    finally:
        pw.cleanup()
        acl.cleanup()


def _fill(s, prefix, size, limit=5000):
    """PUT values until the store refuses one; returns (stored count, last response)."""
    for i in range(limit):
        val = base64.b64encode(os.urandom(size * 3 // 4)).decode()  # incompressible
        r = s.put(f"/api/v1/cache/{prefix}/k{i:05d}?ttl=0", data=val)
        if r.status_code != 200:
            return i, r
    raise AssertionError("the store never filled")


def test_full_map_grows_and_deletes_always_work():
    """A full map grows up to store_map_max_size; at the maximum writes answer 507 and
    deleting one key, a prefix and everything still works; a size budget the map cannot
    hold is warned about at start (issue 13 item 16)."""
    s = Ragd(env={"RAGD_STORE_MAP_SIZE": "1MiB", "RAGD_STORE_MAP_MAX_SIZE": "2MiB",
                  "RAGD_LOG_LEVEL": "info"}).start()
    try:
        # the default 1 GiB budget cannot fit a 2 MiB map: said at start
        assert "store_max_bytes (1024 MiB) exceeds the largest the LMDB map" in s.logs()
        n, r = _fill(s, "f", 2000)
        assert_error(r, 507, "store_full")
        assert "grown from 1024 to 2048 KiB" in s.logs()
        h = s.get("/health").json()
        assert h["status"] == "degraded" and h["details"]["database"]["status"] == "full", h
        assert h["database"] == "connected"
        assert s.delete("/api/v1/cache/f/k00001").status_code == 200
        c = s.post("/api/v1/cache/clear", json={"prefix": "f"})
        assert c.status_code == 200 and c.json()["deleted"] > 0, c.text
        assert s.delete("/api/v1/cache").status_code == 200
        assert s.put("/api/v1/cache/g/again", data="v").status_code == 200
        assert s.get("/health").json()["status"] == "healthy"
        assert "map is full at its maximum" in s.logs()
    finally:
        s.cleanup()


def test_full_disk_answers_507_logs_and_degrades():
    """A full filesystem (a 2 MiB tmpfs) answers 507 store_full, not 500 "I/O error",
    logs it and reports /health degraded (issue 13 item 17)."""
    d = tempfile.mkdtemp(prefix="ragd-tmpfs-")
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", d],
                      capture_output=True).returncode != 0:
        os.rmdir(d)
        pytest.skip("cannot mount a tmpfs (needs root)")
    s = Ragd(data_dir=d)
    try:
        s.start()
        n, r = _fill(s, "d", 16384)
        assert_error(r, 507, "store_full")
        h = s.get("/health").json()
        assert h["status"] == "degraded" and h["details"]["database"]["status"] == "full", h
        assert h["database"] == "connected"
        assert "the filesystem is full" in s.logs()
        assert s.delete("/api/v1/cache/d/k00000").status_code == 200
    finally:
        s.cleanup()
        subprocess.run(["umount", d], check=True)
        os.rmdir(d)
