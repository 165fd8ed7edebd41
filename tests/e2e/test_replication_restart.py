"""Restart = snapshot + replay, across instances on one Redis: an instance that
writes snapshots in the background (kb_snapshot_interval) and is killed with
SIGKILL while another keeps writing comes back from its snapshot and replays
the namespace's log from the snapshot's position (details.replication says
so: a snapshot loaded, records replayed, no rebuild) and then holds exactly
what the writer holds; when the log was trimmed past its snapshot, or the
snapshot file is damaged, it rebuilds from Redis instead (rebuilds_total)
and converges all the same. Waits poll a bounded number of times; nothing
asserts elapsed time."""
import glob
import os
import threading
import time

import pytest
import redis as redis_py

from ragdtest import Ragd, store_env
from test_replication import eventually

NS = "/api/v1/namespaces"
DB = 7


def put(s, ns, docs):
    r = s.post(f"{NS}/{ns}/documents", json={"documents": docs, "wait": True})
    assert r.status_code == 200, r.text
    return r


def rep(s):
    return s.get("/health").json()["details"]["replication"]


def listing(s, ns):
    """Every document id with its text, as one instance serves them."""
    r = s.get(f"{NS}/{ns}/documents", params={"limit": 10000, "with_chunks": "true"})
    assert r.status_code == 200, r.text
    return {d["id"]: d["text"] for d in r.json()["documents"]}


def scores(s, ns, query, kind):
    """The top hits' scores (their order among equal scores follows internal
    ids, which differ between instances)."""
    r = s.post("/api/v1/search/hybrid", json={"query": query, "search_type": kind,
                                               "namespaces": [ns], "limit": 10})
    assert r.status_code == 200, r.text
    return sorted(round(x["score"], 3) for x in r.json()["results"])


def same_as_writer(a, c, ns):
    if listing(a, ns) != listing(c, ns):
        return False
    return all(scores(a, ns, q, k) == scores(c, ns, q, k)
               for q in ("squat knees barbell", "deadlift floor")
               for k in ("keyword", "semantic"))


@pytest.fixture
def pair(redis_server):
    r = redis_py.Redis(port=redis_server.port, db=DB)
    r.flushdb()
    url = redis_server.url(DB)
    a = Ragd(env={"REDIS_URL": url}).start()
    c = Ragd(env={"REDIS_URL": url, "RAGD_KB_SNAPSHOT_INTERVAL": "1"}).start()
    yield r, a, c
    a.cleanup()
    c.cleanup()


def docs(lo, hi, word):
    return [{"id": f"d{i}", "text": f"{word} variation {i}: barbell, knees and floor work"}
            for i in range(lo, hi)]


def written_then_killed(a, c, ns, n):
    """A writes n documents to a new namespace ns; once C holds them and has
    written a snapshot since, C is killed with SIGKILL."""
    assert a.post(NS, json={"name": ns}).status_code == 201
    put(a, ns, docs(0, n, "squat"))
    eventually(lambda: c.get(f"{NS}/{ns}/documents/d{n - 1}").status_code == 200)
    written = rep(c)["snapshots_written"]
    eventually(lambda: rep(c)["snapshots_written"] > written)
    c.kill9()


def test_killed_instance_loads_its_snapshot_and_replays_the_log(pair):
    r, a, c = pair
    written_then_killed(a, c, "rs", 40)
    stop = threading.Event()
    errors = []

    def writer():  # A keeps writing while C is down and while it comes back
        i = 40
        while not stop.is_set() and i < 400:
            try:
                put(a, "rs", docs(i, i + 5, "deadlift"))
            except AssertionError as e:
                errors.append(e)
                return
            i += 5

    t = threading.Thread(target=writer)
    t.start()
    try:
        time.sleep(0.5)  # some writes land before the restart (not a timing assertion)
        assert a.delete(f"{NS}/rs/documents/d3").status_code in (200, 204)
        put(a, "rs", [{"id": "d4", "text": "squat, updated: a front squat with upright torso"}])
        c.start()
    finally:
        stop.set()
        t.join()
    assert not errors, errors
    got = rep(c)
    assert got["snapshots_loaded"] == 1 and got["replayed_at_start"] >= 2, got
    assert got["rebuilds_total"] == 0, got
    eventually(lambda: same_as_writer(a, c, "rs"), tries=200, pause=0.1)
    assert c.get(f"{NS}/rs/documents/d3").status_code == 404
    assert "front squat" in c.get(f"{NS}/rs/documents/d4").json()["text"]


def test_log_trimmed_past_the_snapshot_or_a_damaged_one_rebuilds(pair):
    r, a, c = pair
    written_then_killed(a, c, "tr", 20)
    for i in range(20, 30):
        put(a, "tr", docs(i, i + 1, "deadlift"))
    r.xtrim("ragd.log:kb:{tr}:log", maxlen=1, approximate=False)
    c.start()
    got = rep(c)
    assert got["snapshots_loaded"] == 0 and got["rebuilds_total"] == 1, got
    eventually(lambda: same_as_writer(a, c, "tr"), tries=200, pause=0.1)
    # a clean stop writes a fresh snapshot; damage it: rebuilt, no crash
    c.stop()
    snap = glob.glob(os.path.join(c.data_dir, "kb-snapshots", "tr.kbsnap"))
    assert snap, os.listdir(os.path.join(c.data_dir, "kb-snapshots"))
    with open(snap[0], "r+b") as f:
        f.seek(120)
        b = f.read(1)
        f.seek(120)
        f.write(bytes([b[0] ^ 0x5A]))
    put(a, "tr", docs(30, 32, "lunge"))
    c.start()
    got = rep(c)
    assert got["snapshots_loaded"] == 0 and got["rebuilds_total"] == 1, got
    eventually(lambda: same_as_writer(a, c, "tr"), tries=200, pause=0.1)


