"""Ingestion jobs end to end, on the embedded store and on a real redis-server: 202 and poll
to success, kill -9 mid-job then restart resumes with every document indexed once (a
slow-down setting spaces the groups, no timing luck), cancel, per-document errors that do
not fail the others, bad input refused before anything is written, users who cannot see
or cancel each other's jobs, two users' jobs taking turns (whatever their number of jobs),
the jobs in /health and /metrics, and `ragd ingest` on top of jobs."""
import contextlib
import os
import subprocess
import time

import pytest
import requests

from ragdtest import RAGD_BIN, STORES, Ragd, assert_error, store_env

NS = "/api/v1/namespaces"
ADMIN = "admin-key-for-jobs-tests-0123"
TERMINAL = {"succeeded", "failed", "cancelled"}


def start(request, env=None, **kw):
    """ragd on the backend the test is parametrised with; env adds settings."""
    env = dict(env or {})
    env.update(store_env(request, 4))
    s = Ragd(env=env, **kw).start()
    s.backend = request.param
    return s


@pytest.fixture(params=STORES)
def slow(request):
    """Two documents per group and a pause before each: a job takes a few seconds."""
    s = start(request, {"RAGD_JOBS_GROUP_DOCUMENTS": "2", "RAGD_JOBS_GROUP_DELAY_MS": "250",
                        "RAGD_JOBS_LEASE_MS": "1500", "RAGD_JOBS_SCAN_INTERVAL_MS": "200"})
    yield s
    s.cleanup()


@pytest.fixture(params=STORES)
def authed(request):
    s = start(request, {"RAGD_ADMIN_KEY": ADMIN, "RAGD_KB_MAX_REQUEST_CHUNKS": "3"})
    s.keys = {}
    for name in ("alice", "bob"):
        r = requests.post(s.url + "/api/v1/keys", headers={"X-API-Key": ADMIN}, timeout=10,
                          json={"user_id": name, "scopes": ["read", "write"]})
        assert r.status_code == 201, r.text
        s.keys[name] = {"X-API-Key": r.json()["key"]}
    s.keys["admin"] = {"X-API-Key": ADMIN}
    yield s
    s.cleanup()


def docs(n, prefix="d"):
    return [{"id": f"{prefix}{i}", "text": f"Document {i} explains exercise number {i} for the knee.",
             "metadata": {"n": i}} for i in range(n)]


def make_ns(s, name, headers=None):
    r = s.post(NS, json={"name": name}, headers=headers)
    assert r.status_code == 201, r.text


def submit(s, ns, documents, headers=None, **extra):
    r = s.post(f"{NS}/{ns}/documents", json=dict({"documents": documents, "wait": False}, **extra),
               headers=headers)
    assert r.status_code == 202, r.text
    job = r.json()
    assert r.headers["Location"] == f"/api/v1/jobs/{job['id']}"
    return job


