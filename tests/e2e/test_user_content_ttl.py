"""User items and documents that expire: TTL per content type from the
user_content_ttl setting (plural or singular names, * for the rest), a request's
ttl overriding it, expires_at shown where the item is returned; an expired item is
gone from get, list, search and RAG at once and deleted by the sweeper
(ragd_documents_expired_total); bad ttl / expires_at values are 400
invalid_ttl and a bad setting stops the start; two instances on one Redis both
stop returning an item that expired. TTLs are 1 s at most and every wait polls a
bounded number of times; nothing asserts elapsed time."""
import os
import subprocess
import time

import redis as redis_py

from ragdtest import RAGD_BIN, Ragd, assert_error, eventually

TTL_ENV = {"RAGD_USER_CONTENT_TTL": "conversations=1, goal=0, *=3600"}
NS = "/api/v1/namespaces"



def generate(s, user, ctype, text, **extra):
    r = s.post("/api/v1/embeddings/generate",
               json={"text": text, "user_id": user, "content_type": ctype, **extra})
    assert r.status_code == 200, r.text
    return r.json()


def search_contents(s, user, query):
    r = s.post("/api/v1/search/hybrid", json={"query": query, "user_id": user, "limit": 20,
                                               "threshold": 0.0})
    assert r.status_code == 200, r.text
    return {x["content"] for x in r.json()["results"]}


def expired_total(s):
    for line in s.get("/metrics").text.splitlines():
        if line.startswith("ragd_documents_expired_total "):
            return float(line.split()[1])
    raise AssertionError("ragd_documents_expired_total missing")


def gone(s, user, item_id):
    return s.get(f"/api/v1/users/{user}/items/{item_id}").status_code == 404


def test_ttl_per_content_type_and_per_request():
    s = Ragd(env=TTL_ENV).start()
    try:
        now = time.time()
        chat = generate(s, "u1", "conversation", "Coach chat: my knee hurt after squats.")
        assert now + 1 <= chat["expires_at"] <= now + 3
        goal = generate(s, "u1", "goals", "Goal: squat 140 kg by December.")
        assert "expires_at" not in goal  # goal=0: never
        note = generate(s, "u1", "note", "Note: squat shoes arrived.")
        assert now + 3600 <= note["expires_at"] <= now + 3603  # the * rule
        keep = generate(s, "u1", "conversation", "Coach chat: squat depth was fine.", ttl=0)
        assert "expires_at" not in keep  # the request's ttl overrides the type's
        short = generate(s, "u1", "workout", "Workout: front squat 5x3.", ttl=1)
        assert short["expires_at"] <= now + 3
        made = s.post("/api/v1/users/u1/items",
                      json={"content": "Workout: box squat 4x6.", "content_type": "workout",
                            "ttl": 1})
        assert made.status_code == 201, made.text
        assert made.json()["expires_at"] <= now + 3 and made.json()["user_id"] == "u1"
        got = s.get(f"/api/v1/users/u1/items/{note['id']}").json()
        assert got["expires_at"] == note["expires_at"]

        expiring = [chat["id"], short["id"], made.json()["id"]]
        eventually(lambda: all(gone(s, "u1", i) for i in expiring))
        listing = s.get("/api/v1/users/u1/items").json()
        assert {i["id"] for i in listing["items"]} == {goal["id"], note["id"], keep["id"]}
        assert listing["total"] == 3
        contents = search_contents(s, "u1", "squat")
        assert "Coach chat: my knee hurt after squats." not in contents
        assert "Workout: front squat 5x3." not in contents
        assert "Goal: squat 140 kg by December." in contents
        rag = s.post("/api/v1/rag/query", json={"query": "squat", "user_id": "u1",
                                                "include_context": ["conversations", "workouts"]})
        assert rag.status_code == 200, rag.text
        used = {c["content"] for c in rag.json()["context"]}
        assert used <= {"Coach chat: squat depth was fine."}
        eventually(lambda: expired_total(s) >= 3)  # the sweeper deleted them for real
    finally:
        s.cleanup()


