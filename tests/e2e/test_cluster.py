"""Redis Cluster end to end: ragd on a real 6-node cluster (3 masters, 3 replicas,
scripts/redis-topology.sh). First the failures the issue saw on one node of a cluster
(cache PUTs of keys served elsewhere, a rate limit failing open, sessions, clear), then
each feature's representative path, stats and clear over every master, a slot
migration and a replica promotion under a write load that lose nothing acknowledged,
and /health naming a dead master until its replica takes over. The whole e2e suite
runs on the cluster too with RAGD_TEST_CLUSTER=1 (docs/OPERATIONS.md)."""
import subprocess
import threading
import time

import pytest
import requests

from fake_upstream import FakeUpstream
from ragdtest import Ragd, RedisCluster

ADMIN = "admin-secret-0123456789"
AUTH = {"X-API-Key": ADMIN}


@pytest.fixture
def on_cluster(redis_cluster):
    redis_cluster.flushall()
    s = Ragd(env={"REDIS_URL": redis_cluster.url, "RAGD_ADMIN_KEY": ADMIN}).start()
    yield s
    s.cleanup()


def metric(s, name, labels):
    for line in s.get("/metrics", headers=AUTH).text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.split()[-1])
    return None


def test_one_node_url_is_detected_and_every_key_lands(redis_cluster):
    redis_cluster.flushall()
    s = Ragd(env={"REDIS_URL": f"redis://127.0.0.1:{redis_cluster.masters()[0]}"}).start()
    try:
        codes = [s.put(f"/api/v1/cache/p/k{i}", json={"value": f"v{i}"}).status_code
                 for i in range(50)]
        assert codes == [200] * 50
        for i in range(50):
            assert s.get(f"/api/v1/cache/p/k{i}").json()["value"] == f"v{i}"
        held = [int(redis_cluster.cli(p, "DBSIZE")) for p in redis_cluster.masters()]
        assert len(held) == 3 and all(n > 0 for n in held)  # spread over every master
        stats = s.get("/api/v1/cache/stats").json()
        assert stats["keys"] == 50  # counted over every master
        assert s.post("/api/v1/cache/clear", json={"prefix": "p"}).json()["deleted"] == 50
        left = [k for p in redis_cluster.masters()
                for k in redis_cluster.cli(p, "--scan").split()]
        # only the store's epoch and the (empty) registries of namespace names and jobs
        assert all(k.endswith((".log:epoch", ":kb:registry", ":jobs:index")) for k in left), left
        assert metric(s, "ragd_store_errors_total", {"kind": "moved"}) == 0  # followed, not failed
    finally:
        s.cleanup()


def replica_gets(c):
    """GET commands the replicas have served since CONFIG RESETSTAT (INFO commandstats)."""
    masters, total = c.masters(), 0
    for p in c.ports:
        if p in masters:
            continue
        for line in c.cli(p, "INFO", "commandstats").splitlines():
            if line.startswith("cmdstat_get:"):
                total += int(line.split("calls=")[1].split(",")[0])
    return total


def test_cache_reads_from_replicas_only_when_asked(redis_cluster):
    """redis_read_replicas: the generic cache's GETs go to a replica of the key's slot
    (READONLY connections) while writes stay on the masters; off (the default), no read
    reaches a replica. Replication is asynchronous, so a replica may miss a key written
    moments ago: the reads through it are retried until the key arrives."""
    redis_cluster.flushall()
    for p in redis_cluster.ports:
        redis_cluster.cli(p, "CONFIG", "RESETSTAT")
    off = Ragd(env={"REDIS_URL": redis_cluster.url, "RAGD_ADMIN_KEY": ADMIN}).start()
    on = Ragd(env={"REDIS_URL": redis_cluster.url, "RAGD_ADMIN_KEY": ADMIN,
                   "RAGD_REDIS_READ_REPLICAS": "1"}).start()
    try:
        for i in range(30):
            assert off.put(f"/api/v1/cache/rr/k{i}", json={"value": f"v{i}"},
                           headers=AUTH).status_code == 200
            assert off.get(f"/api/v1/cache/rr/k{i}", headers=AUTH).status_code == 200
        assert replica_gets(redis_cluster) == 0
        for i in range(30):
            for _ in range(200):
                r = on.get(f"/api/v1/cache/rr/k{i}", headers=AUTH)
                if r.status_code == 200:
                    break
                time.sleep(0.02)
            assert r.status_code == 200 and r.json()["value"] == f"v{i}", r.text
        assert replica_gets(redis_cluster) >= 30
        assert metric(on, "ragd_store_replica_reads_total", {}) >= 30
        assert metric(off, "ragd_store_replica_reads_total", {}) == 0
        assert on.put("/api/v1/cache/rr/new", json={"value": "w"}, headers=AUTH).status_code == 200
        assert off.get("/api/v1/cache/rr/new", headers=AUTH).json()["value"] == "w"  # on a master
    finally:
        on.cleanup()
        off.cleanup()