def poll(s, job_id, headers=None, until=TERMINAL, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        j = s.get(f"/api/v1/jobs/{job_id}", headers=headers).json()
        if j["status"] in until:
            return j
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not reach {until}: {j}")


def wait_progress(s, job_id, done_at_least):
    deadline = time.time() + 120
    while time.time() < deadline:
        j = s.get(f"/api/v1/jobs/{job_id}").json()
        if j["documents"]["done"] >= done_at_least or j["status"] in TERMINAL:
            return j
        time.sleep(0.02)
    raise AssertionError("no progress")


def test_job_202_then_poll_to_success(ragd):
    make_ns(ragd, "kb")
    job = submit(ragd, "kb", docs(40))
    assert job["status"] == "enqueued" and job["documents"] == {"total": 40, "done": 0, "failed": 0}
    assert job["tokens"]["total"] > 0 and job["namespace"] == "kb"
    j = poll(ragd, job["id"])
    assert j["status"] == "succeeded", j
    assert j["documents"] == {"total": 40, "done": 40, "failed": 0}
    assert j["tokens"]["done"] == j["tokens"]["total"] and j["progress"] == 1
    assert j["eta_seconds"] == 0 and j["errors"] == [] and j["finished_at"] >= j["started_at"]
    assert ragd.get(f"{NS}/kb").json()["stats"]["documents"] == 40
    res = ragd.post("/api/v1/search/hybrid", json={"query": "exercise number 7", "namespaces": ["kb"],
                                                    "limit": 3}).json()["results"]
    assert res
    # listed, filtered by namespace and status
    listed = ragd.get("/api/v1/jobs?namespace=kb&status=succeeded").json()
    assert [x["id"] for x in listed["jobs"]] == [job["id"]] and listed["count"] == 1
    assert ragd.get("/api/v1/jobs?status=processing").json()["jobs"] == []
    assert ragd.get("/api/v1/jobs?namespace=other").json()["jobs"] == []
    assert_error(ragd.get("/api/v1/jobs?status=done"), 400, "invalid_request")
    assert_error(ragd.get("/api/v1/jobs/job_000000000000000000000000"), 404, "job_not_found")
    assert_error(ragd.delete(f"/api/v1/jobs/{job['id']}"), 409, "job_finished")
    # small batches stay synchronous; "wait": true too
    r = ragd.post(f"{NS}/kb/documents", json={"documents": docs(2, "s")})
    assert r.status_code == 200 and r.json()["upserted"] == 2
    r = ragd.post(f"{NS}/kb/documents", json={"documents": docs(2, "t"), "wait": True})
    assert r.status_code == 200


def test_bad_input_is_refused_before_anything_is_written(ragd):
    make_ns(ragd, "kb")
    bad = docs(3) + [{"id": "", "text": "x"}]
    assert_error(ragd.post(f"{NS}/kb/documents", json={"documents": bad, "wait": False}), 400,
                 "invalid_request")
    assert_error(ragd.post(f"{NS}/kb/documents", json={"documents": docs(2), "wait": "no"}), 400,
                 "invalid_request")
    assert_error(ragd.post(f"{NS}/nope/documents", json={"documents": docs(2), "wait": False}), 404,
                 "namespace_not_found")
    assert ragd.get("/api/v1/jobs").json()["jobs"] == []
    assert ragd.get(f"{NS}/kb").json()["stats"]["documents"] == 0


def test_above_the_threshold_a_batch_becomes_a_job():
    s = Ragd(env={"RAGD_KB_ASYNC_THRESHOLD": "5"}).start()
    try:
        make_ns(s, "kb")
        r = s.post(f"{NS}/kb/documents", json={"documents": docs(6)})
        assert r.status_code == 202, r.text
        assert poll(s, r.json()["id"])["status"] == "succeeded"
        r = s.post(f"{NS}/kb/documents", json={"documents": docs(6, "w"), "wait": True})
        assert r.status_code == 200 and r.json()["upserted"] == 6
    finally:
        s.cleanup()


def test_kill9_mid_job_resumes_with_every_document_once(slow):
    make_ns(slow, "kb")
    n = 30
    job = submit(slow, "kb", docs(n))
    j = wait_progress(slow, job["id"], 4)
    assert j["status"] == "processing" and j["documents"]["done"] < n, j
    slow.kill9()
    slow.start()
    j = poll(slow, job["id"])
    assert j["status"] == "succeeded", j
    assert j["documents"] == {"total": n, "done": n, "failed": 0}
    assert j["tokens"]["done"] == j["tokens"]["total"]
    st = slow.get(f"{NS}/kb").json()["stats"]
    assert st["documents"] == n
    per_doc = sum(slow.get(f"{NS}/kb/documents/d{i}").json()["chunk_count"] for i in range(n))
    assert st["chunks"] == per_doc  # no chunk indexed twice
    slow.stop()  # a clean restart rebuilds the indexes from the store: still once each
    slow.start()
    st = slow.get(f"{NS}/kb").json()["stats"]
    assert st["documents"] == n and st["chunks"] == per_doc and st["hnsw"]["vectors"] == per_doc


def test_cancel_keeps_indexed_documents_and_drops_the_rest(slow):
    make_ns(slow, "kb")
    job = submit(slow, "kb", docs(40))
    wait_progress(slow, job["id"], 2)
    r = slow.delete(f"/api/v1/jobs/{job['id']}")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "cancelled" and "stay" in r.json()["note"]
    time.sleep(1.0)  # a group under way at the cancel completes; nothing after it
    j = slow.get(f"/api/v1/jobs/{job['id']}").json()
    assert j["status"] == "cancelled" and 2 <= j["documents"]["done"] < 40
    docs_now = slow.get(f"{NS}/kb").json()["stats"]["documents"]
    assert docs_now == j["documents"]["done"]
    time.sleep(1.0)
    assert slow.get(f"{NS}/kb").json()["stats"]["documents"] == docs_now
    assert_error(slow.delete(f"/api/v1/jobs/{job['id']}"), 409, "job_finished")


def test_per_document_errors_do_not_fail_the_others(authed):
    a = authed.keys["alice"]
    make_ns(authed, "kb", authed.keys["admin"])
    r = authed.post(f"{NS}/kb/documents", headers=authed.keys["bob"],
                    json={"documents": [{"id": "bobs", "text": "Bob's own note."}]})
    assert r.status_code == 200, r.text
    big = " ".join(["squat bench press chest leg knee pain"] * 200)  # more than 3 chunks
    batch = docs(5) + [{"id": "bobs", "text": "alice tries to overwrite"},
                       {"id": "huge", "text": big}]
    job = submit(authed, "kb", batch, headers=a)
    j = poll(authed, job["id"], headers=a)
    assert j["status"] == "succeeded", j
    assert j["documents"] == {"total": 7, "done": 5, "failed": 2}
    errs = {e["id"]: e for e in j["errors"]}
    assert errs["bobs"]["index"] == 5 and errs["bobs"]["code"] == "document_not_found"
    assert errs["huge"]["index"] == 6 and errs["huge"]["code"] == "payload_too_large"
    assert j["errors_total"] == 2
    bob_doc = authed.get(f"{NS}/kb/documents/bobs", headers=authed.keys["bob"]).json()
    assert bob_doc["text"] == "Bob's own note."
    d0 = authed.get(f"{NS}/kb/documents/d0", headers=a).json()
    assert d0["user_id"] == "alice"  # a user key owns what its job writes


def test_users_cannot_see_or_cancel_each_others_jobs(authed):
    a, b, adm = authed.keys["alice"], authed.keys["bob"], authed.keys["admin"]
    make_ns(authed, "kb", adm)
    job = submit(authed, "kb", docs(3), headers=a)
    assert_error(authed.get(f"/api/v1/jobs/{job['id']}", headers=b), 404, "job_not_found")
    assert_error(authed.delete(f"/api/v1/jobs/{job['id']}", headers=b), 404, "job_not_found")
    assert authed.get("/api/v1/jobs", headers=b).json()["jobs"] == []
    assert_error(authed.get(f"/api/v1/jobs/{job['id']}"), 401)
    assert [x["id"] for x in authed.get("/api/v1/jobs", headers=a).json()["jobs"]] == [job["id"]]
    assert [x["id"] for x in authed.get("/api/v1/jobs", headers=adm).json()["jobs"]] == [job["id"]]
    assert poll(authed, job["id"], headers=a)["status"] == "succeeded"
    assert authed.get(f"/api/v1/jobs/{job['id']}", headers=adm).status_code == 200



def metric(s, line_start):
    """The value of the /metrics sample line that starts with line_start, or None."""
    for line in s.get("/metrics").text.splitlines():
        if line.startswith(line_start + " "):
            return float(line.split()[-1])
    return None


def test_jobs_show_in_health_and_metrics(slow):
    make_ns(slow, "obs")
    job = submit(slow, "obs", docs(16))  # 8 groups, 250 ms apart
    health = None
    deadline = time.time() + 60
    while time.time() < deadline:
        health = slow.get("/health").json()["details"]["jobs"]
        mine = [x for x in health["running"] if x["id"] == job["id"]]
        if mine and mine[0]["lease_holder"]:
            break
        time.sleep(0.05)
    assert health["status"] == "ok" and health["workers"] == 1
    assert health["enqueued"] + health["processing"] == 1 and health["leases_held"] == 1
    assert mine == [{"id": job["id"], "namespace": "obs", "status": mine[0]["status"],
                     "lease_holder": health["instance"], "this_instance": True}]
    assert poll(slow, job["id"])["status"] == "succeeded"
    assert metric(slow, 'ragd_jobs_total{outcome="succeeded"}') == 1
    assert metric(slow, 'ragd_jobs_total{outcome="failed"}') == 0
    assert metric(slow, 'ragd_jobs_documents_total{result="indexed"}') == 16
    assert metric(slow, "ragd_jobs_groups_total") == 8
    assert metric(slow, "ragd_job_duration_seconds_count") == 1
    assert metric(slow, "ragd_jobs_tokens_total") == poll(slow, job["id"])["tokens"]["total"]
    deadline = time.time() + 10  # the store's counts are refreshed every second
    while time.time() < deadline and metric(slow, 'ragd_jobs{state="succeeded"}') != 1:
        time.sleep(0.1)
    assert metric(slow, 'ragd_jobs{state="succeeded"}') == 1
    assert metric(slow, 'ragd_jobs{state="processing"}') == 0
    h = slow.get("/health").json()["details"]["jobs"]
    assert h["running"] == [] and h["finished"]["succeeded"] == 1 and h["leases_held"] == 0


def test_two_users_jobs_take_turns_whatever_their_number():
    """Alice has two jobs (two namespaces), Bob one: turns go per user, so while Bob's job
    runs Alice's two together progress as fast as his, not twice as fast."""
    s = Ragd(env={"RAGD_ADMIN_KEY": ADMIN, "RAGD_JOBS_GROUP_DOCUMENTS": "2",
                  "RAGD_JOBS_GROUP_DELAY_MS": "120"}).start()
    try:
        keys = {}
        for name in ("alice", "bob"):
            r = requests.post(s.url + "/api/v1/keys", headers={"X-API-Key": ADMIN}, timeout=10,
                              json={"user_id": name, "scopes": ["read", "write"]})
            keys[name] = {"X-API-Key": r.json()["key"]}
        for ns in ("a1", "a2", "b1"):
            make_ns(s, ns, {"X-API-Key": ADMIN})
        ja = submit(s, "a1", docs(16, "a"), keys["alice"])
        jb = submit(s, "a2", docs(16, "b"), keys["alice"])
        jc = submit(s, "b1", docs(16, "c"), keys["bob"])
        snaps = []
        while True:
            a = [s.get(f"/api/v1/jobs/{j['id']}", headers=keys["alice"]).json() for j in (ja, jb)]
            b = s.get(f"/api/v1/jobs/{jc['id']}", headers=keys["bob"]).json()
            if b["status"] in TERMINAL:
                break
            snaps.append((sum(x["documents"]["done"] for x in a), b["documents"]["done"]))
            time.sleep(0.05)
        assert b["status"] == "succeeded"
        assert len(snaps) >= 5
        # two groups of slack: the three polls are not one atomic snapshot
        assert all(abs(alice - bob) <= 4 for alice, bob in snaps), snaps
        for j in (ja, jb):
            assert poll(s, j["id"], headers=keys["alice"])["status"] == "succeeded"
    finally:
        s.cleanup()

# ---- ragd ingest on top of jobs ----

def ingest(s, *args, env=None, cwd=None):
    e = dict(os.environ)
    e.pop("RAGD_API_KEY", None)
    e.update(env or {})
    return subprocess.run([RAGD_BIN, "ingest", *args, "--url", s.url], capture_output=True,
                          text=True, timeout=300, env=e, cwd=cwd)


def test_ingest_with_auth_chooses_files_by_content(authed, tmp_path):
    (tmp_path / "notes").mkdir()
    (tmp_path / "README").write_text("Squats and the knee: keep the heel down.\n")
    (tmp_path / "notes" / "CHANGELOG").write_text("Bench press added to the chest day.\n")
    (tmp_path / "guide.md").write_text("# Leg day\nLunges and squats.\n")
    (tmp_path / "image").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    (tmp_path / "data.bin").write_bytes(bytes(range(256)))
    r = ingest(authed, "docs", str(tmp_path))
    assert r.returncode == 1 and "HTTP 401" in r.stderr, (r.stdout, r.stderr)
    r = ingest(authed, "docs", str(tmp_path), env={"RAGD_API_KEY": ADMIN})
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert "created namespace docs" in r.stdout and "2 not text" in r.stdout
    assert "done: 3 documents" in r.stdout
    ids = set(authed.get(f"{NS}/docs/documents", headers=authed.keys["admin"]).json()["ids"])
    assert ids == {"README", "notes/CHANGELOG", "guide.md"}
    # a user key writes into the existing namespace; --ext narrows by extension
    (tmp_path / "mine.txt").write_text("Alice's plan: deadlifts on Friday.\n")
    r = ingest(authed, "docs", str(tmp_path), "--ext", "txt,.TEXT", "--api-key",
               authed.keys["alice"]["X-API-Key"])
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert "ingesting 1 documents" in r.stdout
    doc = authed.get(f"{NS}/docs/documents/mine.txt", headers=authed.keys["alice"]).json()
    assert doc["user_id"] == "alice"
    # a shared document cannot be replaced by a user: the job reports it, the run fails
    r = ingest(authed, "docs", "guide.md", "--api-key", authed.keys["alice"]["X-API-Key"],
               cwd=tmp_path)
    assert r.returncode == 1 and "document guide.md" in r.stderr, (r.stdout, r.stderr)
    assert "nothing was ingested" in r.stderr
    assert authed.get(f"{NS}/docs", headers=authed.keys["admin"]).status_code == 200


def test_ingest_with_nothing_to_ingest_fails_and_leaves_no_namespace(ragd, tmp_path):
    (tmp_path / "blob").write_bytes(b"\x00\x01\x02binary")
    (tmp_path / "notes.txt").write_text("text, but not chosen by --ext\n")
    r = ingest(ragd, "empty", str(tmp_path), "--ext", "md")
    assert r.returncode == 1 and "nothing was ingested" in r.stderr, (r.stdout, r.stderr)
    assert_error(ragd.get(f"{NS}/empty"), 404, "namespace_not_found")
    make_ns(ragd, "existing")
    r = ingest(ragd, "existing", str(tmp_path / "blob"))
    assert r.returncode == 1
    assert ragd.get(f"{NS}/existing").status_code == 200  # it existed: it stays


def test_ingest_outlives_any_request_timeout_and_resumes(slow, tmp_path):
    for i in range(16):
        (tmp_path / f"note{i}").write_text(f"Note {i}: stretch the hamstring before running.\n")
    # 8 groups spaced by the server's slow-down: the run lasts longer than the 1 s allowed
    # to each HTTP call, and succeeds because it follows the job instead of waiting on it
    r = ingest(slow, "notes", str(tmp_path), "--batch", "8", "--request-timeout", "1")
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert "done: 16 documents" in r.stdout and "ETA" in r.stderr
    assert slow.get(f"{NS}/notes").json()["stats"]["documents"] == 16
    # --no-wait submits and leaves; --resume follows the same jobs to the end
    r = ingest(slow, "notes2", str(tmp_path), "--batch", "8", "--no-wait")
    assert r.returncode == 0, (r.stdout, r.stderr)
    ids = r.stdout.split("--resume ")[1].split()[0]
    assert len(ids.split(",")) == 2
    r = ingest(slow, "--resume", ids)
    assert r.returncode == 0 and "done: 16 documents" in r.stdout, (r.stdout, r.stderr)
    assert slow.get(f"{NS}/notes2").json()["stats"]["documents"] == 16


@contextlib.contextmanager
def two_instances(redis_server, db, delay_ms, lease_ms):
    """Two ragd on one Redis database (emptied first) with namespace "shared", groups of
    two documents, a pause before each and leases looked for every 200 ms."""
    import redis as redis_py
    rc = redis_py.Redis(port=redis_server.port, db=db)
    rc.flushdb()
    env = {"REDIS_URL": redis_server.url(db), "RAGD_JOBS_GROUP_DOCUMENTS": "2",
           "RAGD_JOBS_GROUP_DELAY_MS": str(delay_ms), "RAGD_JOBS_LEASE_MS": str(lease_ms),
           "RAGD_JOBS_SCAN_INTERVAL_MS": "200"}
    a = Ragd(env=env).start()
    b = None
    try:
        make_ns(a, "shared")
        b = Ragd(env=env).start()  # loads the namespace from Redis
        yield a, b, rc
    finally:
        a.cleanup()
        if b:
            b.cleanup()


def test_another_instance_takes_over_when_the_lease_lapses(redis_server):
    """Two instances on one Redis: the one running a job is killed; the other finds the job
    once its lease lapses and finishes it, every document once."""
    with two_instances(redis_server, 5, delay_ms=250, lease_ms=1500) as (a, b, rc):
        job = submit(a, "shared", docs(24))
        wait_progress(a, job["id"], 4)
        lease = rc.get(f"ragd:job:{{{job['id']}}}:lease")
        assert lease is not None  # a holds it while it works; b leaves the job alone
        a.kill9()
        j = poll(b, job["id"])
        assert j["status"] == "succeeded", j
        assert j["documents"] == {"total": 24, "done": 24, "failed": 0}
        b.restart()  # b's indexes rebuilt from Redis hold what both instances wrote
        st = b.get(f"{NS}/shared").json()["stats"]
        assert st["documents"] == 24 and st["chunks"] == 24


def test_a_turn_longer_than_the_lease_keeps_its_job(redis_server):
    """Two instances on one Redis; each turn of the job pauses 2 s, more than the 600 ms
    lease: the running instance's heartbeat keeps the lease, so the other instance (which
    looks for lapsed leases every 200 ms) never takes the job."""
    with two_instances(redis_server, 6, delay_ms=2000, lease_ms=600) as (a, b, rc):
        me = a.get("/health").json()["details"]["jobs"]["instance"]
        job = submit(a, "shared", docs(4))  # two turns
        holders = set()
        while a.get(f"/api/v1/jobs/{job['id']}").json()["status"] not in TERMINAL:
            lease = rc.get(f"ragd:job:{{{job['id']}}}:lease")
            if lease is not None:
                holders.add(lease.decode())
            time.sleep(0.05)
        assert holders == {me}, holders
        j = poll(a, job["id"])
        assert j["status"] == "succeeded" and j["documents"]["done"] == 4
        assert b.get("/health").json()["details"]["jobs"]["leases_held"] == 0


def test_ingest_keeps_following_its_jobs_across_a_server_crash(slow, tmp_path):
    for i in range(20):
        (tmp_path / f"n{i}").write_text(f"Note {i}: mobility work for the ankle and hip.\n")
    e = dict(os.environ)
    e.pop("RAGD_API_KEY", None)
    p = subprocess.Popen([RAGD_BIN, "ingest", "crash", str(tmp_path), "--url", slow.url],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=e)
    try:
        deadline = time.time() + 60
        while time.time() < deadline and not slow.get("/api/v1/jobs").json()["jobs"]:
            time.sleep(0.05)
        job = slow.get("/api/v1/jobs").json()["jobs"][0]
        wait_progress(slow, job["id"], 2)
        slow.kill9()
        time.sleep(1.5)  # the client finds the server gone and keeps retrying
        slow.start()
        out, err = p.communicate(timeout=240)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, (out, err)
    assert "server unreachable, retrying" in err and "done: 20 documents" in out
    assert slow.get(f"{NS}/crash").json()["stats"]["documents"] == 20
