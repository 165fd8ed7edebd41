"""Several ragd instances on one Redis: the namespace life cycle is decided in
Redis, not in one instance's memory (create is set-if-absent, settings changes
are compare-and-set), a document replace removes the chunk keys the stored
document had, whichever instance wrote them, a user's delete is checked against
the stored owner too (a stale instance never deletes another user's document),
and every instance follows the
others' writes through the change logs (Redis Streams): searches on B and C see
what A wrote, deleted and updated without a restart; a killed instance catches
up; a follower whose stream was trimmed past it reloads; a flushed Redis is
noticed (degraded, with the reason) and every instance converges to it. Waits
poll a bounded number of times; nothing asserts elapsed time."""
import signal
import subprocess
import threading
import time

import pytest
import redis as redis_py
import requests

from ragdtest import Ragd, Redis, assert_error, eventually

NS = "/api/v1/namespaces"
DB = 6


def instance(redis_server):
    return Ragd(env={"REDIS_URL": redis_server.url(DB)}).start()


def test_concurrent_create_of_one_namespace_on_two_instances(redis_server):
    redis_py.Redis(port=redis_server.port, db=DB).flushdb()
    a, b = instance(redis_server), instance(redis_server)
    try:
        for i in range(10):
            got = []

            def create(s, name=f"dup{i}"):
                got.append(s.post(NS, json={"name": name}))
            ts = [threading.Thread(target=create, args=(s,)) for s in (a, b)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            assert sorted(r.status_code for r in got) == [201, 409]
            assert_error(next(r for r in got if r.status_code == 409), 409, "namespace_exists")
    finally:
        a.cleanup()
        b.cleanup()


def test_stale_settings_writer_gets_conflict_and_replace_leaves_no_orphans(redis_server):
    r = redis_py.Redis(port=redis_server.port, db=DB)
    r.flushdb()
    a = instance(redis_server)
    b = None
    try:
        assert a.post(NS, json={"name": "shared", "chunk_size": 16, "chunk_overlap": 4}).status_code == 201
        b = instance(redis_server)  # loads "shared" at its first version
        patch = lambda s, body: requests.patch(s.url + f"{NS}/shared", json=body, timeout=30)
        assert patch(a, {"description": "from a"}).status_code == 200
        # B's follower applies A's change within milliseconds: B's write is either stale
        # (409, and B then holds A's settings) or already based on them (200); never lost
        rb = patch(b, {"description": "from b"})
        if rb.status_code != 200:
            assert_error(rb, 409, "conflict")
            assert b.get(f"{NS}/shared").json()["settings"]["description"] == "from a"
            assert patch(b, {"description": "from b"}).status_code == 200
        a.restart()
        assert a.get(f"{NS}/shared").json()["settings"]["description"] == "from b"

        long_text = " ".join(f"word{i} lifting technique" for i in range(200))
        up = a.post(f"{NS}/shared/documents", json={"documents": [{"id": "d1", "text": long_text}]})
        assert up.status_code == 200, up.text
        chunks = list(r.scan_iter("ragd:kb:{shared}:chunk:d1:*"))
        assert len(chunks) > 10
        up = b.post(f"{NS}/shared/documents", json={"documents": [{"id": "d1", "text": "short"}]})
        assert up.status_code == 200, up.text
        assert [k.decode() for k in r.scan_iter("ragd:kb:{shared}:chunk:d1:*")] == \
            ["ragd:kb:{shared}:chunk:d1:0"]
        log = r.xrange("ragd.log:kb:{shared}:log")  # one record per write, both instances'
        assert [e[1][b"d"][:30] for e in log] == [b'{"op":"upsert","ids":["d1"],"v'] * 2
    finally:
        a.cleanup()
        if b:
            b.cleanup()


def test_writes_after_redis_lost_the_namespace_write_nothing(redis_server):
    r = redis_py.Redis(port=redis_server.port, db=DB)
    r.flushdb()
    a = instance(redis_server)
    try:
        assert a.post(NS, json={"name": "gone"}).status_code == 201
        doc = {"documents": [{"id": "d1", "text": "bench press form"}]}
        assert a.post(f"{NS}/gone/documents", json=doc).status_code == 200
        r.flushdb()  # Redis lost everything (or another instance dropped the namespace)
        assert_error(a.post(f"{NS}/gone/documents", json=doc), 404, "namespace_not_found")
        assert list(r.scan_iter("ragd:kb:*")) == []  # no doc/chunk/version keys without meta
        assert_error(a.get(f"{NS}/gone"), 404, "namespace_not_found")
        assert a.post(NS, json={"name": "gone"}).status_code == 201
        assert a.post(f"{NS}/gone/documents", json=doc).status_code == 200
        assert r.exists("ragd:kb:{gone}:meta") and r.exists("ragd:kb:{gone}:doc:d1")
    finally:
        a.cleanup()



def texts(s, ns, query, kind, limit=20):
    r = s.post("/api/v1/search/hybrid", json={"query": query, "search_type": kind,
                                               "namespaces": [ns], "limit": limit})
    if r.status_code != 200:
        return None
    return [x["content"] for x in r.json()["results"]]


def doc(s, ns, i):
    return s.get(f"{NS}/{ns}/documents/{i}")


EXERCISES = {
    "e1": "Bench press: lie on a flat bench and press the barbell from the chest.",
    "e2": "Back squat: the barbell rests on the upper back; bend the knees and hips.",
    "e3": "Deadlift: lift the barbell from the floor to the hips with a flat back.",
    "e4": "Pull up: hang from a bar and pull the chin over it.",
}


def test_three_instances_follow_writes_without_restart(redis_server):
    redis_py.Redis(port=redis_server.port, db=DB).flushdb()
    a, b, c = instance(redis_server), instance(redis_server), instance(redis_server)
    try:
        assert a.post(NS, json={"name": "gym"}).status_code == 201
        docs = [{"id": k, "text": v} for k, v in EXERCISES.items()]
        assert a.post(f"{NS}/gym/documents", json={"documents": docs}).status_code == 200
        for s in (b, c):
            for kind in ("keyword", "semantic", "hybrid"):
                got = eventually(lambda: (lambda t: t if t and any("Deadlift" in x for x in t)
                                          else None)(texts(s, "gym", "deadlift barbell floor", kind)))
                assert any("Deadlift" in x for x in got), (kind, got)
        # delete one, update another on A: B and C converge, then never serve the old text
        assert a.delete(f"{NS}/gym/documents/e3").status_code in (200, 204)
        new = "Back squat, updated: a front rack position with an upright torso."
        assert a.post(f"{NS}/gym/documents",
                      json={"documents": [{"id": "e2", "text": new}]}).status_code == 200
        for s in (b, c):
            eventually(lambda: doc(s, "gym", "e3").status_code == 404 and
                       doc(s, "gym", "e2").json().get("text") == new)
            for kind in ("keyword", "semantic", "hybrid"):
                got = texts(s, "gym", "deadlift barbell floor squat knees", kind)
                assert not any("Deadlift" in x for x in got), (kind, got)
                assert not any("bend the knees" in x for x in got), (kind, got)
            assert_error(doc(s, "gym", "e3"), 404)
        health = b.get("/health").json()
        rep = health["details"]["replication"]
        assert rep["role"] == "peer" and rep["followed_logs"] >= 2 and rep["applied_total"] >= 3
        assert {"log", "applied_seq", "lag_entries", "lag_ms"} <= set(rep["logs"][0])
        metrics = b.get("/metrics").text
        for name in ("ragd_replication_lag_seconds", "ragd_replication_applied_total",
                     "ragd_replication_rebuilds_total", "ragd_replication_resets_total"):
            assert name in metrics
    finally:
        for s in (a, b, c):
            s.cleanup()


@pytest.fixture
def pair(redis_server):
    """A flushed db and two instances on it: (Redis client, A, B)."""
    r = redis_py.Redis(port=redis_server.port, db=DB)
    r.flushdb()
    a, b = instance(redis_server), instance(redis_server)
    yield r, a, b
    a.cleanup()
    b.cleanup()


def put(s, ns, i, text):
    return s.post(f"{NS}/{ns}/documents", json={"documents": [{"id": i, "text": text}]}).status_code


def chunk_keys(r, ns, doc_id):
    return len(list(r.scan_iter(f"ragd:kb:{{{ns}}}:chunk:{doc_id}:*")))


def test_racing_replaces_by_two_users_on_two_instances(pair):
    """The owner a replace is checked against is the stored one: two users
    writing one new id through two instances at once never both win (the
    loser's instance may not have seen the winner's document yet), the loser
    gets 404 document_not_found, and no chunk key is left behind."""
    r, a, b = pair
    assert a.post(NS, json={"name": "race", "chunk_size": 16, "chunk_overlap": 4}).status_code == 201
    eventually(lambda: b.get(f"{NS}/race").status_code == 200)
    long_text = " ".join(f"word{i} lifting technique" for i in range(60))
    for i in range(12):
        did, got = f"r{i}", {}

        def up(s, user, text):
            got[user] = s.post(f"{NS}/race/documents", json={"documents": [
                {"id": did, "text": text, "user_id": user}]})
        ts = [threading.Thread(target=up, args=(a, "alice", long_text)),
              threading.Thread(target=up, args=(b, "bob", "bob short note"))]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        assert sorted(x.status_code for x in got.values()) == [200, 404], \
            {u: x.text for u, x in got.items()}
        winner = "alice" if got["alice"].status_code == 200 else "bob"
        assert_error(got["bob" if winner == "alice" else "alice"], 404, "document_not_found")
        on = a if winner == "alice" else b
        d = on.get(f"{NS}/race/documents/{did}").json()
        assert d["user_id"] == winner
        assert chunk_keys(r, "race", did) == d["chunk_count"]


ADMIN = "admin-secret-0123456789"


@pytest.fixture
def keyed_pair(redis_server):
    """pair with authentication on: (Redis client, A, B, {name: headers}) with
    user keys for alice and bob (stored in Redis: valid on both)."""
    r = redis_py.Redis(port=redis_server.port, db=DB)
    r.flushdb()
    env = {"REDIS_URL": redis_server.url(DB), "RAGD_ADMIN_KEY": ADMIN}
    a, b = Ragd(env=env).start(), Ragd(env=env).start()
    hs = {"admin": {"X-API-Key": ADMIN}}
    for user in ("alice", "bob"):
        got = a.post("/api/v1/keys", headers=hs["admin"], json={
            "user_id": user, "scopes": ["read", "write"]})
        assert got.status_code == 201, got.text
        hs[user] = {"X-API-Key": got.json()["key"]}
    yield r, a, b, hs
    a.cleanup()
    b.cleanup()


def test_a_stale_instance_never_deletes_another_users_document(keyed_pair):
    """A user's delete is checked against the stored owner, as a replace is:
    alice deletes her document through A and bob creates the same id there
    while B is paused; alice's delete of that id reaches B as it resumes (B
    may still hold alice's copy) and answers 404 document_not_found, and her
    delete by filter deletes nothing: bob's document stays, on both."""
    r, a, b, hs = keyed_pair
    assert a.post(NS, headers=hs["admin"], json={"name": "own"}).status_code == 201
    eventually(lambda: b.get(f"{NS}/own", headers=hs["admin"]).status_code == 200)
    for i in range(12):
        did = f"d{i}"

        def create(s, user):
            return s.post(f"{NS}/own/documents", headers=hs[user], json={"documents": [
                {"id": did, "text": f"{user} note {i} on squats", "metadata": {"n": i}}]})
        assert create(a, "alice").status_code == 200
        eventually(lambda: b.get(f"{NS}/own/documents/{did}", headers=hs["alice"]).status_code == 200)
        got = []
        if i % 2 == 0:
            stale = threading.Thread(target=lambda: got.append(
                b.delete(f"{NS}/own/documents/{did}", headers=hs["alice"])))
        else:
            stale = threading.Thread(target=lambda: got.append(b.post(
                f"{NS}/own/documents/delete", headers=hs["alice"], json={"filter": {"n": i}})))
        # B paused: it cannot follow A's writes; alice's delete waits in its socket
        b.proc.send_signal(signal.SIGSTOP)
        try:
            assert a.delete(f"{NS}/own/documents/{did}", headers=hs["alice"]).status_code == 200
            assert create(a, "bob").status_code == 200
            stale.start()
            time.sleep(0.05)
        finally:
            b.proc.send_signal(signal.SIGCONT)
        stale.join()
        if i % 2 == 0:
            assert_error(got[0], 404, "document_not_found")
        else:
            assert got[0].status_code == 200 and got[0].json()["deleted"] == 0, got[0].text
        assert r.exists(f"ragd:kb:{{own}}:doc:{did}")
        for s in (a, b):
            eventually(lambda: (s.get(f"{NS}/own/documents/{did}", headers=hs["bob"]).json()
                                .get("user_id") == "bob"))


def test_batch_that_keeps_losing_its_check_gets_409_conflict(pair, redis_server):
    """A document record that other writers keep changing makes a write lose
    its compare-and-set on every try: after 8 it answers 409 conflict (retry),
    not 404, and writes nothing half."""
    r, a, _ = pair
    assert a.post(NS, json={"name": "busy"}).status_code == 201
    assert put(a, "busy", "hot", "first text about squats") == 200
    hammer = subprocess.Popen(
        ["redis-benchmark", "-p", str(redis_server.port), "--dbnum", str(DB), "-c", "4",
         "-P", "32", "-n", "200000000", "-r", "1000000", "SET", "ragd:kb:{busy}:doc:hot",
         "__rand_int__"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        codes = []
        for i in range(40):
            resp = a.post(f"{NS}/busy/documents", json={"documents": [
                {"id": "hot", "text": f"text {i} about presses"}]})
            codes.append(resp.status_code)
            if resp.status_code == 409:
                assert_error(resp, 409, "conflict")
                break
        assert codes[-1] == 409 and set(codes) <= {200, 409}, codes
    finally:
        hammer.kill()
        hammer.wait()
    assert put(a, "busy", "hot", "after the storm") == 200
    d = a.get(f"{NS}/busy/documents/hot").json()
    assert d["text"] == "after the storm"
    assert chunk_keys(r, "busy", "hot") == d["chunk_count"]


def test_killed_instance_catches_up_and_trimmed_follower_reloads(pair):
    r, a, b = pair
    assert a.post(NS, json={"name": "kc"}).status_code == 201
    assert put(a, "kc", "d0", "bench press form") == 200
    eventually(lambda: doc(b, "kc", "d0").status_code == 200)
    b.kill9()
    for i in range(1, 6):
        assert put(a, "kc", f"d{i}", f"squat variation number {i}") == 200
    b.start()
    for i in range(6):
        assert doc(b, "kc", f"d{i}").status_code == 200
    # B paused while A writes; the stream is trimmed past B's position
    b.proc.send_signal(signal.SIGSTOP)
    try:
        for i in range(6, 12):
            assert put(a, "kc", f"d{i}", f"deadlift variation number {i}") == 200
        r.xtrim("ragd.log:kb:{kc}:log", maxlen=1, approximate=False)
    finally:
        b.proc.send_signal(signal.SIGCONT)
    for i in range(12):
        eventually(lambda: doc(b, "kc", f"d{i}").status_code == 200)
    rebuilds = lambda: int(float(next(l.split()[-1] for l in b.get("/metrics").text.splitlines()
                                      if l.startswith("ragd_replication_rebuilds_total"))))
    assert eventually(lambda: rebuilds() >= 1)


def test_flushed_redis_is_detected_and_instances_converge(pair):
    r, a, b = pair
    assert a.post(NS, json={"name": "fl"}).status_code == 201
    assert put(a, "fl", "d1", "bench press") == 200
    eventually(lambda: doc(b, "fl", "d1").status_code == 200)
    r.flushdb()
    for s in (a, b):
        h = eventually(lambda: (lambda j: j if j["status"] == "degraded" else None)(
            s.get("/health").json()))
        assert "epoch" in h["reason"] and h["details"]["replication"]["resets_total"] == 1
        eventually(lambda: s.get(f"{NS}/fl").status_code == 404)
        assert s.get(NS).json()["namespaces"] == []
    # writes afterwards create complete namespaces, seen by the other instance
    assert b.post(NS, json={"name": "fl"}).status_code == 201
    assert put(b, "fl", "d2", "squat") == 200
    assert r.exists("ragd:kb:{fl}:meta") and r.exists("ragd:kb:{fl}:doc:d2")
    eventually(lambda: doc(a, "fl", "d2").status_code == 200)


def test_old_key_layout_is_moved_at_start(redis_server):
    r = redis_py.Redis(port=redis_server.port, db=DB)
    r.flushdb()
    a = instance(redis_server)
    try:
        assert a.post(NS, json={"name": "old"}).status_code == 201
        assert a.post(f"{NS}/old/documents",
                      json={"documents": [{"id": "d1", "text": "bench press"}]}).status_code == 200
        a.stop()
        for k in list(r.scan_iter("ragd:kb:{old}:*")):  # back to the layout before hash tags
            r.rename(k, k.decode().replace("ragd:kb:{old}:", "ragd:kb:old:"))
        assert r.exists("ragd:kb:old:meta") and not r.exists("ragd:kb:{old}:meta")
        r.delete("ragd:kb:registry")  # an older ragd's store has no registry of names
        a.start()
        assert doc(a, "old", "d1").json()["text"] == "bench press"
        assert r.exists("ragd:kb:{old}:meta") and not list(r.scan_iter("ragd:kb:old:*"))
    finally:
        a.cleanup()


def test_redis_outage_and_its_end_are_logged_once_each():
    own = Redis().start()
    a = Ragd(env={"REDIS_URL": own.url(0), "RAGD_LOG_LEVEL": "info"}).start()
    try:
        assert a.post(NS, json={"name": "out"}).status_code == 201
        own.stop()
        eventually(lambda: "the store is unreachable" in a.logs())
        own.start()  # no persistence: it comes back empty, which is also a reset
        eventually(lambda: "reachable again" in a.logs())
        eventually(lambda: "epoch key is gone" in a.logs())
        eventually(lambda: a.get(f"{NS}/out").status_code == 404)
        logs = a.logs()
        assert logs.count("the store is unreachable") == 1, logs
        assert logs.count("reachable again") == 1, logs
    finally:
        a.cleanup()
        own.cleanup()