def test_rate_limit_is_exact_across_two_instances(redis_cluster):
    redis_cluster.flushall()
    a = Ragd(env={"REDIS_URL": redis_cluster.url}).start()
    b = Ragd(env={"REDIS_URL": redis_cluster.url}).start()
    allowed = []

    def worker(i):
        sess = requests.Session()
        for j in range(5):
            url = (a if (i + j) % 2 else b).url
            r = sess.post(url + "/api/v1/ratelimit/check",
                          json={"key": "exact", "limit": 10, "window": 3600}, timeout=30)
            assert r.status_code == 200, r.text
            allowed.append(r.json()["allowed"])
    try:
        ts = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        assert len(allowed) == 20 and sum(allowed) == 10
    finally:
        a.cleanup()
        b.cleanup()


def test_sessions_history_and_delete(on_cluster):
    s = on_cluster
    assert s.put("/api/v1/sessions/s1", json={"user_id": "u1"}, headers=AUTH).status_code in (200, 201)
    for i in range(3):
        r = s.post("/api/v1/sessions/s1/messages", json={"role": "user", "content": f"m{i}"},
                   headers=AUTH)
        assert r.status_code == 201
    msgs = s.get("/api/v1/sessions/s1/messages", headers=AUTH).json()["messages"]
    assert [m["content"] for m in msgs] == ["m0", "m1", "m2"]
    assert s.delete("/api/v1/sessions/s1", headers=AUTH).status_code == 200  # one slot
    assert s.get("/api/v1/sessions/s1", headers=AUTH).status_code == 404
    assert s.get("/api/v1/sessions/s1/messages", headers=AUTH).status_code == 404


def test_api_keys(on_cluster):
    s = on_cluster
    r = s.post("/api/v1/keys", json={"scopes": ["read"], "user_id": "alice"}, headers=AUTH)
    assert r.status_code == 201, r.text
    key = r.json()["key"]
    assert s.get("/api/v1/cache/stats", headers={"X-API-Key": key}).status_code == 200
    assert s.get("/api/v1/cache/stats", headers={"X-API-Key": "nope"}).status_code == 401
    s.restart()
    assert s.get("/api/v1/cache/stats", headers={"X-API-Key": key}).status_code == 200