def test_bad_ttl_is_refused():
    s = Ragd().start()
    try:
        for bad in (-1, 1.5, "10", 315360001, True):
            r = s.post("/api/v1/embeddings/generate",
                       json={"text": "x", "user_id": "u1", "content_type": "workout", "ttl": bad})
            assert_error(r, 400, "invalid_ttl")
            r = s.post("/api/v1/users/u1/items",
                       json={"content": "x", "content_type": "workout", "ttl": bad})
            assert_error(r, 400, "invalid_ttl")
        assert s.get("/api/v1/users/u1/items").json()["total"] == 0
        assert s.post(NS, json={"name": "kb"}).status_code == 201
        for doc in ({"ttl": -5}, {"expires_at": -1}, {"expires_at": 2.5},
                    {"ttl": 10, "expires_at": 99999999999}, {"expires_at": 253402300800}):
            r = s.post(f"{NS}/kb/documents",
                       json={"documents": [{"id": "d", "text": "bench press", **doc}]})
            assert_error(r, 400, "invalid_ttl")
        assert s.get(f"{NS}/kb/documents").json()["total"] == 0
    finally:
        s.cleanup()
    out = subprocess.run([RAGD_BIN, "serve", "--listen", "127.0.0.1:1"],
                         env={**os.environ, "RAGD_USER_CONTENT_TTL": "workout=soon"},
                         capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "user_content_ttl" in out.stderr + out.stdout


def test_documents_in_a_namespace_expire():
    s = Ragd().start()
    try:
        assert s.post(NS, json={"name": "kb"}).status_code == 201
        now = int(time.time())
        docs = [{"id": "past", "text": "bench press past", "expires_at": now - 10},
                {"id": "later", "text": "bench press later", "ttl": 3600},
                {"id": "always", "text": "bench press always"}]
        r = s.post(f"{NS}/kb/documents", json={"documents": docs})
        assert r.status_code == 200, r.text
        assert_error(s.get(f"{NS}/kb/documents/past"), 404)
        later = s.get(f"{NS}/kb/documents/later").json()
        assert now + 3600 <= later["expires_at"] <= now + 3602
        assert "expires_at" not in s.get(f"{NS}/kb/documents/always").json()
        res = s.post("/api/v1/search/hybrid", json={"query": "bench press", "namespaces": ["kb"],
                                                    "threshold": 0.0}).json()["results"]
        assert {x["content"] for x in res} == {"bench press later", "bench press always"}
        assert s.get(f"{NS}/kb/documents").json()["total"] == 2
        eventually(lambda: expired_total(s) >= 1)
        s.restart()  # the expiry survives a restart
        assert s.get(f"{NS}/kb/documents/later").json()["expires_at"] == later["expires_at"]
        assert_error(s.get(f"{NS}/kb/documents/past"), 404)
    finally:
        s.cleanup()


def test_two_instances_on_one_redis_both_stop_returning_it(redis_server):
    db = 7
    r = redis_py.Redis(port=redis_server.port, db=db)
    r.flushdb()
    env = {"REDIS_URL": redis_server.url(db), **TTL_ENV}
    a, b = Ragd(env=env).start(), Ragd(env=env).start()
    try:
        item = generate(a, "u1", "conversation", "Coach chat: deadlift grip slipped.")
        kept = generate(a, "u1", "goal", "Goal: deadlift 200 kg.")
        # b serves it until it expires (it may already have: then only the end is seen)
        eventually(lambda: gone(b, "u1", item["id"]) or
                   b.get(f"/api/v1/users/u1/items/{item['id']}").status_code == 200)
        eventually(lambda: gone(a, "u1", item["id"]) and gone(b, "u1", item["id"]))
        for s in (a, b):
            assert "Coach chat: deadlift grip slipped." not in search_contents(s, "u1", "deadlift")
            assert "Goal: deadlift 200 kg." in search_contents(s, "u1", "deadlift")
        # one of the two swept it: its keys are gone from Redis
        eventually(lambda: expired_total(a) + expired_total(b) >= 1)
        eventually(lambda: not list(r.scan_iter(f"ragd:kb:*:doc:{item['id']}")))
        assert list(r.scan_iter(f"ragd:kb:*:doc:{kept['id']}"))
    finally:
        a.cleanup()
        b.cleanup()