def test_follower_keeps_a_model_less_namespaces_own_vectors(pair):
    """A follower re-reading another instance's write of 4-dimension vectors
    (a namespace without a model) indexed them only when they had the loaded
    model's dimension: its semantic search found nothing."""
    r, a, c = pair
    assert a.post(NS, json={"name": "byo", "dimension": 4, "metric": "cosine"}).status_code == 201
    vecs = {"n": [1, 0, 0, 0], "e": [0, 1, 0, 0], "s": [0, 0, 1, 0]}
    put(a, "byo", [{"id": k, "text": f"trail {k}", "vector": v} for k, v in vecs.items()])
    q = {"namespaces": ["byo"], "vector": [0.9, 0.1, 0, 0], "search_type": "semantic",
         "limit": 3}

    def top():
        res = c.post("/api/v1/search/hybrid", json=q)
        hits = res.json().get("results", []) if res.status_code == 200 else []
        return [h["document_id"] for h in hits]
    assert eventually(lambda: top() == ["n", "e", "s"] and top())


@pytest.fixture(params=["lmdb", "redis"])
def lone(request):
    """One ragd on the embedded store or on Redis, writing snapshots."""
    env = dict(store_env(request, DB), RAGD_KB_SNAPSHOT_INTERVAL="1")
    s = Ragd(env=env).start()
    yield s
    s.cleanup()


def test_a_start_from_snapshots_scans_no_key(lone):
    """A start lists namespaces from the registry of names and loads each from
    its snapshot: no scan of the store's keys (keys_scanned_at_start 0), the
    same answers; without the snapshots it rebuilds, reading every key."""
    s = lone
    assert s.post(NS, json={"name": "ks"}).status_code == 201
    put(s, "ks", docs(0, 30, "squat"))
    before = (listing(s, "ks"), scores(s, "ks", "squat knees barbell", "keyword"),
              scores(s, "ks", "deadlift floor", "semantic"))
    s.stop()  # a clean stop writes the snapshot
    s.start()
    got = rep(s)
    assert got["snapshots_loaded"] == 1 and got["keys_scanned_at_start"] == 0, got
    assert (listing(s, "ks"), scores(s, "ks", "squat knees barbell", "keyword"),
            scores(s, "ks", "deadlift floor", "semantic")) == before
    s.stop()
    for f in glob.glob(os.path.join(s.data_dir, "kb-snapshots", "*")):
        os.remove(f)
    s.start()
    got = rep(s)
    assert got["snapshots_loaded"] == 0 and got["keys_scanned_at_start"] >= 60, got
    assert listing(s, "ks") == before[0]


def test_on_redis_a_missing_data_dir_is_made_by_the_first_snapshot(redis_server):
    """On Redis the data directory holds only the knowledge-base snapshots: a
    start with a directory that does not exist yet neither fails nor makes it
    while nothing is written; the first snapshot makes it (parents too), and
    the restart loads that snapshot instead of rebuilding."""
    import shutil
    import tempfile
    redis_py.Redis(port=redis_server.port, db=DB).flushdb()
    root = tempfile.mkdtemp(prefix="ragd-nodir-")
    data = os.path.join(root, "not", "yet")
    s = Ragd(env={"REDIS_URL": redis_server.url(DB), "RAGD_KB_SNAPSHOT_INTERVAL": "1"},
             data_dir=data).start()
    try:
        assert not os.path.exists(os.path.join(root, "not"))  # nothing written: nothing made
        assert s.post(NS, json={"name": "nd"}).status_code == 201
        put(s, "nd", docs(0, 20, "squat"))
        eventually(lambda: rep(s)["snapshots_written"] >= 1)
        assert glob.glob(os.path.join(data, "kb-snapshots", "nd*"))
        assert "snapshot failed" not in s.logs()
        before = listing(s, "nd")
        s.restart()
        got = rep(s)
        assert got["snapshots_loaded"] == 1 and got["rebuilds_total"] == 0, got
        assert listing(s, "nd") == before
    finally:
        s.cleanup()
        shutil.rmtree(root, ignore_errors=True)


def test_a_data_dir_that_cannot_be_made_is_refused_at_start(redis_server):
    import tempfile
    with tempfile.TemporaryDirectory(prefix="ragd-nodir-") as root:
        blocker = os.path.join(root, "file")
        with open(blocker, "w") as f:
            f.write("x")
        s = Ragd(env={"REDIS_URL": redis_server.url(DB)}, data_dir=os.path.join(blocker, "d"))
        with pytest.raises(RuntimeError) as e:
            s.start(timeout=20)
        assert "data_dir: %s cannot be created" % os.path.join(blocker, "d") in str(e.value)
        assert s.proc.returncode != 0
        s.proc = None
        os.unlink(s.log.name)