def test_gateway_exact_cache_and_single_flight(redis_cluster):
    redis_cluster.flushall()
    up = FakeUpstream().start()
    env = {"REDIS_URL": redis_cluster.url, "RAGD_UPSTREAM_URL": up.url}
    a, b = Ragd(env=env).start(), Ragd(env=env).start()
    try:
        body = {"model": "fake-model", "messages": [{"role": "user", "content": "hello [slow:0.5]"}]}
        out = [None] * 6

        def call(i):
            out[i] = requests.post((a if i % 2 else b).url + "/v1/chat/completions", json=body,
                                   timeout=30)
        ts = [threading.Thread(target=call, args=(i,)) for i in range(6)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        assert all(r.status_code == 200 for r in out)
        assert up.calls == 1  # one flight across both instances
        r = requests.post(a.url + "/v1/chat/completions", json=body, timeout=30)
        assert r.headers["x-ragd-cache"] == "hit"
        assert r.headers["x-ragd-cache-key"].startswith("llm:{fake-model:")
    finally:
        a.cleanup()
        b.cleanup()
        up.stop()


class Writer:
    """Threads PUTting distinct keys until stopped; records what was acknowledged."""

    def __init__(self, s, threads=4):
        self.s, self.stop_flag = s, threading.Event()
        self.acked, self.failed = [], []
        self.ts = [threading.Thread(target=self.run, args=(i,)) for i in range(threads)]

    def run(self, i):
        sess, n = requests.Session(), 0
        while not self.stop_flag.is_set():
            key = f"w{i}-{n}"
            n += 1
            try:
                r = sess.put(f"{self.s.url}/api/v1/cache/load/{key}", json={"value": key},
                             headers=AUTH, timeout=30)
                (self.acked if r.status_code == 200 else self.failed).append((key, r.status_code))
            except requests.RequestException as e:
                self.failed.append((key, str(e)))

    def __enter__(self):
        for t in self.ts:
            t.start()
        time.sleep(0.3)
        return self

    def __exit__(self, *exc):
        time.sleep(0.3)
        self.stop_flag.set()
        for t in self.ts:
            t.join()

    def missing(self):
        return [k for k, _ in self.acked
                if self.s.get(f"/api/v1/cache/load/{k}", headers=AUTH).status_code != 200]


def node_ids(c):
    """port -> node id of each master."""
    ids = {}
    for line in c.cli(c.ports[0], "CLUSTER", "NODES").splitlines():
        f = line.split()
        if "master" in f[2]:
            ids[int(f[1].split("@")[0].rsplit(":", 1)[1])] = f[0]
    return ids


def test_knowledge_bases_on_the_cluster_and_across_instances(redis_cluster):
    """A namespace's keys share one slot (kb:{<ns>}); the namespaces' log kb:nslog lies in
    another, so its record follows the namespace's own write: a second instance still
    learns of the namespace, its documents and its drop."""
    redis_cluster.flushall()
    a = Ragd(env={"REDIS_URL": redis_cluster.url}).start()
    b = Ragd(env={"REDIS_URL": redis_cluster.url}).start()
    try:
        assert a.post("/api/v1/namespaces", json={"name": "cl"}).status_code == 201
        assert b.post("/api/v1/namespaces", json={"name": "cl"}).status_code == 409
        docs = [{"id": f"d{i}", "text": f"kettlebell swing number {i} for the posterior chain"}
                for i in range(5)]
        r = a.post("/api/v1/namespaces/cl/documents", json={"documents": docs})
        assert r.status_code == 200, r.text
        q = {"query": "kettlebell swing", "namespaces": ["cl"], "search_type": "keyword",
             "limit": 10}
        found = []
        for _ in range(200):  # until B's follower has applied A's records
            r = b.post("/api/v1/search/hybrid", json=q)
            found = r.json().get("results", []) if r.status_code == 200 else []
            if len(found) == 5:
                break
            time.sleep(0.05)
        assert len(found) == 5, r.text
        slots = {redis_cluster.cli(redis_cluster.masters()[0], "CLUSTER", "KEYSLOT", k)
                 for k in ("kb:{cl}:meta", "kb:{cl}:doc:d0", "kb:{cl}:log")}
        assert len(slots) == 1
        assert a.delete("/api/v1/namespaces/cl").status_code == 200
        for _ in range(200):
            if b.get("/api/v1/namespaces/cl").status_code == 404:
                break
            time.sleep(0.05)
        assert b.get("/api/v1/namespaces/cl").status_code == 404
    finally:
        a.cleanup()
        b.cleanup()


def test_slot_migration_under_load_loses_nothing(on_cluster, redis_cluster):
    m = redis_cluster.masters()
    ids = node_ids(redis_cluster)
    with Writer(on_cluster) as w:
        subprocess.run(["redis-cli", "--cluster", "reshard", f"127.0.0.1:{m[0]}",
                        "--cluster-from", ids[m[0]], "--cluster-to", ids[m[1]],
                        "--cluster-slots", "200", "--cluster-yes"],
                       check=True, capture_output=True, timeout=120)
    assert w.failed == []
    assert len(w.acked) > 50 and w.missing() == []
    assert metric(on_cluster, "ragd_store_redirections_total", {"kind": "moved"}) > 0


def test_replica_promotion_under_load_loses_nothing(on_cluster, redis_cluster):
    before = set(redis_cluster.masters())
    replica = next(p for p in redis_cluster.ports if p not in before)
    with Writer(on_cluster) as w:
        redis_cluster.cli(replica, "CLUSTER", "FAILOVER")
        deadline = time.time() + 20
        while replica not in redis_cluster.masters() and time.time() < deadline:
            time.sleep(0.1)
    assert replica in redis_cluster.masters()
    assert w.failed == []
    assert len(w.acked) > 50 and w.missing() == []


def test_health_names_a_dead_master_until_its_replica_takes_over():
    c = RedisCluster().start()  # its own: a master is killed
    s = Ragd(env={"REDIS_URL": c.url}).start()
    try:
        assert s.get("/health").json()["status"] == "healthy"
        victim = c.masters()[0]
        pid = int(open(f"{c.dir}/cluster-{c.base}/{victim}/redis.pid").read())
        subprocess.run(["kill", "-9", str(pid)], check=True)
        seen, deadline = None, time.time() + 30
        while time.time() < deadline:
            h = s.get("/health").json()
            if h["status"] == "degraded":
                seen = h["details"]["database"]
            elif seen and h["status"] == "healthy":
                break
            time.sleep(0.2)
        assert seen and f"127.0.0.1:{victim}" in seen["reason"]
        assert h["status"] == "healthy", h["details"]["database"]  # the replica was promoted, the map followed
        codes = [s.put(f"/api/v1/cache/p/k{i}", json={"value": "v"}).status_code
                 for i in range(30)]
        assert codes == [200] * 30
    finally:
        s.cleanup()
        c.cleanup()
