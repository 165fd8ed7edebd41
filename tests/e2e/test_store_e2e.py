"""Store behaviour seen from outside: durability across kill -9, key names in
Redis, Redis outages, AUTH with a password and with an ACL user."""
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
    red = Redis().start()
    s = Ragd(env={"REDIS_URL": red.url(0), "RAGD_REDIS_TIMEOUT_MS": "300"}).start()
    try:
        s.put("/api/v1/cache/p/k", data="before")
        red.stop()
        h = s.get("/health").json()
        assert h["status"] == "degraded" and h["database"]["status"] == "unavailable"
        assert s.get("/api/v1/cache/p/k").status_code == 404  # a miss, not an error
        assert_error(s.put("/api/v1/cache/p/k2", data="x"), 503, "store_unavailable")
        red.start()  # same port, empty data
        deadline = time.time() + 20
        while time.time() < deadline and s.get("/health").json()["status"] != "ok":
            time.sleep(0.2)
        assert s.get("/health").json()["status"] == "ok"
        assert s.put("/api/v1/cache/p/k3", data="after").status_code == 200
        assert s.get("/api/v1/cache/p/k3").text == "after"
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
                assert s.get("/health").json()["status"] == "ok"
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
